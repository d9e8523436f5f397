/*
 * formats/jsonscan.c - typing JSON records in one pass; see jsonscan.h. Fuzzed by
 * fuzz/fuzz_jsonscan.c (split and whole scans must agree).
 *
 * A recursive descent over the buffer: values are classified by their first byte and
 * skipped; only member names, short strings (which may be dates) and number literals
 * are looked at. Members are matched against the node's hint first, so a file whose
 * records repeat their key order costs one comparison per key.
 */
#include "formats/jsonscan.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "formats/csvtypes.h"

enum { MAX_DEPTH = 64, MAX_MEMBERS = 1000 };

typedef struct {
    jsonscan *s;
    const char *text, *end;
    int one_line;     /* NDJSON: a record may not span a line end */
} scan;

void jsonscan_init(jsonscan *s)
{
    memset(s, 0, sizeof(*s));
    s->root.kinds = CSV_ALL;
}

static void node_free(jsonscan_node *n)
{
    while (n) {
        jsonscan_node *next = n->next;
        node_free(n->child);
        if (n->elem) {
            node_free(n->elem);
        }
        free(n->name);
        free(n);
        n = next;
    }
}

void jsonscan_free(jsonscan *s)
{
    node_free(s->root.child);
    node_free(s->root.elem);
    jsonscan_init(s);
}

static const char *fail(scan *c, const char *why)
{
    if (!c->s->failed) {
        c->s->failed = 1;
        c->s->why = why;
    }
    return NULL;
}

/* Not JSON at all (RFC 8259), at p: the engine would refuse it too, so the caller can
 * say where. */
static const char *invalid(scan *c, const char *p, const char *why)
{
    if (!c->s->failed) {
        c->s->invalid = 1;
        c->s->invalid_at = (size_t)(p - c->text);
    }
    return fail(c, why);
}

static jsonscan_node *new_node(const char *name, size_t len)
{
    jsonscan_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kinds = CSV_ALL;
    if (name) {
        n->name = malloc(len + 1);
        if (!n->name) {
            free(n);
            return NULL;
        }
        memcpy(n->name, name, len);
        n->name[len] = '\0';
        n->len = len;
    }
    return n;
}

/* The engine's column and field names ignore case: "Id" and "id" in one object would
 * be one column there. Such a file is left to the engine. */
static int case_twin(const jsonscan_node *obj, const char *name, size_t len)
{
    for (const jsonscan_node *m = obj->child; m; m = m->next)
        if (m->len == len && strncasecmp(m->name, name, len) == 0)
            return 1;
    return 0;
}

static int same_name(const jsonscan_node *m, const char *name, size_t len)
{
    if (m->len != len)
        return 0;
    for (size_t i = 0; i < len; i++) /* short names: no call */
        if (m->name[i] != name[i])
            return 0;
    return 1;
}

static jsonscan_node *member(jsonscan_node *obj, const char *name, size_t len)
{
    jsonscan_node *m = obj->hint;
    if (!m || !same_name(m, name, len))
        for (m = obj->child; m && !same_name(m, name, len); m = m->next)
            ;
    if (!m) {
        if (len == 0 || obj->nchild >= MAX_MEMBERS || case_twin(obj, name, len) || !(m = new_node(name, len)))
            return NULL;
        if (obj->last)
            obj->last->next = m;
        else
            obj->child = m;
        obj->last = m;
        obj->nchild++;
    }
    obj->hint = m->next ? m->next : obj->child;
    return m;
}

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Whitespace inside a record. */
static const char *rws(const scan *c, const char *p)
{
    while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\r' || (*p == '\n' && !c->one_line)))
        p++;
    return p;
}

/* The first quote, backslash or control character (which JSON forbids raw inside a
 * string) at or after p, or end; sixteen bytes at a time. */
static const char *string_stop(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                                    _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        unsigned hit = (unsigned)_mm_movemask_epi8(stop);
        if (hit)
            return p + __builtin_ctz(hit);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p > 0x1F)
        p++;
    return p;
}

/* p is after the opening quote; returns the closing quote, or NULL (unterminated, or
 * a raw control character inside). */
static const char *string_end(const char *p, const char *end, int *escaped)
{
    while (p < end) {
        const char *q = string_stop(p, end);
        if (q == end || (unsigned char)*q <= 0x1F)
            return NULL;
        if (*q == '"')
            return q;
        *escaped = 1;
        p = q + 2; /* the escaped character (\u's hex digits hold no quote) */
    }
    return NULL;
}

static const char *value(scan *c, const char *p, jsonscan_node *n, int depth);

static const char *object(scan *c, const char *p, jsonscan_node *n, int depth)
{
    const char *end = c->end;
    n->seen |= JSON_SEEN_OBJ;
    p = rws(c, p + 1);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= end || *p != '"')
            return invalid(c, p, "a member name was expected");
        int escaped = 0;
        const char *close = string_end(p + 1, end, &escaped);
        if (!close)
            return invalid(c, p, "an unterminated string, or a control character in one");
        if (escaped)
            return fail(c, "a member name with escapes");
        jsonscan_node *m = member(n, p + 1, (size_t)(close - p - 1));
        if (!m)
            return fail(c, "an empty member name, names differing only in case, or too many members");
        p = rws(c, close + 1);
        if (p >= end || *p != ':')
            return invalid(c, p, "':' was expected");
        if (!(p = value(c, rws(c, p + 1), m, depth + 1)))
            return NULL;
        p = rws(c, p);
        if (p < end && *p == ',') {
            p = rws(c, p + 1);
            continue;
        }
        if (p < end && *p == '}')
            return p + 1;
        return invalid(c, p, "',' or '}' was expected");
    }
}

static const char *array(scan *c, const char *p, jsonscan_node *n, int depth)
{
    const char *end = c->end;
    n->seen |= JSON_SEEN_ARR;
    if (!n->elem && !(n->elem = new_node(NULL, 0)))
        return fail(c, "out of memory");
    p = rws(c, p + 1);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (!(p = value(c, p, n->elem, depth + 1)))
            return NULL;
        p = rws(c, p);
        if (p < end && *p == ',') {
            p = rws(c, p + 1);
            continue;
        }
        if (p < end && *p == ']')
            return p + 1;
        return invalid(c, p, "',' or ']' was expected");
    }
}

static const char *literal(scan *c, const char *p, const char *word, size_t n)
{
    if ((size_t)(c->end - p) < n || memcmp(p, word, n) != 0)
        return fail(c, "not a JSON value");
    return p + n;
}

static const char *value(scan *c, const char *p, jsonscan_node *n, int depth)
{
    const char *end = c->end;
    if (depth > MAX_DEPTH)
        return fail(c, "nested too deeply");
    if (p >= end || *p == '\n' || *p == '\r' || *p == ',' || *p == ':' || *p == '}' || *p == ']')
        return invalid(c, p, "a value was expected");
    switch (*p) {
    case '{':
        return object(c, p, n, depth);
    case '[':
        return array(c, p, n, depth);
    case '"': {
        int escaped = 0;
        const char *close = string_end(p + 1, end, &escaped);
        if (!close)
            return invalid(c, p, "an unterminated string, or a control character in one");
        size_t len = (size_t)(close - p - 1);
        n->seen |= JSON_SEEN_STR;
        n->kinds = escaped || (len != 10 && (len < 19 || len > 26))
                       ? 0 : csv_value_kinds_in(p + 1, len, n->kinds & (CSV_DATE | CSV_TIMESTAMP));
        return close + 1;
    }
    case 't':
        n->seen |= JSON_SEEN_BOOL;
        n->kinds &= CSV_BOOLEAN;
        return literal(c, p, "true", 4);
    case 'f':
        n->seen |= JSON_SEEN_BOOL;
        n->kinds &= CSV_BOOLEAN;
        return literal(c, p, "false", 5);
    case 'n':
        return literal(c, p, "null", 4);
    default: {
        const char *q = p;
        while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' || *q == 'e' || *q == 'E'))
            q++;
        if (q == p)
            return fail(c, "not a JSON value");
        n->seen |= JSON_SEEN_NUM;
        n->kinds &= csv_number_kinds(p, (size_t)(q - p), n->kinds);
        return q;
    }
    }
}

static const char *record(scan *c, const char *p)
{
    if (*p != '{')
        return fail(c, "a record that is not an object");
    c->s->records++;
    return object(c, p, &c->s->root, 1);
}

int jsonscan_run(jsonscan *s, const char *text, size_t n, int ndjson)
{
    scan c = {s, text, text + n, ndjson};
    const char *p = ws(text, c.end);
    if (!ndjson && p < c.end && *p == '[' && s->records == 0) {
        s->array_doc = 1;
        p = ws(p + 1, c.end);
        while (p && p < c.end && *p != ']') {
            p = record(&c, p);
            p = p ? ws(p, c.end) : NULL;
            if (p && p < c.end && *p == ',')
                p = ws(p + 1, c.end);
            else if (p && (p >= c.end || *p != ']'))
                p = invalid(&c, p, "',' or ']' was expected");
        }
        if (p && p < c.end)
            p = ws(p + 1, c.end);
        if (p && p != c.end)
            invalid(&c, p, "text after the array");
        return s->failed ? -1 : 0;
    }
    const char *mark = text;
    while (p && p < c.end) {
        if (s->progress && (size_t)(p - mark) >= s->every) {
            mark = p;
            s->progress(s->ctx, (size_t)(p - text));
        }
        p = record(&c, p);
        if (!p)
            break;
        if (ndjson) { /* one record per line: nothing else may follow it there */
            while (p < c.end && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
            if (p < c.end && *p != '\n')
                p = invalid(&c, p, "more than one value on a line");
        }
        p = p ? ws(p, c.end) : NULL;
    }
    return s->failed ? -1 : 0;
}

static int merge_node(jsonscan_node *a, const jsonscan_node *b)
{
    a->seen |= b->seen;
    a->kinds &= b->kinds;
    for (const jsonscan_node *m = b->child; m; m = m->next) {
        jsonscan_node *t = member(a, m->name, m->len);
        if (!t || merge_node(t, m) < 0)
            return -1;
    }
    if (b->elem) {
        if (!a->elem && !(a->elem = new_node(NULL, 0)))
            return -1;
        return merge_node(a->elem, b->elem);
    }
    return 0;
}

int jsonscan_merge(jsonscan *a, const jsonscan *b)
{
    a->records += b->records;
    if (b->failed && !a->failed) {
        a->failed = 1;
        a->why = b->why;
    }
    return merge_node(&a->root, &b->root);
}

static int put_ident(buf *out, const char *name)
{
    int rc = buf_putc(out, '"');
    for (const char *p = name; rc == 0 && *p; p++)
        rc = *p == '"' ? buf_puts(out, "\"\"") : buf_putc(out, *p);
    return rc ? rc : buf_putc(out, '"');
}

int jsonscan_type(const jsonscan_node *n, buf *out)
{
    switch (n->seen) {
    case JSON_SEEN_OBJ: {
        if (!n->child)
            break;
        int rc = buf_puts(out, "STRUCT(");
        for (const jsonscan_node *m = n->child; rc == 0 && m; m = m->next)
            rc = (m != n->child ? buf_puts(out, ", ") : 0) || put_ident(out, m->name) || buf_putc(out, ' ') ||
                 jsonscan_type(m, out);
        return rc || buf_putc(out, ')') ? -1 : 0;
    }
    case JSON_SEEN_ARR: {
        int rc = n->elem ? jsonscan_type(n->elem, out) : buf_puts(out, "VARCHAR");
        return rc || buf_puts(out, "[]") ? -1 : 0;
    }
    case JSON_SEEN_BOOL:
        return buf_puts(out, "BOOLEAN");
    case JSON_SEEN_NUM:
        if (n->kinds & CSV_BIGINT)
            return buf_puts(out, "BIGINT");
        if (n->kinds & CSV_DOUBLE)
            return buf_puts(out, "DOUBLE");
        break;
    case JSON_SEEN_STR:
        if (n->kinds & CSV_DATE)
            return buf_puts(out, "DATE");
        if (n->kinds & CSV_TIMESTAMP)
            return buf_puts(out, "TIMESTAMP");
        break;
    default:
        break;
    }
    return buf_puts(out, "VARCHAR");
}
