/**
 * POSIX semantics over the history store. Paths come from FUSE; `@@` views
 * resolve here (not in the FUSE adapter). Every method is synchronous except
 * the ones that wait for durability, so FUSE requests never interleave inside
 * a change. Errors are H2Errors with errno codes.
 */
import fs from 'node:fs';
import { H2Error } from '../errors.js';
import { formatTid, TID_MAX, type Tid } from '../tid.js';
import {
  OBJTYPE, RECTYPE, parsePfsLinkTarget, type DirentPayload, type InodePayload, type LogicalKey, type ObjType,
  type RecordView, type Store, type SymlinkPayload, type XattrPayload,
} from '../store/index.js';
import { BlockPool } from './block-pool.js';
import { NAMEKEY_SLOTS, nameKeyBase } from './namekey.js';
import { parseComponent, splitParent, splitPath } from './path.js';

export const BLOCK_SIZE = 64 * 1024;
/** Disk space kept free for LMDB's B-tree pages and meta pages. */
const SPACE_RESERVE = 8 * 1024 * 1024;
const NAME_MAX = 255;
/** Resolved paths kept (see resolve); a full cache starts over. */
const MAX_RESOLVED = 65_536;
export const ROOT_OBJ = 1;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;

const O_ACCMODE = 3;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

export interface Attr {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** Where a path lands: an object of a PFS, seen as of a TID (TID_MAX = live). */
export interface Node {
  readonly pfs: number;
  readonly objId: number;
  readonly asOf: Tid;
  readonly inode: Readonly<InodePayload>;
}

interface Handle {
  pfs: number;
  objId: number;
  asOf: Tid;
  writable: boolean;
}

/**
 * The default of `-o dirty_max`. The group filling, the group in flight and
 * LMDB's copy of it in the commit thread's transaction are all the daemon's
 * own memory, about three times this. With the commit thread, smaller groups
 * cost no speed: 1 GiB written at 8 MiB ran as fast as at 32 MiB (tmpfs and
 * disk stores), and the daemon's peak fell by 30-60 MiB.
 */
export const DEFAULT_DIRTY_MAX = 8 * 1024 * 1024;

export interface VfsOptions {
  readOnly?: boolean;
  /** Commit the flush group early once its blocks hold this many bytes. */
  maxDirtyBytes?: number;
  uid?: number;
  gid?: number;
}

function objTypeOfMode(mode: number): ObjType {
  switch (mode & S_IFMT) {
    case S_IFDIR: return OBJTYPE.DIRECTORY;
    case S_IFLNK: return OBJTYPE.SYMLINK;
    case S_IFIFO: return OBJTYPE.FIFO;
    case S_IFCHR: return OBJTYPE.CHARDEV;
    case S_IFBLK: return OBJTYPE.BLOCKDEV;
    case S_IFSOCK: return OBJTYPE.SOCKET;
    default: return OBJTYPE.REGFILE;
  }
}

function inodeKey(pfs: number, objId: number): LogicalKey {
  return { pfs, objId, recType: RECTYPE.INODE, key: 0n };
}

function blockKey(pfs: number, objId: number, block: number): LogicalKey {
  return { pfs, objId, recType: RECTYPE.DATA, key: BigInt(block) };
}

function checkName(name: string): void {
  if (Buffer.byteLength(name) > NAME_MAX) throw H2Error.posix('ENAMETOOLONG', `name too long: ${name.slice(0, 40)}...`);
  if (name.includes('@@')) throw H2Error.posix('EINVAL', `names containing '@@' are reserved for history views: ${name}`);
}

export class Vfs {
  readonly store: Store;
  private readonly readOnly: boolean;
  private readonly maxDirtyBytes: number;
  private readonly handles = new Map<number, Handle>();
  private readonly resolved = new Map<string, Node>();
  private resolvedGen = -1;
  private nextFh = 1;
  private readonly uid: number;
  private readonly gid: number;
  private freeBytes = Number.POSITIVE_INFINITY;
  private freeCheckedAt = 0;
  private landedAtCheck = 0;
  /** Full-size block buffers (see blockBuffer). */
  private readonly blocks: BlockPool;

  constructor(store: Store, opts: VfsOptions = {}) {
    this.store = store;
    this.readOnly = opts.readOnly ?? false;
    this.maxDirtyBytes = opts.maxDirtyBytes ?? DEFAULT_DIRTY_MAX;
    // A steady write holds two groups' worth: the one filling and the one in flight.
    this.blocks = new BlockPool(BLOCK_SIZE, Math.ceil(this.maxDirtyBytes / BLOCK_SIZE) + 1);
    store.recycleBlock = (b: Buffer): void => this.blocks.give(b);
    this.uid = opts.uid ?? (process.getuid?.() ?? 0);
    this.gid = opts.gid ?? (process.getgid?.() ?? 0);
  }

  /** Creates PFS `pfs`'s root directory in the flush group (newfs, pfs-master). */
  static initRoot(store: Store, pfs: number, mode = 0o755): void {
    const now = Date.now();
    const root: InodePayload = {
      v: 1, objType: OBJTYPE.DIRECTORY, mode: S_IFDIR | mode, uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0, size: 0, nlink: 2, rdev: 0, atime: now, mtime: now, ctime: now,
    };
    store.stage({ lk: inodeKey(pfs, ROOT_OBJ), payload: root });
  }

  // ---- views and resolution -------------------------------------------------

  private view(asOf: Tid): RecordView {
    return asOf === TID_MAX ? this.store.live() : this.store.asOf(asOf);
  }

  /**
   * A TID past what a PFS holds whole (not yet committed on a master, not yet
   * synced on a slave) has no immutable view: refuse rather than show a state
   * that could still change.
   */
  private checkTid(pfs: number, tid: Tid): void {
    if (tid > this.store.syncEndTid(pfs)) throw H2Error.posix('ENOENT', 'TID is beyond what this PFS holds');
  }

  /** Enters PFS `pfs` at `tid` (TID_MAX: its head; a slave's head is its sync-end-tid). */
  private enterPfs(pfs: number, tid: Tid): { asOf: Tid; inode: InodePayload } {
    const h = this.store.getPfs(pfs);
    if (!h) throw H2Error.posix('ENOENT', `PFS #${pfs} does not exist`);
    let asOf = tid;
    if (h.mode === 'slave') {
      const end = this.store.syncEndTid(pfs);
      if (asOf === TID_MAX) asOf = end;
      else if (asOf > end) throw H2Error.posix('ENOENT', `PFS #${pfs} is synced only up to its sync-end-tid`);
    } else if (asOf !== TID_MAX) {
      this.checkTid(pfs, asOf);
    }
    const inode = this.inodeAt(this.view(asOf), pfs, ROOT_OBJ);
    if (!inode) {
      throw H2Error.posix('ENOENT', h.mode === 'slave'
        ? `slave PFS #${pfs} has no root until its first mirror-write`
        : `PFS #${pfs} has no root at that TID`);
    }
    return { asOf, inode };
  }

  private inodeAt(view: RecordView, pfs: number, objId: number): InodePayload | undefined {
    return view.get<InodePayload>(inodeKey(pfs, objId));
  }

  private lookupDirent(view: RecordView, pfs: number, dirObj: number, name: string):
    { key: bigint; dirent: DirentPayload } | undefined {
    const base = nameKeyBase(name);
    for (const r of view.scan<DirentPayload>(pfs, dirObj, RECTYPE.DIRENTRY, base, base + NAMEKEY_SLOTS - 1n)) {
      if (r.payload.name === name) return { key: r.key, dirent: r.payload };
    }
    return undefined;
  }

  /**
   * Resolves a FUSE path to a node. Throws ENOENT/ENOTDIR. Successful answers
   * are kept until the store's live generation moves: a stat-heavy workload
   * (ls -l, rsync's scan, a build's make) asks for the same paths over and
   * over, and each walk costs a few head-cache reads per component.
   */
  resolve(path: string): Node {
    const gen = this.store.liveGeneration();
    if (gen === undefined) return this.walk(path);
    if (gen !== this.resolvedGen) {
      this.resolved.clear();
      this.resolvedGen = gen;
    }
    const hit = this.resolved.get(path);
    if (hit) return hit;
    // From the parent, itself resolved through the cache: a directory's
    // entries are looked up one after another, and its own walk is shared.
    const i = path.lastIndexOf('/');
    const last = path.slice(i + 1);
    const n = i >= 0 && last !== '' && last !== '.'
      ? this.step(this.resolve(i === 0 ? '/' : path.slice(0, i)), last)
      : this.walk(path);
    if (this.resolved.size >= MAX_RESOLVED) this.resolved.clear();
    this.resolved.set(path, n);
    return n;
  }

  private walk(path: string): Node {
    const inode = this.inodeAt(this.store.live(), 0, ROOT_OBJ);
    if (!inode) throw H2Error.posix('ENOENT', 'store has no root');
    let n: Node = { pfs: 0, objId: ROOT_OBJ, asOf: TID_MAX, inode };
    for (const raw of splitPath(path)) n = this.step(n, raw);
    return n;
  }

  /** One path component down from `from`. */
  private step(from: Node, raw: string): Node {
    if (raw === '..') throw H2Error.posix('EINVAL', "'..' in a FUSE path");
    if ((from.inode.mode & S_IFMT) !== S_IFDIR) throw H2Error.posix('ENOTDIR', raw);
    const { pfs, objId } = from;
    const c = parseComponent(raw);
    if (c.kind === 'pfs') {
      // HAMMER: PFS links are reached through the root PFS only.
      if (pfs !== 0) throw H2Error.posix('ENOENT', 'PFS paths resolve through the root PFS only');
      const e = this.enterPfs(c.pfs, c.tid);
      return { pfs: c.pfs, objId: ROOT_OBJ, asOf: e.asOf, inode: e.inode };
    }
    if (c.kind === 'asof') {
      this.checkTid(pfs, c.tid);
      const view = this.store.asOf(c.tid);
      let target = objId;
      if (c.name !== null) {
        const d = this.lookupDirent(view, pfs, objId, c.name);
        if (!d) throw H2Error.posix('ENOENT', `no such file or directory: ${raw}`);
        target = d.dirent.objId;
      }
      const inode = this.inodeAt(view, pfs, target);
      if (!inode) throw H2Error.posix('ENOENT', `no such file or directory: ${raw}`);
      return { pfs, objId: target, asOf: c.tid, inode };
    }
    const view = this.view(from.asOf);
    const d = this.lookupDirent(view, pfs, objId, c.name);
    if (!d) throw H2Error.posix('ENOENT', `no such file or directory: ${raw}`);
    const inode = this.inodeAt(view, pfs, d.dirent.objId);
    if (!inode) throw H2Error.store(`dirent ${c.name} points at missing inode ${d.dirent.objId}`);
    return { pfs, objId: d.dirent.objId, asOf: from.asOf, inode };
  }

  private resolveWritable(path: string): Node {
    const n = this.resolve(path);
    this.checkWritable(n);
    return n;
  }

  private checkWritable(n: { asOf: Tid; pfs: number }): void {
    if (n.asOf !== TID_MAX) throw H2Error.posix('EROFS', 'history views are read-only');
    if (this.readOnly) throw H2Error.posix('EROFS', 'mounted read-only');
    if (n.pfs !== 0 && this.store.getPfs(n.pfs)?.mode !== 'master') throw H2Error.posix('EROFS', 'slave PFSes are read-only');
  }

  /** Parent directory (writable, live) and the new name, for create-like ops. */
  private resolveParent(path: string): { dir: Node; name: string } {
    const [parentPath, name] = splitParent(path);
    const c = parseComponent(name);
    if (c.kind !== 'name') throw H2Error.posix('EROFS', 'history views are read-only');
    const dir = this.resolve(parentPath);
    this.checkWritable(dir);
    if ((dir.inode.mode & S_IFMT) !== S_IFDIR) throw H2Error.posix('ENOTDIR', parentPath);
    checkName(name);
    return { dir, name };
  }

  // ---- attributes -------------------------------------------------------------

  toAttr(objId: number, i: InodePayload): Attr {
    return {
      ino: objId, mode: i.mode, uid: i.uid, gid: i.gid, size: i.size, nlink: i.nlink, rdev: i.rdev,
      blksize: BLOCK_SIZE, blocks: Math.ceil(i.size / 512), atime: i.atime, mtime: i.mtime, ctime: i.ctime,
    };
  }

  getattr(path: string): Attr {
    const n = this.resolve(path);
    const a = this.toAttr(n.objId, n.inode);
    if ((n.inode.mode & S_IFMT) === S_IFLNK && n.pfs === 0) {
      const dyn = this.pfsLinkText(n);
      if (dyn !== undefined) a.size = Buffer.byteLength(dyn);
    }
    return a;
  }

  /**
   * What readlink shows for a PFS link (stored as `@@PFS0000N`): `@@-1:0000N`
   * for a master, `@@0x<sync-end-tid>:0000N` for a slave, so following the
   * link lands on the slave's last whole TID and moves as it syncs.
   */
  private pfsLinkText(n: Node): string | undefined {
    if (n.inode.size !== 10) return undefined;
    const s = this.view(n.asOf).get<SymlinkPayload>({ pfs: n.pfs, objId: n.objId, recType: RECTYPE.SYMLINK, key: 0n });
    const pfs = s ? parsePfsLinkTarget(s.target) : undefined;
    if (pfs === undefined) return undefined;
    const h = this.store.getPfs(pfs);
    const num = String(pfs).padStart(5, '0');
    if (!h || h.mode === 'master') return `@@-1:${num}`;
    return `@@${formatTid(this.store.syncEndTid(pfs))}:${num}`;
  }

  /** The PFS a PFS link at `path` names, if it is one. */
  pfsOfLink(path: string): number | undefined {
    const n = this.resolve(path);
    if ((n.inode.mode & S_IFMT) !== S_IFLNK || n.pfs !== 0) return undefined;
    const s = this.view(n.asOf).get<SymlinkPayload>({ pfs: n.pfs, objId: n.objId, recType: RECTYPE.SYMLINK, key: 0n });
    return s ? parsePfsLinkTarget(s.target) : undefined;
  }

  fgetattr(fh: number): Attr {
    const h = this.handle(fh);
    const i = this.inodeAt(this.view(h.asOf), h.pfs, h.objId);
    if (!i) throw H2Error.posix('ENOENT', 'open file has no inode');
    return this.toAttr(h.objId, i);
  }

  private putInode(pfs: number, objId: number, inode: InodePayload): void {
    this.store.stage({ lk: inodeKey(pfs, objId), payload: inode });
  }

  private liveInode(pfs: number, objId: number): InodePayload {
    const i = this.inodeAt(this.store.live(), pfs, objId);
    if (!i) throw H2Error.posix('ENOENT', `inode ${objId} is gone`);
    return i;
  }

  chmod(path: string, mode: number): void {
    const n = this.resolveWritable(path);
    this.putInode(n.pfs, n.objId, { ...n.inode, mode: (n.inode.mode & S_IFMT) | (mode & 0o7777), ctime: Date.now() });
  }

  chown(path: string, uid: number, gid: number): void {
    const n = this.resolveWritable(path);
    // (uid_t)-1 / (gid_t)-1 mean "leave unchanged".
    const next = { ...n.inode, ctime: Date.now() };
    if (uid !== 0xffffffff && uid !== -1) next.uid = uid;
    if (gid !== 0xffffffff && gid !== -1) next.gid = gid;
    this.putInode(n.pfs, n.objId, next);
  }

  /** Times in ms; fuse-native turns UTIME_NOW/UTIME_OMIT (tv_sec 0) into 1073. */
  utimens(path: string, atime: number, mtime: number): void {
    const n = this.resolveWritable(path);
    const now = Date.now();
    const fix = (t: number): number => (t === 1073 ? now : t);
    this.putInode(n.pfs, n.objId, { ...n.inode, atime: fix(atime), mtime: fix(mtime), ctime: now });
  }

  // ---- directories --------------------------------------------------------------

  readdir(path: string): string[] {
    const n = this.resolve(path);
    if ((n.inode.mode & S_IFMT) !== S_IFDIR) throw H2Error.posix('ENOTDIR', path);
    const names = ['.', '..'];
    for (const r of this.view(n.asOf).scan<DirentPayload>(n.pfs, n.objId, RECTYPE.DIRENTRY)) names.push(r.payload.name);
    return names;
  }

  private addDirent(dir: Node, name: string, objId: number, objType: ObjType): void {
    const view = this.store.live();
    const base = nameKeyBase(name);
    const used = new Set<bigint>();
    for (const r of view.scan<DirentPayload>(dir.pfs, dir.objId, RECTYPE.DIRENTRY, base, base + NAMEKEY_SLOTS - 1n)) {
      if (r.payload.name === name) throw H2Error.posix('EEXIST', name);
      used.add(r.key);
    }
    let key = base;
    while (used.has(key)) key++;
    if (key >= base + NAMEKEY_SLOTS) throw H2Error.posix('ENOSPC', 'too many names with one hash');
    this.store.stage({
      lk: { pfs: dir.pfs, objId: dir.objId, recType: RECTYPE.DIRENTRY, key },
      payload: { v: 1, name, objId, objType } satisfies DirentPayload,
    });
  }

  private removeDirent(dir: { pfs: number; objId: number }, key: bigint): void {
    this.store.stage({ lk: { pfs: dir.pfs, objId: dir.objId, recType: RECTYPE.DIRENTRY, key }, payload: null });
  }

  private touchDir(pfs: number, objId: number, nlinkDelta = 0): void {
    const i = this.liveInode(pfs, objId);
    const now = Date.now();
    this.putInode(pfs, objId, { ...i, nlink: i.nlink + nlinkDelta, mtime: now, ctime: now });
  }

  private newObject(dir: Node, name: string, mode: number, rdev = 0): { objId: number; inode: InodePayload } {
    const objId = this.store.allocObjId(dir.pfs);
    const now = Date.now();
    const objType = objTypeOfMode(mode);
    const inode: InodePayload = {
      v: 1, objType, mode, uid: this.uid, gid: this.gid, size: 0,
      nlink: objType === OBJTYPE.DIRECTORY ? 2 : 1, rdev, atime: now, mtime: now, ctime: now,
    };
    // setgid directories pass their group on, as on ext4.
    if (dir.inode.mode & 0o2000) {
      inode.gid = dir.inode.gid;
      if (objType === OBJTYPE.DIRECTORY) inode.mode |= 0o2000;
    }
    this.addDirent(dir, name, objId, objType);
    this.putInode(dir.pfs, objId, inode);
    this.touchDir(dir.pfs, dir.objId, objType === OBJTYPE.DIRECTORY ? 1 : 0);
    return { objId, inode };
  }

  mkdir(path: string, mode: number): Attr {
    const { dir, name } = this.resolveParent(path);
    const o = this.newObject(dir, name, S_IFDIR | (mode & 0o7777));
    return this.toAttr(o.objId, o.inode);
  }

  mknod(path: string, mode: number, rdev: number): Attr {
    const { dir, name } = this.resolveParent(path);
    const t = mode & S_IFMT;
    if (t !== S_IFIFO && t !== S_IFCHR && t !== S_IFBLK && t !== S_IFSOCK && t !== S_IFREG && t !== 0) {
      throw H2Error.posix('EINVAL', 'mknod of this file type');
    }
    const o = this.newObject(dir, name, (t === 0 ? S_IFREG : t) | (mode & 0o7777), rdev);
    return this.toAttr(o.objId, o.inode);
  }

  symlink(target: string, path: string): Attr {
    const { dir, name } = this.resolveParent(path);
    const o = this.newObject(dir, name, S_IFLNK | 0o777);
    const size = Buffer.byteLength(target);
    const inode = { ...o.inode, size };
    this.putInode(dir.pfs, o.objId, inode);
    this.store.stage({
      lk: { pfs: dir.pfs, objId: o.objId, recType: RECTYPE.SYMLINK, key: 0n },
      payload: { v: 1, target } satisfies SymlinkPayload,
    });
    return this.toAttr(o.objId, inode);
  }

  readlink(path: string): string {
    const n = this.resolve(path);
    if ((n.inode.mode & S_IFMT) !== S_IFLNK) throw H2Error.posix('EINVAL', 'not a symlink');
    if (n.pfs === 0) {
      const dyn = this.pfsLinkText(n);
      if (dyn !== undefined) return dyn;
    }
    const s = this.view(n.asOf).get<SymlinkPayload>({ pfs: n.pfs, objId: n.objId, recType: RECTYPE.SYMLINK, key: 0n });
    if (!s) throw H2Error.store(`symlink ${n.objId} has no target record`);
    return s.target;
  }

  /** Stages the deletion of every live record of an object. */
  private destroyObject(pfs: number, objId: number): void {
    for (const lk of this.store.live().ownedKeys(pfs, objId)) this.store.stage({ lk, payload: null });
    this.store.stage({ lk: inodeKey(pfs, objId), payload: null });
  }

  /** Drops one link to `objId`; the object goes when its last link does. */
  private dropLink(pfs: number, objId: number): void {
    const i = this.liveInode(pfs, objId);
    const isDir = (i.mode & S_IFMT) === S_IFDIR;
    if (isDir || i.nlink <= 1) this.destroyObject(pfs, objId);
    else this.putInode(pfs, objId, { ...i, nlink: i.nlink - 1, ctime: Date.now() });
  }

  unlink(path: string): void {
    const { dir, name } = this.resolveParent(path);
    const d = this.lookupDirent(this.store.live(), dir.pfs, dir.objId, name);
    if (!d) throw H2Error.posix('ENOENT', name);
    if (d.dirent.objType === OBJTYPE.DIRECTORY) throw H2Error.posix('EISDIR', name);
    this.removeDirent(dir, d.key);
    this.dropLink(dir.pfs, d.dirent.objId);
    this.touchDir(dir.pfs, dir.objId);
  }

  private isEmptyDir(pfs: number, objId: number): boolean {
    return this.store.live().scan(pfs, objId, RECTYPE.DIRENTRY).length === 0;
  }

  rmdir(path: string): void {
    const { dir, name } = this.resolveParent(path);
    const d = this.lookupDirent(this.store.live(), dir.pfs, dir.objId, name);
    if (!d) throw H2Error.posix('ENOENT', name);
    if (d.dirent.objType !== OBJTYPE.DIRECTORY) throw H2Error.posix('ENOTDIR', name);
    if (!this.isEmptyDir(dir.pfs, d.dirent.objId)) throw H2Error.posix('ENOTEMPTY', name);
    this.removeDirent(dir, d.key);
    this.destroyObject(dir.pfs, d.dirent.objId);
    this.touchDir(dir.pfs, dir.objId, -1);
  }

  rename(from: string, to: string): void {
    const src = this.resolveParent(from);
    const dst = this.resolveParent(to);
    if (src.dir.pfs !== dst.dir.pfs) throw H2Error.posix('EXDEV', 'rename across PFSes');
    const live = this.store.live();
    const s = this.lookupDirent(live, src.dir.pfs, src.dir.objId, src.name);
    if (!s) throw H2Error.posix('ENOENT', src.name);
    const srcIsDir = s.dirent.objType === OBJTYPE.DIRECTORY;
    if (srcIsDir && (to + '/').startsWith(from + '/') && to !== from) {
      throw H2Error.posix('EINVAL', 'cannot move a directory into itself');
    }
    const t = this.lookupDirent(live, dst.dir.pfs, dst.dir.objId, dst.name);
    if (t) {
      if (t.dirent.objId === s.dirent.objId) return; // same object: POSIX says do nothing
      const dstIsDir = t.dirent.objType === OBJTYPE.DIRECTORY;
      if (srcIsDir && !dstIsDir) throw H2Error.posix('ENOTDIR', dst.name);
      if (!srcIsDir && dstIsDir) throw H2Error.posix('EISDIR', dst.name);
      if (dstIsDir && !this.isEmptyDir(dst.dir.pfs, t.dirent.objId)) throw H2Error.posix('ENOTEMPTY', dst.name);
      this.removeDirent(dst.dir, t.key);
      this.dropLink(dst.dir.pfs, t.dirent.objId);
      if (dstIsDir) this.touchDir(dst.dir.pfs, dst.dir.objId, -1);
    }
    this.removeDirent(src.dir, s.key);
    this.addDirent(dst.dir, dst.name, s.dirent.objId, s.dirent.objType);
    const moved = srcIsDir && src.dir.objId !== dst.dir.objId ? 1 : 0;
    this.touchDir(src.dir.pfs, src.dir.objId, -moved);
    if (dst.dir.objId !== src.dir.objId) this.touchDir(dst.dir.pfs, dst.dir.objId, moved);
    const i = this.liveInode(src.dir.pfs, s.dirent.objId);
    this.putInode(src.dir.pfs, s.dirent.objId, { ...i, ctime: Date.now() });
  }

  link(from: string, to: string): Attr {
    const n = this.resolveWritable(from);
    if ((n.inode.mode & S_IFMT) === S_IFDIR) throw H2Error.posix('EPERM', 'hard link to a directory');
    const { dir, name } = this.resolveParent(to);
    if (dir.pfs !== n.pfs) throw H2Error.posix('EXDEV', 'link across PFSes');
    this.addDirent(dir, name, n.objId, n.inode.objType);
    const inode = { ...this.liveInode(n.pfs, n.objId) };
    inode.nlink += 1;
    inode.ctime = Date.now();
    this.putInode(n.pfs, n.objId, inode);
    this.touchDir(dir.pfs, dir.objId);
    return this.toAttr(n.objId, inode);
  }

  // ---- files ------------------------------------------------------------------

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw H2Error.posix('EBADF', `no open file ${fh}`);
    return h;
  }

  private newHandle(h: Handle): number {
    const fh = this.nextFh++;
    if (this.nextFh > 0xfffffff0) this.nextFh = 1;
    this.handles.set(fh, h);
    return fh;
  }

  open(path: string, flags: number): number {
    const n = this.resolve(path);
    const writable = (flags & O_ACCMODE) !== 0;
    if (writable) this.checkWritable(n);
    if (writable && (n.inode.mode & S_IFMT) === S_IFDIR) throw H2Error.posix('EISDIR', path);
    return this.newHandle({ pfs: n.pfs, objId: n.objId, asOf: n.asOf, writable });
  }

  create(path: string, mode: number): number {
    const { dir, name } = this.resolveParent(path);
    const o = this.newObject(dir, name, S_IFREG | (mode & 0o7777));
    return this.newHandle({ pfs: dir.pfs, objId: o.objId, asOf: TID_MAX, writable: true });
  }

  release(fh: number): void {
    this.handles.delete(fh);
  }

  get openHandles(): number {
    return this.handles.size;
  }

  read(fh: number, buf: Buffer, len: number, offset: number): number {
    const h = this.handle(fh);
    const view = this.view(h.asOf);
    const inode = this.inodeAt(view, h.pfs, h.objId);
    if (!inode) throw H2Error.posix('ENOENT', 'open file has no inode');
    if ((inode.mode & S_IFMT) === S_IFDIR) throw H2Error.posix('EISDIR', 'read of a directory');
    const end = Math.min(offset + len, inode.size);
    if (offset >= end) return 0;
    let pos = offset;
    while (pos < end) {
      const block = Math.floor(pos / BLOCK_SIZE);
      const inBlock = pos - block * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - inBlock, end - pos);
      const avail = view.copyData(blockKey(h.pfs, h.objId, block), buf, pos - offset, inBlock, n);
      if (avail < n) buf.fill(0, pos - offset + avail, pos - offset + n);
      pos += n;
    }
    return end - offset;
  }

  /**
   * Writes into the flush group's copy of each block, so repeated small writes
   * to one block stage one record version per TID, not one per call.
   */
  write(fh: number, buf: Buffer, len: number, offset: number): number {
    const h = this.handle(fh);
    if (!h.writable) throw H2Error.posix('EBADF', 'file not open for writing');
    this.checkWritable(h);
    const inode = this.liveInode(h.pfs, h.objId);
    this.checkSpace(len);
    let pos = offset;
    const end = offset + len;
    while (pos < end) {
      const block = Math.floor(pos / BLOCK_SIZE);
      const inBlock = pos - block * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - inBlock, end - pos);
      this.writeBlock(h.pfs, h.objId, block, inBlock, buf.subarray(pos - offset, pos - offset + n));
      pos += n;
    }
    const now = Date.now();
    this.putInode(h.pfs, h.objId, { ...inode, size: Math.max(inode.size, end), mtime: now, ctime: now });
    this.maybeFlushEarly();
    return len;
  }

  private writeBlock(pfs: number, objId: number, block: number, at: number, bytes: Buffer): void {
    const lk = blockKey(pfs, objId, block);
    const group = this.store.group;
    const staged = group.get(lk);
    const need = at + bytes.length;
    let data: Buffer;
    let len: number;
    let pooled = false;
    if (staged && staged.payload !== null && staged.data) {
      data = staged.data;
      len = (staged.payload as { len: number }).len;
      pooled = staged.pooled === true;
    } else {
      const cur = staged ? undefined : this.store.live().getData(lk);
      len = cur ? cur.length : 0;
      data = this.blockBuffer(Math.max(need, len));
      pooled = data.length === BLOCK_SIZE;
      if (cur) cur.copy(data, 0, 0, len);
    }
    if (need > data.length) {
      const bigger = this.blockBuffer(need);
      data.copy(bigger, 0, 0, len);
      data = bigger;
      pooled = data.length === BLOCK_SIZE;
    }
    if (at > len) data.fill(0, len, at);
    bytes.copy(data, at);
    len = Math.max(len, need);
    this.store.stage({ lk, payload: { v: 1, len }, data, ...(pooled ? { pooled } : {}) });
  }

  /**
   * The pooled block buffers' pages go back to the kernel (the daemon calls it
   * when a commit interval passed with no change). False if there was nothing to give.
   */
  releaseBlockPool(): boolean {
    return this.blocks.releaseIdle();
  }

  /**
   * A buffer for a block of `n` bytes: full-size ones come from the block
   * pool and go back to it once committed (one fresh 64 KiB allocation per
   * block made V8 run a full collection every few MiB written, marking every
   * cache it holds).
   * Bytes past the block's `len` are never read, so they need no zeroing.
   */
  private blockBuffer(n: number): Buffer {
    const cap = capacityFor(n);
    return cap === BLOCK_SIZE ? this.blocks.take() : Buffer.alloc(cap);
  }

  /**
   * Refuses a write with ENOSPC while the store's disk could not take the
   * flush group: better than accepting data that can never commit. statfs is
   * sampled at most every 100 ms; groups that landed since the sample left
   * the staged count but not yet the free count, so they are counted too. The
   * reserve covers LMDB's own pages.
   */
  private checkSpace(incoming: number): void {
    const now = Date.now();
    if (now - this.freeCheckedAt > 100) {
      const s = fs.statfsSync(this.store.dir);
      this.freeBytes = s.bavail * s.bsize;
      this.freeCheckedAt = now;
      this.landedAtCheck = this.store.landedDataBytes;
    }
    const sinceCheck = this.store.landedDataBytes - this.landedAtCheck;
    const need = (this.store.stagedDataBytes + sinceCheck + incoming) * 1.25 + SPACE_RESERVE;
    if (this.freeBytes < need) throw H2Error.posix('ENOSPC', 'no space left for the flush group');
  }

  private maybeFlushEarly(): void {
    if (this.store.group.dataBytes >= this.maxDirtyBytes) this.store.commit();
  }

  private truncateObject(pfs: number, objId: number, inode: InodePayload, size: number): void {
    if (size < inode.size) {
      const live = this.store.live();
      const keep = Math.ceil(size / BLOCK_SIZE);
      for (const r of live.scan(pfs, objId, RECTYPE.DATA, BigInt(keep))) {
        this.store.stage({ lk: blockKey(pfs, objId, Number(r.key)), payload: null });
      }
      const tail = size % BLOCK_SIZE;
      if (tail !== 0) {
        const lk = blockKey(pfs, objId, keep - 1);
        const cur = live.getData(lk);
        if (cur && cur.length > tail) {
          const data = Buffer.alloc(capacityFor(tail));
          cur.copy(data, 0, 0, tail);
          this.store.stage({ lk, payload: { v: 1, len: tail }, data });
        }
      }
    }
    const now = Date.now();
    this.putInode(pfs, objId, { ...inode, size, mtime: now, ctime: now });
  }

  truncate(path: string, size: number): void {
    const n = this.resolveWritable(path);
    if ((n.inode.mode & S_IFMT) === S_IFDIR) throw H2Error.posix('EISDIR', path);
    this.truncateObject(n.pfs, n.objId, n.inode, size);
  }

  ftruncate(fh: number, size: number): void {
    const h = this.handle(fh);
    this.checkWritable(h);
    this.truncateObject(h.pfs, h.objId, this.liveInode(h.pfs, h.objId), size);
  }

  // ---- xattrs -------------------------------------------------------------------

  private findXattr(view: RecordView, n: { pfs: number; objId: number }, name: string):
    { key: bigint; x: XattrPayload } | undefined {
    const base = nameKeyBase(name);
    for (const r of view.scan<XattrPayload>(n.pfs, n.objId, RECTYPE.XATTR, base, base + NAMEKEY_SLOTS - 1n)) {
      if (r.payload.name === name) return { key: r.key, x: r.payload };
    }
    return undefined;
  }

  setxattr(path: string, name: string, value: Buffer, flags: number): void {
    const n = this.resolveWritable(path);
    // No POSIX ACLs: refusing them makes cp/tar fall back to chmod, which
    // is what keeps st_mode right.
    if (name.startsWith('system.posix_acl_')) throw H2Error.posix('EOPNOTSUPP', 'POSIX ACLs are not supported');
    const live = this.store.live();
    const cur = this.findXattr(live, n, name);
    if (cur && flags & XATTR_CREATE) throw H2Error.posix('EEXIST', name);
    if (!cur && flags & XATTR_REPLACE) throw H2Error.posix('ENODATA', name);
    let key: bigint;
    if (cur) {
      key = cur.key;
    } else {
      const base = nameKeyBase(name);
      const used = new Set(live.scan(n.pfs, n.objId, RECTYPE.XATTR, base, base + NAMEKEY_SLOTS - 1n).map((r) => r.key));
      key = base;
      while (used.has(key)) key++;
    }
    this.store.stage({
      lk: { pfs: n.pfs, objId: n.objId, recType: RECTYPE.XATTR, key },
      payload: { v: 1, name, value: Buffer.from(value) } satisfies XattrPayload,
    });
    this.putInode(n.pfs, n.objId, { ...n.inode, ctime: Date.now() });
  }

  getxattr(path: string, name: string): Buffer {
    const n = this.resolve(path);
    const x = this.findXattr(this.view(n.asOf), n, name);
    if (!x) throw H2Error.posix('ENODATA', name);
    return Buffer.from(x.x.value);
  }

  listxattr(path: string): string[] {
    const n = this.resolve(path);
    return this.view(n.asOf).scan<XattrPayload>(n.pfs, n.objId, RECTYPE.XATTR).map((r) => r.payload.name);
  }

  removexattr(path: string, name: string): void {
    const n = this.resolveWritable(path);
    const x = this.findXattr(this.store.live(), n, name);
    if (!x) throw H2Error.posix('ENODATA', name);
    this.store.stage({ lk: { pfs: n.pfs, objId: n.objId, recType: RECTYPE.XATTR, key: x.key }, payload: null });
    this.putInode(n.pfs, n.objId, { ...n.inode, ctime: Date.now() });
  }

  // ---- durability -----------------------------------------------------------------

  /** Commits the flush group (if any) and waits until it is on disk. */
  async sync(): Promise<Tid> {
    this.store.commit();
    await this.store.flushed();
    return this.store.lastTid;
  }

  statfs(): StatFs {
    const s = fs.statfsSync(this.store.dir);
    return {
      bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: 1 << 30, ffree: 1 << 29, favail: 1 << 29, namemax: NAME_MAX,
    };
  }
}

function capacityFor(n: number): number {
  let c = 512;
  while (c < n) c *= 2;
  return Math.min(Math.max(c, n), BLOCK_SIZE);
}
