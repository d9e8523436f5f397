/*
 * ops/result.c - loch_result: an engine result, or rows loch made itself (table
 * lists, history), behind one accessor API so front ends render both alike.
 */
#include "ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int result_new(loch_result **out, size_t ncols, const char *const *names, const loch_kind *kinds)
{
    loch_result *r = calloc(1, sizeof(*r));
    if (!r || !(r->names = calloc(ncols + 1, sizeof(char *))) || !(r->kinds = calloc(ncols + 1, sizeof(loch_kind)))) {
        loch_result_free(r);
        return error_set(LOCH_ENOMEM, "out of memory");
    }
    r->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        r->names[i] = strdup(names[i]);
        r->kinds[i] = kinds ? kinds[i] : LOCH_KIND_STRING;
    }
    *out = r;
    return 0;
}

int result_add_row(loch_result *r, const char *const *cells)
{
    if (r->nrows == r->alloc_rows) {
        size_t n = r->alloc_rows ? r->alloc_rows * 2 : 16;
        char **grown = realloc(r->cells, sizeof(char *) * n * r->ncols);
        if (!grown)
            return error_set(LOCH_ENOMEM, "out of memory");
        r->cells = grown;
        r->alloc_rows = n;
    }
    for (size_t i = 0; i < r->ncols; i++)
        r->cells[r->nrows * r->ncols + i] = cells[i] ? strdup(cells[i]) : NULL;
    r->nrows++;
    return 0;
}

int result_message(loch_result **out, const char *fmt, ...)
{
    int rc = result_new(out, 0, NULL, NULL);
    if (rc < 0)
        return rc;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (*out)->message = strdup(text);
    return 0;
}

void result_note(loch_result *r, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    free(r->message);
    r->message = strdup(text); /* a note: none when memory is short */
}

size_t loch_result_columns(const loch_result *r) { return r->cr ? compute_result_columns(r->cr) : r->ncols; }
size_t loch_result_rows(const loch_result *r) { return r->cr ? compute_result_rows(r->cr) : r->nrows; }

const char *loch_result_name(const loch_result *r, size_t col)
{
    return r->cr ? compute_result_name(r->cr, col) : r->names[col];
}

const char *loch_result_type(const loch_result *r, size_t col)
{
    if (r->cr)
        return compute_result_type(r->cr, col);
    return r->kinds[col] == LOCH_KIND_NUMBER ? "BIGINT" : r->kinds[col] == LOCH_KIND_BOOL ? "BOOLEAN" : "VARCHAR";
}

loch_kind loch_result_kind(const loch_result *r, size_t col)
{
    if (!r->cr)
        return r->kinds[col];
    switch (compute_result_kind(r->cr, col)) {
    case COMPUTE_NUMBER: return LOCH_KIND_NUMBER;
    case COMPUTE_BOOL: return LOCH_KIND_BOOL;
    case COMPUTE_NESTED: return LOCH_KIND_NESTED;
    default: return LOCH_KIND_STRING;
    }
}

char *loch_result_text(const loch_result *r, size_t row, size_t col)
{
    if (r->cr)
        return compute_result_text(r->cr, row, col);
    const char *v = r->cells[row * r->ncols + col];
    return v ? strdup(v) : NULL;
}

const char *loch_result_message(const loch_result *r) { return r->message; }

void loch_result_free(loch_result *r)
{
    if (!r)
        return;
    compute_result_free(r->cr);
    for (size_t i = 0; r->cells && i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    for (size_t i = 0; r->names && i < r->ncols; i++)
        free(r->names[i]);
    free(r->cells);
    free(r->names);
    free(r->kinds);
    free(r->message);
    free(r);
}

void loch_free(void *p) { free(p); }
