import { expect } from 'chai';
import { H2Error } from '../../src/errors.js';
import { formatTid, isTidText, nextTid, parseTid, TID_MAX, tidMax, tidToDate } from '../../src/tid.js';

function expectBadTid(text: string): void {
  let caught: unknown;
  try {
    parseTid(text);
  } catch (e) {
    caught = e;
  }
  expect(caught, `parseTid('${text}') should throw`).to.be.instanceOf(H2Error);
  expect((caught as H2Error).code).to.equal('H2_BAD_TID');
}

describe('tid', () => {
  it('round-trips through its one text form', () => {
    expect(formatTid(0x1efa9ec90n)).to.equal('0x00000001efa9ec90');
    expect(parseTid('0x00000001efa9ec90')).to.equal(0x1efa9ec90n);
  });

  it('formats as 0x + 16 lowercase hex digits, zero padded', () => {
    expect(formatTid(0n)).to.equal('0x0000000000000000');
    expect(formatTid(1n)).to.equal('0x0000000000000001');
    expect(formatTid(TID_MAX)).to.equal('0xffffffffffffffff');
  });

  it('round-trips values above 2^53 without loss', () => {
    const values = [0xfedcba9876543210n, (1n << 53n) + 1n, (1n << 63n) + 7n, TID_MAX, 0n];
    for (const v of values) {
      const text = formatTid(v);
      expect(text).to.match(/^0x[0-9a-f]{16}$/);
      expect(parseTid(text)).to.equal(v);
    }
    expect(formatTid(0xfedcba9876543210n)).to.equal('0xfedcba9876543210');
    expect(parseTid('0xFEDCBA9876543210')).to.equal(0xfedcba9876543210n);
  });

  it('rejects anything but 0x + 16 hex digits with H2_BAD_TID', () => {
    for (const bad of ['0x123', '123', '0xZZZZZZZZZZZZZZZZ', '', '0x', '0x00000001efa9ec900',
      '00000001efa9ec90ab', ' 0x00000001efa9ec90', '0X00000001efa9ec90', '-0x0000000000000001']) {
      expectBadTid(bad);
    }
    expect(isTidText('0x123')).to.equal(false);
    expect(isTidText('0x00000001efa9ec90')).to.equal(true);
  });

  it('nextTid follows the clock when it is ahead', () => {
    expect(nextTid(5n, 1000)).to.equal(1_000_000n);
    expect(nextTid(0n, 1.5)).to.equal(1500n);
  });

  it('nextTid strictly increases when the clock is equal or goes backwards', () => {
    const last = 1_700_000_000_000_000n;
    expect(nextTid(last, 1_700_000_000_000)).to.equal(last + 1n); // equal
    expect(nextTid(last, 1_600_000_000_000)).to.equal(last + 1n); // backwards
    expect(nextTid(last, 0)).to.equal(last + 1n);
    let t = 0n;
    for (let i = 0; i < 50; i++) {
      const n = nextTid(t, i % 2 === 0 ? 1000 : 999);
      expect(n > t, `step ${i}`).to.equal(true);
      t = n;
    }
    expect(nextTid(TID_MAX - 1n, 0)).to.equal(TID_MAX);
  });

  it('tidToDate inverts the clock part of nextTid', () => {
    const t = nextTid(0n, 1_700_000_000_123);
    expect(t).to.equal(1_700_000_000_123_000n);
    expect(tidToDate(t).getTime()).to.equal(1_700_000_000_123);
  });

  it('tidMax picks the larger bigint', () => {
    expect(tidMax(3n, 0xfedcba9876543210n)).to.equal(0xfedcba9876543210n);
    expect(tidMax(0xfedcba9876543210n, 3n)).to.equal(0xfedcba9876543210n);
  });
});
