/*
 * adapters/s3.h - a client for S3 and S3-compatible stores (MinIO, R2, moto): the
 * requests a lake in a bucket needs, signed with loch's own Signature Version 4
 * (util/sigv4.h) and sent by libcurl (adapters/s3_curl.c, with httpc_curl.c the only
 * files that include curl.h).
 *
 * Every call is one logical request that may be sent several times: connection errors,
 * 5xx answers, 429 and 503 SlowDown are tried again after an exponential backoff with
 * jitter (100 ms doubling, at most 5 s, `attempts` tries in all); anything else is
 * answered at once. Each call is safe to send again:
 *   - GET, HEAD, LIST and DELETE (S3's DELETE of a missing key succeeds) are idempotent;
 *   - a PUT replaces the object with the same bytes;
 *   - a conditional PUT (If-None-Match: *, the commit primitive) that meets 412 may have
 *     succeeded on an attempt whose answer was lost (sent again by this client, or by
 *     curl unseen when a kept connection turns out closed): the object is read back,
 *     and the same bytes mean it did (our commit, not another writer's).
 * Connections are kept between requests (a few idle handles per client).
 * Errors name the object as s3://bucket/key and the store's own code and message; never
 * a credential or a signature.
 */
#ifndef LOCH_ADAPTERS_S3_H
#define LOCH_ADAPTERS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct s3 s3;

typedef struct {
    const char *endpoint;      /* "http://127.0.0.1:5000"; NULL: https://s3.<region>.amazonaws.com */
    const char *region;        /* NULL: us-east-1 */
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* temporary credentials; NULL: none */
    int path_style;            /* the bucket in the path, not the host name (MinIO, moto) */
    int attempts;              /* tries a request; 0: 5 */
    int timeout_s;             /* no byte for this long ends an attempt; 0: 30 */
} s3_options;

typedef struct {
    int64_t size;     /* Content-Length of the object (HEAD) or of what was read */
    int64_t mtime_ms; /* Last-Modified; -1 when not given */
    char etag[80];    /* without quotes; "" when not given */
} s3_object;

typedef struct {
    char *key;        /* owned */
    int64_t size;     /* -1 for a prefix */
    int64_t mtime_ms;
    char etag[72];
    int is_prefix;    /* under the delimiter: a "directory" */
} s3_entry;

/* An AWS user's S3 settings, resolved as the AWS CLI does (formats/awsconf.h lists the
 * sources and their order): all owned, NULL when not set. The strings can fill an
 * s3_options. */
typedef struct {
    char *access_key, *secret_key, *session_token, *region, *endpoint, *profile;
    int path_style;
    const char *credentials_from; /* "environment", "credentials file", "config file", or NULL */
} s3_settings;

/* LOCH_EINVALID when no credentials are found, saying where it looked; LOCH_ECORRUPT for
 * a file line it cannot read. */
int s3_settings_resolve(s3_settings *out);
void s3_settings_free(s3_settings *s);

/* Copies what it keeps of o. LOCH_EINVALID for an endpoint that is not http(s)://host
 * [:port], or missing credentials. */
int s3_open(s3 **out, const s3_options *o);
void s3_free(s3 *c);

/* Reads the object, or len bytes of it from `from` (len < 0: to its end), into out
 * (appended). LOCH_ENOTFOUND when there is no such key. meta may be NULL. */
int s3_get(s3 *c, const char *bucket, const char *key, int64_t from, int64_t len, buf *out, s3_object *meta);
/* Writes the object. if_absent: only if no object has the key (If-None-Match: *);
 * LOCH_EEXISTS when one has (another writer won). meta may be NULL. */
int s3_put(s3 *c, const char *bucket, const char *key, const void *data, size_t len, int if_absent, s3_object *meta);
/* Writes the object from a local file: one PUT up to part_size bytes, else a multipart
 * upload in parts of part_size (at least 5 MiB, S3's least), `threads` parts in flight
 * at once. A failed multipart upload is aborted, leaving no parts behind. */
int s3_put_file(s3 *c, const char *bucket, const char *key, const char *path, size_t part_size, int threads,
                s3_object *meta);
/* Reads the object into the open file fd (from its start; what an attempt that failed
 * wrote is dropped before the next). The caller makes the file and names it. */
int s3_get_file(s3 *c, const char *bucket, const char *key, int fd, s3_object *meta);
/* Copies an object within the bucket on the store's side (up to 5 GB, S3's limit for
 * one copy); LOCH_ENOTFOUND when `from` does not exist. */
int s3_copy(s3 *c, const char *bucket, const char *from, const char *to);
/* Removes the objects, 1,000 to a request (DeleteObjects); keys that do not exist are
 * no error. */
int s3_delete_keys(s3 *c, const char *bucket, char *const *keys, size_t n);
/* LOCH_ENOTFOUND when there is no such key. */
int s3_head(s3 *c, const char *bucket, const char *key, s3_object *meta);
/* Removes the object; 0 when there was none. */
int s3_delete(s3 *c, const char *bucket, const char *key);
/* Every key under prefix (every page, in key order); with a delimiter ("/"), keys past
 * the next delimiter are folded into one prefix entry each. */
int s3_list(s3 *c, const char *bucket, const char *prefix, const char *delimiter, s3_entry **out, size_t *count);
/* The same, stopping after max entries (0: no limit). */
int s3_list_max(s3 *c, const char *bucket, const char *prefix, const char *delimiter, size_t max, s3_entry **out,
                size_t *count);
void s3_entries_free(s3_entry *e, size_t count);

#endif
