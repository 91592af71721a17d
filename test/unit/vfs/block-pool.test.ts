/**
 * The block pool: blocks carved from slabs that live as long as the pool,
 * reused after a commit or a drop, and whose pages an idle mount gives back.
 * Memory is read from the kernel (/proc/self/status), not from the pool.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { nativeAddon } from '../../../src/native.js';
import { RECTYPE, type Store } from '../../../src/store/index.js';
import { BLOCK_SIZE, Vfs } from '../../../src/vfs/index.js';
import { BlockPool } from '../../../src/vfs/block-pool.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';

function rssAnonKiB(): number {
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no RssAnon in /proc/self/status');
  return Number(m[1]);
}

describe('vfs/block-pool', () => {
  it('carves page-aligned shared blocks from slabs and hands a given block out again', () => {
    const addon = nativeAddon();
    expect(addon, 'h2fs-native prebuild for this platform').to.not.equal(null);
    const pool = new BlockPool(BLOCK_SIZE, 4);
    const blocks = Array.from({ length: 5 }, () => pool.take());
    for (const b of blocks) {
      expect(b.length).to.equal(BLOCK_SIZE);
      expect(b.buffer).to.be.instanceOf(SharedArrayBuffer);
      expect(addon!.pageOffset(b)).to.equal(0);
    }
    // Four blocks per slab: the fifth opened a second slab.
    expect(blocks[0]!.buffer).to.equal(blocks[3]!.buffer);
    expect(blocks[4]!.buffer).to.not.equal(blocks[0]!.buffer);
    expect(pool.slabBytes).to.be.at.least(2 * 4 * BLOCK_SIZE);
    // No two blocks overlap.
    blocks.forEach((b, i) => b.fill(i + 1));
    blocks.forEach((b, i) => expect(b.every((x) => x === i + 1)).to.equal(true));
    pool.give(blocks[2]!);
    expect(pool.take()).to.equal(blocks[2]);
    expect(pool.freeBlocks).to.equal(0);
  });

  it('gives the pages of free blocks back when idle and keeps the blocks in use', () => {
    const n = 1024; // 64 MiB
    const pool = new BlockPool(BLOCK_SIZE, n);
    const blocks = Array.from({ length: n }, () => pool.take());
    for (const b of blocks) b.fill(0xab);
    const inUse = blocks.pop()!;
    const before = rssAnonKiB();
    for (const b of blocks) pool.give(b);
    expect(pool.releaseIdle()).to.equal(true);
    const after = rssAnonKiB();
    expect(before - after, `RssAnon ${before} -> ${after} KiB`).to.be.at.least(48 * 1024);
    expect(blocks[0]!.every((x) => x === 0)).to.equal(true);
    expect(inUse.every((x) => x === 0xab)).to.equal(true);
    // Nothing was used since: the next idle tick has nothing to do.
    expect(pool.releaseIdle()).to.equal(false);
    pool.give(inUse);
    expect(pool.releaseIdle()).to.equal(true);
  });

  describe('with a VFS', () => {
    const stores: Store[] = [];
    afterEach(async () => {
      while (stores.length) await stores.pop()!.close();
    });
    after(removeTmpDirs);

    it('takes back a block its file dropped before the commit, and the next write reuses it', () => {
      const store = tmpStore();
      stores.push(store);
      const vfs = new Vfs(store, { uid: 1000, gid: 1000 });
      const given: Buffer[] = [];
      const give = store.recycleBlock!;
      store.recycleBlock = (b: Buffer): void => {
        given.push(b);
        give(b);
      };
      const fh = vfs.create('/a', 0o644);
      vfs.write(fh, Buffer.alloc(BLOCK_SIZE, 1), BLOCK_SIZE, 0);
      const objId = vfs.getattr('/a').ino;
      const lk = { pfs: 0, objId, recType: RECTYPE.DATA, key: 0n };
      const staged = store.group.get(lk)!.data!;
      expect(staged.buffer).to.be.instanceOf(SharedArrayBuffer);
      // Rewriting the block in place keeps it; truncating the file drops it.
      vfs.write(fh, Buffer.alloc(100, 2), 100, 0);
      expect(given).to.have.length(0);
      vfs.ftruncate(fh, 0);
      vfs.release(fh);
      expect(given).to.deep.equal([staged]);
      const fh2 = vfs.create('/b', 0o644);
      vfs.write(fh2, Buffer.alloc(BLOCK_SIZE, 3), BLOCK_SIZE, 0);
      vfs.release(fh2);
      const objB = vfs.getattr('/b').ino;
      expect(store.group.get({ ...lk, objId: objB })!.data).to.equal(staged);
      store.commit();
      expect(vfs.getattr('/a').size).to.equal(0);
      const out = Buffer.alloc(BLOCK_SIZE);
      const rh = vfs.open('/b', 0);
      expect(vfs.read(rh, out, BLOCK_SIZE, 0)).to.equal(BLOCK_SIZE);
      vfs.release(rh);
      expect(out.every((x) => x === 3)).to.equal(true);
    });
  });
});
