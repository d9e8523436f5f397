/*
 * ops/sync.c - loch_sync (loch/sync.h): a lake copied to another place, object by
 * object, through the storage interface of each side.
 *
 * The plan: both sides are listed whole (list_tree: one LIST of a bucket however many
 * tables it holds), and every source object the destination lacks, or holds at another
 * size, is copied. Objects never change under a name in a Delta table but for
 * _last_checkpoint (and loch's index files), so size tells a copy that is whole from
 * one that is not; a destination object that differs is replaced.
 *
 * The order keeps the destination a lake at every moment: first every data file,
 * deletion vector and index (any number at once), then each table's _delta_log in
 * version order (a commit, then its checkpoint), _last_checkpoint last; tables' logs go
 * side by side. A reader never meets a commit whose files are not there yet, nor a gap
 * in a log, so a sync killed anywhere leaves a lake at an older version, and the next
 * sync copies the rest.
 *
 * A copy is the destination's own atomic write: put_file of the source's local file
 * when the source is local (a PUT, or a multipart upload); otherwise the source's bytes
 * go to a temp file beside the object (get_file), synced, then moved into place.
 * Hidden names (".tmp-", ".dropped-": files being written, tables being dropped) and
 * loch's own _loch are not the lake's and are not copied.
 */
#include "ops/ops.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/storage.h"
#include "loch/sync.h"
#include "util/misc.h"
#include "util/options.h"

typedef struct {
    const char *path;
    int64_t size;
} item;

/* Items copied one after another (a table's log), or one alone. */
typedef struct {
    item *items;
    size_t n;
} group;

typedef struct {
    storage *src, *dst;
    int src_local;
    group *groups;
    size_t ngroups;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    int rc;
    char message[1024];
    loch_sync_stats stats;
    int64_t bytes_total;
    const loch_sync_options *o;
} job;

/* Where a path's log starts ("t/_delta_log/"), or 0 when it is not in a log. */
static size_t log_prefix(const char *path)
{
    const char *l = strstr(path, "_delta_log/");
    if (!l || (l != path && l[-1] != '/'))
        return 0;
    return (size_t)(l - path) + 11;
}

static int hidden(const char *path)
{
    if (!strcmp(path, "_loch") || !strncmp(path, "_loch/", 6))
        return 1;
    for (const char *p = path; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (*p == '.')
            return 1;
    }
    return 0;
}

/* A log's order: by version, a commit before its checkpoint; _last_checkpoint last. */
static int log_rank(const char *name, long long *version)
{
    *version = -1;
    if (!strcmp(name, "_last_checkpoint"))
        return 3;
    size_t digits = strspn(name, "0123456789");
    if (digits != 20)
        return 2;
    *version = strtoll(name, NULL, 10);
    return !strcmp(name + 20, ".json") ? 0 : 1;
}

static int cmp_log(const void *a, const void *b)
{
    const item *x = a, *y = b;
    size_t px = log_prefix(x->path), py = log_prefix(y->path);
    int t = strncmp(x->path, y->path, px < py ? px : py);
    if (t || px != py)
        return t ? t : px < py ? -1 : 1;
    long long vx, vy;
    int rx = log_rank(x->path + px, &vx), ry = log_rank(y->path + py, &vy);
    if (vx != vy && vx >= 0 && vy >= 0)
        return vx < vy ? -1 : 1;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x->path, y->path);
}

static void fail(job *j, int rc)
{
    pthread_mutex_lock(&j->mu);
    if (!j->rc) {
        j->rc = rc;
        snprintf(j->message, sizeof(j->message), "%s", loch_error_last());
    }
    pthread_mutex_unlock(&j->mu);
    atomic_store(&j->failed, 1);
}

static int copy_one(job *j, const item *it)
{
    buf local = BUF_INIT, tmp = BUF_INIT, dir = BUF_INIT;
    int rc = 0;
    if (j->src_local) { /* the source's own file, published at the destination */
        rc = j->src->engine_path(j->src, it->path, &local);
        rc = rc ? rc : j->dst->put_file(j->dst, it->path, local.data);
        goto done;
    }
    char id[37];
    uuid_v4(id);
    const char *slash = strrchr(it->path, '/');
    size_t dl = slash ? (size_t)(slash - it->path) : 0;
    rc = buf_put(&dir, it->path, dl) < 0 || buf_printf(&tmp, "%.*s%s.tmp-%d-%s.sync", (int)dl, it->path,
                                                       dl ? "/" : "", (int)getpid(), id) < 0
             ? error_set(LOCH_ENOMEM, "out of memory")
             : 0;
    rc = rc || !dl ? rc : j->dst->mkdirs(j->dst, dir.data);
    rc = rc ? rc : j->dst->engine_path(j->dst, tmp.data, &local);
    rc = rc ? rc : j->src->get_file(j->src, it->path, local.data);
    rc = rc ? rc : j->dst->sync(j->dst, tmp.data);
    rc = rc ? rc : j->dst->move(j->dst, tmp.data, it->path);
    rc = rc ? rc : j->dst->sync(j->dst, it->path);
    if (rc < 0 && local.len)
        unlink(local.data);
done:
    if (rc < 0)
        error_prefix("%s: ", it->path);
    buf_free(&local), buf_free(&tmp), buf_free(&dir);
    return rc;
}

static void *worker(void *arg)
{
    job *j = arg;
    for (size_t g; !atomic_load(&j->failed) && (g = atomic_fetch_add(&j->next, 1)) < j->ngroups;)
        for (size_t i = 0; i < j->groups[g].n && !atomic_load(&j->failed); i++) {
            const item *it = &j->groups[g].items[i];
            int rc = copy_one(j, it);
            if (rc < 0) {
                fail(j, rc);
                break;
            }
            pthread_mutex_lock(&j->mu);
            j->stats.copied++;
            j->stats.bytes_copied += it->size;
            if (j->o->progress)
                j->o->progress(j->o->ctx, &j->stats, j->bytes_total);
            pthread_mutex_unlock(&j->mu);
        }
    return NULL;
}

/* Runs the groups, `threads` at a time; the first failure stops the rest. */
static int run_groups(job *j, group *groups, size_t n, int threads)
{
    j->groups = groups, j->ngroups = n;
    atomic_store(&j->next, 0);
    pthread_t t[64];
    int started = 0;
    for (int i = 0; i < threads && (size_t)i < n; i++)
        started += pthread_create(&t[started], NULL, worker, j) == 0;
    if (n && !started)
        return error_set(LOCH_ENOMEM, "cannot start a thread to copy with");
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    return j->rc ? error_set(j->rc, "%s", j->message) : 0;
}

int loch_sync(const char *from, const char *to, const loch_lake_options *lake_opts, const loch_sync_options *opts,
              loch_sync_stats *stats)
{
    static const size_t sizes[] = {sizeof(loch_sync_options)};
    loch_sync_options o;
    loch_lake_options lo;
    job j = {0};
    storage_entry *se = NULL, *de = NULL;
    size_t ns = 0, nd = 0, nd_items = 0, nl_items = 0, ngroups = 0;
    item *data = NULL, *logs = NULL;
    group *groups = NULL;
    storage_uri u = {0};
    int rc = options_copy(&o, opts, sizes, LOCH_SYNC_OPTIONS_VERSION, "loch_sync_options");
    rc = rc ? rc : lake_options_copy(&lo, lake_opts);
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (rc < 0)
        return rc;
    storage_s3_config cfg = {lo.s3_access_key, lo.s3_secret_key, lo.s3_session_token, lo.s3_region, lo.s3_endpoint,
                             lo.s3_path_style, lo.local_dir, lo.local_cache_bytes, 1 /* the listing below asks */};
    pthread_mutex_init(&j.mu, NULL);
    atomic_init(&j.failed, 0);
    j.o = &o;
    if ((rc = storage_uri_parse(&u, from)) == 0)
        j.src_local = !strcmp(u.scheme, "file");
    storage_uri_free(&u);
    rc = rc ? rc : storage_open(&j.src, from, 0, &cfg);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "no lake at %s to copy", from);
    rc = rc ? rc : storage_open(&j.dst, to, 1, &cfg);
    rc = rc ? rc : j.src->list_tree(j.src, "", &se, &ns);
    rc = rc ? rc : j.dst->list_tree(j.dst, "", &de, &nd);
    if (rc == 0 && ns && (!(data = calloc(ns, sizeof(*data))) || !(logs = calloc(ns, sizeof(*logs))) ||
                          !(groups = calloc(ns, sizeof(*groups)))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    /* both lists are sorted by name: one walk finds what the destination lacks */
    for (size_t i = 0, k = 0; rc == 0 && i < ns; i++) {
        if (hidden(se[i].name))
            continue;
        j.stats.objects++;
        int c = 1;
        while (k < nd && (c = strcmp(de[k].name, se[i].name)) < 0)
            k++;
        if (k < nd && c == 0 && de[k].size == se[i].size) {
            j.stats.present++;
            continue;
        }
        item it = {se[i].name, se[i].size};
        j.bytes_total += se[i].size;
        if (log_prefix(se[i].name))
            logs[nl_items++] = it;
        else
            data[nd_items++] = it;
    }
    int threads = o.threads > 0 ? (o.threads > 64 ? 64 : o.threads) : 16;
    for (size_t i = 0; rc == 0 && i < nd_items; i++)
        groups[ngroups++] = (group){&data[i], 1};
    rc = rc ? rc : run_groups(&j, groups, ngroups, threads); /* every data file first */
    if (rc == 0 && nl_items) { /* then each table's log, in order */
        qsort(logs, nl_items, sizeof(*logs), cmp_log);
        ngroups = 0;
        for (size_t i = 0; i < nl_items; i++) {
            size_t p = log_prefix(logs[i].path);
            if (!ngroups || strncmp(groups[ngroups - 1].items[0].path, logs[i].path, p) != 0 ||
                log_prefix(groups[ngroups - 1].items[0].path) != p)
                groups[ngroups++] = (group){&logs[i], 0};
            groups[ngroups - 1].n++;
        }
        rc = run_groups(&j, groups, ngroups, threads);
    }
    if (stats)
        *stats = j.stats;
    free(data), free(logs), free(groups);
    storage_entries_free(se, ns);
    storage_entries_free(de, nd);
    if (j.src)
        j.src->free(j.src);
    if (j.dst)
        j.dst->free(j.dst);
    pthread_mutex_destroy(&j.mu);
    return rc;
}
