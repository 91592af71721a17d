import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { formatPfsStatus } from '../../../src/cli/commands/pfs.js';
import { H2Error } from '../../../src/errors.js';
import {
  newPfsHeader, pfsHeaderKey, RECTYPE, Store, type DirentPayload, type PfsHeader, type StagedRecord, type StoredRecord,
} from '../../../src/store/index.js';
import { formatTid, TID_MAX, type Tid } from '../../../src/tid.js';
import { parsePfsOptions, PfsAdmin, ROOT_OBJ, Vfs } from '../../../src/vfs/index.js';
import { removeTmpDirs, tmpStore } from '../../helpers/tmp.js';
import { codeOf } from '../../helpers/errors.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TID_ONE = '0x0000000000000001';

function errorOf(fn: () => unknown): H2Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof H2Error) return e;
    throw e;
  }
  throw new Error('expected an H2Error');
}

/** a > b (chai's typings take no bigint). */
function expectAbove(a: bigint | number, b: bigint | number, what = ''): void {
  expect(a > b, `${what} expected ${a} > ${b}`).to.equal(true);
}

/** a <= b. */
function expectAtMost(a: bigint, b: bigint, what = ''): void {
  expect(a <= b, `${what} expected ${a} <= ${b}`).to.equal(true);
}

function commitTid(store: Store): Tid {
  const r = store.commit();
  expect(r, 'commit should write something').to.not.equal(null);
  return r!.tid;
}

/** Creates or overwrites a file with exactly `data`. */
function writeFile(vfs: Vfs, path: string, data: string): void {
  const buf = Buffer.from(data);
  let fh: number;
  try {
    vfs.truncate(path, 0);
    fh = vfs.open(path, O_WRONLY);
  } catch (e) {
    if (!(e instanceof H2Error) || e.code !== 'ENOENT') throw e;
    fh = vfs.create(path, 0o644);
  }
  try {
    expect(vfs.write(fh, buf, buf.length, 0)).to.equal(buf.length);
  } finally {
    vfs.release(fh);
  }
}

function readFile(vfs: Vfs, path: string): string {
  const size = vfs.getattr(path).size;
  const fh = vfs.open(path, O_RDONLY);
  try {
    const buf = Buffer.alloc(size + 16);
    const n = vfs.read(fh, buf, size + 16, 0);
    expect(n).to.equal(size);
    return buf.subarray(0, n).toString();
  } finally {
    vfs.release(fh);
  }
}

function names(vfs: Vfs, dir: string): string[] {
  return vfs.readdir(dir).filter((n) => n !== '.' && n !== '..').sort();
}

/** Everything a tree shows: attributes, xattrs, contents, link targets. */
function snapshot(vfs: Vfs, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string): void => {
    const a = vfs.getattr(p);
    const xs = vfs.listxattr(p).sort().map((n) => `${n}=${vfs.getxattr(p, n).toString('hex')}`).join(',');
    const t = a.mode & S_IFMT;
    const body = t === S_IFREG ? readFile(vfs, p) : t === S_IFLNK ? vfs.readlink(p) : '';
    out[rel || '/'] = `${a.ino} ${a.mode.toString(8)} ${a.uid}:${a.gid} n${a.nlink} s${a.size} ` +
      `${a.atime}/${a.mtime}/${a.ctime} [${xs}] ${body}`;
    if (t === S_IFDIR) for (const n of names(vfs, p)) walk(`${p === '/' ? '' : p}/${n}`, `${rel}/${n}`);
  };
  walk(dir, '');
  return out;
}

/** The committed live records of a PFS reachable from its root, by obj/type/key. */
function liveRecords(store: Store, pfs: number): Map<string, StoredRecord> {
  const out = new Map<string, StoredRecord>();
  const stack = [ROOT_OBJ];
  const seen = new Set<number>();
  while (stack.length) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const v of store.versions(pfs, o)) {
      if (v.deleteTid !== 0n) continue;
      out.set(`${o}/${v.recType}/${v.key}`, v);
      if (v.recType === RECTYPE.DIRENTRY) stack.push((v.payload as DirentPayload).objId);
    }
  }
  return out;
}

/**
 * What mirror-write will do, through the store API: make PFS `to` hold the
 * live content of PFS `from` (same obj_ids, payloads and data) under one new
 * TID, which is returned. sync-end-tid is not moved.
 */
function mirrorRecords(store: Store, from: number, to: number): Tid {
  store.commit();
  const head = store.asOf(TID_MAX);
  const src = liveRecords(store, from);
  const dst = liveRecords(store, to);
  for (const v of src.values()) {
    const lk = { pfs: from, objId: v.objId, recType: v.recType, key: v.key };
    const rec: StagedRecord = { lk: { ...lk, pfs: to }, payload: v.payload };
    if (v.recType === RECTYPE.DATA) rec.data = head.getData(lk)!;
    store.stage(rec);
  }
  for (const [k, v] of dst) {
    if (!src.has(k)) store.stage({ lk: { pfs: to, objId: v.objId, recType: v.recType, key: v.key }, payload: null });
  }
  return commitTid(store);
}

function setSyncEnd(store: Store, pfs: number, tid: Tid): void {
  store.putPfs(pfs, { ...store.getPfs(pfs)!, syncEndTid: tid });
  commitTid(store);
}

function pfsRoot(pfs: number, tid?: Tid): string {
  return `/@@${tid === undefined ? '-1' : formatTid(tid)}:${String(pfs).padStart(5, '0')}`;
}

describe('vfs/pfs-admin', () => {
  const stores: Store[] = [];
  function setup(): { store: Store; vfs: Vfs; admin: PfsAdmin } {
    const store = tmpStore();
    stores.push(store);
    const vfs = new Vfs(store);
    return { store, vfs, admin: new PfsAdmin(vfs, store) };
  }
  afterEach(async () => {
    while (stores.length) await stores.pop()!.close();
  });
  after(() => removeTmpDirs());

  /** A master at /m (PFS 1) with a little tree, and a slave at /s (PFS 2) mirrored from it. */
  function masterAndSlave(): { store: Store; vfs: Vfs; admin: PfsAdmin; m: string; s: string; t: Tid } {
    const env = setup();
    const { store, vfs, admin } = env;
    const ms = admin.create('/m', 'master', { label: 'm' });
    admin.create('/s', 'slave', { 'shared-uuid': ms.sharedUuid });
    const m = pfsRoot(1);
    writeFile(vfs, `${m}/f`, 'master data');
    vfs.setxattr(`${m}/f`, 'user.k', Buffer.from('v'), 0);
    vfs.mkdir(`${m}/d`, 0o755);
    writeFile(vfs, `${m}/d/g`, 'inner');
    vfs.mkdir(`${m}/empty`, 0o700);
    vfs.symlink('f', `${m}/ln`);
    const t = mirrorRecords(store, 1, 2);
    setSyncEnd(store, 2, t);
    return { ...env, m, s: pfsRoot(2), t };
  }

  describe('pfs-master', () => {
    it('creates PFS 1 with a fresh shared-uuid, a 10-byte link and its own root', () => {
      const { store, vfs, admin } = setup();
      const st = admin.create('/obj', 'master', { label: 'x' });
      expect(st).to.include({ pfs: 1, mode: 'master', label: 'x', syncBegTid: TID_ONE });
      expect(st.syncEndTid).to.equal(formatTid(store.lastTid));
      expect(st.sharedUuid).to.match(UUID_RE);
      expect(st.uniqueUuid).to.match(UUID_RE);
      expect(st.sharedUuid).to.not.equal(st.uniqueUuid);
      expect(st.sharedUuid).to.not.equal(store.meta.uuid);
      expect(store.group.isEmpty).to.equal(true);

      expect(vfs.readlink('/obj')).to.equal('@@-1:00001');
      const la = vfs.getattr('/obj');
      expect(la.mode & S_IFMT).to.equal(S_IFLNK);
      expect(la.size).to.equal(10);

      const root = vfs.resolve('/@@-1:00001');
      expect(root).to.include({ pfs: 1, objId: ROOT_OBJ, asOf: TID_MAX });
      expect(root.inode.mode & S_IFMT).to.equal(S_IFDIR);
      expect(names(vfs, '/@@-1:00001')).to.deep.equal([]);

      const other = admin.create('/obj2', 'master', {});
      expect(other.pfs).to.equal(2);
      expect(other.sharedUuid).to.not.equal(st.sharedUuid);
      expect(other.label).to.equal('');
    });

    it('keeps PFS 0 and the new PFS apart, staged and committed', () => {
      const { store, vfs, admin } = setup();
      admin.create('/obj', 'master', { label: 'x' });
      writeFile(vfs, '/@@-1:00001/inpfs', 'in pfs 1');
      vfs.mkdir('/@@-1:00001/sub', 0o755);
      writeFile(vfs, '/@@-1:00001/sub/deep', 'deep');
      writeFile(vfs, '/plain', 'in pfs 0');
      for (const when of ['staged', 'committed']) {
        expect(names(vfs, '/@@-1:00001'), when).to.deep.equal(['inpfs', 'sub']);
        expect(names(vfs, '/'), when).to.deep.equal(['obj', 'plain']);
        expect(readFile(vfs, '/@@-1:00001/inpfs')).to.equal('in pfs 1');
        expect(readFile(vfs, '/@@-1:00001/sub/deep')).to.equal('deep');
        expect(readFile(vfs, '/plain')).to.equal('in pfs 0');
        expect(codeOf(() => vfs.resolve('/inpfs'))).to.equal('ENOENT');
        expect(codeOf(() => vfs.resolve('/sub'))).to.equal('ENOENT');
        expect(codeOf(() => vfs.resolve('/@@-1:00001/plain'))).to.equal('ENOENT');
        expect(vfs.resolve('/@@-1:00001/sub/deep').pfs).to.equal(1);
        expect(vfs.getattr('/@@-1:00001').nlink).to.equal(3);
        store.commit();
      }
    });

    it('works for a link in a subdirectory of PFS 0, reached relative to that directory', () => {
      const { vfs, admin } = setup();
      vfs.mkdir('/pfs', 0o755);
      const st = admin.create('/pfs/a', 'master', {});
      expect(st.pfs).to.equal(1);
      expect(vfs.readlink('/pfs/a')).to.equal('@@-1:00001');
      writeFile(vfs, '/pfs/@@-1:00001/f', 'via subdir');
      expect(readFile(vfs, '/@@-1:00001/f')).to.equal('via subdir');
      expect(names(vfs, '/pfs')).to.deep.equal(['a']);
    });

    it('gives two PFSes separate inode spaces: same names and obj_ids, distinct content', () => {
      const { store, vfs, admin } = setup();
      admin.create('/a', 'master', {});
      admin.create('/b', 'master', {});
      for (const [p, tag] of [[1, 'A'], [2, 'B']] as const) {
        writeFile(vfs, `${pfsRoot(p)}/f`, `content ${tag}`);
        vfs.mkdir(`${pfsRoot(p)}/d`, 0o755);
        writeFile(vfs, `${pfsRoot(p)}/d/g`, `inner ${tag}${tag}`);
      }
      for (const when of ['staged', 'committed']) {
        for (const [p, tag] of [[1, 'A'], [2, 'B']] as const) {
          expect(vfs.getattr(`${pfsRoot(p)}/f`).ino, when).to.equal(2);
          expect(vfs.getattr(`${pfsRoot(p)}/d`).ino).to.equal(3);
          expect(vfs.getattr(`${pfsRoot(p)}/d/g`).ino).to.equal(4);
          expect(readFile(vfs, `${pfsRoot(p)}/f`)).to.equal(`content ${tag}`);
          expect(readFile(vfs, `${pfsRoot(p)}/d/g`)).to.equal(`inner ${tag}${tag}`);
        }
        store.commit();
      }
      vfs.unlink('/@@-1:00001/f');
      commitTid(store);
      expect(names(vfs, '/@@-1:00001')).to.deep.equal(['d']);
      expect(names(vfs, '/@@-1:00002')).to.deep.equal(['d', 'f']);
      expect(readFile(vfs, '/@@-1:00002/f')).to.equal('content B');
    });
  });

  describe('pfs-slave', () => {
    it('creates a slave at sync-end-tid 1 with a 26-byte link and no root', () => {
      const { store, vfs, admin } = setup();
      const m = admin.create('/m', 'master', {});
      const s = admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid, label: 'backup' });
      expect(s).to.include({
        pfs: 2, mode: 'slave', sharedUuid: m.sharedUuid, label: 'backup', syncBegTid: TID_ONE, syncEndTid: TID_ONE,
      });
      expect(s.uniqueUuid).to.not.equal(m.uniqueUuid);
      expect(store.syncEndTid(2)).to.equal(1n);
      expect(vfs.readlink('/s')).to.equal('@@0x0000000000000001:00002');
      expect(vfs.getattr('/s').size).to.equal(26);
      expect(codeOf(() => vfs.resolve('/@@-1:00002'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.resolve('/@@0x0000000000000001:00002'))).to.equal('ENOENT');
      expect(store.versions(2, ROOT_OBJ)).to.deep.equal([]);
    });

    it('lowercases an upper-case shared-uuid', () => {
      const { admin } = setup();
      const m = admin.create('/m', 'master', {});
      const s = admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid.toUpperCase() });
      expect(s.sharedUuid).to.equal(m.sharedUuid);
    });

    it('refuses bad requests and changes nothing', () => {
      const { store, vfs, admin } = setup();
      const m = admin.create('/m', 'master', {});
      vfs.mkdir('/d', 0o755);
      commitTid(store);
      const before = { list: store.listPfs(), lastTid: store.lastTid, root: snapshot(vfs, '/'), p1: snapshot(vfs, '/@@-1:00001') };
      const dTid = store.lastTid;
      const cases: Array<[string, string, () => unknown, string | undefined]> = [
        ['slave without shared-uuid', 'H2_USAGE', () => admin.create('/s2', 'slave', { label: 'x' }), '/s2'],
        ['slave with a bad shared-uuid', 'H2_USAGE', () => admin.create('/s2', 'slave', { 'shared-uuid': 'not-a-uuid' }), '/s2'],
        ['master with a bad unique-uuid', 'H2_USAGE', () => admin.create('/s2', 'master', { 'unique-uuid': '1234' }), '/s2'],
        ['bad sync-end-tid', 'H2_BAD_TID', () => admin.create('/s2', 'master', { 'sync-end-tid': '12' }), '/s2'],
        ['trailing slash', 'H2_USAGE', () => admin.create('/s2/', 'master', {}), '/s2'],
        ['existing link', 'EEXIST', () => admin.create('/m', 'slave', { 'shared-uuid': m.sharedUuid }), undefined],
        ['existing directory', 'EEXIST', () => admin.create('/d', 'master', {}), undefined],
        ['inside a PFS', 'H2_NOT_PFS', () => admin.create('/@@-1:00001/x', 'master', {}), '/@@-1:00001/x'],
        ['inside a history view', 'H2_NOT_PFS', () => admin.create(`/d@@${formatTid(dTid)}/x`, 'master', {}), '/d/x'],
        ['missing parent', 'ENOENT', () => admin.create('/nodir/x', 'master', {}), '/nodir'],
      ];
      for (const [what, code, fn, linkPath] of cases) {
        expect(codeOf(fn), what).to.equal(code);
        expect(store.listPfs(), what).to.deep.equal(before.list);
        expect(store.group.isEmpty, what).to.equal(true);
        expect(store.lastTid, what).to.equal(before.lastTid);
        if (linkPath !== undefined) expect(codeOf(() => vfs.resolve(linkPath)), what).to.equal('ENOENT');
        expect(snapshot(vfs, '/'), what).to.deep.equal(before.root);
        expect(snapshot(vfs, '/@@-1:00001'), what).to.deep.equal(before.p1);
      }
      expect(store.allocPfsId()).to.equal(2);
    });
  });

  describe('mirroring into a slave (through the store API)', () => {
    it('moves the link and the slave head with sync-end-tid only', () => {
      const { store, vfs, admin } = setup();
      const ms = admin.create('/m', 'master', {});
      admin.create('/s', 'slave', { 'shared-uuid': ms.sharedUuid });
      writeFile(vfs, '/@@-1:00001/file', 'hello slave');
      vfs.mkdir('/@@-1:00001/dir', 0o750);
      writeFile(vfs, '/@@-1:00001/dir/x', 'x1');
      const linkIno = vfs.getattr('/s').ino;
      const linkVersions = store.versions(0, linkIno);

      const t = mirrorRecords(store, 1, 2);
      // Records past sync-end-tid are not visible yet.
      expect(vfs.readlink('/s')).to.equal('@@0x0000000000000001:00002');
      expect(codeOf(() => vfs.resolve('/@@-1:00002'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.resolve(`/@@${formatTid(t)}:00002`))).to.equal('ENOENT');

      setSyncEnd(store, 2, t);
      expect(vfs.readlink('/s')).to.equal(`@@${formatTid(t)}:00002`);
      expect(vfs.getattr('/s').size).to.equal(26);
      expect(store.versions(0, linkIno)).to.deep.equal(linkVersions);
      expect(admin.status(2).syncEndTid).to.equal(formatTid(t));

      const head = vfs.resolve('/@@-1:00002');
      expect(head).to.include({ pfs: 2, objId: ROOT_OBJ, asOf: t });
      expect(names(vfs, '/@@-1:00002')).to.deep.equal(['dir', 'file']);
      expect(readFile(vfs, `/@@${formatTid(t)}:00002/file`)).to.equal('hello slave');
      expect(readFile(vfs, `/${vfs.readlink('/s')}/dir/x`)).to.equal('x1');
      expect(vfs.getattr(`/@@${formatTid(t)}:00002/dir`).mode).to.equal(S_IFDIR | 0o750);
      expect(codeOf(() => vfs.resolve(`/@@${formatTid(t + 1n)}:00002`))).to.equal('ENOENT');
      expect(codeOf(() => vfs.resolve(`/@@${formatTid(t + 1n)}:00002/file`))).to.equal('ENOENT');
      expect(codeOf(() => vfs.resolve(`/@@${formatTid(t - 1n)}:00002`))).to.equal('ENOENT');
    });

    it('a second batch moves the head; the old snapshot path keeps showing the old state', () => {
      const { store, vfs, s, t } = masterAndSlave();
      writeFile(vfs, '/@@-1:00001/f', 'changed');
      vfs.unlink('/@@-1:00001/ln');
      writeFile(vfs, '/@@-1:00001/added', 'new');
      const t2 = mirrorRecords(store, 1, 2);
      expect(readFile(vfs, `${s}/f`)).to.equal('master data');
      setSyncEnd(store, 2, t2);
      expect(vfs.readlink('/s')).to.equal(`@@${formatTid(t2)}:00002`);
      expect(names(vfs, s)).to.deep.equal(['added', 'd', 'empty', 'f']);
      expect(readFile(vfs, `${s}/f`)).to.equal('changed');
      expect(names(vfs, pfsRoot(2, t))).to.deep.equal(['d', 'empty', 'f', 'ln']);
      expect(readFile(vfs, `${pfsRoot(2, t)}/f`)).to.equal('master data');
      expect(snapshot(vfs, s)).to.deep.equal(snapshot(vfs, pfsRoot(1)));
    });
  });

  describe('slaves are read-only', () => {
    it('every write op inside a slave is EROFS and changes nothing', () => {
      const { store, vfs, s, t } = masterAndSlave();
      expect(snapshot(vfs, s)).to.deep.equal(snapshot(vfs, pfsRoot(1)));
      writeFile(vfs, '/zero', 'pfs 0 file');
      commitTid(store);
      const before = { slave: snapshot(vfs, s), root: snapshot(vfs, '/'), lastTid: store.lastTid, fds: vfs.openHandles };
      for (const P of [s, pfsRoot(2, t)]) {
        const ops: Array<[string, () => unknown]> = [
          ['create', () => vfs.create(`${P}/new`, 0o644)],
          ['open O_WRONLY', () => vfs.open(`${P}/f`, O_WRONLY)],
          ['open O_RDWR', () => vfs.open(`${P}/f`, O_RDWR)],
          ['mkdir', () => vfs.mkdir(`${P}/nd`, 0o755)],
          ['mknod', () => vfs.mknod(`${P}/fifo`, S_IFIFO | 0o644, 0)],
          ['unlink', () => vfs.unlink(`${P}/f`)],
          ['unlink symlink', () => vfs.unlink(`${P}/ln`)],
          ['rmdir', () => vfs.rmdir(`${P}/empty`)],
          ['rename', () => vfs.rename(`${P}/f`, `${P}/f2`)],
          ['rename over', () => vfs.rename(`${P}/f`, `${P}/d/g`)],
          ['rename out to PFS 0', () => vfs.rename(`${P}/f`, '/stolen')],
          ['rename in from PFS 0', () => vfs.rename('/zero', `${P}/zero`)],
          ['link', () => vfs.link(`${P}/f`, `${P}/f2`)],
          ['link from PFS 0', () => vfs.link('/zero', `${P}/zero`)],
          ['symlink', () => vfs.symlink('f', `${P}/ln2`)],
          ['chmod', () => vfs.chmod(`${P}/f`, 0o600)],
          ['chmod root', () => vfs.chmod(P, 0o700)],
          ['chown', () => vfs.chown(`${P}/f`, 1234, 1234)],
          ['utimens', () => vfs.utimens(`${P}/f`, 5000, 5000)],
          ['truncate', () => vfs.truncate(`${P}/f`, 1)],
          ['setxattr', () => vfs.setxattr(`${P}/f`, 'user.n', Buffer.from('x'), 0)],
          ['setxattr replace', () => vfs.setxattr(`${P}/f`, 'user.k', Buffer.from('x'), 0)],
          ['removexattr', () => vfs.removexattr(`${P}/f`, 'user.k')],
        ];
        for (const [what, fn] of ops) {
          expect(codeOf(fn), `${what} in ${P}`).to.equal('EROFS');
          expect(store.group.isEmpty, what).to.equal(true);
          expect(vfs.openHandles, what).to.equal(before.fds);
        }
        // A read-only open still works.
        const fh = vfs.open(`${P}/f`, O_RDONLY);
        expect(codeOf(() => vfs.write(fh, Buffer.from('x'), 1, 0))).to.equal('EBADF');
        vfs.release(fh);
      }
      expect(store.commit()).to.equal(null);
      expect(store.lastTid).to.equal(before.lastTid);
      expect(snapshot(vfs, s)).to.deep.equal(before.slave);
      expect(snapshot(vfs, '/')).to.deep.equal(before.root);
    });
  });

  describe('pfsOf', () => {
    it('names the PFS of a link, a PFS root, a path inside a PFS and the mount root', () => {
      const { vfs, admin, t } = masterAndSlave();
      vfs.mkdir('/plaindir', 0o755);
      vfs.symlink('@@PFS0001', '/plainlink');
      vfs.symlink('elsewhere', '/otherlink');
      expect(admin.pfsOf('/')).to.equal(0);
      expect(admin.pfsOf('/m')).to.equal(1);
      expect(admin.pfsOf('/s')).to.equal(2);
      expect(admin.pfsOf('/@@-1:00001')).to.equal(1);
      expect(admin.pfsOf('/@@-1:00001/d')).to.equal(1);
      expect(admin.pfsOf('/@@-1:00001/d/g')).to.equal(1);
      expect(admin.pfsOf('/@@-1:00002')).to.equal(2);
      expect(admin.pfsOf(`/@@${formatTid(t)}:00002/f`)).to.equal(2);
      for (const p of ['/plaindir', '/plainlink', '/otherlink']) {
        expect(codeOf(() => admin.pfsOf(p)), p).to.equal('H2_NOT_PFS');
      }
      expect(codeOf(() => admin.pfsOf('/nothing'))).to.equal('ENOENT');
    });

    it('names a slave by its link before its first mirror', () => {
      const { admin } = setup();
      const m = admin.create('/m', 'master', {});
      admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid });
      expect(admin.pfsOf('/s')).to.equal(2);
    });
  });

  describe('parsePfsOptions', () => {
    it('parses key=value tokens and strips one pair of surrounding quotes', () => {
      const u = '01234567-89AB-cdef-0123-456789abcdef';
      expect(parsePfsOptions([])).to.deep.equal({});
      expect(parsePfsOptions(['label="a b"'])).to.deep.equal({ label: 'a b' });
      expect(parsePfsOptions(['label=plain'])).to.deep.equal({ label: 'plain' });
      expect(parsePfsOptions(['label=""'])).to.deep.equal({ label: '' });
      expect(parsePfsOptions(['label='])).to.deep.equal({ label: '' });
      expect(parsePfsOptions(['label="'])).to.deep.equal({ label: '"' });
      expect(parsePfsOptions(['label="x"y'])).to.deep.equal({ label: '"x"y' });
      expect(parsePfsOptions(['label=a=b'])).to.deep.equal({ label: 'a=b' });
      expect(parsePfsOptions(['label=a', 'label=b'])).to.deep.equal({ label: 'b' });
      expect(parsePfsOptions([`shared-uuid=${u}`, 'sync-end-tid=0x00000000000000ff']))
        .to.deep.equal({ 'shared-uuid': u, 'sync-end-tid': '0x00000000000000ff' });
    });

    it('refuses a token without = and unknown keys with H2_USAGE', () => {
      const e = errorOf(() => parsePfsOptions(['label=ok', 'label']));
      expect(e.code).to.equal('H2_USAGE');
      expect(e.message).to.match(/requires an assignment/);
      expect(e.message).to.include('label');
      for (const bad of [['colour=red'], ['snapshots=/snaps'], ['prune-min=1d'], ['=x'], ['Label=x']]) {
        const u = errorOf(() => parsePfsOptions(bad));
        expect(u.code, bad[0]).to.equal('H2_USAGE');
        expect(u.message, bad[0]).to.match(/unknown PFS option/);
      }
    });

    it('accepts every key=value line pfs-status prints; pasting them into a slave copies the config', () => {
      const { store, vfs, admin } = setup();
      const ms = admin.create('/m', 'master', { label: 'my data' });
      writeFile(vfs, '/@@-1:00001/f', 'x');
      commitTid(store);
      admin.create('/s', 'slave', { 'shared-uuid': ms.sharedUuid });
      const st = admin.status(1);
      const text = formatPfsStatus('/m', st);
      const tokens = text.split('\n').map((l) => l.trim()).filter((l) => /^[a-z-]+=/.test(l));
      expect(tokens.map((tk) => tk.slice(0, tk.indexOf('='))))
        .to.deep.equal(['sync-beg-tid', 'sync-end-tid', 'shared-uuid', 'unique-uuid', 'label']);
      const opts = parsePfsOptions(tokens);
      expect(opts).to.deep.equal({
        'sync-beg-tid': st.syncBegTid, 'sync-end-tid': st.syncEndTid, 'shared-uuid': st.sharedUuid,
        'unique-uuid': st.uniqueUuid, label: 'my data',
      });
      const r = admin.update(2, opts);
      expect(r.warnings).to.deep.equal([]);
      expect(r.status).to.deep.equal({ ...st, pfs: 2, mode: 'slave' });
    });
  });

  describe('pfs-update', () => {
    it('changes the label with history', () => {
      const { store, admin } = setup();
      admin.create('/m', 'master', { label: 'old' });
      const t0 = store.lastTid;
      const r = admin.update(1, { label: 'new label' });
      expect(r.warnings).to.deep.equal([]);
      expect(r.status.label).to.equal('new label');
      expect(store.group.isEmpty).to.equal(true);
      expect(store.getPfs(1)!.label).to.equal('new label');
      expect(store.asOf(TID_MAX).get<PfsHeader>(pfsHeaderKey(1))!.label).to.equal('new label');
      expect(store.asOf(t0).get<PfsHeader>(pfsHeaderKey(1))!.label).to.equal('old');
      expect(admin.status(1).label).to.equal('new label');
      expect(admin.list().map((s) => [s.pfs, s.label])).to.deep.equal([[0, ''], [1, 'new label']]);
    });

    it('warns when changing the shared-uuid of a PFS with data, not of an empty slave', () => {
      const { admin, store } = setup();
      const m = admin.create('/m', 'master', {});
      const other = randomUUID();
      const same = admin.update(1, { 'shared-uuid': m.sharedUuid });
      expect(same.warnings).to.deep.equal([]);
      const changed = admin.update(1, { 'shared-uuid': other });
      expect(changed.warnings).to.have.length(1);
      expect(changed.warnings[0]).to.match(/shared-uuid/);
      expect(changed.status.sharedUuid).to.equal(other);

      admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid });
      const empty = admin.update(2, { 'shared-uuid': other });
      expect(empty.warnings).to.deep.equal([]);
      expect(empty.status.sharedUuid).to.equal(other);

      mirrorRecords(store, 1, 2);
      const full = admin.update(2, { 'shared-uuid': m.sharedUuid });
      expect(full.warnings).to.have.length(1);
      expect(full.status.sharedUuid).to.equal(m.sharedUuid);
    });

    it('sets uuids and TIDs, refusing bad values without a change', () => {
      const { store, admin } = setup();
      admin.create('/m', 'master', {});
      const u = randomUUID();
      const st = admin.update(1, { 'unique-uuid': u.toUpperCase(), 'sync-beg-tid': '0x0000000000000005' }).status;
      expect(st.uniqueUuid).to.equal(u);
      expect(st.syncBegTid).to.equal('0x0000000000000005');
      const h = store.getPfs(1);
      const last = store.lastTid;
      expect(codeOf(() => admin.update(1, { 'unique-uuid': 'zz' }))).to.equal('H2_USAGE');
      expect(codeOf(() => admin.update(1, { 'shared-uuid': 'zz', label: 'no' }))).to.equal('H2_USAGE');
      expect(codeOf(() => admin.update(1, { 'sync-end-tid': '0x12' }))).to.equal('H2_BAD_TID');
      expect(codeOf(() => admin.update(7, { label: 'x' }))).to.equal('ENOENT');
      expect(store.getPfs(1)).to.deep.equal(h);
      expect(store.lastTid).to.equal(last);
      expect(store.group.isEmpty).to.equal(true);
      expect(store.listPfs()).to.deep.equal([0, 1]);
    });

    it('PFS 0 takes only label=', () => {
      const { store, admin } = setup();
      const r = admin.update(0, { label: 'root' });
      expect(r.status).to.include({ pfs: 0, mode: 'master', label: 'root', sharedUuid: store.meta.uuid });
      const h0 = store.getPfs(0);
      const last = store.lastTid;
      for (const opts of [{ 'shared-uuid': randomUUID() }, { 'sync-end-tid': TID_ONE }, { 'unique-uuid': randomUUID() },
        { 'sync-beg-tid': TID_ONE }, { label: 'x', 'shared-uuid': randomUUID() }]) {
        expect(codeOf(() => admin.update(0, opts)), Object.keys(opts).join()).to.equal('H2_USAGE');
      }
      expect(store.getPfs(0)).to.deep.equal(h0);
      expect(store.lastTid).to.equal(last);
      expect(admin.status(0).label).to.equal('root');
    });
  });

  describe('pfs-downgrade', () => {
    it('locks a master with data at the last committed TID and makes it read-only', () => {
      const { store, vfs, admin } = setup();
      admin.create('/m', 'master', {});
      writeFile(vfs, '/@@-1:00001/f', 'data');
      vfs.mkdir('/@@-1:00001/d', 0o755);
      commitTid(store);
      const fh = vfs.open('/@@-1:00001/f', O_RDWR);
      const last = store.lastTid;
      const st = admin.downgrade(1);
      expect(st.mode).to.equal('slave');
      expect(st.syncEndTid).to.equal(formatTid(last));
      expect(store.getPfs(1)).to.include({ mode: 'slave', syncEndTid: last });
      expectAbove(store.lastTid, last);

      // A descriptor opened for writing before the downgrade cannot write now.
      expect(codeOf(() => vfs.write(fh, Buffer.from('XX'), 2, 0))).to.equal('EROFS');
      expect(codeOf(() => vfs.ftruncate(fh, 0))).to.equal('EROFS');
      vfs.release(fh);
      expect(store.group.isEmpty).to.equal(true);
      expect(codeOf(() => vfs.open('/@@-1:00001/f', O_WRONLY))).to.equal('EROFS');
      expect(codeOf(() => vfs.create('/@@-1:00001/g', 0o644))).to.equal('EROFS');
      expect(codeOf(() => vfs.mkdir('/@@-1:00001/e', 0o755))).to.equal('EROFS');
      expect(codeOf(() => vfs.unlink('/@@-1:00001/f'))).to.equal('EROFS');

      const link = vfs.readlink('/m');
      expect(link).to.equal(`@@${formatTid(last)}:00001`);
      expect(vfs.getattr('/m').size).to.equal(26);
      expect(readFile(vfs, `/${link}/f`)).to.equal('data');
      expect(names(vfs, `/${link}`)).to.deep.equal(['d', 'f']);
      expect(vfs.resolve('/@@-1:00001').asOf).to.equal(last);
    });

    it('commits pending changes first and locks at that commit', () => {
      const { store, vfs, admin } = setup();
      admin.create('/m', 'master', {});
      const before = store.lastTid;
      writeFile(vfs, '/@@-1:00001/pending', 'not yet committed');
      const st = admin.downgrade(1);
      const end = store.getPfs(1)!.syncEndTid;
      expectAbove(end, before);
      expectAbove(store.lastTid, end);
      expect(st.syncEndTid).to.equal(formatTid(end));
      expect(readFile(vfs, '/@@-1:00001/pending')).to.equal('not yet committed');
    });

    it('refuses a slave (H2_PFS_STATE) and PFS 0 (H2_USAGE)', () => {
      const { store, admin } = setup();
      const m = admin.create('/m', 'master', {});
      admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid });
      const h = store.getPfs(2);
      expect(codeOf(() => admin.downgrade(2))).to.equal('H2_PFS_STATE');
      expect(store.getPfs(2)).to.deep.equal(h);
      expect(codeOf(() => admin.downgrade(0))).to.equal('H2_USAGE');
      expect(store.getPfs(0)!.mode).to.equal('master');
      expect(codeOf(() => admin.downgrade(9))).to.equal('ENOENT');
    });
  });

  describe('pfs-upgrade', () => {
    it('rolls a slave back to its sync-end-tid and makes it a writable master', () => {
      const { store, vfs, admin } = setup();
      admin.create('/m', 'master', {});
      const P = pfsRoot(1);
      writeFile(vfs, `${P}/f`, 'v0');
      writeFile(vfs, `${P}/gone`, 'bye');
      vfs.mkdir(`${P}/d`, 0o755);
      writeFile(vfs, `${P}/d/g`, 'g0');
      const t0 = commitTid(store);
      const atT0 = snapshot(vfs, pfsRoot(1, t0));

      writeFile(vfs, `${P}/f`, 'v1 is longer');
      vfs.unlink(`${P}/gone`);
      writeFile(vfs, `${P}/new`, 'n');
      commitTid(store);
      writeFile(vfs, `${P}/d/g`, 'g1');
      vfs.chmod(`${P}/d`, 0o700);
      const t1 = commitTid(store);
      const atT1 = snapshot(vfs, P);
      expect(atT1).to.not.deep.equal(atT0);

      expect(admin.downgrade(1).syncEndTid).to.equal(formatTid(t1));
      admin.update(1, { 'sync-end-tid': formatTid(t0) });
      expect(vfs.readlink('/m')).to.equal(`@@${formatTid(t0)}:00001`);
      expect(snapshot(vfs, P)).to.deep.equal(atT0);

      const lastBefore = store.lastTid;
      const r = admin.upgrade(1);
      expect(r.status.mode).to.equal('master');
      expectAbove(r.dropped, 0);
      expectAbove(r.undeleted, 0);
      expect(store.getPfs(1)!.mode).to.equal('master');
      expect(vfs.readlink('/m')).to.equal('@@-1:00001');
      expect(vfs.resolve(P).asOf).to.equal(TID_MAX);
      expect(snapshot(vfs, P)).to.deep.equal(atT0);
      expect(readFile(vfs, `${P}/gone`)).to.equal('bye');
      expect(readFile(vfs, `${P}/f`)).to.equal('v0');
      // No record of the PFS is newer than t0 any more.
      for (let obj = 1; obj <= 8; obj++) {
        for (const v of store.versions(1, obj)) {
          expectAtMost(v.createTid, t0, `obj ${obj}`);
          if (v.deleteTid !== 0n) expectAtMost(v.deleteTid, t0, `obj ${obj}`);
        }
      }
      // The history before t0 is still there.
      expect(snapshot(vfs, pfsRoot(1, t0))).to.deep.equal(atT0);

      writeFile(vfs, `${P}/after`, 'writable again');
      vfs.unlink(`${P}/gone`);
      const t2 = commitTid(store);
      expectAbove(t2, t0);
      expectAbove(t2, lastBefore);
      expect(names(vfs, P)).to.deep.equal(['after', 'd', 'f']);
      expect(readFile(vfs, `${P}/after`)).to.equal('writable again');
      expect(vfs.getattr(`${P}/after`).ino).to.not.be.oneOf([2, 3, 4, 5]);
    });

    it('raises the TID allocator to a sync-end-tid beyond the last TID and gives an empty slave a root', () => {
      const { store, vfs, admin } = setup();
      const m = admin.create('/m', 'master', {});
      admin.create('/s', 'slave', { 'shared-uuid': m.sharedUuid });
      const future = store.lastTid + 10_000_000_000n;
      admin.update(2, { 'sync-end-tid': formatTid(future) });
      const r = admin.upgrade(2);
      expect(r).to.include({ dropped: 0, undeleted: 0 });
      expectAbove(store.lastTid, future);
      expect(vfs.readlink('/s')).to.equal('@@-1:00002');
      expect(names(vfs, '/@@-1:00002')).to.deep.equal([]);
      writeFile(vfs, '/@@-1:00002/f', 'x');
      expectAbove(commitTid(store), future);
      expect(readFile(vfs, '/@@-1:00002/f')).to.equal('x');
    });

    it('refuses a master (H2_PFS_STATE) and PFS 0 (H2_USAGE)', () => {
      const { store, admin } = setup();
      admin.create('/m', 'master', {});
      const last = store.lastTid;
      expect(codeOf(() => admin.upgrade(1))).to.equal('H2_PFS_STATE');
      expect(codeOf(() => admin.upgrade(0))).to.equal('H2_USAGE');
      expect(codeOf(() => admin.upgrade(9))).to.equal('ENOENT');
      expect(store.lastTid).to.equal(last);
    });
  });

  describe('busy PFSes', () => {
    it('refuse upgrade and destroy with H2_BUSY until released', () => {
      const { store, vfs, admin, s } = masterAndSlave();
      const before = { list: store.listPfs(), header: store.getPfs(2), tree: snapshot(vfs, s), last: store.lastTid };
      admin.busy.add(2);
      expect(codeOf(() => admin.upgrade(2))).to.equal('H2_BUSY');
      expect(codeOf(() => admin.destroy(2, '/s'))).to.equal('H2_BUSY');
      expect(store.listPfs()).to.deep.equal(before.list);
      expect(store.getPfs(2)).to.deep.equal(before.header);
      expect(snapshot(vfs, s)).to.deep.equal(before.tree);
      expect(vfs.readlink('/s')).to.match(/^@@0x[0-9a-f]{16}:00002$/);
      expect(store.lastTid).to.equal(before.last);
      // A busy master refuses nothing of this (mirror-write only writes slaves).
      admin.busy.delete(2);
      expect(admin.upgrade(2).status.mode).to.equal('master');
    });
  });

  describe('pfs-destroy', () => {
    it('removes the records, the link and the number, leaving other PFSes alone', () => {
      const { store, vfs, admin } = setup();
      admin.create('/a', 'master', { label: 'a' });
      admin.create('/b', 'master', { label: 'b' });
      const m = admin.create('/c', 'master', { label: 'c' });
      for (const p of [1, 2, 3]) writeFile(vfs, `${pfsRoot(p)}/f`, `in ${p}`);
      commitTid(store);
      const keep1 = snapshot(vfs, pfsRoot(1));
      const keep3 = snapshot(vfs, pfsRoot(3));
      const st3 = admin.status(3);

      const r = admin.destroy(2, '/b');
      expect(r.label).to.equal('b');
      expectAbove(r.removed, 2);
      expect(store.group.isEmpty).to.equal(true);
      for (const obj of [0, 1, 2]) expect(store.versions(2, obj), `obj ${obj}`).to.deep.equal([]);
      expect(store.listPfs()).to.deep.equal([0, 1, 3]);
      expect(admin.list().map((s) => s.pfs)).to.deep.equal([0, 1, 3]);
      expect(codeOf(() => vfs.resolve('/b'))).to.equal('ENOENT');
      expect(codeOf(() => vfs.resolve('/@@-1:00002'))).to.equal('ENOENT');
      expect(codeOf(() => admin.status(2))).to.equal('ENOENT');
      expect(names(vfs, '/')).to.deep.equal(['a', 'c']);
      expect(snapshot(vfs, pfsRoot(1))).to.deep.equal(keep1);
      expect(snapshot(vfs, pfsRoot(3))).to.deep.equal(keep3);
      expect(admin.status(3)).to.deep.include({ sharedUuid: m.sharedUuid, label: 'c', mode: 'master' });
      expect(admin.status(3).uniqueUuid).to.equal(st3.uniqueUuid);

      expect(store.allocPfsId()).to.equal(2);
      const again = admin.create('/b2', 'master', {});
      expect(again.pfs).to.equal(2);
      expect(again.sharedUuid).to.not.equal(st3.sharedUuid);
      expect(names(vfs, pfsRoot(2))).to.deep.equal([]);
      writeFile(vfs, `${pfsRoot(2)}/f`, 'fresh');
      expect(vfs.getattr(`${pfsRoot(2)}/f`).ino).to.equal(2);
      expect(readFile(vfs, `${pfsRoot(2)}/f`)).to.equal('fresh');
    });

    it('destroys a slave; without a link path (or with another PFS\'s link) leaves links alone', () => {
      const { store, vfs, admin } = masterAndSlave();
      admin.destroy(2, '/m');
      expect(store.listPfs()).to.deep.equal([0, 1]);
      expect(vfs.readlink('/m')).to.equal('@@-1:00001');
      expect(names(vfs, '/')).to.deep.equal(['m', 's']);
      admin.destroy(1, undefined);
      expect(store.listPfs()).to.deep.equal([0]);
      expect(names(vfs, '/')).to.deep.equal(['m', 's']);
      expect(codeOf(() => vfs.resolve('/@@-1:00001'))).to.equal('ENOENT');
    });

    it('refuses PFS 0 (H2_USAGE) and unknown PFSes (ENOENT)', () => {
      const { store, vfs, admin } = setup();
      admin.create('/m', 'master', {});
      const root = snapshot(vfs, '/');
      expect(codeOf(() => admin.destroy(0, undefined))).to.equal('H2_USAGE');
      expect(codeOf(() => admin.destroy(0, '/m'))).to.equal('H2_USAGE');
      expect(codeOf(() => admin.destroy(5, undefined))).to.equal('ENOENT');
      expect(snapshot(vfs, '/')).to.deep.equal(root);
      expect(store.listPfs()).to.deep.equal([0, 1]);
    });
  });

  describe('numbers and reopen', () => {
    it('reuses a freed number and lists PFSes with gaps', () => {
      const { store, admin } = setup();
      expect(['/p1', '/p2', '/p3'].map((p) => admin.create(p, 'master', {}).pfs)).to.deep.equal([1, 2, 3]);
      admin.destroy(2, '/p2');
      expect(store.listPfs()).to.deep.equal([0, 1, 3]);
      expect(store.allocPfsId()).to.equal(2);
      expect(admin.create('/p4', 'master', {}).pfs).to.equal(2);
      expect(admin.create('/p5', 'master', {}).pfs).to.equal(4);
      expect(store.listPfs()).to.deep.equal([0, 1, 2, 3, 4]);
    });

    it('keeps headers, modes and links across close and Store.open', async () => {
      const { store, vfs, admin, t } = masterAndSlave();
      admin.update(1, { label: 'kept' });
      const statuses = admin.list();
      const tree = snapshot(vfs, pfsRoot(2));
      const dir = store.dir;
      await store.close();
      stores.splice(stores.indexOf(store), 1);
      const r = Store.open(dir);
      stores.push(r);
      const v2 = new Vfs(r);
      const a2 = new PfsAdmin(v2, r);
      expect(r.listPfs()).to.deep.equal([0, 1, 2]);
      expect(a2.list()).to.deep.equal(statuses);
      expect(r.getPfs(1)).to.include({ mode: 'master', label: 'kept' });
      expect(r.getPfs(2)).to.include({ mode: 'slave', syncEndTid: t });
      expect(v2.readlink('/m')).to.equal('@@-1:00001');
      expect(v2.readlink('/s')).to.equal(`@@${formatTid(t)}:00002`);
      expect(snapshot(v2, pfsRoot(2))).to.deep.equal(tree);
      expect(codeOf(() => v2.create(`${pfsRoot(2)}/x`, 0o644))).to.equal('EROFS');
      // obj_ids continue after reopen: no reuse of 2..6 in the master.
      writeFile(v2, `${pfsRoot(1)}/later`, 'l');
      expectAbove(v2.getattr(`${pfsRoot(1)}/later`).ino, 6);
      expect(readFile(v2, `${pfsRoot(1)}/f`)).to.equal('master data');
    });
  });
});

describe('vfs/pfs-admin regressions', () => {
  const opened: Store[] = [];
  function setup(): { store: Store; vfs: Vfs; admin: PfsAdmin } {
    const store = tmpStore();
    opened.push(store);
    const vfs = new Vfs(store);
    return { store, vfs, admin: new PfsAdmin(vfs, store) };
  }
  afterEach(async () => {
    while (opened.length) await opened.pop()!.close();
  });
  after(() => removeTmpDirs());

  it('a create that fails on the link name stages nothing', () => {
    const { store, admin } = setup();
    for (const bad of ['/a@@b', '/x@@0x0000000000000001', '/' + 'n'.repeat(300)]) {
      expect(() => admin.create(bad, 'master', {})).to.throw(H2Error);
    }
    expect(store.listPfs()).to.deep.equal([0]);
    expect(store.group.isEmpty).to.equal(true);
  });

  it('destroys and rolls back PFS 65535, the highest number', () => {
    const { store } = setup();
    store.putPfs(65535, newPfsHeader('master'));
    Vfs.initRoot(store, 65535);
    store.commit();
    expect(store.rollbackPfs(65535, 1n)).to.deep.equal({ dropped: 1, undeleted: 0 });
    expect(store.destroyPfs(65535)).to.equal(1);
    expect(store.listPfs()).to.deep.equal([0]);
  });

  it('after pfs-upgrade, new files do not reuse obj_ids that arrived by mirroring', () => {
    const { store, vfs, admin } = setup();
    const ms = admin.create('/m', 'master', {});
    admin.create('/s', 'slave', { 'shared-uuid': ms.sharedUuid });
    writeFile(vfs, '/@@-1:00001/f', 'hello');
    const t = mirrorRecords(store, 1, 2);
    setSyncEnd(store, 2, t);
    admin.upgrade(2);
    writeFile(vfs, '/@@-1:00002/g', 'XY');
    const f = vfs.getattr('/@@-1:00002/f');
    const g = vfs.getattr('/@@-1:00002/g');
    expect(g.ino).to.not.equal(f.ino);
    expect(f.size).to.equal(5);
    expect(readFile(vfs, '/@@-1:00002/f')).to.equal('hello');
  });
});
