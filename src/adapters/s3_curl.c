/*
 * adapters/s3_curl.c - adapters/s3.h over libcurl's easy interface.
 *
 * A call builds the request once (URL, signed headers) per attempt, since the signature
 * carries the time; the body is the caller's and is never copied. Answers are read into
 * a buffer capped at what was asked (a ranged GET) or, for everything but GET, at
 * MAX_ANSWER: a store that streams without end cannot grow it without bound.
 */
#include "adapters/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "formats/s3xml.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/sigv4.h"

enum { MAX_ANSWER = 16 << 20 };

enum { IDLE_HANDLES = 16 };

struct s3 {
    char *scheme_host; /* "http://127.0.0.1:5000" */
    char *host;        /* "127.0.0.1:5000": the Host header, without the bucket */
    char *region, *access, *secret, *token;
    int path_style, attempts, timeout_s;
    /* curl handles between requests: each keeps its connection to the store open, so a
     * request after the first pays no TCP (or TLS) handshake */
    pthread_mutex_t mu;
    CURL *idle[IDLE_HANDLES];
    int nidle;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void s3_free(s3 *c)
{
    if (!c)
        return;
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->scheme_host), free(c->host), free(c->region), free(c->access), free(c->secret), free(c->token);
    free(c);
}

int s3_open(s3 **out, const s3_options *o)
{
    *out = NULL;
    if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key)
        return error_set(LOCH_EINVALID, "no credentials for the store: set AWS_ACCESS_KEY_ID and "
                                        "AWS_SECRET_ACCESS_KEY, or a profile (AWS_PROFILE)");
    const char *region = o->region && *o->region ? o->region : "us-east-1";
    char def[128];
    snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", region);
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : def;
    size_t scheme = !strncasecmp(ep, "http://", 7) ? 7 : !strncasecmp(ep, "https://", 8) ? 8 : 0;
    size_t hostlen = scheme ? strcspn(ep + scheme, "/?#") : 0;
    if (scheme && memchr(ep + scheme, '@', hostlen)) /* never echoed: it may carry a password */
        return error_set(LOCH_EINVALID, "the store's endpoint names a user (user@host): give credentials as "
                                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the endpoint as http(s)://host[:port]");
    if (!scheme || !hostlen || (ep[scheme + hostlen] && strcmp(ep + scheme + hostlen, "/")))
        return error_set(LOCH_EINVALID, "the store's endpoint \"%s\" is not http(s)://host[:port]", ep);
    s3 *c = calloc(1, sizeof(*c));
    if (!c)
        return error_set(LOCH_ENOMEM, "out of memory");
    c->scheme_host = strndup(ep, scheme + hostlen);
    c->host = strndup(ep + scheme, hostlen);
    c->region = strdup(region);
    c->access = strdup(o->access_key);
    c->secret = strdup(o->secret_key);
    c->token = o->session_token && *o->session_token ? strdup(o->session_token) : NULL;
    c->path_style = o->path_style;
    c->attempts = o->attempts > 0 ? o->attempts : 5;
    c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
    pthread_mutex_init(&c->mu, NULL);
    if (!c->scheme_host || !c->host || !c->region || !c->access || !c->secret ||
        (o->session_token && *o->session_token && !c->token)) {
        s3_free(c);
        return error_set(LOCH_ENOMEM, "out of memory");
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        s3_free(c);
        return error_set(LOCH_EIO, "cannot start the HTTP client: %s", curl_easy_strerror(global_rc));
    }
    *out = c;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A handle for one attempt: an idle one (with its open connection) when there is one. */
static CURL *take_handle(s3 *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->nidle)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->mu);
    return h ? h : curl_easy_init();
}

/* Back to the idle ones, its options cleared and its connection kept. */
static void give_handle(s3 *c, CURL *h)
{
    if (!h)
        return;
    curl_easy_reset(h);
    pthread_mutex_lock(&c->mu);
    if (c->nidle < IDLE_HANDLES) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* One request, as the caller describes it, and what came back. */
typedef struct {
    const char *method, *bucket, *key;
    const sigv4_pair *params;
    size_t nparams;
    const sigv4_pair *headers; /* more headers to sign and send (Range, If-None-Match) */
    size_t nheaders;
    const void *body;
    size_t len;
    size_t cap;                /* the most of an answer to keep */
    const int *file;           /* non-NULL: a success's body goes to this descriptor (GET), not to out */
    /* answer */
    buf *out;
    CURL *h;                   /* the attempt's handle, for its status in on_body */
    int status;
    int tries;                 /* attempts made: past 1, an earlier one may have reached the store */
    s3_object meta;
    int overflow;
    int write_errno;           /* the file's write failed (a full disk): not the store's fault */
} call;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    call *k = ctx;
    size_t len = size * n;
    long code = 0;
    if (k->file && curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code / 100 == 2) {
        for (size_t done = 0; done < len;) {
            ssize_t w = write(*k->file, data + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                k->write_errno = w < 0 ? errno : EIO;
                return CURL_WRITEFUNC_ERROR;
            }
            done += (size_t)w;
        }
        return len;
    }
    if (k->out->len + len > k->cap) {
        k->overflow = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    return buf_put(k->out, data, len) < 0 ? CURL_WRITEFUNC_ERROR : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    call *k = ctx;
    size_t len = size * n;
    char line[256];
    size_t m = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, data, m);
    line[m] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *v = strchr(line, ':');
    if (!v)
        return len;
    *v++ = '\0';
    v += strspn(v, " \t");
    if (!strcasecmp(line, "ETag")) {
        size_t e = strlen(v);
        if (e >= 2 && v[0] == '"' && v[e - 1] == '"')
            v++, e -= 2;
        if (e < sizeof(k->meta.etag)) {
            memcpy(k->meta.etag, v, e);
            k->meta.etag[e] = '\0';
        }
    } else if (!strcasecmp(line, "Last-Modified")) {
        time_t t = curl_getdate(v, NULL);
        k->meta.mtime_ms = t < 0 ? -1 : (int64_t)t * 1000;
    } else if (!strcasecmp(line, "Content-Length")) {
        k->meta.size = strtoll(v, NULL, 10);
    }
    return len;
}

/* One attempt: 0 with k->status set when an answer came, LOCH_EIO when none did. */
static int attempt(s3 *c, call *k, char *err, size_t errcap)
{
    buf url = BUF_INIT, path = BUF_INIT, query = BUF_INIT, auth = BUF_INIT, host = BUF_INIT;
    struct curl_slist *hl = NULL;
    char date[17], hash[65], cerr[CURL_ERROR_SIZE] = "";
    uint8_t d[32];
    sigv4_pair signed_h[12];
    size_t nh = 0;
    int rc = 0;
    CURL *h = NULL;
    buf_clear(k->out);
    k->status = 0;
    k->overflow = 0;
    k->write_errno = 0;
    if (k->file && (ftruncate(*k->file, 0) != 0 || lseek(*k->file, 0, SEEK_SET) != 0))
        return error_errno(errno, "cannot write", "the downloaded file");
    k->meta = (s3_object){.size = -1, .mtime_ms = -1};
    /* path-style: /bucket/key on the endpoint's host; else bucket.host and /key */
    if ((c->path_style ? buf_printf(&path, "/%s/%s", k->bucket, k->key ? k->key : "")
                       : buf_printf(&path, "/%s", k->key ? k->key : "")) < 0 ||
        (c->path_style ? buf_puts(&host, c->host) : buf_printf(&host, "%s.%s", k->bucket, c->host)) < 0 ||
        sigv4_query(&query, k->params, k->nparams) < 0) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    const char *scheme = !strncasecmp(c->scheme_host, "https", 5) ? "https://" : "http://";
    if (buf_printf(&url, "%s%s", scheme, host.data) < 0 || sigv4_encode_path(&url, path.data) < 0 ||
        (query.len && buf_printf(&url, "?%s", query.data) < 0)) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = sha256(k->body ? k->body : "", k->len, d)) < 0)
        goto done;
    for (int i = 0; i < 32; i++)
        snprintf(hash + 2 * i, 3, "%02x", d[i]);
    sigv4_date((long long)time(NULL), date);
    signed_h[nh++] = (sigv4_pair){"host", host.data};
    signed_h[nh++] = (sigv4_pair){"x-amz-content-sha256", hash};
    signed_h[nh++] = (sigv4_pair){"x-amz-date", date};
    if (c->token)
        signed_h[nh++] = (sigv4_pair){"x-amz-security-token", c->token};
    for (size_t i = 0; i < k->nheaders && nh < sizeof(signed_h) / sizeof(signed_h[0]); i++)
        signed_h[nh++] = k->headers[i];
    sigv4_key key = {c->access, c->secret, c->region, "s3"};
    if ((rc = sigv4_authorization(&auth, &key, date, k->method, path.data, k->params, k->nparams, signed_h, nh,
                                  hash)) < 0)
        goto done;
    /* the headers as signed, and no others that curl would add and a proxy could alter */
    for (size_t i = 0; i < nh && rc == 0; i++) {
        buf line = BUF_INIT;
        struct curl_slist *more = NULL;
        if (buf_printf(&line, "%s: %s", signed_h[i].name, signed_h[i].value) < 0 ||
            !(more = curl_slist_append(hl, line.data)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            hl = more;
        buf_free(&line);
    }
    static const char *const fixed[] = {"Expect:", "Accept:", "Content-Type: application/octet-stream"};
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        struct curl_slist *more = curl_slist_append(hl, fixed[i]);
        if (!more)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            hl = more;
    }
    buf authline = BUF_INIT;
    struct curl_slist *more = rc == 0 && buf_printf(&authline, "Authorization: %s", auth.data) == 0
                                  ? curl_slist_append(hl, authline.data)
                                  : NULL;
    if (authline.data)
        memset(authline.data, 0, authline.len);
    buf_free(&authline);
    if (rc == 0 && !more)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    hl = more ? more : hl;
    if (rc < 0 || !(h = take_handle(c))) {
        rc = rc < 0 ? rc : error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* a key's "/../" is the key's, never a way up */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "loch");
    k->h = h;
    if (!strcmp(k->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(k->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, k->method);
        if (k->body || !strcmp(k->method, "PUT") || !strcmp(k->method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, k->body ? (const char *)k->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->len);
        }
    }
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    k->status = (int)code;
    if (k->write_errno)
        rc = error_errno(k->write_errno, "cannot write", "the downloaded file");
    else if (k->overflow)
        rc = error_set(LOCH_ECORRUPT, "the store's answer for s3://%s/%s is larger than asked for", k->bucket,
                       k->key ? k->key : "");
    else if (cc != CURLE_OK) {
        snprintf(err, errcap, "%s", *cerr ? cerr : curl_easy_strerror(cc));
        k->status = 0; /* no whole answer: sent again */
    }
done:
    curl_slist_free_all(hl);
    if (h && k->status == 0) /* a connection that failed is not kept */
        curl_easy_cleanup(h);
    else
        give_handle(c, h);
    k->h = NULL;
    if (auth.data)
        memset(auth.data, 0, auth.len);
    buf_free(&url), buf_free(&path), buf_free(&query), buf_free(&auth), buf_free(&host);
    return rc;
}

static int retryable(int status) { return status == 0 || status == 429 || status >= 500; }

/* The store's own words for a failed answer: "SlowDown: Please reduce your request rate". */
static void store_words(const call *k, char *out, size_t cap)
{
    char code[64], msg[256];
    if (k->out->len && s3xml_parse_error(k->out->data, k->out->len, code, sizeof(code), msg, sizeof(msg)))
        snprintf(out, cap, "%s%s%s", code, *msg ? ": " : "", msg);
    else
        snprintf(out, cap, "HTTP %d", k->status);
}

/* Sends k until it is answered or the tries run out; k->status is the last answer's. */
static int send_call(s3 *c, call *k)
{
    char err[CURL_ERROR_SIZE] = "";
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)k;
    for (int i = 0; i < c->attempts; i++) {
        if (i) { /* 100 ms doubling to at most 5 s, each wait a random part of it ("full jitter") */
            long cap_ms = 100L << (i - 1 < 6 ? i - 1 : 6);
            cap_ms = cap_ms > 5000 ? 5000 : cap_ms;
            long ms = (long)(rand_r(&seed) % (unsigned)(cap_ms + 1));
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int rc = attempt(c, k, err, sizeof(err));
        if (rc < 0)
            return rc;
        k->tries = i + 1;
        if (!retryable(k->status))
            return 0;
    }
    char words[400];
    if (k->status)
        store_words(k, words, sizeof(words));
    return error_set(LOCH_EIO, "s3://%s/%s: %s after %d attempts", k->bucket, k->key ? k->key : "",
                     k->status ? words : err, c->attempts);
}

/* The error for an answer that is not a success. */
static int answer_error(const call *k)
{
    char words[400];
    store_words(k, words, sizeof(words));
    if (k->status == 404 && !strncmp(words, "NoSuchBucket", 12))
        return error_set(LOCH_ENOTFOUND, "no bucket \"%s\" at the store", k->bucket);
    if (k->status == 404)
        return error_set(LOCH_ENOTFOUND, "s3://%s/%s does not exist", k->bucket, k->key ? k->key : "");
    if (k->status == 403 || k->status == 401)
        return error_set(LOCH_EPERM, "s3://%s/%s: the store refused the request (%s)", k->bucket, k->key ? k->key : "",
                         words);
    return error_set(LOCH_EIO, "s3://%s/%s: the store answered %s", k->bucket, k->key ? k->key : "", words);
}

int s3_get(s3 *c, const char *bucket, const char *key, int64_t from, int64_t len, buf *out, s3_object *meta)
{
    char range[64];
    sigv4_pair h[1];
    size_t nh = 0;
    if (from > 0 || len >= 0) {
        if (len >= 0)
            snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)from, (long long)(from + len - 1));
        else
            snprintf(range, sizeof(range), "bytes=%lld-", (long long)from);
        h[nh++] = (sigv4_pair){"range", range};
    }
    if (len == 0) {
        if (meta)
            *meta = (s3_object){0, -1, ""};
        return 0;
    }
    buf body = BUF_INIT;
    /* an error's XML may be longer than a short range: the cap is checked on success */
    call k = {.method = "GET", .bucket = bucket, .key = key, .headers = h, .nheaders = nh, .out = &body,
              .cap = len >= 0 ? (size_t)(len > 65536 ? len : 65536) : SIZE_MAX};
    int rc = send_call(c, &k);
    int past_end = rc == 0 && k.status == 416;
    if (past_end) /* from at or past the end: nothing to read */
        k.status = 206, buf_clear(&body);
    if (rc == 0 && k.status != 200 && k.status != 206)
        rc = answer_error(&k);
    if (rc == 0 && len >= 0 && body.len > (size_t)len)
        rc = error_set(LOCH_ECORRUPT, "s3://%s/%s: the store sent more than the %lld bytes asked for", bucket, key,
                       (long long)len);
    /* a body cut short (a connection closed early, a proxy) is no object */
    if (rc == 0 && !past_end && (k.meta.size < 0 || (size_t)k.meta.size != body.len))
        rc = error_set(LOCH_EIO, "s3://%s/%s: %zu bytes came of the %lld the store announced", bucket, key, body.len,
                       (long long)k.meta.size);
    if (rc == 0 && buf_put(out, body.data ? body.data : "", body.len) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && meta) {
        *meta = k.meta;
        meta->size = (int64_t)body.len;
    }
    buf_free(&body);
    return rc;
}

int s3_head(s3 *c, const char *bucket, const char *key, s3_object *meta)
{
    buf body = BUF_INIT;
    call k = {.method = "HEAD", .bucket = bucket, .key = key, .out = &body, .cap = MAX_ANSWER};
    int rc = send_call(c, &k);
    if (rc == 0 && k.status != 200)
        rc = answer_error(&k);
    if (rc == 0 && meta)
        *meta = k.meta;
    buf_free(&body);
    return rc;
}

int s3_put(s3 *c, const char *bucket, const char *key, const void *data, size_t len, int if_absent, s3_object *meta)
{
    buf body = BUF_INIT, back = BUF_INIT;
    sigv4_pair h[1] = {{"if-none-match", "*"}};
    call k = {.method = "PUT", .bucket = bucket, .key = key, .headers = h, .nheaders = if_absent ? 1 : 0,
              .body = data, .len = len, .out = &body, .cap = MAX_ANSWER};
    int rc = send_call(c, &k);
    /* a 412 may be our own success: an attempt whose answer was lost (a dropped
     * connection, a 5xx) was sent again, by us or by curl itself (it resends a request
     * once, unseen, when a kept connection turns out closed). The object is read back,
     * and the same bytes mean it was ours. */
    int sent_before = rc == 0 && k.status == 412;
    if (sent_before && s3_get(c, bucket, key, 0, -1, &back, NULL) == 0 && back.len == len &&
        (len == 0 || !memcmp(back.data, data, len)))
        k.status = 200;
    else if (sent_before || (rc == 0 && k.status == 412))
        rc = error_set(LOCH_EEXISTS, "s3://%s/%s exists already (another writer's)", bucket, key);
    if (rc == 0 && k.status != 200)
        rc = answer_error(&k);
    if (rc == 0 && meta) {
        *meta = k.meta;
        meta->size = (int64_t)len;
    }
    buf_free(&body), buf_free(&back);
    return rc;
}

int s3_delete(s3 *c, const char *bucket, const char *key)
{
    buf body = BUF_INIT;
    call k = {.method = "DELETE", .bucket = bucket, .key = key, .out = &body, .cap = MAX_ANSWER};
    int rc = send_call(c, &k);
    if (rc == 0 && k.status != 204 && k.status != 200 && k.status != 404)
        rc = answer_error(&k);
    buf_free(&body);
    return rc;
}

void s3_entries_free(s3_entry *e, size_t count)
{
    for (size_t i = 0; e && i < count; i++)
        free(e[i].key);
    free(e);
}

/* A key as a listing with encoding-type=url gives it, decoded in place ('+' is a space). */
static void url_decode(char *k)
{
    char *o = k;
    for (char *p = k; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p == '+' ? ' ' : *p;
        }
    }
    *o = '\0';
}

int s3_list(s3 *c, const char *bucket, const char *prefix, const char *delimiter, s3_entry **out, size_t *count)
{
    return s3_list_max(c, bucket, prefix, delimiter, 0, out, count);
}

int s3_list_max(s3 *c, const char *bucket, const char *prefix, const char *delimiter, size_t max, s3_entry **out,
                size_t *count)
{
    s3_entry *all = NULL;
    size_t n = 0, cap = 0;
    char *token = NULL;
    int rc = 0;
    *out = NULL;
    *count = 0;
    do {
        sigv4_pair p[6];
        size_t np = 0;
        char maxkeys[24];
        p[np++] = (sigv4_pair){"encoding-type", "url"}; /* keys XML cannot carry (control characters) */
        p[np++] = (sigv4_pair){"list-type", "2"};
        if (max && max - n < 1000) {
            snprintf(maxkeys, sizeof(maxkeys), "%zu", max - n);
            p[np++] = (sigv4_pair){"max-keys", maxkeys};
        }
        if (prefix && *prefix)
            p[np++] = (sigv4_pair){"prefix", prefix};
        if (delimiter && *delimiter)
            p[np++] = (sigv4_pair){"delimiter", delimiter};
        if (token)
            p[np++] = (sigv4_pair){"continuation-token", token};
        buf body = BUF_INIT;
        call k = {.method = "GET", .bucket = bucket, .key = "", .params = p, .nparams = np, .out = &body,
                  .cap = MAX_ANSWER};
        s3xml_list page = {0};
        rc = send_call(c, &k);
        if (rc == 0 && k.status != 200)
            rc = answer_error(&k);
        if (rc == 0)
            rc = s3xml_parse_list(body.data ? body.data : "", body.len, &page);
        buf_free(&body);
        for (size_t i = 0; rc == 0 && i < page.count; i++) {
            if (n == cap) {
                s3_entry *g = realloc(all, (cap = cap ? 2 * cap : 64) * sizeof(*g));
                if (!g) {
                    rc = error_set(LOCH_ENOMEM, "out of memory");
                    break;
                }
                all = g;
            }
            s3xml_entry *e = &page.entries[i];
            url_decode(e->key);
            all[n] = (s3_entry){.key = e->key, .size = e->size, .mtime_ms = e->mtime_ms, .is_prefix = e->is_prefix};
            memcpy(all[n].etag, e->etag, sizeof(all[n].etag));
            e->key = NULL; /* moved */
            n++;
        }
        free(token);
        token = NULL;
        if (rc == 0 && page.truncated && (!max || n < max) && !(token = strdup(page.next_token)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        s3xml_list_free(&page);
    } while (rc == 0 && token);
    free(token);
    if (rc < 0) {
        s3_entries_free(all, n);
        return rc;
    }
    *out = all;
    *count = n;
    return 0;
}

int s3_get_file(s3 *c, const char *bucket, const char *key, int fd, s3_object *meta)
{
    buf body = BUF_INIT;
    call k = {.method = "GET", .bucket = bucket, .key = key, .file = &fd, .out = &body, .cap = MAX_ANSWER};
    int rc = send_call(c, &k);
    if (rc == 0 && k.status != 200)
        rc = answer_error(&k);
    off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : 0;
    if (rc == 0 && size < 0)
        rc = error_errno(errno, "cannot write", "the downloaded file");
    if (rc == 0 && k.meta.size != (int64_t)size) /* none announced (-1), or another size: cut short */
        rc = error_set(LOCH_EIO, "s3://%s/%s: %lld of its %lld bytes came", bucket, key, (long long)size,
                       (long long)k.meta.size);
    if (rc == 0 && meta) {
        *meta = k.meta;
        meta->size = (int64_t)size;
    }
    buf_free(&body);
    return rc;
}

int s3_copy(s3 *c, const char *bucket, const char *from, const char *to)
{
    buf source = BUF_INIT, body = BUF_INIT;
    char code[64], msg[256];
    int rc = buf_puts(&source, bucket) < 0 || sigv4_encode_path(&source, from) < 0
                 ? error_set(LOCH_ENOMEM, "out of memory")
                 : 0;
    sigv4_pair h[1] = {{"x-amz-copy-source", source.data}};
    call k = {.method = "PUT", .bucket = bucket, .key = to, .headers = h, .nheaders = 1, .out = &body,
              .cap = MAX_ANSWER};
    rc = rc ? rc : send_call(c, &k);
    if (rc == 0 && k.status == 404) {
        k.key = from; /* the source is the one missing */
        rc = answer_error(&k);
    } else if (rc == 0 && k.status != 200) {
        rc = answer_error(&k);
    } else if (rc == 0 && s3xml_parse_error(body.data ? body.data : "", body.len, code, sizeof(code), msg,
                                            sizeof(msg))) { /* a copy may fail after its 200 began */
        rc = error_set(LOCH_EIO, "s3://%s/%s: copying s3://%s/%s failed: %s: %s", bucket, to, bucket, from, code, msg);
    }
    buf_free(&source), buf_free(&body);
    return rc;
}

/* Text as XML element content. */
static int put_xml_text(buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '\r' ? "&#13;" : NULL;
        if (e ? buf_puts(b, e) < 0 : buf_putc(b, *s) < 0)
            return LOCH_ENOMEM;
    }
    return 0;
}

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

/* A key XML 1.0 can carry: no control character but tab, newline and carriage return. */
static int xml_safe(const char *k)
{
    for (; *k; k++)
        if ((unsigned char)*k < 0x20 && *k != '\t' && *k != '\n' && *k != '\r')
            return 0;
    return 1;
}

int s3_delete_keys(s3 *c, const char *bucket, char *const *keys, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) /* what a DeleteObjects body cannot name goes alone */
        if (!xml_safe(keys[i]))
            rc = s3_delete(c, bucket, keys[i]);
    for (size_t at = 0; rc == 0 && at < n; at += 1000) { /* a request takes at most 1,000 keys */
        buf xml = BUF_INIT, body = BUF_INIT;
        size_t end = n - at < 1000 ? n : at + 1000;
        rc = buf_puts(&xml, "<Delete><Quiet>true</Quiet>") < 0 ? LOCH_ENOMEM : 0;
        for (size_t i = at; rc == 0 && i < end; i++)
            rc = !xml_safe(keys[i]) ? 0 : buf_puts(&xml, "<Object><Key>") < 0 || put_xml_text(&xml, keys[i]) < 0 ||
                         buf_puts(&xml, "</Key></Object>") < 0
                     ? LOCH_ENOMEM
                     : 0;
        rc = rc || buf_puts(&xml, "</Delete>") < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        /* the store wants the body's checksum; CRC32C as the AWS SDKs send it */
        uint32_t crc = rc ? 0 : crc32c(0, xml.data, xml.len);
        uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        char sum[12], code[64], key[256];
        base64(be, 4, sum);
        sigv4_pair p[1] = {{"delete", ""}}, h[1] = {{"x-amz-checksum-crc32c", sum}};
        call k = {.method = "POST", .bucket = bucket, .key = "", .params = p, .nparams = 1, .headers = h,
                  .nheaders = 1, .body = xml.data, .len = xml.len, .out = &body, .cap = MAX_ANSWER};
        rc = rc ? rc : send_call(c, &k);
        if (rc == 0 && k.status != 200)
            rc = answer_error(&k);
        /* a DeleteResult names each key it could not delete in an <Error> */
        if (rc == 0 && body.len && s3xml_text(body.data, body.len, "Code", code, sizeof(code)))
            rc = error_set(LOCH_EIO, "s3://%s/%s: the store did not delete it: %s", bucket,
                           s3xml_text(body.data, body.len, "Key", key, sizeof(key)) ? key : "?", code);
        buf_free(&xml), buf_free(&body);
    }
    return rc;
}

/* ---- multipart upload ------------------------------------------------------------- */

typedef struct {
    s3 *c;
    const char *bucket, *key, *upload_id;
    int fd;
    int64_t size;
    size_t part;
    int nparts;
    atomic_int next;   /* the next part to send, 1-based */
    atomic_int failed; /* a part failed: the others stop */
    char (*etags)[80];
    pthread_mutex_t mu;
    int rc;            /* the first failure, with its message kept below */
    char message[512];
} upload;

static void upload_fail(upload *u, int rc)
{
    pthread_mutex_lock(&u->mu);
    if (!u->rc) {
        u->rc = rc;
        snprintf(u->message, sizeof(u->message), "%s", loch_error_last());
    }
    pthread_mutex_unlock(&u->mu);
    atomic_store(&u->failed, 1);
}

static void *upload_parts(void *arg)
{
    upload *u = arg;
    char *data = malloc(u->part);
    if (!data) {
        upload_fail(u, error_set(LOCH_ENOMEM, "out of memory"));
        return NULL;
    }
    for (int n; !atomic_load(&u->failed) && (n = atomic_fetch_add(&u->next, 1)) <= u->nparts;) {
        int64_t from = (int64_t)(n - 1) * (int64_t)u->part;
        size_t len = (size_t)(u->size - from < (int64_t)u->part ? u->size - from : (int64_t)u->part), got = 0;
        while (got < len) {
            ssize_t r = pread(u->fd, data + got, len - got, from + (int64_t)got);
            if (r <= 0) {
                upload_fail(u, r < 0 ? error_errno(errno, "cannot read", "the file to upload")
                                     : error_set(LOCH_EIO, "the file to upload got shorter while it was read"));
                break;
            }
            got += (size_t)r;
        }
        if (got < len)
            break;
        char num[16];
        snprintf(num, sizeof(num), "%d", n);
        sigv4_pair p[2] = {{"partNumber", num}, {"uploadId", u->upload_id}};
        buf body = BUF_INIT;
        call k = {.method = "PUT", .bucket = u->bucket, .key = u->key, .params = p, .nparams = 2, .body = data,
                  .len = len, .out = &body, .cap = MAX_ANSWER};
        int rc = send_call(u->c, &k);
        if (rc == 0 && k.status != 200)
            rc = answer_error(&k);
        if (rc == 0 && !k.meta.etag[0])
            rc = error_set(LOCH_EIO, "s3://%s/%s: the store gave part %d no ETag", u->bucket, u->key, n);
        buf_free(&body);
        if (rc < 0) {
            upload_fail(u, rc);
            break;
        }
        memcpy(u->etags[n - 1], k.meta.etag, sizeof(u->etags[n - 1]));
    }
    free(data);
    return NULL;
}

/* POST ?uploadId with the parts' list; S3 may answer 200 with an <Error> in the body. */
static int upload_complete(upload *u)
{
    buf xml = BUF_INIT, body = BUF_INIT;
    int rc = buf_puts(&xml, "<CompleteMultipartUpload>") < 0 ? LOCH_ENOMEM : 0;
    for (int i = 0; rc == 0 && i < u->nparts; i++)
        if (buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1, u->etags[i]) < 0)
            rc = LOCH_ENOMEM;
    if (rc == 0 && buf_puts(&xml, "</CompleteMultipartUpload>") < 0)
        rc = LOCH_ENOMEM;
    if (rc < 0) {
        buf_free(&xml);
        return error_set(LOCH_ENOMEM, "out of memory");
    }
    sigv4_pair p[1] = {{"uploadId", u->upload_id}};
    call k = {.method = "POST", .bucket = u->bucket, .key = u->key, .params = p, .nparams = 1, .body = xml.data,
              .len = xml.len, .out = &body, .cap = MAX_ANSWER};
    rc = send_call(u->c, &k);
    char code[64], msg[256];
    s3_object m;
    if (rc == 0 && k.status == 404 && s3_head(u->c, u->bucket, u->key, &m) == 0 && m.size == u->size)
        k.status = 200; /* an attempt whose answer was lost completed it: the upload is gone, the object there */
    else if (rc == 0 && (k.status != 200 || s3xml_parse_error(body.data ? body.data : "", body.len, code,
                                                              sizeof(code), msg, sizeof(msg))))
        rc = k.status != 200 ? answer_error(&k)
                             : error_set(LOCH_EIO, "s3://%s/%s: completing the upload failed: %s: %s", u->bucket,
                                         u->key, code, msg);
    buf_free(&xml), buf_free(&body);
    return rc;
}

/* Aborts one multipart upload (its parts are dropped); best effort. */
static void abort_upload(s3 *c, const char *bucket, const char *key, const char *upload_id)
{
    sigv4_pair a[1] = {{"uploadId", upload_id}};
    buf body = BUF_INIT;
    call k = {.method = "DELETE", .bucket = bucket, .key = key, .params = a, .nparams = 1, .out = &body,
              .cap = MAX_ANSWER};
    send_call(c, &k);
    buf_free(&body);
}

/* Aborts the open multipart uploads of key but `keep`. Data files' keys are loch's own
 * (unique names), so another upload of the same key is one of ours. Best effort: a
 * failure leaves the error as it was. */
static void abort_other_uploads(s3 *c, const char *bucket, const char *key, const char *keep)
{
    char ids[16][256], keepmsg[512];
    int keepcode = loch_error_last_code();
    snprintf(keepmsg, sizeof(keepmsg), "%s", loch_error_last());
    sigv4_pair p[2] = {{"uploads", ""}, {"prefix", key}};
    buf body = BUF_INIT;
    call k = {.method = "GET", .bucket = bucket, .key = "", .params = p, .nparams = 2, .out = &body, .cap = MAX_ANSWER};
    size_t n = 0;
    if (send_call(c, &k) == 0 && k.status == 200 &&
        s3xml_upload_ids(body.data ? body.data : "", body.len, key, ids, 16, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(ids[i], keep) != 0)
                abort_upload(c, bucket, key, ids[i]);
    buf_free(&body);
    if (keepcode < 0)
        error_set(keepcode, "%s", keepmsg);
    else
        error_clear();
}

int s3_put_file(s3 *c, const char *bucket, const char *key, const char *path, size_t part_size, int threads,
                s3_object *meta)
{
    size_t part = part_size < (5u << 20) ? 5u << 20 : part_size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(errno, "cannot read", path);
    off_t size = lseek(fd, 0, SEEK_END);
    int rc = 0;
    if (size < 0) {
        rc = error_errno(errno, "cannot read", path);
        close(fd);
        return rc;
    }
    if ((uint64_t)size <= part) { /* one PUT */
        char *data = malloc(size ? (size_t)size : 1);
        ssize_t got = data ? pread(fd, data, (size_t)size, 0) : -1;
        rc = !data ? error_set(LOCH_ENOMEM, "out of memory")
             : got != (ssize_t)size ? error_errno(got < 0 ? errno : EIO, "cannot read", path)
                                    : s3_put(c, bucket, key, data, (size_t)size, 0, meta);
        free(data);
        close(fd);
        return rc;
    }
    buf body = BUF_INIT;
    char id[256] = "";
    sigv4_pair p[1] = {{"uploads", ""}};
    call k = {.method = "POST", .bucket = bucket, .key = key, .params = p, .nparams = 1, .out = &body,
              .cap = MAX_ANSWER};
    rc = send_call(c, &k);
    if (rc == 0 && k.status != 200)
        rc = answer_error(&k);
    if (rc == 0 && !s3xml_text(body.data ? body.data : "", body.len, "UploadId", id, sizeof(id)))
        rc = error_set(LOCH_EIO, "s3://%s/%s: the store started no upload (no UploadId)", bucket, key);
    buf_free(&body);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    upload u = {.c = c, .bucket = bucket, .key = key, .upload_id = id, .fd = fd, .size = size, .part = part,
                .nparts = (int)((size + (off_t)part - 1) / (off_t)part)};
    atomic_init(&u.next, 1);
    atomic_init(&u.failed, 0);
    pthread_mutex_init(&u.mu, NULL);
    if (u.nparts > 10000)
        rc = error_set(LOCH_EINVALID, "%s needs %d parts of %zu bytes; S3 takes at most 10,000", path, u.nparts, part);
    else if (!(u.etags = calloc((size_t)u.nparts, sizeof(*u.etags))))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    int nt = threads < 1 ? 1 : threads > 32 ? 32 : threads, started = 0;
    pthread_t t[32];
    for (int i = 0; rc == 0 && i < nt && i < u.nparts; i++)
        started += pthread_create(&t[i], NULL, upload_parts, &u) == 0;
    if (rc == 0 && !started)
        rc = error_set(LOCH_ENOMEM, "cannot start a thread to upload with");
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (rc == 0 && u.rc)
        rc = error_set(u.rc, "%s", u.message);
    if (rc == 0)
        rc = upload_complete(&u);
    if (rc < 0) { /* no parts left behind; the first error is the one reported */
        char keep[512];
        snprintf(keep, sizeof(keep), "%s", loch_error_last());
        abort_upload(c, bucket, key, id);
        rc = error_set(rc, "%s", keep);
    }
    /* an upload started by an attempt whose answer was lost (sent again by us, or by curl
     * unseen on a kept connection that turned out closed): aborted */
    abort_other_uploads(c, bucket, key, rc == 0 ? id : "");
    if (rc == 0 && meta)
        *meta = (s3_object){.size = size, .mtime_ms = -1};
    pthread_mutex_destroy(&u.mu);
    free(u.etags);
    close(fd);
    return rc;
}
