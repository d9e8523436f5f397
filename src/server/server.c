/*
 * server/server.c - loch's HTTP API (include/loch/server.h, docs/http.md).
 *
 * Shape: the transport (adapters/http.h) runs each connection on its own thread and
 * calls route() when a request's body is in. Requests that need the SQL engine borrow
 * one of `workers` lake handles (each its own sandboxed engine) for their duration, so
 * readers never block each other beyond the pool's size; writes to one table take
 * that table's lock (striped), so they queue instead of racing their commits.
 *
 * A query holds its worker's slot: the slot records the query id and start time, so
 * DELETE /v1/queries/{id} and the watchdog (the per-query time limit) can interrupt
 * exactly that engine. Every answer is JSON unless a format was asked for, and every
 * error is {"error":{"code","message"}} with its HTTP status; the engine's own errors
 * map by loch's error codes (not found 404, conflict 409, bad input 400, refused by
 * the sandbox 403, cancelled 499).
 *
 * Uploads are received into, and Parquet results written to, the lake's scratch
 * directory (lake_scratch_dir: a local directory the storage names, _loch/tmp while
 * the lake is local), named with this process's pid so a dead server's are swept.
 *
 * Security (safe by default): loopback unless tokens are configured; tokens are
 * compared in constant time and never logged; table names are checked before any
 * use; bodies are limited (413); CORS only for listed origins.
 */
#include "loch/server.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "adapters/http.h"
#include "core/sqlscan.h"
#include "loch/loch.h"
#include "loch/search.h"
#include "ops/ops.h"
#include "server/server.h"
#include "server/web.h"
#include "util/conf.h"
#include "util/error.h"
#include "util/json.h"
#include "util/misc.h"
#include "util/options.h"
#include "util/render.h"
#include "util/utf8.h"

enum { TABLE_LOCKS = 64, NBUCKETS = 12 };

static const double buckets_ms[NBUCKETS] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000};

typedef struct {
    loch_lake *lake;
    int busy;
    char query_id[40];      /* the query running on it, "" when none */
    double started;
    atomic_int cancel;      /* 1 cancelled by a client, 2 by the time limit; set under mu,
                               read by the request's thread without it */
} worker;

typedef struct {
    char route[48];
    int status;
    long long count;
} counter;

enum { RECENT_ERRORS = 20 };

struct loch_server {
    loch_server_options o;
    char *lake, *host, *cors, **tokens;
    size_t ntokens;
    char tmpdir[4096];
    http_server *http;
    worker *w;
    int nworkers;
    loch_lake *writer;      /* POST .../rows in NDJSON: loch_write_ndjson, from any thread */
    pthread_mutex_t mu;     /* workers, counters */
    pthread_cond_t freed;
    pthread_mutex_t table_locks[TABLE_LOCKS];
    pthread_mutex_t log_mu;
    /* The lake handle of the metadata routes (status, tables, history): never behind a
     * long query, only behind another quick read of the logs. */
    loch_lake *meta;
    pthread_mutex_t meta_mu;
    pthread_mutex_t ask_mu;  /* one question to a model at a time (route_ask) */
    models_api *models;      /* /v1/embeddings, /v1/chat/completions, /api/... (server/models_api.c) */
    pthread_t watchdog;
    pthread_t flusher;      /* age-based flushes of write-ahead logs, on its own handle */
    loch_lake *flusher_lake;
    int flusher_running;
    atomic_int stopping;    /* set by loch_server_stop, read by every request's thread */
    int watchdog_running;
    double started;
    atomic_long active;     /* requests from their headers until their answer went out */
    counter *counters;
    size_t ncounters;
    long long hist[NBUCKETS + 1];
    /* The last RECENT_ERRORS answers of 400 and above, a ring under mu: /v1/status shows
     * them newest first (the UI's System tab). */
    struct {
        char when[32], method[16], route[48], code[40], message[240];
        int status;
    } recent[RECENT_ERRORS];
    unsigned long nrecent;
    double hist_sum;
    long long hist_count;
    atomic_llong bytes_in, bytes_out, commits;
};

/* ---- small helpers -------------------------------------------------------------------- */

static void json_error(http_response *out, int status, const char *code, const char *message)
{
    out->status = status;
    out->content_type = "application/json";
    buf_clear(&out->body);
    buf_printf(&out->body, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    buf_put_json_str(&out->body, message);
    buf_puts(&out->body, "}}");
}

/* loch's error codes as HTTP statuses. */
static void loch_error(http_response *out)
{
    int code = loch_error_last_code();
    const char *msg = loch_error_last();
    switch (code) {
    case LOCH_ENOTFOUND: json_error(out, 404, "not_found", msg); break;
    case LOCH_EEXISTS: json_error(out, 409, "exists", msg); break;
    case LOCH_ECONFLICT: json_error(out, 409, "conflict", msg); break;
    case LOCH_EPERM: json_error(out, 403, "forbidden", msg); break;
    case LOCH_EUNSUPPORTED: json_error(out, 400, "unsupported", msg); break;
    case LOCH_EINTERRUPTED: json_error(out, 499, "cancelled", msg); break;
    case LOCH_ENOMEM: json_error(out, 503, "out_of_memory", msg); break;
    case LOCH_EIO: json_error(out, 503, "io_error", msg); break;
    case LOCH_ECORRUPT: json_error(out, 500, "corrupt", msg); break;
    default: json_error(out, 400, "invalid", msg); break;
    }
}

static void json_ok(http_response *out, int status)
{
    out->status = status;
    out->content_type = "application/json";
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer(const http_request *req)
{
    const char *auth = http_header(req, "Authorization");
    return auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
}

/* Constant-time: the comparison takes as long whether the first or the last byte
 * differs, and runs over every token. */
static int token_ok(const loch_server *s, const char *given)
{
    int ok = 0;
    size_t glen = given ? strlen(given) : 0;
    for (size_t t = 0; t < s->ntokens; t++) {
        size_t tlen = strlen(s->tokens[t]);
        unsigned diff = (unsigned)(glen ^ tlen);
        for (size_t i = 0; i < tlen; i++)
            diff |= (unsigned)(unsigned char)s->tokens[t][i] ^ (unsigned)(unsigned char)(i < glen ? given[i] : 0);
        ok |= diff == 0;
    }
    return ok;
}

/* ---- workers (lake handles) ---------------------------------------------------------- */

static int worker_take(loch_server *s, const char *query_id)
{
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < s->nworkers; i++)
            if (!s->w[i].busy) {
                s->w[i].busy = 1;
                snprintf(s->w[i].query_id, sizeof(s->w[i].query_id), "%s", query_id ? query_id : "");
                s->w[i].started = time_mono();
                s->w[i].cancel = 0;
                pthread_mutex_unlock(&s->mu);
                return i;
            }
        pthread_cond_wait(&s->freed, &s->mu);
    }
}

static void worker_give(loch_server *s, int i)
{
    pthread_mutex_lock(&s->mu);
    s->w[i].busy = 0;
    s->w[i].query_id[0] = '\0';
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
}

static void *watchdog_run(void *arg)
{
    loch_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        usleep(50 * 1000);
        pthread_mutex_lock(&s->mu);
        double now = time_mono();
        for (int i = 0; i < s->nworkers; i++) {
            if (!s->w[i].busy || !s->w[i].query_id[0])
                continue;
            if (!s->w[i].cancel && s->o.query_timeout_ms > 0 &&
                (now - s->w[i].started) * 1000 > s->o.query_timeout_ms)
                s->w[i].cancel = 2;
            /* Again every tick while it runs: an interrupt that came before the engine
             * started the query is forgotten when it starts. */
            if (s->w[i].cancel)
                loch_lake_interrupt(s->w[i].lake);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void log_warning(void *ctx, loch_log_level level, const char *message);

/* Every second: the tables whose write-ahead log holds a write older than their
 * loch.wal.flushAge are flushed (a stream that stops still reaches the Delta table). */
static void *flusher_run(void *arg)
{
    loch_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        for (int i = 0; i < 20 && !atomic_load(&s->stopping); i++)
            usleep(50 * 1000);
        int n = 0;
        if (!atomic_load(&s->stopping) && loch_table_flush_aged(s->flusher_lake, &n) < 0) {
            char msg[1200];
            snprintf(msg, sizeof(msg), "an age-based flush of a write-ahead log failed: %s", loch_error_last());
            log_warning(s, LOCH_LOG_WARNING, msg);
        }
    }
    return NULL;
}

static pthread_mutex_t *table_lock(loch_server *s, const char *table)
{
    unsigned h = 2166136261u;
    for (const char *p = table; *p; p++)
        h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 16777619u;
    return &s->table_locks[h % TABLE_LOCKS];
}

/* ---- rendering results -------------------------------------------------------------- */

/* Cells go out by the one rule the CLI follows too (util/render.h). */
static int put_csv_field(buf *b, const char *v) { return render_csv_value(b, v, v ? strlen(v) : 0); }

static int put_cell(buf *b, const loch_result *r, size_t row, size_t col)
{
    char *v = loch_result_text(r, row, col);
    int rc = render_json_value(b, v, v ? strlen(v) : 0, loch_result_kind(r, col));
    loch_free(v);
    return rc;
}

typedef enum { FMT_JSON, FMT_NDJSON, FMT_CSV, FMT_PARQUET, FMT_ARROW } out_format;

/* A result as the format asked, at most limit rows (-1: all). */
static void render(http_response *out, const loch_result *r, out_format f, int64_t limit, const char *query_id,
                   double ms)
{
    size_t ncols = loch_result_columns(r), nrows = loch_result_rows(r);
    size_t take = limit >= 0 && (size_t)limit < nrows ? (size_t)limit : nrows;
    buf *b = &out->body;
    out->status = 200;
    snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\n", query_id);
    const char *message = loch_result_message(r);
    if (message && ncols == 0 && (f == FMT_CSV || f == FMT_NDJSON)) {
        /* a command's answer: its message as a one-column row, not an empty body */
        out->content_type = f == FMT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
        if (f == FMT_CSV)
            (void)(buf_puts(b, "message\n") || put_csv_field(b, message) || buf_putc(b, '\n'));
        else
            (void)(buf_puts(b, "{\"message\":") || buf_put_json_str(b, message) || buf_puts(b, "}\n"));
        return;
    }
    if (f == FMT_CSV) {
        out->content_type = "text/csv; charset=utf-8";
        for (size_t c = 0; c < ncols; c++)
            (void)(put_csv_field(b, loch_result_name(r, c)) || buf_putc(b, c + 1 < ncols ? ',' : '\n'));
        for (size_t row = 0; row < take; row++)
            for (size_t c = 0; c < ncols; c++) {
                char *v = loch_result_text(r, row, c);
                put_csv_field(b, v);
                buf_putc(b, c + 1 < ncols ? ',' : '\n');
                loch_free(v);
            }
        return;
    }
    if (f == FMT_NDJSON) {
        out->content_type = "application/x-ndjson";
        for (size_t row = 0; row < take; row++) {
            buf_putc(b, '{');
            for (size_t c = 0; c < ncols; c++) {
                buf_put_json_str(b, loch_result_name(r, c));
                buf_putc(b, ':');
                put_cell(b, r, row, c);
                if (c + 1 < ncols)
                    buf_putc(b, ',');
            }
            buf_puts(b, "}\n");
        }
        return;
    }
    out->content_type = "application/json";
    buf_printf(b, "{\"query_id\":\"%s\",\"columns\":[", query_id);
    for (size_t c = 0; c < ncols; c++) {
        buf_puts(b, c ? ",{\"name\":" : "{\"name\":");
        buf_put_json_str(b, loch_result_name(r, c));
        buf_puts(b, ",\"type\":");
        buf_put_json_str(b, loch_result_type(r, c));
        buf_putc(b, '}');
    }
    buf_puts(b, "],\"rows\":[");
    for (size_t row = 0; row < take; row++) {
        buf_puts(b, row ? ",[" : "[");
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                buf_putc(b, ',');
            put_cell(b, r, row, c);
        }
        buf_putc(b, ']');
    }
    buf_printf(b, "],\"row_count\":%zu,\"truncated\":%s,\"elapsed_ms\":%.3f", take, take < nrows ? "true" : "false",
               ms);
    if (loch_result_message(r)) {
        buf_puts(b, ",\"message\":");
        buf_put_json_str(b, loch_result_message(r));
    }
    buf_putc(b, '}');
}

/* One row of a result as the members of a JSON object (without its braces). */
static void render_members(buf *b, const loch_result *r, size_t row)
{
    for (size_t c = 0; c < loch_result_columns(r); c++) {
        if (c)
            buf_putc(b, ',');
        buf_put_json_str(b, loch_result_name(r, c));
        buf_putc(b, ':');
        put_cell(b, r, row, c);
    }
}

/* A one-row result as one JSON object, with its message when it has one (an ingest's
 * summary, a write's). */
static void render_summary(buf *b, const loch_result *r)
{
    buf_putc(b, '{');
    render_members(b, r, 0);
    if (loch_result_message(r)) {
        buf_puts(b, loch_result_columns(r) ? ",\"message\":" : "\"message\":");
        buf_put_json_str(b, loch_result_message(r));
    }
    buf_putc(b, '}');
}

/* A result's rows as a JSON array of objects. */
static void render_objects(buf *b, const loch_result *r)
{
    buf_putc(b, '[');
    for (size_t row = 0; row < loch_result_rows(r); row++) {
        buf_puts(b, row ? ",{" : "{");
        render_members(b, r, row);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

/* ---- routes --------------------------------------------------------------------------- */

static out_format format_of(const http_request *req, const char *asked, int *ok)
{
    const char *accept = http_header(req, "Accept");
    const char *f = asked ? asked : http_query(req, "format");
    *ok = 1;
    if (f) {
        if (!strcasecmp(f, "json"))
            return FMT_JSON;
        if (!strcasecmp(f, "ndjson") || !strcasecmp(f, "jsonl"))
            return FMT_NDJSON;
        if (!strcasecmp(f, "csv"))
            return FMT_CSV;
        if (!strcasecmp(f, "parquet"))
            return FMT_PARQUET;
        if (!strcasecmp(f, "arrow"))
            return FMT_ARROW;
        *ok = 0;
        return FMT_JSON;
    }
    if (accept && strstr(accept, "application/x-ndjson"))
        return FMT_NDJSON;
    if (accept && strstr(accept, "text/csv"))
        return FMT_CSV;
    if (accept && strstr(accept, "application/vnd.apache.parquet"))
        return FMT_PARQUET;
    if (accept && strstr(accept, "application/vnd.apache.arrow.stream"))
        return FMT_ARROW;
    return FMT_JSON;
}

/* ---- streamed query results ------------------------------------------------------------ */

typedef struct {
    loch_server *s;
    int wi;                  /* the worker, held until the stream ends */
    loch_stream *st;
    out_format f;
    int64_t limit, sent;
    size_t rows, at;         /* the current chunk, and the next row of it to send */
    int started, finished;
    double t0;
    char id[40];
    buf pre;                 /* bytes made before the answer went out (Arrow: the schema) */
} streamed;

static int put_stream_cell(buf *b, loch_stream *st, size_t row, size_t col)
{
    size_t len = 0;
    const char *v = loch_stream_cell(st, row, col, &len);
    return render_json_value(b, v, len, loch_stream_kind(st, col));
}

static int put_csv_cell(buf *b, loch_stream *st, size_t row, size_t col)
{
    size_t len = 0;
    const char *v = loch_stream_cell(st, row, col, &len);
    return render_csv_value(b, v, len);
}

static void stream_head(streamed *q, buf *b)
{
    size_t ncols = loch_stream_columns(q->st);
    if (q->f == FMT_CSV) {
        for (size_t c = 0; c < ncols; c++) {
            put_csv_field(b, loch_stream_name(q->st, c));
            buf_putc(b, c + 1 < ncols ? ',' : '\n');
        }
    } else if (q->f == FMT_JSON) {
        buf_printf(b, "{\"query_id\":\"%s\",\"columns\":[", q->id);
        for (size_t c = 0; c < ncols; c++) {
            buf_puts(b, c ? ",{\"name\":" : "{\"name\":");
            buf_put_json_str(b, loch_stream_name(q->st, c));
            buf_puts(b, ",\"type\":");
            buf_put_json_str(b, loch_stream_type(q->st, c));
            buf_putc(b, '}');
        }
        buf_puts(b, "],\"rows\":[");
    }
}

static void stream_row(streamed *q, buf *b, size_t row)
{
    size_t ncols = loch_stream_columns(q->st);
    if (q->f == FMT_CSV) {
        for (size_t c = 0; c < ncols; c++) {
            put_csv_cell(b, q->st, row, c);
            buf_putc(b, c + 1 < ncols ? ',' : '\n');
        }
    } else if (q->f == FMT_NDJSON) {
        buf_putc(b, '{');
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                buf_putc(b, ',');
            buf_put_json_str(b, loch_stream_name(q->st, c));
            buf_putc(b, ':');
            put_stream_cell(b, q->st, row, c);
        }
        buf_puts(b, "}\n");
    } else {
        buf_puts(b, q->sent ? ",[" : "[");
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                buf_putc(b, ',');
            put_stream_cell(b, q->st, row, c);
        }
        buf_putc(b, ']');
    }
}

/* The transport asks for more: rows until about 256 KiB are ready, then the end. */
static int stream_produce(void *state, buf *out)
{
    streamed *q = state;
    if (q->finished)
        return 1;
    if (!q->started) {
        stream_head(q, out);
        q->started = 1;
    }
    int more = 1;
    while (out->len < (256 << 10)) {
        if (q->limit >= 0 && q->sent >= q->limit)
            break;
        if (q->at == q->rows) {
            q->at = 0;
            if (loch_stream_next(q->st, &q->rows) < 0) {
                /* After the first rows the status is sent: the error ends the body. */
                if (q->f == FMT_CSV)
                    return -1;
                buf_puts(out, q->f == FMT_JSON ? "],\"error\":{\"code\":\"failed\",\"message\":"
                                                : "{\"error\":{\"code\":\"failed\",\"message\":");
                buf_put_json_str(out, loch_error_last());
                buf_puts(out, q->f == FMT_JSON ? "}}" : "}}\n");
                q->finished = 1;
                return 0;
            }
            if (q->rows == 0) {
                more = 0;
                break;
            }
        }
        stream_row(q, out, q->at++);
        q->sent++;
    }
    if (!more || (q->limit >= 0 && q->sent >= q->limit)) {
        int truncated = more && (q->at < q->rows || (loch_stream_next(q->st, &q->rows) == 0 && q->rows > 0));
        if (q->f == FMT_JSON)
            buf_printf(out, "],\"row_count\":%lld,\"truncated\":%s,\"elapsed_ms\":%.3f}", (long long)q->sent,
                       truncated ? "true" : "false", (time_mono() - q->t0) * 1000);
        q->finished = 1;
    }
    return 0;
}

static void stream_free(void *state)
{
    streamed *q = state;
    buf_free(&q->pre);
    loch_stream_free(q->st);
    worker_give(q->s, q->wi);
    free(q);
}

/* Arrow IPC: the schema message, then a record batch per engine chunk, as read. */
static int arrow_produce(void *state, buf *out)
{
    streamed *q = state;
    int done = 0;
    if (q->pre.len) {
        if (buf_put(out, q->pre.data, q->pre.len))
            return -1;
        buf_clear(&q->pre);
    }
    while (!done && out->len < (256 << 10))
        if (sql_stream_ipc(q->st, out, &done) < 0)
            return -1; /* the status is sent: the connection is closed mid-stream */
    return done;
}

/* A result file (Parquet) sent as it is read, then removed. */
typedef struct {
    FILE *f;
    char path[4200];
} sent_file;

static int file_produce(void *state, buf *out)
{
    sent_file *sf = state;
    char chunk[64 << 10];
    size_t n = fread(chunk, 1, sizeof(chunk), sf->f);
    if (n && buf_put(out, chunk, n))
        return -1;
    return n < sizeof(chunk) ? (ferror(sf->f) ? -1 : 1) : 0;
}

static void file_free(void *state)
{
    sent_file *sf = state;
    fclose(sf->f);
    unlink(sf->path);
    free(sf);
}

/* A command: one that writes a lake table takes the table's lock, as an ingest does,
 * so that writers of one table queue instead of racing their commits. */
static int run_command(loch_server *s, loch_lake *lake, const char *sql, const loch_param *params, size_t nparams,
                       loch_result **r)
{
    char table[256];
    pthread_mutex_t *lock = sql_write_target(sql, table, sizeof(table)) ? table_lock(s, table) : NULL;
    if (lock)
        pthread_mutex_lock(lock);
    int rc = loch_sql_params(r, lake, sql, params, nparams);
    if (lock)
        pthread_mutex_unlock(lock);
    return rc;
}

/* Runs every statement of sql but the last, whose results are not shown: queries are
 * read to their end a chunk at a time (never held whole, so the memory limit holds),
 * loch's commands run as they do in loch_sql. *last gets the last statement's text. */
static int run_leading(loch_server *s, loch_lake *lake, const char *sql, buf *last)
{
    sql_span *spans = NULL;
    size_t n = 0;
    int rc = sqlscan_split(sql, strlen(sql), &spans, &n);
    for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
        char *text = strndup(sql + spans[i].start, spans[i].end - spans[i].start);
        loch_stream *st = NULL;
        loch_result *r = NULL;
        size_t rows = 1;
        if (!text) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        rc = loch_sql_stream(&st, lake, text, NULL, 0);
        while (rc == 0 && rows)
            rc = loch_stream_next(st, &rows);
        loch_stream_free(st);
        if (rc == LOCH_EUNSUPPORTED) { /* not a query: a command */
            error_clear();
            rc = run_command(s, lake, text, NULL, 0, &r);
            loch_result_free(r);
        }
        free(text);
    }
    if (rc == 0)
        rc = n > 1 ? buf_put(last, sql + spans[n - 1].start, spans[n - 1].end - spans[n - 1].start)
                   : buf_puts(last, sql);
    free(spans);
    return rc;
}

/* Parquet: the engine writes the whole result to a file in the lake's tmp directory
 * (memory bounded by the engine's limit), which then streams out. */
static void route_sql_parquet(loch_server *s, const char *sql, size_t nparams, const char *id, http_response *out)
{
    sent_file *sf = calloc(1, sizeof(*sf));
    if (!sf) {
        json_error(out, 503, "out_of_memory", "out of memory");
        return;
    }
    if (nparams) {
        free(sf);
        json_error(out, 400, "unsupported", "parquet results take no params yet; use json, ndjson or csv");
        return;
    }
    char name[37];
    uuid_v4(name); /* not the query id: two clients may choose the same */
    snprintf(sf->path, sizeof(sf->path), "%s/result-%d-%s.parquet", s->tmpdir, (int)getpid(), name);
    int wi = worker_take(s, id);
    int rc = loch_sql_export(s->w[wi].lake, sql, "parquet", sf->path);
    int cancelled = s->w[wi].cancel;
    worker_give(s, wi);
    if (rc < 0 || !(sf->f = fopen(sf->path, "rb"))) {
        if (cancelled)
            json_error(out, 499, cancelled == 2 ? "timeout" : "cancelled", "the query was cancelled");
        else if (rc < 0)
            loch_error(out);
        else
            json_error(out, 503, "io_error", "the result file could not be read");
        unlink(sf->path);
        free(sf);
        return;
    }
    out->status = 200;
    out->content_type = "application/vnd.apache.parquet";
    snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\nContent-Disposition: attachment; "
             "filename=\"result.parquet\"\n", id);
    out->producer = file_produce;
    out->state = sf;
    out->state_free = file_free;
}

/* POST /v1/ask {"question", "route", "k", "stream"}: loch_ask. Streamed (the default)
 * as NDJSON, one event a line as the answer is made ({"event":"route"}, "sql", "rows",
 * "text" for each piece of the answer's words, then "answer": the whole answer, or
 * "error"); with "stream": false, the whole answer as one JSON object. The question runs
 * on a thread of its own holding a worker (cancellable and time-limited like a query,
 * under the X-Query-Id); the connection's thread hands its events on as they come, and a
 * client that leaves cancels it. */
typedef struct {
    loch_server *s;
    int wi;                 /* the worker, once taken (-1 before) */
    int gone;               /* the client left (ask_free): a question not started never is */
    char id[40];
    char *question, *route;
    int k;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more;
    buf pending;            /* events not yet handed to the connection */
    int done;
} ask_stream;

static void ask_event(void *ctx, const char *json_line)
{
    ask_stream *a = ctx;
    pthread_mutex_lock(&a->mu);
    (void)(buf_puts(&a->pending, json_line) || buf_putc(&a->pending, '\n'));
    pthread_cond_signal(&a->more);
    pthread_mutex_unlock(&a->mu);
}

static void *ask_run(void *arg)
{
    ask_stream *a = arg;
    loch_server *s = a->s;
    http_response err = {0};
    /* One question at a time: they take turns on the one model anyway, and waiting here
     * rather than on the model keeps the other workers free for SQL. */
    pthread_mutex_lock(&s->ask_mu);
    pthread_mutex_lock(&a->mu);
    int gone = a->gone;
    pthread_mutex_unlock(&a->mu);
    int wi = gone ? -1 : worker_take(s, a->id);
    pthread_mutex_lock(&a->mu);
    a->wi = wi, gone = a->gone;
    pthread_mutex_unlock(&a->mu);
    if (wi >= 0 && !gone) {
        loch_ask_options o = LOCH_ASK_OPTIONS_INIT;
        o.route = a->route, o.k = a->k, o.on_event = ask_event, o.ctx = a;
        loch_answer *ans = NULL;
        int rc = loch_ask(&ans, s->w[wi].lake, a->question, &o);
        int cancelled = s->w[wi].cancel;
        if (rc < 0 && cancelled)
            json_error(&err, 499, cancelled == 2 ? "timeout" : "cancelled", "the question was cancelled");
        else if (rc < 0)
            loch_error(&err);
        loch_answer_free(ans);
    }
    if (wi >= 0)
        worker_give(s, wi);
    pthread_mutex_unlock(&s->ask_mu);
    pthread_mutex_lock(&a->mu);
    /* {"error":{...}} becomes {"event":"error","error":{...}} */
    if (err.body.data)
        buf_printf(&a->pending, "{\"event\":\"error\",%s\n", err.body.data + 1);
    a->done = 1;
    pthread_cond_signal(&a->more);
    pthread_mutex_unlock(&a->mu);
    buf_free(&err.body);
    return NULL;
}

static int ask_produce(void *state, buf *out)
{
    ask_stream *a = state;
    pthread_mutex_lock(&a->mu);
    while (!a->pending.len && !a->done)
        pthread_cond_wait(&a->more, &a->mu);
    int rc = a->pending.len ? buf_put(out, a->pending.data, a->pending.len) : 1;
    buf_clear(&a->pending);
    pthread_mutex_unlock(&a->mu);
    return rc < 0 ? rc : rc == 1 ? 1 : 0;
}

static void ask_free(void *state)
{
    ask_stream *a = state;
    pthread_mutex_lock(&a->mu);
    a->gone = 1;
    int wi = a->done ? -1 : a->wi;
    pthread_mutex_unlock(&a->mu);
    if (wi >= 0) { /* the client left while it ran: stop the question */
        pthread_mutex_lock(&a->s->mu);
        if (!a->s->w[wi].cancel)
            a->s->w[wi].cancel = 1;
        pthread_mutex_unlock(&a->s->mu);
    }
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->more);
    buf_free(&a->pending);
    free(a->question), free(a->route);
    free(a);
}

static void route_ask(loch_server *s, http_request *req, http_response *out)
{
    size_t len;
    const char *body = http_body(req, &len);
    arena ar = ARENA_INIT;
    json *doc = NULL;
    if (json_parse(&ar, body, len, &doc) < 0 || doc->type != JSON_OBJECT) {
        json_error(out, 400, "invalid_json", len ? "the body is not a JSON object" : "a JSON body is required");
        goto done;
    }
    const json *jq = json_get(doc, "question"), *jr = json_get(doc, "route"), *jk = json_get(doc, "k"),
               *js = json_get(doc, "stream");
    if (!jq || jq->type != JSON_STRING || jq->len != strlen(jq->str)) {
        json_error(out, 400, "invalid", "\"question\" is a string (without NUL) and is required");
        goto done;
    }
    if (jr && jr->type != JSON_NULL &&
        (jr->type != JSON_STRING || jr->len != strlen(jr->str) || (strcmp(jr->str, "sql") && strcmp(jr->str, "search")))) {
        json_error(out, 400, "invalid", "\"route\" is \"sql\" or \"search\"");
        goto done;
    }
    if (jk && jk->type != JSON_NULL && (jk->type != JSON_NUMBER || !jk->is_int || jk->i64 < 1 || jk->i64 > 50)) {
        json_error(out, 400, "invalid", "\"k\" is a whole number of passages, 1 to 50");
        goto done;
    }
    if (js && js->type != JSON_NULL && js->type != JSON_BOOL) {
        json_error(out, 400, "invalid", "\"stream\" is true or false");
        goto done;
    }
    ask_stream *a = calloc(1, sizeof(*a));
    if (!a || !(a->question = strdup(jq->str)) ||
        (jr && jr->type == JSON_STRING && !(a->route = strdup(jr->str)))) {
        if (a)
            free(a->question);
        free(a);
        json_error(out, 503, "out_of_memory", "out of memory");
        goto done;
    }
    a->s = s;
    a->k = jk && jk->type == JSON_NUMBER ? (int)jk->i64 : 0;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->more, NULL);
    a->wi = -1;
    uuid_v4(a->id);
    const char *id = a->id;
    snprintf(out->note, sizeof(out->note), "%s", id);
    if (js && js->type == JSON_BOOL && !js->boolean) { /* the whole answer, here */
        loch_ask_options o = LOCH_ASK_OPTIONS_INIT;
        o.route = a->route, o.k = a->k;
        loch_answer *ans = NULL;
        pthread_mutex_lock(&s->ask_mu);
        a->wi = worker_take(s, id);
        int rc = loch_ask(&ans, s->w[a->wi].lake, a->question, &o);
        int cancelled = s->w[a->wi].cancel;
        worker_give(s, a->wi);
        pthread_mutex_unlock(&s->ask_mu);
        if (rc < 0 && cancelled)
            json_error(out, 499, cancelled == 2 ? "timeout" : "cancelled", "the question was cancelled");
        else if (rc < 0)
            loch_error(out);
        else
            json_ok(out, 200), buf_puts(&out->body, loch_answer_json(ans));
        snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\n", id);
        loch_answer_free(ans);
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->more);
        free(a->question), free(a->route), free(a);
        goto done;
    }
    if (pthread_create(&a->thread, NULL, ask_run, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->more);
        free(a->question), free(a->route), free(a);
        json_error(out, 503, "busy", "cannot start a thread for the question");
        goto done;
    }
    out->status = 200;
    out->content_type = "application/x-ndjson";
    snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\n", id);
    out->producer = ask_produce;
    out->state = a;
    out->state_free = ask_free;
done:
    arena_free(&ar);
}

/* POST /v1/search {"table", "query", "k", "column", "where", "mode"}: loch_search, its
 * rows as JSON objects and its note (how it searched). Cancellable and time-limited
 * like a query: it runs under a query id. */
static void route_search(loch_server *s, http_request *req, http_response *out)
{
    size_t len;
    const char *body = http_body(req, &len);
    arena a = ARENA_INIT;
    json *doc = NULL;
    loch_result *r = NULL;
    if (json_parse(&a, body, len, &doc) < 0 || doc->type != JSON_OBJECT) {
        json_error(out, 400, "invalid_json", len ? "the body is not a JSON object" : "a JSON body is required");
        goto done;
    }
    static const char *const texts[] = {"table", "query", "column", "where", "mode"};
    const char *v[5];
    for (int i = 0; i < 5; i++) {
        const json *j = json_get(doc, texts[i]);
        v[i] = j && j->type == JSON_STRING ? j->str : NULL;
        char msg[120];
        if ((j && j->type != JSON_STRING && j->type != JSON_NULL) || (i < 2 && !v[i])) {
            snprintf(msg, sizeof(msg), "\"%s\" is a string%s", texts[i], i < 2 ? " and is required" : "");
            json_error(out, 400, "invalid", msg);
            goto done;
        }
        if (v[i] && j->len != strlen(v[i])) {
            snprintf(msg, sizeof(msg), "\"%s\" contains a NUL character (\\u0000)", texts[i]);
            json_error(out, 400, "invalid", msg);
            goto done;
        }
    }
    const json *jk = json_get(doc, "k");
    if (jk && jk->type != JSON_NULL && (jk->type != JSON_NUMBER || !jk->is_int || jk->i64 < 1 || jk->i64 > 100000)) {
        json_error(out, 400, "invalid", "\"k\" is a whole number of rows, 1 to 100000");
        goto done;
    }
    loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
    o.k = jk && jk->type == JSON_NUMBER ? (int)jk->i64 : 10;
    o.column = v[2], o.where = v[3], o.mode = v[4];
    char id[40];
    uuid_v4(id);
    snprintf(out->note, sizeof(out->note), "%s", id);
    int wi = worker_take(s, id);
    int rc = loch_search(&r, s->w[wi].lake, v[0], v[1], &o);
    int cancelled = s->w[wi].cancel;
    worker_give(s, wi);
    if (rc < 0 && cancelled) {
        json_error(out, 499, cancelled == 2 ? "timeout" : "cancelled", "the search was cancelled");
        goto done;
    }
    if (rc < 0) {
        loch_error(out);
        goto done;
    }
    json_ok(out, 200);
    buf_puts(&out->body, "{\"table\":");
    buf_put_json_str(&out->body, v[0]);
    buf_puts(&out->body, ",\"query\":");
    buf_put_json_str(&out->body, v[1]);
    buf_puts(&out->body, ",\"note\":");
    buf_put_json_str(&out->body, loch_result_message(r) ? loch_result_message(r) : "");
    buf_puts(&out->body, ",\"rows\":");
    render_objects(&out->body, r);
    buf_putc(&out->body, '}');
done:
    loch_result_free(r);
    arena_free(&a);
}

/* Whether sql starts as a query that can be wrapped in SELECT * FROM (...) LIMIT n:
 * SELECT, WITH, VALUES, FROM, TABLE or a parenthesis. Anything else (EXPLAIN, DESCRIBE,
 * SHOW, SUMMARIZE, PRAGMA, SET, ...) runs as it is, for the engine or the sandbox to
 * answer, not a parse error of the wrapper's. */
static int query_like(const char *sql)
{
    size_t pos = 0;
    sql_token t;
    if (sqlscan_next(sql, strlen(sql), &pos, &t) < 0) {
        error_clear();
        return 0;
    }
    if (t.kind == TOK_PUNCT)
        return sql[t.start] == '(';
    static const char *const words[] = {"select", "with", "values", "from", "table"};
    for (size_t i = 0; t.kind == TOK_WORD && i < sizeof(words) / sizeof(words[0]); i++)
        if (sqlscan_is(sql, &t, words[i]))
            return 1;
    return 0;
}

static void route_sql(loch_server *s, http_request *req, http_response *out)
{
    buf limited = BUF_INIT; /* the query with a LIMIT, for formats that take it there */
    buf last = BUF_INIT;    /* the last statement, run after the ones before it */
    size_t len;
    const char *body = http_body(req, &len);
    arena a = ARENA_INIT;
    json *doc = NULL;
    loch_param *params = NULL;
    size_t nparams = 0;
    if (json_parse(&a, body, len, &doc) < 0 || doc->type != JSON_OBJECT) {
        json_error(out, 400, "invalid_json", len ? "the body is not a JSON object" : "a JSON body is required");
        goto done;
    }
    const char *sql = json_get_str(doc, "sql"), *fmt = json_get_str(doc, "format");
    const json *jsql = json_get(doc, "sql"), *jlimit = json_get(doc, "limit"), *jfmt = json_get(doc, "format");
    int64_t limit = json_get_i64(doc, "limit", -1);
    int fmt_ok;
    out_format f = format_of(req, fmt, &fmt_ok);
    if (!sql || !*sql) {
        json_error(out, 400, "invalid", "\"sql\" (a string) is required");
        goto done;
    }
    /* A NUL would end the text early and the rest be silently ignored. */
    if (jsql->len != strlen(sql)) {
        json_error(out, 400, "invalid", "\"sql\" contains a NUL character (\\u0000)");
        goto done;
    }
    if (jlimit && jlimit->type != JSON_NULL && (jlimit->type != JSON_NUMBER || !jlimit->is_int || jlimit->i64 < 0)) {
        json_error(out, 400, "invalid", "\"limit\" is a whole number of rows, 0 or more");
        goto done;
    }
    if (jfmt && jfmt->type != JSON_NULL && jfmt->type != JSON_STRING) {
        json_error(out, 400, "invalid", "\"format\" is a string: json, ndjson, csv, parquet or arrow");
        goto done;
    }
    if (!fmt_ok) {
        json_error(out, 400, "invalid", "format is json, ndjson, csv, parquet or arrow");
        goto done;
    }
    const json *p = json_get(doc, "params");
    if (p && p->type != JSON_ARRAY) {
        json_error(out, 400, "invalid", "\"params\" must be an array");
        goto done;
    }
    nparams = p ? p->len : 0;
    if (nparams && !(params = calloc(nparams, sizeof(*params)))) {
        json_error(out, 503, "out_of_memory", "out of memory");
        goto done;
    }
    size_t i = 0;
    for (const json *v = p ? p->child : NULL; v; v = v->next, i++) {
        params[i].kind = v->type == JSON_NUMBER ? LOCH_KIND_NUMBER : v->type == JSON_BOOL ? LOCH_KIND_BOOL
                                                                                          : LOCH_KIND_STRING;
        params[i].text = v->type == JSON_NULL ? NULL : v->type == JSON_BOOL ? (v->boolean ? "true" : "false") : v->str;
        if (v->type == JSON_OBJECT || v->type == JSON_ARRAY) {
            json_error(out, 400, "invalid", "parameters are strings, numbers, booleans or null");
            goto done;
        }
        if (v->type == JSON_STRING && v->len != strlen(v->str)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "parameter $%zu contains a NUL character (\\u0000)", i + 1);
            json_error(out, 400, "invalid", msg);
            goto done;
        }
    }
    /* A client may name its query (to cancel it while it runs); else it gets an id. */
    char id[40];
    const char *given = json_get_str(doc, "query_id");
    const json *jid = json_get(doc, "query_id");
    if (jid && jid->type != JSON_NULL && jid->type != JSON_STRING) {
        json_error(out, 400, "invalid", "query_id is a string: 1-36 letters, digits, '-' or '_'");
        goto done;
    }
    if (given && (!*given || strlen(given) > 36 || strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                 "0123456789-_") != strlen(given))) {
        json_error(out, 400, "invalid", "query_id is 1-36 letters, digits, '-' or '_'");
        goto done;
    }
    if (given)
        snprintf(id, sizeof(id), "%s", given);
    else
        uuid_v4(id);
    snprintf(out->note, sizeof(out->note), "%s", id);
    const json *jcheck = json_get(doc, "check");
    if (jcheck && jcheck->type != JSON_NULL && jcheck->type != JSON_BOOL) {
        json_error(out, 400, "invalid", "\"check\" is true or false");
        goto done;
    }
    if (jcheck && jcheck->type == JSON_BOOL && jcheck->boolean) { /* what would run, run nothing */
        loch_result *r = NULL;
        int wi = worker_take(s, id);
        int rc = loch_sql_check(&r, s->w[wi].lake, sql);
        worker_give(s, wi);
        if (rc < 0) {
            loch_error(out);
            goto done;
        }
        json_ok(out, 200);
        buf_puts(&out->body, "{\"statements\":[");
        for (size_t k = 0; k < loch_result_rows(r); k++) {
            char *verb = loch_result_text(r, k, 1), *reads = loch_result_text(r, k, 2);
            buf_puts(&out->body, k ? ",{\"verb\":" : "{\"verb\":");
            buf_put_json_str(&out->body, verb ? verb : "");
            buf_printf(&out->body, ",\"reads\":%s}", reads && !strcmp(reads, "true") ? "true" : "false");
            free(verb), free(reads);
        }
        buf_puts(&out->body, "]}");
        loch_result_free(r);
        goto done;
    }
    char target[256]; /* before the limit wraps it in a query, which would hide what it is */
    if ((f == FMT_PARQUET || f == FMT_ARROW) && sql_write_target(sql, target, sizeof(target))) {
        /* a command has a message, no rows: these formats could only lose it */
        json_error(out, 400, "unsupported", "format=parquet and format=arrow carry a query's rows; a write or "
                   "maintenance statement answers with a message: ask for json, ndjson or csv");
        goto done;
    }
    if ((f == FMT_PARQUET || f == FMT_ARROW) && limit >= 0 && query_like(sql)) { /* these formats take the limit in the query */
        sql_span *spans = NULL;
        size_t nspans = 0;
        int one = sqlscan_split(sql, strlen(sql), &spans, &nspans) == 0 && nspans == 1; /* without its ';' */
        int bad = buf_printf(&limited, "SELECT * FROM (%.*s\n) LIMIT %lld", one ? (int)(spans[0].end - spans[0].start)
                             : (int)strlen(sql), one ? sql + spans[0].start : sql, (long long)limit);
        free(spans);
        error_clear();
        if (bad) {
            json_error(out, 503, "out_of_memory", "out of memory");
            goto done;
        }
        sql = limited.data;
    }
    if (f == FMT_PARQUET) {
        route_sql_parquet(s, sql, nparams, id, out);
        goto done;
    }
    int wi = worker_take(s, id);
    double t0 = time_mono();
    loch_result *r = NULL;
    if (f == FMT_ARROW) {
        loch_stream *ast = NULL;
        int arc = sql_stream_arrow(&ast, s->w[wi].lake, sql, params, nparams);
        streamed *q = arc == 0 ? calloc(1, sizeof(*q)) : NULL;
        int first_done = 0;
        /* The schema message is made now: a type Arrow IPC cannot carry is a 400, not a
         * connection cut after a 200. */
        if (q && (arc = sql_stream_ipc(ast, &q->pre, &first_done)) < 0) {
            buf_free(&q->pre);
            free(q);
            q = NULL;
        }
        if (q) {
            buf pre = q->pre;
            *q = (streamed){.s = s, .wi = wi, .st = ast, .f = f, .limit = -1, .t0 = t0, .pre = pre};
            out->status = 200;
            out->content_type = "application/vnd.apache.arrow.stream";
            snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\n", id);
            out->producer = arrow_produce;
            out->state = q;
            out->state_free = stream_free;
            goto done;
        }
        loch_stream_free(ast);
        int cancelled = s->w[wi].cancel;
        worker_give(s, wi);
        if (arc == 0)
            json_error(out, 503, "out_of_memory", "out of memory");
        else if (arc == LOCH_EUNSUPPORTED && !strstr(loch_error_last(), "stream"))
            json_error(out, 400, "unsupported", loch_error_last()); /* a type Arrow cannot carry */
        else if (cancelled)
            json_error(out, 499, cancelled == 2 ? "timeout" : "cancelled", "the query was cancelled");
        else if (arc == LOCH_EUNSUPPORTED)
            json_error(out, 400, "unsupported", loch_error_last());
        else
            loch_error(out);
        goto done;
    }
    /* A query streams: its rows go out as they are made, never all held. Statements
     * before it run first, their rows read and dropped as they come. */
    loch_stream *st = NULL;
    int rc = nparams ? buf_puts(&last, sql) : run_leading(s, s->w[wi].lake, sql, &last);
    int led = rc == 0; /* the statements before the last one ran */
    sql = last.data ? last.data : sql;
    rc = rc ? rc : loch_sql_stream(&st, s->w[wi].lake, sql, params, nparams);
    size_t first = 0;
    if (rc == 0 && (rc = loch_stream_next(st, &first)) == 0) {
        streamed *q = calloc(1, sizeof(*q));
        if (q) {
            *q = (streamed){.s = s, .wi = wi, .st = st, .f = f, .limit = limit, .rows = first, .t0 = t0};
            snprintf(q->id, sizeof(q->id), "%s", id);
            out->status = 200;
            out->content_type = f == FMT_CSV ? "text/csv; charset=utf-8" : f == FMT_NDJSON ? "application/x-ndjson"
                                                                                         : "application/json";
            snprintf(out->headers, sizeof(out->headers), "X-Query-Id: %s\n", id);
            out->producer = stream_produce;
            out->state = q;
            out->state_free = stream_free; /* gives the worker back */
            goto done;
        }
        rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    loch_stream_free(st);
    if (rc == LOCH_EUNSUPPORTED && led) /* not a query (a command, EXPLAIN): run it whole */
        rc = run_command(s, s->w[wi].lake, sql, params, nparams, &r);
    int cancelled = s->w[wi].cancel;
    worker_give(s, wi);
    if (rc < 0 && cancelled == 2) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the query ran past the %d ms limit and was cancelled", s->o.query_timeout_ms);
        json_error(out, 499, "timeout", msg);
    } else if (rc < 0 && cancelled == 1) {
        json_error(out, 499, "cancelled", "the query was cancelled");
    } else if (rc < 0) {
        loch_error(out);
    } else {
        if (loch_result_message(r))
            atomic_fetch_add(&s->commits, 1);
        render(out, r, f, limit, id, (time_mono() - t0) * 1000);
    }
    loch_result_free(r);
done:
    buf_free(&limited);
    buf_free(&last);
    free(params);
    arena_free(&a);
}

static void route_queries(loch_server *s, http_response *out)
{
    double now = time_mono();
    json_ok(out, 200);
    buf_puts(&out->body, "{\"queries\":[");
    pthread_mutex_lock(&s->mu);
    for (int i = 0, n = 0; i < s->nworkers; i++)
        if (s->w[i].busy && s->w[i].query_id[0])
            buf_printf(&out->body, "%s{\"query_id\":\"%s\",\"elapsed_ms\":%.1f}", n++ ? "," : "", s->w[i].query_id,
                       (now - s->w[i].started) * 1000);
    pthread_mutex_unlock(&s->mu);
    buf_puts(&out->body, "]}");
}

static void route_cancel(loch_server *s, const char *id, http_response *out)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].busy && !strcmp(s->w[i].query_id, id)) {
            s->w[i].cancel = 1;
            loch_lake_interrupt(s->w[i].lake);
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    if (!found) {
        json_error(out, 404, "not_found", "no query with that id is running");
        return;
    }
    json_ok(out, 202);
    buf_printf(&out->body, "{\"query_id\":\"%s\",\"cancelling\":true}", id);
}

/* The row of table t in loch_table_list, or -1. */
static long find_table(const loch_result *list, const char *t)
{
    for (size_t i = 0; i < loch_result_rows(list); i++) {
        char *name = loch_result_text(list, i, 0);
        int same = name && !strcmp(name, t);
        loch_free(name);
        if (same)
            return (long)i;
    }
    return -1;
}

static void route_tables(loch_server *s, http_response *out)
{
    loch_result *r = NULL;
    pthread_mutex_lock(&s->meta_mu);
    int rc = loch_table_list(&r, s->meta);
    pthread_mutex_unlock(&s->meta_mu);
    if (rc < 0) {
        loch_error(out);
        return;
    }
    json_ok(out, 200);
    buf_puts(&out->body, "{\"tables\":");
    render_objects(&out->body, r);
    buf_putc(&out->body, '}');
    loch_result_free(r);
}

static void route_table(loch_server *s, const char *t, http_response *out)
{
    loch_result *list = NULL, *cols = NULL;
    pthread_mutex_lock(&s->meta_mu);
    int rc = loch_table_list(&list, s->meta);
    long row = rc == 0 ? find_table(list, t) : -1;
    if (rc == 0)  /* not listed: describing it says why (missing, or unreadable) */
        rc = loch_table_describe(&cols, s->meta, t);
    if (rc == LOCH_ENOTFOUND && row < 0)
        rc = 0;
    pthread_mutex_unlock(&s->meta_mu);
    if (rc < 0) {
        loch_error(out);
    } else if (row < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "table \"%s\" does not exist", t);
        json_error(out, 404, "not_found", msg);
    } else {
        json_ok(out, 200);
        buf_putc(&out->body, '{');
        render_members(&out->body, list, (size_t)row);
        buf_puts(&out->body, ",\"columns\":");
        render_objects(&out->body, cols);
        buf_putc(&out->body, '}');
    }
    loch_result_free(list);
    loch_result_free(cols);
}

static void route_history(loch_server *s, const char *t, http_response *out)
{
    loch_result *r = NULL;
    pthread_mutex_lock(&s->meta_mu);
    int rc = loch_table_history(&r, s->meta, t);
    pthread_mutex_unlock(&s->meta_mu);
    if (rc < 0) {
        loch_error(out);
        return;
    }
    json_ok(out, 200);
    buf_puts(&out->body, "{\"table\":");
    buf_put_json_str(&out->body, t);
    buf_puts(&out->body, ",\"history\":");
    render_objects(&out->body, r);
    buf_putc(&out->body, '}');
    loch_result_free(r);
}

static void route_drop(loch_server *s, const char *t, http_response *out)
{
    pthread_mutex_t *lock = table_lock(s, t);
    pthread_mutex_lock(lock);
    int wi = worker_take(s, NULL);
    int rc = loch_table_drop(s->w[wi].lake, t, 0);
    worker_give(s, wi);
    pthread_mutex_unlock(lock);
    if (rc < 0) {
        loch_error(out);
        return;
    }
    atomic_fetch_add(&s->commits, 1);
    json_ok(out, 200);
    buf_puts(&out->body, "{\"dropped\":");
    buf_put_json_str(&out->body, t);
    buf_putc(&out->body, '}');
}

/* An ingest's error names the file it read, which for an upload is the server's spooled
 * copy (a path in the lake's _loch/tmp): the client is told the name it gave its file,
 * or "the upload", with the line and column the error points at. */
static void upload_error_named(const char *spooled, const char *name)
{
    const char *msg = loch_error_last();
    size_t n = strlen(spooled);
    if (!n || !strstr(msg, spooled))
        return;
    char shown[280];
    snprintf(shown, sizeof(shown), "%s", name && *name ? name : "the upload");
    buf b = BUF_INIT;
    int bad = 0;
    for (const char *p = msg;;) {
        const char *m = strstr(p, spooled);
        bad |= buf_put(&b, p, m ? (size_t)(m - p) : strlen(p)) < 0;
        if (!m)
            break;
        bad |= buf_puts(&b, shown) < 0;
        p = m + n;
    }
    if (!bad && buf_putc(&b, '\0') == 0)
        error_set(loch_error_last_code(), "%s", b.data);
    buf_free(&b);
}

static void route_ingest(loch_server *s, http_request *req, const char *t, http_response *out)
{
    const char *file = http_body_file(req);
    loch_ingest_options o = LOCH_INGEST_OPTIONS_INIT;
    const char *mode = http_query(req, "mode"), *force = http_query(req, "force");
    loch_result *r = NULL;
    int parts = http_upload_parts(req);
    if (!file || http_body_bytes(req) == 0 || parts == 0) {
        json_error(out, 400, "invalid", parts == 0 ? "the form has no file part (a field sent with a filename)"
                                                   : "the file goes in the body (raw, or a multipart form field)");
        return;
    }
    if (parts > 1) {
        char msg[160];
        snprintf(msg, sizeof(msg), "one file per upload: this form has %d file parts; send each in a request "
                 "of its own (or ingest them together with the CLI)", parts);
        json_error(out, 400, "invalid", msg);
        return;
    }
    if (mode && strcmp(mode, "append") && strcmp(mode, "overwrite")) {
        json_error(out, 400, "invalid", "mode is append or overwrite");
        return;
    }
    o.format = http_query(req, "format") ? http_query(req, "format") : http_form(req, "format");
    o.overwrite = mode && !strcmp(mode, "overwrite");
    o.schema = http_query(req, "schema");
    o.force = force && (!strcmp(force, "true") || !strcmp(force, "1"));
    o.rejects = http_query(req, "rejects");
    o.encoding = http_query(req, "encoding");
    o.sha256 = http_body_sha256(req); /* hashed as it arrived */
    char rejects[256]; /* cut at 255 bytes, still past the rule's 128 */
    if (o.rejects) { /* as a name in the URL is: any case, then the write path's rule */
        snprintf(rejects, sizeof(rejects), "%s", o.rejects);
        for (char *c = rejects; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (table_name_check(rejects) < 0) {
            json_error(out, 400, "invalid_name", loch_error_last());
            return;
        }
        o.rejects = rejects;
    }
    /* The upload's own name, when the client gave one, says its format. */
    const char *name = http_upload_name(req);
    const char *inputs[] = {file};
    char named[4200];
    const char *ext = name ? strrchr(name, '.') : NULL;
    char spooled[4096];
    snprintf(spooled, sizeof(spooled), "%s", file); /* file points into the request, renamed below */
    if (!o.format && ext && strlen(ext) <= 16 && !strchr(ext, '/') &&
        snprintf(named, sizeof(named), "%s%s", spooled, ext) < (int)sizeof(named) &&
        http_set_body_file(req, named) == 0) { /* the transport removes it under its new name */
        if (rename(spooled, named) == 0)
            inputs[0] = named;
        else
            http_set_body_file(req, spooled);
    }
    if (inputs[0] != named)
        inputs[0] = http_body_file(req);
    o.name = name; /* recorded as the client named it, not by the spooled path */
    pthread_mutex_t *lock = table_lock(s, t);
    pthread_mutex_lock(lock);
    int wi = worker_take(s, NULL);
    int rc = loch_ingest(&r, s->w[wi].lake, t, inputs, 1, &o);
    worker_give(s, wi);
    pthread_mutex_unlock(lock);
    if (rc < 0) {
        upload_error_named(inputs[0], name);
        loch_error(out);
        return;
    }
    json_ok(out, 200);
    if (!loch_result_message(r))
        atomic_fetch_add(&s->commits, 1);
    render_summary(&out->body, r);
    loch_result_free(r);
}

/* POST /v1/tables/{t}/rows?op=upsert|insert|delete&format=ndjson|csv|json|arrow: rows
 * into a table with a write-ahead log (a primary key, or loch.wal.enabled for appends),
 * through the log; answered once durable.
 * Writes are not queued per table (as ingests are): concurrent ones share the log's
 * fdatasync (group commit). */
static void route_rows(loch_server *s, http_request *req, const char *t, http_response *out)
{
    const char *file = http_body_file(req), *op = http_query(req, "op"), *format = http_query(req, "format");
    const char *type = http_header(req, "Content-Type");
    loch_write_op w = !op || !strcmp(op, "upsert") ? LOCH_WRITE_UPSERT : !strcmp(op, "insert") ? LOCH_WRITE_INSERT
                    : !strcmp(op, "delete") ? LOCH_WRITE_DELETE : (loch_write_op)0;
    if (!w) {
        json_error(out, 400, "invalid", "op is upsert, insert or delete");
        return;
    }
    if (!format && type)
        format = !strncmp(type, "text/csv", 8) ? "csv"
               : !strncmp(type, "application/vnd.apache.arrow", 28) ? "arrow"
               : !strncmp(type, "application/json", 16) ? "json" : NULL;
    if (!format)
        format = "ndjson";
    size_t body_len = 0;
    const char *body = file ? NULL : http_body(req, &body_len);
    if ((!file && !body) || http_body_bytes(req) == 0) {
        json_error(out, 400, "invalid", "the rows go in the body (NDJSON by default; format=csv|json|arrow)");
        return;
    }
    /* exactly once: a producer's id and the write's sequence number (header or query) */
    const char *producer = http_header(req, "X-Loch-Producer"), *seq = http_header(req, "X-Loch-Sequence");
    producer = producer ? producer : http_query(req, "producer");
    seq = seq ? seq : http_query(req, "sequence");
    char *end = NULL;
    errno = 0;
    unsigned long long sequence = seq && seq[0] >= '0' && seq[0] <= '9' ? strtoull(seq, &end, 10) : 0;
    if (!producer != !seq || (seq && (!end || *end || errno || sequence == 0 || sequence > INT64_MAX))) {
        json_error(out, 400, "invalid", "a numbered write has both a producer (X-Loch-Producer) and a sequence "
                   "(X-Loch-Sequence) from 1 to 9223372036854775807");
        return;
    }
    loch_result *r = NULL;
    int rc = LOCH_EUNSUPPORTED;
    if (body) { /* no engine: parsed and written from this thread, group-committed with the others */
        loch_write_options wo = LOCH_WRITE_OPTIONS_INIT;
        wo.producer = producer;
        wo.sequence = sequence;
        uint64_t lsn = 0;
        int dup = 0;
        int64_t n = 0;
        rc = loch_write_ndjson(s->writer, t, body, body_len, (int)w, &wo, &lsn, &dup, &n);
        if (rc == 0) {
            json_ok(out, 200);
            buf_printf(&out->body, "{\"op\":\"%s\",\"rows\":%lld,\"lsn\":", w == LOCH_WRITE_DELETE ? "delete"
                       : w == LOCH_WRITE_INSERT ? "insert" : "upsert", dup ? 0LL : (long long)n);
            buf_printf(&out->body, lsn ? "%llu" : "null", (unsigned long long)lsn);
            buf_printf(&out->body, ",\"duplicate\":%s}", dup ? "true" : "false");
            return;
        }
    }
    char spooled[4200] = "";
    if (rc == LOCH_EUNSUPPORTED && body) { /* a column type only the engine reads: from a file */
        snprintf(spooled, sizeof(spooled), "%s/rows-%lu.ndjson", s->tmpdir, (unsigned long)pthread_self());
        FILE *f = fopen(spooled, "wb");
        if (!f || fwrite(body, 1, body_len, f) != body_len) {
            if (f)
                fclose(f);
            unlink(spooled);
            json_error(out, 507, "insufficient_storage", "cannot spool the rows for the engine's reader");
            return;
        }
        fclose(f);
        file = spooled;
    }
    if (rc == LOCH_EUNSUPPORTED) {
        int wi = worker_take(s, NULL);
        rc = loch_table_write_file_from(&r, s->w[wi].lake, t, file, format, w, producer, sequence);
        worker_give(s, wi);
    }
    if (spooled[0])
        unlink(spooled);
    if (rc < 0) {
        loch_error(out);
        return;
    }
    json_ok(out, 200);
    render_summary(&out->body, r);
    loch_result_free(r);
}

static long rss_bytes(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%*s %ld", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

static void route_status(loch_server *s, http_response *out)
{
    loch_result *r = NULL;
    loch_result *wal = NULL; /* the write-ahead logs' LSNs and lag, per table that has one */
    pthread_mutex_lock(&s->meta_mu);
    int rc = loch_table_list(&r, s->meta);
    if (loch_lake_status(&wal, s->meta) < 0)
        error_clear(); /* left out (null), not a failed status */
    pthread_mutex_unlock(&s->meta_mu);
    int running = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nworkers; i++)
        running += s->w[i].busy && s->w[i].query_id[0];
    pthread_mutex_unlock(&s->mu);
    json_ok(out, 200);
    buf_printf(&out->body, "{\"version\":\"%s\",\"lake\":", LOCH_VERSION);
    buf_put_json_str(&out->body, s->lake);
    buf_printf(&out->body, ",\"tables\":%zu,\"uptime_s\":%.3f,\"workers\":%d,\"queries_running\":%d,"
                           "\"memory\":{\"rss_bytes\":%ld,\"limit_per_worker\":",
               rc == 0 ? loch_result_rows(r) : 0, time_mono() - s->started, s->nworkers, running, rss_bytes());
    if (s->o.memory_limit)
        buf_put_json_str(&out->body, s->o.memory_limit);
    else
        buf_puts(&out->body, "null");
    buf_puts(&out->body, "},\"wal\":");
    if (wal)
        render_objects(&out->body, wal);
    else
        buf_puts(&out->body, "null");
    buf_puts(&out->body, ",\"recent_errors\":[");
    pthread_mutex_lock(&s->mu);
    unsigned long n = s->nrecent < RECENT_ERRORS ? s->nrecent : RECENT_ERRORS;
    for (unsigned long k = 0; k < n; k++) {
        unsigned long i = (s->nrecent - 1 - k) % RECENT_ERRORS; /* newest first */
        buf_puts(&out->body, k ? ",{\"time\":" : "{\"time\":");
        buf_put_json_str(&out->body, s->recent[i].when);
        buf_puts(&out->body, ",\"method\":");
        buf_put_json_str(&out->body, s->recent[i].method);
        buf_puts(&out->body, ",\"route\":");
        buf_put_json_str(&out->body, s->recent[i].route);
        buf_printf(&out->body, ",\"status\":%d,\"code\":", s->recent[i].status);
        buf_put_json_str(&out->body, s->recent[i].code);
        buf_puts(&out->body, ",\"message\":");
        buf_put_json_str(&out->body, s->recent[i].message);
        buf_putc(&out->body, '}');
    }
    pthread_mutex_unlock(&s->mu);
    buf_puts(&out->body, "]}");
    loch_result_free(wal);
    loch_result_free(r);
}

static void route_metrics(loch_server *s, http_response *out)
{
    buf *b = &out->body;
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4";
    pthread_mutex_lock(&s->mu);
    buf_puts(b, "# HELP loch_http_requests_total HTTP requests answered, by route and status.\n"
                "# TYPE loch_http_requests_total counter\n");
    for (size_t i = 0; i < s->ncounters; i++)
        buf_printf(b, "loch_http_requests_total{route=\"%s\",status=\"%d\"} %lld\n", s->counters[i].route,
                   s->counters[i].status, s->counters[i].count);
    buf_puts(b, "# HELP loch_http_request_duration_seconds Time to answer a request.\n"
                "# TYPE loch_http_request_duration_seconds histogram\n");
    long long cum = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        cum += s->hist[i];
        buf_printf(b, "loch_http_request_duration_seconds_bucket{le=\"%g\"} %lld\n", buckets_ms[i] / 1000, cum);
    }
    cum += s->hist[NBUCKETS];
    buf_printf(b, "loch_http_request_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
    buf_printf(b, "loch_http_request_duration_seconds_sum %.6f\nloch_http_request_duration_seconds_count %lld\n",
               s->hist_sum / 1000, s->hist_count);
    int running = 0;
    for (int i = 0; i < s->nworkers; i++)
        running += s->w[i].busy && s->w[i].query_id[0];
    pthread_mutex_unlock(&s->mu);
    buf_printf(b, "# HELP loch_http_request_bytes_total Request body bytes received.\n"
                  "# TYPE loch_http_request_bytes_total counter\nloch_http_request_bytes_total %lld\n"
                  "# HELP loch_http_response_bytes_total Response bytes sent.\n"
                  "# TYPE loch_http_response_bytes_total counter\nloch_http_response_bytes_total %lld\n"
                  "# HELP loch_queries_running Queries running now.\n"
                  "# TYPE loch_queries_running gauge\nloch_queries_running %d\n"
                  "# HELP loch_commits_total Commits made through the API.\n"
                  "# TYPE loch_commits_total counter\nloch_commits_total %lld\n",
               (long long)atomic_load(&s->bytes_in), (long long)atomic_load(&s->bytes_out), running,
               (long long)atomic_load(&s->commits));
    long failed = 0;
    for (int i = 0; i < s->nworkers; i++)
        failed += atomic_load(&s->w[i].lake->checkpoint_failures);
    buf_printf(b, "# HELP loch_checkpoint_failures_total Checkpoints that failed after their commit (logged; the "
                  "commit stands, the next checkpoint retries).\n"
                  "# TYPE loch_checkpoint_failures_total counter\nloch_checkpoint_failures_total %ld\n", failed);
}

/* The route template a path matches (for metrics and logs), and its table name. */
static const char *match(const char *method, const char *path, char *table, size_t cap, char *id, size_t idcap)
{
    table[0] = id[0] = '\0';
    if (!strcmp(path, "/health"))
        return "/health";
    if (web_find(path)) /* the browser UI's page and files (server/web.h) */
        return !strcmp(path, "/") ? "/" : "/ui/{file}";
    if (!strcmp(path, "/metrics"))
        return "/metrics";
    if (!strcmp(path, "/v1/status"))
        return "/v1/status";
    if (!strcmp(path, "/v1/openapi.json"))
        return "/v1/openapi.json";
    if (!strcmp(path, "/v1/sql"))
        return "/v1/sql";
    if (!strcmp(path, "/v1/search"))
        return "/v1/search";
    if (!strcmp(path, "/v1/ask"))
        return "/v1/ask";
    if (!strcmp(path, "/v1/tables"))
        return "/v1/tables";
    if (!strcmp(path, "/v1/queries"))
        return "/v1/queries";
    const char *models_route = models_api_match(path, NULL);
    if (models_route)
        return models_route;
    if (!strncmp(path, "/v1/queries/", 12) && path[12] && !strchr(path + 12, '/')) {
        snprintf(id, idcap, "%s", path + 12);
        return "/v1/queries/{id}";
    }
    if (!strncmp(path, "/v1/tables/", 11) && path[11]) {
        const char *t = path + 11, *slash = strchr(t, '/');
        size_t n = slash ? (size_t)(slash - t) : strlen(t);
        snprintf(table, cap, "%.*s", (int)(n < cap ? n : cap - 1), t);
        /* One name rule with SQL, where an unquoted name is lowercased: /v1/tables/A
         * is table a for every method. */
        for (char *c = table; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (!slash)
            return "/v1/tables/{t}";
        if (!strcmp(slash, "/history"))
            return "/v1/tables/{t}/history";
        if (!strcmp(slash, "/ingest"))
            return "/v1/tables/{t}/ingest";
        if (!strcmp(slash, "/rows"))
            return "/v1/tables/{t}/rows";
        if (strstr(path + 11, "..")) { /* a name reaching out of the lake: refused as a name */
            snprintf(table, cap, "%s", path + 11);
            return "/v1/tables/{t}";
        }
    }
    (void)method;
    return NULL;
}

/* Whether route takes method; *allow gets the methods it takes (for 405's Allow). */
static int allowed(const char *route, const char *method, const char **allow)
{
    static const struct { const char *route, *methods; } table[] = {
        {"/health", "GET HEAD"}, {"/", "GET HEAD"}, {"/ui/{file}", "GET HEAD"}, {"/metrics", "GET HEAD"},
        {"/v1/status", "GET HEAD"}, {"/v1/openapi.json", "GET HEAD"}, {"/v1/sql", "POST"}, {"/v1/search", "POST"},
        {"/v1/ask", "POST"}, {"/v1/tables", "GET HEAD"}, {"/v1/queries", "GET HEAD"}, {"/v1/queries/{id}", "DELETE"},
        {"/v1/tables/{t}", "GET HEAD DELETE"}, {"/v1/tables/{t}/history", "GET HEAD"}, {"/v1/tables/{t}/ingest", "POST"},
        {"/v1/tables/{t}/rows", "POST"}};
    const char *models_methods = NULL;
    if (models_api_match(route, &models_methods)) {
        *allow = models_methods;
        return !strcmp(method, models_methods);
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(table[i].route, route)) {
            *allow = table[i].methods;
            /* a whole word of the list: "T" or "ETE" is no GET or DELETE */
            size_t n = strlen(method);
            for (const char *m = table[i].methods; *m; m += strcspn(m, " "), m += *m == ' ')
                if (n && strcspn(m, " ") == n && !strncmp(m, method, n))
                    return 1;
            return 0;
        }
    return 0;
}

/* Whether origin is one of the configured CORS origins: 1 by name, 2 by "*", 0 not. */
static int origin_listed(const loch_server *s, const char *origin)
{
    size_t n = strlen(origin);
    int named = 0;
    for (const char *p = s->cors; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) /* "a , b" */
            len--;
        if (len == 1 && *p == '*')
            return 2;
        named |= len && len == n && !strncmp(p, origin, n);
        p = e ? e + 1 : p + strlen(p);
    }
    return named;
}

static void cors(const loch_server *s, const http_request *req, http_response *out)
{
    const char *origin = http_header(req, "Origin");
    int listed = origin && s->cors ? origin_listed(s, origin) : 0;
    if (!listed)
        return;
    size_t used = strlen(out->headers);
    snprintf(out->headers + used, sizeof(out->headers) - used,
             "Access-Control-Allow-Origin: %s\nVary: Origin\nAccess-Control-Expose-Headers: X-Query-Id\n",
             listed == 2 ? "*" : origin);
}

/* Whether a Host header names this machine's loopback (localhost, 127.x.y.z, [::1]),
 * with or without a port. A missing Host (HTTP/1.0) is no browser's. */
static int loopback_host(const char *host)
{
    if (!host)
        return 1;
    char h[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof(h))
        return 0;
    memcpy(h, host, n + 1);
    char *port = h[0] == '[' ? strchr(h, ']') : strrchr(h, ':');
    if (h[0] == '[') {
        if (!port || (port[1] && port[1] != ':'))
            return 0;
        port[1] = '\0';
        return !strcmp(h, "[::1]");
    }
    if (port) {
        *port = '\0';
        if (!port[1] || strspn(port + 1, "0123456789") != strlen(port + 1))
            return 0;
    }
    int dots = 0;
    for (const char *c = h; *c; c++)
        dots += *c == '.';
    if (!strcasecmp(h, "localhost"))
        return 1;
    return !strncmp(h, "127.", 4) && dots == 3 && strspn(h, "0123456789.") == strlen(h);
}

/* Whether a browser's Origin is this server itself: "http://" + the Host it asked for. */
static int own_origin(const char *origin, const char *host)
{
    if (!host)
        return 0;
    const char *rest = !strncasecmp(origin, "http://", 7) ? origin + 7 : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                                                                          : NULL;
    return rest && !strcasecmp(rest, host);
}

/* The checks every request passes before its body is read or its route runs: the
 * endpoint exists, the token is valid, the method fits, the table name is sound. Fills
 * the error answer and returns 1 when one fails. */
static int refused(loch_server *s, const http_request *req, const char *route, const char *t, http_response *out)
{
    const char *method = http_method(req);
    /* Without tokens anyone who reaches the server is a client, which is safe on loopback
     * only if "anyone" cannot be a web page: a name of the attacker's that resolves to
     * 127.0.0.1 (DNS rebinding) makes the browser send that name as Host. */
    if (!s->ntokens && !loopback_host(http_header(req, "Host"))) {
        json_error(out, 403, "forbidden_host", "this server answers to localhost and loopback addresses only "
                                               "(give it tokens to serve other names)");
        return 1;
    }
    if (!route) {
        json_error(out, 404, "not_found", "no such endpoint (see /v1/openapi.json)");
        return 1;
    }
    /* the page holds no data: it asks for the token itself (server/web.h) */
    int public_route = !strcmp(route, "/health") || !strcmp(route, "/") || !strcmp(route, "/ui/{file}");
    if (s->ntokens && !public_route) {
        const char *given = bearer(req);
        if (!token_ok(s, given)) {
            json_error(out, 401, "unauthorized", given ? "the bearer token is not valid"
                                                        : "this server needs \"Authorization: Bearer <token>\"");
            snprintf(out->headers, sizeof(out->headers), "WWW-Authenticate: Bearer realm=\"loch\"\n");
            return 1;
        }
    }
    const char *allow = "";
    if (!allowed(route, method, &allow)) {
        json_error(out, 405, "method_not_allowed", "this endpoint does not take that method");
        snprintf(out->headers, sizeof(out->headers), "Allow: %s\n", allow);
        for (char *p = strchr(out->headers, ' '); p && (p = strchr(p + 1, ' '));) /* "GET DELETE" -> "GET, DELETE" */
            if (p[-1] != ':') {
                memmove(p + 1, p, strlen(p) + 1);
                *p = ',';
                p++;
            }
        return 1;
    }
    /* A request that changes something, sent by a page of another site (a form posted
     * across sites carries its Origin): refused unless that origin is configured for CORS.
     * The UI's own requests carry this server's origin. */
    const char *origin = http_header(req, "Origin");
    if (origin && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        !own_origin(origin, http_header(req, "Host")) && !(s->cors && origin_listed(s, origin))) {
        json_error(out, 403, "forbidden_origin", "a request from another site's page (Origin) is refused: list its "
                                                 "origin in cors_origins to allow it");
        return 1;
    }
    if (t[0] && table_name_check(t) < 0) { /* the write path's rule: one rule everywhere */
        json_error(out, 400, "invalid_name", loch_error_last());
        return 1;
    }
    if (atomic_load(&s->stopping) && strcmp(route, "/health") != 0) {
        json_error(out, 503, "stopping", "the server is shutting down");
        return 1;
    }
    return 0;
}

static void plan(void *ctx, const http_request *req, http_body_plan *p)
{
    loch_server *s = ctx;
    char t[256], id[64];
    const char *route = match(http_method(req), http_path(req), t, sizeof(t), id, sizeof(id));
    atomic_fetch_add(&s->active, 1); /* until done() */
    p->limit = s->o.max_body;
    if (strcmp(http_method(req), "OPTIONS") != 0) { /* a refused request's body is never read */
        http_response scratch = {0};
        p->refuse = refused(s, req, route, t, &scratch);
        buf_free(&scratch.body);
        if (p->refuse)
            return;
    }
    if (route && !strcmp(route, "/v1/tables/{t}/ingest") && !strcmp(http_method(req), "POST")) {
        p->limit = s->o.max_upload;
        p->to_file = 1;
        p->dir = s->tmpdir;
    }
    if (route && !strcmp(route, "/v1/tables/{t}/rows") && !strcmp(http_method(req), "POST")) {
        /* NDJSON up to 1 MB stays in memory for the engine-free path; the rest is read by
         * the engine's readers from a file (within max_body) */
        const char *fmt = http_query(req, "format"), *type = http_header(req, "Content-Type");
        const char *cl = http_header(req, "Content-Length");
        bool ndjson = (!fmt || !strcmp(fmt, "ndjson")) &&
                      (fmt || !type || !strncmp(type, "application/x-ndjson", 20) ||
                       !strncmp(type, "application/octet-stream", 24) ||
                       !strncmp(type, "application/x-www-form-urlencoded", 33));
        p->to_file = !(ndjson && cl && strtoll(cl, NULL, 10) <= (1 << 20));
        p->dir = s->tmpdir;
    }
}

static void handle(void *ctx, http_request *req, http_response *out)
{
    loch_server *s = ctx;
    const char *method = http_method(req), *path = http_path(req);
    char t[256], id[64];
    const char *route = match(method, path, t, sizeof(t), id, sizeof(id));
    atomic_fetch_add(&s->bytes_in, http_body_bytes(req));
    snprintf(out->route, sizeof(out->route), "%s", route ? route : "other");
    if (!strcmp(method, "OPTIONS") && s->cors) { /* a browser's preflight */
        out->status = 204;
        snprintf(out->headers, sizeof(out->headers),
                 "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\n"
                 "Access-Control-Allow-Headers: Authorization, Content-Type, Accept\n"
                 "Access-Control-Max-Age: 600\n");
        goto done; /* the allow-origin header is added below */
    }
    if (refused(s, req, route, t, out))
        goto done;
    if (!strcmp(route, "/health")) {
        json_ok(out, 200);
        buf_puts(&out->body, "{\"status\":\"ok\"}");
    } else if (!strcmp(route, "/") || !strcmp(route, "/ui/{file}")) {
        if (web_answer(web_find(path), req, out) < 0)
            json_error(out, 503, "out_of_memory", "out of memory");
    } else if (!strcmp(route, "/metrics")) {
        route_metrics(s, out);
    } else if (!strcmp(route, "/v1/status")) {
        route_status(s, out);
    } else if (!strcmp(route, "/v1/openapi.json")) {
        json_ok(out, 200);
        buf_puts(&out->body, server_openapi);
    } else if (!strcmp(route, "/v1/sql")) {
        route_sql(s, req, out);
    } else if (!strcmp(route, "/v1/search")) {
        route_search(s, req, out);
    } else if (!strcmp(route, "/v1/ask")) {
        route_ask(s, req, out);
    } else if (models_api_match(route, NULL)) {
        models_api_handle(s->models, route, req, out);
    } else if (!strcmp(route, "/v1/tables")) {
        route_tables(s, out);
    } else if (!strcmp(route, "/v1/queries")) {
        route_queries(s, out);
    } else if (!strcmp(route, "/v1/queries/{id}")) {
        route_cancel(s, id, out);
    } else if (!strcmp(route, "/v1/tables/{t}") && !strcmp(method, "DELETE")) {
        route_drop(s, t, out); /* DELETE by name only: a HEAD is a GET without the body */
    } else if (!strcmp(route, "/v1/tables/{t}")) {
        route_table(s, t, out);
    } else if (!strcmp(route, "/v1/tables/{t}/history")) {
        route_history(s, t, out);
    } else if (!strcmp(route, "/v1/tables/{t}/rows")) {
        route_rows(s, req, t, out);
    } else {
        route_ingest(s, req, t, out);
    }
done:
    cors(s, req, out);
    if (!strstr(out->headers, "X-Content-Type-Options")) { /* every answer, errors included */
        size_t used = strlen(out->headers);
        snprintf(out->headers + used, sizeof(out->headers) - used, "X-Content-Type-Options: nosniff\n");
    }
}

static void count(loch_server *s, const char *route, int status, double ms)
{
    pthread_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->ncounters && (s->counters[i].status != status || strcmp(s->counters[i].route, route)))
        i++;
    if (i == s->ncounters) {
        counter *g = realloc(s->counters, (s->ncounters + 1) * sizeof(*g));
        if (g) {
            s->counters = g;
            snprintf(g[i].route, sizeof(g[i].route), "%s", route);
            g[i].status = status;
            g[i].count = 0;
            s->ncounters++;
        }
    }
    if (i < s->ncounters)
        s->counters[i].count++;
    int b = 0;
    while (b < NBUCKETS && ms > buckets_ms[b])
        b++;
    s->hist[b]++;
    s->hist_sum += ms;
    s->hist_count++;
    pthread_mutex_unlock(&s->mu);
}

/* One line into the server's log (stderr when none was given), whole even when
 * several threads log at once. */
static void log_line(loch_server *s, const buf *line)
{
    pthread_mutex_lock(&s->log_mu);
    fputs(line->data ? line->data : "", s->o.log ? s->o.log : stderr);
    fflush(s->o.log ? s->o.log : stderr);
    pthread_mutex_unlock(&s->log_mu);
}

/* The lake handles' warnings (a checkpoint that failed after its commit, ...), when the
 * caller gave no log callback of its own: {"time", "warning"} lines in the log. */
static void log_warning(void *ctx, loch_log_level level, const char *message)
{
    loch_server *s = ctx;
    char when[32];
    buf line = BUF_INIT;
    (void)level;
    iso8601_format_ms(time_now_ms(), when);
    buf_printf(&line, "{\"time\":\"%s\",\"warning\":", when);
    buf_put_json_str(&line, message);
    buf_puts(&line, "}\n");
    log_line(s, &line);
    buf_free(&line);
}

/* Keeps a failed answer for /v1/status: its route, status and the error's code and
 * message (loch's {"error":{"code","message"}} or Ollama's {"error":"..."}).
 *
 * Only a client's failures are kept. A request without a valid token, or refused as a web
 * page's (forbidden_host, forbidden_origin), is no client's: anyone who can reach the port
 * could otherwise push the clients' errors out of the list. And every client reads the
 * list, so the message of a route that carries a statement or a question is left out: the
 * engine's message may quote it, and the client that sent it had it in its answer. */
static void remember_error(loch_server *s, const http_request *req, const http_response *resp, const char *when)
{
    if (s->ntokens && !token_ok(s, bearer(req)))
        return;
    const char *code = "", *message = "";
    arena a = ARENA_INIT;
    json *doc = NULL;
    if (!resp->producer && resp->body.len && resp->body.len < (64u << 10) &&
        json_parse(&a, resp->body.data, resp->body.len, &doc) == 0) {
        const json *e = json_get(doc, "error");
        if (e && e->type == JSON_STRING)
            message = e->str;
        else if (e && e->type == JSON_OBJECT) {
            code = json_get_str(e, "code") ? json_get_str(e, "code") : "";
            message = json_get_str(e, "message") ? json_get_str(e, "message") : "";
        }
    }
    error_clear();
    if (!strcmp(code, "forbidden_host") || !strcmp(code, "forbidden_origin")) {
        arena_free(&a);
        return;
    }
    if (!strcmp(resp->route, "/v1/sql") || !strcmp(resp->route, "/v1/search") || !strcmp(resp->route, "/v1/ask") ||
        models_api_match(resp->route, NULL))
        message = "";
    pthread_mutex_lock(&s->mu);
    unsigned long i = s->nrecent++ % RECENT_ERRORS;
    snprintf(s->recent[i].when, sizeof(s->recent[i].when), "%s", when);
    snprintf(s->recent[i].method, sizeof(s->recent[i].method), "%s", http_method(req));
    snprintf(s->recent[i].route, sizeof(s->recent[i].route), "%s", resp->route[0] ? resp->route : "other");
    snprintf(s->recent[i].code, sizeof(s->recent[i].code), "%s", code);
    snprintf(s->recent[i].message, sizeof(s->recent[i].message), "%s", message);
    char *m = s->recent[i].message; /* cut at a whole character */
    m[utf8_valid_prefix((const unsigned char *)m, strlen(m))] = '\0';
    s->recent[i].status = resp->status;
    pthread_mutex_unlock(&s->mu);
    arena_free(&a);
}

static void done(void *ctx, const http_request *req, const http_response *resp, int64_t bytes, double ms)
{
    loch_server *s = ctx;
    char when[32];
    buf line = BUF_INIT;
    atomic_fetch_sub(&s->active, 1);
    atomic_fetch_add(&s->bytes_out, bytes);
    count(s, resp->route[0] ? resp->route : "other", resp->status, ms);
    iso8601_format_ms(time_now_ms(), when);
    if (resp->status >= 400)
        remember_error(s, req, resp, when);
    buf_printf(&line, "{\"time\":\"%s\",\"method\":", when);
    buf_put_json_str(&line, http_method(req));
    buf_puts(&line, ",\"path\":");
    buf_put_json_str(&line, http_path(req));
    buf_printf(&line, ",\"status\":%d,\"ms\":%.3f,\"bytes\":%lld,\"peer\":", resp->status, ms, (long long)bytes);
    buf_put_json_str(&line, http_peer(req));
    if (resp->note[0]) {
        buf_puts(&line, ",\"query_id\":");
        buf_put_json_str(&line, resp->note);
    }
    buf_puts(&line, "}\n");
    log_line(s, &line);
    buf_free(&line);
}

/* ---- start and stop ---------------------------------------------------------------- */

static int is_loopback(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "::1") || !strncmp(host, "127.", 4) ||
           !strcmp(host, "localhost");
}

static void server_free(loch_server *s)
{
    if (!s)
        return;
    for (int i = 0; s->w && i < s->nworkers; i++)
        loch_lake_free(s->w[i].lake);
    free(s->w);
    models_api_free(s->models);
    loch_lake_free(s->meta);
    loch_lake_free(s->writer);
    loch_lake_free(s->flusher_lake);
    pthread_mutex_destroy(&s->meta_mu);
    pthread_mutex_destroy(&s->ask_mu);
    for (size_t i = 0; i < s->ntokens; i++)
        free(s->tokens[i]);
    free(s->tokens);
    free(s->lake);
    free(s->host);
    free(s->cors);
    free(s->counters);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->log_mu);
    for (int i = 0; i < TABLE_LOCKS; i++)
        pthread_mutex_destroy(&s->table_locks[i]);
    free(s);
}

int loch_server_start(loch_server **out, const loch_server_options *opts)
{
    static const size_t sizes[] = {offsetof(loch_server_options, lake_options), sizeof(loch_server_options)};
    loch_server *s = calloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    if (!s)
        return LOCH_ENOMEM;
    s->o = (loch_server_options)LOCH_SERVER_OPTIONS_INIT;
    if ((rc = options_copy(&s->o, opts, sizes, LOCH_SERVER_OPTIONS_VERSION, "loch_server_options")) < 0) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->freed, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->meta_mu, NULL);
    pthread_mutex_init(&s->ask_mu, NULL);
    for (int i = 0; i < TABLE_LOCKS; i++)
        pthread_mutex_init(&s->table_locks[i], NULL);
    s->started = time_mono();
    const char *host = s->o.host ? s->o.host : "127.0.0.1";
    if (!s->o.lake) {
        rc = error_set(LOCH_EINVALID, "the server needs a lake");
        goto fail;
    }
    if (!is_loopback(host) && s->o.ntokens == 0) {
        rc = error_set(LOCH_EPERM, "listening on %s (not loopback) needs bearer tokens: set "
                                               "LOCH_TOKENS, --token-file or tokens in the config", host);
        goto fail;
    }
    s->lake = strdup(s->o.lake);
    s->host = strdup(!strcmp(host, "localhost") ? "127.0.0.1" : host);
    s->cors = s->o.cors_origins && *s->o.cors_origins ? strdup(s->o.cors_origins) : NULL;
    /* "*" lets any web page the user opens read this server's answers (and send it
     * statements past the Origin check); without tokens, the server is then every site's */
    if (s->cors && s->o.ntokens == 0 && origin_listed(s, "") == 2) {
        rc = error_set(LOCH_EPERM, "cors_origins \"*\" without tokens would let every web page read and change "
                                   "this lake: set tokens (LOCH_TOKENS, --token-file) or list the origins by name");
        goto fail;
    }
    s->tokens = s->o.ntokens ? calloc(s->o.ntokens, sizeof(char *)) : NULL;
    for (size_t i = 0; i < s->o.ntokens && s->tokens; i++)
        if ((s->tokens[i] = strdup(s->o.tokens[i])))
            s->ntokens++;
    if (!s->lake || !s->host || (s->o.ntokens && s->ntokens != s->o.ntokens)) {
        rc = LOCH_ENOMEM;
        goto fail;
    }
    s->o.max_body = s->o.max_body > 0 ? s->o.max_body : 1 << 20;
    s->o.max_upload = s->o.max_upload > 0 ? s->o.max_upload : INT64_C(10) << 30;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->nworkers = s->o.workers > 0 ? s->o.workers : (int)(cpus > 0 ? cpus : 2);
    if (!(s->w = calloc((size_t)s->nworkers, sizeof(*s->w)))) {
        rc = LOCH_ENOMEM;
        goto fail;
    }
    /* Every lake handle starts from the caller's lake options (its log callback, test
     * hooks), or from the defaults; the rest is the server's. */
    loch_lake_options base;
    if ((rc = lake_options_copy(&base, s->o.lake_options)) < 0)
        goto fail;
    if (!base.log) {
        base.log = log_warning;
        base.log_ctx = s;
    }
    for (int i = 0; i < s->nworkers; i++) {
        loch_lake_options lo = base;
        lo.sandbox = 1;
        lo.create = i == 0;
        lo.memory_limit = s->o.memory_limit;
        lo.threads = s->o.threads > 0 ? s->o.threads : 0; /* each engine may use every core */
        if ((rc = loch_lake_open(&s->w[i].lake, s->lake, &lo)) < 0)
            goto fail;
    }
    /* the models' APIs use the workers' models: one copy of each in the process */
    loch_lake_options wo = base;
    wo.threads = s->o.threads > 0 ? s->o.threads : 0;
    if ((rc = models_api_open(&s->models, &wo)) < 0)
        goto fail;
    loch_lake_options mo = base;
    mo.sandbox = 1;
    mo.create = 1;
    mo.threads = 1;
    mo.memory_limit = s->o.memory_limit;
    if ((rc = loch_lake_open(&s->meta, s->lake, &mo)) < 0)
        goto fail;
    /* the rows endpoint's handle: loch_write_ndjson from every connection thread at once,
     * nothing else on it (loch/write.h) */
    if ((rc = loch_lake_open(&s->writer, s->lake, &mo)) < 0 || (rc = loch_lake_open(&s->flusher_lake, s->lake, &mo)) < 0)
        goto fail;
    buf scratch = BUF_INIT;
    if ((rc = lake_scratch_dir(s->w[0].lake, &scratch)) == 0 &&
        snprintf(s->tmpdir, sizeof(s->tmpdir), "%s", scratch.data) >= (int)sizeof(s->tmpdir))
        rc = error_set(LOCH_EINVALID, "the lake's scratch directory %s is too long a path", scratch.data);
    buf_free(&scratch);
    if (rc < 0)
        goto fail;
    http_options ho = {.host = s->host, .port = s->o.port, .timeout_s = s->o.idle_timeout_s, .max_connections = 256,
                       .max_per_client = s->o.max_connections_per_client, .header_timeout_s = s->o.header_timeout_s};
    http_handlers hh = {.plan = plan, .handle = handle, .done = done, .ctx = s};
    if ((rc = http_start(&s->http, &ho, &hh)) < 0)
        goto fail;
    s->watchdog_running = pthread_create(&s->watchdog, NULL, watchdog_run, s) == 0;
    s->flusher_running = pthread_create(&s->flusher, NULL, flusher_run, s) == 0;
    *out = s;
    return 0;
fail:
    server_free(s);
    return rc;
}

int loch_config_read(const char *path, loch_config_item item, void *ctx)
{
    FILE *f = fopen(path, "rb");
    buf text = BUF_INIT;
    char chunk[4096];
    size_t n;
    conf c;
    if (!f)
        return error_errno(errno, "cannot read the configuration", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_put(&text, chunk, n)) {
            fclose(f);
            buf_free(&text);
            return error_set(LOCH_ENOMEM, "out of memory");
        }
    int rc = ferror(f) ? error_errno(errno, "cannot read the configuration", path) : 0;
    fclose(f);
    rc = rc ? rc : conf_parse(&c, text.data ? text.data : "", text.len);
    buf_free(&text);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        rc = item(ctx, c.v[i].key, c.v[i].value, c.v[i].is_array, c.v[i].line);
    conf_free(&c);
    return rc;
}

int loch_server_port(const loch_server *s) { return s && s->http ? http_port(s->http) : -1; }

void loch_server_stop(loch_server *s, int grace_ms)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    http_quiesce(s->http);
    double until = time_mono() + grace_ms / 1000.0;
    while (atomic_load(&s->active) > 0 && time_mono() < until)
        usleep(20 * 1000);
    pthread_mutex_lock(&s->mu); /* past the grace period: cancel what still runs */
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].busy) {
            s->w[i].cancel = 1;
            loch_lake_interrupt(s->w[i].lake);
        }
    pthread_mutex_unlock(&s->mu);
    /* The cancelled answer (499) its client; a write being committed finishes its
     * commit or leaves nothing, whichever it was doing. */
    until = time_mono() + 5;
    while (atomic_load(&s->active) > 0 && time_mono() < until)
        usleep(20 * 1000);
    http_stop(s->http);
    if (s->watchdog_running)
        pthread_join(s->watchdog, NULL);
    if (s->flusher_running)
        pthread_join(s->flusher, NULL);
    /* A clean shutdown leaves no write only in a write-ahead log: every table's is
     * flushed (a failure leaves the log as it is, for the next flush). */
    if (s->nworkers > 0 && loch_table_flush(NULL, s->w[0].lake, NULL) < 0) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "flushing the write-ahead logs at shutdown failed: %s", loch_error_last());
        log_warning(s, LOCH_LOG_WARNING, msg);
    }
    server_free(s);
}
