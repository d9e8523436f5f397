/*
 * vector/reply.h - what a language model's reply holds, for loch_ask (ops/ask.c).
 *
 * A reply is untrusted text of any bytes: these read it without ever reading past its
 * NUL, and what they give back is checked again by the caller (the query by the engine's
 * parser and planner, the citations against the passages shown).
 */
#ifndef LOCH_VECTOR_REPLY_H
#define LOCH_VECTOR_REPLY_H

#include <stddef.h>

/* The query in a reply: the first ```sql (or ```) block, else the whole reply; without
 * blank space around it and trailing semicolons. NULL when there is none (or no memory). */
char *reply_sql(const char *reply);
/* The reply with its citations checked against npass passages. A citation is a bracket
 * ([ ], fullwidth ［ ］ or 【 】) around digits with only spaces, commas, semicolons or
 * dashes between them ([2], [1, 3], [7-9]); it keeps the numbers 1..npass, each marked
 * in cited[n - 1], written as [1, 3], and loses the rest (one left empty goes whole);
 * other text is kept as it is. NULL when out of memory. */
char *reply_citations(const char *text, size_t npass, int *cited);

#endif
