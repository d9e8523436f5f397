/*
 * tests/unit/test_render.c - the one renderer of result cells (util/render.h): a number
 * stays a JSON number only when JSON's grammar (RFC 8259 section 6) says it is one, so
 * "inf", "nan" and anything else odd is quoted instead of breaking the reader; CSV
 * quoting follows RFC 4180.
 */
#include <string.h>

#include "test.h"
#include "util/render.h"

static int number(const char *v) { return render_is_json_number(v, strlen(v)); }

static void test_json_number_grammar(void)
{
    static const char *const yes[] = {"0", "-0", "7", "-12", "12.50", "0.5", "1e300", "1E+10", "-2.5e-3",
                                      "170141183460469231731687303715884105727"};
    static const char *const no[] = {"", "-", "inf", "-inf", "nan", "NaN", "Infinity", "+1", "01", ".5", "5.",
                                     "1e", "1e+", "0x10", "1 ", " 1", "1,5", "--1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        CHECK(number(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(!number(no[i]));
    CHECK(render_is_json_number("12x", 2)); /* only the first len bytes count */
}

static const char *json(const char *v, loch_kind k, buf *b)
{
    buf_clear(b);
    CHECK(render_json_value(b, v, v ? strlen(v) : 0, k) == 0);
    return b->data;
}

static const char *csv(const char *v, buf *b)
{
    buf_clear(b);
    CHECK(render_csv_value(b, v, v ? strlen(v) : 0) == 0);
    return b->data ? b->data : "";
}

static void test_values(void)
{
    buf b = BUF_INIT;
    CHECK_STR(json(NULL, LOCH_KIND_NUMBER, &b), "null");
    CHECK_STR(json("1.5", LOCH_KIND_NUMBER, &b), "1.5");
    CHECK_STR(json("inf", LOCH_KIND_NUMBER, &b), "\"inf\"");
    CHECK_STR(json("-inf", LOCH_KIND_NUMBER, &b), "\"-inf\"");
    CHECK_STR(json("nan", LOCH_KIND_NUMBER, &b), "\"nan\"");
    CHECK_STR(json("true", LOCH_KIND_BOOL, &b), "true");
    CHECK_STR(json("[1, 2]", LOCH_KIND_NESTED, &b), "[1, 2]");
    CHECK_STR(json("a\"b\n", LOCH_KIND_STRING, &b), "\"a\\\"b\\n\"");
    CHECK_STR(json("12", LOCH_KIND_STRING, &b), "\"12\"");
    CHECK_STR(csv(NULL, &b), "");
    CHECK_STR(csv("plain", &b), "plain");
    CHECK_STR(csv("a,b", &b), "\"a,b\"");
    CHECK_STR(csv("say \"hi\"", &b), "\"say \"\"hi\"\"\"");
    CHECK_STR(csv("two\nlines", &b), "\"two\nlines\"");
    buf_free(&b);
}

TEST_MAIN(T(test_json_number_grammar), T(test_values))
