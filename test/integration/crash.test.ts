/**
 * Invariant 1: kill -9 of the daemon at any moment under a write load. The
 * store mounts again, the last synctid's view is intact, and the live state
 * (the last committed flush group) is whole: every file is a valid prefix of
 * its pattern, ending on a write boundary, never a partial flush group.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  cleanupMounts, daemonPidOf, h2fsOk, isMounted, killDaemon, mount, newStore, requireFuse, sleep, tarMd5, umount,
  useMountedStore,
  type Mounted,
} from '../helpers/h2fs.js';
import { removeTmpDirs } from '../helpers/tmp.js';

const LOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/helpers/write-load.mjs');

/** Checks that a load file holds "<n>:<k>\n" lines for k = 0, 1, 2... only. */
function checkPattern(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  if (text.length === 0) return;
  expect(text.endsWith('\n'), `${file} ends mid-line`).to.equal(true);
  expect(text.includes('\0'), `${file} has a hole of zeros`).to.equal(false);
  const lines = text.slice(0, -1).split('\n');
  const n = lines[0]!.split(':')[0];
  lines.forEach((l, k) => expect(l, `${file} line ${k}`).to.equal(`${n}:${k}`));
}

describe('crash safety: kill -9 of the mount daemon under load', function () {
  this.timeout(600_000);
  let load: ChildProcess | undefined;
  // Hooks run in order: the load stops before the store is torn down.
  after(() => load?.kill('SIGKILL'));
  const m = useMountedStore();

  for (let round = 1; round <= 5; round++) {
    it(`round ${round}: remounts with the last synctid intact and no half flush group`, async () => {
      const dir = path.join(m.mnt, `load${round}`);
      load = spawn(process.execPath, [LOAD, dir], { stdio: 'ignore' });
      let lastTid = '';
      let lastSum = '';
      const until = Date.now() + 1500 + Math.floor(Math.random() * 2500);
      while (Date.now() < until) {
        await sleep(300 + Math.floor(Math.random() * 300));
        lastTid = (await h2fsOk(['synctid', m.mnt])).trim();
        lastSum = tarMd5(`${m.mnt}/@@${lastTid}`);
      }
      // Let more changes accumulate past the synctid, then crash mid-stream.
      await sleep(Math.floor(Math.random() * 1200));
      killDaemon(m);
      load.kill('SIGKILL');
      load = undefined;
      expect(isMounted(m.mnt), 'dead mount still listed before remount').to.equal(true);

      await mount(m);
      expect(tarMd5(`${m.mnt}/@@${lastTid}`)).to.equal(lastSum);
      const files = fs.readdirSync(dir);
      expect(files.length).to.be.greaterThan(0);
      for (const f of files) checkPattern(path.join(dir, f));
      // Every earlier round's files are whole too.
      for (let r = 1; r < round; r++) {
        for (const f of fs.readdirSync(path.join(m.mnt, `load${r}`))) checkPattern(path.join(m.mnt, `load${r}`, f));
      }
    });
  }
});

describe('crash safety: fsync is durable', function () {
  this.timeout(120_000);
  const m: Mounted = { store: '', mnt: '' };
  before(async function () {
    requireFuse(this);
    Object.assign(m, await newStore());
    // No commit timer: only fsync (or unmount) commits here.
    await mount(m, ['-o', 'commit=3600']);
  });
  after(() => {
    cleanupMounts();
    removeTmpDirs();
  });

  function pattern(n: number, seed: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
    return b;
  }

  it('fsync(file): what it covered is there after kill -9; what came after it is not', async () => {
    const dir = path.join(m.mnt, 'd');
    fs.mkdirSync(dir);
    const payload = pattern(300_000, 3);
    const fd = fs.openSync(path.join(dir, 'kept'), 'w');
    fs.writeSync(fd, payload);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.writeFileSync(path.join(dir, 'lost'), 'never fsynced');
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['kept', 'lost']);

    killDaemon(m);
    await mount(m, ['-o', 'commit=3600']);
    expect(fs.readdirSync(dir)).to.deep.equal(['kept']);
    expect(fs.readFileSync(path.join(dir, 'kept')).equals(payload)).to.equal(true);
  });

  it('fsync(directory) is durable the same way', async () => {
    const dir = path.join(m.mnt, 'e');
    fs.mkdirSync(dir);
    const payload = pattern(70_000, 11);
    fs.writeFileSync(path.join(dir, 'kept'), payload);
    const dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    fs.writeFileSync(path.join(dir, 'lost'), 'never fsynced');

    killDaemon(m);
    await mount(m, ['-o', 'commit=3600']);
    expect(fs.readdirSync(dir)).to.deep.equal(['kept']);
    expect(fs.readFileSync(path.join(dir, 'kept')).equals(payload)).to.equal(true);
  });
});

describe('an outside unmount', function () {
  this.timeout(60_000);
  const m: Mounted = { store: '', mnt: '' };
  before(async function () {
    requireFuse(this);
    Object.assign(m, await newStore());
  });
  after(() => {
    cleanupMounts();
    removeTmpDirs();
  });

  for (const cmd of [['fusermount3', '-u'], ['umount']]) {
    it(`${cmd.join(' ')}: the daemon commits what was written and exits`, async () => {
      // No commit timer: only the daemon's final commit can keep the file.
      await mount(m, ['-o', 'commit=3600']);
      const pid = daemonPidOf(m.store);
      expect(pid, 'daemon pid').to.be.a('number');
      const name = `after-${cmd[0]}`;
      fs.writeFileSync(path.join(m.mnt, name), `written before ${cmd[0]}\n`);
      execFileSync(cmd[0]!, [...cmd.slice(1), m.mnt]);
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        await sleep(100);
        try { process.kill(pid!, 0); } catch { alive = false; }
      }
      // Its pid file is gone by now, so cleanupMounts() would not find it.
      if (alive) process.kill(pid!, 'SIGKILL');
      expect(alive, `daemon ${pid} still running 10 s after ${cmd.join(' ')}`).to.equal(false);
      expect(daemonPidOf(m.store), 'pid file left behind').to.equal(undefined);
      await mount(m, ['-o', 'commit=3600']);
      expect(fs.readFileSync(path.join(m.mnt, name), 'utf8')).to.equal(`written before ${cmd[0]}\n`);
      await umount(m);
    });
  }
});
