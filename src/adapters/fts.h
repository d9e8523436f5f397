/*
 * adapters/fts.h - a full-text index of (key, text) rows ranked by BM25, kept in one
 * file. SQLite's FTS5 does the work (adapters/fts_sqlite.c): the unicode61 tokenizer
 * with diacritics folded and Porter stemming, so "migrations" finds "migration".
 *
 * A file is written by a writer (fts_create, or fts_extend from a finished file, then
 * fts_add .. fts_finish) at a path of the caller's choosing, which the caller then
 * moves into place: readers only ever open a finished file. The file carries a caller's tag (loch: the fingerprint of the data it
 * was made from); fts_open refuses a file whose tag differs (LOCH_ECONFLICT), one that
 * is not an index (LOCH_ECORRUPT) and a missing one (LOCH_ENOTFOUND).
 *
 * Queries are FTS5 query syntax ("kubernetes AND docker", "NEAR(a b)", "mig*");
 * fts_words turns free text into a query that any of its words matches, for callers
 * that have a question rather than a query. Nothing here knows about loch.
 */
#ifndef LOCH_ADAPTERS_FTS_H
#define LOCH_ADAPTERS_FTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct fts fts;

/* A new index file at path (replacing what is there); rows are added, then finished.
 * A row's id is the caller's number for it (at most one row an id; loch: the vector
 * index's node), so its text can be had again by the id (fts_text). */
int fts_create(fts **out, const char *path);
int fts_add(fts *f, int64_t id, const char *key, size_t key_len, const char *text, size_t text_len);
/* A new index file at to holding what the finished index at from holds (when its tag
 * is from_tag: else LOCH_ECONFLICT, as fts_open), open for more rows. Copied page by
 * page, not tokenized again: adding ten rows to a big index costs the copy and the ten.
 * Its ids must not repeat the copied rows' ids. */
int fts_extend(fts **out, const char *from, const char *from_tag, const char *to);
/* Removes the row of id from an index being written (none: nothing to do). */
int fts_remove(fts *f, int64_t id);
/* Builds the index, records tag, closes and frees f (also on failure). A created
 * index is optimized (one segment); an extended one keeps FTS5's incremental merging,
 * so finishing it costs the rows added, not the whole index. */
int fts_finish(fts *f, const char *tag);

int fts_open(fts **out, const char *path, const char *tag);
void fts_free(fts *f);

/* Each row matching query, best BM25 first: each(ctx, id, key, score) where score is
 * BM25 (higher is better); each returning nonzero stops (its value is returned if
 * negative). LOCH_EINVALID for a query FTS5 cannot parse, with its message. */
typedef int (*fts_hit)(void *ctx, int64_t id, const char *key, double score);
/* stop (or NULL) is asked every few thousand steps of the query: nonzero ends it with
 * LOCH_EINTERRUPTED (a cancel, a time limit). */
typedef int (*fts_stop)(void *ctx);
int fts_search(fts *f, const char *query, fts_hit each, void *ctx, fts_stop stop, void *stop_ctx);

/* The text of the row id into out, when that row's key is key: LOCH_ENOTFOUND when
 * there is no such row (or its key is another: a file whose ids mean something else). */
int fts_text(fts *f, int64_t id, const char *key, buf *out);

/* An FTS5 query matching rows with any word of text ("a" OR "b" ...) but common English
 * ones ("the", "who", "for": unless text has no other), each once, the first 64 of
 * them, into out; empty when text has no word. */
int fts_words(const char *text, buf *out);

#endif
