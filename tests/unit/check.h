/* Minimal assertion macros for unit tests: a failed check prints where and why, and the test
 * binary exits non-zero at the end. Checks never compile out. */
#ifndef IG_TEST_CHECK_H
#define IG_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ig_test_failures;
static int ig_test_checks;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        ig_test_checks++;                                                                                    \
        if (!(cond)) {                                                                                       \
            ig_test_failures++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                         \
        }                                                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                   \
    do {                                                                                                     \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                                \
        ig_test_checks++;                                                                                    \
        if (va_ != vb_) {                                                                                    \
            ig_test_failures++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, expected %s == %lld\n", __FILE__,       \
                    __LINE__, #a, va_, #b, vb_);                                                             \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *sa_ = (a), *sb_ = (b);                                                                   \
        ig_test_checks++;                                                                                    \
        if (!sa_ || !sb_ || strcmp(sa_, sb_)) {                                                              \
            ig_test_failures++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,  \
                    #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                                         \
        }                                                                                                    \
    } while (0)

/* Call at the end of main. */
#define CHECK_DONE()                                                                                         \
    (printf("%d checks, %d failed\n", ig_test_checks, ig_test_failures), ig_test_failures ? 1 : 0)

#endif
