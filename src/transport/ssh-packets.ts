/**
 * What ssh2 does for every SSH packet it sends, made cheaper for a bulk
 * stream: a packet carries at most 32 KiB of channel data (OpenSSH's
 * maximum), so a 663 MB mirror is some 20,000 of them.
 */
import { randomFillSync } from 'node:crypto';
import type net from 'node:net';

/**
 * ssh2 writes each packet to the socket by itself, one write(2) apiece.
 * Corked until the end of the tick, the packets of one channel write leave
 * in one writev(2).
 */
export function coalesceWrites(sock: net.Socket): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sock.uncork();
  };
  sock.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as typeof sock.write;
}

const POOL_BYTES = 64 * 1024;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * Random bytes for padding, taken from a pool filled by the CSPRNG 64 KiB at
 * a time (each byte used once), as OpenSSH takes its padding from
 * arc4random_buf. ssh2 calls randomFillSync for every packet's 4 to 19
 * bytes of padding: about 3 us a call here, 90-170 ms of a 663 MB copy.
 */
export function fillPadding(dst: Buffer, offset: number, len: number): void {
  if (poolAt + len > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolAt = 0;
  }
  pool.copy(dst, offset, poolAt, poolAt + len);
  poolAt += len;
}

/** The AES-GCM packet layout (RFC 5647 as OpenSSH does it): length, padding length, payload, padding, tag. */
function allocGcmPacket(payloadLen: number): Buffer {
  let pktLen = 4 + 1 + payloadLen;
  let padLen = 16 - ((pktLen - 4) & 15);
  if (padLen < 4) padLen += 16;
  pktLen += padLen;
  const packet = Buffer.allocUnsafe(pktLen + 16);
  packet.writeUInt32BE(pktLen - 4, 0);
  packet[4] = padLen;
  fillPadding(packet, 5 + payloadLen, padLen);
  return packet;
}

interface CipherModule {
  CIPHER_INFO: Record<string, unknown>;
  createCipher: (config: object) => { allocPacket: (n: number) => Buffer; free: () => void };
}

const PATCHED = Symbol('h2fs.pooledPadding');

/**
 * Gives ssh2's native AES-GCM cipher (the one it picks first, and the one
 * OpenSSH accepts from it on any CPU with AES instructions) an allocPacket
 * that takes its padding from `fillPadding`. The class is not exported, so
 * it is found through a throw-away cipher; if ssh2 changes shape, nothing
 * is patched. Returns whether the cipher is (now) patched.
 */
export function poolGcmPadding(crypto: CipherModule): boolean {
  const info = crypto.CIPHER_INFO['aes128-gcm@openssh.com'];
  if (!info || typeof crypto.createCipher !== 'function') return false;
  let probe: ReturnType<CipherModule['createCipher']>;
  try {
    probe = crypto.createCipher({
      outbound: { onWrite: () => undefined, cipherInfo: info, cipherKey: Buffer.alloc(16), cipherIV: Buffer.alloc(12), seqno: 0 },
    });
  } catch {
    return false;
  }
  probe.free();
  const proto = Object.getPrototypeOf(probe) as Record<string | symbol, unknown>;
  if (proto[PATCHED]) return true;
  // Only the native binding's class; ssh2's pure-JS fallback lays packets out the same but is left alone.
  if ((proto.constructor as { name?: string }).name !== 'AESGCMCipherBinding' || typeof proto.allocPacket !== 'function') return false;
  proto.allocPacket = allocGcmPacket;
  proto[PATCHED] = true;
  return true;
}
