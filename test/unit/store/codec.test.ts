import { expect } from 'chai';
import { H2Error } from '../../../src/errors.js';
import { decodeLeaf, decodePayload, encodeLeaf, encodePayload, leafDeleteTid, stampDelete } from '../../../src/store/codec.js';
import { OBJTYPE, type InodePayload } from '../../../src/store/index.js';

const inode: InodePayload = {
  v: 1, objType: OBJTYPE.REGFILE, mode: 0o100644, uid: 1000, gid: 1000, size: 2 ** 40 + 3, nlink: 1, rdev: 0,
  atime: 1_700_000_000_123, mtime: 1_700_000_000_456, ctime: 1_700_000_000_789,
};

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('store/codec', () => {
  it('round-trips a leaf: delete_tid in the first 8 bytes, then the payload', () => {
    const leaf = encodeLeaf(0n, inode);
    expect(leaf.readBigUInt64BE(0)).to.equal(0n);
    expect(leafDeleteTid(leaf)).to.equal(0n);
    const d = decodeLeaf<InodePayload>(leaf);
    expect(d.deleteTid).to.equal(0n);
    expect(d.payload).to.deep.equal(inode);
    expect(typeof d.payload.size).to.equal('number');

    const leaf2 = encodeLeaf(0xfedcba9876543210n, { v: 1, target: '../x' });
    expect(leafDeleteTid(leaf2)).to.equal(0xfedcba9876543210n);
    expect(decodeLeaf(leaf2)).to.deep.equal({ deleteTid: 0xfedcba9876543210n, payload: { v: 1, target: '../x' } });
  });

  it('stampDelete sets delete_tid, leaves the payload bytes alone and does not mutate its input', () => {
    const leaf = encodeLeaf(0n, inode);
    const before = Buffer.from(leaf);
    const stamped = stampDelete(leaf, 0xfedcba9876543210n);
    expect(leaf.equals(before)).to.equal(true);
    expect(stamped.length).to.equal(leaf.length);
    expect(leafDeleteTid(stamped)).to.equal(0xfedcba9876543210n);
    expect(stamped.subarray(8).equals(leaf.subarray(8))).to.equal(true);
    expect(decodeLeaf(stamped).payload).to.deep.equal(inode);
    expect(leafDeleteTid(stampDelete(stamped, 42n))).to.equal(42n);
  });

  it('keeps numbers above 2^32 as numbers and bigints above 2^32 and 2^53 as exact bigints', () => {
    const p = {
      v: 1, n32: 2 ** 32 + 1, n53: Number.MAX_SAFE_INTEGER, b32: (1n << 32n) + 1n, b53: (1n << 53n) + 1n,
      b64: 0xfedcba9876543210n, buf: Buffer.from([0, 1, 254, 255]), s: 'é@@',
    };
    const d = decodePayload<typeof p>(encodePayload(p));
    expect(d.n32).to.equal(2 ** 32 + 1);
    expect(d.n53).to.equal(Number.MAX_SAFE_INTEGER);
    expect(d.b32).to.equal((1n << 32n) + 1n);
    expect(d.b53).to.equal((1n << 53n) + 1n);
    expect(d.b64).to.equal(0xfedcba9876543210n);
    expect(Buffer.from(d.buf).equals(p.buf)).to.equal(true);
    expect(d.s).to.equal('é@@');
    const viaLeaf = decodeLeaf<typeof p>(encodeLeaf(7n, p)).payload;
    expect(viaLeaf.b53).to.equal((1n << 53n) + 1n);
    expect(viaLeaf.n32).to.equal(2 ** 32 + 1);
  });

  it('throws H2Error H2_STORE on an undecodable payload', () => {
    for (const bytes of [[0x92, 0x01], [0xd9], [0xde, 0x00, 0x05, 0xa1]]) {
      const e = catchErr(() => decodePayload(Buffer.from(bytes)));
      expect(e, `bytes ${bytes.join(',')}`).to.be.instanceOf(H2Error);
      expect((e as H2Error).code).to.equal('H2_STORE');
    }
    const leaf = Buffer.concat([Buffer.alloc(8), Buffer.from([0x92, 0x01])]);
    const e = catchErr(() => decodeLeaf(leaf));
    expect(e).to.be.instanceOf(H2Error);
    expect((e as H2Error).code).to.equal('H2_STORE');
  });
});
