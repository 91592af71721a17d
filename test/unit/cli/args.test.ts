import { expect } from 'chai';
import { H2Error } from '../../../src/errors.js';
import { parseSeconds, parseSize, requirePositionals } from '../../../src/cli/args.js';

function usageError(fn: () => unknown): H2Error {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(H2Error);
    return e as H2Error;
  }
  throw new Error('expected an H2Error');
}

describe('cli/args', () => {
  it('parseSize: powers of 1024 with k, m, g suffixes', () => {
    expect(parseSize('500k')).to.equal(512000);
    expect(parseSize('20m')).to.equal(20971520);
    expect(parseSize('1g')).to.equal(1073741824);
    expect(parseSize('1G')).to.equal(1073741824);
    expect(parseSize('2K')).to.equal(2048);
    expect(parseSize('42')).to.equal(42);
    expect(parseSize('0')).to.equal(0);
    expect(parseSize('1.5k')).to.equal(1536);
  });

  it('parseSize: bad values throw H2_USAGE', () => {
    for (const bad of ['', 'k', '10x', '-1k', '1kb', '1 k', ' 1k', '1e3', 'abc', '1.k', '.5k']) {
      expect(usageError(() => parseSize(bad)).code, `'${bad}'`).to.equal('H2_USAGE');
    }
  });

  it('parseSeconds accepts non-negative numbers only', () => {
    expect(parseSeconds('2.5')).to.equal(2.5);
    expect(parseSeconds('0')).to.equal(0);
    for (const bad of ['-1', 'x', 'Infinity']) expect(usageError(() => parseSeconds(bad)).code).to.equal('H2_USAGE');
  });

  it('requirePositionals checks the count with a usage hint', () => {
    requirePositionals('x', ['a'], 1, 1, 'x A');
    const e = usageError(() => requirePositionals('x', [], 1, 2, 'x A [B]'));
    expect(e.code).to.equal('H2_USAGE');
    expect(e.hint).to.equal('usage: h2fs x A [B]');
  });
});
