/*
 * core/prune.c - data skipping for DELETE and UPDATE: see prune.h.
 *
 * The clause is split at top-level ANDs into conjuncts of a few tokens each; a conjunct
 * of a recognized shape becomes a test (column, operator, literals). Each file's stats
 * are parsed once, and a file is skippable when some test is false for every value
 * between its min and max (or, for IS NULL, when it has no nulls). Anything unexpected
 * (a shape, a type, a stats field) makes the test "cannot tell", never "false".
 */
#include "core/prune.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/sqlscan.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/json.h"

#define MAX_TESTS 16
#define MAX_VALUES 64

typedef enum { OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_BETWEEN, OP_NULL } op_kind;

typedef struct {
    const schema_field *col;
    bool integer;                 /* else a string column */
    op_kind op;
    size_t n;                     /* literals */
    int64_t ints[MAX_VALUES];
    char *strs[MAX_VALUES];       /* arena-owned, unquoted */
} test;

typedef struct {
    const char *sql;
    size_t len;
    sql_token *t;
    size_t n;
} tokens;

static bool is_word(const tokens *k, size_t i, const char *w)
{
    return i < k->n && k->t[i].kind == TOK_WORD && sqlscan_is(k->sql, &k->t[i], w);
}

static bool is_punct(const tokens *k, size_t i, const char *p)
{
    size_t n = strlen(p);
    return i < k->n && k->t[i].kind == TOK_PUNCT && k->t[i].len == n && strncmp(k->sql + k->t[i].start, p, n) == 0;
}

/* Tokens i (and i+2 after "alias.") as a column of s; *next is past it. */
static const schema_field *column(const snapshot *s, const tokens *k, size_t i, const char *alias, size_t *next)
{
    if (i + 2 < k->n && is_punct(k, i + 1, ".")) {
        const sql_token *a = &k->t[i];
        size_t al = strlen(alias);
        bool quoted = a->kind == TOK_QUOTED;
        if (!(a->len - 2 * quoted == al && strncasecmp(k->sql + a->start + quoted, alias, al) == 0))
            return NULL;
        i += 2;
    }
    if (i >= k->n || (k->t[i].kind != TOK_WORD && k->t[i].kind != TOK_QUOTED))
        return NULL;
    const sql_token *c = &k->t[i];
    bool quoted = c->kind == TOK_QUOTED;
    const char *p = k->sql + c->start + quoted;
    size_t n = c->len - 2 * quoted;
    for (size_t f = 0; f < s->schema.count; f++) {
        const schema_field *sf = &s->schema.fields[f];
        if (strlen(sf->name) == n && (quoted ? strncmp(sf->name, p, n) : strncasecmp(sf->name, p, n)) == 0) {
            *next = i + 1;
            return sf;
        }
    }
    return NULL;
}

static int type_of(const schema_field *f)
{
    static const char *ints[] = {"\"long\"", "\"integer\"", "\"short\"", "\"byte\""};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(f->delta_type, ints[i]) == 0)
            return 1;
    return strcmp(f->delta_type, "\"string\"") == 0 ? 2 : 0;
}

/* A literal of the column's kind into test slot v. */
static bool literal(arena *a, const tokens *k, size_t i, test *t)
{
    if (i >= k->n || t->n == MAX_VALUES)
        return false;
    const sql_token *l = &k->t[i];
    size_t neg = 0;
    if (t->integer) {
        if (is_punct(k, i, "-") && i + 1 < k->n) {
            neg = 1;
            l = &k->t[i + 1];
        }
        if (l->kind != TOK_NUMBER || l->len > 19)
            return false;
        char num[24];
        memcpy(num, k->sql + l->start, l->len);
        num[l->len] = '\0';
        if (strspn(num, "0123456789") != l->len)
            return false;
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno)
            return false;
        t->ints[t->n++] = neg ? -v : v;
        return true;
    }
    if (l->kind != TOK_STRING || k->sql[l->start] != '\'')
        return false;
    char *s = arena_alloc(a, l->len), *w = s;
    if (!s)
        return false;
    for (size_t j = l->start + 1; j + 1 < l->start + l->len; j++) {
        *w++ = k->sql[j];
        j += k->sql[j] == '\'';
    }
    *w = '\0';
    t->strs[t->n++] = s;
    return true;
}

/* Tokens [from, to) as one test; false when its shape is not one we judge. */
static bool parse_test(arena *a, const snapshot *s, const tokens *k, size_t from, size_t to, const char *alias,
                       test *t)
{
    static const struct {
        const char *p;
        op_kind op, flipped;
    } ops[] = {{"=", OP_EQ, OP_EQ}, {"==", OP_EQ, OP_EQ}, {"<", OP_LT, OP_GT}, {"<=", OP_LE, OP_GE},
               {">", OP_GT, OP_LT}, {">=", OP_GE, OP_LE}};
    memset(t, 0, sizeof(*t));
    size_t i = 0, lit = from, opi = 0;
    const schema_field *c = column(s, k, from, alias, &i);
    bool flipped = false;
    if (!c) { /* lit op col: a literal (maybe negative), an operator of 1 or 2 characters, the column */
        opi = from + 1 + is_punct(k, from, "-");
        bool two = opi + 1 < k->n && k->t[opi + 1].kind == TOK_PUNCT && k->t[opi + 1].start == k->t[opi].start + 1 &&
                   strchr("=>", k->sql[k->t[opi + 1].start]);
        size_t col_at = opi + 1 + two; /* nothing else between: "5 < -id" is not "5 < id" */
        if (col_at >= to || !(c = column(s, k, col_at, alias, &i)) || i != to)
            return false;
        flipped = true;
    }    int ty = type_of(c);
    if (!ty)
        return false;
    t->col = c;
    t->integer = ty == 1;
    if (!flipped && is_word(k, i, "IS") && is_word(k, i + 1, "NULL") && i + 2 == to) {
        t->op = OP_NULL;
        return true;
    }
    if (!flipped && is_word(k, i, "BETWEEN")) {
        t->op = OP_BETWEEN;
        size_t and_at = i + 2 + is_punct(k, i + 1, "-");
        return literal(a, k, i + 1, t) && is_word(k, and_at, "AND") && literal(a, k, and_at + 1, t) &&
               and_at + 2 + is_punct(k, and_at + 1, "-") == to;
    }
    if (!flipped && is_word(k, i, "IN") && is_punct(k, i + 1, "(") && is_punct(k, to - 1, ")")) {
        t->op = OP_IN;
        for (size_t j = i + 2; j < to - 1;) {
            if (!literal(a, k, j, t))
                return false;
            j += 1 + is_punct(k, j, "-");
            if (j < to - 1 && !is_punct(k, j++, ","))
                return false;
        }
        return t->n > 0;
    }
    if (!flipped)
        opi = i;
    /* The scanner gives punctuation a character at a time: ">=" is two tokens. */
    char op[3] = "";
    size_t oplen = 0;
    if (opi < k->n && k->t[opi].kind == TOK_PUNCT) {
        op[oplen++] = k->sql[k->t[opi].start];
        if (opi + 1 < k->n && k->t[opi + 1].kind == TOK_PUNCT && k->t[opi + 1].start == k->t[opi].start + 1 &&
            strchr("=>", k->sql[k->t[opi + 1].start]))
            op[oplen++] = k->sql[k->t[opi + 1].start];
        op[oplen] = '\0';
    }
    for (size_t o = 0; oplen && o < sizeof(ops) / sizeof(ops[0]); o++)
        if (strcmp(op, ops[o].p) == 0) {
            t->op = flipped ? ops[o].flipped : ops[o].op;
            size_t at = flipped ? lit : opi + oplen;
            if (!literal(a, k, at, t))
                return false;
            /* the literal must be the whole other side: "5 + 1" or "5::INT" is not judged */
            return flipped ? at + 1 + is_punct(k, at, "-") == opi : at + 1 + is_punct(k, at, "-") == to;
        }
    return false;
}

/* -1 / 0 / 1 comparing a literal with a stats bound of the same kind. */
static int cmp_bound(const test *t, size_t v, const json *b)
{
    if (t->integer)
        return t->ints[v] < b->i64 ? -1 : t->ints[v] > b->i64;
    size_t n = strlen(t->strs[v]), m = b->len; /* a bound may hold a NUL: compare by length */
    int c = memcmp(t->strs[v], b->str, n < m ? n : m);
    return c ? (c > 0) - (c < 0) : (n > m) - (n < m);
}

/* Whether a string max ends in the character a writer appends to a truncated max
 * (U+FFFD as Spark writes it, U+10FFFF as the protocol suggests): a prefix, no bound. */
static bool tie_breaker(const json *b)
{
    static const char fffd[] = "\xEF\xBF\xBD", top[] = "\xF4\x8F\xBF\xBF";
    return (b->len >= 3 && memcmp(b->str + b->len - 3, fffd, 3) == 0) ||
           (b->len >= 4 && memcmp(b->str + b->len - 4, top, 4) == 0);
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Whether the test is certainly false for every row of a file with these stats. */
static bool never(const test *t, const json *stats)
{
    const json *mins = json_get(stats, "minValues"), *maxs = json_get(stats, "maxValues");
    const json *nulls = json_get(stats, "nullCount"), *recs = json_get(stats, "numRecords");
    if (t->op == OP_NULL) {
        const json *nc = json_get(nulls, t->col->physical);
        return nc && nc->type == JSON_NUMBER && nc->is_int && nc->i64 == 0;
    }
    const json *lo = json_get(mins, t->col->physical), *hi = json_get(maxs, t->col->physical);
    json_type want = t->integer ? JSON_NUMBER : JSON_STRING;
    if (!lo || !hi || lo->type != want || hi->type != want || (t->integer && (!lo->is_int || !hi->is_int))) {
        /* no bounds: only a column that is all nulls is judged (nothing compares true) */
        const json *nc = json_get(nulls, t->col->physical);
        return nc && recs && nc->type == JSON_NUMBER && recs->type == JSON_NUMBER && nc->is_int && recs->is_int &&
               nc->i64 == recs->i64 && recs->i64 > 0;
    }
    /* A string max of 32 characters or more may be a truncated prefix (writers cut
     * long strings; not all of them mark the max so that it still bounds): then there
     * is no upper bound. A truncated min is a prefix, which still bounds from below. */
    bool has_hi = t->integer || (code_points(hi->str) < 32 && !tie_breaker(hi));
    switch (t->op) {
    case OP_EQ: return cmp_bound(t, 0, lo) < 0 || (has_hi && cmp_bound(t, 0, hi) > 0);
    case OP_LT: return cmp_bound(t, 0, lo) <= 0;  /* col < v: no value below v */
    case OP_LE: return cmp_bound(t, 0, lo) < 0;
    case OP_GT: return has_hi && cmp_bound(t, 0, hi) >= 0;
    case OP_GE: return has_hi && cmp_bound(t, 0, hi) > 0;
    case OP_BETWEEN: return cmp_bound(t, 1, lo) < 0 || (has_hi && cmp_bound(t, 0, hi) > 0);
    case OP_IN:
        for (size_t v = 0; v < t->n; v++)
            if (cmp_bound(t, v, lo) >= 0 && (!has_hi || cmp_bound(t, v, hi) <= 0))
                return false;
        return true;
    default: return false;
    }
}

int prune_files(const snapshot *s, const char *where, size_t len, const char *alias, bool strings, bool *skip)
{
    arena a = ARENA_INIT;
    tokens k = {where, len, NULL, 0};
    size_t cap = 0, pos = 0, ntests = 0;
    test *tests = calloc(MAX_TESTS, sizeof(*tests));
    int rc = tests ? 0 : error_set(LOCH_ENOMEM, "out of memory"), skipped = 0;
    sql_token t;
    while (rc == 0 && sqlscan_next(where, len, &pos, &t) == 0 && t.kind != TOK_END) {
        if (k.n == cap) {
            cap = cap ? cap * 2 : 64;
            sql_token *g = realloc(k.t, cap * sizeof(*g));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            k.t = g;
        }
        k.t[k.n++] = t;
    }
    error_clear(); /* an unterminated quote: the engine reports it */
    /* Top-level conjuncts; an OR at the top level (or anything odd) judges nothing. */
    bool any_or = false, between = false;
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; rc == 0 && i <= k.n; i++) {
        if (i < k.n) {
            /* Nesting: brackets of every kind, and CASE ... END. */
            depth += is_punct(&k, i, "(") + is_punct(&k, i, "[") + is_punct(&k, i, "{") + is_word(&k, i, "CASE") -
                     is_punct(&k, i, ")") - is_punct(&k, i, "]") - is_punct(&k, i, "}") - is_word(&k, i, "END");
            any_or = any_or || depth < 0 || (depth == 0 && is_word(&k, i, "OR"));
            if (depth == 0 && is_word(&k, i, "BETWEEN")) {
                between = true; /* its AND is not a conjunction */
                continue;
            }
            if (depth != 0 || !is_word(&k, i, "AND"))
                continue;
            if (between) {
                between = false;
                continue;
            }
        }
        if (i > start && ntests < MAX_TESTS && parse_test(&a, s, &k, start, i, alias, &tests[ntests]) &&
            (strings || tests[ntests].integer))
            ntests++;
        start = i + 1;
    }
    for (size_t f = 0; rc == 0 && !any_or && ntests && f < s->file_count; f++) {
        json *stats = NULL;
        skip[f] = false;
        if (!s->files[f].stats || json_parse(&a, s->files[f].stats, strlen(s->files[f].stats), &stats) < 0) {
            error_clear();
            continue;
        }
        for (size_t i = 0; i < ntests && !skip[f]; i++)
            skip[f] = never(&tests[i], stats);
        skipped += skip[f];
    }
    free(tests);
    free(k.t);
    arena_free(&a);
    return rc < 0 ? rc : skipped;
}
