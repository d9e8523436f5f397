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
 *   s3://bucket/prefix             refused by name until the S3 backend arrives
 *   any other scheme://...         refused by name, never taken as a directory "scheme:"
 *
 * A string is a URI when it starts with a scheme (a letter, then letters, digits, '+',
 * '.' or '-') followed by "://"; anything else is a path, used as it is. A file URI
 * carries no query or fragment, and no %00: '?', '#' and NUL are refused rather than
 * guessed at (percent-encode '?' and '#' as %3F and %23).
 *
 * An S3 backend (storage_s3.c) would be one more scheme in storage_open; every other
 * line of loch stays as it is.
 */
#ifndef LOCH_ADAPTERS_STORAGE_H
#define LOCH_ADAPTERS_STORAGE_H

#include "core/storage.h"

/* A lake location: which backend, and what it is handed. */
typedef struct {
    char scheme[16];        /* "file" for a path or a file URI */
    char *path;             /* owned; the local path for "file", decoded */
} storage_uri;

/* Parses a lake's URI or path. EINVALID for a malformed URI (a remote host, a bad
 * escape, %00, a query), EUNSUPPORTED for a scheme loch has no backend for; the
 * message names the URI and the scheme. */
int storage_uri_parse(storage_uri *out, const char *uri);
void storage_uri_free(storage_uri *u);

/* Opens the backend the URI names. With create, the lake's root is made when missing;
 * without, a missing root is ENOTFOUND. */
int storage_open(storage **out, const char *uri, int create);

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
