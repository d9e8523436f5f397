/*
 * vector/exact.h - exact nearest neighbours over unit vectors held in memory: every
 * row of an n x dim matrix scored by its inner product with the query (the cosine,
 * for unit vectors), the k best kept. No I/O, no allocation beyond the caller's.
 *
 * The baseline every index is measured against (recall is "the same rows as this"),
 * and the search itself for tables small enough that scoring every row is cheaper
 * than keeping an index: 15,000 x 384 is a few milliseconds.
 */
#ifndef LOCH_VECTOR_EXACT_H
#define LOCH_VECTOR_EXACT_H

#include "vector/distance.h"

#include <stddef.h>

typedef struct {
    size_t row;
    float score;
} vec_hit;

/* The min(k, n) rows of m (row-major) with the largest inner product with q into
 * out[0..), best first; equal scores: the lower row first. */
size_t vec_top_k(const float *m, size_t n, size_t dim, const float *q, size_t k, vec_hit *out);

#endif
