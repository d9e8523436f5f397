/*
 * util/utf8.h - UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF), for text that a consumer will trust and for error messages that
 * point at the first bad byte.
 */
#ifndef LOCH_UTIL_UTF8_H
#define LOCH_UTIL_UTF8_H

#include <stddef.h>

/* The length of the longest valid prefix of s[0..n): n when all of it is valid. */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);

#endif
