/**
 * mirror-read, mirror-read-stream, mirror-write, mirror-dump, mirror-copy.
 * The protocol runs where the stores are (in their mount daemons); these
 * commands join the ends and report what went by.
 */
import { PassThrough, Writable } from 'node:stream';
import { H2Error } from '../../errors.js';
import * as log from '../../log.js';
import { formatTid, parseTid } from '../../tid.js';
import { controlStream } from '../../control/client.js';
import {
  encodeFrame, formatFrame, FrameDecoder, MREC, relay, type Endpoint, type Frame, type RelayState,
} from '../../mirror/index.js';
import { BandwidthLimit } from '../../transport/bwlimit.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { mayCreateSlave, openSource, openTarget, type EndpointOptions } from '../endpoints.js';
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
      ctx.stdout.write(encodeFrame({ type: MREC.ERROR, msg: { v: 1, code: err.code, message: err.message } }));
    }
    throw e;
  }
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
      const state = await withPeerError(ctx, async () => {
        const { store, inner } = pathInMount(name, p);
        const sock = await controlStream(store, 'mirror-read', {
          path: inner, twoWay: ctx.global.twoWay, stream: name === 'mirror-read-stream',
          intervalMs: (ctx.global.interval ?? 0) * 1000, ...(begTid !== undefined ? { begTid: formatTid(begTid) } : {}),
        });
        const stop = (): void => { sock.end(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        return relay({ readable: sock, writable: sock }, stdioEndpoint(ctx, ctx.global.twoWay),
          { requireAck: ctx.global.twoWay }).done;
      });
      if (!ctx.global.twoWay) ctx.stderr.write(`Source can update synctid to ${formatTid(state.termTid!)}\n`);
      log.verbose(`Mirror-read ${p} succeeded: ${state.records} records, ${state.forwardBytes} bytes`);
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
    const state = await withPeerError(ctx, async () => {
      const { store, inner } = pathInMount('mirror-write', p);
      const create = mayCreateSlave(p, ctx.global.yes);
      const sock = await controlStream(store, 'mirror-write', { path: inner, create });
      const source: Endpoint = { readable: process.stdin, writable: ctx.global.twoWay ? ctx.stdout : sink() };
      return relay(source, { readable: sock, writable: sock }).done;
    }).catch((e: unknown) => {
      throw e instanceof H2Error ? new H2Error(e.code, `mirror-write ${p}: ${e.message}`, e.hint ? { hint: e.hint } : {}) : e;
    });
    log.verbose(`Mirror-write ${p}: succeeded, sync-end-tid ${formatTid(state.ackedTid!)} (${state.records} records)`);
    return 0;
  },
};

export const mirrorDump: Command = {
  name: 'mirror-dump',
  usage: 'mirror-dump [header]',
  summary: 'print a mirror stream from stdin, one frame a line',
  async run(ctx) {
    const { positionals } = parseCommandArgs('mirror-dump', ctx.args, {}, this.usage);
    requirePositionals('mirror-dump', positionals, 0, 1, this.usage);
    if (positionals[0] !== undefined && positionals[0] !== 'header') {
      throw H2Error.usage(`mirror-dump: unknown argument '${positionals[0]}'`, 'H2_USAGE', 'usage: h2fs mirror-dump [header]');
    }
    const headerOnly = positionals[0] === 'header';
    const decoder = new FrameDecoder();
    process.stdin.pipe(decoder);
    for await (const f of decoder as AsyncIterable<Frame>) {
      ctx.stdout.write(formatFrame(f) + '\n');
      if (headerOnly && f.type === MREC.HELLO) {
        process.stdin.unpipe(decoder);
        process.stdin.destroy();
        break;
      }
    }
    return 0;
  },
};

/** Options shared by mirror-copy and mirror-stream. */
export const REMOTE_OPTIONS = {
  p: { type: 'string', short: 'p' },
  i: { type: 'string', short: 'i' },
  'accept-new': { type: 'boolean' },
  'remote-h2fs': { type: 'string' },
} as const;

export function endpointOptions(ctx: CommandContext, values: Record<string, string | boolean | undefined>): EndpointOptions {
  const port = values.p === undefined ? undefined : Number(values.p);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw H2Error.usage(`bad port '${String(values.p)}'`);
  }
  return {
    yes: ctx.global.yes,
    verbose: ctx.global.verbose,
    ssh: {
      ...(port !== undefined ? { port } : {}),
      ...(typeof values.i === 'string' ? { identity: values.i } : {}),
      acceptNew: values['accept-new'] === true,
      ...(typeof values['remote-h2fs'] === 'string' ? { remoteCommand: values['remote-h2fs'] } : {}),
    },
  };
}

export function describeCopy(state: RelayState, secs: number): string {
  const mib = state.forwardBytes / 1048576;
  return `${state.records} records, ${state.forwardBytes} bytes on the wire, ${secs.toFixed(1)} s` +
    (secs > 0 ? `, ${(mib / secs).toFixed(1)} MiB/s` : '');
}

export const mirrorCopy: Command = {
  name: 'mirror-copy',
  usage: 'mirror-copy [-p PORT] [-i IDENTITY] [--accept-new] [--remote-h2fs CMD] [[user@]host:]SRC [[user@]host:]DST',
  summary: 'mirror a PFS to a slave once, from where the slave stands',
  async run(ctx) {
    const { values, positionals } = parseCommandArgs('mirror-copy', ctx.args, REMOTE_OPTIONS, this.usage);
    requirePositionals('mirror-copy', positionals, 2, 2, this.usage);
    const [srcSpec, dstSpec] = positionals as [string, string];
    const o = endpointOptions(ctx, values);
    const started = Date.now();
    const src = await openSource(srcSpec, o);
    let dst;
    try {
      dst = await openTarget(dstSpec, o);
    } catch (e) {
      src.close();
      throw e;
    }
    const limiter = ctx.global.bandwidth ? new BandwidthLimit(ctx.global.bandwidth) : undefined;
    try {
      const { done } = relay(src, dst, limiter ? { limiter } : {});
      const state = await done;
      log.verbose(`Mirror-copy ${srcSpec} -> ${dstSpec}: ${formatTid(state.batchBeg ?? state.targetTid ?? 0n)} to ` +
        `${formatTid(state.termTid!)}, ${describeCopy(state, (Date.now() - started) / 1000)}`);
      return 0;
    } finally {
      src.close();
      dst.close();
    }
  },
};
