import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MirrorRouter, ROUTER_VERSION, where } from '../../../src/control/router.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

/** Sends one line, returns the answer line and whether the socket then stayed open. */
function ask(socket: string, line: string): Promise<{ answer: Record<string, unknown>; stayedOpen: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let buf = '';
    let closed = false;
    s.on('error', reject);
    s.on('end', () => { closed = true; });
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const answer = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      setTimeout(() => { resolve({ answer, stayedOpen: !closed }); s.destroy(); }, 100);
    });
    s.write(line);
  });
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function privateDir(): string {
  const d = path.join(tmpDir('h2fs-router-'), 'run');
  fs.mkdirSync(d, { mode: 0o700 });
  return d;
}

describe('control/router (the host\'s mirror router)', function () {
  this.timeout(20_000);
  const routers: MirrorRouter[] = [];
  const router = (socket: string): MirrorRouter => {
    const r = new MirrorRouter(socket, 50);
    routers.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(routers.splice(0).map((r) => r.stop()));
  });
  after(() => removeTmpDirs());

  it('answers only well-formed questions about plain absolute paths', () => {
    const bad = [
      {}, { v: ROUTER_VERSION + 1, op: 'where', path: '/x' }, { v: ROUTER_VERSION, op: 'who', path: '/x' },
      { v: ROUTER_VERSION, op: 'where', path: 'relative/x' }, { v: ROUTER_VERSION, op: 'where', path: '/a/../b' },
      { v: ROUTER_VERSION, op: 'where', path: '/a/./b' },
    ];
    for (const req of bad) {
      const r = where(req as Parameters<typeof where>[0]);
      expect(r.ok, JSON.stringify(req)).to.equal(false);
    }
    const none = where({ v: ROUTER_VERSION, op: 'where', path: '/nonexistent/h2fs-test/x' });
    expect(none).to.deep.include({ ok: false, code: 'H2_NOT_MOUNTED' });
  });

  it('is served by one claimant at a time, stays open after its answer, and passes to another when its server stops', async () => {
    const socket = path.join(privateDir(), 'mirror.sock');
    const a = router(socket);
    const b = router(socket);
    expect(a.start()).to.equal(true);
    await until(() => a.serving);
    expect(b.start()).to.equal(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.serving, 'a second claimant while the first serves').to.equal(false);
    expect(fs.statSync(socket).mode & 0o777).to.equal(0o600);
    // Empty lines before the question are ignored.
    const r = await ask(socket, `\n\n${JSON.stringify({ v: ROUTER_VERSION, op: 'where', path: '/nonexistent/h2fs-test/x' })}\n`);
    expect(r.answer).to.deep.include({ ok: false, code: 'H2_NOT_MOUNTED' });
    expect(r.stayedOpen, 'the router leaves closing to the asker').to.equal(true);
    await a.stop();
    await until(() => b.serving);
    const again = await ask(socket, `${JSON.stringify({ v: ROUTER_VERSION, op: 'where', path: 'x' })}\n`);
    expect(again.answer).to.deep.include({ ok: false, code: 'EINVAL' });
  });

  it('takes over a socket file whose server was killed', async () => {
    const socket = path.join(privateDir(), 'mirror.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(fs.existsSync(socket), 'the dead server left its socket file').to.equal(true);
    const r = router(socket);
    expect(r.start()).to.equal(true);
    await until(() => r.serving);
    const answer = await ask(socket, `${JSON.stringify({ v: ROUTER_VERSION, op: 'where', path: '/nonexistent/h2fs-test/y' })}\n`);
    expect(answer.answer).to.deep.include({ ok: false, code: 'H2_NOT_MOUNTED' });
  });

  it('stays out of a directory that others could write to', () => {
    const d = tmpDir('h2fs-router-open-');
    fs.chmodSync(d, 0o755);
    const r = router(path.join(d, 'mirror.sock'));
    expect(r.start()).to.equal(false);
    expect(r.serving).to.equal(false);
    expect(fs.existsSync(path.join(d, 'mirror.sock'))).to.equal(false);
  });
});
