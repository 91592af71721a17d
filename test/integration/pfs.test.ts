/**
 * Pseudo-filesystems on a real FUSE mount: PFS links and `cd -P`, pfs-status
 * round trips, read-only slaves, upgrade/downgrade/destroy, isolation, and
 * one-line refusals of wrong input that create nothing.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { h2fs, H2FS_BIN, h2fsOk, sh, tarMd5, useMountedStore } from '../helpers/h2fs.js';
import { tmpDir } from '../helpers/tmp.js';

function statusField(out: string, key: string): string {
  const m = new RegExp(`^ {4}${key}=(.*)$`, 'm').exec(out);
  if (!m) throw new Error(`no ${key} in:\n${out}`);
  return m[1]!;
}

function errnoOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    return err.code ?? (String(err.stderr ?? '').includes('Read-only file system') ? 'EROFS' : String(err.stderr));
  }
  return undefined;
}

describe('pseudo-filesystems on a real mount', function () {
  this.timeout(120_000);
  const m = useMountedStore();

  it('creates a master whose link reads @@-1:00001 and cd -P lands in its root', async () => {
    const out = await h2fsOk(['pfs-master', `${m.mnt}/obj`, 'label=objects']);
    expect(out.split('\n')[0]).to.equal('Creating PFS#1\tsucceeded!');
    expect(out).to.include(`${m.mnt}/obj\tPFS#1 {`);
    expect(out).to.include('    operating as a MASTER');
    expect(fs.readlinkSync(`${m.mnt}/obj`)).to.equal('@@-1:00001');
    fs.writeFileSync(`${m.mnt}/obj/hello`, 'hello\n');
    expect(sh(`cd -P "${m.mnt}/obj" && pwd`).trim()).to.equal(`${m.mnt}/@@-1:00001`);
    expect(fs.readdirSync(`${m.mnt}/@@-1:00001`)).to.deep.equal(['hello']);
    // PFSROOT/@@0x<tid>: that PFS at that TID.
    const t = (await h2fsOk(['synctid', m.mnt])).trim();
    fs.writeFileSync(`${m.mnt}/obj/later`, 'later\n');
    expect(fs.readdirSync(`${m.mnt}/obj/@@${t}`)).to.deep.equal(['hello']);
    expect(fs.readdirSync(`${m.mnt}/@@${t}:00001`)).to.deep.equal(['hello']);
  });

  it('round-trips pfs-status into pfs-slave: same shared-uuid, a slave link at sync-end-tid', async () => {
    const st = await h2fsOk(['pfs-status', `${m.mnt}/obj`]);
    const shared = statusField(st, 'shared-uuid');
    // The user's own pipeline: h2fs pfs-slave P2 $(h2fs pfs-status P1 | grep shared-uuid)
    const line = sh(`node "${H2FS_BIN}" pfs-status "${m.mnt}/obj" | grep shared-uuid`).trim();
    expect(line).to.equal(`shared-uuid=${shared}`);
    const out = await h2fsOk(['pfs-slave', `${m.mnt}/pfs1`, ...line.split(/\s+/)]);
    expect(out).to.include('Creating PFS#2\tsucceeded!');
    const st2 = await h2fsOk(['pfs-status', `${m.mnt}/pfs1`]);
    expect(statusField(st2, 'shared-uuid')).to.equal(shared);
    expect(statusField(st2, 'unique-uuid')).to.not.equal(statusField(st, 'unique-uuid'));
    expect(st2).to.include('    operating as a SLAVE');
    expect(fs.readlinkSync(`${m.mnt}/pfs1`)).to.equal('@@0x0000000000000001:00002');
    expect(fs.lstatSync(`${m.mnt}/pfs1`).size).to.equal(26);
    // No root until the first mirror: a clear ENOENT, not EIO.
    expect(errnoOf(() => fs.readdirSync(`${m.mnt}/pfs1`))).to.equal('ENOENT');
    const json = JSON.parse((await h2fsOk(['--json', 'pfs-status', `${m.mnt}/pfs1`])).trim()) as Record<string, unknown>;
    expect(json).to.include({ pfs: 2, mode: 'slave', sharedUuid: shared, syncEndTid: '0x0000000000000001' });
  });

  it('follows sync-end-tid in the slave link without a remount', async () => {
    const t = (await h2fsOk(['synctid', m.mnt])).trim();
    await h2fsOk(['pfs-update', `${m.mnt}/pfs1`, `sync-end-tid=${t}`]);
    expect(fs.readlinkSync(`${m.mnt}/pfs1`)).to.equal(`@@${t}:00002`);
    await h2fsOk(['pfs-update', `${m.mnt}/pfs1`, 'sync-end-tid=0x0000000000000001']);
    expect(fs.readlinkSync(`${m.mnt}/pfs1`)).to.equal('@@0x0000000000000001:00002');
  });

  it('keeps two PFSes with the same names and obj_ids apart', async () => {
    await h2fsOk(['pfs-master', `${m.mnt}/a`]);
    await h2fsOk(['pfs-master', `${m.mnt}/b`]);
    for (const p of ['a', 'b']) {
      fs.mkdirSync(`${m.mnt}/${p}/dir`);
      fs.writeFileSync(`${m.mnt}/${p}/dir/file`, `content of ${p}\n`);
      fs.writeFileSync(`${m.mnt}/${p}/only-${p}`, p);
    }
    expect(fs.statSync(`${m.mnt}/a/dir/file`).ino).to.equal(fs.statSync(`${m.mnt}/b/dir/file`).ino);
    expect(fs.readFileSync(`${m.mnt}/a/dir/file`, 'utf8')).to.equal('content of a\n');
    expect(fs.readFileSync(`${m.mnt}/b/dir/file`, 'utf8')).to.equal('content of b\n');
    expect(fs.readdirSync(`${m.mnt}/a`).sort()).to.deep.equal(['dir', 'only-a']);
    expect(fs.readdirSync(`${m.mnt}/b`).sort()).to.deep.equal(['dir', 'only-b']);
    fs.rmSync(`${m.mnt}/b/dir/file`);
    expect(fs.readFileSync(`${m.mnt}/a/dir/file`, 'utf8')).to.equal('content of a\n');
  });

  it('downgrades a master to a read-only slave locked at its last TID; every write is EROFS', async () => {
    await h2fsOk(['pfs-master', `${m.mnt}/ro`]);
    const dir = `${m.mnt}/ro`;
    fs.mkdirSync(`${dir}/sub`);
    fs.writeFileSync(`${dir}/file`, 'data\n');
    fs.symlinkSync('file', `${dir}/sl`);
    const out = await h2fsOk(['pfs-downgrade', dir]);
    const last = (await h2fsOk(['synctid', m.mnt])).trim();
    const locked = /locked at (0x[0-9a-f]{16})/.exec(out)![1]!;
    expect(BigInt(locked) <= BigInt(last)).to.equal(true);
    expect(fs.readlinkSync(dir)).to.equal(`@@${locked}:00005`);
    expect(sh(`cd -P "${dir}" && pwd`).trim()).to.equal(`${m.mnt}/@@${locked}:00005`);
    const sum = tarMd5(dir + '/');
    const attempts: Array<[string, () => void]> = [
      ['write', () => fs.writeFileSync(`${dir}/file`, 'x')],
      ['create', () => fs.writeFileSync(`${dir}/new`, 'x')],
      ['mkdir', () => fs.mkdirSync(`${dir}/newdir`)],
      ['unlink', () => fs.unlinkSync(`${dir}/file`)],
      ['rmdir', () => fs.rmdirSync(`${dir}/sub`)],
      ['rename', () => fs.renameSync(`${dir}/file`, `${dir}/moved`)],
      ['chmod', () => fs.chmodSync(`${dir}/file`, 0o600)],
      ['utimens', () => fs.utimesSync(`${dir}/file`, 5, 5)],
      ['truncate', () => fs.truncateSync(`${dir}/file`, 1)],
      ['symlink', () => fs.symlinkSync('x', `${dir}/sl2`)],
      ['link', () => fs.linkSync(`${dir}/file`, `${dir}/hl`)],
      ['setxattr', () => execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.k", b"v")', `${dir}/file`], { stdio: 'pipe' })],
    ];
    for (const [what, fn] of attempts) expect(errnoOf(fn), what).to.equal('EROFS');
    expect(tarMd5(dir + '/')).to.equal(sum);
    expect(fs.readFileSync(`${dir}/file`, 'utf8')).to.equal('data\n');
  });

  it('upgrades a slave: drops what is newer than sync-end-tid, then allows writes', async () => {
    await h2fsOk(['pfs-master', `${m.mnt}/up`]);
    const dir = `${m.mnt}/up`;
    fs.writeFileSync(`${dir}/kept`, 'kept\n');
    const t0 = (await h2fsOk(['synctid', m.mnt])).trim();
    const sumT0 = tarMd5(`${dir}/@@${t0}`);
    fs.writeFileSync(`${dir}/dropped`, 'newer than t0\n');
    fs.appendFileSync(`${dir}/kept`, 'appended after t0\n');
    await h2fsOk(['synctid', m.mnt]);
    await h2fsOk(['pfs-downgrade', dir]);
    // A slave whose records go past its sync-end-tid, as after a cut mirror.
    await h2fsOk(['pfs-update', dir, `sync-end-tid=${t0}`]);
    const out = await h2fsOk(['pfs-upgrade', dir]);
    expect(out).to.match(/^pfs-upgrade of PFS#6 \(\) succeeded \([1-9]\d* records after/);
    expect(fs.readlinkSync(dir)).to.equal('@@-1:00006');
    expect(fs.readdirSync(dir)).to.deep.equal(['kept']);
    expect(fs.readFileSync(`${dir}/kept`, 'utf8')).to.equal('kept\n');
    expect(tarMd5(dir + '/')).to.equal(sumT0);
    fs.writeFileSync(`${dir}/writable`, 'yes\n');
    const t1 = (await h2fsOk(['synctid', m.mnt])).trim();
    expect(BigInt(t1) > BigInt(t0)).to.equal(true);
    expect((await h2fs(['pfs-upgrade', dir])).stderr).to.match(/already a master/);
  });

  it('destroys a PFS: asks for a terminal, -y confirms, records and link go, the number is freed', async () => {
    const before = await h2fsOk(['pfs-status', `${m.mnt}/b`]);
    expect(before).to.include('PFS#4 {');
    const refused = await h2fs(['pfs-destroy', `${m.mnt}/b`]);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr.split('\n')[0]).to.match(/^h2fs: pfs-destroy: no terminal to confirm on/);
    expect(fs.readdirSync(`${m.mnt}/b`)).to.include('only-b');
    const out = await h2fsOk(['-y', 'pfs-destroy', `${m.mnt}/b`]);
    expect(out).to.match(/^pfs-destroy of PFS#4 \(\) succeeded \(\d+ records removed\)/);
    expect(fs.existsSync(`${m.mnt}/b`)).to.equal(false);
    expect(errnoOf(() => fs.readdirSync(`${m.mnt}/@@-1:00004`))).to.equal('ENOENT');
    expect(fs.readFileSync(`${m.mnt}/a/dir/file`, 'utf8')).to.equal('content of a\n');
    const again = await h2fsOk(['pfs-master', `${m.mnt}/b2`]);
    expect(again).to.include('Creating PFS#4\tsucceeded!');
    expect(fs.readdirSync(`${m.mnt}/b2`)).to.deep.equal([]);
  });

  it('refuses wrong input with one line, non-zero, and creates nothing', async () => {
    fs.mkdirSync(`${m.mnt}/plain`);
    const outside = tmpDir();
    const listing = (): string[] => fs.readdirSync(m.mnt).sort();
    const before = listing();
    const cases: Array<[string[], RegExp]> = [
      [['pfs-slave', `${m.mnt}/s9`], /^h2fs: pfs-slave: .*s9: pfs-slave needs shared-uuid=/],
      [['pfs-slave', `${m.mnt}/s9`, 'shared-uuid=not-a-uuid'], /^h2fs: pfs-slave: .*: bad shared-uuid 'not-a-uuid'/],
      [['pfs-master', `${outside}/x`], /^h2fs: pfs-master: .*: not inside a mounted h2fs store$/],
      [['pfs-master', `${m.mnt}/obj`], /^h2fs: pfs-master: .*obj: already exists$/],
      [['pfs-master', `${m.mnt}/plain`], /^h2fs: pfs-master: .*plain: already exists$/],
      [['pfs-master', `${m.mnt}/obj/inner`], /^h2fs: pfs-master: .*: PFS links may only be created in the root PFS/],
      [['pfs-master', `${m.mnt}/m9`, 'label'], /^h2fs: option label requires an assignment/],
      [['pfs-master', `${m.mnt}/m9`, 'colour=red'], /^h2fs: unknown PFS option 'colour'$/],
      [['pfs-status', `${m.mnt}/plain`], /^h2fs: pfs-status: .*plain: not a PFS/],
      [['pfs-upgrade', `${m.mnt}/plain`], /^h2fs: pfs-upgrade: .*plain: not a PFS/],
      [['pfs-update', `${m.mnt}/obj`, 'sync-end-tid=12'], /^h2fs: .*bad TID '12'/],
      [['pfs-status', outside], /^h2fs: pfs-status: .*: not inside a mounted h2fs store$/],
    ];
    for (const [args, re] of cases) {
      const r = await h2fs(args);
      expect(r.code, args.join(' ')).to.not.equal(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0], args.join(' ')).to.match(re);
      expect(lines.slice(1).every((l) => l.startsWith('hint: ')), r.stderr).to.equal(true);
    }
    expect(listing()).to.deep.equal(before);
    expect(fs.readdirSync(outside)).to.deep.equal([]);
  });
});
