/*
 * formats/csvtypes.c - the CSV type rules; see csvtypes.h. The canonical spellings
 * (what the engine prints for a value of the type):
 *   BIGINT     -?(0|[1-9][0-9]*) within int64, but not "-0"
 *   DOUBLE     -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? in at most 16 characters
 *              (15 significant digits survive a double) with |exponent| <= 290 (so
 *              the value is finite and not rounded to zero)
 *   BOOLEAN    true or false, any case
 *   DATE       YYYY-MM-DD, a real day of year 0001-9999
 *   TIMESTAMP  a DATE, ' ' or 'T', HH:MM:SS (00-23, 00-59, 00-59), optionally . and
 *              1-6 digits not ending in 0
 *
 * Each recognizer checks one type on its own, as the table lists them; kinds_in, which
 * the scan runs on every field, checks several at once and stops early where one
 * answer settles the others.
 */
#include "formats/csvtypes.h"

#include <ctype.h>
#include <string.h>

#include "util/error.h"

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static int is_bigint(const char *s, size_t n)
{
    int neg = n && s[0] == '-';
    const char *d = s + neg;
    size_t m = n - (size_t)neg;
    if (m == 0 || m > 19 || !all_digits(d, m) || (d[0] == '0' && (m > 1 || neg)))
        return 0;
    if (m < 19)
        return 1;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? with |exponent| <= 290 */
static int double_grammar(const char *s, size_t n)
{
    size_t i = 0, start;
    if (n == 0)
        return 0;
    if (s[i] == '-')
        i++;
    start = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == start || (s[start] == '0' && i - start > 1))
        return 0;
    if (i < n && s[i] == '.') {
        start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        start = i;
        int exp = 0;
        while (i < n && is_digit(s[i]) && exp <= 290)
            exp = exp * 10 + (s[i++] - '0');
        if (i == start || exp > 290)
            return 0;
    }
    return i == n;
}

static int is_double(const char *s, size_t n) { return n <= 16 && double_grammar(s, n); }

static int is_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' || !all_digits(s + 8, 2))
        return 0;
    int y = num2(s) * 100 + num2(s + 2), m = num2(s + 5), d = num2(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

static int is_timestamp(const char *s, size_t n)
{
    if (n < 19 || n == 20 || n > 26 || !is_date(s) || (s[10] != ' ' && s[10] != 'T'))
        return 0;
    const char *t = s + 11;
    if (!all_digits(t, 2) || t[2] != ':' || !all_digits(t + 3, 2) || t[5] != ':' || !all_digits(t + 6, 2))
        return 0;
    if (num2(t) > 23 || num2(t + 3) > 59 || num2(t + 6) > 59)
        return 0;
    if (n == 19)
        return 1;
    return s[19] == '.' && all_digits(s + 20, n - 20) && s[n - 1] != '0';
}

static int is_boolean(const char *s, size_t n)
{
    if (n != 4 && n != 5)
        return 0;
    char low[5];
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    return (n == 4 && !memcmp(low, "true", 4)) || (n == 5 && !memcmp(low, "false", 5));
}

static int is_day(const char *s, size_t n) { return n == 10 && is_date(s); }

const csv_type csv_types[CSV_NTYPES] = {
    /* an integer, a date, a timestamp: the value's own canonical spelling, so 007, +5,
     * 1_000, 0x1F, " 12" and 2024-1-2 fail without a list of exceptions */
    {CSV_BIGINT, "BIGINT", "\"long\"", is_bigint,
     "CASE WHEN ascii(v) BETWEEN 45 AND 57 THEN coalesce(TRY_CAST(v AS BIGINT)::VARCHAR = v, false) ELSE false END"},
    /* the grammar of double_grammar, at most 16 characters, |exponent| <= 290 */
    {CSV_DOUBLE, "DOUBLE", "\"double\"", is_double,
     "CASE WHEN ascii(v) BETWEEN 45 AND 57 THEN length(v) <= 16 AND "
     "regexp_full_match(v, '-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?') AND "
     "abs(coalesce(TRY_CAST(regexp_extract(v, '[eE][+]?(-?[0-9]+)$', 1) AS BIGINT), 0)) <= 290 ELSE false END"},
    {CSV_BOOLEAN, "BOOLEAN", "\"boolean\"", is_boolean,
     "CASE WHEN length(v) BETWEEN 4 AND 5 THEN lower(v) IN ('true', 'false') ELSE false END"},
    {CSV_DATE, "DATE", "\"date\"", is_day,
     "CASE WHEN length(v) = 10 AND ascii(v) BETWEEN 48 AND 57 THEN coalesce(TRY_CAST(v AS DATE)::VARCHAR = v, false) "
     "ELSE false END"},
    {CSV_TIMESTAMP, "TIMESTAMP", "\"timestamp_ntz\"", is_timestamp,
     "CASE WHEN length(v) BETWEEN 19 AND 26 AND ascii(v) BETWEEN 48 AND 57 THEN "
     "coalesce(TRY_CAST(v AS TIMESTAMP)::VARCHAR = replace(v, 'T', ' '), false) ELSE false END"}};

int csv_type_test(buf *out, const csv_type *t, const char *column)
{
    /* v is the column wherever it stands alone: the tests are written once, as text. */
    const char *test = t->sql_test;
    for (const char *p = test; *p; p++) {
        int alone = p[0] == 'v' && !isalnum((unsigned char)p[1]) && (p == test || !isalnum((unsigned char)p[-1]));
        if (alone ? buf_puts(out, column) : buf_putc(out, *p))
            return LOCH_ENOMEM;
    }
    return 0;
}

/* The kinds among want that s[0..n) is: only those checks run (a column that has been
 * all dates so far needs only the date check). */
static unsigned kinds_in(const char *s, size_t n, unsigned want)
{
    unsigned k = 0;
    if (n == 0)
        return 0;
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-') {
        /* A canonical integer of up to 16 characters is a canonical double too, and
         * neither a date nor a timestamp: the common cases decide early. */
        if ((want & CSV_BIGINT) && is_bigint(s, n))
            return (CSV_BIGINT | (n <= 16 ? CSV_DOUBLE : 0)) & want;
        if ((want & CSV_DOUBLE) && is_double(s, n))
            return CSV_DOUBLE; /* a double has no '-' after its start: no date either */
        if ((want & CSV_DATE) && n == 10)
            k = is_date(s) ? CSV_DATE : 0;
        else if ((want & CSV_TIMESTAMP) && is_timestamp(s, n))
            k = CSV_TIMESTAMP;
        return k;
    }
    return (want & CSV_BOOLEAN) && is_boolean(s, n) ? CSV_BOOLEAN : 0;
}

unsigned csv_value_kinds(const char *s, size_t n) { return kinds_in(s, n, CSV_ALL); }

unsigned csv_value_kinds_in(const char *s, size_t n, unsigned want) { return want ? kinds_in(s, n, want) : 0; }

unsigned csv_number_kinds(const char *s, size_t n, unsigned want)
{
    if (!(want & (CSV_BIGINT | CSV_DOUBLE)))
        return 0;
    if (is_bigint(s, n))
        return CSV_BIGINT | (n <= 16 ? CSV_DOUBLE : 0);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            return double_grammar(s, n) ? CSV_DOUBLE : 0;
    return 0; /* an integer beyond int64 (or not a number) */
}
