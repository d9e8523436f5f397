/*
 * vector/provider.h - models on another server: Ollama's API and the OpenAI API.
 *
 * A user with a bigger model than loch ships runs it in Ollama, or behind any server
 * that speaks OpenAI's API (vLLM, llama.cpp's server, LM Studio, OpenAI itself, and
 * `loch serve`). This module speaks both, for the two things loch asks of a model:
 *
 *   embeddings   ollama: POST {url}/api/embed {"model","input":[...]} -> {"embeddings":[[...]]}
 *                openai: POST {url}/embeddings {"model","input":[...]} -> {"data":[{"index","embedding"}]}
 *   a chat reply ollama: POST {url}/api/chat {"model","messages","stream":true,"options"}
 *                        -> one JSON object a line, {"message":{"content"}} ... {"done":true}
 *                openai: POST {url}/chat/completions {"model","messages","stream":true,...}
 *                        -> server-sent events, data: {"choices":[{"delta":{"content"}}]} ...
 *                           data: [DONE]
 *
 * where url is the provider's base (Ollama's http://127.0.0.1:11434; for OpenAI the
 * base includes /v1, as OpenAI's own clients take it).
 *
 * The answers are another program's, so they are read like hostile input: every
 * vector must have the dimension of the first (at most max_dim numbers, all finite);
 * a batch must come back with as many vectors as texts, each index once; a streamed
 * line is at most PROVIDER_MAX_LINE bytes, a reply at most PROVIDER_MAX_REPLY, its lines a
 * few for each token asked for, and a request at most PROVIDER_TIMEOUT_S; an
 * error the server sends (a status >= 400, or an error in the stream) becomes loch's
 * error with the server's message, cut short and stripped of control characters.
 * Vectors are scaled to unit length, as adapters/llm.h promises for the embedded model.
 *
 * The parsing is separate from the sending (provider_embed_parse, provider_stream) so
 * that the unit tests and fuzz/fuzz_provider.c reach it without a server.
 */
#ifndef LOCH_VECTOR_PROVIDER_H
#define LOCH_VECTOR_PROVIDER_H

#include <stddef.h>

#include "adapters/llm.h"
#include "util/buf.h"

typedef enum { PROVIDER_EMBEDDED, PROVIDER_OLLAMA, PROVIDER_OPENAI } provider_kind;

enum {
    PROVIDER_MAX_LINE = 1 << 20,
    PROVIDER_MAX_REPLY = 1 << 20,
    PROVIDER_MAX_BODY = 64 << 20,
    PROVIDER_TIMEOUT_S = 900, /* a whole request: a reply of a big model on a slow server, with room */
};

#define PROVIDER_OLLAMA_URL "http://127.0.0.1:11434"
#define PROVIDER_OPENAI_URL "https://api.openai.com/v1"

typedef struct {
    provider_kind kind;
    const char *url;     /* the base, as above; NULL: the provider's default */
    const char *model;   /* the server's name for the model */
    const char *api_key; /* sent as Authorization: Bearer; NULL: nothing sent */
} provider;

/* "embedded", "ollama" or "openai" (NULL or "": embedded). */
int provider_kind_parse(const char *name, provider_kind *out);
const char *provider_kind_name(provider_kind k);

/* Embeds texts[0..n) into out[n * dim] with the server's model; *dim is its dimension
 * (at most max_dim): given 0, what the server says; else what it must say. stop,
 * asked while waiting, cancels. */
int provider_embed(const provider *p, const char *const *texts, const size_t *lens, size_t n, float *out,
                   size_t max_dim, int *dim, int (*stop)(void *), void *ctx);
/* The model's reply to msgs[0..n) as llm_generate (adapters/llm.h) makes it: on_text
 * for each piece, stop between them; prefix_dir and keep are the server's business. */
int provider_generate(const provider *p, const llm_message *msgs, size_t n, const llm_generate_options *o,
                      char **reply, int tokens[2]);

/* The parts, for tests: */
/* An embeddings answer (the whole body) of n vectors into out, unit length; *dim as
 * provider_embed's. */
int provider_embed_parse(provider_kind k, const char *body, size_t len, size_t n, float *out, size_t max_dim,
                         int *dim);
/* A streamed chat answer, fed as it arrives. */
typedef struct {
    provider_kind kind;
    int (*on_text)(void *ctx, const char *text, size_t len);
    void *ctx;
    buf line;      /* the unfinished line */
    buf reply;     /* the reply so far */
    buf whole;     /* lines that are not events: an answer that was not streamed */
    int done;      /* the server said the reply is over */
    int enough;    /* on_text said enough */
    int tokens[2]; /* the prompt's and the reply's, when the server counts them */
    long lines;    /* read so far, and at most max_lines (0: no bound): a stream of empty
                      pieces or comments that never ends is cut there */
    long max_lines;
} provider_stream;
void provider_stream_init(provider_stream *s, provider_kind k);
void provider_stream_free(provider_stream *s);
/* 0, 1 when on_text said enough, or an error (a malformed event, an error from the
 * server, a line or reply too long, too many lines). */
int provider_stream_feed(provider_stream *s, const char *data, size_t len);
/* After the last piece: the last line, or an answer that came whole. */
int provider_stream_end(provider_stream *s);
/* The error a server's answer of this status and body means. */
int provider_error(const provider *p, int status, const char *body, size_t len);

#endif
