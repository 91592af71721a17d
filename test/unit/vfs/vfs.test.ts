import { expect } from 'chai';
import { H2Error } from '../../../src/errors.js';
import { RECTYPE, Store, type DataPayload } from '../../../src/store/index.js';
import { formatTid, type Tid } from '../../../src/tid.js';
import { BLOCK_SIZE, ROOT_OBJ, Vfs } from '../../../src/vfs/index.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';
import { codeOf } from '../../helpers/errors.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;

function writeFile(vfs: Vfs, path: string, data: Buffer | string, offset = 0): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let fh: number;
  try {
    fh = vfs.open(path, O_WRONLY);
  } catch (e) {
    if (!(e instanceof H2Error) || e.code !== 'ENOENT') throw e;
    fh = vfs.create(path, 0o644);
  }
  try {
    expect(vfs.write(fh, buf, buf.length, offset)).to.equal(buf.length);
  } finally {
    vfs.release(fh);
  }
}

function readFile(vfs: Vfs, path: string): Buffer {
  const size = vfs.getattr(path).size;
  const fh = vfs.open(path, O_RDONLY);
  try {
    const buf = Buffer.alloc(size + 16, 0xee);
    const n = vfs.read(fh, buf, size + 16, 0);
    expect(n).to.equal(size);
    return buf.subarray(0, n);
  } finally {
    vfs.release(fh);
  }
}

function dataVersions(store: Store, objId: number): Array<{ key: bigint; createTid: Tid; deleteTid: Tid; len: number }> {
  return store.versions(0, objId).filter((v) => v.recType === RECTYPE.DATA)
    .map((v) => ({ key: v.key, createTid: v.createTid, deleteTid: v.deleteTid, len: (v.payload as DataPayload).len }));
}

describe('vfs/vfs', () => {
  const stores: Store[] = [];
  function newVfs(): Vfs {
    const s = tmpStore();
    stores.push(s);
    return new Vfs(s, { uid: 1000, gid: 1000 });
  }
  afterEach(async () => {
    while (stores.length) await stores.pop()!.close();
  });
  after(() => removeTmpDirs());

  describe('files and directories', () => {
    it('mkdir, create, write and read back', () => {
      const vfs = newVfs();
      const a = vfs.mkdir('/d', 0o750);
      expect(a.mode).to.equal(S_IFDIR | 0o750);
      expect(a.nlink).to.equal(2);
      expect(a.uid).to.equal(1000);
      expect(vfs.getattr('/').nlink).to.equal(3);
      const fh = vfs.create('/d/f', 0o640);
      expect(vfs.write(fh, Buffer.from('hello world'), 11, 0)).to.equal(11);
      expect(vfs.write(fh, Buffer.from('WORLD!'), 6, 6)).to.equal(6);
      vfs.release(fh);
      const st = vfs.getattr('/d/f');
      expect(st.mode).to.equal(S_IFREG | 0o640);
      expect(st.size).to.equal(12);
      expect(st.nlink).to.equal(1);
      expect(readFile(vfs, '/d/f').toString()).to.equal('hello WORLD!');
      expect(vfs.readdir('/d')).to.deep.equal(['.', '..', 'f']);
      expect(codeOf(() => vfs.getattr('/d/nope'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/d/f/x'))).to.equal('ENOTDIR');
      expect(codeOf(() => vfs.readdir('/d/f'))).to.equal('ENOTDIR');
      expect(codeOf(() => vfs.open('/d', O_WRONLY))).to.equal('EISDIR');
      // partial and past-EOF reads
      const rfh = vfs.open('/d/f', O_RDONLY);
      const b = Buffer.alloc(4);
      expect(vfs.read(rfh, b, 4, 10)).to.equal(2);
      expect(b.subarray(0, 2).toString()).to.equal('D!');
      expect(vfs.read(rfh, b, 4, 12)).to.equal(0);
      expect(vfs.read(rfh, b, 4, 1000)).to.equal(0);
      expect(codeOf(() => vfs.write(rfh, b, 1, 0))).to.equal('EBADF');
      vfs.release(rfh);
      expect(codeOf(() => vfs.read(rfh, b, 4, 0))).to.equal('EBADF');
    });

    it('writes spanning block boundaries read back intact, before and after commit', async () => {
      const vfs = newVfs();
      const data = Buffer.alloc(BLOCK_SIZE * 2 + 1000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
      writeFile(vfs, '/big', data.subarray(0, 100));
      writeFile(vfs, '/big', data.subarray(100), 100);
      expect(readFile(vfs, '/big').equals(data)).to.equal(true);
      await vfs.sync();
      expect(readFile(vfs, '/big').equals(data)).to.equal(true);
      const ino = vfs.getattr('/big').ino;
      expect(dataVersions(vfs.store, ino).map((v) => [v.key, v.len])).to.deep.equal([[0n, BLOCK_SIZE], [1n, BLOCK_SIZE], [2n, 1000]]);
    });

    it('truncate shrinks and grows; shrink then grow reads zeros (staged and committed)', async () => {
      for (const commitBetween of [false, true]) {
        const vfs = newVfs();
        const data = Buffer.alloc(BLOCK_SIZE + 5000, 0x61);
        writeFile(vfs, '/f', data);
        if (commitBetween) await vfs.sync();
        vfs.truncate('/f', 10);
        expect(vfs.getattr('/f').size).to.equal(10);
        expect(readFile(vfs, '/f').toString()).to.equal('aaaaaaaaaa');
        if (commitBetween) await vfs.sync();
        vfs.truncate('/f', BLOCK_SIZE + 100);
        const grown = readFile(vfs, '/f');
        expect(grown.length).to.equal(BLOCK_SIZE + 100);
        expect(grown.subarray(0, 10).toString()).to.equal('aaaaaaaaaa');
        expect(grown.subarray(10).equals(Buffer.alloc(BLOCK_SIZE + 90)), `zeros after regrow (commit=${commitBetween})`)
          .to.equal(true);
        // a write past the regrown hole keeps the hole zero
        writeFile(vfs, '/f', 'Z', 20);
        const again = readFile(vfs, '/f');
        expect(again.subarray(10, 20).equals(Buffer.alloc(10))).to.equal(true);
        expect(again.subarray(20, 21).toString()).to.equal('Z');
        expect(again.subarray(21).equals(Buffer.alloc(again.length - 21))).to.equal(true);
      }
    });

    it('truncate to a block boundary drops the later blocks; ftruncate works through a handle', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/f', Buffer.alloc(3 * BLOCK_SIZE, 0x62));
      await vfs.sync();
      vfs.truncate('/f', BLOCK_SIZE);
      const t = await vfs.sync();
      const ino = vfs.getattr('/f').ino;
      const live = dataVersions(vfs.store, ino).filter((v) => v.deleteTid === 0n).map((v) => v.key);
      expect(live).to.deep.equal([0n]);
      expect(dataVersions(vfs.store, ino).filter((v) => v.deleteTid === t).map((v) => v.key)).to.deep.equal([1n, 2n]);
      vfs.truncate('/f', 2 * BLOCK_SIZE);
      expect(readFile(vfs, '/f').subarray(BLOCK_SIZE).equals(Buffer.alloc(BLOCK_SIZE))).to.equal(true);
      const fh = vfs.open('/f', O_RDWR);
      vfs.ftruncate(fh, 3);
      expect(vfs.fgetattr(fh).size).to.equal(3);
      vfs.release(fh);
      expect(readFile(vfs, '/f').toString()).to.equal('bbb');
      expect(codeOf(() => vfs.truncate('/', 0))).to.equal('EISDIR');
    });

    it('a sparse write far beyond EOF reads zeros in the hole', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/s', 'head');
      const far = 10 * BLOCK_SIZE + 123;
      writeFile(vfs, '/s', 'tail', far);
      expect(vfs.getattr('/s').size).to.equal(far + 4);
      for (const phase of ['staged', 'committed']) {
        const b = readFile(vfs, '/s');
        expect(b.length).to.equal(far + 4);
        expect(b.subarray(0, 4).toString()).to.equal('head');
        expect(b.subarray(4, far).equals(Buffer.alloc(far - 4)), phase).to.equal(true);
        expect(b.subarray(far).toString()).to.equal('tail');
        await vfs.sync();
      }
      // only the two touched blocks exist
      expect(dataVersions(vfs.store, vfs.getattr('/s').ino).map((v) => v.key)).to.deep.equal([0n, 10n]);
      // a read entirely inside the hole
      const fh = vfs.open('/s', O_RDONLY);
      const buf = Buffer.alloc(100, 0xff);
      expect(vfs.read(fh, buf, 100, 5 * BLOCK_SIZE)).to.equal(100);
      expect(buf.equals(Buffer.alloc(100))).to.equal(true);
      vfs.release(fh);
    });

    it('reuses committed block buffers without their old bytes showing (holes, tails, history)', async () => {
      const vfs = newVfs();
      // Fill a few full blocks with 0xaa and commit them: their buffers go back to the pool.
      writeFile(vfs, '/old', Buffer.alloc(4 * BLOCK_SIZE, 0xaa));
      const t1 = await vfs.sync();
      const fh = vfs.create('/new', 0o644);
      // Lands in a reused buffer: the 100 bytes before it and the block's tail must read as zeros/absent.
      vfs.write(fh, Buffer.alloc(50_000, 0x11), 50_000, 100);
      // A second block that starts mid-block and then grows past a gap.
      vfs.write(fh, Buffer.from('x'), 1, BLOCK_SIZE + 40_000);
      vfs.write(fh, Buffer.from('y'), 1, BLOCK_SIZE + 60_000);
      vfs.release(fh);
      const expected = Buffer.alloc(BLOCK_SIZE + 60_001);
      expected.fill(0x11, 100, 50_100);
      expected[BLOCK_SIZE + 40_000] = 0x78;
      expected[BLOCK_SIZE + 60_000] = 0x79;
      for (const phase of ['staged', 'committed']) {
        expect(readFile(vfs, '/new').equals(expected), phase).to.equal(true);
        await vfs.sync();
      }
      const ino = vfs.getattr('/new').ino;
      expect(dataVersions(vfs.store, ino).map((v) => v.len)).to.deep.equal([50_100, 60_001]);
      // The old file's committed history is untouched by the reuse of its buffers.
      expect(readFile(vfs, `/old@@${formatTid(t1)}`).equals(Buffer.alloc(4 * BLOCK_SIZE, 0xaa))).to.equal(true);
      writeFile(vfs, '/old', Buffer.alloc(BLOCK_SIZE, 0xbb), BLOCK_SIZE);
      await vfs.sync();
      const now = readFile(vfs, '/old');
      expect(now.subarray(0, BLOCK_SIZE).equals(Buffer.alloc(BLOCK_SIZE, 0xaa))).to.equal(true);
      expect(now.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE).equals(Buffer.alloc(BLOCK_SIZE, 0xbb))).to.equal(true);
      expect(readFile(vfs, `/old@@${formatTid(t1)}`).equals(Buffer.alloc(4 * BLOCK_SIZE, 0xaa))).to.equal(true);
    });

    it('many 4 KiB writes to one block stage one DATA record version per commit', async () => {
      const vfs = newVfs();
      const fh = vfs.create('/f', 0o644);
      const chunk = (i: number): Buffer => Buffer.alloc(4096, 0x30 + i);
      for (let i = 0; i < 16; i++) vfs.write(fh, chunk(i), 4096, i * 4096);
      expect(vfs.store.group.size).to.equal(4); // dirent, new inode, root inode (mtime), one block
      const t1 = await vfs.sync();
      const ino = vfs.getattr('/f').ino;
      expect(dataVersions(vfs.store, ino)).to.deep.equal([{ key: 0n, createTid: t1, deleteTid: 0n, len: BLOCK_SIZE }]);
      for (let i = 0; i < 16; i++) vfs.write(fh, chunk(15 - i), 4096, i * 4096);
      const t2 = await vfs.sync();
      vfs.release(fh);
      expect(dataVersions(vfs.store, ino)).to.deep.equal([
        { key: 0n, createTid: t1, deleteTid: t2, len: BLOCK_SIZE },
        { key: 0n, createTid: t2, deleteTid: 0n, len: BLOCK_SIZE },
      ]);
      const at1 = vfs.store.asOf(t1).getData({ pfs: 0, objId: ino, recType: RECTYPE.DATA, key: 0n })!;
      const at2 = vfs.store.asOf(t2).getData({ pfs: 0, objId: ino, recType: RECTYPE.DATA, key: 0n })!;
      expect(at1[0]).to.equal(0x30);
      expect(at1[BLOCK_SIZE - 1]).to.equal(0x3f);
      expect(at2[0]).to.equal(0x3f);
      expect(at2[BLOCK_SIZE - 1]).to.equal(0x30);
    });

    it('sync on an empty flush group returns the last TID without committing', async () => {
      const vfs = newVfs();
      const before = vfs.store.lastTid;
      expect(await vfs.sync()).to.equal(before);
      writeFile(vfs, '/x', 'x');
      const t = await vfs.sync();
      expect(t > before).to.equal(true);
      expect(await vfs.sync()).to.equal(t);
    });
  });

  describe('names and links', () => {
    it('refuses names longer than 255 bytes with ENAMETOOLONG and duplicates with EEXIST', () => {
      const vfs = newVfs();
      expect(codeOf(() => vfs.mkdir('/' + 'a'.repeat(256), 0o755))).to.equal('ENAMETOOLONG');
      expect(codeOf(() => vfs.create('/' + 'é'.repeat(128), 0o644))).to.equal('ENAMETOOLONG'); // 256 bytes
      vfs.create('/' + 'b'.repeat(255), 0o644);
      expect(vfs.readdir('/')).to.include('b'.repeat(255));
      vfs.mkdir('/d', 0o755);
      vfs.create('/f', 0o644);
      expect(codeOf(() => vfs.mkdir('/d', 0o755))).to.equal('EEXIST');
      expect(codeOf(() => vfs.mkdir('/f', 0o755))).to.equal('EEXIST');
      expect(codeOf(() => vfs.create('/f', 0o644))).to.equal('EEXIST');
      expect(codeOf(() => vfs.create('/d', 0o644))).to.equal('EEXIST');
      expect(codeOf(() => vfs.symlink('x', '/f'))).to.equal('EEXIST');
      expect(codeOf(() => vfs.mknod('/d', S_IFIFO | 0o644, 0))).to.equal('EEXIST');
      expect(codeOf(() => vfs.link('/f', '/d'))).to.equal('EEXIST');
      expect(codeOf(() => vfs.create('/a@@b', 0o644))).to.equal('EINVAL');
      expect(vfs.readdir('/')).to.have.members(['.', '..', 'b'.repeat(255), 'd', 'f']);
      expect(vfs.readdir('/').length).to.equal(5);
    });

    it('link increments nlink, unlink decrements it, the last unlink destroys the inode', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/f', 'shared');
      vfs.setxattr('/f', 'user.k', Buffer.from('v'), 0);
      const ino = vfs.getattr('/f').ino;
      const la = vfs.link('/f', '/g');
      expect(la.ino).to.equal(ino);
      expect(la.nlink).to.equal(2);
      expect(vfs.getattr('/f').nlink).to.equal(2);
      expect(vfs.getattr('/g').nlink).to.equal(2);
      vfs.mkdir('/d', 0o755);
      vfs.link('/g', '/d/h');
      expect(vfs.getattr('/d/h').nlink).to.equal(3);
      expect(codeOf(() => vfs.link('/d', '/d2'))).to.equal('EPERM');
      await vfs.sync();
      vfs.unlink('/f');
      expect(vfs.getattr('/g').nlink).to.equal(2);
      expect(readFile(vfs, '/g').toString()).to.equal('shared');
      vfs.unlink('/d/h');
      expect(vfs.getattr('/g').nlink).to.equal(1);
      expect(vfs.store.live().get({ pfs: 0, objId: ino, recType: RECTYPE.INODE, key: 0n })).to.not.equal(undefined);
      vfs.unlink('/g');
      expect(codeOf(() => vfs.getattr('/g'))).to.equal('ENOENT');
      expect(vfs.store.live().get({ pfs: 0, objId: ino, recType: RECTYPE.INODE, key: 0n })).to.equal(undefined);
      const t = await vfs.sync();
      // every record of the object is deleted (kept in history)
      const vs = vfs.store.versions(0, ino);
      expect(vs.length > 0).to.equal(true);
      expect(vs.every((v) => v.deleteTid !== 0n && v.deleteTid <= t)).to.equal(true);
      expect(new Set(vs.map((v) => v.recType))).to.deep.equal(new Set([RECTYPE.INODE, RECTYPE.DATA, RECTYPE.XATTR]));
      expect(codeOf(() => vfs.unlink('/g'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.unlink('/d'))).to.equal('EISDIR');
    });

    it('rmdir: ENOTEMPTY for a non-empty dir, ENOTDIR for a file, removes an empty one', () => {
      const vfs = newVfs();
      vfs.mkdir('/d', 0o755);
      vfs.mkdir('/d/e', 0o755);
      vfs.create('/f', 0o644);
      expect(vfs.getattr('/d').nlink).to.equal(3);
      expect(codeOf(() => vfs.rmdir('/d'))).to.equal('ENOTEMPTY');
      expect(codeOf(() => vfs.rmdir('/f'))).to.equal('ENOTDIR');
      expect(codeOf(() => vfs.rmdir('/nope'))).to.equal('ENOENT');
      vfs.rmdir('/d/e');
      expect(vfs.getattr('/d').nlink).to.equal(2);
      vfs.rmdir('/d');
      expect(vfs.readdir('/')).to.deep.equal(['.', '..', 'f']);
      expect(vfs.getattr('/').nlink).to.equal(2);
    });

    it('symlink and readlink', async () => {
      const vfs = newVfs();
      const a = vfs.symlink('../some/target é', '/l');
      expect(a.mode & S_IFMT).to.equal(S_IFLNK);
      expect(a.size).to.equal(Buffer.byteLength('../some/target é'));
      expect(vfs.readlink('/l')).to.equal('../some/target é');
      await vfs.sync();
      expect(vfs.readlink('/l')).to.equal('../some/target é');
      expect(vfs.getattr('/l').size).to.equal(17);
      vfs.create('/f', 0o644);
      expect(codeOf(() => vfs.readlink('/f'))).to.equal('EINVAL');
    });

    it('mknod makes a fifo; refuses a directory type', () => {
      const vfs = newVfs();
      const a = vfs.mknod('/p', S_IFIFO | 0o640, 0);
      expect(a.mode).to.equal(S_IFIFO | 0o640);
      expect(vfs.getattr('/p').mode).to.equal(S_IFIFO | 0o640);
      expect(vfs.getattr('/p').size).to.equal(0);
      expect(codeOf(() => vfs.mknod('/q', S_IFDIR | 0o755, 0))).to.equal('EINVAL');
    });
  });

  describe('rename', () => {
    it('over an existing file replaces it (and drops the old inode)', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/a', 'AAA');
      writeFile(vfs, '/b', 'BBBB');
      const aIno = vfs.getattr('/a').ino;
      const bIno = vfs.getattr('/b').ino;
      await vfs.sync();
      vfs.rename('/a', '/b');
      expect(vfs.readdir('/')).to.deep.equal(['.', '..', 'b']);
      expect(vfs.getattr('/b').ino).to.equal(aIno);
      expect(readFile(vfs, '/b').toString()).to.equal('AAA');
      expect(codeOf(() => vfs.getattr('/a'))).to.equal('ENOENT');
      expect(vfs.store.live().get({ pfs: 0, objId: bIno, recType: RECTYPE.INODE, key: 0n })).to.equal(undefined);
    });

    it('over an empty dir replaces it; over a non-empty dir is ENOTEMPTY', () => {
      const vfs = newVfs();
      vfs.mkdir('/src', 0o755);
      vfs.create('/src/inside', 0o644);
      vfs.mkdir('/empty', 0o755);
      vfs.mkdir('/full', 0o755);
      vfs.create('/full/x', 0o644);
      const srcIno = vfs.getattr('/src').ino;
      expect(codeOf(() => vfs.rename('/src', '/full'))).to.equal('ENOTEMPTY');
      expect(vfs.readdir('/full')).to.deep.equal(['.', '..', 'x']);
      expect(vfs.getattr('/').nlink).to.equal(5);
      vfs.rename('/src', '/empty');
      expect(vfs.getattr('/empty').ino).to.equal(srcIno);
      expect(vfs.readdir('/empty')).to.deep.equal(['.', '..', 'inside']);
      expect(vfs.readdir('/').slice(2).sort()).to.deep.equal(['empty', 'full']);
      expect(vfs.getattr('/').nlink).to.equal(4);
    });

    it('EINVAL into its own subtree, EISDIR file over dir, ENOTDIR dir over file, ENOENT for a missing source', () => {
      const vfs = newVfs();
      vfs.mkdir('/d', 0o755);
      vfs.mkdir('/d/sub', 0o755);
      vfs.mkdir('/e', 0o755);
      vfs.create('/f', 0o644);
      const before = vfs.store.group.size;
      expect(codeOf(() => vfs.rename('/d', '/d/sub/x'))).to.equal('EINVAL');
      expect(codeOf(() => vfs.rename('/d', '/d/x'))).to.equal('EINVAL');
      expect(codeOf(() => vfs.rename('/f', '/e'))).to.equal('EISDIR');
      expect(codeOf(() => vfs.rename('/d', '/f'))).to.equal('ENOTDIR');
      expect(codeOf(() => vfs.rename('/nope', '/x'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.rename('/f', '/nope/x'))).to.equal('ENOENT');
      expect(vfs.store.group.size).to.equal(before);
      expect(vfs.readdir('/').slice(2).sort()).to.deep.equal(['d', 'e', 'f']);
      // a sibling whose name merely starts with the source's is fine
      vfs.rename('/d', '/dd');
      expect(vfs.readdir('/dd')).to.deep.equal(['.', '..', 'sub']);
    });

    it('moving a directory to another parent moves its ".." link count', async () => {
      const vfs = newVfs();
      vfs.mkdir('/a', 0o755);
      vfs.mkdir('/b', 0o755);
      vfs.mkdir('/a/d', 0o755);
      writeFile(vfs, '/a/d/f', 'content');
      await vfs.sync();
      vfs.rename('/a/d', '/b/moved');
      expect(vfs.getattr('/a').nlink).to.equal(2);
      expect(vfs.getattr('/b').nlink).to.equal(3);
      expect(vfs.readdir('/a')).to.deep.equal(['.', '..']);
      expect(readFile(vfs, '/b/moved/f').toString()).to.equal('content');
      // renaming a file onto a hard link of itself does nothing
      vfs.link('/b/moved/f', '/b/g');
      vfs.rename('/b/g', '/b/moved/f');
      expect(vfs.readdir('/b').slice(2).sort()).to.deep.equal(['g', 'moved']);
      expect(vfs.getattr('/b/g').nlink).to.equal(2);
    });
  });

  describe('attributes and xattrs', () => {
    it('chmod, chown (with -1 meaning unchanged) and utimens', async () => {
      const vfs = newVfs();
      vfs.create('/f', 0o644);
      vfs.chmod('/f', 0o4600);
      expect(vfs.getattr('/f').mode).to.equal(S_IFREG | 0o4600);
      vfs.chmod('/f', S_IFDIR | 0o700); // type bits cannot be changed
      expect(vfs.getattr('/f').mode).to.equal(S_IFREG | 0o700);
      vfs.chown('/f', 1234, 5678);
      expect(vfs.getattr('/f')).to.include({ uid: 1234, gid: 5678 });
      vfs.chown('/f', -1, 42);
      expect(vfs.getattr('/f')).to.include({ uid: 1234, gid: 42 });
      vfs.chown('/f', 77, 0xffffffff);
      expect(vfs.getattr('/f')).to.include({ uid: 77, gid: 42 });
      vfs.utimens('/f', 1_000_000, 2_000_000);
      expect(vfs.getattr('/f')).to.include({ atime: 1_000_000, mtime: 2_000_000 });
      await vfs.sync();
      expect(vfs.getattr('/f')).to.include({ mode: S_IFREG | 0o700, uid: 77, gid: 42, atime: 1_000_000, mtime: 2_000_000 });
    });

    it('set/get/list/remove xattrs with CREATE/REPLACE flags and ENODATA', async () => {
      const vfs = newVfs();
      vfs.create('/f', 0o644);
      expect(vfs.listxattr('/f')).to.deep.equal([]);
      expect(codeOf(() => vfs.getxattr('/f', 'user.a'))).to.equal('ENODATA');
      expect(codeOf(() => vfs.setxattr('/f', 'user.a', Buffer.from('x'), 2))).to.equal('ENODATA');
      vfs.setxattr('/f', 'user.a', Buffer.from('one'), 1);
      vfs.setxattr('/f', 'user.b', Buffer.from([0, 1, 2]), 0);
      expect(vfs.getxattr('/f', 'user.a').toString()).to.equal('one');
      expect(vfs.getxattr('/f', 'user.b').equals(Buffer.from([0, 1, 2]))).to.equal(true);
      expect(codeOf(() => vfs.setxattr('/f', 'user.a', Buffer.from('x'), 1))).to.equal('EEXIST');
      expect(vfs.getxattr('/f', 'user.a').toString()).to.equal('one');
      vfs.setxattr('/f', 'user.a', Buffer.from('two'), 2);
      expect(vfs.getxattr('/f', 'user.a').toString()).to.equal('two');
      expect(vfs.listxattr('/f').sort()).to.deep.equal(['user.a', 'user.b']);
      await vfs.sync();
      expect(vfs.getxattr('/f', 'user.a').toString()).to.equal('two');
      vfs.removexattr('/f', 'user.a');
      expect(codeOf(() => vfs.getxattr('/f', 'user.a'))).to.equal('ENODATA');
      expect(codeOf(() => vfs.removexattr('/f', 'user.a'))).to.equal('ENODATA');
      expect(vfs.listxattr('/f')).to.deep.equal(['user.b']);
      await vfs.sync();
      expect(vfs.listxattr('/f')).to.deep.equal(['user.b']);
      // a value copy is returned: changing it does not change the store
      const v = vfs.getxattr('/f', 'user.b');
      v[0] = 9;
      expect(vfs.getxattr('/f', 'user.b')[0]).to.equal(0);
    });
  });

  describe('readdir order', () => {
    const ops = (vfs: Vfs, namesInOrder: string[]): void => {
      vfs.mkdir('/d', 0o755);
      for (const n of namesInOrder) writeFile(vfs, `/d/${n}`, n);
      vfs.unlink('/d/n7');
      vfs.rename('/d/n3', '/d/renamed');
    };
    const names = Array.from({ length: 40 }, (_v, i) => `n${i}`);

    it('is the same for two stores built with the same operations, and survives commit', async () => {
      const a = newVfs();
      const b = newVfs();
      ops(a, names);
      ops(b, names);
      const la = a.readdir('/d');
      expect(la.length).to.equal(2 + 39);
      expect(la.slice(2)).to.have.members([...names.filter((n) => n !== 'n7' && n !== 'n3'), 'renamed']);
      expect(b.readdir('/d')).to.deep.equal(la);
      await a.sync();
      expect(a.readdir('/d')).to.deep.equal(la);
      // the order is a function of the names, not of insertion order
      const c = newVfs();
      ops(c, [...names].reverse());
      expect(c.readdir('/d')).to.deep.equal(la);
    });
  });

  describe('resolved-path cache', () => {
    it('answers a repeated lookup from the cache until the live view changes', () => {
      const vfs = newVfs();
      vfs.mkdir('/d', 0o755);
      writeFile(vfs, '/d/a', 'one');
      const n = vfs.resolve('/d/a');
      expect(vfs.resolve('/d/a')).to.equal(n);
      writeFile(vfs, '/d/a', 'one more', 0);
      expect(vfs.resolve('/d/a')).to.not.equal(n);
      expect(vfs.getattr('/d/a').size).to.equal(8);
      vfs.rename('/d', '/e');
      expect(codeOf(() => vfs.resolve('/d/a'))).to.equal('ENOENT');
      expect(readFile(vfs, '/e/a').toString()).to.equal('one more');
      vfs.unlink('/e/a');
      expect(codeOf(() => vfs.getattr('/e/a'))).to.equal('ENOENT');
    });

    it('never shows a node from before a store-level change (rollback) or a commit', () => {
      const vfs = newVfs();
      const store = stores[stores.length - 1]!;
      writeFile(vfs, '/keep', 'k');
      const t = store.commit()!.tid;
      writeFile(vfs, '/later', 'l');
      store.commit();
      expect(vfs.getattr('/later').size).to.equal(1);
      store.rollbackPfs(0, t);
      expect(codeOf(() => vfs.getattr('/later'))).to.equal('ENOENT');
      expect(vfs.getattr('/keep').size).to.equal(1);
    });

    it('keeps nothing over a read-only store, which cannot see another writer', async () => {
      const vfs = newVfs();
      const store = stores[stores.length - 1]!;
      writeFile(vfs, '/f', 'x');
      await vfs.sync();
      const dir = store.dir;
      const ro = Store.open(dir, { readOnly: true });
      try {
        const rv = new Vfs(ro, { uid: 1000, gid: 1000 });
        expect(ro.liveGeneration()).to.equal(undefined);
        const a = rv.resolve('/f');
        expect(rv.resolve('/f')).to.not.equal(a);
        expect(rv.resolve('/f')).to.deep.equal(a);
      } finally {
        await ro.close();
      }
    });
  });

  describe('@@ history views', () => {
    it('show the state as of the TID through readdir, getattr, read, readlink and xattrs', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/file', 'old contents');
      vfs.chmod('/file', 0o600);
      vfs.mkdir('/dir', 0o755);
      writeFile(vfs, '/dir/inner', 'inner old');
      writeFile(vfs, '/gone', 'will be unlinked');
      vfs.symlink('file', '/link');
      vfs.setxattr('/file', 'user.x', Buffer.from('old'), 0);
      const t = await vfs.sync();
      const tt = formatTid(t);
      const rootAtT = vfs.readdir('/');
      writeFile(vfs, '/file', 'NEW CONTENTS, longer');
      vfs.chmod('/file', 0o644);
      vfs.setxattr('/file', 'user.x', Buffer.from('new'), 0);
      vfs.unlink('/gone');
      writeFile(vfs, '/added', 'added later');
      vfs.rename('/dir/inner', '/dir/inner2');
      vfs.symlink('elsewhere', '/link2');
      await vfs.sync();
      vfs.truncate('/file', 3); // staged only

      expect(vfs.readdir('/@@' + tt)).to.deep.equal(rootAtT);
      expect(rootAtT.slice(2).sort()).to.deep.equal(['dir', 'file', 'gone', 'link']);
      expect(vfs.readdir('/dir/@@' + tt)).to.deep.equal(['.', '..', 'inner']);
      expect(vfs.readdir('/dir@@' + tt)).to.deep.equal(['.', '..', 'inner']);
      expect(vfs.readdir('/@@' + tt + '/dir')).to.deep.equal(['.', '..', 'inner']);
      expect(vfs.readdir('/dir')).to.deep.equal(['.', '..', 'inner2']);

      const old = vfs.getattr('/file@@' + tt);
      expect(old.size).to.equal(12);
      expect(old.mode).to.equal(S_IFREG | 0o600);
      expect(vfs.getattr('/file').size).to.equal(3);
      expect(vfs.getattr('/@@' + tt + '/file').size).to.equal(12);

      expect(readFile(vfs, '/@@' + tt + '/file').toString()).to.equal('old contents');
      expect(readFile(vfs, '/file@@' + tt).toString()).to.equal('old contents');
      expect(readFile(vfs, '/@@' + tt + '/gone').toString()).to.equal('will be unlinked');
      expect(readFile(vfs, '/@@' + tt + '/dir/inner').toString()).to.equal('inner old');
      expect(readFile(vfs, '/dir/inner@@' + tt).toString()).to.equal('inner old');
      expect(readFile(vfs, '/file').toString()).to.equal('NEW');
      expect(vfs.readlink('/@@' + tt + '/link')).to.equal('file');
      expect(vfs.getxattr('/file@@' + tt, 'user.x').toString()).to.equal('old');
      expect(vfs.listxattr('/@@' + tt + '/file')).to.deep.equal(['user.x']);
      expect(codeOf(() => vfs.getattr('/@@' + tt + '/added'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/added@@' + tt))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/@@' + tt + '/link2'))).to.equal('ENOENT');
      // a handle opened on the view keeps reading the old state after more commits
      const fh = vfs.open('/@@' + tt + '/file', O_RDONLY);
      writeFile(vfs, '/file', 'XXXXXXXXXXXXXXXXXXXXXXXX');
      await vfs.sync();
      const buf = Buffer.alloc(64);
      expect(vfs.read(fh, buf, 64, 0)).to.equal(12);
      expect(buf.subarray(0, 12).toString()).to.equal('old contents');
      expect(vfs.fgetattr(fh).size).to.equal(12);
      vfs.release(fh);
      // before the file existed
      const t0 = vfs.store.info().firstTid;
      expect(codeOf(() => vfs.getattr('/file@@' + formatTid(t0)))).to.equal('ENOENT');
      expect(vfs.readdir('/@@' + formatTid(t0))).to.deep.equal(['.', '..']);
    });

    it('writes, creates, unlinks and renames through @@ paths throw EROFS and change nothing', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/file', 'data');
      vfs.mkdir('/dir', 0o755);
      const t = await vfs.sync();
      const tt = formatTid(t);
      const attempts: Array<[string, () => unknown]> = [
        ['open O_WRONLY', () => vfs.open('/@@' + tt + '/file', O_WRONLY)],
        ['open O_RDWR name@@', () => vfs.open('/file@@' + tt, O_RDWR)],
        ['create', () => vfs.create('/@@' + tt + '/new', 0o644)],
        ['create in dir@@', () => vfs.create('/dir@@' + tt + '/new', 0o644)],
        ['create name@@', () => vfs.create('/new@@' + tt, 0o644)],
        ['mkdir', () => vfs.mkdir('/@@' + tt + '/d2', 0o755)],
        ['mkdir @@', () => vfs.mkdir('/@@' + tt, 0o755)],
        ['mknod', () => vfs.mknod('/@@' + tt + '/p', S_IFIFO | 0o644, 0)],
        ['symlink', () => vfs.symlink('x', '/@@' + tt + '/l')],
        ['link to', () => vfs.link('/file', '/@@' + tt + '/l')],
        ['link from', () => vfs.link('/file@@' + tt, '/l')],
        ['unlink', () => vfs.unlink('/@@' + tt + '/file')],
        ['unlink name@@', () => vfs.unlink('/file@@' + tt)],
        ['rmdir', () => vfs.rmdir('/@@' + tt + '/dir')],
        ['rename from', () => vfs.rename('/@@' + tt + '/file', '/moved')],
        ['rename to', () => vfs.rename('/file', '/@@' + tt + '/moved')],
        ['rename name@@', () => vfs.rename('/file@@' + tt, '/moved')],
        ['truncate', () => vfs.truncate('/file@@' + tt, 0)],
        ['chmod', () => vfs.chmod('/@@' + tt + '/file', 0o777)],
        ['chown', () => vfs.chown('/@@' + tt + '/file', 1, 1)],
        ['utimens', () => vfs.utimens('/@@' + tt + '/file', 1, 1)],
        ['setxattr', () => vfs.setxattr('/@@' + tt + '/file', 'user.a', Buffer.from('x'), 0)],
        ['removexattr', () => vfs.removexattr('/@@' + tt + '/file', 'user.a')],
      ];
      for (const [what, fn] of attempts) {
        expect(codeOf(fn), what).to.equal('EROFS');
        expect(vfs.store.group.isEmpty, `${what} staged something`).to.equal(true);
      }
      // ftruncate/write through a read-only handle on a view
      const fh = vfs.open('/@@' + tt + '/file', O_RDONLY);
      expect(codeOf(() => vfs.ftruncate(fh, 0))).to.equal('EROFS');
      expect(codeOf(() => vfs.write(fh, Buffer.from('x'), 1, 0))).to.not.equal('no error');
      vfs.release(fh);
      expect(vfs.store.group.isEmpty).to.equal(true);
      expect(vfs.store.commit()).to.equal(null);
      expect(vfs.store.lastTid).to.equal(t);
      expect(vfs.readdir('/').slice(2).sort()).to.deep.equal(['dir', 'file']);
      expect(readFile(vfs, '/file').toString()).to.equal('data');
    });

    it('a TID greater than lastTid is ENOENT', async () => {
      const vfs = newVfs();
      writeFile(vfs, '/file', 'data');
      const t = await vfs.sync();
      const future = formatTid(vfs.store.lastTid + 1n);
      expect(codeOf(() => vfs.readdir('/@@' + future))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/file@@' + future))).to.equal('ENOENT');
      expect(codeOf(() => vfs.open('/@@' + future + '/file', O_RDONLY))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/@@0xffffffffffffffff'))).to.equal('ENOENT');
      expect(vfs.getattr('/file@@' + formatTid(t)).size).to.equal(4);
      // staged changes do not make a future TID valid
      writeFile(vfs, '/file', 'more');
      expect(codeOf(() => vfs.readdir('/@@' + future))).to.equal('ENOENT');
      expect(codeOf(() => vfs.getattr('/@@' + formatTid(t)))).to.equal('no error');
    });
  });

  it('a deleted directory stays readable through dir@@TID', async () => {
    const vfs = newVfs();
    vfs.mkdir('/d', 0o755);
    writeFile(vfs, '/d/f', 'kept in history');
    const tt = formatTid(await vfs.sync());
    vfs.unlink('/d/f');
    vfs.rmdir('/d');
    await vfs.sync();
    expect(codeOf(() => vfs.getattr('/d'))).to.equal('ENOENT');
    expect(vfs.readdir('/d@@' + tt)).to.deep.equal(['.', '..', 'f']);
    expect(readFile(vfs, '/d@@' + tt + '/f').toString()).to.equal('kept in history');
  });

  it('a read-only Vfs refuses changes with EROFS but reads', async () => {
    const vfs = newVfs();
    writeFile(vfs, '/f', 'data');
    await vfs.sync();
    const ro = new Vfs(vfs.store, { readOnly: true });
    expect(codeOf(() => ro.create('/g', 0o644))).to.equal('EROFS');
    expect(codeOf(() => ro.open('/f', O_WRONLY))).to.equal('EROFS');
    expect(codeOf(() => ro.unlink('/f'))).to.equal('EROFS');
    expect(codeOf(() => ro.chmod('/f', 0o600))).to.equal('EROFS');
    expect(vfs.store.group.isEmpty).to.equal(true);
    expect(readFile(ro, '/f').toString()).to.equal('data');
  });

  it('commits early once staged blocks exceed maxDirtyBytes', () => {
    const s = tmpStore();
    stores.push(s);
    const vfs = new Vfs(s, { maxDirtyBytes: 2 * BLOCK_SIZE });
    const before = s.lastTid;
    const fh = vfs.create('/f', 0o644);
    vfs.write(fh, Buffer.alloc(BLOCK_SIZE, 1), BLOCK_SIZE, 0);
    expect(s.lastTid).to.equal(before);
    vfs.write(fh, Buffer.alloc(BLOCK_SIZE, 2), BLOCK_SIZE, BLOCK_SIZE);
    vfs.release(fh);
    expect(s.lastTid > before).to.equal(true);
    expect(s.group.isEmpty).to.equal(true);
    expect(s.group.dataBytes).to.equal(0);
    const b = readFile(vfs, '/f');
    expect(b.length).to.equal(2 * BLOCK_SIZE);
    expect(b[0]).to.equal(1);
    expect(b[2 * BLOCK_SIZE - 1]).to.equal(2);
  });

  it('the root is object 1 and the store survives a reopen through the Vfs', async () => {
    const vfs = newVfs();
    expect(vfs.getattr('/').ino).to.equal(ROOT_OBJ);
    expect(vfs.getattr('/').mode).to.equal(S_IFDIR | 0o755);
    writeFile(vfs, '/f', 'persisted');
    await vfs.sync();
    writeFile(vfs, '/g', 'lost');
    const dir = vfs.store.dir;
    const s = stores.pop()!;
    await s.close();
    const s2 = Store.open(dir);
    stores.push(s2);
    const v2 = new Vfs(s2);
    expect(v2.readdir('/')).to.deep.equal(['.', '..', 'f']);
    expect(readFile(v2, '/f').toString()).to.equal('persisted');
    const fh = v2.create('/h', 0o644);
    v2.release(fh);
    expect(v2.getattr('/h').ino > v2.getattr('/f').ino).to.equal(true);
  });
});
