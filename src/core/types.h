/*
 * core/types.h - Delta's column types as values, and the rules for putting values of
 * one type into a column of another.
 *
 * A Delta schema spells a primitive type as a JSON string ("long", "decimal(10,2)") and
 * a nested one as an object (struct, array, map). delta_type_parse turns the JSON text
 * of either into a delta_type; nested types are one kind here, since no rule below
 * looks inside them.
 *
 * The rules loch applies when files of an ingest disagree with each other or with the
 * table (types_unify, types_fits): nothing may lose a value.
 *   - integers widen to the wider integer, up to long;
 *   - integers and floats widen to double (a long may round: the same trade Delta's own
 *     type widening makes for integer -> double);
 *   - date widens to timestamp_ntz (midnight);
 *   - a decimal meets only its equal: any other pairing, and everything else, becomes
 *     string, which holds every value's text;
 *   - nested types do not widen (the caller refuses them by name).
 */
#ifndef LOCH_CORE_TYPES_H
#define LOCH_CORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    DELTA_UNKNOWN = 0, /* a primitive name loch does not know (kept, never widened) */
    DELTA_BYTE, DELTA_SHORT, DELTA_INTEGER, DELTA_LONG, DELTA_FLOAT, DELTA_DOUBLE, DELTA_DECIMAL,
    DELTA_BOOLEAN, DELTA_STRING, DELTA_BINARY, DELTA_DATE, DELTA_TIMESTAMP, DELTA_TIMESTAMP_NTZ,
    DELTA_NESTED       /* struct, array or map */
} delta_kind;

typedef struct {
    delta_kind kind;
    int precision, scale;  /* DELTA_DECIMAL */
} delta_type;

/* Parses a schema's type JSON text ("\"long\"", "\"decimal(10,2)\"", {"type":...}).
 * LOCH_EINVALID for text that is neither a string nor an object. */
int delta_type_parse(const char *json_text, delta_type *out);
/* The JSON text of a primitive type ("\"decimal(10,2)\""); "" for DELTA_NESTED/UNKNOWN. */
const char *delta_type_json(const delta_type *t, char out[32]);

/* Equal primitives loch knows. Never true for nested or unknown types: callers compare
 * their JSON text, which a kind does not keep. */
bool types_equal(delta_type a, delta_type b);
/* The type both a and b fit in (the rules above). */
delta_type types_unify(delta_type a, delta_type b);
/* Whether a value of type from goes into a column of type to as it is. */
bool types_fits(delta_type from, delta_type to);

#endif
