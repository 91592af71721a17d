import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { H2Error } from '../../../src/errors.js';
import { encodeFrame, MREC } from '../../../src/mirror/frame.js';
import { takeFrame, targetSyncEndTid } from '../../../src/mirror/greeting.js';

const hello = encodeFrame({ type: MREC.HELLO, msg: { v: 1, version: 1, sharedUuid: 'a', uniqueUuid: 'b', label: 'l', begTid: 0n, twoWay: true } });
const target = encodeFrame({ type: MREC.TARGET, msg: { v: 1, version: 1, sharedUuid: 'a', uniqueUuid: 'c', syncEndTid: 0x1234n, created: false } });

describe('mirror/greeting (frames taken off a stream before it is piped)', () => {
  it('takes exactly one frame and puts back what followed it, for whoever reads next', async () => {
    const r = new PassThrough();
    r.write(Buffer.concat([hello, target.subarray(0, 5)]));
    const first = await takeFrame(r);
    expect(first!.equals(hello)).to.equal(true);
    r.end(target.subarray(5));
    const rest: Buffer[] = [];
    for await (const c of r) rest.push(c as Buffer);
    expect(Buffer.concat(rest).equals(target)).to.equal(true);
  });

  it('waits for a frame that comes in pieces, also from a stream paused by hand', async () => {
    const r = new PassThrough();
    r.pause();
    const got = takeFrame(r);
    for (let i = 0; i < target.length; i += 3) {
      r.write(target.subarray(i, i + 3));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const f = await got;
    expect(f!.equals(target)).to.equal(true);
    expect(targetSyncEndTid(f!)).to.equal(0x1234n);
    expect(targetSyncEndTid(hello), 'not a TARGET').to.equal(undefined);
  });

  it('gives null for a stream that ends first, and refuses bytes that are not a frame', async () => {
    const ended = new PassThrough();
    ended.end(hello.subarray(0, 10));
    expect(await takeFrame(ended)).to.equal(null);
    const junk = new PassThrough();
    junk.write(Buffer.alloc(32, 0x41));
    const e = await takeFrame(junk).then(() => undefined, (x: unknown) => x);
    expect(e).to.be.instanceOf(H2Error);
    expect((e as H2Error).code).to.equal('H2_PROTOCOL');
  });
});
