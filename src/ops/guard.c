/*
 * ops/guard.c - a table's identity, held still while a commit goes in.
 *
 * Delta's log never ends, but loch's DROP TABLE does end a table, and a new one may
 * take its name a moment later. A writer that read the old table must then never
 * commit into the new one (its files have another schema) nor into the emptiness the
 * drop left (a log that starts at version 7 is no table). So:
 *
 *   - a commit into an existing table holds a shared lock on the table's _delta_log
 *     directory from the moment it checks the table is still the one it read (same
 *     directory, same metaData id: ops/txlog.c checks that) until its commit and
 *     checkpoint are written;
 *   - DROP TABLE takes the same lock exclusively, so it waits for commits in flight,
 *     then renames the table directory out of the way in one step (to a hidden
 *     ".dropped-<table>-<uuid>" beside it, which no reader lists) and only then
 *     deletes it. A writer that comes after finds no directory, or another table.
 *
 * A table directory that is a symbolic link is refused by every operation: a lake's
 * tables live inside it, which is what DROP, the sandbox and cleanup rely on. So is a
 * table whose _delta_log is a link, out of the lake or not: its log, and the files it
 * names, would be another table's. Such a table is not listed, read or written; DROP
 * alone takes it, removing the directory and the link in it, never what the link
 * points at (no lock is taken: no writer commits through the link).
 *
 * The lock is the storage's (core/storage.h: lock, move, remove_dir), so this file
 * holds no path of its own. On the local filesystem it is a flock of the _delta_log
 * directory, which dies with its process, and the storage checks once it is held that
 * the directory is still at its place (a DROP may have moved it while we waited). On
 * an object store, which has no flock and no directories, the lock holds between this
 * machine's processes only; writers on other machines are kept out of a dropped table
 * by two checks instead: DROP deletes the commits that landed during its move, and a
 * commit that finds the version it read gone takes itself back (below:
 * sweep_stragglers; ops/txlog.c: still_the_table). A commit acknowledged before a DROP
 * ends goes with the table, as it would have had it come before the DROP began.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <string.h>

#include "util/misc.h"

int guard_check_dir(loch_lake *lake, const char *table)
{
    storage_entry e;
    if (!lake->st->has_links) /* nothing to check (a bucket): the name is checked where it is used */
        return 0;
    int rc = lake->st->head(lake->st, table, &e);
    if (rc == LOCH_EINVALID) /* a name that leaves the lake */
        return rc;
    if (rc < 0) {
        error_clear(); /* a table that is not there is the caller's to report */
        return 0;
    }
    if (e.is_link)
        return error_set(LOCH_EINVALID, "table \"%s\" is a symbolic link (%s/%s): loch keeps a lake's tables inside "
                         "it and does not follow links; remove the link itself with rm", table, lake->root, table);
    if (guard_log_is_link(lake, table))
        return error_set(LOCH_EINVALID, "table \"%s\" has a _delta_log that is a symbolic link (%s/%s/_delta_log): "
                         "loch does not follow links out of a table; DROP TABLE %s removes the directory and the "
                         "link, not what it points at", table, lake->root, table, table);
    return 0;
}

int guard_log_is_link(loch_lake *lake, const char *table)
{
    storage_entry e;
    buf p = BUF_INIT;
    if (!lake->st->has_links)
        return 0;
    int link = lake->st->head(lake->st, table, &e) == 0 && !e.is_link && buf_printf(&p, "%s/_delta_log", table) == 0 &&
               lake->st->head(lake->st, p.data, &e) == 0 && e.is_link;
    error_clear(); /* a missing log is no link */
    buf_free(&p);
    return link;
}

int guard_take(loch_lake *lake, const char *table, int exclusive, storage_lock **out)
{
    buf p = BUF_INIT;
    *out = NULL;
    int rc = guard_check_dir(lake, table);
    rc = rc ? rc : buf_printf(&p, "%s/_delta_log", table);
    rc = rc ? rc : lake->st->lock(lake->st, p.data, exclusive ? STORAGE_LOCK_EXCLUSIVE : STORAGE_LOCK_SHARED, out);
    if (rc == LOCH_ENOTFOUND) /* missing, or moved away by a DROP while we waited */
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist (dropped meanwhile?)", table);
    buf_free(&p);
    return rc;
}

void guard_release(loch_lake *lake, storage_lock *guard) { lake->st->unlock(lake->st, guard); }

int guard_try_exclusive(loch_lake *lake, const char *table, storage_lock **guard)
{
    /* Shared to exclusive by letting go and trying again: a writer that takes the
     * shared lock in between wins, and the caller simply does without. */
    buf p = BUF_INIT;
    guard_release(lake, *guard);
    *guard = NULL;
    int rc = buf_printf(&p, "%s/_delta_log", table);
    rc = rc ? rc : lake->st->lock(lake->st, p.data, STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, guard);
    if (rc < 0) {
        *guard = NULL;
        error_clear();
    }
    buf_free(&p);
    return rc;
}

/* On a store without locks (a bucket) DROP's guard keeps out this machine's writers
 * only, and its move is a copy of each object, then a delete of those it copied: a
 * commit from another machine that lands meanwhile is left at the table's place, the
 * first file of a log that starts at its version, which is no table. So after the move,
 * such commits are deleted, until a listing of the log finds none. What a new table
 * under the name has (its version 0, a checkpoint) is never touched: once the log holds
 * one, the sweep stops. Data files are left alone (a new table's may be on their way);
 * a straggler's are orphans no log names. A commit that lands later still finds the
 * version it read gone and takes itself back (ops/txlog.c: still_the_table). */
static int sweep_stragglers(loch_lake *lake, const char *table)
{
    buf dir = BUF_INIT, path = BUF_INIT;
    int rc = buf_printf(&dir, "%s/_delta_log", table) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    for (int round = 0; rc == 0; round++) {
        storage_entry *e = NULL;
        size_t n = 0, strays = 0;
        int new_table = 0;
        rc = lake->st->list_names(lake->st, dir.data, &e, &n);
        if (rc == LOCH_ENOTFOUND)
            error_clear(), rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char kind;
            int part, parts;
            int64_t v = log_name_version(e[i].name, &kind, &part, &parts);
            new_table = new_table || (kind == 'j' && v == 0) || (kind && kind != 'j') ||
                        !strcmp(e[i].name, "_last_checkpoint");
            strays += kind == 'j';
        }
        for (size_t i = 0; rc == 0 && !new_table && i < n; i++) {
            char kind;
            int part, parts;
            log_name_version(e[i].name, &kind, &part, &parts);
            buf_clear(&path);
            if (kind == 'j' && (rc = buf_printf(&path, "%s/%s", dir.data, e[i].name)) == 0)
                rc = lake->st->remove(lake->st, path.data);
        }
        storage_entries_free(e, n);
        if (rc < 0 || new_table || !strays)
            break;
        lake_hold(lake, "drop-stragglers");
        if (round == 7)
            rc = error_set(LOCH_ECONFLICT, "table \"%s\" was dropped, but writers on other machines went on "
                           "committing into its place; DROP TABLE IF EXISTS %s removes what they left", table, table);
    }
    buf_free(&dir);
    buf_free(&path);
    return rc;
}

int guard_drop(loch_lake *lake, const char *table)
{
    char id[37];
    buf trash = BUF_INIT;
    storage_lock *guard = NULL;
    uuid_v4(id);
    int rc = guard_log_is_link(lake, table) ? 0 : guard_take(lake, table, 1, &guard);
    rc = rc ? rc : buf_printf(&trash, ".dropped-%s-%s", table, id);
    rc = rc ? rc : lake->st->move(lake->st, table, trash.data);
    if (rc == 0)
        lake_hold(lake, "drop-moved");
    if (rc == 0 && lake->st->remote)
        rc = sweep_stragglers(lake, table);
    guard_release(lake, guard);
    /* The table is gone once it moved; a crash here leaves a hidden directory that the
     * next write's sweep removes. */
    if (rc == 0 && lake->st->remove_tree(lake->st, trash.data) < 0)
        error_clear();
    buf_free(&trash);
    return rc;
}

void guard_drop_if_empty(loch_lake *lake, const char *table)
{
    /* Only empty directories go: a table someone else is creating (its staging
     * directory or log already there) stays. */
    buf p = BUF_INIT;
    if (buf_printf(&p, "%s/_delta_log", table) == 0)
        lake->st->remove_dir(lake->st, p.data);
    lake->st->remove_dir(lake->st, table);
    buf_free(&p);
}
