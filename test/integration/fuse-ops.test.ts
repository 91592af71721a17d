/**
 * Each FUSE op through a real mount, as the kernel sends it: the answers the
 * adapter gives (attributes, 64-bit sizes and offsets, times, errnos, xattr
 * sizing) must be what a local filesystem would give.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { useMountedStore } from '../helpers/h2fs.js';

const GiB = 1024 * 1024 * 1024;

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
  return 'no error';
}

function py(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Both ways the addon waits for requests: reading on for a while after the
// queue runs dry (the default on more than one CPU), and straight back to epoll.
for (const spin of ['spin=50', 'spin=0']) describe(`FUSE ops on a real mount (-o ${spin})`, function () {
  this.timeout(60_000);
  const m = useMountedStore(['-o', spin]);

  it('getattr and fstat: mode, size, nlink, inode numbers, ms times', () => {
    const f = path.join(m.mnt, 'attr');
    fs.writeFileSync(f, 'x'.repeat(70_000), { mode: 0o640 });
    fs.linkSync(f, path.join(m.mnt, 'attr-link'));
    const st = fs.statSync(f);
    expect(st.isFile()).to.equal(true);
    expect(st.mode & 0o7777).to.equal(0o640);
    expect(st.size).to.equal(70_000);
    expect(st.nlink).to.equal(2);
    expect(st.blocks).to.equal(Math.ceil(70_000 / 512));
    expect(fs.statSync(path.join(m.mnt, 'attr-link')).ino).to.equal(st.ino);
    fs.utimesSync(f, 1_000.5, 2_000.25);
    const t = fs.statSync(f);
    expect(t.atimeMs).to.equal(1_000_500);
    expect(t.mtimeMs).to.equal(2_000_250);
    // fstat answers from the open handle, after its path has moved.
    const fd = fs.openSync(f, 'r+');
    try {
      fs.renameSync(f, path.join(m.mnt, 'attr-moved'));
      fs.writeSync(fd, Buffer.from('tail'), 0, 4, 80_000);
      const fst = fs.fstatSync(fd);
      expect(fst.size).to.equal(80_004);
      expect(fst.ino).to.equal(st.ino);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(path.join(m.mnt, 'attr-moved')).size).to.equal(80_004);
  });

  it('reads and writes past 4 GiB, truncates to 64-bit sizes, reads holes as zeros', () => {
    const f = path.join(m.mnt, 'sparse');
    const at = 5 * GiB + 12_345;
    const fd = fs.openSync(f, 'w+');
    try {
      const data = Buffer.from('beyond four gigabytes');
      expect(fs.writeSync(fd, data, 0, data.length, at)).to.equal(data.length);
      expect(fs.fstatSync(fd).size).to.equal(at + data.length);
      const back = Buffer.alloc(data.length + 10);
      expect(fs.readSync(fd, back, 0, back.length, at - 10)).to.equal(back.length);
      expect(back.subarray(0, 10).equals(Buffer.alloc(10))).to.equal(true);
      expect(back.subarray(10).equals(data)).to.equal(true);
      fs.ftruncateSync(fd, 6 * GiB + 1);
      expect(fs.fstatSync(fd).size).to.equal(6 * GiB + 1);
    } finally {
      fs.closeSync(fd);
    }
    fs.truncateSync(f, 10);
    expect(fs.statSync(f).size).to.equal(10);
    expect(fs.readFileSync(f).equals(Buffer.alloc(10))).to.equal(true);
  });

  it('chmod, chown, rename over a file, mkdir, rmdir, unlink', () => {
    const d = path.join(m.mnt, 'ops');
    fs.mkdirSync(d, { mode: 0o750 });
    expect(fs.statSync(d).mode & 0o7777).to.equal(0o750);
    const a = path.join(d, 'a');
    const b = path.join(d, 'b');
    fs.writeFileSync(a, 'A');
    fs.writeFileSync(b, 'B');
    fs.chmodSync(a, 0o604);
    expect(fs.statSync(a).mode & 0o7777).to.equal(0o604);
    fs.chownSync(a, 1234, 5678);
    const st = fs.statSync(a);
    expect([st.uid, st.gid]).to.deep.equal([1234, 5678]);
    fs.renameSync(a, b);
    expect(fs.readdirSync(d)).to.deep.equal(['b']);
    expect(fs.readFileSync(b, 'utf8')).to.equal('A');
    fs.unlinkSync(b);
    expect(fs.readdirSync(d)).to.deep.equal([]);
    fs.rmdirSync(d);
    expect(fs.existsSync(d)).to.equal(false);
  });

  it('answers each error with the errno a local filesystem gives', () => {
    const d = path.join(m.mnt, 'errs');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'f'), 'f');
    expect(errnoOf(() => fs.statSync(path.join(d, 'missing')))).to.equal('ENOENT');
    expect(errnoOf(() => fs.openSync(path.join(d, 'missing'), 'r'))).to.equal('ENOENT');
    expect(errnoOf(() => fs.openSync(path.join(d, 'f'), 'wx'))).to.equal('EEXIST');
    expect(errnoOf(() => fs.mkdirSync(d))).to.equal('EEXIST');
    expect(errnoOf(() => fs.rmdirSync(d))).to.equal('ENOTEMPTY');
    expect(errnoOf(() => fs.unlinkSync(path.join(d, 'missing')))).to.equal('ENOENT');
    expect(errnoOf(() => fs.statSync(path.join(d, 'f', 'under-a-file')))).to.equal('ENOTDIR');
    expect(errnoOf(() => fs.renameSync(path.join(d, 'missing'), path.join(d, 'g')))).to.equal('ENOENT');
    expect(errnoOf(() => fs.truncateSync(path.join(d, 'missing'), 1))).to.equal('ENOENT');
    expect(fs.readdirSync(d)).to.deep.equal(['f']);
  });

  it('xattrs: a value bigger than the first buffer is sized, then read whole; a missing one is ENODATA', () => {
    const f = path.join(m.mnt, 'xa');
    fs.writeFileSync(f, '');
    // CPython's os.getxattr asks with a 128-byte buffer first and retries
    // bigger on ERANGE, so a 1000-byte value goes through both answers.
    const out = py([
      'import os, sys',
      'p = sys.argv[1]',
      'os.setxattr(p, "user.big", bytes(range(250)) * 4)',
      'os.setxattr(p, "user.small", b"v")',
      'v = os.getxattr(p, "user.big")',
      'print(len(v), v == bytes(range(250)) * 4, os.getxattr(p, "user.small"), sorted(os.listxattr(p)))',
      'try:',
      '    os.getxattr(p, "user.none")',
      'except OSError as e:',
      '    print(e.errno)',
    ].join('\n'), f);
    expect(out).to.equal("1000 True b'v' ['user.big', 'user.small']\n61\n");
  });
});
