/**
 * Directory entries and xattrs are keyed like HAMMER's namekey: a 48-bit hash
 * of the name in the high bits and a 16-bit collision iterator in the low
 * bits, so readdir order is a function of the records alone.
 */
import { hash } from 'node:crypto';

export const NAMEKEY_SLOTS = 0x10000n;

const memo = new Map<string, bigint>();

export function nameKeyBase(name: string): bigint {
  const hit = memo.get(name);
  if (hit !== undefined) return hit;
  // One-shot hash: createHash's object and its update/digest calls cost twice as much.
  const h = hash('md5', name, 'buffer');
  const base = h.readBigUInt64BE(0) & 0xffffffffffff0000n;
  // Lookups repeat names (paths are resolved from the root on every op).
  if (memo.size >= 100_000) memo.clear();
  memo.set(name, base);
  return base;
}
