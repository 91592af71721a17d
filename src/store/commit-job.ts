/**
 * A flush group as the writes of one LMDB transaction. The event loop builds
 * the job (keys and leaves encoded, blocks by reference); `writeCommitJob`
 * runs it, on the commit thread (commit-worker.ts) or inline. Everything in
 * a job is plain bytes, so it crosses to the worker with postMessage, and
 * blocks in SharedArrayBuffers cross without a copy.
 */
import { TID_MAX, type Tid } from '../tid.js';
import { leafDeleteTid, stampDelete } from './codec.js';
import { encodeTidIndexKey, LOGICAL_KEY_LEN, MAX_CREATE_TID, REC_KEY_LEN, TIDEVENT, tidKey } from './keys.js';
import { nativeAddon } from '../native.js';
import { NO_SYNC_FLUSH, type LmdbEnv } from './lmdb.js';

export const META_STORE = Buffer.from('store');
export const META_NEXTOBJ = Buffer.from('nextobj');
const MARK = Buffer.from([0]);

export interface CommitRecord {
  /** The 19-byte logical key. */
  lk: Uint8Array;
  /** The new version's leaf (delete_tid 0), or null: the record is deleted. */
  leaf: Uint8Array | null;
  /** DATA records that are not deleted: the block's content. */
  data?: Uint8Array;
}

export interface CommitJob {
  tid: Tid;
  recs: CommitRecord[];
  /** The obj_id allocators and the store header, as of this TID. */
  nextObj: Uint8Array;
  meta: Uint8Array;
}

/** A Buffer over the same memory (postMessage hands Uint8Arrays over, lmdb-js wants Buffers). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** lmdb-js's cache of an ArrayBuffer's memory address (write.js reads it before asking the addon). */
type Addressed = SharedArrayBuffer & { address?: number };

/**
 * lmdb-js finds a value's memory with napi_get_arraybuffer_info, which
 * knows nothing of a SharedArrayBuffer (it reads back zeros, or crashes),
 * unless the buffer already carries its `address`. With the native addon
 * the block's SharedArrayBuffer gets it, and the put reads the block where
 * it is. V8 copies a SharedArrayBuffer with relaxed atomic loads, and that
 * copy cost the commit thread about 8% of its CPU (measured alternating,
 * 660 against 605 ms per 512 MiB). Without the addon a shared block is
 * still copied into a plain scratch buffer first. putSync has copied the
 * value into the transaction's page before it returns.
 */
function putable(u: Uint8Array): Buffer {
  if (!(u.buffer instanceof SharedArrayBuffer)) return asBuffer(u);
  const a = u.length > 0 ? nativeAddon() : null;
  if (a) {
    const sab = u.buffer as Addressed;
    // A SharedArrayBuffer that came with postMessage is a new object each time.
    if (sab.address === undefined) sab.address = a.addressOf(u) - u.byteOffset;
    return asBuffer(u);
  }
  if (scratch.length < u.length) scratch = Buffer.allocUnsafeSlow(u.length);
  scratch.set(u);
  return scratch.subarray(0, u.length);
}

/** The newest version of a logical key created at or before `atOrBefore` (any, when absent). */
export function latestVersion(env: LmdbEnv, lkBuf: Buffer, atOrBefore?: Tid): { key: Buffer; value: Buffer } | undefined {
  const startTid = atOrBefore === undefined || atOrBefore === TID_MAX ? MAX_CREATE_TID : tidKey(atOrBefore);
  const start = Buffer.concat([lkBuf, startTid]);
  for (const e of env.records.getRange({ start, end: lkBuf, reverse: true, limit: 1 })) {
    if (e.key.length === REC_KEY_LEN && e.key.subarray(0, LOGICAL_KEY_LEN).equals(lkBuf)) return e;
  }
  return undefined;
}

/**
 * Writes a job in one transaction: each key's live version gets
 * delete_tid = TID and, unless deleted, a new version gets create_tid = TID.
 * Returns how many record versions it wrote; throws with nothing written.
 */
export function writeCommitJob(env: LmdbEnv, job: CommitJob): number {
  const { records, data, tidindex, meta } = env;
  const tidBuf = Buffer.allocUnsafe(8);
  tidBuf.writeBigUInt64BE(job.tid, 0);
  let written = 0;
  env.root.transactionSync(() => {
    for (const r of job.recs) {
      const lkBuf = asBuffer(r.lk);
      const head = latestVersion(env, lkBuf);
      if (head && leafDeleteTid(head.value) === 0n) {
        records.putSync(head.key, stampDelete(head.value, job.tid));
        tidindex.putSync(encodeTidIndexKey(job.tid, TIDEVENT.DELETE, head.key), MARK);
        written++;
      }
      if (r.leaf !== null) {
        const key = Buffer.concat([lkBuf, tidBuf]);
        records.putSync(key, asBuffer(r.leaf));
        if (r.data) data.putSync(key, putable(r.data));
        tidindex.putSync(encodeTidIndexKey(job.tid, TIDEVENT.CREATE, key), MARK);
        written++;
      }
    }
    meta.putSync(META_NEXTOBJ, asBuffer(job.nextObj));
    meta.putSync(META_STORE, asBuffer(job.meta));
  }, NO_SYNC_FLUSH);
  return written;
}
