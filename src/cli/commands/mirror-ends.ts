/**
 * mirror-read, mirror-read-stream and mirror-write: one end of a mirror, a
 * PFS in a local mount joined to stdin/stdout. The protocol runs in the
 * mount daemon; these commands carry its bytes.
 *
 * With -2 (how mirror-copy and mirror-stream run them over SSH) the command
 * is a plain byte pipe: the side that started the SSH session watches the
 * frames and gives the verdict. So the frame codec is loaded only when this
 * end must judge the stream itself, or send an ERROR frame: every round of
 * mirror-copy starts one of these on the far host, and each module it does
 * not load is start-up time saved there.
 */
import type net from 'node:net';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { H2Error } from '../../errors.js';
import * as log from '../../log.js';
import { formatTid, parseTid } from '../../tid.js';
import { controlStream } from '../../control/client.js';
import type { Endpoint, RelayState } from '../../mirror/relay.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { mayCreateSlave } from '../endpoints.js';
import { pathInMount } from '../target.js';

function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/** In -2 mode a failure before the stream starts still reaches the peer as an ERROR frame. */
async function withPeerError<T>(ctx: CommandContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (ctx.global.twoWay) {
      const err = e instanceof H2Error ? e : new H2Error('H2_PROTOCOL', (e as Error).message);
      const { encodeFrame, MREC } = await import('../../mirror/frame.js');
      ctx.stdout.write(encodeFrame({ type: MREC.ERROR, msg: { v: 1, code: err.code, message: err.message } }));
    }
    throw e;
  }
}

/**
 * -2: stdin into the daemon, the daemon's bytes out to stdout, until the
 * daemon ends its side. stdin ending (the far side done or gone) half-closes
 * the socket, which is how the daemon hears it.
 */
function pipeThrough(sock: net.Socket, input: Readable, output: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    input.pipe(sock);
    sock.pipe(output, { end: false });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      input.unpipe(sock);
      reject(new H2Error('H2_TRANSPORT', `the mount daemon's stream failed (${e.code ?? e.message})`));
    });
    sock.once('end', () => resolve());
  });
}

/**
 * stdin/stdout as the target side of mirror-read. One-way, nothing comes
 * back, and the daemon's side is never half-closed (that asks it to stop).
 */
function stdioEndpoint(ctx: CommandContext, talkBack: boolean): Endpoint {
  return { readable: talkBack ? process.stdin : new PassThrough(), writable: ctx.stdout };
}

function readCommand(name: 'mirror-read' | 'mirror-read-stream'): Command {
  const usage = `${name} PATH [BEGIN-TID]`;
  return {
    name,
    usage,
    summary: name === 'mirror-read'
      ? 'write the mirror stream of a PFS for (BEGIN-TID, last committed TID] to stdout'
      : 'like mirror-read, then keep streaming each new commit',
    async run(ctx) {
      const { positionals } = parseCommandArgs(name, ctx.args, {}, usage);
      requirePositionals(name, positionals, 1, 2, usage);
      const p = positionals[0]!;
      const begTid = positionals[1] !== undefined ? parseTid(positionals[1]) : undefined;
      const state = await withPeerError(ctx, async (): Promise<RelayState | undefined> => {
        const { store, inner } = pathInMount(name, p);
        const sock = await controlStream(store, 'mirror-read', {
          path: inner, twoWay: ctx.global.twoWay, stream: name === 'mirror-read-stream',
          intervalMs: (ctx.global.interval ?? 0) * 1000, ...(begTid !== undefined ? { begTid: formatTid(begTid) } : {}),
        });
        const stop = (): void => { sock.end(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (ctx.global.twoWay) {
          await pipeThrough(sock, process.stdin, ctx.stdout);
          return undefined;
        }
        const { relay } = await import('../../mirror/relay.js');
        return relay({ readable: sock, writable: sock }, stdioEndpoint(ctx, false), { requireAck: false }).done;
      });
      if (state) {
        ctx.stderr.write(`Source can update synctid to ${formatTid(state.termTid!)}\n`);
        log.verbose(`Mirror-read ${p} succeeded: ${state.records} records, ${state.forwardBytes} bytes`);
      }
      return 0;
    },
  };
}

export const mirrorRead = readCommand('mirror-read');
export const mirrorReadStream = readCommand('mirror-read-stream');

export const mirrorWrite: Command = {
  name: 'mirror-write',
  usage: 'mirror-write PATH',
  summary: 'apply a mirror stream from stdin to a slave PFS (-y creates it)',
  async run(ctx) {
    const { positionals } = parseCommandArgs('mirror-write', ctx.args, {}, this.usage);
    requirePositionals('mirror-write', positionals, 1, 1, this.usage);
    const p = positionals[0]!;
    const state = await withPeerError(ctx, async (): Promise<RelayState | undefined> => {
      const { store, inner } = pathInMount('mirror-write', p);
      const create = mayCreateSlave(p, ctx.global.yes);
      const sock = await controlStream(store, 'mirror-write', { path: inner, create });
      if (ctx.global.twoWay) {
        await pipeThrough(sock, process.stdin, ctx.stdout);
        return undefined;
      }
      const { relay } = await import('../../mirror/relay.js');
      return relay({ readable: process.stdin, writable: sink() }, { readable: sock, writable: sock }).done;
    }).catch((e: unknown) => {
      throw e instanceof H2Error ? new H2Error(e.code, `mirror-write ${p}: ${e.message}`, e.hint ? { hint: e.hint } : {}) : e;
    });
    if (state) log.verbose(`Mirror-write ${p}: succeeded, sync-end-tid ${formatTid(state.ackedTid!)} (${state.records} records)`);
    return 0;
  },
};
