/*
 * adapters/http_mhd.c - adapters/http.h over libmicrohttpd (the only file that
 * includes microhttpd.h).
 *
 * libmicrohttpd calls on_request several times per request: once when the headers
 * are in (the body plan is made, and a body announced larger than its limit is
 * answered 413 at once), once per piece of body, and once more when the body is
 * complete (the handler runs and its response is queued). One thread serves each
 * connection, so handlers may block. Streamed responses go out with chunked encoding,
 * pulled from the handler's producer as the client reads them.
 *
 * Slow clients: a connection whose request headers are not complete within
 * header_timeout_s of its opening (or of its last answer, on a kept-alive connection)
 * is cut by the reaper thread, however steadily it trickles bytes (the idle timeout
 * alone never fires for a client that sends a byte a second); one address holds at
 * most max_per_client connections. So no one client can take every connection.
 */
#include "adapters/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"
#include "util/misc.h"
#include "util/sha256.h"

/* One open connection, for the reaper (guarded by the server's mutex). */
typedef struct conn_slot {
    int fd;
    atomic_int in_request;      /* the current request's headers are in */
    atomic_llong since_ms;      /* when it began waiting for headers (monotonic) */
    int cut;
    struct conn_slot *prev, *next;
} conn_slot;

struct http_server {
    struct MHD_Daemon *d;
    http_handlers h;
    int port;
    int header_timeout_s;
    pthread_mutex_t mu;
    conn_slot *conns;
    pthread_t reaper;
    int reaper_running;
    atomic_int stopping;
};

static long long now_ms(void) { return (long long)(time_mono() * 1000); }

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    conn_slot *slot = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(slot = calloc(1, sizeof(*slot))))
            return;
        slot->fd = ci->connect_fd;
        atomic_store(&slot->since_ms, now_ms());
        pthread_mutex_lock(&s->mu);
        slot->next = s->conns;
        if (s->conns)
            s->conns->prev = slot;
        s->conns = slot;
        pthread_mutex_unlock(&s->mu);
        *socket_context = slot;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && slot) {
        pthread_mutex_lock(&s->mu); /* the reaper never shuts a socket being closed */
        if (slot->prev)
            slot->prev->next = slot->next;
        else
            s->conns = slot->next;
        if (slot->next)
            slot->next->prev = slot->prev;
        pthread_mutex_unlock(&s->mu);
        free(slot);
        *socket_context = NULL;
    }
}

static conn_slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void *reaper_run(void *arg)
{
    http_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
        long long now = now_ms(), limit = (long long)s->header_timeout_s * 1000;
        pthread_mutex_lock(&s->mu);
        for (conn_slot *c = s->conns; c; c = c->next)
            if (!c->cut && !atomic_load(&c->in_request) && now - atomic_load(&c->since_ms) > limit) {
                shutdown(c->fd, SHUT_RDWR); /* its thread sees the end and closes it */
                c->cut = 1;
            }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

struct http_request {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;
    http_body_plan plan;
    buf body;
    int fd;                 /* spool file, when plan.to_file */
    char file[4096];
    int64_t bytes;
    int too_big, queued;
    double started;
    char peer[64];
    int status;             /* of the response sent */
    int64_t bytes_out;
    http_response resp;     /* kept for the completion callback */
    struct MHD_PostProcessor *pp; /* multipart/form-data */
    sha256_ctx sha;         /* of the spooled bytes */
    char sha_hex[65];
    char upload_name[256];
    int file_parts;         /* multipart: file parts seen (only the first is spooled) */
    int spool_errno;        /* writing the spool failed (a full disk): the rest is dropped */
    int is_form, form_bad;  /* a multipart body; one that did not parse or did not end */
    uint64_t part_bytes;    /* bytes of the file part being read */
    buf form;               /* other form fields: "name\0value\0" pairs */
};

const char *http_method(const http_request *r) { return r->method; }
const char *http_path(const http_request *r) { return r->path; }
const char *http_peer(const http_request *r) { return r->peer; }
int64_t http_body_bytes(const http_request *r) { return r->bytes; }

const char *http_header(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_body(const http_request *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *http_body_file(const http_request *r) { return r->fd >= 0 ? r->file : NULL; }

const char *http_upload_name(const http_request *r) { return r->upload_name[0] ? r->upload_name : NULL; }
int http_upload_parts(const http_request *r) { return r->is_form ? r->file_parts : -1; }

const char *http_form(const http_request *r, const char *name)
{
    for (size_t at = 0; r->form.data && at < r->form.len;) {
        const char *k = r->form.data + at, *v = k + strlen(k) + 1;
        if (!strcmp(k, name))
            return v;
        at = (size_t)(v - r->form.data) + strlen(v) + 1;
    }
    return NULL;
}

int http_set_body_file(http_request *r, const char *path)
{
    if (strlen(path) >= sizeof(r->file))
        return -1;
    snprintf(r->file, sizeof(r->file), "%s", path);
    return 0;
}

const char *http_body_sha256(http_request *r)
{
    if (r->fd < 0)
        return NULL;
    if (!r->sha_hex[0] && sha256_hex(&r->sha, r->sha_hex) < 0)
        return NULL;
    return r->sha_hex;
}

/* A failed write (a full disk) is remembered and the rest of the body read and
 * dropped, so the client gets an answer that says why instead of a closed connection. */
static int spool(http_request *r, const char *data, size_t n)
{
    if (r->spool_errno)
        return 0;
    sha256_update(&r->sha, data, n); /* hashed on the way in: ingest need not read it for that */
    for (size_t done = 0; done < n;) {
        ssize_t w = write(r->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r->spool_errno = w < 0 ? errno : EIO;
            (void)!ftruncate(r->fd, 0); /* the space goes back now, not when the request ends */
            break;
        }
        done += (size_t)w;
    }
    return 0;
}

/* A part of a multipart body: the file goes to the spool, small fields are kept. */
static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *encoding, const char *data, uint64_t off,
                               size_t size)
{
    http_request *r = cls;
    (void)kind, (void)content_type, (void)encoding;
    if (filename) {
        /* A part starts again at offset 0 (its first call may carry no bytes yet). */
        if (off == 0 && (r->file_parts == 0 || r->part_bytes > 0)) {
            r->file_parts++;
            r->part_bytes = 0;
        }
        r->part_bytes += size;
        if (r->file_parts > 1)
            return MHD_YES; /* never joined to the first: the handler refuses the request */
        if (off == 0 && !r->upload_name[0])
            snprintf(r->upload_name, sizeof(r->upload_name), "%s", filename);
        return size == 0 || spool(r, data, size) == 0 ? MHD_YES : MHD_NO;
    }
    if (off == 0 && r->form.len < 4096 && size < 1024) {
        buf_put(&r->form, key, strlen(key) + 1);
        buf_put(&r->form, data, size);
        buf_putc(&r->form, '\0');
    }
    return MHD_YES;
}

/* ---- responses ----------------------------------------------------------------------- */

typedef struct {
    http_request *r;
    buf pending;
    size_t at;
    int ended;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    stream *st = cls;
    (void)pos;
    while (st->at == st->pending.len) {
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_clear(&st->pending);
        st->at = 0;
        int rc = st->r->resp.producer(st->r->resp.state, &st->pending);
        if (rc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        st->ended = rc > 0;
    }
    size_t n = st->pending.len - st->at < max ? st->pending.len - st->at : max;
    memcpy(out, st->pending.data + st->at, n);
    st->at += n;
    st->r->bytes_out += (int64_t)n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream *st = cls;
    buf_free(&st->pending);
    free(st);
}

static enum MHD_Result send_response(http_request *r, http_response *resp)
{
    struct MHD_Response *m;
    if (resp->producer) {
        stream *st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        st->r = r;
        m = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, st, stream_free);
        if (!m)
            stream_free(st);
    } else {
        m = MHD_create_response_from_buffer(resp->body.len, resp->body.data ? resp->body.data : (void *)"",
                                            MHD_RESPMEM_MUST_COPY);
        r->bytes_out = (int64_t)resp->body.len;
    }
    if (!m)
        return MHD_NO;
    if (resp->content_type)
        MHD_add_response_header(m, "Content-Type", resp->content_type);
    for (char *line = resp->headers; *line;) {
        char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
        if (!nl || !colon || colon > nl)
            break;
        *nl = '\0';
        *colon = '\0';
        MHD_add_response_header(m, line, colon + 1 + (colon[1] == ' '));
        *colon = ':';
        *nl = '\n';
        line = nl + 1;
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)resp->status, m);
    MHD_destroy_response(m);
    r->status = resp->status;
    r->queued = 1;
    return ok;
}

static enum MHD_Result too_big(http_request *r)
{
    http_response *resp = &r->resp;
    resp->status = 413;
    resp->content_type = "application/json";
    buf_clear(&resp->body);
    buf_printf(&resp->body, "{\"error\":{\"code\":\"too_large\",\"message\":\"the body is larger than %lld bytes\"}}",
               (long long)r->plan.limit);
    snprintf(resp->headers, sizeof(resp->headers), "Connection: close\n");
    return send_response(r, resp);
}

/* ---- requests ------------------------------------------------------------------------ */

static void peer_of(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *a = i ? i->client_addr : NULL;
    out[0] = '\0';
    if (a && a->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)cap);
    else if (a && a->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, (socklen_t)cap);
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    int *n = cls;
    (void)kind;
    /* a header name is a token (RFC 9110): "Content-Length " is not Content-Length, and a
     * proxy may read it as one */
    n[2] |= !*key || strspn(key, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
                         strlen(key);
    if (!strcasecmp(key, "Content-Length")) {
        n[0]++;
        /* digits only: "+65", "65, 65", "-1" or "0x10" are not lengths */
        n[2] |= !value || !*value || strspn(value, "0123456789") != strlen(value) || strlen(value) > 18;
    }
    else if (!strcasecmp(key, "Transfer-Encoding"))
        n[1]++, n[2] |= value && strcasecmp(value, "chunked") != 0;
    else if (!strcasecmp(key, "Host"))
        n[3]++;
    else if (!strcasecmp(key, "Origin"))
        n[4]++;
    else if (!strcasecmp(key, "Authorization"))
        n[5]++;
    return MHD_YES;
}

/* Two lengths, or a length and chunked framing, let a proxy in front and this server
 * see different requests in the same bytes (request smuggling): refused, and the
 * connection closed. So are two of a header that names one thing (Host, Origin,
 * Authorization): a proxy may check the first and the handler read the second. */
static enum MHD_Result ambiguous_framing(http_request *r)
{
    int n[6] = {0, 0, 0, 0, 0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, n);
    int framing = n[0] <= 1 && n[1] <= 1 && !(n[0] && n[1]) && !n[2];
    if (framing && n[3] <= 1 && n[4] <= 1 && n[5] <= 1)
        return MHD_YES;
    http_response *resp = &r->resp;
    resp->status = 400;
    resp->content_type = "application/json";
    buf_clear(&resp->body);
    if (framing)
        buf_printf(&resp->body, "{\"error\":{\"code\":\"bad_request\",\"message\":\"the request names %s more than "
                                "once\"}}", n[3] > 1 ? "Host" : n[4] > 1 ? "Origin" : "Authorization");
    else
        buf_puts(&resp->body, "{\"error\":{\"code\":\"bad_request\",\"message\":\"ambiguous request framing: "
                              "header names are tokens, one Content-Length of digits, or Transfer-Encoding: "
                              "chunked alone\"}}");
    snprintf(resp->headers, sizeof(resp->headers), "Connection: close\n");
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls)
{
    http_server *s = cls;
    http_request *r = *con_cls;
    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        *r = (http_request){.srv = s, .conn = c, .method = method, .path = url, .fd = -1,
                            .plan = {.limit = 1 << 20}, .started = time_mono()};
        peer_of(c, r->peer, sizeof(r->peer));
        *con_cls = r;
        conn_slot *slot = slot_of(c);
        if (slot)
            atomic_store(&slot->in_request, 1);
        if (ambiguous_framing(r) == MHD_NO)
            return send_response(r, &r->resp);
        if (s->h.plan)
            s->h.plan(s->h.ctx, r, &r->plan);
        if (r->plan.refuse) { /* answered from the headers alone */
            s->h.handle(s->h.ctx, r, &r->resp);
            snprintf(r->resp.headers + strlen(r->resp.headers), sizeof(r->resp.headers) - strlen(r->resp.headers),
                     "Connection: close\n");
            return send_response(r, &r->resp);
        }
        const char *cl = http_header(r, "Content-Length");
        if (cl && atoll(cl) > r->plan.limit) {
            r->too_big = 1;
            /* A body not far past the limit is read and dropped, so that simple clients,
             * which send it all before reading, see the 413; a larger one is refused
             * before any of it is read. */
            if (atoll(cl) - r->plan.limit > (64LL << 20))
                return too_big(r);
        }
        if (r->plan.to_file) {
            if (snprintf(r->file, sizeof(r->file), "%s/upload-%d-XXXXXX", r->plan.dir ? r->plan.dir : "/tmp",
                     (int)getpid()) >=
                (int)sizeof(r->file))
                return MHD_NO;
            r->fd = mkstemp(r->file);
            if (r->fd < 0 || sha256_init(&r->sha) < 0)
                return MHD_NO; /* the file is removed when the request ends */
            const char *ct = http_header(r, "Content-Type");
            if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
                r->is_form = 1;
                r->pp = MHD_create_post_processor(c, 64 * 1024, on_part, r);
                r->form_bad = !r->pp; /* no boundary, or one it cannot read */
            }
        }
        return MHD_YES;
    }
    if (*size) {
        if (r->queued) { /* answered already (refused from its headers): the body is dropped */
            *size = 0;
            return MHD_YES;
        }
        if (!r->too_big && r->bytes + (int64_t)*size > r->plan.limit)
            r->too_big = 1; /* a chunked body past its limit: the rest is read and dropped */
        if (!r->too_big) {
            if (r->is_form) {
                /* A form that does not parse is answered 400 once it is all read. */
                if (!r->form_bad && MHD_post_process(r->pp, data, *size) != MHD_YES)
                    r->form_bad = 1;
            } else if (r->fd >= 0) {
                if (spool(r, data, *size) < 0)
                    return MHD_NO;
            } else if (buf_put(&r->body, data, *size) < 0) {
                return MHD_NO;
            }
            r->bytes += (int64_t)*size;
        }
        *size = 0;
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (r->too_big)
        return too_big(r);
    if (r->pp) { /* the form's end: a body without its closing boundary is incomplete */
        r->form_bad = MHD_destroy_post_processor(r->pp) != MHD_YES || r->form_bad;
        r->pp = NULL;
    }
    if (r->form_bad && !r->spool_errno) {
        http_response *resp = &r->resp;
        resp->status = 400;
        resp->content_type = "application/json";
        buf_clear(&resp->body);
        buf_puts(&resp->body, "{\"error\":{\"code\":\"invalid\",\"message\":\"the multipart form is malformed or "
                              "incomplete (its closing boundary is missing, or a part cannot be read)\"}}");
        close(r->fd);
        unlink(r->file);
        r->fd = -1;
        return send_response(r, resp);
    }
    if (r->spool_errno) {
        int full = r->spool_errno == ENOSPC || r->spool_errno == EDQUOT;
        http_response *resp = &r->resp;
        resp->status = full ? 507 : 500;
        resp->content_type = "application/json";
        buf_clear(&resp->body);
        buf_printf(&resp->body, "{\"error\":{\"code\":\"%s\",\"message\":\"the upload could not be stored: %s\"}}",
                   full ? "insufficient_storage" : "internal", strerror(r->spool_errno));
        close(r->fd);
        unlink(r->file);
        r->fd = -1;
        return send_response(r, resp);
    }
    /* (An upload is not synced: it is read once, from the page cache, and what must be
     * durable is the table's data, which the commit syncs.) */
    s->h.handle(s->h.ctx, r, &r->resp);
    if (r->fd >= 0) { /* the handler is done with the upload: it goes before the answer */
        close(r->fd);
        unlink(r->file);
        r->fd = -1;
    }
    return send_response(r, &r->resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_request *r = *con_cls;
    conn_slot *slot = slot_of(c);
    if (slot) { /* a kept-alive connection waits for its next request's headers from now */
        atomic_store(&slot->since_ms, now_ms());
        atomic_store(&slot->in_request, 0);
    }
    if (!r)
        return;
    if (s->h.done) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->queued)
            r->resp.status = r->status = 499; /* the client left before an answer */
        s->h.done(s->h.ctx, r, &r->resp, r->bytes_out, (time_mono() - r->started) * 1000);
    }
    if (r->resp.state_free)
        r->resp.state_free(r->resp.state);
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    sha256_discard(&r->sha);
    buf_free(&r->form);
    buf_free(&r->resp.body);
    buf_free(&r->body);
    if (r->fd >= 0) {
        close(r->fd);
        unlink(r->file);
    }
    free(r);
    *con_cls = NULL;
}

/* Percent-decoding of URLs, in place, except that %00 and %2F stay as they are: a NUL
 * would cut a path short ("a%00b" would name table "a") and an encoded slash would
 * become a separator; kept, the '%' makes them invalid names. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    (void)cls, (void)c;
    for (char *r = s; *r; r++) {
        int hi, lo;
        int nul = r[0] == '%' && r[1] == '0' && r[2] == '0';
        int slash = r[0] == '%' && r[1] == '2' && (r[2] == 'f' || r[2] == 'F');
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2]) && !nul && !slash) {
            hi = isdigit((unsigned char)r[1]) ? r[1] - '0' : tolower((unsigned char)r[1]) - 'a' + 10;
            lo = isdigit((unsigned char)r[2]) ? r[2] - '0' : tolower((unsigned char)r[2]) - 'a' + 10;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

int http_start(http_server **out, const http_options *o, const http_handlers *h)
{
    struct sockaddr_storage addr;
    socklen_t len;
    memset(&addr, 0, sizeof(addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        len = sizeof(*a6);
        flags |= MHD_USE_IPv6;
    } else {
        return error_set(LOCH_EINVALID, "cannot listen on \"%s\": not an IP address", o->host);
    }
    (void)len;
    http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(LOCH_ENOMEM, "out of memory");
    s->h = *h;
    s->header_timeout_s = o->header_timeout_s > 0 ? o->header_timeout_s : 10;
    pthread_mutex_init(&s->mu, NULL);
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_s > 0 ? o->timeout_s : 30),
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_connections > 0 ? o->max_connections : 512),
                            /* strict framing: a header name with a space before its colon
                               ("Content-Length : 5") is refused, not read as some other header */
                            MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(o->max_per_client > 0 ? o->max_per_client : 32),
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            /* a connection's memory: its request's headers, the pieces of body
                               read at once, the response's buffer. The library clears all of it
                               after every request, so it is paid by every small request: 256 KiB
                               cost one-row writes and GET /health 10-30% of their rate (memset
                               was 7% of the server's CPU), against 64 KiB, while uploads and
                               streamed results are as fast in 64 KiB pieces (measured: a 152 MB
                               upload, a 10M-row result) */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
                            NULL, MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        pthread_mutex_destroy(&s->mu);
        free(s);
        return error_set(LOCH_EIO, "cannot listen on %s:%d: %s", o->host, o->port, strerror(e ? e : EADDRINUSE));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    s->reaper_running = pthread_create(&s->reaper, NULL, reaper_run, s) == 0;
    *out = s;
    return 0;
}

int http_port(const http_server *s) { return s->port; }

void http_quiesce(http_server *s)
{
    if (s && s->d)
        MHD_quiesce_daemon(s->d);
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    if (s->reaper_running)
        pthread_join(s->reaper, NULL);
    if (s->d)
        MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
