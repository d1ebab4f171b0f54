/* Shared helpers for the CMocka suites. */
#ifndef TDL_TEST_UTIL_H
#define TDL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <tiny-dl/tiny-dl.h>

/* ---- an allocator that fails on demand and counts what is live ---- */
typedef struct test_alloc {
    int64_t fail_at; /* fail the Nth allocation (1-based); 0 = never */
    int64_t calls;   /* allocations attempted */
    int64_t live;    /* allocations not yet freed */
    int64_t failed;  /* allocations refused */
} test_alloc;

/* A context using the counting allocator `a` (reset by this call). */
tdl_ctx *test_ctx_with_alloc(test_alloc *a, int64_t fail_at);
void test_alloc_reset(test_alloc *a, int64_t fail_at);

/* A context with the normal allocator; fails the test on error. */
tdl_ctx *test_ctx(void);

/* Deterministic pseudo-random floats in [lo, hi). */
void test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);

/* ---- gradient checks by central finite differences ----
 * Every trainable parameter of g is perturbed element by element; `loss` must
 * be a scalar computable by tdl_forward() with the inputs already fed. The
 * analytic gradient comes from tdl_backward(). Returns the number of elements
 * out of tolerance (printing the first few), so tests assert it is 0.
 * Tolerance: |num - ana| <= atol + rtol * max(|num|, |ana|). With eps = 1e-3
 * in float32 the central difference has truncation error O(eps^2 f''') and a
 * rounding error of about ulp(loss)/eps ~ 1e-4 * |loss|, so atol 2e-3 and
 * rtol 2e-2 separate a correct rule from a wrong one by orders of magnitude. */
int test_gradcheck(tdl_graph *g, tdl_node *loss, float eps, float atol, float rtol);

/* sum(y * w) with fixed random weights w: a scalar whose gradient dy = w is
 * different for every element (a plain sum would hide transposition bugs).
 * y must have a concrete shape. */
tdl_node *test_weighted_sum(tdl_graph *g, tdl_node *y, uint64_t seed);

/* A parameter with values uniform in [lo, hi) (from a fixed seed). */
tdl_node *test_param(tdl_graph *g, const char *name, int32_t ndim, const int64_t *shape, float lo,
                     float hi);

/* Fashion-MNIST folder (TDL_FMNIST_DIR or the Debian default); NULL when absent. */
const char *test_fmnist_dir(void);

#define TDL_OK_OR_FAIL(call)                                                                       \
    do {                                                                                           \
        tdl_status st_ = (call);                                                                   \
        if (st_ != TDL_OK)                                                                         \
            fail_msg("%s -> %d: %s", #call, (int)st_, tdl_last_error());                           \
    } while (0)

#endif
