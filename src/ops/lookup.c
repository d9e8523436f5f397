/*
 * ops/lookup.c - a point lookup by primary key, answered from a key index instead of a
 * scan:  SELECT * | cols FROM t WHERE k = <literal> [AND k2 = <literal> ...]
 * where k, k2, ... are exactly t's primary key (integer or text columns).
 *
 * The SQL engine answers that with a Parquet scan, and a scan of one row costs it about
 * two milliseconds whatever the file's layout: footers, row groups, a whole page
 * decompressed per column. The key index answers it in a fraction of that:
 *
 *   index   per data file, the key of every row, sorted (with each key's row when the
 *           file is not in key order), read once from the file's key columns with loch's
 *           own Parquet reader (formats/parquet.h), which also notes where every page
 *           of every column starts. Files are immutable, so a file's index never
 *           changes: a new version of the table only adds files to index and drops
 *           those it no longer has. Integer keys are indexed by value; text and
 *           composite keys by a 64-bit hash, every match checked against the row.
 *   lookup  the key's rows in the table's files, less those their deletion vectors
 *           delete and those whose key has a change in the write-ahead log's tail
 *           (tail_point); the row left, if any, is read column by column from its file.
 *           When none is left the tail is asked (one query of the engine's small table of
 *           the tail's latest change per key). The answer is the engine's own result
 *           (CAST of each value's text to the column's type), so its types, names and
 *           rendering are the scan's.
 *
 * Anything else (another statement shape, time travel, partitioned or column-mapped
 * tables, a file the reader does not read, a key found live twice, a column a file holds
 * in another case or nested, a session that made engine objects that may shadow a table
 * name, an open transaction) goes to the engine as before: this is an answer given
 * faster, never a different one. tests/py/test_lookup.py and test_lookup_foreign.py check
 * it against the engine's answer (lake option test_no_metadata_answers turns it off).
 *
 * Files are named by path, size and modification time (a file written again under its
 * name is another file) and read with pread, never mapped: a file cut short under a
 * session is an error, as it is for the engine, not a fault. A table with a file the
 * index cannot take is remembered with that file, so lookups do not build it again.
 *
 * A table of more than LOOKUP_EAGER_ROWS rows is indexed at its second lookup in a
 * session, not its first: a single `loch sql` call then never pays for an index it would
 * use once.
 *
 * Memory: 8 bytes per row for a file in key order (loch's flushes write them so), 16
 * otherwise, for at most LOOKUP_MAX_ROWS rows over the lake's indexes together.
 */
#include "ops/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dv.h"
#include "core/sqlscan.h"
#include "formats/parquet.h"
#include "util/misc.h"
#include "util/strmap.h"
#include "util/utf8.h"
#include "wal/frame.h"

#define LOOKUP_MAX_ROWS (INT64_C(1) << 26) /* 64M rows: at most ~1 GiB of index */
#define LOOKUP_MAX_KEYS 8
#define LOOKUP_EAGER_ROWS 1000000 /* indexed at the first lookup up to this many rows (64 MiB of
                                     files when the log does not count rows) */

/* Where a data file's bytes come from: the file the engine would read (storage's
 * engine_path), open while it is being read (fd -1 otherwise), and the size its add
 * action gives. Allocated on its own: the Parquet reader holds a pointer to it. */
typedef struct lk_source {
    char *local;
    int fd;
    int64_t size;
} lk_source;

/* One data file: where it is, its footer, its keys. */
typedef struct {
    char *path;             /* as the snapshot names it */
    int64_t log_size, log_mtime; /* as its add action gives them: a file written again
                               under the same name is another file */
    struct lk_source *src;  /* what the reader reads: apart, as files[] moves */
    pq_file *pq;
    uint64_t *codes;        /* sorted */
    uint32_t *rows;         /* codes[i]'s row; NULL when codes are in row order */
    size_t n;
    char *dv_key;           /* the deletion vector dv describes, or NULL */
    dv_rows dv;
    int seen;               /* in the snapshot of the last lookup */
} lk_file;

typedef struct {
    char table[256];
    char id[64];            /* the table's id: a table dropped and made again is another */
    lk_file *files;
    size_t n, cap;
    int64_t rows;
    int hashed;             /* codes are hashes, not integer keys */
    lk_file *last;          /* the file read last: only it stays open, with its buffers */
    strmap by_path;         /* path -> index in files (keys borrowed from files[].path) */
    size_t *of;             /* per file of the snapshot synced last, its index in files */
    const snapshot *synced; /* that snapshot, as it was: version, advances, log time */
    int64_t synced_version, synced_mtime;
    int synced_advances;
    int asked;              /* lookups seen while the table was not yet indexed */
    char *refused;          /* a file the index cannot take (its codec, encodings, size):
                               while the table has it, lookups go to the engine at once */
} lk_table;

struct lake_lookups {
    lk_table t[4];
    int next;               /* the slot to reuse */
};

static void file_close(lk_file *f)
{
    if (f->pq)
        pq_trim(f->pq);
    if (f->src && f->src->fd >= 0)
        close(f->src->fd);
    if (f->src)
        f->src->fd = -1;
}

static void file_free(lk_file *f)
{
    file_close(f);
    pq_free(f->pq);
    if (f->src)
        free(f->src->local);
    free(f->src);
    free(f->path);
    free(f->codes);
    free(f->rows);
    free(f->dv_key);
    dv_rows_free(&f->dv);
}

/* Lets go of the table's files, keeping what it is and what it refused. */
static void table_clear(lk_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        file_free(&t->files[i]);
    free(t->files);
    strmap_free(&t->by_path);
    free(t->of);
    t->files = NULL;
    t->of = NULL;
    t->n = t->cap = 0;
    t->rows = 0;
    t->last = NULL;
    t->synced = NULL;
}

static void table_free(lk_table *t)
{
    table_clear(t);
    free(t->refused);
    memset(t, 0, sizeof(*t));
}

void lookup_forget(loch_lake *lake, const char *table)
{
    if (!lake->lookups)
        return;
    for (int i = 0; i < 4; i++)
        if (lake->lookups->t[i].table[0] && (!table || strcmp(lake->lookups->t[i].table, table) == 0))
            table_free(&lake->lookups->t[i]);
    if (!table) {
        free(lake->lookups);
        lake->lookups = NULL;
    }
}

/* ---- the statement ------------------------------------------------------------------ */

typedef struct {
    char name[256];
    int is_text;            /* the literal: text (owned, unescaped) or an integer */
    char *text;
    int64_t i;
} lk_cond;

typedef struct {
    char table[256];
    int star;
    char cols[64][256];
    size_t ncols;
    lk_cond where[LOOKUP_MAX_KEYS];
    size_t nwhere;
} lk_query;

static void query_free(lk_query *q)
{
    for (size_t i = 0; i < q->nwhere; i++)
        free(q->where[i].text);
}

/* An identifier token as its name: a word as written, a quoted one unescaped. */
static bool ident(const char *sql, const sql_token *t, char *out, size_t cap)
{
    if (t->kind == TOK_WORD) {
        if (t->len >= cap)
            return false;
        memcpy(out, sql + t->start, t->len);
        out[t->len] = '\0';
        return true;
    }
    if (t->kind != TOK_QUOTED || t->len < 2 || sql[t->start] != '"')
        return false;
    size_t o = 0;
    for (size_t i = t->start + 1; i < t->start + t->len - 1; i++) {
        if (sql[i] == '"')
            i++;
        if (o + 1 >= cap)
            return false;
        out[o++] = sql[i];
    }
    out[o] = '\0';
    return o > 0;
}

static bool word(const char *sql, const sql_token *t, const char *w)
{
    return t->kind == TOK_WORD && sqlscan_is(sql, t, w);
}

static bool punct(const char *sql, const sql_token *t, char c)
{
    return t->kind == TOK_PUNCT && t->len == 1 && sql[t->start] == c;
}

static const char *const reserved[] = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "NULL", "TRUE", "FALSE",
                                       "DISTINCT", "ALL", "AS", "LIMIT", "ORDER", "GROUP", NULL};

static bool plain_word(const char *sql, const sql_token *t)
{
    for (size_t i = 0; t->kind == TOK_WORD && reserved[i]; i++)
        if (sqlscan_is(sql, t, reserved[i]))
            return false;
    return t->kind == TOK_WORD || t->kind == TOK_QUOTED;
}

/* Whether sql has the shape answered here; fills q. */
static bool parse(const char *sql, size_t len, lk_query *q)
{
    size_t pos = 0;
    sql_token t;
    memset(q, 0, sizeof(*q));
#define NEXT() (sqlscan_next(sql, len, &pos, &t) == 0)
    if (!NEXT() || !word(sql, &t, "SELECT") || !NEXT())
        return false;
    if (punct(sql, &t, '*')) {
        q->star = 1;
        if (!NEXT())
            return false;
    } else {
        for (;;) {
            if (q->ncols == 64 || !plain_word(sql, &t) || !ident(sql, &t, q->cols[q->ncols], 256) || !NEXT())
                return false;
            q->ncols++;
            if (!punct(sql, &t, ','))
                break;
            if (!NEXT())
                return false;
        }
    }
    if (!word(sql, &t, "FROM") || !NEXT() || !plain_word(sql, &t) || !ident(sql, &t, q->table, sizeof(q->table)) ||
        !NEXT() || !word(sql, &t, "WHERE"))
        return false;
    for (;;) {
        lk_cond *c = &q->where[q->nwhere];
        if (q->nwhere == LOOKUP_MAX_KEYS || !NEXT() || !plain_word(sql, &t) || !ident(sql, &t, c->name, 256) ||
            !NEXT() || !punct(sql, &t, '=') || !NEXT())
            return false;
        int neg = 0;
        if (punct(sql, &t, '-')) {
            neg = 1;
            if (!NEXT())
                return false;
        }
        if (t.kind == TOK_NUMBER) {
            char num[32];
            if (t.len >= sizeof(num))
                return false;
            memcpy(num, sql + t.start, t.len);
            num[t.len] = '\0';
            for (size_t i = 0; i < t.len; i++)
                if (num[i] < '0' || num[i] > '9')
                    return false; /* 1.5, 1e3, 0x10: the engine's */
            errno = 0;
            char *end;
            unsigned long long v = strtoull(num, &end, 10);
            if (errno || v > (unsigned long long)INT64_MAX)
                return false;
            c->i = neg ? -(int64_t)v : (int64_t)v;
        } else if (t.kind == TOK_STRING && !neg && sql[t.start] == '\'') {
            c->is_text = 1;
            if (!(c->text = malloc(t.len)))
                return false;
            size_t o = 0;
            for (size_t i = t.start + 1; i < t.start + t.len - 1; i++) {
                if (sql[i] == '\'')
                    i++;
                c->text[o++] = sql[i];
            }
            c->text[o] = '\0';
            if (utf8_valid_prefix((const unsigned char *)c->text, o) != o) {
                free(c->text); /* not counted in nwhere yet */
                c->text = NULL;
                return false; /* the engine says what is wrong with it */
            }
        } else {
            return false;
        }
        q->nwhere++;
        if (!NEXT())
            return false;
        if (t.kind == TOK_END)
            return true;
        if (!word(sql, &t, "AND"))
            return false;
    }
#undef NEXT
}

/* ---- keys ------------------------------------------------------------------------------- */

/* The Delta types a lookup shows, with the kind of Parquet column that holds them
 * (fits says which exactly); -1 for the others, which only the engine reads. */
static int shown_kind(const char *delta_type)
{
    static const struct {
        const char *type;
        pq_kind kind;
    } shown[] = {{"\"long\"", PQ_INT},        {"\"integer\"", PQ_INT},          {"\"short\"", PQ_INT},
                 {"\"byte\"", PQ_INT},        {"\"string\"", PQ_STRING},        {"\"boolean\"", PQ_BOOL},
                 {"\"double\"", PQ_DOUBLE},   {"\"float\"", PQ_FLOAT},          {"\"date\"", PQ_DATE},
                 {"\"timestamp\"", PQ_TIMESTAMP}, {"\"timestamp_ntz\"", PQ_TIMESTAMP}};
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
        if (strcmp(delta_type, shown[i].type) == 0)
            return (int)shown[i].kind;
    return strncmp(delta_type, "\"decimal(", 9) == 0 ? (int)PQ_DECIMAL : -1;
}

static bool int_type(const char *delta_type) { return shown_kind(delta_type) == PQ_INT; }

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

/* A key column's value into a hash: integers as 8 bytes, text as its length and bytes. */
static uint64_t mix_value(uint64_t h, int is_text, int64_t i, const uint8_t *bytes, size_t len)
{
    uint8_t b[9];
    b[0] = is_text ? 's' : 'i';
    uint64_t v = is_text ? (uint64_t)len : (uint64_t)i;
    for (int k = 0; k < 8; k++)
        b[k + 1] = (uint8_t)(v >> (8 * k));
    h = mix(h, b, 9);
    return is_text ? mix(h, bytes, len) : h;
}

typedef struct {
    uint64_t *codes;
    int64_t n;
    int is_text, hashed, first;
} fill_ctx;

static int fill(void *ctx, int64_t row, const pq_value *v)
{
    fill_ctx *f = ctx;
    if (row >= f->n || v->null)
        return error_set(LOCH_ECORRUPT, "a primary key column holds NULL or more rows than the file");
    uint64_t h = f->first ? UINT64_C(0xcbf29ce484222325) : f->codes[row];
    f->codes[row] = f->hashed ? mix_value(h, f->is_text, v->i, v->bytes, v->len) : (uint64_t)v->i;
    return 0;
}

typedef struct {
    uint64_t code;
    uint32_t row;
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return x->code < y->code ? -1 : x->code > y->code ? 1 : (x->row > y->row) - (x->row < y->row);
}

/* Integer keys compare as signed numbers: stored with the sign bit flipped, they sort
 * as unsigned. */
#define SIGNED(v) ((v) ^ (UINT64_C(1) << 63))

/* The Parquet reader's bytes: read, never mapped, so a file cut short under a session
 * is an error the engine then reports too, never a fault. Opened when first read. */
static int file_read(void *ctx, uint64_t off, void *out, size_t len)
{
    lk_source *f = ctx;
    struct stat st;
    if (f->fd < 0) {
        f->fd = open(f->local, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
            return error_errno(errno, "cannot open", f->local);
        if (fstat(f->fd, &st) < 0 || st.st_size != f->size) {
            close(f->fd);
            f->fd = -1;
            return error_set(LOCH_ECORRUPT, "%s is not the file the table's log describes (%lld bytes, not %lld)",
                             f->local, (long long)st.st_size, (long long)f->size);
        }
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(f->fd, (char *)out + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? error_errno(errno, "cannot read", f->local)
                         : error_set(LOCH_ECORRUPT, "%s ends before byte %llu: it changed under the reader", f->local,
                                     (unsigned long long)(off + len));
        done += (size_t)n;
    }
    return 0;
}

/* Indexes one data file. */
static int index_file(loch_lake *lake, const lk_table *t, const snapshot *s, const char *const *key, size_t nkey,
                      lk_file *f)
{
    buf rel = BUF_INIT, local = BUF_INIT;
    int rc = buf_printf(&rel, "%s/%s", t->table, f->path) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    rc = rc ? rc : lake->st->engine_path(lake->st, rel.data, &local);
    if (rc == 0 && (!(f->src = calloc(1, sizeof(*f->src))) || !(f->src->local = strdup(local.data))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (f->src) {
        f->src->fd = -1;
        f->src->size = f->log_size;
    }
    buf_free(&rel);
    buf_free(&local);
    pq_reader reader = {file_read, f->src};
    if (rc == 0 && f->log_size < 12)
        rc = error_set(LOCH_ECORRUPT, "%s: a data file of %lld bytes", f->path, (long long)f->log_size);
    rc = rc ? rc : pq_open_reader(&f->pq, &reader, (uint64_t)f->log_size);
    int64_t n = rc ? 0 : pq_rows(f->pq);
    int64_t held = 0; /* one budget for the lake's indexes together */
    for (int i = 0; i < 4; i++)
        held += lake->lookups->t[i].rows;
    if (rc == 0 && (n < 0 || n > UINT32_MAX || n + held > LOOKUP_MAX_ROWS))
        rc = error_set(LOCH_EUNSUPPORTED, "too many rows to index");
    if (rc == 0 && !(f->codes = malloc(sizeof(uint64_t) * ((size_t)n + 1))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    fill_ctx fc = {f->codes, n, 0, t->hashed, 1};
    for (size_t k = 0; rc == 0 && k < nkey; k++) {
        int col = pq_find(f->pq, key[k]);
        const pq_column *c = col < 0 ? NULL : pq_column_at(f->pq, col);
        const schema_field *sf = schema_find(&s->schema, key[k]);
        fc.is_text = sf && !int_type(sf->delta_type);
        if (!c || (fc.is_text ? c->kind != PQ_STRING : c->kind != PQ_INT))
            rc = error_set(LOCH_EUNSUPPORTED, "key column %s is not read here", key[k]);
        rc = rc ? rc : pq_scan(f->pq, col, fill, &fc);
        fc.first = 0;
    }
    /* every column's pages, for the reads to come */
    for (size_t c = 0; rc == 0 && c < s->schema.count; c++) {
        int col = pq_find(f->pq, s->schema.fields[c].name);
        rc = col < 0 ? 0 : pq_prepare(f->pq, col);
    }
    file_close(f);
    if (rc < 0)
        return rc;
    f->n = (size_t)n;
    for (size_t i = 0; t->hashed && i < f->n; i++)
        f->codes[i] = finish(f->codes[i]);
    for (size_t i = 0; !t->hashed && i < f->n; i++)
        f->codes[i] = SIGNED(f->codes[i]);
    bool sorted = true;
    for (size_t i = 1; sorted && i < f->n; i++)
        sorted = f->codes[i - 1] <= f->codes[i];
    if (sorted)
        return 0;
    pair *p = malloc(sizeof(pair) * (f->n + 1));
    if (!p || !(f->rows = malloc(sizeof(uint32_t) * (f->n + 1)))) {
        free(p);
        return error_set(LOCH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < f->n; i++)
        p[i] = (pair){f->codes[i], (uint32_t)i};
    qsort(p, f->n, sizeof(pair), pair_cmp);
    for (size_t i = 0; i < f->n; i++)
        f->codes[i] = p[i].code, f->rows[i] = p[i].row;
    free(p);
    return 0;
}

/* Whether f is the file the snapshot's add action i describes. */
static bool same_file(const lk_file *f, const log_file *a)
{
    return strcmp(f->path, a->path) == 0 && f->log_size == a->size && f->log_mtime == a->modification_time;
}

/* The index of s's table, brought to s: files it no longer has dropped, new ones
 * indexed, t->of mapping s's files to them. LOCH_EUNSUPPORTED when it cannot be (then
 * the engine answers); the file at fault is remembered, so later lookups do not build
 * the index again only to fail on it again. */
static int table_for(loch_lake *lake, const char *table, const snapshot *s, const char *const *key, size_t nkey,
                     int hashed, lk_table **out)
{
    if (!lake->lookups && !(lake->lookups = calloc(1, sizeof(*lake->lookups))))
        return error_set(LOCH_ENOMEM, "out of memory");
    const char *id = s->metadata.id ? s->metadata.id : "";
    lk_table *t = NULL;
    for (int i = 0; i < 4 && !t; i++)
        if (strcmp(lake->lookups->t[i].table, table) == 0)
            t = &lake->lookups->t[i];
    if (t && (strcmp(t->id, id) != 0 || t->hashed != hashed))
        table_free(t);
    if (!t || !t->table[0]) {
        if (!t) {
            t = &lake->lookups->t[lake->lookups->next];
            lake->lookups->next = (lake->lookups->next + 1) % 4;
            table_free(t);
        }
        snprintf(t->table, sizeof(t->table), "%s", table);
        snprintf(t->id, sizeof(t->id), "%s", id);
        t->hashed = hashed;
    }
    /* A large table's first lookup is the engine's: building the index costs about a
     * second per 10M rows, which a one-statement session (a `loch sql` call) would pay for
     * a single answer. The second lookup in the session builds it. */
    bool large = s->num_records >= 0 ? s->num_records > LOOKUP_EAGER_ROWS : s->size_bytes > (INT64_C(64) << 20);
    if (!t->synced && !t->n && !t->asked++ && large)
        return error_set(LOCH_EUNSUPPORTED, "a large table's first lookup");
    /* the snapshot it was last brought to, unchanged: nothing to do */
    if (t->synced == s && t->synced_version == s->version && t->synced_advances == s->advances &&
        t->synced_mtime == s->commit_stamp) {
        *out = t;
        return 0;
    }
    t->synced = NULL;
    if (t->last) /* files come and go below, and the array may move */
        file_close(t->last);
    t->last = NULL;
    if (t->refused) {
        for (size_t i = 0; i < s->file_count; i++)
            if (strcmp(s->files[i].path, t->refused) == 0)
                return error_set(LOCH_EUNSUPPORTED, "the key index cannot take %s", t->refused);
        free(t->refused);
        t->refused = NULL;
    }
    size_t *of = calloc(s->file_count + 1, sizeof(size_t));
    if (!of)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->n; i++)
        t->files[i].seen = 0;
    int rc = 0;
    size_t added = 0;
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        size_t j;
        if (strmap_get(&t->by_path, s->files[i].path, &j) && same_file(&t->files[j], &s->files[i])) {
            t->files[j].seen = 1;
            continue;
        }
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            lk_file *g = realloc(t->files, cap * sizeof(*g));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            t->files = g;
            t->cap = cap;
        }
        lk_file *f = &t->files[t->n];
        memset(f, 0, sizeof(*f));
        f->log_size = s->files[i].size;
        f->log_mtime = s->files[i].modification_time;
        if (!(f->path = strdup(s->files[i].path))) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        if ((rc = index_file(lake, t, s, key, nkey, f)) < 0) {
            if (rc != LOCH_ENOMEM)
                t->refused = strdup(s->files[i].path);
            file_free(f);
            break;
        }
        f->seen = 1;
        t->rows += (int64_t)f->n;
        t->n++;
        added++;
    }
    if (rc < 0) { /* a table the index cannot take whole is not answered from it at all */
        free(of);
        table_clear(t);
        return rc;
    }
    /* drop the files s no longer has (or has again under another add), then map s's */
    size_t kept = 0;
    bool moved = false;
    for (size_t i = 0; i < t->n; i++) {
        if (t->files[i].seen) {
            moved = moved || kept != i;
            t->files[kept++] = t->files[i];
        } else {
            t->rows -= (int64_t)t->files[i].n;
            file_free(&t->files[i]);
            moved = true;
        }
    }
    t->n = kept;
    if (moved || added) {
        strmap_free(&t->by_path);
        for (size_t i = 0; rc == 0 && i < t->n; i++)
            rc = strmap_put(&t->by_path, t->files[i].path, i);
    }
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        size_t j;
        if (!strmap_get(&t->by_path, s->files[i].path, &j) || !same_file(&t->files[j], &s->files[i]))
            rc = error_set(LOCH_EUNSUPPORTED, "a file not indexed");
        of[i] = j;
    }
    if (rc < 0) {
        free(of);
        table_clear(t);
        return rc;
    }
    free(t->of);
    t->of = of;
    t->synced = s;
    t->synced_version = s->version;
    t->synced_advances = s->advances;
    t->synced_mtime = s->commit_stamp;
    *out = t;
    return 0;
}

/* Whether the file's deletion vector deletes row. */
static int deleted(loch_lake *lake, const char *table, const log_file *lf, lk_file *f, uint64_t row, bool *out)
{
    *out = false;
    if (!lf->dv.storage_type)
        return 0;
    buf key = BUF_INIT; /* the whole descriptor: two DVs may differ only at the end */
    if (buf_printf(&key, "%c|%" PRId64 "|%" PRId64 "|", lf->dv.storage_type, lf->dv.offset, lf->dv.size_in_bytes) ||
        buf_puts(&key, lf->dv.path_or_inline ? lf->dv.path_or_inline : ""))
        return error_set(LOCH_ENOMEM, "out of memory");
    if (!f->dv_key || strcmp(f->dv_key, key.data) != 0) {
        free(f->dv_key);
        f->dv_key = NULL;
        dv_rows_free(&f->dv);
        int rc = scan_file_dv(lake, table, lf, &f->dv);
        if (rc < 0) {
            buf_free(&key);
            return rc;
        }
        f->dv_key = key.data; /* owned now */
        key = (buf)BUF_INIT;
    }
    buf_free(&key);
    size_t at = u64_lower_bound(f->dv.rows, f->dv.count, row);
    *out = at < f->dv.count && f->dv.rows[at] == row;
    return 0;
}

/* Whether column c of a file holds field f's values as the scan reads them: the text
 * of a value is then what the engine's CAST reads back to the scan's value. */
static bool fits(const schema_field *f, const pq_column *c)
{
    const char *t = f->delta_type;
    int precision, scale;
    switch (shown_kind(t)) {
    case PQ_DOUBLE: /* a float widened to double reads as the double it is */
        return c->kind == PQ_DOUBLE || c->kind == PQ_FLOAT;
    case PQ_TIMESTAMP: /* not INT96; UTC-adjusted exactly for "timestamp", not for "timestamp_ntz" */
        return c->kind == PQ_TIMESTAMP && c->physical != 3 && c->utc == (t[10] == '"');
    case PQ_DECIMAL:
        return c->kind == PQ_DECIMAL && sscanf(t, "\"decimal(%d,%d)\"", &precision, &scale) == 2 &&
               scale == c->scale;
    default:
        return (int)c->kind == shown_kind(t);
    }
}

/* ---- the answer ----------------------------------------------------------------------- */

static int put_cast(buf *sql, const char *expr, const schema_field *f)
{
    return buf_printf(sql, "CAST(%s AS %s) AS ", expr, f->duck_type) || buf_put_sql_ident(sql, f->name)
               ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

/* The statement's answer, once the table and its columns are known to fit. */
static int run(loch_lake *lake, const lk_query *q, const snapshot *s, const schema_field **proj, size_t nproj,
               const char *const *key, const lk_cond *const *cond, size_t nkey, int hashed, lookup_plan *out)
{
    lk_table *t = NULL;
    int rc = table_for(lake, q->table, s, key, nkey, hashed, &t);
    if (rc < 0)
        return rc;
    uint64_t code = UINT64_C(0xcbf29ce484222325);
    for (size_t k = 0; k < nkey; k++)
        code = hashed ? mix_value(code, cond[k]->is_text, cond[k]->i, (const uint8_t *)cond[k]->text,
                                  cond[k]->text ? strlen(cond[k]->text) : 0)
                      : (uint64_t)cond[k]->i;
    code = hashed ? finish(code) : SIGNED(code);
    /* the key's rows in every file: several when older rows of the key were deleted */
    size_t cand_file[16], ncand = 0;
    uint64_t cand_row[16];
    for (size_t i = 0; i < s->file_count; i++) {
        const lk_file *f = &t->files[t->of[i]];
        if (!f->n || code < f->codes[0] || code > f->codes[f->n - 1])
            continue;
        for (size_t lo = u64_lower_bound(f->codes, f->n, code); lo < f->n && f->codes[lo] == code; lo++) {
            if (ncand == 16)
                return error_set(LOCH_EUNSUPPORTED, "too many rows of one key");
            cand_file[ncand] = i;
            cand_row[ncand++] = f->rows ? f->rows[lo] : lo;
        }
    }
    bool hidden[16];
    char tail[320];
    if ((rc = tail_point(lake, q->table, s, cand_file, cand_row, ncand, hidden, tail, sizeof(tail))) < 0)
        return rc == LOCH_ENOTFOUND ? error_set(LOCH_EUNSUPPORTED, "the tail is not loaded") : rc;
    /* the one live row of the key: not deleted, not changed in the tail, truly the key */
    lk_file *f = NULL;
    uint64_t row = 0;
    for (size_t c = 0; rc == 0 && c < ncand; c++) {
        lk_file *g = &t->files[t->of[cand_file[c]]];
        bool gone;
        if (hidden[c] || (rc = deleted(lake, q->table, &s->files[cand_file[c]], g, cand_row[c], &gone)) < 0 || gone)
            continue;
        if (t->last && t->last != g)
            file_close(t->last);
        t->last = g;
        bool same = true;
        for (size_t k = 0; hashed && same && rc == 0 && k < nkey; k++) {
            pq_value v;
            int col = pq_find(g->pq, key[k]);
            rc = col < 0 ? LOCH_EUNSUPPORTED : pq_read(g->pq, col, (int64_t)cand_row[c], &v);
            if (rc == 0)
                same = cond[k]->is_text ? !v.null && v.len == strlen(cond[k]->text) &&
                                              memcmp(v.bytes, cond[k]->text, v.len) == 0
                                        : !v.null && v.i == cond[k]->i;
        }
        if (rc < 0 || !same)
            continue;
        /* a key twice: a table some other writer made without keeping it a key; the
         * engine shows what is there */
        if (f)
            return error_set(LOCH_EUNSUPPORTED, "the key is in the table more than once");
        f = g;
        row = cand_row[c];
    }
    if (rc < 0)
        return rc;
    /* The answer: the row's values (as $1..$n), else the tail's latest change of the key,
     * else nothing; each column cast to the scan's type under its name. */
    buf text = BUF_INIT, sql = BUF_INIT, ident = BUF_INIT;
    compute_param *params = out->params;
    char **texts = out->texts;
    size_t np = 0;
    rc = buf_puts(&sql, "SELECT ") ? LOCH_ENOMEM : 0;
    for (size_t p = 0; rc == 0 && p < nproj; p++) {
        char ph[16];
        const char *expr = "NULL";
        if (f) {
            int col = pq_find(f->pq, proj[p]->name);
            pq_value v = {.null = true};
            /* a column the file does not have at all reads as NULL (added later); one it
             * has otherwise (another case, nested) is the engine's to read */
            if (col < 0 ? pq_has_name(f->pq, proj[p]->name) : !fits(proj[p], pq_column_at(f->pq, col)))
                rc = error_set(LOCH_EUNSUPPORTED, "column %s is stored otherwise", proj[p]->name);
            rc = rc || col < 0 ? rc : pq_read(f->pq, col, (int64_t)row, &v);
            rc = rc ? rc : pq_text(col < 0 ? NULL : pq_column_at(f->pq, col), &v, &text);
            if (rc == 0 && !v.null && !(texts[p] = strndup(text.data ? text.data : "", text.len)))
                rc = LOCH_ENOMEM;
            params[np++] = (compute_param){COMPUTE_STRING, texts[p]};
            snprintf(ph, sizeof(ph), "$%zu", np);
            expr = ph;
        } else if (tail[0]) {
            buf_clear(&ident);
            rc = buf_put_sql_ident(&ident, proj[p]->name) ? LOCH_ENOMEM : 0;
            expr = ident.data;
        }
        rc = rc ? rc : (p ? buf_puts(&sql, ", ") : 0) || put_cast(&sql, expr, proj[p]) ? LOCH_ENOMEM : 0;
    }
    if (rc == 0 && !f && tail[0]) {
        rc = buf_printf(&sql, " FROM %s WHERE " WAL_COL_CHANGE " <> 'delete'", tail) ? LOCH_ENOMEM : 0;
        for (size_t k = 0; rc == 0 && k < nkey; k++) {
            char num[32];
            snprintf(num, sizeof(num), "%" PRId64, cond[k]->i);
            rc = buf_puts(&sql, " AND ") || buf_put_sql_ident(&sql, key[k]) || buf_printf(&sql, " = $%zu", np + 1)
                     ? LOCH_ENOMEM : 0;
            if (rc == 0 && !(texts[np] = strdup(cond[k]->is_text ? cond[k]->text : num)))
                rc = LOCH_ENOMEM;
            if (rc == 0)
                params[np] = (compute_param){cond[k]->is_text ? COMPUTE_STRING : COMPUTE_NUMBER, texts[np]}, np++;
        }
    } else if (rc == 0 && !f) {
        rc = buf_puts(&sql, " WHERE false") ? LOCH_ENOMEM : 0;
    }
    buf_free(&ident);
    if (rc == LOCH_ENOMEM)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    out->sql = sql.data; /* owned by the plan from here */
    out->n = np;
    buf_free(&text);
    return rc;
}

void lookup_plan_free(lookup_plan *p)
{
    for (size_t i = 0; i < sizeof(p->texts) / sizeof(p->texts[0]); i++)
        free(p->texts[i]);
    free(p->sql);
    memset(p, 0, sizeof(*p));
}

int lookup_prepare(loch_lake *lake, const char *sql, size_t len, lookup_plan *out)
{
    memset(out, 0, sizeof(*out));
    lk_query q;
    memset(&q, 0, sizeof(q));
    if (lake->opts.test_no_metadata_answers || lake->in_transaction || lake->engine_objects ||
        !parse(sql, len, &q)) {
        query_free(&q);
        return 0;
    }
    snapshot *s = NULL;
    txlog_at at = {-1, 0, 0};
    int answered = 0, rc = 0;
    if (table_name_check(q.table) < 0 || !txlog_exists(lake, q.table) || txlog_load(lake, q.table, &at, &s) < 0)
        goto done;
    /* the key, exactly the columns compared; every column shown is a plain one */
    const char **key = NULL;
    size_t nkey = 0;
    if (tail_key(s, &key, &nkey) < 0 || nkey == 0 || nkey != q.nwhere || s->metadata.partition_count ||
        snapshot_property(s, "delta.columnMapping.mode"))
        goto done_key;
    const lk_cond *cond[LOOKUP_MAX_KEYS];
    int hashed = nkey > 1;
    for (size_t k = 0; k < nkey; k++) {
        cond[k] = NULL;
        for (size_t w = 0; w < q.nwhere; w++)
            if (strcasecmp(q.where[w].name, key[k]) == 0)
                cond[k] = cond[k] ? NULL : &q.where[w];
        const schema_field *f = schema_find(&s->schema, key[k]);
        if (!cond[k] || !f || (int_type(f->delta_type) ? cond[k]->is_text
                                                        : strcmp(f->delta_type, "\"string\"") != 0 || !cond[k]->is_text))
            goto done_key;
        hashed = hashed || cond[k]->is_text;
    }
    const schema_field *proj[64];
    size_t nproj = q.star ? s->schema.count : q.ncols;
    if (nproj > 64)
        goto done_key;
    for (size_t p = 0; p < nproj; p++) {
        const schema_field *f = NULL;
        if (q.star) {
            f = &s->schema.fields[p];
        } else {
            for (size_t i = 0; i < s->schema.count && !f; i++)
                if (strcmp(s->schema.fields[i].name, q.cols[p]) == 0)
                    f = &s->schema.fields[i];
        }
        if (!f || shown_kind(f->delta_type) < 0)
            goto done_key;
        proj[p] = f;
    }
    rc = run(lake, &q, s, proj, nproj, key, cond, nkey, hashed, out);
    answered = rc == 0;
    if (rc < 0) {
        lookup_plan_free(out);
        error_clear(); /* the engine answers, and reports what is wrong */
    }
done_key:
    free(key);
done:
    txlog_snapshot_free(s);
    query_free(&q);
    return answered;
}

int lookup_try(loch_lake *lake, const char *sql, size_t len, loch_result **out)
{
    lookup_plan p;
    loch_result *r = NULL;
    if (!lookup_prepare(lake, sql, len, &p))
        return 0;
    int rc = result_new(&r, 0, NULL, NULL);
    rc = rc ? rc : compute_query_params(lake->cp, p.sql, p.params, p.n, &r->cr);
    lookup_plan_free(&p);
    if (rc < 0) { /* the engine answers the statement itself, and says what is wrong */
        loch_result_free(r);
        error_clear();
        return 0;
    }
    lake_hold(lake, "key-lookup"); /* tests: the index answered */
    *out = r;
    return 1;
}
