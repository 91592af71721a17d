/**
 * The source side of a mirror stream. It says who it is (HELLO), learns
 * where the slave stands (TARGET, two-way), then sends batches (beg, end]:
 * every record created or deleted in that range, in TID order, with a SYNC
 * after each TID. Reads the TID index in chunks and yields between them so a
 * mount daemon keeps serving FUSE while it mirrors.
 */
import { setImmediate as yieldNow } from 'node:timers/promises';
import { H2Error } from '../errors.js';
import * as log from '../log.js';
import { formatTid, type Tid } from '../tid.js';
import type { MirrorEvent, Store } from '../store/index.js';
import { RECTYPE } from '../store/keys.js';
import { FrameChannel, peerError } from './channel.js';
import { MREC, STREAM_VERSION, type Frame } from './frame.js';

export interface ReaderProgress {
  state: 'running' | 'waiting';
  begTid: Tid;
  endTid: Tid;
  sentTid: Tid;
  ackedTid: Tid;
  records: number;
  bytes: number;
}

export interface ReaderOptions {
  store: Store;
  pfs: number;
  channel: FrameChannel;
  /** Two-way: the target answers with TARGET and ACKs. */
  twoWay: boolean;
  /** Start after this TID, whatever the target says (HAMMER's begin-tid). */
  begTid?: Tid;
  /** Keep mirroring new commits until stopped (mirror-read-stream). */
  stream?: boolean;
  /** Not a stream: end at this TID rather than where the PFS stands when the batch starts. */
  endTid?: Tid;
  /** Two-way: the HELLO went out from another reader, that mirror-copy then did not pick (see standby). */
  helloSent?: boolean;
  /**
   * The link may end before any TARGET: mirror-copy, having seen where the
   * target stands, picked another reader (cli/local-source.ts). Not an error.
   */
  standby?: boolean;
  /** Resolves when the PFS may have moved past `tid` (stream mode). */
  waitForChange?: (tid: Tid, signal: AbortSignal) => Promise<void>;
  /** Stops the stream at the next TID boundary. */
  signal?: AbortSignal;
  onProgress?: (p: ReaderProgress) => void;
  /** TID index entries per read transaction. */
  chunk?: number;
}

export interface ReaderResult {
  begTid: Tid;
  endTid: Tid;
  ackedTid: Tid;
  records: number;
}

const EMPTY = Buffer.alloc(0);

function expectFrame(f: Frame | null, type: number, what: string): Frame {
  if (f === null) throw new H2Error('H2_TRANSPORT', `the target closed the link before sending its ${what}`);
  if (f.type === MREC.ERROR) throw peerError(f);
  if (f.type !== type) throw new H2Error('H2_PROTOCOL', `expected ${what} from the target, got frame type ${f.type}`);
  return f;
}

export class MirrorReader {
  private ackedTid: Tid = 0n;
  private peerFailure: H2Error | undefined;
  private ackWaiters: Array<() => void> = [];
  private records = 0;
  /** The two-way target takes PATCH frames (said so in its TARGET). */
  private targetPatches = false;
  /** Aborted when the target reports a failure, so a send blocked on backpressure wakes. */
  private readonly peerAbort = new AbortController();

  private send(f: Frame): Promise<void> {
    return this.o.channel.send(f, this.peerAbort.signal);
  }

  constructor(private readonly o: ReaderOptions) {}

  async run(): Promise<ReaderResult> {
    const { store, pfs, channel } = this.o;
    const h = store.getPfs(pfs);
    if (!h) throw new H2Error('ENOENT', `PFS #${pfs} does not exist`);
    const explicitBeg = this.o.begTid;
    const helloSent = this.o.twoWay && this.o.helloSent === true;
    if (!helloSent) {
      await channel.send({
        type: MREC.HELLO,
        msg: { v: 1, version: STREAM_VERSION, sharedUuid: h.sharedUuid, uniqueUuid: h.uniqueUuid, label: h.label,
          begTid: explicitBeg ?? 0n, twoWay: this.o.twoWay },
      });
    }
    let start: Tid = explicitBeg ?? 0n;
    if (this.o.twoWay) {
      const f = await channel.next();
      if (f === null && this.o.standby) return { begTid: start, endTid: start, ackedTid: 0n, records: 0 };
      const target = (expectFrame(f, MREC.TARGET, 'PFS header') as Frame & { type: typeof MREC.TARGET }).msg;
      if (target.version !== STREAM_VERSION) {
        throw new H2Error('H2_VERSION', `version mismatch: the target speaks stream v${target.version}, this h2fs v${STREAM_VERSION}`);
      }
      if (target.sharedUuid !== h.sharedUuid) {
        throw new H2Error('H2_SHARED_UUID_MISMATCH', "source and target have different shared-uuid's");
      }
      if (explicitBeg === undefined) start = target.syncEndTid;
      this.ackedTid = target.syncEndTid;
      this.targetPatches = target.patch === true;
      log.debug(`Mirror-read: target is at ${formatTid(target.syncEndTid)}${target.created ? ' (new slave)' : ''}`);
      void this.readAcks();
    }
    const firstBeg = start;
    for (;;) {
      this.checkPeer();
      const end = this.o.endTid ?? store.syncEndTid(pfs);
      if (end > start) start = await this.sendBatch(start, end);
      if (!this.o.stream || this.o.signal?.aborted) break;
      this.progress('waiting', start, start, start);
      await this.o.waitForChange?.(start, this.o.signal ?? new AbortController().signal);
      if (this.o.signal?.aborted) break;
    }
    await this.send({ type: MREC.TERM, msg: { v: 1, endTid: start } });
    if (this.o.twoWay) await this.waitAck(start);
    return { begTid: firstBeg, endTid: start, ackedTid: this.ackedTid, records: this.records };
  }

  /** estimateStreamBytes in chunks, yielding between them: FUSE keeps being served. */
  private async estimate(beg: Tid, end: Tid): Promise<number> {
    let bytes = 0;
    let cursor: Buffer | null = null;
    do {
      const r = this.o.store.estimateStreamBytes(this.o.pfs, beg, end, cursor, 4096);
      bytes += r.bytes;
      cursor = r.cursor;
      if (cursor) await yieldNow();
    } while (cursor);
    return bytes;
  }

  private checkPeer(): void {
    if (this.peerFailure) throw this.peerFailure;
  }

  /** Sends (beg, end]; returns the TID reached (end, or the last SYNC if stopped early). */
  private async sendBatch(beg: Tid, end: Tid): Promise<Tid> {
    const { store, pfs } = this.o;
    log.debug(`Mirror-read: Mirror ${formatTid(beg)} to ${formatTid(end)}`);
    // A slave's first batch is the bulk copy: a stream says how big it will
    // be (no prescan of data), for mirror-stream's status line, the only one
    // that shows it. The prescan reads every record's leaf: 90 ms of a
    // 2 s copy of 663 MB, before the first byte goes out.
    const bulk = beg <= 1n && this.o.stream === true;
    const estimate = bulk ? await this.estimate(beg, end) : undefined;
    await this.send({ type: MREC.BATCH, msg: { v: 1, begTid: beg, endTid: end, ...(estimate !== undefined ? { bytes: estimate } : {}) } });
    let cursor: Buffer | null = null;
    let curTid: Tid | undefined;
    let lastSync = beg;
    let count = 0;
    const chunk = this.o.chunk ?? 512;
    do {
      // One read transaction per chunk: the blocks sent come from the same
      // state as the index entries that named them.
      const txn = store.beginRead();
      try {
        const r = store.scanEvents(pfs, beg, end, cursor, chunk, txn);
        cursor = r.cursor;
        if (this.targetPatches && beg > 1n) {
          await store.prefetchBases(pfs, r.events.filter((ev) => ev.kind === 'create' && ev.recType === RECTYPE.DATA), beg);
        }
        for (const ev of r.events) {
          if (curTid !== undefined && ev.tid !== curTid) {
            await this.send({ type: MREC.SYNC, msg: { v: 1, tid: curTid, count } });
            count = 0;
            lastSync = curTid;
            this.progress('running', beg, end, curTid);
            // Stop at a TID boundary when asked to.
            if (this.o.signal?.aborted) return lastSync;
          }
          curTid = ev.tid;
          if (ev.kind === 'create') {
            const msg = { v: 1 as const, objId: ev.objId, recType: ev.recType, key: ev.key, createTid: ev.createTid, payload: ev.payload };
            // A view into the store's read buffer: send() packs it before anything else reads,
            // except a PATCH's base, so a block that may become one is copied first.
            let data = ev.recType === RECTYPE.DATA ? store.blockView(pfs, ev, txn) : EMPTY;
            const mayPatch = this.targetPatches && ev.recType === RECTYPE.DATA && beg > 1n && data.length >= 1024;
            if (mayPatch) data = Buffer.from(data);
            const patch = mayPatch ? this.patchFor(ev, data, beg) : undefined;
            await this.send(patch ? { type: MREC.PATCH, data: patch.bytes, msg: { ...msg, baseTid: patch.baseTid, off: patch.off } }
              : { type: MREC.REC, data, msg });
          } else {
            await this.send({ type: MREC.DEL,
              msg: { v: 1, objId: ev.objId, recType: ev.recType, key: ev.key, createTid: ev.createTid, deleteTid: ev.tid } });
          }
          this.records++;
          count++;
        }
      } finally {
        txn.done();
      }
      this.checkPeer();
      await yieldNow();
    } while (cursor !== null);
    // The last TID's SYNC, or an empty one moving the slave to `end`.
    if (curTid !== undefined && curTid !== end) {
      await this.send({ type: MREC.SYNC, msg: { v: 1, tid: curTid, count } });
      count = 0;
    }
    await this.send({ type: MREC.SYNC, msg: { v: 1, tid: end, count } });
    this.progress('running', beg, end, end);
    return end;
  }

  /**
   * A data block that replaces an older version the target already has
   * (created at or before the batch's start) goes as the byte range that
   * changed, when that saves at least a quarter of the block.
   */
  private patchFor(ev: MirrorEvent, data: Buffer, beg: Tid): { baseTid: Tid; off: number; bytes: Buffer } | undefined {
    // A slave's first batch (the bulk copy) has no base to patch against.
    if (data.length < 1024 || beg <= 1n) return undefined;
    const base = this.o.store.dataBefore(this.o.pfs, ev.objId, ev.key, ev.createTid, beg);
    if (!base) return undefined;
    const { off, len } = changedRange(base.data, data);
    if (len + 64 > (data.length * 3) / 4) return undefined;
    return { baseTid: base.createTid, off, bytes: data.subarray(off, off + len) };
  }

  private progress(state: ReaderProgress['state'], begTid: Tid, endTid: Tid, sentTid: Tid): void {
    this.o.onProgress?.({ state, begTid, endTid, sentTid, ackedTid: this.ackedTid, records: this.records,
      bytes: this.o.channel.bytesOut });
  }

  private async readAcks(): Promise<void> {
    try {
      for (;;) {
        const f = await this.o.channel.next();
        if (f === null) {
          this.peerFailure ??= new H2Error('H2_TRANSPORT', 'the target closed the link');
          break;
        }
        if (f.type === MREC.ACK) {
          if (f.msg.tid > this.ackedTid) this.ackedTid = f.msg.tid;
        } else if (f.type === MREC.ERROR) {
          this.peerFailure = peerError(f);
          break;
        } else {
          this.peerFailure = new H2Error('H2_PROTOCOL', `unexpected frame type ${f.type} from the target`);
          break;
        }
        this.wake();
      }
    } catch (e) {
      this.peerFailure ??= e instanceof H2Error ? e : new H2Error('H2_TRANSPORT', (e as Error).message);
    }
    this.wake();
  }

  private wake(): void {
    if (this.peerFailure && !this.peerAbort.signal.aborted) this.peerAbort.abort(this.peerFailure);
    const w = this.ackWaiters;
    this.ackWaiters = [];
    for (const fn of w) fn();
  }

  /** Waits until the target says `tid` is durable. */
  private async waitAck(tid: Tid): Promise<void> {
    while (this.ackedTid < tid) {
      if (this.peerFailure) {
        throw this.peerFailure.code === 'H2_TRANSPORT'
          ? new H2Error('H2_TRANSPORT', `did not get the final acknowledgement from the target (${this.peerFailure.message})`)
          : this.peerFailure;
      }
      await new Promise<void>((resolve) => this.ackWaiters.push(resolve));
    }
  }

  get acked(): Tid {
    return this.ackedTid;
  }
}

/**
 * The smallest range [off, off + len) outside which `next` equals `base`
 * cut or zero-extended to next's length (len 0: nothing changed).
 */
export function changedRange(base: Buffer, next: Buffer): { off: number; len: number } {
  const n = next.length;
  const ref = base.length >= n ? base.subarray(0, n) : Buffer.concat([base, Buffer.alloc(n - base.length)]);
  const STEP = 4096;
  let first = 0;
  while (first < n) {
    const end = Math.min(n, first + STEP);
    if (!ref.subarray(first, end).equals(next.subarray(first, end))) break;
    first = end;
  }
  if (first >= n) return { off: 0, len: 0 };
  while (ref[first] === next[first]) first++;
  let last = n;
  while (last > first) {
    const start = Math.max(first, last - STEP);
    if (!ref.subarray(start, last).equals(next.subarray(start, last))) break;
    last = start;
  }
  while (last > first && ref[last - 1] === next[last - 1]) last--;
  return { off: first, len: last - first };
}
