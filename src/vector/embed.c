/*
 * vector/embed.c - a lake's embedding model (vector/embed.h), over adapters/llm.h.
 *
 * The engine calls embed() from its own threads, several at once; the model is opened
 * once under the state's lock, and each call then takes turns on it (llm.h).
 *
 * Models are shared by every lake handle of the process that names the same file and
 * threads: a server's workers each hold a lake handle, and one copy of the weights
 * (about 100 MB for MiniLM) serves them all, its calls taking turns. A model is closed
 * with the last handle using it.
 */
#include "vector/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/compute.h"
#include "adapters/llm.h"
#include "util/error.h"
#include "vector/chunk.h"

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif

enum { MAX_DIM = 8192 };

/* The models open in this process, by file and threads. */
struct shared_model {
    char *path;
    int threads, refs;
    llm_embedder *model;
    struct shared_model *next;
};
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_model *shared;

static int shared_open(const char *path, int threads, llm_embedder **out)
{
    int rc = 0;
    pthread_mutex_lock(&shared_mu);
    struct shared_model *m = shared;
    while (m && (m->threads != threads || strcmp(m->path, path) != 0))
        m = m->next;
    if (!m) {
        llm_embedder_options o = {path, threads, 0};
        llm_embedder *e = NULL;
        rc = llm_embedder_open(&e, &o);
        if (rc == 0 && llm_embedder_dim(e) > MAX_DIM)
            rc = error_set(LOCH_EUNSUPPORTED, "embedding model %s makes vectors of %d numbers; loch takes up to %d",
                           path, llm_embedder_dim(e), MAX_DIM);
        if (rc == 0 && (!(m = calloc(1, sizeof(*m))) || !(m->path = strdup(path)))) {
            free(m);
            m = NULL;
            rc = error_set(LOCH_ENOMEM, "out of memory");
        }
        if (rc == 0) {
            m->threads = threads, m->model = e, m->next = shared;
            shared = m;
        } else {
            llm_embedder_free(e);
        }
    }
    if (m)
        m->refs++, *out = m->model;
    pthread_mutex_unlock(&shared_mu);
    return rc;
}

static void shared_close(llm_embedder *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&shared_mu);
    for (struct shared_model **p = &shared; *p; p = &(*p)->next)
        if ((*p)->model == e) {
            struct shared_model *m = *p;
            if (--m->refs == 0) {
                *p = m->next;
                llm_embedder_free(m->model);
                free(m->path);
                free(m);
            }
            break;
        }
    pthread_mutex_unlock(&shared_mu);
}

void embed_init(embed_state *st, const char *path, int threads)
{
    pthread_mutex_init(&st->mu, NULL);
    st->model = NULL;
    st->path = path;
    st->threads = threads;
}

void embed_close(embed_state *st)
{
    shared_close(st->model);
    st->model = NULL;
    pthread_mutex_destroy(&st->mu);
}

static int open_model(embed_state *st)
{
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    if (!st->model)
        rc = shared_open(st->path ? st->path : LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf", st->threads, &st->model);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int embed_model(embed_state *st, const char **name, int *dim)
{
    int rc = open_model(st);
    if (rc < 0)
        return rc;
    *name = llm_embedder_name(st->model);
    *dim = llm_embedder_dim(st->model);
    return 0;
}

int embed_texts(embed_state *st, const char *const *texts, const size_t *lens, size_t n, float *out,
                size_t max_dim, int *dim)
{
    int rc = open_model(st);
    if (rc < 0)
        return rc;
    *dim = llm_embedder_dim(st->model);
    if ((size_t)*dim > max_dim)
        return error_set(LOCH_EINVALID, "embedding: room for %zu numbers a vector, the model makes %d", max_dim,
                         *dim);
    return n ? llm_embed(st->model, texts, lens, n, out) : 0;
}

static int engine_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out,
                        size_t max_dim, int *dim)
{
    return embed_texts(ctx, texts, lens, n, out, max_dim, dim);
}

/* chunks(text): vector/chunk.h's passages, as the engine's split function wants them */
static size_t engine_chunks(const char *text, size_t len, size_t *pairs, size_t cap)
{
    chunk_span spans[64];
    size_t n = chunk_text(text, len, CHUNK_MAX, CHUNK_OVERLAP, spans, 64);
    if (n > cap)
        return n;
    if (n > 64) { /* more than fit here: again, into the caller's room */
        chunk_span *all = malloc(n * sizeof(*all));
        if (!all)
            return 0;
        chunk_text(text, len, CHUNK_MAX, CHUNK_OVERLAP, all, n);
        for (size_t i = 0; i < n; i++)
            pairs[2 * i] = all[i].start, pairs[2 * i + 1] = all[i].len;
        free(all);
        return n;
    }
    for (size_t i = 0; i < n; i++)
        pairs[2 * i] = spans[i].start, pairs[2 * i + 1] = spans[i].len;
    return n;
}

int embed_register(embed_state *st, compute *cp)
{
    int rc = compute_register_vector_fn(cp, "embed", MAX_DIM, engine_embed, st);
    return rc ? rc : compute_register_split_fn(cp, "chunks", engine_chunks);
}
