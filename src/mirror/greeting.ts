/**
 * The greeting (the source's HELLO, the target's TARGET) taken off a stream
 * one frame at a time before the stream is piped: mirror-copy looks at
 * where the target stands before it picks who reads the store (see
 * cli/local-source.ts).
 */
import type { Readable } from 'node:stream';
import { H2Error } from '../errors.js';
import type { Tid } from '../tid.js';
import { decodeFrameBody, HEADER_LEN, MAX_FRAME, MREC, SIGNATURE } from './frame.js';

/**
 * The next frame's bytes off `r`, as they came (null: `r` ended first);
 * whatever followed it is put back and `r` left paused for whoever reads
 * next. Only the framing is checked here: the frame's reader checks the rest.
 */
export function takeFrame(r: Readable): Promise<Buffer | null> {
  return new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const settle = (f: Buffer | null, e?: Error): void => {
      r.off('data', onData);
      r.off('end', onEnd);
      r.off('close', onEnd);
      r.pause();
      if (e) reject(e); else resolve(f);
    };
    const onEnd = (): void => settle(null);
    const onData = (c: Buffer): void => {
      chunks.push(c);
      have += c.length;
      if (have < HEADER_LEN) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      chunks.length = 0;
      chunks.push(all);
      const len = all.readUInt32BE(8);
      if (all.readUInt32BE(0) !== SIGNATURE || len < HEADER_LEN || len > MAX_FRAME) {
        settle(null, new H2Error('H2_PROTOCOL', 'malformed stream: lost the frame boundaries'));
        return;
      }
      if (have < len) return;
      // Stop listening first: put back into a flowing stream, the rest would come straight back here.
      settle(all.subarray(0, len));
      if (have > len) r.unshift(all.subarray(len));
    };
    r.on('data', onData);
    r.once('end', onEnd);
    r.once('close', onEnd);
    // A 'data' listener alone does not restart a stream paused by hand (as controlStream leaves its socket).
    r.resume();
  });
}

/** The TARGET's sync-end-tid, if `bytes` are a TARGET frame (undefined otherwise, or if it does not decode). */
export function targetSyncEndTid(bytes: Buffer): Tid | undefined {
  if (bytes.readUInt16BE(12) !== MREC.TARGET) return undefined;
  try {
    const f = decodeFrameBody(MREC.TARGET, bytes.subarray(HEADER_LEN));
    return f.type === MREC.TARGET ? f.msg.syncEndTid : undefined;
  } catch {
    return undefined;
  }
}
