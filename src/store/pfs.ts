/**
 * Pseudo-filesystems. Each PFS has its own inode space (records keyed by its
 * number) and a header stored as a record (obj_id 0, rec_type PFS), so the
 * header has history like everything else. PFS 0 is the root, always a
 * master. A master's sync-end-tid is the store's last committed TID; a
 * slave's is the last TID mirror-write made whole and durable.
 */
import { randomUUID } from 'node:crypto';
import { H2Error } from '../errors.js';
import { type Tid } from '../tid.js';
import { RECTYPE, type LogicalKey } from './keys.js';

export const PFS_MAX = 65535;

export type PfsMode = 'master' | 'slave';

export interface PfsHeader {
  v: 1;
  mode: PfsMode;
  sharedUuid: string;
  uniqueUuid: string;
  label: string;
  syncBegTid: Tid;
  /** Stored for slaves; for a master the live value is the store's last TID. */
  syncEndTid: Tid;
}

export function pfsHeaderKey(pfs: number): LogicalKey {
  return { pfs, objId: 0, recType: RECTYPE.PFS, key: 0n };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkUuid(u: string, what: string): string {
  if (!UUID.test(u)) throw H2Error.usage(`bad ${what} '${u}': expected a UUID like 01234567-89ab-cdef-0123-456789abcdef`);
  return u.toLowerCase();
}

export function newPfsHeader(mode: PfsMode, opts: { sharedUuid?: string; label?: string } = {}): PfsHeader {
  return {
    v: 1, mode, sharedUuid: opts.sharedUuid ?? randomUUID(), uniqueUuid: randomUUID(), label: opts.label ?? '',
    syncBegTid: 1n, syncEndTid: 1n,
  };
}

/** The stored target of a PFS link (HAMMER's exactly-10-character form). */
export function pfsLinkTarget(pfs: number): string {
  return `@@PFS${String(pfs).padStart(5, '0')}`;
}

export function parsePfsLinkTarget(target: string): number | undefined {
  const m = /^@@PFS(\d{5})$/.exec(target);
  return m ? Number(m[1]) : undefined;
}
