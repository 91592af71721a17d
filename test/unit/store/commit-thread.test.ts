import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RECTYPE, Store, type LogicalKey, type XattrPayload } from '../../../src/store/index.js';
import type { Tid } from '../../../src/tid.js';
import { Vfs } from '../../../src/vfs/index.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';

const OBJ = 100;

function xk(key: bigint): LogicalKey {
  return { pfs: 0, objId: OBJ, recType: RECTYPE.XATTR, key };
}

function xp(name: string): XattrPayload {
  return { v: 1, name, value: Buffer.from(name) };
}

function readAll(vfs: Vfs, p: string, size: number): Buffer {
  const fh = vfs.open(p, 0);
  const out = Buffer.alloc(size);
  expect(vfs.read(fh, out, size, 0)).to.equal(size);
  vfs.release(fh);
  return out;
}

describe('store/commit thread (flush groups written off the event loop)', () => {
  const open: Store[] = [];
  function threaded(): Store {
    const s = tmpStore();
    s.startCommitThread();
    open.push(s);
    return s;
  }
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
    removeTmpDirs();
  });

  it('shows a sealed group at once, lands it in LMDB, and only then moves the mirror point and tells listeners', async () => {
    const store = threaded();
    const before = store.syncEndTid(0);
    const heard: Tid[] = [];
    store.onCommit((t) => heard.push(t));
    store.stage({ lk: xk(1n), payload: xp('a') });
    const tid = store.commit()!.tid;
    expect(store.lastTid).to.equal(tid);
    // Live at once, whether or not the thread has written it yet.
    expect(store.live().get<XattrPayload>(xk(1n))?.name).to.equal('a');
    expect(store.live().scan<XattrPayload>(0, OBJ, RECTYPE.XATTR).map((r) => r.payload.name)).to.deep.equal(['a']);
    if (heard.length === 0) expect(store.syncEndTid(0)).to.equal(before);
    await store.flushed();
    expect(heard).to.deep.equal([tid]);
    expect(store.syncEndTid(0)).to.equal(tid);
    expect(store.asOf(tid).get<XattrPayload>(xk(1n))?.name).to.equal('a');
    expect(store.asOf(tid - 1n).get(xk(1n))).to.equal(undefined);
  });

  it('keeps TID order and every version across many commits in a row, each stamping the last', async () => {
    const store = threaded();
    const tids: Tid[] = [];
    for (let i = 0; i < 12; i++) {
      store.stage({ lk: xk(1n), payload: xp(`v${i}`) });
      if (i % 3 === 0) store.stage({ lk: xk(BigInt(100 + i)), payload: xp(`extra${i}`) });
      if (i === 7) store.stage({ lk: xk(100n), payload: null });
      tids.push(store.commit()!.tid);
      // The newest staged, in flight or landed version is what the live view reads.
      expect(store.live().get<XattrPayload>(xk(1n))?.name).to.equal(`v${i}`);
    }
    await store.flushed();
    for (let i = 1; i < tids.length; i++) expect(tids[i]! > tids[i - 1]!).to.equal(true);
    tids.forEach((t, i) => expect(store.asOf(t).get<XattrPayload>(xk(1n))?.name, `at commit ${i}`).to.equal(`v${i}`));
    expect(store.asOf(tids[6]!).get<XattrPayload>(xk(100n))?.name).to.equal('extra0');
    expect(store.asOf(tids[7]!).get(xk(100n))).to.equal(undefined);
    // One live version per key: each commit stamped the previous one's delete_tid.
    const versions = store.versions(0, OBJ).filter((r) => r.key === 1n);
    expect(versions).to.have.length(12);
    expect(versions.filter((r) => r.deleteTid === 0n)).to.have.length(1);
    versions.slice(0, -1).forEach((r, i) => expect(r.deleteTid).to.equal(tids[i + 1]));
  });

  it('writes a file\'s blocks from shared memory exactly, and a reopened store reads them back', async () => {
    const store = threaded();
    const vfs = new Vfs(store, { maxDirtyBytes: 1024 * 1024 });
    const data = randomBytes(5 * 1024 * 1024 + 12345);
    const fh = vfs.create('/big', 0o644);
    // 1 MiB dirty limit: several groups sealed and in flight while writing.
    for (let off = 0; off < data.length; off += 100_000) {
      const n = Math.min(100_000, data.length - off);
      vfs.write(fh, data.subarray(off, off + n), n, off);
      expect(readAll(vfs, '/big', off + n).equals(data.subarray(0, off + n)), `after writing ${off + n} bytes`).to.equal(true);
    }
    vfs.release(fh);
    await vfs.sync();
    const dir = store.dir;
    await open.pop()!.close();
    const again = Store.open(path.resolve(dir));
    open.push(again);
    expect(readAll(new Vfs(again), '/big', data.length).equals(data)).to.equal(true);
  });

  it('close() lands what is in flight before it closes', async () => {
    const store = threaded();
    store.stage({ lk: xk(5n), payload: xp('last') });
    const tid = store.commit()!.tid;
    const dir = store.dir;
    await open.pop()!.close();
    const again = Store.open(dir);
    open.push(again);
    expect(again.lastTid).to.equal(tid);
    expect(again.asOf(tid).get<XattrPayload>(xk(5n))?.name).to.equal('last');
  });
});
