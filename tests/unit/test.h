/*
 * tests/unit/test.h - the unit-test harness: one binary per file, each test a function,
 * CHECK() records a failure with file:line and goes on; main() comes from TEST_MAIN.
 * A binary prints "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef LOCH_TEST_H
#define LOCH_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_now;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            test_failures_now++;                                                     \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                   \
    do {                                                                                  \
        const char *a_ = (a), *b_ = (b);                                                  \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                          \
            fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,            \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                              \
            test_failures_now++;                                                          \
        }                                                                                 \
    } while (0)

#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        if (rc_ < 0) {                                                                    \
            fprintf(stderr, "  %s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #expr, rc_,     \
                    loch_error_last());                                                   \
            test_failures_now++;                                                          \
        }                                                                                 \
    } while (0)

/* A fresh directory for one test (malloc'd path, NULL on failure), and its removal. */
static inline char *temp_dir(void)
{
    char tmpl[] = "/tmp/loch-unit-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void remove_temp_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST_MAIN(...)                                                                 \
    int main(void)                                                                     \
    {                                                                                  \
        test_case cases[] = {__VA_ARGS__};                                             \
        int passed = 0, failed = 0;                                                    \
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {               \
            test_failures_now = 0;                                                     \
            cases[i].fn();                                                             \
            if (test_failures_now) {                                                   \
                failed++;                                                              \
                fprintf(stderr, "FAIL %s\n", cases[i].name);                           \
            } else {                                                                   \
                passed++;                                                              \
            }                                                                          \
        }                                                                              \
        printf("%s: %d passed, %d failed\n", __FILE__, passed, failed);                \
        return failed ? 1 : 0;                                                         \
    }

#define T(fn) {#fn, fn}

#endif
