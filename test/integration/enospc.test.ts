/**
 * A full disk under the store: writes fail with ENOSPC instead of piling up
 * a flush group that can never commit, the daemon keeps serving, and what
 * was committed stays readable.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { cleanupMounts, daemonPidOf, h2fsOk, mount, requireFuse, type Mounted } from '../helpers/h2fs.js';
import { removeTmpDirs, tmpDir } from '../helpers/tmp.js';

describe('a full disk under the store', function () {
  this.timeout(120_000);
  let small = '';
  let m: Mounted;

  before(async function () {
    requireFuse(this);
    small = tmpDir('h2fs-small-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', small]);
    m = { store: path.join(small, 'store'), mnt: path.join(tmpDir(), 'mnt') };
    fs.mkdirSync(m.mnt);
    await h2fsOk(['newfs', m.store]);
    await mount(m);
  });

  after(() => {
    cleanupMounts();
    if (small) spawnSync('umount', ['-l', small]);
    removeTmpDirs();
  });

  it('fails writes with ENOSPC, keeps serving, keeps committed data', async () => {
    fs.writeFileSync(path.join(m.mnt, 'keep'), 'committed before the disk filled\n');
    const t = (await h2fsOk(['synctid', m.mnt])).trim();
    const dd = spawnSync('dd', ['if=/dev/urandom', `of=${path.join(m.mnt, 'fill')}`, 'bs=1M', 'count=100', 'conv=fsync'],
      { encoding: 'utf8' });
    expect(dd.status).to.not.equal(0);
    expect(dd.stderr).to.match(/No space left on device/);
    const written = fs.statSync(path.join(m.mnt, 'fill')).size;
    console.log(`      accepted ${(written / 1048576).toFixed(1)} MiB on a 40 MiB disk`);
    expect(written).to.be.greaterThan(0);
    expect(written).to.be.lessThan(40 * 1024 * 1024);
    // The daemon is alive and commits what it accepted.
    const pid = daemonPidOf(m.store)!;
    expect(() => process.kill(pid, 0)).to.not.throw();
    const t2 = (await h2fsOk(['synctid', m.mnt])).trim();
    expect(BigInt(t2) >= BigInt(t)).to.equal(true);
    expect(fs.statSync(path.join(m.mnt, `fill@@${t2}`)).size).to.equal(written);
    expect(fs.readFileSync(path.join(m.mnt, `keep@@${t}`), 'utf8')).to.equal('committed before the disk filled\n');
  });
});
