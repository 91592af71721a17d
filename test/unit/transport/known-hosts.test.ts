import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { H2Error } from '../../../src/errors.js';
import {
  addHostKey, checkHostKey, hostVerifier, keyTypeOf, knownHostsName,
} from '../../../src/transport/known-hosts.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

/** An SSH public key blob: string type | string key bytes (RFC 4253 framing). */
function keyBlob(type: string, seed: number): Buffer {
  const t = Buffer.from(type, 'latin1');
  const body = Buffer.alloc(32, seed);
  const b = Buffer.alloc(4 + t.length + 4 + body.length);
  b.writeUInt32BE(t.length, 0);
  t.copy(b, 4);
  b.writeUInt32BE(body.length, 4 + t.length);
  body.copy(b, 8 + t.length);
  return b;
}

const ED_A = keyBlob('ssh-ed25519', 0xa1);
const ED_B = keyBlob('ssh-ed25519', 0xb2);
const RSA = keyBlob('ssh-rsa', 0xc3);

function line(names: string, key: Buffer, marker = ''): string {
  return `${marker ? marker + ' ' : ''}${names} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** OpenSSH HashKnownHosts: |1|base64(salt)|base64(HMAC-SHA1(salt, name)). */
function hashed(name: string, salt = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('transport/known-hosts', () => {
  let dir: string;
  let file: string;
  const write = (...lines: string[]): void => fs.writeFileSync(file, lines.join('\n') + '\n');

  beforeEach(() => {
    dir = tmpDir();
    file = path.join(dir, 'known_hosts');
  });
  after(() => removeTmpDirs());

  it('reads the key type from the blob and names hosts as OpenSSH does', () => {
    expect(keyTypeOf(ED_A)).to.equal('ssh-ed25519');
    expect(keyTypeOf(RSA)).to.equal('ssh-rsa');
    expect(keyTypeOf(Buffer.alloc(2))).to.equal('unknown');
    expect(knownHostsName('h.example', 22)).to.equal('h.example');
    expect(knownHostsName('h.example', 2222)).to.equal('[h.example]:2222');
    expect(knownHostsName('::1', 2222)).to.equal('[::1]:2222');
  });

  it('a plain name with the same key is known', () => {
    write('# comment', '', line('h.example', ED_A));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('known');
    expect(checkHostKey(file, 'H.EXAMPLE', 22, ED_A), 'host names compare case-insensitively').to.equal('known');
    expect(checkHostKey(file, 'other.example', 22, ED_A)).to.equal('unknown');
  });

  it('matches any name of a comma list, and wildcards', () => {
    write(line('a.example,b.example,10.0.0.7', ED_A), line('*.wild.example', ED_B));
    for (const h of ['a.example', 'b.example', '10.0.0.7']) expect(checkHostKey(file, h, 22, ED_A), h).to.equal('known');
    expect(checkHostKey(file, 'c.example', 22, ED_A)).to.equal('unknown');
    expect(checkHostKey(file, 'x.wild.example', 22, ED_B)).to.equal('known');
    // A dot in a pattern is literal, not a regex wildcard.
    expect(checkHostKey(file, 'aXexample', 22, ED_A)).to.equal('unknown');
  });

  it('[host]:port entries are for that port only; plain entries for port 22 only', () => {
    write(line('[h.example]:2222', ED_A), line('p.example', ED_B));
    expect(checkHostKey(file, 'h.example', 2222, ED_A)).to.equal('known');
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('unknown');
    expect(checkHostKey(file, 'h.example', 2223, ED_A)).to.equal('unknown');
    expect(checkHostKey(file, 'p.example', 2222, ED_B)).to.equal('unknown');
    expect(checkHostKey(file, 'p.example', 22, ED_B)).to.equal('known');
  });

  it('hashed |1|salt|hash entries match the name they hash (and the port form)', () => {
    write(line(hashed('h.example'), ED_A), line(hashed('[h.example]:2200'), ED_B));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('known');
    expect(checkHostKey(file, 'g.example', 22, ED_A)).to.equal('unknown');
    expect(checkHostKey(file, 'h.example', 2200, ED_B)).to.equal('known');
    expect(checkHostKey(file, 'h.example', 22, ED_B)).to.equal('changed');
  });

  it('a malformed hashed entry matches nothing', () => {
    write(line('|1|onlysalt', ED_A), line('|1||', ED_A));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('unknown');
  });

  it('another key of the same type for the host is "changed" (plain and hashed)', () => {
    write(line('h.example', ED_A));
    expect(checkHostKey(file, 'h.example', 22, ED_B)).to.equal('changed');
    write(line(hashed('h.example'), ED_A));
    expect(checkHostKey(file, 'h.example', 22, ED_B)).to.equal('changed');
  });

  it('a key of another type is "unknown" (not yet known for that type), unless also listed', () => {
    write(line('h.example', RSA));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('unknown');
    write(line('h.example', RSA), line('h.example', ED_B), line('h.example', ED_A));
    expect(checkHostKey(file, 'h.example', 22, ED_A), 'a later line with the same key wins').to.equal('known');
  });

  it('@revoked keys are refused', () => {
    write(line('h.example', ED_A, '@revoked'));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('revoked');
    write(line('*', ED_A, '@revoked'), line('h.example', ED_B));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('revoked');
    expect(checkHostKey(file, 'h.example', 22, ED_B)).to.equal('known');
  });

  // Known bug (see the report): the verdict depends on line order; OpenSSH
  // refuses a revoked key wherever the @revoked line is.
  it('@revoked wins over a plain line with the same key listed before it', () => {
    write(line('h.example', ED_A), line('h.example', ED_A, '@revoked'));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('revoked');
  });

  // Known bug (see the report): OpenSSH's !pattern makes the whole line not match.
  it('a negated pattern excludes the host even when another pattern matches', () => {
    write(line('*.example,!bad.example', ED_A));
    expect(checkHostKey(file, 'bad.example', 22, ED_A)).to.equal('unknown');
  });

  it('@cert-authority lines are ignored', () => {
    write(line('*.example', ED_A, '@cert-authority'));
    expect(checkHostKey(file, 'h.example', 22, ED_A)).to.equal('unknown');
  });

  it('a missing file knows nothing', () => {
    expect(checkHostKey(path.join(dir, 'nope'), 'h.example', 22, ED_A)).to.equal('unknown');
  });

  it('addHostKey appends a line OpenSSH can read, 0600, creating the directory', () => {
    const f = path.join(dir, 'sub', 'known_hosts');
    addHostKey(f, 'h.example', 2222, ED_A);
    expect(fs.readFileSync(f, 'utf8')).to.equal(`[h.example]:2222 ssh-ed25519 ${ED_A.toString('base64')}\n`);
    expect(fs.statSync(f).mode & 0o777).to.equal(0o600);
    expect(checkHostKey(f, 'h.example', 2222, ED_A)).to.equal('known');
  });

  describe('hostVerifier', () => {
    it('accepts a known key and refuses nothing', () => {
      write(line('h.example', ED_A));
      const hv = hostVerifier(file, 'h.example', 22, false);
      expect(hv.verify(ED_A)).to.equal(true);
      expect(hv.refusal()).to.equal(undefined);
    });

    it('with acceptNew, adds an unknown key, which then checks as known', () => {
      write(line('other.example', ED_B));
      const hv = hostVerifier(file, 'h.example', 2222, true);
      expect(hv.verify(ED_A)).to.equal(true);
      expect(hv.refusal()).to.equal(undefined);
      expect(checkHostKey(file, 'h.example', 2222, ED_A)).to.equal('known');
      expect(checkHostKey(file, 'other.example', 22, ED_B), 'existing lines kept').to.equal('known');
      expect(fs.readFileSync(file, 'utf8').trim().split('\n')).to.have.length(2);
    });

    it('without acceptNew, refuses an unknown key and adds nothing', () => {
      const hv = hostVerifier(file, 'h.example', 22, false);
      expect(hv.verify(ED_A)).to.equal(false);
      const e = hv.refusal();
      expect(e).to.be.instanceOf(H2Error);
      expect(e!.code).to.equal('H2_HOSTKEY');
      expect(e!.message).to.include('is not in');
      expect(fs.existsSync(file)).to.equal(false);
    });

    it('refuses a changed key even with acceptNew, and leaves the file alone', () => {
      write(line('[h.example]:2222', ED_A));
      const before = fs.readFileSync(file, 'utf8');
      const hv = hostVerifier(file, 'h.example', 2222, true);
      expect(hv.verify(ED_B)).to.equal(false);
      expect(hv.refusal()!.code).to.equal('H2_HOSTKEY');
      expect(hv.refusal()!.message).to.include('has CHANGED');
      expect(hv.refusal()!.hint).to.include('ssh-keygen -R [h.example]:2222');
      expect(fs.readFileSync(file, 'utf8')).to.equal(before);
    });

    it('refuses a revoked key even with acceptNew', () => {
      write(line('h.example', ED_A, '@revoked'));
      const hv = hostVerifier(file, 'h.example', 22, true);
      expect(hv.verify(ED_A)).to.equal(false);
      expect(hv.refusal()!.message).to.include('revoked');
    });
  });
});
