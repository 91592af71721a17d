/**
 * Path components with HAMMER's `@@` suffixes:
 *   name@@0x<16 hex>    the entry `name` as of that TID (and everything below it)
 *   @@0x<16 hex>        the current directory as of that TID
 *   @@-1:NNNNN, @@0x<tid>:NNNNN   a PFS root (at the mount root only)
 */
import { TID_MAX, type Tid } from '../tid.js';

export type Component =
  | { kind: 'name'; name: string }
  | { kind: 'asof'; name: string | null; tid: Tid }
  | { kind: 'pfs'; pfs: number; tid: Tid };

const ASOF = /^(.*)@@0x([0-9a-fA-F]{16})$/;
const PFSLINK = /^@@(-1|0x[0-9a-fA-F]{16}):(\d{5})$/;

export function parseComponent(c: string): Component {
  const p = PFSLINK.exec(c);
  if (p) {
    const tid = p[1] === '-1' ? TID_MAX : BigInt(p[1]!);
    return { kind: 'pfs', pfs: Number(p[2]), tid };
  }
  const m = ASOF.exec(c);
  if (m) return { kind: 'asof', name: m[1] === '' ? null : m[1]!, tid: BigInt('0x' + m[2]!) };
  return { kind: 'name', name: c };
}

export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** Parent path and last name of a FUSE path ("/a/b" -> ["/a", "b"]). */
export function splitParent(path: string): [string, string] {
  const i = path.lastIndexOf('/');
  const parent = i <= 0 ? '/' : path.slice(0, i);
  return [parent, path.slice(i + 1)];
}
