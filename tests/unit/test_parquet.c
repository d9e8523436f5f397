/*
 * tests/unit/test_parquet.c - the Parquet point reader and the Snappy decoder.
 *
 * Oracles from outside this code: files written by pyarrow (snappy and uncompressed,
 * dictionary and plain, v1 and v2 pages, small pages and row groups, nulls) and DuckDB,
 * the fuzz seeds of tests/fuzz/make_parquet_seeds.py, whose values are a formula of the
 * row; Snappy blocks from pyarrow's codec. Every value is read twice, by a point read
 * (before and after pq_prepare) and by the scan.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/parquet.h"
#include "formats/snappy.h"
#include "loch/errors.h"
#include "test.h"

const char *loch_error_last(void);

#define SEEDS "tests/fuzz/corpus/parquet/"

typedef struct {
    uint8_t *data;
    size_t size;
} mapped;

static mapped map_file(const char *path)
{
    mapped m = {0};
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        m.size = (size_t)st.st_size;
        m.data = mmap(NULL, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m.data == MAP_FAILED)
            m.data = NULL;
    }
    if (fd >= 0)
        close(fd);
    CHECK(m.data != NULL);
    return m;
}

static void text_of(pq_file *f, const char *col, int64_t row, char *out, size_t cap)
{
    pq_value v;
    buf b = BUF_INIT;
    int c = pq_find(f, col);
    out[0] = '\0';
    CHECK(c >= 0);
    if (c < 0)
        return;
    CHECK_OK(pq_read(f, c, row, &v));
    CHECK_OK(pq_text(pq_column_at(f, c), &v, &b));
    snprintf(out, cap, "%s", v.null ? "NULL" : b.data ? b.data : "");
    buf_free(&b);
}

/* The pyarrow seeds: row i holds id i, i32 i*7 (NULL when i%5==0), s "s<i%9>" (NULL when
 * i%7==0), b i even (NULL when i%11==0), d i/3, f i/7 (float), dt day i, ts i*1000003 us. */
static void check_pyarrow(const char *path)
{
    mapped m = map_file(path);
    pq_file *f = NULL;
    if (!m.data)
        return;
    CHECK_OK(pq_open(&f, m.data, m.size));
    if (!f)
        return;
    CHECK(pq_rows(f) == 300);
    CHECK(pq_find(f, "nested") < 0); /* a struct: not offered */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < 300; i += (pass ? 1 : 37)) {
            char t[128], want[128];
            text_of(f, "id", i, t, sizeof(t));
            snprintf(want, sizeof(want), "%" PRId64, i);
            CHECK_STR(t, want);
            text_of(f, "i32", i, t, sizeof(t));
            snprintf(want, sizeof(want), "%" PRId64, i * 7);
            CHECK_STR(t, i % 5 ? want : "NULL");
            text_of(f, "s", i, t, sizeof(t));
            snprintf(want, sizeof(want), "s%d", (int)(i % 9));
            CHECK_STR(t, i % 7 ? want : "NULL");
            text_of(f, "b", i, t, sizeof(t));
            CHECK_STR(t, i % 11 == 0 ? "NULL" : i % 2 == 0 ? "true" : "false");
            text_of(f, "d", i, t, sizeof(t));
            CHECK(strtod(t, NULL) == (double)i / 3);
            text_of(f, "f", i, t, sizeof(t));
            CHECK(strtod(t, NULL) == (double)(float)((double)i / 7));
            text_of(f, "dec", i, t, sizeof(t));
            CHECK_STR(t, "NULL");
        }
        for (int c = 0; c < (int)pq_columns(f); c++)
            CHECK_OK(pq_prepare(f, c));
    }
    char t[128];
    text_of(f, "dt", 59, t, sizeof(t));
    CHECK_STR(t, "1970-03-01");
    text_of(f, "ts", 299, t, sizeof(t));
    CHECK_STR(t, "1970-01-01 00:04:59.000897+00"); /* 299 * 1000003 us */
    pq_value v;
    CHECK(pq_read(f, 0, 300, &v) == LOCH_EINVALID);
    pq_free(f);
    munmap(m.data, m.size);
}

static void test_pyarrow_files(void)
{
    for (int k = 0; k < 4; k++) {
        char path[128];
        snprintf(path, sizeof(path), SEEDS "pyarrow%d.parquet", k);
        check_pyarrow(path);
    }
}

typedef struct {
    int64_t n;
    int bad;
} count_ctx;

static int count_id(void *ctx, int64_t row, const pq_value *v)
{
    count_ctx *c = ctx;
    c->bad += v->null || v->i != row;
    c->n++;
    return 0;
}

/* What loch writes: DuckDB's file, 5,000 rows: id i, s "v<i%13>", d i*1.5, b i%3==0. */
static void test_duckdb_file(void)
{
    mapped m = map_file(SEEDS "duckdb.parquet");
    pq_file *f = NULL;
    if (!m.data)
        return;
    CHECK_OK(pq_open(&f, m.data, m.size));
    if (!f)
        return;
    count_ctx c = {0, 0};
    CHECK_OK(pq_scan(f, pq_find(f, "id"), count_id, &c));
    CHECK(c.n == 5000 && c.bad == 0);
    CHECK_OK(pq_prepare(f, pq_find(f, "d")));
    for (int64_t i = 0; i < 5000; i += 499) {
        char t[64], want[64];
        text_of(f, "s", i, t, sizeof(t));
        snprintf(want, sizeof(want), "v%d", (int)(i % 13));
        CHECK_STR(t, want);
        text_of(f, "d", i, t, sizeof(t));
        CHECK(strtod(t, NULL) == (double)i * 1.5);
        text_of(f, "b", i, t, sizeof(t));
        CHECK_STR(t, i % 3 == 0 ? "true" : "false");
    }
    pq_free(f);
    munmap(m.data, m.size);
}

/* Damaged files are refused or read without harm, never trusted past their bytes. */
static void test_damaged(void)
{
    static const uint8_t junk[] = "PAR1\x15\x00\x15\x00PAR1";
    pq_file *f = NULL;
    CHECK(pq_open(&f, junk, sizeof(junk) - 1) == LOCH_ECORRUPT);
    CHECK(pq_open(&f, (const uint8_t *)"hello", 5) == LOCH_ECORRUPT);
    mapped m = map_file(SEEDS "pyarrow0.cut");
    if (m.data)
        CHECK(pq_open(&f, m.data, m.size) < 0 || (pq_free(f), 1));
    munmap(m.data, m.size);
}

typedef struct {
    const uint8_t *data;
    size_t size, cut; /* bytes past cut are gone: the file was cut short under the reader */
} cut_file;

static int cut_read(void *ctx, uint64_t off, void *out, size_t len)
{
    cut_file *c = ctx;
    if (off + len > c->cut)
        return LOCH_ECORRUPT;
    memcpy(out, c->data + off, len);
    return 0;
}

/* Read through a reader instead of memory: the same values; a file that shrinks under it
 * gives errors, never a fault. */
static void test_reader(void)
{
    mapped m = map_file(SEEDS "duckdb.parquet");
    if (!m.data)
        return;
    cut_file c = {m.data, m.size, m.size};
    pq_reader r = {cut_read, &c};
    pq_file *f = NULL;
    CHECK_OK(pq_open_reader(&f, &r, m.size));
    if (!f)
        return;
    for (int col = 0; col < (int)pq_columns(f); col++)
        CHECK_OK(pq_prepare(f, col));
    char t[64];
    text_of(f, "s", 4999, t, sizeof(t));
    CHECK_STR(t, "v7");
    text_of(f, "d", 1234, t, sizeof(t));
    CHECK(strtod(t, NULL) == 1851.0);
    c.cut = m.size / 2;
    int failed = 0;
    for (int64_t row = 0; row < 5000; row += 97) {
        pq_value v;
        for (int col = 0; col < (int)pq_columns(f); col++)
            failed += pq_read(f, col, row, &v) < 0;
    }
    CHECK(failed > 0);
    pq_free(f);
    c.cut = 100;
    CHECK(pq_open_reader(&f, &r, m.size) < 0);
    munmap(m.data, m.size);
}

static void test_snappy(void)
{
    mapped m = map_file(SEEDS "snappy.raw");
    if (!m.data)
        return;
    uint64_t len;
    CHECK(snappy_length(m.data, m.size, &len) > 0);
    CHECK(len == 20000 * 8 + 9000);
    uint8_t *out = malloc((size_t)len), *part = malloc((size_t)len);
    size_t got, lo, n;
    CHECK_OK(snappy_decode(m.data, m.size, out, (size_t)len, (size_t)len, &got));
    CHECK(got == len);
    int ok = 1;
    for (uint64_t i = 0; i < 20000; i++)
        for (int b = 0; b < 8; b++)
            ok &= out[i * 8 + b] == (uint8_t)(i >> (8 * b));
    CHECK(ok);
    CHECK(memcmp(out + 160000, "abcabcabc", 9) == 0);
    snappy_mark marks[8];
    CHECK_OK(snappy_marks(m.data, m.size, marks, 8, &n));
    CHECK(n == (len + 65535) / 65536);
    for (size_t from = 0; from + 16 <= len; from += 7919) {
        /* the whole block, from the start */
        int rc = snappy_decode_at(m.data, m.size, 0, m.size, part, (size_t)len, from, from + 16, NULL, 0, &lo);
        CHECK(rc == 0 && lo <= from && memcmp(part + from, out + from, 16) == 0);
        /* only the bytes from the mark on, as a reader fetches them */
        size_t k = from / SNAPPY_MARK_EVERY, first = marks[k].in, last = k + 2 < n ? marks[k + 2].in : m.size;
        memset(part, 0, (size_t)len);
        rc = snappy_decode_at(m.data + first, last - first, first, m.size, part, (size_t)len, from, from + 16, marks,
                              n, &lo);
        CHECK(rc == 0 || rc == 1);
        CHECK(rc == 1 || (lo <= from && memcmp(part + from, out + from, 16) == 0));
        /* too few bytes given is "start over", never a wrong answer */
        rc = snappy_decode_at(m.data + first, 8, first, m.size, part, (size_t)len, from, from + 16, marks, n, &lo);
        CHECK(rc == 1 || (rc == 0 && memcmp(part + from, out + from, 16) == 0));
    }
    /* a prefix decode stops early; a cut block is refused */
    CHECK_OK(snappy_decode(m.data, m.size, part, (size_t)len, 100, &got));
    CHECK(got >= 100 && got < len && memcmp(part, out, 100) == 0);
    CHECK(snappy_decode(m.data, 5000, part, (size_t)len, (size_t)len, &got) == LOCH_ECORRUPT);
    /* a copy before the start; a literal past the input */
    static const uint8_t back[] = {10, 0x01 << 2 | 1, 0x05};
    static const uint8_t over[] = {10, 9 << 2, 'a'};
    CHECK(snappy_decode(back, sizeof(back), part, 10, 10, &got) == LOCH_ECORRUPT);
    CHECK(snappy_decode(over, sizeof(over), part, 10, 10, &got) == LOCH_ECORRUPT);
    free(out);
    free(part);
    munmap(m.data, m.size);
}

TEST_MAIN(T(test_pyarrow_files), T(test_duckdb_file), T(test_damaged), T(test_reader), T(test_snappy))
