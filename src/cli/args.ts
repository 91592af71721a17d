/** Argument helpers shared by the commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { H2Error } from '../errors.js';

/** Size with k/m/g suffix (powers of 1024), as HAMMER's -b. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text);
  if (!m) throw H2Error.usage(`bad size '${text}': expected a number with an optional k, m or g suffix`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}

export function parseSeconds(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw H2Error.usage(`bad interval '${text}': expected seconds`);
  return n;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, with its errors turned into one-line usage errors. */
export function parseCommandArgs<O extends Options>(cmd: string, args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!.replace(/^Unknown option/, 'unknown option');
    throw H2Error.usage(`${cmd}: ${msg}`, 'H2_USAGE', `usage: h2fs ${usage}`);
  }
}

export function requirePositionals(cmd: string, pos: string[], min: number, max: number, usage: string): void {
  if (pos.length < min || pos.length > max) {
    throw H2Error.usage(`${cmd}: expected ${min === max ? min : `${min} to ${max === Infinity ? 'any' : max}`} argument(s), got ${pos.length}`,
      'H2_USAGE', `usage: h2fs ${usage}`);
  }
}
