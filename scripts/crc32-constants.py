#!/usr/bin/env python3
"""Folding constants for vendor/h2fs-native/crc32.c: zlib's CRC-32
(polynomial 0x104C11DB7, reflected). A 128-bit lane moved forward by d bits
multiplies its low quadword by K(d + 32) and its high one by K(d - 32),
where K(e) = reflect32(x^e mod P) << 1."""
P = 0x104C11DB7


def xmod(e: int) -> int:
    r = 1
    for _ in range(e):
        r <<= 1
        if r >> 32 & 1:
            r ^= P
    return r


def k(e: int) -> int:
    return int(f"{xmod(e):032b}"[::-1], 2) << 1


for d in (2048, 512, 384, 256, 128):
    print(f"#define K_{d} 0x{k(d + 32):016x}ULL, 0x{k(d - 32):016x}ULL")
