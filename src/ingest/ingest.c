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
 *      typed in one C scan on two threads (csv.c), then read once by the engine with
 *      those types; compressed files and unusual dialects are read as text and typed by
 *      one SQL aggregate with the same rules (formats/csvtypes.c);
 *   3. JSON and Parquet are read typed; nested JSON objects become parent_child columns;
 *   4. reconcile with the table: new columns are added; a value type the table's column
 *      holds is cast to it; one it cannot hold widens the column, and the table's rows
 *      are rewritten with it; a nested column that would have to widen is refused
 *      naming the column and both types (with overwrite, the files define the schema).
 * Each input becomes one data file; all of them, their tags, any schema change and (with
 * overwrite) the removal of the old files are one commit. A failure writes nothing that
 * stays: data files written before it are removed.
 *
 * This file drives the steps, which live beside it (the map is in ingest/ingest.h): it
 * expands the arguments, examines each input (format, encoding, the one C scan, the
 * hash), skips the bytes the table holds already, plans the rest, and hands the plan to
 * the commit. Two writers that find no table race to create it; the one that loses
 * starts again against the winner's table (loch_ingest).
 */
#include "ingest/ingest.h"

#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/options.h"
#include "util/misc.h"

/* The format, the encoding, the C scan where one applies, and the hash of input x. */
static int examine(loch_lake *lake, input *x, const loch_ingest_options *opts)
{
    int rc = 0;
    x->format = ingest_format_of(x, opts->format);
    x->rejects = opts->rejects != NULL;
    x->encoding = "utf-8";
    const char *enc = opts->version >= 2 ? opts->encoding : NULL;
    if (!strcmp(x->format, "csv") || !strcmp(x->format, "tsv"))
        rc = ingest_pick_encoding(x, enc);
    else if (enc && strcasecmp(enc, "utf-8") && strcasecmp(enc, "utf8"))
        rc = error_set(LOCH_EINVALID, "%s: --encoding applies to CSV and TSV text (this is %s)", x->shown,
                       x->format);
    if (rc < 0)
        return rc;
    if (!strcmp(x->format, "csv") || !strcmp(x->format, "tsv"))
        rc = ingest_scan_csv(lake, x, opts->schema);
    else if (!strcmp(x->format, "json") || !strcmp(x->format, "ndjson"))
        rc = ingest_scan_json(x);
    rc = rc || x->sha[0] ? rc : ingest_hash_file(x); /* unless a scan hashed it */
    if (rc < 0)
        return rc;
    if (opts->rejects && strcmp(x->format, "csv") && strcmp(x->format, "tsv"))
        return error_set(LOCH_EUNSUPPORTED, "%s: --rejects works with CSV and TSV files (this one is %s)",
                         x->shown, x->format);
    return 0;
}

static int ingest_once(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args,
                       size_t count, const loch_ingest_options *opts, int *created_concurrently);

static int ingest_run(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args, size_t count,
                const loch_ingest_options *opts)
{
    /* Writers that each find no table race to create it; one wins. The others start
     * again against the table it made: then they append (or, for the same bytes, do
     * nothing), as they would have a moment later. */
    static const size_t sizes[] = {offsetof(loch_ingest_options, progress), offsetof(loch_ingest_options, name),
                                   sizeof(loch_ingest_options)};
    loch_ingest_options o = LOCH_INGEST_OPTIONS_INIT;
    int again = 0;
    *out = NULL;
    int rc = options_copy(&o, opts, sizes, LOCH_INGEST_OPTIONS_VERSION, "loch_ingest_options");
    rc = rc ? rc : ingest_once(out, lake, table_arg, args, count, &o, &again);
    if (rc == LOCH_EEXISTS && again) {
        error_clear();
        rc = ingest_once(out, lake, table_arg, args, count, &o, &again);
    }
    return rc;
}

int loch_ingest(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args, size_t count,
                const loch_ingest_options *opts)
{
    api_enter(lake);
    return api_leave(lake, ingest_run(out, lake, table_arg, args, count, opts));
}

static int ingest_once(loch_result **out, loch_lake *lake, const char *table_arg, const char *const *args,
                       size_t count, const loch_ingest_options *opts, int *created_concurrently)
{
    loch_ingest_options dflt = LOCH_INGEST_OPTIONS_INIT;
    inputs in = {0};
    snapshot *s = NULL;
    struct wal_fence *fence = NULL; /* a log of the table, fenced until the ingest commits */
    buf *sqls = NULL;
    char table[256];
    txlog_at at;
    double started = time_mono();
    meter m = {.started = started};
    int64_t bytes = 0, total = 0;
    size_t skipped = 0, used = 0;
    opts = opts ? opts : &dflt;
    *out = NULL;
    int rc = scan_parse_name(table_arg, table, sizeof(table), &at);
    rc = rc ? rc : at.version >= 0 || at.has_timestamp ? error_set(LOCH_EINVALID, "ingest goes into the latest version")
                                                       : table_name_check(table);
    rc = rc ? rc : guard_check_dir(lake, table); /* a link is refused by name, before any work */
    rc = rc ? rc : ingest_expand(lake, args, count, &in);
    if (rc == 0 && opts->version >= 3 && opts->name && *opts->name && in.n == 1) {
        const char *base = opts->name;
        for (const char *p = opts->name; *p; p++)
            base = *p == '/' || *p == '\\' ? p + 1 : base;
        char *shown = strdup(*base ? base : opts->name);
        if (!shown)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else {
            free(in.v[0].shown);
            in.v[0].shown = shown;
        }
    }
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
        /* a key holds only through the log's upserts; a log without one is flushed first,
         * and stays fenced until the ingest commits (it may change the table's schema) */
        if (rc == 0 && snapshot_property(s, TAIL_PK_PROPERTY))
            rc = error_set(LOCH_EINVALID, "table \"%s\" has a primary key: load files into it with `loch write` "
                           "(upserts through its write-ahead log), not ingest", table);
        if (rc == 0 && tail_logged(s)) {
            txlog_snapshot_free(s);
            s = NULL;
            rc = tail_flush_fenced(lake, table, &fence);
            rc = rc ? rc : txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
        }
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
        if ((rc = examine(lake, x, opts)) < 0)
            break;
        for (size_t k = 0; k < i; k++)
            x->skip = x->skip || !strcmp(in.v[k].sha, x->sha); /* the same bytes twice in one call */
        x->skip = x->skip || (!opts->force && !opts->overwrite && ingest_already_in(s, x->sha));
        atomic_store(&m.scanned, scanned + x->bytes); /* exact, whichever way it was read */
        if (x->skip) {
            skipped++;
            atomic_fetch_add(&m.written, x->bytes);
            continue;
        }
        bytes += x->bytes;
        used++;
        rc = ingest_plan_file(lake, x, opts->schema, &sqls[i]);
    }
    if (rc == 0 && used == 0) {
        rc = ingest_summary(out, table, -1, 0, 0, skipped, 0, time_mono() - started,
                            s ? s->metadata.schema_string : "null", 0);
        if (rc == 0)
            (*out)->message = strdup("already ingested: the table holds these exact bytes (use --force to add them again)");
        goto cleanup;
    }
    if (rc == 0) {
        ingest_plan plan = {table, opts, s, &in, sqls, &m, skipped, used, bytes, started};
        rc = ingest_commit(out, lake, &plan, created_concurrently);
    }
cleanup:
    tail_unfence(fence);
    meter_stop(&m);
    for (size_t i = 0; i < in.n; i++)
        ingest_arrow_done(lake, &in.v[i]);
    for (size_t i = 0; sqls && i < in.n; i++)
        buf_free(&sqls[i]);
    free(sqls);
    inputs_free(&in);
    txlog_snapshot_free(s);
    return rc;
}
