/**
 * The history store: HAMMER-style records in LMDB, a flush group staged in
 * memory, and commit() that writes the whole group under one new TID in one
 * LMDB transaction (atomic; durable once `flushed()` resolves).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { H2Error } from '../errors.js';
import * as log from '../log.js';
import { nextTid, TID_MAX, TID_ZERO, type Tid } from '../tid.js';
import { decodeLeaf, decodePayload, encodeLeaf, encodePayload, leafDeleteTid, stampDelete } from './codec.js';
import { latestVersion, META_NEXTOBJ, META_STORE, writeCommitJob, type CommitJob, type CommitRecord } from './commit-job.js';
import { CommitThread, isMirrorReply, type CommitReply, type MirrorReply, type ThreadReply } from './commit-thread.js';
import { packMirrorJob, writeMirrorJob, type MirrorOp } from './mirror-job.js';
import { PartBuffers } from './part-buffers.js';
import {
  decodeRecKey, encodeLogicalKey, encodeRecKey, encodeTidIndexKey, LOGICAL_KEY_LEN, MAX_CREATE_TID, objPrefix, pfsPrefix, RECTYPE, REC_KEY_LEN,
  TIDEVENT, type LogicalKey, type RecType,
} from './keys.js';
import { getFast, openLmdb, NO_SYNC_FLUSH, type BinDb, type LmdbEnv, type ReadTxn } from './lmdb.js';
import { FlushGroup, type StagedRecord } from './flush-group.js';
import { HeadCache } from './head-cache.js';
import { isStoreDir } from './is-store.js';
import { visibleAt, type Payload, type StoredRecord } from './record.js';
import { PFS_MAX, pfsHeaderKey, type PfsHeader } from './pfs.js';

export const STORE_FORMAT = 1;
const EMPTY_BLOCK = Buffer.alloc(0);

export interface StoreMeta {
  v: 1;
  format: number;
  uuid: string;
  label: string;
  created: number;
  lastTid: Tid;
}

/** What a view reads: one record per logical key, as of `asOf`. */
export interface RecordView {
  readonly asOf: Tid;
  get<P extends Payload>(lk: LogicalKey): P | undefined;
  /** Bytes of a DATA record (may be shorter than the block). */
  getData(lk: LogicalKey): Buffer | undefined;
  /**
   * Copies up to `n` bytes of a DATA record from `srcOff` into `dst` at
   * `dstOff`, without an intermediate copy (the read path); returns the bytes
   * copied, 0 when the record is shorter or absent.
   */
  copyData(lk: LogicalKey, dst: Buffer, dstOff: number, srcOff: number, n: number): number;
  /** Visible records of one object and rec_type with from <= key <= to, by key. */
  scan<P extends Payload>(pfs: number, objId: number, recType: RecType, from?: bigint, to?: bigint):
    Array<{ key: bigint; payload: P }>;
  /**
   * Keys of every visible record an object owns besides its inode (dirents,
   * data, symlink target, xattrs): what destroying it deletes. One range read.
   */
  ownedKeys(pfs: number, objId: number): LogicalKey[];
}

/** One change of a PFS as the TID index records it. */
export interface MirrorEvent {
  tid: Tid;
  kind: 'create' | 'delete';
  objId: number;
  recType: RecType;
  key: bigint;
  createTid: Tid;
  /** create: the payload (a DATA block's bytes come from blockView). */
  payload?: Payload;
}

export type { MirrorOp } from './mirror-job.js';

export interface CommitResult {
  tid: Tid;
  records: number;
}

export interface StoreInfo {
  path: string;
  uuid: string;
  label: string;
  bytes: number;
  records: number;
  firstTid: Tid;
  lastTid: Tid;
}

const U64_MAX = 0xffffffffffffffffn;

/**
 * Flush groups handed to the commit thread and not yet landed. One: a group
 * is written while the next one fills, and committing that next one blocks
 * the event loop until the first has landed, which bounds the blocks held.
 */
const MAX_IN_FLIGHT = 1;

/** A flush group sealed under its TID, visible through the live view until it lands. */
interface InFlight {
  job: CommitJob;
  group: FlushGroup;
  /** The commit thread failed it (or skipped it after a failure): the event loop rewrites it. */
  failed: boolean;
}

/** A mirror part handed to the commit thread: settled when the thread answers. */
interface MirrorWaiter {
  syncTid: Tid | undefined;
  resolve: () => void;
  reject: (e: H2Error) => void;
}

/** A prefetch is a hint: nothing waits on one longer than this. */
const PREFETCH_LIMIT_MS = 1000;

export class Store {
  readonly dir: string;
  private readonly env: LmdbEnv;
  private metaCache: StoreMeta;
  private readonly nextObj = new Map<number, number>();
  readonly group = new FlushGroup();
  /** Takes back pooled block buffers (StagedRecord.pooled) once they are committed. */
  recycleBlock?: (b: Buffer) => void;
  readonly readOnly: boolean;
  private closed = false;
  private readonly commitListeners = new Set<(tid: Tid) => void>();
  /** Only in a writable store: a read-only opener cannot see another process's commits invalidate it. */
  private readonly headCache: HeadCache | undefined;
  private liveGen = 0;
  /** The committed head as the live view reads it (through headCache when there is one). */
  private readonly liveHead: RecordView;
  /** Writes sealed flush groups off the event loop, once startCommitThread ran. */
  private commitThread: CommitThread | undefined;
  /** Oldest first; their TIDs are allocated, their records not yet in LMDB. */
  private inflight: InFlight[] = [];
  /** liveHead with the in-flight groups on top, oldest lowest. */
  private layeredHead: RecordView;
  /** The highest TID whose commit is in LMDB: how far a master's mirror stream may go. */
  private landedTid: Tid;
  private landedBytes = 0;
  private flushWaiters: Array<() => void> = [];
  /** Mirror parts on the commit thread, by id. */
  private readonly mirrorWaiters = new Map<number, MirrorWaiter>();
  private mirrorIds = 0;
  private mirrorChains = 0;
  private readonly partBuffers = new PartBuffers();

  private constructor(dir: string, env: LmdbEnv, meta: StoreMeta, readOnly: boolean) {
    this.dir = dir;
    this.env = env;
    this.metaCache = meta;
    this.readOnly = readOnly;
    this.headCache = readOnly ? undefined : new HeadCache();
    const head = new CommittedView(env, TID_MAX);
    this.liveHead = this.headCache ? new CachedHeadView(head, this.headCache) : head;
    this.layeredHead = this.liveHead;
    this.landedTid = meta.lastTid;
    const raw = env.meta.get(META_NEXTOBJ);
    if (raw) {
      const m = decodePayload<Record<string, number>>(raw);
      for (const [k, n] of Object.entries(m)) this.nextObj.set(Number(k), n);
    }
  }

  /** newfs: create an empty store directory (0700, files 0600). */
  static create(dir: string, opts: { label?: string } = {}): Store {
    const abs = path.resolve(dir);
    if (fs.existsSync(abs)) {
      const st = fs.statSync(abs);
      if (!st.isDirectory()) throw new H2Error('EEXIST', `newfs: ${abs}: exists and is not a directory`);
      if (fs.readdirSync(abs).length > 0) throw new H2Error('EEXIST', `newfs: ${abs}: directory is not empty`);
    } else {
      fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
    }
    fs.chmodSync(abs, 0o700);
    const env = openLmdb(abs);
    const meta: StoreMeta = {
      v: 1, format: STORE_FORMAT, uuid: randomUUID(), label: opts.label ?? '',
      created: Date.now(), lastTid: TID_ZERO,
    };
    env.meta.putSync(META_STORE, encodePayload({ ...meta }));
    return new Store(abs, env, meta, false);
  }

  static isStore(dir: string): boolean {
    return isStoreDir(dir);
  }

  static open(dir: string, opts: { readOnly?: boolean } = {}): Store {
    const abs = path.resolve(dir);
    if (!Store.isStore(abs)) {
      throw new H2Error('ENOENT', `${abs}: not an h2fs store (no data.mdb)`, { hint: `h2fs newfs ${abs}` });
    }
    const env = openLmdb(abs, opts);
    const raw = env.meta.get(META_STORE);
    if (!raw) throw H2Error.store(`${abs}: store has no header`);
    const meta = decodePayload<StoreMeta>(raw);
    if (meta.format !== STORE_FORMAT) {
      throw H2Error.store(`${abs}: store format ${meta.format} is not supported (this h2fs reads ${STORE_FORMAT})`);
    }
    return new Store(abs, env, meta, opts.readOnly ?? false);
  }

  get meta(): Readonly<StoreMeta> {
    return this.metaCache;
  }

  /** Highest committed TID (0 for an empty store); with a commit thread, possibly not landed yet. */
  get lastTid(): Tid {
    return this.metaCache.lastTid;
  }

  /** Next free obj_id of a PFS; obj_id 1 is each PFS's root directory. */
  allocObjId(pfs: number): number {
    const n = this.nextObj.get(pfs) ?? 2;
    if (n > Number.MAX_SAFE_INTEGER) throw new H2Error('ENOSPC', `PFS #${pfs} has used every obj_id`);
    this.nextObj.set(pfs, n + 1);
    return n;
  }

  private encodeNextObj(): Buffer {
    const nextObj: Record<string, number> = {};
    for (const [k, n] of this.nextObj) nextObj[String(k)] = n;
    return encodePayload(nextObj);
  }

  /** Highest obj_id with any record in PFS `pfs` (0 if none). */
  private maxObjId(pfs: number): number {
    for (const { key } of this.env.records.getRange({ start: prefixUpper(pfsPrefix(pfs)), end: pfsPrefix(pfs), reverse: true, limit: 1 })) {
      if (key.readUInt16BE(0) === pfs) return Number(key.readBigUInt64BE(2));
    }
    return 0;
  }

  /**
   * Moves PFS `pfs`'s obj_id allocator past every obj_id it holds. Records
   * that arrive by mirroring carry the master's obj_ids; a promoted slave's
   * new files must not collide with them.
   */
  reserveObjIds(pfs: number): void {
    const want = this.maxObjId(pfs) + 1;
    if ((this.nextObj.get(pfs) ?? 2) < want) this.nextObj.set(pfs, want);
  }

  // ---- reading -------------------------------------------------------------

  /** The committed state as of `asOf` (TID_MAX: the committed head). */
  asOf(asOf: Tid): RecordView {
    return new CommittedView(this.env, asOf);
  }

  /** The live state: the committed head with the flush group on top. */
  live(): RecordView {
    return new LiveView(this.layeredHead, this.group);
  }

  /** Whether an object has changes not in LMDB yet (staged, or in flight). */
  hasStaged(pfs: number, objId: number): boolean {
    return this.group.hasObject(pfs, objId) || this.inflight.some((f) => f.group.hasObject(pfs, objId));
  }

  /** Bytes of staged blocks not in LMDB yet, in flight ones included. */
  get stagedDataBytes(): number {
    return this.inflight.reduce((n, f) => n + f.group.dataBytes, this.group.dataBytes);
  }

  /** Data bytes of every flush group landed in LMDB since open: what a free-space sample taken before a landing misses. */
  get landedDataBytes(): number {
    return this.landedBytes;
  }

  /** Staged records, in flight ones included. */
  get stagedCount(): number {
    return this.inflight.reduce((n, f) => n + f.group.size, this.group.size);
  }

  /** Every version of every record of an object, oldest first per key. */
  versions(pfs: number, objId: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    const start = objPrefix(pfs, objId);
    for (const { key, value } of this.env.records.getRange({ start, end: prefixUpper(start) })) {
      const rk = decodeRecKey(key);
      const { deleteTid, payload } = decodeLeaf(value);
      out.push({ ...rk, deleteTid, payload });
    }
    return out;
  }

  // ---- pseudo-filesystems ------------------------------------------------------

  /** A PFS's header as it stands now (staged changes included). */
  getPfs(pfs: number): PfsHeader | undefined {
    if (pfs === 0) {
      const h = this.live().get<PfsHeader>(pfsHeaderKey(0));
      return h ?? { v: 1, mode: 'master', sharedUuid: this.metaCache.uuid, uniqueUuid: this.metaCache.uuid,
        label: this.metaCache.label, syncBegTid: 1n, syncEndTid: this.landedTid };
    }
    return this.live().get<PfsHeader>(pfsHeaderKey(pfs));
  }

  putPfs(pfs: number, header: PfsHeader): void {
    this.stage({ lk: pfsHeaderKey(pfs), payload: header });
  }

  /**
   * The TID up to which a PFS is whole: a master's last landed commit (a
   * mirror stream reads LMDB, so nothing still in flight), a slave's
   * sync-end-tid.
   */
  syncEndTid(pfs: number): Tid {
    const h = this.getPfs(pfs);
    if (!h || h.mode === 'master') return this.landedTid;
    return h.syncEndTid;
  }

  /** Numbers of the PFSes that exist (PFS 0 first). */
  listPfs(): number[] {
    const out = [0];
    const live = this.live();
    let next = 1;
    while (next <= PFS_MAX) {
      let found: number | undefined;
      for (const { key } of this.env.records.getRange({ start: pfsPrefix(next), limit: 1 })) found = key.readUInt16BE(0);
      const staged = [this.group, ...this.inflight.map((f) => f.group)].flatMap((g) => [...g.all()]).filter((r) => r.lk.objId === 0 && r.lk.recType === RECTYPE.PFS && r.lk.pfs >= next)
        .map((r) => r.lk.pfs);
      const candidates = [...(found === undefined ? [] : [found]), ...staged].sort((a, b) => a - b);
      if (candidates.length === 0) break;
      const p = candidates[0]!;
      if (live.get(pfsHeaderKey(p))) out.push(p);
      next = p + 1;
    }
    return out;
  }

  /** The lowest free PFS number, 1..65535. */
  allocPfsId(): number {
    const used = new Set(this.listPfs());
    for (let p = 1; p <= PFS_MAX; p++) if (!used.has(p)) return p;
    throw new H2Error('ENOSPC', 'all 65535 PFS numbers are in use');
  }

  /**
   * pfs-upgrade's rollback: physically drops every record of `pfs` created
   * after `tid` and clears delete_tids stamped after it, so the PFS is
   * exactly its state at `tid`. The header (obj_id 0) is left alone: its
   * versions carry this store's own TIDs. Commits the flush group first.
   */
  rollbackPfs(pfs: number, tid: Tid): { dropped: number; undeleted: number } {
    this.commit();
    this.settle();
    let dropped = 0;
    let undeleted = 0;
    const { records, data, tidindex } = this.env;
    this.env.root.transactionSync(() => {
      for (const { key, value } of records.getRange({ start: objPrefix(pfs, 1), end: prefixUpper(pfsPrefix(pfs)) })) {
        const createTid = key.readBigUInt64BE(LOGICAL_KEY_LEN);
        const deleteTid = leafDeleteTid(value);
        if (createTid > tid) {
          records.removeSync(key);
          data.removeSync(key);
          tidindex.removeSync(encodeTidIndexKey(createTid, TIDEVENT.CREATE, key));
          if (deleteTid !== 0n) tidindex.removeSync(encodeTidIndexKey(deleteTid, TIDEVENT.DELETE, key));
          dropped++;
        } else if (deleteTid > tid) {
          records.putSync(key, stampDelete(value, 0n));
          tidindex.removeSync(encodeTidIndexKey(deleteTid, TIDEVENT.DELETE, key));
          undeleted++;
        }
      }
    });
    this.dropHeadCache();
    return { dropped, undeleted };
  }

  /** pfs-destroy: physically removes every record of `pfs`, header included. */
  destroyPfs(pfs: number): number {
    if (pfs === 0) throw H2Error.usage('PFS #0 (the root) cannot be destroyed');
    this.commit();
    this.settle();
    let removed = 0;
    const { records, data, tidindex } = this.env;
    this.env.root.transactionSync(() => {
      for (const { key, value } of records.getRange({ start: pfsPrefix(pfs), end: prefixUpper(pfsPrefix(pfs)) })) {
        const createTid = key.readBigUInt64BE(LOGICAL_KEY_LEN);
        const deleteTid = leafDeleteTid(value);
        records.removeSync(key);
        data.removeSync(key);
        tidindex.removeSync(encodeTidIndexKey(createTid, TIDEVENT.CREATE, key));
        if (deleteTid !== 0n) tidindex.removeSync(encodeTidIndexKey(deleteTid, TIDEVENT.DELETE, key));
        removed++;
      }
      this.nextObj.delete(pfs);
      this.env.meta.putSync(META_NEXTOBJ, this.encodeNextObj());
    });
    this.dropHeadCache();
    return removed;
  }

  // ---- mirroring -------------------------------------------------------------

  /**
   * Changes of PFS `pfs` with begTid < tid <= endTid (exclusive begin,
   * inclusive end), in TID order, at most `limit` index entries per call.
   * Pass the returned `cursor` back to continue; null when done. The PFS
   * header (obj_id 0) is never part of a stream.
   *
   * The scan reads in `txn` (from beginRead), and DATA events carry no
   * bytes: the caller reads each with blockView in the same transaction as
   * it sends it. A bulk copy is mostly these blocks, and this way none of
   * them is copied into a buffer of its own.
   */
  scanEvents(pfs: number, begTid: Tid, endTid: Tid, cursor: Buffer | null, limit: number, txn: ReadTxn):
    { events: MirrorEvent[]; cursor: Buffer | null } {
    const events: MirrorEvent[] = [];
    let last: Buffer | null = null;
    let seen = 0;
    const inTxn = { transaction: txn };
    for (const { key } of this.env.tidindex.getRange({ ...tidIndexRange(begTid, endTid, cursor, limit), ...inTxn })) {
      seen++;
      last = Buffer.from(key);
      const recKey = key.subarray(9, 9 + REC_KEY_LEN);
      if (recKey.readUInt16BE(0) !== pfs) continue;
      const rk = decodeRecKey(recKey);
      if (rk.objId === 0) continue;
      const tid = key.readBigUInt64BE(0);
      const kind = key.readUInt8(8) === TIDEVENT.CREATE ? 'create' : 'delete';
      const ev: MirrorEvent = { tid, kind, objId: rk.objId, recType: rk.recType, key: rk.key, createTid: rk.createTid };
      if (kind === 'create') {
        const leaf = this.env.records.get(recKey, inTxn);
        if (!leaf) throw H2Error.store(`tid index names a missing record (obj ${rk.objId} at ${tid})`);
        ev.payload = decodeLeaf(leaf).payload;
      }
      events.push(ev);
    }
    return { events, cursor: seen < limit ? null : last };
  }

  /** A read transaction for scanEvents and blockView; end it with `done()`. */
  beginRead(): ReadTxn {
    return this.env.root.useReadTransaction();
  }

  /**
   * The bytes of a DATA event that scanEvents left out, read in
   * `txn`. Not a copy: valid only until the next read of this store.
   */
  blockView(pfs: number, ev: MirrorEvent, txn: ReadTxn): Buffer {
    const recKey = encodeRecKey({ pfs, objId: ev.objId, recType: ev.recType, key: ev.key, createTid: ev.createTid });
    return getFast(this.env.data, recKey, txn) ?? EMPTY_BLOCK;
  }

  /**
   * The stream bytes (beg, end] of `pfs` will take, from metadata alone: the
   * TID index and record leaves, never the data blocks themselves. Up to
   * `limit` index entries at a time; continue from the returned cursor
   * (null when done), so a daemon can serve FUSE in between.
   */
  estimateStreamBytes(pfs: number, begTid: Tid, endTid: Tid, cursor: Buffer | null = null, limit = Infinity):
    { bytes: number; cursor: Buffer | null } {
    let bytes = 0;
    let seen = 0;
    let last: Buffer | null = null;
    for (const { key } of this.env.tidindex.getRange(tidIndexRange(begTid, endTid, cursor, limit))) {
      if (++seen === limit) last = Buffer.from(key);
      const recKey = key.subarray(9, 9 + REC_KEY_LEN);
      if (recKey.readUInt16BE(0) !== pfs || recKey.readBigUInt64BE(2) === 0n) continue;
      if (key.readUInt8(8) === TIDEVENT.DELETE) {
        bytes += 90;
        continue;
      }
      const leaf = this.env.records.getBinaryFast(recKey);
      bytes += 60 + (leaf ? leaf.length : 0);
      if (recKey.readUInt8(10) === RECTYPE.DATA && leaf) bytes += decodeLeaf<{ len: number }>(leaf).payload.len;
    }
    return { bytes, cursor: seen < limit ? null : last };
  }

  /** The bytes of one version of a data block: the record created at `createTid`, exactly. */
  dataVersion(pfs: number, objId: number, key: bigint, createTid: Tid): Buffer | undefined {
    // A PATCH base on the slave: one block somewhere in the store.
    return this.env.advice.randomly(() =>
      this.env.data.get(encodeRecKey({ pfs, objId, recType: RECTYPE.DATA, key, createTid })));
  }

  /**
   * Reads the B-tree pages (and, with `data`, the block) of one record into
   * the page cache on a worker thread, readaround off meanwhile: a mirror
   * batch's records are scattered over the store, and faulted in one by one
   * inside its synchronous transaction they would be read one after the
   * other. Resolves when done or after PREFETCH_LIMIT_MS, never rejects: a
   * prefetch is only ever a hint.
   */
  prefetchRecord(pfs: number, objId: number, recType: RecType, key: bigint, createTid: Tid, data: boolean): Promise<void> {
    const recKey = encodeRecKey({ pfs, objId, recType, key, createTid });
    const release = this.env.advice.hold();
    return Promise.all([this.prefetchKey(this.env.records, recKey), ...(data ? [this.prefetchKey(this.env.data, recKey)] : [])])
      .then(release);
  }

  /**
   * Reads ahead what dataBefore() will read for each of these new block
   * versions: the leaf that holds their older versions, then the newest
   * older block created at or before `notAfter`. The bases of an
   * incremental batch's PATCHes are scattered over a store, and read by
   * the mirror reader one at a time they would come from disk one after
   * the other. A prefetch that fails or stalls is skipped; only a failing
   * store (whose reads fail anyway) rejects.
   */
  async prefetchBases(pfs: number, blocks: ReadonlyArray<{ objId: number; key: bigint; createTid: Tid }>, notAfter: Tid): Promise<void> {
    if (blocks.length === 0) return;
    const release = this.env.advice.hold();
    try {
      await Promise.all(blocks.map((b) =>
        this.prefetchKey(this.env.records, encodeRecKey({ pfs, objId: b.objId, recType: RECTYPE.DATA, key: b.key, createTid: b.createTid }))));
      const bases: Promise<void>[] = [];
      for (const b of blocks) {
        if (b.createTid <= 1n) continue;
        const v = latestVersion(this.env, encodeLogicalKey({ pfs, objId: b.objId, recType: RECTYPE.DATA, key: b.key }), b.createTid - 1n);
        if (v && v.key.readBigUInt64BE(LOGICAL_KEY_LEN) <= notAfter) bases.push(this.prefetchKey(this.env.data, Buffer.from(v.key)));
      }
      await Promise.all(bases);
    } finally {
      release();
    }
  }

  /** One key's pages into the page cache on a worker thread; resolves when done or after PREFETCH_LIMIT_MS. */
  private prefetchKey(db: BinDb, recKey: Buffer): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, PREFETCH_LIMIT_MS);
      try {
        // lmdb-js calls back only on success; the timer covers the rest.
        void db.prefetch([recKey], () => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /**
   * The version of a data block created last before `tid` (deleted since or
   * not), for deltas; undefined, without reading its bytes, when that
   * version was created after `notAfter`.
   */
  dataBefore(pfs: number, objId: number, key: bigint, tid: Tid, notAfter: Tid = tid):
    { createTid: Tid; data: Buffer } | undefined {
    if (tid <= 1n) return undefined;
    const v = latestVersion(this.env, encodeLogicalKey({ pfs, objId, recType: RECTYPE.DATA, key }), tid - 1n);
    if (!v) return undefined;
    const createTid = v.key.readBigUInt64BE(LOGICAL_KEY_LEN);
    if (createTid > notAfter) return undefined;
    const data = this.env.data.get(v.key);
    return data ? { createTid, data } : undefined;
  }

  /** A new mirror chain: parts of one session, none of which lands once one before it failed. */
  newMirrorChain(): number {
    return ++this.mirrorChains;
  }

  /**
   * Applies mirrored changes to PFS `pfs` in one LMDB transaction and, when
   * `syncTid` is given, moves the PFS's sync-end-tid to it in the same
   * transaction: the slave's sync-end-tid never passes a TID whose records
   * are not all there. Re-applying the same changes is harmless.
   *
   * With a commit thread the part is written there, after whatever was
   * handed to it before, and the promise settles once it is in LMDB (on
   * disk) or failed; until then the store reads as before the part. Parts of
   * one `chain` land in order, and none after one that failed. Without a
   * thread it is written before this returns. `ops` may be reused at once.
   */
  applyMirror(pfs: number, ops: MirrorOp[], syncTid?: Tid, chain = 0): Promise<void> {
    try {
      this.commit();
    } catch (e) {
      return Promise.reject(e);
    }
    const job = packMirrorJob(pfs, ops, syncTid, (size) => this.partBuffers.take(size));
    const thread = this.commitThread;
    if (!thread) {
      try {
        this.settle();
        writeMirrorJob(this.env, job);
      } catch (e) {
        return Promise.reject(this.mirrorFailed(e));
      } finally {
        this.partBuffers.give(job.ops);
      }
      this.mirrorLanded(syncTid);
      return Promise.resolve();
    }
    const id = ++this.mirrorIds;
    return new Promise<void>((resolve, reject) => {
      this.mirrorWaiters.set(id, { syncTid, resolve, reject });
      try {
        thread.postMirror(id, chain, job);
      } catch (e) {
        this.mirrorWaiters.delete(id);
        reject(H2Error.store(`mirror-write: the commit thread died (${(e as Error).message})`, e));
      }
    });
  }

  private onMirrorReply(r: MirrorReply): void {
    if (r.ops) this.partBuffers.give(r.ops);
    const w = this.mirrorWaiters.get(r.mirror);
    if (!w) return;
    this.mirrorWaiters.delete(r.mirror);
    if (r.error === undefined && !r.skipped) {
      // As landOldest: this turn's reads must see the part.
      this.env.root.resetReadTxn();
      this.mirrorLanded(w.syncTid);
      w.resolve();
      return;
    }
    const e = r.skipped
      ? H2Error.store('mirror-write: part not written, an earlier write failed')
      : r.code === 'H2_PROTOCOL' || r.code === 'ENOENT'
        ? new H2Error(r.code, r.error!)
        : new Error(r.error);
    w.reject(this.mirrorFailed(e));
  }

  private mirrorLanded(syncTid: Tid | undefined): void {
    this.dropHeadCache();
    // A slave that moved is news for whoever mirrors it onwards (cascades).
    if (syncTid !== undefined) for (const fn of this.commitListeners) fn(syncTid);
  }

  private mirrorFailed(e: unknown): H2Error {
    this.dropHeadCache();
    if (e instanceof H2Error) return e;
    if (this.diskNearlyFull()) return new H2Error('ENOSPC', `mirror-write failed, store disk is full: ${(e as Error).message}`, { cause: e });
    return H2Error.store(`mirror-write transaction failed: ${(e as Error).message}`, e);
  }

  // ---- writing -------------------------------------------------------------

  stage(rec: StagedRecord): void {
    if (this.readOnly) throw H2Error.posix('EROFS', 'store is open read-only');
    const prev = this.group.stage(rec);
    // A block the group no longer holds is the group's alone (reads copy out of it): back to the pool.
    if (prev?.pooled && prev.data && prev.data !== rec.data) this.recycleBlock?.(prev.data);
    this.liveGen++;
  }

  /**
   * Changes whenever what live() shows may have changed: a staged record, a
   * commit, a mirror-write, a rollback. Undefined in a read-only store, which
   * cannot see another process's commits. Lets a caller keep what it derived
   * from the live view (the VFS's resolved paths) until then.
   */
  liveGeneration(): number | undefined {
    return this.headCache ? this.liveGen : undefined;
  }

  private dropHeadCache(): void {
    this.headCache?.clear();
    this.liveGen++;
  }

  onCommit(fn: (tid: Tid) => void): () => void {
    this.commitListeners.add(fn);
    return () => this.commitListeners.delete(fn);
  }

  /**
   * From now on commit() seals the flush group and hands it to a thread of
   * its own, which writes it while the event loop goes on serving (the
   * mount daemon). Without it (the CLI, tests) commit() writes inline.
   * `dropBulkParts` (default yes): a slave's bulk mirror parts leave the
   * page cache once written (store/drop-behind.ts).
   */
  startCommitThread(opts: { dropBulkParts?: boolean } = {}): void {
    if (this.readOnly || this.commitThread || this.closed) return;
    this.commitThread = new CommitThread(this.dir, this.env.advice.depthBuffer, (r) => this.onThreadReply(r), () => this.onThreadDeath(),
      opts.dropBulkParts ?? true);
  }

  /**
   * Commits the flush group under one new TID, as one LMDB transaction: each
   * staged key gets its live version stamped with delete_tid = TID and, unless
   * it is a delete, a new version with create_tid = TID. Returns null when
   * there was nothing to commit. Visible at once (through the live view while
   * the commit thread writes it); durable, and in a master's mirror stream,
   * after flushed().
   */
  commit(): CommitResult | null {
    this.rewriteFailed();
    if (this.group.isEmpty) return null;
    if (this.commitThread && this.inflight.length >= MAX_IN_FLIGHT) {
      this.commitThread.waitWhile(() => this.inflight.length >= MAX_IN_FLIGHT);
      this.rewriteFailed();
    }
    const thread = this.commitThread;
    const tid = nextTid(this.metaCache.lastTid);
    const job = this.buildJob(tid);
    if (!thread) {
      let written: number;
      try {
        written = writeCommitJob(this.env, job);
      } catch (e) {
        throw this.commitFailed(e);
      }
      this.metaCache = { ...this.metaCache, lastTid: tid };
      this.landed(tid, this.group.seal());
      return { tid, records: written };
    }
    this.metaCache = { ...this.metaCache, lastTid: tid };
    this.inflight.push({ job, group: this.group.seal(), failed: false });
    this.relayer();
    this.liveGen++;
    thread.post(job);
    return { tid, records: job.recs.length };
  }

  private buildJob(tid: Tid): CommitJob {
    const recs: CommitRecord[] = [];
    for (const rec of this.group.all()) {
      const r: CommitRecord = { lk: encodeLogicalKey(rec.lk), leaf: rec.payload === null ? null : encodeLeaf(0n, rec.payload) };
      if (rec.payload !== null && rec.lk.recType === RECTYPE.DATA) {
        r.data = rec.data ? rec.data.subarray(0, (rec.payload as { len: number }).len) : EMPTY_BLOCK;
      }
      recs.push(r);
    }
    return { tid, recs, nextObj: this.encodeNextObj(), meta: encodePayload({ ...this.metaCache, lastTid: tid }) };
  }

  /** A group's records are in LMDB: the head cache forgets them, their blocks go back to the pool. */
  private landed(tid: Tid, group: FlushGroup): void {
    if (this.headCache) for (const rec of group.all()) this.headCache.invalidate(rec.lk);
    // LMDB has its own copy now; nothing else holds a staged block past the commit.
    if (this.recycleBlock) for (const rec of group.all()) if (rec.pooled && rec.data) this.recycleBlock(rec.data);
    if (tid > this.landedTid) this.landedTid = tid;
    this.landedBytes += group.dataBytes;
    this.liveGen++;
    for (const fn of this.commitListeners) fn(tid);
  }

  private onThreadReply(r: ThreadReply): void {
    if (isMirrorReply(r)) this.onMirrorReply(r);
    else this.onCommitReply(r);
  }

  private onCommitReply(r: CommitReply): void {
    const f = this.inflight[0];
    if (!f || f.job.tid > r.tid) return;
    if (r.written === undefined) {
      // Failed, or skipped after a failure: it stays visible, and commit() or flushed() writes it inline.
      for (const x of this.inflight) if (x.job.tid === r.tid) x.failed = true;
    } else {
      this.landOldest();
    }
    const w = this.flushWaiters;
    this.flushWaiters = [];
    for (const fn of w) fn();
  }

  /**
   * After the commit thread failed a job: waits for its answers to the rest
   * (skipped), then writes them all inline, in TID order. Throws as an
   * inline commit would; what is not written stays in flight for the next try.
   */
  private rewriteFailed(): void {
    const thread = this.commitThread;
    if (!thread) return;
    if (!thread.alive) {
      // It will answer nothing more: what it had is written inline, and so is everything after.
      log.error(`h2fs: the commit thread died (${thread.failure?.message ?? 'unknown'}); committing inline from now on`);
      this.commitThread = undefined;
      for (const f of this.inflight) f.failed = true;
    } else if (!this.inflight.some((f) => f.failed)) {
      return;
    } else {
      thread.drain();
    }
    while (this.inflight.length > 0) {
      const f = this.inflight[0]!;
      try {
        writeCommitJob(this.env, f.job);
      } catch (e) {
        throw this.commitFailed(e);
      }
      this.landOldest();
    }
    if (this.commitThread) thread.reset();
  }

  /**
   * The commit thread died: its mirror parts fail (their sessions resume
   * later), and flushed() callers wake to write the flush groups inline.
   */
  private onThreadDeath(): void {
    const why = this.commitThread?.failure?.message ?? 'unknown';
    for (const [id, w] of this.mirrorWaiters) {
      this.mirrorWaiters.delete(id);
      w.reject(H2Error.store(`mirror-write: the commit thread died (${why})`));
    }
    const fw = this.flushWaiters;
    this.flushWaiters = [];
    for (const fn of fw) fn();
  }

  /** The oldest in-flight group is in LMDB: its overlay goes. */
  private landOldest(): void {
    const f = this.inflight.shift()!;
    // lmdb-js renews the event loop's read snapshot once per turn; this
    // turn's reads must see what landed before its overlay goes.
    this.env.root.resetReadTxn();
    this.relayer();
    this.landed(f.job.tid, f.group);
  }

  /** Lands every in-flight group: before the event loop writes LMDB itself, or reads it as the truth. */
  private settle(): void {
    this.commitThread?.drain();
    this.rewriteFailed();
  }

  private relayer(): void {
    let h = this.liveHead;
    for (const f of this.inflight) h = new LiveView(h, f.group);
    this.layeredHead = h;
  }

  private commitFailed(e: unknown): H2Error {
    this.dropHeadCache();
    if (this.diskNearlyFull()) return new H2Error('ENOSPC', `commit failed, store disk is full: ${(e as Error).message}`, { cause: e });
    return H2Error.store(`commit of TID failed: ${(e as Error).message}`, e);
  }

  private diskNearlyFull(): boolean {
    try {
      const s = fs.statfsSync(this.dir);
      return s.bavail * s.bsize < this.group.dataBytes + 16 * 1024 * 1024;
    } catch {
      return false;
    }
  }

  /**
   * Moves the TID allocator to at least `tid` (records received from another
   * store carry its TIDs; ours must sort after them).
   */
  raiseLastTid(tid: Tid): void {
    if (tid <= this.metaCache.lastTid) return;
    this.settle();
    const next = { ...this.metaCache, lastTid: tid };
    this.env.root.transactionSync(() => {
      this.env.meta.putSync(META_STORE, encodePayload({ ...next }));
    }, NO_SYNC_FLUSH);
    this.metaCache = next;
    this.landedTid = tid;
    this.liveGen++; // which @@ TIDs exist changed
  }

  /** Resolves once every commit so far is on disk (fsync); rejects as a failed commit would. */
  async flushed(): Promise<void> {
    while (this.inflight.length > 0) {
      if (this.inflight.some((f) => f.failed) || !this.commitThread?.alive) {
        this.rewriteFailed();
        break;
      }
      await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    }
    await this.env.root.flushed;
  }

  info(): StoreInfo {
    let bytes = 0;
    try {
      bytes = fs.statSync(this.env.dataFile).size;
    } catch {
      bytes = 0;
    }
    let firstTid = TID_ZERO;
    for (const { key } of this.env.tidindex.getRange({ limit: 1 })) firstTid = key.readBigUInt64BE(0);
    return {
      path: this.dir, uuid: this.metaCache.uuid, label: this.metaCache.label, bytes,
      records: this.env.records.getCount(), firstTid, lastTid: this.metaCache.lastTid,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let failed: unknown;
    if (this.commitThread) {
      try {
        this.settle();
      } catch (e) {
        failed = e;
      }
      await this.commitThread.close();
      this.commitThread = undefined;
    }
    await this.env.root.close();
    if (failed !== undefined) throw failed;
  }
}

function prefixUpper(prefix: Buffer): Buffer {
  return Buffer.concat([prefix, Buffer.alloc(REC_KEY_LEN - prefix.length + 1, 0xff)]);
}


function copyOut(data: Buffer, dst: Buffer, dstOff: number, srcOff: number, n: number): number {
  const avail = Math.max(0, Math.min(n, data.length - srcOff));
  // set(subarray), not Buffer.copy: lmdb-js's reusable buffer reports the
  // value's length but spans 16 MiB, and Buffer.copy throws on it.
  if (avail > 0) dst.set(data.subarray(srcOff, srcOff + avail), dstOff);
  return avail;
}

function u64(n: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(n & U64_MAX, 0);
  return b;
}

/** TID index entries with begTid < tid <= endTid, resuming after `cursor` (the last key seen). */
function tidIndexRange(begTid: Tid, endTid: Tid, cursor: Buffer | null, limit: number):
  { start: Buffer; end: Buffer; exclusiveStart: boolean; limit: number } {
  return {
    start: cursor ?? u64(begTid + 1n),
    end: Buffer.concat([u64(endTid), Buffer.alloc(1 + REC_KEY_LEN, 0xff)]),
    exclusiveStart: cursor !== null,
    limit,
  };
}

class CommittedView implements RecordView {
  constructor(private readonly env: LmdbEnv, readonly asOf: Tid) {}

  private visible(lk: LogicalKey): { key: Buffer; value: Buffer } | undefined {
    const lkBuf = encodeLogicalKey(lk);
    const v = latestVersion(this.env, lkBuf, this.asOf);
    if (!v) return undefined;
    const createTid = v.key.readBigUInt64BE(LOGICAL_KEY_LEN);
    return visibleAt(createTid, leafDeleteTid(v.value), this.asOf) ? v : undefined;
  }

  get<P extends Payload>(lk: LogicalKey): P | undefined {
    const v = this.visible(lk);
    return v ? decodeLeaf<P>(v.value).payload : undefined;
  }

  getData(lk: LogicalKey): Buffer | undefined {
    const v = this.visible(lk);
    if (!v) return undefined;
    return this.env.data.get(v.key) ?? Buffer.alloc(0);
  }

  copyData(lk: LogicalKey, dst: Buffer, dstOff: number, srcOff: number, n: number): number {
    const v = this.visible(lk);
    if (!v) return 0;
    // LMDB's own buffer, valid until the next read: copied out at once.
    const data = this.env.data.getBinaryFast(v.key);
    return data ? copyOut(data, dst, dstOff, srcOff, n) : 0;
  }

  scan<P extends Payload>(pfs: number, objId: number, recType: RecType, from = 0n, to = U64_MAX):
    Array<{ key: bigint; payload: P }> {
    const prefix = objPrefix(pfs, objId, recType);
    const start = Buffer.concat([prefix, u64(from)]);
    const end = Buffer.concat([prefix, u64(to), MAX_CREATE_TID]);
    const out: Array<{ key: bigint; payload: P }> = [];
    forEachVisible(this.env, start, end, this.asOf, (_recType, key, value) => {
      out.push({ key, payload: decodeLeaf<P>(value).payload });
    });
    return out;
  }

  ownedKeys(pfs: number, objId: number): LogicalKey[] {
    // DIRENTRY..XATTR are adjacent in key order (see keys.ts): everything but the inode and PFS headers.
    const start = objPrefix(pfs, objId, RECTYPE.DIRENTRY);
    const end = Buffer.concat([objPrefix(pfs, objId, RECTYPE.XATTR), Buffer.alloc(REC_KEY_LEN - 11, 0xff)]);
    const out: LogicalKey[] = [];
    forEachVisible(this.env, start, end, this.asOf, (recType, key) => {
      out.push({ pfs, objId, recType, key });
    });
    return out;
  }
}

/**
 * Calls `emit(recType, key, leaf)` for each logical key of one object in
 * [start, end] with a version visible at `asOf`. Versions of one logical key
 * are adjacent and ascend by create_tid: keep the last one created at or
 * before asOf, then test its delete_tid.
 */
function forEachVisible(env: LmdbEnv, start: Buffer, end: Buffer, asOf: Tid,
  emit: (recType: RecType, key: bigint, value: Buffer) => void): void {
  let curType = -1;
  let curKey = 0n;
  let best: { createTid: Tid; value: Buffer } | undefined;
  const flush = (): void => {
    if (best && visibleAt(best.createTid, leafDeleteTid(best.value), asOf)) emit(curType as RecType, curKey, best.value);
  };
  for (const { key, value } of env.records.getRange({ start, end, inclusiveEnd: true })) {
    const recType = key[10]!;
    const k = key.readBigUInt64BE(11);
    if (recType !== curType || k !== curKey) {
      flush();
      curType = recType;
      curKey = k;
      best = undefined;
    }
    const createTid = key.readBigUInt64BE(LOGICAL_KEY_LEN);
    if (createTid <= asOf) best = { createTid, value };
  }
  flush();
}

/** The committed head through a HeadCache. */
class CachedHeadView implements RecordView {
  readonly asOf = TID_MAX;

  constructor(private readonly head: CommittedView, private readonly cache: HeadCache) {}

  get<P extends Payload>(lk: LogicalKey): P | undefined {
    const k = HeadCache.keyOf(lk);
    const hit = this.cache.get(k);
    if (hit !== undefined) return (hit ?? undefined) as P | undefined;
    const v = this.head.get<P>(lk);
    this.cache.setGet(k, v ?? null);
    return v;
  }

  getData(lk: LogicalKey): Buffer | undefined {
    return this.head.getData(lk);
  }

  copyData(lk: LogicalKey, dst: Buffer, dstOff: number, srcOff: number, n: number): number {
    return this.head.copyData(lk, dst, dstOff, srcOff, n);
  }

  scan<P extends Payload>(pfs: number, objId: number, recType: RecType, from = 0n, to = U64_MAX):
    Array<{ key: bigint; payload: P }> {
    const hit = this.cache.scan(pfs, objId, recType, from, to);
    if (hit) return hit.slice() as Array<{ key: bigint; payload: P }>;
    const r = this.head.scan<P>(pfs, objId, recType, from, to);
    this.cache.setScan(pfs, objId, recType, from, to, r);
    return r;
  }

  ownedKeys(pfs: number, objId: number): LogicalKey[] {
    return this.head.ownedKeys(pfs, objId);
  }
}

class LiveView implements RecordView {
  readonly asOf = TID_MAX;

  constructor(private readonly head: RecordView, private readonly group: FlushGroup) {}

  get<P extends Payload>(lk: LogicalKey): P | undefined {
    const s = this.group.get(lk);
    if (s) return (s.payload ?? undefined) as P | undefined;
    return this.head.get<P>(lk);
  }

  getData(lk: LogicalKey): Buffer | undefined {
    const s = this.group.get(lk);
    if (s) {
      if (s.payload === null) return undefined;
      const len = (s.payload as { len: number }).len;
      return (s.data ?? Buffer.alloc(0)).subarray(0, len);
    }
    return this.head.getData(lk);
  }

  copyData(lk: LogicalKey, dst: Buffer, dstOff: number, srcOff: number, n: number): number {
    const s = this.group.get(lk);
    if (!s) return this.head.copyData(lk, dst, dstOff, srcOff, n);
    if (s.payload === null || !s.data) return 0;
    return copyOut(s.data.subarray(0, (s.payload as { len: number }).len), dst, dstOff, srcOff, n);
  }

  scan<P extends Payload>(pfs: number, objId: number, recType: RecType, from = 0n, to = U64_MAX):
    Array<{ key: bigint; payload: P }> {
    const base = this.head.scan<P>(pfs, objId, recType, from, to);
    if (!this.group.hasObject(pfs, objId)) return base;
    const staged = this.group.inRange(pfs, objId, recType, from, to);
    if (staged.length === 0) return base;
    const merged = new Map<bigint, P>();
    for (const r of base) merged.set(r.key, r.payload);
    for (const s of staged) {
      if (s.payload === null) merged.delete(s.lk.key);
      else merged.set(s.lk.key, s.payload as P);
    }
    return [...merged.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([key, payload]) => ({ key, payload }));
  }

  ownedKeys(pfs: number, objId: number): LogicalKey[] {
    const base = this.head.ownedKeys(pfs, objId);
    if (!this.group.hasObject(pfs, objId)) return base;
    const keys = new Map<string, LogicalKey>();
    for (const lk of base) keys.set(`${lk.recType}:${lk.key}`, lk);
    for (const s of this.group.ofObject(pfs, objId)) {
      if (s.lk.recType === RECTYPE.INODE) continue;
      if (s.payload === null) keys.delete(`${s.lk.recType}:${s.lk.key}`);
      else keys.set(`${s.lk.recType}:${s.lk.key}`, s.lk);
    }
    return [...keys.values()];
  }
}
