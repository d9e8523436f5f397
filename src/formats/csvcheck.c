/*
 * formats/csvcheck.c - field counting and conservative typing per record; see csvcheck.h.
 * Blank lines are not records (CSV readers skip them too). A field's value is typed by
 * the rules of formats/csvtypes.c, and only while its column may still be something
 * other than text. Fuzzed by fuzz/fuzz_csvcheck.c.
 */
#include "formats/csvcheck.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

void csvcheck_init(csvcheck *c, char delim, char quote)
{
    *c = (csvcheck){.delim = delim, .quote = quote, .line = 1, .cur_line = 1, .fields = 1, .expect = -1};
    c->special[(unsigned char)delim] = 1;
    c->special[(unsigned char)quote] = quote != 0;
    c->special['\n'] = c->special['\r'] = 1;
}

void csvcheck_types(csvcheck *c, int64_t header_records)
{
    c->typing = 1;
    c->skip_records = header_records;
    c->want = 1;
}

void csvcheck_free(csvcheck *c)
{
    free(c->kinds);
    free(c->seen);
    c->kinds = c->seen = NULL;
    c->ncols = c->cap = 0;
}

static void blank_field(csvcheck *c)
{
    c->flen = 0;
    c->fstate = 0;
    c->fodd = 0;
    c->cr = 0;
}

static int grow(csvcheck *c, size_t cols)
{
    if (cols > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        while (cap < cols)
            cap *= 2;
        unsigned char *k = realloc(c->kinds, cap), *s = k ? realloc(c->seen, cap) : NULL;
        if (k)
            c->kinds = k;
        if (!k || !s) {
            c->oom = 1;
            return -1;
        }
        c->seen = s;
        c->cap = cap;
    }
    for (; c->ncols < cols; c->ncols++) {
        c->kinds[c->ncols] = CSV_ALL;
        c->seen[c->ncols] = 0;
    }
    return 0;
}

static void end_field(csvcheck *c)
{
    size_t col = (size_t)(c->fields - 1);
    if (c->typing && c->records >= c->skip_records && (col < c->ncols || grow(c, col + 1) == 0)) {
        if (c->fodd || c->cr) {
            c->kinds[col] = 0;
            c->seen[col] = 1;
        } else if (c->flen) {
            c->seen[col] = 1;
            if (c->kinds[col])
                c->kinds[col] = c->flen > sizeof(c->field)
                                    ? 0 : (unsigned char)csv_value_kinds_in(c->field, c->flen, c->kinds[col]);
        }
    }
    blank_field(c);
}

static int end_record(csvcheck *c)
{
    if (c->record_has_data) {
        c->records++;
        if (!c->first_record_line)
            c->first_record_line = c->line;
        if (c->expect < 0) {
            c->expect = c->fields;
        } else if (c->fields != c->expect && !c->bad_line) {
            c->bad_line = c->line;
            c->bad_fields = c->fields;
            c->bad_record = c->records;
        }
    }
    c->fields = 1;
    c->record_has_data = 0;
    c->line = c->cur_line;
    return c->bad_line != 0;
}

/* Whether the field about to start needs its bytes: only while its column may still
 * be something other than text. */
static void field_starts(csvcheck *c)
{
    size_t col = (size_t)(c->fields - 1);
    c->want = c->typing && !c->oom && (col >= c->ncols || c->kinds[col] != 0);
}

static void keep(csvcheck *c, const unsigned char *p, size_t n)
{
    if (c->want)
        for (size_t i = 0; i < n && c->flen + i < sizeof(c->field); i++)
            c->field[c->flen + i] = (char)p[i];
    c->flen += n;
}

/* The first byte at or after p that is a delimiter, quote, CR or LF (or end). Sixteen
 * bytes are compared at a time: fields are short, but most bytes are in them. */
static const unsigned char *skip_plain(const csvcheck *c, const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8(c->delim), q = _mm_set1_epi8(c->quote ? c->quote : '\n'),
                  lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, q)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && !c->special[*p])
        p++;
    return p;
}

/* Inside quotes: the closing quote (or end), counting the line ends passed. */
static const unsigned char *skip_quoted(csvcheck *c, const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8(c->quote), lf = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q));
        unsigned lines = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
        if (quotes) {
            unsigned at = (unsigned)__builtin_ctz(quotes);
            c->cur_line += __builtin_popcount(lines & ((1u << at) - 1));
            return p + at;
        }
        c->cur_line += __builtin_popcount(lines);
        p += 16;
    }
#endif
    while (p < end && *p != (unsigned char)c->quote)
        c->cur_line += *p++ == '\n';
    return p;
}

/* Every byte of a file goes through here. Runs of ordinary bytes (and the inside of
 * quotes) are skipped by a table lookup and copied in one piece; only delimiters,
 * quotes and line ends are looked at one by one. */
static void feed(csvcheck *c, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *begin = p;
    while (p < end && !c->bad_line) {
        const unsigned char *q = p;
        if (c->in_quote) {
            q = skip_quoted(c, p, end);
            keep(c, p, (size_t)(q - p));
            if (q == end)
                return;
            c->in_quote = 0; /* a doubled quote reopens at once: same count */
            c->fstate = 2;
            p = q + 1;
            continue;
        }
        q = skip_plain(c, p, end);
        if (q > p) {
            c->record_has_data = 1;
            c->fodd |= c->fstate == 2 || c->cr; /* text after a closing quote or a CR */
            keep(c, p, (size_t)(q - p));
            if (q == end)
                return;
        }
        unsigned char ch = *q;
        p = q + 1;
        if (c->quote && ch == (unsigned char)c->quote) {
            c->in_quote = 1;
            c->quote_line = c->cur_line;
            c->record_has_data = 1;
            c->fodd |= c->fstate != 0 || c->flen != 0 || c->cr; /* "" inside, or text then a quote */
            c->fstate = 1;
        } else if (ch == (unsigned char)c->delim) {
            end_field(c);
            c->fields++;
            c->record_has_data = 1;
            field_starts(c);
        } else if (ch == '\n') {
            int64_t at = c->consumed + (int64_t)(q - begin);
            c->cur_line++;
            c->cr = 0; /* CR LF ends a line like LF */
            if (c->record_has_data || c->fields > 1)
                end_field(c);
            else
                blank_field(c);
            if (c->max_record && at - c->record_start > c->max_record && c->record_has_data && !c->bad_line) {
                c->bad_line = c->line;
                c->bad_fields = c->fields;
                c->bad_kind = CSV_TOO_LONG;
                c->bad_record = c->records + 1;
            }
            if (at - c->record_start > c->longest)
                c->longest = at - c->record_start;
            c->record_start = at + 1;
            end_record(c);
            field_starts(c);
        } else { /* '\r' */
            c->cr = 1;
        }
    }
}

int csvcheck_feed(csvcheck *c, const char *data, size_t n)
{
    feed(c, (const unsigned char *)data, (const unsigned char *)data + n);
    c->consumed += (int64_t)n;
    return c->bad_line != 0;
}

int csvcheck_finish(csvcheck *c)
{
    if (!c->bad_line) {
        if (c->record_has_data || c->fields > 1)
            end_field(c);
        if (c->consumed - c->record_start > c->longest)
            c->longest = c->consumed - c->record_start;
        if (c->max_record && c->consumed - c->record_start > c->max_record && c->record_has_data) {
            c->bad_line = c->line;
            c->bad_fields = c->fields;
            c->bad_kind = CSV_TOO_LONG;
            c->bad_record = c->records + 1;
        } else if (c->in_quote) {
            c->bad_line = c->quote_line;
            c->bad_fields = c->fields;
            c->bad_kind = CSV_UNCLOSED;
            c->bad_record = c->records + 1;
        }
        end_record(c);
    }
    return c->bad_line != 0;
}

int csvcheck_at_record_start(const csvcheck *c)
{
    return !c->in_quote && !c->record_has_data && c->fields == 1 && c->flen == 0 && !c->fstate && !c->cr &&
           c->records >= c->skip_records;
}

int csvcheck_merge(csvcheck *a, const csvcheck *b)
{
    int64_t shift = a->cur_line - 1;
    if (!a->bad_line && b->first_record_line) {
        if (a->expect < 0)
            a->expect = b->expect;
        if (b->bad_kind != CSV_RAGGED && b->bad_record == 1) {
            a->bad_line = b->bad_line + shift; /* its first record is too long or never ends */
            a->bad_fields = b->bad_fields;
            a->bad_kind = b->bad_kind;
        } else if (b->expect != a->expect) {
            a->bad_line = b->first_record_line + shift;
            a->bad_fields = b->expect;
        } else if (b->bad_line) {
            a->bad_line = b->bad_line + shift;
            a->bad_fields = b->bad_fields;
            a->bad_kind = b->bad_kind;
        }
    }
    if (!a->first_record_line && b->first_record_line)
        a->first_record_line = b->first_record_line + shift;
    a->records += b->records;
    a->longest = b->longest > a->longest ? b->longest : a->longest;
    a->consumed += b->consumed;
    a->record_start = a->consumed - (b->consumed - b->record_start);
    a->line = b->line + shift;
    a->cur_line = b->cur_line + shift;
    a->in_quote = b->in_quote;
    a->fields = b->fields;
    a->record_has_data = b->record_has_data;
    a->oom |= b->oom;
    if (a->typing && b->ncols > a->ncols && grow(a, b->ncols) < 0)
        return -1;
    for (size_t i = 0; a->typing && i < b->ncols; i++) {
        a->kinds[i] &= b->kinds[i];
        a->seen[i] |= b->seen[i];
    }
    return 0;
}

unsigned csvcheck_column_kind(const csvcheck *c, size_t i)
{
    if (i >= c->ncols || !c->seen[i] || c->oom)
        return 0;
    unsigned k = c->kinds[i];
    return k & (unsigned)-(int)k; /* the lowest bit: the first kind in order */
}
