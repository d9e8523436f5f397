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
 * end tokens alone). Every call is safe from any thread: the model is shared, and each
 * batch of a call runs on one of the embedder's contexts (at most one a core; a call
 * waits for a free one), several batches at once when threads allow.
 *
 * A generator continues a chat: messages (system, user, assistant) are laid out by the
 * model's own chat template, and its reply is made token by token, greedily or sampled
 * with a seed, until the model ends it, the caller's on_text says enough, or max_tokens.
 * The context remembers the tokens it last read, so a prompt that starts like the last
 * one (a fixed instruction and schema, then a new question) only reads its new part.
 * Text handed to on_text is whole UTF-8 characters. Calls take turns on its one context.
 */
#ifndef LOCH_ADAPTERS_LLM_H
#define LOCH_ADAPTERS_LLM_H

#include <stddef.h>

typedef struct llm_embedder llm_embedder;

typedef struct {
    const char *model;   /* a GGUF file */
    int threads;         /* 0: the cores idle now, call by call (a few tokens: one) */
    int max_tokens;      /* 0: 256, sentence-transformers' window for MiniLM */
} llm_embedder_options;

int llm_embedder_open(llm_embedder **out, const llm_embedder_options *o);
void llm_embedder_free(llm_embedder *e);
/* The vectors' dimension, and the model's name (from its file, else the file's name). */
int llm_embedder_dim(const llm_embedder *e);
const char *llm_embedder_name(const llm_embedder *e);
/* Embeds texts[0..n) (lens[i] bytes each, UTF-8) into out[n * dim]. stop (may be NULL)
 * is asked before each batch, from any of the call's threads; nonzero ends the call
 * with LOCH_EINTERRUPTED. */
int llm_embed(llm_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out,
              int (*stop)(void *), void *ctx);
/* Nonzero when this build multiplies bf16 weights with the CPU's own bf16 dot products
 * (AVX-512 BF16): a bf16 copy of a model then runs faster than its f16 copy (MiniLM:
 * 1.4x on such a CPU); elsewhere f16 is the faster of the two. */
int llm_prefers_bf16(void);


typedef struct llm_generator llm_generator;

typedef struct {
    const char *model; /* a GGUF file of an instruct model with a chat template */
    int threads;       /* 0: the cores idle now, step by step */
    int context;       /* 0: 4096 tokens, the prompt and the reply together */
} llm_generator_options;

typedef struct {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} llm_message;

typedef struct {
    int max_tokens;    /* of the reply; 0: 512 */
    float temperature; /* 0: greedy, the same reply every time */
    unsigned seed;     /* for temperature > 0 */
    /* each new piece of the reply, whole characters; nonzero ends the reply there */
    int (*on_text)(void *ctx, const char *text, size_t len);
    /* asked between steps; nonzero stops with LOCH_EINTERRUPTED */
    int (*stop)(void *ctx);
    void *ctx;
    /* The context after reading the first keep messages is kept in a file in prefix_dir
     * (about 30 KB a token for a 1.5B model) and loaded instead of read by the next
     * process that asks with the same messages first: a long fixed instruction is read
     * once. NULL or 0: nothing kept. A file that does not load is read again. */
    const char *prefix_dir;
    int keep;
} llm_generate_options;

int llm_generator_open(llm_generator **out, const llm_generator_options *o);
void llm_generator_free(llm_generator *g);
const char *llm_generator_name(const llm_generator *g);
/* The reply to msgs[0..n), into *reply (malloc'd, NUL-terminated; the caller frees);
 * *tokens (if not NULL) counts the prompt's tokens read now and the reply's. */
int llm_generate(llm_generator *g, const llm_message *msgs, size_t n, const llm_generate_options *o, char **reply,
                 int tokens[2]);

#endif
