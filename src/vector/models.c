/*
 * vector/models.c - vector/models.h: one list of the models open, under one lock.
 *
 * Opening happens under the lock, so two handles asking for the same model at once
 * load it once; a model that fails to open is not kept, and the next ask tries again.
 * A server's model holds copies of its name, address and key (the spec's strings
 * belong to the caller); the key is compared to find a model, never printed.
 */
#include "vector/models.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "vector/provider.h"

struct ai_model {
    int generates;       /* makes replies, else vectors */
    provider_kind kind;
    char *name, *url, *key; /* as asked for (name: a file when embedded; "" the default) */
    int threads, refs, dim;
    void *llm;           /* an embedded model: llm_generator or llm_embedder */
    provider p;          /* a server's model */
    struct ai_model *next;
};
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ai_model *shared;

static int same(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

/* "ollama:x" -> ollama, "x"; "x" -> the spec's provider, "x" */
static int resolve(const model_spec *s, provider_kind *kind, const char **name)
{
    const char *n = s->name ? s->name : "";
    static const char *const prefixes[] = {"embedded:", "ollama:", "openai:"};
    for (int i = 0; i < 3; i++)
        if (!strncmp(n, prefixes[i], strlen(prefixes[i]))) {
            *name = n + strlen(prefixes[i]);
            *kind = (provider_kind)i;
            return 0;
        }
    *name = n;
    return provider_kind_parse(s->provider, kind);
}

static void free_model(struct ai_model *m)
{
    if (!m)
        return;
    if (m->kind == PROVIDER_EMBEDDED && m->generates)
        llm_generator_free(m->llm);
    else if (m->kind == PROVIDER_EMBEDDED)
        llm_embedder_free(m->llm);
    if (m->key)
        memset(m->key, 0, strlen(m->key));
    free(m->name), free(m->url), free(m->key);
    free(m);
}

static int open_model(struct ai_model *m, const model_spec *s)
{
    if (m->kind == PROVIDER_EMBEDDED && m->generates) {
        llm_generator_options o = {*m->name ? m->name : MODELS_GENERATE_DEFAULT, m->threads, 0};
        return llm_generator_open((llm_generator **)&m->llm, &o);
    }
    if (m->kind == PROVIDER_EMBEDDED) {
        const char *path = m->name;
        if (!*path)
            path = llm_prefers_bf16() && access(MODELS_EMBED_DEFAULT_BF16, R_OK) == 0 ? MODELS_EMBED_DEFAULT_BF16
                                                                                       : MODELS_EMBED_DEFAULT;
        llm_embedder_options o = {path, m->threads, 0};
        int rc = llm_embedder_open((llm_embedder **)&m->llm, &o);
        m->dim = rc == 0 ? llm_embedder_dim(m->llm) : 0;
        if (rc == 0 && m->dim > MODELS_MAX_DIM)
            rc = error_set(LOCH_EUNSUPPORTED, "embedding model %s makes vectors of %d numbers; loch takes up to %d",
                           path, m->dim, MODELS_MAX_DIM);
        return rc;
    }
    m->p = (provider){m->kind, m->url, m->name, m->key};
    if (!*m->name)
        return error_set(LOCH_EINVALID, "the %s provider needs a model's name, e.g. %s:NAME (its server lists them: %s)",
                         provider_kind_name(m->kind), provider_kind_name(m->kind),
                         m->kind == PROVIDER_OLLAMA ? "ollama list" : "GET /v1/models");
    if (m->generates)
        return 0; /* a chat model is known by its first reply */
    /* a vector of a word: the dimension, and that the server and the name are right */
    static const char probe[] = "loch";
    size_t len = sizeof(probe) - 1;
    const char *texts[1] = {probe};
    float *v = malloc(MODELS_MAX_DIM * sizeof(float));
    int rc = v ? provider_embed(&m->p, texts, &len, 1, v, MODELS_MAX_DIM, &m->dim, s->stop, s->stop_ctx)
               : error_set(LOCH_ENOMEM, "out of memory");
    free(v);
    return rc;
}

static int shared_open(int generates, const model_spec *s, ai_model **out)
{
    provider_kind kind;
    const char *name;
    int rc = resolve(s, &kind, &name);
    if (rc < 0)
        return rc;
    const char *url = kind == PROVIDER_OLLAMA ? s->ollama_url : kind == PROVIDER_OPENAI ? s->openai_url : NULL;
    const char *key = kind == PROVIDER_OPENAI ? s->openai_api_key : NULL;
    int threads = kind == PROVIDER_EMBEDDED ? s->threads : 0;
    pthread_mutex_lock(&shared_mu);
    struct ai_model *m = shared;
    while (m && (m->generates != generates || m->kind != kind || m->threads != threads || !same(m->name, name) ||
                 !same(m->url, url) || !same(m->key, key)))
        m = m->next;
    if (!m) {
        if (!(m = calloc(1, sizeof(*m))) || !(m->name = strdup(name)) || (url && !(m->url = strdup(url))) ||
            (key && !(m->key = strdup(key)))) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
        } else {
            m->generates = generates, m->kind = kind, m->threads = threads;
            rc = open_model(m, s);
        }
        if (rc == 0) {
            m->next = shared;
            shared = m;
        } else {
            free_model(m);
            m = NULL;
        }
    }
    if (m)
        m->refs++, *out = m;
    pthread_mutex_unlock(&shared_mu);
    return rc;
}

int models_provider_of(const model_spec *s)
{
    provider_kind k;
    const char *name;
    int rc = resolve(s, &k, &name);
    return rc < 0 ? rc : (int)k;
}

int models_embedder(const model_spec *s, ai_model **out) { return shared_open(0, s, out); }
int models_generator(const model_spec *s, ai_model **out) { return shared_open(1, s, out); }

void models_release(ai_model *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&shared_mu);
    for (struct ai_model **p = &shared; *p; p = &(*p)->next)
        if (*p == m) {
            if (--m->refs == 0) {
                *p = m->next;
                free_model(m);
            }
            break;
        }
    pthread_mutex_unlock(&shared_mu);
}

const char *model_name(const ai_model *m)
{
    if (m->kind != PROVIDER_EMBEDDED)
        return m->name;
    return m->generates ? llm_generator_name(m->llm) : llm_embedder_name(m->llm);
}

const char *model_provider(const ai_model *m) { return provider_kind_name(m->kind); }
int model_dim(const ai_model *m) { return m->dim; }

int model_embed(ai_model *m, const char *const *texts, const size_t *lens, size_t n, float *out,
                int (*stop)(void *), void *ctx)
{
    if (m->kind == PROVIDER_EMBEDDED)
        return llm_embed(m->llm, texts, lens, n, out, stop, ctx);
    int dim = m->dim; /* a server whose model changed under the name is caught here */
    return provider_embed(&m->p, texts, lens, n, out, (size_t)m->dim, &dim, stop, ctx);
}

int model_generate(ai_model *m, const llm_message *msgs, size_t n, const llm_generate_options *o, char **reply,
                   int tokens[2])
{
    if (m->kind == PROVIDER_EMBEDDED)
        return llm_generate(m->llm, msgs, n, o, reply, tokens);
    return provider_generate(&m->p, msgs, n, o, reply, tokens);
}
