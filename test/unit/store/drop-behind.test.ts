/**
 * Drop-behind of a slave's bulk parts, on files laid out as LMDB lays out
 * its pages; what is cached is the kernel's own count (fincore), not
 * DropBehind's bookkeeping.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { DropBehind } from '../../../src/store/drop-behind.js';
import { cachedBytes } from '../../helpers/page-cache.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

const PS = 4096;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;

/** Pages as LMDB writes them: number, flags and (overflow) run length in each header; `lmdb` false: no headers at all. */
function pageFile(kinds: Array<'meta' | 'leaf' | number>, lmdb = true): string {
  const pages: Buffer[] = [];
  for (const k of kinds) {
    const n = typeof k === 'number' ? k : 1;
    const run = Buffer.alloc(n * PS, 0x5a);
    if (lmdb) {
      run.writeBigUInt64LE(BigInt(pages.length), 0);
      run.fill(0, 8, 24);
      run.writeUInt16LE(k === 'meta' ? P_META : k === 'leaf' ? P_LEAF : P_OVERFLOW, 18);
      if (typeof k === 'number') run.writeUInt32LE(n, 20);
    } else {
      run.fill(0, 0, 24);
    }
    for (let i = 0; i < n; i++) pages.push(run.subarray(i * PS, (i + 1) * PS));
  }
  const file = path.join(tmpDir(), 'data.mdb');
  // The meta pages in a write of their own: the page cache's folios (up to
  // a whole write's size) do not straddle the part that follows them.
  const fd = fs.openSync(file, 'w');
  const metas = kinds.filter((k) => k === 'meta').length;
  fs.writeSync(fd, Buffer.concat(pages.slice(0, metas)));
  fs.writeSync(fd, Buffer.concat(pages.slice(metas)));
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  return file;
}

async function until(what: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe('store/drop-behind', () => {
  const open: DropBehind[] = [];
  afterEach(() => {
    while (open.length) open.pop()!.close();
  });
  after(() => removeTmpDirs());

  it('drops a part once the next has landed, and reads its branch and leaf pages back', async () => {
    // Two meta pages, then three leaves each followed by a 17-page block, then 8 leaves: 64 pages.
    const file = pageFile(['meta', 'meta', 'leaf', 17, 'leaf', 17, 'leaf', 17, ...Array<'leaf'>(8).fill('leaf')]);
    expect(fs.statSync(file).size).to.equal(64 * PS);
    const d = new DropBehind(file, PS);
    open.push(d);
    expect(cachedBytes(file)).to.equal(64 * PS);
    expect(d.afterPart(2 * PS, 64 * PS), 'nothing yet: the part is dropped after the next').to.equal(0);
    expect(cachedBytes(file)).to.equal(64 * PS);
    expect(d.afterPart(64 * PS, 64 * PS)).to.equal(62 * PS);
    // The meta pages were never in the part; the 11 leaves come back from disk in the background.
    await until(() => cachedBytes(file) === 13 * PS);
    expect(cachedBytes(file)).to.equal(13 * PS);
    expect(fs.readFileSync(file).subarray(40 * PS, 41 * PS).equals(Buffer.alloc(PS, 0x5a)), 'the file itself is untouched').to.equal(true);
  });

  it('drops nothing where the pages do not carry LMDB\'s headers', () => {
    const file = pageFile(['meta', 'meta', 'leaf', 17, 'leaf', 17], false);
    const d = new DropBehind(file, PS);
    open.push(d);
    d.afterPart(2 * PS, fs.statSync(file).size);
    expect(d.afterPart(fs.statSync(file).size, fs.statSync(file).size)).to.equal(0);
    expect(cachedBytes(file)).to.equal(fs.statSync(file).size);
  });
});
