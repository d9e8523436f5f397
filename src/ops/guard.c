/*
 * ops/guard.c - a table's identity, held still while a commit goes in.
 *
 * Delta's log never ends, but loch's DROP TABLE does end a table, and a new one may
 * take its name a moment later. A writer that read the old table must then never
 * commit into the new one (its files have another schema) nor into the emptiness the
 * drop left (a log that starts at version 7 is no table). So:
 *
 *   - a commit into an existing table holds a shared flock on the table's _delta_log
 *     directory from the moment it checks the table is still the one it read (same
 *     directory, same metaData id: ops/txlog.c checks that) until its commit and
 *     checkpoint are written;
 *   - DROP TABLE takes the same lock exclusively, so it waits for commits in flight,
 *     then renames the table directory out of the way in one step (to a hidden
 *     ".dropped-<table>-<uuid>" beside it, which no reader lists) and only then
 *     deletes it. A writer that comes after finds no directory, or another table.
 *
 * A table directory that is a symbolic link is refused by every operation: a lake's
 * tables live inside it, which is what DROP, the sandbox and cleanup rely on.
 *
 * Locks are local: the writers of a lake share its machine (as they share intents).
 */
#include "ops/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/misc.h"

int guard_check_dir(loch_lake *lake, const char *table)
{
    buf p = BUF_INIT;
    struct stat sb;
    int rc = lake->st->local_path(lake->st, table, &p);
    if (rc == 0 && lstat(p.data, &sb) == 0 && S_ISLNK(sb.st_mode))
        rc = error_set(LOCH_EINVALID, "table \"%s\" is a symbolic link (%s): loch keeps a lake's tables inside "
                       "it and does not follow links; remove the link itself with rm", table, p.data);
    buf_free(&p);
    return rc;
}

int guard_take(loch_lake *lake, const char *table, int exclusive, int *out)
{
    buf p = BUF_INIT;
    struct stat held, now;
    int fd = -1;
    *out = -1;
    int rc = guard_check_dir(lake, table);
    rc = rc ? rc : lake->st->local_path(lake->st, table, &p);
    rc = rc ? rc : buf_puts(&p, "/_delta_log") ? LOCH_ENOMEM : 0;
    if (rc < 0)
        goto cleanup;
    if ((fd = open(p.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        rc = errno == ENOENT ? error_set(LOCH_ENOTFOUND, "table \"%s\" does not exist (dropped meanwhile?)", table)
                             : error_errno(errno, "open", p.data);
        goto cleanup;
    }
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno != EINTR) {
            rc = error_errno(errno, "lock", p.data);
            goto cleanup;
        }
    }
    /* Still the table's directory, not one a DROP moved away while we waited? */
    if (fstat(fd, &held) < 0 || stat(p.data, &now) < 0 || held.st_ino != now.st_ino || held.st_dev != now.st_dev) {
        rc = error_set(LOCH_ENOTFOUND, "table \"%s\" was dropped meanwhile", table);
        goto cleanup;
    }
    *out = fd;
    fd = -1;
cleanup:
    if (fd >= 0)
        close(fd);
    buf_free(&p);
    return rc;
}

int guard_try_exclusive(int fd)
{
    /* Converting a flock is not atomic: when the exclusive lock is refused the shared
     * one may be gone too. Callers only try this last, right before releasing. */
    return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : LOCH_ECONFLICT;
}

void guard_release(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the lock */
}

int guard_drop(loch_lake *lake, const char *table)
{
    char id[37];
    buf trash = BUF_INIT;
    int fd = -1;
    uuid_v4(id);
    int rc = guard_take(lake, table, 1, &fd);
    rc = rc ? rc : buf_printf(&trash, ".dropped-%s-%s", table, id);
    rc = rc ? rc : lake->st->move(lake->st, table, trash.data);
    guard_release(fd);
    if (rc == 0)
        lake_hold(lake, "drop-moved");
    /* The table is gone once it moved; a crash here leaves a hidden directory that the
     * next write's sweep removes. */
    if (rc == 0 && lake->st->remove_tree(lake->st, trash.data) < 0)
        error_clear();
    buf_free(&trash);
    return rc;
}

void guard_drop_if_empty(loch_lake *lake, const char *table)
{
    /* rmdir removes only empty directories: a table someone else is creating (its staging
     * directory or log already there) stays. */
    buf p = BUF_INIT;
    if (lake->st->local_path(lake->st, table, &p) == 0 && buf_puts(&p, "/_delta_log") == 0) {
        rmdir(p.data);
        p.len -= strlen("/_delta_log");
        p.data[p.len] = '\0';
        rmdir(p.data);
    }
    buf_free(&p);
}
