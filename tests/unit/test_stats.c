/*
 * tests/unit/test_stats.c - Delta file statistics: what may be a bound and what is left
 * out (core/stats.h). Oracle: the Delta protocol, "Per-file Statistics" - a reader may
 * skip a file only by bounds that hold, so every doubtful value must be absent - and
 * delta-rs, which skips wrongly when a column with values lacks a min or a max.
 */
#include <string.h>

#include "core/stats.h"
#include "test.h"
#include "util/error.h"

/* A literal and its length, NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static const char *json_of(const stats_column *c, size_t n, int64_t rows)
{
    static buf out;
    buf_free(&out);
    CHECK_OK(stats_json(rows, c, n, &out));
    return out.data;
}

/* A column whose values are C strings. */
static stats_column col(const char *name, const char *type, const char *min, const char *max, const char *nulls,
                        bool has_nan)
{
    return (stats_column){name, type, min, max, min ? strlen(min) : 0, max ? strlen(max) : 0, nulls, has_nan};
}

static void test_bounds_by_type(void)
{
    static const struct {
        const char *type;
        bool bounds;
    } rows[] = {
        {"\"byte\"", true}, {"\"short\"", true}, {"\"integer\"", true}, {"\"long\"", true}, {"\"float\"", true},
        {"\"double\"", true}, {"\"decimal(10,2)\"", true}, {"\"string\"", true}, {"\"date\"", true},
        {"\"timestamp\"", true}, {"\"timestamp_ntz\"", true}, {"\"boolean\"", false}, {"\"binary\"", false},
        {"{\"type\":\"struct\",\"fields\":[]}", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK(stats_has_bounds(rows[i].type) == rows[i].bounds);
}

static void test_plain_file(void)
{
    stats_column c[] = {
        col("id", "\"long\"", "1", "9", "0", false),
        col("name", "\"string\"", "ann", "zed", "2", false),
        col("at", "\"timestamp_ntz\"", "2026-01-01 00:00:00.123456", "2026-02-01 00:00:00.999999", "1", false),
        col("tags", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}", NULL, NULL, "0", false),
    };
    CHECK_STR(json_of(c, 4, 10), "{\"numRecords\":10,\"minValues\":{\"id\":1,\"name\":\"ann\","
                                 "\"at\":\"2026-01-01T00:00:00.123\"},\"maxValues\":{\"id\":9,\"name\":\"zed\","
                                 "\"at\":\"2026-02-01T00:00:01.000\"},\"nullCount\":{\"id\":0,\"name\":2,\"at\":1}}");
}

/* One column's engine values and the bounds written for it: both or neither (NULL). */
static void test_bounds_of_a_column(void)
{
#define Z32 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
#define MAX_CHAR "\xf4\x8f\xbf\xbf" /* U+10FFFF */
    static const struct {
        const char *type;
        const char *min;
        size_t min_len;
        const char *max;
        size_t max_len;
        const char *want_min, *want_max;
    } rows[] = {
        {"\"long\"", S("-3"), S("9"), "-3", "9"},
        {"\"decimal(10,2)\"", S("-12.50"), S("99.99"), "-12.50", "99.99"},
        {"\"double\"", S("-0.5"), S("1.5e+300"), "-0.5", "1.5e+300"},
        /* not JSON numbers: no bounds, not one of the pair */
        {"\"double\"", S("-inf"), S("inf"), NULL, NULL},
        {"\"double\"", S("1.5"), S("inf"), NULL, NULL},
        {"\"float\"", S("-inf"), S("2.5"), NULL, NULL},
        {"\"double\"", S("-Infinity"), S("2.5"), NULL, NULL},
        {"\"float\"", S(""), S("nan"), NULL, NULL},
        {"\"long\"", S("01"), S("9"), NULL, NULL},
        {"\"double\"", S("1."), S("2"), NULL, NULL},
        {"\"long\"", S("1"), NULL, 0, NULL, NULL},
        /* dates: YYYY-MM-DD in years 0001-9999 only */
        {"\"date\"", S("0001-01-01"), S("9999-12-31"), "\"0001-01-01\"", "\"9999-12-31\""},
        {"\"date\"", S("0044-03-15 (BC)"), S("2020-01-01"), NULL, NULL},
        {"\"date\"", S("2020-01-01"), S("12345-01-01"), NULL, NULL},
        {"\"date\"", S("0000-01-01"), S("2020-01-01"), NULL, NULL},
        {"\"date\"", S("2020-1-01"), S("2020-01-01"), NULL, NULL},
        /* timestamps in Delta's milliseconds: the min rounded down, the max up */
        {"\"timestamp_ntz\"", S("2021-01-01 00:00:00.000001"), S("2021-01-01 00:00:00.000001"),
         "\"2021-01-01T00:00:00.000\"", "\"2021-01-01T00:00:00.001\""},
        {"\"timestamp_ntz\"", S("1969-12-31 23:59:59.9995"), S("2020-01-01 00:00:00"),
         "\"1969-12-31T23:59:59.999\"", "\"2020-01-01T00:00:00.000\""},
        {"\"timestamp\"", S("2021-01-01 03:00:00.5+00"), S("2021-12-31 23:59:59.9999+00"),
         "\"2021-01-01T03:00:00.500Z\"", "\"2022-01-01T00:00:00.000Z\""},
        {"\"timestamp_ntz\"", S("0001-01-01 00:00:00"), S("9999-12-31 23:59:59.999"),
         "\"0001-01-01T00:00:00.000\"", "\"9999-12-31T23:59:59.999\""},
        /* past year 9999 once rounded up, infinities, BC, another zone: no bounds */
        {"\"timestamp_ntz\"", S("2020-01-01 00:00:00"), S("9999-12-31 23:59:59.9991"), NULL, NULL},
        {"\"timestamp_ntz\"", S("-infinity"), S("2020-01-01 00:00:00"), NULL, NULL},
        {"\"timestamp_ntz\"", S("0044-03-15 00:00:00 (BC)"), S("2020-01-01 00:00:00"), NULL, NULL},
        {"\"timestamp\"", S("2020-01-01 00:00:00+02"), S("2020-01-01 00:00:00+00"), NULL, NULL},
        {"\"timestamp_ntz\"", S("2020-01-01 00:00:00.0000001"), S("2020-01-01 00:00:00"), NULL, NULL},
        /* strings: a NUL cuts, a max cut there gets 0x01 */
        {"\"string\"", S("a"), S("a\0b"), "\"a\"", "\"a\\u0001\""},
        {"\"string\"", S("\0x"), S("\0"), "\"\"", "\"\\u0001\""},
        {"\"string\"", S("a\0b"), S("d"), "\"a\"", "\"d\""},
        /* over 32 bytes: a prefix, and for max the prefix and U+10FFFF */
        {"\"string\"", S(Z32), S(Z32), "\"" Z32 "\"", "\"" Z32 "\""},
        {"\"string\"", S("a"), S(Z32 "zzzzzzzz"), "\"a\"", "\"" Z32 MAX_CHAR "\""},
        {"\"string\"", S(Z32 "z"), S(Z32 "z"), "\"" Z32 "\"", "\"" Z32 MAX_CHAR "\""},
        {"\"string\"", S(Z32 "\xc3\xa9"), S(Z32 "\xef\xbf\xbf" "abc"), "\"" Z32 "\"", "\"" Z32 MAX_CHAR "\""},
        /* a 2-byte character at the cut is not split */
        {"\"string\"", S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9xxxxxxx"),
         S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9xxxxxxx"), "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" MAX_CHAR "\""},
        /* a NUL past the cut changes nothing */
        {"\"string\"", S(Z32 "zz\0z"), S(Z32 "zz\0z"), "\"" Z32 "\"", "\"" Z32 MAX_CHAR "\""},
        /* U+10FFFF at the cut: prefix + U+10FFFF is no upper bound unless it is the value */
        {"\"string\"", S("a"), S(Z32 MAX_CHAR "z"), NULL, NULL},
        {"\"string\"", S("a"), S(Z32 MAX_CHAR), "\"a\"", "\"" Z32 MAX_CHAR "\""},
        {"\"string\"", S("a"), NULL, 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        stats_column c = {"c", rows[i].type, rows[i].min, rows[i].max, rows[i].min_len, rows[i].max_len, "0", false};
        buf want = BUF_INIT;
        if (rows[i].want_min)
            CHECK_OK(buf_printf(&want, "{\"numRecords\":2,\"minValues\":{\"c\":%s},\"maxValues\":{\"c\":%s},"
                                       "\"nullCount\":{\"c\":0}}", rows[i].want_min, rows[i].want_max));
        else /* a column with values but no bounds: the file has none */
            CHECK_OK(buf_puts(&want, "{\"numRecords\":2,\"nullCount\":{\"c\":0}}"));
        const char *got = json_of(&c, 1, 2);
        if (!got || strcmp(got, want.data) != 0)
            fprintf(stderr, "  row %zu\n", i);
        CHECK_STR(got, want.data);
        buf_free(&want);
    }
#undef Z32
#undef MAX_CHAR
}

static void test_doubtful_values_are_left_out(void)
{
    stats_column c[] = {
        col("x", "\"double\"", "-inf", "inf", "0", false),
        col("y", "\"double\"", "1.5", "2.5", "0", true), /* has a NaN */
        col("z", "\"float\"", "", "nan", NULL, false),
        col("n", "\"long\"", "1", "2", "inf", false), /* a count that is no number */
    };
    CHECK_STR(json_of(c, 4, 3), "{\"numRecords\":3,\"nullCount\":{\"x\":0,\"y\":0}}");
    /* names and strings are JSON-escaped */
    stats_column q[] = {col("a\"b", "\"string\"", "x\"y", "x\ny", "0", false)};
    CHECK_STR(json_of(q, 1, 1), "{\"numRecords\":1,\"minValues\":{\"a\\\"b\":\"x\\\"y\"},"
                                "\"maxValues\":{\"a\\\"b\":\"x\\ny\"},\"nullCount\":{\"a\\\"b\":0}}");
}

/* One column without bounds takes the file's other bounds with it, unless it holds
 * nulls only or takes no bounds by type. */
static void test_a_file_is_bounded_whole_or_not(void)
{
    stats_column c[] = {
        col("id", "\"long\"", "1", "9", "0", false),
        col("d", "\"double\"", "1.5", "inf", "1", false),
    };
    CHECK_STR(json_of(c, 2, 4), "{\"numRecords\":4,\"nullCount\":{\"id\":0,\"d\":1}}");
    c[1] = col("d", "\"double\"", NULL, NULL, "4", false); /* nulls only */
    CHECK_STR(json_of(c, 2, 4), "{\"numRecords\":4,\"minValues\":{\"id\":1},\"maxValues\":{\"id\":9},"
                                "\"nullCount\":{\"id\":0,\"d\":4}}");
    c[1] = col("d", "\"double\"", NULL, NULL, "3", false); /* values, but the engine gave no bounds */
    CHECK_STR(json_of(c, 2, 4), "{\"numRecords\":4,\"nullCount\":{\"id\":0,\"d\":3}}");
    c[1] = col("d", "\"date\"", "0044-03-15 (BC)", "2020-01-01", NULL, false); /* not counted */
    CHECK_STR(json_of(c, 2, 4), "{\"numRecords\":4,\"nullCount\":{\"id\":0}}");
    c[1] = col("b", "\"boolean\"", "false", "true", "0", false); /* a type loch bounds not (yet) */
    CHECK_STR(json_of(c, 2, 4), "{\"numRecords\":4,\"nullCount\":{\"id\":0,\"b\":0}}");
}

TEST_MAIN(T(test_bounds_by_type), T(test_plain_file), T(test_bounds_of_a_column),
          T(test_doubtful_values_are_left_out), T(test_a_file_is_bounded_whole_or_not))
