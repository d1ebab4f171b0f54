/* Bad input at run time: wrong feeds, calls out of order, NaN detection,
 * allocation failure at every point of a whole training scenario. */
#include "test_util.h"

#include <stdlib.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_feed_errors(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    tdl_node *x = tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 3});
    tdl_node *lab = tdl_input(g, "labels", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *logits = tdl_dense(g, x, 4, "fc");
    tdl_node *loss = tdl_cross_entropy(g, logits, lab);
    float data[30] = {0};
    int32_t labels[10] = {0};
    /* running before compiling */
    TDL_OK_OR_FAIL(tdl_feed(g, x, data, 2, (int64_t[]){2, 3}));
    assert_int_equal(tdl_forward(g), TDL_ERR_STATE);
    assert_non_null(strstr(tdl_graph_error(g), "compile"));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    /* wrong shapes */
    assert_int_equal(tdl_feed(g, x, data, 2, (int64_t[]){2, 4}), TDL_ERR_SHAPE);
    assert_non_null(strstr(tdl_graph_error(g), "[B, 3]"));
    assert_non_null(strstr(tdl_graph_error(g), "[2, 4]"));
    assert_int_equal(tdl_feed(g, x, data, 1, (int64_t[]){6}), TDL_ERR_SHAPE);
    assert_int_equal(tdl_feed(g, x, data, 2, (int64_t[]){0, 3}), TDL_ERR_SHAPE);
    assert_int_equal(tdl_feed(g, x, data, 2, (int64_t[]){-2, 3}), TDL_ERR_SHAPE);
    assert_int_equal(tdl_feed(g, x, NULL, 2, (int64_t[]){2, 3}), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_feed(g, logits, data, 2, (int64_t[]){2, 4}), TDL_ERR_INVALID_ARGUMENT);
    /* labels not fed */
    TDL_OK_OR_FAIL(tdl_feed(g, x, data, 2, (int64_t[]){2, 3}));
    assert_int_equal(tdl_forward(g), TDL_ERR_STATE);
    assert_non_null(strstr(tdl_graph_error(g), "labels"));
    /* but logits alone can run */
    TDL_OK_OR_FAIL(tdl_run(g, logits));
    /* batches that disagree */
    TDL_OK_OR_FAIL(tdl_feed(g, lab, labels, 1, (int64_t[]){3}));
    assert_int_equal(tdl_forward(g), TDL_ERR_SHAPE);
    assert_non_null(strstr(tdl_graph_error(g), "different batch"));
    /* backward needs a forward since the last feed */
    TDL_OK_OR_FAIL(tdl_feed(g, lab, labels, 1, (int64_t[]){2}));
    assert_int_equal(tdl_backward(g, loss), TDL_ERR_STATE);
    TDL_OK_OR_FAIL(tdl_forward(g));
    TDL_OK_OR_FAIL(tdl_backward(g, loss));
    assert_int_equal(tdl_backward(g, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_build_gradients(g, logits), TDL_ERR_SHAPE);
    /* a label out of range is caught at run time, naming it */
    labels[1] = 4;
    TDL_OK_OR_FAIL(tdl_feed(g, lab, labels, 1, (int64_t[]){2}));
    assert_int_equal(tdl_forward(g), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_graph_error(g), "label 4"));
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

static void test_builder_errors_are_sticky(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    assert_null(tdl_input(g, "bad", TDL_F32, 2, (int64_t[]){-5, 3}));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_SHAPE);
    char first[512];
    snprintf(first, sizeof first, "%s", tdl_graph_error(g));
    /* later builders do nothing */
    assert_null(tdl_input(g, "ok", TDL_F32, 1, (int64_t[]){3}));
    assert_int_equal(tdl_graph_compile(g), TDL_ERR_SHAPE);
    assert_string_equal(tdl_graph_error(g), first);
    tdl_graph_destroy(g);

    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    tdl_node *a = tdl_input(g, "a", TDL_F32, 1, (int64_t[]){3});
    assert_null(tdl_input(g, "a", TDL_F32, 1, (int64_t[]){3}));
    assert_non_null(strstr(tdl_graph_error(g), "already exists"));
    tdl_graph_destroy(g);

    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    a = tdl_input(g, "a", TDL_I32, 1, (int64_t[]){3});
    assert_null(tdl_relu(g, a));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_DTYPE);
    tdl_graph_destroy(g);

    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    assert_null(tdl_input(g, "x", 77, 1, (int64_t[]){3}));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_DTYPE);
    tdl_graph_destroy(g);

    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    assert_null(tdl_param(g, "w", 1, (int64_t[]){3}, 99, 0, 0));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_INVALID_ARGUMENT);
    tdl_graph_destroy(g);

    /* a node of another graph */
    tdl_graph *g2;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g2));
    a = tdl_input(g, "a", TDL_F32, 1, (int64_t[]){3});
    assert_null(tdl_relu(g2, a));
    assert_non_null(strstr(tdl_graph_error(g2), "another graph"));
    tdl_graph_destroy(g);
    tdl_graph_destroy(g2);
    tdl_ctx_destroy(ctx);
}

static void test_nan_detection(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    tdl_node *x = tdl_input(g, "x", TDL_F32, 1, (int64_t[]){4});
    tdl_node *l = tdl_log(g, x);
    tdl_node *s = tdl_sum(g, tdl_affine_scalar(g, l, 2.0f, 0.0f), 0, NULL, 0);
    (void)s;
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    float v[4] = {1, 2, 0, 3};
    TDL_OK_OR_FAIL(tdl_feed(g, x, v, 1, (int64_t[]){4}));
    TDL_OK_OR_FAIL(tdl_forward(g)); /* off by default: -inf flows through */
    TDL_OK_OR_FAIL(tdl_graph_set_check_finite(g, 1));
    assert_int_equal(tdl_forward(g), TDL_ERR_NON_FINITE);
    const char *msg = tdl_graph_error(g);
    assert_non_null(strstr(msg, tdl_node_name(l)));
    assert_non_null(strstr(msg, "element 2"));
    v[2] = 1;
    TDL_OK_OR_FAIL(tdl_forward(g));
    v[0] = NAN; /* a NaN in the fed data is reported at the first node it reaches */
    assert_int_equal(tdl_forward(g), TDL_ERR_NON_FINITE);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

/* A whole training scenario; returns the first failing status (or TDL_OK).
 * Every handle is released whatever happens. */
static tdl_status scenario(tdl_ctx *ctx, const char *path)
{
    tdl_graph *g = NULL, *g2 = NULL;
    tdl_optim *opt = NULL;
    tdl_status st = tdl_graph_create(ctx, &g);
    if (st != TDL_OK)
        return st;
    tdl_node *x = tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 8});
    tdl_node *y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = tdl_dropout(g, tdl_relu(g, tdl_dense(g, x, 16, "fc1")), 0.1f);
    tdl_node *logits = tdl_dense(g, h, 3, "fc2");
    tdl_node *loss = tdl_cross_entropy(g, logits, y);
    float xb[5 * 8], xe[40 * 8];
    int32_t yb[5] = {0, 1, 2, 1, 0};
    test_fill_uniform(xb, 40, -1, 1, 9);
    test_fill_uniform(xe, 320, -1, 1, 10);
    if ((st = tdl_graph_compile(g)) != TDL_OK)
        goto out;
    if ((st = tdl_optim_create_adam(g, 1e-3f, &opt)) != TDL_OK)
        goto out;
    for (int step = 0; step < 3; ++step) {
        if ((st = tdl_feed(g, x, xb, 2, (int64_t[]){5, 8})) != TDL_OK ||
            (st = tdl_feed(g, y, yb, 1, (int64_t[]){5})) != TDL_OK ||
            (st = tdl_forward(g)) != TDL_OK || (st = tdl_backward(g, loss)) != TDL_OK ||
            (st = tdl_optim_step(opt)) != TDL_OK)
            goto out;
        /* inference at a larger batch between steps: a plan of its own, a
         * bigger arena, then the whole graph planned again */
        if (step == 1 && ((st = tdl_feed(g, x, xe, 2, (int64_t[]){40, 8})) != TDL_OK ||
                          (st = tdl_run(g, logits)) != TDL_OK))
            goto out;
    }
    char summary[256];
    if ((st = tdl_graph_summary(g, summary, sizeof summary, NULL)) != TDL_OK)
        goto out;
    if ((st = tdl_save_weights(g, path)) != TDL_OK)
        goto out;
    if ((st = tdl_graph_create(ctx, &g2)) != TDL_OK)
        goto out;
    x = tdl_input(g2, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 8});
    tdl_dense(g2, tdl_relu(g2, tdl_dense(g2, x, 16, "fc1")), 3, "fc2");
    if ((st = tdl_graph_compile(g2)) != TDL_OK)
        goto out;
    st = tdl_load_weights(g2, path);
out:
    tdl_optim_destroy(opt);
    tdl_graph_destroy(g2);
    tdl_graph_destroy(g);
    return st;
}

static void test_allocation_failure_everywhere(void **state)
{
    (void)state;
    char path[] = "/tmp/tdl_oom_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* how many allocations a clean run makes */
    test_alloc a;
    tdl_ctx *ctx = test_ctx_with_alloc(&a, 0);
    assert_non_null(ctx);
    TDL_OK_OR_FAIL(scenario(ctx, path));
    tdl_ctx_destroy(ctx);
    assert_int_equal(a.live, 0);
    int64_t total = a.calls;
    assert_true(total > 20);
    int failures = 0;
    for (int64_t n = 1; n <= total; ++n) {
        ctx = test_ctx_with_alloc(&a, n);
        if (!ctx) { /* the context itself was the failed allocation */
            assert_int_equal(a.live, 0);
            continue;
        }
        tdl_status st = scenario(ctx, path);
        if (st != TDL_OK) {
            failures++;
            /* the refusal surfaces as out-of-memory, or as the sticky build
             * error that the refusal caused */
            if (st != TDL_ERR_OUT_OF_MEMORY)
                fail_msg("allocation %lld: status %d (%s), expected out of memory", (long long)n,
                         (int)st, tdl_last_error());
            assert_non_null(strstr(tdl_last_error(), "out of memory"));
        }
        tdl_ctx_destroy(ctx);
        if (a.live != 0)
            fail_msg("allocation %lld failed: %lld allocations leaked", (long long)n,
                     (long long)a.live);
    }
    print_message("%lld allocation points, %d surfaced as errors\n", (long long)total, failures);
    assert_true(failures > total / 2);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_errors),
        cmocka_unit_test(test_builder_errors_are_sticky),
        cmocka_unit_test(test_nan_detection),
        cmocka_unit_test(test_allocation_failure_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
