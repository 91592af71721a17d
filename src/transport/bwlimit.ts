/**
 * Caps the bytes per second through a stream, smoothly: a token bucket that
 * holds at most 1/20 s of budget, with chunks cut to that size, so no burst
 * ever carries a whole second's worth.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class BandwidthLimit extends Transform {
  private tokens: number;
  private last: number;
  private readonly slice: number;

  /** `rate` in bytes per second; `now` for tests (milliseconds). */
  constructor(private readonly rate: number, private readonly now: () => number = () => performance.now()) {
    super();
    this.slice = Math.max(512, Math.floor(rate / 20));
    this.tokens = this.slice;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.slice, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pass(chunk).then(() => cb(), (e: Error) => cb(e));
  }

  private async pass(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length;) {
      const n = Math.min(this.slice, chunk.length - off);
      this.refill();
      if (this.tokens < n) {
        const waitMs = ((n - this.tokens) / this.rate) * 1000;
        await new Promise((r) => setTimeout(r, Math.ceil(waitMs)));
        this.refill();
      }
      this.tokens -= n;
      this.push(chunk.subarray(off, off + n));
      off += n;
    }
  }
}
