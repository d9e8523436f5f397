/*
 * tests/unit/test_dv.c - deletion vectors: Z85, inline and file DVs, the Roaring decoder.
 *
 * Oracles from outside this code: the inline example of the Delta protocol, an inline DV
 * written by delta-spark 3.2.1 (rows 1, 3, 5), ZeroMQ RFC 32's "HelloWorld" vector and
 * CRC-32 values computed with Python's zlib. The container tests build bitmaps with a
 * small encoder below and compare against the values they were built from; every strict
 * prefix of a valid input must be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dv.h"
#include "test.h"
#include "util/error.h"

#define PROTOCOL_DV "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L"
#define PROTOCOL_CRC 0x0599c9dfu /* zlib.crc32 of its 40 decoded bytes */
#define SPARK_DV "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5"
#define SPARK_CRC 0x5a9e5d39u

/* --- a byte writer and a Roaring encoder, for building test inputs --------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void w8(wbuf *w, unsigned v)
{
    if (w->n < w->cap)
        w->p[w->n] = (uint8_t)v;
    w->n++;
}

static void w16(wbuf *w, unsigned v) { w8(w, v & 0xFF); w8(w, (v >> 8) & 0xFF); }
static void w32(wbuf *w, uint32_t v) { w16(w, v & 0xFFFF); w16(w, v >> 16); }
static void w64(wbuf *w, uint64_t v) { w32(w, (uint32_t)v); w32(w, (uint32_t)(v >> 32)); }

static void w32be(wbuf *w, uint32_t v)
{
    w8(w, v >> 24);
    w8(w, (v >> 16) & 0xFF);
    w8(w, (v >> 8) & 0xFF);
    w8(w, v & 0xFF);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

enum { ARR, BMP, RUN };

/* One container to encode: its kind and its sorted 16-bit values. */
typedef struct {
    uint16_t key;
    int kind;
    const uint16_t *v;
    uint32_t n;
} tc;

static uint32_t count_runs(const tc *c)
{
    uint32_t runs = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (i == 0 || c->v[i] != c->v[i - 1] + 1)
            runs++;
    return runs;
}

static uint32_t container_size(const tc *c)
{
    return c->kind == ARR ? 2 * c->n : c->kind == BMP ? 8192 : 2 + 4 * count_runs(c);
}

static void put_container(wbuf *w, const tc *c)
{
    if (c->kind == ARR) {
        for (uint32_t i = 0; i < c->n; i++)
            w16(w, c->v[i]);
    } else if (c->kind == BMP) {
        uint64_t words[1024] = {0};
        for (uint32_t i = 0; i < c->n; i++)
            words[c->v[i] / 64] |= UINT64_C(1) << (c->v[i] % 64);
        for (int i = 0; i < 1024; i++)
            w64(w, words[i]);
    } else {
        w16(w, count_runs(c));
        for (uint32_t i = 0; i < c->n;) {
            uint32_t j = i;
            while (j + 1 < c->n && c->v[j + 1] == c->v[j] + 1)
                j++;
            w16(w, c->v[i]);
            w16(w, j - i);
            i = j + 1;
        }
    }
}

/* A 32-bit Roaring portable serialization, with or without the run cookie. */
static void put_r32(wbuf *w, const tc *c, uint32_t n, int run_cookie)
{
    uint32_t header = run_cookie ? 4 + (n + 7) / 8 + 4 * n : 8 + 4 * n;
    int offsets = !run_cookie || n >= 4;
    if (run_cookie) {
        w32(w, 12347u | (n - 1) << 16);
        for (uint32_t b = 0; b < (n + 7) / 8; b++) {
            unsigned byte = 0;
            for (uint32_t i = b * 8; i < n && i < b * 8 + 8; i++)
                byte |= (c[i].kind == RUN) << (i % 8);
            w8(w, byte);
        }
    } else {
        w32(w, 12346u);
        w32(w, n);
    }
    for (uint32_t i = 0; i < n; i++) {
        w16(w, c[i].key);
        w16(w, c[i].n - 1);
    }
    if (offsets) {
        uint32_t at = header + 4 * n;
        for (uint32_t i = 0; i < n; i++) {
            w32(w, at);
            at += container_size(&c[i]);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        put_container(w, &c[i]);
}

static int same_rows(const dv_rows *r, const uint64_t *want, size_t n)
{
    if (r->count != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (r->rows[i] != want[i])
            return 0;
    return 1;
}

/* Every strict prefix of a valid input must be refused as corrupt, without reading past
 * it: each prefix is copied to its own allocation so ASan sees any overrun. */
static void check_prefixes_rejected(const uint8_t *data, size_t size, size_t step)
{
    for (size_t len = 0; len < size; len += (len < 64 || size - len < 64) ? 1 : step) {
        uint8_t *copy = malloc(len ? len : 1);
        dv_rows r = {NULL, 0};
        memcpy(copy, data, len);
        int rc = dv_decode_bitmap(copy, len, &r);
        CHECK(rc == LOCH_ECORRUPT);
        CHECK(r.rows == NULL && r.count == 0);
        if (rc != LOCH_ECORRUPT)
            fprintf(stderr, "  prefix of %zu/%zu bytes -> %d\n", len, size, rc);
        dv_rows_free(&r);
        free(copy);
    }
}

/* The 40 bytes of the Delta protocol's inline example. */
static void protocol_bytes(uint8_t out[40])
{
    size_t n = 0;
    CHECK(dv_z85_decode(PROTOCOL_DV, strlen(PROTOCOL_DV), out, 40, &n) == 40);
    CHECK(n == 40);
}

/* --- Z85 ------------------------------------------------------------------------------- */

static void test_z85(void)
{
    static const uint8_t hello[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
    uint8_t out[8];
    size_t n = 99;
    CHECK(dv_z85_decode("HelloWorld", 10, out, sizeof(out), &n) == 8);
    CHECK(n == 8 && memcmp(out, hello, 8) == 0);
    CHECK(dv_z85_decode("", 0, out, 0, &n) == 0 && n == 0);
    CHECK(dv_z85_decode("%nSc0", 5, out, 4, NULL) == 4); /* 0xFFFFFFFF, the largest block */
    CHECK(out[0] == 0xFF && out[1] == 0xFF && out[2] == 0xFF && out[3] == 0xFF);
    CHECK(dv_z85_decode("%nSc1", 5, out, 4, NULL) == LOCH_ECORRUPT); /* 2^32 */
    CHECK(dv_z85_decode("#####", 5, out, 4, NULL) == LOCH_ECORRUPT);
    CHECK(dv_z85_decode("Hello", 4, out, 4, &n) == LOCH_ECORRUPT && n == 0);
    CHECK(dv_z85_decode("Hell~", 5, out, 4, NULL) == LOCH_ECORRUPT);
    CHECK(dv_z85_decode("Hell ", 5, out, 4, NULL) == LOCH_ECORRUPT);
    CHECK(dv_z85_decode("Hell\x80", 5, out, 4, NULL) == LOCH_ECORRUPT);
    CHECK(dv_z85_decode("Hel\0o", 5, out, 4, NULL) == LOCH_ECORRUPT);
    CHECK(dv_z85_decode("HelloWorld", 10, out, 7, NULL) == LOCH_EINVALID);
}

/* --- inline DVs ------------------------------------------------------------------------ */

static void test_protocol_inline_example(void)
{
    static const uint64_t want[] = {3, 4, 7, 11, 18, 29};
    dv_rows r = {NULL, 0};
    CHECK_OK(dv_decode_inline(PROTOCOL_DV, 40, &r));
    CHECK(r.count == 6); /* the descriptor's cardinality */
    CHECK(same_rows(&r, want, 6));
    dv_rows_free(&r);
    CHECK(r.rows == NULL && r.count == 0);
    dv_rows_free(&r); /* twice is harmless */
}

static void test_spark_inline_portable(void)
{
    static const uint64_t want[] = {1, 3, 5};
    dv_rows r = {NULL, 0};
    CHECK_OK(dv_decode_inline(SPARK_DV, 38, &r));
    CHECK(same_rows(&r, want, 3));
    dv_rows_free(&r);
}

static void test_inline_rejects(void)
{
    dv_rows r = {NULL, 0};
    /* Sizes whose padded length is not the text's: the descriptor does not fit the text. */
    CHECK(dv_decode_inline(PROTOCOL_DV, 36, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_inline(PROTOCOL_DV, 41, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_inline(PROTOCOL_DV, 0, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_inline("", 0, &r) == LOCH_ECORRUPT);
    /* Same padded length, but cut inside the bitmap. */
    CHECK(dv_decode_inline(PROTOCOL_DV, 37, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_inline(SPARK_DV, 37, &r) == LOCH_ECORRUPT);
    CHECK(r.rows == NULL && r.count == 0);
    /* 38 of the protocol example's 40 bytes, and a bad character. */
    CHECK(dv_decode_inline(PROTOCOL_DV, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_inline("wi5b~000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 40, &r)
          == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "Z85") != NULL);
    CHECK(dv_decode_inline("wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{", 40, &r)
          == LOCH_ECORRUPT);
    CHECK(dv_decode_inline(SPARK_DV, SIZE_MAX, &r) == LOCH_ECORRUPT);
}

/* --- paths ----------------------------------------------------------------------------- */

static void test_relative_path(void)
{
    char out[128];
    CHECK_OK(dv_relative_path("ab^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)));
    CHECK_STR(out, "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");
    CHECK_OK(dv_relative_path("^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)));
    CHECK_STR(out, "deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");
    /* Exactly enough room, then one byte short. */
    size_t need = strlen("ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin") + 1;
    CHECK_OK(dv_relative_path("ab^-aqEH.-t@S}K{vb[*k^", out, need));
    CHECK(dv_relative_path("ab^-aqEH.-t@S}K{vb[*k^", out, need - 1) == LOCH_EINVALID);
    CHECK(out[0] == '\0');
    CHECK(dv_relative_path("-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("ab^-aqEH.-t@S}K{vb[*k~", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("ab#####aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    /* Prefixes that would leave the table directory. */
    CHECK(dv_relative_path("..^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path(".^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("a/b^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("/^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("a\\b^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK(dv_relative_path("a\nb^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)) == LOCH_ECORRUPT);
    CHECK_OK(dv_relative_path("...^-aqEH.-t@S}K{vb[*k^", out, sizeof(out)));
}

/* --- DV files -------------------------------------------------------------------------- */

/* A DV file holding the delta-spark DV at offset 1 and the protocol example after it. */
static size_t build_file(uint8_t *f, size_t *second_offset)
{
    uint8_t spark[40], proto[40];
    size_t n = 0;
    CHECK(dv_z85_decode(SPARK_DV, strlen(SPARK_DV), spark, sizeof(spark), NULL) == 40);
    protocol_bytes(proto);
    f[n++] = 1;
    put_be32(f + n, 38);
    memcpy(f + n + 4, spark, 38);
    put_be32(f + n + 4 + 38, SPARK_CRC);
    n += 4 + 38 + 4;
    *second_offset = n;
    put_be32(f + n, 40);
    memcpy(f + n + 4, proto, 40);
    put_be32(f + n + 4 + 40, PROTOCOL_CRC);
    return n + 4 + 40 + 4;
}

static void test_file_roundtrip(void)
{
    static const uint64_t spark_rows[] = {1, 3, 5}, proto_rows[] = {3, 4, 7, 11, 18, 29};
    uint8_t f[128];
    size_t second, len = build_file(f, &second);
    dv_rows r = {NULL, 0};
    CHECK(len == 95 && second == 47);
    CHECK_OK(dv_decode_file(f, len, 1, 38, &r));
    CHECK(same_rows(&r, spark_rows, 3));
    dv_rows_free(&r);
    CHECK_OK(dv_decode_file(f, len, (int64_t)second, 40, &r));
    CHECK(same_rows(&r, proto_rows, 6));
    dv_rows_free(&r);
    /* The file may end right after the last checksum and nothing else is needed. */
    uint8_t *exact = malloc(len);
    memcpy(exact, f, len);
    CHECK_OK(dv_decode_file(exact, len, (int64_t)second, 40, &r));
    CHECK(r.count == 6);
    dv_rows_free(&r);
    free(exact);
}

static void test_file_rejects(void)
{
    uint8_t f[128];
    size_t second, len = build_file(f, &second);
    dv_rows r = {NULL, 0};
    for (size_t i = 0; i < 4; i++) { /* each byte of the stored CRC */
        f[second + 4 + 40 + i] ^= 0x01;
        CHECK(dv_decode_file(f, len, (int64_t)second, 40, &r) == LOCH_ECORRUPT);
        CHECK(strstr(loch_error_last(), "checksum") != NULL);
        f[second + 4 + 40 + i] ^= 0x01;
    }
    f[second + 4 + 30] ^= 0x40; /* a payload byte: caught by the CRC, not the decoder */
    CHECK(dv_decode_file(f, len, (int64_t)second, 40, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "checksum") != NULL);
    f[second + 4 + 30] ^= 0x40;
    CHECK(dv_decode_file(f, len, (int64_t)second, 39, &r) == LOCH_ECORRUPT); /* size */
    CHECK(strstr(loch_error_last(), "size field 40 differs from sizeInBytes 39") != NULL);
    CHECK(dv_decode_file(f, len, (int64_t)second, 41, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, 0, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, -1, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, INT64_MIN, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, INT64_MAX, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, (int64_t)len, 38, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_file(f, len, 2, 38, &r) == LOCH_ECORRUPT); /* misaligned */
    CHECK(dv_decode_file(f, 0, 1, 38, &r) == LOCH_ECORRUPT);
    /* Every truncation of the file, in its own allocation. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, f, cut);
        CHECK(dv_decode_file(copy, cut, (int64_t)second, 40, &r) == LOCH_ECORRUPT);
        if (cut < second)
            CHECK(dv_decode_file(copy, cut, 1, 38, &r) == LOCH_ECORRUPT);
        free(copy);
    }
    /* A sound frame (CRC right) around a bad bitmap: values 3, 3, 5. */
    f[1 + 4 + 32] = 0x03;
    put_be32(f + 1 + 4 + 38, 0x1756fc32u); /* zlib.crc32 of the altered 38 bytes */
    CHECK(dv_decode_file(f, len, 1, 38, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "at file offset 1: deletion vector: array") != NULL);
    f[0] = 2;
    CHECK(dv_decode_file(f, len, 1, 38, &r) == LOCH_EUNSUPPORTED);
    f[0] = 0;
    CHECK(dv_decode_file(f, len, 1, 38, &r) == LOCH_EUNSUPPORTED);
    CHECK(r.rows == NULL && r.count == 0);
}

/* --- the Roaring decoder --------------------------------------------------------------- */

static uint16_t v_arr[5] = {0, 1, 5, 4096, 65535};
static uint16_t v_bmp[21846];  /* every third value: 0, 3, ..., 65535 */
static uint16_t v_run[10 + 1 + 6 + 3];
static uint16_t v_full[65536]; /* all values: a bitmap with cardinality 65536 */
static uint16_t v_big_arr[4096];
static uint16_t v_one[1] = {7};

static void fill_values(void)
{
    size_t n = 0;
    for (uint32_t i = 0; i < 21846; i++)
        v_bmp[i] = (uint16_t)(i * 3);
    for (uint16_t v = 10; v < 20; v++)
        v_run[n++] = v;
    v_run[n++] = 100;
    for (uint32_t v = 65530; v < 65536; v++) /* a run ending at the very top */
        v_run[n++] = (uint16_t)v;
    for (uint32_t i = 0; i < 65536; i++)
        v_full[i] = (uint16_t)i;
    for (uint32_t i = 0; i < 4096; i++) /* the largest array container */
        v_big_arr[i] = (uint16_t)(i * 16);
}

/* Bucket 0: run cookie, 5 containers (offsets present). Bucket 3: run cookie, 3 containers
 * (no offsets). Bucket 0xFFFFFFFF: no-run cookie, 3 containers. */
static const tc B0[] = {
    {0, ARR, v_arr, 5}, {1, BMP, v_bmp, 21846}, {2, RUN, v_run, 17}, {9, ARR, v_big_arr, 4096},
    {0xFFFF, RUN, v_full, 65536},
};
static const tc B3[] = {{0, RUN, v_one, 1}, {4, BMP, v_full, 65536}, {5, ARR, v_one, 1}};
static const tc BMAX[] = {{0, ARR, v_one, 1}, {2, BMP, v_bmp, 21846}, {3, ARR, v_arr, 5}};

static const struct {
    uint32_t key;
    const tc *c;
    uint32_t n;
    int run_cookie;
} BUCKETS[] = {{0, B0, 5, 1}, {3, B3, 3, 1}, {0xFFFFFFFFu, BMAX, 3, 0}};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

static size_t expected_rows(uint64_t *rows)
{
    size_t n = 0;
    for (size_t b = 0; b < NBUCKETS; b++)
        for (uint32_t i = 0; i < BUCKETS[b].n; i++)
            for (uint32_t j = 0; j < BUCKETS[b].c[i].n; j++)
                rows[n++] = (uint64_t)BUCKETS[b].key << 32
                          | (uint64_t)BUCKETS[b].c[i].key << 16 | BUCKETS[b].c[i].v[j];
    return n;
}

static void build_portable(wbuf *w)
{
    w32(w, 1681511377u);
    w64(w, NBUCKETS);
    for (size_t b = 0; b < NBUCKETS; b++) {
        w32(w, BUCKETS[b].key);
        put_r32(w, BUCKETS[b].c, BUCKETS[b].n, BUCKETS[b].run_cookie);
    }
}

/* The native framing, keyed by position: buckets 0, 1 (empty), 2 (= B3's containers). */
static void build_native(wbuf *w, int big_endian)
{
    void (*put)(wbuf *, uint32_t) = big_endian ? w32be : w32;
    put(w, 1681511376u);
    put(w, 3);
    const tc *sets[3] = {B0, NULL, B3};
    uint32_t counts[3] = {5, 0, 3};
    for (int i = 0; i < 3; i++) {
        size_t at = w->n;
        put(w, 0); /* size placeholder, patched below */
        put_r32(w, sets[i] ? sets[i] : B0, counts[i], sets[i] != NULL);
        uint32_t size = (uint32_t)(w->n - at - 4);
        (big_endian ? put_be32 : put_le32)(w->p + at, size);
    }
}

static void test_mixed_containers(void)
{
    wbuf w = {malloc(1 << 20), 0, 1 << 20};
    uint64_t *want = malloc(sizeof(uint64_t) * 400000);
    dv_rows r = {NULL, 0};
    fill_values();
    size_t n = expected_rows(want);
    build_portable(&w);
    CHECK(w.n <= w.cap);
    CHECK_OK(dv_decode_bitmap(w.p, w.n, &r));
    CHECK(r.count == n);
    CHECK(same_rows(&r, want, n));
    CHECK(r.count && r.rows[r.count - 1] == UINT64_C(0xFFFFFFFF00030000) + 65535);
    dv_rows_free(&r);
    check_prefixes_rejected(w.p, w.n, 97);

    /* Native framing in both byte orders: same rows for buckets 0 and 2. */
    for (int be = 0; be < 2; be++) {
        w.n = 0;
        build_native(&w, be);
        CHECK_OK(dv_decode_bitmap(w.p, w.n, &r));
        size_t n0 = 5 + 21846 + 17 + 4096 + 65536, n2 = 1 + 65536 + 1;
        CHECK(r.count == n0 + n2);
        CHECK(r.count == n0 + n2 && memcmp(r.rows, want, n0 * sizeof(uint64_t)) == 0);
        for (size_t i = 0; r.count == n0 + n2 && i < n2; i++)
            CHECK(r.rows[n0 + i] == (want[n0 + i] & 0xFFFFFFFFu) + (UINT64_C(2) << 32));
        dv_rows_free(&r);
        check_prefixes_rejected(w.p, w.n, 101);
    }
    free(want);
    free(w.p);
}

static void test_empty_and_small(void)
{
    uint8_t bytes[64];
    wbuf w = {bytes, 0, sizeof(bytes)};
    dv_rows r = {NULL, 0};
    w32(&w, 1681511377u);
    w64(&w, 0);
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.rows == NULL && r.count == 0);
    /* A bucket with zero containers is legal in the no-run form. */
    w.n = 0;
    w32(&w, 1681511377u);
    w64(&w, 1);
    w32(&w, 5);
    w32(&w, 12346);
    w32(&w, 0);
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.count == 0);
    w.n = 0;
    w32(&w, 1681511376u);
    w32(&w, 0);
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.count == 0);
    CHECK(dv_decode_bitmap(NULL, 0, &r) == LOCH_ECORRUPT);
    CHECK(dv_decode_bitmap(bytes, 3, &r) == LOCH_ECORRUPT);
}

/* Builds a one-bucket portable bitmap of the given containers into w. */
static void one_bucket(wbuf *w, const tc *c, uint32_t n, int run_cookie)
{
    w->n = 0;
    w32(w, 1681511377u);
    w64(w, 1);
    w32(w, 0);
    put_r32(w, c, n, run_cookie);
}

static int decode_fails(const wbuf *w, size_t at, uint8_t xor_mask)
{
    uint8_t *copy = malloc(w->n);
    dv_rows r = {NULL, 0};
    memcpy(copy, w->p, w->n);
    copy[at] ^= xor_mask;
    int rc = dv_decode_bitmap(copy, w->n, &r);
    free(copy);
    dv_rows_free(&r);
    return rc == LOCH_ECORRUPT;
}

static const uint16_t run_hi[] = {65534, 65535};

/* Single-bit damage at each field of a bitmap holding all three container kinds. */
static void test_malformed_fields(void)
{
    uint8_t *bytes = malloc(1 << 16);
    wbuf w = {bytes, 0, 1 << 16};
    dv_rows r = {NULL, 0};
    tc good[4] = {{1, ARR, v_arr, 5}, {2, RUN, run_hi, 2}, {3, ARR, v_one, 1},
                  {7, BMP, v_bmp, 21846}};
    fill_values();
    one_bucket(&w, good, 4, 1);
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.count == 5 + 2 + 1 + 21846);
    dv_rows_free(&r);
    /* Layout: magic 0, count 4, key 12, cookie 16, bitset 20, descs 21, offsets 37,
     * array 53 (10 bytes), run 63 (2 + 4), array 69 (2), bitmap 71 (8192). */
    CHECK(w.n == 71 + 8192);
    CHECK(decode_fails(&w, 0, 0x04));           /* magic */
    CHECK(decode_fails(&w, 4, 0x02));           /* bucket count */
    CHECK(decode_fails(&w, 16, 0x04));          /* cookie */
    CHECK(decode_fails(&w, 20, 0x04));          /* bitset: the array read as a run */
    CHECK(decode_fails(&w, 25, 0x03));          /* container key 2 -> 1: not ascending */
    CHECK(decode_fails(&w, 23, 0x01));          /* array cardinality 5 -> 6 */
    CHECK(decode_fails(&w, 37, 0x01));          /* an offset */
    CHECK(decode_fails(&w, 45, 0x01));          /* a later offset */
    CHECK(decode_fails(&w, 55, 0x01));          /* array value 1 -> 0: duplicate */
    CHECK(decode_fails(&w, 63, 0x01));          /* run count 1 -> 0 */
    CHECK(decode_fails(&w, 67, 0x01));          /* run length 2 -> 1: card mismatch */
    CHECK(decode_fails(&w, 65, 0x01));          /* run start 65534 -> 65535: past the top */
    CHECK(decode_fails(&w, 71 + 100, 0x10));    /* bitmap population */
    CHECK(decode_fails(&w, 71 + 8191, 0x80));
    free(bytes);
}

static void test_malformed_runs(void)
{
    static const uint16_t two_runs[] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 25, 26};
    uint8_t bytes[64];
    wbuf w = {bytes, 0, sizeof(bytes)};
    dv_rows r = {NULL, 0};
    /* A run container reaching past 65535. */
    tc run1[1] = {{0, RUN, run_hi, 2}};
    one_bucket(&w, run1, 1, 1);
    bytes[w.n - 4] = 0xFF; /* start 65535, length 2 */
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    /* Runs [10, 19] and [25, 26]; the second moved to start at 15 (overlap) or 5 (behind):
     * the total still matches the cardinality, so only the ordering check can catch it. */
    tc runs2[1] = {{0, RUN, two_runs, 12}};
    one_bucket(&w, runs2, 1, 1);
    CHECK(w.n == 35 && bytes[31] == 25);
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.count == 12);
    dv_rows_free(&r);
    bytes[31] = 15;
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    bytes[31] = 5;
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    bytes[31] = 20; /* adjacent to the first run: unusual but unambiguous, so accepted */
    CHECK_OK(dv_decode_bitmap(bytes, w.n, &r));
    CHECK(r.count == 12 && r.rows[10] == 20 && r.rows[11] == 21);
    dv_rows_free(&r);
}

/* Wrong shapes: duplicates, trailing bytes, repeated keys, impossible counts. */
static void test_malformed_shapes(void)
{
    static const uint16_t dup[] = {1, 2, 2};
    uint8_t *bytes = malloc(1 << 16);
    wbuf w = {bytes, 0, 1 << 16};
    dv_rows r = {NULL, 0};
    tc good[3] = {{1, ARR, v_arr, 5}, {2, RUN, run_hi, 2}, {3, ARR, v_one, 1}};
    /* Duplicate array values, and a trailing byte after a valid bitmap. */
    tc d[1] = {{0, ARR, dup, 3}};
    one_bucket(&w, d, 1, 0);
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    one_bucket(&w, good, 3, 1);
    w8(&w, 0);
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "trailing") != NULL);
    /* Two buckets with the same key; and a no-run cookie with too many containers. */
    w.n = 0;
    w32(&w, 1681511377u);
    w64(&w, 2);
    for (int i = 0; i < 2; i++) {
        w32(&w, 9);
        put_r32(&w, good + 2, 1, 0);
    }
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    w.n = 0;
    w32(&w, 1681511377u);
    w64(&w, 1);
    w32(&w, 0);
    w32(&w, 12346);
    w32(&w, 65537);
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "container count above 65536") != NULL);
    /* A native bitmap whose size field claims two bytes more than it holds. */
    w.n = 0;
    w32(&w, 1681511376u);
    w32(&w, 1);
    w32(&w, 8 + 4 + 4 + 2 + 2);
    put_r32(&w, good + 2, 1, 0);
    w16(&w, 0);
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "shorter than its size") != NULL);
    /* Huge bucket counts fail before looping. */
    w.n = 0;
    w32(&w, 1681511377u);
    w64(&w, UINT64_MAX);
    CHECK(dv_decode_bitmap(bytes, w.n, &r) == LOCH_ECORRUPT);
    CHECK(r.rows == NULL && r.count == 0);
    free(bytes);
}

/* 32769 full run containers (6 bytes of data for 65536 rows each) claim 2^31 + 65536 rows:
 * refused before any allocation. */
static void test_row_cap(void)
{
    const uint32_t n = 32769;
    size_t cap = 64 + (n + 7) / 8 + (size_t)n * 14;
    wbuf w = {malloc(cap), 0, cap};
    dv_rows r = {NULL, 0};
    w32(&w, 1681511377u);
    w64(&w, 1);
    w32(&w, 0);
    w32(&w, 12347u | (n - 1) << 16);
    for (uint32_t i = 0; i < (n + 7) / 8; i++)
        w8(&w, 0xFF);
    for (uint32_t i = 0; i < n; i++) {
        w16(&w, i);
        w16(&w, 65535);
    }
    uint32_t at = 4 + (n + 7) / 8 + 8 * n;
    for (uint32_t i = 0; i < n; i++)
        w32(&w, at + 6 * i);
    for (uint32_t i = 0; i < n; i++) {
        w16(&w, 1);
        w16(&w, 0);
        w16(&w, 65535);
    }
    CHECK(w.n <= cap);
    CHECK(dv_decode_bitmap(w.p, w.n, &r) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "more than") != NULL);
    CHECK(r.rows == NULL && r.count == 0);
    free(w.p);
}

/* --- encoding ------------------------------------------------------------------------- */

/* What Spark writes inline for rows 1, 3, 5 is what loch writes for them. */
static void test_encode_matches_spark(void)
{
    uint64_t v[] = {1, 3, 5};
    dv_rows rows = {v, 3};
    buf text = BUF_INIT;
    size_t size = 0;
    CHECK_OK(dv_encode_inline(&rows, &text, &size));
    CHECK(size == 38);
    CHECK(strcmp(text.data, SPARK_DV) == 0);
    buf_free(&text);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Sets of every shape go through the file framing and inline text and come back. */
static void test_encode_roundtrip(void)
{
    uint64_t seed = 88172645463325252ull;
    for (int round = 0; round < 40; round++) {
        size_t cap = 20000, n = 0;
        uint64_t *v = malloc(cap * sizeof(*v)), x = round % 3 ? 0 : (uint64_t)round << 32;
        int mode = round % 4;
        while (n < cap && n < (size_t)(round * 397 % 9000)) {
            /* dense runs (bitmap containers), sparse values, jumps across high keys */
            x += mode == 0 ? 1 : mode == 1 ? 1 + next_rand(&seed) % 40 : 1 + next_rand(&seed) % 300000;
            if (mode == 3 && n % 1000 == 999)
                x += (uint64_t)1 << 32;
            v[n++] = x;
        }
        dv_rows rows = {v, n}, back = {NULL, 0};
        buf file = BUF_INIT, text = BUF_INIT;
        int64_t off1 = 0, off2 = 0;
        size_t size1 = 0, size2 = 0;
        CHECK_OK(dv_file_append(&file, &rows, &off1, &size1));
        CHECK_OK(dv_file_append(&file, &(dv_rows){v, n / 2}, &off2, &size2));
        CHECK(off1 == 1 && off2 == (int64_t)(1 + 4 + size1 + 4));
        CHECK_OK(dv_decode_file((const uint8_t *)file.data, file.len, off1, size1, &back));
        CHECK(same_rows(&back, v, n));
        dv_rows_free(&back);
        CHECK_OK(dv_decode_file((const uint8_t *)file.data, file.len, off2, size2, &back));
        CHECK(same_rows(&back, v, n / 2));
        dv_rows_free(&back);
        size_t size3 = 0;
        CHECK_OK(dv_encode_inline(&rows, &text, &size3));
        CHECK(size3 == size1);
        CHECK_OK(dv_decode_inline(text.data, size3, &back));
        CHECK(same_rows(&back, v, n));
        dv_rows_free(&back);
        buf_free(&file);
        buf_free(&text);
        free(v);
    }
    uint64_t bad[] = {5, 5};
    buf b = BUF_INIT;
    size_t size = 0;
    CHECK(dv_encode_bitmap(&(dv_rows){bad, 2}, &b, &size) == LOCH_EINVALID);
    buf_free(&b);
}

static void test_union_and_uuid(void)
{
    uint64_t a[] = {1, 4, 9}, b[] = {0, 4, 10, 11}, want[] = {0, 1, 4, 9, 10, 11};
    dv_rows u = {NULL, 0};
    CHECK_OK(dv_rows_union(&(dv_rows){a, 3}, &(dv_rows){b, 4}, &u));
    CHECK(same_rows(&u, want, 6));
    dv_rows_free(&u);
    CHECK_OK(dv_rows_union(&(dv_rows){NULL, 0}, &(dv_rows){NULL, 0}, &u));
    CHECK(u.count == 0 && u.rows == NULL);
    char z[21], path[128];
    CHECK_OK(dv_uuid_path("d2c639ea-ad8c-4e2d-9d6b-6b8ac07d5f0e", z));
    CHECK(strlen(z) == 20);
    CHECK_OK(dv_relative_path(z, path, sizeof(path)));
    CHECK(strcmp(path, "deletion_vector_d2c639ea-ad8c-4e2d-9d6b-6b8ac07d5f0e.bin") == 0);
    CHECK(dv_uuid_path("d2c639ea-ad8c-4e2d-9d6b-6b8ac07d5f0", z) == LOCH_EINVALID);
    CHECK(dv_uuid_path("D2C639EA-ad8c-4e2d-9d6b-6b8ac07d5f0e", z) == LOCH_EINVALID);
}

TEST_MAIN(T(test_encode_matches_spark), T(test_encode_roundtrip), T(test_union_and_uuid), T(test_z85), T(test_protocol_inline_example), T(test_spark_inline_portable),
          T(test_inline_rejects), T(test_relative_path), T(test_file_roundtrip),
          T(test_file_rejects), T(test_mixed_containers), T(test_empty_and_small),
          T(test_malformed_fields), T(test_malformed_runs), T(test_malformed_shapes),
          T(test_row_cap))
