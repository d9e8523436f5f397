/*
 * tests/unit/test_hnsw.c - the distance kernels against plain loops, and the HNSW
 * graph against exact search: recall on clustered data for both metrics and both code
 * kinds, tombstones (never returned; at a high ef the answer is the exact one over the
 * live nodes), filters (only allowed nodes; the exact path below the threshold gives
 * the exact answer), the edges (empty index, k past n, bad options); an index after
 * adds and deletes against one built from scratch; saved files: mapped back they
 * answer as before, and every damaged or truncated one is refused, never searched.
 *
 * LOCH_HNSW_SEEDS=DIR also writes small index files there, and deltas against the
 * delta fuzz target's base into DIR/../hnsw_delta: the fuzz corpora
 * (tests/fuzz/corpus/hnsw, hnsw_delta) were made so.
 */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/crc32c.h"

#include "loch/loch.h"
#include "test.h"
#include "vector/distance.h"
#include "vector/hnsw.h"

#define LLVMFuzzerTestOneInput fuzz_hnsw_delta_one
#include "../../fuzz/fuzz_hnsw_delta.c"
#undef LLVMFuzzerTestOneInput

static uint64_t rng_state = 42;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float gauss(void)
{
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* n points around c centres in dim dimensions; unit length when unit */
static float spread = 0.6f; /* 2.0 in the recall test: at ef 10 recall is ~0.7, so a worse graph shows */
static float *clustered(size_t n, size_t dim, size_t c, int unit)
{
    float *centres = malloc(c * dim * sizeof(float)), *v = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < c * dim; i++)
        centres[i] = gauss();
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(urand() * (double)c) % c;
        double norm = 0;
        for (size_t j = 0; j < dim; j++) {
            v[i * dim + j] = centres[k * dim + j] + spread * gauss();
            norm += v[i * dim + j] * v[i * dim + j];
        }
        for (size_t j = 0; unit && j < dim; j++)
            v[i * dim + j] /= (float)sqrt(norm);
    }
    free(centres);
    return v;
}

/* the exact k nearest labels (label = index) among the rows with ok(row) */
static size_t exact(vec_metric m, const float *v, size_t n, size_t dim, const float *q, size_t k,
                    const uint64_t *allow, const uint8_t *dead, hnsw_hit *out)
{
    size_t have = 0;
    for (size_t r = 0; r < n; r++) {
        if ((allow && !((allow[r / 64] >> (r % 64)) & 1)) || (dead && dead[r]))
            continue;
        float d = vec_dist(m, v + r * dim, q, dim);
        if (have == k && !(d < out[k - 1].dist))
            continue;
        size_t at = have < k ? have++ : k - 1;
        while (at > 0 && d < out[at - 1].dist) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (hnsw_hit){r, d};
    }
    return have;
}

static size_t overlap(const hnsw_hit *a, size_t na, const hnsw_hit *b, size_t nb)
{
    size_t c = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            c += a[i].label == b[j].label;
    return c;
}

static void kernels_equal_loops(void)
{
    float a[130], b[130];
    int8_t qa[130], qb[130];
    for (size_t i = 0; i < 130; i++) {
        a[i] = gauss(), b[i] = gauss();
        qa[i] = (int8_t)(urand() * 254 - 127), qb[i] = (int8_t)(urand() * 254 - 127);
    }
    qa[0] = -127, qb[0] = 127; /* the widest difference */
    for (size_t dim = 1; dim <= 130; dim++) {
        double dot = 0, l2 = 0;
        int64_t idot = 0, il2 = 0, ibiased = 0;
        for (size_t i = 0; i < dim; i++) {
            dot += (double)a[i] * b[i];
            l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            idot += qa[i] * qb[i];
            ibiased += (qa[i] + 128) * qb[i];
            il2 += (qa[i] - qb[i]) * (qa[i] - qb[i]);
        }
        CHECK(fabs(vec_dot(a, b, dim) - dot) < 1e-4 * (1 + fabs(dot)));
        CHECK(fabs(vec_dist(VEC_IP, a, b, dim) - (1 - dot)) < 1e-4 * (1 + fabs(dot)));
        CHECK(fabs(vec_dist(VEC_L2, a, b, dim) - l2) < 1e-4 * (1 + l2));
        CHECK(vec_dot_i8(qa, qb, dim) == idot);
        CHECK(vec_l2_i8(qa, qb, dim) == il2);
        CHECK(vec_dot_i8_biased(qa, qb, dim) == ibiased);
    }
    /* codes: the round trip is within half a step, and the scaled integer distance
     * is close to the real one */
    vec_quant qz = vec_quant_fit(VEC_L2, a, 1, 130);
    vec_quantize(&qz, a, qa, 130);
    for (size_t i = 0; i < 130; i++)
        CHECK(fabsf(qz.offset + qz.scale * qa[i] - a[i]) <= qz.scale * 0.5001f);
    vec_quant flat = vec_quant_fit(VEC_IP, (float[]){0, 0}, 1, 2);
    CHECK(flat.scale == 1 && flat.offset == 0);
    CHECK(strlen(vec_isa()) > 0);
}

/* every kernel this CPU can run, each against the plain loops */
static void test_kernels_equal_loops(void)
{
    const char *best = vec_isa();
    static const char *const isas[] = {"c", "avx2", "avx512", "avx512+vnni"};
    for (size_t i = 0; i < sizeof isas / sizeof *isas; i++)
        if (vec_isa_set(isas[i]) == 0) {
            CHECK_STR(vec_isa(), isas[i]);
            printf("  kernels: %s\n", isas[i]);
            kernels_equal_loops();
        }
    CHECK(vec_isa_set(best) == 0);
    CHECK(vec_isa_set("no such isa") == -1);
    CHECK_STR(vec_isa(), best);
}

/* recall@10 over 100 queries of an index of n points */
static double recall(vec_metric m, hnsw_codes codes, size_t n, size_t dim, size_t ef)
{
    float *v = clustered(n + 100, dim, 20, m == VEC_IP);
    uint64_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = i;
    hnsw *h = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.metric = m, o.codes = codes, o.ef_construction = 100;
    CHECK_OK(hnsw_new(&h, dim, &o));
    /* in two batches: the second grows the arrays under a built graph */
    CHECK_OK(hnsw_add(h, v, labels, n / 3));
    CHECK_OK(hnsw_add(h, v + n / 3 * dim, labels + n / 3, n - n / 3));
    CHECK(hnsw_size(h) == n);
    size_t found = 0;
    hnsw_hit want[10], got[10];
    hnsw_query qr = {10, ef, NULL, 0};
    for (size_t i = 0; i < 100; i++) {
        const float *q = v + (n + i) * dim;
        size_t nw = exact(m, v, n, dim, q, 10, NULL, NULL, want);
        long ng = hnsw_search(h, q, &qr, got);
        CHECK(ng == 10);
        for (long j = 1; j < ng; j++)
            CHECK(got[j - 1].dist <= got[j].dist);
        for (long j = 0; j < ng; j++) /* the distance returned is the exact one */
            CHECK(fabsf(got[j].dist - vec_dist(m, v + got[j].label * dim, q, dim)) <= 1e-5f * (1 + fabsf(got[j].dist)));
        found += overlap(want, nw, got, (size_t)ng);
    }
    hnsw_free(h);
    free(labels);
    free(v);
    return (double)found / 1000.0;
}

static void test_recall_against_exact(void)
{
    double r;
    spread = 2.0f;
    CHECK((r = recall(VEC_IP, HNSW_F32, 4000, 48, 64)) >= 0.95);
    printf("  recall ip/f32 %.3f\n", r);
    CHECK((r = recall(VEC_L2, HNSW_F32, 4000, 37, 64)) >= 0.95);
    printf("  recall l2/f32 %.3f\n", r);
    CHECK((r = recall(VEC_IP, HNSW_I8, 4000, 48, 64)) >= 0.95);
    printf("  recall ip/i8 %.3f\n", r);
    CHECK((r = recall(VEC_L2, HNSW_I8, 4000, 37, 64)) >= 0.95);
    printf("  recall l2/i8 %.3f\n", r);
    spread = 0.6f;
}

static void test_deletes_and_filters(void)
{
    const size_t n = 3000, dim = 24;
    float *v = clustered(n + 20, dim, 10, 1);
    uint64_t *labels = malloc(n * sizeof *labels);
    uint8_t *dead = calloc(n, 1);
    for (size_t i = 0; i < n; i++)
        labels[i] = i;
    hnsw *h = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.ef_construction = 64;
    CHECK_OK(hnsw_new(&h, dim, &o));
    CHECK_OK(hnsw_add(h, v, labels, n));
    for (size_t i = 0; i < n; i += 3) { /* a third, the entry point maybe among them */
        CHECK_OK(hnsw_delete(h, (uint32_t)i));
        dead[i] = 1;
    }
    CHECK_OK(hnsw_delete(h, 0)); /* twice: still one tombstone */
    CHECK(hnsw_deleted(h) == 1000);
    CHECK(hnsw_delete(h, (uint32_t)n) == LOCH_EINVALID);
    hnsw_hit want[10], got[10];
    for (size_t i = 0; i < 20; i++) {
        const float *q = v + (n + i) * dim;
        hnsw_query qr = {10, n, NULL, 0}; /* ef = n: the whole graph, so exactly the exact answer */
        size_t nw = exact(VEC_IP, v, n, dim, q, 10, NULL, dead, want);
        long ng = hnsw_search(h, q, &qr, got);
        CHECK(ng == (long)nw);
        for (long j = 0; j < ng; j++)
            CHECK(got[j].label == want[j].label && !dead[got[j].label]);
    }
    /* filters at 1%, 10%, 50%, with and without the exact path */
    uint64_t *allow = calloc((n + 63) / 64, sizeof *allow);
    double sel[] = {0.01, 0.1, 0.5};
    for (size_t s = 0; s < 3; s++) {
        memset(allow, 0, (n + 63) / 64 * sizeof *allow);
        for (size_t r = 0; r < n; r++)
            if (urand() < sel[s])
                allow[r / 64] |= UINT64_C(1) << (r % 64);
        for (int exact_path = 0; exact_path < 2; exact_path++) {
            size_t found = 0, wanted = 0;
            for (size_t i = 0; i < 20; i++) {
                const float *q = v + (n + i) * dim;
                hnsw_query qr = {10, 200, allow, exact_path ? n : 0};
                size_t nw = exact(VEC_IP, v, n, dim, q, 10, allow, dead, want);
                long ng = hnsw_search(h, q, &qr, got);
                CHECK(ng >= 0 && (size_t)ng <= nw);
                for (long j = 0; j < ng; j++)
                    CHECK(((allow[got[j].label / 64] >> (got[j].label % 64)) & 1) && !dead[got[j].label]);
                if (exact_path) {
                    CHECK((size_t)ng == nw);
                    for (long j = 0; j < ng; j++)
                        CHECK(got[j].label == want[j].label);
                }
                found += overlap(want, nw, got, (size_t)ng), wanted += nw;
            }
            printf("  filter %.0f%% %s: recall %.3f\n", sel[s] * 100, exact_path ? "exact" : "graph",
                   (double)found / (double)wanted);
            CHECK((double)found >= 0.95 * (double)wanted);
        }
    }
    free(allow);
    hnsw_free(h);
    free(dead);
    free(labels);
    free(v);
}

static void test_edges(void)
{
    hnsw *h = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    hnsw_hit got[4];
    float q[3] = {1, 0, 0};
    CHECK(hnsw_new(&h, 0, &o) == LOCH_EINVALID && !h);
    CHECK(hnsw_new(&h, HNSW_MAX_DIM + 1, &o) == LOCH_EINVALID);
    o.m = 1;
    CHECK(hnsw_new(&h, 3, &o) == LOCH_EINVALID);
    o.m = 16, o.ef_construction = 0;
    CHECK(hnsw_new(&h, 3, &o) == LOCH_EINVALID);
    o.ef_construction = 16;
    CHECK_OK(hnsw_new(&h, 3, &o));
    hnsw_query qr = {4, 10, NULL, 0};
    CHECK(hnsw_search(h, q, &qr, got) == 0); /* empty */
    float v[6] = {1, 0, 0, 0, 1, 0};
    uint64_t labels[2] = {7, 9};
    CHECK_OK(hnsw_add(h, v, labels, 2));
    CHECK(hnsw_search(h, q, &qr, got) == 2); /* k past n */
    CHECK(got[0].label == 7 && got[0].dist == 0 && got[1].label == 9);
    CHECK_OK(hnsw_delete(h, 0));
    CHECK_OK(hnsw_delete(h, 1));
    CHECK(hnsw_search(h, q, &qr, got) == 0); /* all deleted */
    hnsw_free(h);
}

static hnsw *small_index(hnsw_codes codes, vec_metric m, size_t n, size_t dim, float **vout)
{
    float *v = clustered(n + 20, dim, 8, m == VEC_IP);
    uint64_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = 1000 + i;
    hnsw *h = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.codes = codes, o.metric = m, o.ef_construction = 40, o.m = 6;
    CHECK_OK(hnsw_new(&h, dim, &o));
    CHECK_OK(hnsw_add(h, v, labels, n));
    free(labels);
    *vout = v;
    return h;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static uint32_t file_crc(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char b[65536];
    size_t got;
    uint32_t c = 0;
    while (f && (got = fread(b, 1, sizeof b, f)) > 0)
        c = crc32c(c, b, got);
    if (f)
        fclose(f);
    return c;
}

static void same_answers(hnsw *a, hnsw *b, const float *queries, size_t nq, size_t dim, size_t ef)
{
    hnsw_hit x[10], y[10];
    hnsw_query qr = {10, ef, NULL, 0};
    for (size_t i = 0; i < nq; i++) {
        long na = hnsw_search(a, queries + i * dim, &qr, x), nb = hnsw_search(b, queries + i * dim, &qr, y);
        CHECK(na == nb && na > 0);
        for (long j = 0; j < na && j < nb; j++)
            CHECK(x[j].label == y[j].label && x[j].dist == y[j].dist);
    }
}

static void test_save_and_map(void)
{
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof path, "%s/index.hnsw", dir);
    const char *seeds = getenv("LOCH_HNSW_SEEDS");
    for (int codes = 0; codes < 2; codes++) {
        const size_t n = 1500, dim = 21;
        float *v = NULL;
        hnsw *h = small_index((hnsw_codes)codes, codes ? VEC_L2 : VEC_IP, n, dim, &v);
        for (uint32_t i = 0; i < n; i += 7)
            CHECK_OK(hnsw_delete(h, i));
        uint8_t fp[32], other[32];
        memset(fp, 0xAB, sizeof fp);
        memset(other, 0xAC, sizeof other);
        buf b = BUF_INIT;
        CHECK_OK(hnsw_save(h, fp, "keys!", 5, &b));
        CHECK(b.len % 64 == 5); /* the extra bytes end the file */
        CHECK(write_file(path, b.data, b.len) == 0);
        hnsw *m = NULL;
        const void *extra = NULL;
        size_t extra_len = 0;
        CHECK_OK(hnsw_load_file(&m, path, fp, &extra, &extra_len));
        CHECK(m && extra_len == 5 && memcmp(extra, "keys!", 5) == 0);
        CHECK(m && hnsw_size(m) == n && hnsw_deleted(m) == hnsw_deleted(h));
        if (m)
            same_answers(h, m, v + n * dim, 20, dim, 64);
        /* an add after the map: the index grows, the file stays as it was */
        uint32_t before = file_crc(path);
        uint64_t label = 7;
        hnsw_hit hit[1];
        hnsw_query one = {1, 32, NULL, 0};
        CHECK_OK(hnsw_add(m, v + (n + 19) * dim, &label, 1));
        CHECK(hnsw_search(m, v + (n + 19) * dim, &one, hit) == 1 && hit[0].label == 7 && hit[0].dist < 1e-4f);
        CHECK(file_crc(path) == before);
        hnsw_free(m);
        m = NULL;
        CHECK(hnsw_load_file(&m, path, other, NULL, NULL) == LOCH_ECONFLICT && !m);
        /* every damage is refused: a flipped byte anywhere (header, links, vectors,
         * padding, extra) and every truncation */
        for (size_t at = 0; at < b.len; at += 1 + b.len / 300) {
            b.data[at] ^= 0x10;
            CHECK(write_file(path, b.data, b.len) == 0);
            CHECK(hnsw_load_file(&m, path, fp, NULL, NULL) == LOCH_ECORRUPT && !m);
            b.data[at] ^= 0x10;
        }
        for (size_t len = 0; len < b.len; len += 1 + b.len / 50) {
            CHECK(write_file(path, b.data, len) == 0);
            CHECK(hnsw_load_file(&m, path, fp, NULL, NULL) == LOCH_ECORRUPT && !m);
        }
        snprintf(path, sizeof path, "%s/missing.hnsw", dir);
        CHECK(hnsw_load_file(&m, path, fp, NULL, NULL) == LOCH_ENOTFOUND);
        /* a FIFO is refused without blocking; a file made long (a sparse hole) unread */
        snprintf(path, sizeof path, "%s/fifo.hnsw", dir);
        unlink(path);
        CHECK(mkfifo(path, 0600) == 0 && hnsw_load_file(&m, path, fp, NULL, NULL) == LOCH_ECORRUPT);
        snprintf(path, sizeof path, "%s/long.hnsw", dir);
        CHECK(write_file(path, b.data, b.len) == 0 && truncate(path, (off_t)(b.len + (UINT64_C(1) << 31))) == 0);
        CHECK(hnsw_load_file(&m, path, fp, NULL, NULL) == LOCH_ECORRUPT && !m);
        snprintf(path, sizeof path, "%s/index.hnsw", dir);
        if (seeds) { /* small files for the fuzz corpus */
            char seed[600];
            hnsw *tiny = NULL;
            float *tv = NULL;
            buf t = BUF_INIT;
            tiny = small_index((hnsw_codes)codes, codes ? VEC_L2 : VEC_IP, 40, 5, &tv);
            CHECK_OK(hnsw_delete(tiny, 3));
            CHECK_OK(hnsw_save(tiny, fp, "k", 1, &t));
            snprintf(seed, sizeof seed, "%s/%s.bin", seeds, codes ? "i8_l2" : "f32_ip");
            CHECK(write_file(seed, t.data, t.len) == 0);
            snprintf(seed, sizeof seed, "%s/%s_truncated.bin", seeds, codes ? "i8_l2" : "f32_ip");
            CHECK(write_file(seed, t.data, t.len / 2) == 0);
            buf_free(&t);
            hnsw_free(tiny);
            free(tv);
        }
        buf_free(&b);
        hnsw_free(h);
        free(v);
    }
    if (seeds) {
        hnsw *empty = NULL;
        hnsw_options o = HNSW_OPTIONS_INIT;
        buf t = BUF_INIT;
        uint8_t fp[32] = {0};
        char seed[600];
        CHECK_OK(hnsw_new(&empty, 3, &o));
        CHECK_OK(hnsw_save(empty, fp, NULL, 0, &t));
        snprintf(seed, sizeof seed, "%s/empty.bin", seeds);
        CHECK(write_file(seed, t.data, t.len) == 0);
        buf_free(&t);
        hnsw_free(empty);
    }
    remove_temp_dir(dir);
    free(dir);
}

/* adds, deletes and more adds answer as an index built from the live rows alone: at
 * an ef that covers the graph both are exact */
static void test_updates_equal_rebuild(void)
{
    const size_t n = 1500, more = 500, dim = 16;
    float *v = clustered(n + more + 20, dim, 8, 1), *live = malloc((n + more) * dim * sizeof(float));
    uint64_t *labels = malloc((n + more) * sizeof *labels), *live_labels = malloc((n + more) * sizeof *labels);
    for (size_t i = 0; i < n + more; i++)
        labels[i] = i;
    hnsw *a = NULL, *b = NULL;
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.ef_construction = 64;
    CHECK_OK(hnsw_new(&a, dim, &o));
    CHECK_OK(hnsw_add(a, v, labels, n));
    for (uint32_t i = 0; i < n; i += 5)
        CHECK_OK(hnsw_delete(a, i));
    CHECK_OK(hnsw_add(a, v + n * dim, labels + n, more));
    size_t nl = 0;
    for (size_t i = 0; i < n + more; i++)
        if (i >= n || i % 5) {
            memcpy(live + nl * dim, v + i * dim, dim * sizeof(float));
            live_labels[nl++] = i;
        }
    CHECK_OK(hnsw_new(&b, dim, &o));
    CHECK_OK(hnsw_add(b, live, live_labels, nl));
    same_answers(a, b, v + (n + more) * dim, 20, dim, n + more);
    hnsw_free(a);
    hnsw_free(b);
    free(v), free(live), free(labels), free(live_labels);
}

/* the whole index as bytes, to compare two indexes exactly */
static void whole(const hnsw *h, buf *out)
{
    static const uint8_t fp[32] = {9};
    buf_clear(out);
    CHECK_OK(hnsw_save(h, fp, NULL, 0, out));
}

/* Deltas: base + delta loads back as exactly the index that was saved (byte for byte,
 * for both code kinds), cumulatively over two rounds of adds and deletes; a delta
 * against another base, or with other data, is refused; every damaged or truncated
 * delta is refused and leaves the index its base. */
static void test_deltas(void)
{
    for (int codes = 0; codes < 2; codes++) {
        const size_t n = 400, dim = 12;
        float *v = NULL;
        hnsw *h = small_index((hnsw_codes)codes, VEC_IP, n, dim, &v);
        uint8_t fp0[32] = {1}, fp1[32] = {2}, fp2[32] = {3};
        buf b = BUF_INIT, d = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
        const char *base = "/tmp/loch-test-hnsw-base", *delta = "/tmp/loch-test-hnsw-delta";
        CHECK(hnsw_base(h, NULL) == NULL && hnsw_delta_size(h, 0) == SIZE_MAX);
        CHECK(hnsw_save_delta(h, fp1, NULL, 0, &d) == LOCH_EINVALID); /* no base yet */
        CHECK_OK(hnsw_save(h, fp0, "base", 4, &b));
        CHECK_OK(write_file(base, b.data, b.len));
        hnsw_rebase(h, fp0);
        size_t bn = 0;
        CHECK(hnsw_base(h, &bn) != NULL && bn == n && memcmp(hnsw_base(h, NULL), fp0, 32) == 0);
        CHECK(hnsw_delta_size(h, 0) < 256); /* nothing changed: a header and the tombstones */
        /* round 1: ten nodes added, three deleted (one of them new) */
        uint64_t labels[10];
        for (int i = 0; i < 10; i++)
            labels[i] = 5000 + (uint64_t)i;
        CHECK_OK(hnsw_add(h, v + n * dim, labels, 10));
        CHECK_OK(hnsw_delete(h, 7));
        CHECK_OK(hnsw_delete(h, 100));
        CHECK_OK(hnsw_delete(h, (uint32_t)n + 3));
        CHECK(hnsw_delta_size(h, 3) < b.len / 4);
        CHECK_OK(hnsw_save_delta(h, fp1, "new", 3, &d));
        CHECK(d.len == hnsw_delta_size(h, 3));
        CHECK_OK(write_file(delta, d.data, d.len));
        whole(h, &want);
        hnsw *m = NULL;
        const void *extra = NULL;
        size_t extra_len = 0;
        CHECK_OK(hnsw_load_file(&m, base, NULL, &extra, &extra_len));
        CHECK(extra_len == 4 && memcmp(extra, "base", 4) == 0);
        CHECK(hnsw_load_delta_file(m, delta, fp2, &extra, &extra_len) == LOCH_ECONFLICT); /* other data */
        CHECK_OK(hnsw_load_delta_file(m, delta, fp1, &extra, &extra_len));
        CHECK(extra_len == 3 && memcmp(extra, "new", 3) == 0);
        whole(m, &got);
        CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
        same_answers(h, m, v + (n + 10) * dim, 5, dim, 64);
        /* round 2, on the loaded one: the next delta still holds round 1's changes */
        CHECK_OK(hnsw_add(m, v + (n + 10) * dim, labels, 5));
        CHECK_OK(hnsw_delete(m, 200));
        buf_clear(&d);
        CHECK_OK(hnsw_save_delta(m, fp2, NULL, 0, &d));
        CHECK_OK(write_file(delta, d.data, d.len));
        whole(m, &want);
        hnsw *m2 = NULL;
        CHECK_OK(hnsw_load_file(&m2, base, fp0, NULL, NULL));
        CHECK_OK(hnsw_load_delta_file(m2, delta, fp2, NULL, NULL));
        whole(m2, &got);
        CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
        CHECK(hnsw_size(m2) == n + 15 && hnsw_deleted(m2) == 4);
        CHECK(hnsw_load_delta_file(m2, delta, fp2, NULL, NULL) == LOCH_EINVALID); /* not a fresh base */
        hnsw_free(m2);
        /* made long (a sparse hole): refused by its header's counts before it is read */
        CHECK(truncate(delta, (off_t)1 << 30) == 0);
        CHECK_OK(hnsw_load_file(&m2, base, fp0, NULL, NULL));
        CHECK(hnsw_load_delta_file(m2, delta, fp2, NULL, NULL) == LOCH_ECORRUPT && hnsw_size(m2) == n);
        hnsw_free(m2);
        CHECK_OK(write_file(delta, d.data, d.len));
        /* against another base: the base saved whole again (a rebuild) */
        hnsw *other = NULL;
        uint8_t fpx[32] = {7};
        buf ob = BUF_INIT;
        CHECK_OK(hnsw_save(m, fpx, NULL, 0, &ob));
        {
            const char *other_base = "/tmp/loch-test-hnsw-other";
            CHECK_OK(write_file(other_base, ob.data, ob.len));
            CHECK_OK(hnsw_load_file(&other, other_base, NULL, NULL, NULL));
            CHECK(hnsw_load_delta_file(other, delta, NULL, NULL, NULL) == LOCH_ECONFLICT);
            hnsw_free(other);
            unlink(other_base);
        }
        buf_free(&ob);
        /* damage: every byte flipped in turn (the header's fields and a stride of the
         * body), every length cut short: refused, and the index stays its base */
        hnsw *fresh = NULL;
        CHECK_OK(hnsw_load_file(&fresh, base, fp0, NULL, NULL));
        buf basebytes = BUF_INIT;
        whole(fresh, &basebytes);
        hnsw_free(fresh);
        size_t refused = 0, tries = 0;
        for (size_t at = 0; at < d.len; at += at < 128 ? 1 : 7) {
            for (int check = 0; check < 2; check++) {
                unsigned char *copy = malloc(d.len);
                memcpy(copy, d.data, d.len);
                copy[at] ^= 0x5a;
                CHECK_OK(hnsw_load_file(&fresh, base, fp0, NULL, NULL));
                int rc = hnsw_apply_delta(fresh, copy, d.len, NULL, NULL, NULL, !check ? 1 : 0);
                tries++;
                if (rc != 0) {
                    refused++;
                    whole(fresh, &got);
                    CHECK(got.len == basebytes.len && memcmp(got.data, basebytes.data, got.len) == 0);
                } else { /* accepted unchecked: still sound to search */
                    hnsw_hit hits[10];
                    hnsw_query qr = {10, 50, NULL, 0};
                    CHECK(hnsw_search(fresh, v, &qr, hits) >= 0);
                }
                hnsw_free(fresh);
                free(copy);
            }
        }
        CHECK(refused >= tries / 2); /* every checksummed try at least */
        for (size_t cut = 0; cut < d.len; cut += 1 + cut / 3) {
            CHECK_OK(hnsw_load_file(&fresh, base, fp0, NULL, NULL));
            unsigned char *copy = malloc(cut + 1);
            memcpy(copy, d.data, cut);
            CHECK(hnsw_apply_delta(fresh, copy, cut, NULL, NULL, NULL, 0) != 0);
            hnsw_free(fresh);
            free(copy);
        }
        buf_free(&basebytes);
        hnsw_free(m);
        hnsw_free(h);
        unlink(base), unlink(delta);
        buf_free(&b), buf_free(&d), buf_free(&want), buf_free(&got);
        free(v);
    }
}

/* Deltas against the delta fuzz target's base (fuzz/fuzz_hnsw_delta.c) apply, and the
 * target takes them; with LOCH_HNSW_SEEDS they become its corpus (first byte: codes). */
static void test_delta_seeds(void)
{
    const char *seeds = getenv("LOCH_HNSW_SEEDS");
    for (int i8 = 0; i8 < 2; i8++)
        for (int kind = 0; kind < 3; kind++) {
            hnsw *h = hnsw_delta_fuzz_base(i8);
            CHECK(h != NULL);
            float v[HNSW_DELTA_FUZZ_DIM];
            for (uint32_t i = 0; kind > 0 && i < (kind == 1 ? 3u : 30u); i++) {
                uint64_t label = 100 + i;
                hnsw_delta_fuzz_vector(500 + i, v);
                CHECK_OK(hnsw_add(h, v, &label, 1));
            }
            if (kind)
                CHECK_OK(hnsw_delete(h, 12));
            buf d = BUF_INIT, in = BUF_INIT;
            uint8_t fp[32] = {0x44};
            CHECK_OK(hnsw_save_delta(h, fp, "key", 3, &d));
            hnsw *b = hnsw_delta_fuzz_base(i8);
            CHECK_OK(hnsw_apply_delta(b, d.data, d.len, fp, NULL, NULL, 1));
            CHECK(hnsw_size(b) == hnsw_size(h) && hnsw_deleted(b) == hnsw_deleted(h));
            hnsw_free(b);
            CHECK_OK(buf_putc(&in, (char)i8));
            CHECK_OK(buf_put(&in, d.data, d.len));
            CHECK(fuzz_hnsw_delta_one((const uint8_t *)in.data, in.len) == 0);
            if (seeds) {
                char path[4096];
                snprintf(path, sizeof path, "%s/../hnsw_delta/%s_%s.bin", seeds, i8 ? "i8" : "f32",
                         kind == 0 ? "nothing" : kind == 1 ? "three_added" : "thirty_added");
                CHECK_OK(write_file(path, in.data, in.len));
            }
            hnsw_free(h);
            buf_free(&d), buf_free(&in);
        }
}

TEST_MAIN(T(test_kernels_equal_loops), T(test_recall_against_exact), T(test_deletes_and_filters), T(test_edges), T(test_save_and_map), T(test_updates_equal_rebuild), T(test_deltas), T(test_delta_seeds))
