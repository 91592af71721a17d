/**
 * What a command's PATH argument names: a path inside a live mount (reached
 * through its daemon's control socket), or an unmounted store directory
 * (opened directly).
 */
import fs from 'node:fs';
import path from 'node:path';
import { H2Error } from '../errors.js';
import { parseTid } from '../tid.js';
import { isStoreDir } from '../store/is-store.js';
import { daemonPid, locateMount } from '../control/locate.js';

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
  // Through the kernel, so PFS links and other symlinks on the way are
  // followed the way the user's shell would follow them.
  let real = p;
  try {
    real = fs.realpathSync(p);
  } catch {
    real = p;
  }
  const loc = locateMount(real);
  if (loc) return { kind: 'mount', store: loc.mount.store, mountpoint: loc.mount.mountpoint, inner: loc.inner };
  const abs = path.resolve(p);
  if (isStoreDir(abs)) {
    if (daemonPid(abs) !== undefined) return { kind: 'mount', store: abs, mountpoint: undefined, inner: '/' };
    return { kind: 'store', store: abs };
  }
  throw new H2Error('ENOENT', `${cmd}: ${p}: not inside an h2fs mount, nor an h2fs store`);
}

/**
 * Where a PFS path lives: the store of the mount holding it and the path
 * inside the mount. The parent is resolved for real (so links in the way are
 * followed), the last component is kept, so a PFS link names itself.
 */
export function pathInMount(cmd: string, p: string): { store: string; inner: string } {
  const abs = path.resolve(p);
  let full = abs;
  const parent = path.dirname(abs);
  if (parent !== abs) {
    let realParent: string;
    try {
      realParent = fs.realpathSync(parent);
    } catch {
      throw new H2Error('ENOENT', `${cmd}: ${p}: no such directory ${parent}`);
    }
    full = path.join(realParent, path.basename(abs));
  }
  const loc = locateMount(full);
  if (!loc) throw new H2Error('H2_NOT_MOUNTED', `${cmd}: ${p}: not inside a mounted h2fs store`);
  return { store: loc.mount.store, inner: loc.inner };
}

