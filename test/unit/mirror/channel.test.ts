import { expect } from 'chai';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { FrameChannel } from '../../../src/mirror/channel.js';
import { encodeFrame, MREC, type Frame } from '../../../src/mirror/frame.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

/** A REC carrying `data`. */
function rec(objId: number, data: Buffer): Frame {
  return { type: MREC.REC, data,
    msg: { v: 1, objId, recType: 0x10, key: 0n, createTid: 5n, payload: { v: 1, len: data.length } } };
}

function sync(tid: bigint, count: number): Frame {
  return { type: MREC.SYNC, msg: { v: 1, tid, count } };
}

/**
 * A bulk-like run: 60 KiB records sent from one buffer that is refilled
 * between sends (as the reader's view into the store is), a SYNC every 10,
 * and one record too big for a chunk. Returns the bytes each frame should be.
 */
async function sendRun(ch: FrameChannel, records: number): Promise<Buffer[]> {
  const want: Buffer[] = [];
  const view = Buffer.alloc(60 * 1024);
  for (let i = 0; i < records; i++) {
    view.fill(i % 251);
    view.writeUInt32BE(i, 0);
    const f = i === 7 ? rec(i, Buffer.alloc(1536 * 1024, 0x5a)) : rec(i, view);
    want.push(encodeFrame(f));
    await ch.send(f);
    if (i % 10 === 9) {
      want.push(encodeFrame(sync(BigInt(i), 10)));
      await ch.send(sync(BigInt(i), 10));
      // A turn of the event loop, in which the output may finish with what it was given.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return want;
}

describe('mirror/channel (FrameChannel)', () => {
  after(() => removeTmpDirs());

  it('over a socket: every frame arrives byte for byte although its data buffer was refilled after send(), and chunks are reused', async () => {
    const sockPath = path.join(tmpDir(), 's');
    const got: Buffer[] = [];
    const server = net.createServer();
    const received = new Promise<Buffer>((resolve, reject) => {
      server.on('connection', (c) => {
        c.on('data', (b: Buffer) => got.push(b));
        c.on('end', () => resolve(Buffer.concat(got)));
        c.on('error', reject);
      });
    });
    await new Promise<void>((resolve) => server.listen(sockPath, resolve));
    const sock = net.connect(sockPath);
    await new Promise<void>((resolve) => sock.once('connect', resolve));
    const slow = Buffer.allocUnsafeSlow;
    let chunks = 0;
    // The channel's 1 MiB chunks (msgpackr allocates its own buffers here too).
    Buffer.allocUnsafeSlow = (n: number): Buffer<ArrayBuffer> => {
      if (n === 1 << 20) chunks++;
      return slow(n);
    };
    try {
      const ch = new FrameChannel(null, sock);
      const want = await sendRun(ch, 300);
      ch.end();
      expect((await received).equals(Buffer.concat(want))).to.equal(true);
      // About 19 MiB went through 1 MiB chunks.
      expect(ch.bytesOut).to.be.greaterThan(18 << 20);
      // One being packed, one being written: the second comes back before the next is needed.
      expect(chunks).to.be.within(1, 2);
    } finally {
      Buffer.allocUnsafeSlow = slow;
      sock.destroy();
      server.close();
    }
  });

  it('into a stream of this process: what was handed over is never written again', async () => {
    const out = new PassThrough();
    const pieces: Buffer[] = [];
    out.on('data', (b: Buffer) => pieces.push(b));
    const ch = new FrameChannel(null, out);
    const want = await sendRun(ch, 120);
    ch.end();
    await new Promise((resolve) => out.once('end', resolve));
    // The pieces were kept as received, not copied: a reused chunk would show here.
    expect(Buffer.concat(pieces).equals(Buffer.concat(want))).to.equal(true);
  });

  it('a SYNC leaves at once; records leave at the end of the turn, or with end()', async () => {
    const out = new PassThrough();
    const ch = new FrameChannel(null, out);
    void ch.send(rec(1, Buffer.alloc(100, 1)));
    expect(out.readableLength, 'a record waits for the turn to end').to.equal(0);
    void ch.send(sync(3n, 1));
    expect(out.readableLength, 'a SYNC takes the record with it').to.equal(encodeFrame(rec(1, Buffer.alloc(100, 1))).length +
      encodeFrame(sync(3n, 1)).length);
    void ch.send(rec(2, Buffer.alloc(100, 2)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(out.readableLength).to.equal(2 * encodeFrame(rec(1, Buffer.alloc(100, 1))).length + encodeFrame(sync(3n, 1)).length);
    void ch.send(rec(3, Buffer.alloc(100, 3)));
    ch.end();
    const all: Buffer[] = [];
    for await (const b of out) all.push(b as Buffer);
    expect(Buffer.concat(all).equals(Buffer.concat([rec(1, Buffer.alloc(100, 1)), sync(3n, 1), rec(2, Buffer.alloc(100, 2)),
      rec(3, Buffer.alloc(100, 3))].map(encodeFrame)))).to.equal(true);
  });

  it('send() waits while nobody reads, with a bounded amount packed, and goes on once the link drains', async () => {
    const out = new PassThrough();
    const ch = new FrameChannel(null, out);
    const block = Buffer.alloc(60 * 1024, 9);
    let sent = 0;
    let stuck: Promise<void> | undefined;
    for (let i = 0; i < 1000 && !stuck; i++) {
      const p = ch.send(rec(i, block)).then(() => { sent++; });
      const settled = await Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 50))]);
      if (!settled) stuck = p;
    }
    expect(stuck, 'send() never waited').to.not.equal(undefined);
    // Buffered in the stream plus packed in the channel: a few MiB, not 1000 records.
    expect(out.writableLength + out.readableLength).to.be.lessThan(4 << 20);
    expect(sent).to.be.lessThan(70);
    const before = sent;
    out.resume();
    await stuck;
    expect(sent).to.equal(before + 1);
  });
});
