import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { H2Error } from '../../../src/errors.js';
import {
  decodeFrameBody, encodeFrame, FrameDecoder, FrameEncoder, FrameWatcher, HEADER_LEN, MAX_FRAME, MREC, MREC_NAME, SIGNATURE,
  STREAM_VERSION, type Frame, type WatchedFrame,
} from '../../../src/mirror/frame.js';
import { goldenFrames, TID_2_63, TID_ABOVE_2_53, TID_HIGH } from '../../helpers/golden-frames.js';

/** dist/test/unit/mirror -> the repository root. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'mrecord', 'v1');

function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, `${name}.bin`));
}

/** Feeds `chunks` to a FrameDecoder; resolves with its frames, rejects with its error. */
function decodeChunks(chunks: Buffer[]): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const d = new FrameDecoder();
    const out: Frame[] = [];
    d.on('data', (f: Frame) => out.push(f));
    d.on('error', reject);
    d.on('end', () => resolve(out));
    for (const c of chunks) d.write(c);
    d.end();
  });
}

async function decodeError(chunks: Buffer[]): Promise<H2Error> {
  try {
    await decodeChunks(chunks);
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(H2Error);
    return e as H2Error;
  }
  throw new Error('the decoder accepted the input');
}

/** Recomputes the CRC of a frame after its bytes were edited. */
function reseal(frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  b.writeUInt32BE(crc32(b.subarray(8)), 4);
  return b;
}

function oneByteChunks(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

describe('mirror/frame', () => {
  const golden = goldenFrames();

  describe('golden fixtures (v1 wire format)', () => {
    it('has one fixture per frame type', () => {
      const types = [...new Set(golden.map((g) => g.frame.type))].sort((a, b) => a - b);
      expect(types).to.deep.equal(Object.values(MREC).sort((a, b) => a - b));
      for (const g of golden) expect(fs.existsSync(path.join(FIXTURES, `${g.name}.bin`)), g.name).to.equal(true);
      expect(STREAM_VERSION).to.equal(1);
    });

    for (const g of goldenFrames()) {
      it(`encodes ${g.name} byte for byte as committed`, () => {
        const want = fixture(g.name);
        const got = encodeFrame(g.frame);
        expect(got.toString('hex')).to.equal(want.toString('hex'));
      });

      it(`decodes ${g.name}.bin back to the same message`, async () => {
        const bytes = fixture(g.name);
        expect(bytes.readUInt32BE(0)).to.equal(SIGNATURE);
        expect(bytes.readUInt32BE(4)).to.equal(crc32(bytes.subarray(8)));
        expect(bytes.readUInt32BE(8)).to.equal(bytes.length);
        expect(bytes.readUInt16BE(12)).to.equal(g.frame.type);
        expect(bytes.readUInt16BE(14)).to.equal(STREAM_VERSION);
        const direct = decodeFrameBody(bytes.readUInt16BE(12), bytes.subarray(HEADER_LEN));
        expect(direct).to.deep.equal(g.frame);
        const [viaStream] = await decodeChunks([bytes]);
        expect(viaStream).to.deep.equal(g.frame);
      });
    }

    it('pins the SYNC frame to literal bytes (header, CRC, msgpack map, uint64 TID)', () => {
      // 'H2MR' | crc32 | length 42 | type 6 | version 1 | {v: 1, tid: 2^63 as msgpack uint64, count: 3}
      const hex = '48324d52' + 'e7e19010' + '0000002a' + '0006' + '0001' +
        'de0003' + 'a176' + '01' + 'a3746964' + 'cf8000000000000000' + 'a5636f756e74' + '03';
      expect(fixture('sync').toString('hex')).to.equal(hex);
    });

    it('carries TIDs above 2^53 and 2^63 exactly (bigint, never a lossy number)', () => {
      const hello = decodeFrameBody(MREC.HELLO, fixture('hello').subarray(HEADER_LEN));
      expect(hello.type === MREC.HELLO && hello.msg.begTid === TID_ABOVE_2_53).to.equal(true);
      const batch = decodeFrameBody(MREC.BATCH, fixture('batch').subarray(HEADER_LEN));
      expect(batch.type === MREC.BATCH && batch.msg.endTid === TID_HIGH).to.equal(true);
      const del = decodeFrameBody(MREC.DEL, fixture('del').subarray(HEADER_LEN));
      expect(del.type === MREC.DEL && del.msg.deleteTid === TID_2_63).to.equal(true);
      // The int64 encoding (0xd3) of 2^53 + 1 is in the HELLO bytes.
      expect(fixture('hello').includes(Buffer.from('d30020000000000001', 'hex'))).to.equal(true);
    });

    it('lays a REC out as u32 meta length | msgpack meta | raw data', () => {
      const bytes = fixture('rec');
      const payload = bytes.subarray(HEADER_LEN);
      const metaLen = payload.readUInt32BE(0);
      const rec = golden.find((g) => g.name === 'rec')!.frame as Frame & { type: typeof MREC.REC };
      expect(4 + metaLen + rec.data.length).to.equal(payload.length);
      expect(payload.subarray(4 + metaLen).equals(rec.data)).to.equal(true);
    });
  });

  describe('FrameDecoder', () => {
    const all = Buffer.concat(golden.map((g) => fixture(g.name)));

    it('decodes a stream fed one byte at a time', async () => {
      const frames = await decodeChunks(oneByteChunks(all));
      expect(frames).to.deep.equal(golden.map((g) => g.frame));
    });

    it('decodes many frames from one chunk, and chunks that split frames anywhere', async () => {
      const many = Buffer.concat([all, all, all]);
      const want = [...golden, ...golden, ...golden].map((g) => g.frame);
      expect(await decodeChunks([many])).to.deep.equal(want);
      // Cuts at 7, 20, 33, ... bytes: never aligned with frame boundaries.
      const cuts: Buffer[] = [];
      for (let i = 0, step = 7; i < many.length; i += step, step = step === 7 ? 13 : 7) cuts.push(many.subarray(i, i + step));
      expect(await decodeChunks(cuts)).to.deep.equal(want);
    });

    it('gives records views of its input only when told the input is its own, and copies a frame cut across chunks alone', async () => {
      const recOf = (objId: number): Frame => ({ type: MREC.REC, data: Buffer.alloc(5000, objId),
        msg: { v: 1, objId, recType: 0x10, key: 0n, createTid: 5n, payload: { v: 1, len: 5000 } } });
      const [a, b, c] = [1, 2, 3].map((i) => encodeFrame(recOf(i))) as [Buffer, Buffer, Buffer];
      // Chunk 1: all of a and half of b; chunk 2: the rest of b and all of c.
      const whole = Buffer.concat([a, b, c]);
      const chunk1 = Buffer.from(whole.subarray(0, a.length + 2500));
      const chunk2 = Buffer.from(whole.subarray(a.length + 2500));
      for (const owned of [true, false]) {
        const d = new FrameDecoder(owned);
        const frames: Array<Frame & { type: typeof MREC.REC }> = [];
        d.on('data', (f: Frame & { type: typeof MREC.REC }) => frames.push(f));
        d.write(chunk1);
        d.write(chunk2);
        d.end();
        await new Promise((resolve) => d.once('end', resolve));
        expect(frames.map((f) => f.data.equals(Buffer.alloc(5000, f.msg.objId)))).to.deep.equal([true, true, true]);
        expect(frames[0]!.data.buffer === chunk1.buffer, `owned ${owned}`).to.equal(owned);
        expect(frames[2]!.data.buffer === chunk2.buffer, `owned ${owned}`).to.equal(owned);
        // b was copied out of both chunks, and only b.
        expect([chunk1.buffer, chunk2.buffer]).to.not.include(frames[1]!.data.buffer);
        if (owned) expect(frames[1]!.data.buffer.byteLength).to.equal(b.length);
      }
    });

    it('counts the bytes it takes in', async () => {
      const d = new FrameDecoder();
      d.resume();
      d.write(all);
      d.end();
      await new Promise((r) => d.on('end', r));
      expect(d.bytesIn).to.equal(all.length);
    });

    it('ends cleanly on empty input', async () => {
      expect(await decodeChunks([])).to.deep.equal([]);
    });

    it('refuses a bad signature', async () => {
      const b = Buffer.from(fixture('sync'));
      b.writeUInt32BE(0x4dd97272, 0); // HAMMER's signature, not ours
      const e = await decodeError([b]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.match(/bad signature 0x4dd97272 at byte 0/);
    });

    it('refuses a bad signature in a later frame and names its offset', async () => {
      const first = fixture('hello');
      const second = Buffer.from(fixture('sync'));
      second[1] = 0x00;
      const e = await decodeError(oneByteChunks(Buffer.concat([first, second])));
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include(`at byte ${first.length}`);
    });

    it('refuses a length below the header size', async () => {
      const b = Buffer.from(fixture('sync'));
      b.writeUInt32BE(HEADER_LEN - 1, 8);
      const e = await decodeError([reseal(b)]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.match(/illegal frame length 15\b/);
    });

    it('refuses a length above MAX_FRAME before waiting for that many bytes', async () => {
      const b = Buffer.from(fixture('sync'));
      b.writeUInt32BE(MAX_FRAME + 1, 8);
      const e = await decodeError([reseal(b)]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include(`illegal frame length ${MAX_FRAME + 1}`);
    });

    it('refuses a bad CRC (one payload byte flipped)', async () => {
      const b = Buffer.from(fixture('rec'));
      b[b.length - 10]! ^= 0x01; // inside the data bytes
      const e = await decodeError([b]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.match(/bad crc at byte 0 \(REC frame\)/);
    });

    it('refuses a frame whose version field was changed (the CRC covers it)', async () => {
      const b = Buffer.from(fixture('ack'));
      b.writeUInt16BE(2, 14);
      const e = await decodeError([b]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include('bad crc');
    });

    it('refuses a whole frame of another stream version with H2_VERSION', async () => {
      const b = Buffer.from(fixture('ack'));
      b.writeUInt16BE(2, 14);
      const e = await decodeError([reseal(b)]);
      expect(e.code).to.equal('H2_VERSION');
      expect(e.message).to.equal('version mismatch: the stream is v2, this h2fs reads v1');
    });

    it('refuses an unknown frame type (with a valid CRC)', async () => {
      const b = Buffer.from(fixture('sync'));
      b.writeUInt16BE(42, 12);
      const e = await decodeError([reseal(b)]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include('unknown frame type 42');
    });

    it('refuses a stream that ends inside a frame', async () => {
      const b = Buffer.concat([fixture('hello'), fixture('rec').subarray(0, 100)]);
      const e = await decodeError([b]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include('stream ends inside a frame (100 bytes left');
    });

    it('refuses a stream that ends inside a header', async () => {
      const e = await decodeError([fixture('hello').subarray(0, 5)]);
      expect(e.code).to.equal('H2_BAD_MRECORD');
      expect(e.message).to.include('stream ends inside a frame (5 bytes left at byte 0)');
    });
  });

  describe('decodeFrameBody', () => {
    /** A msgpack payload of any shape (encoded as an ERROR frame's, which takes the message as is). */
    const pack = (msg: unknown): Buffer => {
      const f = encodeFrame({ type: MREC.ERROR, msg } as Frame);
      return f.subarray(HEADER_LEN);
    };

    it('refuses a payload that is not a v1 message', () => {
      const body = pack({ v: 2, tid: 1n });
      expect(() => decodeFrameBody(MREC.SYNC, body)).to.throw(H2Error, /SYNC payload is not a v1 message/);
    });

    it('refuses a TID of the wrong type or sign', () => {
      for (const tid of ['0x1', -1, 1.5, null]) {
        const err = (() => {
          try {
            decodeFrameBody(MREC.ACK, pack({ v: 1, tid }));
          } catch (e) {
            return e as H2Error;
          }
          return undefined;
        })();
        expect(err, `tid ${String(tid)}`).to.be.instanceOf(H2Error);
        expect(err!.code).to.equal('H2_BAD_MRECORD');
        expect(err!.message).to.include('field tid is not a TID');
      }
    });

    it('refuses a SYNC without its record count', () => {
      expect(() => decodeFrameBody(MREC.SYNC, pack({ v: 1, tid: 5n }))).to.throw(H2Error, /field count is not an integer/);
    });

    it('accepts a TID sent as a small msgpack integer', () => {
      const f = decodeFrameBody(MREC.ACK, pack({ v: 1, tid: 7 }));
      expect(f).to.deep.equal({ type: MREC.ACK, msg: { v: 1, tid: 7n } });
    });

    it('refuses msgpack that does not decode, or decodes to something else than a map', () => {
      // A map16 header announcing 5 entries, and nothing after it.
      expect(() => decodeFrameBody(MREC.BATCH, Buffer.from('de0005', 'hex'))).to.throw(H2Error, /BATCH payload does not decode/);
      // 0xc1 (never used) decodes to no object at all.
      expect(() => decodeFrameBody(MREC.BATCH, Buffer.from([0xc1]))).to.throw(H2Error, /BATCH payload is not a v1 message/);
    });

    it('refuses a REC whose meta length runs past the frame', () => {
      const body = Buffer.from(fixture('rec').subarray(HEADER_LEN));
      body.writeUInt32BE(body.length, 0);
      expect(() => decodeFrameBody(MREC.REC, body)).to.throw(H2Error, /REC meta length exceeds the frame/);
      expect(() => decodeFrameBody(MREC.REC, Buffer.alloc(3))).to.throw(H2Error, /REC frame too short/);
    });

    it('refuses a HELLO without a shared-uuid string', () => {
      const body = pack({ v: 1, version: 1, sharedUuid: 5, uniqueUuid: 'u', label: '', begTid: 0n });
      expect(() => decodeFrameBody(MREC.HELLO, body)).to.throw(H2Error, /field sharedUuid is not a string/);
    });

    it('names every type it knows', () => {
      for (const [name, n] of Object.entries(MREC)) expect(MREC_NAME[n]).to.equal(name);
    });
  });

  describe('encodeFrame / FrameEncoder', () => {
    it('refuses to build a frame above MAX_FRAME', () => {
      const data = Buffer.alloc(MAX_FRAME);
      const f: Frame = { type: MREC.REC, data, msg: { v: 1, objId: 2, recType: 3, key: 0n, createTid: 1n, payload: { v: 1, len: 0 } } };
      try {
        encodeFrame(f);
        expect.fail('encodeFrame accepted an oversized frame');
      } catch (e) {
        expect(e).to.be.instanceOf(H2Error);
        expect((e as H2Error).code).to.equal('H2_BAD_MRECORD');
        expect((e as H2Error).message).to.include('exceeds');
      }
    });

    it('FrameEncoder emits the same bytes as encodeFrame and counts them', async () => {
      const enc = new FrameEncoder();
      const chunks: Buffer[] = [];
      enc.on('data', (c: Buffer) => chunks.push(c));
      for (const g of golden) enc.write(g.frame);
      enc.end();
      await new Promise((r) => enc.on('end', r));
      const want = Buffer.concat(golden.map((g) => encodeFrame(g.frame)));
      expect(Buffer.concat(chunks).equals(want)).to.equal(true);
      expect(enc.bytesOut).to.equal(want.length);
    });
  });
  describe('FrameWatcher (what the relay sees go by)', () => {
    const all = Buffer.concat(golden.map((g) => fixture(g.name)));
    /** Records by type only; every control frame whole. */
    const seen = golden.map((g): WatchedFrame =>
      (g.frame.type === MREC.REC || g.frame.type === MREC.PATCH || g.frame.type === MREC.DEL ? { type: g.frame.type } : g.frame));

    function watch(chunks: Buffer[]): { frames: WatchedFrame[]; w: FrameWatcher } {
      const frames: WatchedFrame[] = [];
      const w = new FrameWatcher((f) => frames.push(f));
      for (const c of chunks) w.write(c);
      return { frames, w };
    }

    it('follows the stream one byte at a time, in one chunk, and cut anywhere', () => {
      expect(watch(oneByteChunks(all)).frames).to.deep.equal(seen);
      const many = Buffer.concat([all, all, all]);
      expect(watch([many]).frames).to.deep.equal([...seen, ...seen, ...seen]);
      const cuts: Buffer[] = [];
      for (let i = 0, step = 5; i < many.length; i += step, step = step === 5 ? 17 : 5) cuts.push(many.subarray(i, i + step));
      const r = watch(cuts);
      expect(r.frames).to.deep.equal([...seen, ...seen, ...seen]);
      expect(r.w.blind).to.equal(false);
    });

    it('skips a REC it does not decode, even a 1 MiB one, and still sees the SYNC after it', () => {
      const rec = encodeFrame({ type: MREC.REC, data: Buffer.alloc(1 << 20, 7),
        msg: { v: 1, objId: 5, recType: 3, key: 0n, createTid: 9n, payload: { v: 1, len: 1 << 20 } } });
      const sync = encodeFrame({ type: MREC.SYNC, msg: { v: 1, tid: 9n, count: 1 } });
      const r = watch([rec.subarray(0, 10), rec.subarray(10, 70_000), rec.subarray(70_000), sync]);
      expect(r.frames).to.deep.equal([{ type: MREC.REC }, { type: MREC.SYNC, msg: { v: 1, tid: 9n, count: 1 } }]);
    });

    it('goes blind at garbage or a damaged control frame, and never throws', () => {
      const r = watch([Buffer.from('not a mirror stream at all'), all]);
      expect(r.frames).to.deep.equal([]);
      expect(r.w.blind).to.equal(true);
      const sync = encodeFrame({ type: MREC.SYNC, msg: { v: 1, tid: 9n, count: 1 } });
      sync[sync.length - 1]! ^= 1;
      const d = watch([sync, all]);
      expect(d.frames).to.deep.equal([]);
      expect(d.w.blind).to.equal(true);
    });
  });
});
