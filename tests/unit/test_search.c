/*
 * tests/unit/test_search.c - loch_search through the public API on one lake handle:
 * the first search runs in SQL, later ones score the vectors the handle keeps in
 * memory (vector/exact.c); both must give the same rows in the same order, and a new
 * version of the embeddings (a re-embed after a change) must be seen at once. Also the
 * exact top-k itself against a brute-force sort.
 */
#include <math.h>
#include <stdint.h>

#include "loch/loch.h"
#include "test.h"
#include "vector/exact.h"

static char *cell(loch_result *r, size_t row, size_t col)
{
    return r && row < loch_result_rows(r) ? loch_result_text(r, row, col) : NULL;
}

static void sql(loch_lake *lake, const char *q)
{
    loch_result *r = NULL;
    CHECK_OK(loch_sql(&r, lake, q));
    loch_result_free(r);
}

/* The keys of a search's rows, "1,6,3". */
static void keys_of(loch_lake *lake, const char *query, char *out, size_t cap, double *top_score)
{
    loch_result *r = NULL;
    loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
    o.k = 3;
    out[0] = '\0';
    CHECK_OK(loch_search(&r, lake, "people", query, &o));
    for (size_t i = 0; r && i < loch_result_rows(r); i++) {
        char *k = cell(r, i, 0);
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", i ? "," : "", k ? k : "?");
        loch_free(k);
    }
    char *s = cell(r, 0, 1);
    *top_score = s ? atof(s) : -1;
    loch_free(s);
    loch_result_free(r);
}

static void test_cached_search_equals_sql_search(void)
{
    char *dir = temp_dir(), a[256], b[256], c[256];
    double sa, sb, sc;
    loch_lake *lake = NULL;
    loch_lake_options lo = LOCH_LAKE_OPTIONS_INIT;
    CHECK_OK(loch_lake_open(&lake, dir, &lo));
    if (!lake)
        return;
    sql(lake, "CREATE TABLE people (id BIGINT, resume VARCHAR)");
    sql(lake, "INSERT INTO people VALUES (1, 'Kubernetes platform engineer, led a cluster migration'), "
              "(2, 'Nurse in intensive care'), (3, 'Pastry chef and baker'), (4, 'Accountant, audits and taxes'), "
              "(5, 'Site reliability engineer: containers, Docker, on-call'), (6, 'Truck driver, long haul')");
    loch_result *r = NULL;
    CHECK_OK(loch_embed_column(&r, lake, "people", "resume", "id"));
    loch_result_free(r);
    keys_of(lake, "container orchestration migration", a, sizeof(a), &sa); /* SQL */
    keys_of(lake, "container orchestration migration", b, sizeof(b), &sb); /* loads the vectors */
    keys_of(lake, "container orchestration migration", c, sizeof(c), &sc); /* from memory */
    CHECK_STR(a, b);
    CHECK_STR(a, c);
    CHECK(strncmp(a, "1,5", 3) == 0 || strncmp(a, "5,1", 3) == 0);
    CHECK(fabs(sa - sb) < 1e-5 && fabs(sa - sc) < 1e-5);
    /* a change, embedded again: the next search sees it */
    sql(lake, "UPDATE people SET resume = 'Baker: bread and croissants' WHERE id = 6");
    CHECK_OK(loch_embed_column(&r, lake, "people", "resume", "id"));
    loch_result_free(r);
    keys_of(lake, "who bakes bread", a, sizeof(a), &sa);
    CHECK(strncmp(a, "6,3", 3) == 0 || strncmp(a, "3,6", 3) == 0);
    keys_of(lake, "who bakes bread", b, sizeof(b), &sb);
    CHECK_STR(a, b);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

static void test_top_k_is_a_sort(void)
{
    enum { N = 997, D = 37 };
    static float m[N * D], q[D];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < N * D + D; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float v = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
        if (i < N * D)
            m[i] = v;
        else
            q[i - N * D] = v;
    }
    m[5 * D] = m[9 * D] = 0; /* two rows with the same score: the lower row first */
    memcpy(&m[9 * D], &m[5 * D], D * sizeof(float));
    vec_hit got[50];
    CHECK(vec_top_k(m, N, D, q, 50, got) == 50);
    CHECK(vec_top_k(m, 3, D, q, 50, got) == 3);
    CHECK(vec_top_k(m, N, D, q, 0, got) == 0);
    CHECK(vec_top_k(m, N, D, q, 50, got) == 50);
    /* brute force: the 50 best by (score desc, row asc) */
    for (size_t i = 0; i < 50; i++) {
        size_t better = 0;
        for (size_t r = 0; r < N; r++) {
            float s = vec_dot(m + r * D, q, D);
            better += s > got[i].score || (s == got[i].score && r < got[i].row);
        }
        CHECK(better == i);
        CHECK(fabsf(got[i].score - vec_dot(m + got[i].row * D, q, D)) == 0);
    }
}

TEST_MAIN(T(test_cached_search_equals_sql_search), T(test_top_k_is_a_sort))
