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
 *
 * An object's engine_path is the file itself. Locks are flock(2) on an open descriptor:
 * the kernel drops them when their process dies, which is how the next writer knows a
 * writer is dead (ops/intent.c), and they follow the inode, so a lock taken on a path
 * is checked to still be the file or directory at that path once it is held (a DROP
 * may have moved the table away while we waited: ops/guard.c). A lock that creates its
 * object creates it as a locked temp file and links it to its name, so nobody sees it
 * unlocked. Paths never step out of the root ("..") and a lock never follows a link.
 *
 * Faults for tests are not here: adapters/storage_faulty.c wraps any store, and maps
 * each step named below (write, fsync, link, rename, dirsync) to the operation it is a
 * part of.
 */
#include "adapters/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/misc.h"

typedef struct {
    storage base;
    char *root;   /* owned, absolute, no trailing slash */
} local_storage;

struct storage_lock {
    int fd;       /* holds the flock */
    char *path;   /* owned; for messages */
};

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

static int sync_dir_of(const char *file)
{
    char *dir = strdup(file);
    if (!dir)
        return error_set(LOCH_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = 0, fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        rc = error_errno(errno, "fsync of directory", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* A hidden temp name next to `final`: .tmp-<pid>-<uuid> (swept once the pid is gone). */
static int temp_beside(const char *final, buf *tmp)
{
    char id[37];
    uuid_v4(id);
    const char *slash = strrchr(final, '/');
    size_t dirlen = slash ? (size_t)(slash - final + 1) : 0;
    buf_clear(tmp);
    int rc = buf_put(tmp, final, dirlen);
    return rc ? rc : buf_printf(tmp, ".tmp-%d-%s", (int)getpid(), id);
}

/* 0, or the errno of the write that failed. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes data to a new hidden temp file next to `final` and fsyncs it. */
static int write_temp(const char *final, const void *data, size_t len, buf *tmp)
{
    int rc = temp_beside(final, tmp);
    if (rc < 0)
        return rc;
    int fd = open(tmp->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(errno, "create", tmp->data);
    int e = write_all(fd, data, len);
    if (e)
        rc = error_errno(e, "write", tmp->data);
    else if (fsync(fd) < 0)
        rc = error_errno(errno, "fsync", tmp->data);
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
    int rc = full_path(ls, path, &p);
    rc = rc ? rc : ensure_parent(p.data);
    rc = rc ? rc : write_temp(p.data, data, len, &tmp);
    if (rc < 0)
        goto cleanup;
    if ((exclusive ? link(tmp.data, p.data) : rename(tmp.data, p.data)) < 0) {
        int e = errno;
        rc = exclusive && e == EEXIST ? error_set(LOCH_EEXISTS, "%s already exists", path)
                                      : error_errno(e, exclusive ? "link" : "rename onto", p.data);
        unlink(tmp.data);
        goto cleanup;
    }
    if (exclusive)
        unlink(tmp.data);
    rc = sync_dir_of(p.data);
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

/* What tells a file written again under its name: its time to the nanosecond, and its
 * inode (a rename puts another in its place). */
static int64_t file_stamp(const struct stat *sb)
{
    return ((int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec) ^ ((int64_t)sb->st_ino << 24);
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
        int is_link = de->d_type == DT_LNK;
        if (want_stat || de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            buf_clear(&f);
            if ((rc = buf_printf(&f, "%s/%s", p.data, de->d_name)) < 0)
                break;
            if (de->d_type == DT_UNKNOWN && lstat(f.data, &sb) == 0)
                is_link = S_ISLNK(sb.st_mode);
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
        v[n].is_link = is_link;
        v[n].stamp = want_stat ? file_stamp(&sb) : 0;
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
    if (rc == 0 && lstat(p.data, &sb) < 0)
        rc = error_errno(errno, "stat", p.data);
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        out->is_link = S_ISLNK(sb.st_mode);
        if (out->is_link && stat(p.data, &sb) < 0) { /* a link whose target is gone */
            out->size = out->mtime_ms = -1;
        } else {
            out->size = sb.st_size;
            out->mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
            out->is_dir = S_ISDIR(sb.st_mode);
            out->stamp = file_stamp(&sb);
        }
    }
    buf_free(&p);
    return rc;
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
    buf p = BUF_INIT;
    int rc = full_path((local_storage *)st, path, &p);
    int fd = rc ? -1 : open(p.data, O_RDONLY | O_CLOEXEC);
    if (!rc && fd < 0)
        rc = error_errno(errno, "open", p.data);
    if (!rc && fsync(fd) < 0)
        rc = error_errno(errno, "fsync", p.data);
    if (fd >= 0)
        close(fd);
    rc = rc ? rc : sync_dir_of(p.data);
    buf_free(&p);
    return rc;
}

static int local_remove_dir(storage *st, const char *dir)
{
    buf p = BUF_INIT;
    int rc = full_path((local_storage *)st, dir, &p);
    if (!rc && rmdir(p.data) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        rc = error_errno(errno, "remove directory", p.data);
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

static int local_engine_path(storage *st, const char *path, buf *out)
{
    return full_path((local_storage *)st, path, out);
}

/* A new object, locked before it has its name: a temp file is created and locked, then
 * linked to path (EEXISTS when taken) and its temp name removed. */
static int create_locked(const char *path, const char *shown, int *out)
{
    buf tmp = BUF_INIT;
    int fd = -1, rc = ensure_parent(path);
    rc = rc ? rc : temp_beside(path, &tmp);
    if (rc == 0 && (fd = open(tmp.data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        rc = error_errno(errno, "create", tmp.data);
    if (rc == 0 && flock(fd, LOCK_EX) < 0)
        rc = error_errno(errno, "lock", tmp.data);
    if (rc == 0 && link(tmp.data, path) < 0)
        rc = errno == EEXIST ? error_set(LOCH_EEXISTS, "%s already exists", shown) : error_errno(errno, "link", path);
    if (fd >= 0)
        unlink(tmp.data);
    if (rc < 0 && fd >= 0)
        close(fd);
    *out = rc < 0 ? -1 : fd;
    buf_free(&tmp);
    return rc;
}

/* Locks an existing object or directory, then checks it is still the one at path. */
static int lock_existing(const char *path, const char *shown, int flags, int *out)
{
    struct stat held, now;
    int rc = 0, fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *out = -1;
    if (fd < 0)
        return errno == ENOENT ? error_set(LOCH_ENOTFOUND, "%s does not exist", shown)
             : errno == ELOOP  ? error_set(LOCH_EINVALID, "%s is a symbolic link; locks do not follow links", shown)
                               : error_errno(errno, "open", path);
    int how = (flags & STORAGE_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | (flags & STORAGE_LOCK_TRY ? LOCK_NB : 0);
    while (flock(fd, how) < 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EWOULDBLOCK ? error_set(LOCH_ECONFLICT, "%s is locked by another writer", shown)
                                  : error_errno(errno, "lock", path);
        goto cleanup;
    }
    if (fstat(fd, &held) < 0 || stat(path, &now) < 0 || held.st_ino != now.st_ino || held.st_dev != now.st_dev)
        rc = error_set(LOCH_ENOTFOUND, "%s was moved or removed while its lock was awaited", shown);
cleanup:
    if (rc < 0)
        close(fd);
    else
        *out = fd;
    return rc;
}

static int local_lock(storage *st, const char *path, int flags, storage_lock **out)
{
    buf p = BUF_INIT;
    storage_lock *l = calloc(1, sizeof(*l));
    int fd = -1, rc = l ? full_path((local_storage *)st, path, &p) : error_set(LOCH_ENOMEM, "out of memory");
    *out = NULL;
    if (rc == 0)
        rc = flags & STORAGE_LOCK_CREATE ? create_locked(p.data, path, &fd) : lock_existing(p.data, path, flags, &fd);
    if (rc == 0 && !(l->path = strdup(path))) {
        close(fd);
        rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        l->fd = fd;
        *out = l;
    } else {
        free(l);
    }
    buf_free(&p);
    return rc;
}

static int local_lock_write(storage *st, storage_lock *l, const void *data, size_t len, int durable)
{
    (void)st;
    const char *p = data;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(l->fd, p + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_errno(n < 0 ? errno : EIO, "write", l->path);
        done += (size_t)n;
    }
    if (ftruncate(l->fd, (off_t)len) < 0)
        return error_errno(errno, "write", l->path);
    if (durable && fdatasync(l->fd) < 0)
        return error_errno(errno, "fsync", l->path);
    return 0;
}

static void local_unlock(storage *st, storage_lock *l)
{
    (void)st;
    if (!l)
        return;
    close(l->fd); /* drops the flock */
    free(l->path);
    free(l);
}

/* The files under abs (its path) at any depth, named from `rel` on. */
static int walk(const char *abs, const char *rel, storage_entry **v, size_t *n, size_t *cap)
{
    DIR *d = opendir(abs);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : error_errno(errno, "list", abs);
    struct dirent *de;
    buf a = BUF_INIT, r = BUF_INIT;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strncmp(de->d_name, ".tmp-", 5) ||
            (!*rel && !strcmp(de->d_name, "_loch")))
            continue;
        struct stat sb;
        buf_clear(&a), buf_clear(&r);
        if (buf_printf(&a, "%s/%s", abs, de->d_name) < 0 || buf_printf(&r, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        if (lstat(a.data, &sb) != 0 || S_ISLNK(sb.st_mode)) /* gone meanwhile, or a link: not the lake's */
            continue;
        if (S_ISDIR(sb.st_mode)) {
            rc = walk(a.data, r.data, v, n, cap);
            continue;
        }
        if (!S_ISREG(sb.st_mode))
            continue;
        if (*n == *cap) {
            size_t c = *cap ? 2 * *cap : 256;
            storage_entry *g = realloc(*v, c * sizeof(*g));
            if (!g) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            *v = g, *cap = c;
        }
        (*v)[*n] = (storage_entry){.name = buf_detach(&r), .size = sb.st_size,
                                   .mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000};
        if (!(*v)[(*n)++].name)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    closedir(d);
    buf_free(&a), buf_free(&r);
    return rc;
}

static int local_list_tree(storage *st, const char *dir, storage_entry **out, size_t *count)
{
    buf p = BUF_INIT;
    storage_entry *v = NULL;
    size_t n = 0, cap = 0;
    int rc = full_path((local_storage *)st, dir, &p);
    rc = rc ? rc : walk(p.data, "", &v, &n, &cap);
    if (rc < 0) {
        storage_entries_free(v, n);
        v = NULL, n = 0;
    } else if (n) {
        qsort(v, n, sizeof(*v), cmp_entry);
    }
    *out = v, *count = n;
    buf_free(&p);
    return rc;
}

/* Copies src's bytes to the open descriptor fd. */
static int copy_to(const char *src, int fd, const char *dest)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), rc = 0;
    if (in < 0)
        return errno == ENOENT ? error_set(LOCH_ENOTFOUND, "%s does not exist", src) : error_errno(errno, "open", src);
    char *chunk = malloc(1 << 20);
    if (!chunk)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (ssize_t got; rc == 0 && (got = read(in, chunk, 1 << 20)) != 0;) {
        if (got < 0 && errno == EINTR)
            continue;
        int e = got < 0 ? errno : write_all(fd, chunk, (size_t)got);
        if (got < 0)
            rc = error_errno(e, "read", src);
        else if (e)
            rc = error_errno(e, "write", dest);
    }
    free(chunk);
    close(in);
    return rc;
}

static int local_put_file(storage *st, const char *path, const char *file)
{
    buf p = BUF_INIT, tmp = BUF_INIT;
    int fd = -1, rc = full_path((local_storage *)st, path, &p);
    rc = rc ? rc : ensure_parent(p.data);
    rc = rc ? rc : temp_beside(p.data, &tmp);
    if (rc == 0 && (fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        rc = error_errno(errno, "create", tmp.data);
    rc = rc ? rc : copy_to(file, fd, tmp.data);
    if (rc == 0 && fsync(fd) < 0)
        rc = error_errno(errno, "fsync", tmp.data);
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp.data, p.data) < 0)
        rc = error_errno(errno, "rename onto", p.data);
    if (rc < 0 && fd >= 0)
        unlink(tmp.data);
    rc = rc ? rc : sync_dir_of(p.data);
    buf_free(&p), buf_free(&tmp);
    return rc;
}

static int local_get_file(storage *st, const char *path, const char *file)
{
    buf p = BUF_INIT;
    int fd = -1, rc = full_path((local_storage *)st, path, &p);
    if (rc == 0 && (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = error_errno(errno, "create", file);
    rc = rc ? rc : copy_to(p.data, fd, file);
    if (fd >= 0)
        close(fd);
    buf_free(&p);
    return rc;
}

static void local_free(storage *st)
{
    local_storage *ls = (local_storage *)st;
    if (!ls)
        return;
    free(ls->root);
    free(ls);
}

int storage_local_open(storage **out, const char *root, int create)
{
    local_storage *ls = calloc(1, sizeof(*ls));
    char *copy = NULL, *abs = NULL;
    struct stat sb;
    int rc = 0;
    *out = NULL;
    if (!ls)
        return error_set(LOCH_ENOMEM, "out of memory");
    if (create) {
        copy = strdup(root);
        rc = copy ? mkdirs_abs(copy) : error_set(LOCH_ENOMEM, "out of memory");
    } else if (stat(root, &sb) < 0) {
        rc = errno == ENOENT ? error_set(LOCH_ENOTFOUND, "no directory %s", root) : error_errno(errno, "open lake", root);
    }
    if (rc < 0)
        goto cleanup;
    if (!(abs = realpath(root, NULL))) {
        rc = error_errno(errno, "open lake", root);
        goto cleanup;
    }
    if (stat(abs, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        rc = error_set(LOCH_EINVALID, "lake %s is not a directory", root);
        goto cleanup;
    }
    ls->root = abs;
    abs = NULL;
    ls->base = (storage){.get = local_get, .put = local_put, .put_if_absent = local_put_if_absent,
                         .list = local_list, .list_names = local_list_names, .head = local_head,
                         .remove = local_remove, .remove_tree = local_remove_tree, .remove_dir = local_remove_dir,
                         .sync = local_sync, .mkdirs = local_mkdirs, .move = local_move,
                         .engine_path = local_engine_path, .lock = local_lock, .lock_write = local_lock_write,
                         .unlock = local_unlock, .list_tree = local_list_tree, .put_file = local_put_file,
                         .get_file = local_get_file, .free = local_free, .has_links = 1};
    *out = &ls->base;
    ls = NULL;
cleanup:
    free(copy);
    free(abs);
    free(ls);
    return rc;
}
