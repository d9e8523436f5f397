/*
 * fuzz/fuzz_awsconf.c - libFuzzer target for the AWS CLI's shared files (formats/
 * awsconf.c). The first byte picks the lookup (a top-level key of [default] or of
 * [profile dev], or a key of an "s3 =" block); the rest is the file. Besides "no crash,
 * no overrun": a value found is a string without a line end or a NUL, trimmed.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_awsconf.c src/formats/awsconf.c \
 *     src/util/buf.c src/util/error.c -o /tmp/fuzz_awsconf
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/awsconf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const sections[] = {"default", "profile dev", "dev", "services local"};
    static const char *const keys[] = {"aws_access_key_id", "region", "endpoint_url", "addressing_style"};
    const char *text = (const char *)data + 1;
    char *v = NULL;
    int rc = awsconf_ini_get(text, size - 1, "fuzz", sections[data[0] & 3], data[0] & 4 ? "s3" : NULL,
                             keys[(data[0] >> 3) & 3], &v);
    if (rc == 0 && v) {
        size_t n = strlen(v);
        if (strchr(v, '\n') || (n && (v[0] == ' ' || v[n - 1] == ' ')) || n > size)
            abort();
    }
    if (rc < 0 && v)
        abort();
    free(v);
    error_clear();
    return 0;
}
