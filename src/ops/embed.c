/*
 * ops/embed.c - loch_embed_column and loch_search (loch/search.h).
 *
 * Both are SQL over the engine's embed() (vector/embed.c), run through loch_sql so the
 * embeddings table is written, committed and read like any other Delta table. An
 * embedding pass reads one version of the source (its write-ahead log flushed first)
 * and is one commit: the first, a CREATE TABLE ... AS; when only new texts need
 * embedding, an INSERT of them; else one MERGE that removes the rows of this column no
 * longer kept (their row gone, its text changed, another model's, a broken vector) and
 * adds the new ones, embedded now. A row whose (key, chunk, text) is unchanged and was
 * embedded by this model is kept, vector and all, and its file too: the MERGE writes
 * only the files holding rows that go (copy-on-write, so every Delta reader reads the
 * embeddings), or none (deletion vectors, when the embeddings table has them turned
 * on). Hidden rows and small files are compacted as they pile up (ops/maintain.c's
 * rule). Running a pass twice embeds nothing the second time; a crash leaves the
 * previous version, as any commit does; a pass whose commit did not land straight on
 * the embeddings it read (two passes racing) runs again from the latest versions.
 *
 * Which rows a pass compares: all of them, unless the last pass left its record
 * (vector/embsync.h) and the embeddings table is still at the version it left; then
 * only the keys the source's versions since changed ("t@touched:a~b", ops/changes.c),
 * everything else kept as it is. A pass that cannot read those versions compares all.
 *
 * The embeddings table's first column is the source's key column, under its own name,
 * so a search can join back to the source (for --where) without a mapping to keep.
 *
 * Search goes through the column's vector index (ops/vindex.c: an HNSW graph kept in
 * <table>/_loch_index/, which loch embed brings up to date after its commit): the
 * question is embedded here, the index gives the nearest keys (every vector scored
 * when the table or the rows passing --where are few), and one query fetches their
 * texts. A condition becomes a bitmap over the index's nodes: the keys of the rows it
 * selects. Without a current index (none made yet, or the embeddings changed by other
 * means, or the file damaged) the search runs in SQL over the embeddings, exactly, and
 * from a session's second search of the column the index is made or brought up to date.
 * A search's result says which way it went (its message).
 */
#include "loch/search.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/schema.h"
#include "core/snapshot.h"
#include "core/sqlscan.h"
#include "ops/ops.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/options.h"
#include "adapters/compute.h"
#include "adapters/fts.h"
#include "vector/chunk.h"
#include "vector/embed.h"


/* The embeddings table's own columns, beside the key (which must not be one of them). */
/* (and a search's own, score) */
static const char *const own_columns[] = {"column", "chunk", "text", "embedding", "model", "dim", "source_version",
                                          "score"};

static int embeddings_name(const char *table, buf *out)
{
    buf_clear(out);
    int rc = buf_printf(out, "%s" EMBEDDINGS_SUFFIX, table);
    return rc < 0 ? rc : table_name_check(out->data);
}

/* The table's primary key (s is its snapshot), when it is one column. */
static int primary_key(const snapshot *s, const char *table, buf *out)
{
    const char **cols = NULL;
    size_t n = 0;
    int rc = tail_key(s, &cols, &n);
    if (rc == 0 && n != 1)
        rc = error_set(LOCH_EINVALID, "table %s has %s: name the column that identifies a row (--key)", table,
                       n ? "a key of several columns" : "no primary key");
    rc = rc ? rc : buf_puts(out, cols[0]);
    free(cols);
    return rc;
}

int embed_chunk_size(const char *value, size_t *out)
{
    *out = 0;
    if (!value || !*value) /* not set: vector/chunk.h's */
        return 0;
    size_t n = 0;
    const char *c = value;
    while (*c >= '0' && *c <= '9' && n <= CHUNK_SIZE_MAX)
        n = n * 10 + (size_t)(*c++ - '0');
    if (*c || n < CHUNK_SIZE_MIN || n > CHUNK_SIZE_MAX)
        return error_set(LOCH_EINVALID, "%s is a chunk's size in bytes, from %d to %d, not \"%.40s\"",
                         EMBED_CHUNK_PROPERTY, CHUNK_SIZE_MIN, CHUNK_SIZE_MAX, value);
    *out = n;
    return 0;
}

/* The chunk size table asks for (0: vector/chunk.h's), from its latest version. */
static int table_chunk_size(loch_lake *lake, const char *table, size_t *out)
{
    snapshot *s = NULL;
    *out = 0;
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    if (rc == 0 && embed_chunk_size(snapshot_property(s, EMBED_CHUNK_PROPERTY), out) < 0)
        rc = error_prefix("table %s: ", table); /* a value another writer put there */
    txlog_snapshot_free(s);
    return rc;
}

int loch_embed_chunk_size(loch_lake *lake, const char *table, size_t bytes)
{
    char value[32] = "";
    size_t had = 0, check;
    if (bytes)
        snprintf(value, sizeof(value), "%zu", bytes);
    int rc = table_name_check(table);
    rc = rc ? rc : embed_chunk_size(value, &check);
    rc = rc ? rc : table_chunk_size(lake, table, &had);
    if (rc == LOCH_EINVALID && txlog_exists(lake, table)) { /* what is there is no size: this one replaces it */
        error_clear();
        rc = 0, had = (size_t)-1;
    }
    if (rc == 0 && had != bytes) { /* the same size again commits nothing */
        const char *keys[1] = {EMBED_CHUNK_PROPERTY}, *values[1] = {value};
        loch_result *r = NULL;
        rc = ops_set_properties(lake, table, keys, values, 1, &r);
        loch_result_free(r);
    }
    return rc;
}

/* One value of a one-row query, as text (NULL when there is none). */
static int query_text(loch_lake *lake, const char *sql, char **out)
{
    loch_result *r = NULL;
    *out = NULL;
    int rc = loch_sql(&r, lake, sql);
    if (rc == 0 && loch_result_rows(r) > 0)
        *out = loch_result_text(r, 0, 0);
    loch_result_free(r);
    return rc;
}

/* "<a> a WHERE [NOT] EXISTS (<b> b with the same key, chunk and text)": the rows of a
 * that b has (present) or lacks. Both are subqueries with the key column, chunk, text. */
static int put_rows(buf *sql, const buf *a, const buf *b, const char *key, int present)
{
    buf_put(sql, a->data, a->len);
    buf_printf(sql, " a WHERE %sEXISTS (SELECT 1 FROM ", present ? "" : "NOT ");
    buf_put(sql, b->data, b->len);
    buf_puts(sql, " b WHERE b.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " = a.");
    buf_put_sql_ident(sql, key);
    return buf_puts(sql, " AND b.chunk = a.chunk AND b.text = a.text)");
}

/* The column to embed: the table's (s), and text. */
static int column_check(const snapshot *s, const char *table, const char *column)
{
    const schema_field *f = schema_find(&s->schema, column);
    if (!f)
        return error_set(LOCH_EINVALID, "table %s has no column %s to embed", table, column);
    if (strcmp(f->delta_type, "\"string\"") != 0)
        return error_set(LOCH_EINVALID, "%s.%s is of type %s, not text: embed a text column", table, column,
                         f->delta_type);
    return 0;
}

/* The key must name each row once, as text that never changes: the index keeps keys as
 * text (CAST(key AS VARCHAR)) and finds rows again by it, in every session. So: a type
 * whose text is stable (not a float, whose text form may differ from the number's; not
 * a timestamp with time zone, whose text follows the session's zone; nothing nested),
 * unique among the rows with a key, no NUL character, at most 64 KiB as text; and the
 * key the table's embeddings were made by, if it has some. */
static int key_check(loch_lake *lake, const snapshot *s, const char *table, const char *pinned, const char *key,
                     const snapshot *es, const char *emb)
{
    loch_result *r = NULL;
    buf sql = BUF_INIT;
    int rc = 0;
    const schema_field *f = schema_find(&s->schema, key);
    const char *t = f ? f->delta_type : NULL;
    if (rc == 0 && !f)
        rc = error_set(LOCH_EINVALID, "table %s has no column %s (the key)", table, key);
    else if (rc == 0 && (!t || t[0] != '"' || strstr(t, "float") || strstr(t, "double") || !strcmp(t, "\"timestamp\"")))
        rc = error_set(LOCH_EINVALID, "the key %s of %s is of type %s, whose text is not stable (a float, a timestamp "
                       "with time zone, or nested): embed by another column (--key)", key, table, t ? t : "?");
    if (rc == 0 && es && es->schema.count && strcasecmp(es->schema.fields[0].name, key) != 0) /* its own key */
        rc = error_set(LOCH_EINVALID, "%s is keyed by %s: embed with --key %s (or drop %s first)", emb,
                       es->schema.fields[0].name, es->schema.fields[0].name, emb);
    if (rc == 0) {
        buf_puts(&sql, "SELECT count(*) FILTER (WHERE strpos(CAST(k AS VARCHAR), chr(0)) > 0), "
                       "coalesce(max(length(CAST(k AS VARCHAR))), 0), count(*) - count(DISTINCT k) FROM (SELECT ");
        buf_put_sql_ident(&sql, key);
        buf_puts(&sql, " AS k FROM ");
        buf_put_sql_ident(&sql, pinned);
        rc = buf_puts(&sql, ") WHERE k IS NOT NULL");
    }
    rc = rc ? rc : loch_sql(&r, lake, sql.data);
    char *nul = rc ? NULL : loch_result_text(r, 0, 0), *longest = rc ? NULL : loch_result_text(r, 0, 1),
         *dups = rc ? NULL : loch_result_text(r, 0, 2), *dup = NULL;
    if (rc == 0 && nul && atoll(nul) > 0) {
        rc = error_set(LOCH_EINVALID, "%s rows of %s have a key with a NUL character: embed by another column (--key)",
                       nul, table);
    } else if (rc == 0 && longest && atoll(longest) > 65536) {
        rc = error_set(LOCH_EINVALID, "a key of %s is %s characters long (64 KiB at most): embed by another column "
                       "(--key)", table, longest);
    } else if (rc == 0 && dups && atoll(dups) > 0) { /* one of them, to name */
        buf_clear(&sql);
        buf_puts(&sql, "SELECT CAST(");
        buf_put_sql_ident(&sql, key);
        buf_puts(&sql, " AS VARCHAR) FROM ");
        buf_put_sql_ident(&sql, pinned);
        buf_puts(&sql, " WHERE ");
        buf_put_sql_ident(&sql, key);
        buf_puts(&sql, " IS NOT NULL GROUP BY ALL HAVING count(*) > 1 LIMIT 1");
        rc = query_text(lake, sql.data, &dup);
        rc = rc ? rc : error_set(LOCH_EINVALID, "the key %s does not identify a row of %s: %s is the key of several "
                                 "(name a column whose values are unique with --key)", key, table, dup ? dup : "a value");
    }
    loch_free(nul), loch_free(longest), loch_free(dups), loch_free(dup);
    loch_result_free(r);
    buf_free(&sql);
    return rc;
}

static void search_keep(struct search_cache **slot, const char *table, const char *column, int sole, vindex *ix);

/* " AND <key> [NOT] IN <touched>" onto sql: a pass's rows among the changed keys (or not) */
static void among(buf *sql, const char *key, const char *in, const char *touched)
{
    buf_puts(sql, " AND ");
    buf_put_sql_ident(sql, key);
    buf_printf(sql, " %s ", in);
    buf_puts(sql, touched);
}

/* "<p>dim = <dim> AND ...": the row's vector is one this pass keeps (p: "" or an alias
 * and a dot). A vector edited by hand into the wrong length, with a NULL, NaN or
 * infinity, is made again: the sum (a double) of finite floats is finite, and NaN or
 * infinity anywhere makes it NaN or infinite; list_count skips NULLs. An aggregate of
 * the list rather than a lambda over its numbers: this runs over every vector. A pass
 * that looks only at the changed keys checks none: the embeddings are then exactly as
 * the last pass left them (its record says so), and a pass leaves only sound vectors
 * (the ones it checked, and embed()'s, which are finite and of the model's length). */
static int sound(buf *sql, const char *p, int dim)
{
    return buf_printf(sql, "%sdim = %d AND len(%sembedding) = %d AND list_count(%sembedding) = %d AND "
                      "isfinite(list_sum(%sembedding))", p, dim, p, dim, p, dim, p);
}

/* "<p>model = <model>", and the vector sound when every row is compared (p: "" or an
 * alias and a dot): what a row of this column must be to be kept, beside its text */
static int ours(buf *sql, const char *p, const char *model, int dim, const char *touched)
{
    buf_printf(sql, "%smodel = ", p);
    int rc = buf_put_sql_str(sql, model);
    if (!touched) {
        buf_puts(sql, " AND ");
        rc = sound(sql, p, dim);
    }
    return rc;
}

/* "(SELECT key FROM emb WHERE column = ... GROUP BY key, chunk HAVING count(*) > 1)":
 * the keys with a chunk stored twice (by another hand: a pass stores one). None of
 * their rows is kept; they are embedded again, once. Only when every row is compared:
 * the changed keys' rows are as the last pass left them. */
static int twice(buf *sql, const char *emb, const char *column, const char *key)
{
    buf_puts(sql, "(SELECT ");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " FROM ");
    buf_put_sql_ident(sql, emb);
    buf_puts(sql, " WHERE \"column\" = ");
    buf_put_sql_str(sql, column);
    buf_puts(sql, " AND ");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " IS NOT NULL GROUP BY ");
    buf_put_sql_ident(sql, key);
    return buf_puts(sql, ", chunk HAVING count(*) > 1)");
}

/* The SQL of a pass: src, the rows to embed as (key, chunk, text), from pinned (the
 * source at the version read); old, what this model made of this column before (its
 * vectors sound); both limited to the keys of touched (a subquery) when given. */
static int pass_sql(const char *pinned, const char *column, const char *key, size_t chunk_size, const char *emb,
                    int exists, const char *model, int dim, const char *touched, buf *src, buf *old)
{
    buf_clear(src), buf_clear(old);
    /* a row's text as its chunks (vector/chunk.h): (key, chunk, text) */
    buf_puts(src, "(SELECT ");
    buf_put_sql_ident(src, key);
    buf_puts(src, ", CAST(unnest(range(len(cs))) AS INTEGER) AS chunk, unnest(cs) AS text FROM (SELECT ");
    buf_put_sql_ident(src, key);
    buf_puts(src, ", chunks(");
    buf_put_sql_ident(src, column);
    if (chunk_size)
        buf_printf(src, ", %zu", chunk_size);
    buf_puts(src, ") AS cs FROM ");
    buf_put_sql_ident(src, pinned);
    buf_puts(src, " WHERE ");
    buf_put_sql_ident(src, column);
    buf_puts(src, " IS NOT NULL AND ");
    buf_put_sql_ident(src, key);
    buf_puts(src, " IS NOT NULL"); /* a row without a key cannot be found again */
    if (touched)
        among(src, key, "IN", touched);
    int rc = buf_puts(src, "))");
    if (exists) {
        buf_puts(old, "(SELECT * FROM ");
        buf_put_sql_ident(old, emb);
        buf_puts(old, " WHERE \"column\" = ");
        buf_put_sql_str(old, column);
        buf_puts(old, " AND ");
        ours(old, "", model, dim, touched);
        if (touched)
            among(old, key, "IN", touched);
        else {
            buf_puts(old, " AND ");
            buf_put_sql_ident(old, key);
            buf_puts(old, " NOT IN ");
            twice(old, emb, column, key);
        }
        rc = buf_puts(old, ")");
    } else {
        buf_puts(old, "(SELECT NULL AS ");
        buf_put_sql_ident(old, key);
        rc = buf_puts(old, ", NULL AS chunk, NULL AS text WHERE false)");
    }
    return rc;
}

/* The MERGE of a pass that has rows to remove (their row gone from the source or its
 * text changed, or made by another model, or not sound), into sql: one commit that
 * removes them (the files holding them written again without them, or deletion
 * vectors when the embeddings table has them on) and adds the new ones. Its source
 * holds two kinds of rows: a key some of whose rows go (gone), with the texts its row
 * has now in chunk order (none when the row is gone), matched to each of the key's
 * rows, of which those not kept are deleted (all of them when a chunk of the key is
 * stored twice: redo); and a text to embed, never matched, inserted. A target row is
 * matched by one source row at most (the gone keys are distinct), as Delta's MERGE
 * asks. */
static int merge_sql(buf *sql, const char *emb, const char *column, const char *key, const char *model, int dim,
                     int64_t version, const buf *src, const buf *old, const char *touched)
{
    buf_puts(sql, "MERGE INTO ");
    buf_put_sql_ident(sql, emb);
    buf_puts(sql, " AS t USING (SELECT g.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, ", true AS gone, CAST(NULL AS INTEGER) AS chunk, CAST(NULL AS VARCHAR) AS text, "
                  "(SELECT list(b.text ORDER BY b.chunk) FROM ");
    buf_put(sql, src->data, src->len);
    buf_puts(sql, " b WHERE b.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " = g.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, ") AS texts, ");
    if (touched) {
        buf_puts(sql, "false");
    } else {
        buf_puts(sql, "coalesce(g.");
        buf_put_sql_ident(sql, key);
        buf_puts(sql, " IN ");
        twice(sql, emb, column, key);
        buf_puts(sql, ", false)");
    }
    /* the keys with a row of this column that is not kept (among the changed keys) */
    buf_puts(sql, " AS redo FROM (SELECT DISTINCT e.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " FROM ");
    buf_put_sql_ident(sql, emb);
    buf_puts(sql, " e WHERE e.\"column\" = ");
    buf_put_sql_str(sql, column);
    if (touched)
        among(sql, key, "IN", touched);
    buf_puts(sql, " AND (NOT coalesce(");
    ours(sql, "e.", model, dim, touched);
    buf_puts(sql, " AND EXISTS (SELECT 1 FROM ");
    buf_put(sql, src->data, src->len);
    buf_puts(sql, " b WHERE b.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " = e.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " AND b.chunk = e.chunk AND b.text = e.text), false)");
    if (!touched) {
        buf_puts(sql, " OR e.");
        buf_put_sql_ident(sql, key);
        buf_puts(sql, " IN ");
        twice(sql, emb, column, key);
    }
    buf_puts(sql, ")) g UNION ALL SELECT a.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, ", false, a.chunk, a.text, NULL, false FROM ");
    put_rows(sql, src, old, key, 0);
    buf_puts(sql, ") AS s ON s.gone AND t.\"column\" = ");
    buf_put_sql_str(sql, column);
    /* the changed keys are never NULL; comparing every row, a row without a key (put
     * there by hand: it cannot be found again) goes too */
    buf_puts(sql, " AND t.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, touched ? " = s." : " IS NOT DISTINCT FROM s.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, " WHEN MATCHED AND (s.redo OR NOT coalesce(");
    ours(sql, "t.", model, dim, touched);
    buf_puts(sql, " AND t.chunk >= 0 AND t.chunk < len(s.texts) AND s.texts[t.chunk + 1] = t.text, false)) THEN "
                  "DELETE WHEN NOT MATCHED AND NOT s.gone THEN INSERT (");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, ", \"column\", chunk, text, embedding, model, dim, source_version) VALUES (s.");
    buf_put_sql_ident(sql, key);
    buf_puts(sql, ", ");
    buf_put_sql_str(sql, column);
    buf_puts(sql, ", s.chunk, s.text, embed(s.text), ");
    buf_put_sql_str(sql, model);
    return buf_printf(sql, ", %d, CAST(%lld AS BIGINT))", dim, (long long)version);
}

/* The version of the source the embeddings of column are in step with, by the record
 * the last pass left (vector/embsync.h), or -1: the record is there, about these
 * tables, key, model and chunk size, and the embeddings table is still at the version
 * that pass left. */
static int64_t in_step_since(loch_lake *lake, const char *table, const char *column, const char *key,
                             const char *model, int dim, size_t chunk_size, const snapshot *s, const snapshot *es)
{
    embsync sy;
    uint8_t what[32];
    if (!es)
        return -1;
    if (embsync_what(es->metadata.id, es->timestamp_ms, s->metadata.id, column, key, model, what) < 0) {
        error_clear(); /* every row is compared */
        return -1;
    }
    int ok = vindex_sync_read(lake, table, column, model, &sy) == 0 && !memcmp(sy.what, what, 32) &&
             sy.emb_version == es->version && sy.dim == dim && sy.chunk_size == chunk_size &&
             sy.src_version <= s->version;
    error_clear(); /* none, or not one: every row is compared */
    return ok ? sy.src_version : -1;
}

static int embed_once(loch_result **out, loch_lake *lake, const char *table, const char *column, const char *key,
                      long long *landed)
{
    buf emb = BUF_INIT, k = BUF_INIT, sql = BUF_INIT, src = BUF_INIT, old = BUF_INIT, touched = BUF_INIT,
        pinned = BUF_INIT;
    const char *model = NULL;
    char *count = NULL;
    snapshot *s = NULL, *es0 = NULL;
    int dim = 0;
    *out = NULL;
    int rc = table_name_check(table);
    if (rc == 0 && (!column || !*column))
        rc = error_set(LOCH_EINVALID, "which column of %s to embed?", table);
    rc = rc ? rc : embeddings_name(table, &emb);
    if (rc == 0 && !txlog_exists(lake, table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    /* one version of the source for its column, key, chunk size and rows: its latest,
     * its write-ahead log flushed first (rows only in the log are in no version, and the
     * next pass could not tell what changed among them) */
    rc = rc ? rc : tail_flush_if_any(lake, table);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : buf_printf(&pinned, "%s@v%lld", table, (long long)s->version);
    rc = rc ? rc : column_check(s, table, column);
    rc = rc ? rc : key && *key ? buf_puts(&k, key) : primary_key(s, table, &k);
    for (size_t i = 0; rc == 0 && i < sizeof(own_columns) / sizeof(own_columns[0]); i++)
        if (!strcasecmp(k.data, own_columns[i]))
            rc = error_set(LOCH_EINVALID, "the key column of %s is named %s, as a column of %s (or of a search's "
                           "result) is: embed by another column (--key), or rename it", table, k.data, emb.data);
    rc = rc ? rc : embed_model(&lake->embed, &model, &dim);
    size_t chunk_size = 0;
    if (rc == 0 && embed_chunk_size(snapshot_property(s, EMBED_CHUNK_PROPERTY), &chunk_size) < 0)
        rc = error_prefix("table %s: ", table); /* a value another writer put there */
    int64_t version = rc ? -1 : s->version;
    int exists = rc == 0 && txlog_exists(lake, emb.data);
    if (rc == 0 && exists)
        rc = txlog_load(lake, emb.data, &(txlog_at){-1, 0, 0}, &es0);
    rc = rc ? rc : key_check(lake, s, table, pinned.data, k.data, es0, emb.data);
    /* only the rows changed since the embeddings were last in step with the table,
     * when they are: none at all when it has not changed since */
    int64_t since = rc ? -1 : in_step_since(lake, table, column, k.data, model, dim, chunk_size, s, es0);
    if (since >= 0 && since < version) {
        buf_puts(&touched, "(SELECT DISTINCT ");
        buf_put_sql_ident(&touched, k.data);
        buf_puts(&touched, " FROM ");
        buf_printf(&sql, "%s@touched:%lld~%lld", table, (long long)since + 1, (long long)version);
        buf_put_sql_ident(&touched, sql.data);
        buf_puts(&touched, " WHERE ");
        buf_put_sql_ident(&touched, k.data);
        rc = buf_puts(&touched, " IS NOT NULL)");
    }
    int in_step = since >= 0 && since == version;
    rc = rc || in_step ? rc : pass_sql(pinned.data, column, k.data, chunk_size, emb.data, exists, model,
                                       dim, touched.len ? touched.data : NULL, &src, &old);
    /* how many texts are new, to say so (and to embed nothing when none is) */
    for (int again = 0; rc == 0 && !in_step && again < 2; again++) {
        buf_clear(&sql);
        buf_puts(&sql, "SELECT count(*) FROM ");
        rc = put_rows(&sql, &src, &old, k.data, 0);
        rc = rc ? rc : query_text(lake, sql.data, &count);
        if (rc == 0 || !touched.len)
            break;
        /* the versions cannot be read (their files vacuumed, their log cleaned up, a
         * table kind the feed does not read): every row is compared */
        error_clear();
        buf_clear(&touched);
        since = -1;
        rc = pass_sql(pinned.data, column, k.data, chunk_size, emb.data, exists, model, dim, NULL, &src, &old);
    }
    /* and how many of the column's embedded rows go: all but those kept (their row is
     * gone from the table or its text changed, or they are not old's: another model's,
     * a broken vector), among the changed keys when only they are looked at. With none
     * new and none going there is nothing to commit; with only new ones, they are
     * appended (an INSERT that reads the embeddings, so a concurrent embedding's append
     * conflicts with it, rather than both adding the same rows); else the table is
     * written again, the kept rows with the new. */
    char *going = NULL;
    if (rc == 0 && exists && !in_step) {
        buf_clear(&sql);
        buf_puts(&sql, "SELECT (SELECT count(*) FROM ");
        buf_put_sql_ident(&sql, emb.data);
        buf_puts(&sql, " WHERE \"column\" = ");
        buf_put_sql_str(&sql, column);
        if (touched.len)
            among(&sql, k.data, "IN", touched.data);
        buf_puts(&sql, ") - (SELECT count(*) FROM ");
        rc = put_rows(&sql, &old, &src, k.data, 1);
        rc = rc ? rc : buf_puts(&sql, ")");
        rc = rc ? rc : query_text(lake, sql.data, &going);
    }
    int none_going = rc == 0 && exists && (in_step || (going && !strcmp(going, "0")));
    int nothing = none_going && (in_step || (count && !strcmp(count, "0")));
    loch_free(going);
    int commits = 0;
    if (rc == 0 && !nothing) {
        buf_clear(&sql);
        if (exists && !none_going) {
            rc = merge_sql(&sql, emb.data, column, k.data, model, dim, version, &src, &old,
                           touched.len ? touched.data : NULL);
        } else {
            buf_puts(&sql, none_going ? "INSERT INTO " : "CREATE TABLE ");
            buf_put_sql_ident(&sql, emb.data);
            buf_puts(&sql, none_going ? " SELECT a." : " AS SELECT a.");
            buf_put_sql_ident(&sql, k.data);
            buf_puts(&sql, ", ");
            buf_put_sql_str(&sql, column);
            buf_puts(&sql, " AS \"column\", a.chunk, a.text, embed(a.text) AS embedding, ");
            buf_put_sql_str(&sql, model);
            buf_printf(&sql, " AS model, %d AS dim, CAST(%lld AS BIGINT) AS source_version FROM ", dim,
                       (long long)version);
            rc = put_rows(&sql, &src, &old, k.data, 0);
        }
    }
    loch_result *r = NULL;
    lake->dml_once = 1; /* a MERGE that meets another commit: this pass runs again */
    rc = rc || nothing ? rc : loch_sql(&r, lake, sql.data);
    lake->dml_once = 0;
    commits += rc == 0 && !nothing;
    if (rc == 0 && !nothing) /* what this pass embedded stands, whatever happens next */
        *landed += count ? atoll(count) : 0;
    loch_result_free(r);
    /* the rows deletion vectors hide and the small files of appends, compacted as they
     * pile up (ops/maintain.c's rule; here rather than by the table's autoCompact, so
     * that the pass knows its commits); a compaction that fails is the next pass's */
    snapshot *es1 = NULL;
    if (rc == 0 && !nothing) {
        /* A MERGE that met a concurrent commit ran again over the newer embeddings, but
         * with this pass's rows of the source, which may be older than what the other
         * writer embedded: unless the commit landed straight on what the pass read, the
         * pass runs again from the table's latest version (loch_embed_column) */
        int64_t mine = (exists ? es0->version : -1) + commits;
        rc = txlog_load(lake, emb.data, &(txlog_at){-1, 0, 0}, &es1);
        if (rc == 0 && es1->version != mine)
            rc = error_set(LOCH_ECONFLICT, "%s was changed by another writer during the pass", emb.data);
        if (rc == 0 && ops_compaction_due(es1)) {
            if (ops_optimize(lake, emb.data, NULL, 0, 0, &r) == 0)
                commits++;
            else
                lake_warn(lake, "compaction of %s skipped: %s", emb.data, loch_error_last());
            loch_result_free(r);
            error_clear();
        }
        txlog_snapshot_free(es1);
    }
    char *total = NULL;
    if (rc == 0) {
        buf_clear(&sql);
        buf_puts(&sql, "SELECT count(*) FROM ");
        buf_put_sql_ident(&sql, emb.data);
        buf_puts(&sql, " WHERE \"column\" = ");
        rc = buf_put_sql_str(&sql, column);
    }
    rc = rc ? rc : query_text(lake, sql.data, &total);
    /* the column's vector index, brought up to date with what was just committed */
    snapshot *es = NULL;
    vindex *ix = NULL;
    lake_hold(lake, "embed-index");
    rc = rc ? rc : txlog_load(lake, emb.data, &(txlog_at){-1, 0, 0}, &es);
    if (rc == 0 && vindex_get(lake, table, emb.data, es, column, k.data, model, dim, 2, &ix) == 0) {
        search_keep(&lake->search, table, column, 0, ix);
    } else if (rc == 0) { /* the embeddings are committed; the index is only their cache */
        lake_warn(lake, "the search indexes of %s.%s were not brought up to date (%s): searches read the embeddings until they are",
                  table, column, loch_error_last());
        error_clear();
    }
    /* and what the next pass may start from: the embeddings as this pass left them (its
     * commit the only one since it read them: the next version, or none) are in step
     * with the source's version it read whole */
    int64_t left = exists ? es0->version + commits : commits - 1;
    if (rc == 0 && es->version == left && txlog_exists(lake, table)) {
        embsync sy = {.emb_version = left, .src_version = version, .dim = dim, .chunk_size = chunk_size};
        int known = embsync_what(es->metadata.id, es->timestamp_ms, s->metadata.id, column, k.data, model, sy.what);
        lake_hold(lake, "embed-sync");
        if (known < 0 || vindex_sync_write(lake, table, column, model, &sy) < 0 || !txlog_exists(lake, table))
            vindex_sync_forget(lake, table, column, model); /* a cache; a table dropped meanwhile keeps nothing */
        error_clear();
    }
    txlog_snapshot_free(es);
    if (rc == 0) {
        long long made = *landed, all = total ? atoll(total) : 0; /* earlier attempts' too */
        rc = result_message(out, "embedded %lld text%s of %s.%s with %s (%d numbers each), kept %lld; %s holds %lld%s",
                            made, made == 1 ? "" : "s", table, column, model, dim, all - made, emb.data, all,
                            in_step ? " (the table has not changed since it was embedded)"
                            : touched.len ? " (looked at the rows changed since it was embedded)" : "");
    }
    loch_free(count);
    loch_free(total);
    txlog_snapshot_free(s);
    txlog_snapshot_free(es0);
    buf_free(&emb), buf_free(&k), buf_free(&sql), buf_free(&src), buf_free(&old), buf_free(&touched);
    buf_free(&pinned);
    return rc;
}

/* Embeddings racing for the same table (two `loch embed`, auto-embeds after two writes)
 * conflict at the commit, one of them; it starts again from the newer version, where
 * what the winner embedded is kept, not embedded twice. */
int loch_embed_column(loch_result **out, loch_lake *lake, const char *table, const char *column, const char *key)
{
    int rc = 0;
    long long landed = 0; /* texts embedded by attempts whose commit landed */
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((rc = embed_once(out, lake, table, column, key, &landed)) != LOCH_ECONFLICT)
            break;
        error_clear();
        rc = error_set(LOCH_ECONFLICT, "%s.%s: other embeddings of the table committed first, five times in a row",
                       table, column);
    }
    return rc;
}

/* The vector index a lake handle keeps, for its searches: the last column searched. */
struct search_cache {
    char table[300], column[300];
    int seen;      /* searches of this column answered without an index */
    int sole;      /* the column was found as the table's only embedded one, not named */
    vindex *ix;    /* NULL until the column has a fresh index */
};

static void slot_forget(struct search_cache **slot)
{
    if (*slot)
        vindex_free((*slot)->ix);
    free(*slot);
    *slot = NULL;
}

void embed_search_forget(loch_lake *lake)
{
    slot_forget(&lake->search);
    slot_forget(&lake->sql_search);
}

/* Remembers ix (owned from now) in slot as the index of table.column: lake->search for
 * loch_search, lake->sql_search for the table functions. Two slots, because a search's
 * --where runs SQL that may call a table function while the search holds its index. */
static void search_keep(struct search_cache **slot, const char *table, const char *column, int sole, vindex *ix)
{
    slot_forget(slot);
    if (!(*slot = calloc(1, sizeof(**slot)))) {
        vindex_free(ix);
        return;
    }
    snprintf((*slot)->table, sizeof((*slot)->table), "%s", table);
    snprintf((*slot)->column, sizeof((*slot)->column), "%s", column);
    (*slot)->sole = sole;
    (*slot)->ix = ix;
}

/* The rows of the table passing cond, as a bitmap over ix's nodes: the keys of the
 * rows the condition selects, each looked up in the index. */
static int where_bits(loch_lake *lake, vindex *ix, const char *table, const char *cond, uint64_t **out,
                      size_t *allowed)
{
    buf sql = BUF_INIT;
    loch_result *r = NULL;
    *out = NULL, *allowed = 0;
    uint64_t *bits = calloc(vindex_nodes(ix) / 64 + 1, sizeof(uint64_t));
    int rc = bits ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    buf_puts(&sql, "SELECT CAST(");
    buf_put_sql_ident(&sql, vindex_keycol(ix));
    buf_puts(&sql, " AS VARCHAR) FROM ");
    buf_put_sql_ident(&sql, table);
    if (buf_printf(&sql, " WHERE (%s)", cond) < 0)
        rc = LOCH_ENOMEM;
    rc = rc ? rc : loch_sql(&r, lake, sql.data);
    for (size_t i = 0; rc == 0 && i < loch_result_rows(r); i++) {
        char *k = loch_result_text(r, i, 0);
        *allowed += k && vindex_allow_key(ix, k, bits);
        loch_free(k);
    }
    loch_result_free(r);
    buf_free(&sql);
    if (rc)
        free(bits);
    else
        *out = bits;
    return rc;
}

enum { MODE_SEMANTIC, MODE_KEYWORD, MODE_HYBRID };

/* A search's work stops when the lake is interrupted after it began (a cancel, a time
 * limit: the server interrupts the worker's engine). */
struct stop_at {
    loch_lake *lake;
    unsigned seen;
};

static int interrupted(void *ctx)
{
    struct stop_at *s = ctx;
    return compute_interrupts(s->lake->cp) != s->seen;
}
static const char *const mode_names[] = {"semantic", "keyword", "hybrid"};

#define RRF_K 60       /* reciprocal rank fusion's constant (Cormack et al., 2009) */
#define FUSE_DEPTH 100 /* each list's depth fused */

static int by_label(const void *a, const void *b)
{
    uint64_t x = ((const hnsw_hit *)a)->label, y = ((const hnsw_hit *)b)->label;
    return x < y ? -1 : x > y;
}

/* best first; equal scores by node, so the order is the same every time */
static int by_fused(const void *a, const void *b)
{
    const hnsw_hit *x = a, *y = b;
    return x->dist > y->dist ? -1 : x->dist < y->dist ? 1 : by_label(a, b);
}

/* Reciprocal rank fusion of two ranked lists of nodes into out (k at most): a node's
 * score is the sum over the lists of 1 / (RRF_K + its rank), ranks from 1. Sorting,
 * not searching: a k of 100,000 stays n log n. */
static long fuse(const hnsw_hit *a, long na, const hnsw_hit *b, long nb, hnsw_hit *out, size_t k)
{
    hnsw_hit *all = malloc((size_t)(na + nb + 1) * sizeof *all);
    long n = 0, m = 0;
    if (!all)
        return error_set(LOCH_ENOMEM, "out of memory"), -1;
    for (long i = 0; i < na; i++)
        all[n++] = (hnsw_hit){a[i].label, 1.0f / (float)(RRF_K + i + 1)};
    for (long i = 0; i < nb; i++)
        all[n++] = (hnsw_hit){b[i].label, 1.0f / (float)(RRF_K + i + 1)};
    qsort(all, (size_t)n, sizeof *all, by_label);
    for (long i = 0; i < n; i++) { /* a node in both lists: its two terms summed */
        if (m && all[m - 1].label == all[i].label)
            all[m - 1].dist += all[i].dist;
        else
            all[m++] = all[i];
    }
    qsort(all, (size_t)m, sizeof *all, by_fused);
    long got = m < (long)k ? m : (long)k;
    memcpy(out, all, (size_t)got * sizeof *out);
    free(all);
    return got;
}

#define FETCH_FROM_INDEX 256 /* hits whose texts the full-text index gives; more: a join */

/* The hits' rows in order, their texts read from the full-text index by node (not by
 * the engine, which would read the whole embeddings table to join ten rows): one query
 * of values, the texts bound as parameters. The key keeps its type (key_type, the
 * engine's name for it); chunk and score are typed as the join's are. Fails (with the
 * error set) when a text is not there, and the caller joins instead. */
static int fetch_from_index(loch_lake *lake, vindex *ix, const char *key_type, const hnsw_hit *hits, long got,
                            loch_result **out)
{
    buf sql = BUF_INIT, *texts = calloc((size_t)got + 1, sizeof *texts);
    compute_param *params = calloc(2 * (size_t)got + 1, sizeof *params);
    loch_result *r = NULL;
    int rc = texts && params ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    buf_puts(&sql, "SELECT CAST(k AS ");
    buf_puts(&sql, key_type);
    buf_puts(&sql, ") AS ");
    buf_put_sql_ident(&sql, vindex_keycol(ix));
    buf_puts(&sql, ", chunk, score, text FROM (VALUES ");
    for (long i = 0; rc == 0 && i < got; i++) {
        int chunk = 0;
        const char *key = vindex_key(ix, (size_t)hits[i].label, &chunk);
        rc = vindex_text(ix, (size_t)hits[i].label, &texts[i]);
        params[2 * i] = (compute_param){COMPUTE_STRING, key};
        params[2 * i + 1] = (compute_param){COMPUTE_STRING, texts[i].data ? texts[i].data : ""};
        buf_printf(&sql, "%s(%ld, $%ld, %d, CAST(%.9g AS FLOAT), $%ld)", i ? ", " : "", i, 2 * i + 1, chunk,
                   (double)hits[i].dist, 2 * i + 2);
    }
    if (rc == 0 && buf_puts(&sql, ") v(r, k, chunk, score, text) ORDER BY r") < 0)
        rc = LOCH_ENOMEM;
    rc = rc ? rc : result_new(&r, 0, NULL, NULL);
    rc = rc ? rc : compute_query_params(lake->cp, sql.data, params, 2 * (size_t)got, &r->cr);
    if (rc == 0)
        *out = r;
    else
        loch_result_free(r);
    for (long i = 0; texts && i < got; i++)
        buf_free(&texts[i]);
    free(texts), free(params);
    buf_free(&sql);
    return rc;
}

/* The search through the index: the question embedded here (semantic, hybrid) or
 * made a query of its words (keyword, hybrid), the k best nodes (among the rows
 * passing the condition), then their keys and texts in one query, in order. score is
 * the cosine (semantic), BM25 (keyword) or the fused rank score (hybrid). */
static int index_search(loch_result **out, loch_lake *lake, vindex *ix, const char *emb, const char *model,
                        const char *key_type, const char *query, const char *where, int k, int mode)
{
    buf sql = BUF_INIT, words = BUF_INIT;
    size_t dim = (size_t)vindex_dim(ix), qlen = strlen(query), allowed = 0;
    size_t depth = mode == MODE_HYBRID && k < FUSE_DEPTH ? FUSE_DEPTH : (size_t)k;
    float *q = malloc(dim * sizeof(float));
    hnsw_hit *hits = malloc((size_t)k * sizeof(hnsw_hit)), *sem = malloc(depth * sizeof(hnsw_hit)),
             *kw = malloc(depth * sizeof(hnsw_hit));
    uint64_t *allow = NULL;
    int got_dim = 0, exact = 1;
    long got = 0, nsem = 0, nkw = 0;
    int rc = q && hits && sem && kw ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    struct stop_at stop = {lake, compute_interrupts(lake->cp)};
    if (rc == 0 && mode != MODE_SEMANTIC && !vindex_has_text(ix))
        rc = error_set(LOCH_ENOTFOUND, "%s.%s has no current full-text index: run loch embed %s %s",
                       vindex_table(ix), vindex_column(ix), vindex_table(ix), vindex_column(ix));
    if (rc == 0 && mode != MODE_KEYWORD)
        rc = embed_texts(&lake->embed, &query, &qlen, 1, q, dim, &got_dim);
    rc = rc || !where ? rc : where_bits(lake, ix, vindex_table(ix), where, &allow, &allowed);
    int none = where && !allowed;
    if (rc == 0 && !none && mode != MODE_KEYWORD && (nsem = vindex_search(ix, q, depth, allow, allowed, sem, &exact)) < 0)
        rc = loch_error_last_code() ? loch_error_last_code() : LOCH_ERROR;
    rc = rc || mode == MODE_SEMANTIC ? rc : fts_words(query, &words);
    if (rc == 0 && !none && mode != MODE_SEMANTIC && words.len &&
        (nkw = vindex_text_search(ix, words.data, depth, allow, kw, interrupted, &stop)) < 0 &&
        loch_error_last_code() == LOCH_ECORRUPT && vindex_text_remake(lake, ix, emb) == 0) /* damaged: made again */
        nkw = vindex_text_search(ix, words.data, depth, allow, kw, interrupted, &stop);
    if (rc == 0 && nkw < 0)
        rc = loch_error_last_code() ? loch_error_last_code() : LOCH_ERROR;
    if (rc == 0 && mode == MODE_SEMANTIC) {
        got = nsem;
        for (long i = 0; i < got; i++)
            hits[i] = (hnsw_hit){sem[i].label, 1.0f - sem[i].dist}; /* the cosine */
    } else if (rc == 0 && mode == MODE_KEYWORD) {
        got = nkw;
        memcpy(hits, kw, (size_t)got * sizeof *hits);
    } else if (rc == 0 && (got = fuse(sem, nsem, kw, nkw, hits, (size_t)k)) < 0) {
        rc = LOCH_ENOMEM;
    }
    int fetched = 0;
    if (rc == 0 && got > 0 && got <= FETCH_FROM_INDEX && key_type && vindex_has_text(ix)) {
        if (fetch_from_index(lake, ix, key_type, hits, got, out) == 0) {
            fetched = 1;
            lake_hold(lake, "search-texts"); /* tests: the texts came from the index */
        }
        else
            error_clear(); /* the join gives the same rows */
    }
    if (rc == 0 && !fetched) {
        buf_puts(&sql, "SELECT e.");
        buf_put_sql_ident(&sql, vindex_keycol(ix));
        buf_puts(&sql, ", e.chunk, v.score, e.text FROM (VALUES ");
        for (long i = 0; i < got; i++) {
            int chunk = 0;
            const char *key = vindex_key(ix, (size_t)hits[i].label, &chunk);
            buf_printf(&sql, "%s(%ld, ", i ? ", " : "", i);
            buf_put_sql_str(&sql, key);
            buf_printf(&sql, ", %d, CAST(%.9g AS FLOAT))", chunk, (double)hits[i].dist);
        }
        if (!got)
            buf_puts(&sql, "(0, NULL, 0, CAST(NULL AS FLOAT))");
        buf_puts(&sql, ") v(r, k, c, score) JOIN ");
        buf_printf(&sql, "\"%s@v%lld\"", emb, (long long)vindex_version(ix));
        buf_puts(&sql, " e ON CAST(e.");
        buf_put_sql_ident(&sql, vindex_keycol(ix));
        buf_puts(&sql, " AS VARCHAR) = v.k AND e.chunk = v.c AND e.\"column\" = ");
        buf_put_sql_str(&sql, vindex_column(ix));
        buf_puts(&sql, " AND e.model = ");
        buf_put_sql_str(&sql, model);
        rc = buf_puts(&sql, " ORDER BY v.r");
    }
    rc = rc || fetched ? rc : loch_sql(out, lake, sql.data);
    if (rc == 0)
        result_note(*out, "searched %zu vectors of %s.%s by their index (%s%s)", vindex_live(ix), vindex_table(ix),
                    vindex_column(ix), mode_names[mode],
                    mode == MODE_KEYWORD ? ", BM25" : exact ? ", every vector scored" : ", HNSW graph");
    free(q), free(hits), free(sem), free(kw), free(allow);
    buf_free(&sql), buf_free(&words);
    return rc;
}

/* The embeddings table of a table being searched, into emb: both must exist (a table's
 * embeddings left behind by a DROP are not searched). column names the one to embed in
 * the message, if known. */
static int searched_tables(loch_lake *lake, const char *table, const char *column, buf *emb)
{
    int rc = embeddings_name(table, emb);
    if (rc == 0 && !txlog_exists(lake, table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    if (rc == 0 && !txlog_exists(lake, emb->data))
        rc = column ? error_set(LOCH_ENOTFOUND, "table %s has no embeddings: run loch embed %s %s", table, table, column)
                    : error_set(LOCH_ENOTFOUND, "table %s has no embeddings: run loch embed %s COLUMN first", table,
                                table);
    return rc;
}

/* A search's condition goes inside loch's own statement, so it must be one condition
 * and nothing more: no statement after it, no comment that would hide the rest of
 * loch's SQL, no parenthesis that closes what it did not open; and the query it makes
 * must be one query, as allow_query judges any (the sandbox's functions included). */
static int where_check(loch_lake *lake, const char *table, const char *cond)
{
    size_t len = strlen(cond), pos = 0;
    int depth = 0, rc;
    sql_token t;
    size_t gap = 0; /* where the last token ended: a comment can only be between tokens */
    while ((rc = sqlscan_next(cond, len, &pos, &t)) == 0) {
        for (size_t i = gap; i + 1 < t.start; i++)
            if ((cond[i] == '-' && cond[i + 1] == '-') || (cond[i] == '/' && cond[i + 1] == '*'))
                return error_set(LOCH_EINVALID, "--where takes one SQL condition (no ';', no comments): %s", cond);
        if (t.kind == TOK_END)
            break;
        gap = pos;
        if (t.kind == TOK_PUNCT && cond[t.start] == ';')
            return error_set(LOCH_EINVALID, "--where takes one SQL condition (no ';', no comments): %s", cond);
        if (t.kind == TOK_PUNCT && cond[t.start] == '(')
            depth++;
        if (t.kind == TOK_PUNCT && cond[t.start] == ')' && --depth < 0)
            break;
    }
    if (rc < 0 || depth != 0)
        return error_set(LOCH_EINVALID, "--where takes one SQL condition (its parentheses must match): %s", cond);
    buf sql = BUF_INIT;
    buf_puts(&sql, "SELECT * FROM ");
    buf_put_sql_ident(&sql, table);
    rc = buf_printf(&sql, " WHERE (%s)", cond);
    rc = rc ? rc : allow_query(lake, sql.data);
    buf_free(&sql);
    return rc;
}

int loch_search(loch_result **out, loch_lake *lake, const char *table, const char *query,
                const loch_search_options *opts)
{
    static const size_t sizes[] = {offsetof(loch_search_options, mode), sizeof(loch_search_options)};
    loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
    buf emb = BUF_INIT, sql = BUF_INIT, key_type = BUF_INIT;
    char *column = NULL, *key = NULL;
    const char *model = NULL;
    snapshot *es = NULL;
    int dim = 0;
    *out = NULL;
    int rc = options_copy(&o, opts, sizes, LOCH_SEARCH_OPTIONS_VERSION, "loch_search_options");
    rc = rc ? rc : table_name_check(table);
    if (rc == 0 && !query)
        rc = error_set(LOCH_EINVALID, "search for what? (no query)");
    if (rc == 0 && (o.k <= 0 || o.k > 100000))
        rc = error_set(LOCH_EINVALID, "k is the number of rows to return, 1 to 100000, not %d", o.k);
    int mode = MODE_SEMANTIC;
    if (rc == 0 && o.mode) {
        for (mode = 0; mode < 3 && strcmp(o.mode, mode_names[mode]) != 0; mode++)
            ;
        if (mode == 3)
            rc = error_set(LOCH_EINVALID, "search mode %s: semantic, keyword or hybrid", o.mode);
    }
    rc = rc ? rc : searched_tables(lake, table, NULL, &emb);
    rc = rc ? rc : o.where ? where_check(lake, table, o.where) : 0;
    rc = rc ? rc : embed_model(&lake->embed, &model, &dim);
    rc = rc ? rc : txlog_load(lake, emb.data, &(txlog_at){-1, 0, 0}, &es);
    /* the key's type, as the engine names it (NULL when it cannot say: the join types it) */
    arena a = ARENA_INIT;
    if (rc == 0 && (es->schema.count < 1 || schema_duck_type(&a, es->schema.fields[0].delta_type, &key_type) < 0)) {
        buf_free(&key_type);
        error_clear();
    }
    arena_free(&a);
    /* the handle's index, when it is of this column and current */
    struct search_cache *c = lake->search;
    if (rc == 0 && c && c->ix && (o.column ? !strcmp(c->column, o.column) : c->sole) &&
        vindex_fits(c->ix, table, c->column, model, dim, es) && (mode == MODE_SEMANTIC || vindex_has_text(c->ix))) {
        rc = index_search(out, lake, c->ix, emb.data, model, key_type.data, query, o.where, o.k, mode);
        goto done;
    }
    /* which column: the one asked for, else the only one embedded */
    if (rc == 0 && o.column) {
        column = strdup(o.column);
        rc = column ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    } else if (rc == 0) {
        buf_puts(&sql, "SELECT min(\"column\"), count(DISTINCT \"column\") FROM ");
        buf_put_sql_ident(&sql, emb.data);
        loch_result *r = NULL;
        rc = loch_sql(&r, lake, sql.data);
        char *n = rc == 0 ? loch_result_text(r, 0, 1) : NULL;
        if (rc == 0 && n && !strcmp(n, "0"))
            rc = error_set(LOCH_ENOTFOUND, "%s has no embedded rows (it is empty, or run loch embed %s COLUMN)", table,
                           table);
        else if (rc == 0 && n && strcmp(n, "1") != 0)
            rc = error_set(LOCH_EINVALID, "%s has embeddings of %s columns: say which (--column)", table, n);
        else if (rc == 0)
            column = loch_result_text(r, 0, 0);
        loch_free(n);
        loch_result_free(r);
    }
    /* the key's name: the embeddings table's first column */
    if (rc == 0) {
        buf_clear(&sql);
        buf_puts(&sql, "SELECT * FROM ");
        buf_put_sql_ident(&sql, emb.data);
        buf_puts(&sql, " LIMIT 0");
        loch_result *r = NULL;
        rc = loch_sql(&r, lake, sql.data);
        if (rc == 0 && !(key = strdup(loch_result_name(r, 0))))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        loch_result_free(r);
    }
    /* the column's index: its file when fresh; from the session's second search of the
     * column on, made (or brought up to date) when not */
    c = lake->search;
    int seen = rc == 0 && column && c && !strcmp(c->table, table) && !strcmp(c->column, column) ? c->seen : 0;
    vindex *ix = NULL;
    /* words need the full-text index: made now if need be (SQL cannot rank by BM25) */
    int refresh = seen >= 1 || mode != MODE_SEMANTIC;
    if (rc == 0 && column && vindex_get(lake, table, emb.data, es, column, key, model, dim, refresh, &ix) == 0) {
        search_keep(&lake->search, table, column, !o.column, ix);
        rc = index_search(out, lake, ix, emb.data, model, key_type.data, query, o.where, o.k, mode);
        goto done;
    }
    if (rc == 0 && mode != MODE_SEMANTIC) {
        rc = error_prefix("a %s search needs the column's index, which could not be made: ", mode_names[mode]);
        goto done;
    }
    if (rc == 0)
        error_clear(); /* the index's absence is no error: SQL answers */
    if (rc == 0 && column) { /* answered in SQL this time: counted */
        if (!seen)
            search_keep(&lake->search, table, column, !o.column, NULL);
        if (lake->search)
            lake->search->seen++;
    }
    if (rc == 0) {
        buf_clear(&sql);
        buf_puts(&sql, "SELECT e.");
        buf_put_sql_ident(&sql, key);
        buf_puts(&sql, ", e.chunk, list_inner_product(e.embedding, q.v) AS score, e.text FROM ");
        buf_put_sql_ident(&sql, emb.data);
        buf_puts(&sql, " e CROSS JOIN (SELECT embed(");
        buf_put_sql_str(&sql, query);
        buf_puts(&sql, ") AS v) q");
        if (o.where) { /* the condition is on the table's rows: they are joined by key */
            buf_puts(&sql, " SEMI JOIN (SELECT * FROM ");
            buf_put_sql_ident(&sql, table);
            buf_printf(&sql, " WHERE (%s)) s ON s.", o.where);
            buf_put_sql_ident(&sql, key);
            buf_puts(&sql, " = e.");
            buf_put_sql_ident(&sql, key);
        }
        buf_puts(&sql, " WHERE e.\"column\" = ");
        buf_put_sql_str(&sql, column);
        buf_puts(&sql, " AND e.model = ");
        buf_put_sql_str(&sql, model);
        rc = buf_printf(&sql, " AND e.dim = %d ORDER BY score DESC, e.", dim);
        buf_put_sql_ident(&sql, key);
        rc = buf_printf(&sql, ", e.chunk LIMIT %d", o.k);
    }
    rc = rc ? rc : loch_sql(out, lake, sql.data);
    if (rc == 0)
        result_note(*out, "searched the embeddings of %s.%s (semantic, no current index yet)", table, column);
    if (rc == 0 && loch_result_rows(*out) == 0) { /* nothing: made by another model? */
        char *other = NULL;
        buf_clear(&sql);
        buf_puts(&sql, "SELECT min(model) FROM ");
        buf_put_sql_ident(&sql, emb.data);
        buf_puts(&sql, " WHERE \"column\" = ");
        buf_put_sql_str(&sql, column);
        buf_puts(&sql, " AND (model <> ");
        buf_put_sql_str(&sql, model);
        buf_printf(&sql, " OR dim <> %d)", dim);
        rc = query_text(lake, sql.data, &other);
        if (rc == 0 && other) {
            rc = error_set(LOCH_EINVALID, "the embeddings of %s.%s were made by the model %s, not %s (the one in "
                           "use): run loch embed %s %s again", table, column, other, model, table, column);
            loch_result_free(*out);
            *out = NULL;
        }
        loch_free(other);
        other = NULL;
        if (rc == 0) { /* or the column has none at all */
            buf_clear(&sql);
            buf_puts(&sql, "SELECT 1 FROM ");
            buf_put_sql_ident(&sql, emb.data);
            buf_puts(&sql, " WHERE \"column\" = ");
            buf_put_sql_str(&sql, column);
            rc = buf_puts(&sql, " LIMIT 1");
            rc = rc ? rc : query_text(lake, sql.data, &other);
            if (rc == 0 && !other) {
                rc = error_set(LOCH_ENOTFOUND, "%s.%s has no embeddings: run loch embed %s %s", table, column, table,
                               column);
                loch_result_free(*out);
                *out = NULL;
            }
            loch_free(other);
        }
    }
done:
    txlog_snapshot_free(es);
    free(column);
    free(key);
    buf_free(&emb), buf_free(&sql), buf_free(&key_type);
    return rc;
}

/* ---- vector_search() and text_search() in SQL ------------------------------------- */

/* A search for the engine's table functions: through the column's current index only
 * (they run while the engine binds a statement, where loch may not run SQL of its own):
 * the keys and scores, typed as the key column is. */
static int table_search(loch_lake *lake, const char *table, const char *column, const char *query, int64_t k,
                        int text, compute_search_rows *out)
{
    buf emb = BUF_INIT;
    snapshot *es = NULL;
    const char *model = NULL;
    vindex *ix = NULL;
    int dim = 0, exact = 0;
    hnsw_hit *hits = calloc((size_t)k, sizeof *hits);
    float *q = NULL;
    int rc = hits ? table_name_check(table) : error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : searched_tables(lake, table, column, &emb);
    rc = rc ? rc : embed_model(&lake->embed, &model, &dim);
    rc = rc ? rc : txlog_load(lake, emb.data, &(txlog_at){-1, 0, 0}, &es);
    if (rc == 0 && es->schema.count < 1)
        rc = error_set(LOCH_ECORRUPT, "%s has no columns", emb.data);
    struct search_cache *c = lake->sql_search;
    if (rc == 0 && c && c->ix && !strcmp(c->column, column) && vindex_fits(c->ix, table, column, model, dim, es)) {
        ix = c->ix;
    } else if (rc == 0) {
        const char *key = es->schema.fields[0].name;
        if (vindex_get(lake, table, emb.data, es, column, key, model, dim, 0, &ix) < 0)
            rc = error_set(LOCH_ENOTFOUND, "%s.%s has no current index: run loch embed %s %s", table, column, table,
                           column);
        else
            search_keep(&lake->sql_search, table, column, 0, ix);
    }
    if (rc == 0 && text && !vindex_has_text(ix))
        rc = error_set(LOCH_ENOTFOUND, "%s.%s has no current full-text index: run loch embed %s %s", table, column,
                       table, column);
    long got = 0;
    if (rc == 0 && text) {
        struct stop_at stop = {lake, compute_interrupts(lake->cp)};
        got = vindex_text_search(ix, query, (size_t)k, NULL, hits, interrupted, &stop);
        if (got < 0 && loch_error_last_code() == LOCH_ECORRUPT && vindex_text_remake(lake, ix, emb.data) == 0)
            got = vindex_text_search(ix, query, (size_t)k, NULL, hits, interrupted, &stop); /* damaged: made again */
    } else if (rc == 0) {
        size_t qlen = strlen(query);
        int got_dim = 0;
        if (!(q = malloc((size_t)dim * sizeof *q)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        rc = rc ? rc : embed_texts(&lake->embed, &query, &qlen, 1, q, (size_t)dim, &got_dim);
        got = rc ? 0 : vindex_search(ix, q, (size_t)k, NULL, 0, hits, &exact);
    }
    if (rc == 0 && got < 0)
        rc = loch_error_last_code() ? loch_error_last_code() : LOCH_ERROR;
    if (rc == 0) {
        const char *dt = es->schema.fields[0].delta_type;
        snprintf(out->key_name, sizeof out->key_name, "%s", es->schema.fields[0].name);
        out->key_is_int = dt && (!strcmp(dt, "\"long\"") || !strcmp(dt, "\"integer\"") || !strcmp(dt, "\"short\"") ||
                                 !strcmp(dt, "\"byte\""));
        out->keys = calloc((size_t)got + 1, sizeof *out->keys);
        out->scores = calloc((size_t)got + 1, sizeof *out->scores);
        if (!out->keys || !out->scores)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        out->chunks = calloc((size_t)got + 1, sizeof *out->chunks);
        if (!out->chunks)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        for (long i = 0; rc == 0 && i < got; i++, out->n++) {
            if (!(out->keys[i] = strdup(vindex_key(ix, (size_t)hits[i].label, &out->chunks[i]))))
                rc = error_set(LOCH_ENOMEM, "out of memory");
            out->scores[i] = text ? hits[i].dist : 1.0f - hits[i].dist;
        }
    }
    txlog_snapshot_free(es);
    buf_free(&emb);
    free(hits), free(q);
    return rc;
}

static int vector_search_rows(void *ctx, const char *table, const char *column, const char *query, int64_t k,
                              compute_search_rows *out)
{
    return table_search(ctx, table, column, query, k, 0, out);
}

static int text_search_rows(void *ctx, const char *table, const char *column, const char *query, int64_t k,
                            compute_search_rows *out)
{
    return table_search(ctx, table, column, query, k, 1, out);
}

int embed_register_search(loch_lake *lake)
{
    int rc = compute_register_search_fn(lake->cp, "vector_search", vector_search_rows, lake);
    return rc ? rc : compute_register_search_fn(lake->cp, "text_search", text_search_rows, lake);
}

/* ---- auto-embedding ---------------------------------------------------------------- */

int embeddings_table(const char *name)
{
    size_t n = strlen(name), sl = strlen(EMBEDDINGS_SUFFIX);
    return n > sl && !strcmp(name + n - sl, EMBEDDINGS_SUFFIX);
}

void lake_mark_changed(loch_lake *lake, const char *table)
{
    if (embeddings_table(table))
        return; /* what embedding writes */
    pthread_mutex_lock(&lake->changed_mu);
    size_t i = 0;
    while (i < lake->nchanged && strcmp(lake->changed[i], table) != 0)
        i++;
    char **more = i == lake->nchanged ? realloc(lake->changed, (lake->nchanged + 1) * sizeof(*more)) : NULL;
    if (more) { /* out of memory: the table is embedded by the next embed, not now */
        lake->changed = more;
        if ((more[lake->nchanged] = strdup(table)))
            lake->nchanged++;
    }
    pthread_mutex_unlock(&lake->changed_mu);
}

void lake_auto_embed(loch_lake *lake)
{
    if (lake->auto_embedding)
        return;
    pthread_mutex_lock(&lake->changed_mu);
    char **tables = lake->changed;
    size_t n = lake->nchanged;
    lake->changed = NULL, lake->nchanged = 0;
    pthread_mutex_unlock(&lake->changed_mu);
    if (!n)
        return;
    /* the write's own error (if it failed after a commit) is the caller's to report */
    char *before = strdup(loch_error_last());
    int code = loch_error_last_code();
    lake->auto_embedding = 1;
    for (size_t i = 0; i < n; i++) {
        snapshot *s = NULL;
        const char *cols = NULL, *key = NULL;
        if (txlog_load(lake, tables[i], &(txlog_at){-1, 0, 0}, &s) == 0) {
            cols = snapshot_property(s, EMBED_AUTO_PROPERTY);
            key = snapshot_property(s, EMBED_KEY_PROPERTY);
        }
        const char *c = cols, *item;
        size_t len;
        while (list_item(&c, &item, &len)) {
            char column[256];
            snprintf(column, sizeof(column), "%.*s", (int)(len < sizeof(column) ? len : sizeof(column) - 1), item);
            loch_result *r = NULL;
            if (*column && loch_embed_column(&r, lake, tables[i], column, key && *key ? key : NULL) < 0)
                lake_warn(lake, "%s.%s was written but not embedded (%s): run loch embed %s %s", tables[i], column,
                          loch_error_last(), tables[i], column);
            loch_result_free(r);
        }
        txlog_snapshot_free(s);
        free(tables[i]);
    }
    free(tables);
    lake->auto_embedding = 0;
    if (code && before)
        error_set(code, "%s", before);
    else
        error_clear();
    free(before);
}

int loch_embed_auto(loch_lake *lake, const char *table, const char *column, const char *key, int on)
{
    snapshot *s = NULL;
    buf cols = BUF_INIT;
    int rc = table_name_check(table);
    if (rc == 0 && (!column || !*column || strchr(column, ',') || strlen(column) > 255))
        rc = error_set(LOCH_EINVALID, "which column of %s to keep embedded? (a name, without commas)", table);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    const char *had = rc ? NULL : snapshot_property(s, EMBED_AUTO_PROPERTY);
    const char *had_key = rc ? NULL : snapshot_property(s, EMBED_KEY_PROPERTY);
    /* the list without column, then column again when on */
    const char *c = had, *item;
    size_t len;
    while (rc == 0 && list_item(&c, &item, &len))
        if (len && !(len == strlen(column) && !strncmp(item, column, len)))
            rc = (cols.len ? buf_putc(&cols, ',') : 0) || buf_put(&cols, item, len) ? error_set(LOCH_ENOMEM, "out of memory")
                                                                                  : 0;
    if (rc == 0 && on && ((cols.len && buf_putc(&cols, ',')) || buf_puts(&cols, column)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && on && key && *key && had_key && *had_key && strcmp(key, had_key) != 0)
        rc = error_set(LOCH_EINVALID, "%s's embedded columns are keyed by %s, not %s", table, had_key, key);
    txlog_snapshot_free(s);
    if (rc == 0) {
        const char *keys[2] = {EMBED_AUTO_PROPERTY, EMBED_KEY_PROPERTY};
        const char *values[2] = {cols.data ? cols.data : "", key && *key ? key : had_key ? had_key : ""};
        loch_result *r = NULL;
        rc = ops_set_properties(lake, table, keys, values, on && key && *key ? 2 : 1, &r);
        loch_result_free(r);
    }
    buf_free(&cols);
    return rc;
}
