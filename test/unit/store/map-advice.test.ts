/**
 * The mirror writer's reads run with readaround off on LMDB's map: the
 * kernel's own view of the mapping (VmFlags "rr" in /proc/self/smaps) is
 * what these tests read, not h2fs's bookkeeping.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { openLmdb, type LmdbEnv } from '../../../src/store/lmdb.js';
import { MapAdvice, mapAdviceAvailable, MapPrefault, mappingsOf } from '../../../src/store/map-advice.js';
import { RECTYPE, type DataPayload, type Store } from '../../../src/store/index.js';
import { removeTmpDirs, tmpDir, tmpStore } from '../../helpers/tmp.js';

/** VmFlags of every mapping of `file`: true where the random-read advice is set. */
function randomRead(file: string): boolean[] {
  const real = fs.realpathSync(file);
  const out: boolean[] = [];
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(` ${real}`);
    else if (inFile && line.startsWith('VmFlags:')) out.push(line.split(/\s+/).includes('rr'));
  }
  return out;
}

/** Resident KiB of this process's mappings of `file` (pages in its page tables). */
function mappedKb(file: string): number {
  const real = fs.realpathSync(file);
  let inFile = false;
  let kb = 0;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(` ${real}`);
    else if (inFile && line.startsWith('Rss:')) kb += Number(line.split(/\s+/)[1]);
  }
  return kb;
}

describe('store/map-advice', () => {
  const envs: LmdbEnv[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    while (envs.length) await envs.pop()!.root.close();
    while (stores.length) await stores.pop()!.close();
  });
  after(() => removeTmpDirs());

  function env(): LmdbEnv {
    const e = openLmdb(path.join(tmpDir(), 'store'));
    envs.push(e);
    e.data.putSync(Buffer.from('k'), Buffer.alloc(65536, 7));
    return e;
  }

  it('loads the prebuilt madvise addon on this machine', () => {
    expect(mapAdviceAvailable()).to.equal(true);
  });

  it('finds LMDB\'s map of data.mdb in this process', () => {
    const e = env();
    const maps = mappingsOf(e.dataFile);
    expect(maps).to.have.length(1);
    // openLmdb asks for 64 GiB of address space.
    expect(maps[0]!.length).to.equal(64n * 1024n * 1024n * 1024n);
  });

  it('sets the random-read advice for the call only, nested, and clears it after a throw', () => {
    const e = env();
    expect(randomRead(e.dataFile)).to.deep.equal([false]);
    const inner = e.advice.randomly(() => {
      expect(randomRead(e.dataFile)).to.deep.equal([true]);
      e.advice.randomly(() => expect(e.data.get(Buffer.from('k'))?.length).to.equal(65536));
      return randomRead(e.dataFile);
    });
    expect(inner).to.deep.equal([true]);
    expect(randomRead(e.dataFile)).to.deep.equal([false]);
    expect(() => e.advice.randomly(() => { throw new Error('boom'); })).to.throw('boom');
    expect(randomRead(e.dataFile)).to.deep.equal([false]);
  });

  it('leaves a file it cannot find alone', () => {
    const a = new MapAdvice(path.join(tmpDir(), 'nothing.mdb'));
    expect(a.randomly(() => 42)).to.equal(42);
  });

  it('applies mirrored records and reads PATCH bases with readaround off', async () => {
    const s = tmpStore();
    stores.push(s);
    const file = path.join(s.dir, 'data.mdb');
    const seen: boolean[][] = [];
    const orig = MapAdvice.prototype.randomly;
    MapAdvice.prototype.randomly = function randomlyObserved<T>(this: MapAdvice, fn: () => T): T {
      return orig.call(this, () => {
        seen.push(randomRead(file));
        return fn();
      }) as T;
    };
    try {
      const pfs = s.allocPfsId();
      s.putPfs(pfs, { v: 1, mode: 'slave', sharedUuid: '00000000-0000-4000-8000-000000000001', uniqueUuid: '00000000-0000-4000-8000-000000000002', label: '', syncBegTid: 0n, syncEndTid: 1n } as never);
      s.commit();
      const t = s.lastTid + 10n;
      const block = Buffer.alloc(4096, 9);
      await s.applyMirror(pfs, [{ kind: 'create', objId: 300, recType: RECTYPE.DATA, key: 0n, createTid: t, payload: { v: 1, len: 4096 } satisfies DataPayload, data: block }], t);
      expect(s.dataVersion(pfs, 300, 0n, t)?.equals(block)).to.equal(true);
    } finally {
      MapAdvice.prototype.randomly = orig;
    }
    expect(seen).to.deep.equal([[true], [true]]);
    expect(randomRead(file)).to.deep.equal([false]);
  });

  describe('MapPrefault', () => {
    /** Commits `n` blocks of 64 KiB with keys from `from` (LMDB writes them with pwrite: not mapped). */
    function commitBlocks(e: LmdbEnv, from: number, n: number): void {
      e.root.transactionSync(() => {
        for (let i = from; i < from + n; i++) {
          const k = Buffer.alloc(4);
          k.writeUInt32BE(i);
          e.data.putSync(k, Buffer.alloc(65536, i & 0xff));
        }
      });
    }

    it('maps what a commit appended to data.mdb, and only that', () => {
      const e = env();
      const pre = new MapPrefault(e.dataFile);
      const size0 = fs.statSync(e.dataFile).size;
      commitBlocks(e, 0, 64);
      const grown = (fs.statSync(e.dataFile).size - size0) / 1024;
      expect(grown).to.be.at.least(4096);
      const before = mappedKb(e.dataFile);
      // LMDB itself touched no more than its meta and B-tree pages.
      expect(before).to.be.below(grown / 4);
      pre.afterCommit();
      const after = mappedKb(e.dataFile);
      expect(after - before).to.be.at.least(grown * 0.9);
      expect(after - before).to.be.at.most(grown + 8);
      // Nothing new: nothing more mapped.
      pre.afterCommit();
      expect(mappedKb(e.dataFile)).to.equal(after);
      // The next commit's growth only.
      const size1 = fs.statSync(e.dataFile).size;
      commitBlocks(e, 64, 16);
      const grown2 = (fs.statSync(e.dataFile).size - size1) / 1024;
      pre.afterCommit();
      expect(mappedKb(e.dataFile) - after).to.be.at.least(grown2 * 0.9).and.at.most(grown2 + 8);
      // The mapped pages read what was written.
      const k = Buffer.alloc(4);
      k.writeUInt32BE(70);
      expect(e.data.get(k)?.equals(Buffer.alloc(65536, 70))).to.equal(true);
    });

    it('goes on quietly when the file is not mapped here', () => {
      const dir = tmpDir();
      const file = path.join(dir, 'data.mdb');
      fs.writeFileSync(file, Buffer.alloc(4096));
      const pre = new MapPrefault(file);
      fs.appendFileSync(file, Buffer.alloc(65536));
      expect(() => pre.afterCommit()).to.not.throw();
      expect(() => pre.afterCommit()).to.not.throw();
    });
  });
});
