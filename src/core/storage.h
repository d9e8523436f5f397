/*
 * core/storage.h - the object-store interface every table operation goes through.
 *
 * Paths are relative to the lake root, '/'-separated, never starting with '/'. The
 * operations are the ones an S3-compatible bucket also offers, so a lake can move to
 * a bucket without changing the code above this line:
 *
 *   get            whole object                       ENOTFOUND when missing
 *   put            atomic replace (readers see old or new, never a mix)
 *   put_if_absent  atomic create; EEXISTS when the path exists (the commit primitive)
 *   list           direct children of a "directory", sorted by name (list_names: no sizes)
 *   head           size and time of one object
 *   remove         idempotent delete; remove_tree deletes a prefix
 *   sync           make an object written outside this interface durable
 *   local_path     where a local engine (DuckDB) can read or write the object
 */
#ifndef LOCH_CORE_STORAGE_H
#define LOCH_CORE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    char *name;          /* owned */
    int64_t size;
    int64_t mtime_ms;
    int is_dir;
} storage_entry;

typedef struct storage storage;
struct storage {
    int (*get)(storage *st, const char *path, buf *out);
    int (*put)(storage *st, const char *path, const void *data, size_t len);
    int (*put_if_absent)(storage *st, const char *path, const void *data, size_t len);
    int (*list)(storage *st, const char *dir, storage_entry **out, size_t *count);
    /* Like list, but size and mtime_ms are -1: cheaper where they cost a call each. */
    int (*list_names)(storage *st, const char *dir, storage_entry **out, size_t *count);
    /* Size and time of one object; ENOTFOUND when missing. */
    int (*head)(storage *st, const char *path, storage_entry *out);
    int (*remove)(storage *st, const char *path);
    int (*remove_tree)(storage *st, const char *dir);
    int (*sync)(storage *st, const char *path);
    int (*mkdirs)(storage *st, const char *dir);
    /* Renames an object written outside this interface (a data file) into place. */
    int (*move)(storage *st, const char *from, const char *to);
    /* Writes the local filesystem path of `path` into out; the object is readable there. */
    int (*local_path)(storage *st, const char *path, buf *out);
    void (*free)(storage *st);
};

void storage_entries_free(storage_entry *e, size_t count);

/* The local-filesystem store rooted at a directory (created when missing). fault_spec,
 * for tests, is NULL or "step:ERRNO[:skip]": this store's next `step` ("write",
 * "fsync", "link", "rename", "dirsync", "datasync", "datadirsync") after `skip` others
 * fails once with ERRNO (EIO, ENOSPC or EEXIST). */
int storage_local_open(storage **out, const char *root, const char *fault_spec);

#endif
