/*
 * vector/exact.c - exact top-k by inner product (vector/exact.h).
 *
 * The inner product is vector/distance.h's SIMD kernel; the top k is a small array kept
 * sorted by insertion, which beats a heap for the k of a search (10, 100).
 */
#include "vector/exact.h"

/* a before b: a higher score, or the same score and a lower row */
static int better(float sa, size_t ra, float sb, size_t rb) { return sa > sb || (sa == sb && ra < rb); }

size_t vec_top_k(const float *m, size_t n, size_t dim, const float *q, size_t k, vec_hit *out)
{
    size_t have = 0;
    if (k == 0)
        return 0;
    for (size_t r = 0; r < n; r++) {
        float s = vec_dot(m + r * dim, q, dim);
        if (have == k && !better(s, r, out[k - 1].score, out[k - 1].row))
            continue;
        size_t at = have < k ? have++ : k - 1; /* the last place, freed or new */
        while (at > 0 && better(s, r, out[at - 1].score, out[at - 1].row)) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (vec_hit){r, s};
    }
    return have;
}
