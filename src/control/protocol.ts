/**
 * Control socket protocol: one JSON object per line each way. The daemon
 * listens on STORE/control.sock (0600, in the 0700 store directory); every
 * request carries the token from STORE/control.token (0600), so only users
 * who can read the store's files can drive the daemon. (Node has no
 * SO_PEERCRED; the token is how the peer proves its credentials.)
 */
import path from 'node:path';

export interface ControlRequest {
  token: string;
  op: string;
  args?: Record<string, unknown>;
}

export type ControlResponse =
  | { ok: true; result: unknown }
  | { ok: false; code: string; message: string; hint?: string };

export function socketPath(storeDir: string): string {
  return path.join(storeDir, 'control.sock');
}

export function tokenPath(storeDir: string): string {
  return path.join(storeDir, 'control.token');
}

export function pidPath(storeDir: string): string {
  return path.join(storeDir, 'h2fs.pid');
}

/** JSON cannot carry bigint: TIDs cross the socket as 0x-strings. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? '0x' + v.toString(16).padStart(16, '0') : v;
}
