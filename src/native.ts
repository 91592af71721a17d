/**
 * h2fs's native addon (vendor/h2fs-native): the memory calls Node has no
 * binding for, and a faster CRC-32 (src/checksum.ts). Optional: without a
 * prebuild for this platform every caller goes on without it (readaround
 * stays on, idle memory stays allocated, zlib computes the CRCs).
 */
import { createRequire } from 'node:module';
import * as log from './log.js';
import { vendorAddon } from './vendor.js';

/** The addon's reader thread, opaque to JavaScript. */
export type ReadAheadHandle = { readonly __brand: 'h2fs.readAhead' };

export interface NativeAddon {
  /** madvise(2) on a raw range; returns errno, 0 on success. */
  madvise(addr: bigint, length: bigint, advice: number): number;
  /** MADV_DONTNEED on the whole pages inside the view (they read as zeros afterwards); errno, 0 on success. */
  releasePages(view: Uint8Array): number;
  /** Where the view's first byte sits within its page. */
  pageOffset(view: Uint8Array): number;
  /** glibc's malloc_trim(0): 1 if memory went back to the system. */
  mallocTrim(): number;
  /** posix_fadvise(2) on a file range; returns errno, 0 on success. */
  fadvise(fd: number, offset: bigint, length: bigint, advice: number): number;
  /** zlib.crc32(view, crc), folded with VPCLMULQDQ where CRC32_FOLDED is 1, bytewise elsewhere. */
  crc32(view: Uint8Array, crc: number): number;
  /** The address of the view's first byte (the view may be backed by a SharedArrayBuffer). */
  addressOf(view: Uint8Array): number;
  /**
   * Starts a thread reading a dup of socket `fd` into a ring of `capacity`
   * bytes (vendor/h2fs-native/readahead.c); `ready` runs on the event loop
   * once bytes come after a take found none, or the socket ends.
   */
  readAheadStart(fd: number, capacity: number, ready: () => void): ReadAheadHandle;
  /** Up to `max` bytes read so far, in a buffer of their own; 0: none yet, -1: end of file, else an errno. */
  readAheadTake(handle: ReadAheadHandle, max: number): Buffer | number;
  /** Stops and joins the thread and closes its descriptor; idempotent. */
  readAheadStop(handle: ReadAheadHandle): void;
  /** 1 where this CPU has AVX-512 and VPCLMULQDQ for crc32; 0 otherwise (zlib is then faster). */
  CRC32_FOLDED: number;
  PAGE_SIZE: number;
  MADV_NORMAL: number;
  MADV_RANDOM: number;
  /** On a shared file mapping: unmaps the pages (the page cache keeps them). */
  MADV_DONTNEED: number;
  POSIX_FADV_DONTNEED: number;
  POSIX_FADV_WILLNEED: number;
  /** -1 where the headers it was built with had none (before Linux 5.14). */
  MADV_POPULATE_READ: number;
}

let addon: NativeAddon | null | undefined;

export function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  const file = vendorAddon('h2fs-native', 'madvise.node');
  try {
    addon = file ? (createRequire(import.meta.url)(file) as NativeAddon) : null;
  } catch (e) {
    log.debug(`native addon not loaded: ${(e as Error).message}`);
    addon = null;
  }
  if (!addon) log.debug('native addon not available: readaround stays on and idle memory stays allocated');
  return addon;
}

/** Hands the free memory of every malloc arena back to the system (LMDB's, the commit thread's, Node's). */
export function trimMalloc(): boolean {
  return nativeAddon()?.mallocTrim() === 1;
}
