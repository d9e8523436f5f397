/*
 * ingest/ingest.h - what the pieces of `loch ingest` share; private to src/ingest/.
 *
 * An ingest is a pipeline over its inputs, driven by ingest.c (loch_ingest):
 *
 *   step        file          what it does
 *   expand      inputs.c      arguments (files, directories, globs, "-") -> inputs
 *   detect      detect.c      each input's format, compression and text encoding
 *   scan        csv.c         plain CSV/TSV: one C scan hashes, checks and types it
 *               json.c        JSON/NDJSON: the same over the mapped file
 *   plan        plan.c        each input's columns and the SELECT that reads them
 *               arrow.c       (Arrow IPC read in place; csv.c types what no scan did)
 *   reconcile   reconcile.c   the table's columns after the ingest (widening by
 *                             core/types.c), each input's rows shaped like them
 *   write,      commit.c      each input one data file, all of them one commit; the
 *   commit                    rows --rejects set aside stored after it
 *   progress    meter.c       a helper thread reports bytes and rows as they pass
 *
 * The byte-level scanners and codecs the steps use are in src/formats/; the commit is
 * data (core/commit.h), written and run by src/ops/ (write.c, txlog.c) as every loch
 * commit is.
 *
 * Ownership: an inputs list owns its inputs and everything they point to except the
 * meter, which the driver owns and lends to the scans; an input's Arrow stream and
 * view stay until ingest_arrow_done, after the commit.
 */
#ifndef LOCH_INGEST_INGEST_H
#define LOCH_INGEST_INGEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ops/ops.h"
#include "util/arena.h"
#include "util/buf.h"

/* An ingest's progress (meter.c): the scans and the writes update the counters from
 * any thread; a helper thread reads them. Zeroed, with started set, before meter_start. */
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

/* A column of one input, as planned (plan.c). */
typedef struct {
    char *name;       /* owned */
    char *type;       /* owned; Delta type JSON */
    char *expr;       /* owned; over the file's source SELECT */
} in_col;

/* One input file, from its expansion to the commit. */
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
    char *typed_src;  /* owned; the read with the types a C scan decided, or NULL */
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

/* A column of the table being written (reconcile.c). */
typedef struct {
    char *name, *type; /* owned; Delta type JSON */
    char *metadata;    /* owned; the existing field's metadata JSON, NULL for {} */
    int is_new;
    int not_null;      /* an existing NOT NULL column: a NULL for it fails the ingest */
} tcol;

typedef struct {
    tcol *v;
    size_t n;
} tschema;

/* What the driver hands the commit: the planned inputs and what it counted. */
typedef struct {
    const char *table;
    const loch_ingest_options *opts;
    const snapshot *s;      /* the table's latest snapshot, NULL for a new table */
    const inputs *in;
    buf *sqls;              /* per input, the SELECT that reads it (unused for skipped ones) */
    meter *m;
    size_t skipped, used;   /* inputs whose bytes the table holds already, and the others */
    int64_t bytes;          /* bytes of the inputs used */
    double started;         /* time_mono() when the ingest began */
} ingest_plan;

/* ---- meter.c ----------------------------------------------------------------------- */
/* Starts the helper thread when opts asks for progress (version 2 options); total is
 * the bytes of all inputs. meter_stop joins it; both are harmless when it never ran. */
void meter_start(meter *m, loch_lake *lake, const loch_ingest_options *opts, int64_t total);
void meter_stop(meter *m);

/* ---- inputs.c ---------------------------------------------------------------------- */
/* Appends the inputs args[0..count) name; LOCH_EINVALID when there are none. */
int ingest_expand(loch_lake *lake, const char *const *args, size_t count, inputs *in);
void inputs_free(inputs *in);
/* Sets x->sha and x->bytes from the file's bytes. */
int ingest_hash_file(input *x);

/* ---- detect.c ---------------------------------------------------------------------- */
/* given (--format), or the format the name or the first bytes say: "csv", "tsv",
 * "json", "ndjson", "parquet", "arrow" or "pdf". */
const char *ingest_format_of(const input *x, const char *given);
/* Whether the name says .gz, .gzip, .zst or .zstd. */
int ingest_is_compressed(const input *x);
/* Sets x->encoding from given (--encoding) or the file's first bytes. */
int ingest_pick_encoding(input *x, const char *given);
/* After the engine failed on x: when its message is about UTF-8 and the file is plain
 * UTF-8 text, replaces it with one naming the first bad byte's line and column. */
void ingest_explain_utf8(const input *x);

/* ---- csv.c ------------------------------------------------------------------------- */
/* The one C scan of a plain delimited file, when x is one the scan reads exactly as the
 * engine would: hashes it, checks every record and sets x->typed_src to a read with
 * the types decided (columns named in overrides are read as text, for --schema to
 * cast). Otherwise x->typed_src stays NULL. A bad record is an error naming its line. */
int ingest_scan_csv(loch_lake *lake, input *x, const char *overrides);
/* For a file the scan did not read: the sniffer's verdict, and a field count where the
 * bytes allow; may settle x->delim and x->longest. */
int ingest_check_csv_layout(loch_lake *lake, input *x);
/* Pushes x's columns, typed by one SQL aggregate over src (raw: src's text columns). */
int ingest_infer_csv(loch_lake *lake, input *x, const char *src, compute_column *raw, size_t n);
/* Appends the read_csv options for x's longest record, when it needs more than the
 * engine's default line limit. */
int ingest_put_line_limit(buf *sql, const input *x);

/* ---- json.c ------------------------------------------------------------------------ */
/* The one C scan of a plain JSON file: hashes it and sets x->typed_src, which stays NULL
 * where the engine is to decide. Malformed JSON is an error naming line and column. */
int ingest_scan_json(input *x);
/* Replaces the read in sql by one with the types the engine's sniff decided. */
int ingest_pin_json_types(loch_lake *lake, const input *x, buf *sql);

/* ---- arrow.c ----------------------------------------------------------------------- */
/* Maps an Arrow IPC file and writes a SELECT over a view of its batches into src. */
int ingest_arrow_input(loch_lake *lake, input *x, buf *src);
/* Drops the view and releases the stream (the mapping goes with it); for any input. */
void ingest_arrow_done(loch_lake *lake, input *x);

/* ---- plan.c ------------------------------------------------------------------------ */
/* Decides x's columns and writes the SELECT giving its rows into sql. */
int ingest_plan_file(loch_lake *lake, input *x, const char *schema_override, buf *sql);
/* Appends a column (copies of the strings) to x. */
int ingest_push_col(input *x, const char *name, const char *type, const char *expr);
/* Whether --schema (overrides) names column. */
int ingest_overridden(const char *overrides, const char *column);
/* Shortens the engine's last error: no generated SQL, no megabyte-long lines. */
void ingest_drop_sql_excerpt(void);

/* ---- reconcile.c ------------------------------------------------------------------- */
void tschema_free(tschema *t);
/* The table's columns after this ingest (s: the table, NULL when new); *widened when
 * an existing column's type grows, so the table's rows must be rewritten. */
int ingest_merge_schema(const snapshot *s, int overwrite, const inputs *in, tschema *t, int *widened);
/* The columns as the write path wants them (t->n of them; compute_columns_free). */
int ingest_table_columns(const tschema *t, compute_column **out);
/* Delta schemaString of the columns. */
int ingest_schema_of(const tschema *t, buf *out);
/* The rows of fsql (x's columns) shaped like t: cast where needed, NULL for the rest. */
int ingest_shaped_sql(arena *a, const tschema *t, const input *x, const char *fsql, buf *sql);

/* ---- commit.c ---------------------------------------------------------------------- */
/* Whether a live data file of s carries the source hash sha. */
int ingest_already_in(const snapshot *s, const char *sha);
/* Reconciles, writes and commits what p planned; *out is the summary row. With
 * *created_concurrently set, the error is a lost race to create the table. */
int ingest_commit(loch_result **out, loch_lake *lake, const ingest_plan *p, int *created_concurrently);
/* The one-row result of an ingest. */
int ingest_summary(loch_result **out, const char *table, int64_t version, int64_t rows, size_t files,
                   size_t skipped, int64_t bytes, double seconds, const char *schema_json, int64_t rejected);

#endif
