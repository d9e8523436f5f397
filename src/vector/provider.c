/*
 * vector/provider.c - vector/provider.h: the two APIs' requests and answers, over
 * adapters/httpc.h.
 *
 * Embeddings go in batches of at most BATCH texts and BATCH_BYTES of JSON, so that a
 * server with a 1 MiB body limit (loch's own, by default) takes every request, and a
 * table of any size is never one request. A reply is always asked for as a stream:
 * the caller shows it as it comes, and can stop it.
 */
#include "vector/provider.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/httpc.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/json.h"
#include "util/utf8.h"

enum { BATCH = 64, BATCH_BYTES = 512 << 10, MAX_ERROR_BODY = 64 << 10 };

int provider_kind_parse(const char *name, provider_kind *out)
{
    if (!name || !*name || !strcmp(name, "embedded"))
        *out = PROVIDER_EMBEDDED;
    else if (!strcmp(name, "ollama"))
        *out = PROVIDER_OLLAMA;
    else if (!strcmp(name, "openai"))
        *out = PROVIDER_OPENAI;
    else
        return error_set(LOCH_EINVALID, "model provider \"%.64s\": embedded, ollama or openai", name);
    return 0;
}

const char *provider_kind_name(provider_kind k)
{
    return k == PROVIDER_OLLAMA ? "ollama" : k == PROVIDER_OPENAI ? "openai" : "embedded";
}

static const char *base_url(const provider *p)
{
    return p->url && *p->url ? p->url : p->kind == PROVIDER_OLLAMA ? PROVIDER_OLLAMA_URL : PROVIDER_OPENAI_URL;
}

/* scheme://host:port of the base, for messages: never a user, password or path. */
static void origin(const provider *p, char *out, size_t cap)
{
    const char *u = base_url(p), *host = strstr(u, "://");
    size_t scheme = host ? (size_t)(host - u) : 0;
    host = host ? host + 3 : u;
    size_t n = strcspn(host, "/?#");
    const char *at = memchr(host, '@', n);
    while (at) { /* the last '@' before the path ends the user part */
        n -= (size_t)(at + 1 - host), host = at + 1;
        at = memchr(host, '@', n);
    }
    snprintf(out, cap, "%.*s%s%.*s", (int)(scheme > 16 ? 16 : scheme), u, scheme ? "://" : "",
             (int)(n > 200 ? 200 : n), host);
}

static int url_of(const provider *p, const char *path, buf *out)
{
    const char *u = base_url(p);
    size_t n = strlen(u);
    while (n && u[n - 1] == '/')
        n--;
    buf_clear(out);
    return buf_put(out, u, n) || buf_puts(out, path) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

/* Text from the server, fit for a message: printable, one line, at most 300 bytes. */
static void put_clean(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap && o < 300;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c >= 0x80 && (i + n > len || utf8_valid_prefix((const unsigned char *)s + i, n) != n))
            n = 0; /* not a character: a byte of something else */
        if (n <= 1) {
            out[o++] = n == 0 ? '?' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
            i++;
            continue;
        }
        if (o + n + 1 > cap)
            break;
        memcpy(out + o, s + i, n);
        o += n, i += n;
    }
    out[o] = '\0'; /* whole characters only, so a cut never halves one */
}

/* The message of an error object: {"error":"..."} (Ollama), {"error":{"message"}}
 * (OpenAI, loch), else NULL. */
static const char *error_message(const json *doc)
{
    const json *e = json_get(doc, "error");
    if (!e || e->type == JSON_NULL)
        return NULL;
    if (e->type == JSON_STRING)
        return e->str;
    const char *m = json_get_str(e, "message");
    return m ? m : "(no message)";
}

int provider_error(const provider *p, int status, const char *body, size_t len)
{
    char from[300], said[320] = "";
    origin(p, from, sizeof(from));
    arena a = ARENA_INIT;
    json *doc = NULL;
    const char *m = len && json_parse(&a, body, len, &doc) == 0 ? error_message(doc) : NULL;
    if (m)
        put_clean(said, sizeof(said), m, strlen(m));
    else if (len)
        put_clean(said, sizeof(said), body, len);
    int code = status == 401 || status == 403 ? LOCH_EPERM : status == 404 ? LOCH_ENOTFOUND
             : status == 400 || status == 413 || status == 422 ? LOCH_EINVALID : LOCH_EIO;
    const char *hint = status == 404 ? " (is the model's name right?)" : status == 401 ? " (is the API key right?)" : "";
    int rc = error_set(code, "the %s server at %s answered %d: %s%s", provider_kind_name(p->kind), from, status,
                       *said ? said : "(nothing said)", hint);
    arena_free(&a);
    return rc;
}

/* One vector: numbers, dim of them (the first sets dim), finite; scaled to unit length. */
static int read_vector(const json *v, size_t i, float *out, size_t max_dim, int *dim)
{
    if (!v || v->type != JSON_ARRAY)
        return error_set(LOCH_ECORRUPT, "embedding %zu of the answer is not an array of numbers", i);
    if (*dim == 0 && (v->len == 0 || v->len > max_dim))
        return error_set(LOCH_EUNSUPPORTED, "the server's embeddings have %zu numbers; loch takes 1 to %zu", v->len,
                         max_dim);
    if (v->len != (size_t)*dim && *dim != 0)
        return error_set(LOCH_ECORRUPT, "embedding %zu of the answer has %zu numbers, the others %d", i, v->len, *dim);
    *dim = (int)v->len;
    double norm = 0;
    float *o = out + i * (size_t)*dim;
    size_t j = 0;
    for (const json *x = v->child; x; x = x->next, j++) {
        if (x->type != JSON_NUMBER || !isfinite(x->num) || fabs(x->num) > 1e30)
            return error_set(LOCH_ECORRUPT, "embedding %zu of the answer has a number %zu that is not a finite number",
                             i, j);
        o[j] = (float)x->num;
        norm += x->num * x->num;
    }
    if (!(norm > 0)) /* no direction: its cosine with anything is undefined */
        return error_set(LOCH_ECORRUPT, "embedding %zu of the answer is all zeros", i);
    float inv = (float)(1 / sqrt(norm));
    for (j = 0; j < (size_t)*dim; j++)
        o[j] *= inv;
    return 0;
}

int provider_embed_parse(provider_kind k, const char *body, size_t len, size_t n, float *out, size_t max_dim,
                         int *dim)
{
    arena a = ARENA_INIT;
    json *doc = NULL;
    int rc = json_parse(&a, body, len, &doc);
    if (rc < 0) {
        error_prefix("the embeddings answer is not JSON: ");
        goto done;
    }
    const char *m = doc->type == JSON_OBJECT ? error_message(doc) : NULL;
    if (m) {
        char said[320];
        put_clean(said, sizeof(said), m, strlen(m));
        rc = error_set(LOCH_EIO, "the server could not embed: %s", said);
        goto done;
    }
    const json *list = json_get(doc, k == PROVIDER_OLLAMA ? "embeddings" : "data");
    if (!list || list->type != JSON_ARRAY || list->len != n) {
        rc = error_set(LOCH_ECORRUPT, "the embeddings answer has %zu vectors for %zu texts",
                       list && list->type == JSON_ARRAY ? list->len : 0, n);
        goto done;
    }
    unsigned char *seen = k == PROVIDER_OPENAI ? arena_alloc(&a, n ? n : 1) : NULL;
    if (k == PROVIDER_OPENAI && !seen) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    if (seen)
        memset(seen, 0, n);
    size_t i = 0;
    for (const json *e = list->child; e && rc == 0; e = e->next, i++) {
        if (k == PROVIDER_OLLAMA) {
            rc = read_vector(e, i, out, max_dim, dim);
            continue;
        }
        /* {"index": i, "embedding": [...]}: in any order, each index once */
        const json *ix = json_get(e, "index");
        size_t at = i;
        if (ix && (ix->type != JSON_NUMBER || !ix->is_int || ix->i64 < 0 || (uint64_t)ix->i64 >= n))
            rc = error_set(LOCH_ECORRUPT, "the embeddings answer's item %zu has index out of range", i);
        else if (ix)
            at = (size_t)ix->i64;
        if (rc == 0 && seen[at]++)
            rc = error_set(LOCH_ECORRUPT, "the embeddings answer has index %zu twice", at);
        rc = rc ? rc : read_vector(json_get(e, "embedding"), at, out, max_dim, dim);
    }
done:
    arena_free(&a);
    return rc;
}

void provider_stream_init(provider_stream *s, provider_kind k)
{
    memset(s, 0, sizeof(*s));
    s->kind = k;
    s->line = s->reply = s->whole = (buf)BUF_INIT;
}

void provider_stream_free(provider_stream *s)
{
    buf_free(&s->line);
    buf_free(&s->reply);
    buf_free(&s->whole);
}

static int put_text(provider_stream *s, const json *content)
{
    if (!content || content->type != JSON_STRING || !content->len)
        return 0;
    if (s->reply.len + content->len > PROVIDER_MAX_REPLY)
        return error_set(LOCH_EUNSUPPORTED, "the model's reply is longer than %d bytes", PROVIDER_MAX_REPLY);
    if (buf_put(&s->reply, content->str, content->len))
        return error_set(LOCH_ENOMEM, "out of memory");
    if (s->on_text && s->on_text(s->ctx, content->str, content->len))
        return s->enough = 1;
    return 0;
}

/* One event or one answer as JSON: its text, counts, end, or error. */
static int read_event(provider_stream *s, const char *text, size_t len, int whole)
{
    arena a = ARENA_INIT;
    json *doc = NULL;
    int rc = json_parse(&a, text, len, &doc);
    if (rc < 0) {
        error_prefix("the model server's answer is not what its API says: ");
        goto done;
    }
    const char *m = doc->type == JSON_OBJECT ? error_message(doc) : NULL;
    if (m) {
        char said[320];
        put_clean(said, sizeof(said), m, strlen(m));
        rc = error_set(LOCH_EIO, "the model server failed: %s", said);
        goto done;
    }
    if (s->kind == PROVIDER_OLLAMA) {
        rc = put_text(s, json_get(json_get(doc, "message"), "content"));
        if (json_get_bool(doc, "done", false)) {
            s->done = 1;
            s->tokens[0] = (int)json_get_i64(doc, "prompt_eval_count", 0);
            s->tokens[1] = (int)json_get_i64(doc, "eval_count", 0);
        }
    } else {
        const json *choices = json_get(doc, "choices");
        const json *c0 = choices && choices->type == JSON_ARRAY ? choices->child : NULL;
        rc = put_text(s, json_get(json_get(c0, whole ? "message" : "delta"), "content"));
        const json *usage = json_get(doc, "usage");
        if (usage && usage->type == JSON_OBJECT) {
            s->tokens[0] = (int)json_get_i64(usage, "prompt_tokens", 0);
            s->tokens[1] = (int)json_get_i64(usage, "completion_tokens", 0);
        }
        if (whole)
            s->done = 1;
    }
done:
    arena_free(&a);
    return rc;
}

static int read_line(provider_stream *s, const char *l, size_t n)
{
    if (s->max_lines && ++s->lines > s->max_lines)
        return error_set(LOCH_EUNSUPPORTED, "the model server sent %ld lines and has not ended its reply",
                         s->max_lines);
    while (n && (l[n - 1] == '\r'))
        n--;
    if (s->done || n == 0)
        return 0;
    if (s->kind == PROVIDER_OLLAMA)
        return read_event(s, l, n, 0);
    /* server-sent events: "data: ...", and fields and comments that say nothing here */
    if (n >= 5 && !memcmp(l, "data:", 5)) {
        l += 5, n -= 5;
        if (n && *l == ' ')
            l++, n--;
        if (n == 6 && !memcmp(l, "[DONE]", 6)) {
            s->done = 1;
            return 0;
        }
        return read_event(s, l, n, 0);
    }
    if (*l == ':' || (n >= 6 && !memcmp(l, "event:", 6)) || (n >= 3 && !memcmp(l, "id:", 3)) ||
        (n >= 6 && !memcmp(l, "retry:", 6)))
        return 0;
    /* not an event: the answer came whole (a server that does not stream) */
    if (s->whole.len + n + 1 > PROVIDER_MAX_BODY)
        return error_set(LOCH_EUNSUPPORTED, "the model server's answer is longer than %d bytes", PROVIDER_MAX_BODY);
    return buf_put(&s->whole, l, n) || buf_putc(&s->whole, '\n') ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

int provider_stream_feed(provider_stream *s, const char *data, size_t len)
{
    int rc = 0;
    while (len && rc == 0 && !s->enough) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->line.len + take > PROVIDER_MAX_LINE)
            return error_set(LOCH_EUNSUPPORTED, "the model server sent a line longer than %d bytes",
                             PROVIDER_MAX_LINE);
        if (!nl) {
            return buf_put(&s->line, data, take) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        }
        if (s->line.len) {
            if (buf_put(&s->line, data, take))
                return error_set(LOCH_ENOMEM, "out of memory");
            rc = read_line(s, s->line.data, s->line.len);
            buf_clear(&s->line);
        } else {
            rc = read_line(s, data, take);
        }
        data += take + 1, len -= take + 1;
    }
    return rc < 0 ? rc : s->enough;
}

int provider_stream_end(provider_stream *s)
{
    int rc = 0;
    if (s->line.len && !s->enough) {
        rc = read_line(s, s->line.data, s->line.len);
        buf_clear(&s->line);
    }
    if (rc < 0 || s->enough || s->done)
        return rc < 0 ? rc : 0;
    if (s->whole.len)
        return read_event(s, s->whole.data, s->whole.len, 1);
    return error_set(LOCH_EIO, "the model server's answer ended before the reply did");
}

/* --- sending --- */

typedef struct {
    const provider *p;
    int (*stop)(void *);
    void *stop_ctx;
    buf body;            /* an error's body, or an embeddings answer */
    provider_stream *st; /* a reply as it streams */
    int rc;              /* the stream's error */
} call;

static int on_data(void *ctx, int status, const char *data, size_t len)
{
    call *c = ctx;
    if (status >= 400 || !c->st) {
        size_t cap = status >= 400 ? MAX_ERROR_BODY : PROVIDER_MAX_BODY;
        if (c->body.len + len > cap) {
            if (status >= 400)
                return 1; /* enough of an error */
            c->rc = error_set(LOCH_EUNSUPPORTED, "the model server's answer is longer than %d bytes", PROVIDER_MAX_BODY);
            return 1;
        }
        if (buf_put(&c->body, data, len)) {
            c->rc = error_set(LOCH_ENOMEM, "out of memory");
            return 1;
        }
        return 0;
    }
    int rc = provider_stream_feed(c->st, data, len);
    if (rc < 0)
        c->rc = rc;
    return rc != 0;
}

static int stop_asked(void *ctx)
{
    call *c = ctx;
    return c->stop && c->stop(c->stop_ctx);
}

static int post(call *c, const char *path, const buf *body, int *status)
{
    buf url = BUF_INIT;
    char auth[1100];
    const char *headers[3] = {NULL, NULL, NULL};
    int rc = url_of(c->p, path, &url);
    if (rc == 0 && c->p->api_key && *c->p->api_key) {
        if (strlen(c->p->api_key) > 1000 || strpbrk(c->p->api_key, "\r\n"))
            rc = error_set(LOCH_EINVALID, "the API key is not one line of at most 1000 bytes");
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->p->api_key);
        headers[0] = auth;
    }
    if (rc == 0) {
        httpc_request r = {.url = url.data, .headers = headers, .body = body->data, .body_len = body->len,
                           .total_timeout_s = PROVIDER_TIMEOUT_S, .on_data = on_data, .stop = stop_asked, .ctx = c};
        rc = httpc_send(&r, status);
        if (rc < 0 && rc != LOCH_EINTERRUPTED)
            error_prefix("the %s provider: ", provider_kind_name(c->p->kind));
    }
    memset(auth, 0, sizeof(auth));
    buf_free(&url);
    rc = rc ? rc : c->rc;
    if (rc == 0 && *status >= 400)
        rc = provider_error(c->p, *status, c->body.data, c->body.len);
    else if (rc == 0 && *status != 200)
        rc = error_set(LOCH_EIO, "the %s server answered %d, not 200", provider_kind_name(c->p->kind), *status);
    return rc;
}

static int need_model(const provider *p)
{
    if (!p->model || !*p->model)
        return error_set(LOCH_EINVALID, "the %s provider needs a model's name (its server lists them: %s)",
                         provider_kind_name(p->kind), p->kind == PROVIDER_OLLAMA ? "ollama list" : "GET /v1/models");
    return 0;
}

int provider_embed(const provider *p, const char *const *texts, const size_t *lens, size_t n, float *out,
                   size_t max_dim, int *dim, int (*stop)(void *), void *ctx)
{
    buf body = BUF_INIT;
    int rc = need_model(p);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t from = i;
        buf_clear(&body);
        buf_puts(&body, "{\"model\":");
        buf_put_json_str(&body, p->model);
        buf_puts(&body, ",\"input\":[");
        for (; i < n && i - from < BATCH && (i == from || body.len + lens[i] < BATCH_BYTES); i++) {
            if (i > from)
                buf_putc(&body, ',');
            buf_put_json_strn(&body, texts[i], lens[i]);
        }
        if (p->kind == PROVIDER_OLLAMA)
            buf_puts(&body, "],\"truncate\":true}"); /* longer than the window: cut, as the embedded model does */
        else if (buf_puts(&body, "]}"))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        call c = {p, stop, ctx, BUF_INIT, NULL, 0};
        int status = 0;
        rc = rc ? rc : post(&c, p->kind == PROVIDER_OLLAMA ? "/api/embed" : "/embeddings", &body, &status);
        if (rc == 0) {
            int got = *dim;
            rc = provider_embed_parse(p->kind, c.body.data ? c.body.data : "", c.body.len, i - from,
                                      out + from * (size_t)(*dim ? *dim : 0), max_dim, &got);
            /* the first batch learns the dimension and wrote from 0; later ones must agree */
            *dim = got;
        }
        buf_free(&c.body);
    }
    buf_free(&body);
    return rc;
}

int provider_generate(const provider *p, const llm_message *msgs, size_t n, const llm_generate_options *o,
                      char **reply, int tokens[2])
{
    buf body = BUF_INIT;
    provider_stream st;
    provider_stream_init(&st, p->kind);
    st.on_text = o->on_text, st.ctx = o->ctx;
    int max_tokens = o->max_tokens > 0 ? o->max_tokens : 512;
    /* a token a piece, as servers stream; pieces of nothing and keep-alive comments too,
     * within reason: a stream that never ends is cut */
    st.max_lines = 8L * max_tokens + 1024;
    *reply = NULL;
    int rc = need_model(p);
    buf_puts(&body, "{\"model\":");
    buf_put_json_str(&body, p->model ? p->model : "");
    buf_puts(&body, ",\"stream\":true,\"messages\":[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(&body, i ? ",{\"role\":" : "{\"role\":");
        buf_put_json_str(&body, msgs[i].role);
        buf_puts(&body, ",\"content\":");
        buf_put_json_str(&body, msgs[i].content ? msgs[i].content : "");
        buf_putc(&body, '}');
    }
    if (p->kind == PROVIDER_OLLAMA) {
        buf_printf(&body, "],\"options\":{\"num_predict\":%d,\"temperature\":%g", max_tokens, (double)o->temperature);
        if (o->temperature > 0)
            buf_printf(&body, ",\"seed\":%u", o->seed);
        buf_puts(&body, "}}");
    } else {
        buf_printf(&body, "],\"stream_options\":{\"include_usage\":true},\"max_tokens\":%d,\"temperature\":%g",
                   max_tokens, (double)o->temperature);
        if (o->temperature > 0)
            buf_printf(&body, ",\"seed\":%u", o->seed);
        if (buf_putc(&body, '}'))
            rc = rc ? rc : error_set(LOCH_ENOMEM, "out of memory");
    }
    call c = {p, o->stop, o->ctx, BUF_INIT, &st, 0};
    int status = 0;
    rc = rc ? rc : post(&c, p->kind == PROVIDER_OLLAMA ? "/api/chat" : "/chat/completions", &body, &status);
    rc = rc ? rc : provider_stream_end(&st);
    if (rc == 0) {
        if (tokens)
            tokens[0] = st.tokens[0], tokens[1] = st.tokens[1];
        if (!(*reply = buf_detach(&st.reply)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    buf_free(&c.body);
    buf_free(&body);
    provider_stream_free(&st);
    return rc;
}
