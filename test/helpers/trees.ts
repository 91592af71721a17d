/**
 * Trees for mirroring tests: every kind of file the filesystem keeps, names
 * with spaces and UTF-8, odd modes, owners, mtimes and xattrs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

export function setXattr(file: string, name: string, value: string): void {
  execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)',
    file, name, value]);
}

/** Writes `size` bytes of random data with dd (1 MiB writes). */
export function randomFile(file: string, size: number): void {
  const mib = Math.floor(size / 1048576);
  if (mib > 0) execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${mib}`, 'status=none']);
  const rest = size - mib * 1048576;
  if (rest > 0 || mib === 0) fs.appendFileSync(file, Buffer.alloc(rest, 0x5a).map((_, i) => (i * 31 + size) & 0xff));
}

/** The acceptance tree: regular files up to `bigSize`, sparse, links, fifos, xattrs, odd names, modes and times. */
export function buildRichTree(root: string, bigSize: number): void {
  fs.mkdirSync(root, { recursive: true });
  const sizes = [0, 1, 511, 4096, 65535, 65536, 65537, 1048576 + 7];
  for (const s of sizes) randomFile(path.join(root, `size-${s}`), s);
  randomFile(path.join(root, 'big'), bigSize);
  // Sparse: a hole of 100 MiB then a tail.
  const sparse = path.join(root, 'sparse');
  fs.writeFileSync(sparse, 'head');
  fs.truncateSync(sparse, 100 * 1048576);
  fs.appendFileSync(sparse, 'tail after the hole');
  fs.mkdirSync(path.join(root, 'empty dir'));
  fs.mkdirSync(path.join(root, 'nested/a/b/c'), { recursive: true });
  fs.writeFileSync(path.join(root, 'nested/a/b/c/deep.txt'), 'deep\n');
  fs.writeFileSync(path.join(root, 'name with spaces.txt'), 'spaces\n');
  fs.writeFileSync(path.join(root, 'ünïcødé-日本語-🙂.txt'), 'utf-8 name\n');
  fs.writeFileSync(path.join(root, "quote'and\"double"), 'quotes\n');
  fs.linkSync(path.join(root, 'size-4096'), path.join(root, 'hardlink-to-4096'));
  fs.linkSync(path.join(root, 'size-4096'), path.join(root, 'nested/a/hardlink-too'));
  fs.symlinkSync('size-511', path.join(root, 'symlink'));
  fs.symlinkSync('/does/not/exist', path.join(root, 'dangling'));
  fs.symlinkSync('nested/a', path.join(root, 'dirlink'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  setXattr(path.join(root, 'size-1'), 'user.color', 'blue');
  setXattr(path.join(root, 'size-1'), 'user.empty', '');
  setXattr(path.join(root, 'nested'), 'user.dir', 'attr on a directory');
  const modes: Array<[string, number]> = [['m0000', 0o000], ['m0644', 0o644], ['m0755', 0o755], ['m4755', 0o4755],
    ['m2755', 0o2755], ['m1777', 0o1777], ['m0600', 0o600]];
  for (const [n, m] of modes) {
    fs.writeFileSync(path.join(root, n), n);
    fs.chmodSync(path.join(root, n), m);
  }
  fs.mkdirSync(path.join(root, 'sticky-dir'));
  fs.chmodSync(path.join(root, 'sticky-dir'), 0o1777);
  fs.writeFileSync(path.join(root, 'owned'), 'owned by someone else\n');
  fs.chownSync(path.join(root, 'owned'), 1234, 5678);
  const times: Array<[string, number]> = [['t-epoch', 0], ['t-1999', 946684799.25], ['t-2038', 2147483648], ['t-2100', 4102444800.5]];
  for (const [n, t] of times) {
    fs.writeFileSync(path.join(root, n), n);
    fs.utimesSync(path.join(root, n), t, t);
  }
  fs.utimesSync(path.join(root, 'empty dir'), 1e9, 1e9);
}
