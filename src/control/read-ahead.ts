/**
 * A stream socket's incoming bytes, read by a thread of the native addon as
 * soon as they arrive (vendor/h2fs-native/readahead.c) rather than when the
 * event loop gets round to it. For a mirror stream coming into the daemon:
 * sshd writes it into a Unix socket with the system's default send buffer,
 * and every moment the event loop spends decoding and packing parts would
 * otherwise stall sshd, and behind it the SSH window. The thread's ring is
 * the slack instead.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { H2Error } from '../errors.js';
import { nativeAddon, type NativeAddon, type ReadAheadHandle } from '../native.js';

/** The thread reads this far ahead of the stream's consumer. */
const RING_BYTES = 4 << 20;
/** Most bytes handed on in one buffer. */
const TAKE_BYTES = 1 << 20;

/** The parts of Node's socket handle (libuv's stream) that taking over its reads needs. */
interface UvStream {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  readStop?: () => number;
}

function uvStream(sock: Socket): UvStream | undefined {
  const h = (sock as unknown as { _handle?: UvStream | null })._handle;
  if (!h || typeof h.fd !== 'number' || h.fd < 0 || typeof h.readStart !== 'function' || typeof h.readStop !== 'function') {
    return undefined;
  }
  return h;
}

export class ReadAhead extends Readable {
  private handle: ReadAheadHandle | null;

  /**
   * The socket's incoming bytes, read ahead where the addon can (its reads
   * handed over, what it had buffered first); the socket itself otherwise.
   * Its writes stay where they are. Every incoming byte comes out in a
   * buffer of its own.
   */
  static over(sock: Socket): Readable {
    const addon = nativeAddon();
    const h = uvStream(sock);
    if (!addon || typeof addon.readAheadStart !== 'function' || !h || sock.destroyed || sock.readableEnded) return sock;
    return new ReadAhead(sock, h, addon);
  }

  private constructor(private readonly sock: Socket, private readonly uv: UvStream, private readonly addon: NativeAddon) {
    super({ highWaterMark: TAKE_BYTES });
    // What the socket already took in comes first. (Reading it may restart the
    // handle's reads; they are stopped right after, before any I/O can run.)
    const early = sock.readableLength > 0 ? (sock.read(sock.readableLength) as Buffer | null) : null;
    uv.readStop!();
    // Node restarts a socket's reads whenever its stream wants more, unless
    // the handle says it is reading: it does, in a way, until released.
    uv.reading = true;
    if (early) this.push(early);
    this.handle = addon.readAheadStart(uv.fd!, RING_BYTES, () => this.pull());
    sock.once('close', () => {
      if (this.handle) this.destroy(new H2Error('H2_TRANSPORT', 'the link closed'));
    });
  }

  override _read(): void {
    this.pull();
  }

  private pull(): void {
    while (this.handle) {
      const got = this.addon.readAheadTake(this.handle, TAKE_BYTES);
      if (typeof got !== 'number') {
        if (!this.push(got)) return;
        continue;
      }
      // Nothing yet: the thread calls pull() when something comes.
      if (got === 0) return;
      this.release();
      if (got === -1) this.push(null);
      else this.destroy(new H2Error('H2_TRANSPORT', `reading the link: errno ${got}`));
      return;
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.release();
    cb(err);
  }

  /**
   * Stops the thread and gives the socket its reads back, so that it sees
   * its end (or what its peer still sends) as if never taken over.
   */
  private release(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = null;
    this.addon.readAheadStop(h);
    if (!this.sock.destroyed) this.uv.readStart!();
  }
}
