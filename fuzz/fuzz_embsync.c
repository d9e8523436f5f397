/*
 * fuzz/fuzz_embsync.c - libFuzzer target for the record an embedding pass leaves
 * (vector/embsync.h): any bytes parse or are refused, never a crash; what parses
 * renders back to the very same bytes (the parser takes only the renderer's form).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/embsync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    embsync s;
    buf again = BUF_INIT;
    if (embsync_parse((const char *)data, size, &s) == 0 &&
        (embsync_render(&s, &again) != 0 || again.len != size || memcmp(again.data, data, size) != 0))
        abort();
    buf_free(&again);
    return 0;
}
