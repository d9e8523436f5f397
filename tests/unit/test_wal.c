/*
 * tests/unit/test_wal.c - the write-ahead log: frames and their checksums, appends from
 * racing threads (dense LSNs, group commit), reads of a range, rotation, truncation, and
 * recovery from torn, zero-filled and garbage tails.
 *
 * Oracle for CRC-32C: the check value of the Castagnoli polynomial ("123456789" ->
 * 0xE3069283, RFC 3720 B.4 and every CRC catalogue).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/arrow_read.h"
#include "test.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "wal/frame.h"
#include "wal/wal.h"

/* ---- a batch of (id, __lsn, __change_type, __timestamp) ------------------------------ */

typedef struct {
    struct ArrowSchema root, cols[4];
    struct ArrowSchema *colp[4];
} tschema;

static void noop_schema(struct ArrowSchema *s) { s->release = NULL; }
static void noop_array(struct ArrowArray *a) { a->release = NULL; }

static void schema_init(tschema *t)
{
    static const char *const names[] = {"id", WAL_COL_LSN, WAL_COL_CHANGE, WAL_COL_TIME};
    static const char *const fmts[] = {"l", "l", "u", "tsu:UTC"};
    for (int i = 0; i < 4; i++) {
        t->cols[i] = (struct ArrowSchema){.format = fmts[i], .name = names[i], .flags = ARROW_FLAG_NULLABLE,
                                          .release = noop_schema};
        t->colp[i] = &t->cols[i];
    }
    t->root = (struct ArrowSchema){.format = "+s", .name = "", .n_children = 4, .children = t->colp,
                                   .release = noop_schema};
}

typedef struct {
    struct ArrowArray root, cols[4];
    struct ArrowArray *colp[4];
    const void *bufs[4][3];
    int64_t ids[64], lsns[64], ts[64];
    int32_t offs[65];
    char text[64 * 6];
} tbatch;

static void batch_init(tbatch *b, int64_t n, int64_t id0)
{
    memset(b, 0, sizeof(*b));
    for (int64_t i = 0; i < n; i++) {
        b->ids[i] = id0 + i;
        b->ts[i] = 1700000000000000 + i;
        memcpy(b->text + 6 * i, "upsert", 6);
        b->offs[i + 1] = (int32_t)(6 * (i + 1));
    }
    b->bufs[0][1] = b->ids;
    b->bufs[1][1] = b->lsns;
    b->bufs[2][1] = b->offs;
    b->bufs[2][2] = b->text;
    b->bufs[3][1] = b->ts;
    for (int i = 0; i < 4; i++) {
        b->cols[i] = (struct ArrowArray){.length = n, .n_buffers = i == 2 ? 3 : 2, .buffers = b->bufs[i],
                                         .release = noop_array};
        b->colp[i] = &b->cols[i];
    }
    b->root = (struct ArrowArray){.length = n, .n_buffers = 1, .buffers = b->bufs[0], .n_children = 4,
                                  .children = b->colp, .release = noop_array};
}

static wal *open_log(const char *dir, const tschema *s, uint64_t floor)
{
    wal *w = NULL;
    wal_options o = {.dir = dir, .table = "t", .schema_tag = "tag1", .schema = &s->root, .floor = floor,
                     .create = 1};
    CHECK_OK(wal_open(&w, &o));
    return w;
}

/* The rows' ids and LSNs of an Arrow stream wal_read gave. */
static int64_t read_ids(const buf *b, int64_t *ids, int64_t *lsns, int64_t cap)
{
    arrow_reader *r = NULL;
    int64_t n = 0;
    if (arrow_read_open(&r, (const unsigned char *)b->data, b->len) < 0)
        return -1;
    struct ArrowArray a;
    while (arrow_read_next(r, &a) == 0 && a.release) {
        const int64_t *id = a.children[0]->buffers[1], *l = a.children[1]->buffers[1];
        for (int64_t i = 0; i < a.length && n < cap; i++, n++)
            ids[n] = id[i], lsns[n] = l[i];
        a.release(&a);
    }
    arrow_read_free(r);
    return n;
}

static void test_crc32c(void)
{
    CHECK(crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    CHECK(crc32c(0, "", 0) == 0);
    unsigned char big[1000];
    for (int i = 0; i < 1000; i++)
        big[i] = (unsigned char)(i * 7);
    CHECK(crc32c(crc32c(0, big, 333), big + 333, 667) == crc32c(0, big, 1000));
}

static void test_frames(void)
{
    tschema s;
    tbatch b;
    schema_init(&s);
    batch_init(&b, 3, 10);
    for (int i = 0; i < 3; i++)
        b.lsns[i] = 5 + i;
    buf h = BUF_INIT, f = BUF_INIT;
    CHECK_OK(wal_frame_header(&h, &s.root, "users", "abc", 5));
    CHECK_OK(wal_frame_batch(&f, &s.root, &b.root, 5, 0, "prod-1", 9));
    wal_header hd;
    CHECK_OK(wal_frame_read_header((const unsigned char *)h.data, h.len, &hd));
    CHECK_STR(hd.table, "users");
    CHECK_STR(hd.schema_tag, "abc");
    CHECK(hd.first_lsn == 5 && hd.length == h.len);

    wal_frame_info fi;
    CHECK_OK(wal_frame_read((const unsigned char *)f.data, f.len, &fi));
    CHECK(fi.length == f.len && fi.first == 5 && fi.last == 7 && !fi.more);
    CHECK(fi.sequence == 9 && fi.producer_len == 6 && memcmp(fi.producer, "prod-1", 6) == 0);
    /* every prefix is refused, and so is every single flipped bit */
    for (size_t k = 0; k < f.len; k++)
        CHECK(wal_frame_read((const unsigned char *)f.data, k, &fi) == LOCH_ECORRUPT);
    for (size_t k = 0; k < f.len * 8; k += 3) {
        f.data[k / 8] ^= (char)(1 << (k % 8));
        CHECK(wal_frame_read((const unsigned char *)f.data, f.len, &fi) < 0);
        f.data[k / 8] ^= (char)(1 << (k % 8));
    }
    /* a header is not a frame, nor a frame a header */
    CHECK(wal_frame_read((const unsigned char *)h.data, h.len, &fi) == LOCH_ECORRUPT);
    CHECK(wal_frame_read_header((const unsigned char *)f.data, f.len, &hd) == LOCH_ECORRUPT);
    /* header + frame is an Arrow stream any reader takes */
    buf all = BUF_INIT;
    buf_put(&all, h.data, h.len);
    buf_put(&all, f.data, f.len);
    int64_t ids[8], lsns[8];
    CHECK(read_ids(&all, ids, lsns, 8) == 3);
    CHECK(ids[0] == 10 && ids[2] == 12 && lsns[0] == 5 && lsns[2] == 7);
    buf_free(&h);
    buf_free(&f);
    buf_free(&all);
}

static void test_append_read(void)
{
    char *dir = temp_dir();
    char logdir[512];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    tbatch b;
    schema_init(&s);
    wal *w = open_log(logdir, &s, 1);
    uint64_t first = 0, last = 0;
    for (int i = 0; i < 5; i++) {
        batch_init(&b, 2, 100 * i);
        CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
        CHECK(first == (uint64_t)(2 * i + 1) && last == first + 1);
        CHECK(b.lsns[0] == (int64_t)first && b.lsns[1] == (int64_t)last);
    }
    wal_status st;
    CHECK_OK(wal_stat(w, &st));
    CHECK(st.assigned == 10 && st.durable == 0 && st.segments == 1 && st.first == 1);
    CHECK_OK(wal_sync(w, 10));
    CHECK_OK(wal_stat(w, &st));
    CHECK(st.durable == 10);
    buf out = BUF_INIT;
    int64_t rows = 0, ids[16], lsns[16];
    CHECK_OK(wal_read(w, 4, 8, &out, &rows));
    CHECK(rows == 4);
    CHECK(read_ids(&out, ids, lsns, 16) == 4);
    CHECK(ids[0] == 200 && lsns[0] == 5 && lsns[3] == 8);
    /* rotate, append more, truncate what a flush took */
    uint64_t upto;
    CHECK_OK(wal_rotate(w, &s.root, "tag1", &upto));
    CHECK(upto == 10);
    batch_init(&b, 1, 7);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
    CHECK(first == 11);
    CHECK_OK(wal_sync(w, 11));
    buf_clear(&out);
    CHECK_OK(wal_read(w, 8, 11, &out, &rows));
    CHECK(rows == 3 && read_ids(&out, ids, lsns, 16) == 3 && ids[2] == 7 && lsns[2] == 11);
    CHECK_OK(wal_truncate(w, 10));
    CHECK_OK(wal_stat(w, &st));
    CHECK(st.segments == 1 && st.first == 11);
    buf_clear(&out);
    CHECK(wal_read(w, 8, 11, &out, &rows) == LOCH_ECONFLICT);
    buf_clear(&out);
    CHECK_OK(wal_read(w, 10, 11, &out, &rows));
    CHECK(rows == 1);
    /* reopening keeps the positions */
    wal_close(w);
    w = open_log(logdir, &s, 1);
    CHECK_OK(wal_stat(w, &st));
    CHECK(st.assigned == 11 && st.durable == 11);
    /* a floor above the log (its files lost, the table flushed further): LSNs go on from it */
    wal_close(w);
    w = open_log(logdir, &s, 50);
    batch_init(&b, 1, 1);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
    CHECK(first == 50);
    wal_close(w);
    buf_free(&out);
    remove_temp_dir(dir);
    free(dir);
}

/* Recovery after the machine restarted (the state says another boot): torn, zeroed and
 * garbage tails are cut, whole frames stay. */
static void forget_boot(const char *logdir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/state", logdir);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "x", 1, 8) == 1);
    close(fd);
}

static void test_recovery(void)
{
    static const char *const tails[] = {"torn", "zeros", "garbage", "copy"};
    for (int k = 0; k < 4; k++) {
        char *dir = temp_dir();
        char logdir[512], seg[600];
        snprintf(logdir, sizeof(logdir), "%s/log", dir);
        tschema s;
        tbatch b;
        schema_init(&s);
        wal *w = open_log(logdir, &s, 1);
        uint64_t first, last;
        for (int i = 0; i < 3; i++) {
            batch_init(&b, 4, 10 * i);
            CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
        }
        CHECK_OK(wal_sync(w, last));
        wal_close(w);
        snprintf(seg, sizeof(seg), "%s/%020d.arrows", logdir, 1);
        struct stat st;
        CHECK(stat(seg, &st) == 0);
        off_t whole = st.st_size;
        /* the tail */
        buf f = BUF_INIT;
        batch_init(&b, 4, 99);
        for (int i = 0; i < 4; i++)
            b.lsns[i] = 13 + i;
        CHECK_OK(wal_frame_batch(&f, &s.root, &b.root, 13, 0, NULL, 0));
        if (k == 0)
            f.len /= 2;
        else if (k == 1)
            memset(f.data, 0, f.len);
        else if (k == 2)
            for (size_t i = 0; i < f.len; i++)
                f.data[i] = (char)(i * 31 + 7);
        else
            f.data[f.len - 1] ^= 1; /* a whole frame with one bad byte */
        int fd = open(seg, O_WRONLY | O_APPEND);
        CHECK(fd >= 0 && write(fd, f.data, f.len) == (ssize_t)f.len);
        close(fd);
        forget_boot(logdir);
        w = open_log(logdir, &s, 1);
        CHECK(stat(seg, &st) == 0 && st.st_size == whole);
        wal_status ws;
        CHECK_OK(wal_stat(w, &ws));
        if (ws.assigned != 12 || ws.durable != 12)
            fprintf(stderr, "  tail %s: assigned %llu durable %llu\n", tails[k], (unsigned long long)ws.assigned,
                    (unsigned long long)ws.durable);
        CHECK(ws.assigned == 12 && ws.durable == 12);
        batch_init(&b, 1, 5);
        CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
        CHECK(first == 13);
        buf out = BUF_INIT;
        int64_t rows;
        CHECK_OK(wal_sync(w, 13));
        CHECK_OK(wal_read(w, 0, 13, &out, &rows));
        CHECK(rows == 13);
        buf_free(&out);
        buf_free(&f);
        wal_close(w);
        remove_temp_dir(dir);
        free(dir);
    }
}

/* A writer that died in the middle of a frame (its bytes past the recorded end, the
 * positions never moved): the next writer's frame replaces them, with no restart. */
static void test_dead_writer(void)
{
    char *dir = temp_dir();
    char logdir[512], seg[600];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    tbatch b;
    schema_init(&s);
    wal *w = open_log(logdir, &s, 1);
    uint64_t first, last;
    batch_init(&b, 2, 1);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
    snprintf(seg, sizeof(seg), "%s/%020d.arrows", logdir, 1);
    int fd = open(seg, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "\xff\xff\xff\xff\x10\x00\x00\x00partial", 15) == 15);
    close(fd);
    batch_init(&b, 2, 3);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
    CHECK(first == 3);
    CHECK_OK(wal_sync(w, 4));
    buf out = BUF_INIT;
    int64_t rows, ids[8], lsns[8];
    CHECK_OK(wal_read(w, 0, 4, &out, &rows));
    CHECK(rows == 4 && read_ids(&out, ids, lsns, 8) == 4 && ids[3] == 4 && lsns[3] == 4);
    buf_free(&out);
    wal_close(w);
    remove_temp_dir(dir);
    free(dir);
}

/* A fence: an append waits while a thread holds it and goes in once it ends; a fence
 * whose holder died (a child process that exits holding it) stops nothing. */
typedef struct {
    wal *w;
    const tschema *s;
    int rc;
    uint64_t first;
} fenced_writer;

static void *fenced_write(void *arg)
{
    fenced_writer *f = arg;
    tbatch b;
    uint64_t last;
    batch_init(&b, 1, 50);
    f->rc = wal_append(f->w, &f->s->root, (struct ArrowArray *[]){&b.root}, 1, &f->first, &last);
    return NULL;
}

static void on_fenced(void *ctx) { atomic_store((_Atomic int *)ctx, 1); }

static void test_fences(void)
{
    char *dir = temp_dir();
    char logdir[512];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    tbatch b;
    schema_init(&s);
    _Atomic int saw = 0;
    wal *created = open_log(logdir, &s, 1);
    wal_close(created);
    wal_options o = {.dir = logdir, .table = "t", .schema_tag = "tag1", .schema = &s.root, .floor = 1,
                     .fenced = on_fenced, .fenced_ctx = (void *)&saw};
    wal *w = NULL;
    CHECK_OK(wal_open(&w, &o));
    wal_fence *f = NULL;
    CHECK_OK(wal_fence_begin(logdir, &f));
    fenced_writer fw = {w, &s, -1, 0};
    pthread_t th;
    pthread_create(&th, NULL, fenced_write, &fw);
    while (!atomic_load(&saw)) /* the writer found the fence: it waits for its end */
        sched_yield();
    uint64_t first, last;
    CHECK(fw.rc == -1);
    wal_fence_end(f);
    pthread_join(th, NULL);
    CHECK(fw.rc == 0 && fw.first == 1);
    pid_t child = fork();
    if (child == 0) { /* holds a fence and dies with it */
        wal_fence *g = NULL;
        _exit(wal_fence_begin(logdir, &g) == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    batch_init(&b, 1, 60);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, &first, &last));
    CHECK(first == 2);
    wal_close(w);
    remove_temp_dir(dir);
    free(dir);
}

/* A write of two batches is two frames; with the second one torn, recovery keeps
 * neither, and a reader never sees the first alone. */
static void test_whole_writes(void)
{
    char *dir = temp_dir();
    char logdir[512], seg[600];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    tbatch b1, b2;
    schema_init(&s);
    wal *w = open_log(logdir, &s, 1);
    uint64_t first, last;
    batch_init(&b1, 2, 1);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b1.root}, 1, &first, &last));
    CHECK_OK(wal_sync(w, last));
    snprintf(seg, sizeof(seg), "%s/%020d.arrows", logdir, 1);
    struct stat st;
    CHECK(stat(seg, &st) == 0);
    off_t one = st.st_size;
    batch_init(&b1, 3, 10);
    batch_init(&b2, 4, 20);
    CHECK_OK(wal_append(w, &s.root, (struct ArrowArray *[]){&b1.root, &b2.root}, 2, &first, &last));
    CHECK(first == 3 && last == 9 && b2.lsns[0] == 6);
    CHECK_OK(wal_sync(w, last));
    buf out = BUF_INIT;
    int64_t rows;
    CHECK_OK(wal_read(w, 2, 9, &out, &rows));
    CHECK(rows == 7);
    wal_close(w);
    CHECK(stat(seg, &st) == 0);
    off_t two = st.st_size;
    CHECK(truncate(seg, two - 10) == 0);
    forget_boot(logdir);
    w = open_log(logdir, &s, 1);
    CHECK(stat(seg, &st) == 0 && st.st_size == one);
    wal_status ws;
    CHECK_OK(wal_stat(w, &ws));
    CHECK(ws.assigned == 2 && ws.durable == 2);
    buf_free(&out);
    wal_close(w);
    remove_temp_dir(dir);
    free(dir);
}

/* A producer's repeated sequence is acknowledged with the LSN it got, not written again:
 * across handles, after a restart (rebuilt from the frames), and after the frames were
 * flushed away (from the seeds a flush recorded). */
static void test_producers(void)
{
    char *dir = temp_dir();
    char logdir[512];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    tbatch b;
    schema_init(&s);
    wal *w = open_log(logdir, &s, 1), *w2 = open_log(logdir, &s, 1);
    uint64_t first, last;
    int dup = -1;
    batch_init(&b, 2, 1);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p1", 1, &first, &last, &dup));
    CHECK(!dup && last == 2);
    batch_init(&b, 2, 1);
    CHECK_OK(wal_append_from(w2, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p1", 1, &first, &last, &dup));
    CHECK(dup && last == 2); /* the other handle knows */
    batch_init(&b, 1, 9);
    CHECK_OK(wal_append_from(w2, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p2", 1, &first, &last, &dup));
    CHECK(!dup && last == 3);
    batch_init(&b, 1, 3);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p1", 2, &first, &last, &dup));
    CHECK(!dup && last == 4);
    CHECK_OK(wal_sync(w, 4));
    wal_close(w);
    wal_close(w2);
    forget_boot(logdir); /* a restart: rebuilt from the frames */
    w = open_log(logdir, &s, 1);
    batch_init(&b, 1, 3);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p1", 2, &first, &last, &dup));
    CHECK(dup && last == 4);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p1", 1, &first, &last, &dup));
    CHECK(dup && last == 4);
    /* flushed and truncated, then a restart: the seeds answer */
    uint64_t upto;
    CHECK_OK(wal_rotate(w, &s.root, "tag1", &upto));
    CHECK_OK(wal_truncate(w, upto));
    wal_close(w);
    forget_boot(logdir);
    wal_seed seeds[] = {{"p1", 2, 4}, {"p2", 1, 3}};
    wal_options o = {.dir = logdir, .table = "t", .schema_tag = "tag1", .schema = &s.root, .floor = 5, .create = 1,
                     .seeds = seeds, .nseeds = 2};
    CHECK_OK(wal_open(&w, &o));
    batch_init(&b, 1, 3);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p2", 1, &first, &last, &dup));
    CHECK(dup && last == 3);
    CHECK_OK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "p2", 2, &first, &last, &dup));
    CHECK(!dup && last == 5);
    CHECK(wal_append_from(w, &s.root, (struct ArrowArray *[]){&b.root}, 1, "bad id", 3, &first, &last, &dup) ==
          LOCH_EINVALID);
    wal_close(w);
    remove_temp_dir(dir);
    free(dir);
}

typedef struct {
    const char *dir;
    const tschema *s;
    uint64_t lsns[200];
    int n;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *a = arg;
    wal *w = open_log(a->dir, a->s, 1); /* its own object: as another process would */
    tbatch b;
    for (int i = 0; i < a->n; i++) {
        uint64_t first, last;
        batch_init(&b, 1, i);
        if (wal_append(w, &a->s->root, (struct ArrowArray *[]){&b.root}, 1, &first, &last) < 0 || wal_sync(w, last) < 0)
            a->lsns[i] = 0;
        else
            a->lsns[i] = first;
    }
    wal_close(w);
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_racing_writers(void)
{
    char *dir = temp_dir();
    char logdir[512];
    snprintf(logdir, sizeof(logdir), "%s/log", dir);
    tschema s;
    schema_init(&s);
    wal_close(open_log(logdir, &s, 1));
    enum { T = 8, N = 100 };
    pthread_t th[T];
    static writer_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (writer_arg){.dir = logdir, .s = &s, .n = N};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    uint64_t all[T * N];
    for (int i = 0; i < T; i++)
        memcpy(all + i * N, args[i].lsns, N * sizeof(uint64_t));
    qsort(all, T * N, sizeof(uint64_t), cmp_u64);
    for (int i = 0; i < T * N; i++)
        CHECK(all[i] == (uint64_t)i + 1); /* dense, each once */
    wal *w = open_log(logdir, &s, 1);
    buf out = BUF_INIT;
    int64_t rows;
    CHECK_OK(wal_read(w, 0, T * N, &out, &rows));
    CHECK(rows == T * N);
    buf_free(&out);
    wal_close(w);
    remove_temp_dir(dir);
    free(dir);
}

TEST_MAIN({"crc32c", test_crc32c}, {"frames", test_frames}, {"append_read", test_append_read},
          {"recovery", test_recovery}, {"dead_writer", test_dead_writer}, {"whole_writes", test_whole_writes},
          {"producers", test_producers}, {"racing_writers", test_racing_writers}, {"fences", test_fences})
