/**
 * The live view's head cache must never show a stale record: every way the
 * committed head changes (commit, mirror apply, rollback, destroy) is read
 * before and after, through the same live() path that path resolution uses.
 */
import { expect } from 'chai';
import { RECTYPE, Store, type LogicalKey, type XattrPayload } from '../../../src/store/index.js';
import { HeadCache } from '../../../src/store/head-cache.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';

const OBJ = 300;
const key = (k: bigint, pfs = 0): LogicalKey => ({ pfs, objId: OBJ, recType: RECTYPE.XATTR, key: k });
const xp = (name: string): XattrPayload => ({ v: 1, name, value: Buffer.from(name) });

function liveName(s: Store, k: bigint, pfs = 0): string | undefined {
  return s.live().get<XattrPayload>(key(k, pfs))?.name;
}

function liveScan(s: Store, from: bigint, to: bigint, pfs = 0): string[] {
  return s.live().scan<XattrPayload>(pfs, OBJ, RECTYPE.XATTR, from, to).map((r) => r.payload.name);
}

describe('store/head-cache', () => {
  const open: Store[] = [];
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  after(() => removeTmpDirs());
  function newStore(): Store {
    const s = tmpStore();
    open.push(s);
    return s;
  }

  it('a cached absent record appears once committed, and a cached one changes and disappears with commits', () => {
    const s = newStore();
    expect(liveName(s, 0x10000n)).to.equal(undefined);
    expect(liveScan(s, 0x10000n, 0x1ffffn)).to.deep.equal([]);
    s.stage({ lk: key(0x10000n), payload: xp('one') });
    expect(liveName(s, 0x10000n)).to.equal('one');
    s.commit();
    expect(liveName(s, 0x10000n)).to.equal('one');
    expect(liveScan(s, 0x10000n, 0x1ffffn)).to.deep.equal(['one']);
    s.stage({ lk: key(0x10000n), payload: xp('two') });
    s.stage({ lk: key(0x10001n), payload: xp('three') });
    s.commit();
    expect(liveName(s, 0x10000n)).to.equal('two');
    expect(liveScan(s, 0x10000n, 0x1ffffn)).to.deep.equal(['two', 'three']);
    s.stage({ lk: key(0x10000n), payload: null });
    s.commit();
    expect(liveName(s, 0x10000n)).to.equal(undefined);
    expect(liveScan(s, 0x10000n, 0x1ffffn)).to.deep.equal(['three']);
  });

  it('a scan result handed out cannot corrupt the cache', () => {
    const s = newStore();
    s.stage({ lk: key(0x20000n), payload: xp('a') });
    s.commit();
    const r = s.live().scan<XattrPayload>(0, OBJ, RECTYPE.XATTR, 0x20000n, 0x2ffffn);
    r.length = 0;
    expect(liveScan(s, 0x20000n, 0x2ffffn)).to.deep.equal(['a']);
  });

  it('mirror apply, rollback and destroy are seen at once', async () => {
    const s = newStore();
    const pfs = s.allocPfsId();
    s.putPfs(pfs, { v: 1, mode: 'slave', sharedUuid: '00000000-0000-4000-8000-000000000001', uniqueUuid: '00000000-0000-4000-8000-000000000002', label: '', syncBegTid: 0n, syncEndTid: 1n } as never);
    s.commit();
    expect(liveName(s, 0x30000n, pfs)).to.equal(undefined);
    const t = s.lastTid + 10n;
    await s.applyMirror(pfs, [{ kind: 'create', objId: OBJ, recType: RECTYPE.XATTR, key: 0x30000n, createTid: t, payload: xp('mirrored') }], t);
    expect(liveName(s, 0x30000n, pfs)).to.equal('mirrored');
    expect(liveScan(s, 0x30000n, 0x3ffffn, pfs)).to.deep.equal(['mirrored']);
    s.rollbackPfs(pfs, t - 1n);
    expect(liveName(s, 0x30000n, pfs)).to.equal(undefined);
    expect(liveScan(s, 0x30000n, 0x3ffffn, pfs)).to.deep.equal([]);
    await s.applyMirror(pfs, [{ kind: 'create', objId: OBJ, recType: RECTYPE.XATTR, key: 0x30000n, createTid: t, payload: xp('again') }], t);
    expect(liveName(s, 0x30000n, pfs)).to.equal('again');
    s.destroyPfs(pfs);
    expect(liveName(s, 0x30000n, pfs)).to.equal(undefined);
  });

  it('stays bounded: starts over when full', () => {
    const c = new HeadCache(3);
    for (let i = 0; i < 3; i++) c.setGet(`k${i}`, null);
    expect(c.get('k0')).to.equal(null);
    c.setGet('k3', null);
    expect(c.get('k0')).to.equal(undefined);
    expect(c.get('k3')).to.equal(null);
  });
});
