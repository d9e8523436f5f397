/*
 * util/options.h - the one version check of every public options struct.
 *
 * Each public options struct (loch_lake_options, loch_ingest_options,
 * loch_server_options) starts with `unsigned int version` and only ever grows at its
 * end, and its LOCH_X_OPTIONS_VERSION names the newest layout. A program built against
 * an older loch passes an older, shorter struct: options_copy takes exactly the fields
 * that version has and leaves the later ones at their defaults, so the old program
 * keeps working and nothing reads past the end of what it passed. Version 0, or one
 * newer than this loch knows, is LOCH_EINVALID: never guessed at.
 */
#ifndef LOCH_UTIL_OPTIONS_H
#define LOCH_UTIL_OPTIONS_H

#include <stddef.h>

/* out holds the defaults (the struct's _INIT) and is overwritten by the first
 * sizes[v - 1] bytes of given, v being given's version; sizes[k] is the struct's size at
 * version k + 1, for versions 1..newest. given NULL keeps the defaults. On return
 * out's version is newest, since every field is now set. name ("loch_lake_options")
 * is for the message. */
int options_copy(void *out, const void *given, const size_t *sizes, unsigned newest, const char *name);

#endif
