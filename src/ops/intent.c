/*
 * ops/intent.c - the data files a writer is about to commit, written down first, so
 * the files of a writer that died (killed, out of power) before its commit are found
 * and removed by the next writer.
 *
 * A writer records an intent before it moves data files into a table: the file
 * _loch/intents/<uuid> names the table, the version it read, and every file and
 * staging directory it creates. The writer holds an exclusive flock on the intent
 * from birth (it is created under a temporary name, locked, then renamed into
 * place), and removes it once its commit landed or was abandoned (its files then
 * removed by itself).
 *
 * Every data write first sweeps: an intent whose lock can be taken belongs to a dead
 * writer (the kernel drops a process's locks when it dies). If one of the table's
 * commits after the recorded version adds a recorded file, the writer died after its
 * commit landed and only the intent goes; otherwise its files and staging
 * directories go too. The sweeper holds the lock while it works, so two sweepers
 * never act on one intent.
 *
 * Other leftovers carry their writer's pid in their name, and go once that process is
 * gone (a pid still alive, even if reused, only delays their removal):
 *   <table>/_delta_log/.tmp-<pid>-*   a commit or checkpoint being written
 *   _loch/tmp/upload-<pid>-*          an HTTP upload being received
 *   _loch/tmp/result-<pid>-*          a Parquet result being sent
 *   _loch/tmp/spill-<pid>-*           the SQL engine's spilled data
 *   _loch/tmp/stdin-<pid>-*, pdf-<pid>-*  ingest's copy of standard input, text of a PDF
 * and .dropped-<table>-<uuid> at the lake's root is a dropped table a DROP did not
 * finish deleting.
 *
 * Intents are local files: the writers of a lake share its machine (as they share
 * the catalog).
 */
#include "ops/ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/misc.h"

static int intents_dir(loch_lake *lake, buf *out)
{
    int rc = lake->st->mkdirs(lake->st, "_loch/intents");
    return rc ? rc : lake->st->local_path(lake->st, "_loch/intents", out);
}

/* Appends text; with sync, makes the intent durable (the files it names are moved
 * into the table only after). */
static int intent_write(txlog_commit *c, const char *text, int sync)
{
    size_t n = strlen(text);
    for (size_t done = 0; done < n;) {
        ssize_t w = write(c->intent_fd, text + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return error_errno(errno, "cannot record the write intent", c->intent_path);
        done += (size_t)w;
    }
    if (sync && fdatasync(c->intent_fd) != 0)
        return error_errno(errno, "cannot sync the write intent", c->intent_path);
    return 0;
}

int intent_begin(loch_lake *lake, txlog_commit *c, const char *staging)
{
    buf dir = BUF_INIT, tmp = BUF_INIT, head = BUF_INIT;
    char id[37];
    int rc = 0, fd = -1;
    if (c->intent_fd <= 0) {
        uuid_v4(id);
        rc = intents_dir(lake, &dir);
        rc = rc ? rc : buf_printf(&tmp, "%s/.new-%s", dir.data, id) ? LOCH_ENOMEM : 0;
        if (rc == 0 && snprintf(c->intent_path, sizeof(c->intent_path), "%s/%s", dir.data, id) >=
                           (int)sizeof(c->intent_path))
            rc = error_set(LOCH_EINVALID, "lake path too long");
        fd = rc ? -1 : open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (rc == 0 && fd < 0)
            rc = error_errno(errno, "cannot create", tmp.data);
        /* locked before it has its name: a sweeper never sees it unlocked while we live */
        if (rc == 0 && flock(fd, LOCK_EX) != 0)
            rc = error_errno(errno, "cannot lock", tmp.data);
        if (rc == 0 && rename(tmp.data, c->intent_path) != 0)
            rc = error_errno(errno, "cannot rename", tmp.data);
        if (rc < 0 && fd >= 0) {
            unlink(tmp.data);
            close(fd);
        }
        if (rc == 0) {
            c->intent_fd = fd;
            rc = buf_printf(&head, "table %s\nread %lld\n", c->table, (long long)c->cm.read_version) ? LOCH_ENOMEM : 0;
        }
    }
    rc = rc ? rc : buf_printf(&head, "staging %s\n", staging) ? LOCH_ENOMEM : intent_write(c, head.data, 0);
    buf_free(&dir);
    buf_free(&tmp);
    buf_free(&head);
    return rc;
}

int intent_files(txlog_commit *c, const char *lines) { return intent_write(c, lines, 1); }

void intent_end(txlog_commit *c)
{
    if (c->intent_fd <= 0)
        return;
    unlink(c->intent_path);
    close(c->intent_fd); /* drops the lock */
    c->intent_fd = 0;
}

/* Whether one of the table's commits after `read` adds the file named by path
 * (table-relative: the add action's path). */
static int committed(loch_lake *lake, const char *table, int64_t read, const char *name)
{
    int64_t latest = txlog_latest_version(lake, table);
    buf path = BUF_INIT, data = BUF_INIT;
    int found = 0;
    for (int64_t v = read + 1; !found && v <= latest; v++) {
        char file[32];
        commit cm;
        log_commit_name(v, file);
        buf_clear(&path);
        buf_clear(&data);
        commit_init(&cm, NULL, -1);
        if (buf_printf(&path, "%s/_delta_log/%s", table, file) == 0 && lake->st->get(lake->st, path.data, &data) == 0 &&
            commit_parse(&cm, data.data, data.len) == 0) {
            for (size_t i = 0; !found && i < cm.count; i++)
                found = cm.actions[i].kind == LOG_ADD && strcmp(cm.actions[i].u.file.path, name) == 0;
        } else {
            found = -1; /* an unreadable commit: keep the files */
        }
        commit_free(&cm);
    }
    buf_free(&path);
    buf_free(&data);
    return found != 0;
}

/* Acts on the intent of a dead writer, whose lock we hold. */
static void sweep_one(loch_lake *lake, int fd)
{
    buf text = BUF_INIT;
    char chunk[4096], table[256] = "";
    long long read_version = -2;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_put(&text, chunk, (size_t)n);
    if (!text.data || sscanf(text.data, "table %255s\nread %lld\n", table, &read_version) != 2 ||
        table_name_check(table) < 0) {
        buf_free(&text);
        return; /* not an intent we wrote; leave it */
    }
    /* The first recorded file tells whether the commit landed: it carries them all. */
    int landed = 0;
    for (char *line = text.data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "file ", 5) == 0) {
            size_t tlen = strlen(table);
            char *nl = strchr(line, '\n');
            if (strncmp(line + 5, table, tlen) != 0 || line[5 + tlen] != '/' || !nl || nl < line + 6 + tlen) {
                landed = 1; /* not a file of this table: keep everything */
                break;
            }
            char *name = strndup(line + 6 + tlen, (size_t)(nl - (line + 6 + tlen)));
            landed = name && committed(lake, table, read_version, name);
            free(name);
            break;
        }
    }
    size_t tlen = strlen(table);
    for (char *line = text.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        /* only paths inside the table's directory, one level down, are ever removed */
        const char *path = !strncmp(line, "file ", 5) ? line + 5 : !strncmp(line, "staging ", 8) ? line + 8 : NULL;
        int inside = path && !strncmp(path, table, tlen) && path[tlen] == '/' && path[tlen + 1] &&
                     !strchr(path + tlen + 1, '/') && !strstr(path, "..");
        if (inside && !landed && line[0] == 'f')
            lake->st->remove(lake->st, path);
        else if (inside && line[0] == 's' && !strncmp(path + tlen + 1, ".tmp-", 5))
            lake->st->remove_tree(lake->st, path);
        line = nl ? nl + 1 : NULL;
    }
    buf_free(&text);
}

static int process_gone(const char *digits)
{
    char *end;
    long pid = strtol(digits, &end, 10);
    return pid > 0 && *end == '-' && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

void intent_sweep_dir(loch_lake *lake, const char *dir)
{
    storage_entry *e = NULL;
    size_t n = 0;
    buf path = BUF_INIT;
    if (lake->st->list_names(lake->st, dir, &e, &n) < 0) {
        error_clear();
        return;
    }
    static const char *const by_pid[] = {".tmp-", "upload-", "result-", "spill-", "stdin-", "pdf-"};
    for (size_t i = 0; i < n; i++) {
        const char *name = e[i].name;
        int dead = !*dir && !strncmp(name, ".dropped-", 9);
        for (size_t k = 0; !dead && k < sizeof(by_pid) / sizeof(by_pid[0]); k++) {
            size_t len = strlen(by_pid[k]);
            if (!strncmp(name, by_pid[k], len)) {
                dead = process_gone(name + len);
                break;
            }
        }
        buf_clear(&path);
        if (!dead || buf_printf(&path, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
            continue;
        if ((e[i].is_dir ? lake->st->remove_tree : lake->st->remove)(lake->st, path.data) < 0)
            error_clear();
    }
    storage_entries_free(e, n);
    buf_free(&path);
}

void intent_sweep(loch_lake *lake)
{
    intent_sweep_dir(lake, "");
    intent_sweep_dir(lake, "_loch/tmp");
    buf dir = BUF_INIT, path = BUF_INIT;
    if (lake->st->local_path(lake->st, "_loch/intents", &dir) < 0) {
        buf_free(&dir);
        return;
    }
    DIR *d = opendir(dir.data);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and intents being born */
        buf_clear(&path);
        if (buf_printf(&path, "%s/%s", dir.data, e->d_name))
            break;
        int fd = open(path.data, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            struct stat st;
            /* still the file we opened (not swept and replaced meanwhile)? */
            if (stat(path.data, &st) == 0) {
                sweep_one(lake, fd);
                unlink(path.data);
            }
        }
        close(fd);
    }
    if (d)
        closedir(d);
    buf_free(&dir);
    buf_free(&path);
}
