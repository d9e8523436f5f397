/*
 * ops/txlog.c - reading and writing a table's _delta_log through the storage interface.
 *
 * Loading a snapshot at version V:
 *   1. list _delta_log once (sorted);
 *   2. pick the newest complete checkpoint <= V (classic, multi-part or v2), found by
 *      listing (_last_checkpoint is only a shortcut to the latest); a checkpoint is a
 *      version of the table even when its commit file is gone;
 *   3. replay its rows, then commits checkpoint+1 .. V, which must all be present;
 *   4. refuse reader features loch does not implement (core/snapshot.c).
 * Time travel by timestamp picks the newest commit whose time is <= the instant: its
 * file time (made to increase from commit to commit, as Delta readers do), or where the table enables in-commit timestamps its inCommitTimestamp
 * (from the enablement version on; instants before the enablement timestamp search
 * only the versions before it, by file time: core/snapshot.h).
 *
 * Committing version V = read_version + 1:
 *   put_if_absent(_delta_log/V.json) of the commit rendered by core/commit.c. Losing the
 *   race (EEXISTS) is not an error yet: the winning commits are read, parsed and handed
 *   to conflict_check (core/commit.h has Delta's rules), and unless one conflicts the
 *   same actions are retried after them, with jittered exponential backoff.
 * After a commit whose version is a multiple of delta.checkpointInterval (default 100)
 * a classic checkpoint is written, then expired log files are cleaned up.
 */
#include "ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "util/json.h"
#include "util/misc.h"

/* Lost races are retried for up to COMMIT_PATIENCE seconds: appends never conflict, so
 * a busy table only delays them; a cap on attempts alone starved writers under load. */
#define COMMIT_PATIENCE 120.0

typedef struct {
    int64_t version;
    int64_t mtime_ms;
    int json;               /* 0: only a checkpoint holds this version (its commit is gone) */
    int64_t stamp;          /* storage_entry's */
} commit_file;

typedef struct {
    commit_file *commits;   /* owned, ascending */
    size_t ncommits;
    int64_t checkpoint;     /* chosen checkpoint version, -1 none */
    char **cp_files;        /* owned names of the chosen checkpoint's files */
    size_t ncp_files;
} log_listing;

static void listing_free(log_listing *l)
{
    free(l->commits);
    for (size_t i = 0; i < l->ncp_files; i++)
        free(l->cp_files[i]);
    free(l->cp_files);
}

static int log_dir(const char *table, buf *out)
{
    buf_clear(out);
    return buf_printf(out, "%s/_delta_log", table);
}

/* The file time of one commit, or -1 when it cannot be read; its stamp into *stamp (may
 * be NULL; -1 when it cannot be read). */
static int64_t commit_time_stamp(loch_lake *lake, const char *table, int64_t version, int64_t *stamp)
{
    char name[32];
    buf path = BUF_INIT;
    storage_entry e = {0};
    log_commit_name(version, name);
    int64_t t = -1;
    if (stamp)
        *stamp = -1;
    if (buf_printf(&path, "%s/_delta_log/%s", table, name) == 0 && lake->st->head(lake->st, path.data, &e) == 0) {
        t = e.mtime_ms;
        if (stamp)
            *stamp = e.stamp;
    }
    buf_free(&path);
    return t;
}

static int64_t commit_time(loch_lake *lake, const char *table, int64_t version)
{
    return commit_time_stamp(lake, table, version, NULL);
}

/* What tells one commit file from another written under its name later (a table dropped
 * and made again): -1 when there is none. */
static int64_t commit_stamp(loch_lake *lake, const char *table, int64_t version)
{
    int64_t stamp;
    commit_time_stamp(lake, table, version, &stamp);
    return stamp;
}

/* The usual way to the latest version: _last_checkpoint names a checkpoint, and the
 * commits after it are found by asking for each next version until one is missing
 * (what object-store readers do with list-from). Returns 1 when l was filled, 0 when
 * the caller should list the whole directory instead. */
static int list_from_checkpoint(loch_lake *lake, const char *table, log_listing *l)
{
    buf path = BUF_INIT, data = BUF_INIT;
    arena a = ARENA_INIT;
    json *j;
    storage_entry e;
    int ok = 0;
    if (buf_printf(&path, "%s/_delta_log/_last_checkpoint", table) < 0 ||
        lake->st->get(lake->st, path.data, &data) < 0 || json_parse(&a, data.data, data.len, &j) < 0 ||
        json_get(j, "parts") || json_get_i64(j, "version", -1) < 0)
        goto done;
    int64_t cp = json_get_i64(j, "version", -1);
    char name[64];
    snprintf(name, sizeof(name), "%020lld.checkpoint.parquet", (long long)cp);
    buf_clear(&path);
    if (buf_printf(&path, "%s/_delta_log/%s", table, name) < 0 || lake->st->head(lake->st, path.data, &e) < 0)
        goto done;
    if (!(l->cp_files = malloc(sizeof(char *))) || !(l->cp_files[0] = strdup(name)))
        goto done;
    l->ncp_files = 1;
    l->checkpoint = cp;
    for (int64_t v = cp;; v++) {
        int64_t stamp, t = commit_time_stamp(lake, table, v, &stamp);
        if (t < 0 && v > cp)
            break;
        if (v - cp > 1000)
            goto done; /* a stale hint: listing is cheaper */
        commit_file *grown = realloc(l->commits, sizeof(commit_file) * (l->ncommits + 1));
        if (!grown)
            goto done;
        l->commits = grown;
        l->commits[l->ncommits++] = (commit_file){v, t, t >= 0, stamp};
    }
    ok = 1;
done:
    if (!ok) {
        listing_free(l);
        memset(l, 0, sizeof(*l));
        l->checkpoint = -1;
    }
    arena_free(&a);
    buf_free(&path);
    buf_free(&data);
    return ok;
}

/* A checkpoint is a version of the table even when its commit file is gone (cleaned
 * up, or a log copied as a checkpoint alone): it joins the listed versions, with the
 * checkpoint file's time, so that version and those after it can be read. */
static int add_checkpoint_version(loch_lake *lake, const char *table, log_listing *l)
{
    size_t at = 0;
    while (at < l->ncommits && l->commits[at].version < l->checkpoint)
        at++;
    if (l->checkpoint < 0 || !l->ncp_files || (at < l->ncommits && l->commits[at].version == l->checkpoint))
        return 0;
    buf path = BUF_INIT;
    storage_entry e = {0};
    e.mtime_ms = -1;
    if (buf_printf(&path, "%s/_delta_log/%s", table, l->cp_files[0]) == 0)
        lake->st->head(lake->st, path.data, &e);
    buf_free(&path);
    memmove(&l->commits[at + 1], &l->commits[at], sizeof(commit_file) * (l->ncommits - at));
    l->commits[at] = (commit_file){l->checkpoint, e.mtime_ms, 0, -1};
    l->ncommits++;
    return 0;
}

/* Lists commits and remembers every checkpoint candidate <= max_version. Commit times
 * cost a stat each, so they are only read when asked for (time travel by timestamp);
 * otherwise they are -1 and callers head() the one commit whose time they need. */
static int list_log(loch_lake *lake, const char *table, int64_t max_version, int times, log_listing *l)
{
    buf dir = BUF_INIT;
    storage_entry *e = NULL;
    size_t n = 0;
    memset(l, 0, sizeof(*l));
    l->checkpoint = -1;
    if (guard_check_dir(lake, table) < 0)
        return LOCH_EINVALID;
    /* the shortcut costs a head() a commit: on a store where each is a round trip, one
     * LIST (a thousand names a page) is cheaper */
    if (max_version == INT64_MAX && !times && !lake->st->remote && list_from_checkpoint(lake, table, l))
        return 0;
    int rc = log_dir(table, &dir);
    rc = rc ? rc : (times ? lake->st->list : lake->st->list_names)(lake->st, dir.data, &e, &n);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    if (rc < 0)
        goto cleanup;
    l->commits = malloc(sizeof(commit_file) * (n + 1));
    if (!l->commits) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto cleanup;
    }
    /* Pass 1: commits. Pass 2: the newest complete checkpoint <= max_version. */
    for (size_t i = 0; i < n; i++) {
        char kind;
        int part, parts;
        int64_t v = log_name_version(e[i].name, &kind, &part, &parts);
        if (kind == 'j')
            l->commits[l->ncommits++] = (commit_file){v, e[i].mtime_ms, 1, e[i].stamp ? e[i].stamp : -1};
    }
    for (size_t i = n; i-- > 0;) {
        char kind;
        int part = 0, parts = 0;
        int64_t v = log_name_version(e[i].name, &kind, &part, &parts);
        if (!kind || kind == 'j' || v > max_version || v < l->checkpoint)
            continue;
        if (kind == 'm') {
            /* A multi-part checkpoint counts only when all its parts are listed. */
            int found = 0;
            for (size_t j = 0; j < n; j++) {
                char k2;
                int p2, ps2;
                if (log_name_version(e[j].name, &k2, &p2, &ps2) == v && k2 == 'm' && ps2 == parts)
                    found++;
            }
            if (found != parts)
                continue;
        }
        if (v > l->checkpoint) {
            for (size_t j = 0; j < l->ncp_files; j++)
                free(l->cp_files[j]);
            l->ncp_files = 0;
            l->checkpoint = v;
        } else if (kind != 'm') {
            continue; /* one classic or v2 file per version is enough */
        } else if (l->ncp_files && !strstr(l->cp_files[0], ".checkpoint.0")) {
            continue;
        }
        char **grown = realloc(l->cp_files, sizeof(char *) * (l->ncp_files + 1));
        if (!grown) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            goto cleanup;
        }
        l->cp_files = grown;
        l->cp_files[l->ncp_files++] = strdup(e[i].name);
    }
    if (rc == 0)
        rc = add_checkpoint_version(lake, table, l);
    /* File times need not increase from commit to commit: a bucket gives whole seconds,
     * and clocks differ between writers. Delta's rule: a commit's time is at least the
     * one before it plus a millisecond, so that a time names one version. (Where the
     * listing has the times anyway, a bucket's, every snapshot gets them so.) */
    for (size_t i = 1; rc == 0 && i < l->ncommits; i++)
        if (l->commits[i].mtime_ms >= 0 && l->commits[i - 1].mtime_ms >= 0 &&
            l->commits[i].mtime_ms <= l->commits[i - 1].mtime_ms)
            l->commits[i].mtime_ms = l->commits[i - 1].mtime_ms + 1;
cleanup:
    storage_entries_free(e, n);
    buf_free(&dir);
    return rc;
}

int txlog_commit_times(loch_lake *lake, const char *table, int64_t from, int64_t to, int64_t *ms)
{
    log_listing l;
    for (int64_t v = from; v <= to; v++)
        ms[v - from] = -1;
    int rc = list_log(lake, table, INT64_MAX, 1, &l);
    for (size_t i = 0; rc == 0 && i < l.ncommits; i++)
        if (l.commits[i].version >= from && l.commits[i].version <= to)
            ms[l.commits[i].version - from] = l.commits[i].mtime_ms;
    listing_free(&l);
    return rc;
}

int64_t txlog_latest_version(loch_lake *lake, const char *table)
{
    log_listing l;
    if (list_log(lake, table, INT64_MAX, 0, &l) < 0)
        return -1;
    int64_t v = l.ncommits ? l.commits[l.ncommits - 1].version : -1;
    listing_free(&l);
    return v;
}


typedef struct {
    snapshot *s;
    loch_lake *lake;
    const char *table;
    int depth;
} replay_ctx;

static int read_checkpoint_file(replay_ctx *rc, const char *name);

static int replay_json(void *ctx, const char *text, size_t len)
{
    replay_ctx *r = ctx;
    json *obj;
    log_action act;
    int rc = json_parse(&r->s->arena, text, len, &obj);
    if (rc < 0)
        return rc;
    const json *side = json_get(obj, "sidecar");
    if (side && side->type == JSON_OBJECT) {
        const char *p = json_get_str(side, "path");
        if (!p || strchr(p, '/') || r->depth > 0)
            return error_set(LOCH_ECORRUPT, "bad sidecar reference");
        buf name = BUF_INIT;
        rc = buf_printf(&name, "_sidecars/%s", p);
        r->depth++;
        rc = rc ? rc : read_checkpoint_file(r, name.data);
        r->depth--;
        buf_free(&name);
        return rc;
    }
    rc = log_action_from_json(&r->s->arena, obj, &act);
    return rc ? rc : snapshot_apply(r->s, &act);
}

static int replay_ndjson(replay_ctx *r, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int rc = 0;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
            n--;
        if (n)
            rc = replay_json(r, p, n);
        p = e + 1;
    }
    return rc;
}

/* A checkpoint's add row, straight into the snapshot (no JSON round trip for the
 * columns that make up almost all of a checkpoint). */
static int replay_add_row(void *ctx, const compute_add_row *row)
{
    replay_ctx *r = ctx;
    arena *a = &r->s->arena;
    log_action act;
    log_file *f = &act.u.file;
    json *j;
    int rc = 0;
    memset(&act, 0, sizeof(act));
    act.kind = LOG_ADD;
    char *path = arena_strdup(a, row->path);
    if (!path || (row->stats && !(f->stats = arena_strdup(a, row->stats))))
        return LOCH_ENOMEM;
    if ((rc = uri_decode(path)) < 0)
        return rc;
    f->path = path;
    f->size = row->size;
    f->modification_time = row->modification_time;
    f->data_change = row->data_change;
    f->num_records = LOG_UNCOUNTED;
    f->dv.offset = -1;
    /* The maps are tiny ("{}" mostly); parse them as the log parser would. */
    const char *maps[] = {row->partition_values_json, row->tags_json, row->deletion_vector_json};
    for (int i = 0; rc == 0 && i < 3; i++) {
        if (!maps[i] || strcmp(maps[i], "{}") == 0 || strcmp(maps[i], "null") == 0)
            continue;
        if ((rc = json_parse(a, maps[i], strlen(maps[i]), &j)) < 0)
            break;
        rc = i == 0 ? log_read_kv(a, j, &f->partition_values) : i == 1 ? log_read_kv(a, j, &f->tags)
                                                                      : log_read_dv(j, &f->dv);
    }
    return rc ? rc : snapshot_apply(r->s, &act);
}


static int read_checkpoint_file(replay_ctx *r, const char *name)
{
    buf path = BUF_INIT, local = BUF_INIT, data = BUF_INIT;
    int rc = buf_printf(&path, "%s/_delta_log/%s", r->table, name);
    if (rc < 0)
        goto cleanup;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0) {
        rc = r->lake->st->get(r->lake->st, path.data, &data);
        rc = rc ? rc : replay_ndjson(r, data.data, data.len);
    } else {
        rc = r->lake->st->engine_path(r->lake->st, path.data, &local); /* the engine reads Parquet */
        compute_checkpoint_reader reader = {replay_add_row, replay_json, r};
        rc = rc ? rc : compute_read_checkpoint(r->lake->cp, local.data, &reader);
    }
    if (rc < 0)
        error_prefix("checkpoint %s: ", path.data);
cleanup:
    buf_free(&path);
    buf_free(&local);
    buf_free(&data);
    return rc;
}

static int replay_commit(replay_ctx *r, int64_t version)
{
    buf path = BUF_INIT, data = BUF_INIT;
    char name[32];
    log_commit_name(version, name);
    int rc = buf_printf(&path, "%s/_delta_log/%s", r->table, name);
    rc = rc ? rc : r->lake->st->get(r->lake->st, path.data, &data);
    rc = rc ? rc : replay_ndjson(r, data.data, data.len);
    if (rc < 0)
        error_prefix("table \"%s\" version %lld: ", r->table, (long long)version);
    buf_free(&path);
    buf_free(&data);
    return rc;
}

/* The inCommitTimestamp of commit v: the first action of the commit must be a
 * commitInfo carrying it (the Delta protocol, "In-Commit Timestamps"). */
static int commit_ict(loch_lake *lake, const char *table, int64_t v, int64_t *out)
{
    arena a = ARENA_INIT;
    buf path = BUF_INIT, data = BUF_INIT;
    char name[32];
    log_action act = {.kind = LOG_NONE};
    log_commit_name(v, name);
    int rc = buf_printf(&path, "%s/_delta_log/%s", table, name);
    rc = rc ? rc : lake->st->get(lake->st, path.data, &data);
    for (const char *p = data.data, *end = p + data.len; rc == 0 && p < end && act.kind == LOG_NONE;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        rc = log_parse_action(&a, p, (size_t)(e - p), &act);
        p = e + 1;
    }
    const json *t = rc == 0 && act.kind == LOG_COMMITINFO ? json_get(act.u.commit_info, "inCommitTimestamp") : NULL;
    if (rc == 0 && (!t || t->type != JSON_NUMBER || !t->is_int))
        rc = error_set(LOCH_ECORRUPT, "its first action is not a commitInfo with an integer inCommitTimestamp");
    if (rc == 0)
        *out = t->i64;
    else
        error_prefix("table \"%s\" version %lld, which in-commit timestamps cover: ", table, (long long)v);
    arena_free(&a);
    buf_free(&path);
    buf_free(&data);
    return rc;
}

/* The version current at an instant, among versions first..last: by inCommitTimestamp
 * (increasing from commit to commit, so a binary search reads O(log n) commits) or by
 * the commit files' times. */
static int pick_by_time(loch_lake *lake, const char *table, const log_listing *l, int64_t at_ms, int64_t first,
                        int64_t last, bool use_ict, size_t *index)
{
    char when[32], oldest[32];
    int found = 0;
    int64_t oldest_ms = INT64_MAX, oldest_v = -1;
    iso8601_format_ms(at_ms, when);
    if (!use_ict) {
        for (size_t i = l->ncommits; !found && i-- > 0;) {
            if (l->commits[i].version > last || l->commits[i].version < first)
                continue;
            oldest_ms = l->commits[i].mtime_ms;
            oldest_v = l->commits[i].version;
            if (l->commits[i].mtime_ms <= at_ms) {
                *index = i;
                found = 1;
            }
        }
    } else {
        size_t lo = 0, hi = l->ncommits; /* the answer lies in [lo, hi) */
        while (lo < l->ncommits && (l->commits[lo].version < first || !l->commits[lo].json))
            lo++;
        size_t start = lo;
        oldest_v = start < l->ncommits ? l->commits[start].version : -1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int64_t t;
            int rc = commit_ict(lake, table, l->commits[mid].version, &t);
            if (rc < 0)
                return rc;
            if (mid == start)
                oldest_ms = t;
            if (t <= at_ms) {
                *index = mid;
                found = 1;
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (!found && start < l->ncommits && oldest_ms == INT64_MAX && commit_ict(lake, table, l->commits[start].version, &oldest_ms) < 0)
            return loch_error_last_code();
    }
    if (found)
        return 0;
    if (oldest_ms == INT64_MAX || oldest_ms < 0)
        return error_set(LOCH_ENOTFOUND, "table \"%s\" has no version at or before %s", table, when);
    iso8601_format_ms(oldest_ms, oldest);
    return error_set(LOCH_ENOTFOUND, "table \"%s\" has no version at or before %s (the oldest%s, version %lld, "
                     "is from %s)", table, when, use_ict ? " with an in-commit timestamp" : "", (long long)oldest_v,
                     oldest);
}

/* Moves a snapshot's time to its inCommitTimestamp where the table has them at that version. */
static void use_ict_time(loch_lake *lake, const char *table, snapshot *s)
{
    snapshot_ict ict;
    int64_t t;
    char *why = strdup(loch_error_last()); /* display only: a failure here is no error */
    int code = loch_error_last_code();
    if (snapshot_ict_info(s, &ict) == 0 && ict.enabled && s->version >= ict.version &&
        commit_ict(lake, table, s->version, &t) == 0)
        s->timestamp_ms = t;
    error_set(code, "%s", why ? why : "");
    free(why);
}

static int pick_version(const char *table, const log_listing *l, const txlog_at *at, size_t *index)
{
    if (!l->ncommits && !at->has_timestamp && at->version >= 0) /* newer versions may exist */
        return error_set(LOCH_ENOTFOUND, "table \"%s\" has no version %lld in its log", table,
                         (long long)at->version);
    if (!l->ncommits)
        return error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist (empty _delta_log)", table);
    int64_t want = at->version >= 0 ? at->version : l->commits[l->ncommits - 1].version;
    for (size_t i = l->ncommits; i-- > 0;) {
        if (l->commits[i].version == want) {
            *index = i;
            return 0;
        }
    }
    if (want < l->commits[0].version)
        return error_set(LOCH_ENOTFOUND, "table \"%s\" has no version %lld any more (no commit or "
                         "checkpoint file of it is left in the log)", table, (long long)want);
    return error_set(LOCH_ENOTFOUND, "table \"%s\" has no version %lld (latest is %lld)", table,
                     (long long)want, (long long)l->commits[l->ncommits - 1].version);
}

static int replay_range(replay_ctx *r, const log_listing *l, size_t idx, int64_t next)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i <= idx; i++) {
        int64_t v = l->commits[i].version;
        if (v < next)
            continue;
        if (v != next)
            return error_set(LOCH_ECORRUPT, "table \"%s\": commit %lld is missing from the log "
                             "(found %lld next)", r->table, (long long)next, (long long)v);
        rc = replay_commit(r, v);
        next = v + 1;
    }
    if (rc == 0 && next <= l->commits[idx].version)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\": version %lld is no longer in the log", r->table,
                       (long long)l->commits[idx].version);
    return rc;
}

static int cache_slot(loch_lake *lake, const char *table)
{
    for (int i = 0; i < lake->cache_count; i++)
        if (strcmp(lake->cache[i].table, table) == 0)
            return i;
    return -1;
}

void txlog_forget(loch_lake *lake, const char *table)
{
    for (int i = lake->cache_count; i-- > 0;) {
        if (table && strcmp(lake->cache[i].table, table) != 0)
            continue;
        free(lake->cache[i].table);
        txlog_snapshot_free(lake->cache[i].snap);
        lake->cache[i] = lake->cache[--lake->cache_count];
    }
}

static void cache_put(loch_lake *lake, const char *table, snapshot *s)
{
    txlog_forget(lake, table);
    if (lake->cache_count == (int)(sizeof(lake->cache) / sizeof(lake->cache[0])))
        txlog_forget(lake, lake->cache[0].table);
    char *name = strdup(table);
    if (!name)
        return;
    s->refs++;
    lake->cache[lake->cache_count].table = name;
    lake->cache[lake->cache_count++].snap = s;
}

/* Serves the latest snapshot from the cache, moving it forward over new commits when
 * nobody else holds it. Returns 1 when *out was set. */
static int from_cache(loch_lake *lake, const char *table, const log_listing *l, size_t idx, snapshot **out)
{
    int slot = cache_slot(lake, table);
    if (slot < 0)
        return 0;
    snapshot *c = lake->cache[slot].snap;
    int64_t target = l->commits[idx].version;
    /* A commit file with another time under the same version means the table was
     * dropped and re-created behind our back: start over. */
    int known = 0;
    for (size_t i = 0; i <= idx; i++)
        known = known || l->commits[i].version == c->version;
    known = known && commit_stamp(lake, table, c->version) == c->commit_stamp;
    bool stale = !known || c->version > target || c->advances > 1000;
    if (stale || (c->version < target && c->refs > 1)) {
        if (stale)
            txlog_forget(lake, table);
        return 0;
    }
    if (c->version < target) {
        replay_ctx r = {c, lake, table, 0};
        int64_t from = c->version + 1;
        if (snapshot_reopen(c) < 0 || replay_range(&r, l, idx, from) < 0 || snapshot_finish(c, target) < 0) {
            txlog_forget(lake, table);
            return 0;
        }
        c->timestamp_ms = commit_time_stamp(lake, table, target, &c->commit_stamp);
        if (l->commits[idx].mtime_ms >= 0) /* the listing's, made to increase */
            c->timestamp_ms = l->commits[idx].mtime_ms;
        use_ict_time(lake, table, c);
        c->advances++;
    }
    c->refs++;
    *out = c;
    return 1;
}

/* The common case of a query: the cached snapshot is still the latest. Two stats tell:
 * its own commit is unchanged (not a re-created table) and the next one is absent. */
static int still_latest(loch_lake *lake, const char *table, snapshot **out)
{
    int slot = cache_slot(lake, table);
    if (slot < 0)
        return 0;
    snapshot *c = lake->cache[slot].snap;
    if (commit_stamp(lake, table, c->version) != c->commit_stamp || commit_time(lake, table, c->version + 1) >= 0)
        return 0;
    c->refs++;
    *out = c;
    return 1;
}

int txlog_exists(loch_lake *lake, const char *table)
{
    /* A table with a cached snapshot whose commit is still in place exists: one stat
     * instead of a log listing on every statement that names it. */
    int slot = cache_slot(lake, table);
    if (slot >= 0 &&
        commit_stamp(lake, table, lake->cache[slot].snap->version) == lake->cache[slot].snap->commit_stamp)
        return 1;
    return txlog_latest_version(lake, table) >= 0;
}

int txlog_load(loch_lake *lake, const char *table, const txlog_at *at, snapshot **out)
{
    log_listing l;
    size_t idx = 0;
    snapshot *s = NULL;
    int latest = !at->has_timestamp && at->version < 0;
    *out = NULL;
    if (latest && still_latest(lake, table, out))
        return 0;
    int rc = list_log(lake, table, latest || at->has_timestamp ? INT64_MAX : at->version, at->has_timestamp, &l);
    if (rc == 0 && at->has_timestamp) {
        /* Which versions count, and by which time, is decided by the table as it is now. */
        snapshot *now = NULL;
        snapshot_ict ict;
        int64_t first, last;
        bool use_ict;
        rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &now);
        rc = rc ? rc : snapshot_ict_info(now, &ict);
        txlog_snapshot_free(now);
        if (rc == 0) {
            snapshot_ict_window(&ict, at->timestamp_ms, &first, &last, &use_ict);
            rc = pick_by_time(lake, table, &l, at->timestamp_ms, first, last, use_ict, &idx);
        }
    } else {
        rc = rc ? rc : pick_version(table, &l, at, &idx);
    }
    if (rc < 0)
        goto cleanup;
    if (latest && from_cache(lake, table, &l, idx, out))
        goto cleanup;
    int64_t target = l.commits[idx].version;
    if (l.checkpoint > target) {
        /* Chosen before the target was known (timestamp travel): list again. */
        listing_free(&l);
        if ((rc = list_log(lake, table, target, 1, &l)) < 0 ||
            (rc = pick_version(table, &l, &(txlog_at){target, 0, 0}, &idx)) < 0)
            goto cleanup;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto cleanup;
    }
    snapshot_init(s);
    s->refs = 1;
    replay_ctx r = {s, lake, table, 0};
    for (size_t i = 0; rc == 0 && i < l.ncp_files; i++)
        rc = read_checkpoint_file(&r, l.cp_files[i]);
    rc = rc ? rc : replay_range(&r, &l, idx, l.checkpoint + 1);
    if (rc == 0 && (rc = snapshot_finish(s, target)) < 0)
        error_prefix("table \"%s\" version %lld: ", table, (long long)target);
    if (rc < 0)
        goto cleanup;
    s->commit_stamp = l.commits[idx].stamp;
    s->timestamp_ms = l.commits[idx].mtime_ms >= 0 ? l.commits[idx].mtime_ms
                                                   : commit_time_stamp(lake, table, target, &s->commit_stamp);
    if (!l.commits[idx].json) /* a version only a checkpoint holds: no commit file to compare */
        s->commit_stamp = -1;
    else
        use_ict_time(lake, table, s);
    if (latest)
        cache_put(lake, table, s);
    *out = s;
    s = NULL;
cleanup:
    listing_free(&l);
    txlog_snapshot_free(s);
    return rc;
}

void txlog_snapshot_free(snapshot *s)
{
    if (!s || --s->refs > 0)
        return;
    snapshot_free(s);
    free(s);
}

/* ---- committing ------------------------------------------------------------------- */

void txlog_commit_init(txlog_commit *c, const char *table, const char *operation)
{
    memset(c, 0, sizeof(*c));
    c->table = table;
    commit_init(&c->cm, operation, -1);
}

int txlog_commit_against(txlog_commit *c, const snapshot *base)
{
    c->base = base;
    c->cm.read_version = base ? base->version : -1;
    return commit_isolation_parse(base ? snapshot_property(base, "delta.isolationLevel") : NULL, &c->cm.isolation);
}

void txlog_commit_free(txlog_commit *c)
{
    intent_end(c); /* the commit landed, or its files are gone */
    commit_free(&c->cm);
}

/* Reads the commits after ours lost the race for version v (v .. latest) and decides
 * whether ours may still go in after them (core/commit.c has the rules). */
static int check_conflicts(loch_lake *lake, txlog_commit *c, int64_t v, int64_t latest)
{
    size_t n = latest >= v ? (size_t)(latest - v + 1) : 0;
    commit *won = calloc(n + 1, sizeof(*won));
    const commit **list = calloc(n + 1, sizeof(*list));
    buf path = BUF_INIT, data = BUF_INIT;
    int rc = won && list ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    size_t read = 0;
    for (; rc == 0 && read < n; read++) {
        char name[32];
        log_commit_name(v + (int64_t)read, name);
        commit_init(&won[read], NULL, -1);
        list[read] = &won[read];
        buf_clear(&path);
        rc = buf_printf(&path, "%s/_delta_log/%s", c->table, name);
        rc = rc ? rc : lake->st->get(lake->st, path.data, &data);
        if (rc == LOCH_ENOTFOUND) {
            rc = error_set(LOCH_ECONFLICT, "table \"%s\": version %lld, committed after the version this %s read, "
                           "was already cleaned from the log (delta.logRetentionDuration); nothing was written",
                           c->table, (long long)(v + (int64_t)read), c->cm.operation);
            break;
        }
        rc = rc ? rc : commit_parse(&won[read], data.data, data.len);
        if (rc < 0)
            error_prefix("table \"%s\" version %lld: ", c->table, (long long)(v + (int64_t)read));
    }
    conflict why;
    if (rc == 0 && conflict_check(&c->cm, list, n, &why)) {
        int64_t at = v + (int64_t)why.winner;
        c->duplicate = why.kind == CONFLICT_SAME_SOURCE;
        if (why.kind == CONFLICT_SAME_SOURCE)
            rc = error_set(LOCH_ECONFLICT, "table \"%s\": concurrent version %lld added these exact bytes",
                           c->table, (long long)at);
        else
            rc = error_set(LOCH_ECONFLICT, "table \"%s\": %s (version %lld, %s)%s%s; this %s was not committed",
                           c->table, conflict_describe(why.kind), (long long)at,
                           won[why.winner].operation ? won[why.winner].operation : "an unnamed operation",
                           why.subject ? ": " : "", why.subject ? why.subject : "", c->cm.operation);
    }
    for (size_t i = 0; won && i < read; i++)
        commit_free(&won[i]);
    free(won);
    free(list);
    buf_free(&path);
    buf_free(&data);
    return rc;
}

/* ECONFLICT unless the table's latest metaData id is base's: it was not dropped and
 * created again since base was read (ENOTFOUND: dropped). */
static int same_table(loch_lake *lake, const char *table, const snapshot *base)
{
    snapshot *now = NULL;
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &now);
    if (rc == LOCH_ENOTFOUND)
        return error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped while this write was prepared", table);
    if (rc < 0)
        return rc;
    const char *was = base->metadata.id ? base->metadata.id : "", *is = now->metadata.id ? now->metadata.id : "";
    if (strcmp(was, is) != 0 || now->version < base->version)
        rc = error_set(LOCH_ECONFLICT, "table \"%s\" was dropped and created again while this write was prepared "
                       "(table id %s, now %s); nothing was written", table, was, is);
    txlog_snapshot_free(now);
    return rc;
}

/* Calls fn with the lake path of each data file the commit adds, until one returns
 * nonzero (which is returned). */
/* Whether the commit removes path too: then its add only gives an existing data file a
 * new deletion vector, and the file is not the commit's to delete. */
static bool rewrites_dv(const commit *cm, const char *path)
{
    for (size_t i = 0; i < cm->count; i++)
        if (cm->actions[i].kind == LOG_REMOVE && strcmp(cm->actions[i].u.file.path, path) == 0)
            return true;
    return false;
}

/* Calls fn for each file the commit writes: data files (never one it only gives a new
 * DV) and change data files. */
static int each_added(loch_lake *lake, const txlog_commit *c, int (*fn)(loch_lake *lake, const char *path))
{
    buf path = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->cm.count; i++) {
        log_kind k = c->cm.actions[i].kind;
        if ((k != LOG_ADD && k != LOG_CDC) || (k == LOG_ADD && rewrites_dv(&c->cm, c->cm.actions[i].u.file.path)))
            continue;
        buf_clear(&path);
        rc = buf_printf(&path, "%s/%s", c->table, c->cm.actions[i].u.file.path);
        rc = rc ? rc : fn(lake, path.data);
    }
    buf_free(&path);
    return rc;
}

static int missing(loch_lake *lake, const char *path)
{
    storage_entry st;
    return lake->st->head(lake->st, path, &st) < 0;
}

static int remove_one(loch_lake *lake, const char *path)
{
    lake->st->remove(lake->st, path);
    return 0;
}

/* A number from the lake's own generator (splitmix64 over an atomic counter): racing
 * processes get different jitter, and nothing process-wide (rand) is touched. */
static uint64_t lake_random(loch_lake *lake)
{
    uint64_t zero = 0, seed = (uint64_t)(time_mono() * 1e9) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)lake;
    atomic_compare_exchange_strong(&lake->rng, &zero, seed | 1);
    uint64_t z = atomic_fetch_add(&lake->rng, 0x9E3779B97F4A7C15ull) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void backoff(loch_lake *lake, int attempt)
{
    unsigned cap = attempt < 5 ? 1u << attempt : 32; /* ms */
    unsigned ms = 1 + (unsigned)(lake_random(lake) % cap);
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t property_i64(const snapshot *s, const char *key, int64_t dflt)
{
    const char *v = snapshot_property(s, key);
    return v && *v ? strtoll(v, NULL, 10) : dflt;
}

static void post_commit(loch_lake *lake, const txlog_commit *c, int64_t version, storage_lock **guard);

/* The version _last_checkpoint names, or -1. Log cleanup deletes commits only below a
 * checkpoint it wrote there first, so a version at or below this one was taken even
 * when its commit file is gone. */
static int64_t last_checkpoint_version(loch_lake *lake, const char *table)
{
    buf path = BUF_INIT, data = BUF_INIT;
    arena a = ARENA_INIT;
    json *j;
    int64_t v = -1;
    if (buf_printf(&path, "%s/_delta_log/_last_checkpoint", table) == 0 && lake->st->get(lake->st, path.data, &data) == 0 &&
        json_parse(&a, data.data, data.len, &j) == 0)
        v = json_get_i64(j, "version", -1);
    else
        error_clear();
    arena_free(&a);
    buf_free(&path);
    buf_free(&data);
    return v;
}

static void remove_new_files(loch_lake *lake, const txlog_commit *c);

/* True when path holds exactly text: our commit made it into the log. */
static int published(loch_lake *lake, const char *path, const buf *text)
{
    buf got = BUF_INIT;
    char *why = strdup(loch_error_last()); /* the failure being reported stays the message */
    int code = loch_error_last_code();
    int same = path && *path && lake->st->get(lake->st, path, &got) == 0 && got.len == text->len &&
               memcmp(got.data, text->data, text->len) == 0;
    error_set(code, "%s", why ? why : "");
    free(why);
    buf_free(&got);
    return same;
}

/* On a store without locks (a bucket) the guard keeps out only this machine's DROP: a
 * DROP on another machine may move the table away between the check that it is still
 * the one this commit read (same_table) and the commit's PUT, which then starts a log
 * at version v, or lands in a table that took the name since. One listing of the log
 * tells, after the PUT: the commit is the table's when the log still holds the commit
 * this write read (the same file: its stamp), or a checkpoint at or after it (log
 * cleanup may have removed that commit), or a commit after ours (someone built on it:
 * it stays, whatever the log is). ECONFLICT otherwise, and the caller takes its commit
 * back. A listing that fails says nothing: the commit stands. (A DROP whose move is
 * still under way deletes this commit itself: ops/guard.c.) */
static int still_the_table(loch_lake *lake, const txlog_commit *c, int64_t v)
{
    buf dir = BUF_INIT;
    storage_entry *e = NULL;
    size_t n = 0;
    int64_t r = c->cm.read_version, want = c->base ? c->base->commit_stamp : -1;
    bool ours = false;
    int rc = log_dir(c->table, &dir);
    rc = rc ? rc : lake->st->list_names(lake->st, dir.data, &e, &n);
    for (size_t i = 0; rc == 0 && i < n && !ours; i++) {
        char kind;
        int part, parts;
        int64_t k = log_name_version(e[i].name, &kind, &part, &parts);
        if (kind == 'j')
            ours = (k == r && (want <= 0 || e[i].stamp == want)) || k > v;
        else if (kind)
            ours = k >= r;
    }
    if (rc == LOCH_ENOTFOUND)
        error_clear(), rc = 0; /* nothing listed: not ours */
    else if (rc < 0)
        error_clear(), rc = 0, ours = true; /* not known: it stands */
    if (!ours)
        rc = error_set(LOCH_ECONFLICT, "table \"%s\" was dropped by another writer while this write was committed; "
                       "nothing was written", c->table);
    storage_entries_free(e, n);
    buf_free(&dir);
    return rc;
}

/* A commit that did not happen leaves its new data files behind; no log names them,
 * so readers never see them, but they are removed here rather than left to vacuum. */
void txlog_commit_abort(loch_lake *lake, const txlog_commit *c) { remove_new_files(lake, c); }

static void remove_new_files(loch_lake *lake, const txlog_commit *c)
{
    if (!c->adds_existing)
        each_added(lake, c, remove_one);
    if (c->cm.read_version < 0)
        guard_drop_if_empty(lake, c->table);
}

/* A table with deletion vectors is read through the engine's row-position columns
 * (compute_skip_reserved: file_index, file_row_number), beside which a column of the
 * table's own under such a name cannot be read. A commit that would bring the two
 * together (an ingest adding the column to a table with deletion vectors made it
 * unreadable) is refused; DML refuses to write deletion vectors into such a table. */
static int check_dv_columns(const txlog_commit *c)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->cm.count; i++) {
        const log_action *act = &c->cm.actions[i];
        if (act->kind != LOG_METADATA)
            continue;
        bool dv = false;
        const log_kv *conf = &act->u.metadata.configuration;
        for (size_t k = 0; k < conf->count; k++)
            dv = dv || (strcmp(conf->keys[k], "delta.enableDeletionVectors") == 0 && conf->values[k] &&
                        strcmp(conf->values[k], "true") == 0);
        for (size_t k = 0; !dv && c->base && k < c->base->file_count; k++)
            dv = c->base->files[k].dv.storage_type != 0;
        for (size_t k = 0; !dv && k < c->cm.count; k++)
            dv = c->cm.actions[k].kind == LOG_ADD && c->cm.actions[k].u.file.dv.storage_type != 0;
        arena a = ARENA_INIT;
        schema sc;
        if (dv && schema_parse(&a, act->u.metadata.schema_string, NULL, 0, &sc) == 0) {
            for (size_t f = 0; rc == 0 && f < sc.count; f++)
                if (compute_skip_reserved(sc.fields[f].name) || compute_skip_reserved(sc.fields[f].physical))
                    rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" has deletion vectors (or has them on), which "
                                   "loch cannot read beside a column named \"%s\": rename the column, or OPTIMIZE "
                                   "and turn delta.enableDeletionVectors off first", c->table, sc.fields[f].name);
        }
        if (rc == 0)
            error_clear(); /* a schema that does not parse is refused where it is read */
        arena_free(&a);
    }
    return rc;
}

int txlog_commit_run(loch_lake *lake, txlog_commit *c, int64_t *version)
{
    buf text = BUF_INIT, path = BUF_INIT;
    int rc = 0;
    int64_t v = c->cm.read_version + 1;
    double started = time_mono();
    /* The table must still be the one the commit was prepared against, and stay so (no
     * DROP) until the commit and its checkpoint are written. A new table's log directory
     * is made now, to hold that lock: a table that took the name meanwhile and was
     * dropped took this write's files with it, and committing would name files that
     * are gone. */
    storage_lock *guard = NULL;
    if (lake->in_transaction) {
        remove_new_files(lake, c);
        return error_set(LOCH_EINVALID, "table \"%s\": lake tables change by commits of their own, which an open "
                         "transaction cannot hold (it could not roll them back): COMMIT or ROLLBACK first", c->table);
    }
    if ((rc = check_dv_columns(c)) < 0) {
        remove_new_files(lake, c);
        return rc;
    }
    lake_hold(lake, "commit");
    buf logdir = BUF_INIT;
    if (c->cm.read_version < 0 && (rc = buf_printf(&logdir, "%s/_delta_log", c->table)) == 0)
        rc = lake->st->mkdirs(lake->st, logdir.data);
    buf_free(&logdir);
    rc = rc ? rc : guard_take(lake, c->table, 0, &guard);
    rc = rc || !c->base ? rc : same_table(lake, c->table, c->base);
    if (rc == 0 && c->cm.read_version < 0 && each_added(lake, c, missing))
        rc = error_set(LOCH_ECONFLICT, "table \"%s\" was created and dropped by another writer while this write "
                       "was prepared; nothing was written", c->table);
    if (rc < 0) {
        guard_release(lake, guard);
        remove_new_files(lake, c);
        return rc;
    }
    lake_hold(lake, "commit-locked");
    for (int attempt = 0;; attempt++) {
        char name[32];
        log_commit_name(v, name);
        buf_clear(&text);
        buf_clear(&path);
        /* Rendered again for each version tried: readVersion stays the version read,
         * the timestamp is the attempt's. */
        rc = commit_render(&c->cm, time_now_ms(), &text);
        rc = rc ? rc : buf_printf(&path, "%s/_delta_log/%s", c->table, name);
        if (rc < 0)
            break;
        /* A version a checkpoint covers was committed even if cleanup removed its file:
         * linking it again would publish a commit every reader skips. (Cleanup waits for
         * every committing writer's lock, so the answer holds until the link.) */
        rc = v > 0 && last_checkpoint_version(lake, c->table) >= v ? LOCH_EEXISTS
             : lake->st->put_if_absent(lake->st, path.data, text.data, text.len);
        if (rc != LOCH_EEXISTS)
            break;
        if (c->cm.read_version < 0) {
            rc = error_set(LOCH_EEXISTS, "table \"%s\" already exists (created concurrently)", c->table);
            break;
        }
        if (time_mono() - started > COMMIT_PATIENCE) {
            rc = error_set(LOCH_ECONFLICT, "table \"%s\": gave up after %d lost commit races in %.0f s",
                           c->table, attempt, COMMIT_PATIENCE);
            break;
        }
        int64_t latest = txlog_latest_version(lake, c->table);
        if ((rc = check_conflicts(lake, c, v, latest)) < 0)
            break;
        v = latest + 1;
        backoff(lake, attempt);
    }
    if (rc == 0 && c->cm.read_version >= 0 && lake->st->remote && (rc = still_the_table(lake, c, v)) < 0) {
        lake_hold(lake, "commit-taken-back");
        if (lake->st->remove(lake->st, path.data) < 0) /* the message stays the conflict's */
            lake_warn(lake, "table %s: commit %s could not be taken back", c->table, path.data);
    }
    bool changes_table = false; /* its schema, properties or protocol: a write-ahead log's writers must know */
    bool changes_data = false;  /* rows added or removed: what auto-embedding follows */
    for (size_t i = 0; i < c->cm.count; i++) {
        changes_table = changes_table || c->cm.actions[i].kind == LOG_METADATA || c->cm.actions[i].kind == LOG_PROTOCOL;
        changes_data = changes_data || c->cm.actions[i].kind == LOG_ADD || c->cm.actions[i].kind == LOG_REMOVE;
    }
    if (rc == 0) {
        *version = v;
        lake_hold(lake, "committed");
        if (changes_data)
            lake_mark_changed(lake, c->table);
        if (changes_table)
            tail_changed(lake, c->table);
        post_commit(lake, c, v, &guard);
    } else if (published(lake, path.data, &text)) {
        /* Only the directory fsync after the link failed: the commit is in the log. */
        *version = v;
        if (changes_table)
            tail_changed(lake, c->table);
        error_prefix("commit of table \"%s\" version %lld is visible but may not survive a power loss: ",
                     c->table, (long long)v);
    } else {
        if (rc != LOCH_ECONFLICT && rc != LOCH_EEXISTS)
            error_prefix("commit of table \"%s\" version %lld failed: ", c->table, (long long)v);
        remove_new_files(lake, c);
    }
    guard_release(lake, guard);
    buf_free(&text);
    buf_free(&path);
    return rc;
}

/* ---- checkpoints and log cleanup ---------------------------------------------------- */

/* Hadoop's checksum file beside a log file, ".<name>.crc", which Spark writes and
 * checks: once loch replaces or deletes <name>, a stale one makes Spark call the file
 * corrupt, so it goes too (best effort: a reader that finds none checks nothing). */
static void remove_crc(loch_lake *lake, const char *path)
{
    const char *slash = strrchr(path, '/');
    buf crc = BUF_INIT;
    if (slash && buf_printf(&crc, "%.*s/.%s.crc", (int)(slash - path), path, slash + 1) == 0)
        lake->st->remove(lake->st, crc.data);
    buf_free(&crc);
    error_clear();
}

int txlog_checkpoint(loch_lake *lake, const char *table, const snapshot *s)
{
    buf rows = BUF_INIT, tmp_json = BUF_INIT, tmp_pq = BUF_INIT, local_json = BUF_INIT,
        local_pq = BUF_INIT, data = BUF_INIT, name = BUF_INIT, last = BUF_INIT;
    char id[37];
    uuid_v4(id);
    size_t actions = 0;
    int rc = checkpoint_rows(s, time_now_ms(), &rows, &actions);
    rc = rc ? rc : buf_printf(&tmp_json, "%s/_delta_log/.tmp-%d-%s.ndjson", table, (int)getpid(), id);
    rc = rc ? rc : buf_printf(&tmp_pq, "%s/_delta_log/.tmp-%d-%s.parquet", table, (int)getpid(), id);
    rc = rc ? rc : buf_printf(&name, "%s/_delta_log/%020lld.checkpoint.parquet", table, (long long)s->version);
    rc = rc ? rc : lake->st->put(lake->st, tmp_json.data, rows.data, rows.len);
    /* The engine reads the rows and writes the Parquet file at the local paths the
     * storage names; the result goes into the log through the storage (get, put). */
    rc = rc ? rc : lake->st->engine_path(lake->st, tmp_json.data, &local_json);
    rc = rc ? rc : lake->st->engine_path(lake->st, tmp_pq.data, &local_pq);
    rc = rc ? rc : compute_write_checkpoint(lake->cp, local_json.data, local_pq.data, checkpoint_schema);
    if (rc == 0)
        lake_hold(lake, "checkpoint");
    rc = rc ? rc : lake->st->get(lake->st, tmp_pq.data, &data);
    rc = rc ? rc : lake->st->put(lake->st, name.data, data.data, data.len);
    if (rc == 0) {
        remove_crc(lake, name.data);
        rc = checkpoint_last(s->version, actions, data.len, s->file_count, &last);
        buf_clear(&name);
        rc = rc ? rc : buf_printf(&name, "%s/_delta_log/_last_checkpoint", table);
        rc = rc ? rc : lake->st->put(lake->st, name.data, last.data, last.len);
        if (rc == 0)
            remove_crc(lake, name.data);
    }
    if (rc < 0)
        error_prefix("checkpoint of table \"%s\" at version %lld: ", table, (long long)s->version);
    lake->st->remove(lake->st, tmp_json.data);
    lake->st->remove(lake->st, tmp_pq.data);
    buf_free(&rows);
    buf_free(&tmp_json);
    buf_free(&tmp_pq);
    buf_free(&local_json);
    buf_free(&local_pq);
    buf_free(&data);
    buf_free(&name);
    buf_free(&last);
    return rc;
}

/* Deletes commits and checkpoints older than the retention period, keeping the newest
 * checkpoint at or before the cutoff and everything after it, so every retained
 * version stays readable (the Delta protocol, "Metadata Cleanup"). */
static int cleanup_log(loch_lake *lake, const char *table, const snapshot *s)
{
    const char *enabled = snapshot_property(s, "delta.enableExpiredLogCleanup");
    if (enabled && strcmp(enabled, "false") == 0)
        return 0;
    int64_t cutoff = time_now_ms() - checkpoint_interval_ms(snapshot_property(s, "delta.logRetentionDuration"),
                                                            30LL * 86400000);
    buf dir = BUF_INIT, path = BUF_INIT;
    storage_entry *e = NULL;
    checkpoint_log_file *files = NULL;
    unsigned char *expire = NULL;
    size_t n = 0;
    int rc = log_dir(table, &dir);
    rc = rc ? rc : lake->st->list(lake->st, dir.data, &e, &n);
    if (rc == 0 && (!(files = calloc(n + 1, sizeof(*files))) || !(expire = calloc(n + 1, 1))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int part, parts;
        files[i].version = log_name_version(e[i].name, &files[i].kind, &part, &parts);
        files[i].mtime_ms = e[i].mtime_ms;
    }
    if (rc == 0)
        checkpoint_expired(files, n, cutoff, expire);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!expire[i])
            continue;
        buf_clear(&path);
        rc = buf_printf(&path, "%s/%s", dir.data, e[i].name);
        rc = rc ? rc : lake->st->remove(lake->st, path.data);
        if (rc == 0)
            remove_crc(lake, path.data);
    }
    storage_entries_free(e, n);
    free(files);
    free(expire);
    buf_free(&dir);
    buf_free(&path);
    return rc;
}

static void post_commit(loch_lake *lake, const txlog_commit *c, int64_t version, storage_lock **guard)
{
    snapshot *s = NULL;
    txlog_at at = {version, 0, 0};
    int64_t interval = c->base ? property_i64(c->base, "delta.checkpointInterval", 100) : 100;
    if (interval <= 0 || version == 0 || version % interval != 0 ||
        (c->base && snapshot_property(c->base, "delta.checkpointPolicy")))
        return;
    /* Hooks never fail the commit, which is already durable; they report and move on. */
    /* Cleanup runs only while no other writer holds the table's lock (they hold it
     * shared from their last checks to their link), and a writer that takes the lock
     * after it finds the checkpoint covering what went (txlog_commit_run): a commit is
     * never linked at a version cleanup deleted. When a writer is busy, cleanup waits
     * for a later checkpoint. */
    if (txlog_load(lake, c->table, &at, &s) < 0 || txlog_checkpoint(lake, c->table, s) < 0 ||
        (guard_try_exclusive(lake, c->table, guard) == 0 && cleanup_log(lake, c->table, s) < 0)) {
        lake_warn(lake, "%s", loch_error_last());
        atomic_fetch_add(&lake->checkpoint_failures, 1);
    }
    txlog_snapshot_free(s);
}
