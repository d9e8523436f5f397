/*
 * core/sqlscan.c - see sqlscan.h. Fuzzed by fuzz/fuzz_sqlscan.c.
 */
#include "core/sqlscan.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"

static int skip_space(const char *s, size_t len, size_t *pos)
{
    size_t p = *pos;
    for (;;) {
        while (p < len && isspace((unsigned char)s[p]))
            p++;
        if (p + 1 < len && s[p] == '-' && s[p + 1] == '-') {
            while (p < len && s[p] != '\n' && s[p] != '\r') /* the engine ends it at either */
                p++;
        } else if (p + 1 < len && s[p] == '/' && s[p + 1] == '*') {
            int depth = 0;
            do {
                if (p + 1 < len && s[p] == '/' && s[p + 1] == '*') {
                    depth++;
                    p += 2;
                } else if (p + 1 < len && s[p] == '*' && s[p + 1] == '/') {
                    depth--;
                    p += 2;
                } else if (p < len) {
                    p++;
                } else {
                    return error_set(LOCH_EINVALID, "unterminated /* comment */ in SQL");
                }
            } while (depth > 0);
        } else {
            break;
        }
    }
    *pos = p;
    return 0;
}

/* Scans a quoted run starting at s[p] == q; doubled quotes escape, and with
 * backslash, \x escapes too. Returns the position after the closing quote or 0. */
static size_t scan_quoted(const char *s, size_t len, size_t p, char q, int backslash)
{
    for (p++; p < len; p++) {
        if (backslash && s[p] == '\\') {
            p++;
        } else if (s[p] == q) {
            if (p + 1 < len && s[p + 1] == q)
                p++;
            else
                return p + 1;
        }
    }
    return 0;
}

/* $tag$ ... $tag$; returns the position after it, or 0 when s[p] starts no dollar quote. */
static size_t scan_dollar(const char *s, size_t len, size_t p, int *unterminated)
{
    size_t t = p + 1;
    while (t < len && (isalnum((unsigned char)s[t]) || s[t] == '_'))
        t++;
    if (t >= len || s[t] != '$' || (t > p + 1 && isdigit((unsigned char)s[p + 1])))
        return 0;
    size_t taglen = t - p + 1;
    for (size_t q = t + 1; q + taglen <= len; q++)
        if (memcmp(s + q, s + p, taglen) == 0)
            return q + taglen;
    *unterminated = 1;
    return 0;
}

int sqlscan_next(const char *s, size_t len, size_t *pos, sql_token *t)
{
    int rc = skip_space(s, len, pos);
    if (rc < 0)
        return rc;
    size_t p = *pos, end;
    int unterminated = 0;
    t->start = p;
    if (p >= len) {
        t->kind = TOK_END;
        t->len = 0;
        return 0;
    }
    unsigned char c = (unsigned char)s[p];
    if (c == '\'' || ((c == 'E' || c == 'e') && p + 1 < len && s[p + 1] == '\'')) {
        int esc = c != '\'';
        end = scan_quoted(s, len, p + (size_t)esc, '\'', esc);
        if (!end)
            return error_set(LOCH_EINVALID, "unterminated string literal in SQL");
        t->kind = TOK_STRING;
    } else if (c == '"') {
        if (!(end = scan_quoted(s, len, p, '"', 0)))
            return error_set(LOCH_EINVALID, "unterminated quoted identifier in SQL");
        t->kind = TOK_QUOTED;
    } else if (c == '$' && (end = scan_dollar(s, len, p, &unterminated))) {
        t->kind = TOK_STRING;
    } else if (unterminated) {
        return error_set(LOCH_EINVALID, "unterminated dollar-quoted string in SQL");
    } else if (isalpha(c) || c == '_' || c >= 0x80) {
        end = p + 1;
        while (end < len && (isalnum((unsigned char)s[end]) || s[end] == '_' || s[end] == '$' ||
                             (unsigned char)s[end] >= 0x80))
            end++;
        t->kind = TOK_WORD;
    } else if (isdigit(c)) {
        end = p + 1;
        while (end < len && (isalnum((unsigned char)s[end]) || s[end] == '.' || s[end] == '_'))
            end++;
        t->kind = TOK_NUMBER;
    } else {
        end = p + 1;
        t->kind = TOK_PUNCT;
    }
    t->len = end - p;
    *pos = end;
    return 0;
}

int sqlscan_split(const char *sql, size_t len, sql_span **out, size_t *count)
{
    sql_span *v = NULL;
    size_t n = 0, pos = 0, start = SIZE_MAX;
    sql_token t;
    int rc;
    *out = NULL;
    *count = 0;
    for (;;) {
        if ((rc = sqlscan_next(sql, len, &pos, &t)) < 0)
            goto cleanup;
        if (t.kind == TOK_END || (t.kind == TOK_PUNCT && sql[t.start] == ';')) {
            if (start != SIZE_MAX) {
                sql_span *grown = realloc(v, sizeof(*v) * (n + 1));
                if (!grown) {
                    rc = error_set(LOCH_ENOMEM, "out of memory");
                    goto cleanup;
                }
                v = grown;
                v[n++] = (sql_span){start, t.start};
                start = SIZE_MAX;
            }
            if (t.kind == TOK_END)
                break;
            continue;
        }
        if (start == SIZE_MAX)
            start = t.start;
    }
    *out = v;
    *count = n;
    return 0;
cleanup:
    free(v);
    return rc;
}

int sqlscan_is(const char *sql, const sql_token *t, const char *w)
{
    return t->kind == TOK_WORD && strlen(w) == t->len && strncasecmp(sql + t->start, w, t->len) == 0;
}

int sqlscan_explained(const char *sql, size_t len, size_t *pos)
{
    size_t at = 0, save;
    sql_token t;
    *pos = 0;
    int rc = sqlscan_next(sql, len, &at, &t);
    if (rc < 0 || !sqlscan_is(sql, &t, "EXPLAIN"))
        return rc;
    save = at;
    if ((rc = sqlscan_next(sql, len, &at, &t)) < 0)
        return rc;
    if (t.kind == TOK_PUNCT && sql[t.start] == '(') {
        for (int depth = 1; depth > 0;) {
            if ((rc = sqlscan_next(sql, len, &at, &t)) < 0 || t.kind == TOK_END)
                return rc ? rc : error_set(LOCH_EINVALID, "EXPLAIN options are not closed");
            if (t.kind == TOK_PUNCT)
                depth += (sql[t.start] == '(') - (sql[t.start] == ')');
        }
    } else if (!sqlscan_is(sql, &t, "ANALYZE") && !sqlscan_is(sql, &t, "ANALYSE")) {
        at = save;
    }
    *pos = at;
    return 0;
}
