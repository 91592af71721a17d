/**
 * A cache of the committed head (the newest version of each record) for the
 * live view: path resolution reads the same inodes and directory entries over
 * and over, and each LMDB range read costs tens of microseconds. Every write
 * to the head goes through Store, which invalidates here: commit() drops the
 * keys it wrote; mirror, rollback and destroy clear everything.
 */
import { encodeLogicalKey, type LogicalKey, type RecType } from './keys.js';
import type { Payload } from './record.js';

export type ScanResult = Array<{ key: bigint; payload: Payload }>;

/** Narrow scans (a name's hash slot) are what lookups repeat; readdir's are not worth holding. */
const MAX_CACHED_SCAN = 16;

function typeKey(pfs: number, objId: number, recType: RecType): string {
  return `${pfs}:${objId}:${recType}`;
}

const WHOLE_RANGE = (1n << 64n) - 1n;

/** Hex, and a constant for a whole rec_type: decimal BigInt strings showed in profiles of every lookup. */
function rangeKey(from: bigint, to: bigint): string {
  return from === 0n && to === WHOLE_RANGE ? '*' : `${from.toString(16)}:${to.toString(16)}`;
}

export class HeadCache {
  private readonly gets = new Map<string, Payload | null>();
  private readonly scans = new Map<string, Map<string, ScanResult>>();
  private size = 0;

  constructor(private readonly maxEntries = 200_000) {}

  static keyOf(lk: LogicalKey): string {
    return encodeLogicalKey(lk).toString('latin1');
  }

  /** undefined: not cached; null: cached as absent. */
  get(key: string): Payload | null | undefined {
    return this.gets.get(key);
  }

  setGet(key: string, p: Payload | null): void {
    if (!this.gets.has(key)) this.grow();
    this.gets.set(key, p);
  }

  scan(pfs: number, objId: number, recType: RecType, from: bigint, to: bigint): ScanResult | undefined {
    return this.scans.get(typeKey(pfs, objId, recType))?.get(rangeKey(from, to));
  }

  /** Keeps a copy of `r` (the caller's array stays the caller's). */
  setScan(pfs: number, objId: number, recType: RecType, from: bigint, to: bigint, r: ScanResult): void {
    if (r.length > MAX_CACHED_SCAN) return;
    r = r.slice();
    const tk = typeKey(pfs, objId, recType);
    let m = this.scans.get(tk);
    if (!m) {
      m = new Map();
      this.scans.set(tk, m);
    }
    const rk = rangeKey(from, to);
    if (!m.has(rk)) this.grow();
    m.set(rk, r);
  }

  /** The head of `lk` changed. */
  invalidate(lk: LogicalKey): void {
    this.gets.delete(HeadCache.keyOf(lk));
    this.scans.delete(typeKey(lk.pfs, lk.objId, lk.recType));
  }

  clear(): void {
    this.gets.clear();
    this.scans.clear();
    this.size = 0;
  }

  private grow(): void {
    // Crude but bounded: start over when full (a working set this large
    // gains little from LRU bookkeeping over LMDB's own page cache).
    if (++this.size > this.maxEntries) this.clear();
  }
}
