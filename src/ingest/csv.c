/*
 * ingest/csv.c - CSV and TSV files: the layout check, the one-scan typing of plain
 * files, and the SQL typing of the rest.
 *
 * A plain UTF-8 file in a dialect the engine's sniffer is sure of is read once by
 * formats/csvcheck.c on two threads (ingest_scan_csv): its hash, every record's field
 * count and every column's type; the engine then reads it once more with the types
 * spelled out. Anything else (compressed files, UTF-16 and Latin-1 text, --rejects,
 * dialects the scanner does not read exactly as the engine does) is checked by the
 * sniffer and, where the bytes allow, a field count (ingest_check_csv_layout), and
 * typed by one SQL aggregate (ingest_infer_csv). Both ways apply the rules of
 * formats/csvtypes.c, so a file gets the same schema whichever way it is read.
 *
 * Invariant: nothing is ingested from a file with a ragged record, a quote that never
 * closes or a record longer than MAX_RECORD, and the error names the line. The engine's
 * sniffer is forgiving where ingest must not be (it skips leading lines that do not
 * fit, or settles for a one-column reading of a ragged file): both are errors here.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/csvcheck.h"
#include "formats/csvtypes.h"
#include "util/json.h"
#include "util/sha256.h"

/* The longest CSV record read: long enough for documents in a field, short enough
 * that an unclosed quote is reported, not held. The engine's limit is raised to it
 * only for files that need it (its read buffers grow with the limit). */
#define MAX_RECORD (INT64_C(64) << 20)
/* The sniffer's limits on its second try (sniff): room for a record of MAX_RECORD. */
#define SNIFF_LIMITS ", max_line_size=67108866, buffer_size=134217732"

/* The engine's line limit for a file whose longest record a scan measured: its own
 * default (2 MiB, with buffers of 32 MiB) unless the file needs more. */
int ingest_put_line_limit(buf *sql, const input *x)
{
    int64_t need = x->longest + (64 << 10);
    if (need <= (2 << 20))
        return 0;
    return buf_printf(sql, ", max_line_size=%lld, buffer_size=%lld", (long long)need,
                      (long long)(need * 2 > (32 << 20) ? need * 2 : (32 << 20)));
}

/* The conservative CSV types: one aggregate over the whole file decides each column. */
int ingest_infer_csv(loch_lake *lake, input *x, const char *src, compute_column *raw, size_t n)
{
    /* The rules of formats/csvtypes.c, which csvcheck applies to plain files in one
     * scan (ingest_scan_csv); this is the reading for everything else (compressed files,
     * rejects, unusual dialects). */
    enum { NT = CSV_NTYPES };
    buf sql = BUF_INIT, id = BUF_INIT, e = BUF_INIT;
    compute_result *r = NULL;
    int rc = buf_puts(&sql, "SELECT count(*)");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        buf_clear(&id);
        rc = buf_put_sql_ident(&id, raw[i].name);
        rc = rc || buf_printf(&sql, ", count(%s)", id.data) ? LOCH_ENOMEM : 0;
        for (int t = 0; rc == 0 && t < NT; t++) {
            buf test = BUF_INIT;
            rc = csv_type_test(&test, &csv_types[t], id.data);
            /* Empty fields are NULL and decide nothing (TRY_CAST(NULL) would say no). */
            rc = rc ? rc : buf_printf(&sql, ", coalesce(bool_and(%s IS NULL OR (%s)), false)", id.data, test.data);
            buf_free(&test);
        }
    }
    rc = rc ? rc : buf_printf(&sql, " FROM (%s)", src);
    rc = rc ? rc : compute_query(lake->cp, sql.data, &r);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t base = 1 + i * (NT + 1);
        int t = 0;
        if (compute_result_i64(r, 0, base) == 0)
            t = NT; /* no values at all: text */
        while (t < NT) {
            char *ok = compute_result_text(r, 0, base + 1 + (size_t)t);
            int yes = ok && strcmp(ok, "true") == 0;
            free(ok);
            if (yes)
                break;
            t++;
        }
        buf_clear(&id);
        buf_clear(&e);
        rc = buf_put_sql_ident(&id, raw[i].name);
        rc = rc ? rc
                : t < NT ? buf_printf(&e, "CAST(%s AS %s)", id.data, csv_types[t].sql_type) : buf_puts(&e, id.data);
        rc = rc ? rc : ingest_push_col(x, raw[i].name, t < NT ? csv_types[t].delta_type : "\"string\"", e.data);
    }
    compute_result_free(r);
    buf_free(&sql);
    buf_free(&id);
    buf_free(&e);
    return rc;
}

/* The error for what a scan found wrong. */
static int csv_problem(const csvcheck *c)
{
    if (c->bad_kind == CSV_TOO_LONG)
        return error_set(LOCH_EINVALID, "line %lld: a record longer than %lld MiB, the limit (a quote left open?); "
                         "nothing was ingested", (long long)c->bad_line, (long long)(MAX_RECORD >> 20));
    if (c->bad_kind == CSV_UNCLOSED)
        return error_set(LOCH_EINVALID, "line %lld: a quote opens and never closes; nothing was ingested",
                         (long long)c->bad_line);
    return error_set(LOCH_EINVALID, "line %lld has %lld field%s where line 1 has %lld; nothing was ingested",
                     (long long)c->bad_line, (long long)c->bad_fields, c->bad_fields == 1 ? "" : "s",
                     (long long)c->expect);
}

/* Counts fields in every record of a plain (uncompressed) delimited file; the first
 * ragged record, one too long, or a quote that never closes is an error naming its
 * line. */
static int count_fields(input *x, char delim, char quote)
{
    char chunk[1 << 16];
    csvcheck c;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(errno, "cannot read", x->shown);
    csvcheck_init(&c, delim, quote);
    c.max_record = MAX_RECORD;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0 && !csvcheck_feed(&c, chunk, (size_t)n))
        ;
    close(fd);
    int bad = csvcheck_finish(&c);
    x->longest = c.longest > x->longest ? c.longest : x->longest;
    return bad ? csv_problem(&c) : 0;
}

/* The delimiter the first line uses most, outside quotes, or 0. */
static char first_line_delim(const input *x)
{
    char head[1 << 14];
    int fd = open(x->path, O_RDONLY | O_CLOEXEC), counts[4] = {0}, in_quote = 0;
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : 0;
    static const char cands[] = ",\t;|";
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < n && head[i] != '\n'; i++) {
        in_quote ^= head[i] == '"';
        for (int k = 0; !in_quote && k < 4; k++)
            counts[k] += head[i] == cands[k];
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        best = counts[k] > counts[best] ? k : best;
    return counts[best] ? cands[best] : 0;
}

/* The engine's sniffer over a delimited file: SELECT cols FROM sniff_csv(...). With
 * its default limits first (cheaper); when that fails (a record in the sample longer
 * than 2 MiB, among other reasons) it is sniffed again with room for records up to
 * MAX_RECORD. */
static int sniff(loch_lake *lake, const input *x, const char *cols, compute_result **r)
{
    int rc = 0;
    for (int big = 0; big < 2; big++) {
        buf sql = BUF_INIT;
        rc = buf_printf(&sql, "SELECT %s FROM sniff_csv(", cols) || compute_put_path(&sql, x->path) ||
             buf_printf(&sql, ", encoding='%s'%s%s)", x->encoding, big ? SNIFF_LIMITS : "",
                        !strcmp(x->format, "tsv") ? ", delim='\\t'" : "") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : compute_query(lake->cp, sql.data, r);
        buf_free(&sql);
        if (rc == 0 || rc == LOCH_ENOMEM)
            break; /* any other failure: perhaps a record past the default limit */
    }
    return rc;
}

int ingest_check_csv_layout(loch_lake *lake, input *x)
{
    compute_result *r = NULL;
    int rc = sniff(lake, x, "SkipRows, Delimiter, Quote, len(Columns)", &r);
    if (rc < 0 && !ingest_is_compressed(x) && strcmp(x->encoding, "utf-16") != 0) {
        /* The sniffer gave up (a record past its limit, a quote that never closes):
         * a count with the likely delimiter usually says where. */
        char delim = first_line_delim(x);
        if (delim)
            count_fields(x, delim, '"'); /* when it finds nothing, the sniffer's words stand */
        rc = LOCH_EINVALID;
    }
    if (rc == 0 && compute_result_i64(r, 0, 0) > 0) {
        int64_t n = compute_result_i64(r, 0, 0);
        rc = n == 1 ? error_set(LOCH_EINVALID, "line 1 does not fit the layout of the rest of the file (a "
                                "different number of fields?); nothing was ingested")
                    : error_set(LOCH_EINVALID, "lines 1-%lld do not fit the layout of the rest of the file (a "
                                "different number of fields?); nothing was ingested", (long long)n);
    }
    if (rc == 0 && !ingest_is_compressed(x)) {
        char *d = compute_result_text(r, 0, 1), *q = compute_result_text(r, 0, 2);
        char delim = d && strlen(d) == 1 ? d[0] : 0, quote = q && strlen(q) == 1 ? q[0] : '"';
        if (compute_result_i64(r, 0, 3) <= 1)
            delim = first_line_delim(x); /* a one-column reading: check the likely delimiter */
        if (x->rejects && delim && compute_result_i64(r, 0, 3) <= 1)
            x->delim = delim; /* read with it; ragged rows become rejects */
        else if (delim && !x->rejects && strcmp(x->encoding, "utf-16") != 0) { /* counts bytes: not UTF-16 */
            rc = count_fields(x, delim, quote);
            if (rc == 0 && compute_result_i64(r, 0, 3) <= 1)
                x->delim = delim; /* every record agrees on it, the sniffer's sample did not */
        }
        free(d);
        free(q);
    }
    compute_result_free(r);
    return rc;
}

enum { SCAN_CHUNK = 1 << 20 };

typedef struct {
    int fd;
    int64_t from, to;
    csvcheck *c;
    meter *m;
    int err;           /* errno of a failed read */
} scan_part;

/* Feeds bytes [from, to) of the file to the scan, and the hash when one is given; the
 * scanned bytes are counted in the meter. */
static int scan_range(int fd, int64_t from, int64_t to, csvcheck *c, sha256_ctx *h, char *chunk, meter *m)
{
    while (from < to) {
        ssize_t n = pread(fd, chunk, (size_t)(to - from < SCAN_CHUNK ? to - from : SCAN_CHUNK), from);
        if (n <= 0)
            return n < 0 ? errno : EIO; /* EIO: the file shrank while read */
        if (h)
            sha256_update(h, chunk, (size_t)n);
        if (c && !c->bad_line)
            csvcheck_feed(c, chunk, (size_t)n);
        if (c && m)
            atomic_fetch_add(&m->scanned, n);
        from += n;
    }
    return 0;
}

static void *scan_part_run(void *arg)
{
    scan_part *p = arg;
    char *chunk = malloc(SCAN_CHUNK);
    p->err = chunk ? scan_range(p->fd, p->from, p->to, p->c, NULL, chunk, p->m) : ENOMEM;
    if (!p->err)
        csvcheck_finish(p->c);
    free(chunk);
    return NULL;
}

/* The hash and the scan of a whole file, on two cores (when the hash is known already,
 * the two threads scan a half each): the hash is sequential, so this
 * thread hashes everything and scans the first quarter while a second thread scans
 * the rest from the first line end after the cut. The rest is merged in when the first
 * quarter ends between records; when the cut fell inside a quoted field (a line end
 * in a value) the rest is scanned again, in order. */
static int scan_pass(input *x, csvcheck *c)
{
    struct stat st;
    char *chunk = malloc(SCAN_CHUNK);
    sha256_ctx h = SHA256_CTX_INIT;
    csvcheck rest;
    scan_part part = {.fd = -1};
    pthread_t thread;
    int threaded = 0, rc = 0, err = 0;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    csvcheck_init(&rest, c->delim, c->quote);
    csvcheck_types(&rest, 0);
    rest.max_record = c->max_record;
    if (fd < 0 || fstat(fd, &st) != 0 || !chunk) {
        rc = !chunk ? error_set(LOCH_ENOMEM, "out of memory") : error_errno(errno, "cannot read", x->shown);
        goto cleanup;
    }
    int64_t size = st.st_size, cut = size;
    int hashed = x->sha[0] != 0; /* known already (an upload hashed as it arrived) */
    int64_t split = hashed ? size / 2 : size / 4;
    if (size >= 16 << 20) {
        ssize_t n = pread(fd, chunk, 1 << 16, split);
        char *nl = n > 0 ? memchr(chunk, '\n', (size_t)n) : NULL;
        if (nl) {
            cut = split + (nl - chunk) + 1;
            part = (scan_part){.fd = fd, .from = cut, .to = size, .c = &rest, .m = x->meter};
            threaded = pthread_create(&thread, NULL, scan_part_run, &part) == 0;
            cut = threaded ? cut : size;
        }
    }
    if (!hashed && sha256_init(&h) < 0) {
        rc = LOCH_ENOMEM;
        if (threaded)
            pthread_join(thread, NULL);
        goto cleanup;
    }
    err = scan_range(fd, 0, cut, c, hashed ? NULL : &h, chunk, x->meter);
    err = err || hashed ? err : scan_range(fd, cut, size, NULL, &h, chunk, NULL);
    if (threaded) {
        pthread_join(thread, NULL);
        err = err ? err : part.err;
        if (!err && !c->bad_line && csvcheck_at_record_start(c))
            rc = csvcheck_merge(c, &rest) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        else if (!err && !c->bad_line)
            err = scan_range(fd, cut, size, c, NULL, chunk, NULL); /* the cut was inside a value */
    }
    if (err) {
        rc = error_errno(err, "cannot read", x->shown);
        goto cleanup;
    }
    csvcheck_finish(c);
    if (!hashed && (rc = sha256_hex(&h, x->sha)) < 0)
        goto cleanup;
    x->bytes = size;
cleanup:
    sha256_discard(&h);
    if (fd >= 0)
        close(fd);
    free(chunk);
    csvcheck_free(&rest);
    return rc;
}

/* One read of a plain delimited file does everything ingest needs before writing: the
 * content hash, the field count of every record, and each column's type
 * (formats/csvcheck.c). The file is then read once more, by the engine, with those types: two
 * passes in all where the SQL inference takes four. Applies when the scanner reads
 * the dialect exactly as the engine does (quote " or none, "" as the escape, LF or
 * CRLF lines, no comments, a layout the sniffer is sure of); otherwise x->typed_src
 * stays NULL and the SQL inference decides (ingest_check_csv_layout, ingest_infer_csv). */
int ingest_scan_csv(loch_lake *lake, input *x, const char *overrides)
{
    buf src = BUF_INIT;
    compute_result *r = NULL;
    char *delim = NULL, *quote = NULL, *escape = NULL, *newline = NULL, *comment = NULL, *names = NULL;
    struct stat st;
    arena a = ARENA_INIT;
    json *cols = NULL;
    csvcheck c;
    int rc = 0;
    csvcheck_init(&c, ',', '"');
    if (x->rejects || ingest_is_compressed(x) || strcmp(x->encoding, "utf-8") != 0 || stat(x->path, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size == 0)
        goto cleanup;
    if (sniff(lake, x, "SkipRows, Delimiter, Quote, Escape, NewLineDelimiter, Comment, HasHeader, "
                       "system.main.to_json(list_transform(Columns, c -> c.name))::VARCHAR", &r) < 0)
        goto cleanup; /* the SQL reading reports what the sniffer could not read */
    delim = compute_result_text(r, 0, 1);
    quote = compute_result_text(r, 0, 2);
    escape = compute_result_text(r, 0, 3);
    newline = compute_result_text(r, 0, 4);
    comment = compute_result_text(r, 0, 5);
    names = compute_result_text(r, 0, 7);
    int header = compute_result_i64(r, 0, 6) != 0;
    if (quote && !strcmp(quote, "(empty)"))
        quote[0] = '\0'; /* no quoting in the sniffer's sample: none */
    if (escape && !strcmp(escape, "(empty)"))
        escape[0] = '\0';
    if (rc < 0 || compute_result_i64(r, 0, 0) != 0 || !delim || strlen(delim) != 1 || !quote || strlen(quote) > 1 ||
        (quote[0] && quote[0] != '"') || !escape || (escape[0] && strcmp(escape, quote) != 0) || !newline ||
        (strcmp(newline, "\\n") != 0 && strcmp(newline, "\\r\\n") != 0) || !comment ||
        strcmp(comment, "(empty)") != 0 || !names || json_parse(&a, names, strlen(names), &cols) < 0 ||
        cols->type != JSON_ARRAY || cols->len < 2)
        goto cleanup; /* skipped rows, one column, another dialect: the SQL reading */

    csvcheck_init(&c, delim[0], quote[0]);
    csvcheck_types(&c, header);
    c.max_record = MAX_RECORD;
    if ((rc = scan_pass(x, &c)) < 0)
        goto cleanup;
    if (c.oom) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (c.bad_line) {
        rc = csv_problem(&c);
        error_prefix("%s: ", x->shown);
        goto cleanup;
    }
    x->longest = c.longest;
    if (c.expect != (int64_t)cols->len)
        goto cleanup; /* the sniffer saw another layout: the SQL reading */
    x->records = c.records - header;

    /* The engine's read, with the dialect and the types spelled out. */
    rc = buf_puts(&src, "SELECT * FROM system.main.read_csv(") || compute_put_path(&src, x->path) ||
         buf_printf(&src, ", auto_detect=false, header=%s, delim=", header ? "true" : "false") ||
         buf_put_sql_str(&src, delim) || buf_puts(&src, ", quote=") || buf_put_sql_str(&src, quote) ||
         buf_puts(&src, ", escape=") || buf_put_sql_str(&src, escape) || buf_puts(&src, ", new_line=") ||
         buf_put_sql_str(&src, newline) || ingest_put_line_limit(&src, x) ||
         buf_puts(&src, ", skip=0, comment='', columns={") ? LOCH_ENOMEM : 0;
    size_t i = 0;
    for (const json *col = cols->child; rc == 0 && col; col = col->next, i++) {
        const char *name = col->type == JSON_STRING ? col->str : "";
        unsigned kind = ingest_overridden(overrides, name) ? 0 : csvcheck_column_kind(&c, i);
        int t = 0;
        while (kind > 1u << t)
            t++;
        rc = (i ? buf_puts(&src, ", ") : 0) || buf_put_sql_str(&src, name) || buf_puts(&src, ": ") ||
             buf_put_sql_str(&src, kind ? csv_types[t].sql_type : "VARCHAR") ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : buf_puts(&src, "})");
    if (rc == 0)
        x->typed_src = buf_detach(&src);
cleanup:
    free(delim);
    free(quote);
    free(escape);
    free(newline);
    free(comment);
    free(names);
    csvcheck_free(&c);
    compute_result_free(r);
    arena_free(&a);
    buf_free(&src);
    return rc;
}
