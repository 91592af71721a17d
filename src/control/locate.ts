/**
 * Finds the h2fs mount that holds a path, from /proc/self/mountinfo: the
 * mount's type is fuse.h2fs and its source (fsname) is the store directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pidPath } from './protocol.js';

export interface H2Mount {
  mountpoint: string;
  store: string;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function listMounts(): H2Mount[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: H2Mount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (right[0] !== 'fuse.h2fs') continue;
    out.push({ mountpoint: unescapeMountinfo(left[4] ?? ''), store: unescapeMountinfo(right[1] ?? '') });
  }
  return out;
}

/** The mount containing `p` and the path inside it ("/" for the root). */
export function locateMount(p: string): { mount: H2Mount; inner: string } | undefined {
  const abs = path.resolve(p);
  let best: H2Mount | undefined;
  for (const m of listMounts()) {
    if (abs === m.mountpoint || abs.startsWith(m.mountpoint === '/' ? '/' : m.mountpoint + '/')) {
      if (!best || m.mountpoint.length > best.mountpoint.length) best = m;
    }
  }
  if (!best) return undefined;
  const inner = '/' + path.relative(best.mountpoint, abs);
  return { mount: best, inner: inner === '/' ? '/' : inner.replace(/\/+$/, '') };
}

export function mountAt(mountpoint: string): H2Mount | undefined {
  const abs = path.resolve(mountpoint);
  return listMounts().find((m) => m.mountpoint === abs);
}

/** Any mount (of any type) exactly at `mountpoint`. */
export function isMountpoint(mountpoint: string): boolean {
  const abs = path.resolve(mountpoint);
  try {
    const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    return text.split('\n').some((l) => unescapeMountinfo(l.split(' ')[4] ?? '') === abs);
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a live daemon serving `storeDir`, if any. */
export function daemonPid(storeDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidPath(storeDir), 'utf8').trim());
    return pid > 0 && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
