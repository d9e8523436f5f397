/*
 * ops/maintain.c - keeping a table in shape: OPTIMIZE, VACUUM and RESTORE.
 *
 *   OPTIMIZE  rewrites small files together, and files with deletion vectors without
 *             their deleted rows, into files of about the target size (delta.
 *             targetFileSize, 128 MiB by default), optionally ordered by the Z-order
 *             curve of some columns so that their min/max statistics prune well. The
 *             commit changes no row: its actions carry dataChange = false, so readers
 *             of the change feed and streaming readers skip it. Its read set is the
 *             files it rewrites: a concurrent INSERT passes it, a concurrent change of
 *             one of those files makes it fail (and the user run it again).
 *   VACUUM    deletes files in the table's directory (and change data files in
 *             _change_data/) that no version inside the retention window needs: neither the latest version nor any version
 *             committed since now - retention names them, and they were written before
 *             then (a file a writer has not committed yet is recent, so it stays). The
 *             window is at least delta.deletedFileRetentionDuration (7 days) unless
 *             forced. It commits nothing; a dry run lists what would go.
 *             With delta.autoOptimize.autoCompact = true (off by default), every write
 *             that leaves 50 or more small files behind, or deletion vectors hiding a
 *             twentieth of the table's rows, runs one (ops_auto_optimize).
 *   RESTORE   commits a version whose files are those of an older one: removes for the
 *             files added since, adds for the ones removed since (which must still be
 *             there: VACUUM may have taken them), and the old metadata if it differs.
 *             The protocol is never downgraded.
 *
 * Invariant: VACUUM never deletes a file the log names at any version a reader may
 * still ask for; it refuses (unless forced) when the log no longer reaches back to the
 * start of the window, since it could not know what the versions in between named.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/dv.h"
#include "util/misc.h"
#include "util/strmap.h"

#define DAY_MS (24LL * 3600 * 1000)
/* delta.autoOptimize.autoCompact compacts once this many small files have gathered
 * (Delta's default autoCompact.minNumFiles), or once deletion vectors hide this share
 * of the table's rows (1/20: the ratio past which Delta's OPTIMIZE rewrites a file
 * with a deletion vector, optimize.maxDeletedRowsRatio). A few big files each with a
 * deleted row are not worth rewriting; a table a tenth deleted is. */
#define AUTO_COMPACT_FILES 50
#define AUTO_COMPACT_DELETED_SHARE 20

/* ---- OPTIMIZE ---------------------------------------------------------------------- */

static int64_t table_target(const snapshot *s)
{
    const char *v = snapshot_property(s, "delta.targetFileSize");
    long long n = v ? atoll(v) : 0;
    return n >= 1024 * 1024 ? n : 128LL * 1024 * 1024;
}

/* The Z-order value of a row over columns (at most 4): each column's rank among the
 * rows, scaled to 16 bits, bits interleaved. Ranks, not values: any type orders. */
static int zorder_sql(const char *const *cols, size_t n, const char *rows, buf *sql)
{
    int rc = buf_puts(sql, "SELECT * EXCLUDE (");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_printf(sql, "%s__loch_z%zu", i ? ", " : "", i);
    rc = rc ? rc : buf_puts(sql, ") FROM (SELECT *");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = buf_puts(sql, ", ((dense_rank() OVER (ORDER BY ") || buf_put_sql_ident(sql, cols[i]) ||
             buf_puts(sql, ") - 1) * 65535 // greatest(count(*) OVER () - 1, 1))::UBIGINT AS ") ||
             buf_printf(sql, "__loch_z%zu", i) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : buf_printf(sql, " FROM (%s)) ORDER BY ", rows);
    for (int b = 15; rc == 0 && b >= 0; b--)
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = buf_printf(sql, "%s((__loch_z%zu >> %d) & 1::UBIGINT) DESC", b == 15 && i == 0 ? "" : ", ", i, b);
    return rc ? LOCH_ENOMEM : 0;
}

int ops_optimize(loch_lake *lake, const char *table, const char *const *zorder, size_t nz, int64_t target,
                 loch_result **out)
{
    snapshot *s = NULL;
    txlog_commit c;
    compute_column *cols = NULL;
    size_t ncols = 0, *bin = NULL, nbin = 0, nbins = 0, *order = NULL;
    buf rows = BUF_INIT, sql = BUF_INIT;
    int64_t version = -1, removed_bytes = 0, removed_files = 0, dvs_removed = 0;
    txlog_commit_init(&c, table, "OPTIMIZE");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    rc = rc ? rc : txlog_commit_against(&c, s);
    rc = rc ? rc : write_columns_of(s, &cols, &ncols);
    if (rc == 0 && nz > 4)
        rc = error_set(LOCH_EINVALID, "ZORDER BY takes at most 4 columns");
    for (size_t i = 0; rc == 0 && i < nz; i++) {
        bool found = false;
        for (size_t k = 0; k < s->schema.count; k++)
            found = found || strcmp(s->schema.fields[k].name, zorder[i]) == 0;
        if (!found)
            rc = error_set(LOCH_EINVALID, "ZORDER BY: column \"%s\" of table \"%s\" does not exist", zorder[i], table);
    }
    if (rc == 0 && target <= 0)
        target = table_target(s);
    bin = rc == 0 ? calloc(s->file_count + 1, sizeof(*bin)) : NULL;
    order = rc == 0 ? calloc(s->file_count + 1, sizeof(*order)) : NULL;
    if (rc == 0 && (!bin || !order))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    /* What is rewritten: with ZORDER BY every file (one ordered rewrite); otherwise
     * files under three quarters of the target and files with deletion vectors, packed
     * in bins of up to the target size, a bin of one file only if it has a DV. */
    size_t ncand = 0;
    for (size_t i = 0; rc == 0 && i < s->file_count; i++)
        if (nz || s->files[i].dv.storage_type || s->files[i].size < target / 4 * 3)
            order[ncand++] = i;
    size_t next = 0;
    int64_t added_bytes = 0;
    while (rc == 0 && next < ncand) {
        int64_t bytes = 0;
        bool dv = false;
        nbin = 0;
        while (next < ncand && (nz || nbin == 0 || bytes + s->files[order[next]].size <= target)) {
            const log_file *f = &s->files[order[next]];
            bytes += f->size;
            dv = dv || f->dv.storage_type;
            bin[nbin++] = order[next++];
        }
        if (nbin == 1 && !dv && !nz)
            continue;
        buf_clear(&rows);
        buf_clear(&sql);
        rc = scan_rows_sql(lake, table, s, bin, nbin, NULL, false, &rows);
        if (rc == 0 && nz)
            rc = zorder_sql(zorder, nz, rows.data, &sql);
        else if (rc == 0)
            rc = buf_puts(&sql, rows.data);
        size_t first_new = c.cm.count;
        /* Without ZORDER BY the rows' order is nobody's business: the engine may write
         * them as its threads finish (about 10% faster for a big compaction). Only where
         * settings can change: a sandboxed engine's are locked, and it writes in order. */
        bool unordered = rc == 0 && !nz && compute_exec(lake->cp, "SET preserve_insertion_order = false") == 0;
        error_clear();
        buf sources = BUF_INIT;
        rc = rc ? rc : write_sources_of(s, bin, nbin, &sources);
        rc = rc ? rc : write_data_file_from(lake, &c, s->metadata.schema_string, sql.data, cols, ncols,
                                            sources.len ? sources.data : NULL);
        buf_free(&sources);
        if (unordered)
            compute_exec(lake->cp, "RESET preserve_insertion_order");
        for (size_t k = first_new; rc == 0 && k < c.cm.count; k++)
            c.cm.actions[k].u.file.data_change = false; /* the same rows, in other files */
        for (size_t k = 0; rc == 0 && k < nbin; k++) {
            log_action rm = {.kind = LOG_REMOVE, .u.file = s->files[bin[k]]};
            rm.u.file.deletion_timestamp = time_now_ms();
            rm.u.file.data_change = false;
            rm.u.file.stats = NULL;
            rc = commit_append(&c.cm, &rm);
            rc = rc ? rc : commit_read_file(&c.cm, s->files[bin[k]].path);
            removed_bytes += s->files[bin[k]].size;
            removed_files++;
            dvs_removed += s->files[bin[k]].dv.storage_type != 0;
        }
        nbins++;
    }
    if (rc == 0 && removed_files) {
        buf z = BUF_INIT;
        rc = buf_putc(&z, '[') ? LOCH_ENOMEM : 0;
        for (size_t i = 0; rc == 0 && i < nz; i++)
            rc = (i ? buf_putc(&z, ',') : 0) || buf_put_json_str(&z, zorder[i]) ? LOCH_ENOMEM : 0;
        rc = rc || buf_putc(&z, ']') ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : commit_parameter(&c.cm, "predicate", "[]");
        rc = rc ? rc : commit_parameter(&c.cm, "zOrderBy", z.data);
        buf_free(&z);
        for (size_t k = 0; k < c.cm.count; k++)
            if (c.cm.actions[k].kind == LOG_ADD)
                added_bytes += c.cm.actions[k].u.file.size;
        rc = rc ? rc : commit_metric(&c.cm, "numAddedFiles", c.cm.files_written);
        rc = rc ? rc : commit_metric(&c.cm, "numRemovedFiles", removed_files);
        rc = rc ? rc : commit_metric(&c.cm, "numAddedBytes", added_bytes);
        rc = rc ? rc : commit_metric(&c.cm, "numRemovedBytes", removed_bytes);
        rc = rc ? rc : commit_metric(&c.cm, "numDeletionVectorsRemoved", dvs_removed);
        lake_hold(lake, "optimize-commit");
        rc = rc ? rc : txlog_commit_run(lake, &c, &version);
        if (rc < 0 && version < 0) /* a commit in the log whose directory fsync failed keeps its files */
            txlog_commit_abort(lake, &c);
    }
    if (rc == 0 && version >= 0)
        rc = result_message(out, "optimized %s: %lld files (%lld deletion vectors) rewritten as %lld (version %lld)",
                            table, (long long)removed_files, (long long)dvs_removed, (long long)c.cm.files_written,
                            (long long)version);
    else if (rc == 0)
        rc = result_message(out, "optimized %s: nothing to do (no new version)", table);
    compute_columns_free(cols, ncols);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    free(bin);
    free(order);
    buf_free(&rows);
    buf_free(&sql);
    return rc;
}

bool ops_compaction_due(const snapshot *s)
{
    int64_t target = table_target(s), small = 0, physical = 0, deleted = 0;
    for (size_t i = 0; i < s->file_count; i++) {
        const log_file *f = &s->files[i];
        small += f->size < target / 4 * 3;
        if (f->num_records > 0) { /* a file without statistics counts toward neither */
            physical += f->num_records;
            deleted += f->dv.storage_type && f->dv.cardinality > 0 ? f->dv.cardinality : 0;
        }
    }
    return small >= AUTO_COMPACT_FILES || (deleted > 0 && deleted >= physical / AUTO_COMPACT_DELETED_SHARE);
}

void ops_auto_optimize(loch_lake *lake, const char *table)
{
    snapshot *s = NULL;
    if (txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s) < 0) {
        error_clear();
        return;
    }
    const char *on = snapshot_property(s, "delta.autoOptimize.autoCompact");
    bool due = on && strcmp(on, "true") == 0 && ops_compaction_due(s);
    txlog_snapshot_free(s);
    if (!due)
        return;
    loch_result *r = NULL;
    /* The write that got here has landed; a compaction that fails (a concurrent writer
     * changed a file) is only skipped: the next write tries again. */
    if (ops_optimize(lake, table, NULL, 0, 0, &r) < 0)
        lake_warn(lake, "automatic compaction of table \"%s\" skipped: %s", table, loch_error_last());
    error_clear();
    loch_result_free(r);
}

/* ---- VACUUM ------------------------------------------------------------------------ */

/* Adds f's path and its DV file (if any) to keep; the keys are copied into a (a map
 * borrows its keys). */
static int keep_file(arena *a, strmap *keep, const log_file *f)
{
    char dv[512];
    const char *p = arena_strdup(a, f->path), *d = NULL;
    int rc = p ? strmap_put(keep, p, 1) : -1;
    if (rc == 0 && f->dv.storage_type == 'u' && dv_relative_path(f->dv.path_or_inline, dv, sizeof(dv)) == 0)
        rc = (d = arena_strdup(a, dv)) ? strmap_put(keep, d, 1) : -1;
    error_clear(); /* an unreadable DV descriptor names no file to keep */
    return rc < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

/* Every file a version committed since `since` names: its adds and the removes of files
 * that were live until then. ECONFLICT when the log no longer reaches back that far. */
static int keep_recent(loch_lake *lake, const char *table, int64_t since, arena *a, strmap *keep)
{
    storage_entry *e = NULL;
    size_t n = 0;
    buf dir = BUF_INIT, path = BUF_INIT, data = BUF_INIT;
    int64_t earliest = -1, earliest_ms = 0;
    int rc = buf_printf(&dir, "%s/_delta_log", table) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : lake->st->list(lake->st, dir.data, &e, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *name = e[i].name;
        size_t len = strlen(name);
        if (len != 25 || strcmp(name + 20, ".json") != 0 || strspn(name, "0123456789") != 20)
            continue;
        int64_t v = atoll(name);
        if (earliest < 0 || v < earliest) {
            earliest = v;
            earliest_ms = e[i].mtime_ms;
        }
        if (e[i].mtime_ms < since)
            continue;
        commit cm;
        commit_init(&cm, NULL, -1);
        buf_clear(&path);
        rc = buf_printf(&path, "%s/%s", dir.data, name) ? LOCH_ENOMEM : 0;
        rc = rc ? rc : lake->st->get(lake->st, path.data, &data);
        rc = rc ? rc : commit_parse(&cm, data.data, data.len);
        for (size_t k = 0; rc == 0 && k < cm.count; k++)
            if (cm.actions[k].kind == LOG_ADD || cm.actions[k].kind == LOG_REMOVE || cm.actions[k].kind == LOG_CDC)
                rc = keep_file(a, keep, &cm.actions[k].u.file);
        commit_free(&cm);
        if (rc < 0)
            error_prefix("table \"%s\", %s: ", table, name);
    }
    if (rc == 0 && earliest > 0 && earliest_ms >= since)
        rc = error_set(LOCH_ECONFLICT, "the log of table \"%s\" starts at version %lld, after the start of the "
                       "retention window: what versions before it named is unknown (use FORCE to vacuum anyway)",
                       table, (long long)earliest);
    storage_entries_free(e, n);
    buf_free(&dir);
    buf_free(&path);
    buf_free(&data);
    return rc;
}

typedef struct {
    char *path;     /* table-relative */
    int64_t size;
} doomed;

/* The files under table/rel (recursively) written before `since` (the candidates):
 * hidden names ('.', '_') and the log are never looked at, except _change_data/. */
static int collect(loch_lake *lake, const char *table, const char *rel, int64_t since, doomed **out, size_t *n,
                   size_t *cap, int depth)
{
    storage_entry *e = NULL;
    size_t ne = 0;
    buf dir = BUF_INIT, child = BUF_INIT;
    int rc = buf_printf(&dir, "%s%s%s", table, *rel ? "/" : "", rel) ? LOCH_ENOMEM : 0;
    if (depth > 32)
        return error_set(LOCH_EINVALID, "table \"%s\": directories nest too deep", table);
    rc = rc ? rc : lake->st->list(lake->st, dir.data, &e, &ne);
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        const char *name = e[i].name;
        /* _change_data/ holds the change feed's files: kept while a commit in the
         * window names them, like data files */
        bool feed = depth == 0 && e[i].is_dir && strcmp(name, "_change_data") == 0;
        if ((name[0] == '.' || name[0] == '_' || e[i].is_link) && !feed)
            continue;
        buf_clear(&child);
        rc = buf_printf(&child, "%s%s%s", rel, *rel ? "/" : "", name) ? LOCH_ENOMEM : 0;
        if (rc == 0 && e[i].is_dir) {
            rc = collect(lake, table, child.data, since, out, n, cap, depth + 1);
            continue;
        }
        if (rc < 0 || e[i].mtime_ms >= since)
            continue;
        if (*n == *cap) {
            size_t c2 = *cap ? *cap * 2 : 64;
            doomed *g = realloc(*out, c2 * sizeof(*g));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            *out = g;
            *cap = c2;
        }
        (*out)[*n].path = buf_detach(&child);
        (*out)[*n].size = e[i].size;
        (*n)++;
    }
    storage_entries_free(e, ne);
    buf_free(&dir);
    buf_free(&child);
    return rc;
}

/* The files the write intents of this table name (ops/intent.c): a writer that has
 * not committed yet records every file before it appears in the table. */
static int keep_intents(loch_lake *lake, const char *table, arena *a, strmap *keep)
{
    storage_entry *e = NULL;
    size_t n = 0, tlen = strlen(table);
    buf path = BUF_INIT, text = BUF_INIT;
    int rc = lake->st->list_names(lake->st, "_loch/intents", &e, &n);
    if (rc == LOCH_ENOTFOUND) {
        error_clear();
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        buf_clear(&path);
        buf_clear(&text);
        rc = buf_printf(&path, "_loch/intents/%s", e[i].name) ? LOCH_ENOMEM : 0;
        if (rc == 0 && lake->st->get(lake->st, path.data, &text) < 0) {
            error_clear(); /* ended meanwhile: its commit landed, or its files are gone */
            continue;
        }
        for (char *line = text.data; rc == 0 && line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (!strncmp(line, "file ", 5) && !strncmp(line + 5, table, tlen) && line[5 + tlen] == '/') {
                const char *k = arena_strdup(a, line + 6 + tlen);
                rc = k && strmap_put(keep, k, 1) == 0 ? 0 : error_set(LOCH_ENOMEM, "out of memory");
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    storage_entries_free(e, n);
    buf_free(&path);
    buf_free(&text);
    return rc;
}

int ops_vacuum(loch_lake *lake, const char *table, int64_t retain_ms, bool dry_run, bool force, loch_result **out)
{
    snapshot *s = NULL;
    strmap keep = STRMAP_INIT;
    arena keys = ARENA_INIT;
    doomed *files = NULL;
    size_t n = 0, cap = 0, kept = 0;
    storage_lock *guard = NULL, *held = NULL;
    int64_t table_ms = 7 * DAY_MS, bytes = 0, deleted = 0;
    int rc = lake->in_transaction ? error_set(LOCH_EINVALID, "VACUUM cannot run inside a transaction: COMMIT or "
                                              "ROLLBACK first") : 0;
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    const char *v = rc == 0 ? snapshot_property(s, "delta.deletedFileRetentionDuration") : NULL;
    if (v && checkpoint_interval_parse(v, &table_ms) < 0)
        rc = error_prefix("table \"%s\", delta.deletedFileRetentionDuration: ", table);
    if (rc == 0 && retain_ms < 0)
        retain_ms = table_ms;
    if (rc == 0 && retain_ms < table_ms && !force)
        rc = error_set(LOCH_EINVALID, "a retention of %.1f hours is shorter than the table's "
                       "delta.deletedFileRetentionDuration (%.1f hours): readers time-travelling to a version "
                       "inside it would find its files gone (add FORCE, or --force, if that is what you want)",
                       retain_ms / 3600000.0, table_ms / 3600000.0);
    txlog_snapshot_free(s);
    s = NULL;
    /* No DROP while we look and delete, and no RESTORE between checking that the old
     * files it brings back exist and committing (it holds the table shared). */
    rc = rc ? rc : guard_take(lake, table, 0, &guard);
    rc = rc ? rc : lake->st->lock(lake->st, table, STORAGE_LOCK_EXCLUSIVE, &held);
    int64_t since = time_now_ms() - retain_ms;
    /* The order matters. The candidates are listed first; then what keeps a file is
     * read: the intents of writers still at work (a file is recorded in one before it
     * appears in the table), then the latest version and every commit in the window (a
     * writer whose intent ended between the listing and now has committed by now). */
    rc = rc ? rc : collect(lake, table, "", since, &files, &n, &cap, 0);
    rc = rc ? rc : keep_intents(lake, table, &keys, &keep);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        const char *p = s->files[i].path;
        if (p[0] == '/' || strstr(p, "://"))
            rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" names its file %s by an absolute path; loch does not "
                           "vacuum such tables (it could not tell which files on disk they are)", table, p);
        rc = rc ? rc : keep_file(&keys, &keep, &s->files[i]);
    }
    if (rc == 0 && (rc = keep_recent(lake, table, since, &keys, &keep)) == LOCH_ECONFLICT && force) {
        error_clear();
        rc = 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t slot;
        if (strmap_get(&keep, files[i].path, &slot))
            free(files[i].path);
        else
            files[kept++] = files[i];
    }
    if (rc == 0)
        n = kept;
    if (rc == 0 && dry_run) {
        static const char *names[] = {"path", "size"};
        static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_NUMBER};
        rc = result_new(out, 2, names, kinds);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char size[24];
            snprintf(size, sizeof(size), "%lld", (long long)files[i].size);
            rc = result_add_row(*out, (const char *const[]){files[i].path, size});
        }
    } else if (rc == 0) {
        buf path = BUF_INIT;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            buf_clear(&path);
            lake_hold(lake, "vacuum-delete");
            rc = buf_printf(&path, "%s/%s", table, files[i].path) ? LOCH_ENOMEM : 0;
            rc = rc ? rc : lake->st->remove(lake->st, path.data);
            deleted += rc == 0;
            bytes += rc == 0 && files[i].size > 0 ? files[i].size : 0;
        }
        buf_free(&path);
        rc = rc ? rc : result_message(out, "vacuumed %s: %lld files (%lld bytes) deleted, none a version since %.1f "
                                      "hours ago needs", table, (long long)deleted, (long long)bytes,
                                      retain_ms / 3600000.0);
    }
    if (held)
        lake->st->unlock(lake->st, held);
    guard_release(lake, guard);
    for (size_t i = 0; i < n; i++)
        free(files[i].path);
    free(files);
    strmap_free(&keep);
    arena_free(&keys);
    txlog_snapshot_free(s);
    return rc;
}

/* ---- RESTORE ----------------------------------------------------------------------- */

static int file_key(arena *a, const log_file *f, const char **out)
{
    buf b = BUF_INIT;
    const char *dv = log_dv_unique_id(a, &f->dv);
    int rc = dv && buf_printf(&b, "%s\n%s", f->path, dv) == 0 && (*out = arena_strdup(a, b.data)) ? 0
             : error_set(LOCH_ENOMEM, "out of memory");
    buf_free(&b);
    return rc;
}

int ops_restore(loch_lake *lake, const char *table, const txlog_at *to, loch_result **out)
{
    snapshot *now = NULL, *then = NULL;
    txlog_commit c;
    strmap in_now = STRMAP_INIT, in_then = STRMAP_INIT;
    arena a = ARENA_INIT;
    int64_t version = -1, removed = 0, restored = 0, removed_bytes = 0, restored_bytes = 0, size_after = 0;
    txlog_commit_init(&c, table, "RESTORE");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &now);
    rc = rc ? rc : snapshot_check_writable(now);
    const char *ao = rc == 0 ? snapshot_property(now, "delta.appendOnly") : NULL;
    if (ao && strcmp(ao, "true") == 0)
        rc = error_set(LOCH_EPERM, "table \"%s\" is append-only (delta.appendOnly = true): a restore would remove rows",
                       table);
    if (rc == 0 && (rc = txlog_load(lake, table, to, &then)) == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" has no such version to restore", table);
    if (rc == 0 && then->version == now->version)
        rc = error_set(LOCH_EINVALID, "table \"%s\" is at version %lld already", table, (long long)now->version);
    rc = rc ? rc : txlog_commit_against(&c, now);
    if (rc == 0)
        commit_read_whole_table(&c.cm);
    for (size_t i = 0; rc == 0 && i < now->file_count; i++) {
        const char *k = NULL;
        rc = file_key(&a, &now->files[i], &k);
        rc = rc ? rc : strmap_put(&in_now, k, i) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    }
    for (size_t i = 0; rc == 0 && i < then->file_count; i++) {
        const char *k = NULL;
        rc = file_key(&a, &then->files[i], &k);
        rc = rc ? rc : strmap_put(&in_then, k, i) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    }
    /* The old metadata, when it differs (schema or properties); the protocol stays. */
    if (rc == 0 && (strcmp(now->metadata.schema_string, then->metadata.schema_string) != 0 ||
                    now->metadata.configuration.count != then->metadata.configuration.count)) {
        log_action meta = {.kind = LOG_METADATA, .u.metadata = then->metadata};
        meta.u.metadata.id = now->metadata.id;
        rc = commit_append(&c.cm, &meta);
    }
    size_t slot;
    for (size_t i = 0; rc == 0 && i < now->file_count; i++) {
        const char *k = NULL;
        rc = file_key(&a, &now->files[i], &k);
        if (rc == 0 && !strmap_get(&in_then, k, &slot)) {
            log_action rm = {.kind = LOG_REMOVE, .u.file = now->files[i]};
            rm.u.file.deletion_timestamp = time_now_ms();
            rm.u.file.data_change = true;
            rm.u.file.stats = NULL;
            rc = commit_append(&c.cm, &rm);
            removed++;
            removed_bytes += now->files[i].size;
        }
    }
    /* Shared: no VACUUM deletes an old file between its check here and the commit. */
    storage_lock *held = NULL;
    rc = rc ? rc : lake->st->lock(lake->st, table, STORAGE_LOCK_SHARED, &held);
    buf path = BUF_INIT;
    for (size_t i = 0; rc == 0 && i < then->file_count; i++) {
        const log_file *f = &then->files[i];
        const char *k = NULL;
        size_after += f->size;
        rc = file_key(&a, f, &k);
        if (rc < 0 || strmap_get(&in_now, k, &slot))
            continue;
        storage_entry st;
        char dv[512];
        buf_clear(&path);
        rc = buf_printf(&path, "%s/%s", table, f->path) ? LOCH_ENOMEM : 0;
        if (rc == 0 && lake->st->head(lake->st, path.data, &st) < 0)
            rc = error_set(LOCH_ENOTFOUND, "cannot restore table \"%s\" to version %lld: its file %s is gone "
                           "(VACUUM deletes files older versions need once they leave the retention window)", table,
                           (long long)then->version, f->path);
        if (rc == 0 && f->dv.storage_type == 'u' && dv_relative_path(f->dv.path_or_inline, dv, sizeof(dv)) == 0) {
            buf_clear(&path);
            rc = buf_printf(&path, "%s/%s", table, dv) ? LOCH_ENOMEM : 0;
            if (rc == 0 && lake->st->head(lake->st, path.data, &st) < 0)
                rc = error_set(LOCH_ENOTFOUND, "cannot restore table \"%s\" to version %lld: the deletion vector "
                               "file %s is gone", table, (long long)then->version, dv);
        }
        log_action add = {.kind = LOG_ADD, .u.file = *f};
        add.u.file.data_change = true;
        rc = rc ? rc : commit_append(&c.cm, &add);
        restored++;
        restored_bytes += f->size;
    }
    buf_free(&path);
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)(then ? then->version : -1));
    rc = rc ? rc : commit_parameter(&c.cm, "version", v);
    rc = rc ? rc : commit_metric(&c.cm, "numRestoredFiles", restored);
    rc = rc ? rc : commit_metric(&c.cm, "numRemovedFiles", removed);
    rc = rc ? rc : commit_metric(&c.cm, "restoredFilesSize", restored_bytes);
    rc = rc ? rc : commit_metric(&c.cm, "removedFilesSize", removed_bytes);
    rc = rc ? rc : commit_metric(&c.cm, "numOfFilesAfterRestore", (int64_t)then->file_count);
    rc = rc ? rc : commit_metric(&c.cm, "tableSizeAfterRestore", size_after);
    /* Restored files are the table's own: a failed commit must not delete them. */
    c.adds_existing = 1;
    lake_hold(lake, "restore-commit");
    rc = rc ? rc : txlog_commit_run(lake, &c, &version);
    if (held)
        lake->st->unlock(lake->st, held);
    if (rc == 0)
        rc = result_message(out, "restored %s to version %lld as version %lld (%lld files removed, %lld restored)",
                            table, (long long)then->version, (long long)version, (long long)removed,
                            (long long)restored);
    txlog_commit_free(&c);
    txlog_snapshot_free(now);
    txlog_snapshot_free(then);
    strmap_free(&in_now);
    strmap_free(&in_then);
    arena_free(&a);
    return rc;
}
