/**
 * mirror-stream: mirror-copy that never ends. The source (mirror-read-stream)
 * ships each commit as it happens; the link is rebuilt after any transient
 * failure with backoff (1 s doubling to 60 s, with jitter), forever; fatal
 * failures stop it with status 1. Every restart resumes from the slave's
 * sync-end-tid, so nothing acknowledged is sent twice.
 */
import { H2Error } from '../../errors.js';
import * as log from '../../log.js';
import { formatTid, tidToDate, type Tid } from '../../tid.js';
import { MREC, relay, type WatchedFrame, type RelayState } from '../../mirror/index.js';
import { BandwidthLimit } from '../../transport/bwlimit.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { openSource, openTarget, type OpenedEndpoint, type OpenedSource } from '../endpoints.js';
import { endpointOptions, REMOTE_OPTIONS } from './mirror.js';

/** Failures no retry can fix: the user has to act. */
const FATAL = new Set([
  'H2_SHARED_UUID_MISMATCH', 'H2_NOT_SLAVE', 'H2_VERSION', 'H2_AUTH', 'H2_HOSTKEY', 'H2_PROTOCOL',
  'H2_BAD_MRECORD', 'H2_USAGE', 'H2_BAD_TID', 'H2_NOT_PFS', 'H2_PFS_STATE',
]);

export function isFatal(e: unknown): boolean {
  if (!(e instanceof H2Error)) return false;
  if (FATAL.has(e.code)) return true;
  // A missing slave without -y, or a missing source PFS: configuration, not weather.
  return e.code === 'ENOENT' && /does not exist|no such|cannot be read/i.test(e.message);
}

/** 1 s doubling to 60 s, with +-25 % jitter. */
export function backoffMs(attempt: number, rand: () => number = Math.random): number {
  const base = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6));
  return Math.round(base * (0.75 + rand() * 0.5));
}

function human(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1073741824) return `${(bytes / 1048576).toFixed(1)} MiB`;
  return `${(bytes / 1073741824).toFixed(2)} GiB`;
}

function secs(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/**
 * The -v status: one live line on a terminal, redrawn every second in every
 * state; elsewhere (a log, a journal) a line per finished batch and one every
 * 10 s while a long batch runs, so a months-long stream does not flood it.
 */
class Status {
  private readonly tty: boolean;
  private lastLen = 0;
  private rateBytes = 0;
  private rateAt = Date.now();
  private rate = 0;
  private lastLineAt = 0;
  state: 'Running' | 'Waiting' | 'Lost link' | 'Connecting' = 'Connecting';
  /** Bytes relayed by finished sessions. */
  total = 0;
  relay: RelayState | undefined;
  outage: { why: string; retryAt: number } | undefined;

  constructor(private readonly ctx: CommandContext) {
    this.tty = Boolean((ctx.stderr as NodeJS.WriteStream).isTTY);
  }

  private line(): string {
    const s = this.relay;
    const now = Date.now();
    const bytes = this.total + (s?.forwardBytes ?? 0);
    if (now - this.rateAt >= 1000) {
      this.rate = Math.max(0, bytes - this.rateBytes) / ((now - this.rateAt) / 1000);
      this.rateBytes = bytes;
      this.rateAt = now;
    }
    if (this.state === 'Lost link' && this.outage) {
      const wait = Math.max(0, Math.ceil((this.outage.retryAt - now) / 1000));
      return `${this.state.padEnd(9)} ${this.outage.why} (retry in ${wait}s) ${human(bytes)} total`;
    }
    if (!s) return `${this.state.padEnd(9)} ${human(bytes)} total`;
    const head = s.batchEnd ?? 0n;
    const acked = s.ackedTid ?? 0n;
    const lagTids = head > acked ? head - acked : 0n;
    const lagSecs = Number(lagTids) / 1e6;
    let text = `${this.state.padEnd(9)} ${formatTid(s.batchBeg ?? acked)}..${formatTid(head)} acked ${formatTid(acked)} ` +
      `${human(bytes)} ${human(this.rate)}/s lag ${secs(lagSecs)}`;
    if (s.estBytes !== undefined && s.forwardBytes < s.estBytes) {
      const done = s.forwardBytes;
      const eta = this.rate > 0 ? (s.estBytes - done) / this.rate : Infinity;
      text += ` bulk ${human(done)}/${human(s.estBytes)} eta ${secs(Math.max(0, eta))}`;
    }
    return text;
  }

  private write(text: string): void {
    this.lastLineAt = Date.now();
    if (this.tty) {
      this.ctx.stderr.write('\r' + text.padEnd(this.lastLen));
      this.lastLen = text.length;
    } else {
      this.ctx.stderr.write(text + '\n');
    }
  }

  /** Every second. */
  tick(): void {
    if (log.logLevel() < 1) return;
    const text = this.line();
    if (this.tty) this.write(text);
    else if (this.state === 'Running' && Date.now() - this.lastLineAt >= 10_000) this.write(text);
  }

  /** The slave has caught up with a batch. */
  batchDone(): void {
    if (log.logLevel() < 1) return;
    const text = this.line();
    if (!this.tty) this.write(text);
  }

  note(text: string): void {
    if (log.logLevel() < 0) return;
    if (this.tty && this.lastLen) this.ctx.stderr.write('\n');
    this.lastLen = 0;
    this.ctx.stderr.write(text + '\n');
  }
}

export const mirrorStream: Command = {
  name: 'mirror-stream',
  usage: 'mirror-stream [-p PORT] [-i IDENTITY] [--accept-new] [--remote-h2fs CMD] [[user@]host:]SRC [[user@]host:]DST',
  summary: 'mirror a PFS continuously, reconnecting after failures, until interrupted',
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('mirror-stream', ctx.args, REMOTE_OPTIONS, this.usage);
    requirePositionals('mirror-stream', positionals, 2, 2, this.usage);
    const [srcSpec, dstSpec] = positionals as [string, string];
    const o = { ...endpointOptions(ctx, values), stream: true, intervalSecs: ctx.global.interval ?? 0 };
    const status = new Status(ctx);
    let stopping = false;
    let interrupts = 0;
    let current: { src?: OpenedSource; dst?: OpenedEndpoint; idle: boolean } = { idle: false };
    let wake: (() => void) | undefined;
    const stop = (): void => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      stopping = true;
      // Safe at any moment: the slave only ever holds whole TIDs. Wait for the
      // TID in flight when running; stop at once when waiting.
      const close = (): void => {
        current.src?.close();
        current.dst?.close();
        wake?.();
      };
      if (current.idle) close();
      else setTimeout(close, 5000).unref();
      closeOnIdle = close;
    };
    let closeOnIdle: (() => void) | undefined;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);

    let attempt = 0;
    let outage: string | undefined;
    let lastAcked: Tid = 0n;
    let lastShown: Tid | undefined;
    const ticker = setInterval(() => status.tick(), 1000);
    try {
      while (!stopping) {
        let state: RelayState | undefined;
        try {
          status.state = 'Connecting';
          current = { idle: false };
          current.src = await openSource(srcSpec, o);
          current.dst = await openTarget(dstSpec, o);
          const limiter = ctx.global.bandwidth ? new BandwidthLimit(ctx.global.bandwidth) : undefined;
          const r = relay(current.src, current.dst, {
            ...(limiter ? { limiter } : {}),
            onFrame: (from: 'source' | 'target', f: WatchedFrame, s: RelayState) => {
              if (from === 'target' && (f.type === MREC.TARGET || f.type === MREC.ACK)) {
                lastAcked = s.ackedTid ?? lastAcked;
                if (outage !== undefined) {
                  status.note(`Link restored (slave at ${formatTid(s.ackedTid ?? 0n)})`);
                  outage = undefined;
                  status.outage = undefined;
                }
                attempt = 0;
                const caughtUp = s.batchEnd === undefined || (s.ackedTid ?? 0n) >= s.batchEnd;
                current.idle = caughtUp;
                status.state = caughtUp ? 'Waiting' : 'Running';
                if (caughtUp) closeOnIdle?.();
                if (caughtUp && f.type === MREC.ACK && s.ackedTid !== lastShown) {
                  lastShown = s.ackedTid;
                  status.batchDone();
                }
                if (caughtUp && f.type === MREC.ACK && log.logLevel() >= 2) {
                  const lag = Date.now() - tidToDate(f.msg.tid).getTime();
                  status.note(`Mirror-stream: slave at ${formatTid(f.msg.tid)} (${lag} ms after that commit)`);
                }
              } else if (from === 'source' && f.type === MREC.BATCH) {
                current.idle = false;
                status.state = 'Running';
                if (log.logLevel() >= 2) status.note(`Mirror-stream: batch ${formatTid(f.msg.begTid)} < tid <= ${formatTid(f.msg.endTid)}`);
              }
            },
          });
          state = r.state;
          status.relay = r.state;
          await r.done;
          if (stopping) break;
          throw new H2Error('H2_TRANSPORT', 'the source ended the stream');
        } catch (e) {
          current.src?.close();
          current.dst?.close();
          if (state) status.total += state.forwardBytes;
          status.relay = undefined;
          if (stopping) break;
          if (isFatal(e)) throw e;
          const why = (e as Error).message;
          if (outage === undefined) {
            status.note(`Lost link: ${why}`);
            outage = why;
          } else {
            log.debug(`h2fs: mirror-stream: still down: ${why}`);
          }
          status.state = 'Lost link';
          const wait = backoffMs(attempt++);
          status.outage = { why, retryAt: Date.now() + wait };
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, wait);
            wake = () => { clearTimeout(t); resolve(); };
          });
          wake = undefined;
        }
      }
    } finally {
      clearInterval(ticker);
    }
    status.note(`Mirror-stream stopped: slave at ${formatTid(lastAcked)}`);
    return 0;
  },
};
