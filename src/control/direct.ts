/**
 * The far end of a mirror reached without running h2fs there: through two
 * SSH stream-local channels, first to the far host's mirror router (which
 * daemon holds the path?), then to that daemon's control socket, where the
 * stream op starts as a local one would. Any answer but "yes" gives
 * undefined, and the caller runs `h2fs -2 ...` on the far host instead,
 * which explains the failure in its own words.
 */
import path from 'node:path';
import type { Duplex } from 'node:stream';
import * as log from '../log.js';
import { requestLine } from './client.js';
import { ROUTER_SOCKET, ROUTER_VERSION, type RouterAnswer } from './router.js';

const ROUTER_TIMEOUT_MS = 10_000;

/** Opens a stream-local channel to a socket path on the far host; undefined when the far sshd refuses. */
export type StreamLocalOpener<D extends Duplex> = (socketPath: string) => Promise<D | undefined>;

export async function openDirect<D extends Duplex>(open: StreamLocalOpener<D>, remotePath: string,
  op: 'mirror-read' | 'mirror-write', args: Record<string, unknown>): Promise<D | undefined> {
  if (!remotePath.startsWith('/')) return undefined;
  const p = path.posix.normalize(remotePath).replace(/(.)\/+$/, '$1');
  const router = await open(ROUTER_SOCKET);
  if (!router) {
    log.debug(`h2fs: no mirror router on the far host (${ROUTER_SOCKET}); running h2fs there`);
    return undefined;
  }
  // A router that does not answer (its daemon stopped) is no router.
  const timer = setTimeout(() => router.destroy(), ROUTER_TIMEOUT_MS);
  const where = await requestLine(router, JSON.stringify({ v: ROUTER_VERSION, op: 'where', path: p })).catch((e: Error) => {
    return { ok: false as const, code: 'H2_CONTROL', message: e.message };
  });
  clearTimeout(timer);
  if (!where.ok) {
    router.destroy();
    log.debug(`h2fs: far mirror router: ${where.message}; running h2fs there`);
    return undefined;
  }
  // The router's channel stays open as long as the stream's: closing it
  // now would have sshd send two more small packets ahead of the ones
  // that matter (sshd keeps Nagle on, see transport/ssh.ts).
  router.on('error', () => undefined);
  const a = where.result as RouterAnswer;
  const ch = await open(a.socket);
  if (!ch) {
    router.destroy();
    return undefined;
  }
  ch.once('close', () => router.destroy());
  const started = await requestLine(ch, JSON.stringify({ token: a.token, op, args: { ...args, path: a.inner } })).catch((e: Error) => {
    return { ok: false as const, code: 'H2_CONTROL', message: e.message };
  });
  if (!started.ok) {
    log.debug(`h2fs: far daemon: ${started.message}; running h2fs there`);
    ch.destroy();
    return undefined;
  }
  return ch;
}
