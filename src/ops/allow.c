/*
 * ops/allow.c - what user SQL may run (docs/http.md, "Security model").
 *
 * The engine's parser decides what a statement is (compute_is_query: parsed only, never
 * bound, since binding some statements already acts); loch keeps the allow-list:
 *   - text loch places inside its own statements (CREATE TABLE ... AS <select>, an
 *     export's COPY (<select>)) must be exactly one query, in every lake: otherwise a
 *     ')' in it could close loch's statement and open another;
 *   - in a sandboxed lake (the HTTP API, --sandbox) the statements the engine runs for
 *     the user are queries, and EXPLAIN [ANALYZE] of a query, nothing else: no COPY,
 *     EXPORT or ATTACH (files written in the lake outside loch's commits), no CREATE,
 *     SET, USE or BEGIN (state that would outlive the request and change what the next
 *     one reads), and no call of the few functions that change the engine's state or
 *     write files from inside a query (setseed, enable_logging, ...).
 * A trusted lake (the CLI without --sandbox) runs any statement: its user already owns
 * the files. loch's own commands (CREATE TABLE, INSERT INTO, DROP TABLE, ALTER TABLE ...
 * SET TBLPROPERTIES on lake tables) never reach here: ops/sql.c carries them out.
 */
#include "ops/ops.h"

#include <string.h>
#include <strings.h>

#include "core/sqlscan.h"

/* The first word of sql names the statement in the refusal (the decision was the
 * engine parser's). */
static int refuse(const char *sql)
{
    size_t pos = 0;
    sql_token t;
    int n = sqlscan_next(sql, strlen(sql), &pos, &t) == 0 && t.kind == TOK_WORD && t.len < 20 ? (int)t.len : 0;
    return error_set(LOCH_EPERM, "%s%.*s statements are not allowed in a sandboxed lake: it runs queries (SELECT, "
                     "EXPLAIN, DESCRIBE, SHOW) and loch's table commands (CREATE TABLE, INSERT INTO, DELETE, UPDATE, "
                     "TRUNCATE, DROP TABLE)",
                     n ? "" : "such ", n, n ? sql + t.start : "");
}

/* Functions a sandboxed query may not call: they change the engine's state for later
 * queries of other clients (the random seed, logging, checkpoints) or write files
 * (a log to a file of the caller's choosing); and loch_keep, the filter loch's own
 * scans call with the relations it registers (adapters/compute.h), which is not the
 * user's to call. Found in the engine's parse tree - which is why query, query_table and
 * json_execute_serialized_sql are refused too: they parse and run a string later, out
 * of this check's sight (a sandboxed query('FROM enable_logging(...)') crashed the server
 * and showed one client another's SQL). */
static const char *const unsafe_functions[] = {"setseed", "enable_logging", "disable_logging", "truncate_duckdb_logs",
                                               "write_log", "checkpoint", "force_checkpoint", "loch_keep",
                                               "query", "query_table", "json_execute_serialized_sql", NULL};

int allow_query(loch_lake *lake, const char *sql)
{
    int query;
    int rc = compute_is_query(lake->cp, sql, lake->opts.sandbox ? unsafe_functions : NULL, &query);
    if (rc == LOCH_EPERM)
        error_prefix("sandboxed SQL: ");
    return rc ? rc : query ? 0 : refuse(sql);
}

int allow_functions(loch_lake *lake, const char *sql)
{
    if (!lake->opts.sandbox)
        return 0;
    size_t len = strlen(sql), pos = 0;
    sql_token t, prev = {TOK_END, 0, 0};
    int rc;
    while ((rc = sqlscan_next(sql, len, &pos, &t)) == 0 && t.kind != TOK_END) {
        if (t.kind == TOK_PUNCT && sql[t.start] == '(' && (prev.kind == TOK_WORD || prev.kind == TOK_QUOTED)) {
            size_t s0 = prev.start + (prev.kind == TOK_QUOTED), n = prev.len - 2 * (prev.kind == TOK_QUOTED);
            for (size_t i = 0; unsafe_functions[i]; i++)
                if (strlen(unsafe_functions[i]) == n && strncasecmp(sql + s0, unsafe_functions[i], n) == 0)
                    return error_set(LOCH_EPERM, "sandboxed SQL: the function %s is not allowed", unsafe_functions[i]);
        }
        prev = t;
    }
    return rc;
}

int allow_statement(loch_lake *lake, const char *sql, int *is_query)
{
    *is_query = -1; /* a trusted lake does not parse it: unknown */
    if (!lake->opts.sandbox)
        return 0;
    *is_query = 0;
    /* EXPLAIN [ANALYZE | (options)] runs or plans what it explains: a query, too. */
    size_t pos;
    int rc = sqlscan_explained(sql, strlen(sql), &pos);
    if (rc < 0)
        return rc;
    if (pos == 0) {
        rc = allow_query(lake, sql);
        *is_query = rc == 0;
        return rc;
    }
    return allow_query(lake, sql + pos);
}
