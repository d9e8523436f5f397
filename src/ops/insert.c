/*
 * ops/insert.c - INSERT INTO a lake table: one blind-append commit.
 *
 * The SQL engine does the INSERT's own work (column lists, VALUES, casts, BY NAME)
 * into an empty temporary table shaped like the Delta schema; loch then writes that
 * table as one data file and commits it. Appends never conflict with appends, so
 * concurrent inserters only retry at the next version.
 *
 * A table with a write-ahead log (ops/tail.c) takes its INSERTs there instead: upserts
 * for a table with a primary key, appends to the log for one without (loch.wal.enabled),
 * which its flush commits here as one append carrying the log's txn action.
 */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "util/misc.h"

int insert_stage_table(loch_lake *lake, const snapshot *s)
{
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_ins (");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
        rc = (i ? buf_puts(&sql, ", ") : 0) || buf_put_sql_ident(&sql, s->schema.fields[i].name) ||
             buf_printf(&sql, " %s%s", s->schema.fields[i].duck_type, s->schema.fields[i].nullable ? "" : " NOT NULL")
                 ? LOCH_ENOMEM : 0;
    rc = rc ? rc : buf_putc(&sql, ')');
    rc = rc ? rc : compute_exec(lake->cp, sql.data);
    buf_free(&sql);
    return rc;
}

/* The engine's messages name loch's staging tables (__loch_ins, __loch_new, __loch_tgt,
 * __loch_hit); users should read their own table's name. */
void insert_own_name(const char *table)
{
    static const char *const staging[] = {"__loch_ins", "__loch_new", "__loch_tgt", "__loch_hit"};
    buf m = BUF_INIT;
    const char *msg = loch_error_last(), *hit;
    int code = loch_error_last_code();
    for (const char *from = msg; (hit = strstr(from, "__loch_"));) {
        size_t k = 0;
        while (k < sizeof(staging) / sizeof(staging[0]) && strncmp(hit, staging[k], strlen(staging[k])) != 0)
            k++;
        from = hit + 7;
        if (k == sizeof(staging) / sizeof(staging[0]))
            continue; /* another of loch's names: left as it is */
        buf_put(&m, msg, (size_t)(hit - msg));
        buf_puts(&m, table);
        msg = from = hit + strlen(staging[k]);
    }
    if (m.len && buf_puts(&m, msg) == 0)
        error_set(code, "%s", m.data);
    buf_free(&m);
}

/* Whether the statement running now read table (any version): its snapshots are
 * pinned by name ("t", "t@v3") for the statement. */
static bool reads_itself(loch_lake *lake, const char *table)
{
    for (int i = 0; i < lake->pin_count; i++) {
        char name[256];
        txlog_at at;
        if (scan_parse_name(lake->pins[i].name, name, sizeof(name), &at) == 0 && strcmp(name, table) == 0)
            return true;
    }
    error_clear();
    return false;
}

int ops_insert(loch_lake *lake, const char *table, const char *rest, loch_result **out)
{
    snapshot *s = NULL;
    compute_column *cols = NULL;
    size_t ncols = 0;
    buf sql = BUF_INIT;
    txlog_commit c;
    int64_t version = -1;
    txlog_commit_init(&c, table, "WRITE");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    rc = rc ? rc : insert_stage_table(lake, s);
    rc = rc ? rc : buf_printf(&sql, "INSERT INTO __loch_ins %s", rest);
    rc = rc ? rc : compute_exec_one(lake->cp, sql.data);
    if (rc < 0)
        insert_own_name(table);
    if (rc == 0 && tail_logged(s) && lake->in_transaction)
        rc = error_set(LOCH_EINVALID, "table \"%s\": its writes go to its write-ahead log, which an open "
                       "transaction cannot hold (it could not roll them back): COMMIT or ROLLBACK first", table);
    if (rc == 0 && tail_logged(s)) {
        /* a write to the table's log: an upsert by its primary key, or an append */
        int64_t rows = 0;
        uint64_t last = 0;
        const char *op = snapshot_property(s, TAIL_PK_PROPERTY) ? "upsert" : "insert";
        const char *done = op[0] == 'u' ? "upserted" : "inserted";
        rc = tail_write(lake, table, s, "SELECT * FROM __loch_ins", op, &rows, &last);
        if (rc == 0 && rows)
            rc = result_message(out, "%s %lld rows into %s (LSN %llu, durable)", done, (long long)rows, table,
                                (unsigned long long)last);
        else if (rc == 0)
            rc = result_message(out, "%s 0 rows into %s", done, table);
        goto cleanup;
    }
    rc = rc ? rc : write_columns_of(s, &cols, &ncols);
    if (rc < 0)
        goto cleanup;
    rc = txlog_commit_against(&c, s);
    /* INSERT ... SELECT ... FROM the same table depends on its rows: no blind append,
     * and a concurrent commit that added or removed rows conflicts (core/commit.h). */
    if (rc == 0 && reads_itself(lake, table))
        commit_read_whole_table(&c.cm);
    rc = rc ? rc : commit_parameter(&c.cm, "mode", "Append");
    rc = rc ? rc : write_data_file(lake, &c, s->metadata.schema_string, "SELECT * FROM __loch_ins", cols, ncols);
    if (rc == 0 && c.cm.rows_written > 0)
        rc = txlog_commit_run(lake, &c, &version);
    if (rc == 0 && version >= 0)
        ops_auto_optimize(lake, table);
    if (rc == 0 && version >= 0)
        rc = result_message(out, "inserted %lld rows into %s (version %lld)", (long long)c.cm.rows_written, table,
                            (long long)version);
    else if (rc == 0)
        rc = result_message(out, "inserted 0 rows into %s (no new version)", table);
cleanup:
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_ins");
    compute_columns_free(cols, ncols);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    buf_free(&sql);
    return rc;
}

int ops_flush_append(loch_lake *lake, const char *table, const char *src, const char *app_id, int64_t txn_version,
                     const log_txn *more, size_t nmore, int64_t *version, int64_t counts[2])
{
    snapshot *s = NULL;
    compute_column *cols = NULL;
    size_t ncols = 0;
    buf sql = BUF_INIT;
    txlog_commit c;
    *version = -1;
    counts[0] = counts[1] = 0;
    txlog_commit_init(&c, table, "WRITE");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    /* a flush killed after its commit left these LSNs in the log: the table has them */
    if (rc < 0 || snapshot_txn_version(s, app_id) >= txn_version)
        goto cleanup;
    rc = write_columns_of(s, &cols, &ncols);
    rc = rc ? rc : txlog_commit_against(&c, s);
    rc = rc ? rc : commit_parameter(&c.cm, "mode", "Append");
    rc = rc ? rc : commit_parameter(&c.cm, "source", "write-ahead log");
    rc = rc ? rc : commit_read_app_id(&c.cm, app_id);
    rc = rc ? rc : commit_append(&c.cm, &(log_action){.kind = LOG_TXN, .u.txn = {app_id, txn_version, time_now_ms()}});
    for (size_t i = 0; rc == 0 && i < nmore; i++)
        rc = commit_append(&c.cm, &(log_action){.kind = LOG_TXN, .u.txn = more[i]});
    rc = rc || buf_puts(&sql, "SELECT ") || ops_put_columns(&sql, "", s) ||
         buf_printf(&sql, " FROM %s ORDER BY __lsn", src) ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : write_data_file(lake, &c, s->metadata.schema_string, sql.data, cols, ncols);
    lake_hold(lake, "flush-commit");
    rc = rc ? rc : txlog_commit_run(lake, &c, version);
    if (rc < 0 && *version < 0) /* not committed: the file it wrote goes */
        txlog_commit_abort(lake, &c);
    if (rc == 0)
        counts[1] = c.cm.rows_written;
cleanup:
    compute_columns_free(cols, ncols);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    buf_free(&sql);
    return rc;
}
