/* Pooling, padding, resizing, normalisation, spatial dropout and the
 * convolutional blocks of layers.h (DESIGN §6).
 *
 * - Forward values against naive double-precision references written here
 *   (pooling with strides, padding and odd sizes; global pooling; upsampling;
 *   padding; flatten; batch norm in training and eval mode, with the running
 *   buffers after two steps and their save/load round trip; layer norm).
 * - Finite-difference gradient checks (test_gradcheck) for every op and every
 *   input, batch norm's input, weight and bias in both modes included, with
 *   the tolerances justified in test_util.h (eps 1e-3, |num - ana| <= 2e-3 +
 *   2e-2 max(|num|, |ana|)). Max-pool inputs are a permutation of a grid with
 *   steps of 0.05 >> eps, so no finite difference changes a window's argmax.
 * - Second-order checks (as test_grad2.c) for avg_pool2d, max_pool2d (squared),
 *   batch norm in both modes and layer norm.
 * - Spatial dropout: mask statistics, eval identity, gradient = mask.
 * - Blocks: output shapes, parameter names and counts, a gradient check
 *   through a tiny residual block.
 * - Bad arguments: sticky codes with the op's name in the message.
 * - The same small network gives bit-identical values and gradients with 1
 *   and 3 threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops_helpers.h"

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

/* ---- helpers ---- */

static void check_grads(fx *f, tdl_node *y, uint64_t seed, const char *what)
{
    if (!y)
        fail_msg("%s: building failed: %s", what, tdl_graph_error(f->g));
    tdl_node *loss = test_weighted_sum(f->g, y, seed);
    if (!loss)
        fail_msg("%s: loss failed: %s", what, tdl_graph_error(f->g));
    int bad = test_gradcheck(f->g, loss, EPS, ATOL, RTOL);
    if (bad != 0)
        fail_msg("%s: gradcheck found %d bad elements (%s)", what, bad, tdl_graph_error(f->g));
}

/* P = sum(grad(weighted_sum(y), p)^2), then a gradcheck of P (see test_grad2.c
 * for the tolerance: atol grows with |P|). */
static void check_grad2(fx *f, tdl_node *y, tdl_node *p, uint64_t seed, const char *what)
{
    tdl_graph *g = f->g;
    if (!y || !p)
        fail_msg("%s: building failed: %s", what, tdl_graph_error(g));
    tdl_node *loss = test_weighted_sum(g, y, seed);
    tdl_node *gp = tdl_grad(g, loss, p);
    tdl_node *pen = tdl_sum(g, tdl_mul(g, gp, gp), 0, NULL, 0);
    if (!pen)
        fail_msg("%s: building the penalty failed: %s", what, tdl_graph_error(g));
    float pv = 0;
    if (tdl_graph_compile(g) != TDL_OK || tdl_run(g, pen) != TDL_OK ||
        tdl_node_read(pen, &pv, sizeof pv) != TDL_OK)
        fail_msg("%s: computing the penalty failed: %s", what, tdl_graph_error(g));
    float atol = fmaxf(ATOL, 1e-3f * fabsf(pv));
    int bad = test_gradcheck(g, pen, EPS, atol, RTOL);
    if (bad != 0)
        fail_msg("%s: second-order gradcheck found %d bad elements (%s)", what, bad,
                 tdl_graph_error(g));
}

/* As check_grad2 with a penalty linear in the gradient, P = weighted_sum(G): a
 * batch-norm input gradient sums to zero per channel (and is orthogonal to
 * x - mean), so sum(G^2) leaves some parts of the second-order rules with a
 * zero upstream gradient; random weights exercise them. */
static void check_grad2_linear(fx *f, tdl_node *y, tdl_node *p, uint64_t seed, const char *what)
{
    tdl_graph *g = f->g;
    if (!y || !p)
        fail_msg("%s: building failed: %s", what, tdl_graph_error(g));
    tdl_node *gp = tdl_grad(g, test_weighted_sum(g, y, seed), p);
    tdl_node *pen = test_weighted_sum(g, gp, seed + 1);
    if (!pen)
        fail_msg("%s: building the penalty failed: %s", what, tdl_graph_error(g));
    int bad = test_gradcheck(g, pen, EPS, ATOL, RTOL);
    if (bad != 0)
        fail_msg("%s: second-order gradcheck found %d bad elements (%s)", what, bad,
                 tdl_graph_error(g));
}

/* A parameter holding a permutation of {lo, lo + step, ...}: no ties, gaps >> eps. */
static tdl_node *grid_param(tdl_graph *g, const char *name, int32_t nd, const int64_t *shape,
                            float step)
{
    tdl_node *p = BUILT(g, tdl_param(g, name, nd, shape, TDL_INIT_ZEROS, 0, 0));
    int64_t n = shape_numel(nd, shape);
    float *x = tdl_param_data(p);
    for (int64_t i = 0; i < n; ++i)
        x[i] = (float)((i * 7919) % n - n / 2) * step;
    return p;
}

static tdl_node *input4(tdl_graph *g, const char *name, int64_t c, int64_t h, int64_t w)
{
    const int64_t s[4] = {TDL_BATCH, c, h, w};
    return BUILT(g, tdl_input(g, name, TDL_F32, 4, s));
}

static float *random_floats(int64_t n, float lo, float hi, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(x);
    test_fill_uniform(x, n, lo, hi, seed);
    return x;
}

static void set_param(tdl_graph *g, const char *name, const float *v, int64_t n)
{
    tdl_node *p = tdl_graph_find(g, name);
    if (!p || !tdl_param_data(p))
        fail_msg("no parameter '%s'", name);
    memcpy(tdl_param_data(p), v, sizeof(float) * (size_t)n);
}

/* ---- naive references ---- */

typedef struct pool_cfg {
    int64_t n, c, h, w;
    int32_t kh, kw, sh, sw, ph, pw;
} pool_cfg;

static int64_t out_dim(int64_t in, int32_t k, int32_t s, int32_t p)
{
    return (in + 2 * p - k) / s + 1;
}

/* max (is_max) or average (padded zeros count) pooling in double. */
static void ref_pool(int is_max, const float *x, const pool_cfg *c, double *y)
{
    int64_t oh = out_dim(c->h, c->kh, c->sh, c->ph), ow = out_dim(c->w, c->kw, c->sw, c->pw);
    for (int64_t p = 0; p < c->n * c->c; ++p)
        for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int a = 0; a < c->kh; ++a)
                    for (int b = 0; b < c->kw; ++b) {
                        int64_t r = i * c->sh - c->ph + a, q = j * c->sw - c->pw + b;
                        if (r < 0 || r >= c->h || q < 0 || q >= c->w)
                            continue;
                        double v = x[(p * c->h + r) * c->w + q];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                    }
                y[(p * oh + i) * ow + j] = is_max ? acc : acc / (c->kh * c->kw);
            }
}

/* ---- pooling forward ---- */

static const pool_cfg POOLS[] = {
    {2, 3, 4, 4, 2, 2, 2, 2, 0, 0}, /* the common 2x2 / 2 */
    {2, 3, 5, 5, 2, 2, 2, 2, 0, 0}, /* odd size: last row/column dropped */
    {2, 2, 5, 7, 3, 3, 2, 2, 1, 1}, /* 3x3 / 2, padding 1 */
    {1, 3, 6, 5, 3, 3, 1, 1, 1, 1}, /* 3x3 / 1, padding 1 */
    {2, 2, 7, 5, 2, 3, 1, 2, 1, 1}, /* rectangular kernel and stride */
    {1, 1, 3, 3, 3, 3, 3, 3, 0, 0}, /* one window */
    {2, 1, 4, 6, 4, 2, 3, 1, 2, 1}, /* padding = half the kernel */
};

static void pool_forward_case(int is_max, const pool_cfg *c, int k)
{
    fx f;
    fx_open(&f);
    tdl_node *x = input4(f.g, "x", c->c, c->h, c->w);
    tdl_node *y =
        BUILT(f.g, is_max ? tdl_max_pool2d(f.g, x, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw)
                          : tdl_avg_pool2d(f.g, x, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw));
    int64_t oh = out_dim(c->h, c->kh, c->sh, c->ph), ow = out_dim(c->w, c->kw, c->sw, c->pw);
    check_shape(y, 4, (const int64_t[]){TDL_BATCH, c->c, oh, ow});
    assert_string_equal(tdl_node_op(y), is_max ? "max_pool2d" : "avg_pool2d");
    int64_t nx = c->n * c->c * c->h * c->w, ny = c->n * c->c * oh * ow;
    /* all negative: a zero from the padding would win a max */
    float *xv = random_floats(nx, -2.0f, -0.1f, 100 + (uint64_t)k);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    ref_pool(is_max, xv, c, ref);
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){c->n, c->c, c->h, c->w}));
    char what[64];
    snprintf(what, sizeof what, "%s case %d", is_max ? "max_pool2d" : "avg_pool2d", k);
    run_and_check(f.g, y, what, ref, ny, 1e-6, 1e-6);
    free(xv);
    free(ref);
    fx_close(&f);
}

static void test_pool_forward(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof POOLS / sizeof POOLS[0]; ++k) {
        pool_forward_case(1, &POOLS[k], (int)k);
        pool_forward_case(0, &POOLS[k], (int)k);
    }
}

/* The gradient of max pooling goes to the first maximum of a tie only. */
static void test_max_pool_first_max(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[4] = {1, 1, 2, 4};
    tdl_node *p = BUILT(f.g, tdl_param(f.g, "p", 4, s, TDL_INIT_ZEROS, 0, 0));
    const float v[8] = {1, 3, 5, 5, 3, 2, 5, 1}; /* windows {1,3,3,2}: 3 twice; {5,5,5,1} */
    memcpy(tdl_param_data(p), v, sizeof v);
    tdl_node *y = BUILT(f.g, tdl_max_pool2d(f.g, p, 2, 2, 2, 2, 0, 0));
    tdl_node *loss = BUILT(f.g, tdl_sum(f.g, y, 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    float out[2];
    read_node(y, out, 2);
    assert_true(out[0] == 3.0f && out[1] == 5.0f);
    TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
    const float want[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    const float *gr = tdl_param_grad(p);
    for (int i = 0; i < 8; ++i)
        if (gr[i] != want[i])
            fail_msg("max_pool2d gradient [%d] = %g, expected %g", i, (double)gr[i],
                     (double)want[i]);
    fx_close(&f);
}

/* ---- global pooling, flatten, upsampling, padding: forward ---- */

static void test_global_avg_pool_forward(void **state)
{
    (void)state;
    static const struct {
        int32_t nd;
        int64_t d[5];
    } cases[] = {{4, {2, 3, 4, 5}}, {3, {3, 2, 7}}, {5, {2, 2, 3, 2, 2}}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        fx f;
        fx_open(&f);
        int64_t sym[5];
        memcpy(sym, cases[k].d, sizeof sym);
        sym[0] = TDL_BATCH;
        tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, cases[k].nd, sym));
        tdl_node *y = BUILT(f.g, tdl_global_avg_pool(f.g, x));
        check_shape(y, 2, (const int64_t[]){TDL_BATCH, cases[k].d[1]});
        int64_t nx = shape_numel(cases[k].nd, cases[k].d);
        int64_t planes = cases[k].d[0] * cases[k].d[1], len = nx / planes;
        float *xv = random_floats(nx, -1, 1, 200 + k);
        double *ref = calloc((size_t)planes, sizeof(double));
        for (int64_t p = 0; p < planes; ++p) {
            for (int64_t i = 0; i < len; ++i)
                ref[p] += xv[p * len + i];
            ref[p] /= (double)len;
        }
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, cases[k].nd, cases[k].d));
        run_and_check(f.g, y, "global_avg_pool", ref, planes, 1e-5, 1e-6);
        free(xv);
        free(ref);
        fx_close(&f);
    }
}

static void test_flatten(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_node *x = input4(f.g, "x", 2, 3, 4);
    tdl_node *y = BUILT(f.g, tdl_flatten(f.g, x));
    check_shape(y, 2, (const int64_t[]){TDL_BATCH, 24});
    const int64_t s1[1] = {5};
    tdl_node *v = BUILT(f.g, tdl_input(f.g, "v", TDL_F32, 1, s1));
    check_shape(BUILT(f.g, tdl_flatten(f.g, v)), 2, (const int64_t[]){5, 1});
    const int64_t s2[2] = {TDL_BATCH, 7};
    tdl_node *m = BUILT(f.g, tdl_input(f.g, "m", TDL_F32, 2, s2));
    check_shape(BUILT(f.g, tdl_flatten(f.g, m)), 2, s2);
    float *xv = random_floats(3 * 24, -1, 1, 300);
    double ref[72];
    for (int i = 0; i < 72; ++i)
        ref[i] = xv[i];
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){3, 2, 3, 4}));
    run_and_check(f.g, y, "flatten", ref, 72, 0, 0);
    free(xv);
    fx_close(&f);
}

static void test_upsample_forward(void **state)
{
    (void)state;
    static const int32_t scales[][2] = {{2, 2}, {3, 1}, {1, 2}, {2, 3}, {1, 1}};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; ++k) {
        int32_t sh = scales[k][0], sw = scales[k][1];
        fx f;
        fx_open(&f);
        tdl_node *x = input4(f.g, "x", 2, 3, 5);
        tdl_node *y = BUILT(f.g, tdl_upsample_nearest2d(f.g, x, sh, sw));
        check_shape(y, 4, (const int64_t[]){TDL_BATCH, 2, 3 * sh, 5 * sw});
        int64_t n = 2, oh = 3 * sh, ow = 5 * sw, ny = n * 2 * oh * ow;
        float *xv = random_floats(n * 2 * 15, -1, 1, 400 + k);
        double *ref = malloc(sizeof(double) * (size_t)ny);
        for (int64_t p = 0; p < n * 2; ++p)
            for (int64_t i = 0; i < oh; ++i)
                for (int64_t j = 0; j < ow; ++j)
                    ref[(p * oh + i) * ow + j] = xv[(p * 3 + i / sh) * 5 + j / sw];
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){n, 2, 3, 5}));
        run_and_check(f.g, y, "upsample_nearest2d", ref, ny, 0, 0);
        free(xv);
        free(ref);
        fx_close(&f);
    }
}

static void test_pad_forward(void **state)
{
    (void)state;
    /* [B, 2, 3] padded (0,0), (1,2), (2,1) with 0.5 */
    {
        fx f;
        fx_open(&f);
        const int64_t s[3] = {TDL_BATCH, 2, 3};
        tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, s));
        const int64_t pads[6] = {0, 0, 1, 2, 2, 1};
        tdl_node *y = BUILT(f.g, tdl_pad(f.g, x, 3, pads, 0.5f));
        check_shape(y, 3, (const int64_t[]){TDL_BATCH, 5, 6});
        float *xv = random_floats(2 * 6, -1, 1, 500);
        double ref[2 * 30];
        for (int n = 0; n < 2; ++n)
            for (int i = 0; i < 5; ++i)
                for (int j = 0; j < 6; ++j) {
                    int si = i - 1, sj = j - 2;
                    ref[(n * 5 + i) * 6 + j] =
                        (si >= 0 && si < 2 && sj >= 0 && sj < 3) ? xv[(n * 2 + si) * 3 + sj] : 0.5;
                }
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, (const int64_t[]){2, 2, 3}));
        run_and_check(f.g, y, "pad 3-D", ref, 60, 0, 0);
        free(xv);
        fx_close(&f);
    }
    /* a concrete [3, 4] padded (1, 0), (0, 2) with -1; and a 4-D NCHW pad */
    {
        fx f;
        fx_open(&f);
        const int64_t s[2] = {3, 4};
        tdl_node *p = BUILT(f.g, test_param(f.g, "p", 2, s, -1, 1));
        const int64_t pads[4] = {1, 0, 0, 2};
        tdl_node *y = BUILT(f.g, tdl_pad(f.g, p, 2, pads, -1.0f));
        check_shape(y, 2, (const int64_t[]){4, 6});
        const float *pv = tdl_param_data(p);
        double ref[24];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 6; ++j)
                ref[i * 6 + j] = (i >= 1 && j < 4) ? pv[(i - 1) * 4 + j] : -1.0;
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        run_and_check(f.g, y, "pad 2-D", ref, 24, 0, 0);
        fx_close(&f);
    }
}

/* ---- batch norm ---- */

/* Per-channel mean and biased variance of x [n, c, s]. */
static void channel_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                          double *var)
{
    for (int64_t k = 0; k < c; ++k) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < s; ++j)
                sum += x[(i * c + k) * s + j];
        mean[k] = sum / (double)(n * s);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < s; ++j) {
                double d = x[(i * c + k) * s + j] - mean[k];
                sq += d * d;
            }
        var[k] = sq / (double)(n * s);
    }
}

static void bn_ref(const float *x, int64_t n, int64_t c, int64_t s, const double *mean,
                   const double *var, const float *w, const float *b, double eps, double *y)
{
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < c; ++k)
            for (int64_t j = 0; j < s; ++j) {
                int64_t o = (i * c + k) * s + j;
                y[o] = (x[o] - mean[k]) / sqrt(var[k] + eps) * w[k] + b[k];
            }
}

static void check_param(tdl_graph *g, const char *name, const double *ref, int64_t n, double tol)
{
    tdl_node *p = tdl_graph_find(g, name);
    if (!p || !tdl_param_data(p))
        fail_msg("no parameter '%s'", name);
    check_close(name, tdl_param_data(p), ref, n, tol, tol);
}

/* Builds x [B, 3, 2, 2] -> batch_norm "bn" with weight/bias set, loss = sum(y sigmoid(y)). */
static tdl_node *bn_graph(tdl_graph *g, tdl_node **x, tdl_node **loss)
{
    *x = input4(g, "x", 3, 2, 2);
    tdl_node *y = BUILT(g, tdl_batch_norm(g, *x, "bn", 0.1f, 1e-5f));
    const float w[3] = {0.5f, 1.5f, -1.0f}, b[3] = {0.1f, -0.2f, 0.3f};
    set_param(g, "bn.weight", w, 3);
    set_param(g, "bn.bias", b, 3);
    if (loss)
        *loss = BUILT(g, tdl_sum(g, tdl_mul(g, y, tdl_sigmoid(g, y)), 0, NULL, 0));
    return y;
}

static void test_batch_norm_forward(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_node *x, *loss;
    tdl_node *y = bn_graph(f.g, &x, &loss);
    check_shape(y, 4, (const int64_t[]){TDL_BATCH, 3, 2, 2});
    assert_int_equal(tdl_graph_param_count(f.g), 4);
    const char *names[4] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    for (int i = 0; i < 4; ++i) {
        tdl_node *p = tdl_graph_param(f.g, i);
        assert_string_equal(tdl_node_name(p), names[i]);
        assert_int_equal(tdl_param_trainable(p), i < 2);
    }
    tdl_node *rm = tdl_graph_find(f.g, "bn.running_mean");
    tdl_node *rv = tdl_graph_find(f.g, "bn.running_var");
    /* buffers: initial values; never trainable */
    for (int k = 0; k < 3; ++k)
        assert_true(tdl_param_data(rm)[k] == 0.0f && tdl_param_data(rv)[k] == 1.0f);
    assert_int_equal(tdl_param_set_trainable(rm, 1), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "bn.running_mean");
    assert_int_equal(tdl_param_set_trainable(rv, 0), TDL_OK);
    assert_int_equal(tdl_param_trainable(rv), 0);

    const float w[3] = {0.5f, 1.5f, -1.0f}, b[3] = {0.1f, -0.2f, 0.3f};
    const int64_t n = 4, c = 3, s = 4, nx = n * c * s;
    float *x1 = random_floats(nx, -1, 2, 600);
    float *x2 = random_floats(nx, -3, 1, 601);
    double rmean[3] = {0, 0, 0}, rvar[3] = {1, 1, 1};
    double mean[3], var[3], ref[48];
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    const float *xs[2] = {x1, x2};
    for (int step = 0; step < 2; ++step) {
        /* forward + backward: the first backward recomputes the forward with the
         * same step, which must not move the buffers a second time */
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xs[step], 4, (const int64_t[]){n, c, 2, 2}));
        TDL_OK_OR_FAIL(tdl_forward(f.g));
        float got[48];
        read_node(y, got, nx);
        channel_stats(xs[step], n, c, s, mean, var);
        bn_ref(xs[step], n, c, s, mean, var, w, b, 1e-5, ref);
        check_close("batch_norm train", got, ref, nx, 1e-5, 1e-5);
        TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
        for (int k = 0; k < 3; ++k) {
            rmean[k] = 0.9 * rmean[k] + 0.1 * mean[k];
            rvar[k] = 0.9 * rvar[k] + 0.1 * var[k] * (double)(n * s) / (double)(n * s - 1);
        }
        check_param(f.g, "bn.running_mean", rmean, 3, 1e-6);
        check_param(f.g, "bn.running_var", rvar, 3, 1e-6);
        /* buffers get no gradient */
        for (int k = 0; k < 3; ++k)
            assert_true(tdl_param_grad(rm)[k] == 0.0f && tdl_param_grad(rv)[k] == 0.0f);
    }
    /* eval mode: the buffers normalise and do not move */
    TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    float got[48];
    read_node(y, got, nx);
    bn_ref(x2, n, c, s, rmean, rvar, w, b, 1e-5, ref);
    check_close("batch_norm eval", got, ref, nx, 1e-5, 1e-5);
    check_param(f.g, "bn.running_mean", rmean, 3, 1e-6);
    check_param(f.g, "bn.running_var", rvar, 3, 1e-6);

    /* save -> load into a fresh graph: the buffers come back, outputs agree */
    char path[] = "/tmp/tdl_bn_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    TDL_OK_OR_FAIL(tdl_save_weights(f.g, path));
    fx f2;
    fx_open(&f2);
    tdl_node *x_2;
    tdl_node *y2 = bn_graph(f2.g, &x_2, NULL);
    const float ones[3] = {1, 1, 1};
    set_param(f2.g, "bn.weight", ones, 3); /* overwritten by the load */
    TDL_OK_OR_FAIL(tdl_load_weights(f2.g, path));
    unlink(path);
    check_param(f2.g, "bn.running_mean", rmean, 3, 1e-6);
    check_param(f2.g, "bn.running_var", rvar, 3, 1e-6);
    TDL_OK_OR_FAIL(tdl_graph_set_training(f2.g, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(f2.g));
    TDL_OK_OR_FAIL(tdl_feed(f2.g, x_2, x2, 4, (const int64_t[]){n, c, 2, 2}));
    TDL_OK_OR_FAIL(tdl_forward(f2.g));
    float got2[48];
    read_node(y2, got2, nx);
    assert_memory_equal(got, got2, sizeof got);
    fx_close(&f2);
    free(x1);
    free(x2);
    fx_close(&f);
}

/* [N, C] input: statistics over the batch only. */
static void test_batch_norm_2d(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {TDL_BATCH, 5};
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 2, s));
    tdl_node *y = BUILT(f.g, tdl_batch_norm(f.g, x, "bn", 0.3f, 1e-3f));
    float *xv = random_floats(6 * 5, -2, 2, 700);
    double mean[5], var[5], ref[30];
    const float w[5] = {1, 1, 1, 1, 1}, b[5] = {0, 0, 0, 0, 0};
    channel_stats(xv, 6, 5, 1, mean, var);
    bn_ref(xv, 6, 5, 1, mean, var, w, b, 1e-3, ref);
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 2, (const int64_t[]){6, 5}));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    float got[30];
    read_node(y, got, 30);
    check_close("batch_norm [N, C]", got, ref, 30, 1e-5, 1e-5);
    double rm[5], rv[5];
    for (int k = 0; k < 5; ++k) {
        rm[k] = 0.3 * mean[k];
        rv[k] = 0.7 + 0.3 * var[k] * 6.0 / 5.0;
    }
    check_param(f.g, "bn.running_mean", rm, 5, 1e-6);
    check_param(f.g, "bn.running_var", rv, 5, 1e-6);
    free(xv);
    fx_close(&f);
}

/* ---- layer norm ---- */

static void test_layer_norm_forward(void **state)
{
    (void)state;
    for (int32_t na = 1; na <= 2; ++na) {
        fx f;
        fx_open(&f);
        const int64_t s[3] = {TDL_BATCH, 3, 4};
        tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, s));
        tdl_node *y = BUILT(f.g, tdl_layer_norm(f.g, x, na, "ln", 1e-5f));
        check_shape(tdl_graph_find(f.g, "ln.weight"), na, s + 3 - na);
        check_shape(tdl_graph_find(f.g, "ln.bias"), na, s + 3 - na);
        int64_t d = na == 1 ? 4 : 12, nx = 2 * 12, rows = nx / d;
        float *w = random_floats(d, 0.5f, 1.5f, 800), *b = random_floats(d, -1, 1, 801);
        set_param(f.g, "ln.weight", w, d);
        set_param(f.g, "ln.bias", b, d);
        float *xv = random_floats(nx, -2, 3, 802);
        double ref[24];
        for (int64_t r = 0; r < rows; ++r) {
            double m = 0, v = 0;
            for (int64_t k = 0; k < d; ++k)
                m += xv[r * d + k];
            m /= (double)d;
            for (int64_t k = 0; k < d; ++k)
                v += (xv[r * d + k] - m) * (xv[r * d + k] - m);
            v /= (double)d;
            for (int64_t k = 0; k < d; ++k)
                ref[r * d + k] = (xv[r * d + k] - m) / sqrt(v + 1e-5) * w[k] + b[k];
        }
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, (const int64_t[]){2, 3, 4}));
        run_and_check(f.g, y, "layer_norm", ref, nx, 1e-5, 1e-5);
        free(w);
        free(b);
        free(xv);
        fx_close(&f);
    }
}

/* ---- gradient checks ---- */

static void test_pool_grad(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof POOLS / sizeof POOLS[0]; ++k) {
        const pool_cfg *c = &POOLS[k];
        const int64_t s[4] = {c->n, c->c, c->h, c->w};
        for (int is_max = 0; is_max < 2; ++is_max) {
            fx f;
            fx_open(&f);
            tdl_node *p = is_max ? grid_param(f.g, "p", 4, s, 0.05f)
                                 : BUILT(f.g, test_param(f.g, "p", 4, s, -1, 1));
            tdl_node *y = is_max ? tdl_max_pool2d(f.g, p, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw)
                                 : tdl_avg_pool2d(f.g, p, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
            char what[64];
            snprintf(what, sizeof what, "%s case %d", is_max ? "max_pool2d" : "avg_pool2d", (int)k);
            check_grads(&f, y, 900 + k, what);
            fx_close(&f);
        }
    }
}

/* Max pooling of a relu: the pooling rule masks dy on the pooled size and
 * relu's rule passes the scattered result on (no full-sized relu_grad). The
 * gradient is checked by finite differences with relu feeding only the max
 * pool, and feeding a max pool and an avg pool at once (relu's rule must then
 * mask the sum itself); half a grid step keeps every value off relu's kink. */
static void test_max_pool_of_relu_grad(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof POOLS / sizeof POOLS[0]; ++k) {
        const pool_cfg *c = &POOLS[k];
        const int64_t s[4] = {c->n, c->c, c->h, c->w};
        for (int both = 0; both < 2; ++both) {
            fx f;
            fx_open(&f);
            tdl_node *p = grid_param(f.g, "p", 4, s, 0.05f);
            float *pv = tdl_param_data(p);
            for (int64_t i = 0; i < shape_numel(4, s); ++i)
                pv[i] += 0.025f;
            tdl_node *r = BUILT(f.g, tdl_relu(f.g, p));
            tdl_node *y =
                BUILT(f.g, tdl_max_pool2d(f.g, r, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw));
            if (both)
                y = BUILT(
                    f.g, tdl_add(f.g, y,
                                 tdl_avg_pool2d(f.g, r, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw)));
            else
                assert_string_equal(
                    tdl_node_op(BUILT(f.g, tdl_grad(f.g, tdl_sum(f.g, y, 0, NULL, 0), p))),
                    "max_pool2d_scatter");
            char what[80];
            snprintf(what, sizeof what, "max_pool2d(relu)%s case %d", both ? " + avg_pool2d" : "",
                     (int)k);
            check_grads(&f, y, 950 + k, what);
            fx_close(&f);
        }
    }
}

static void test_resize_grad(void **state)
{
    (void)state;
    for (int c = 0; c < 7; ++c) {
        fx f;
        fx_open(&f);
        const int64_t s4[4] = {2, 3, 3, 4}, s3[3] = {2, 3, 5}, s5[5] = {2, 2, 2, 3, 2};
        tdl_node *y = NULL;
        const char *what = "";
        switch (c) {
        case 0:
            y = tdl_global_avg_pool(f.g, BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1)));
            what = "global_avg_pool 4-D";
            break;
        case 1:
            y = tdl_global_avg_pool(f.g, BUILT(f.g, test_param(f.g, "p", 5, s5, -1, 1)));
            what = "global_avg_pool 5-D";
            break;
        case 2:
            y = tdl_flatten(f.g, BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1)));
            what = "flatten";
            break;
        case 3:
            y = tdl_upsample_nearest2d(f.g, BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1)), 2, 3);
            what = "upsample_nearest2d";
            break;
        case 4: {
            const int64_t pads[8] = {0, 0, 1, 0, 2, 1, 0, 3};
            y = tdl_pad(f.g, BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1)), 4, pads, 0.25f);
            what = "pad 4-D";
            break;
        }
        case 5: {
            const int64_t pads[6] = {1, 1, 0, 0, 2, 2};
            y = tdl_pad(f.g, BUILT(f.g, test_param(f.g, "p", 3, s3, -1, 1)), 3, pads, 0.0f);
            what = "pad 3-D";
            break;
        }
        default:
            /* spatial dropout in eval mode is the identity */
            y = tdl_spatial_dropout(f.g, BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1)), 0.5f);
            TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
            what = "spatial_dropout eval";
            break;
        }
        check_grads(&f, y, 1000 + (uint64_t)c, what);
        fx_close(&f);
    }
}

/* batch norm with x, weight and bias as parameters (weight and bias randomised). */
static tdl_node *bn_params(tdl_graph *g, int32_t nd, const int64_t *s, tdl_node **xp)
{
    tdl_node *x = BUILT(g, test_param(g, "x", nd, s, -1, 1));
    tdl_node *y = BUILT(g, tdl_batch_norm(g, x, "bn", 0.1f, 1e-5f));
    float *w = random_floats(s[1], 0.5f, 1.5f, 1100), *b = random_floats(s[1], -1, 1, 1101);
    set_param(g, "bn.weight", w, s[1]);
    set_param(g, "bn.bias", b, s[1]);
    free(w);
    free(b);
    if (xp)
        *xp = x;
    return y;
}

static void test_batch_norm_grad(void **state)
{
    (void)state;
    const int64_t s4[4] = {3, 2, 2, 3}, s2[2] = {5, 3}, s3[3] = {2, 3, 4};
    const struct {
        int32_t nd;
        const int64_t *s;
    } shapes[3] = {{4, s4}, {2, s2}, {3, s3}};
    for (int mode = 0; mode < 2; ++mode)
        for (int k = 0; k < 3; ++k) {
            fx f;
            fx_open(&f);
            tdl_node *y = bn_params(f.g, shapes[k].nd, shapes[k].s, NULL);
            if (mode == 0) {
                /* eval mode with non-trivial buffers */
                float rm[3] = {0.2f, -0.3f, 0.1f}, rv[3] = {0.5f, 1.7f, 0.9f};
                set_param(f.g, "bn.running_mean", rm, shapes[k].s[1]);
                set_param(f.g, "bn.running_var", rv, shapes[k].s[1]);
                TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
            }
            char what[64];
            snprintf(what, sizeof what, "batch_norm %s %d-D", mode ? "train" : "eval",
                     (int)shapes[k].nd);
            check_grads(&f, y, 1200 + (uint64_t)k, what);
            fx_close(&f);
        }
    /* eval mode: gradients with respect to the buffers (tdl_grad; they are not
     * trainable, so by central differences here) */
    {
        fx f;
        fx_open(&f);
        tdl_node *y = bn_params(f.g, 4, s4, NULL);
        float rm0[2] = {0.2f, -0.3f}, rv0[2] = {0.5f, 1.7f};
        set_param(f.g, "bn.running_mean", rm0, 2);
        set_param(f.g, "bn.running_var", rv0, 2);
        TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
        tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, y, 1250));
        tdl_node *buf[2] = {tdl_graph_find(f.g, "bn.running_mean"),
                            tdl_graph_find(f.g, "bn.running_var")};
        tdl_node *gb[2] = {BUILT(f.g, tdl_grad(f.g, loss, buf[0])),
                           BUILT(f.g, tdl_grad(f.g, loss, buf[1]))};
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        for (int b = 0; b < 2; ++b) {
            float ana[2];
            TDL_OK_OR_FAIL(tdl_run(f.g, gb[b]));
            read_node(gb[b], ana, 2);
            float *v = tdl_param_data(buf[b]);
            for (int k = 0; k < 2; ++k) {
                float keep = v[k], lp, lm;
                v[k] = keep + EPS;
                TDL_OK_OR_FAIL(tdl_run(f.g, loss));
                read_node(loss, &lp, 1);
                v[k] = keep - EPS;
                TDL_OK_OR_FAIL(tdl_run(f.g, loss));
                read_node(loss, &lm, 1);
                v[k] = keep;
                double num = ((double)lp - lm) / (2.0 * EPS);
                if (!(fabs(num - ana[k]) <= ATOL + RTOL * fmax(fabs(num), fabs(ana[k]))))
                    fail_msg("batch_norm eval: d/d%s[%d] analytic %g numeric %g",
                             tdl_node_name(buf[b]), k, (double)ana[k], num);
            }
        }
        fx_close(&f);
    }
    /* symbolic batch: weight and bias gradients with x fed */
    fx f;
    fx_open(&f);
    tdl_node *x = input4(f.g, "x", 2, 3, 2);
    tdl_node *y = BUILT(f.g, tdl_batch_norm(f.g, x, "bn", 0.1f, 1e-5f));
    float *w = random_floats(2, 0.5f, 1.5f, 1300);
    set_param(f.g, "bn.weight", w, 2);
    float *xv = random_floats(3 * 12, -1, 1, 1301);
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){3, 2, 3, 2}));
    /* a loss that is not linear in y (the sum of a batch norm's output is constant) */
    tdl_node *l2 = BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, y, tdl_sigmoid(f.g, y)), 0, NULL, 0));
    assert_int_equal(test_gradcheck(f.g, l2, EPS, ATOL, RTOL), 0);
    free(w);
    free(xv);
    fx_close(&f);
}

static void test_layer_norm_grad(void **state)
{
    (void)state;
    for (int32_t na = 1; na <= 3; ++na) {
        fx f;
        fx_open(&f);
        const int64_t s[3] = {2, 3, 4};
        tdl_node *x = BUILT(f.g, test_param(f.g, "x", 3, s, -1, 1));
        tdl_node *y = BUILT(f.g, tdl_layer_norm(f.g, x, na, "ln", 1e-5f));
        int64_t d = shape_numel(na, s + 3 - na);
        float *w = random_floats(d, 0.5f, 1.5f, 1400), *b = random_floats(d, -1, 1, 1401);
        set_param(f.g, "ln.weight", w, d);
        set_param(f.g, "ln.bias", b, d);
        free(w);
        free(b);
        char what[32];
        snprintf(what, sizeof what, "layer_norm %d axes", (int)na);
        check_grads(&f, y, 1402 + (uint64_t)na, what);
        fx_close(&f);
    }
}

/* ---- second order ---- */

static void test_second_order(void **state)
{
    (void)state;
    const int64_t s4[4] = {2, 2, 4, 5};
    for (int c = 0; c < 8; ++c) {
        fx f;
        fx_open(&f);
        tdl_node *p = NULL, *y = NULL;
        const char *what = "";
        switch (c) {
        case 0:
            p = BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1));
            y = tdl_mul(f.g, tdl_avg_pool2d(f.g, p, 3, 2, 2, 1, 1, 1),
                        tdl_avg_pool2d(f.g, p, 3, 2, 2, 1, 1, 1));
            what = "avg_pool2d squared";
            break;
        case 1: {
            p = grid_param(f.g, "p", 4, s4, 0.05f);
            tdl_node *m = tdl_max_pool2d(f.g, p, 3, 3, 2, 2, 1, 1);
            y = tdl_mul(f.g, m, m);
            what = "max_pool2d squared";
            break;
        }
        case 2: {
            p = BUILT(f.g, test_param(f.g, "p", 4, s4, -1, 1));
            tdl_node *u = tdl_upsample_nearest2d(f.g, p, 2, 1);
            y = tdl_mul(f.g, u, u);
            what = "upsample squared";
            break;
        }
        case 3:
        case 4: {
            tdl_node *x;
            y = bn_params(f.g, 4, (const int64_t[]){3, 2, 2, 3}, &x);
            p = c == 3 ? x : tdl_graph_find(f.g, "bn.weight");
            if (c == 4) {
                float rm[2] = {0.2f, -0.3f}, rv[2] = {0.5f, 1.7f};
                set_param(f.g, "bn.running_mean", rm, 2);
                set_param(f.g, "bn.running_var", rv, 2);
                TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
                y = tdl_mul(f.g, y, y);
            }
            what = c == 3 ? "batch_norm train (d/dx)" : "batch_norm eval squared (d/dw)";
            break;
        }
        case 5: {
            tdl_node *x;
            y = bn_params(f.g, 2, (const int64_t[]){4, 3}, &x);
            p = tdl_graph_find(f.g, "bn.weight");
            what = "batch_norm train [N, C] (d/dw)";
            break;
        }
        default: {
            const int64_t s[3] = {2, 3, 4};
            tdl_node *x = BUILT(f.g, test_param(f.g, "x", 3, s, -1, 1));
            y = tdl_layer_norm(f.g, x, c == 6 ? 1 : 2, "ln", 1e-5f);
            int64_t d = c == 6 ? 4 : 12;
            float *w = random_floats(d, 0.5f, 1.5f, 1500);
            set_param(f.g, "ln.weight", w, d);
            free(w);
            p = c == 6 ? x : tdl_graph_find(f.g, "ln.weight");
            what = c == 6 ? "layer_norm 1 axis (d/dx)" : "layer_norm 2 axes (d/dw)";
            break;
        }
        }
        check_grad2(&f, y, p, 1600 + (uint64_t)c, what);
        fx_close(&f);
    }
    /* batch norm with a penalty linear in the gradient, both modes, d/dx and d/dw */
    for (int c = 0; c < 4; ++c) {
        fx f;
        fx_open(&f);
        tdl_node *x;
        tdl_node *y = bn_params(f.g, 4, (const int64_t[]){3, 2, 2, 3}, &x);
        if (c >= 2) {
            float rm[2] = {0.2f, -0.3f}, rv[2] = {0.5f, 1.7f};
            set_param(f.g, "bn.running_mean", rm, 2);
            set_param(f.g, "bn.running_var", rv, 2);
            TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
            y = tdl_mul(f.g, y, y);
        }
        static const char *const what[4] = {
            "batch_norm train linear (d/dx)", "batch_norm train linear (d/dw)",
            "batch_norm eval squared linear (d/dx)", "batch_norm eval squared linear (d/dw)"};
        check_grad2_linear(&f, y, c % 2 ? tdl_graph_find(f.g, "bn.weight") : x, 1700 + (uint64_t)c,
                           what[c]);
        fx_close(&f);
    }
}

/* ---- spatial dropout ---- */

static void test_spatial_dropout(void **state)
{
    (void)state;
    const float p = 0.3f;
    const int64_t n = 32, c = 64, hw = 9;
    fx f;
    fx_open(&f);
    const int64_t s[4] = {n, c, 3, 3};
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 4, s, 0.5f, 1.5f));
    tdl_node *y = BUILT(f.g, tdl_spatial_dropout(f.g, x, p));
    check_shape(y, 4, s);
    tdl_node *loss = BUILT(f.g, tdl_sum(f.g, y, 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    const int64_t total = n * c * hw;
    float *yv = malloc(sizeof(float) * (size_t)total);
    float *first = malloc(sizeof(float) * (size_t)total);
    const float *xv = tdl_param_data(x);
    for (int step = 0; step < 2; ++step) {
        TDL_OK_OR_FAIL(tdl_forward(f.g));
        read_node(y, yv, total);
        TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
        const float *gr = tdl_param_grad(x);
        int64_t zero = 0;
        for (int64_t pl = 0; pl < n * c; ++pl) {
            /* one mask value per (sample, channel): 0 or 1 / (1 - p) */
            float m = gr[pl * hw];
            assert_true(m == 0.0f || fabsf(m - 1.0f / (1.0f - p)) < 1e-6f);
            zero += m == 0.0f;
            for (int64_t k = 0; k < hw; ++k) {
                int64_t i = pl * hw + k;
                assert_true(gr[i] == m);         /* gradient = the mask */
                assert_true(yv[i] == xv[i] * m); /* output = x * mask */
            }
        }
        double frac = (double)zero / (double)(n * c); /* sd = sqrt(.21 / 2048) = 0.01 */
        if (fabs(frac - p) > 0.05)
            fail_msg("spatial dropout zeroed %.3f of the channels, expected %.2f", frac, (double)p);
        if (step == 0)
            memcpy(first, yv, sizeof(float) * (size_t)total);
        else
            assert_true(memcmp(first, yv, sizeof(float) * (size_t)total) != 0); /* new mask */
    }
    /* eval mode: identity */
    TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    read_node(y, yv, total);
    assert_memory_equal(yv, xv, sizeof(float) * (size_t)total);
    free(yv);
    free(first);
    fx_close(&f);
}

/* ---- blocks ---- */

static void check_names(tdl_graph *g, const char *const *names, int count)
{
    assert_int_equal(tdl_graph_param_count(g), count);
    for (int i = 0; i < count; ++i) {
        tdl_node *p = tdl_graph_find(g, names[i]);
        if (!p || !tdl_param_data(p))
            fail_msg("parameter '%s' is missing", names[i]);
    }
}

static void test_blocks(void **state)
{
    (void)state;
    /* separable block: 8 -> 16 channels, stride 2 on 9x9 */
    {
        fx f;
        fx_open(&f);
        tdl_node *x = input4(f.g, "x", 8, 9, 9);
        tdl_node *y = BUILT(f.g, tdl_separable_conv_block(f.g, x, 16, 2, "sep"));
        check_shape(y, 4, (const int64_t[]){TDL_BATCH, 16, 5, 5});
        static const char *const names[] = {
            "sep.dw.weight",        "sep.bn1.weight",     "sep.bn1.bias",   "sep.bn1.running_mean",
            "sep.bn1.running_var",  "sep.pw.weight",      "sep.bn2.weight", "sep.bn2.bias",
            "sep.bn2.running_mean", "sep.bn2.running_var"};
        check_names(f.g, names, 10);
        check_shape(tdl_graph_find(f.g, "sep.dw.weight"), 4, (const int64_t[]){8, 1, 3, 3});
        check_shape(tdl_graph_find(f.g, "sep.pw.weight"), 4, (const int64_t[]){16, 8, 1, 1});
        float *xv = random_floats(2 * 8 * 81, -1, 1, 1700);
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){2, 8, 9, 9}));
        TDL_OK_OR_FAIL(tdl_forward(f.g));
        float out[2 * 16 * 25];
        read_node(y, out, 2 * 16 * 25);
        for (int i = 0; i < 2 * 16 * 25; ++i)
            assert_true(out[i] >= 0.0f && isfinite(out[i])); /* after ReLU */
        free(xv);
        fx_close(&f);
    }
    /* residual block: same shape (identity shortcut), and stride 2 with 4 -> 8 channels */
    for (int down = 0; down < 2; ++down) {
        fx f;
        fx_open(&f);
        tdl_node *x = input4(f.g, "x", 4, 7, 7);
        tdl_node *y = BUILT(f.g, tdl_residual_block(f.g, x, down ? 8 : 4, down ? 2 : 1, "res"));
        int64_t oc = down ? 8 : 4, os = down ? 4 : 7;
        check_shape(y, 4, (const int64_t[]){TDL_BATCH, oc, os, os});
        static const char *const names[] = {"res.conv1.weight",       "res.bn1.weight",
                                            "res.bn1.bias",           "res.bn1.running_mean",
                                            "res.bn1.running_var",    "res.conv2.weight",
                                            "res.bn2.weight",         "res.bn2.bias",
                                            "res.bn2.running_mean",   "res.bn2.running_var",
                                            "res.down.conv.weight",   "res.down.bn.weight",
                                            "res.down.bn.bias",       "res.down.bn.running_mean",
                                            "res.down.bn.running_var"};
        check_names(f.g, names, down ? 15 : 10);
        if (!down)
            assert_null(tdl_graph_find(f.g, "res.down.conv.weight"));
        else
            check_shape(tdl_graph_find(f.g, "res.down.conv.weight"), 4,
                        (const int64_t[]){8, 4, 1, 1});
        check_shape(tdl_graph_find(f.g, "res.conv1.weight"), 4, (const int64_t[]){oc, 4, 3, 3});
        float *xv = random_floats(3 * 4 * 49, -1, 1, 1800);
        TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
        TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 4, (const int64_t[]){3, 4, 7, 7}));
        TDL_OK_OR_FAIL(tdl_forward(f.g));
        int64_t ny = 3 * oc * os * os;
        float *out = malloc(sizeof(float) * (size_t)ny);
        read_node(y, out, ny);
        for (int64_t i = 0; i < ny; ++i)
            assert_true(out[i] >= 0.0f && isfinite(out[i]));
        free(out);
        free(xv);
        fx_close(&f);
    }
}

/* Gradient check through a tiny residual block (stride 2, 2 -> 3 channels),
 * every trainable parameter (conv weights, batch-norm weights and biases). */
static void test_residual_grad(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[4] = {2, 2, 5, 5};
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 4, s, -1, 1));
    tdl_node *y = BUILT(f.g, tdl_residual_block(f.g, x, 3, 2, "res"));
    /* the ReLUs' kinks: with these seeds no pre-activation lies within a
     * finite-difference step of 0 */
    check_grads(&f, tdl_sigmoid(f.g, y), 1900, "residual block");
    fx_close(&f);
}

/* ---- bad arguments ---- */

typedef tdl_node *(*bad_fn)(tdl_graph *g, tdl_node *x4, tdl_node *x1);

static tdl_node *bad_pool_kernel(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_max_pool2d(g, x4, 5, 5, 1, 1, 0, 0); /* 4x4 input */
}
static tdl_node *bad_pool_kernel_pad(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_avg_pool2d(g, x4, 7, 2, 1, 1, 1, 1); /* 7 > 4 + 2 */
}
static tdl_node *bad_pool_negpad(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_avg_pool2d(g, x4, 2, 2, 2, 2, -1, 0);
}
static tdl_node *bad_pool_stride(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_max_pool2d(g, x4, 2, 2, 0, 2, 0, 0);
}
static tdl_node *bad_pool_bigpad(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_max_pool2d(g, x4, 2, 2, 2, 2, 2, 0);
}
static tdl_node *bad_pool_rank(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x4;
    return tdl_max_pool2d(g, x1, 1, 1, 1, 1, 0, 0);
}
static tdl_node *bad_pad_negative(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    const int64_t pads[8] = {0, 0, 0, 0, 1, -1, 0, 0};
    return tdl_pad(g, x4, 4, pads, 0.0f);
}
static tdl_node *bad_pad_batch(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    const int64_t pads[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    return tdl_pad(g, x4, 4, pads, 0.0f);
}
static tdl_node *bad_pad_ndim(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    const int64_t pads[4] = {0, 0, 1, 1};
    return tdl_pad(g, x4, 2, pads, 0.0f);
}
static tdl_node *bad_upsample(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_upsample_nearest2d(g, x4, 0, 2);
}
static tdl_node *bad_gap(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x4;
    return tdl_global_avg_pool(g, x1);
}
static tdl_node *bad_bn_1d(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x4;
    return tdl_batch_norm(g, x1, "bn", 0.1f, 1e-5f);
}
static tdl_node *bad_bn_name(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_batch_norm(g, x4, NULL, 0.1f, 1e-5f);
}
static tdl_node *bad_bn_momentum(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_batch_norm(g, x4, "bn", 1.5f, 1e-5f);
}
static tdl_node *bad_ln_name(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_layer_norm(g, x4, 1, "", 1e-5f);
}
static tdl_node *bad_ln_axes(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_layer_norm(g, x4, 0, "ln", 1e-5f);
}
static tdl_node *bad_ln_batch(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_layer_norm(g, x4, 4, "ln", 1e-5f);
}
static tdl_node *bad_sdrop(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_spatial_dropout(g, x4, 1.0f);
}
static tdl_node *bad_sep_name(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_separable_conv_block(g, x4, 8, 1, NULL);
}
static tdl_node *bad_res_name(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_residual_block(g, x4, 8, 1, "");
}
static tdl_node *bad_res_stride(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x1;
    return tdl_residual_block(g, x4, 8, 0, "res");
}
static tdl_node *bad_pool_dtype(tdl_graph *g, tdl_node *x4, tdl_node *x1)
{
    (void)x4;
    (void)x1;
    const int64_t s[2] = {TDL_BATCH, 3};
    tdl_node *lab = tdl_input(g, "lab", TDL_I32, 2, s);
    return tdl_max_pool2d(g, lab, 1, 1, 1, 1, 0, 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static const struct {
        bad_fn fn;
        tdl_status status;
        const char *needle;
    } cases[] = {
        {bad_pool_kernel, TDL_ERR_SHAPE, "max_pool2d"},
        {bad_pool_kernel_pad, TDL_ERR_SHAPE, "avg_pool2d"},
        {bad_pool_negpad, TDL_ERR_INVALID_ARGUMENT, "avg_pool2d"},
        {bad_pool_stride, TDL_ERR_INVALID_ARGUMENT, "max_pool2d"},
        {bad_pool_bigpad, TDL_ERR_INVALID_ARGUMENT, "max_pool2d"},
        {bad_pool_rank, TDL_ERR_SHAPE, "max_pool2d"},
        {bad_pad_negative, TDL_ERR_INVALID_ARGUMENT, "pad"},
        {bad_pad_batch, TDL_ERR_SHAPE, "pad"},
        {bad_pad_ndim, TDL_ERR_INVALID_ARGUMENT, "pad"},
        {bad_upsample, TDL_ERR_INVALID_ARGUMENT, "upsample_nearest2d"},
        {bad_gap, TDL_ERR_SHAPE, "global_avg_pool"},
        {bad_bn_1d, TDL_ERR_SHAPE, "batch_norm"},
        {bad_bn_name, TDL_ERR_INVALID_ARGUMENT, "batch_norm"},
        {bad_bn_momentum, TDL_ERR_INVALID_ARGUMENT, "batch_norm"},
        {bad_ln_name, TDL_ERR_INVALID_ARGUMENT, "layer_norm"},
        {bad_ln_axes, TDL_ERR_INVALID_ARGUMENT, "layer_norm"},
        {bad_ln_batch, TDL_ERR_SHAPE, "layer_norm"},
        {bad_sdrop, TDL_ERR_INVALID_ARGUMENT, "spatial_dropout"},
        {bad_sep_name, TDL_ERR_INVALID_ARGUMENT, "separable_conv_block"},
        {bad_res_name, TDL_ERR_INVALID_ARGUMENT, "residual_block"},
        {bad_res_stride, TDL_ERR_INVALID_ARGUMENT, "residual_block"},
        {bad_pool_dtype, TDL_ERR_DTYPE, "max_pool2d"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        fx f;
        fx_open(&f);
        tdl_node *x4 = input4(f.g, "x", 2, 4, 4);
        const int64_t s1[1] = {TDL_BATCH};
        tdl_node *x1 = BUILT(f.g, tdl_input(f.g, "v", TDL_F32, 1, s1));
        tdl_node *y = cases[k].fn(f.g, x4, x1);
        if (y)
            fail_msg("case %d (%s): builder succeeded", (int)k, cases[k].needle);
        if (tdl_graph_status(f.g) != cases[k].status)
            fail_msg("case %d (%s): status %d, expected %d: %s", (int)k, cases[k].needle,
                     (int)tdl_graph_status(f.g), (int)cases[k].status, tdl_graph_error(f.g));
        check_contains(tdl_graph_error(f.g), cases[k].needle);
        /* sticky: later builders do nothing, compile reports the first error */
        assert_null(tdl_max_pool2d(f.g, x4, 2, 2, 2, 2, 0, 0));
        assert_int_equal(tdl_graph_compile(f.g), cases[k].status);
        fx_close(&f);
    }
    /* NULL graph and NULL input */
    assert_null(tdl_max_pool2d(NULL, NULL, 2, 2, 2, 2, 0, 0));
    fx f;
    fx_open(&f);
    assert_null(tdl_batch_norm(f.g, NULL, "bn", 0.1f, 1e-5f));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_INVALID_ARGUMENT);
    fx_close(&f);
    /* training batch norm on one value per channel fails at run time */
    fx_open(&f);
    const int64_t s2[2] = {TDL_BATCH, 3};
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 2, s2));
    BUILT(f.g, tdl_batch_norm(f.g, x, "bn", 0.1f, 1e-5f));
    const float one[3] = {1, 2, 3};
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, one, 2, (const int64_t[]){1, 3}));
    assert_int_equal(tdl_forward(f.g), TDL_ERR_SHAPE);
    check_contains(tdl_graph_error(f.g), "batch_norm");
    TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0)); /* eval mode: fine */
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    fx_close(&f);
}

/* ---- thread-count independence ---- */

/* A net of this file's ops; returns the loss after forward + backward and
 * copies out the output and every parameter gradient. */
static void run_net(int32_t threads, float *out, int64_t nout, float *grads, int64_t ngrads)
{
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, threads));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 5));
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    const int64_t n = 16, c = 16, hw = 32;
    tdl_node *x = input4(g, "x", c, hw, hw);
    tdl_node *h = BUILT(g, tdl_batch_norm(g, x, "bn1", 0.1f, 1e-5f));
    h = tdl_spatial_dropout(g, tdl_relu(g, h), 0.2f);
    h = tdl_max_pool2d(g, h, 2, 2, 2, 2, 0, 0); /* 16x16 */
    h = tdl_avg_pool2d(g, h, 3, 3, 1, 1, 1, 1); /* 16x16 */
    h = tdl_upsample_nearest2d(g, h, 2, 2);     /* 32x32 */
    const int64_t pads[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    h = tdl_pad(g, h, 4, pads, 0.0f); /* 34x34 */
    h = tdl_batch_norm(g, h, "bn2", 0.1f, 1e-5f);
    h = tdl_layer_norm(g, h, 2, "ln", 1e-5f);
    tdl_node *gp = BUILT(g, tdl_global_avg_pool(g, h)); /* [B, 16] */
    tdl_node *y = BUILT(g, tdl_dense(g, tdl_flatten(g, gp), 4, "fc"));
    tdl_node *loss = BUILT(g, tdl_sum(g, tdl_mul(g, y, y), 0, NULL, 0));
    float *xv = random_floats(n * c * hw * hw, -1, 1, 2000);
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, (const int64_t[]){n, c, hw, hw}));
    TDL_OK_OR_FAIL(tdl_forward(g));
    read_node(y, out, nout);
    TDL_OK_OR_FAIL(tdl_backward(g, loss));
    int64_t off = 0;
    for (int64_t i = 0; i < tdl_graph_param_count(g); ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        int32_t nd;
        int64_t s[TDL_MAX_DIMS];
        tdl_node_shape(p, &nd, s);
        int64_t k = shape_numel(nd, s);
        assert_true(off + 2 * k <= ngrads);
        memcpy(grads + off, tdl_param_grad(p), sizeof(float) * (size_t)k);
        memcpy(grads + off + k, tdl_param_data(p), sizeof(float) * (size_t)k); /* buffers */
        off += 2 * k;
    }
    free(xv);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    enum { NOUT = 16 * 4, NG = 8192 };
    static float o1[NOUT], o3[NOUT], g1[NG], g3[NG];
    memset(g1, 0, sizeof g1);
    memset(g3, 0, sizeof g3);
    run_net(1, o1, NOUT, g1, NG);
    run_net(3, o3, NOUT, g3, NG);
    assert_memory_equal(o1, o3, sizeof o1);
    assert_memory_equal(g1, g3, sizeof g1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_forward),
        cmocka_unit_test(test_max_pool_first_max),
        cmocka_unit_test(test_global_avg_pool_forward),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_upsample_forward),
        cmocka_unit_test(test_pad_forward),
        cmocka_unit_test(test_batch_norm_forward),
        cmocka_unit_test(test_batch_norm_2d),
        cmocka_unit_test(test_layer_norm_forward),
        cmocka_unit_test(test_pool_grad),
        cmocka_unit_test(test_max_pool_of_relu_grad),
        cmocka_unit_test(test_resize_grad),
        cmocka_unit_test(test_batch_norm_grad),
        cmocka_unit_test(test_layer_norm_grad),
        cmocka_unit_test(test_second_order),
        cmocka_unit_test(test_spatial_dropout),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_residual_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
