/*
 * ops/write.c - what every write shares: naming and writing data files, their add
 * actions with stats, and the schema a new table gets.
 *
 * The engine writes a write's files into a hidden staging directory of the table,
 * at the local path the storage names for it (engine_path); each file then moves into
 * place through the storage (move, sync), which is where an object store uploads it.
 * A data file is durable (fsynced, with its directory) before the commit that names
 * it is attempted, so a commit never points at bytes that a crash could lose. Files
 * whose commit fails are deleted; a crash in between leaves an unreferenced file,
 * which readers never see (they only read files the log names).
 */
#include "ops/ops.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/misc.h"
#include "util/utf8.h"
#include "util/strmap.h"

int table_name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128)
        return error_set(LOCH_EINVALID, "table names are 1 to 128 characters");
    if (name[0] == '_' || name[0] == '.' || name[0] == '-')
        return error_set(LOCH_EINVALID, "table name \"%s\" may not start with '%c'", name, name[0]);
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '_' || name[i] == '-'))
            return error_set(LOCH_EINVALID, "table name \"%s\": use lowercase letters, digits, '_' and '-'", name);
    return 0;
}

/* EINVALID when two column names differ only in case: Delta readers such as Spark
 * match names without regard to case (Unicode's, not only ASCII's: the engine already
 * renames "A" and "a", but not "É" and "é") and refuse such a table. */
static int check_case_duplicates(const compute_column *cols, size_t n)
{
    char **low = calloc(n + 1, sizeof(*low));
    int rc = low ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = (low[i] = utf8_lower(cols[i].name)) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (size_t j = i + 1; rc == 0 && j < n; j++)
            if (strcmp(low[i], low[j]) == 0)
                rc = error_set(LOCH_EINVALID, "columns \"%s\" and \"%s\" differ only in case; Delta readers such as "
                               "Spark do not tell them apart: rename one", cols[i].name, cols[j].name);
    for (size_t i = 0; low && i < n; i++)
        free(low[i]);
    free(low);
    return rc;
}

int write_schema_string(const compute_column *cols, size_t n, buf *out)
{
    for (size_t i = 0; i < n; i++)
        if (strncasecmp(cols[i].name, "__loch_", 7) == 0)
            return error_set(LOCH_EINVALID, "column \"%s\": names starting with __loch_ are loch's own", cols[i].name);
    int rc = check_case_duplicates(cols, n);
    if (rc < 0)
        return rc;
    rc = buf_puts(out, "{\"type\":\"struct\",\"fields\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = (i ? buf_putc(out, ',') : 0) || buf_puts(out, "{\"name\":") || buf_put_json_str(out, cols[i].name) ||
             buf_printf(out, ",\"type\":%s,\"nullable\":%s,\"metadata\":%s}", cols[i].delta_type,
                        cols[i].not_null ? "false" : "true", cols[i].metadata ? cols[i].metadata : "{}")
                 ? LOCH_ENOMEM : 0;
    }
    return rc ? rc : buf_puts(out, "]}");
}

void write_schema_tag(const char *schema_string, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)hash_bytes(schema_string, strlen(schema_string)));
}

int write_data_file(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                    const compute_column *cols, size_t ncols)
{
    return write_data_file_from(lake, c, schema_string, select_sql, cols, ncols, NULL);
}

/* The size data files are split at: delta.targetFileSize, else 128 MiB. */
static int64_t target_size(const txlog_commit *c)
{
    const char *v = c->base ? snapshot_property(c->base, "delta.targetFileSize") : NULL;
    long long n = v ? atoll(v) : 0;
    return n >= 1024 * 1024 ? n : 128LL * 1024 * 1024;
}

/* Writes select_sql's rows as new files: data files (add actions, in the table's
 * directory) or, with change, change data files (cdc actions, in _change_data/). */
static int write_files(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                       const compute_column *cols, size_t ncols, const char *source_sha256, bool change);

int write_data_file_from(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                         const compute_column *cols, size_t ncols, const char *source_sha256)
{
    return write_files(lake, c, schema_string, select_sql, cols, ncols, source_sha256, false);
}

int write_change_file(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                      const compute_column *cols, size_t ncols)
{
    int64_t rows = c->cm.rows_written, files = c->cm.files_written;
    int rc = write_files(lake, c, schema_string, select_sql, cols, ncols, NULL, true);
    c->cm.rows_written = rows; /* change rows are not the table's rows */
    c->cm.files_written = files;
    return rc;
}

/* After a failed write: whether a DROP took the table from under it. Its staging
 * directory is gone and files had been staged, or the table is gone or is another table
 * now (dropped and created again under its name). Errors on the way count as no. */
static bool dropped_under(loch_lake *lake, const txlog_commit *c, const char *staging, bool staged)
{
    /* the write's own error is what the caller reports: kept across these looks */
    int code = loch_error_last_code();
    char *was = strdup(loch_error_last());
    storage_entry e;
    snapshot *now = NULL;
    bool away = false;
    if (lake->st->head(lake->st, staging, &e) == LOCH_ENOTFOUND) {
        away = staged || lake->st->head(lake->st, c->table, &e) == LOCH_ENOTFOUND;
        int lrc = away || !c->base ? 0 : txlog_load(lake, c->table, &(txlog_at){-1, 0, 0}, &now);
        away = away || lrc == LOCH_ENOTFOUND ||
               (now && strcmp(c->base->metadata.id ? c->base->metadata.id : "",
                              now->metadata.id ? now->metadata.id : "") != 0);
    }
    txlog_snapshot_free(now);
    error_clear();
    if (was)
        error_set(code, "%s", was);
    free(was);
    return away;
}

static int write_files(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                       const compute_column *cols, size_t ncols, const char *source_sha256, bool change)
{
    buf staging = BUF_INIT, local = BUF_INIT, sql = BUF_INIT, from = BUF_INIT, to = BUF_INIT, done = BUF_INIT,
        intent = BUF_INIT;
    compute_file *files = NULL;
    size_t nfiles = 0, actions_before = c->cm.count;
    int64_t rows_before = c->cm.rows_written, files_before = c->cm.files_written;
    char id[37], tag[17], name[96];
    const char *tag_keys[] = {"loch.schema", "loch.source.sha256"}, *tag_values[] = {tag, source_sha256};
    /* The tag names the schema the files were written with: files that all carry the
     * table's current one can be scanned without reconciling their schemas. */
    write_schema_tag(schema_string, tag);
    uuid_v4(id);
    /* The engine writes into a hidden staging directory; each file then moves to a
     * unique part-<uuid> name in the table directory and is synced before the commit. */
    int rc = guard_check_dir(lake, c->table); /* never write through a link out of the lake */
    rc = rc ? rc : buf_printf(&staging, "%s/.tmp-%s", c->table, id);
    rc = rc ? rc : lake->st->mkdirs(lake->st, c->table);
    buf cdc_dir = BUF_INIT;
    if (rc == 0 && change)
        rc = buf_printf(&cdc_dir, "%s/_change_data", c->table) ? LOCH_ENOMEM : lake->st->mkdirs(lake->st, cdc_dir.data);
    buf_free(&cdc_dir);
    rc = rc ? rc : lake->st->engine_path(lake->st, staging.data, &local); /* where the engine writes */
    rc = rc ? rc : buf_puts(&sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < ncols; i++)
        rc = (i ? buf_puts(&sql, ", ") : 0) || buf_puts(&sql, cols[i].write_expr) || buf_puts(&sql, " AS ") ||
             buf_put_sql_ident(&sql, cols[i].name) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : buf_printf(&sql, " FROM (%s)", select_sql);
    /* What a writer killed from here on leaves is found by the next one (ops/intent.c). */
    buf logdir = BUF_INIT;
    if (rc == 0) /* the sweep clears the errors it meets: it runs only while there is none */
        intent_sweep(lake);
    if (rc == 0 && buf_printf(&logdir, "%s/_delta_log", c->table) == 0)
        intent_sweep_dir(lake, logdir.data);
    buf_free(&logdir);
    rc = rc ? rc : intent_begin(lake, c, staging.data);
    rc = rc ? rc : compute_write_parquet(lake->cp, sql.data, local.data, target_size(c), cols, ncols, &files, &nfiles);
    bool staged = rc == 0;
    if (rc == 0)
        lake_hold(lake, "write-staged");
    /* The final names, recorded (durably) before any file moves. */
    char (*names)[96] = rc == 0 && nfiles ? calloc(nfiles, sizeof(*names)) : NULL;
    if (rc == 0 && nfiles && !names)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < nfiles; i++) {
        uuid_v4(id);
        snprintf(names[i], sizeof(names[i]), change ? "_change_data/cdc-%05zu-%s.c000.snappy.parquet"
                                                    : "part-%05zu-%s-c000.snappy.parquet", i, id);
        if (files[i].rows > 0)
            rc = buf_printf(&intent, "file %s/%s\n", c->table, names[i]) ? LOCH_ENOMEM : 0;
    }
    rc = rc || !intent.len ? rc : intent_files(c, intent.data);
    for (size_t i = 0; rc == 0 && i < nfiles; i++) {
        if (files[i].rows == 0)
            continue;
        const char *base = strrchr(files[i].path, '/');
        snprintf(name, sizeof(name), "%s", names[i]);
        buf_clear(&from);
        buf_clear(&to);
        rc = buf_printf(&from, "%s/%s", staging.data, base ? base + 1 : files[i].path);
        rc = rc ? rc : buf_printf(&to, "%s/%s", c->table, name);
        rc = rc ? rc : lake->st->move(lake->st, from.data, to.data);
        if (rc < 0)
            break;
        rc = buf_puts(&done, to.data) || buf_putc(&done, '\n') ? LOCH_ENOMEM : 0; /* to undo on failure */
        log_file f = {.path = name, .size = files[i].size, .modification_time = time_now_ms(),
                      .data_change = !change, .stats = change ? NULL : files[i].stats.data, .dv = {.offset = -1},
                      .tags = {tag_keys, tag_values, source_sha256 ? 2 : 1}};
        lake_hold(lake, "write-moving");
        rc = lake->st->sync(lake->st, to.data);
        rc = rc ? rc : commit_append(&c->cm, &(log_action){.kind = change ? LOG_CDC : LOG_ADD, .u.file = f});
        c->cm.rows_written += files[i].rows;
        c->cm.files_written++;
    }
    /* A DROP moves the whole table away, staging directory included: a file operation
     * that failed because of it says so, not which path was missing. A missing staging
     * directory alone is no sign (an engine that failed early, on a full disk say, never
     * made one): it counts once files were staged, or when the table is gone or is
     * another table now. */
    if (rc < 0 && rc != LOCH_ENOMEM && staging.data && dropped_under(lake, c, staging.data, staged))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped while this write was prepared; nothing was written",
                       c->table);
    if (staging.data) /* not named when the table was refused first */
        lake->st->remove_tree(lake->st, staging.data);
    if (rc < 0 && c->cm.read_version < 0 && staging.data)
        guard_drop_if_empty(lake, c->table); /* a new table's directory, made for this write */
    if (rc < 0) {
        /* All or nothing: the files this call moved into the table go, and so do
         * their add actions. */
        for (char *p = done.data, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
            *nl = '\0';
            lake->st->remove(lake->st, p);
        }
        commit_truncate(&c->cm, actions_before);
        c->cm.rows_written = rows_before;
        c->cm.files_written = files_before;
    }
    compute_files_free(files, nfiles);
    free(names);
    buf_free(&intent);
    buf_free(&staging);
    buf_free(&local);
    buf_free(&sql);
    buf_free(&from);
    buf_free(&to);
    buf_free(&done);
    return rc;
}

int write_sources_of(const snapshot *s, const size_t *which, size_t n, buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *tag = commit_file_sources(&s->files[which[i]]);
        for (const char *p = tag; rc == 0 && p && *p;) {
            size_t len = strcspn(p, ",");
            char one[72];
            snprintf(one, sizeof(one), "%.*s", (int)(len < 71 ? len : 71), p);
            bool seen = false;
            for (const char *q = out->data; !seen && q && (q = strstr(q, one)); q += len)
                seen = (q == out->data || q[-1] == ',') && (q[len] == '\0' || q[len] == ',');
            if (!seen && len)
                rc = (out->len ? buf_putc(out, ',') : 0) || buf_put(out, p, len) ? LOCH_ENOMEM : 0;
            p += len + (p[len] == ',');
        }
    }
    return rc;
}

int write_remove_all(const snapshot *s, commit *c)
{
    int rc = 0;
    commit_read_whole_table(c);
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        log_action act = {.kind = LOG_REMOVE, .u.file = s->files[i]};
        act.u.file.deletion_timestamp = time_now_ms();
        act.u.file.data_change = true;
        act.u.file.stats = NULL; /* a remove carries no stats (extendedFileMetadata: size and values) */
        rc = commit_append(c, &act);
    }
    return rc;
}

int write_columns_of(const snapshot *s, compute_column **out, size_t *count)
{
    compute_column *v = calloc(s->schema.count + 1, sizeof(*v));
    buf e = BUF_INIT;
    int rc = v ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        buf_clear(&e);
        rc = buf_put_sql_ident(&e, f->name);
        v[i].name = strdup(f->name);
        v[i].delta_type = strdup(f->delta_type);
        v[i].write_expr = rc ? NULL : strdup(e.data);
        v[i].ntz = strcmp(f->duck_type, "TIMESTAMP") == 0;
        v[i].not_null = !f->nullable;
        v[i].metadata = strdup(f->metadata ? f->metadata : "{}");
        if (!rc && (!v[i].name || !v[i].delta_type || !v[i].write_expr || !v[i].metadata))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    buf_free(&e);
    if (rc < 0) {
        compute_columns_free(v, s->schema.count);
        return rc;
    }
    *out = v;
    *count = s->schema.count;
    return 0;
}
