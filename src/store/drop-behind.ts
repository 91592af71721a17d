/**
 * A slave's bulk mirror parts leave the page cache once they are on disk. A
 * first copy writes the whole master through the slave's cache: 1.7 GB of
 * blocks nobody reads back soon, which pushed the host's working set out,
 * and on a VM that hands freed memory back to its host (free page
 * reporting) every new cache page also cost a host fault: 1.4 s of CPU per
 * 663 MB on the benchmark VM.
 *
 * The kernel drops only pages no process maps, and only whole folios: the
 * part is unmapped from this process first (LMDB's reads of B-tree pages
 * map whole folios around them), and all of it is dropped, because ext4's
 * large folios hold leaves and blocks together. Its branch and leaf pages,
 * found by LMDB's page headers, are then read back in the background
 * (POSIX_FADV_WILLNEED, page-sized folios), so the next round finds the
 * B-trees cached: with them dropped too, a round after a 50,000-file first
 * copy took 550-640 page faults from disk, 400-480 without (the blocks its
 * changes patch). A part is dropped once the next one has landed, when its
 * right edge of the B-trees has been copied by that next transaction.
 */
import fs from 'node:fs';
import * as log from '../log.js';
import { nativeAddon, type NativeAddon } from '../native.js';
import { FileMaps } from './map-advice.js';

/**
 * LMDB's page header (liblmdb mdb.c, MDB_page_header): page number (u64) at
 * 0, flags (u16) at 18, and for an overflow page the run's page count (u32)
 * at 20. A page whose number is not its place ends the walk, so a layout
 * other than this one drops nothing rather than something else.
 */
const HEADER_BYTES = 24;
const FLAGS_AT = 18;
const RUN_PAGES_AT = 20;
const P_OVERFLOW = 0x04;

export class DropBehind {
  private fd: number | undefined;
  private broken = false;
  /** The last bulk part's growth, dropped after the next one. */
  private pending: { from: number; to: number } | undefined;
  private readonly maps: FileMaps;
  private readonly header = Buffer.alloc(HEADER_BYTES);

  constructor(private readonly file: string, private readonly pageSize: number) {
    this.maps = new FileMaps(file, 'mirrored pages mapped by a read stay cached');
  }

  /**
   * A bulk part grew the file by [from, to) and is on disk: drops the part
   * before it. Returns the bytes dropped.
   */
  afterPart(from: number, to: number): number {
    const prev = this.pending;
    this.pending = to > from ? { from, to } : undefined;
    return prev ? this.drop(prev.from, prev.to) : 0;
  }

  private drop(from: number, to: number): number {
    const a = nativeAddon();
    if (!a || this.broken) return 0;
    try {
      this.fd ??= fs.openSync(this.file, 'r');
      const tree = this.treePages(from, to);
      if (!tree) return 0;
      this.maps.eachInRange(BigInt(from), BigInt(to), (start, length) => a.madvise(start, length, a.MADV_DONTNEED));
      this.advise(a, from, to, a.POSIX_FADV_DONTNEED);
      const ps = this.pageSize;
      for (const [p, n] of tree) this.advise(a, p * ps, (p + n) * ps, a.POSIX_FADV_WILLNEED);
      return to - from;
    } catch (e) {
      this.broken = true;
      log.debug(`drop-behind on ${this.file} stopped: ${(e as Error).message}; mirrored parts stay cached`);
      return 0;
    }
  }

  private advise(a: NativeAddon, from: number, to: number, advice: number): void {
    const rc = a.fadvise(this.fd!, BigInt(from), BigInt(to - from), advice);
    if (rc !== 0) throw new Error(`posix_fadvise: errno ${rc}`);
  }

  /**
   * The runs of branch and leaf pages in [from, to), as [first page, count],
   * by walking the pages' headers (still cached: no disk read); undefined
   * when a header is not where this layout puts it.
   */
  private treePages(from: number, to: number): Array<[number, number]> | undefined {
    const ps = this.pageSize;
    const out: Array<[number, number]> = [];
    const last = Math.floor(to / ps);
    for (let p = Math.ceil(from / ps); p < last;) {
      if (fs.readSync(this.fd!, this.header, 0, HEADER_BYTES, p * ps) < HEADER_BYTES) return undefined;
      if (Number(this.header.readBigUInt64LE(0)) !== p) return undefined;
      if (this.header.readUInt16LE(FLAGS_AT) & P_OVERFLOW) {
        const n = this.header.readUInt32LE(RUN_PAGES_AT);
        if (n === 0 || p + n > last) return undefined;
        p += n;
      } else {
        const run = out[out.length - 1];
        if (run && run[0] + run[1] === p) run[1]++;
        else out.push([p, 1]);
        p++;
      }
    }
    return out;
  }

  close(): void {
    this.broken = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
