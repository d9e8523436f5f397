/*
 * core/types.c - Delta types and the widening rules. See types.h.
 */
#include "core/types.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

static const struct {
    const char *name;
    delta_kind kind;
} names[] = {
    {"byte", DELTA_BYTE}, {"short", DELTA_SHORT}, {"integer", DELTA_INTEGER}, {"long", DELTA_LONG},
    {"float", DELTA_FLOAT}, {"double", DELTA_DOUBLE}, {"boolean", DELTA_BOOLEAN}, {"string", DELTA_STRING},
    {"binary", DELTA_BINARY}, {"date", DELTA_DATE}, {"timestamp", DELTA_TIMESTAMP}, {"timestamp_ntz", DELTA_TIMESTAMP_NTZ},
};

int delta_type_parse(const char *text, delta_type *out)
{
    *out = (delta_type){DELTA_UNKNOWN, 0, 0};
    while (*text == ' ')
        text++;
    if (*text == '{') {
        out->kind = DELTA_NESTED;
        return 0;
    }
    size_t n = strlen(text);
    if (n < 2 || text[0] != '"' || text[n - 1] != '"')
        return error_set(LOCH_EINVALID, "not a Delta type: %.64s", text);
    const char *name = text + 1;
    n -= 2;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0) {
            out->kind = names[i].kind;
            return 0;
        }
    int p, s, used = 0;
    if (sscanf(name, "decimal(%d,%d)%n", &p, &s, &used) == 2 && (size_t)used == n && p >= 1 && p <= 38 && s >= 0 &&
        s <= p) {
        *out = (delta_type){DELTA_DECIMAL, p, s};
        return 0;
    }
    return 0; /* a name loch does not know: DELTA_UNKNOWN */
}

const char *delta_type_json(const delta_type *t, char out[32])
{
    out[0] = '\0';
    if (t->kind == DELTA_DECIMAL) {
        snprintf(out, 32, "\"decimal(%d,%d)\"", t->precision, t->scale);
        return out;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].kind == t->kind)
            snprintf(out, 32, "\"%s\"", names[i].name);
    return out;
}

/* 1..4 for byte..long, 0 otherwise. */
static int int_rank(delta_kind k) { return k >= DELTA_BYTE && k <= DELTA_LONG ? (int)(k - DELTA_BYTE) + 1 : 0; }
static bool is_float(delta_kind k) { return k == DELTA_FLOAT || k == DELTA_DOUBLE; }

bool types_equal(delta_type a, delta_type b)
{
    if (a.kind == DELTA_NESTED || a.kind == DELTA_UNKNOWN)
        return false; /* their text tells, not their kind */
    return a.kind == b.kind && (a.kind != DELTA_DECIMAL || (a.precision == b.precision && a.scale == b.scale));
}

delta_type types_unify(delta_type a, delta_type b)
{
    if (types_equal(a, b))
        return a;
    if (a.kind == DELTA_DECIMAL || b.kind == DELTA_DECIMAL)
        return (delta_type){DELTA_STRING, 0, 0}; /* a double would round them */
    if (int_rank(a.kind) && int_rank(b.kind))
        return (delta_type){DELTA_LONG, 0, 0};
    if ((int_rank(a.kind) || is_float(a.kind)) && (int_rank(b.kind) || is_float(b.kind)))
        return (delta_type){DELTA_DOUBLE, 0, 0};
    if ((a.kind == DELTA_DATE && b.kind == DELTA_TIMESTAMP_NTZ) || (b.kind == DELTA_DATE && a.kind == DELTA_TIMESTAMP_NTZ))
        return (delta_type){DELTA_TIMESTAMP_NTZ, 0, 0};
    return (delta_type){DELTA_STRING, 0, 0};
}

bool types_fits(delta_type from, delta_type to)
{
    if (types_equal(from, to) || to.kind == DELTA_STRING)
        return true;
    if (int_rank(from.kind) && int_rank(to.kind))
        return int_rank(from.kind) <= int_rank(to.kind);
    if (to.kind == DELTA_DOUBLE && (int_rank(from.kind) || from.kind == DELTA_FLOAT))
        return true;
    return from.kind == DELTA_DATE && to.kind == DELTA_TIMESTAMP_NTZ;
}
