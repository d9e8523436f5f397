/*
 * util/conf.h - the subset of TOML a loch configuration file uses:
 *
 *   # comment
 *   [server]                      sections name the keys' prefix: server.listen
 *   listen = "127.0.0.1:8420"     strings (basic, with \" \\ \n \t escapes, or 'literal')
 *   workers = 4                   integers, true/false
 *   tokens = ["a", "b"]           arrays of strings (on one line)
 *
 * Anything else is an error naming its line. Values are kept as text; arrays as their
 * elements joined by '\n'.
 */
#ifndef LOCH_UTIL_CONF_H
#define LOCH_UTIL_CONF_H

#include <stddef.h>

typedef struct {
    char *key;      /* "section.key", or "key" before any section */
    char *value;
    int is_array;
    int line;
} conf_item;

typedef struct {
    conf_item *v;
    size_t n;
} conf;

/* Parses text; on error returns LOCH_EINVALID with "line N: ..." as the message. */
int conf_parse(conf *out, const char *text, size_t len);
/* The value of key, or NULL. */
const conf_item *conf_get(const conf *c, const char *key);
void conf_free(conf *c);

#endif
