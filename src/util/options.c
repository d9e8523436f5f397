/*
 * util/options.c - see options.h: copying a caller's options struct by its version.
 */
#include "util/options.h"

#include <string.h>

#include "util/error.h"

int options_copy(void *out, const void *given, const size_t *sizes, unsigned newest, const char *name)
{
    unsigned version;
    if (!given) {
        memcpy(out, &newest, sizeof(newest));
        return 0;
    }
    memcpy(&version, given, sizeof(version)); /* every options struct starts with it */
    if (version < 1 || version > newest)
        return error_set(LOCH_EINVALID, "%s version %u is not supported (this loch knows versions 1 to %u)", name,
                         version, newest);
    memcpy(out, given, sizes[version - 1]);
    memcpy(out, &newest, sizeof(newest));
    return 0;
}
