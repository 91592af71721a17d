/**
 * mirror-stream for real, over a real sshd on 127.0.0.1: a build-like load
 * checked at 10 moments, kill -9 and restart, -b measured on the wire by the
 * kernel's socket counters, and a fatal mismatch that does not retry.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cleanupMounts, h2fs, H2FS_BIN, h2fsOk, killAndWait, linkTarget, linkTid, mount, type Mounted, newStore, requireFuse, sh, sleep,
} from '../helpers/h2fs.js';
import { sshClientEnv, type Sshd, sshdUnavailable, startSshd } from '../helpers/sshd.js';
import { randomFile } from '../helpers/trees.js';
import { removeTmpDirs } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** Slave at its link and master at the same TID: the user's two sums. */
function sums(slaveLink: string, masterPfs: string): { tid: string; slave: string; master: string } {
  // One reading of the link for both sides (the slave may move under us).
  const dir = linkTarget(slaveLink);
  const tid = /@@(0x[0-9a-f]{16}):\d{5}$/.exec(dir)![1]!;
  const out = sh(`(cd -P "${dir}" && tar cf - . | md5sum) & (tar cf - -C "${masterPfs}/@@${tid}" . | md5sum); wait`);
  const [a, b] = out.trim().split('\n').map((l) => l.split(' ')[0]!);
  return { tid, slave: a!, master: b! };
}

function sessionBytes(store: string, link: string): number {
  const log = fs.readFileSync(path.join(store, 'h2fs.log'), 'utf8');
  const name = '/' + path.basename(link);
  return [...log.matchAll(/mirror-write session (.*): (\d+) bytes in/g)]
    .filter((m) => m[1] === name).reduce((n, m) => n + Number(m[2]), 0);
}

describe('mirror-stream', function () {
  this.timeout(900_000);
  let sshd: Sshd;
  let master: Mounted;
  let slave: Mounted;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];
  const remote = (p: string): string => `127.0.0.1:${sshd.port}:${p}`;

  function stream(args: string[]): { child: ChildProcess; out: () => string } {
    let out = '';
    const child = spawn(process.execPath, [H2FS_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    children.push(child);
    return { child, out: () => out };
  }

  async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
    const until = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  // A failed test must not leave its stream or load running into the next one.
  afterEach(async () => {
    for (const c of children) {
      await killAndWait(c);
    }
  });

  before(async function () {
    requireFuse(this, sshdUnavailable);
    sshd = await startSshd();
    env = sshClientEnv(sshd.clientHome);
    master = await newStore();
    slave = await newStore();
    await mount(master);
    await mount(slave);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    sshd?.stop();
    cleanupMounts();
    removeTmpDirs();
  });

  it('stops at once with status 1 and a clear line on a shared-uuid mismatch, without retrying', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/mm`]);
    await h2fsOk(['pfs-slave', `${slave.mnt}/mm`, 'shared-uuid=00000000-0000-4000-8000-000000000000']);
    const t0 = Date.now();
    const r = await h2fs(['-v', 'mirror-stream', `${master.mnt}/mm`, remote(`${slave.mnt}/mm`)], { env, timeoutMs: 30_000 });
    const secs = (Date.now() - t0) / 1000;
    expect(r.code).to.equal(1);
    expect(secs).to.be.lessThan(5);
    expect(r.stderr).to.match(/different shared-uuid/);
    expect(r.stderr).to.not.match(/Lost link/);
  });

  it('keeps the slave seconds behind a build-like load: 10 checks of slave == master@@TID', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/work`]);
    const w = `${master.mnt}/work`;
    const ms = stream(['-v', '-y', 'mirror-stream', w, remote(`${slave.mnt}/work`)]);
    // The load: untar a real tree, then create/append/rename/delete and compile, in a loop.
    const tree = fs.existsSync('/usr/share/perl5') ? '/usr/share/perl5' : '/usr/share/perl';
    const load = spawn('bash', ['-c', `
      set -e
      cd "${w}"
      tar cf - -C "${tree}" . | (mkdir src && cd src && tar xf -)
      mkdir -p build
      printf '#include <stdio.h>\\nint main(void){printf("%%d\\\\n", N);return 0;}\\n' > build/t.c
      i=0
      while true; do
        i=$((i+1))
        echo "line $i" >> build/log.txt
        head -c $((RANDOM % 20000)) /dev/urandom > "build/obj-$i.o"
        [ $((i % 3)) -eq 0 ] && mv "build/obj-$((i-1)).o" "build/renamed-$i.o"
        [ $((i % 5)) -eq 0 ] && rm -f "build/obj-$((i-2)).o"
        [ $((i % 7)) -eq 0 ] && gcc -DN=$i -o build/t build/t.c && ./build/t > build/t.out
        sleep 0.05
      done`], { stdio: 'ignore' });
    children.push(load);
    try {
      await waitFor(() => fs.existsSync(`${slave.mnt}/work`), 20_000, 'the slave link');
      let checks = 0;
      const tids = new Set<string>();
      while (checks < 10) {
        await sleep(1500);
        const s = sums(`${slave.mnt}/work`, w);
        if (s.tid === '0x0000000000000001') continue;
        expect(s.slave, `slave at ${s.tid}`).to.equal(s.master);
        tids.add(s.tid);
        checks++;
      }
      expect(tids.size, 'the slave moved between checks').to.be.greaterThan(5);
    } finally {
      load.kill('SIGKILL');
      await new Promise((r) => (load.exitCode !== null ? r(null) : load.once('exit', r)));
    }
    // Caught up after the load stops, then SIGINT ends it cleanly.
    const last = (await h2fsOk(['synctid', master.mnt])).trim();
    await waitFor(() => BigInt(linkTid(`${slave.mnt}/work`)) >= BigInt(last), 20_000, 'the slave to catch up');
    const end = sums(`${slave.mnt}/work`, w);
    expect(end.slave).to.equal(end.master);
    const code = await killAndWait(ms.child, 'SIGINT');
    expect(code, ms.out()).to.equal(0);
    expect(ms.out()).to.match(/Mirror-stream stopped: slave at 0x[0-9a-f]{16}/);
  });

  it('survives kill -9 ten times: always a whole TID, and < 1.2x the bytes of one run', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/k`]);
    const k = `${master.mnt}/k`;
    for (let i = 0; i < 48; i++) {
      randomFile(`${k}/part-${i}`, 4 * MiB);
      await h2fsOk(['synctid', master.mnt]);
    }
    const end = (await h2fsOk(['synctid', master.mnt])).trim();
    const single = Number(sh(`node "${H2FS_BIN}" mirror-read "${k}" | wc -c`).trim());
    expect(single).to.be.greaterThan(48 * 4 * MiB);
    const link = `${slave.mnt}/k`;
    for (let i = 0; i < 10; i++) {
      const ms = stream(['-y', '-b', '20m', 'mirror-stream', k, remote(link)]);
      await sleep(300 + Math.floor(Math.random() * 900));
      await killAndWait(ms.child);
      await sleep(300);
      if (!fs.existsSync(link) || linkTid(link) === '0x0000000000000001') continue;
      const s = sums(link, k);
      expect(s.slave, `slave at ${s.tid} after kill ${i + 1}`).to.equal(s.master);
    }
    const ms = stream(['-y', 'mirror-stream', k, remote(link)]);
    await waitFor(() => fs.existsSync(link) && linkTid(link) === end, 120_000, 'the slave to reach the end');
    expect(await killAndWait(ms.child, 'SIGINT')).to.equal(0);
    const s = sums(link, k);
    expect(s.slave).to.equal(s.master);
    await sleep(500);
    const total = sessionBytes(slave.store, link);
    console.log(`      kill -9 x10: ${total} bytes over all runs vs ${single} for one run (${(total / single).toFixed(3)}x)`);
    expect(total).to.be.lessThan(1.2 * single);
  });

  it('a new stream replaces a stale mirror-write session at once; -v on a log is quiet while idle', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/st`]);
    fs.writeFileSync(`${master.mnt}/st/a`, 'first\n');
    await h2fsOk(['synctid', master.mnt]);
    const link = `${slave.mnt}/st`;
    const first = stream(['-y', 'mirror-stream', `${master.mnt}/st`, remote(link)]);
    await waitFor(() => fs.existsSync(link) && BigInt(linkTid(link)) > 1n, 20_000, 'the first stream to sync');
    // A frozen source: its TCP connection and the slave's session stay up,
    // as after a network outage that sshd has not noticed.
    first.child.kill('SIGSTOP');
    try {
      fs.writeFileSync(`${master.mnt}/st/b`, 'second\n');
      const end = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
      const t0 = Date.now();
      const second = stream(['-v', 'mirror-stream', `${master.mnt}/st`, remote(link)]);
      await waitFor(() => BigInt(linkTid(link)) >= end, 15_000, `the second stream to take over\n${second.out()}`);
      console.log(`      stale session replaced: slave at the new TID ${Date.now() - t0} ms after the second stream started`);
      expect(second.out()).to.not.match(/Lost link/);
      // Idle now: a log gets a line per batch, not one per second.
      await sleep(1500);
      const idleFrom = second.out().length;
      await sleep(5000);
      const idleLines = second.out().slice(idleFrom).split('\n').filter(Boolean);
      expect(idleLines, 'lines printed while idle').to.deep.equal([]);
      fs.writeFileSync(`${master.mnt}/st/c`, 'third\n');
      const end2 = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
      await waitFor(() => BigInt(linkTid(link)) >= end2, 10_000, 'the next commit');
      await waitFor(() => /^Waiting +0x[0-9a-f]{16}\.\.0x[0-9a-f]{16} acked /m.test(second.out().slice(idleFrom)), 5_000, 'a line for the batch');
      const s = sums(link, `${master.mnt}/st`);
      expect(s.slave).to.equal(s.master);
      expect(await killAndWait(second.child, 'SIGINT')).to.equal(0);
      const log = fs.readFileSync(path.join(slave.store, 'h2fs.log'), 'utf8');
      expect(log).to.match(/a new session replaces the running one/);
    } finally {
      first.child.kill('SIGCONT');
    }
  });

  it('-b 1m holds 1 MiB/s on the wire (kernel counters), within 10%, no second above 1.5 MiB', async () => {
    await h2fsOk(['pfs-master', `${master.mnt}/bw`]);
    randomFile(`${master.mnt}/bw/data`, 48 * MiB);
    await h2fsOk(['synctid', master.mnt]);
    const ms = stream(['-y', '-b', '1m', 'mirror-stream', `${master.mnt}/bw`, remote(`${slave.mnt}/bw`)]);
    const samples: Array<{ t: number; bytes: number }> = [];
    const received = (): number => {
      const out = sh(`ss -tinH state established '( sport = :${sshd.port} )' || true`);
      return [...out.matchAll(/bytes_received:(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const t0 = Date.now();
    while (Date.now() - t0 < 32_000) {
      samples.push({ t: Date.now() - t0, bytes: received() });
      await sleep(100);
    }
    await killAndWait(ms.child, 'SIGINT');
    // Skip the connection set-up; measure 30 s of bulk.
    const from = samples.find((s) => s.t >= 2000)!;
    const to = samples[samples.length - 1]!;
    const avg = (to.bytes - from.bytes) / ((to.t - from.t) / 1000);
    let worst = 0;
    for (const a of samples) {
      const b = samples.find((s) => s.t >= a.t + 1000);
      if (a.t < 2000 || !b) continue;
      worst = Math.max(worst, (b.bytes - a.bytes) / ((b.t - a.t) / 1000));
    }
    console.log(`      -b 1m: average ${(avg / MiB).toFixed(3)} MiB/s over ${((to.t - from.t) / 1000).toFixed(1)} s, worst second ${(worst / MiB).toFixed(3)} MiB`);
    expect(avg).to.be.within(0.9 * MiB, 1.1 * MiB);
    expect(worst).to.be.at.most(1.5 * MiB);
  });
});
