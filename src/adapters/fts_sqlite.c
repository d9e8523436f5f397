/*
 * adapters/fts_sqlite.c - adapters/fts.h on SQLite FTS5.
 *
 * One database per index: docs (an FTS5 table: the key, not indexed, and the text)
 * and meta (the caller's tag). An extended index starts as a page-by-page copy of a
 * finished one (SQLite's backup: pages are copied as they are, so a damaged one is
 * found when the copy is written to or searched, and the caller makes the index again
 * whole). Written
 * with no journal and a full sync at the end:
 * the file is built aside and moved into place by the caller, so no reader ever sees
 * it half made, and a crash leaves at worst an unfinished file at the side path. A
 * file that turns out damaged when read gives LOCH_ECORRUPT, never a crash (SQLite
 * checks its pages as it reads them).
 */
#include "adapters/fts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/stat.h>

#include "sqlite3.h"
#include "util/error.h"

struct fts {
    sqlite3 *db;
    sqlite3_stmt *add;
    sqlite3_stmt *text; /* fts_text's, prepared at its first call */
    int extended;       /* made by fts_extend: finished without an optimize */
};

/* The index's table, as fts_create makes it; fts_open takes no other (FTS5's options
 * could name a view as the content, whose query might never end). */
#define DOCS_SQL                                                                                                   \
    "CREATE VIRTUAL TABLE docs USING fts5(key UNINDEXED, text, tokenize = 'porter unicode61 remove_diacritics 2')"

/* SQLite steps a text's lookup may take: a rowid's few pages need far fewer, a file
 * made to loop (which fts_open should already refuse) stops there */
#define TEXT_STEPS 1000000

static int db_error(sqlite3 *db, int code, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : "out of memory";
    int rc = sqlite3_errcode(db);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        code = LOCH_ECORRUPT;
    return error_set(code, "full-text index: %s: %s", what, msg);
}

void fts_free(fts *f)
{
    if (!f)
        return;
    sqlite3_finalize(f->add);
    sqlite3_finalize(f->text);
    sqlite3_close(f->db);
    free(f);
}

/* A writer on the file at path (made empty first): no journal (it is a side file until
 * finished), a full sync at the end; with schema, the tables are made too. */
static int writer(fts **out, const char *path, fts *copy_of)
{
    fts *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    remove(path);
    int rc = 0;
    if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        rc = db_error(f->db, LOCH_EIO, path);
    if (rc == 0 && copy_of) {
        sqlite3_backup *b = sqlite3_backup_init(f->db, "main", copy_of->db, "main");
        int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b)
            sqlite3_backup_finish(b);
        if (step != SQLITE_DONE)
            rc = db_error(f->db, step == SQLITE_CORRUPT || step == SQLITE_NOTADB ? LOCH_ECORRUPT : LOCH_EIO,
                          path);
        f->extended = 1;
    }
    if (rc == 0 &&
        (sqlite3_exec(f->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=FULL; BEGIN;", NULL, NULL, NULL) !=
             SQLITE_OK ||
         (!copy_of && sqlite3_exec(f->db, "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT);" DOCS_SQL ";", NULL, NULL,
                                   NULL) != SQLITE_OK) ||
         sqlite3_prepare_v2(f->db, "INSERT INTO docs(rowid, key, text) VALUES (?1, ?2, ?3)", -1, &f->add, NULL) !=
             SQLITE_OK))
        rc = db_error(f->db, LOCH_EIO, path);
    if (rc) {
        fts_free(f);
        remove(path);
        return rc;
    }
    *out = f;
    return 0;
}

int fts_create(fts **out, const char *path)
{
    return writer(out, path, NULL);
}

int fts_extend(fts **out, const char *from, const char *from_tag, const char *to)
{
    fts *src = NULL;
    *out = NULL;
    int rc = fts_open(&src, from, from_tag); /* checked as any reader checks it */
    rc = rc ? rc : writer(out, to, src);
    fts_free(src);
    return rc;
}

int fts_add(fts *f, int64_t id, const char *key, size_t key_len, const char *text, size_t text_len)
{
    sqlite3_reset(f->add);
    if (sqlite3_bind_int64(f->add, 1, id) != SQLITE_OK ||
        sqlite3_bind_text(f->add, 2, key, (int)key_len, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(f->add, 3, text, (int)text_len, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_step(f->add) != SQLITE_DONE)
        return db_error(f->db, LOCH_EIO, "add");
    return 0;
}

int fts_remove(fts *f, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(f->db, "DELETE FROM docs WHERE rowid = ?1", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(f->db, LOCH_EIO, "remove");
    sqlite3_finalize(st);
    return rc;
}

int fts_finish(fts *f, const char *tag)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(f->db, "INSERT OR REPLACE INTO meta VALUES ('tag', ?1)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, tag, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE ||
        (!f->extended && sqlite3_exec(f->db, "INSERT INTO docs(docs) VALUES ('optimize')", NULL, NULL, NULL) != SQLITE_OK) ||
        sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_error(f->db, LOCH_EIO, "finish");
    sqlite3_finalize(st);
    fts_free(f);
    return rc;
}

int fts_open(fts **out, const char *path, const char *tag)
{
    struct stat sb;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (stat(path, &sb) < 0)
        return errno == ENOENT ? error_set(LOCH_ENOTFOUND, "no full-text index %s", path)
                               : error_errno(errno, "cannot stat", path);
    if (!S_ISREG(sb.st_mode)) /* a FIFO would block the open, a directory never be one */
        return error_set(LOCH_ECORRUPT, "full-text index %s: not a regular file", path);
    fts *f = calloc(1, sizeof *f);
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    int rc = sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_CANTOPEN) {
        fts_free(f);
        return error_set(LOCH_ENOTFOUND, "no full-text index %s", path);
    }
    /* what loch writes, and only that, before anything is read from it: meta a table,
     * docs the FTS5 table fts_create makes (its options too: content= could name a view,
     * and a view, as a view named meta could, run any query, a recursive one forever),
     * no view or trigger anywhere; nor does the schema's SQL get to call functions */
    if (rc == SQLITE_OK)
        sqlite3_db_config(f->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if (rc == SQLITE_OK &&
        (sqlite3_prepare_v2(f->db, "SELECT count(*) FILTER (WHERE name = 'meta' AND type = 'table'), "
                                   "count(*) FILTER (WHERE name = 'docs' AND type = 'table' AND sql = ?1), "
                                   "count(*) FILTER (WHERE type NOT IN ('table', 'index')) FROM sqlite_schema",
                           -1, &st, NULL) != SQLITE_OK ||
         sqlite3_bind_text(st, 1, DOCS_SQL, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
         sqlite3_column_int(st, 0) != 1 || sqlite3_column_int(st, 1) != 1 || sqlite3_column_int(st, 2) != 0)) {
        sqlite3_finalize(st);
        fts_free(f);
        return error_set(LOCH_ECORRUPT, "full-text index %s: not one loch wrote", path);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK || sqlite3_prepare_v2(f->db, "SELECT v FROM meta WHERE k = 'tag'", -1, &st, NULL) != SQLITE_OK)
        rc = db_error(f->db, LOCH_ECORRUPT, path);
    else if ((rc = sqlite3_step(st)) != SQLITE_ROW)
        rc = rc == SQLITE_DONE ? error_set(LOCH_ECORRUPT, "full-text index %s: no tag", path)
                               : db_error(f->db, LOCH_ECORRUPT, path);
    else if (!sqlite3_column_text(st, 0) || strcmp((const char *)sqlite3_column_text(st, 0), tag) != 0)
        rc = error_set(LOCH_ECONFLICT, "full-text index %s: made from other data", path);
    else
        rc = 0;
    sqlite3_finalize(st);
    if (rc) {
        fts_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int fts_search(fts *f, const char *query, fts_hit each, void *ctx, fts_stop stop, void *stop_ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, step;
    sqlite3_progress_handler(f->db, stop ? 1000 : 0, stop, stop_ctx);
    if (sqlite3_prepare_v2(f->db, "SELECT rowid, key, bm25(docs) FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(f->db, LOCH_ECORRUPT, "search");
    sqlite3_bind_text(st, 1, query, -1, SQLITE_TRANSIENT);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 1);
        if (key && (rc = each(ctx, sqlite3_column_int64(st, 0), key, -sqlite3_column_double(st, 2))) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        /* a query FTS5 cannot parse is the caller's mistake; anything else, the file's */
        int code = sqlite3_errcode(f->db);
        rc = code == SQLITE_INTERRUPT ? error_set(LOCH_EINTERRUPTED, "full-text search cancelled")
             : code == SQLITE_ERROR   ? error_set(LOCH_EINVALID, "full-text query %s: %s", query, sqlite3_errmsg(f->db))
                                      : db_error(f->db, LOCH_ECORRUPT, "search");
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(f->db, 0, NULL, NULL);
    return rc < 0 ? rc : 0;
}

/* fts_text's bound: called every TEXT_STEPS / 100 steps */
static int text_steps(void *ctx)
{
    return ++*(int *)ctx > 100;
}

int fts_text(fts *f, int64_t id, const char *key, buf *out)
{
    if (!f->text && sqlite3_prepare_v2(f->db, "SELECT key, text FROM docs WHERE rowid = ?1", -1, &f->text, NULL) !=
                        SQLITE_OK)
        return db_error(f->db, LOCH_ECORRUPT, "text");
    sqlite3_reset(f->text);
    sqlite3_bind_int64(f->text, 1, id);
    int steps = 0;
    sqlite3_progress_handler(f->db, TEXT_STEPS / 100, text_steps, &steps);
    int step = sqlite3_step(f->text), rc;
    sqlite3_progress_handler(f->db, 0, NULL, NULL);
    const char *k = step == SQLITE_ROW ? (const char *)sqlite3_column_text(f->text, 0) : NULL;
    const char *t = k ? (const char *)sqlite3_column_text(f->text, 1) : NULL;
    if (step != SQLITE_ROW && step != SQLITE_DONE) /* interrupted past its bound too: not a sound file */
        rc = error_set(LOCH_ECORRUPT, "full-text index: text: %s", sqlite3_errmsg(f->db));
    else if (!k || !t || strcmp(k, key) != 0)
        rc = error_set(LOCH_ENOTFOUND, "full-text index: no row %lld of key %s", (long long)id, key);
    else
        rc = buf_put(out, t, (size_t)sqlite3_column_bytes(f->text, 1));
    sqlite3_reset(f->text);
    return rc;
}

/* English words too common to say what a question is about (a short list in the
 * spirit of Lucene's and Snowball's): a question's query leaves them out. */
static const char *const stopwords[] = {
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for",
    "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "my", "no", "not", "of", "on", "or", "our", "she", "so", "some", "someone", "such", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "were", "what", "when", "where",
    "which", "who", "whom", "why", "will", "with", "would", "you", "your"};

static int stopword(const unsigned char *w, size_t n)
{
    char low[16];
    if (n >= sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof stopwords / sizeof *stopwords; i++)
        if (!strcmp(low, stopwords[i]))
            return 1;
    return 0;
}

#define MAX_TERMS 64 /* an FTS5 OR of n terms costs about n^2: a question has fewer words */

/* whether the n-byte word w is already one of out's terms (quoted, ASCII case folded) */
static int seen_term(const buf *out, const unsigned char *w, size_t n)
{
    for (const char *p = out->data; p && (p = strchr(p, '"'));) {
        const char *q = strchr(p + 1, '"');
        if (!q)
            break;
        if ((size_t)(q - p - 1) == n && strncasecmp(p + 1, (const char *)w, n) == 0)
            return 1;
        p = q + 1;
    }
    return 0;
}

static int words_of(const char *text, buf *out, int skip_stopwords)
{
    int rc = 0, n = 0;
    buf_clear(out);
    for (const unsigned char *p = (const unsigned char *)text; rc == 0 && *p && n < MAX_TERMS;) {
        const unsigned char *s = p;
        while (*p && (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
            p++;
        size_t len = (size_t)(p - s);
        if (len && !(skip_stopwords && stopword(s, len)) && !seen_term(out, s, len)) {
            rc = buf_printf(out, "%s\"", n++ ? " OR " : "");
            rc = rc ? rc : buf_put(out, s, len);
            rc = rc ? rc : buf_putc(out, '"');
        } else if (!len) {
            p++;
        }
    }
    return rc;
}

int fts_words(const char *text, buf *out)
{
    int rc = words_of(text, out, 1);
    return rc || out->len ? rc : words_of(text, out, 0); /* only stopwords: they are the question */
}
