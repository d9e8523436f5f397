/*
 * ops/dml.c - DELETE, UPDATE, MERGE and TRUNCATE of a lake table's rows, as Delta commits.
 *
 * A statement runs in three steps against one snapshot of the table:
 *
 *   find     the SQL engine evaluates the statement's own WHERE (with its USING or
 *            FROM tables) over a scan that names each row by (file, position)
 *            (scan_rows_sql) of the files whose statistics do not rule the WHERE out
 *            (core/prune.c): the hits, into the temporary table __loch_hit, with the
 *            new values of an UPDATE beside the old ones;
 *   change   per file holding hits, the rows it loses are its deletion vector's (if
 *            any) plus the hits. How they go depends on the table's write mode:
 *              merge-on-read (delta.enableDeletionVectors = true): a new deletion
 *              vector, inline in the log when small, else written with the others
 *              of the statement into one deletion_vector_<uuid>.bin; the data file
 *              itself is never rewritten;
 *              copy-on-write (otherwise, and for every reader's sake the default):
 *              the file is rewritten without those rows;
 *            a file that loses every row is only removed. An UPDATE's new rows go to
 *            new data files, shaped by INSERT's rules (casts, NOT NULL).
 *   commit   remove actions for the files as they were, add actions for what replaces
 *            them, with Delta's operationMetrics. The read set is the whole table, so
 *            a concurrent commit that removed or (not blindly) added files conflicts
 *            (core/commit.h); a conflicting statement is run again from the start
 *            against the newer snapshot, a few times, before the conflict is reported.
 *            A blind append (INSERT) never conflicts with it: under WriteSerializable
 *            the rows it added are not the statement's business, as in Delta.
 *
 * Invariants: nothing in the table changes until the commit: rewritten files and the
 * DV file are new names, recorded in the write intent before they appear (so a killed
 * writer's are swept), and removed again when the commit does not happen. The
 * statement's mentions of its own table read the same snapshot as the scan (pinned).
 * MERGE finds its rows differently: the engine runs the statement itself (every WHEN
 * clause its grammar allows) on a temporary copy of the target rows the source can
 * touch, each row carrying its place, and RETURNING says which places it deleted or
 * updated and which rows it inserted (find_merge). A target row that two source rows
 * change is an error, as in Delta.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dv.h"
#include "core/prune.h"
#include "core/sqlscan.h"
#include "util/misc.h"
#include "util/utf8.h"

#define DML_ATTEMPTS 5
/* Deletion vectors up to this many bytes (serialized; about 40 rows of one file) are
 * stored inline in the log, as the protocol allows: no DV file to write or read. */
#define DV_INLINE_MAX 128

typedef enum { DML_DELETE, DML_UPDATE, DML_MERGE } dml_kind;

typedef struct {
    size_t start, end;                  /* a span of the statement's text; end == start: absent */
} span;

typedef struct {
    dml_kind kind;
    const char *sql;
    size_t len;
    char table[256];
    span alias;                         /* the alias as written, or absent */
    span from;                          /* DELETE ... USING / UPDATE ... FROM: the list */
    span where;
    span name;                          /* MERGE: the target's name token */
    span source, on;                    /* MERGE: USING <source> ON <on> */
    size_t when;                        /* MERGE: where its WHEN clauses start */
    bool by_source;                     /* MERGE: has WHEN NOT MATCHED BY SOURCE */
    char *owned;                        /* MERGE ... USING (cols): sql spelled with ON, owned */
    const char *txn_app;                /* a flush (ops/tail.c): its txn action, */
    int64_t txn_version;                /* committed even when no row changes */
    int64_t *version_out;
    const char *flush_src;              /* a flush: the temporary table of the latest change per */
    const char *const *flush_key;       /* key; the statement is DELETE ... USING it, and its */
    size_t flush_nkey;                  /* rows other than deletes are the new rows */
    int64_t *flush_counts;              /* out: [0] rows replaced or deleted, [1] rows written */
    const log_txn *flush_txns;          /* more txn actions (the producers' sequences) */
    size_t flush_ntxns;
    const char *flush_all;              /* every change of the flush (the change feed's), or NULL */
    size_t nsets;
    struct {
        span column, expr;
    } sets[256];
} dml_stmt;

/* ---- parsing: only where the clauses are; the engine parses them for real ------------ */

static int tok(const dml_stmt *st, size_t *pos, sql_token *t) { return sqlscan_next(st->sql, st->len, pos, t); }
static int word(const dml_stmt *st, const sql_token *t, const char *w) { return sqlscan_is(st->sql, t, w); }
static int punct(const dml_stmt *st, const sql_token *t, char c)
{
    return t->kind == TOK_PUNCT && st->sql[t->start] == c;
}

/* Scans from *pos at parenthesis depth 0 up to one of the words in stop (or the end):
 * *pos is left at that word (its token in *t) and the span covers what came before. */
static int clause(const dml_stmt *st, size_t *pos, const char *const *stop, char comma, span *out, sql_token *t)
{
    int depth = 0, rc;
    size_t first = *pos, last = *pos;
    out->start = out->end = 0;
    for (;;) {
        size_t before = *pos;
        if ((rc = tok(st, pos, t)) < 0)
            return rc;
        if (t->kind == TOK_END) {
            *pos = before;
            break;
        }
        if (depth == 0) {
            bool hit = comma && punct(st, t, comma);
            for (size_t i = 0; !hit && stop[i]; i++)
                hit = t->kind == TOK_WORD && word(st, t, stop[i]);
            if (hit) {
                *pos = before;
                break;
            }
        }
        depth += punct(st, t, '(') || punct(st, t, '[') || punct(st, t, '{')   ? 1
                 : punct(st, t, ')') || punct(st, t, ']') || punct(st, t, '}') ? -1 : 0;
        if (out->end == 0)
            out->start = t->start;
        out->end = last = t->start + t->len;
    }
    (void)first;
    (void)last;
    return 0;
}

/* After the table name: an optional [AS] alias, unless the next word is a clause. */
static int read_alias(dml_stmt *st, size_t *pos, const char *const *clauses)
{
    sql_token t;
    size_t save = *pos;
    int rc = tok(st, pos, &t);
    if (rc < 0)
        return rc;
    bool as = t.kind == TOK_WORD && word(st, &t, "AS");
    if (as && (rc = tok(st, pos, &t)) < 0)
        return rc;
    bool clause_word = false;
    for (size_t i = 0; clauses[i]; i++)
        clause_word = clause_word || (t.kind == TOK_WORD && word(st, &t, clauses[i]));
    if ((t.kind == TOK_WORD || t.kind == TOK_QUOTED) && !clause_word) {
        st->alias = (span){t.start, t.start + t.len};
        return 0;
    }
    if (as)
        return error_set(LOCH_EINVALID, "expected an alias after AS");
    *pos = save;
    return 0;
}

static int expect_end_or_where(dml_stmt *st, size_t *pos)
{
    static const char *const stop[] = {"RETURNING", NULL};
    sql_token t;
    int rc = tok(st, pos, &t);
    if (rc < 0 || t.kind == TOK_END)
        return rc;
    if (word(st, &t, "WHERE")) {
        if ((rc = clause(st, pos, stop, 0, &st->where, &t)) < 0)
            return rc;
        if (st->where.end == st->where.start)
            return error_set(LOCH_EINVALID, "WHERE needs a condition");
        if ((rc = tok(st, pos, &t)) < 0 || t.kind == TOK_END)
            return rc;
    }
    if (word(st, &t, "RETURNING"))
        return error_set(LOCH_EUNSUPPORTED, "RETURNING is not supported on lake table \"%s\"", st->table);
    return error_set(LOCH_EINVALID, "unexpected \"%.*s\" in %s on \"%s\"", (int)t.len, st->sql + t.start,
                     st->kind == DML_DELETE ? "DELETE" : "UPDATE", st->table);
}

/* An optional "<word> list" (DELETE's USING, UPDATE's FROM) up to WHERE or RETURNING. */
static int optional_list(dml_stmt *st, size_t *pos, const char *w)
{
    static const char *const stop[] = {"WHERE", "RETURNING", NULL};
    sql_token t;
    size_t save = *pos;
    int rc = tok(st, pos, &t);
    if (rc < 0 || !word(st, &t, w)) {
        *pos = save;
        return rc;
    }
    rc = clause(st, pos, stop, 0, &st->from, &t);
    if (rc == 0 && st->from.end == st->from.start)
        rc = error_set(LOCH_EINVALID, "%s needs a table", w);
    return rc;
}

/* DELETE FROM t [[AS] a] [USING list] [WHERE cond]; pos is past the table name. */
static int parse_delete(dml_stmt *st, size_t pos)
{
    static const char *const clauses[] = {"USING", "WHERE", "RETURNING", NULL};
    int rc = read_alias(st, &pos, clauses);
    rc = rc ? rc : optional_list(st, &pos, "USING");
    return rc ? rc : expect_end_or_where(st, &pos);
}

/* UPDATE t [[AS] a] SET c = e, ... [FROM list] [WHERE cond]; pos is past the name. */
/* SET (a, b) = (x, y), pos past "(": the assignments a = x and b = y. A row
 * subquery on the right, (SELECT ...), is refused by name. */
static int parse_tuple_set(dml_stmt *st, size_t *pos)
{
    sql_token t;
    size_t first = st->nsets;
    int rc = 0;
    for (;;) {
        if ((rc = tok(st, pos, &t)) < 0)
            return rc;
        if ((t.kind != TOK_WORD && t.kind != TOK_QUOTED) || st->nsets == sizeof(st->sets) / sizeof(st->sets[0]))
            return error_set(LOCH_EINVALID, "expected (column, ...) = (value, ...) in UPDATE %s ... SET", st->table);
        st->sets[st->nsets++].column = (span){t.start, t.start + t.len};
        if ((rc = tok(st, pos, &t)) < 0)
            return rc;
        if (punct(st, &t, ')'))
            break;
        if (!punct(st, &t, ','))
            return error_set(LOCH_EINVALID, "expected , or ) in UPDATE %s ... SET (...)", st->table);
    }
    sql_token eq, open;
    if ((rc = tok(st, pos, &eq)) < 0 || (rc = tok(st, pos, &open)) < 0)
        return rc;
    if (word(st, &open, "ROW") && (rc = tok(st, pos, &open)) < 0) /* SET (a, b) = ROW(x, y) */
        return rc;
    if (!punct(st, &eq, '=') || !punct(st, &open, '('))
        return error_set(LOCH_EINVALID, "expected (column, ...) = (value, ...) in UPDATE %s ... SET", st->table);
    size_t ahead = *pos;
    if (tok(st, &ahead, &t) == 0 && word(st, &t, "SELECT"))
        return error_set(LOCH_EUNSUPPORTED, "UPDATE %s: SET (...) = (SELECT ...) is not supported: assign each "
                         "column its own value", st->table);
    for (size_t i = first; i < st->nsets; i++) {
        /* a value: up to , or ) at its own depth */
        span *e = &st->sets[i].expr;
        int depth = 0;
        e->start = e->end = 0;
        for (;;) {
            if ((rc = tok(st, pos, &t)) < 0)
                return rc;
            if (t.kind == TOK_END || (depth == 0 && (punct(st, &t, ',') || punct(st, &t, ')'))))
                break;
            depth += punct(st, &t, '(') - punct(st, &t, ')');
            if (e->end == 0)
                e->start = t.start;
            e->end = t.start + t.len;
        }
        if (e->end == e->start || !punct(st, &t, i + 1 < st->nsets ? ',' : ')'))
            return error_set(LOCH_EINVALID, "UPDATE %s ... SET (...) = (...): as many values as columns", st->table);
    }
    return 0;
}

static int parse_update(dml_stmt *st, size_t pos)
{
    static const char *const clauses[] = {"SET", NULL};
    static const char *const stop[] = {"FROM", "WHERE", "RETURNING", NULL};
    sql_token t;
    int rc = read_alias(st, &pos, clauses);
    if (rc == 0 && ((rc = tok(st, &pos, &t)) < 0 || !word(st, &t, "SET")))
        return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected SET in UPDATE %s", st->table);
    for (;;) {
        sql_token col, eq;
        if ((rc = tok(st, &pos, &col)) < 0)
            return rc;
        if (punct(st, &col, '(')) { /* SET (a, b) = (x, y): one assignment per column */
            if ((rc = parse_tuple_set(st, &pos)) < 0)
                return rc;
        } else {
            if ((rc = tok(st, &pos, &eq)) < 0)
                return rc;
            if ((col.kind != TOK_WORD && col.kind != TOK_QUOTED) || !punct(st, &eq, '='))
                return error_set(LOCH_EINVALID, "expected column = value in UPDATE %s ... SET", st->table);
            if (st->nsets == sizeof(st->sets) / sizeof(st->sets[0]))
                return error_set(LOCH_EINVALID, "too many assignments in one UPDATE");
            st->sets[st->nsets].column = (span){col.start, col.start + col.len};
            if ((rc = clause(st, &pos, stop, ',', &st->sets[st->nsets].expr, &t)) < 0)
                return rc;
            if (st->sets[st->nsets].expr.end == st->sets[st->nsets].expr.start)
                return error_set(LOCH_EINVALID, "UPDATE %s: no value for column %.*s", st->table, (int)col.len,
                                 st->sql + col.start);
            st->nsets++;
        }
        size_t save = pos;
        if ((rc = tok(st, &pos, &t)) < 0)
            return rc;
        if (!punct(st, &t, ',')) {
            pos = save;
            break;
        }
    }
    rc = optional_list(st, &pos, "FROM");
    return rc ? rc : expect_end_or_where(st, &pos);
}

/* MERGE INTO t [[AS] a] USING source ON cond WHEN ...; pos is past the name. Only the
 * pieces loch rewrites are found here: the engine parses the WHEN clauses. */
static int put_alias(buf *b, const dml_stmt *st);
static int source_alias(const dml_stmt *st, buf *out);

/* MERGE ... USING source USING (a, b) WHEN ...: the statement again, with
 * "ON t.a = s.a AND t.b = s.b" for the column list (at, past the second USING). */
static int merge_using_columns(dml_stmt *st, size_t at)
{
    buf sql = BUF_INIT, salias = BUF_INIT;
    sql_token t;
    size_t pos = at;
    int rc = tok(st, &pos, &t);
    if (rc == 0 && !punct(st, &t, '('))
        rc = error_set(LOCH_EINVALID, "MERGE INTO %s: expected USING (column, ...) after the source", st->table);
    rc = rc ? rc : source_alias(st, &salias);
    rc = rc || buf_put(&sql, st->sql, st->source.end) || buf_puts(&sql, " ON ") ? (rc ? rc : LOCH_ENOMEM) : 0;
    for (int n = 0; rc == 0; n++) {
        if ((rc = tok(st, &pos, &t)) < 0)
            break;
        if (t.kind != TOK_WORD && t.kind != TOK_QUOTED) {
            rc = error_set(LOCH_EINVALID, "MERGE INTO %s: USING (...) takes column names", st->table);
            break;
        }
        rc = (n ? buf_puts(&sql, " AND ") : 0) || put_alias(&sql, st) || buf_putc(&sql, '.') ||
             buf_put(&sql, st->sql + t.start, t.len) || buf_puts(&sql, " = ") || buf_put(&sql, salias.data, salias.len) ||
             buf_putc(&sql, '.') || buf_put(&sql, st->sql + t.start, t.len) ? LOCH_ENOMEM : 0;
        if (rc == 0 && (rc = tok(st, &pos, &t)) == 0 && punct(st, &t, ')'))
            break;
        if (rc == 0 && !punct(st, &t, ','))
            rc = error_set(LOCH_EINVALID, "MERGE INTO %s: expected , or ) in USING (...)", st->table);
    }
    rc = rc || buf_putc(&sql, ' ') || buf_puts(&sql, st->sql + pos) ? (rc ? rc : LOCH_ENOMEM) : 0;
    buf_free(&salias);
    if (rc < 0) {
        buf_free(&sql);
        return rc;
    }
    st->owned = sql.data; /* the spans found so far are still the same offsets */
    st->sql = st->owned;
    st->len = sql.len;
    return 0;
}

static int parse_merge(dml_stmt *st, size_t pos)
{
    static const char *const clauses[] = {"USING", NULL};
    static const char *const to_on[] = {"ON", "USING", NULL};
    static const char *const to_when[] = {"WHEN", NULL};
    static const char *const to_end[] = {"RETURNING", NULL};
    sql_token t;
    size_t start = pos;
    int rc = read_alias(st, &pos, clauses);
    if (rc == 0 && ((rc = tok(st, &pos, &t)) < 0 || !word(st, &t, "USING")))
        return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected USING in MERGE INTO %s", st->table);
    rc = clause(st, &pos, to_on, 0, &st->source, &t);
    if (rc == 0 && !st->owned && word(st, &t, "USING") && st->source.end > st->source.start) {
        size_t past = pos;
        rc = tok(st, &past, &t);
        rc = rc ? rc : merge_using_columns(st, past);
        return rc ? rc : parse_merge(st, start);
    }
    if (rc == 0 && ((rc = tok(st, &pos, &t)) < 0 || !word(st, &t, "ON") || st->source.end == st->source.start))
        return rc < 0 ? rc : error_set(LOCH_EINVALID, "expected USING source ON condition in MERGE INTO %s", st->table);
    rc = clause(st, &pos, to_when, 0, &st->on, &t);
    if (rc == 0 && st->on.end == st->on.start)
        return error_set(LOCH_EINVALID, "MERGE INTO %s: ON needs a condition", st->table);
    st->when = pos;
    span rest;
    rc = rc ? rc : clause(st, &pos, to_end, 0, &rest, &t);
    if (rc == 0 && (rc = tok(st, &pos, &t)) == 0 && t.kind != TOK_END)
        return error_set(LOCH_EUNSUPPORTED, "RETURNING is not supported on lake table \"%s\"", st->table);
    if (rc == 0 && rest.end == rest.start)
        return error_set(LOCH_EINVALID, "MERGE INTO %s needs a WHEN clause", st->table);
    /* WHEN NOT MATCHED BY SOURCE reads every target row; without it only the rows the
     * source matches take part. */
    sql_token w[4];
    for (size_t p = st->when; rc == 0;) {
        if ((rc = tok(st, &p, &w[0])) < 0 || w[0].kind == TOK_END)
            break;
        size_t q = p;
        if (word(st, &w[0], "NOT") && tok(st, &q, &w[1]) == 0 && word(st, &w[1], "MATCHED") &&
            tok(st, &q, &w[2]) == 0 && word(st, &w[2], "BY") && tok(st, &q, &w[3]) == 0 && word(st, &w[3], "SOURCE"))
            st->by_source = true;
    }
    return rc;
}

static int put_span(buf *b, const dml_stmt *st, span s) { return buf_put(b, st->sql + s.start, s.end - s.start); }

/* An assignment's value; DEFAULT is NULL (loch writes no column defaults, and a table
 * with Delta's allowColumnDefaults feature is not one it writes). */
static int put_set_value(buf *b, const dml_stmt *st, span s)
{
    size_t pos = s.start;
    sql_token t[8];
    size_t n = 0;
    dml_stmt sub = *st;
    sub.len = s.end;
    while (n < 8 && tok(&sub, &pos, &t[n]) == 0 && t[n].kind != TOK_END)
        n++;
    size_t open = 0; /* DEFAULT, or DEFAULT in parentheses: (DEFAULT), ((DEFAULT)) */
    while (open < n / 2 && punct(st, &t[open], '(') && punct(st, &t[n - 1 - open], ')'))
        open++;
    if (n == 2 * open + 1 && word(st, &t[open], "DEFAULT"))
        return buf_puts(b, "NULL");
    error_clear();
    return put_span(b, st, s);
}

/* The alias the statement's text uses for the target: its own, or the table's name. */
static int put_alias(buf *b, const dml_stmt *st)
{
    return st->alias.end > st->alias.start ? put_span(b, st, st->alias) : buf_put_sql_ident(b, st->table);
}

/* A column token (word or "quoted") as the name it means. */
static char *column_name(const dml_stmt *st, span s)
{
    const char *p = st->sql + s.start;
    size_t n = s.end - s.start;
    if (n >= 2 && p[0] == '"') {
        char *out = malloc(n), *w = out;
        for (size_t i = 1; out && i + 1 < n; i++) {
            *w++ = p[i];
            if (p[i] == '"')
                i++;
        }
        if (out)
            *w = '\0';
        return out;
    }
    return strndup(p, n);
}

/* ---- one attempt ---------------------------------------------------------------------- */

typedef struct {
    loch_lake *lake;
    const dml_stmt *st;
    snapshot *s;
    bool dv_mode;
    dv_rows *hits;          /* per file of s: rows the statement deletes or replaces */
    dv_rows *gone;          /* per file: every row it loses (its old DV's and the hits) */
    size_t *touched;        /* indexes of files with hits, ascending */
    size_t ntouched;
    int64_t nhits;
    int64_t new_rows;       /* rows staged in __loch_ins (UPDATE, MERGE) */
    bool cdf;               /* delta.enableChangeDataFeed: the commit carries change data */
    dv_rows *upd;           /* MERGE: per file, the hits it updated (the rest it deleted) */
    char *upd_pick;         /* MERGE: the predicate picking those rows out of __loch_tgt */
    int set_column[256];    /* UPDATE: per assignment, the schema column */
    char tag[48];
    char *dv_path;          /* the DV file written, until the commit lands */
} dml_run;

static int gone_load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    const scan_skip *sk = ctx;
    const dml_run *r = sk->ctx;
    *rows = r->gone[sk->which[i]].rows;
    *count = r->gone[sk->which[i]].count;
    return 0;
}

static void run_free(dml_run *r)
{
    for (size_t i = 0; r->s && i < r->s->file_count; i++) {
        if (r->hits)
            dv_rows_free(&r->hits[i]);
        if (r->gone)
            dv_rows_free(&r->gone[i]);
    }
    for (size_t i = 0; r->s && r->upd && i < r->s->file_count; i++)
        dv_rows_free(&r->upd[i]);
    free(r->upd);
    free(r->upd_pick);
    free(r->hits);
    free(r->gone);
    free(r->touched);
    free(r->dv_path);
    txlog_snapshot_free(r->s);
    memset(r, 0, sizeof(*r));
}

/* Checks the table may change and picks its write mode. */
static int check_table(dml_run *r)
{
    const snapshot *s = r->s;
    const char *t = r->st->table, *v;
    int rc = snapshot_check_writable(s);
    if (rc < 0)
        return rc;
    if ((v = snapshot_property(s, "delta.appendOnly")) && strcmp(v, "true") == 0)
        return error_set(LOCH_EPERM, "table \"%s\" is append-only (delta.appendOnly = true): rows cannot be changed", t);
    r->cdf = (v = snapshot_property(s, "delta.enableChangeDataFeed")) && strcmp(v, "true") == 0;
    v = snapshot_property(s, "delta.enableDeletionVectors");
    r->dv_mode = v && strcmp(v, "true") == 0;
    bool feature = false;
    for (size_t i = 0; s->protocol.min_writer == 7 && i < s->protocol.writer_count; i++)
        feature = feature || strcmp(s->protocol.writer_features[i], "deletionVectors") == 0;
    if (r->dv_mode && !feature)
        return error_set(LOCH_ECORRUPT, "table \"%s\" enables deletion vectors but its protocol lacks the "
                         "deletionVectors feature", t);
    return 0;
}

/* UPDATE: each assignment's column in the schema (names compare as the engine's do,
 * without regard to case). */
static int resolve_sets(dml_run *r)
{
    const dml_stmt *st = r->st;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < st->nsets; i++) {
        char *name = column_name(st, st->sets[i].column), *low = name ? utf8_lower(name) : NULL;
        r->set_column[i] = -1;
        for (size_t k = 0; low && k < r->s->schema.count && r->set_column[i] < 0; k++) {
            char *other = utf8_lower(r->s->schema.fields[k].name);
            if (other && strcmp(other, low) == 0)
                r->set_column[i] = (int)k;
            free(other);
        }
        if (!name || !low)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else if (r->set_column[i] < 0)
            rc = error_set(LOCH_EINVALID, "column \"%s\" of table \"%s\" does not exist", name, st->table);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (r->set_column[j] == r->set_column[i])
                rc = error_set(LOCH_EINVALID, "column \"%s\" is assigned twice", name);
        free(name);
        free(low);
    }
    return rc;
}

/* The key's columns equal between two aliases. */
static int key_match(buf *b, const dml_stmt *st, const char *x, const char *y)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < st->flush_nkey; k++)
        rc = buf_printf(b, "%s%s.", k ? " AND " : "", x) || buf_put_sql_ident(b, st->flush_key[k]) ||
             buf_printf(b, " = %s.", y) || buf_put_sql_ident(b, st->flush_key[k]) ? LOCH_ENOMEM : 0;
    return rc;
}

/* Room for r->hits, r->gone and r->touched, one slot per file of the snapshot. */
static int hits_alloc(dml_run *r)
{
    size_t n = r->s->file_count + 1;
    r->hits = calloc(n, sizeof(*r->hits));
    r->gone = calloc(n, sizeof(*r->gone));
    r->touched = calloc(n, sizeof(*r->touched));
    return r->hits && r->gone && r->touched ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

static int hit_file(const dml_run *r, int64_t f)
{
    return f >= 0 && (size_t)f < r->s->file_count
               ? 0 : error_set(LOCH_ERROR, "internal: a row of file %lld, which the table does not have", (long long)f);
}

/* The hits, per file of s, from (file, row * 2 + flag) pairs sorted by file then row:
 * r->hits, and room for r->gone and r->touched. */
static int hits_from_pairs(dml_run *r, const int64_t *pairs, size_t n)
{
    int rc = hits_alloc(r);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n;) {
        int64_t f = pairs[2 * i];
        size_t j = i;
        while (j < n && pairs[2 * j] == f)
            j++;
        if ((rc = hit_file(r, f)) < 0)
            return rc;
        dv_rows *h = &r->hits[f];
        if (!(h->rows = malloc((j - i) * sizeof(*h->rows))))
            return error_set(LOCH_ENOMEM, "out of memory");
        for (size_t k = i; k < j; k++)
            h->rows[h->count++] = (uint64_t)(pairs[2 * k + 1] / 2);
        r->touched[r->ntouched++] = (size_t)f;
        r->nhits += (int64_t)(j - i);
        i = j;
    }
    return 0;
}

/* Reading the hits back: each file's array sized by a first pass of counts (room),
 * then filled by a second of (file, row) sorted by both. */
typedef struct {
    dml_run *r;
    size_t *room;
} hit_reader;

static int hits_count(void *ctx, const int64_t *const *cols, size_t ncols, size_t n)
{
    hit_reader *h = ctx;
    (void)ncols;
    for (size_t i = 0; i < n; i++) {
        int rc = hit_file(h->r, cols[0][i]);
        if (rc < 0 || cols[1][i] <= 0)
            return rc < 0 ? rc : error_set(LOCH_ERROR, "internal: a count of hits below 1");
        if (!(h->r->hits[cols[0][i]].rows = malloc((size_t)cols[1][i] * sizeof(uint64_t))))
            return error_set(LOCH_ENOMEM, "out of memory (%lld rows of one file to change)", (long long)cols[1][i]);
        h->room[cols[0][i]] = (size_t)cols[1][i];
    }
    return 0;
}

static int hits_fill(void *ctx, const int64_t *const *cols, size_t ncols, size_t n)
{
    hit_reader *h = ctx;
    (void)ncols;
    for (size_t i = 0; i < n; i++) {
        int rc = hit_file(h->r, cols[0][i]);
        if (rc < 0)
            return rc;
        dv_rows *d = &h->r->hits[cols[0][i]];
        if (d->count >= h->room[cols[0][i]] || cols[1][i] < 0)
            return error_set(LOCH_ERROR, "internal: more hits than counted, or a negative row");
        d->rows[d->count++] = (uint64_t)cols[1][i];
    }
    return 0;
}

/* The hits of __loch_hit, per file, and the touched files listed. */
static int read_hits(dml_run *r)
{
    hit_reader h = {r, calloc(r->s->file_count + 1, sizeof(size_t))};
    int rc = h.room ? hits_alloc(r) : error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : compute_query_i64(r->lake->cp, "SELECT __loch_file::BIGINT, count(*)::BIGINT FROM __loch_hit "
                                                  "GROUP BY 1", hits_count, &h);
    rc = rc ? rc : compute_query_i64(r->lake->cp, "SELECT __loch_file::BIGINT, __loch_row::BIGINT FROM __loch_hit "
                                                  "ORDER BY 1, 2", hits_fill, &h);
    for (size_t f = 0; rc == 0 && f < r->s->file_count; f++) {
        if (r->hits[f].count != h.room[f])
            rc = error_set(LOCH_ERROR, "internal: fewer hits than counted");
        else if (r->hits[f].count) {
            r->touched[r->ntouched++] = f;
            r->nhits += (int64_t)r->hits[f].count;
        }
    }
    free(h.room);
    return rc;
}

/* What the statement calls its target, unquoted: its alias, or the table's name. */
static void target_alias(const dml_stmt *st, char *out, size_t cap)
{
    size_t al = st->alias.end - st->alias.start;
    bool quoted = al >= 2 && st->sql[st->alias.start] == '"';
    if (al)
        snprintf(out, cap, "%.*s", (int)(al - 2 * quoted), st->sql + st->alias.start + quoted);
    else
        snprintf(out, cap, "%s", st->table);
}

/* Whether strings compare as bytes: unless a collation is in effect (SET
 * default_collation), which data skipping cannot follow. */
static bool strings_binary(dml_run *r)
{
    compute_result *coll = NULL;
    char *c = NULL;
    bool binary = compute_query(r->lake->cp, "SELECT current_setting('default_collation')", &coll) == 0 &&
                  compute_result_rows(coll) == 1 && (!(c = compute_result_text(coll, 0, 0)) || !*c ||
                                                     strcasecmp(c, "binary") == 0);
    free(c);
    compute_result_free(coll);
    error_clear();
    return binary;
}

/* Runs the find step into __loch_hit and reads the hits back, per file. */
static int find_hits(dml_run *r)
{
    const dml_stmt *st = r->st;
    const snapshot *s = r->s;
    buf sql = BUF_INIT, rows = BUF_INIT;
    compute_result *res = NULL;
    size_t *all = malloc(sizeof(*all) * (s->file_count + 1));
    bool *skip = calloc(s->file_count + 1, sizeof(*skip));
    size_t nall = 0;
    int rc = all && skip ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    /* Data skipping: files whose statistics rule the WHERE out are not read (with a
     * USING or FROM list, a bare name could be the other table's: nothing is judged). */
    if (rc == 0 && st->where.end > st->where.start && st->from.end == st->from.start) {
        char alias[256];
        target_alias(st, alias, sizeof(alias));
        int pruned = prune_files(s, st->sql + st->where.start, st->where.end - st->where.start, alias,
                                 strings_binary(r), skip);
        rc = pruned < 0 ? pruned : 0;
    }
    for (size_t i = 0; rc == 0 && i < s->file_count; i++)
        if (!skip[i])
            all[nall++] = i;
    /* The statement's own pieces run inside loch's SQL: in a sandboxed lake they pass
     * the same check as any query (a probe with the same text, parsed, not run). */
    rc = rc || buf_puts(&sql, "SELECT 1") ? (rc ? rc : LOCH_ENOMEM) : 0;
    for (size_t i = 0; rc == 0 && i < st->nsets; i++)
        rc = buf_puts(&sql, ", (") || put_set_value(&sql, st, st->sets[i].expr) || buf_putc(&sql, ')') ? LOCH_ENOMEM : 0;
    rc = rc || buf_puts(&sql, " FROM ") || buf_put_sql_ident(&sql, st->table) || buf_puts(&sql, " AS ") ||
         put_alias(&sql, st) ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && st->from.end > st->from.start)
        rc = buf_puts(&sql, ", ") || put_span(&sql, st, st->from) ? LOCH_ENOMEM : 0;
    if (rc == 0 && st->where.end > st->where.start)
        rc = buf_puts(&sql, " WHERE ") || put_span(&sql, st, st->where) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : allow_query(r->lake, sql.data);
    buf_clear(&sql);
    rc = rc ? rc : scan_rows_sql(r->lake, st->table, s, all, nall, NULL, true, &rows);
    rc = rc || buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_hit AS SELECT ") ? (rc ? rc : LOCH_ENOMEM) : 0;
    /* a row of the table matched through several rows of USING is one hit; a flush's
     * changes hold one row per key, so it needs no DISTINCT (a hash aggregate of every hit) */
    if (rc == 0 && st->kind == DML_DELETE)
        rc = buf_puts(&sql, st->flush_src ? "" : "DISTINCT ") || put_alias(&sql, st) || buf_puts(&sql, ".__loch_file, ") ||
             put_alias(&sql, st) || buf_puts(&sql, ".__loch_row") ? LOCH_ENOMEM : 0;
    else if (rc == 0)
        rc = put_alias(&sql, st) || buf_puts(&sql, ".*") ? LOCH_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < st->nsets; i++)
        rc = buf_puts(&sql, ", (") || put_set_value(&sql, st, st->sets[i].expr) ||
             buf_printf(&sql, ") AS __loch_set_%zu", i) ? LOCH_ENOMEM : 0;
    rc = rc || buf_printf(&sql, " FROM (%s) AS ", rows.data) || put_alias(&sql, st) ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && st->from.end > st->from.start)
        rc = buf_puts(&sql, ", ") || put_span(&sql, st, st->from) ? LOCH_ENOMEM : 0;
    if (rc == 0 && st->where.end > st->where.start)
        rc = buf_puts(&sql, " WHERE ") || put_span(&sql, st, st->where) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec_one(r->lake->cp, sql.data);
    /* A row matched through several rows of FROM would get several new versions. */
    if (rc == 0 && st->kind == DML_UPDATE &&
        (rc = compute_query(r->lake->cp, "SELECT count(*) - count(DISTINCT (__loch_file, __loch_row)) FROM __loch_hit",
                            &res)) == 0 &&
        compute_result_i64(res, 0, 0) > 0)
        rc = error_set(LOCH_EINVALID, "UPDATE of \"%s\": a row matched more than one row of FROM, so its new value "
                       "is ambiguous", st->table);
    compute_result_free(res);
    res = NULL;
    /* The hits come back a chunk at a time straight into per-file arrays sized by a
     * first count: loch holds 8 bytes per hit, never the whole result besides. */
    rc = rc ? rc : read_hits(r);
    compute_result_free(res);
    free(all);
    free(skip);
    buf_free(&sql);
    buf_free(&rows);
    return rc;
}

/* ---- MERGE ------------------------------------------------------------------------- */

/* The name the WHEN clauses use for the source: its alias, or its table or function name. */
static int source_alias(const dml_stmt *st, buf *out)
{
    sql_token t[512];
    size_t n = 0, pos = st->source.start;
    dml_stmt sub = *st;
    sub.len = st->source.end;
    while (n < 512 && tok(&sub, &pos, &t[n]) == 0 && t[n].kind != TOK_END)
        n++;
    size_t last = n ? n - 1 : 0;
    if (n && punct(st, &t[last], ')')) { /* "... s(a, b)": the word before the column list */
        int depth = 0;
        size_t j = last + 1;
        while (j-- > 0) {
            depth += punct(st, &t[j], ')') - punct(st, &t[j], '(');
            if (depth == 0)
                break;
        }
        last = j > 0 ? j - 1 : n;
    }
    if (last < n && (t[last].kind == TOK_WORD || t[last].kind == TOK_QUOTED))
        return buf_put(out, st->sql + t[last].start, t[last].len);
    return error_set(LOCH_EINVALID, "MERGE INTO %s: give the source an alias (USING ... AS s) to use UPDATE SET * "
                     "or INSERT *", st->table);
}

/* The WHEN clauses with DuckDB's positional UPDATE SET * and INSERT * spelled out over
 * the table's columns, and INSERT VALUES given the table's column list: the copy the
 * statement runs on has two more columns (the row's place). */
static int when_clauses(dml_run *r, buf *out)
{
    const dml_stmt *st = r->st;
    const snapshot *s = r->s;
    compute_column *src = NULL;
    size_t nsrc = 0, pos = st->when, copied = st->when;
    buf alias = BUF_INIT, sql = BUF_INIT;
    sql_token t, prev = {TOK_END, 0, 0};
    int rc = 0, depth = 0;
    while (rc == 0 && (rc = tok(st, &pos, &t)) == 0 && t.kind != TOK_END) {
        depth += punct(st, &t, '(') - punct(st, &t, ')');
        if (depth == 0 && word(st, &t, "VALUES") && word(st, &prev, "INSERT")) {
            /* INSERT VALUES (...) without a column list means all the table's columns */
            rc = buf_put(out, st->sql + copied, t.start - copied) || buf_putc(out, '(') ? LOCH_ENOMEM : 0;
            for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
                rc = (i ? buf_puts(out, ", ") : 0) || buf_put_sql_ident(out, s->schema.fields[i].name) ? LOCH_ENOMEM : 0;
            rc = rc || buf_puts(out, ") ") ? (rc ? rc : LOCH_ENOMEM) : 0;
            copied = t.start;
        }
        /* The positional forms: UPDATE SET *, UPDATE BY POSITION and a bare UPDATE;
         * INSERT *, INSERT BY POSITION and a bare INSERT (DuckDB's meanings). */
        bool update = word(st, &t, "UPDATE"), insert = word(st, &t, "INSERT");
        if (depth != 0 || !word(st, &prev, "THEN") || !(update || insert)) {
            prev = t;
            continue;
        }
        size_t ahead = pos, end = 0;
        sql_token n1, n2;
        bool more = tok(st, &ahead, &n1) == 0;
        size_t after1 = ahead;
        bool two = more && tok(st, &ahead, &n2) == 0;
        error_clear();
        if (more && (n1.kind == TOK_END || word(st, &n1, "WHEN")))
            end = t.start + t.len;
        else if (two && word(st, &n1, "BY") && word(st, &n2, "POSITION"))
            end = n2.start + n2.len;
        else if (update && two && word(st, &n1, "SET") && punct(st, &n2, '*'))
            end = n2.start + n2.len;
        else if (insert && more && punct(st, &n1, '*'))
            end = after1;
        if (!end) {
            prev = t;
            continue;
        }
        if (!src) {
            rc = source_alias(st, &alias);
            rc = rc || buf_puts(&sql, "SELECT * FROM ") || put_span(&sql, st, st->source) ? (rc ? rc : LOCH_ENOMEM) : 0;
            rc = rc ? rc : compute_describe(r->lake->cp, sql.data, &src, &nsrc);
            if (rc == 0 && nsrc != s->schema.count)
                rc = error_set(LOCH_EINVALID, "MERGE INTO %s: %s by position takes the source's columns in order, "
                               "and the source has %zu where the table has %zu", st->table, update ? "UPDATE" : "INSERT",
                               nsrc, s->schema.count);
            if (rc < 0)
                break;
        }
        rc = buf_put(out, st->sql + copied, t.start - copied) ? LOCH_ENOMEM : 0;
        if (rc == 0 && update) {
            rc = buf_puts(out, "UPDATE SET ") ? LOCH_ENOMEM : 0;
            for (size_t i = 0; rc == 0 && i < nsrc; i++)
                rc = (i ? buf_puts(out, ", ") : 0) || buf_put_sql_ident(out, s->schema.fields[i].name) ||
                     buf_puts(out, " = ") || buf_put(out, alias.data, alias.len) || buf_putc(out, '.') ||
                     buf_put_sql_ident(out, src[i].name) ? LOCH_ENOMEM : 0;
        } else if (rc == 0) {
            rc = buf_puts(out, "INSERT (") ? LOCH_ENOMEM : 0;
            for (size_t i = 0; rc == 0 && i < nsrc; i++)
                rc = (i ? buf_puts(out, ", ") : 0) || buf_put_sql_ident(out, s->schema.fields[i].name) ? LOCH_ENOMEM : 0;
            rc = rc || buf_puts(out, ") VALUES (") ? (rc ? rc : LOCH_ENOMEM) : 0;
            for (size_t i = 0; rc == 0 && i < nsrc; i++)
                rc = (i ? buf_puts(out, ", ") : 0) || buf_put(out, alias.data, alias.len) || buf_putc(out, '.') ||
                     buf_put_sql_ident(out, src[i].name) ? LOCH_ENOMEM : 0;
            rc = rc || buf_putc(out, ')') ? (rc ? rc : LOCH_ENOMEM) : 0;
        }
        rc = rc || buf_putc(out, ' ') ? (rc ? rc : LOCH_ENOMEM) : 0;
        copied = pos = end;
        prev = t;
    }
    rc = rc || buf_put(out, st->sql + copied, st->len - copied) ? (rc ? rc : LOCH_ENOMEM) : 0;
    compute_columns_free(src, nsrc);
    buf_free(&alias);
    buf_free(&sql);
    return rc;
}

static int hits_load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    const scan_skip *sk = ctx;
    const dv_rows *sets = sk->ctx;
    *rows = sets[i].rows;
    *count = sets[i].count;
    return 0;
}

/* Registers sets (per file of s) with the engine; *pred gets the predicate that is true
 * for rows NOT in them, over columns file_index and file_row_number. */
static int register_sets(dml_run *r, const dv_rows *sets, const char *what, buf *pred)
{
    const snapshot *s = r->s;
    char **keys = calloc(s->file_count + 1, sizeof(*keys));
    buf key = BUF_INIT;
    int rc = keys ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        buf_clear(&key);
        if (sets[i].count && (buf_printf(&key, "%s/%s-%s#%zu", r->st->table, r->tag, what, i) ||
                              !(keys[i] = strdup(key.data))))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    scan_skip sk = {r->tag, NULL, (void *)sets, NULL};
    compute_relation rel = {COMPUTE_RELATION_SKIP, s->file_count, (const char *const *)keys, hits_load, &sk};
    rc = rc ? rc : compute_register(r->lake->cp, &rel, pred);
    for (size_t i = 0; keys && i < s->file_count; i++)
        free(keys[i]);
    free(keys);
    buf_free(&key);
    return rc;
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* What MERGE ... RETURNING (action, file, row) said: the counts per action, and the
 * (file, row * 2 + updated) pairs of the target rows it deleted or updated. */
typedef struct {
    int64_t *counts, *pairs;
    size_t n, cap;
} merge_returned;

static int merge_returning(void *ctx, const int64_t *const *cols, size_t ncols, size_t n)
{
    merge_returned *m = ctx;
    (void)ncols;
    for (size_t i = 0; i < n; i++) {
        int64_t kind = cols[0][i];
        if (kind >= 0 && kind <= 2)
            m->counts[kind]++;
        if (kind < 1)
            continue;
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 4096;
            int64_t *grown = realloc(m->pairs, cap * 2 * sizeof(*grown));
            if (!grown)
                return error_set(LOCH_ENOMEM, "out of memory (%zu rows changed by MERGE)", m->n);
            m->pairs = grown;
            m->cap = cap;
        }
        m->pairs[2 * m->n] = cols[1][i];
        m->pairs[2 * m->n + 1] = cols[2][i] * 2 + (kind == 1); /* low bit: updated */
        m->n++;
    }
    return 0;
}

/* Whether token t (a word or "quoted" name) names alias, as the engine compares names. */
static bool names_alias(const dml_stmt *st, const sql_token *t, const char *alias)
{
    bool quoted = t->kind == TOK_QUOTED;
    size_t n = t->len - 2 * quoted;
    return (t->kind == TOK_WORD || quoted) && n == strlen(alias) &&
           strncasecmp(st->sql + t->start + quoted, alias, n) == 0 && !memchr(st->sql + t->start + quoted, '"', n);
}

/* MERGE's data skipping: each top-level conjunct "T.c = S.d" of ON (T the target, S
 * the source) can only match target rows whose c lies between the source's least and
 * greatest d, so "T.c BETWEEN least AND greatest" is judged against each file's
 * statistics (as a WHERE clause of DELETE is). Only integer values give bounds (see
 * below for strings), only with no WHEN NOT MATCHED BY SOURCE (then every target row
 * matters). A conjunct is cut at AND outside parentheses, CASE ... END and BETWEEN's
 * own AND. A source without a non-NULL d matches nothing: judged as no bounds, all
 * files kept. */
static int merge_skip(dml_run *r, bool *skip)
{
    enum { MAX_KEYS = 8 };
    const dml_stmt *st = r->st;
    char alias[256];
    buf bounds = BUF_INIT, q = BUF_INIT;
    span keys[MAX_KEYS][2]; /* per key conjunct: the target's column, the source's */
    size_t nkeys = 0, pos = st->on.start;
    int rc = 0, depth = 0;
    bool end = st->by_source;
    target_alias(st, alias, sizeof(alias));
    while (!end) {
        /* one conjunct: up to AND at depth 0 or the end; only the 7-token shape counts */
        sql_token t[8];
        size_t n = 0;
        bool between = false;
        for (;;) {
            sql_token k;
            if (pos >= st->on.end || sqlscan_next(st->sql, st->on.end, &pos, &k) < 0 || k.kind == TOK_END) {
                error_clear();
                end = true;
                break;
            }
            if (depth == 0 && sqlscan_is(st->sql, &k, "AND") && !between)
                break;
            if (depth == 0 && sqlscan_is(st->sql, &k, "AND"))
                between = false; /* BETWEEN's own AND: still this conjunct */
            if (depth == 0 && sqlscan_is(st->sql, &k, "BETWEEN"))
                between = true;
            /* CASE ... END nests as parentheses do: its ANDs are not conjuncts either */
            depth += (k.kind == TOK_PUNCT && st->sql[k.start] == '(') || sqlscan_is(st->sql, &k, "CASE");
            depth -= (k.kind == TOK_PUNCT && st->sql[k.start] == ')') || sqlscan_is(st->sql, &k, "END");
            if (depth == 0 && sqlscan_is(st->sql, &k, "OR")) /* an OR at the top: nothing bounds the rows */
                return 0;
            if (n < 8)
                t[n] = k;
            n++;
        }
        bool shape = n == 7 && t[1].kind == TOK_PUNCT && st->sql[t[1].start] == '.' && t[3].kind == TOK_PUNCT &&
                     t[3].len == 1 && st->sql[t[3].start] == '=' && t[5].kind == TOK_PUNCT && st->sql[t[5].start] == '.';
        for (size_t i = 0; shape && i < 7; i += 2) /* names at 0, 2, 4, 6 */
            shape = t[i].kind == TOK_WORD || t[i].kind == TOK_QUOTED;
        int side = !shape ? -1 : names_alias(st, &t[0], alias) && !names_alias(st, &t[4], alias) ? 0
                               : names_alias(st, &t[4], alias) && !names_alias(st, &t[0], alias) ? 4 : -1;
        if (side >= 0 && nkeys < MAX_KEYS) {
            const sql_token *tgt = &t[side], *src = &t[4 - side];
            keys[nkeys][0] = (span){tgt[0].start, tgt[2].start + tgt[2].len};
            keys[nkeys][1] = (span){src[0].start, src[2].start + src[2].len};
            nkeys++;
        }
    }
    if (nkeys == 0)
        return 0;
    /* One pass over the source for every key: its type, least and greatest value. */
    rc = buf_puts(&q, "SELECT ") ? LOCH_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        int len = (int)(keys[i][1].end - keys[i][1].start);
        const char *d = st->sql + keys[i][1].start;
        rc = buf_printf(&q, "%stypeof(min(%.*s)), min(%.*s)::VARCHAR, max(%.*s)::VARCHAR", i ? ", " : "", len, d, len,
                        d, len, d) ? LOCH_ENOMEM : 0;
    }
    rc = rc || buf_puts(&q, " FROM ") || put_span(&q, st, st->source) ? (rc ? rc : LOCH_ENOMEM) : 0;
    compute_result *mm = NULL;
    rc = rc ? rc : compute_query(r->lake->cp, q.data, &mm);
    /* Integers only: a string key may carry a collation (d COLLATE NOCASE, a TEMP table's
     * column) under which equal strings differ in bytes, and the engine tells no
     * expression's collation; byte bounds would skip matching files. */
    static const char *const ints[] = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                       "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"};
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        char *type = compute_result_text(mm, 0, 3 * i), *lo = compute_result_text(mm, 0, 3 * i + 1),
             *hi = compute_result_text(mm, 0, 3 * i + 2);
        bool integer = false;
        for (size_t k = 0; type && k < sizeof(ints) / sizeof(ints[0]); k++)
            integer = integer || strcmp(type, ints[k]) == 0;
        if (integer && lo && hi)
            rc = buf_puts(&bounds, bounds.len ? " AND " : "") || put_span(&bounds, st, keys[i][0]) ||
                 buf_printf(&bounds, " BETWEEN %s AND %s", lo, hi) ? LOCH_ENOMEM : 0;
        free(type);
        free(lo);
        free(hi);
    }
    compute_result_free(mm);
    if (rc == 0 && bounds.len) {
        int pruned = prune_files(r->s, bounds.data, bounds.len, alias, false, skip); /* integers only */
        rc = pruned < 0 ? pruned : 0;
    }
    buf_free(&bounds);
    buf_free(&q);
    return rc;
}

/* MERGE's find step: the statement itself runs, by the engine, on a copy of the target
 * rows it can touch, each carrying its place; what it returns says which rows it
 * deleted, updated and inserted. The new rows (updated and inserted) go to __loch_ins. */
static int find_merge(dml_run *r, int64_t counts[3])
{
    const dml_stmt *st = r->st;
    const snapshot *s = r->s;
    buf sql = BUF_INIT, rows = BUF_INIT;
    size_t *all = malloc(sizeof(*all) * (s->file_count + 1)), nall = 0;
    bool *skip = calloc(s->file_count + 1, sizeof(*skip));
    int rc = all && skip ? allow_functions(r->lake, st->sql) : error_set(LOCH_ENOMEM, "out of memory");

    rc = rc || buf_puts(&sql, "SELECT 1 FROM ") || buf_put_sql_ident(&sql, st->table) || buf_puts(&sql, " AS ") ||
         put_alias(&sql, st) || buf_puts(&sql, ", ") || put_span(&sql, st, st->source) || buf_puts(&sql, " WHERE ") ||
         put_span(&sql, st, st->on) ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : allow_query(r->lake, sql.data);
    buf_clear(&sql);
    rc = rc ? rc : merge_skip(r, skip); /* after the check: it runs a query over the source */
    for (size_t i = 0; rc == 0 && i < s->file_count; i++)
        if (!skip[i])
            all[nall++] = i;
    rc = rc ? rc : scan_rows_sql(r->lake, st->table, s, all, nall, NULL, true, &rows);
    rc = rc || buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_tgt AS SELECT ") || put_alias(&sql, st) ||
         buf_printf(&sql, ".* FROM (%s) AS ", rows.data) || put_alias(&sql, st) ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && !st->by_source)
        rc = buf_puts(&sql, " SEMI JOIN ") || put_span(&sql, st, st->source) || buf_puts(&sql, " ON ") ||
             put_span(&sql, st, st->on) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec_one(r->lake->cp, sql.data);
    buf_clear(&sql);
    rc = rc || buf_puts(&sql, "MERGE INTO __loch_tgt AS ") || put_alias(&sql, st) || buf_puts(&sql, " USING ") ||
         put_span(&sql, st, st->source) || buf_puts(&sql, " ON ") || put_span(&sql, st, st->on) || buf_putc(&sql, ' ')
             ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : when_clauses(r, &sql);
    rc = rc || buf_puts(&sql, " RETURNING (CASE merge_action::VARCHAR WHEN 'INSERT' THEN 0 WHEN 'UPDATE' THEN 1 "
                              "WHEN 'DELETE' THEN 2 ELSE -1 END)::BIGINT, coalesce(") || put_alias(&sql, st) ||
         buf_puts(&sql, ".__loch_file, -1)::BIGINT, coalesce(") || put_alias(&sql, st) ||
         buf_puts(&sql, ".__loch_row, -1)::BIGINT")
             ? (rc ? rc : LOCH_ENOMEM) : 0;
    merge_returned got = {counts, NULL, 0, 0};
    rc = rc ? rc : compute_query_i64(r->lake->cp, sql.data, merge_returning, &got);
    int64_t *pairs = got.pairs;
    size_t npairs = got.n;
    if (npairs)
        qsort(pairs, npairs, 2 * sizeof(*pairs), cmp_pair);
    for (size_t i = 1; rc == 0 && i < npairs; i++)
        if (pairs[2 * i] == pairs[2 * i - 2] && pairs[2 * i + 1] / 2 == pairs[2 * i - 1] / 2)
            rc = error_set(LOCH_EINVALID, "MERGE INTO %s: a target row was matched by more than one source row, so "
                           "which change applies is ambiguous (Delta refuses such a MERGE too)", st->table);
    rc = rc ? rc : hits_from_pairs(r, pairs, npairs);
    /* The updated rows' places, handed to the engine as a relation (per file, the rows
     * to pick), for picking their new versions out of the copy. */
    dv_rows *upd = rc == 0 ? calloc(s->file_count + 1, sizeof(*upd)) : NULL;
    if (rc == 0 && !upd)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < npairs; i++) {
        if (!(pairs[2 * i + 1] & 1))
            continue;
        dv_rows *u = &upd[pairs[2 * i]];
        if (!u->rows && !(u->rows = malloc(r->hits[pairs[2 * i]].count * sizeof(*u->rows))))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            u->rows[u->count++] = (uint64_t)(pairs[2 * i + 1] / 2);
    }
    r->upd = upd; /* kept for the change data (run_free frees them) */
    buf pick = BUF_INIT;
    rc = rc ? rc : register_sets(r, upd, "upd", &pick);
    rc = rc ? rc : insert_stage_table(r->lake, s);
    buf_clear(&sql);
    rc = rc || buf_puts(&sql, "INSERT INTO __loch_ins SELECT ") ? (rc ? rc : LOCH_ENOMEM) : 0;
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
        rc = (i ? buf_puts(&sql, ", ") : 0) || buf_puts(&sql, "x.") || buf_put_sql_ident(&sql, s->schema.fields[i].name)
                 ? LOCH_ENOMEM : 0;
    rc = rc || buf_printf(&sql, " FROM (SELECT *, __loch_file::UBIGINT AS file_index, __loch_row AS file_row_number "
                                "FROM __loch_tgt) AS x WHERE x.__loch_file IS NULL OR NOT %s", pick.data)
             ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && !(r->upd_pick = strdup(pick.data)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    buf_free(&pick);
    rc = rc ? rc : compute_exec_one(r->lake->cp, sql.data);
    free(pairs);
    free(all);
    free(skip);
    buf_free(&sql);
    buf_free(&rows);
    return rc;
}

/* Adds "tightBounds":false to a file's stats: once rows are deleted by a DV, the
 * min/max of the file cover rows no longer there (still safe bounds, no longer exact). */
static char *wide_stats(const char *stats)
{
    if (!stats || stats[0] != '{')
        return stats ? strdup(stats) : NULL;
    const char *tb = strstr(stats, "\"tightBounds\":");
    buf b = BUF_INIT;
    int rc;
    if (tb) {
        const char *v = tb + strlen("\"tightBounds\":");
        size_t vlen = strncmp(v, "true", 4) == 0 ? 4 : strncmp(v, "false", 5) == 0 ? 5 : 0;
        rc = buf_put(&b, stats, (size_t)(v - stats)) || buf_puts(&b, "false") || buf_puts(&b, v + vlen);
    } else {
        rc = buf_puts(&b, "{\"tightBounds\":false") || buf_puts(&b, stats[1] == '}' ? "" : ",") ||
             buf_puts(&b, stats + 1);
    }
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b);
}

typedef struct {
    int64_t removed_files, added_files, dvs_added, dvs_removed, dvs_updated, copied_rows, rewritten_files,
        change_files;
} dml_counts;

/* The change step: per touched file, the rows it loses, and its remove / add actions. */
static int change_files(dml_run *r, txlog_commit *c, dml_counts *k)
{
    loch_lake *lake = r->lake;
    const snapshot *s = r->s;
    const char *table = r->st->table;
    buf dvfile = BUF_INIT, path = BUF_INIT, intent = BUF_INIT;
    size_t *rewrite = calloc(r->ntouched + 1, sizeof(*rewrite)), nrewrite = 0;
    char id[37], z85[21] = "";
    int rc = rewrite ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    uuid_v4(id);
    rc = rc ? rc : dv_uuid_path(id, z85);
    for (size_t t = 0; rc == 0 && t < r->ntouched; t++) {
        size_t i = r->touched[t];
        const log_file *f = &s->files[i];
        dv_rows old = {NULL, 0};
        rc = scan_file_dv(lake, table, f, &old);
        rc = rc ? rc : dv_rows_union(&old, &r->hits[i], &r->gone[i]);
        dv_rows_free(&old);
        if (rc < 0)
            break;
        log_action rm = {.kind = LOG_REMOVE, .u.file = *f};
        rm.u.file.deletion_timestamp = time_now_ms();
        rm.u.file.data_change = true;
        rm.u.file.stats = NULL;
        rc = commit_append(&c->cm, &rm);
        bool emptied = f->num_records >= 0 && (int64_t)r->gone[i].count >= f->num_records;
        /* Delta's counting: a file that only gets a new DV is neither removed nor added. */
        k->removed_files += emptied || !r->dv_mode;
        k->dvs_removed += f->dv.storage_type != 0 && (emptied || !r->dv_mode);
        if (rc < 0 || emptied)
            continue;
        if (!r->dv_mode) {
            rewrite[nrewrite++] = i;
            if (f->num_records >= 0)
                k->copied_rows += f->num_records - (int64_t)r->gone[i].count;
            continue;
        }
        /* A small DV goes inline in the log (storage type i), a bigger one into the
         * statement's DV file (u). */
        int64_t offset = 0;
        size_t size = 0;
        buf inline_dv = BUF_INIT;
        rc = dv_encode_inline(&r->gone[i], &inline_dv, &size);
        bool inl = rc == 0 && size <= DV_INLINE_MAX;
        if (rc == 0 && !inl)
            rc = dv_file_append(&dvfile, &r->gone[i], &offset, &size);
        char *stats = rc == 0 ? wide_stats(f->stats) : NULL;
        if (rc == 0 && f->stats && !stats)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        log_action add = {.kind = LOG_ADD, .u.file = *f};
        add.u.file.data_change = true;
        add.u.file.stats = stats;
        add.u.file.dv = inl ? (log_dv){'i', inline_dv.data, -1, (int64_t)size, (int64_t)r->gone[i].count}
                            : (log_dv){'u', z85, offset, (int64_t)size, (int64_t)r->gone[i].count};
        rc = rc ? rc : commit_append(&c->cm, &add); /* copies the strings */
        buf_free(&inline_dv);
        free(stats);
        if (f->dv.storage_type)
            k->dvs_updated++;
        else
            k->dvs_added++;
    }
    /* The DV file: recorded in the write intent, then written durably, before the commit. */
    if (rc == 0 && dvfile.len) {
        char rel[128];
        rc = dv_relative_path(z85, rel, sizeof(rel));
        rc = rc ? rc : buf_printf(&path, "%s/%s", table, rel);
        rc = rc ? rc : buf_printf(&intent, "file %s\n", path.data);
        rc = rc ? rc : intent_begin(lake, c, NULL);
        rc = rc ? rc : intent_files(c, intent.data);
        lake_hold(lake, "dml-dv");
        rc = rc ? rc : lake->st->put(lake->st, path.data, dvfile.data, dvfile.len);
        if (rc == 0 && !(r->dv_path = strdup(path.data)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    /* Copy-on-write: the touched files again, without the rows they lose; an UPDATE's
     * new rows go into the same files. */
    buf rows = BUF_INIT, sql = BUF_INIT;
    if (rc == 0 && (nrewrite || r->new_rows)) {
        scan_skip skip = {r->tag, gone_load, r, NULL};
        compute_column *cols = NULL;
        size_t ncols = 0;
        int64_t before = c->cm.files_written;
        rc = write_columns_of(s, &cols, &ncols);
        if (rc == 0 && nrewrite) {
            rc = scan_rows_sql(lake, table, s, rewrite, nrewrite, &skip, false, &rows);
            rc = rc ? rc : buf_puts(&sql, rows.data);
        }
        if (rc == 0 && r->new_rows)
            rc = buf_printf(&sql, "%sSELECT * FROM __loch_ins", nrewrite ? " UNION ALL BY NAME " : "");
        buf sources = BUF_INIT;
        rc = rc ? rc : write_sources_of(s, rewrite, nrewrite, &sources);
        rc = rc ? rc : write_data_file_from(lake, c, s->metadata.schema_string, sql.data, cols, ncols,
                                            sources.len ? sources.data : NULL);
        buf_free(&sources);
        k->added_files += c->cm.files_written - before;
        k->rewritten_files = (int64_t)nrewrite;
        compute_columns_free(cols, ncols);
    }
    buf_free(&rows);
    buf_free(&sql);
    buf_free(&dvfile);
    buf_free(&path);
    buf_free(&intent);
    free(rewrite);
    return rc;
}

/* UPDATE: the new rows, shaped by the table's types and NOT NULLs into __loch_ins. */
static int stage_new_rows(dml_run *r)
{
    const snapshot *s = r->s;
    buf sql = BUF_INIT;
    int rc = insert_stage_table(r->lake, s);
    rc = rc || buf_puts(&sql, "INSERT INTO __loch_ins SELECT ") ? (rc ? rc : LOCH_ENOMEM) : 0;
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        int set = -1;
        for (size_t j = 0; j < r->st->nsets; j++)
            set = r->set_column[j] == (int)i ? (int)j : set;
        rc = (i ? buf_puts(&sql, ", ") : 0) ||
             (set >= 0 ? buf_printf(&sql, "__loch_set_%d", set) : buf_put_sql_ident(&sql, s->schema.fields[i].name))
                 ? LOCH_ENOMEM : 0;
    }
    rc = rc || buf_puts(&sql, " FROM __loch_hit") ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : compute_exec_one(r->lake->cp, sql.data);
    buf_free(&sql);
    return rc;
}

/* The change data of the statement (delta.enableChangeDataFeed), as Delta's readers
 * expect it: the rows it deleted ('delete'), the old and new versions of the rows it
 * updated ('update_preimage', 'update_postimage') and the rows it inserted
 * ('insert'), in change data files the commit names with cdc actions. */
static int write_changes(dml_run *r, txlog_commit *c, int64_t *files)
{
    const snapshot *s = r->s;
    const dml_stmt *st = r->st;
    compute_column *cols = NULL;
    size_t ncols = 0;
    buf rows = BUF_INIT, sql = BUF_INIT, hit = BUF_INIT, upd = BUF_INIT;
    int rc = write_columns_of(s, &cols, &ncols);
    if (rc == 0) {
        compute_column *g = realloc(cols, (ncols + 1) * sizeof(*cols));
        rc = g ? 0 : error_set(LOCH_ENOMEM, "out of memory");
        if (rc == 0) {
            cols = g;
            cols[ncols] = (compute_column){strdup("_change_type"), strdup("\"string\""), strdup("\"_change_type\""),
                                           false, false, strdup("{}")};
            rc = cols[ncols].name && cols[ncols].delta_type && cols[ncols].write_expr && cols[ncols].metadata
                     ? 0 : error_set(LOCH_ENOMEM, "out of memory");
            ncols++;
        }
    }
    if (rc == 0 && st->flush_src) {
        /* A flush: every change of the log in LSN order, each against the key's state
         * before it (the table's row for the first, then the change before): an upsert
         * over a row is an update's pre- and post-image, over none an insert; a delete of
         * a row is a delete (with that row's values), of none nothing. */
        if (r->ntouched) {
            rc = scan_rows_sql(r->lake, st->table, s, r->touched, r->ntouched, NULL, true, &rows);
            rc = rc ? rc : register_sets(r, r->hits, "hit", &hit);
            rc = rc || buf_printf(&sql, "WITH __loch_pre AS (SELECT * EXCLUDE (__loch_file, __loch_row, file_index, "
                                        "file_row_number) FROM (SELECT *, __loch_file::UBIGINT AS file_index, "
                                        "__loch_row AS file_row_number FROM (%s)) WHERE NOT %s), ",
                                  rows.data, hit.data) ? (rc ? rc : LOCH_ENOMEM) : 0;
        } else {
            rc = buf_puts(&sql, "WITH __loch_pre AS (SELECT * FROM __loch_ins WHERE false), ") ? LOCH_ENOMEM : 0;
        }
        buf cur = BUF_INIT, prev = BUF_INIT, lags = BUF_INIT;
        for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
            const char *name = s->schema.fields[i].name;
            rc = (i ? buf_puts(&cur, ", ") || buf_puts(&prev, ", ") : 0) || buf_put_sql_ident(&cur, name) ||
                 buf_printf(&prev, "__loch_p%zu AS ", i) || buf_put_sql_ident(&prev, name) ||
                 buf_puts(&lags, ", lag(") || buf_put_sql_ident(&lags, name) ||
                 buf_printf(&lags, ") OVER __loch_w AS __loch_p%zu", i) ? LOCH_ENOMEM : 0;
        }
        rc = rc || buf_printf(&sql, "__loch_seq AS (SELECT *, lag(__change_type) OVER __loch_w AS __loch_pt%s FROM "
                                    "(SELECT %s, 'upsert' AS __change_type, 0::UBIGINT AS __lsn FROM __loch_pre UNION "
                                    "ALL SELECT %s, __change_type, __lsn::UBIGINT FROM %s) WINDOW __loch_w AS "
                                    "(PARTITION BY ", lags.data, cur.data, cur.data,
                              st->flush_all ? st->flush_all : st->flush_src) ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : ops_put_names(&sql, "", st->flush_key, st->flush_nkey);
        /* had: the key had a row before this change. The rows go into the change file in
         * the log's order (a pre-image before its post-image): the feed's columns cannot
         * say it, but a reader of the file in order sees the writes' order. */
        rc = rc || buf_printf(&sql, " ORDER BY __lsn)), __loch_c AS (SELECT *, coalesce(__loch_pt, 'delete') <> "
                                    "'delete' AS __loch_had FROM __loch_seq WHERE __lsn > 0) "
                                    "SELECT %s, 'update_preimage' AS _change_type, __lsn AS __loch_o1, 0 AS __loch_o2 "
                                    "FROM __loch_c WHERE __loch_had AND __change_type <> 'delete' UNION ALL SELECT %s, "
                                    "'update_postimage', __lsn, 1 FROM __loch_c WHERE __loch_had AND __change_type <> "
                                    "'delete' UNION ALL SELECT %s, 'insert', __lsn, 1 FROM __loch_c WHERE NOT "
                                    "__loch_had AND __change_type <> 'delete' UNION ALL SELECT %s, 'delete', __lsn, 0 "
                                    "FROM __loch_c WHERE __loch_had AND __change_type = 'delete' ORDER BY __loch_o1, "
                                    "__loch_o2",
                              prev.data, cur.data, cur.data, prev.data) ? (rc ? rc : LOCH_ENOMEM) : 0;
        buf_free(&cur);
        buf_free(&prev);
        buf_free(&lags);
    }
    /* The old versions: the hit rows as the snapshot holds them. */
    if (rc == 0 && r->ntouched && !st->flush_src) {
        rc = scan_rows_sql(r->lake, st->table, s, r->touched, r->ntouched, NULL, true, &rows);
        rc = rc ? rc : register_sets(r, r->hits, "hit", &hit);
        if (rc == 0 && r->upd)
            rc = register_sets(r, r->upd, "upd", &upd);
        rc = rc || buf_printf(&sql, "SELECT * EXCLUDE (__loch_file, __loch_row, file_index, file_row_number), ") ||
             (st->kind == DML_DELETE ? buf_puts(&sql, "'delete'")
              : st->kind == DML_UPDATE ? buf_puts(&sql, "'update_preimage'")
              : buf_printf(&sql, "CASE WHEN NOT %s THEN 'update_preimage' ELSE 'delete' END", upd.data)) ||
             buf_printf(&sql, " AS _change_type FROM (SELECT *, __loch_file::UBIGINT AS file_index, __loch_row AS "
                              "file_row_number FROM (%s)) WHERE NOT %s", rows.data, hit.data)
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    /* The new versions. */
    if (rc == 0 && st->kind == DML_UPDATE && r->new_rows)
        rc = buf_printf(&sql, "%sSELECT *, 'update_postimage' AS _change_type FROM __loch_ins",
                        sql.len ? " UNION ALL BY NAME " : "") ? LOCH_ENOMEM : 0;
    if (rc == 0 && st->kind == DML_MERGE && r->new_rows) {
        rc = buf_printf(&sql, "%sSELECT * EXCLUDE (__loch_file, __loch_row, file_index, file_row_number), CASE WHEN "
                              "__loch_file IS NULL THEN 'insert' ELSE 'update_postimage' END AS _change_type FROM "
                              "(SELECT *, __loch_file::UBIGINT AS file_index, __loch_row AS file_row_number FROM "
                              "__loch_tgt) WHERE __loch_file IS NULL OR NOT %s",
                        sql.len ? " UNION ALL BY NAME " : "", r->upd_pick) ? LOCH_ENOMEM : 0;
    }
    rc = rc || !sql.len ? rc : write_change_file(r->lake, c, s->metadata.schema_string, sql.data, cols, ncols);
    for (size_t i = 0; rc == 0 && i < c->cm.count; i++)
        *files += c->cm.actions[i].kind == LOG_CDC;
    compute_columns_free(cols, ncols);
    buf_free(&rows);
    buf_free(&sql);
    buf_free(&hit);
    buf_free(&upd);
    return rc;
}

/* A flush's new rows: the latest change of each key that is not a delete, shaped by
 * the table's types and NOT NULLs into __loch_ins. */
static int stage_flush_rows(dml_run *r)
{
    const snapshot *s = r->s;
    buf sql = BUF_INIT;
    compute_result *n = NULL;
    int rc = insert_stage_table(r->lake, s);
    rc = rc || buf_puts(&sql, "INSERT INTO __loch_ins SELECT ") || ops_put_columns(&sql, "", s) ||
         buf_printf(&sql, " FROM %s WHERE __change_type <> 'delete' ORDER BY ", r->st->flush_src)
             ? (rc ? rc : LOCH_ENOMEM) : 0;
    /* in key order: a file's key statistics then bound a narrow range, so lookups and the
     * next flushes read few of its row groups (the tail arrives in no order) */
    rc = rc ? rc : ops_put_names(&sql, "", r->st->flush_key, r->st->flush_nkey);
    rc = rc ? rc : compute_exec_one(r->lake->cp, sql.data);
    rc = rc ? rc : compute_query(r->lake->cp, "SELECT count(*) FROM __loch_ins", &n);
    if (rc == 0)
        r->new_rows = compute_result_i64(n, 0, 0);
    compute_result_free(n);
    buf_free(&sql);
    return rc;
}

/* A MERGE into a table with a primary key keeps the key unique: the rows it keeps and
 * the rows it writes hold each key once (an INSERT of a key the table has, or a source
 * with a key twice, is refused before anything is written). */
static int merge_keys_unique(dml_run *r)
{
    const snapshot *s = r->s;
    const char **key = NULL;
    size_t nkey = 0;
    buf rows = BUF_INIT, hit = BUF_INIT, sql = BUF_INIT, keys = BUF_INIT;
    compute_result *res = NULL;
    size_t *all = calloc(s->file_count + 1, sizeof(size_t));
    int rc = all ? tail_key(s, &key, &nkey) : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < nkey; k++)
        rc = (k ? buf_puts(&keys, ", ") : 0) || buf_put_sql_ident(&keys, key[k]) ? LOCH_ENOMEM : 0;
    for (size_t i = 0; i < s->file_count && all; i++)
        all[i] = i;
    rc = rc || buf_printf(&sql, "SELECT count(*) - count(DISTINCT (%s)) FROM (", keys.data) ? (rc ? rc : LOCH_ENOMEM)
                                                                                            : 0;
    if (rc == 0 && s->file_count) {
        rc = scan_rows_sql(r->lake, r->st->table, s, all, s->file_count, NULL, true, &rows);
        if (rc == 0 && r->hits)
            rc = register_sets(r, r->hits, "keys", &hit);
        rc = rc || buf_printf(&sql, "SELECT %s FROM (SELECT *, __loch_file::UBIGINT AS file_index, __loch_row AS "
                                    "file_row_number FROM (%s))%s%s UNION ALL ", keys.data, rows.data,
                              hit.len ? " WHERE " : "", hit.len ? hit.data : "") ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    rc = rc || buf_printf(&sql, "SELECT %s FROM __loch_ins)", keys.data) ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : compute_query(r->lake->cp, sql.data, &res);
    if (rc == 0 && compute_result_i64(res, 0, 0) > 0)
        rc = error_set(LOCH_EINVALID, "MERGE into \"%s\" would give %lld rows a primary key (%s) another row "
                       "has: a key the table holds is not inserted again, nor one the source has twice",
                       r->st->table, (long long)compute_result_i64(res, 0, 0), keys.data);
    compute_result_free(res);
    free(key);
    free(all);
    buf_free(&rows);
    buf_free(&hit);
    buf_free(&sql);
    buf_free(&keys);
    return rc;
}

static int merge_metrics(txlog_commit *c, const dml_counts *k, const int64_t counts[3])
{
    commit *m = &c->cm;
    int rc = commit_metric(m, "numTargetRowsInserted", counts[0]);
    rc = rc ? rc : commit_metric(m, "numTargetRowsUpdated", counts[1]);
    rc = rc ? rc : commit_metric(m, "numTargetRowsDeleted", counts[2]);
    rc = rc ? rc : commit_metric(m, "numTargetRowsCopied", k->copied_rows);
    rc = rc ? rc : commit_metric(m, "numOutputRows", c->cm.rows_written);
    rc = rc ? rc : commit_metric(m, "numTargetFilesAdded", k->added_files);
    rc = rc ? rc : commit_metric(m, "numTargetFilesRemoved", k->removed_files);
    rc = rc ? rc : commit_metric(m, "numTargetDeletionVectorsAdded", k->dvs_added);
    rc = rc ? rc : commit_metric(m, "numTargetDeletionVectorsRemoved", k->dvs_removed);
    rc = rc ? rc : commit_metric(m, "numTargetDeletionVectorsUpdated", k->dvs_updated);
    rc = rc ? rc : commit_metric(m, "numTargetChangeFilesAdded", k->change_files);
    return rc;
}

static int metrics(txlog_commit *c, const dml_run *r, const dml_counts *k)
{
    commit *m = &c->cm;
    int rc = commit_metric(m, "numRemovedFiles", k->removed_files);
    rc = rc ? rc : commit_metric(m, "numAddedFiles", k->added_files);
    rc = rc ? rc : commit_metric(m, r->st->kind == DML_DELETE ? "numDeletedRows" : "numUpdatedRows", r->nhits);
    rc = rc ? rc : commit_metric(m, "numCopiedRows", k->copied_rows);
    rc = rc ? rc : commit_metric(m, "numDeletionVectorsAdded", k->dvs_added);
    rc = rc ? rc : commit_metric(m, "numDeletionVectorsRemoved", k->dvs_removed);
    rc = rc ? rc : commit_metric(m, "numDeletionVectorsUpdated", k->dvs_updated);
    rc = rc ? rc : commit_metric(m, "numAddedChangeFiles", k->change_files);
    rc = rc ? rc : commit_metric(m, "numOutputRows", c->cm.rows_written);
    return rc;
}

/* One attempt: find, change, commit. ECONFLICT when another commit got in the way. */
/* What the first attempt read the table as: a later attempt against another table
 * (dropped and created again, or replaced) or another schema does not run. */
typedef struct {
    char *id, *schema;
    bool seen;
    bool replaced;          /* a later attempt found another table: no attempt after it */
} dml_table_seen;

static int same_table_as_seen(dml_table_seen *seen, const dml_stmt *st, const snapshot *s)
{
    const char *id = s->metadata.id ? s->metadata.id : "", *sc = s->metadata.schema_string ? s->metadata.schema_string : "";
    if (!seen->seen) {
        seen->id = strdup(id);
        seen->schema = strdup(sc);
        seen->seen = true;
        return seen->id && seen->schema ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    }
    seen->replaced = strcmp(seen->id, id) != 0 || strcmp(seen->schema, sc) != 0;
    if (seen->replaced)
        return error_set(LOCH_ECONFLICT, "table \"%s\" was replaced, or its schema changed, by version %lld while this "
                         "statement ran; nothing was written (run it again against the table as it is now)",
                         st->table, (long long)s->version);
    return 0;
}

static int attempt(loch_lake *lake, const dml_stmt *st, dml_table_seen *seen, loch_result **out)
{
    dml_run r = {.lake = lake, .st = st};
    txlog_commit c;
    dml_counts k = {0};
    int64_t version = -1;
    char id[37];
    uuid_v4(id);
    snprintf(r.tag, sizeof(r.tag), "dml-%s", id);
    int64_t counts[3] = {0, 0, 0}; /* MERGE: rows inserted, updated, deleted */
    static const char *const ops[] = {"DELETE", "UPDATE", "MERGE"};
    txlog_commit_init(&c, st->table, st->flush_src ? "MERGE" : ops[st->kind]);
    int rc = txlog_load(lake, st->table, &(txlog_at){-1, 0, 0}, &r.s);
    rc = rc ? rc : same_table_as_seen(seen, st, r.s);
    rc = rc ? rc : check_table(&r);
    rc = rc ? rc : st->kind == DML_UPDATE ? resolve_sets(&r) : 0;
    rc = rc ? rc : scan_pin(lake, st->table, r.s);
    rc = rc ? rc : tail_prepare(lake, st->sql, NULL); /* the other tables it reads, with their logs' tails */
    if (st->kind == DML_MERGE) {
        rc = rc ? rc : find_merge(&r, counts);
        r.new_rows = counts[0] + counts[1];
        if (rc == 0 && r.new_rows && snapshot_property(r.s, TAIL_PK_PROPERTY))
            rc = merge_keys_unique(&r);
    } else {
        rc = rc ? rc : find_hits(&r);
        rc = rc ? rc : st->kind == DML_UPDATE ? stage_new_rows(&r) : 0;
        r.new_rows = st->kind == DML_UPDATE ? r.nhits : 0;
        if (rc == 0 && st->flush_src)
            rc = stage_flush_rows(&r);
    }
    rc = rc ? rc : txlog_commit_against(&c, r.s);
    if (rc == 0) {
        commit_read_whole_table(&c.cm);
        buf pred = BUF_INIT;
        span p = st->kind == DML_MERGE ? st->on : st->where;
        rc = buf_putc(&pred, '[') ||
             (p.end > p.start && !st->flush_src ? buf_put_json_strn(&pred, st->sql + p.start, p.end - p.start) : 0) ||
             buf_putc(&pred, ']') ? LOCH_ENOMEM : 0; /* a flush's is loch's own text: none shown */
        if (rc == 0 && st->flush_src)
            rc = commit_parameter(&c.cm, "source", "write-ahead log");
        rc = rc ? rc : commit_parameter(&c.cm, "predicate", pred.data);
        buf_free(&pred);
    }
    bool flushed_already = false;
    if (rc == 0 && st->txn_app) {
        /* A flush: the LSNs it covers go in with its rows, once (ops/tail.c). */
        flushed_already = snapshot_txn_version(r.s, st->txn_app) >= st->txn_version;
        log_action txn = {.kind = LOG_TXN, .u.txn = {st->txn_app, st->txn_version, time_now_ms()}};
        rc = commit_read_app_id(&c.cm, st->txn_app);
        rc = rc || flushed_already ? rc : commit_append(&c.cm, &txn);
        for (size_t i = 0; rc == 0 && !flushed_already && i < st->flush_ntxns; i++)
            rc = commit_append(&c.cm, &(log_action){.kind = LOG_TXN, .u.txn = st->flush_txns[i]});
    }
    if (rc == 0 && !flushed_already && (r.nhits > 0 || r.new_rows > 0 || st->txn_app)) {
        rc = r.cdf ? write_changes(&r, &c, &k.change_files) : 0;
        rc = rc ? rc : change_files(&r, &c, &k);
        rc = rc ? rc : st->kind == DML_MERGE ? merge_metrics(&c, &k, counts) : metrics(&c, &r, &k);
        lake_hold(lake, "dml-commit");
        rc = rc ? rc : txlog_commit_run(lake, &c, &version);
        /* Not committed: what it wrote goes. A commit in the log whose directory fsync
         * failed (an error with a version) keeps every file it names. */
        if (rc < 0 && version < 0) {
            txlog_commit_abort(lake, &c);
            if (r.dv_path)
                lake->st->remove(lake->st, r.dv_path);
        }
    }
    const char *verb = st->kind == DML_DELETE ? "deleted" : "updated";
    const char *prep = st->kind == DML_DELETE ? "from" : "in";
    if (rc == 0 && st->kind == DML_MERGE)
        rc = version >= 0 ? result_message(out, "merged into %s: %lld inserted, %lld updated, %lld deleted (version "
                                           "%lld; data files: %lld removed, %lld added; deletion vectors: %lld "
                                           "written)", st->table, (long long)counts[0], (long long)counts[1],
                                           (long long)counts[2], (long long)version, (long long)k.removed_files,
                                           (long long)k.added_files, (long long)(k.dvs_added + k.dvs_updated))
                          : result_message(out, "merged into %s: nothing changed (no new version)", st->table);
    else if (rc == 0 && version >= 0)
        rc = result_message(out, "%s %lld rows %s %s (version %lld; data files: %lld removed, %lld added; deletion "
                            "vectors: %lld written)", verb, (long long)r.nhits, prep, st->table, (long long)version,
                            (long long)k.removed_files, (long long)k.added_files,
                            (long long)(k.dvs_added + k.dvs_updated));
    else if (rc == 0)
        rc = result_message(out, "%s 0 rows %s %s (no new version)", verb, prep, st->table);
    if (st->version_out)
        *st->version_out = version;
    if (st->flush_counts)
        st->flush_counts[0] = r.nhits, st->flush_counts[1] = r.new_rows;
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_hit");
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_tgt");
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_ins");
    txlog_commit_free(&c);
    run_free(&r);
    return rc;
}

/* The engine's message about a statement loch generated: its staging tables named as
 * the user's table, no "Did you mean" pointing at loch's own columns, and no "LINE 1:"
 * excerpt (it quotes loch's SQL, with the lake's paths, not the user's). */
static void own_error(const dml_stmt *st)
{
    insert_own_name(st->table);
    int code = loch_error_last_code();
    buf m = BUF_INIT;
    if (buf_puts(&m, loch_error_last()) < 0)
        return;
    char *cut = strstr(m.data, "\nLINE ");
    if (cut) {
        while (cut > m.data && cut[-1] == '\n')
            cut--;
        *cut = '\0';
    }
    /* lines after the first that offer loch's own columns as candidates go */
    for (char *line = strchr(m.data, '\n'); line;) {
        char *next = strchr(line + 1, '\n');
        char *end = next ? next : line + strlen(line);
        if (memmem(line, (size_t)(end - line), "__loch_", 7)) {
            memmove(line, end, strlen(end) + 1);
            next = line[0] ? line : NULL;
        }
        line = next;
    }
    buf out = BUF_INIT;
    for (const char *p = m.data; *p;) {
        unsigned set;
        int used = 0;
        if (sscanf(p, "__loch_set_%u%n", &set, &used) == 1 && used > 0 && set < st->nsets) {
            buf_puts(&out, "the value SET gives ");
            buf_put(&out, st->sql + st->sets[set].column.start, st->sets[set].column.end - st->sets[set].column.start);
            p += used;
        } else {
            buf_putc(&out, *p++);
        }
    }
    if (out.data)
        error_set(code, "%s", out.data);
    buf_free(&m);
    buf_free(&out);
}

static int run(loch_lake *lake, dml_stmt *st, loch_result **out)
{
    /* Refused before anything runs, whatever the statement would change: a MERGE that
     * deletes only once ran its find step inside the transaction and committed nothing. */
    if (lake->in_transaction)
        return error_set(LOCH_EINVALID, "table \"%s\": lake tables change by commits of their own, which an open "
                         "transaction cannot hold (it could not roll them back): COMMIT or ROLLBACK first", st->table);
    int rc = 0;
    dml_table_seen seen = {NULL, NULL, false, false};
    for (int i = 0; i < (lake->dml_once ? 1 : DML_ATTEMPTS); i++) {
        scan_unpin(lake); /* a new attempt reads every table afresh */
        rc = attempt(lake, st, &seen, out);
        if (rc != LOCH_ECONFLICT || seen.replaced)
            break;
        lake_hold(lake, "dml-retry");
    }
    free(seen.id);
    free(seen.schema);
    if (rc < 0 && strstr(loch_error_last(), "Error: ")) /* the engine's */
        own_error(st);
    if (rc == 0) {
        scan_unpin(lake);
        ops_auto_optimize(lake, st->table);
    }
    return rc;
}

/* The statement runs on loch's own temporary tables and columns, all named __loch_*:
 * a statement that names one (to read or set a row's place, say) is refused. */
static int reserved_names(const dml_stmt *st)
{
    size_t pos = 0;
    sql_token t;
    int rc;
    while ((rc = tok(st, &pos, &t)) == 0 && t.kind != TOK_END) {
        const char *p = st->sql + t.start + (t.kind == TOK_QUOTED);
        if ((t.kind == TOK_WORD || t.kind == TOK_QUOTED) && t.len >= 7 && strncasecmp(p, "__loch_", 7) == 0)
            return error_set(LOCH_EINVALID, "names starting with __loch_ are loch's own (\"%.*s\")", (int)t.len,
                             st->sql + t.start);
    }
    return rc;
}

/* Parses one statement of kind (the text after the table's name) and runs it. */
static int parse_and_run(loch_lake *lake, dml_kind kind, const char *table, const char *sql, size_t after_name,
                         loch_result **out)
{
    static int (*const parse[])(dml_stmt *, size_t) = {parse_delete, parse_update, parse_merge};
    dml_stmt *st = calloc(1, sizeof(*st)); /* 256 assignments: too big for a stack */
    if (!st)
        return error_set(LOCH_ENOMEM, "out of memory");
    *st = (dml_stmt){.kind = kind, .sql = sql, .len = strlen(sql)};
    snprintf(st->table, sizeof(st->table), "%s", table);
    int rc = reserved_names(st);
    rc = rc ? rc : parse[kind](st, after_name);
    rc = rc ? rc : run(lake, st, out);
    free(st->owned);
    free(st);
    return rc;
}

/* The keys moved rows had (moved_rows' __loch_old_<k>), each after `prefix`. */
static int put_old_key_of(buf *sql, const char *prefix, size_t nkey)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nkey; k++)
        rc = buf_printf(sql, "%s%s__loch_old_%zu", k ? ", " : "", prefix, k) ? LOCH_ENOMEM : 0;
    return rc;
}

static int put_old_key(buf *sql, size_t nkey) { return put_old_key_of(sql, "", nkey); }

/* An UPDATE that moves rows to new keys: rows_sql (the new versions, then the old keys
 * as __loch_old_<k>) staged as __loch_upd, the new versions as __loch_ins by the
 * table's rules, and the checks a primary key needs. */
static int moved_rows(loch_lake *lake, dml_stmt *st, const snapshot *s, const char **key, size_t nkey,
                      const char *rows_sql, buf *sql)
{
    compute_result *c = NULL;
    buf_clear(sql);
    int rc = buf_printf(sql, "CREATE OR REPLACE TEMP TABLE __loch_upd AS %s", rows_sql) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec_one(lake->cp, sql->data);
    rc = rc ? rc : insert_stage_table(lake, s);
    buf_clear(sql);
    rc = rc || buf_puts(sql, "INSERT INTO __loch_ins SELECT ") || ops_put_columns(sql, "", s) ||
         buf_puts(sql, " FROM __loch_upd") ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : compute_exec_one(lake->cp, sql->data);
    /* a row reached twice through FROM; two rows sent to one key; a key another row has
     * (one that is not moving away in the same statement) */
    buf_clear(sql);
    rc = rc || buf_puts(sql, "SELECT (SELECT count(*) - count(DISTINCT (") || put_old_key(sql, nkey) ||
         buf_puts(sql, ")) FROM __loch_upd), (SELECT count(*) - count(DISTINCT (") || ops_put_names(sql, "", key, nkey) ||
         buf_puts(sql, ")) FROM __loch_ins), (SELECT count(*) FROM __loch_ins AS __loch_n WHERE EXISTS (SELECT 1 FROM ") ||
         buf_put_sql_ident(sql, st->table) || buf_puts(sql, " AS __loch_c WHERE (") ||
         ops_put_names(sql, "__loch_c.", key, nkey) || buf_puts(sql, ") = (") ||
         ops_put_names(sql, "__loch_n.", key, nkey) ||
         buf_puts(sql, ")) AND NOT EXISTS (SELECT 1 FROM __loch_upd AS __loch_u WHERE (") ||
         put_old_key_of(sql, "__loch_u.", nkey) || buf_puts(sql, ") = (") ||
         ops_put_names(sql, "__loch_n.", key, nkey) || buf_puts(sql, ")))") ? (rc ? rc : LOCH_ENOMEM) : 0;
    rc = rc ? rc : compute_query(lake->cp, sql->data, &c);
    if (rc == 0 && compute_result_i64(c, 0, 0) > 0)
        rc = error_set(LOCH_EINVALID, "UPDATE of \"%s\": a row matched more than one row of FROM, so its new value "
                       "is ambiguous", st->table);
    else if (rc == 0 && compute_result_i64(c, 0, 1) > 0)
        rc = error_set(LOCH_EINVALID, "UPDATE of \"%s\" would give more than one row the same primary key",
                       st->table);
    else if (rc == 0 && compute_result_i64(c, 0, 2) > 0)
        rc = error_set(LOCH_EINVALID, "UPDATE of \"%s\": a new primary key is another row's (duplicate key)",
                       st->table);
    compute_result_free(c);
    buf_clear(sql);
    return rc;
}

/* DELETE / UPDATE of a table with a primary key: the rows it changes, found over the
 * table with its log's tail, go into the log as one write (deletes of their keys, or
 * upserts of their new versions), durable when it returns, with no Delta commit. An
 * UPDATE that sets a key column moves rows: one write of the deletes of their old keys,
 * then the upserts of their new versions (so keys may trade places), refused when two
 * rows would end with one key or a new key is another row's. */
static int through_log(loch_lake *lake, dml_stmt *st, const snapshot *s, loch_result **out)
{
    const char **key = NULL;
    size_t nkey = 0;
    buf rows = BUF_INIT, sql = BUF_INIT;
    compute_result *dup = NULL;
    dml_run r = {.lake = lake, .st = st, .s = (snapshot *)s};
    int64_t n = 0;
    uint64_t lsn = 0;
    int duplicate = 0;
    if (lake->in_transaction)
        return error_set(LOCH_EINVALID, "table \"%s\": lake tables change by writes of their own, which an open "
                         "transaction cannot hold: COMMIT or ROLLBACK first", st->table);
    int rc = tail_key(s, &key, &nkey);
    rc = rc ? rc : st->kind == DML_UPDATE ? resolve_sets(&r) : 0;
    bool moves = false;
    for (size_t i = 0; rc == 0 && st->kind == DML_UPDATE && i < st->nsets; i++)
        for (size_t k = 0; k < nkey; k++)
            moves = moves || strcmp(s->schema.fields[r.set_column[i]].name, key[k]) == 0;
    /* the rows: the key's columns, or every column with the SET values */
    rc = rc || buf_puts(&rows, "SELECT ") ? (rc ? rc : LOCH_ENOMEM) : 0;
    for (size_t i = 0, n_out = 0; rc == 0 && i < s->schema.count; i++) {
        const char *name = s->schema.fields[i].name;
        int set = -1;
        bool keyed = false;
        for (size_t j = 0; st->kind == DML_UPDATE && j < st->nsets; j++)
            set = r.set_column[j] == (int)i ? (int)j : set;
        for (size_t k = 0; k < nkey; k++)
            keyed = keyed || strcmp(key[k], name) == 0;
        if (st->kind == DML_DELETE && !keyed)
            continue;
        rc = (n_out++ ? buf_puts(&rows, ", ") : 0) ? LOCH_ENOMEM : 0;
        if (rc == 0 && set >= 0)
            rc = buf_puts(&rows, "(") || put_set_value(&rows, st, st->sets[set].expr) || buf_puts(&rows, ")")
                     ? LOCH_ENOMEM : 0;
        else if (rc == 0)
            rc = put_alias(&rows, st) || buf_putc(&rows, '.') || buf_put_sql_ident(&rows, name) ? LOCH_ENOMEM : 0;
        rc = rc || buf_puts(&rows, " AS ") || buf_put_sql_ident(&rows, name) ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    for (size_t k = 0; rc == 0 && moves && k < nkey; k++) /* the keys the rows had */
        rc = buf_puts(&rows, ", ") || put_alias(&rows, st) || buf_putc(&rows, '.') ||
             buf_put_sql_ident(&rows, key[k]) || buf_printf(&rows, " AS __loch_old_%zu", k) ? LOCH_ENOMEM : 0;
    rc = rc || buf_puts(&rows, " FROM ") || buf_put_sql_ident(&rows, st->table) || buf_puts(&rows, " AS ") ||
         put_alias(&rows, st) ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && st->from.end > st->from.start)
        rc = buf_puts(&rows, ", ") || put_span(&rows, st, st->from) ? LOCH_ENOMEM : 0;
    if (rc == 0 && st->where.end > st->where.start)
        rc = buf_puts(&rows, " WHERE ") || put_span(&rows, st, st->where) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : allow_query(lake, rows.data);
    /* staged by the table's rules (types, NOT NULL); a row reached twice through FROM is
     * one delete, or an ambiguous update */
    if (rc == 0 && st->kind == DML_DELETE) {
        rc = buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_ins AS SELECT DISTINCT * FROM (") ||
             buf_put(&sql, rows.data, rows.len) || buf_puts(&sql, ")") ? LOCH_ENOMEM : 0;
    } else if (rc == 0 && moves) {
        rc = moved_rows(lake, st, s, key, nkey, rows.data, &sql); /* staged and checked */
    } else if (rc == 0) {
        rc = insert_stage_table(lake, s);
        rc = rc || buf_puts(&sql, "INSERT INTO __loch_ins ") || buf_put(&sql, rows.data, rows.len)
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    rc = rc || !sql.len ? rc : compute_exec_one(lake->cp, sql.data);
    buf_clear(&sql);
    if (rc == 0 && st->kind == DML_UPDATE && !moves) {
        rc = buf_puts(&sql, "SELECT count(*) - count(DISTINCT (") || ops_put_names(&sql, "", key, nkey) ||
             buf_puts(&sql, ")) FROM __loch_ins") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : compute_query(lake->cp, sql.data, &dup);
        if (rc == 0 && compute_result_i64(dup, 0, 0) > 0)
            rc = error_set(LOCH_EINVALID, "UPDATE of \"%s\": a row matched more than one row of FROM, so its new "
                           "value is ambiguous", st->table);
    }
    int64_t updated = 0;
    if (rc == 0 && moves) { /* the old keys' deletes first, then the new versions */
        rc = compute_query(lake->cp, "SELECT count(*) FROM __loch_ins", &dup);
        updated = rc == 0 ? compute_result_i64(dup, 0, 0) : 0;
        buf_clear(&sql);
        rc = rc || buf_puts(&sql, "SELECT * FROM (SELECT ") ? (rc ? rc : LOCH_ENOMEM) : 0;
        for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
            size_t k = 0;
            while (k < nkey && strcmp(key[k], s->schema.fields[i].name) != 0)
                k++;
            rc = (i ? buf_puts(&sql, ", ") : 0) ||
                 (k < nkey ? buf_printf(&sql, "__loch_old_%zu", k)
                           : buf_printf(&sql, "NULL::%s", s->schema.fields[i].duck_type)) ||
                 buf_puts(&sql, " AS ") || buf_put_sql_ident(&sql, s->schema.fields[i].name) ? LOCH_ENOMEM : 0;
        }
        rc = rc || buf_puts(&sql, ", 'delete' AS __loch_op, 0 AS __loch_ord FROM __loch_upd WHERE (") ||
             put_old_key(&sql, nkey) || buf_puts(&sql, ") IS DISTINCT FROM (") || ops_put_names(&sql, "", key, nkey) ||
             buf_puts(&sql, ") UNION ALL SELECT *, 'upsert', 1 FROM __loch_ins) ORDER BY __loch_ord")
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : tail_write_from(lake, st->table, s, sql.data, "mixed", NULL, 0, &n, &lsn, &duplicate);
        n = updated;
    } else {
        rc = rc ? rc : tail_write_from(lake, st->table, s, "SELECT * FROM __loch_ins",
                                       st->kind == DML_DELETE ? "delete" : "upsert", NULL, 0, &n, &lsn, &duplicate);
    }
    if (rc == 0 && n)
        rc = result_message(out, "%s %lld rows %s %s (LSN %llu, durable)", st->kind == DML_DELETE ? "deleted"
                            : "updated", (long long)n, st->kind == DML_DELETE ? "from" : "in", st->table,
                            (unsigned long long)lsn);
    else if (rc == 0)
        rc = result_message(out, "%s 0 rows %s %s", st->kind == DML_DELETE ? "deleted" : "updated",
                            st->kind == DML_DELETE ? "from" : "in", st->table);
    compute_result_free(dup);
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_ins");
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_upd");
    free(key);
    buf_free(&rows);
    buf_free(&sql);
    return rc;
}

int ops_dml_logged(loch_lake *lake, const char *table, const snapshot *s, const char *sql, size_t after_name,
                   int update, loch_result **out)
{
    static int (*const parse[])(dml_stmt *, size_t) = {parse_delete, parse_update};
    dml_stmt *st = calloc(1, sizeof(*st));
    if (!st)
        return error_set(LOCH_ENOMEM, "out of memory");
    *st = (dml_stmt){.kind = update ? DML_UPDATE : DML_DELETE, .sql = sql, .len = strlen(sql)};
    snprintf(st->table, sizeof(st->table), "%s", table);
    int rc = reserved_names(st);
    rc = rc ? rc : parse[update](st, after_name);
    rc = rc ? rc : through_log(lake, st, s, out);
    if (rc < 0 && strstr(loch_error_last(), "Error: ")) /* the engine's */
        own_error(st);
    free(st->owned);
    free(st);
    return rc;
}

int ops_delete(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out)
{
    return parse_and_run(lake, DML_DELETE, table, sql, after_name, out);
}

int ops_update(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out)
{
    return parse_and_run(lake, DML_UPDATE, table, sql, after_name, out);
}

int ops_merge(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out)
{
    return parse_and_run(lake, DML_MERGE, table, sql, after_name, out);
}

int ops_flush_apply(loch_lake *lake, const char *table, const char *src, const char *all, const char *const *key,
                    size_t nkey, const char *app_id, int64_t txn_version, const log_txn *more, size_t nmore,
                    int64_t *version, int64_t counts[2])
{
    dml_stmt *st = calloc(1, sizeof(*st));
    buf sql = BUF_INIT;
    if (!st)
        return error_set(LOCH_ENOMEM, "out of memory");
    /* loch's own text: DELETE FROM <table> AS __loch_t USING <src> AS __loch_s WHERE <key
     * equal>, whose hits are the rows replaced or deleted; its staging names allowed */
    int rc = buf_puts(&sql, "DELETE FROM ") || buf_put_sql_ident(&sql, table) ||
             buf_printf(&sql, " AS __loch_t USING %s AS __loch_s WHERE ", src) ? LOCH_ENOMEM : 0;
    *st = (dml_stmt){.kind = DML_DELETE, .txn_app = app_id, .txn_version = txn_version, .version_out = version,
                     .flush_src = src, .flush_key = key, .flush_nkey = nkey, .flush_counts = counts,
                     .flush_txns = more, .flush_ntxns = nmore, .flush_all = all};
    rc = rc ? rc : key_match(&sql, st, "__loch_t", "__loch_s");
    st->sql = sql.data;
    st->len = sql.len;
    snprintf(st->table, sizeof(st->table), "%s", table);
    size_t pos = 0;
    sql_token t;
    for (int i = 0; rc == 0 && i < 3; i++) /* past DELETE FROM "table" */
        rc = tok(st, &pos, &t);
    rc = rc ? rc : parse_delete(st, pos);
    loch_result *out = NULL;
    rc = rc ? rc : run(lake, st, &out);
    loch_result_free(out);
    free(st->owned);
    free(st);
    buf_free(&sql);
    return rc;
}

int ops_truncate(loch_lake *lake, const char *table, loch_result **out)
{
    snapshot *s = NULL;
    txlog_commit c;
    int64_t version = -1, rows = 0;
    txlog_commit_init(&c, table, "TRUNCATE");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    dml_run r = {.lake = lake, .s = s};
    dml_stmt st = {.kind = DML_DELETE};
    snprintf(st.table, sizeof(st.table), "%s", table);
    r.st = &st;
    rc = rc ? rc : check_table(&r);
    rc = rc ? rc : txlog_commit_against(&c, s);
    for (size_t i = 0; rc == 0 && i < s->file_count; i++)
        rows += (s->files[i].num_records >= 0 ? s->files[i].num_records : 0) - s->files[i].dv.cardinality *
                (s->files[i].dv.storage_type != 0);
    rc = rc ? rc : write_remove_all(s, &c.cm);
    rc = rc ? rc : commit_metric(&c.cm, "numRemovedFiles", (int64_t)s->file_count);
    rc = rc ? rc : commit_metric(&c.cm, "numDeletedRows", rows);
    if (rc == 0 && s->file_count)
        rc = txlog_commit_run(lake, &c, &version);
    if (rc == 0 && version >= 0)
        rc = result_message(out, "truncated %s: %lld rows in %zu files removed (version %lld)", table, (long long)rows,
                            s->file_count, (long long)version);
    else if (rc == 0)
        rc = result_message(out, "truncated %s: it was empty (no new version)", table);
    r.s = NULL;
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    return rc;
}

