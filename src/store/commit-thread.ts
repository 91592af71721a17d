/**
 * The event loop's side of the commit thread (commit-worker.ts). A sealed
 * flush group is posted as a CommitJob, a slave's mirror part as a
 * MirrorJob, and the loop goes on serving; each reply (landed, failed, or
 * skipped after a failure) comes back in the order the jobs went,
 * through `onReply`, either as a message event or, when the loop must wait
 * for the thread (`waitWhile`), pulled synchronously off the port.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Tid } from '../tid.js';
import type { CommitJob } from './commit-job.js';
import type { MirrorJob } from './mirror-job.js';

export interface CommitThreadData {
  dir: string;
  /** Int32 [0]: replies the thread has posted. */
  replies: SharedArrayBuffer;
  /** The event loop's MapAdvice counter (env.advice.depthBuffer). */
  adviceDepth: SharedArrayBuffer;
  /** Bulk mirror parts leave the page cache once written (drop-behind.ts). */
  dropBulkParts: boolean;
}

export type ToCommitThread =
  | { op: 'job'; job: CommitJob }
  /** `chain`: a mirror session's parts; once one fails, the rest of its chain is skipped. */
  | { op: 'mirror'; id: number; chain: number; job: MirrorJob }
  | { op: 'reset' } | { op: 'close' };

export interface CommitReply {
  tid: Tid;
  /** Landed: record versions written. */
  written?: number;
  /** The transaction failed; nothing of this job is in the store. */
  error?: string;
  /** Not tried: an earlier job had failed. */
  skipped?: boolean;
}

export interface MirrorReply {
  mirror: number;
  /** The transaction failed (nothing of the part is in the store): the error's message and H2 code. */
  error?: string;
  code?: string;
  /** Not tried: an earlier part of its chain, or a commit, had failed. */
  skipped?: boolean;
  /** The part's buffer, handed back for reuse. */
  ops?: ArrayBuffer;
}

export type ThreadReply = CommitReply | MirrorReply;

export function isMirrorReply(r: ThreadReply): r is MirrorReply {
  return 'mirror' in r;
}

/** How long one wait on the thread may take before we look whether it is still alive. */
const WAIT_SLICE_MS = 1000;

export class CommitThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly counter: Int32Array;
  private posted = 0;
  private handled = 0;
  private exited: Error | undefined;
  private closing = false;

  /** `onDeath`: the thread died; called once, after `alive` turned false. */
  constructor(dir: string, adviceDepth: SharedArrayBuffer, private readonly onReply: (r: ThreadReply) => void,
    onDeath: () => void = () => undefined, dropBulkParts = true) {
    const { port1, port2 } = new MessageChannel();
    const replies = new SharedArrayBuffer(4);
    this.counter = new Int32Array(replies);
    this.port = port1;
    this.worker = new Worker(new URL('./commit-worker.js', import.meta.url), {
      workerData: { dir, replies, adviceDepth, dropBulkParts, port: port2 }, transferList: [port2],
      // This thread's garbage is each job's copied keys, leaves and small
      // blocks (full blocks are shared slabs, never freed): a small young
      // generation collects it every few jobs and keeps the heap small.
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    const died = (e: Error): void => {
      if (this.exited) return;
      this.exited = e;
      if (!this.closing) onDeath();
    };
    this.worker.on('error', died);
    this.worker.on('exit', (code) => died(new Error(`the commit thread exited (${code})`)));
    this.port.on('message', (r: ThreadReply) => this.handle(r));
    this.idle();
  }

  /** Jobs posted and not yet answered. */
  get pending(): number {
    return this.posted - this.handled;
  }

  /** False once the thread died: nothing posted and unanswered will be answered. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  /** Why the thread died. */
  get failure(): Error | undefined {
    return this.exited;
  }

  post(job: CommitJob): void {
    this.send({ op: 'job', job });
  }

  /** The part's buffer is transferred: `job.ops` is detached here afterwards. */
  postMirror(id: number, chain: number, job: MirrorJob): void {
    this.send({ op: 'mirror', id, chain, job }, [job.ops]);
  }

  private send(m: ToCommitThread, transfer: ArrayBuffer[] = []): void {
    if (this.exited) throw this.exited;
    this.posted++;
    this.port.ref();
    this.worker.ref();
    this.port.postMessage(m, transfer);
  }

  /** After a failure: the thread may write again. */
  reset(): void {
    this.port.postMessage({ op: 'reset' } satisfies ToCommitThread);
  }

  /**
   * Blocks the event loop while `busy()` holds and jobs are unanswered,
   * handling the replies in order; returns early if the thread died.
   */
  waitWhile(busy: () => boolean): void {
    while (this.pending > 0 && busy()) {
      const m = receiveMessageOnPort(this.port);
      if (m) {
        this.handle(m.message as ThreadReply);
        continue;
      }
      if (this.exited) return;
      // The thread counts a reply after queueing it: a count past ours means a message to take.
      Atomics.wait(this.counter, 0, this.handled, WAIT_SLICE_MS);
    }
  }

  /** Blocks until every job posted is answered (or the thread died). */
  drain(): void {
    this.waitWhile(() => true);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    const gone = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.port.postMessage({ op: 'close' } satisfies ToCommitThread);
    this.worker.ref();
    await gone;
    this.port.close();
  }

  private handle(r: ThreadReply): void {
    this.handled++;
    if (this.pending === 0) this.idle();
    this.onReply(r);
  }

  /** Nothing in flight: the thread must not keep the process alive. */
  private idle(): void {
    this.port.unref();
    this.worker.unref();
  }
}
