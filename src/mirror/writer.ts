/**
 * The target side of a mirror stream. It checks who the source is, tells it
 * where the slave stands (two-way), then applies each TID whole: a TID's
 * records are held until its SYNC and written with the new sync-end-tid in
 * one LMDB transaction (several whole TIDs share one when they arrive
 * together), and acknowledged once durable. The transactions run on the
 * store's commit thread when it has one, while the next part arrives.
 * Everything about the stream is validated; on any fault the whole TIDs
 * received are kept, nothing past them is applied, and the slave stays at
 * a TID of the master.
 */
import { H2Error } from '../errors.js';
import * as log from '../log.js';
import { formatTid, type Tid } from '../tid.js';
import type { MirrorOp, Payload, PfsHeader, Store } from '../store/index.js';
import { RECTYPE } from '../store/keys.js';
import { FrameChannel, peerError } from './channel.js';
import { MREC, STREAM_VERSION, type Frame, type HelloMsg, type PatchMsg } from './frame.js';
import { MAX_DATA_LEN, validateKey, validateRecord } from './validate.js';

/** Finds (or, when allowed, creates) the slave PFS a stream is for. */
export type TargetResolver = (hello: HelloMsg) => Promise<{ pfs: number; created: boolean }>;

export interface WriterProgress {
  syncEndTid: Tid;
  records: number;
  bytes: number;
}

export interface WriterOptions {
  store: Store;
  resolveTarget: TargetResolver;
  channel: FrameChannel;
  twoWay: boolean;
  /** A TID whose records exceed this is applied in parts (still invisible until its SYNC). */
  maxBufferBytes?: number;
  onProgress?: (p: WriterProgress) => void;
  /**
   * Called with the PFS once known (it may wait for another session on that
   * PFS to stop, or refuse by throwing), and with null when done.
   */
  onTarget?: (pfs: number | null) => void | Promise<void>;
}

export interface WriterResult {
  pfs: number;
  begSyncEndTid: Tid;
  syncEndTid: Tid;
  records: number;
  created: boolean;
}

/**
 * How much of a TID the writer holds before writing it in a part. When
 * parts were written on the event loop the link stalled while each one was
 * (the SSH window and socket buffers upstream hold only a few MiB): at
 * 64 MiB a bulk copy over SSH stalled for a few hundred ms at a time and
 * ran some 12% slower than at 8 MiB. On the commit thread, 32 MiB parts
 * were no faster than 8 MiB ones (bulk-cpu.sh: 246-265 against 253-276 MB/s).
 */
const APPLY_PART_BYTES = 8 * 1024 * 1024;

/** Parts handed to the store and not yet in LMDB: one written while the next fills. */
const MAX_PARTS_IN_FLIGHT = 2;

/**
 * How many new records of a batch have the B-tree leaves they will go into
 * read ahead: enough for any incremental round (whose records land all over
 * a large store), and no worker round trip per record in a bulk copy (whose
 * records land at the end of the tree, in pages just written). A batch that
 * starts where a new slave does (TID 1: a first copy) has no old leaves to
 * read.
 */
const PREFETCH_NEW_PER_BATCH = 4096;

/** The longest a whole TID is held back for the rest of its batch. */
const BURST_WAIT_MS = 20;

/** Whether `p` is still unsettled after `ms` (a rejection counts as settled). */
function quietFor(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    const settled = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    p.then(settled, settled);
  });
}

type CreateOp = Extract<MirrorOp, { kind: 'create' }>;

function protocol(msg: string): H2Error {
  return new H2Error('H2_PROTOCOL', msg);
}

export class MirrorWriter {
  private pending: MirrorOp[] = [];
  private pendingBytes = 0;
  /**
   * PATCHes of the TID being received, rebuilt at its SYNC: their bases are
   * read on worker threads meanwhile, all at once, instead of one after the
   * other as each frame arrives.
   */
  private patches: Array<{ op: CreateOp; msg: PatchMsg; bytes: Buffer; len: number; base: Promise<void> }> = [];
  /**
   * The last whole TID received but not yet written: while more frames are
   * already waiting, or more TIDs of the batch are coming, several TIDs go
   * into one LMDB transaction (one flush instead of one per TID).
   * `deferredOps` of `pending` belong to it.
   */
  private deferred: Tid | undefined;
  private deferredOps = 0;
  private deferredBytes = 0;
  /** When the oldest TID in `deferred` became whole (performance.now()). */
  private deferredSince = 0;
  /** Where the slave stands once every part handed to the store has landed. */
  private syncEndTid: Tid = 0n;
  private pfs = 0;
  /** This session's parts: after one fails, the store writes none of the rest. */
  private chain = 0;
  /** Parts not yet landed (each settles without rejecting; a failure is kept in `fault`). */
  private readonly landing = new Set<Promise<void>>();
  private fault: { error: unknown } | undefined;
  private ackTarget: Tid = 0n;
  private acking = false;
  private records = 0;

  constructor(private readonly o: WriterOptions) {}

  async run(): Promise<WriterResult> {
    const { channel } = this.o;
    try {
      return await this.apply();
    } catch (e) {
      // Whole TIDs that arrived before the fault are kept, as if written at once.
      try {
        this.writeDeferred();
        await this.landed(0);
      } catch {
        // The fault stands; the slave stays at its last written TID.
      }
      if (this.o.twoWay) await channel.sendError(e);
      throw e;
    } finally {
      await this.o.onTarget?.(null);
    }
  }

  private async apply(): Promise<WriterResult> {
    const { store, channel } = this.o;
    const first = await channel.next();
    if (first === null) throw protocol('empty stream (no HELLO)');
    if (first.type === MREC.ERROR) throw peerError(first);
    if (first.type !== MREC.HELLO) throw protocol(`stream must start with HELLO, got frame type ${first.type}`);
    const hello = first.msg;
    if (hello.version !== STREAM_VERSION) {
      throw new H2Error('H2_VERSION', `version mismatch: the stream is v${hello.version}, this h2fs reads v${STREAM_VERSION}`);
    }
    const { pfs, created } = await this.o.resolveTarget(hello);
    await this.o.onTarget?.(pfs);
    const h: PfsHeader | undefined = store.getPfs(pfs);
    if (!h) throw new H2Error('ENOENT', `PFS #${pfs} does not exist`);
    if (h.mode !== 'slave') throw new H2Error('H2_NOT_SLAVE', 'target must be in slave mode');
    if (h.sharedUuid !== hello.sharedUuid) {
      throw new H2Error('H2_SHARED_UUID_MISMATCH', "source and target have different shared-uuid's",
        { hint: `the source's shared-uuid is ${hello.sharedUuid}` });
    }
    const begSyncEndTid = store.syncEndTid(pfs);
    this.pfs = pfs;
    this.chain = store.newMirrorChain();
    this.syncEndTid = begSyncEndTid;
    if (this.o.twoWay) {
      await channel.send({ type: MREC.TARGET, msg: { v: 1, version: STREAM_VERSION, sharedUuid: h.sharedUuid,
        uniqueUuid: h.uniqueUuid, syncEndTid: begSyncEndTid, created, patch: true } });
    }

    let batch: { beg: Tid; end: Tid } | undefined;
    let prevEnd: Tid | undefined;
    let lastEvent: Tid = 0n;
    let lastSync: Tid = 0n;
    let tidCount = 0;
    let prefetchLeft = 0;
    const maxBuffer = this.o.maxBufferBytes ?? APPLY_PART_BYTES;

    for (;;) {
      const idle = this.deferred !== undefined && channel.buffered === 0;
      const next = channel.next();
      // Observed below; a part's failure may throw first.
      next.catch(() => undefined);
      if (idle) {
        // Nothing more to hand: write what is whole before waiting for the
        // link, unless more TIDs of this batch are on their way and the
        // oldest held one became whole less than BURST_WAIT_MS ago. A burst
        // of TIDs (a round's few commits) is then one transaction and one
        // fdatasync, not one each, 10 ms apart; a batch's last TID (a
        // stream's commit) is written at once, and no TID waits longer.
        const left = batch && this.deferred! < batch.end ? BURST_WAIT_MS - (performance.now() - this.deferredSince) : 0;
        if (left <= 0 || await quietFor(next, left)) {
          this.writeDeferred();
          await this.landed();
        }
      }
      const f: Frame | null = await next;
      if (f === null) {
        this.writeDeferred();
        await this.landed(0);
        throw this.o.twoWay
          ? new H2Error('H2_TRANSPORT', `the source closed the link; the slave stays at ${formatTid(this.syncEndTid)}`)
          : protocol(`stream ended before its TERM (truncated?); the slave stays at ${formatTid(this.syncEndTid)}`);
      }
      switch (f.type) {
        case MREC.BATCH: {
          const { begTid, endTid } = f.msg;
          if (batch && lastSync !== batch.end) throw protocol('BATCH before the previous batch was synced');
          if (endTid < begTid) throw protocol(`batch ends (${formatTid(endTid)}) before it begins (${formatTid(begTid)})`);
          if (prevEnd !== undefined && begTid !== prevEnd) throw protocol('batches are not contiguous');
          const at = this.deferred ?? this.syncEndTid;
          if (begTid > at) {
            throw protocol(`stream starts at ${formatTid(begTid)} but the slave is at ${formatTid(at)}: it would leave a gap`);
          }
          batch = { beg: begTid, end: endTid };
          prefetchLeft = begTid > 1n ? PREFETCH_NEW_PER_BATCH : 0;
          lastEvent = begTid;
          lastSync = begTid;
          break;
        }
        case MREC.REC:
        case MREC.PATCH:
        case MREC.DEL: {
          if (!batch) throw protocol('record outside a batch');
          const t = f.type === MREC.DEL ? f.msg.deleteTid : f.msg.createTid;
          if (t <= batch.beg || t > batch.end) throw protocol(`record at ${formatTid(t)} outside its batch`);
          if (t < lastEvent) throw protocol(`records out of TID order (${formatTid(t)} after ${formatTid(lastEvent)})`);
          if (t <= lastSync) throw protocol(`record at ${formatTid(t)} after that TID was synced`);
          lastEvent = t;
          tidCount++;
          if (t <= this.syncEndTid) break; // already whole on this slave
          if (f.type === MREC.PATCH) {
            const len = this.checkPatch(f.msg, f.data, batch.beg);
            // Rebuilt at the TID's SYNC; until then a placeholder keeps its place.
            const op: CreateOp = { kind: 'create', objId: f.msg.objId, recType: RECTYPE.DATA, key: f.msg.key,
              createTid: f.msg.createTid, payload: f.msg.payload as Payload };
            this.pending.push(op);
            this.patches.push({ op, msg: f.msg, bytes: f.data, len,
              base: store.prefetchRecord(pfs, f.msg.objId, RECTYPE.DATA, f.msg.key, f.msg.baseTid, true) });
            this.pendingBytes += len + 256;
          } else if (f.type === MREC.REC) {
            const v = validateRecord(f.msg.objId, f.msg.recType, f.msg.key, f.msg.payload, f.data);
            this.pending.push({ kind: 'create', objId: f.msg.objId, recType: v.recType, key: f.msg.key,
              createTid: f.msg.createTid, payload: v.payload, ...(f.data.length ? { data: f.data } : {}) });
            this.pendingBytes += f.data.length + 256;
            // A new version goes next to its older ones, in a leaf of a part of the store not read
            // for a while: a lookup of the key that is not there yet reads that leaf (and, with data,
            // the data tree's) ahead of the transaction.
            if (prefetchLeft > 0) {
              prefetchLeft--;
              void store.prefetchRecord(pfs, f.msg.objId, v.recType, f.msg.key, f.msg.createTid, f.data.length > 0);
            }
          } else {
            if (f.msg.deleteTid <= f.msg.createTid) throw protocol('a record deleted before it was created');
            const recType = validateKey(f.msg.objId, f.msg.recType, f.msg.key);
            this.pending.push({ kind: 'delete', objId: f.msg.objId, recType,
              key: f.msg.key, createTid: f.msg.createTid, deleteTid: f.msg.deleteTid });
            this.pendingBytes += 128;
            // A record from before this batch has its leaf somewhere in an old part of the store:
            // read it now, not in the transaction. (One created in the batch was just written.)
            if (f.msg.createTid <= batch.beg) void store.prefetchRecord(pfs, f.msg.objId, recType, f.msg.key, f.msg.createTid, false);
          }
          this.records++;
          if (this.pendingBytes > maxBuffer) {
            // A huge TID: write what we have now; it stays invisible (and is
            // rolled back by pfs-upgrade) until its SYNC moves sync-end-tid.
            this.writeDeferred();
            await this.rebuildPatches();
            this.post(this.pending);
            this.pending = [];
            this.pendingBytes = 0;
            await this.landed();
          }
          break;
        }
        case MREC.SYNC: {
          if (!batch) throw protocol('SYNC outside a batch');
          const t = f.msg.tid;
          if (t <= lastSync || t < lastEvent || t <= batch.beg || t > batch.end) {
            throw protocol(`SYNC at ${formatTid(t)} out of order`);
          }
          if (f.msg.count !== tidCount) {
            throw protocol(`SYNC at ${formatTid(t)} counts ${f.msg.count} records but ${tidCount} arrived (lost, duplicated or reordered frames)`);
          }
          tidCount = 0;
          lastSync = t;
          if (this.patches.length) {
            await Promise.all(this.patches.map((p) => p.base));
            await this.rebuildPatches();
          }
          if (t > this.syncEndTid) {
            if (this.deferred === undefined) this.deferredSince = performance.now();
            this.deferred = t;
            this.deferredOps = this.pending.length;
            this.deferredBytes = this.pendingBytes;
            if (this.pendingBytes > maxBuffer / 4) {
              this.writeDeferred();
              await this.landed();
            }
          } else if (this.pending.length) {
            throw protocol('records for TIDs the slave already has');
          }
          if (t === batch.end) prevEnd = t;
          break;
        }
        case MREC.TERM: {
          const reached = batch ? lastSync : this.syncEndTid;
          if (this.pending.length > this.deferredOps) throw protocol('TERM with records not yet synced');
          if (f.msg.endTid !== reached) throw protocol(`TERM at ${formatTid(f.msg.endTid)} but the stream reached ${formatTid(reached)}`);
          this.writeDeferred();
          await this.landed(0);
          await store.flushed();
          if (this.o.twoWay) await channel.send({ type: MREC.ACK, msg: { v: 1, tid: this.syncEndTid } });
          log.debug(`Mirror-write: Completed, updated snapshot to ${formatTid(this.syncEndTid)}`);
          return { pfs, begSyncEndTid, syncEndTid: this.syncEndTid, records: this.records, created };
        }
        case MREC.ERROR:
          throw peerError(f);
        default:
          throw protocol(`unexpected frame type ${f.type} from the source`);
      }
    }
  }

  /** A PATCH's own consistency, before its base is read; returns the block's new length. */
  private checkPatch(m: PatchMsg, bytes: Buffer, batchBeg: Tid): number {
    if (m.recType !== RECTYPE.DATA) throw protocol('PATCH of a record that is not a data block');
    if (m.baseTid > batchBeg || m.baseTid >= m.createTid) {
      throw protocol(`PATCH against ${formatTid(m.baseTid)}, after the batch's start ${formatTid(batchBeg)}`);
    }
    const p = m.payload as { len?: unknown } | null;
    const len = typeof p === 'object' && p !== null && typeof p.len === 'number' ? p.len : -1;
    if (!Number.isSafeInteger(len) || len < 0 || len > MAX_DATA_LEN) throw protocol('PATCH without a valid block length');
    if (m.off + bytes.length > len) throw protocol(`PATCH bytes ${m.off}+${bytes.length} run past the block's ${len} bytes`);
    return len;
  }

  /** Fills in every PATCH placeholder of the current TID with its rebuilt, validated block. */
  private async rebuildPatches(): Promise<void> {
    for (const { op, msg, bytes, len } of this.patches.splice(0)) {
      const data = await this.unpatch(msg, bytes, len);
      const v = validateRecord(msg.objId, msg.recType, msg.key, msg.payload, data);
      op.recType = v.recType;
      op.payload = v.payload;
      if (data.length) op.data = data;
    }
  }

  /**
   * The block a PATCH stands for: the slave's own version created at
   * baseTid (which must be at or before the batch's start, so it is whole
   * here, written or held back), cut or zero-extended to the new length,
   * with the patch bytes written over it.
   */
  private async unpatch(m: PatchMsg, bytes: Buffer, len: number): Promise<Buffer> {
    let base = this.o.store.dataVersion(this.pfs, m.objId, m.key, m.baseTid);
    if (!base && (this.deferred !== undefined || this.landing.size > 0)) {
      // The base is whole on this slave, but may still be in the TIDs held
      // back to be written in one transaction, or being written: write
      // them, wait for them to land, then look again.
      this.writeDeferred();
      await this.landed(0);
      base = this.o.store.dataVersion(this.pfs, m.objId, m.key, m.baseTid);
    }
    if (!base) {
      throw protocol(`PATCH against a version the slave does not have (obj ${m.objId}, block ${m.key}, created ${formatTid(m.baseTid)})`);
    }
    const block = Buffer.alloc(len);
    base.copy(block, 0, 0, Math.min(len, base.length));
    bytes.copy(block, m.off);
    return block;
  }

  /** Hands the whole TIDs held back to the store, with the new sync-end-tid, as one transaction. */
  private writeDeferred(): void {
    const t = this.deferred;
    if (t === undefined) return;
    const ops = this.pending.splice(0, this.deferredOps);
    this.pendingBytes -= this.deferredBytes;
    this.deferred = undefined;
    this.deferredOps = 0;
    this.deferredBytes = 0;
    this.post(ops, t);
    this.syncEndTid = t;
  }

  /** Hands a part to the store; once it lands, a part that ends a TID is acknowledged. */
  private post(ops: MirrorOp[], syncTid?: Tid): void {
    const p: Promise<void> = this.o.store.applyMirror(this.pfs, ops, syncTid, this.chain).then(() => {
      if (syncTid === undefined) return;
      this.ack(syncTid);
      this.o.onProgress?.({ syncEndTid: syncTid, records: this.records, bytes: this.o.channel.bytesIn });
    }, (e: unknown) => {
      this.fault ??= { error: e };
    }).finally(() => this.landing.delete(p));
    this.landing.add(p);
  }

  /** Waits until at most `max` parts are unlanded; throws the first part's failure. */
  private async landed(max = MAX_PARTS_IN_FLIGHT - 1): Promise<void> {
    while (this.landing.size > max && !this.fault) await Promise.race(this.landing);
    if (this.fault) throw this.fault.error;
  }

  /** Acknowledges `tid` once it is on disk; acks coalesce while a flush is pending. */
  private ack(tid: Tid): void {
    if (!this.o.twoWay) return;
    this.ackTarget = tid;
    if (this.acking) return;
    this.acking = true;
    void (async () => {
      try {
        let sent: Tid = 0n;
        while (sent < this.ackTarget) {
          const t = this.ackTarget;
          await this.o.store.flushed();
          await this.o.channel.send({ type: MREC.ACK, msg: { v: 1, tid: t } });
          sent = t;
        }
      } catch {
        // The link is gone; the source resumes from our sync-end-tid.
      } finally {
        this.acking = false;
      }
    })();
  }
}
