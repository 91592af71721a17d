import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { H2Error } from '../../../src/errors.js';
import { OBJTYPE, RECTYPE, Store, type DataPayload, type LogicalKey, type Payload, type XattrPayload }
  from '../../../src/store/index.js';
import { nativeAddon } from '../../../src/native.js';
import { TID_MAX, TID_ZERO, type Tid } from '../../../src/tid.js';
import { removeTmpDirs, tmpDir, tmpStore } from '../../helpers/tmp.js';

const OBJ = 100;

function xk(key: bigint, objId = OBJ): LogicalKey {
  return { pfs: 0, objId, recType: RECTYPE.XATTR, key };
}

function xp(name: string, value = name): XattrPayload {
  return { v: 1, name, value: Buffer.from(value) };
}

function commitTid(store: Store): Tid {
  const r = store.commit();
  expect(r, 'commit should write something').to.not.equal(null);
  return r!.tid;
}

function names(rows: Array<{ key: bigint; payload: XattrPayload }>): string[] {
  return rows.map((r) => r.payload.name);
}

function keysOf(rows: Array<{ key: bigint }>): bigint[] {
  return rows.map((r) => r.key);
}

describe('store/store', () => {
  const open: Store[] = [];
  function track(s: Store): Store {
    open.push(s);
    return s;
  }
  function newStore(): Store {
    return track(tmpStore());
  }

  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  after(() => removeTmpDirs());

  it('tmpStore has the root inode committed under one TID', () => {
    const s = newStore();
    expect(s.lastTid > 0n).to.equal(true);
    const root = s.asOf(s.lastTid).get<Payload & { objType: number }>({ pfs: 0, objId: 1, recType: RECTYPE.INODE, key: 0n });
    expect(root?.objType).to.equal(OBJTYPE.DIRECTORY);
    expect(s.group.isEmpty).to.equal(true);
  });

  it('commit returns strictly increasing TIDs and advances lastTid', () => {
    const s = newStore();
    let prev = s.lastTid;
    for (let i = 0; i < 20; i++) {
      s.stage({ lk: xk(BigInt(i)), payload: xp(`n${i}`) });
      const r = s.commit();
      expect(r).to.not.equal(null);
      expect(r!.tid > prev, `commit ${i}`).to.equal(true);
      expect(r!.records).to.equal(1);
      expect(s.lastTid).to.equal(r!.tid);
      expect(s.meta.lastTid).to.equal(r!.tid);
      prev = r!.tid;
    }
  });

  it('an empty flush group commits nothing', () => {
    const s = newStore();
    const before = s.lastTid;
    const recs = s.info().records;
    let fired = 0;
    s.onCommit(() => fired++);
    expect(s.commit()).to.equal(null);
    expect(s.commit()).to.equal(null);
    expect(s.lastTid).to.equal(before);
    expect(s.info().records).to.equal(recs);
    expect(fired).to.equal(0);
  });

  it('onCommit listeners get the committed TID and can unsubscribe', () => {
    const s = newStore();
    const seen: Tid[] = [];
    const off = s.onCommit((t) => seen.push(t));
    s.stage({ lk: xk(1n), payload: xp('a') });
    const t1 = commitTid(s);
    off();
    s.stage({ lk: xk(2n), payload: xp('b') });
    commitTid(s);
    expect(seen).to.deep.equal([t1]);
  });

  it('as-of visibility: created at T1, replaced at T2, deleted at T3', () => {
    const s = newStore();
    const lk = xk(7n);
    s.stage({ lk, payload: xp('a', 'v1') });
    const t1 = commitTid(s);
    s.stage({ lk, payload: xp('a', 'v2') });
    const r2 = s.commit()!;
    const t2 = r2.tid;
    expect(r2.records).to.equal(2); // old version stamped + new version
    s.stage({ lk, payload: null });
    const r3 = s.commit()!;
    const t3 = r3.tid;
    expect(r3.records).to.equal(1); // only the stamp
    const val = (t: Tid): string | undefined => s.asOf(t).get<XattrPayload>(lk)?.value.toString();
    expect(val(t1 - 1n)).to.equal(undefined);
    expect(val(t1)).to.equal('v1');
    expect(val(t2 - 1n)).to.equal('v1');
    expect(val(t2)).to.equal('v2');
    expect(val(t3 - 1n)).to.equal('v2');
    expect(val(t3)).to.equal(undefined);
    expect(val(TID_MAX)).to.equal(undefined);
    expect(s.live().get(lk)).to.equal(undefined);
    // scan agrees with get
    const scanVal = (t: Tid): string[] => s.asOf(t).scan<XattrPayload>(0, OBJ, RECTYPE.XATTR).map((r) => r.payload.value.toString());
    expect(scanVal(t1 - 1n)).to.deep.equal([]);
    expect(scanVal(t1)).to.deep.equal(['v1']);
    expect(scanVal(t2)).to.deep.equal(['v2']);
    expect(scanVal(t3)).to.deep.equal([]);
    // two versions kept, with their TIDs
    const vs = s.versions(0, OBJ);
    expect(vs.map((v) => [v.createTid, v.deleteTid])).to.deep.equal([[t1, t2], [t2, t3]]);
    expect(vs.map((v) => (v.payload as XattrPayload).value.toString())).to.deep.equal(['v1', 'v2']);
  });

  it('a view at a committed TID does not change after later commits (invariant 2)', () => {
    const s = newStore();
    for (const k of [10n, 20n, 30n]) s.stage({ lk: xk(k), payload: xp(`k${k}`) });
    s.stage({ lk: { pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 0n }, payload: { v: 1, len: 3 } satisfies DataPayload,
      data: Buffer.from('abc') });
    const t = commitTid(s);
    const snapshot = (): unknown => {
      const v = s.asOf(t);
      return {
        scan: v.scan<XattrPayload>(0, OBJ, RECTYPE.XATTR).map((r) => [r.key, r.payload.name, r.payload.value.toString()]),
        some: v.scan<XattrPayload>(0, OBJ, RECTYPE.XATTR, 15n, 30n).map((r) => r.key),
        get20: v.get<XattrPayload>(xk(20n))?.value.toString(),
        get25: v.get(xk(25n)),
        data: v.getData({ pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 0n })?.toString(),
      };
    };
    const before = snapshot();
    expect(before).to.deep.equal({
      scan: [[10n, 'k10', 'k10'], [20n, 'k20', 'k20'], [30n, 'k30', 'k30']],
      some: [20n, 30n], get20: 'k20', get25: undefined, data: 'abc',
    });
    // replace, delete, insert in between, rewrite the data block, over several TIDs
    s.stage({ lk: xk(20n), payload: xp('k20', 'changed') });
    s.stage({ lk: xk(10n), payload: null });
    commitTid(s);
    s.stage({ lk: xk(25n), payload: xp('k25') });
    s.stage({ lk: xk(5n), payload: xp('k5') });
    s.stage({ lk: { pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 0n }, payload: { v: 1, len: 3 }, data: Buffer.from('xyz') });
    commitTid(s);
    s.stage({ lk: xk(30n), payload: null });
    s.stage({ lk: { pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 0n }, payload: null });
    commitTid(s);
    // staged but uncommitted changes must not leak into the view either
    s.stage({ lk: xk(10n), payload: xp('k10', 'again') });
    expect(snapshot()).to.deep.equal(before);
    // the live view does see the changes
    expect(keysOf(s.live().scan(0, OBJ, RECTYPE.XATTR))).to.deep.equal([5n, 10n, 20n, 25n]);
  });

  it('lands DATA blocks that live in SharedArrayBuffers byte-exact, put from where they are', async () => {
    const s = newStore();
    const bs = 64 * 1024;
    // Two slabs with blocks at unaligned offsets, as the VFS's block pool hands them out.
    const slabs = [new SharedArrayBuffer(3 * bs + 4096), new SharedArrayBuffer(2 * bs + 4096)];
    const blocks: Buffer[] = [];
    for (const slab of slabs) {
      for (let off = 16; off + bs <= slab.byteLength; off += bs) blocks.push(randomFillSync(Buffer.from(slab, off, bs)));
    }
    const dk = (i: number): LogicalKey => ({ pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: BigInt(i) });
    blocks.forEach((b, i) => s.stage({ lk: dk(i), payload: { v: 1, len: bs - i } as DataPayload, data: b }));
    s.commit();
    await s.flushed();
    // lmdb-js took each slab's memory from the address the commit gave it, not through a scratch copy.
    expect(nativeAddon(), 'the native addon').to.not.equal(null);
    for (const slab of slabs) expect((slab as SharedArrayBuffer & { address?: number }).address).to.be.above(0);
    const dir = s.dir;
    await open.pop()!.close();
    const again = track(Store.open(path.resolve(dir)));
    blocks.forEach((b, i) => {
      expect(again.live().getData(dk(i))?.equals(b.subarray(0, bs - i)), `block ${i}`).to.equal(true);
    });
  });

  it('the live view sees staged records, asOf(lastTid) does not', () => {
    const s = newStore();
    s.stage({ lk: xk(1n), payload: xp('committed') });
    commitTid(s);
    s.stage({ lk: xk(2n), payload: xp('staged') });
    s.stage({ lk: xk(1n), payload: null });
    expect(s.live().get<XattrPayload>(xk(2n))?.name).to.equal('staged');
    expect(s.live().get(xk(1n))).to.equal(undefined);
    expect(s.asOf(s.lastTid).get(xk(2n))).to.equal(undefined);
    expect(s.asOf(s.lastTid).get<XattrPayload>(xk(1n))?.name).to.equal('committed');
    expect(s.asOf(TID_MAX).get(xk(2n))).to.equal(undefined);
    expect(s.live().asOf).to.equal(TID_MAX);
    expect(s.group.size).to.equal(2);
  });

  it('live scan merges staged inserts, replacements and deletes, ordered by key', () => {
    const s = newStore();
    for (const k of [1n, 3n, 5n, 0xfedcba9876543210n]) s.stage({ lk: xk(k), payload: xp(`c${k}`) });
    commitTid(s);
    s.stage({ lk: xk(6n), payload: xp('s6') });
    s.stage({ lk: xk(2n), payload: xp('s2') });
    s.stage({ lk: xk(3n), payload: null });
    s.stage({ lk: xk(5n), payload: xp('s5') });
    s.stage({ lk: xk(0n), payload: xp('s0') });
    s.stage({ lk: xk(4n), payload: null }); // delete of something that never existed
    // another object and rec_type must not leak in
    s.stage({ lk: xk(2n, OBJ + 1), payload: xp('other') });
    s.stage({ lk: { pfs: 0, objId: OBJ, recType: RECTYPE.SYMLINK, key: 2n }, payload: { v: 1, target: 't' } });
    const live = s.live().scan<XattrPayload>(0, OBJ, RECTYPE.XATTR);
    expect(keysOf(live)).to.deep.equal([0n, 1n, 2n, 5n, 6n, 0xfedcba9876543210n]);
    expect(names(live)).to.deep.equal(['s0', 'c1', 's2', 's5', 's6', `c${0xfedcba9876543210n}`]);
    expect(keysOf(s.live().scan(0, OBJ, RECTYPE.XATTR, 2n, 5n))).to.deep.equal([2n, 5n]);
    expect(keysOf(s.live().scan(0, OBJ, RECTYPE.XATTR, 3n, 4n))).to.deep.equal([]);
    expect(keysOf(s.asOf(s.lastTid).scan(0, OBJ, RECTYPE.XATTR))).to.deep.equal([1n, 3n, 5n, 0xfedcba9876543210n]);
    // after commit the committed scan equals what the live view showed
    commitTid(s);
    expect(names(s.asOf(s.lastTid).scan<XattrPayload>(0, OBJ, RECTYPE.XATTR))).to.deep.equal(names(live));
  });


  it('ownedKeys lists every visible record of an object but its inode: committed, staged, deleted, as of a TID', () => {
    const s = newStore();
    const lk = (recType: LogicalKey['recType'], key: bigint, objId = OBJ): LogicalKey => ({ pfs: 0, objId, recType, key });
    const sorted = (keys: LogicalKey[]): string[] => keys.map((k) => `${k.recType}:${k.key}`).sort();
    s.stage({ lk: lk(RECTYPE.INODE, 0n), payload: { v: 1, objType: OBJTYPE.REGFILE, mode: 0o100644, uid: 0, gid: 0,
      size: 5, nlink: 1, rdev: 0, atime: 0, mtime: 0, ctime: 0 } });
    s.stage({ lk: lk(RECTYPE.DATA, 0n), payload: { v: 1, len: 5 } as DataPayload, data: Buffer.from('hello') });
    s.stage({ lk: lk(RECTYPE.DATA, 1n), payload: { v: 1, len: 1 } as DataPayload, data: Buffer.from('x') });
    s.stage({ lk: xk(7n), payload: xp('user.a') });
    // neighbours on both sides in key order must not leak in
    s.stage({ lk: xk(7n, OBJ - 1), payload: xp('before') });
    s.stage({ lk: lk(RECTYPE.DATA, 0n, OBJ + 1), payload: { v: 1, len: 1 } as DataPayload, data: Buffer.from('y') });
    const t1 = commitTid(s);
    expect(sorted(s.live().ownedKeys(0, OBJ))).to.deep.equal(['3:0', '3:1', '5:7']);
    s.stage({ lk: lk(RECTYPE.DATA, 1n), payload: null });
    s.stage({ lk: xk(9n), payload: xp('user.b') });
    // staged, not committed: the live view merges; the committed head does not see it
    expect(sorted(s.live().ownedKeys(0, OBJ))).to.deep.equal(['3:0', '5:7', '5:9']);
    expect(sorted(s.asOf(s.lastTid).ownedKeys(0, OBJ))).to.deep.equal(['3:0', '3:1', '5:7']);
    commitTid(s);
    expect(sorted(s.live().ownedKeys(0, OBJ))).to.deep.equal(['3:0', '5:7', '5:9']);
    expect(sorted(s.asOf(t1).ownedKeys(0, OBJ))).to.deep.equal(['3:0', '3:1', '5:7']);
    expect(s.live().ownedKeys(0, OBJ + 2)).to.deep.equal([]);
  });
  it('reopening keeps everything committed and drops what was only staged', async () => {
    const s = tmpStore();
    const dir = s.dir;
    s.stage({ lk: xk(1n), payload: xp('a', 'one') });
    const t1 = commitTid(s);
    s.stage({ lk: xk(1n), payload: xp('a', 'two') });
    s.stage({ lk: xk(2n), payload: xp('b') });
    const t2 = commitTid(s);
    const uuid = s.meta.uuid;
    s.stage({ lk: xk(3n), payload: xp('staged-only') });
    s.stage({ lk: xk(1n), payload: null });
    await s.flushed();
    await s.close();

    const r = track(Store.open(dir));
    expect(r.lastTid).to.equal(t2);
    expect(r.meta.uuid).to.equal(uuid);
    expect(r.group.isEmpty).to.equal(true);
    expect(names(r.live().scan<XattrPayload>(0, OBJ, RECTYPE.XATTR))).to.deep.equal(['a', 'b']);
    expect(r.live().get<XattrPayload>(xk(1n))?.value.toString()).to.equal('two');
    expect(r.asOf(t1).get<XattrPayload>(xk(1n))?.value.toString()).to.equal('one');
    expect(r.live().get(xk(3n))).to.equal(undefined);
    // and new commits continue above the old TIDs
    r.stage({ lk: xk(4n), payload: xp('d') });
    expect(commitTid(r) > t2).to.equal(true);
  });

  it('allocObjId does not reuse ids of committed objects across reopen', async () => {
    const s = tmpStore();
    const dir = s.dir;
    const a = s.allocObjId(0);
    const b = s.allocObjId(0);
    const p5 = s.allocObjId(5);
    expect(a).to.equal(2); // 1 is the root directory
    expect(b).to.equal(3);
    expect(p5).to.equal(2); // per PFS
    s.stage({ lk: { pfs: 0, objId: b, recType: RECTYPE.INODE, key: 0n }, payload: { v: 1, marker: 'b' } });
    s.stage({ lk: { pfs: 5, objId: p5, recType: RECTYPE.INODE, key: 0n }, payload: { v: 1, marker: 'p5' } });
    commitTid(s);
    await s.close();

    const r = track(Store.open(dir));
    const c = r.allocObjId(0);
    expect(c).to.equal(4);
    expect([a, b]).to.not.include(c);
    expect(r.allocObjId(5)).to.equal(3);
    expect(r.allocObjId(9)).to.equal(2);
  });

  it('estimateStreamBytes in chunks adds up to the one-pass figure, whatever the chunk size', () => {
    const s = newStore();
    const tids: Tid[] = [];
    for (let t = 0; t < 6; t++) {
      for (let i = 0; i < 5; i++) {
        const obj = OBJ + i;
        s.stage({ lk: { pfs: 1, objId: obj, recType: RECTYPE.DATA, key: BigInt(t % 2) },
          payload: { v: 1, len: 100 * (i + 1) } satisfies DataPayload, data: Buffer.alloc(100 * (i + 1), t) });
        if (t === 4 && i < 2) s.stage({ lk: { pfs: 1, objId: obj, recType: RECTYPE.DATA, key: 0n }, payload: null });
        // Another PFS in the same TIDs: not counted.
        s.stage({ lk: xk(BigInt(i), obj), payload: xp(`x${t}-${i}`) });
      }
      tids.push(commitTid(s));
    }
    const whole = s.estimateStreamBytes(1, 0n, tids[5]!);
    expect(whole.cursor).to.equal(null);
    expect(whole.bytes).to.be.greaterThan(6 * 5 * 100);
    for (const limit of [1, 3, 7, 1000]) {
      let bytes = 0;
      let cursor: Buffer | null = null;
      let calls = 0;
      do {
        const r = s.estimateStreamBytes(1, 0n, tids[5]!, cursor, limit);
        bytes += r.bytes;
        cursor = r.cursor;
        calls++;
      } while (cursor && calls < 10_000);
      expect(bytes, `limit ${limit}`).to.equal(whole.bytes);
      if (limit === 1) expect(calls).to.be.greaterThan(30);
    }
    // A range starting later counts less.
    expect(s.estimateStreamBytes(1, tids[2]!, tids[5]!).bytes).to.be.lessThan(whole.bytes);
  });

  it('scanEvents leaves the blocks out; blockView reads each in place, from the scan\'s snapshot', () => {
    const s = newStore();
    const tids: Tid[] = [];
    const bytes = (t: number, i: number): Buffer => Buffer.alloc(70_000 + i, 16 * t + i);
    for (let t = 0; t < 3; t++) {
      for (let i = 0; i < 3; i++) {
        s.stage({ lk: { pfs: 1, objId: OBJ + i, recType: RECTYPE.DATA, key: BigInt(t) },
          payload: { v: 1, len: 70_000 + i } satisfies DataPayload, data: bytes(t, i) });
      }
      s.stage({ lk: { pfs: 1, objId: OBJ, recType: RECTYPE.XATTR, key: BigInt(t) }, payload: xp(`x${t}`) });
      tids.push(commitTid(s));
    }
    const dataEvents = (): number => {
      const txn = s.beginRead();
      try {
        return s.scanEvents(1, 0n, tids[2]!, null, 1000, txn).events.filter((ev) => ev.recType === RECTYPE.DATA).length;
      } finally {
        txn.done();
      }
    };
    const txn = s.beginRead();
    try {
      const events = s.scanEvents(1, 0n, tids[2]!, null, 1000, txn).events;
      // In TID order, every record of each TID once.
      expect(events.map((ev) => ev.tid)).to.deep.equal(tids.flatMap((tid) => [tid, tid, tid, tid]));
      const seen = (evs: typeof events): string[] => evs.map((ev) => `${ev.tid}/${ev.recType}/${ev.objId}/${ev.key}`).sort();
      expect(seen(events)).to.deep.equal(tids.flatMap((tid, t) => [
        ...[0, 1, 2].map((i) => `${tid}/${RECTYPE.DATA}/${OBJ + i}/${t}`), `${tid}/${RECTYPE.XATTR}/${OBJ}/${t}`,
      ]).sort());
      expect(events.every((ev) => !('data' in ev))).to.equal(true);
      const blocks = events.filter((ev) => ev.recType === RECTYPE.DATA);
      expect(blocks).to.have.length(9);
      // Dropped after the transaction began: the snapshot still has them.
      s.rollbackPfs(1, tids[0]!);
      for (const ev of blocks) {
        const want = bytes(tids.indexOf(ev.tid), ev.objId - OBJ);
        const view = s.blockView(1, ev, txn);
        expect(view.length, `block of obj ${ev.objId} at ${ev.tid}`).to.equal(want.length);
        expect(view.equals(want)).to.equal(true);
      }
    } finally {
      txn.done();
    }
    // A new scan sees the rollback.
    expect(dataEvents()).to.equal(3);
  });

  it('dataBefore finds the version of a block created last before a TID, and none newer than its bound', () => {
    const s = newStore();
    const lk: LogicalKey = { pfs: 1, objId: OBJ, recType: RECTYPE.DATA, key: 4n };
    s.stage({ lk, payload: { v: 1, len: 3 } satisfies DataPayload, data: Buffer.from('one') });
    const t1 = commitTid(s);
    s.stage({ lk, payload: { v: 1, len: 3 }, data: Buffer.from('two') });
    const t2 = commitTid(s);
    s.stage({ lk, payload: { v: 1, len: 5 }, data: Buffer.from('three') });
    const t3 = commitTid(s);
    expect(s.dataBefore(1, OBJ, 4n, t3)).to.deep.equal({ createTid: t2, data: Buffer.from('two') });
    expect(s.dataBefore(1, OBJ, 4n, t2)).to.deep.equal({ createTid: t1, data: Buffer.from('one') });
    expect(s.dataBefore(1, OBJ, 4n, t1)).to.equal(undefined);
    // The last version before t3 was created at t2: past a bound of t1 there is none.
    expect(s.dataBefore(1, OBJ, 4n, t3, t1)).to.equal(undefined);
    expect(s.dataBefore(1, OBJ, 4n, t3, t2)?.createTid).to.equal(t2);
    expect(s.dataVersion(1, OBJ, 4n, t1)?.toString()).to.equal('one');
    expect(s.dataVersion(1, OBJ, 4n, t1 - 1n)).to.equal(undefined);
  });

  it('copyData copies a slice of a DATA record straight into a buffer: staged, committed, live and as of a TID', () => {
    const s = newStore();
    const lk: LogicalKey = { pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 7n };
    const v1 = Buffer.from('0123456789');
    const copy = (view: ReturnType<Store['live']>, srcOff: number, n: number): string => {
      const dst = Buffer.alloc(n + 4, 0x2e);
      const got = view.copyData(lk, dst, 2, srcOff, n);
      return `${got}:${dst.toString()}`;
    };
    s.stage({ lk, payload: { v: 1, len: 8 } satisfies DataPayload, data: Buffer.concat([v1, Buffer.alloc(100)]) });
    // Staged (the flush group): only the first len bytes exist.
    expect(copy(s.live(), 3, 4)).to.equal('4:..3456..');
    expect(copy(s.live(), 6, 5)).to.equal('2:..67.....');
    const t1 = commitTid(s);
    // Committed, through the live view's head cache and as of the TID.
    expect(copy(s.live(), 0, 8)).to.equal('8:..01234567..');
    expect(copy(s.asOf(t1), 5, 3)).to.equal('3:..567..');
    expect(copy(s.asOf(t1), 8, 3)).to.equal('0:.......');
    s.stage({ lk, payload: { v: 1, len: 3 }, data: Buffer.from('abc') });
    const t2 = commitTid(s);
    expect(copy(s.asOf(t2), 0, 5)).to.equal('3:..abc....');
    expect(copy(s.asOf(t1), 0, 5)).to.equal('5:..01234..');
    // Absent: before it was written, and once deleted (staged, then committed).
    expect(copy(s.asOf(t1 - 1n), 0, 2)).to.equal('0:......');
    s.stage({ lk, payload: null });
    expect(copy(s.live(), 0, 2)).to.equal('0:......');
    const t3 = commitTid(s);
    expect(copy(s.asOf(t3), 0, 2)).to.equal('0:......');
  });

  it('DATA records keep their bytes (only the first len) in getData, per version', () => {
    const s = newStore();
    const lk: LogicalKey = { pfs: 0, objId: OBJ, recType: RECTYPE.DATA, key: 3n };
    const block = Buffer.alloc(512, 0x41);
    block.write('hello', 0);
    s.stage({ lk, payload: { v: 1, len: 5 } satisfies DataPayload, data: block });
    // the live view shows the staged bytes
    expect(s.live().getData(lk)?.toString()).to.equal('hello');
    const t1 = commitTid(s);
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    s.stage({ lk, payload: { v: 1, len: 5 }, data: bytes });
    const t2 = commitTid(s);
    expect(s.asOf(t1).getData(lk)?.toString()).to.equal('hello');
    expect(s.asOf(t2).getData(lk)?.equals(bytes)).to.equal(true);
    expect(s.asOf(t1).get<DataPayload>(lk)).to.deep.equal({ v: 1, len: 5 });
    expect(s.asOf(t1 - 1n).getData(lk)).to.equal(undefined);
    s.stage({ lk, payload: null });
    expect(s.live().getData(lk)).to.equal(undefined);
    const t3 = commitTid(s);
    expect(s.asOf(t3).getData(lk)).to.equal(undefined);
    expect(s.asOf(t2).getData(lk)?.equals(bytes)).to.equal(true);
  });

  it('info() counts records (every version) and reports the TID range', () => {
    const s = newStore();
    const first = s.lastTid;
    let i = s.info();
    expect(i.records).to.equal(1);
    expect(i.firstTid).to.equal(first);
    expect(i.lastTid).to.equal(first);
    expect(i.path).to.equal(s.dir);
    expect(i.uuid).to.match(/^[0-9a-f-]{36}$/);
    expect(i.bytes > 0).to.equal(true);
    s.stage({ lk: xk(1n), payload: xp('a') });
    s.stage({ lk: xk(2n), payload: xp('b') });
    commitTid(s);
    expect(s.info().records).to.equal(3);
    s.stage({ lk: xk(1n), payload: xp('a', 'a2') });
    commitTid(s);
    expect(s.info().records).to.equal(4); // the old version stays
    s.stage({ lk: xk(2n), payload: null });
    const last = commitTid(s);
    i = s.info();
    expect(i.records).to.equal(4); // a delete only stamps
    expect(i.firstTid).to.equal(first);
    expect(i.lastTid).to.equal(last);
  });

  it('create refuses a non-empty directory and open refuses a non-store', () => {
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'x'), 'x');
    let e: unknown;
    try {
      Store.create(d);
    } catch (err) {
      e = err;
    }
    expect(e).to.be.instanceOf(H2Error);
    expect((e as H2Error).code).to.equal('EEXIST');
    expect(fs.readdirSync(d)).to.deep.equal(['x']);
    e = undefined;
    try {
      Store.open(tmpDir());
    } catch (err) {
      e = err;
    }
    expect(e).to.be.instanceOf(H2Error);
    expect((e as H2Error).code).to.equal('ENOENT');
  });

  it('a read-only store refuses to stage with EROFS', async () => {
    const s = tmpStore();
    const dir = s.dir;
    await s.close();
    const r = track(Store.open(dir, { readOnly: true }));
    let e: unknown;
    try {
      r.stage({ lk: xk(1n), payload: xp('a') });
    } catch (err) {
      e = err;
    }
    expect((e as H2Error).code).to.equal('EROFS');
    expect(r.group.isEmpty).to.equal(true);
    expect(r.lastTid > TID_ZERO).to.equal(true);
  });
});
