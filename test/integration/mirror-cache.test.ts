/**
 * What a slave keeps in the page cache of a first copy, on real mounts:
 * by default its bulk parts leave (drop-behind), with `-o mirror_cache=keep`
 * they stay. Counted by the kernel (fincore), checked by tar | md5sum.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupMounts, h2fsOk, mount, type Mounted, newStore, requireFuse, tarMd5 } from '../helpers/h2fs.js';
import { cachedBytes } from '../helpers/page-cache.js';
import { randomFile } from '../helpers/trees.js';
import { removeTmpDirs } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** Bytes of `file` in the page cache, and its size. */
function cached(file: string): { res: number; size: number } {
  return { res: cachedBytes(file), size: fs.statSync(file).size };
}

describe('mount option mirror_cache on a slave', function () {
  this.timeout(300_000);
  let master: Mounted;
  let dropping: Mounted;
  let keeping: Mounted;

  before(async function () {
    requireFuse(this);
    master = await newStore();
    dropping = await newStore();
    keeping = await newStore();
    await mount(master);
    await mount(dropping);
    await mount(keeping, ['-o', 'mirror_cache=keep']);
  });

  after(() => {
    cleanupMounts();
    removeTmpDirs();
  });

  it('drops a first copy from the page cache by default, keeps it with mirror_cache=keep; both slaves equal the master', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/src`]);
    for (let i = 0; i < 48; i++) randomFile(`${master.mnt}/src/f${i}`, MiB + i * 4096);
    await h2fsOk(['synctid', master.mnt]);
    const want = tarMd5(`${master.mnt}/src`);
    // Counted before anything reads the slaves (a read brings pages back).
    const after: Array<{ res: number; size: number }> = [];
    for (const slave of [dropping, keeping]) {
      await h2fsOk(['-y', 'mirror-copy', `${master.mnt}/src`, `${slave.mnt}/dst`]);
      after.push(cached(path.join(slave.store, 'data.mdb')));
    }
    const [dropped, kept] = after as [{ res: number; size: number }, { res: number; size: number }];
    expect(dropped.size).to.be.greaterThan(48 * MiB);
    expect(dropped.res, 'default: all but the last part left the cache').to.be.lessThan(dropped.size / 2);
    expect(kept.res, 'mirror_cache=keep: all of it cached').to.be.at.least(kept.size * 0.9);
    for (const slave of [dropping, keeping]) expect(tarMd5(`${slave.mnt}/dst`)).to.equal(want);
  });
});
