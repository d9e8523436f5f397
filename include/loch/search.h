/*
 * loch/search.h - search by meaning. A text column's embeddings are kept as a Delta
 * table beside its table (<table>__embeddings, readable by any Delta reader: the
 * source's key, the column's name, a chunk number, the text, the vector as FLOAT[],
 * the model's name and dimension, the source version they were made from), and a
 * search ranks them by cosine to the question's own embedding.
 *
 *   loch_embed_column(&r, lake, "candidates", "resume", NULL);
 *   loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
 *   o.k = 10;
 *   o.where = "city = 'Chicago'";
 *   loch_search(&r, lake, "candidates", "someone who could handle our Kubernetes migration", &o);
 *
 * Embedding again is incremental and idempotent: a row whose text is already embedded
 * (same key, same text, same model) keeps its vector; new and changed texts are
 * embedded; rows gone from the table leave the embeddings. The model is the lake's
 * (loch_lake_options.embed_model; all-MiniLM-L6-v2 by default), run in-process.
 */
#ifndef LOCH_SEARCH_H
#define LOCH_SEARCH_H

#include "loch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Embeds table.column: a vector per chunk of each row's text that is not NULL (a text
 * of up to 800 bytes is one chunk; a longer one is cut into passages the model reads
 * whole; loch_embed_chunk_size sets another size). key names the column that identifies
 * a row (NULL: the table's primary key).
 * The column's vector and full-text indexes are brought up to date after the commit.
 * The result's message says how many texts (chunks) were embedded and kept. */
LOCH_EXTERN int loch_embed_column(loch_result **out, loch_lake *lake, const char *table, const char *column,
                                  const char *key);

/* Keeps table.column embedded (on = 1) or stops (on = 0): every later write of the
 * table (an ingest, INSERT/UPDATE/DELETE/MERGE, a flush of its write-ahead log) embeds
 * what changed before the call that wrote returns, as loch_embed_column does; when it
 * cannot (no model), the write stands and a warning says so. The columns are the table
 * property loch.embed.columns (comma-separated), the key loch.embed.key: a metadata
 * commit that Delta's other readers ignore. It does not embed now: call
 * loch_embed_column for what the table holds already. */
LOCH_EXTERN int loch_embed_auto(loch_lake *lake, const char *table, const char *column, const char *key, int on);

/* The longest chunk of table's embedded texts, in bytes: 64 to 65536, or 0 for the
 * default, 800 (about 200 tokens of English, under all-MiniLM-L6-v2's window of 256; a
 * model with a longer window can take longer chunks, and past its window a chunk's rest
 * is not read). Chunks overlap by a fifth of the size. The table property
 * loch.embed.chunkSize, a metadata commit (none when the size is already this one); the
 * next embedding of any of the table's columns cuts its texts anew, and embeds again
 * only the chunks that came out different. */
LOCH_EXTERN int loch_embed_chunk_size(loch_lake *lake, const char *table, size_t bytes);

typedef struct {
    unsigned int version;    /* LOCH_SEARCH_OPTIONS_VERSION */
    int k;                   /* rows to return (default 10) */
    const char *column;      /* the embedded column (NULL: the only one the table has) */
    const char *where;       /* a SQL condition on the table's rows, or NULL */
    /* version 2: */
    const char *mode;        /* "semantic" (NULL: the default), "keyword" (BM25 over the words
                                of the query) or "hybrid" (both, fused by reciprocal rank) */
} loch_search_options;

#define LOCH_SEARCH_OPTIONS_VERSION 2
#define LOCH_SEARCH_OPTIONS_INIT {LOCH_SEARCH_OPTIONS_VERSION, 10, NULL, NULL, NULL}

/* The k rows nearest in meaning to query (or best by its words, or both): the key, the
 * chunk, the score (semantic: the cosine, 1 is the same meaning; keyword: BM25; hybrid: the sum of
 * 1 / (60 + rank) over the two rankings), the text; best first. The result's message
 * says how it was searched. */
LOCH_EXTERN int loch_search(loch_result **out, loch_lake *lake, const char *table, const char *query,
                            const loch_search_options *opts);

#ifdef __cplusplus
}
#endif

#endif
