/*
 * adapters/compute.h - the SQL engine behind loch (DuckDB), seen through a narrow door.
 *
 * Nothing outside compute_duckdb.c sees a DuckDB type. One compute object is one
 * DuckDB database with one connection, used by one thread at a time.
 *
 * Table names the engine does not know are handed to the resolver during binding; it
 * answers with a SELECT over the snapshot's files, which runs through DuckDB's query()
 * table function, so filters and projections still reach the Parquet reader.
 *
 * Sandbox (docs/http.md, "Security model"): external access off, only the lake directory allowed,
 * extension auto-loading off, then the configuration is locked so user SQL cannot
 * undo any of it.
 *
 * Relations. What loch holds in memory and a scan must combine with the files is handed
 * to the engine as data, never spelled out in SQL text: compute_register takes a
 * relation and appends to the generated SQL the few words that read it. Today the one
 * kind is a scan's skipped rows: per file of one read_parquet list, the row positions
 * its deletion vector removes, kept as a bitmap (or a sorted array where a bitmap would
 * be sparse) and read by a function loch gives the engine at open,
 *
 *   ... FROM system.main.read_parquet([f0, f1, ...])
 *       WHERE system.main.loch_keep(<id>, file_index, file_row_number)
 *
 * so a table of a thousand files with deletion vectors is still one Parquet scan, and
 * filters and projections still reach the reader. Rows a scan joins against rather than
 * filters by (a top-k from a vector index as (file, row, score), a write-ahead log's
 * tail as rows) are the next kinds of the same call: registered the same way, read as a
 * table function by id, with the same lifetime.
 *
 * Lifetime: a relation belongs to the statement that registered it.
 * compute_relations_clear, at the statement's end, forgets every one; a plan still
 * running holds its own reference to what it reads (taken when the engine binds the
 * function), so the order of the two does not matter and a relation is freed by
 * whichever lets go last. Ids only grow, so a later statement never finds an earlier
 * one's relation under its id. Registrations are loch's own: they create no catalog
 * entry, user SQL cannot make one, and a sandboxed query may not call loch_keep itself
 * (ops/allow.c); a trusted one may, and finds only the relations of its own statement.
 * Each compute object is one engine, so one HTTP worker's relations are never seen by
 * another's queries.
 */
#ifndef LOCH_ADAPTERS_COMPUTE_H
#define LOCH_ADAPTERS_COMPUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct compute compute;
typedef struct compute_result compute_result;

/* Writes a SELECT for `name` into sql. Returns 0, LOCH_ENOTFOUND (let the engine report
 * an unknown table) or another error (its message becomes the query's error). */
typedef int (*compute_resolver)(void *ctx, const char *name, buf *sql);

typedef struct {
    const char *memory_limit; /* e.g. "2GB"; NULL = engine default (80% of RAM) */
    int threads;              /* 0 = engine default */
    bool sandbox;
    const char *lake_root;    /* absolute; the one directory the sandbox allows */
} compute_options;

int compute_open(compute **out, const compute_options *opts, compute_resolver resolver, void *ctx);
void compute_free(compute *c);

/* Whether sql is exactly one query (SELECT, VALUES, FROM-first, DESCRIBE, SHOW,
 * SUMMARIZE), as the engine's own parser sees it: parsed only, never bound, since
 * binding some statements already acts (EXPORT DATABASE creates its directory).
 * A syntax error or several statements give LOCH_EINVALID with the engine's words;
 * any other statement sets *is_query to 0. A query that calls one of the functions in
 * deny (NULL-terminated; by the parse tree, at any depth) is LOCH_EPERM naming it.
 * loch's allow-lists are built on this. */
int compute_is_query(compute *c, const char *sql, const char *const *deny, int *is_query);

/* A statement in a trusted session may define a macro named `query`, the function the
 * replacement scan calls; it cannot name its function with a schema (loch's generated
 * SQL does: system.main.read_parquet), so such a macro is dropped again and reported
 * (LOCH_EINVALID). 0 when there is none. */
int compute_unshadow(compute *c);

/* Runs SQL, discarding any result. */
int compute_exec(compute *c, const char *sql);
/* Runs exactly one statement (LOCH_EINVALID if the engine reads several), discarding
 * its result: for loch's statements that carry user text. */
int compute_exec_one(compute *c, const char *sql);
/* Runs one statement and keeps its result. */
int compute_query(compute *c, const char *sql, compute_result **out);
/* A value for a $N parameter, as text (NULL: SQL NULL). */
typedef struct {
    int kind;                 /* COMPUTE_STRING, COMPUTE_NUMBER or COMPUTE_BOOL */
    const char *text;
} compute_param;
/* Runs one statement with its $1..$N parameters bound (prepared, never spliced). */
int compute_query_params(compute *c, const char *sql, const compute_param *params, size_t nparams,
                         compute_result **out);
/* Cancels the running statement from another thread (or a signal handler). */
void compute_interrupt(compute *c);
/* How many times compute_interrupt was called: work of loch's own that runs long
 * notes it first and stops when it changes. */
unsigned compute_interrupts(compute *c);
/* Appends path as the SQL string literal that the engine's file readers (read_parquet,
 * read_csv, read_json) take as that one file and never as a pattern: the engine globs a
 * name holding '*', '?' or '[', so `gl[1].csv` would read `gl1.csv` when that exists.
 * Every file name handed to a reader goes through here. */
int compute_put_path(buf *sql, const char *path);
/* A SQL scalar function of one VARCHAR that returns FLOAT[] (e.g. embed(text)): the
 * engine hands fn the texts of a chunk of rows (NULLs left out: their result is NULL)
 * and fn writes *dim floats per text into out (room for n * max_dim). Called first with
 * n = 0 to learn *dim (which may load a model); a negative return fails the statement
 * with loch's error message. */
typedef int (*compute_vector_fn)(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out,
                                 size_t max_dim, int *dim);
int compute_register_vector_fn(compute *c, const char *name, size_t max_dim, compute_vector_fn fn, void *ctx);

/* A scalar function name(VARCHAR [, INTEGER]) -> VARCHAR[]: fn cuts a text into pieces,
 * given as (start, length) pairs into it, and returns how many there are (cap may be
 * too few: it is then called again with room for all). The second argument, a size
 * from lo to hi (else the statement fails), is fn's arg; without it arg is 0. A NULL
 * text or size gives NULL. */
typedef size_t (*compute_split_fn)(const char *text, size_t len, size_t arg, size_t *pairs, size_t cap);
int compute_register_split_fn(compute *c, const char *name, compute_split_fn fn, size_t lo, size_t hi);

/* The rows of a search table function: the key column's name and whether its values
 * are integers (else text), the keys as text, their chunks and scores, best first. */
typedef struct {
    char key_name[256];
    int key_is_int;
    size_t n;
    char **keys;   /* malloc'd, each malloc'd */
    int *chunks;   /* malloc'd */
    float *scores; /* malloc'd */
} compute_search_rows;
/* Runs a search for name(table, column, query [, k => N]); fills out or sets the error.
 * Called while the engine binds the statement: it must not run SQL on this engine. */
typedef int (*compute_search_fn)(void *ctx, const char *table, const char *column, const char *query, int64_t k,
                                 compute_search_rows *out);
/* A table function name(VARCHAR table, VARCHAR column, VARCHAR query, k => BIGINT) whose
 * rows fn makes: (<key column> BIGINT or VARCHAR, chunk INTEGER, score FLOAT). */
int compute_register_search_fn(compute *c, const char *name, compute_search_fn fn, void *ctx);
/* Makes an Arrow stream readable as the (temporary) view `name`, which can be scanned
 * once; drop the view before releasing the stream. */
struct ArrowArrayStream;
int compute_register_arrow(compute *c, const char *name, struct ArrowArrayStream *stream);
/* ---- relations (see the essay above) ---- */

typedef enum {
    COMPUTE_RELATION_SKIP, /* a filter on one read_parquet: which rows of each file to skip */
} compute_relation_kind;

typedef struct {
    compute_relation_kind kind;
    size_t nfiles;          /* COMPUTE_RELATION_SKIP: the files of the read_parquet list, in order */
    /* Per file, the name of its skip set, or NULL when it skips nothing. The same key must
     * always mean the same rows: the engine keeps recent sets by key across statements
     * (up to a memory budget) and asks for the rows only of those it does not hold. */
    const char *const *keys;
    /* Fills *rows and *count with file i's rows to skip: 0-based positions as stored,
     * ascending and unique (as core/dv.c decodes them), valid until the next call. */
    int (*load)(void *ctx, size_t i, const uint64_t **rows, size_t *count);
    void *ctx;
} compute_relation;

/* Registers rel for the statement running now and appends to sql what reads it: for
 * COMPUTE_RELATION_SKIP a predicate to place in the WHERE clause right after the
 * read_parquet it filters. */
int compute_register(compute *c, const compute_relation *rel, buf *sql);
/* Forgets the relations registered so far (at the end of a statement). */
void compute_relations_clear(compute *c);
/* Relations alive: registered and not cleared, or still held by a plan (for tests). */
long compute_relations_live(const compute *c);
/* Whether a column of this name in a data file would hide the engine's own row position
 * columns that a COMPUTE_RELATION_SKIP predicate reads (then that predicate is wrong for
 * the file, and loch refuses the scan instead). */
bool compute_skip_reserved(const char *column);

/* From another thread: how far the running statement is (0..1), and the rows its
 * scans have read; -1 when nothing is running, the engine cannot tell yet, or
 * tracking is off. Tracking is off unless turned on (the engine then works out its
 * progress at every step of every statement: a tenth of a short query's time). */
double compute_progress(compute *c, int64_t *rows);
int compute_track_progress(compute *c, bool on);

typedef enum { COMPUTE_STRING, COMPUTE_NUMBER, COMPUTE_BOOL, COMPUTE_NESTED } compute_kind;

/* A query whose rows are fetched a chunk (about 2,048 rows) at a time; never all held.
 * Cells arrive as text (nested values as JSON). Only queries (SELECT) stream. */
typedef struct compute_stream compute_stream;
int compute_stream_open(compute *c, const char *sql, const compute_param *params, size_t nparams,
                        compute_stream **out);
size_t compute_stream_columns(const compute_stream *s);
const char *compute_stream_name(const compute_stream *s, size_t col);
const char *compute_stream_type(const compute_stream *s, size_t col);
compute_kind compute_stream_kind(const compute_stream *s, size_t col);
/* The next chunk's row count, 0 at the end. */
int compute_stream_next(compute_stream *s, size_t *rows);
/* A cell of the current chunk (not NUL-terminated; *len bytes), or NULL for SQL NULL. */
const char *compute_stream_cell(compute_stream *s, size_t row, size_t col, size_t *len);
void compute_stream_free(compute_stream *s);
/* The same, with chunks as Arrow arrays of the engine's own types (struct arrays of
 * the columns, described by *schema, which the caller releases). */
struct ArrowSchema;
struct ArrowArray;
int compute_arrow_open(compute *c, const char *sql, const compute_param *params, size_t nparams,
                       compute_stream **out, struct ArrowSchema *schema);
/* The next chunk; out->release is NULL at the end. */
int compute_arrow_next(compute_stream *s, struct ArrowArray *out);


/* A query of BIGINT columns without NULLs, its rows handed to each() a chunk at a time
 * (cols[j][i]: column j of row i, rows of them): a result of millions of rows passes
 * through loch without being held whole, by the engine or by loch. each() returning < 0
 * stops the query with that error. */
typedef int (*compute_i64_chunk)(void *ctx, const int64_t *const *cols, size_t ncols, size_t rows);
int compute_query_i64(compute *c, const char *sql, compute_i64_chunk each, void *ctx);

/* A query of two columns, (VARCHAR, FLOAT[]), its rows handed to each() a chunk at a
 * time: keys[i] (key_lens[i] bytes, not NUL-terminated; NULL for SQL NULL) and the row's
 * dim floats at vecs + i * dim. A list that is NULL or not dim long is LOCH_ECORRUPT,
 * naming its length. Vectors arrive as the engine holds them, never as text. */
typedef int (*compute_vectors_chunk)(void *ctx, const char *const *keys, const size_t *key_lens, const float *vecs,
                                     size_t rows);
int compute_query_vectors(compute *c, const char *sql, size_t dim, compute_vectors_chunk each, void *ctx);

size_t compute_result_columns(const compute_result *r);
size_t compute_result_rows(const compute_result *r);
const char *compute_result_name(const compute_result *r, size_t col);
/* The engine's name of the column type, e.g. "BIGINT", "DECIMAL(10,2)". */
const char *compute_result_type(const compute_result *r, size_t col);
compute_kind compute_result_kind(const compute_result *r, size_t col);
/* The value as text (malloc'd, caller frees) or NULL for SQL NULL. */
char *compute_result_text(const compute_result *r, size_t row, size_t col);
/* A cell as int64 (0 when NULL). */
int64_t compute_result_i64(const compute_result *r, size_t row, size_t col);
void compute_result_free(compute_result *r);

/* The columns of a SELECT as Delta sees them. */
typedef struct {
    char *name;        /* owned */
    char *delta_type;  /* owned; Delta schema JSON for the type */
    char *write_expr;  /* owned; expression over the column giving a Delta-compatible value */
    bool ntz;          /* uses timestamp_ntz (needs the timestampNtz table feature) */
    bool not_null;     /* declared NOT NULL (Delta nullable=false) */
    char *metadata;    /* owned; the field's Delta metadata JSON object, NULL = {} */
} compute_column;

int compute_describe(compute *c, const char *select_sql, compute_column **cols, size_t *count);
void compute_columns_free(compute_column *cols, size_t count);
/* Reads the constraints of a temporary table made from a CREATE TABLE column list:
 * marks NOT NULL columns (a primary key's are), puts the primary key's columns in
 * primary_key ("a,b"; empty when none), and refuses what a Delta table cannot keep for
 * loch yet (UNIQUE, CHECK, DEFAULT) with LOCH_EUNSUPPORTED. */
int compute_table_constraints(compute *c, const char *table, compute_column *cols, size_t count, buf *primary_key);

/* One Parquet file written by compute_write_parquet. */
typedef struct {
    char *path;       /* owned; absolute local path */
    int64_t rows, size;
    buf stats;        /* Delta `stats` JSON */
} compute_file;

/* Writes select_sql's rows (whose columns are cols) as Parquet files of about
 * target_bytes each into a new local directory dir; one entry per file written. */
int compute_write_parquet(compute *c, const char *select_sql, const char *dir, int64_t target_bytes,
                          const compute_column *cols, size_t ncols, compute_file **files, size_t *count);
void compute_files_free(compute_file *files, size_t count);

/* One `add` row of a checkpoint, read column by column (the bulk of a checkpoint). The
 * small maps come as JSON text; strings are valid only during the callback. */
typedef struct {
    const char *path, *stats;           /* stats may be NULL */
    int64_t size, modification_time;
    bool data_change;
    const char *partition_values_json;  /* "{...}" or NULL */
    const char *deletion_vector_json;   /* "{...}" or NULL */
    const char *tags_json;              /* "{...}" or NULL */
} compute_add_row;

typedef struct {
    int (*add)(void *ctx, const compute_add_row *row);
    /* Every other row, as a JSON object text {"remove":...,"metaData":null,...}. */
    int (*other)(void *ctx, const char *json, size_t len);
    void *ctx;
} compute_checkpoint_reader;

/* The schema elements of a Parquet file, root first, depth first, as the file lists
 * them: name, field_id (-1 when absent), number of children, whether the element is
 * repeated, and its converted type ("LIST", "MAP", ... or NULL). Strings are valid only
 * during the callback. */
typedef int (*compute_parquet_element)(void *ctx, const char *name, int64_t field_id, int64_t children,
                                       bool repeated, const char *converted);
int compute_parquet_schema(compute *c, const char *path, compute_parquet_element element, void *ctx);

/* Reads a Parquet checkpoint (or sidecar) file. */
int compute_read_checkpoint(compute *c, const char *path, const compute_checkpoint_reader *reader);
struct checkpoint_field; /* core/checkpoint.h */
/* Writes an NDJSON file of actions as a Delta classic checkpoint Parquet file with the
 * given columns (core/checkpoint.h's checkpoint_schema). */
int compute_write_checkpoint(compute *c, const char *ndjson_path, const char *parquet_path,
                             const struct checkpoint_field *columns);

#endif
