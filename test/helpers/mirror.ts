/**
 * Helpers for mirror-session tests: in-memory links between a MirrorReader
 * and a MirrorWriter, streams captured as bytes, frame surgery, and tree
 * snapshots through the VFS (what `tar cf - . | md5sum` would see).
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { H2Error } from '../../src/errors.js';
import { FrameChannel } from '../../src/mirror/channel.js';
import { FrameDecoder, HEADER_LEN, MREC, type Frame } from '../../src/mirror/frame.js';
import { MirrorReader, type ReaderResult } from '../../src/mirror/reader.js';
import { MirrorWriter, type WriterResult } from '../../src/mirror/writer.js';
import type { Store } from '../../src/store/index.js';
import { formatTid, type Tid } from '../../src/tid.js';
import type { Vfs } from '../../src/vfs/index.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_RDONLY = 0;
const O_WRONLY = 1;

// ---- files through the VFS ------------------------------------------------------

/** Creates or replaces a file's contents. */
export function writeFile(vfs: Vfs, path: string, data: Buffer | string, mode = 0o644): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let fh: number;
  try {
    vfs.truncate(path, 0);
    fh = vfs.open(path, O_WRONLY);
  } catch (e) {
    if (!(e instanceof H2Error) || e.code !== 'ENOENT') throw e;
    fh = vfs.create(path, mode);
  }
  try {
    if (buf.length) vfs.write(fh, buf, buf.length, 0);
  } finally {
    vfs.release(fh);
  }
}

export function readFile(vfs: Vfs, path: string): Buffer {
  const size = vfs.getattr(path).size;
  const fh = vfs.open(path, O_RDONLY);
  try {
    const buf = Buffer.alloc(size);
    const n = vfs.read(fh, buf, size, 0);
    if (n !== size) throw new Error(`short read of ${path}: ${n} of ${size}`);
    return buf;
  } finally {
    vfs.release(fh);
  }
}

/** Bytes 0..n-1 of a fixed pattern (a different one per seed). */
export function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17 + (i >> 9)) & 0xff;
  return b;
}

/**
 * Everything a tree shows, one line per object in readdir order plus one line
 * per directory listing: ino, type and mode, uid/gid, nlink, size, rdev, the
 * three times, xattrs, a digest of the bytes or the link target.
 */
export function tree(vfs: Vfs, root: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string): void => {
    const a = vfs.getattr(p);
    const t = a.mode & S_IFMT;
    const xs = vfs.listxattr(p).map((n) => `${n}=${vfs.getxattr(p, n).toString('hex')}`).join(',');
    const body = t === S_IFREG ? 'sha256:' + createHash('sha256').update(readFile(vfs, p)).digest('hex').slice(0, 24)
      : t === S_IFLNK ? '-> ' + vfs.readlink(p) : '';
    out.push(`${rel || '/'} ino=${a.ino} mode=${a.mode.toString(8)} uid=${a.uid} gid=${a.gid} nlink=${a.nlink} ` +
      `size=${a.size} rdev=${a.rdev} atime=${a.atime} mtime=${a.mtime} ctime=${a.ctime} [${xs}] ${body}`);
    if (t === S_IFDIR) {
      const names = vfs.readdir(p);
      out.push(`${rel || '/'} readdir ${names.join(' | ')}`);
      for (const n of names) if (n !== '.' && n !== '..') walk(`${p}/${n}`, `${rel}/${n}`);
    }
  };
  walk(root, '');
  return out;
}

/** The root of PFS `pfs` as of `tid` (undefined: `@@-1`, the head). */
export function pfsPath(pfs: number, tid?: Tid): string {
  return `/@@${tid === undefined ? '-1' : formatTid(tid)}:${String(pfs).padStart(5, '0')}`;
}

// ---- links and sessions -------------------------------------------------------------

/** Two crossed in-memory pipes: reader -> writer and writer -> reader, with the forward bytes captured. */
export interface Link {
  reader: FrameChannel;
  writer: FrameChannel;
  /** Everything the reader sent, as written. */
  forward: () => Buffer;
  close: () => void;
}

export function link(): Link {
  const toWriter = new PassThrough();
  const toReader = new PassThrough();
  const captured: Buffer[] = [];
  toWriter.on('data', (c: Buffer) => captured.push(c));
  return {
    reader: new FrameChannel(toReader, toWriter),
    writer: new FrameChannel(toWriter, toReader),
    forward: () => Buffer.concat(captured),
    close: () => {
      toWriter.end();
      toReader.end();
    },
  };
}

export interface SessionResult {
  reader: PromiseSettledResult<ReaderResult>;
  writer: PromiseSettledResult<WriterResult>;
  /** The frames the reader sent. */
  frames: Frame[];
}

/** A two-way session between PFS `srcPfs` of `src` and PFS `dstPfs` of `dst`, run concurrently. */
export async function twoWaySession(src: Store, srcPfs: number, dst: Store, dstPfs: number,
  opts: { maxBufferBytes?: number } = {}): Promise<SessionResult> {
  const l = link();
  const reader = new MirrorReader({ store: src, pfs: srcPfs, channel: l.reader, twoWay: true, chunk: 7 }).run();
  const writer = new MirrorWriter({ store: dst, channel: l.writer, twoWay: true,
    resolveTarget: async () => ({ pfs: dstPfs, created: false }), ...opts }).run();
  const [r, w] = await Promise.allSettled([reader, writer]);
  l.close();
  return { reader: r, writer: w, frames: await decodeAll(l.forward()) };
}

/** A one-way stream of PFS `pfs` (begTid: where it starts, exclusive), captured as bytes. */
export async function oneWayStream(src: Store, pfs: number, begTid?: Tid): Promise<{ bytes: Buffer; result: ReaderResult }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await new MirrorReader({ store: src, pfs, channel: new FrameChannel(null, out), twoWay: false,
    chunk: 5, ...(begTid === undefined ? {} : { begTid }) }).run();
  out.end();
  return { bytes: Buffer.concat(chunks), result };
}

/**
 * Runs a one-way MirrorWriter on `bytes` (fed in `chunk`-byte pieces across
 * event-loop turns, as a pipe would deliver them) into PFS `pfs` of `dst`.
 */
export async function applyOneWay(dst: Store, pfs: number, bytes: Buffer, chunk = 997, maxBufferBytes?: number):
  Promise<{ ok: true; result: WriterResult } | { ok: false; error: unknown }> {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let i = 0; i < bytes.length; i += chunk) {
      yield bytes.subarray(i, i + chunk);
      await new Promise((r) => setImmediate(r));
    }
  }
  const input = Readable.from(pieces(), { objectMode: false });
  const writer = new MirrorWriter({ store: dst, channel: new FrameChannel(input, null), twoWay: false,
    resolveTarget: async () => ({ pfs, created: false }), ...(maxBufferBytes !== undefined ? { maxBufferBytes } : {}) });
  try {
    return { ok: true, result: await writer.run() };
  } catch (error) {
    input.destroy();
    return { ok: false, error };
  }
}

// ---- frames as bytes ---------------------------------------------------------------

export function decodeAll(bytes: Buffer): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const d = new FrameDecoder();
    const out: Frame[] = [];
    d.on('data', (f: Frame) => out.push(f));
    d.on('error', reject);
    d.on('end', () => resolve(out));
    d.end(bytes);
  });
}

/** Splits a well-formed stream into its frames' bytes (by the length field). */
export function splitFrames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < bytes.length;) {
    const len = bytes.readUInt32BE(off + 8);
    if (len < HEADER_LEN) throw new Error(`bad length at ${off}`);
    out.push(bytes.subarray(off, off + len));
    off += len;
  }
  return out;
}

export function frameType(frame: Buffer): number {
  return frame.readUInt16BE(12);
}

/** The TID a frame is about, for REC/DEL/SYNC (undefined for the others). */
export function frameTid(f: Frame): Tid | undefined {
  if (f.type === MREC.REC || f.type === MREC.PATCH) return f.msg.createTid;
  if (f.type === MREC.DEL) return f.msg.deleteTid;
  if (f.type === MREC.SYNC) return f.msg.tid;
  return undefined;
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The error a promise rejected with (fails if it resolved). */
export async function rejection(p: Promise<unknown>): Promise<H2Error> {
  try {
    await p;
  } catch (e) {
    if (e instanceof H2Error) return e;
    throw new Error(`expected an H2Error, got ${String(e)}`);
  }
  throw new Error('expected a rejection');
}

/** The mirrorable changes of PFS `pfs` after `after` (create and delete events), as the source would send them. */
export function eventsAfter(store: Store, pfs: number, after: Tid, upTo: Tid = 0xffffffffffffffffn): number {
  let n = 0;
  let cursor: Buffer | null = null;
  const txn = store.beginRead();
  try {
    do {
      const r = store.scanEvents(pfs, after, upTo, cursor, 1000, txn);
      n += r.events.length;
      cursor = r.cursor;
    } while (cursor !== null);
  } finally {
    txn.done();
  }
  return n;
}
