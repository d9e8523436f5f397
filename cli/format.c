/*
 * cli/format.c - result rendering. See format.h.
 *
 * Box layout follows DuckDB's "duckbox": a header row with names, a second with
 * types, numbers right-aligned, NULL shown as NULL, and for long results the first
 * and last rows with a "rows (N shown)" footer. Widths count UTF-8 code points.
 */
#include "format.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/render.h"

#define BOX_MAX_WIDTH 40

int format_parse(const char *name)
{
    static const char *names[] = {"box", "csv", "json", "ndjson", "markdown", "parquet"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    if (strcasecmp(name, "duckbox") == 0)
        return FMT_BOX;
    if (strcasecmp(name, "jsonlines") == 0)
        return FMT_NDJSON;
    return -1;
}

const char *format_name(output_format f)
{
    static const char *names[] = {"box", "csv", "json", "ndjson", "markdown", "parquet"};
    return names[f];
}

static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Copies at most max code points of s into a new string, with an ellipsis when cut;
 * control characters become spaces so one cell stays on one line. */
static char *clip(const char *s, size_t max)
{
    size_t len = strlen(s), w = 0, i = 0;
    char *out = malloc(len + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++w > max) {
            memcpy(out + o - 0, "…", 3);
            o += 3;
            break;
        }
        out[o++] = (s[i] == '\n' || s[i] == '\t' || s[i] == '\r') ? ' ' : s[i];
    }
    out[o] = '\0';
    return out;
}

static void rule(FILE *out, const size_t *w, size_t n, const char *l, const char *m, const char *r)
{
    fputs(l, out);
    for (size_t c = 0; c < n; c++) {
        for (size_t i = 0; i < w[c] + 2; i++)
            fputs("─", out);
        fputs(c + 1 < n ? m : r, out);
    }
    fputc('\n', out);
}

static void cell(FILE *out, const char *s, size_t width, int right)
{
    size_t pad = width - text_width(s);
    fputs(" ", out);
    if (right)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
    fputs(s, out);
    if (!right)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
    fputs(" │", out);
}

static void centered(FILE *out, const char *s, size_t width)
{
    size_t pad = width - text_width(s), left = pad / 2;
    fputs(" ", out);
    for (size_t i = 0; i < left; i++)
        fputc(' ', out);
    fputs(s, out);
    for (size_t i = 0; i < pad - left; i++)
        fputc(' ', out);
    fputs(" │", out);
}

static int format_box(FILE *out, const loch_result *r, size_t max_rows)
{
    size_t nc = loch_result_columns(r), nr = loch_result_rows(r);
    size_t shown = nr <= max_rows ? nr : max_rows, head = nr <= max_rows ? nr : max_rows / 2;
    size_t *w = calloc(nc + 1, sizeof(size_t));
    char **cells = calloc((shown + 1) * (nc + 1), sizeof(char *));
    char **types = calloc(nc + 1, sizeof(char *));
    if (!w || !cells || !types)
        goto cleanup;
    for (size_t c = 0; c < nc; c++) {
        types[c] = strdup(loch_result_type(r, c));
        for (char *p = types[c]; p && *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        w[c] = text_width(loch_result_name(r, c));
        if (types[c] && text_width(types[c]) > w[c])
            w[c] = text_width(types[c]);
    }
    for (size_t i = 0; i < shown; i++) {
        size_t row = i < head ? i : nr - (shown - i);
        for (size_t c = 0; c < nc; c++) {
            char *v = loch_result_text(r, row, c);
            cells[i * nc + c] = clip(v ? v : "NULL", BOX_MAX_WIDTH);
            free(v);
            size_t tw = cells[i * nc + c] ? text_width(cells[i * nc + c]) : 0;
            if (tw > w[c])
                w[c] = tw;
        }
    }
    rule(out, w, nc, "┌", "┬", "┐");
    fputs("│", out);
    for (size_t c = 0; c < nc; c++)
        centered(out, loch_result_name(r, c), w[c]);
    fputs("\n│", out);
    for (size_t c = 0; c < nc; c++)
        centered(out, types[c] ? types[c] : "", w[c]);
    fputc('\n', out);
    rule(out, w, nc, "├", nr ? "┼" : "┴", "┤");
    for (size_t i = 0; i < shown; i++) {
        if (i == head && shown < nr) {
            for (int k = 0; k < 3; k++) {
                fputs("│", out);
                for (size_t c = 0; c < nc; c++)
                    centered(out, "·", w[c]);
                fputc('\n', out);
            }
        }
        fputs("│", out);
        for (size_t c = 0; c < nc; c++)
            cell(out, cells[i * nc + c] ? cells[i * nc + c] : "", w[c], loch_result_kind(r, c) == LOCH_KIND_NUMBER);
        fputc('\n', out);
    }
    if (nr == 0) {
        /* One cell across the whole table, as DuckDB shows an empty result. */
        size_t inner = 0;
        for (size_t c = 0; c < nc; c++)
            inner += w[c] + 3;
        inner -= 1;
        size_t one = inner - 2;
        fputs("│", out);
        centered(out, "0 rows", inner - 2);
        fputc('\n', out);
        rule(out, &one, 1, "└", "┘", "┘");
    } else {
        rule(out, w, nc, "└", "┴", "┘");
    }
    if (shown < nr)
        fprintf(out, "  %zu rows (%zu shown)\n", nr, shown);
cleanup:
    for (size_t i = 0; cells && i < shown * nc; i++)
        free(cells[i]);
    for (size_t c = 0; types && c < nc; c++)
        free(types[c]);
    free(cells);
    free(types);
    free(w);
    return 0;
}

/* A cell (v NULL: SQL NULL) as a CSV field or a JSON value, by the rule the HTTP API
 * follows too (util/render.h: "inf" and "nan" are strings in JSON, ...). */
static void put_cell(FILE *out, const char *v, loch_kind kind, int csv)
{
    buf b = BUF_INIT;
    size_t len = v ? strlen(v) : 0;
    if ((csv ? render_csv_value(&b, v, len) : render_json_value(&b, v, len, kind)) == 0 && b.len)
        fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}

static void csv_field(FILE *out, const char *s) { put_cell(out, s, LOCH_KIND_STRING, 1); }
static void json_string(FILE *out, const char *s) { put_cell(out, s, LOCH_KIND_STRING, 0); }

static int format_rows(FILE *out, const loch_result *r, output_format f)
{
    size_t nc = loch_result_columns(r), nr = loch_result_rows(r);
    if (f == FMT_CSV) {
        for (size_t c = 0; c < nc; c++) {
            if (c)
                fputc(',', out);
            csv_field(out, loch_result_name(r, c));
        }
        fputc('\n', out);
    } else if (f == FMT_MARKDOWN) {
        fputs("|", out);
        for (size_t c = 0; c < nc; c++)
            fprintf(out, " %s |", loch_result_name(r, c));
        fputs("\n|", out);
        for (size_t c = 0; c < nc; c++)
            fputs(loch_result_kind(r, c) == LOCH_KIND_NUMBER ? "---:|" : "---|", out);
        fputc('\n', out);
    } else if (f == FMT_JSON) {
        fputc('[', out);
    }
    for (size_t i = 0; i < nr; i++) {
        if (f == FMT_JSON)
            fputs(i ? ",\n" : "", out);
        if (f == FMT_JSON || f == FMT_NDJSON)
            fputc('{', out);
        if (f == FMT_MARKDOWN)
            fputc('|', out);
        for (size_t c = 0; c < nc; c++) {
            char *v = loch_result_text(r, i, c);
            if (f == FMT_CSV) {
                if (c)
                    fputc(',', out);
                csv_field(out, v);
            } else if (f == FMT_MARKDOWN) {
                fprintf(out, " %s |", v ? v : "NULL");
            } else {
                if (c)
                    fputc(',', out);
                json_string(out, loch_result_name(r, c));
                fputc(':', out);
                put_cell(out, v, loch_result_kind(r, c), 0);
            }
            free(v);
        }
        if (f == FMT_JSON || f == FMT_NDJSON)
            fputc('}', out);
        if (f != FMT_JSON)
            fputc('\n', out);
    }
    if (f == FMT_JSON)
        fputs("]\n", out);
    return 0;
}

int format_result(FILE *out, const loch_result *r, output_format f, size_t max_rows)
{
    if (loch_result_columns(r) == 0)
        return 0;
    return f == FMT_BOX ? format_box(out, r, max_rows) : format_rows(out, r, f);
}
