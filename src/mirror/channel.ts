/**
 * A duplex byte stream seen as frames: an async iterator of incoming frames
 * and a send() that honours backpressure. Both mirror sessions run on one.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import { H2Error } from '../errors.js';
import { encodeFrame, FrameDecoder, MREC, type Frame } from './frame.js';

export class FrameChannel {
  private readonly decoder = new FrameDecoder();
  private readonly iter: AsyncIterator<Frame>;
  private readonly out: Writable | null;
  bytesOut = 0;
  private corked = false;

  /** `input` may be null (a one-way writer answers nobody... nor a reader with no return). */
  constructor(input: Readable | null, output: Writable | null) {
    this.out = output;
    // Errors surface through next(); with nobody iterating (a one-way reader)
    // they must not become an uncaught exception in the mount daemon.
    this.decoder.on('error', () => undefined);
    if (input) {
      input.on('error', (e) => this.decoder.destroy(e));
      input.pipe(this.decoder);
    } else {
      this.decoder.end();
    }
    this.iter = this.decoder[Symbol.asyncIterator]() as AsyncIterator<Frame>;
  }

  static over(d: Duplex): FrameChannel {
    return new FrameChannel(d, d);
  }

  get bytesIn(): number {
    return this.decoder.bytesIn;
  }

  /** Frames already decoded and waiting: next() will not wait for the link. */
  get buffered(): number {
    return this.decoder.readableLength;
  }

  get canSend(): boolean {
    return this.out !== null && !this.out.destroyed && this.out.writable;
  }

  /** The next frame, or null at a clean end of input. */
  async next(): Promise<Frame | null> {
    const r = await this.iter.next();
    return r.done ? null : r.value;
  }

  /** Sends a frame; waits for drain, unless `signal` aborts the wait (the peer gave up). */
  async send(f: Frame, signal?: AbortSignal): Promise<void> {
    const out = this.out;
    if (!out) return;
    if (out.destroyed || !out.writable) throw new H2Error('H2_TRANSPORT', 'the link to the other side is closed');
    const buf = encodeFrame(f);
    this.bytesOut += buf.length;
    // Frames sent in one turn of the event loop leave in one write: a run
    // of small records is one system call, not one each.
    if (!this.corked) {
      this.corked = true;
      out.cork();
      setImmediate(() => {
        this.corked = false;
        out.uncork();
      });
    }
    if (!out.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const done = (e?: Error): void => {
          out.off('drain', ok);
          out.off('close', closed);
          out.off('error', done);
          signal?.removeEventListener('abort', aborted);
          if (e) reject(e); else resolve();
        };
        const ok = (): void => done();
        const closed = (): void => done(new H2Error('H2_TRANSPORT', 'the link to the other side closed'));
        const aborted = (): void => done(signal?.reason instanceof Error ? signal.reason : new H2Error('H2_TRANSPORT', 'aborted'));
        if (signal?.aborted) return aborted();
        out.on('drain', ok);
        out.once('close', closed);
        out.once('error', done);
        signal?.addEventListener('abort', aborted, { once: true });
      });
    }
  }

  /** Tells the peer why we stop, best effort. */
  async sendError(e: unknown): Promise<void> {
    const err = e instanceof H2Error ? e : new H2Error('H2_PROTOCOL', (e as Error)?.message ?? String(e));
    try {
      await this.send({ type: MREC.ERROR, msg: { v: 1, code: err.code, message: err.message } });
    } catch {
      // The peer is gone; nothing to tell.
    }
  }

  end(): void {
    this.out?.end();
  }
}

/** An ERROR frame from the peer, as the error it reports. */
export function peerError(f: Frame & { type: typeof MREC.ERROR }): H2Error {
  const code = /^H2_[A-Z_]+$|^E[A-Z]+$/.test(f.msg.code) ? f.msg.code : 'H2_PROTOCOL';
  return new H2Error(code as H2Error['code'], f.msg.message);
}
