import { expect } from 'chai';
import os from 'node:os';
import { DEFAULT_SPIN_US, parseMountOptions } from '../../../src/daemon/mount-daemon.js';

describe('mount options', () => {
  it('spin=US sets how long the FUSE loop reads on; by default 50 us, 0 on one CPU', () => {
    expect(DEFAULT_SPIN_US).to.equal(os.availableParallelism() > 1 ? 50 : 0);
    expect(parseMountOptions(undefined).spinUs).to.equal(DEFAULT_SPIN_US);
    expect(parseMountOptions('spin=0').spinUs).to.equal(0);
    expect(parseMountOptions('ro,spin=200,commit=2')).to.include({ spinUs: 200, readOnly: true, commitIntervalMs: 2000 });
    for (const bad of ['spin=-1', 'spin=x', 'spin=10001', 'spin']) {
      expect(() => parseMountOptions(bad), bad).to.throw(/mount option spin=.*expected microseconds, 0 to 10000/);
    }
  });

  it('mirror_cache=keep|drop says whether a slave drops bulk mirror parts from the page cache; drop by default', () => {
    expect(parseMountOptions(undefined).mirrorCache).to.equal('drop');
    expect(parseMountOptions('mirror_cache=keep').mirrorCache).to.equal('keep');
    expect(parseMountOptions('mirror_cache=keep,mirror_cache=drop').mirrorCache).to.equal('drop');
    for (const bad of ['mirror_cache', 'mirror_cache=', 'mirror_cache=KEEP', 'mirror_cache=yes']) {
      expect(() => parseMountOptions(bad), bad).to.throw(/mount option mirror_cache=.*: expected keep or drop/);
    }
  });
});
