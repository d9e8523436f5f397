/*
 * vector/embed.c - the lake's embedding model (vector/embed.h), over adapters/llm.h.
 *
 * The engine calls embed() from its own threads, several at once; the model is opened
 * once under the lake's embed lock, and each call then takes turns on it (llm.h).
 */
#include "vector/embed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "adapters/compute.h"
#include "adapters/llm.h"
#include "ops/ops.h"
#include "util/error.h"

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif

enum { MAX_DIM = 8192 };

static int open_model(loch_lake *lake)
{
    int rc = 0;
    pthread_mutex_lock(&lake->embed_mu);
    if (!lake->embedder) {
        llm_embedder_options o = {lake->opts.embed_model, 0, 0};
        o.model = o.model ? o.model : LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf";
        rc = llm_embedder_open(&lake->embedder, &o);
        if (rc == 0 && llm_embedder_dim(lake->embedder) > MAX_DIM) {
            rc = error_set(LOCH_EUNSUPPORTED, "embedding model %s makes vectors of %d numbers; loch takes up to %d",
                           o.model, llm_embedder_dim(lake->embedder), MAX_DIM);
            llm_embedder_free(lake->embedder);
            lake->embedder = NULL;
        }
    }
    pthread_mutex_unlock(&lake->embed_mu);
    return rc;
}

int embed_model(loch_lake *lake, const char **name, int *dim)
{
    int rc = open_model(lake);
    if (rc < 0)
        return rc;
    *name = llm_embedder_name(lake->embedder);
    *dim = llm_embedder_dim(lake->embedder);
    return 0;
}

int embed_texts(loch_lake *lake, const char *const *texts, const size_t *lens, size_t n, float *out,
                size_t max_dim, int *dim)
{
    int rc = open_model(lake);
    if (rc < 0)
        return rc;
    *dim = llm_embedder_dim(lake->embedder);
    if ((size_t)*dim > max_dim)
        return error_set(LOCH_EINVALID, "embedding: room for %zu numbers a vector, the model makes %d", max_dim,
                         *dim);
    return n ? llm_embed(lake->embedder, texts, lens, n, out) : 0;
}

static int engine_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out,
                        size_t max_dim, int *dim)
{
    return embed_texts(ctx, texts, lens, n, out, max_dim, dim);
}

int embed_register(loch_lake *lake) { return compute_register_vector_fn(lake->cp, "embed", MAX_DIM, engine_embed, lake); }

void embed_close(loch_lake *lake)
{
    llm_embedder_free(lake->embedder);
    lake->embedder = NULL;
}
