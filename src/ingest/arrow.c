/*
 * ingest/arrow.c - Arrow IPC files (and streams) ingested in place: the file is mapped,
 * formats/arrow_read.c validates its batches, and the engine reads them through a
 * temporary view over an ArrowArrayStream, with no conversion and no copy.
 *
 * Lifetime: the stream and its view belong to the input (input.arrow, input.arrow_view)
 * until ingest_arrow_done, which the driver calls after the commit; the mapping is
 * released once the stream and every array it handed out are (the reader calls unmap).
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/arrow_read.h"

typedef struct {
    void *addr;
    size_t size;
} mapping;

static void unmap(void *ctx)
{
    mapping *m = ctx;
    munmap(m->addr, m->size);
    free(m);
}

/* An Arrow IPC file (or stream) is mapped and its batches handed to the engine as
 * they are, through a view over formats/arrow_read.c's validated arrays: no conversion,
 * no copy. The view is dropped and the mapping released when the ingest ends
 * (ingest_arrow_done). */
int ingest_arrow_input(loch_lake *lake, input *x, buf *src)
{
    static _Atomic unsigned long views;
    struct stat st;
    arrow_reader *r = NULL;
    mapping *m = calloc(1, sizeof(*m));
    int fd = open(x->path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (!m || fd < 0 || fstat(fd, &st) != 0) {
        rc = !m ? error_set(LOCH_ENOMEM, "out of memory") : error_errno(errno, "cannot read", x->shown);
        goto fail;
    }
    m->size = (size_t)st.st_size;
    if ((m->addr = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        rc = error_errno(errno, "cannot map", x->shown);
        goto fail;
    }
    if ((rc = arrow_read_open(&r, m->addr, m->size)) < 0)
        goto fail;
    if (!(x->arrow = calloc(1, sizeof(*x->arrow)))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    arrow_read_stream(r, x->arrow, unmap, m); /* takes r and m */
    r = NULL;
    m = NULL;
    snprintf(x->arrow_view, sizeof(x->arrow_view), "__loch_arrow_%lu", atomic_fetch_add(&views, 1));
    rc = compute_register_arrow(lake->cp, x->arrow_view, x->arrow);
    if (rc < 0)
        x->arrow_view[0] = '\0';
    if (rc == 0 && (buf_puts(src, "SELECT * FROM ") || buf_put_sql_ident(src, x->arrow_view)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
fail:
    if (fd >= 0)
        close(fd);
    arrow_read_free(r);
    if (m && m->addr && m->addr != MAP_FAILED)
        munmap(m->addr, m->size);
    free(m);
    return rc;
}

void ingest_arrow_done(loch_lake *lake, input *x)
{
    if (x->arrow_view[0]) {
        buf sql = BUF_INIT;
        if (buf_puts(&sql, "DROP VIEW IF EXISTS ") == 0 && buf_put_sql_ident(&sql, x->arrow_view) == 0)
            compute_exec(lake->cp, sql.data);
        buf_free(&sql);
        x->arrow_view[0] = '\0';
    }
    if (x->arrow) {
        if (x->arrow->release)
            x->arrow->release(x->arrow);
        free(x->arrow);
        x->arrow = NULL;
    }
}
