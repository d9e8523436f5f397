/*
 * ingest/detect.c - what an input is: its format, whether it is compressed, and the
 * text encoding of a delimited file; and, when the engine finds text that is not
 * UTF-8, where it is not.
 *
 * The format is --format when given, else the name's extension (past .gz and .zst),
 * else the first bytes: PAR1, %PDF-, ARROW1 or an IPC stream's continuation marker,
 * '{' or '[' for JSON, anything else CSV. The encoding is --encoding when given, else
 * UTF-16 (little-endian) when the file starts with its byte order mark or looks like
 * UTF-16 text, else UTF-8; big-endian UTF-16 is refused with the way out. The engine
 * reads compressed files itself; compression matters here because the C scans read
 * plain bytes only.
 */
#include "ingest/ingest.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/utf8.h"

const char *ingest_format_of(const input *x, const char *given)
{
    static const char *const exts[][2] = {{".csv", "csv"}, {".tsv", "tsv"}, {".tab", "tsv"}, {".txt", "csv"},
                                          {".json", "json"}, {".ndjson", "ndjson"}, {".jsonl", "ndjson"},
                                          {".parquet", "parquet"}, {".pq", "parquet"}, {".pdf", "pdf"},
                                          {".arrow", "arrow"}, {".arrows", "arrow"}, {".feather", "arrow"},
                                          {".ipc", "arrow"}};
    if (given)
        return given;
    char name[4096];
    snprintf(name, sizeof(name), "%s", x->shown);
    for (const char *z = NULL; (z = strrchr(name, '.')) && (!strcasecmp(z, ".gz") || !strcasecmp(z, ".zst") ||
                                                           !strcasecmp(z, ".gzip") || !strcasecmp(z, ".zstd"));)
        name[z - name] = '\0';
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
        if (strcasecmp(dot, exts[i][0]) == 0)
            return exts[i][1];
    /* No telling name: look at the first bytes. */
    unsigned char head[8] = {0};
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
    if (fd >= 0)
        close(fd);
    if (n >= 4 && memcmp(head, "PAR1", 4) == 0)
        return "parquet";
    if (n >= 5 && memcmp(head, "%PDF-", 5) == 0)
        return "pdf";
    if ((n >= 6 && memcmp(head, "ARROW1", 6) == 0) || (n >= 4 && memcmp(head, "\xff\xff\xff\xff", 4) == 0))
        return "arrow"; /* the file format's magic, or a stream's first continuation marker */
    for (ssize_t i = 0; i < n; i++)
        if (!isspace(head[i]))
            return head[i] == '{' || head[i] == '[' ? "json" : "csv";
    return "csv";
}

int ingest_is_compressed(const input *x)
{
    const char *ext = strrchr(x->shown, '.');
    return ext && (!strcasecmp(ext, ".gz") || !strcasecmp(ext, ".zst") || !strcasecmp(ext, ".gzip") ||
                   !strcasecmp(ext, ".zstd"));
}

/* The text encoding of a delimited file: as given, else UTF-16 when the file starts
 * with its byte order mark (or looks like UTF-16 text without one), else UTF-8. */
int ingest_pick_encoding(input *x, const char *given)
{
    static const char *const names[][2] = {{"utf-8", "utf-8"}, {"utf8", "utf-8"}, {"utf-16", "utf-16"},
                                           {"utf16", "utf-16"}, {"utf-16le", "utf-16"}, {"latin-1", "latin-1"},
                                           {"latin1", "latin-1"}, {"iso-8859-1", "latin-1"}};
    x->encoding = "utf-8";
    if (given) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcasecmp(given, names[i][0]) == 0) {
                x->encoding = names[i][1];
                return 0;
            }
        return error_set(LOCH_EINVALID, "unknown encoding \"%s\" (utf-8, utf-16, latin-1)", given);
    }
    unsigned char head[4] = {0};
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : 0;
    if (fd >= 0)
        close(fd);
    if (n >= 2 && head[0] == 0xFE && head[1] == 0xFF)
        return error_set(LOCH_EUNSUPPORTED, "%s: UTF-16 big-endian text is not supported; convert it first "
                                            "(iconv -f UTF-16BE -t UTF-8)", x->shown);
    if ((n >= 2 && head[0] == 0xFF && head[1] == 0xFE) ||
        (n == 4 && head[0] && head[0] < 0x80 && !head[1] && head[2] && head[2] < 0x80 && !head[3]))
        x->encoding = "utf-16";
    return 0;
}

/* The engine says a file is not UTF-8 but not where: find the first bad byte and name
 * its line and column (in characters), and the way out. */
void ingest_explain_utf8(const input *x)
{
    const char *m = loch_error_last();
    struct stat st;
    if (strcmp(x->encoding ? x->encoding : "utf-8", "utf-8") != 0 || ingest_is_compressed(x) ||
        (!strcasestr(m, "unicode") && !strcasestr(m, "utf-8") && !strcasestr(m, "utf8")))
        return;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    const unsigned char *t = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (t == MAP_FAILED)
        return;
    size_t n = (size_t)st.st_size, bad = utf8_valid_prefix(t, n);
    if (bad < n) {
        long long line = 1, col = 1;
        for (size_t i = 0; i < bad; i++) {
            if (t[i] == '\n')
                line++, col = 1;
            else if ((t[i] & 0xC0) != 0x80)
                col++;
        }
        int csv = !strcmp(x->format, "csv") || !strcmp(x->format, "tsv");
        error_set(LOCH_EINVALID, "line %lld, column %lld: not valid UTF-8 (byte 0x%02X)%s", line, col, t[bad],
                  csv ? "; if the file is Latin-1, ingest it with --encoding latin-1" : " (JSON text is UTF-8)");
    }
    munmap((void *)t, n);
}
