/**
 * zlib's CRC-32, the mirror frames' checksum. Where the native addon folds
 * it with VPCLMULQDQ (about ten times zlib.crc32's speed here) frames of a
 * block take that path; short ones, and every CPU without it, use zlib.
 * Both give the same values, so either end may use either.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { nativeAddon } from './native.js';

/** Below this a call into the addon gains nothing over zlib. */
const FOLDED_MIN = 1024;

const addon = nativeAddon();
const folded = addon?.CRC32_FOLDED === 1 ? addon : null;

/** Whether crc32 takes the addon's folded path on this machine. */
export const crc32Folded = folded !== null;

export function crc32(data: Uint8Array): number {
  return folded !== null && data.length >= FOLDED_MIN ? folded.crc32(data, 0) : zlibCrc32(data);
}
