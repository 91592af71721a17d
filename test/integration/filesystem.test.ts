/**
 * The history-keeping filesystem on a real FUSE mount: a real tree round
 * trip, gcc inside the mount, @@ views that never change (invariant 2),
 * EROFS in views, history, and one-line user errors.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { daemonPidOf, h2fs, h2fsOk, mount, newStore, sh, tarMd5, umount, useMountedStore } from '../helpers/h2fs.js';
import { tmpDir } from '../helpers/tmp.js';

const PERL_TREE = fs.existsSync('/usr/share/perl') ? '/usr/share/perl' : '/usr/share/perl5';

describe('filesystem on a real FUSE mount', function () {
  this.timeout(300_000);
  const m = useMountedStore();

  it('stores a real tree and reads it back identical (diff -r)', () => {
    sh(`cp -a "${PERL_TREE}" "${m.mnt}/perl"`);
    const diff = sh(`diff -r "${PERL_TREE}" "${m.mnt}/perl" && echo clean`);
    expect(diff.trim()).to.equal('clean');
    // Same names, modes, sizes and mtimes as the source, byte for byte in tar.
    // Directory sizes are the filesystem's own business; everything else must match.
    const tarList = (d: string): string =>
      sh(`cd "${d}" && find . \\( -type d -printf '%p d %m %u %g %T@\\n' \\) -o -printf '%p %y %m %u %g %s %n %T@\\n' | sort`);
    expect(tarList(`${m.mnt}/perl`).replace(/\.\d+\n/g, '\n')).to.equal(tarList(PERL_TREE).replace(/\.\d+\n/g, '\n'));
  });

  it('builds and runs a C program inside the mount with gcc', () => {
    const dir = path.join(m.mnt, 'csrc');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'util.h'), 'int twice(int x);\n');
    fs.writeFileSync(path.join(dir, 'util.c'), '#include "util.h"\nint twice(int x) { return 2 * x; }\n');
    fs.writeFileSync(path.join(dir, 'main.c'),
      '#include <stdio.h>\n#include "util.h"\nint main(void) { printf("h2fs %d\\n", twice(21)); return 0; }\n');
    sh('gcc -c util.c -o util.o && gcc -c main.c -o main.o && gcc main.o util.o -o hello', { cwd: dir });
    expect(execFileSync(path.join(dir, 'hello'), { encoding: 'utf8' })).to.equal('h2fs 42\n');
  });

  it('shows the tree as of a synctid, unchanged after edits and after a remount', async () => {
    const tree = path.join(m.mnt, 'hist');
    fs.mkdirSync(tree);
    for (let i = 0; i < 30; i++) {
      fs.mkdirSync(path.join(tree, `d${i % 5}`), { recursive: true });
      fs.writeFileSync(path.join(tree, `d${i % 5}`, `f${i}`), `file ${i}\n`.repeat(i * 50 + 1));
    }
    fs.symlinkSync('d0/f0', path.join(tree, 'link'));
    fs.linkSync(path.join(tree, 'd1', 'f1'), path.join(tree, 'hard'));
    const t1 = (await h2fsOk(['synctid', m.mnt])).trim();
    expect(t1).to.match(/^0x[0-9a-f]{16}$/);
    const before = tarMd5(tree);

    fs.appendFileSync(path.join(tree, 'd2', 'f2'), 'changed\n');
    fs.rmSync(path.join(tree, 'd3'), { recursive: true });
    fs.renameSync(path.join(tree, 'd4'), path.join(tree, 'd4-renamed'));
    fs.writeFileSync(path.join(tree, 'new'), 'new file\n');
    fs.chmodSync(path.join(tree, 'd0', 'f5'), 0o600);
    const t2 = (await h2fsOk(['synctid', m.mnt])).trim();
    expect(BigInt(t2) > BigInt(t1)).to.equal(true);
    expect(tarMd5(tree)).to.not.equal(before);

    expect(tarMd5(`${m.mnt}/@@${t1}/hist`)).to.equal(before);
    expect(tarMd5(`${m.mnt}/hist@@${t1}`)).to.equal(before);
    expect(fs.readdirSync(m.mnt)).to.not.include(`@@${t1}`);

    await umount(m);
    await mount(m);
    expect(tarMd5(`${m.mnt}/@@${t1}/hist`)).to.equal(before);
  });

  it('refuses every write into a @@ view with EROFS and changes nothing', async () => {
    fs.writeFileSync(path.join(m.mnt, 'ro-file'), 'original\n');
    fs.mkdirSync(path.join(m.mnt, 'ro-dir'));
    const t = (await h2fsOk(['synctid', m.mnt])).trim();
    const view = `${m.mnt}/@@${t}`;
    const sum = tarMd5(view);
    const attempts: Array<[string, () => void]> = [
      ['write', () => fs.writeFileSync(`${view}/ro-file`, 'x')],
      ['append', () => fs.appendFileSync(`${view}/ro-file`, 'x')],
      ['create', () => fs.writeFileSync(`${view}/new-file`, 'x')],
      ['mkdir', () => fs.mkdirSync(`${view}/new-dir`)],
      ['rmdir', () => fs.rmdirSync(`${view}/ro-dir`)],
      ['unlink', () => fs.unlinkSync(`${view}/ro-file`)],
      ['rename', () => fs.renameSync(`${view}/ro-file`, `${view}/moved`)],
      ['chmod', () => fs.chmodSync(`${view}/ro-file`, 0o777)],
      ['utimes', () => fs.utimesSync(`${view}/ro-file`, 1, 1)],
      ['truncate', () => fs.truncateSync(`${view}/ro-file`, 0)],
      ['symlink', () => fs.symlinkSync('x', `${view}/sl`)],
      ['link', () => fs.linkSync(`${view}/ro-file`, `${view}/hl`)],
      ['setxattr', () => execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.k", b"v")', `${view}/ro-file`], { stdio: 'pipe' })],
      ['file@@ write', () => fs.writeFileSync(`${m.mnt}/ro-file@@${t}`, 'x')],
    ];
    for (const [what, fn] of attempts) {
      let code: string | undefined;
      try {
        fn();
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
        code = err.code ?? (String(err.stderr ?? '').includes('Read-only file system') ? 'EROFS' : String(err.stderr));
      }
      expect(code, what).to.equal('EROFS');
    }
    expect(tarMd5(view)).to.equal(sum);
    expect(fs.readFileSync(`${m.mnt}/ro-file`, 'utf8')).to.equal('original\n');
  });

  it('lists each TID at which a file changed, and FILE@@TID shows that content', async () => {
    const f = path.join(m.mnt, 'versions.txt');
    const tids: string[] = [];
    for (const v of ['one\n', 'two\n', 'three\n']) {
      fs.writeFileSync(f, v);
      tids.push((await h2fsOk(['synctid', m.mnt])).trim());
    }
    const out = await h2fsOk(['history', f]);
    const lines = out.trim().split('\n');
    expect(lines[0]).to.match(new RegExp(`^${f}\\t[0-9a-f]{16} clean \\{$`));
    expect(lines[lines.length - 1]).to.equal('}');
    const listed = lines.slice(1, -1).map((l) => {
      const mm = /^ {4}(0x[0-9a-f]{16}) \d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d$/.exec(l);
      expect(mm, l).to.not.equal(null);
      return mm![1]!;
    });
    for (const t of tids) expect(listed).to.include(t);
    expect(fs.readFileSync(`${f}@@${tids[0]}`, 'utf8')).to.equal('one\n');
    expect(fs.readFileSync(`${f}@@${tids[1]}`, 'utf8')).to.equal('two\n');
    expect(fs.readFileSync(`${f}@@${tids[2]}`, 'utf8')).to.equal('three\n');
    // Every listed TID opens as a version of the file.
    for (const t of listed) expect(['one\n', 'two\n', 'three\n']).to.include(fs.readFileSync(`${f}@@${t}`, 'utf8'));
  });

  it('answers user mistakes with one line and a documented exit status', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['frobnicate'], 2, /^h2fs: unknown command 'frobnicate'$/],
      [['mount', path.join(tmpDir(), 'nope'), m.mnt], 1, /^h2fs: mount: .*nope: no such store$/],
      [['history', `${m.mnt}/versions.txt@@0x12`], 2, /^h2fs: .*bad TID/],
      [['synctid'], 2, /^h2fs: synctid: expected 1 argument/],
      [['mount', m.store, m.mnt], 1, /^h2fs: .*already mounted/],
    ];
    const other = await newStore();
    cases.push([['mount', other.store, m.mnt], 1, /^h2fs: .*mount point in use$/]);
    for (const [args, status, re] of cases) {
      const r = await h2fs(args);
      expect(r.code, args.join(' ')).to.equal(status);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0], args.join(' ')).to.match(re);
      expect(lines.slice(1).every((l) => l.startsWith('hint: ')), r.stderr).to.equal(true);
      expect(r.stderr).to.not.match(/^\s+at /m);
    }
  });

  it("runs its daemon with 16 libuv threads for parallel cold reads, or the user's UV_THREADPOOL_SIZE", async () => {
    const poolOf = (store: string): string | undefined => {
      const environ = fs.readFileSync(`/proc/${daemonPidOf(store)}/environ`, 'utf8').split('\0');
      return environ.find((v) => v.startsWith('UV_THREADPOOL_SIZE='))?.slice('UV_THREADPOOL_SIZE='.length);
    };
    expect(process.env.UV_THREADPOOL_SIZE, 'the test runs without a pool size of its own').to.equal(undefined);
    expect(poolOf(m.store)).to.equal('16');
    const own = await newStore();
    await mount(own, [], { UV_THREADPOOL_SIZE: '6' });
    expect(poolOf(own.store)).to.equal('6');
    await umount(own);
  });
});
