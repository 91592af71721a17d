/**
 * Binary B-tree keys. Every integer is fixed-width big-endian so that LMDB's
 * byte order is numeric order (lmdb-js would store plain numbers as doubles).
 *
 *   records   pfs u16 | objId u64 | recType u8 | key u64 | createTid u64  (27 bytes)
 *             -> deleteTid u64 | msgpack payload            (see codec.ts)
 *   data      same 27-byte key -> raw block bytes (DATA records only, so that
 *             stamping a delete_tid never rewrites the block)
 *   tidindex  tid u64 | event u8 (0 create, 1 delete) | 27-byte record key -> 0x00
 *   meta      ascii name -> msgpack value
 *
 * Key order inside a PFS is HAMMER's: obj_id, rec_type, key, create_tid. The
 * first 19 bytes (everything but createTid) name a record's "logical key": all
 * versions of one inode, dirent, block, symlink or xattr share it.
 */
import type { Tid } from '../tid.js';

export const RECTYPE = {
  INODE: 1,
  DIRENTRY: 2,
  DATA: 3,
  SYMLINK: 4,
  XATTR: 5,
  PFS: 6,
} as const;
export type RecType = (typeof RECTYPE)[keyof typeof RECTYPE];

export const RECTYPE_NAME: Record<number, string> = {
  1: 'inode', 2: 'dirent', 3: 'data', 4: 'symlink', 5: 'xattr', 6: 'pfs',
};

export const TIDEVENT = { CREATE: 0, DELETE: 1 } as const;
export type TidEvent = (typeof TIDEVENT)[keyof typeof TIDEVENT];

export const LOGICAL_KEY_LEN = 19;
export const REC_KEY_LEN = 27;
export const TIDINDEX_KEY_LEN = 8 + 1 + REC_KEY_LEN;

/** The identity of a record across its versions. */
export interface LogicalKey {
  pfs: number;
  objId: number;
  recType: RecType;
  key: bigint;
}

export interface RecKey extends LogicalKey {
  createTid: Tid;
}

export function encodeLogicalKey(k: LogicalKey, createTid?: Tid): Buffer {
  const b = Buffer.allocUnsafe(createTid === undefined ? LOGICAL_KEY_LEN : REC_KEY_LEN);
  writeLogicalKey(k, b, 0);
  if (createTid !== undefined) b.writeBigUInt64BE(createTid, 19);
  return b;
}

function writeLogicalKey(k: LogicalKey, b: Buffer, at: number): void {
  b.writeUInt16BE(k.pfs, at);
  b.writeBigUInt64BE(BigInt(k.objId), at + 2);
  b.writeUInt8(k.recType, at + 10);
  b.writeBigUInt64BE(k.key, at + 11);
}

export function encodeRecKey(k: RecKey): Buffer {
  return encodeLogicalKey(k, k.createTid);
}

/** encodeRecKey into `b` at `at`; returns the offset after it. */
export function writeRecKey(k: RecKey, b: Buffer, at: number): number {
  writeLogicalKey(k, b, at);
  b.writeBigUInt64BE(k.createTid, at + LOGICAL_KEY_LEN);
  return at + REC_KEY_LEN;
}

export function decodeRecKey(b: Buffer): RecKey {
  return {
    pfs: b.readUInt16BE(0),
    objId: Number(b.readBigUInt64BE(2)),
    recType: b.readUInt8(10) as RecType,
    key: b.readBigUInt64BE(11),
    createTid: b.readBigUInt64BE(19),
  };
}

/** Key prefix of every record of one object, or of one rec_type of it. */
export function objPrefix(pfs: number, objId: number, recType?: RecType): Buffer {
  const b = Buffer.allocUnsafe(recType === undefined ? 10 : 11);
  b.writeUInt16BE(pfs, 0);
  b.writeBigUInt64BE(BigInt(objId), 2);
  if (recType !== undefined) b.writeUInt8(recType, 10);
  return b;
}

export function pfsPrefix(pfs: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(pfs, 0);
  return b;
}

export function encodeTidIndexKey(tid: Tid, event: TidEvent, recKey: Buffer): Buffer {
  const b = Buffer.allocUnsafe(TIDINDEX_KEY_LEN);
  b.writeBigUInt64BE(tid, 0);
  b.writeUInt8(event, 8);
  recKey.copy(b, 9);
  return b;
}

export function decodeTidIndexKey(b: Buffer): { tid: Tid; event: TidEvent; recKey: Buffer } {
  return {
    tid: b.readBigUInt64BE(0),
    event: b.readUInt8(8) as TidEvent,
    recKey: b.subarray(9, 9 + REC_KEY_LEN),
  };
}

/** Sorts after every create_tid: the end of a logical key's versions. */
export const MAX_CREATE_TID = Buffer.alloc(8, 0xff);

export function tidKey(tid: Tid): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(tid, 0);
  return b;
}

/** The smallest key strictly greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  return Buffer.concat([prefix, Buffer.alloc(REC_KEY_LEN, 0xff)]);
}
