/*
 * ops/tail.c - primary-key tables and their write-ahead log (src/wal/): writes that are
 * durable in a millisecond, reads that see them at once, and the flush that turns the
 * log's tail into one Delta commit.
 *
 * A table with a primary key (table property loch.primaryKey = "id" or "a,b", set by
 * CREATE TABLE ... PRIMARY KEY) takes every INSERT through its log, under
 * _loch/wal/<table>/: the rows, each with its LSN and change type (upsert or delete),
 * are one write of the log, acknowledged once durable. Nothing in _delta_log changes.
 * A table without a key takes its INSERTs the same way when loch.wal.enabled is "true":
 * appends (change type insert), every row kept, no positions to find, and a flush that
 * is one append commit (ops/insert.c).
 *
 *   read    the latest version of the table is its Delta snapshot with the log's tail
 *           over it: the changes with LSN above the snapshot's flushed LSN, up to the
 *           log's durable LSN. The tail's latest change per key is loaded into a
 *           temporary table of the engine (kept between statements, extended by new
 *           frames only), and the scan is
 *             SELECT cols FROM <snapshot> b WHERE NOT EXISTS (a change of b's key)
 *             UNION ALL SELECT cols FROM <latest changes> WHERE not a delete
 *           Time travel ("t@v3") reads Delta versions only.
 *   flush   under the log's flush lock: a new segment starts, so the frames to flush
 *           are all in older ones; their latest change per key becomes one MERGE into
 *           the snapshot (ops/dml.c: deletion vectors or rewritten files, the change
 *           data feed) whose commit also carries a txn action, appId "loch.wal/<table
 *           id>", version = the last LSN flushed. Then the older segments go.
 *
 * Exactly once. The flushed LSN lives in the Delta log, in the same commit as the rows,
 * so a crash between the commit and the truncation leaves frames the next reader and
 * the next flush skip (their LSNs are at or below the txn version). A log whose files
 * were lost starts again above the flushed LSN, never below it (wal_options.floor).
 *
 * The table schema's identity (its schema tag and table id) is in each segment's
 * header: DDL flushes first, and the next write starts a segment of the new schema.
 */
#include "ops/ops.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dv.h"
#include "core/prune.h"
#include "core/sqlscan.h"
#include "formats/arrow_read.h"
#include "formats/ndjson_arrow.h"
#include "util/misc.h"
#include "util/options.h"
#include "wal/frame.h"
#include "wal/wal.h"

#define TAIL_MAX 8
/* txn app ids a flush records per producer: its last sequence, and that write's LSN */
#define PRODUCER_APP "loch.producer/"
#define PRODUCER_LSN_APP "loch.producer.lsn/"

/* A table's open log, and what of its tail the engine holds. */
typedef struct {
    char table[256];
    char tag[64];           /* the table's schema tag and id, as segments name it */
    wal *w;
    uint64_t from, to;      /* the engine's temp table holds changes from < LSN <= to */
    int loaded;
    struct write_plan *plan; /* loch_write's view of the table (its schema, key, formats) */
    int users;              /* loch_write calls using it now: it is not closed under them */
    /* Where the tail's keys are in the snapshot it was loaded over (version pos_version):
     * per file, the rows whose key has a change (pos), and what the scan leaves out of
     * the file (skip: pos and the file's own deletion vector). A query scans the files
     * with skip, as deletion vectors, and adds the tail's rows: no join per query. */
    int64_t pos_version;
    size_t pos_files;
    dv_rows *pos, *skip;
    size_t *all;            /* 0..pos_files-1: the scan's list */
    scan_skip sk;
    char pos_tag[128];
} tail_slot;

static void slot_positions_free(tail_slot *t);

static void plan_release(struct write_plan *p);

struct lake_tails {
    tail_slot slots[TAIL_MAX];
};

static void slot_close(tail_slot *t)
{
    wal_close(t->w);
    plan_release(t->plan);
    slot_positions_free(t);
    memset(t, 0, sizeof(*t));
}

void tail_forget(loch_lake *lake, const char *table)
{
    if (!lake->tails)
        return;
    for (int i = 0; i < TAIL_MAX; i++)
        if (lake->tails->slots[i].w && (!table || strcmp(lake->tails->slots[i].table, table) == 0))
            slot_close(&lake->tails->slots[i]);
    if (!table) {
        free(lake->tails);
        lake->tails = NULL;
    }
}

/* ---- the table's key ------------------------------------------------------------------ */

int tail_key(const snapshot *s, const char ***cols, size_t *n)
{
    *cols = NULL;
    *n = 0;
    const char *pk = snapshot_property(s, TAIL_PK_PROPERTY);
    if (!pk && !tail_logged(s))
        return 0;
    /* the log's own columns sit beside the table's in every frame */
    for (size_t i = 0; i < s->schema.count; i++)
        if (tail_reserved(s->schema.fields[i].name))
            return error_set(LOCH_EUNSUPPORTED, "a table with a write-ahead log cannot have a column named %s (the "
                             "log's own)", s->schema.fields[i].name);
    if (!pk)
        return 0;
    const char **v = calloc(s->schema.count + 1, sizeof(char *));
    if (!v)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (const char *p = pk; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t i = 0;
        while (i < s->schema.count &&
               (strlen(s->schema.fields[i].name) != len || strncmp(s->schema.fields[i].name, p, len) != 0))
            i++;
        if (i == s->schema.count || *n == s->schema.count) {
            free(v);
            return error_set(LOCH_ECORRUPT, "%s = \"%s\" names a column the table does not have", TAIL_PK_PROPERTY,
                             pk);
        }
        v[(*n)++] = s->schema.fields[i].name;
        p = end ? end + 1 : p + len;
    }
    if (*n == 0) {
        free(v);
        return error_set(LOCH_ECORRUPT, "%s is empty", TAIL_PK_PROPERTY);
    }
    *cols = v;
    return 0;
}

bool tail_reserved(const char *column)
{
    return !strcmp(column, WAL_COL_LSN) || !strcmp(column, WAL_COL_CHANGE) || !strcmp(column, WAL_COL_TIME);
}

bool tail_logged(const snapshot *s)
{
    const char *on = snapshot_property(s, TAIL_LOG_PROPERTY);
    return snapshot_property(s, TAIL_PK_PROPERTY) != NULL || (on && strcmp(on, "true") == 0);
}

static void app_id(const snapshot *s, char *out, size_t cap) { snprintf(out, cap, "loch.wal/%s", s->metadata.id); }

static uint64_t flushed_of(const snapshot *s)
{
    char app[128];
    app_id(s, app, sizeof(app));
    int64_t v = snapshot_txn_version(s, app);
    return v > 0 ? (uint64_t)v : 0;
}

static void tag_of(const snapshot *s, char out[64])
{
    char h[17];
    write_schema_tag(s->metadata.schema_string, h);
    snprintf(out, 64, "%s-%.36s", h, s->metadata.id);
}

static int log_dir(loch_lake *lake, const char *table, buf *out)
{
    char rel[300];
    snprintf(rel, sizeof(rel), "_loch/wal/%s", table);
    buf_clear(out);
    return lake->st->engine_path(lake->st, rel, out);
}

/* The table's log, opened (and made, when create) once per lake; NULL in *out when it
 * has none and create is 0. Called with the tails' lock held. */
/* A write found the log fenced by a change of the table (the test hold point). */
static void on_fenced(void *ctx) { lake_hold(ctx, "wal-fenced"); }

static int slot_for(loch_lake *lake, const char *table, const snapshot *s, const struct ArrowSchema *arrow_schema,
                    int create, tail_slot **out)
{
    *out = NULL;
    if (!lake->tails) {
        if (!(lake->tails = calloc(1, sizeof(*lake->tails))))
            return error_set(LOCH_ENOMEM, "out of memory");
    }
    char tag[64];
    tag_of(s, tag);
    tail_slot *free_slot = NULL;
    for (int i = 0; i < TAIL_MAX; i++) {
        tail_slot *t = &lake->tails->slots[i];
        if (t->w && strcmp(t->table, table) == 0) {
            /* the same table id: the same log (a new schema rotates it, below) */
            if (strcmp(t->tag + 17, tag + 17) == 0) {
                *out = t;
                return 0;
            }
            if (t->users)
                return error_set(LOCH_ECONFLICT, "table \"%s\" was replaced while writes to it ran", table);
            slot_close(t);
        }
        if (!t->w && !free_slot)
            free_slot = t;
    }
    for (int i = 0; !free_slot && i < TAIL_MAX; i++) /* all open: one no write is using goes */
        if (!lake->tails->slots[i].users) {
            free_slot = &lake->tails->slots[i];
            slot_close(free_slot);
        }
    if (!free_slot)
        return error_set(LOCH_ECONFLICT, "writes to more than %d tables at once through one lake handle", TAIL_MAX);
    buf dir = BUF_INIT;
    int rc = log_dir(lake, table, &dir);
    /* A write-ahead log is one machine's, and its flushed mark is the table's: two
     * machines writing one table in a bucket through theirs would take each other's
     * sequence numbers for their own. Until the log lives in the bucket, it is refused. */
    if (rc == 0 && create && lake->in_bucket)
        rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" takes its writes through a write-ahead log (a primary key, or "
                       "loch.wal.enabled), which lakes in a bucket do not keep yet; write it in a local lake and "
                       "`loch sync` it to the bucket", table);
    if (rc == 0 && create)
        rc = lake->st->mkdirs(lake->st, "_loch/wal");
    struct stat st;
    if (rc == 0 && !create && stat(dir.data, &st) < 0) {
        buf_free(&dir);
        return 0;
    }
    wal *w = NULL;
    /* the producers' sequences the table's flushes recorded: recovery starts from them */
    wal_seed *seeds = calloc(s->txn_count + 1, sizeof(*seeds));
    size_t nseeds = 0;
    for (size_t i = 0; seeds && i < s->txn_count; i++) {
        const char *id = s->txns[i].app_id;
        if (strncmp(id, PRODUCER_APP, strlen(PRODUCER_APP)) != 0)
            continue;
        char lsn_app[256];
        snprintf(lsn_app, sizeof(lsn_app), "%s%s", PRODUCER_LSN_APP, id + strlen(PRODUCER_APP));
        int64_t lsn = snapshot_txn_version(s, lsn_app);
        seeds[nseeds++] = (wal_seed){id + strlen(PRODUCER_APP), (uint64_t)s->txns[i].version,
                                     lsn > 0 ? (uint64_t)lsn : 0};
    }
    wal_options o = {.dir = dir.data, .table = table, .schema_tag = tag, .schema = arrow_schema,
                     .floor = flushed_of(s) + 1, .create = create, .seeds = seeds, .nseeds = nseeds,
                     .fenced = on_fenced, .fenced_ctx = lake};
    rc = rc ? rc : wal_open(&w, &o);
    free(seeds);
    buf_free(&dir);
    if (rc == LOCH_ENOTFOUND && !create) {
        error_clear();
        return 0;
    }
    if (rc < 0)
        return rc;
    free_slot->w = w;
    free_slot->pos_version = -1;
    snprintf(free_slot->table, sizeof(free_slot->table), "%s", table);
    snprintf(free_slot->tag, sizeof(free_slot->tag), "%s", tag);
    *out = free_slot;
    return 0;
}

/* ---- automatic flushes ----------------------------------------------------------------- */

#define FLUSH_ROWS_DEFAULT INT64_C(1000000)
#define FLUSH_BYTES_DEFAULT (INT64_C(128) << 20)

static int64_t property_i64(const snapshot *s, const char *key, int64_t dflt)
{
    const char *v = snapshot_property(s, key);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? (int64_t)n : dflt;
}

/* After a write: a flush when the log holds more than the table allows
 * (loch.wal.flushRows changes, loch.wal.flushBytes of segments). The write stands
 * whatever the flush does; a failed flush is a warning, and the next write tries again. */
static void auto_flush(loch_lake *lake, const char *table, const snapshot *s, tail_slot *t)
{
    wal_status st;
    if (wal_stat(t->w, &st) < 0) {
        error_clear();
        return;
    }
    int64_t rows = property_i64(s, "loch.wal.flushRows", FLUSH_ROWS_DEFAULT);
    int64_t bytes = property_i64(s, "loch.wal.flushBytes", FLUSH_BYTES_DEFAULT);
    uint64_t flushed = flushed_of(s);
    if ((st.durable > flushed && st.durable - flushed >= (uint64_t)rows) || st.bytes >= bytes) {
        lake_hold(lake, "auto-flush");
        if (tail_flush(lake, table, 1, NULL) < 0)
            lake_warn(lake, "table %s: the automatic flush of its write-ahead log failed (the write stands): %s",
                      table, loch_error_last());
        error_clear();
    }
}

/* ---- writing --------------------------------------------------------------------------- */

static void release_batches(struct ArrowArray **b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i]->release)
            b[i]->release(b[i]);
        free(b[i]);
    }
    free(b);
}

/* The SELECT of a write's frames: the table's columns from rows_sql (for a delete only
 * the key's, the others NULL), then the log's own. */
static int frame_select(const snapshot *s, const char *rows_sql, const char *op, const char **key, size_t nkey,
                        buf *sql)
{
    int del = strcmp(op, "delete") == 0, mixed = strcmp(op, "mixed") == 0;
    int rc = buf_puts(sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        bool keyed = false;
        for (size_t k = 0; k < nkey; k++)
            keyed = keyed || strcmp(key[k], f->name) == 0;
        rc = (i ? buf_puts(sql, ", ") : 0) ||
             (del && !keyed ? buf_printf(sql, "NULL::%s", f->duck_type) : buf_put_sql_ident(sql, f->name)) ||
             buf_puts(sql, " AS ") || buf_put_sql_ident(sql, f->name) ? LOCH_ENOMEM : 0;
    }
    /* mixed: each row's change type is rows_sql's __loch_op (its deletes' other columns NULL) */
    rc = rc || buf_printf(sql, ", 0::BIGINT AS " WAL_COL_LSN ", %s%s%s::VARCHAR AS " WAL_COL_CHANGE
                               ", make_timestamptz(%" PRId64 "::BIGINT) AS " WAL_COL_TIME " FROM (%s)",
                          mixed ? "" : "'", mixed ? "__loch_op" : op, mixed ? "" : "'", time_now_ms() * 1000, rows_sql)
                   ? LOCH_ENOMEM : rc;
    return rc;
}

static int rotate_to(tail_slot *t, uint64_t flushed, const struct ArrowSchema *arrow_schema, const char *tag);

int tail_write(loch_lake *lake, const char *table, const snapshot *s, const char *rows_sql, const char *op,
               int64_t *rows, uint64_t *last)
{
    int dup;
    return tail_write_from(lake, table, s, rows_sql, op, NULL, 0, rows, last, &dup);
}

int tail_write_from(loch_lake *lake, const char *table, const snapshot *s, const char *rows_sql, const char *op,
                    const char *producer, uint64_t sequence, int64_t *rows, uint64_t *last, int *duplicate)
{
    const char **key = NULL;
    size_t nkey = 0;
    buf sql = BUF_INIT;
    compute_stream *cs = NULL;
    struct ArrowSchema arrow_schema = {0};
    struct ArrowArray **batches = NULL;
    size_t n = 0, cap = 0;
    uint64_t first = 0;
    *rows = 0;
    *last = 0;
    *duplicate = 0;
    int rc = tail_key(s, &key, &nkey);
    if (rc == 0 && strcmp(op, "upsert") != 0 && strcmp(op, "delete") != 0 && strcmp(op, "insert") != 0 &&
        strcmp(op, "mixed") != 0)
        rc = error_set(LOCH_EINVALID, "a write is an upsert, insert or delete, not \"%s\"", op);
    if (rc == 0 && !nkey && strcmp(op, "insert") != 0)
        rc = error_set(LOCH_EINVALID, "table \"%s\" has no primary key: it takes inserts only, not %ss", table, op);
    rc = rc ? rc : frame_select(s, rows_sql, op, key, nkey, &sql);
    rc = rc ? rc : compute_arrow_open(lake->cp, sql.data, NULL, 0, &cs, &arrow_schema);
    while (rc == 0) {
        if (n == cap) {
            struct ArrowArray **g = realloc(batches, (cap = cap ? 2 * cap : 8) * sizeof(*g));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            batches = g;
        }
        if (!(batches[n] = calloc(1, sizeof(struct ArrowArray)))) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        rc = compute_arrow_next(cs, batches[n]);
        if (rc < 0 || !batches[n]->release) {
            free(batches[n]);
            break;
        }
        *rows += batches[n]->length;
        n++;
    }
    compute_stream_free(cs);
    if (rc == 0 && *rows > 0) {
        tail_slot *t = NULL;
        char tag[64];
        tag_of(s, tag);
        pthread_mutex_lock(&lake->tails_mu);
        rc = slot_for(lake, table, s, &arrow_schema, 1, &t);
        char seg_tag[64];
        rc = rc ? rc : wal_tag(t->w, seg_tag);
        if (rc == 0 && strcmp(seg_tag, tag) != 0)
            rc = rotate_to(t, flushed_of(s), &arrow_schema, tag);
        /* the snapshot the rows were shaped by must still be the table's (a commit that
         * changed its schema moves the log's generation on, after it lands) */
        uint64_t gen = rc == 0 ? wal_generation(t->w) : 0;
        if (rc == 0 && txlog_latest_version(lake, table) != s->version)
            rc = error_set(LOCH_ECONFLICT, "table \"%s\" changed while the write ran: run it again", table);
        lake_hold(lake, "wal-append");
        rc = rc ? rc : wal_append_at(t->w, &arrow_schema, batches, n, producer, sequence, gen, &first, last,
                                     duplicate);
        lake_hold(lake, "wal-sync");
        rc = rc ? rc : wal_sync(t->w, *last);
        if (rc == 0 && !*duplicate)
            auto_flush(lake, table, s, t);
        pthread_mutex_unlock(&lake->tails_mu);
    }
    release_batches(batches, n);
    if (arrow_schema.release)
        arrow_schema.release(&arrow_schema);
    free(key);
    buf_free(&sql);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------- */

static void free_buf(void *ctx)
{
    buf_free(ctx);
    free(ctx);
}

static int put_key_match(buf *sql, const char **key, size_t nkey, const char *a, const char *b)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nkey; k++)
        rc = buf_printf(sql, "%s%s.", k ? " AND " : "", a) || buf_put_sql_ident(sql, key[k]) ||
             buf_printf(sql, " = %s.", b) || buf_put_sql_ident(sql, key[k]) ? LOCH_ENOMEM : 0;
    return rc;
}

static int put_key_list(buf *sql, const char **key, size_t nkey) { return ops_put_names(sql, "", key, nkey); }

/* " QUALIFY ...": a key's latest change alone */
static int put_latest_per_key(buf *sql, const char **key, size_t nkey)
{
    return buf_puts(sql, " QUALIFY row_number() OVER (PARTITION BY ") || put_key_list(sql, key, nkey) ||
           buf_puts(sql, " ORDER BY " WAL_COL_LSN " DESC) = 1") ? LOCH_ENOMEM : 0;
}

/* Loads the changes from < LSN <= to into the engine's temporary table `name`: the
 * latest per key (all of them without a key), replacing the table's rows for those keys
 * when `extend`, else the whole table. */
static int load_changes(loch_lake *lake, wal *w, uint64_t from, uint64_t to, const char **key, size_t nkey,
                        const char *name, int extend)
{
    buf *bytes = calloc(1, sizeof(buf));
    buf sql = BUF_INIT;
    arrow_reader *r = NULL;
    struct ArrowArrayStream stream = {0};
    char view[64];
    static _Atomic unsigned long views;
    snprintf(view, sizeof(view), "__loch_wal_%lu", (unsigned long)atomic_fetch_add(&views, 1));
    int64_t rows = 0;
    int rc = bytes ? wal_read(w, from, to, bytes, &rows) : error_set(LOCH_ENOMEM, "out of memory");
    rc = rc ? rc : arrow_read_open(&r, (const unsigned char *)bytes->data, bytes->len);
    if (rc == 0) {
        rc = arrow_read_stream(r, &stream, free_buf, bytes); /* takes r and bytes */
        r = NULL;
        bytes = NULL;
    }
    rc = rc ? rc : compute_register_arrow(lake->cp, view, &stream);
    /* the new changes, latest per key */
    rc = rc || buf_printf(&sql, "CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s", extend ? "__loch_wal_new" : name,
                          view) ? (rc ? rc : LOCH_ENOMEM) : 0;
    if (rc == 0 && nkey)
        rc = put_latest_per_key(&sql, key, nkey);
    rc = rc ? rc : compute_exec(lake->cp, sql.data);
    buf_clear(&sql);
    if (rc == 0 && extend) {
        if (nkey)
            rc = buf_printf(&sql, "DELETE FROM %s AS o WHERE EXISTS (SELECT 1 FROM __loch_wal_new AS n WHERE ", name) ||
                 put_key_match(&sql, key, nkey, "n", "o") || buf_puts(&sql, "); ") ? LOCH_ENOMEM : 0;
        rc = rc || buf_printf(&sql, "INSERT INTO %s SELECT * FROM __loch_wal_new", name) ? (rc ? rc : LOCH_ENOMEM)
                                                                                          : 0;
        rc = rc ? rc : compute_exec(lake->cp, sql.data);
    }
    buf_clear(&sql);
    if (buf_puts(&sql, "DROP VIEW IF EXISTS ") == 0 && buf_puts(&sql, view) == 0)
        compute_exec(lake->cp, sql.data);
    if (stream.release)
        stream.release(&stream);
    arrow_read_free(r);
    if (bytes)
        free_buf(bytes);
    buf_free(&sql);
    return rc;
}

static void slot_positions_free(tail_slot *t)
{
    for (size_t i = 0; i < t->pos_files; i++) {
        if (t->pos)
            dv_rows_free(&t->pos[i]);
        if (t->skip)
            dv_rows_free(&t->skip[i]);
    }
    free(t->pos);
    free(t->skip);
    free(t->all);
    t->pos = t->skip = NULL;
    t->all = NULL;
    t->pos_files = 0;
    t->pos_version = -1;
}

static int skip_load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    const scan_skip *sk = ctx;
    const tail_slot *t = sk->ctx;
    size_t f = sk->which[i];
    *rows = f < t->pos_files ? t->skip[f].rows : NULL;
    *count = f < t->pos_files ? t->skip[f].count : 0;
    return 0;
}

/* Positions read back from the engine, per file: grown as they come (sorted by file,
 * then row). */
typedef struct {
    tail_slot *t;
    dv_rows *add;
    size_t *cap;
} pos_reader;

static int pos_chunk(void *ctx, const int64_t *const *cols, size_t ncols, size_t n)
{
    pos_reader *r = ctx;
    (void)ncols;
    for (size_t i = 0; i < n; i++) {
        int64_t f = cols[0][i];
        if (f < 0 || (size_t)f >= r->t->pos_files || cols[1][i] < 0)
            return error_set(LOCH_ERROR, "internal: a row of file %lld, which the table does not have", (long long)f);
        dv_rows *d = &r->add[f];
        if (d->count == r->cap[f]) {
            size_t c = r->cap[f] ? 2 * r->cap[f] : 64;
            uint64_t *g = realloc(d->rows, c * sizeof(*g));
            if (!g)
                return error_set(LOCH_ENOMEM, "out of memory");
            d->rows = g;
            r->cap[f] = c;
        }
        d->rows[d->count++] = (uint64_t)cols[1][i];
    }
    return 0;
}

/* Adds to t->pos the snapshot's rows whose key has a change in the engine's table src,
 * and makes t->skip again for the files they are in (fresh: for every file). Files
 * whose key statistics cannot hold src's keys are not read (a single integer key). */
static int positions_add(loch_lake *lake, const char *table, const snapshot *s, tail_slot *t, const char *src,
                         const char **key, size_t nkey, int fresh)
{
    buf sql = BUF_INIT, rows = BUF_INIT, where = BUF_INIT;
    compute_result *b = NULL;
    size_t n = s->file_count, nwhich = 0;
    size_t *which = malloc((n + 1) * sizeof(size_t)), *cap = calloc(n + 1, sizeof(size_t));
    bool *skip = calloc(n + 1, sizeof(bool));
    dv_rows *add = calloc(n + 1, sizeof(dv_rows));
    int rc = which && cap && skip && add ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && fresh) {
        slot_positions_free(t);
        t->pos = calloc(n + 1, sizeof(dv_rows));
        t->skip = calloc(n + 1, sizeof(dv_rows));
        t->all = malloc((n + 1) * sizeof(size_t));
        if (!t->pos || !t->skip || !t->all)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        t->pos_files = n;
        t->pos_version = s->version;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            t->all[i] = i;
            rc = scan_file_dv(lake, table, &s->files[i], &t->skip[i]); /* the file's own DV */
        }
    }
    /* data skipping by the changes' key range */
    const schema_field *kf = NULL;
    for (size_t i = 0; nkey == 1 && i < s->schema.count; i++)
        if (strcmp(s->schema.fields[i].name, key[0]) == 0)
            kf = &s->schema.fields[i];
    if (rc == 0 && kf && (!strcmp(kf->duck_type, "BIGINT") || !strcmp(kf->duck_type, "INTEGER") ||
                          !strcmp(kf->duck_type, "SMALLINT") || !strcmp(kf->duck_type, "TINYINT"))) {
        rc = buf_puts(&sql, "SELECT min(") || buf_put_sql_ident(&sql, key[0]) || buf_puts(&sql, ")::BIGINT, max(") ||
             buf_put_sql_ident(&sql, key[0]) || buf_printf(&sql, ")::BIGINT, count(*) FROM %s", src) ? LOCH_ENOMEM : 0;
        rc = rc ? rc : compute_query(lake->cp, sql.data, &b);
        if (rc == 0 && compute_result_i64(b, 0, 2) > 0) {
            rc = buf_put_sql_ident(&where, key[0]) ||
                 buf_printf(&where, " >= %lld AND ", (long long)compute_result_i64(b, 0, 0)) ||
                 buf_put_sql_ident(&where, key[0]) ||
                 buf_printf(&where, " <= %lld", (long long)compute_result_i64(b, 0, 1)) ? LOCH_ENOMEM : 0;
            int pruned = rc ? 0 : prune_files(s, where.data, where.len, table, true, skip);
            rc = pruned < 0 ? pruned : rc;
        }
        buf_clear(&sql);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!skip[i])
            which[nwhich++] = i;
    if (rc == 0 && nwhich) {
        rc = scan_rows_sql(lake, table, s, which, nwhich, NULL, true, &rows);
        rc = rc || buf_printf(&sql, "SELECT __loch_b.__loch_file::BIGINT, __loch_b.__loch_row::BIGINT FROM (%s) AS "
                                    "__loch_b WHERE EXISTS (SELECT 1 FROM %s AS __loch_w WHERE ", rows.data, src) ||
             put_key_match(&sql, key, nkey, "__loch_w", "__loch_b") || buf_puts(&sql, ") ORDER BY 1, 2")
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        pos_reader pr = {t, add, cap};
        rc = rc ? rc : compute_query_i64(lake->cp, sql.data, pos_chunk, &pr);
    }
    for (size_t f = 0; rc == 0 && f < n; f++) {
        if (!add[f].count)
            continue;
        dv_rows merged = {NULL, 0}, sk = {NULL, 0};
        rc = dv_rows_union(&t->pos[f], &add[f], &merged);
        if (rc == 0) {
            dv_rows_free(&t->pos[f]);
            t->pos[f] = merged;
            dv_rows own = {NULL, 0};
            rc = scan_file_dv(lake, table, &s->files[f], &own);
            rc = rc ? rc : dv_rows_union(&own, &t->pos[f], &sk);
            dv_rows_free(&own);
        }
        if (rc == 0) {
            dv_rows_free(&t->skip[f]);
            t->skip[f] = sk;
        }
    }
    for (size_t f = 0; add && f < n; f++)
        dv_rows_free(&add[f]);
    if (rc < 0)
        slot_positions_free(t);
    compute_result_free(b);
    free(add);
    free(which);
    free(cap);
    free(skip);
    buf_free(&sql);
    buf_free(&rows);
    buf_free(&where);
    return rc;
}

/* The engine's temporary table holding a table's tail. */
static void tail_table_name(const char *table, char *out, size_t cap)
{
    /* table names are [a-z0-9_-]: quoted, they need no escaping */
    snprintf(out, cap, "temp.main.\"__loch_tail_%s\"", table);
}

int tail_scan_sql(loch_lake *lake, const char *table, const snapshot *s, int may_load, buf *sql)
{
    const char **key = NULL;
    size_t nkey = 0;
    tail_slot *t = NULL;
    char name[320];
    buf base = BUF_INIT;
    int rc = tail_key(s, &key, &nkey);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&lake->tails_mu);
    rc = slot_for(lake, table, s, NULL, 0, &t);
    uint64_t flushed = flushed_of(s), durable = rc == 0 && t ? wal_durable(t->w) : 0;
    if (rc < 0 || !t || durable <= flushed) {
        pthread_mutex_unlock(&lake->tails_mu);
        free(key);
        return rc < 0 ? rc : scan_sql(lake, table, s, sql);
    }
    char tag[64], seg_tag[64];
    tag_of(s, tag);
    rc = wal_tag(t->w, seg_tag);
    if (rc == 0 && strcmp(seg_tag, tag) != 0)
        rc = error_set(LOCH_EINVALID, "table \"%s\": its write-ahead log holds changes for an earlier schema of the "
                       "table (run `loch flush %s`)", table, table);
    /* The engine is binding a statement: it cannot load anything now (tail_prepare
     * did, for every name it saw). */
    if (rc == 0 && !may_load)
        rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" has changes in its write-ahead log that this statement "
                       "cannot read where it names the table (through a view or macro?): name it in the statement, "
                       "or FLUSH %s first", table, table);
    tail_table_name(table, name, sizeof(name));
    /* The engine keeps what it loaded: only frames past it are read, unless a flush
     * moved the snapshot on, or a transaction of the user's may roll the table back. */
    if (rc == 0 && wal_failed(t->w)) { /* reopened: the open recovers it */
        tail_forget(lake, table);
        rc = slot_for(lake, table, s, NULL, 0, &t);
        durable = rc == 0 && t ? wal_durable(t->w) : 0;
        if (rc == 0 && (!t || durable <= flushed)) {
            pthread_mutex_unlock(&lake->tails_mu);
            free(key);
            return scan_sql(lake, table, s, sql);
        }
    }
    if (rc == 0 && (!t->loaded || t->from != flushed || durable < t->to || lake->in_transaction ||
                    t->pos_version != s->version)) {
        t->loaded = 0;
        lake_hold(lake, "tail-load");
        rc = load_changes(lake, t->w, flushed, durable, key, nkey, name, 0);
        /* without a key every row of the snapshot stays: there is nothing to find */
        rc = rc ? rc : nkey ? positions_add(lake, table, s, t, name, key, nkey, 1) : 0;
        if (rc == 0 && !nkey)
            slot_positions_free(t), t->pos_version = s->version;
        if (rc == 0)
            t->loaded = !lake->in_transaction, t->from = flushed, t->to = durable;
    } else if (rc == 0 && durable > t->to) {
        t->loaded = 0;
        rc = load_changes(lake, t->w, t->to, durable, key, nkey, name, 1);
        rc = rc || !nkey ? rc : positions_add(lake, table, s, t, "temp.main.__loch_wal_new", key, nkey, 0);
        compute_exec(lake->cp, "DROP TABLE IF EXISTS temp.main.__loch_wal_new");
        if (rc == 0)
            t->loaded = 1, t->to = durable;
    }
    if (rc == 0) {
        snprintf(t->pos_tag, sizeof(t->pos_tag), "tail-%s-%lld-%" PRIu64 "-%" PRIu64, t->tag,
                 (long long)s->version, t->from, t->to);
        t->sk = (scan_skip){t->pos_tag, skip_load, t, NULL};
        rc = nkey && s->file_count ? scan_rows_sql(lake, table, s, t->all, s->file_count, &t->sk, false, &base)
                                   : scan_sql(lake, table, s, &base);
    }
    pthread_mutex_unlock(&lake->tails_mu);
    /* the snapshot's rows whose key has no change in the tail, then the tail's rows */
    buf cols = BUF_INIT;
    rc = rc ? rc : ops_put_columns(&cols, "", s);
    if (rc == 0 && nkey) /* the snapshot's rows without those the tail changes, then the tail's */
        rc = buf_printf(sql, "SELECT %s FROM (%s) UNION ALL SELECT %s FROM %s WHERE " WAL_COL_CHANGE " <> 'delete'",
                        cols.data, base.data, cols.data, name) ? LOCH_ENOMEM : 0;
    else if (rc == 0)
        rc = buf_printf(sql, "SELECT %s FROM (%s) UNION ALL SELECT %s FROM %s", cols.data, base.data, cols.data, name)
                 ? LOCH_ENOMEM : 0;
    buf_free(&cols);
    buf_free(&base);
    free(key);
    return rc;
}

int tail_prepare(loch_lake *lake, const char *sql, const char *except)
{
    size_t pos = 0, len = strlen(sql);
    sql_token t;
    int rc, passed = !except;
    buf dir = BUF_INIT, scan = BUF_INIT;
    while ((rc = sqlscan_next(sql, len, &pos, &t)) == 0 && t.kind != TOK_END) {
        if ((t.kind != TOK_WORD && t.kind != TOK_QUOTED) || t.len > 130)
            continue;
        char name[256];
        size_t n = 0;
        for (size_t i = t.kind == TOK_QUOTED; i < t.len - (t.kind == TOK_QUOTED) && n + 1 < sizeof(name); i++)
            name[n++] = (char)tolower((unsigned char)sql[t.start + i]);
        name[n] = '\0';
        struct stat st;
        if (!passed && strcmp(name, except) == 0) {
            passed = 1;
            continue;
        }
        if (table_name_check(name) < 0) {
            error_clear();
            continue;
        }
        if (scan_pinned(lake, name) || log_dir(lake, name, &dir) < 0 || stat(dir.data, &st) < 0 ||
            !txlog_exists(lake, name))
            continue;
        snapshot *s = NULL;
        buf_clear(&scan);
        if ((rc = txlog_load(lake, name, &(txlog_at){-1, 0, 0}, &s)) < 0)
            break;
        rc = tail_logged(s) ? tail_scan_sql(lake, name, s, 1, &scan) : 0;
        for (int i = 0; rc == LOCH_ECONFLICT && i < 5; i++) { /* a flush truncated the log meanwhile */
            txlog_snapshot_free(s);
            s = NULL;
            buf_clear(&scan);
            if ((rc = txlog_load(lake, name, &(txlog_at){-1, 0, 0}, &s)) == 0)
                rc = tail_scan_sql(lake, name, s, 1, &scan);
        }
        if (rc == 0 && scan.len)
            rc = scan_pin_sql(lake, name, s, scan.data);
        txlog_snapshot_free(s);
        if (rc < 0)
            break;
    }
    if (rc == 0) {
        error_clear();
        lake_hold(lake, "tail-prepared");
    }
    buf_free(&dir);
    buf_free(&scan);
    return rc;
}

/* ---- flushing -------------------------------------------------------------------------- */

/* A write under a schema the log's segment does not have: a new segment of it, when
 * everything in the log is flushed (DDL flushes first, so only a writer that did not
 * leaves changes of an older schema). */
static int rotate_to(tail_slot *t, uint64_t flushed, const struct ArrowSchema *arrow_schema, const char *tag)
{
    uint64_t upto;
    wal_status st;
    int rc = wal_stat(t->w, &st);
    if (rc == 0 && st.durable != st.assigned)
        rc = wal_sync(t->w, st.assigned);
    if (rc == 0 && st.assigned > flushed)
        rc = error_set(LOCH_EINVALID, "table \"%s\": its write-ahead log holds changes for an earlier schema of the "
                       "table (run `loch flush %s`)", t->table, t->table);
    rc = rc ? rc : wal_rotate(t->w, arrow_schema, tag, &upto);
    return rc;
}

/* Flushes the table's log (flush lock held by the caller's slot): 0 and *done = LSNs
 * flushed (0 when there was nothing). */
typedef struct {
    log_txn *v;
    size_t n, cap;
    char **names;
    uint64_t since;         /* only producers that wrote after this LSN: the table has the rest */
} txn_list;

static int add_producer(void *ctx, const char *producer, uint64_t sequence, uint64_t lsn)
{
    txn_list *l = ctx;
    if (lsn <= l->since)
        return 0;
    if (l->n + 2 > l->cap) {
        size_t c = l->cap ? 2 * l->cap : 16;
        log_txn *g = realloc(l->v, c * sizeof(*g));
        char **h = g ? realloc(l->names, c * sizeof(*h)) : NULL;
        if (g)
            l->v = g;
        if (h)
            l->names = h;
        if (!g || !h)
            return error_set(LOCH_ENOMEM, "out of memory");
        l->cap = c;
    }
    const char *apps[2] = {PRODUCER_APP, PRODUCER_LSN_APP};
    uint64_t vals[2] = {sequence, lsn};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(apps[k]) + strlen(producer) + 1;
        if (!(l->names[l->n] = malloc(len)))
            return error_set(LOCH_ENOMEM, "out of memory");
        snprintf(l->names[l->n], len, "%s%s", apps[k], producer);
        l->v[l->n] = (log_txn){l->names[l->n], (int64_t)vals[k], time_now_ms()};
        l->n++;
    }
    return 0;
}

static int flush_locked(loch_lake *lake, const char *table, tail_slot *t, uint64_t *from, uint64_t *upto,
                        int64_t *version, int64_t counts[2])
{
    txn_list producers = {NULL, 0, 0, NULL, 0};
    snapshot *s = NULL;
    const char **key = NULL;
    size_t nkey = 0;
    buf sql = BUF_INIT;
    char app[128];
    *version = -1;
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : tail_key(s, &key, &nkey);
    if (rc < 0)
        goto cleanup;
    *from = flushed_of(s);
    app_id(s, app, sizeof(app));
    lake_hold(lake, "flush-rotate");
    rc = wal_rotate(t->w, NULL, NULL, upto);
    if (rc < 0 || *upto <= *from) {
        if (rc == 0) /* nothing new: what a crash after an earlier flush's commit left goes */
            rc = wal_truncate(t->w, *from);
        *upto = *from;
        goto cleanup;
    }
    /* the change feed records every change, not only each key's latest */
    const char *cdf = snapshot_property(s, "delta.enableChangeDataFeed");
    bool all = nkey && cdf && strcmp(cdf, "true") == 0;
    if (all) {
        rc = load_changes(lake, t->w, *from, *upto, key, 0, "temp.main.__loch_flush_all", 0);
        rc = rc || buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_flush AS SELECT * FROM "
                                  "temp.main.__loch_flush_all") || put_latest_per_key(&sql, key, nkey)
                 ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : compute_exec(lake->cp, sql.data);
    } else {
        rc = load_changes(lake, t->w, *from, *upto, key, nkey, "temp.main.__loch_flush", 0);
    }
    t->loaded = 0; /* the engine's copy of the tail is about to be wrong */
    /* the producers' sequences go into the same commit (recovery's seeds) */
    producers.since = *from;
    rc = rc ? rc : wal_producers(t->w, add_producer, &producers);
    /* a key's latest changes replace its rows; without a key the rows are appended */
    if (nkey)
        rc = rc ? rc : ops_flush_apply(lake, table, "temp.main.__loch_flush", all ? "temp.main.__loch_flush_all"
                                       : NULL, key, nkey, app, (int64_t)*upto, producers.v, producers.n, version,
                                       counts);
    else
        rc = rc ? rc : ops_flush_append(lake, table, "temp.main.__loch_flush", app, (int64_t)*upto, producers.v,
                                        producers.n, version, counts);
    compute_exec(lake->cp, "DROP TABLE IF EXISTS temp.main.__loch_flush");
    compute_exec(lake->cp, "DROP TABLE IF EXISTS temp.main.__loch_flush_all");
    lake_hold(lake, "flush-truncate");
    rc = rc ? rc : wal_truncate(t->w, *upto);
cleanup:
    for (size_t i = 0; i < producers.n; i++)
        free(producers.names[i]);
    free(producers.names);
    free(producers.v);
    free(key);
    txlog_snapshot_free(s);
    buf_free(&sql);
    return rc;
}

int tail_flush(loch_lake *lake, const char *table, int only_if_logged, loch_result **out)
{
    snapshot *s = NULL;
    tail_slot *t = NULL;
    uint64_t from = 0, upto = 0;
    int64_t version = -1, counts[2] = {0, 0};
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    if (rc == LOCH_ENOTFOUND)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    if (rc < 0)
        return rc;
    if (!tail_logged(s)) {
        txlog_snapshot_free(s);
        if (only_if_logged)
            return 0;
        return error_set(LOCH_EINVALID, "table \"%s\" has no write-ahead log to flush (no primary key, and "
                         "loch.wal.enabled is not 'true')",
                         table);
    }
    pthread_mutex_lock(&lake->tails_mu);
    rc = slot_for(lake, table, s, NULL, 0, &t);
    if (rc == 0 && t) {
        rc = wal_flush_lock(t->w);
        rc = rc ? rc : flush_locked(lake, table, t, &from, &upto, &version, counts);
        if (t->w)
            wal_flush_unlock(t->w);
    }
    pthread_mutex_unlock(&lake->tails_mu);
    txlog_snapshot_free(s);
    if (rc == 0 && out && upto > from)
        rc = result_message(out, "flushed %s: LSNs %" PRIu64 " to %" PRIu64 " as version %lld (%lld rows written, "
                            "%lld replaced or deleted)", table, from + 1, upto, (long long)version,
                            (long long)counts[1], (long long)counts[0]);
    else if (rc == 0 && out)
        rc = result_message(out, "flushed %s: nothing to flush", table);
    return rc;
}

int tail_flush_fenced(loch_lake *lake, const char *table, struct wal_fence **fence)
{
    buf dir = BUF_INIT;
    struct stat st;
    *fence = NULL;
    int rc = log_dir(lake, table, &dir);
    if (rc == 0 && stat(dir.data, &st) == 0)
        rc = wal_fence_begin(dir.data, fence);
    buf_free(&dir);
    lake_hold(lake, "fenced");
    rc = rc ? rc : tail_flush_if_any(lake, table);
    if (rc < 0) {
        wal_fence_end(*fence);
        *fence = NULL;
    }
    return rc;
}

void tail_unfence(struct wal_fence *fence) { wal_fence_end(fence); }

int tail_flush_if_any(loch_lake *lake, const char *table)
{
    if (!txlog_exists(lake, table))
        return 0;
    buf dir = BUF_INIT;
    struct stat st;
    int rc = log_dir(lake, table, &dir), has = rc == 0 && stat(dir.data, &st) == 0;
    buf_free(&dir);
    if (rc < 0 || !has)
        return rc;
    rc = tail_flush(lake, table, 1, NULL);
    return rc < 0 ? error_prefix("table \"%s\": flushing its write-ahead log first: ", table) : 0;
}

/* ---- status ---------------------------------------------------------------------------- */

int tail_status_of(loch_lake *lake, const char *table, const snapshot *s, tail_status *out)
{
    tail_slot *t = NULL;
    *out = (tail_status){0};
    out->flushed = flushed_of(s);
    pthread_mutex_lock(&lake->tails_mu);
    int rc = slot_for(lake, table, s, NULL, 0, &t);
    wal_status st;
    if (rc == 0 && t && (rc = wal_stat(t->w, &st)) == 0) {
        out->has_log = 1;
        out->assigned = st.assigned;
        out->durable = st.durable;
        out->visible = st.durable;
        out->bytes = st.bytes;
        out->segments = (int64_t)st.segments;
    }
    pthread_mutex_unlock(&lake->tails_mu);
    if (out->assigned < out->flushed)
        out->assigned = out->durable = out->visible = out->flushed;
    return rc;
}

/* ---- the public calls ---------------------------------------------------------------- */

/* Calls each(lake, table, its latest snapshot, ctx) for every table of the lake with a
 * primary key (the tables a log can belong to). A table that cannot be read is passed
 * over with a warning; each() < 0 stops the walk with its error. */
static int each_logged_table(loch_lake *lake, int (*each)(loch_lake *, const char *, snapshot *, void *), void *ctx)
{
    storage_entry *e = NULL;
    size_t n = 0;
    int rc = lake->st->list(lake->st, "", &e, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snapshot *s = NULL;
        if (!e[i].is_dir || table_name_check(e[i].name) < 0 || !txlog_exists(lake, e[i].name)) {
            error_clear();
            continue;
        }
        if (txlog_load(lake, e[i].name, &(txlog_at){-1, 0, 0}, &s) < 0) {
            lake_warn(lake, "table %s is passed over: %s", e[i].name, loch_error_last());
            error_clear();
            continue;
        }
        rc = tail_logged(s) ? each(lake, e[i].name, s, ctx) : 0;
        txlog_snapshot_free(s);
    }
    storage_entries_free(e, n);
    return rc;
}

static int status_row(loch_lake *lake, const char *table, snapshot *s, void *ctx)
{
    loch_result *r = ctx;
    tail_status st;
    int rc = tail_status_of(lake, table, s, &st);
    if (rc < 0)
        return rc;
    char v[6][24], seg[24];
    uint64_t x[6] = {st.assigned, st.durable, st.visible, st.flushed, st.visible - st.flushed, (uint64_t)st.bytes};
    for (int k = 0; k < 6; k++)
        snprintf(v[k], sizeof(v[k]), "%" PRIu64, x[k]);
    snprintf(seg, sizeof(seg), "%" PRId64, st.segments);
    const char *cells[] = {table, snapshot_property(s, TAIL_PK_PROPERTY), v[0], v[1], v[2], v[3], v[4], v[5], seg};
    return result_add_row(r, cells);
}

int loch_lake_status(loch_result **out, loch_lake *lake)
{
    static const char *names[] = {"table", "primary_key", "assigned", "durable", "visible", "flushed", "lag",
                                  "log_bytes", "segments"};
    static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_STRING, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER,
                                      LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER,
                                      LOCH_KIND_NUMBER};
    loch_result *r = NULL;
    int rc = result_new(&r, 9, names, kinds);
    rc = rc ? rc : each_logged_table(lake, status_row, r);
    if (rc < 0) {
        loch_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* The engine's reader of a file in one of the formats loch writes from. */
static int reader_sql(loch_lake *lake, const char *path, const char *format, buf *out, buf *view,
                      struct ArrowArrayStream *stream)
{
    const char *dot = strrchr(path, '.');
    if (!format)
        format = !dot ? "" : !strcmp(dot, ".csv") || !strcmp(dot, ".tsv") ? "csv"
                 : !strcmp(dot, ".ndjson") || !strcmp(dot, ".jsonl") ? "ndjson" : !strcmp(dot, ".json") ? "json"
                 : !strcmp(dot, ".parquet") ? "parquet" : !strcmp(dot, ".arrow") || !strcmp(dot, ".arrows") ||
                   !strcmp(dot, ".feather") || !strcmp(dot, ".ipc") ? "arrow" : "";
    if (!*format)
        return error_set(LOCH_EINVALID, "cannot tell the format of %s: name it (csv, ndjson, json, parquet, arrow)",
                         path);
    if (!strcmp(format, "arrow")) {
        buf *bytes = calloc(1, sizeof(buf));
        arrow_reader *r = NULL;
        static _Atomic unsigned long views;
        int rc = bytes ? 0 : error_set(LOCH_ENOMEM, "out of memory");
        FILE *f = rc ? NULL : fopen(path, "rb");
        if (rc == 0 && !f)
            rc = error_set(LOCH_ENOTFOUND, "cannot open %s", path);
        char chunk[65536];
        size_t got;
        while (f && rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            rc = buf_put(bytes, chunk, got) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        if (f)
            fclose(f);
        rc = rc ? rc : arrow_read_open(&r, (const unsigned char *)bytes->data, bytes->len);
        if (rc == 0) {
            rc = arrow_read_stream(r, stream, free_buf, bytes);
            bytes = NULL;
        }
        if (bytes)
            free_buf(bytes);
        buf_clear(view);
        rc = rc || buf_printf(view, "__loch_write_%lu", (unsigned long)atomic_fetch_add(&views, 1)) ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : compute_register_arrow(lake->cp, view->data, stream);
        return rc ? rc : buf_printf(out, "SELECT * FROM %s", view->data) ? LOCH_ENOMEM : 0;
    }
    const char *fn = !strcmp(format, "csv") ? "read_csv" : !strcmp(format, "parquet") ? "read_parquet"
                   : !strcmp(format, "ndjson") || !strcmp(format, "json") ? "read_json" : NULL;
    if (!fn)
        return error_set(LOCH_EINVALID, "cannot write from format \"%s\" (csv, ndjson, json, parquet, arrow)", format);
    int rc = buf_printf(out, "SELECT * FROM system.main.%s(", fn) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : compute_put_path(out, path);
    rc = rc ? rc : buf_puts(out, !strcmp(fn, "read_csv") ? ", header = true)" : ")") ? LOCH_ENOMEM : 0;
    return rc;
}

static int write_file_run(loch_result **out, loch_lake *lake, const char *table, const char *path, const char *format,
                          loch_write_op op)
{
    return loch_table_write_file_from(out, lake, table, path, format, op, NULL, 0);
}

int loch_table_write_file(loch_result **out, loch_lake *lake, const char *table, const char *path, const char *format,
                          loch_write_op op)
{
    api_enter(lake);
    return api_leave(lake, write_file_run(out, lake, table, path, format, op));
}

static int write_file_from_run(loch_result **out, loch_lake *lake, const char *table, const char *path,
                               const char *format, loch_write_op op, const char *producer, uint64_t sequence)
{
    int duplicate = 0;
    snapshot *s = NULL;
    const char **key = NULL;
    size_t nkey = 0;
    buf src = BUF_INIT, sql = BUF_INIT, view = BUF_INIT;
    struct ArrowArrayStream stream = {0};
    int64_t rows = 0;
    uint64_t last = 0;
    const char *opname = op == LOCH_WRITE_DELETE ? "delete" : op == LOCH_WRITE_UPSERT || op == LOCH_WRITE_INSERT
                         ? "upsert" : NULL;
    *out = NULL;
    scan_unpin(lake);
    if (!opname)
        return error_set(LOCH_EINVALID, "unknown write operation %d", (int)op);
    if (lake->in_transaction)
        return error_set(LOCH_EINVALID, "a write through the log cannot run inside a transaction: COMMIT or ROLLBACK "
                         "first");
    int rc = table_name_check(table);
    if (rc == 0 && !txlog_exists(lake, table))
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    rc = rc ? rc : tail_key(s, &key, &nkey);
    if (rc == 0 && !nkey && !tail_logged(s))
        rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" has no write-ahead log: writes through it need a primary "
                       "key, or the table property loch.wal.enabled = 'true' for appends (loch ingest appends to any "
                       "table)", table);
    if (rc == 0 && !nkey && op == LOCH_WRITE_DELETE)
        rc = error_set(LOCH_EINVALID, "table \"%s\" has no primary key: it takes inserts only, not deletes", table);
    if (rc == 0 && !nkey) /* nothing to match an upsert by: every row is new */
        opname = "insert";
    /* NDJSON is read by loch's own strict reader (errors by line and column) when the
     * table's column types allow; the engine's readers take the rest */
    const char *dot = strrchr(path, '.');
    bool ndjson = format ? !strcmp(format, "ndjson") : dot && (!strcmp(dot, ".ndjson") || !strcmp(dot, ".jsonl"));
    struct stat fst;
    if (rc == 0 && ndjson && stat(path, &fst) == 0 && fst.st_size <= (INT64_C(256) << 20)) {
        buf text = BUF_INIT;
        FILE *f = fopen(path, "rb");
        char chunk[65536];
        size_t got;
        int rrc = f ? 0 : error_set(LOCH_ENOTFOUND, "cannot open %s", path);
        while (f && rrc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            rrc = buf_put(&text, chunk, got) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        if (f)
            fclose(f);
        loch_write_options wo = LOCH_WRITE_OPTIONS_INIT;
        wo.producer = producer;
        wo.sequence = sequence;
        if (rrc == 0) {
            rrc = loch_write_ndjson(lake, table, text.data ? text.data : "", text.len,
                                    op == LOCH_WRITE_DELETE ? LOCH_WRITE_DELETE : LOCH_WRITE_UPSERT, &wo, &last,
                                    &duplicate, &rows);
        }
        buf_free(&text);
        if (rrc == 0)
            goto answer;
        if (rrc != LOCH_EUNSUPPORTED) {
            rc = rrc;
            goto cleanup;
        }
        error_clear();
    }
    if (rc == 0 && stat(path, &fst) == 0 && fst.st_size == 0) /* nothing to read: no rows */
        goto answer;
    rc = rc ? rc : reader_sql(lake, path, format, &src, &view, &stream);
    if (rc == 0 && op == LOCH_WRITE_DELETE) {
        /* the keys, checked like a key is (NOT NULL, its type) */
        rc = buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE __loch_ins (") ? LOCH_ENOMEM : 0;
        for (size_t k = 0; rc == 0 && k < nkey; k++)
            for (size_t i = 0; i < s->schema.count; i++)
                if (strcmp(s->schema.fields[i].name, key[k]) == 0)
                    rc = (k ? buf_puts(&sql, ", ") : 0) || buf_put_sql_ident(&sql, key[k]) ||
                         buf_printf(&sql, " %s NOT NULL", s->schema.fields[i].duck_type) ? LOCH_ENOMEM : 0;
        rc = rc || buf_puts(&sql, ")") ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : compute_exec(lake->cp, sql.data);
        buf_clear(&sql);
        rc = rc || buf_puts(&sql, "INSERT INTO __loch_ins SELECT ") || put_key_list(&sql, key, nkey) ||
             buf_printf(&sql, " FROM (%s)", src.data) ? (rc ? rc : LOCH_ENOMEM) : 0;
    } else if (rc == 0) {
        rc = insert_stage_table(lake, s);
        rc = rc ? rc : buf_printf(&sql, "INSERT INTO __loch_ins BY NAME %s", src.data) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : compute_exec_one(lake->cp, sql.data);
    if (rc < 0) { /* the engine's words, without loch's SQL or the input's path */
        insert_own_name(table);
        buf m = BUF_INIT;
        const char *e = loch_error_last(), *cut = strstr(e, "\nLINE "), *at;
        int code = loch_error_last_code();
        size_t n = cut ? (size_t)(cut - e) : strlen(e);
        for (size_t i = 0; i < n;) {
            if ((at = strstr(e + i, path)) && (size_t)(at - e) < n) {
                buf_put(&m, e + i, (size_t)(at - e) - i);
                buf_puts(&m, "the input");
                i = (size_t)(at - e) + strlen(path);
            } else {
                buf_put(&m, e + i, n - i);
                break;
            }
        }
        if (m.data)
            error_set(code, "cannot write these rows to %s: %s", table, m.data);
        buf_free(&m);
    }
    rc = rc ? rc : tail_write_from(lake, table, s, "SELECT * FROM __loch_ins", opname, producer, sequence, &rows,
                                   &last, &duplicate);
answer:
    if (rc == 0) { /* what it wrote, as a row (the HTTP API's answer) and in words */
        static const char *names[] = {"op", "rows", "lsn", "duplicate"};
        static const loch_kind kinds[] = {LOCH_KIND_STRING, LOCH_KIND_NUMBER, LOCH_KIND_NUMBER, LOCH_KIND_BOOL};
        char n[24], l[24];
        snprintf(n, sizeof(n), "%lld", duplicate ? 0LL : (long long)rows);
        snprintf(l, sizeof(l), "%" PRIu64, last);
        const char *cells[] = {opname, n, rows ? l : NULL, duplicate ? "true" : "false"};
        loch_result *r = NULL;
        buf m = BUF_INIT;
        rc = result_new(&r, 4, names, kinds);
        rc = rc ? rc : result_add_row(r, cells);
        if (rc == 0 && duplicate)
            rc = buf_printf(&m, "producer %s's write %" PRIu64 " is in %s already (LSN %" PRIu64 "): not written "
                            "again", producer, sequence, table, last) ? LOCH_ENOMEM : 0;
        else if (rc == 0 && rows)
            rc = buf_printf(&m, "%s %lld rows %s %s (LSN %" PRIu64 ", durable)",
                            op == LOCH_WRITE_DELETE ? "deleted" : opname[0] == 'i' ? "inserted" : "upserted",
                            (long long)rows,
                            op == LOCH_WRITE_DELETE ? "from" : "into", table, last) ? LOCH_ENOMEM : 0;
        else if (rc == 0)
            rc = buf_printf(&m, "wrote 0 rows to %s", table) ? LOCH_ENOMEM : 0;
        if (rc == 0) {
            r->message = m.data;
            *out = r;
        } else {
            buf_free(&m);
            loch_result_free(r);
        }
    }
cleanup:
    compute_exec(lake->cp, "DROP TABLE IF EXISTS __loch_ins");
    if (view.len) {
        buf_clear(&sql);
        if (buf_puts(&sql, "DROP VIEW IF EXISTS ") == 0 && buf_puts(&sql, view.data) == 0)
            compute_exec(lake->cp, sql.data);
    }
    if (stream.release)
        stream.release(&stream);
    scan_unpin(lake);
    free(key);
    txlog_snapshot_free(s);
    buf_free(&src);
    buf_free(&sql);
    buf_free(&view);
    return rc;
}

int loch_table_write_file_from(loch_result **out, loch_lake *lake, const char *table, const char *path,
                               const char *format, loch_write_op op, const char *producer, uint64_t sequence)
{
    api_enter(lake);
    return api_leave(lake, write_file_from_run(out, lake, table, path, format, op, producer, sequence));
}

typedef struct {
    int first, done;        /* the first failure; tables flushed */
    int aged;               /* only logs with a write older than the table's loch.wal.flushAge */
} flush_walk;

#define FLUSH_AGE_DEFAULT 60 /* seconds */

static int flush_one(loch_lake *lake, const char *table, snapshot *s, void *ctx)
{
    flush_walk *w = ctx;
    if (w->aged) {
        tail_slot *t = NULL;
        int64_t oldest = 0;
        pthread_mutex_lock(&lake->tails_mu);
        if (slot_for(lake, table, s, NULL, 0, &t) == 0 && t)
            wal_oldest(t->w, flushed_of(s), &oldest);
        pthread_mutex_unlock(&lake->tails_mu);
        error_clear();
        if (!oldest || time_now_ms() - oldest < property_i64(s, "loch.wal.flushAge", FLUSH_AGE_DEFAULT) * 1000)
            return 0;
    }
    int rc = tail_flush(lake, table, 1, NULL);
    if (rc < 0 && !w->first)
        w->first = rc;
    w->done += rc == 0;
    return 0;
}

static int flush_run(loch_result **out, loch_lake *lake, const char *table)
{
    if (table) {
        char sql[300];
        if (table_name_check(table) < 0)
            return loch_error_last_code();
        snprintf(sql, sizeof(sql), "FLUSH \"%s\"", table);
        loch_result *r = NULL;
        int rc = loch_sql(&r, lake, sql);
        if (out)
            *out = r;
        else
            loch_result_free(r);
        return rc;
    }
    /* every table with a primary key; one table's failure does not keep the others' out */
    flush_walk w = {0, 0, 0};
    int rc = each_logged_table(lake, flush_one, &w);
    rc = rc ? rc : w.first;
    if (rc == 0 && out)
        rc = result_message(out, "flushed the write-ahead logs of %d tables", w.done);
    return rc;
}

int loch_table_flush(loch_result **out, loch_lake *lake, const char *table)
{
    api_enter(lake);
    return api_leave(lake, flush_run(out, lake, table));
}

/* ---- the C API's writes: Arrow streams, no SQL engine --------------------------------- */

/* The Arrow format of a column of this engine type, as loch_write takes it. */
static int arrow_format_of(const char *duck, char *out, size_t cap)
{
    static const struct { const char *duck, *arrow; } map[] = {
        {"BIGINT", "l"}, {"INTEGER", "i"}, {"SMALLINT", "s"}, {"TINYINT", "c"}, {"DOUBLE", "g"},
        {"FLOAT", "f"},  {"BOOLEAN", "b"}, {"VARCHAR", "u"},  {"BLOB", "z"},    {"DATE", "tdD"},
        {"TIMESTAMP", "tsu:"}, {"TIMESTAMPTZ", "tsu:UTC"}, {"TIMESTAMP WITH TIME ZONE", "tsu:UTC"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(duck, map[i].duck) == 0)
            return snprintf(out, cap, "%s", map[i].arrow) > 0 ? 0 : -1;
    int p, s;
    if (sscanf(duck, "DECIMAL(%d,%d)", &p, &s) == 2)
        return snprintf(out, cap, "d:%d,%d", p, s) > 0 ? 0 : -1;
    return error_set(LOCH_EUNSUPPORTED, "columns of type %s cannot be written through loch_write yet", duck);
}

/* Whether an Arrow format a caller gave is physically the one expected (a timestamp's
 * zone is only a label: the values are UTC). */
static bool same_format(const char *given, const char *want)
{
    if (strncmp(want, "tsu:", 4) == 0 && want[4])
        return strncmp(given, "tsu:", 4) == 0 && given[4];
    return strcmp(given, want) == 0;
}

typedef struct write_plan {
    int refs;
    char table[256];
    snapshot *s;                   /* the snapshot it was made from (one reference) */
    struct timespec log_mtime;     /* of _delta_log when loaded: a commit changes it */
    size_t ncols, nkey;
    char (*names)[256];
    char (*formats)[32];
    bool *not_null, *key;
    char tag[64];
    uint64_t floor;
    uint64_t generation;           /* the log's when the plan was made (wal_append_at) */
    struct ArrowSchema schema;     /* the log's columns: the table's, then the log's own */
    struct ArrowSchema *children, **childp;
} write_plan;

static void plan_free(write_plan *p)
{
    if (!p)
        return;
    txlog_snapshot_free(p->s);
    free(p->names);
    free(p->formats);
    free(p->not_null);
    free(p->key);
    free(p->children);
    free(p->childp);
    free(p);
}

static void static_schema_release(struct ArrowSchema *s) { s->release = NULL; }

static int plan_build(snapshot *s, write_plan **out)
{
    const char **key = NULL;
    size_t nkey = 0, n = s->schema.count;
    write_plan *p = calloc(1, sizeof(*p));
    int rc = p ? tail_key(s, &key, &nkey) : error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && !nkey && !tail_logged(s))
        rc = error_set(LOCH_EUNSUPPORTED, "table has no write-ahead log: loch_write needs a primary key, or the "
                       "table property loch.wal.enabled = 'true' for appends");
    if (rc == 0) {
        p->names = calloc(n + 3, sizeof(*p->names));
        p->formats = calloc(n + 3, sizeof(*p->formats));
        p->not_null = calloc(n + 1, sizeof(bool));
        p->key = calloc(n + 1, sizeof(bool));
        p->children = calloc(n + 3, sizeof(struct ArrowSchema));
        p->childp = calloc(n + 3, sizeof(struct ArrowSchema *));
        if (!p->names || !p->formats || !p->not_null || !p->key || !p->children || !p->childp)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const schema_field *f = &s->schema.fields[i];
        snprintf(p->names[i], sizeof(p->names[i]), "%s", f->name);
        rc = arrow_format_of(f->duck_type, p->formats[i], sizeof(p->formats[i]));
        p->not_null[i] = !f->nullable;
        for (size_t k = 0; k < nkey; k++)
            p->key[i] = p->key[i] || strcmp(key[k], f->name) == 0;
    }
    if (rc == 0) {
        static const char *const own[][2] = {{WAL_COL_LSN, "l"}, {WAL_COL_CHANGE, "u"}, {WAL_COL_TIME, "tsu:UTC"}};
        for (int k = 0; k < 3; k++) {
            snprintf(p->names[n + k], sizeof(p->names[n + k]), "%s", own[k][0]);
            snprintf(p->formats[n + k], sizeof(p->formats[n + k]), "%s", own[k][1]);
        }
        for (size_t i = 0; i < n + 3; i++) {
            p->children[i] = (struct ArrowSchema){.format = p->formats[i], .name = p->names[i],
                                                  .flags = ARROW_FLAG_NULLABLE, .release = static_schema_release};
            p->childp[i] = &p->children[i];
        }
        p->schema = (struct ArrowSchema){.format = "+s", .name = "", .n_children = (int64_t)n + 3,
                                         .children = p->childp, .release = static_schema_release};
        p->ncols = n;
        p->nkey = nkey;
        p->refs = 1;

        tag_of(s, p->tag);
        p->floor = flushed_of(s) + 1;
    }
    free(key);
    if (rc < 0) {
        plan_free(p);
        return rc;
    }
    p->s = s;
    s->refs++;
    *out = p;
    return 0;
}

/* One frame's arrays: the caller's columns (borrowed), NULL columns for those it left
 * out, and the log's own three. */
typedef struct {
    struct ArrowArray root;
    struct ArrowArray **childp, *own;   /* own: the arrays made here */
    const void **bufs;                  /* 3 per made array */
    void **mem;                         /* what to free */
    size_t nmem;
    struct ArrowArray user;             /* the caller's batch, released with this */
} frame_batch;

static void static_array_release(struct ArrowArray *a) { a->release = NULL; }

static void frame_batch_release(struct ArrowArray *a)
{
    frame_batch *b = a->private_data;
    a->release = NULL; /* a may be b's own root: not touched after b goes */
    if (b->user.release)
        b->user.release(&b->user);
    for (size_t i = 0; i < b->nmem; i++)
        free(b->mem[i]);
    free(b->mem);
    free(b->childp);
    free(b->own);
    free(b->bufs);
    free(b);
}

static void *batch_alloc(frame_batch *b, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p)
        b->mem[b->nmem++] = p;
    return p;
}

/* A made array of n rows: NULLs of format f, or (values) the buffers given. */
static int made_array(frame_batch *b, size_t slot, const char *f, int64_t n, const void *data, const void *offsets)
{
    struct ArrowArray *a = &b->own[slot];
    const void **bufs = &b->bufs[3 * slot];
    int64_t bits = !strcmp(f, "l") || !strncmp(f, "ts", 2) || !strcmp(f, "g") ? 64 : !strcmp(f, "i") ||
                   !strcmp(f, "f") || !strcmp(f, "tdD") ? 32 : !strcmp(f, "s") ? 16 : !strcmp(f, "c") ? 8
                   : !strcmp(f, "b") ? 1 : !strncmp(f, "d:", 2) ? 128 : 0;
    bool var = !strcmp(f, "u") || !strcmp(f, "z");
    *a = (struct ArrowArray){.length = n, .n_buffers = var ? 3 : 2, .buffers = bufs,
                             .release = static_array_release};
    if (data || offsets) { /* values, no NULLs */
        bufs[1] = var ? offsets : data;
        bufs[2] = var ? data : NULL;
        return 0;
    }
    a->null_count = n;
    bufs[0] = batch_alloc(b, (size_t)(n + 7) / 8);
    bufs[1] = var ? batch_alloc(b, (size_t)(n + 1) * 4) : batch_alloc(b, (size_t)((n * bits + 7) / 8));
    bufs[2] = var ? batch_alloc(b, 1) : NULL;
    return bufs[0] && bufs[1] && (!var || bufs[2]) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

/* The first NULL's row, or -1. */
static int64_t first_null(const struct ArrowArray *a)
{
    if (a->null_count == 0 || !a->buffers[0])
        return -1;
    const unsigned char *v = a->buffers[0];
    for (int64_t i = 0; i < a->length; i++)
        if (!(v[i / 8] >> (i % 8) & 1))
            return i;
    return -1;
}

/* The frame for one of the caller's batches, its columns matched by name (map[i]: the
 * caller's column for table column i, or -1). Takes over *user. */
static int frame_of(const write_plan *p, const int *map, struct ArrowArray *user, const char *op,
                    int64_t time_us, int64_t row0, struct ArrowArray **out)
{
    int64_t null = -1;
    size_t n = p->ncols;
    int64_t rows = user->length;
    frame_batch *b = calloc(1, sizeof(*b));
    int rc = b ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0) {
        b->user = *user;
        user->release = NULL;
        b->childp = calloc(n + 3, sizeof(*b->childp));
        b->own = calloc(n + 3, sizeof(*b->own));
        b->bufs = calloc(3 * (n + 3), sizeof(*b->bufs));
        b->mem = calloc(3 * (n + 3) + 8, sizeof(*b->mem));
        if (!b->childp || !b->own || !b->bufs || !b->mem)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    if (rc == 0 && (b->user.offset != 0 || b->user.n_children < 0))
        rc = error_set(LOCH_EINVALID, "loch_write: arrays with an offset are not taken");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (map[i] >= 0) {
            struct ArrowArray *c = b->user.children[map[i]];
            if (c->length != rows || c->offset != 0)
                rc = error_set(LOCH_EINVALID, "loch_write: column %s has %lld rows (and offset %lld); its batch "
                               "has %lld", p->names[i], (long long)c->length, (long long)c->offset, (long long)rows);
            else if ((p->key[i] || p->not_null[i]) && (null = first_null(c)) >= 0)
                rc = error_set(LOCH_EINVALID, "column %s.%s is NOT NULL%s, and row %lld has no value for it",
                               p->table, p->names[i], p->key[i] ? " (the primary key)" : "",
                               (long long)(row0 + null + 1));
            b->childp[i] = c;
        } else {
            rc = made_array(b, i, p->formats[i], rows, NULL, NULL);
            b->childp[i] = &b->own[i];
        }
    }
    /* __lsn (filled by the log), __change_type, __timestamp */
    int64_t *lsn = rc ? NULL : batch_alloc(b, (size_t)rows * 8), *ts = rc ? NULL : batch_alloc(b, (size_t)rows * 8);
    int32_t *offs = rc ? NULL : batch_alloc(b, (size_t)(rows + 1) * 4);
    size_t oplen = strlen(op);
    char *text = rc ? NULL : batch_alloc(b, (size_t)rows * oplen);
    if (rc == 0 && (!lsn || !ts || !offs || !text))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (int64_t r = 0; rc == 0 && r < rows; r++) {
        ts[r] = time_us;
        offs[r + 1] = (int32_t)((r + 1) * (int64_t)oplen);
        memcpy(text + r * (int64_t)oplen, op, oplen);
    }
    rc = rc ? rc : made_array(b, n, "l", rows, lsn, NULL);
    rc = rc ? rc : made_array(b, n + 1, "u", rows, text, offs);
    rc = rc ? rc : made_array(b, n + 2, "tsu:UTC", rows, ts, NULL);
    if (rc < 0) {
        if (b)
            frame_batch_release(&(struct ArrowArray){.private_data = b});
        return rc;
    }
    for (int k = 0; k < 3; k++)
        b->childp[n + k] = &b->own[n + k];
    static const void *no_buffers[1] = {NULL};
    b->root = (struct ArrowArray){.length = rows, .n_buffers = 1, .buffers = no_buffers,
                                  .n_children = (int64_t)n + 3, .children = b->childp,
                                  .release = frame_batch_release, .private_data = b};
    *out = &b->root;
    return 0;
}

static void plan_release(write_plan *p)
{
    if (p && --p->refs == 0)
        plan_free(p);
}

/* The table's slot with a current plan (tails_mu held): reloaded when a commit touched
 * its _delta_log since. */
static int plan_for(loch_lake *lake, const char *table, tail_slot **out)
{
    char rel[300];
    buf dir = BUF_INIT;
    struct stat st;
    snapshot *s = NULL;
    write_plan *p = NULL;
    tail_slot *t = NULL;
    *out = NULL;
    snprintf(rel, sizeof(rel), "%s/_delta_log", table);
    int rc = lake->st->engine_path(lake->st, rel, &dir);
    if (rc == 0 && stat(dir.data, &st) < 0)
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist", table);
    for (int i = 0; rc == 0 && lake->tails && i < TAIL_MAX; i++) {
        tail_slot *c = &lake->tails->slots[i];
        if (c->w && c->plan && strcmp(c->table, table) == 0 && c->plan->log_mtime.tv_sec == st.st_mtim.tv_sec &&
            c->plan->log_mtime.tv_nsec == st.st_mtim.tv_nsec) {
            buf_free(&dir);
            *out = c;
            return 0;
        }
    }
    rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    rc = rc ? rc : plan_build(s, &p);
    if (rc == 0) {
        p->log_mtime = st.st_mtim;
        snprintf(p->table, sizeof(p->table), "%s", table);
    }
    rc = rc ? rc : slot_for(lake, table, s, &p->schema, 1, &t);
    char seg_tag[64];
    rc = rc ? rc : wal_tag(t->w, seg_tag);
    if (rc == 0 && strcmp(seg_tag, p->tag) != 0)
        rc = rotate_to(t, p->floor - 1, &p->schema, p->tag);
    /* The generation, then the log again: a commit between the load and here is seen
     * (its _delta_log is newer: the plan is stale), one after it moves the generation on
     * (the append is refused). */
    struct stat again;
    if (rc == 0) {
        p->generation = wal_generation(t->w);
        if (stat(dir.data, &again) < 0 || again.st_mtim.tv_sec != st.st_mtim.tv_sec ||
            again.st_mtim.tv_nsec != st.st_mtim.tv_nsec)
            rc = error_set(LOCH_ECONFLICT, "table \"%s\" changed while a write was prepared: write again", table);
    }
    if (rc == 0) {
        plan_release(t->plan);
        t->plan = p;
        p = NULL;
        *out = t;
    }
    plan_release(p);
    txlog_snapshot_free(s);
    buf_free(&dir);
    return rc;
}

int loch_write(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op, uint64_t *lsn)
{
    int duplicate;
    return loch_write_with(lake, table, rows, op, NULL, lsn, &duplicate);
}

/* The table's slot and plan, held (users, refs) until plan_put: not closed or replaced
 * under a write. */
static int plan_get(loch_lake *lake, const char *table, tail_slot **t, write_plan **p)
{
    pthread_mutex_lock(&lake->tails_mu);
    int rc = plan_for(lake, table, t);
    if (rc == 0) {
        (*t)->users++;
        *p = (*t)->plan;
        (*p)->refs++;
    }
    pthread_mutex_unlock(&lake->tails_mu);
    return rc;
}

static void plan_put(loch_lake *lake, tail_slot *t, write_plan *p)
{
    pthread_mutex_lock(&lake->tails_mu);
    t->users--;
    plan_release(p);
    pthread_mutex_unlock(&lake->tails_mu);
}

static int write_with(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op,
                      const loch_write_options *opts, tail_slot *held, write_plan *held_plan, uint64_t *lsn,
                      int *duplicate);

int loch_write_with(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op,
                    const loch_write_options *opts, uint64_t *lsn, int *duplicate)
{
    return write_with(lake, table, rows, op, opts, NULL, NULL, lsn, duplicate);
}

/* loch_write_with, on the slot and plan the caller holds (held: a plan_get of its own),
 * or on its own. */
static int write_with(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op,
                      const loch_write_options *opts, tail_slot *held, write_plan *held_plan, uint64_t *lsn,
                      int *duplicate)
{
    static const size_t sizes[] = {sizeof(loch_write_options)};
    loch_write_options o = LOCH_WRITE_OPTIONS_INIT;
    *duplicate = 0;
    if (options_copy(&o, opts, sizes, LOCH_WRITE_OPTIONS_VERSION, "loch_write_options") < 0) {
        if (rows && rows->release)
            rows->release(rows);
        return loch_error_last_code();
    }
    struct ArrowSchema in = {0};
    struct ArrowArray **frames = NULL;
    size_t n = 0, cap = 0;
    int *map = NULL;
    tail_slot *t = held;
    write_plan *p = held_plan;
    uint64_t first = 0;
    int kind = op & 0xFF, nowait = (op & LOCH_WRITE_NOWAIT) != 0;
    const char *opname = kind == LOCH_WRITE_DELETE ? "delete" : "upsert";
    *lsn = 0;
    int rc = rows && rows->release ? 0 : error_set(LOCH_EINVALID, "loch_write: no stream of rows");
    if (rc == 0 && kind != LOCH_WRITE_UPSERT && kind != LOCH_WRITE_INSERT && kind != LOCH_WRITE_DELETE)
        rc = error_set(LOCH_EINVALID, "loch_write: unknown operation %d", kind);
    rc = rc ? rc : table_name_check(table);
    if (rc == 0 && !held)
        rc = plan_get(lake, table, &t, &p);
    if (rc == 0 && !p->nkey && kind == LOCH_WRITE_DELETE)
        rc = error_set(LOCH_EINVALID, "table \"%s\" has no primary key: it takes inserts only, not deletes", table);
    if (rc == 0 && !p->nkey) /* nothing to match an upsert by: every row is new */
        opname = "insert";
    /* the caller's columns, by name */
    if (rc == 0 && rows->get_schema(rows, &in) != 0)
        rc = error_set(LOCH_EINVALID, "loch_write: the stream has no schema: %s",
                       rows->get_last_error ? rows->get_last_error(rows) : "");
    if (rc == 0 && (strcmp(in.format, "+s") != 0))
        rc = error_set(LOCH_EINVALID, "loch_write: the stream's rows must be a struct of columns, not \"%s\"",
                       in.format);
    if (rc == 0 && !(map = malloc((p->ncols + 1) * sizeof(int))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < p->ncols; i++) {
        map[i] = -1;
        for (int64_t c = 0; c < in.n_children; c++)
            if (in.children[c]->name && strcmp(in.children[c]->name, p->names[i]) == 0)
                map[i] = (int)c;
        if (map[i] >= 0 && kind == LOCH_WRITE_DELETE && !p->key[i])
            map[i] = -1; /* a delete carries its key; other columns are not read */
        if (map[i] >= 0 && !same_format(in.children[map[i]]->format, p->formats[i]))
            rc = error_set(LOCH_EINVALID, "loch_write: column %s is Arrow \"%s\"; table %s stores it as \"%s\"",
                           p->names[i], in.children[map[i]]->format, table, p->formats[i]);
        else if (map[i] < 0 && (p->key[i] || (p->not_null[i] && kind != LOCH_WRITE_DELETE)))
            rc = error_set(LOCH_EINVALID, "the rows have no column %s, which table %s needs%s",
                           p->names[i], table, p->key[i] ? " (its primary key)" : " (NOT NULL)");
    }
    for (int64_t c = 0; rc == 0 && kind != LOCH_WRITE_DELETE && c < in.n_children; c++) {
        size_t i = 0;
        while (i < p->ncols && (int64_t)map[i] != c)
            i++;
        if (i == p->ncols)
            rc = error_set(LOCH_EINVALID, "table %s has no column %s", table,
                           in.children[c]->name ? in.children[c]->name : "(unnamed)");
    }
    int64_t now_us = time_now_ms() * 1000, rows_seen = 0;
    while (rc == 0) {
        struct ArrowArray batch = {0};
        if (rows->get_next(rows, &batch) != 0) {
            rc = error_set(LOCH_EINVALID, "loch_write: the stream failed: %s",
                           rows->get_last_error ? rows->get_last_error(rows) : "");
            break;
        }
        if (!batch.release)
            break;
        if (batch.length == 0) {
            batch.release(&batch);
            continue;
        }
        if (n == cap) {
            struct ArrowArray **g = realloc(frames, (cap = cap ? 2 * cap : 8) * sizeof(*g));
            if (!g) {
                batch.release(&batch);
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            frames = g;
        }
        if (batch.n_children != in.n_children) {
            batch.release(&batch);
            rc = error_set(LOCH_EINVALID, "loch_write: a batch has %lld columns; the schema said %lld",
                           (long long)batch.n_children, (long long)in.n_children);
            break;
        }
        rc = frame_of(p, map, &batch, opname, now_us, rows_seen, &frames[n]);
        rows_seen += rc == 0 ? frames[n]->length : 0;
        if (batch.release)
            batch.release(&batch);
        n += rc == 0;
    }
    if (rc == 0 && n) {
        lake_hold(lake, "wal-append");
        rc = wal_append_at(t->w, &p->schema, frames, n, o.producer, o.sequence, p->generation, &first, lsn,
                           duplicate);
        lake_hold(lake, "wal-sync");
        rc = rc || nowait ? rc : wal_sync(t->w, *lsn);
    }
    for (size_t i = 0; i < n; i++)
        frames[i]->release(frames[i]);
    free(frames);
    free(map);
    if (in.release)
        in.release(&in);
    if (rows && rows->release)
        rows->release(rows);
    if (t && !held)
        plan_put(lake, t, p);
    return rc;
}

int loch_wait_durable(loch_lake *lake, const char *table, uint64_t lsn)
{
    tail_slot *t = NULL;
    int rc = table_name_check(table);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&lake->tails_mu);
    if ((rc = plan_for(lake, table, &t)) == 0)
        t->users++;
    pthread_mutex_unlock(&lake->tails_mu);
    if (rc < 0)
        return rc;
    rc = wal_sync(t->w, lsn);
    pthread_mutex_lock(&lake->tails_mu);
    t->users--;
    pthread_mutex_unlock(&lake->tails_mu);
    return rc;
}

int loch_write_ndjson(loch_lake *lake, const char *table, const char *text, size_t len, int op,
                      const loch_write_options *opts, uint64_t *lsn, int *duplicate, int64_t *rows)
{
    *rows = 0;
    tail_slot *t = NULL;
    write_plan *p = NULL;
    struct ArrowArrayStream st = {0};
    *lsn = 0;
    *duplicate = 0;
    int rc = table_name_check(table);
    rc = rc ? rc : plan_get(lake, table, &t, &p);
    const char **names = rc ? NULL : calloc(p->ncols + 1, sizeof(char *));
    const char **formats = rc ? NULL : calloc(p->ncols + 1, sizeof(char *));
    if (rc == 0 && (!names || !formats))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < p->ncols; i++) {
        names[i] = p->names[i];
        formats[i] = !strncmp(p->formats[i], "tsu:", 4) ? "?" : p->formats[i]; /* timestamps: the engine's */
    }
    rc = rc ? rc : ndjson_arrow_read(text, len, names, formats, p->ncols, &st, rows);
    if (rc == LOCH_EUNSUPPORTED)
        rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\" has a column type loch_write_ndjson does not parse", table);
    /* on the plan the rows were parsed by (one plan_for per write, not two) */
    rc = rc ? rc : write_with(lake, table, &st, op, opts, t, p, lsn, duplicate); /* takes st */
    if (st.release)
        st.release(&st);
    free(names);
    free(formats);
    if (t)
        plan_put(lake, t, p);
    return rc;
}

void tail_changed(loch_lake *lake, const char *table)
{
    buf dir = BUF_INIT;
    if (log_dir(lake, table, &dir) == 0 && wal_bump_dir(dir.data) < 0)
        lake_warn(lake, "table %s: its write-ahead log could not be told of the change: %s", table,
                  loch_error_last());
    error_clear();
    buf_free(&dir);
}

int tail_remove(loch_lake *lake, const char *table)
{
    buf dir = BUF_INIT;
    pthread_mutex_lock(&lake->tails_mu);
    tail_forget(lake, table);
    pthread_mutex_unlock(&lake->tails_mu);
    int rc = log_dir(lake, table, &dir);
    rc = rc ? rc : wal_remove(dir.data);
    buf_free(&dir);
    return rc;
}

static int flush_aged_run(loch_lake *lake, int *flushed)
{
    flush_walk w = {0, 0, 1};
    int rc = each_logged_table(lake, flush_one, &w);
    *flushed = w.done;
    return rc ? rc : w.first;
}

int loch_table_flush_aged(loch_lake *lake, int *flushed)
{
    api_enter(lake);
    return api_leave(lake, flush_aged_run(lake, flushed));
}

int tail_point(loch_lake *lake, const char *table, const snapshot *s, const size_t *files, const uint64_t *rows,
               size_t n, bool *hidden, char *name, size_t cap)
{
    tail_slot *t = NULL;
    name[0] = '\0';
    for (size_t i = 0; i < n; i++)
        hidden[i] = false;
    pthread_mutex_lock(&lake->tails_mu);
    int rc = slot_for(lake, table, s, NULL, 0, &t);
    uint64_t flushed = flushed_of(s), durable = rc == 0 && t ? wal_durable(t->w) : 0;
    if (rc == 0 && t && durable > flushed) {
        /* what the statement's tail_prepare loaded, over this very snapshot, or nothing */
        if (!t->loaded || t->from != flushed || t->to != durable || t->pos_version != s->version ||
            t->pos_files != s->file_count || lake->in_transaction) {
            rc = LOCH_ENOTFOUND;
        } else {
            tail_table_name(table, name, cap);
            for (size_t i = 0; i < n; i++) {
                const dv_rows *p = &t->pos[files[i]];
                size_t at = u64_lower_bound(p->rows, p->count, rows[i]);
                hidden[i] = at < p->count && p->rows[at] == rows[i];
            }
        }
    }
    pthread_mutex_unlock(&lake->tails_mu);
    return rc;
}
