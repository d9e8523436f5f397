/*
 * vector/embsync.c - the record an embedding pass leaves (vector/embsync.h).
 *
 * The parser takes the exact form the renderer writes and nothing else: fixed words,
 * single spaces, lowercase hex, decimal numbers without signs or leading zeros in
 * range, one newline at the end. Anything else is not a record (the caller compares
 * every row), so a file damaged or written by hand can cost time, never rows.
 */
#include "vector/embsync.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/sha256.h"

#define MAGIC "loch-embed-sync 1 "

int embsync_what(const char *emb_id, int64_t emb_time_ms, const char *src_id, const char *column, const char *key,
                 const char *model, uint8_t out[32])
{
    const char *parts[] = {emb_id, src_id, column, key, model};
    char time[32];
    sha256_ctx c;
    if (sha256_init(&c) < 0)
        return LOCH_ENOMEM;
    sha256_update(&c, MAGIC, strlen(MAGIC));
    int n = snprintf(time, sizeof time, "%lld", (long long)emb_time_ms);
    sha256_update(&c, time, (size_t)n + 1);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) /* each with its NUL: no two lists hash alike */
        sha256_update(&c, parts[i] ? parts[i] : "", strlen(parts[i] ? parts[i] : "") + 1);
    return sha256_final(&c, out);
}

int embsync_render(const embsync *s, buf *out)
{
    buf_clear(out);
    int rc = buf_puts(out, MAGIC);
    for (int i = 0; rc == 0 && i < 32; i++)
        rc = buf_printf(out, "%02x", s->what[i]);
    return rc ? rc
              : buf_printf(out, " %lld %lld %d %zu\n", (long long)s->emb_version, (long long)s->src_version, s->dim,
                           s->chunk_size);
}

/* A decimal number at *p, at most max, up to the character end. */
static int number(const char **p, const char *stop, char end, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t n = 0;
    if (s >= stop || *s < '0' || *s > '9' || (*s == '0' && s + 1 < stop && s[1] != end))
        return -1;
    for (; s < stop && *s >= '0' && *s <= '9'; s++) {
        if (n > (max - (uint64_t)(*s - '0')) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (s >= stop || *s != end)
        return -1;
    *p = s + 1;
    *out = n;
    return 0;
}

int embsync_parse(const char *text, size_t len, embsync *out)
{
    const char *p = text, *stop = text + len;
    uint64_t n[4];
    memset(out, 0, sizeof *out);
    if (len < strlen(MAGIC) + 64 || memcmp(p, MAGIC, strlen(MAGIC)) != 0)
        goto bad;
    p += strlen(MAGIC);
    for (int i = 0; i < 32; i++, p += 2) {
        int hi = p[0] >= '0' && p[0] <= '9' ? p[0] - '0' : p[0] >= 'a' && p[0] <= 'f' ? p[0] - 'a' + 10 : -1;
        int lo = p[1] >= '0' && p[1] <= '9' ? p[1] - '0' : p[1] >= 'a' && p[1] <= 'f' ? p[1] - 'a' + 10 : -1;
        if (hi < 0 || lo < 0)
            goto bad;
        out->what[i] = (uint8_t)(hi << 4 | lo);
    }
    if (p >= stop || *p++ != ' ' || number(&p, stop, ' ', INT64_MAX, &n[0]) || number(&p, stop, ' ', INT64_MAX, &n[1]) ||
        number(&p, stop, ' ', 1u << 20, &n[2]) || number(&p, stop, '\n', 1u << 30, &n[3]) || p != stop)
        goto bad;
    out->emb_version = (int64_t)n[0], out->src_version = (int64_t)n[1];
    out->dim = (int)n[2], out->chunk_size = (size_t)n[3];
    return 0;
bad:
    memset(out, 0, sizeof *out);
    return error_set(LOCH_ECORRUPT, "not an embedding pass's record");
}
