/**
 * What a command's PATH argument names: a path inside a live mount (reached
 * through its daemon's control socket), or an unmounted store directory
 * (opened directly).
 */
import path from 'node:path';
import { H2Error } from '../errors.js';
import { parseTid } from '../tid.js';
import { Store } from '../store/index.js';
import { locateMount } from '../control/locate.js';
import { daemonPid } from '../daemon/mount-daemon.js';

export type Target =
  | { kind: 'mount'; store: string; mountpoint: string | undefined; inner: string }
  | { kind: 'store'; store: string };

/** A path's `@@` suffixes must be well-formed TIDs (or PFS links). */
function checkAsOfSyntax(p: string): void {
  for (const c of p.split('/')) {
    const i = c.indexOf('@@');
    if (i < 0) continue;
    const suffix = c.slice(i + 2);
    if (/^0x[0-9a-fA-F]{16}$/.test(suffix) || (i === 0 && /^(-1|0x[0-9a-fA-F]{16}):\d{5}$/.test(suffix))) continue;
    parseTid(suffix); // throws H2_BAD_TID with the expected form
  }
}

export function resolveTarget(cmd: string, p: string): Target {
  checkAsOfSyntax(p);
  const loc = locateMount(p);
  if (loc) return { kind: 'mount', store: loc.mount.store, mountpoint: loc.mount.mountpoint, inner: loc.inner };
  const abs = path.resolve(p);
  if (Store.isStore(abs)) {
    if (daemonPid(abs) !== undefined) return { kind: 'mount', store: abs, mountpoint: undefined, inner: '/' };
    return { kind: 'store', store: abs };
  }
  throw new H2Error('ENOENT', `${cmd}: ${p}: not inside an h2fs mount, nor an h2fs store`);
}
