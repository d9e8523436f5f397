/*
 * ops/intent.c - the data files a writer is about to commit, written down first, so
 * the files of a writer that died (killed, out of power) before its commit are found
 * and removed by the next writer.
 *
 * A writer records an intent before it moves data files into a table: the object
 * _loch/intents/<uuid> names the table, the version it read, and every file (data
 * files, and the deletion vector file of a DELETE or UPDATE) and staging directory it
 * creates. The writer holds an exclusive lock on the intent from
 * birth (the storage creates it already locked: STORAGE_LOCK_CREATE), rewrites it whole
 * as it grows (only ever extending it), and removes it once its commit landed or was
 * abandoned (its files then removed by itself).
 *
 * Every data write first sweeps: an intent whose lock can be taken belongs to a dead
 * writer (a lock dies with its holder). If one of the table's
 * commits after the recorded version adds a recorded file, the writer died after its
 * commit landed and only the intent goes; otherwise its files and staging
 * directories go too. The sweeper holds the lock while it works, so two sweepers
 * never act on one intent.
 *
 * Other leftovers carry their writer's pid in their name, and go once that process is
 * gone (a pid still alive, even if reused, only delays their removal):
 *   <table>/_delta_log/.tmp-<pid>-*   a commit or checkpoint being written
 *   <table>/_loch_index/.tmp-<pid>-*  a vector or full-text index being written (swept
 *                                     by the next build of an index there)
 *   _loch/tmp/upload-<pid>-*          an HTTP upload being received
 *   _loch/tmp/result-<pid>-*          a Parquet result being sent
 *   _loch/tmp/spill-<pid>-*           the SQL engine's spilled data
 *   _loch/tmp/stdin-<pid>-*, pdf-<pid>-*  ingest's copy of standard input, text of a PDF
 *   _loch/tmp/link-<pid>-*            ingest's link to an input whose name is not UTF-8
 * and .dropped-<table>-<uuid> at the lake's root is a dropped table a DROP did not
 * finish deleting.
 *
 * Everything goes through the storage interface (core/storage.h: lock, lock_write,
 * get, list, remove). Where the lake is local the lock is a flock, which the kernel
 * drops when its process dies, and the pid-named leftovers are judged by asking the
 * kernel whether the pid lives: the writers of a local lake share its machine. On an
 * object store, which has no flock, the intent's lock will be a lease object written
 * with a conditional put that expires unless its writer renews it, an expired lease
 * marking a dead writer; pid-named leftovers there belong to one machine's scratch
 * space, not to the bucket.
 */
#include "ops/ops.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dv.h"
#include "util/misc.h"

#define INTENTS "_loch/intents"

/* Writes the intent's text as it stands; with durable, synced (the files it names are
 * moved into the table only after). */
static int intent_write(txlog_commit *c, int durable)
{
    int rc = c->intent_store->lock_write(c->intent_store, c->intent, c->intent_text.data, c->intent_text.len,
                                         durable);
    return rc < 0 ? error_prefix("cannot record the write intent: ") : 0;
}

int intent_begin(loch_lake *lake, txlog_commit *c, const char *staging)
{
    buf path = BUF_INIT;
    char id[37];
    int rc = 0;
    if (!c->intent) {
        uuid_v4(id);
        buf_clear(&c->intent_text);
        rc = buf_printf(&path, INTENTS "/%s", id);
        /* locked before it has its name: a sweeper never sees it unlocked while we live */
        rc = rc ? rc : lake->st->lock(lake->st, path.data, STORAGE_LOCK_CREATE | STORAGE_LOCK_EXCLUSIVE, &c->intent);
        if (rc == 0) {
            c->intent_store = lake->st;
            c->intent_path = buf_detach(&path);
            rc = c->intent_path ? 0 : error_set(LOCH_ENOMEM, "out of memory");
        }
        rc = rc ? rc : buf_printf(&c->intent_text, "table %s\nread %lld\n", c->table, (long long)c->cm.read_version);
    }
    rc = rc || !staging ? rc : buf_printf(&c->intent_text, "staging %s\n", staging);
    rc = rc ? rc : intent_write(c, 0);
    buf_free(&path);
    return rc;
}

int intent_files(txlog_commit *c, const char *lines)
{
    return buf_puts(&c->intent_text, lines) < 0 ? LOCH_ENOMEM : intent_write(c, 1);
}

void intent_end(txlog_commit *c)
{
    if (c->intent && c->intent_path)
        c->intent_store->remove(c->intent_store, c->intent_path);
    if (c->intent)
        c->intent_store->unlock(c->intent_store, c->intent); /* a lock outlives no intent */
    c->intent = NULL;
    free(c->intent_path);
    c->intent_path = NULL;
    buf_free(&c->intent_text);
}

/* Whether one of the table's commits after `read` adds the file named by path
 * (table-relative): as a data file, or as the deletion vector file of one. */
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
            for (size_t i = 0; !found && i < cm.count; i++) {
                const log_file *f = &cm.actions[i].u.file;
                char dv[512];
                found = (cm.actions[i].kind == LOG_ADD || cm.actions[i].kind == LOG_CDC) &&
                        (strcmp(f->path, name) == 0 || (f->dv.storage_type == 'u' &&
                                                        dv_relative_path(f->dv.path_or_inline, dv, sizeof(dv)) == 0 &&
                                                        strcmp(dv, name) == 0));
            }
        } else {
            found = -1; /* an unreadable commit: keep the files */
        }
        commit_free(&cm);
    }
    buf_free(&path);
    buf_free(&data);
    return found != 0;
}

/* Acts on the intent of a dead writer, whose lock we hold; text is what it says. */
static void sweep_one(loch_lake *lake, buf *text)
{
    char table[256] = "";
    long long read_version = -2;
    if (!text->data || sscanf(text->data, "table %255s\nread %lld\n", table, &read_version) != 2 ||
        table_name_check(table) < 0) {
        error_clear();
        return; /* not an intent we wrote; leave it */
    }
    /* The first recorded file tells whether the commit landed: it carries them all. */
    int landed = 0;
    for (char *line = text->data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
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
    for (char *line = text->data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        /* only paths inside the table's directory, one level down (or in its
         * _change_data/), are ever removed */
        const char *path = !strncmp(line, "file ", 5) ? line + 5 : !strncmp(line, "staging ", 8) ? line + 8 : NULL;
        const char *leaf = path && !strncmp(path, table, tlen) && path[tlen] == '/' ? path + tlen + 1 : NULL;
        if (leaf && !strncmp(leaf, "_change_data/", 13) && line[0] == 'f')
            leaf += 13;
        int inside = leaf && *leaf && !strchr(leaf, '/') && !strstr(path, "..");
        if (inside && !landed && line[0] == 'f')
            lake->st->remove(lake->st, path);
        else if (inside && line[0] == 's' && !strncmp(path + tlen + 1, ".tmp-", 5))
            lake->st->remove_tree(lake->st, path);
        line = nl ? nl + 1 : NULL;
    }
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
    /* loch's scratch names (upload-, result-, ...) only in its scratch directory: anywhere
     * else such a name is a user's (a table named "upload-2024-11" is no leftover) */
    static const char *const by_pid[] = {".tmp-", "upload-", "result-", "spill-", "stdin-", "pdf-", "link-"};
    size_t kinds = strcmp(dir, "_loch/tmp") == 0 ? sizeof(by_pid) / sizeof(by_pid[0]) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = e[i].name;
        int dead = !*dir && !strncmp(name, ".dropped-", 9);
        for (size_t k = 0; !dead && k < kinds; k++) {
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
    intent_sweep_dir(lake, INTENTS); /* intents whose writer died while creating them */
    storage_entry *e = NULL;
    size_t n = 0;
    buf path = BUF_INIT, text = BUF_INIT;
    if (lake->st->list_names(lake->st, INTENTS, &e, &n) < 0)
        n = 0; /* no intents yet */
    for (size_t i = 0; i < n; i++) {
        storage_lock *held = NULL;
        if (e[i].name[0] == '.')
            continue; /* intents being born */
        buf_clear(&path);
        if (buf_printf(&path, INTENTS "/%s", e[i].name) < 0)
            break;
        /* A lock we can take is a dead writer's; the storage checks it is still the
         * intent at that name (not swept and replaced meanwhile). */
        if (lake->st->lock(lake->st, path.data, STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, &held) < 0)
            continue;
        buf_clear(&text);
        if (lake->st->get(lake->st, path.data, &text) == 0) {
            sweep_one(lake, &text);
            lake->st->remove(lake->st, path.data);
        }
        lake->st->unlock(lake->st, held);
    }
    error_clear(); /* the sweep is best effort: what it could not do, a later one does */
    storage_entries_free(e, n);
    buf_free(&path);
    buf_free(&text);
}
