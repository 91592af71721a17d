/**
 * Direct request handlers for the hot FUSE ops. fuse-native's generic
 * handler spreads each request's arguments into fresh arrays, binds a
 * signal closure, allocates a Uint32Array per stat and defers every answer
 * with process.nextTick (so Node runs its tick queue after each request).
 * These handlers take the native arguments as they come, answer through the
 * addon's signal function before returning, and fill one stat array that the
 * addon copies out at once. Ops not listed here keep fuse-native's path.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Attr, Vfs } from '../vfs/index.js';
import { loadFuseNative } from './binding.js';
import { toErrno } from './errno.js';

/** The locals buffer the addon passes first and takes back in its signal. */
type Locals = object;
type Signal = (l: Locals, code: number, ...rest: unknown[]) => void;
export type Handler = (l: Locals, op: number, ...args: never[]) => void;

interface Binding {
  [name: string]: unknown;
}

const require = createRequire(import.meta.url);

/**
 * The addon fuse-native loaded (node-gyp-build caches it by path, so this is
 * the same instance). loadFuseNative() first: it points node-gyp-build at the
 * patched addon, else this would load upstream's, whose signals answer nothing
 * the patched one waits for.
 */
function fuseBinding(): Binding {
  loadFuseNative();
  const dir = path.dirname(require.resolve('fuse-native/package.json'));
  const load = createRequire(path.join(dir, 'index.js'))('node-gyp-build') as (d: string) => Binding;
  return load(dir);
}

const ERANGE = -34;

/** fuse-native's stat layout: 18 uint32s, 64-bit fields as low/high pairs, times in ms. */
const stat = new Uint32Array(18);
function put64(i: number, v: number): void {
  const lo = v % 4294967296;
  stat[i] = lo;
  stat[i + 1] = (v - lo) / 4294967296;
}
function fillStat(a: Attr): Uint32Array {
  stat[0] = a.mode;
  stat[1] = a.uid;
  stat[2] = a.gid;
  put64(3, a.size);
  stat[5] = 0;
  stat[6] = a.nlink;
  stat[7] = a.ino;
  stat[8] = a.rdev;
  stat[9] = a.blksize;
  put64(10, a.blocks);
  put64(12, a.atime);
  put64(14, a.mtime);
  put64(16, a.ctime);
  return stat;
}

function u64(lo: number, hi: number): number {
  return lo + hi * 4294967296;
}

/**
 * Handlers by op number, for fuse-native's handler array. Each answers
 * synchronously except fsync (the addon answers FSYNC itself when the
 * promise settles).
 */
export function directHandlers(vfs: Vfs): Map<string, { op: number; fn: Handler }> {
  const b = fuseBinding();
  const sig = (name: string): Signal => b[`fuse_native_signal_${name}`] as Signal;
  const out = new Map<string, { op: number; fn: Handler }>();
  const add = (name: string, fn: Handler): void => {
    out.set(name, { op: b[`op_${name}`] as number, fn });
  };

  /** Ops whose only answer is 0 or -errno (fixed arity: no array per request). */
  type VoidRun = (a: never, b: never, c: never, d: never, e: never) => void;
  const voidOp = (name: string, run: VoidRun): void => {
    const s = sig(name);
    add(name, ((l: Locals, _op: number, a: never, b: never, c: never, d: never, e: never) => {
      let code = 0;
      try {
        run(a, b, c, d, e);
      } catch (err) {
        code = toErrno(err);
      }
      s(l, code);
    }) as Handler);
  };

  /**
   * Ops answered with one value: attributes (the stat array goes back even
   * with an error, the addon reads it either way) or a new file handle.
   */
  const valueOp = <T>(name: string, run: (p: string, arg: number) => T, encode: (v: T) => unknown,
    onError: unknown): void => {
    const s = sig(name);
    add(name, ((l: Locals, _op: number, p: string, arg: number) => {
      let v: T;
      try {
        v = run(p, arg);
      } catch (e) {
        s(l, toErrno(e), onError);
        return;
      }
      s(l, 0, encode(v));
    }) as Handler);
  };
  valueOp('getattr', (p) => vfs.getattr(p), fillStat, stat);
  // fuse-native resolves fgetattr by path; the handle is what the caller holds.
  valueOp('fgetattr', (p, fh) => (fh !== 0 ? vfs.fgetattr(fh) : vfs.getattr(p)), fillStat, stat);
  const handle = (fh: number): number => fh;
  valueOp('open', (p, flags) => vfs.open(p, flags), handle, 0);
  valueOp('create', (p, mode) => vfs.create(p, mode), handle, 0);

  /** read/write: answered with a byte count; the addon detaches the request buffer's ArrayBuffer. */
  const ioOp = (name: string, run: (fh: number, buf: Buffer, len: number, pos: number) => number): void => {
    const s = sig(name);
    add(name, ((l: Locals, _op: number, _p: string, fh: number, buf: Buffer, len: number, lo: number, hi: number) => {
      let n: number;
      try {
        n = run(fh, buf, len, u64(lo, hi));
      } catch (e) {
        n = toErrno(e);
      }
      s(l, n, 0, buf.buffer);
    }) as Handler);
  };
  ioOp('read', (fh, buf, len, pos) => vfs.read(fh, buf, len, pos));
  ioOp('write', (fh, buf, len, pos) => vfs.write(fh, buf, len, pos));

  // getxattr needs the caller's buffer size to answer ERANGE (size 0: "how big?").
  const sGetxattr = sig('getxattr');
  add('getxattr', ((l: Locals, _op: number, p: string, name: string, valueBuf: Buffer) => {
    let value: Buffer;
    try {
      value = vfs.getxattr(p, name);
    } catch (e) {
      sGetxattr(l, toErrno(e), valueBuf.buffer);
      return;
    }
    if (valueBuf.length === 0) return sGetxattr(l, value.length, valueBuf.buffer);
    if (value.length > valueBuf.length) return sGetxattr(l, ERANGE, valueBuf.buffer);
    value.copy(valueBuf);
    sGetxattr(l, value.length, valueBuf.buffer);
  }) as Handler);

  voidOp('release', ((_p: string, fh: number) => vfs.release(fh)) as VoidRun);
  voidOp('unlink', ((p: string) => vfs.unlink(p)) as VoidRun);
  voidOp('mkdir', ((p: string, mode: number) => { vfs.mkdir(p, mode); }) as VoidRun);
  voidOp('rmdir', ((p: string) => vfs.rmdir(p)) as VoidRun);
  voidOp('rename', ((src: string, dst: string) => vfs.rename(src, dst)) as VoidRun);
  voidOp('chmod', ((p: string, mode: number) => vfs.chmod(p, mode)) as VoidRun);
  voidOp('chown', ((p: string, uid: number, gid: number) => vfs.chown(p, uid, gid)) as VoidRun);
  voidOp('truncate', ((p: string, lo: number, hi: number) => vfs.truncate(p, u64(lo, hi))) as VoidRun);
  voidOp('ftruncate', ((_p: string, fh: number, lo: number, hi: number) =>
    vfs.ftruncate(fh, u64(lo, hi))) as VoidRun);
  voidOp('utimens', ((p: string, alo: number, ahi: number, mlo: number, mhi: number) =>
    vfs.utimens(p, u64(alo, ahi), u64(mlo, mhi))) as VoidRun);
  return out;
}
