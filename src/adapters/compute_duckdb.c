/*
 * adapters/compute_duckdb.c - compute.h over DuckDB's C API. The only file that
 * includes duckdb.h.
 *
 * Type mapping on write (DuckDB -> Delta), docs/format.md "Type mapping":
 *
 *   DuckDB                         Delta            how
 *   BOOLEAN TINYINT SMALLINT       boolean byte     as is
 *   INTEGER BIGINT FLOAT DOUBLE    short integer..  as is
 *   DECIMAL(p,s) VARCHAR BLOB DATE decimal string.. as is
 *   TIMESTAMP                      timestamp_ntz    as is (table gets timestampNtz)
 *   TIMESTAMP_S/_MS/_NS            timestamp_ntz    CAST to TIMESTAMP (microseconds)
 *   TIMESTAMPTZ                    timestamp        as is (UTC-adjusted)
 *   UTINYINT USMALLINT UINTEGER    short integer long   CAST to the next wider signed type
 *   UBIGINT / HUGEINT              decimal(20,0) / decimal(38,0)  CAST
 *   TIME INTERVAL UUID ENUM BIT .. string           CAST to VARCHAR
 *   LIST STRUCT MAP                array struct map (children must map as is)
 *   UHUGEINT UNION, nested casts   refused with the column's name
 */
#include "adapters/compute.h"
#include "core/checkpoint.h"
#include "core/stats.h"
#include "formats/arrow.h" /* the Arrow C Data Interface structs */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "duckdb.h"
#include "util/error.h"
#include "util/json.h"
#include "util/strmap.h"

/* The rows one file of a scan skips: a bitmap when that costs at most about twice the
 * sorted rows themselves, else the sorted rows (a sparse set far out, such as one row
 * at 2^31, must not cost a 256 MB bitmap). Read-only once made; shared by the cache and
 * the relations that use it, freed with the last reference. */
typedef struct {
    atomic_long refs;
    uint64_t *bits;         /* owned; bit r set: row r is skipped; NULL when rows is used */
    uint64_t nbits;
    uint64_t *rows;         /* owned; ascending */
    size_t count;
    size_t bytes;           /* what it holds, for the cache's budget */
} skip_set;

/* One registered relation. Shared by the registry of the statement that made it and by
 * every plan bound to it (each bind data copy is one reference); freed with the last. */
typedef struct {
    atomic_long refs;
    atomic_long *live;      /* the owning compute's count of relations alive */
    int64_t id;
    size_t nfiles;
    skip_set *files[];      /* one reference each; NULL: the file skips nothing */
} relation;

/* Skip sets kept across statements by the caller's key, up to SKIP_CACHE_BYTES: a table
 * queried again does not decode its deletion vectors again. Over budget, the cache
 * forgets everything (relations in use keep their own references). */
#define SKIP_CACHE_BYTES (64u << 20)
typedef struct {
    strmap index;           /* key -> slot */
    char **keys;            /* owned; per slot */
    skip_set **sets;        /* one reference per slot */
    size_t count, cap, bytes;
} skip_cache;

struct compute {
    duckdb_database db;
    duckdb_connection conn;
    /* A second connection for reads loch does while the first is binding a user query
     * (checkpoints are read from inside the table-name resolver); using the busy
     * connection there would deadlock. */
    duckdb_connection side;
    compute_resolver resolver;
    void *ctx;
    /* Relations registered by the statement running now: one reference each. Touched
     * only by the thread running the statement (registration happens in the resolver,
     * lookup when the engine binds loch_keep, both during binding). */
    relation **rels;        /* owned array */
    size_t nrels, caprels;
    int64_t next_id;        /* ids only grow: an old id never names a new relation */
    atomic_long live;
    skip_cache cache;
    atomic_uint interrupts; /* compute_interrupt calls: a long function of ours looks */
};

struct compute_result {
    duckdb_result res;
    duckdb_type *nested; /* owned; per column: the nested type shown as JSON text, or 0 */
};

/* ---- replacement scan ---------------------------------------------------------- */

/* The code of a table-name resolution that failed on this thread, for the engine error
 * that follows it (a corrupt table is LOCH_ECORRUPT, not a SQL error). */
static _Thread_local int resolver_code;

static void replacement(duckdb_replacement_scan_info info, const char *name, void *data)
{
    compute *c = data;
    buf sql = BUF_INIT;
    int rc = c->resolver ? c->resolver(c->ctx, name, &sql) : LOCH_ENOTFOUND;
    if (rc == 0) {
        duckdb_value v = duckdb_create_varchar(sql.data);
        duckdb_replacement_scan_set_function_name(info, "query");
        duckdb_replacement_scan_add_parameter(info, v);
        duckdb_destroy_value(&v);
    } else if (rc != LOCH_ENOTFOUND) {
        duckdb_replacement_scan_set_error(info, loch_error_last());
        resolver_code = rc; /* the statement fails with this: keep loch's code for it */
    }
    buf_free(&sql);
}

/* ---- relations ------------------------------------------------------------------ */

static void skip_unref(skip_set *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    free(f->bits);
    free(f->rows);
    free(f);
}

static void relation_unref(void *data)
{
    relation *r = data;
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->nfiles; i++)
        skip_unref(r->files[i]);
    atomic_fetch_sub(r->live, 1);
    free(r);
}

/* A bind data copy (the engine copies expressions while planning) is one more reference
 * to the same read-only relation. */
static void *relation_copy(void *data)
{
    relation *r = data;
    atomic_fetch_add(&r->refs, 1);
    return r;
}

static int skip_make(const uint64_t *rows, size_t count, skip_set **out)
{
    skip_set *f = calloc(1, sizeof(*f));
    uint64_t last = count ? rows[count - 1] : 0;
    int rc = f ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    if (f)
        atomic_init(&f->refs, 1);
    if (rc == 0 && count && last / 64 < 2 * (uint64_t)count + 1024) {
        f->nbits = last + 1;
        f->bytes = (size_t)(last / 64 + 1) * sizeof(uint64_t);
        if (!(f->bits = calloc((size_t)(last / 64 + 1), sizeof(uint64_t))))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < count; i++)
            f->bits[rows[i] >> 6] |= UINT64_C(1) << (rows[i] & 63);
    } else if (rc == 0 && count) {
        f->count = count;
        f->bytes = count * sizeof(uint64_t);
        if (!(f->rows = malloc(f->bytes)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            memcpy(f->rows, rows, f->bytes);
    }
    if (rc < 0) {
        skip_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

static void cache_clear(skip_cache *k)
{
    for (size_t i = 0; i < k->count; i++) {
        free(k->keys[i]);
        skip_unref(k->sets[i]);
    }
    strmap_free(&k->index);
    free(k->keys);
    free(k->sets);
    memset(k, 0, sizeof(*k));
}

/* Keeps f under key (one more reference), forgetting everything first when the budget
 * would be exceeded; a set that fails to be kept is only not cached. */
static void cache_put(skip_cache *k, const char *key, skip_set *f)
{
    if (f->bytes > SKIP_CACHE_BYTES / 4)
        return;
    if (k->bytes + f->bytes > SKIP_CACHE_BYTES)
        cache_clear(k);
    if (k->count == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        char **keys = realloc(k->keys, cap * sizeof(*keys));
        if (keys)
            k->keys = keys;
        skip_set **sets = keys ? realloc(k->sets, cap * sizeof(*sets)) : NULL;
        if (!sets)
            return;
        k->sets = sets;
        k->cap = cap;
    }
    char *own = strdup(key);
    if (!own || strmap_put(&k->index, own, k->count) < 0) {
        free(own);
        return;
    }
    k->keys[k->count] = own;
    k->sets[k->count++] = f;
    atomic_fetch_add(&f->refs, 1);
    k->bytes += f->bytes;
}

static bool skipped(const skip_set *f, uint64_t row)
{
    if (f->bits)
        return row < f->nbits && (f->bits[row >> 6] >> (row & 63) & 1);
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->rows[mid] < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->count && f->rows[lo] == row;
}

int compute_register(compute *c, const compute_relation *rel, buf *sql)
{
    if (rel->kind != COMPUTE_RELATION_SKIP)
        return error_set(LOCH_EINVALID, "unknown kind of relation %d", (int)rel->kind);
    if (c->nrels == c->caprels) {
        size_t cap = c->caprels ? c->caprels * 2 : 8;
        relation **grown = realloc(c->rels, cap * sizeof(*grown));
        if (!grown)
            return error_set(LOCH_ENOMEM, "out of memory");
        c->rels = grown;
        c->caprels = cap;
    }
    relation *r = calloc(1, sizeof(*r) + rel->nfiles * sizeof(skip_set *));
    if (!r)
        return error_set(LOCH_ENOMEM, "out of memory");
    atomic_init(&r->refs, 1);
    r->live = &c->live;
    atomic_fetch_add(&c->live, 1);
    r->id = ++c->next_id;
    r->nfiles = rel->nfiles;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rel->nfiles; i++) {
        const char *key = rel->keys[i];
        size_t slot;
        const uint64_t *rows = NULL;
        size_t count = 0;
        if (!key)
            continue;
        if (strmap_get(&c->cache.index, key, &slot)) {
            r->files[i] = c->cache.sets[slot];
            atomic_fetch_add(&r->files[i]->refs, 1);
        } else if ((rc = rel->load(rel->ctx, i, &rows, &count)) == 0 &&
                   (rc = skip_make(rows, count, &r->files[i])) == 0) {
            cache_put(&c->cache, key, r->files[i]);
        }
    }
    rc = rc ? rc : buf_printf(sql, "system.main.loch_keep(%lld, file_index, file_row_number)", (long long)r->id);
    if (rc < 0) {
        relation_unref(r);
        return rc;
    }
    c->rels[c->nrels++] = r;
    return 0;
}

void compute_relations_clear(compute *c)
{
    for (size_t i = 0; i < c->nrels; i++)
        relation_unref(c->rels[i]);
    c->nrels = 0;
}

long compute_relations_live(const compute *c) { return atomic_load(&c->live); }

bool compute_skip_reserved(const char *column)
{
    /* A file's own column shadows the engine's virtual column of the same name. */
    return strcasecmp(column, "file_index") == 0 || strcasecmp(column, "file_row_number") == 0;
}

/* loch_keep(id, file_index, file_row_number) is bound to the relation registered under
 * id, which must be a constant: the plan takes its own reference to it here. */
static void keep_bind(duckdb_bind_info info)
{
    compute *c = duckdb_scalar_function_bind_get_extra_info(info);
    duckdb_expression e = duckdb_scalar_function_bind_get_argument(info, 0);
    duckdb_client_context ctx = NULL;
    duckdb_value v = NULL;
    relation *found = NULL;
    if (e && duckdb_expression_is_foldable(e)) {
        duckdb_scalar_function_get_client_context(info, &ctx);
        duckdb_error_data err = duckdb_expression_fold(ctx, e, &v);
        if (err && duckdb_error_data_has_error(err) && v)
            duckdb_destroy_value(&v);
        if (err)
            duckdb_destroy_error_data(&err);
    }
    int64_t id = v && !duckdb_is_null_value(v) ? duckdb_get_int64(v) : 0;
    for (size_t i = 0; id > 0 && i < c->nrels && !found; i++)
        found = c->rels[i]->id == id ? c->rels[i] : NULL;
    if (!found) {
        duckdb_scalar_function_bind_set_error(info, "loch_keep reads a relation loch registered for the statement "
                                                    "running now; none has that id");
    } else {
        duckdb_scalar_function_set_bind_data(info, relation_copy(found), relation_unref);
        duckdb_scalar_function_set_bind_data_copy(info, relation_copy);
    }
    if (v)
        duckdb_destroy_value(&v);
    if (ctx)
        duckdb_destroy_client_context(&ctx);
    if (e)
        duckdb_destroy_expression(&e);
}

/* out[k] = whether row first + k is kept, for k < len, all rows inside the bitmap. */
static void keep_span(const uint64_t *bits, uint64_t first, uint64_t len, bool *out)
{
    uint64_t k = 0;
    for (; k < len && ((first + k) & 7); k++)
        out[k] = !(bits[(first + k) >> 6] >> ((first + k) & 63) & 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight rows at a time: byte j of a little-endian word holds its bits 8j..8j+7, and
     * the multiply spreads a byte's bits over eight bytes, each 0 or 1 (a bool). */
    const uint8_t *bytes = (const uint8_t *)bits;
    for (; k + 8 <= len; k += 8) {
        uint64_t b = bytes[(first + k) >> 3];
        uint64_t spread = ((((b * UINT64_C(0x0101010101010101)) & UINT64_C(0x8040201008040201)) +
                            UINT64_C(0x7F7F7F7F7F7F7F7F)) >> 7) & UINT64_C(0x0101010101010101);
        spread ^= UINT64_C(0x0101010101010101);
        memcpy(out + k, &spread, 8);
    }
#endif
    for (; k < len; k++)
        out[k] = !(bits[(first + k) >> 6] >> ((first + k) & 63) & 1);
}

static void keep_rows(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output)
{
    const relation *r = duckdb_scalar_function_get_bind_data(info);
    idx_t n = duckdb_data_chunk_get_size(input);
    duckdb_vector fv = duckdb_data_chunk_get_vector(input, 1), rv = duckdb_data_chunk_get_vector(input, 2);
    const uint64_t *file = duckdb_vector_get_data(fv);
    const int64_t *row_number = duckdb_vector_get_data(rv);
    const uint64_t *fvalid = duckdb_vector_get_validity(fv), *rvalid = duckdb_vector_get_validity(rv);
    bool *out = duckdb_vector_get_data(output);
    if (!fvalid && !rvalid) {
        /* The common case, and the hot loop of a scan with deletion vectors: a chunk's
         * rows mostly come from one file, so its set is looked up once per run. */
        static const skip_set none = {0};
        for (idx_t i = 0; i < n;) {
            if (file[i] >= r->nfiles) {
                duckdb_scalar_function_set_error(info, "loch_keep: a file index past the files of its scan");
                return;
            }
            uint64_t at = file[i], differ = 0;
            const skip_set *f = r->files[at] ? r->files[at] : &none;
            idx_t end = n;
            for (idx_t k = i; k < n; k++) /* no early exit: the compiler vectorizes it */
                differ |= file[k] ^ at;
            if (differ)
                for (end = i + 1; end < n && file[end] == at;)
                    end++;
            uint64_t first = (uint64_t)row_number[i], span = end - i;
            if (!f->bits && !f->count) {
                memset(out + i, 1, span); /* nothing skipped in this file */
                i = end;
            } else if (f->bits && row_number[i] >= 0 && (uint64_t)row_number[end - 1] == first + span - 1) {
                /* Consecutive rows (how a Parquet scan hands them over): no lookups
                 * past the bitmap's end, one shift per row. */
                uint64_t inside = first >= f->nbits ? 0 : f->nbits - first < span ? f->nbits - first : span;
                keep_span(f->bits, first, inside, out + i);
                memset(out + i + inside, 1, span - inside);
                i = end;
            } else if (f->bits) {
                const uint64_t *bits = f->bits, nbits = f->nbits;
                for (; i < end; i++) {
                    uint64_t row = (uint64_t)row_number[i]; /* a negative one is past nbits */
                    out[i] = row >= nbits || !(bits[row >> 6] >> (row & 63) & 1);
                }
            } else {
                for (; i < end; i++)
                    out[i] = row_number[i] < 0 || !skipped(f, (uint64_t)row_number[i]);
            }
        }
        return;
    }
    for (idx_t i = 0; i < n; i++) {
        if ((fvalid && !duckdb_validity_row_is_valid((uint64_t *)fvalid, i)) ||
            (rvalid && !duckdb_validity_row_is_valid((uint64_t *)rvalid, i))) {
            duckdb_vector_ensure_validity_writable(output);
            duckdb_validity_set_row_invalid(duckdb_vector_get_validity(output), i);
            continue;
        }
        if (file[i] >= r->nfiles) {
            duckdb_scalar_function_set_error(info, "loch_keep: a file index past the files of its scan");
            return;
        }
        out[i] = row_number[i] < 0 || !r->files[file[i]] || !skipped(r->files[file[i]], (uint64_t)row_number[i]);
    }
}

static int register_keep(compute *c)
{
    duckdb_scalar_function f = duckdb_create_scalar_function();
    duckdb_logical_type big = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_logical_type ubig = duckdb_create_logical_type(DUCKDB_TYPE_UBIGINT);
    duckdb_logical_type boolean = duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN);
    duckdb_scalar_function_set_name(f, "loch_keep");
    duckdb_scalar_function_add_parameter(f, big);
    duckdb_scalar_function_add_parameter(f, ubig);
    duckdb_scalar_function_add_parameter(f, big);
    duckdb_scalar_function_set_return_type(f, boolean);
    duckdb_scalar_function_set_extra_info(f, c, NULL);
    duckdb_scalar_function_set_bind(f, keep_bind);
    duckdb_scalar_function_set_function(f, keep_rows);
    int rc = duckdb_register_scalar_function(c->conn, f) == DuckDBError
                 ? error_set(LOCH_ERROR, "cannot give the SQL engine loch's row filter")
                 : 0;
    duckdb_destroy_scalar_function(&f);
    duckdb_destroy_logical_type(&big);
    duckdb_destroy_logical_type(&ubig);
    duckdb_destroy_logical_type(&boolean);
    return rc;
}

/* ---- vector functions (embed) ------------------------------------------------------ */

typedef struct {
    char name[64];
    size_t max_dim;
    compute_vector_fn fn;
    void *ctx;
    compute *c;
} vector_fn;

/* Texts a call of fn takes at once: the engine cannot stop a function it called, so
 * a chunk (2,048 rows, seconds of a model's work) goes in slices, and an interrupt
 * (a cancel, the server's time limit) ends it after the slice it came in, if fn has
 * not stopped first (the embedded model asks between its batches of about 5 texts).
 * A slice is enough batches to keep every core busy to its end (32 texts, 3 batches,
 * left one of two cores idle a third of the time). */
enum { VECTOR_SLICE = 256 };

/* The statement fails with fn's error, named by the function. */
static void vector_error(duckdb_function_info info, const vector_fn *v)
{
    char msg[1200];
    snprintf(msg, sizeof(msg), "%s: %s", v->name, loch_error_last()[0] ? loch_error_last() : "no vector");
    duckdb_scalar_function_set_error(info, msg);
}

static void vector_rows(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output)
{
    vector_fn *v = duckdb_scalar_function_get_extra_info(info);
    idx_t n = duckdb_data_chunk_get_size(input);
    duckdb_vector in = duckdb_data_chunk_get_vector(input, 0);
    duckdb_string_t *s = duckdb_vector_get_data(in);
    uint64_t *valid = duckdb_vector_get_validity(in);
    const char **texts = malloc((n ? n : 1) * sizeof(*texts));
    size_t *lens = malloc((n ? n : 1) * sizeof(*lens));
    idx_t *rows = malloc((n ? n : 1) * sizeof(*rows));
    float *out = NULL;
    size_t k = 0;
    int dim = 0;
    if (!texts || !lens || !rows) {
        duckdb_scalar_function_set_error(info, "out of memory");
        goto done;
    }
    for (idx_t i = 0; i < n; i++) {
        if (valid && !duckdb_validity_row_is_valid(valid, i))
            continue;
        texts[k] = duckdb_string_t_data(&s[i]);
        lens[k] = duckdb_string_t_length(s[i]);
        rows[k++] = i;
    }
    /* the dimension first, so a chunk's room is what it needs */
    if (k && (v->fn(v->ctx, NULL, NULL, 0, NULL, v->max_dim, &dim) < 0 || dim <= 0 || (size_t)dim > v->max_dim)) {
        vector_error(info, v);
        goto done;
    }
    if (k && !(out = malloc(k * (size_t)dim * sizeof(*out)))) {
        duckdb_scalar_function_set_error(info, "out of memory");
        goto done;
    }
    unsigned seen = atomic_load(&v->c->interrupts);
    for (size_t at = 0; at < k; at += VECTOR_SLICE) {
        size_t m = k - at < VECTOR_SLICE ? k - at : VECTOR_SLICE;
        int got = dim;
        if (atomic_load(&v->c->interrupts) != seen) {
            duckdb_scalar_function_set_error(info, "INTERRUPT Error: Interrupted!");
            goto done;
        }
        if (v->fn(v->ctx, texts + at, lens + at, m, out + at * (size_t)dim, (size_t)dim, &got) < 0 || got != dim) {
            vector_error(info, v);
            goto done;
        }
    }
    duckdb_list_vector_reserve(output, k * (size_t)dim);
    duckdb_list_vector_set_size(output, k * (size_t)dim);
    duckdb_list_entry *entries = duckdb_vector_get_data(output);
    float *child = duckdb_vector_get_data(duckdb_list_vector_get_child(output));
    if (k)
        memcpy(child, out, k * (size_t)dim * sizeof(*out));
    for (idx_t i = 0, j = 0; i < n; i++) {
        if (j < k && rows[j] == i) {
            entries[i] = (duckdb_list_entry){.offset = j * (size_t)dim, .length = (uint64_t)dim};
            j++;
        } else {
            entries[i] = (duckdb_list_entry){0, 0};
            duckdb_vector_ensure_validity_writable(output);
            duckdb_validity_set_row_invalid(duckdb_vector_get_validity(output), i);
        }
    }
done:
    free(texts);
    free(lens);
    free(rows);
    free(out);
}

/* Registers name(VARCHAR) -> elem[] with its rows function and extra info (freed with it). */
static int register_text_to_list(compute *c, const char *name, duckdb_type elem, duckdb_scalar_function_t rows,
                                 void *extra)
{
    duckdb_scalar_function f = duckdb_create_scalar_function();
    duckdb_logical_type text = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_logical_type et = duckdb_create_logical_type(elem);
    duckdb_logical_type list = duckdb_create_list_type(et);
    duckdb_scalar_function_set_name(f, name);
    duckdb_scalar_function_add_parameter(f, text);
    duckdb_scalar_function_set_return_type(f, list);
    duckdb_scalar_function_set_extra_info(f, extra, free);
    duckdb_scalar_function_set_function(f, rows);
    int rc = duckdb_register_scalar_function(c->conn, f) == DuckDBError
                 ? error_set(LOCH_ERROR, "cannot give the SQL engine the function %s", name)
                 : 0;
    duckdb_destroy_scalar_function(&f);
    duckdb_destroy_logical_type(&text);
    duckdb_destroy_logical_type(&et);
    duckdb_destroy_logical_type(&list);
    return rc;
}

int compute_register_vector_fn(compute *c, const char *name, size_t max_dim, compute_vector_fn fn, void *ctx)
{
    vector_fn *v = calloc(1, sizeof(*v));
    if (!v)
        return error_set(LOCH_ENOMEM, "out of memory");
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->max_dim = max_dim;
    v->fn = fn;
    v->ctx = ctx;
    v->c = c;
    return register_text_to_list(c, name, DUCKDB_TYPE_FLOAT, vector_rows, v);
}

/* ---- text splitting functions ------------------------------------------------------ */

typedef struct {
    char name[64];
    compute_split_fn fn;
    size_t lo, hi;
} split_fn;

static void split_rows(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output)
{
    split_fn *f = duckdb_scalar_function_get_extra_info(info);
    idx_t n = duckdb_data_chunk_get_size(input);
    duckdb_vector in = duckdb_data_chunk_get_vector(input, 0);
    duckdb_string_t *s = duckdb_vector_get_data(in);
    uint64_t *valid = duckdb_vector_get_validity(in);
    /* the size, when given: one a row */
    int sized = duckdb_data_chunk_get_column_count(input) > 1;
    duckdb_vector av = sized ? duckdb_data_chunk_get_vector(input, 1) : NULL;
    int32_t *arg = sized ? duckdb_vector_get_data(av) : NULL;
    uint64_t *arg_valid = sized ? duckdb_vector_get_validity(av) : NULL;
    size_t cap = 64, total = 0;
    size_t *pairs = malloc(2 * cap * sizeof(*pairs));
    duckdb_list_entry *entries = duckdb_vector_get_data(output);
    duckdb_vector child = duckdb_list_vector_get_child(output);
    char why[160] = "out of memory";
    int failed = !pairs;
    for (idx_t i = 0; !failed && i < n; i++) {
        if ((valid && !duckdb_validity_row_is_valid(valid, i)) ||
            (arg_valid && !duckdb_validity_row_is_valid(arg_valid, i))) {
            entries[i] = (duckdb_list_entry){0, 0};
            duckdb_vector_ensure_validity_writable(output);
            duckdb_validity_set_row_invalid(duckdb_vector_get_validity(output), i);
            continue;
        }
        if (sized && (arg[i] < 0 || (size_t)arg[i] < f->lo || (size_t)arg[i] > f->hi)) {
            snprintf(why, sizeof(why), "%s: its size must be from %zu to %zu, not %d", f->name, f->lo, f->hi,
                     (int)arg[i]);
            failed = 1;
            break;
        }
        size_t size = sized ? (size_t)arg[i] : 0;
        const char *text = duckdb_string_t_data(&s[i]);
        size_t len = duckdb_string_t_length(s[i]), got = f->fn(text, len, size, pairs, cap);
        if (got > cap) { /* room for all, and again */
            size_t *more = realloc(pairs, 2 * got * sizeof(*pairs));
            if (!more) {
                failed = 1;
                break;
            }
            pairs = more, cap = got;
            got = f->fn(text, len, size, pairs, cap);
        }
        if (duckdb_list_vector_reserve(output, total + got) == DuckDBError) {
            failed = 1;
            break;
        }
        child = duckdb_list_vector_get_child(output); /* a reserve may have moved it */
        for (size_t j = 0; j < got; j++)
            duckdb_vector_assign_string_element_len(child, total + j, text + pairs[2 * j], pairs[2 * j + 1]);
        entries[i] = (duckdb_list_entry){.offset = total, .length = got};
        total += got;
        duckdb_list_vector_set_size(output, total);
    }
    free(pairs);
    if (failed)
        duckdb_scalar_function_set_error(info, why);
}

int compute_register_split_fn(compute *c, const char *name, compute_split_fn fn, size_t lo, size_t hi)
{
    /* two overloads, name(text) and name(text, size), each with its own copy of f */
    duckdb_scalar_function_set set = duckdb_create_scalar_function_set(name);
    duckdb_logical_type text = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_logical_type size = duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
    duckdb_logical_type list = duckdb_create_list_type(text);
    int rc = 0;
    for (int sized = 0; rc == 0 && sized < 2; sized++) {
        split_fn *sf = calloc(1, sizeof(*sf));
        if (!sf) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        snprintf(sf->name, sizeof(sf->name), "%s", name);
        sf->fn = fn, sf->lo = lo, sf->hi = hi;
        duckdb_scalar_function f = duckdb_create_scalar_function();
        duckdb_scalar_function_set_name(f, name);
        duckdb_scalar_function_add_parameter(f, text);
        if (sized)
            duckdb_scalar_function_add_parameter(f, size);
        duckdb_scalar_function_set_return_type(f, list);
        duckdb_scalar_function_set_extra_info(f, sf, free);
        duckdb_scalar_function_set_function(f, split_rows);
        if (duckdb_add_scalar_function_to_set(set, f) == DuckDBError)
            rc = error_set(LOCH_ERROR, "cannot give the SQL engine the function %s", name);
        duckdb_destroy_scalar_function(&f);
    }
    if (rc == 0 && duckdb_register_scalar_function_set(c->conn, set) == DuckDBError)
        rc = error_set(LOCH_ERROR, "cannot give the SQL engine the function %s", name);
    duckdb_destroy_scalar_function_set(&set);
    duckdb_destroy_logical_type(&text);
    duckdb_destroy_logical_type(&size);
    duckdb_destroy_logical_type(&list);
    return rc;
}

/* ---- search table functions ------------------------------------------------------- */

typedef struct {
    compute_search_fn fn;
    void *ctx;
} search_fn;

typedef struct {
    compute_search_rows rows;
    size_t at; /* rows handed out */
} search_bind;

static void search_bind_free(void *p)
{
    search_bind *b = p;
    for (size_t i = 0; b && i < b->rows.n; i++)
        free(b->rows.keys[i]);
    if (b)
        free(b->rows.keys), free(b->rows.chunks), free(b->rows.scores);
    free(b);
}

static char *param_text(duckdb_bind_info info, idx_t i)
{
    duckdb_value v = duckdb_bind_get_parameter(info, i);
    char *s = v && !duckdb_is_null_value(v) ? duckdb_get_varchar(v) : NULL;
    duckdb_destroy_value(&v);
    return s;
}

static void search_bind_fn(duckdb_bind_info info)
{
    search_fn *f = duckdb_bind_get_extra_info(info);
    search_bind *b = calloc(1, sizeof(*b));
    char *table = param_text(info, 0), *column = param_text(info, 1), *query = param_text(info, 2);
    duckdb_value kv = duckdb_bind_get_named_parameter(info, "k");
    int64_t k = kv && !duckdb_is_null_value(kv) ? duckdb_get_int64(kv) : 10;
    duckdb_destroy_value(&kv);
    if (!b) {
        duckdb_bind_set_error(info, "out of memory");
    } else if (!table || !column || !query) {
        duckdb_bind_set_error(info, "a search takes a table, a column and a query (none of them NULL)");
    } else if (k < 1 || k > 100000) {
        duckdb_bind_set_error(info, "k is the number of rows to return, 1 to 100000");
    } else if (f->fn(f->ctx, table, column, query, k, &b->rows) < 0) {
        duckdb_bind_set_error(info, loch_error_last());
    } else {
        duckdb_logical_type kt = duckdb_create_logical_type(b->rows.key_is_int ? DUCKDB_TYPE_BIGINT : DUCKDB_TYPE_VARCHAR);
        duckdb_logical_type st = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
        duckdb_logical_type ct = duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
        duckdb_bind_add_result_column(info, b->rows.key_name, kt);
        duckdb_bind_add_result_column(info, "chunk", ct);
        duckdb_bind_add_result_column(info, "score", st);
        duckdb_destroy_logical_type(&kt);
        duckdb_destroy_logical_type(&st);
        duckdb_destroy_logical_type(&ct);
        duckdb_bind_set_bind_data(info, b, search_bind_free);
        b = NULL;
    }
    search_bind_free(b);
    duckdb_free(table), duckdb_free(column), duckdb_free(query);
}

static void search_init_fn(duckdb_init_info info) { (void)info; }

static void search_rows_fn(duckdb_function_info info, duckdb_data_chunk out)
{
    search_bind *b = duckdb_function_get_bind_data(info);
    idx_t cap = duckdb_vector_size(), n = 0;
    duckdb_vector kv = duckdb_data_chunk_get_vector(out, 0), cv = duckdb_data_chunk_get_vector(out, 1),
                  sv = duckdb_data_chunk_get_vector(out, 2);
    float *score = duckdb_vector_get_data(sv);
    int32_t *chunk = duckdb_vector_get_data(cv);
    int64_t *ikey = b->rows.key_is_int ? duckdb_vector_get_data(kv) : NULL;
    for (; n < cap && b->at < b->rows.n; n++, b->at++) {
        const char *k = b->rows.keys[b->at];
        if (ikey)
            ikey[n] = strtoll(k, NULL, 10);
        else
            duckdb_vector_assign_string_element(kv, n, k);
        chunk[n] = b->rows.chunks[b->at];
        score[n] = b->rows.scores[b->at];
    }
    duckdb_data_chunk_set_size(out, n);
}

int compute_register_search_fn(compute *c, const char *name, compute_search_fn fn, void *ctx)
{
    search_fn *f = calloc(1, sizeof(*f));
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    f->fn = fn, f->ctx = ctx;
    duckdb_table_function t = duckdb_create_table_function();
    duckdb_logical_type text = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_logical_type big = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_table_function_set_name(t, name);
    for (int i = 0; i < 3; i++)
        duckdb_table_function_add_parameter(t, text);
    duckdb_table_function_add_named_parameter(t, "k", big);
    duckdb_table_function_set_extra_info(t, f, free);
    duckdb_table_function_set_bind(t, search_bind_fn);
    duckdb_table_function_set_init(t, search_init_fn);
    duckdb_table_function_set_function(t, search_rows_fn);
    int rc = duckdb_register_table_function(c->conn, t) == DuckDBError
                 ? error_set(LOCH_ERROR, "cannot give the SQL engine the function %s", name)
                 : 0;
    duckdb_destroy_table_function(&t);
    duckdb_destroy_logical_type(&text);
    duckdb_destroy_logical_type(&big);
    return rc;
}

/* ---- open / exec ----------------------------------------------------------------- */

static int engine_error(const char *msg)
{
    /* Parser errors arrive with their "LINE n:" excerpt twice; keep one. */
    const char *first = strstr(msg, "\n\nLINE "), *second = first ? strstr(first + 1, "\n\nLINE ") : NULL;
    int keep = (int)strlen(msg);
    if (second && strlen(second) == (size_t)(second - first) &&
        strncmp(first, second, (size_t)(second - first)) == 0)
        keep = (int)(second - msg);
    int code = LOCH_EINVALID;
    if (resolver_code) { /* loch's own message, without the engine's wrapping */
        static const char wrap[] = "Binder Error: Error in replacement scan: ";
        code = resolver_code;
        resolver_code = 0;
        if (strncmp(msg, wrap, sizeof(wrap) - 1) == 0 && keep >= (int)sizeof(wrap) - 1) {
            msg += sizeof(wrap) - 1;
            keep -= (int)sizeof(wrap) - 1;
        }
        return error_set(code, "%.*s", keep, msg);
    }
    if (strstr(msg, "Permission Error") || strstr(msg, "disabled by configuration"))
        code = LOCH_EPERM;
    else if (strstr(msg, "Interrupted"))
        code = LOCH_EINTERRUPTED;
    else if (strstr(msg, "Out of Memory"))
        code = LOCH_ENOMEM;
    else if (strstr(msg, "IO Error"))
        code = LOCH_EIO;
    else if (strstr(msg, "Catalog Error: Table with name") && strstr(msg, "does not exist"))
        code = LOCH_ENOTFOUND; /* a table name no lake table and no engine object answers to */
    return error_set(code, "%.*s", keep, msg);
}

int compute_exec(compute *c, const char *sql)
{
    duckdb_result r;
    int rc = 0;
    if (duckdb_query(c->conn, sql, &r) == DuckDBError)
        rc = engine_error(duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    return rc;
}

/* The first function of deny that the parse tree calls, at any depth, or NULL. */
static const char *calls_denied(const json *v, const char *const *deny)
{
    if (!v || !deny)
        return NULL;
    if (v->type == JSON_OBJECT) {
        const char *fn = json_get_str(v, "function_name");
        for (size_t i = 0; fn && deny[i]; i++)
            if (strcasecmp(fn, deny[i]) == 0)
                return deny[i];
    }
    for (const json *ch = v->type == JSON_OBJECT || v->type == JSON_ARRAY ? v->child : NULL; ch; ch = ch->next) {
        const char *hit = calls_denied(ch, deny);
        if (hit)
            return hit;
    }
    return NULL;
}

int compute_is_query(compute *c, const char *sql, const char *const *deny, int *is_query)
{
    /* json_serialize_sql is the engine's parser with no binder behind it; it serializes
     * SELECT statements only and says so for anything else. */
    duckdb_prepared_statement ps = NULL;
    duckdb_result r;
    arena a = ARENA_INIT;
    json *doc = NULL;
    int rc = 0, have = 0;
    *is_query = 0;
    if (duckdb_prepare(c->side, "SELECT system.main.json_serialize_sql($1::VARCHAR)", &ps) == DuckDBError ||
        duckdb_bind_varchar(ps, 1, sql) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(ps) ? duckdb_prepare_error(ps) : "cannot check the statement");
        goto cleanup;
    }
    have = duckdb_execute_prepared(ps, &r) != DuckDBError;
    char *text = have ? duckdb_value_varchar(&r, 0, 0) : NULL;
    if (!text) {
        rc = engine_error(have ? "cannot check the statement" : duckdb_result_error(&r));
    } else if ((rc = json_parse(&a, text, strlen(text), &doc)) == 0) {
        const json *stmts = json_get(doc, "statements");
        const char *msg = json_get_str(doc, "error_message");
        const char *denied = calls_denied(stmts, deny);
        if (!json_get_bool(doc, "error", false) && denied)
            rc = error_set(LOCH_EPERM, "the function %s is not allowed here", denied);
        else if (!json_get_bool(doc, "error", false) && stmts && stmts->type == JSON_ARRAY && stmts->len == 1)
            *is_query = 1;
        else if (!json_get_bool(doc, "error", false))
            rc = stmts && stmts->len > 1 ? error_set(LOCH_EINVALID, "expected one statement, the engine reads %zu",
                                                     stmts->len)
                                         : error_set(LOCH_EINVALID, "no SQL statement given");
        else if (msg && !strstr(msg, "Only SELECT statements"))
            rc = error_set(LOCH_EINVALID, "Parser Error: %s", msg);
    }
    duckdb_free(text);
cleanup:
    if (have)
        duckdb_destroy_result(&r);
    duckdb_destroy_prepare(&ps);
    arena_free(&a);
    return rc;
}

int compute_unshadow(compute *c)
{
    static const char *find =
        "SELECT database_name, schema_name, function_name, function_type FROM duckdb_functions() "
        "WHERE NOT internal AND function_name = 'query' LIMIT 1";
    duckdb_result r;
    int rc = 0;
    if (duckdb_query(c->conn, find, &r) == DuckDBError) { /* temp macros are the connection's own */
        rc = engine_error(duckdb_result_error(&r));
    } else if (duckdb_row_count(&r) > 0) {
        char *db = duckdb_value_varchar(&r, 0, 0), *sch = duckdb_value_varchar(&r, 1, 0);
        char *fn = duckdb_value_varchar(&r, 2, 0), *type = duckdb_value_varchar(&r, 3, 0);
        buf drop = BUF_INIT;
        int bad = !db || !sch || !fn || !type ||
                  buf_printf(&drop, "DROP MACRO %sIF EXISTS ", type && strstr(type, "table") ? "TABLE " : "") ||
                  buf_put_sql_ident(&drop, db) || buf_putc(&drop, '.') || buf_put_sql_ident(&drop, sch) ||
                  buf_putc(&drop, '.') || buf_put_sql_ident(&drop, fn);
        if (!bad)
            compute_exec(c, drop.data);
        rc = error_set(LOCH_EINVALID, "a macro may not be named %s: loch's table scans call the engine's own "
                       "function of that name (the macro was dropped)", fn ? fn : "so");
        buf_free(&drop);
        duckdb_free(db);
        duckdb_free(sch);
        duckdb_free(fn);
        duckdb_free(type);
    }
    duckdb_destroy_result(&r);
    return rc;
}

int compute_exec_one(compute *c, const char *sql)
{
    duckdb_extracted_statements ex = NULL;
    duckdb_prepared_statement ps = NULL;
    duckdb_result r;
    int rc = 0;
    idx_t n = duckdb_extract_statements(c->conn, sql, &ex);
    if (n != 1) {
        const char *e = n == 0 && ex ? duckdb_extract_statements_error(ex) : NULL;
        rc = e ? engine_error(e)
               : error_set(LOCH_EINVALID, "expected one statement, the engine reads %llu", (unsigned long long)n);
    } else if (duckdb_prepare_extracted_statement(c->conn, ex, 0, &ps) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(ps));
    } else {
        if (duckdb_execute_prepared(ps, &r) == DuckDBError)
            rc = engine_error(duckdb_result_error(&r));
        duckdb_destroy_result(&r);
    }
    if (ps)
        duckdb_destroy_prepare(&ps);
    duckdb_destroy_extracted(&ex);
    return rc;
}

static int configure(compute *c, const compute_options *o)
{
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "SET autoinstall_known_extensions=false; SET autoload_known_extensions=false;"
                            "SET parquet_metadata_cache=true;"
                            /* progress is tracked only when asked (compute_track_progress),
                             * and never printed */
                            "SET enable_progress_bar=false; SET enable_progress_bar_print=false;");
    if (!rc && o->memory_limit)
        rc = buf_puts(&sql, "SET memory_limit=") || buf_put_sql_str(&sql, o->memory_limit) ||
             buf_puts(&sql, ";") ? LOCH_ENOMEM : 0;
    if (!rc && o->threads > 0)
        rc = buf_printf(&sql, "SET threads=%d;", o->threads);
    if (!rc && o->lake_root) {
        /* Spilled data goes inside the lake, where loch sweeps a dead process's (by the pid
         * in the name), never to a .tmp in whatever directory the process started in. */
        static atomic_int serial;
        buf dir = BUF_INIT;
        rc = buf_printf(&dir, "%s/_loch/tmp/spill-%d-%d", o->lake_root, (int)getpid(), atomic_fetch_add(&serial, 1));
        rc = rc || buf_puts(&sql, "SET temp_directory=") || buf_put_sql_str(&sql, dir.data) || buf_puts(&sql, ";")
                 ? LOCH_ENOMEM : 0;
        buf_free(&dir);
    }
    if (!rc && o->sandbox) {
        rc = buf_puts(&sql, "SET allowed_directories=[") || buf_put_sql_str(&sql, o->lake_root) ||
             buf_puts(&sql, "]; SET enable_external_access=false; SET allow_community_extensions=false;"
                            " SET lock_configuration=true;") ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : compute_exec(c, sql.data);
    buf_free(&sql);
    return rc;
}

int compute_open(compute **out, const compute_options *opts, compute_resolver resolver, void *ctx)
{
    compute *c = calloc(1, sizeof(*c));
    duckdb_config cfg = NULL;
    char *err = NULL;
    int rc = 0;
    *out = NULL;
    if (!c)
        return error_set(LOCH_ENOMEM, "out of memory");
    c->resolver = resolver;
    c->ctx = ctx;
    if (duckdb_create_config(&cfg) == DuckDBError) {
        rc = error_set(LOCH_ENOMEM, "cannot create the SQL engine's configuration");
        goto cleanup;
    }
    duckdb_set_config(cfg, "allow_unsigned_extensions", "false");
    if (duckdb_open_ext(NULL, &c->db, cfg, &err) == DuckDBError) {
        rc = error_set(LOCH_ERROR, "cannot start the SQL engine: %s", err ? err : "?");
        goto cleanup;
    }
    if (duckdb_connect(c->db, &c->conn) == DuckDBError || duckdb_connect(c->db, &c->side) == DuckDBError) {
        rc = error_set(LOCH_ERROR, "cannot connect to the SQL engine");
        goto cleanup;
    }
    duckdb_add_replacement_scan(c->db, replacement, c, NULL);
    if ((rc = register_keep(c)) < 0 || (rc = configure(c, opts)) < 0)
        goto cleanup;
    *out = c;
    c = NULL;
cleanup:
    if (err)
        duckdb_free(err);
    if (cfg)
        duckdb_destroy_config(&cfg);
    compute_free(c);
    return rc;
}

void compute_free(compute *c)
{
    if (!c)
        return;
    compute_relations_clear(c); /* plans still holding one let go when the engine closes */
    free(c->rels);
    cache_clear(&c->cache);
    if (c->conn)
        duckdb_disconnect(&c->conn);
    if (c->side)
        duckdb_disconnect(&c->side);
    if (c->db)
        duckdb_close(&c->db);
    free(c);
}

void compute_interrupt(compute *c)
{
    if (c && c->conn) {
        atomic_fetch_add(&c->interrupts, 1);
        duckdb_interrupt(c->conn);
    }
}

unsigned compute_interrupts(compute *c) { return c ? atomic_load(&c->interrupts) : 0; }

int compute_put_path(buf *sql, const char *path)
{
    /* DuckDB's glob has no escape character; a one-character class matches the
     * character itself, and a name with no match falls back to the literal name, so the
     * bracketed form reads exactly this file whether or not a sibling matches. */
    int rc = buf_putc(sql, '\'');
    for (const char *p = path; rc == 0 && *p; p++) {
        if (*p == '*' || *p == '?' || *p == '[')
            rc = buf_printf(sql, "[%c]", *p);
        else
            rc = *p == '\'' ? buf_puts(sql, "''") : buf_putc(sql, *p);
    }
    return rc ? rc : buf_putc(sql, '\'');
}

int compute_register_arrow(compute *c, const char *name, struct ArrowArrayStream *stream)
{
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "DROP VIEW IF EXISTS ") || buf_put_sql_ident(&sql, name) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec(c, sql.data);
    buf_free(&sql);
    if (rc == 0 && duckdb_arrow_scan(c->conn, name, (duckdb_arrow_stream)stream) != DuckDBSuccess)
        rc = error_set(LOCH_ERROR, "the engine could not read the Arrow data (a type it does not know?)");
    return rc;
}

int compute_track_progress(compute *c, bool on)
{
    return compute_exec_one(c, on ? "SET enable_progress_bar=true" : "SET enable_progress_bar=false");
}

double compute_progress(compute *c, int64_t *rows)
{
    *rows = 0;
    if (!c || !c->conn)
        return -1;
    duckdb_query_progress_type p = duckdb_query_progress(c->conn);
    if (p.percentage < 0)
        return -1;
    *rows = (int64_t)p.rows_processed;
    return p.percentage / 100.0;
}

/* ---- results ------------------------------------------------------------------- */

static const char *simple_type_name(duckdb_type t);

static bool is_nested(duckdb_type t)
{
    return t == DUCKDB_TYPE_LIST || t == DUCKDB_TYPE_ARRAY || t == DUCKDB_TYPE_STRUCT || t == DUCKDB_TYPE_MAP ||
           t == DUCKDB_TYPE_UNION;
}

/* How a column of type t renders in JSON: a number, a boolean, nested, or a string. */
static compute_kind kind_of(duckdb_type t)
{
    switch (t) {
    case DUCKDB_TYPE_BOOLEAN: return COMPUTE_BOOL;
    case DUCKDB_TYPE_TINYINT: case DUCKDB_TYPE_SMALLINT: case DUCKDB_TYPE_INTEGER: case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT: case DUCKDB_TYPE_USMALLINT: case DUCKDB_TYPE_UINTEGER: case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT: case DUCKDB_TYPE_UHUGEINT: case DUCKDB_TYPE_FLOAT: case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DECIMAL: case DUCKDB_TYPE_BIGNUM:
        return COMPUTE_NUMBER;
    default:
        return is_nested(t) ? COMPUTE_NESTED : COMPUTE_STRING;
    }
}

/* Types whose values the C API's text conversion does not render (zoned times need the
 * time zone extension's casts; BIT and BIGNUM come out empty): the engine casts them to
 * text itself. */
static bool is_zoned(duckdb_type t)
{
    return t == DUCKDB_TYPE_TIMESTAMP_TZ || t == DUCKDB_TYPE_TIME_TZ || t == DUCKDB_TYPE_BIT || t == DUCKDB_TYPE_BIGNUM;
}

/* A SELECT whose result has nested columns is wrapped so they arrive as JSON text
 * (the C API cannot render them), and zoned times as text; returns 1 and fills
 * sql/nested when it did. */
static int wrap_nested(duckdb_prepared_statement ps, const char *query, buf *sql, duckdb_type **nested)
{
    idx_t n = duckdb_prepared_statement_column_count(ps);
    bool any = false;
    if (duckdb_prepared_statement_type(ps) != DUCKDB_STATEMENT_TYPE_SELECT)
        return 0;
    for (idx_t i = 0; i < n; i++) {
        duckdb_type t = duckdb_prepared_statement_column_type(ps, i);
        any = any || is_nested(t) || is_zoned(t);
    }
    if (!any || !(*nested = calloc(n, sizeof(duckdb_type))))
        return 0;
    int rc = buf_puts(sql, "SELECT ");
    for (idx_t i = 0; rc == 0 && i < n; i++) {
        duckdb_type t = duckdb_prepared_statement_column_type(ps, i);
        const char *name = duckdb_prepared_statement_column_name(ps, i);
        (*nested)[i] = is_nested(t) || is_zoned(t) ? t : (duckdb_type)0; /* the type to show */
        rc = buf_printf(sql, is_nested(t) ? "%ssystem.main.to_json(#%llu)::VARCHAR AS " : is_zoned(t) ? "%s#%llu::VARCHAR AS "
                                                                                         : "%s#%llu AS ",
                        i ? ", " : "", (unsigned long long)i + 1) ||
                     buf_put_sql_ident(sql, name ? name : "") ? LOCH_ENOMEM : 0;
        duckdb_free((void *)name);
    }
    rc = rc ? rc : buf_printf(sql, " FROM (\n%s\n)", query);
    return rc == 0;
}

/* A JSON number, exactly: int64, then a 128-bit integer, then a double; a value none of
 * them holds (past 128 bits, or a double's range) is an error, never a neighbour. */
static int bind_number(duckdb_prepared_statement ps, idx_t at, const char *text)
{
    char *end;
    errno = 0;
    if (!strpbrk(text, ".eE")) {
        long long v = strtoll(text, &end, 10);
        if (errno == 0 && !*end)
            return duckdb_bind_int64(ps, at, v) == DuckDBError ? -1 : 0;
        __extension__ typedef unsigned __int128 u128;
        const char *d = text + (*text == '-');
        u128 mag = 0, cap = ((u128)1 << 127) - 1 + (*text == '-'); /* |INT128_MIN| = INT128_MAX + 1 */
        for (; *d >= '0' && *d <= '9'; d++) {
            if (mag > (cap - (u128)(*d - '0')) / 10)
                return 1;
            mag = mag * 10 + (u128)(*d - '0');
        }
        if (*d || d == text + (*text == '-'))
            return 1;
        u128 bits = *text == '-' ? ~mag + 1 : mag; /* two's complement */
        duckdb_hugeint h = {(uint64_t)bits, (int64_t)(uint64_t)(bits >> 64)};
        return duckdb_bind_hugeint(ps, at, h) == DuckDBError ? -1 : 0;
    }
    double v = strtod(text, &end);
    if (*end || errno == ERANGE || isinf(v))
        return 1;
    return duckdb_bind_double(ps, at, v) == DuckDBError ? -1 : 0;
}

static int bind_params(duckdb_prepared_statement ps, const compute_param *params, size_t n)
{
    if (n != (size_t)duckdb_nparams(ps))
        return error_set(LOCH_EINVALID, "the query has %llu parameter%s and %zu value%s given",
                         (unsigned long long)duckdb_nparams(ps), duckdb_nparams(ps) == 1 ? "" : "s", n,
                         n == 1 ? " was" : "s were");
    for (size_t i = 0; i < n; i++) {
        idx_t at = (idx_t)i + 1;
        const compute_param *p = &params[i];
        duckdb_state st;
        if (!p->text)
            st = duckdb_bind_null(ps, at);
        else if (p->kind == COMPUTE_BOOL)
            st = duckdb_bind_boolean(ps, at, strcmp(p->text, "true") == 0);
        else if (p->kind == COMPUTE_NUMBER) {
            int r = bind_number(ps, at, p->text);
            if (r > 0)
                return error_set(LOCH_EINVALID, "parameter $%zu: %s is out of range (a 128-bit integer or a "
                                 "double is the most a number parameter holds; pass it as a string to cast it)",
                                 i + 1, p->text);
            st = r < 0 ? DuckDBError : DuckDBSuccess;
        } else
            st = duckdb_bind_varchar(ps, at, p->text);
        if (st == DuckDBError)
            return error_set(LOCH_EINVALID, "parameter $%zu cannot take the value given", i + 1);
    }
    return 0;
}

int compute_query_params(compute *c, const char *sql, const compute_param *params, size_t nparams,
                         compute_result **out)
{
    compute_result *r = calloc(1, sizeof(*r));
    duckdb_prepared_statement ps = NULL;
    buf wrapped = BUF_INIT;
    duckdb_state st;
    int rc = 0;
    *out = NULL;
    if (!r)
        return error_set(LOCH_ENOMEM, "out of memory");
    if (duckdb_prepare(c->conn, sql, &ps) == DuckDBError) {
        if (nparams) { /* a statement that does not prepare cannot take parameters */
            rc = engine_error(duckdb_prepare_error(ps));
            duckdb_destroy_prepare(&ps);
            free(r);
            return rc;
        }
        /* Not every statement prepares; running it gives the real answer or error. */
        st = duckdb_query(c->conn, sql, &r->res);
    } else {
        if (wrap_nested(ps, sql, &wrapped, &r->nested)) {
            duckdb_destroy_prepare(&ps);
            if (duckdb_prepare(c->conn, wrapped.data, &ps) == DuckDBError) {
                rc = engine_error(duckdb_prepare_error(ps));
                duckdb_destroy_prepare(&ps);
                buf_free(&wrapped);
                free(r->nested);
                free(r);
                return rc;
            }
        }
        if ((rc = bind_params(ps, params, nparams)) < 0) {
            duckdb_destroy_prepare(&ps);
            buf_free(&wrapped);
            free(r->nested);
            free(r);
            return rc;
        }
        st = duckdb_execute_prepared(ps, &r->res);
    }
    if (st == DuckDBError) {
        rc = engine_error(duckdb_result_error(&r->res));
        duckdb_destroy_result(&r->res);
        free(r->nested);
        free(r);
        r = NULL;
    }
    if (ps)
        duckdb_destroy_prepare(&ps);
    buf_free(&wrapped);
    *out = r;
    return rc;
}

int compute_query(compute *c, const char *sql, compute_result **out)
{
    return compute_query_params(c, sql, NULL, 0, out);
}

/* ---- streamed results ------------------------------------------------------------------ */

/* A query's rows a chunk at a time, every column cast to text by the engine (nested
 * values as JSON), so a result of any size passes through a fixed amount of memory.
 * Streaming execution is marked deprecated in DuckDB 1.4's C API with no replacement
 * yet; it is used here only. */
struct compute_stream {
    int arrow;               /* chunks go out as Arrow arrays, types kept */
    duckdb_arrow_options aopts;
    duckdb_prepared_statement ps;
    duckdb_pending_result pending;
    duckdb_result res;
    int have_res;
    duckdb_data_chunk chunk;
    size_t ncols;
    char **names, **types;
    compute_kind *kinds;
    duckdb_string_t **data;
    uint64_t **valid;
};

void compute_stream_free(compute_stream *s)
{
    if (!s)
        return;
    if (s->chunk)
        duckdb_destroy_data_chunk(&s->chunk);
    if (s->aopts)
        duckdb_destroy_arrow_options(&s->aopts);
    if (s->have_res)
        duckdb_destroy_result(&s->res);
    if (s->pending)
        duckdb_destroy_pending(&s->pending);
    if (s->ps)
        duckdb_destroy_prepare(&s->ps);
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->names ? s->names[i] : NULL);
        free(s->types ? s->types[i] : NULL);
    }
    free(s->names);
    free(s->types);
    free(s->kinds);
    free(s->data);
    free(s->valid);
    free(s);
}


/* The columns sql has with these parameter values: the statement run for no rows. */
static int bound_shape(compute *c, const char *sql, const compute_param *params, size_t nparams, duckdb_result *out)
{
    buf probe = BUF_INIT;
    duckdb_prepared_statement ps = NULL;
    int rc = buf_printf(&probe, "SELECT * FROM (\n%s\n) LIMIT 0", sql);
    if (rc == 0 && duckdb_prepare(c->conn, probe.data, &ps) == DuckDBError)
        rc = engine_error(duckdb_prepare_error(ps));
    rc = rc ? rc : bind_params(ps, params, nparams);
    if (rc == 0 && duckdb_execute_prepared(ps, out) == DuckDBError) {
        rc = engine_error(duckdb_result_error(out));
        duckdb_destroy_result(out);
    }
    duckdb_destroy_prepare(&ps);
    buf_free(&probe);
    return rc;
}

int compute_stream_open(compute *c, const char *sql, const compute_param *params, size_t nparams,
                        compute_stream **out)
{
    compute_stream *s = calloc(1, sizeof(*s));
    duckdb_result shape;
    int have_shape = 0;
    duckdb_prepared_statement first = NULL;
    buf wrapped = BUF_INIT;
    int rc = 0;
    *out = NULL;
    if (!s)
        return error_set(LOCH_ENOMEM, "out of memory");
    if (duckdb_prepare(c->conn, sql, &first) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(first));
        goto fail;
    }
    if (duckdb_prepared_statement_type(first) != DUCKDB_STATEMENT_TYPE_SELECT) {
        rc = error_set(LOCH_EUNSUPPORTED, "only queries stream");
        goto fail;
    }
    /* A parameter whose type the statement alone does not tell ($1 AS p) leaves its
     * column unknown until values are bound: then the shape comes from the statement
     * run with them and no rows. */
    for (idx_t i = 0; nparams && !have_shape && i < duckdb_prepared_statement_column_count(first); i++)
        have_shape = duckdb_prepared_statement_column_type(first, i) == DUCKDB_TYPE_INVALID;
    if (have_shape && (rc = bound_shape(c, sql, params, nparams, &shape)) < 0) {
        have_shape = 0;
        goto fail;
    }
    s->ncols = have_shape ? (size_t)duckdb_column_count(&shape) : (size_t)duckdb_prepared_statement_column_count(first);
    s->names = calloc(s->ncols + 1, sizeof(char *));
    s->types = calloc(s->ncols + 1, sizeof(char *));
    s->kinds = calloc(s->ncols + 1, sizeof(compute_kind));
    s->data = calloc(s->ncols + 1, sizeof(duckdb_string_t *));
    s->valid = calloc(s->ncols + 1, sizeof(uint64_t *));
    if (!s->names || !s->types || !s->kinds || !s->data || !s->valid) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    rc = buf_puts(&wrapped, "SELECT ") ? LOCH_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < s->ncols; i++) {
        duckdb_type t = have_shape ? duckdb_column_type(&shape, (idx_t)i)
                                   : duckdb_prepared_statement_column_type(first, (idx_t)i);
        const char *name = have_shape ? duckdb_column_name(&shape, (idx_t)i)
                                      : duckdb_prepared_statement_column_name(first, (idx_t)i);
        s->names[i] = strdup(name ? name : "");
        s->types[i] = strdup(simple_type_name(t));
        s->kinds[i] = kind_of(t);
        if (!have_shape)
            duckdb_free((void *)name);
        rc = !s->names[i] || !s->types[i] ? LOCH_ENOMEM : 0;
        rc = rc || buf_printf(&wrapped, is_nested(t) ? "%ssystem.main.to_json(#%zu)::VARCHAR" : "%s#%zu::VARCHAR", i ? ", " : "",
                              i + 1) ? LOCH_ENOMEM : 0;
    }
    rc = rc || buf_printf(&wrapped, " FROM (\n%s\n)", sql) ? LOCH_ENOMEM : rc; /* a -- comment ends at the line */
    if (rc < 0) {
        error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    if (duckdb_prepare(c->conn, wrapped.data, &s->ps) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(s->ps));
        goto fail;
    }
    if ((rc = bind_params(s->ps, params, nparams)) < 0)
        goto fail;
    if (duckdb_pending_prepared_streaming(s->ps, &s->pending) == DuckDBError) {
        rc = engine_error(duckdb_pending_error(s->pending));
        goto fail;
    }
    if (duckdb_execute_pending(s->pending, &s->res) == DuckDBError) {
        s->have_res = 1;
        rc = engine_error(duckdb_result_error(&s->res));
        goto fail;
    }
    s->have_res = 1;
    duckdb_destroy_prepare(&first);
    if (have_shape)
        duckdb_destroy_result(&shape);
    buf_free(&wrapped);
    *out = s;
    return 0;
fail:
    if (first)
        duckdb_destroy_prepare(&first);
    if (have_shape)
        duckdb_destroy_result(&shape);
    buf_free(&wrapped);
    compute_stream_free(s);
    return rc;
}

/* A query whose chunks are fetched one at a time (compute_query_i64, _vectors). */
typedef struct {
    duckdb_prepared_statement ps;
    duckdb_pending_result pending;
    duckdb_result res;
    int have_res;
} streaming;

static int streaming_run(compute *c, const char *sql, streaming *q)
{
    if (duckdb_prepare(c->conn, sql, &q->ps) == DuckDBError)
        return engine_error(duckdb_prepare_error(q->ps));
    if (duckdb_pending_prepared_streaming(q->ps, &q->pending) == DuckDBError)
        return engine_error(duckdb_pending_error(q->pending));
    q->have_res = 1;
    if (duckdb_execute_pending(q->pending, &q->res) == DuckDBError)
        return engine_error(duckdb_result_error(&q->res));
    return 0;
}

/* Frees q; rc, or (when 0) the error the fetching may have ended with. */
static int streaming_end(streaming *q, int rc)
{
    if (rc == 0 && q->have_res) {
        const char *err = duckdb_result_error(&q->res);
        rc = err && *err ? engine_error(err) : 0;
    }
    if (q->have_res)
        duckdb_destroy_result(&q->res);
    if (q->pending)
        duckdb_destroy_pending(&q->pending);
    if (q->ps)
        duckdb_destroy_prepare(&q->ps);
    return rc;
}

int compute_query_i64(compute *c, const char *sql, compute_i64_chunk each, void *ctx)
{
    enum { MAX_COLS = 8 };
    streaming q = {0};
    int rc = streaming_run(c, sql, &q);
    size_t ncols = (size_t)duckdb_column_count(&q.res);
    for (size_t j = 0; rc == 0 && j < ncols; j++)
        if (ncols > MAX_COLS || duckdb_column_type(&q.res, (idx_t)j) != DUCKDB_TYPE_BIGINT)
            rc = error_set(LOCH_ERROR, "internal: compute_query_i64 takes up to %d BIGINT columns", MAX_COLS);
    for (duckdb_data_chunk chunk; rc == 0 && (chunk = duckdb_fetch_chunk(q.res));) {
        const int64_t *cols[MAX_COLS];
        size_t n = (size_t)duckdb_data_chunk_get_size(chunk);
        for (size_t j = 0; j < ncols; j++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(chunk, (idx_t)j);
            uint64_t *valid = duckdb_vector_get_validity(v);
            cols[j] = duckdb_vector_get_data(v);
            for (size_t i = 0; valid && rc == 0 && i < n; i++)
                if (!duckdb_validity_row_is_valid(valid, (idx_t)i))
                    rc = error_set(LOCH_ERROR, "internal: a NULL in a result compute_query_i64 reads");
        }
        rc = rc ? rc : each(ctx, cols, ncols, n);
        duckdb_destroy_data_chunk(&chunk);
    }
    return streaming_end(&q, rc);
}

int compute_query_vectors(compute *c, const char *sql, size_t dim, compute_vectors_chunk each, void *ctx)
{
    streaming q = {0};
    const char **keys = NULL;
    size_t *lens = NULL;
    float *vecs = NULL;
    int rc = streaming_run(c, sql, &q);
    if (rc)
        goto done;
    if (duckdb_column_count(&q.res) != 2 || duckdb_column_type(&q.res, 0) != DUCKDB_TYPE_VARCHAR ||
        duckdb_column_type(&q.res, 1) != DUCKDB_TYPE_LIST) {
        rc = error_set(LOCH_ERROR, "internal: compute_query_vectors reads (VARCHAR, FLOAT[])");
        goto done;
    }
    size_t cap = (size_t)duckdb_vector_size(); /* the most rows a chunk has */
    if (!(keys = malloc(cap * sizeof *keys)) || !(lens = malloc(cap * sizeof *lens)) ||
        !(vecs = malloc(cap * dim * sizeof *vecs))) {
        rc = error_set(LOCH_ENOMEM, "out of memory for %zu vectors", cap);
        goto done;
    }
    for (duckdb_data_chunk chunk; rc == 0 && (chunk = duckdb_fetch_chunk(q.res));) {
        size_t n = (size_t)duckdb_data_chunk_get_size(chunk);
        if (n > cap)
            rc = error_set(LOCH_ERROR, "internal: a chunk of %zu rows", n);
        duckdb_vector kv = duckdb_data_chunk_get_vector(chunk, 0), lv = duckdb_data_chunk_get_vector(chunk, 1);
        duckdb_vector child = duckdb_list_vector_get_child(lv);
        duckdb_logical_type ct = duckdb_vector_get_column_type(child);
        int is_float = duckdb_get_type_id(ct) == DUCKDB_TYPE_FLOAT;
        duckdb_destroy_logical_type(&ct);
        duckdb_string_t *ks = duckdb_vector_get_data(kv);
        duckdb_list_entry *le = duckdb_vector_get_data(lv);
        const float *fl = duckdb_vector_get_data(child);
        uint64_t *kvalid = duckdb_vector_get_validity(kv), *lvalid = duckdb_vector_get_validity(lv);
        uint64_t *cvalid = duckdb_vector_get_validity(child);
        size_t clen = (size_t)duckdb_list_vector_get_size(lv);
        if (!is_float)
            rc = error_set(LOCH_ERROR, "internal: compute_query_vectors reads FLOAT[] vectors");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            int null_key = kvalid && !duckdb_validity_row_is_valid(kvalid, (idx_t)i);
            keys[i] = null_key ? NULL : duckdb_string_t_data(&ks[i]);
            lens[i] = null_key ? 0 : duckdb_string_t_length(ks[i]);
            int null_list = lvalid && !duckdb_validity_row_is_valid(lvalid, (idx_t)i);
            if (null_list || le[i].length != dim || le[i].offset > clen || clen - le[i].offset < dim) {
                rc = error_set(LOCH_ECORRUPT, "an embedding of %llu numbers where %zu were expected",
                               null_list ? 0ULL : (unsigned long long)le[i].length, dim);
                break;
            }
            for (size_t j = 0; cvalid && j < dim; j++)
                if (!duckdb_validity_row_is_valid(cvalid, (idx_t)(le[i].offset + j)))
                    rc = error_set(LOCH_ECORRUPT, "an embedding with a NULL number");
            memcpy(vecs + i * dim, fl + le[i].offset, dim * sizeof *vecs);
        }
        rc = rc ? rc : each(ctx, keys, lens, vecs, n);
        duckdb_destroy_data_chunk(&chunk);
    }
done:
    free(keys), free(lens), free(vecs);
    return streaming_end(&q, rc);
}

/* The name of a type in t (t itself or a child, at any depth) that DuckDB hands to Arrow
 * as bytes only DuckDB reads (UHUGEINT and BIGNUM become a duckdb.* extension over
 * fixed-size binary or a blob, BIT a blob of its own encoding, which any other reader
 * shows as raw bytes) or loses part of (TIME WITH TIME ZONE its offset), or NULL. Such a
 * result is refused as Arrow, so that the client asks for a format that carries its
 * values (JSON, CSV: exact text). */
static const char *arrow_opaque(duckdb_logical_type t)
{
    duckdb_type id = duckdb_get_type_id(t);
    if (id == DUCKDB_TYPE_UHUGEINT)
        return "UHUGEINT";
    if (id == DUCKDB_TYPE_BIGNUM)
        return "BIGNUM";
    if (id == DUCKDB_TYPE_BIT) /* Arrow gets DuckDB's own bytes: 0101 shows as 04f5 */
        return "BIT";
    if (id == DUCKDB_TYPE_TIME_TZ) /* Arrow's time has no offset: 12:00+05 and 12:00-03 look alike */
        return "TIME WITH TIME ZONE";
    idx_t n = id == DUCKDB_TYPE_STRUCT ? duckdb_struct_type_child_count(t)
              : id == DUCKDB_TYPE_UNION ? duckdb_union_type_member_count(t)
              : id == DUCKDB_TYPE_MAP   ? 2
              : id == DUCKDB_TYPE_LIST || id == DUCKDB_TYPE_ARRAY ? 1
                                                                   : 0;
    const char *found = NULL;
    for (idx_t i = 0; i < n && !found; i++) {
        duckdb_logical_type c = id == DUCKDB_TYPE_STRUCT  ? duckdb_struct_type_child_type(t, i)
                                : id == DUCKDB_TYPE_UNION ? duckdb_union_type_member_type(t, i)
                                : id == DUCKDB_TYPE_MAP   ? (i ? duckdb_map_type_value_type(t) : duckdb_map_type_key_type(t))
                                : id == DUCKDB_TYPE_LIST  ? duckdb_list_type_child_type(t)
                                                          : duckdb_array_type_child_type(t);
        found = arrow_opaque(c);
        duckdb_destroy_logical_type(&c);
    }
    return found;
}

int compute_arrow_open(compute *c, const char *sql, const compute_param *params, size_t nparams,
                       compute_stream **out, struct ArrowSchema *arrow_schema)
{
    compute_stream *s = calloc(1, sizeof(*s));
    duckdb_logical_type *types = NULL;
    const char **names = NULL;
    int rc = 0;
    *out = NULL;
    if (!s)
        return error_set(LOCH_ENOMEM, "out of memory");
    s->arrow = 1;
    if (duckdb_prepare(c->conn, sql, &s->ps) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(s->ps));
        goto done;
    }
    if (duckdb_prepared_statement_type(s->ps) != DUCKDB_STATEMENT_TYPE_SELECT) {
        rc = error_set(LOCH_EUNSUPPORTED, "only queries stream");
        goto done;
    }
    if ((rc = bind_params(s->ps, params, nparams)) < 0)
        goto done;
    if (duckdb_pending_prepared_streaming(s->ps, &s->pending) == DuckDBError) {
        rc = engine_error(duckdb_pending_error(s->pending));
        goto done;
    }
    s->have_res = 1;
    if (duckdb_execute_pending(s->pending, &s->res) == DuckDBError) {
        rc = engine_error(duckdb_result_error(&s->res));
        goto done;
    }
    s->ncols = (size_t)duckdb_column_count(&s->res);
    s->aopts = duckdb_result_get_arrow_options(&s->res);
    types = calloc(s->ncols + 1, sizeof(*types));
    names = calloc(s->ncols + 1, sizeof(*names));
    if (!types || !names) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->ncols; i++) {
        types[i] = duckdb_column_logical_type(&s->res, (idx_t)i);
        names[i] = duckdb_column_name(&s->res, (idx_t)i);
        const char *opaque = arrow_opaque(types[i]);
        if (opaque && rc == 0)
            rc = error_set(LOCH_EUNSUPPORTED, "column \"%s\" holds %s, which Arrow has no type for; ask for JSON or CSV",
                           names[i], opaque);
    }
    if (rc < 0)
        goto done;
    duckdb_error_data err = duckdb_to_arrow_schema(s->aopts, types, names, (idx_t)s->ncols, arrow_schema);
    if (err) {
        rc = duckdb_error_data_has_error(err) ? error_set(LOCH_EUNSUPPORTED, "%s", duckdb_error_data_message(err)) : 0;
        duckdb_destroy_error_data(&err);
    }
done:
    for (size_t i = 0; types && i < s->ncols; i++)
        duckdb_destroy_logical_type(&types[i]);
    free(types);
    free(names);
    if (rc < 0) {
        compute_stream_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int compute_arrow_next(compute_stream *s, struct ArrowArray *out)
{
    memset(out, 0, sizeof(*out));
    if (s->chunk)
        duckdb_destroy_data_chunk(&s->chunk);
    s->chunk = duckdb_fetch_chunk(s->res);
    if (!s->chunk) {
        const char *err = duckdb_result_error(&s->res);
        return err && *err ? engine_error(err) : 0;
    }
    duckdb_error_data e = duckdb_data_chunk_to_arrow(s->aopts, s->chunk, out);
    int rc = 0;
    if (e) {
        if (duckdb_error_data_has_error(e))
            rc = error_set(LOCH_EUNSUPPORTED, "%s", duckdb_error_data_message(e));
        duckdb_destroy_error_data(&e);
    }
    return rc;
}

size_t compute_stream_columns(const compute_stream *s) { return s->ncols; }
const char *compute_stream_name(const compute_stream *s, size_t col) { return s->names[col]; }
const char *compute_stream_type(const compute_stream *s, size_t col) { return s->types[col]; }
compute_kind compute_stream_kind(const compute_stream *s, size_t col) { return s->kinds[col]; }

int compute_stream_next(compute_stream *s, size_t *rows)
{
    *rows = 0;
    if (s->chunk)
        duckdb_destroy_data_chunk(&s->chunk);
    s->chunk = duckdb_fetch_chunk(s->res);
    if (!s->chunk) {
        const char *err = duckdb_result_error(&s->res);
        return err && *err ? engine_error(err) : 0;
    }
    *rows = (size_t)duckdb_data_chunk_get_size(s->chunk);
    for (size_t i = 0; i < s->ncols; i++) {
        duckdb_vector v = duckdb_data_chunk_get_vector(s->chunk, (idx_t)i);
        s->data[i] = (duckdb_string_t *)duckdb_vector_get_data(v);
        s->valid[i] = duckdb_vector_get_validity(v);
    }
    return 0;
}

const char *compute_stream_cell(compute_stream *s, size_t row, size_t col, size_t *len)
{
    if (s->valid[col] && !duckdb_validity_row_is_valid(s->valid[col], (idx_t)row))
        return NULL;
    duckdb_string_t *str = &s->data[col][row];
    *len = duckdb_string_t_length(*str);
    return duckdb_string_t_data(str);
}

size_t compute_result_columns(const compute_result *r) { return duckdb_column_count((duckdb_result *)&r->res); }
size_t compute_result_rows(const compute_result *r) { return duckdb_row_count((duckdb_result *)&r->res); }

const char *compute_result_name(const compute_result *r, size_t col)
{
    return duckdb_column_name((duckdb_result *)&r->res, col);
}

static const char *simple_type_name(duckdb_type t)
{
    switch (t) {
    case DUCKDB_TYPE_BOOLEAN: return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT: return "TINYINT";
    case DUCKDB_TYPE_SMALLINT: return "SMALLINT";
    case DUCKDB_TYPE_INTEGER: return "INTEGER";
    case DUCKDB_TYPE_BIGINT: return "BIGINT";
    case DUCKDB_TYPE_UTINYINT: return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT: return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER: return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT: return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT: return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT: return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT: return "FLOAT";
    case DUCKDB_TYPE_DOUBLE: return "DOUBLE";
    case DUCKDB_TYPE_DECIMAL: return "DECIMAL";
    case DUCKDB_TYPE_VARCHAR: return "VARCHAR";
    case DUCKDB_TYPE_BLOB: return "BLOB";
    case DUCKDB_TYPE_DATE: return "DATE";
    case DUCKDB_TYPE_TIME: return "TIME";
    case DUCKDB_TYPE_TIME_TZ: return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP: return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S: return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS: return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS: return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ: return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL: return "INTERVAL";
    case DUCKDB_TYPE_UUID: return "UUID";
    case DUCKDB_TYPE_ENUM: return "ENUM";
    case DUCKDB_TYPE_LIST: return "LIST";
    case DUCKDB_TYPE_ARRAY: return "ARRAY";
    case DUCKDB_TYPE_STRUCT: return "STRUCT";
    case DUCKDB_TYPE_MAP: return "MAP";
    case DUCKDB_TYPE_UNION: return "UNION";
    case DUCKDB_TYPE_BIT: return "BIT";
    case DUCKDB_TYPE_BIGNUM: return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL: return "NULL";
    default: return "UNKNOWN";
    }
}

const char *compute_result_type(const compute_result *r, size_t col)
{
    if (r->nested && r->nested[col])
        return simple_type_name(r->nested[col]);
    return simple_type_name(duckdb_column_type((duckdb_result *)&r->res, col));
}


compute_kind compute_result_kind(const compute_result *r, size_t col)
{
    if (r->nested && r->nested[col])
        return is_zoned(r->nested[col]) ? COMPUTE_STRING : COMPUTE_NESTED;
    return kind_of(duckdb_column_type((duckdb_result *)&r->res, col));
}

char *compute_result_text(const compute_result *r, size_t row, size_t col)
{
    duckdb_result *res = (duckdb_result *)&r->res;
    if (duckdb_value_is_null(res, col, row))
        return NULL;
    char *v = duckdb_value_varchar(res, col, row);
    char *copy = v ? strdup(v) : strdup("");
    duckdb_free(v);
    return copy;
}

int64_t compute_result_i64(const compute_result *r, size_t row, size_t col)
{
    return duckdb_value_int64((duckdb_result *)&r->res, col, row);
}

void compute_result_free(compute_result *r)
{
    if (!r)
        return;
    duckdb_destroy_result(&r->res);
    free(r->nested);
    free(r);
}

/* ---- describing a SELECT as Delta columns ---------------------------------------- */

static int delta_type(duckdb_logical_type t, buf *out, bool *cast, bool *ntz, int depth);

static int delta_struct(duckdb_logical_type t, buf *out, bool *ntz, int depth)
{
    idx_t n = duckdb_struct_type_child_count(t);
    int rc = buf_puts(out, "{\"type\":\"struct\",\"fields\":[");
    for (idx_t i = 0; rc == 0 && i < n; i++) {
        char *name = duckdb_struct_type_child_name(t, i);
        duckdb_logical_type ct = duckdb_struct_type_child_type(t, i);
        bool cast = false;
        rc = (i ? buf_putc(out, ',') : 0) || buf_puts(out, "{\"name\":") || buf_put_json_str(out, name) ||
             buf_puts(out, ",\"type\":") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : delta_type(ct, out, &cast, ntz, depth + 1);
        if (!rc && cast)
            rc = error_set(LOCH_EUNSUPPORTED, "struct field \"%s\" has a type Delta cannot store; cast it", name);
        rc = rc ? rc : buf_puts(out, ",\"nullable\":true,\"metadata\":{}}");
        duckdb_free(name);
        duckdb_destroy_logical_type(&ct);
    }
    return rc ? rc : buf_puts(out, "]}");
}

static int delta_nested(duckdb_type id, duckdb_logical_type t, buf *out, bool *ntz, int depth)
{
    bool cast = false;
    int rc;
    if (id == DUCKDB_TYPE_STRUCT)
        return delta_struct(t, out, ntz, depth);
    if (id == DUCKDB_TYPE_LIST || id == DUCKDB_TYPE_ARRAY) {
        duckdb_logical_type ct = id == DUCKDB_TYPE_LIST ? duckdb_list_type_child_type(t)
                                                        : duckdb_array_type_child_type(t);
        rc = buf_puts(out, "{\"type\":\"array\",\"elementType\":");
        rc = rc ? rc : delta_type(ct, out, &cast, ntz, depth + 1);
        rc = rc ? rc : buf_puts(out, ",\"containsNull\":true}");
        duckdb_destroy_logical_type(&ct);
    } else {
        duckdb_logical_type kt = duckdb_map_type_key_type(t), vt = duckdb_map_type_value_type(t);
        rc = buf_puts(out, "{\"type\":\"map\",\"keyType\":");
        rc = rc ? rc : delta_type(kt, out, &cast, ntz, depth + 1);
        rc = rc ? rc : buf_puts(out, ",\"valueType\":");
        rc = rc ? rc : delta_type(vt, out, &cast, ntz, depth + 1);
        rc = rc ? rc : buf_puts(out, ",\"valueContainsNull\":true}");
        duckdb_destroy_logical_type(&kt);
        duckdb_destroy_logical_type(&vt);
    }
    if (!rc && cast)
        rc = error_set(LOCH_EUNSUPPORTED, "a nested element has a type Delta cannot store; cast it");
    return rc;
}

/* Appends the Delta type JSON for t; sets *cast when the value must be CAST first (the
 * cast target is implied by the Delta type, see write_expr()). */
static int delta_type(duckdb_logical_type t, buf *out, bool *cast, bool *ntz, int depth)
{
    duckdb_type id = duckdb_get_type_id(t);
    const char *p = NULL;
    if (depth > 32)
        return error_set(LOCH_EUNSUPPORTED, "type nested too deeply");
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN: p = "boolean"; break;
    case DUCKDB_TYPE_TINYINT: p = "byte"; break;
    case DUCKDB_TYPE_SMALLINT: p = "short"; break;
    case DUCKDB_TYPE_INTEGER: p = "integer"; break;
    case DUCKDB_TYPE_BIGINT: p = "long"; break;
    case DUCKDB_TYPE_FLOAT: p = "float"; break;
    case DUCKDB_TYPE_DOUBLE: p = "double"; break;
    case DUCKDB_TYPE_VARCHAR: p = "string"; break;
    case DUCKDB_TYPE_BLOB: p = "binary"; break;
    case DUCKDB_TYPE_DATE: p = "date"; break;
    case DUCKDB_TYPE_TIMESTAMP_TZ: p = "timestamp"; break;
    case DUCKDB_TYPE_TIMESTAMP: p = "timestamp_ntz"; *ntz = true; break;
    case DUCKDB_TYPE_TIMESTAMP_S: case DUCKDB_TYPE_TIMESTAMP_MS: case DUCKDB_TYPE_TIMESTAMP_NS:
        p = "timestamp_ntz"; *ntz = true; *cast = true; break;
    case DUCKDB_TYPE_UTINYINT: p = "short"; *cast = true; break;
    case DUCKDB_TYPE_USMALLINT: p = "integer"; *cast = true; break;
    case DUCKDB_TYPE_UINTEGER: p = "long"; *cast = true; break;
    case DUCKDB_TYPE_UBIGINT: p = "decimal(20,0)"; *cast = true; break;
    case DUCKDB_TYPE_HUGEINT: p = "decimal(38,0)"; *cast = true; break;
    case DUCKDB_TYPE_TIME: case DUCKDB_TYPE_TIME_TZ: case DUCKDB_TYPE_INTERVAL: case DUCKDB_TYPE_UUID:
    case DUCKDB_TYPE_ENUM: case DUCKDB_TYPE_BIT: case DUCKDB_TYPE_SQLNULL:
        p = "string"; *cast = true; break;
    case DUCKDB_TYPE_DECIMAL:
        return buf_printf(out, "\"decimal(%d,%d)\"", duckdb_decimal_width(t), duckdb_decimal_scale(t));
    case DUCKDB_TYPE_LIST: case DUCKDB_TYPE_ARRAY: case DUCKDB_TYPE_STRUCT: case DUCKDB_TYPE_MAP:
        return delta_nested(id, t, out, ntz, depth);
    default:
        return error_set(LOCH_EUNSUPPORTED, "type %s cannot be stored in a Delta table; cast it",
                         simple_type_name(id));
    }
    return buf_printf(out, "\"%s\"", p);
}

static int write_expr(const char *name, const char *dtype, bool cast, buf *out)
{
    int rc = 0;
    if (cast) {
        static const struct { const char *delta, *duck; } m[] = {
            {"\"short\"", "SMALLINT"}, {"\"integer\"", "INTEGER"}, {"\"long\"", "BIGINT"},
            {"\"decimal(20,0)\"", "DECIMAL(20,0)"}, {"\"decimal(38,0)\"", "DECIMAL(38,0)"},
            {"\"timestamp_ntz\"", "TIMESTAMP"}, {"\"string\"", "VARCHAR"}};
        const char *to = "VARCHAR";
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
            if (strcmp(dtype, m[i].delta) == 0)
                to = m[i].duck;
        rc = buf_puts(out, "CAST(") || buf_put_sql_ident(out, name) || buf_printf(out, " AS %s)", to) ? LOCH_ENOMEM : 0;
    } else {
        rc = buf_put_sql_ident(out, name);
    }
    return rc;
}

int compute_describe(compute *c, const char *select_sql, compute_column **cols, size_t *count)
{
    duckdb_prepared_statement ps = NULL;
    compute_column *v = NULL;
    buf sql = BUF_INIT, t = BUF_INIT;
    idx_t n = 0;
    int rc = buf_printf(&sql, "SELECT * FROM (%s)", select_sql);
    *cols = NULL;
    *count = 0;
    if (rc < 0)
        goto cleanup;
    if (duckdb_prepare(c->conn, sql.data, &ps) == DuckDBError) {
        rc = engine_error(duckdb_prepare_error(ps));
        goto cleanup;
    }
    n = duckdb_prepared_statement_column_count(ps);
    if (!(v = calloc(n ? n : 1, sizeof(*v)))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (idx_t i = 0; i < n; i++) {
        duckdb_logical_type lt = duckdb_prepared_statement_column_logical_type(ps, i);
        bool cast = false;
        buf_clear(&t);
        const char *name = duckdb_prepared_statement_column_name(ps, i); /* ours to free */
        v[i].name = strdup(name ? name : "");
        duckdb_free((void *)name);
        rc = delta_type(lt, &t, &cast, &v[i].ntz, 0);
        duckdb_destroy_logical_type(&lt);
        if (rc < 0) {
            error_prefix("column \"%s\": ", v[i].name);
            goto cleanup;
        }
        v[i].delta_type = strdup(t.data);
        buf_clear(&t);
        if ((rc = write_expr(v[i].name, v[i].delta_type, cast, &t)) < 0)
            goto cleanup;
        v[i].write_expr = strdup(t.data);
    }
    *cols = v;
    *count = n;
    v = NULL;
cleanup:
    compute_columns_free(v, n);
    if (ps)
        duckdb_destroy_prepare(&ps);
    buf_free(&sql);
    buf_free(&t);
    return rc;
}

void compute_columns_free(compute_column *cols, size_t count)
{
    for (size_t i = 0; cols && i < count; i++) {
        free(cols[i].name);
        free(cols[i].delta_type);
        free(cols[i].write_expr);
        free(cols[i].metadata);
    }
    free(cols);
}

int compute_table_constraints(compute *c, const char *table, compute_column *cols, size_t count, buf *primary_key)
{
    buf sql = BUF_INIT;
    compute_result *r = NULL;
    buf_clear(primary_key);
    int rc = buf_puts(&sql, "SELECT unnest(constraint_column_names) FROM duckdb_constraints() "
                            "WHERE constraint_type = 'PRIMARY KEY' AND table_name = ") ||
             buf_put_sql_str(&sql, table) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_query(c, sql.data, &r);
    for (size_t row = 0; rc == 0 && row < compute_result_rows(r); row++) {
        char *name = compute_result_text(r, row, 0);
        if (!name)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else if (strchr(name, ','))
            rc = error_set(LOCH_EUNSUPPORTED, "a primary key column's name cannot hold a comma (\"%s\")", name);
        else if ((primary_key->len && buf_putc(primary_key, ',')) || buf_puts(primary_key, name))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        free(name);
    }
    compute_result_free(r);
    r = NULL;
    buf_clear(&sql);
    rc = rc ? rc : buf_puts(&sql, "SELECT (SELECT string_agg(DISTINCT constraint_type, ', ') FROM duckdb_constraints() "
                            "WHERE table_name = ") || buf_put_sql_str(&sql, table) ||
             buf_puts(&sql, " AND constraint_type NOT IN ('NOT NULL', 'PRIMARY KEY')), (SELECT count(*) FROM duckdb_columns() "
                            "WHERE column_default IS NOT NULL AND table_name = ") || buf_put_sql_str(&sql, table) ||
             buf_puts(&sql, ")") ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_query(c, sql.data, &r);
    if (rc == 0) {
        char *kinds = compute_result_text(r, 0, 0);
        bool dflt = compute_result_i64(r, 0, 1) > 0;
        if (kinds || dflt)
            rc = error_set(LOCH_EUNSUPPORTED, "%s%s%s on lake tables %s not supported yet (NOT NULL and PRIMARY KEY "
                           "are)",
                           kinds ? kinds : "", kinds && dflt ? ", " : "", dflt ? "DEFAULT" : "",
                           (kinds && dflt) || (kinds && strchr(kinds, ',')) ? "are" : "is");
        free(kinds);
    }
    compute_result_free(r);
    r = NULL;
    buf_clear(&sql);
    rc = rc ? rc : (buf_puts(&sql, "SELECT column_name FROM duckdb_columns() WHERE NOT is_nullable AND table_name = ") ||
                    buf_put_sql_str(&sql, table) ? LOCH_ENOMEM : 0);
    rc = rc ? rc : compute_query(c, sql.data, &r);
    for (size_t row = 0; rc == 0 && row < compute_result_rows(r); row++) {
        char *name = compute_result_text(r, row, 0);
        for (size_t i = 0; name && i < count; i++)
            cols[i].not_null = cols[i].not_null || strcmp(cols[i].name, name) == 0;
        free(name);
    }
    compute_result_free(r);
    buf_free(&sql);
    return rc;
}

/* ---- Parquet in and out ----------------------------------------------------------- */

/* The per-column statistics of COPY ... (RETURN_STATS): MAP(VARCHAR, MAP(VARCHAR,
 * VARCHAR)) keyed by the quoted column path ("\"id\""), values like min, max,
 * null_count, has_nan. */
typedef struct {
    duckdb_vector keys, values;       /* outer map entries */
    duckdb_vector inner_keys, inner_values;
    duckdb_list_entry *outer, *inner;
    idx_t row;
} stats_map;

/* Cell i of a VARCHAR vector copied into tmp and NUL-terminated, its length (at most
 * cap - 1: longer values are cut, which only string bounds meet, and those use 32
 * bytes) in *len when asked; NULL when the cell is. */
static const char *str_at(duckdb_vector v, idx_t i, char *tmp, size_t cap, size_t *len)
{
    duckdb_string_t *d = (duckdb_string_t *)duckdb_vector_get_data(v);
    uint64_t *valid = duckdb_vector_get_validity(v);
    if (valid && !duckdb_validity_row_is_valid(valid, i))
        return NULL;
    uint32_t n = duckdb_string_t_length(d[i]);
    if (n >= cap)
        n = (uint32_t)cap - 1;
    memcpy(tmp, duckdb_string_t_data(&d[i]), n);
    tmp[n] = '\0';
    if (len)
        *len = n;
    return tmp;
}

/* Finds stat `what` of column `name` and its length (a string's may hold a NUL);
 * returns NULL when absent. */
static const char *stats_lookup(const stats_map *m, const char *name, const char *what, char *out, size_t cap,
                                size_t *len)
{
    char key[512], k2[64];
    snprintf(key, sizeof(key), "\"%s\"", name);
    duckdb_list_entry e = m->outer[m->row];
    for (idx_t i = e.offset; i < e.offset + e.length; i++) {
        const char *k = str_at(m->keys, i, out, cap, NULL);
        if (!k || strcmp(k, key) != 0)
            continue;
        duckdb_list_entry ie = m->inner[i];
        for (idx_t j = ie.offset; j < ie.offset + ie.length; j++) {
            const char *k2s = str_at(m->inner_keys, j, k2, sizeof(k2), NULL);
            if (k2s && strcmp(k2s, what) == 0)
                return str_at(m->inner_values, j, out, cap, len);
        }
    }
    return NULL;
}

/* The engine's statistics of one written file, handed to core/stats.c for Delta's rules. */
static int file_stats(const stats_map *m, int64_t rows, const compute_column *cols, size_t n, buf *out)
{
    stats_column *sc = calloc(n + 1, sizeof(*sc));
    char (*text)[4][4096] = calloc(n + 1, sizeof(*text)); /* min, max, null_count, has_nan */
    int rc = sc && text ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    static const char *what[] = {"min", "max", "null_count", "has_nan"};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *v[4];
        size_t len[4] = {0};
        for (int k = 0; k < 4; k++)
            v[k] = stats_lookup(m, cols[i].name, what[k], text[i][k], sizeof(text[i][k]), &len[k]);
        sc[i] = (stats_column){cols[i].name, cols[i].delta_type, v[0], v[1], len[0], len[1], v[2],
                               v[3] && !strcmp(v[3], "true")};
    }
    rc = rc ? rc : stats_json(rows, sc, n, out);
    free(sc);
    free(text);
    return rc;
}

/* A VARCHAR cell as a NUL-terminated string in tmp (grown as needed), or NULL. */
static const char *cell_str(duckdb_data_chunk chunk, idx_t col, idx_t i, buf *tmp)
{
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, col);
    uint64_t *valid = duckdb_vector_get_validity(v);
    if (valid && !duckdb_validity_row_is_valid(valid, i))
        return NULL;
    duckdb_string_t *d = (duckdb_string_t *)duckdb_vector_get_data(v) + i;
    buf_clear(tmp);
    if (buf_put(tmp, duckdb_string_t_data(d), duckdb_string_t_length(*d)) < 0)
        return NULL;
    return tmp->data;
}

static bool cell_null(duckdb_data_chunk chunk, idx_t col, idx_t i)
{
    uint64_t *valid = duckdb_vector_get_validity(duckdb_data_chunk_get_vector(chunk, col));
    return valid && !duckdb_validity_row_is_valid(valid, i);
}

void compute_files_free(compute_file *files, size_t count)
{
    for (size_t i = 0; files && i < count; i++) {
        free(files[i].path);
        buf_free(&files[i].stats);
    }
    free(files);
}

/* One RETURN_STATS row: filename, count, file_size_bytes, footer_size_bytes, column_statistics. */
static int file_row(duckdb_data_chunk chunk, idx_t i, const compute_column *cols, size_t ncols, compute_file *f)
{
    buf name = BUF_INIT;
    const char *path = cell_str(chunk, 0, i, &name);
    f->path = strdup(path ? path : "");
    f->rows = ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 1)))[i];
    f->size = ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 2)))[i];
    duckdb_vector map = duckdb_data_chunk_get_vector(chunk, 4);
    duckdb_vector entries = duckdb_list_vector_get_child(map);
    duckdb_vector inner = duckdb_struct_vector_get_child(entries, 1);
    duckdb_vector inner_entries = duckdb_list_vector_get_child(inner);
    stats_map m = {duckdb_struct_vector_get_child(entries, 0), inner, duckdb_struct_vector_get_child(inner_entries, 0),
                   duckdb_struct_vector_get_child(inner_entries, 1), (duckdb_list_entry *)duckdb_vector_get_data(map),
                   (duckdb_list_entry *)duckdb_vector_get_data(inner), i};
    int rc = f->path ? file_stats(&m, f->rows, cols, ncols, &f->stats) : error_set(LOCH_ENOMEM, "out of memory");
    buf_free(&name);
    return rc;
}

int compute_write_parquet(compute *c, const char *select_sql, const char *dir, int64_t target_bytes,
                          const compute_column *cols, size_t ncols, compute_file **files, size_t *count)
{
    buf sql = BUF_INIT;
    duckdb_result res;
    duckdb_data_chunk chunk;
    compute_file *v = NULL;
    size_t n = 0;
    int rc = buf_printf(&sql, "COPY (%s) TO ", select_sql);
    rc = rc ? rc : buf_put_sql_str(&sql, dir);
    rc = rc ? rc : buf_printf(&sql, " (FORMAT parquet, COMPRESSION snappy, FILE_SIZE_BYTES %lld, RETURN_STATS true)",
                              (long long)target_bytes);
    *files = NULL;
    *count = 0;
    if (rc < 0)
        goto cleanup;
    if (duckdb_query(c->conn, sql.data, &res) == DuckDBError) {
        rc = engine_error(duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        goto cleanup;
    }
    while (rc == 0 && (chunk = duckdb_fetch_chunk(res))) {
        idx_t rows = duckdb_data_chunk_get_size(chunk);
        compute_file *g = realloc(v, (n + rows + 1) * sizeof(*g));
        if (!g)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            v = g;
        for (idx_t i = 0; rc == 0 && i < rows; i++) {
            memset(&v[n], 0, sizeof(v[n]));
            rc = file_row(chunk, i, cols, ncols, &v[n++]);
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    duckdb_destroy_result(&res);
    if (rc < 0) {
        compute_files_free(v, n);
        v = NULL;
        n = 0;
    }
    *files = v;
    *count = n;
cleanup:
    buf_free(&sql);
    return rc;
}

/* Runs sql on the side connection and calls row(ctx, chunk, i) for every row. */
static int each_row(compute *c, const char *sql, int (*row)(void *ctx, duckdb_data_chunk chunk, idx_t i),
                    void *ctx)
{
    duckdb_result res;
    int rc = 0;
    if (duckdb_query(c->side, sql, &res) == DuckDBError) {
        rc = engine_error(duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        return rc;
    }
    duckdb_data_chunk chunk;
    while (rc == 0 && (chunk = duckdb_fetch_chunk(res))) {
        idx_t n = duckdb_data_chunk_get_size(chunk);
        for (idx_t i = 0; rc == 0 && i < n; i++)
            rc = row(ctx, chunk, i);
        duckdb_destroy_data_chunk(&chunk);
    }
    duckdb_destroy_result(&res);
    return rc;
}

typedef struct {
    const compute_checkpoint_reader *reader;
    buf s[6];
} add_reader;

static int add_row(void *ctx, duckdb_data_chunk chunk, idx_t i)
{
    add_reader *ar = ctx;
    compute_add_row r;
    memset(&r, 0, sizeof(r));
    r.path = cell_str(chunk, 0, i, &ar->s[0]);
    if (!r.path)
        return error_set(LOCH_ECORRUPT, "checkpoint add row without a path");
    r.size = cell_null(chunk, 1, i) ? -1 : ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 1)))[i];
    r.modification_time = cell_null(chunk, 2, i) ? 0
                        : ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 2)))[i];
    r.data_change = cell_null(chunk, 3, i) || ((bool *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 3)))[i];
    r.stats = cell_str(chunk, 4, i, &ar->s[1]);
    r.partition_values_json = cell_str(chunk, 5, i, &ar->s[2]);
    r.deletion_vector_json = cell_str(chunk, 6, i, &ar->s[3]);
    r.tags_json = cell_str(chunk, 7, i, &ar->s[4]);
    return ar->reader->add(ar->reader->ctx, &r);
}

static int other_row(void *ctx, duckdb_data_chunk chunk, idx_t i)
{
    add_reader *ar = ctx;
    const char *j = cell_str(chunk, 0, i, &ar->s[5]);
    return j ? ar->reader->other(ar->reader->ctx, j, ar->s[5].len) : 0;
}

/* Which fields the file's `add` struct has (checkpoints differ by writer). */
static int add_fields(compute *c, const char *path, bool *has, const char *const *names, size_t n)
{
    buf sql = BUF_INIT;
    duckdb_prepared_statement ps = NULL;
    int rc = buf_puts(&sql, "SELECT * FROM system.main.read_parquet(") || compute_put_path(&sql, path) || buf_puts(&sql, ") LIMIT 0")
                 ? LOCH_ENOMEM : 0;
    if (rc == 0 && duckdb_prepare(c->side, sql.data, &ps) == DuckDBError)
        rc = engine_error(duckdb_prepare_error(ps));
    for (idx_t col = 0; rc == 0 && col < duckdb_prepared_statement_column_count(ps); col++) {
        const char *name = duckdb_prepared_statement_column_name(ps, col);
        bool is_add = name && strcmp(name, "add") == 0;
        duckdb_free((void *)name);
        if (!is_add)
            continue;
        has[n] = true; /* the add column itself */
        duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(ps, col);
        for (idx_t k = 0; duckdb_get_type_id(t) == DUCKDB_TYPE_STRUCT && k < duckdb_struct_type_child_count(t); k++) {
            char *child = duckdb_struct_type_child_name(t, k);
            for (size_t f = 0; f < n; f++)
                has[f] = has[f] || strcmp(child, names[f]) == 0;
            duckdb_free(child);
        }
        duckdb_destroy_logical_type(&t);
    }
    if (ps)
        duckdb_destroy_prepare(&ps);
    buf_free(&sql);
    return rc;
}

typedef struct {
    compute_parquet_element element;
    void *ctx;
    buf name, rep, conv;
} schema_reader;

static int schema_row(void *ctx, duckdb_data_chunk chunk, idx_t i)
{
    schema_reader *sr = ctx;
    const char *name = cell_str(chunk, 0, i, &sr->name), *rep = cell_str(chunk, 3, i, &sr->rep);
    int64_t id = cell_null(chunk, 1, i) ? -1 : ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 1)))[i];
    int64_t n = cell_null(chunk, 2, i) ? 0 : ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 2)))[i];
    return sr->element(sr->ctx, name ? name : "", id, n, rep && strcmp(rep, "REPEATED") == 0,
                       cell_str(chunk, 4, i, &sr->conv));
}

int compute_parquet_schema(compute *c, const char *path, compute_parquet_element element, void *ctx)
{
    schema_reader sr = {element, ctx, BUF_INIT, BUF_INIT, BUF_INIT};
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "SELECT name, field_id::BIGINT, num_children::BIGINT, repetition_type, converted_type "
                            "FROM system.main.parquet_schema(") ||
             compute_put_path(&sql, path) || buf_putc(&sql, ')') ? LOCH_ENOMEM : 0;
    rc = rc ? rc : each_row(c, sql.data, schema_row, &sr);
    if (rc < 0)
        error_prefix("schema of %s: ", path);
    buf_free(&sql);
    buf_free(&sr.name);
    buf_free(&sr.rep);
    buf_free(&sr.conv);
    return rc;
}

int compute_read_checkpoint(compute *c, const char *path, const compute_checkpoint_reader *reader)
{
    static const char *const fields[] = {"path", "size", "modificationTime", "dataChange", "stats",
                                         "partitionValues", "deletionVector", "tags"};
    static const char *const casts[] = {"", "::BIGINT", "::BIGINT", "::BOOLEAN", "", "", "", ""};
    enum { NF = 8 };
    bool has[NF + 1] = {0};
    add_reader ar = {reader, {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT}};
    buf sql = BUF_INIT;
    int rc = add_fields(c, path, has, fields, NF);
    if (rc == 0 && has[NF]) {
        /* The bulk: add rows, column by column; the small maps as JSON. */
        rc = buf_puts(&sql, "SELECT ");
        for (int f = 0; rc == 0 && f < NF; f++) {
            const char *sep = f ? ", " : "";
            if (!has[f])
                rc = buf_printf(&sql, "%sNULL%s", sep, f >= 5 || f == 4 ? "::VARCHAR" : casts[f]);
            else if (f >= 5)
                rc = buf_printf(&sql, "%ssystem.main.to_json(\"add\".\"%s\")::VARCHAR", sep, fields[f]);
            else
                rc = buf_printf(&sql, "%s\"add\".\"%s\"%s", sep, fields[f], casts[f]);
        }
        rc = rc || buf_puts(&sql, " FROM system.main.read_parquet(") || compute_put_path(&sql, path) ||
             buf_puts(&sql, ") WHERE \"add\" IS NOT NULL") ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : each_row(c, sql.data, add_row, &ar);
    }
    if (rc == 0) {
        buf_clear(&sql);
        rc = buf_puts(&sql, "SELECT system.main.to_json(t)::VARCHAR FROM system.main.read_parquet(") || compute_put_path(&sql, path) ||
             buf_printf(&sql, ") t%s", has[NF] ? " WHERE t.\"add\" IS NULL" : "") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : each_row(c, sql.data, other_row, &ar);
    }
    for (int i = 0; i < 6; i++)
        buf_free(&ar.s[i]);
    buf_free(&sql);
    return rc;
}

/* A checkpoint column's type (core/checkpoint.h) as DuckDB spells it. */
static int checkpoint_type_sql(const checkpoint_field *f, buf *out)
{
    static const char *simple[] = {[CP_STRING] = "VARCHAR", [CP_INT] = "INTEGER", [CP_LONG] = "BIGINT",
                                   [CP_BOOL] = "BOOLEAN", [CP_STRING_MAP] = "MAP(VARCHAR, VARCHAR)",
                                   [CP_STRING_LIST] = "VARCHAR[]"};
    if (f->type != CP_STRUCT)
        return buf_puts(out, simple[f->type]);
    int rc = buf_puts(out, "STRUCT(");
    for (const checkpoint_field *g = f->fields; rc == 0 && g->name; g++)
        rc = (g == f->fields ? 0 : buf_puts(out, ", ")) || buf_put_sql_ident(out, g->name) || buf_putc(out, ' ') ||
             checkpoint_type_sql(g, out) ? LOCH_ENOMEM : 0;
    return rc ? rc : buf_putc(out, ')');
}

int compute_write_checkpoint(compute *c, const char *ndjson_path, const char *parquet_path,
                             const checkpoint_field *columns)
{
    buf sql = BUF_INIT, type = BUF_INIT;
    int rc = buf_puts(&sql, "COPY (SELECT ");
    for (const checkpoint_field *f = columns; rc == 0 && f->name; f++)
        rc = (f == columns ? 0 : buf_puts(&sql, ", ")) || buf_put_sql_ident(&sql, f->name) ? LOCH_ENOMEM : 0;
    rc = rc || buf_puts(&sql, " FROM system.main.read_json(") || compute_put_path(&sql, ndjson_path) ||
         buf_puts(&sql, ", format='newline_delimited', maximum_object_size=1073741824, columns={") ? LOCH_ENOMEM : rc;
    for (const checkpoint_field *f = columns; rc == 0 && f->name; f++) {
        buf_clear(&type);
        rc = checkpoint_type_sql(f, &type);
        rc = rc || (f == columns ? 0 : buf_puts(&sql, ", ")) || buf_put_sql_str(&sql, f->name) || buf_puts(&sql, ": ") ||
             buf_put_sql_str(&sql, type.data) ? LOCH_ENOMEM : rc;
    }
    rc = rc || buf_puts(&sql, "})) TO ") || buf_put_sql_str(&sql, parquet_path) || buf_puts(&sql, " (FORMAT parquet)")
             ? LOCH_ENOMEM : rc;
    rc = rc ? rc : compute_exec(c, sql.data);
    buf_free(&sql);
    buf_free(&type);
    return rc;
}
