/*
 * ops/create.c - CREATE TABLE (columns or AS SELECT), as version 0 of a Delta table;
 * CREATE OR REPLACE as one commit that swaps schema and contents.
 *
 * The protocol comes from core/protocol.c: a new table gets (1,2), the oldest every
 * Delta reader accepts, or (3,7) with timestampNtz for a TIMESTAMP (without time zone)
 * column; a replaced table keeps every feature it had.
 */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "util/misc.h"

typedef struct {
    const char *table;
    const char *select_sql;  /* rows to store, or NULL */
    const char *columns;     /* "(a INT, b TEXT)", or NULL */
    int or_replace, if_not_exists;
} create_args;

static int create_commit(loch_lake *lake, const create_args *a, const snapshot *old, const char *select_sql,
                         const compute_column *cols, size_t ncols, const char *pk, int64_t *version, int64_t *rows)
{
    /* A primary key makes a table whose writes go through its write-ahead log
     * (ops/tail.c), flushed as deletion vectors over the replaced rows. */
    const char *keys[] = {TAIL_PK_PROPERTY, "delta.enableDeletionVectors"}, *values[] = {pk, "true"};
    log_kv config = {keys, values, pk ? 2 : 0};
    txlog_commit c;
    buf schema_text = BUF_INIT;
    char id[37];
    bool upgrade = false;
    unsigned kinds = 0;
    for (size_t i = 0; i < ncols; i++)
        kinds |= (cols[i].ntz ? PROTOCOL_NTZ : 0) | (cols[i].not_null ? PROTOCOL_NOT_NULL : 0);
    txlog_commit_init(&c, a->table, old ? "CREATE OR REPLACE TABLE" : "CREATE TABLE");
    int rc = txlog_commit_against(&c, old);
    uuid_v4(id);
    log_action p = {.kind = LOG_PROTOCOL};
    rc = rc ? rc : protocol_choose(&c.cm.a, old ? &old->protocol : NULL, pk ? &config : NULL, kinds, &p.u.protocol,
                                   &upgrade);
    rc = rc ? rc : write_schema_string(cols, ncols, &schema_text);
    log_action m = {.kind = LOG_METADATA, .u.metadata = {.id = old ? old->metadata.id : id,
                    .schema_string = schema_text.data, .configuration = config, .created_time = time_now_ms()}};
    rc = rc ? rc : commit_parameter(&c.cm, "mode", old ? "Overwrite" : "ErrorIfExists");
    rc = rc || !upgrade ? rc : commit_append(&c.cm, &p);
    rc = rc ? rc : commit_append(&c.cm, &m);
    rc = rc || !old ? rc : write_remove_all(old, &c.cm);
    rc = rc || !select_sql ? rc : write_data_file(lake, &c, schema_text.data, select_sql, cols, ncols);
    rc = rc ? rc : txlog_commit_run(lake, &c, version);
    *rows = c.cm.rows_written;
    txlog_commit_free(&c);
    buf_free(&schema_text);
    return rc;
}

static int ops_create(loch_lake *lake, const create_args *a, loch_result **out)
{
    snapshot *old = NULL;
    compute_column *cols = NULL;
    size_t ncols = 0;
    int64_t version = 0, rows = 0;
    buf sql = BUF_INIT, pk = BUF_INIT;
    struct wal_fence *fence = NULL; /* the old table's log: nothing appended until the replace is in */
    const char *select_sql = a->select_sql;
    int rc = table_name_check(a->table);
    rc = rc ? rc : guard_check_dir(lake, a->table);
    if (rc < 0)
        return rc;
    if (txlog_exists(lake, a->table)) {
        if (a->if_not_exists)
            return result_message(out, "table %s already exists; nothing done", a->table);
        if (!a->or_replace)
            return error_set(LOCH_EEXISTS, "table \"%s\" already exists", a->table);
        if ((rc = tail_flush_fenced(lake, a->table, &fence)) < 0 ||
            (rc = txlog_load(lake, a->table, &(txlog_at){-1, 0, 0}, &old)) < 0 ||
            (rc = snapshot_check_writable(old)) < 0)
            goto cleanup;
        /* The statement's tables were read (their tails loaded) before the fence: a write
         * acknowledged since is in the table now, not in what the SELECT was given. Read
         * them again, the log fenced, so the replacement holds every acknowledged row. */
        if (fence && select_sql) {
            scan_unpin(lake);
            if ((rc = tail_prepare(lake, select_sql, NULL)) < 0)
                goto cleanup;
        }
        const char *append_only = snapshot_property(old, "delta.appendOnly");
        if (append_only && strcmp(append_only, "true") == 0) {
            rc = error_set(LOCH_EINVALID, "table \"%s\" is append-only (delta.appendOnly): it cannot be replaced",
                           a->table);
            goto cleanup;
        }
    }
    if (a->columns) {
        rc = buf_printf(&sql, "CREATE OR REPLACE TEMP TABLE __loch_new %s", a->columns);
        rc = rc ? rc : compute_exec_one(lake->cp, sql.data);
        if (rc < 0)
            insert_own_name(a->table);
        select_sql = NULL;
    } else if (select_sql) {
        rc = allow_query(lake, select_sql); /* it is placed inside loch's own COPY */
    }
    rc = rc ? rc : compute_describe(lake->cp, a->columns ? "SELECT * FROM __loch_new" : select_sql, &cols, &ncols);
    if (rc == 0 && a->columns)
        rc = compute_table_constraints(lake->cp, "__loch_new", cols, ncols, &pk);
    if (rc == 0 && ncols == 0)
        rc = error_set(LOCH_EINVALID, "a table needs at least one column");
    for (size_t i = 0; rc == 0 && pk.len && i < ncols; i++) /* the write-ahead log's own columns */
        if (tail_reserved(cols[i].name))
            rc = error_set(LOCH_EINVALID, "a table with a primary key cannot have a column named %s (the "
                           "write-ahead log's own)", cols[i].name);
    rc = rc ? rc : create_commit(lake, a, old, select_sql, cols, ncols, pk.len ? pk.data : NULL, &version, &rows);
    if (rc == 0 && select_sql)
        rc = result_message(out, "%s table %s at version %lld with %lld rows", old ? "replaced" : "created",
                            a->table, (long long)version, (long long)rows);
    else if (rc == 0)
        rc = result_message(out, "created table %s at version %lld", a->table, (long long)version);
cleanup:
    tail_unfence(fence);
    if (a->columns)
        compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_new");
    compute_columns_free(cols, ncols);
    txlog_snapshot_free(old);
    buf_free(&sql);
    buf_free(&pk);
    return rc;
}

int ops_create_table(loch_lake *lake, const char *table, const char *select_sql, const char *columns,
                     int or_replace, int if_not_exists, loch_result **out)
{
    create_args a = {table, select_sql, columns, or_replace, if_not_exists};
    return ops_create(lake, &a, out);
}
