/**
 * Faults in mirroring, for real: a 2 GiB initial copy over SSH killed 20
 * times (invariant 4), and 200 damaged streams fed to `h2fs mirror-write`
 * (invariant 6).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  cleanupMounts, h2fs, H2FS_BIN, h2fsOk, killAndWait, linkTarget, linkTid, mount, type Mounted, newStore, requireFuse, sh, sleep, tarMd5,
} from '../helpers/h2fs.js';
import { sshClientEnv, type Sshd, sshdUnavailable, startSshd } from '../helpers/sshd.js';
import { randomFile } from '../helpers/trees.js';
import { removeTmpDirs } from '../helpers/tmp.js';
import { encodeFrame, FrameDecoder, MREC, type Frame } from '../../src/mirror/index.js';

const MiB = 1024 * 1024;

/** Bytes each mirror-write session took in, from the slave daemon's log. */
function sessionBytes(store: string): number[] {
  const log = fs.readFileSync(path.join(store, 'h2fs.log'), 'utf8');
  return [...log.matchAll(/mirror-write session .*: (\d+) bytes in/g)].map((m) => Number(m[1]));
}

describe('mirroring under faults', function () {
  this.timeout(1_200_000);
  let sshd: Sshd;
  let master: Mounted;
  let slave: Mounted;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    requireFuse(this, sshdUnavailable);
    sshd = await startSshd();
    env = sshClientEnv(sshd.clientHome);
    master = await newStore();
    slave = await newStore();
    // Small flush groups: 16 MiB restart points in the 2 GiB copy.
    await mount(master, ['-o', 'dirty_max=16,commit=3600']);
    await mount(slave);
  });

  after(() => {
    sshd?.stop();
    cleanupMounts();
    removeTmpDirs();
  });

  it('a 2 GiB initial copy killed 20 times: always a whole TID that matches, and < 1.2x the bytes of one copy', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/big`]);
    for (let i = 0; i < 16; i++) randomFile(`${master.mnt}/big/part-${String(i).padStart(2, '0')}`, 128 * MiB);
    const end = (await h2fsOk(['synctid', master.mnt])).trim();
    const single = Number(sh(`node "${H2FS_BIN}" mirror-read "${master.mnt}/big" 2>/dev/null | wc -c`).trim());
    expect(single).to.be.greaterThan(2048 * MiB);
    const dst = `127.0.0.1:${sshd.port}:${slave.mnt}/big`;
    const seen = new Set<string>();
    for (let k = 0; k < 20; k++) {
      const child = spawn(process.execPath, [H2FS_BIN, '-y', 'mirror-copy', `${master.mnt}/big`, dst],
        { env: { ...process.env, ...env }, stdio: 'ignore' });
      await sleep(600 + Math.floor(Math.random() * 1000));
      await killAndWait(child);
      // Let the slave daemon notice the cut link and settle.
      await sleep(300);
      if (!fs.existsSync(`${slave.mnt}/big`)) continue;
      const t = linkTid(`${slave.mnt}/big`);
      if (t === '0x0000000000000001' || seen.has(t)) continue;
      seen.add(t);
      expect(BigInt(t) <= BigInt(end)).to.equal(true);
      const dir = linkTarget(`${slave.mnt}/big`);
      if (!dir.includes(`@@${t}:`)) continue; // moved under us: check it on the next round
      const [a, b] = sh(`(cd -P "${dir}" && tar cf - . | md5sum) & ` +
        `(tar cf - -C "${master.mnt}/big/@@${t}" . | md5sum); wait`).trim().split('\n').map((l) => l.split(' ')[0]);
      expect(a, `slave at ${t}`).to.equal(b);
    }
    expect(seen.size, 'distinct whole TIDs seen across the kills').to.be.at.least(3);
    const r = await h2fs(['-v', 'mirror-copy', `${master.mnt}/big`, dst], { env });
    expect(r.code, r.stderr).to.equal(0);
    expect(linkTid(`${slave.mnt}/big`)).to.equal(end);
    expect(sh(`cd -P "${slave.mnt}/big" && tar cf - . | md5sum`)).to.equal(sh(`tar cf - -C "${master.mnt}/big/@@${end}" . | md5sum`));
    const total = sessionBytes(slave.store).reduce((x, y) => x + y, 0);
    console.log(`      ${seen.size} whole TIDs seen; ${total} bytes over all runs vs ${single} for one copy (${(total / single).toFixed(3)}x)`);
    expect(total).to.be.lessThan(1.2 * single);
  });

  describe('200 damaged streams', () => {
    let good: Buffer;
    let frames: Buffer[];
    let syncEnd = 0;
    let beg = '';
    let end = '';
    let beforeSum = '';

    before(async () => {
      await h2fsOk(['pfs-master', `${master.mnt}/src`]);
      fs.writeFileSync(`${master.mnt}/src/seed`, 'seed\n');
      await h2fsOk(['synctid', master.mnt]);
      await h2fsOk(['-y', 'mirror-copy', `${master.mnt}/src`, `${slave.mnt}/dst`]);
      beg = linkTid(`${slave.mnt}/dst`);
      beforeSum = tarMd5(`${slave.mnt}/@@${beg}:${fs.readlinkSync(`${slave.mnt}/dst`).slice(-5)}`);
      // One TID of changes (the master commits only on synctid here).
      for (let i = 0; i < 12; i++) randomFile(`${master.mnt}/src/f${i}`, 1000 + i * 9000);
      fs.mkdirSync(`${master.mnt}/src/dir`);
      fs.rmSync(`${master.mnt}/src/seed`);
      end = (await h2fsOk(['synctid', master.mnt])).trim();
      good = Buffer.from(sh(`node "${H2FS_BIN}" mirror-read "${master.mnt}/src" ${beg} 2>/dev/null | base64 -w0`), 'base64');
      const dec = new FrameDecoder();
      const parsed: Frame[] = [];
      dec.on('data', (f: Frame) => parsed.push(f));
      dec.end(good);
      await new Promise((r) => dec.on('end', r));
      frames = parsed.map((f) => encodeFrame(f));
      expect(Buffer.concat(frames).equals(good)).to.equal(true);
      const syncs = parsed.filter((f) => f.type === MREC.SYNC);
      expect(syncs, 'a single-TID stream').to.have.length(1);
      const syncIdx = parsed.findIndex((f) => f.type === MREC.SYNC);
      syncEnd = frames.slice(0, syncIdx + 1).reduce((n, b) => n + b.length, 0);
    });

    function variants(): Array<{ what: string; bytes: Buffer }> {
      const out: Array<{ what: string; bytes: Buffer }> = [];
      const rnd = (n: number): number => Math.floor(Math.random() * n);
      // Damage strictly before the end of the SYNC frame: nothing may apply.
      for (let i = 0; i < 70; i++) {
        const at = rnd(syncEnd - 1) + 1;
        out.push({ what: `truncated at ${at}`, bytes: good.subarray(0, at) });
      }
      for (let i = 0; i < 70; i++) {
        const at = rnd(syncEnd);
        const b = Buffer.from(good);
        b[at] = b[at]! ^ (1 + rnd(255));
        out.push({ what: `byte ${at} flipped`, bytes: b });
      }
      // Reorders that cross the stream's structure (records of one TID may
      // legitimately come in any order among themselves).
      const n = frames.length;
      const syncIdx = n - 2;
      for (let i = 0; i < 40; i++) {
        const rec = 2 + rnd(syncIdx - 2);
        const f = [...frames];
        if (i % 3 === 0) {
          [f[rec], f[syncIdx]] = [f[syncIdx]!, f[rec]!];
          out.push({ what: `record ${rec} swapped with the SYNC`, bytes: Buffer.concat(f) });
        } else if (i % 3 === 1) {
          [f[rec], f[1]] = [f[1]!, f[rec]!];
          out.push({ what: `record ${rec} swapped with the BATCH`, bytes: Buffer.concat(f) });
        } else {
          const [moved] = f.splice(rec, 1);
          f.splice(syncIdx, 0, moved!);
          out.push({ what: `record ${rec} moved after the SYNC`, bytes: Buffer.concat(f) });
        }
      }
      const hello = (patch: (m: Record<string, unknown>) => void): Buffer => {
        const dec = new FrameDecoder();
        let h: Frame | undefined;
        dec.on('data', (f: Frame) => { h ??= f; });
        dec.write(frames[0]!);
        if (!h || h.type !== MREC.HELLO) throw new Error('no HELLO');
        const msg = { ...h.msg } as Record<string, unknown>;
        patch(msg);
        return Buffer.concat([encodeFrame({ type: MREC.HELLO, msg: msg as unknown as typeof h.msg }), ...frames.slice(1)]);
      };
      for (let i = 0; i < 10; i++) {
        out.push({ what: 'foreign shared-uuid', bytes: hello((m) => { m.sharedUuid = `${rnd(9)}0000000-0000-4000-8000-000000000000`; }) });
      }
      for (let i = 0; i < 10; i++) out.push({ what: 'wrong version', bytes: hello((m) => { m.version = 2 + i; }) });
      return out;
    }

    it('refuses each with one clear line and status != 0; the slave stays exactly where it was', async () => {
      const vs = variants();
      expect(vs).to.have.length(200);
      const link = `${slave.mnt}/dst`;
      const pfsNum = fs.readlinkSync(link).slice(-5);
      const lanes = 4;
      let i = 0;
      const fails: string[] = [];
      await Promise.all(Array.from({ length: lanes }, async () => {
        for (;;) {
          const v = vs[i++];
          if (!v) return;
          // One mirror-write per slave at a time: lanes wait their turn via H2_BUSY retry.
          let r;
          for (;;) {
            r = await h2fs(['mirror-write', link], { input: v.bytes });
            if (!/already has a mirror-write running/.test(r.stderr)) break;
            await sleep(20);
          }
          const lines = r.stderr.trim().split('\n');
          if (r.code === 0) fails.push(`${v.what}: accepted`);
          else if (!/^h2fs: mirror-write .+: .+/.test(lines[0] ?? '') || lines.slice(1).some((l) => !l.startsWith('hint: '))) {
            fails.push(`${v.what}: unclear error: ${r.stderr}`);
          } else if (/\n\s+at /.test(r.stderr)) {
            fails.push(`${v.what}: stack trace`);
          }
        }
      }));
      expect(fails, fails.slice(0, 5).join('\n')).to.deep.equal([]);
      expect(linkTid(link)).to.equal(beg);
      expect(tarMd5(`${slave.mnt}/@@${beg}:${pfsNum}`)).to.equal(beforeSum);
      // And the good stream still applies.
      const ok = await h2fs(['mirror-write', link], { input: good });
      expect(ok.code, ok.stderr).to.equal(0);
      expect(linkTid(link)).to.equal(end);
      expect(sh(`cd -P "${link}" && tar cf - . | md5sum`)).to.equal(sh(`tar cf - -C "${master.mnt}/src/@@${end}" . | md5sum`));
    });
  });
});
