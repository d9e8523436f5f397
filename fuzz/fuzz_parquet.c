/*
 * fuzz/fuzz_parquet.c - libFuzzer target for the Parquet point reader
 * (formats/parquet.c) and the Snappy decoder under it (formats/snappy.c).
 *
 * The bytes are opened as a Parquet file; every column is then read whole (pq_scan),
 * its pages walked (pq_prepare), and rows read one by one (pq_read) at the start, the
 * end and a few places between, each rendered as text. Besides "no crash, no leak, no
 * overrun" it checks that a point read gives what the scan gave for that row, and aborts
 * if not. The same bytes also go to the Snappy decoder as a raw block, whole, from the
 * middle (snappy_decode_at) and as marks. Helper names carry a pq_fuzz_ prefix so the
 * replay driver can #include several targets into one file.
 *
 *   make fuzz && build-fuzz/fuzz_parquet -max_total_time=60 <copy of tests/fuzz/corpus/parquet>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/parquet.h"
#include "formats/snappy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int64_t want;
    pq_value got;
    int seen;
    uint8_t bytes[64];
} pq_fuzz_probe;

static int pq_fuzz_find(void *ctx, int64_t row, const pq_value *v)
{
    pq_fuzz_probe *p = ctx;
    if (row == p->want) {
        p->got = *v;
        p->seen = 1;
        if (v->bytes && v->len <= sizeof(p->bytes)) { /* the scan's buffer is reused */
            memcpy(p->bytes, v->bytes, v->len);
            p->got.bytes = p->bytes;
        } else {
            p->got.bytes = NULL;
        }
    }
    return 0;
}

static void pq_fuzz_snappy(const uint8_t *data, size_t size)
{
    uint64_t len;
    if (snappy_length(data, size, &len) < 0 || len > (1u << 20))
        return;
    uint8_t *out = malloc((size_t)len + 1), *again = malloc((size_t)len + 1);
    snappy_mark marks[32];
    size_t got, lo, n;
    if (out && again && snappy_decode(data, size, out, (size_t)len, (size_t)len, &got) == 0) {
        if (got != len)
            abort();
        int m = snappy_marks(data, size, marks, 32, &n);
        for (size_t from = 0; m == 0 && from < len; from += len / 3 + 1) {
            size_t to = from + 8 < len ? from + 8 : (size_t)len;
            int rc = snappy_decode_at(data, size, 0, size, again, (size_t)len, from, to, marks, n, &lo);
            if (rc == 0 && (lo > from || memcmp(again + from, out + from, to - from) != 0))
                abort(); /* a decode from the middle must agree with the whole */
            size_t k = from / SNAPPY_MARK_EVERY;
            if (k < n && marks[k].in < size) { /* from the mark on, as a reader fetches it */
                size_t first = marks[k].in, last = k + 2 < n && marks[k + 2].in > first ? marks[k + 2].in : size;
                rc = snappy_decode_at(data + first, last - first, first, size, again, (size_t)len, from, to, marks, n,
                                      &lo);
                if (rc == 0 && (lo > from || memcmp(again + from, out + from, to - from) != 0))
                    abort();
            }
        }
    }
    free(out);
    free(again);
}

typedef struct {
    const uint8_t *data;
    size_t size;
} pq_fuzz_src;

static int pq_fuzz_read(void *ctx, uint64_t off, void *out, size_t len)
{
    const pq_fuzz_src *s = ctx;
    if (off > s->size || len > s->size - off)
        abort(); /* the reader asks only for bytes inside the file */
    memcpy(out, s->data + off, len);
    return 0;
}

/* Read through a reader: every value the same as read from memory. */
static void pq_fuzz_reader(const uint8_t *data, size_t size)
{
    pq_fuzz_src src = {data, size};
    pq_reader r = {pq_fuzz_read, &src};
    pq_file *a = NULL, *b = NULL;
    int ra = pq_open(&a, data, size), rb = pq_open_reader(&b, &r, size);
    if ((ra == 0) != (rb == 0))
        abort();
    for (int col = 0; ra == 0 && col < 8 && (size_t)col < pq_columns(a); col++) {
        pq_prepare(a, col);
        pq_prepare(b, col);
        for (int64_t row = 0; row < pq_rows(a) && row < 64; row += 7) {
            pq_value va, vb;
            int xa = pq_read(a, col, row, &va), xb = pq_read(b, col, row, &vb);
            if ((xa == 0) != (xb == 0) ||
                (xa == 0 && (va.null != vb.null || va.i != vb.i || va.len != vb.len ||
                             (va.len && memcmp(va.bytes, vb.bytes, va.len) != 0))))
                abort();
        }
    }
    pq_free(a);
    pq_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_fuzz_snappy(data, size);
    pq_fuzz_reader(data, size);
    pq_file *f;
    if (pq_open(&f, data, size) < 0)
        return 0;
    int64_t rows = pq_rows(f);
    buf text = BUF_INIT;
    for (int col = 0; col < 16 && (size_t)col < pq_columns(f); col++) {
        int64_t at[] = {0, rows - 1, rows / 2, rows / 3, 1};
        for (int prepared = 0; prepared < 2; prepared++) {
            for (size_t i = 0; i < sizeof(at) / sizeof(at[0]) && rows > 0 && rows < (1 << 20); i++) {
                pq_fuzz_probe p = {.want = at[i]};
                pq_value v;
                int scanned = pq_scan(f, col, pq_fuzz_find, &p) == 0 && p.seen;
                if (pq_read(f, col, at[i], &v) < 0)
                    continue;
                pq_text(pq_column_at(f, col), &v, &text);
                if (scanned && (p.got.null != v.null ||
                                (!v.null && (p.got.i != v.i || (p.got.bytes && (p.got.len != v.len ||
                                                                                memcmp(p.got.bytes, v.bytes, v.len)))))))
                    abort(); /* a point read must agree with the scan */
            }
            if (pq_prepare(f, col) < 0)
                break;
        }
    }
    buf_free(&text);
    pq_free(f);
    return 0;
}
