/** h2fs mount STORE MOUNTPOINT [-o OPTS] [-f], h2fs umount MOUNTPOINT */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { H2Error, type H2Code } from '../../errors.js';
import { MountDaemon, parseMountOptions, unmountPath } from '../../daemon/mount-daemon.js';
import { controlCall } from '../../control/client.js';
import { locateMount, mountAt } from '../../control/locate.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command, CommandContext } from '../context.js';

const mountUsage = 'mount STORE MOUNTPOINT [-o OPTIONS] [-f]';

/** Set in the background daemon: the fd on which to report "ok" or the error. */
const READY_FD_ENV = 'H2FS_READY_FD';

function report(fd: number | undefined, line: string): void {
  if (fd === undefined) return;
  try {
    fs.writeSync(fd, line + '\n');
    fs.closeSync(fd);
  } catch {
    // The parent went away; nothing to tell.
  }
}

async function foreground(store: string, mp: string, oText: string | undefined): Promise<number> {
  const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : undefined;
  delete process.env[READY_FD_ENV];
  try {
    const daemon = new MountDaemon(store, mp, parseMountOptions(oText));
    await daemon.start();
  } catch (e) {
    const err = e instanceof H2Error ? e : new H2Error('H2_MOUNT', (e as Error).message);
    report(readyFd, JSON.stringify({ ok: false, code: err.code, message: err.message, hint: err.hint }));
    throw err;
  }
  report(readyFd, JSON.stringify({ ok: true, pid: process.pid }));
  // Serve until unmounted: the daemon exits the process itself.
  return new Promise<number>(() => undefined);
}

async function background(ctx: CommandContext, store: string, mp: string, oText: string | undefined): Promise<number> {
  parseMountOptions(oText); // refuse bad options before forking
  const absStore = path.resolve(store);
  if (!fs.existsSync(absStore)) throw new H2Error('ENOENT', `mount: ${absStore}: no such store`, { hint: `h2fs newfs ${absStore}` });
  const logFile = path.join(absStore, 'h2fs.log');
  const logFd = fs.openSync(logFile, 'a', 0o600);
  const args = [...ctx.self.slice(1), ...(ctx.global.verbose > 0 ? ['-' + 'v'.repeat(ctx.global.verbose)] : []),
    'mount', '-f', absStore, path.resolve(mp), ...(oText ? ['-o', oText] : [])];
  // libuv's pool (4 threads by default) runs LMDB prefetches, each faulting
  // a block in page by page: a round's 50 cold PATCH bases went 4 at a time
  // (rounds of 100 changes after a first copy: 181.5 -> 172.5 ms at 16).
  // A user's own UV_THREADPOOL_SIZE wins.
  const child = spawn(ctx.self[0]!, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env: { UV_THREADPOOL_SIZE: '16', ...process.env, [READY_FD_ENV]: '3' },
  });
  fs.closeSync(logFd);
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    pipe.setEncoding('utf8');
    pipe.on('data', (c: string) => { buf += c; });
    pipe.on('end', () => resolve(buf));
    pipe.on('error', () => resolve(buf));
    child.on('exit', () => setTimeout(() => resolve(buf), 50));
  });
  child.unref();
  (pipe as unknown as { destroy?: () => void }).destroy?.();
  const line = answer.split('\n').find((l) => l.trim() !== '');
  if (!line) throw new H2Error('H2_MOUNT', `mount daemon exited before mounting (see ${logFile})`);
  const r = JSON.parse(line) as { ok: boolean; code?: string; message?: string; hint?: string };
  if (!r.ok) throw new H2Error((r.code ?? 'H2_MOUNT') as H2Code, r.message ?? 'mount failed', r.hint ? { hint: r.hint } : {});
  return 0;
}

export const mount: Command = {
  name: 'mount',
  usage: mountUsage,
  summary: 'mount a store (in the background unless -f)',
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('mount', ctx.args, {
      o: { type: 'string', short: 'o' },
      f: { type: 'boolean', short: 'f' },
    }, mountUsage);
    requirePositionals('mount', positionals, 2, 2, mountUsage);
    const [store, mp] = positionals as [string, string];
    if (values.f) return foreground(store, mp, values.o);
    return background(ctx, store, mp, values.o);
  },
};

const umountUsage = 'umount MOUNTPOINT';

export const umount: Command = {
  name: 'umount',
  usage: umountUsage,
  summary: 'commit the flush group and unmount',
  async run(ctx) {
    const { positionals } = parseCommandArgs('umount', ctx.args, {}, umountUsage);
    requirePositionals('umount', positionals, 1, 1, umountUsage);
    const mp = path.resolve(positionals[0]!);
    const m = mountAt(mp) ?? locateMount(mp)?.mount;
    if (!m || m.mountpoint !== mp) throw new H2Error('H2_NOT_MOUNTED', `umount: ${mp}: not an h2fs mount point`);
    try {
      await controlCall(m.store, 'umount');
    } catch (e) {
      if (e instanceof H2Error && e.code === 'H2_NOT_MOUNTED') {
        // The daemon is gone (killed): detach the dead mount.
        await unmountPath(mp, true);
        return 0;
      }
      // The daemon exited as its answer was on the way: done if the mount is gone.
      if (e instanceof H2Error && e.code === 'H2_CONTROL_CLOSED' && !mountAt(mp)) return 0;
      throw e;
    }
    return 0;
  },
};
