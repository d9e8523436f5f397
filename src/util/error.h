/*
 * util/error.h - setting the thread-local error that loch_error_last() returns.
 *
 * Set the message where the failure is found, with its context; callers up the stack
 * return the code unchanged. error_prefix() lets an outer layer add context ("table
 * trips: ") without losing the inner cause.
 */
#ifndef LOCH_UTIL_ERROR_H
#define LOCH_UTIL_ERROR_H

#include "loch/errors.h"

#if defined(__GNUC__)
#define LOCH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOCH_PRINTF(a, b)
#endif

/* Records code and message; returns code so callers can `return error_set(...)`. */
int error_set(int code, const char *fmt, ...) LOCH_PRINTF(2, 3);
/* Prepends text to the current message, keeping its code; returns the code. */
int error_prefix(const char *fmt, ...) LOCH_PRINTF(1, 2);
/* Records an errno-based I/O failure: "<what> <path>: <strerror>"; returns LOCH_EIO. */
int error_errno(int err, const char *what, const char *path);
void error_clear(void);

#endif
