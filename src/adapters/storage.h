/*
 * adapters/storage.h - the storage backends (core/storage.h is their contract), and the
 * one place that picks a backend for a lake's URI.
 *
 * A lake is named by a URI or a plain path:
 *
 *   /data/lake, lake, ../lake      a directory; relative to the working directory
 *   file:///data/lake              the same, percent-decoded (file:///tmp/a%20b is "/tmp/a b")
 *   file://localhost/data/lake     the same; any other host is refused (no remote files)
 *   file:/data/lake                the same (RFC 8089's short form)
 *   s3://bucket/prefix             a prefix of an S3-compatible bucket (s3a:// too);
 *                                  the prefix is taken as written (keys are not
 *                                  percent-encoded), without "." or ".." or empty parts
 *   any other scheme://...         refused by name, never taken as a directory "scheme:"
 *
 * A string is a URI when it starts with a scheme (a letter, then letters, digits, '+',
 * '.' or '-') followed by "://"; anything else is a path, used as it is. A file URI
 * carries no query or fragment, and no %00: '?', '#' and NUL are refused rather than
 * guessed at (percent-encode '?' and '#' as %3F and %23).
 *
 * An S3 lake (storage_s3.c) needs its credentials and a local directory: they come in
 * a storage_s3_config, which the library's caller fills (the loch command: from the
 * AWS settings, adapters/s3.h's s3_settings_resolve). Every other line of loch stays as
 * it is.
 */
#ifndef LOCH_ADAPTERS_STORAGE_H
#define LOCH_ADAPTERS_STORAGE_H

#include "core/storage.h"

/* A lake location: which backend, and what it is handed. */
typedef struct {
    char scheme[16];        /* "file" for a path or a file URI; "s3" for s3:// and s3a:// */
    char *path;             /* owned; the local path for "file", decoded; the prefix for
                               "s3" ("" for the bucket's root), without a trailing '/' */
    char bucket[64];        /* "s3": the bucket */
} storage_uri;

/* What a lake in a bucket is opened with; the strings are the caller's. */
typedef struct {
    const char *access_key, *secret_key, *session_token; /* session_token: NULL for none */
    const char *region;     /* NULL: us-east-1 */
    const char *endpoint;   /* http(s)://host[:port]; NULL: AWS */
    int path_style;         /* the bucket in the path (MinIO, moto) */
    const char *local_dir;  /* the lake's local files: <local_dir>/s3/<store>/<bucket>/<prefix>/@lake */
    int64_t cache_bytes;    /* cached copies kept at most (least recently used go); 0: 10 GiB */
    int unchecked;          /* the bucket is not asked for at open (a LIST saved): its first
                               request says when it is missing */
} storage_s3_config;

/* Parses a lake's URI or path. EINVALID for a malformed URI (a remote host, a bad
 * escape, %00, a query), EUNSUPPORTED for a scheme loch has no backend for; the
 * message names the URI and the scheme. */
int storage_uri_parse(storage_uri *out, const char *uri);
void storage_uri_free(storage_uri *u);

/* Opens the backend the URI names. With create, the lake's root is made when missing;
 * without, a missing root is ENOTFOUND. bucket is what an s3:// lake is opened with (NULL:
 * such a lake is refused). */
int storage_open(storage **out, const char *uri, int create, const storage_s3_config *bucket);

/* A lake in a bucket (adapters/storage_s3.c): ENOTFOUND when the bucket is not there. */
int storage_s3_open(storage **out, const char *bucket, const char *prefix, int create, const storage_s3_config *cfg);

/* The local-filesystem store rooted at a directory (adapters/storage_local.c). */
int storage_local_open(storage **out, const char *root, int create);

/* A store that fails on purpose, for tests (adapters/storage_faulty.c): spec is
 * "step:ERRNO[:skip]"; the `step` after `skip` others fails once with ERRNO (EIO,
 * ENOSPC or EEXIST). Steps: "write", "fsync", "rename", "link", "dirsync" (of put and
 * put_if_absent), "datasync", "datadirsync" (of sync). A spec that does not parse arms
 * nothing. On success *out owns inner (its free frees inner); on failure the caller
 * still does. */
int storage_faulty_wrap(storage **out, storage *inner, const char *spec);

#endif
