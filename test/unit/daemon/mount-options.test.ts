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
});
