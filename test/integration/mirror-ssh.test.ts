/**
 * Mirroring for real: two mounted stores, a real OpenSSH sshd on 127.0.0.1,
 * mirror-copy to `127.0.0.1:PORT:PATH`, and the user's check,
 * `cd -P slave && tar cf - . | md5sum` against the master's `@@TID` view.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import {
  cleanupMounts, h2fs, H2FS_BIN, h2fsOk, linkTid, mount, type Mounted, newStore, requireFuse, sh, tarMd5,
} from '../helpers/h2fs.js';
import { sshClientEnv, type Sshd, sshdUnavailable, startSshd } from '../helpers/sshd.js';
import { buildRichTree, randomFile } from '../helpers/trees.js';
import { removeTmpDirs } from '../helpers/tmp.js';

const GiB = 1024 * 1024 * 1024;

function slaveMd5(link: string): string {
  return sh(`cd -P "${link}" && tar cf - . | md5sum`).split(' ')[0]!;
}

describe('mirroring over SSH', function () {
  this.timeout(900_000);
  let sshd: Sshd;
  /** The same host with stream-local forwarding off: every far end is a remote h2fs. */
  let sshdExec: Sshd;
  let envExec: NodeJS.ProcessEnv;
  let master: Mounted;
  let slave: Mounted;
  let env: NodeJS.ProcessEnv;
  const remote = (p: string): string => `127.0.0.1:${sshd.port}:${p}`;

  before(async function () {
    requireFuse(this, sshdUnavailable);
    sshd = await startSshd();
    env = sshClientEnv(sshd.clientHome);
    sshdExec = await startSshd({ extra: ['AllowStreamLocalForwarding no'] });
    envExec = sshClientEnv(sshdExec.clientHome);
    master = await newStore();
    slave = await newStore();
    await mount(master);
    await mount(slave);
    await h2fsOk(['pfs-master', `${master.mnt}/obj`]);
    // A small PFS for the tests that only need some records.
    await h2fsOk(['pfs-master', `${master.mnt}/small`]);
    buildRichTree(`${master.mnt}/small/tree`, 200_000);
  });

  after(() => {
    sshd?.stop();
    sshdExec?.stop();
    cleanupMounts();
    removeTmpDirs();
  });

  let firstTid = '';
  let firstSum = '';

  it('the story: after mirror-copy over SSH, slave tar | md5sum equals master@@TID (every kind of file, 0 B to 1 GiB)', async () => {
    buildRichTree(`${master.mnt}/obj/tree`, GiB);
    const t = (await h2fsOk(['synctid', master.mnt])).trim();
    const r = await h2fs(['-vv', '-y', 'mirror-copy', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/Mirror-copy .* bytes on the wire/);
    // A first copy is read in mirror-copy's own process; the daemon's reader, let go, logs no failure.
    expect(r.stderr).to.match(/a first copy: reading .* in this process/);
    expect(fs.readFileSync(`${master.store}/h2fs.log`, 'utf8')).to.not.match(/mirror-read of PFS/);
    expect(linkTid(`${slave.mnt}/pfs1`)).to.equal(t);
    expect(sh(`cd -P "${slave.mnt}/pfs1" && pwd`).trim()).to.equal(`${slave.mnt}/@@${t}:00001`);
    const sum = tarMd5(`${master.mnt}/obj/@@${t}`);
    expect(slaveMd5(`${slave.mnt}/pfs1`)).to.equal(sum);
    // Spot checks the sum alone would not explain.
    const s = `${slave.mnt}/pfs1/tree`;
    expect(fs.statSync(`${s}/hardlink-to-4096`).ino).to.equal(fs.statSync(`${s}/size-4096`).ino);
    expect(fs.statSync(`${s}/size-4096`).nlink).to.equal(3);
    expect(fs.readlinkSync(`${s}/dangling`)).to.equal('/does/not/exist');
    expect(fs.statSync(`${s}/fifo`).isFIFO()).to.equal(true);
    expect(fs.statSync(`${s}/m4755`).mode & 0o7777).to.equal(0o4755);
    expect(fs.statSync(`${s}/owned`).uid).to.equal(1234);
    expect(fs.statSync(`${s}/t-2100`).mtimeMs).to.equal(4102444800500);
    expect(sh(`python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.color').decode())" "${s}/size-1"`).trim()).to.equal('blue');
    expect(fs.statSync(`${s}/sparse`).size).to.equal(100 * 1048576 + 'tail after the hole'.length);
    firstTid = t;
    firstSum = sum;
  });

  it('incremental: 100 changes ship only themselves, within 2x of their data plus metadata', async () => {
    const root = `${master.mnt}/obj/changes`;
    fs.mkdirSync(root);
    for (let i = 0; i < 40; i++) randomFile(`${root}/base-${i}`, 2048);
    await h2fsOk(['synctid', master.mnt]);
    let r = await h2fs(['mirror-copy', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env });
    expect(r.code, r.stderr).to.equal(0);

    let dataBytes = 0;
    let changes = 0;
    // An append travels as a PATCH of the 1000 new bytes against the block the slave has.
    for (let i = 0; i < 20; i++, changes++) { fs.appendFileSync(`${root}/base-${i}`, Buffer.alloc(1000, 65 + i)); dataBytes += 1000; }
    for (let i = 0; i < 30; i++, changes++) { randomFile(`${root}/new-${i}`, 3000); dataBytes += 3000; }
    for (let i = 20; i < 30; i++, changes++) fs.rmSync(`${root}/base-${i}`);
    for (let i = 30; i < 40; i++, changes++) fs.renameSync(`${root}/base-${i}`, `${root}/renamed-${i}`);
    for (let i = 0; i < 30; i++, changes++) fs.chmodSync(`${root}/new-${i}`, 0o640);
    expect(changes).to.equal(100);
    const t2 = (await h2fsOk(['synctid', master.mnt])).trim();
    r = await h2fs(['-vv', 'mirror-copy', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr, 'a round is read by the daemon').to.not.match(/in this process/);
    const wire = Number(/(\d+) bytes on the wire/.exec(r.stderr)![1]);
    const metadataAllowance = changes * 1024;
    console.log(`      100 changes: ${wire} bytes on the wire for ${dataBytes} bytes of data (+${metadataAllowance} metadata allowance)`);
    expect(wire).to.be.greaterThan(dataBytes);
    expect(wire).to.be.lessThan(2 * (dataBytes + metadataAllowance));
    expect(linkTid(`${slave.mnt}/pfs1`)).to.equal(t2);
    expect(slaveMd5(`${slave.mnt}/pfs1`)).to.equal(tarMd5(`${master.mnt}/obj/@@${t2}`));
  });

  it('history travels: the slave shows older TIDs exactly as the master does', () => {
    expect(tarMd5(`${slave.mnt}/@@${firstTid}:00001`)).to.equal(firstSum);
    expect(tarMd5(`${slave.mnt}/@@${firstTid}:00001/tree`)).to.equal(tarMd5(`${master.mnt}/obj/@@${firstTid}/tree`));
  });

  it('mirror-copy carries what was written just before it, as HAMMER\'s mirror-read syncs first', async () => {
    // A master whose flush group would sit for an hour: only the mirror-read's own sync can commit it.
    const lazy = await newStore();
    await mount(lazy, ['-o', 'commit=3600']);
    await h2fsOk(['pfs-master', `${lazy.mnt}/obj`]);
    randomFile(`${lazy.mnt}/obj/fresh.bin`, 300_000);
    const body = fs.readFileSync(`${lazy.mnt}/obj/fresh.bin`);
    fs.mkdirSync(`${lazy.mnt}/obj/dir`);
    fs.symlinkSync('fresh.bin', `${lazy.mnt}/obj/dir/link`);
    const r = await h2fs(['-y', 'mirror-copy', `${lazy.mnt}/obj`, remote(`${slave.mnt}/lazy1`)], { env });
    expect(r.code, r.stderr).to.equal(0);
    expect(fs.readFileSync(`${slave.mnt}/lazy1/fresh.bin`).equals(body)).to.equal(true);
    expect(fs.readlinkSync(`${slave.mnt}/lazy1/dir/link`)).to.equal('fresh.bin');
    // Nothing was left behind uncommitted: a synctid now finds the TID the slave has.
    expect(linkTid(`${slave.mnt}/lazy1`)).to.equal((await h2fsOk(['synctid', lazy.mnt])).trim());
  });

  it('refuses an unknown host key by default; --accept-new records it', async () => {
    const home = path.join(path.dirname(sshd.clientHome), 'home2');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.copyFileSync(path.join(sshd.clientHome, '.ssh/id_ed25519'), path.join(home, '.ssh/id_ed25519'));
    const e2 = { ...env, HOME: home };
    const r = await h2fs(['mirror-copy', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env: e2 });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.match(/^h2fs: host key for \[127\.0\.0\.1\]:\d+ is not in .*known_hosts; refusing to connect$/);
    const ok = await h2fs(['mirror-copy', '--accept-new', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env: e2 });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(fs.readFileSync(path.join(home, '.ssh/known_hosts'), 'utf8')).to.include(`[127.0.0.1]:${sshd.port} ${sshd.hostPub}`);
    // A changed key is refused even with --accept-new.
    fs.writeFileSync(path.join(home, '.ssh/known_hosts'),
      `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1Y2t5bnVtYmVyc2V2ZW5zZXZlbnNldmVuc2V2ZW4=\n`);
    const changed = await h2fs(['mirror-copy', '--accept-new', `${master.mnt}/obj`, remote(`${slave.mnt}/pfs1`)], { env: e2 });
    expect(changed.code).to.equal(1);
    expect(changed.stderr).to.match(/host key for .* has CHANGED/);
  });

  it('a failure on the far host reaches the local command as one line (the far end is only a pipe)', async () => {
    await h2fsOk(['-y', 'mirror-copy', `${master.mnt}/small`, remote(`${slave.mnt}/far-errors`)], { env });
    const cases: Array<{ args: string[]; want: RegExp }> = [
      // The far mirror-write cannot start: its path is nowhere.
      { args: ['-y', 'mirror-copy', `${master.mnt}/small`, remote('/nonexistent/h2fs-test/s')],
        want: /^h2fs: mirror-write: \/nonexistent\/h2fs-test\/s: no such directory \/nonexistent\/h2fs-test$/ },
      // The far daemon refuses the stream: a slave of another master.
      { args: ['mirror-copy', `${master.mnt}/obj`, remote(`${slave.mnt}/far-errors`)],
        want: /^h2fs: .*shared-uuid/ },
      // The far mirror-read cannot start: its path is nowhere.
      { args: ['-y', 'mirror-copy', remote('/nonexistent/h2fs-test/m'), `${slave.mnt}/far-errors2`],
        want: /^h2fs: mirror-read: \/nonexistent\/h2fs-test\/m: no such directory \/nonexistent\/h2fs-test$/ },
    ];
    for (const c of cases) {
      const r = await h2fs(c.args, { env, timeoutMs: 60_000 });
      expect(r.code, `${c.args.join(' ')}: ${r.stderr}`).to.equal(1);
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('hint: '));
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0], `${c.args.join(' ')}: ${lines[0]}`).to.match(c.want);
    }
    // Nothing was created or moved by the refused copies.
    expect(fs.existsSync(`${slave.mnt}/far-errors2`)).to.equal(false);
  });

  it('a far host that does not answer (nothing listening, no such name) is one line and status 1, and moves nothing', async () => {
    // A port that was free a moment ago: bound, then closed.
    const free = Number(sh(`node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'`).trim());
    const cases: Array<{ dst: string; want: RegExp }> = [
      { dst: `127.0.0.1:${free}:${slave.mnt}/unreached`, want: new RegExp(`^h2fs: ssh 127\\.0\\.0\\.1:${free}: connect ECONNREFUSED 127\\.0\\.0\\.1:${free}$`) },
      { dst: `no-such-host.invalid:${slave.mnt}/unreached`, want: /^h2fs: ssh no-such-host\.invalid:22: getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid$/ },
    ];
    for (const c of cases) {
      const r = await h2fs(['-y', 'mirror-copy', `${master.mnt}/small`, c.dst], { env, timeoutMs: 60_000 });
      expect(r.code, `${c.dst}: ${r.stderr}`).to.equal(1);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr.trim(), c.dst).to.match(c.want);
    }
    expect(fs.existsSync(`${slave.mnt}/unreached`)).to.equal(false);
  });

  it('passes a hostile path to the far end as one argument and runs nothing else (remote h2fs and direct)', async () => {
    const name = `we ird 'q' "dq" ; $(touch h2fs-pwned) \`touch h2fs-pwned2\` & |`;
    const ways = [
      { how: 'remote h2fs', name: `${name} x`, e: envExec, port: sshdExec.port, home: sshdExec.clientHome },
      { how: 'direct', name: `${name} d`, e: env, port: sshd.port, home: sshd.clientHome },
    ];
    for (const w of ways) {
      for (const f of ['/root/h2fs-pwned', '/root/h2fs-pwned2']) fs.rmSync(f, { force: true });
      const r = await h2fs(['-y', 'mirror-copy', `${master.mnt}/small`, `127.0.0.1:${w.port}:${slave.mnt}/${w.name}`], { env: w.e });
      expect(r.code, `${w.how}: ${r.stderr}`).to.equal(0);
      expect(fs.readdirSync(slave.mnt)).to.include(w.name);
      expect(fs.readlinkSync(`${slave.mnt}/${w.name}`)).to.match(/^@@0x[0-9a-f]{16}:\d{5}$/);
      for (const f of ['/root/h2fs-pwned', '/root/h2fs-pwned2', `${w.home}/h2fs-pwned`]) {
        expect(fs.existsSync(f), `${w.how}: ${f}`).to.equal(false);
      }
    }
  });

  it('joins the far daemon without running h2fs there (stream-local channels via the host\'s mirror router), either way round', async () => {
    const noH2fs = ['--remote-h2fs', '/nonexistent/h2fs-test/no-h2fs-here'];
    const router = fs.statSync('/run/h2fs/mirror.sock');
    expect(router.isSocket() && (router.mode & 0o777) === 0o600, 'the router socket, root\'s alone').to.equal(true);
    fs.writeFileSync(`${master.mnt}/small/direct.txt`, 'pushed without a far h2fs\n');
    const push = await h2fs(['-y', '-vv', 'mirror-copy', ...noH2fs, `${master.mnt}/small`, remote(`${slave.mnt}/direct`)], { env });
    expect(push.code, push.stderr).to.equal(0);
    expect(push.stderr).to.include('joined the far daemon directly (no remote h2fs)');
    const t = linkTid(`${slave.mnt}/direct`);
    expect(slaveMd5(`${slave.mnt}/direct`)).to.equal(tarMd5(`${master.mnt}/small/@@${t}`));
    // The far end as the source: mirror-read there, through the router too.
    const pull = await h2fs(['-y', 'mirror-copy', ...noH2fs, remote(`${master.mnt}/small`), `${slave.mnt}/direct-pull`], { env });
    expect(pull.code, pull.stderr).to.equal(0);
    const t2 = linkTid(`${slave.mnt}/direct-pull`);
    expect(slaveMd5(`${slave.mnt}/direct-pull`)).to.equal(tarMd5(`${master.mnt}/small/@@${t2}`));
    // An incremental round the same way.
    fs.appendFileSync(`${master.mnt}/small/direct.txt`, 'and again\n');
    const again = await h2fs(['mirror-copy', ...noH2fs, `${master.mnt}/small`, remote(`${slave.mnt}/direct`)], { env });
    expect(again.code, again.stderr).to.equal(0);
    const t3 = linkTid(`${slave.mnt}/direct`);
    expect(BigInt(t3) > BigInt(t)).to.equal(true);
    expect(fs.readFileSync(`${slave.mnt}/direct/direct.txt`, 'utf8')).to.equal('pushed without a far h2fs\nand again\n');
  });

  it('runs h2fs on the far host when the direct way is closed: no stream-local forwarding, a path through a link, a missing slave', async () => {
    const noH2fs = ['--remote-h2fs', '/nonexistent/h2fs-test/no-h2fs-here'];
    // sshd refuses stream-local channels: the remote h2fs does the job, and without one there is none.
    const viaExec = await h2fs(['-y', 'mirror-copy', `${master.mnt}/small`, `127.0.0.1:${sshdExec.port}:${slave.mnt}/exec-only`], { env: envExec });
    expect(viaExec.code, viaExec.stderr).to.equal(0);
    expect(slaveMd5(`${slave.mnt}/exec-only`)).to.equal(tarMd5(`${master.mnt}/small/@@${linkTid(`${slave.mnt}/exec-only`)}`));
    const none = await h2fs(['mirror-copy', ...noH2fs, `${master.mnt}/small`, `127.0.0.1:${sshdExec.port}:${slave.mnt}/exec-only`], { env: envExec });
    expect(none.code).to.equal(1);
    expect(none.stderr.trim().split('\n'), none.stderr).to.have.length(1);
    expect(none.stderr).to.match(/^h2fs: 127\.0\.0\.1: .*no-h2fs-here: (No such file or directory|not found)$/m);
    // A path the kernel must resolve (a link to the mount): the far h2fs resolves it.
    const link = path.join(path.dirname(slave.mnt), 'slave-link');
    fs.symlinkSync(slave.mnt, link);
    const linked = await h2fs(['-y', 'mirror-copy', ...noH2fs, `${master.mnt}/small`, remote(`${link}/via-link`)], { env });
    expect(linked.code, 'not joined directly through a link').to.equal(1);
    const linkedOk = await h2fs(['-y', 'mirror-copy', `${master.mnt}/small`, remote(`${link}/via-link`)], { env });
    expect(linkedOk.code, linkedOk.stderr).to.equal(0);
    expect(fs.readlinkSync(`${slave.mnt}/via-link`)).to.match(/^@@0x[0-9a-f]{16}:\d{5}$/);
    // No slave and no -y: the far h2fs says why, as it always has, and nothing is created.
    const missing = await h2fs(['mirror-copy', `${master.mnt}/small`, remote(`${slave.mnt}/not-there`)], { env });
    expect(missing.code).to.equal(1);
    expect(missing.stderr.split('\n')[0]).to.match(/^h2fs: mirror-write: PFS slave .*not-there does not exist, and there is no terminal to ask$/);
    expect(fs.existsSync(`${slave.mnt}/not-there`)).to.equal(false);
  });

  it('works through a plain one-way pipe: mirror-read | mirror-write, and says where the slave can resume', async () => {
    const st = await h2fsOk(['pfs-status', `${master.mnt}/small`]);
    const uuid = /shared-uuid=(\S+)/.exec(st)![1]!;
    await h2fsOk(['pfs-slave', `${slave.mnt}/piped`, `shared-uuid=${uuid}`]);
    const t = (await h2fsOk(['synctid', master.mnt])).trim();
    const out = sh(`set -o pipefail; node "${H2FS_BIN}" mirror-read "${master.mnt}/small" 2>"${slave.mnt}/../read.err" | ` +
      `node "${H2FS_BIN}" mirror-write "${slave.mnt}/piped" && cat "${slave.mnt}/../read.err"`);
    expect(out.trim()).to.equal(`Source can update synctid to ${t}`);
    expect(linkTid(`${slave.mnt}/piped`)).to.equal(t);
    expect(slaveMd5(`${slave.mnt}/piped`)).to.equal(tarMd5(`${master.mnt}/small/@@${t}`));
  });

  it('mirror-dump shows every record with its TIDs and type', async () => {
    // Some history of its own: replaced and deleted records travel as DELs.
    for (const f of ['size-1', 'size-511', 'size-4096', 'm0644']) fs.appendFileSync(`${master.mnt}/small/tree/${f}`, 'more\n');
    fs.rmSync(`${master.mnt}/small/tree/name with spaces.txt`);
    const t = (await h2fsOk(['synctid', master.mnt])).trim();
    const dump = sh(`node "${H2FS_BIN}" mirror-read "${master.mnt}/small" 2>/dev/null | node "${H2FS_BIN}" mirror-dump`);
    const lines = dump.trim().split('\n');
    expect(lines[0]).to.match(/^HELLO {2}version=1 shared-uuid=[0-9a-f-]{36} /);
    expect(lines[1]).to.equal(`BATCH  0x0000000000000000 < tid <= ${t}`);
    expect(lines[lines.length - 1]).to.equal(`TERM   ${t}`);
    const recs = lines.filter((l) => l.startsWith('REC '));
    const dels = lines.filter((l) => l.startsWith('DEL '));
    expect(recs.length).to.be.greaterThan(60);
    expect(dels.length).to.be.greaterThan(10);
    for (const l of recs) expect(l).to.match(/^REC {4}obj=[0-9a-f]{16} rt=(inode|dirent|data|symlink|xattr) key=[0-9a-f]{16} tids 0x[0-9a-f]{16}:0x0{16} data=\d+$/);
    for (const l of dels) expect(l).to.match(/^DEL {4}obj=[0-9a-f]{16} rt=\w+ key=[0-9a-f]{16} tids 0x[0-9a-f]{16}:0x[0-9a-f]{16}$/);
    expect(lines.filter((l) => l.startsWith('SYNC')).pop()).to.match(new RegExp(`^SYNC   ${t} records=\\d+$`));
    const header = sh(`node "${H2FS_BIN}" mirror-read "${master.mnt}/small" 2>/dev/null | node "${H2FS_BIN}" mirror-dump header`);
    expect(header.trim().split('\n')).to.have.length(1);
  });
});
