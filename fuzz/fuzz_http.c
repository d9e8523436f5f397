/*
 * fuzz/fuzz_http.c - libFuzzer target for the HTTP API as a client sees it: any bytes
 * sent on a connection (request line, URL escapes, headers, Content-Length and chunked
 * framing, multipart bodies, JSON) get an HTTP answer or a closed connection, never a
 * crash, a hang or a 500. One server (a lake in a temporary directory, short header and
 * idle deadlines) serves every input of the process; each input is one connection that
 * the target half-closes after sending, then reads to the end.
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loch/loch.h"
#include "loch/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static loch_server *http_fuzz_server;
static char http_fuzz_dir[] = "/tmp/loch-fuzz-http-XXXXXX";

static int http_fuzz_remove(const char *path, const struct stat *st, int kind, struct FTW *ftw)
{
    (void)st, (void)kind, (void)ftw;
    remove(path); /* best effort: what cannot go stays */
    return 0;
}

/* the server stops and its lake goes at exit, so replays leave nothing in /tmp */
static void http_fuzz_done(void)
{
    loch_server_stop(http_fuzz_server, 0);
    http_fuzz_server = NULL;
    nftw(http_fuzz_dir, http_fuzz_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static int http_fuzz_start(void)
{
    if (!mkdtemp(http_fuzz_dir))
        return -1;
    static char lake[64];
    snprintf(lake, sizeof(lake), "%s/lake", http_fuzz_dir);
    loch_server_options o = LOCH_SERVER_OPTIONS_INIT;
    o.lake = lake;
    o.port = 0;
    o.workers = 1;
    o.threads = 1;
    o.memory_limit = "256MB";
    o.idle_timeout_s = 2;
    o.header_timeout_s = 2;
    o.query_timeout_ms = 5000;
    o.max_upload = 1 << 20;
    o.log = fopen("/dev/null", "w");
    int rc = loch_server_start(&http_fuzz_server, &o);
    if (rc == 0)
        atexit(http_fuzz_done);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!http_fuzz_server && http_fuzz_start() < 0) {
        fprintf(stderr, "fuzz_http: cannot start the server: %s\n", loch_error_last());
        abort();
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)loch_server_port(http_fuzz_server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {60, 0}; /* far past the server's own deadlines: a hang is a bug */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server hung up early: allowed */
        done += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char chunk[65536], head[16] = "";
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && got == 0 && size == 0)
            break;
        if (n < 0) {
            perror("fuzz_http: no answer and no close");
            abort();
        }
        if (n == 0)
            break;
        if (got < sizeof(head) - 1)
            memcpy(head + got, chunk, (size_t)n < sizeof(head) - 1 - got ? (size_t)n : sizeof(head) - 1 - got);
        got += (size_t)n;
    }
    close(fd);
    if (got && (strncmp(head, "HTTP/1.", 7) != 0 || head[9] < '1' || head[9] > '5')) {
        fprintf(stderr, "fuzz_http: not an HTTP answer: %.15s\n", head);
        abort();
    }
    if (got && strncmp(head + 9, "500", 3) == 0) {
        fprintf(stderr, "fuzz_http: a 500 answer\n");
        abort();
    }
    return 0;
}
