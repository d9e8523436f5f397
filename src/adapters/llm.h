/*
 * adapters/llm.h - language models behind one small interface, nothing about loch.
 *
 * An embedder turns texts into vectors of a fixed dimension, each of unit length (L2),
 * so that a dot product is their cosine. The embedded provider is llama.cpp
 * (adapters/llm_llama.c, the only file that includes llama.h) running a GGUF encoder
 * such as all-MiniLM-L6-v2 with mean pooling, which is what sentence-transformers
 * computes for that model: the same text gives the same vector (cosine >= 0.999).
 *
 * A text longer than the model's window is cut at max_tokens (counting the model's own
 * start and end tokens), as sentence-transformers cuts it; callers that want all of a
 * long text chunk it first. An empty text embeds like any other (the model's start and
 * end tokens alone). Every call is safe from any thread: one model and its context are
 * shared, and calls take turns.
 */
#ifndef LOCH_ADAPTERS_LLM_H
#define LOCH_ADAPTERS_LLM_H

#include <stddef.h>

typedef struct llm_embedder llm_embedder;

typedef struct {
    const char *model;   /* a GGUF file */
    int threads;         /* 0: the cores idle now, batch by batch (a few tokens: one) */
    int max_tokens;      /* 0: 256, sentence-transformers' window for MiniLM */
} llm_embedder_options;

int llm_embedder_open(llm_embedder **out, const llm_embedder_options *o);
void llm_embedder_free(llm_embedder *e);
/* The vectors' dimension, and the model's name (from its file, else the file's name). */
int llm_embedder_dim(const llm_embedder *e);
const char *llm_embedder_name(const llm_embedder *e);
/* Embeds texts[0..n) (lens[i] bytes each, UTF-8) into out[n * dim]. */
int llm_embed(llm_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out);

#endif
