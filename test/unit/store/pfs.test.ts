import { expect } from 'chai';
import {
  checkUuid, newPfsHeader, parsePfsLinkTarget, pfsHeaderKey, pfsLinkTarget, PFS_MAX, RECTYPE, Store,
  type LogicalKey, type PfsHeader, type XattrPayload,
} from '../../../src/store/index.js';
import { TID_MAX, type Tid } from '../../../src/tid.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';
import { codeOf } from '../../helpers/errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** a > b (chai's typings take no bigint). */
function expectAbove(a: bigint | number, b: bigint | number, what = ''): void {
  expect(a > b, `${what} expected ${a} > ${b}`).to.equal(true);
}

function commitTid(store: Store): Tid {
  const r = store.commit();
  expect(r, 'commit should write something').to.not.equal(null);
  return r!.tid;
}

function xk(pfs: number, objId: number, key: bigint): LogicalKey {
  return { pfs, objId, recType: RECTYPE.XATTR, key };
}

function xp(name: string, value = name): XattrPayload {
  return { v: 1, name, value: Buffer.from(value) };
}

/** A committed PFS header, with a marker record at obj 1 so the PFS has data. */
function addPfs(store: Store, pfs: number, mode: 'master' | 'slave' = 'master', label = `pfs${pfs}`): PfsHeader {
  const h = newPfsHeader(mode, { label });
  store.putPfs(pfs, h);
  store.stage({ lk: xk(pfs, 1, 1n), payload: xp('marker', `in ${pfs}`) });
  commitTid(store);
  return h;
}

describe('store/pfs', () => {
  const open: Store[] = [];
  function newStore(): Store {
    const s = tmpStore();
    open.push(s);
    return s;
  }
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  after(() => removeTmpDirs());

  describe('pfs.ts helpers', () => {
    it('PFS link targets are exactly 10 characters and parse back', () => {
      expect(pfsLinkTarget(1)).to.equal('@@PFS00001');
      expect(pfsLinkTarget(65535)).to.equal('@@PFS65535');
      expect(pfsLinkTarget(42)).to.have.length(10);
      expect(parsePfsLinkTarget('@@PFS00001')).to.equal(1);
      expect(parsePfsLinkTarget('@@PFS65535')).to.equal(65535);
      expect(parsePfsLinkTarget('@@PFS0001')).to.equal(undefined);
      expect(parsePfsLinkTarget('@@PFS000001')).to.equal(undefined);
      expect(parsePfsLinkTarget('@@-1:00001')).to.equal(undefined);
      expect(parsePfsLinkTarget('x@@PFS00001')).to.equal(undefined);
      expect(PFS_MAX).to.equal(65535);
    });

    it('checkUuid lowercases good UUIDs and refuses others with H2_USAGE', () => {
      expect(checkUuid('01234567-89AB-CDEF-0123-456789ABCDEF', 'shared-uuid')).to.equal('01234567-89ab-cdef-0123-456789abcdef');
      for (const bad of ['', 'nope', '01234567-89ab-cdef-0123-456789abcde', '01234567-89ab-cdef-0123-456789abcdefa',
        '0123456789abcdef0123456789abcdef', '01234567-89ab-cdef-0123-456789abcdeg']) {
        expect(codeOf(() => checkUuid(bad, 'shared-uuid')), bad).to.equal('H2_USAGE');
      }
    });

    it('newPfsHeader: sync-beg/end-tid 1, fresh distinct UUIDs, options kept', () => {
      const a = newPfsHeader('master');
      const b = newPfsHeader('slave', { sharedUuid: a.sharedUuid, label: 'L' });
      expect(a).to.include({ v: 1, mode: 'master', label: '', syncBegTid: 1n, syncEndTid: 1n });
      expect(a.sharedUuid).to.match(UUID_RE);
      expect(a.uniqueUuid).to.match(UUID_RE);
      expect(a.sharedUuid).to.not.equal(a.uniqueUuid);
      expect(b).to.include({ mode: 'slave', label: 'L', sharedUuid: a.sharedUuid });
      expect(b.uniqueUuid).to.not.equal(a.uniqueUuid);
    });
  });

  describe('headers', () => {
    it('PFS 0 has a default master header from the store meta', () => {
      const s = newStore();
      const h = s.getPfs(0)!;
      expect(h).to.include({ mode: 'master', sharedUuid: s.meta.uuid, syncBegTid: 1n, syncEndTid: s.lastTid });
      expect(s.syncEndTid(0)).to.equal(s.lastTid);
      expect(s.getPfs(1)).to.equal(undefined);
      expect(s.listPfs()).to.deep.equal([0]);
    });

    it('putPfs is staged (seen by getPfs/listPfs/allocPfsId) and committed with history', () => {
      const s = newStore();
      const before = s.lastTid;
      const h = newPfsHeader('master', { label: 'one' });
      s.putPfs(1, h);
      expect(s.getPfs(1)).to.deep.equal(h);
      expect(s.listPfs()).to.deep.equal([0, 1]);
      expect(s.allocPfsId()).to.equal(2);
      expect(s.asOf(TID_MAX).get(pfsHeaderKey(1))).to.equal(undefined);
      const t1 = commitTid(s);
      expect(s.asOf(TID_MAX).get<PfsHeader>(pfsHeaderKey(1))).to.deep.equal(h);
      s.putPfs(1, { ...h, label: 'two' });
      const t2 = commitTid(s);
      expect(s.getPfs(1)!.label).to.equal('two');
      expect(s.asOf(t1).get<PfsHeader>(pfsHeaderKey(1))!.label).to.equal('one');
      expect(s.asOf(before).get(pfsHeaderKey(1))).to.equal(undefined);
      const versions = s.versions(1, 0);
      expect(versions.map((v) => [v.createTid, v.deleteTid])).to.deep.equal([[t1, t2], [t2, 0n]]);
    });

    it('syncEndTid: a master follows lastTid, a slave keeps its stored sync-end-tid', () => {
      const s = newStore();
      addPfs(s, 1, 'master');
      const sh = addPfs(s, 2, 'slave');
      expect(s.syncEndTid(1)).to.equal(s.lastTid);
      expect(s.syncEndTid(2)).to.equal(1n);
      s.stage({ lk: xk(0, 50, 1n), payload: xp('a') });
      const t = commitTid(s);
      expect(s.syncEndTid(1)).to.equal(t);
      expect(s.syncEndTid(0)).to.equal(t);
      expect(s.syncEndTid(2)).to.equal(1n);
      s.putPfs(2, { ...sh, syncEndTid: t });
      commitTid(s);
      expect(s.syncEndTid(2)).to.equal(t);
      expectAbove(s.lastTid, s.syncEndTid(2));
    });
  });

  describe('listPfs and allocPfsId', () => {
    it('lists PFSes in order and fills gaps first', () => {
      const s = newStore();
      for (const p of [1, 2, 3]) {
        expect(s.allocPfsId()).to.equal(p);
        addPfs(s, p);
      }
      expect(s.listPfs()).to.deep.equal([0, 1, 2, 3]);
      expectAbove(s.destroyPfs(2), 0);
      expect(s.listPfs()).to.deep.equal([0, 1, 3]);
      expect(s.allocPfsId()).to.equal(2);
      addPfs(s, 2);
      expect(s.allocPfsId()).to.equal(4);
      expect(s.listPfs()).to.deep.equal([0, 1, 2, 3]);
    });

    it('ignores records of a PFS number without a header and staged header deletions', () => {
      const s = newStore();
      addPfs(s, 1);
      s.stage({ lk: xk(5, 1, 1n), payload: xp('orphan') });
      commitTid(s);
      addPfs(s, 9);
      expect(s.listPfs()).to.deep.equal([0, 1, 9]);
      expect(s.allocPfsId()).to.equal(2);
      s.stage({ lk: pfsHeaderKey(1), payload: null });
      expect(s.listPfs()).to.deep.equal([0, 9]);
      expect(s.allocPfsId()).to.equal(1);
    });

    it('finds a high PFS number past a long gap', () => {
      const s = newStore();
      addPfs(s, 4000);
      s.putPfs(60000, newPfsHeader('slave'));
      expect(s.listPfs()).to.deep.equal([0, 4000, 60000]);
      expect(s.allocPfsId()).to.equal(1);
    });
  });

  describe('rollbackPfs', () => {
    it('drops versions created after the TID and clears later delete_tids, header and other PFSes untouched', () => {
      const s = newStore();
      addPfs(s, 1, 'slave');
      addPfs(s, 2, 'master');
      s.stage({ lk: xk(1, 7, 3n), payload: xp('a', 'v1') });
      s.stage({ lk: xk(1, 7, 4n), payload: xp('b', 'b1') });
      const t1 = commitTid(s);
      s.stage({ lk: xk(1, 7, 3n), payload: xp('a', 'v2') });
      s.stage({ lk: xk(1, 7, 5n), payload: xp('c', 'new') });
      s.stage({ lk: xk(2, 7, 3n), payload: xp('other', 'pfs2') });
      s.stage({ lk: xk(0, 7, 3n), payload: xp('zero', 'pfs0') });
      s.putPfs(1, { ...s.getPfs(1)!, label: 'relabelled' });
      const t2 = commitTid(s);
      s.stage({ lk: xk(1, 7, 4n), payload: null });
      const t3 = commitTid(s);
      // Staged but not committed: rollbackPfs commits it first, then drops it.
      s.stage({ lk: xk(1, 8, 1n), payload: xp('late') });
      const headerVersionsBefore = s.versions(1, 0);

      const r = s.rollbackPfs(1, t1);
      expect(s.group.isEmpty).to.equal(true);
      expectAbove(s.lastTid, t3);
      // Dropped: a@v2 (t2), c (t2), late (t4). Undeleted: a@v1 (deleted t2), b (deleted t3).
      expect(r).to.deep.equal({ dropped: 3, undeleted: 2 });
      const head = s.live();
      expect(head.get<XattrPayload>(xk(1, 7, 3n))!.value.toString()).to.equal('v1');
      expect(head.get<XattrPayload>(xk(1, 7, 4n))!.value.toString()).to.equal('b1');
      expect(head.get(xk(1, 7, 5n))).to.equal(undefined);
      expect(head.get(xk(1, 8, 1n))).to.equal(undefined);
      expect(s.versions(1, 8)).to.deep.equal([]);
      expect(s.versions(1, 7).map((v) => [v.key, v.createTid, v.deleteTid]))
        .to.deep.equal([[3n, t1, 0n], [4n, t1, 0n]]);
      // The header keeps all its versions (and its relabel).
      expect(s.versions(1, 0)).to.deep.equal(headerVersionsBefore);
      expect(s.getPfs(1)!.label).to.equal('relabelled');
      // Other PFSes keep their later records.
      expect(head.get<XattrPayload>(xk(2, 7, 3n))!.value.toString()).to.equal('pfs2');
      expect(head.get<XattrPayload>(xk(0, 7, 3n))!.value.toString()).to.equal('pfs0');
      expect(s.asOf(t2).get<XattrPayload>(xk(2, 7, 3n))!.value.toString()).to.equal('pfs2');
    });

    it('at a TID that created a version keeps it and undeletes it', () => {
      const s = newStore();
      addPfs(s, 3, 'slave');
      s.stage({ lk: xk(3, 7, 3n), payload: xp('a', 'v1') });
      const t1 = commitTid(s);
      s.stage({ lk: xk(3, 7, 3n), payload: xp('a', 'v2') });
      const t2 = commitTid(s);
      s.stage({ lk: xk(3, 7, 3n), payload: null });
      commitTid(s);
      expect(s.live().get(xk(3, 7, 3n))).to.equal(undefined);
      expect(s.rollbackPfs(3, t2)).to.deep.equal({ dropped: 0, undeleted: 1 });
      expect(s.live().get<XattrPayload>(xk(3, 7, 3n))!.value.toString()).to.equal('v2');
      expect(s.versions(3, 7).map((v) => [v.createTid, v.deleteTid])).to.deep.equal([[t1, t2], [t2, 0n]]);
      // Nothing newer left: a second rollback is a no-op.
      expect(s.rollbackPfs(3, t2)).to.deep.equal({ dropped: 0, undeleted: 0 });
    });
  });

  describe('destroyPfs', () => {
    it('removes every record of the PFS, header included, and nothing else', () => {
      const s = newStore();
      addPfs(s, 1);
      addPfs(s, 2);
      s.stage({ lk: xk(2, 9, 1n), payload: xp('x', '1') });
      commitTid(s);
      s.stage({ lk: xk(2, 9, 1n), payload: xp('x', '2') });
      // Staged changes are committed before destruction.
      const recordsBefore = s.info().records;
      const removed = s.destroyPfs(2);
      expect(s.group.isEmpty).to.equal(true);
      // header, marker, x@1 (deleted) and x@2: 4 records.
      expect(removed).to.equal(4);
      // The staged x@2 adds one record when destroyPfs commits it (x@1 is only stamped).
      expect(s.info().records).to.equal(recordsBefore + 1 - removed);
      for (const obj of [0, 1, 9]) expect(s.versions(2, obj), `obj ${obj}`).to.deep.equal([]);
      expect(s.getPfs(2)).to.equal(undefined);
      expect(s.listPfs()).to.deep.equal([0, 1]);
      expect(s.live().get<XattrPayload>(xk(1, 1, 1n))!.value.toString()).to.equal('in 1');
      expect(s.getPfs(1)!.label).to.equal('pfs1');
    });

    it('refuses PFS 0 with H2_USAGE', () => {
      const s = newStore();
      const before = s.versions(0, 1).length;
      expect(codeOf(() => s.destroyPfs(0))).to.equal('H2_USAGE');
      expect(s.versions(0, 1)).to.have.length(before);
    });

    it('restarts obj_ids of a destroyed PFS number at 2', () => {
      const s = newStore();
      addPfs(s, 1);
      expect(s.allocObjId(1)).to.equal(2);
      expect(s.allocObjId(1)).to.equal(3);
      s.destroyPfs(1);
      expect(s.allocObjId(1)).to.equal(2);
    });
  });

  describe('raiseLastTid', () => {
    it('raises but never lowers the TID allocator, and survives reopen', async () => {
      const s = newStore();
      const last = s.lastTid;
      s.raiseLastTid(last - 5n);
      expect(s.lastTid).to.equal(last);
      const high = last + 10_000_000_000n;
      s.raiseLastTid(high);
      expect(s.lastTid).to.equal(high);
      s.stage({ lk: xk(0, 50, 1n), payload: xp('a') });
      const t = commitTid(s);
      expectAbove(t, high);
      const dir = s.dir;
      await s.close();
      open.splice(open.indexOf(s), 1);
      const r = Store.open(dir);
      open.push(r);
      expect(r.lastTid).to.equal(t);
      r.raiseLastTid(t + 7n);
      await r.close();
      open.splice(open.indexOf(r), 1);
      const r2 = Store.open(dir);
      open.push(r2);
      expect(r2.lastTid).to.equal(t + 7n);
    });
  });

  describe('reopen', () => {
    it('keeps headers, modes and the PFS list', async () => {
      const s = newStore();
      const h1 = addPfs(s, 1, 'master', 'm');
      const h2 = addPfs(s, 2, 'slave', 's');
      s.putPfs(2, { ...h2, syncEndTid: 12345n });
      addPfs(s, 4, 'master', 'four');
      const dir = s.dir;
      await s.close();
      open.splice(open.indexOf(s), 1);
      const r = Store.open(dir);
      open.push(r);
      expect(r.listPfs()).to.deep.equal([0, 1, 2, 4]);
      expect(r.getPfs(1)).to.deep.equal(h1);
      expect(r.getPfs(2)).to.deep.equal({ ...h2, syncEndTid: 12345n });
      expect(r.getPfs(4)!.mode).to.equal('master');
      expect(r.syncEndTid(2)).to.equal(12345n);
      expect(r.syncEndTid(1)).to.equal(r.lastTid);
      expect(r.allocPfsId()).to.equal(3);
    });
  });
});
