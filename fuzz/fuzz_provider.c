/*
 * fuzz/fuzz_provider.c - libFuzzer target for reading a model server's answers
 * (vector/provider.c): an embeddings body, or a streamed chat reply fed in pieces.
 *
 * The first byte picks: bit 0 the API (Ollama, OpenAI); bit 1 embeddings or a chat
 * stream; the rest, for embeddings, how many texts were sent (0..7) and, for a stream,
 * the size of the pieces it arrives in (1..64). Besides "no crash, no overrun", it
 * checks the promises and aborts when one breaks: vectors are finite, of one
 * dimension at most the bound, of unit length; the reply is the text
 * handed to on_text, no longer than PROVIDER_MAX_REPLY. Helper names carry a
 * provider_fuzz_ prefix so fuzz_replay can include this file.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_provider.c src/vector/provider.c \
 *     src/adapters/httpc_curl.c src/util/buf.c src/util/error.c src/util/json.c src/util/arena.c \
 *     src/util/utf8.c -lcurl -lm -o /tmp/fuzz_provider
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    buf seen;
} provider_fuzz_ctx;

static int provider_fuzz_on_text(void *ctx, const char *text, size_t len)
{
    provider_fuzz_ctx *c = ctx;
    buf_put(&c->seen, text, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    provider_kind k = data[0] & 1 ? PROVIDER_OPENAI : PROVIDER_OLLAMA;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    if (!(data[0] & 2)) {
        enum { MAX_DIM = 16 };
        size_t n = (data[0] >> 2) & 7;
        float out[8 * MAX_DIM];
        int dim = 0;
        if (provider_embed_parse(k, body, len, n, out, MAX_DIM, &dim) == 0) {
            if (n && (dim < 1 || dim > MAX_DIM))
                abort();
            for (size_t i = 0; i < n; i++) {
                double norm = 0;
                for (int j = 0; j < dim; j++) {
                    if (!isfinite(out[i * (size_t)dim + (size_t)j]))
                        abort();
                    norm += (double)out[i * (size_t)dim + (size_t)j] * out[i * (size_t)dim + (size_t)j];
                }
                if (fabs(norm - 1) > 1e-3)
                    abort();
            }
        }
        return 0;
    }
    size_t piece = (size_t)(data[0] >> 2) + 1;
    provider_fuzz_ctx c = {BUF_INIT};
    provider_stream s;
    provider_stream_init(&s, k);
    s.on_text = provider_fuzz_on_text, s.ctx = &c;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < len; at += piece)
        rc = provider_stream_feed(&s, body + at, len - at < piece ? len - at : piece);
    if (rc == 0)
        rc = provider_stream_end(&s);
    if (s.reply.len > PROVIDER_MAX_REPLY)
        abort();
    /* what on_text saw is the reply, streamed or whole */
    if (rc == 0 && c.seen.len != s.reply.len)
        abort();
    if (c.seen.len && memcmp(c.seen.data, s.reply.data, c.seen.len) != 0)
        abort();
    buf_free(&c.seen);
    provider_stream_free(&s);
    return 0;
}
