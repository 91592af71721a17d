#ifndef H2_CRC32_H
#define H2_CRC32_H
#include <stddef.h>
#include <stdint.h>
/* zlib's crc32(crc, p, n): same polynomial, same values. */
uint32_t h2_crc32(uint32_t crc, const uint8_t *p, size_t n);
/* 1 where this CPU takes the folded path (AVX-512 with VPCLMULQDQ). */
int h2_crc32_fast(void);
#endif
