/*
 * vector/hnsw.c - the HNSW graph of vector/hnsw.h: insertion, search, tombstones.
 *
 * Insertion follows the paper (algorithms 1, 2 and 4): greedy descent from the entry
 * point through the levels above the new node's, then on each of its levels a beam
 * search of width ef_construction whose results the neighbour heuristic thins to m;
 * every chosen neighbour links back, and a neighbour whose list is full re-chooses
 * its list with the same heuristic. Search is the same beam on level 0 with width ef.
 *
 * "Visited" is a u16 tag per node: a search bumps the current tag instead of clearing
 * the array, and clears it only when the tag wraps (once in 65,535 searches). Tag
 * arrays are pooled so concurrent searches never share one.
 *
 * Distances are "smaller is nearer" everywhere; for HNSW_I8 the graph is built and
 * traversed on codes (their distance, scaled, is in the same units as the f32 one)
 * and only the final candidates are rescored from the f32 originals.
 */
#include "vector/hnsw.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/error.h"

#define POOL 16 /* tag arrays kept for reuse: more than the searches that run at once */

typedef struct {
    float d;
    uint32_t id;
} cand;

typedef struct {
    uint16_t *tag;
    size_t cap;
    uint16_t cur;
} visited;

/* a growable array used as a binary heap (min or max by d) or a plain list */
typedef struct {
    cand *a;
    size_t n, cap;
} cands;

struct hnsw {
    size_t dim;
    hnsw_options o;
    unsigned m0;          /* level-0 links: 2m */
    size_t vec_bytes;     /* the vector or codes, padded to 64 */
    size_t rec_size;      /* vec_bytes + links, padded to 64 */
    size_t n, cap;        /* nodes, nodes allocated */
    unsigned char *level0;
    uint8_t *levels;      /* each node's top level */
    uint32_t **upper;     /* levels 1..top: top * (1 + m) u32s; NULL at level 0 */
    uint64_t *labels;
    uint64_t *dead;       /* tombstones, a bitmap */
    size_t n_dead;
    float *orig;          /* HNSW_I8: the f32 vectors, cap * dim */
    vec_quant qz;
    int have_qz;
    uint32_t entry;
    int top;              /* the entry point's level; -1 when empty */
    double mult;          /* 1 / ln m */
    uint64_t rng;
    vec_kernel k;
    size_t code_bytes;    /* dim * 4 or dim */
    size_t sums_at;       /* HNSW_I8: int32 sum and sum of squares of the codes, here */
    pthread_mutex_t pool_lock;
    visited *pool[POOL];
    int pooled;
    void *file;           /* a loaded index file (hnsw_load_file); level0 and orig may point into it */
    int borrowed;         /* level0 and orig are the mapping's, not malloc's */
    /* the base: the index as last saved whole (or loaded), which a delta is against */
    uint8_t fp[32];       /* its fingerprint */
    uint8_t data_fp[32];  /* the fingerprint of what was last loaded or saved: the base's, or a delta's */
    int has_base;
    size_t base_n;        /* its nodes */
    uint64_t *dirty;      /* base nodes whose links changed since, a bitmap of base_n bits */
    size_t n_dirty;
    void *delta_file;     /* a loaded delta's bytes (its extra points into them) */
};

/* --- small pieces --- */

static uint64_t next_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pad64(size_t x) { return (x + 63) & ~(size_t)63; }

static inline unsigned char *rec(const hnsw *h, uint32_t id) { return h->level0 + (size_t)id * h->rec_size; }
/* level 0: [count][m0 ids]; above: [count][m ids] */
static inline uint32_t *links(const hnsw *h, uint32_t id, int level)
{
    if (level == 0)
        return (uint32_t *)(void *)(rec(h, id) + h->vec_bytes);
    return h->upper[id] + (size_t)(level - 1) * (1 + h->o.m);
}
static inline unsigned max_links(const hnsw *h, int level) { return level == 0 ? h->m0 : h->o.m; }
static inline int is_dead(const hnsw *h, uint32_t id) { return (int)(h->dead[id >> 6] >> (id & 63)) & 1; }
static inline int allowed(const uint64_t *allow, uint32_t id) { return !allow || ((allow[id >> 6] >> (id & 63)) & 1); }

/* The distance of q to node id; q is encoded as a node's vector is (encode()), so a
 * node's own record serves as a query while building. For codes, sum a*b comes from the
 * biased kernel and the sums kept beside each code; |a-b|^2 = |a|^2 + |b|^2 - 2 a.b. */
static inline float qdist(const hnsw *h, const void *q, uint32_t id)
{
    const unsigned char *v = rec(h, id);
    if (h->o.codes == HNSW_I8) {
        const int32_t *vs = (const int32_t *)(const void *)(v + h->sums_at);
        /* 64-bit: the sums of a mapped file are not trusted to be the codes' own */
        int64_t ab = (int64_t)h->k.i8_biased(q, (const int8_t *)v, h->dim) - 128 * (int64_t)vs[0];
        if (h->o.metric == VEC_IP)
            return 1.0f - h->qz.scale * h->qz.scale * (float)ab;
        const int32_t *qs = (const int32_t *)(const void *)((const unsigned char *)q + h->sums_at);
        return h->qz.scale * h->qz.scale * (float)((int64_t)qs[1] + vs[1] - 2 * ab);
    }
    float s = h->k.f32(q, (const float *)(const void *)v, h->dim);
    return h->o.metric == VEC_IP ? 1.0f - s : s;
}

static inline float exact_dist(const hnsw *h, const float *q, uint32_t id)
{
    const float *v = h->o.codes == HNSW_I8 ? h->orig + (size_t)id * h->dim : (const float *)(const void *)rec(h, id);
    float s = h->k.f32(q, v, h->dim);
    return h->o.metric == VEC_IP ? 1.0f - s : s;
}

/* v in the form a record holds it: the f32 vector, or codes and their two sums */
static void encode(const hnsw *h, const float *v, unsigned char *out)
{
    if (h->o.codes == HNSW_F32) {
        memcpy(out, v, h->dim * sizeof *v);
        return;
    }
    int8_t *c = (int8_t *)out;
    vec_quantize(&h->qz, v, c, h->dim);
    int32_t sums[2] = {0, 0};
    for (size_t i = 0; i < h->dim; i++)
        sums[0] += c[i], sums[1] += c[i] * c[i];
    memcpy(out + h->sums_at, sums, sizeof sums);
}

static void prefetch_rec(const hnsw *h, uint32_t id)
{
    const char *p = (const char *)rec(h, id);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
}

/* --- heaps over cand, by d (ties by id, so results are deterministic) --- */

static inline int less(cand a, cand b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

static int cands_reserve(cands *c, size_t want)
{
    if (want <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < want)
        cap *= 2;
    cand *a = realloc(c->a, cap * sizeof *a);
    if (!a)
        return error_set(LOCH_ENOMEM, "hnsw: out of memory for %zu candidates", cap);
    c->a = a, c->cap = cap;
    return 0;
}

/* max != 0: the root is the largest (farthest) */
static void heap_push(cands *c, cand x, int max)
{
    size_t i = c->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (max ? !less(c->a[p], x) : !less(x, c->a[p]))
            break;
        c->a[i] = c->a[p];
        i = p;
    }
    c->a[i] = x;
}

static cand heap_pop(cands *c, int max)
{
    cand top = c->a[0], x = c->a[--c->n];
    size_t i = 0, n = c->n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        cand bv = x;
        if (l < n && (max ? less(bv, c->a[l]) : less(c->a[l], bv)))
            b = l, bv = c->a[l];
        if (r < n && (max ? less(bv, c->a[r]) : less(c->a[r], bv)))
            b = r;
        if (b == i)
            break;
        c->a[i] = c->a[b];
        i = b;
    }
    if (n)
        c->a[i] = x;
    return top;
}

static int cmp_cand(const void *a, const void *b)
{
    cand x = *(const cand *)a, y = *(const cand *)b;
    return less(x, y) ? -1 : less(y, x) ? 1 : 0;
}

/* --- visited tags --- */

static visited *visited_get(hnsw *h)
{
    visited *v = NULL;
    pthread_mutex_lock(&h->pool_lock);
    if (h->pooled > 0)
        v = h->pool[--h->pooled];
    pthread_mutex_unlock(&h->pool_lock);
    if (!v && !(v = calloc(1, sizeof *v))) {
        error_set(LOCH_ENOMEM, "hnsw: out of memory");
        return NULL;
    }
    if (v->cap < h->cap) {
        uint16_t *t = realloc(v->tag, h->cap * sizeof *t);
        if (!t) {
            free(v->tag);
            free(v);
            error_set(LOCH_ENOMEM, "hnsw: out of memory for a visited list of %zu nodes", h->cap);
            return NULL;
        }
        memset(t, 0, h->cap * sizeof *t);
        v->tag = t, v->cap = h->cap, v->cur = 0;
    }
    return v;
}

/* A new tag for the next search; the one clear in 65,535 searches when it wraps. */
static uint16_t visited_next(visited *v)
{
    if (++v->cur == 0) {
        memset(v->tag, 0, v->cap * sizeof *v->tag);
        v->cur = 1;
    }
    return v->cur;
}

static void visited_put(hnsw *h, visited *v)
{
    pthread_mutex_lock(&h->pool_lock);
    if (h->pooled < POOL) {
        h->pool[h->pooled++] = v;
        v = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (v) {
        free(v->tag);
        free(v);
    }
}

/* --- the search on one level --- */

/* The greedy walk of levels above 0: the nearest node to q reachable from *ep. */
static void descend(const hnsw *h, const void *q, uint32_t *ep, float *epd, int from, int to)
{
    for (int l = from; l > to; l--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            const uint32_t *ln = links(h, *ep, l);
            for (uint32_t j = 0; j < ln[0]; j++) {
                float d = qdist(h, q, ln[1 + j]);
                if (d < *epd || (d == *epd && ln[1 + j] < *ep))
                    *epd = d, *ep = ln[1 + j], changed = 1;
            }
        }
    }
}

/*
 * The beam search of level l from ep: into res, the ef nearest nodes found that are
 * live and allowed (a max-heap by distance). Nodes that are dead or filtered out still
 * route. todo is scratch.
 */
static int search_level(const hnsw *h, visited *vis, const void *q, uint32_t ep, float epd, size_t ef, int l,
                        const uint64_t *allow, cands *todo, cands *res)
{
    todo->n = res->n = 0;
    if (cands_reserve(todo, 2 * ef + h->m0) || cands_reserve(res, ef + 1))
        return LOCH_ENOMEM;
    uint16_t cur = visited_next(vis);
    vis->tag[ep] = cur;
    heap_push(todo, (cand){epd, ep}, 0);
    int take_ep = l > 0 || (!is_dead(h, ep) && allowed(allow, ep));
    if (take_ep)
        heap_push(res, (cand){epd, ep}, 1);
    float bound = take_ep ? epd : INFINITY;
    uint32_t fresh[2 * HNSW_MAX_M];
    while (todo->n) {
        cand c = heap_pop(todo, 0);
        if (c.d > bound && res->n >= ef)
            break;
        const uint32_t *ln = links(h, c.id, l);
        uint32_t nf = 0;
        for (uint32_t j = 0; j < ln[0]; j++) {
            uint32_t nb = ln[1 + j];
            if (vis->tag[nb] == cur)
                continue;
            vis->tag[nb] = cur;
            fresh[nf++] = nb;
            prefetch_rec(h, nb);
        }
        for (uint32_t j = 0; j < nf; j++) {
            uint32_t nb = fresh[j];
            float d = qdist(h, q, nb);
            if (res->n < ef || d < bound) {
                if (todo->n == todo->cap && cands_reserve(todo, todo->n + 1))
                    return LOCH_ENOMEM;
                heap_push(todo, (cand){d, nb}, 0);
                if (l > 0 || (!is_dead(h, nb) && allowed(allow, nb))) {
                    heap_push(res, (cand){d, nb}, 1);
                    if (res->n > ef)
                        heap_pop(res, 1);
                    bound = res->a[0].d;
                }
            }
        }
    }
    return 0;
}

/* --- insertion --- */

/* The neighbour heuristic: from c (any order) keep at most m, nearest first, each one
 * nearer to the base than to any kept so far. c is left sorted, kept in c->a[0..ret). */
static size_t select_heuristic(const hnsw *h, cands *c, unsigned m)
{
    qsort(c->a, c->n, sizeof *c->a, cmp_cand);
    if (c->n <= m)
        return c->n;
    size_t kept = 0;
    for (size_t i = 0; i < c->n && kept < m; i++) {
        cand x = c->a[i];
        const void *xv = rec(h, x.id);
        int good = 1;
        for (size_t j = 0; j < kept && good; j++)
            if (qdist(h, xv, c->a[j].id) < x.d)
                good = 0;
        if (good)
            c->a[kept++] = x;
    }
    return kept;
}

/* Links node nb to id on level l: appended when there is room, else nb's list is
 * chosen again by the heuristic from its links plus id. */
static int link_back(hnsw *h, uint32_t nb, uint32_t id, int l, cands *scratch)
{
    uint32_t *ln = links(h, nb, l);
    unsigned cap = max_links(h, l);
    if (nb < h->base_n && !((h->dirty[nb >> 6] >> (nb & 63)) & 1)) { /* a delta carries its links again */
        h->dirty[nb >> 6] |= UINT64_C(1) << (nb & 63);
        h->n_dirty++;
    }
    if (ln[0] < cap) {
        ln[1 + ln[0]++] = id;
        return 0;
    }
    if (cands_reserve(scratch, cap + 1))
        return LOCH_ENOMEM;
    const void *nv = rec(h, nb);
    scratch->n = 0;
    scratch->a[scratch->n++] = (cand){qdist(h, nv, id), id};
    for (uint32_t j = 0; j < ln[0]; j++)
        scratch->a[scratch->n++] = (cand){qdist(h, nv, ln[1 + j]), ln[1 + j]};
    size_t kept = select_heuristic(h, scratch, cap);
    ln[0] = (uint32_t)kept;
    for (size_t j = 0; j < kept; j++)
        ln[1 + j] = scratch->a[j].id;
    return 0;
}

static int grow(hnsw *h, size_t want)
{
    if (want <= h->cap)
        return 0;
    if (want > HNSW_MAX_NODES)
        return error_set(LOCH_EINVALID, "hnsw: more than %u nodes", (unsigned)HNSW_MAX_NODES);
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < want)
        cap = cap * 2 > HNSW_MAX_NODES ? HNSW_MAX_NODES : cap * 2;
    unsigned char *l0 = aligned_alloc(64, cap * h->rec_size);
    if (!l0)
        goto nomem;
    if (h->n)
        memcpy(l0, h->level0, h->n * h->rec_size);
    if (!h->borrowed)
        free(h->level0);
    h->level0 = l0;
    void *p;
    if (!(p = realloc(h->levels, cap)))
        goto nomem;
    h->levels = p;
    if (!(p = realloc(h->upper, cap * sizeof *h->upper)))
        goto nomem;
    h->upper = p;
    if (!(p = realloc(h->labels, cap * sizeof *h->labels)))
        goto nomem;
    h->labels = p;
    size_t words = (cap + 63) / 64, had = (h->cap + 63) / 64;
    if (!(p = realloc(h->dead, words * sizeof *h->dead)))
        goto nomem;
    h->dead = p;
    memset(h->dead + had, 0, (words - had) * sizeof *h->dead);
    if (h->o.codes == HNSW_I8) {
        if (!(p = h->borrowed ? malloc(cap * h->dim * sizeof *h->orig) : realloc(h->orig, cap * h->dim * sizeof *h->orig)))
            goto nomem;
        if (h->borrowed && h->n)
            memcpy(p, h->orig, h->n * h->dim * sizeof *h->orig);
        h->orig = p;
    }
    if (h->borrowed) { /* both copied out of the loaded file now: it goes (and the extra in it) */
        free(h->file);
        h->file = NULL;
    }
    h->borrowed = 0;
    h->cap = cap;
    return 0;
nomem:
    return error_set(LOCH_ENOMEM, "hnsw: out of memory growing to %zu nodes", cap);
}

static int add_one(hnsw *h, const float *v, uint64_t label, visited *vis, cands *todo, cands *res, cands *scratch)
{
    uint32_t id = (uint32_t)h->n;
    double u = ((double)(next_rand(&h->rng) >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    int level = (int)(-log(u) * h->mult);
    if (level > 250)
        level = 250;
    if (level > 0) {
        h->upper[id] = calloc((size_t)level * (1 + h->o.m), sizeof(uint32_t));
        if (!h->upper[id])
            return error_set(LOCH_ENOMEM, "hnsw: out of memory");
    } else {
        h->upper[id] = NULL;
    }
    unsigned char *r = rec(h, id);
    memset(r, 0, h->rec_size);
    encode(h, v, r);
    if (h->o.codes == HNSW_I8)
        memcpy(h->orig + (size_t)id * h->dim, v, h->dim * sizeof *v);
    h->levels[id] = (uint8_t)level;
    h->labels[id] = label;
    h->n++;
    if (h->top < 0) {
        h->entry = id, h->top = level;
        return 0;
    }
    const void *q = r; /* the new node's own vector or codes */
    uint32_t ep = h->entry;
    float epd = qdist(h, q, ep);
    descend(h, q, &ep, &epd, h->top, level);
    /* no node links to the new one yet on the levels searched, so no search meets it */
    for (int l = level < h->top ? level : h->top; l >= 0; l--) {
        int rc = search_level(h, vis, q, ep, epd, h->o.ef_construction, l, NULL, todo, res);
        if (rc)
            return rc;
        /* the nearest found is the next level's entry */
        cand best = res->a[0];
        for (size_t i = 1; i < res->n; i++)
            if (less(res->a[i], best))
                best = res->a[i];
        ep = best.id, epd = best.d;
        size_t kept = select_heuristic(h, res, h->o.m);
        uint32_t *ln = links(h, id, l);
        ln[0] = (uint32_t)kept;
        for (size_t j = 0; j < kept; j++)
            ln[1 + j] = res->a[j].id;
        for (size_t j = 0; j < kept; j++)
            if ((rc = link_back(h, res->a[j].id, id, l, scratch)))
                return rc;
    }
    if (level > h->top)
        h->entry = id, h->top = level;
    return 0;
}

int hnsw_add(hnsw *h, const float *vectors, const uint64_t *labels, size_t n)
{
    int rc = 0;
    visited *vis = NULL;
    cands todo = {0}, res = {0}, scratch = {0};
    if (n == 0)
        return 0;
    if ((rc = grow(h, h->n + n)))
        return rc;
    if (h->o.codes == HNSW_I8 && !h->have_qz) {
        h->qz = vec_quant_fit(h->o.metric, vectors, n, h->dim);
        h->have_qz = 1;
    }
    if (!(vis = visited_get(h)))
        return LOCH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((rc = add_one(h, vectors + i * h->dim, labels[i], vis, &todo, &res, &scratch)))
            goto out;
    }
out:
    visited_put(h, vis);
    free(todo.a);
    free(res.a);
    free(scratch.a);
    return rc;
}

int hnsw_delete(hnsw *h, uint32_t id)
{
    if (id >= h->n)
        return error_set(LOCH_EINVALID, "hnsw: no node %u (the index has %zu)", id, h->n);
    if (!is_dead(h, id)) {
        h->dead[id >> 6] |= UINT64_C(1) << (id & 63);
        h->n_dead++;
    }
    return 0;
}

/* --- search --- */

/* Every live allowed node scored exactly: for filters that leave few nodes. */
static long search_exact(const hnsw *h, const float *q, const hnsw_query *qr, hnsw_hit *out)
{
    cands best = {0};
    size_t k = qr->k;
    if (cands_reserve(&best, k + 1))
        return -1;
    size_t words = (h->n + 63) / 64;
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = (qr->allow ? qr->allow[w] : ~UINT64_C(0)) & ~h->dead[w];
        while (bits) {
            uint32_t id = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            bits &= bits - 1;
            if (id >= h->n)
                break;
            cand c = {exact_dist(h, q, id), id};
            if (best.n < k || less(c, best.a[0])) {
                heap_push(&best, c, 1);
                if (best.n > k)
                    heap_pop(&best, 1);
            }
        }
    }
    qsort(best.a, best.n, sizeof *best.a, cmp_cand);
    for (size_t i = 0; i < best.n; i++)
        out[i] = (hnsw_hit){h->labels[best.a[i].id], best.a[i].d};
    long got = (long)best.n;
    free(best.a);
    return got;
}

static size_t count_allowed(const hnsw *h, const uint64_t *allow, size_t stop)
{
    size_t c = 0, words = (h->n + 63) / 64;
    if (!allow)
        return h->n - h->n_dead;
    for (size_t w = 0; w < words && c <= stop; w++) {
        uint64_t bits = allow[w] & ~h->dead[w];
        if (w == words - 1 && h->n % 64)
            bits &= (UINT64_C(1) << (h->n % 64)) - 1;
        c += (size_t)__builtin_popcountll(bits);
    }
    return c;
}

int hnsw_exact_for(const hnsw *h, const hnsw_query *qr)
{
    return qr->exact_below && count_allowed(h, qr->allow, qr->exact_below) <= qr->exact_below;
}

long hnsw_search(hnsw *h, const float *q, const hnsw_query *qr, hnsw_hit *out)
{
    long got = -1;
    visited *vis = NULL;
    cands todo = {0}, res = {0};
    unsigned char *codes = NULL;
    if (qr->k == 0 || h->n == 0 || h->n_dead == h->n)
        return 0;
    if (hnsw_exact_for(h, qr))
        return search_exact(h, q, qr, out);
    const void *qv = q;
    if (h->o.codes == HNSW_I8) {
        if (!(codes = aligned_alloc(64, h->vec_bytes))) {
            error_set(LOCH_ENOMEM, "hnsw: out of memory");
            return -1;
        }
        encode(h, q, codes);
        qv = codes;
    }
    if (!(vis = visited_get(h)))
        goto out;
    uint32_t ep = h->entry;
    float epd = qdist(h, qv, ep);
    descend(h, qv, &ep, &epd, h->top, 0);
    size_t ef = qr->ef > qr->k ? qr->ef : qr->k;
    if (search_level(h, vis, qv, ep, epd, ef, 0, qr->allow, &todo, &res))
        goto out;
    if (h->o.codes == HNSW_I8) /* rescore the candidates from the originals */
        for (size_t i = 0; i < res.n; i++)
            res.a[i].d = exact_dist(h, q, res.a[i].id);
    qsort(res.a, res.n, sizeof *res.a, cmp_cand);
    got = (long)(res.n < qr->k ? res.n : qr->k);
    for (long i = 0; i < got; i++)
        out[i] = (hnsw_hit){h->labels[res.a[i].id], res.a[i].d};
out:
    if (vis)
        visited_put(h, vis);
    free(codes);
    free(todo.a);
    free(res.a);
    return got;
}

/* --- life cycle --- */

int hnsw_new(hnsw **out, size_t dim, const hnsw_options *o)
{
    *out = NULL;
    if (dim == 0 || dim > HNSW_MAX_DIM)
        return error_set(LOCH_EINVALID, "hnsw: dimension %zu is not in 1..%d", dim, HNSW_MAX_DIM);
    if (o->m < 2 || o->m > HNSW_MAX_M)
        return error_set(LOCH_EINVALID, "hnsw: m %u is not in 2..%d", o->m, HNSW_MAX_M);
    if (o->ef_construction < 1 || o->ef_construction > 4096)
        return error_set(LOCH_EINVALID, "hnsw: ef_construction %u is not in 1..4096", o->ef_construction);
    if ((o->metric != VEC_IP && o->metric != VEC_L2) || (o->codes != HNSW_F32 && o->codes != HNSW_I8))
        return error_set(LOCH_EINVALID, "hnsw: unknown metric or codes");
    hnsw *h = calloc(1, sizeof *h);
    if (!h)
        return error_set(LOCH_ENOMEM, "hnsw: out of memory");
    h->dim = dim;
    h->o = *o;
    h->m0 = 2 * o->m;
    h->code_bytes = o->codes == HNSW_I8 ? dim : dim * sizeof(float);
    h->sums_at = (h->code_bytes + 3) & ~(size_t)3;
    h->vec_bytes = pad64(o->codes == HNSW_I8 ? h->sums_at + 2 * sizeof(int32_t) : h->code_bytes);
    h->rec_size = pad64(h->vec_bytes + (1 + (size_t)h->m0) * sizeof(uint32_t));
    h->top = -1;
    h->mult = 1.0 / log((double)o->m);
    h->rng = o->seed;
    h->k = vec_kernel_for(o->metric);
    pthread_mutex_init(&h->pool_lock, NULL);
    *out = h;
    return 0;
}

void hnsw_free(hnsw *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->upper[i]);
    for (int i = 0; i < h->pooled; i++) {
        free(h->pool[i]->tag);
        free(h->pool[i]);
    }
    pthread_mutex_destroy(&h->pool_lock);
    if (!h->borrowed)
        free(h->level0), free(h->orig);
    free(h->file);
    free(h->delta_file);
    free(h->dirty);
    free(h->levels);
    free(h->upper);
    free(h->labels);
    free(h->dead);
    free(h);
}

size_t hnsw_size(const hnsw *h) { return h->n; }
size_t hnsw_deleted(const hnsw *h) { return h->n_dead; }
size_t hnsw_dim(const hnsw *h) { return h->dim; }
int hnsw_is_deleted(const hnsw *h, uint32_t id) { return id < h->n && is_dead(h, id); }
uint64_t hnsw_label(const hnsw *h, uint32_t id) { return id < h->n ? h->labels[id] : 0; }

const float *hnsw_vector(const hnsw *h, uint32_t id)
{
    if (id >= h->n)
        return NULL;
    return h->o.codes == HNSW_I8 ? h->orig + (size_t)id * h->dim : (const float *)(const void *)rec(h, id);
}
const hnsw_options *hnsw_opts(const hnsw *h) { return &h->o; }

size_t hnsw_memory(const hnsw *h)
{
    size_t b = h->cap * (h->rec_size + 1 + sizeof *h->upper + sizeof *h->labels) + (h->cap + 63) / 64 * 8;
    for (size_t i = 0; i < h->n; i++)
        b += (size_t)h->levels[i] * (1 + h->o.m) * sizeof(uint32_t);
    if (h->orig)
        b += h->cap * h->dim * sizeof(float);
    return b;
}

/* --- the file ---
 *
 * Little-endian, every section starting at a multiple of 64 so the mapping can be
 * used in place:
 *   header      128 bytes: "LOCHHNSW", version, the options, dim, n, entry, top, the
 *               quantizer, record size, upper-link count, the caller's 32-byte
 *               fingerprint, the generator's state, the CRC-32C of the body and of
 *               the header before it
 *   level0      n records
 *   levels      n bytes
 *   upper       the links of levels above 0, node after node
 *   labels      n u64
 *   dead        (n + 63) / 64 u64
 *   orig        HNSW_I8: n x dim f32
 *   extra       the caller's bytes (loch: the rows' keys)
 */

#define MAGIC "LOCHHNSW"
#define VERSION 1
#define HEADER 128

typedef struct {
    size_t level0, levels, upper, labels, dead, orig, extra, end;
} layout;

/* the sections' offsets; 0 when a size overflows */
static int lay_out(layout *L, size_t n, size_t rec_size, size_t upper_words, size_t dim, int i8, size_t extra)
{
    size_t at = HEADER, sz;
#define SECTION(field, bytes)                                          \
    do {                                                               \
        L->field = at;                                                 \
        sz = (bytes);                                                  \
        if (at > SIZE_MAX - sz - 64)                                   \
            return -1;                                                 \
        at = pad64(at + sz);                                           \
    } while (0)
    if (n > HNSW_MAX_NODES || rec_size > (SIZE_MAX >> 32) || dim > HNSW_MAX_DIM || upper_words > (SIZE_MAX >> 3))
        return -1;
    SECTION(level0, n * rec_size);
    SECTION(levels, n);
    SECTION(upper, upper_words * sizeof(uint32_t));
    SECTION(labels, n * sizeof(uint64_t));
    SECTION(dead, (n + 63) / 64 * sizeof(uint64_t));
    SECTION(orig, i8 ? n * dim * sizeof(float) : 0);
    SECTION(extra, extra);
#undef SECTION
    L->end = L->extra + extra;
    return 0;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int hnsw_save(const hnsw *h, const uint8_t fingerprint[32], const void *extra, size_t extra_len, buf *out)
{
    layout L;
    size_t upper_words = 0;
    for (size_t i = 0; i < h->n; i++)
        upper_words += (size_t)h->levels[i] * (1 + h->o.m);
    if (lay_out(&L, h->n, h->rec_size, upper_words, h->dim, h->o.codes == HNSW_I8, extra_len) < 0)
        return error_set(LOCH_EINVALID, "hnsw: the index is too large to save");
    int rc = buf_grow(out, L.end);
    if (rc)
        return rc;
    unsigned char *f = (unsigned char *)out->data + out->len, *hd = f;
    memset(f, 0, L.end);
    memcpy(hd, MAGIC, 8);
    put32(hd + 8, VERSION);
    put32(hd + 12, HEADER);
    put32(hd + 16, (uint32_t)h->o.metric);
    put32(hd + 20, (uint32_t)h->o.codes);
    put32(hd + 24, (uint32_t)h->dim);
    put32(hd + 28, h->o.m);
    put32(hd + 32, h->o.ef_construction);
    put32(hd + 36, (uint32_t)(h->top + 1)); /* 0: empty */
    put64(hd + 40, h->n);
    put32(hd + 48, h->entry);
    put32(hd + 52, (uint32_t)h->have_qz);
    memcpy(hd + 56, &h->qz.scale, 4);
    memcpy(hd + 60, &h->qz.offset, 4);
    put64(hd + 64, h->rec_size);
    put64(hd + 72, upper_words);
    memcpy(hd + 80, fingerprint, 32);
    put64(hd + 112, h->rng);
    if (h->n)
        memcpy(f + L.level0, h->level0, h->n * h->rec_size);
    if (h->n)
        memcpy(f + L.levels, h->levels, h->n);
    unsigned char *up = f + L.upper;
    for (size_t i = 0; i < h->n; i++) {
        size_t words = (size_t)h->levels[i] * (1 + h->o.m);
        if (words)
            memcpy(up, h->upper[i], words * sizeof(uint32_t));
        up += words * sizeof(uint32_t);
    }
    if (h->n) {
        memcpy(f + L.labels, h->labels, h->n * sizeof *h->labels);
        memcpy(f + L.dead, h->dead, (h->n + 63) / 64 * sizeof *h->dead);
    }
    if (h->o.codes == HNSW_I8 && h->n)
        memcpy(f + L.orig, h->orig, h->n * h->dim * sizeof *h->orig);
    if (extra_len)
        memcpy(f + L.extra, extra, extra_len);
    if (h->n % 64) /* tombstone bits past n are zero in the file, whatever memory held */
        ((uint64_t *)(void *)(f + L.dead))[h->n / 64] &= (UINT64_C(1) << (h->n % 64)) - 1;
    put32(hd + 120, crc32c(0, f + HEADER, L.end - HEADER));
    put32(hd + 124, crc32c(0, hd, 124));
    out->len += L.end;
    out->data[out->len] = '\0';
    return 0;
}

static int corrupt(const char *what) { return error_set(LOCH_ECORRUPT, "hnsw index: %s", what); }

/* Checks the file in f (len bytes) and, when it is sound, makes *out an index that
 * uses its level0 and orig in place. Every count and link is checked, so a file that
 * passes cannot make a search read out of bounds, whatever its checksum says. */
static int from_bytes(hnsw **out, unsigned char *f, size_t len, const uint8_t fingerprint[32], const void **extra,
                      size_t *extra_len, int check_crc)
{
    *out = NULL;
    if ((uintptr_t)f % 64)
        return error_set(LOCH_EINVALID, "hnsw: an index is read from 64-byte aligned memory");
    if (len < HEADER || memcmp(f, MAGIC, 8) != 0)
        return corrupt("not an index file (no LOCHHNSW header)");
    if (get32(f + 8) != VERSION)
        return error_set(LOCH_ECORRUPT, "hnsw index: version %u, this build reads %d", get32(f + 8), VERSION);
    if (check_crc && get32(f + 124) != crc32c(0, f, 124))
        return corrupt("the header's checksum does not match");
    if (fingerprint && memcmp(f + 80, fingerprint, 32) != 0)
        return error_set(LOCH_ECONFLICT, "hnsw index: made from other data (its fingerprint differs)");
    hnsw_options o = HNSW_OPTIONS_INIT;
    o.metric = (vec_metric)get32(f + 16), o.codes = (hnsw_codes)get32(f + 20);
    o.m = get32(f + 28), o.ef_construction = get32(f + 32);
    size_t dim = get32(f + 24);
    hnsw *h = NULL;
    if (get32(f + 12) != HEADER || hnsw_new(&h, dim, &o) < 0)
        return corrupt("its options are out of range");
    int rc = 0;
    size_t n = get64(f + 40), upper_words = get64(f + 72);
    layout L;
    if (get64(f + 64) != h->rec_size || lay_out(&L, n, h->rec_size, upper_words, dim, o.codes == HNSW_I8, 0) < 0) {
        rc = corrupt("its sizes do not fit together");
        goto fail;
    }
    if (L.extra > len) {
        rc = corrupt("it is shorter than its sections");
        goto fail;
    }
    if (check_crc && get32(f + 120) != crc32c(0, f + HEADER, len - HEADER)) {
        rc = corrupt("the checksum does not match (a damaged or partly written file)");
        goto fail;
    }
    uint32_t top1 = get32(f + 36); /* the entry's level + 1; 0: empty */
    h->top = top1 <= 251 ? (int)top1 - 1 : 251;
    h->entry = get32(f + 48);
    h->have_qz = get32(f + 52) != 0;
    memcpy(&h->qz.scale, f + 56, 4);
    memcpy(&h->qz.offset, f + 60, 4);
    h->rng = get64(f + 112);
    if ((n == 0) != (h->top < 0) || (n ? h->entry >= n : h->entry != 0) || h->top > 250 ||
        (o.codes == HNSW_I8 && n && !h->have_qz) ||
        (h->have_qz && (!isfinite(h->qz.scale) || !(h->qz.scale > 0) || !isfinite(h->qz.offset)))) {
        rc = corrupt("its entry point or quantizer is invalid");
        goto fail;
    }
    size_t words = (n + 63) / 64;
    if (!(h->levels = malloc(n ? n : 1)) || !(h->upper = calloc(n ? n : 1, sizeof *h->upper)) ||
        !(h->labels = malloc((n ? n : 1) * sizeof *h->labels)) || !(h->dead = calloc(words ? words : 1, sizeof *h->dead))) {
        rc = error_set(LOCH_ENOMEM, "hnsw: out of memory loading %zu nodes", n);
        goto fail;
    }
    /* level 0 and the originals are used in place; the small per-node arrays are copied */
    h->level0 = f + L.level0;
    h->orig = o.codes == HNSW_I8 ? (float *)(void *)(f + L.orig) : NULL;
    h->borrowed = 1;
    h->cap = n;
    memcpy(h->levels, f + L.levels, n);
    memcpy(h->labels, f + L.labels, n * sizeof *h->labels);
    memcpy(h->dead, f + L.dead, words * sizeof *h->dead);
    const unsigned char *up = f + L.upper;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nw = (size_t)h->levels[i] * (1 + o.m);
        if (h->levels[i] > h->top || nw > upper_words - used) {
            h->n = i;
            rc = corrupt("a node's level is above the entry point's, or its links run past the file");
            goto fail;
        }
        h->upper[i] = NULL;
        if (nw) {
            if (!(h->upper[i] = malloc(nw * sizeof(uint32_t)))) {
                h->n = i;
                rc = error_set(LOCH_ENOMEM, "hnsw: out of memory");
                goto fail;
            }
            memcpy(h->upper[i], up + used * sizeof(uint32_t), nw * sizeof(uint32_t));
        }
        used += nw;
        h->n = i + 1;
    }
    if (used != upper_words || (n && h->levels[h->entry] != h->top)) {
        rc = corrupt("its upper links do not add up");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        for (int l = 0; l <= h->levels[i]; l++) {
            const uint32_t *ln = links(h, (uint32_t)i, l);
            if (ln[0] > max_links(h, l)) {
                rc = corrupt("a node has more links than m allows");
                goto fail;
            }
            for (uint32_t j = 0; j < ln[0]; j++)
                if (ln[1 + j] >= n || h->levels[ln[1 + j]] < l) {
                    rc = corrupt("a link points past the nodes or to a node not on its level");
                    goto fail;
                }
        }
    size_t dead = 0;
    for (size_t w = 0; w < words; w++)
        dead += (size_t)__builtin_popcountll(h->dead[w]);
    if (n % 64 && (h->dead[n / 64] >> (n % 64))) {
        rc = corrupt("tombstones past the last node");
        goto fail;
    }
    h->n_dead = dead;
    if (!(h->dirty = calloc(words ? words : 1, sizeof *h->dirty))) {
        rc = error_set(LOCH_ENOMEM, "hnsw: out of memory loading %zu nodes", n);
        goto fail;
    }
    memcpy(h->fp, f + 80, 32); /* the file is the base a delta is against */
    memcpy(h->data_fp, f + 80, 32);
    h->has_base = 1, h->base_n = n;
    if (extra) {
        *extra = len > L.extra ? f + L.extra : NULL;
        *extra_len = len > L.extra ? len - L.extra : 0;
    }
    *out = h;
    return 0;
fail:
    hnsw_free(h);
    return rc;
}

/* all of fd's len bytes into p, from offset at */
static int read_all(int fd, unsigned char *p, size_t len, off_t at)
{
    while (len) {
        ssize_t got = pread(fd, p, len, at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? errno : EIO;
        p += got, len -= (size_t)got, at += got;
    }
    return 0;
}

int hnsw_load_file(hnsw **out, const char *path, const uint8_t fingerprint[32], const void **extra, size_t *extra_len)
{
    struct stat st;
    unsigned char head[HEADER], *data = NULL;
    layout L;
    int rc = 0, e;
    *out = NULL;
    /* never blocks on a FIFO put in its place; only a regular file is read */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? error_set(LOCH_ENOTFOUND, "no index %s", path) : error_errno(errno, "cannot open", path);
    if (fstat(fd, &st) < 0)
        rc = error_errno(errno, "cannot stat", path);
    else if (!S_ISREG(st.st_mode))
        rc = error_set(LOCH_ECORRUPT, "%s: not a regular file", path);
    else if (st.st_size < HEADER)
        rc = error_set(LOCH_ECORRUPT, "%s: shorter than an index header", path);
    else if ((e = read_all(fd, head, HEADER, 0)) != 0)
        rc = error_errno(e, "cannot read", path);
    /* the header's sizes bound the file before any of it is read: a file made long (a
     * sparse hole, a copy of something else) is refused, not read */
    else if (lay_out(&L, get64(head + 40), get64(head + 64), get64(head + 72), get32(head + 24),
                     get32(head + 20) == HNSW_I8, 0) < 0 ||
             (uint64_t)st.st_size < L.extra || (uint64_t)st.st_size - L.extra > HNSW_MAX_EXTRA)
        rc = error_set(LOCH_ECORRUPT, "%s: its length does not fit its header", path);
    else if (!(data = aligned_alloc(64, ((size_t)st.st_size + 63) / 64 * 64)))
        rc = error_set(LOCH_ENOMEM, "out of memory reading %s (%lld bytes)", path, (long long)st.st_size);
    else if ((e = read_all(fd, data, (size_t)st.st_size, 0)) != 0)
        rc = error_errno(e, "cannot read", path);
    close(fd);
    /* read, not mapped: a file written over in place (a restore, a copy) would change
     * under a mapping after its checks, and a shortened one fault */
    if (rc == 0 && (rc = from_bytes(out, data, (size_t)st.st_size, fingerprint, extra, extra_len, 1)) != 0)
        error_prefix("%s: ", path);
    if (rc) {
        free(data);
        return rc;
    }
    (*out)->file = data;
    return 0;
}

int hnsw_load_bytes(hnsw **out, void *data, size_t len, int check_crc)
{
    return from_bytes(out, data, len, NULL, NULL, NULL, check_crc);
}

/* --- deltas ---
 *
 * A delta is what changed since the base: the nodes added (each whole: level, label,
 * level-0 record, original vector, upper links), the links of base nodes that changed
 * (an insertion links its neighbours back to it), and the tombstones of every node.
 * Little-endian, sections one after another:
 *   header      128 bytes: "LOCHHNSD", version, the base's node count, the node count,
 *               entry, top, the generator's state, the count of base nodes patched,
 *               the base's fingerprint, this state's fingerprint, the CRC-32C of the
 *               body and of the header before it
 *   levels      n - base bytes          labels    n - base u64
 *   level0      n - base records        orig      HNSW_I8: n - base x dim f32
 *   upper       the new nodes' links above level 0, node after node
 *   patched     their ids (u32, ascending), then each one's level-0 list (1 + 2m u32)
 *               and its upper lists
 *   dead        (n + 63) / 64 u64
 *   extra       the caller's bytes (loch: the new nodes' keys)
 */

#define DMAGIC "LOCHHNSD"
#define DVERSION 1

void hnsw_rebase(hnsw *h, const uint8_t fingerprint[32])
{
    size_t words = (h->n + 63) / 64;
    uint64_t *d = calloc(words ? words : 1, sizeof *d);
    free(h->dirty);
    h->dirty = d; /* NULL (out of memory): no base, so the next save is whole */
    h->n_dirty = 0;
    h->has_base = d != NULL, h->base_n = d ? h->n : 0;
    memcpy(h->fp, fingerprint, 32);
    memcpy(h->data_fp, fingerprint, 32);
}

const uint8_t *hnsw_fingerprint(const hnsw *h) { return h->has_base ? h->data_fp : NULL; }

const uint8_t *hnsw_base(const hnsw *h, size_t *nodes)
{
    if (nodes)
        *nodes = h->has_base ? h->base_n : 0;
    return h->has_base ? h->fp : NULL;
}

static size_t upper_words_of(const hnsw *h, uint32_t id) { return (size_t)h->levels[id] * (1 + h->o.m); }

size_t hnsw_delta_size(const hnsw *h, size_t extra_len)
{
    if (!h->has_base)
        return SIZE_MAX;
    size_t fresh = h->n - h->base_n, b = HEADER;
    b += fresh * (1 + sizeof(uint64_t) + h->rec_size + (h->o.codes == HNSW_I8 ? h->dim * sizeof(float) : 0));
    for (size_t i = h->base_n; i < h->n; i++)
        b += upper_words_of(h, (uint32_t)i) * sizeof(uint32_t);
    for (size_t i = 0; i < h->base_n; i++)
        if ((h->dirty[i >> 6] >> (i & 63)) & 1)
            b += sizeof(uint32_t) * (1 + 1 + h->m0 + upper_words_of(h, (uint32_t)i));
    return b + (h->n + 63) / 64 * sizeof(uint64_t) + extra_len;
}

int hnsw_save_delta(const hnsw *h, const uint8_t fingerprint[32], const void *extra, size_t extra_len, buf *out)
{
    size_t len = hnsw_delta_size(h, extra_len);
    if (len == SIZE_MAX)
        return error_set(LOCH_EINVALID, "hnsw: no base to save a delta against (save it whole)");
    int rc = buf_grow(out, len);
    if (rc)
        return rc;
    unsigned char *f = (unsigned char *)out->data + out->len, *p = f + HEADER;
    size_t n0 = h->base_n, fresh = h->n - n0;
    memset(f, 0, HEADER);
    memcpy(f, DMAGIC, 8);
    put32(f + 8, DVERSION);
    put32(f + 12, HEADER);
    put64(f + 16, n0);
    put64(f + 24, h->n);
    put32(f + 32, h->entry);
    put32(f + 36, (uint32_t)(h->top + 1));
    put64(f + 40, h->rng);
    put64(f + 48, h->n_dirty);
    memcpy(f + 56, h->fp, 32);
    memcpy(f + 88, fingerprint, 32);
#define PUT(src, bytes) ((bytes) != 0 ? (memcpy(p, (src), (bytes)), p += (bytes)) : p) /* src may be NULL for 0 */
    PUT(h->levels + n0, fresh);
    PUT(h->labels + n0, fresh * sizeof *h->labels);
    PUT(rec(h, (uint32_t)n0), fresh * h->rec_size);
    if (h->o.codes == HNSW_I8)
        PUT(h->orig + n0 * h->dim, fresh * h->dim * sizeof(float));
    for (size_t i = n0; i < h->n; i++)
        PUT(h->upper[i], upper_words_of(h, (uint32_t)i) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n0; i++)
        if ((h->dirty[i >> 6] >> (i & 63)) & 1)
            put32(p, i), p += 4;
    for (uint32_t i = 0; i < n0; i++)
        if ((h->dirty[i >> 6] >> (i & 63)) & 1) {
            PUT(links(h, i, 0), (1 + (size_t)h->m0) * sizeof(uint32_t));
            PUT(h->upper[i], upper_words_of(h, i) * sizeof(uint32_t));
        }
    unsigned char *dead = p;
    PUT(h->dead, (h->n + 63) / 64 * sizeof(uint64_t));
    if (h->n % 64) /* tombstone bits past n are zero in the file, whatever memory held (unaligned here) */
        put64(dead + h->n / 64 * 8, get64(dead + h->n / 64 * 8) & ((UINT64_C(1) << (h->n % 64)) - 1));
    if (extra_len)
        PUT(extra, extra_len);
#undef PUT
    put32(f + 120, crc32c(0, f + HEADER, len - HEADER));
    put32(f + 124, crc32c(0, f, 124));
    out->len += len;
    out->data[out->len] = '\0';
    return 0;
}

/* a cursor over a delta's body: each take checks the bytes are there */
typedef struct {
    const unsigned char *p, *end;
} cursor;

static const unsigned char *take(cursor *c, size_t bytes, size_t count)
{
    if (count && bytes > (size_t)(c->end - c->p) / count)
        return NULL;
    const unsigned char *at = c->p;
    c->p += bytes * count;
    return at;
}

/* list (count, then links) of a node on level l: sound when the count fits and every
 * link names a node that exists and reaches level l (levels: base nodes' in h, new
 * nodes' in fresh_levels) */
static int list_ok(const hnsw *h, const unsigned char *list, int l, size_t n, const uint8_t *fresh_levels)
{
    uint32_t count = get32(list);
    if (count > max_links(h, l))
        return 0;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t to = get32(list + 4 * (1 + (size_t)j));
        if (to >= n || (to < h->base_n ? h->levels[to] : fresh_levels[to - h->base_n]) < l)
            return 0;
    }
    return 1;
}

int hnsw_apply_delta(hnsw *h, void *data, size_t len, const uint8_t fingerprint[32], const void **extra,
                     size_t *extra_len, int check_crc)
{
    unsigned char *f = data;
    if (!h->has_base || h->n != h->base_n || h->n_dirty || h->delta_file)
        return error_set(LOCH_EINVALID, "hnsw: a delta applies to an index just loaded from its base");
    if (len < HEADER || memcmp(f, DMAGIC, 8) != 0)
        return corrupt("not a delta (no LOCHHNSD header)");
    if (get32(f + 8) != DVERSION || get32(f + 12) != HEADER)
        return error_set(LOCH_ECORRUPT, "hnsw delta: version %u, this build reads %d", get32(f + 8), DVERSION);
    if (check_crc && get32(f + 124) != crc32c(0, f, 124))
        return corrupt("the delta header's checksum does not match");
    if (memcmp(f + 56, h->fp, 32) != 0 || get64(f + 16) != h->base_n)
        return error_set(LOCH_ECONFLICT, "hnsw delta: made against another base");
    if (fingerprint && memcmp(f + 88, fingerprint, 32) != 0)
        return error_set(LOCH_ECONFLICT, "hnsw delta: made from other data (its fingerprint differs)");
    if (check_crc && get32(f + 120) != crc32c(0, f + HEADER, len - HEADER))
        return corrupt("the delta's checksum does not match (a damaged or partly written file)");
    uint64_t n = get64(f + 24), patched = get64(f + 48);
    size_t n0 = h->base_n;
    uint32_t entry = get32(f + 32), top1 = get32(f + 36);
    if (n < n0 || n > HNSW_MAX_NODES || patched > n0 || top1 == 0 || top1 > 251 || entry >= n)
        return corrupt("the delta's counts or entry point are out of range");
    size_t fresh = (size_t)n - n0, m0w = 1 + (size_t)h->m0, mw = 1 + (size_t)h->o.m;
    int top = (int)top1 - 1;
    cursor c = {f + HEADER, f + len};
    const unsigned char *levels = take(&c, 1, fresh), *labels = take(&c, 8, fresh);
    const unsigned char *recs = take(&c, h->rec_size, fresh);
    const unsigned char *orig = h->o.codes == HNSW_I8 ? take(&c, h->dim * sizeof(float), fresh) : c.p;
    if (!levels || !labels || !recs || !orig)
        return corrupt("the delta is shorter than its new nodes");
    const unsigned char *up = c.p;
    for (size_t i = 0; i < fresh; i++)
        if (levels[i] > top || !take(&c, mw * 4, levels[i]))
            return corrupt("a new node's level is above the entry point's, or its links run past the delta");
    const unsigned char *ids = take(&c, 4, (size_t)patched), *plists = c.p;
    for (size_t i = 0; ids && i < patched; i++) {
        uint32_t id = get32(ids + 4 * i);
        if (id >= n0 || (i && id <= get32(ids + 4 * (i - 1))) || !take(&c, 4, m0w + h->levels[id] * mw))
            return corrupt("a patched node is out of range, repeated, or its links run past the delta");
    }
    const unsigned char *dead = take(&c, 8, ((size_t)n + 63) / 64);
    if (!ids || !dead)
        return corrupt("the delta is shorter than its sections");
    if ((entry < n0 ? h->levels[entry] : levels[entry - n0]) != top || top < h->top)
        return corrupt("the delta's entry point is not on its top level");
    /* every list checked before anything changes: a bad delta leaves the index as it was */
    const unsigned char *q = up;
    for (size_t i = 0; i < fresh; i++) {
        if (!list_ok(h, recs + i * h->rec_size + h->vec_bytes, 0, (size_t)n, levels))
            return corrupt("a link points past the nodes or to a node not on its level");
        for (int l = 1; l <= levels[i]; l++, q += mw * 4)
            if (!list_ok(h, q, l, (size_t)n, levels))
                return corrupt("a link points past the nodes or to a node not on its level");
    }
    q = plists;
    for (size_t i = 0; i < patched; i++) {
        uint32_t id = get32(ids + 4 * i);
        if (!list_ok(h, q, 0, (size_t)n, levels))
            return corrupt("a link points past the nodes or to a node not on its level");
        q += m0w * 4;
        for (int l = 1; l <= h->levels[id]; l++, q += mw * 4)
            if (!list_ok(h, q, l, (size_t)n, levels))
                return corrupt("a link points past the nodes or to a node not on its level");
    }
    if (n % 64 && (get64(dead + (n / 64) * 8) >> (n % 64)))
        return corrupt("tombstones past the last node");
    /* room first (the only step that can fail), then the changes */
    size_t words0 = (n0 + 63) / 64;
    int rc = grow(h, (size_t)n);
    if (rc)
        return rc;
    for (size_t i = 0; i < fresh; i++) {
        size_t nw = levels[i] * mw;
        h->upper[n0 + i] = NULL;
        if (nw && !(h->upper[n0 + i] = malloc(nw * 4))) {
            while (i--)
                free(h->upper[n0 + i]), h->upper[n0 + i] = NULL;
            return error_set(LOCH_ENOMEM, "hnsw: out of memory");
        }
    }
    uint64_t *dirty = words0 ? h->dirty : NULL; /* the base's bitmap, sized for n0 */
    memcpy(h->levels + n0, levels, fresh);
    memcpy(h->labels + n0, labels, fresh * 8);
    memcpy(rec(h, (uint32_t)n0), recs, fresh * h->rec_size);
    if (h->o.codes == HNSW_I8)
        memcpy(h->orig + n0 * h->dim, orig, fresh * h->dim * sizeof(float));
    q = up;
    for (size_t i = 0; i < fresh; i++) {
        size_t nw = levels[i] * mw;
        if (nw)
            memcpy(h->upper[n0 + i], q, nw * 4);
        q += nw * 4;
    }
    q = plists;
    for (size_t i = 0; i < patched; i++) {
        uint32_t id = get32(ids + 4 * i);
        memcpy(links(h, id, 0), q, m0w * 4);
        q += m0w * 4;
        if (h->levels[id]) {
            memcpy(h->upper[id], q, h->levels[id] * mw * 4);
            q += h->levels[id] * mw * 4;
        }
        dirty[id >> 6] |= UINT64_C(1) << (id & 63); /* a later delta carries them again */
    }
    h->n_dirty = (size_t)patched;
    memcpy(h->dead, dead, ((size_t)n + 63) / 64 * 8);
    h->n_dead = 0;
    for (size_t w = 0; w < ((size_t)n + 63) / 64; w++)
        h->n_dead += (size_t)__builtin_popcountll(h->dead[w]);
    h->n = (size_t)n, h->entry = entry, h->top = top, h->rng = get64(f + 40);
    memcpy(h->data_fp, f + 88, 32);
    if (extra) {
        *extra = c.p < c.end ? c.p : NULL;
        *extra_len = (size_t)(c.end - c.p);
    }
    return 0;
}

int hnsw_load_delta_file(hnsw *h, const char *path, const uint8_t fingerprint[32], const void **extra,
                         size_t *extra_len)
{
    struct stat st;
    unsigned char head[HEADER], *data = NULL;
    int rc = 0, e;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? error_set(LOCH_ENOTFOUND, "no delta %s", path) : error_errno(errno, "cannot open", path);
    if (fstat(fd, &st) < 0)
        rc = error_errno(errno, "cannot stat", path);
    else if (!S_ISREG(st.st_mode))
        rc = error_set(LOCH_ECORRUPT, "%s: not a regular file", path);
    else if (st.st_size < HEADER)
        rc = error_set(LOCH_ECORRUPT, "%s: shorter than a delta header", path);
    else if ((e = read_all(fd, head, HEADER, 0)) != 0)
        rc = error_errno(e, "cannot read", path);
    /* the header's counts bound the file before any more of it is read: every new node
     * at the top level, every patched one too, and the caller's bytes */
    uint64_t n = get64(head + 24), n0 = get64(head + 16), patched = get64(head + 48);
    if (rc == 0 && (n > HNSW_MAX_NODES || n0 > n || patched > n0 ||
                    (uint64_t)st.st_size > HEADER + (n - n0) * (9 + h->rec_size + h->dim * 4 + 251 * (1 + h->o.m) * 4) +
                                               patched * (4 + (1 + h->m0 + 251 * (1 + h->o.m)) * 4) + (n + 63) / 64 * 8 +
                                               (n - n0) * HNSW_MAX_EXTRA_NODE))
        rc = error_set(LOCH_ECORRUPT, "%s: its length does not fit its header", path);
    if (rc == 0 && !(data = malloc((size_t)st.st_size)))
        rc = error_set(LOCH_ENOMEM, "out of memory reading %s (%lld bytes)", path, (long long)st.st_size);
    else if (rc == 0 && (e = read_all(fd, data, (size_t)st.st_size, 0)) != 0)
        rc = error_errno(e, "cannot read", path);
    close(fd);
    if (rc == 0 && (rc = hnsw_apply_delta(h, data, (size_t)st.st_size, fingerprint, extra, extra_len, 1)) != 0)
        error_prefix("%s: ", path);
    if (rc) {
        free(data);
        return rc;
    }
    h->delta_file = data;
    return 0;
}
