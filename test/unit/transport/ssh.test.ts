import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { H2Error } from '../../../src/errors.js';
import { parseRemoteSpec, shellQuote } from '../../../src/transport/ssh.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

describe('transport/ssh', () => {
  after(() => removeTmpDirs());

  describe('parseRemoteSpec', () => {
    it('treats absolute, ./ and ../ paths as local, even with colons', () => {
      for (const s of ['/a', '/a:b', './a', './a:b', '../x:y', '.hidden:x']) expect(parseRemoteSpec(s), s).to.equal(undefined);
    });

    it('treats a spec with a slash before its first colon as local (scp rule)', () => {
      expect(parseRemoteSpec('a/b:c')).to.equal(undefined);
      expect(parseRemoteSpec('dir/host:/p')).to.equal(undefined);
    });

    it('treats a spec without a colon as local', () => {
      expect(parseRemoteSpec('a')).to.equal(undefined);
      expect(parseRemoteSpec('user@host')).to.equal(undefined);
    });

    it('host:/p and host:relative', () => {
      expect(parseRemoteSpec('host:/p')).to.deep.equal({ host: 'host', path: '/p' });
      expect(parseRemoteSpec('slave.example:/mnt/h2/pfs1')).to.deep.equal({ host: 'slave.example', path: '/mnt/h2/pfs1' });
      expect(parseRemoteSpec('host:rel/p')).to.deep.equal({ host: 'host', path: 'rel/p' });
    });

    it('user@host:/p', () => {
      expect(parseRemoteSpec('user@host:/p')).to.deep.equal({ user: 'user', host: 'host', path: '/p' });
    });

    it('host:port:/p', () => {
      expect(parseRemoteSpec('host:2222:/p')).to.deep.equal({ host: 'host', port: 2222, path: '/p' });
      expect(parseRemoteSpec('u@host:2222:/p')).to.deep.equal({ user: 'u', host: 'host', port: 2222, path: '/p' });
    });

    it('host:digits is a path named by digits, not a port (as scp)', () => {
      expect(parseRemoteSpec('host:2222')).to.deep.equal({ host: 'host', path: '2222' });
    });

    it('[v6addr]:/p and [v6addr]:port:/p', () => {
      expect(parseRemoteSpec('[::1]:/p')).to.deep.equal({ host: '::1', path: '/p' });
      expect(parseRemoteSpec('u@[fe80::1]:2222:/p')).to.deep.equal({ user: 'u', host: 'fe80::1', port: 2222, path: '/p' });
    });

    it('keeps the rest of the path as is (colons, spaces)', () => {
      expect(parseRemoteSpec('host:/a:b c')).to.deep.equal({ host: 'host', path: '/a:b c' });
    });

    it('an empty remote path is a usage error', () => {
      for (const s of ['host:', 'u@host:', 'host:22:', '[::1]:']) {
        let err: unknown;
        try {
          parseRemoteSpec(s);
        } catch (e) {
          err = e;
        }
        expect(err, s).to.be.instanceOf(H2Error);
        expect((err as H2Error).code).to.equal('H2_USAGE');
        expect((err as H2Error).message).to.equal(`${s}: remote path is empty`);
      }
    });
  });

  describe('shellQuote', () => {
    const hostile = [
      'plain',
      '/mnt/h2/with space',
      "it's",
      "''",
      'a;touch x',
      '$(touch x)',
      '`touch x`',
      '$HOME ${HOME}',
      '"double" \\back\\slash',
      '*',
      'line\nbreak\ttab',
      '-n',
      '',
      "'; touch x; echo '",
    ];

    it('quotes every argument as one single-quoted word', () => {
      expect(shellQuote('abc')).to.equal("'abc'");
      expect(shellQuote("it's")).to.equal("'it'\\''s'");
      expect(shellQuote('')).to.equal("''");
    });

    it('round-trips through sh unchanged, expanding and executing nothing', () => {
      const cwd = tmpDir();
      fs.writeFileSync(path.join(cwd, 'decoy'), ''); // something for '*' to expand to
      for (const p of hostile) {
        const out = execFileSync('sh', ['-c', 'printf %s ' + shellQuote(p)], { cwd, encoding: 'utf8' });
        expect(out, JSON.stringify(p)).to.equal(p);
        // As a second argument too (what the remote command line looks like).
        const two = execFileSync('sh', ['-c', `printf '[%s]' ${shellQuote('x')} ${shellQuote(p)}`], { cwd, encoding: 'utf8' });
        expect(two).to.equal(`[x][${p}]`);
      }
      expect(fs.readdirSync(cwd)).to.deep.equal(['decoy']);
    });
  });
});
