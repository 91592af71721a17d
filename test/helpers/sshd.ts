/**
 * A real OpenSSH sshd on 127.0.0.1 for the SSH tests: throwaway host and
 * client keys, its own config, a client HOME with known_hosts. Stopped (by
 * pid) in stop(), which tests call from after() hooks.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { tmpDir } from './tmp.js';
import { H2FS_BIN } from './h2fs.js';

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  /** HOME for the h2fs client: .ssh/id_ed25519 and .ssh/known_hosts. */
  clientHome: string;
  hostPub: string;
  stop: () => void;
}

/** The environment h2fs runs in to reach `home`'s sshd: its key and known_hosts, no agent, this build remotely. */
export function sshClientEnv(home: string): NodeJS.ProcessEnv {
  return { HOME: home, H2FS_REMOTE: `${process.execPath} ${H2FS_BIN}`, SSH_AUTH_SOCK: '' };
}

export function sshdUnavailable(): string | undefined {
  if (!fs.existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (process.getuid?.() !== 0) return 'the sshd tests run as root';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

/** `extra`: more sshd_config lines (e.g. AllowStreamLocalForwarding no). */
export async function startSshd(opts: { knownHost?: boolean; extra?: string[] } = {}): Promise<Sshd> {
  const dir = tmpDir('h2fs-sshd-');
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'hostkey')]);
  const clientHome = path.join(dir, 'home');
  const ssh = path.join(clientHome, '.ssh');
  fs.mkdirSync(ssh, { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(ssh, 'id_ed25519')]);
  fs.copyFileSync(path.join(ssh, 'id_ed25519.pub'), path.join(dir, 'authorized_keys'));
  const port = await freePort();
  const hostPub = fs.readFileSync(path.join(dir, 'hostkey.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  if (opts.knownHost ?? true) fs.writeFileSync(path.join(ssh, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`, { mode: 0o600 });
  const cfg = path.join(dir, 'sshd_config');
  fs.writeFileSync(cfg, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(dir, 'hostkey')}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`, 'PermitRootLogin yes', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'PubkeyAuthentication yes', 'LogLevel ERROR',
    'ClientAliveInterval 0', 'MaxStartups 100', 'MaxSessions 100', ...(opts.extra ?? []),
  ].join('\n') + '\n');
  let log = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { log += c; });
  await waitForPort(port, child, () => log);
  return {
    port, clientHome, hostPub,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      // Session children sshd forked for this config.
      try { execFileSync('pkill', ['-f', `sshd: .*${path.basename(dir)}`], { stdio: 'ignore' }); } catch { /* none */ }
    },
  };
}
