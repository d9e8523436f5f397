/*
 * ingest/reconcile.c - the table's columns after an ingest, and each input's rows
 * shaped like them.
 *
 * The table keeps its columns in their order (with --mode overwrite the files define
 * the schema instead); a column only the files have is added after them, typed so
 * every file's values fit (unify). A file value an existing column cannot hold widens
 * the column, and the table's rows are rewritten in the same commit; nested types do
 * not widen and are refused naming the column and both types. Which types hold which
 * is core/types.c's rule; the columns here carry Delta type JSON text. Columns match by
 * name, ignoring case. Each input's rows are then cast to the table's types, with NULL
 * for the columns the file lacks; a nested value going into a text column becomes its
 * JSON text.
 *
 * An existing column keeps what the table declares besides its type: its nullability
 * and its field metadata (a comment, or whatever another writer keeps there), copied
 * through unread. A row with no value for a NOT NULL column fails the ingest naming
 * the column, from inside the write (no second pass over the inputs), so nothing is
 * committed and the files already written go as on any failed write. With --mode
 * overwrite the files define the schema: every column is nullable and carries no
 * metadata, as when the table was first ingested.
 */
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/types.h"

void tschema_free(tschema *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].type);
        free(t->v[i].metadata);
    }
    free(t->v);
}

static int tschema_add(tschema *t, const char *name, const char *type, int is_new)
{
    tcol *g = realloc(t->v, (t->n + 1) * sizeof(*g));
    if (!g)
        return error_set(LOCH_ENOMEM, "out of memory");
    t->v = g;
    t->v[t->n] = (tcol){strdup(name), strdup(type), NULL, is_new, 0};
    t->n++;
    return t->v[t->n - 1].name && t->v[t->n - 1].type ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

/* An existing field, with its nullability and metadata. */
static int tschema_add_field(tschema *t, const schema_field *f)
{
    int rc = tschema_add(t, f->name, f->delta_type, 0);
    if (rc == 0 && f->metadata && strcmp(f->metadata, "{}") != 0 &&
        !(t->v[t->n - 1].metadata = strdup(f->metadata)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0)
        t->v[t->n - 1].not_null = !f->nullable;
    return rc;
}

static tcol *tschema_find(tschema *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->v[i].name, name) == 0)
            return &t->v[i];
    return NULL;
}

/* A type both a and b fit in, by core/types.c's rules; text in, text out (the result
 * lives in out or is a or b). */
static const char *unify(const char *a, const char *b, char out[32])
{
    delta_type x, y;
    if (strcmp(a, b) == 0)
        return a;
    if (delta_type_parse(a, &x) < 0 || delta_type_parse(b, &y) < 0)
        return "\"string\"";
    delta_type u = types_unify(x, y);
    return delta_type_json(&u, out);
}

/* Whether a value of type from goes into a column of type to without widening it. */
static int fits(const char *from, const char *to)
{
    delta_type x, y;
    if (strcmp(from, to) == 0)
        return 1;
    return delta_type_parse(from, &x) == 0 && delta_type_parse(to, &y) == 0 && types_fits(x, y);
}

static const char *bare(const char *type, char *out, size_t cap)
{
    snprintf(out, cap, "%s", type[0] == '"' ? type + 1 : type);
    size_t n = strlen(out);
    if (type[0] == '"' && n)
        out[n - 1] = '\0';
    return out;
}

/* Table columns after this ingest. A file value the table column cannot hold widens the
 * column (*widened: the table's rows are rewritten with the new types in the same
 * commit); nested columns do not widen and are refused. */
int ingest_merge_schema(const snapshot *s, int overwrite, const inputs *in, tschema *t, int *widened)
{
    int rc = 0;
    if (s && !overwrite)
        for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
            rc = tschema_add_field(t, &s->schema.fields[i]);
    size_t existing = t->n;
    for (size_t f = 0; rc == 0 && f < in->n; f++) {
        const input *x = &in->v[f];
        for (size_t i = 0; rc == 0 && !x->skip && i < x->ncols; i++) {
            tcol *c = tschema_find(t, x->cols[i].name);
            if (!c) {
                rc = tschema_add(t, x->cols[i].name, x->cols[i].type, 1);
            } else if ((size_t)(c - t->v) >= existing) {
                char ubuf[32];
                const char *u = unify(c->type, x->cols[i].type, ubuf);
                char *dup = strdup(u);
                free(c->type);
                c->type = dup;
            } else if (!fits(x->cols[i].type, c->type)) {
                char a[256], b[256];
                if (c->type[0] == '{' || x->cols[i].type[0] == '{') {
                    rc = error_set(LOCH_EINVALID, "%s: column \"%s\" is %s in the table but %s in the file; it cannot "
                                   "be widened (use --mode overwrite, or --schema \"%s TYPE\")", x->shown, c->name,
                                   bare(c->type, a, sizeof(a)), bare(x->cols[i].type, b, sizeof(b)), c->name);
                } else {
                    char ubuf[32];
                    char *dup = strdup(unify(c->type, x->cols[i].type, ubuf));
                    free(c->type);
                    c->type = dup;
                    *widened = 1;
                }
            }
        }
    }
    return rc;
}

/* The value written for column c: the column itself, or for a NOT NULL column a CASE
 * that stops the write at the first row without a value. The check rides on the write
 * itself, so the inputs are read once; the engine's error carries the message. */
static int not_null_expr(const tcol *c, buf *e)
{
    buf id = BUF_INIT, msg = BUF_INIT;
    int rc = buf_put_sql_ident(&id, c->name);
    if (rc == 0 && !c->not_null)
        rc = buf_puts(e, id.data);
    else if (rc == 0)
        rc = buf_printf(&msg, "column \"%s\" is NOT NULL, but a row has no value for it", c->name) ||
             buf_printf(e, "CASE WHEN %s IS NULL THEN system.main.error(", id.data) || buf_put_sql_str(e, msg.data) ||
             buf_printf(e, ") ELSE %s END", id.data) ? LOCH_ENOMEM : 0;
    buf_free(&id);
    buf_free(&msg);
    return rc;
}

int ingest_table_columns(const tschema *t, compute_column **out)
{
    compute_column *v = calloc(t->n + 1, sizeof(*v));
    buf e = BUF_INIT;
    int rc = v ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        buf_clear(&e);
        rc = not_null_expr(&t->v[i], &e);
        v[i].name = strdup(t->v[i].name);
        v[i].delta_type = strdup(t->v[i].type);
        v[i].write_expr = strdup(e.data ? e.data : "");
        v[i].ntz = strcmp(t->v[i].type, "\"timestamp_ntz\"") == 0;
        v[i].not_null = t->v[i].not_null;
        v[i].metadata = t->v[i].metadata ? strdup(t->v[i].metadata) : NULL;
        if (rc == 0 && (!v[i].name || !v[i].delta_type || !v[i].write_expr || (t->v[i].metadata && !v[i].metadata)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    buf_free(&e);
    *out = v;
    return rc;
}

/* The file's rows shaped like the table: its columns cast where needed, NULL for the rest. */
int ingest_shaped_sql(arena *a, const tschema *t, const input *x, const char *fsql, buf *sql)
{
    buf id = BUF_INIT, duck = BUF_INIT;
    int rc = buf_puts(sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        const in_col *c = NULL;
        for (size_t k = 0; k < x->ncols; k++)
            if (strcasecmp(x->cols[k].name, t->v[i].name) == 0)
                c = &x->cols[k];
        buf_clear(&id);
        buf_clear(&duck);
        rc = schema_duck_type(a, t->v[i].type, &duck);
        rc = rc ? rc : buf_put_sql_ident(&id, c ? c->name : t->v[i].name);
        if (rc)
            break;
        rc = (i ? buf_puts(sql, ", ") : 0) ||
             (!c ? buf_printf(sql, "NULL::%s", duck.data)
                 : !strcmp(c->type, t->v[i].type) ? buf_puts(sql, id.data)
                 : !strcmp(t->v[i].type, "\"string\"") && c->type[0] == '{'
                     ? buf_printf(sql, "system.main.to_json(%s)::VARCHAR", id.data) /* nested into text: as JSON */
                     : buf_printf(sql, "CAST(%s AS %s)", id.data, duck.data)) ||
             buf_puts(sql, " AS ") || buf_put_sql_ident(sql, t->v[i].name) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : buf_printf(sql, " FROM (%s)", fsql);
    buf_free(&id);
    buf_free(&duck);
    return rc;
}

int ingest_schema_of(const tschema *t, buf *out)
{
    compute_column *cols = NULL;
    int rc = ingest_table_columns(t, &cols);
    rc = rc ? rc : write_schema_string(cols, t->n, out);
    compute_columns_free(cols, t->n);
    return rc;
}
