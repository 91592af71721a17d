/**
 * The pfs-* operations, run in the mount daemon: they combine the PFS headers
 * of the store with PFS links (symlinks in the root PFS) of the VFS.
 */
import { H2Error } from '../errors.js';
import { formatTid, parseTid, TID_MAX, type Tid } from '../tid.js';
import {
  checkUuid, newPfsHeader, pfsLinkTarget, RECTYPE, type PfsHeader, type PfsMode, type Store,
} from '../store/index.js';
import { splitParent, splitPath } from './path.js';
import { ROOT_OBJ, S_IFDIR, S_IFMT, Vfs } from './vfs.js';

/** What pfs-status shows, TIDs already in their text form. */
export interface PfsStatus {
  pfs: number;
  mode: PfsMode;
  syncBegTid: string;
  syncEndTid: string;
  sharedUuid: string;
  uniqueUuid: string;
  label: string;
}

/** pfs-master/pfs-slave/pfs-update options, as key=value tokens. */
export type PfsOptions = Partial<Record<'label' | 'shared-uuid' | 'unique-uuid' | 'sync-beg-tid' | 'sync-end-tid', string>>;

const OPTION_KEYS = new Set(['label', 'shared-uuid', 'unique-uuid', 'sync-beg-tid', 'sync-end-tid']);

/** Parses `key=value` tokens (pfs-status output pastes straight in). */
export function parsePfsOptions(tokens: string[]): PfsOptions {
  const out: PfsOptions = {};
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq < 0) throw H2Error.usage(`option ${t} requires an assignment (key=value)`);
    const key = t.slice(0, eq);
    let value = t.slice(eq + 1);
    if (!OPTION_KEYS.has(key)) {
      throw H2Error.usage(`unknown PFS option '${key}'`, 'H2_USAGE', 'options: label=, shared-uuid=, unique-uuid=, sync-beg-tid=, sync-end-tid=');
    }
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out[key as keyof PfsOptions] = value;
  }
  return out;
}

export class PfsAdmin {
  /** PFSes a mirror-write is applying to right now; upgrade and destroy wait. */
  readonly busy = new Set<number>();

  constructor(private readonly vfs: Vfs, private readonly store: Store) {}

  status(pfs: number): PfsStatus {
    const h = this.header(pfs);
    return {
      pfs, mode: h.mode, syncBegTid: formatTid(h.syncBegTid), syncEndTid: formatTid(this.store.syncEndTid(pfs)),
      sharedUuid: h.sharedUuid, uniqueUuid: h.uniqueUuid, label: h.label,
    };
  }

  list(): PfsStatus[] {
    return this.store.listPfs().map((p) => this.status(p));
  }

  private header(pfs: number): PfsHeader {
    const h = this.store.getPfs(pfs);
    if (!h) throw H2Error.posix('ENOENT', `PFS #${pfs} does not exist`);
    return h;
  }

  /**
   * The PFS a path names: a PFS link, a PFS root (`@@-1:0000N`), any path
   * inside a PFS, or the mount root (PFS 0). Other paths of the root PFS are
   * not PFSes.
   */
  pfsOf(path: string): number {
    const comps = splitPath(path);
    if (comps.length === 0) return 0;
    const viaLink = this.vfs.pfsOfLink(path);
    if (viaLink !== undefined) return viaLink;
    const n = this.vfs.resolve(path);
    if (n.pfs === 0) throw new H2Error('H2_NOT_PFS', 'not a PFS (give a PFS link, a PFS root or the mount root)');
    return n.pfs;
  }

  /**
   * Whether a mirror-write to `path` can start: the PFS is there, or may be
   * created (`create`) in a directory of the root PFS. Throws the reason.
   */
  checkMirrorTarget(path: string, create: boolean): void {
    try {
      this.pfsOf(path);
      return;
    } catch (e) {
      if (!(e instanceof H2Error && e.code === 'ENOENT')) throw e;
      if (!create) throw new H2Error('ENOENT', 'PFS slave does not exist', { hint: 'h2fs -y mirror-write creates it' });
    }
    const parent = this.vfs.resolve(splitParent(path)[0]);
    if ((parent.inode.mode & S_IFMT) !== S_IFDIR) throw H2Error.posix('ENOTDIR', splitParent(path)[0]);
  }

  /** pfs-master / pfs-slave: a new PFS and its link at `path` (in the root PFS). */
  create(path: string, mode: PfsMode, opts: PfsOptions): PfsStatus {
    if (path.endsWith('/')) throw H2Error.usage('the PFS link path must not end with /');
    if (mode === 'slave' && opts['shared-uuid'] === undefined) {
      throw H2Error.usage('pfs-slave needs shared-uuid=<the master\'s shared-uuid>', 'H2_USAGE',
        'h2fs pfs-status MASTER | grep shared-uuid');
    }
    const [parentPath] = splitParent(path);
    const parent = this.vfs.resolve(parentPath);
    if (parent.pfs !== 0 || parent.asOf !== TID_MAX) {
      throw new H2Error('H2_NOT_PFS', 'PFS links may only be created in the root PFS (HAMMER: via the main filesystem mount)');
    }
    let exists = true;
    try {
      this.vfs.resolve(path);
    } catch (e) {
      if (e instanceof H2Error && e.code === 'ENOENT') exists = false;
      else throw e;
    }
    if (exists) throw H2Error.posix('EEXIST', 'already exists');
    const header = this.applyOptions(newPfsHeader(mode), opts, false);
    const pfs = this.store.allocPfsId();
    // The link first: it checks the name, and if it fails nothing is staged.
    this.vfs.symlink(pfsLinkTarget(pfs), path);
    this.store.putPfs(pfs, header);
    // A master gets its root now; a slave's root arrives with its first mirror.
    if (mode === 'master') Vfs.initRoot(this.store, pfs);
    this.store.commit();
    return this.status(pfs);
  }

  private applyOptions(h: PfsHeader, opts: PfsOptions, warn: boolean, warnings: string[] = []): PfsHeader {
    const next = { ...h };
    if (opts.label !== undefined) next.label = opts.label;
    if (opts['shared-uuid'] !== undefined) {
      const u = checkUuid(opts['shared-uuid'], 'shared-uuid');
      if (warn && u !== h.sharedUuid) {
        warnings.push('changing shared-uuid of a PFS that holds data: mirroring it with its old family can corrupt it');
      }
      next.sharedUuid = u;
    }
    if (opts['unique-uuid'] !== undefined) next.uniqueUuid = checkUuid(opts['unique-uuid'], 'unique-uuid');
    if (opts['sync-beg-tid'] !== undefined) next.syncBegTid = parseTid(opts['sync-beg-tid']);
    if (opts['sync-end-tid'] !== undefined) next.syncEndTid = parseTid(opts['sync-end-tid']);
    return next;
  }

  private hasData(pfs: number): boolean {
    return this.store.live().get({ pfs, objId: ROOT_OBJ, recType: RECTYPE.INODE, key: 0n }) !== undefined;
  }

  update(pfs: number, opts: PfsOptions): { status: PfsStatus; warnings: string[] } {
    if (pfs === 0 && Object.keys(opts).some((k) => k !== 'label')) {
      throw H2Error.usage('PFS #0 (the root) takes only label=');
    }
    const warnings: string[] = [];
    const h = this.header(pfs);
    const next = this.applyOptions(h, opts, this.hasData(pfs), warnings);
    this.store.putPfs(pfs, next);
    this.store.commit();
    return { status: this.status(pfs), warnings };
  }

  /** Slave to master: drop what is newer than sync-end-tid, then allow writes. */
  upgrade(pfs: number): { status: PfsStatus; rolledBackTo: string; dropped: number; undeleted: number } {
    if (pfs === 0) throw H2Error.usage('PFS #0 is always a master');
    const h = this.header(pfs);
    if (h.mode === 'master') throw new H2Error('H2_PFS_STATE', `PFS #${pfs} is already a master`);
    if (this.busy.has(pfs)) throw new H2Error('H2_BUSY', `PFS #${pfs} is being written by mirror-write; stop it first`);
    const end: Tid = h.syncEndTid;
    const r = this.store.rollbackPfs(pfs, end);
    // New files must not reuse obj_ids that arrived by mirroring.
    this.store.reserveObjIds(pfs);
    // New TIDs of the promoted PFS must sort after everything it received.
    this.store.raiseLastTid(end);
    this.store.putPfs(pfs, { ...h, mode: 'master' });
    if (!this.hasData(pfs)) Vfs.initRoot(this.store, pfs);
    this.store.commit();
    return { status: this.status(pfs), rolledBackTo: formatTid(end), ...r };
  }

  /** Master to slave, locked at its last committed TID. */
  downgrade(pfs: number): PfsStatus {
    if (pfs === 0) throw H2Error.usage('PFS #0 is always a master');
    const h = this.header(pfs);
    if (h.mode === 'slave') throw new H2Error('H2_PFS_STATE', `PFS #${pfs} is already a slave`);
    this.store.commit();
    const end = this.store.lastTid > h.syncEndTid ? this.store.lastTid : h.syncEndTid;
    this.store.putPfs(pfs, { ...h, mode: 'slave', syncEndTid: end });
    this.store.commit();
    return this.status(pfs);
  }

  /** Removes every record of the PFS, then its link at `linkPath` if given. */
  destroy(pfs: number, linkPath: string | undefined): { removed: number; label: string } {
    if (pfs === 0) throw H2Error.usage('PFS #0 (the root) cannot be destroyed');
    const h = this.header(pfs);
    if (this.busy.has(pfs)) throw new H2Error('H2_BUSY', `PFS #${pfs} is being written by mirror-write; stop it first`);
    if (linkPath !== undefined && this.vfs.pfsOfLink(linkPath) === pfs) this.vfs.unlink(linkPath);
    const removed = this.store.destroyPfs(pfs);
    this.store.commit();
    return { removed, label: h.label };
  }
}
