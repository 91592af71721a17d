/**
 * mirror-stream across a network that fails: the slave's sshd runs in its own
 * network namespace, joined to ours by a veth pair that the test takes down
 * for 20 s in the middle of a bulk copy and again while streaming. No user
 * action: the stream reports the outage, recovers within 60 s of the link
 * returning, and the slave converges.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cleanupMounts, H2FS_BIN, h2fsOk, killAndWait, mount, newStore, requireFuse, sh, type Mounted } from '../helpers/h2fs.js';
import { sshClientEnv, sshdUnavailable } from '../helpers/sshd.js';
import { randomFile } from '../helpers/trees.js';
import { removeTmpDirs, tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function linkTid(link: string): bigint {
  const m = /^@@(0x[0-9a-f]{16}):\d{5}$/.exec(fs.readlinkSync(link));
  return m ? BigInt(m[1]!) : 0n;
}

describe('mirror-stream across network faults (network namespaces)', function () {
  this.timeout(900_000);
  const tag = String(process.pid % 10000);
  const ns = `h2fs-slave-${tag}`;
  const vethHost = `h2a${tag}`;
  const vethNs = `h2b${tag}`;
  const net = `10.213.${Number(tag) % 250}`;
  const slaveIp = `${net}.2`;
  let master: Mounted;
  let slave: Mounted;
  let sshdDir = '';
  let ms: ChildProcess | undefined;
  let out = '';
  let env: NodeJS.ProcessEnv = {};

  function startSshd(): void {
    spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', path.join(sshdDir, 'sshd_config')],
      { stdio: 'ignore' });
  }

  async function sshdListening(): Promise<void> {
    await waitFor(() => fs.existsSync(path.join(sshdDir, 'sshd.pid')), 10_000, 'sshd to start');
  }

  function killSshd(): void {
    // The listener and every session it forked (each runs a remote h2fs,
    // which dies with its session's pipes).
    let pid = 0;
    try { pid = Number(fs.readFileSync(path.join(sshdDir, 'sshd.pid'), 'utf8').trim()); } catch { /* not running */ }
    if (pid > 0) {
      try { execFileSync('pkill', ['-9', '-P', String(pid)]); } catch { /* no sessions */ }
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    fs.rmSync(path.join(sshdDir, 'sshd.pid'), { force: true });
  }

  async function waitFor(cond: () => boolean, ms2: number, what: string): Promise<number> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms2) throw new Error(`timed out after ${ms2} ms waiting for ${what}\n${out}`);
      await sleep(100);
    }
    return Date.now() - t0;
  }

  before(async function () {
    requireFuse(this, () => sshdUnavailable() ?? (fs.existsSync('/usr/sbin/ip') || fs.existsSync('/sbin/ip') ? undefined : 'iproute2 is missing'));
    ip('netns', 'add', ns);
    ip('link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs);
    ip('link', 'set', vethNs, 'netns', ns);
    ip('addr', 'add', `${net}.1/30`, 'dev', vethHost);
    ip('link', 'set', vethHost, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${slaveIp}/30`, 'dev', vethNs);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', vethNs, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    sshdDir = tmpDir('h2fs-nsd-');
    const home = path.join(sshdDir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.mkdirSync('/run/sshd', { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshdDir, 'hostkey')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(home, '.ssh/id_ed25519')]);
    fs.writeFileSync(path.join(sshdDir, 'sshd_config'), [
      'Port 22', `ListenAddress ${slaveIp}`, `HostKey ${sshdDir}/hostkey`, `PidFile ${sshdDir}/sshd.pid`,
      `AuthorizedKeysFile ${home}/.ssh/id_ed25519.pub`, 'PermitRootLogin yes', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'LogLevel ERROR',
    ].join('\n') + '\n');
    const pub = fs.readFileSync(path.join(sshdDir, 'hostkey.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    fs.writeFileSync(path.join(home, '.ssh/known_hosts'), `${slaveIp} ${pub}\n`);
    env = sshClientEnv(home);
    master = await newStore();
    slave = await newStore();
    await mount(master);
    await mount(slave);
    // `ip netns exec` gives sshd its own copy of the mount table: mount first.
    startSshd();
    await sshdListening();
    await h2fsOk(['pfs-master', `${master.mnt}/obj`]);
    for (let i = 0; i < 12; i++) {
      randomFile(`${master.mnt}/obj/bulk-${i}`, 4 * MiB);
      await h2fsOk(['synctid', master.mnt]);
    }
  });

  after(() => {
    ms?.kill('SIGKILL');
    killSshd();
    cleanupMounts();
    try { ip('link', 'del', vethHost); } catch { /* gone with the namespace */ }
    try { ip('netns', 'del', ns); } catch { /* not created */ }
    removeTmpDirs();
  });

  it('reports a 20 s outage during the bulk copy, recovers within 60 s of the link returning, converges', async () => {
    ms = spawn(process.execPath, [H2FS_BIN, '-v', '-y', '-b', '1m', 'mirror-stream', `${master.mnt}/obj`, `${slaveIp}:${slave.mnt}/pfs1`],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    ms.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    ms.stderr!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    const link = `${slave.mnt}/pfs1`;
    await waitFor(() => fs.existsSync(link) && linkTid(link) > 1n, 60_000, 'the bulk copy to make progress');
    ip('link', 'set', vethHost, 'down');
    await sleep(20_000);
    expect(out, 'the outage is reported').to.match(/Lost link: /);
    const before = linkTid(link);
    ip('link', 'set', vethHost, 'up');
    const end = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
    const restored = await waitFor(() => /Link restored/.test(out), 60_000, 'the stream to recover');
    const took = restored + await waitFor(() => linkTid(link) >= end, 120_000, 'the slave to converge');
    console.log(`      bulk: link back, stream recovered ${(restored / 1000).toFixed(1)} s later, slave converged at ${(took / 1000).toFixed(1)} s (from ${before.toString(16)})`);
    expect(took).to.be.lessThan(60_000 + 30_000);
  });

  it('survives a 20 s outage while streaming and converges', async () => {
    const link = `${slave.mnt}/pfs1`;
    out = '';
    ip('link', 'set', vethHost, 'down');
    fs.writeFileSync(`${master.mnt}/obj/during-outage`, 'written while the link was down\n');
    await sleep(20_000);
    expect(out).to.match(/Lost link: /);
    ip('link', 'set', vethHost, 'up');
    const end = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
    const took = await waitFor(() => linkTid(link) >= end, 120_000, 'the slave to converge after the outage');
    console.log(`      streaming: link back, slave converged ${(took / 1000).toFixed(1)} s later`);
    expect(took).to.be.lessThan(60_000 + 30_000);

    const t = `0x${linkTid(link).toString(16).padStart(16, '0')}`;
    expect(sh(`cd -P "${link}" && tar cf - . | md5sum`)).to.equal(sh(`tar cf - -C "${master.mnt}/obj/@@${t}" . | md5sum`));
  });

  for (const when of ['in the middle of a batch', 'while waiting for commits'] as const) {
    it(`survives sshd killed ${when} and restarted 20 s later, and converges`, async () => {
      const link = `${slave.mnt}/pfs1`;
      out = '';
      if (when === 'in the middle of a batch') {
        // 6 MiB at -b 1m: about 6 s on the wire; the kill lands 2 s in. The
        // 1 s commit timer may split the file over two TIDs and the first
        // may already be on the slave: what must still be on the wire is the
        // TID that completes the file.
        randomFile(`${master.mnt}/obj/batch-${Date.now()}`, 6 * MiB);
        const tEnd = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
        await sleep(2000);
        expect(linkTid(link) < tEnd, 'the batch is still on the wire').to.equal(true);
      }
      killSshd();
      const lost = await waitFor(() => /Lost link: /.test(out), 30_000, 'the stream to report the lost link');
      fs.writeFileSync(`${master.mnt}/obj/while-sshd-down`, `sshd was down ${when}\n`);
      await sleep(20_000);
      startSshd();
      await sshdListening();
      const end = BigInt((await h2fsOk(['synctid', master.mnt])).trim());
      const took = await waitFor(() => linkTid(link) >= end, 120_000, 'the slave to converge after sshd came back');
      console.log(`      sshd killed ${when}: reported after ${(lost / 1000).toFixed(1)} s, converged ${(took / 1000).toFixed(1)} s after restart`);
      expect(took).to.be.lessThan(60_000);
      expect(out).to.match(/Link restored/);
      const t = `0x${linkTid(link).toString(16).padStart(16, '0')}`;
      expect(sh(`cd -P "${link}" && tar cf - . | md5sum`)).to.equal(sh(`tar cf - -C "${master.mnt}/obj/@@${t}" . | md5sum`));
    });
  }

  it('stops at a TID boundary on SIGINT and exits 0', async () => {
    expect(await killAndWait(ms!, 'SIGINT')).to.equal(0);
    expect(out).to.match(/Mirror-stream stopped: slave at 0x[0-9a-f]{16}/);
  });
});
