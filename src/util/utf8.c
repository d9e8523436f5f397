/*
 * util/utf8.c - see utf8.h. Runs of ASCII, the common case, are passed eight bytes at
 * a time.
 */
#include "util/utf8.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int more = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
        if (more < 0 || n - i <= (size_t)more)
            return i;
        unsigned cp = c & (more == 1 ? 0x1Fu : more == 2 ? 0x0Fu : 0x07u);
        for (int k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += (size_t)more + 1;
    }
    return n;
}

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void open_locale(void) { utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

char *utf8_lower(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;
    /* A lowercase letter takes at most 3 bytes where its capital took 2 (U+023A -> U+2C65). */
    char *out = malloc(n * 3 / 2 + 4);
    if (!out)
        return NULL;
    pthread_once(&utf8_once, open_locale);
    while (n) {
        size_t len = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
        if (len > n || utf8_valid_prefix(p, len) != len)
            len = 1; /* not a valid sequence: copied */
        if (len == 1 && *p >= 0x80) {
            out[o++] = (char)*p;
        } else {
            uint32_t c = len == 1 ? *p : len == 2 ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                       : len == 3 ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                                  : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                                    (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
            uint32_t l = c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c)
                       : utf8_locale ? (uint32_t)towlower_l((wint_t)c, utf8_locale) : c;
            if (l < 0x80) {
                out[o++] = (char)l;
            } else if (l < 0x800) {
                out[o++] = (char)(0xC0 | l >> 6);
                out[o++] = (char)(0x80 | (l & 0x3F));
            } else if (l < 0x10000) {
                out[o++] = (char)(0xE0 | l >> 12);
                out[o++] = (char)(0x80 | ((l >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (l & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | l >> 18);
                out[o++] = (char)(0x80 | ((l >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((l >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (l & 0x3F));
            }
        }
        p += len;
        n -= len;
    }
    out[o] = '\0';
    return out;
}
