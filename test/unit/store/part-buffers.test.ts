import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { PartBuffers } from '../../../src/store/part-buffers.js';

const MiB = 1 << 20;

describe('store/part-buffers (mirror part buffers kept for reuse)', () => {
  it('a small part gets a buffer of its own, never a kept one', () => {
    const pool = new PartBuffers();
    const big = pool.take(3 * MiB);
    pool.give(big);
    const small = pool.take(1000);
    expect(small.byteLength).to.equal(1000);
    expect(small).to.not.equal(big);
    pool.give(small);
    expect(pool.kept).to.equal(1);
  });

  it('a big part gets a kept buffer at least as long, else a new one rounded up to a MiB', () => {
    const pool = new PartBuffers();
    const a = pool.take(2 * MiB + 5);
    expect(a.byteLength).to.equal(3 * MiB);
    pool.give(a);
    expect(pool.take(3 * MiB + 1), 'too short to reuse').to.not.equal(a);
    expect(pool.take(2 * MiB)).to.equal(a);
    expect(pool.kept).to.equal(0);
  });

  it('keeps at most its count (the newest), and drops a buffer transferred away', () => {
    const pool = new PartBuffers(2);
    const bufs = [pool.take(MiB), pool.take(MiB), pool.take(MiB)];
    for (const b of bufs) pool.give(b);
    expect(pool.kept).to.equal(2);
    expect([pool.take(MiB), pool.take(MiB)]).to.have.members([bufs[1], bufs[2]]);
    const moved = pool.take(MiB);
    structuredClone(moved, { transfer: [moved] });
    pool.give(moved);
    expect(pool.kept).to.equal(0);
  });

  it('lets its buffers go once nothing was given back for its idle time', async () => {
    const pool = new PartBuffers(3, 50);
    pool.give(pool.take(MiB));
    await sleep(20);
    pool.give(pool.take(2 * MiB));
    await sleep(40);
    expect(pool.kept, 'the idle time restarts with each buffer given back').to.equal(2);
    await sleep(60);
    expect(pool.kept).to.equal(0);
  });
});
