/*
 * vector/chunk.c - a long text into passages (vector/chunk.h).
 *
 * Bytes only: boundaries are ASCII (newlines, sentence punctuation followed by a
 * space, spaces), and a cut that must fall inside a word backs off to the start of a
 * UTF-8 character, so any input, valid UTF-8 or not, gives spans within it.
 */
#include "vector/chunk.h"

static int space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Where a chunk starting at from (in s[0..len)) ends: at most max bytes on. */
static size_t cut(const unsigned char *s, size_t len, size_t from, size_t max)
{
    size_t end = from + max;
    if (end >= len)
        return len;
    size_t half = from + max / 2, para = 0, sent = 0, word = 0;
    for (size_t i = end; i > half; i--) {
        if (!para && i >= 2 && s[i - 1] == '\n' && s[i - 2] == '\n')
            para = i;
        if (!sent && (s[i - 1] == '\n' || (space(s[i - 1]) && i >= 2 && (s[i - 2] == '.' || s[i - 2] == '!' ||
                                                                            s[i - 2] == '?'))))
            sent = i;
        if (!word && space(s[i - 1]))
            word = i;
        if (para)
            break;
    }
    if (para || sent || word)
        return para ? para : sent ? sent : word;
    while (end > from + 1 && continuation(s[end])) /* inside a character: before it */
        end--;
    return end;
}

size_t chunk_text(const char *text, size_t len, size_t max, size_t overlap, chunk_span *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, pos = 0;
    if (max < 16)
        max = 16;
    if (overlap >= max / 2)
        overlap = max / 2 - 1;
    if (len <= max) { /* short: one chunk, the text as it is */
        if (cap)
            out[0] = (chunk_span){0, len};
        return 1;
    }
    while (pos < len && space(s[pos]))
        pos++;
    if (pos == len) { /* long, but only whitespace: one empty chunk */
        if (cap)
            out[0] = (chunk_span){0, 0};
        return 1;
    }
    while (pos < len) {
        size_t end = cut(s, len, pos, max);
        size_t e = end;
        while (e > pos && space(s[e - 1]))
            e--;
        if (n < cap)
            out[n] = (chunk_span){pos, e - pos};
        n++;
        if (end >= len)
            break;
        /* the next one starts overlap bytes back, at a word, and always after pos */
        size_t next = end > pos + overlap ? end - overlap : end;
        while (next < end && !space(s[next - 1]))
            next++;
        if (next <= pos)
            next = end;
        while (next < len && space(s[next]))
            next++;
        pos = next;
    }
    return n;
}
