/*
 * core/stats.c - building an add action's statistics. See stats.h for the rules; each
 * column's pair of bounds is decided once (column_bounds), so a min is never written
 * without its max.
 */
#include "core/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/misc.h"

#define PREFIX_BYTES 32

/* U+10FFFF in UTF-8, the greatest code point: what follows a max cut for length. */
static const char TIE_BREAKER[] = "\xF4\x8F\xBF\xBF";
#define TIE_BREAKER_BYTES (sizeof(TIE_BREAKER) - 1)

/* A column's bounds as written. min and max point into the engine's text, or max at
 * cut, which holds a cut max and its successor. */
typedef struct {
    const char *min, *max;
    size_t min_len, max_len;
    char cut[PREFIX_BYTES + TIE_BREAKER_BYTES];
    char tmin[32], tmax[32]; /* timestamps, rewritten in milliseconds */
} bounds;

bool stats_has_bounds(const char *delta_type)
{
    static const char *ok[] = {"\"byte\"", "\"short\"", "\"integer\"", "\"long\"", "\"float\"",
                               "\"double\"", "\"string\"", "\"date\"", "\"timestamp\"", "\"timestamp_ntz\""};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(delta_type, ok[i]) == 0)
            return true;
    return strncmp(delta_type, "\"decimal(", 9) == 0;
}

static bool is_flat(const char *delta_type) { return delta_type[0] == '"'; }

static size_t skip_digits(const char *v, size_t n, size_t i)
{
    while (i < n && v[i] >= '0' && v[i] <= '9')
        i++;
    return i;
}

/* Whether v is a JSON number (RFC 8259). The engine also writes inf, -inf and nan, and
 * a log line holding one of them is no JSON at all. */
static bool is_json_number(const char *v, size_t n)
{
    size_t i = n > 0 && v[0] == '-', j = skip_digits(v, n, i);
    if (j == i || (v[i] == '0' && j > i + 1))
        return false; /* no integer part, or a leading zero */
    if (j < n && v[j] == '.') {
        i = j + 1;
        if ((j = skip_digits(v, n, i)) == i)
            return false;
    }
    if (j < n && (v[j] == 'e' || v[j] == 'E')) {
        i = j + 1 + (j + 1 < n && (v[j + 1] == '+' || v[j + 1] == '-'));
        if ((j = skip_digits(v, n, i)) == i)
            return false;
    }
    return j == n;
}

/* Whether v is YYYY-MM-DD in years 0001-9999, the only dates every reader parses. */
static bool is_plain_date(const char *v, size_t n)
{
    if (n != 10 || v[4] != '-' || v[7] != '-' || memcmp(v, "0000", 4) == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9'))
            return false;
    return true;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The engine's timestamp text, "YYYY-MM-DD HH:MM:SS[.ffffff][+00]" in years 0001-9999
 * (a zoned one is always shown in UTC), as microseconds since the epoch. */
static bool engine_timestamp(const char *v, size_t n, int64_t *us)
{
    int y, mo, d, h, mi, s, used = 0;
    char t[40];
    if (n < 19 || n >= sizeof(t) || !is_plain_date(v, 10) || v[10] != ' ')
        return false;
    memcpy(t, v, n);
    t[n] = '\0';
    if (sscanf(t, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 || used != 19 || h > 23 ||
        mi > 59 || s > 59 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    int64_t frac = 0;
    size_t i = 19;
    if (i < n && t[i] == '.') {
        size_t digits = 0;
        for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++, digits++)
            if (digits < 6)
                frac = frac * 10 + (t[i] - '0');
            else if (t[i] != '0')
                return false; /* below a microsecond: not the engine's */
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (i < n && strcmp(t + i, "+00") != 0)
        return false;
    *us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000000) + frac;
    return true;
}

/* ms as Delta writes a timestamp bound: "YYYY-MM-DDTHH:MM:SS.mmmZ" (no Z for one
 * without time zone). False past year 9999. */
static bool delta_timestamp(int64_t ms, bool zoned, char out[32])
{
    if (ms >= 253402300800000LL) /* 10000-01-01 */
        return false;
    iso8601_format_ms(ms, out);
    if (!zoned)
        out[strlen(out) - 1] = '\0';
    return true;
}

/* Timestamp bounds in milliseconds, Delta's precision: the min rounded down, the max up,
 * so both still hold for every microsecond in the file. */
static bool timestamp_bounds(const stats_column *c, bounds *b)
{
    int64_t lo, hi;
    bool zoned = strcmp(c->delta_type, "\"timestamp\"") == 0;
    if (!engine_timestamp(c->min, c->min_len, &lo) || !engine_timestamp(c->max, c->max_len, &hi))
        return false;
    int64_t lo_ms = lo >= 0 ? lo / 1000 : -((-lo + 999) / 1000), hi_ms = hi >= 0 ? (hi + 999) / 1000 : -(-hi / 1000);
    if (!delta_timestamp(lo_ms, zoned, b->tmin) || !delta_timestamp(hi_ms, zoned, b->tmax))
        return false;
    b->min = b->tmin;
    b->max = b->tmax;
    b->min_len = strlen(b->tmin);
    b->max_len = strlen(b->tmax);
    return true;
}

/* Where a string bound ends: at v's first NUL (*at_nul, when asked), else at PREFIX_BYTES moved
 * back to the start of a UTF-8 sequence, else at n. */
static size_t string_cut(const char *v, size_t n, bool *at_nul)
{
    size_t limit = n;
    if (n > PREFIX_BYTES) {
        limit = PREFIX_BYTES;
        while (limit > 0 && ((unsigned char)v[limit] & 0xC0) == 0x80)
            limit--;
    }
    const char *nul = memchr(v, '\0', limit);
    if (at_nul)
        *at_nul = nul != NULL;
    return nul ? (size_t)(nul - v) : limit;
}

static bool string_bounds(const stats_column *c, bounds *b)
{
    bool at_nul;
    size_t n = string_cut(c->max, c->max_len, &at_nul);
    *b = (bounds){c->min, c->max, string_cut(c->min, c->min_len, NULL), n, {0}, {0}, {0}};
    if (n == c->max_len)
        return true;
    if (!at_nul) {
        /* prefix + U+10FFFF is above the max unless the rest sorts above U+10FFFF,
         * which only U+10FFFF followed by more can */
        size_t rest = c->max_len - n;
        int cmp = memcmp(c->max + n, TIE_BREAKER, rest < TIE_BREAKER_BYTES ? rest : TIE_BREAKER_BYTES);
        if (cmp > 0 || (cmp == 0 && rest > TIE_BREAKER_BYTES))
            return false;
    }
    /* at a NUL, any byte above it makes a successor; 0x01 is the least */
    const char *next = at_nul ? "\x01" : TIE_BREAKER;
    memcpy(b->cut, c->max, n);
    memcpy(b->cut + n, next, strlen(next));
    b->max = b->cut;
    b->max_len = n + strlen(next);
    return true;
}

/* Decides a column's min and max together: false when it gets neither. */
static bool column_bounds(const stats_column *c, bounds *b)
{
    if (!stats_has_bounds(c->delta_type) || c->has_nan || !c->min || !c->max)
        return false;
    if (strcmp(c->delta_type, "\"string\"") == 0)
        return string_bounds(c, b);
    if (strncmp(c->delta_type, "\"timestamp", 10) == 0)
        return timestamp_bounds(c, b);
    *b = (bounds){c->min, c->max, c->min_len, c->max_len, {0}, {0}, {0}};
    if (strcmp(c->delta_type, "\"date\"") == 0)
        return is_plain_date(b->min, b->min_len) && is_plain_date(b->max, b->max_len);
    return is_json_number(b->min, b->min_len) && is_json_number(b->max, b->max_len);
}

/* Appends "name":value to an object being written; a value is quoted when text. */
static int put_entry(buf *b, const char *name, const char *v, size_t n, bool text, bool *first)
{
    int rc = (*first ? 0 : buf_putc(b, ',')) || buf_put_json_str(b, name) || buf_putc(b, ':') ? LOCH_ENOMEM : 0;
    *first = false;
    if (rc)
        return rc;
    return text ? buf_put_json_strn(b, v, n) : buf_put(b, v, n);
}

/* Whether a flat column has values in this file yet gets no bounds: a type loch gives
 * none (timestamp, boolean, binary) counts too, since delta-rs skips the file for a
 * filter on any column missing from minValues. */
static bool lacks_bounds(const stats_column *c, int64_t rows)
{
    bounds b;
    if (!is_flat(c->delta_type) || column_bounds(c, &b))
        return false;
    return !c->null_count || strtoll(c->null_count, NULL, 10) < rows;
}

int stats_json(int64_t rows, const stats_column *cols, size_t n, buf *out)
{
    /* delta-rs reads a column missing from minValues/maxValues as a null bound and skips
     * the file for any filter on it, so such a file gets no bounds at all; a column of
     * nulls only is the exception, as delta-rs takes its nullCount first. */
    bool bounded = true;
    for (size_t i = 0; i < n; i++)
        bounded = bounded && !lacks_bounds(&cols[i], rows);
    int rc = buf_printf(out, "{\"numRecords\":%lld", (long long)rows);
    for (int k = bounded ? 0 : 2; k < 3 && !rc; k++) {
        bool first = true;
        rc = buf_puts(out, k == 0 ? ",\"minValues\":{" : k == 1 ? ",\"maxValues\":{" : ",\"nullCount\":{");
        for (size_t i = 0; !rc && i < n; i++) {
            const stats_column *c = &cols[i];
            bounds b;
            if (k < 2 && column_bounds(c, &b)) {
                bool text = strcmp(c->delta_type, "\"string\"") == 0 || strcmp(c->delta_type, "\"date\"") == 0 ||
                            strncmp(c->delta_type, "\"timestamp", 10) == 0;
                rc = put_entry(out, c->name, k == 0 ? b.min : b.max, k == 0 ? b.min_len : b.max_len, text, &first);
            } else if (k == 2 && is_flat(c->delta_type) && c->null_count &&
                       is_json_number(c->null_count, strlen(c->null_count))) {
                rc = put_entry(out, c->name, c->null_count, strlen(c->null_count), false, &first);
            }
        }
        rc = rc ? rc : buf_putc(out, '}');
    }
    return rc ? rc : buf_putc(out, '}');
}
