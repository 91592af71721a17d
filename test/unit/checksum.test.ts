/**
 * The frames' CRC-32: the addon's folded path must give zlib's values for
 * every length and alignment, since either end of a mirror may use either.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, crc32Folded } from '../../src/checksum.js';
import { nativeAddon } from '../../src/native.js';

function cpuFlags(): Set<string> {
  const m = /^flags\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  return new Set(m?.[1]?.split(/\s+/) ?? []);
}

describe('checksum', () => {
  const data = crypto.randomBytes(1 << 20);

  it('takes the folded path exactly where the CPU has AVX-512 and VPCLMULQDQ', () => {
    const addon = nativeAddon();
    expect(addon, 'h2fs-native prebuild for this platform').to.not.equal(null);
    const f = cpuFlags();
    const want = ['avx512f', 'avx512vl', 'vpclmulqdq', 'pclmulqdq'].every((x) => f.has(x));
    expect(addon!.CRC32_FOLDED).to.equal(want ? 1 : 0);
    expect(crc32Folded).to.equal(want);
  });

  it("gives zlib's value for every length from 0 to 2100 bytes at every alignment mod 8", () => {
    const addon = nativeAddon()!;
    for (let n = 0; n <= 2100; n++) {
      for (let off = 0; off < 8; off++) {
        const v = data.subarray(off, off + n);
        const seed = (n * 2654435761) >>> 0;
        expect(addon.crc32(v, seed), `length ${n}, offset ${off}`).to.equal(zlibCrc32(v, seed));
        expect(crc32(v)).to.equal(zlibCrc32(v));
      }
    }
  });

  it("gives zlib's value for blocks and frames up to 1 MiB", () => {
    const addon = nativeAddon()!;
    const sizes = [65536, 65536 + 16 + 4 + 60, 65535, 262144 + 255, 1 << 20];
    for (let i = 0; i < 200; i++) sizes.push(1 + crypto.randomInt(data.length - 8));
    for (const n of sizes) {
      const off = crypto.randomInt(data.length - n + 1);
      const v = data.subarray(off, off + n);
      expect(crc32(v), `length ${n} at ${off}`).to.equal(zlibCrc32(v));
      expect(addon.crc32(v, 0xdeadbeef)).to.equal(zlibCrc32(v, 0xdeadbeef));
    }
  });

  it('sees a single flipped bit anywhere in a block', () => {
    const block = Buffer.from(data.subarray(0, 65536));
    const good = crc32(block);
    for (let i = 0; i < 64; i++) {
      const bit = crypto.randomInt(65536 * 8);
      block.writeUInt8(block.readUInt8(bit >> 3) ^ (1 << (bit & 7)), bit >> 3);
      expect(crc32(block), `bit ${bit}`).to.not.equal(good);
      block.writeUInt8(block.readUInt8(bit >> 3) ^ (1 << (bit & 7)), bit >> 3);
    }
    expect(crc32(block)).to.equal(good);
  });

  it('rejects what is not a byte view', () => {
    const addon = nativeAddon()!;
    expect(() => addon.crc32(new Uint16Array(4) as unknown as Uint8Array, 0)).to.throw(TypeError, /crc32/);
    expect(() => addon.crc32('abc' as unknown as Uint8Array, 0)).to.throw(TypeError, /crc32/);
  });
});
