/*
 * fuzz/fuzz_dv.c - libFuzzer target for deletion vectors (core/dv.c).
 *
 * The same bytes go to every entry point: as a serialized bitmap array, as Z85 text
 * (inline DV and UUID path), and as a DV file. Besides "no crash, no leak, no overrun"
 * it checks the decoder's promise that rows come out strictly ascending, and aborts if
 * not, so a broken ordering check shows up as a crash; every set that decodes is encoded
 * again and must decode to itself. Helper names carry a dv_fuzz_
 * prefix so a replay driver can #include several targets into one file.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_dv.c src/core/dv.c \
 *         src/util/error.c src/util/buf.c -o /tmp/fuzz_dv
 *   /tmp/fuzz_dv -max_total_time=60 <copy of tests/fuzz/corpus/dv>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A valid DV costs about 10 input bytes per 65536 rows (512 KiB of output), so inputs are
 * capped to keep the largest legitimate result well under libFuzzer's 2 GB malloc limit. */
#define DV_FUZZ_MAX_INPUT 16384

static void dv_fuzz_check_sorted(const dv_rows *r)
{
    if (r->count && !r->rows)
        abort();
    for (size_t i = 1; i < r->count; i++)
        if (r->rows[i] <= r->rows[i - 1])
            abort();
}

/* What decoded encodes (core/dv.c's writer) into bytes that decode to the same rows,
 * through the DV file framing and the inline text alike. */
static void dv_fuzz_roundtrip(const dv_rows *r)
{
    buf file = BUF_INIT, text = BUF_INIT;
    int64_t off = 0;
    size_t size = 0, size2 = 0;
    dv_rows a = {NULL, 0}, b = {NULL, 0};
    if (dv_file_append(&file, r, &off, &size) != 0 || dv_encode_inline(r, &text, &size2) != 0 || size != size2)
        abort();
    if (dv_decode_file((const uint8_t *)file.data, file.len, off, size, &a) != 0 ||
        dv_decode_inline(text.data, size2, &b) != 0 || a.count != r->count || b.count != r->count ||
        (r->count && (memcmp(a.rows, r->rows, r->count * 8) || memcmp(b.rows, r->rows, r->count * 8))))
        abort();
    dv_rows_free(&a);
    dv_rows_free(&b);
    buf_free(&file);
    buf_free(&text);
}

static void dv_fuzz_bitmap(const uint8_t *data, size_t size)
{
    dv_rows r;
    if (dv_decode_bitmap(data, size, &r) == 0) {
        dv_fuzz_check_sorted(&r);
        dv_fuzz_roundtrip(&r);
    } else if (r.rows || r.count)
        abort(); /* a failure must leave the output empty */
    dv_rows_free(&r);
}

static void dv_fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    uint8_t *bytes = malloc(size / 5 * 4 + 1);
    char path[256];
    dv_rows r;
    size_t n;
    if (!text || !bytes)
        goto cleanup;
    memcpy(text, data, size);
    text[size] = '\0';
    int got = dv_z85_decode(text, size - size % 5, bytes, size / 5 * 4, &n);
    if (got >= 0 && (size_t)got != n)
        abort();
    /* Inline: the text up to its first NUL, with each size its padded length allows. */
    size_t len = strlen(text), blocks = len / 5;
    for (size_t pad = 0; pad < 4 && blocks; pad++) {
        if (dv_decode_inline(text, blocks * 4 - pad, &r) == 0)
            dv_fuzz_check_sorted(&r);
        dv_rows_free(&r);
    }
    if (dv_relative_path(text, path, sizeof(path)) == 0 && strlen(path) >= sizeof(path))
        abort();
cleanup:
    free(text);
    free(bytes);
}

/* As a DV file: the first DV's size field says how many bytes to expect at offset 1. */
static void dv_fuzz_file(const uint8_t *data, size_t size)
{
    dv_rows r;
    size_t want = size >= 5 ? (size_t)data[1] << 24 | (size_t)data[2] << 16
                              | (size_t)data[3] << 8 | data[4] : 0;
    if (dv_decode_file(data, size, 1, want, &r) == 0)
        dv_fuzz_check_sorted(&r);
    dv_rows_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DV_FUZZ_MAX_INPUT)
        return 0;
    dv_fuzz_bitmap(data, size);
    dv_fuzz_text(data, size);
    dv_fuzz_file(data, size);
    return 0;
}
