/*
 * ingest/plan.c - one input's columns and the SELECT that reads them.
 *
 * The source is the read a C scan typed already (input.typed_src), or a view over an
 * Arrow file, or the engine's reader for the format (read_csv, read_json,
 * read_parquet); a PDF is first turned into NDJSON rows (file, page, text) in a
 * temporary file. The columns then get their names and types: CSV columns that no scan
 * typed by the SQL inference, nested JSON objects flattened into parent_child columns
 * (arrays and maps stay), and --schema "column TYPE, ..." applied as a cast of the
 * source's value, not of an inferred cast. The final SELECT is described again, so an
 * input's column types are what the engine really produces.
 *
 * Errors name the input and never quote loch's generated SQL.
 */
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "adapters/pdf.h"
#include "util/json.h"
#include "util/misc.h"

static int source_sql(const input *x, buf *sql)
{
    int rc = buf_puts(sql, "SELECT * FROM ");
    const char *f = x->format;
    if (!strcmp(f, "csv") || !strcmp(f, "tsv")) {
        char delim[16] = "", d = x->delim ? x->delim : !strcmp(f, "tsv") ? '\t' : 0;
        if (d == '\t')
            snprintf(delim, sizeof(delim), ", delim='\\t'");
        else if (d)
            snprintf(delim, sizeof(delim), ", delim='%c'", d); /* one of , ; | */
        rc = rc || buf_puts(sql, "system.main.read_csv(") || compute_put_path(sql, x->path) ||
             buf_printf(sql, ", encoding='%s'", x->encoding) || ingest_put_line_limit(sql, x) ||
             buf_printf(sql, ", all_varchar=true%s%s)", delim,
                        x->rejects ? ", store_rejects=true, rejects_table='__loch_rejects', "
                                     "rejects_scan='__loch_rejects_scan'" : "");
    }
    else if (!strcmp(f, "json") || !strcmp(f, "ndjson"))
        rc = rc || buf_puts(sql, "system.main.read_json(") || compute_put_path(sql, x->path) ||
             buf_printf(sql, ", sample_size=-1%s)", !strcmp(f, "ndjson") ? ", format='newline_delimited'" : "");
    else if (!strcmp(f, "parquet"))
        rc = rc || buf_puts(sql, "system.main.read_parquet(") || compute_put_path(sql, x->path) || buf_putc(sql, ')');
    else
        return error_set(LOCH_EINVALID, "unknown format \"%s\" (csv, tsv, json, ndjson, parquet, arrow, pdf)", f);
    return rc ? LOCH_ENOMEM : 0;
}

int ingest_push_col(input *x, const char *name, const char *type, const char *expr)
{
    in_col *g = realloc(x->cols, (x->ncols + 1) * sizeof(*g));
    if (!g)
        return error_set(LOCH_ENOMEM, "out of memory");
    x->cols = g;
    in_col *c = &x->cols[x->ncols];
    c->name = strdup(name);
    c->type = strdup(type);
    c->expr = strdup(expr);
    x->ncols++;
    return c->name && c->type && c->expr ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

/* Nested objects become parent_child columns, recursively; arrays and maps stay. */
static int flatten(input *x, arena *a, const char *name, const char *type, const char *expr, int depth)
{
    json *t;
    if (type[0] != '{' || depth > 16 || json_parse(a, type, strlen(type), &t) < 0 ||
        !json_get_str(t, "type") || strcmp(json_get_str(t, "type"), "struct") != 0)
        return ingest_push_col(x, name, type, expr);
    buf n = BUF_INIT, e = BUF_INIT, ft = BUF_INIT;
    int rc = 0;
    const json *fields = json_get(t, "fields");
    for (const json *f = fields ? fields->child : NULL; rc == 0 && f; f = f->next) {
        const char *child = json_get_str(f, "name");
        buf_clear(&n);
        buf_clear(&e);
        buf_clear(&ft);
        rc = buf_printf(&n, "%s_%s", name, child) || buf_printf(&e, "struct_extract(%s, ", expr) ||
             buf_put_sql_str(&e, child) || buf_putc(&e, ')') || json_write(&ft, json_get(f, "type")) ? LOCH_ENOMEM : 0;
        rc = rc ? rc : flatten(x, a, n.data, ft.data, e.data, depth + 1);
    }
    buf_free(&n);
    buf_free(&e);
    buf_free(&ft);
    return rc;
}

/* --schema "a BIGINT, b DECIMAL(10,2)": the next item, or 0 at the end. Commas inside
 * parentheses do not split. */
static int next_override(const char **pp, char name[256], char type[512])
{
    const char *p = *pp;
    while (p && (*p == ' ' || *p == ','))
        p++;
    if (!p || !*p)
        return 0;
    const char *start = p;
    int depth = 0, used = 0;
    while (*p && (depth > 0 || *p != ',')) {
        depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
        p++;
    }
    *pp = p;
    char item[512];
    snprintf(item, sizeof(item), "%.*s", (int)(p - start), start);
    if (sscanf(item, "%255s %n", name, &used) != 1 || !item[used])
        return error_set(LOCH_EINVALID, "--schema: expected \"column TYPE\" in \"%s\"", item);
    snprintf(type, 512, "%s", item + used);
    return 1;
}

int ingest_overridden(const char *overrides, const char *column)
{
    char name[256], type[512];
    for (const char *p = overrides; next_override(&p, name, type) > 0;)
        if (strcasecmp(name, column) == 0)
            return 1;
    return 0;
}

static int apply_overrides(input *x, const char *overrides)
{
    char name[256], type[512];
    int rc;
    for (const char *p = overrides; (rc = next_override(&p, name, type)) > 0;) {
        size_t i = 0;
        while (i < x->ncols && strcasecmp(x->cols[i].name, name) != 0)
            i++;
        if (i == x->ncols)
            continue; /* a column this file lacks: nothing to override */
        buf e = BUF_INIT, raw = BUF_INIT;
        rc = buf_put_sql_ident(&raw, x->cols[i].name);
        /* Override the source text, not the inferred cast. */
        rc = rc || buf_printf(&e, "CAST(%s AS %s)", strncmp(x->cols[i].expr, "CAST(", 5) == 0 ? raw.data
                                                                                             : x->cols[i].expr,
                              type) ? LOCH_ENOMEM : 0;
        if (rc == 0) {
            free(x->cols[i].expr);
            x->cols[i].expr = buf_detach(&e);
        }
        buf_free(&e);
        buf_free(&raw);
        if (rc < 0)
            return rc;
    }
    return rc;
}

/* The SELECT giving a file's rows with the chosen names and types. */
static int file_sql(const input *x, const char *src, buf *sql)
{
    int rc = buf_puts(sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < x->ncols; i++)
        rc = (i ? buf_puts(sql, ", ") : 0) || buf_puts(sql, x->cols[i].expr) || buf_puts(sql, " AS ") ||
             buf_put_sql_ident(sql, x->cols[i].name) ? LOCH_ENOMEM : 0;
    return rc ? rc : buf_printf(sql, " FROM (%s)", src);
}

/* Errors about our generated SQL would quote it; the user never wrote it. The engine
 * also quotes the offending line of a file whole: a line of megabytes is cut. */
void ingest_drop_sql_excerpt(void)
{
    const char *m = loch_error_last(), *cut = strstr(m, "\n\nLINE ");
    size_t n = cut ? (size_t)(cut - m) : strlen(m);
    buf out = BUF_INIT;
    int code = loch_error_last_code(), changed = cut != NULL;
    for (size_t i = 0, col = 0, lines = 0; i < n; i++) {
        col = m[i] == '\n' ? 0 : col + 1;
        lines += m[i] == '\n';
        if (col == 200 || (lines == 8 && m[i] == '\n')) {
            buf_puts(&out, "...");
            changed = 1;
        }
        if (lines >= 8)
            break;
        if (col < 200)
            buf_putc(&out, m[i]);
    }
    if (changed && out.data)
        error_set(code, "%s", out.data);
    buf_free(&out);
}

/* A PDF becomes NDJSON rows (file, page, text) in a temporary file read like any other. */
static int pdf_input(loch_lake *lake, input *x)
{
    char id[37];
    buf dir = BUF_INIT, local = BUF_INIT;
    const char *base = strrchr(x->shown, '/');
    uuid_v4(id);
    int rc = lake_scratch_dir(lake, &dir);
    rc = rc ? rc : buf_printf(&local, "%s/pdf-%d-%s.ndjson", dir.data, (int)getpid(), id);
    buf_free(&dir);
    rc = rc ? rc : pdf_pages_to_ndjson(x->path, base ? base + 1 : x->shown, local.data);
    if (rc == 0) {
        if (x->temp)
            unlink(x->path);
        free(x->path);
        x->path = buf_detach(&local);
        x->temp = 1;
        x->format = "ndjson";
    }
    buf_free(&local);
    return rc;
}

int ingest_plan_file(loch_lake *lake, input *x, const char *schema_override, buf *sql)
{
    buf src = BUF_INIT;
    compute_column *raw = NULL;
    size_t n = 0;
    arena a = ARENA_INIT;
    int csv = !strcmp(x->format, "csv") || !strcmp(x->format, "tsv");
    int rc = x->bytes == 0 ? error_set(LOCH_EINVALID, "the file is empty") : 0;
    if (rc == 0 && !strcmp(x->format, "pdf"))
        rc = pdf_input(lake, x);
    if (x->typed_src) {
        rc = buf_puts(&src, x->typed_src) ? LOCH_ENOMEM : 0;
        csv = 0; /* typed already: the columns are taken as they come */
    } else if (rc == 0 && !strcmp(x->format, "arrow")) {
        rc = ingest_arrow_input(lake, x, &src);
    } else {
        rc = rc || !csv ? rc : ingest_check_csv_layout(lake, x); /* may settle the delimiter and line limit */
        rc = rc ? rc : source_sql(x, &src);
    }
    if (rc == 0 && !x->typed_src && (!strcmp(x->format, "json") || !strcmp(x->format, "ndjson")))
        rc = ingest_pin_json_types(lake, x, &src);
    rc = rc ? rc : compute_describe(lake->cp, src.data, &raw, &n);
    if (rc == 0 && n == 0)
        rc = error_set(LOCH_EINVALID, "no columns found");
    if (rc == 0 && csv) {
        rc = ingest_infer_csv(lake, x, src.data, raw, n);
    } else {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = flatten(x, &a, raw[i].name, raw[i].delta_type, raw[i].write_expr, 0);
    }
    rc = rc ? rc : apply_overrides(x, schema_override);
    rc = rc ? rc : file_sql(x, src.data, sql);
    /* Describe the final SELECT: what the overrides and casts really produce. */
    compute_columns_free(raw, n);
    raw = NULL;
    n = 0;
    rc = rc ? rc : compute_describe(lake->cp, sql->data, &raw, &n);
    for (size_t i = 0; rc == 0 && i < n && i < x->ncols; i++) {
        free(x->cols[i].type);
        x->cols[i].type = strdup(raw[i].delta_type);
    }
    if (rc < 0) {
        ingest_drop_sql_excerpt();
        ingest_explain_utf8(x);
        error_prefix("%s: ", x->shown);
    }
    compute_columns_free(raw, n);
    arena_free(&a);
    buf_free(&src);
    return rc;
}
