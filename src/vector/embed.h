/*
 * vector/embed.h - a lake's embedding model: texts to unit vectors, for the SQL
 * function embed(text) and for `loch embed` / `loch search` (ops/embed.c).
 *
 * The model is opened on first use, not with the lake (loading one costs about 0.1 s
 * and 100 MB, and most sessions never embed), then shared by every statement of the
 * lake handle that owns this state, and by the process's other lake handles that use
 * the same model (a server's workers). Which model: the one named (the lake options'
 * embed_model: a GGUF file, or a model on an Ollama or OpenAI-compatible server), else
 * the all-MiniLM-L6-v2 GGUF file scripts/setup.sh made (LOCH_MODEL_DIR, fixed at build
 * time).
 */
#ifndef LOCH_VECTOR_EMBED_H
#define LOCH_VECTOR_EMBED_H

#include <pthread.h>
#include <stddef.h>

#include "vector/models.h"

struct compute;

typedef struct {
    pthread_mutex_t mu; /* guards the opening of model */
    ai_model *model;    /* NULL until first used */
    model_spec spec;    /* which (vector/models.h); its strings are the caller's, kept for the state's life */
    /* the owner's count of interrupts (loch_lake_interrupt): one more than when a call
     * started cancels a model server's answer it waits for */
    unsigned (*interrupts)(void *ctx);
    void *ctx;
} embed_state;

void embed_init(embed_state *st);
/* Closes the model; after the engine that calls embed() is gone. */
void embed_close(embed_state *st);
/* Gives the engine embed(VARCHAR) -> FLOAT[] (NULL for a NULL text) and chunks(VARCHAR
 * [, size INTEGER]) -> VARCHAR[] (vector/chunk.h's passages of a text, of at most size
 * bytes, CHUNK_SIZE_MIN to CHUNK_SIZE_MAX, else CHUNK_MAX). */
int embed_register(embed_state *st, struct compute *cp);
/* Opens the model if it is not open yet; its name and dimension. */
int embed_model(embed_state *st, const char **name, int *dim);
/* texts[0..n) into out[n * dim] (out holds n * max_dim floats); n = 0 only sets *dim. */
int embed_texts(embed_state *st, const char *const *texts, const size_t *lens, size_t n, float *out,
                size_t max_dim, int *dim);

#endif
