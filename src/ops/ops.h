/*
 * ops/ops.h - what the verbs share: the lake handle's insides, table-log I/O (loading
 * snapshots, committing), scans, and synthesized results.
 *
 * Layering: the public API (src/lake.c and the verbs in src/ops/) -> log I/O (ops/txlog.c) -> core
 * (no I/O) and adapters (storage, compute, catalog) behind their headers.
 */
#ifndef LOCH_OPS_H
#define LOCH_OPS_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "adapters/catalog.h"
#include "adapters/compute.h"
#include "core/commit.h"
#include "core/protocol.h"
#include "core/snapshot.h"
#include "core/storage.h"
#include "loch/loch.h"
#include "vector/embed.h"
#include "vector/embsync.h"
#include "vector/hnsw.h"

#define PIN_MAX 64

struct loch_lake {
    char *root;             /* owned; absolute */
    int in_bucket;          /* the lake is in a bucket (s3://): root holds this machine's files only */
    storage *st;            /* owned */
    compute *cp;            /* owned */
    catalog *cat;           /* owned; an index only, may be NULL if it cannot open */
    loch_lake_options opts;
    /* Snapshots pinned by the statement running now: every reference to the same name
     * in one statement sees the same version, through the same scan (whose relations,
     * registered with the engine, live as long as the pin). Cleared between statements. */
    struct {
        char *name;         /* owned; as written in the query ("trips@v3") */
        snapshot *snap;     /* owned */
        char *sql;          /* owned; the scan answered for it */
    } pins[PIN_MAX];
    int pin_count;
    /* The latest snapshot of recently used tables, moved forward commit by commit
     * instead of replayed from the checkpoint each time. */
    struct {
        char *table;        /* owned */
        snapshot *snap;     /* one reference */
    } cache[8];
    int cache_count;
    atomic_long checkpoint_failures; /* post-commit checkpoints that failed (the commit stood) */
    _Atomic uint64_t rng;   /* commit backoff jitter (ops/txlog.c); 0 until first used */
    int in_transaction;     /* the engine has a transaction open (BEGIN ... COMMIT): no lake writes */
    int dml_once;           /* a DML statement that meets a concurrent commit returns LOCH_ECONFLICT
                             * instead of running again: its caller read pinned versions that
                             * it must read afresh itself (ops/embed.c) */
    pthread_mutex_t tails_mu; /* recursive; guards tails */
    struct lake_tails *tails; /* the write-ahead logs open (ops/tail.c); NULL until one is */
    struct lake_lookups *lookups; /* key indexes (ops/lookup.c); NULL until a lookup */
    embed_state embed;      /* the embedding model (vector/embed.h), opened when first used */
    struct search_cache *search; /* a column's vector index, for search (ops/embed.c) */
    struct search_cache *sql_search; /* another, for vector_search() and text_search() in SQL */
    pthread_mutex_t changed_mu; /* guards changed */
    char **changed;         /* tables whose data this handle committed since the last
                               lake_auto_embed, to embed (owned) */
    size_t nchanged;
    int auto_embedding;     /* lake_auto_embed runs: its own commits embed nothing more */
    int api_depth;          /* public calls that write, one inside another (api_enter) */
    pthread_mutex_t gen_mu; /* guards gen */
    ai_model *gen;          /* the generation model ask used last (vector/models.h), or NULL */
    char *gen_path;         /* owned; its name as asked for ("" the default) */
    int engine_objects;     /* the session ran engine statements that may make or change what
                               a name means (CREATE VIEW, ATTACH, SET search_path): from then
                               on only the engine answers queries */
};

/* A caller's lake options (NULL: the defaults) as this loch's newest layout; fields an
 * older version lacks keep their defaults (util/options.h). LOCH_EINVALID for an
 * unknown version. */
int lake_options_copy(loch_lake_options *out, const loch_lake_options *given);
/* Hands a warning to the lake's log callback (opts.log); nothing when there is none. For
 * problems worked around, never for errors, which are returned. */
void lake_warn(const loch_lake *lake, const char *fmt, ...) LOCH_PRINTF(2, 3);
/* The test hold of the lake's options at a named point of a write (util/misc.h). */
/* The lake's model spec (vector/models.h) for a model of this name: the lake options'
 * provider and servers, its threads. */
model_spec lake_model_spec(const loch_lake *lake, const char *name);
/* Auto-embedding (the table property loch.embed.columns, ops/embed.c): a commit that
 * adds or removes data marks its table; each public call that writes ends with
 * lake_auto_embed, which embeds the marked tables' listed columns (what changed only,
 * as loch embed does) and warns, never fails, when it cannot: the write stands. */
/* A table's embeddings are the table TABLE__embeddings (ops/embed.c). */
#define EMBEDDINGS_SUFFIX "__embeddings"
int embeddings_table(const char *name);
/* Walks a comma-separated list (a property's value): the next item and its length,
 * 0 at the end. */
static inline int list_item(const char **at, const char **item, size_t *len)
{
    if (!*at || !**at)
        return 0;
    *item = *at, *len = strcspn(*at, ",");
    *at += *len + ((*at)[*len] == ',');
    return 1;
}
#define EMBED_AUTO_PROPERTY "loch.embed.columns"
#define EMBED_KEY_PROPERTY "loch.embed.key"
/* The longest chunk of a table's embedded texts, in bytes (vector/chunk.h: 800 when not
 * set); embed_chunk_size reads a value of it, refusing what is not CHUNK_SIZE_MIN to
 * CHUNK_SIZE_MAX. */
#define EMBED_CHUNK_PROPERTY "loch.embed.chunkSize"
int embed_chunk_size(const char *value, size_t *out);
void lake_mark_changed(loch_lake *lake, const char *table);
void lake_auto_embed(loch_lake *lake);
/* Around a public call that may write: the outermost one embeds on its way out (an
 * inner call, such as an ingest's INSERT of its rejected rows, may hold a table's log
 * fenced, where embedding must not read). */
static inline void api_enter(loch_lake *lake) { lake->api_depth++; }
static inline int api_leave(loch_lake *lake, int rc)
{
    if (--lake->api_depth == 0)
        lake_auto_embed(lake);
    return rc;
}
void lake_hold(const loch_lake *lake, const char *point);
/* The local directory for scratch files (uploads, results, ingest's copies), as the
 * storage names it for the engine (_loch/tmp); made when missing. */
int lake_scratch_dir(loch_lake *lake, buf *out);
/* The local directory for files kept to save work, any of which may go (_loch/cache). */
int lake_cache_dir(loch_lake *lake, buf *out);

struct loch_result {
    compute_result *cr;     /* owned; engine result, or NULL when synthesized */
    size_t ncols, nrows, alloc_rows;
    char **names;           /* owned (synthesized) */
    loch_kind *kinds;       /* owned (synthesized) */
    char **cells;           /* owned, row-major, NULL = SQL NULL (synthesized) */
    char *message;          /* owned; for statements without rows */
};

/* ---- txlog.c: reading and writing a table's _delta_log -------------------------- */

/* Which snapshot to load. */
typedef struct {
    int64_t version;        /* -1 = latest */
    int64_t timestamp_ms;   /* used when has_timestamp */
    int has_timestamp;
} txlog_at;

int txlog_exists(loch_lake *lake, const char *table);
/* Loads a snapshot; ENOTFOUND when the table (or version) does not exist. */
int txlog_load(loch_lake *lake, const char *table, const txlog_at *at, snapshot **out);
/* Releases one reference to a loaded snapshot. */
void txlog_snapshot_free(snapshot *s);
/* Forgets the cached snapshot of table (after DROP), or of all tables with NULL. */
void txlog_forget(loch_lake *lake, const char *table);
/* The latest version number, or -1 when the table has no log. */
int64_t txlog_latest_version(loch_lake *lake, const char *table);
/* The file times of versions from..to into ms[0..to-from] (-1: not in the log), each at
 * least the one before it plus 1 ms (Delta's rule where file times tie or go back). */
int txlog_commit_times(loch_lake *lake, const char *table, int64_t from, int64_t to, int64_t *ms);

/* A commit being prepared: the structured commit (core/commit.h: its actions, read set,
 * operation and metrics), which table and snapshot it was prepared against, and the
 * write intent that cleans up after it if the process dies. */
typedef struct {
    const char *table;
    const snapshot *base;   /* the snapshot read, borrowed (NULL for a new table) */
    commit cm;              /* cm.read_version is base's version, -1 for a new table */
    int duplicate;          /* set when it failed because the same bytes went in concurrently */
    int adds_existing;      /* its adds name files already in the table (RESTORE): a failed
                               commit leaves them, where it deletes a write's new files */
    storage *intent_store;  /* borrowed: the lake's, while a write intent is held (ops/intent.c) */
    storage_lock *intent;   /* owned; the intent, held while this writer lives */
    char *intent_path;      /* owned; its lake path */
    buf intent_text;        /* what the intent says, rewritten whole as it grows */
} txlog_commit;

/* A query streamed as Arrow IPC (the HTTP API's arrow format): the schema message on
 * the first call, then one record batch per call, then the end-of-stream marker
 * (*done set). */
/* What user SQL may run (ops/allow.c). allow_query: LOCH_EPERM unless sql is exactly
 * one query, in any lake (for text loch places inside its own statements);
 * allow_statement: a statement the engine runs for the user as it is (a sandboxed lake
 * allows queries and EXPLAIN of a query only; a trusted lake anything); *is_query is 1
 * for a query, 0 for an allowed EXPLAIN, -1 when a trusted lake did not look. */
int allow_query(loch_lake *lake, const char *sql);
/* LOCH_EPERM when a sandboxed lake's sql calls a function the sandbox denies, by a
 * lexical look at every name followed by '(' (for statements the parse check cannot
 * take, such as MERGE); 0 in a trusted lake. */
int allow_functions(loch_lake *lake, const char *sql);
int allow_statement(loch_lake *lake, const char *sql, int *is_query);
int sql_stream_arrow(loch_stream **out, loch_lake *lake, const char *sql, const loch_param *params, size_t nparams);
/* 1 and the table's name when sql is one of loch's writes to a lake table (INSERT,
 * DELETE, MERGE, OPTIMIZE, ...): the server queues such statements per table. */
int sql_write_target(const char *sql, char *table, size_t cap);
int sql_stream_ipc(loch_stream *s, buf *out, int *done);

/* Write intents (ops/intent.c): a writer records its staging directory, then the
 * data files it is about to move into the table (durably, one sync), and ends the
 * intent when its commit landed or was abandoned. intent_sweep removes what dead
 * writers left; every data write runs it first. */
int intent_begin(loch_lake *lake, txlog_commit *c, const char *staging); /* staging may be NULL */
int intent_files(txlog_commit *c, const char *lines); /* "file <lake path>\n" lines */
void intent_end(txlog_commit *c);
void intent_sweep(loch_lake *lake);
/* Removes what dead processes left in dir ("" is the lake's root): temp files named
 * with their writer's pid, dropped tables not yet deleted. */
void intent_sweep_dir(loch_lake *lake, const char *dir);

/* Table identity (ops/guard.c): a shared lock on a table's log held while a commit goes
 * in, taken exclusively by DROP TABLE, which moves the table away before deleting it. */
int guard_check_dir(loch_lake *lake, const char *table); /* EINVALID for a symlinked table or log */
/* Whether table is a directory of the lake whose _delta_log is a symbolic link. */
int guard_log_is_link(loch_lake *lake, const char *table);
int guard_take(loch_lake *lake, const char *table, int exclusive, storage_lock **out);
void guard_release(loch_lake *lake, storage_lock *guard);
/* Trades the held shared lock for an exclusive one if no other writer holds the lock
 * now (else ECONFLICT, and *guard is NULL): for the last step before guard_release. */
int guard_try_exclusive(loch_lake *lake, const char *table, storage_lock **guard);
int guard_drop(loch_lake *lake, const char *table);
/* A write that would have created table failed: its directory goes if nothing is in it
 * (it would otherwise look like a table that DROP cannot find). */
void guard_drop_if_empty(loch_lake *lake, const char *table);


/* A commit to a new table until txlog_commit_against names the snapshot it reads
 * (which sets its read version and isolation level; EINVALID for an unknown level). */
void txlog_commit_init(txlog_commit *c, const char *table, const char *operation);
int txlog_commit_against(txlog_commit *c, const snapshot *base);
void txlog_commit_free(txlog_commit *c);
/* Commits atomically as read_version+1, retrying on lost races when the rules allow.
 * On success *version is the committed version. Runs post-commit hooks (checkpoint). */
int txlog_commit_run(loch_lake *lake, txlog_commit *c, int64_t *version);
/* Removes the data files a commit that will not happen had already written. */
void txlog_commit_abort(loch_lake *lake, const txlog_commit *c);
/* Writes a classic checkpoint for the snapshot and updates _last_checkpoint. */
int txlog_checkpoint(loch_lake *lake, const char *table, const snapshot *s);

/* ---- scan.c: the SELECT a table name resolves to -------------------------------- */
int scan_resolve(void *lake, const char *name, buf *sql);
void scan_unpin(loch_lake *lake);
/* Pins s under name for the statement running now (a reference of its own), so that
 * every mention of name reads s. */
int scan_pin(loch_lake *lake, const char *name, snapshot *s);
/* The same with the SQL the name reads (a scan with a log's tail). */
int scan_pin_sql(loch_lake *lake, const char *name, snapshot *s, const char *sql);
/* Whether name is pinned for the statement running now. */
bool scan_pinned(const loch_lake *lake, const char *name);
/* Splits "trips@v3" / "trips@2026-..." into table and txlog_at. 0, or EINVALID. */
int scan_parse_name(const char *name, char *table, size_t cap, txlog_at *at);
int scan_sql(loch_lake *lake, const char *table, const snapshot *s, buf *sql);
/* names as a list of quoted identifiers, each after prefix ("alias." or ""); the
 * snapshot's columns the same way */
int ops_put_names(buf *sql, const char *prefix, const char *const *names, size_t n);
int ops_put_columns(buf *sql, const char *prefix, const snapshot *s);
/* Rows to leave out of a scan_rows_sql, per file, instead of the files' own DVs: load
 * gets ctx = the scan_skip (its `which` set to the list scanned) and the list index. */
typedef struct scan_skip {
    const char *tag;        /* names these sets in the engine's cache: unique to the statement */
    int (*load)(void *ctx, size_t i, const uint64_t **rows, size_t *count);
    void *ctx;
    const size_t *which;
} scan_skip;
/* The rows of the files which[0..n) of s (indexes into s->files) with the table's
 * columns, and with ids also __loch_file (the file's index in s->files) and __loch_row
 * (its 0-based position in the file): what DELETE, UPDATE and MERGE find rows by, and
 * what rewrites (copy-on-write, OPTIMIZE) read. Deleted rows are left out: those of the
 * files' DVs, or skip's when given. EUNSUPPORTED for partitioned or column-mapped
 * tables. */
int scan_rows_sql(loch_lake *lake, const char *table, const snapshot *s, const size_t *which, size_t n,
                  const scan_skip *skip, bool ids, buf *sql);
/* SELECT *<extra> over the files as stored (physical names, stored types), without the
 * rows their deletion vectors delete: a branch for readers that cast themselves (the
 * change data feed). data_files: leave out a _change_type column a file may hold. */
int scan_files_sql(loch_lake *lake, const char *table, const snapshot *s, const log_file **files, size_t n,
                   const char *extra, bool data_files, buf *sql);
/* table_changes('t', from[, to]) calls in sql become the names "t@changes:from~to"
 * (*out, malloc'd; NULL when sql has none); changes_sql answers such a name (the part
 * after "@changes:" is spec) with the feed's SELECT (ops/changes.c). "t@touched:from~to"
 * is the same without feed_required: what the versions' actions changed, for any table. */
int changes_rewrite(const char *sql, char **out);
int changes_sql(loch_lake *lake, const char *table, const char *spec, bool feed_required, buf *sql);
/* The rows f's deletion vector deletes (none without one), checked against its cardinality. */
struct dv_rows;
int scan_file_dv(loch_lake *lake, const char *table, const log_file *f, struct dv_rows *rows);

/* ---- write.c: data files -------------------------------------------------------- */
/* Writes the rows of select_sql as one new data file of `table` and appends its add
 * action to c. cols describe select_sql's columns. */
int write_data_file(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                    const compute_column *cols, size_t ncols);
/* The same, tagging the file with the SHA-256 of the input it came from (ingest). */
int write_data_file_from(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                         const compute_column *cols, size_t ncols, const char *source_sha256);
/* The same as change data files (_change_data/, cdc actions) for the change data
 * feed: cols are the table's columns and _change_type. */
int write_change_file(loch_lake *lake, txlog_commit *c, const char *schema_string, const char *select_sql,
                      const compute_column *cols, size_t ncols);
/* The "loch.schema" tag value of files written under schema_string. */
void write_schema_tag(const char *schema_string, char out[17]);
/* The source hashes (loch.source.sha256) of files which[0..n) of s, joined by ',' into
 * out: what a file rewritten from them carries on, so an input ingested once stays known
 * after DELETE, UPDATE, MERGE or OPTIMIZE rewrote its rows. */
int write_sources_of(const snapshot *s, const size_t *which, size_t n, buf *out);
/* Appends a remove action for every live file of s (replacing a table's contents); the
 * commit then depends on the whole table. */
int write_remove_all(const snapshot *s, commit *c);
/* The table's own columns, for writing rows already shaped like it. */
int write_columns_of(const snapshot *s, compute_column **out, size_t *count);
/* Delta schemaString for columns. */
int write_schema_string(const compute_column *cols, size_t n, buf *out);
/* The one rule for a lake table's name, for the SQL verbs, ingest and the HTTP API
 * alike: 1 to 128 lowercase letters, digits, '_' and '-', not starting with '_' or
 * '-' (loch's own directories) and never '.' or '/' (hidden and path names).
 * LOCH_EINVALID with the reason. */
int table_name_check(const char *name);

/* ---- ask.c ----------------------------------------------------------------------- */
/* Lets go of the lake's generation model. */
void ask_close(loch_lake *lake);

/* ---- result.c ------------------------------------------------------------------- */
int result_new(loch_result **out, size_t ncols, const char *const *names, const loch_kind *kinds);
/* Appends a row of ncols strings (copied; NULL = SQL NULL). */
int result_add_row(loch_result *r, const char *const *cells);
int result_message(loch_result **out, const char *fmt, ...) LOCH_PRINTF(2, 3);
/* Sets r's message (a note beside its rows), replacing any. */
void result_note(loch_result *r, const char *fmt, ...) LOCH_PRINTF(2, 3);

/* ---- lake.c: catalog refresh --------------------------------------------------------- */
/* Records a table's snapshot in the catalog (best effort: the catalog is an index). */
void lake_catalog_note(loch_lake *lake, const char *table, const snapshot *s);



/* ---- lookup.c: point lookups by primary key ---------------------------------------- */
/* SELECT ... FROM t WHERE <t's key> = <literal>: 1 when answered from t's key index
 * (*out set), 0 when the engine must answer it. */
int lookup_try(loch_lake *lake, const char *sql, size_t len, loch_result **out);
/* The same answer as a statement for the engine to run (a SELECT of CASTs of $N, or of
 * the tail's table): for a caller that streams it. 1 with *out filled (free it with
 * lookup_plan_free), 0 when the index does not answer sql. */
typedef struct {
    char *sql;
    compute_param params[72];
    char *texts[72];
    size_t n;
} lookup_plan;
int lookup_prepare(loch_lake *lake, const char *sql, size_t len, lookup_plan *out);
void lookup_plan_free(lookup_plan *p);
/* Drops the key index of table (NULL: all, and the lake's lookup state). */
void lookup_forget(loch_lake *lake, const char *table);

/* ---- tail.c: primary-key tables and their write-ahead log ------------------------ */
#define TAIL_PK_PROPERTY "loch.primaryKey"
/* A table without a key whose INSERTs go through a log too ("true"; default off: its
 * rows are invisible to other Delta readers until a flush) */
#define TAIL_LOG_PROPERTY "loch.wal.enabled"
/* The primary key's columns (borrowed names of s's schema, in a malloc'd array), or
 * none; ECORRUPT when the property names a column the table lacks. */
int tail_key(const snapshot *s, const char ***cols, size_t *n);
/* Whether a column name is one the log keeps beside the table's (__lsn, ...). */
bool tail_reserved(const char *column);
/* Whether the table's writes go through its log (it has a primary key, or
 * loch.wal.enabled = true: an append-only table whose INSERTs are appends to the log). */
bool tail_logged(const snapshot *s);
/* Writes rows_sql's rows (the table's columns; for a delete, its key's) to the table's
 * log as one write of op ("upsert", "insert" or "delete"; "mixed": each row's in
 * rows_sql's column __loch_op), durable when it returns. */
int tail_write(loch_lake *lake, const char *table, const snapshot *s, const char *rows_sql, const char *op,
               int64_t *rows, uint64_t *last);
/* The same numbered by a producer (NULL: not): *duplicate when already written. */
int tail_write_from(loch_lake *lake, const char *table, const snapshot *s, const char *rows_sql, const char *op,
                    const char *producer, uint64_t sequence, int64_t *rows, uint64_t *last, int *duplicate);
/* The scan of the latest version: s with the log's visible tail over it, which it loads
 * into the engine when may_load (never while the engine binds a statement: then a
 * visible tail is an error). */
int tail_scan_sql(loch_lake *lake, const char *table, const snapshot *s, int may_load, buf *sql);
/* Before the engine runs sql: pins every table with a write-ahead log that sql names,
 * with its tail loaded (the engine's resolver cannot run SQL of its own). except, when
 * not NULL, is a name whose first mention is passed over: the target of an INSERT,
 * which the statement writes and need not read (loading a tail finds where its keys
 * are in the table: a scan). */
int tail_prepare(loch_lake *lake, const char *sql, const char *except);
/* For a point lookup over s, with the tail loaded by the statement's tail_prepare: sets
 * hidden[i] when row rows[i] of file files[i] (indexes into s->files) has a change in
 * the tail, and name (cap bytes) to the engine table of the tail's latest change per
 * key, or "" when the tail is empty. LOCH_ENOTFOUND when the tail loaded is not over s
 * (then the engine must answer). */
int tail_point(loch_lake *lake, const char *table, const snapshot *s, const size_t *files, const uint64_t *rows,
               size_t n, bool *hidden, char *name, size_t cap);
/* For a change of the table that flushes its log and then commits (ALTER, CREATE OR
 * REPLACE, RESTORE, an ingest): fences the log (appends wait, wal_fence_begin), then
 * flushes it. *fence (NULL when the table has no log) is released by tail_unfence once
 * the change committed or failed: nothing is appended between the flush and the commit. */
struct wal_fence;
int tail_flush_fenced(loch_lake *lake, const char *table, struct wal_fence **fence);
void tail_unfence(struct wal_fence *fence);
/* Flushes the table's log into one Delta commit (FLUSH t). only_if_logged: 0 for a
 * table without a key instead of an error. */
int tail_flush(loch_lake *lake, const char *table, int only_if_logged, loch_result **out);
/* Flushes the table's log, if it has one with anything in it: before DDL and DML. */
int tail_flush_if_any(loch_lake *lake, const char *table);
typedef struct {
    int has_log;
    uint64_t assigned, durable, visible, flushed;
    int64_t bytes, segments;
} tail_status;
int tail_status_of(loch_lake *lake, const char *table, const snapshot *s, tail_status *out);
/* Drops the vector index loch_search keeps in memory (ops/embed.c). */
void embed_search_forget(loch_lake *lake);
/* Gives the engine vector_search(table, column, query, k => N) and text_search(...): a
 * search's keys and scores as rows (ops/embed.c). */
int embed_register_search(loch_lake *lake);

/* The vector index of an embedded column (ops/vindex.c): an HNSW graph over the
 * column's vectors of one model, with the rows' keys, kept in
 * <table>/_loch_index/. vindex_get reads the file when it is fresh for emb_snap (the
 * embeddings table's snapshot); otherwise, with refresh, brings it up to date from the
 * embeddings at that version and saves it, else ENOTFOUND. refresh 2 also makes the
 * full-text index again (loch embed: its pages carry no checksum of loch's). */
typedef struct vindex vindex;
int vindex_get(loch_lake *lake, const char *table, const char *emb, const snapshot *emb_snap, const char *column,
               const char *key, const char *model, int dim, int refresh, vindex **out);
int vindex_fits(const vindex *v, const char *table, const char *column, const char *model, int dim,
                const snapshot *emb_snap);
void vindex_free(vindex *v);
const char *vindex_table(const vindex *v);
const char *vindex_column(const vindex *v);
const char *vindex_keycol(const vindex *v);
/* Node's row: its key as text, and its chunk number in *chunk. */
const char *vindex_key(const vindex *v, size_t node, int *chunk);
size_t vindex_nodes(const vindex *v);
int vindex_dim(const vindex *v);
size_t vindex_live(const vindex *v); /* nodes not deleted */
/* Whether the texts' full-text index (BM25, beside the vector index) is current. */
int vindex_has_text(const vindex *v);
/* Makes v's full-text index again (from emb, at v's version): one found damaged in use. */
int vindex_text_remake(loch_lake *lake, vindex *v, const char *emb);
/* What the last embedding pass of table.column by model left beside the table
 * (vector/embsync.h): read (LOCH_ENOTFOUND when there is none, LOCH_ECORRUPT when the
 * file is not one) and written whole. */
int vindex_sync_read(loch_lake *lake, const char *table, const char *column, const char *model, embsync *out);
int vindex_sync_write(loch_lake *lake, const char *table, const char *column, const char *model, const embsync *s);
/* Removes the record (and, when the table is gone, its _loch_index/ whole). */
void vindex_sync_forget(loch_lake *lake, const char *table, const char *column, const char *model);
/* node's text, from the full-text index (LOCH_ENOTFOUND without one, or when the file
 * does not have it as node's) */
int vindex_text(const vindex *v, size_t node, buf *out);
/* The k best rows by BM25 for query (FTS5 syntax), among allow's when given: labels
 * are node numbers, dist the BM25 score (higher is better); -1 with the error set.
 * stop (or NULL) is asked now and then: nonzero cancels (LOCH_EINTERRUPTED). */
long vindex_text_search(vindex *v, const char *query, size_t k, const uint64_t *allow, hnsw_hit *out,
                        int (*stop)(void *), void *stop_ctx);
int64_t vindex_version(const vindex *v);
/* Sets the nodes of key's row (every chunk) in allow (a bitmap over nodes); how many. */
int vindex_allow_key(const vindex *v, const char *key, uint64_t *allow);
/* The k nearest nodes to q (among allow's `allowed` nodes, when allow is given): labels
 * are node numbers; -1 with the error set. *exact: every candidate was scored (few
 * rows), rather than the graph walked. */
long vindex_search(vindex *v, const float *q, size_t k, const uint64_t *allow, size_t allowed, hnsw_hit *out,
                   int *exact);
/* After a commit that changed the table's schema or identity: writers prepared before
 * it write again instead of putting rows of the old shape in the log. */
void tail_changed(loch_lake *lake, const char *table);
/* Removes the table's log (DROP TABLE) under its locks: no writer writes into it after. */
int tail_remove(loch_lake *lake, const char *table);
/* Closes the table's log (all with NULL: at the lake's end). */
void tail_forget(loch_lake *lake, const char *table);
/* A flush's commit (ops/dml.c), with the txn actions more[0..nmore) too: the rows of
 * the table whose key has a change in src (the latest change per key, with
 * __change_type and __lsn) are deleted (deletion vectors or rewritten files), src's rows
 * other than deletes are written, change data when the feed is on (from all: every
 * change, in LSN order, when not NULL; else src's), and a txn action (app_id,
 * txn_version), all in one commit, made even when no row changes and not made when the
 * table already has that txn version. counts[0]: rows replaced or deleted, [1]: rows
 * written. */
int ops_flush_apply(loch_lake *lake, const char *table, const char *src, const char *all, const char *const *key,
                    size_t nkey, const char *app_id, int64_t txn_version, const log_txn *more, size_t nmore,
                    int64_t *version, int64_t counts[2]);
/* The same for a table without a key (ops/insert.c): the engine's table src (the
 * table's columns and the log's) appended in LSN order, one blind-append commit with
 * the txn actions. */
int ops_flush_append(loch_lake *lake, const char *table, const char *src, const char *app_id, int64_t txn_version,
                     const log_txn *more, size_t nmore, int64_t *version, int64_t counts[2]);

/* ---- verbs (create.c, insert.c, tables.c) ----------------------------------------- */
int ops_create_table(loch_lake *lake, const char *table, const char *select_sql, const char *columns,
                     int or_replace, int if_not_exists, loch_result **out);
int ops_insert(loch_lake *lake, const char *table, const char *rest, loch_result **out);
/* The temporary table __loch_ins, shaped like s's schema (types, NOT NULL): rows are
 * inserted into it by INSERT's rules before loch writes them. */
int insert_stage_table(loch_lake *lake, const snapshot *s);
/* Rewrites the last error's mentions of __loch_ins as the user's table name. */
void insert_own_name(const char *table);
/* DELETE / UPDATE (ops/dml.c): sql is the whole statement, after_name the offset just
 * past the table's name in it. TRUNCATE removes every file. */
int ops_delete(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out);
int ops_update(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out);
int ops_truncate(loch_lake *lake, const char *table, loch_result **out);
/* DELETE (update 0) or UPDATE of a table with a primary key, through its log: the rows
 * it changes (found over the table and its tail) as one write of deletes or upserts. A
 * SET of a key column is refused (DELETE and INSERT it under the new key). */
int ops_dml_logged(loch_lake *lake, const char *table, const snapshot *s, const char *sql, size_t after_name,
                   int update, loch_result **out);
int ops_merge(loch_lake *lake, const char *table, const char *sql, size_t after_name, loch_result **out);
/* OPTIMIZE / VACUUM / RESTORE (ops/maintain.c). target <= 0: the table's target size;
 * retain_ms < 0: the table's delta.deletedFileRetentionDuration. */
int ops_optimize(loch_lake *lake, const char *table, const char *const *zorder, size_t nz, int64_t target,
                 loch_result **out);
int ops_vacuum(loch_lake *lake, const char *table, int64_t retain_ms, bool dry_run, bool force, loch_result **out);
int ops_restore(loch_lake *lake, const char *table, const txlog_at *to, loch_result **out);
/* After a write that committed: OPTIMIZE when the table asks for it
 * (delta.autoOptimize.autoCompact) and compaction is due: enough small files have
 * gathered, or deletion vectors hide enough of the rows. */
void ops_auto_optimize(loch_lake *lake, const char *table);
bool ops_compaction_due(const snapshot *s);
int ops_set_properties(loch_lake *lake, const char *table, const char **keys, const char **values, size_t n,
                       loch_result **out);
#endif
