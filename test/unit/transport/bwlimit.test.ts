import { expect } from 'chai';
import { BandwidthLimit } from '../../../src/transport/bwlimit.js';

/**
 * A fake clock for BandwidthLimit: `now()` is what the limiter reads, and the
 * limiter's setTimeout is replaced, while a test runs, by one that moves the
 * clock forward by exactly the delay and then runs the callback at once. No
 * wall-clock time is measured or waited for, so the results are exact.
 */
class FakeTime {
  ms = 0;
  readonly waits: number[] = [];
  private saved: typeof setTimeout | undefined;

  readonly now = (): number => this.ms;

  install(): void {
    this.saved = globalThis.setTimeout;
    const fake = (fn: () => void, delay?: number): NodeJS.Immediate => {
      this.waits.push(delay ?? 0);
      this.ms += delay ?? 0;
      return setImmediate(fn);
    };
    globalThis.setTimeout = fake as unknown as typeof setTimeout;
  }

  uninstall(): void {
    if (this.saved) globalThis.setTimeout = this.saved;
    this.saved = undefined;
  }
}

interface Push {
  at: number;
  bytes: number;
}

/** Writes `chunks` through a limiter, one after the other, each once the limiter took it. */
async function pump(lim: BandwidthLimit, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    await new Promise<void>((resolve, reject) => lim.write(c, (e) => (e ? reject(e) : resolve())));
  }
}

/**
 * Records every push with the fake time it happened at (by wrapping the
 * instance's push: a 'data' listener could see a buffered chunk later), and
 * collects the output.
 */
function attach(lim: BandwidthLimit, time: FakeTime): { pushes: Push[]; out: Buffer[] } {
  const pushes: Push[] = [];
  const out: Buffer[] = [];
  const push = lim.push.bind(lim);
  lim.push = (chunk: unknown, enc?: BufferEncoding): boolean => {
    if (Buffer.isBuffer(chunk)) pushes.push({ at: time.ms, bytes: chunk.length });
    return push(chunk, enc);
  };
  lim.on('data', (c: Buffer) => out.push(c));
  return { pushes, out };
}

/** Deterministic pseudo-random chunk sizes. */
function chunkSizes(total: number, seed: number): number[] {
  let s = seed >>> 0;
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const n = Math.min(left, 1 + (s % 70000));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** Token bucket bound: between any two pushes, bytes <= slice + rate * elapsed. */
function checkBucket(pushes: Push[], rate: number, slice: number): void {
  for (let i = 0; i < pushes.length; i++) {
    let sum = 0;
    for (let j = i; j < pushes.length; j++) {
      sum += pushes[j]!.bytes;
      const allowed = slice + (rate * (pushes[j]!.at - pushes[i]!.at)) / 1000;
      if (sum > allowed + 1e-6) {
        expect.fail(`${sum} bytes between t=${pushes[i]!.at} and t=${pushes[j]!.at} ms exceed ${allowed}`);
      }
    }
  }
}

describe('transport/bwlimit', () => {
  const time = new FakeTime();
  beforeEach(() => {
    time.ms = 1_000_000;
    time.waits.length = 0;
    time.install();
  });
  afterEach(() => time.uninstall());

  it('passes the bytes through unchanged and in order', async () => {
    const lim = new BandwidthLimit(200_000, time.now);
    const { out } = attach(lim, time);
    const data = payload(300_000);
    let off = 0;
    const chunks = chunkSizes(data.length, 1).map((n) => data.subarray(off, (off += n)));
    await pump(lim, chunks);
    expect(Buffer.concat(out).equals(data)).to.equal(true);
  });

  it('never pushes more than rate/20 bytes at once, and no more than the bucket allows over any span', async () => {
    const rate = 100_000;
    const slice = rate / 20;
    const lim = new BandwidthLimit(rate, time.now);
    const { pushes } = attach(lim, time);
    const data = payload(400_000);
    let off = 0;
    const chunks = chunkSizes(data.length, 2).map((n) => data.subarray(off, (off += n)));
    await pump(lim, chunks);
    expect(pushes.reduce((a, p) => a + p.bytes, 0)).to.equal(data.length);
    for (const p of pushes) expect(p.bytes).to.be.at.most(slice);
    // At any one instant, at most one slice goes out.
    const perInstant = new Map<number, number>();
    for (const p of pushes) perInstant.set(p.at, (perInstant.get(p.at) ?? 0) + p.bytes);
    for (const [at, n] of perInstant) expect(n, `t=${at}`).to.be.at.most(slice);
    checkBucket(pushes, rate, slice);
    expect(time.waits.length, 'the limiter had to wait').to.be.greaterThan(0);
  });

  it('averages the configured rate (1 MB at 100 kB/s takes 10 s of clock, less the first slice)', async () => {
    const rate = 100_000;
    const start = time.ms;
    const lim = new BandwidthLimit(rate, time.now);
    attach(lim, time);
    await pump(lim, [payload(1_000_000)]);
    const elapsed = time.ms - start;
    // The bucket starts full (one slice, 5000 bytes), then everything is paid for.
    expect(elapsed).to.be.within(9_950, 9_950 + time.waits.length);
    const avg = (1_000_000 / elapsed) * 1000;
    expect(avg).to.be.within(rate * 0.99, rate * 1.01);
  });

  it('does not save up budget while idle: after a pause only one slice goes at once', async () => {
    const rate = 40_000;
    const slice = rate / 20;
    const lim = new BandwidthLimit(rate, time.now);
    const { pushes } = attach(lim, time);
    await pump(lim, [payload(10_000)]);
    time.ms += 60_000; // a minute of silence
    const resumeAt = time.ms;
    const before = pushes.length;
    await pump(lim, [payload(20_000)]);
    const after = pushes.slice(before);
    const atResume = after.filter((p) => p.at === resumeAt).reduce((a, p) => a + p.bytes, 0);
    expect(atResume).to.equal(slice);
    // The other 18000 bytes took 18000 / 40000 s.
    expect(time.ms - resumeAt).to.be.within(450, 450 + time.waits.length);
    checkBucket(pushes, rate, slice);
  });

  it('uses 512-byte slices below 10 kB/s and still keeps the rate', async () => {
    const rate = 2_000;
    const start = time.ms;
    const lim = new BandwidthLimit(rate, time.now);
    const { pushes } = attach(lim, time);
    await pump(lim, [payload(20_000)]);
    for (const p of pushes) expect(p.bytes).to.be.at.most(512);
    checkBucket(pushes, rate, 512);
    const elapsed = time.ms - start;
    expect(elapsed).to.be.within(((20_000 - 512) / rate) * 1000, ((20_000 - 512) / rate) * 1000 + time.waits.length);
  });
});
