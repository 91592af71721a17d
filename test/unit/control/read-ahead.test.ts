/**
 * A socket's reads taken over by the native addon's thread: every byte in
 * order through a ring that wraps and fills, the socket's own writes and end
 * untouched, and no thread left behind.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ReadAhead } from '../../../src/control/read-ahead.js';
import { nativeAddon } from '../../../src/native.js';
import { removeTmpDirs, tmpDir } from '../../helpers/tmp.js';

function readerThreads(): number {
  return fs.readdirSync('/proc/self/task')
    .filter((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'h2fs-readahead').length;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A server that reads one line, then hands the socket to ReadAhead (as the
 * control server hands a stream op's socket over, with what it read past
 * the line pushed back), and gives the test the stream and the socket.
 */
function serve(sockPath: string): Promise<{ server: net.Server; taken: Promise<{ input: Readable; sock: net.Socket }> }> {
  let give: (v: { input: Readable; sock: net.Socket }) => void = () => undefined;
  const taken = new Promise<{ input: Readable; sock: net.Socket }>((resolve) => { give = resolve; });
  const server = net.createServer((sock) => {
    // As the control server does: a socket's error ends it, nothing more.
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      sock.pause();
      if (nl + 1 < buf.length) sock.unshift(buf.subarray(nl + 1));
      give({ input: ReadAhead.over(sock), sock });
    };
    sock.on('data', onData);
  });
  return new Promise((resolve) => server.listen(sockPath, () => resolve({ server, taken })));
}

/** A client connected to a fresh server, having sent `first`; the server's socket handed over. */
async function handedOver(first: Buffer | string): Promise<{ server: net.Server; client: net.Socket; input: Readable; sock: net.Socket }> {
  const sockPath = path.join(tmpDir('h2fs-ra-'), 's');
  const { server, taken } = await serve(sockPath);
  const client = net.connect(sockPath);
  client.write(first);
  return { server, client, ...(await taken) };
}

describe('ReadAhead (a socket read on the addon\'s thread)', function () {
  this.timeout(20000);
  after(removeTmpDirs);

  it('is there: the addon has the reader', () => {
    expect(typeof nativeAddon()?.readAheadStart).to.equal('function');
  });

  it('hands on every byte in order, those read before the takeover first, through a ring that fills and wraps', async () => {
    // 24 MiB: six times the ring, in writes of odd sizes.
    const data = crypto.randomBytes(24 << 20);
    const { server, client, input, sock } = await handedOver(Buffer.concat([Buffer.from('hello\n'), data.subarray(0, 1000)]));
    expect(input).to.not.equal(sock);
    let at = 1000;
    const pump = (): void => {
      while (at < data.length) {
        const n = Math.min(data.length - at, 100_003);
        const ok = client.write(data.subarray(at, at + n));
        at += n;
        if (!ok) return void client.once('drain', pump);
      }
      client.end();
    };
    pump();
    const got: Buffer[] = [];
    let slow = 0;
    for await (const c of input) {
      got.push(c as Buffer);
      // A consumer that stalls now and then, as the writer does while a part commits.
      if (++slow % 7 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    expect(Buffer.concat(got).equals(data)).to.equal(true);
    // The socket has its reads back and sees its own end.
    await until(() => sock.readableEnded || sock.destroyed);
    sock.destroy();
    client.destroy();
    server.close();
    await until(() => readerThreads() === 0);
  });

  it("leaves the socket's writes alone: answers go out while the input is read ahead", async () => {
    const { server, client, input, sock } = await handedOver('hello\n');
    const answers: string[] = [];
    client.setEncoding('utf8');
    client.on('data', (s: string) => answers.push(s));
    input.on('data', (c: Buffer) => sock.write(`ack ${c.length}\n`));
    client.write(Buffer.alloc(5000, 1));
    await until(() => answers.join('').includes('ack 5000\n'));
    client.end();
    await new Promise<void>((r) => input.on('end', r));
    sock.destroy();
    server.close();
    await until(() => readerThreads() === 0);
  });

  it('ends with a transport error, and stops its thread, when the socket is destroyed under it', async () => {
    const { server, client, input, sock } = await handedOver('hello\n');
    await until(() => readerThreads() === 1);
    const failed = new Promise<Error>((resolve) => input.on('error', resolve));
    input.resume();
    // A newer session replacing this one destroys its socket (mount-daemon.ts).
    sock.destroy(new Error('replaced'));
    const e = await failed;
    expect((e as Error & { code?: string }).code).to.equal('H2_TRANSPORT');
    expect(readerThreads()).to.equal(0);
    // The peer sees the connection close: the thread's descriptor is closed too.
    await new Promise<void>((resolve) => {
      client.on('close', () => resolve());
      client.on('error', () => undefined);
      client.resume();
    });
    server.close();
  });
});
