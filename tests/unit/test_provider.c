/*
 * test_provider.c - reading Ollama's and OpenAI's answers (vector/provider.h): what a
 * model server sends, well-formed or not, split anywhere, becomes vectors and replies
 * or a clear error; never a vector of the wrong size, an index twice, or a reply that
 * stops short without saying so. The sending half runs against a real `loch serve` in
 * tests/py/test_providers.py.
 */
#include <math.h>
#include <string.h>

#include "test.h"
#include "vector/provider.h"

static void test_embeddings_of_either_api(void)
{
    float v[4 * 3];
    int dim = 0;
    const char *ollama = "{\"model\":\"m\",\"embeddings\":[[3,4,0],[0,0,2]]}";
    CHECK_OK(provider_embed_parse(PROVIDER_OLLAMA, ollama, strlen(ollama), 2, v, 3, &dim));
    CHECK(dim == 3 && fabsf(v[0] - 0.6f) < 1e-6 && fabsf(v[1] - 0.8f) < 1e-6 && v[5] == 1.0f); /* unit length */
    /* OpenAI's items may come in any order: each goes where its index says */
    const char *openai = "{\"data\":[{\"index\":1,\"embedding\":[0,1]},{\"index\":0,\"embedding\":[1,0]}]}";
    dim = 0;
    CHECK_OK(provider_embed_parse(PROVIDER_OPENAI, openai, strlen(openai), 2, v, 3, &dim));
    CHECK(dim == 2 && v[0] == 1.0f && v[1] == 0.0f && v[2] == 0.0f && v[3] == 1.0f);
    static const struct {
        provider_kind k;
        size_t n, max_dim;
        int dim;
        const char *body, *says;
    } bad[] = {
        {PROVIDER_OPENAI, 2, 3, 0, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[1]}]}", "twice"},
        {PROVIDER_OPENAI, 1, 3, 0, "{\"data\":[{\"index\":7,\"embedding\":[1]}]}", "out of range"},
        {PROVIDER_OLLAMA, 2, 3, 0, "{\"embeddings\":[[1,2]]}", "1 vectors for 2 texts"},
        {PROVIDER_OLLAMA, 2, 3, 0, "{\"embeddings\":[[1,2],[1,2,3]]}", "has 3 numbers, the others 2"},
        {PROVIDER_OLLAMA, 1, 3, 2, "{\"embeddings\":[[1,2,3]]}", "has 3 numbers, the others 2"},
        {PROVIDER_OLLAMA, 1, 2, 0, "{\"embeddings\":[[1,2,3]]}", "loch takes 1 to 2"},
        {PROVIDER_OLLAMA, 1, 3, 0, "{\"embeddings\":[[1,\"2\"]]}", "not a finite number"},
        {PROVIDER_OLLAMA, 1, 3, 0, "{\"embeddings\":[[1e300]]}", "not a finite number"},
        {PROVIDER_OLLAMA, 1, 3, 0, "{\"embeddings\":[[]]}", "loch takes 1 to 3"},
        {PROVIDER_OLLAMA, 1, 3, 0, "{\"error\":\"model \\\"x\\\" not found\\n\\u0007\"}", "could not embed: model \"x\" not found"},
        {PROVIDER_OPENAI, 1, 3, 0, "<html>502</html>", "not JSON"},
        {PROVIDER_OLLAMA, 1, 3, 0, "{\"embeddings\":[[0,0,-0.0]]}", "all zeros"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dim = bad[i].dim;
        CHECK(provider_embed_parse(bad[i].k, bad[i].body, strlen(bad[i].body), bad[i].n, v, bad[i].max_dim, &dim) < 0);
        CHECK(strstr(loch_error_last(), bad[i].says) != NULL);
        CHECK(!strchr(loch_error_last(), '\n') && !strchr(loch_error_last(), '\a')); /* the server's text, cleaned */
    }
}

typedef struct {
    char seen[256];
    size_t n;
    int stop_after;
} texts;

static int on_text(void *ctx, const char *t, size_t len)
{
    texts *x = ctx;
    memcpy(x->seen + x->n, t, len);
    x->n += len;
    x->seen[x->n] = '\0';
    return x->stop_after && (int)x->n >= x->stop_after;
}

/* Feeds body in pieces of `piece` bytes; the stream's result. */
static int feed(provider_kind k, const char *body, size_t piece, texts *x, provider_stream *s)
{
    provider_stream_init(s, k);
    s->on_text = on_text, s->ctx = x;
    int rc = 0;
    size_t len = strlen(body);
    for (size_t at = 0; rc == 0 && at < len; at += piece)
        rc = provider_stream_feed(s, body + at, len - at < piece ? len - at : piece);
    return rc < 0 ? rc : rc == 1 ? 1 : provider_stream_end(s);
}

static void test_streams_split_anywhere(void)
{
    const char *sse = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n"
                      ": a comment\nevent: message\nid: 7\n"
                      "data: {\"choices\":[{\"delta\":{\"content\":\"SELECT \"}}]}\n\n"
                      "data:{\"choices\":[{\"delta\":{\"content\":\"\\u00e9t\\u00e9\"},\"finish_reason\":\"stop\"}]}\n\n"
                      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\n"
                      "data: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"after the end\"}}]}\n\n";
    const char *nd = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
                     "{\"message\":{\"content\":\" there\"},\"done\":false}\n"
                     "{\"message\":{\"content\":\"\"},\"done\":true,\"prompt_eval_count\":9,\"eval_count\":2}";
    for (size_t piece = 1; piece <= 64; piece++) {
        texts x = {"", 0, 0};
        provider_stream s;
        CHECK_OK(feed(PROVIDER_OPENAI, sse, piece, &x, &s));
        CHECK_STR(x.seen, "SELECT \xc3\xa9t\xc3\xa9");
        CHECK(s.done && s.tokens[0] == 12 && s.tokens[1] == 3 && !strcmp(s.reply.data, x.seen));
        provider_stream_free(&s);
        texts y = {"", 0, 0};
        CHECK_OK(feed(PROVIDER_OLLAMA, nd, piece, &y, &s)); /* the last line without its newline */
        CHECK_STR(y.seen, "Hi there");
        CHECK(s.done && s.tokens[0] == 9 && s.tokens[1] == 2);
        provider_stream_free(&s);
    }
}

static void test_what_a_stream_can_say_instead(void)
{
    texts x = {"", 0, 0};
    provider_stream s;
    /* a server that ignores "stream": the answer whole, pretty-printed */
    CHECK_OK(feed(PROVIDER_OPENAI, "{\n  \"choices\": [{\"message\": {\"content\": \"whole\"}}],\n"
                                   "  \"usage\": {\"prompt_tokens\": 4, \"completion_tokens\": 1}\n}\n", 5, &x, &s));
    CHECK_STR(x.seen, "whole");
    CHECK(s.tokens[0] == 4);
    provider_stream_free(&s);
    /* the caller has enough: stopped, not an error */
    texts e = {"", 0, 3};
    CHECK(feed(PROVIDER_OLLAMA, "{\"message\":{\"content\":\"abc\"}}\n{\"message\":{\"content\":\"def\"}}\n", 7, &e, &s) == 1);
    CHECK_STR(e.seen, "abc");
    provider_stream_free(&s);
    static const struct {
        provider_kind k;
        const char *body, *says;
    } bad[] = {
        {PROVIDER_OPENAI, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", "ended before the reply did"},
        {PROVIDER_OPENAI, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi", "not what its API says"},
        {PROVIDER_OPENAI, "data: {\"error\":{\"message\":\"overloaded\"}}\n\n", "failed: overloaded"},
        {PROVIDER_OLLAMA, "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}\n", "not found, try pulling"},
        {PROVIDER_OLLAMA, "", "ended before the reply did"},
        {PROVIDER_OLLAMA, "<html>\n", "not what its API says"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        texts y = {"", 0, 0};
        CHECK(feed(bad[i].k, bad[i].body, 3, &y, &s) < 0);
        CHECK(strstr(loch_error_last(), bad[i].says) != NULL);
        provider_stream_free(&s);
    }
    /* a line with no end is refused at the bound, not held without one */
    provider_stream_init(&s, PROVIDER_OLLAMA);
    static char big[64 << 10];
    memset(big, 'x', sizeof(big));
    int rc = 0;
    for (int i = 0; rc == 0 && i < 17; i++)
        rc = provider_stream_feed(&s, big, sizeof(big));
    CHECK(rc == LOCH_EUNSUPPORTED && strstr(loch_error_last(), "longer than") != NULL);
    CHECK(s.line.len <= PROVIDER_MAX_LINE);
    provider_stream_free(&s);
    /* pieces of nothing, or comments, forever: cut at the stream's bound of lines */
    provider_stream_init(&s, PROVIDER_OPENAI);
    s.max_lines = 100;
    rc = 0;
    for (int i = 0; rc == 0 && i < 1000; i++) {
        const char *line = i % 2 ? ": ping\n" : "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n";
        rc = provider_stream_feed(&s, line, strlen(line));
    }
    CHECK(rc == LOCH_EUNSUPPORTED && strstr(loch_error_last(), "has not ended its reply") != NULL);
    CHECK(s.lines == 101);
    provider_stream_free(&s);
}

static void test_a_servers_errors(void)
{
    provider p = {PROVIDER_OPENAI, "https://user:secret@models.example:8443/v1?key=k2", "m", "sk-hidden"};
    const char *body = "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\"}}";
    CHECK(provider_error(&p, 401, body, strlen(body)) == LOCH_EPERM);
    CHECK(strstr(loch_error_last(), "https://models.example:8443 answered 401: Incorrect API key") != NULL);
    CHECK(!strstr(loch_error_last(), "secret") && !strstr(loch_error_last(), "k2") && !strstr(loch_error_last(), "sk-"));
    provider o = {PROVIDER_OLLAMA, NULL, "x", NULL};
    body = "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}";
    CHECK(provider_error(&o, 404, body, strlen(body)) == LOCH_ENOTFOUND);
    CHECK(strstr(loch_error_last(), "http://127.0.0.1:11434 answered 404: model \"x\" not found") != NULL);
    CHECK(provider_error(&o, 503, "<html>\nbusy\n</html>", 20) == LOCH_EIO);
    CHECK(strstr(loch_error_last(), "<html> busy </html>") != NULL);
    CHECK(provider_error(&o, 400, "", 0) == LOCH_EINVALID);
    /* bytes that are not UTF-8 never reach a terminal; whole characters do */
    static const char odd[] = "\x00\xff\xfe<b>caf\xc3\xa9 \xe2\x82";
    CHECK(provider_error(&o, 500, odd, sizeof(odd) - 1) == LOCH_EIO);
    CHECK(strstr(loch_error_last(), "answered 500:  ?" "?<b>caf\xc3\xa9 ?" "?") != NULL);
    provider_kind k;
    CHECK(provider_kind_parse("OpenAI", &k) == LOCH_EINVALID);
    CHECK_OK(provider_kind_parse(NULL, &k));
    CHECK(k == PROVIDER_EMBEDDED);
}

TEST_MAIN(T(test_embeddings_of_either_api), T(test_streams_split_anywhere), T(test_what_a_stream_can_say_instead),
          T(test_a_servers_errors))
