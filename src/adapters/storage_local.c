/*
 * adapters/storage_local.c - the object store on a local filesystem.
 *
 * Durability rules (docs/format.md, "Commit protocol"; the crash-consistency cases of
 * Pillai et al., "All File Systems Are Not Created Equal", OSDI 2014, ALICE):
 *   put:            tmp in the same directory -> write -> fsync -> rename -> fsync(dir)
 *   put_if_absent:  tmp -> write -> fsync -> link(tmp, final) -> unlink tmp -> fsync(dir)
 * link() fails with EEXIST atomically, so two processes racing for the same Delta
 * version cannot both win, and a reader never sees a partially written commit (the
 * name appears only once the bytes are complete and synced). Temporary files start
 * with '.' so Delta readers, which skip hidden files, never list them, and carry the
 * writer's pid (.tmp-<pid>-<uuid>) so a dead writer's are found and removed
 * (ops/intent.c). fsync errors
 * are never retried (fsyncgate): the operation fails and says which step.
 */
#include "core/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/misc.h"

/* A failure to fake, for tests: the storage's next `step` after `skip` others fails
 * with errno `err`, once. Per instance, so two lakes in one process never share one. */
typedef struct {
    char step[16];
    int err, skip;
} fault_plan;

typedef struct {
    storage base;
    char *root;   /* owned, no trailing slash */
    fault_plan fault; /* err 0: none armed */
} local_storage;

/* Returns the errno to fake for this step, or 0. */
static int fault_at(local_storage *ls, const char *step)
{
    fault_plan *f = &ls->fault;
    if (!f->err || strcmp(f->step, step) != 0)
        return 0;
    if (f->skip-- > 0)
        return 0;
    int e = f->err;
    f->err = 0;
    return e;
}

/* Arms the fault of a "step:ERRNO[:skip]" spec (lake.h, test_fault); NULL or a spec
 * that does not parse arms none. */
static void fault_arm(local_storage *ls, const char *spec)
{
    char step[16] = "", name[16] = "";
    int skip = 0;
    if (!spec || sscanf(spec, "%15[^:]:%15[^:]:%d", step, name, &skip) < 2)
        return;
    snprintf(ls->fault.step, sizeof(ls->fault.step), "%s", step);
    ls->fault.err = strcmp(name, "ENOSPC") == 0 ? ENOSPC : strcmp(name, "EEXIST") == 0 ? EEXIST : EIO;
    ls->fault.skip = skip;
}

static int full_path(local_storage *ls, const char *path, buf *out)
{
    buf_clear(out);
    if (strstr(path, "..") && (strncmp(path, "..", 2) == 0 || strstr(path, "/..")))
        return error_set(LOCH_EINVALID, "path \"%s\" leaves the lake", path);
    return buf_printf(out, "%s/%s", ls->root, path);
}

static int local_get(storage *st, const char *path, buf *out)
{
    buf p = BUF_INIT;
    int fd = -1, rc = full_path((local_storage *)st, path, &p);
    if (rc < 0)
        goto cleanup;
    if ((fd = open(p.data, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = error_errno(errno, "open", p.data);
        goto cleanup;
    }
    buf_clear(out);
    for (;;) {
        if ((rc = buf_grow(out, 65536)) < 0)
            goto cleanup;
        ssize_t n = read(fd, out->data + out->len, out->alloc - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = error_errno(errno, "read", p.data);
            goto cleanup;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
    }
cleanup:
    if (fd >= 0)
        close(fd);
    buf_free(&p);
    return rc;
}

static int sync_dir_of(local_storage *ls, const char *file, const char *step)
{
    char *dir = strdup(file);
    if (!dir)
        return error_set(LOCH_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = 0, fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = fault_at(ls, step);
    if (fd < 0 || e || fsync(fd) < 0)
        rc = error_errno(e ? e : errno, "fsync of directory", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* Writes data to a new hidden temp file next to `final` and fsyncs it. */
static int write_temp(local_storage *ls, const char *final, const void *data, size_t len, buf *tmp)
{
    char id[37];
    uuid_v4(id);
    const char *slash = strrchr(final, '/');
    size_t dirlen = slash ? (size_t)(slash - final + 1) : 0;
    buf_clear(tmp);
    int rc = buf_put(tmp, final, dirlen);
    rc = rc ? rc : buf_printf(tmp, ".tmp-%d-%s", (int)getpid(), id);
    if (rc < 0)
        return rc;
    int fd = open(tmp->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(errno, "create", tmp->data);
    const char *p = data;
    size_t left = len;
    int e = fault_at(ls, "write");
    while (!e && left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (e) {
        rc = error_errno(e, "write", tmp->data);
    } else if ((e = fault_at(ls, "fsync")) || fsync(fd) < 0) {
        rc = error_errno(e ? e : errno, "fsync", tmp->data);
    }
    close(fd);
    if (rc < 0)
        unlink(tmp->data);
    return rc;
}

static int mkdirs_abs(char *path)
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int r = mkdir(path, 0755);
        *s = '/';
        if (r < 0 && errno != EEXIST)
            return error_errno(errno, "mkdir", path);
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return error_errno(errno, "mkdir", path);
    return 0;
}

static int ensure_parent(const char *file)
{
    char *dir = strdup(file);
    if (!dir)
        return error_set(LOCH_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash) {
        *slash = '\0';
        rc = mkdirs_abs(dir);
    }
    free(dir);
    return rc;
}

/* Writes a complete, synced temp file and publishes it under path: by rename (replace)
 * or by link (create only; EEXISTS when taken). Either way readers see all or nothing. */
static int publish(storage *st, const char *path, const void *data, size_t len, int exclusive)
{
    local_storage *ls = (local_storage *)st;
    buf p = BUF_INIT, tmp = BUF_INIT;
    int e, rc = full_path(ls, path, &p);
    rc = rc ? rc : ensure_parent(p.data);
    rc = rc ? rc : write_temp(ls, p.data, data, len, &tmp);
    if (rc < 0)
        goto cleanup;
    e = fault_at(ls, exclusive ? "link" : "rename");
    if (e || (exclusive ? link(tmp.data, p.data) : rename(tmp.data, p.data)) < 0) {
        e = e ? e : errno;
        rc = exclusive && e == EEXIST ? error_set(LOCH_EEXISTS, "%s already exists", path)
                                      : error_errno(e, exclusive ? "link" : "rename onto", p.data);
        unlink(tmp.data);
        goto cleanup;
    }
    if (exclusive)
        unlink(tmp.data);
    rc = sync_dir_of(ls, p.data, "dirsync");
cleanup:
    buf_free(&p);
    buf_free(&tmp);
    return rc;
}

static int local_put(storage *st, const char *path, const void *data, size_t len)
{
    return publish(st, path, data, len, 0);
}

static int local_put_if_absent(storage *st, const char *path, const void *data, size_t len)
{
    return publish(st, path, data, len, 1);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const storage_entry *)a)->name, ((const storage_entry *)b)->name);
}

static int list_dir(storage *st, const char *dir, storage_entry **out, size_t *count, int want_stat)
{
    buf p = BUF_INIT, f = BUF_INIT;
    storage_entry *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = full_path((local_storage *)st, dir, &p);
    DIR *d = rc ? NULL : opendir(p.data);
    if (!rc && !d)
        rc = error_errno(errno, "list", p.data);
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        struct stat sb = {0};
        if (want_stat || de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            buf_clear(&f);
            if ((rc = buf_printf(&f, "%s/%s", p.data, de->d_name)) < 0)
                break;
            if (stat(f.data, &sb) < 0)
                continue; /* removed while listing */
        } else {
            sb.st_mode = de->d_type == DT_DIR ? S_IFDIR : S_IFREG;
        }
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            storage_entry *nv = realloc(v, alloc * sizeof(*v));
            if (!nv) {
                rc = error_set(LOCH_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            v = nv;
        }
        v[n].name = strdup(de->d_name);
        v[n].size = want_stat ? sb.st_size : -1;
        v[n].mtime_ms = want_stat ? (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000 : -1;
        v[n].is_dir = S_ISDIR(sb.st_mode);
        if (!v[n++].name)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    if (d)
        closedir(d);
    if (rc < 0) {
        storage_entries_free(v, n);
        v = NULL;
        n = 0;
    } else if (n) {
        qsort(v, n, sizeof(*v), cmp_entry);
    }
    *out = v;
    *count = n;
    buf_free(&p);
    buf_free(&f);
    return rc;
}

static int local_list(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return list_dir(st, dir, out, count, 1);
}

static int local_list_names(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    return list_dir(st, dir, out, count, 0);
}

static int local_head(storage *st, const char *path, storage_entry *out)
{
    buf p = BUF_INIT;
    struct stat sb;
    int rc = full_path((local_storage *)st, path, &p);
    if (rc == 0 && stat(p.data, &sb) < 0)
        rc = error_errno(errno, "stat", p.data);
    if (rc == 0) {
        out->name = NULL;
        out->size = sb.st_size;
        out->mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        out->is_dir = S_ISDIR(sb.st_mode);
    }
    buf_free(&p);
    return rc;
}

void storage_entries_free(storage_entry *e, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(e[i].name);
    free(e);
}

static int local_remove(storage *st, const char *path)
{
    buf p = BUF_INIT;
    int rc = full_path((local_storage *)st, path, &p);
    if (!rc && unlink(p.data) < 0 && errno != ENOENT)
        rc = error_errno(errno, "remove", p.data);
    buf_free(&p);
    return rc;
}

static int remove_tree_abs(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return errno == ENOENT ? 0 : error_errno(errno, "stat", path);
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? error_errno(errno, "remove", path) : 0;
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : error_errno(errno, "list", path); /* removed meanwhile */
    struct dirent *de;
    int rc = 0;
    buf f = BUF_INIT;
    while (!rc && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        buf_clear(&f);
        rc = buf_printf(&f, "%s/%s", path, de->d_name);
        rc = rc ? rc : remove_tree_abs(f.data);
    }
    closedir(d);
    buf_free(&f);
    if (!rc && rmdir(path) < 0 && errno != ENOENT)
        rc = error_errno(errno, "remove directory", path);
    return rc;
}

static int local_remove_tree(storage *st, const char *dir)
{
    buf p = BUF_INIT;
    int rc = full_path((local_storage *)st, dir, &p);
    rc = rc ? rc : remove_tree_abs(p.data);
    buf_free(&p);
    return rc;
}

static int local_sync(storage *st, const char *path)
{
    local_storage *ls = (local_storage *)st;
    buf p = BUF_INIT;
    int rc = full_path(ls, path, &p);
    int fd = rc ? -1 : open(p.data, O_RDONLY | O_CLOEXEC);
    if (!rc && fd < 0)
        rc = error_errno(errno, "open", p.data);
    int e = rc ? 0 : fault_at(ls, "datasync");
    if (!rc && (e || fsync(fd) < 0))
        rc = error_errno(e ? e : errno, "fsync", p.data);
    if (fd >= 0)
        close(fd);
    rc = rc ? rc : sync_dir_of(ls, p.data, "datadirsync");
    buf_free(&p);
    return rc;
}

static int local_mkdirs(storage *st, const char *dir)
{
    buf p = BUF_INIT;
    int rc = full_path((local_storage *)st, dir, &p);
    rc = rc ? rc : mkdirs_abs(p.data);
    buf_free(&p);
    return rc;
}

static int local_move(storage *st, const char *from, const char *to)
{
    buf a = BUF_INIT, b = BUF_INIT;
    int rc = full_path((local_storage *)st, from, &a);
    rc = rc ? rc : full_path((local_storage *)st, to, &b);
    if (rc == 0 && rename(a.data, b.data) < 0)
        rc = error_errno(errno, "rename to", b.data);
    buf_free(&a);
    buf_free(&b);
    return rc;
}

static int local_local_path(storage *st, const char *path, buf *out)
{
    return full_path((local_storage *)st, path, out);
}

static void local_free(storage *st)
{
    local_storage *ls = (local_storage *)st;
    if (!ls)
        return;
    free(ls->root);
    free(ls);
}

int storage_local_open(storage **out, const char *root, const char *fault_spec)
{
    *out = NULL;
    local_storage *ls = calloc(1, sizeof(*ls));
    char *abs = NULL;
    int rc = 0;
    if (!ls)
        return error_set(LOCH_ENOMEM, "out of memory");
    char *copy = strdup(root);
    rc = copy ? mkdirs_abs(copy) : error_set(LOCH_ENOMEM, "out of memory");
    free(copy);
    if (rc < 0)
        goto cleanup;
    abs = realpath(root, NULL);
    if (!abs) {
        rc = error_errno(errno, "open lake", root);
        goto cleanup;
    }
    ls->root = abs;
    ls->base = (storage){local_get, local_put, local_put_if_absent, local_list, local_list_names,
                         local_head, local_remove, local_remove_tree, local_sync, local_mkdirs, local_move,
                         local_local_path, local_free};
    fault_arm(ls, fault_spec);
    *out = &ls->base;
    return 0;
cleanup:
    free(ls);
    return rc;
}
