/*
 * fuzz/fuzz_chunk.c - libFuzzer target for the chunker (vector/chunk.c).
 *
 * The first byte picks the chunk size (16..271) and overlap; the rest is the text.
 * Besides "no crash, no overrun", it checks the chunker's promises and aborts when one
 * breaks: every span lies in the text and is at most max bytes; spans start in order;
 * every byte that is not whitespace is in some span; no span starts or ends inside a
 * UTF-8 character of a valid text's. Helper names carry a chunk_fuzz_ prefix so
 * fuzz_replay can include this file.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_chunk.c src/vector/chunk.c -o /tmp/fuzz_chunk
 *   /tmp/fuzz_chunk -max_total_time=60 <copy of tests/fuzz/corpus/chunk>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* valid UTF-8 (structure only: lead bytes followed by the right number of continuations) */
static int chunk_fuzz_utf8(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = p[i] < 0x80 ? 0 : (p[i] & 0xE0) == 0xC0 ? 1 : (p[i] & 0xF0) == 0xE0 ? 2 : (p[i] & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || k >= n - i)
            return k == 0;
        for (size_t j = 1; j <= k; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static int chunk_fuzz_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 16))
        return 0;
    size_t max = 16 + data[0], overlap = data[0] % 7;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t n = chunk_text(text, len, max, overlap, NULL, 0);
    chunk_span *s = malloc((n ? n : 1) * sizeof *s);
    uint8_t *covered = calloc(len + 1, 1);
    if (!s || !covered || chunk_text(text, len, max, overlap, s, n) != n || n == 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (s[i].start > len || s[i].len > len - s[i].start || s[i].len > max || (i && s[i].start <= s[i - 1].start))
            abort();
        memset(covered + s[i].start, 1, s[i].len);
    }
    for (size_t i = 0; i < len; i++)
        if (!covered[i] && !chunk_fuzz_space(data[1 + i]))
            abort();
    const uint8_t *t = data + 1;
    if (chunk_fuzz_utf8(t, len))
        for (size_t i = 0; i < n; i++)
            if ((s[i].start < len && (t[s[i].start] & 0xC0) == 0x80) ||
                (s[i].start + s[i].len < len && (t[s[i].start + s[i].len] & 0xC0) == 0x80))
                abort(); /* a span starts or ends inside a character */
    free(s);
    free(covered);
    return 0;
}
