/* SHA-256 (FIPS 180-4): portable C, plus the x86 SHA extensions when the CPU has them.
 * Both paths give the same digests (tests compare them with each other and with hashlib). */
#ifndef SMT16_SHA256_H
#define SMT16_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* One-shot digest of data[0..len). */
void smt16_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Which compression function is used: 1 = SHA extensions, 0 = portable C.
 * mode -1: query; 0: force portable; 1: use the SHA extensions if the CPU has them. */
int smt16_sha256_impl(int mode);

#endif
