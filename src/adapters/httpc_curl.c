/*
 * adapters/httpc_curl.c - adapters/httpc.h over libcurl's easy interface.
 *
 * One easy handle a request: requests are rare (a model call is seconds of work), so a
 * connection pool would save nothing worth its state. libcurl's global set-up is done
 * once; CURLOPT_NOSIGNAL keeps it from touching signals in a threaded server.
 */
#include "adapters/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    const httpc_request *r;
    CURL *h;
    int status;
    int ended;   /* on_data said enough */
    int stopped; /* stop() said so */
} transfer;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    transfer *t = ctx;
    size_t len = size * n;
    if (!t->status) {
        long code = 0;
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
        t->status = (int)code;
    }
    if (t->r->on_data && t->r->on_data(t->r->ctx, t->status, data, len)) {
        t->ended = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    transfer *t = ctx;
    if (t->r->stop && t->r->stop(t->r->ctx))
        return t->stopped = 1;
    return 0;
}

/* "http://host:port" of a URL, for messages: never its user, password, path or query. */
static void url_origin(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }
    if (scheme && host)
        snprintf(out, cap, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
    else
        snprintf(out, cap, "(an address that is not a URL)");
    curl_free(scheme), curl_free(host), curl_free(port);
    curl_url_cleanup(u);
}

int httpc_send(const httpc_request *r, int *status)
{
    transfer t = {r, NULL, 0, 0, 0};
    struct curl_slist *headers = NULL;
    char origin[300], err[CURL_ERROR_SIZE] = "";
    int rc = 0;
    *status = 0;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return error_set(LOCH_EIO, "cannot start the HTTP client: %s", curl_easy_strerror(global_rc));
    url_origin(r->url, origin, sizeof(origin));
    if (!(t.h = curl_easy_init()))
        return error_set(LOCH_ENOMEM, "out of memory");
    char ct[200];
    snprintf(ct, sizeof(ct), "Content-Type: %s", r->content_type ? r->content_type : "application/json");
    struct curl_slist *more = r->body ? curl_slist_append(NULL, ct) : NULL;
    if (r->body && !more)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    headers = more;
    /* "Expect: 100-continue" would cost a round trip a request on large bodies */
    if (rc == 0 && !(more = curl_slist_append(headers, "Expect:")))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    headers = rc == 0 ? more : headers;
    for (size_t i = 0; rc == 0 && r->headers && r->headers[i]; i++) {
        if (!(more = curl_slist_append(headers, r->headers[i])))
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else
            headers = more;
    }
    if (rc < 0)
        goto cleanup;
    curl_easy_setopt(t.h, CURLOPT_URL, r->url);
    curl_easy_setopt(t.h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t.h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(t.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(t.h, CURLOPT_CONNECTTIMEOUT, (long)(r->connect_timeout_s > 0 ? r->connect_timeout_s : 10));
    /* below 1 byte a second for idle_timeout_s: the server is gone or stuck */
    curl_easy_setopt(t.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(t.h, CURLOPT_LOW_SPEED_TIME, (long)(r->idle_timeout_s > 0 ? r->idle_timeout_s : 300));
    if (r->total_timeout_s > 0)
        curl_easy_setopt(t.h, CURLOPT_TIMEOUT, (long)r->total_timeout_s);
    curl_easy_setopt(t.h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t.h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(t.h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(t.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(t.h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(t.h, CURLOPT_USERAGENT, "loch");
    if (r->body) {
        curl_easy_setopt(t.h, CURLOPT_POST, 1L);
        curl_easy_setopt(t.h, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(t.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    CURLcode cc = curl_easy_perform(t.h);
    if (!t.status) { /* an answer without a body */
        long code = 0;
        curl_easy_getinfo(t.h, CURLINFO_RESPONSE_CODE, &code);
        t.status = (int)code;
    }
    *status = t.status;
    if (t.stopped)
        rc = error_set(LOCH_EINTERRUPTED, "the request to %s was cancelled", origin);
    else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && t.ended))
        rc = error_set(LOCH_EIO, "the request to %s failed: %s", origin, *err ? err : curl_easy_strerror(cc));
cleanup:
    curl_slist_free_all(headers);
    curl_easy_cleanup(t.h);
    return rc;
}
