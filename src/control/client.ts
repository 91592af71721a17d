/** The command side of the control socket. */
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { H2Error, type H2Code } from '../errors.js';
import { socketPath, tokenPath, type ControlResponse } from './protocol.js';

export async function controlCall<T>(storeDir: string, op: string, args: Record<string, unknown> = {},
  timeoutMs = 600_000): Promise<T> {
  let token: string;
  try {
    token = fs.readFileSync(tokenPath(storeDir), 'utf8');
  } catch (e) {
    throw new H2Error('H2_NOT_MOUNTED', `${storeDir}: no running mount daemon (${(e as NodeJS.ErrnoException).code})`);
  }
  return new Promise<T>((resolve, reject) => {
    const sock = net.createConnection(socketPath(storeDir));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new H2Error('H2_CONTROL', `mount daemon did not answer '${op}' in ${timeoutMs / 1000}s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ token, op, args }) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.destroy();
      const resp = JSON.parse(buf.slice(0, nl)) as ControlResponse;
      if (resp.ok) resolve(resp.result as T);
      else reject(new H2Error(resp.code as H2Code, resp.message, resp.hint ? { hint: resp.hint } : {}));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new H2Error('H2_NOT_MOUNTED', `${storeDir}: cannot reach the mount daemon (${e.code ?? e.message})`));
    });
    // A daemon that exits (or dies) mid-request must not leave us waiting out the timeout.
    sock.on('close', () => {
      clearTimeout(timer);
      reject(new H2Error('H2_CONTROL_CLOSED', `${storeDir}: the mount daemon closed the connection without answering '${op}'`));
    });
  });
}

/**
 * Opens a stream op: sends the request line, waits for the OK line, and
 * returns the socket as a raw duplex (bytes past the OK line put back).
 */
export async function controlStream(storeDir: string, op: string, args: Record<string, unknown> = {}): Promise<net.Socket> {
  let token: string;
  try {
    token = fs.readFileSync(tokenPath(storeDir), 'utf8');
  } catch (e) {
    throw new H2Error('H2_NOT_MOUNTED', `${storeDir}: no running mount daemon (${(e as NodeJS.ErrnoException).code})`);
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath(storeDir), allowHalfOpen: true });
    let buf: Buffer = Buffer.alloc(0);
    const fail = (e: NodeJS.ErrnoException): void => {
      reject(new H2Error('H2_NOT_MOUNTED', `${storeDir}: cannot reach the mount daemon (${e.code ?? e.message})`));
    };
    sock.once('error', fail);
    sock.on('connect', () => sock.write(JSON.stringify({ token, op, args }) + '\n'));
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      sock.off('error', fail);
      sock.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length) sock.unshift(rest);
      const resp = JSON.parse(buf.subarray(0, nl).toString('utf8')) as ControlResponse;
      if (resp.ok) {
        resolve(sock);
      } else {
        sock.destroy();
        reject(new H2Error(resp.code as H2Code, resp.message, resp.hint ? { hint: resp.hint } : {}));
      }
    };
    sock.on('data', onData);
  });
}

/**
 * Sends one request line on a fresh duplex (a socket, an SSH channel) and
 * reads the one answer line; bytes that came after it are put back.
 */
export function requestLine(d: Duplex, line: string): Promise<ControlResponse> {
  return new Promise<ControlResponse>((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      d.off('data', onData);
      d.off('end', onEnd);
      d.off('close', onEnd);
      d.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      cleanup();
      d.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length) d.unshift(rest);
      try {
        resolve(JSON.parse(buf.subarray(0, nl).toString('utf8')) as ControlResponse);
      } catch {
        reject(new H2Error('H2_CONTROL', 'malformed answer line'));
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new H2Error('H2_CONTROL_CLOSED', 'closed without answering'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    d.on('data', onData);
    d.once('end', onEnd);
    d.once('close', onEnd);
    d.once('error', onError);
    d.write(line + '\n');
  });
}
