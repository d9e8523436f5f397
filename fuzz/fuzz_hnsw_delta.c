/*
 * fuzz/fuzz_hnsw_delta.c - libFuzzer target for HNSW deltas (vector/hnsw.h: what
 * changed since an index's base, saved instead of the whole index).
 *
 * The base is a small index built the same way every time (40 nodes of dimension 8;
 * the input's first byte chooses f32 or int8 codes); the rest of the input is a delta
 * applied to it with the checksums, as loch loads one, and without them, so mutations
 * reach the checks of counts, levels and links. Whatever applies is then used as loch
 * would: searched, added to, and saved as a delta again, which must apply to a fresh
 * base. Any crash, overrun or leak is a bug. tests/unit/test_hnsw.c writes the seed
 * corpus (tests/fuzz/corpus/hnsw_delta) from the same base.
 *
 *   make fuzz && build-fuzz/fuzz_hnsw_delta -max_total_time=60 <copy of tests/fuzz/corpus/hnsw_delta>
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/hnsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HNSW_DELTA_FUZZ_MAX_INPUT (1u << 20)
#define HNSW_DELTA_FUZZ_DIM 8

static const uint8_t hnsw_delta_fuzz_fp[32] = {0x42};

/* vector i of a fixed pseudo-random sequence, unit length */
static void hnsw_delta_fuzz_vector(uint32_t i, float *out)
{
    uint64_t s = 0x9E3779B97F4A7C15ull * (i + 1);
    float norm = 0;
    for (int d = 0; d < HNSW_DELTA_FUZZ_DIM; d++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        out[d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        norm += out[d] * out[d];
    }
    for (int d = 0; d < HNSW_DELTA_FUZZ_DIM; d++)
        out[d] /= sqrtf(norm);
}

/* The base every input is applied to: 40 nodes, node 5 deleted, rebased on the fixed
 * fingerprint. NULL only out of memory. */
static hnsw *hnsw_delta_fuzz_base(int i8)
{
    hnsw *h = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.codes = i8 ? HNSW_I8 : HNSW_F32, o.m = 4, o.ef_construction = 16;
    if (hnsw_new(&h, HNSW_DELTA_FUZZ_DIM, &o) != 0)
        return NULL;
    for (uint32_t i = 0; i < 40; i++) {
        float v[HNSW_DELTA_FUZZ_DIM];
        uint64_t label = i;
        hnsw_delta_fuzz_vector(i, v);
        if (hnsw_add(h, v, &label, 1) != 0) {
            hnsw_free(h);
            return NULL;
        }
    }
    hnsw_delete(h, 5);
    hnsw_rebase(h, hnsw_delta_fuzz_fp);
    return h;
}

static void hnsw_delta_fuzz_use(hnsw *h, int i8)
{
    float q[HNSW_DELTA_FUZZ_DIM];
    hnsw_hit hits[8];
    uint64_t allow[2] = {0x5555555555555555ull, ~0ull};
    hnsw_query qr = {8, 16, NULL, 0};
    hnsw_delta_fuzz_vector(1000, q);
    hnsw_search(h, q, &qr, hits);
    if (hnsw_size(h) <= 128) { /* the filter covers 128 nodes */
        qr.allow = allow;
        hnsw_search(h, q, &qr, hits);
    }
    uint64_t label = 77;
    if (hnsw_add(h, q, &label, 1) != 0)
        return;
    hnsw_delete(h, 0);
    buf d = BUF_INIT;
    uint8_t fp[32] = {0x43};
    if (hnsw_save_delta(h, fp, "k", 1, &d) == 0) {
        hnsw *again = hnsw_delta_fuzz_base(i8);
        if (again && hnsw_apply_delta(again, d.data, d.len, fp, NULL, NULL, 1) != 0)
            abort(); /* what loch saves, loch must load */
        hnsw_free(again);
    }
    buf_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > HNSW_DELTA_FUZZ_MAX_INPUT)
        return 0;
    int i8 = data[0] & 1;
    void *copy = malloc(size);
    if (!copy)
        return 0;
    for (int check = 0; check < 2; check++) {
        hnsw *h = hnsw_delta_fuzz_base(i8);
        if (!h)
            break;
        memcpy(copy, data + 1, size - 1);
        if (hnsw_apply_delta(h, copy, size - 1, NULL, NULL, NULL, check) == 0)
            hnsw_delta_fuzz_use(h, i8);
        hnsw_free(h);
    }
    free(copy);
    return 0;
}
