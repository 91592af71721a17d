/**
 * Opens the two ends of a mirror: a PFS in a local mount (through its
 * daemon's control socket) or on a remote host (`h2fs -2 mirror-read|write`
 * over SSH). Either way the result is an Endpoint of raw stream bytes.
 */
import fs from 'node:fs';
import { H2Error } from '../errors.js';
import { formatTid, type Tid } from '../tid.js';
import { controlStream } from '../control/client.js';
import { openDirect } from '../control/direct.js';
import type { Endpoint } from '../mirror/index.js';
import type { LocalSource } from '../mirror/relay.js';
import { parseRemoteSpec } from '../transport/remote-spec.js';
import type { SshOptions } from '../transport/ssh.js';
import { pathInMount } from './target.js';
import { askTty } from './tty.js';

export interface OpenedEndpoint extends Endpoint {
  close: () => void;
  label: string;
}

/** A source may also be read in this process (a local store, see local-source.ts). */
export type OpenedSource = OpenedEndpoint | (LocalSource & { close: () => void; label: string });

export interface EndpointOptions {
  yes: boolean;
  verbose: number;
  ssh: Omit<SshOptions, 'remoteCommand'> & { remoteCommand?: string };
  /** Source only. */
  stream?: boolean;
  intervalSecs?: number;
  begTid?: Tid;
}

export function remoteCommand(o: EndpointOptions): string {
  return o.ssh.remoteCommand ?? process.env.H2FS_REMOTE ?? 'h2fs';
}

function verboseFlags(v: number): string[] {
  return v > 0 ? ['-' + 'v'.repeat(v)] : [];
}

export async function openSource(spec: string, o: EndpointOptions): Promise<OpenedSource> {
  const remote = parseRemoteSpec(spec);
  const readArgs = {
    twoWay: true, stream: o.stream === true, intervalMs: (o.intervalSecs ?? 0) * 1000,
    ...(o.begTid !== undefined ? { begTid: formatTid(o.begTid) } : {}),
  };
  if (remote) {
    const args = ['-2', ...verboseFlags(o.verbose), ...(o.intervalSecs ? ['-i', String(o.intervalSecs)] : []),
      o.stream ? 'mirror-read-stream' : 'mirror-read', remote.path, ...(o.begTid !== undefined ? [formatTid(o.begTid)] : [])];
    const { sshExec } = await import('../transport/ssh.js');
    const ep = await sshExec(remote, args, {
      ...o.ssh, remoteCommand: remoteCommand(o),
      direct: (open) => openDirect(open, remote.path, 'mirror-read', readArgs),
    });
    return { ...ep, label: spec };
  }
  const { store, inner } = pathInMount('mirror-read', spec);
  if (!o.stream) {
    const { openLocalSource } = await import('./local-source.js');
    return Object.assign(await openLocalSource(store, inner, o.begTid), { label: spec });
  }
  const sock = await controlStream(store, 'mirror-read', { path: inner, ...readArgs });
  return { readable: sock, writable: sock, close: () => sock.destroy(), label: spec };
}

/**
 * Whether mirror-write may create a missing slave: -y says yes; otherwise
 * ask on the terminal, and refuse without one (HAMMER asks on /dev/tty).
 */
export function mayCreateSlave(p: string, yes: boolean): boolean {
  let exists = true;
  try {
    fs.lstatSync(p);
  } catch {
    exists = false;
  }
  if (exists) return false;
  if (yes) return true;
  const answer = askTty(`PFS slave ${p} does not exist.\nDo you want to create a new slave PFS? (yes|no) `);
  if (answer === undefined) {
    throw new H2Error('ENOENT', `mirror-write: PFS slave ${p} does not exist, and there is no terminal to ask`,
      { hint: 'h2fs -y mirror-write ... creates it' });
  }
  if (!answer) throw new H2Error('ENOENT', `mirror-write: PFS slave ${p} does not exist (not created)`);
  return true;
}

export async function openTarget(spec: string, o: EndpointOptions): Promise<OpenedEndpoint> {
  const remote = parseRemoteSpec(spec);
  if (remote) {
    const args = ['-2', ...verboseFlags(o.verbose), ...(o.yes ? ['-y'] : []), 'mirror-write', remote.path];
    const { sshExec } = await import('../transport/ssh.js');
    const ep = await sshExec(remote, args, {
      ...o.ssh, remoteCommand: remoteCommand(o),
      // No question on the far host either way: it has no terminal to ask on.
      direct: (open) => openDirect(open, remote.path, 'mirror-write', { create: o.yes }),
    });
    return { ...ep, label: spec };
  }
  // An unmounted slave store (its host rebooting) is weather, not a missing
  // slave: find the mount first, so that failure stays transient.
  const { store, inner } = pathInMount('mirror-write', spec);
  const create = mayCreateSlave(spec, o.yes);
  const sock = await controlStream(store, 'mirror-write', { path: inner, create });
  return { readable: sock, writable: sock, close: () => sock.destroy(), label: spec };
}
