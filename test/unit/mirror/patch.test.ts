import { expect } from 'chai';
import { changedRange } from '../../../src/mirror/reader.js';

/** What the writer does with a PATCH: base cut or zero-extended to next's length, the range written over it. */
function rebuild(base: Buffer, next: Buffer): Buffer {
  const { off, len } = changedRange(base, next);
  const block = Buffer.alloc(next.length);
  base.copy(block, 0, 0, Math.min(base.length, next.length));
  next.copy(block, off, off, off + len);
  return block;
}

function flip(b: Buffer, i: number, x: number): void {
  b[i] = b[i]! ^ x;
}

describe('mirror/reader changedRange (the bytes a PATCH carries)', () => {
  const base = Buffer.alloc(65_536);
  for (let i = 0; i < base.length; i++) base[i] = (i * 7 + (i >> 8)) & 0xff;

  it('is empty for an unchanged block, and exact around a change inside it', () => {
    expect(changedRange(base, Buffer.from(base))).to.deep.equal({ off: 0, len: 0 });
    const next = Buffer.from(base);
    flip(next, 5000, 0xff);
    flip(next, 5100, 0x01);
    expect(changedRange(base, next)).to.deep.equal({ off: 5000, len: 101 });
  });

  it('finds changes at the very first and last byte, across 4 KiB steps', () => {
    const next = Buffer.from(base);
    flip(next, 0, 1);
    flip(next, 65_535, 1);
    expect(changedRange(base, next)).to.deep.equal({ off: 0, len: 65_536 });
    const mid = Buffer.from(base);
    flip(mid, 4095, 1);
    flip(mid, 4096, 1);
    expect(changedRange(base, mid)).to.deep.equal({ off: 4095, len: 2 });
  });

  it('treats a grown block as zero-extended and a shrunk one as cut', () => {
    const grown = Buffer.concat([base.subarray(0, 1000), Buffer.alloc(500, 0), Buffer.from([9, 9])]);
    expect(changedRange(base.subarray(0, 1000), grown)).to.deep.equal({ off: 1500, len: 2 });
    const shrunk = Buffer.from(base.subarray(0, 3000));
    expect(changedRange(base, shrunk)).to.deep.equal({ off: 0, len: 0 });
    flip(shrunk, 2999, 1);
    expect(changedRange(base, shrunk)).to.deep.equal({ off: 2999, len: 1 });
  });

  it('always rebuilds the new block exactly (random edits, lengths and bases)', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const b = base.subarray(0, rnd(65_537));
      const next = Buffer.alloc(rnd(65_537));
      b.copy(next, 0, 0, Math.min(b.length, next.length));
      for (let k = rnd(4); k > 0 && next.length > 0; k--) {
        const at = rnd(next.length);
        next.fill(rnd(256), at, Math.min(next.length, at + rnd(3000)));
      }
      expect(rebuild(b, next).equals(next), `round ${round}`).to.equal(true);
    }
  });
});
