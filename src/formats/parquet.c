/*
 * formats/parquet.c - the Parquet point reader (see parquet.h).
 *
 * Layout: "PAR1", column chunks, the footer (FileMetaData, Thrift compact), its 4-byte
 * length, "PAR1". A row group's column chunk is a sequence of pages, each a PageHeader
 * (Thrift) and its payload: an optional dictionary page first, then data pages. A v1
 * data page's payload, once decompressed, is [repetition levels][definition levels]
 * [values], each level block a 4-byte length and an RLE/bit-packed hybrid run list; a
 * v2 page keeps its levels uncompressed in front, their lengths in the header.
 *
 * Only flat columns are read, so repetition levels never occur and a definition level
 * is 1 (a value) or 0 (NULL) with a bit width of 1.
 */
#include "formats/parquet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/snappy.h"
#include "util/error.h"
#include "util/utf8.h"

#define PQ_MAX_DEPTH 32
#define PQ_MAX_PAGE (INT32_MAX) /* a page's sizes are i32 in the format */

enum { T_STOP = 0, T_TRUE = 1, T_FALSE = 2, T_BYTE = 3, T_I16 = 4, T_I32 = 5, T_I64 = 6, T_DOUBLE = 7,
       T_BINARY = 8, T_LIST = 9, T_SET = 10, T_MAP = 11, T_STRUCT = 12 };
enum { P_BOOLEAN, P_INT32, P_INT64, P_INT96, P_FLOAT, P_DOUBLE, P_BYTE_ARRAY, P_FIXED };
enum { E_PLAIN = 0, E_PLAIN_DICTIONARY = 2, E_RLE = 3, E_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };

/* ---- Thrift compact protocol ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    size_t base;    /* p's offset in the file, for messages */
    int depth;
} tr;

static int tr_bad(tr *r, const char *what)
{
    return error_set(LOCH_ECORRUPT, "parquet: %s at byte %zu", what, r->base + r->pos);
}

static int tr_varint(tr *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->n)
            return tr_bad(r, "metadata cut short");
        uint8_t b = r->p[r->pos++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return tr_bad(r, "varint too long");
}

static int tr_int(tr *r, int64_t *v)
{
    uint64_t u;
    int rc = tr_varint(r, &u);
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return rc;
}

/* The next field's header: *type T_STOP at the struct's end. */
static int tr_field(tr *r, int16_t *id, int *type)
{
    if (r->pos >= r->n)
        return tr_bad(r, "metadata cut short");
    uint8_t b = r->p[r->pos++];
    *type = b & 0x0f;
    if (*type == T_STOP)
        return 0;
    if (b >> 4) {
        *id = (int16_t)(*id + (b >> 4));
    } else {
        int64_t v;
        int rc = tr_int(r, &v);
        if (rc < 0)
            return rc;
        *id = (int16_t)v;
    }
    return 0;
}

static int tr_binary(tr *r, const uint8_t **p, size_t *len)
{
    uint64_t n;
    int rc = tr_varint(r, &n);
    if (rc < 0)
        return rc;
    if (n > r->n - r->pos)
        return tr_bad(r, "a string runs past the metadata");
    *p = r->p + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

static int tr_list(tr *r, int *elem, uint64_t *count)
{
    if (r->pos >= r->n)
        return tr_bad(r, "metadata cut short");
    uint8_t b = r->p[r->pos++];
    *elem = b & 0x0f;
    *count = b >> 4;
    int rc = *count == 15 ? tr_varint(r, count) : 0;
    /* every element takes at least one byte (booleans in a list too) */
    if (rc == 0 && *count > r->n - r->pos)
        return tr_bad(r, "a list longer than the metadata");
    return rc;
}

static int tr_skip(tr *r, int type)
{
    int rc = 0;
    int64_t v;
    if (++r->depth > PQ_MAX_DEPTH)
        return tr_bad(r, "metadata nested too deeply");
    switch (type) {
    case T_TRUE:
    case T_FALSE:
        break;
    case T_BYTE:
        rc = r->pos < r->n ? (r->pos++, 0) : tr_bad(r, "metadata cut short");
        break;
    case T_I16:
    case T_I32:
    case T_I64:
        rc = tr_int(r, &v);
        break;
    case T_DOUBLE:
        rc = r->n - r->pos >= 8 ? (r->pos += 8, 0) : tr_bad(r, "metadata cut short");
        break;
    case T_BINARY: {
        const uint8_t *p;
        size_t n;
        rc = tr_binary(r, &p, &n);
        break;
    }
    case T_LIST:
    case T_SET: {
        int elem;
        uint64_t n;
        rc = tr_list(r, &elem, &n);
        for (uint64_t i = 0; rc == 0 && i < n; i++)
            rc = elem == T_TRUE || elem == T_FALSE ? (r->pos < r->n ? (r->pos++, 0) : tr_bad(r, "cut short"))
                                                   : tr_skip(r, elem);
        break;
    }
    case T_MAP: {
        uint64_t n;
        rc = tr_varint(r, &n);
        if (rc == 0 && n > r->n - r->pos)
            rc = tr_bad(r, "a map longer than the metadata");
        if (rc == 0 && n) {
            uint8_t kv = r->pos < r->n ? r->p[r->pos++] : 0;
            for (uint64_t i = 0; rc == 0 && i < n; i++)
                rc = tr_skip(r, kv >> 4) || tr_skip(r, kv & 0x0f) ? LOCH_ECORRUPT : 0;
        }
        break;
    }
    case T_STRUCT: {
        int16_t id = 0;
        int t;
        while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP)
            if ((rc = tr_skip(r, t)) < 0)
                break;
        break;
    }
    default:
        rc = tr_bad(r, "an unknown metadata type");
    }
    r->depth--;
    return rc;
}

/* An integer field of any width (or a boolean) as int64. */
static int tr_number(tr *r, int type, int64_t *v)
{
    if (type == T_TRUE || type == T_FALSE) {
        *v = type == T_TRUE;
        return 0;
    }
    if (type == T_BYTE) {
        if (r->pos >= r->n)
            return tr_bad(r, "metadata cut short");
        *v = (int8_t)r->p[r->pos++];
        return 0;
    }
    if (type != T_I16 && type != T_I32 && type != T_I64)
        return tr_bad(r, "a number of the wrong type");
    return tr_int(r, v);
}

/* ---- the footer --------------------------------------------------------------------------- */

typedef struct {
    int64_t data_off, dict_off, size, values;
    int codec;
} pq_chunk;

typedef struct {
    int64_t rows, first;
    pq_chunk *chunks; /* per leaf */
} pq_group;

struct pq_file {
    const uint8_t *data; /* the whole file in memory, or NULL: read through `reader` */
    size_t size;
    pq_reader reader;
    uint8_t *io;         /* bytes read last (fetch) */
    size_t io_cap;
    int64_t rows;
    pq_column *cols;  /* top-level flat columns */
    int *leaf;        /* per col, its leaf index in every row group */
    size_t ncols, nleaves;
    const char **top;  /* every top-level element's name, nested and repeated ones too */
    size_t ntop;
    pq_group *groups;
    size_t ngroups;
    char *names;      /* the columns' names, NUL-separated */
    uint8_t *page;    /* a data page, decompressed */
    size_t page_cap;
    uint8_t *dict;    /* the dictionary page of (dict_group, dict_leaf), decompressed */
    size_t dict_cap, dict_len;
    int64_t dict_count;
    int64_t dict_group, dict_leaf;
    uint32_t *dict_at; /* byte arrays: each entry's offset in dict */
    struct col_dir *dirs; /* per column, once pq_prepare walked it; NULL entries until then */
};

/* A column's pages, as pq_prepare found them: a point read goes straight to its page,
 * and into the page straight to the 64 KiB block it needs (snappy marks). */
typedef struct {
    size_t at;          /* the page header's offset */
    size_t chunk_at;    /* its column chunk's first page (a dictionary, when there is one) */
    int64_t first, values;
    size_t mark0, nmarks;
} page_entry;

typedef struct col_dir {
    page_entry *pages;
    size_t n, cap;
    snappy_mark *marks;
    size_t nmarks, marks_cap;
} col_dir;

typedef struct {
    const uint8_t *name;
    size_t name_len;
    int64_t type, type_length, repetition, children, converted, scale, precision;
    int logical;                /* LogicalType's union field, 0 none */
    int64_t l_scale, l_precision, l_bits, l_signed, l_utc, l_unit;
} schema_el;

static int read_logical(tr *r, schema_el *e)
{
    int16_t id = 0;
    int t, rc;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        if (t != T_STRUCT) {
            rc = tr_skip(r, t);
        } else {
            e->logical = id;
            int16_t sid = 0;
            int st;
            while (rc == 0 && (rc = tr_field(r, &sid, &st)) == 0 && st != T_STOP) {
                int64_t v = 0;
                if (id == 5 && (sid == 1 || sid == 2)) { /* DECIMAL: scale, precision */
                    rc = tr_number(r, st, &v);
                    *(sid == 1 ? &e->l_scale : &e->l_precision) = v;
                } else if (id == 10 && (sid == 1 || sid == 2)) { /* INTEGER: bitWidth, isSigned */
                    rc = tr_number(r, st, &v);
                    *(sid == 1 ? &e->l_bits : &e->l_signed) = v;
                } else if (id == 8 && sid == 1) { /* TIMESTAMP: isAdjustedToUTC */
                    rc = tr_number(r, st, &e->l_utc);
                } else if (id == 8 && sid == 2 && st == T_STRUCT) { /* unit: a union */
                    int16_t uid = 0;
                    int ut;
                    while (rc == 0 && (rc = tr_field(r, &uid, &ut)) == 0 && ut != T_STOP) {
                        e->l_unit = uid;
                        rc = tr_skip(r, ut);
                    }
                } else {
                    rc = tr_skip(r, st);
                }
            }
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int read_schema_el(tr *r, schema_el *e)
{
    int16_t id = 0;
    int t, rc;
    memset(e, 0, sizeof(*e));
    e->type = e->converted = -1;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        switch (id) {
        case 1: rc = tr_number(r, t, &e->type); break;
        case 2: rc = tr_number(r, t, &e->type_length); break;
        case 3: rc = tr_number(r, t, &e->repetition); break;
        case 4: rc = t == T_BINARY ? tr_binary(r, &e->name, &e->name_len) : tr_bad(r, "a bad column name"); break;
        case 5: rc = tr_number(r, t, &e->children); break;
        case 6: rc = tr_number(r, t, &e->converted); break;
        case 7: rc = tr_number(r, t, &e->scale); break;
        case 8: rc = tr_number(r, t, &e->precision); break;
        case 10: rc = t == T_STRUCT ? read_logical(r, e) : tr_skip(r, t); break;
        default: rc = tr_skip(r, t);
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

static void classify(const schema_el *e, pq_column *c)
{
    c->physical = (int)e->type;
    c->type_length = (int)e->type_length;
    c->optional = e->repetition == 1;
    c->kind = PQ_OTHER;
    c->scale = (int)(e->logical == 5 ? e->l_scale : e->scale);
    c->precision = (int)(e->logical == 5 ? e->l_precision : e->precision);
    int cv = (int)e->converted;
    bool decimal = e->logical == 5 || cv == 5;
    switch (e->type) {
    case P_BOOLEAN: c->kind = PQ_BOOL; break;
    case P_INT32:
    case P_INT64:
        if (decimal)
            c->kind = PQ_DECIMAL;
        else if (e->logical == 6 || cv == 6)
            c->kind = e->type == P_INT32 ? PQ_DATE : PQ_OTHER;
        else if (e->logical == 8 || cv == 9 || cv == 10) {
            c->kind = e->type == P_INT64 ? PQ_TIMESTAMP : PQ_OTHER;
            c->utc = e->logical == 8 ? e->l_utc != 0 : true;
            int unit = e->logical == 8 ? (int)e->l_unit : cv == 9 ? 1 : 2;
            c->unit = unit == 1 ? 1000 : unit == 2 ? 1000000 : 1000000000;
        } else if (e->logical == 10 ? e->l_signed != 0 : (cv < 0 || (cv >= 15 && cv <= 18)))
            c->kind = PQ_INT;
        break;
    case P_INT96:
        c->kind = PQ_TIMESTAMP;
        c->unit = 1000000000;
        break;
    case P_FLOAT: c->kind = PQ_FLOAT; break;
    case P_DOUBLE: c->kind = PQ_DOUBLE; break;
    case P_BYTE_ARRAY:
    case P_FIXED:
        if (decimal)
            c->kind = PQ_DECIMAL;
        else if (e->type == P_BYTE_ARRAY && (e->logical == 1 || e->logical == 4 || e->logical == 12 || cv == 0 ||
                                             cv == 4 || cv == 19))
            c->kind = PQ_STRING;
        break;
    }
}

static int read_column_meta(tr *r, pq_chunk *c)
{
    int16_t id = 0;
    int t, rc;
    int64_t v;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        switch (id) {
        case 4: rc = tr_number(r, t, &v); c->codec = (int)v; break;
        case 5: rc = tr_number(r, t, &c->values); break;
        case 7: rc = tr_number(r, t, &c->size); break;
        case 9: rc = tr_number(r, t, &c->data_off); break;
        case 11: rc = tr_number(r, t, &c->dict_off); break;
        default: rc = tr_skip(r, t);
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int read_column_chunk(tr *r, pq_chunk *c)
{
    int16_t id = 0;
    int t, rc;
    c->codec = -1;
    c->data_off = c->dict_off = c->size = -1;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        if (id == 1 && t == T_BINARY) { /* file_path: the chunk is in another file */
            const uint8_t *p;
            size_t n;
            if ((rc = tr_binary(r, &p, &n)) == 0 && n)
                return error_set(LOCH_EUNSUPPORTED, "parquet: a column chunk stored in another file");
        } else {
            rc = id == 3 && t == T_STRUCT ? read_column_meta(r, c) : tr_skip(r, t);
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int read_row_group(tr *r, pq_file *f, pq_group *g)
{
    int16_t id = 0;
    int t, rc;
    g->rows = -1;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        if (id == 1 && t == T_LIST && !g->chunks) {
            int elem;
            uint64_t n;
            if ((rc = tr_list(r, &elem, &n)) < 0)
                return rc;
            if (n != f->nleaves || elem != T_STRUCT)
                return tr_bad(r, "a row group whose columns are not the schema's");
            if (!(g->chunks = calloc(n + 1, sizeof(pq_chunk))))
                return error_set(LOCH_ENOMEM, "out of memory");
            for (uint64_t i = 0; rc == 0 && i < n; i++)
                rc = read_column_chunk(r, &g->chunks[i]);
        } else {
            rc = id == 3 ? tr_number(r, t, &g->rows) : tr_skip(r, t);
        }
        if (rc < 0)
            return rc;
    }
    if (rc == 0 && (!g->chunks || g->rows < 0))
        return tr_bad(r, "a row group without its columns or row count");
    return rc;
}

/* Makes *p (an array of *cap elements of `size` bytes) hold at least need of them;
 * arrays that fill up one by one pass need = n + 1 and double. */
static int grow_to(void *p, size_t *cap, size_t need, size_t size, bool doubling)
{
    if (need <= *cap)
        return 0;
    size_t n = doubling && need < *cap * 2 ? *cap * 2 : need;
    void *g = realloc(*(void **)p, n * size);
    if (!g)
        return error_set(LOCH_ENOMEM, "out of memory");
    *(void **)p = g;
    *cap = n;
    return 0;
}

static int grow(uint8_t **p, size_t *cap, size_t need) { return grow_to(p, cap, need, 1, false); }

/* Bytes [off, off + len) of the file: in place when it is in memory, else read into
 * f->io (valid until the next fetch). The caller checked the range against f->size. */
static int fetch(pq_file *f, size_t off, size_t len, const uint8_t **out)
{
    if (f->data) {
        *out = f->data + off;
        return 0;
    }
    int rc = grow(&f->io, &f->io_cap, len + 1);
    rc = rc || !len ? rc : f->reader.read(f->reader.ctx, off, f->io, len);
    *out = f->io;
    return rc;
}

void pq_free(pq_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->groups && i < f->ngroups; i++)
        free(f->groups[i].chunks);
    free(f->groups);
    free(f->cols);
    free(f->leaf);
    free(f->top);
    free(f->names);
    free(f->page);
    free(f->dict);
    free(f->dict_at);
    free(f->io);
    for (size_t i = 0; f->dirs && i < f->ncols; i++) {
        free(f->dirs[i].pages);
        free(f->dirs[i].marks);
    }
    free(f->dirs);
    free(f);
}

/* Parses the footer of f (its data or reader and size set). */
static int open_footer(pq_file *f)
{
    size_t size = f->size;
    const uint8_t *head, *tail;
    uint8_t magic[4] = {0}, end[8] = {0};
    int rc = size < 12 ? error_set(LOCH_ECORRUPT, "parquet: not a Parquet file (%zu bytes)", size) : 0;
    rc = rc ? rc : fetch(f, 0, 4, &head);
    if (rc == 0)
        memcpy(magic, head, 4);
    rc = rc ? rc : fetch(f, size - 8, 8, &tail);
    if (rc == 0)
        memcpy(end, tail, 8);
    if (rc == 0 && (memcmp(magic, "PAR1", 4) != 0 || memcmp(end + 4, "PAR1", 4) != 0))
        rc = error_set(LOCH_ECORRUPT, "parquet: not a Parquet file (no PAR1 at both ends)");
    if (rc < 0)
        return rc;
    uint32_t flen = (uint32_t)end[0] | (uint32_t)end[1] << 8 | (uint32_t)end[2] << 16 | (uint32_t)end[3] << 24;
    if ((uint64_t)flen > size - 12)
        return error_set(LOCH_ECORRUPT, "parquet: a footer of %u bytes in a file of %zu", flen, size);
    const uint8_t *footer;
    if ((rc = fetch(f, size - 8 - flen, flen, &footer)) < 0)
        return rc;
    tr r = {footer, flen, 0, size - 8 - flen, 0};
    schema_el *els = NULL;
    size_t nels = 0;
    int16_t id = 0;
    int t;
    while ((rc = tr_field(&r, &id, &t)) == 0 && t != T_STOP) {
        if (id == 2 && t == T_LIST && !els) {
            int elem;
            uint64_t n;
            if ((rc = tr_list(&r, &elem, &n)) < 0)
                break;
            if (elem != T_STRUCT || n < 1) {
                rc = tr_bad(&r, "a schema that is not a list of elements");
                break;
            }
            if (!(els = calloc(n, sizeof(*els)))) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            for (nels = 0; rc == 0 && nels < n; nels++)
                rc = read_schema_el(&r, &els[nels]);
        } else if (id == 3) {
            rc = tr_number(&r, t, &f->rows);
        } else if (id == 4 && t == T_LIST && !f->groups) {
            if (!els) {
                rc = tr_bad(&r, "row groups before the schema");
                break;
            }
            /* the schema's leaves: the columns every row group lists, in order */
            size_t leaves = 0, top = 0;
            f->cols = calloc(nels, sizeof(pq_column));
            f->leaf = calloc(nels, sizeof(int));
            size_t names_len = 0;
            for (size_t i = 1; i < nels; i++)
                names_len += els[i].name_len + 1;
            f->names = calloc(names_len + nels + 1, 1);
            f->top = calloc(nels, sizeof(char *));
            if (!f->cols || !f->leaf || !f->names || !f->top) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            /* walk the tree: a top-level element is a leaf (no children) or a group whose
             * subtree's leaves are counted but not offered */
            char *np = f->names;
            int64_t want = els[0].children;
            size_t i = 1;
            for (int64_t k = 0; rc == 0 && k < want; k++) {
                if (i >= nels) {
                    rc = tr_bad(&r, "a schema with fewer elements than its root's children");
                    break;
                }
                if (els[i].name) { /* every top-level name, whatever it holds */
                    memcpy(np, els[i].name, els[i].name_len);
                    f->top[f->ntop++] = np;
                    np += els[i].name_len + 1;
                }
                if (els[i].children <= 0) {
                    if (els[i].name && els[i].repetition != 2 && els[i].type >= 0 && els[i].type <= P_FIXED) {
                        pq_column *c = &f->cols[top];
                        c->name = f->top[f->ntop - 1];
                        classify(&els[i], c);
                        f->leaf[top++] = (int)leaves;
                    }
                    leaves++;
                    i++;
                    continue;
                }
                /* a group: skip its subtree, counting its leaves */
                int64_t pending = els[i].children;
                i++;
                while (pending > 0 && rc == 0) {
                    if (i >= nels || pending > (int64_t)nels) {
                        rc = tr_bad(&r, "a schema group with more children than elements");
                        break;
                    }
                    pending--;
                    if (els[i].children > 0)
                        pending += els[i].children;
                    else
                        leaves++;
                    i++;
                }
            }
            if (rc < 0)
                break;
            if (i != nels) {
                rc = tr_bad(&r, "schema elements beyond the root's children");
                break;
            }
            f->ncols = top;
            f->nleaves = leaves;
            int elem;
            uint64_t n;
            if ((rc = tr_list(&r, &elem, &n)) < 0)
                break;
            if (elem != T_STRUCT) {
                rc = tr_bad(&r, "row groups that are not structs");
                break;
            }
            if (!(f->groups = calloc(n + 1, sizeof(pq_group)))) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            int64_t first = 0;
            for (; rc == 0 && f->ngroups < n; f->ngroups++) {
                pq_group *g = &f->groups[f->ngroups];
                rc = read_row_group(&r, f, g);
                if (rc == 0 && (g->rows > INT64_MAX - first))
                    rc = tr_bad(&r, "row counts that overflow");
                g->first = first;
                first += rc == 0 ? g->rows : 0;
            }
            if (rc == 0 && f->rows != first && f->rows >= 0)
                rc = error_set(LOCH_ECORRUPT, "parquet: the footer says %" PRId64 " rows, its row groups %" PRId64,
                               f->rows, first);
        } else {
            rc = tr_skip(&r, t);
        }
        if (rc < 0)
            break;
    }
    free(els);
    if (rc == 0 && !f->groups)
        rc = els || f->cols ? tr_bad(&r, "a footer without row groups") : tr_bad(&r, "a footer without a schema");
    return rc;
}

int pq_open(pq_file **out, const uint8_t *data, size_t size)
{
    *out = NULL;
    pq_file *f = calloc(1, sizeof(*f));
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    f->data = data;
    f->size = size;
    f->dict_group = -1;
    int rc = open_footer(f);
    if (rc < 0) {
        pq_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int pq_open_reader(pq_file **out, const pq_reader *reader, uint64_t size)
{
    *out = NULL;
    if (size > SIZE_MAX / 2)
        return error_set(LOCH_EUNSUPPORTED, "parquet: a file of %llu bytes", (unsigned long long)size);
    pq_file *f = calloc(1, sizeof(*f));
    if (!f)
        return error_set(LOCH_ENOMEM, "out of memory");
    f->reader = *reader;
    f->size = (size_t)size;
    f->dict_group = -1;
    int rc = open_footer(f);
    pq_trim(f); /* the footer's bytes are parsed */
    if (rc < 0) {
        pq_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int64_t pq_rows(const pq_file *f) { return f->rows; }

void pq_trim(pq_file *f)
{
    free(f->io);
    f->io = NULL;
    f->io_cap = 0;
    free(f->page);
    free(f->dict);
    free(f->dict_at);
    f->page = f->dict = NULL;
    f->dict_at = NULL;
    f->page_cap = f->dict_cap = f->dict_len = 0;
    f->dict_group = -1;
}

int pq_find(const pq_file *f, const char *name)
{
    for (size_t i = 0; i < f->ncols; i++)
        if (strcmp(f->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t pq_columns(const pq_file *f) { return f->ncols; }

bool pq_has_name(const pq_file *f, const char *name)
{
    for (size_t i = 0; i < f->ntop; i++)
        if (strcasecmp(f->top[i], name) == 0)
            return true;
    return false;
}

const pq_column *pq_column_at(const pq_file *f, int col)
{
    return col >= 0 && (size_t)col < f->ncols ? &f->cols[col] : NULL;
}

/* ---- pages ----------------------------------------------------------------------------- */

typedef struct {
    int type;
    int64_t usize, csize;
    int64_t values, encoding;
    int64_t def_len, rep_len, compressed; /* v2 */
    size_t payload;                       /* the payload's offset in the file */
} page_hdr;

static int read_page_sub(tr *r, page_hdr *h, int v2)
{
    int16_t id = 0;
    int t, rc;
    while ((rc = tr_field(r, &id, &t)) == 0 && t != T_STOP) {
        if (id == 1)
            rc = tr_number(r, t, &h->values);
        else if ((!v2 && id == 2) || (v2 && id == 4))
            rc = tr_number(r, t, &h->encoding);
        else if (v2 && id == 5)
            rc = tr_number(r, t, &h->def_len);
        else if (v2 && id == 6)
            rc = tr_number(r, t, &h->rep_len);
        else if (v2 && id == 7)
            rc = tr_number(r, t, &h->compressed);
        else
            rc = tr_skip(r, t);
        if (rc < 0)
            return rc;
    }
    return rc;
}

/* The page header at file offset `at`, inside [at, end), from bytes[0..n). */
static int parse_page_header(const uint8_t *bytes, size_t n, size_t at, size_t end, page_hdr *h)
{
    tr r = {bytes, n, 0, at, 0};
    int16_t id = 0;
    int t, rc;
    memset(h, 0, sizeof(*h));
    h->type = -1;
    h->compressed = 1;
    h->values = -1;
    while ((rc = tr_field(&r, &id, &t)) == 0 && t != T_STOP) {
        int64_t v;
        if (id == 1) {
            rc = tr_number(&r, t, &v);
            h->type = (int)v;
        } else if (id == 2) {
            rc = tr_number(&r, t, &h->usize);
        } else if (id == 3) {
            rc = tr_number(&r, t, &h->csize);
        } else if ((id == 5 || id == 7 || id == 8) && t == T_STRUCT) {
            rc = read_page_sub(&r, h, id == 8);
        } else {
            rc = tr_skip(&r, t);
        }
        if (rc < 0)
            return rc;
    }
    if (h->csize < 0 || h->usize < 0 || h->usize > PQ_MAX_PAGE || (uint64_t)h->csize > end - at - r.pos)
        return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu whose sizes do not fit its column chunk", at);
    if ((h->type == PAGE_DATA || h->type == PAGE_DATA_V2 || h->type == PAGE_DICTIONARY) && h->values < 0)
        return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu without a value count", at);
    h->payload = at + r.pos;
    return rc;
}

/* The page header at file offset `at`, inside [at, end): read in a window that grows
 * until the header fits (statistics can make one long). */
static int read_page_header(pq_file *f, size_t at, size_t end, page_hdr *h)
{
    for (size_t win = 512;; win *= 8) {
        size_t n = end - at < win ? end - at : win;
        const uint8_t *bytes = NULL;
        int rc = fetch(f, at, n, &bytes);
        rc = rc ? rc : parse_page_header(bytes, n, at, end, h);
        if (rc == 0 || n == end - at || rc == LOCH_ENOMEM || rc == LOCH_EIO)
            return rc;
    }
}

/* A chunk's extent in the file: where its first page starts, and its end. */
static int chunk_range(const pq_file *f, const pq_chunk *c, size_t *start, size_t *end)
{
    int64_t s = c->dict_off > 0 && c->dict_off < c->data_off ? c->dict_off : c->data_off;
    if (c->codec != 0 && c->codec != 1)
        return error_set(LOCH_EUNSUPPORTED, "parquet: compression codec %d is not read here", c->codec);
    if (s < 4 || c->size <= 0 || (uint64_t)s > f->size || (uint64_t)c->size > f->size - (uint64_t)s)
        return error_set(LOCH_ECORRUPT, "parquet: a column chunk outside the file (offset %" PRId64 ", %" PRId64
                         " bytes)", s, c->size);
    *start = (size_t)s;
    *end = (size_t)(s + c->size);
    return 0;
}

/* A page's bytes, uncompressed into *dst (or pointing into the file when stored plain),
 * at least the first `want` bytes of the compressed part. skip: bytes at the payload's
 * start stored uncompressed (v2 levels). */
static int page_bytes(pq_file *f, int codec, const page_hdr *h, size_t skip, int compressed, uint8_t **dst,
                      size_t *cap, size_t want, const uint8_t **out, size_t *len)
{
    const uint8_t *src;
    size_t csize = (size_t)h->csize, usize = (size_t)h->usize;
    if (skip > csize || skip > usize)
        return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu whose levels are longer than it", h->payload);
    int rc = fetch(f, h->payload, csize, &src);
    if (rc < 0)
        return rc;
    if (codec == 0 || !compressed) {
        if (csize != usize)
            return error_set(LOCH_ECORRUPT, "parquet: an uncompressed page at byte %zu of %zu bytes that says %zu",
                             h->payload, csize, usize);
        *out = src;
        *len = csize;
        return 0;
    }
    if ((rc = grow(dst, cap, usize + 1)) < 0)
        return rc;
    memcpy(*dst, src, skip);
    size_t got;
    rc = snappy_decode(src + skip, csize - skip, *dst + skip, usize - skip, want > skip ? want - skip : 0, &got);
    if (rc == 0 && want >= usize && got != usize - skip)
        rc = error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu holds %zu bytes, not %zu", h->payload, got + skip,
                       usize);
    if (rc < 0)
        return error_prefix("parquet page at byte %zu: ", h->payload);
    *out = *dst;
    *len = skip + got;
    return 0;
}

/* ---- the RLE / bit-packed hybrid ------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    int bw;
    uint64_t left;     /* values left in the current run */
    int packed;
    uint64_t value;    /* RLE run's value */
    size_t bits_at;    /* packed run: byte where it starts */
    uint64_t index;    /* packed run: values taken */
} rle;

static int rle_run(rle *d)
{
    uint64_t h = 0;
    int shift = 0;
    for (;;) {
        if (d->pos >= d->n || shift > 63)
            return error_set(LOCH_ECORRUPT, "parquet: a run list cut short");
        uint8_t b = d->p[d->pos++];
        h |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (h & 1) {
        uint64_t groups = h >> 1;
        if (groups == 0 || groups > (d->n - d->pos) / (size_t)(d->bw ? d->bw : 1) + 1)
            return error_set(LOCH_ECORRUPT, "parquet: a bit-packed run longer than its data");
        size_t bytes = (size_t)groups * (size_t)d->bw; /* 8 values of bw bits each */
        if (bytes > d->n - d->pos)
            return error_set(LOCH_ECORRUPT, "parquet: a bit-packed run longer than its data");
        d->packed = 1;
        d->left = groups * 8;
        d->bits_at = d->pos;
        d->index = 0;
        d->pos += bytes;
    } else {
        size_t w = ((size_t)d->bw + 7) / 8;
        if (w > d->n - d->pos)
            return error_set(LOCH_ECORRUPT, "parquet: a run's value cut short");
        uint64_t v = 0;
        for (size_t i = 0; i < w; i++)
            v |= (uint64_t)d->p[d->pos + i] << (8 * i);
        d->pos += w;
        if (d->bw < 64 && v >> d->bw) /* a level of 1 bit (or an index) wider than its width */
            return error_set(LOCH_ECORRUPT, "parquet: a run's value %" PRIu64 " wider than %d bits", v, d->bw);
        d->packed = 0;
        d->left = h >> 1;
        d->value = v;
        if (d->left == 0)
            return rle_run(d);
    }
    return 0;
}

static uint64_t packed_at(const rle *d, uint64_t i)
{
    uint64_t bit = i * (uint64_t)d->bw, v = 0;
    for (int b = 0; b < d->bw; b++, bit++)
        v |= (uint64_t)((d->p[d->bits_at + bit / 8] >> (bit % 8)) & 1) << b;
    return v;
}

static int rle_next(rle *d, uint64_t *v)
{
    if (d->bw == 0) {
        *v = 0;
        return 0;
    }
    if (d->left == 0) {
        int rc = rle_run(d);
        if (rc < 0)
            return rc;
    }
    d->left--;
    *v = d->packed ? packed_at(d, d->index++) : d->value;
    return 0;
}

/* Skips count values; *sum gets their total (definition levels: how many are values). */
static int rle_skip(rle *d, uint64_t count, uint64_t *sum)
{
    *sum = 0;
    if (d->bw == 0)
        return 0;
    while (count) {
        if (d->left == 0) {
            int rc = rle_run(d);
            if (rc < 0)
                return rc;
        }
        uint64_t k = count < d->left ? count : d->left;
        if (d->packed) {
            for (uint64_t i = 0; i < k; i++)
                *sum += packed_at(d, d->index + i);
            d->index += k;
        } else {
            *sum += d->value * k;
        }
        d->left -= k;
        count -= k;
    }
    return 0;
}

/* ---- values ---------------------------------------------------------------------------- */

static int fixed_width(const pq_column *c)
{
    switch (c->physical) {
    case P_INT32: case P_FLOAT: return 4;
    case P_INT64: case P_DOUBLE: return 8;
    case P_INT96: return 12;
    case P_FIXED: return c->type_length;
    default: return 0;
    }
}

static int64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* The k-th PLAIN value of data[0..n) (booleans: bits). */
static int plain_at(const pq_column *c, const uint8_t *data, size_t n, uint64_t k, pq_value *v)
{
    memset(v, 0, sizeof(*v));
    if (c->physical == P_BOOLEAN) {
        if (k / 8 >= n)
            return error_set(LOCH_ECORRUPT, "parquet: a page with fewer values than it says");
        v->i = (data[k / 8] >> (k % 8)) & 1;
        return 0;
    }
    if (c->physical == P_BYTE_ARRAY) {
        size_t at = 0;
        for (uint64_t i = 0;; i++) {
            if (n - at < 4)
                return error_set(LOCH_ECORRUPT, "parquet: a page with fewer values than it says");
            uint32_t len = (uint32_t)le(data + at, 4);
            if (len > n - at - 4)
                return error_set(LOCH_ECORRUPT, "parquet: a value longer than its page");
            if (i == k) {
                v->bytes = data + at + 4;
                v->len = len;
                return 0;
            }
            at += 4 + (size_t)len;
        }
    }
    int w = fixed_width(c);
    if (w <= 0 || k >= n / (size_t)w)
        return error_set(LOCH_ECORRUPT, "parquet: a page with fewer values than it says");
    const uint8_t *p = data + k * (size_t)w;
    switch (c->physical) {
    case P_INT32: v->i = (int32_t)(uint32_t)le(p, 4); break;
    case P_INT64: v->i = le(p, 8); break;
    case P_FLOAT: { float x; memcpy(&x, p, 4); v->d = x; break; }
    case P_DOUBLE: memcpy(&v->d, p, 8); break;
    case P_INT96: {
        /* nanoseconds of the day, then the Julian day */
        int64_t nanos = le(p, 8), day = (int32_t)(uint32_t)le(p + 8, 4);
        v->i = (day - 2440588) * INT64_C(86400000000000) + nanos;
        break;
    }
    default: v->bytes = p; v->len = (size_t)w;
    }
    return 0;
}

/* Loads the dictionary page of a chunk (once per chunk; byte arrays get an offset table). */
static int load_dict(pq_file *f, size_t g, int leaf, const pq_column *c, const page_hdr *h, int codec)
{
    if (f->dict_group == (int64_t)g && f->dict_leaf == leaf)
        return 0;
    f->dict_group = -1;
    const uint8_t *bytes;
    size_t len;
    int rc = page_bytes(f, codec, h, 0, 1, &f->dict, &f->dict_cap, (size_t)h->usize, &bytes, &len);
    if (rc < 0)
        return rc;
    if (bytes != f->dict) { /* stored plain: keep a copy, the page buffer is reused */
        if ((rc = grow(&f->dict, &f->dict_cap, len + 1)) < 0)
            return rc;
        memcpy(f->dict, bytes, len);
    }
    if (h->encoding != E_PLAIN && h->encoding != E_PLAIN_DICTIONARY)
        return error_set(LOCH_EUNSUPPORTED, "parquet: dictionary encoding %" PRId64, h->encoding);
    f->dict_len = len;
    f->dict_count = h->values;
    free(f->dict_at);
    f->dict_at = NULL;
    if (c->physical == P_BYTE_ARRAY) {
        if ((uint64_t)h->values > len / 4 + 1 || !(f->dict_at = malloc(sizeof(uint32_t) * ((size_t)h->values + 1))))
            return h->values > 0 && (uint64_t)h->values > len / 4 + 1
                       ? error_set(LOCH_ECORRUPT, "parquet: a dictionary with more entries than bytes")
                       : error_set(LOCH_ENOMEM, "out of memory");
        size_t at = 0;
        for (int64_t i = 0; i < h->values; i++) {
            if (len - at < 4 || le(f->dict + at, 4) > (int64_t)(len - at - 4))
                return error_set(LOCH_ECORRUPT, "parquet: a dictionary cut short at entry %" PRId64, i);
            f->dict_at[i] = (uint32_t)at;
            at += 4 + (size_t)le(f->dict + at, 4);
        }
    } else if (c->physical != P_BOOLEAN &&
               (fixed_width(c) <= 0 || (uint64_t)h->values > len / (size_t)fixed_width(c))) {
        return error_set(LOCH_ECORRUPT, "parquet: a dictionary with more entries than bytes");
    }
    f->dict_group = (int64_t)g;
    f->dict_leaf = leaf;
    return 0;
}

static int dict_value(const pq_file *f, const pq_column *c, uint64_t idx, pq_value *v)
{
    if (idx >= (uint64_t)f->dict_count)
        return error_set(LOCH_ECORRUPT, "parquet: a dictionary index %" PRIu64 " past its %" PRId64 " entries", idx,
                         f->dict_count);
    if (c->physical == P_BYTE_ARRAY) {
        memset(v, 0, sizeof(*v));
        v->bytes = f->dict + f->dict_at[idx] + 4;
        v->len = (size_t)le(f->dict + f->dict_at[idx], 4);
        return 0;
    }
    return plain_at(c, f->dict, f->dict_len, idx, v);
}

/* A data page, ready to be read: its levels and values. */
typedef struct {
    int64_t count;
    int encoding;
    rle def;          /* bw 0 for required columns */
    const uint8_t *vals;
    size_t vals_len;
} page_view;

/* Decodes the data page h (of column c, chunk codec) into pv; want_value: for a
 * required, plain, fixed-width column only the bytes up to that value are needed. */
static int open_page(pq_file *f, const pq_column *c, int codec, const page_hdr *h, int64_t want_value,
                     page_view *pv)
{
    memset(pv, 0, sizeof(*pv));
    pv->count = h->values;
    pv->encoding = (int)h->encoding;
    if (pv->encoding != E_PLAIN && pv->encoding != E_PLAIN_DICTIONARY && pv->encoding != E_RLE_DICTIONARY &&
        !(pv->encoding == E_RLE && c->physical == P_BOOLEAN))
        return error_set(LOCH_EUNSUPPORTED, "parquet: value encoding %d is not read here", pv->encoding);
    const uint8_t *b;
    size_t len;
    int rc;
    if (h->type == PAGE_DATA_V2) {
        if (h->rep_len != 0 || h->def_len < 0 || h->def_len > h->csize)
            return error_set(LOCH_ECORRUPT, "parquet: a v2 page at byte %zu with bad level lengths", h->payload);
        if ((rc = page_bytes(f, codec, h, (size_t)h->def_len, h->compressed != 0, &f->page, &f->page_cap,
                             (size_t)h->usize, &b, &len)) < 0)
            return rc;
        pv->def = (rle){b, (size_t)h->def_len, 0, c->optional ? 1 : 0, 0, 0, 0, 0, 0};
        pv->vals = b + h->def_len;
        pv->vals_len = len - (size_t)h->def_len;
        return 0;
    }
    size_t want = (size_t)h->usize;
    int w = fixed_width(c);
    if (!c->optional && pv->encoding == E_PLAIN && w > 0 && want_value >= 0 &&
        (uint64_t)want_value < (uint64_t)h->usize / (size_t)w)
        want = (size_t)(want_value + 1) * (size_t)w;
    if ((rc = page_bytes(f, codec, h, 0, 1, &f->page, &f->page_cap, want, &b, &len)) < 0)
        return rc;
    if (c->optional) {
        if (len < 4 || (uint64_t)le(b, 4) > len - 4)
            return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with bad definition levels", h->payload);
        size_t dl = (size_t)le(b, 4);
        pv->def = (rle){b + 4, dl, 0, 1, 0, 0, 0, 0, 0};
        b += 4 + dl;
        len -= 4 + dl;
    }
    pv->vals = b;
    pv->vals_len = len;
    return 0;
}

/* The value at position k of the page's values (k counts non-null values only). */
static int page_value(pq_file *f, const pq_column *c, page_view *pv, rle *idx, uint64_t k, pq_value *v)
{
    if (pv->encoding == E_PLAIN)
        return plain_at(c, pv->vals, pv->vals_len, k, v);
    if (pv->encoding == E_RLE) { /* booleans: a 4-byte length, then runs of bit width 1 */
        if (pv->vals_len < 4 || (uint64_t)le(pv->vals, 4) > pv->vals_len - 4)
            return error_set(LOCH_ECORRUPT, "parquet: a boolean run list with a bad length");
        rle d = {pv->vals + 4, (size_t)le(pv->vals, 4), 0, 1, 0, 0, 0, 0, 0};
        uint64_t s, x;
        memset(v, 0, sizeof(*v));
        int rc = rle_skip(&d, k, &s);
        rc = rc ? rc : rle_next(&d, &x);
        v->i = (int64_t)x;
        return rc;
    }
    uint64_t i, s;
    int rc = 0;
    if (!idx) { /* a point read: decode from the start */
        if (pv->vals_len < 1 || pv->vals[0] > 32)
            return error_set(LOCH_ECORRUPT, "parquet: a dictionary-encoded page with a bad bit width");
        rle d = {pv->vals + 1, pv->vals_len - 1, 0, pv->vals[0], 0, 0, 0, 0, 0};
        rc = rle_skip(&d, k, &s);
        rc = rc ? rc : rle_next(&d, &i);
    } else {
        rc = rle_next(idx, &i);
    }
    return rc ? rc : dict_value(f, c, i, v);
}

/* Bytes [from, to) of a v1 data page's payload, uncompressed: pointing into the file
 * when stored plain, else decoded into f->page from the 64 KiB block holding `from`
 * (snappy_decode_at), or from the start when the block's copies reach further back. */
static int page_range(pq_file *f, int codec, const page_hdr *h, const snappy_mark *marks, size_t nmarks, size_t from,
                      size_t to, const uint8_t **out)
{
    size_t csize = (size_t)h->csize, usize = (size_t)h->usize;
    if (to > usize || from > to)
        return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with fewer values than it says", h->payload);
    if (codec == 0) {
        if (csize != usize)
            return error_set(LOCH_ECORRUPT, "parquet: an uncompressed page at byte %zu whose sizes differ",
                             h->payload);
        return fetch(f, h->payload + from, to - from, out);
    }
    int rc = grow(&f->page, &f->page_cap, usize + 1);
    const uint8_t *src;
    size_t lo, got, m = from / SNAPPY_MARK_EVERY;
    if (rc == 0 && m < nmarks) { /* only the compressed bytes from the mark to two marks on */
        size_t first = marks[m].in, last = m + 2 < nmarks ? marks[m + 2].in : csize;
        rc = first < last && last <= csize ? fetch(f, h->payload + first, last - first, &src) : 1;
        rc = rc ? rc : snappy_decode_at(src, last - first, first, csize, f->page, usize, from, to, marks, nmarks, &lo);
    } else {
        rc = rc ? rc : 1;
    }
    if (rc == 1) { /* the whole page, decoded from the start as far as `to` */
        rc = fetch(f, h->payload, csize, &src);
        rc = rc ? rc : snappy_decode_at(src, csize, 0, csize, f->page, usize, from, to, NULL, 0, &lo);
        if (rc == 1)
            rc = snappy_decode(src, csize, f->page, usize, to, &got);
    }
    if (rc < 0)
        return error_prefix("parquet page at byte %zu: ", h->payload);
    *out = f->page + from;
    return 0;
}

/* A value of a plain, fixed-width column in a v1 page, reading only the bytes it needs:
 * the definition levels (when optional) and the value's own bytes. */
static int point_plain(pq_file *f, const pq_column *c, int codec, const page_hdr *h, const snappy_mark *marks,
                       size_t nmarks, int64_t r, pq_value *out)
{
    size_t w = (size_t)fixed_width(c), at = 0;
    uint64_t before = (uint64_t)r;
    const uint8_t *p;
    int rc;
    if (c->optional) {
        if ((rc = page_range(f, codec, h, marks, nmarks, 0, 4, &p)) < 0)
            return rc;
        size_t dl = (size_t)le(p, 4);
        if (dl > (size_t)h->usize - 4)
            return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with bad definition levels", h->payload);
        if ((rc = page_range(f, codec, h, marks, nmarks, 0, 4 + dl, &p)) < 0)
            return rc;
        rle def = {p + 4, dl, 0, 1, 0, 0, 0, 0, 0};
        uint64_t lvl;
        if ((rc = rle_skip(&def, (uint64_t)r, &before)) < 0 || (rc = rle_next(&def, &lvl)) < 0)
            return rc;
        if (!lvl) {
            memset(out, 0, sizeof(*out));
            out->null = true;
            return 0;
        }
        at = 4 + dl;
    }
    if (before >= ((size_t)h->usize - at) / w)
        return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with fewer values than it says", h->payload);
    size_t from = at + (size_t)before * w;
    if ((rc = page_range(f, codec, h, marks, nmarks, from, from + w, &p)) < 0)
        return rc;
    return plain_at(c, p, w, 0, out);
}

/* The value at row r of the data page h (of group g, chunk ch). */
static int read_in_page(pq_file *f, int col, size_t g, const pq_chunk *ch, size_t chunk_at, const page_hdr *h,
                        const snappy_mark *marks, size_t nmarks, int64_t r, pq_value *out)
{
    const pq_column *c = &f->cols[col];
    if (h->type == PAGE_DATA && h->encoding == E_PLAIN && fixed_width(c) > 0)
        return point_plain(f, c, ch->codec, h, marks, nmarks, r, out);
    int rc;
    if ((h->encoding == E_PLAIN_DICTIONARY || h->encoding == E_RLE_DICTIONARY) &&
        !(f->dict_group == (int64_t)g && f->dict_leaf == f->leaf[col])) {
        page_hdr d;
        size_t at, end;
        if ((rc = chunk_range(f, ch, &at, &end)) < 0 || (rc = read_page_header(f, chunk_at, end, &d)) < 0)
            return rc;
        if (d.type != PAGE_DICTIONARY)
            return error_set(LOCH_ECORRUPT, "parquet: a dictionary-encoded page without a dictionary");
        if ((rc = load_dict(f, g, f->leaf[col], c, &d, ch->codec)) < 0)
            return rc;
    }
    page_view pv;
    if ((rc = open_page(f, c, ch->codec, h, r, &pv)) < 0)
        return rc;
    uint64_t before = (uint64_t)r, lvl = 1;
    if (pv.def.bw && ((rc = rle_skip(&pv.def, (uint64_t)r, &before)) < 0 || (rc = rle_next(&pv.def, &lvl)) < 0))
        return rc;
    if (!lvl) {
        memset(out, 0, sizeof(*out));
        out->null = true;
        return 0;
    }
    return page_value(f, c, &pv, NULL, before, out);
}

/* The row group holding row (groups are in row order, each starting at `first`). */
static size_t group_of(const pq_file *f, int64_t row)
{
    size_t lo = 0, hi = f->ngroups;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->groups[mid].first <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int pq_read(pq_file *f, int col, int64_t row, pq_value *out)
{
    if (col < 0 || (size_t)col >= f->ncols || row < 0 || row >= f->rows)
        return error_set(LOCH_EINVALID, "parquet: no row %" PRId64 " in column %d", row, col);
    const col_dir *dir = f->dirs ? &f->dirs[col] : NULL;
    page_hdr h;
    size_t at, end;
    int rc;
    if (dir && dir->n) { /* prepared: straight to the page */
        size_t lo = 0, hi = dir->n;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (dir->pages[mid].first <= row)
                lo = mid;
            else
                hi = mid;
        }
        const page_entry *e = &dir->pages[lo];
        size_t g = group_of(f, row);
        const pq_chunk *ch = &f->groups[g].chunks[f->leaf[col]];
        if (row < e->first || row - e->first >= e->values)
            return error_set(LOCH_ECORRUPT, "parquet: column %s has no page for row %" PRId64, f->cols[col].name, row);
        if ((rc = chunk_range(f, ch, &at, &end)) < 0 || (rc = read_page_header(f, e->at, end, &h)) < 0)
            return rc;
        return read_in_page(f, col, g, ch, e->chunk_at, &h, dir->marks ? dir->marks + e->mark0 : NULL, e->nmarks, row - e->first, out);
    }
    size_t lo = group_of(f, row);
    const pq_group *g = &f->groups[lo];
    const pq_chunk *ch = &g->chunks[f->leaf[col]];
    int64_t r = row - g->first;
    if ((rc = chunk_range(f, ch, &at, &end)) < 0)
        return rc;
    size_t chunk_at = at;
    for (;;) {
        if (at >= end)
            return error_set(LOCH_ECORRUPT, "parquet: column %s of row group %zu ends before row %" PRId64,
                             f->cols[col].name, lo, r);
        if ((rc = read_page_header(f, at, end, &h)) < 0)
            return rc;
        if ((h.type == PAGE_DATA || h.type == PAGE_DATA_V2) && r < h.values)
            return read_in_page(f, col, lo, ch, chunk_at, &h, NULL, 0, r, out);
        if (h.type == PAGE_DATA || h.type == PAGE_DATA_V2)
            r -= h.values;
        at = h.payload + (size_t)h.csize;
    }
}

static int dir_add(col_dir *d, const page_entry *e)
{
    int rc = grow_to(&d->pages, &d->cap, d->n + 1, sizeof(*d->pages), true);
    if (rc == 0)
        d->pages[d->n++] = *e;
    return rc;
}

int pq_prepare(pq_file *f, int col)
{
    if (col < 0 || (size_t)col >= f->ncols)
        return error_set(LOCH_EINVALID, "parquet: no column %d", col);
    if (!f->dirs && !(f->dirs = calloc(f->ncols, sizeof(col_dir))))
        return error_set(LOCH_ENOMEM, "out of memory");
    col_dir *d = &f->dirs[col];
    if (d->n)
        return 0;
    const pq_column *c = &f->cols[col];
    int rc = 0;
    for (size_t gi = 0; rc == 0 && gi < f->ngroups; gi++) {
        const pq_group *g = &f->groups[gi];
        const pq_chunk *ch = &g->chunks[f->leaf[col]];
        size_t at, end;
        int64_t row = g->first;
        if (g->rows == 0)
            continue;
        if ((rc = chunk_range(f, ch, &at, &end)) < 0)
            break;
        size_t chunk_at = at;
        while (rc == 0 && row < g->first + g->rows) {
            page_hdr h;
            if (at >= end) {
                rc = error_set(LOCH_ECORRUPT, "parquet: column %s of row group %zu ends at row %" PRId64, c->name, gi,
                               row);
                break;
            }
            if ((rc = read_page_header(f, at, end, &h)) < 0)
                break;
            if (h.type == PAGE_DATA || h.type == PAGE_DATA_V2) {
                if (h.values > g->first + g->rows - row) {
                    rc = error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with more values than its row group",
                                   h.payload);
                    break;
                }
                page_entry e = {at, chunk_at, row, h.values, d->nmarks, 0};
                if (h.type == PAGE_DATA && ch->codec == 1 && h.encoding == E_PLAIN && fixed_width(c) > 0) {
                    size_t want = (size_t)h.usize / SNAPPY_MARK_EVERY + 1, got = 0;
                    if ((rc = grow_to(&d->marks, &d->marks_cap, d->nmarks + want, sizeof(*d->marks), true)) < 0)
                        break;
                    const uint8_t *src;
                    uint64_t declared = 0;
                    if ((rc = fetch(f, h.payload, (size_t)h.csize, &src)) < 0 ||
                        (snappy_length(src, (size_t)h.csize, &declared) > 0 && declared != (uint64_t)h.usize) ||
                        (rc = snappy_marks(src, (size_t)h.csize, d->marks + d->nmarks, want, &got)) < 0) {
                        rc = rc ? rc : error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu of another length than "
                                                 "it says", h.payload);
                        break;
                    }
                    e.nmarks = got;
                    d->nmarks += got;
                }
                rc = dir_add(d, &e);
                row += h.values;
            }
            at = h.payload + (size_t)h.csize;
        }
    }
    if (rc < 0) {
        free(d->pages);
        free(d->marks);
        memset(d, 0, sizeof(*d));
    }
    return rc;
}

int pq_scan(pq_file *f, int col, int (*fn)(void *ctx, int64_t row, const pq_value *v), void *ctx)
{
    if (col < 0 || (size_t)col >= f->ncols)
        return error_set(LOCH_EINVALID, "parquet: no column %d", col);
    const pq_column *c = &f->cols[col];
    int rc = 0;
    for (size_t gi = 0; rc == 0 && gi < f->ngroups; gi++) {
        const pq_group *g = &f->groups[gi];
        const pq_chunk *ch = &g->chunks[f->leaf[col]];
        size_t at, end;
        int64_t row = g->first, stop = g->first + g->rows;
        if (g->rows == 0)
            continue;
        if ((rc = chunk_range(f, ch, &at, &end)) < 0)
            break;
        while (rc == 0 && row < stop) {
            page_hdr h;
            if (at >= end)
                return error_set(LOCH_ECORRUPT, "parquet: column %s of row group %zu ends at row %" PRId64, c->name,
                                 gi, row);
            if ((rc = read_page_header(f, at, end, &h)) < 0)
                break;
            if (h.type == PAGE_DICTIONARY) {
                rc = load_dict(f, gi, f->leaf[col], c, &h, ch->codec);
            } else if (h.type == PAGE_DATA || h.type == PAGE_DATA_V2) {
                page_view pv;
                if (h.values > stop - row)
                    return error_set(LOCH_ECORRUPT, "parquet: a page at byte %zu with more values than its row group",
                                     h.payload);
                if ((rc = open_page(f, c, ch->codec, &h, -1, &pv)) < 0)
                    break;
                bool dict = pv.encoding == E_PLAIN_DICTIONARY || pv.encoding == E_RLE_DICTIONARY;
                if (dict && (f->dict_group != (int64_t)gi || f->dict_leaf != f->leaf[col]))
                    return error_set(LOCH_ECORRUPT, "parquet: a dictionary-encoded page without a dictionary");
                rle idx = {0};
                if (dict) {
                    if (pv.vals_len < 1 || pv.vals[0] > 32)
                        return error_set(LOCH_ECORRUPT, "parquet: a dictionary-encoded page with a bad bit width");
                    idx = (rle){pv.vals + 1, pv.vals_len - 1, 0, pv.vals[0], 0, 0, 0, 0, 0};
                }
                uint64_t k = 0;
                for (int64_t i = 0; rc == 0 && i < h.values; i++, row++) {
                    uint64_t lvl = 1;
                    pq_value v;
                    if (pv.def.bw && (rc = rle_next(&pv.def, &lvl)) < 0)
                        break;
                    if (!lvl) {
                        memset(&v, 0, sizeof(v));
                        v.null = true;
                    } else if ((rc = page_value(f, c, &pv, dict ? &idx : NULL, k++, &v)) < 0) {
                        break;
                    }
                    rc = fn(ctx, row, &v);
                }
            }
            at = h.payload + (size_t)h.csize;
        }
    }
    return rc;
}

/* ---- text the engine casts back ------------------------------------------------------------ */

static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    /* days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int pq_text(const pq_column *c, const pq_value *v, buf *out)
{
    buf_clear(out);
    if (v->null)
        return 0;
    int rc = 0;
    switch (c->kind) {
    case PQ_BOOL: rc = buf_puts(out, v->i ? "true" : "false"); break;
    case PQ_INT: rc = buf_printf(out, "%" PRId64, v->i); break;
    case PQ_FLOAT: /* as a double, exactly: the engine may widen it */
    case PQ_DOUBLE: rc = buf_printf(out, "%.17g", v->d); break;
    case PQ_STRING:
        if (memchr(v->bytes, 0, v->len) || utf8_valid_prefix(v->bytes, v->len) != v->len)
            return error_set(LOCH_EUNSUPPORTED, "parquet: text that is not UTF-8 or holds NUL");
        rc = buf_put(out, v->bytes, v->len);
        break;
    case PQ_DATE: {
        int y;
        unsigned m, d;
        civil(v->i, &y, &m, &d);
        if (y < 1 || y > 9999)
            return error_set(LOCH_EUNSUPPORTED, "parquet: a date outside years 1 to 9999");
        rc = buf_printf(out, "%04d-%02u-%02u", y, m, d);
        break;
    }
    case PQ_TIMESTAMP: {
        if (c->unit == 1000000000)
            return error_set(LOCH_EUNSUPPORTED, "parquet: nanosecond timestamps");
        int64_t us = c->unit == 1000 ? v->i * 1000 : v->i;
        if (c->unit == 1000 && (v->i > INT64_MAX / 1000 || v->i < INT64_MIN / 1000))
            return error_set(LOCH_EUNSUPPORTED, "parquet: a timestamp out of range");
        int64_t days = floordiv(us, INT64_C(86400000000)), rest = us - days * INT64_C(86400000000);
        int y;
        unsigned m, d;
        civil(days, &y, &m, &d);
        if (y < 1 || y > 9999)
            return error_set(LOCH_EUNSUPPORTED, "parquet: a timestamp outside years 1 to 9999");
        int64_t s = rest / 1000000;
        rc = buf_printf(out, "%04d-%02u-%02u %02d:%02d:%02d.%06d%s", y, m, d, (int)(s / 3600), (int)(s / 60 % 60),
                        (int)(s % 60), (int)(rest % 1000000), c->utc ? "+00" : "");
        break;
    }
    case PQ_DECIMAL: {
        /* an unscaled integer of up to 128 bits (DuckDB stores precision above 18 in 16
         * bytes), big-endian two's complement when in bytes: as four 32-bit limbs, most
         * significant first, its magnitude divided by ten digit by digit */
        uint8_t be[16];
        if (c->physical == P_INT32 || c->physical == P_INT64) {
            for (int i = 0; i < 16; i++)
                be[15 - i] = (uint8_t)(i < 8 ? (uint64_t)v->i >> (8 * i) : v->i < 0 ? 0xff : 0);
        } else {
            if (v->len == 0 || v->len > 16)
                return error_set(LOCH_EUNSUPPORTED, "parquet: a decimal wider than 128 bits");
            memset(be, v->bytes[0] & 0x80 ? 0xff : 0, 16 - v->len);
            memcpy(be + 16 - v->len, v->bytes, v->len);
        }
        if (c->scale < 0 || c->scale > 38)
            return error_set(LOCH_EUNSUPPORTED, "parquet: a decimal of scale %d", c->scale);
        bool neg = be[0] & 0x80;
        uint32_t limb[4];
        for (int i = 0; i < 4; i++)
            limb[i] = (uint32_t)be[4 * i] << 24 | (uint32_t)be[4 * i + 1] << 16 | (uint32_t)be[4 * i + 2] << 8 |
                      be[4 * i + 3];
        if (neg) { /* two's complement: invert and add one */
            uint64_t carry = 1;
            for (int i = 3; i >= 0; i--) {
                uint64_t x = (uint64_t)(uint32_t)~limb[i] + carry;
                limb[i] = (uint32_t)x;
                carry = x >> 32;
            }
        }
        char digits[48];
        int n = 0;
        do {
            uint64_t rem = 0;
            for (int i = 0; i < 4; i++) {
                uint64_t cur = rem << 32 | limb[i];
                limb[i] = (uint32_t)(cur / 10);
                rem = cur % 10;
            }
            digits[n++] = (char)('0' + (int)rem);
        } while ((limb[0] | limb[1] | limb[2] | limb[3]) && n < 40);
        while (n <= c->scale)
            digits[n++] = '0';
        rc = neg ? buf_putc(out, '-') : 0;
        for (int i = n - 1; rc == 0 && i >= 0; i--)
            rc = (i == c->scale - 1 ? buf_putc(out, '.') : 0) || buf_putc(out, digits[i]);
        break;
    }
    default: return error_set(LOCH_EUNSUPPORTED, "parquet: a column of a type not rendered here");
    }
    return rc ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}
