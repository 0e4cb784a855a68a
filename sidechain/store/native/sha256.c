/* SHA-256 per FIPS 180-4. The portable compression function is the reference; on x86-64 CPUs with
 * the SHA extensions (SHA-NI) a faster one is selected at run time (cpuid). */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SMT16_HAVE_SHANI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static const uint32_t H0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void blocks_portable(uint32_t st[8], const uint8_t *data, size_t nblocks) {
    uint32_t w[64];
    while (nblocks--) {
        for (int t = 0; t < 16; t++) w[t] = load_be32(data + 4 * t);
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int t = 0; t < 64; t++) {
            uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = h + S1 + ch + K[t] + w[t];
            uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = S0 + maj;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        st[0] += a;
        st[1] += b;
        st[2] += c;
        st[3] += d;
        st[4] += e;
        st[5] += f;
        st[6] += g;
        st[7] += h;
        data += 64;
    }
}

#ifdef SMT16_HAVE_SHANI_CODE
/* Four rounds per step with sha256rnds2; the message schedule with sha256msg1/msg2. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t st[8], const uint8_t *data,
                                                                    size_t nblocks) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&st[0]);
    __m128i state1 = _mm_loadu_si128((const __m128i *)(const void *)&st[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
    state1 = _mm_shuffle_epi32(state1, 0x1B);    /* EFGH */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8); /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0); /* CDGH */

    while (nblocks--) {
        const __m128i abef = state0, cdgh = state1;
        __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(data + 0)), MASK);
        __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(data + 16)), MASK);
        __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(data + 32)), MASK);
        __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(data + 48)), MASK);
        __m128i msg;
#define SMT16_ROUNDS4(W, i)                                                                 \
    msg = _mm_add_epi32((W), _mm_loadu_si128((const __m128i *)(const void *)&K[4 * (i)])); \
    state1 = _mm_sha256rnds2_epu32(state1, state0, msg);                                    \
    msg = _mm_shuffle_epi32(msg, 0x0E);                                                     \
    state0 = _mm_sha256rnds2_epu32(state0, state1, msg)
/* Next schedule word of four: W_new = msg2(msg1(Wa, Wb) + alignr(Wd, Wc, 4), Wd) for (Wa, Wb, Wc, Wd)
 * the four previous vectors, oldest first; it overwrites Wa. */
#define SMT16_SCHEDULE(Wa, Wb, Wc, Wd) \
    Wa = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((Wa), (Wb)), _mm_alignr_epi8((Wd), (Wc), 4)), (Wd))
        SMT16_ROUNDS4(w0, 0);
        SMT16_ROUNDS4(w1, 1);
        SMT16_ROUNDS4(w2, 2);
        SMT16_ROUNDS4(w3, 3);
        for (int i = 4; i < 16; i += 4) {
            SMT16_SCHEDULE(w0, w1, w2, w3);
            SMT16_ROUNDS4(w0, i);
            SMT16_SCHEDULE(w1, w2, w3, w0);
            SMT16_ROUNDS4(w1, i + 1);
            SMT16_SCHEDULE(w2, w3, w0, w1);
            SMT16_ROUNDS4(w2, i + 2);
            SMT16_SCHEDULE(w3, w0, w1, w2);
            SMT16_ROUNDS4(w3, i + 3);
        }
#undef SMT16_ROUNDS4
#undef SMT16_SCHEDULE
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        data += 64;
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);       /* FEBA */
    state1 = _mm_shuffle_epi32(state1, 0xB1);    /* DCHG */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* DCBA */
    state1 = _mm_alignr_epi8(state1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)&st[0], state0);
    _mm_storeu_si128((__m128i *)(void *)&st[4], state1);
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) return 0; /* SSSE3, SSE4.1 */
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1u; /* SHA */
}
#endif

typedef void (*blocks_fn)(uint32_t st[8], const uint8_t *data, size_t nblocks);

static blocks_fn g_blocks = 0;
static int g_impl = -1;

static void select_impl(int want_fast) {
#ifdef SMT16_HAVE_SHANI_CODE
    if (want_fast && cpu_has_shani()) {
        g_blocks = blocks_shani;
        g_impl = 1;
        return;
    }
#else
    (void)want_fast;
#endif
    g_blocks = blocks_portable;
    g_impl = 0;
}

/* Chosen once when the library is loaded, before any thread can hash. */
__attribute__((constructor)) static void init_impl(void) { select_impl(1); }

/* Switching (mode 0 or 1) is for tests, with no other thread hashing at the time. */
int smt16_sha256_impl(int mode) {
    if (mode == 0 || mode == 1) select_impl(mode);
    if (g_impl < 0) select_impl(1);
    return g_impl;
}

void smt16_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    if (g_impl < 0) select_impl(1);
    uint32_t st[8];
    memcpy(st, H0, sizeof st);
    size_t full = len / 64;
    if (full) g_blocks(st, data, full);
    size_t rest = len - full * 64;
    uint8_t tail[128];
    memset(tail, 0, sizeof tail);
    if (rest) memcpy(tail, data + full * 64, rest);
    tail[rest] = 0x80;
    size_t tail_blocks = rest + 1 + 8 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)len * 8u;
    uint8_t *lp = tail + tail_blocks * 64 - 8;
    for (int i = 0; i < 8; i++) lp[i] = (uint8_t)(bits >> (56 - 8 * i));
    g_blocks(st, tail, tail_blocks);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, st[i]);
}
