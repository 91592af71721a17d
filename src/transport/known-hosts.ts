/**
 * OpenSSH known_hosts checking for ssh2 (which checks nothing itself):
 * plain, `[host]:port` and hashed `|1|salt|hash` names; @revoked keys are
 * refused; @cert-authority lines are ignored (no certificates here).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { H2Error } from '../errors.js';

export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

/** The name known_hosts uses for a host and port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  // Only * and ? are wildcards; everything else (brackets of [host]:port too) is literal.
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(name);
}

/** OpenSSH: a line matches when some pattern matches and no negated (!) pattern does. */
function lineMatches(names: string, name: string): boolean {
  let hit = false;
  for (const p of names.split(',')) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) {
      hit = true;
    }
  }
  return hit;
}

/** The key type named inside an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

export function checkHostKey(file: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return 'unknown';
  }
  const name = knownHostsName(host, port);
  const type = keyTypeOf(key);
  let known = false;
  let sawHost = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let marker = '';
    if (fields[0]?.startsWith('@')) {
      marker = fields[0];
      fields = fields.slice(1);
    }
    const [names, ktype, b64] = fields;
    if (!names || !ktype || !b64) continue;
    if (!lineMatches(names, name) || marker === '@cert-authority') continue;
    const same = Buffer.from(b64, 'base64').equals(key);
    // A revoked key is refused wherever its line stands.
    if (marker === '@revoked') {
      if (same) return 'revoked';
      continue;
    }
    if (same) known = true;
    else if (ktype === type) sawHost = true;
  }
  if (known) return 'known';
  return sawHost ? 'changed' : 'unknown';
}

export function addHostKey(file: string, host: string, port: number, key: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.appendFileSync(file, `${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}

/** A hostVerifier for ssh2; records why it refused in `refusal`. */
export function hostVerifier(file: string, host: string, port: number, acceptNew: boolean):
  { verify: (key: Buffer) => boolean; refusal: () => H2Error | undefined } {
  let refusal: H2Error | undefined;
  const verify = (key: Buffer): boolean => {
    const v = checkHostKey(file, host, port, key);
    if (v === 'known') return true;
    if (v === 'unknown' && acceptNew) {
      addHostKey(file, host, port, key);
      return true;
    }
    const name = knownHostsName(host, port);
    refusal = v === 'changed'
      ? new H2Error('H2_HOSTKEY', `host key for ${name} has CHANGED (it does not match ${file}); refusing to connect`,
        { hint: 'if the change is expected, remove the old key: ssh-keygen -R ' + name })
      : v === 'revoked'
        ? new H2Error('H2_HOSTKEY', `host key for ${name} is revoked in ${file}`)
        : new H2Error('H2_HOSTKEY', `host key for ${name} is not in ${file}; refusing to connect`,
          { hint: `verify it and add it (ssh-keyscan, or ssh ${host} once), or pass --accept-new` });
    return false;
  };
  return { verify, refusal: () => refusal };
}
