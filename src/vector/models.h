/*
 * vector/models.h - the models open in this process, shared, wherever they run.
 *
 * A model is named "[provider:]name": "embedded:" (the default provider) names a GGUF
 * file that llama.cpp runs in this process (adapters/llm.h); "ollama:" and "openai:"
 * name a model on a server that speaks that API (vector/provider.h), e.g.
 * "ollama:qwen2.5-coder:7b". A name without a provider takes the spec's provider.
 * Callers see one model either way: its name, its vectors' dimension, its replies.
 *
 * A server's workers each hold a lake handle; one copy of a model's weights (100 MB for
 * MiniLM, 1.1 GB for the default generation model) serves them all, their calls taking
 * turns (adapters/llm.h). A model is found by what it is (kind, provider, name, server,
 * key, threads), opened by the first handle that wants it and closed with the last one
 * that lets it go. A server's model is "opened" by asking it for one vector, which
 * tells its dimension and that the server and the name are right.
 */
#ifndef LOCH_VECTOR_MODELS_H
#define LOCH_VECTOR_MODELS_H

#include <stddef.h>

#include "adapters/llm.h"

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif
/* What scripts/setup.sh installs: the embedding model (one conversion with f16 weights
 * and one with bf16, the default where the CPU multiplies bf16 natively: the two give the
 * same vectors to a cosine of 0.9999 and one name, so either reads the other's) and the
 * generation model. */
#define MODELS_EMBED_DEFAULT LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf"
#define MODELS_EMBED_DEFAULT_BF16 LOCH_MODEL_DIR "/all-minilm-l6-v2.bf16.gguf"
#define MODELS_GENERATE_DEFAULT LOCH_MODEL_DIR "/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
/* The longest vector an embedding model may make. */
enum { MODELS_MAX_DIM = 8192 };

typedef struct {
    const char *name;           /* "[provider:]name"; NULL or "": the embedded default */
    const char *provider;       /* for a name without one; NULL: embedded */
    const char *ollama_url;     /* NULL: vector/provider.h's defaults */
    const char *openai_url;
    const char *openai_api_key; /* NULL: none sent */
    int threads;                /* an embedded model's; 0: the idle cores */
    /* asked while a server is waited on (opening asks it for a vector); nonzero cancels.
     * Not part of what the model is. */
    int (*stop)(void *ctx);
    void *stop_ctx;
} model_spec;

typedef struct ai_model ai_model;

/* Whose model the spec names: a provider_kind (vector/provider.h: 0 is embedded), or an
 * error for a provider loch does not know. */
int models_provider_of(const model_spec *s);
int models_embedder(const model_spec *s, ai_model **out);
int models_generator(const model_spec *s, ai_model **out);
/* Lets go of a model models_embedder or models_generator gave (NULL: nothing). */
void models_release(ai_model *m);

/* The model's name: an embedded model's own (from its file), a server's model as named. */
const char *model_name(const ai_model *m);
/* "embedded", "ollama" or "openai". */
const char *model_provider(const ai_model *m);
/* An embedder's dimension. */
int model_dim(const ai_model *m);
/* adapters/llm.h's llm_embed and llm_generate, on whichever provider; stop ends an
 * embedding between its batches (embedded) or requests (a server). */
int model_embed(ai_model *m, const char *const *texts, const size_t *lens, size_t n, float *out,
                int (*stop)(void *), void *ctx);
int model_generate(ai_model *m, const llm_message *msgs, size_t n, const llm_generate_options *o, char **reply,
                   int tokens[2]);

#endif
