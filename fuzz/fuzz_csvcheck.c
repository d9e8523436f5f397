/*
 * fuzz/fuzz_csvcheck.c - libFuzzer target for the field counter: the first byte picks
 * the delimiter and quote, the rest is the file, fed in two pieces split where the
 * second byte says. The same bytes fed whole must give the same verdict.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/csvcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = ",;\t|";
    char delim = delims[data[0] & 3], quote = (data[0] & 4) ? '"' : 0;
    const char *text = (const char *)data + 2;
    size_t n = size - 2, cut = n ? data[1] % (n + 1) : 0;
    csvcheck a, b;
    csvcheck_init(&a, delim, quote);
    csvcheck_init(&b, delim, quote);
    csvcheck_feed(&a, text, cut);
    csvcheck_feed(&a, text + cut, n - cut);
    csvcheck_finish(&a);
    csvcheck_feed(&b, text, n);
    csvcheck_finish(&b);
    if (a.bad_line != b.bad_line || a.records != b.records || a.bad_fields != b.bad_fields)
        abort();
    return 0;
}
