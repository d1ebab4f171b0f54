/* Helpers shared by the op tests (tests/ops/): a context + graph fixture,
 * reading node values, comparing against double-precision references. */
#ifndef TDL_TESTS_OPS_HELPERS_H
#define TDL_TESTS_OPS_HELPERS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct fx {
    tdl_ctx *ctx;
    tdl_graph *g;
} fx;

static inline void fx_open(fx *f)
{
    f->ctx = test_ctx();
    assert_non_null(f->ctx);
    assert_int_equal(tdl_graph_create(f->ctx, &f->g), TDL_OK);
    assert_non_null(f->g);
}

static inline void fx_close(fx *f)
{
    tdl_graph_destroy(f->g);
    tdl_ctx_destroy(f->ctx);
    f->g = NULL;
    f->ctx = NULL;
}

/* Fails the test with the graph's message when a builder returned NULL. */
static inline tdl_node *built(tdl_graph *g, tdl_node *n, const char *what)
{
    if (!n)
        fail_msg("building %s failed: %s", what, tdl_graph_error(g));
    return n;
}
#define BUILT(g, expr) built((g), (expr), #expr)

static inline int64_t shape_numel(int32_t nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int32_t i = 0; i < nd; ++i)
        n *= shape[i];
    return n;
}

/* Reads `count` floats of a node's current value; the value must hold exactly
 * that many elements. */
static inline void read_node(tdl_node *n, float *dst, int64_t count)
{
    int32_t nd;
    int64_t shape[TDL_MAX_DIMS];
    if (tdl_node_value_shape(n, &nd, shape) != TDL_OK)
        fail_msg("node '%s' has no value: %s", tdl_node_name(n), tdl_last_error());
    assert_int_equal(shape_numel(nd, shape), count);
    if (tdl_node_read(n, dst, sizeof(float) * (size_t)count) != TDL_OK)
        fail_msg("reading '%s' failed: %s", tdl_node_name(n), tdl_last_error());
}

/* Asserts the node's symbolic shape. */
static inline void check_shape(const tdl_node *n, int32_t nd, const int64_t *shape)
{
    int32_t got_nd;
    int64_t got[TDL_MAX_DIMS];
    assert_int_equal(tdl_node_shape(n, &got_nd, got), TDL_OK);
    assert_int_equal(got_nd, nd);
    for (int32_t i = 0; i < nd; ++i)
        if (got[i] != shape[i])
            fail_msg("'%s': dimension %d is %lld, expected %lld", tdl_node_name(n), (int)i,
                     (long long)got[i], (long long)shape[i]);
}

/* |got - ref| <= rtol * |ref| + atol for every element. */
static inline void check_close(const char *what, const float *got, const double *ref, int64_t n,
                               double rtol, double atol)
{
    for (int64_t i = 0; i < n; ++i) {
        double tol = rtol * fabs(ref[i]) + atol;
        if (!(fabs((double)got[i] - ref[i]) <= tol))
            fail_msg("%s[%lld]: got %.9g, expected %.9g (tol %.3g)", what, (long long)i,
                     (double)got[i], ref[i], tol);
    }
}

/* Runs `target` (and what it needs), then compares its value. */
static inline void run_and_check(tdl_graph *g, tdl_node *target, const char *what,
                                 const double *ref, int64_t n, double rtol, double atol)
{
    float *got = malloc(sizeof(float) * (size_t)n);
    assert_non_null(got);
    if (tdl_run(g, target) != TDL_OK)
        fail_msg("tdl_run(%s) failed: %s", what, tdl_graph_error(g));
    read_node(target, got, n);
    check_close(what, got, ref, n, rtol, atol);
    free(got);
}

static inline void check_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", text ? text : "(null)", needle);
}

/* Pushes values with |x| < gap away from 0 (to |x| in [gap, 2 gap)), so that
 * finite differences never straddle a kink at 0. */
static inline void push_from_zero(float *x, int64_t n, float gap)
{
    for (int64_t i = 0; i < n; ++i)
        if (fabsf(x[i]) < gap)
            x[i] = x[i] < 0 ? x[i] - gap : x[i] + gap;
}

/* Out-of-memory sweep: for k = 1, 2, ... builds a fresh graph with `build` (which builds,
 * compiles, builds the gradient of and feeds a model, and returns its loss; what it feeds
 * must outlive the call, as tdl_feed() binds memory without copying) in a 2-thread context
 * whose k-th allocation from then on fails, then runs forward + backward. A run that hits
 * the failure must return TDL_ERR_OUT_OF_MEMORY, and `on_failure` (may be NULL) then
 * inspects the graph, with memory back; nothing may leak. Stops at the first run in which
 * no allocation fails; returns the number of failed runs. */
typedef tdl_node *(*oom_build_fn)(tdl_graph *g);
typedef void (*oom_check_fn)(tdl_graph *g, tdl_node *loss, void *user);

static inline int oom_sweep(int64_t max_k, oom_build_fn build, oom_check_fn on_failure, void *user)
{
    int failures = 0;
    for (int64_t k = 1; k < max_k; ++k) {
        test_alloc al;
        tdl_ctx *ctx = test_ctx_with_alloc(&al, 0);
        assert_non_null(ctx);
        TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, 2));
        tdl_graph *g = NULL;
        TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
        tdl_node *loss = build(g);
        al.fail_at = al.calls + k;
        tdl_status st = tdl_forward(g);
        if (st == TDL_OK)
            st = tdl_backward(g, loss);
        int done = al.failed == 0;
        if (!done) {
            assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
            failures++;
            if (on_failure) {
                al.fail_at = 0;
                on_failure(g, loss, user);
            }
        } else {
            assert_int_equal(st, TDL_OK);
        }
        tdl_graph_destroy(g);
        tdl_ctx_destroy(ctx);
        assert_int_equal(al.live, 0);
        if (done)
            break;
    }
    return failures;
}

#endif
