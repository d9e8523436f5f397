/*
 * ingest/commit.c - an ingest's one commit: each input's rows written as one data file
 * of the commit, tagged with the SHA-256 of its bytes; any schema change; with --mode
 * overwrite or widened columns, the removal of the old files (whose rows are rewritten
 * in the same commit when columns widened); then txlog_commit_run. The commit is data
 * (core/commit.h), written and run as every loch commit is (ops/write.c, ops/txlog.c);
 * ingest adds its operationParameters (mode, files and their hashes).
 *
 * Invariants:
 *   - A failure leaves nothing that stays: data files written before it are removed
 *     (txlog_commit_abort), and from txlog_commit_run on the commit cleans up after
 *     itself.
 *   - The same bytes go in once: a live data file tagged with an input's hash makes the
 *     input a skip (ingest_already_in), and a concurrent commit that added the same
 *     bytes first makes this ingest the no-op it would have been a moment later
 *     (the hashes are in the commit's read set: commit_read_source).
 *   - Rows the engine sets aside (--rejects) are gathered while the files are written
 *     and stored in the rejects table after the commit; an existing rejects table with
 *     other columns is refused before anything is written.
 */
#include "ingest/ingest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arrow.h"
#include "util/misc.h"

int ingest_already_in(const snapshot *s, const char *sha)
{
    for (size_t i = 0; s && i < s->file_count; i++)
        if (commit_file_has_source(&s->files[i], sha))
            return 1;
    return 0;
}

/* The table's rows rewritten with widened column types: one more source of the commit,
 * tagged with every source hash the old files carried (so those stay ingested). */
static int rewrite_rows(loch_lake *lake, arena *a, const snapshot *s, const tschema *t, const char *schema_json,
                        const compute_column *cols, txlog_commit *c)
{
    buf old = BUF_INIT, shaped = BUF_INIT, hashes = BUF_INIT, id = BUF_INIT;
    input x;
    memset(&x, 0, sizeof(x));
    int rc = scan_sql(lake, c->table, s, &old);
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        buf_clear(&id);
        rc = buf_put_sql_ident(&id, s->schema.fields[i].name);
        rc = rc ? rc : ingest_push_col(&x, s->schema.fields[i].name, s->schema.fields[i].delta_type, id.data);
    }
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        const char *v = commit_file_sources(&s->files[i]);
        if (v && !strstr(hashes.data ? hashes.data : "", v))
            rc = (hashes.len ? buf_putc(&hashes, ',') : 0) || buf_puts(&hashes, v) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : ingest_shaped_sql(a, t, &x, old.data, &shaped);
    rc = rc ? rc : write_data_file_from(lake, c, schema_json, shaped.data, cols, t->n, hashes.len ? hashes.data : NULL);
    for (size_t i = 0; i < x.ncols; i++) {
        free(x.cols[i].name);
        free(x.cols[i].type);
        free(x.cols[i].expr);
    }
    free(x.cols);
    buf_free(&old);
    buf_free(&shaped);
    buf_free(&hashes);
    buf_free(&id);
    return rc;
}

static int metadata_actions(const snapshot *s, const tschema *t, int overwrite, const char *schema_json,
                            txlog_commit *c)
{
    bool upgrade = false;
    unsigned ntz = 0;
    for (size_t i = 0; i < t->n; i++)
        ntz |= strstr(t->v[i].type, "timestamp_ntz") ? PROTOCOL_NTZ : 0;
    for (size_t i = 0; s && i < s->schema.count; i++)
        ntz |= s->schema.fields[i].nullable ? 0 : PROTOCOL_NOT_NULL;
    /* A new table, or one whose new columns need a feature it lacks, gets a protocol. */
    log_action p = {.kind = LOG_PROTOCOL};
    int rc = protocol_choose(&c->cm.a, s ? &s->protocol : NULL, s ? &s->metadata.configuration : NULL, ntz,
                             &p.u.protocol, &upgrade);
    if (rc == 0 && upgrade)
        rc = commit_append(&c->cm, &p);
    char id[37];
    uuid_v4(id);
    log_metadata m = {.id = s ? s->metadata.id : id, .schema_string = schema_json, .created_time = time_now_ms()};
    if (s) {
        m.name = s->metadata.name;
        m.description = s->metadata.description;
        m.configuration = s->metadata.configuration;
        m.created_time = s->metadata.created_time;
        if (!overwrite) {
            m.partition_columns = s->metadata.partition_columns;
            m.partition_count = s->metadata.partition_count;
        }
    }
    return rc ? rc : commit_append(&c->cm, &(log_action){.kind = LOG_METADATA, .u.metadata = m});
}

/* The rows the engine set aside while writing x (its last scan of the file). */
static int collect_rejects(loch_lake *lake, const input *x)
{
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "INSERT INTO __loch_rejected SELECT ") || buf_put_sql_str(&sql, x->shown) ||
             buf_puts(&sql, ", line, column_name, error_type, error_message, csv_line FROM __loch_rejects "
                            "WHERE scan_id = (SELECT max(scan_id) FROM __loch_rejects) ORDER BY line") ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec(lake->cp, sql.data);
    buf_free(&sql);
    return rc;
}

/* An existing rejects table must have the rejects' columns, checked before the data is
 * committed: afterwards the rows would be in and their rejects lost. */
static int rejects_table_fits(loch_lake *lake, const char *rt)
{
    static const char *const want[] = {"file", "line", "column", "reason", "message", "raw"};
    snapshot *r = NULL;
    if (!txlog_exists(lake, rt))
        return 0;
    int rc = txlog_load(lake, rt, &(txlog_at){-1, 0, 0}, &r);
    if (rc < 0)
        return rc;
    int fits = r->schema.count == sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; fits && i < r->schema.count; i++)
        fits = strcmp(r->schema.fields[i].name, want[i]) == 0;
    txlog_snapshot_free(r);
    return fits ? 0 : error_set(LOCH_EINVALID, "--rejects %s: that table exists with other columns than a rejects "
                                "table's (file, line, column, reason, message, raw); name another", rt);
}

/* The set-aside rows become rows of the rejects table (created when missing), one commit. */
static int store_rejects(loch_lake *lake, const char *rejects, const char *table, int64_t *count)
{
    compute_result *r = NULL;
    loch_result *res = NULL;
    buf sql = BUF_INIT;
    int rc = compute_query(lake->cp, "SELECT count(*) FROM __loch_rejected", &r);
    *count = rc ? 0 : compute_result_i64(r, 0, 0);
    compute_result_free(r);
    if (rc == 0 && *count > 0) {
        rc = buf_puts(&sql, "CREATE TABLE IF NOT EXISTS ") || buf_put_sql_ident(&sql, rejects) ||
             buf_puts(&sql, " (file VARCHAR, line BIGINT, \"column\" VARCHAR, reason VARCHAR, message VARCHAR, "
                            "raw VARCHAR); INSERT INTO ") || buf_put_sql_ident(&sql, rejects) ||
             buf_puts(&sql, " SELECT * FROM __loch_rejected") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : loch_sql(&res, lake, sql.data);
        if (rc < 0)
            error_prefix("%s was committed, but its rejected rows could not be stored: ", table);
    }
    loch_result_free(res);
    buf_free(&sql);
    return rc;
}

int ingest_summary(loch_result **out, const char *table, int64_t version, int64_t rows, size_t files,
                   size_t skipped, int64_t bytes, double seconds, const char *schema_json, int64_t rejected)
{
    static const char *names[] = {"table", "version", "rows", "files", "skipped", "bytes", "seconds", "schema",
                                  "rejected"};
    static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER,
                                      LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NESTED,
                                      LOCH_KIND_NUMBER};
    char v[24], r[24], f[24], s[24], b[24], sec[32], rj[24];
    snprintf(rj, sizeof(rj), "%lld", (long long)rejected);
    snprintf(v, sizeof(v), "%lld", (long long)version);
    snprintf(r, sizeof(r), "%lld", (long long)rows);
    snprintf(f, sizeof(f), "%zu", files);
    snprintf(s, sizeof(s), "%zu", skipped);
    snprintf(b, sizeof(b), "%lld", (long long)bytes);
    snprintf(sec, sizeof(sec), "%.3f", seconds);
    const char *cells[] = {table, v, r, f, s, b, sec, schema_json, rj};
    int rc = result_new(out, 9, names, kinds);
    return rc ? rc : result_add_row(*out, cells);
}

/* Everything after planning, in the order it must happen: the rejects table is checked
 * before any data is written, the schema settled before the first file, and the files
 * are written into the commit that then runs. */
int ingest_commit(loch_result **out, loch_lake *lake, const ingest_plan *p, int *created_concurrently)
{
    const loch_ingest_options *opts = p->opts;
    const snapshot *s = p->s;
    const inputs *in = p->in;
    const char *table = p->table;
    meter *m = p->m;
    tschema t = {0};
    buf schema_json = BUF_INIT, shaped = BUF_INIT, params = BUF_INIT;
    compute_column *cols = NULL;
    arena a = ARENA_INIT;
    txlog_commit c;
    int64_t version = -1, rejected = 0, old_rows = 0;
    int widened = 0, rc = 0;
    txlog_commit_init(&c, table, "WRITE");
    if (opts->rejects) {
        char rt[256];
        txlog_at rat;
        rc = scan_parse_name(opts->rejects, rt, sizeof(rt), &rat);
        rc = rc ? rc : table_name_check(rt);
        rc = rc ? rc : strcmp(rt, table) == 0 ? error_set(LOCH_EINVALID, "--rejects needs a table of its own") : 0;
        rc = rc ? rc : rejects_table_fits(lake, rt);
        rc = rc ? rc : compute_exec(lake->cp, "CREATE OR REPLACE TEMP TABLE __loch_rejected (file VARCHAR, line BIGINT, "
                                              "\"column\" VARCHAR, reason VARCHAR, message VARCHAR, raw VARCHAR)");
    }
    rc = rc ? rc : ingest_merge_schema(s, opts->overwrite, in, &t, &widened);
    rc = rc ? rc : ingest_schema_of(&t, &schema_json);
    rc = rc ? rc : ingest_table_columns(&t, &cols);
    if (rc < 0)
        goto cleanup;
    rc = txlog_commit_against(&c, s);
    /* Only a change is written: a metaData action conflicts with every concurrent commit,
     * so an overwrite that keeps the schema must not claim to change it (a blind append
     * racing it then goes in, and its rows stay, as in Delta). */
    if (rc == 0 && (!s || strcmp(schema_json.data, s->metadata.schema_string) != 0 ||
                    (opts->overwrite && s->metadata.partition_count > 0)))
        rc = metadata_actions(s, &t, opts->overwrite, schema_json.data, &c);
    if (rc == 0 && (opts->overwrite || widened) && s)
        rc = write_remove_all(s, &c.cm);
    if (rc == 0 && widened && s && !opts->overwrite) {
        rc = rewrite_rows(lake, &a, s, &t, schema_json.data, cols, &c);
        old_rows = c.cm.rows_written;
    }
    /* operationParameters are strings (Delta readers want a map of strings): the
     * files go in as the JSON text of a list. */
    rc = rc ? rc : commit_parameter(&c.cm, "mode", opts->overwrite ? "Overwrite" : "Append");
    rc = rc ? rc : commit_parameter(&c.cm, "source", "loch ingest");
    rc = rc || !widened || opts->overwrite ? rc : commit_parameter(&c.cm, "rewrote", "widened columns");
    rc = rc ? rc : buf_putc(&params, '[');
    for (size_t i = 0, first = 1; rc == 0 && i < in->n; i++) {
        input *x = &in->v[i];
        if (x->skip)
            continue;
        buf_clear(&shaped);
        atomic_store(&m->file, x->shown);
        atomic_store(&m->phase, 1);
        atomic_store(&m->expect, x->records);
        atomic_store(&m->writing, x->bytes);
        rc = ingest_shaped_sql(&a, &t, x, p->sqls[i].data, &shaped);
        rc = rc ? rc : write_data_file_from(lake, &c, schema_json.data, shaped.data, cols, t.n, x->sha);
        atomic_store(&m->rows, c.cm.rows_written - old_rows);
        atomic_fetch_add(&m->written, x->bytes);
        atomic_store(&m->expect, 0);
        atomic_store(&m->writing, 0);
        rc = rc || !x->rejects ? rc : collect_rejects(lake, x);
        if (rc < 0) {
            const char *why = x->arrow && x->arrow->release ? x->arrow->get_last_error(x->arrow) : NULL;
            if (why) /* the Arrow reader refused a batch: its words, not the engine's wrapping */
                error_set(LOCH_EINVALID, "%s", why);
            ingest_drop_sql_excerpt();
            ingest_explain_utf8(x);
            error_prefix("%s: ", x->shown);
            break;
        }
        if (rc == 0 && !opts->force && !opts->overwrite)
            rc = commit_read_source(&c.cm, x->sha);
        rc = rc || (first ? 0 : buf_putc(&params, ',')) || buf_puts(&params, "{\"name\":") ||
             buf_put_json_str(&params, x->shown) || buf_printf(&params, ",\"sha256\":\"%s\"}", x->sha)
                 ? LOCH_ENOMEM : 0;
        first = 0;
    }
    rc = rc ? rc : buf_putc(&params, ']');
    rc = rc ? rc : commit_parameter(&c.cm, "files", params.data);
    if (rc < 0) {
        txlog_commit_abort(lake, &c); /* files written before the failure */
        goto cleanup;
    }
    atomic_store(&m->phase, 2);
    /* From here on the commit cleans up after itself (and keeps a commit that landed). */
    rc = txlog_commit_run(lake, &c, &version);
    if (rc == 0 && version >= 0)
        ops_auto_optimize(lake, table);
    *created_concurrently = rc == LOCH_EEXISTS && c.cm.read_version < 0;
    if (rc < 0 && c.duplicate) {
        /* The same bytes went in concurrently: this ingest is the no-op it would have
         * been a moment later (its own files are gone already). */
        error_clear();
        rc = ingest_summary(out, table, -1, 0, 0, in->n, 0, time_mono() - p->started, schema_json.data, 0);
        if (rc == 0)
            (*out)->message = strdup("already ingested: the same bytes were ingested concurrently");
        goto cleanup;
    }
    if (rc == 0 && opts->rejects)
        rc = store_rejects(lake, opts->rejects, table, &rejected);
    if (rc == 0)
        rc = ingest_summary(out, table, version, c.cm.rows_written - old_rows, p->used, p->skipped, p->bytes,
                            time_mono() - p->started, schema_json.data, rejected);
cleanup:
    compute_columns_free(cols, t.n);
    tschema_free(&t);
    txlog_commit_free(&c);
    buf_free(&schema_json);
    buf_free(&shaped);
    buf_free(&params);
    arena_free(&a);
    return rc;
}
