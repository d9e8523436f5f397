/*
 * util/misc.h - small helpers with no better home: time, UUIDs, URI decoding, and
 * ISO-8601 parsing for time travel.
 */
#ifndef LOCH_UTIL_MISC_H
#define LOCH_UTIL_MISC_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
int64_t time_now_ms(void);
/* Monotonic seconds, for timings and backoff. */
double time_mono(void);
/* A random (version 4) UUID as 36 lowercase characters + NUL. */
void uuid_v4(char out[37]);
/* Decodes %XX escapes (RFC 2396) in place; returns LOCH_ECORRUPT on a bad escape. */
int uri_decode(char *s);
/* Encodes a relative path for an add action's `path` (RFC 2396): unreserved and '/'
 * kept, everything else %XX. Returns a malloc'd string or NULL. */
char *uri_encode_path(const char *s);
/* Parses "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM]" (UTC when no zone) to ms. */
int iso8601_parse_ms(const char *s, int64_t *out_ms);
/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes with NUL). */
void iso8601_format_ms(int64_t ms, char out[32]);
/* Test hook: when spec ("point[,point...]:dir", a lake's test_hold option) names this
 * point, the process creates dir/<point>.<pid>.reached and waits until dir/<point>.go
 * exists, so a test orders a race exactly instead of sleeping. Does nothing when spec
 * is NULL or names other points. */
void hold_at(const char *spec, const char *point);
/* The first index of a[0..n) (sorted ascending) whose value is >= v; n when none is. */
size_t u64_lower_bound(const uint64_t *a, size_t n, uint64_t v);

#endif
