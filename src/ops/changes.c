/*
 * ops/changes.c - the change data feed as SQL: table_changes('t', from[, to]).
 *
 * A query names the feed as a table function, as Spark does:
 *
 *   SELECT * FROM table_changes('trips', 3, 7)            versions 3 to 7
 *   SELECT * FROM table_changes('trips', 3)               3 to the latest
 *   SELECT * FROM table_changes('trips', '2026-11-27T10:00:00Z', '2026-11-27T11:00:00Z')
 *
 * and gets the table's columns plus _change_type ('insert', 'delete',
 * 'update_preimage', 'update_postimage'), _commit_version and _commit_timestamp. loch
 * turns the call into a table name the SQL engine asks loch for while binding
 * ("trips@changes:3~7", changes_rewrite), so the feed is resolved and pinned like any
 * table version (ops/scan.c), and its SQL reaches no sandbox check it should not pass.
 *
 * Per version, Delta's rule: a commit with cdc actions is its change data files (which
 * carry _change_type); a commit without them changes what its data-changing actions
 * say: an add's rows were inserted, a remove's rows deleted (the rows each file held at
 * that version, so without the rows its deletion vector deletes). Actions with
 * dataChange = false (OPTIMIZE) change nothing. A file removed and added again in one
 * commit with another deletion vector (a DELETE in deletion-vector mode by a writer
 * that wrote no change data, as Spark does) changed only the rows the two vectors
 * differ in. A commit's time is its in-commit timestamp, else its file's modification
 * time (Delta's rule). A timestamp starts at the first version committed at or after
 * it and ends at the last committed at or before it.
 *
 * Every version in the range must have been committed with the feed on: a range that
 * starts before it was enabled, or crosses a commit that turned it off, is refused by
 * version, as Spark refuses it; so is a version the log no longer holds.
 *
 * loch's own "t@touched:from~to" is the same feed without that rule: what each
 * version's actions say changed (its change data when it has some), for any table. An
 * embedding pass reads its keys to find the rows to look at again (ops/embed.c); a
 * copy-on-write change there reads as a whole file deleted and another inserted, more
 * rows than changed, which costs that pass time, never rows.
 */
#include "ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dv.h"
#include "core/sqlscan.h"
#include "util/json.h"
#include "util/misc.h"

/* ---- the rewrite ---------------------------------------------------------------- */

/* A literal's text: a number as written, a 'string' without its quotes ('' -> '). */
static int put_literal(buf *b, const char *sql, const sql_token *t)
{
    if (t->kind != TOK_STRING)
        return buf_put(b, sql + t->start, t->len);
    int rc = 0;
    for (size_t i = t->start + 1; rc == 0 && i + 1 < t->start + t->len; i++) {
        rc = buf_putc(b, sql[i]);
        i += sql[i] == '\'';
    }
    return rc;
}

int changes_rewrite(const char *sql, char **out)
{
    size_t len = strlen(sql), pos = 0, copied = 0;
    sql_token t, word = {TOK_END, 0, 0};
    buf b = BUF_INIT, name = BUF_INIT;
    int rc;
    bool any = false;
    *out = NULL;
    while ((rc = sqlscan_next(sql, len, &pos, &t)) == 0 && t.kind != TOK_END) {
        bool call = t.kind == TOK_PUNCT && sql[t.start] == '(' && word.kind == TOK_WORD &&
                    word.start + word.len <= t.start && sqlscan_is(sql, &word, "table_changes");
        if (!call) {
            word = t;
            continue;
        }
        /* ( 'name' , from [, to] ): literals only */
        sql_token a[6];
        size_t n = 0, p = pos;
        while (n < 6 && sqlscan_next(sql, len, &p, &a[n]) == 0 && a[n].kind != TOK_END) {
            bool close = a[n].kind == TOK_PUNCT && sql[a[n].start] == ')';
            n++;
            if (close)
                break;
        }
        bool ok = (n == 4 || n == 6) && a[0].kind == TOK_STRING && a[1].kind == TOK_PUNCT && sql[a[1].start] == ',' &&
                  (a[2].kind == TOK_NUMBER || a[2].kind == TOK_STRING) && a[n - 1].kind == TOK_PUNCT &&
                  sql[a[n - 1].start] == ')';
        if (ok && n == 6)
            ok = a[3].kind == TOK_PUNCT && sql[a[3].start] == ',' && (a[4].kind == TOK_NUMBER || a[4].kind == TOK_STRING);
        if (!ok) {
            rc = error_set(LOCH_EINVALID, "table_changes takes ('table', from[, to]): versions or quoted timestamps, "
                           "as literals");
            break;
        }
        /* "name@changes:from~to", an identifier the engine asks loch for */
        buf_clear(&name);
        rc = put_literal(&name, sql, &a[0]) || buf_puts(&name, "@changes:") || put_literal(&name, sql, &a[2]) ||
             buf_putc(&name, '~') || (n == 6 ? put_literal(&name, sql, &a[4]) : 0) ? LOCH_ENOMEM : 0;
        rc = rc || buf_put(&b, sql + copied, word.start - copied) || buf_put_sql_ident(&b, name.data)
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        if (rc < 0)
            break;
        copied = a[n - 1].start + 1;
        pos = copied;
        any = true;
        word = (sql_token){TOK_END, 0, 0};
    }
    if (rc == 0 && any && buf_puts(&b, sql + copied) == 0)
        *out = buf_detach(&b);
    else if (rc == 0 && any)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    buf_free(&b);
    buf_free(&name);
    return rc;
}

/* ---- the feed ------------------------------------------------------------------- */

/* Version v's commit: its actions (in a's memory) and its time (*ms: its file time, from
 * txlog_commit_times, which an in-commit timestamp replaces). ENOTFOUND when the log no
 * longer holds it. */
static int read_version(loch_lake *lake, const char *table, int64_t v, arena *a, log_action **out, size_t *n,
                        int64_t *ms)
{
    char name[32];
    buf path = BUF_INIT, data = BUF_INIT;
    log_action *acts = NULL;
    size_t count = 0, cap = 0;
    log_commit_name(v, name);
    int rc = buf_printf(&path, "%s/_delta_log/%s", table, name) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : lake->st->get(lake->st, path.data, &data);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\": version %lld is no longer in the log (cleaned after "
                       "delta.logRetentionDuration): its changes cannot be read", table, (long long)v);
    for (const char *p = data.data, *end = data.data + data.len; rc == 0 && p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        log_action act;
        if (e > p && (rc = log_parse_action(a, p, (size_t)(e - p), &act)) == 0) {
            if (act.kind == LOG_COMMITINFO) { /* Delta: the in-commit timestamp, else the file's time */
                const json *ict = json_get(act.u.commit_info, "inCommitTimestamp");
                if (ict && ict->type == JSON_NUMBER && ict->is_int)
                    *ms = ict->i64;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                log_action *g = realloc(acts, cap * sizeof(*g));
                if (!g) {
                    rc = error_set(LOCH_ENOMEM, "out of memory");
                    break;
                }
                acts = g;
            }
            acts[count++] = act;
        }
        p = e + 1;
    }
    if (rc < 0)
        error_prefix("table \"%s\" version %lld: ", table, (long long)v);
    buf_free(&path);
    buf_free(&data);
    if (rc < 0) {
        free(acts);
        return rc;
    }
    *out = acts;
    *n = count;
    return 0;
}

static bool all_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* A bound of the range: a version, or the version a timestamp names (start: the first
 * committed at or after it; end: the last at or before it). */
static int bound(loch_lake *lake, const char *table, const char *text, bool start, int64_t latest, int64_t *v)
{
    if (all_digits(text)) {
        errno = 0;
        *v = strtoll(text, NULL, 10);
        return errno ? error_set(LOCH_EINVALID, "table_changes: version %s is out of range", text) : 0;
    }
    txlog_at at = {-1, 0, 1};
    snapshot *s = NULL;
    if (iso8601_parse_ms(text, &at.timestamp_ms) < 0)
        return error_set(LOCH_EINVALID, "table_changes: \"%s\" is neither a version nor a timestamp", text);
    int rc = txlog_load(lake, table, &at, &s);
    if (rc == LOCH_ENOTFOUND || rc == LOCH_EINVALID) { /* before the first commit */
        error_clear();
        *v = start ? 0 : -1;
        return 0;
    }
    if (rc < 0)
        return rc;
    *v = s->version;
    txlog_snapshot_free(s);
    if (start) {
        arena a = ARENA_INIT;
        log_action *acts = NULL;
        size_t n = 0;
        int64_t ms = 0;
        rc = txlog_commit_times(lake, table, *v, *v, &ms);
        rc = rc ? rc : read_version(lake, table, *v, &a, &acts, &n, &ms);
        if (rc == 0 && ms < at.timestamp_ms)
            (*v)++;
        free(acts);
        arena_free(&a);
        if (*v > latest)
            return error_set(LOCH_EINVALID, "table \"%s\" has no version committed at or after %s", table, text);
    }
    return rc;
}

typedef struct {
    dv_rows *sets;
} set_loader;

static int set_load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    set_loader *l = ctx;
    *rows = l->sets[i].rows;
    *count = l->sets[i].count;
    return 0;
}

/* a - b, both sorted. */
static int rows_minus(const dv_rows *a, const dv_rows *b, dv_rows *out)
{
    out->rows = a->count ? malloc(a->count * sizeof(*out->rows)) : NULL;
    out->count = 0;
    if (a->count && !out->rows)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0, j = 0; i < a->count; i++) {
        while (j < b->count && b->rows[j] < a->rows[i])
            j++;
        if (j == b->count || b->rows[j] != a->rows[i])
            out->rows[out->count++] = a->rows[i];
    }
    return 0;
}

/* The changes of a file whose deletion vector went from old's to new's in version v:
 * rows new's deletes and old's did not were deleted; rows old's deleted and new's does
 * not came back (inserted). Branches of the feed's union, into sql. */
static int dv_changes(loch_lake *lake, const char *table, const snapshot *s, int64_t v, int64_t ms,
                      const log_file *old, const log_file *now, buf *sql)
{
    dv_rows a = {NULL, 0}, b = {NULL, 0}, diff[2] = {{NULL, 0}, {NULL, 0}};
    buf pred = BUF_INIT, key = BUF_INIT, extra = BUF_INIT;
    char id[37];
    uuid_v4(id);
    int rc = scan_file_dv(lake, table, old, &a);
    rc = rc ? rc : scan_file_dv(lake, table, now, &b);
    rc = rc ? rc : rows_minus(&b, &a, &diff[0]); /* deleted by this version */
    rc = rc ? rc : rows_minus(&a, &b, &diff[1]); /* deleted no more */
    static const char *const types[] = {"delete", "insert"};
    for (int k = 0; rc == 0 && k < 2; k++) {
        if (!diff[k].count)
            continue;
        set_loader l = {&diff[k]};
        buf_clear(&key);
        buf_clear(&pred);
        buf_clear(&extra);
        rc = buf_printf(&key, "%s/feed-%s-%d", table, id, k) ? LOCH_ENOMEM : 0;
        const char *keys[] = {key.data};
        compute_relation rel = {COMPUTE_RELATION_SKIP, 1, keys, set_load, &l};
        rc = rc ? rc : compute_register(lake->cp, &rel, &pred);
        /* the file's rows, all of them (no DV applied), then the ones in the set */
        log_file bare = *now;
        bare.dv = (log_dv){0, NULL, -1, 0, 0};
        const log_file *one[] = {&bare};
        rc = rc || buf_printf(&extra, ", file_index, file_row_number, '%s' AS _change_type, %lld::BIGINT AS "
                                      "_commit_version, system.main.epoch_ms(%lld::BIGINT) AS _commit_timestamp",
                              types[k], (long long)v, (long long)ms) ||
             buf_puts(sql, " UNION ALL BY NAME SELECT * EXCLUDE (file_index, file_row_number) FROM (")
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : scan_files_sql(lake, table, s, one, 1, extra.data, true, sql);
        rc = rc || buf_printf(sql, ") WHERE NOT %s", pred.data) ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    dv_rows_free(&a);
    dv_rows_free(&b);
    dv_rows_free(&diff[0]);
    dv_rows_free(&diff[1]);
    buf_free(&pred);
    buf_free(&key);
    buf_free(&extra);
    return rc;
}

static bool cdf_on(const log_kv *conf)
{
    for (size_t i = 0; i < conf->count; i++)
        if (strcmp(conf->keys[i], "delta.enableChangeDataFeed") == 0)
            return conf->values[i] && strcmp(conf->values[i], "true") == 0;
    return false;
}

int changes_sql(loch_lake *lake, const char *table, const char *spec, bool feed_required, buf *sql)
{
    char from_text[96], to_text[96];
    const char *tilde = strchr(spec, '~');
    if (!tilde || (size_t)(tilde - spec) >= sizeof(from_text) || strlen(tilde + 1) >= sizeof(to_text))
        return error_set(LOCH_EINVALID, "bad change feed name \"%s\"", spec);
    snprintf(from_text, sizeof(from_text), "%.*s", (int)(tilde - spec), spec);
    snprintf(to_text, sizeof(to_text), "%s", tilde + 1);
    int64_t latest = txlog_latest_version(lake, table), from = 0, to = latest;
    snapshot *end = NULL, *first = NULL;
    arena a = ARENA_INIT, names = ARENA_INIT;
    buf branches = BUF_INIT, extra = BUF_INIT;
    int rc = latest < 0 ? error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table) : 0;
    rc = rc ? rc : bound(lake, table, from_text, true, latest, &from);
    rc = rc || !*to_text ? rc : bound(lake, table, to_text, false, latest, &to);
    if (rc == 0 && from > latest)
        rc = error_set(LOCH_EINVALID, "table_changes: start version %lld is after the latest version %lld of \"%s\"",
                       (long long)from, (long long)latest, table);
    if (rc == 0 && to > latest)
        to = latest;
    if (rc == 0 && to < from)
        rc = error_set(LOCH_EINVALID, "table_changes: the end (version %lld) comes before the start (version %lld)",
                       (long long)to, (long long)from);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){to, 0, 0}, &end);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){from, 0, 0}, &first);
    if (rc == 0 && feed_required && !cdf_on(&first->metadata.configuration))
        rc = error_set(LOCH_EINVALID, "table \"%s\" did not record its changes at version %lld "
                       "(delta.enableChangeDataFeed was not true)", table, (long long)from);
    for (size_t i = 0; rc == 0 && i < end->schema.count; i++)
        if (end->schema.fields[i].partition || strcmp(end->schema.fields[i].physical, end->schema.fields[i].name))
            rc = error_set(LOCH_EUNSUPPORTED, "table_changes of partitioned or column-mapped tables is not supported "
                           "yet (table \"%s\")", table);
    /* The versions, one branch per kind of change. */
    int64_t *times = rc == 0 ? malloc((size_t)(to - from + 1) * sizeof(*times)) : NULL;
    if (rc == 0 && !times)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : txlog_commit_times(lake, table, from, to, times);
    for (int64_t v = from; rc == 0 && v <= to; v++) {
        log_action *acts = NULL;
        size_t n = 0;
        int64_t ms = times[v - from] >= 0 ? times[v - from] : 0;
        rc = read_version(lake, table, v, &a, &acts, &n, &ms);
        const log_file **files = rc == 0 ? calloc(n + 1, sizeof(*files)) : NULL;
        if (rc == 0 && !files)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        bool cdc = false;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            cdc = cdc || acts[i].kind == LOG_CDC;
            if (feed_required && acts[i].kind == LOG_METADATA && v > from && !cdf_on(&acts[i].u.metadata.configuration))
                rc = error_set(LOCH_EINVALID, "table \"%s\" stopped recording its changes at version %lld "
                               "(delta.enableChangeDataFeed)", table, (long long)v);
        }
        static const struct {
            log_kind kind;
            const char *type;
        } kinds[] = {{LOG_CDC, NULL}, {LOG_ADD, "insert"}, {LOG_REMOVE, "delete"}};
        /* A file removed and added again in this commit: only its DV changed. */
        char *paired = rc == 0 ? calloc(n + 1, 1) : NULL;
        if (rc == 0 && !paired)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && !cdc && i < n; i++) {
            if (acts[i].kind != LOG_ADD || !acts[i].u.file.data_change)
                continue;
            for (size_t j = 0; rc == 0 && j < n; j++)
                if (acts[j].kind == LOG_REMOVE && acts[j].u.file.data_change && !paired[j] &&
                    strcmp(acts[j].u.file.path, acts[i].u.file.path) == 0) {
                    paired[i] = paired[j] = 1;
                    rc = dv_changes(lake, table, end, v, ms, &acts[j].u.file, &acts[i].u.file, &branches);
                    break;
                }
        }
        for (size_t k = 0; rc == 0 && k < 3; k++) {
            if ((k == 0) != cdc)
                continue; /* a commit with change data files is only those */
            size_t nf = 0;
            for (size_t i = 0; i < n; i++)
                if (acts[i].kind == kinds[k].kind && (k == 0 || acts[i].u.file.data_change) && !paired[i])
                    files[nf++] = &acts[i].u.file;
            if (!nf)
                continue;
            buf_clear(&extra);
            rc = (kinds[k].type ? buf_printf(&extra, ", '%s' AS _change_type", kinds[k].type) : 0) ||
                 buf_printf(&extra, ", %lld::BIGINT AS _commit_version, system.main.epoch_ms(%lld::BIGINT) AS "
                                    "_commit_timestamp", (long long)v, (long long)ms) ? LOCH_ENOMEM : 0;
            rc = rc || buf_puts(&branches, " UNION ALL BY NAME ") ? (rc ? rc : LOCH_ENOMEM) : 0;
            rc = rc ? rc : scan_files_sql(lake, table, end, files, nf, extra.data, k != 0, &branches);
        }
        free(paired);
        free(files);
        free(acts);
    }
    /* Every column exists (a file may lack one), read as stored, shown as the end
     * version's schema says. */
    rc = rc ? rc : buf_puts(sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < end->schema.count; i++) {
        const schema_field *f = &end->schema.fields[i];
        buf phys = BUF_INIT;
        rc = buf_put_sql_ident(&phys, f->physical) ? LOCH_ENOMEM : schema_read_expr(&names, f, phys.data, sql);
        rc = rc || buf_puts(sql, " AS ") || buf_put_sql_ident(sql, f->name) || buf_puts(sql, ", ")
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        buf_free(&phys);
    }
    rc = rc || buf_puts(sql, "_change_type, _commit_version, _commit_timestamp FROM (SELECT ") ? (rc ? rc : LOCH_ENOMEM)
                                                                                                 : 0;
    for (size_t i = 0; rc == 0 && i < end->schema.count; i++)
        rc = buf_printf(sql, "NULL::%s AS ", end->schema.fields[i].stored_type) ||
             buf_put_sql_ident(sql, end->schema.fields[i].physical) || buf_puts(sql, ", ") ? LOCH_ENOMEM : 0;
    rc = rc || buf_printf(sql, "NULL::VARCHAR AS _change_type, NULL::BIGINT AS _commit_version, NULL::TIMESTAMP AS "
                               "_commit_timestamp WHERE false%s)", branches.data ? branches.data : "")
             ? (rc ? rc : LOCH_ENOMEM) : 0;
    free(times);
    txlog_snapshot_free(end);
    txlog_snapshot_free(first);
    arena_free(&a);
    arena_free(&names);
    buf_free(&branches);
    buf_free(&extra);
    return rc;
}
