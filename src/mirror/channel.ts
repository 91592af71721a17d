/**
 * A duplex byte stream seen as frames: an async iterator of incoming frames
 * and a send() that honours backpressure. Both mirror sessions run on one.
 */
import { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { H2Error } from '../errors.js';
import { FrameDecoder, frameLayout, MREC, writeFrame, type Frame } from './frame.js';

/**
 * Outgoing frames are packed into chunks this big and leave a chunk's worth
 * (or a turn of the event loop's worth) at a time: a bulk copy's 64 KiB
 * blocks then cost a copy into the chunk, not a buffer each for the
 * collector to find. A bigger frame goes out in a buffer of its own.
 */
const CHUNK_BYTES = 1 << 20;
/** With this much packed and the link backed up, send() waits for it to drain. */
const DRAIN_SLACK = 256 * 1024;
/** Written-out chunks kept for reuse, where the output is done with them when it calls back. */
const SPARE_CHUNKS = 4;

interface Chunk {
  buf: Buffer;
  /** Bytes packed; bytes handed to the output. */
  used: number;
  flushed: number;
  /** Writes of this chunk the output has not finished with. */
  writing: number;
  /** No longer packed into. */
  full: boolean;
}

export class FrameChannel {
  private readonly decoder: FrameDecoder;
  private readonly iter: AsyncIterator<Frame>;
  private readonly out: Writable | null;
  bytesOut = 0;
  private chunk: Chunk | null = null;
  private flushQueued = false;
  private readonly spare: Buffer[] = [];
  /** Full chunks the output still has writes of. */
  private retiredWriting = 0;
  private readonly reuseChunks: boolean;

  /**
   * `input` may be null (a one-way writer answers nobody... nor a reader with
   * no return). `reuseChunks`: the output is done with a buffer once its
   * write calls back (a socket is; a stream in this process may hold it).
   * `inputOwned`: every chunk the input gives is a buffer nobody writes
   * again (a socket's are), so frames may keep views of them.
   */
  constructor(input: Readable | null, output: Writable | null, opts: { reuseChunks?: boolean; inputOwned?: boolean } = {}) {
    this.out = output;
    this.reuseChunks = opts.reuseChunks ?? output instanceof Socket;
    this.decoder = new FrameDecoder(opts.inputOwned ?? input instanceof Socket);
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

  /**
   * Sends a frame: packs it at once (f.data may be reused as soon as this
   * returns its promise) and waits while the link is backed up, unless
   * `signal` aborts the wait (the peer gave up).
   */
  async send(f: Frame, signal?: AbortSignal): Promise<void> {
    const out = this.out;
    if (!out) return;
    if (out.destroyed || !out.writable) throw new H2Error('H2_TRANSPORT', 'the link to the other side is closed');
    const layout = frameLayout(f);
    this.bytesOut += layout.len;
    if (layout.len > CHUNK_BYTES) {
      this.flush();
      const buf = Buffer.allocUnsafe(layout.len);
      writeFrame(f, layout, buf, 0);
      out.write(buf);
    } else {
      let c = this.chunk;
      if (!c || c.buf.length - c.used < layout.len) {
        this.flush();
        if (c) this.retire(c);
        c = this.chunk = { buf: this.spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES), used: 0, flushed: 0, writing: 0, full: false };
      }
      writeFrame(f, layout, c.buf, c.used);
      c.used += layout.len;
    }
    // Records sent in one turn of the event loop leave in one write: a run
    // of small ones is one system call, not one each. Any other frame ends
    // a run (a SYNC, a TERM) or waits for an answer, and goes at once.
    if (f.type !== MREC.REC && f.type !== MREC.PATCH && f.type !== MREC.DEL) {
      this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
    // Waiting for a full chunk's write to finish also gets it back for reuse
    // before the next one fills, so a socket's stream runs on two chunks.
    const packed = this.chunk ? this.chunk.used - this.chunk.flushed : 0;
    if (out.writableNeedDrain && (packed >= DRAIN_SLACK || packed === 0 || this.retiredWriting > 0)) {
      await this.drained(out, signal);
    }
  }

  /** Hands what is packed and not yet written to the output. */
  private flush(): void {
    const c = this.chunk;
    const out = this.out;
    if (!c || !out || c.used === c.flushed || out.destroyed) return;
    const piece = c.buf.subarray(c.flushed, c.used);
    c.flushed = c.used;
    c.writing++;
    out.write(piece, () => {
      // A full chunk is no longer written to, so this reaches zero once.
      if (--c.writing === 0 && c.full) {
        this.retiredWriting--;
        this.release(c);
      }
    });
  }

  /** No more frames go into `c`; it is reused once the output is done with it. */
  private retire(c: Chunk): void {
    c.full = true;
    if (c.writing === 0) this.release(c);
    else this.retiredWriting++;
  }

  private release(c: Chunk): void {
    if (this.reuseChunks && this.spare.length < SPARE_CHUNKS) this.spare.push(c.buf);
  }

  private drained(out: Writable, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
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
      if (!out.writableNeedDrain) return done();
      out.on('drain', ok);
      out.once('close', closed);
      out.once('error', done);
      signal?.addEventListener('abort', aborted, { once: true });
    });
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
    this.flush();
    this.out?.end();
  }
}

/** An ERROR frame from the peer, as the error it reports. */
export function peerError(f: Frame & { type: typeof MREC.ERROR }): H2Error {
  const code = /^H2_[A-Z_]+$|^E[A-Z]+$/.test(f.msg.code) ? f.msg.code : 'H2_PROTOCOL';
  return new H2Error(code as H2Error['code'], f.msg.message);
}
