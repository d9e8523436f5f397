/*
 * tests/unit/test_types.c - Delta types and the widening rules of core/types.h, as
 * tables: every pair of the primitive kinds, unified and fitted.
 */
#include <string.h>

#include "core/types.h"
#include "test.h"
#include "util/error.h"

static delta_type T_(const char *json)
{
    delta_type t;
    CHECK_OK(delta_type_parse(json, &t));
    return t;
}

static void test_parse_and_print(void)
{
    static const char *round[] = {"\"byte\"", "\"short\"", "\"integer\"", "\"long\"", "\"float\"", "\"double\"",
                                  "\"boolean\"", "\"string\"", "\"binary\"", "\"date\"", "\"timestamp\"",
                                  "\"timestamp_ntz\"", "\"decimal(10,2)\"", "\"decimal(38,0)\""};
    char out[32];
    for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
        delta_type t = T_(round[i]);
        CHECK_STR(delta_type_json(&t, out), round[i]);
    }
    CHECK(T_("{\"type\":\"struct\",\"fields\":[]}").kind == DELTA_NESTED);
    CHECK(T_("\"interval\"").kind == DELTA_UNKNOWN);
    CHECK(T_("\"decimal(39,0)\"").kind == DELTA_UNKNOWN && T_("\"decimal(5,6)\"").kind == DELTA_UNKNOWN);
    CHECK(T_("\"decimal(10,2)x\"").kind == DELTA_UNKNOWN);
    delta_type t;
    CHECK(delta_type_parse("long", &t) == LOCH_EINVALID);
    CHECK(delta_type_parse("", &t) == LOCH_EINVALID);
}

/* unify(a, b) and whether a fits b, for a grid of types; symmetric unify checked too. */
static const struct {
    const char *a, *b, *unified;
    bool a_fits_b;
} grid[] = {
    {"\"byte\"", "\"short\"", "\"long\"", true},
    {"\"short\"", "\"byte\"", "\"long\"", false},
    {"\"integer\"", "\"long\"", "\"long\"", true},
    {"\"long\"", "\"integer\"", "\"long\"", false},
    {"\"long\"", "\"long\"", "\"long\"", true},
    {"\"integer\"", "\"double\"", "\"double\"", true},
    {"\"long\"", "\"float\"", "\"double\"", false},
    {"\"float\"", "\"double\"", "\"double\"", true},
    {"\"double\"", "\"float\"", "\"double\"", false},
    {"\"decimal(10,2)\"", "\"decimal(10,2)\"", "\"decimal(10,2)\"", true},
    {"\"decimal(10,2)\"", "\"decimal(12,2)\"", "\"string\"", false},
    {"\"decimal(10,2)\"", "\"double\"", "\"string\"", false},
    {"\"long\"", "\"decimal(20,0)\"", "\"string\"", false},
    {"\"date\"", "\"timestamp_ntz\"", "\"timestamp_ntz\"", true},
    {"\"timestamp_ntz\"", "\"date\"", "\"timestamp_ntz\"", false},
    {"\"date\"", "\"timestamp\"", "\"string\"", false},
    {"\"boolean\"", "\"long\"", "\"string\"", false},
    {"\"long\"", "\"string\"", "\"string\"", true},
    {"\"binary\"", "\"string\"", "\"string\"", true},
    {"\"string\"", "\"long\"", "\"string\"", false},
    {"\"timestamp\"", "\"timestamp\"", "\"timestamp\"", true},
};

static void test_unify_and_fits(void)
{
    char out[32];
    for (size_t i = 0; i < sizeof(grid) / sizeof(grid[0]); i++) {
        delta_type a = T_(grid[i].a), b = T_(grid[i].b), u = types_unify(a, b), v = types_unify(b, a);
        if (strcmp(delta_type_json(&u, out), grid[i].unified) != 0)
            fprintf(stderr, "  unify(%s, %s) = %s, want %s\n", grid[i].a, grid[i].b, out, grid[i].unified);
        CHECK_STR(delta_type_json(&u, out), grid[i].unified);
        CHECK_STR(delta_type_json(&v, out), grid[i].unified);
        CHECK(types_fits(a, b) == grid[i].a_fits_b);
        /* both always fit their unified type */
        CHECK(types_fits(a, u) && types_fits(b, u));
    }
}

static void test_nested_and_unknown_never_equal(void)
{
    delta_type n = T_("{\"type\":\"array\"}"), m = T_("{\"type\":\"map\"}"), x = T_("\"interval\"");
    CHECK(!types_equal(n, m) && !types_equal(n, n) && !types_equal(x, x));
    char out[32];
    delta_type u = types_unify(n, m);
    CHECK_STR(delta_type_json(&u, out), "\"string\"");
}

TEST_MAIN(T(test_parse_and_print), T(test_unify_and_fits), T(test_nested_and_unknown_never_equal))
