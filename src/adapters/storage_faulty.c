/*
 * adapters/storage_faulty.c - a store that fails on purpose, stacked over any other,
 * for the tests of what a failing disk or bucket does to a commit (LOCH_FAULT, the
 * test_fault option of a lake).
 *
 * A fault names a step of an operation every backend performs, in the words of the
 * local one (adapters/storage_local.c), whose steps are the finest:
 *
 *   operation       steps, in order          a fault there means
 *   put             write fsync rename       the object was not replaced (nothing visible)
 *                   dirsync                  it was replaced, its durability unconfirmed
 *   put_if_absent   write fsync link         the object was not created (nothing visible)
 *                   dirsync                  it was created, its durability unconfirmed
 *   sync            datasync                 the object's bytes may not be durable
 *                   datadirsync              its name may not be durable
 *
 * So the wrapper needs no hook inside a backend: a step before publication fails the
 * operation before the inner store is called (the inner store then has written nothing,
 * exactly as the local store leaves nothing when its write, fsync, rename or link
 * fails), and a step after it fails the operation after the inner store succeeded (the
 * object is in place, as after a failed directory fsync). On an object store, where a
 * PUT is one request, the same table reads as "the request failed" and "the request
 * went through but its answer was lost". Messages name the step as the local store
 * does ("fsync", "fsync of directory", "link", ...), so a test reads the same either way.
 *
 * The plan is per wrapper: two lakes in one process never share one. It fires once.
 * Every other operation goes straight to the inner store.
 */
#include "adapters/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

typedef struct {
    storage base;
    storage *inner;    /* owned */
    char step[16];
    int err;           /* 0: nothing armed, or already fired */
    int skip;          /* steps of that name to let pass first */
} faulty_storage;

/* The errno to fake at this step, or 0. */
static int fault_at(storage *st, const char *step)
{
    faulty_storage *fs = (faulty_storage *)st;
    if (!fs->err || strcmp(fs->step, step) != 0)
        return 0;
    if (fs->skip-- > 0)
        return 0;
    int e = fs->err;
    fs->err = 0;
    return e;
}

/* The directory holding path, for the "fsync of directory" message. */
static int fail_dirsync(int e, const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[512];
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    return error_errno(e, "fsync of directory", dir);
}

static int publish(storage *st, const char *path, const void *data, size_t len, int exclusive)
{
    storage *in = ((faulty_storage *)st)->inner;
    int e;
    if ((e = fault_at(st, "write")))
        return error_errno(e, "write", path);
    if ((e = fault_at(st, "fsync")))
        return error_errno(e, "fsync", path);
    if ((e = fault_at(st, exclusive ? "link" : "rename")))
        return exclusive && e == EEXIST ? error_set(LOCH_EEXISTS, "%s already exists", path)
                                        : error_errno(e, exclusive ? "link" : "rename onto", path);
    int rc = exclusive ? in->put_if_absent(in, path, data, len) : in->put(in, path, data, len);
    if (rc == 0 && (e = fault_at(st, "dirsync")))
        rc = fail_dirsync(e, path);
    return rc;
}

static int faulty_put(storage *st, const char *path, const void *data, size_t len)
{
    return publish(st, path, data, len, 0);
}

static int faulty_put_if_absent(storage *st, const char *path, const void *data, size_t len)
{
    return publish(st, path, data, len, 1);
}

static int faulty_sync(storage *st, const char *path)
{
    storage *in = ((faulty_storage *)st)->inner;
    int e = fault_at(st, "datasync");
    if (e)
        return error_errno(e, "fsync", path);
    int rc = in->sync(in, path);
    if (rc == 0 && (e = fault_at(st, "datadirsync")))
        rc = fail_dirsync(e, path);
    return rc;
}

/* ---- the rest passes through ---------------------------------------------------------- */

#define INNER(st) (((faulty_storage *)(st))->inner)

static int faulty_get(storage *st, const char *path, buf *out) { return INNER(st)->get(INNER(st), path, out); }

static int faulty_list(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return INNER(st)->list(INNER(st), dir, out, count);
}

static int faulty_list_names(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return INNER(st)->list_names(INNER(st), dir, out, count);
}

static int faulty_head(storage *st, const char *path, storage_entry *out)
{
    return INNER(st)->head(INNER(st), path, out);
}

static int faulty_remove(storage *st, const char *path) { return INNER(st)->remove(INNER(st), path); }

static int faulty_remove_tree(storage *st, const char *dir) { return INNER(st)->remove_tree(INNER(st), dir); }

static int faulty_remove_dir(storage *st, const char *dir) { return INNER(st)->remove_dir(INNER(st), dir); }

static int faulty_mkdirs(storage *st, const char *dir) { return INNER(st)->mkdirs(INNER(st), dir); }

static int faulty_move(storage *st, const char *from, const char *to)
{
    return INNER(st)->move(INNER(st), from, to);
}

static int faulty_engine_path(storage *st, const char *path, buf *out)
{
    return INNER(st)->engine_path(INNER(st), path, out);
}

static int faulty_lock(storage *st, const char *path, int flags, storage_lock **out)
{
    return INNER(st)->lock(INNER(st), path, flags, out);
}

static int faulty_lock_write(storage *st, storage_lock *l, const void *data, size_t len, int durable)
{
    return INNER(st)->lock_write(INNER(st), l, data, len, durable);
}

static void faulty_unlock(storage *st, storage_lock *l) { INNER(st)->unlock(INNER(st), l); }

static int faulty_list_tree(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return INNER(st)->list_tree(INNER(st), dir, out, count);
}

static int faulty_put_file(storage *st, const char *path, const char *file)
{
    return INNER(st)->put_file(INNER(st), path, file);
}

static int faulty_get_file(storage *st, const char *path, const char *file)
{
    return INNER(st)->get_file(INNER(st), path, file);
}

static void faulty_free(storage *st)
{
    if (!st)
        return;
    INNER(st)->free(INNER(st));
    free(st);
}

int storage_faulty_wrap(storage **out, storage *inner, const char *spec)
{
    faulty_storage *fs = calloc(1, sizeof(*fs));
    char step[16] = "", name[16] = "";
    int skip = 0;
    *out = NULL;
    if (!fs)
        return error_set(LOCH_ENOMEM, "out of memory");
    fs->inner = inner;
    if (spec && sscanf(spec, "%15[^:]:%15[^:]:%d", step, name, &skip) >= 2) {
        snprintf(fs->step, sizeof(fs->step), "%s", step);
        fs->err = !strcmp(name, "ENOSPC") ? ENOSPC : !strcmp(name, "EEXIST") ? EEXIST : EIO;
        fs->skip = skip;
    }
    fs->base = (storage){.get = faulty_get, .put = faulty_put, .put_if_absent = faulty_put_if_absent,
                         .list = faulty_list, .list_names = faulty_list_names, .head = faulty_head,
                         .remove = faulty_remove, .remove_tree = faulty_remove_tree, .remove_dir = faulty_remove_dir,
                         .sync = faulty_sync, .mkdirs = faulty_mkdirs, .move = faulty_move,
                         .engine_path = faulty_engine_path, .lock = faulty_lock, .lock_write = faulty_lock_write,
                         .unlock = faulty_unlock, .list_tree = faulty_list_tree, .put_file = faulty_put_file,
                         .get_file = faulty_get_file, .free = faulty_free, .has_links = inner->has_links,
                         .remote = inner->remote};
    *out = &fs->base;
    return 0;
}
