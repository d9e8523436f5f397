/*
 * vector/distance.h - the distances every search in loch is made of, in f32 and in
 * int8, with the widest SIMD the CPU has chosen at run time.
 *
 * Two metrics, both "smaller is nearer" so an index never asks which one it has:
 *   VEC_IP  1 - <a, b>        unit vectors (every embedding loch makes): the cosine
 *                             distance; ordering by it is ordering by the cosine.
 *   VEC_L2  |a - b|^2         the squared Euclidean distance (raw features, pixels).
 *
 * int8 codes are one global affine map per index, x = offset + scale * q, chosen by
 * vec_quant_fit over the data. One scale for every dimension is what keeps the integer
 * distance proportional to the real one (an offset cancels in a difference; for VEC_IP
 * the fit keeps offset at 0, symmetric, so <a, b> = scale^2 <qa, qb>). Per-dimension
 * ranges quantize tighter but would need a float multiply per dimension, which is the
 * cost int8 exists to avoid. Codes make traversal cheap; a search reranks its last
 * candidates with the f32 originals, so the answer's scores are exact.
 *
 * The kernels read exactly dim elements (masked tails, no overread) and are pure: safe
 * from any thread. The first call picks AVX-512, AVX2+FMA or portable C once.
 */
#ifndef LOCH_VECTOR_DISTANCE_H
#define LOCH_VECTOR_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VEC_IP = 0, VEC_L2 = 1 } vec_metric;

typedef struct {
    float scale;  /* x = offset + scale * q */
    float offset; /* 0 for VEC_IP */
} vec_quant;

/* The inner product of a and b (dim floats each). */
float vec_dot(const float *a, const float *b, size_t dim);
/* The f32 distance of a and b under m. */
float vec_dist(vec_metric m, const float *a, const float *b, size_t dim);
/* The same distance computed from int8 codes of a and b, in the units of vec_dist. */
float vec_dist_i8(vec_metric m, const vec_quant *qz, const int8_t *a, const int8_t *b, size_t dim);
/* The raw integer sums behind vec_dist_i8: sum a*b and sum (a-b)^2. */
int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t dim);
int32_t vec_l2_i8(const int8_t *a, const int8_t *b, size_t dim);
/* sum (a + 128) * b, so sum a*b = this - 128 * sum b. With the sum of b (and, for
 * VEC_L2, the sums of squares) kept beside each code, an index gets either distance
 * from this one kernel, which VNNI computes with one instruction per 64 bytes. */
int32_t vec_dot_i8_biased(const int8_t *a, const int8_t *b, size_t dim);

/* The quantizer for n vectors of m (row-major): the range of every value (VEC_L2), or
 * of every magnitude, symmetric (VEC_IP). A constant or empty matrix gets scale 1. */
vec_quant vec_quant_fit(vec_metric m, const float *v, size_t n, size_t dim);
/* v's codes into q (dim bytes): rounded to nearest, clamped to [-127, 127]. */
void vec_quantize(const vec_quant *qz, const float *v, int8_t *q, size_t dim);

/* The kernels themselves, for loops that call them millions of times: f32 is the inner
 * product for VEC_IP and the squared distance for VEC_L2, i8 the same over codes. The
 * distance is then 1 - f32 (VEC_IP) or f32 (VEC_L2); times scale^2 for i8. */
typedef struct {
    float (*f32)(const float *a, const float *b, size_t dim);
    int32_t (*i8)(const int8_t *a, const int8_t *b, size_t dim);
    int32_t (*i8_biased)(const int8_t *a, const int8_t *b, size_t dim); /* vec_dot_i8_biased */
} vec_kernel;
vec_kernel vec_kernel_for(vec_metric m);

/* Which kernels run here: "avx512+vnni", "avx512", "avx2" or "c", for benchmarks and bug reports. */
const char *vec_isa(void);
/* Uses the named kernels from now on, if this CPU has them (0), else keeps the best (-1).
 * For tests, so every kernel is checked on a machine that has it; not thread-safe. */
int vec_isa_set(const char *name);

#endif
