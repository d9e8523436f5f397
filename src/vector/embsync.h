/*
 * vector/embsync.h - what an embedding pass leaves behind for the next one: the
 * version of the source table it had read all of, and the version of the embeddings
 * table it left (committed, or found current). The next pass of the same column, when
 * the embeddings table is at that version still, needs to look only at the rows the
 * source changed since: the keys its log's versions add or remove.
 *
 * It is a cache, like the vector index beside it, never the truth: one line of text
 * in <table>/_loch_index/, written whole, naming a hash of everything it depends on
 * (both tables' ids, the column, the key, the model) and the numbers it holds. A line
 * that does not parse, or whose hash or numbers are not those of the pass at hand, is
 * ignored: that pass compares every row, as a pass without one does.
 *
 *   loch-embed-sync 1 <64 hex> <embeddings version> <source version> <dim> <chunk size>
 */
#ifndef LOCH_VECTOR_EMBSYNC_H
#define LOCH_VECTOR_EMBSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    uint8_t what[32];    /* embsync_what of the tables, column, key and model */
    int64_t emb_version; /* the embeddings table's version the pass left */
    int64_t src_version; /* the source's version it had read every row of */
    int dim;
    size_t chunk_size;   /* 0: vector/chunk.h's */
} embsync;

/* The hash naming what a record is about: the embeddings table (its id and the time of
 * the version the pass left, so a record copied from a copy of the lake that went its
 * own way is not taken), the source, the column, key and model. */
int embsync_what(const char *emb_id, int64_t emb_time_ms, const char *src_id, const char *column, const char *key,
                  const char *model, uint8_t out[32]);
int embsync_render(const embsync *s, buf *out);
/* LOCH_ECORRUPT for anything but one line embsync_render could have written. */
int embsync_parse(const char *text, size_t len, embsync *out);

#endif
