/*
 * fuzz/fuzz_reply.c - libFuzzer target for reading a model's reply (vector/reply.c).
 *
 * The first byte picks how many passages were shown (0..15); the rest is the reply.
 * Besides "no crash, no overrun", it checks the promises and aborts when one breaks: the
 * query has no blank space or semicolon at its ends and lies in the reply; every
 * bracket of numbers left in the checked text ([1, 3], [7-9]) names shown passages
 * only, and each is marked cited. Helper names carry a reply_fuzz_ prefix so fuzz_replay can
 * include this file.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_reply.c src/vector/reply.c \
 *     src/util/buf.c src/util/error.c \
 *     src/util/utf8.c -o /tmp/fuzz_reply
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Independently of reply.c: every ASCII bracket around digits and , ; - space only must
 * name shown, cited passages. */
static void reply_fuzz_check_cites(const char *t, size_t npass, const int *cited)
{
    for (const char *p = strchr(t, '['); p; p = strchr(p + 1, '[')) {
        const char *s = p + 1;
        int digits = 0;
        while (isdigit((unsigned char)*s) || *s == ' ' || *s == ',' || *s == ';' || *s == '-')
            digits |= isdigit((unsigned char)*s), s++;
        if (!digits || *s != ']' || s - p > 60)
            continue;
        for (const char *d = p + 1; d < s;) {
            if (!isdigit((unsigned char)*d)) {
                d++;
                continue;
            }
            char *e;
            long v = strtol(d, &e, 10);
            if (v < 1 || (size_t)v > npass || !cited[v - 1])
                abort();
            d = e;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t npass = data[0] & 15;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *sql = reply_sql(text);
    if (sql) {
        size_t n = strlen(sql);
        if (!n || isspace((unsigned char)sql[0]) || isspace((unsigned char)sql[n - 1]) || sql[n - 1] == ';' ||
            !strstr(text, sql))
            abort();
        free(sql);
    }
    int cited[16] = {0};
    char *checked = reply_citations(text, npass, cited);
    if (checked) {
        reply_fuzz_check_cites(checked, npass, cited);
        free(checked);
    }
    free(text);
    return 0;
}
