/**
 * Readaround control for LMDB's map of data.mdb. A page fault in a shared
 * file mapping reads the device's whole readahead window around the page
 * (8 MiB on some virtual disks). Sequential reads want that; the mirror
 * writer's scattered B-tree leaves and PATCH bases do not: on a store larger
 * than the page cache each of its faults pulled in megabytes and evicted the
 * working set. `randomly` turns readaround off (MADV_RANDOM) for the span of
 * a synchronous call and back on after it. The commit thread writes a
 * slave's mirror parts under the same advice: the two threads' MapAdvice
 * count holders in one shared counter, so readaround comes back only when
 * neither holds it off. (Between the count and the madvise the two can
 * race; the loser only reads with the wrong readaround for a while.)
 */
import fs from 'node:fs';
import * as log from '../log.js';
import { nativeAddon } from '../native.js';

/** True when this build can change the map's advice (the prebuilt addon loads here). */
export function mapAdviceAvailable(): boolean {
  return nativeAddon() !== null;
}

interface Range { start: bigint; length: bigint; /** Where in the file the mapping starts. */ offset: bigint }

/** The mappings of `file` in this process, from /proc/self/maps. */
export function mappingsOf(file: string): Range[] {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return [];
  }
  const out: Range[] = [];
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    // "start-end perms offset dev inode    path"; the path is the rest of the line.
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(.*)$/.exec(line);
    if (!m || m[4] !== real) continue;
    const start = BigInt(`0x${m[1]}`);
    out.push({ start, length: BigInt(`0x${m[2]}`) - start, offset: BigInt(`0x${m[3]}`) });
  }
  return out;
}

/**
 * The mappings of one file, found once in /proc/self/maps. LMDB maps again
 * only when it grows the map, so an madvise that fails (ENOMEM: no longer
 * mapped there) means look them up again; a second failure means give up.
 */
export class FileMaps {
  private ranges: Range[] | undefined;
  private broken = false;

  /** `ifBroken`: logged (debug) when it gives up, saying what that costs. */
  constructor(readonly file: string, private readonly ifBroken: string) {}

  /** Calls `advise` (an errno, 0 on success) on each mapping; does nothing more once that failed twice. */
  each(advise: (r: Range) => number): void {
    if (this.broken) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.ranges || attempt > 0) this.ranges = mappingsOf(this.file);
      if (this.ranges.length && this.ranges.every((r) => advise(r) === 0)) return;
    }
    this.broken = true;
    log.debug(`madvise on ${this.file} failed: ${this.ifBroken}`);
  }

  /** Calls `advise(address, length)` on the part of each mapping that maps file bytes [from, to). */
  eachInRange(from: bigint, to: bigint, advise: (start: bigint, length: bigint) => number): void {
    this.each((r) => {
      const lo = from > r.offset ? from : r.offset;
      const end = r.offset + r.length;
      const hi = to < end ? to : end;
      return hi > lo ? advise(r.start + (lo - r.offset), hi - lo) : 0;
    });
  }
}

export class MapAdvice {
  private readonly maps: FileMaps;
  /** [0]: holders in this process; share `depthBuffer` with another thread's MapAdvice of the file. */
  private readonly depth: Int32Array;

  constructor(file: string, depthBuffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.maps = new FileMaps(file, "the mirror writer reads with the disk's readaround");
    this.depth = new Int32Array(depthBuffer);
  }

  get depthBuffer(): SharedArrayBuffer {
    return this.depth.buffer as SharedArrayBuffer;
  }

  /** Runs `fn` with readaround off on the map; nests, and restores it even when `fn` throws. */
  randomly<T>(fn: () => T): T {
    const release = this.hold();
    try {
      return fn();
    } finally {
      release();
    }
  }

  /**
   * Readaround off until the returned function is called (once; later calls
   * do nothing): for reads on worker threads, which run while the event loop
   * goes on, so other reads of this process meanwhile fault page by page.
   */
  hold(): () => void {
    if (Atomics.add(this.depth, 0, 1) === 0) this.advise('random');
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (Atomics.sub(this.depth, 0, 1) === 1) this.advise('normal');
    };
  }

  private advise(how: 'random' | 'normal'): void {
    const a = nativeAddon();
    if (!a) return;
    const advice = how === 'random' ? a.MADV_RANDOM : a.MADV_NORMAL;
    this.maps.each((r) => a.madvise(r.start, r.length, advice));
  }
}

/**
 * Maps the pages a commit appended to data.mdb into this process's page
 * tables (MADV_POPULATE_READ), from the commit thread, so that the event
 * loop's reads of what was just written find them mapped. LMDB writes with
 * `pwrite` and reads through its map: a 1 GiB file read back after it was
 * written cost the loop 0.92 s of CPU, mostly faulting the map in 64 KiB
 * at a time, and 0.49 s once its pages were mapped (50 ms to populate).
 */
export class MapPrefault {
  private readonly maps: FileMaps;
  private size: number;

  constructor(file: string) {
    // Not mapped where we looked, or a kernel without the advice.
    this.maps = new FileMaps(file, 'reads fault its pages in');
    this.size = sizeOf(file);
  }

  /** After a commit: maps whatever the file grew by since the last call. */
  afterCommit(): void {
    const a = nativeAddon();
    if (!a || a.MADV_POPULATE_READ < 0) return;
    const from = BigInt(this.size);
    this.size = sizeOf(this.maps.file);
    const to = BigInt(this.size);
    if (to <= from) return;
    this.maps.eachInRange(from, to, (start, length) => a.madvise(start, length, a.MADV_POPULATE_READ));
  }

  /**
   * The file grew by something not worth mapping (a mirrored part): the next
   * commit maps only its own growth. Returns where the file grew, [from, to).
   */
  skipGrowth(): { from: number; to: number } {
    const from = this.size;
    this.size = sizeOf(this.maps.file);
    return { from, to: this.size };
  }
}

function sizeOf(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}
