/*
 * loch/errors.h - result codes and the last error message.
 *
 * Every fallible loch function returns 0 on success or one of the negative codes
 * below. The message for the most recent failure on the calling thread is kept in
 * thread-local storage and read with loch_error_last(); it names the context (table,
 * version, file, step) so a user can act on it without a debugger.
 */
#ifndef LOCH_ERRORS_H
#define LOCH_ERRORS_H

#include "loch/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LOCH_OK = 0,
    LOCH_ERROR = -1,       /* generic failure; the message says more */
    LOCH_ENOTFOUND = -2,   /* table, version or file does not exist */
    LOCH_EEXISTS = -3,     /* it already exists */
    LOCH_ECONFLICT = -4,   /* a concurrent commit made ours impossible */
    LOCH_EINVALID = -5,    /* bad argument, SQL or option */
    LOCH_EIO = -6,         /* storage failed */
    LOCH_ECORRUPT = -7,    /* on-disk state violates the format */
    LOCH_ENOMEM = -8,      /* allocation failed */
    LOCH_EUNSUPPORTED = -9,/* valid, but loch does not implement it (yet) */
    LOCH_EPERM = -10,      /* refused by the sandbox */
    LOCH_EINTERRUPTED = -11/* cancelled by the user */
} loch_error_code;

/* The message of the last failure on this thread, never NULL ("" when none). */
LOCH_EXTERN const char *loch_error_last(void);

/* The code of the last failure on this thread (0 when none). */
LOCH_EXTERN int loch_error_last_code(void);

/* A short constant name for a code, e.g. "ENOTFOUND". */
LOCH_EXTERN const char *loch_error_name(int code);

#ifdef __cplusplus
}
#endif
#endif
