/**
 * Transaction ids. A TID is a 64-bit unsigned integer carried as bigint end to
 * end (never a JS number), printed in exactly one form: `0x` + 16 hex digits.
 *
 * TIDs are time based like HAMMER's: microseconds since the epoch, bumped to
 * stay strictly above the last one. That keeps `@@` paths meaningful to
 * people and keeps a promoted slave's new TIDs above the ones it received.
 */
import { H2Error } from './errors.js';

export type Tid = bigint;

/** The live head: "no delete" for a record, "now" for a view. */
export const TID_MAX: Tid = 0xffffffffffffffffn;
export const TID_ZERO: Tid = 0n;

const TID_TEXT = /^0x[0-9a-fA-F]{16}$/;

export function formatTid(tid: Tid): string {
  return '0x' + tid.toString(16).padStart(16, '0');
}

/** Parses `0x` + 16 hex digits; anything else is a usage error. */
export function parseTid(text: string): Tid {
  if (!TID_TEXT.test(text)) {
    throw H2Error.usage(`bad TID '${text}': expected 0x followed by 16 hex digits`, 'H2_BAD_TID');
  }
  return BigInt(text);
}

export function isTidText(text: string): boolean {
  return TID_TEXT.test(text);
}

/** Next TID after `last`, from the wall clock when it is ahead. */
export function nextTid(last: Tid, nowMs: number = Date.now()): Tid {
  const fromClock = BigInt(Math.floor(nowMs * 1000));
  return fromClock > last ? fromClock : last + 1n;
}

/** The wall-clock time a time-based TID was allocated at. */
export function tidToDate(tid: Tid): Date {
  return new Date(Number(tid / 1000n));
}

export function tidMax(a: Tid, b: Tid): Tid {
  return a > b ? a : b;
}
