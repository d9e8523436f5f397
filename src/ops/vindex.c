/*
 * ops/vindex.c - the vector index of an embedded column: an HNSW graph (vector/hnsw.h)
 * over one column's vectors of one model, kept as a file beside the table and used
 * by loch_search.
 *
 * Where: <table>/_loch_index/<16 hex of sha256(column, model)>.hnsw (and .fts, the
 * texts' full-text index, adapters/fts.h), in the source
 * table's directory, so DROP TABLE takes it along; Delta readers and VACUUM pass over
 * names starting with '_'. The file is a cache, never the truth: its fingerprint is a
 * hash of the embeddings table's id and version, the column, the model, the dimension
 * and the graph's options. A file whose fingerprint is not the current one is stale;
 * one that fails its checks is damaged; either is rebuilt from the embeddings table,
 * never trusted. It is written whole (the base) or, while the changes since stay
 * under a quarter of it, as a delta against the base (<16 hex>.hnswd: the nodes added,
 * the links they changed, the tombstones; vector/hnsw.h), so a pass that changed ten
 * rows writes kilobytes, not the graph again. Each is one atomic put, so a crash or a
 * racing writer leaves one complete file or the other, each right for the version it
 * names; a delta whose base was replaced is never applied (it names its base).
 *
 * A node is a chunk of a row (vector/chunk.h), named "<chunk>\x1f<key as text>" (the
 * file's extra bytes: u32 length, then the name, node after node). A refresh reads the column's rows at one version and compares
 * them with the old file's nodes by key and vector: an unchanged row keeps its node, a
 * changed or removed row's node is tombstoned, a new or changed row is added. When
 * tombstones pass a fifth of the nodes the graph is built again from the live rows.
 *
 * Codes: int8 traversal with an f32 rerank (the scores returned are exact cosines).
 * At most VINDEX_EXACT_BELOW live (or allowed) rows are scored exactly, so small
 * tables and selective filters get the exact answer; above it the graph answers.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/compute.h"
#include "adapters/fts.h"
#include "core/snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/misc.h"
#include "util/sha256.h"
#include "util/strmap.h"
#include "vector/hnsw.h"

#define VINDEX_EXACT_BELOW 10000
#define VINDEX_MAX_KEY (1u << 20)

struct vindex {
    char table[300], column[300], model[128], key[300];
    int dim;
    int64_t version;   /* of the embeddings table */
    uint8_t fp[32];
    hnsw *h;
    char **keys;       /* node -> key */
    uint64_t *texth;   /* node -> a hash of its text: a row whose text changed is a new node,
                          even when its vector did not (the model reads 256 tokens) */
    size_t nkeys, cap;
    strmap live;       /* key -> node, live nodes only; keys borrowed from keys[] */
    fts *ft;           /* the texts' full-text index, NULL when it is not current */
    /* when the graph is an older index's with nodes added: that index's fingerprint
     * and node count (its full-text index can be extended rather than made again) */
    int from_valid;
    uint8_t from_fp[32];
    size_t from_nodes;
    uint32_t *gone;    /* that index's nodes tombstoned since: their full-text rows go */
    size_t ngone;
};

static hnsw_options index_options(void)
{
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.metric = VEC_IP, o.codes = HNSW_I8, o.m = 16, o.ef_construction = 200;
    return o;
}

void vindex_free(vindex *v)
{
    if (!v)
        return;
    hnsw_free(v->h);
    fts_free(v->ft);
    for (size_t i = 0; i < v->nkeys; i++)
        free(v->keys[i]);
    free(v->keys);
    free(v->texth);
    free(v->gone);
    strmap_free(&v->live);
    free(v);
}

/* key[0..len) as a string of its own, or NULL with the error set */
static char *copy_key(const char *key, size_t len)
{
    char *k = malloc(len + 1);
    if (!k) {
        error_set(LOCH_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(k, key, len);
    k[len] = '\0';
    return k;
}

static int keys_push(vindex *v, const char *key, size_t len, uint64_t texth)
{
    if (v->nkeys == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        char **k = realloc(v->keys, cap * sizeof *k);
        if (k)
            v->keys = k;
        uint64_t *h = k ? realloc(v->texth, cap * sizeof *h) : NULL;
        if (!h)
            return error_set(LOCH_ENOMEM, "out of memory");
        v->texth = h, v->cap = cap;
    }
    char *k = copy_key(key, len);
    if (!k)
        return LOCH_ENOMEM;
    v->texth[v->nkeys] = texth;
    v->keys[v->nkeys++] = k;
    return 0;
}

static int fingerprint(const snapshot *emb, const char *column, const char *model, int dim, uint8_t out[32])
{
    sha256_ctx c;
    hnsw_options o = index_options();
    char num[128];
    if (sha256_init(&c) < 0)
        return LOCH_ENOMEM;
    sha256_update(&c, "loch vector index 3\n", 20); /* 2: nodes are chunks; 3: and their texts' hashes */
    sha256_update(&c, emb->metadata.id ? emb->metadata.id : "", strlen(emb->metadata.id ? emb->metadata.id : "") + 1);
    int n = snprintf(num, sizeof num, "%lld %d %u %u %u %u", (long long)emb->version, dim, (unsigned)o.metric,
                     (unsigned)o.codes, o.m, o.ef_construction);
    sha256_update(&c, num, (size_t)n + 1);
    sha256_update(&c, column, strlen(column) + 1);
    sha256_update(&c, model, strlen(model) + 1);
    return sha256_final(&c, out);
}

/* <table>/_loch_index/<16 hex>.<ext>: the column's files (hnsw: the graph; fts: the
 * full-text index of the same texts; sync: the last embedding pass's record) */
static int index_path(const char *table, const char *column, const char *model, const char *ext, buf *out)
{
    sha256_ctx c;
    char hex[65];
    if (sha256_init(&c) < 0)
        return LOCH_ENOMEM;
    sha256_update(&c, column, strlen(column) + 1);
    sha256_update(&c, model, strlen(model) + 1);
    if (sha256_hex(&c, hex) < 0)
        return LOCH_ENOMEM;
    buf_clear(out);
    return buf_printf(out, "%s/_loch_index/%.16s.%s", table, hex, ext);
}

/* The full-text index's tag: the fingerprint, and that its rows' ids are the graph's
 * nodes (a file of an older loch, whose ids were SQLite's own, is made again). */
static void fts_tag(const uint8_t fp[32], char out[80])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", fp[i]);
    strcat(out, "+node-ids");
}

/* "SELECT <chunk>\x1f<key>, <what> FROM <emb>@v<version> WHERE" the rows of v's column,
 * model and dimension with a vector: what both indexes are made of (a node is a row's
 * chunk). With texth, the name is followed by \x1e and the decimal hash of the text. */
static int rows_sql(const vindex *v, const char *emb, const char *what, int texth, buf *sql)
{
    buf name = BUF_INIT;
    int rc = buf_printf(&name, "%s@v%lld", emb, (long long)v->version);
    buf_puts(sql, "SELECT CAST(chunk AS VARCHAR) || chr(31) || CAST(");
    buf_put_sql_ident(sql, v->key);
    buf_printf(sql, " AS VARCHAR)%s, %s FROM ", texth ? " || chr(30) || CAST(hash(text) AS VARCHAR)" : "", what);
    buf_put_sql_ident(sql, name.data);
    buf_puts(sql, " WHERE \"column\" = ");
    buf_put_sql_str(sql, v->column);
    buf_puts(sql, " AND model = ");
    buf_put_sql_str(sql, v->model);
    rc = rc ? rc : buf_printf(sql, " AND dim = %d AND embedding IS NOT NULL", v->dim);
    buf_free(&name);
    return rc;
}

/* At most this many new nodes' texts are added to a copy of the full-text index; more
 * and it is made again from every row (the IN list would outgrow the copy's saving). */
#define FTS_EXTEND_MAX 5000

/* The column's texts at v's version into a new full-text index, built aside and moved
 * into place. When v's graph is the one the current full-text index was made for,
 * with nodes added (v->from) and extend set, the index is copied, its rows of the nodes
 * tombstoned since are deleted (so BM25's statistics are a rebuilt index's) and it is
 * given the new nodes' texts only. */
static int build_fts_once(loch_lake *lake, const char *emb, const char *path, vindex *v, int extend)
{
    buf sql = BUF_INIT, side = BUF_INIT, local = BUF_INIT, name = BUF_INIT, cur = BUF_INIT;
    compute_stream *cs = NULL;
    fts *f = NULL;
    char tag[80], from_tag[80];
    size_t rows = 0, node, from = 0;
    uint64_t *had = calloc(v->nkeys / 64 + 1, sizeof *had); /* the nodes given a row */
    fts_tag(v->fp, tag);
    int rc = had ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    const char *slash = strrchr(path, '/');
    rc = rc ? rc : buf_put(&side, path, (size_t)(slash - path));
    if (rc == 0) /* what killed builders left here (side files named by their pid) */
        intent_sweep_dir(lake, side.data);
    rc = rc ? rc : buf_putc(&side, '/');
    char uuid[37];
    uuid_v4(uuid); /* two workers of one server may build at once; a dead builder's file is
                      swept by its pid (ops/intent.c) */
    rc = rc ? rc : buf_printf(&side, ".tmp-%d-%s.fts", (int)getpid(), uuid);
    rc = rc ? rc : lake->st->engine_path(lake->st, side.data, &local);
    if (rc == 0 && extend && v->from_valid && v->nkeys - v->from_nodes + v->ngone <= FTS_EXTEND_MAX &&
        lake->st->engine_path(lake->st, path, &cur) == 0) {
        fts_tag(v->from_fp, from_tag);
        if (fts_extend(&f, cur.data, from_tag, local.data) == 0)
            from = v->from_nodes;
        error_clear(); /* missing, stale or damaged: made whole */
    }
    for (size_t i = 0; rc == 0 && from && i < v->ngone; i++)
        rc = fts_remove(f, v->gone[i]);
    rc = rc || f ? rc : fts_create(&f, local.data);
    rc = rc ? rc : rows_sql(v, emb, "text", 0, &sql);
    rc = rc ? rc : buf_puts(&sql, " AND text IS NOT NULL");
    if (rc == 0 && from) { /* the new nodes' rows only */
        buf_puts(&sql, " AND CAST(chunk AS VARCHAR) || chr(31) || CAST(");
        buf_put_sql_ident(&sql, v->key);
        buf_puts(&sql, " AS VARCHAR) IN (");
        for (size_t i = from, n = 0; i < v->nkeys; i++)
            if (!hnsw_is_deleted(v->h, (uint32_t)i)) {
                if (n++)
                    buf_putc(&sql, ',');
                buf_put_sql_str(&sql, v->keys[i]);
            }
        rc = buf_puts(&sql, sql.data[sql.len - 1] == '(' ? "NULL)" : ")");
    }
    if (rc == 0)
        lake_hold(lake, "fts-build");
    rc = rc ? rc : compute_stream_open(lake->cp, sql.data, NULL, 0, &cs);
    while (rc == 0 && (rc = compute_stream_next(cs, &rows)) == 0 && rows > 0)
        for (size_t i = 0; rc == 0 && i < rows; i++) {
            size_t kl = 0, tl = 0;
            const char *k = compute_stream_cell(cs, i, 0, &kl), *t = compute_stream_cell(cs, i, 1, &tl);
            /* a row is its node's, once: a row the graph has no node for (its vector was
             * not usable) is not one of this version's, as a repeated row is not */
            if (!k || !t || (buf_clear(&name), buf_put(&name, k, kl)) || !strmap_get(&v->live, name.data, &node) ||
                node < from || ((had[node / 64] >> (node % 64)) & 1))
                continue;
            had[node / 64] |= UINT64_C(1) << (node % 64);
            rc = fts_add(f, (int64_t)node, k, kl, t, tl);
        }
    compute_stream_free(cs);
    if (f) {
        int frc = rc ? (fts_free(f), 0) : fts_finish(f, tag);
        rc = rc ? rc : frc;
    }
    storage_entry at;
    if (rc == 0 && lake->st->head(lake->st, path, &at) == 0 && at.is_dir) /* not ours to keep: loch's own directory */
        lake->st->remove_tree(lake->st, path);
    if (rc == 0)
        error_clear();
    rc = rc ? rc : lake->st->move(lake->st, side.data, path);
    if (rc && local.len)
        remove(local.data);
    buf_free(&sql), buf_free(&side), buf_free(&local), buf_free(&name), buf_free(&cur);
    free(had);
    return rc;
}

/* build_fts_once, extending what it can; an extension that fails at any step (a copied
 * file whose pages or tables turn out wrong) is made again whole */
static int build_fts(loch_lake *lake, const char *emb, const char *path, vindex *v)
{
    int rc = build_fts_once(lake, emb, path, v, 1);
    if (rc && rc != LOCH_ENOMEM && v->from_valid) {
        error_clear();
        rc = build_fts_once(lake, emb, path, v, 0);
    }
    return rc;
}

/* v's full-text index, when the file at path (lake-relative) is current for v */
static int open_fts(loch_lake *lake, const char *path, vindex *v)
{
    buf local = BUF_INIT;
    char tag[80];
    fts_tag(v->fp, tag);
    int rc = lake->st->engine_path(lake->st, path, &local);
    rc = rc ? rc : fts_open(&v->ft, local.data, tag);
    buf_free(&local);
    return rc;
}

/* The keys saved after the graph, one per node (u32 length, then the key), then each
 * one's text hash (u64). */
static int keys_from_extra(vindex *v, const unsigned char *extra, size_t len, size_t nodes)
{
    size_t at = 0, first = v->nkeys;
    for (size_t i = 0; i < nodes; i++) {
        uint32_t kl;
        if (len - at < 4)
            return error_set(LOCH_ECORRUPT, "vector index: keys end at node %zu of %zu", i, nodes);
        memcpy(&kl, extra + at, 4);
        at += 4;
        if (kl > len - at || kl > VINDEX_MAX_KEY || memchr(extra + at, '\0', kl))
            return error_set(LOCH_ECORRUPT, "vector index: the key of node %zu runs past the file", i);
        int rc = keys_push(v, (const char *)extra + at, kl, 0);
        if (rc)
            return rc;
        at += kl;
    }
    if ((len - at) / 8 != nodes || (len - at) % 8)
        return error_set(LOCH_ECORRUPT, "vector index: %zu bytes of text hashes for %zu nodes", len - at, nodes);
    for (size_t i = 0; i < nodes; i++)
        memcpy(&v->texth[first + i], extra + at + 8 * i, 8);
    return 0;
}

static int live_map(vindex *v)
{
    strmap_free(&v->live);
    v->live = (strmap)STRMAP_INIT;
    for (size_t i = 0; i < v->nkeys; i++) {
        if (hnsw_is_deleted(v->h, (uint32_t)i))
            continue;
        int rc = strmap_put(&v->live, v->keys[i], i);
        if (rc)
            return rc;
    }
    return 0;
}

/* v's graph and keys, as the base file at local (path: its name in errors) holds them */
static int load_base(const char *local, const char *path, vindex *v)
{
    const void *extra = NULL;
    size_t extra_len = 0;
    int rc = hnsw_load_file(&v->h, local, NULL, &extra, &extra_len);
    hnsw_options want = index_options();
    const hnsw_options *has = rc == 0 ? hnsw_opts(v->h) : NULL;
    if (rc == 0 && (hnsw_dim(v->h) != (size_t)v->dim || has->metric != want.metric || has->codes != want.codes ||
                    has->m != want.m || has->ef_construction != want.ef_construction))
        rc = error_set(LOCH_ECORRUPT, "vector index %s: made with other options", path);
    return rc ? rc : keys_from_extra(v, extra, extra_len, hnsw_size(v->h));
}

static void unload(vindex *v)
{
    hnsw_free(v->h);
    v->h = NULL;
    for (size_t i = 0; i < v->nkeys; i++)
        free(v->keys[i]);
    free(v->keys), free(v->texth);
    v->keys = NULL, v->texth = NULL;
    v->nkeys = v->cap = 0;
}

/* The index at path (its base) and path + "d" (its delta, when there is one against
 * that base), checked. fp: the data it must index, else LOCH_ECONFLICT (stale); NULL:
 * whatever it indexes (a refresh's start, which compares every row anyway: the base
 * alone when the delta does not apply). */
static int map_file(loch_lake *lake, const char *path, const uint8_t *fp, vindex *v)
{
    buf local = BUF_INIT;
    int rc = lake->st->engine_path(lake->st, path, &local);
    rc = rc ? rc : load_base(local.data, path, v);
    if (rc == 0 && !(fp && memcmp(hnsw_base(v->h, NULL), fp, 32) == 0)) { /* the base alone is not it */
        const void *extra = NULL;
        size_t extra_len = 0, base = hnsw_size(v->h);
        rc = buf_putc(&local, 'd');
        int drc = rc ? rc : hnsw_load_delta_file(v->h, local.data, fp, &extra, &extra_len);
        drc = drc ? drc : keys_from_extra(v, extra, extra_len, hnsw_size(v->h) - base);
        if (drc && fp) /* stale, or a damaged delta: made again */
            rc = drc == LOCH_ENOTFOUND ? error_set(LOCH_ECONFLICT, "vector index %s: made from other data", path) : drc;
        else if (drc && hnsw_size(v->h) != base) { /* applied, but its keys are bad: the base alone */
            unload(v);
            local.data[--local.len] = '\0';
            rc = load_base(local.data, path, v);
        } else if (drc) {
            error_clear();
        }
    }
    /* a node's label is its number (build): a file that says otherwise would name rows
     * that are not its nodes' */
    for (size_t i = 0; rc == 0 && i < hnsw_size(v->h); i++)
        if (hnsw_label(v->h, (uint32_t)i) != i)
            rc = error_set(LOCH_ECORRUPT, "vector index %s: node %zu is labelled otherwise", path, i);
    rc = rc ? rc : live_map(v);
    buf_free(&local);
    return rc;
}

struct reader {
    vindex *old;       /* the stale index, or NULL */
    vindex *v;         /* the one being made */
    uint8_t *kept;     /* old nodes whose row is unchanged */
    float *add;        /* rows to add, and their keys and text hashes */
    char **add_keys;
    uint64_t *add_texth;
    size_t nadd, cap_add;
    int rc;
};

/* A row to add: the vector, a copy of the key and the text's hash. */
static int add_row(struct reader *r, const char *key, size_t len, uint64_t texth, const float *vec)
{
    size_t dim = (size_t)r->v->dim;
    if (r->nadd == r->cap_add) {
        size_t cap = r->cap_add ? r->cap_add * 2 : 1024;
        float *a = realloc(r->add, cap * dim * sizeof *a);
        if (a)
            r->add = a;
        char **ak = a ? realloc(r->add_keys, cap * sizeof *ak) : NULL;
        if (ak)
            r->add_keys = ak;
        uint64_t *ah = ak ? realloc(r->add_texth, cap * sizeof *ah) : NULL;
        if (!ah)
            return error_set(LOCH_ENOMEM, "out of memory for %zu vectors", cap);
        r->add_texth = ah, r->cap_add = cap;
    }
    char *k = copy_key(key, len);
    if (!k)
        return LOCH_ENOMEM;
    memcpy(r->add + r->nadd * dim, vec, dim * sizeof(float));
    r->add_texth[r->nadd] = texth;
    r->add_keys[r->nadd++] = k;
    return 0;
}

/* A chunk of the column's rows: those unchanged since the old index keep their node;
 * the others are collected to be added. */
static int read_rows(void *ctx, const char *const *keys, const size_t *lens, const float *vecs, size_t rows)
{
    struct reader *r = ctx;
    size_t dim = (size_t)r->v->dim;
    for (size_t i = 0; i < rows; i++) {
        if (!keys[i] || lens[i] > VINDEX_MAX_KEY || memchr(keys[i], '\0', lens[i]))
            continue; /* no key (or one loch cannot name): not searchable */
        char small[256], *k = lens[i] < sizeof small ? small : malloc(lens[i] + 1);
        if (!k)
            return error_set(LOCH_ENOMEM, "out of memory");
        memcpy(k, keys[i], lens[i]);
        k[lens[i]] = '\0';
        /* the name, then \x1e and the text's hash (rows_sql): the last \x1e is ours */
        char *sep = strrchr(k, 0x1e);
        uint64_t texth = sep ? strtoull(sep + 1, NULL, 10) : 0;
        size_t node, len = sep ? (size_t)(sep - k) : lens[i];
        if (sep)
            *sep = '\0';
        int rc = 0;
        if (r->old && strmap_get(&r->old->live, k, &node) && !r->kept[node] && r->old->texth[node] == texth &&
            memcmp(hnsw_vector(r->old->h, (uint32_t)node), vecs + i * dim, dim * sizeof(float)) == 0)
            r->kept[node] = 1;
        else
            rc = add_row(r, k, len, texth, vecs + i * dim);
        if (k != small)
            free(k);
        if (rc)
            return rc;
    }
    return 0;
}

/* Makes v (its table, column, model, dim, version and fp set) from the rows of the
 * embeddings at that version, reusing old's graph when it is worth it. */
static int build(loch_lake *lake, const char *emb, vindex *old, vindex *v)
{
    struct reader r = {.old = old, .v = v};
    buf sql = BUF_INIT;
    uint64_t *labels = NULL;
    int rc = 0;
    if (old && !(r.kept = calloc(hnsw_size(old->h) + 1, 1)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : rows_sql(v, emb, "embedding", 1, &sql);
    rc = rc ? rc : compute_query_vectors(lake->cp, sql.data, (size_t)v->dim, read_rows, &r);
    size_t kept = 0;
    for (size_t i = 0; old && i < hnsw_size(old->h); i++)
        kept += r.kept[i];
    /* reuse the old graph while its tombstones (old ones, and those of rows changed or
     * gone now) stay under a fifth of its nodes after the adds */
    size_t dead_after = old ? hnsw_size(old->h) - kept : 0;
    int reuse = rc == 0 && old && dead_after * 5 <= hnsw_size(old->h) + r.nadd;
    if (rc == 0 && reuse && !(v->gone = malloc((dead_after + 1) * sizeof *v->gone)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && reuse) {
        for (size_t i = 0; i < hnsw_size(old->h); i++)
            if (!r.kept[i] && !hnsw_is_deleted(old->h, (uint32_t)i)) {
                hnsw_delete(old->h, (uint32_t)i);
                v->gone[v->ngone++] = (uint32_t)i;
            }
        const uint8_t *was = hnsw_fingerprint(old->h);
        if ((v->from_valid = was != NULL))
            memcpy(v->from_fp, was, 32), v->from_nodes = old->nkeys;
        v->h = old->h, old->h = NULL;
        v->keys = old->keys, v->texth = old->texth, v->nkeys = old->nkeys, v->cap = old->cap;
        old->keys = NULL, old->texth = NULL, old->nkeys = old->cap = 0;
    } else if (rc == 0) {
        /* from scratch: the kept rows of the old index come along as rows to add */
        hnsw_options o = index_options();
        rc = hnsw_new(&v->h, (size_t)v->dim, &o);
        for (size_t i = 0; rc == 0 && old && i < hnsw_size(old->h); i++) {
            if (r.kept[i])
                rc = add_row(&r, old->keys[i], strlen(old->keys[i]), old->texth[i], hnsw_vector(old->h, (uint32_t)i));
        }
    }
    if (rc == 0 && r.nadd && !(labels = malloc(r.nadd * sizeof *labels)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < r.nadd; i++) {
        labels[i] = hnsw_size(v->h) + i;
        rc = keys_push(v, r.add_keys[i], strlen(r.add_keys[i]), r.add_texth[i]);
    }
    rc = rc ? rc : hnsw_add(v->h, r.add, labels, r.nadd);
    rc = rc ? rc : live_map(v);
    for (size_t i = 0; i < r.nadd; i++)
        free(r.add_keys[i]);
    free(r.add_keys), free(r.add_texth), free(r.add), free(r.kept), free(labels);
    buf_free(&sql);
    return rc;
}

/* The keys of nodes from.. into out (replacing what it held): u32 length, then the key;
 * then their text hashes. */
static int put_keys(const vindex *v, size_t from, buf *out)
{
    int rc = 0;
    buf_clear(out);
    for (size_t i = from; rc == 0 && i < v->nkeys; i++) {
        uint32_t kl = (uint32_t)strlen(v->keys[i]);
        rc = buf_put(out, &kl, 4);
        rc = rc ? rc : buf_put(out, v->keys[i], kl);
    }
    for (size_t i = from; rc == 0 && i < v->nkeys; i++)
        rc = buf_put(out, &v->texth[i], 8);
    return rc;
}

/* v's graph to path: a delta against the base file (path + "d", replacing the last
 * one) while it stays under a quarter of the graph, else the whole graph, which
 * becomes the base. Either is one atomic put: a crash leaves the old file or the new. */
static int save(loch_lake *lake, const char *path, vindex *v)
{
    buf extra = BUF_INIT, file = BUF_INIT, dir = BUF_INIT, dpath = BUF_INIT;
    size_t base = 0;
    int delta = hnsw_base(v->h, &base) != NULL && base > 0;
    int rc = put_keys(v, delta ? base : 0, &extra);
    delta = delta && hnsw_delta_size(v->h, extra.len) <= hnsw_memory(v->h) / 4;
    if (rc == 0 && !delta && base > 0) /* whole after all: every key */
        rc = put_keys(v, 0, &extra);
    rc = rc ? rc : buf_printf(&dpath, "%sd", path);
    if (rc == 0 && delta) {
        rc = hnsw_save_delta(v->h, v->fp, extra.data, extra.len, &file);
        rc = rc ? rc : lake->st->put(lake->st, dpath.data, file.data, file.len);
    } else if (rc == 0) {
        rc = hnsw_save(v->h, v->fp, extra.data, extra.len, &file);
        rc = rc ? rc : buf_put(&dir, path, (size_t)(strrchr(path, '/') - path));
        rc = rc ? rc : lake->st->mkdirs(lake->st, dir.data);
        rc = rc ? rc : lake->st->put(lake->st, path, file.data, file.len);
        if (rc == 0) {
            hnsw_rebase(v->h, v->fp);
            lake->st->remove(lake->st, dpath.data); /* against the old base: never applied again */
            error_clear();
        }
    }
    buf_free(&extra), buf_free(&file), buf_free(&dir), buf_free(&dpath);
    return rc;
}

int vindex_get(loch_lake *lake, const char *table, const char *emb, const snapshot *emb_snap, const char *column,
               const char *key, const char *model, int dim, int refresh, vindex **out)
{
    buf path = BUF_INIT;
    vindex *v = calloc(1, sizeof *v), *old = NULL;
    *out = NULL;
    int rc = v ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0) {
        snprintf(v->table, sizeof v->table, "%s", table);
        snprintf(v->column, sizeof v->column, "%s", column);
        snprintf(v->model, sizeof v->model, "%s", model);
        snprintf(v->key, sizeof v->key, "%s", key);
        v->dim = dim;
        v->version = emb_snap->version;
        rc = fingerprint(emb_snap, column, model, dim, v->fp);
        rc = rc ? rc : index_path(table, column, model, "hnsw", &path);
    }
    if (rc == 0 && map_file(lake, path.data, v->fp, v) == 0) { /* fresh */
        buf fp = BUF_INIT;
        if (index_path(table, column, model, "fts", &fp) == 0 && open_fts(lake, fp.data, v) != 0)
            v->ft = NULL;
        if (v->ft && refresh == 2) { /* made again: its pages are not checksummed as the graph's are */
            fts_free(v->ft);
            v->ft = NULL;
        }
        if (!v->ft && refresh && (build_fts(lake, emb, fp.data, v) < 0 || open_fts(lake, fp.data, v) < 0)) {
            v->ft = NULL;
            lake_warn(lake, "the full-text index of %s.%s was not made (%s): keyword and hybrid searches try again",
                      table, column, loch_error_last());
        }
        buf_free(&fp);
        error_clear();
        goto done;
    }
    if (rc == 0 && v) { /* missing, stale or damaged */
        unload(v);
        strmap_free(&v->live);
        v->live = (strmap)STRMAP_INIT;
        if (!refresh) {
            rc = error_set(LOCH_ENOTFOUND, "no fresh vector index for %s.%s", table, column);
            goto done;
        }
    }
    if (rc == 0 && (old = calloc(1, sizeof *old))) {
        old->dim = dim;
        if (map_file(lake, path.data, NULL, old) != 0) { /* none to start from: build whole */
            vindex_free(old);
            old = NULL;
        }
    }
    if (rc == 0)
        error_clear(); /* a missing or damaged old file is no error: built whole */
    rc = rc ? rc : build(lake, emb, old, v);
    /* a table dropped meanwhile gets no index (it would keep the dropped rows' texts) */
    if (rc == 0 && !txlog_exists(lake, table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped", table);
    rc = rc ? rc : save(lake, path.data, v);
    if (rc == 0) { /* and the texts' full-text index, for the same version */
        buf fp = BUF_INIT;
        rc = index_path(table, column, model, "fts", &fp);
        rc = rc ? rc : build_fts(lake, emb, fp.data, v);
        rc = rc ? rc : open_fts(lake, fp.data, v);
        if (!txlog_exists(lake, table)) { /* dropped while we wrote: nothing of it stays */
            buf dir = BUF_INIT;
            if (buf_put(&dir, path.data, (size_t)(strrchr(path.data, '/') - path.data)) == 0)
                lake->st->remove_tree(lake->st, dir.data);
            buf_free(&dir);
            rc = rc ? rc : error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped", table);
        }
        buf_free(&fp);
    }
done:
    vindex_free(old);
    buf_free(&path);
    if (rc)
        vindex_free(v);
    else
        *out = v;
    return rc;
}

int vindex_fits(const vindex *v, const char *table, const char *column, const char *model, int dim,
                const snapshot *emb_snap)
{
    uint8_t fp[32];
    if (!v || strcmp(v->table, table) || strcmp(v->column, column) || strcmp(v->model, model) || v->dim != dim)
        return 0;
    if (fingerprint(emb_snap, column, model, dim, fp) < 0) {
        error_clear();
        return 0; /* not known to fit: rebuilt */
    }
    return memcmp(fp, v->fp, 32) == 0;
}

/* ---- what an embedding pass leaves (vector/embsync.h) ------------------------------ */

#define SYNC_MAX 4096 /* a record is one short line: anything larger is not one */

int vindex_sync_read(loch_lake *lake, const char *table, const char *column, const char *model, embsync *out)
{
    buf path = BUF_INIT, text = BUF_INIT;
    storage_entry e;
    memset(out, 0, sizeof *out);
    int rc = index_path(table, column, model, "sync", &path);
    rc = rc ? rc : lake->st->head(lake->st, path.data, &e);
    if (rc == 0 && e.size > SYNC_MAX)
        rc = error_set(LOCH_ECORRUPT, "%s: not an embedding pass's record (%lld bytes)", path.data, (long long)e.size);
    rc = rc ? rc : lake->st->get(lake->st, path.data, &text);
    rc = rc ? rc : embsync_parse(text.data ? text.data : "", text.len, out);
    buf_free(&path), buf_free(&text);
    return rc;
}

int vindex_sync_write(loch_lake *lake, const char *table, const char *column, const char *model, const embsync *s)
{
    buf path = BUF_INIT, text = BUF_INIT, dir = BUF_INIT;
    int rc = index_path(table, column, model, "sync", &path);
    rc = rc ? rc : embsync_render(s, &text);
    rc = rc ? rc : buf_put(&dir, path.data, (size_t)(strrchr(path.data, '/') - path.data));
    rc = rc ? rc : lake->st->mkdirs(lake->st, dir.data);
    rc = rc ? rc : lake->st->put(lake->st, path.data, text.data, text.len);
    buf_free(&path), buf_free(&text), buf_free(&dir);
    return rc;
}

void vindex_sync_forget(loch_lake *lake, const char *table, const char *column, const char *model)
{
    buf path = BUF_INIT;
    if (index_path(table, column, model, "sync", &path) == 0) {
        lake->st->remove(lake->st, path.data);
        if (!txlog_exists(lake, table)) { /* dropped: nothing of it stays (its directory, if empty) */
            path.data[path.len = (size_t)(strrchr(path.data, '/') - path.data)] = '\0';
            lake->st->remove_tree(lake->st, path.data);
            lake->st->remove_dir(lake->st, table);
        }
    }
    buf_free(&path);
    error_clear();
}

const char *vindex_table(const vindex *v) { return v->table; }
const char *vindex_column(const vindex *v) { return v->column; }
const char *vindex_keycol(const vindex *v) { return v->key; }
const char *vindex_key(const vindex *v, size_t node, int *chunk)
{
    const char *k = node < v->nkeys ? v->keys[node] : NULL, *sep = k ? strchr(k, 0x1f) : NULL;
    *chunk = sep ? atoi(k) : 0;
    return sep ? sep + 1 : k;
}
size_t vindex_nodes(const vindex *v) { return v->nkeys; }
int vindex_dim(const vindex *v) { return v->dim; }
size_t vindex_live(const vindex *v) { return hnsw_size(v->h) - hnsw_deleted(v->h); }
int64_t vindex_version(const vindex *v) { return v->version; }

int vindex_allow_key(const vindex *v, const char *key, uint64_t *allow)
{
    buf id = BUF_INIT;
    size_t node;
    int n = 0;
    /* every chunk of the row: they are numbered from 0 without gaps */
    for (int chunk = 0; buf_clear(&id), buf_printf(&id, "%d\x1f%s", chunk, key) == 0; chunk++) {
        if (!strmap_get(&v->live, id.data, &node))
            break;
        allow[node / 64] |= UINT64_C(1) << (node % 64);
        n++;
    }
    buf_free(&id);
    return n;
}

long vindex_search(vindex *v, const float *q, size_t k, const uint64_t *allow, size_t allowed, hnsw_hit *out,
                   int *exact)
{
    size_t live = hnsw_size(v->h) - hnsw_deleted(v->h);
    size_t ef = 2 * k > 96 ? 2 * k : 96;
    /* a filter passing a fraction s of the rows: the beam widens as 1/s, so it meets
     * as many passing rows as it would unfiltered */
    if (allow && allowed && allowed < live)
        ef = ef * live / allowed > 4096 ? 4096 : ef * live / allowed;
    /* $LOCH_VINDEX_EXACT_BELOW moves the line between exact scoring and the graph (0:
     * always the graph, as tests of the graph on small tables need) */
    const char *env = getenv("LOCH_VINDEX_EXACT_BELOW");
    size_t exact_below = env && *env ? (size_t)strtoull(env, NULL, 10) : VINDEX_EXACT_BELOW;
    hnsw_query qr = {k, ef, allow, exact_below};
    *exact = hnsw_exact_for(v->h, &qr);
    return hnsw_search(v->h, q, &qr, out);
}

int vindex_has_text(const vindex *v) { return v->ft != NULL; }

int vindex_text_remake(loch_lake *lake, vindex *v, const char *emb)
{
    buf fp = BUF_INIT;
    fts_free(v->ft);
    v->ft = NULL;
    int rc = index_path(v->table, v->column, v->model, "fts", &fp);
    if (rc == 0 && !txlog_exists(lake, v->table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped", v->table);
    rc = rc ? rc : build_fts(lake, emb, fp.data, v);
    rc = rc ? rc : open_fts(lake, fp.data, v);
    buf_free(&fp);
    return rc;
}

int vindex_text(const vindex *v, size_t node, buf *out)
{
    buf_clear(out);
    if (!v->ft || node >= v->nkeys)
        return error_set(LOCH_ENOTFOUND, "no text of node %zu of %s.%s", node, v->table, v->column);
    return fts_text(v->ft, (int64_t)node, v->keys[node], out);
}

struct text_hits {
    const vindex *v;
    const uint64_t *allow;
    hnsw_hit *out;
    size_t k, got;
};

static int text_hit(void *ctx, int64_t id, const char *key, double score)
{
    struct text_hits *t = ctx;
    /* rows are numbered by node: a row of a node gone since (a row changed or deleted
     * after the index was made, which an extended index keeps), or one numbered
     * otherwise (a file not loch's), is not this version's */
    if (id < 0 || (uint64_t)id >= t->v->nkeys || hnsw_is_deleted(t->v->h, (uint32_t)id) ||
        strcmp(t->v->keys[id], key) != 0)
        return 0;
    size_t node = (size_t)id;
    if (t->allow && !((t->allow[node / 64] >> (node % 64)) & 1))
        return 0;
    t->out[t->got++] = (hnsw_hit){node, (float)score};
    return t->got == t->k;
}

long vindex_text_search(vindex *v, const char *query, size_t k, const uint64_t *allow, hnsw_hit *out,
                        int (*stop)(void *), void *stop_ctx)
{
    struct text_hits t = {v, allow, out, k, 0};
    if (!v->ft) {
        error_set(LOCH_ENOTFOUND, "no full-text index of %s.%s", v->table, v->column);
        return -1;
    }
    if (k == 0)
        return 0;
    int rc = fts_search(v->ft, query, text_hit, &t, stop, stop_ctx);
    return rc ? -1 : (long)t.got;
}
