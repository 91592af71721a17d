/**
 * Integration helpers: run the real h2fs binary, make stores, mount them for
 * real, and always clean up (unmount, kill the daemon) even when a test fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { removeTmpDirs, tmpDir } from './tmp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/src/bin/h2fs.js, next to dist/test/helpers. */
export const H2FS_BIN = path.resolve(here, '../../src/bin/h2fs.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs h2fs with `args`; never throws on a non-zero exit. */
export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function h2fs(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [H2FS_BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that refuses its input early closes stdin under us: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like h2fs(), but fails the test unless the exit status is 0. */
export async function h2fsOk(args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await h2fs(args, opts);
  if (r.code !== 0) throw new Error(`h2fs ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Whether this machine can mount FUSE; the reason when it cannot. */
export function fuseUnavailable(): string | undefined {
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing';
  if (process.getuid?.() !== 0) return 'integration tests mount FUSE as root';
  const libs = ['/usr/lib/x86_64-linux-gnu/libfuse.so.2', '/lib/x86_64-linux-gnu/libfuse.so.2', '/usr/lib/libfuse.so.2'];
  if (!libs.some((l) => fs.existsSync(l))) return 'libfuse.so.2 is missing (apt-get install libfuse2)';
  return undefined;
}

/**
 * In CI (or with H2FS_REQUIRE_INTEGRATION=1) a missing prerequisite fails the
 * suite loudly; elsewhere the suite is skipped with the reason printed.
 */
export function requireFuse(ctx: Mocha.Context, extra?: () => string | undefined): void {
  const why = fuseUnavailable() ?? extra?.();
  if (!why) return;
  if (process.env.CI || process.env.H2FS_REQUIRE_INTEGRATION) throw new Error(`FUSE integration test cannot run: ${why}`);
  console.warn(`    (skipped: ${why})`);
  ctx.skip();
}

export interface Mounted {
  store: string;
  mnt: string;
}

const live = new Set<Mounted>();

export function daemonPidOf(store: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(store, 'h2fs.pid'), 'utf8'));
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isMounted(mnt: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mnt);
}

/** A new store (newfs) and a mount point, both in a fresh temp directory. */
export async function newStore(): Promise<Mounted> {
  const base = tmpDir('h2fs-it-');
  const m = { store: path.join(base, 'store'), mnt: path.join(base, 'mnt') };
  fs.mkdirSync(m.mnt);
  await h2fsOk(['newfs', m.store]);
  return m;
}

export async function mount(m: Mounted, opts: string[] = [], env?: NodeJS.ProcessEnv): Promise<void> {
  await h2fsOk(['mount', m.store, m.mnt, ...opts], env ? { env } : {});
  live.add(m);
}

export async function umount(m: Mounted): Promise<void> {
  await h2fsOk(['umount', m.mnt]);
  live.delete(m);
}

/**
 * For a describe() that works on one mounted store: registers its before
 * (skip without FUSE, newfs, mount) and after (unmount, remove temp dirs)
 * hooks. The returned object is filled in by the before hook.
 */
export function useMountedStore(mountOpts: string[] = []): Mounted {
  const m: Mounted = { store: '', mnt: '' };
  before(async function () {
    requireFuse(this);
    Object.assign(m, await newStore());
    await mount(m, mountOpts);
  });
  after(() => {
    cleanupMounts();
    removeTmpDirs();
  });
  return m;
}

/** kill -9 of the mount daemon, as a crash would. */
export function killDaemon(m: Mounted): void {
  const pid = daemonPidOf(m.store);
  if (pid === undefined) throw new Error('no daemon pid');
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    execFileSync('sleep', ['0.05']);
  }
}

/** Tears down whatever a test left: kill daemons, detach mounts. */
export function cleanupMounts(): void {
  for (const m of live) {
    const pid = daemonPidOf(m.store);
    if (pid !== undefined) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (isMounted(m.mnt)) {
      try { execFileSync('umount', ['-l', m.mnt], { stdio: 'ignore' }); } catch { /* best effort */ }
    }
  }
  live.clear();
}

/** `tar cf - -C dir . | md5sum`, the user's check. */
export function tarMd5(dir: string): string {
  return execFileSync('bash', ['-c', 'set -o pipefail; tar cf - -C "$1" . | md5sum', 'tarmd5', dir], { encoding: 'utf8' })
    .split(' ')[0]!;
}

export function sh(script: string, opts: { cwd?: string } = {}): string {
  return execFileSync('bash', ['-c', script], { encoding: 'utf8', cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
}

/** RssAnon and RssFile of a process, in KiB. */
export function rssOf(pid: number): { anonKiB: number; fileKiB: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { anonKiB: get('RssAnon'), fileKiB: get('RssFile') };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Sends `signal` and resolves with the exit code once the child is gone. A
 * child that already exited (a copy that finished before the test killed it)
 * resolves at once: its 'exit' event is not emitted again.
 */
export function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const gone = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  return gone;
}

/** The TID a slave's PFS link points at (`@@0x<tid>:0000N`), as text. */
export function linkTid(link: string): string {
  const m = /^@@(0x[0-9a-f]{16}):\d{5}$/.exec(fs.readlinkSync(link));
  if (!m) throw new Error(`${link} is not a slave link: ${fs.readlinkSync(link)}`);
  return m[1]!;
}

/**
 * The directory a slave link points at right now, resolved once: the mount's
 * `@@0x<tid>:0000N`. (`cd -P link` twice could land on two different TIDs
 * while the slave advances.)
 */
export function linkTarget(link: string): string {
  return path.join(path.dirname(link), fs.readlinkSync(link));
}
