/*
 * ingest/inputs.c - the inputs of an ingest: its arguments expanded into files, and a
 * file's SHA-256.
 *
 * An argument is a file, a directory (its regular files in name order, leaving out
 * names that start with '.' or '_'), a glob (the regular files it matches), or "-" for
 * standard input. A name that exists is that file even when it holds glob characters
 * (`gl[1].csv` is not `gl1.csv`), as a shell-quoted or tab-completed name means. Inputs keep the arguments' order; a file named twice is two inputs,
 * and the driver skips the second (the same bytes).
 *
 * A file whose name is not valid UTF-8 is read through a symbolic link with a UTF-8 name
 * (_loch/tmp/link-<pid>-<uuid>, swept once the process is gone), and shown and recorded
 * with its other bytes as \xHH: the engine refuses such a name.
 *
 * Standard input is copied to a temporary file in the lake first (_loch/tmp/stdin-
 * <pid>-<uuid>, swept once the process is gone): the engine reads files, and the bytes
 * must be hashed before anything is committed.
 */
#include "ingest/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/misc.h"
#include "util/sha256.h"
#include "util/utf8.h"

void inputs_free(inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i].temp)
            unlink(in->v[i].path);
        free(in->v[i].path);
        free(in->v[i].shown);
        for (size_t c = 0; c < in->v[i].ncols; c++) {
            free(in->v[i].cols[c].name);
            free(in->v[i].cols[c].type);
            free(in->v[i].cols[c].expr);
        }
        free(in->v[i].cols);
        free(in->v[i].typed_src);
    }
    free(in->v);
}

static int add_input(inputs *in, const char *path, const char *shown, int temp)
{
    if (in->n == in->alloc) {
        size_t n = in->alloc ? in->alloc * 2 : 8;
        input *g = realloc(in->v, n * sizeof(*g));
        if (!g)
            return error_set(LOCH_ENOMEM, "out of memory");
        in->v = g;
        in->alloc = n;
    }
    input *x = &in->v[in->n];
    memset(x, 0, sizeof(*x));
    x->path = strdup(path);
    x->shown = strdup(shown);
    x->temp = temp;
    if (!x->path || !x->shown)
        return error_set(LOCH_ENOMEM, "out of memory");
    in->n++;
    return 0;
}

int ingest_hash_file(input *x)
{
    enum { CHUNK = 1 << 20 };
    char *chunk = malloc(CHUNK);
    sha256_ctx c;
    int fd = chunk ? open(x->path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        free(chunk);
        return chunk ? error_errno(errno, "cannot read", x->shown) : error_set(LOCH_ENOMEM, "out of memory");
    }
    if (sha256_init(&c) < 0) {
        close(fd);
        free(chunk);
        return LOCH_ENOMEM;
    }
    ssize_t n;
    while ((n = read(fd, chunk, CHUNK)) > 0) {
        sha256_update(&c, chunk, (size_t)n);
        x->bytes += n;
    }
    int e = errno;
    close(fd);
    free(chunk);
    if (n < 0) {
        sha256_discard(&c);
        return error_errno(e, "cannot read", x->shown);
    }
    return sha256_hex(&c, x->sha);
}

/* Standard input is copied to a temporary file in the lake first: the engine reads
 * files, and the bytes must be hashed before anything is committed. */
static int stdin_input(loch_lake *lake, inputs *in)
{
    char id[37], chunk[1 << 16];
    buf dir = BUF_INIT, local = BUF_INIT;
    uuid_v4(id);
    int rc = lake_scratch_dir(lake, &dir);
    rc = rc ? rc : buf_printf(&local, "%s/stdin-%d-%s", dir.data, (int)getpid(), id); /* the pid: swept once it is gone */
    buf_free(&dir);
    int fd = rc ? -1 : open(local.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (rc == 0 && fd < 0)
        rc = error_errno(errno, "create", local.data);
    ssize_t n;
    while (rc == 0 && (n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(fd, chunk, (size_t)n) != n)
            rc = error_errno(errno, "copy of standard input to", local.data);
    }
    if (fd >= 0)
        close(fd);
    rc = rc ? rc : add_input(in, local.data, "<stdin>", 1);
    buf_free(&local);
    return rc;
}

/* A file whose name is not UTF-8 (the engine takes none) is read through a link with a
 * name it takes, _loch/tmp/link-<pid>-<uuid><.ext>, and shown with its odd bytes as \xHH. */
static int odd_name_input(loch_lake *lake, inputs *in, const char *path)
{
    char id[37], *abs = realpath(path, NULL);
    buf dir = BUF_INIT, link = BUF_INIT, shown = BUF_INIT;
    const char *ext = strrchr(path, '.');
    size_t elen = ext ? strlen(ext) : 0;
    if (ext && (strchr(ext, '/') || elen > 16 || utf8_valid_prefix((const unsigned char *)ext, elen) != elen))
        ext = NULL;
    uuid_v4(id);
    int rc = abs ? lake_scratch_dir(lake, &dir) : error_errno(errno, "cannot read", path);
    rc = rc ? rc : buf_printf(&link, "%s/link-%d-%s%s", dir.data, (int)getpid(), id, ext ? ext : "");
    if (rc == 0 && symlink(abs, link.data) < 0)
        rc = error_errno(errno, "cannot link to", link.data);
    for (size_t i = 0, n = strlen(path); rc == 0 && i < n;) {
        size_t ok = utf8_valid_prefix((const unsigned char *)path + i, n - i);
        rc = buf_put(&shown, path + i, ok) ? LOCH_ENOMEM : 0;
        if (rc == 0 && i + ok < n)
            rc = buf_printf(&shown, "\\x%02x", (unsigned char)path[i + ok]) ? LOCH_ENOMEM : 0;
        i += ok + (i + ok < n);
    }
    rc = rc ? rc : add_input(in, link.data, shown.data, 1);
    free(abs);
    buf_free(&dir);
    buf_free(&link);
    buf_free(&shown);
    return rc;
}

/* One named file: as it is, or through a link when its name is not UTF-8. */
static int file_input(loch_lake *lake, inputs *in, const char *path)
{
    size_t n = strlen(path);
    return utf8_valid_prefix((const unsigned char *)path, n) == n ? add_input(in, path, path, 0)
                                                                   : odd_name_input(lake, in, path);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int dir_inputs(loch_lake *lake, inputs *in, const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    if (!d)
        return error_errno(errno, "cannot read directory", dir);
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        char **g = realloc(names, (n + 1) * sizeof(char *));
        if (!g || !(g[n] = malloc(strlen(dir) + strlen(de->d_name) + 2))) {
            names = g ? g : names;
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        names = g;
        sprintf(names[n++], "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
            rc = file_input(lake, in, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int ingest_expand(loch_lake *lake, const char *const *args, size_t count, inputs *in)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *a = args[i];
        struct stat sb;
        if (strcmp(a, "-") == 0) {
            rc = stdin_input(lake, in);
        } else if (strpbrk(a, "*?[") && stat(a, &sb) < 0) {
            glob_t g;
            int gr = glob(a, 0, NULL, &g);
            if (gr == GLOB_NOMATCH)
                rc = error_set(LOCH_ENOTFOUND, "no file matches %s", a);
            for (size_t k = 0; gr == 0 && rc == 0 && k < g.gl_pathc; k++)
                if (stat(g.gl_pathv[k], &sb) == 0 && S_ISREG(sb.st_mode))
                    rc = file_input(lake, in, g.gl_pathv[k]);
            if (gr == 0)
                globfree(&g);
        } else if (stat(a, &sb) < 0) {
            rc = error_errno(errno, "cannot read", a);
        } else if (S_ISDIR(sb.st_mode)) {
            rc = dir_inputs(lake, in, a);
        } else {
            rc = file_input(lake, in, a);
        }
    }
    if (rc == 0 && in->n == 0)
        rc = error_set(LOCH_EINVALID, "no input files");
    return rc;
}
