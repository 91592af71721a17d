/**
 * The mirror stream's frames (docs/stream-format.md). Each frame:
 *
 *   u32 signature 0x48324d52 ("H2MR")   u32 crc32 of bytes 8..end
 *   u32 frame length (header included)  u16 type   u16 stream version (1)
 *   payload: msgpack; a REC or PATCH frame is u32 meta length | msgpack meta | raw data
 *
 * Every frame decodes on its own (no shared msgpack structures), so a stream
 * can be cut and resumed anywhere. The only importer of msgpackr in mirror/.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { Packr } from 'msgpackr';
import { crc32 } from '../checksum.js';
import { H2Error } from '../errors.js';
import type { Tid } from '../tid.js';

export const SIGNATURE = 0x48324d52;
export const HEADER_LEN = 16;
/** Largest frame accepted: a 64 KiB block plus metadata, with room to spare. */
export const MAX_FRAME = 16 * 1024 * 1024;
export const STREAM_VERSION = 1;

export const MREC = {
  HELLO: 1,
  TARGET: 2,
  BATCH: 3,
  REC: 4,
  DEL: 5,
  SYNC: 6,
  ACK: 7,
  TERM: 8,
  ERROR: 9,
  PATCH: 10,
} as const;
export type MrecType = (typeof MREC)[keyof typeof MREC];

export const MREC_NAME: Record<number, string> = {
  1: 'HELLO', 2: 'TARGET', 3: 'BATCH', 4: 'REC', 5: 'DEL', 6: 'SYNC', 7: 'ACK', 8: 'TERM', 9: 'ERROR', 10: 'PATCH',
};

/** Source -> target, first: who the source is. */
export interface HelloMsg {
  v: 1;
  version: number;
  sharedUuid: string;
  uniqueUuid: string;
  label: string;
  /** One-way streams: where the source starts (exclusive). */
  begTid: Tid;
  twoWay: boolean;
}

/** Target -> source (two-way): where the slave stands. */
export interface TargetMsg {
  v: 1;
  version: number;
  sharedUuid: string;
  uniqueUuid: string;
  syncEndTid: Tid;
  created: boolean;
  /** The target takes PATCH frames (absent from targets older than PATCH: never sent them). */
  patch?: boolean;
}

/** A batch covers the TIDs in (begTid, endTid]. */
export interface BatchMsg {
  v: 1;
  begTid: Tid;
  endTid: Tid;
  /** Bulk batches: the stream bytes expected, from a metadata-only scan (for total and ETA). */
  bytes?: number;
}

/** A record created at createTid (its delete arrives later as a DEL). */
export interface RecMsg {
  v: 1;
  objId: number;
  recType: number;
  key: bigint;
  createTid: Tid;
  payload: unknown;
}

/**
 * A DATA record sent as the bytes that differ from an older version of the
 * same block, created at `baseTid` <= the batch's begin TID (so the target
 * has it): the block is that version cut or zero-extended to `payload.len`,
 * with the frame's data written over it at `off`. Only to a two-way target
 * that said `patch` in its TARGET.
 */
export interface PatchMsg extends RecMsg {
  baseTid: Tid;
  off: number;
}

export interface DelMsg {
  v: 1;
  objId: number;
  recType: number;
  key: bigint;
  createTid: Tid;
  deleteTid: Tid;
}

/**
 * Everything up to and including `tid` has been sent: `count` REC/DEL frames
 * belong to `tid` (so a lost, duplicated or reordered record cannot pass).
 */
export interface SyncMsg {
  v: 1;
  tid: Tid;
  count: number;
}

/** Target -> source: everything up to `tid` is durable on the slave. */
export interface AckMsg {
  v: 1;
  tid: Tid;
}

export interface TermMsg {
  v: 1;
  endTid: Tid;
}

export interface ErrorMsg {
  v: 1;
  code: string;
  message: string;
}

export type Frame =
  | { type: typeof MREC.HELLO; msg: HelloMsg }
  | { type: typeof MREC.TARGET; msg: TargetMsg }
  | { type: typeof MREC.BATCH; msg: BatchMsg }
  | { type: typeof MREC.REC; msg: RecMsg; data: Buffer }
  | { type: typeof MREC.PATCH; msg: PatchMsg; data: Buffer }
  | { type: typeof MREC.DEL; msg: DelMsg }
  | { type: typeof MREC.SYNC; msg: SyncMsg }
  | { type: typeof MREC.ACK; msg: AckMsg }
  | { type: typeof MREC.TERM; msg: TermMsg }
  | { type: typeof MREC.ERROR; msg: ErrorMsg };

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** A frame's msgpack'd message and its whole length, ahead of writing it somewhere. */
export interface FrameLayout {
  /** Valid until the next frame is laid out (msgpackr reuses its buffer). */
  meta: Buffer;
  len: number;
}

export function frameLayout(f: Frame): FrameLayout {
  const meta = packr.pack(f.msg);
  const withData = f.type === MREC.REC || f.type === MREC.PATCH;
  const len = HEADER_LEN + (withData ? 4 + meta.length + f.data.length : meta.length);
  if (len > MAX_FRAME) throw new H2Error('H2_BAD_MRECORD', `frame of ${len} bytes exceeds the ${MAX_FRAME}-byte limit`);
  return { meta, len };
}

/** Writes the frame laid out as `l` at `off` in `buf`, which has room for l.len bytes. */
export function writeFrame(f: Frame, l: FrameLayout, buf: Buffer, off: number): void {
  buf.writeUInt32BE(SIGNATURE, off);
  buf.writeUInt32BE(l.len, off + 8);
  buf.writeUInt16BE(f.type, off + 12);
  buf.writeUInt16BE(STREAM_VERSION, off + 14);
  if (f.type === MREC.REC || f.type === MREC.PATCH) {
    buf.writeUInt32BE(l.meta.length, off + HEADER_LEN);
    l.meta.copy(buf, off + HEADER_LEN + 4);
    f.data.copy(buf, off + HEADER_LEN + 4 + l.meta.length);
  } else {
    l.meta.copy(buf, off + HEADER_LEN);
  }
  buf.writeUInt32BE(crc32(buf.subarray(off + 8, off + l.len)), off + 4);
}

/** Encodes one frame into a buffer of its own. */
export function encodeFrame(f: Frame): Buffer {
  const l = frameLayout(f);
  const buf = Buffer.allocUnsafe(l.len);
  writeFrame(f, l, buf, 0);
  return buf;
}

function bad(message: string): H2Error {
  return new H2Error('H2_BAD_MRECORD', `malformed frame: ${message}`);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x);
}

function tid(o: Record<string, unknown>, k: string): Tid {
  const v = o[k];
  if (typeof v === 'bigint' && v >= 0n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw bad(`field ${k} is not a TID`);
}

function int(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw bad(`field ${k} is not an integer`);
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw bad(`field ${k} is not a string`);
  return v;
}

function unpack(b: Buffer, what: string): Record<string, unknown> {
  let o: unknown;
  try {
    o = packr.unpack(b);
  } catch (e) {
    throw bad(`${what} payload does not decode (${(e as Error).message})`);
  }
  if (!isObj(o) || o.v !== 1) throw bad(`${what} payload is not a v1 message`);
  return o;
}

/**
 * Decodes one whole frame (signature, length and CRC already checked). A
 * record's data is a copy, unless `dataView`: then it is a view of
 * `payload`, for callers whose input buffers are never written again.
 */
export function decodeFrameBody(type: number, payload: Buffer, dataView = false): Frame {
  const name = MREC_NAME[type];
  if (!name) throw bad(`unknown frame type ${type}`);
  if (type === MREC.REC || type === MREC.PATCH) {
    if (payload.length < 4) throw bad(`${name} frame too short`);
    const metaLen = payload.readUInt32BE(0);
    if (4 + metaLen > payload.length) throw bad(`${name} meta length exceeds the frame`);
    const o = unpack(payload.subarray(4, 4 + metaLen), name);
    const key = o.key;
    if (typeof key !== 'bigint' && typeof key !== 'number') throw bad(`${name} key is not an integer`);
    const data = dataView ? payload.subarray(4 + metaLen) : Buffer.from(payload.subarray(4 + metaLen));
    const msg: RecMsg = { v: 1, objId: int(o, 'objId'), recType: int(o, 'recType'), key: BigInt(key),
      createTid: tid(o, 'createTid'), payload: o.payload };
    if (type === MREC.REC) return { type, data, msg };
    return { type, data, msg: { ...msg, baseTid: tid(o, 'baseTid'), off: int(o, 'off') } };
  }
  const o = unpack(payload, name);
  switch (type) {
    case MREC.HELLO:
      return { type, msg: { v: 1, version: int(o, 'version'), sharedUuid: str(o, 'sharedUuid'), uniqueUuid: str(o, 'uniqueUuid'),
        label: str(o, 'label'), begTid: tid(o, 'begTid'), twoWay: o.twoWay === true } };
    case MREC.TARGET:
      return { type, msg: { v: 1, version: int(o, 'version'), sharedUuid: str(o, 'sharedUuid'), uniqueUuid: str(o, 'uniqueUuid'),
        syncEndTid: tid(o, 'syncEndTid'), created: o.created === true, ...(o.patch === true ? { patch: true } : {}) } };
    case MREC.BATCH:
      return { type, msg: { v: 1, begTid: tid(o, 'begTid'), endTid: tid(o, 'endTid'),
        ...(o.bytes !== undefined ? { bytes: int(o, 'bytes') } : {}) } };
    case MREC.DEL: {
      const key = o.key;
      if (typeof key !== 'bigint' && typeof key !== 'number') throw bad('DEL key is not an integer');
      return { type, msg: { v: 1, objId: int(o, 'objId'), recType: int(o, 'recType'), key: BigInt(key),
        createTid: tid(o, 'createTid'), deleteTid: tid(o, 'deleteTid') } };
    }
    case MREC.SYNC:
      return { type, msg: { v: 1, tid: tid(o, 'tid'), count: int(o, 'count') } };
    case MREC.ACK:
      return { type, msg: { v: 1, tid: tid(o, 'tid') } };
    case MREC.TERM:
      return { type, msg: { v: 1, endTid: tid(o, 'endTid') } };
    default:
      return { type: MREC.ERROR, msg: { v: 1, code: str(o, 'code'), message: str(o, 'message') } };
  }
}

/**
 * Bytes in, frames out. Refuses a bad signature, an illegal length or a bad
 * CRC with a precise error; `end` in the middle of a frame is an error too.
 */
export class FrameDecoder extends Transform {
  /** Bytes taken in and not yet part of a frame handed on. */
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes taken in so far (for progress and the wire total). */
  bytesIn = 0;
  private offset = 0;

  /**
   * `inputOwned`: each chunk written in is a buffer of its own that nobody
   * writes again (a socket's reads), so records' data can be views of it.
   */
  constructor(private readonly inputOwned = false) {
    super({ readableObjectMode: true });
  }

  /**
   * The next `n` bytes (all buffered): a view when they lie in one chunk, else
   * a copy of just those bytes; what follows them stays where it was.
   */
  private takeFrame(n: number): Buffer {
    const first = this.chunks[0]!;
    this.have -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.length, n - at);
      c.copy(out, at, 0, take);
      at += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    return out;
  }

  /** The first chunk, joined with the next ones when it is shorter than a header. */
  private peekHeader(): Buffer {
    if (this.chunks[0]!.length < HEADER_LEN) {
      let k = 0;
      let got = 0;
      while (got < HEADER_LEN) got += this.chunks[k++]!.length;
      this.chunks.splice(0, k, Buffer.concat(this.chunks.slice(0, k), got));
    }
    return this.chunks[0]!;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytesIn += chunk.length;
    this.chunks.push(chunk);
    this.have += chunk.length;
    try {
      while (this.have >= HEADER_LEN) {
        const head = this.peekHeader();
        const sig = head.readUInt32BE(0);
        if (sig !== SIGNATURE) throw bad(`bad signature 0x${sig.toString(16).padStart(8, '0')} at byte ${this.offset}`);
        const len = head.readUInt32BE(8);
        if (len < HEADER_LEN || len > MAX_FRAME) throw bad(`illegal frame length ${len} at byte ${this.offset}`);
        if (this.have < len) break;
        const frame = this.takeFrame(len);
        const want = frame.readUInt32BE(4);
        const got = crc32(frame.subarray(8));
        if (want !== got) throw bad(`bad crc at byte ${this.offset} (${MREC_NAME[frame.readUInt16BE(12)] ?? 'unknown'} frame)`);
        const version = frame.readUInt16BE(14);
        if (version !== STREAM_VERSION) {
          throw new H2Error('H2_VERSION', `version mismatch: the stream is v${version}, this h2fs reads v${STREAM_VERSION}`);
        }
        this.push(decodeFrameBody(frame.readUInt16BE(12), frame.subarray(HEADER_LEN), this.inputOwned));
        this.offset += len;
      }
    } catch (e) {
      cb(e as Error);
      return;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.have > 0) cb(bad(`stream ends inside a frame (${this.have} bytes left at byte ${this.offset})`));
    else cb();
  }
}

/** Frames in, bytes out. */
export class FrameEncoder extends Transform {
  bytesOut = 0;

  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(f: Frame, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      const b = encodeFrame(f);
      this.bytesOut += b.length;
      cb(null, b);
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** What a watcher sees of a frame: records only by type, everything else whole. */
export type WatchedFrame = Exclude<Frame, { type: typeof MREC.REC | typeof MREC.PATCH | typeof MREC.DEL }>
  | { type: typeof MREC.REC | typeof MREC.PATCH | typeof MREC.DEL };

/**
 * Follows frame boundaries in a byte stream for someone who only watches
 * (the relay between two endpoints): REC, PATCH and DEL frames are skipped over
 * without being copied, checked or decoded, since the receiving side does
 * all of that; the few control frames are decoded in full. Stops watching
 * (`blind`) at the first thing it cannot follow; it never alters the bytes.
 */
export class FrameWatcher {
  private head = Buffer.alloc(0);
  /** Bytes of the current REC/DEL frame still to skip. */
  private skip = 0;
  /** A control frame being assembled. */
  private body: Buffer[] = [];
  private bodyHave = 0;
  private bodyLen = 0;
  blind = false;

  constructor(private readonly onFrame: (f: WatchedFrame) => void) {}

  write(chunk: Buffer): void {
    let off = 0;
    try {
      while (!this.blind && off < chunk.length) {
        if (this.skip > 0) {
          const n = Math.min(this.skip, chunk.length - off);
          this.skip -= n;
          off += n;
          continue;
        }
        if (this.bodyLen > 0) {
          const n = Math.min(this.bodyLen - this.bodyHave, chunk.length - off);
          this.body.push(chunk.subarray(off, off + n));
          this.bodyHave += n;
          off += n;
          if (this.bodyHave === this.bodyLen) {
            const frame = Buffer.concat(this.body, this.bodyLen);
            this.body = [];
            this.bodyHave = 0;
            this.bodyLen = 0;
            if (frame.readUInt32BE(4) !== crc32(frame.subarray(8))) throw bad('bad crc');
            this.onFrame(decodeFrameBody(frame.readUInt16BE(12), frame.subarray(HEADER_LEN)) as WatchedFrame);
          }
          continue;
        }
        const n = Math.min(HEADER_LEN - this.head.length, chunk.length - off);
        this.head = Buffer.concat([this.head, chunk.subarray(off, off + n)]);
        off += n;
        if (this.head.length < HEADER_LEN) break;
        const head = this.head;
        this.head = Buffer.alloc(0);
        const len = head.readUInt32BE(8);
        const type = head.readUInt16BE(12);
        if (head.readUInt32BE(0) !== SIGNATURE || len < HEADER_LEN || len > MAX_FRAME) throw bad('lost the frame boundaries');
        if (type === MREC.REC || type === MREC.PATCH || type === MREC.DEL) {
          this.skip = len - HEADER_LEN;
          this.onFrame({ type });
        } else if (len === HEADER_LEN) {
          throw bad('empty control frame');
        } else {
          this.body = [head];
          this.bodyHave = HEADER_LEN;
          this.bodyLen = len;
        }
      }
    } catch {
      this.blind = true;
    }
  }
}
