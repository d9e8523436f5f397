/*
 * util/buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Owned by whoever declares it; buf_free() releases it. A buffer fed by outside input
 * sets `cap` so a hostile or broken source cannot grow it without bound (like curl's
 * dynbuf). Every append returns 0 or a negative LOCH_E* code.
 */
#ifndef LOCH_UTIL_BUF_H
#define LOCH_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct {
    char *data;   /* owned; NULL until the first append */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* 0 = no limit; else appends past it fail with LOCH_EINVALID */
} buf;

#define BUF_INIT {NULL, 0, 0, 0}

int buf_grow(buf *b, size_t extra);
int buf_put(buf *b, const void *data, size_t len);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) LOCH_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included. */
int buf_put_json_str(buf *b, const char *s);
int buf_put_json_strn(buf *b, const char *s, size_t n);
/* Appends s as a SQL string literal ('...' with quotes doubled). */
int buf_put_sql_str(buf *b, const char *s);
/* Appends s as a SQL identifier ("..." with quotes doubled). */
int buf_put_sql_ident(buf *b, const char *s);
void buf_clear(buf *b);
/* Hands the contents to the caller (never NULL on success) and resets the buffer. */
char *buf_detach(buf *b);
void buf_free(buf *b);

#endif
