/*
 * fuzz/fuzz_sqlscan.c - libFuzzer target for the SQL statement splitter and lexer.
 * Checks that spans are in order, inside the text, and never empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sqlscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sql_span *spans = NULL;
    size_t n = 0, last = 0;
    if (sqlscan_split((const char *)data, size, &spans, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (spans[i].start < last || spans[i].end <= spans[i].start || spans[i].end > size)
                abort();
            last = spans[i].end;
        }
    }
    free(spans);
    return 0;
}
