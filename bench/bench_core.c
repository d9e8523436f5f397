/*
 * bench/bench_core.c - the core issue's numbers, measured in-process through libloch.
 *
 *   bench_core commit LAKE N [cold] N one-row INSERTs, each a durable Delta commit (cold:
 *                                   a fresh lake handle for each)
 *   bench_core fill LAKE TABLE N    a table of N commits (1 row each), for `open`
 *   bench_core open LAKE TABLE N    N times: SELECT count(*) on a fresh lake handle
 *   bench_core sql LAKE REPS SQL    one query, in-process (the HTTP bench compares with it)
 *   bench_core search LAKE REPS TABLE
 *                                   loch_search of TABLE (embedded), warm, a question a call
 *   bench_core ann TRAIN TEST TRUTH DIM ip|l2 f32|i8 M EFC EF[,EF...] [filter]
 *                                   vector/hnsw.c on one thread: the build of an index of
 *                                   TRAIN (raw little-endian f32 rows of DIM), then every
 *                                   row of TEST searched for 10 neighbours at each EF,
 *                                   recall@10 against TRUTH (10 u32 row numbers per query);
 *                                   with filter, searches restricted to a random 1%, 10%
 *                                   and 50% of the rows as loch_search restricts them (the
 *                                   exact path up to 10,000 rows, else the graph with its
 *                                   beam widened as 1/selectivity): p50 ms and recall
 *                                   against a brute force over the same rows
 *   bench_core pair LAKE REPS A B   two queries on one lake handle, alternating, REPS runs
 *                                   each (deletion vectors against rows removed)
 *   bench_core demo LAKE REPS       the staffing questions (after `loch demo`): through loch's
 *                                   tables vs DuckDB views over the same Parquet files
 *   bench_core query LAKE REPS      loch vs DuckDB on the same Parquet files, same engine
 *                                   instance and settings (read_parquet of the snapshot's
 *                                   files), alternating, REPS runs each
 *   bench_core wal LAKE THREADS N ROWS
 *                                   THREADS threads on one lake handle, each N loch_write
 *                                   upserts of ROWS rows into table w (id BIGINT PRIMARY KEY,
 *                                   v BIGINT), each durable when it returns; then, on the same
 *                                   disk, N appends of 64 bytes each followed by fdatasync
 *                                   (the floor a durable write cannot beat)
 *
 * Prints one line per measurement: "<name> median_ms=<x> p90_ms=<y> [ratio=<r>]".
 * bench/run.py drives it beside the peers (delta-rs) and prints the ratios.
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "formats/arrow.h"
#include "loch/loch.h"
#include "../cli/demo_queries.h"
#include "sha256_ref.h"
#include "util/sha256.h"
#include "vector/hnsw.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp);
    return v[(int)(p * (n - 1) + 0.5)];
}

static int run(loch_lake *lake, const char *sql)
{
    loch_result *r = NULL;
    int rc = loch_sql(&r, lake, sql);
    if (rc < 0)
        fprintf(stderr, "bench: %s\n  in: %s\n", loch_error_last(), sql);
    loch_result_free(r);
    return rc;
}

/* N one-row INSERTs. warm: one lake handle for all (its snapshot cache carried from
 * commit to commit); cold: a fresh handle each time, opened inside the timing (the
 * table's log read from disk, as a new process would). */
static int bench_commit(const char *path, int n, int cold)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    double *t = calloc((size_t)n, sizeof(double));
    char sql[128];
    if (loch_lake_open(&lake, path, &o) < 0 || run(lake, "DROP TABLE IF EXISTS commits") < 0 ||
        run(lake, "CREATE TABLE commits (id BIGINT, note VARCHAR)") < 0)
        return 1;
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof(sql), "INSERT INTO commits VALUES (%d, 'row %d')", i, i);
        double t0 = now_ms();
        if (cold) {
            loch_lake_free(lake);
            if (loch_lake_open(&lake, path, &o) < 0)
                return 1;
        }
        if (run(lake, sql) < 0)
            return 1;
        t[i] = now_ms() - t0;
    }
    printf("commit_1row median_ms=%.3f p90_ms=%.3f n=%d\n", pct(t, n, 0.5), pct(t, n, 0.9), n);
    loch_lake_free(lake);
    free(t);
    return 0;
}

static int bench_fill(const char *path, const char *table, int n)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    char sql[256];
    if (loch_lake_open(&lake, path, &o) < 0)
        return 1;
    snprintf(sql, sizeof(sql), "CREATE OR REPLACE TABLE %s (id BIGINT, note VARCHAR)", table);
    if (run(lake, sql) < 0)
        return 1;
    for (int i = 1; i < n; i++) {
        snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (%d, 'row %d')", table, i, i);
        if (run(lake, sql) < 0)
            return 1;
        if (i % 1000 == 0)
            fprintf(stderr, "\rfill: %d/%d commits", i, n);
    }
    fprintf(stderr, "\n");
    loch_lake_free(lake);
    return 0;
}

static int bench_open(const char *path, const char *table, int n)
{
    double *t = calloc((size_t)n, sizeof(double));
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    for (int i = 0; i < n; i++) {
        loch_lake *lake;
        loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
        o.create = 0;
        double t0 = now_ms();
        if (loch_lake_open(&lake, path, &o) < 0 || run(lake, sql) < 0)
            return 1;
        t[i] = now_ms() - t0;
        loch_lake_free(lake);
    }
    printf("open_count median_ms=%.3f p90_ms=%.3f n=%d\n", pct(t, n, 0.5), pct(t, n, 0.9), n);
    free(t);
    return 0;
}

/* The same four queries: through a loch table name, and straight over the files. */
static const char *queries[][2] = {
    {"scan", "SELECT sum(v), min(s) FROM %s"},
    {"filter", "SELECT count(*), sum(v) FROM %s WHERE id BETWEEN 5000000 AND 5010000"},
    {"group_by", "SELECT k, count(*), avg(v) FROM %s GROUP BY k"},
    {"join", "SELECT d.name, sum(b.v) FROM %s b JOIN dim d ON b.k = d.k GROUP BY d.name"},
};

/* Puts `table` where the query template says %s. */
static void instantiate(char *out, size_t cap, const char *tmpl, const char *table)
{
    const char *hole = strstr(tmpl, "%s");
    snprintf(out, cap, "%.*s%s%s", (int)(hole - tmpl), tmpl, table, hole + 2);
}

/* Runs sql_a and sql_b alternately (warm rounds first, not counted), so neither side
 * gains from going second; their median times. */
static int alternate(loch_lake *lake, const char *sql_a, const char *sql_b, int reps, int warm, double *ma,
                     double *mb)
{
    double *a = calloc((size_t)reps, sizeof(double)), *b = calloc((size_t)reps, sizeof(double));
    int rc = a && b ? 0 : -1;
    for (int i = -warm; rc == 0 && i < reps; i++) {
        double t0 = now_ms();
        rc = run(lake, sql_a);
        double t1 = now_ms();
        rc = rc ? rc : run(lake, sql_b);
        double t2 = now_ms();
        if (i >= 0) {
            a[i] = t1 - t0;
            b[i] = t2 - t1;
        }
    }
    if (rc == 0) {
        *ma = pct(a, reps, 0.5);
        *mb = pct(b, reps, 0.5);
    }
    free(a);
    free(b);
    return rc < 0 ? -1 : 0;
}

static int bench_query(const char *path, int reps)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    loch_result *r = NULL;
    char direct[16384] = "read_parquet([", sql[20000];
    if (loch_lake_open(&lake, path, &o) < 0)
        return 1;
    /* The file list of the current snapshot, for DuckDB to read directly. */
    snprintf(sql, sizeof(sql), "SELECT string_agg('''' || file || '''', ',') FROM glob('%s/big/*.parquet')",
             loch_lake_root(lake));
    if (loch_sql(&r, lake, sql) < 0)
        return fprintf(stderr, "%s\n", loch_error_last()), 1;
    char *files = loch_result_text(r, 0, 0);
    strncat(direct, files, sizeof(direct) - strlen(direct) - 4);
    strcat(direct, "])");
    loch_free(files);
    loch_result_free(r);
    if (run(lake, "CREATE OR REPLACE TEMP TABLE dim AS SELECT range AS k, 'name' || (range % 10) AS name "
                  "FROM range(97)") < 0)
        return 1;
    double ratios[4];
    static char other[20000];
    for (int q = 0; q < 4; q++) {
        double ma, mb;
        instantiate(sql, sizeof(sql), queries[q][1], "big");
        instantiate(other, sizeof(other), queries[q][1], direct);
        if (alternate(lake, sql, other, reps, 1, &ma, &mb) < 0)
            return 1;
        ratios[q] = ma / mb;
        printf("query_%s loch_median_ms=%.2f duckdb_median_ms=%.2f ratio=%.3f\n", queries[q][0], ma, mb, ratios[q]);
    }
    /* The median of four is the mean of the middle two. */
    qsort(ratios, 4, sizeof(double), cmp);
    printf("query_overall median_ratio=%.3f\n", (ratios[1] + ratios[2]) / 2);
    loch_lake_free(lake);
    return 0;
}

/* Replaces whole-word table names with "d_" + name: DuckDB's own views of the files. */
static void direct_names(char *out, size_t cap, const char *sql, const char *const *tables, size_t ntables)
{
    size_t o = 0;
    for (const char *p = sql; *p && o + 1 < cap;) {
        size_t hit = 0;
        int word_start = p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        for (size_t t = 0; word_start && !hit && t < ntables; t++) {
            size_t n = strlen(tables[t]);
            if (strncmp(p, tables[t], n) == 0 && !(isalnum((unsigned char)p[n]) || p[n] == '_'))
                hit = n;
        }
        if (hit && o + hit + 3 < cap) {
            o += (size_t)snprintf(out + o, cap - o, "d_%.*s", (int)hit, p);
            p += hit;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static int bench_demo(const char *path, int reps)
{
    static const char *tables[] = {"candidates", "clients", "job_orders", "placements", "timesheets", "call_log",
                                   "email_log"};
    enum { NQ = sizeof(questions) / sizeof(questions[0]), NT = sizeof(tables) / sizeof(tables[0]) };
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    char sql[8192];
    if (loch_lake_open(&lake, path, &o) < 0)
        return fprintf(stderr, "%s\n", loch_error_last()), 1;
    /* DuckDB's own reading of the same files, under other names. */
    for (size_t t = 0; t < NT; t++) {
        snprintf(sql, sizeof(sql), "CREATE TEMP VIEW d_%s AS SELECT * FROM read_parquet('%s/%s/*.parquet')",
                 tables[t], loch_lake_root(lake), tables[t]);
        if (run(lake, sql) < 0)
            return 1;
    }
    /* Alternating runs, so neither side profits from going second (warm caches, clocks). */
    for (int q = 0; q < NQ; q++) {
        double ma, mb;
        direct_names(sql, sizeof(sql), questions[q].sql, tables, NT);
        if (alternate(lake, questions[q].sql, sql, reps, 2, &ma, &mb) < 0)
            return 1;
        printf("demo_q%d loch_median_ms=%.2f duckdb_median_ms=%.2f ratio=%.3f\n", q + 1, ma, mb, ma / mb);
    }
    loch_lake_free(lake);
    return 0;
}

/* One query, in-process: the figure HTTP latency is compared with. */
static int bench_sql(const char *path, int reps, const char *sql)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    double *t = calloc((size_t)reps, sizeof(double));
    if (!t || loch_lake_open(&lake, path, &o) < 0)
        return 1;
    for (int i = -3; i < reps; i++) {
        double t0 = now_ms();
        if (run(lake, sql) < 0)
            return 1;
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    printf("sql median_ms=%.3f p90_ms=%.3f n=%d\n", pct(t, reps, 0.5), pct(t, reps, 0.9), reps);
    free(t);
    loch_lake_free(lake);
    return 0;
}

/* loch_search over an embedded table, warm (the model loaded, three searches first),
 * each time another question: the whole search, the question's embedding included. */
static int bench_search(const char *path, int reps, const char *table)
{
    static const char *const asks[] = {
        "someone who could handle our Kubernetes migration", "a nurse for night shifts in intensive care",
        "Java developer with Spring and Kafka", "experienced accountant for month-end close",
        "a data engineer who knows Spark and Airflow", "project manager for a hospital IT rollout",
        "frontend developer React TypeScript", "warehouse forklift operator available now"};
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    loch_search_options so = LOCH_SEARCH_OPTIONS_INIT;
    double *t = calloc((size_t)reps, sizeof(double));
    if (!t || loch_lake_open(&lake, path, &o) < 0)
        return 1;
    for (int i = -3; i < reps; i++) {
        loch_result *r = NULL;
        double t0 = now_ms();
        if (loch_search(&r, lake, table, asks[(i + 3) % 8], &so) < 0 || loch_result_rows(r) != 10) {
            fprintf(stderr, "search: %s\n", loch_error_last());
            return 1;
        }
        if (i >= 0)
            t[i] = now_ms() - t0;
        loch_result_free(r);
    }
    printf("search median_ms=%.3f p99_ms=%.3f n=%d\n", pct(t, reps, 0.5), pct(t, reps, 0.99), reps);
    free(t);
    loch_lake_free(lake);
    return 0;
}

/* A point lookup by key, a different key each time: sql_fmt has one %lld, given
 * (random below nkeys) * step. The slower of the first two calls (the second builds a
 * large table's key index) is first_ms; four calls warm up. */
static int bench_lookup(const char *path, int reps, const char *sql_fmt, long long nkeys, long long step)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    double *t = calloc((size_t)reps, sizeof(double)), first = 0;
    char sql[1024];
    uint64_t x = 88172645463325252ull;
    if (!t || loch_lake_open(&lake, path, &o) < 0)
        return 1;
    for (int i = -4; i < reps; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const char *at = strstr(sql_fmt, "%lld");
        if (!at)
            return 1;
        snprintf(sql, sizeof(sql), "%.*s%lld%s", (int)(at - sql_fmt), sql_fmt, (long long)(x % (uint64_t)nkeys) * step,
                 at + 4);
        double t0 = now_ms();
        if (run(lake, sql) < 0)
            return 1;
        if (i == -4 || i == -3) /* the engine answers a large table's first; the second builds the index */
            first = first > now_ms() - t0 ? first : now_ms() - t0;
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    printf("lookup median_ms=%.3f p90_ms=%.3f p99_ms=%.3f first_ms=%.1f n=%d\n", pct(t, reps, 0.5), pct(t, reps, 0.9),
           pct(t, reps, 0.99), first, reps);
    free(t);
    loch_lake_free(lake);
    return 0;
}

/* Two queries alternating on one handle, so both see the same machine and caches. */
static int bench_pair(const char *path, int reps, const char *a, const char *b)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    double *ta = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
    if (!ta || !tb || loch_lake_open(&lake, path, &o) < 0)
        return 1;
    for (int i = -3; i < reps; i++) {
        double t0 = now_ms();
        if (run(lake, a) < 0)
            return 1;
        double t1 = now_ms();
        if (run(lake, b) < 0)
            return 1;
        if (i >= 0) {
            ta[i] = t1 - t0;
            tb[i] = now_ms() - t1;
        }
    }
    double ma = pct(ta, reps, 0.5), mb = pct(tb, reps, 0.5);
    printf("pair a_median_ms=%.3f b_median_ms=%.3f ratio=%.3f n=%d\n", ma, mb, ma / mb, reps);
    free(ta);
    free(tb);
    loch_lake_free(lake);
    return 0;
}

/* ---- wal: loch_write's durable upserts ------------------------------------------------- */

typedef struct {
    int64_t *ids, *vs;
    const void *b0[2], *b1[2], *broot[1];
    struct ArrowArray c0, c1, *cp[2];
    struct ArrowSchema s0, s1, *sp[2];
    int64_t rows;
    int given;
} wal_stream;

static void wal_noop_array(struct ArrowArray *a) { a->release = NULL; }
static void wal_noop_schema(struct ArrowSchema *s) { s->release = NULL; }

static int wal_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    wal_stream *w = st->private_data;
    w->s0 = (struct ArrowSchema){.format = "l", .name = "id", .release = wal_noop_schema};
    w->s1 = (struct ArrowSchema){.format = "l", .name = "v", .flags = 2, .release = wal_noop_schema};
    w->sp[0] = &w->s0, w->sp[1] = &w->s1;
    *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = 2, .children = w->sp,
                                .release = wal_noop_schema};
    return 0;
}

static int wal_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    wal_stream *w = st->private_data;
    if (w->given++) {
        out->release = NULL;
        return 0;
    }
    w->b0[1] = w->ids, w->b1[1] = w->vs;
    w->c0 = (struct ArrowArray){.length = w->rows, .n_buffers = 2, .buffers = w->b0, .release = wal_noop_array};
    w->c1 = (struct ArrowArray){.length = w->rows, .n_buffers = 2, .buffers = w->b1, .release = wal_noop_array};
    w->cp[0] = &w->c0, w->cp[1] = &w->c1;
    *out = (struct ArrowArray){.length = w->rows, .n_buffers = 1, .buffers = w->broot, .n_children = 2,
                               .children = w->cp, .release = wal_noop_array};
    return 0;
}

static const char *wal_error(struct ArrowArrayStream *st) { (void)st; return ""; }
static void wal_release(struct ArrowArrayStream *st) { st->release = NULL; }

typedef struct {
    loch_lake *lake;
    int n, rows, id;
    double *lat;
    int failed;
} wal_arg;

static void *wal_writer(void *arg)
{
    wal_arg *a = arg;
    wal_stream w = {0};
    w.ids = malloc(sizeof(int64_t) * (size_t)a->rows);
    w.vs = malloc(sizeof(int64_t) * (size_t)a->rows);
    w.rows = a->rows;
    for (int i = 0; i < a->n; i++) {
        for (int r = 0; r < a->rows; r++) {
            w.ids[r] = ((int64_t)a->id * a->n + i) * a->rows + r;
            w.vs[r] = i;
        }
        w.given = 0;
        struct ArrowArrayStream st = {wal_get_schema, wal_get_next, wal_error, wal_release, &w};
        uint64_t lsn;
        double t0 = now_ms();
        if (loch_write(a->lake, "w", &st, LOCH_WRITE_UPSERT, &lsn) < 0) {
            fprintf(stderr, "bench: %s\n", loch_error_last());
            a->failed = 1;
            break;
        }
        a->lat[i] = now_ms() - t0;
    }
    free(w.ids);
    free(w.vs);
    return NULL;
}

static int bench_wal(const char *path, int threads, int n, int rows)
{
    loch_lake *lake;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    if (loch_lake_open(&lake, path, &o) < 0 || run(lake, "DROP TABLE IF EXISTS w") < 0 ||
        run(lake, "CREATE TABLE w (id BIGINT PRIMARY KEY, v BIGINT)") < 0 ||
        run(lake, "ALTER TABLE w SET TBLPROPERTIES ('loch.wal.flushRows' = '1000000000000', "
                  "'loch.wal.flushBytes' = '1000000000000')") < 0)
        return 1;
    wal_arg *a = calloc((size_t)threads, sizeof(*a));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    double *all = calloc((size_t)threads * (size_t)n, sizeof(double));
    for (int i = 0; i < threads; i++)
        a[i] = (wal_arg){lake, n, rows, i, all + (size_t)i * (size_t)n, 0};
    double t0 = now_ms();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, wal_writer, &a[i]);
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed |= a[i].failed;
    }
    double secs = (now_ms() - t0) / 1000;
    if (failed)
        return 1;
    int total = threads * n;
    printf("wal threads=%d rows_per_write=%d writes=%d p50_ms=%.3f p99_ms=%.3f rows_per_s=%.0f\n", threads, rows,
           total, pct(all, total, 0.5), pct(all, total, 0.99), (double)total * rows / secs);
    /* the floor: a small append made durable, on the same disk */
    char file[4096];
    snprintf(file, sizeof(file), "%s/_loch/tmp/fdatasync-bench", loch_lake_root(lake));
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    char bytes[64] = {0};
    for (int i = 0; fd >= 0 && i < n && i < 2000; i++) {
        double s0 = now_ms();
        if (write(fd, bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes) || fdatasync(fd) < 0)
            return 1;
        all[i] = now_ms() - s0;
    }
    if (fd >= 0) {
        close(fd);
        unlink(file);
        int m = n < 2000 ? n : 2000;
        printf("fdatasync p50_ms=%.3f p99_ms=%.3f\n", pct(all, m, 0.5), pct(all, m, 0.99));
    }
    free(a);
    free(th);
    free(all);
    loch_lake_free(lake);
    return 0;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    void *p = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(p = malloc((size_t)n + 1)) || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "ann: cannot read %s\n", path);
        free(p), p = NULL;
    }
    if (f)
        fclose(f);
    *len = p ? (size_t)n : 0;
    return p;
}

/* The filtered searches of `bench_core ann ... filter`. */
static void ann_filtered(hnsw *h, const float *train, size_t n, const float *test, size_t nq, size_t dim,
                         vec_metric metric)
{
    static const double sel[] = {0.01, 0.10, 0.50};
    size_t words = (n + 63) / 64, nsearch = nq < 200 ? nq : 200;
    uint64_t *allow = calloc(words, sizeof *allow), x = 0x9E3779B97F4A7C15ull;
    double *ms = calloc(nsearch, sizeof *ms);
    for (size_t s = 0; s < 3 && allow && ms; s++) {
        size_t allowed = 0, found = 0, wanted = 0;
        memset(allow, 0, words * sizeof *allow);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if ((double)(x >> 11) / 9007199254740992.0 < sel[s])
                allow[i / 64] |= UINT64_C(1) << (i % 64), allowed++;
        }
        size_t ef = (size_t)(96.0 / sel[s]);
        hnsw_query qr = {10, ef > 4096 ? 4096 : ef, allow, 10000};
        for (size_t q = 0; q < nsearch; q++) {
            hnsw_hit got[10];
            float best[10];
            size_t bid[10], have = 0;
            double t0 = now_ms();
            long ng = hnsw_search(h, test + q * dim, &qr, got);
            ms[q] = now_ms() - t0;
            for (size_t r = 0; r < n; r++) { /* the exact answer over the same rows */
                if (!((allow[r / 64] >> (r % 64)) & 1))
                    continue;
                float d = vec_dist(metric, train + r * dim, test + q * dim, dim);
                if (have == 10 && !(d < best[9]))
                    continue;
                size_t at = have < 10 ? have++ : 9;
                while (at > 0 && d < best[at - 1])
                    best[at] = best[at - 1], bid[at] = bid[at - 1], at--;
                best[at] = d, bid[at] = r;
            }
            for (long j = 0; j < ng; j++)
                for (size_t t = 0; t < have; t++)
                    found += got[j].label == bid[t];
            wanted += have;
        }
        printf("filter%.0f p50_ms=%.4f p99_ms=%.4f recall=%.4f allowed=%zu exact=%d\n", sel[s] * 100,
               pct(ms, (int)nsearch, 0.5), pct(ms, (int)nsearch, 0.99), (double)found / (double)wanted, allowed,
               hnsw_exact_for(h, &qr));
        fflush(stdout);
    }
    free(allow), free(ms);
}

static int bench_ann(char **argv, int filter)
{
    size_t tl, ql, gl, dim = (size_t)atol(argv[5]);
    float *train = slurp(argv[2], &tl), *test = slurp(argv[3], &ql);
    uint32_t *truth = slurp(argv[4], &gl);
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.metric = strcmp(argv[6], "l2") == 0 ? VEC_L2 : VEC_IP;
    o.codes = strcmp(argv[7], "i8") == 0 ? HNSW_I8 : HNSW_F32;
    o.m = (unsigned)atoi(argv[8]);
    o.ef_construction = (unsigned)atoi(argv[9]);
    if (!train || !test || !truth || dim == 0)
        return 1;
    size_t n = tl / 4 / dim, nq = ql / 4 / dim;
    if (gl / 4 / 10 < nq) {
        fprintf(stderr, "ann: %s has truth for %zu of %zu queries\n", argv[4], gl / 40, nq);
        return 1;
    }
    uint64_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = i;
    hnsw *h = NULL;
    double t0 = now_ms();
    if (hnsw_new(&h, dim, &o) < 0 || hnsw_add(h, train, labels, n) < 0) {
        fprintf(stderr, "ann: %s\n", loch_error_last());
        return 1;
    }
    printf("build seconds=%.3f n=%zu memory_mb=%.1f isa_avx512=%d\n", (now_ms() - t0) / 1000, n,
           (double)hnsw_memory(h) / 1e6, strncmp(vec_isa(), "avx512", 6) == 0);
    fflush(stdout);
    for (char *ef = strtok(argv[10], ","); ef; ef = strtok(NULL, ",")) {
        hnsw_query qr = {10, (size_t)atol(ef), NULL, 0};
        hnsw_hit hits[10];
        size_t found = 0;
        t0 = now_ms();
        for (size_t q = 0; q < nq; q++) {
            long got = hnsw_search(h, test + q * dim, &qr, hits);
            for (long j = 0; j < got; j++)
                for (int t = 0; t < 10; t++)
                    found += hits[j].label == truth[q * 10 + (size_t)t];
        }
        double ms = now_ms() - t0;
        printf("ef%s qps=%.1f recall=%.4f\n", ef, (double)nq / (ms / 1000), (double)found / (double)(nq * 10));
        fflush(stdout);
    }
    if (filter)
        ann_filtered(h, train, n, test, nq, dim, o.metric);
    hnsw_free(h);
    free(labels), free(train), free(test), free(truth);
    return 0;
}

/* loch's own SHA-256 (bench/sha256_ref.c) and OpenSSL's (util/sha256.h), alternating,
 * over the same bytes: ingest's hash, in MB/s, the median of reps rounds each; both must
 * give the same digest. */

static int bench_sha256(int mb, int reps)
{
    size_t n = (size_t)mb << 20, piece = 1 << 20;
    unsigned char *d = malloc(n);
    double *ta = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
    if (!d || !ta || !tb)
        return 1;
    for (size_t i = 0; i < n; i++)
        d[i] = (unsigned char)(i * 2654435761u >> 13);
    uint8_t a[32], b[32];
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        ref_sha256_ctx rc;
        ref_sha256_init(&rc);
        for (size_t at = 0; at < n; at += piece)
            ref_sha256_update(&rc, d + at, piece);
        ref_sha256_final(&rc, a);
        double t1 = now_ms();
        sha256_ctx c;
        if (sha256_init(&c) < 0)
            return 1;
        for (size_t at = 0; at < n; at += piece)
            sha256_update(&c, d + at, piece);
        if (sha256_final(&c, b) < 0 || memcmp(a, b, 32) != 0) {
            fprintf(stderr, "the digests differ\n");
            return 1;
        }
        ta[r] = t1 - t0, tb[r] = now_ms() - t1;
    }
    double ma = pct(ta, reps, 0.5), mb_ = pct(tb, reps, 0.5);
    printf("sha256 loch_mb_s=%.1f openssl_mb_s=%.1f\n", mb / (ma / 1000), mb / (mb_ / 1000));
    free(d), free(ta), free(tb);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "sha256") == 0)
        return bench_sha256(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 11 && strcmp(argv[1], "ann") == 0)
        return bench_ann(argv, argc >= 12 && strcmp(argv[11], "filter") == 0);
    if (argc >= 6 && strcmp(argv[1], "wal") == 0)
        return bench_wal(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && strcmp(argv[1], "pair") == 0)
        return bench_pair(argv[2], atoi(argv[3]), argv[4], argv[5]);
    if (argc >= 5 && strcmp(argv[1], "search") == 0)
        return bench_search(argv[2], atoi(argv[3]), argv[4]);
    if (argc >= 5 && strcmp(argv[1], "sql") == 0)
        return bench_sql(argv[2], atoi(argv[3]), argv[4]);
    if (argc >= 7 && strcmp(argv[1], "lookup") == 0)
        return bench_lookup(argv[2], atoi(argv[3]), argv[4], atoll(argv[5]), atoll(argv[6]));
    if (argc >= 4 && strcmp(argv[1], "commit") == 0)
        return bench_commit(argv[2], atoi(argv[3]), argc >= 5 && strcmp(argv[4], "cold") == 0);
    if (argc >= 5 && strcmp(argv[1], "fill") == 0)
        return bench_fill(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "open") == 0)
        return bench_open(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "demo") == 0)
        return bench_demo(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "query") == 0)
        return bench_query(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: bench_core commit LAKE N [cold] | lookup LAKE REPS SQL_FMT NKEYS STEP | fill LAKE TABLE N | open LAKE TABLE N | query LAKE REPS | pair LAKE REPS A B\n");
    return 2;
}
