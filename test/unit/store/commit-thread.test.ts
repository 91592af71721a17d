import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { H2Error } from '../../../src/errors.js';
import { newPfsHeader, RECTYPE, Store, type LogicalKey, type MirrorOp, type XattrPayload } from '../../../src/store/index.js';
import { TID_MAX, type Tid } from '../../../src/tid.js';
import { Vfs } from '../../../src/vfs/index.js';
import { cachedBytes } from '../../helpers/page-cache.js';
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
  function threaded(opts: { dropBulkParts?: boolean } = {}): Store {
    const s = tmpStore();
    s.startCommitThread(opts);
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

  describe('mirror parts', () => {
    const SHARED = '00000000-0000-4000-8000-000000000001';

    /** A slave PFS in a threaded store, and a TID far past anything it has. */
    async function slave(opts: { dropBulkParts?: boolean } = {}): Promise<{ store: Store; pfs: number; t: Tid }> {
      const store = threaded(opts);
      const pfs = store.allocPfsId();
      store.putPfs(pfs, newPfsHeader('slave', { sharedUuid: SHARED }));
      store.commit();
      await store.flushed();
      return { store, pfs, t: store.lastTid + 100n };
    }

    function mk(key: bigint, createTid: Tid, name: string): MirrorOp {
      return { kind: 'create', objId: OBJ, recType: RECTYPE.XATTR, key, createTid, payload: xp(name) };
    }

    function named(store: Store, pfs: number, key: bigint, asOf: Tid = TID_MAX): string | undefined {
      return (asOf === TID_MAX ? store.live() : store.asOf(asOf)).get<XattrPayload>({ pfs, objId: OBJ, recType: RECTYPE.XATTR, key })?.name;
    }

    it('writes a part off the event loop: the store reads as before until it lands, then the part, its sync-end-tid and listeners', async () => {
      const { store, pfs, t } = await slave();
      const heard: Tid[] = [];
      store.onCommit((x) => heard.push(x));
      const block = randomBytes(65_536);
      const ops: MirrorOp[] = [mk(1n, t, 'a'),
        { kind: 'create', objId: OBJ + 1, recType: RECTYPE.DATA, key: 0n, createTid: t, payload: { v: 1, len: block.length }, data: block }];
      const want = Buffer.from(block);
      const landed = store.applyMirror(pfs, ops, t);
      // The ops were copied when handed over: reusing them changes nothing.
      ops.length = 0;
      block.fill(0);
      let done = false;
      void landed.then(() => { done = true; });
      if (!done) {
        expect(named(store, pfs, 1n)).to.equal(undefined);
        expect(store.syncEndTid(pfs)).to.equal(1n);
      }
      await landed;
      expect(named(store, pfs, 1n)).to.equal('a');
      expect(store.syncEndTid(pfs)).to.equal(t);
      expect(heard).to.deep.equal([t]);
      const data = store.dataVersion(pfs, OBJ + 1, 0n, t)!;
      expect(data.equals(want), 'the block as handed over, not as changed after').to.equal(true);
    });

    it('a failed part rejects with H2_PROTOCOL and nothing of it lands; the rest of its chain is skipped, another chain goes on', async () => {
      const { store, pfs, t } = await slave();
      const chain = store.newMirrorChain();
      const missing: MirrorOp = { kind: 'delete', objId: OBJ, recType: RECTYPE.XATTR, key: 9n, createTid: t - 50n, deleteTid: t };
      const bad = store.applyMirror(pfs, [mk(1n, t, 'in the bad part'), missing], t, chain);
      const after = store.applyMirror(pfs, [mk(2n, t + 1n, 'after it')], t + 1n, chain);
      const other = store.applyMirror(pfs, [mk(3n, t + 2n, 'other chain')], t + 2n, store.newMirrorChain());
      const [r1, r2, r3] = await Promise.allSettled([bad, after, other]);
      expect(r1.status).to.equal('rejected');
      expect(((r1 as PromiseRejectedResult).reason as H2Error).code).to.equal('H2_PROTOCOL');
      expect(r2.status).to.equal('rejected');
      expect(((r2 as PromiseRejectedResult).reason as H2Error).code).to.equal('H2_STORE');
      expect(r3.status).to.equal('fulfilled');
      expect(named(store, pfs, 1n)).to.equal(undefined);
      expect(named(store, pfs, 2n)).to.equal(undefined);
      expect(named(store, pfs, 3n)).to.equal('other chain');
      expect(store.syncEndTid(pfs)).to.equal(t + 2n);
    });

    it('keeps the order of commits and parts handed over in turn, with a commit staged before a part landing first', async () => {
      const { store, pfs, t } = await slave();
      store.stage({ lk: xk(1n), payload: xp('staged before') });
      const p1 = store.applyMirror(pfs, [mk(1n, t, 'one')], t);
      const staged = store.lastTid;
      store.stage({ lk: xk(1n), payload: xp('staged after') });
      const c2 = store.commit()!.tid;
      const p2 = store.applyMirror(pfs, [mk(1n, t + 1n, 'two')], t + 1n);
      await Promise.all([p1, p2, store.flushed()]);
      expect(store.asOf(staged).get<XattrPayload>(xk(1n))?.name).to.equal('staged before');
      expect(store.asOf(c2).get<XattrPayload>(xk(1n))?.name).to.equal('staged after');
      expect(named(store, pfs, 1n, t)).to.equal('one');
      expect(named(store, pfs, 1n)).to.equal('two');
      expect(store.syncEndTid(pfs)).to.equal(t + 1n);
      // Both versions of the mirrored key are there, as the master made them.
      expect(store.versions(pfs, OBJ).filter((v) => v.recType === RECTYPE.XATTR).map((v) => v.createTid)).to.deep.equal([t, t + 1n]);
    });

    it('big parts are packed into the buffers the thread hands back: a shorter part in a longer buffer lands exactly', async () => {
      const { store, pfs, t } = await slave();
      const blocks = (n: number, seed: number): MirrorOp[] => Array.from({ length: n }, (_, i) => {
        const data = Buffer.alloc(65_536, (seed + i) & 0xff);
        return { kind: 'create', objId: OBJ + 1, recType: RECTYPE.DATA, key: BigInt(i) * 65_536n, createTid: t + BigInt(seed),
          payload: { v: 1, len: data.length }, data };
      });
      // 3 MiB, then 1.5 MiB written over the first's bytes, then 3 MiB again.
      await store.applyMirror(pfs, blocks(48, 0), t);
      await store.applyMirror(pfs, blocks(24, 1), t + 1n);
      await store.applyMirror(pfs, blocks(48, 2), t + 2n);
      expect(store.syncEndTid(pfs)).to.equal(t + 2n);
      const versions = store.versions(pfs, OBJ + 1).filter((v) => v.recType === RECTYPE.DATA);
      expect(versions.filter((v) => v.createTid === t + 1n)).to.have.length(24);
      expect(versions).to.have.length(48 + 24 + 48);
      for (const [seed, i] of [[0, 47], [1, 0], [1, 23], [2, 47]] as const) {
        const got = store.dataVersion(pfs, OBJ + 1, BigInt(i) * 65_536n, t + BigInt(seed))!;
        expect(got.equals(Buffer.alloc(65_536, (seed + i) & 0xff)), `block ${i} of part ${seed}`).to.equal(true);
      }
    });

    /** `n` 64 KiB blocks of a bulk part `seed`, mirrored at t + seed. */
    const bulkBlocks = (t: Tid, n: number, seed: number): MirrorOp[] => Array.from({ length: n }, (_, i) => {
      const data = Buffer.alloc(65_536, (seed * 7 + i) & 0xff);
      return { kind: 'create', objId: OBJ + 2, recType: RECTYPE.DATA, key: BigInt(seed * 1000 + i) * 65_536n, createTid: t + BigInt(seed),
        payload: { v: 1, len: data.length }, data };
    });

    it('drops a bulk part from the page cache once the next bulk part has landed, pages its reads mapped included', async () => {
      const { store, pfs, t } = await slave();
      const file = path.join(store.dir, 'data.mdb');
      const blocks = (n: number, seed: number): MirrorOp[] => bulkBlocks(t, n, seed);
      const size0 = fs.statSync(file).size;
      await store.applyMirror(pfs, blocks(64, 0), t);
      const part1 = fs.statSync(file).size - size0;
      expect(part1).to.be.at.least(4 << 20);
      // Read back through LMDB's map: those pages are mapped in this process now.
      for (let i = 0; i < 64; i++) expect(store.dataVersion(pfs, OBJ + 2, BigInt(i) * 65_536n, t)![0]).to.equal(i & 0xff);
      const withPart1 = cachedBytes(file);
      expect(withPart1).to.be.at.least(part1 * 0.9);
      const size1 = fs.statSync(file).size;
      await store.applyMirror(pfs, blocks(64, 1), t + 1n);
      const part2 = fs.statSync(file).size - size1;
      // A small part after it: the thread has dealt with part 2 once this one lands.
      await store.applyMirror(pfs, [mk(1n, t + 2n, 'small')], t + 2n);
      const after = cachedBytes(file);
      expect(after, 'part 1 left the cache').to.be.at.most(fs.statSync(file).size - part1 * 0.9);
      expect(after, 'part 2 is still cached (dropped only after the next bulk part)').to.be.at.least(part2 * 0.9);
      // Dropped from the cache, not from the store.
      expect(store.dataVersion(pfs, OBJ + 2, 63n * 65_536n, t)!.equals(Buffer.alloc(65_536, 63))).to.equal(true);
      expect(store.syncEndTid(pfs)).to.equal(t + 2n);
    });

    it('keeps bulk parts cached when told to (mount option mirror_cache=keep)', async () => {
      const { store, pfs, t } = await slave({ dropBulkParts: false });
      const file = path.join(store.dir, 'data.mdb');
      const size0 = fs.statSync(file).size;
      await store.applyMirror(pfs, bulkBlocks(t, 64, 0), t);
      const part1 = fs.statSync(file).size - size0;
      expect(part1).to.be.at.least(4 << 20);
      await store.applyMirror(pfs, bulkBlocks(t, 64, 1), t + 1n);
      await store.applyMirror(pfs, bulkBlocks(t, 64, 2), t + 2n);
      await store.applyMirror(pfs, [mk(1n, t + 3n, 'small')], t + 3n);
      // All three parts still cached: nothing was dropped.
      expect(cachedBytes(file)).to.be.at.least((fs.statSync(file).size - size0) * 0.9);
      expect(store.dataVersion(pfs, OBJ + 2, 63n * 65_536n, t)!.equals(Buffer.alloc(65_536, 63))).to.equal(true);
      expect(store.syncEndTid(pfs)).to.equal(t + 3n);
    });

    it('close() lands the parts in flight', async () => {
      const { store, pfs, t } = await slave();
      const p = store.applyMirror(pfs, [mk(1n, t, 'landed at close')], t);
      const dir = store.dir;
      await open.pop()!.close();
      await p;
      const again = Store.open(dir);
      open.push(again);
      expect(named(again, pfs, 1n, t)).to.equal('landed at close');
      expect(again.syncEndTid(pfs)).to.equal(t);
    });
  });
});
