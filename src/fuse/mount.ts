/**
 * The FUSE adapter: translation only. Each op calls the VFS and maps a thrown
 * error through toErrno(). The only importer of 'fuse-native'.
 */
import type FuseClass from 'fuse-native';
import type { StatFs, Vfs } from '../vfs/index.js';
import { loadFuseNative } from './binding.js';
import { directHandlers, type Handler } from './dispatch.js';
import { toErrno } from './errno.js';

export interface FuseMountOptions {
  fsname: string;
  allowOther?: boolean;
  readOnly?: boolean;
  debug?: boolean;
  /** Microseconds the addon keeps reading an empty device before it sleeps (0: never). */
  spinUs?: number;
}

type Done = (code: number, ...rest: unknown[]) => void;

type H2Fuse = FuseClass & { extraOptions: string[] };

/**
 * fuse-native builds its `-o` string from a fixed list. We append use_ino (so
 * st_ino is the obj_id and hardlinks look like hardlinks), big_writes and
 * max_write (else libfuse2 delivers writes 4 KiB at a time).
 */
function fuseClass(): new (...args: ConstructorParameters<typeof FuseClass>) => H2Fuse {
  const Fuse = loadFuseNative();
  return class extends Fuse {
    extraOptions: string[] = [];

    protected override _fuseOptions(): string {
      const base = super._fuseOptions();
      const extra = this.extraOptions.join(',');
      if (!extra) return base;
      return base ? `${base},${extra}` : `-o${extra}`;
    }
  };
}

function guard(done: Done, fn: () => unknown): void {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    done(toErrno(e));
    return;
  }
  done(0, r);
}

/**
 * The ops answered through fuse-native's own handlers: the ones a workload
 * rarely sends many of. The hot ones are in dispatch.ts. There is no flush:
 * nothing happens at close(), and once libfuse has answered ENOSYS the
 * kernel stops sending FLUSH (one round trip less per close).
 */
function buildOps(vfs: Vfs): Record<string, (...args: never[]) => void> {
  const ops = {
    readdir: (p: string, cb: Done) => guard(cb, () => vfs.readdir(p)),
    readlink: (p: string, cb: Done) => guard(cb, () => vfs.readlink(p)),
    mknod: (p: string, mode: number, dev: number, cb: Done) => guard(cb, () => { vfs.mknod(p, mode, dev); }),
    link: (src: string, dst: string, cb: Done) => guard(cb, () => { vfs.link(src, dst); }),
    symlink: (target: string, p: string, cb: Done) => guard(cb, () => { vfs.symlink(target, p); }),
    statfs: (_p: string, cb: Done) => guard(cb, (): StatFs => vfs.statfs()),
    fsync: (_p: string, _datasync: number, _fd: number, cb: Done) => {
      vfs.sync().then(() => cb(0), (e: unknown) => cb(toErrno(e)));
    },
    fsyncdir: (_p: string, _datasync: number, _fd: number, cb: Done) => {
      vfs.sync().then(() => cb(0), (e: unknown) => cb(toErrno(e)));
    },
    setxattr: (p: string, name: string, value: Buffer, _pos: number, flags: number, cb: Done) =>
      guard(cb, () => vfs.setxattr(p, name, value, flags)),
    listxattr: (p: string, cb: Done) => guard(cb, () => vfs.listxattr(p)),
    removexattr: (p: string, name: string, cb: Done) => guard(cb, () => vfs.removexattr(p, name)),
  };
  if (!process.env.H2FS_OPSTATS) return ops as unknown as Record<string, (...args: never[]) => void>;
  const stats = opStats();
  const out: Record<string, OpFn> = {};
  for (const [name, fn] of Object.entries(ops as unknown as Record<string, OpFn>)) out[name] = stats(name, fn);
  return out as unknown as Record<string, (...args: never[]) => void>;
}

type OpFn = (...args: unknown[]) => void;

let opStatsWrap: ((name: string, fn: OpFn) => OpFn) | undefined;

/**
 * H2FS_OPSTATS=1: counts each op and the time its JS handler takes, written
 * to the log on SIGUSR2 and at exit. For benchmarks: the gap between a
 * benchmark's wall time and the JS time is the kernel/libfuse/thread-hop cost.
 */
function opStats(): (name: string, fn: OpFn) => OpFn {
  if (opStatsWrap) return opStatsWrap;
  const stats = new Map<string, { n: number; ns: bigint }>();
  const report = (): void => {
    const rows = [...stats].sort((a, b) => b[1].n - a[1].n)
      .map(([name, st]) => `${name}=${st.n} (${(Number(st.ns / BigInt(Math.max(1, st.n))) / 1000).toFixed(1)} us)`);
    process.stderr.write(`h2fs: op stats: ${rows.join(' ')}\n`);
  };
  process.on('SIGUSR2', () => { report(); stats.clear(); });
  process.on('exit', report);
  opStatsWrap = (name: string, fn: OpFn): OpFn => (...args: unknown[]): void => {
    const t0 = process.hrtime.bigint();
    fn(...args);
    const st = stats.get(name) ?? { n: 0, ns: 0n };
    st.n++;
    st.ns += process.hrtime.bigint() - t0;
    stats.set(name, st);
  };
  return opStatsWrap;
}

/**
 * Puts the direct handlers (dispatch.ts) in fuse-native's handler array
 * before mount() hands it to the addon.
 */
function installDirectHandlers(fuse: H2Fuse, direct: Map<string, { op: number; fn: Handler }>): void {
  const handlers = (fuse as unknown as { _handlers: unknown[] })._handlers;
  const stats = process.env.H2FS_OPSTATS ? opStats() : undefined;
  for (const [name, { op, fn }] of direct) {
    handlers[op] = stats ? stats(name, fn as unknown as OpFn) : fn;
  }
}

export interface FuseHandle {
  mountpoint: string;
}

/** Mounts `vfs` at `mountpoint`; resolves once the kernel has sent INIT. */
export function mountFuse(vfs: Vfs, mountpoint: string, opts: FuseMountOptions): Promise<FuseHandle> {
  const ops = buildOps(vfs);
  const direct = directHandlers(vfs);
  // fuse-native tells libfuse which ops exist from the keys of `ops`; dispatch.ts answers these.
  for (const name of direct.keys()) (ops as Record<string, unknown>)[name] = () => undefined;
  const Cls = fuseClass();
  const fuse = new Cls(mountpoint, ops, {
    fsname: opts.fsname,
    subtype: 'h2fs',
    allowOther: opts.allowOther ?? false,
    defaultPermissions: opts.allowOther ?? false,
    debug: opts.debug ?? false,
    timeout: false,
  });
  const extra = ['use_ino', 'big_writes', 'max_write=131072', 'max_read=131072'];
  if (opts.readOnly) extra.push('ro');
  fuse.extraOptions = extra;
  installDirectHandlers(fuse, direct);
  // The addon reads this when it starts polling the device.
  if (opts.spinUs !== undefined) process.env.FUSE_NATIVE_SPIN_US = String(opts.spinUs);
  return new Promise((resolve, reject) => {
    fuse.mount((err) => (err ? reject(err) : resolve({ mountpoint })));
  });
}
