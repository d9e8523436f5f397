/*
 * vector/embed.c - a lake's embedding model (vector/embed.h), over adapters/llm.h.
 *
 * The engine calls embed() from its own threads, several at once; the model is opened
 * once under the state's lock, and each call then takes turns on it (llm.h).
 */
#include "vector/embed.h"

#include <stdio.h>
#include <stdlib.h>

#include "adapters/compute.h"
#include "adapters/llm.h"
#include "util/error.h"

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif

enum { MAX_DIM = 8192 };

void embed_init(embed_state *st, const char *path, int threads)
{
    pthread_mutex_init(&st->mu, NULL);
    st->model = NULL;
    st->path = path;
    st->threads = threads;
}

void embed_close(embed_state *st)
{
    llm_embedder_free(st->model);
    st->model = NULL;
    pthread_mutex_destroy(&st->mu);
}

static int open_model(embed_state *st)
{
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    if (!st->model) {
        llm_embedder_options o = {st->path ? st->path : LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf", st->threads, 0};
        rc = llm_embedder_open(&st->model, &o);
        if (rc == 0 && llm_embedder_dim(st->model) > MAX_DIM) {
            rc = error_set(LOCH_EUNSUPPORTED, "embedding model %s makes vectors of %d numbers; loch takes up to %d",
                           o.model, llm_embedder_dim(st->model), MAX_DIM);
            llm_embedder_free(st->model);
            st->model = NULL;
        }
    }
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

int embed_register(embed_state *st, compute *cp)
{
    return compute_register_vector_fn(cp, "embed", MAX_DIM, engine_embed, st);
}
