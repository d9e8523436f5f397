/*
 * formats/arrow_read.c - Arrow IPC reading; see arrow_read.h. Fuzzed by fuzz/fuzz_arrowipc.c.
 *
 * Layout (apache/arrow format/Message.fbs, Schema.fbs, docs Columnar.rst):
 *   file    "ARROW1\0\0", a stream, the footer, int32 footer size, "ARROW1"
 *   stream  messages, each: [0xFFFFFFFF] int32 metadata size, a flatbuffer Message
 *           (padded to 8 bytes), the body; a size of 0 ends the stream
 *   Message { version: short; header_type: ubyte; header: Schema | RecordBatch | ...;
 *             bodyLength: long }
 *   RecordBatch { length: long; nodes: [FieldNode {length, null_count}];
 *                 buffers: [Buffer {offset, length}]; compression }
 * A batch's nodes and buffers list the columns depth first; each field takes one node
 * and a fixed number of buffers for its type (validity first).
 *
 * Flatbuffers: a table starts with an int32 giving the distance back to its vtable;
 * the vtable lists, per field, the field's offset in the table (0 = absent, default
 * value). References (tables, vectors, strings) are uint32 distances forward.
 */
#include "formats/arrow_read.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/utf8.h"

enum { MAX_DEPTH = 32 };

/* Longer arrays are refused: far past anything one message can hold, and small enough
 * that no size computed from a length (at most 256 bits a value) overflows. */
#define MAX_LENGTH (INT64_C(1) << 40)

/* ---- flatbuffers, every read bounds-checked --------------------------------------- */

typedef struct {
    const unsigned char *b;
    size_t n;
} fbuf;

typedef struct {
    const fbuf *f;
    size_t pos, size;       /* the table's bytes */
    size_t vt, vtlen;       /* its vtable */
} ftable;

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int64_t rd64(const unsigned char *p) { return (int64_t)((uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32); }

static int bad(const char *what) { return error_set(LOCH_ECORRUPT, "not a valid Arrow IPC file: %s", what); }

static int table_at(const fbuf *f, size_t pos, ftable *t)
{
    if (pos > f->n || f->n - pos < 4)
        return bad("a table out of bounds");
    int64_t vt = (int64_t)pos - (int32_t)rd32(f->b + pos);
    if (vt < 0 || (size_t)vt > f->n - 4)
        return bad("a vtable out of bounds");
    size_t vtlen = rd16(f->b + vt), size = rd16(f->b + vt + 2);
    if (vtlen < 4 || vtlen % 2 || (size_t)vt + vtlen > f->n || size < 4 || pos + size > f->n)
        return bad("a malformed vtable");
    *t = (ftable){f, pos, size, (size_t)vt, vtlen};
    return 0;
}

static int fb_root(const fbuf *f, ftable *t)
{
    if (f->n < 4)
        return bad("a message too short");
    return table_at(f, rd32(f->b), t);
}

/* The field's position in the buffer, or 0 when absent; width bytes must fit. */
static size_t field(const ftable *t, int i, size_t width)
{
    size_t at = 4 + 2 * (size_t)i;
    if (at + 2 > t->vtlen)
        return 0;
    size_t off = rd16(t->f->b + t->vt + at);
    if (off == 0 || off + width > t->size)
        return 0;
    return t->pos + off;
}

static int64_t get_i64(const ftable *t, int i, int64_t dflt)
{
    size_t p = field(t, i, 8);
    return p ? rd64(t->f->b + p) : dflt;
}
static int32_t get_i32(const ftable *t, int i, int32_t dflt)
{
    size_t p = field(t, i, 4);
    return p ? (int32_t)rd32(t->f->b + p) : dflt;
}
static int get_i16(const ftable *t, int i, int dflt)
{
    size_t p = field(t, i, 2);
    return p ? (int16_t)rd16(t->f->b + p) : dflt;
}
static int get_u8(const ftable *t, int i, int dflt)
{
    size_t p = field(t, i, 1);
    return p ? t->f->b[p] : dflt;
}

/* Follows a reference field; 0 when absent, 1 when found (*target set), <0 on error. */
static int get_ref(const ftable *t, int i, size_t *target)
{
    size_t p = field(t, i, 4);
    if (!p)
        return 0;
    uint64_t to = (uint64_t)p + rd32(t->f->b + p);
    if (to > t->f->n - 4)
        return bad("a reference out of bounds");
    *target = (size_t)to;
    return 1;
}

static int get_table(const ftable *t, int i, ftable *out)
{
    size_t at;
    int rc = get_ref(t, i, &at);
    return rc <= 0 ? rc : table_at(t->f, at, out) < 0 ? -1 : 1;
}

/* A vector of count elements of elsize bytes: *start is the first element. */
static int get_vector(const ftable *t, int i, size_t elsize, size_t *start, size_t *count)
{
    size_t at;
    int rc = get_ref(t, i, &at);
    if (rc <= 0)
        return rc;
    uint64_t n = rd32(t->f->b + at);
    if (n > (t->f->n - at - 4) / (elsize ? elsize : 1))
        return bad("a vector out of bounds");
    *start = at + 4;
    *count = (size_t)n;
    return 1;
}

/* ---- the schema --------------------------------------------------------------------- */

typedef enum {
    K_NULL, K_PRIM, K_BOOL, K_BIN32, K_BIN64, K_LIST32, K_LIST64, K_FIXLIST, K_STRUCT, K_FIXBIN
} kind;

typedef struct afield afield;
struct afield {
    char *name;
    int nullable;
    kind kind;
    int utf8;            /* K_BIN*: text, validated as UTF-8 */
    int64_t width;       /* K_PRIM: bits; K_FIXBIN: bytes; K_FIXLIST: values per list */
    char format[48];     /* the C Data Interface format string */
    afield *children;
    size_t nchildren;
};

struct arrow_reader {
    const unsigned char *data;
    size_t size, pos, end;   /* the next message; where messages stop */
    afield root;             /* a struct of the columns */
    int64_t rows;
    int done;
};

static void afield_free(afield *f)
{
    for (size_t i = 0; i < f->nchildren; i++)
        afield_free(&f->children[i]);
    free(f->children);
    free(f->name);
}

static int unsupported(const char *name, const char *what)
{
    return error_set(LOCH_EUNSUPPORTED, "column \"%s\": %s is not supported in Arrow input", name, what);
}

static const char *const units = "smun"; /* SECOND, MILLISECOND, MICROSECOND, NANOSECOND */

static int parse_field(const ftable *t, afield *f, int depth);

static int parse_children(const ftable *t, afield *f, int depth)
{
    size_t start = 0, n = 0;
    int rc = get_vector(t, 5, 4, &start, &n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    if (!(f->children = calloc(n, sizeof(*f->children))))
        return error_set(LOCH_ENOMEM, "out of memory");
    f->nchildren = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t at = (uint64_t)(start + 4 * i) + rd32(t->f->b + start + 4 * i);
        ftable c;
        if (at > t->f->n - 4 || table_at(t->f, (size_t)at, &c) < 0)
            return bad("a child field out of bounds");
        if ((rc = parse_field(&c, &f->children[i], depth + 1)) < 0)
            return rc;
    }
    return 0;
}

static int parse_field(const ftable *t, afield *f, int depth)
{
    size_t at, start, n;
    ftable type;
    int rc;
    if (depth > MAX_DEPTH)
        return bad("fields nested too deeply");
    if ((rc = get_vector(t, 0, 1, &start, &n)) < 0)
        return rc;
    f->name = rc ? strndup((const char *)t->f->b + start, n) : strdup("");
    if (!f->name)
        return error_set(LOCH_ENOMEM, "out of memory");
    f->nullable = get_u8(t, 1, 0) != 0;
    int tt = get_u8(t, 2, 0);
    if ((rc = get_table(t, 3, &type)) < 0)
        return rc;
    if (rc == 0 && tt != 0)
        return bad("a field type without its table");
    if (get_ref(t, 4, &at) != 0)
        return unsupported(f->name, "dictionary encoding");
    if ((rc = parse_children(t, f, depth)) < 0)
        return rc;
    f->kind = K_PRIM;
    switch (tt) {
    case 1: /* Null */
        f->kind = K_NULL;
        snprintf(f->format, sizeof(f->format), "n");
        break;
    case 2: { /* Int */
        int bits = get_i32(&type, 0, 0), sign = get_u8(&type, 1, 0);
        const char *fmt = bits == 8 ? "cC" : bits == 16 ? "sS" : bits == 32 ? "iI" : bits == 64 ? "lL" : NULL;
        if (!fmt)
            return bad("an integer width other than 8, 16, 32 or 64");
        f->width = bits;
        snprintf(f->format, sizeof(f->format), "%c", fmt[sign ? 0 : 1]);
        break;
    }
    case 3: { /* FloatingPoint */
        int p = get_i16(&type, 0, 0);
        if (p == 0)
            return unsupported(f->name, "a half-precision float");
        if (p != 1 && p != 2)
            return bad("an unknown float precision");
        f->width = p == 1 ? 32 : 64;
        snprintf(f->format, sizeof(f->format), "%s", p == 1 ? "f" : "g");
        break;
    }
    case 4: case 5: case 19: case 20: /* Binary Utf8 LargeBinary LargeUtf8 */
        f->kind = tt == 4 || tt == 5 ? K_BIN32 : K_BIN64;
        f->utf8 = tt == 5 || tt == 20;
        snprintf(f->format, sizeof(f->format), "%s", tt == 4 ? "z" : tt == 5 ? "u" : tt == 19 ? "Z" : "U");
        break;
    case 6: /* Bool */
        f->kind = K_BOOL;
        snprintf(f->format, sizeof(f->format), "b");
        break;
    case 7: { /* Decimal */
        int prec = get_i32(&type, 0, 0), scale = get_i32(&type, 1, 0), bits = get_i32(&type, 2, 128);
        if ((bits != 128 && bits != 256) || prec < 1 || prec > 76 || scale < -prec || scale > prec)
            return bad("an invalid decimal type");
        f->width = bits;
        snprintf(f->format, sizeof(f->format), bits == 128 ? "d:%d,%d" : "d:%d,%d,256", prec, scale);
        break;
    }
    case 8: { /* Date: DAY or MILLISECOND (the default) */
        int day = get_i16(&type, 0, 1) == 0;
        f->width = day ? 32 : 64;
        snprintf(f->format, sizeof(f->format), "%s", day ? "tdD" : "tdm");
        break;
    }
    case 9: { /* Time */
        int unit = get_i16(&type, 0, 1), bits = get_i32(&type, 1, 32);
        if (unit < 0 || unit > 3 || bits != (unit < 2 ? 32 : 64))
            return bad("an invalid time type");
        f->width = bits;
        snprintf(f->format, sizeof(f->format), "tt%c", units[unit]);
        break;
    }
    case 10: { /* Timestamp */
        int unit = get_i16(&type, 0, 0);
        char tz[32] = "";
        if (unit < 0 || unit > 3)
            return bad("an invalid timestamp unit");
        if ((rc = get_vector(&type, 1, 1, &start, &n)) < 0)
            return rc;
        if (rc && n >= sizeof(tz))
            return unsupported(f->name, "a time zone name this long");
        if (rc)
            memcpy(tz, type.f->b + start, n), tz[n] = '\0';
        f->width = 64;
        snprintf(f->format, sizeof(f->format), "ts%c:%s", units[unit], tz);
        break;
    }
    case 18: { /* Duration */
        int unit = get_i16(&type, 0, 1);
        if (unit < 0 || unit > 3)
            return bad("an invalid duration unit");
        f->width = 64;
        snprintf(f->format, sizeof(f->format), "tD%c", units[unit]);
        break;
    }
    case 12: case 21: /* List LargeList */
        if (f->nchildren != 1)
            return bad("a list without exactly one child");
        f->kind = tt == 12 ? K_LIST32 : K_LIST64;
        snprintf(f->format, sizeof(f->format), "%s", tt == 12 ? "+l" : "+L");
        break;
    case 13: /* Struct */
        f->kind = K_STRUCT;
        snprintf(f->format, sizeof(f->format), "+s");
        break;
    case 15: { /* FixedSizeBinary */
        int w = get_i32(&type, 0, 0);
        if (w < 1)
            return bad("a fixed-size binary width below 1");
        if (w > 1 << 20)
            return unsupported(f->name, "a fixed-size binary wider than 1 MiB");
        f->kind = K_FIXBIN;
        f->width = w;
        snprintf(f->format, sizeof(f->format), "w:%d", w);
        break;
    }
    case 16: { /* FixedSizeList */
        int w = get_i32(&type, 0, 0);
        if (w < 0 || f->nchildren != 1)
            return bad("an invalid fixed-size list");
        f->kind = K_FIXLIST;
        f->width = w;
        snprintf(f->format, sizeof(f->format), "+w:%d", w);
        break;
    }
    case 17: /* Map: a list of struct<key, value> */
        if (f->nchildren != 1 || f->children[0].kind != K_STRUCT || f->children[0].nchildren != 2)
            return bad("a map without its key/value entries");
        f->kind = K_LIST32;
        snprintf(f->format, sizeof(f->format), "+m");
        break;
    case 11:
        return unsupported(f->name, "the interval type");
    case 14:
        return unsupported(f->name, "the union type");
    case 22:
        return unsupported(f->name, "run-end encoding");
    default:
        return tt >= 23 && tt <= 26 ? unsupported(f->name, "the view types") : bad("an unknown field type");
    }
    if (f->kind != K_LIST32 && f->kind != K_LIST64 && f->kind != K_FIXLIST && f->kind != K_STRUCT &&
        f->nchildren)
        return bad("children on a type that has none");
    return 0;
}

/* ---- messages ------------------------------------------------------------------------ */

/* The message at r->pos: its flatbuffer and body; 0 with *meta_len 0 at the end. */
static int next_message(arrow_reader *r, fbuf *meta, size_t *body, int64_t *body_len, ftable *msg)
{
    size_t p = r->pos;
    if (p == r->end) {
        meta->n = 0;
        return 0;
    }
    if (r->end - p < 4)
        return bad("a truncated message");
    uint32_t len = rd32(r->data + p);
    p += 4;
    if (len == 0xFFFFFFFFu) {
        if (r->end - p < 4)
            return bad("a truncated message");
        len = rd32(r->data + p);
        p += 4;
    }
    if (len == 0) {
        meta->n = 0;
        return 0;
    }
    if (len > r->end - p)
        return bad("a message longer than the file");
    *meta = (fbuf){r->data + p, len};
    int rc = fb_root(meta, msg);
    if (rc < 0)
        return rc;
    int64_t bl = get_i64(msg, 3, 0);
    size_t at = p + len;
    if (bl < 0 || (uint64_t)bl > r->end - at)
        return bad("a message body longer than the file");
    *body = at;
    *body_len = bl;
    r->pos = at + (size_t)bl;
    return 0;
}

int arrow_read_open(arrow_reader **out, const unsigned char *data, size_t size)
{
    arrow_reader *r = calloc(1, sizeof(*r));
    fbuf meta;
    ftable msg, schema;
    size_t body = 0, start = 0, n = 0;
    int64_t body_len = 0;
    int rc = 0;
    *out = NULL;
    if (!r)
        return error_set(LOCH_ENOMEM, "out of memory");
    r->data = data;
    r->size = r->end = size;
    if (size >= 6 && memcmp(data, "ARROW1", 6) == 0) {
        /* 8 bytes of magic and padding, the stream, the footer, its size, the magic */
        if (size < 18 || memcmp(data + size - 6, "ARROW1", 6) != 0) {
            rc = bad("a file without its closing magic (truncated?)");
            goto fail;
        }
        uint32_t footer = rd32(data + size - 10);
        if (footer > size - 18) {
            rc = bad("a footer larger than the file");
            goto fail;
        }
        r->pos = 8;
        r->end = size - 10 - footer;
    }
    if ((rc = next_message(r, &meta, &body, &body_len, &msg)) < 0)
        goto fail;
    if (meta.n == 0 || get_u8(&msg, 1, 0) != 1) {
        rc = bad("the first message is not a schema");
        goto fail;
    }
    if ((rc = get_table(&msg, 2, &schema)) <= 0) {
        rc = rc < 0 ? rc : bad("a schema message without its schema");
        goto fail;
    }
    if (get_i16(&schema, 0, 0) != 0) {
        rc = error_set(LOCH_EUNSUPPORTED, "big-endian Arrow data is not supported");
        goto fail;
    }
    if ((rc = get_vector(&schema, 1, 4, &start, &n)) < 0)
        goto fail;
    r->root.kind = K_STRUCT;
    snprintf(r->root.format, sizeof(r->root.format), "+s");
    if (!(r->root.name = strdup("")) || (n && !(r->root.children = calloc(n, sizeof(afield))))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    r->root.nchildren = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t at = (uint64_t)(start + 4 * i) + rd32(meta.b + start + 4 * i);
        ftable f;
        if (at > meta.n - 4 || table_at(&meta, (size_t)at, &f) < 0) {
            rc = bad("a field out of bounds");
            goto fail;
        }
        if ((rc = parse_field(&f, &r->root.children[i], 1)) < 0)
            goto fail;
    }
    if (n == 0) {
        rc = error_set(LOCH_EINVALID, "the Arrow schema has no columns");
        goto fail;
    }
    /* A look at the first batch, so a compressed or dictionary file is refused here,
     * in so many words, rather than by the engine half-way through reading it. */
    size_t keep = r->pos;
    if ((rc = next_message(r, &meta, &body, &body_len, &msg)) < 0)
        goto fail;
    if (meta.n && get_u8(&msg, 1, 0) == 2) {
        rc = error_set(LOCH_EUNSUPPORTED, "dictionary batches are not supported in Arrow input");
        goto fail;
    }
    ftable rb, comp;
    if (meta.n && get_u8(&msg, 1, 0) == 3 && get_table(&msg, 2, &rb) > 0 && get_table(&rb, 3, &comp) != 0) {
        rc = error_set(LOCH_EUNSUPPORTED, "compressed Arrow IPC bodies (LZ4/ZSTD) are not supported; write the "
                                          "file uncompressed");
        goto fail;
    }
    r->pos = keep;
    *out = r;
    return 0;
fail:
    arrow_read_free(r);
    return rc;
}

size_t arrow_read_columns(const arrow_reader *r) { return r->root.nchildren; }
int64_t arrow_read_rows(const arrow_reader *r) { return r->rows; }

void arrow_read_free(arrow_reader *r)
{
    if (!r)
        return;
    afield_free(&r->root);
    free(r);
}

/* ---- the schema as C Data Interface structs ------------------------------------------ */

typedef struct schema_priv schema_priv;
struct schema_priv {
    struct ArrowSchema *kids;    /* the children's structs */
    struct ArrowSchema **ptrs;
    char *name, *format;
    schema_priv **pool;          /* set: the stream frees this at its end, release only marks */
    schema_priv *next;           /* in the pool */
};

static void priv_free(schema_priv *p)
{
    free(p->kids);
    free(p->ptrs);
    free(p->name);
    free(p->format);
    free(p);
}

static void schema_release(struct ArrowSchema *s)
{
    schema_priv *p = s->private_data;
    for (int64_t i = 0; i < s->n_children; i++)
        if (p->ptrs[i]->release)
            p->ptrs[i]->release(p->ptrs[i]);
    s->release = NULL;
    if (!p->pool)
        priv_free(p);
}

/* Schemas handed to the engine through the stream are owned by the stream: consumers
 * differ in which of a schema's parts they release, so the stream frees them all at
 * its end, whatever was released. */
static int schema_fill(const afield *f, struct ArrowSchema *s, schema_priv **pool)
{
    schema_priv *p = calloc(1, sizeof(*p));
    memset(s, 0, sizeof(*s));
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory");
    if (pool) {
        p->pool = pool;
        p->next = *pool;
        *pool = p;
    }
    p->name = strdup(f->name);
    p->format = strdup(f->format);
    p->kids = f->nchildren ? calloc(f->nchildren, sizeof(*p->kids)) : NULL;
    p->ptrs = f->nchildren ? calloc(f->nchildren, sizeof(*p->ptrs)) : NULL;
    *s = (struct ArrowSchema){.format = p->format, .name = p->name, .flags = f->nullable ? ARROW_FLAG_NULLABLE : 0,
                              .children = p->ptrs, .release = schema_release, .private_data = p};
    if (!p->name || !p->format || (f->nchildren && (!p->kids || !p->ptrs))) {
        schema_release(s);
        return error_set(LOCH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < f->nchildren; i++) {
        int rc = schema_fill(&f->children[i], &p->kids[i], pool);
        if (rc < 0) {
            schema_release(s);
            return rc;
        }
        p->ptrs[i] = &p->kids[i];
        s->n_children++;
    }
    return 0;
}

int arrow_read_schema(arrow_reader *r, struct ArrowSchema *out) { return schema_fill(&r->root, out, NULL); }

/* ---- batches -------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *meta, *body;
    size_t nodes, nnodes, ni;     /* FieldNode structs (16 bytes) in meta */
    size_t bufs, nbufs, bi;       /* Buffer structs (16 bytes) in meta */
    int64_t body_len;
    void (*unref)(void *);        /* called by each array's release */
    void *ref;
} batch;

typedef struct {
    const void *buffers[3];
    struct ArrowArray *kids;
    struct ArrowArray **ptrs;
    batch *owner;                 /* the top-level array frees the batch's reference */
    void (*unref)(void *);
    void *ref;
} array_priv;

static void array_release(struct ArrowArray *a)
{
    array_priv *p = a->private_data;
    for (int64_t i = 0; i < a->n_children; i++)
        if (p->ptrs[i]->release)
            p->ptrs[i]->release(p->ptrs[i]);
    void (*unref)(void *) = p->unref;
    void *ref = p->ref;
    free(p->kids);
    free(p->ptrs);
    free(p);
    a->release = NULL;
    if (unref)
        unref(ref);
}

static int take_buffer(batch *b, const unsigned char **data, int64_t *len)
{
    if (b->bi >= b->nbufs)
        return bad("fewer buffers than the schema needs");
    const unsigned char *e = b->meta + b->bufs + 16 * b->bi++;
    int64_t off = rd64(e), n = rd64(e + 8);
    if (off < 0 || n < 0 || off > b->body_len || n > b->body_len - off)
        return bad("a buffer outside its message body");
    *data = n ? b->body + off : NULL;
    *len = n;
    return 0;
}

/* Offsets [0..length] of width 4 or 8: start >= 0, never decreasing, last <= limit
 * (limit < 0: no limit); the last value is returned in *last. */
static int check_offsets(const unsigned char *o, int64_t length, int wide, int64_t limit, int64_t *last)
{
    int64_t prev = 0;
    for (int64_t i = 0; i <= length; i++) {
        int64_t v = wide ? rd64(o + 8 * i) : (int32_t)rd32(o + 4 * i);
        if (v < prev || (i == 0 && v < 0))
            return bad("offsets that decrease or start below zero");
        prev = v;
    }
    if (limit >= 0 && prev > limit)
        return bad("offsets past the end of their data");
    *last = prev;
    return 0;
}

static const int64_t zero_offsets[2] = {0, 0};

static int decode(batch *b, const afield *f, struct ArrowArray *out, int64_t at_least, int depth)
{
    array_priv *p = calloc(1, sizeof(*p));
    const unsigned char *data[3] = {NULL, NULL, NULL};
    int64_t len[3] = {0, 0, 0}, length, nulls;
    int rc = 0, nbuf;
    memset(out, 0, sizeof(*out));
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory");
    *out = (struct ArrowArray){.buffers = p->buffers, .release = array_release, .private_data = p};
    if (depth > MAX_DEPTH + 1) {
        rc = bad("arrays nested too deeply");
        goto done;
    }
    if (b->ni >= b->nnodes) {
        rc = bad("fewer field nodes than the schema needs");
        goto done;
    }
    const unsigned char *node = b->meta + b->nodes + 16 * b->ni++;
    length = rd64(node);
    nulls = rd64(node + 8);
    if (length < 0 || length > MAX_LENGTH || nulls < 0 || nulls > length || length < at_least) {
        rc = bad("a field node with an impossible length or null count");
        goto done;
    }
    out->length = length;
    out->null_count = nulls;
    nbuf = f->kind == K_NULL ? 0 : f->kind == K_STRUCT || f->kind == K_FIXLIST ? 1
         : f->kind == K_BIN32 || f->kind == K_BIN64 ? 3 : 2;
    for (int i = 0; i < nbuf && rc == 0; i++)
        rc = take_buffer(b, &data[i], &len[i]);
    if (rc < 0)
        goto done;
    out->n_buffers = nbuf;
    if (f->kind == K_NULL) {
        out->null_count = length;
        goto children;
    }
    /* validity */
    if (nulls > 0 && len[0] < (length + 7) / 8) {
        rc = bad("a validity bitmap shorter than its array");
        goto done;
    }
    p->buffers[0] = nulls > 0 ? data[0] : NULL;
    switch (f->kind) {
    case K_PRIM: case K_BOOL: case K_FIXBIN: {
        /* widths: at most 256 bits a value, or 1 MiB a fixed-size binary (parse_field) */
        int64_t need = f->kind == K_PRIM ? (length * f->width + 7) / 8 : f->kind == K_BOOL ? (length + 7) / 8
                                                                       : length * f->width;
        if (len[1] < need) {
            rc = bad("a data buffer shorter than its array");
            goto done;
        }
        if (f->kind == K_PRIM && length && ((uintptr_t)data[1] % (f->width >= 64 ? 8 : (uintptr_t)f->width / 8))) {
            rc = bad("a misaligned data buffer");
            goto done;
        }
        p->buffers[1] = data[1] ? data[1] : (const void *)zero_offsets;
        break;
    }
    case K_BIN32: case K_BIN64: case K_LIST32: case K_LIST64: {
        int wide = f->kind == K_BIN64 || f->kind == K_LIST64;
        int64_t w = wide ? 8 : 4, last = 0;
        if (length == 0) {
            p->buffers[1] = zero_offsets;
        } else if (len[1] / w < length + 1 || (uintptr_t)data[1] % (uintptr_t)w) {
            rc = bad("an offsets buffer shorter than its array, or misaligned");
            goto done;
        } else {
            int bin = f->kind == K_BIN32 || f->kind == K_BIN64;
            if ((rc = check_offsets(data[1], length, wide, bin ? len[2] : -1, &last)) < 0)
                goto done;
            p->buffers[1] = data[1];
        }
        if (f->kind == K_BIN32 || f->kind == K_BIN64) {
            p->buffers[2] = data[2] ? data[2] : (const void *)zero_offsets;
            for (int64_t i = 0; f->utf8 && i < length; i++) {
                int64_t s = wide ? rd64(data[1] + 8 * i) : (int32_t)rd32(data[1] + 4 * i);
                int64_t e = wide ? rd64(data[1] + 8 * (i + 1)) : (int32_t)rd32(data[1] + 4 * (i + 1));
                const unsigned char *text = (const unsigned char *)p->buffers[2] + s;
                if (utf8_valid_prefix(text, (size_t)(e - s)) != (size_t)(e - s)) {
                    rc = error_set(LOCH_EINVALID, "column \"%s\": row %lld of a batch is not valid UTF-8", f->name,
                                   (long long)i + 1);
                    goto done;
                }
            }
            break;
        }
        at_least = last; /* the child must hold every list's values */
        goto children;
    }
    case K_FIXLIST:
        if (f->width && length > MAX_LENGTH / f->width) {
            rc = bad("a fixed-size list too long");
            goto done;
        }
        at_least = length * f->width;
        goto children;
    case K_STRUCT:
        at_least = length;
        goto children;
    default:
        break;
    }
    return 0;
children:
    if (f->nchildren) {
        p->kids = calloc(f->nchildren, sizeof(*p->kids));
        p->ptrs = calloc(f->nchildren, sizeof(*p->ptrs));
        if (!p->kids || !p->ptrs) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            goto done;
        }
        out->children = p->ptrs;
        for (size_t i = 0; i < f->nchildren && rc == 0; i++) {
            p->ptrs[i] = &p->kids[i];
            rc = decode(b, &f->children[i], &p->kids[i], f->kind == K_NULL ? 0 : at_least, depth + 1);
            out->n_children++;
        }
    }
done:
    if (rc < 0)
        array_release(out);
    return rc;
}

static int next_batch(arrow_reader *r, struct ArrowArray *out, void (*unref)(void *), void *ref)
{
    fbuf meta;
    ftable msg, rb, comp;
    size_t body = 0;
    int64_t body_len = 0;
    int rc;
    out->release = NULL;
    for (;;) {
        if (r->done)
            return 0;
        if ((rc = next_message(r, &meta, &body, &body_len, &msg)) < 0)
            return rc;
        if (meta.n == 0) {
            r->done = 1;
            return 0;
        }
        int type = get_u8(&msg, 1, 0);
        if (type == 2)
            return error_set(LOCH_EUNSUPPORTED, "dictionary batches are not supported in Arrow input");
        if (type == 1)
            return bad("a second schema message");
        if (type == 3)
            break;
        /* tensors and unknown messages carry no rows for us: skip them */
    }
    if ((rc = get_table(&msg, 2, &rb)) <= 0)
        return rc < 0 ? rc : bad("a record batch message without its batch");
    if ((rc = get_table(&rb, 3, &comp)) != 0)
        return rc < 0 ? rc : error_set(LOCH_EUNSUPPORTED, "compressed Arrow IPC bodies (LZ4/ZSTD) are not "
                                                          "supported; write the file uncompressed");
    batch b = {.meta = meta.b, .body = r->data + body, .body_len = body_len, .unref = unref, .ref = ref};
    if ((rc = get_vector(&rb, 1, 16, &b.nodes, &b.nnodes)) < 0 || (rc = get_vector(&rb, 2, 16, &b.bufs, &b.nbufs)) < 0)
        return rc;
    int64_t length = get_i64(&rb, 0, 0);
    if (length < 0 || length > MAX_LENGTH)
        return bad("an impossible batch length");
    /* the top level: a struct of the columns, all of the batch's length */
    array_priv *p = calloc(1, sizeof(*p));
    const afield *root = &r->root;
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory");
    *out = (struct ArrowArray){.length = length, .n_buffers = 1, .buffers = p->buffers, .release = array_release,
                               .private_data = p};
    p->kids = calloc(root->nchildren, sizeof(*p->kids));
    p->ptrs = calloc(root->nchildren, sizeof(*p->ptrs));
    out->children = p->ptrs;
    rc = p->kids && p->ptrs ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < root->nchildren; i++) {
        p->ptrs[i] = &p->kids[i];
        rc = decode(&b, &root->children[i], &p->kids[i], length, 1);
        if (rc == 0) {
            out->n_children++;
            if (p->kids[i].length != length)
                rc = bad("a column longer than its batch");
        }
    }
    if (rc < 0) {
        array_release(out);
        return rc;
    }
    r->rows += length;
    /* Each array holds one reference; the top level takes it last, once its children
     * are built (a failure above released them without references). */
    if (unref)
        p->unref = unref, p->ref = ref;
    return 1;
}

int arrow_read_next(arrow_reader *r, struct ArrowArray *out)
{
    int rc = next_batch(r, out, NULL, NULL);
    return rc < 0 ? rc : 0;
}

/* ---- the stream ------------------------------------------------------------------------ */

typedef struct {
    arrow_reader *r;
    schema_priv *schemas;         /* every schema given out */
    _Atomic int refs;             /* the stream and each batch it gave out */
    void (*done)(void *ctx);
    void *ctx;
    char error[512];
} shared;

static void shared_unref(void *arg)
{
    shared *s = arg;
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        arrow_read_free(s->r);
        for (schema_priv *p = s->schemas, *next; p; p = next) {
            next = p->next;
            priv_free(p);
        }
        if (s->done)
            s->done(s->ctx);
        free(s);
    }
}

static int stream_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    shared *s = st->private_data;
    if (schema_fill(&s->r->root, out, &s->schemas) < 0) {
        snprintf(s->error, sizeof(s->error), "%s", loch_error_last());
        return 12; /* ENOMEM */
    }
    return 0;
}

static int stream_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    shared *s = st->private_data;
    atomic_fetch_add(&s->refs, 1);
    int rc = next_batch(s->r, out, shared_unref, s);
    if (rc <= 0)
        atomic_fetch_sub(&s->refs, 1); /* no array holds it */
    if (rc < 0) {
        snprintf(s->error, sizeof(s->error), "%s", loch_error_last());
        return 22; /* EINVAL */
    }
    return 0;
}

static const char *stream_error(struct ArrowArrayStream *st)
{
    shared *s = st->private_data;
    return s->error[0] ? s->error : NULL;
}

static void stream_release(struct ArrowArrayStream *st)
{
    shared *s = st->private_data;
    st->release = NULL;
    shared_unref(s);
}

int arrow_read_stream(arrow_reader *r, struct ArrowArrayStream *out, void (*done)(void *ctx), void *ctx)
{
    shared *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(LOCH_ENOMEM, "out of memory");
    s->r = r;
    s->done = done;
    s->ctx = ctx;
    atomic_init(&s->refs, 1);
    *out = (struct ArrowArrayStream){.get_schema = stream_schema, .get_next = stream_next,
                                     .get_last_error = stream_error, .release = stream_release, .private_data = s};
    return 0;
}

/* ---- one message, for framing layers (the write-ahead log) --------------------------- */

/* Reads the custom_metadata vector at field i of t into m->kv (up to its capacity). */
static int read_kvs(const ftable *t, int i, size_t base, arrow_message *m)
{
    size_t start, count;
    int rc = get_vector(t, i, 4, &start, &count);
    if (rc <= 0)
        return rc;
    for (size_t k = 0; k < count; k++) {
        uint64_t to = (uint64_t)start + 4 * k + rd32(t->f->b + start + 4 * k);
        ftable kv;
        size_t at[2];
        if (to > t->f->n - 4 || table_at(t->f, (size_t)to, &kv) < 0)
            return bad("a custom_metadata entry out of bounds");
        for (int j = 0; j < 2; j++) {
            size_t sz;
            if (get_vector(&kv, j, 1, &at[j], &sz) <= 0 || sz >= t->f->n - at[j])
                return bad("a custom_metadata string out of bounds");
            if (m->nkv < ARROW_MESSAGE_KV) {
                if (j == 0)
                    m->kv[m->nkv].key = (const char *)t->f->b + at[j], m->kv[m->nkv].key_len = sz;
                else
                    m->kv[m->nkv].value_at = base + at[j], m->kv[m->nkv].value_len = sz;
            }
        }
        m->nkv += m->nkv < ARROW_MESSAGE_KV;
    }
    return 0;
}

int arrow_read_message(const unsigned char *data, size_t size, arrow_message *m)
{
    *m = (arrow_message){0};
    if (size < 8 || rd32(data) != 0xFFFFFFFFu)
        return size < 8 ? bad("a truncated message") : bad("no continuation marker");
    uint32_t len = rd32(data + 4);
    if (len == 0) {
        m->length = 8;
        return 0; /* end of stream */
    }
    if (len % 8 || len > size - 8)
        return bad("a message longer than its bytes");
    fbuf meta = {data + 8, len};
    ftable msg, header;
    int rc = fb_root(&meta, &msg);
    if (rc < 0)
        return rc;
    int64_t bl = get_i64(&msg, 3, 0);
    if (bl < 0 || bl % 8 || (uint64_t)bl > size - 8 - len)
        return bad("a message body longer than its bytes");
    m->type = get_u8(&msg, 1, 0);
    m->metadata_len = len;
    m->body_len = (size_t)bl;
    m->length = 8 + len + (size_t)bl;
    if ((rc = read_kvs(&msg, 4, 8, m)) < 0)
        return rc;
    m->nmessage_kv = m->nkv;
    if (m->type == 3 && (rc = get_table(&msg, 2, &header)) < 0)
        return bad("a record batch out of bounds");
    if (m->type == 3)
        m->rows = rc == 1 ? get_i64(&header, 0, 0) : 0;
    if (m->type == 1 && (rc = get_table(&msg, 2, &header)) < 0)
        return bad("a schema out of bounds");
    if (m->type == 1 && rc == 1 && (rc = read_kvs(&header, 2, 8, m)) < 0)
        return rc;
    return 0;
}

int arrow_message_value(const arrow_message *m, const unsigned char *data, const char *key, int schema,
                        const char **value, size_t *len)
{
    size_t from = schema ? m->nmessage_kv : 0, to = schema ? m->nkv : m->nmessage_kv;
    for (size_t i = from; i < to; i++)
        if (m->kv[i].key_len == strlen(key) && memcmp(m->kv[i].key, key, m->kv[i].key_len) == 0) {
            *value = (const char *)data + m->kv[i].value_at;
            *len = m->kv[i].value_len;
            return 1;
        }
    return 0;
}
