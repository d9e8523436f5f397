/*
 * fuzz/fuzz_csvcheck.c - libFuzzer target for the field counter and typer: the first
 * byte picks the delimiter, quote and header, the rest is the file. It is fed in two
 * pieces split where the second byte says, and whole; and, when the split falls
 * between records, scanned as two files merged (as ingest's two threads do). All
 * readings must agree on the verdict, the record count and every column's type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/csvcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t max_record;

static void start(csvcheck *c, char delim, char quote, int header)
{
    csvcheck_init(c, delim, quote);
    csvcheck_types(c, header);
    c->max_record = max_record;
}

static void same(const csvcheck *a, const csvcheck *b)
{
    if (a->bad_line != b->bad_line || (!a->bad_line && a->records != b->records) || a->bad_fields != b->bad_fields ||
        a->bad_kind != b->bad_kind)
        abort();
    for (size_t i = 0; !a->bad_line && (i < a->ncols || i < b->ncols); i++)
        if (csvcheck_column_kind(a, i) != csvcheck_column_kind(b, i))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = ",;\t|";
    char delim = delims[data[0] & 3], quote = (data[0] & 4) ? '"' : 0;
    int header = (data[0] & 8) != 0;
    max_record = data[0] & 16 ? (data[0] >> 5) + 1 : 0;
    const char *text = (const char *)data + 2;
    size_t n = size - 2, cut = n ? data[1] % (n + 1) : 0;
    csvcheck a, b, c, d;
    start(&a, delim, quote, header);
    start(&b, delim, quote, header);
    csvcheck_feed(&a, text, cut);
    csvcheck_feed(&a, text + cut, n - cut);
    csvcheck_finish(&a);
    csvcheck_feed(&b, text, n);
    csvcheck_finish(&b);
    same(&a, &b);
    start(&c, delim, quote, header);
    csvcheck_feed(&c, text, cut);
    if (csvcheck_at_record_start(&c) && !c.bad_line) {
        start(&d, delim, quote, 0);
        csvcheck_feed(&d, text + cut, n - cut);
        csvcheck_finish(&d);
        if (csvcheck_merge(&c, &d) == 0)
            same(&c, &b);
        csvcheck_free(&d);
    }
    csvcheck_free(&a);
    csvcheck_free(&b);
    csvcheck_free(&c);
    (void)csv_value_kinds(text, n < 32 ? n : 32);
    return 0;
}
