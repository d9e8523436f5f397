/*
 * adapters/pdf_poppler.c - pdf.h by running `pdftotext -enc UTF-8 -layout FILE -`.
 *
 * The program is started with fork/execvp (no shell, so file names are never parsed);
 * its output separates pages with form feeds. Its stderr is collected (capped) for the
 * error message when it fails.
 */
#include "adapters/pdf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"

static int run_pdftotext(const char *pdf, buf *out, buf *err)
{
    int o[2], e[2];
    if (pipe(o) < 0 || pipe(e) < 0)
        return error_errno(errno, "pipe for", "pdftotext");
    pid_t pid = fork();
    if (pid < 0)
        return error_errno(errno, "fork for", "pdftotext");
    if (pid == 0) {
        dup2(o[1], STDOUT_FILENO);
        dup2(e[1], STDERR_FILENO);
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        execlp("pdftotext", "pdftotext", "-enc", "UTF-8", "-layout", pdf, "-", (char *)NULL);
        _exit(127);
    }
    close(o[1]), close(e[1]);
    struct pollfd fds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
    int open_fds = 2, rc = 0;
    char chunk[1 << 16];
    while (open_fds > 0 && rc == 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                rc = buf_put(out, chunk, (size_t)n);
            } else if (err->len < 4096) {
                buf_put(err, chunk, (size_t)n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
        rc = error_set(LOCH_EUNSUPPORTED, "PDF ingest needs pdftotext (Debian package poppler-utils)");
    else if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = error_set(LOCH_EINVALID, "pdftotext could not read it: %s", err->len ? err->data : "no reason given");
    return rc;
}

int pdf_pages_to_ndjson(const char *pdf_path, const char *name, const char *ndjson_path)
{
    buf text = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
    int rc = run_pdftotext(pdf_path, &text, &err);
    const char *p = text.data ? text.data : "", *end = p + text.len;
    for (long page = 1; rc == 0 && p < end; page++) {
        const char *ff = memchr(p, '\f', (size_t)(end - p)), *stop = ff ? ff : end;
        if (!ff && stop == p)
            break; /* nothing after the last page's form feed */
        rc = buf_puts(&out, "{\"file\":") || buf_put_json_str(&out, name) ||
             buf_printf(&out, ",\"page\":%ld,\"text\":", page) || buf_put_json_strn(&out, p, (size_t)(stop - p)) ||
             buf_puts(&out, "}\n") ? LOCH_ENOMEM : 0;
        p = ff ? ff + 1 : end;
    }
    if (rc == 0 && out.len == 0)
        rc = error_set(LOCH_EINVALID, "the PDF has no pages");
    FILE *f = rc ? NULL : fopen(ndjson_path, "wb");
    if (rc == 0 && (!f || fwrite(out.data, 1, out.len, f) != out.len))
        rc = error_errno(errno, "write", ndjson_path);
    if (f && fclose(f) != 0 && rc == 0)
        rc = error_errno(errno, "write", ndjson_path);
    buf_free(&text);
    buf_free(&err);
    buf_free(&out);
    return rc;
}
