/*
 * util/buf.c - growable buffers. See buf.h for the contract.
 */
#include "util/buf.h"
#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_grow(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len)
        return error_set(LOCH_ENOMEM, "buffer size overflow");
    if (b->cap && need > b->cap + 1)
        return error_set(LOCH_EINVALID, "input larger than the limit of %zu bytes", b->cap);
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    char *p = realloc(b->data, n);
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory growing a buffer to %zu bytes", n);
    b->data = p;
    b->alloc = n;
    return 0;
}

int buf_put(buf *b, const void *data, size_t len)
{
    int rc = buf_grow(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf *b, const char *s) { return buf_put(b, s, strlen(s)); }
int buf_putc(buf *b, char c) { return buf_put(b, &c, 1); }

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return error_set(LOCH_EINVALID, "bad format string");
    int rc = buf_grow(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_put_json_strn(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_putc(b, '"');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rc = buf_puts(b, "\\\""); break;
        case '\\': rc = buf_puts(b, "\\\\"); break;
        case '\n': rc = buf_puts(b, "\\n"); break;
        case '\r': rc = buf_puts(b, "\\r"); break;
        case '\t': rc = buf_puts(b, "\\t"); break;
        case '\b': rc = buf_puts(b, "\\b"); break;
        case '\f': rc = buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20) {
                char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
                rc = buf_puts(b, esc);
            } else if (c < 0x80) {
                rc = buf_putc(b, (char)c);
            } else {
                /* JSON text is UTF-8: a byte that starts no valid sequence (a user's
                 * Latin-1 in an echoed message) becomes U+FFFD, never invalid output. */
                size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2, have = n - i < len ? n - i : len;
                if (utf8_valid_prefix((const unsigned char *)s + i, have) == len) {
                    rc = buf_put(b, s + i, len);
                    i += len - 1;
                } else {
                    rc = buf_puts(b, "\\ufffd");
                }
            }
        }
    }
    return rc ? rc : buf_putc(b, '"');
}

int buf_put_json_str(buf *b, const char *s) { return buf_put_json_strn(b, s, strlen(s)); }

static int put_quoted(buf *b, const char *s, char q)
{
    int rc = buf_putc(b, q);
    for (; rc == 0 && *s; s++)
        rc = (*s == q) ? buf_put(b, (char[]){q, q}, 2) : buf_putc(b, *s);
    return rc ? rc : buf_putc(b, q);
}

int buf_put_sql_str(buf *b, const char *s) { return put_quoted(b, s, '\''); }
int buf_put_sql_ident(buf *b, const char *s) { return put_quoted(b, s, '"'); }

void buf_clear(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_detach(buf *b)
{
    if (!b->data && buf_grow(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}
