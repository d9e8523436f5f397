/*
 * cli/serve.c - `loch serve`. Settings come from, lowest first: the defaults, a TOML
 * file (--config, or $LOCH_CONFIG), LOCH_* environment variables, and flags. The
 * effective configuration is printed at start-up with tokens masked. SIGTERM or SIGINT
 * stops accepting connections, gives requests in flight a grace period (10 s,
 * LOCH_GRACE_MS) and cancels what still runs; a commit is never cut in half.
 */
#include "serve.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loch/loch.h"

typedef struct {
    char *listen, *lake, *memory_limit, *cors, *token_file;
    long long workers, threads, query_timeout_ms, idle_timeout_s, max_body, max_upload, grace_ms;
    long long header_timeout_s, max_connections_per_client;
    char **tokens;
    size_t ntokens;
} settings;

long long parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"b", 1}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
        {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcasecmp(end, units[i].unit))
            return (long long)(v * units[i].mult);
    return -1;
}

static int set_text(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? strdup(v) : NULL;
    return v && !*slot ? -1 : 0;
}

static int add_tokens(settings *s, const char *list, const char *seps)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, seps, &save); t; t = strtok_r(NULL, seps, &save)) {
        if (!strncmp(t, "\xEF\xBB\xBF", 3))
            t += 3; /* a byte order mark an editor left */
        while (*t && isspace((unsigned char)*t))
            t++;
        size_t n = strlen(t);
        while (n && isspace((unsigned char)t[n - 1]))
            t[--n] = '\0';
        if (!n)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (iscntrl((unsigned char)t[i]) || t[i] == ' ') {
                fprintf(stderr, "Error: a token may not hold spaces or control characters\n");
                free(copy);
                return -1;
            }
        }
        char **g = realloc(s->tokens, (s->ntokens + 1) * sizeof(*g));
        if (!g || !(g[s->ntokens] = strdup(t))) {
            free(copy);
            return -1;
        }
        s->tokens = g;
        s->ntokens++;
    }
    free(copy);
    return 0;
}

/* The whole of a (small) file, NUL-terminated. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *b = f ? malloc(cap) : NULL;
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n + 1 < cap)
            break; /* the end (or an error, checked below) */
        char *g = realloc(b, cap *= 2);
        if (!g)
            free(b);
        b = g;
    }
    int bad = !f || !b || ferror(f);
    if (f)
        fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

/* One setting by name, from any source; returns 0, or -1 with a message. */
static int apply(settings *s, const char *key, const char *v, int is_array, const char *from)
{
    long long n;
    if (!strcmp(key, "listen"))
        return set_text(&s->listen, v);
    if (!strcmp(key, "lake"))
        return set_text(&s->lake, v);
    if (!strcmp(key, "memory_limit"))
        return set_text(&s->memory_limit, v);
    if (!strcmp(key, "token_file"))
        return set_text(&s->token_file, v);
    if (!strcmp(key, "cors_origins")) {
        char *joined = strdup(v);
        for (char *p = joined; p && *p; p++)
            if (*p == '\n')
                *p = ','; /* an array: one origin per element */
        int rc = set_text(&s->cors, joined);
        free(joined);
        return rc;
    }
    if (!strcmp(key, "tokens")) {
        size_t before = s->ntokens;
        if (add_tokens(s, v, is_array ? "\n" : ",") < 0)
            return -1;
        if (s->ntokens == before) { /* meant to turn authentication on; it would stay off */
            fprintf(stderr, "Error: %s: tokens is set but holds no token\n", from);
            return -1;
        }
        return 0;
    }
    long long *slot = !strcmp(key, "workers") ? &s->workers : !strcmp(key, "threads") ? &s->threads
                    : !strcmp(key, "query_timeout_ms") ? &s->query_timeout_ms
                    : !strcmp(key, "idle_timeout_s") ? &s->idle_timeout_s : !strcmp(key, "max_body") ? &s->max_body
                    : !strcmp(key, "header_timeout_s") ? &s->header_timeout_s
                    : !strcmp(key, "max_connections_per_client") ? &s->max_connections_per_client
                    : !strcmp(key, "max_upload") ? &s->max_upload : !strcmp(key, "grace_ms") ? &s->grace_ms : NULL;
    if (!slot) {
        fprintf(stderr, "Error: %s: unknown setting \"%s\"\n", from, key);
        return -1;
    }
    n = slot == &s->max_body || slot == &s->max_upload ? parse_size(v) : strtoll(v, NULL, 10);
    if (n < 0 || (slot != &s->max_body && slot != &s->max_upload && strspn(v, "0123456789_") != strlen(v))) {
        fprintf(stderr, "Error: %s: %s must be a %s, not \"%s\"\n", from, key,
                slot == &s->max_body || slot == &s->max_upload ? "size (e.g. 1MiB)" : "whole number", v);
        return -1;
    }
    *slot = n;
    return 0;
}

typedef struct {
    settings *s;
    const char *path;
} config_ctx;

static int config_item(void *ctx, const char *key, const char *value, int is_array, int line)
{
    config_ctx *cc = ctx;
    char from[600];
    if (!strncmp(key, "ai.", 3))
        return 0; /* the models' settings: cli/main.c read them into the lake's options */
    snprintf(from, sizeof(from), "%s line %d", cc->path, line);
    /* 1: stop; apply has said why */
    return apply(cc->s, !strncmp(key, "server.", 7) ? key + 7 : key, value, is_array, from) < 0;
}

static int load_config(settings *s, const char *path)
{
    config_ctx cc = {s, path};
    int rc = loch_config_read(path, config_item, &cc);
    if (rc == LOCH_EIO)
        fprintf(stderr, "Error: %s\n", loch_error_last());
    else if (rc < 0)
        fprintf(stderr, "Error: %s: %s\n", path, loch_error_last());
    return rc ? -1 : 0;
}

static int from_env(settings *s)
{
    static const char *const names[][2] = {
        {"LOCH_LISTEN", "listen"}, {"LOCH_WORKERS", "workers"}, {"LOCH_QUERY_TIMEOUT_MS", "query_timeout_ms"},
        {"LOCH_IDLE_TIMEOUT_S", "idle_timeout_s"}, {"LOCH_MAX_BODY", "max_body"}, {"LOCH_MAX_UPLOAD", "max_upload"},
        {"LOCH_CORS_ORIGINS", "cors_origins"}, {"LOCH_TOKENS", "tokens"}, {"LOCH_TOKEN_FILE", "token_file"},
        {"LOCH_GRACE_MS", "grace_ms"}, {"LOCH_THREADS", "threads"}, {"LOCH_MEMORY_LIMIT", "memory_limit"},
        {"LOCH_HEADER_TIMEOUT_S", "header_timeout_s"}, {"LOCH_MAX_CONNECTIONS_PER_CLIENT", "max_connections_per_client"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = getenv(names[i][0]);
        if (v && *v && apply(s, names[i][1], v, 0, names[i][0]) < 0)
            return -1;
    }
    return 0;
}

static int from_flags(settings *s, const serve_flags *f)
{
    const char *const pairs[][2] = {{"listen", f->listen}, {"token_file", f->token_file}, {"workers", f->workers},
                                    {"query_timeout_ms", f->query_timeout}, {"max_body", f->max_body},
                                    {"max_upload", f->max_upload}, {"cors_origins", f->cors}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (pairs[i][1] && apply(s, pairs[i][0], pairs[i][1], 0, "the command line") < 0)
            return -1;
    if (f->lake && set_text(&s->lake, f->lake) < 0)
        return -1;
    if (f->memory_limit && set_text(&s->memory_limit, f->memory_limit) < 0)
        return -1;
    if (f->threads > 0)
        s->threads = f->threads;
    return 0;
}

/* "127.0.0.1:8420", "[::1]:8420", "0.0.0.0", ":8420" */
static int split_listen(const char *listen, char *host, size_t cap, int *port)
{
    const char *colon;
    *port = 8420;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || (size_t)(close - listen - 1) >= cap)
            return -1;
        snprintf(host, cap, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(listen, ':');
        if (colon && strchr(listen, ':') != colon)
            colon = NULL; /* a bare IPv6 address */
        size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
        if (n >= cap)
            return -1;
        snprintf(host, cap, "%.*s", (int)n, listen);
        if (!host[0])
            snprintf(host, cap, "127.0.0.1");
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 0 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

static void settings_free(settings *s)
{
    free(s->listen), free(s->lake), free(s->memory_limit), free(s->cors), free(s->token_file);
    for (size_t i = 0; i < s->ntokens; i++)
        free(s->tokens[i]);
    free(s->tokens);
}

int serve_main(const serve_flags *f)
{
    settings s = {.workers = 0, .query_timeout_ms = 60000, .idle_timeout_s = 30, .header_timeout_s = 10,
                  .max_connections_per_client = 32, .max_body = 1 << 20,
                  .max_upload = 10LL << 30, .grace_ms = 10000};
    char host[256];
    int port, rc = 1;
    const char *config = f->config ? f->config : getenv("LOCH_CONFIG");
    set_text(&s.listen, "127.0.0.1:8420");
    set_text(&s.lake, "lake");
    if ((config && load_config(&s, config) < 0) || from_env(&s) < 0 || from_flags(&s, f) < 0)
        goto done;
    if (f->lake_settings && (rc = f->lake_settings(f->ctx, s.lake)) != 0)
        goto done;
    rc = 1;
    if (s.token_file) {
        char *text = NULL;
        size_t len;
        if (read_file(s.token_file, &text, &len) < 0) {
            fprintf(stderr, "Error: cannot read the token file %s: %s\n", s.token_file, strerror(errno));
            goto done;
        }
        size_t before = s.ntokens;
        int bad = add_tokens(&s, text, "\n");
        free(text);
        if (bad < 0)
            goto done;
        if (s.ntokens == before) {
            fprintf(stderr, "Error: the token file %s holds no token (one per line): the server would run "
                    "without authentication\n", s.token_file);
            goto done;
        }
    }
    if (split_listen(s.listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "Error: --listen takes HOST:PORT (e.g. 127.0.0.1:8420 or [::1]:8420), not \"%s\"\n", s.listen);
        goto done;
    }
    loch_server_options o = LOCH_SERVER_OPTIONS_INIT;
    o.lake = s.lake;
    o.host = host;
    o.port = port;
    o.tokens = (const char *const *)s.tokens;
    o.ntokens = s.ntokens;
    o.workers = (int)s.workers;
    o.threads = (int)s.threads;
    o.memory_limit = s.memory_limit;
    o.max_body = s.max_body;
    o.max_upload = s.max_upload;
    o.query_timeout_ms = (int)s.query_timeout_ms;
    o.idle_timeout_s = (int)s.idle_timeout_s;
    o.header_timeout_s = (int)s.header_timeout_s;
    o.max_connections_per_client = (int)s.max_connections_per_client;
    o.cors_origins = s.cors;
    o.log = stdout;
    o.lake_options = f->lake_options;
    /* The signals are taken by sigwait below, not by the server's threads. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr,
            "loch %s, effective configuration:\n"
            "  lake=%s listen=%s workers=%s threads=%lld memory_limit=%s query_timeout_ms=%lld\n"
            "  idle_timeout_s=%lld header_timeout_s=%lld max_connections_per_client=%lld max_body=%lld\n"
            "  max_upload=%lld grace_ms=%lld cors_origins=%s tokens=%s (%zu)\n",
            LOCH_VERSION, s.lake, s.listen, s.workers ? "" : "auto", s.threads,
            s.memory_limit ? s.memory_limit : "default", s.query_timeout_ms, s.idle_timeout_s, s.header_timeout_s,
            s.max_connections_per_client, s.max_body, s.max_upload, s.grace_ms, s.cors ? s.cors : "off",
            s.ntokens ? "***" : "none", s.ntokens);
    if (s.workers)
        fprintf(stderr, "  workers=%lld\n", s.workers);
    loch_server *srv;
    if (loch_server_start(&srv, &o) < 0) {
        fprintf(stderr, "Error: %s\n", loch_error_last());
        goto done;
    }
    fprintf(stderr, "loch serving %s on http://%s%s%s:%d/\n", s.lake, strchr(host, ':') ? "[" : "", host,
            strchr(host, ':') ? "]" : "", loch_server_port(srv));
    fflush(stderr);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "loch: %s, stopping (grace %lld ms)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT", s.grace_ms);
    loch_server_stop(srv, (int)s.grace_ms);
    fprintf(stderr, "loch: stopped\n");
    rc = 0;
done:
    settings_free(&s);
    return rc;
}
