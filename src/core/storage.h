/*
 * core/storage.h - the object-store interface every table operation goes through.
 *
 * Paths are relative to the lake root, '/'-separated, never starting with '/' and never
 * stepping out with "..". The operations are the ones an S3-compatible bucket also
 * offers, so a lake can move to a bucket without changing the code above this line:
 *
 *   get            whole object                       ENOTFOUND when missing
 *   put            atomic replace (readers see old or new, never a mix)
 *   put_if_absent  atomic create; EEXISTS when the path exists (the commit primitive)
 *   list           direct children of a "directory", sorted by name (list_names: no sizes)
 *   head           size and time of one object
 *   remove         idempotent delete; remove_tree deletes a prefix; remove_dir an
 *                  empty directory (nothing where directories do not exist)
 *   sync           make an object written outside this interface durable
 *   move           rename an object or a whole directory in one step
 *   engine_path    the local file the SQL engine reads or writes for an object
 *   lock           hold an object still: shared/exclusive, waiting or not, or create
 *                  it already held; lock_write replaces a held object's bytes
 *   list_tree      every object under a directory, at any depth (what sync compares)
 *   put_file       publish a local file's bytes as an object (atomic, like put)
 *   get_file       an object's bytes into a local file
 *
 * Which backend serves a lake is chosen from its URI in one place,
 * adapters/storage.c. Backends: the local filesystem (adapters/storage_local.c); the
 * fault-injecting wrapper for tests (adapters/storage_faulty.c) stacks over any of
 * them. An S3 backend is one more file beside them.
 *
 * The SQL engine reads and writes local files. engine_path names the one standing for
 * an object: on the local filesystem the object itself; on an object store a cached
 * local copy, fetched when named for reading, and uploaded when the caller publishes
 * it through this interface (move of an engine-written file into place, or get/put of
 * it). Code above this line never builds a local path itself.
 *
 * Locks are what write intents (ops/intent.c) and the table guard (ops/guard.c) need.
 * The local backend uses flock(2): a lock dies with its process, which is how a dead
 * writer is recognized. An object store has no flock; the S3 backend's locks are flocks
 * of its local files, which hold between one machine's processes only, and ops/guard.c
 * keeps other machines' writers out of a dropped table by checks of its own.
 */
#ifndef LOCH_CORE_STORAGE_H
#define LOCH_CORE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    char *name;          /* owned; NULL from head */
    int64_t size;        /* -1: not asked for (list_names), or a link whose target is gone */
    int64_t mtime_ms;
    int is_dir;
    int is_link;         /* a symbolic link (local stores only); the other fields describe its target */
    int64_t stamp;       /* changes whenever the object is written again, even within the same
                            millisecond: the file's time in nanoseconds and inode (local), a hash
                            of the ETag (object stores); 0 when not known (list_names) */
} storage_entry;

/* A held lock; each backend defines what it holds. Released by unlock, exactly once. */
typedef struct storage_lock storage_lock;

enum {
    STORAGE_LOCK_SHARED = 0,
    STORAGE_LOCK_EXCLUSIVE = 1,
    /* Fail with ECONFLICT instead of waiting while another holder has it. */
    STORAGE_LOCK_TRY = 2,
    /* Create the object (EEXISTS when it exists): it is never seen unlocked. Exclusive;
     * only such a lock can be written through (lock_write). */
    STORAGE_LOCK_CREATE = 4,
};

typedef struct storage storage;
struct storage {
    int (*get)(storage *st, const char *path, buf *out);
    int (*put)(storage *st, const char *path, const void *data, size_t len);
    int (*put_if_absent)(storage *st, const char *path, const void *data, size_t len);
    int (*list)(storage *st, const char *dir, storage_entry **out, size_t *count);
    /* Like list, but size and mtime_ms are -1: cheaper where they cost a call each. */
    int (*list_names)(storage *st, const char *dir, storage_entry **out, size_t *count);
    /* Size and time of one object; ENOTFOUND when missing. A link is reported as one
     * (is_link) even when its target is gone. */
    int (*head)(storage *st, const char *path, storage_entry *out);
    int (*remove)(storage *st, const char *path);
    int (*remove_tree)(storage *st, const char *dir);
    /* Removes dir if it is empty; 0 also when it is not, or is gone. */
    int (*remove_dir)(storage *st, const char *dir);
    int (*sync)(storage *st, const char *path);
    int (*mkdirs)(storage *st, const char *dir);
    /* Renames an object, or a directory with everything in it, in one step; used to put
     * a file the engine wrote (named by engine_path) into place. */
    int (*move)(storage *st, const char *from, const char *to);
    /* Writes into out the local path where the SQL engine reads or writes `path`: the
     * object itself on a local filesystem, a cached local copy on an object store. */
    int (*engine_path)(storage *st, const char *path, buf *out);
    /* Takes a lock on the object or directory at path (flags: STORAGE_LOCK_*). On
     * success the object locked is the one at path now: one moved or replaced while we
     * waited is ENOTFOUND, like one that is missing. */
    int (*lock)(storage *st, const char *path, int flags, storage_lock **out);
    /* Replaces the bytes of an object held by a STORAGE_LOCK_CREATE lock; durable before
     * it returns when `durable`. Callers only ever extend what they wrote before, so a
     * store may write in place: a crash leaves the old bytes or more of the new ones. */
    int (*lock_write)(storage *st, storage_lock *lock, const void *data, size_t len, int durable);
    /* Releases a lock (NULL: nothing); a lock also dies with its process. */
    void (*unlock)(storage *st, storage_lock *lock);
    /* Every object under dir at any depth, named relative to dir ("t/_delta_log/0...json"),
     * with size and time; directories are not entries. A store's own files (loch's _loch,
     * files being written) are left out. An empty list when dir does not exist. */
    int (*list_tree)(storage *st, const char *dir, storage_entry **out, size_t *count);
    /* Publishes the bytes of the local file `file` as the object at path, atomically (as
     * put) and durably. */
    int (*put_file)(storage *st, const char *path, const char *file);
    /* Writes the object's bytes to the local file `file` (made or truncated; not synced). */
    int (*get_file)(storage *st, const char *path, const char *file);
    void (*free)(storage *st);

    /* What the store is like, for callers choosing between ways to the same answer. */
    int has_links; /* objects can be symbolic links (local filesystems): ops/guard.c checks
                      a table is none, which a store without links need not ask */
    int remote;    /* every call is a round trip over the network (object stores): one LIST
                      of a directory costs less than a head() of each thing in it */
};

void storage_entries_free(storage_entry *e, size_t count);

#endif
