/**
 * The only importer of ssh2: runs `h2fs -2 mirror-read|mirror-write PATH` on
 * a remote host and hands back its stdin/stdout as the endpoint's bytes.
 * Host keys are checked against ~/.ssh/known_hosts; keys come from
 * ssh-agent, -i FILE, ~/.ssh/config IdentityFile or ~/.ssh/id_*; ~/.ssh/config
 * Host/HostName/User/Port are honoured; keepalives find a dead peer.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import type { AgentAuthMethod, ClientChannel, PublicKeyAuthMethod } from 'ssh2';
import { H2Error } from '../errors.js';
import * as log from '../log.js';
import { hostVerifier } from './known-hosts.js';
import { coalesceWrites, poolGcmPadding } from './ssh-packets.js';
import { shellQuote, type RemoteSpec } from './remote-spec.js';

export { parseRemoteSpec, shellQuote, type RemoteSpec } from './remote-spec.js';

export interface SshOptions {
  port?: number;
  identity?: string;
  acceptNew?: boolean;
  /** The remote h2fs command line (a trusted prefix, not quoted). */
  remoteCommand: string;
  knownHosts?: string;
  connectTimeoutMs?: number;
  keepaliveMs?: number;
  /**
   * Tried before running the remote command: reach the far end through
   * stream-local channels (control/direct.ts); undefined means run it.
   */
  direct?: (open: (socketPath: string) => Promise<ClientChannel | undefined>) => Promise<ClientChannel | undefined>;
}

interface Resolved {
  host: string;
  port: number;
  user: string;
  identities: string[];
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

async function resolveConfig(spec: RemoteSpec, opts: SshOptions): Promise<Resolved> {
  let hostName = spec.host;
  let port = 22;
  let user = os.userInfo().username;
  let identities: string[] = [];
  const cfgFile = path.join(os.homedir(), '.ssh', 'config');
  if (fs.existsSync(cfgFile)) {
    try {
      // Loaded only when there is a config to read.
      const { default: SSHConfig } = await import('ssh-config');
      const c = SSHConfig.parse(fs.readFileSync(cfgFile, 'utf8')).compute(spec.host) as Record<string, string | string[]>;
      if (typeof c.HostName === 'string') hostName = c.HostName.replace(/%h/g, spec.host);
      if (typeof c.Port === 'string') port = Number(c.Port);
      if (typeof c.User === 'string') user = c.User;
      const idf = c.IdentityFile;
      if (idf) identities = (Array.isArray(idf) ? idf : [idf]).map(expandHome);
    } catch (e) {
      log.verbose(`h2fs: ignoring unreadable ${cfgFile}: ${(e as Error).message}`);
    }
  }
  if (spec.port !== undefined) port = spec.port;
  else if (opts.port !== undefined) port = opts.port;
  if (spec.user !== undefined) user = spec.user;
  if (opts.identity) identities = [expandHome(opts.identity)];
  if (identities.length === 0) {
    identities = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(os.homedir(), '.ssh', f));
  }
  return { host: hostName, port, user, identities };
}

/**
 * Ends a channel with a reason its readers will see. ssh2's Channel.destroy()
 * takes no error (and a dead connection never closes its channels), so the
 * error is emitted first.
 */
function kill(ch: ClientChannel, e: Error): void {
  if ((ch as unknown as Duplex).listenerCount('error') > 0) ch.emit('error', e);
  ch.destroy();
}

export interface SshEndpoint {
  readable: ClientChannel;
  writable: ClientChannel;
  failure: () => string | undefined;
  close: () => void;
}

/**
 * The TCP connection, opened before ssh2 is loaded: the server forks and
 * sends its banner while ssh2 (some 40 ms) loads. Nagle's algorithm is off:
 * the key exchange and the user-auth request each send two packets in a
 * row, and with Nagle the second waited for the server's delayed ACK, 40 ms
 * each time (80 ms of a 250 ms round on loopback).
 */
function dial(host: string, port: number): { sock: net.Socket; early: () => Error | undefined } {
  const sock = net.connect({ host, port, noDelay: true });
  coalesceWrites(sock);
  let early: Error | undefined;
  const onError = (e: Error): void => { early = e; };
  sock.once('error', onError);
  return {
    sock,
    early: () => {
      sock.off('error', onError);
      return early;
    },
  };
}

/** The parts of ssh2's protocol object that sending an SSH_MSG_IGNORE needs. */
interface ProtocolInternals {
  _kexinit?: unknown;
  _packetRW?: { write: { allocStart: number; alloc: (n: number) => Buffer; finalize: (b: Buffer) => Buffer } };
}

const SSH_MSG_IGNORE = 2;

/**
 * OpenSSH's sshd leaves Nagle's algorithm on for sessions without a
 * terminal: a small packet it sends while an earlier one is still
 * unacknowledged waits for that ACK, and our kernel delays ACKs by up to
 * 40 ms when we have nothing to send. So a reply, a window adjustment or
 * the final ACK frame could sit 40 ms at the far end (a channel opening, a
 * host-key proof and the router's answer in a row: up to three times a
 * round). Whenever data comes in and nothing goes out by the end of that
 * turn of the event loop, an SSH_MSG_IGNORE (which every SSH peer must
 * accept and drop) goes out and carries the ACK at once. ssh2 has no call
 * for it, so this reaches into its protocol object; should that change
 * shape, it does nothing.
 */
function nudgeAcks(conn: object, sock: net.Socket): void {
  const proto = (conn as { _protocol?: ProtocolInternals })._protocol;
  const rw = proto?._packetRW?.write;
  if (!proto || !rw || typeof rw.alloc !== 'function' || typeof rw.finalize !== 'function') return;
  let sendPacket: (p: ProtocolInternals, packet: Buffer) => boolean;
  try {
    ({ sendPacket } = createRequire(import.meta.url)('ssh2/lib/protocol/utils.js') as { sendPacket: typeof sendPacket });
  } catch {
    return;
  }
  let pending = false;
  sock.on('data', () => {
    if (pending) return;
    pending = true;
    const before = sock.bytesWritten;
    setImmediate(() => {
      pending = false;
      // Not during a key re-exchange (strict KEX forbids it there), nor when something went out anyway.
      if (sock.bytesWritten !== before || proto._kexinit !== undefined || sock.destroyed || !sock.writable) return;
      const packet = rw.alloc(5);
      packet[rw.allocStart] = SSH_MSG_IGNORE;
      packet.writeUInt32BE(0, rw.allocStart + 1);
      sendPacket(proto, rw.finalize(packet));
    });
  });
}

/**
 * Connects and runs `<remoteCommand> <args...>`, every argument quoted for
 * the remote shell, or first tries `opts.direct` (stream-local channels).
 */
export async function sshExec(spec: RemoteSpec, args: string[], opts: SshOptions): Promise<SshEndpoint> {
  const r = await resolveConfig(spec, opts);
  const link = dial(r.host, r.port);
  // net.connect() issues connect(2) on the next tick: let it go out before
  // the synchronous work below (key files, ssh2's loading), not after it.
  await new Promise<void>((resolve) => setImmediate(resolve));
  try {
    return await session(r, link, args, opts);
  } catch (e) {
    link.sock.destroy();
    throw e;
  }
}

async function session(r: Resolved, link: ReturnType<typeof dial>, args: string[], opts: SshOptions): Promise<SshEndpoint> {
  const knownHosts = opts.knownHosts ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  // OpenSSH records and checks host keys under the HostName it connects to.
  const hv = hostVerifier(knownHosts, r.host, r.port, opts.acceptNew ?? false);
  const keys: Array<{ file: string; key: Buffer }> = [];
  for (const f of r.identities) {
    try {
      keys.push({ file: f, key: fs.readFileSync(f) });
    } catch {
      if (opts.identity) throw new H2Error('ENOENT', `identity file ${f} cannot be read`);
    }
  }
  const agent = process.env.SSH_AUTH_SOCK;
  const authHandler: Array<AgentAuthMethod | PublicKeyAuthMethod> = [
    ...(agent ? [{ type: 'agent' as const, username: r.user, agent }] : []),
    ...keys.map((k) => ({ type: 'publickey' as const, username: r.user, key: k.key })),
  ];
  const command = [opts.remoteCommand, ...args.map(shellQuote)].join(' ');
  log.debug(`h2fs: ssh ${r.user}@${r.host}:${r.port} ${command}`);
  // Loaded while the TCP link opens; ssh2's client alone: the package's
  // index also loads its server, SFTP and agent code, some 10 ms that a
  // mirror round never uses. require(), not import(): Node would first
  // scan the CommonJS sources for named exports (another 10 ms).
  const load = createRequire(import.meta.url);
  const Client = load('ssh2/lib/client.js') as typeof import('ssh2').Client;
  poolGcmPadding(load('ssh2/lib/protocol/crypto.js') as Parameters<typeof poolGcmPadding>[0]);
  const refused = link.early();
  if (refused) throw new H2Error('H2_TRANSPORT', `ssh ${r.host}:${r.port}: ${refused.message}`);
  return new Promise<SshEndpoint>((resolve, reject) => {
    const conn = new Client();
    let stderr = '';
    let settled = false;
    let exitCode: number | null = null;
    const fail = (e: H2Error): void => {
      if (settled) return;
      settled = true;
      conn.end();
      reject(e);
    };
    let live: ClientChannel | undefined;
    // The channel closed in order (the far end said all it had): the
    // connection ending after that is no failure, whatever its readers
    // have yet to take in.
    let liveClosed = false;
    conn.on('error', (e: Error & { level?: string }) => {
      // Once the stream runs, a dead connection (keepalive timeout, reset)
      // must end the channel too, or whoever reads it waits forever.
      if (settled && live) {
        if (!liveClosed) kill(live, new H2Error('H2_TRANSPORT', `ssh ${r.host}:${r.port}: ${e.message}`));
        return;
      }
      const refused = hv.refusal();
      if (refused) return fail(refused);
      if (e.level === 'client-authentication') {
        return fail(new H2Error('H2_AUTH', `authentication to ${r.user}@${r.host} refused (tried ${authHandler.length} key source(s))`,
          { hint: 'load a key into ssh-agent, or pass -i FILE' }));
      }
      fail(new H2Error('H2_TRANSPORT', `ssh ${r.host}:${r.port}: ${e.message}`));
    });
    conn.on('close', () => {
      if (live && !liveClosed && !live.destroyed) kill(live, new H2Error('H2_TRANSPORT', `ssh connection to ${r.host}:${r.port} closed`));
    });
    const adopt = (channel: ClientChannel): void => {
      channel.on('close', () => {
        liveClosed = true;
        conn.end();
      });
      settled = true;
      live = channel;
      resolve({
        readable: channel,
        writable: channel,
        failure: () => {
          const line = stderr.trim().split('\n').filter(Boolean).pop();
          if (line) return `${r.host}: ${line.replace(/^h2fs: /, '')}`;
          if (exitCode !== null && exitCode !== 0) return `${r.host}: remote h2fs exited with status ${exitCode}`;
          return undefined;
        },
        close: () => conn.end(),
      });
    };
    const execute = (): void => {
      conn.exec(command, (err, channel) => {
        if (err) return fail(new H2Error('H2_TRANSPORT', `ssh exec on ${r.host}: ${err.message}`));
        channel.stderr.setEncoding('utf8');
        channel.stderr.on('data', (c: string) => {
          stderr += c;
          if (stderr.length > 8192) stderr = stderr.slice(-8192);
        });
        channel.on('exit', (code: number | null) => { exitCode = code; });
        adopt(channel);
      });
    };
    conn.on('ready', () => {
      nudgeAcks(conn, link.sock);
      const direct = opts.direct;
      if (!direct) return execute();
      const open = (socketPath: string): Promise<ClientChannel | undefined> => new Promise((res) => {
        conn.openssh_forwardOutStreamLocal(socketPath, (err, ch) => res(err ? undefined : ch));
      });
      direct(open).catch(() => undefined).then((ch) => {
        if (settled) {
          ch?.destroy();
        } else if (ch) {
          log.debug(`h2fs: ssh ${r.user}@${r.host}:${r.port}: joined the far daemon directly (no remote h2fs)`);
          adopt(ch);
        } else {
          execute();
        }
      }, () => undefined);
    });
    conn.connect({
      sock: link.sock,
      host: r.host,
      port: r.port,
      username: r.user,
      authHandler,
      hostVerifier: hv.verify,
      readyTimeout: opts.connectTimeoutMs ?? 20_000,
      keepaliveInterval: opts.keepaliveMs ?? 3_000,
      keepaliveCountMax: 3,
    });
  });
}
