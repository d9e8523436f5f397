/*
 * vector/distance.c - f32 and int8 distance kernels (vector/distance.h).
 *
 * Each kernel exists three times: AVX-512 (16 floats or 32 int8 per step, the tail
 * by a masked load so nothing past dim is read), AVX2+FMA (8 floats or 16 int8, a
 * scalar tail) and portable C. The ISA is picked once, at the first call, from what
 * the CPU reports, so one binary runs on any x86-64 and uses what the machine has;
 * other architectures get the C kernels, which the compiler vectorizes as it can.
 *
 * int8 products are widened to int16 and summed pairwise into int32 (madd), exact
 * for any dim an index accepts: |q| <= 127, so a pair adds at most 2 * 254^2.
 */
#include "vector/distance.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LOCH_X86 1
#include <immintrin.h>
#endif

typedef float (*f32_fn)(const float *, const float *, size_t);
typedef int32_t (*i8_fn)(const int8_t *, const int8_t *, size_t);

/* --- portable C: several partial sums, so the compiler may keep lanes busy --- */

static float dot_c(const float *a, const float *b, size_t n)
{
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + (size_t)j] * b[i + (size_t)j];
    float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static float l2_c(const float *a, const float *b, size_t n)
{
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            float d = a[i + (size_t)j] - b[i + (size_t)j];
            s[j] += d * d;
        }
    float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        sum += (a[i] - b[i]) * (a[i] - b[i]);
    return sum;
}

static int32_t dot_i8_c(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

static int32_t l2_i8_c(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t d = (int32_t)a[i] - b[i];
        s += d * d;
    }
    return s;
}

/* sum (a + 128) * b: with the sum of b known, sum a*b is this - 128 sum b. It is what
 * VNNI's vpdpbusd computes (unsigned bytes times signed bytes), a quarter of the
 * instructions of widening to int16; a ^ 0x80 is a + 128 as an unsigned byte. */
static int32_t dotb_i8_c(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((int32_t)a[i] + 128) * b[i];
    return s;
}

#ifdef LOCH_X86
/* --- AVX-512 --- */

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static int32_t dotb_i8_vnni(const int8_t *a, const int8_t *b,
                                                                                            size_t n)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(a + i), bias), _mm512_loadu_si512(b + i));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(_mm512_loadu_si512(a + i + 64), bias),
                                 _mm512_loadu_si512(b + i + 64));
    }
    for (; i + 64 <= n; i += 64)
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(a + i), bias), _mm512_loadu_si512(b + i));
    if (i < n) { /* masked-off bytes load as 0: (0 ^ 0x80) * 0 adds nothing */
        __mmask64 m = n - i == 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), bias),
                                 _mm512_maskz_loadu_epi8(m, b + i));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static int32_t dotb_i8_512(const int8_t *a, const int8_t *b, size_t n)
{
    const __m512i bias = _mm512_set1_epi16(128);
    __m512i s = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i x = _mm512_add_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(a + i))), bias);
        __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
        s = _mm512_add_epi32(s, _mm512_madd_epi16(x, y));
    }
    return _mm512_reduce_add_epi32(s) + dotb_i8_c(a + i, b + i, n - i);
}

__attribute__((target("avx512f"))) static float dot_512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) static float l2_512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static int32_t dot_i8_512(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i s = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(a + i)));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
        s = _mm512_add_epi32(s, _mm512_madd_epi16(x, y));
    }
    if (i < n) {
        __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        __m512i x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));
        s = _mm512_add_epi32(s, _mm512_madd_epi16(x, y));
    }
    return _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static int32_t l2_i8_512(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i s = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(a + i)));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
        __m512i d = _mm512_sub_epi16(x, y);
        s = _mm512_add_epi32(s, _mm512_madd_epi16(d, d));
    }
    if (i < n) {
        __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        __m512i x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));
        __m512i d = _mm512_sub_epi16(x, y);
        s = _mm512_add_epi32(s, _mm512_madd_epi16(d, d));
    }
    return _mm512_reduce_add_epi32(s);
}

/* --- AVX2 + FMA --- */

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2"))) static int32_t hsum256i(__m256i v)
{
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
    return _mm_cvtsi128_si32(x);
}

__attribute__((target("avx2,fma"))) static float dot_256(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma"))) static float l2_256(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float sum = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        sum += (a[i] - b[i]) * (a[i] - b[i]);
    return sum;
}

__attribute__((target("avx2"))) static int32_t dot_i8_256(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(x, y));
    }
    return hsum256i(s) + dot_i8_c(a + i, b + i, n - i);
}

__attribute__((target("avx2"))) static int32_t l2_i8_256(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        __m256i d = _mm256_sub_epi16(x, y);
        s = _mm256_add_epi32(s, _mm256_madd_epi16(d, d));
    }
    return hsum256i(s) + l2_i8_c(a + i, b + i, n - i);
}

__attribute__((target("avx2"))) static int32_t dotb_i8_256(const int8_t *a, const int8_t *b, size_t n)
{
    const __m256i bias = _mm256_set1_epi16(128);
    __m256i s = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i))), bias);
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(x, y));
    }
    return hsum256i(s) + dotb_i8_c(a + i, b + i, n - i);
}
#endif

/* --- dispatch --- */

static struct {
    f32_fn dot, l2;
    i8_fn dot_i8, l2_i8, dotb_i8;
    const char *name;
} K;
static atomic_int chosen; /* 0 until K is filled; racing first callers fill it alike */

/* The best kernels the CPU has, or, with want, those named (if the CPU has them). */
static int choose_isa(const char *want)
{
    int ok = want == NULL || strcmp(want, "c") == 0;
    K.dot = dot_c, K.l2 = l2_c, K.dot_i8 = dot_i8_c, K.l2_i8 = l2_i8_c, K.dotb_i8 = dotb_i8_c, K.name = "c";
#ifdef LOCH_X86
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    int vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (want ? strcmp(want, "avx2") == 0 && avx2 : avx2 && !avx512) {
        K.dot = dot_256, K.l2 = l2_256, K.dot_i8 = dot_i8_256, K.l2_i8 = l2_i8_256, K.dotb_i8 = dotb_i8_256;
        K.name = "avx2", ok = 1;
    }
    if (want ? strncmp(want, "avx512", 6) == 0 && avx512 : avx512) {
        K.dot = dot_512, K.l2 = l2_512, K.dot_i8 = dot_i8_512, K.l2_i8 = l2_i8_512, K.dotb_i8 = dotb_i8_512;
        K.name = "avx512", ok = 1;
        if (want ? strcmp(want, "avx512+vnni") == 0 && vnni : vnni)
            K.dotb_i8 = dotb_i8_vnni, K.name = "avx512+vnni";
        else if (want && strcmp(want, "avx512") != 0)
            ok = 0;
    }
#endif
    atomic_store_explicit(&chosen, 1, memory_order_release);
    return ok ? 0 : -1;
}

static void choose(void) { choose_isa(NULL); }

int vec_isa_set(const char *name)
{
    if (choose_isa(name) == 0)
        return 0;
    choose_isa(NULL);
    return -1;
}

static inline void ready(void)
{
    if (!atomic_load_explicit(&chosen, memory_order_acquire))
        choose();
}

float vec_dist(vec_metric m, const float *a, const float *b, size_t dim)
{
    ready();
    return m == VEC_L2 ? K.l2(a, b, dim) : 1.0f - K.dot(a, b, dim);
}

int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t dim)
{
    ready();
    return K.dot_i8(a, b, dim);
}

int32_t vec_dot_i8_biased(const int8_t *a, const int8_t *b, size_t dim)
{
    ready();
    return K.dotb_i8(a, b, dim);
}

int32_t vec_l2_i8(const int8_t *a, const int8_t *b, size_t dim)
{
    ready();
    return K.l2_i8(a, b, dim);
}

float vec_dist_i8(vec_metric m, const vec_quant *qz, const int8_t *a, const int8_t *b, size_t dim)
{
    float s2 = qz->scale * qz->scale;
    return m == VEC_L2 ? s2 * (float)vec_l2_i8(a, b, dim) : 1.0f - s2 * (float)vec_dot_i8(a, b, dim);
}

float vec_dot(const float *a, const float *b, size_t dim)
{
    ready();
    return K.dot(a, b, dim);
}

vec_kernel vec_kernel_for(vec_metric m)
{
    ready();
    return m == VEC_L2 ? (vec_kernel){K.l2, K.l2_i8, K.dotb_i8} : (vec_kernel){K.dot, K.dot_i8, K.dotb_i8};
}

const char *vec_isa(void)
{
    ready();
    return K.name;
}

vec_quant vec_quant_fit(vec_metric m, const float *v, size_t n, size_t dim)
{
    vec_quant q = {1.0f, 0.0f};
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n * dim; i++)
        if (isfinite(v[i])) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
    if (!(lo <= hi))
        return q;
    /* in double, kept to a normal float: a saved quantizer must be finite and positive */
    double scale = m == VEC_IP ? fmax(fabs((double)lo), fabs((double)hi)) / 127.0 : ((double)hi - lo) / 254.0;
    if (m == VEC_L2)
        q.offset = (float)(((double)lo + hi) / 2); /* the middle of the range is code 0 */
    if (scale > 0)
        q.scale = (float)fmin(fmax(scale, (double)FLT_MIN), (double)FLT_MAX);
    return q;
}

void vec_quantize(const vec_quant *qz, const float *v, int8_t *q, size_t dim)
{
    for (size_t i = 0; i < dim; i++) {
        float x = (v[i] - qz->offset) / qz->scale;
        x = isnan(x) ? 0 : nearbyintf(x); /* an infinity clamps below */
        q[i] = (int8_t)(x > 127 ? 127 : x < -127 ? -127 : x);
    }
}
