/**
 * Readaround control for LMDB's map of data.mdb. A page fault in a shared
 * file mapping reads the device's whole readahead window around the page
 * (8 MiB on some virtual disks). Sequential reads want that; the mirror
 * writer's scattered B-tree leaves and PATCH bases do not: on a store larger
 * than the page cache each of its faults pulled in megabytes and evicted the
 * working set. `randomly` turns readaround off (MADV_RANDOM) for the span of
 * a synchronous call and back on after it; the event loop runs nothing else
 * meanwhile, so no other read of this process sees the change.
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

export class MapAdvice {
  private ranges: Range[] | undefined;
  private depth = 0;
  private broken = false;

  constructor(private readonly file: string) {}

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
    if (this.depth++ === 0) this.advise('random');
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.depth === 0) this.advise('normal');
    };
  }

  private advise(how: 'random' | 'normal'): void {
    const a = this.broken ? null : nativeAddon();
    if (!a) return;
    const advice = how === 'random' ? a.MADV_RANDOM : a.MADV_NORMAL;
    // The map is found once; LMDB maps again only when it grows the map, so
    // a failure (ENOMEM: no longer mapped there) means look it up again.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.ranges || attempt > 0) this.ranges = mappingsOf(this.file);
      const failed = this.ranges.some((r) => a.madvise(r.start, r.length, advice) !== 0);
      if (!failed && this.ranges.length) return;
    }
    this.broken = true;
    log.debug(`madvise on ${this.file} failed: the mirror writer reads with the disk's readaround`);
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
  private size: number;
  private ranges: Range[] | undefined;
  private broken = false;

  constructor(private readonly file: string) {
    this.size = sizeOf(file);
  }

  /** After a commit: maps whatever the file grew by since the last call. */
  afterCommit(): void {
    const a = this.broken ? null : nativeAddon();
    if (!a || a.MADV_POPULATE_READ < 0) return;
    const from = BigInt(this.size);
    this.size = sizeOf(this.file);
    const to = BigInt(this.size);
    if (to <= from) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.ranges || attempt > 0) this.ranges = mappingsOf(this.file);
      const failed = this.ranges.some((r) => {
        const lo = from > r.offset ? from : r.offset;
        const end = r.offset + r.length;
        const hi = to < end ? to : end;
        return hi > lo && a.madvise(r.start + (lo - r.offset), hi - lo, a.MADV_POPULATE_READ) !== 0;
      });
      if (!failed && this.ranges.length) return;
    }
    // Not mapped where we looked, or a kernel without the advice: reads fault pages in as before.
    this.broken = true;
    log.debug(`populating the map of ${this.file} failed: reads fault its pages in`);
  }
}

function sizeOf(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}
