/*
 * vector/models.h - the models open in this process, shared.
 *
 * A server's workers each hold a lake handle; one copy of a model's weights (100 MB for
 * MiniLM, 1.1 GB for the default generation model) serves them all, their calls taking
 * turns (adapters/llm.h). A model is found by its kind, file and threads, opened by the
 * first handle that wants it and closed with the last one that lets it go.
 */
#ifndef LOCH_VECTOR_MODELS_H
#define LOCH_VECTOR_MODELS_H

struct llm_embedder;
struct llm_generator;

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif
/* What scripts/setup.sh installs: the embedding model and the generation model. */
#define MODELS_EMBED_DEFAULT LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf"
#define MODELS_GENERATE_DEFAULT LOCH_MODEL_DIR "/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
/* The longest vector an embedding model may make. */
enum { MODELS_MAX_DIM = 8192 };

int models_embedder(const char *path, int threads, struct llm_embedder **out);
int models_generator(const char *path, int threads, struct llm_generator **out);
/* Lets go of a model models_embedder or models_generator gave (NULL: nothing). */
void models_release(const void *model);

#endif
