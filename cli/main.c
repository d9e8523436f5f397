/*
 * cli/main.c - the `loch` command.
 *
 *   loch [--lake URI] [--sandbox] [--memory-limit SIZE] [--threads N] COMMAND ...
 *
 * The lake is --lake, else $LOCH_LAKE, else ./lake: a path or a URI (file:///path;
 * the library parses it: adapters/storage.h). Results go to stdout, messages
 * and errors to stderr; a failure exits 1 with the cause ("Error: ..."), bad usage 2.
 * The library reads no environment and prints nothing: this file reads the variables
 * (the settings above, $LOCH_EMBED_MODEL, and the test hooks $LOCH_HOLD, $LOCH_FAULT and
 * $LOCH_NO_METADATA_ANSWERS) into the lake's options, and prints the library's
 * warnings as "loch: warning: ...".
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "format.h"
#include "progress.h"
#include "serve.h"
#include "loch/loch.h"
#include "shell.h"

/* in two parts: one string literal of it all would be longer than C11 promises to take */
static const char usage_commands[] =
    "usage: loch [options] <command> [args]\n"
    "\n"
    "commands:\n"
    "  init                       create the lake directory\n"
    "  sql [SQL] [-f FMT] [-o F]  run SQL (from the argument or stdin)\n"
    "  tables                     list tables\n"
    "  describe TABLE[@vN]        show a table's columns\n"
    "  history TABLE              show a table's versions, newest first\n"
    "  ingest TABLE INPUT...      load files (FILE, DIR, GLOB or - for stdin) into a table:\n"
    "                             [--format csv|tsv|json|ndjson|parquet|arrow|pdf] [--mode append|overwrite]\n"
    "                             [--schema \"col TYPE, ...\"] [--rejects TABLE] [--force] [--json]\n"
    "                             [--encoding utf-8|utf-16|latin-1]; after --, every word is a table or input\n"
    "  optimize TABLE             compact small files, drop deleted rows: [--zorder-by COL,...]\n"
    "                             [--target-size 128MB]\n"
    "  vacuum TABLE               delete files no version in the retention window needs:\n"
    "                             [--retain 168h] [--dry-run] [--force]\n"
    "  restore TABLE              commit an old version again: --to-version N | --to-timestamp TIME\n"
    "  write TABLE INPUT          rows of a file (or - for stdin) into a table with a primary key (or\n"
    "                             loch.wal.enabled: appends), through its write-ahead log, durable when it\n"
    "                             returns: [--op upsert|insert|delete]\n"
    "                             [--producer ID --sequence N] (a repeated N is not written again)\n"
    "                             [--format csv|ndjson|json|parquet|arrow] (default: from the name; stdin: ndjson)\n"
    "  flush TABLE                a table's write-ahead log into one Delta commit\n"
    "  status                     per table with a primary key: LSNs assigned, durable, visible, flushed; log size\n"
    "  embed TABLE COLUMN         embed a text column's rows (into TABLE__embeddings; again: only new or\n"
    "                             changed texts): [--key COL] (default: the primary key); --auto: and again\n"
    "                             after every write of TABLE (--no-auto: no more); [--chunk-size BYTES]: cut\n"
    "                             TABLE's texts into chunks of 64 to 65536 bytes (default 800; kept as a table\n"
    "                             property, 0: the default again)\n"
    "  search TABLE QUERY         the rows nearest in meaning to QUERY: [-k N] [--where COND] [--column COL]\n"
    "                             [--mode semantic|keyword|hybrid]\n"
    "  ask QUESTION               answer a question in plain language: a query the model writes (shown,\n"
    "                             run sandboxed) or passages of embedded columns, cited: [--json]\n"
    "                             [--route sql|search] [-k N passages] [--model [PROVIDER:]NAME] ($LOCH_ASK_MODEL)\n"
    "  shell                      interactive SQL (.help for dot-commands)\n"
    "  demo [DIR]                 the staffing data set: generate, ingest, ask its questions\n"
    "  serve                      the HTTP API (docs/http.md): [--listen HOST:PORT] [--config FILE]\n"
    "                             [--token-file FILE] [--workers N] [--query-timeout-ms MS]\n"
    "                             [--max-body SIZE] [--max-upload SIZE] [--cors ORIGINS]\n"
    "  sync FROM TO               copy a lake to another place (./lake to s3://bucket/lake, or back: a\n"
    "                             read replica): what TO lacks, data before logs, resumable; [--watch]\n"
    "                             again every [--interval 2] seconds; [--threads 16] copies at once; [--json]\n"
    "  version                    print the version\n";
static const char usage_options[] =
    "\n"
    "options:\n"
    "  --lake URI          the lake: a path, file:///path or s3://bucket/prefix (default $LOCH_LAKE,\n"
    "                      else ./lake); a bucket's settings as the AWS CLI's (AWS_ACCESS_KEY_ID,\n"
    "                      AWS_PROFILE, ~/.aws, AWS_ENDPOINT_URL), its local files in $LOCH_CACHE_DIR\n"
    "                      (else ~/.cache/loch)\n"
    "  --sandbox           SQL runs queries only and touches no file outside the lake\n"
    "  --memory-limit SZ   SQL engine memory limit, e.g. 4GB ($LOCH_MEMORY_LIMIT)\n"
    "  --threads N         SQL engine threads ($LOCH_THREADS)\n"
    "  --embed-model M     the embedding model ($LOCH_EMBED_MODEL; default all-MiniLM-L6-v2, embedded)\n"
    "  --config FILE       settings: [ai] for every command, [server] for serve ($LOCH_CONFIG)\n"
    "\n"
    "models: a GGUF file run in loch (\"embedded:\", the default provider), or a model on a server:\n"
    "  \"ollama:NAME\" ($OLLAMA_HOST, else 127.0.0.1:11434) or \"openai:NAME\" ($OPENAI_BASE_URL with /v1,\n"
    "  $OPENAI_API_KEY); $LOCH_AI_PROVIDER is the provider of a name without one (docs/cli.md)\n"
    "  -f, --format FMT    box (default), csv, json, ndjson, markdown, parquet (needs -o)\n"
    "  -o, --output FILE   write results to FILE instead of stdout\n"
    "  -h, --help          this help\n"
    "\n"
    "Tables are Delta tables: time travel with \"t@v3\" or \"t@2026-11-21T10:00:00Z\".\n";

static loch_lake *g_lake;
static pthread_t g_main_thread;
volatile sig_atomic_t cli_interrupted;

/* A process-directed SIGINT (a terminal's Ctrl-C) reaches any one thread that does not
 * block it, the engine's workers included. Whatever waits for the user (the shell's
 * read of the terminal) waits on the main thread, so a signal caught elsewhere is passed
 * on to it: the wait ends with EINTR after cli_interrupted is already set. */
static void on_sigint(int sig)
{
    int saved = errno;
    cli_interrupted = 1;
    loch_lake_interrupt(g_lake);
    if (!pthread_equal(pthread_self(), g_main_thread))
        pthread_kill(g_main_thread, sig);
    errno = saved;
}

typedef struct {
    const char *lake;
    loch_lake_options opts;
    output_format format;
    const char *format_name; /* --format as given: output format, or input format for ingest */
    const char *output;
    loch_ingest_options ingest;
    int json;
    serve_flags serve;
    int lake_given;
    const char *command;
    char **args;
    int nargs;
    /* optimize / vacuum / restore */
    const char *zorder, *target_size, *where, *retain, *to_version, *to_timestamp, *mode;
    const char *op, *producer, *sequence; /* write */
    const char *key, *k, *column;         /* embed, search */
    const char *chunk_size;               /* embed */
    int auto_embed;                       /* embed --auto: 1, --no-auto: -1 */
    const char *route, *model;            /* ask */
    int dry_run;
    int watch;                            /* sync */
    const char *interval;
} cli;

static int fail(const char *what)
{
    fprintf(stderr, "Error: %s%s\n", what ? what : "", what ? "" : loch_error_last());
    return 1;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loch: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see loch --help)\n");
    va_end(ap);
    return 2;
}

static char *read_stdin(void)
{
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    while (s) {
        size_t got = fread(s + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *g = realloc(s, cap *= 2);
            if (!g)
                free(s);
            s = g;
        }
    }
    if (s)
        s[n] = '\0';
    return s;
}

static int emit(cli *c, loch_result *r)
{
    FILE *out = stdout;
    if (c->format == FMT_PARQUET) /* only sql exports through the engine's writer */
        return usage_error("%s", "-f parquet is for loch sql (with -o FILE); this command prints box, csv, json, "
                           "ndjson or markdown");
    if (loch_result_message(r))
        fprintf(stderr, "%s\n", loch_result_message(r));
    if (c->output && !(out = fopen(c->output, "w"))) {
        fprintf(stderr, "Error: cannot write %s: %s\n", c->output, strerror(errno));
        return 1;
    }
    format_result(out, r, c->format, isatty(fileno(out)) ? 40 : SIZE_MAX);
    if (out != stdout && fclose(out) != 0)
        return fail("writing the output file failed");
    return 0;
}

static int cmd_sql(cli *c)
{
    char *sql = NULL;
    loch_result *r = NULL;
    int rc = 0;
    if (c->nargs > 1)
        return usage_error("sql takes one SQL argument (quote it); got %d", c->nargs);
    if (c->nargs == 1)
        sql = strdup(c->args[0]);
    else if (!isatty(STDIN_FILENO))
        sql = read_stdin();
    else
        return usage_error("%s", "sql needs SQL as an argument or on stdin");
    if (!sql)
        return fail("out of memory");
    if (c->format == FMT_PARQUET) {
        if (!c->output)
            rc = usage_error("%s", "-f parquet needs -o FILE");
        else if (loch_sql_export(g_lake, sql, "parquet", c->output) < 0)
            rc = fail(NULL);
    } else if (loch_sql(&r, g_lake, sql) < 0) {
        rc = fail(NULL);
    } else {
        rc = emit(c, r);
    }
    loch_result_free(r);
    free(sql);
    return rc;
}

static int cmd_table(cli *c)
{
    loch_result *r = NULL;
    int rc;
    const char *cmd = c->command;
    if (strcmp(cmd, "tables") == 0) {
        rc = loch_table_list(&r, g_lake);
    } else {
        if (c->nargs != 1)
            return usage_error("%s needs one table name", cmd);
        rc = strcmp(cmd, "describe") == 0 ? loch_table_describe(&r, g_lake, c->args[0])
                                          : loch_table_history(&r, g_lake, c->args[0]);
    }
    if (rc < 0)
        return fail(NULL);
    rc = emit(c, r);
    loch_result_free(r);
    return rc;
}

/* A SQL identifier, quoted. */
static void put_ident(char *out, size_t cap, const char *name)
{
    size_t n = 0;
    if (cap < 3)
        return;
    out[n++] = '"';
    for (; *name && n + 3 < cap; name++) {
        if (*name == '"')
            out[n++] = '"';
        out[n++] = *name;
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* --retain 168h | 7d | 90m | 3600s | 168 (hours) as hours. */
static int retain_hours(const char *text, double *hours)
{
    char *end;
    double v = strtod(text, &end);
    double per = !*end || !strcmp(end, "h") ? 1 : !strcmp(end, "d") ? 24 : !strcmp(end, "m") ? 1.0 / 60
               : !strcmp(end, "s") ? 1.0 / 3600 : -1;
    if (end == text || per < 0 || v < 0)
        return usage_error("--retain takes a duration such as 168h, 7d, 90m or 3600s, not \"%s\"", text);
    if (v * per > 1e7)
        return usage_error("--retain takes at most 10000000 hours, not \"%s\"", text);
    *hours = v * per;
    return 0;
}

/* optimize / vacuum / restore: loch's SQL statements for them, from flags. */
static int cmd_maintain(cli *c)
{
    char sql[4096], name[600], col[600];
    int n = 0;
    if (c->nargs != 1)
        return usage_error("%s needs one table name", c->command);
    put_ident(name, sizeof(name), c->args[0]);
    if (strcmp(c->command, "optimize") == 0) {
        if (c->where)
            return usage_error("%s", "--where chooses partitions, and loch writes no partitioned table yet");
        n = snprintf(sql, sizeof(sql), "OPTIMIZE %s", name);
        if (c->zorder) {
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, " ZORDER BY (");
            const char *p = c->zorder;
            for (int first = 1; *p && n < (int)sizeof(sql) - 700; first = 0) {
                size_t len = strcspn(p, ",");
                char one[512];
                snprintf(one, sizeof(one), "%.*s", (int)len, p);
                put_ident(col, sizeof(col), one);
                n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s", first ? "" : ", ", col);
                p += len + (p[len] == ',');
            }
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
        }
        if (c->target_size)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, " TARGET SIZE '%.64s'", c->target_size);
    } else if (strcmp(c->command, "flush") == 0) {
        n = snprintf(sql, sizeof(sql), "FLUSH %s", name);
    } else if (strcmp(c->command, "vacuum") == 0) {
        n = snprintf(sql, sizeof(sql), "VACUUM %s", name);
        double h = 0;
        if (c->retain && retain_hours(c->retain, &h))
            return 2;
        if (c->retain)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, " RETAIN %.6f HOURS", h);
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s", c->dry_run ? " DRY RUN" : "",
                      c->ingest.force ? " FORCE" : "");
    } else {
        if (!c->to_version == !c->to_timestamp)
            return usage_error("%s", "restore needs --to-version N or --to-timestamp TIME");
        if (c->to_version && strspn(c->to_version, "0123456789") != strlen(c->to_version))
            return usage_error("--to-version takes a version number, not \"%s\"", c->to_version);
        if (c->to_timestamp && strchr(c->to_timestamp, '\''))
            return usage_error("%s", "--to-timestamp takes a time such as 2026-11-27T10:00:00Z");
        n = c->to_version ? snprintf(sql, sizeof(sql), "RESTORE %s TO VERSION AS OF %s", name, c->to_version)
                          : snprintf(sql, sizeof(sql), "RESTORE %s TO TIMESTAMP AS OF '%s'", name, c->to_timestamp);
    }
    if (n <= 0 || n >= (int)sizeof(sql))
        return usage_error("%s", "arguments too long");
    loch_result *r = NULL;
    int rc = loch_sql(&r, g_lake, sql) < 0 ? fail(NULL) : emit(c, r);
    loch_result_free(r);
    return rc;
}

/* write TABLE INPUT: a file, or standard input copied to the lake's scratch space. */
static int cmd_write(cli *c)
{
    if (c->nargs != 2)
        return usage_error("%s", "write needs a table and an input (a file, or - for stdin)");
    const char *op = c->op ? c->op : "upsert";
    loch_write_op w = !strcmp(op, "upsert") ? LOCH_WRITE_UPSERT : !strcmp(op, "insert") ? LOCH_WRITE_INSERT
                    : !strcmp(op, "delete") ? LOCH_WRITE_DELETE : (loch_write_op)0;
    if (!w)
        return usage_error("--op is upsert, insert or delete, not \"%s\"", op);
    char *end = NULL;
    errno = 0;
    unsigned long long seq = c->sequence && c->sequence[0] >= '0' && c->sequence[0] <= '9'
                                 ? strtoull(c->sequence, &end, 10) : 0;
    if (!c->producer != !c->sequence || (c->sequence && (!end || *end || errno || seq == 0 || seq > INT64_MAX)))
        return usage_error("%s", "--producer ID and --sequence N (1 to 9223372036854775807) go together");
    const char *path = c->args[1], *format = c->format_name;
    char tmp[4096] = "";
    if (strcmp(path, "-") == 0) {
        format = format ? format : "ndjson";
        snprintf(tmp, sizeof(tmp), "%s/_loch/tmp/write-%ld.%s", loch_lake_root(g_lake), (long)getpid(),
                 strcmp(format, "arrow") == 0 ? "arrow" : format);
        FILE *f = fopen(tmp, "wb");
        if (!f)
            return fprintf(stderr, "Error: cannot write %s: %s\n", tmp, strerror(errno)), 1;
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
            if (fwrite(chunk, 1, got, f) != got)
                break;
        if (fclose(f) != 0) {
            unlink(tmp);
            return fail("copying standard input failed");
        }
        path = tmp;
    }
    loch_result *r = NULL;
    int rc = loch_table_write_file_from(&r, g_lake, c->args[0], path, format, w, c->producer, seq) < 0 ? fail(NULL)
                                                                                                   : emit(c, r);
    if (tmp[0])
        unlink(tmp);
    loch_result_free(r);
    return rc;
}

static int cmd_embed(cli *c)
{
    loch_result *r = NULL;
    int rc;
    if (strcmp(c->command, "embed") == 0) {
        if (c->nargs != 2)
            return usage_error("%s", "embed needs a table and a text column");
        char *end = NULL;
        long size = c->chunk_size ? strtol(c->chunk_size, &end, 10) : 0;
        if (c->chunk_size && (*end || !isdigit((unsigned char)*c->chunk_size) || (size && (size < 64 || size > 65536))))
            return usage_error("--chunk-size takes bytes from 64 to 65536 (0: the default, 800), not \"%s\"",
                               c->chunk_size);
        rc = c->chunk_size ? loch_embed_chunk_size(g_lake, c->args[0], (size_t)size) : 0;
        /* --auto: later writes embed too (set first: a write racing this embed is not missed) */
        rc = rc ? rc : c->auto_embed ? loch_embed_auto(g_lake, c->args[0], c->args[1], c->key, c->auto_embed > 0) : 0;
        if (rc == 0 && c->auto_embed < 0) {
            fprintf(stderr, "%s.%s is no longer embedded when %s is written\n", c->args[0], c->args[1], c->args[0]);
            return 0;
        }
        rc = rc ? rc : loch_embed_column(&r, g_lake, c->args[0], c->args[1], c->key);
        if (rc == 0 && c->auto_embed > 0)
            fprintf(stderr, "%s.%s is embedded again whenever %s is written (--no-auto stops it)\n", c->args[0],
                    c->args[1], c->args[0]);
    } else {
        if (c->nargs != 2)
            return usage_error("%s", "search needs a table and what to search for (quote it)");
        loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
        char *end = NULL;
        long k = c->k ? strtol(c->k, &end, 10) : 10;
        if (c->k && (k <= 0 || k > 100000 || *end))
            return usage_error("-k takes a number of rows from 1 to 100000, not \"%s\"", c->k);
        o.k = (int)k;
        o.where = c->where;
        o.column = c->column;
        o.mode = c->mode;
        rc = loch_search(&r, g_lake, c->args[0], c->args[1], &o);
    }
    rc = rc < 0 ? fail(NULL) : emit(c, r);
    loch_result_free(r);
    return rc;
}

static int cmd_ask(cli *c)
{
    if (c->nargs != 1)
        return usage_error("%s", "ask needs one question (quote it)");
    loch_ask_options o = LOCH_ASK_OPTIONS_INIT;
    char *end = NULL;
    long k = c->k ? strtol(c->k, &end, 10) : 0;
    if (c->k && (k <= 0 || k > 50 || *end))
        return usage_error("-k takes a number of passages from 1 to 50, not \"%s\"", c->k);
    o.k = (int)k;
    o.route = c->route;
    o.model = c->model; /* else the lake's: $LOCH_ASK_MODEL, else the default */
    loch_answer *a = NULL;
    if (loch_ask(&a, g_lake, c->args[0], &o) < 0)
        return fail(NULL);
    if (c->json) {
        puts(loch_answer_json(a));
    } else {
        if (*loch_answer_note(a))
            fprintf(stderr, "%s\n", loch_answer_note(a));
        if (loch_answer_sql(a)) {
            printf("%s\n\n", loch_answer_sql(a));
            format_result(stdout, loch_answer_rows(a), c->format, isatty(fileno(stdout)) ? 40 : SIZE_MAX);
            putchar('\n');
        }
        if (loch_answer_text(a))
            printf("%s\n", loch_answer_text(a));
        for (size_t i = 0; i < loch_answer_citations(a); i++) {
            int n;
            const char *table, *column, *key, *text;
            int64_t chunk;
            loch_answer_citation(a, i, &n, &table, &column, &key, &chunk, &text);
            printf("%s[%d] %s %s (%s, chunk %lld): %.*s%s\n", i ? "" : "\n", n, table, key, column,
                   (long long)chunk, strlen(text) > 200 ? 200 : (int)strlen(text), text, strlen(text) > 200 ? "..." : "");
        }
        if (loch_answer_model(a))
            fprintf(stderr, "answered by %s, %s\n", loch_answer_model(a),
                    strcmp(loch_answer_route(a), "sql") == 0 ? "with SQL" : "from passages");
    }
    loch_answer_free(a);
    return 0;
}

static void print_schema(const char *schema_json)
{
    /* {"type":"struct","fields":[{"name":"id","type":"long",...}]}: one line a column. */
    const char *p = schema_json;
    while ((p = strstr(p, "{\"name\":\""))) {
        const char *n = p + 9, *ne = strchr(n, '"');
        const char *t = ne ? strstr(ne, "\"type\":") : NULL;
        if (!ne || !t)
            break;
        t += 7;
        const char *te = *t == '"' ? strchr(t + 1, '"') + 1 : strstr(t, ",\"nullable\"");
        if (!te)
            break;
        printf("  %-24.*s %.*s\n", (int)(ne - n), n, *t == '"' ? (int)(te - t - 2) : (int)(te - t),
               *t == '"' ? t + 1 : t);
        p = te;
        /* skip a nested type's own fields */
        int depth = 0;
        for (; *p; p++) {
            if (*p == '{' || *p == '[')
                depth++;
            if ((*p == '}' || *p == ']') && depth-- == 0)
                break;
        }
    }
}

static int cmd_ingest(cli *c)
{
    if (c->mode && strcmp(c->mode, "append") && strcmp(c->mode, "overwrite"))
        return usage_error("--mode is append or overwrite, not \"%s\"", c->mode);
    c->ingest.overwrite = c->mode && strcmp(c->mode, "overwrite") == 0;
    loch_result *r = NULL;
    cli_progress bar;
    if (c->nargs < 2)
        return usage_error("%s", "ingest needs a table and at least one input (FILE, DIR, GLOB or -)");
    cli_progress_init(&bar, c->json ? NULL : stderr, c->args[0]);
    c->ingest.progress = cli_progress_ingest;
    c->ingest.progress_ctx = &bar;
    int rc = loch_ingest(&r, g_lake, c->args[0], (const char *const *)c->args + 1, (size_t)c->nargs - 1, &c->ingest);
    cli_progress_done(&bar);
    if (rc < 0)
        return fail(NULL);
    if (c->json) {
        format_result(stdout, r, FMT_NDJSON, SIZE_MAX);
    } else {
        char *table = loch_result_text(r, 0, 0), *version = loch_result_text(r, 0, 1), *rows = loch_result_text(r, 0, 2),
             *files = loch_result_text(r, 0, 3), *skipped = loch_result_text(r, 0, 4),
             *secs = loch_result_text(r, 0, 6), *schema = loch_result_text(r, 0, 7);
        if (loch_result_message(r))
            printf("%s: %s\n", table, loch_result_message(r));
        else
            printf("%s: %s rows from %s file%s into version %s in %s s%s%s%s\n", table, rows, files,
                   strcmp(files, "1") ? "s" : "", version, secs, strcmp(skipped, "0") ? " (" : "",
                   strcmp(skipped, "0") ? skipped : "", strcmp(skipped, "0") ? " already ingested, skipped)" : "");
        char *rejected = loch_result_text(r, 0, 8);
        if (rejected && strcmp(rejected, "0") != 0)
            printf("%s: %s bad row%s set aside in table %s\n", table, rejected, strcmp(rejected, "1") ? "s" : "",
                   c->ingest.rejects);
        loch_free(rejected);
        if (schema && strcmp(schema, "null") != 0)
            print_schema(schema);
        loch_free(table), loch_free(version), loch_free(rows), loch_free(files), loch_free(skipped);
        loch_free(secs), loch_free(schema);
    }
    loch_result_free(r);
    return 0;
}

static void print_warning(void *ctx, loch_log_level level, const char *message)
{
    (void)ctx, (void)level;
    fprintf(stderr, "loch: warning: %s\n", message);
}

/* $OLLAMA_HOST as Ollama's own tools read it: "host", "host:port" or a URL. */
static const char *ollama_host(const char *v)
{
    static char url[512];
    if (!v || !*v || strstr(v, "://"))
        return v && *v ? v : NULL;
    const char *colon = strrchr(v, ':');
    snprintf(url, sizeof(url), "http://%s%s", v, colon && !strchr(colon, ']') ? "" : ":11434");
    return url;
}

/* The [ai] section of the configuration file (--config, $LOCH_CONFIG) fills what the
 * environment and the flags left unset; `loch serve` reads the file's other sections.
 * The file names where a key is (openai_api_key_env), never the key itself. */
typedef struct {
    cli *c;
    const char *path;
    char *owned[8]; /* the values taken, for the process's life (freed at exit) */
    size_t nowned;
} ai_config;

static ai_config ai_settings;

static void ai_settings_free(void)
{
    for (size_t i = 0; i < ai_settings.nowned; i++)
        free(ai_settings.owned[i]);
}

static int ai_item(void *ctx, const char *key, const char *value, int is_array, int line)
{
    ai_config *ac = ctx;
    loch_lake_options *o = &ac->c->opts;
    if (strncmp(key, "ai.", 3) != 0)
        return 0;
    key += 3;
    const char **slot = !strcmp(key, "provider") ? &o->ai_provider : !strcmp(key, "embed_model") ? &o->embed_model
                      : !strcmp(key, "ask_model") ? &o->ask_model : !strcmp(key, "ollama_url") ? &o->ollama_url
                      : !strcmp(key, "openai_url") ? &o->openai_url : NULL;
    if (!strcmp(key, "openai_api_key_env")) {
        const char *found = getenv(value); /* the variable named here, rather than $OPENAI_API_KEY */
        if (found)
            o->openai_api_key = found;
        else
            fprintf(stderr, "loch: warning: %s line %d: $%s is not set%s\n", ac->path, line, value,
                    o->openai_api_key ? " ($OPENAI_API_KEY is sent)" : ": no API key is sent");
        return 0;
    }
    if (!slot || is_array) {
        fprintf(stderr, "Error: %s line %d: %s \"ai.%s\" (the [ai] keys: provider, embed_model, ask_model, "
                "ollama_url, openai_url, openai_api_key_env)\n", ac->path, line, slot ? "a list is not a value for" :
                "unknown setting", key);
        return 1;
    }
    if (*slot)
        return 0; /* the environment or a flag said otherwise */
    if (ac->nowned == sizeof(ac->owned) / sizeof(ac->owned[0]) || !(ac->owned[ac->nowned] = strdup(value)))
        return 1;
    *slot = ac->owned[ac->nowned++];
    return 0;
}

static int load_ai_config(cli *c)
{
    ai_config *ac = &ai_settings;
    ac->c = c, ac->path = c->serve.config ? c->serve.config : getenv("LOCH_CONFIG");
    if (!ac->path)
        return 0;
    atexit(ai_settings_free);
    int rc = loch_config_read(ac->path, ai_item, ac);
    if (rc < 0)
        fprintf(stderr, "Error: %s%s%s\n", rc == LOCH_EIO ? "" : ac->path, rc == LOCH_EIO ? "" : ": ",
                loch_error_last());
    return rc ? 1 : 0;
}

static int parse_args(cli *c, int argc, char **argv)
{
    static char *rest[256];
    c->lake = getenv("LOCH_LAKE") ? getenv("LOCH_LAKE") : "lake";
    c->opts.memory_limit = getenv("LOCH_MEMORY_LIMIT");
    c->opts.threads = getenv("LOCH_THREADS") ? atoi(getenv("LOCH_THREADS")) : 0;
    c->opts.log = print_warning;
    c->opts.test_hold = getenv("LOCH_HOLD");
    c->opts.test_fault = getenv("LOCH_FAULT");
    c->opts.test_no_metadata_answers = getenv("LOCH_NO_METADATA_ANSWERS") != NULL;
    c->opts.embed_model = getenv("LOCH_EMBED_MODEL");
    c->opts.ask_model = getenv("LOCH_ASK_MODEL");
    c->opts.ai_provider = getenv("LOCH_AI_PROVIDER");
    c->opts.ollama_url = ollama_host(getenv("OLLAMA_HOST"));
    c->opts.openai_url = getenv("OPENAI_BASE_URL");
    c->opts.openai_api_key = getenv("OPENAI_API_KEY");
    c->args = rest;
    int operands_only = 0; /* after "--", as getopt: a file named "-x.csv" is an operand */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!operands_only && strcmp(a, "--") == 0) {
            operands_only = 1;
            takes = 0;
        } else if (operands_only) {
            takes = 0;
            if (!c->command)
                c->command = a;
            else if (c->nargs < 255)
                rest[c->nargs++] = argv[i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_commands, stdout), fputs(usage_options, stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            c->command = "version";
            takes = 0;
        } else if (strcmp(a, "--sandbox") == 0) {
            c->opts.sandbox = 1;
            takes = 0;
        } else if (strcmp(a, "--auto") == 0 || strcmp(a, "--no-auto") == 0) {
            c->auto_embed = a[2] == 'a' ? 1 : -1;
            takes = 0;
        } else if (strcmp(a, "--lake") == 0 && v) {
            c->lake = v;
            c->lake_given = 1;
        } else if (strcmp(a, "--listen") == 0 && v) {
            c->serve.listen = v;
        } else if (strcmp(a, "--config") == 0 && v) {
            c->serve.config = v;
        } else if (strcmp(a, "--token-file") == 0 && v) {
            c->serve.token_file = v;
        } else if (strcmp(a, "--workers") == 0 && v) {
            c->serve.workers = v;
        } else if (strcmp(a, "--query-timeout-ms") == 0 && v) {
            c->serve.query_timeout = v;
        } else if (strcmp(a, "--max-body") == 0 && v) {
            c->serve.max_body = v;
        } else if (strcmp(a, "--max-upload") == 0 && v) {
            c->serve.max_upload = v;
        } else if (strcmp(a, "--cors") == 0 && v) {
            c->serve.cors = v;
        } else if (strcmp(a, "--memory-limit") == 0 && v) {
            c->opts.memory_limit = v;
        } else if (strcmp(a, "--threads") == 0 && v) {
            c->opts.threads = atoi(v);
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) && v) {
            c->format_name = v;
        } else if (strcmp(a, "--mode") == 0 && v) {
            c->mode = v; /* ingest: append|overwrite; search: semantic|keyword|hybrid */
        } else if (strcmp(a, "--schema") == 0 && v) {
            c->ingest.schema = v;
        } else if (strcmp(a, "--rejects") == 0 && v) {
            c->ingest.rejects = v;
        } else if (strcmp(a, "--encoding") == 0 && v) {
            c->ingest.encoding = v;
        } else if (strcmp(a, "--force") == 0) {
            c->ingest.force = 1;
            takes = 0;
        } else if (strcmp(a, "--json") == 0) {
            c->json = 1;
            takes = 0;
        } else if (strcmp(a, "--zorder-by") == 0 && v) {
            c->zorder = v;
        } else if (strcmp(a, "--target-size") == 0 && v) {
            c->target_size = v;
        } else if (strcmp(a, "--where") == 0 && v) {
            c->where = v;
        } else if (strcmp(a, "--retain") == 0 && v) {
            c->retain = v;
        } else if (strcmp(a, "--to-version") == 0 && v) {
            c->to_version = v;
        } else if (strcmp(a, "--to-timestamp") == 0 && v) {
            c->to_timestamp = v;
        } else if (strcmp(a, "--op") == 0 && v) {
            c->op = v;
        } else if (strcmp(a, "--producer") == 0 && v) {
            c->producer = v;
        } else if (strcmp(a, "--sequence") == 0 && v) {
            c->sequence = v;
        } else if (strcmp(a, "--key") == 0 && v) {
            c->key = v;
        } else if (strcmp(a, "--chunk-size") == 0 && v) {
            c->chunk_size = v;
        } else if (strcmp(a, "-k") == 0 && v) {
            c->k = v;
        } else if (strcmp(a, "--column") == 0 && v) {
            c->column = v;
        } else if (strcmp(a, "--route") == 0 && v) {
            c->route = v;
        } else if (strcmp(a, "--model") == 0 && v) {
            c->model = v;
        } else if (strcmp(a, "--embed-model") == 0 && v) {
            c->opts.embed_model = v;
        } else if (strcmp(a, "--watch") == 0) {
            c->watch = 1;
            takes = 0;
        } else if (strcmp(a, "--interval") == 0 && v) {
            c->interval = v;
        } else if (strcmp(a, "--dry-run") == 0) {
            c->dry_run = 1;
            takes = 0;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v) {
            c->output = v;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option or missing value: %s", a);
        } else {
            takes = 0;
            if (!c->command)
                c->command = a;
            else if (c->nargs < 255)
                rest[c->nargs++] = argv[i];
        }
        i += takes;
    }
    return 0;
}

/* A lake in a bucket gets the AWS user's settings, and a local directory for its cache
 * and scratch files: $LOCH_CACHE_DIR, else $XDG_CACHE_HOME/loch, else ~/.cache/loch. */
static loch_aws_settings *g_aws;
static char g_local_dir[4096];

static void free_aws(void)
{
    loch_aws_settings_free(g_aws);
    g_aws = NULL;
}

static int s3_settings(cli *c, const char *lake)
{
    if (!lake || (strncasecmp(lake, "s3://", 5) != 0 && strncasecmp(lake, "s3a://", 6) != 0) || g_aws)
        return 0;
    if (loch_aws_settings_load(&g_aws, &c->opts) < 0) {
        fprintf(stderr, "Error: lake %s: %s\n", lake, loch_error_last());
        return 1;
    }
    const char *dir = getenv("LOCH_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char cwd[2048];
    if (dir && *dir == '/') /* a relative one would move with the working directory */
        snprintf(g_local_dir, sizeof(g_local_dir), "%s", dir);
    else if (dir && *dir && getcwd(cwd, sizeof(cwd)))
        snprintf(g_local_dir, sizeof(g_local_dir), "%s/%s", cwd, dir);
    else if (xdg && *xdg == '/')
        snprintf(g_local_dir, sizeof(g_local_dir), "%s/loch", xdg);
    else if (home && *home)
        snprintf(g_local_dir, sizeof(g_local_dir), "%s/.cache/loch", home);
    else
        return usage_error("%s", "a lake in a bucket needs a local directory: set LOCH_CACHE_DIR or HOME");
    c->opts.local_dir = g_local_dir;
    const char *size = getenv("LOCH_CACHE_SIZE");
    if (size && *size) {
        long long bytes = parse_size(size);
        if (bytes < 1)
            return usage_error("LOCH_CACHE_SIZE=%s: a size such as 500MB or 20GB", size);
        c->opts.local_cache_bytes = bytes;
    }
    return 0;
}

static int serve_lake_settings(void *c, const char *lake) { return s3_settings(c, lake); }

static volatile sig_atomic_t g_stop;
static void on_stop(int sig) { (void)sig, g_stop = 1; }

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* On a terminal, a line redrawn as objects are copied (at most every 0.2 s). */
static void sync_progress(void *ctx, const loch_sync_stats *st, int64_t total)
{
    double *last = ctx, now = seconds_now();
    if (now - *last < 0.2)
        return;
    *last = now;
    fprintf(stderr, "\rsync: %lld objects copied, %.1f of %.1f MB ", (long long)st->copied,
            (double)st->bytes_copied / 1e6, (double)total / 1e6);
}

/* loch sync FROM TO [--watch [--interval S]] [--threads N] [--json] */
static int sync_main(cli *c)
{
    if (c->nargs != 2)
        return usage_error("%s", "sync takes a source and a destination: loch sync ./lake s3://bucket/lake");
    const char *from = c->args[0], *to = c->args[1];
    double every = c->interval ? strtod(c->interval, NULL) : 2;
    if (!(every >= 0.1 && every <= 86400))
        return usage_error("--interval %s: seconds between 0.1 and 86400", c->interval ? c->interval : "");
    int rc = s3_settings(c, from);
    rc = rc ? rc : s3_settings(c, to);
    if (rc)
        return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    loch_sync_options o = LOCH_SYNC_OPTIONS_INIT;
    o.threads = c->opts.threads;
    for (int round = 0; !g_stop; round++) {
        double t0 = seconds_now(), last = t0;
        o.progress = isatty(2) ? sync_progress : NULL, o.ctx = &last;
        loch_sync_stats st;
        rc = loch_sync(from, to, &c->opts, &o, &st);
        if (last != t0)
            fputs("\r\033[K", stderr); /* the progress line, erased */
        if (rc < 0) {
            fprintf(stderr, "Error: sync %s to %s: %s\n", from, to, loch_error_last());
            if (!c->watch)
                return 1;
        } else if (c->json) {
            printf("{\"objects\":%lld,\"copied\":%lld,\"bytes_copied\":%lld,\"present\":%lld}\n",
                   (long long)st.objects, (long long)st.copied, (long long)st.bytes_copied, (long long)st.present);
            fflush(stdout);
        } else if (!c->watch || st.copied) {
            fprintf(stderr, "synced %s to %s: %lld of %lld objects copied (%.1f MB), %lld already there, in %.2f s\n",
                    from, to, (long long)st.copied, (long long)st.objects, (double)st.bytes_copied / 1e6,
                    (long long)st.present, seconds_now() - t0);
        }
        if (!c->watch)
            return 0;
        for (double waited = 0; waited < every && !g_stop; waited += 0.1)
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    cli c = {0};
    loch_lake_options dflt = LOCH_LAKE_OPTIONS_INIT;
    loch_ingest_options idflt = LOCH_INGEST_OPTIONS_INIT;
    c.opts = dflt;
    c.ingest = idflt;
    int rc = parse_args(&c, argc, argv);
    if (rc)
        return rc;
    if (load_ai_config(&c))
        return 1;
    if (!c.command) {
        fputs(usage_commands, stderr), fputs(usage_options, stderr);
        return 2;
    }
    if (c.format_name && (strcmp(c.command, "ingest") == 0 || strcmp(c.command, "write") == 0)) {
        c.ingest.format = c.format_name;
    } else if (c.format_name) {
        int f = format_parse(c.format_name);
        if (f < 0)
            return usage_error("unknown format \"%s\" (box csv json ndjson markdown parquet)", c.format_name);
        c.format = (output_format)f;
    }
    if (strcmp(c.command, "version") == 0) {
        printf("loch %s\n", LOCH_VERSION);
        return 0;
    }
    atexit(free_aws);
    if (strcmp(c.command, "sync") == 0)
        return sync_main(&c);
    if ((rc = s3_settings(&c, c.lake)) != 0)
        return rc;
    if (strcmp(c.command, "serve") == 0) {
        if (c.nargs)
            return usage_error("%s", "serve takes options only (see loch --help)");
        c.serve.lake = c.lake_given || getenv("LOCH_LAKE") ? c.lake : NULL;
        c.serve.memory_limit = c.opts.memory_limit;
        c.serve.threads = c.opts.threads;
        c.serve.lake_options = &c.opts; /* the warnings and test hooks */
        c.serve.lake_settings = serve_lake_settings; /* a lake in a bucket named by the config file */
        c.serve.ctx = &c;
        return serve_main(&c.serve);
    }
    static const char *known[] = {"init", "sql", "tables", "describe", "history", "shell", "ingest", "demo",
                                  "optimize", "vacuum", "restore", "write", "flush", "status", "embed", "search", "ask"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok = ok || strcmp(c.command, known[i]) == 0;
    if (!ok)
        return usage_error("unknown command \"%s\"", c.command);
    c.opts.create = strcmp(c.command, "init") == 0 || strcmp(c.command, "sql") == 0 ||
                    strcmp(c.command, "shell") == 0 || strcmp(c.command, "ingest") == 0 ||
                    strcmp(c.command, "demo") == 0;
    if (strcmp(c.command, "ask") == 0)
        c.opts.sandbox = 1; /* the SQL a model writes runs sandboxed, always */
    if (loch_lake_open(&g_lake, c.lake, &c.opts) < 0)
        return fail(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read of the terminal ends with EINTR */
    g_main_thread = pthread_self();
    sigaction(SIGINT, &sa, NULL);
    if (strcmp(c.command, "init") == 0) {
        if (g_aws) /* a lake in a bucket: its local files are this machine's */
            fprintf(stderr, "lake ready at %s (local files in %s)\n", c.lake, loch_lake_root(g_lake));
        else
            fprintf(stderr, "lake ready at %s\n", loch_lake_root(g_lake));
        rc = 0;
    } else if (strcmp(c.command, "sql") == 0) {
        rc = cmd_sql(&c);
    } else if (strcmp(c.command, "shell") == 0) {
        rc = shell_run(g_lake, c.format);
    } else if (strcmp(c.command, "ingest") == 0) {
        rc = cmd_ingest(&c);
    } else if (strcmp(c.command, "demo") == 0) {
        rc = demo_run(g_lake, c.nargs ? c.args[0] : NULL, c.format);
    } else if (!strcmp(c.command, "optimize") || !strcmp(c.command, "vacuum") || !strcmp(c.command, "restore") ||
               !strcmp(c.command, "flush")) {
        rc = cmd_maintain(&c);
    } else if (strcmp(c.command, "write") == 0) {
        rc = cmd_write(&c);
    } else if (strcmp(c.command, "embed") == 0 || strcmp(c.command, "search") == 0) {
        rc = cmd_embed(&c);
    } else if (strcmp(c.command, "ask") == 0) {
        rc = cmd_ask(&c);
    } else if (strcmp(c.command, "status") == 0) {
        loch_result *r = NULL;
        rc = loch_lake_status(&r, g_lake) < 0 ? fail(NULL) : emit(&c, r);
        loch_result_free(r);
    } else {
        rc = cmd_table(&c);
    }
    loch_lake_free(g_lake);
    return rc;
}
