/*
 * util/utf8.h - UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF), for text that a consumer will trust and for error messages that
 * point at the first bad byte; and lowercasing, for names that other engines compare
 * without regard to case.
 */
#ifndef LOCH_UTIL_UTF8_H
#define LOCH_UTIL_UTF8_H

#include <stddef.h>

/* The length of the longest valid prefix of s[0..n): n when all of it is valid. */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);
/* s with every letter lowercased by Unicode's simple mapping (glibc's C.UTF-8 tables,
 * through a locale object: the process's own locale is never touched), as a malloc'd
 * string (NULL when out of memory). Bytes that are not valid UTF-8 are copied as they
 * are. Where the C.UTF-8 locale is missing only ASCII is lowercased. */
char *utf8_lower(const char *s);

#endif
