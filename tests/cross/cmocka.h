/* A stand-in for <cmocka.h>, for builds that have no CMocka for the target
 * (scripts/cross-neon.sh: the kernel tests cross-built for aarch64 and run
 * under qemu-aarch64, where no arm64 libcmocka is installed).
 *
 * It implements, in this header alone, the part of the CMocka 1.1 API that
 * the tests built this way use: struct CMUnitTest, cmocka_unit_test*(),
 * cmocka_run_group_tests*(), the assert_* macros on booleans, integers,
 * pointers, floats, memory and strings, fail(), fail_msg(), skip(),
 * print_message() and print_error(). Mocking (will_return, expect_*) and the
 * leak-checking allocators are not provided: a test that needs them does not
 * compile here.
 *
 * As in CMocka, a failing assertion ends the current test with longjmp, the
 * remaining tests still run, the output uses CMocka's "[ RUN      ]",
 * "[       OK ]", "[  FAILED  ]" ... lines, and cmocka_run_group_tests()
 * returns the number of failed tests (0: all passed or skipped).
 * Assertions must fail on the thread that runs the test; one that fails on
 * another thread reports the failure and aborts the program.
 *
 * Its functions are static: each file that includes it gets its own copy. */
#ifndef TDL_CROSS_CMOCKA_H
#define TDL_CROSS_CMOCKA_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TDL_CROSS_CMOCKA 1

#if defined(__GNUC__)
#define TDLCM_UNUSED       __attribute__((unused))
#define TDLCM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TDLCM_UNUSED
#define TDLCM_PRINTF(f, a)
#endif

typedef uintmax_t LargestIntegralType;

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

/* clang-format off */
#define cmocka_unit_test(f) {#f, f, NULL, NULL, NULL}
#define cmocka_unit_test_setup(f, setup) {#f, f, setup, NULL, NULL}
#define cmocka_unit_test_teardown(f, teardown) {#f, f, NULL, teardown, NULL}
#define cmocka_unit_test_setup_teardown(f, setup, teardown) {#f, f, setup, teardown, NULL}
#define cmocka_unit_test_prestate(f, state) {#f, f, NULL, NULL, state}
#define cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, state)                        \
    {#f, f, setup, teardown, state}
/* clang-format on */

#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
    tdlcm_run_group(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]),     \
                    group_setup, group_teardown)
#define cmocka_run_group_tests_name(group_name, group_tests, group_setup, group_teardown)          \
    tdlcm_run_group(group_name, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]),       \
                    group_setup, group_teardown)

/* ---- state of the running test ---------------------------------------- */

enum { TDLCM_RUNNING = 0, TDLCM_FAILED = 1, TDLCM_SKIPPED = 2 };

/* Set only on the thread running a test, while it runs. Weak, so that every
 * file of a program that includes this header (a test and tests/common's
 * helpers) shares them: an assertion in any of them ends the running test. */
#if defined(__GNUC__)
#define TDLCM_SHARED __attribute__((weak))
#else
#define TDLCM_SHARED static
#endif
TDLCM_SHARED _Thread_local jmp_buf *tdlcm_jmp;
TDLCM_SHARED _Thread_local int tdlcm_status;

TDLCM_PRINTF(1, 2) TDLCM_UNUSED static void print_message(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fflush(stderr);
    vfprintf(stdout, format, ap);
    fflush(stdout);
    va_end(ap);
}

TDLCM_PRINTF(1, 2) TDLCM_UNUSED static void print_error(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fflush(stdout);
    vfprintf(stderr, format, ap);
    fflush(stderr);
    va_end(ap);
}

/* Ends the running test (status TDLCM_FAILED or TDLCM_SKIPPED). */
_Noreturn TDLCM_UNUSED static void tdlcm_stop(int status, const char *file, int line)
{
    if (status == TDLCM_FAILED)
        print_error("[   LINE   ] --- %s:%d: error: Failure!\n", file, line);
    else
        print_error("%s:%d: Skipped!\n", file, line);
    if (tdlcm_jmp == NULL) {
        print_error("[  ERROR   ] --- assertion outside a test or on a thread other than the "
                    "test's: aborting\n");
        abort();
    }
    tdlcm_status = status;
    longjmp(*tdlcm_jmp, 1);
}

#define fail() tdlcm_stop(TDLCM_FAILED, __FILE__, __LINE__)
#define skip() tdlcm_stop(TDLCM_SKIPPED, __FILE__, __LINE__)
#define fail_msg(...)                                                                              \
    do {                                                                                           \
        print_error("[  ERROR   ] --- ");                                                          \
        print_error(__VA_ARGS__);                                                                  \
        print_error("\n");                                                                         \
        fail();                                                                                    \
    } while (0)

/* ---- assertions ------------------------------------------------------- */

TDLCM_UNUSED static void tdlcm_check(int ok, const char *what, const char *file, int line)
{
    if (!ok) {
        print_error("[  ERROR   ] --- %s\n", what);
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

#define assert_true(c)     tdlcm_check(!!(c), #c " is not true", __FILE__, __LINE__)
#define assert_false(c)    tdlcm_check(!(c), #c " is not false", __FILE__, __LINE__)
#define assert_non_null(c) tdlcm_check((c) != NULL, #c " is NULL", __FILE__, __LINE__)
#define assert_null(c)     tdlcm_check((c) == NULL, #c " is not NULL", __FILE__, __LINE__)
#define assert_ptr_equal(a, b)                                                                     \
    tdlcm_check((const void *)(a) == (const void *)(b), #a " != " #b, __FILE__, __LINE__)
#define assert_ptr_not_equal(a, b)                                                                 \
    tdlcm_check((const void *)(a) != (const void *)(b), #a " == " #b, __FILE__, __LINE__)

TDLCM_UNUSED static void tdlcm_int_equal(uintmax_t a, uintmax_t b, int want_equal, const char *file,
                                         int line)
{
    if ((a == b) != want_equal) {
        print_error("[  ERROR   ] --- %" PRIdMAX " (%#" PRIxMAX ") %s %" PRIdMAX " (%#" PRIxMAX
                    ")\n",
                    (intmax_t)a, a, want_equal ? "!=" : "==", (intmax_t)b, b);
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

/* Integers compare as uintmax_t, as in CMocka. */
#define assert_int_equal(a, b)                                                                     \
    tdlcm_int_equal((uintmax_t)(a), (uintmax_t)(b), 1, __FILE__, __LINE__)
#define assert_int_not_equal(a, b)                                                                 \
    tdlcm_int_equal((uintmax_t)(a), (uintmax_t)(b), 0, __FILE__, __LINE__)

TDLCM_UNUSED static void tdlcm_in_range(intmax_t v, intmax_t lo, intmax_t hi, int want_in,
                                        const char *file, int line)
{
    if ((v >= lo && v <= hi) != want_in) {
        print_error("[  ERROR   ] --- %" PRIdMAX " is %s range [%" PRIdMAX ", %" PRIdMAX "]\n", v,
                    want_in ? "not in" : "in", lo, hi);
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

#define assert_in_range(v, lo, hi)                                                                 \
    tdlcm_in_range((intmax_t)(v), (intmax_t)(lo), (intmax_t)(hi), 1, __FILE__, __LINE__)
#define assert_not_in_range(v, lo, hi)                                                             \
    tdlcm_in_range((intmax_t)(v), (intmax_t)(lo), (intmax_t)(hi), 0, __FILE__, __LINE__)

/* CMocka's rule: equal when |a - b| <= epsilon, or within FLT_EPSILON
 * relative to the larger magnitude. */
TDLCM_UNUSED static void tdlcm_float_equal(float a, float b, float eps, int want_equal,
                                           const char *file, int line)
{
    float diff = a - b;
    float aa = a < 0 ? -a : a, ab = b < 0 ? -b : b;
    float largest = aa > ab ? aa : ab;
    if (diff < 0)
        diff = -diff;
    int equal = diff <= eps || diff <= largest * 1.19209290e-7f;
    if (equal != want_equal) {
        print_error("[  ERROR   ] --- %.9g %s %.9g (epsilon %.9g)\n", (double)a,
                    want_equal ? "!=" : "==", (double)b, (double)eps);
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

#define assert_float_equal(a, b, epsilon)                                                          \
    tdlcm_float_equal((float)(a), (float)(b), (float)(epsilon), 1, __FILE__, __LINE__)
#define assert_float_not_equal(a, b, epsilon)                                                      \
    tdlcm_float_equal((float)(a), (float)(b), (float)(epsilon), 0, __FILE__, __LINE__)

TDLCM_UNUSED static void tdlcm_memory_equal(const void *a, const void *b, size_t size,
                                            int want_equal, const char *file, int line)
{
    const unsigned char *pa = a, *pb = b;
    size_t first = size, differ = 0;
    for (size_t i = 0; i < size; i++) {
        if (pa[i] != pb[i]) {
            if (differ++ == 0)
                first = i;
        }
    }
    if ((differ == 0) != want_equal) {
        if (want_equal)
            print_error("[  ERROR   ] --- %zu of %zu bytes differ; first at offset %zu: "
                        "0x%02x != 0x%02x\n",
                        differ, size, first, pa[first], pb[first]);
        else
            print_error("[  ERROR   ] --- the %zu bytes are all equal\n", size);
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

#define assert_memory_equal(a, b, size)                                                            \
    tdlcm_memory_equal((const void *)(a), (const void *)(b), (size_t)(size), 1, __FILE__, __LINE__)
#define assert_memory_not_equal(a, b, size)                                                        \
    tdlcm_memory_equal((const void *)(a), (const void *)(b), (size_t)(size), 0, __FILE__, __LINE__)

TDLCM_UNUSED static void tdlcm_string_equal(const char *a, const char *b, int want_equal,
                                            const char *file, int line)
{
    int equal = (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
    if (equal != want_equal) {
        print_error("[  ERROR   ] --- \"%s\" %s \"%s\"\n", a ? a : "(null)",
                    want_equal ? "!=" : "==", b ? b : "(null)");
        tdlcm_stop(TDLCM_FAILED, file, line);
    }
}

#define assert_string_equal(a, b)                                                                  \
    tdlcm_string_equal((const char *)(a), (const char *)(b), 1, __FILE__, __LINE__)
#define assert_string_not_equal(a, b)                                                              \
    tdlcm_string_equal((const char *)(a), (const char *)(b), 0, __FILE__, __LINE__)

/* ---- the runner --------------------------------------------------------- */

/* Calls test(state) or, when test is NULL, fixture(state); returns the status
 * (a fixture that returns non-zero fails). */
TDLCM_UNUSED static int tdlcm_protected(CMUnitTestFunction test, CMFixtureFunction fixture,
                                        void **state, const char *what)
{
    jmp_buf env;
    tdlcm_status = TDLCM_RUNNING;
    if (setjmp(env) == 0) {
        tdlcm_jmp = &env;
        if (test != NULL) {
            test(state);
        } else {
            int rc = fixture(state);
            if (rc != 0) {
                print_error("[  ERROR   ] --- %s returned %d\n", what, rc);
                tdlcm_status = TDLCM_FAILED;
            }
        }
    }
    tdlcm_jmp = NULL;
    return tdlcm_status;
}

TDLCM_UNUSED static int tdlcm_run_group(const char *group_name, const struct CMUnitTest *tests,
                                        size_t count, CMFixtureFunction group_setup,
                                        CMFixtureFunction group_teardown)
{
    (void)group_name;
    size_t passed = 0, failed = 0, skipped = 0, i;
    unsigned char *result = calloc(count ? count : 1, 1);
    void *group_state = NULL;

    if (result == NULL) {
        print_error("[  ERROR   ] out of memory\n");
        return (int)(count ? count : 1);
    }
    print_message("[==========] Running %zu test(s).\n", count);
    if (group_setup != NULL &&
        tdlcm_protected(NULL, group_setup, &group_state, "group setup") != TDLCM_RUNNING) {
        print_error("[  FAILED  ] GROUP SETUP\n");
        free(result);
        return (int)(count ? count : 1);
    }
    for (i = 0; i < count; i++) {
        const struct CMUnitTest *t = &tests[i];
        void *state = t->initial_state != NULL ? t->initial_state : group_state;
        int st = TDLCM_RUNNING;
        print_message("[ RUN      ] %s\n", t->name);
        if (t->setup_func != NULL)
            st = tdlcm_protected(NULL, t->setup_func, &state, "setup");
        if (st == TDLCM_RUNNING) {
            st = tdlcm_protected(t->test_func, NULL, &state, t->name);
            if (t->teardown_func != NULL) {
                int td = tdlcm_protected(NULL, t->teardown_func, &state, "teardown");
                if (td == TDLCM_FAILED)
                    st = TDLCM_FAILED;
            }
        }
        result[i] = (unsigned char)st;
        if (st == TDLCM_RUNNING) {
            passed++;
            print_message("[       OK ] %s\n", t->name);
        } else if (st == TDLCM_SKIPPED) {
            skipped++;
            print_message("[  SKIPPED ] %s\n", t->name);
        } else {
            failed++;
            print_message("[  FAILED  ] %s\n", t->name);
        }
    }
    if (group_teardown != NULL &&
        tdlcm_protected(NULL, group_teardown, &group_state, "group teardown") == TDLCM_FAILED) {
        print_error("[  FAILED  ] GROUP TEARDOWN\n");
        failed++;
    }

    print_message("[==========] %zu test(s) run.\n", count);
    print_message("[  PASSED  ] %zu test(s).\n", passed);
    if (skipped > 0) {
        print_message("[  SKIPPED ] %zu test(s), listed below:\n", skipped);
        for (i = 0; i < count; i++)
            if (result[i] == TDLCM_SKIPPED)
                print_message("[  SKIPPED ] %s\n", tests[i].name);
    }
    if (failed > 0) {
        print_message("[  FAILED  ] %zu test(s), listed below:\n", failed);
        for (i = 0; i < count; i++)
            if (result[i] == TDLCM_FAILED)
                print_message("[  FAILED  ] %s\n", tests[i].name);
        print_message("\n %zu FAILED TEST(S)\n", failed);
    }
    free(result);
    return (int)failed;
}

#endif /* TDL_CROSS_CMOCKA_H */
