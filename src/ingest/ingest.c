/*
 * ingest/ingest.c - `loch ingest`: files in, one Delta commit out.
 *
 * For each input file:
 *   1. hash its bytes (SHA-256); a live data file tagged with the same hash means the
 *      bytes are already in the table: skip it (unless forced). The tag lives in the
 *      log (add.tags "loch.source.sha256"), so this survives a lost catalog, and an
 *      overwrite that removes those rows makes the bytes ingestible again;
 *   2. CSV columns get a type only when every value is that type's canonical spelling
 *      (integers without leading zeros, then decimals of at most 15 digits, booleans,
 *      ISO dates and timestamps), else stay text. A plain file is hashed, checked and
 *      typed in one C scan on two threads (scan_csv), then read once by the engine
 *      with those types; compressed files and unusual dialects are read as text and
 *      typed by one SQL aggregate with the same rules (infer_csv);
 *   3. JSON and Parquet are read typed; nested JSON objects become parent_child columns;
 *   4. reconcile with the table: new columns are added; a value type the table's column
 *      holds is cast to it; one it cannot hold is refused naming column and both types
 *      (except with overwrite, where the files define the schema).
 * Each input becomes one data file; all of them, their tags, any schema change and (with
 * overwrite) the removal of the old files are one commit. A failure writes nothing that
 * stays: data files written before it are removed.
 */
#include "ops/ops.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/pdf.h"
#include "core/types.h"
#include "formats/arrow_read.h"
#include "formats/csvcheck.h"
#include "formats/csvtypes.h"
#include "formats/jsonscan.h"
#include "util/misc.h"
#include "util/sha256.h"
#include "util/utf8.h"

/* The longest CSV record read: long enough for documents in a field, short enough
 * that an unclosed quote is reported, not held. The engine's limit is raised to it
 * only for files that need it (its read buffers grow with the limit). */
#define MAX_RECORD (INT64_C(64) << 20)
#define SNIFF_LIMITS ", max_line_size=67108866, buffer_size=134217732"

/* Progress, for a display: the scans count the bytes they pass, the writes ask the
 * engine how far its statement is, and a helper thread reports five times a second.
 * Scanning is about a quarter of the work per byte, writing the rest. */
typedef struct {
    loch_ingest_progress_cb cb;
    void *ctx;
    compute *cp;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, running;
    double started;
    int64_t total;
    _Atomic int64_t scanned;   /* bytes the scans have passed, all files */
    _Atomic int64_t written;   /* bytes of the files written so far */
    _Atomic int64_t writing;   /* size of the file being written, 0 = none */
    _Atomic int64_t rows;      /* rows of the files written so far */
    _Atomic int64_t expect;    /* rows of the file being written, when a scan counted them */
    int64_t shown, shown_rows; /* last reported: the display never goes back */
    _Atomic int phase;         /* 0 scanning, 1 writing, 2 committing */
    _Atomic(const char *) file;
} meter;

static void meter_report(meter *m)
{
    static const char *const phases[] = {"scanning", "writing", "committing"};
    int64_t engine_rows = 0, writing = atomic_load(&m->writing);
    double f = writing ? compute_progress(m->cp, &engine_rows) : -1;
    f = f > 0 ? f : 0;
    double done = 0.25 * (double)atomic_load(&m->scanned) +
                  0.75 * ((double)atomic_load(&m->written) + f * (double)writing);
    loch_ingest_progress p = {.file = atomic_load(&m->file), .phase = phases[atomic_load(&m->phase)],
                              .bytes_done = (int64_t)done, .bytes_total = m->total,
                              .rows = atomic_load(&m->rows) + (int64_t)(f * (double)atomic_load(&m->expect)),
                              .seconds = time_mono() - m->started};
    p.bytes_done = p.bytes_done > p.bytes_total ? p.bytes_total : p.bytes_done < m->shown ? m->shown : p.bytes_done;
    m->shown = p.bytes_done;
    p.rows = p.rows < m->shown_rows ? m->shown_rows : p.rows;
    m->shown_rows = p.rows;
    m->cb(&p, m->ctx);
}

static void *meter_run(void *arg)
{
    meter *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &until);
        if (!m->stop) {
            pthread_mutex_unlock(&m->mu);
            meter_report(m);
            pthread_mutex_lock(&m->mu);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void meter_start(meter *m, loch_lake *lake, const loch_ingest_options *opts, int64_t total)
{
    if (opts->version < 2 || !opts->progress)
        return;
    m->cb = opts->progress;
    m->ctx = opts->progress_ctx;
    m->cp = lake->cp;
    m->total = total;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->running = pthread_create(&m->thread, NULL, meter_run, m) == 0;
    if (!m->running) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
    }
}

static void meter_stop(meter *m)
{
    if (!m->running)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    m->running = 0;
}

typedef struct {
    char *name;       /* owned */
    char *type;       /* owned; Delta type JSON */
    char *expr;       /* owned; over the file's source SELECT */
} in_col;

typedef struct {
    char *path;       /* owned; local file read by the engine */
    char *shown;      /* owned; as the user named it */
    char sha[65];
    int64_t bytes;
    int temp;         /* path is ours to delete (standard input) */
    int skip;         /* bytes already in the table */
    const char *format;
    char delim;       /* CSV delimiter to impose (0 = the sniffer's) */
    int rejects;      /* keep bad CSV rows aside instead of failing */
    in_col *cols;     /* owned */
    size_t ncols;
    char *typed_src;  /* owned; the read with the types one scan decided (scan_csv, scan_json), or NULL */
    meter *meter;     /* counts the bytes the scans pass */
    int64_t records;  /* rows, when a scan counted them (for progress), else 0 */
    int64_t longest;  /* bytes of the longest CSV record, when a scan measured it */
    const char *encoding;             /* text: "utf-8", "utf-16" or "latin-1" */
    struct ArrowArrayStream *arrow; /* owned; an Arrow file's batches, read through arrow_view */
    char arrow_view[48];
} input;

typedef struct {
    input *v;
    size_t n, alloc;
} inputs;

static void inputs_free(inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i].temp)
            unlink(in->v[i].path);
        free(in->v[i].path);
        free(in->v[i].shown);
        for (size_t c = 0; c < in->v[i].ncols; c++) {
            free(in->v[i].cols[c].name);
            free(in->v[i].cols[c].type);
            free(in->v[i].cols[c].expr);
        }
        free(in->v[i].cols);
        free(in->v[i].typed_src);
    }
    free(in->v);
}

static int add_input(inputs *in, const char *path, const char *shown, int temp)
{
    if (in->n == in->alloc) {
        size_t n = in->alloc ? in->alloc * 2 : 8;
        input *g = realloc(in->v, n * sizeof(*g));
        if (!g)
            return error_set(LOCH_ENOMEM, "out of memory");
        in->v = g;
        in->alloc = n;
    }
    input *x = &in->v[in->n];
    memset(x, 0, sizeof(*x));
    x->path = strdup(path);
    x->shown = strdup(shown);
    x->temp = temp;
    if (!x->path || !x->shown)
        return error_set(LOCH_ENOMEM, "out of memory");
    in->n++;
    return 0;
}

static int hash_file(input *x)
{
    enum { CHUNK = 1 << 20 };
    char *chunk = malloc(CHUNK);
    sha256_ctx c;
    int fd = chunk ? open(x->path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        free(chunk);
        return chunk ? error_errno(errno, "cannot read", x->shown) : error_set(LOCH_ENOMEM, "out of memory");
    }
    sha256_init(&c);
    ssize_t n;
    while ((n = read(fd, chunk, CHUNK)) > 0) {
        sha256_update(&c, chunk, (size_t)n);
        x->bytes += n;
    }
    int e = errno;
    close(fd);
    free(chunk);
    if (n < 0)
        return error_errno(e, "cannot read", x->shown);
    sha256_hex(&c, x->sha);
    return 0;
}

/* Standard input is copied to a temporary file in the lake first: the engine reads
 * files, and the bytes must be hashed before anything is committed. */
static int stdin_input(loch_lake *lake, inputs *in)
{
    char id[37], chunk[1 << 16];
    buf rel = BUF_INIT, local = BUF_INIT;
    uuid_v4(id);
    int rc = buf_printf(&rel, "_loch/tmp/stdin-%d-%s", (int)getpid(), id); /* the pid: swept once it is gone */
    rc = rc ? rc : lake->st->mkdirs(lake->st, "_loch/tmp");
    rc = rc ? rc : lake->st->local_path(lake->st, rel.data, &local);
    int fd = rc ? -1 : open(local.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (rc == 0 && fd < 0)
        rc = error_errno(errno, "create", local.data);
    ssize_t n;
    while (rc == 0 && (n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(fd, chunk, (size_t)n) != n)
            rc = error_errno(errno, "copy of standard input to", local.data);
    }
    if (fd >= 0)
        close(fd);
    rc = rc ? rc : add_input(in, local.data, "<stdin>", 1);
    buf_free(&rel);
    buf_free(&local);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int dir_inputs(inputs *in, const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    if (!d)
        return error_errno(errno, "cannot read directory", dir);
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        char **g = realloc(names, (n + 1) * sizeof(char *));
        if (!g || !(g[n] = malloc(strlen(dir) + strlen(de->d_name) + 2))) {
            names = g ? g : names;
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        names = g;
        sprintf(names[n++], "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
            rc = add_input(in, names[i], names[i], 0);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int expand(loch_lake *lake, const char *const *args, size_t count, inputs *in)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *a = args[i];
        struct stat sb;
        if (strcmp(a, "-") == 0) {
            rc = stdin_input(lake, in);
        } else if (strpbrk(a, "*?[")) {
            glob_t g;
            int gr = glob(a, 0, NULL, &g);
            if (gr == GLOB_NOMATCH)
                rc = error_set(LOCH_ENOTFOUND, "no file matches %s", a);
            for (size_t k = 0; gr == 0 && rc == 0 && k < g.gl_pathc; k++)
                if (stat(g.gl_pathv[k], &sb) == 0 && S_ISREG(sb.st_mode))
                    rc = add_input(in, g.gl_pathv[k], g.gl_pathv[k], 0);
            if (gr == 0)
                globfree(&g);
        } else if (stat(a, &sb) < 0) {
            rc = error_errno(errno, "cannot read", a);
        } else if (S_ISDIR(sb.st_mode)) {
            rc = dir_inputs(in, a);
        } else {
            rc = add_input(in, a, a, 0);
        }
    }
    if (rc == 0 && in->n == 0)
        rc = error_set(LOCH_EINVALID, "no input files");
    return rc;
}

/* ---- formats ---------------------------------------------------------------------- */

static const char *format_of(const input *x, const char *given)
{
    static const char *const exts[][2] = {{".csv", "csv"}, {".tsv", "tsv"}, {".tab", "tsv"}, {".txt", "csv"},
                                          {".json", "json"}, {".ndjson", "ndjson"}, {".jsonl", "ndjson"},
                                          {".parquet", "parquet"}, {".pq", "parquet"}, {".pdf", "pdf"},
                                          {".arrow", "arrow"}, {".arrows", "arrow"}, {".feather", "arrow"},
                                          {".ipc", "arrow"}};
    if (given)
        return given;
    char name[4096];
    snprintf(name, sizeof(name), "%s", x->shown);
    for (const char *z = NULL; (z = strrchr(name, '.')) && (!strcasecmp(z, ".gz") || !strcasecmp(z, ".zst") ||
                                                           !strcasecmp(z, ".gzip") || !strcasecmp(z, ".zstd"));)
        name[z - name] = '\0';
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
        if (strcasecmp(dot, exts[i][0]) == 0)
            return exts[i][1];
    /* No telling name: look at the first bytes. */
    unsigned char head[8] = {0};
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
    if (fd >= 0)
        close(fd);
    if (n >= 4 && memcmp(head, "PAR1", 4) == 0)
        return "parquet";
    if (n >= 5 && memcmp(head, "%PDF-", 5) == 0)
        return "pdf";
    if ((n >= 6 && memcmp(head, "ARROW1", 6) == 0) || (n >= 4 && memcmp(head, "\xff\xff\xff\xff", 4) == 0))
        return "arrow"; /* the file format's magic, or a stream's first continuation marker */
    for (ssize_t i = 0; i < n; i++)
        if (!isspace(head[i]))
            return head[i] == '{' || head[i] == '[' ? "json" : "csv";
    return "csv";
}

/* JSON types come from a sniff of the whole file (every value decides), which is as
 * costly as reading it; done once here, the types are then spelled out so the later
 * binds of the same source (describe, write) do not sniff again. */
static int pin_json_types(loch_lake *lake, const input *x, buf *sql)
{
    buf q = BUF_INIT;
    compute_result *r = NULL;
    int rc = buf_printf(&q, "DESCRIBE %s", sql->data);
    rc = rc ? rc : compute_query(lake->cp, q.data, &r);
    if (rc == 0) {
        buf_clear(sql);
        rc = buf_puts(sql, "SELECT * FROM system.main.read_json(") || buf_put_sql_str(sql, x->path) ||
             buf_printf(sql, ", format='%s', columns={", !strcmp(x->format, "ndjson") ? "newline_delimited" : "auto")
                 ? LOCH_ENOMEM : 0;
        for (size_t i = 0; rc == 0 && i < compute_result_rows(r); i++) {
            char *name = compute_result_text(r, i, 0), *type = compute_result_text(r, i, 1);
            rc = (i ? buf_puts(sql, ", ") : 0) || buf_put_sql_str(sql, name ? name : "") || buf_puts(sql, ": ") ||
                 buf_put_sql_str(sql, type ? type : "VARCHAR") ? LOCH_ENOMEM : 0;
            free(name);
            free(type);
        }
        rc = rc ? rc : buf_puts(sql, "})");
    }
    compute_result_free(r);
    buf_free(&q);
    return rc;
}

/* The engine's line limit for a file whose longest record a scan measured: its own
 * default (2 MiB, with buffers of 32 MiB) unless the file needs more. */
static int put_line_limit(buf *sql, const input *x)
{
    int64_t need = x->longest + (64 << 10);
    if (need <= (2 << 20))
        return 0;
    return buf_printf(sql, ", max_line_size=%lld, buffer_size=%lld", (long long)need,
                      (long long)(need * 2 > (32 << 20) ? need * 2 : (32 << 20)));
}

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
        rc = rc || buf_puts(sql, "system.main.read_csv(") || buf_put_sql_str(sql, x->path) ||
             buf_printf(sql, ", encoding='%s'", x->encoding) || put_line_limit(sql, x) ||
             buf_printf(sql, ", all_varchar=true%s%s)", delim,
                        x->rejects ? ", store_rejects=true, rejects_table='__loch_rejects', "
                                     "rejects_scan='__loch_rejects_scan'" : "");
    }
    else if (!strcmp(f, "json") || !strcmp(f, "ndjson"))
        rc = rc || buf_puts(sql, "system.main.read_json(") || buf_put_sql_str(sql, x->path) ||
             buf_printf(sql, ", sample_size=-1%s)", !strcmp(f, "ndjson") ? ", format='newline_delimited'" : "");
    else if (!strcmp(f, "parquet"))
        rc = rc || buf_puts(sql, "system.main.read_parquet(") || buf_put_sql_str(sql, x->path) || buf_putc(sql, ')');
    else
        return error_set(LOCH_EINVALID, "unknown format \"%s\" (csv, tsv, json, ndjson, parquet, arrow, pdf)", f);
    return rc ? LOCH_ENOMEM : 0;
}

/* ---- columns of one file ------------------------------------------------------------ */

static int push_col(input *x, const char *name, const char *type, const char *expr)
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
        return push_col(x, name, type, expr);
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

/* The conservative CSV types: one aggregate over the whole file decides each column. */
static int infer_csv(loch_lake *lake, input *x, const char *src, compute_column *raw, size_t n)
{
    /* The rules of formats/csvtypes.c, which csvcheck applies to plain files in one
     * scan (scan_csv); this is the reading for everything else (compressed files,
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
        rc = rc ? rc : push_col(x, raw[i].name, t < NT ? csv_types[t].delta_type : "\"string\"", e.data);
    }
    compute_result_free(r);
    buf_free(&sql);
    buf_free(&id);
    buf_free(&e);
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

static int overridden(const char *overrides, const char *column)
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

static int is_compressed(const input *x)
{
    const char *ext = strrchr(x->shown, '.');
    return ext && (!strcasecmp(ext, ".gz") || !strcasecmp(ext, ".zst") || !strcasecmp(ext, ".gzip") ||
                   !strcasecmp(ext, ".zstd"));
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

/* DuckDB's sniffer is forgiving where ingest must not be: it skips leading lines that
 * do not fit, or settles for a one-column reading of a ragged file. Both are errors
 * here, and every record is counted so a ragged line is reported with its number. */
/* The engine's sniffer over a delimited file: SELECT cols FROM sniff_csv(...). With
 * its default limits first (cheaper); when that fails (a record in the sample longer
 * than 2 MiB, among other reasons) it is sniffed again with room for records up to
 * MAX_RECORD. */
static int sniff(loch_lake *lake, const input *x, const char *cols, compute_result **r)
{
    int rc = 0;
    for (int big = 0; big < 2; big++) {
        buf sql = BUF_INIT;
        rc = buf_printf(&sql, "SELECT %s FROM sniff_csv(", cols) || buf_put_sql_str(&sql, x->path) ||
             buf_printf(&sql, ", encoding='%s'%s%s)", x->encoding, big ? SNIFF_LIMITS : "",
                        !strcmp(x->format, "tsv") ? ", delim='\\t'" : "") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : compute_query(lake->cp, sql.data, r);
        buf_free(&sql);
        if (rc == 0 || rc == LOCH_ENOMEM)
            break; /* any other failure: perhaps a record past the default limit */
    }
    return rc;
}

static int check_csv_layout(loch_lake *lake, input *x)
{
    compute_result *r = NULL;
    int rc = sniff(lake, x, "SkipRows, Delimiter, Quote, len(Columns)", &r);
    if (rc < 0 && !is_compressed(x) && strcmp(x->encoding, "utf-16") != 0) {
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
    if (rc == 0 && !is_compressed(x)) {
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
    sha256_ctx h;
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
    sha256_init(&h);
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
    if (!hashed)
        sha256_hex(&h, x->sha);
    x->bytes = size;
cleanup:
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
 * stays NULL and the SQL inference decides (check_csv_layout, infer_csv). */
static int scan_csv(loch_lake *lake, input *x, const char *overrides)
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
    if (x->rejects || is_compressed(x) || strcmp(x->encoding, "utf-8") != 0 || stat(x->path, &st) != 0 ||
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
    rc = buf_puts(&src, "SELECT * FROM system.main.read_csv(") || buf_put_sql_str(&src, x->path) ||
         buf_printf(&src, ", auto_detect=false, header=%s, delim=", header ? "true" : "false") ||
         buf_put_sql_str(&src, delim) || buf_puts(&src, ", quote=") || buf_put_sql_str(&src, quote) ||
         buf_puts(&src, ", escape=") || buf_put_sql_str(&src, escape) || buf_puts(&src, ", new_line=") ||
         buf_put_sql_str(&src, newline) || put_line_limit(&src, x) || buf_puts(&src, ", skip=0, comment='', columns={")
             ? LOCH_ENOMEM : 0;
    size_t i = 0;
    for (const json *col = cols->child; rc == 0 && col; col = col->next, i++) {
        const char *name = col->type == JSON_STRING ? col->str : "";
        unsigned kind = overridden(overrides, name) ? 0 : csvcheck_column_kind(&c, i);
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

typedef struct {
    jsonscan *s;
    const char *text;
    size_t n;
    int ndjson;
    size_t released;   /* bytes of text whose pages were given back (and counted) */
    meter *m;
} json_part;

/* The mapped pages a scan has passed are given back as it goes (they stay in the page
 * cache), so a large file does not count against the process's memory. */
static void json_release(void *ctx, size_t done)
{
    json_part *p = ctx;
    uintptr_t from = ((uintptr_t)p->text + p->released + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)p->text + done) & ~(uintptr_t)4095;
    if (to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
    if (p->m)
        atomic_fetch_add(&p->m->scanned, (int64_t)(done - p->released));
    p->released = done;
}

static void *json_part_run(void *arg)
{
    json_part *p = arg;
    jsonscan_run(p->s, p->text, p->n, p->ndjson);
    return NULL;
}

/* JSON files are typed by one C scan too (formats/jsonscan.c): the file is mapped, this
 * thread hashes it and scans the first quarter, a second thread scans the rest of an
 * NDJSON file from the line end after the cut (a line is a record, so any line end
 * is a clean cut). The engine then reads the file once with the columns spelled out;
 * its own inference would read the whole file a second time, single-threaded. Files
 * the scan does not read exactly as the engine would are left to the engine
 * (pin_json_types), which also reports their errors. */
static int scan_json(input *x)
{
    struct stat st;
    jsonscan a, b;
    buf src = BUF_INIT;
    pthread_t thread;
    const char *text = MAP_FAILED;
    int fd = -1, rc = 0, threaded = 0, ndjson = !strcmp(x->format, "ndjson");
    size_t size = 0, cut;
    jsonscan_init(&a);
    jsonscan_init(&b);
    if (is_compressed(x) || (fd = open(x->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size == 0)
        goto cleanup;
    size = (size_t)st.st_size;
    if ((text = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        goto cleanup;
    madvise((void *)text, size, MADV_SEQUENTIAL);
    cut = size;
    json_part part = {&b, NULL, 0, 1, 0, x->meter}, first = {&a, text, 0, ndjson, 0, x->meter};
    b.progress = a.progress = json_release;
    b.ctx = &part;
    a.ctx = &first;
    b.every = a.every = 8 << 20;
    if (ndjson && size >= 16 << 20) {
        /* the hash takes about as long as scanning three fifths of the file */
        const char *nl = memchr(text + size / 5, '\n', size - size / 5);
        if (nl) {
            cut = (size_t)(nl + 1 - text);
            part.text = text + cut;
            part.n = size - cut;
            threaded = pthread_create(&thread, NULL, json_part_run, &part) == 0;
            cut = threaded ? cut : size;
        }
    }
    /* The hash reads with pread, not through the mapping: only the scans map pages,
     * and they give them back behind them. */
    if (!x->sha[0] && (rc = hash_file(x)) < 0)
        goto cleanup;
    first.n = cut;
    jsonscan_run(&a, text, cut, ndjson);
    if (threaded) {
        pthread_join(thread, NULL);
        if (!a.failed && jsonscan_merge(&a, &b) < 0)
            a.failed = 1;
    }
    if (a.invalid || (threaded && !a.failed && b.invalid)) { /* not JSON: say where */
        size_t at = a.invalid ? a.invalid_at : cut + b.invalid_at;
        long long line = 1, col = 1;
        for (size_t i = 0; i < at && i < size; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else if ((text[i] & 0xC0) != 0x80)
                col++;
        }
        rc = error_set(LOCH_EINVALID, "%s: line %lld, column %lld: malformed JSON: %s", x->shown, line, col,
                       a.invalid ? a.why : b.why);
        goto cleanup;
    }
    if (a.failed || a.records == 0 || !a.root.child)
        goto cleanup; /* the engine decides (and words any error) */
    x->records = a.records;
    rc = buf_puts(&src, "SELECT * FROM system.main.read_json(") || buf_put_sql_str(&src, x->path) ||
         buf_printf(&src, ", format='%s', records=true, auto_detect=false, columns={",
                    ndjson ? "newline_delimited" : a.array_doc ? "array" : "unstructured") ? LOCH_ENOMEM : 0;
    for (const jsonscan_node *m = a.root.child; rc == 0 && m; m = m->next) {
        buf type = BUF_INIT;
        rc = jsonscan_type(m, &type) || (m != a.root.child ? buf_puts(&src, ", ") : 0) ||
             buf_put_sql_str(&src, m->name) || buf_puts(&src, ": ") || buf_put_sql_str(&src, type.data)
                 ? LOCH_ENOMEM : 0;
        buf_free(&type);
    }
    rc = rc || buf_puts(&src, "})") ? LOCH_ENOMEM : 0;
    if (rc == 0)
        x->typed_src = buf_detach(&src);
cleanup:
    if (text != MAP_FAILED)
        munmap((void *)text, size);
    if (fd >= 0)
        close(fd);
    jsonscan_free(&a);
    jsonscan_free(&b);
    buf_free(&src);
    return rc;
}

/* Errors about our generated SQL would quote it; the user never wrote it. The engine
 * also quotes the offending line of a file whole: a line of megabytes is cut. */
static void drop_sql_excerpt(void)
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
    buf rel = BUF_INIT, local = BUF_INIT;
    const char *base = strrchr(x->shown, '/');
    uuid_v4(id);
    int rc = buf_printf(&rel, "_loch/tmp/pdf-%d-%s.ndjson", (int)getpid(), id);
    rc = rc ? rc : lake->st->mkdirs(lake->st, "_loch/tmp");
    rc = rc ? rc : lake->st->local_path(lake->st, rel.data, &local);
    rc = rc ? rc : pdf_pages_to_ndjson(x->path, base ? base + 1 : x->shown, local.data);
    if (rc == 0) {
        if (x->temp)
            unlink(x->path);
        free(x->path);
        x->path = buf_detach(&local);
        x->temp = 1;
        x->format = "ndjson";
    }
    buf_free(&rel);
    buf_free(&local);
    return rc;
}

/* The text encoding of a delimited file: as given, else UTF-16 when the file starts
 * with its byte order mark (or looks like UTF-16 text without one), else UTF-8. */
static int pick_encoding(input *x, const char *given)
{
    static const char *const names[][2] = {{"utf-8", "utf-8"}, {"utf8", "utf-8"}, {"utf-16", "utf-16"},
                                           {"utf16", "utf-16"}, {"utf-16le", "utf-16"}, {"latin-1", "latin-1"},
                                           {"latin1", "latin-1"}, {"iso-8859-1", "latin-1"}};
    x->encoding = "utf-8";
    if (given) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcasecmp(given, names[i][0]) == 0) {
                x->encoding = names[i][1];
                return 0;
            }
        return error_set(LOCH_EINVALID, "unknown encoding \"%s\" (utf-8, utf-16, latin-1)", given);
    }
    unsigned char head[4] = {0};
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : 0;
    if (fd >= 0)
        close(fd);
    if (n >= 2 && head[0] == 0xFE && head[1] == 0xFF)
        return error_set(LOCH_EUNSUPPORTED, "%s: UTF-16 big-endian text is not supported; convert it first "
                                            "(iconv -f UTF-16BE -t UTF-8)", x->shown);
    if ((n >= 2 && head[0] == 0xFF && head[1] == 0xFE) ||
        (n == 4 && head[0] && head[0] < 0x80 && !head[1] && head[2] && head[2] < 0x80 && !head[3]))
        x->encoding = "utf-16";
    return 0;
}

/* The engine says a file is not UTF-8 but not where: find the first bad byte and name
 * its line and column (in characters), and the way out. */
static void explain_utf8(const input *x)
{
    const char *m = loch_error_last();
    struct stat st;
    if (strcmp(x->encoding ? x->encoding : "utf-8", "utf-8") != 0 || is_compressed(x) ||
        (!strcasestr(m, "unicode") && !strcasestr(m, "utf-8") && !strcasestr(m, "utf8")))
        return;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    const unsigned char *t = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (t == MAP_FAILED)
        return;
    size_t n = (size_t)st.st_size, bad = utf8_valid_prefix(t, n);
    if (bad < n) {
        long long line = 1, col = 1;
        for (size_t i = 0; i < bad; i++) {
            if (t[i] == '\n')
                line++, col = 1;
            else if ((t[i] & 0xC0) != 0x80)
                col++;
        }
        int csv = !strcmp(x->format, "csv") || !strcmp(x->format, "tsv");
        error_set(LOCH_EINVALID, "line %lld, column %lld: not valid UTF-8 (byte 0x%02X)%s", line, col, t[bad],
                  csv ? "; if the file is Latin-1, ingest it with --encoding latin-1" : " (JSON text is UTF-8)");
    }
    munmap((void *)t, n);
}

typedef struct {
    void *addr;
    size_t size;
} mapping;

static void unmap(void *ctx)
{
    mapping *m = ctx;
    munmap(m->addr, m->size);
    free(m);
}

/* An Arrow IPC file (or stream) is mapped and its batches handed to the engine as
 * they are, through a view over formats/arrow_read.c's validated arrays: no conversion,
 * no copy. The view is dropped and the mapping released when the ingest ends
 * (arrow_done). */
static int arrow_input(loch_lake *lake, input *x, buf *src)
{
    static _Atomic unsigned long views;
    struct stat st;
    arrow_reader *r = NULL;
    mapping *m = calloc(1, sizeof(*m));
    int fd = open(x->path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (!m || fd < 0 || fstat(fd, &st) != 0) {
        rc = !m ? error_set(LOCH_ENOMEM, "out of memory") : error_errno(errno, "cannot read", x->shown);
        goto fail;
    }
    m->size = (size_t)st.st_size;
    if ((m->addr = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        rc = error_errno(errno, "cannot map", x->shown);
        goto fail;
    }
    if ((rc = arrow_read_open(&r, m->addr, m->size)) < 0)
        goto fail;
    if (!(x->arrow = calloc(1, sizeof(*x->arrow)))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    arrow_read_stream(r, x->arrow, unmap, m); /* takes r and m */
    r = NULL;
    m = NULL;
    snprintf(x->arrow_view, sizeof(x->arrow_view), "__loch_arrow_%lu", atomic_fetch_add(&views, 1));
    rc = compute_register_arrow(lake->cp, x->arrow_view, x->arrow);
    if (rc < 0)
        x->arrow_view[0] = '\0';
    if (rc == 0 && (buf_puts(src, "SELECT * FROM ") || buf_put_sql_ident(src, x->arrow_view)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
fail:
    if (fd >= 0)
        close(fd);
    arrow_read_free(r);
    if (m && m->addr && m->addr != MAP_FAILED)
        munmap(m->addr, m->size);
    free(m);
    return rc;
}

static void arrow_done(loch_lake *lake, input *x)
{
    if (x->arrow_view[0]) {
        buf sql = BUF_INIT;
        if (buf_puts(&sql, "DROP VIEW IF EXISTS ") == 0 && buf_put_sql_ident(&sql, x->arrow_view) == 0)
            compute_exec(lake->cp, sql.data);
        buf_free(&sql);
        x->arrow_view[0] = '\0';
    }
    if (x->arrow) {
        if (x->arrow->release)
            x->arrow->release(x->arrow);
        free(x->arrow);
        x->arrow = NULL;
    }
}

static int plan_file(loch_lake *lake, input *x, const char *schema_override, buf *sql)
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
        rc = arrow_input(lake, x, &src);
    } else {
        rc = rc || !csv ? rc : check_csv_layout(lake, x); /* may settle the delimiter and line limit */
        rc = rc ? rc : source_sql(x, &src);
    }
    if (rc == 0 && !x->typed_src && (!strcmp(x->format, "json") || !strcmp(x->format, "ndjson")))
        rc = pin_json_types(lake, x, &src);
    rc = rc ? rc : compute_describe(lake->cp, src.data, &raw, &n);
    if (rc == 0 && n == 0)
        rc = error_set(LOCH_EINVALID, "no columns found");
    if (rc == 0 && csv) {
        rc = infer_csv(lake, x, src.data, raw, n);
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
        drop_sql_excerpt();
        explain_utf8(x);
        error_prefix("%s: ", x->shown);
    }
    compute_columns_free(raw, n);
    arena_free(&a);
    buf_free(&src);
    return rc;
}

/* ---- the table's schema ------------------------------------------------------------- */

typedef struct {
    char *name, *type; /* owned; Delta type JSON */
    int is_new;
} tcol;

typedef struct {
    tcol *v;
    size_t n;
} tschema;

static void tschema_free(tschema *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].type);
    }
    free(t->v);
}

static int tschema_add(tschema *t, const char *name, const char *type, int is_new)
{
    tcol *g = realloc(t->v, (t->n + 1) * sizeof(*g));
    if (!g)
        return error_set(LOCH_ENOMEM, "out of memory");
    t->v = g;
    t->v[t->n] = (tcol){strdup(name), strdup(type), is_new};
    t->n++;
    return t->v[t->n - 1].name && t->v[t->n - 1].type ? 0 : error_set(LOCH_ENOMEM, "out of memory");
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
static int merge_schema(const snapshot *s, int overwrite, const inputs *in, tschema *t, int *widened)
{
    int rc = 0;
    if (s && !overwrite)
        for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
            rc = tschema_add(t, s->schema.fields[i].name, s->schema.fields[i].delta_type, 0);
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

/* ---- the commit ---------------------------------------------------------------------- */

static int already_in(const snapshot *s, const char *sha)
{
    for (size_t i = 0; s && i < s->file_count; i++)
        if (commit_file_has_source(&s->files[i], sha))
            return 1;
    return 0;
}

static int shaped_sql(arena *a, const tschema *t, const input *x, const char *fsql, buf *sql);

/* The table's rows rewritten with widened column types: one more source of the commit,
 * tagged with every source hash the old files carried (so those stay ingested). */
static int rewrite_rows(loch_lake *lake, arena *a, const snapshot *s, const tschema *t, const char *schema_json,
                        const compute_column *cols, txlog_commit *c)
{
    buf old = BUF_INIT, shaped = BUF_INIT, hashes = BUF_INIT, id = BUF_INIT;
    input x;
    memset(&x, 0, sizeof(x));
    int rc = scan_sql(lake, c->table, s, &old);
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        buf_clear(&id);
        rc = buf_put_sql_ident(&id, s->schema.fields[i].name);
        rc = rc ? rc : push_col(&x, s->schema.fields[i].name, s->schema.fields[i].delta_type, id.data);
    }
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        const char *v = commit_file_sources(&s->files[i]);
        if (v && !strstr(hashes.data ? hashes.data : "", v))
            rc = (hashes.len ? buf_putc(&hashes, ',') : 0) || buf_puts(&hashes, v) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : shaped_sql(a, t, &x, old.data, &shaped);
    rc = rc ? rc : write_data_file_from(lake, c, schema_json, shaped.data, cols, t->n, hashes.len ? hashes.data : NULL);
    for (size_t i = 0; i < x.ncols; i++) {
        free(x.cols[i].name);
        free(x.cols[i].type);
        free(x.cols[i].expr);
    }
    free(x.cols);
    buf_free(&old);
    buf_free(&shaped);
    buf_free(&hashes);
    buf_free(&id);
    return rc;
}

static int table_columns(const tschema *t, compute_column **out)
{
    compute_column *v = calloc(t->n + 1, sizeof(*v));
    buf e = BUF_INIT;
    int rc = v ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        buf_clear(&e);
        rc = buf_put_sql_ident(&e, t->v[i].name);
        v[i].name = strdup(t->v[i].name);
        v[i].delta_type = strdup(t->v[i].type);
        v[i].write_expr = strdup(e.data ? e.data : "");
        v[i].ntz = strcmp(t->v[i].type, "\"timestamp_ntz\"") == 0;
    }
    buf_free(&e);
    *out = v;
    return rc;
}

/* The file's rows shaped like the table: its columns cast where needed, NULL for the rest. */
static int shaped_sql(arena *a, const tschema *t, const input *x, const char *fsql, buf *sql)
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

static int schema_of(const tschema *t, buf *out)
{
    compute_column *cols = NULL;
    int rc = table_columns(t, &cols);
    rc = rc ? rc : write_schema_string(cols, t->n, out);
    compute_columns_free(cols, t->n);
    return rc;
}

static int metadata_actions(const snapshot *s, const tschema *t, int overwrite, const char *schema_json,
                            txlog_commit *c)
{
    bool ntz = false, upgrade = false;
    for (size_t i = 0; i < t->n; i++)
        ntz = ntz || strstr(t->v[i].type, "timestamp_ntz") != NULL;
    /* A new table, or one whose new columns need a feature it lacks, gets a protocol. */
    log_action p = {.kind = LOG_PROTOCOL};
    int rc = protocol_choose(&c->cm.a, s ? &s->protocol : NULL, s ? &s->metadata.configuration : NULL, ntz,
                             &p.u.protocol, &upgrade);
    if (rc == 0 && upgrade)
        rc = commit_append(&c->cm, &p);
    char id[37];
    uuid_v4(id);
    log_metadata m = {.id = s ? s->metadata.id : id, .schema_string = schema_json, .created_time = time_now_ms()};
    if (s) {
        m.name = s->metadata.name;
        m.description = s->metadata.description;
        m.configuration = s->metadata.configuration;
        m.created_time = s->metadata.created_time;
        if (!overwrite) {
            m.partition_columns = s->metadata.partition_columns;
            m.partition_count = s->metadata.partition_count;
        }
    }
    return rc ? rc : commit_append(&c->cm, &(log_action){.kind = LOG_METADATA, .u.metadata = m});
}

/* The rows the engine set aside while writing x (its last scan of the file). */
static int collect_rejects(loch_lake *lake, const input *x)
{
    buf sql = BUF_INIT;
    int rc = buf_puts(&sql, "INSERT INTO __loch_rejected SELECT ") || buf_put_sql_str(&sql, x->shown) ||
             buf_puts(&sql, ", line, column_name, error_type, error_message, csv_line FROM __loch_rejects "
                            "WHERE scan_id = (SELECT max(scan_id) FROM __loch_rejects) ORDER BY line") ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_exec(lake->cp, sql.data);
    buf_free(&sql);
    return rc;
}

/* The set-aside rows become rows of the rejects table (created when missing), one commit. */
/* An existing rejects table must have the rejects' columns, checked before the data is
 * committed: afterwards the rows would be in and their rejects lost. */
static int rejects_table_fits(loch_lake *lake, const char *rt)
{
    static const char *const want[] = {"file", "line", "column", "reason", "message", "raw"};
    snapshot *r = NULL;
    if (!txlog_exists(lake, rt))
        return 0;
    int rc = txlog_load(lake, rt, &(txlog_at){-1, 0, 0}, &r);
    if (rc < 0)
        return rc;
    int fits = r->schema.count == sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; fits && i < r->schema.count; i++)
        fits = strcmp(r->schema.fields[i].name, want[i]) == 0;
    txlog_snapshot_free(r);
    return fits ? 0 : error_set(LOCH_EINVALID, "--rejects %s: that table exists with other columns than a rejects "
                                "table's (file, line, column, reason, message, raw); name another", rt);
}

static int store_rejects(loch_lake *lake, const char *rejects, const char *table, int64_t *count)
{
    compute_result *r = NULL;
    loch_result *res = NULL;
    buf sql = BUF_INIT;
    int rc = compute_query(lake->cp, "SELECT count(*) FROM __loch_rejected", &r);
    *count = rc ? 0 : compute_result_i64(r, 0, 0);
    compute_result_free(r);
    if (rc == 0 && *count > 0) {
        rc = buf_puts(&sql, "CREATE TABLE IF NOT EXISTS ") || buf_put_sql_ident(&sql, rejects) ||
             buf_puts(&sql, " (file VARCHAR, line BIGINT, \"column\" VARCHAR, reason VARCHAR, message VARCHAR, "
                            "raw VARCHAR); INSERT INTO ") || buf_put_sql_ident(&sql, rejects) ||
             buf_puts(&sql, " SELECT * FROM __loch_rejected") ? LOCH_ENOMEM : 0;
        rc = rc ? rc : loch_sql(&res, lake, sql.data);
        if (rc < 0)
            error_prefix("%s was committed, but its rejected rows could not be stored: ", table);
    }
    loch_result_free(res);
    buf_free(&sql);
    return rc;
}

static int summary(loch_result **out, const char *table, int64_t version, int64_t rows, size_t files, size_t skipped,
                   int64_t bytes, double seconds, const char *schema_json, int64_t rejected)
{
    static const char *names[] = {"table", "version", "rows", "files", "skipped", "bytes", "seconds", "schema",
                                  "rejected"};
    static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER,
                                      LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NESTED,
                                      LOCH_KIND_NUMBER};
    char v[24], r[24], f[24], s[24], b[24], sec[32], rj[24];
    snprintf(rj, sizeof(rj), "%lld", (long long)rejected);
    snprintf(v, sizeof(v), "%lld", (long long)version);
    snprintf(r, sizeof(r), "%lld", (long long)rows);
    snprintf(f, sizeof(f), "%zu", files);
    snprintf(s, sizeof(s), "%zu", skipped);
    snprintf(b, sizeof(b), "%lld", (long long)bytes);
    snprintf(sec, sizeof(sec), "%.3f", seconds);
    const char *cells[] = {table, v, r, f, s, b, sec, schema_json, rj};
    int rc = result_new(out, 9, names, kinds);
    return rc ? rc : result_add_row(*out, cells);
}

static int ingest_once(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args,
                       size_t count, const loch_ingest_options *opts, int *created_concurrently);

int loch_ingest(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args, size_t count,
                const loch_ingest_options *opts)
{
    /* Writers that each find no table race to create it; one wins. The others start
     * again against the table it made: then they append (or, for the same bytes, do
     * nothing), as they would have a moment later. */
    int again = 0;
    int rc = ingest_once(out, lake, table_arg, args, count, opts, &again);
    if (rc == LOCH_EEXISTS && again) {
        error_clear();
        rc = ingest_once(out, lake, table_arg, args, count, opts, &again);
    }
    return rc;
}

static int ingest_once(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args,
                       size_t count, const loch_ingest_options *opts, int *created_concurrently)
{
    loch_ingest_options dflt = LOCH_INGEST_OPTIONS_INIT;
    inputs in = {0};
    tschema t = {0};
    snapshot *s = NULL;
    buf *sqls = NULL, schema_json = BUF_INIT, shaped = BUF_INIT, params = BUF_INIT;
    compute_column *cols = NULL;
    arena a = ARENA_INIT;
    txlog_commit c;
    char table[256];
    txlog_at at;
    double started = time_mono();
    meter m = {.started = started};
    int64_t version = -1, bytes = 0, rejected = 0, old_rows = 0, total = 0;
    int widened = 0;
    size_t skipped = 0, used = 0;
    opts = opts ? opts : &dflt;
    *out = NULL;
    int rc = scan_parse_name(table_arg, table, sizeof(table), &at);
    txlog_commit_init(&c, table, "WRITE");
    rc = rc ? rc : at.version >= 0 || at.has_timestamp ? error_set(LOCH_EINVALID, "ingest goes into the latest version")
                                                       : table_name_check(table);
    rc = rc ? rc : expand(lake, args, count, &in);
    for (size_t i = 0; rc == 0 && i < in.n; i++) {
        struct stat st;
        total += stat(in.v[i].path, &st) == 0 ? st.st_size : 0;
        in.v[i].meter = &m;
    }
    if (rc == 0)
        meter_start(&m, lake, opts, total);
    if (rc == 0 && txlog_exists(lake, table)) {
        rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
        rc = rc ? rc : snapshot_check_writable(s);
        const char *ao = s ? snapshot_property(s, "delta.appendOnly") : NULL;
        if (rc == 0 && opts->overwrite && ao && !strcmp(ao, "true"))
            rc = error_set(LOCH_EINVALID, "table \"%s\" is append-only (delta.appendOnly)", table);
    }
    if (rc == 0 && !(sqls = calloc(in.n, sizeof(buf))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < in.n; i++) {
        input *x = &in.v[i];
        int64_t scanned = atomic_load(&m.scanned);
        const char *known = opts->version >= 2 && in.n == 1 ? opts->sha256 : NULL;
        if (known && strlen(known) == 64 && strspn(known, "0123456789abcdef") == 64) {
            struct stat kst;
            memcpy(x->sha, known, 65);
            x->bytes = stat(x->path, &kst) == 0 ? kst.st_size : 0;
        }
        atomic_store(&m.file, x->shown);
        x->format = format_of(x, opts->format);
        x->rejects = opts->rejects != NULL;
        x->encoding = "utf-8";
        const char *enc = opts->version >= 2 ? opts->encoding : NULL;
        if (!strcmp(x->format, "csv") || !strcmp(x->format, "tsv"))
            rc = pick_encoding(x, enc);
        else if (enc && strcasecmp(enc, "utf-8") && strcasecmp(enc, "utf8"))
            rc = error_set(LOCH_EINVALID, "%s: --encoding applies to CSV and TSV text (this is %s)", x->shown,
                           x->format);
        if (rc < 0)
            break;
        if (!strcmp(x->format, "csv") || !strcmp(x->format, "tsv"))
            rc = scan_csv(lake, x, opts->schema);
        else if (!strcmp(x->format, "json") || !strcmp(x->format, "ndjson"))
            rc = scan_json(x);
        rc = rc || x->sha[0] ? rc : hash_file(x); /* unless a scan hashed it */
        if (rc < 0)
            break;
        if (opts->rejects && strcmp(x->format, "csv") && strcmp(x->format, "tsv")) {
            rc = error_set(LOCH_EUNSUPPORTED, "%s: --rejects works with CSV and TSV files (this one is %s)",
                           x->shown, x->format);
            break;
        }
        for (size_t k = 0; k < i; k++)
            x->skip = x->skip || !strcmp(in.v[k].sha, x->sha); /* the same bytes twice in one call */
        x->skip = x->skip || (!opts->force && !opts->overwrite && already_in(s, x->sha));
        atomic_store(&m.scanned, scanned + x->bytes); /* exact, whichever way it was read */
        if (x->skip) {
            skipped++;
            atomic_fetch_add(&m.written, x->bytes);
            continue;
        }
        bytes += x->bytes;
        used++;
        rc = plan_file(lake, x, opts->schema, &sqls[i]);
    }
    if (rc == 0 && used == 0) {
        rc = summary(out, table, -1, 0, 0, skipped, 0, time_mono() - started, s ? s->metadata.schema_string : "null",
                     0);
        if (rc == 0)
            (*out)->message = strdup("already ingested: the table holds these exact bytes (use --force to add them again)");
        goto cleanup;
    }
    if (rc == 0 && opts->rejects) {
        char rt[256];
        txlog_at rat;
        rc = scan_parse_name(opts->rejects, rt, sizeof(rt), &rat);
        rc = rc ? rc : table_name_check(rt);
        rc = rc ? rc : strcmp(rt, table) == 0 ? error_set(LOCH_EINVALID, "--rejects needs a table of its own") : 0;
        rc = rc ? rc : rejects_table_fits(lake, rt);
        rc = rc ? rc : compute_exec(lake->cp, "CREATE OR REPLACE TEMP TABLE __loch_rejected (file VARCHAR, line BIGINT, "
                                              "\"column\" VARCHAR, reason VARCHAR, message VARCHAR, raw VARCHAR)");
    }
    rc = rc ? rc : merge_schema(s, opts->overwrite, &in, &t, &widened);
    rc = rc ? rc : schema_of(&t, &schema_json);
    rc = rc ? rc : table_columns(&t, &cols);
    if (rc < 0)
        goto cleanup;
    rc = txlog_commit_against(&c, s);
    if (rc == 0 && (!s || opts->overwrite || strcmp(schema_json.data, s->metadata.schema_string) != 0))
        rc = metadata_actions(s, &t, opts->overwrite, schema_json.data, &c);
    if (rc == 0 && (opts->overwrite || widened) && s)
        rc = write_remove_all(s, &c.cm);
    if (rc == 0 && widened && s && !opts->overwrite) {
        rc = rewrite_rows(lake, &a, s, &t, schema_json.data, cols, &c);
        old_rows = c.cm.rows_written;
    }
    rc = rc ? rc : buf_printf(&params, "{\"mode\":\"%s\",\"source\":\"loch ingest\",%s\"files\":[",
                              opts->overwrite ? "Overwrite" : "Append",
                              widened && !opts->overwrite ? "\"rewrote\":\"widened columns\"," : "");
    for (size_t i = 0, first = 1; rc == 0 && i < in.n; i++) {
        input *x = &in.v[i];
        if (x->skip)
            continue;
        buf_clear(&shaped);
        atomic_store(&m.file, x->shown);
        atomic_store(&m.phase, 1);
        atomic_store(&m.expect, x->records);
        atomic_store(&m.writing, x->bytes);
        rc = shaped_sql(&a, &t, x, sqls[i].data, &shaped);
        rc = rc ? rc : write_data_file_from(lake, &c, schema_json.data, shaped.data, cols, t.n, x->sha);
        atomic_store(&m.rows, c.cm.rows_written - old_rows);
        atomic_fetch_add(&m.written, x->bytes);
        atomic_store(&m.expect, 0);
        atomic_store(&m.writing, 0);
        rc = rc || !x->rejects ? rc : collect_rejects(lake, x);
        if (rc < 0) {
            const char *why = x->arrow && x->arrow->release ? x->arrow->get_last_error(x->arrow) : NULL;
            if (why) /* the Arrow reader refused a batch: its words, not the engine's wrapping */
                error_set(LOCH_EINVALID, "%s", why);
            drop_sql_excerpt();
            explain_utf8(x);
            error_prefix("%s: ", x->shown);
            break;
        }
        if (rc == 0 && !opts->force && !opts->overwrite)
            rc = commit_read_source(&c.cm, x->sha);
        rc = rc || (first ? 0 : buf_putc(&params, ',')) || buf_puts(&params, "{\"name\":") ||
             buf_put_json_str(&params, x->shown) || buf_printf(&params, ",\"sha256\":\"%s\"}", x->sha)
                 ? LOCH_ENOMEM : 0;
        first = 0;
    }
    rc = rc ? rc : buf_puts(&params, "]}");
    rc = rc ? rc : commit_set_parameters(&c.cm, params.data);
    if (rc < 0) {
        txlog_commit_abort(lake, &c); /* files written before the failure */
        goto cleanup;
    }
    atomic_store(&m.phase, 2);
    /* From here on the commit cleans up after itself (and keeps a commit that landed). */
    rc = txlog_commit_run(lake, &c, &version);
    *created_concurrently = rc == LOCH_EEXISTS && c.cm.read_version < 0;
    if (rc < 0 && c.duplicate) {
        /* The same bytes went in concurrently: this ingest is the no-op it would have
         * been a moment later (its own files are gone already). */
        error_clear();
        rc = summary(out, table, -1, 0, 0, in.n, 0, time_mono() - started, schema_json.data, 0);
        if (rc == 0)
            (*out)->message = strdup("already ingested: the same bytes were ingested concurrently");
        goto cleanup;
    }
    if (rc == 0 && opts->rejects)
        rc = store_rejects(lake, opts->rejects, table, &rejected);
    if (rc == 0)
        rc = summary(out, table, version, c.cm.rows_written - old_rows, used, skipped, bytes, time_mono() - started,
                     schema_json.data, rejected);
cleanup:
    meter_stop(&m);
    for (size_t i = 0; i < in.n; i++)
        arrow_done(lake, &in.v[i]);
    for (size_t i = 0; sqls && i < in.n; i++)
        buf_free(&sqls[i]);
    free(sqls);
    compute_columns_free(cols, t.n);
    tschema_free(&t);
    inputs_free(&in);
    txlog_snapshot_free(s);
    txlog_commit_free(&c);
    buf_free(&schema_json);
    buf_free(&shaped);
    buf_free(&params);
    arena_free(&a);
    return rc;
}
