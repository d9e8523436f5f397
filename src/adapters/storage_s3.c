/*
 * adapters/storage_s3.c - a lake in an S3-compatible bucket (s3://bucket/prefix).
 *
 * The bucket holds the lake: every table's data files, deletion vectors and _delta_log,
 * all written with one PUT each (a file is whole or absent), commits with a conditional
 * PUT (If-None-Match: *, the Delta protocol's mutual exclusion on an object store: the
 * writer whose PUT meets 412 lost the version and re-reads). What a bucket cannot do is
 * done in a local directory of the lake's own (the lake's local root):
 *
 *   _loch/...          loch's scratch, caches, catalog, intents and write-ahead logs:
 *                      this machine's, never uploaded
 *   any ".tmp-*" name  a file or staging directory being written (by the SQL engine or
 *                      a checkpoint), uploaded when moved into place
 *   everything else    a copy of the bucket's object, fetched when the engine names it
 *                      (engine_path), so the engine, which reads local files, reads it
 *
 * Copies are trusted without asking the store again only where Delta makes them
 * immutable: a data or deletion-vector file's name (a UUID) is never given to other
 * bytes. A file under _delta_log (a checkpoint can be written again after a table is
 * dropped and made anew) or _loch_index (loch's indexes are replaced) is checked
 * against the store each time it is named: its size and ETag (kept with the copy as an
 * extended attribute; where the filesystem keeps none, the copy is fetched again). A
 * download whose length is not the one the store announced is refused, never cached.
 *
 * The local root is <local_dir>/s3/<store>/<bucket>/<prefix>/@lake: the "@lake" keeps
 * the local roots of nested lakes (s3://b and s3://b/x) apart (no table is named
 * "@lake").
 *
 * Moves: an engine-written file (under a ".tmp-" name) is uploaded to its place, and its
 * local copy becomes the cached copy there; anything else is copied on the store's side
 * and the source deleted (S3 has no rename: a directory moves object by object, which a
 * concurrent reader can see half done).
 *
 * Locks are this machine's: flock(2) on the local root's copy of the path, so writers
 * on one machine exclude each other as on a local lake. Writers on other machines are
 * kept apart by the commit's conditional PUT, and from a table being dropped by the
 * checks ops/guard.c describes (the store says it is `remote` and has no links).
 */
#include "adapters/storage.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "adapters/s3.h"
#include "util/error.h"
#include "util/misc.h"

/* Files up to PART_SIZE go in one PUT; larger ones in parts of it, PART_THREADS at once. */
enum { PART_SIZE = 8 << 20, PART_THREADS = 4, DIRS_KEPT = 32, LOGS_KEPT = 4 };
#define ETAG_XATTR "user.loch.etag"

typedef struct {
    storage base;
    s3 *c;
    char *bucket;
    char *prefix;   /* "" or "some/prefix/": the lake's keys start with it */
    storage *local; /* the lake's local root */
    char *root;     /* its absolute path */
    pthread_mutex_t mu;
    struct {
        char path[256];
        int64_t at;  /* 0: none */
    } dirs[DIRS_KEPT]; /* directories seen, and when (below: dir_known) */
    unsigned next_dir; /* wraps */
    int inited;
    struct {
        char *dir;   /* NULL: none */
        int64_t at;
        uint64_t seq;  /* the listing's place in the order listings began */
        struct listed_entry *v;
        size_t n;
    } logs[LOGS_KEPT]; /* the latest listings of logs (below: log_listed) */
    unsigned next_log;  /* wraps */
    uint64_t listings;  /* log listings begun: which is newer */
    int64_t cache_limit;   /* bytes of cached copies kept */
    int64_t fetched;       /* bytes fetched since the cache was last pruned */
} s3_storage;

/* A path that lives in the local root only: loch's own files, and files being written. */
static int local_only(const char *path)
{
    if (!strcmp(path, "_loch") || !strncmp(path, "_loch/", 6))
        return 1;
    for (const char *p = path; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (!strncmp(p, ".tmp-", 5))
            return 1;
    }
    return 0;
}

/* A copy that is never stale: a data file or deletion vector under its unique name. */
static int immutable(const char *path)
{
    return !strstr(path, "_delta_log/") && !strstr(path, "_loch_index/") && strncmp(path, "_delta_log", 10) != 0;
}

static int check_path(const char *path)
{
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if ((n == 2 && !strncmp(p, "..", 2)) || (n == 1 && *p == '.') || (!n && p != path))
            return error_set(LOCH_EINVALID, "path \"%s\" leaves the lake (or has an empty part)", path);
        p += n + (p[n] == '/');
    }
    return 0;
}

/* What tells an object written again under its name: its ETag (S3 gives times to the
 * second only), hashed (FNV-1a); never 0. */
static int64_t etag_stamp(const char *etag)
{
    uint64_t h = 1469598103934665603u;
    for (const char *p = etag; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    return (int64_t)(h >> 1) | 1;
}

static int key_of(s3_storage *s, const char *path, buf *out)
{
    buf_clear(out);
    int rc = check_path(path);
    return rc ? rc : buf_printf(out, "%s%s", s->prefix, path) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

static int local_path(s3_storage *s, const char *path, buf *out)
{
    buf_clear(out);
    return buf_printf(out, "%s/%s", s->root, path) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

/* The local root's directory for path's parent, made when missing. */
static int local_parent(s3_storage *s, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    char *dir = strndup(path, (size_t)(slash - path));
    int rc = dir ? s->local->mkdirs(s->local, dir) : error_set(LOCH_ENOMEM, "out of memory");
    free(dir);
    return rc;
}

/* Drops the local copy of an object that changed or went (best effort). */
static void forget_copy(s3_storage *s, const char *path)
{
    buf p = BUF_INIT;
    struct stat st;
    if (local_path(s, path, &p) == 0 && lstat(p.data, &st) == 0 && S_ISREG(st.st_mode))
        unlink(p.data);
    buf_free(&p);
}

/* Directories seen to exist (keys under them), believed for DIR_TTL_MS: a command asks
 * the same few (its table, the table's log) many times over, and each asking is a LIST.
 * Only a directory's existence is kept, never what is in it (a log is listed afresh
 * every time: a commit must see the newest version); this handle's own removals and
 * moves forget what they touch, and another writer's DROP is met by the next listing. */
enum { DIR_TTL_MS = 2000 };

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int dir_known(s3_storage *s, const char *path)
{
    int known = 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < DIRS_KEPT && !known; i++)
        known = s->dirs[i].at && now - s->dirs[i].at < DIR_TTL_MS && !strcmp(s->dirs[i].path, path);
    pthread_mutex_unlock(&s->mu);
    return known;
}

static void dir_seen(s3_storage *s, const char *path)
{
    if (strlen(path) >= sizeof(s->dirs[0].path))
        return;
    pthread_mutex_lock(&s->mu);
    int at = (int)(s->next_dir++ % DIRS_KEPT);
    snprintf(s->dirs[at].path, sizeof(s->dirs[at].path), "%s", path);
    s->dirs[at].at = now_ms();
    pthread_mutex_unlock(&s->mu);
}

static void dirs_forget(s3_storage *s)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < DIRS_KEPT; i++)
        s->dirs[i].at = 0;
    pthread_mutex_unlock(&s->mu);
}

/* The ETags of the objects the latest listings of a log (a _delta_log directory) saw,
 * believed for DIR_TTL_MS like a directory's existence: replaying a table reads the
 * commits its listing just named, and a local copy (kept with its ETag, as engine_path's
 * copies are) that is still the listed object needs no GET. A commit's name is given to
 * other bytes only when a table is dropped and made again, which the listing shows by a
 * new ETag; what the listing saw is also what the caller is replaying. */
typedef struct listed_entry listed;
struct listed_entry {
    char *name;
    int64_t size;
    char etag[72];
};

static void logs_forget(s3_storage *s)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < LOGS_KEPT; i++) {
        for (size_t j = 0; j < s->logs[i].n; j++)
            free(s->logs[i].v[j].name);
        free(s->logs[i].v);
        free(s->logs[i].dir);
        memset(&s->logs[i], 0, sizeof(s->logs[i]));
    }
    pthread_mutex_unlock(&s->mu);
}

/* A listing of a log about to begin: its place in the order (below: log_listed). */
static uint64_t log_listing_begins(s3_storage *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t seq = ++s->listings;
    pthread_mutex_unlock(&s->mu);
    return seq;
}

/* Remembers what a listing of the log dir, begun as seq, saw (e: the bucket's entries,
 * named after skip bytes of their keys), unless one begun later is remembered already
 * (threads of a server list at once; the newest listing wins, not the last to end);
 * best effort. */
static void log_listed(s3_storage *s, const char *dir, uint64_t seq, const s3_entry *e, size_t n, size_t skip)
{
    listed *v = calloc(n ? n : 1, sizeof(*v));
    char *d = strdup(dir);
    size_t k = 0;
    for (size_t i = 0; v && d && i < n; i++) {
        if (e[i].is_prefix || !e[i].etag[0])
            continue;
        if (!(v[k].name = strdup(e[i].key + skip)))
            break;
        v[k].size = e[i].size;
        memcpy(v[k].etag, e[i].etag, sizeof(v[k].etag));
        k++;
    }
    pthread_mutex_lock(&s->mu);
    int at = (int)(s->next_log++ % LOGS_KEPT);
    for (int i = 0; i < LOGS_KEPT; i++)
        if (s->logs[i].dir && !strcmp(s->logs[i].dir, dir))
            at = i; /* the newer listing of a log replaces the older */
    if (s->logs[at].dir && !strcmp(s->logs[at].dir, dir) && s->logs[at].seq > seq) {
        pthread_mutex_unlock(&s->mu); /* a newer one is there: this one is dropped */
        for (size_t j = 0; v && j < k; j++)
            free(v[j].name);
        free(v), free(d);
        return;
    }
    listed *old = s->logs[at].v;
    size_t oldn = s->logs[at].n;
    char *oldd = s->logs[at].dir;
    s->logs[at].v = v && d ? v : NULL;
    s->logs[at].n = v && d ? k : 0;
    s->logs[at].dir = v && d ? d : NULL;
    s->logs[at].at = now_ms();
    s->logs[at].seq = seq;
    pthread_mutex_unlock(&s->mu);
    if (!v || !d) {
        for (size_t j = 0; v && j < k; j++)
            free(v[j].name);
        free(v), free(d);
    }
    for (size_t j = 0; j < oldn; j++)
        free(old[j].name);
    free(old), free(oldd);
}

/* The listed size and ETag of the log file at path, from a listing made in the last
 * DIR_TTL_MS; 0 when there is none. */
static int log_file_listed(s3_storage *s, const char *path, int64_t *size, char *etag)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    size_t dl = (size_t)(slash - path);
    int found = 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < LOGS_KEPT && !found; i++) {
        if (!s->logs[i].dir || now - s->logs[i].at >= DIR_TTL_MS || strlen(s->logs[i].dir) != dl ||
            strncmp(s->logs[i].dir, path, dl))
            continue;
        for (size_t j = 0; j < s->logs[i].n && !found; j++)
            if (!strcmp(s->logs[i].v[j].name, slash + 1)) {
                *size = s->logs[i].v[j].size;
                memcpy(etag, s->logs[i].v[j].etag, sizeof(s->logs[i].v[j].etag));
                found = 1;
            }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int is_log_dir(const char *dir)
{
    size_t n = strlen(dir);
    return n >= 10 && !strcmp(dir + n - 10, "_delta_log") && (n == 10 || dir[n - 11] == '/');
}

/* Whether the local copy at file (open as fd, or -1; of size bytes) is the object a
 * listing of its log saw in the last DIR_TTL_MS: the listed size, and the listed ETag
 * kept with the copy. */
static int copy_is_listed(s3_storage *s, const char *path, const char *file, int fd, int64_t size)
{
    int64_t want_size;
    char want[72], have[80];
    if (!log_file_listed(s, path, &want_size, want) || want_size != size)
        return 0;
    ssize_t el = fd >= 0 ? fgetxattr(fd, ETAG_XATTR, have, sizeof(have) - 1)
                         : getxattr(file, ETAG_XATTR, have, sizeof(have) - 1);
    return el > 0 && (size_t)el == strlen(want) && !memcmp(have, want, (size_t)el);
}

/* The local copy of a log file, if it is the listed object: its bytes into out. */
static int read_listed_copy(s3_storage *s, const char *path, buf *out)
{
    buf p = BUF_INIT;
    struct stat sb;
    int fd = -1, ok = 0;
    int64_t size = 0;
    if (local_path(s, path, &p) < 0 || (fd = open(p.data, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0 ||
        !S_ISREG(sb.st_mode) || !copy_is_listed(s, path, p.data, fd, size = sb.st_size))
        goto done;
    buf_clear(out);
    if (buf_grow(out, (size_t)size) < 0)
        goto done;
    size_t got = 0;
    for (ssize_t r; got < (size_t)size && (r = read(fd, out->data + got, (size_t)size - got)) > 0;)
        got += (size_t)r;
    if (got == (size_t)size) {
        out->len = got;
        out->data[got] = '\0';
        ok = 1;
    }
done:
    if (fd >= 0)
        close(fd);
    buf_free(&p);
    error_clear();
    return ok;
}

/* A name beside dest for its bytes while they are written: named as every file being
 * written is (.tmp-<pid>-...: a dead process's are swept), by a UUID (two threads may
 * fetch one object at once). */
static int temp_beside(const char *dest, buf *out)
{
    char id[37];
    uuid_v4(id);
    const char *slash = strrchr(dest, '/');
    int dir = slash ? (int)(slash - dest + 1) : 0;
    return buf_printf(out, "%.*s.tmp-%d-%s.fetch", dir, dest, (int)getpid(), id) < 0
               ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

/* Keeps the bytes of a log file just fetched as its local copy, with their ETag (best
 * effort: a temp file renamed into place, as fetch does). */
static void keep_log_copy(s3_storage *s, const char *path, const buf *data, const char *etag)
{
    buf p = BUF_INIT, tmp = BUF_INIT;
    int fd = -1;
    if (local_parent(s, path) == 0 && local_path(s, path, &p) == 0 && temp_beside(p.data, &tmp) == 0 &&
        (fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0) {
        size_t put = 0;
        for (ssize_t w; put < data->len && (w = write(fd, data->data + put, data->len - put)) > 0;)
            put += (size_t)w;
        int ok = put == data->len && fsetxattr(fd, ETAG_XATTR, etag, strlen(etag), 0) == 0;
        close(fd);
        if (!ok || rename(tmp.data, p.data) != 0)
            unlink(tmp.data);
    }
    error_clear();
    buf_free(&p), buf_free(&tmp);
}

static int s3s_get(storage *st, const char *path, buf *out)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path))
        return s->local->get(s->local, path, out);
    buf key = BUF_INIT;
    s3_object m;
    buf_clear(out);
    int rc = key_of(s, path, &key), log = 0;
    if (rc == 0) {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? strndup(path, (size_t)(slash - path)) : NULL;
        log = dir && is_log_dir(dir);
        free(dir);
    }
    if (rc == 0 && log && read_listed_copy(s, path, out))
        goto cleanup;
    rc = rc ? rc : s3_get(s->c, s->bucket, key.data, 0, -1, out, &m);
    if (rc == 0 && log && m.etag[0])
        keep_log_copy(s, path, out, m.etag);
cleanup:
    buf_free(&key);
    return rc;
}

static int put_as(storage *st, const char *path, const void *data, size_t len, int if_absent)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path)) {
        int rc = local_parent(s, path);
        return rc ? rc : (if_absent ? s->local->put_if_absent : s->local->put)(s->local, path, data, len);
    }
    buf key = BUF_INIT;
    int rc = key_of(s, path, &key);
    rc = rc ? rc : s3_put(s->c, s->bucket, key.data, data, len, if_absent, NULL);
    if (rc == 0)
        forget_copy(s, path);
    if (rc == 0 && !if_absent)
        logs_forget(s); /* an object replaced: what a listing saw of it is no more */
    buf_free(&key);
    return rc;
}

static int s3s_put(storage *st, const char *path, const void *data, size_t len)
{
    return put_as(st, path, data, len, 0);
}

static int s3s_put_if_absent(storage *st, const char *path, const void *data, size_t len)
{
    return put_as(st, path, data, len, 1);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const storage_entry *)a)->name, ((const storage_entry *)b)->name);
}

static int add_entry(storage_entry **v, size_t *n, size_t *cap, const char *name, size_t len, const storage_entry *e)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        storage_entry *g = realloc(*v, c * sizeof(*g));
        if (!g)
            return error_set(LOCH_ENOMEM, "out of memory");
        *v = g, *cap = c;
    }
    (*v)[*n] = *e;
    if (!((*v)[*n].name = strndup(name, len)))
        return error_set(LOCH_ENOMEM, "out of memory");
    (*n)++;
    return 0;
}

/* The bucket's children of dir, and the local root's that are never uploaded (files
 * being written; _loch at the lake's root). A directory with neither is ENOTFOUND,
 * unless the local root has it (made by mkdirs for a table being created). */
static int list_as(storage *st, const char *dir, storage_entry **out, size_t *count, int stat_local)
{
    s3_storage *s = (s3_storage *)st;
    *out = NULL, *count = 0;
    if (local_only(dir))
        return (stat_local ? s->local->list : s->local->list_names)(s->local, dir, out, count);
    buf key = BUF_INIT;
    s3_entry *e = NULL;
    storage_entry *loc = NULL, *v = NULL;
    size_t ne = 0, nl = 0, n = 0, cap = 0;
    int rc = key_of(s, dir, &key), have_local = 0;
    uint64_t seq = is_log_dir(dir) ? log_listing_begins(s) : 0;
    if (rc == 0 && *dir && buf_putc(&key, '/') < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : s3_list(s->c, s->bucket, key.data, "/", &e, &ne);
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        const char *name = e[i].key + key.len;
        size_t len = strlen(name);
        if (e[i].is_prefix && len && name[len - 1] == '/')
            len--;
        if (!len || (len == 1 && name[0] == '.') || (len == 2 && !strncmp(name, "..", 2)))
            continue; /* the "directory" object some tools write; a key no path names */
        storage_entry x = {.size = e[i].is_prefix ? 0 : e[i].size, .mtime_ms = e[i].mtime_ms,
                           .is_dir = e[i].is_prefix, .stamp = e[i].is_prefix ? 0 : etag_stamp(e[i].etag)};
        rc = add_entry(&v, &n, &cap, name, len, &x);
    }
    if (rc == 0 && (stat_local ? s->local->list : s->local->list_names)(s->local, dir, &loc, &nl) == 0)
        have_local = 1;
    if (rc == 0)
        error_clear(); /* no local directory: only the bucket's entries */
    for (size_t i = 0; rc == 0 && i < nl; i++)
        if (!strncmp(loc[i].name, ".tmp-", 5) || (!*dir && !strcmp(loc[i].name, "_loch")))
            rc = add_entry(&v, &n, &cap, loc[i].name, strlen(loc[i].name), &loc[i]);
    if (rc == 0 && !n && !have_local && *dir)
        rc = error_set(LOCH_ENOTFOUND, "s3://%s/%s does not exist", s->bucket, key.data);
    if (rc == 0 && is_log_dir(dir))
        log_listed(s, dir, seq, e, ne, key.len);
    if (rc == 0 && n)
        qsort(v, n, sizeof(*v), cmp_entry);
    if (rc < 0) {
        storage_entries_free(v, n);
        v = NULL, n = 0;
    }
    *out = v, *count = n;
    s3_entries_free(e, ne);
    storage_entries_free(loc, nl);
    buf_free(&key);
    return rc;
}

static int s3s_list(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return list_as(st, dir, out, count, 1);
}

static int s3s_list_names(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return list_as(st, dir, out, count, 0);
}

static int s3s_head(storage *st, const char *path, storage_entry *out)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path))
        return s->local->head(s->local, path, out);
    memset(out, 0, sizeof(*out));
    if (!*path || dir_known(s, path)) {
        out->is_dir = 1, out->mtime_ms = -1;
        return 0;
    }
    buf key = BUF_INIT;
    s3_object m;
    s3_entry *e = NULL;
    size_t n = 0;
    /* a name with an extension is asked for as an object first (a commit's time), any
     * other as a directory first (a key under it: tables and logs) */
    const char *last = strrchr(path, '/');
    int file_first = strchr(last ? last : path, '.') != NULL;
    int rc = key_of(s, path, &key);
    if (rc == 0 && file_first && (rc = s3_head(s->c, s->bucket, key.data, &m)) == 0) {
        out->size = m.size, out->mtime_ms = m.mtime_ms, out->stamp = etag_stamp(m.etag);
        goto cleanup;
    }
    if (rc == LOCH_ENOTFOUND && file_first)
        error_clear(), rc = 0;
    rc = rc || buf_putc(&key, '/') < 0 ? (rc ? rc : error_set(LOCH_ENOMEM, "out of memory"))
                                       : s3_list_max(s->c, s->bucket, key.data, "/", 1, &e, &n);
    if (rc == 0 && n) {
        out->is_dir = 1, out->mtime_ms = -1;
        dir_seen(s, path);
    } else if (rc == 0 && file_first) {
        rc = error_set(LOCH_ENOTFOUND, "s3://%s/%.*s does not exist", s->bucket, (int)key.len - 1, key.data);
    } else if (rc == 0) {
        key.data[--key.len] = '\0';
        rc = s3_head(s->c, s->bucket, key.data, &m);
        if (rc == 0)
            out->size = m.size, out->mtime_ms = m.mtime_ms, out->stamp = etag_stamp(m.etag);
    }
cleanup:
    s3_entries_free(e, n);
    buf_free(&key);
    return rc;
}

static int s3s_remove(storage *st, const char *path)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path))
        return s->local->remove(s->local, path);
    buf key = BUF_INIT;
    int rc = key_of(s, path, &key);
    rc = rc ? rc : s3_delete(s->c, s->bucket, key.data);
    if (rc == 0)
        forget_copy(s, path);
    logs_forget(s); /* what a listing saw of it is no more */
    buf_free(&key);
    return rc;
}

/* Every key under dir/ (all depths). */
static int keys_under(s3_storage *s, const char *dir, buf *key, s3_entry **e, size_t *n)
{
    int rc = key_of(s, dir, key);
    if (rc == 0 && *dir && buf_putc(key, '/') < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    return rc ? rc : s3_list(s->c, s->bucket, key->data, NULL, e, n);
}

static int s3s_remove_tree(storage *st, const char *dir)
{
    s3_storage *s = (s3_storage *)st;
    dirs_forget(s);
    logs_forget(s);
    if (local_only(dir))
        return s->local->remove_tree(s->local, dir);
    buf key = BUF_INIT;
    s3_entry *e = NULL;
    char **keys = NULL;
    size_t n = 0;
    int rc = *dir ? keys_under(s, dir, &key, &e, &n) : error_set(LOCH_EINVALID, "the lake's root is not removed");
    if (rc == 0 && n && !(keys = malloc(n * sizeof(*keys))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        keys[i] = e[i].key;
    rc = rc || !n ? rc : s3_delete_keys(s->c, s->bucket, keys, n);
    if (rc == 0)
        rc = s->local->remove_tree(s->local, dir);
    free(keys);
    s3_entries_free(e, n);
    buf_free(&key);
    return rc;
}

static int s3s_remove_dir(storage *st, const char *dir)
{
    s3_storage *s = (s3_storage *)st;
    return s->local->remove_dir(s->local, dir); /* the bucket has no directories */
}

static int s3s_sync(storage *st, const char *path)
{
    s3_storage *s = (s3_storage *)st;
    /* the bucket's objects are durable once their PUT was answered */
    return local_only(path) ? s->local->sync(s->local, path) : 0;
}

static int s3s_mkdirs(storage *st, const char *dir)
{
    s3_storage *s = (s3_storage *)st;
    return s->local->mkdirs(s->local, dir); /* where the engine writes; the bucket needs none */
}

/* Uploads the local file or directory at `from` (written under a ".tmp-" name) to the
 * bucket's `to`. */
static int upload_tree(s3_storage *s, const char *from, const char *to)
{
    buf lp = BUF_INIT, key = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
    storage_entry *e = NULL;
    size_t n = 0;
    struct stat sb;
    int rc = local_path(s, from, &lp);
    if (rc == 0 && stat(lp.data, &sb) != 0)
        rc = errno == ENOENT ? error_set(LOCH_ENOTFOUND, "%s does not exist", lp.data) : error_errno(errno, "stat", lp.data);
    if (rc == 0 && S_ISREG(sb.st_mode)) {
        rc = key_of(s, to, &key);
        rc = rc ? rc : s3_put_file(s->c, s->bucket, key.data, lp.data, PART_SIZE, PART_THREADS, NULL);
    } else if (rc == 0) {
        rc = s->local->list_names(s->local, from, &e, &n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            buf_clear(&a), buf_clear(&b);
            rc = buf_printf(&a, "%s/%s", from, e[i].name) < 0 || buf_printf(&b, "%s/%s", to, e[i].name) < 0
                     ? error_set(LOCH_ENOMEM, "out of memory")
                     : upload_tree(s, a.data, b.data);
        }
    }
    storage_entries_free(e, n);
    buf_free(&lp), buf_free(&key), buf_free(&a), buf_free(&b);
    return rc;
}

/* Copies the bucket's `from` (an object, or every key under it) to `to`, then deletes
 * the sources. */
static int move_in_bucket(s3_storage *s, const char *from, const char *to)
{
    buf fk = BUF_INIT, tk = BUF_INIT, k2 = BUF_INIT;
    s3_entry *e = NULL;
    char **keys = NULL;
    size_t n = 0;
    /* a directory first (keys under it): an object of the same name beside it is not it */
    int rc = keys_under(s, from, &fk, &e, &n);
    rc = rc ? rc : key_of(s, to, &tk);
    if (rc == 0 && !n) { /* an object */
        fk.data[--fk.len] = '\0';
        rc = s3_copy(s->c, s->bucket, fk.data, tk.data);
        rc = rc ? rc : s3_delete(s->c, s->bucket, fk.data);
        goto cleanup;
    }
    if (rc == 0 && (rc = buf_putc(&tk, '/')) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *rel = e[i].key + fk.len;
        if (check_path(rel) < 0) { /* "a/../../elsewhere": never a destination; deleted below */
            error_clear();
            continue;
        }
        buf_clear(&k2);
        rc = buf_printf(&k2, "%s%s", tk.data, rel) < 0 ? error_set(LOCH_ENOMEM, "out of memory")
                                                       : s3_copy(s->c, s->bucket, e[i].key, k2.data);
        if (rc == LOCH_ENOTFOUND) /* deleted since the listing (a writer taking its commit back): gone already */
            error_clear(), rc = 0;
    }
    if (rc == 0 && n && !(keys = malloc(n * sizeof(*keys))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        keys[i] = e[i].key;
    rc = rc || !n ? rc : s3_delete_keys(s->c, s->bucket, keys, n);
cleanup:
    free(keys);
    s3_entries_free(e, n);
    buf_free(&fk), buf_free(&tk), buf_free(&k2);
    return rc;
}

static int s3s_move(storage *st, const char *from, const char *to)
{
    s3_storage *s = (s3_storage *)st;
    dirs_forget(s);
    logs_forget(s);
    int lf = local_only(from), lt = local_only(to);
    if (lf && lt) {
        int rc = local_parent(s, to);
        return rc ? rc : s->local->move(s->local, from, to);
    }
    if (lt)
        return error_set(LOCH_EUNSUPPORTED, "moving s3://%s/%s%s into loch's local files is not done", s->bucket,
                         s->prefix, from);
    int rc = lf ? upload_tree(s, from, to) : move_in_bucket(s, from, to);
    if (rc < 0)
        return rc;
    /* the local copy moves along: what was written is the cached copy at its new place */
    buf a = BUF_INIT, b = BUF_INIT;
    struct stat sb;
    if (local_path(s, from, &a) == 0 && local_path(s, to, &b) == 0 && lstat(a.data, &sb) == 0 &&
        local_parent(s, to) == 0) {
        s->local->remove_tree(s->local, to);
        if (rename(a.data, b.data) != 0)
            s->local->remove_tree(s->local, from);
    }
    error_clear();
    buf_free(&a), buf_free(&b);
    return 0;
}

/* The cache is bounded: once an eighth of its limit has been fetched since the last look,
 * the local root's cached copies (not _loch, not files being written) are summed and,
 * past the limit, the least recently used go (engine_path marks a copy used by its
 * access time) until a tenth is free. A copy used in the last RECENT_S seconds stays:
 * a query may have named it and not opened it yet. */
enum { RECENT_S = 60 };

typedef struct {
    char *path;
    int64_t size;
    time_t used;
} cached;

static int by_use(const void *a, const void *b)
{
    const cached *x = a, *y = b;
    return x->used < y->used ? -1 : x->used > y->used;
}

static void walk_cache(const char *dir, int top, cached **v, size_t *n, size_t *cap, int64_t *total)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || (top && !strcmp(de->d_name, "_loch")))
            continue; /* ".", "..", files being written; loch's own */
        char *p = NULL;
        struct stat sb;
        if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
            break;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            walk_cache(p, 0, v, n, cap, total);
        } else if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            *total += sb.st_size;
            if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 256;
                cached *g = realloc(*v, c * sizeof(*g));
                if (!g) {
                    free(p);
                    break;
                }
                *v = g, *cap = c;
            }
            (*v)[(*n)++] = (cached){p, sb.st_size, sb.st_atim.tv_sec};
            p = NULL;
        }
        free(p);
    }
    if (d)
        closedir(d);
}

static void prune_cache(s3_storage *s)
{
    cached *v = NULL;
    size_t n = 0, cap = 0;
    int64_t total = 0;
    walk_cache(s->root, 1, &v, &n, &cap, &total);
    if (total > s->cache_limit) {
        qsort(v, n, sizeof(*v), by_use);
        time_t recent = time(NULL) - RECENT_S;
        for (size_t i = 0; i < n && total > s->cache_limit - s->cache_limit / 10; i++)
            if (v[i].used < recent && unlink(v[i].path) == 0)
                total -= v[i].size;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

/* Marks a cached copy used now (its access time; its modification time is the object's). */
static void mark_used(const char *path)
{
    struct timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    utimensat(AT_FDCWD, path, t, 0);
}

/* Fetches the object at path into the local root (a temp file renamed into place, its
 * time set to the object's). ENOTFOUND when the bucket has no such object. */
static int fetch(s3_storage *s, const char *path, const char *key, const char *dest)
{
    buf tmp = BUF_INIT;
    s3_object m;
    int rc = local_parent(s, path), fd = -1;
    rc = rc ? rc : temp_beside(dest, &tmp);
    if (rc == 0 && (fd = open(tmp.data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = error_errno(errno, "create", tmp.data);
    rc = rc ? rc : s3_get_file(s->c, s->bucket, key, fd, &m);
    if (rc == 0 && m.etag[0]) /* what the copy is checked by: the object's ETag (below: engine_path) */
        fsetxattr(fd, ETAG_XATTR, m.etag, strlen(m.etag), 0);
    if (rc == 0 && m.mtime_ms >= 0) {
        struct timespec t[2] = {{m.mtime_ms / 1000, (m.mtime_ms % 1000) * 1000000}, {m.mtime_ms / 1000, (m.mtime_ms % 1000) * 1000000}};
        futimens(fd, t);
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp.data, dest) != 0)
        rc = error_errno(errno, "rename to", dest);
    if (rc < 0 && tmp.data)
        unlink(tmp.data);
    buf_free(&tmp);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        int look = (s->fetched += m.size) > s->cache_limit / 8;
        if (look)
            s->fetched = 0;
        pthread_mutex_unlock(&s->mu);
        if (look)
            prune_cache(s);
    }
    return rc;
}

static int s3s_engine_path(storage *st, const char *path, buf *out)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path) || !*path)
        return s->local->engine_path(s->local, path, out);
    buf key = BUF_INIT;
    struct stat sb;
    s3_object m;
    int rc = key_of(s, path, &key);
    rc = rc ? rc : local_path(s, path, out);
    int have = rc == 0 && stat(out->data, &sb) == 0 && S_ISREG(sb.st_mode);
    if (have)
        mark_used(out->data);
    if (rc < 0 || (have && immutable(path)) || (!have && rc == 0 && stat(out->data, &sb) == 0))
        goto cleanup; /* a trusted copy, or a local directory */
    if (have && copy_is_listed(s, path, out->data, -1, sb.st_size))
        goto cleanup; /* the object a listing just saw */
    if (have) { /* still the object's copy? */
        rc = s3_head(s->c, s->bucket, key.data, &m);
        if (rc == LOCH_ENOTFOUND) { /* gone from the bucket: no copy either */
            error_clear();
            unlink(out->data);
            rc = local_parent(s, path);
            goto cleanup;
        }
        /* the same object: its size and ETag (a time has whole seconds only, and a table
         * dropped and made again within one has a log of the same names and sizes) */
        char etag[sizeof(m.etag)];
        ssize_t el = getxattr(out->data, ETAG_XATTR, etag, sizeof(etag) - 1);
        if (rc == 0 && m.size == (int64_t)sb.st_size && el > 0 && m.etag[0] && (size_t)el == strlen(m.etag) &&
            !memcmp(etag, m.etag, (size_t)el))
            goto cleanup;
    }
    rc = rc ? rc : fetch(s, path, key.data, out->data);
    if (rc == LOCH_ENOTFOUND) { /* nothing to read: where the engine may write it */
        error_clear();
        rc = local_parent(s, path);
    }
cleanup:
    buf_free(&key);
    return rc;
}

static int s3s_lock(storage *st, const char *path, int flags, storage_lock **out)
{
    s3_storage *s = (s3_storage *)st;
    *out = NULL;
    if (local_only(path))
        return s->local->lock(s->local, path, flags, out);
    if (flags & STORAGE_LOCK_CREATE)
        return error_set(LOCH_EUNSUPPORTED, "s3://%s/%s%s: objects in a bucket are not created locked", s->bucket,
                         s->prefix, path);
    /* what is locked is there: made locally (mkdirs, for a table being created), or in
     * the bucket */
    buf p = BUF_INIT;
    struct stat sb;
    int made = local_path(s, path, &p) == 0 && stat(p.data, &sb) == 0 && S_ISDIR(sb.st_mode);
    buf_free(&p);
    if (made)
        return s->local->lock(s->local, path, flags, out);
    storage_entry e;
    int rc = s3s_head(st, path, &e);
    if (rc == 0 && !e.is_dir)
        return error_set(LOCH_EUNSUPPORTED, "s3://%s/%s%s: loch locks directories of a bucket, not objects",
                         s->bucket, s->prefix, path);
    rc = rc ? rc : s->local->mkdirs(s->local, path);
    return rc ? rc : s->local->lock(s->local, path, flags, out);
}

static int s3s_lock_write(storage *st, storage_lock *lock, const void *data, size_t len, int durable)
{
    s3_storage *s = (s3_storage *)st;
    return s->local->lock_write(s->local, lock, data, len, durable);
}

static void s3s_unlock(storage *st, storage_lock *lock)
{
    s3_storage *s = (s3_storage *)st;
    s->local->unlock(s->local, lock);
}

static int s3s_list_tree(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    s3_storage *s = (s3_storage *)st;
    *out = NULL, *count = 0;
    if (local_only(dir))
        return s->local->list_tree(s->local, dir, out, count);
    buf key = BUF_INIT;
    s3_entry *e = NULL;
    storage_entry *v = NULL;
    size_t ne = 0, n = 0, cap = 0;
    int rc = keys_under(s, dir, &key, &e, &ne); /* one LIST (of pages), however deep */
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        const char *name = e[i].key + key.len;
        size_t len = strlen(name);
        if (!len || name[len - 1] == '/' || local_only(name) || check_path(name) < 0) {
            error_clear(); /* a "directory" object, loch's own, or a key no path names */
            continue;
        }
        storage_entry x = {.size = e[i].size, .mtime_ms = e[i].mtime_ms, .stamp = etag_stamp(e[i].etag)};
        rc = add_entry(&v, &n, &cap, name, len, &x);
    }
    if (rc < 0) {
        storage_entries_free(v, n);
        v = NULL, n = 0;
    }
    *out = v, *count = n;
    s3_entries_free(e, ne);
    buf_free(&key);
    return rc;
}

static int s3s_put_file(storage *st, const char *path, const char *file)
{
    s3_storage *s = (s3_storage *)st;
    buf key = BUF_INIT;
    int rc = local_only(path) ? local_parent(s, path) : 0;
    if (local_only(path))
        return rc ? rc : s->local->put_file(s->local, path, file);
    rc = key_of(s, path, &key);
    rc = rc ? rc : s3_put_file(s->c, s->bucket, key.data, file, PART_SIZE, PART_THREADS, NULL);
    if (rc == 0)
        forget_copy(s, path);
    buf_free(&key);
    return rc;
}

static int s3s_get_file(storage *st, const char *path, const char *file)
{
    s3_storage *s = (s3_storage *)st;
    if (local_only(path))
        return s->local->get_file(s->local, path, file);
    buf key = BUF_INIT;
    int fd = -1, rc = key_of(s, path, &key);
    if (rc == 0 && (fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = error_errno(errno, "create", file);
    rc = rc ? rc : s3_get_file(s->c, s->bucket, key.data, fd, NULL);
    if (fd >= 0)
        close(fd);
    buf_free(&key);
    return rc;
}

static void s3s_free(storage *st)
{
    s3_storage *s = (s3_storage *)st;
    if (!s)
        return;
    s3_free(s->c);
    if (s->inited) {
        logs_forget(s);
        pthread_mutex_destroy(&s->mu);
    }
    if (s->local)
        s->local->free(s->local);
    free(s->bucket), free(s->prefix), free(s->root);
    free(s);
}

/* A name for the store in a local path: its host, or "aws". */
static int put_store_name(buf *b, const char *endpoint)
{
    const char *h = endpoint && *endpoint ? endpoint : "aws";
    const char *p = strstr(h, "://");
    h = p ? p + 3 : h;
    for (; *h && *h != '/'; h++)
        if (buf_putc(b, strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", *h) ? *h : '_') < 0)
            return LOCH_ENOMEM;
    return 0;
}

int storage_s3_open(storage **out, const char *bucket, const char *prefix, int create, const storage_s3_config *cfg)
{
    s3_storage *s = calloc(1, sizeof(*s));
    buf root = BUF_INIT, pre = BUF_INIT;
    s3_entry *e = NULL;
    size_t n = 0;
    int rc = s ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    *out = NULL;
    if (s) {
        pthread_mutex_init(&s->mu, NULL);
        s->inited = 1;
    }
    if (rc == 0 && (!cfg || !cfg->local_dir || !*cfg->local_dir))
        rc = error_set(LOCH_EINVALID, "s3://%s/%s: a lake in a bucket needs a local directory for its cache and "
                       "scratch files (the loch command uses $LOCH_CACHE_DIR, else ~/.cache/loch)", bucket, prefix);
    if (rc == 0 && *prefix && buf_printf(&pre, "%s/", prefix) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0) {
        s3_options o = {.endpoint = cfg->endpoint, .region = cfg->region, .access_key = cfg->access_key,
                        .secret_key = cfg->secret_key, .session_token = cfg->session_token,
                        .path_style = cfg->path_style};
        rc = s3_open(&s->c, &o);
    }
    if (rc == 0)
        s->cache_limit = cfg->cache_bytes > 0 ? cfg->cache_bytes : (int64_t)10 << 30;
    if (rc == 0 && (!(s->bucket = strdup(bucket)) || !(s->prefix = strdup(pre.data ? pre.data : ""))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    /* the bucket is there, and answers us: one LIST of at most one key */
    rc = rc || cfg->unchecked ? rc : s3_list_max(s->c, bucket, s->prefix, "/", 1, &e, &n);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "no bucket \"%s\" at the store (create it first: aws s3 mb s3://%s)", bucket,
                       bucket);
    (void)create; /* a prefix needs no making: the lake is where its keys are */
    if (rc == 0 && (buf_printf(&root, "%s/s3/", cfg->local_dir) < 0 || put_store_name(&root, cfg->endpoint) < 0 ||
                    buf_printf(&root, "/%s%s%s/@lake", bucket, *prefix ? "/" : "", prefix) < 0))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : storage_local_open(&s->local, root.data, 1);
    rc = rc ? rc : s->local->engine_path(s->local, "", &root);
    if (rc == 0) {
        if (root.len && root.data[root.len - 1] == '/')
            root.data[--root.len] = '\0';
        rc = (s->root = strdup(root.data)) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        s->base = (storage){.get = s3s_get, .put = s3s_put, .put_if_absent = s3s_put_if_absent, .list = s3s_list,
                            .list_names = s3s_list_names, .head = s3s_head, .remove = s3s_remove,
                            .remove_tree = s3s_remove_tree, .remove_dir = s3s_remove_dir, .sync = s3s_sync,
                            .mkdirs = s3s_mkdirs, .move = s3s_move, .engine_path = s3s_engine_path,
                            .lock = s3s_lock, .lock_write = s3s_lock_write, .unlock = s3s_unlock,
                            .list_tree = s3s_list_tree, .put_file = s3s_put_file, .get_file = s3s_get_file,
                            .free = s3s_free, .remote = 1};
        *out = &s->base;
        s = NULL;
    }
    s3_entries_free(e, n);
    s3s_free(s ? &s->base : NULL);
    buf_free(&root), buf_free(&pre);
    return rc;
}
