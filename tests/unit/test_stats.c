/*
 * tests/unit/test_stats.c - Delta file statistics: what may be a bound and what is left
 * out (core/stats.h). Oracle: the Delta protocol, "Per-file Statistics" - a reader may
 * skip a file only by bounds that hold, so every doubtful value must be absent.
 */
#include <string.h>

#include "core/stats.h"
#include "test.h"
#include "util/error.h"

static const char *json_of(const stats_column *c, size_t n, int64_t rows)
{
    static buf out;
    buf_free(&out);
    CHECK_OK(stats_json(rows, c, n, &out));
    return out.data;
}

static void test_bounds_by_type(void)
{
    static const struct {
        const char *type;
        bool bounds;
    } rows[] = {
        {"\"byte\"", true}, {"\"short\"", true}, {"\"integer\"", true}, {"\"long\"", true}, {"\"float\"", true},
        {"\"double\"", true}, {"\"decimal(10,2)\"", true}, {"\"string\"", true}, {"\"date\"", true},
        {"\"timestamp\"", false}, {"\"timestamp_ntz\"", false}, {"\"boolean\"", false}, {"\"binary\"", false},
        {"{\"type\":\"struct\",\"fields\":[]}", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK(stats_has_bounds(rows[i].type) == rows[i].bounds);
}

static void test_plain_file(void)
{
    stats_column c[] = {
        {"id", "\"long\"", "1", "9", "0", false},
        {"name", "\"string\"", "ann", "zed", "2", false},
        {"at", "\"timestamp\"", "2026-01-01 00:00:00.123456", "2026-02-01 00:00:00.999999", "1", false},
        {"tags", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}", NULL, NULL, "0", false},
    };
    CHECK_STR(json_of(c, 4, 10), "{\"numRecords\":10,\"minValues\":{\"id\":1,\"name\":\"ann\"},"
                                 "\"maxValues\":{\"id\":9,\"name\":\"zed\"},"
                                 "\"nullCount\":{\"id\":0,\"name\":2,\"at\":1}}");
}

static void test_doubtful_values_are_left_out(void)
{
    /* 40 bytes: min keeps 32, max goes; a 2-byte character at the cut is not split */
    const char *long_s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9xxxxxxx";
    stats_column c[] = {
        {"s", "\"string\"", long_s, long_s, "0", false},
        {"x", "\"double\"", "-inf", "inf", "0", false},
        {"y", "\"double\"", "1.5", "2.5", "0", true},   /* has a NaN */
        {"z", "\"float\"", "", "nan", NULL, false},
    };
    CHECK_STR(json_of(c, 4, 3), "{\"numRecords\":3,\"minValues\":{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
                                "\"maxValues\":{},\"nullCount\":{\"s\":0,\"x\":0,\"y\":0}}");
    /* names and strings are JSON-escaped */
    stats_column q[] = {{"a\"b", "\"string\"", "x\"y", "x\ny", "0", false}};
    CHECK_STR(json_of(q, 1, 1), "{\"numRecords\":1,\"minValues\":{\"a\\\"b\":\"x\\\"y\"},"
                                "\"maxValues\":{\"a\\\"b\":\"x\\ny\"},\"nullCount\":{\"a\\\"b\":0}}");
}

TEST_MAIN(T(test_bounds_by_type), T(test_plain_file), T(test_doubtful_values_are_left_out))
