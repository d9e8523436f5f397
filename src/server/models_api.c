/*
 * server/models_api.c - `loch serve` speaks the model servers' APIs over its own
 * embedded models (server/server.h):
 *
 *   POST /v1/embeddings, POST /v1/chat/completions, GET /v1/models    (OpenAI's API)
 *   POST /api/embed, POST /api/chat, GET /api/tags                     (Ollama's API)
 *
 * so that any client of those APIs (another loch with ai provider openai or ollama,
 * the openai Python package, LangChain) uses the models loch runs, and so that loch's
 * own HTTP providers are tested against a real server (tests/py/test_providers.py),
 * not a canned one. The models are the ones the server's lake uses (its embed_model and
 * ask_model), opened on first use and shared with the workers (vector/models.h); a model
 * on another server is not passed through: those requests are refused.
 *
 * The client is another program: every field is checked (types, roles, counts,
 * max_tokens 1..4096), a request names the model served (GET /v1/models lists them),
 * and a client that leaves stops its reply. Each API answers errors in its own shape:
 * OpenAI's {"error":{"message","type","code"}}, Ollama's {"error":"..."}. Token counts
 * are given only where they are what the API means (Ollama's prompt_eval_count is the
 * tokens read now, as loch counts them; OpenAI's usage would be the whole prompt's,
 * which loch does not count, so it is left out).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/json.h"
#include "util/misc.h"
#include "vector/models.h"

enum { MAX_INPUTS = 2048, MAX_MESSAGES = 256, MAX_REPLY_TOKENS = 4096, DEFAULT_REPLY_TOKENS = 1024 };

struct models_api {
    model_spec embed, ask;
    pthread_mutex_t mu;   /* guards the opening of the two */
    ai_model *embedder, *generator;
};

int models_api_open(models_api **out, const loch_lake_options *o)
{
    models_api *m = calloc(1, sizeof(*m));
    if (!m)
        return error_set(LOCH_ENOMEM, "out of memory");
    m->embed = (model_spec){o ? o->embed_model : NULL, o ? o->ai_provider : NULL, NULL, NULL, NULL,
                            o ? o->threads : 0, NULL, NULL};
    m->ask = m->embed;
    m->ask.name = o ? o->ask_model : NULL;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

void models_api_free(models_api *m)
{
    if (!m)
        return;
    models_release(m->embedder);
    models_release(m->generator);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const struct {
    const char *path, *methods;
} routes[] = {{"/v1/embeddings", "POST"}, {"/v1/chat/completions", "POST"}, {"/v1/models", "GET"},
              {"/api/embed", "POST"},     {"/api/chat", "POST"},            {"/api/tags", "GET"}};

const char *models_api_match(const char *path, const char **methods)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (!strcmp(path, routes[i].path)) {
            if (methods)
                *methods = routes[i].methods;
            return routes[i].path;
        }
    return NULL;
}

/* --- answers --- */

static void fail(http_response *out, int ollama, int status, const char *type, const char *message)
{
    out->status = status;
    out->content_type = "application/json";
    out->producer = NULL;
    buf_clear(&out->body);
    if (ollama) {
        buf_puts(&out->body, "{\"error\":");
        buf_put_json_str(&out->body, message);
        buf_putc(&out->body, '}');
        return;
    }
    buf_puts(&out->body, "{\"error\":{\"message\":");
    buf_put_json_str(&out->body, message);
    buf_printf(&out->body, ",\"type\":\"%s\",\"code\":\"%s\"}}", type, type);
}

/* loch's error (the last one) in the API's shape */
static void fail_last(http_response *out, int ollama)
{
    int code = loch_error_last_code();
    int status = code == LOCH_ENOTFOUND ? 404 : code == LOCH_EINVALID || code == LOCH_EUNSUPPORTED ? 400
               : code == LOCH_EINTERRUPTED ? 499 : code == LOCH_ENOMEM ? 503 : 500;
    fail(out, ollama, status, status == 400 ? "invalid_request_error" : status == 404 ? "not_found" : "server_error",
         loch_error_last());
}

/* The model of this kind, opened now if it was not; NULL with the answer set. */
static ai_model *open_model(models_api *m, int generates, http_response *out, int ollama)
{
    const model_spec *spec = generates ? &m->ask : &m->embed;
    int provider = models_provider_of(spec);
    if (provider < 0) {
        fail_last(out, ollama);
        return NULL;
    }
    if (provider != 0) {
        fail(out, ollama, 501, "not_implemented",
             "this server's models run on another server (its ai provider): ask that one");
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    ai_model **slot = generates ? &m->generator : &m->embedder;
    int rc = *slot ? 0 : generates ? models_generator(spec, slot) : models_embedder(spec, slot);
    ai_model *got = *slot;
    pthread_mutex_unlock(&m->mu);
    if (rc < 0) { /* no model of this kind is served here: what was asked for is not found */
        char msg[1200];
        snprintf(msg, sizeof(msg), "this server has no %s model: %s", generates ? "chat" : "embedding",
                 loch_error_last());
        fail(out, ollama, 404, "model_not_found", msg);
        return NULL;
    }
    return got;
}

/* The request's "model" must be the one served: a client asking for another gets 404,
 * not another model's answer in its name. */
static ai_model *requested(models_api *m, const json *doc, int generates, http_response *out, int ollama)
{
    const json *jm = json_get(doc, "model");
    if (!jm || jm->type != JSON_STRING) {
        fail(out, ollama, 400, "invalid_request_error", "\"model\" is a string and is required (GET /v1/models)");
        return NULL;
    }
    ai_model *model = open_model(m, generates, out, ollama);
    if (model && strcmp(jm->str, model_name(model)) != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "model \"%.200s\" is not served here; this server's %s model is \"%.200s\"",
                 jm->str, generates ? "chat" : "embedding", model_name(model));
        fail(out, ollama, 404, "model_not_found", msg);
        return NULL;
    }
    return model;
}

static void put_b64(buf *b, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=', i + 2 < n ? a[v & 63] : '='};
        buf_put(b, q, 4);
    }
}

/* POST /v1/embeddings {"model","input": string | [string], "encoding_format"} and
 * POST /api/embed {"model","input": string | [string]} */
static void embeddings(models_api *m, const json *doc, int ollama, http_response *out)
{
    const json *in = json_get(doc, "input"), *fmt = json_get(doc, "encoding_format");
    int b64 = 0;
    if (!ollama && fmt && fmt->type != JSON_NULL) {
        if (fmt->type != JSON_STRING || (strcmp(fmt->str, "float") && strcmp(fmt->str, "base64"))) {
            fail(out, 0, 400, "invalid_request_error", "\"encoding_format\" is \"float\" or \"base64\"");
            return;
        }
        b64 = !strcmp(fmt->str, "base64");
    }
    size_t n = !in ? 0 : in->type == JSON_STRING ? 1 : in->type == JSON_ARRAY ? in->len : 0;
    int ok = in && (in->type == JSON_STRING || (in->type == JSON_ARRAY && n > 0 && n <= MAX_INPUTS));
    for (const json *e = in && in->type == JSON_ARRAY ? in->child : NULL; ok && e; e = e->next)
        ok = e->type == JSON_STRING;
    if (!ok) {
        fail(out, ollama, 400, "invalid_request_error",
             "\"input\" is a text or a list of 1 to 2048 texts (tokens are not taken)");
        return;
    }
    ai_model *model = requested(m, doc, 0, out, ollama);
    if (!model)
        return;
    const json *jd = ollama ? NULL : json_get(doc, "dimensions");
    if (jd && jd->type != JSON_NULL && !(jd->type == JSON_NUMBER && jd->is_int && jd->i64 == model_dim(model))) {
        char msg[200];
        snprintf(msg, sizeof(msg), "\"dimensions\" is not supported: the model's vectors have %d numbers",
                 model_dim(model));
        fail(out, 0, 400, "invalid_request_error", msg);
        return;
    }
    const char **texts = malloc(n * sizeof(*texts));
    size_t *lens = malloc(n * sizeof(*lens));
    size_t dim = (size_t)model_dim(model);
    float *v = malloc(n * dim * sizeof(*v));
    if (!texts || !lens || !v) {
        fail(out, ollama, 503, "server_error", "out of memory");
        goto done;
    }
    size_t i = 0;
    for (const json *e = in->type == JSON_ARRAY ? in->child : in; i < n; e = e->next, i++)
        texts[i] = e->str, lens[i] = e->len;
    if (model_embed(model, texts, lens, n, v, NULL, NULL) < 0) {
        fail_last(out, ollama);
        goto done;
    }
    out->status = 200;
    out->content_type = "application/json";
    buf *b = &out->body;
    buf_clear(b);
    if (ollama) {
        buf_puts(b, "{\"model\":");
        buf_put_json_str(b, model_name(model));
        buf_puts(b, ",\"embeddings\":[");
    } else {
        buf_puts(b, "{\"object\":\"list\",\"model\":");
        buf_put_json_str(b, model_name(model));
        buf_puts(b, ",\"data\":[");
    }
    for (i = 0; i < n; i++) {
        const float *x = v + i * dim;
        if (i)
            buf_putc(b, ',');
        if (!ollama)
            buf_printf(b, "{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i);
        if (b64) { /* little-endian float32, as OpenAI sends them */
            unsigned char *raw = malloc(dim * 4);
            if (!raw) {
                fail(out, ollama, 503, "server_error", "out of memory");
                goto done;
            }
            for (size_t j = 0; j < dim; j++) {
                uint32_t u;
                memcpy(&u, &x[j], 4);
                raw[4 * j] = (unsigned char)u, raw[4 * j + 1] = (unsigned char)(u >> 8);
                raw[4 * j + 2] = (unsigned char)(u >> 16), raw[4 * j + 3] = (unsigned char)(u >> 24);
            }
            buf_putc(b, '"');
            put_b64(b, raw, dim * 4);
            buf_putc(b, '"');
            free(raw);
        } else {
            buf_putc(b, '[');
            for (size_t j = 0; j < dim; j++)
                buf_printf(b, j ? ",%.9g" : "%.9g", (double)x[j]);
            buf_putc(b, ']');
        }
        if (!ollama)
            buf_putc(b, '}');
    }
    if (buf_puts(b, "]}"))
        fail(out, ollama, 503, "server_error", "out of memory");
done:
    free(texts), free(lens), free(v);
}

/* --- chat --- */

typedef struct {
    models_api *m;
    ai_model *model;
    int ollama, stream;
    llm_message *msgs;
    size_t n;
    char **texts;         /* the messages' texts, owned */
    int max_tokens;
    float temperature;
    unsigned seed;
    char id[48];
    long created;
    /* streamed: the reply runs on its own thread; the connection hands on what it made */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more;
    buf pending;
    int done, gone;
} chat;

static void chat_free(void *state)
{
    chat *c = state;
    if (c->stream) {
        pthread_mutex_lock(&c->mu);
        c->gone = 1; /* the client left, or has it all: a reply still running stops */
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->more);
    }
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    free(c->texts), free(c->msgs);
    buf_free(&c->pending);
    free(c);
}

static void chunk_head(chat *c, buf *b)
{
    if (c->ollama) {
        char when[32];
        iso8601_format_ms((int64_t)c->created * 1000, when);
        buf_puts(b, "{\"model\":");
        buf_put_json_str(b, model_name(c->model));
        buf_printf(b, ",\"created_at\":\"%s\",", when);
    } else {
        buf_printf(b, "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%ld,\"model\":", c->id,
                   c->created);
        buf_put_json_str(b, model_name(c->model));
        buf_putc(b, ',');
    }
}

static int chat_text(void *ctx, const char *text, size_t len)
{
    chat *c = ctx;
    buf b = BUF_INIT;
    chunk_head(c, &b);
    if (c->ollama) {
        buf_puts(&b, "\"message\":{\"role\":\"assistant\",\"content\":");
        buf_put_json_strn(&b, text, len);
        buf_puts(&b, "},\"done\":false}\n");
    } else {
        buf_puts(&b, "\"choices\":[{\"index\":0,\"delta\":{\"content\":");
        buf_put_json_strn(&b, text, len);
        buf_puts(&b, "},\"finish_reason\":null}]}\n\n");
    }
    pthread_mutex_lock(&c->mu);
    int gone = c->gone;
    buf_put(&c->pending, b.data, b.len);
    pthread_cond_signal(&c->more);
    pthread_mutex_unlock(&c->mu);
    buf_free(&b);
    return gone; /* the client left: no more */
}

static int chat_stop(void *ctx)
{
    chat *c = ctx;
    pthread_mutex_lock(&c->mu);
    int gone = c->gone;
    pthread_mutex_unlock(&c->mu);
    return gone;
}

/* The reply: streamed (on its thread, into pending) or whole (into out). */
static int chat_reply(chat *c, char **reply, int tokens[2])
{
    llm_generate_options go = {c->max_tokens, c->temperature, c->seed, c->stream ? chat_text : NULL,
                               c->stream ? chat_stop : NULL, c, NULL, 0};
    tokens[0] = tokens[1] = 0;
    return model_generate(c->model, c->msgs, c->n, &go, reply, tokens);
}

static void chat_end(chat *c, buf *b, const char *reply, const int tokens[2])
{
    const char *why = tokens[1] >= c->max_tokens ? "length" : "stop";
    if (c->ollama) {
        chunk_head(c, b);
        buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        buf_put_json_str(b, reply ? reply : "");
        buf_printf(b, "},\"done\":true,\"done_reason\":\"%s\",\"prompt_eval_count\":%d,\"eval_count\":%d}\n", why,
                   tokens[0], tokens[1]);
    } else if (c->stream) {
        chunk_head(c, b);
        buf_printf(b, "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"%s\"}]}\n\ndata: [DONE]\n\n", why);
    } else {
        buf_printf(b, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%ld,\"model\":", c->id, c->created);
        buf_put_json_str(b, model_name(c->model));
        buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        buf_put_json_str(b, reply ? reply : "");
        buf_printf(b, "},\"finish_reason\":\"%s\"}]}", why);
    }
}

static void *chat_run(void *arg)
{
    chat *c = arg;
    char *reply = NULL;
    int tokens[2];
    int rc = chat_reply(c, &reply, tokens);
    buf b = BUF_INIT;
    if (rc == 0 && c->ollama) {
        chat_end(c, &b, "", tokens); /* the text went out piece by piece */
    } else if (rc == 0) {
        chat_end(c, &b, NULL, tokens);
    } else if (c->ollama) {
        buf_puts(&b, "{\"error\":");
        buf_put_json_str(&b, loch_error_last());
        buf_puts(&b, "}\n");
    } else {
        buf_puts(&b, "data: {\"error\":{\"message\":");
        buf_put_json_str(&b, loch_error_last());
        buf_puts(&b, ",\"type\":\"server_error\",\"code\":\"server_error\"}}\n\n");
    }
    free(reply);
    pthread_mutex_lock(&c->mu);
    buf_put(&c->pending, b.data ? b.data : "", b.len);
    c->done = 1;
    pthread_cond_signal(&c->more);
    pthread_mutex_unlock(&c->mu);
    buf_free(&b);
    return NULL;
}

static int chat_produce(void *state, buf *out)
{
    chat *c = state;
    pthread_mutex_lock(&c->mu);
    while (!c->pending.len && !c->done)
        pthread_cond_wait(&c->more, &c->mu);
    int rc = c->pending.len ? buf_put(out, c->pending.data, c->pending.len) : 1;
    buf_clear(&c->pending);
    pthread_mutex_unlock(&c->mu);
    return rc < 0 ? rc : rc == 1 ? 1 : 0;
}

/* A message's text: a string, or OpenAI's list of parts of which only text is taken. */
static int message_text(const json *content, buf *out)
{
    if (content && content->type == JSON_STRING)
        return buf_put(out, content->str, content->len) ? -1 : 0;
    if (!content || content->type != JSON_ARRAY)
        return 1;
    for (const json *p = content->child; p; p = p->next) {
        const char *type = json_get_str(p, "type");
        const json *t = json_get(p, "text");
        if (!type || strcmp(type, "text") != 0 || !t || t->type != JSON_STRING)
            return 1;
        if (buf_put(out, t->str, t->len))
            return -1;
    }
    return 0;
}

static void chat_route(models_api *m, const json *doc, int ollama, http_response *out)
{
    const json *msgs = json_get(doc, "messages"), *js = json_get(doc, "stream");
    const json *opts = ollama ? json_get(doc, "options") : doc;
    const json *mt = ollama ? json_get(opts, "num_predict") : json_get(doc, "max_completion_tokens");
    if (!ollama && (!mt || mt->type == JSON_NULL))
        mt = json_get(doc, "max_tokens");
    const json *jt = json_get(opts, "temperature"), *jseed = json_get(opts, "seed");
    /* what this server does not do is refused, not ignored: a client asking for tools or
     * a JSON format would take free text for what it asked */
    static const char *const unsupported[] = {"tools", "functions", "format", "response_format", "logprobs",
                                              "stop", "logit_bias", "top_logprobs"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const json *u = json_get(doc, unsupported[i]);
        if (u && u->type != JSON_NULL && !(u->type == JSON_BOOL && !u->boolean) &&
            !(u->type == JSON_ARRAY && u->len == 0) &&
            !(!strcmp(unsupported[i], "response_format") && json_get_str(u, "type") &&
              !strcmp(json_get_str(u, "type"), "text"))) {
            char msg[200];
            snprintf(msg, sizeof(msg), "\"%s\" is not supported by this server", unsupported[i]);
            fail(out, ollama, 400, "invalid_request_error", msg);
            return;
        }
    }
    const json *jn = json_get(doc, "n");
    if (!ollama && jn && jn->type != JSON_NULL && !(jn->type == JSON_NUMBER && jn->is_int && jn->i64 == 1)) {
        fail(out, 0, 400, "invalid_request_error", "\"n\" is 1: one reply a request");
        return;
    }
    if (!msgs || msgs->type != JSON_ARRAY || msgs->len == 0 || msgs->len > MAX_MESSAGES) {
        fail(out, ollama, 400, "invalid_request_error", "\"messages\" is a list of 1 to 256 messages");
        return;
    }
    if (ollama && opts && opts->type != JSON_NULL && opts->type != JSON_OBJECT) {
        fail(out, 1, 400, "invalid_request_error", "\"options\" is an object");
        return;
    }
    if (js && js->type != JSON_NULL && js->type != JSON_BOOL) {
        fail(out, ollama, 400, "invalid_request_error", "\"stream\" is true or false");
        return;
    }
    if (mt && mt->type != JSON_NULL &&
        (mt->type != JSON_NUMBER || !mt->is_int || mt->i64 < 1 || mt->i64 > MAX_REPLY_TOKENS)) {
        fail(out, ollama, 400, "invalid_request_error", "the reply's most tokens is a whole number, 1 to 4096");
        return;
    }
    if (jt && jt->type != JSON_NULL && (jt->type != JSON_NUMBER || !(jt->num >= 0 && jt->num <= 2))) {
        fail(out, ollama, 400, "invalid_request_error", "\"temperature\" is a number from 0 to 2");
        return;
    }
    if (jseed && jseed->type != JSON_NULL && (jseed->type != JSON_NUMBER || !jseed->is_int)) {
        fail(out, ollama, 400, "invalid_request_error", "\"seed\" is a whole number");
        return;
    }
    chat *c = calloc(1, sizeof(*c));
    if (!c || !(c->msgs = calloc(msgs->len, sizeof(*c->msgs))) || !(c->texts = calloc(msgs->len, sizeof(char *)))) {
        if (c)
            free(c->msgs);
        free(c);
        fail(out, ollama, 503, "server_error", "out of memory");
        return;
    }
    c->m = m, c->ollama = ollama;
    c->stream = js && js->type == JSON_BOOL ? js->boolean : ollama; /* Ollama streams unless told not to */
    c->max_tokens = mt && mt->type == JSON_NUMBER ? (int)mt->i64 : DEFAULT_REPLY_TOKENS;
    c->temperature = jt && jt->type == JSON_NUMBER ? (float)jt->num : ollama ? 0.8f : 1.0f; /* the APIs' defaults */
    c->seed = jseed && jseed->type == JSON_NUMBER ? (unsigned)jseed->i64 : (unsigned)time(NULL);
    c->created = (long)time(NULL);
    char uuid[37];
    uuid_v4(uuid);
    snprintf(c->id, sizeof(c->id), "chatcmpl-%s", uuid);
    const char *bad = NULL;
    for (const json *e = msgs->child; e && !bad; e = e->next) {
        const char *role = json_get_str(e, "role");
        buf text = BUF_INIT;
        int rc = message_text(json_get(e, "content"), &text);
        if (!role || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
                      strcmp(role, "developer")))
            bad = "a message's \"role\" is system, user or assistant";
        else if (rc > 0)
            bad = "a message's \"content\" is text (a string, or a list of {\"type\":\"text\",\"text\"} parts)";
        else if (rc < 0 || !(c->texts[c->n] = buf_detach(&text)))
            bad = "out of memory";
        else /* the role as a constant: the request's text is gone when a streamed reply runs */
            c->msgs[c->n] = (llm_message){!strcmp(role, "user") ? "user" : !strcmp(role, "assistant") ? "assistant"
                                                                                                       : "system",
                                          c->texts[c->n]},
            c->n++;
        buf_free(&text);
    }
    if (bad) {
        chat_free(c);
        fail(out, ollama, strcmp(bad, "out of memory") ? 400 : 503, "invalid_request_error", bad);
        return;
    }
    if (!(c->model = requested(m, doc, 1, out, ollama))) {
        chat_free(c);
        return;
    }
    if (!c->stream) {
        char *reply = NULL;
        int tokens[2];
        if (chat_reply(c, &reply, tokens) < 0) {
            fail_last(out, ollama);
        } else {
            out->status = 200;
            out->content_type = "application/json";
            buf_clear(&out->body);
            chat_end(c, &out->body, reply, tokens);
            if (ollama && out->body.len && out->body.data[out->body.len - 1] == '\n')
                out->body.data[--out->body.len] = '\0';
        }
        free(reply);
        chat_free(c);
        return;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->more, NULL);
    if (pthread_create(&c->thread, NULL, chat_run, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->more);
        c->stream = 0;
        chat_free(c);
        fail(out, ollama, 503, "server_error", "cannot start a thread for the reply");
        return;
    }
    out->status = 200;
    out->content_type = ollama ? "application/x-ndjson" : "text/event-stream";
    snprintf(out->headers, sizeof(out->headers), "Cache-Control: no-cache\n");
    out->producer = chat_produce;
    out->state = c;
    out->state_free = chat_free;
}

/* GET /v1/models, GET /api/tags: the models this server runs (opened to be named). */
static void list_models(models_api *m, int ollama, http_response *out)
{
    http_response scratch = {0};
    ai_model *e = open_model(m, 0, &scratch, ollama), *g = open_model(m, 1, &scratch, ollama);
    buf_free(&scratch.body);
    ai_model *all[2] = {e, g};
    buf *b = &out->body;
    out->status = 200;
    out->content_type = "application/json";
    buf_clear(b);
    buf_puts(b, ollama ? "{\"models\":[" : "{\"object\":\"list\",\"data\":[");
    int first = 1;
    for (int i = 0; i < 2; i++) {
        if (!all[i])
            continue;
        buf_puts(b, first ? "{" : ",{");
        first = 0;
        if (ollama) {
            buf_puts(b, "\"name\":");
            buf_put_json_str(b, model_name(all[i]));
            buf_puts(b, ",\"model\":");
            buf_put_json_str(b, model_name(all[i]));
        } else {
            buf_puts(b, "\"id\":");
            buf_put_json_str(b, model_name(all[i]));
            buf_puts(b, ",\"object\":\"model\",\"owned_by\":\"loch\"");
        }
        buf_putc(b, '}');
    }
    buf_puts(b, "]}");
}

void models_api_handle(models_api *m, const char *route, http_request *req, http_response *out)
{
    int ollama = !strncmp(route, "/api/", 5);
    if (!strcmp(route, "/v1/models") || !strcmp(route, "/api/tags")) {
        list_models(m, ollama, out);
        return;
    }
    size_t len;
    const char *body = http_body(req, &len);
    arena a = ARENA_INIT;
    json *doc = NULL;
    if (json_parse(&a, body, len, &doc) < 0 || doc->type != JSON_OBJECT)
        fail(out, ollama, 400, "invalid_request_error", len ? "the body is not a JSON object" : "a JSON body is required");
    else if (!strcmp(route, "/v1/embeddings") || !strcmp(route, "/api/embed"))
        embeddings(m, doc, ollama, out);
    else
        chat_route(m, doc, ollama, out);
    arena_free(&a);
}
