/**
 * The daemon's end of the control socket. Handlers are registered by name and
 * may be async; errors travel back as {code, message}.
 */
import fs from 'node:fs';
import net from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isH2Error } from '../errors.js';
import { jsonReplacer, socketPath, tokenPath, type ControlRequest, type ControlResponse } from './protocol.js';

export type ControlHandler = (args: Record<string, unknown>) => unknown;
/** After its OK line the socket carries raw bytes (a mirror stream) both ways. */
export type StreamHandler = (args: Record<string, unknown>, sock: net.Socket) => Promise<void>;
/** Runs before the OK line; what it throws is the answer instead (and the stream never starts). */
export type StreamCheck = (args: Record<string, unknown>) => void;

function errorResponse(e: unknown): ControlResponse {
  if (isH2Error(e)) return { ok: false, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return { ok: false, code: 'H2_CONTROL', message: (e as Error).message ?? String(e) };
}

export class ControlServer {
  private server: net.Server | undefined;
  private readonly handlers = new Map<string, ControlHandler>();
  private readonly streamHandlers = new Map<string, { fn: StreamHandler; check: StreamCheck | undefined }>();
  private readonly sockets = new Set<net.Socket>();
  private token = Buffer.alloc(0);

  constructor(private readonly storeDir: string) {}

  on(op: string, fn: ControlHandler): void {
    this.handlers.set(op, fn);
  }

  onStream(op: string, fn: StreamHandler, check?: StreamCheck): void {
    this.streamHandlers.set(op, { fn, check });
  }

  async listen(): Promise<void> {
    this.token = Buffer.from(randomBytes(24).toString('hex'));
    const tp = tokenPath(this.storeDir);
    fs.rmSync(tp, { force: true });
    fs.writeFileSync(tp, this.token, { mode: 0o600 });
    const sp = socketPath(this.storeDir);
    fs.rmSync(sp, { force: true });
    // Half-open: a peer that has finished sending still gets our last frames (ACK, ERROR).
    // 1 MiB of mirror frames may wait in a socket before a sender waits for drain.
    const server = net.createServer({ allowHalfOpen: true, highWaterMark: 1024 * 1024 }, (sock) => this.serve(sock));
    this.server = server;
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(sp, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(sp, 0o600);
  }

  private serve(sock: net.Socket): void {
    let buf: Buffer = Buffer.alloc(0);
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const reply = (resp: ControlResponse): void => {
      if (!sock.destroyed) sock.write(JSON.stringify(resp, jsonReplacer) + '\n');
    };
    // JSON ops close with the client; a stream op keeps the socket half-open
    // until its handler has said its last word.
    let streaming = false;
    sock.on('end', () => {
      if (!streaming) sock.end();
    });
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        const line = buf.subarray(0, nl).toString('utf8');
        buf = buf.subarray(nl + 1);
        const req = this.parse(line);
        if ('ok' in req) {
          reply(req);
          continue;
        }
        const stream = this.streamHandlers.get(req.op);
        if (stream) {
          try {
            stream.check?.(req.args ?? {});
          } catch (e) {
            reply(errorResponse(e));
            continue;
          }
          // Hand the socket over as a raw duplex, with what was read past the line.
          streaming = true;
          sock.off('data', onData);
          sock.pause();
          if (buf.length) sock.unshift(buf);
          reply({ ok: true, result: null });
          stream.fn(req.args ?? {}, sock).catch(() => undefined).finally(() => {
            // Our last word is said. Drop whatever the peer still sends (it may
            // be blocked writing to us), and close for good after a grace period.
            sock.end();
            sock.resume();
            setTimeout(() => sock.destroy(), 2000).unref();
          });
          return;
        }
        void this.answer(req).then(reply);
      }
    };
    sock.on('data', onData);
  }

  private parse(line: string): ControlRequest | (ControlResponse & { ok: false }) {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, code: 'H2_CONTROL', message: 'malformed request' };
    }
    const given = Buffer.from(String(req.token ?? ''));
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
      return { ok: false, code: 'EACCES', message: 'control socket: bad token' };
    }
    return req;
  }

  private async answer(req: ControlRequest): Promise<ControlResponse> {
    const fn = this.handlers.get(req.op);
    if (!fn) return { ok: false, code: 'H2_CONTROL', message: `unknown control op ${req.op}` };
    try {
      return { ok: true, result: await fn(req.args ?? {}) };
    } catch (e) {
      return errorResponse(e);
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    // End rather than destroy: an answer just written (umount's own) must
    // still reach its client. A peer that keeps its end open gets 1 s.
    await Promise.all([...this.sockets].map((sock) => new Promise<void>((resolve) => {
      const t = setTimeout(() => { sock.destroy(); resolve(); }, 1000);
      sock.once('close', () => { clearTimeout(t); resolve(); });
      sock.end();
    })));
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.rmSync(socketPath(this.storeDir), { force: true });
    fs.rmSync(tokenPath(this.storeDir), { force: true });
  }
}
