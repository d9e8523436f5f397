/*
 * vector/hnsw.h - an HNSW graph (Malkov & Yashunin, arXiv 1603.09320): approximate
 * nearest neighbours in a few hundred distance computations instead of n.
 *
 * Nodes are numbered 0, 1, 2, ... in the order they are added; each carries the
 * caller's 64-bit label (loch uses the row's place in the embeddings table). A node
 * has a level drawn as floor(-ln U / ln m); level 0 links every node to at most 2m
 * others, each level above to at most m. Links are chosen by the paper's heuristic
 * (keep a candidate only if it is nearer to the new node than to every neighbour kept
 * so far), which keeps the graph navigable through clusters.
 *
 * Memory layout, which is most of the speed: level 0 is one 64-byte-aligned block of
 * fixed-size records, [vector or codes | count | 2m links], so expanding a node reads
 * one contiguous stretch, and a search prefetches every unvisited neighbour's record
 * before computing any distance (the reads overlap instead of queueing). Levels above
 * 0 hold few nodes and live in small per-node arrays.
 *
 * Codes: HNSW_F32 traverses the vectors themselves. HNSW_I8 traverses int8 codes (a
 * quarter of the bytes, vector/distance.h) and reranks the final ef candidates with
 * the f32 originals, kept beside the graph, so returned distances are exact.
 *
 * Deletes are tombstones: a deleted node still routes searches but is never returned;
 * a caller rebuilds when too many pile up. Filters are a bitmap over nodes: a search
 * only returns nodes whose bit is set. When few bits are set the graph is the wrong
 * tool (most neighbours fail the filter), so below hnsw_search's exact_below count
 * the allowed nodes are scored exactly instead.
 *
 * Threads: any number of concurrent hnsw_search calls, or one hnsw_add / hnsw_delete
 * at a time with no search running (the caller's lock). Every allocation is checked;
 * a file loaded by hnsw_load is validated link by link before it is searched.
 */
#ifndef LOCH_VECTOR_HNSW_H
#define LOCH_VECTOR_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "vector/distance.h"

typedef struct hnsw hnsw;

typedef enum { HNSW_F32 = 0, HNSW_I8 = 1 } hnsw_codes;

typedef struct {
    vec_metric metric;
    hnsw_codes codes;
    unsigned m;               /* links per node on levels above 0; 2m on level 0 */
    unsigned ef_construction; /* candidates considered when linking a new node */
    uint64_t seed;            /* levels are drawn from it: the same adds give the same graph */
} hnsw_options;

#define HNSW_OPTIONS_INIT {VEC_IP, HNSW_F32, 16, 200, 0x10c4}

/* Limits that keep every size computation in range and every int8 sum exact. */
#define HNSW_MAX_DIM 16384
#define HNSW_MAX_M 128
#define HNSW_MAX_NODES (UINT32_C(1) << 30)
#define HNSW_MAX_EXTRA (UINT64_C(1) << 30) /* the caller's bytes after a saved index */
#define HNSW_MAX_EXTRA_NODE ((UINT64_C(1) << 20) + 16) /* after a delta: per node it adds */

typedef struct {
    uint64_t label;
    float dist; /* exact (f32), smaller is nearer */
} hnsw_hit;

/* An empty index of dim-dimensional vectors. LOCH_EINVALID for options out of range. */
int hnsw_new(hnsw **out, size_t dim, const hnsw_options *o);
void hnsw_free(hnsw *h);

/*
 * Adds n vectors (row-major) with their labels as nodes size()..size()+n-1. With
 * HNSW_I8, the first add fixes the quantizer from its vectors (vec_quant_fit); later
 * vectors outside that range are clamped in their codes, not in their reranked
 * distance. LOCH_ENOMEM / LOCH_EINVALID leave the index as it was before the failing
 * vector (the earlier ones of the batch stay added).
 */
int hnsw_add(hnsw *h, const float *vectors, const uint64_t *labels, size_t n);
/* Tombstones node id. LOCH_EINVALID for an id out of range. */
int hnsw_delete(hnsw *h, uint32_t id);

size_t hnsw_size(const hnsw *h);    /* nodes, deleted ones included */
size_t hnsw_deleted(const hnsw *h); /* tombstoned nodes */
size_t hnsw_dim(const hnsw *h);
int hnsw_is_deleted(const hnsw *h, uint32_t id); /* 0 also for an id out of range */
/* Node id's label (0 for an id out of range). */
uint64_t hnsw_label(const hnsw *h, uint32_t id);
/* Node id's f32 vector (the original, for HNSW_I8), or NULL for an id out of range. */
const float *hnsw_vector(const hnsw *h, uint32_t id);
const hnsw_options *hnsw_opts(const hnsw *h);

typedef struct {
    size_t k;               /* hits wanted */
    size_t ef;              /* candidates kept while searching level 0; raised to k */
    const uint64_t *allow;  /* a bitmap over node ids (bit id % 64 of word id / 64), or NULL */
    size_t exact_below;     /* when at most this many nodes are live (and allowed), all are scored exactly */
} hnsw_query;

/*
 * The min(k, live allowed nodes) nearest nodes to q into out (k entries), nearest
 * first, equal distances by lower node id. Returns their count, or -1 with the error set
 * (LOCH_ENOMEM).
 */
long hnsw_search(hnsw *h, const float *q, const hnsw_query *qr, hnsw_hit *out);
/* Whether hnsw_search scores every live (allowed) node for qr instead of walking the graph. */
int hnsw_exact_for(const hnsw *h, const hnsw_query *qr);

/* The memory the index holds, in bytes (graph, vectors, codes, originals). */
size_t hnsw_memory(const hnsw *h);

/*
 * Files. hnsw_save appends the whole index to out: a 128-byte header (magic
 * "LOCHHNSW", format version, options, the caller's 32-byte fingerprint of the data
 * indexed, CRC-32C of header and body), then 64-byte-aligned sections, then the
 * caller's extra bytes (loch keeps the rows' keys there). The caller writes it
 * atomically (storage put).
 *
 * hnsw_load_file reads a saved file and checks it before anything trusts it: its
 * length against its header (before reading it), the checksums, then every size,
 * level and link (so even a file with a valid checksum cannot make a search read out
 * of bounds). It is read, not mapped: a file written over in place would change under
 * a mapping after its checks. Only a regular file is opened (never blocking on a FIFO).
 * A missing file is LOCH_ENOTFOUND, a damaged one LOCH_ECORRUPT, one whose fingerprint
 * differs (the data changed since) LOCH_ECONFLICT. *extra points into the loaded
 * bytes, valid until the index changes (an add, a delta applied) or is freed. The
 * loaded file is the index's base (below).
 */
int hnsw_save(const hnsw *h, const uint8_t fingerprint[32], const void *extra, size_t extra_len, buf *out);
int hnsw_load_file(hnsw **out, const char *path, const uint8_t fingerprint[32], const void **extra, size_t *extra_len);
/* The same checks over bytes in memory (64-byte aligned, kept until hnsw_free), with or
 * without the checksums: the fuzz target's way past them to the structure. */
int hnsw_load_bytes(hnsw **out, void *data, size_t len, int check_crc);

/*
 * Deltas: saving what changed instead of the whole index. The base is the index as
 * last saved whole (the caller calls hnsw_rebase once that file is in place) or
 * loaded. A delta holds the nodes added since, the links of base nodes that those
 * additions changed, and every tombstone: one new row in a million-node index is a
 * few kilobytes, not the whole file again. Deltas are cumulative (each is against the
 * base, not the last delta), so a reader needs the base and one delta, and a writer
 * replaces the delta atomically; the caller saves whole again when the delta grows
 * past a fraction of the base (hnsw_delta_size).
 *
 * hnsw_apply_delta applies a delta to an index just loaded from its base (nothing
 * added since): LOCH_ECONFLICT when the delta is against another base (its base
 * fingerprint or node count differ) or, fingerprint given, made from other data;
 * LOCH_ECORRUPT when damaged. Every count and link is checked before anything
 * changes, so a bad delta leaves the index as its base. *extra points into the
 * delta's bytes (data, which the caller keeps; hnsw_load_delta_file keeps the file's
 * until hnsw_free).
 */
void hnsw_rebase(hnsw *h, const uint8_t fingerprint[32]);
/* The base's fingerprint and node count, or NULL when there is none (a new index). */
const uint8_t *hnsw_base(const hnsw *h, size_t *nodes);
/* The fingerprint of the data the index was last loaded (base, or base and delta) or
 * rebased for, whatever was added since; NULL for a new index. */
const uint8_t *hnsw_fingerprint(const hnsw *h);
/* The bytes hnsw_save_delta would write; SIZE_MAX when there is no base. */
size_t hnsw_delta_size(const hnsw *h, size_t extra_len);
int hnsw_save_delta(const hnsw *h, const uint8_t fingerprint[32], const void *extra, size_t extra_len, buf *out);
int hnsw_apply_delta(hnsw *h, void *data, size_t len, const uint8_t fingerprint[32], const void **extra,
                     size_t *extra_len, int check_crc);
int hnsw_load_delta_file(hnsw *h, const char *path, const uint8_t fingerprint[32], const void **extra,
                         size_t *extra_len);

#endif
