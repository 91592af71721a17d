/**
 * The mount daemon: the one process that opens a store for writing. It serves
 * FUSE, commits the flush group on an interval, answers the control socket,
 * and on unmount (h2fs umount, a signal, or an outside umount) commits and
 * exits cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import v8 from 'node:v8';
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { H2Error } from '../errors.js';
import * as log from '../log.js';
import { formatTid, parseTid, type Tid } from '../tid.js';
import { Store } from '../store/index.js';
import { DEFAULT_DIRTY_MAX, PfsAdmin, Vfs, type PfsOptions } from '../vfs/index.js';
import { FrameChannel, MirrorReader, MirrorWriter } from '../mirror/index.js';
import { mountFuse } from '../fuse/mount.js';
import { trimMalloc } from '../native.js';
import { ControlServer } from '../control/server.js';
import { ReadAhead } from '../control/read-ahead.js';
import { MirrorRouter } from '../control/router.js';
import { pidPath } from '../control/protocol.js';
import { daemonPid, isMountpoint, mountAt } from '../control/locate.js';

const run = promisify(execFile);

export interface MountOptions {
  readOnly: boolean;
  allowOther: boolean;
  commitIntervalMs: number;
  maxDirtyBytes: number;
  /** How long the FUSE loop keeps reading an empty device before it sleeps (see dispatch in vendor/fuse-native). */
  spinUs: number;
  /**
   * What a slave keeps of a bulk mirror copy in the page cache: 'drop' (each
   * part once the next has landed, store/drop-behind.ts) or 'keep'.
   */
  mirrorCache: 'drop' | 'keep';
  debug: boolean;
}

/** Spinning only pays when the caller can run on another CPU meanwhile. */
export const DEFAULT_SPIN_US = os.availableParallelism() > 1 ? 50 : 0;

export function parseMountOptions(text: string | undefined): MountOptions {
  const o: MountOptions = {
    readOnly: false, allowOther: false, commitIntervalMs: 1000, maxDirtyBytes: DEFAULT_DIRTY_MAX,
    spinUs: DEFAULT_SPIN_US, mirrorCache: 'drop', debug: false,
  };
  for (const raw of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = raw.split('=', 2) as [string, string | undefined];
    switch (k) {
      case 'ro': o.readOnly = true; break;
      case 'rw': o.readOnly = false; break;
      case 'allow_other': o.allowOther = true; break;
      case 'debug': o.debug = true; break;
      case 'commit': {
        const s = Number(v);
        if (!v || !Number.isFinite(s) || s <= 0) throw H2Error.usage(`mount option commit=${v ?? ''}: expected seconds > 0`);
        o.commitIntervalMs = Math.round(s * 1000);
        break;
      }
      case 'dirty_max': {
        const mb = Number(v);
        if (!v || !Number.isFinite(mb) || mb < 1) throw H2Error.usage(`mount option dirty_max=${v ?? ''}: expected MiB >= 1`);
        o.maxDirtyBytes = Math.round(mb * 1024 * 1024);
        break;
      }
      case 'spin': {
        const us = Number(v);
        if (!v || !Number.isInteger(us) || us < 0 || us > 10_000) {
          throw H2Error.usage(`mount option spin=${v ?? ''}: expected microseconds, 0 to 10000`);
        }
        o.spinUs = us;
        break;
      }
      case 'mirror_cache':
        if (v !== 'drop' && v !== 'keep') throw H2Error.usage(`mount option mirror_cache=${v ?? ''}: expected keep or drop`);
        o.mirrorCache = v;
        break;
      default:
        throw H2Error.usage(`unknown mount option '${raw}'`, 'H2_USAGE',
          'options: ro, rw, allow_other, commit=SECONDS, dirty_max=MIB, spin=US, mirror_cache=keep|drop, debug');
    }
  }
  return o;
}

/** Unmounts a FUSE mount (fusermount3, else umount). */
export async function unmountPath(mountpoint: string, lazy = false): Promise<void> {
  const attempts: Array<[string, string[]]> = lazy
    ? [['fusermount3', ['-uz', mountpoint]], ['umount', ['-l', mountpoint]]]
    : [['fusermount3', ['-u', mountpoint]], ['umount', [mountpoint]]];
  let last: unknown;
  for (const [cmd, args] of attempts) {
    try {
      await run(cmd, args);
      return;
    } catch (e) {
      last = e;
    }
  }
  const msg = String((last as { stderr?: string }).stderr ?? (last as Error).message).trim().split('\n')[0];
  if (/busy/i.test(msg ?? '')) throw new H2Error('H2_BUSY', `${mountpoint}: mount point is busy`, { hint: 'close files and leave the directory, then retry' });
  throw new H2Error('H2_MOUNT', `cannot unmount ${mountpoint}: ${msg}`);
}

export class MountDaemon {
  private store: Store | undefined;
  private vfs: Vfs | undefined;
  private control: ControlServer | undefined;
  private router: MirrorRouter | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  /** lastTid when idle memory last went back (see commitQuietly). */
  private trimmedAt: Tid | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly storeDir: string;
  private readonly mountpoint: string;

  constructor(storeDir: string, mountpoint: string, private readonly opts: MountOptions) {
    this.storeDir = path.resolve(storeDir);
    this.mountpoint = path.resolve(mountpoint);
  }

  /** Mounts and starts serving; resolves once the mount is live. */
  async start(): Promise<void> {
    const { storeDir, mountpoint } = this;
    // V8 lets its heap grow to up to four times what survived the last full
    // collection; the daemon's live objects (caches, staged records) are tens
    // of MiB, so that was 150-200 MiB of mostly garbage. Twice is enough: the
    // small-file phases of the FUSE benchmark ran as fast.
    v8.setFlagsFromString('--heap-growing-percent=100');
    if (!Store.isStore(storeDir)) {
      throw new H2Error('ENOENT', `${storeDir}: not an h2fs store`, { hint: `h2fs newfs ${storeDir}` });
    }
    const other = daemonPid(storeDir);
    if (other !== undefined && other !== process.pid) {
      throw new H2Error('H2_BUSY', `${storeDir}: store is already mounted (daemon pid ${other})`);
    }
    await this.clearStaleMount();
    let st: fs.Stats;
    try {
      st = fs.statSync(mountpoint);
    } catch {
      throw new H2Error('ENOENT', `${mountpoint}: mount point does not exist`);
    }
    if (!st.isDirectory()) throw new H2Error('ENOTDIR', `${mountpoint}: mount point is not a directory`);
    if (isMountpoint(mountpoint)) throw new H2Error('H2_BUSY', `${mountpoint}: mount point in use`);

    const store = Store.open(storeDir);
    this.store = store;
    // Commits are written on a thread of their own: FUSE requests keep being
    // served while a flush group goes into LMDB.
    store.startCommitThread({ dropBulkParts: this.opts.mirrorCache === 'drop' });
    const vfs = new Vfs(store, { readOnly: this.opts.readOnly, maxDirtyBytes: this.opts.maxDirtyBytes });
    this.vfs = vfs;
    fs.writeFileSync(pidPath(storeDir), String(process.pid), { mode: 0o600 });
    const control = new ControlServer(storeDir);
    this.control = control;
    this.registerControl(control, vfs, store);
    await control.listen();
    try {
      await mountFuse(vfs, mountpoint, {
        fsname: storeDir.replace(/\\/g, '\\\\').replace(/,/g, '\\,'),
        allowOther: this.opts.allowOther, readOnly: this.opts.readOnly, debug: this.opts.debug,
        spinUs: this.opts.spinUs,
      });
    } catch (e) {
      await control.close();
      fs.rmSync(pidPath(storeDir), { force: true });
      await store.close();
      throw new H2Error('H2_MOUNT', `cannot mount ${mountpoint}: ${(e as Error).message}`, { cause: e });
    }
    // Root's daemons share the host's mirror router (control/router.ts).
    if (process.getuid?.() === 0) {
      this.router = new MirrorRouter();
      if (!this.router.start()) this.router = undefined;
    }
    this.commitTimer = setInterval(() => this.commitQuietly(), this.opts.commitIntervalMs);
    // An outside `umount`/`fusermount3 -u` ends the FUSE loop without telling
    // JS: notice it and shut down with a final commit. Exit explicitly: the
    // addon's async handle stays referenced when libfuse did not unmount.
    this.watchTimer = setInterval(() => {
      if (!mountAt(mountpoint)) void this.stop(false).then(() => process.exit(0), () => process.exit(1));
    }, 1000);
    // A library promise rejected with nobody listening (lmdb-js after a failed
    // commit) must not take the mount down with it.
    process.on('unhandledRejection', (e) => log.error(`h2fs: unhandled rejection: ${(e as Error)?.message ?? String(e)}`));
    // Dying leaves a dead mount behind: log a stray exception from a stream or
    // socket and keep serving.
    process.on('uncaughtException', (e) => log.error(`h2fs: uncaught exception: ${(e as Error)?.stack ?? String(e)}`));
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => void this.stop(true).then(() => process.exit(0), () => process.exit(1)));
    }
    log.verbose(`h2fs: mounted ${storeDir} on ${mountpoint}`);
  }

  private async clearStaleMount(): Promise<void> {
    const m = mountAt(this.mountpoint);
    if (!m) return;
    // A mount of this store whose daemon is gone (kill -9): lazily detach it.
    if (path.resolve(m.store) === this.storeDir && daemonPid(this.storeDir) === undefined) {
      log.verbose(`h2fs: clearing stale mount at ${this.mountpoint}`);
      await unmountPath(this.mountpoint, true);
    }
  }

  private commitQuietly(): void {
    try {
      const store = this.store;
      if (!store || store.commit() !== null || store.lastTid === this.trimmedAt) return;
      // The first quiet interval after commits: the block pool's pages and the
      // memory malloc kept (LMDB's dirty pages, freed buffers) go back.
      this.trimmedAt = store.lastTid;
      this.vfs?.releaseBlockPool();
      trimMalloc();
    } catch (e) {
      log.error(`h2fs: commit failed: ${(e as Error).message}`);
    }
  }

  private registerControl(control: ControlServer, vfs: Vfs, store: Store): void {
    const pfsAdmin = new PfsAdmin(vfs, store);
    const str = (v: unknown): string => String(v ?? '');
    control.on('ping', () => ({ pid: process.pid, mountpoint: this.mountpoint }));
    control.on('pfs-create', (a) =>
      pfsAdmin.create(str(a.path), a.mode === 'slave' ? 'slave' : 'master', (a.opts ?? {}) as PfsOptions));
    control.on('pfs-status', (a) => pfsAdmin.status(pfsAdmin.pfsOf(str(a.path))));
    control.on('pfs-list', () => pfsAdmin.list());
    control.on('pfs-update', (a) => pfsAdmin.update(pfsAdmin.pfsOf(str(a.path)), (a.opts ?? {}) as PfsOptions));
    control.on('pfs-upgrade', (a) => pfsAdmin.upgrade(pfsAdmin.pfsOf(str(a.path))));
    control.on('pfs-downgrade', (a) => pfsAdmin.downgrade(pfsAdmin.pfsOf(str(a.path))));
    control.on('pfs-destroy', (a) => pfsAdmin.destroy(pfsAdmin.pfsOf(str(a.path)), str(a.path)));
    control.on('synctid', async () => formatTid(await vfs.sync()));
    control.on('history', (args) => {
      const n = vfs.resolve(String(args.path ?? '/'));
      const tids = new Set<Tid>();
      for (const r of store.versions(n.pfs, n.objId)) {
        tids.add(r.createTid);
        if (r.deleteTid !== 0n) tids.add(r.deleteTid);
      }
      return {
        objId: n.objId,
        dirty: store.hasStaged(n.pfs, n.objId),
        tids: [...tids].sort((a, b) => (a < b ? -1 : 1)).map(formatTid),
      };
    });
    control.on('info', () => ({
      ...store.info(), mountpoint: this.mountpoint, pid: process.pid,
      pendingRecords: store.stagedCount, openFiles: vfs.openHandles,
    }));
    // mirror-copy reading a first copy in its own process: which PFS, and up
    // to which TID, after a synctid as for mirror-read.
    control.on('mirror-source', async (a) => {
      const pfs = pfsAdmin.pfsOf(str(a.path));
      if (store.getPfs(pfs)?.mode === 'master') await vfs.sync();
      return { pfs, endTid: formatTid(store.syncEndTid(pfs)) };
    });
    control.onStream('mirror-read', async (a, sock) => {
      const pfs = pfsAdmin.pfsOf(str(a.path));
      const channel = FrameChannel.over(sock);
      const stop = new AbortController();
      // The client half-closing (its first SIGINT) asks for a stop at the next TID boundary.
      sock.once('end', () => stop.abort());
      sock.once('close', () => stop.abort());
      const minDelay = Number(a.intervalMs ?? 0);
      // As HAMMER's mirror-read does a synctid first: the stream carries
      // everything written before it was asked for, not just what the 1 s
      // flush group happened to commit already.
      if (store.getPfs(pfs)?.mode === 'master') await vfs.sync();
      const reader = new MirrorReader({
        store, pfs, channel, twoWay: a.twoWay === true, stream: a.stream === true, signal: stop.signal,
        ...(a.begTid ? { begTid: parseTid(str(a.begTid)) } : {}),
        standby: a.standby === true,
        waitForChange: (tid, signal) => this.waitForChange(store, pfs, tid, minDelay, signal),
      });
      try {
        await reader.run();
      } catch (e) {
        log.error(`h2fs: mirror-read of PFS#${pfs}: ${(e as Error).message}`);
        await channel.sendError(e);
      }
    }, (a) => { pfsAdmin.pfsOf(str(a.path)); });
    // One mirror-write per slave PFS. A new session replaces a running one:
    // after a network outage the old session's peer is usually dead but its
    // sshd has not noticed (no client keepalive), and the stream that
    // reconnects must not wait hours for TCP to give up on it.
    const writers = new Map<number, { sock: Socket; done: Promise<void> }>();
    control.onStream('mirror-write', async (a, sock) => {
      const path = str(a.path);
      // A bulk copy comes in faster than sshd's end of the socket can buffer while the event loop works.
      const channel = new FrameChannel(ReadAhead.over(sock), sock, { inputOwned: true });
      let held: number | undefined;
      let finished: () => void = () => undefined;
      const done = new Promise<void>((resolve) => { finished = resolve; });
      const writer = new MirrorWriter({
        store, channel, twoWay: true,
        resolveTarget: async (hello) => {
          try {
            return { pfs: pfsAdmin.pfsOf(path), created: false };
          } catch (e) {
            if (!(e instanceof H2Error && e.code === 'ENOENT') || a.create !== true) {
              if (e instanceof H2Error && e.code === 'ENOENT') {
                throw new H2Error('ENOENT', 'PFS slave does not exist', { hint: 'h2fs -y mirror-write creates it' });
              }
              throw e;
            }
            const st = pfsAdmin.create(path, 'slave', { 'shared-uuid': hello.sharedUuid, label: hello.label });
            log.info(`h2fs: Auto create new slave PFS#${st.pfs} at ${path}`);
            return { pfs: st.pfs, created: true };
          }
        },
        onTarget: async (pfs) => {
          if (pfs === null) {
            if (held !== undefined && writers.get(held)?.sock === sock) {
              writers.delete(held);
              pfsAdmin.busy.delete(held);
            }
            held = undefined;
            return;
          }
          const old = writers.get(pfs);
          if (old) {
            log.info(`h2fs: mirror-write to PFS #${pfs}: a new session replaces the running one`);
            old.sock.destroy(new H2Error('H2_TRANSPORT', 'replaced by a newer mirror-write session'));
            await Promise.race([old.done, new Promise((r) => setTimeout(r, 10_000).unref())]);
            if (writers.get(pfs) === old) throw new H2Error('H2_BUSY', `PFS #${pfs}: the running mirror-write did not stop`);
          } else if (pfsAdmin.busy.has(pfs)) {
            throw new H2Error('H2_BUSY', `PFS #${pfs} is busy`);
          }
          writers.set(pfs, { sock, done });
          pfsAdmin.busy.add(pfs);
          held = pfs;
        },
      });
      let outcome = 'completed';
      try {
        await writer.run();
      } catch (e) {
        outcome = (e as Error).message;
        log.error(`h2fs: mirror-write to ${path}: ${outcome}`);
      }
      // One line per session: what arrived and where the slave stands.
      const pfs = (() => { try { return pfsAdmin.pfsOf(path); } catch { return undefined; } })();
      log.info(`h2fs: mirror-write session ${path}: ${channel.bytesIn} bytes in` +
        (pfs !== undefined ? `, sync-end-tid ${formatTid(store.syncEndTid(pfs))}` : '') + ` (${outcome})`);
      finished();
    }, (a) => pfsAdmin.checkMirrorTarget(str(a.path), a.create === true));
    control.on('umount', async () => {
      await vfs.sync();
      await unmountPath(this.mountpoint);
      setImmediate(() => void this.stop(false).then(() => process.exit(0)));
      return { unmounted: this.mountpoint };
    });
  }

  /**
   * Resolves once PFS `pfs` is past `tid` (woken by the commit itself, with
   * a 1 s poll as a fallback for slaves fed by mirror-write), but not before
   * `minDelayMs` has passed.
   */
  private waitForChange(store: Store, pfs: number, tid: Tid, minDelayMs: number, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (signal.aborted || store.syncEndTid(pfs) > tid) {
          const wait = minDelayMs - (Date.now() - started);
          cleanup();
          if (wait > 0 && !signal.aborted) setTimeout(resolve, wait);
          else resolve();
        }
      };
      const off = store.onCommit(() => check());
      const poll = setInterval(check, 1000);
      const onAbort = (): void => check();
      signal.addEventListener('abort', onAbort);
      const cleanup = (): void => {
        off();
        clearInterval(poll);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      check();
    });
  }

  /** Final commit, durable; unmount if still mounted; release everything. */
  stop(unmount: boolean): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(unmount);
    return this.stopping;
  }

  private async doStop(unmount: boolean): Promise<void> {
    clearInterval(this.commitTimer);
    clearInterval(this.watchTimer);
    if (this.vfs) {
      try {
        await this.vfs.sync();
      } catch (e) {
        log.error(`h2fs: final commit failed: ${(e as Error).message}`);
      }
    }
    if (unmount && mountAt(this.mountpoint)) {
      try {
        await unmountPath(this.mountpoint);
      } catch {
        await unmountPath(this.mountpoint, true).catch(() => undefined);
      }
    }
    await this.router?.stop();
    await this.control?.close();
    fs.rmSync(pidPath(this.storeDir), { force: true });
    await this.store?.close();
  }
}
