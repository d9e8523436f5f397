/*
 * tests/unit/test_prune.c - data skipping (core/prune.c): which files a WHERE clause
 * can be judged not to match from their statistics, and that anything not understood
 * keeps every file.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/prune.h"
#include "core/snapshot.h"
#include "test.h"
#include "util/error.h"

#define PROTOCOL "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}"
#define META "{\"metaData\":{\"id\":\"t\",\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[" \
    "{\\\"name\\\":\\\"id\\\",\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}," \
    "{\\\"name\\\":\\\"City\\\",\\\"type\\\":\\\"string\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}," \
    "{\\\"name\\\":\\\"x\\\",\\\"type\\\":\\\"double\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\"," \
    "\"partitionColumns\":[],\"configuration\":{}}}"
#define ADD(path, stats) "{\"add\":{\"path\":\"" path "\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0," \
    "\"dataChange\":true,\"stats\":\"" stats "\"}}"

/* file a: id 0..99, City Lima..Oslo, no nulls; b: id 100..199, City Quito..Rome, 3
 * nulls; c: no stats; d: id all null */
static const char *const LINES[] = {
    PROTOCOL, META,
    ADD("a", "{\\\"numRecords\\\":100,\\\"minValues\\\":{\\\"id\\\":0,\\\"City\\\":\\\"Lima\\\",\\\"x\\\":0.5},"
             "\\\"maxValues\\\":{\\\"id\\\":99,\\\"City\\\":\\\"Oslo\\\",\\\"x\\\":9.5},"
             "\\\"nullCount\\\":{\\\"id\\\":0,\\\"City\\\":0,\\\"x\\\":0}}"),
    ADD("b", "{\\\"numRecords\\\":100,\\\"minValues\\\":{\\\"id\\\":100,\\\"City\\\":\\\"Quito\\\"},"
             "\\\"maxValues\\\":{\\\"id\\\":199,\\\"City\\\":\\\"Rome\\\"},"
             "\\\"nullCount\\\":{\\\"id\\\":3,\\\"City\\\":0}}"),
    "{\"add\":{\"path\":\"c\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,\"dataChange\":true}}",
    ADD("d", "{\\\"numRecords\\\":5,\\\"nullCount\\\":{\\\"id\\\":5}}"),
    NULL};

static snapshot S;

static const char *pruned(const char *where, const char *alias)
{
    static char out[8];
    bool skip[4] = {0};
    int n = prune_files(&S, where, strlen(where), alias, true, skip);
    size_t k = 0;
    for (size_t i = 0; i < S.file_count; i++)
        if (skip[i])
            out[k++] = S.files[i].path[0];
    out[k] = '\0';
    CHECK(n == (int)k);
    return out;
}

static void test_judged(void)
{
    CHECK(strcmp(pruned("id = 150", "t"), "ad") == 0);
    CHECK(strcmp(pruned("150 = id", "t"), "ad") == 0);
    CHECK(strcmp(pruned("id < 100", "t"), "bd") == 0);
    CHECK(strcmp(pruned("100 > id", "t"), "bd") == 0);
    CHECK(strcmp(pruned("id >= 100", "t"), "ad") == 0);
    CHECK(strcmp(pruned("id > 99 AND id <= 100", "t"), "ad") == 0);
    CHECK(strcmp(pruned("id IN (5, 250)", "t"), "bd") == 0);
    CHECK(strcmp(pruned("id BETWEEN 120 AND 130", "t"), "ad") == 0);
    CHECK(strcmp(pruned("id = -1", "t"), "abd") == 0);
    CHECK(strcmp(pruned("city = 'Paris'", "t"), "ab") == 0); /* Oslo < Paris < Quito; d has no City stats */
    CHECK(strcmp(pruned("100 <= id", "t"), "ad") == 0);
    CHECK(strcmp(pruned("id <> 150", "t"), "d") == 0 || strcmp(pruned("id <> 150", "t"), "") == 0);
    CHECK(strcmp(pruned("t.City = 'Lima' AND id < 1000", "t"), "bd") == 0);
    CHECK(strcmp(pruned("z.id = 150", "z"), "ad") == 0);
    CHECK(strcmp(pruned("id IS NULL", "t"), "a") == 0);
}

/* A long string max may be a truncated prefix: not an upper bound. */
static void test_long_string_max(void)
{
    snapshot t;
    static const char *const lines[] = {
        PROTOCOL, META,
        ADD("e", "{\\\"numRecords\\\":1,\\\"minValues\\\":{\\\"City\\\":\\\"aaaa\\\"},"
                 "\\\"maxValues\\\":{\\\"City\\\":\\\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\\\"},"
                 "\\\"nullCount\\\":{\\\"City\\\":0}}"),
        NULL};
    snapshot_init(&t);
    for (const char *const *l = lines; *l; l++) {
        log_action a;
        CHECK_OK(log_parse_action(&t.arena, *l, strlen(*l), &a));
        CHECK_OK(snapshot_apply(&t, &a));
    }
    CHECK_OK(snapshot_finish(&t, 0));
    bool skip[1] = {false};
    const char *above = "City = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbz'", *below = "City = 'a'";

    CHECK(prune_files(&t, above, strlen(above), "t", true, skip) == 0 && !skip[0]);
    CHECK(prune_files(&t, below, strlen(below), "t", true, skip) == 1 && skip[0]); /* below the min */
    /* a bound holding a NUL compares by its whole length ("a\0z" is above "a") */
    static const char *const nul_lines[] = {
        ADD("f", "{\\\"numRecords\\\":1,\\\"minValues\\\":{\\\"City\\\":\\\"a\\\\u0000z\\\"},"
                 "\\\"maxValues\\\":{\\\"City\\\":\\\"a\\\\u0000z\\\"},\\\"nullCount\\\":{\\\"City\\\":0}}"),
        NULL};
    for (const char *const *l = nul_lines; *l; l++) {
        log_action a;
        CHECK_OK(log_parse_action(&t.arena, *l, strlen(*l), &a));
        CHECK_OK(snapshot_apply(&t, &a));
    }
    CHECK_OK(snapshot_finish(&t, 1));
    bool skip2[2] = {false, false};
    const char *between = "City > 'a' AND City < 'b'";
    prune_files(&t, between, strlen(between), "t", true, skip2);
    CHECK(!skip2[0] && !skip2[1]);
    snapshot_free(&t);
}

static void test_kept(void)
{
    static const char *const cases[] = {
        "id = 150 OR id = 5",           /* OR at the top level */
        "id + 0 = 150", "id = 150 + 0", "id = 150::BIGINT", "id = '150'", "id <> 150", "NOT id = 150",
        "x = 100.5",                    /* doubles are not judged */
        "id = 1.5", "nope = 1", "z.id = 150", /* the alias is t */
        "\"city\" = 'Paris'",          /* quoted names are exact: no such column */
        "id IN (SELECT 1)", "city = 'Paris' COLLATE nocase", "id = 99999999999999999999",
        "", "id = 'unterminated",
        /* second review: nothing between the operator and the column; nesting */
        "150 = -id", "-5 > ~id", "x BETWEEN -1 AND id IS NULL", "x BETWEEN 0 + 0 AND id = 150",
        "CASE WHEN x = 1 AND id = 150 AND x = 1 THEN false ELSE true END",
        "NOT [x = 1 AND id = 150 AND x = 1][1]", "{'a': x = 1 AND id = 150}.a = false",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = pruned(cases[i], "t");
        /* only file d (all nulls) may go, and only for a judged column */
        if (*got && strcmp(got, "d") != 0) {
            fprintf(stderr, "  %s pruned %s\n", cases[i], got);
            CHECK(0);
        }
    }
    error_clear();
}

static void setup(void)
{
    snapshot_init(&S);
    for (const char *const *l = LINES; *l; l++) {
        log_action a;
        CHECK_OK(log_parse_action(&S.arena, *l, strlen(*l), &a));
        CHECK_OK(snapshot_apply(&S, &a));
    }
    CHECK_OK(snapshot_finish(&S, 0));
    CHECK(S.file_count == 4);
}

static void test_collation_and_strings(void)
{
    bool skip[4] = {0};
    const char *w = "city = 'Paris'";
    CHECK(prune_files(&S, w, strlen(w), "t", false, skip) == 0); /* a collation: strings not judged */
    w = "id = 150 AND city = 'Paris'";
    CHECK(prune_files(&S, w, strlen(w), "t", false, skip) == 2); /* the integer test still is */
}

static void test_all(void)
{
    setup();
    test_judged();
    test_kept();
    test_collation_and_strings();
    snapshot_free(&S);
    test_long_string_max();
}

TEST_MAIN(T(test_all))
