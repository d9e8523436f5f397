/*
 * fuzz/fuzz_conf.c - libFuzzer target for the configuration parser: any bytes are
 * parsed or refused with a message, never a crash or a leak; what parses has keys
 * that are found again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf c;
    if (conf_parse(&c, (const char *)data, size) == 0) {
        for (size_t i = 0; i < c.n; i++)
            if (!conf_get(&c, c.v[i].key) || !c.v[i].value)
                abort();
        conf_free(&c);
    }
    return 0;
}
