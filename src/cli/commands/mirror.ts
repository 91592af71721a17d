/**
 * mirror-dump and mirror-copy, and the options mirror-copy shares with
 * mirror-stream. The frame codec and the relay load when a command needs
 * them, not with this module: mirror-copy starts its SSH session first.
 */
import { H2Error } from '../../errors.js';
import * as log from '../../log.js';
import { formatTid } from '../../tid.js';
import type { RelayState } from '../../mirror/relay.js';
import { BandwidthLimit } from '../../transport/bwlimit.js';
import { parseRemoteSpec } from '../../transport/remote-spec.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { openSource, openTarget, type EndpointOptions, type OpenedEndpoint, type OpenedSource } from '../endpoints.js';

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
    const { FrameDecoder, MREC } = await import('../../mirror/frame.js');
    const { formatFrame } = await import('../../mirror/dump.js');
    const decoder = new FrameDecoder();
    process.stdin.pipe(decoder);
    for await (const f of decoder as AsyncIterable<import('../../mirror/frame.js').Frame>) {
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
    // Both ends open at once, the SSH session first: its key exchange and
    // the far h2fs starting up are most of a round, and the relay loads
    // while they run. The transport module loads before anything else, so
    // that the TCP connection goes out before the other loads interleave.
    if (parseRemoteSpec(dstSpec) || parseRemoteSpec(srcSpec)) await import('../../transport/ssh.js');
    const opening = [openTarget(dstSpec, o), openSource(srcSpec, o)] as const;
    const relayModule = import('../../mirror/relay.js');
    const opened = await Promise.allSettled(opening);
    const ends = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // When both fail, the source's reason comes first, as it would one at a time.
    const failed = [opened[1], opened[0]].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const e of ends) e.close();
      throw failed.reason;
    }
    const [dst, src] = ends as [OpenedEndpoint, OpenedSource];
    const { relay } = await relayModule;
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
