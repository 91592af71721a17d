/**
 * The buffers a slave's mirror parts are packed into, kept for the next
 * parts. A bulk copy packs its whole size into them, and a new 8 MiB buffer
 * per part cost page faults, zeroing, and the collections V8 runs when
 * external memory grows: a few big ones are kept, and let go once the
 * mirroring has been quiet for a while.
 */

/** Smaller parts (an incremental round's) get a buffer of their own. */
const MIN_KEPT_BYTES = 1 << 20;

export class PartBuffers {
  private readonly spare: ArrayBuffer[] = [];
  private readonly idle: NodeJS.Timeout;

  constructor(private readonly keep = 3, idleMs = 5000) {
    this.idle = setTimeout(() => { this.spare.length = 0; }, idleMs);
    this.idle.unref();
  }

  /** A buffer of at least `size` bytes. */
  take(size: number): ArrayBuffer {
    if (size < MIN_KEPT_BYTES) return new ArrayBuffer(size);
    const i = this.spare.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    return new ArrayBuffer(Math.ceil(size / MIN_KEPT_BYTES) * MIN_KEPT_BYTES);
  }

  /** A buffer nobody uses any more (a detached one, transferred away, is dropped). */
  give(b: ArrayBuffer): void {
    if (b.byteLength < MIN_KEPT_BYTES) return;
    if (this.spare.length >= this.keep) this.spare.shift();
    this.spare.push(b);
    this.idle.refresh();
  }

  get kept(): number {
    return this.spare.length;
  }
}
