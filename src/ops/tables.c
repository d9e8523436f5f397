/*
 * ops/tables.c - listing, describing, history and dropping of tables.
 *
 * The table list comes from the lake directory itself (a table is a directory with a
 * _delta_log); the catalog only caches per-table figures, and a row that is missing
 * or behind the log is refreshed on the way, so deleting _loch/catalog.sqlite costs
 * one replay per table and nothing else.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/misc.h"

void lake_catalog_note(loch_lake *lake, const char *table, const snapshot *s)
{
    if (!lake->cat)
        return;
    catalog_table t = {table, s->version, (int64_t)s->file_count, s->num_records, s->size_bytes,
                       s->timestamp_ms, s->metadata.schema_string};
    if (catalog_put(lake->cat, &t) < 0)
        lake_warn(lake, "%s", loch_error_last());
}

static int list_one(loch_lake *lake, const char *name, loch_result *r)
{
    catalog_table t;
    int64_t latest = txlog_latest_version(lake, name);
    if (latest < 0)
        return 0;
    if (!lake->cat || catalog_get(lake->cat, name, &t) < 0 || t.version != latest) {
        snapshot *s = NULL;
        int rc = txlog_load(lake, name, &(txlog_at){latest, 0, 0}, &s);
        if (rc < 0)
            return rc;
        lake_catalog_note(lake, name, s);
        t = (catalog_table){name, s->version, (int64_t)s->file_count, s->num_records, s->size_bytes,
                            s->timestamp_ms, NULL};
        txlog_snapshot_free(s);
    }
    char v[24], f[24], rows[24], b[24], when[32];
    snprintf(v, sizeof(v), "%lld", (long long)t.version);
    snprintf(f, sizeof(f), "%lld", (long long)t.files);
    snprintf(rows, sizeof(rows), "%lld", (long long)t.rows);
    snprintf(b, sizeof(b), "%lld", (long long)t.bytes);
    iso8601_format_ms(t.updated_ms, when);
    const char *cells[] = {name, v, f, t.rows < 0 ? NULL : rows, b, when};
    return result_add_row(r, cells);
}

int loch_table_list(loch_result **out, loch_lake *lake)
{
    static const char *names[] = {"name", "version", "files", "rows", "bytes", "updated"};
    static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER,
                                      LOCH_KIND_NUMBER, LOCH_KIND_STRING};
    storage_entry *e = NULL;
    size_t n = 0;
    loch_result *r = NULL;
    int rc = result_new(&r, 6, names, kinds);
    rc = rc ? rc : lake->st->list(lake->st, "", &e, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!e[i].is_dir || e[i].name[0] == '_' || e[i].name[0] == '.')
            continue;
        /* A directory SQL cannot name (upper case, a space) or a link out of the lake
         * is no table of this lake, even with a log: say so instead of listing what
         * no statement can then use. */
        if (table_name_check(e[i].name) < 0 || guard_check_dir(lake, e[i].name) < 0) {
            char *why = strdup(loch_error_last());
            if (guard_log_is_link(lake, e[i].name) || txlog_latest_version(lake, e[i].name) >= 0)
                lake_warn(lake, "directory %s holds a Delta log but is not listed as a table: %s", e[i].name,
                          why ? why : "");
            free(why);
            continue;
        }
        /* One unreadable table is reported, never allowed to hide the others. */
        if ((rc = list_one(lake, e[i].name, r)) < 0 && rc != LOCH_ENOMEM) {
            lake_warn(lake, "table %s is not listed: %s", e[i].name, loch_error_last());
            rc = 0;
        }
    }
    storage_entries_free(e, n);
    if (rc < 0) {
        loch_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int load_named(loch_lake *lake, const char *name, snapshot **s, char *table, size_t cap)
{
    txlog_at at;
    int rc = scan_parse_name(name, table, cap, &at);
    return rc ? rc : txlog_load(lake, table, &at, s);
}

int loch_table_describe(loch_result **out, loch_lake *lake, const char *name)
{
    static const char *names[] = {"column", "type", "sql_type", "nullable", "partition"};
    static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_STRING, LOCH_KIND_STRING, LOCH_KIND_BOOL,
                                      LOCH_KIND_BOOL};
    snapshot *s = NULL;
    loch_result *r = NULL;
    char table[256];
    int rc = load_named(lake, name, &s, table, sizeof(table));
    rc = rc ? rc : result_new(&r, 5, names, kinds);
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        char *type = strdup(f->delta_type), *p = type;
        if (type && type[0] == '"') { /* primitives print bare: long, not "long" */
            p = type + 1;
            p[strlen(p) - 1] = '\0';
        }
        const char *cells[] = {f->name, p, f->duck_type, f->nullable ? "true" : "false",
                               f->partition ? "true" : "false"};
        rc = type ? result_add_row(r, cells) : error_set(LOCH_ENOMEM, "out of memory");
        free(type);
    }
    if (rc == 0) {
        buf m = BUF_INIT;
        if (buf_printf(&m, "%s: version %lld, %zu files, %lld rows, %lld bytes, protocol (%d,%d)", table,
                     (long long)s->version, s->file_count, (long long)s->num_records, (long long)s->size_bytes,
                     s->protocol.min_reader, s->protocol.min_writer) == 0)
            r->message = buf_detach(&m);
        buf_free(&m);
    }
    txlog_snapshot_free(s);
    if (rc < 0) {
        loch_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int history_row(loch_lake *lake, const char *table, int64_t v, loch_result *r)
{
    arena a = ARENA_INIT;
    buf path = BUF_INIT, data = BUF_INIT, params = BUF_INIT, metrics = BUF_INIT;
    char name[32], ver[24], when[32] = "";
    const char *op = NULL;
    log_commit_name(v, name);
    int rc = buf_printf(&path, "%s/_delta_log/%s", table, name);
    rc = rc ? rc : lake->st->get(lake->st, path.data, &data);
    const char *p = data.data, *end = data.data + data.len;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        log_action act;
        if ((rc = log_parse_action(&a, p, (size_t)(e - p), &act)) == 0 && act.kind == LOG_COMMITINFO) {
            const json *ci = act.u.commit_info;
            op = json_get_str(ci, "operation");
            /* With in-commit timestamps the commit's time is inCommitTimestamp; "timestamp"
             * is only the writer's clock (Delta protocol, "In-Commit Timestamps"). */
            iso8601_format_ms(json_get_i64(ci, "inCommitTimestamp", json_get_i64(ci, "timestamp", 0)), when);
            if (json_get(ci, "operationParameters"))
                rc = json_write(&params, json_get(ci, "operationParameters"));
            if (!rc && json_get(ci, "operationMetrics"))
                rc = json_write(&metrics, json_get(ci, "operationMetrics"));
        }
        p = e + 1;
    }
    snprintf(ver, sizeof(ver), "%lld", (long long)v);
    const char *cells[] = {ver, when[0] ? when : NULL, op, params.data, metrics.data};
    rc = rc ? rc : result_add_row(r, cells);
    arena_free(&a);
    buf_free(&path);
    buf_free(&data);
    buf_free(&params);
    buf_free(&metrics);
    return rc;
}

int loch_table_history(loch_result **out, loch_lake *lake, const char *name)
{
    static const char *names[] = {"version", "timestamp", "operation", "parameters", "metrics"};
    static const loch_kind kinds[] = {LOCH_KIND_NUMBER, LOCH_KIND_STRING, LOCH_KIND_STRING, LOCH_KIND_NESTED,
                                      LOCH_KIND_NESTED};
    storage_entry *e = NULL;
    size_t n = 0;
    loch_result *r = NULL;
    buf dir = BUF_INIT;
    char table[256];
    txlog_at at;
    int rc = scan_parse_name(name, table, sizeof(table), &at);
    rc = rc ? rc : buf_printf(&dir, "%s/_delta_log", table);
    rc = rc ? rc : lake->st->list(lake->st, dir.data, &e, &n);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    rc = rc ? rc : result_new(&r, 5, names, kinds);
    for (size_t i = n; rc == 0 && i-- > 0;) {
        char kind;
        int part, parts;
        int64_t v = log_name_version(e[i].name, &kind, &part, &parts);
        if (kind == 'j')
            rc = history_row(lake, table, v, r);
    }
    storage_entries_free(e, n);
    buf_free(&dir);
    if (rc < 0) {
        loch_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int loch_table_drop(loch_lake *lake, const char *name, int if_exists)
{
    if (lake->in_transaction)
        return error_set(LOCH_EINVALID, "DROP TABLE of a lake table cannot run inside a transaction: COMMIT or "
                         "ROLLBACK first");
    char table[256];
    txlog_at at;
    int rc = scan_parse_name(name, table, sizeof(table), &at);
    if (rc == 0 && (strchr(table, '/') || table[0] == '.' || table[0] == '_' || !table[0]))
        rc = error_set(LOCH_EINVALID, "\"%s\" cannot name a table of this lake", table);
    /* A table whose log is a link can only be dropped: every other use is refused. */
    int linked = rc == 0 && guard_log_is_link(lake, table);
    rc = rc || linked ? rc : guard_check_dir(lake, table);
    if (rc < 0)
        return rc;
    if (!linked && !txlog_exists(lake, table))
        return if_exists ? 0 : error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    /* Moved away in one step, then deleted (ops/guard.c): no reader sees half a table,
     * and no writer commits into it or into a table that takes its name next. */
    rc = guard_drop(lake, table);
    txlog_forget(lake, table);
    if (rc == 0 && tail_remove(lake, table) < 0) /* its write-ahead log goes with it, flushed or not */
        lake_warn(lake, "table %s: its write-ahead log could not be removed: %s", table, loch_error_last());
    if (rc == 0 && lake->cat)
        catalog_delete(lake->cat, table);
    return rc == LOCH_ENOTFOUND && if_exists ? 0 : rc;
}
