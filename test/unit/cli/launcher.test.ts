import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { H2FS_BIN } from '../../helpers/h2fs.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** bin/h2fs in the checkout, from dist/test/unit/cli. */
const LAUNCHER = path.resolve(here, '../../../../bin/h2fs');
const VERSION = JSON.parse(fs.readFileSync(path.resolve(here, '../../../../package.json'), 'utf8')).version as string;

describe('cli/launcher (bin/h2fs, the package\'s command)', () => {
  after(() => removeTmpDirs());
  // A certificate file that cannot be read: Node warns about it at start-up, so
  // the warning shows whether Node was started with the variable set.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/h2fs-test-ca.pem' };

  it('is the command package.json installs', () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(here, '../../../../package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(path.resolve(here, '../../../..', pkg.bin.h2fs!)).to.equal(LAUNCHER);
    expect(fs.statSync(LAUNCHER).mode & 0o111, 'executable').to.not.equal(0);
  });

  it('starts Node without NODE_EXTRA_CA_CERTS (which Node alone would load, and warn about here)', () => {
    const direct = spawnSync(process.execPath, [H2FS_BIN, '--version'], { env, encoding: 'utf8' });
    expect(direct.stderr, 'node without the launcher').to.match(/extra certs/i);
    const r = spawnSync(LAUNCHER, ['--version'], { env, encoding: 'utf8' });
    expect(r.status).to.equal(0);
    expect(r.stdout).to.equal(`h2fs ${VERSION}\n`);
    expect(r.stderr).to.equal('');
  });

  it('works through a symlink (how npm installs it) and passes arguments and the exit status through', () => {
    const link = path.join(tmpDir(), 'h2fs');
    fs.symlinkSync(LAUNCHER, link);
    expect(execFileSync(link, ['--version'], { encoding: 'utf8' })).to.equal(`h2fs ${VERSION}\n`);
    const usage = spawnSync(link, ['no-such-command'], { encoding: 'utf8' });
    expect(usage.status).to.equal(2);
    expect(usage.stderr).to.match(/^h2fs: unknown command 'no-such-command'/);
    const spaced = spawnSync(link, ['history', '/nonexistent/a b  c/x'], { encoding: 'utf8' });
    expect(spaced.status).to.equal(1);
    expect(spaced.stderr).to.match(/^h2fs: history: \/nonexistent\/a b {2}c\/x: not inside an h2fs mount/);
  });

  it('works however the shell finds it: from PATH through a relative symlink chain, and as a relative path', () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.symlinkSync(LAUNCHER, path.join(dir, 'real'));
    fs.symlinkSync('../real', path.join(dir, 'bin', 'h2fs'));
    const viaPath = spawnSync('h2fs', ['--version'], { env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ''}` }, encoding: 'utf8' });
    expect(viaPath.stderr).to.equal('');
    expect(viaPath.stdout).to.equal(`h2fs ${VERSION}\n`);
    const checkout = path.resolve(LAUNCHER, '../..');
    expect(execFileSync('bin/h2fs', ['--version'], { cwd: checkout, encoding: 'utf8' })).to.equal(`h2fs ${VERSION}\n`);
    expect(execFileSync('sh', ['h2fs', '--version'], { cwd: path.join(checkout, 'bin'), encoding: 'utf8' })).to.equal(`h2fs ${VERSION}\n`);
  });
});
