/*
 * fuzz/fuzz_hnsw.c - libFuzzer target for saved HNSW indexes (vector/hnsw.c).
 *
 * The input is an index file. It is loaded twice: with the checksums, as loch loads
 * it, and without them, so mutations reach the checks of sizes, levels and links that
 * stand between a file and a search. Whatever loads is then used as loch would: a
 * search with and without a filter, a tombstone, an add (which copies level 0 out of
 * the input) and a save whose bytes must load again. Any crash, overrun or leak is a
 * bug. Helper names carry an hnsw_fuzz_ prefix so fuzz_replay can include this file.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_hnsw.c src/vector/hnsw.c \
 *         src/vector/distance.c src/util/crc32c.c src/util/error.c src/util/buf.c src/util/utf8.c -lm \
 *         -o /tmp/fuzz_hnsw
 *   /tmp/fuzz_hnsw -max_total_time=60 <copy of tests/fuzz/corpus/hnsw>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/hnsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HNSW_FUZZ_MAX_INPUT (1u << 20)

static void hnsw_fuzz_use(hnsw *h)
{
    size_t dim = hnsw_dim(h);
    float *q = calloc(dim, sizeof(float));
    uint64_t allow[4] = {0x5555555555555555ull, ~0ull, 0, 1};
    hnsw_hit hits[8];
    buf saved = BUF_INIT;
    if (!q)
        return;
    q[0] = 1;
    hnsw_query qr = {8, 16, NULL, 0};
    hnsw_search(h, q, &qr, hits);
    if (hnsw_size(h) <= 256) { /* the filter covers 256 nodes */
        qr.allow = allow;
        hnsw_search(h, q, &qr, hits);
        qr.exact_below = 1000;
        hnsw_search(h, q, &qr, hits);
    }
    if (hnsw_size(h))
        hnsw_delete(h, 0);
    uint64_t label = 99;
    hnsw_add(h, q, &label, 1);
    qr.allow = NULL;
    hnsw_search(h, q, &qr, hits);
    uint8_t fp[32] = {0};
    if (hnsw_save(h, fp, "x", 1, &saved) == 0) {
        void *copy = aligned_alloc(64, (saved.len + 63) / 64 * 64);
        hnsw *again = NULL;
        if (copy) {
            memcpy(copy, saved.data, saved.len);
            if (hnsw_load_bytes(&again, copy, saved.len, 1) != 0)
                abort(); /* what loch saves, loch must load */
            hnsw_free(again);
        }
        free(copy);
    }
    buf_free(&saved);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > HNSW_FUZZ_MAX_INPUT)
        return 0;
    void *copy = aligned_alloc(64, (size + 64) / 64 * 64);
    if (!copy)
        return 0;
    for (int check = 0; check < 2; check++) {
        memcpy(copy, data, size);
        hnsw *h = NULL;
        if (hnsw_load_bytes(&h, copy, size, check) == 0) {
            hnsw_fuzz_use(h);
            hnsw_free(h);
        }
    }
    free(copy);
    return 0;
}
