/**
 * What `[user@]host[:port]:PATH` means, and how arguments are quoted for
 * the remote shell: pure functions, apart from ssh.ts so that deciding
 * whether an endpoint is remote does not load the SSH client.
 */
import { H2Error } from '../errors.js';

export interface RemoteSpec {
  user?: string;
  host: string;
  port?: number;
  path: string;
}

/**
 * `[user@]host[:port]:PATH` (also `[user@][v6addr][:port]:PATH`) is remote;
 * anything starting with / or . , or without a colon before the first
 * slash, is local.
 */
export function parseRemoteSpec(spec: string): RemoteSpec | undefined {
  if (spec.startsWith('/') || spec.startsWith('.')) return undefined;
  const m = /^(?:([^@/:[\]]+)@)?(\[[0-9a-fA-F:.]+\]|[^@/:[\]]+)(?::(\d+))?:(.*)$/.exec(spec);
  if (!m) return undefined;
  const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
  const p = m[4]!;
  if (p === '') throw H2Error.usage(`${spec}: remote path is empty`);
  return { ...(m[1] ? { user: m[1] } : {}), host, ...(m[3] ? { port: Number(m[3]) } : {}), path: p };
}

/** Quotes one argument for the remote POSIX shell that sshd runs the command with. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

