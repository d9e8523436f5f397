/*
 * vector/embed.c - a lake's embedding model (vector/embed.h), over adapters/llm.h.
 *
 * The engine calls embed() from its own threads, several at once; the model is opened
 * once under the state's lock, and each call then takes turns on it (llm.h).
 * The model itself is shared by the process's lake handles (vector/models.h).
 */
#include "vector/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/compute.h"
#include "util/error.h"
#include "vector/chunk.h"
#include "vector/models.h"

void embed_init(embed_state *st)
{
    pthread_mutex_init(&st->mu, NULL);
    st->model = NULL;
    memset(&st->spec, 0, sizeof(st->spec));
    st->interrupts = NULL, st->ctx = NULL;
}

void embed_close(embed_state *st)
{
    models_release(st->model);
    st->model = NULL;
    pthread_mutex_destroy(&st->mu);
}

/* An interrupt of the owner since the call began. */
typedef struct {
    embed_state *st;
    unsigned at;
} since;

static int interrupted_since(void *ctx)
{
    since *s = ctx;
    return s->st->interrupts && s->st->interrupts(s->st->ctx) != s->at;
}

static since call_start(embed_state *st) { return (since){st, st->interrupts ? st->interrupts(st->ctx) : 0}; }

static int open_model(embed_state *st)
{
    int rc = 0;
    since s = call_start(st);
    pthread_mutex_lock(&st->mu);
    model_spec spec = st->spec;
    spec.stop = interrupted_since, spec.stop_ctx = &s;
    if (!st->model)
        rc = models_embedder(&spec, &st->model);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int embed_model(embed_state *st, const char **name, int *dim)
{
    int rc = open_model(st);
    if (rc < 0)
        return rc;
    *name = model_name(st->model);
    *dim = model_dim(st->model);
    return 0;
}

int embed_texts(embed_state *st, const char *const *texts, const size_t *lens, size_t n, float *out,
                size_t max_dim, int *dim)
{
    int rc = open_model(st);
    if (rc < 0)
        return rc;
    *dim = model_dim(st->model);
    if ((size_t)*dim > max_dim)
        return error_set(LOCH_EINVALID, "embedding: room for %zu numbers a vector, the model makes %d", max_dim,
                         *dim);
    since s = call_start(st);
    return n ? model_embed(st->model, texts, lens, n, out, interrupted_since, &s) : 0;
}

static int engine_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out,
                        size_t max_dim, int *dim)
{
    return embed_texts(ctx, texts, lens, n, out, max_dim, dim);
}

/* chunks(text [, size]): vector/chunk.h's passages of at most size bytes (CHUNK_MAX when
 * not given), overlapping by a fifth, as the engine's split function wants them */
static size_t engine_chunks(const char *text, size_t len, size_t size, size_t *pairs, size_t cap)
{
    chunk_span spans[64];
    size_t max = size ? size : CHUNK_MAX, overlap = size ? size / 5 : CHUNK_OVERLAP;
    size_t n = chunk_text(text, len, max, overlap, spans, 64);
    if (n > cap)
        return n;
    if (n > 64) { /* more than fit here: again, into the caller's room */
        chunk_span *all = malloc(n * sizeof(*all));
        if (!all)
            return 0;
        chunk_text(text, len, max, overlap, all, n);
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
    int rc = compute_register_vector_fn(cp, "embed", MODELS_MAX_DIM, engine_embed, st);
    return rc ? rc : compute_register_split_fn(cp, "chunks", engine_chunks, CHUNK_SIZE_MIN, CHUNK_SIZE_MAX);
}
