/**
 * The frames pinned by the v1 golden fixtures (test/fixtures/mrecord/v1/).
 * scripts/gen-golden.mjs writes encodeFrame(frame) of each to `<name>.bin`;
 * test/unit/mirror/frame.test.ts re-encodes them and compares byte for byte.
 * Changing a value here means regenerating the fixtures on purpose.
 *
 * The values are fixed (no clocks, no random UUIDs) and cover the awkward
 * ranges: TIDs just above 2^53 (lossy as a JS number), at 2^63 and above
 * (msgpack uint64, not int64), a REC that carries raw data bytes.
 */
import { MREC, type Frame } from '../../src/mirror/frame.js';

/** 2^53 + 1: the first integer a JS number cannot hold. */
export const TID_ABOVE_2_53 = 0x0020000000000001n;
/** 2^63: does not fit a signed int64. */
export const TID_2_63 = 0x8000000000000000n;
/** Above 2^63, all 64 bits in use. */
export const TID_HIGH = 0xfedcba9876543210n;

export const GOLDEN_SHARED_UUID = '6d0f3c2e-8a4b-4f51-9c3d-2b1e0a9f8e7d';

/** 300 bytes 00 07 0e 15 ... (i * 7 mod 256). */
export function goldenData(): Buffer {
  const b = Buffer.alloc(300);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
  return b;
}

export interface GoldenFrame {
  /** File name without `.bin`. */
  name: string;
  frame: Frame;
}

export function goldenFrames(): GoldenFrame[] {
  return [
    {
      name: 'hello',
      frame: { type: MREC.HELLO, msg: { v: 1, version: 1, sharedUuid: GOLDEN_SHARED_UUID,
        uniqueUuid: '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b', label: 'golden master', begTid: TID_ABOVE_2_53, twoWay: true } },
    },
    {
      name: 'target',
      frame: { type: MREC.TARGET, msg: { v: 1, version: 1, sharedUuid: GOLDEN_SHARED_UUID,
        uniqueUuid: 'a0b1c2d3-e4f5-4607-8819-2a3b4c5d6e7f', syncEndTid: TID_ABOVE_2_53, created: false } },
    },
    {
      name: 'batch',
      frame: { type: MREC.BATCH, msg: { v: 1, begTid: TID_ABOVE_2_53, endTid: TID_HIGH } },
    },
    {
      name: 'rec',
      frame: { type: MREC.REC, data: goldenData(), msg: { v: 1, objId: 0x1234567, recType: 3, key: 2n,
        createTid: TID_ABOVE_2_53 + 1n, payload: { v: 1, len: 300 } } },
    },
    {
      name: 'patch',
      frame: { type: MREC.PATCH, data: goldenData().subarray(0, 40), msg: { v: 1, objId: 0x1234567, recType: 3, key: 2n,
        createTid: TID_ABOVE_2_53 + 2n, payload: { v: 1, len: 300 }, baseTid: TID_ABOVE_2_53 + 1n, off: 100 } },
    },
    {
      name: 'target-patch',
      frame: { type: MREC.TARGET, msg: { v: 1, version: 1, sharedUuid: GOLDEN_SHARED_UUID,
        uniqueUuid: 'a0b1c2d3-e4f5-4607-8819-2a3b4c5d6e7f', syncEndTid: TID_ABOVE_2_53, created: false, patch: true } },
    },
    {
      name: 'del',
      frame: { type: MREC.DEL, msg: { v: 1, objId: 42, recType: 1, key: 0n, createTid: TID_ABOVE_2_53 + 1n,
        deleteTid: TID_2_63 } },
    },
    {
      name: 'sync',
      frame: { type: MREC.SYNC, msg: { v: 1, tid: TID_2_63, count: 3 } },
    },
    {
      name: 'ack',
      frame: { type: MREC.ACK, msg: { v: 1, tid: TID_2_63 } },
    },
    {
      name: 'term',
      frame: { type: MREC.TERM, msg: { v: 1, endTid: TID_HIGH } },
    },
    {
      name: 'error',
      frame: { type: MREC.ERROR, msg: { v: 1, code: 'H2_PROTOCOL', message: 'records out of TID order (golden)' } },
    },
  ];
}
