import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { COMMANDS, run } from '../../../src/cli/main.js';
import { Store } from '../../../src/store/index.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

interface Result {
  code: number;
  out: string;
  err: string;
}

async function h2fs(...argv: string[]): Promise<Result> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(argv, { stdout, stderr });
  return { code, out: stdout.text, err: stderr.text };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** One `h2fs: ` line, optionally one `hint: ` line, and no stack trace. */
function expectOneLineError(err: string): void {
  const ls = lines(err);
  expect(ls.length, err).to.be.within(1, 2);
  expect(ls[0]).to.match(/^h2fs: /);
  if (ls.length === 2) expect(ls[1]).to.match(/^hint: /);
  expect(err).to.not.include('    at ');
}

async function newStore(): Promise<string> {
  const dir = path.join(tmpDir(), 'store');
  const r = await h2fs('newfs', dir);
  expect(r.code, r.err).to.equal(0);
  return dir;
}

describe('cli/main run()', () => {
  after(() => removeTmpDirs());

  it('loads each command on demand under the name it is listed by, and --help lists them all', async () => {
    for (const [name, load] of COMMANDS) {
      expect((await load()).name, name).to.equal(name);
    }
    const r = await h2fs('--help');
    expect(r.code).to.equal(0);
    for (const [name] of COMMANDS) expect(r.out).to.match(new RegExp(`^ {4}h2fs ${name}( |$)`, 'm'));
  });

  it('no arguments: exit 2 and the usage on stderr', async () => {
    const r = await h2fs();
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expect(r.err).to.match(/^usage: h2fs /);
    for (const c of ['newfs', 'mount', 'umount', 'synctid', 'history', 'info']) expect(r.err).to.include(`h2fs ${c}`);
  });

  it('--help prints the usage on stdout with exit 0; --version prints the version', async () => {
    const h = await h2fs('--help');
    expect(h.code).to.equal(0);
    expect(h.out).to.match(/^usage: h2fs /);
    expect(h.err).to.equal('');
    const v = await h2fs('--version');
    expect(v.code).to.equal(0);
    expect(v.out).to.match(/^h2fs \d+\.\d+\.\d+\n$/);
  });

  it('unknown command: exit 2, one h2fs: line (plus a hint), no stack trace', async () => {
    const r = await h2fs('frobnicate', 'x');
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expectOneLineError(r.err);
    expect(r.err).to.include("unknown command 'frobnicate'");
  });

  it('unknown global option: exit 2 with a one-line error', async () => {
    const r = await h2fs('--bogus', 'info', '/tmp');
    expect(r.code).to.equal(2);
    expectOneLineError(r.err);
    expect(r.err).to.include('--bogus');
    const r2 = await h2fs('-b');
    expect(r2.code).to.equal(2);
    expectOneLineError(r2.err);
    const r3 = await h2fs('-b', '12q', 'info', '/tmp');
    expect(r3.code).to.equal(2);
    expectOneLineError(r3.err);
  });

  it('unknown command option and wrong argument count: exit 2', async () => {
    const dir = await newStore();
    const r = await h2fs('info', '--nope', dir);
    expect(r.code).to.equal(2);
    expectOneLineError(r.err);
    const r2 = await h2fs('info');
    expect(r2.code).to.equal(2);
    expectOneLineError(r2.err);
    const r3 = await h2fs('newfs', path.join(tmpDir(), 's'), 'color=blue');
    expect(r3.code).to.equal(2);
    expectOneLineError(r3.err);
  });

  it('newfs into a fresh path: exit 0, prints the store and creates it', async () => {
    const dir = path.join(tmpDir(), 'fresh');
    const r = await h2fs('newfs', dir, 'label=backup');
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('');
    expect(r.out).to.include(`Store ${dir} created`);
    expect(r.out).to.match(/store-uuid=[0-9a-f-]{36}\n/);
    expect(r.out).to.include('label="backup"');
    expect(r.out).to.match(/first-tid=0x[0-9a-f]{16}\n/);
    expect(Store.isStore(dir)).to.equal(true);
    expect(fs.statSync(dir).mode & 0o777).to.equal(0o700);
    const s = Store.open(dir, { readOnly: true });
    try {
      expect(s.meta.label).to.equal('backup');
      expect(r.out).to.include(`first-tid=0x${s.lastTid.toString(16).padStart(16, '0')}`);
    } finally {
      await s.close();
    }
  });

  it('newfs into a non-empty directory fails without touching it', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'precious'), 'keep me');
    const r = await h2fs('newfs', dir);
    expect(r.code).to.equal(1);
    expectOneLineError(r.err);
    expect(r.err).to.include('not empty');
    expect(fs.readdirSync(dir)).to.deep.equal(['precious']);
    expect(fs.readFileSync(path.join(dir, 'precious'), 'utf8')).to.equal('keep me');
  });

  it('info STORE on an unmounted store: exit 0 and "not mounted"', async () => {
    const dir = await newStore();
    const r = await h2fs('info', dir);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include(`store ${dir} {`);
    expect(r.out).to.include('    not mounted');
    expect(r.out).to.include('    records=1');
    expect(r.out).to.match(/ {4}last-tid=0x[0-9a-f]{16}\n/);
  });

  it('--json info STORE prints parseable JSON', async () => {
    const dir = await newStore();
    for (const argv of [['--json', 'info', dir], ['info', '--json', dir]]) {
      const r = await h2fs(...argv);
      expect(r.code, r.err).to.equal(0);
      expect(lines(r.out).length).to.equal(1);
      const j = JSON.parse(r.out) as Record<string, unknown>;
      expect(j.lastTid).to.be.a('string').and.match(/^0x[0-9a-f]{16}$/);
      expect(j.firstTid).to.equal(j.lastTid);
      expect(j.records).to.equal(1);
      expect(j.mounted).to.equal(false);
      expect(j.path).to.equal(dir);
    }
  });

  it('info on a path that is neither a mount nor a store: exit 1, one-line error', async () => {
    const r = await h2fs('info', tmpDir());
    expect(r.code).to.equal(1);
    expectOneLineError(r.err);
  });

  it('synctid STORE on an unmounted store prints the last TID', async () => {
    const dir = await newStore();
    const j = JSON.parse((await h2fs('--json', 'info', dir)).out) as { lastTid: string };
    const r = await h2fs('synctid', dir);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^0x[0-9a-f]{16}\n$/);
    expect(r.out.trim()).to.equal(j.lastTid);
  });

  it('mount with a bad -o option: exit 2 before anything is started', async () => {
    const dir = await newStore();
    const mp = tmpDir();
    for (const o of ['bogus', 'commit=0', 'commit=abc', 'dirty_max=0', 'ro,nope', 'spin=-1', 'spin=1.5', 'spin=20000', 'spin=']) {
      const r = await h2fs('mount', dir, mp, '-o', o);
      expect(r.code, `-o ${o}`).to.equal(2);
      expectOneLineError(r.err);
    }
    expect(fs.existsSync(path.join(dir, 'h2fs.log'))).to.equal(false);
    expect(fs.existsSync(path.join(dir, 'h2fs.pid'))).to.equal(false);
  });
});
