/*
 * fuzz/fuzz_jsonscan.c - libFuzzer target for the JSON typer: the first byte says
 * whether the input is NDJSON and where to cut it, the rest is the file. Any bytes
 * must be scanned without a crash or an out-of-bounds read; the column types must
 * print; and NDJSON scanned as two ranges cut after a line end and merged must give
 * the same columns and types as one scan (as ingest's two threads do).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void columns(const jsonscan *s, buf *out)
{
    for (const jsonscan_node *m = s->root.child; m; m = m->next) {
        buf_puts(out, m->name);
        buf_putc(out, ' ');
        jsonscan_type(m, out);
        buf_putc(out, ',');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ndjson = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    /* a copy of exactly n bytes, so reading past the end is caught */
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, text, n);
    jsonscan whole;
    jsonscan_init(&whole);
    jsonscan_run(&whole, copy, n, ndjson);
    buf a = BUF_INIT, b = BUF_INIT;
    columns(&whole, &a);
    const char *nl = ndjson && n ? memchr(copy + (data[0] >> 1) % n, '\n', n - (data[0] >> 1) % n) : NULL;
    if (nl && !whole.failed) {
        size_t cut = (size_t)(nl + 1 - copy);
        jsonscan first, rest;
        jsonscan_init(&first);
        jsonscan_init(&rest);
        jsonscan_run(&first, copy, cut, 1);
        jsonscan_run(&rest, copy + cut, n - cut, 1);
        if (first.failed || rest.failed)
            abort(); /* the whole scan read both */
        if (jsonscan_merge(&first, &rest) == 0) {
            columns(&first, &b);
            if (first.records != whole.records || strcmp(a.data ? a.data : "", b.data ? b.data : "") != 0)
                abort();
        }
        jsonscan_free(&first);
        jsonscan_free(&rest);
    }
    buf_free(&a);
    buf_free(&b);
    jsonscan_free(&whole);
    free(copy);
    return 0;
}
