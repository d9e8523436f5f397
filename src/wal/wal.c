/*
 * wal/wal.c - a table's write-ahead log on the local filesystem; see wal.h.
 *
 * A log on an object store would still keep this directory on local disk: appends and
 * fdatasync are what make a write durable in a millisecond, and a bucket offers
 * neither. So this file speaks POSIX itself instead of going through core/storage.h.
 */
#include "wal/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "formats/arrow_read.h"
#include "util/error.h"
#include "wal/frame.h"

#define STATE_MAGIC "LOCHWAL1"
#define DEFAULT_SEGMENT (INT64_C(64) << 20)

typedef struct {
    uint64_t next_lsn, end_offset, seg_first;
    char tag[64];
    /* the producer entry the write that made these positions numbered, applied to the
     * producers' table after the switch (again by the next writer if that one died) */
    int32_t prod;           /* entry index, -1 none */
    uint64_t prod_seq, prod_lsn;
} wal_pos;

/* One producer's last numbered write (the shared `producers` file). */
#define PRODUCERS 65536
typedef struct {
    char id[WAL_PRODUCER_MAX + 1];  /* "" = free */
    uint64_t seq, lsn;
} wal_producer;

/* The shared state file's layout (one page, mapped by every writer). */
typedef struct {
    char magic[8];
    char boot[40];
    _Atomic uint32_t cur;          /* which slot holds the positions */
    _Atomic uint32_t failed;       /* an fdatasync failed: no writes until recovered */
    wal_pos slot[2];
    _Atomic uint64_t durable;      /* every LSN up to it is durable */
    _Atomic uint64_t generation;   /* moved on by a change of the table's schema or identity */
    _Atomic uint32_t fence;        /* a change of the table is under way: appends wait (wal_fence_begin) */
} wal_shared;

struct wal {
    char *dir, *table;
    uint64_t floor;
    int64_t segment_bytes;
    int lock_fd, sync_fd, state_fd, flush_fd;
    wal_shared *sh;
    int seg_fd;                    /* the segment seg_fd_first names, or -1 */
    int prod_fd;
    wal_producer *prods;           /* mapped `producers`: PRODUCERS entries, open addressing */
    const wal_seed *seeds;         /* producers a flush recorded, for recovery (borrowed, open only) */
    size_t nseeds;
    uint64_t seg_fd_first;
    pthread_mutex_t append_mu, sync_mu;
    void (*fenced)(void *ctx);     /* wal_options' test hook */
    void *fenced_ctx;
    /* Group commit in this process: one leader syncs, the others sleep on gc_epoch (a
     * futex the leader bumps and wakes when its sync ends) and look at the durable LSN
     * again. No mutex: a crowd of woken writers does not queue on one lock only to see
     * that their LSN is durable and leave. */
    _Atomic int syncing;
    _Atomic uint32_t gc_epoch;
    buf scratch;                   /* the frame being written */
    int failed;                    /* this object saw a failed fdatasync */
    pthread_mutex_t oldest_mu;     /* wal_oldest's answer for oldest_after: frames do not */
    uint64_t oldest_after;         /* change, so it holds until a flush moves `after` on */
    int64_t oldest_ms;             /* (0: not known) */
};

static int sys_error(const char *what, const char *path)
{
    int e = errno;
    return error_set(e == ENOSPC ? LOCH_EIO : LOCH_EIO, "write-ahead log: %s %s: %s", what, path, strerror(e));
}

static void boot_id(char out[40])
{
    memset(out, 0, 40);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, out, 39);
        (void)n;
        close(fd);
    }
}

static void seg_name(char *out, size_t cap, const char *dir, uint64_t first)
{
    snprintf(out, cap, "%s/%020" PRIu64 ".arrows", dir, first);
}

static const wal_pos *pos_now(const wal *w) { return &w->sh->slot[atomic_load(&w->sh->cur) & 1]; }

/* Publishes new positions (under the append lock): the spare slot, then the switch. */
static void pos_set(wal *w, const wal_pos *p)
{
    uint32_t cur = atomic_load(&w->sh->cur) & 1;
    w->sh->slot[cur ^ 1] = *p;
    atomic_store(&w->sh->cur, cur ^ 1);
}

/* The current positions' producer update, into the table (idempotent; append lock held). */
static void prod_apply(wal *w)
{
    const wal_pos *p = pos_now(w);
    if (p->prod >= 0 && p->prod < PRODUCERS && w->prods[p->prod].seq < p->prod_seq) {
        w->prods[p->prod].seq = p->prod_seq;
        w->prods[p->prod].lsn = p->prod_lsn;
    }
}

static uint32_t prod_hash(const char *id, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    return h;
}

/* The producer's entry (claimed when create), or -1. */
static int prod_find(wal *w, const char *id, size_t n, int create)
{
    uint32_t h = prod_hash(id, n) % PRODUCERS;
    for (uint32_t k = 0; k < PRODUCERS; k++) {
        wal_producer *e = &w->prods[(h + k) % PRODUCERS];
        if (!e->id[0]) {
            if (!create)
                return -1;
            memcpy(e->id, id, n);
            e->id[n] = '\0';
            e->seq = e->lsn = 0;
            return (int)((h + k) % PRODUCERS);
        }
        if (strlen(e->id) == n && memcmp(e->id, id, n) == 0)
            return (int)((h + k) % PRODUCERS);
    }
    return -1;
}

/* Recovery: a producer's write seen (from a flush's record or a frame). */
static void prod_seen(wal *w, const char *id, size_t n, uint64_t seq, uint64_t lsn)
{
    int i = n && n <= WAL_PRODUCER_MAX ? prod_find(w, id, n, 1) : -1;
    if (i >= 0 && w->prods[i].seq < seq) {
        w->prods[i].seq = seq;
        w->prods[i].lsn = lsn;
    }
}

static void durable_at_least(wal *w, uint64_t lsn)
{
    uint64_t d = atomic_load(&w->sh->durable);
    while (d < lsn && !atomic_compare_exchange_weak(&w->sh->durable, &d, lsn))
        ;
}

static int flock_ex(int fd)
{
    int rc;
    while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    return rc;
}

static int lock_both(wal *w, int sync, int append)
{
    if (sync) {
        pthread_mutex_lock(&w->sync_mu);
        if (flock_ex(w->sync_fd) < 0) {
            pthread_mutex_unlock(&w->sync_mu);
            return sys_error("cannot lock", w->dir);
        }
    }
    if (append) {
        pthread_mutex_lock(&w->append_mu);
        struct stat st;
        int gone = 0;
        if (flock_ex(w->lock_fd) < 0 || (gone = fstat(w->state_fd, &st) == 0 && st.st_nlink == 0)) {
            if (!gone)
                sys_error("cannot lock", w->dir);
            else /* removed with its table while we waited (wal_remove): never written into */
                error_set(LOCH_ECONFLICT, "the write-ahead log of table %s was removed (the table was dropped or "
                          "replaced): write again", w->table);
            flock(w->lock_fd, LOCK_UN);
            pthread_mutex_unlock(&w->append_mu);
            if (sync) {
                flock(w->sync_fd, LOCK_UN);
                pthread_mutex_unlock(&w->sync_mu);
            }
            return loch_error_last_code();
        }
    }
    return 0;
}

static void unlock_both(wal *w, int sync, int append)
{
    if (append) {
        flock(w->lock_fd, LOCK_UN);
        pthread_mutex_unlock(&w->append_mu);
    }
    if (sync) {
        flock(w->sync_fd, LOCK_UN);
        pthread_mutex_unlock(&w->sync_mu);
    }
}

/* The current segment open in w->seg_fd. */
static int seg_open(wal *w, uint64_t first)
{
    if (w->seg_fd >= 0 && w->seg_fd_first == first)
        return 0;
    if (w->seg_fd >= 0)
        close(w->seg_fd);
    char path[4096];
    seg_name(path, sizeof(path), w->dir, first);
    w->seg_fd = open(path, O_RDWR | O_CLOEXEC);
    w->seg_fd_first = first;
    return w->seg_fd < 0 ? sys_error("cannot open", path) : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sys_error("cannot open", dir);
    int rc = fsync(fd) < 0 ? sys_error("cannot sync", dir) : 0;
    close(fd);
    return rc;
}

/* Writes all of data at off. */
static int pwrite_all(int fd, const void *data, size_t len, off_t off)
{
    const char *p = data;
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
}

/* Creates segment `first` with its header, durable with its directory entry. */
static int seg_create(wal *w, const struct ArrowSchema *schema, const char *tag, uint64_t first, uint64_t *length)
{
    char path[4096];
    buf h = BUF_INIT;
    seg_name(path, sizeof(path), w->dir, first);
    int rc = wal_frame_header(&h, schema, w->table, tag, first);
    int fd = rc ? -1 : open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rc == 0 && fd < 0)
        rc = sys_error("cannot create", path);
    if (rc == 0 && (pwrite_all(fd, h.data, h.len, 0) < 0 || fdatasync(fd) < 0)) {
        rc = sys_error("cannot write", path);
        unlink(path);
    }
    rc = rc ? rc : fsync_dir(w->dir);
    if (fd >= 0)
        close(fd);
    *length = h.len;
    buf_free(&h);
    return rc;
}

/* ---- reading segments ---------------------------------------------------------------- */

typedef struct {
    uint64_t first;
    char *path;
} seg_entry;

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const seg_entry *)a)->first, y = ((const seg_entry *)b)->first;
    return x < y ? -1 : x > y;
}

static void segs_free(seg_entry *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].path);
    free(s);
}

/* The segments of the directory, by first LSN. */
static int segs_list(const char *dir, seg_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : sys_error("cannot list", dir);
    struct dirent *e;
    size_t n = 0, cap = 0;
    seg_entry *s = NULL;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (strlen(nm) != 27 || strcmp(nm + 20, ".arrows") != 0 || strspn(nm, "0123456789") != 20)
            continue;
        if (n == cap) {
            seg_entry *g = realloc(s, (cap = cap ? cap * 2 : 8) * sizeof(*s));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            s = g;
        }
        s[n].first = strtoull(nm, NULL, 10);
        size_t len = strlen(dir) + 29;
        if (!(s[n].path = malloc(len))) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        snprintf(s[n].path, len, "%s/%s", dir, nm);
        n++;
    }
    closedir(d);
    if (rc < 0) {
        segs_free(s, n);
        return rc;
    }
    if (n) /* qsort of no segments: s is NULL */
        qsort(s, n, sizeof(*s), cmp_seg);
    *out = s;
    *count = n;
    return 0;
}

static int read_file(const char *path, buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LOCH_ENOTFOUND : sys_error("cannot open", path);
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? sys_error("cannot stat", path) : 0;
    buf_clear(out);
    rc = rc ? rc : buf_grow(out, (size_t)st.st_size + 1) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = pread(fd, out->data + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = sys_error("cannot read", path);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    out->len = got;
    close(fd);
    return rc;
}

/* ---- recovery ------------------------------------------------------------------------ */

/* Rebuilds the state from the files (both locks held). */
static int recover(wal *w, const struct ArrowSchema *schema, const char *tag)
{
    seg_entry *s = NULL;
    size_t n = 0;
    buf data = BUF_INIT;
    wal_pos p = {.prod = -1};
    int rc = segs_list(w->dir, &s, &n), have = 0;
    uint64_t expect = 0;
    memset(w->prods, 0, sizeof(wal_producer) * PRODUCERS);
    for (size_t i = 0; i < w->nseeds; i++)
        prod_seen(w, w->seeds[i].producer, strlen(w->seeds[i].producer), w->seeds[i].sequence, w->seeds[i].lsn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        wal_header h;
        size_t end = 0;
        uint64_t last = 0;
        int ok = (rc = read_file(s[i].path, &data)) == 0 &&
                 wal_frame_scan((const unsigned char *)data.data, data.len, &h, &end, &last) == 0 &&
                 h.first_lsn == s[i].first && (!have || h.first_lsn == expect);
        if (rc < 0)
            break;
        error_clear();
        if (!ok) {
            /* A header never made durable: the segment was being started when the
             * writer died, so nothing was ever acknowledged from it. Anything else past
             * a cut cannot follow the frames before it. */
            char aside[4200];
            snprintf(aside, sizeof(aside), "%s.orphan", s[i].path);
            if (rename(s[i].path, aside) < 0) {
                rc = sys_error("cannot set aside", s[i].path);
                break;
            }
            continue;
        }
        if (end < data.len) { /* a torn or damaged tail: cut, durably */
            int fd = open(s[i].path, O_RDWR | O_CLOEXEC);
            if (fd < 0 || ftruncate(fd, (off_t)end) < 0 || fdatasync(fd) < 0)
                rc = sys_error("cannot cut the tail of", s[i].path);
            if (fd >= 0)
                close(fd);
            if (rc < 0)
                break;
        }
        /* the producers whose writes the log holds */
        for (size_t at = h.length; at < end;) {
            wal_frame_info fi;
            if (wal_frame_read((const unsigned char *)data.data + at, end - at, &fi) < 0)
                break;
            if (fi.producer)
                prod_seen(w, fi.producer, fi.producer_len, fi.sequence, fi.last);
            at += fi.length;
        }
        error_clear();
        have = 1;
        expect = last + 1;
        p.seg_first = h.first_lsn;
        p.end_offset = end;
        p.next_lsn = last + 1;
        snprintf(p.tag, sizeof(p.tag), "%s", h.schema_tag);
    }
    if (rc == 0 && (!have || p.next_lsn < w->floor)) {
        /* no log yet, or one behind the table (its files were lost): a new segment at the floor */
        uint64_t first = have && p.next_lsn > w->floor ? p.next_lsn : w->floor;
        uint64_t len = 0;
        if (!schema)
            rc = error_set(LOCH_ENOTFOUND, "write-ahead log %s has no segments", w->dir);
        rc = rc ? rc : seg_create(w, schema, tag, first, &len);
        if (rc == 0) {
            p = (wal_pos){.next_lsn = first, .end_offset = len, .seg_first = first, .prod = -1};
            snprintf(p.tag, sizeof(p.tag), "%s", tag);
        }
    }
    if (rc == 0) {
        pos_set(w, &p);
        atomic_store(&w->sh->durable, p.next_lsn - 1);
        boot_id(w->sh->boot);
        memcpy(w->sh->magic, STATE_MAGIC, 8);
        atomic_store(&w->sh->failed, 0);
    }
    buf_free(&data);
    segs_free(s, n);
    return rc;
}

/* Whether the shared state describes the files as they are (append lock held). */
static int state_valid(wal *w)
{
    char boot[40];
    boot_id(boot);
    if (memcmp(w->sh->magic, STATE_MAGIC, 8) != 0 || memcmp(w->sh->boot, boot, 40) != 0 ||
        atomic_load(&w->sh->failed))
        return 0;
    const wal_pos *p = pos_now(w);
    char path[4096];
    struct stat st;
    seg_name(path, sizeof(path), w->dir, p->seg_first);
    return p->next_lsn >= 1 && stat(path, &st) == 0 && (uint64_t)st.st_size >= p->end_offset;
}

int wal_open(wal **out, const wal_options *o)
{
    *out = NULL;
    struct stat st;
    if (!o->create && stat(o->dir, &st) < 0)
        return error_set(LOCH_ENOTFOUND, "no write-ahead log at %s", o->dir);
    wal *w = calloc(1, sizeof(*w));
    if (!w)
        return error_set(LOCH_ENOMEM, "out of memory");
    w->lock_fd = w->sync_fd = w->state_fd = w->seg_fd = w->flush_fd = w->prod_fd = -1;
    w->floor = o->floor ? o->floor : 1;
    w->segment_bytes = o->segment_bytes > 0 ? o->segment_bytes : DEFAULT_SEGMENT;
    pthread_mutex_init(&w->append_mu, NULL);
    pthread_mutex_init(&w->sync_mu, NULL);
    pthread_mutex_init(&w->oldest_mu, NULL);
    int rc = (w->dir = strdup(o->dir)) && (w->table = strdup(o->table)) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    w->fenced = o->fenced;
    w->fenced_ctx = o->fenced_ctx;
    if (rc == 0 && o->create && mkdir(o->dir, 0755) < 0 && errno != EEXIST)
        rc = sys_error("cannot create", o->dir);
    char path[4096];
    const char *names[] = {"lock", "sync", "state"};
    int *fds[] = {&w->lock_fd, &w->sync_fd, &w->state_fd};
    for (int i = 0; rc == 0 && i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", o->dir, names[i]);
        if ((*fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
            rc = sys_error("cannot open", path);
    }
    if (rc == 0 && fstat(w->state_fd, &st) == 0 && st.st_size < (off_t)sizeof(wal_shared) &&
        ftruncate(w->state_fd, (off_t)sizeof(wal_shared)) < 0)
        rc = sys_error("cannot size", path);
    if (rc == 0) {
        void *m = mmap(NULL, sizeof(wal_shared), PROT_READ | PROT_WRITE, MAP_SHARED, w->state_fd, 0);
        if (m == MAP_FAILED)
            rc = sys_error("cannot map", path);
        else
            w->sh = m;
    }
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/producers", o->dir);
        size_t size = sizeof(wal_producer) * PRODUCERS;
        void *m = MAP_FAILED;
        if ((w->prod_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
            (fstat(w->prod_fd, &st) == 0 && st.st_size < (off_t)size && ftruncate(w->prod_fd, (off_t)size) < 0) ||
            (m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, w->prod_fd, 0)) == MAP_FAILED)
            rc = sys_error("cannot map", path);
        else
            w->prods = m;
    }
    w->seeds = o->seeds;
    w->nseeds = o->nseeds;
    if (rc == 0) {
        /* The state is checked under both locks: no writer is between steps then. */
        if ((rc = lock_both(w, 1, 1)) == 0) {
            if (!state_valid(w))
                rc = recover(w, o->schema, o->schema_tag ? o->schema_tag : "");
            else if (pos_now(w)->next_lsn < w->floor)
                rc = recover(w, o->schema, o->schema_tag ? o->schema_tag : "");
            unlock_both(w, 1, 1);
        }
    }
    w->seeds = NULL;
    w->nseeds = 0;
    if (rc < 0) {
        wal_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void wal_close(wal *w)
{
    if (!w)
        return;
    if (w->sh)
        munmap(w->sh, sizeof(wal_shared));
    if (w->prods)
        munmap(w->prods, sizeof(wal_producer) * PRODUCERS);
    int fds[] = {w->lock_fd, w->sync_fd, w->state_fd, w->seg_fd, w->flush_fd, w->prod_fd};
    for (int i = 0; i < 6; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&w->append_mu);
    pthread_mutex_destroy(&w->sync_mu);
    pthread_mutex_destroy(&w->oldest_mu);
    buf_free(&w->scratch);
    free(w->dir);
    free(w->table);
    free(w);
}

static int failed_error(const wal *w)
{
    return error_set(LOCH_EIO, "write-ahead log of table %s: an earlier write could not be made durable; it takes no "
                     "more writes until it is opened again (recovery reads what is on disk)", w->table);
}

/* ---- appending ------------------------------------------------------------------------ */

static int lsn_column(const struct ArrowSchema *schema, const struct ArrowArray *batch)
{
    for (int64_t i = 0; i < schema->n_children && i < batch->n_children; i++)
        if (strcmp(schema->children[i]->name, WAL_COL_LSN) == 0 && strcmp(schema->children[i]->format, "l") == 0 &&
            batch->children[i]->n_buffers == 2 && batch->children[i]->offset == 0)
            return (int)i;
    return -1;
}

int wal_append(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
               uint64_t *first, uint64_t *last)
{
    return wal_append_from(w, schema, batches, n, NULL, 0, first, last, NULL);
}

int wal_append_from(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
                    const char *producer, uint64_t sequence, uint64_t *first, uint64_t *last, int *duplicate)
{
    return wal_append_at(w, schema, batches, n, producer, sequence, 0, first, last, duplicate);
}

/* ---- fences ------------------------------------------------------------------------ */

/* A change of the table that flushes the log and then commits (DDL, a replace, an
 * ingest) holds the `ddl` file's lock exclusively and sets the state's fence flag, under
 * the append lock, for as long as it runs: an append that finds the flag waits for the
 * lock, so nothing is written between that flush and that commit (where it would be
 * stranded: flushed by no one, or read as the new table's). A holder that died leaves
 * the flag with no lock behind it: the first waiter to get the lock clears it. */
struct wal_fence {
    int ddl_fd, lock_fd, state_fd;
    wal_shared *sh;
};

static int open_in(const char *dir, const char *name, int flags)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd;
    while ((fd = open(path, flags | O_CLOEXEC, 0644)) < 0 && errno == EINTR)
        ;
    return fd;
}

static int fence_wait(wal *w)
{
    int fd = open_in(w->dir, "ddl", O_RDWR | O_CREAT), rc;
    if (fd < 0)
        return sys_error("cannot open the fence of", w->dir);
    while ((rc = flock(fd, LOCK_SH)) < 0 && errno == EINTR)
        ;
    if (rc == 0) {
        /* no holder now: a flag still set was left by one that died (the append lock as
         * writers take it: this process's other writers share its descriptor) */
        uint32_t set = 1;
        if (lock_both(w, 0, 1) == 0) {
            atomic_compare_exchange_strong(&w->sh->fence, &set, 0);
            unlock_both(w, 0, 1);
        }
        error_clear();
        flock(fd, LOCK_UN);
    }
    close(fd);
    return rc < 0 ? sys_error("cannot wait for the fence of", w->dir) : 0;
}

void wal_fence_end(wal_fence *f)
{
    if (!f)
        return;
    if (flock_ex(f->lock_fd) == 0) {
        atomic_store(&f->sh->fence, 0);
        flock(f->lock_fd, LOCK_UN);
    }
    munmap(f->sh, sizeof(wal_shared));
    flock(f->ddl_fd, LOCK_UN);
    close(f->ddl_fd);
    close(f->lock_fd);
    close(f->state_fd);
    free(f);
}

int wal_fence_begin(const char *dir, wal_fence **out)
{
    *out = NULL;
    wal_fence *f = calloc(1, sizeof(*f));
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    f->ddl_fd = open_in(dir, "ddl", O_RDWR | O_CREAT);
    f->lock_fd = open_in(dir, "lock", O_RDWR);
    f->state_fd = open_in(dir, "state", O_RDWR);
    struct stat st;
    int rc = f->ddl_fd >= 0 && f->lock_fd >= 0 && f->state_fd >= 0 && fstat(f->state_fd, &st) == 0
                 ? 0 : sys_error("cannot open the fence of", dir);
    if (rc == 0 && st.st_size < (off_t)sizeof(wal_shared) && ftruncate(f->state_fd, (off_t)sizeof(wal_shared)) < 0)
        rc = sys_error("cannot size the state of", dir); /* an older, shorter state: grown as wal_open does */
    void *m = rc == 0 ? mmap(NULL, sizeof(wal_shared), PROT_READ | PROT_WRITE, MAP_SHARED, f->state_fd, 0)
                      : MAP_FAILED;
    if (rc == 0 && m == MAP_FAILED)
        rc = sys_error("cannot map", dir);
    f->sh = m == MAP_FAILED ? NULL : m;
    if (rc == 0 && flock_ex(f->ddl_fd) < 0)
        rc = sys_error("cannot lock the fence of", dir);
    if (rc == 0 && flock_ex(f->lock_fd) < 0) {
        flock(f->ddl_fd, LOCK_UN);
        rc = sys_error("cannot lock", dir);
    }
    if (rc == 0) {
        atomic_store(&f->sh->fence, 1);
        flock(f->lock_fd, LOCK_UN);
        *out = f;
        return 0;
    }
    if (f->sh)
        munmap(f->sh, sizeof(wal_shared));
    if (f->ddl_fd >= 0)
        close(f->ddl_fd);
    if (f->lock_fd >= 0)
        close(f->lock_fd);
    if (f->state_fd >= 0)
        close(f->state_fd);
    free(f);
    return rc;
}

int wal_append_at(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
                  const char *producer, uint64_t sequence, uint64_t generation, uint64_t *first, uint64_t *last,
                  int *duplicate)
{
    size_t plen = producer ? strlen(producer) : 0;
    if (duplicate)
        *duplicate = 0;
    bool bad_char = false;
    for (size_t i = 0; i < plen; i++)
        bad_char = bad_char || (unsigned char)producer[i] <= ' ' || producer[i] == 0x7f;
    if (producer && (plen == 0 || plen > WAL_PRODUCER_MAX || sequence == 0 || sequence > INT64_MAX || bad_char ||
                     !duplicate))
        return error_set(LOCH_EINVALID, "a producer id is 1 to %d bytes without spaces or control characters, "
                         "with a sequence from 1 to 9223372036854775807", WAL_PRODUCER_MAX);
    int col = lsn_column(schema, n ? batches[0] : NULL);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += batches[i]->length > 0 ? batches[i]->length : 0;
    if (col < 0 || total <= 0)
        return error_set(LOCH_EINVALID, "a write-ahead log write needs rows and an int64 %s column", WAL_COL_LSN);
    if (w->failed || atomic_load(&w->sh->failed))
        return failed_error(w);
    int rc = lock_both(w, 0, 1);
    if (rc < 0)
        return rc;
    prod_apply(w); /* what a writer that died after its switch left undone */
    while (atomic_load(&w->sh->fence)) { /* a change of the table is under way: after it, look again */
        unlock_both(w, 0, 1);
        if (w->fenced)
            w->fenced(w->fenced_ctx);
        if ((rc = fence_wait(w)) < 0 || (rc = lock_both(w, 0, 1)) < 0)
            return rc;
    }
    if (generation && atomic_load(&w->sh->generation) != generation - 1) {
        unlock_both(w, 0, 1);
        return error_set(LOCH_ECONFLICT, "the table's schema or identity changed while this write was prepared: "
                         "write again");
    }
    wal_pos p = *pos_now(w);
    int pi = -1;
    if (producer) {
        pi = prod_find(w, producer, plen, 1);
        if (pi < 0) {
            unlock_both(w, 0, 1);
            return error_set(LOCH_EUNSUPPORTED, "table %s: more than %d producers have numbered writes", w->table,
                             PRODUCERS);
        }
        if (w->prods[pi].seq >= sequence) { /* written before: acknowledged with its LSN, not again */
            *duplicate = 1;
            *first = *last = w->prods[pi].lsn;
            unlock_both(w, 0, 1);
            return 0;
        }
    }
    uint64_t lsn = p.next_lsn;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    buf_clear(&w->scratch);
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++)
        nonempty += batches[i]->length > 0;
    for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
        struct ArrowArray *b = batches[i];
        if (b->length <= 0)
            continue;
        if (lsn_column(schema, b) != col) {
            rc = error_set(LOCH_EINVALID, "a write-ahead log batch without its %s column", WAL_COL_LSN);
            break;
        }
        int64_t *v = (int64_t *)(uintptr_t)b->children[col]->buffers[1];
        for (int64_t r = 0; r < b->length; r++)
            v[r] = (int64_t)(lsn + (uint64_t)r);
        rc = wal_frame_batch_at(&w->scratch, schema, b, lsn, ++k < nonempty, producer, sequence, now_ms);
        lsn += (uint64_t)b->length;
    }
    rc = rc ? rc : seg_open(w, p.seg_first);
    struct stat st;
    if (rc == 0 && fstat(w->seg_fd, &st) == 0 && (uint64_t)st.st_size != p.end_offset &&
        ftruncate(w->seg_fd, (off_t)p.end_offset) < 0) /* what a killed writer left */
        rc = sys_error("cannot cut", w->dir);
    if (rc == 0 && pwrite_all(w->seg_fd, w->scratch.data, w->scratch.len, (off_t)p.end_offset) < 0) {
        rc = sys_error("cannot append to", w->dir);
        if (ftruncate(w->seg_fd, (off_t)p.end_offset) < 0) { /* else the next writer cuts it */
        }
    }
    if (rc == 0) {
        *first = p.next_lsn;
        *last = lsn - 1;
        p.next_lsn = lsn;
        p.end_offset += w->scratch.len;
        p.prod = pi;
        p.prod_seq = sequence;
        p.prod_lsn = *last;
        pos_set(w, &p);
        prod_apply(w);
    }
    unlock_both(w, 0, 1);
    return rc;
}

uint64_t wal_durable(const wal *w) { return atomic_load(&w->sh->durable); }

/* fdatasync of the open segment, after which every LSN up to upto is durable. A failure
 * is never retried (the kernel may have dropped the pages it could not write): the log
 * is marked failed for every process. */
static int datasync(wal *w, uint64_t upto)
{
    if (fdatasync(w->seg_fd) < 0) {
        int rc = sys_error("cannot sync", w->dir);
        w->failed = 1;
        atomic_store(&w->sh->failed, 1);
        return rc;
    }
    durable_at_least(w, upto);
    return 0;
}

/* One fdatasync for everything written so far (sync lock held by the caller). */
static int sync_now(wal *w)
{
    if (w->failed || atomic_load(&w->sh->failed))
        return failed_error(w);
    int rc = lock_both(w, 0, 1);
    if (rc < 0)
        return rc;
    wal_pos p = *pos_now(w);
    rc = seg_open(w, p.seg_first);
    unlock_both(w, 0, 1);
    return rc ? rc : datasync(w, p.next_lsn - 1);
}

int wal_sync(wal *w, uint64_t lsn)
{
    int rc = 0;
    if (atomic_load(&w->sh->durable) >= lsn)
        return 0;
    /* Group commit: the first waiter leads (one fdatasync, under the sync lock that
     * other processes' leaders take too); the rest sleep until the leader's round ends
     * and look again, so a crowd of writers costs one sync per round, not one each.
     * A waiter reads the epoch before it looks at `syncing` and the durable LSN: a round
     * that ends after that read has moved the epoch on, and the futex wait returns at
     * once (no wakeup is lost). */
    while (rc == 0 && atomic_load(&w->sh->durable) < lsn) {
        uint32_t seen = atomic_load(&w->gc_epoch);
        int idle = 0;
        if (!atomic_compare_exchange_strong(&w->syncing, &idle, 1)) {
            if (atomic_load(&w->sh->durable) < lsn)
                syscall(SYS_futex, &w->gc_epoch, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
            continue;
        }
        int locked = (rc = lock_both(w, 1, 0)) == 0;
        if (locked && atomic_load(&w->sh->durable) < lsn) /* another process's leader may have */
            rc = sync_now(w);
        if (rc == 0 && atomic_load(&w->sh->durable) < lsn)
            rc = error_set(LOCH_EINVALID, "write-ahead log of table %s: LSN %" PRIu64 " was never written", w->table, lsn);
        if (locked)
            unlock_both(w, 1, 0);
        atomic_store(&w->syncing, 0);
        atomic_fetch_add(&w->gc_epoch, 1);
        syscall(SYS_futex, &w->gc_epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    /* A segment past its size: the writer that finds it so starts the next one. */
    if (rc == 0 && pos_now(w)->end_offset > (uint64_t)w->segment_bytes) {
        uint64_t upto;
        rc = wal_rotate(w, NULL, NULL, &upto);
    }
    return rc;
}

int wal_stat(wal *w, wal_status *st)
{
    seg_entry *s = NULL;
    size_t n = 0;
    *st = (wal_status){0};
    int rc = lock_both(w, 0, 1);
    if (rc < 0)
        return rc;
    const wal_pos *p = pos_now(w);
    st->assigned = p->next_lsn - 1;
    st->durable = atomic_load(&w->sh->durable);
    snprintf(st->schema_tag, sizeof(st->schema_tag), "%s", p->tag);
    rc = segs_list(w->dir, &s, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stat fs;
        if (stat(s[i].path, &fs) == 0)
            st->bytes += fs.st_size;
    }
    st->segments = n;
    st->first = n ? s[0].first : p->next_lsn;
    unlock_both(w, 0, 1);
    segs_free(s, n);
    return rc;
}

/* The schema in a segment header's bytes. */
static int header_schema(const unsigned char *data, size_t len, struct ArrowSchema *out)
{
    arrow_reader *r = NULL;
    int rc = arrow_read_open(&r, data, len);
    rc = rc ? rc : arrow_read_schema(r, out);
    arrow_read_free(r);
    return rc;
}

int wal_rotate(wal *w, const struct ArrowSchema *schema, const char *schema_tag, uint64_t *upto)
{
    buf cur = BUF_INIT;
    struct ArrowSchema own = {0};
    int rc = lock_both(w, 1, 1);
    if (rc < 0)
        return rc;
    wal_pos p = *pos_now(w);
    *upto = p.next_lsn - 1;
    wal_header h;
    char path[4096];
    seg_name(path, sizeof(path), w->dir, p.seg_first);
    rc = read_file(path, &cur);
    rc = rc ? rc : wal_frame_read_header((const unsigned char *)cur.data, cur.len, &h);
    int same_tag = !schema_tag || strcmp(schema_tag, p.tag) == 0;
    if (rc == 0 && p.end_offset == h.length && same_tag)
        goto cleanup; /* empty already, of the right schema (an empty one of another is replaced) */
    if (rc == 0 && !schema) {
        rc = header_schema((const unsigned char *)cur.data, h.length, &own);
        schema = &own;
        schema_tag = h.schema_tag;
    }
    if (w->failed || atomic_load(&w->sh->failed))
        rc = rc ? rc : failed_error(w);
    rc = rc ? rc : seg_open(w, p.seg_first);
    rc = rc ? rc : datasync(w, p.next_lsn - 1);
    uint64_t len = 0;
    if (rc == 0 && p.end_offset == h.length) {
        /* nothing in it: the new segment takes its name, so remove it first */
        if (unlink(path) < 0)
            rc = sys_error("cannot remove", path);
        if (w->seg_fd >= 0)
            close(w->seg_fd);
        w->seg_fd = -1;
    }
    rc = rc ? rc : seg_create(w, schema, schema_tag, p.next_lsn, &len);
    if (rc == 0) {
        prod_apply(w);
        p.prod = -1;
        p.seg_first = p.next_lsn;
        p.end_offset = len;
        snprintf(p.tag, sizeof(p.tag), "%s", schema_tag);
        pos_set(w, &p);
    }
cleanup:
    unlock_both(w, 1, 1);
    if (own.release)
        own.release(&own);
    buf_free(&cur);
    return rc;
}

int wal_truncate(wal *w, uint64_t upto)
{
    seg_entry *s = NULL;
    size_t n = 0;
    int rc = lock_both(w, 0, 1);
    if (rc < 0)
        return rc;
    uint64_t current = pos_now(w)->seg_first;
    rc = segs_list(w->dir, &s, &n);
    /* segment i holds LSNs s[i].first .. s[i+1].first - 1 */
    for (size_t i = 0; rc == 0 && i + 1 < n; i++)
        if (s[i].first != current && s[i + 1].first <= current && s[i + 1].first - 1 <= upto &&
            unlink(s[i].path) < 0 && errno != ENOENT)
            rc = sys_error("cannot remove", s[i].path);
    unlock_both(w, 0, 1);
    segs_free(s, n);
    return rc;
}

int wal_read(wal *w, uint64_t from, uint64_t to, buf *out, int64_t *rows)
{
    seg_entry *s = NULL;
    size_t n = 0;
    buf data = BUF_INIT;
    char tag[64] = "";
    int rc = segs_list(w->dir, &s, &n), header = 0;
    uint64_t next = from + 1;
    *rows = 0;
    if (rc == 0 && to > from && (n == 0 || s[0].first > from + 1))
        rc = error_set(LOCH_ECONFLICT, "write-ahead log of table %s: LSN %" PRIu64 " is no longer in it", w->table, from + 1);
    for (size_t i = 0; rc == 0 && i < n && next <= to; i++) {
        if (i + 1 < n && s[i + 1].first <= next)
            continue; /* all of it before `from` */
        wal_header h;
        rc = read_file(s[i].path, &data);
        if (rc == LOCH_ENOTFOUND) /* truncated meanwhile */
            rc = error_set(LOCH_ECONFLICT, "write-ahead log of table %s: LSN %" PRIu64 " is no longer in it", w->table, next);
        rc = rc ? rc : wal_frame_read_header((const unsigned char *)data.data, data.len, &h);
        if (rc < 0)
            break;
        if (header && strcmp(tag, h.schema_tag) != 0) {
            rc = error_set(LOCH_EINVALID, "write-ahead log of table %s: its tail spans two table schemas; flush it "
                           "first", w->table);
            break;
        }
        if (!header) {
            rc = buf_put(out, data.data, h.length) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
            snprintf(tag, sizeof(tag), "%s", h.schema_tag);
            header = 1;
        }
        size_t at = h.length;
        uint64_t lsn = h.first_lsn;
        while (rc == 0 && at < data.len && next <= to) {
            wal_frame_info fi;
            if (wal_frame_read((const unsigned char *)data.data + at, data.len - at, &fi) < 0 || fi.first != lsn) {
                error_clear();
                break; /* the end of what is written (a frame being written is not durable yet) */
            }
            size_t len = fi.length;
            uint64_t a = fi.first, b = fi.last;
            if (b > to)
                break;
            if (a >= next) {
                if (a != next) {
                    rc = error_set(LOCH_ECORRUPT, "write-ahead log of table %s: LSN %" PRIu64 " is missing", w->table, next);
                    break;
                }
                rc = buf_put(out, data.data + at, len) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
                *rows += (int64_t)(b - a + 1);
                next = b + 1;
            }
            at += len;
            lsn = b + 1;
        }
    }
    if (rc == 0 && next <= to) {
        /* A durable frame that does not read back: damaged on disk. The log is marked
         * failed, so the next open recovers the whole writes before the damage (those
         * after it are lost with it) instead of every read failing here. */
        atomic_store(&w->sh->failed, 1);
        rc = error_set(LOCH_ECORRUPT, "write-ahead log of table %s is damaged: LSNs %" PRIu64 " to %" PRIu64 " do not "
                       "read back; the next command recovers the log up to the damage", w->table, next, to);
    }
    buf_free(&data);
    segs_free(s, n);
    return rc;
}

int wal_flush_lock(wal *w)
{
    if (w->flush_fd < 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/flush", w->dir);
        if ((w->flush_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
            return sys_error("cannot open", path);
    }
    return flock_ex(w->flush_fd) < 0 ? sys_error("cannot lock", w->dir) : 0;
}

void wal_flush_unlock(wal *w)
{
    if (w->flush_fd >= 0)
        flock(w->flush_fd, LOCK_UN);
}

int wal_producers(wal *w, int (*each)(void *ctx, const char *producer, uint64_t sequence, uint64_t lsn), void *ctx)
{
    int rc = lock_both(w, 0, 1);
    if (rc < 0)
        return rc;
    prod_apply(w);
    for (int i = 0; rc == 0 && i < PRODUCERS; i++)
        if (w->prods[i].id[0] && w->prods[i].seq)
            rc = each(ctx, w->prods[i].id, w->prods[i].seq, w->prods[i].lsn);
    unlock_both(w, 0, 1);
    return rc;
}

uint64_t wal_generation(const wal *w) { return atomic_load(&w->sh->generation) + 1; }

/* The state and lock files of a log directory, for the two calls below. */
static int dir_files(const char *dir, int *lock_fd, int *sync_fd, int *state_fd)
{
    char path[4096];
    int *fds[] = {lock_fd, sync_fd, state_fd};
    const char *names[] = {"lock", "sync", "state"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if ((*fds[i] = open(path, O_RDWR | O_CLOEXEC)) < 0)
            return errno == ENOENT ? LOCH_ENOTFOUND : sys_error("cannot open", path);
    }
    return 0;
}

int wal_bump_dir(const char *dir)
{
    int lock_fd = -1, sync_fd = -1, state_fd = -1;
    int rc = dir_files(dir, &lock_fd, &sync_fd, &state_fd);
    struct stat st;
    if (rc == 0 && flock_ex(lock_fd) < 0)
        rc = sys_error("cannot lock", dir);
    if (rc == 0 && fstat(state_fd, &st) == 0 && st.st_size >= (off_t)sizeof(wal_shared)) {
        wal_shared *sh = mmap(NULL, sizeof(wal_shared), PROT_READ | PROT_WRITE, MAP_SHARED, state_fd, 0);
        if (sh == MAP_FAILED) {
            rc = sys_error("cannot map", dir);
        } else {
            atomic_fetch_add(&sh->generation, 1);
            munmap(sh, sizeof(wal_shared));
        }
    }
    int fds[] = {lock_fd, sync_fd, state_fd};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc == LOCH_ENOTFOUND ? (error_clear(), 0) : rc;
}

int wal_remove(const char *dir)
{
    int lock_fd = -1, sync_fd = -1, state_fd = -1;
    int rc = dir_files(dir, &lock_fd, &sync_fd, &state_fd);
    if (rc == LOCH_ENOTFOUND) {
        error_clear();
        rc = 0;
    }
    /* both locks: no writer is between taking LSNs and its frame, nor syncing */
    if (rc == 0 && sync_fd >= 0 && flock_ex(sync_fd) < 0)
        rc = sys_error("cannot lock", dir);
    if (rc == 0 && lock_fd >= 0 && flock_ex(lock_fd) < 0)
        rc = sys_error("cannot lock", dir);
    DIR *d = rc == 0 ? opendir(dir) : NULL;
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) < 0 && errno != ENOENT)
            rc = rc ? rc : sys_error("cannot remove", path);
    }
    if (d)
        closedir(d);
    if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT)
        rc = sys_error("cannot remove", dir);
    int fds[] = {lock_fd, sync_fd, state_fd};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]); /* the locks go with the descriptors: waiting writers find the log gone */
    return rc;
}

int wal_failed(const wal *w) { return w->failed || atomic_load(&w->sh->failed); }

int wal_oldest(wal *w, uint64_t after, int64_t *time_ms)
{
    seg_entry *s = NULL;
    size_t n = 0;
    buf data = BUF_INIT;
    *time_ms = 0;
    /* asked every second while writes stream in: the answer found once is kept, so the
     * segment (up to loch.wal.flushBytes) is not read again each time */
    pthread_mutex_lock(&w->oldest_mu);
    if (w->oldest_ms && w->oldest_after == after)
        *time_ms = w->oldest_ms;
    pthread_mutex_unlock(&w->oldest_mu);
    if (*time_ms)
        return 0;
    int rc = segs_list(w->dir, &s, &n);
    for (size_t i = 0; rc == 0 && i < n && !*time_ms; i++) {
        if (i + 1 < n && s[i + 1].first <= after + 1)
            continue; /* all of it at or before `after` */
        wal_header h;
        if (read_file(s[i].path, &data) < 0 || wal_frame_read_header((const unsigned char *)data.data, data.len, &h) < 0)
            break;
        for (size_t at = h.length; at < data.len;) {
            wal_frame_info fi;
            if (wal_frame_read((const unsigned char *)data.data + at, data.len - at, &fi) < 0)
                break;
            if (fi.first > after) {
                *time_ms = fi.time_ms ? fi.time_ms : 1; /* a frame that does not say: old */
                break;
            }
            at += fi.length;
        }
    }
    error_clear();
    if (rc == 0 && *time_ms) {
        pthread_mutex_lock(&w->oldest_mu);
        w->oldest_after = after;
        w->oldest_ms = *time_ms;
        pthread_mutex_unlock(&w->oldest_mu);
    }
    buf_free(&data);
    segs_free(s, n);
    return rc;
}

int wal_tag(wal *w, char out[64])
{
    int rc = lock_both(w, 0, 1);
    if (rc == 0) {
        snprintf(out, 64, "%s", pos_now(w)->tag);
        unlock_both(w, 0, 1);
    }
    return rc;
}
