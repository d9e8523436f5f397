/*
 * lake.c - the lake handle: storage, SQL engine and catalog wired together.
 *
 * A lake is opened from a URI or a path; adapters/storage.c parses it and picks the
 * storage backend (the local filesystem today), and refuses what it cannot serve by
 * name. The test hook test_fault stacks the fault-injecting store
 * (adapters/storage_faulty.c) over that backend, for this handle only.
 *
 * Opening a lake creates <root>/_loch/ for loch's own files; the catalog opening is
 * best effort (it is an index: without it every command still works, slower). The
 * engine, the catalog and scratch files (uploads, results, spills) live in local
 * directories the storage names (engine_path): the lake itself while it is local.
 *
 * The library never prints and reads no environment: what it cannot return as an error
 * goes to the log callback of the lake's options (lake_warn), and the test hooks
 * (holds, injected storage faults, scanning instead of metadata answers) come in
 * through the options too, so two lakes in one process never share them.
 */
#include "ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "adapters/s3.h"
#include "adapters/storage.h"

#include "util/misc.h"
#include "util/options.h"

void lake_warn(const loch_lake *lake, const char *fmt, ...)
{
    if (!lake->opts.log)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    lake->opts.log(lake->opts.log_ctx, LOCH_LOG_WARNING, message);
}

/* The engine's count of interrupts, once it exists (vector/embed.h). */
static unsigned lake_interrupts(void *ctx)
{
    loch_lake *lake = ctx;
    return lake->cp ? compute_interrupts(lake->cp) : 0;
}

model_spec lake_model_spec(const loch_lake *lake, const char *name)
{
    /* --threads bounds an embedded model's threads too */
    return (model_spec){name, lake->opts.ai_provider, lake->opts.ollama_url, lake->opts.openai_url,
                        lake->opts.openai_api_key, lake->opts.threads, NULL, NULL};
}

void lake_hold(const loch_lake *lake, const char *point) { hold_at(lake->opts.test_hold, point); }

int lake_options_copy(loch_lake_options *out, const loch_lake_options *given)
{
    static const size_t sizes[] = {offsetof(loch_lake_options, log), offsetof(loch_lake_options, embed_model),
                                   offsetof(loch_lake_options, ask_model), offsetof(loch_lake_options, ai_provider),
                                   offsetof(loch_lake_options, s3_access_key), sizeof(loch_lake_options)};
    *out = (loch_lake_options)LOCH_LAKE_OPTIONS_INIT;
    return options_copy(out, given, sizes, LOCH_LAKE_OPTIONS_VERSION, "loch_lake_options");
}

int loch_lake_open(loch_lake **out, const char *uri, const loch_lake_options *opts)
{
    loch_lake *lake = calloc(1, sizeof(*lake));
    if (lake) {
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&lake->tails_mu, &ma);
        pthread_mutexattr_destroy(&ma);
        embed_init(&lake->embed);
        pthread_mutex_init(&lake->gen_mu, NULL);
        pthread_mutex_init(&lake->changed_mu, NULL);
    }
    storage *faulty = NULL;
    buf cat = BUF_INIT;
    int rc = 0;
    *out = NULL;
    if (!lake)
        return error_set(LOCH_ENOMEM, "out of memory");
    if ((rc = lake_options_copy(&lake->opts, opts)) < 0)
        goto cleanup;
    lake->embed.spec = lake_model_spec(lake, lake->opts.embed_model);
    lake->embed.interrupts = lake_interrupts, lake->embed.ctx = lake;
    const loch_lake_options *o = &lake->opts;
    storage_s3_config bucket = {o->s3_access_key, o->s3_secret_key, o->s3_session_token, o->s3_region, o->s3_endpoint,
                            o->s3_path_style, o->local_dir, o->local_cache_bytes, 0};
    rc = storage_open(&lake->st, uri, lake->opts.create, &bucket);
    storage_uri u;
    if (storage_uri_parse(&u, uri) == 0) {
        lake->in_bucket = strcmp(u.scheme, "file") != 0;
        if (rc == LOCH_ENOTFOUND && !lake->in_bucket) /* a missing bucket says so itself */
            rc = error_set(LOCH_ENOTFOUND, "no lake at %s (run `loch init` first)", uri);
        storage_uri_free(&u);
    }
    if (rc < 0)
        goto cleanup;
    if (lake->opts.test_fault && *lake->opts.test_fault) {
        if ((rc = storage_faulty_wrap(&faulty, lake->st, lake->opts.test_fault)) < 0)
            goto cleanup;
        lake->st = faulty;
    }
    /* The directory the engine works in: the lake itself on a local filesystem. */
    rc = lake->st->engine_path(lake->st, "", &cat);
    if (rc == 0) {
        if (cat.len && cat.data[cat.len - 1] == '/')
            cat.data[--cat.len] = '\0';
        lake->root = strdup(cat.data);
        rc = lake->root ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    }
    rc = rc ? rc : lake->st->mkdirs(lake->st, "_loch/tmp"); /* loch's own files; the engine spills there */
    if (rc < 0)
        goto cleanup;
    compute_options co = {lake->opts.memory_limit, lake->opts.threads, lake->opts.sandbox != 0, lake->root};
    if ((rc = compute_open(&lake->cp, &co, scan_resolve, lake)) < 0 ||
        (rc = embed_register(&lake->embed, lake->cp)) < 0 || (rc = embed_register_search(lake)) < 0)
        goto cleanup;
    buf_clear(&cat);
    rc = lake->st->engine_path(lake->st, "_loch/catalog.sqlite", &cat);
    if (rc == 0 && catalog_open(&lake->cat, cat.data) < 0) {
        lake_warn(lake, "%s (continuing without the catalog)", loch_error_last());
        lake->cat = NULL;
    }
    rc = 0;
    *out = lake;
    lake = NULL;
cleanup:
    loch_lake_free(lake);
    buf_free(&cat);
    return rc;
}

int lake_scratch_dir(loch_lake *lake, buf *out)
{
    buf_clear(out);
    int rc = lake->st->mkdirs(lake->st, "_loch/tmp");
    return rc ? rc : lake->st->engine_path(lake->st, "_loch/tmp", out);
}

int lake_cache_dir(loch_lake *lake, buf *out)
{
    buf_clear(out);
    int rc = lake->st->mkdirs(lake->st, "_loch/cache");
    rc = rc ? rc : lake->st->engine_path(lake->st, "_loch/cache", out);
    /* a link planted at _loch or _loch/cache would have loch write (and prune) elsewhere */
    struct stat st;
    size_t n = out->len > 6 ? out->len - 6 : 0; /* without "/cache" */
    for (int i = 0; rc == 0 && i < 2; i++) {
        char *p = i ? out->data : strndup(out->data, n);
        if (!p || lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = error_set(LOCH_EPERM, "%s is not a directory of the lake's own (a link?)", p ? p : "_loch");
        if (!i)
            free(p);
    }
    return rc;
}

struct loch_aws_settings {
    s3_settings s;
};

int loch_aws_settings_load(loch_aws_settings **out, loch_lake_options *opts)
{
    loch_aws_settings *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (!a)
        return error_set(LOCH_ENOMEM, "out of memory");
    int rc = s3_settings_resolve(&a->s);
    if (rc < 0) {
        free(a);
        return rc;
    }
    opts->s3_access_key = a->s.access_key, opts->s3_secret_key = a->s.secret_key;
    opts->s3_session_token = a->s.session_token, opts->s3_region = a->s.region;
    opts->s3_endpoint = a->s.endpoint, opts->s3_path_style = a->s.path_style;
    *out = a;
    return 0;
}

void loch_aws_settings_free(loch_aws_settings *a)
{
    if (!a)
        return;
    s3_settings_free(&a->s);
    free(a);
}

void loch_lake_free(loch_lake *lake)
{
    if (!lake)
        return;
    scan_unpin(lake);
    txlog_forget(lake, NULL);
    tail_forget(lake, NULL);
    lookup_forget(lake, NULL);
    embed_search_forget(lake);
    pthread_mutex_destroy(&lake->tails_mu);
    compute_free(lake->cp); /* before the model: the engine's embed() uses it */
    embed_close(&lake->embed);
    ask_close(lake);
    pthread_mutex_destroy(&lake->gen_mu);
    for (size_t i = 0; i < lake->nchanged; i++)
        free(lake->changed[i]);
    free(lake->changed);
    pthread_mutex_destroy(&lake->changed_mu);
    catalog_free(lake->cat);
    if (lake->st)
        lake->st->free(lake->st);
    free(lake->root);
    free(lake);
}

const char *loch_lake_root(const loch_lake *lake) { return lake->root; }

void loch_lake_interrupt(loch_lake *lake)
{
    if (lake)
        compute_interrupt(lake->cp);
}
