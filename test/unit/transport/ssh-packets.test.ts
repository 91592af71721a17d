import { expect } from 'chai';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { coalesceWrites, fillPadding, poolGcmPadding } from '../../../src/transport/ssh-packets.js';

interface Cipher { allocPacket(n: number): Buffer; encrypt(p: Buffer): void; free(): void }
interface Decipher { decrypt(data: Buffer, p: number, len: number): void }
interface CryptoModule {
  CIPHER_INFO: Record<string, unknown>;
  createCipher(config: object): Cipher;
  createDecipher(config: object): Decipher;
}

const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as CryptoModule;

describe('transport/ssh-packets', () => {
  describe('fillPadding', () => {
    it('gives fresh bytes on every call, across refills of its pool', () => {
      const seen = new Set<string>();
      // 20,000 x 16 bytes: five refills of the 64 KiB pool.
      for (let i = 0; i < 20_000; i++) {
        const b = Buffer.alloc(20, 0xee);
        fillPadding(b, 2, 16);
        expect(b[0]).to.equal(0xee);
        expect(b[1]).to.equal(0xee);
        expect(b[18]).to.equal(0xee);
        seen.add(b.subarray(2, 18).toString('hex'));
      }
      expect(seen.size).to.equal(20_000);
    });
  });

  describe('poolGcmPadding', () => {
    const info = crypto.CIPHER_INFO['aes128-gcm@openssh.com'];
    const key = Buffer.alloc(16, 7);
    const iv = Buffer.alloc(12, 3);

    it('patches ssh2\'s native AES-GCM cipher, once', () => {
      expect(poolGcmPadding(crypto)).to.equal(true);
      expect(poolGcmPadding(crypto)).to.equal(true);
      const cipher = crypto.createCipher({
        outbound: { onWrite: () => undefined, cipherInfo: info, cipherKey: key, cipherIV: Buffer.from(iv), seqno: 0 },
      });
      expect(cipher.allocPacket.name).to.equal('allocGcmPacket');
      cipher.free();
    });

    it('sends packets that ssh2\'s decipher accepts, with SSH padding rules kept', () => {
      expect(poolGcmPadding(crypto)).to.equal(true);
      const wire: Buffer[] = [];
      const cipher = crypto.createCipher({
        outbound: { onWrite: (b: Buffer) => wire.push(Buffer.from(b)), cipherInfo: info, cipherKey: key, cipherIV: Buffer.from(iv), seqno: 0 },
      });
      const got: Buffer[] = [];
      const decipher = crypto.createDecipher({
        inbound: { onPayload: (p: Buffer) => { got.push(Buffer.from(p)); }, decipherInfo: info, decipherKey: key, decipherIV: Buffer.from(iv), seqno: 0 },
      });
      const sent: Buffer[] = [];
      for (const len of [0, 1, 11, 12, 13, 27, 28, 29, 1000, 32_768 + 9]) {
        const payload = Buffer.alloc(len);
        for (let i = 0; i < len; i++) payload[i] = (i * 31 + len) & 0xff;
        const packet = cipher.allocPacket(len);
        const padLen = packet[4]!;
        // RFC 4253: 4 to 255 bytes of padding, packet (without the length in AEAD modes) a multiple of the block size.
        expect(padLen).to.be.within(4, 19);
        expect((1 + len + padLen) % 16).to.equal(0);
        expect(packet.length).to.equal(4 + 1 + len + padLen + 16);
        expect(packet.readUInt32BE(0)).to.equal(1 + len + padLen);
        payload.copy(packet, 5);
        cipher.encrypt(packet);
        sent.push(payload);
      }
      cipher.free();
      const all = Buffer.concat(wire);
      decipher.decrypt(all, 0, all.length);
      expect(got.map((b) => b.toString('hex'))).to.deep.equal(sent.map((b) => b.toString('hex')));
    });
  });

  describe('coalesceWrites', () => {
    it('sends the writes of one tick together, in order, and uncorks after it', async () => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const received: Buffer[] = [];
      const done = new Promise<void>((resolve) => {
        server.on('connection', (s) => {
          s.on('data', (b: Buffer) => received.push(b));
          s.on('end', resolve);
        });
      });
      const sock = net.connect(port, '127.0.0.1');
      try {
        await once(sock, 'connect');
        coalesceWrites(sock);
        // What reaches the kernel: one entry per writev/write, with its number of buffers.
        const kernelWrites: number[] = [];
        const writev = sock._writev!.bind(sock);
        sock._writev = (chunks, cb) => { kernelWrites.push(chunks.length); writev(chunks, cb); };
        const write = sock._write.bind(sock);
        sock._write = (chunk, enc, cb) => { kernelWrites.push(1); write(chunk, enc, cb); };
        const parts: Buffer[] = [];
        for (let i = 0; i < 40; i++) parts.push(Buffer.alloc(1000 + i, i));
        for (const p of parts) sock.write(p);
        expect(sock.writableCorked).to.equal(1);
        expect(kernelWrites).to.deep.equal([]);
        await new Promise((r) => process.nextTick(r));
        expect(sock.writableCorked).to.equal(0);
        expect(kernelWrites).to.deep.equal([40]);
        let called = false;
        sock.write(Buffer.from('end'), () => { called = true; });
        await new Promise((r) => setImmediate(r));
        expect(kernelWrites).to.deep.equal([40, 1]);
        sock.end();
        await done;
        expect(called).to.equal(true);
        expect(Buffer.concat(received).equals(Buffer.concat([...parts, Buffer.from('end')]))).to.equal(true);
      } finally {
        sock.destroy();
        server.close();
      }
    });
  });
});
