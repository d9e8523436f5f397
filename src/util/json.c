/*
 * util/json.c - recursive-descent JSON parser. See json.h.
 *
 * Invariants: never reads past text+len; recursion depth is capped; every failure
 * leaves an error naming the offset and no partial tree escapes (the arena owns it).
 */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

#define JSON_MAX_DEPTH 128

typedef struct {
    arena *a;
    const char *p, *start, *end;
    int depth;
} parser;

static int fail(parser *ps, const char *what)
{
    return error_set(LOCH_ECORRUPT, "invalid JSON at byte %zu: %s", (size_t)(ps->p - ps->start), what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int parse_value(parser *ps, json **out);

static int hex4(parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(ps, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static int put_utf8(buf *b, unsigned cp)
{
    char s[4];
    size_t n;
    if (cp < 0x80) { s[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { s[0] = (char)(0xC0 | (cp >> 6)); s[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        s[0] = (char)(0xE0 | (cp >> 12)); s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        s[0] = (char)(0xF0 | (cp >> 18)); s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); s[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return buf_put(b, s, n);
}

static int parse_escape(parser *ps, buf *b)
{
    if (ps->p >= ps->end)
        return fail(ps, "unterminated escape");
    char c = *ps->p++;
    switch (c) {
    case '"': return buf_putc(b, '"');
    case '\\': return buf_putc(b, '\\');
    case '/': return buf_putc(b, '/');
    case 'b': return buf_putc(b, '\b');
    case 'f': return buf_putc(b, '\f');
    case 'n': return buf_putc(b, '\n');
    case 'r': return buf_putc(b, '\r');
    case 't': return buf_putc(b, '\t');
    case 'u': break;
    default: return fail(ps, "unknown escape");
    }
    unsigned cp, lo;
    int rc = hex4(ps, &cp);
    if (rc < 0)
        return rc;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return fail(ps, "unpaired surrogate");
        ps->p += 2;
        if ((rc = hex4(ps, &lo)) < 0)
            return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(ps, "bad low surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(ps, "unpaired surrogate");
    }
    return put_utf8(b, cp);
}

/* Parses a string at ps->p (which points at the opening quote). */
static int parse_string(parser *ps, const char **out, size_t *out_len)
{
    /* Fast path: most strings have no escapes and can be copied in one piece. */
    const char *q = ps->p + 1;
    while (q < ps->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    if (q < ps->end && *q == '"') {
        *out_len = (size_t)(q - ps->p - 1);
        if (!(*out = arena_strndup(ps->a, ps->p + 1, *out_len)))
            return LOCH_ENOMEM;
        ps->p = q + 1;
        return 0;
    }
    /* Slow path: decode escapes into an arena copy no longer than the raw text. */
    while (q < ps->end && *q != '"') {
        if ((unsigned char)*q < 0x20)
            break;
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    }
    if (q >= ps->end || *q != '"') {
        ps->p = q;
        return fail(ps, q >= ps->end ? "unterminated string" : "control character in string");
    }
    char *dst = arena_alloc(ps->a, (size_t)(q - ps->p) + 1);
    if (!dst)
        return LOCH_ENOMEM;
    /* cap makes any growth an error instead of a realloc of arena memory (decoding
     * never needs more room than the escaped text, so this is a guard only). */
    buf b = {dst, 0, (size_t)(q - ps->p) + 1, (size_t)(q - ps->p)};
    int rc = 0;
    ps->p++;
    while (rc == 0 && ps->p < q) {
        if (*ps->p == '\\') {
            ps->p++;
            rc = parse_escape(ps, &b);
        } else {
            b.data[b.len++] = *ps->p++;
        }
    }
    if (rc < 0)
        return rc;
    b.data[b.len] = '\0';
    ps->p = q + 1;
    *out = b.data;
    *out_len = b.len;
    return 0;
}

static int parse_number(parser *ps, json *v)
{
    const char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end)
        return fail(ps, "bad number");
    if (*ps->p == '0') {
        ps->p++;
    } else if (*ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    } else {
        return fail(ps, "bad number");
    }
    bool integral = true;
    if (ps->p < ps->end && *ps->p == '.') {
        integral = false;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad fraction");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    size_t n = (size_t)(ps->p - s);
    char *lit = arena_strndup(ps->a, s, n);
    if (!lit)
        return LOCH_ENOMEM;
    v->type = JSON_NUMBER;
    v->str = lit;
    v->len = n;
    v->num = strtod(lit, NULL);
    if (integral) {
        errno = 0;
        long long x = strtoll(lit, NULL, 10);
        if (errno == 0) {
            v->i64 = x;
            v->is_int = true;
        }
    }
    return 0;
}

static int expect_word(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return fail(ps, "unexpected token");
    ps->p += n;
    return 0;
}

static int parse_container(parser *ps, json *v, bool object)
{
    char close = object ? '}' : ']';
    json **tail = &v->child;
    int rc;
    if (++ps->depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen;
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, "expected member name");
            if ((rc = parse_string(ps, &key, &klen)) < 0)
                return rc;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, "expected ':'");
            ps->p++;
        }
        json *item;
        if ((rc = parse_value(ps, &item)) < 0)
            return rc;
        item->key = key;
        *tail = item;
        tail = &item->next;
        v->len++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            return 0;
        }
        return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(parser *ps, json **out)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    json *v = arena_alloc(ps->a, sizeof(*v));
    if (!v)
        return LOCH_ENOMEM;
    *out = v;
    switch (*ps->p) {
    case '{': v->type = JSON_OBJECT; return parse_container(ps, v, true);
    case '[': v->type = JSON_ARRAY; return parse_container(ps, v, false);
    case '"': v->type = JSON_STRING; return parse_string(ps, &v->str, &v->len);
    case 't': v->type = JSON_BOOL; v->boolean = true; return expect_word(ps, "true");
    case 'f': v->type = JSON_BOOL; return expect_word(ps, "false");
    case 'n': v->type = JSON_NULL; return expect_word(ps, "null");
    default: return parse_number(ps, v);
    }
}

int json_parse(arena *a, const char *text, size_t len, json **out)
{
    parser ps = {a, text, text, text + len, 0};
    json *v;
    int rc = parse_value(&ps, &v);
    if (rc < 0)
        return rc;
    skip_ws(&ps);
    if (ps.p != ps.end)
        return fail(&ps, "trailing characters");
    *out = v;
    return 0;
}

json *json_get(const json *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (json *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const char *json_get_str(const json *obj, const char *key)
{
    json *v = json_get(obj, key);
    return (v && v->type == JSON_STRING) ? v->str : NULL;
}

int64_t json_get_i64(const json *obj, const char *key, int64_t dflt)
{
    json *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER)
        return dflt;
    if (v->is_int)
        return v->i64;
    /* 1e300 as a size is nonsense, and converting it would be undefined behaviour. */
    return v->num > -9.2e18 && v->num < 9.2e18 ? (int64_t)v->num : dflt;
}

bool json_get_bool(const json *obj, const char *key, bool dflt)
{
    json *v = json_get(obj, key);
    return (v && v->type == JSON_BOOL) ? v->boolean : dflt;
}

/* Re-serializes a parsed JSON value compactly (to keep each field's type as text). */
int json_write(buf *out, const json *v)
{
    int rc = 0;
    switch (v->type) {
    case JSON_NULL: return buf_puts(out, "null");
    case JSON_BOOL: return buf_puts(out, v->boolean ? "true" : "false");
    case JSON_NUMBER: return buf_puts(out, v->str);
    case JSON_STRING: return buf_put_json_strn(out, v->str, v->len);
    case JSON_ARRAY:
    case JSON_OBJECT:
        rc = buf_putc(out, v->type == JSON_ARRAY ? '[' : '{');
        for (const json *c = v->child; rc == 0 && c; c = c->next) {
            if (c != v->child)
                rc = buf_putc(out, ',');
            if (!rc && v->type == JSON_OBJECT)
                rc = buf_put_json_str(out, c->key) < 0 || buf_putc(out, ':') < 0 ? LOCH_ENOMEM : 0;
            rc = rc ? rc : json_write(out, c);
        }
        return rc ? rc : buf_putc(out, v->type == JSON_ARRAY ? ']' : '}');
    }
    return 0;
}

