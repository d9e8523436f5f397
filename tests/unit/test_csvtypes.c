/*
 * tests/unit/test_csvtypes.c - the CSV type rules of formats/csvtypes.c agree with
 * themselves. Ingest types a plain file with the C half of each rule (csvcheck's scan)
 * and a compressed file, or one with rejects or an unusual dialect, with the SQL half
 * (ingest/csv.c); if the halves disagreed, the same bytes would get two schemas.
 *
 * test_csv_kinds pins what a list of spellings is. test_rules_agree is driven by the
 * table: for every rule of csv_types and every value (edge cases, then values made at
 * random around each type's spelling), three answers must match: the rule's own
 * recognizer, the scan's shortcut (csv_value_kinds, one bit per rule), and the rule's
 * SQL test run by the engine. A rule added to the table is tested without a line here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/compute.h"
#include "formats/csvtypes.h"
#include "test.h"
#include "util/buf.h"
#include "util/error.h"

/* Spellings on either side of each rule's edge. */
static const char *const edges[] = {
    "0", "-0", "7", "-12", "007", "+5", "1_000", "0x1F", " 12", "12 ", "1 2", "-", "--1", "",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "1234567890123456", "12345678901234567", "-123456789012345", "-1234567890123456",
    "1.5", "-0.25", "0.5", "00.5", ".5", "5.", "1.2.3", "1e5", "1E5", "1.5E+3", "1e-290", "1e-291", "1e290",
    "1e291", "1e400", "1e0290", "1e-0290", "1e+", "1e", "inf", "-inf", "NaN", "nan", "Infinity",
    "12345678901234.5", "123456789012345.6", "123456789012345.67", "0.000000000000001", "-0.0",
    "true", "TRUE", "True", "false", "FALSE", "fAlSe", "t", "f", "yes", "no", "1", "truee", "fals",
    "2024-02-29", "2023-02-29", "2100-02-29", "2000-02-29", "2024-1-02", "2024-01-2", "2024/01/02",
    "0000-01-01", "0001-01-01", "0999-12-31", "9999-12-31", "2024-13-01", "2024-00-10", "2024-04-31",
    "2024-01-02 03:04:05", "2024-01-02T03:04:05", "2024-01-02t03:04:05", "2024-01-02 03:04:05.5",
    "2024-01-02T03:04:05.5", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.500",
    "2024-01-02 03:04:05.1234567", "2024-01-02 03:04:05.", "2024-01-02 24:00:00", "2024-01-02 23:59:59",
    "2024-01-02 03:04:60", "2024-01-02 03:60:00", "2024-01-02 3:04:05", "2024-01-02 03:04:05Z",
    "2024-01-02 03:04:05+00", "2024-01-02  03:04:05", "2023-02-29 00:00:00", "0999-12-31 23:59:59.999999",
};

enum { RANDOM = 3000 };

static uint32_t seed = 12345;

static unsigned pick(unsigned n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
}

/* A value near some type's spelling: a date, a time, a number or a word, each part
 * sometimes out of range, and sometimes a character changed. */
static void random_value(char *out, size_t cap)
{
    static const char *const words[] = {"true", "false", "TRUE", "False", "tru", "nan", "inf", "e", "T", " "};
    static const char noise[] = "0123456789-+.eE:T tf_";
    int n;
    switch (pick(5)) {
    case 0:
        n = snprintf(out, cap, "%04u-%02u-%02u", pick(3) ? 1900 + pick(200) : pick(10000), pick(14), pick(33));
        break;
    case 1:
        n = snprintf(out, cap, "%04u-%02u-%02u%c%02u:%02u:%02u", 1970 + pick(100), 1 + pick(12), 1 + pick(28),
                     pick(2) ? ' ' : 'T', pick(26), pick(62), pick(62));
        if (pick(2))
            n += snprintf(out + n, cap - (size_t)n, ".%0*u", (int)(1 + pick(7)), pick(10000000));
        break;
    case 2:
        n = snprintf(out, cap, "%s%u%u%u", pick(4) ? "" : "-", pick(10), pick(1000000), pick(1000000000));
        if (pick(2))
            n += snprintf(out + n, cap - (size_t)n, ".%u", pick(100000));
        if (pick(3) == 0)
            n += snprintf(out + n, cap - (size_t)n, "e%s%u", pick(2) ? "-" : pick(2) ? "+" : "", 280 + pick(20));
        break;
    case 3:
        n = snprintf(out, cap, "%s", words[pick(sizeof(words) / sizeof(words[0]))]);
        break;
    default:
        n = (int)pick(24);
        for (int i = 0; i < n; i++)
            out[i] = noise[pick(sizeof(noise) - 1)];
        out[n] = '\0';
        break;
    }
    if (n > 0 && pick(8) == 0)
        out[pick((unsigned)n)] = noise[pick(sizeof(noise) - 1)];
}

/* The C answers: each recognizer on its own, and the scan's shortcut. */
static void check_c(const char *v)
{
    size_t n = strlen(v);
    unsigned all = 0;
    for (int t = 0; t < CSV_NTYPES; t++) {
        CHECK(csv_types[t].kind == 1u << t);
        all |= csv_types[t].accepts(v, n) ? csv_types[t].kind : 0;
    }
    if (csv_value_kinds(v, n) != all)
        fprintf(stderr, "  \"%s\": csv_value_kinds %u, the recognizers %u\n", v, csv_value_kinds(v, n), all);
    CHECK(csv_value_kinds(v, n) == all);
    for (unsigned want = 0; want <= CSV_ALL; want++)
        CHECK(csv_value_kinds_in(v, n, want) == (all & want));
}

/* The SQL answers for values[0..n), one query: a row per value, a column per rule. */
static void check_sql(compute *cp, char **values, size_t n)
{
    buf sql = BUF_INIT;
    compute_result *r = NULL;
    int rc = buf_puts(&sql, "SELECT i");
    for (int t = 0; rc == 0 && t < CSV_NTYPES; t++)
        rc = buf_puts(&sql, ", ") || csv_type_test(&sql, &csv_types[t], "\"the value\"") ? LOCH_ENOMEM : 0;
    rc = rc || buf_puts(&sql, " FROM (VALUES ") ? LOCH_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_printf(&sql, "%s(%zu, ", i ? ", " : "", i) || buf_put_sql_str(&sql, values[i]) ||
             buf_puts(&sql, "::VARCHAR)") ? LOCH_ENOMEM : 0;
    rc = rc || buf_puts(&sql, ") AS t(i, \"the value\") ORDER BY i") ? LOCH_ENOMEM : 0;
    CHECK_OK(rc);
    CHECK_OK(rc = rc ? rc : compute_query(cp, sql.data, &r));
    CHECK(rc < 0 || compute_result_rows(r) == n);
    for (size_t i = 0; rc == 0 && i < n && i < compute_result_rows(r); i++) {
        size_t len = strlen(values[i]);
        for (int t = 0; t < CSV_NTYPES; t++) {
            char *cell = compute_result_text(r, i, 1 + (size_t)t);
            int sql_says = cell && strcmp(cell, "true") == 0, c_says = csv_types[t].accepts(values[i], len);
            if (sql_says != c_says)
                fprintf(stderr, "  \"%s\" as %s: C %d, SQL %s\n", values[i], csv_types[t].sql_type, c_says,
                        cell ? cell : "NULL");
            CHECK(sql_says == c_says);
            free(cell);
        }
    }
    compute_result_free(r);
    buf_free(&sql);
}

static void test_rules_agree(void)
{
    enum { NEDGES = sizeof(edges) / sizeof(edges[0]) };
    char **values = calloc(NEDGES + RANDOM, sizeof(char *));
    compute *cp = NULL;
    compute_options opts = {.threads = 1};
    CHECK(values != NULL);
    if (!values)
        return;
    for (size_t i = 0; i < NEDGES; i++)
        values[i] = strdup(edges[i]);
    for (size_t i = NEDGES; i < NEDGES + RANDOM; i++) {
        char v[64];
        random_value(v, sizeof(v));
        values[i] = strdup(v);
    }
    for (size_t i = 0; i < NEDGES + RANDOM; i++)
        check_c(values[i]);
    CHECK_OK(compute_open(&cp, &opts, NULL, NULL));
    if (cp)
        check_sql(cp, values, NEDGES + RANDOM);
    compute_free(cp);
    for (size_t i = 0; i < NEDGES + RANDOM; i++)
        free(values[i]);
    free(values);
}

/* The canonical spellings: what the SQL engine prints for a value of the type. */
static void test_csv_kinds(void)
{
    static const struct { const char *v; unsigned k; } cases[] = {
        {"0", CSV_BIGINT | CSV_DOUBLE}, {"-12", CSV_BIGINT | CSV_DOUBLE}, {"007", 0}, {"-0", CSV_DOUBLE},
        {"+5", 0}, {"1_000", 0}, {"0x1F", 0}, {" 12", 0}, {"12 ", 0},
        {"9223372036854775807", CSV_BIGINT}, {"9223372036854775808", 0}, {"-9223372036854775808", CSV_BIGINT},
        {"1234567890123456", CSV_BIGINT | CSV_DOUBLE}, {"12345678901234567", CSV_BIGINT},
        {"1.5", CSV_DOUBLE}, {"-0.25", CSV_DOUBLE}, {"0.5", CSV_DOUBLE}, {"00.5", 0}, {".5", 0}, {"5.", 0},
        {"1e5", CSV_DOUBLE}, {"1.5E+3", CSV_DOUBLE}, {"1e-290", CSV_DOUBLE}, {"1e291", 0}, {"1e400", 0},
        {"inf", 0}, {"NaN", 0}, {"1.2.3", 0}, {"12345678901234.5", CSV_DOUBLE}, {"123456789012345.67", 0},
        {"true", CSV_BOOLEAN}, {"FALSE", CSV_BOOLEAN}, {"t", 0}, {"yes", 0},
        {"2024-02-29", CSV_DATE}, {"2023-02-29", 0}, {"2024-1-02", 0}, {"0000-01-01", 0}, {"0999-12-31", CSV_DATE},
        {"2024-01-02 03:04:05", CSV_TIMESTAMP}, {"2024-01-02T03:04:05.5", CSV_TIMESTAMP},
        {"2024-01-02 03:04:05.123456", CSV_TIMESTAMP}, {"2024-01-02 03:04:05.500", 0}, {"2024-01-02 24:00:00", 0},
        {"2024-01-02 03:04:05.", 0}, {"2024-01-02 03:04:05.1234567", 0}, {"2024-01-02 03:04:60", 0}, {"", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned k = csv_value_kinds(cases[i].v, strlen(cases[i].v));
        if (k != cases[i].k)
            fprintf(stderr, "  \"%s\": kinds %u, expected %u\n", cases[i].v, k, cases[i].k);
        CHECK(k == cases[i].k);
    }
}

/* The rule's SQL names the column it is given wherever the text says v, and only there. */
static void test_column_substitution(void)
{
    for (int t = 0; t < CSV_NTYPES; t++) {
        buf sql = BUF_INIT;
        CHECK_OK(csv_type_test(&sql, &csv_types[t], "\"c\""));
        CHECK(sql.data && strstr(sql.data, "(\"c\"") != NULL);
        CHECK(sql.data && strstr(sql.data, "(v") == NULL && strstr(sql.data, " v ") == NULL);
        buf_free(&sql);
    }
}

TEST_MAIN(T(test_csv_kinds), T(test_rules_agree), T(test_column_substitution))
