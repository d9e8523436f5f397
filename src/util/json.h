/*
 * util/json.h - a strict JSON (RFC 8259) reader into a small tree.
 *
 * The Delta log is JSON, and so is everything a peer writer may put in it; this parser
 * is the first thing hostile bytes meet, so it is strict, bounded (nesting depth 128)
 * and fuzzed (fuzz/fuzz_log.c feeds it every line). Nodes live in a caller-provided arena.
 *
 * Numbers keep both an integer view (when the text is an integer that fits in int64)
 * and a double view. Strings are decoded to UTF-8 and may contain NUL (len says).
 */
#ifndef LOCH_UTIL_JSON_H
#define LOCH_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json json;
struct json {
    json_type type;
    const char *key;   /* member name inside an object, else NULL */
    json *next;        /* next element or member */
    json *child;       /* first element or member of an array/object */
    size_t len;        /* string length, or element count */
    const char *str;   /* JSON_STRING: decoded text; JSON_NUMBER: the literal */
    double num;
    int64_t i64;
    bool is_int;       /* number is an integer that fits int64 */
    bool boolean;
};

/* Parses exactly one JSON value (surrounding whitespace allowed). On error returns
 * LOCH_ECORRUPT with a message naming the byte offset. */
int json_parse(arena *a, const char *text, size_t len, json **out);

/* Member lookup; NULL when obj is not an object or has no such key. */
json *json_get(const json *obj, const char *key);
/* Typed getters that return a default when the node is missing or of another type. */
const char *json_get_str(const json *obj, const char *key);
int64_t json_get_i64(const json *obj, const char *key, int64_t dflt);
bool json_get_bool(const json *obj, const char *key, bool dflt);

/* Appends v as compact JSON text. */
int json_write(buf *out, const json *v);
#endif
