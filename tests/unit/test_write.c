/*
 * tests/unit/test_write.c - loch_write, the C API's streaming writes: Arrow streams into
 * a primary-key table's write-ahead log from many threads at once (each write once,
 * LSNs dense), what the next query sees, deletes by key, a pipelined producer, and the
 * errors a caller's stream can earn (wrong types, a missing key, NULL keys, unknown
 * columns).
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arrow.h"
#include "loch/loch.h"
#include "test.h"

/* ---- a stream of batches of (id BIGINT, name VARCHAR) ---------------------------------- */

typedef struct {
    int64_t ids[16];
    int32_t offs[17];
    char text[16 * 8];
    uint8_t valid[2];
    const void *b0[2], *b1[3], *broot[1];
    struct ArrowArray c0, c1, *cp[2];
    int64_t n;
} one_batch;

typedef struct {
    one_batch batches[4];
    int nbatches, next;
    const char *id_format, *id_name;
    int with_name, null_id;
    struct ArrowSchema kids[2], *kp[2];
} tstream;

static void noop_array(struct ArrowArray *a) { a->release = NULL; }
static void noop_schema(struct ArrowSchema *s) { s->release = NULL; }

static int get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    /* the stream owns the schema's memory (a consumer may call this more than once and
     * release what it got in any order) */
    tstream *t = st->private_data;
    t->kids[0] = (struct ArrowSchema){.format = t->id_format, .name = t->id_name, .flags = 2, .release = noop_schema};
    t->kids[1] = (struct ArrowSchema){.format = "u", .name = "name", .flags = 2, .release = noop_schema};
    t->kp[0] = &t->kids[0];
    t->kp[1] = &t->kids[1];
    *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = t->with_name ? 2 : 1, .children = t->kp,
                                .release = noop_schema};
    return 0;
}

static int get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    tstream *t = st->private_data;
    if (t->next == t->nbatches) {
        out->release = NULL;
        return 0;
    }
    one_batch *b = &t->batches[t->next++];
    b->b0[0] = t->null_id ? b->valid : NULL;
    b->b0[1] = b->ids;
    b->b1[0] = NULL;
    b->b1[1] = b->offs;
    b->b1[2] = b->text;
    b->c0 = (struct ArrowArray){.length = b->n, .null_count = t->null_id ? 1 : 0, .n_buffers = 2, .buffers = b->b0,
                                .release = noop_array};
    b->c1 = (struct ArrowArray){.length = b->n, .n_buffers = 3, .buffers = b->b1, .release = noop_array};
    b->cp[0] = &b->c0;
    b->cp[1] = &b->c1;
    *out = (struct ArrowArray){.length = b->n, .n_buffers = 1, .buffers = b->broot, .n_children = t->with_name ? 2 : 1,
                               .children = b->cp, .release = noop_array};
    return 0;
}

static const char *last_error(struct ArrowArrayStream *st) { (void)st; return "test stream"; }
static void stream_release(struct ArrowArrayStream *st) { st->release = NULL; }

/* A stream of nb batches of n rows each, ids from id0, names "n<id>". */
static void stream_init(tstream *t, struct ArrowArrayStream *st, int nb, int64_t n, int64_t id0)
{
    memset(t, 0, sizeof(*t));
    t->nbatches = nb;
    t->id_format = "l";
    t->id_name = "id";
    t->with_name = 1;
    for (int k = 0; k < nb; k++) {
        one_batch *b = &t->batches[k];
        b->n = n;
        b->valid[0] = 0xFE, b->valid[1] = 0xFF; /* row 0 NULL when null_id */
        for (int64_t i = 0; i < n; i++) {
            int64_t id = id0 + k * n + i;
            b->ids[i] = id;
            int len = snprintf(b->text + b->offs[i], 8, "n%lld", (long long)(id % 100000));
            b->offs[i + 1] = b->offs[i] + (len > 7 ? 7 : len);
        }
    }
    *st = (struct ArrowArrayStream){get_schema, get_next, last_error, stream_release, t};
}

static int run(loch_lake *lake, const char *sql)
{
    loch_result *r = NULL;
    int rc = loch_sql(&r, lake, sql);
    loch_result_free(r);
    return rc;
}

static char *scalar(loch_lake *lake, const char *sql)
{
    loch_result *r = NULL;
    char *v = NULL;
    if (loch_sql(&r, lake, sql) == 0 && loch_result_rows(r) == 1)
        v = loch_result_text(r, 0, 0);
    loch_result_free(r);
    return v;
}

static loch_lake *make_lake(char **dir)
{
    *dir = temp_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/lake", *dir);
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    o.create = 1;
    loch_lake *lake = NULL;
    CHECK_OK(loch_lake_open(&lake, path, &o));
    CHECK_OK(run(lake, "CREATE TABLE u (id BIGINT PRIMARY KEY, name VARCHAR)"));
    return lake;
}

typedef struct {
    loch_lake *lake;
    int w, n;
    uint64_t lsns[64];
    int failed;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        tstream t;
        struct ArrowArrayStream st;
        stream_init(&t, &st, 1, 1, a->w * 1000 + i);
        if (loch_write(a->lake, "u", &st, LOCH_WRITE_UPSERT, &a->lsns[i]) < 0)
            a->failed++;
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_threads_write_once_each(void)
{
    char *dir;
    loch_lake *lake = make_lake(&dir);
    enum { T = 16, N = 20 };
    static writer_arg args[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        args[i] = (writer_arg){.lake = lake, .w = i, .n = N};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    uint64_t all[T * N];
    for (int i = 0; i < T; i++) {
        CHECK(args[i].failed == 0);
        memcpy(all + i * N, args[i].lsns, N * sizeof(uint64_t));
    }
    qsort(all, T * N, sizeof(uint64_t), cmp_u64);
    for (int i = 0; i < T * N; i++)
        CHECK(all[i] == (uint64_t)i + 1);
    char *v = scalar(lake, "SELECT count(*) FROM u");
    CHECK_STR(v, "320");
    free(v);
    v = scalar(lake, "SELECT name FROM u WHERE id = 15019");
    CHECK_STR(v, "n15019");
    free(v);
    CHECK_OK(loch_table_flush(NULL, lake, "u"));
    v = scalar(lake, "SELECT count(*) FROM u");
    CHECK_STR(v, "320");
    free(v);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

static void test_batches_deletes_and_pipelining(void)
{
    char *dir;
    loch_lake *lake = make_lake(&dir);
    tstream t;
    struct ArrowArrayStream st;
    uint64_t lsn = 0;
    stream_init(&t, &st, 3, 10, 1); /* ids 1..30, one write of three frames */
    CHECK_OK(loch_write(lake, "u", &st, LOCH_WRITE_UPSERT | LOCH_WRITE_NOWAIT, &lsn));
    CHECK(lsn == 30);
    CHECK_OK(loch_wait_durable(lake, "u", lsn));
    stream_init(&t, &st, 1, 5, 1); /* delete ids 1..5: the key alone */
    t.with_name = 0;
    CHECK_OK(loch_write(lake, "u", &st, LOCH_WRITE_DELETE, &lsn));
    CHECK(lsn == 35);
    char *v = scalar(lake, "SELECT count(*) || ':' || min(id) FROM u");
    CHECK_STR(v, "25:6");
    free(v);
    /* a producer's retry: applied once, answered with its LSN */
    loch_write_options wo = LOCH_WRITE_OPTIONS_INIT;
    wo.producer = "feed-7";
    wo.sequence = 1;
    int dup = -1;
    stream_init(&t, &st, 1, 2, 500);
    CHECK_OK(loch_write_with(lake, "u", &st, LOCH_WRITE_UPSERT, &wo, &lsn, &dup));
    CHECK(!dup && lsn == 37);
    stream_init(&t, &st, 1, 2, 600);
    CHECK_OK(loch_write_with(lake, "u", &st, LOCH_WRITE_UPSERT, &wo, &lsn, &dup));
    CHECK(dup && lsn == 37 && st.release == NULL);
    v = scalar(lake, "SELECT count(*) FROM u WHERE id >= 500");
    CHECK_STR(v, "2");
    free(v);
    /* what is refused, with the column named */
    stream_init(&t, &st, 1, 1, 99);
    t.id_format = "i";
    CHECK(loch_write(lake, "u", &st, LOCH_WRITE_UPSERT, &lsn) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "column id is Arrow \"i\"") != NULL);
    stream_init(&t, &st, 1, 1, 99);
    t.id_name = "key";
    CHECK(loch_write(lake, "u", &st, LOCH_WRITE_UPSERT, &lsn) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "no column id") != NULL);
    stream_init(&t, &st, 1, 2, 99);
    t.null_id = 1;
    CHECK(loch_write(lake, "u", &st, LOCH_WRITE_UPSERT, &lsn) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "NULL") != NULL);
    CHECK(st.release == NULL); /* taken, even when refused */
    stream_init(&t, &st, 1, 1, 99);
    CHECK(loch_write(lake, "nope", &st, LOCH_WRITE_UPSERT, &lsn) == LOCH_ENOTFOUND);
    /* nothing of the refused writes went in (25 left of the first, 2 of the producer's) */
    v = scalar(lake, "SELECT count(*) FROM u");
    CHECK_STR(v, "27");
    free(v);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

/* A table without a key, its log on (loch.wal.enabled): writes are appends (an upsert
 * too: no key to match), a delete is refused, a flush is one append commit. */
static void test_append_only_table(void)
{
    char *dir;
    loch_lake *lake = make_lake(&dir);
    CHECK_OK(run(lake, "CREATE TABLE ev (id BIGINT, name VARCHAR)"));
    tstream t;
    struct ArrowArrayStream st;
    uint64_t lsn = 0;
    stream_init(&t, &st, 1, 3, 1);
    CHECK(loch_write(lake, "ev", &st, LOCH_WRITE_INSERT, &lsn) == LOCH_EUNSUPPORTED); /* no log yet */
    CHECK(strstr(loch_error_last(), "loch.wal.enabled") != NULL);
    CHECK_OK(run(lake, "ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'true')"));
    for (int k = 0; k < 2; k++) { /* the same ids twice: both kept */
        stream_init(&t, &st, 2, 3, 1);
        CHECK_OK(loch_write(lake, "ev", &st, k ? LOCH_WRITE_UPSERT : LOCH_WRITE_INSERT, &lsn));
    }
    CHECK(lsn == 12);
    stream_init(&t, &st, 1, 1, 1);
    t.with_name = 0;
    CHECK(loch_write(lake, "ev", &st, LOCH_WRITE_DELETE, &lsn) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "inserts only") != NULL);
    char *v = scalar(lake, "SELECT count(*) || ':' || count(DISTINCT id) FROM ev");
    CHECK_STR(v, "12:6");
    free(v);
    CHECK_OK(loch_table_flush(NULL, lake, "ev"));
    v = scalar(lake, "SELECT count(*) || ':' || count(DISTINCT id) FROM ev");
    CHECK_STR(v, "12:6");
    free(v);
    v = scalar(lake, "SELECT count(*) FROM \"ev@v2\""); /* the flush: one commit, every row */
    CHECK_STR(v, "12");
    free(v);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

/* The two-phase sink: nothing visible until commit, a commit once, an abort leaves
 * nothing, and a second handle (a restarted sink) finds the epoch committed. */
static void test_sink_epochs(void)
{
    char *dir;
    loch_lake *lake = make_lake(&dir);
    CHECK_OK(run(lake, "CREATE TABLE e (id BIGINT, name VARCHAR)"));
    tstream t;
    struct ArrowArrayStream st;
    int64_t v = -2;
    stream_init(&t, &st, 2, 5, 1);
    CHECK_OK(loch_txn_prepare(lake, "e", "job-1.op", 1, &st));
    char *n = scalar(lake, "SELECT count(*) FROM e");
    CHECK_STR(n, "0");
    free(n);
    CHECK_OK(loch_txn_commit(lake, "e", "job-1.op", 1, &v));
    CHECK(v == 1);
    n = scalar(lake, "SELECT count(*) || ':' || max(id) FROM e");
    CHECK_STR(n, "10:10");
    free(n);
    CHECK_OK(loch_txn_commit(lake, "e", "job-1.op", 1, &v)); /* a retry: a no-op */
    CHECK(v == -1);
    /* abort: its files and marker go */
    stream_init(&t, &st, 1, 3, 100);
    CHECK_OK(loch_txn_prepare(lake, "e", "job-1.op", 2, &st));
    CHECK_OK(loch_txn_abort(lake, "e", "job-1.op", 2));
    CHECK_OK(loch_txn_abort(lake, "e", "job-1.op", 2));
    CHECK(loch_txn_commit(lake, "e", "job-1.op", 2, &v) == LOCH_ENOTFOUND);
    /* prepared by one handle, committed by another (the sink restarted), once */
    stream_init(&t, &st, 1, 4, 200);
    CHECK_OK(loch_txn_prepare(lake, "e", "job-1.op", 3, &st));
    char path[512];
    snprintf(path, sizeof(path), "%s/lake", dir);
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    loch_lake *again = NULL;
    CHECK_OK(loch_lake_open(&again, path, &o));
    CHECK_OK(loch_txn_commit(again, "e", "job-1.op", 3, &v));
    CHECK(v == 2);
    CHECK_OK(loch_txn_commit(lake, "e", "job-1.op", 3, &v));
    CHECK(v == -1);
    loch_lake_free(again);
    n = scalar(lake, "SELECT count(*) FROM e");
    CHECK_STR(n, "14");
    free(n);
    /* refused: a table with a primary key, a bad sink id */
    stream_init(&t, &st, 1, 1, 1);
    CHECK(loch_txn_prepare(lake, "u", "s", 1, &st) == LOCH_EUNSUPPORTED);
    stream_init(&t, &st, 1, 1, 1);
    CHECK(loch_txn_prepare(lake, "e", "../x", 1, &st) == LOCH_EINVALID);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

typedef struct {
    loch_lake *lake;
    int64_t epoch, version;
    int abort, rc;
} sink_arg;

static void *sink_thread(void *arg)
{
    sink_arg *a = arg;
    a->rc = a->abort ? loch_txn_abort(a->lake, "e", "s", a->epoch) : loch_txn_commit(a->lake, "e", "s", a->epoch,
                                                                                       &a->version);
    return NULL;
}

/* Epochs commit in order (an overtaken one is refused, not dropped), and an abort
 * racing a commit of the same epoch waits for it, then leaves its files alone. */
static void test_sink_order_and_race(void)
{
    char *dir;
    loch_lake *lake = make_lake(&dir);
    CHECK_OK(run(lake, "CREATE TABLE e (id BIGINT, name VARCHAR)"));
    tstream t;
    struct ArrowArrayStream st;
    int64_t v;
    stream_init(&t, &st, 1, 2, 1);
    CHECK_OK(loch_txn_prepare(lake, "e", "s", 1, &st));
    stream_init(&t, &st, 1, 3, 10);
    CHECK_OK(loch_txn_prepare(lake, "e", "s", 2, &st));
    CHECK_OK(loch_txn_commit(lake, "e", "s", 2, &v));
    CHECK(loch_txn_commit(lake, "e", "s", 1, &v) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "in order") != NULL);
    CHECK_OK(loch_txn_abort(lake, "e", "s", 1));
    char *n = scalar(lake, "SELECT count(*) FROM e");
    CHECK_STR(n, "3");
    free(n);
    /* the race: a commit held inside (its lock taken), an abort of the same epoch */
    stream_init(&t, &st, 1, 4, 100);
    CHECK_OK(loch_txn_prepare(lake, "e", "s", 3, &st));
    char holddir[512], spec[600], path[600];
    snprintf(holddir, sizeof(holddir), "%s/hold", dir);
    mkdir(holddir, 0755);
    snprintf(spec, sizeof(spec), "sink-commit:%s", holddir);
    snprintf(path, sizeof(path), "%s/lake", dir);
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    o.test_hold = spec;
    loch_lake *held = NULL, *other = NULL;
    CHECK_OK(loch_lake_open(&held, path, &o));
    loch_lake_options o2 = LOCH_LAKE_OPTIONS_INIT;
    CHECK_OK(loch_lake_open(&other, path, &o2));
    sink_arg c = {held, 3, -2, 0, 0}, a = {other, 3, 0, 1, 0};
    pthread_t tc, ta;
    pthread_create(&tc, NULL, sink_thread, &c);
    for (int reached = 0; !reached;) { /* waiting for the event, not for time */
        DIR *d = opendir(holddir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            reached = reached || strstr(e->d_name, ".reached") != NULL;
        if (d)
            closedir(d);
        if (!reached)
            sched_yield();
    }
    pthread_create(&ta, NULL, sink_thread, &a);
    snprintf(path, sizeof(path), "%s/sink-commit.go", holddir);
    fclose(fopen(path, "w"));
    pthread_join(tc, NULL);
    pthread_join(ta, NULL);
    CHECK(c.rc == 0 && c.version >= 0 && a.rc == 0);
    n = scalar(lake, "SELECT count(*) || ':' || sum(id) FROM e");
    CHECK_STR(n, "7:439"); /* 10+11+12 and 100..103: every file the commit named is there */
    free(n);
    loch_lake_free(held);
    loch_lake_free(other);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

TEST_MAIN({"threads_write_once_each", test_threads_write_once_each}, {"sink_epochs", test_sink_epochs},
          {"sink_order_and_race", test_sink_order_and_race},
          {"batches_deletes_and_pipelining", test_batches_deletes_and_pipelining},
          {"append_only_table", test_append_only_table})
