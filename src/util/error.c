/*
 * util/error.c - the thread-local last error.
 *
 * One fixed buffer per thread: setting an error never allocates, so out-of-memory
 * can still be reported.
 */
#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERROR_CAP 2048

static _Thread_local char message[ERROR_CAP];
static _Thread_local int last_code;

const char *loch_error_last(void) { return message; }
int loch_error_last_code(void) { return last_code; }

const char *loch_error_name(int code)
{
    switch (code) {
    case LOCH_OK: return "OK";
    case LOCH_ERROR: return "ERROR";
    case LOCH_ENOTFOUND: return "ENOTFOUND";
    case LOCH_EEXISTS: return "EEXISTS";
    case LOCH_ECONFLICT: return "ECONFLICT";
    case LOCH_EINVALID: return "EINVALID";
    case LOCH_EIO: return "EIO";
    case LOCH_ECORRUPT: return "ECORRUPT";
    case LOCH_ENOMEM: return "ENOMEM";
    case LOCH_EUNSUPPORTED: return "EUNSUPPORTED";
    case LOCH_EPERM: return "EPERM";
    case LOCH_EINTERRUPTED: return "EINTERRUPTED";
    default: return "EUNKNOWN";
    }
}

int error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    last_code = code;
    return code;
}

int error_prefix(const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    size_t plen = n < 0 ? 0 : (size_t)n < sizeof(prefix) ? (size_t)n : sizeof(prefix) - 1;
    size_t mlen = strlen(message);
    if (plen + mlen >= ERROR_CAP)
        mlen = ERROR_CAP - 1 - plen; /* keep the prefix; cut the tail of the cause */
    memmove(message + plen, message, mlen);
    memcpy(message, prefix, plen);
    message[plen + mlen] = '\0';
    return last_code;
}

int error_errno(int err, const char *what, const char *path)
{
    int code = (err == ENOENT) ? LOCH_ENOTFOUND : (err == EEXIST) ? LOCH_EEXISTS
             : (err == ENOMEM) ? LOCH_ENOMEM : LOCH_EIO;
    return error_set(code, "%s %s: %s", what, path, strerror(err));
}

void error_clear(void)
{
    message[0] = '\0';
    last_code = 0;
}
