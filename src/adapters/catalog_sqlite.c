/*
 * adapters/catalog_sqlite.c - catalog.h on SQLite (it and fts_sqlite.c are the files
 * including sqlite3.h).
 *
 * WAL journal and a busy timeout so several loch processes on one lake share it;
 * synchronous=NORMAL is enough because the catalog is rebuildable.
 */
#include "adapters/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"
#include "util/error.h"

struct catalog {
    sqlite3 *db;
    sqlite3_stmt *get;
    char *schema;   /* owned copy handed out by catalog_get */
};

static const char ddl[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS tables(name TEXT PRIMARY KEY, version INTEGER, files INTEGER,"
    " rows INTEGER, bytes INTEGER, schema TEXT, updated_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS schema_history(name TEXT, version INTEGER, schema TEXT,"
    " PRIMARY KEY(name, version));";

static int db_error(catalog *c, const char *what)
{
    return error_set(LOCH_EIO, "catalog %s: %s", what, sqlite3_errmsg(c->db));
}

int catalog_open(catalog **out, const char *path)
{
    catalog *c = calloc(1, sizeof(*c));
    int rc = 0;
    *out = NULL;
    if (!c)
        return error_set(LOCH_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_error(c, "open");
        goto cleanup;
    }
    sqlite3_busy_timeout(c->db, 5000);
    if (sqlite3_exec(c->db, ddl, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(c, "setup");
        goto cleanup;
    }
    if (sqlite3_prepare_v2(c->db, "SELECT version, files, rows, bytes, schema, updated_ms FROM tables"
                                  " WHERE name = ?", -1, &c->get, NULL) != SQLITE_OK) {
        rc = db_error(c, "prepare");
        goto cleanup;
    }
    *out = c;
    return 0;
cleanup:
    catalog_free(c);
    return rc;
}

void catalog_free(catalog *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->get);
    sqlite3_close(c->db);
    free(c->schema);
    free(c);
}

int catalog_put(catalog *c, const catalog_table *t)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    const char *sql = "INSERT INTO tables VALUES(?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
                      " version=excluded.version, files=excluded.files, rows=excluded.rows,"
                      " bytes=excluded.bytes, schema=excluded.schema, updated_ms=excluded.updated_ms"
                      " WHERE excluded.version >= tables.version;"
                      "INSERT OR IGNORE INTO schema_history VALUES(?1, ?2, ?6)";
    const char *tail = sql;
    while (rc == 0 && tail && *tail) {
        if (sqlite3_prepare_v2(c->db, tail, -1, &st, &tail) != SQLITE_OK) {
            rc = db_error(c, "prepare");
            break;
        }
        if (!st)
            break;
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, t->version);
        /* Both statements number their parameters alike; binding an index a statement
         * lacks is a harmless SQLITE_RANGE. */
        sqlite3_bind_int64(st, 3, t->files);
        sqlite3_bind_int64(st, 4, t->rows);
        sqlite3_bind_int64(st, 5, t->bytes);
        sqlite3_bind_text(st, 6, t->schema, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, t->updated_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(c, "write");
        sqlite3_finalize(st);
        st = NULL;
    }
    return rc;
}

int catalog_delete(catalog *c, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    static const char *sqls[] = {"DELETE FROM tables WHERE name = ?", "DELETE FROM schema_history WHERE name = ?"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (sqlite3_prepare_v2(c->db, sqls[i], -1, &st, NULL) != SQLITE_OK)
            return db_error(c, "prepare");
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(c, "delete");
        sqlite3_finalize(st);
    }
    return rc;
}

int catalog_get(catalog *c, const char *name, catalog_table *t)
{
    int rc = LOCH_ENOTFOUND;
    sqlite3_reset(c->get);
    sqlite3_bind_text(c->get, 1, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(c->get);
    if (s == SQLITE_ROW) {
        free(c->schema);
        const unsigned char *schema = sqlite3_column_text(c->get, 4);
        c->schema = strdup(schema ? (const char *)schema : "");
        *t = (catalog_table){name, sqlite3_column_int64(c->get, 0), sqlite3_column_int64(c->get, 1),
                             sqlite3_column_int64(c->get, 2), sqlite3_column_int64(c->get, 3),
                             sqlite3_column_int64(c->get, 5), c->schema};
        rc = 0;
    } else if (s != SQLITE_DONE) {
        rc = db_error(c, "read");
    }
    sqlite3_reset(c->get);
    return rc;
}
