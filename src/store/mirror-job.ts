/**
 * A part of a mirror stream as the writes of one LMDB transaction on a
 * slave. The event loop packs the part's changes into one ArrayBuffer
 * (`packMirrorJob`), which crosses to the commit thread as a transfer, not
 * a copy, and whose views lmdb-js reads in place; `writeMirrorJob` runs it,
 * on the commit thread (commit-worker.ts) or inline.
 */
import { H2Error } from '../errors.js';
import type { Tid } from '../tid.js';
import { decodeLeaf, encodeLeaf, leafDeleteTid, stampDelete } from './codec.js';
import { latestVersion } from './commit-job.js';
import { decodeRecKey, encodeLogicalKey, encodeTidIndexKey, LOGICAL_KEY_LEN, REC_KEY_LEN, RECTYPE, TIDEVENT, writeRecKey, type RecType } from './keys.js';
import { NO_SYNC_FLUSH, type LmdbEnv } from './lmdb.js';
import { pfsHeaderKey, type PfsHeader } from './pfs.js';
import type { Payload } from './record.js';

/** A change to apply on a slave: a record created, or a delete_tid stamped. */
export type MirrorOp =
  | { kind: 'create'; objId: number; recType: RecType; key: bigint; createTid: Tid; payload: Payload; data?: Buffer }
  | { kind: 'delete'; objId: number; recType: RecType; key: bigint; createTid: Tid; deleteTid: Tid };

export interface MirrorJob {
  pfs: number;
  /** The slave's new sync-end-tid, set in the same transaction; absent for a part of a TID. */
  syncTid?: Tid;
  /**
   * The ops, one after another: kind (u8: 0 create, 1 delete), the record
   * key; a create then has its leaf (u32 length, bytes) and, for a data
   * block, u32 length + 1 and the bytes (0: no block); a delete its
   * delete_tid (u64).
   */
  ops: ArrayBuffer;
  /** Bytes of `ops` in use: a reused buffer may be longer. */
  len: number;
}

const CREATE = 0;
const DELETE = 1;
const MARK = Buffer.from([0]);
const EMPTY = Buffer.alloc(0);

/**
 * Packs `ops` for writeMirrorJob: every key, leaf and block copied once into
 * one buffer, from `buffer` (which may give a longer one it had before).
 */
export function packMirrorJob(pfs: number, ops: MirrorOp[], syncTid?: Tid,
  buffer: (size: number) => ArrayBuffer = (size) => new ArrayBuffer(size)): MirrorJob {
  const leaves: Array<Buffer | undefined> = [];
  let size = 0;
  for (const op of ops) {
    size += 1 + REC_KEY_LEN;
    if (op.kind === 'create') {
      const leaf = encodeLeaf(0n, op.payload);
      leaves.push(leaf);
      size += 4 + leaf.length + 4 + (op.recType === RECTYPE.DATA ? op.data?.length ?? 0 : 0);
    } else {
      leaves.push(undefined);
      size += 8;
    }
  }
  const ab = buffer(size);
  const b = Buffer.from(ab, 0, size);
  let at = 0;
  ops.forEach((op, i) => {
    at = b.writeUInt8(op.kind === 'create' ? CREATE : DELETE, at);
    at = writeRecKey({ pfs, objId: op.objId, recType: op.recType, key: op.key, createTid: op.createTid }, b, at);
    if (op.kind === 'create') {
      const leaf = leaves[i]!;
      at = b.writeUInt32BE(leaf.length, at);
      at += leaf.copy(b, at);
      if (op.recType === RECTYPE.DATA) {
        const data = op.data ?? EMPTY;
        at = b.writeUInt32BE(data.length + 1, at);
        b.set(data, at);
        at += data.length;
      } else {
        at = b.writeUInt32BE(0, at);
      }
    } else {
      at = b.writeBigUInt64BE(op.deleteTid, at);
    }
  });
  return { pfs, ...(syncTid === undefined ? {} : { syncTid }), ops: ab, len: size };
}

/**
 * Applies a packed part in one transaction: creates records, stamps
 * delete_tids, and, with a syncTid, moves the PFS's sync-end-tid in the
 * same transaction, so it never passes a TID whose records are not all
 * there. Re-applying the same part is harmless. Throws (H2_PROTOCOL for a
 * part that contradicts what the slave holds) with nothing written.
 */
export function writeMirrorJob(env: LmdbEnv, job: MirrorJob): void {
  const { records, data, tidindex } = env;
  const b = Buffer.from(job.ops, 0, job.len);
  // Scattered leaves and free pages: fault them in without readaround.
  env.advice.randomly(() => env.root.transactionSync(() => {
    let at = 0;
    while (at < b.length) {
      const kind = b.readUInt8(at);
      const key = b.subarray(at + 1, at + 1 + REC_KEY_LEN);
      at += 1 + REC_KEY_LEN;
      if (kind === CREATE) {
        const leafLen = b.readUInt32BE(at);
        records.putSync(key, b.subarray(at + 4, at + 4 + leafLen));
        at += 4 + leafLen;
        const dataLen = b.readUInt32BE(at);
        at += 4;
        if (dataLen > 0) {
          data.putSync(key, b.subarray(at, at + dataLen - 1));
          at += dataLen - 1;
        }
        tidindex.putSync(encodeTidIndexKey(key.readBigUInt64BE(LOGICAL_KEY_LEN), TIDEVENT.CREATE, key), MARK);
      } else {
        const deleteTid = b.readBigUInt64BE(at);
        at += 8;
        stampMirroredDelete(env, key, deleteTid);
      }
    }
    if (job.syncTid !== undefined) setSyncEndTid(env, job.pfs, job.syncTid);
  }, NO_SYNC_FLUSH));
}

function stampMirroredDelete(env: LmdbEnv, key: Buffer, deleteTid: Tid): void {
  const leaf = env.records.get(key);
  const { objId, createTid } = decodeRecKey(key);
  if (!leaf) {
    throw new H2Error('H2_PROTOCOL', `stream deletes a record the slave does not have (obj ${objId}, created ${createTid})`);
  }
  const had = leafDeleteTid(leaf);
  if (had !== 0n && had !== deleteTid) {
    throw new H2Error('H2_PROTOCOL', `stream would move a delete_tid the slave already has (obj ${objId}): history is immutable`);
  }
  env.records.putSync(key, stampDelete(leaf, deleteTid));
  env.tidindex.putSync(encodeTidIndexKey(deleteTid, TIDEVENT.DELETE, key), MARK);
}

/**
 * A slave's sync-end-tid changes with every mirrored TID; it is updated in
 * place in the header's current version (as HAMMER updates its PFS
 * record) rather than growing the header's history by one per TID.
 */
function setSyncEndTid(env: LmdbEnv, pfs: number, tid: Tid): void {
  const head = latestVersion(env, encodeLogicalKey(pfsHeaderKey(pfs)));
  if (!head || leafDeleteTid(head.value) !== 0n) throw new H2Error('ENOENT', `PFS #${pfs} does not exist`);
  const h = decodeLeaf<PfsHeader>(head.value).payload;
  env.records.putSync(head.key, encodeLeaf(0n, { ...h, syncEndTid: tid }));
}
