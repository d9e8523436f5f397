/*
 * ops/sql.c - loch_sql(): runs SQL text statement by statement.
 *
 * Statements that write lake tables are recognized here and run as Delta commits:
 *   CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (cols) | AS SELECT ...
 *   INSERT INTO t ...
 *   DROP TABLE [IF EXISTS] t
 *   ALTER TABLE t SET TBLPROPERTIES ('key' = 'value', ...)
 *   DELETE FROM t ... / UPDATE t SET ... / MERGE INTO t ... / TRUNCATE [TABLE] t   (ops/dml.c)
 *   OPTIMIZE t ... / VACUUM t ... / RESTORE [TABLE] t TO VERSION AS OF n      (ops/maintain.c)
 * Other ALTERs on a lake table are refused with a clear message. TEMP tables, qualified names and every
 * other statement go to the SQL engine unchanged; lake tables are resolved by name
 * during its binding (ops/scan.c), pinned for the statement. One table, verbs[], names
 * the first words loch looks at and how each runs; running, parameters and streams all
 * ask it (classify), so a new verb is one row.
 */
#include "ops/ops.h"

#include "formats/arrow_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/sqlscan.h"
#include "util/misc.h"

typedef struct {
    const char *sql;
    size_t len, pos;
} lexer;

static int next(lexer *lx, sql_token *t) { return sqlscan_next(lx->sql, lx->len, &lx->pos, t); }
static int is(lexer *lx, const sql_token *t, const char *w) { return sqlscan_is(lx->sql, t, w); }
static int is_punct(lexer *lx, const sql_token *t, char c) { return t->kind == TOK_PUNCT && lx->sql[t->start] == c; }

/* Reads a table name token into out (lowercased, quotes removed). Returns 1 when the
 * token is a plain one-part name or main.name (lake tables are in the engine's default
 * schema, as queries see them), 0 when it is not a lake-table reference. */
static int read_plain_name(lexer *lx, const sql_token *t, char *out, size_t cap);

static int read_name(lexer *lx, const sql_token *t, char *out, size_t cap)
{
    /* memory.main.t, main.t, memory.t (quoted or not): the engine's default catalog and
     * schema, where queries see lake tables too */
    size_t q = t->kind == TOK_QUOTED;
    bool main_ = (t->kind == TOK_WORD || q) && t->len - 2 * q == 4 && strncasecmp(lx->sql + t->start + q, "main", 4) == 0;
    bool memory = (t->kind == TOK_WORD || q) && t->len - 2 * q == 6 &&
                  strncasecmp(lx->sql + t->start + q, "memory", 6) == 0;
    if (main_ || memory) {
        size_t save = lx->pos;
        sql_token dot, name;
        if (next(lx, &dot) == 0 && is_punct(lx, &dot, '.') && next(lx, &name) == 0 &&
            (name.kind == TOK_WORD || name.kind == TOK_QUOTED))
            return memory ? read_name(lx, &name, out, cap) : read_plain_name(lx, &name, out, cap);
        lx->pos = save;
    }
    return read_plain_name(lx, t, out, cap);
}

/* One name token (no prefix) into out, lowercased, quotes removed; 0 when a dot follows
 * (schema.table of the engine's own) or the token is no name. */
static int read_plain_name(lexer *lx, const sql_token *t, char *out, size_t cap)
{
    size_t n = 0;
    if (t->kind == TOK_WORD) {
        for (size_t i = 0; i < t->len && n + 1 < cap; i++) {
            char c = lx->sql[t->start + i];
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    } else if (t->kind == TOK_QUOTED) {
        for (size_t i = 1; i + 1 < t->len && n + 1 < cap; i++) {
            char c = lx->sql[t->start + i];
            if (c == '"')
                i++;
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    } else {
        return 0;
    }
    out[n] = '\0';
    size_t save = lx->pos;
    sql_token dot;
    if (next(lx, &dot) == 0 && is_punct(lx, &dot, '.'))
        return 0; /* schema.table: an engine object, not a lake table */
    lx->pos = save;
    return 1;
}

static int run_create(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    sql_token t;
    int or_replace = 0, if_not_exists = 0, rc;
    char name[256];
    if ((rc = next(lx, &t)) < 0)
        return rc;
    if (is(lx, &t, "OR")) {
        if ((rc = next(lx, &t)) < 0 || !is(lx, &t, "REPLACE") || (rc = next(lx, &t)) < 0)
            return rc;
        or_replace = 1;
    }
    if (!is(lx, &t, "TABLE"))
        return 0; /* TEMP tables, views, macros, ... are the engine's */
    if ((rc = next(lx, &t)) < 0)
        return rc;
    if (is(lx, &t, "IF")) {
        sql_token a, b;
        if ((rc = next(lx, &a)) < 0 || (rc = next(lx, &b)) < 0 || (rc = next(lx, &t)) < 0)
            return rc;
        if_not_exists = 1;
    }
    if (!read_name(lx, &t, name, sizeof(name)))
        return 0;
    *handled = 1;
    if ((rc = next(lx, &t)) < 0)
        return rc;
    const char *rest = lx->sql + t.start;
    if (is_punct(lx, &t, '(')) {
        char *cols = strndup(rest, lx->len - t.start);
        if (!cols)
            return error_set(LOCH_ENOMEM, "out of memory");
        if (strstr(cols, " AS SELECT") || strstr(cols, " as select")) {
            free(cols);
            return error_set(LOCH_EUNSUPPORTED, "CREATE TABLE with both columns and AS is not supported; "
                             "use CREATE TABLE t AS SELECT CAST(...) AS col ...");
        }
        rc = ops_create_table(lake, name, NULL, cols, or_replace, if_not_exists, out);
        free(cols);
        return rc;
    }
    if (!is(lx, &t, "AS"))
        return error_set(LOCH_EINVALID, "expected a column list or AS after CREATE TABLE %s", name);
    char *select = strndup(lx->sql + lx->pos, lx->len - lx->pos);
    rc = select ? ops_create_table(lake, name, select, NULL, or_replace, if_not_exists, out)
                : error_set(LOCH_ENOMEM, "out of memory");
    free(select);
    return rc;
}

/* Whether the engine has a table of this name (a TEMP table the session made). */
static bool engine_has_table(loch_lake *lake, const char *name)
{
    compute_result *r = NULL;
    compute_param p = {COMPUTE_STRING, name};
    bool has = compute_query_params(lake->cp, "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = $1",
                                    &p, 1, &r) == 0 && compute_result_i64(r, 0, 0) > 0;
    compute_result_free(r);
    error_clear();
    return has;
}

static int run_insert(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    sql_token t;
    char name[256];
    int rc = next(lx, &t);
    if (rc < 0)
        return rc;
    if (is(lx, &t, "OR")) {
        sql_token what;
        if ((rc = next(lx, &what)) < 0 || (rc = next(lx, &t)) < 0 || !is(lx, &t, "INTO") || (rc = next(lx, &t)) < 0)
            return rc;
        if (read_name(lx, &t, name, sizeof(name)) && txlog_exists(lake, name))
            return *handled = 1, error_set(LOCH_EUNSUPPORTED, "INSERT OR %.*s into lake table \"%s\" is not "
                                           "supported yet (upserts come with the write path)", (int)what.len,
                                           lx->sql + what.start, name);
        return 0;
    }
    if (!is(lx, &t, "INTO") || (rc = next(lx, &t)) < 0 || !read_name(lx, &t, name, sizeof(name)))
        return rc;
    if (!txlog_exists(lake, name)) {
        if (table_name_check(name) < 0 || engine_has_table(lake, name))
            return 0; /* not a lake name at all, or a TEMP table: the engine's */
        *handled = 1;
        if ((rc = guard_check_dir(lake, name)) < 0)
            return rc;
        return error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist (create it with CREATE TABLE)", name);
    }
    *handled = 1;
    return ops_insert(lake, name, lx->sql + lx->pos, out);
}

static int run_drop(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    sql_token t;
    char name[256];
    int if_exists = 0, rc = next(lx, &t);
    if (rc < 0 || !is(lx, &t, "TABLE") || (rc = next(lx, &t)) < 0)
        return rc;
    if (is(lx, &t, "IF")) {
        sql_token e;
        if ((rc = next(lx, &e)) < 0 || (rc = next(lx, &t)) < 0)
            return rc;
        if_exists = 1;
    }
    if (!read_name(lx, &t, name, sizeof(name)))
        return 0;
    size_t save = lx->pos;
    if (next(lx, &t) == 0 && t.kind != TOK_END && !is(lx, &t, "CASCADE") && !is(lx, &t, "RESTRICT"))
        return 0;
    lx->pos = save;
    if (!txlog_exists(lake, name) && table_name_check(name) < 0)
        return 0;
    *handled = 1;
    if ((rc = loch_table_drop(lake, name, if_exists)) < 0)
        return rc;
    return result_message(out, "dropped table %s", name);
}

/* A string literal token's text, unquoted ('' -> '), in the arena-free way: malloc. */
static char *unquote(lexer *lx, const sql_token *t)
{
    if (t->kind != TOK_STRING || lx->sql[t->start] != '\'')
        return NULL;
    char *out = malloc(t->len), *w = out;
    for (size_t i = 1; out && i + 1 < t->len; i++) {
        *w++ = lx->sql[t->start + i];
        if (lx->sql[t->start + i] == '\'')
            i++;
    }
    if (out)
        *w = '\0';
    return out;
}

/* ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', ...); lx is past "ALTER TABLE t". */
static int run_set_properties(loch_lake *lake, lexer *lx, const char *table, loch_result **out)
{
    sql_token t, k, eq, v;
    char *keys[64], *values[64];
    size_t n = 0;
    int rc = next(lx, &t);
    if (rc == 0 && !is_punct(lx, &t, '('))
        rc = error_set(LOCH_EINVALID, "expected ( after SET TBLPROPERTIES");
    while (rc == 0) {
        if ((rc = next(lx, &k)) < 0 || (rc = next(lx, &eq)) < 0 || (rc = next(lx, &v)) < 0)
            break;
        if (n == 64 || !is_punct(lx, &eq, '=') || !(keys[n] = unquote(lx, &k))) {
            rc = error_set(LOCH_EINVALID, "expected 'key' = 'value' in SET TBLPROPERTIES");
            break;
        }
        if (!(values[n] = unquote(lx, &v))) {
            free(keys[n]);
            rc = error_set(LOCH_EINVALID, "property values are quoted strings: 'key' = 'value'");
            break;
        }
        n++;
        if ((rc = next(lx, &t)) < 0 || is_punct(lx, &t, ')'))
            break;
        if (!is_punct(lx, &t, ','))
            rc = error_set(LOCH_EINVALID, "expected , or ) in SET TBLPROPERTIES");
    }
    if (rc == 0 && (next(lx, &t) < 0 || t.kind != TOK_END))
        rc = error_set(LOCH_EINVALID, "unexpected text after SET TBLPROPERTIES (...)");
    if (rc == 0)
        rc = ops_set_properties(lake, table, (const char **)keys, (const char **)values, n, out);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
    return rc;
}

static int run_dml(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    sql_token t;
    char name[256];
    int rc = next(lx, &t);
    if (rc == 0 && (is(lx, &t, "FROM") || is(lx, &t, "INTO") || is(lx, &t, "TABLE")))
        rc = next(lx, &t);
    if (rc < 0 || !read_name(lx, &t, name, sizeof(name)))
        return rc;
    size_t save = lx->pos;
    sql_token a, b;
    if (!txlog_exists(lake, name)) {
        /* SET TBLPROPERTIES is loch's syntax alone: the engine would only call it a
         * syntax error, so say what is wrong. */
        bool props = sqlscan_is(lx->sql, verb, "ALTER") && next(lx, &a) == 0 && is(lx, &a, "SET") &&
                     next(lx, &b) == 0 && is(lx, &b, "TBLPROPERTIES");
        lx->pos = save;
        /* A sandboxed engine changes no table of its own either: the name is simply
         * missing (the engine would say the statement is not allowed). */
        if (!props && !lake->opts.sandbox)
            return rc;
        *handled = 1;
        return error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", name);
    }
    *handled = 1;
    /* DELETE and UPDATE of a table with a primary key go through its log */
    if (sqlscan_is(lx->sql, verb, "DELETE") || sqlscan_is(lx->sql, verb, "UPDATE")) {
        snapshot *s = NULL;
        if ((rc = txlog_load(lake, name, &(txlog_at){-1, 0, 0}, &s)) < 0)
            return rc;
        int logged = snapshot_property(s, TAIL_PK_PROPERTY) != NULL; /* without a key: a Delta commit */
        rc = logged ? ops_dml_logged(lake, name, s, lx->sql, save, sqlscan_is(lx->sql, verb, "UPDATE"), out) : 0;
        txlog_snapshot_free(s);
        if (logged)
            return rc;
    }
    /* DDL and other DML read and change the Delta table: the log's changes go in first
     * (for ALTER with the log fenced until it commits: a write between would be left in a
     * log the new properties may no longer read) */
    if (sqlscan_is(lx->sql, verb, "ALTER") && next(lx, &a) == 0 && is(lx, &a, "SET") && next(lx, &b) == 0 &&
        is(lx, &b, "TBLPROPERTIES")) {
        struct wal_fence *fence = NULL;
        rc = tail_flush_fenced(lake, name, &fence);
        rc = rc < 0 ? rc : run_set_properties(lake, lx, name, out);
        tail_unfence(fence);
        return rc;
    }
    lx->pos = save;
    if ((rc = tail_flush_if_any(lake, name)) < 0)
        return rc;
    lx->pos = save;
    if (sqlscan_is(lx->sql, verb, "DELETE"))
        return ops_delete(lake, name, lx->sql, lx->pos, out);
    if (sqlscan_is(lx->sql, verb, "UPDATE"))
        return ops_update(lake, name, lx->sql, lx->pos, out);
    if (sqlscan_is(lx->sql, verb, "TRUNCATE")) {
        if (next(lx, &a) < 0 || a.kind != TOK_END)
            return error_set(LOCH_EINVALID, "unexpected text after TRUNCATE %s", name);
        return ops_truncate(lake, name, out);
    }
    if (sqlscan_is(lx->sql, verb, "MERGE"))
        return ops_merge(lake, name, lx->sql, lx->pos, out);
    return error_set(LOCH_EUNSUPPORTED, "%.*s on lake table \"%s\" is not supported yet (SET TBLPROPERTIES is)",
                     (int)verb->len, lx->sql + verb->start, name);
}

/* A lake table's name after the verb (and an optional TABLE); 0 when the statement is
 * not about a lake table (then the engine's). With `only_lake` (OPTIMIZE and RESTORE,
 * which the engine does not know, and VACUUM with loch's own words after the name), a
 * plain name that is no lake table is an error saying so (*handled set), not the
 * engine's "syntax error at or near OPTIMIZE". */
static int lake_table_after(loch_lake *lake, lexer *lx, char *name, size_t cap, bool only_lake, int *handled, int *rc)
{
    sql_token t;
    if (next(lx, &t) < 0)
        return 0;
    if (is(lx, &t, "TABLE") && next(lx, &t) < 0)
        return 0;
    if (!read_name(lx, &t, name, cap))
        return 0;
    if (txlog_exists(lake, name))
        return 1;
    if (only_lake) {
        *handled = 1;
        *rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", name);
    }
    return 0;
}

/* FLUSH [TABLE] t: the table's write-ahead log into one Delta commit (ops/tail.c). */
static int run_flush(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    char name[256];
    sql_token t;
    int rc = 0;
    if (!lake_table_after(lake, lx, name, sizeof(name), true, handled, &rc))
        return rc;
    *handled = 1;
    if ((rc = next(lx, &t)) < 0)
        return rc;
    if (t.kind != TOK_END && !is_punct(lx, &t, ';'))
        return error_set(LOCH_EINVALID, "unexpected text after FLUSH %s", name);
    return tail_flush(lake, name, 0, out);
}

/* Whether a word loch's VACUUM takes (RETAIN, DRY, FORCE) follows the name. */
static bool vacuum_words_follow(lexer *lx)
{
    lexer ahead = *lx;
    sql_token t;
    return next(&ahead, &t) == 0 && (is(&ahead, &t, "RETAIN") || is(&ahead, &t, "DRY") || is(&ahead, &t, "FORCE"));
}

/* A size: bytes, or a number with KB, MB or GB (powers of 1024), bare or quoted. */
static int parse_size(const char *text, size_t len, int64_t *out)
{
    char buf_[64], *end;
    if (len >= sizeof(buf_))
        return error_set(LOCH_EINVALID, "bad size");
    memcpy(buf_, text, len);
    buf_[len] = '\0';
    size_t quoted = len >= 2 && buf_[0] == '\'' && buf_[len - 1] == '\'';
    if (quoted)
        buf_[len - 1] = '\0'; /* the message names the size, not its quotes */
    char *p = buf_ + quoted;
    double v = strtod(p, &end);
    while (*end == ' ')
        end++;
    int64_t unit = 1;
    if (!strncasecmp(end, "KB", 2))
        unit = 1024, end += 2;
    else if (!strncasecmp(end, "MB", 2))
        unit = 1024 * 1024, end += 2;
    else if (!strncasecmp(end, "GB", 2))
        unit = 1024LL * 1024 * 1024, end += 2;
    if (end == p || *end || v <= 0 || v * unit < 1024 * 1024 || v * unit > 1e15)
        return error_set(LOCH_EINVALID, "target size \"%s\": give bytes or a number with KB, MB or GB, at least 1MB",
                         p);
    *out = (int64_t)(v * unit);
    return 0;
}

/* OPTIMIZE t [ZORDER BY (a, b) | a, b] [TARGET SIZE n]  (WHERE needs partitions) */
static int run_optimize(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    char name[256], cols[4][256];
    const char *z[4];
    size_t nz = 0;
    int64_t target = 0;
    sql_token t;
    int rc = 0;
    if (!lake_table_after(lake, lx, name, sizeof(name), true, handled, &rc))
        return rc;
    *handled = 1;
    while (rc == 0 && (rc = next(lx, &t)) == 0 && t.kind != TOK_END) {
        if (is(lx, &t, "WHERE"))
            return error_set(LOCH_EUNSUPPORTED, "OPTIMIZE ... WHERE chooses partitions, and loch writes no "
                             "partitioned table yet: optimize the whole table");
        if (is(lx, &t, "ZORDER")) {
            if ((rc = next(lx, &t)) < 0 || !is(lx, &t, "BY"))
                return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected ZORDER BY");
            size_t save = lx->pos;
            bool paren = next(lx, &t) == 0 && is_punct(lx, &t, '(');
            if (!paren)
                lx->pos = save;
            for (;;) {
                if ((rc = next(lx, &t)) < 0)
                    return rc;
                if (nz == 4 || !read_name(lx, &t, cols[nz], sizeof(cols[nz])))
                    return error_set(LOCH_EINVALID, "ZORDER BY takes 1 to 4 column names");
                /* read_name lowercases; the schema's case is what the column has */
                memcpy(cols[nz], lx->sql + t.start + (t.kind == TOK_QUOTED), t.len - 2 * (t.kind == TOK_QUOTED));
                cols[nz][t.len - 2 * (t.kind == TOK_QUOTED)] = '\0';
                z[nz] = cols[nz];
                nz++;
                save = lx->pos;
                if (next(lx, &t) < 0 || !is_punct(lx, &t, ',')) {
                    lx->pos = save;
                    break;
                }
            }
            if (paren && ((rc = next(lx, &t)) < 0 || !is_punct(lx, &t, ')')))
                return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected ) after the ZORDER BY columns");
        } else if (is(lx, &t, "TARGET")) {
            sql_token sz, size2;
            if ((rc = next(lx, &t)) < 0 || !is(lx, &t, "SIZE") || (rc = next(lx, &sz)) < 0)
                return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected TARGET SIZE n");
            size_t save = lx->pos, len = sz.len;
            if (sz.kind == TOK_NUMBER && next(lx, &size2) == 0 && size2.kind == TOK_WORD)
                len = size2.start + size2.len - sz.start;
            else
                lx->pos = save;
            if ((rc = parse_size(lx->sql + sz.start, len, &target)) < 0)
                return rc;
        } else {
            return error_set(LOCH_EINVALID, "unexpected \"%.*s\" in OPTIMIZE %s", (int)t.len, lx->sql + t.start, name);
        }
    }
    rc = rc < 0 ? rc : tail_flush_if_any(lake, name);
    return rc < 0 ? rc : ops_optimize(lake, name, z, nz, target, out);
}

/* VACUUM t [RETAIN n HOURS] [DRY RUN] [FORCE]; the engine's own VACUUM otherwise. */
static int run_vacuum(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    char name[256];
    sql_token t;
    int64_t retain = -1;
    bool dry = false, force = false;
    int rc = 0;
    lexer at = *lx; /* VACUUM [TABLE] name followed by loch's words: loch's, table or not */
    sql_token w;
    if (next(&at, &w) == 0 && is(&at, &w, "TABLE"))
        next(&at, &w);
    bool ours = read_name(&at, &w, name, sizeof(name)) && vacuum_words_follow(&at);
    if (!lake_table_after(lake, lx, name, sizeof(name), ours, handled, &rc))
        return rc;
    *handled = 1;
    while (rc == 0 && (rc = next(lx, &t)) == 0 && t.kind != TOK_END) {
        if (is(lx, &t, "RETAIN")) {
            sql_token n, unit;
            if ((rc = next(lx, &n)) < 0 || (rc = next(lx, &unit)) < 0)
                return rc;
            char num[64];
            char *end;
            snprintf(num, sizeof(num), "%.*s", (int)n.len, lx->sql + n.start);
            double h = strtod(num, &end);
            if (n.kind != TOK_NUMBER || *end || h < 0 || h > 1e7 || !is(lx, &unit, "HOURS"))
                return error_set(LOCH_EINVALID, "expected RETAIN <number> HOURS");
            retain = (int64_t)(h * 3600000.0);
        } else if (is(lx, &t, "DRY")) {
            if ((rc = next(lx, &t)) < 0 || !is(lx, &t, "RUN"))
                return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected DRY RUN");
            dry = true;
        } else if (is(lx, &t, "FORCE")) {
            force = true;
        } else {
            return error_set(LOCH_EINVALID, "unexpected \"%.*s\" in VACUUM %s", (int)t.len, lx->sql + t.start, name);
        }
    }
    return rc < 0 ? rc : ops_vacuum(lake, name, retain, dry, force, out);
}

/* RESTORE [TABLE] t [TO] VERSION AS OF n | TIMESTAMP AS OF 'ts' */
static int run_restore(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled)
{
    (void)verb;
    char name[256];
    sql_token t, as, of, v;
    txlog_at at = {-1, 0, 0};
    int rc = 0;
    if (!lake_table_after(lake, lx, name, sizeof(name), true, handled, &rc))
        return rc;
    *handled = 1;
    rc = next(lx, &t);
    if (rc == 0 && is(lx, &t, "TO"))
        rc = next(lx, &t);
    bool version = rc == 0 && is(lx, &t, "VERSION"), stamp = rc == 0 && is(lx, &t, "TIMESTAMP");
    if (rc < 0 || (!version && !stamp) || next(lx, &as) < 0 || !is(lx, &as, "AS") || next(lx, &of) < 0 ||
        !is(lx, &of, "OF") || next(lx, &v) < 0)
        return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected RESTORE %s TO VERSION AS OF n or TIMESTAMP AS OF "
                                       "'2026-11-27T10:00:00Z'", name);
    char text[96];
    snprintf(text, sizeof(text), "%.*s", (int)(v.len > 2 && v.kind == TOK_STRING ? v.len - 2 : v.len),
             lx->sql + v.start + (v.kind == TOK_STRING));
    if (version) {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (v.kind != TOK_NUMBER || *end || n < 0 || errno)
            return error_set(LOCH_EINVALID, "VERSION AS OF takes a version number, not %s", text);
        at.version = n;
    } else if (v.kind != TOK_STRING || iso8601_parse_ms(text, &at.timestamp_ms) < 0) {
        return error_set(LOCH_EINVALID, "TIMESTAMP AS OF takes a quoted timestamp such as '2026-11-27T10:00:00Z'");
    } else {
        at.has_timestamp = 1;
    }
    if (next(lx, &t) < 0 || t.kind != TOK_END)
        return error_set(LOCH_EINVALID, "unexpected text after RESTORE ... AS OF %s", text);
    struct wal_fence *fence = NULL; /* nothing appended between the flush and the restore */
    rc = tail_flush_fenced(lake, name, &fence);
    rc = rc < 0 ? rc : ops_restore(lake, name, &at, out);
    tail_unfence(fence);
    return rc;
}

/* The statements loch looks at, by their first word: one row each, and every other
 * statement is the engine's. `run` carries the statement out when it names a lake table
 * (and sets *handled), else leaves it to the engine. Whatever the table, none of them
 * streams (loch carries its own out whole, through loch_sql), and only `params` ones
 * take $N parameters (run by the engine then: UPDATE of a TEMP table, say; loch's own
 * commits take literal values). */
typedef enum { STMT_CREATE, STMT_INSERT, STMT_DROP, STMT_ALTER, STMT_UPDATE, STMT_DELETE, STMT_MERGE,
               STMT_TRUNCATE, STMT_OPTIMIZE, STMT_VACUUM, STMT_RESTORE, STMT_FLUSH } stmt_kind;

typedef struct {
    const char *word;
    stmt_kind kind;
    int (*run)(loch_lake *lake, lexer *lx, const sql_token *verb, loch_result **out, int *handled);
    int params;
} stmt_verb;

static const stmt_verb verbs[] = {
    {"CREATE", STMT_CREATE, run_create, 0}, {"INSERT", STMT_INSERT, run_insert, 0},
    {"DROP", STMT_DROP, run_drop, 0},       {"ALTER", STMT_ALTER, run_dml, 0},
    {"UPDATE", STMT_UPDATE, run_dml, 1}, {"DELETE", STMT_DELETE, run_dml, 1},
    {"MERGE", STMT_MERGE, run_dml, 1},   {"TRUNCATE", STMT_TRUNCATE, run_dml, 1},
    {"OPTIMIZE", STMT_OPTIMIZE, run_optimize, 0}, {"VACUUM", STMT_VACUUM, run_vacuum, 0},
    {"RESTORE", STMT_RESTORE, run_restore, 0}, {"FLUSH", STMT_FLUSH, run_flush, 0},
};

/* The verb of a statement whose first token is t, or NULL for the engine's statements. */
static const stmt_verb *classify(lexer *lx, const sql_token *t)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (is(lx, t, verbs[i].word))
            return &verbs[i];
    return NULL;
}

/* SELECT count(*) FROM t, answered from the log when every live file has a record
 * count in its stats (as Delta's own metadata-only query optimization does): opening a
 * table of ten thousand files then costs a log replay, not ten thousand file opens.
 * Returns 1 when answered, 0 to let the engine run the query. */
static int count_from_log(loch_lake *lake, lexer *lx, loch_result **out)
{
    static const char *shape[] = {"SELECT", "count", "(", "*", ")", "FROM"};
    sql_token t;
    char name[256], table[256];
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        if (next(lx, &t) < 0)
            return 0;
        int ok = t.kind == TOK_PUNCT ? t.len == 1 && lx->sql[t.start] == shape[i][0] : is(lx, &t, shape[i]);
        if (!ok)
            return 0;
    }
    if (next(lx, &t) < 0 || !read_name(lx, &t, name, sizeof(name)) || next(lx, &t) < 0 || t.kind != TOK_END)
        return 0;
    txlog_at at;
    snapshot *s = NULL;
    if (scan_parse_name(name, table, sizeof(table), &at) < 0 || table_name_check(table) < 0 ||
        txlog_load(lake, table, &at, &s) < 0) {
        error_clear();
        return 0; /* the engine reports whatever is wrong */
    }
    int answered = 0;
    /* A deletion vector's cardinality in the log is only the writer's word: the scan
     * counts by the bitmap and refuses a table where the two disagree, so a table with
     * DVs is counted by the scan, never by the log alone. */
    bool dvs = false;
    for (size_t i = 0; i < s->file_count; i++)
        dvs = dvs || s->files[i].dv.storage_type;
    /* the latest version of a table with a primary key may have changes in its log */
    bool logged = at.version < 0 && !at.has_timestamp && tail_logged(s);
    if (s->num_records >= 0 && !dvs && !logged) {
        static const char *names[] = {"count_star()"};
        static const loch_kind kinds[] = {LOCH_KIND_NUMBER};
        char n[24];
        snprintf(n, sizeof(n), "%lld", (long long)s->num_records);
        const char *cells[] = {n};
        answered = result_new(out, 1, names, kinds) == 0 && result_add_row(*out, cells) == 0;
    }
    txlog_snapshot_free(s);
    return answered;
}

/* WITH ... or EXPLAIN ... in front of a write to a lake table: loch carries such writes
 * out as commits of its own, and the engine, handed the statement whole, would only say
 * the table does not exist or is no base table. Say what is wrong instead. lx is past
 * the first word. */
static int refuse_wrapped_write(loch_lake *lake, lexer *lx, int explain)
{
    static const char *const writes[] = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"};
    sql_token t;
    int depth = 0;
    while (next(lx, &t) == 0 && t.kind != TOK_END) {
        depth += is_punct(lx, &t, '(') - is_punct(lx, &t, ')');
        size_t w = 0;
        while (w < sizeof(writes) / sizeof(writes[0]) && !is(lx, &t, writes[w]))
            w++;
        if (depth != 0 || w == sizeof(writes) / sizeof(writes[0]))
            continue;
        sql_token n;
        char name[256];
        if (next(lx, &n) == 0 && (is(lx, &n, "FROM") || is(lx, &n, "INTO") || is(lx, &n, "TABLE")))
            next(lx, &n);
        if (!read_name(lx, &n, name, sizeof(name)) || !txlog_exists(lake, name))
            return 0;
        return explain ? error_set(LOCH_EUNSUPPORTED, "EXPLAIN of %s on lake table \"%s\" is not supported: loch runs "
                                   "it as a commit of its own, not as one engine plan", writes[w], name)
                       : error_set(LOCH_EUNSUPPORTED, "a WITH clause cannot precede %s on lake table \"%s\": write "
                                   "the common table expression as a subquery of the statement", writes[w], name);
    }
    return 0;
}

/* Whether an INSERT's rows are a plain VALUES list (or DEFAULT VALUES): literals, casts
 * and operators, no query and no function call (a macro could read any table). Only
 * then is its target left unloaded: it is written, not read. */
static bool insert_of_plain_values(const char *sql, size_t len)
{
    size_t pos = 0;
    sql_token t, prev = {0};
    bool values = false;
    while (sqlscan_next(sql, len, &pos, &t) == 0 && t.kind != TOK_END) {
        if (t.kind == TOK_WORD && (sqlscan_is(sql, &t, "SELECT") || sqlscan_is(sql, &t, "FROM") ||
                                   sqlscan_is(sql, &t, "WITH") || sqlscan_is(sql, &t, "TABLE") ||
                                   sqlscan_is(sql, &t, "RETURNING")))
            return false;
        static const char *const before_parens[] = {"VALUES", "IN", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "IS",
                                                    NULL};
        bool word_then_paren = values && t.kind == TOK_PUNCT && sql[t.start] == '(' &&
                               (prev.kind == TOK_WORD || prev.kind == TOK_QUOTED);
        for (size_t k = 0; word_then_paren && prev.kind == TOK_WORD && before_parens[k]; k++)
            word_then_paren = !sqlscan_is(sql, &prev, before_parens[k]);
        if (word_then_paren)
            return false; /* a call */
        values = values || (t.kind == TOK_WORD && sqlscan_is(sql, &t, "VALUES"));
        prev = t;
    }
    return values;
}

/* A statement the engine runs that may give a name another meaning (a view, an attached
 * database, a search path) turns loch's own answers by table name (count_from_log,
 * lookup_try) off for the rest of the session. */
static void note_engine_statement(loch_lake *lake, const char *sql)
{
    static const char *const reads[] = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", "DESCRIBE", "SHOW", "SUMMARIZE",
                                        "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", NULL};
    /* an EXPLAIN (ANALYZE runs it): the statement explained is the one to look at */
    size_t len = strlen(sql), pos;
    lexer lx = {sql, len, 0};
    sql_token t;
    int rc = sqlscan_explained(sql, len, &pos);
    lx.pos = pos;
    rc = rc ? rc : next(&lx, &t);
    bool reading = rc == 0 && is_punct(&lx, &t, '(');
    for (size_t i = 0; rc == 0 && !reading && reads[i]; i++)
        reading = is(&lx, &t, reads[i]);
    if (!reading)
        lake->engine_objects = 1;
}

/* sql is one NUL-terminated statement: the verbs hand its tail to the engine. */
static int run_statement(loch_lake *lake, const char *sql, size_t len, loch_result **out)
{
    lexer lx = {sql, len, 0};
    sql_token t;
    int handled = 0, rc = next(&lx, &t);
    if (rc < 0)
        return rc;
    /* The tails the statement reads, loaded before the engine binds it. loch's own
     * maintenance verbs read none (FLUSH, DDL and OPTIMIZE work on the Delta table, and
     * flush first where the log matters); an INSERT of a plain VALUES list does not
     * read its target. */
    const stmt_verb *verb = classify(&lx, &t);
    char target[256] = "";
    if (verb && verb->kind == STMT_INSERT && insert_of_plain_values(sql, len))
        sql_write_target(sql, target, sizeof(target));
    if (!verb || verb->kind == STMT_INSERT || verb->kind == STMT_CREATE || verb->params)
        rc = tail_prepare(lake, sql, target[0] ? target : NULL);
    if (rc < 0)
        return rc;
    /* The engine's transactions cannot hold loch's commits: while one is open, loch's
     * writes are refused (txlog_commit_run) rather than committed past a ROLLBACK. */
    int begins = is(&lx, &t, "BEGIN") || is(&lx, &t, "START");
    int ends = is(&lx, &t, "COMMIT") || is(&lx, &t, "END") || is(&lx, &t, "ROLLBACK") || is(&lx, &t, "ABORT");
    if (ends)
        lake->in_transaction = 0;
    if (is(&lx, &t, "WITH") || is(&lx, &t, "EXPLAIN")) {
        lexer rest = lx;
        if ((rc = refuse_wrapped_write(lake, &rest, is(&lx, &t, "EXPLAIN"))) < 0)
            return rc;
    }
    if (verb)
        rc = verb->run(lake, &lx, &t, out, &handled);
    if (handled || rc < 0)
        return rc;
    lexer again = {sql, len, 0};
    if (!lake->opts.test_no_metadata_answers && !lake->engine_objects && count_from_log(lake, &again, out))
        return 0;
    if (lookup_try(lake, sql, len, out))
        return 0;
    loch_result *r;
    int kind;
    /* Only a CREATE defines a macro: a trusted session's is checked after it runs. */
    int creates = verb && verb->kind == STMT_CREATE && !lake->opts.sandbox;
    if ((rc = allow_statement(lake, sql, &kind)) < 0 || (rc = result_new(&r, 0, NULL, NULL)) < 0)
        return rc;
    note_engine_statement(lake, sql);
    if ((rc = compute_query(lake->cp, sql, &r->cr)) < 0 || (creates && (rc = compute_unshadow(lake->cp)) < 0)) {
        loch_result_free(r);
        return rc;
    }
    if (begins)
        lake->in_transaction = 1;
    *out = r;
    return 0;
}

int sql_write_target(const char *sql, char *table, size_t cap)
{
    static const char *const skip[] = {"INTO", "FROM", "TABLE", "OR", "REPLACE", "IF", "NOT", "EXISTS", NULL};
    lexer lx = {sql, strlen(sql), 0};
    sql_token t;
    if (next(&lx, &t) < 0 || !classify(&lx, &t))
        return 0;
    for (;;) {
        if (next(&lx, &t) < 0 || t.kind == TOK_END)
            return 0;
        bool word = false;
        for (size_t i = 0; skip[i] && !word; i++)
            word = is(&lx, &t, skip[i]);
        if (!word)
            break;
    }
    return read_name(&lx, &t, table, cap) && table_name_check(table) == 0 ? 1 : (error_clear(), 0);
}

/* The statements of the caller's text as they run: table_changes(...) rewritten to a
 * name first, then split. *sql is the text the spans index (*rewritten, freed by the
 * caller, or sql_text itself). */
static int split_statements(const char *sql_text, char **rewritten, const char **sql, sql_span **spans, size_t *n)
{
    *rewritten = NULL;
    int rc = changes_rewrite(sql_text, rewritten);
    *sql = *rewritten ? *rewritten : sql_text;
    return rc ? rc : sqlscan_split(*sql, strlen(*sql), spans, n);
}

static int sql_run(loch_result **out, loch_lake *lake, const char *sql_text)
{
    sql_span *spans = NULL;
    size_t n = 0;
    loch_result *last = NULL;
    char *rewritten = NULL;
    *out = NULL;
    lake_hold(lake, "sql");
    const char *sql;
    int rc = split_statements(sql_text, &rewritten, &sql, &spans, &n);
    if (rc == 0 && n == 0)
        rc = error_set(LOCH_EINVALID, "no SQL statement given");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        loch_result *r = NULL;
        scan_unpin(lake);
        size_t len = spans[i].end - spans[i].start;
        char *text = strndup(sql + spans[i].start, len);
        rc = text ? run_statement(lake, text, len, &r) : error_set(LOCH_ENOMEM, "out of memory");
        free(text);
        if (rc == 0) {
            loch_result_free(last);
            last = r;
        }
    }
    scan_unpin(lake);
    free(spans);
    free(rewritten);
    if (rc < 0) {
        loch_result_free(last);
        return rc;
    }
    *out = last;
    return 0;
}

/* Whether one statement only reads: the engine parses it as a query, or as EXPLAIN
 * (ANALYZE) of one (which runs only that query). Parsed, never bound or run. */
static int reads_only(loch_lake *lake, const char *text, size_t len, const sql_token *first)
{
    size_t pos = first->start + first->len;
    sql_token t;
    if (sqlscan_is(text, first, "explain") && sqlscan_next(text, len, &pos, &t) == 0 && t.kind == TOK_WORD) {
        if (sqlscan_is(text, &t, "analyze") || sqlscan_is(text, &t, "analyse"))
            pos = t.start + t.len;
        else
            pos = t.start;
        text += pos;
    }
    int query = 0;
    if (compute_is_query(lake->cp, text, NULL, &query) < 0)
        query = 0; /* does not parse: not known to read */
    error_clear();
    return query;
}

static int sql_check(loch_result **out, loch_lake *lake, const char *sql_text)
{
    static const char *const names[] = {"statement", "verb", "reads"};
    static const loch_kind kinds[] = {LOCH_KIND_NUMBER, LOCH_KIND_STRING, LOCH_KIND_BOOL};
    sql_span *spans = NULL;
    size_t n = 0;
    char *rewritten = NULL;
    *out = NULL;
    const char *sql;
    int rc = split_statements(sql_text, &rewritten, &sql, &spans, &n);
    rc = rc ? rc : result_new(out, 3, names, kinds);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = spans[i].end - spans[i].start, pos = 0;
        char *text = strndup(sql + spans[i].start, len), num[24], verb[32] = "";
        sql_token t = {TOK_END, 0, 0};
        if (!text) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        if (sqlscan_next(text, len, &pos, &t) == 0 && (t.kind == TOK_WORD || t.kind == TOK_PUNCT))
            for (size_t k = 0; k < t.len && k + 1 < sizeof(verb); k++)
                verb[k] = (char)(text[t.start + k] >= 'a' && text[t.start + k] <= 'z' ? text[t.start + k] - 32
                                                                                     : text[t.start + k]);
        error_clear();
        int reads = t.kind == TOK_WORD || (t.kind == TOK_PUNCT && text[t.start] == '(') ? reads_only(lake, text, len, &t) : 0;
        snprintf(num, sizeof(num), "%zu", i + 1);
        const char *cells[] = {num, verb, reads ? "true" : "false"};
        rc = result_add_row(*out, cells);
        free(text);
    }
    free(spans);
    free(rewritten);
    if (rc < 0) {
        loch_result_free(*out);
        *out = NULL;
    }
    return rc;
}

int loch_sql_check(loch_result **out, loch_lake *lake, const char *sql_text)
{
    api_enter(lake);
    return api_leave(lake, sql_check(out, lake, sql_text));
}

int loch_sql(loch_result **out, loch_lake *lake, const char *sql_text)
{
    api_enter(lake);
    return api_leave(lake, sql_run(out, lake, sql_text));
}

/* The engine's form of the caller's parameters (*out NULL when there are none). */
static int engine_params(const loch_param *params, size_t n, compute_param **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if (!(*out = calloc(n, sizeof(**out))))
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        (*out)[i].text = params[i].text;
        (*out)[i].kind = params[i].kind == LOCH_KIND_NUMBER ? COMPUTE_NUMBER
                       : params[i].kind == LOCH_KIND_BOOL   ? COMPUTE_BOOL : COMPUTE_STRING;
    }
    return 0;
}

static int sql_params_run(loch_result **out, loch_lake *lake, const char *sql_text, const loch_param *params,
                    size_t nparams)
{
    sql_span *spans = NULL;
    size_t n = 0;
    compute_param *cp = NULL;
    char *rewritten = NULL;
    *out = NULL;
    if (nparams == 0)
        return loch_sql(out, lake, sql_text);
    if (changes_rewrite(sql_text, &rewritten) < 0)
        return loch_error_last_code();
    const char *sql = rewritten ? rewritten : sql_text;
    int rc = sqlscan_split(sql, strlen(sql), &spans, &n);
    if (rc == 0 && n != 1)
        rc = error_set(LOCH_EINVALID, "parameters go with exactly one statement (%zu given)", n);
    lexer lx = {sql, strlen(sql), 0};
    sql_token t;
    const stmt_verb *verb = rc == 0 && (rc = next(&lx, &t)) == 0 ? classify(&lx, &t) : NULL;
    if (verb && !verb->params)
        rc = error_set(LOCH_EUNSUPPORTED, "parameters work with queries; %s takes literal values for now",
                       verb->word);
    rc = rc ? rc : engine_params(params, nparams, &cp);
    loch_result *r = NULL;
    int kind;
    scan_unpin(lake);
    rc = rc ? rc : allow_statement(lake, sql, &kind);
    rc = rc ? rc : result_new(&r, 0, NULL, NULL);
    if (rc == 0 && (rc = compute_query_params(lake->cp, sql, cp, nparams, &r->cr)) < 0) {
        loch_result_free(r);
        r = NULL;
    }
    scan_unpin(lake);
    free(cp);
    free(spans);
    free(rewritten);
    *out = r;
    return rc;
}

int loch_sql_params(loch_result **out, loch_lake *lake, const char *sql_text, const loch_param *params,
                    size_t nparams)
{
    api_enter(lake);
    return api_leave(lake, sql_params_run(out, lake, sql_text, params, nparams));
}

struct loch_stream {
    loch_lake *lake;
    compute_stream *cs;
    int arrow, schema_sent, ended;   /* sql_stream_arrow: Arrow IPC out */
    struct ArrowSchema schema;
};

/* The text of sql's one statement (no ';', comments kept in), when it is a query the
 * engine runs as it is; LOCH_EUNSUPPORTED for several statements and for the verbs
 * loch carries out itself (they run whole, through loch_sql). */
static int one_query(const char *sql, char **out)
{
    sql_span *spans = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = sqlscan_split(sql, strlen(sql), &spans, &n);
    if (rc == 0 && n != 1)
        rc = error_set(LOCH_EUNSUPPORTED, "only one query streams (%zu statements given)", n);
    if (rc == 0) {
        const char *text = sql + spans[0].start;
        size_t len = spans[0].end - spans[0].start;
        lexer lx = {text, len, 0};
        sql_token t;
        const stmt_verb *verb = (rc = next(&lx, &t)) == 0 ? classify(&lx, &t) : NULL;
        if (verb)
            rc = error_set(LOCH_EUNSUPPORTED, "%s does not stream", verb->word);
        if (rc == 0 && !(*out = strndup(text, len)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    char *rewritten = NULL;
    if (rc == 0 && (rc = changes_rewrite(*out, &rewritten)) == 0 && rewritten) {
        free(*out);
        *out = rewritten;
    }
    free(spans);
    return rc;
}

/* Opens s's engine stream (cells, or Arrow arrays when s->arrow) over sql. */
static int engine_stream(loch_lake *lake, loch_stream *s, const char *sql, const compute_param *params, size_t n)
{
    return s->arrow ? compute_arrow_open(lake->cp, sql, params, n, &s->cs, &s->schema)
                    : compute_stream_open(lake->cp, sql, params, n, &s->cs);
}

/* A stream of sql's one query: cells as text, or (arrow) Arrow arrays. */
static int open_stream(loch_stream **out, loch_lake *lake, const char *sql, const loch_param *params,
                       size_t nparams, int arrow)
{
    compute_param *cp = NULL;
    loch_stream *s = NULL;
    char *query = NULL;
    *out = NULL;
    int rc = one_query(sql, &query);
    rc = rc ? rc : engine_params(params, nparams, &cp);
    if (rc == 0 && !(s = calloc(1, sizeof(*s))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0) {
        s->lake = lake;
        s->arrow = arrow;
        scan_unpin(lake);
        /* Allowed at all (EXPLAIN too), then a query, or the caller runs it whole (the
         * engine says so for what a trusted lake did not look at). */
        int q;
        rc = allow_statement(lake, query, &q);
        rc = rc ? rc : tail_prepare(lake, query, NULL);
        if (rc == 0 && q != 1)
            note_engine_statement(lake, query);
        if (rc == 0 && q == 0)
            rc = error_set(LOCH_EUNSUPPORTED, "only queries stream");
        /* a point lookup by key: the index's answer, streamed like any other; if the
         * engine refuses it, the query itself (the engine says what is wrong) */
        lookup_plan lp;
        int opened = 0;
        if (rc == 0 && !nparams && lookup_prepare(lake, query, strlen(query), &lp)) {
            opened = engine_stream(lake, s, lp.sql, lp.params, lp.n) == 0;
            lookup_plan_free(&lp);
            if (opened)
                lake_hold(lake, "key-lookup");
            else
                error_clear();
        }
        if (rc == 0 && !opened)
            rc = engine_stream(lake, s, query, cp, nparams);
    }
    free(cp);
    free(query);
    if (rc < 0) {
        if (s)
            scan_unpin(lake);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int loch_sql_stream(loch_stream **out, loch_lake *lake, const char *sql, const loch_param *params, size_t nparams)
{
    return open_stream(out, lake, sql, params, nparams, 0);
}

size_t loch_stream_columns(const loch_stream *s) { return compute_stream_columns(s->cs); }
const char *loch_stream_name(const loch_stream *s, size_t col) { return compute_stream_name(s->cs, col); }
const char *loch_stream_type(const loch_stream *s, size_t col) { return compute_stream_type(s->cs, col); }

loch_kind loch_stream_kind(const loch_stream *s, size_t col)
{
    compute_kind k = compute_stream_kind(s->cs, col);
    return k == COMPUTE_NUMBER ? LOCH_KIND_NUMBER : k == COMPUTE_BOOL ? LOCH_KIND_BOOL
         : k == COMPUTE_NESTED ? LOCH_KIND_NESTED : LOCH_KIND_STRING;
}

int loch_stream_next(loch_stream *s, size_t *rows) { return compute_stream_next(s->cs, rows); }

const char *loch_stream_cell(loch_stream *s, size_t row, size_t col, size_t *len)
{
    return compute_stream_cell(s->cs, row, col, len);
}

void loch_stream_free(loch_stream *s)
{
    if (!s)
        return;
    if (s->arrow && s->schema.release)
        s->schema.release(&s->schema);
    compute_stream_free(s->cs);
    scan_unpin(s->lake); /* the snapshots the query read stay pinned until here */
    free(s);
}

int sql_stream_arrow(loch_stream **out, loch_lake *lake, const char *sql, const loch_param *params, size_t nparams)
{
    return open_stream(out, lake, sql, params, nparams, 1);
}

int sql_stream_ipc(loch_stream *s, buf *out, int *done)
{
    *done = 0;
    if (!s->schema_sent) {
        s->schema_sent = 1;
        return arrow_write_schema(out, &s->schema);
    }
    if (s->ended) {
        *done = 1;
        return 0;
    }
    struct ArrowArray a;
    int rc = compute_arrow_next(s->cs, &a);
    if (rc < 0)
        return rc;
    if (!a.release) {
        s->ended = 1;
        *done = 1;
        return arrow_write_eos(out);
    }
    rc = arrow_write_batch(out, &s->schema, &a);
    a.release(&a);
    return rc;
}

int loch_sql_export(loch_lake *lake, const char *sql_text, const char *format, const char *path)
{
    buf copy = BUF_INIT;
    sql_span *spans = NULL;
    size_t n = 0;
    char *rewritten = NULL;
    const char *sql;
    int rc = split_statements(sql_text, &rewritten, &sql, &spans, &n);
    if (rc == 0 && n != 1)
        rc = error_set(LOCH_EINVALID, "export needs exactly one query (got %zu statements)", n);
    if (rc == 0 && strcmp(format, "parquet") && strcmp(format, "csv") && strcmp(format, "json"))
        rc = error_set(LOCH_EINVALID, "cannot export as \"%s\" (parquet, csv or json)", format);
    char *query = rc ? NULL : strndup(sql + spans[0].start, spans[0].end - spans[0].start);
    if (rc == 0 && !query)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    scan_unpin(lake);
    rc = rc ? rc : allow_query(lake, query);
    rc = rc ? rc : buf_printf(&copy, "COPY (\n%s\n) TO ", query); /* a -- comment ends at its line */
    free(query);
    rc = rc ? rc : buf_put_sql_str(&copy, path);
    rc = rc ? rc : buf_printf(&copy, " (FORMAT %s%s)", format, strcmp(format, "csv") == 0 ? ", HEADER true" : "");
    scan_unpin(lake);
    rc = rc ? rc : tail_prepare(lake, copy.data, NULL);
    rc = rc ? rc : compute_exec(lake->cp, copy.data);
    scan_unpin(lake);
    free(spans);
    free(rewritten);
    buf_free(&copy);
    return rc;
}
