/**
 * The mirror router: one socket per host, /run/h2fs/mirror.sock, served by
 * one of the host's mount daemons that run as root (whichever claimed it).
 * It answers one question, "which daemon holds PATH?", with that daemon's
 * control socket, token and the path inside its mount, from
 * /proc/self/mountinfo and the store's files, never touching a mount.
 *
 * Why: a mirror-copy from another host then reaches the daemon through two
 * SSH stream-local channels (router, then control socket) instead of
 * starting `h2fs -2 mirror-write` there, which is a Node start-up (some
 * 40 ms) in every round. The socket is root's alone (0600 in a 0700
 * directory): whoever can connect can read the token files anyway.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { daemonPid, locateMount } from './locate.js';
import { socketPath, tokenPath, type ControlResponse } from './protocol.js';

export const ROUTER_DIR = '/run/h2fs';
export const ROUTER_SOCKET = path.join(ROUTER_DIR, 'mirror.sock');
/** Bumped when the request or the answer changes shape; a mismatch is refused (the peer then runs h2fs). */
export const ROUTER_VERSION = 1;

export interface RouterRequest {
  v: number;
  op: 'where';
  path: string;
}

export interface RouterAnswer {
  socket: string;
  token: string;
  inner: string;
}

/** The answer to a where-request, from this host's mount table. */
export function where(req: Partial<RouterRequest>): ControlResponse {
  if (req.v !== ROUTER_VERSION || req.op !== 'where' || typeof req.path !== 'string') {
    return { ok: false, code: 'H2_CONTROL', message: `mirror router: expected {v: ${ROUTER_VERSION}, op: "where", path}` };
  }
  // Only a plain absolute path: anything the kernel would have to resolve
  // (.., symlinks in the mount table's sense) is left to the far h2fs.
  const p = req.path;
  if (!p.startsWith('/') || p.split('/').some((c) => c === '.' || c === '..')) {
    return { ok: false, code: 'EINVAL', message: `mirror router: ${p} is not a plain absolute path` };
  }
  const loc = locateMount(p);
  if (!loc || daemonPid(loc.mount.store) === undefined) {
    return { ok: false, code: 'H2_NOT_MOUNTED', message: `mirror router: ${p} is in no live h2fs mount` };
  }
  let token: string;
  try {
    token = fs.readFileSync(tokenPath(loc.mount.store), 'utf8');
  } catch (e) {
    return { ok: false, code: 'H2_NOT_MOUNTED', message: `mirror router: ${loc.mount.store}: ${(e as NodeJS.ErrnoException).code}` };
  }
  const answer: RouterAnswer = { socket: socketPath(loc.mount.store), token, inner: loc.inner };
  return { ok: true, result: answer };
}

/**
 * One question, one answer, and the socket stays open until the asker
 * closes it: closing from here would have sshd send two more small packets
 * (EOF, CLOSE) that hold back its next ones (see control/direct.ts).
 */
function serve(sock: net.Socket): void {
  let buf = '';
  let answered = false;
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  sock.on('end', () => sock.end());
  sock.on('data', (chunk: string) => {
    if (answered) return;
    // Empty lines before the question are ignored.
    buf = (buf + chunk).replace(/^\n+/, '');
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > 8192) sock.destroy();
      return;
    }
    let resp: ControlResponse;
    try {
      resp = where(JSON.parse(buf.slice(0, nl)) as Partial<RouterRequest>);
    } catch {
      resp = { ok: false, code: 'H2_CONTROL', message: 'mirror router: malformed request' };
    }
    answered = true;
    sock.write(JSON.stringify(resp) + '\n');
  });
}

/** Whether something accepts connections on the socket at `p`. */
export function alive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Claims the router socket for this daemon when nobody serves it, and
 * checks again every few seconds: the daemon that served it may have been
 * unmounted (or killed, leaving a dead socket file behind).
 */
export class MirrorRouter {
  private server: net.Server | undefined;
  private ino: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly socket = ROUTER_SOCKET, private readonly everyMs = 5000) {}

  /** False when this host has no place for it (not root, /run/h2fs not root's alone). */
  start(): boolean {
    const dir = path.dirname(this.socket);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return false;
    } catch {
      return false;
    }
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
    return true;
  }

  get serving(): boolean {
    return this.server !== undefined;
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.server) {
        // The path is no longer ours (two daemons found it dead at once and
        // both bound it): let go. libuv unlinks a socket's path when it
        // closes, the other daemon's file included; the next tick of
        // whichever daemon then finds no file and binds it again.
        if (this.currentIno() !== this.ino) await this.closeServer();
        return;
      }
      if (await this.listen()) return;
      if (await alive(this.socket)) return;
      fs.rmSync(this.socket, { force: true });
      await this.listen();
    } finally {
      this.busy = false;
    }
  }

  private currentIno(): number | undefined {
    try {
      return fs.lstatSync(this.socket).ino;
    } catch {
      return undefined;
    }
  }

  private async listen(): Promise<boolean> {
    const server = net.createServer(serve);
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socket, () => resolve());
      });
    } catch {
      return false;
    } finally {
      process.umask(oldMask);
    }
    this.server = server;
    this.ino = this.currentIno();
    return true;
  }

  private async closeServer(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    // Closing removes the socket file (libuv); another daemon claims it within everyMs.
    await this.closeServer();
  }
}
