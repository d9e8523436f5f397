/*
 * formats/ndjson_arrow.c - NDJSON into an Arrow batch; see ndjson_arrow.h. Fuzzed by
 * fuzz/fuzz_ndjson.c.
 */
#include "formats/ndjson_arrow.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/json.h"

typedef struct {
    char fmt;               /* 'l' 'i' 's' 'c' 'g' 'f' 'b' 'u' */
    buf valid, data, offs;  /* validity bits, values (or string bytes), int32 offsets */
    int64_t nulls;
    struct ArrowArray arr;
    struct ArrowSchema sch;
    const void *bufs[3];
    char *name;
} column;

typedef struct {
    column *cols;
    size_t ncols;
    int64_t rows;
    struct ArrowArray root;
    struct ArrowSchema root_schema;
    struct ArrowArray *arrp;
    struct ArrowSchema *schp;
    struct ArrowArray **arr_children;
    struct ArrowSchema **sch_children;
    const void *root_bufs[1];
    int given;              /* the batch was handed out */
    int schema_given;
    char error[512];
} reader;

static const char *const kinds = "lisc gfbu";

int ndjson_arrow_supported(const char *const *formats, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++)
        if (strlen(formats[i]) != 1 || !strchr(kinds, formats[i][0]) || formats[i][0] == ' ')
            return 0;
    return 1;
}

static void reader_free(reader *r)
{
    for (size_t i = 0; r && i < r->ncols; i++) {
        buf_free(&r->cols[i].valid);
        buf_free(&r->cols[i].data);
        buf_free(&r->cols[i].offs);
        free(r->cols[i].name);
    }
    if (r) {
        free(r->cols);
        free(r->arr_children);
        free(r->sch_children);
        free(r);
    }
}

static int width(char f)
{
    return f == 'l' || f == 'g' ? 8 : f == 'i' || f == 'f' ? 4 : f == 's' ? 2 : f == 'c' ? 1 : 0;
}

/* Appends one value (NULL: SQL NULL) to column c at row `row`. */
static int put(column *c, int64_t row, const json *v, long line, char *err, size_t cap)
{
    if ((row & 7) == 0 && buf_putc(&c->valid, 0))
        return LOCH_ENOMEM;
    bool present = v && v->type != JSON_NULL;
    if (present)
        c->valid.data[row >> 3] |= (char)(1 << (row & 7));
    else
        c->nulls++;
    unsigned char bytes[8] = {0};
    int w = width(c->fmt);
    if (present) {
        const char *want = NULL;
        switch (c->fmt) {
        case 'l': case 'i': case 's': case 'c': {
            int64_t lo = c->fmt == 'l' ? INT64_MIN : c->fmt == 'i' ? INT32_MIN : c->fmt == 's' ? INT16_MIN : INT8_MIN;
            int64_t hi = c->fmt == 'l' ? INT64_MAX : c->fmt == 'i' ? INT32_MAX : c->fmt == 's' ? INT16_MAX : INT8_MAX;
            if (v->type != JSON_NUMBER || !v->is_int || v->i64 < lo || v->i64 > hi) {
                want = "an integer in the column's range";
                break;
            }
            if (c->fmt == 'l') {
                int64_t x = v->i64;
                memcpy(bytes, &x, 8);
            } else if (c->fmt == 'i') {
                int32_t x = (int32_t)v->i64;
                memcpy(bytes, &x, 4);
            } else if (c->fmt == 's') {
                int16_t x = (int16_t)v->i64;
                memcpy(bytes, &x, 2);
            } else {
                int8_t x = (int8_t)v->i64;
                memcpy(bytes, &x, 1);
            }
            break;
        }
        case 'g': case 'f':
            if (v->type != JSON_NUMBER) {
                want = "a number";
                break;
            }
            if (c->fmt == 'g') {
                double d = v->num;
                memcpy(bytes, &d, 8);
            } else {
                float f = (float)v->num;
                if (isinf(f) && !isinf(v->num)) {
                    want = "a number within FLOAT's range";
                    break;
                }
                memcpy(bytes, &f, 4);
            }
            break;
        case 'b':
            if (v->type != JSON_BOOL)
                want = "true or false";
            break;
        case 'u':
            if (v->type != JSON_STRING)
                want = "a string";
            break;
        default:
            break;
        }
        if (want) {
            snprintf(err, cap, "line %ld: column %s: expected %s", line, c->name, want);
            return LOCH_EINVALID;
        }
    }
    if (c->fmt == 'b') {
        if ((row & 7) == 0 && buf_putc(&c->data, 0))
            return LOCH_ENOMEM;
        if (present && v->boolean)
            c->data.data[row >> 3] |= (char)(1 << (row & 7));
        return 0;
    }
    if (c->fmt == 'u') {
        if (present && buf_put(&c->data, v->str, v->len))
            return LOCH_ENOMEM;
        if (c->data.len > INT32_MAX) {
            snprintf(err, cap, "line %ld: column %s: more than 2 GB of text in one write", line, c->name);
            return LOCH_EINVALID;
        }
        int32_t end = (int32_t)c->data.len;
        return buf_put(&c->offs, &end, 4) ? LOCH_ENOMEM : 0;
    }
    return buf_put(&c->data, bytes, (size_t)w) ? LOCH_ENOMEM : 0;
}

static void noop_array(struct ArrowArray *a) { a->release = NULL; }
static void noop_schema(struct ArrowSchema *s) { s->release = NULL; }

static int get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    reader *r = st->private_data;
    *out = r->root_schema;
    out->release = noop_schema; /* the stream owns it */
    return 0;
}

static int get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    reader *r = st->private_data;
    if (r->given || r->rows == 0) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    r->given = 1;
    *out = r->root;
    out->release = noop_array; /* the stream owns it */
    return 0;
}

static const char *last_error(struct ArrowArrayStream *st)
{
    reader *r = st->private_data;
    return r->error;
}

static void release(struct ArrowArrayStream *st)
{
    reader_free(st->private_data);
    st->release = NULL;
}

int ndjson_arrow_read(const char *text, size_t len, const char *const *names, const char *const *formats,
                      size_t ncols, struct ArrowArrayStream *out, int64_t *rows)
{
    memset(out, 0, sizeof(*out));
    *rows = 0;
    if (!ndjson_arrow_supported(formats, ncols))
        return error_set(LOCH_EUNSUPPORTED, "a column type the NDJSON reader does not fill");
    reader *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : LOCH_ENOMEM;
    if (rc == 0) {
        r->cols = calloc(ncols + 1, sizeof(column));
        r->arr_children = calloc(ncols + 1, sizeof(*r->arr_children));
        r->sch_children = calloc(ncols + 1, sizeof(*r->sch_children));
        r->ncols = ncols;
        rc = r->cols && r->arr_children && r->sch_children ? 0 : LOCH_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < ncols; i++) {
        r->cols[i].fmt = formats[i][0];
        int32_t zero = 0;
        if (!(r->cols[i].name = strdup(names[i])) || (r->cols[i].fmt == 'u' && buf_put(&r->cols[i].offs, &zero, 4)))
            rc = LOCH_ENOMEM;
    }
    char err[512] = "";
    const json **row = rc ? NULL : calloc(ncols + 1, sizeof(*row));
    if (rc == 0 && !row)
        rc = LOCH_ENOMEM;
    long line = 0;
    for (size_t at = 0; rc == 0 && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        size_t a = at, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        at = nl ? end + 1 : len;
        if (a == b)
            continue; /* a blank line */
        arena ar = ARENA_INIT;
        json *obj = NULL;
        if (json_parse(&ar, text + a, b - a, &obj) < 0) {
            snprintf(err, sizeof(err), "line %ld: %s", line, loch_error_last());
            rc = LOCH_EINVALID;
        } else if (obj->type != JSON_OBJECT) {
            snprintf(err, sizeof(err), "line %ld: not a JSON object", line);
            rc = LOCH_EINVALID;
        }
        memset(row, 0, (ncols + 1) * sizeof(*row));
        for (json *m = rc ? NULL : obj->child; m && rc == 0; m = m->next) {
            size_t i = 0;
            while (i < ncols && strcmp(names[i], m->key) != 0)
                i++;
            if (i == ncols) {
                snprintf(err, sizeof(err), "line %ld: the table has no column \"%.200s\"", line, m->key);
                rc = LOCH_EINVALID;
            } else if (row[i]) {
                snprintf(err, sizeof(err), "line %ld: column %s given twice", line, names[i]);
                rc = LOCH_EINVALID;
            } else {
                row[i] = m;
            }
        }
        for (size_t i = 0; rc == 0 && i < ncols; i++)
            rc = put(&r->cols[i], r->rows, row[i], line, err, sizeof(err));
        r->rows += rc == 0;
        arena_free(&ar);
    }
    free(row);
    if (rc == LOCH_ENOMEM)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    else if (rc < 0)
        rc = error_set(rc, "%s", err);
    if (rc < 0) {
        reader_free(r);
        return rc;
    }
    for (size_t i = 0; i < ncols; i++) {
        column *c = &r->cols[i];
        bool var = c->fmt == 'u';
        c->bufs[0] = c->nulls ? c->valid.data : NULL;
        c->bufs[1] = var ? c->offs.data : c->data.data;
        c->bufs[2] = var ? (c->data.data ? c->data.data : "") : NULL;
        c->arr = (struct ArrowArray){.length = r->rows, .null_count = c->nulls, .n_buffers = var ? 3 : 2,
                                     .buffers = c->bufs, .release = noop_array};
        c->sch = (struct ArrowSchema){.format = formats[i], .name = c->name, .flags = ARROW_FLAG_NULLABLE,
                                      .release = noop_schema};
        r->arr_children[i] = &c->arr;
        r->sch_children[i] = &c->sch;
    }
    r->root = (struct ArrowArray){.length = r->rows, .n_buffers = 1, .buffers = r->root_bufs,
                                  .n_children = (int64_t)ncols, .children = r->arr_children, .release = noop_array};
    r->root_schema = (struct ArrowSchema){.format = "+s", .name = "", .n_children = (int64_t)ncols,
                                          .children = r->sch_children, .release = noop_schema};
    *out = (struct ArrowArrayStream){get_schema, get_next, last_error, release, r};
    *rows = r->rows;
    return 0;
}
