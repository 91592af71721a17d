/**
 * The commit thread: writes the flush groups the event loop seals, and a
 * slave's mirror parts, one LMDB transaction each, in the order they come.
 * After a failed flush group it writes nothing more (later TIDs must not
 * land before an earlier one) until the event loop, having rewritten the
 * failed ones itself, says `reset`. A failed mirror part stops only its own
 * chain (its session): the part after it must not land without it.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { H2Error } from '../errors.js';
import { writeCommitJob, type CommitJob } from './commit-job.js';
import { DropBehind } from './drop-behind.js';
import { openLmdb, pageSizeOf } from './lmdb.js';
import { MapPrefault } from './map-advice.js';
import { writeMirrorJob } from './mirror-job.js';
import type { CommitThreadData, ThreadReply, ToCommitThread } from './commit-thread.js';

const { dir, port, replies, adviceDepth, dropBulkParts } = workerData as CommitThreadData & { port: MessagePort };
const counter = new Int32Array(replies);
const env = openLmdb(dir, { adviceDepth });
const prefault = new MapPrefault(env.dataFile);
const dropBehind = new DropBehind(env.dataFile, pageSizeOf(env));
/**
 * Parts this big are a bulk copy's (an incremental round's are smaller): they
 * leave the page cache once written (drop-behind.ts).
 */
const BULK_PART_BYTES = 1 << 20;
let stopped = false;
/** Mirror chains with a failed part. */
const brokenChains = new Set<number>();

function answer(r: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(r, transfer);
  // After the message is queued: a waiter that wakes finds it.
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
}

port.on('message', (m: ToCommitThread) => {
  if (m.op === 'reset') {
    stopped = false;
  } else if (m.op === 'close') {
    dropBehind.close();
    void env.root.close().finally(() => port.close());
  } else if (m.op === 'mirror') {
    // The part's buffer goes back with every answer, for the next part.
    const back = { ops: m.job.ops };
    if (stopped || brokenChains.has(m.chain)) {
      brokenChains.add(m.chain);
      answer({ mirror: m.id, skipped: true, ...back }, [back.ops]);
      return;
    }
    try {
      writeMirrorJob(env, m.job);
    } catch (e) {
      brokenChains.add(m.chain);
      answer({ mirror: m.id, error: (e as Error).message, ...(e instanceof H2Error ? { code: e.code } : {}), ...back }, [back.ops]);
      return;
    }
    answer({ mirror: m.id, ...back }, [back.ops]);
    // A mirrored part is not read back soon: no reason to map it.
    const grown = prefault.skipGrowth();
    if (dropBulkParts && m.job.len >= BULK_PART_BYTES) dropBehind.afterPart(grown.from, grown.to);
  } else {
    const job: CommitJob = m.job;
    if (stopped) {
      answer({ tid: job.tid, skipped: true });
      return;
    }
    let written: number;
    try {
      written = writeCommitJob(env, job);
    } catch (e) {
      stopped = true;
      answer({ tid: job.tid, error: (e as Error).message });
      return;
    }
    answer({ tid: job.tid, written });
    // After the answer: the commit's latency stays what it was.
    prefault.afterCommit();
  }
});
