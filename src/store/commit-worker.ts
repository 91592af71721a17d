/**
 * The commit thread: writes the flush groups the event loop seals, one LMDB
 * transaction each, in the order they come. After a failure it writes
 * nothing more (later TIDs must not land before an earlier one) until the
 * event loop, having rewritten the failed ones itself, says `reset`.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { writeCommitJob, type CommitJob } from './commit-job.js';
import { openLmdb } from './lmdb.js';
import { MapPrefault } from './map-advice.js';
import type { CommitReply, CommitThreadData, ToCommitThread } from './commit-thread.js';

const { dir, port, replies } = workerData as CommitThreadData & { port: MessagePort };
const counter = new Int32Array(replies);
const env = openLmdb(dir);
const prefault = new MapPrefault(env.dataFile);
let stopped = false;

function answer(r: CommitReply): void {
  port.postMessage(r);
  // After the message is queued: a waiter that wakes finds it.
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
}

port.on('message', (m: ToCommitThread) => {
  if (m.op === 'reset') {
    stopped = false;
  } else if (m.op === 'close') {
    void env.root.close().finally(() => port.close());
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
