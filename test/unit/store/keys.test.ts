import { expect } from 'chai';
import {
  decodeRecKey, decodeTidIndexKey, encodeLogicalKey, encodeRecKey, encodeTidIndexKey, LOGICAL_KEY_LEN, objPrefix,
  pfsPrefix, prefixEnd, RECTYPE, REC_KEY_LEN, TIDEVENT, TIDINDEX_KEY_LEN, tidKey, type RecKey,
} from '../../../src/store/keys.js';

function cmpNum(a: bigint | number, b: bigint | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numeric order of (pfs, objId, recType, key, createTid). */
function cmpRecKey(a: RecKey, b: RecKey): number {
  return cmpNum(a.pfs, b.pfs) || cmpNum(a.objId, b.objId) || cmpNum(a.recType, b.recType) ||
    cmpNum(a.key, b.key) || cmpNum(a.createTid, b.createTid);
}

describe('store/keys', () => {
  it('round-trips a record key, including objId near 2^40 and key/createTid above 2^53', () => {
    const cases: RecKey[] = [
      { pfs: 0, objId: 1, recType: RECTYPE.INODE, key: 0n, createTid: 1n },
      { pfs: 65535, objId: 2 ** 40 - 1, recType: RECTYPE.DATA, key: 0xfedcba9876543210n, createTid: 0xfedcba9876543210n },
      { pfs: 3, objId: 2 ** 40 + 17, recType: RECTYPE.XATTR, key: (1n << 53n) + 1n, createTid: (1n << 63n) + 5n },
      { pfs: 1, objId: Number.MAX_SAFE_INTEGER, recType: RECTYPE.PFS, key: 0xffffffffffffffffn, createTid: 0xffffffffffffffffn },
    ];
    for (const k of cases) {
      const b = encodeRecKey(k);
      expect(b.length).to.equal(REC_KEY_LEN);
      expect(decodeRecKey(b)).to.deep.equal(k);
      // the logical key is the first 19 bytes
      expect(encodeLogicalKey(k).equals(b.subarray(0, LOGICAL_KEY_LEN))).to.equal(true);
    }
  });

  it('lays out fields big-endian at fixed offsets', () => {
    const b = encodeRecKey({ pfs: 0x0102, objId: 0x030405, recType: RECTYPE.SYMLINK, key: 0x0607n, createTid: 0x0809n });
    expect(b.toString('hex')).to.equal(
      '0102' + '0000000000030405' + '04' + '0000000000000607' + '0000000000000809');
  });

  it('byte order of encoded keys equals numeric order', () => {
    const base: RecKey = { pfs: 0, objId: 255, recType: RECTYPE.DIRENTRY, key: 255n, createTid: 255n };
    const keys: RecKey[] = [
      base,
      { ...base, objId: 256 },
      { ...base, objId: 2 ** 40 - 1 },
      { ...base, objId: 2 ** 40 },
      { ...base, pfs: 1, objId: 1 },
      { ...base, pfs: 256, objId: 0 },
      { ...base, recType: RECTYPE.DATA },
      { ...base, recType: RECTYPE.INODE, key: 0xffffffffffffffffn },
      { ...base, key: 256n },
      { ...base, key: 1n << 53n },
      { ...base, key: (1n << 53n) + 1n },
      { ...base, key: 0xfedcba9876543210n },
      { ...base, createTid: 256n },
      { ...base, createTid: 0xfedcba9876543210n },
      { ...base, createTid: 0xfedcba9876543211n },
      { ...base, createTid: 0n },
    ];
    let pairs = 0;
    for (const a of keys) {
      for (const b of keys) {
        const byBytes = Math.sign(Buffer.compare(encodeRecKey(a), encodeRecKey(b)));
        expect(byBytes, `${JSON.stringify(a, (_k, v: unknown) => typeof v === 'bigint' ? v.toString(16) : v)} vs ` +
          `${JSON.stringify(b, (_k, v: unknown) => typeof v === 'bigint' ? v.toString(16) : v)}`).to.equal(cmpRecKey(a, b));
        pairs++;
      }
    }
    expect(pairs).to.equal(keys.length ** 2);
    // a few explicit ones, numerically smaller first
    expect(Buffer.compare(encodeRecKey({ ...base, objId: 255 }), encodeRecKey({ ...base, objId: 256 }))).to.equal(-1);
    expect(Buffer.compare(encodeRecKey({ ...base, key: 0xff00n }), encodeRecKey({ ...base, key: 0x0100_0000n }))).to.equal(-1);
    expect(Buffer.compare(encodeRecKey({ ...base, createTid: 1n << 56n }), encodeRecKey({ ...base, createTid: 2n }))).to.equal(1);
  });

  it('objPrefix and pfsPrefix are prefixes of the record keys they select', () => {
    const k: RecKey = { pfs: 7, objId: 2 ** 40 - 3, recType: RECTYPE.DATA, key: 9n, createTid: 10n };
    const b = encodeRecKey(k);
    expect(b.subarray(0, 2).equals(pfsPrefix(7))).to.equal(true);
    expect(b.subarray(0, 10).equals(objPrefix(7, 2 ** 40 - 3))).to.equal(true);
    expect(b.subarray(0, 11).equals(objPrefix(7, 2 ** 40 - 3, RECTYPE.DATA))).to.equal(true);
    expect(b.subarray(0, 10).equals(objPrefix(7, 2 ** 40 - 2))).to.equal(false);
    const end = prefixEnd(objPrefix(7, k.objId));
    expect(Buffer.compare(b, end)).to.equal(-1);
    expect(Buffer.compare(encodeRecKey({ ...k, objId: k.objId + 1, recType: RECTYPE.INODE, key: 0n, createTid: 0n }), end))
      .to.equal(1);
  });

  it('round-trips a tidindex key and orders it by TID first', () => {
    const rk = encodeRecKey({ pfs: 2, objId: 2 ** 40 - 1, recType: RECTYPE.DATA, key: 0xfedcba9876543210n,
      createTid: 0xfedcba9876543210n });
    const tk = encodeTidIndexKey(0xfedcba9876543211n, TIDEVENT.DELETE, rk);
    expect(tk.length).to.equal(TIDINDEX_KEY_LEN);
    const d = decodeTidIndexKey(tk);
    expect(d.tid).to.equal(0xfedcba9876543211n);
    expect(d.event).to.equal(TIDEVENT.DELETE);
    expect(d.recKey.equals(rk)).to.equal(true);
    expect(decodeRecKey(d.recKey).createTid).to.equal(0xfedcba9876543210n);
    const c = decodeTidIndexKey(encodeTidIndexKey(5n, TIDEVENT.CREATE, rk));
    expect(c.tid).to.equal(5n);
    expect(c.event).to.equal(TIDEVENT.CREATE);
    // TID dominates the order; create sorts before delete within one TID
    const lowRk = encodeRecKey({ pfs: 0, objId: 1, recType: RECTYPE.INODE, key: 0n, createTid: 0n });
    expect(Buffer.compare(encodeTidIndexKey(255n, TIDEVENT.DELETE, rk), encodeTidIndexKey(256n, TIDEVENT.CREATE, lowRk)))
      .to.equal(-1);
    expect(Buffer.compare(encodeTidIndexKey(9n, TIDEVENT.CREATE, rk), encodeTidIndexKey(9n, TIDEVENT.DELETE, lowRk)))
      .to.equal(-1);
    expect(tidKey(0xfedcba9876543210n).toString('hex')).to.equal('fedcba9876543210');
  });
});
