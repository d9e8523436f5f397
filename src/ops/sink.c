/*
 * ops/sink.c - the two-phase sink API for stream processors (include/loch/write.h):
 * exactly-once appends keyed by a sink's id and epoch (a Flink checkpoint, a Kafka
 * Connect commit).
 *
 *   prepare  the epoch's rows become data files of the table (not in any version yet),
 *            then a marker, _loch/txn/<table>/<sink>/<epoch>, holds their add actions
 *            (a rendered commit). Written last: a marker names only files that exist.
 *   commit   one Delta commit of the marker's adds and txn {appId: sink, version:
 *            epoch}; a no-op when the table's txn version for the sink is already at or
 *            past the epoch (a retried commit, or one replayed after a restart). The
 *            commit reads the sink's txn version (core/commit.h), so two processes
 *            committing the same epoch at once make one version, not two.
 *   abort    the marker's files and the marker go; nothing when there is no marker.
 *
 * A prepare that dies before its marker leaves files no version names: its write
 * intent (ops/intent.c) is ended just before the marker is put, so those files are
 * swept with the intent if it dies earlier, and only a death between the two leaves
 * them for VACUUM. Tables with a primary key take their rows through the log
 * (loch_write), not through this: an append would bypass the key.
 */
#include "ops/ops.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arrow.h"
#include "util/misc.h"

/* A sink id: what a txn appId and a path part may hold. */
static int sink_check(const char *sink, int64_t epoch)
{
    size_t n = sink ? strlen(sink) : 0;
    if (n == 0 || n > 128 || strspn(sink, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != n ||
        sink[0] == '.')
        return error_set(LOCH_EINVALID, "a sink id is 1 to 128 letters, digits, '_', '-' or '.' (not first), not "
                         "\"%s\"", sink ? sink : "");
    return epoch < 0 ? error_set(LOCH_EINVALID, "an epoch is 0 or more, not %lld", (long long)epoch) : 0;
}

static void marker_path(const char *table, const char *sink, int64_t epoch, char *out, size_t cap)
{
    snprintf(out, cap, "_loch/txn/%s/%s/%020lld", table, sink, (long long)epoch);
}

/* The sink's directory, locked: commit and abort of its epochs one at a time (an abort
 * racing a commit deleted the files the commit then named). NULL in *lock when the sink
 * has prepared nothing. */
static int sink_lock(loch_lake *lake, const char *table, const char *sink, storage_lock **lock)
{
    char dir[512];
    *lock = NULL;
    snprintf(dir, sizeof(dir), "_loch/txn/%s/%s", table, sink);
    int rc = lake->st->lock(lake->st, dir, STORAGE_LOCK_EXCLUSIVE, lock);
    if (rc == LOCH_ENOTFOUND) {
        error_clear();
        return 0;
    }
    return rc;
}

/* Whether the table's snapshot holds the prepared commit's first file: the epoch is in. */
static bool epoch_in_table(const snapshot *s, const commit *prepared)
{
    for (size_t i = 0; i < prepared->count; i++) {
        if (prepared->actions[i].kind != LOG_ADD)
            continue;
        for (size_t f = 0; f < s->file_count; f++)
            if (strcmp(s->files[f].path, prepared->actions[i].u.file.path) == 0)
                return true;
        return false;
    }
    return true; /* no files: nothing to tell */
}

static int open_table(loch_lake *lake, const char *table, snapshot **s)
{
    int rc = table_name_check(table);
    if (rc == 0 && !txlog_exists(lake, table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, s);
    rc = rc ? rc : snapshot_check_writable(*s);
    if (rc == 0 && snapshot_property(*s, TAIL_PK_PROPERTY))
        rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" has a primary key: its rows go through its write-ahead log "
                       "(loch_write), not a sink's appends", table);
    return rc;
}

int loch_txn_prepare(loch_lake *lake, const char *table, const char *sink, int64_t epoch,
                     struct ArrowArrayStream *rows)
{
    snapshot *s = NULL;
    compute_column *cols = NULL;
    size_t ncols = 0;
    txlog_commit c;
    buf sql = BUF_INIT, text = BUF_INIT;
    char view[64], marker[512];
    static _Atomic unsigned long views;
    snprintf(view, sizeof(view), "__loch_sink_%lu", (unsigned long)atomic_fetch_add(&views, 1));
    txlog_commit_init(&c, table, "WRITE");
    scan_unpin(lake);
    int rc = rows && rows->release ? sink_check(sink, epoch) : error_set(LOCH_EINVALID, "no stream of rows");
    rc = rc ? rc : open_table(lake, table, &s);
    rc = rc ? rc : txlog_commit_against(&c, s);
    rc = rc ? rc : compute_register_arrow(lake->cp, view, rows);
    /* the rows by the table's rules: columns by name, casts, NOT NULL */
    rc = rc ? rc : insert_stage_table(lake, s);
    rc = rc ? rc : buf_printf(&sql, "INSERT INTO __loch_ins BY NAME SELECT * FROM %s", view) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec_one(lake->cp, sql.data);
    if (rc < 0)
        insert_own_name(table);
    rc = rc ? rc : write_columns_of(s, &cols, &ncols);
    rc = rc ? rc : write_data_file(lake, &c, s->metadata.schema_string, "SELECT * FROM __loch_ins", cols, ncols);
    rc = rc ? rc : commit_render(&c.cm, time_now_ms(), &text);
    lake_hold(lake, "sink-prepared");
    if (rc == 0) {
        intent_end(&c); /* from here the marker answers for the files */
        marker_path(table, sink, epoch, marker, sizeof(marker));
        char dir[512];
        snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(marker, '/') - marker), marker);
        rc = lake->st->mkdirs(lake->st, dir);
        rc = rc ? rc : lake->st->put(lake->st, marker, text.data, text.len);
    }
    if (rc < 0)
        txlog_commit_abort(lake, &c);
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_ins");
    buf_clear(&sql);
    if (buf_printf(&sql, "DROP VIEW IF EXISTS %s", view) == 0)
        compute_exec(lake->cp, sql.data);
    if (rows && rows->release)
        rows->release(rows);
    compute_columns_free(cols, ncols);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    buf_free(&sql);
    buf_free(&text);
    return rc;
}

int loch_txn_commit(loch_lake *lake, const char *table, const char *sink, int64_t epoch, int64_t *version)
{
    snapshot *s = NULL;
    txlog_commit c;
    commit prepared;
    buf text = BUF_INIT;
    char marker[512];
    *version = -1;
    txlog_commit_init(&c, table, "STREAMING UPDATE");
    commit_init(&prepared, "WRITE", -1);
    storage_lock *lock = NULL;
    int rc = sink_check(sink, epoch);
    rc = rc ? rc : table_name_check(table);
    rc = rc ? rc : sink_lock(lake, table, sink, &lock);
    rc = rc ? rc : open_table(lake, table, &s);
    marker_path(table, sink, epoch, marker, sizeof(marker));
    int got = rc == 0 ? lake->st->get(lake->st, marker, &text) : rc;
    if (got < 0 && got != LOCH_ENOTFOUND)
        rc = got;
    if (got == 0)
        rc = commit_parse(&prepared, text.data, text.len);
    if (rc == 0)
        error_clear();
    if (rc == 0 && snapshot_txn_version(s, sink) >= epoch) {
        /* the table holds this sink's epoch or a later one: a retry or a replay of a
         * committed epoch is a no-op; a prepared epoch whose files are not in the table
         * was overtaken by a later one, and committing it now would break the order */
        if (got == 0 && !epoch_in_table(s, &prepared))
            rc = error_set(LOCH_EINVALID, "sink %s: epoch %lld was prepared but never committed, and the table "
                           "already holds its epoch %lld: a sink's epochs commit in order (abort this one)", sink,
                           (long long)epoch, (long long)snapshot_txn_version(s, sink));
        else
            lake->st->remove(lake->st, marker);
        goto cleanup;
    }
    if (rc == 0 && got == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "sink %s has no prepared epoch %lld for table \"%s\" (prepare it first; an "
                       "aborted epoch is gone)", sink, (long long)epoch, table);
    /* every file it names is still there (nothing deleted them since the prepare) */
    buf fp = BUF_INIT;
    for (size_t i = 0; rc == 0 && i < prepared.count; i++) {
        if (prepared.actions[i].kind != LOG_ADD)
            continue;
        storage_entry e;
        char *rel = strdup(prepared.actions[i].u.file.path);
        buf_clear(&fp);
        rc = rel && uri_decode(rel) == 0 && buf_printf(&fp, "%s/%s", table, rel) == 0 ? 0
             : error_set(LOCH_ECORRUPT, "sink marker %s names a file it cannot", marker);
        free(rel);
        if (rc == 0 && lake->st->head(lake->st, fp.data, &e) < 0)
            rc = error_set(LOCH_ENOTFOUND, "sink %s: a file of prepared epoch %lld is gone (%s): prepare it again",
                           sink, (long long)epoch, fp.data);
    }
    buf_free(&fp);
    rc = rc ? rc : txlog_commit_against(&c, s);
    rc = rc ? rc : commit_read_app_id(&c.cm, sink);
    for (size_t i = 0; rc == 0 && i < prepared.count; i++)
        if (prepared.actions[i].kind == LOG_ADD)
            rc = commit_append(&c.cm, &prepared.actions[i]);
    char app[160];
    snprintf(app, sizeof(app), "%s", sink);
    log_action txn = {.kind = LOG_TXN, .u.txn = {app, epoch, time_now_ms()}};
    rc = rc ? rc : commit_append(&c.cm, &txn);
    rc = rc ? rc : commit_parameter(&c.cm, "mode", "Append");
    char ep[32];
    snprintf(ep, sizeof(ep), "%lld", (long long)epoch);
    rc = rc ? rc : commit_parameter(&c.cm, "epochId", ep);
    rc = rc ? rc : commit_parameter(&c.cm, "queryId", sink);
    /* a failed commit keeps the prepared files: the epoch can be committed again */
    c.adds_existing = 1;
    lake_hold(lake, "sink-commit");
    rc = rc ? rc : txlog_commit_run(lake, &c, version);
    if (rc == LOCH_ECONFLICT) { /* another process committed it first: then this is a no-op */
        snapshot *now = NULL;
        if (txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &now) == 0 && snapshot_txn_version(now, sink) >= epoch) {
            error_clear();
            rc = 0;
            *version = -1;
        }
        txlog_snapshot_free(now);
    }
    if (rc == 0)
        lake->st->remove(lake->st, marker);
cleanup:
    lake->st->unlock(lake->st, lock);
    commit_free(&prepared);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    buf_free(&text);
    return rc;
}

int loch_txn_abort(loch_lake *lake, const char *table, const char *sink, int64_t epoch)
{
    commit prepared;
    buf text = BUF_INIT, path = BUF_INIT;
    char marker[512];
    commit_init(&prepared, "WRITE", -1);
    storage_lock *lock = NULL;
    int rc = sink_check(sink, epoch);
    rc = rc ? rc : table_name_check(table);
    rc = rc ? rc : sink_lock(lake, table, sink, &lock);
    marker_path(table, sink, epoch, marker, sizeof(marker));
    rc = rc ? rc : lake->st->get(lake->st, marker, &text);
    if (rc == LOCH_ENOTFOUND) { /* nothing prepared, or aborted before */
        error_clear();
        rc = 0;
        goto cleanup;
    }
    rc = rc ? rc : commit_parse(&prepared, text.data, text.len);
    /* the files, unless a commit of the epoch took them (then only the marker goes) */
    snapshot *s = NULL;
    bool committed = rc == 0 && txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s) == 0 &&
                     snapshot_txn_version(s, sink) >= epoch && epoch_in_table(s, &prepared);
    error_clear();
    txlog_snapshot_free(s);
    for (size_t i = 0; rc == 0 && !committed && i < prepared.count; i++) {
        if (prepared.actions[i].kind != LOG_ADD)
            continue;
        char *rel = strdup(prepared.actions[i].u.file.path);
        if (!rel || uri_decode(rel) < 0 || strstr(rel, "..") || rel[0] == '/') {
            free(rel);
            rc = error_set(LOCH_ECORRUPT, "sink marker %s names a file outside the table", marker);
            break;
        }
        buf_clear(&path);
        rc = buf_printf(&path, "%s/%s", table, rel) ? LOCH_ENOMEM : 0;
        free(rel);
        rc = rc ? rc : lake->st->remove(lake->st, path.data);
    }
    rc = rc ? rc : lake->st->remove(lake->st, marker);
cleanup:
    lake->st->unlock(lake->st, lock);
    commit_free(&prepared);
    buf_free(&text);
    buf_free(&path);
    return rc;
}
