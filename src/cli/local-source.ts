/**
 * mirror-copy's source when the master is in a local mount. The daemon's
 * reader starts as for any mirror-read, on standby: its HELLO goes to the
 * target, and what the target answers picks who reads on.
 *
 * - A first copy (the slave at TID 1) is read here, in this process, as
 *   HAMMER reads in the caller's (an ioctl): the store opened read-only
 *   (LMDB serves readers in other processes) and frames packed straight
 *   into the target's channel, rather than sent through the daemon's
 *   control socket first: one process and one socket hop fewer for every
 *   byte. The daemon's reader is let go before it read anything.
 * - Anything else is read by the daemon, whose code is loaded and warm:
 *   a round of changes would pay more to load the store here (tens of ms)
 *   than it would save.
 */
import type { Readable, Writable } from 'node:stream';
import v8 from 'node:v8';
import type { Socket } from 'node:net';
import { controlCall, controlStream } from '../control/client.js';
import * as log from '../log.js';
import { takeFrame, targetSyncEndTid } from '../mirror/greeting.js';
import type { LocalSource } from '../mirror/relay.js';
import type { Store } from '../store/index.js';
import { formatTid, parseTid, type Tid } from '../tid.js';

export async function openLocalSource(storeDir: string, inner: string, begTid?: Tid): Promise<LocalSource & { close: () => void }> {
  const daemon = await controlStream(storeDir, 'mirror-read', {
    path: inner, twoWay: true, standby: true, ...(begTid !== undefined ? { begTid: formatTid(begTid) } : {}),
  });
  let out: Writable | undefined;
  let store: Store | undefined;
  let running: Promise<void> = Promise.resolve();
  const stop = (): void => {
    out?.destroy();
    daemon.destroy();
  };
  return {
    start(o: Writable, answers: Readable, reuse: boolean): void {
      out = o;
      running = (async () => {
        const hello = await takeFrame(daemon);
        if (hello) o.write(hello);
        const target = hello ? await takeFrame(answers) : null;
        // Put back for whichever reader goes on: it reads the TARGET itself.
        if (target) answers.unshift(target);
        const at = begTid ?? (target ? targetSyncEndTid(target) : undefined);
        if (at !== undefined && at <= 1n && await readHere(daemon, o, answers, reuse)) return;
        // The daemon reads on (or says what went wrong).
        daemon.pipe(o);
        answers.pipe(daemon);
      })().catch((e: unknown) => {
        log.debug(`h2fs: mirror-copy: local source: ${(e as Error).message}`);
        o.destroy(e instanceof Error ? e : new Error(String(e)));
      });
    },
    stop,
    close(): void {
      stop();
      void running.finally(() => store?.close());
    },
  };

  /** Reads the first copy in this process; false (nothing sent) when the store cannot be opened here. */
  async function readHere(standby: Socket, o: Writable, answers: Readable, reuse: boolean): Promise<boolean> {
    const [{ Store: StoreClass }, { FrameChannel }, { MirrorReader }] = await Promise.all([
      import('../store/index.js'), import('../mirror/channel.js'), import('../mirror/reader.js')]);
    let src: { pfs: number; endTid: string };
    try {
      // A daemon from before this op, or a store this user may not open: the daemon reads.
      src = await controlCall<{ pfs: number; endTid: string }>(storeDir, 'mirror-source', { path: inner });
      store = StoreClass.open(storeDir, { readOnly: true });
    } catch (e) {
      log.debug(`h2fs: mirror-copy: not reading ${storeDir} here (${(e as Error).message}); the daemon reads it`);
      return false;
    }
    log.debug(`h2fs: mirror-copy: a first copy: reading ${storeDir} in this process`);
    // The copy's few MiB of live objects left V8's old generation limit so
    // close above them that it marked the heap back to back: 1.9 CPU s for
    // 663 MB against 1.55 s with this, measured. Heap-size flags on the
    // command line would cost every h2fs start 11 ms (measured).
    v8.setFlagsFromString('--heap-growing-percent=400');
    standby.end();
    const channel = new FrameChannel(answers, o, { reuseChunks: reuse });
    const reader = new MirrorReader({ store, pfs: src.pfs, channel, twoWay: true, helloSent: true,
      endTid: parseTid(src.endTid), ...(begTid !== undefined ? { begTid } : {}) });
    try {
      await reader.run();
    } catch (e) {
      await channel.sendError(e);
    } finally {
      channel.end();
    }
    return true;
  }
}
