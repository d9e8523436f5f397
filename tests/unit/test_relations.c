/*
 * tests/unit/test_relations.c - relations loch hands the SQL engine (adapters/compute.h):
 * the rows loch_keep skips, by bitmap and by sorted array, where a scan's files start and
 * end inside a chunk; a relation lives until its statement is cleared and no plan holds
 * it; a key already held is not loaded again; an id that is gone is an error.
 *
 * Oracle: the skipped rows are given here, so the kept rows are counted by hand.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/compute.h"
#include "test.h"
#include "util/error.h"

typedef struct {
    const uint64_t *rows[3];
    size_t count[3];
    int loads;
} fixture;

static int load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    fixture *f = ctx;
    f->loads++;
    *rows = f->rows[i];
    *count = f->count[i];
    return 0;
}

static int64_t one_value(compute *c, const char *sql)
{
    compute_result *r = NULL;
    int64_t v = -1;
    if (compute_query(c, sql, &r) == 0)
        v = compute_result_i64(r, 0, 0);
    compute_result_free(r);
    return v;
}

/* Registers the fixture's three files under keys (NULL: no rows skipped) and returns
 * the predicate's id, or -1. */
static int64_t register_files(compute *c, fixture *f, const char *const *keys)
{
    compute_relation rel = {COMPUTE_RELATION_SKIP, 3, keys, load, f};
    buf sql = BUF_INIT;
    int64_t id = -1;
    if (compute_register(c, &rel, &sql) == 0) {
        const char *at = strchr(sql.data, '(');
        id = at ? strtoll(at + 1, NULL, 10) : -1;
    }
    buf_free(&sql);
    return id;
}

static void test_keep_and_lifetime(void)
{
    compute *c = NULL;
    compute_options o = {0};
    CHECK_OK(compute_open(&c, &o, NULL, NULL));
    if (!c)
        return;
    /* file 0: a dense set (bitmap), 3000 of its 5000 rows past any chunk boundary;
     * file 1: nothing; file 2: sparse and far out (sorted rows). */
    static uint64_t dense[3000], sparse[] = {1, 4096, UINT64_C(1) << 40};
    for (size_t i = 0; i < 3000; i++)
        dense[i] = 1000 + i;
    fixture f = {{dense, NULL, sparse}, {3000, 0, 3}, 0};
    const char *keys[] = {"t/dense", NULL, "t/sparse"};
    int64_t id = register_files(c, &f, keys);
    CHECK(id > 0);
    CHECK(f.loads == 2);
    CHECK(compute_relations_live(c) == 1);
    char sql[512];
    /* Three files of 5000 rows each, as (file, row) pairs in one scan. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT (range // 5000)::UBIGINT AS f, range %% 5000 AS r FROM range(15000)) "
             "WHERE system.main.loch_keep(%lld, f, r)", (long long)id);
    CHECK(one_value(c, sql) == 15000 - 3000 - 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT 2::UBIGINT AS f, r FROM (VALUES (0), (1), (4096), (1099511627776), (-1)) v(r)) "
             "WHERE system.main.loch_keep(%lld, f, r)", (long long)id);
    CHECK(one_value(c, sql) == 2); /* rows 0 and -1 kept */
    /* A file index past the scan's files is an error, not a read past the end. */
    snprintf(sql, sizeof(sql), "SELECT system.main.loch_keep(%lld, 3::UBIGINT, 0)", (long long)id);
    CHECK(one_value(c, sql) == -1);
    /* The same keys in the next relation come from the cache. */
    int64_t again = register_files(c, &f, keys);
    CHECK(again > id);
    CHECK(f.loads == 2);
    CHECK(compute_relations_live(c) == 2);
    compute_relations_clear(c);
    CHECK(compute_relations_live(c) == 0);
    /* Gone after the statement: the id no longer binds. */
    snprintf(sql, sizeof(sql), "SELECT system.main.loch_keep(%lld, 0::UBIGINT, 0)", (long long)id);
    CHECK(one_value(c, sql) == -1);
    CHECK(strstr(loch_error_last(), "none has that id") != NULL);
    compute_free(c);
}

/* A plan still open keeps its relation after the statement's relations are cleared; it
 * lets go when it ends. */
static void test_plan_holds_its_relation(void)
{
    compute *c = NULL;
    compute_options o = {0};
    CHECK_OK(compute_open(&c, &o, NULL, NULL));
    if (!c)
        return;
    static uint64_t rows[] = {0, 2, 4};
    fixture f = {{rows, rows, rows}, {3, 3, 3}, 0};
    const char *keys[] = {"a", "a", "a"};
    int64_t id = register_files(c, &f, keys);
    CHECK(f.loads == 1);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT r FROM (SELECT (range // 10000)::UBIGINT AS f, range %% 10000 AS r FROM range(30000)) "
             "WHERE system.main.loch_keep(%lld, f, r)", (long long)id);
    compute_stream *s = NULL;
    size_t n = 0, total = 0;
    CHECK_OK(compute_stream_open(c, sql, NULL, 0, &s));
    compute_relations_clear(c);
    CHECK(compute_relations_live(c) == 1);
    while (s && compute_stream_next(s, &n) == 0 && n)
        total += n;
    CHECK(total == 30000 - 3 * 3);
    compute_stream_free(s);
    CHECK(compute_relations_live(c) == 0);
    compute_free(c);
}

TEST_MAIN(T(test_keep_and_lifetime), T(test_plan_holds_its_relation))
