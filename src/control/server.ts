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

export class ControlServer {
  private server: net.Server | undefined;
  private readonly handlers = new Map<string, ControlHandler>();
  private token = Buffer.alloc(0);

  constructor(private readonly storeDir: string) {}

  on(op: string, fn: ControlHandler): void {
    this.handlers.set(op, fn);
  }

  async listen(): Promise<void> {
    this.token = Buffer.from(randomBytes(24).toString('hex'));
    const tp = tokenPath(this.storeDir);
    fs.rmSync(tp, { force: true });
    fs.writeFileSync(tp, this.token, { mode: 0o600 });
    const sp = socketPath(this.storeDir);
    fs.rmSync(sp, { force: true });
    const server = net.createServer((sock) => this.serve(sock));
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
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.answer(line).then((resp) => {
          if (!sock.destroyed) sock.write(JSON.stringify(resp, jsonReplacer) + '\n');
        });
      }
    });
  }

  private async answer(line: string): Promise<ControlResponse> {
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
    const fn = this.handlers.get(req.op);
    if (!fn) return { ok: false, code: 'H2_CONTROL', message: `unknown control op ${req.op}` };
    try {
      return { ok: true, result: await fn(req.args ?? {}) };
    } catch (e) {
      if (isH2Error(e)) {
        return { ok: false, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
      }
      return { ok: false, code: 'H2_CONTROL', message: (e as Error).message ?? String(e) };
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.rmSync(socketPath(this.storeDir), { force: true });
    fs.rmSync(tokenPath(this.storeDir), { force: true });
  }
}
