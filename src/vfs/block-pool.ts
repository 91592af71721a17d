/**
 * The full-size block buffers that writes fill. They are carved from large
 * SharedArrayBuffers (slabs) kept for the life of the mount, and a committed
 * block comes back for the next write:
 * - shared memory, so postMessage hands a sealed block to the commit thread
 *   without a copy;
 * - no block is ever freed, so neither thread's garbage collector decides when
 *   its memory goes back. A 64 KiB SharedArrayBuffer per block was freed only
 *   once both threads had collected it (the commit thread collects rarely),
 *   and glibc kept the holes: the daemon's heap grew to hundreds of MiB that
 *   were free but never returned.
 * An idle mount hands the free blocks' pages back to the kernel (MADV_DONTNEED)
 * and keeps the blocks; touching one again costs a zero-filled page fault.
 */
import { nativeAddon } from '../native.js';

export class BlockPool {
  private readonly free: Buffer[] = [];
  private slab: SharedArrayBuffer | undefined;
  /** Byte offset of the next block in `slab`; blocks start on a page boundary. */
  private next = 0;
  private slabs = 0;
  /** A free block may hold pages since the last release. */
  private touched = false;

  /** `slabBlocks` blocks per slab (the VFS makes it one flush group's worth). */
  constructor(readonly blockSize: number, readonly slabBlocks: number) {}

  /** A block of `blockSize` bytes; its content is whatever the last user left (callers track their length). */
  take(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    if (!this.slab || this.next + this.blockSize > this.slab.byteLength) this.newSlab();
    const slab = this.slab as SharedArrayBuffer;
    const block = Buffer.from(slab, this.next, this.blockSize);
    this.next += this.blockSize;
    return block;
  }

  /** Takes back a block from take() that nothing reads or writes any more. */
  give(b: Buffer): void {
    this.free.push(b);
    this.touched = true;
  }

  get freeBlocks(): number {
    return this.free.length;
  }

  /** Bytes of slabs allocated so far (touched or not). */
  get slabBytes(): number {
    return this.slabs * (this.slabBlocks * this.blockSize + MAX_PAGE);
  }

  /**
   * Gives the pages of every free block back to the kernel, if any was used
   * since the last call. False when there was nothing to do or no addon to do it.
   */
  releaseIdle(): boolean {
    const a = nativeAddon();
    if (!this.touched || !a) return false;
    for (const b of this.free) a.releasePages(b);
    this.touched = false;
    return true;
  }

  private newSlab(): void {
    const slab = new SharedArrayBuffer(this.slabBlocks * this.blockSize + MAX_PAGE);
    // malloc places the slab 16 bytes into a page: start the blocks on the
    // next page, so releasing a block frees all of its pages.
    const a = nativeAddon();
    const page = a && a.PAGE_SIZE <= MAX_PAGE ? a.PAGE_SIZE : 1;
    const off = a ? a.pageOffset(new Uint8Array(slab, 0, 1)) % page : 0;
    this.slab = slab;
    this.next = (page - off) % page;
    this.slabs++;
  }
}

/** Room left in each slab for aligning its blocks to pages of up to this size. */
const MAX_PAGE = 64 * 1024;
