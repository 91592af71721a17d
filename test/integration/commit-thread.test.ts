import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { H2Error } from '../../src/errors.js';
import { RECTYPE, Store, type LogicalKey } from '../../src/store/index.js';
import { Vfs } from '../../src/vfs/index.js';
import { requireFuse } from '../helpers/h2fs.js';
import { removeTmpDirs, tmpDir } from '../helpers/tmp.js';

const BLOCK = 64 * 1024;

function blockKey(objId: number, block: number): LogicalKey {
  return { pfs: 0, objId, recType: RECTYPE.DATA, key: BigInt(block) };
}

/** A store on a 24 MiB tmpfs whose commit thread runs out of disk, then gets some back. */
describe('the commit thread on a disk that fills up', function () {
  this.timeout(60_000);
  let small = '';
  let store: Store | undefined;

  before(function () {
    // Root for the tmpfs; the FUSE check is the suite's usual way to fail loudly in CI.
    requireFuse(this, () => (process.getuid?.() === 0 ? undefined : 'needs root to mount a tmpfs'));
    small = tmpDir('h2fs-commit-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', small]);
  });

  after(async () => {
    await store?.close().catch(() => undefined);
    if (small) spawnSync('umount', ['-l', small]);
    removeTmpDirs();
  });

  it('keeps a failed group visible, reports ENOSPC from flushed(), and lands it once there is room', async () => {
    const dir = path.join(small, 'store');
    store = Store.create(dir);
    Vfs.initRoot(store, 0);
    store.commit();
    store.startCommitThread();
    const filler = path.join(small, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(12 * 1024 * 1024, 1));
    // 16 MiB of blocks staged behind the VFS's space check: the thread's transaction cannot fit.
    const blocks = 256;
    for (let b = 0; b < blocks; b++) {
      const data = Buffer.alloc(BLOCK, b & 0xff);
      store.stage({ lk: blockKey(7, b), payload: { v: 1, len: BLOCK }, data });
    }
    const tid = store.commit()!.tid;
    const failure = await store.flushed().then(() => undefined, (e: unknown) => e);
    expect(failure, 'flushed() should reject on a full disk').to.be.instanceOf(H2Error);
    expect((failure as H2Error).code).to.equal('ENOSPC');
    // Nothing lost: still in flight, still what the live view reads.
    expect(store.live().getData(blockKey(7, 200))?.[0]).to.equal(200);
    expect(store.asOf(tid).getData(blockKey(7, 200))).to.equal(undefined);
    // Room again: the next commit writes the failed group first, in order, then its own.
    fs.rmSync(filler);
    store.stage({ lk: blockKey(8, 0), payload: { v: 1, len: 3 }, data: Buffer.from('abc') });
    const next = store.commit()!.tid;
    await store.flushed();
    expect(next > tid).to.equal(true);
    expect(store.syncEndTid(0)).to.equal(next);
    expect(store.asOf(tid).getData(blockKey(7, 200))?.[0]).to.equal(200);
    expect(store.asOf(tid).getData(blockKey(7, blocks - 1))?.length).to.equal(BLOCK);
    expect(store.asOf(next).getData(blockKey(8, 0))?.toString()).to.equal('abc');
    await store.close();
    store = undefined;
    const again = Store.open(dir);
    expect(again.lastTid).to.equal(next);
    expect(again.asOf(next).getData(blockKey(7, 0))?.length).to.equal(BLOCK);
    await again.close();
  });
});
