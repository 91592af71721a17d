/**
 * Joins a source endpoint and a target endpoint byte for byte (they speak the
 * protocol themselves, wherever their stores are) and watches the frames go
 * by: batches, SYNCs, TERM, ACKs and ERRORs, for status and for the verdict.
 */
import { PassThrough, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { H2Error } from '../errors.js';
import type { Tid } from '../tid.js';
import { FrameWatcher, MREC, type WatchedFrame } from './frame.js';

export interface Endpoint {
  /** What the endpoint says (frames from the source, or answers from the target). */
  readable: Readable;
  /** What it hears. */
  writable: Writable;
  /** Why it failed, when it can say (an ssh command's stderr, an exit status). */
  failure?: () => string | undefined;
}

/**
 * A source that runs in this process (a local store's mirror-read): rather
 * than bytes to pipe, it is handed a writable that goes straight to the
 * target and the target's answers.
 */
export interface LocalSource {
  /**
   * Starts sending frames into `out` and hearing the target on `answers`;
   * ends `out` when done. `reuse`: `out` is done with a buffer once the
   * write of it calls back, so the source may fill it again.
   */
  start(out: Writable, answers: Readable, reuse: boolean): void;
  /** The relay gave up: stop sending. */
  stop(): void;
  failure?: () => string | undefined;
}

function isLocalSource(s: Endpoint | LocalSource): s is LocalSource {
  return 'start' in s;
}

export interface RelayState {
  forwardBytes: number;
  backBytes: number;
  batchBeg?: Tid;
  batchEnd?: Tid;
  syncedTid?: Tid;
  termTid?: Tid;
  ackedTid?: Tid;
  targetTid?: Tid;
  records: number;
  /** The source's estimate of the current batch's size, for bulk copies. */
  estBytes?: number;
  error?: { from: 'source' | 'target'; code: string; message: string };
}

/** Passes bytes through and tells `onFrame` about each frame it sees go by. */
class FrameTap extends Transform {
  private readonly watcher: FrameWatcher;
  bytes = 0;

  constructor(onFrame: (f: WatchedFrame) => void, private readonly onBytes: (n: number) => void = () => undefined) {
    super();
    // A malformed stream is the receiving side's to report; the watcher just goes blind.
    this.watcher = new FrameWatcher(onFrame);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    this.watcher.write(chunk);
    cb(null, chunk);
  }
}

/** A write error that only means the far side stopped listening: its own frames say why. */
function peerGone(e: NodeJS.ErrnoException): boolean {
  return e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED';
}

/**
 * What a LocalSource writes into: each chunk is watched and written on to
 * `dest`, and the write calls back only once `dest`'s has (ssh2's channel
 * has then copied it into packets), so the source may reuse the chunk.
 */
class TapWriter extends Writable {
  private readonly watcher: FrameWatcher;
  bytes = 0;

  constructor(onFrame: (f: WatchedFrame) => void, private readonly onBytes: (n: number) => void, private readonly dest: Writable) {
    super();
    this.watcher = new FrameWatcher(onFrame);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    this.watcher.write(chunk);
    this.dest.write(chunk, (e?: NodeJS.ErrnoException | null) => cb(e && !peerGone(e) ? e : null));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.dest.end();
    cb();
  }
}

export interface RelayOptions {
  /** Caps the source -> target direction, bytes per second. */
  limiter?: Transform;
  /** Success needs the target's ACK of the final TID (false: a one-way stream, TERM suffices). */
  requireAck?: boolean;
  onFrame?: (from: 'source' | 'target', f: WatchedFrame, state: RelayState) => void;
}

export function relay(source: Endpoint | LocalSource, target: Endpoint, opts: RelayOptions = {}): { done: Promise<RelayState>; state: RelayState } {
  const state: RelayState = { forwardBytes: 0, backBytes: 0, records: 0 };
  // A direction is over when its source ends, or closes without ending
  // (an ssh channel whose remote command could not run).
  let fwdDone = false;
  let backDone = false;
  // An ERROR from one side that came after the other side had ended is
  // mostly that side noticing the end; the side that ended may say why.
  let errorAfterPeerEnded = false;
  const seen = (from: 'source' | 'target') => (f: WatchedFrame): void => {
    switch (f.type) {
      case MREC.BATCH:
        state.batchBeg = f.msg.begTid;
        state.batchEnd = f.msg.endTid;
        if (f.msg.bytes !== undefined) state.estBytes = fwd.bytes + f.msg.bytes;
        else delete state.estBytes;
        break;
      case MREC.REC: case MREC.PATCH: case MREC.DEL: state.records++; break;
      case MREC.SYNC: state.syncedTid = f.msg.tid; break;
      case MREC.TERM: state.termTid = f.msg.endTid; break;
      case MREC.TARGET: state.targetTid = f.msg.syncEndTid; state.ackedTid = f.msg.syncEndTid; break;
      case MREC.ACK: state.ackedTid = f.msg.tid; break;
      case MREC.ERROR:
        if (!state.error) {
          state.error = { from, code: f.msg.code, message: f.msg.message };
          errorAfterPeerEnded = from === 'source' ? backDone : fwdDone;
          // The side that failed has said why; give the frame a moment to
          // reach the other side, then end both directions.
          setTimeout(() => endAll(), 200).unref();
        }
        break;
      default: break;
    }
    opts.onFrame?.(from, f, state);
  };
  let endAll: () => void = () => undefined;
  const onForward = (n: number): void => { state.forwardBytes = n; };
  const local = isLocalSource(source) ? source : undefined;
  const fwd = local
    ? new TapWriter(seen('source'), onForward, opts.limiter ?? target.writable)
    : new FrameTap(seen('source'), onForward);
  const back = new FrameTap(seen('target'), (n) => { state.backBytes = n; });
  /** The verdict once a side has sent an ERROR frame. */
  const errorVerdict = (): H2Error => {
    const err = state.error!;
    const peerWhy = errorAfterPeerEnded ? (err.from === 'source' ? target.failure?.() : source.failure?.()) : undefined;
    if (peerWhy) return new H2Error('H2_TRANSPORT', peerWhy);
    const code = /^(H2_[A-Z_]+|E[A-Z]+)$/.test(err.code) ? err.code : 'H2_PROTOCOL';
    return new H2Error(code as H2Error['code'], err.message);
  };
  const done = new Promise<RelayState>((resolve, reject) => {
    let ended = 0;
    let settled = false;
    let failed = false;
    const finish = (): void => {
      state.forwardBytes = fwd.bytes;
      state.backBytes = back.bytes;
      ended++;
      // One-way: the target never answers; the source ending is the end.
      // Two-way: both directions ended, or the source has ended after the
      // target acknowledged the last TID: nothing the target could still
      // say changes the verdict (its end of an SSH channel can come 40 ms
      // after its last frame, sshd holding the small EOF packet back).
      const acked = state.termTid !== undefined && (state.ackedTid ?? -1n) >= state.termTid && !state.error;
      const over = (opts.requireAck ?? true) ? ended >= 2 || (fwdDone && acked) : fwdDone;
      if (!over || settled) return;
      settled = true;
      if (state.error) {
        reject(errorVerdict());
      } else if (state.termTid === undefined || ((opts.requireAck ?? true) && (state.ackedTid ?? -1n) < state.termTid)) {
        const why = source.failure?.() ?? target.failure?.();
        reject(new H2Error('H2_TRANSPORT', why ?? 'the link closed before the copy completed'));
      } else {
        resolve(state);
      }
    };
    const fail = (e: Error): void => {
      if (failed) return;
      failed = true;
      if (local) local.stop(); else (source as Endpoint).writable.destroy();
      target.writable.destroy();
      const why = source.failure?.() ?? target.failure?.();
      reject(state.error ? errorVerdict() : new H2Error('H2_TRANSPORT', why ?? e.message));
    };
    const fwdOver = (): void => { if (!fwdDone) { fwdDone = true; finish(); } };
    const backOver = (): void => { if (!backDone) { backDone = true; finish(); } };
    target.readable.on('error', fail);
    target.writable.on('error', (e: NodeJS.ErrnoException) => { if (!peerGone(e)) fail(e); });
    back.on('end', backOver);
    target.readable.on('close', () => setImmediate(backOver));
    if (local) {
      if (opts.limiter) opts.limiter.pipe(target.writable);
      fwd.on('error', fail);
      fwd.on('finish', fwdOver);
      fwd.on('close', () => setImmediate(fwdOver));
      target.readable.pipe(back);
      // A limiter holds chunks past its write's callback: no reuse through one.
      local.start(fwd as TapWriter, back, !opts.limiter);
      endAll = (): void => {
        fwdOver();
        backOver();
        target.readable.unpipe();
        back.end();
        target.writable.end();
      };
      return;
    }
    const src = source as Endpoint;
    const tap = fwd as FrameTap;
    const forward: Readable = opts.limiter ? src.readable.pipe(tap).pipe(opts.limiter) : src.readable.pipe(tap);
    forward.pipe(target.writable);
    target.readable.pipe(back).pipe(src.writable);
    src.readable.on('error', fail);
    src.writable.on('error', (e: NodeJS.ErrnoException) => { if (!peerGone(e)) fail(e); });
    tap.on('end', fwdOver);
    src.readable.on('close', () => setImmediate(fwdOver));
    endAll = (): void => {
      fwdOver();
      backOver();
      for (const s of [src.readable, target.readable]) s.unpipe();
      src.writable.end();
      target.writable.end();
    };
  });
  return { done, state };
}

/** A readable that never yields (an endpoint with nothing to say). */
export function silent(): PassThrough {
  return new PassThrough();
}
