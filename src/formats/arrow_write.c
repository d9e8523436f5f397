/*
 * formats/arrow_write.c - Arrow IPC stream writing; see arrow_write.h. Fuzzed (as the
 * round trip of what the reader accepts) by fuzz/fuzz_arrowipc.c.
 *
 * Each message is framed as the stream format wants it: 0xFFFFFFFF, the int32 size of
 * the flatbuffer metadata (padded to 8 bytes), the metadata, then the body, whose
 * buffers each start 8-aligned. The metadata is a flatbuffer Message (apache/arrow
 * format/Message.fbs, Schema.fbs) whose header is a Schema or a RecordBatch; the layout
 * table atop formats/arrow_read.c lists their fields.
 *
 * Flatbuffers are laid out front to back here: a table is written before the objects it
 * references, so every reference (an unsigned distance) points forward, and is patched
 * once its target is placed. Vtables come just before their tables. Every object is
 * aligned for its widest field; the whole metadata is padded to 8 bytes.
 */
#include "formats/arrow_write.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

enum { MAX_DEPTH = 32 };

/* An empty array may come without its offsets buffer; the message carries one zero. */
static const int64_t zero_offsets[2] = {0, 0};

typedef struct {
    buf *b;
    size_t base;   /* where this flatbuffer starts in b */
    int oom;
} fbw;

static size_t fbw_pos(const fbw *w) { return w->b->len - w->base; }

static void fbw_bytes(fbw *w, const void *p, size_t n)
{
    if (!w->oom && buf_put(w->b, p, n))
        w->oom = 1;
}

static void fbw_align(fbw *w, size_t a)
{
    static const unsigned char zero[8] = {0};
    while (!w->oom && fbw_pos(w) % a)
        fbw_bytes(w, zero, 1);
}

static void put32(fbw *w, size_t at, uint32_t v)
{
    if (w->oom)
        return;
    unsigned char *p = (unsigned char *)w->b->data + w->base + at;
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

/* The reference at `at` now points to where the next object is. */
static void fbw_patch(fbw *w, size_t at) { put32(w, at, (uint32_t)(fbw_pos(w) - at)); }

#define NO_REF ((size_t)-1)

typedef struct {
    int size;          /* 1, 2, 4 or 8; 4 for references */
    int ref;           /* a reference, patched later */
    int64_t value;
} ffield;

/* Writes a table whose field i is f[i] (size 0: absent); where each field landed goes
 * to pos[i] (references are patched there once their targets are written). The
 * reference at `from` (NO_REF: none) is pointed at the new table. */
static size_t fbw_table(fbw *w, const ffield *f, int n, size_t *pos, size_t from)
{
    uint16_t vt[2 + 16] = {0};
    size_t off = 4;
    int maxal = 4;
    uint16_t at[16] = {0};
    for (int i = 0; i < n; i++) { /* the table's own layout: widest fields first keeps it packed */
        if (!f[i].size)
            continue;
        maxal = f[i].size > maxal ? f[i].size : maxal;
    }
    for (int want = 8; want >= 1; want /= 2)
        for (int i = 0; i < n; i++)
            if (f[i].size == want) {
                off = (off + (size_t)want - 1) / (size_t)want * (size_t)want;
                at[i] = (uint16_t)off;
                off += (size_t)want;
            }
    vt[0] = (uint16_t)(4 + 2 * n);
    vt[1] = (uint16_t)off;
    for (int i = 0; i < n; i++)
        vt[2 + i] = at[i];
    fbw_align(w, 2);
    size_t vtpos = fbw_pos(w);
    for (int i = 0; i < 2 + n; i++) {
        unsigned char le[2] = {(unsigned char)vt[i], (unsigned char)(vt[i] >> 8)};
        fbw_bytes(w, le, 2);
    }
    /* the table: aligned so its widest field is aligned in the buffer */
    fbw_align(w, (size_t)maxal);
    size_t t = fbw_pos(w);
    unsigned char zero[64] = {0};
    fbw_bytes(w, zero, off);
    if (w->oom)
        return 0;
    put32(w, t, (uint32_t)(int32_t)(t - vtpos));
    if (from != NO_REF) /* the reference to this table points at the table, past its vtable */
        put32(w, from, (uint32_t)(t - from));
    for (int i = 0; i < n; i++) {
        if (!f[i].size)
            continue;
        unsigned char *p = (unsigned char *)w->b->data + w->base + t + at[i];
        uint64_t v = (uint64_t)f[i].value;
        for (int k = 0; k < f[i].size; k++)
            p[k] = (unsigned char)(v >> (8 * k));
        if (pos)
            pos[i] = t + at[i];
    }
    return t;
}

static void fbw_string(fbw *w, size_t ref, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    unsigned char le[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
    fbw_align(w, 4);
    fbw_patch(w, ref);
    fbw_bytes(w, le, 4);
    fbw_bytes(w, s, n + 1);
}

/* A vector of n references (to tables written after it); returns where the first is. */
static size_t fbw_ref_vector(fbw *w, size_t ref, uint32_t n)
{
    unsigned char le[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
    fbw_align(w, 4);
    fbw_patch(w, ref);
    fbw_bytes(w, le, 4);
    size_t first = fbw_pos(w);
    unsigned char zero[4] = {0};
    for (uint32_t i = 0; i < n; i++)
        fbw_bytes(w, zero, 4);
    return first;
}

static int time_unit(char c) { return c == 's' ? 0 : c == 'm' ? 1 : c == 'u' ? 2 : c == 'n' ? 3 : -1; }

/* The Type union member for a C Data Interface format: its id and the table. */
static int write_type(fbw *w, const char *fmt, size_t ref, int *type_id)
{
    ffield f[3] = {{0}};
    int n = 0, id;
    const char *ints = "cCsSiIlL";
    const char *hit = strlen(fmt) == 1 ? strchr(ints, fmt[0]) : NULL;
    if (hit && *hit) {
        int k = (int)(hit - ints);
        id = 2;
        f[0] = (ffield){4, 0, 8 << (k / 2)};
        f[1] = (ffield){1, 0, k % 2 == 0};
        n = 2;
    } else if (!strcmp(fmt, "f") || !strcmp(fmt, "g")) {
        id = 3;
        f[0] = (ffield){2, 0, fmt[0] == 'f' ? 1 : 2};
        n = 1;
    } else if (!strcmp(fmt, "n") || !strcmp(fmt, "b") || !strcmp(fmt, "z") || !strcmp(fmt, "u") ||
               !strcmp(fmt, "Z") || !strcmp(fmt, "U") || !strcmp(fmt, "+l") || !strcmp(fmt, "+L") ||
               !strcmp(fmt, "+s")) {
        static const char *const fmts[] = {"n", "b", "z", "u", "Z", "U", "+l", "+L", "+s"};
        static const int ids[] = {1, 6, 4, 5, 19, 20, 12, 21, 13};
        id = 0;
        for (int i = 0; i < 9; i++)
            if (!strcmp(fmt, fmts[i]))
                id = ids[i];
    } else if (!strncmp(fmt, "d:", 2)) {
        int prec = 0, scale = 0, bits = 128;
        if (sscanf(fmt + 2, "%d,%d,%d", &prec, &scale, &bits) < 2)
            return error_set(LOCH_EUNSUPPORTED, "Arrow type \"%s\" cannot be written", fmt);
        id = 7;
        f[0] = (ffield){4, 0, prec};
        f[1] = (ffield){4, 0, scale};
        f[2] = (ffield){4, 0, bits};
        n = 3;
    } else if (!strcmp(fmt, "tdD") || !strcmp(fmt, "tdm")) {
        id = 8;
        f[0] = (ffield){2, 0, fmt[2] == 'D' ? 0 : 1};
        n = 1;
    } else if (!strncmp(fmt, "tt", 2) && time_unit(fmt[2]) >= 0 && !fmt[3]) {
        id = 9;
        f[0] = (ffield){2, 0, time_unit(fmt[2])};
        f[1] = (ffield){4, 0, time_unit(fmt[2]) < 2 ? 32 : 64};
        n = 2;
    } else if (!strncmp(fmt, "ts", 2) && time_unit(fmt[2]) >= 0 && fmt[3] == ':') {
        id = 10;
        f[0] = (ffield){2, 0, time_unit(fmt[2])};
        f[1] = (ffield){fmt[4] ? 4 : 0, 1, 0};
        n = 2;
    } else if (!strncmp(fmt, "tD", 2) && time_unit(fmt[2]) >= 0 && !fmt[3]) {
        id = 18;
        f[0] = (ffield){2, 0, time_unit(fmt[2])};
        n = 1;
    } else if (!strncmp(fmt, "w:", 2)) {
        id = 15;
        f[0] = (ffield){4, 0, atoi(fmt + 2)};
        n = 1;
    } else if (!strncmp(fmt, "+w:", 3)) {
        id = 16;
        f[0] = (ffield){4, 0, atoi(fmt + 3)};
        n = 1;
    } else if (!strcmp(fmt, "+m")) {
        id = 17;
        n = 0;
    } else {
        return error_set(LOCH_EUNSUPPORTED, "Arrow type \"%s\" cannot be written", fmt);
    }
    if (!id)
        return error_set(LOCH_EUNSUPPORTED, "Arrow type \"%s\" cannot be written", fmt);
    size_t refs[3] = {0};
    fbw_table(w, f, n, refs, ref);
    if (id == 10 && fmt[4])
        fbw_string(w, refs[1], fmt + 4);
    *type_id = id;
    return 0;
}

static int write_field(fbw *w, size_t ref, const struct ArrowSchema *s, int depth)
{
    if (depth > MAX_DEPTH)
        return error_set(LOCH_EUNSUPPORTED, "types nested too deeply to write");
    if (s->dictionary)
        return error_set(LOCH_EUNSUPPORTED, "dictionary-encoded results cannot be written");
    /* Field { name, nullable, type_type, type, dictionary, children } */
    ffield f[6] = {{4, 1, 0}, {1, 0, (s->flags & ARROW_FLAG_NULLABLE) != 0}, {1, 0, 0}, {4, 1, 0}, {0, 0, 0},
                   {4, 1, 0}};
    size_t refs[6] = {0};
    size_t t = fbw_table(w, f, 6, refs, ref);
    fbw_string(w, refs[0], s->name ? s->name : "");
    int id = 0, rc = write_type(w, s->format, refs[3], &id);
    if (rc < 0)
        return rc;
    if (!w->oom) /* the union's type tag, known now that the type is written */
        ((unsigned char *)w->b->data)[w->base + refs[2]] = (unsigned char)id;
    (void)t;
    size_t first = fbw_ref_vector(w, refs[5], (uint32_t)s->n_children);
    for (int64_t i = 0; i < s->n_children && rc == 0; i++)
        rc = write_field(w, first + 4 * (size_t)i, s->children[i], depth + 1);
    return rc;
}

/* Pads the flatbuffer to 8 and frames it: continuation, size, metadata. */
static int frame(buf *out, size_t start)
{
    while ((out->len - start - 8) % 8)
        if (buf_putc(out, 0))
            return LOCH_ENOMEM;
    uint32_t size = (uint32_t)(out->len - start - 8);
    unsigned char *p = (unsigned char *)out->data + start;
    memset(p, 0xFF, 4);
    p[4] = (unsigned char)size, p[5] = (unsigned char)(size >> 8), p[6] = (unsigned char)(size >> 16),
    p[7] = (unsigned char)(size >> 24);
    return 0;
}

/* The message table; *header and *meta get the positions of its header reference and
 * of its custom_metadata reference (written only when there is metadata). */
static void message(fbw *w, int header_type, int64_t body_len, bool has_meta, size_t *header, size_t *meta)
{
    /* root reference, then Message { version, header_type, header, bodyLength, custom_metadata } */
    unsigned char zero[4] = {0};
    fbw_bytes(w, zero, 4);
    ffield f[5] = {{2, 0, 4}, {1, 0, header_type}, {4, 1, 0}, {8, 0, body_len}, {has_meta ? 4 : 0, 1, 0}};
    size_t refs[5] = {0};
    fbw_table(w, f, 5, refs, 0); /* the root reference, at 0 */
    *header = refs[2];
    *meta = refs[4];
}

/* A vector of KeyValue { key, value } tables at ref; each value's place in the output
 * goes to kv[i].at. */
static void write_kvs(fbw *w, size_t ref, arrow_kv *kv, size_t n)
{
    size_t first = fbw_ref_vector(w, ref, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ffield f[2] = {{4, 1, 0}, {4, 1, 0}};
        size_t refs[2] = {0};
        fbw_table(w, f, 2, refs, first + 4 * i);
        fbw_string(w, refs[0], kv[i].key);
        fbw_string(w, refs[1], kv[i].value);
        kv[i].at = w->b->len - strlen(kv[i].value) - 1; /* the string's bytes, before its NUL */
    }
}

int arrow_write_schema(buf *out, const struct ArrowSchema *s) { return arrow_write_schema_kv(out, s, NULL, 0, NULL, 0); }

int arrow_write_schema_kv(buf *out, const struct ArrowSchema *s, arrow_kv *schema_kv, size_t nschema, arrow_kv *msg_kv,
                          size_t nmsg)
{
    size_t start = out->len;
    if (buf_put(out, "\xff\xff\xff\xff\0\0\0\0", 8))
        return error_set(LOCH_ENOMEM, "out of memory");
    fbw w = {out, out->len, 0};
    size_t href, mref;
    message(&w, 1, 0, nmsg > 0, &href, &mref);
    /* Schema { endianness, fields, custom_metadata } */
    ffield f[3] = {{0, 0, 0}, {4, 1, 0}, {nschema ? 4 : 0, 1, 0}};
    size_t refs[3] = {0};
    fbw_table(&w, f, 3, refs, href);
    size_t first = fbw_ref_vector(&w, refs[1], (uint32_t)s->n_children);
    int rc = 0;
    for (int64_t i = 0; i < s->n_children && rc == 0; i++)
        rc = write_field(&w, first + 4 * (size_t)i, s->children[i], 1);
    if (rc == 0 && nschema)
        write_kvs(&w, refs[2], schema_kv, nschema);
    if (rc == 0 && nmsg)
        write_kvs(&w, mref, msg_kv, nmsg);
    if (rc == 0 && w.oom)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    return frame(out, start);
}

/* ---- record batches ---- */

typedef struct {
    buf nodes, buffers;     /* FieldNode and Buffer structs, 16 bytes each */
    buf body;
} batch_out;

static int add16(buf *b, int64_t x, int64_t y)
{
    unsigned char v[16];
    for (int k = 0; k < 8; k++) {
        v[k] = (unsigned char)((uint64_t)x >> (8 * k));
        v[8 + k] = (unsigned char)((uint64_t)y >> (8 * k));
    }
    return buf_put(b, v, 16);
}

static int add_buffer(batch_out *o, const void *data, int64_t len)
{
    int64_t at = (int64_t)o->body.len;
    if (len > 0 && (!data || buf_put(&o->body, data, (size_t)len)))
        return data ? LOCH_ENOMEM : error_set(LOCH_EINVALID, "an Arrow buffer is missing");
    while (o->body.len % 8)
        if (buf_putc(&o->body, 0))
            return LOCH_ENOMEM;
    return add16(&o->buffers, at, len) ? LOCH_ENOMEM : 0;
}

static int64_t bits_of(const char *f)
{
    static const char *const one[] = {"c", "C", "s", "S", "i", "I", "l", "L", "e", "f", "g", "tdD", "tdm"};
    static const int64_t bits[] = {8, 8, 16, 16, 32, 32, 64, 64, 16, 32, 64, 32, 64};
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
        if (!strcmp(f, one[i]))
            return bits[i];
    if (!strncmp(f, "tt", 2))
        return time_unit(f[2]) < 2 ? 32 : 64;
    if (!strncmp(f, "ts", 2) || !strncmp(f, "tD", 2))
        return 64;
    if (!strncmp(f, "d:", 2)) {
        int p, sc, b = 128;
        return sscanf(f + 2, "%d,%d,%d", &p, &sc, &b) >= 2 ? b : -1;
    }
    if (!strncmp(f, "w:", 2))
        return 8 * (int64_t)atoi(f + 2);
    return -1;
}

/* The last of an array's n+1 offsets, which are native integers of 4 or 8 bytes. */
static int64_t last_offset(const void *offsets, int64_t n, int wide)
{
    if (wide) {
        int64_t v;
        memcpy(&v, (const unsigned char *)offsets + 8 * n, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, (const unsigned char *)offsets + 4 * n, 4);
    return v;
}

static int write_array(batch_out *o, const struct ArrowSchema *s, const struct ArrowArray *a, int depth)
{
    const char *f = s->format;
    int64_t n = a->length;
    int rc;
    if (depth > MAX_DEPTH || a->offset != 0)
        return error_set(LOCH_EUNSUPPORTED, "Arrow arrays with offsets cannot be written");
    if (add16(&o->nodes, n, a->null_count))
        return LOCH_ENOMEM;
    if (!strcmp(f, "n"))
        return 0;
    /* validity */
    rc = add_buffer(o, a->null_count > 0 ? a->buffers[0] : NULL, a->null_count > 0 ? (n + 7) / 8 : 0);
    if (rc < 0)
        return rc;
    if (!strcmp(f, "b"))
        return add_buffer(o, a->buffers[1], (n + 7) / 8);
    int64_t bits = bits_of(f);
    if (bits > 0)
        return add_buffer(o, a->buffers[1], (n * bits + 7) / 8);
    if (!strcmp(f, "u") || !strcmp(f, "z") || !strcmp(f, "U") || !strcmp(f, "Z")) {
        int wide = f[0] == 'U' || f[0] == 'Z';
        int64_t last = n == 0 ? 0 : last_offset(a->buffers[1], n, wide);
        if ((rc = add_buffer(o, n ? a->buffers[1] : zero_offsets, (n + 1) * (wide ? 8 : 4))) < 0)
            return rc;
        return add_buffer(o, a->buffers[2], last);
    }
    if (!strcmp(f, "+l") || !strcmp(f, "+L") || !strcmp(f, "+m")) {
        int wide = f[1] == 'L';
        if ((rc = add_buffer(o, n ? a->buffers[1] : zero_offsets, (n + 1) * (wide ? 8 : 4))) < 0)
            return rc;
    } else if (strcmp(f, "+s") && strncmp(f, "+w:", 3)) {
        return error_set(LOCH_EUNSUPPORTED, "Arrow type \"%s\" cannot be written", f);
    }
    for (int64_t i = 0; i < a->n_children && rc == 0; i++)
        rc = write_array(o, s->children[i], a->children[i], depth + 1);
    return rc;
}

int arrow_write_batch(buf *out, const struct ArrowSchema *s, const struct ArrowArray *a)
{
    return arrow_write_batch_kv(out, s, a, NULL, 0);
}

int arrow_write_batch_kv(buf *out, const struct ArrowSchema *s, const struct ArrowArray *a, arrow_kv *kv, size_t nkv)
{
    batch_out o = {BUF_INIT, BUF_INIT, BUF_INIT};
    int rc = 0;
    for (int64_t i = 0; i < a->n_children && i < s->n_children && rc == 0; i++)
        rc = write_array(&o, s->children[i], a->children[i], 1);
    size_t start = out->len;
    if (rc == 0 && buf_put(out, "\xff\xff\xff\xff\0\0\0\0", 8))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0) {
        fbw w = {out, out->len, 0};
        size_t href, mref;
        message(&w, 3, (int64_t)o.body.len, nkv > 0, &href, &mref);
        /* RecordBatch { length, nodes, buffers } */
        ffield f[3] = {{8, 0, a->length}, {4, 1, 0}, {4, 1, 0}};
        size_t refs[3] = {0};
        fbw_table(&w, f, 3, refs, href);
        for (int v = 0; v < 2; v++) { /* struct vectors: the length, then 8-aligned elements */
            buf *items = v ? &o.buffers : &o.nodes;
            uint32_t count = (uint32_t)(items->len / 16);
            unsigned char le[4] = {(unsigned char)count, (unsigned char)(count >> 8), (unsigned char)(count >> 16),
                                   (unsigned char)(count >> 24)};
            fbw_align(&w, 8);
            if (fbw_pos(&w) % 8 == 0)
                fbw_bytes(&w, "\0\0\0\0", 4);
            fbw_patch(&w, refs[1 + v]);
            fbw_bytes(&w, le, 4);
            if (items->len)
                fbw_bytes(&w, items->data, items->len);
        }
        if (nkv)
            write_kvs(&w, mref, kv, nkv);
        rc = w.oom ? error_set(LOCH_ENOMEM, "out of memory") : frame(out, start);
        rc = rc ? rc : o.body.len && buf_put(out, o.body.data, o.body.len) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    }
    if (rc < 0)
        out->len = start;
    buf_free(&o.nodes);
    buf_free(&o.buffers);
    buf_free(&o.body);
    return rc;
}

int arrow_write_eos(buf *out) { return buf_put(out, "\xff\xff\xff\xff\0\0\0\0", 8) ? LOCH_ENOMEM : 0; }
