/**
 * Record payloads and the as-of visibility rule. Persisted field names are the
 * TypeScript names; every payload carries `v: 1`.
 */
import type { Tid } from '../tid.js';
import type { LogicalKey } from './keys.js';
import type { PfsHeader } from './pfs.js';

export const OBJTYPE = {
  DIRECTORY: 1,
  REGFILE: 2,
  SYMLINK: 3,
  FIFO: 4,
  CHARDEV: 5,
  BLOCKDEV: 6,
  SOCKET: 7,
} as const;
export type ObjType = (typeof OBJTYPE)[keyof typeof OBJTYPE];

export interface InodePayload {
  v: 1;
  objType: ObjType;
  mode: number; // permission bits and file type bits, as st_mode
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  atime: number; // milliseconds (the precision FUSE gives us)
  mtime: number;
  ctime: number;
}

export interface DirentPayload {
  v: 1;
  name: string;
  objId: number;
  objType: ObjType;
}

export interface SymlinkPayload {
  v: 1;
  target: string;
}

export interface XattrPayload {
  v: 1;
  name: string;
  value: Buffer;
}

/** DATA records keep their bytes in the data DB; the leaf only says how many. */
export interface DataPayload {
  v: 1;
  len: number;
}

export type Payload = InodePayload | DirentPayload | SymlinkPayload | XattrPayload | DataPayload | PfsHeader
  | Record<string, unknown>;

/** A record version as stored: key, create/delete TIDs and payload. */
export interface StoredRecord<P = Payload> extends LogicalKey {
  createTid: Tid;
  deleteTid: Tid;
  payload: P;
}

/** As-of visibility: created at or before T, and not deleted at or before T. */
export function visibleAt(createTid: Tid, deleteTid: Tid, asOf: Tid): boolean {
  return createTid <= asOf && (deleteTid === 0n || deleteTid > asOf);
}
