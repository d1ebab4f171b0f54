/* Second-order checks: gradient rules are built from ordinary ops, so a
 * gradient can be differentiated again (DESIGN §4).
 *
 * For each smooth op family: L = weighted_sum(op(params)), G = tdl_grad(L, p)
 * for one parameter p, P = sum(G * G), and test_gradcheck(P) compares the
 * analytic gradient of P (the gradient rules differentiated) with finite
 * differences of P over every parameter (so mixed partials are covered too).
 * For ops that are linear in their inputs G would not depend on the
 * parameters, so they are also checked squared: L = weighted_sum(op(p)^2)
 * (then the op's rule receives an upstream gradient that depends on p, and
 * the derivative of the rule with respect to that gradient is exercised).
 *
 * Tolerances: those of test_util.h (eps 1e-3, atol 2e-3, rtol 2e-2), except
 * that the absolute floor grows with |P|: P is a float sum of squares that
 * can reach a few hundred for the squared variants, and the rounding of its
 * central difference is about k ulp(P) / eps = k 1.2e-7 |P| / 1e-3 for a few
 * roundings k, so atol = max(2e-3, 1e-3 |P|) (a wrong rule is off by O(|G|),
 * far more). Inputs keep third derivatives moderate (|x| <= 2, log and sqrt
 * on [0.5, 2]).
 *
 * Also: the gradient of a gradient-norm penalty of a small MLP, and the
 * TDL_ERR_UNSUPPORTED error for GELU's third derivative (not provided). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

/* P = sum(grad(weighted_sum(y), p)^2), then a gradcheck of P. */
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

static tdl_node *square(tdl_graph *g, tdl_node *y)
{
    return tdl_mul(g, y, y);
}

/* Runs one case twice: op(params) and op(params)^2. */
typedef tdl_node *(*build_fn)(tdl_graph *g, tdl_node **p);

static void run_case(build_fn build, const char *what, uint64_t seed)
{
    for (int sq = 0; sq < 2; ++sq) {
        fx f;
        fx_open(&f);
        tdl_node *p = NULL;
        tdl_node *y = build(f.g, &p);
        if (sq)
            y = square(f.g, y);
        char name[96];
        snprintf(name, sizeof name, "%s%s", what, sq ? " (squared)" : "");
        check_grad2(&f, y, p, seed + (uint64_t)sq, name);
        fx_close(&f);
    }
}

static const int64_t S34[2] = {3, 4};

/* ---- the op families ---- */

static tdl_node *b_mul(tdl_graph *g, tdl_node **p)
{
    const int64_t s3[1] = {4};
    tdl_node *a = test_param(g, "a", 2, S34, -1.5f, 1.5f);
    tdl_node *b = test_param(g, "b", 1, s3, -1.5f, 1.5f);
    *p = a;
    return tdl_mul(g, tdl_mul(g, a, b), a);
}

static tdl_node *b_div(tdl_graph *g, tdl_node **p)
{
    const int64_t s21[2] = {3, 1};
    tdl_node *a = test_param(g, "a", 2, S34, -1.5f, 1.5f);
    tdl_node *b = test_param(g, "b", 2, s21, 0.7f, 1.5f);
    *p = b;
    return tdl_div(g, a, b);
}

static tdl_node *b_div_a(tdl_graph *g, tdl_node **p)
{
    tdl_node *a = test_param(g, "a", 2, S34, -1.5f, 1.5f);
    tdl_node *b = test_param(g, "b", 2, S34, 0.7f, 1.5f);
    *p = a;
    return tdl_div(g, a, b);
}

static tdl_node *b_matmul(tdl_graph *g, tdl_node **p)
{
    const int64_t sb[2] = {4, 2};
    tdl_node *a = test_param(g, "a", 2, S34, -1, 1);
    tdl_node *b = test_param(g, "b", 2, sb, -1, 1);
    *p = a;
    return tdl_matmul(g, a, b);
}

static tdl_node *b_matmul_batched(tdl_graph *g, tdl_node **p)
{
    const int64_t sa[3] = {2, 2, 3}, sb[3] = {2, 3, 2};
    tdl_node *a = test_param(g, "a", 3, sa, -1, 1);
    tdl_node *b = test_param(g, "b", 3, sb, -1, 1);
    *p = b;
    return tdl_matmul(g, a, b);
}

static tdl_node *b_matmul_3x2(tdl_graph *g, tdl_node **p)
{
    const int64_t sa[3] = {2, 2, 3}, sb[2] = {3, 2};
    tdl_node *a = test_param(g, "a", 3, sa, -1, 1);
    tdl_node *b = test_param(g, "b", 2, sb, -1, 1);
    *p = b;
    return tdl_matmul(g, a, b);
}

static tdl_node *b_matmul_3x2_a(tdl_graph *g, tdl_node **p)
{
    const int64_t sa[3] = {2, 2, 3}, sb[2] = {3, 2};
    tdl_node *a = test_param(g, "a", 3, sa, -1, 1);
    tdl_node *b = test_param(g, "b", 2, sb, -1, 1);
    *p = a;
    return tdl_matmul(g, a, b);
}

static tdl_node *b_tanh(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_tanh(g, *p);
}

static tdl_node *b_sigmoid(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_sigmoid(g, *p);
}

static tdl_node *b_gelu(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_gelu(g, *p);
}

static tdl_node *b_exp(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -1, 1);
    return tdl_exp(g, *p);
}

static tdl_node *b_log(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, 0.5f, 2);
    return tdl_log(g, *p);
}

static tdl_node *b_sqrt(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, 0.5f, 2);
    return tdl_sqrt(g, *p);
}

static tdl_node *b_softmax_last(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_softmax(g, *p, -1);
}

static tdl_node *b_softmax_0(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_softmax(g, *p, 0);
}

static tdl_node *b_log_softmax_last(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_log_softmax(g, *p, 1);
}

static tdl_node *b_log_softmax_0(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_log_softmax(g, *p, -2);
}

static const int32_t AX1 = 1;

static tdl_node *b_sum(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_sum(g, tdl_tanh(g, *p), 1, &AX1, 1);
}

static tdl_node *b_sum_plain(tdl_graph *g, tdl_node **p)
{
    const int32_t ax[2] = {0, 2};
    const int64_t s[3] = {2, 3, 2};
    *p = test_param(g, "x", 3, s, -2, 2);
    return tdl_sum(g, *p, 2, ax, 0);
}

static tdl_node *b_mean(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_mean(g, tdl_exp(g, *p), 1, &AX1, 0);
}

static tdl_node *b_mean_plain(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -2, 2);
    return tdl_mean(g, *p, 0, NULL, 0);
}

/* A [3,4] parameter with distinct values 0.3 apart (shuffled): no ties, so
 * finite differences never cross a change of the maximum. */
static tdl_node *distinct_param(tdl_graph *g)
{
    tdl_node *p = test_param(g, "x", 2, S34, -2, 2);
    if (p) {
        float *d = tdl_param_data(p);
        for (int i = 0; i < 12; ++i)
            d[i] = (float)((i * 5) % 12) * 0.3f - 1.6f;
    }
    return p;
}

static tdl_node *b_max(tdl_graph *g, tdl_node **p)
{
    *p = distinct_param(g);
    return tdl_max(g, *p, 1, &AX1, 0);
}

static tdl_node *b_max_all(tdl_graph *g, tdl_node **p)
{
    *p = distinct_param(g);
    return tdl_max(g, tdl_mul(g, *p, *p), 0, NULL, 1);
}

static tdl_node *b_elu(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -1.5f, 1.5f);
    push_from_zero(tdl_param_data(*p), 12, 0.1f);
    return tdl_elu(g, *p, 1.3f);
}

static tdl_node *b_leaky(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -1.5f, 1.5f);
    push_from_zero(tdl_param_data(*p), 12, 0.1f);
    return tdl_leaky_relu(g, *p, 0.2f);
}

static tdl_node *b_relu(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -1.5f, 1.5f);
    push_from_zero(tdl_param_data(*p), 12, 0.1f);
    return tdl_relu(g, *p);
}

static tdl_node *b_add_bcast(tdl_graph *g, tdl_node **p)
{
    const int64_t s[1] = {4};
    tdl_node *a = test_param(g, "a", 2, S34, -1, 1);
    tdl_node *b = test_param(g, "b", 1, s, -1, 1);
    *p = b;
    return tdl_add(g, a, b);
}

static tdl_node *b_sub_bcast(tdl_graph *g, tdl_node **p)
{
    const int64_t s[2] = {3, 1};
    tdl_node *a = test_param(g, "a", 2, S34, -1, 1);
    tdl_node *b = test_param(g, "b", 2, s, -1, 1);
    *p = b;
    return tdl_sub(g, a, b);
}

static tdl_node *b_affine(tdl_graph *g, tdl_node **p)
{
    *p = test_param(g, "x", 2, S34, -1, 1);
    return tdl_affine_scalar(g, tdl_tanh(g, *p), -1.5f, 0.25f);
}

static tdl_node *b_concat_slice(tdl_graph *g, tdl_node **p)
{
    const int64_t sa[2] = {3, 2};
    tdl_node *a = test_param(g, "a", 2, sa, -1, 1);
    tdl_node *b = test_param(g, "b", 2, S34, -1, 1);
    tdl_node *xs[2] = {a, tdl_tanh(g, b)};
    *p = b;
    tdl_node *c = tdl_concat(g, 2, xs, 1); /* [3, 6] */
    return tdl_slice(g, c, 1, 1, 5);       /* one column of a, three of tanh(b) */
}

static tdl_node *b_concat0(tdl_graph *g, tdl_node **p)
{
    const int64_t sa[2] = {1, 4};
    tdl_node *a = test_param(g, "a", 2, sa, -1, 1);
    tdl_node *b = test_param(g, "b", 2, S34, -1, 1);
    tdl_node *xs[3] = {b, a, b};
    *p = a;
    return tdl_concat(g, 3, xs, 0);
}

static tdl_node *b_reshape_permute(tdl_graph *g, tdl_node **p)
{
    const int64_t s[3] = {2, 3, 2}, r[2] = {-1, 4};
    const int32_t perm[3] = {2, 0, 1};
    *p = test_param(g, "x", 3, s, -1, 1);
    tdl_node *t = tdl_permute(g, tdl_sigmoid(g, *p), 3, perm);
    return tdl_transpose(g, tdl_reshape(g, t, 2, r));
}

static tdl_node *b_reshape_plain(tdl_graph *g, tdl_node **p)
{
    const int64_t s[3] = {2, 3, 2}, r[2] = {3, -1};
    const int32_t perm[2] = {1, 0};
    *p = test_param(g, "x", 3, s, -1, 1);
    return tdl_permute(g, tdl_reshape(g, *p, 2, r), 2, perm);
}

static tdl_node *b_xent(tdl_graph *g, tdl_node **p)
{
    const int64_t s[2] = {3, 4}, sl[1] = {3};
    static const int32_t lab[3] = {2, 0, 3};
    *p = test_param(g, "logits", 2, s, -2, 2);
    tdl_node *l = tdl_input(g, "labels", TDL_I32, 1, sl);
    if (!l || tdl_feed(g, l, lab, 1, sl) != TDL_OK)
        return NULL;
    return tdl_cross_entropy(g, *p, l);
}

static tdl_node *b_xent_smooth(tdl_graph *g, tdl_node **p)
{
    const int64_t s[2] = {3, 4}, sl[1] = {3};
    static const int32_t lab[3] = {1, 3, 3};
    *p = test_param(g, "logits", 2, s, -2, 2);
    tdl_node *l = tdl_input(g, "labels", TDL_I32, 1, sl);
    if (!l || tdl_feed(g, l, lab, 1, sl) != TDL_OK)
        return NULL;
    return tdl_cross_entropy_smooth(g, *p, l, 0.15f);
}

static tdl_node *b_bce(tdl_graph *g, tdl_node **p)
{
    tdl_node *z = test_param(g, "logits", 2, S34, -2, 2);
    tdl_node *t = test_param(g, "targets", 2, S34, 0, 1);
    *p = z;
    return tdl_bce_with_logits(g, z, t);
}

static tdl_node *b_bce_t(tdl_graph *g, tdl_node **p)
{
    tdl_node *z = test_param(g, "logits", 2, S34, -2, 2);
    tdl_node *t = test_param(g, "targets", 2, S34, 0, 1);
    *p = t;
    return tdl_bce_with_logits(g, tdl_mul(g, z, t), t);
}

static tdl_node *b_mse(tdl_graph *g, tdl_node **p)
{
    tdl_node *a = test_param(g, "pred", 2, S34, -1, 1);
    tdl_node *t = test_param(g, "target", 2, S34, -1, 1);
    *p = a;
    return tdl_mse_loss(g, tdl_tanh(g, a), t);
}

static tdl_node *b_mse_plain(tdl_graph *g, tdl_node **p)
{
    tdl_node *a = test_param(g, "pred", 2, S34, -1, 1);
    tdl_node *t = test_param(g, "target", 2, S34, -1, 1);
    *p = t;
    return tdl_mse_loss(g, a, t);
}

static tdl_node *b_dense(tdl_graph *g, tdl_node **p)
{
    const int64_t s[2] = {2, 3};
    tdl_node *x = test_param(g, "x", 2, s, -1, 1);
    tdl_node *y = tdl_dense(g, x, 3, "fc");
    *p = tdl_graph_find(g, "fc.weight");
    return tdl_tanh(g, y);
}

static const struct {
    const char *name;
    build_fn fn;
} cases[] = {
    {"mul", b_mul},
    {"div (divisor)", b_div},
    {"div (dividend)", b_div_a},
    {"matmul 2-D", b_matmul},
    {"matmul batched", b_matmul_batched},
    {"matmul 3-D x 2-D (b)", b_matmul_3x2},
    {"matmul 3-D x 2-D (a)", b_matmul_3x2_a},
    {"tanh", b_tanh},
    {"sigmoid", b_sigmoid},
    {"gelu", b_gelu},
    {"exp", b_exp},
    {"log", b_log},
    {"sqrt", b_sqrt},
    {"softmax last axis", b_softmax_last},
    {"softmax axis 0", b_softmax_0},
    {"log_softmax last axis", b_log_softmax_last},
    {"log_softmax axis 0", b_log_softmax_0},
    {"sum of tanh", b_sum},
    {"sum", b_sum_plain},
    {"mean of exp", b_mean},
    {"mean", b_mean_plain},
    {"max", b_max},
    {"max of x^2", b_max_all},
    {"elu", b_elu},
    {"leaky_relu", b_leaky},
    {"relu", b_relu},
    {"add broadcast", b_add_bcast},
    {"sub broadcast", b_sub_bcast},
    {"affine", b_affine},
    {"concat + slice", b_concat_slice},
    {"concat axis 0", b_concat0},
    {"reshape + permute", b_reshape_permute},
    {"reshape + permute (linear)", b_reshape_plain},
    {"cross_entropy", b_xent},
    {"cross_entropy_smooth", b_xent_smooth},
    {"bce_with_logits (logits)", b_bce},
    {"bce_with_logits (targets)", b_bce_t},
    {"mse_loss (pred)", b_mse},
    {"mse_loss (target)", b_mse_plain},
    {"dense", b_dense},
};

static void test_op_families(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c)
        run_case(cases[c].fn, cases[c].name, 200 + 2 * c);
}

/* G for an op whose gradient is exactly known: L = sum(w * x^3) gives
 * G = 3 w x^2, checked by value (not only by finite differences). */
static void test_grad_values(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[1] = {5};
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 1, s, -1, 1));
    float w[5];
    test_fill_uniform(w, 5, -1, 1, 300);
    tdl_node *wn = BUILT(f.g, tdl_constant(f.g, "w", w, 1, s));
    tdl_node *cube = BUILT(f.g, tdl_mul(f.g, tdl_mul(f.g, x, x), x));
    tdl_node *loss = BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, cube, wn), 0, NULL, 0));
    tdl_node *gx = BUILT(f.g, tdl_grad(f.g, loss, x));
    tdl_node *ggx = BUILT(f.g, tdl_grad(f.g, tdl_sum(f.g, gx, 0, NULL, 0), x));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    const float *xv = tdl_param_data(x);
    double want[5], want2[5];
    for (int i = 0; i < 5; ++i) {
        want[i] = 3.0 * w[i] * xv[i] * xv[i];
        want2[i] = 6.0 * w[i] * xv[i];
    }
    run_and_check(f.g, gx, "d/dx sum(w x^3)", want, 5, 1e-5, 1e-7);
    run_and_check(f.g, ggx, "d/dx sum(3 w x^2)", want2, 5, 1e-5, 1e-7);
    /* a gradient that does not depend on x is zeros */
    const int64_t s1[1] = {1};
    tdl_node *other = BUILT(f.g, test_param(f.g, "other", 1, s1, -1, 1));
    tdl_node *gz = BUILT(f.g, tdl_grad(f.g, loss, other));
    const double zero[1] = {0};
    run_and_check(f.g, gz, "independent gradient", zero, 1, 0, 0);
    fx_close(&f);
}

/* The gradient of a gradient-norm penalty of a small MLP:
 * x [4,3] -> dense 5 -> tanh -> dense 2 -> mse vs a constant target;
 * P = L + 0.1 * sum over the weight matrices W of sum(grad(L, W)^2). */
static void test_mlp_gradient_penalty(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t sx[2] = {4, 3}, st[2] = {4, 2};
    tdl_node *x = BUILT(g, test_param(g, "x", 2, sx, -1, 1));
    tdl_node *h = BUILT(g, tdl_tanh(g, tdl_dense(g, x, 5, "l1")));
    tdl_node *out = BUILT(g, tdl_dense(g, h, 2, "l2"));
    float t[8];
    test_fill_uniform(t, 8, -1, 1, 310);
    tdl_node *target = BUILT(g, tdl_constant(g, "target", t, 2, st));
    tdl_node *loss = BUILT(g, tdl_mse_loss(g, out, target));
    /* non-zero biases, so that every term is generic */
    test_fill_uniform(tdl_param_data(tdl_graph_find(g, "l1.bias")), 5, -0.5f, 0.5f, 311);
    test_fill_uniform(tdl_param_data(tdl_graph_find(g, "l2.bias")), 2, -0.5f, 0.5f, 312);
    const char *weights[2] = {"l1.weight", "l2.weight"};
    tdl_node *pen = NULL;
    for (int i = 0; i < 2; ++i) {
        tdl_node *w = tdl_graph_find(g, weights[i]);
        assert_non_null(w);
        tdl_node *gw = BUILT(g, tdl_grad(g, loss, w));
        tdl_node *sq = BUILT(g, tdl_sum(g, tdl_mul(g, gw, gw), 0, NULL, 0));
        pen = pen ? BUILT(g, tdl_add(g, pen, sq)) : sq;
    }
    tdl_node *total = BUILT(g, tdl_add(g, loss, tdl_affine_scalar(g, pen, 0.1f, 0.0f)));
    assert_int_equal(tdl_graph_param_count(g), 5);
    int bad = test_gradcheck(g, total, EPS, ATOL, RTOL);
    assert_int_equal(bad, 0);
    /* the penalty changes the gradient: compare with the plain loss's gradient */
    tdl_node *w1 = tdl_graph_find(g, "l1.weight");
    float with_pen[15];
    memcpy(with_pen, tdl_param_grad(w1), sizeof with_pen);
    assert_int_equal(tdl_forward(g), TDL_OK);
    assert_int_equal(tdl_backward(g, loss), TDL_OK);
    double diff = 0;
    for (int i = 0; i < 15; ++i)
        diff += fabs((double)with_pen[i] - tdl_param_grad(w1)[i]);
    assert_true(diff > 1e-4);
    fx_close(&f);
}

/* GELU has first and second derivatives as ops; its third is not provided:
 * differentiating that often is a clear TDL_ERR_UNSUPPORTED sticky error. */
static void test_gelu_third_derivative(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t s[1] = {6};
    tdl_node *x = BUILT(g, test_param(g, "x", 1, s, -2, 2));
    tdl_node *l = BUILT(g, test_weighted_sum(g, tdl_gelu(g, x), 400));
    tdl_node *g1 = BUILT(g, tdl_grad(g, l, x));                          /* gelu'  */
    tdl_node *g2 = BUILT(g, tdl_grad(g, tdl_sum(g, g1, 0, NULL, 0), x)); /* gelu'' */
    tdl_node *p2 = BUILT(g, tdl_sum(g, tdl_mul(g, g2, g2), 0, NULL, 0));
    /* values of gelu' and gelu'' against the formulas */
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_run(g, g2), TDL_OK);
    float w[6], got[6];
    test_fill_uniform(w, 6, -1.0f, 1.0f, 400);
    double want[6];
    const float *xv = tdl_param_data(x);
    for (int i = 0; i < 6; ++i) {
        double v = xv[i], phi = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        want[i] = w[i] * (2.0 - v * v) * phi;
    }
    read_node(g2, got, 6);
    check_close("w gelu''", got, want, 6, 1e-5, 1e-6);
    assert_int_equal(tdl_run(g, g1), TDL_OK);
    for (int i = 0; i < 6; ++i) {
        double v = xv[i], phi = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        want[i] = w[i] * (0.5 * (1.0 + erf(v / sqrt(2.0))) + v * phi);
    }
    read_node(g1, got, 6);
    check_close("w gelu'", got, want, 6, 1e-5, 1e-6);
    /* the third derivative: the builder fails with a sticky UNSUPPORTED */
    assert_null(tdl_grad(g, p2, x));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_UNSUPPORTED);
    check_contains(tdl_graph_error(g), "gelu_grad2");
    check_contains(tdl_graph_error(g), "no gradient rule");
    check_contains(tdl_last_error(), "gelu_grad2");
    assert_int_equal(tdl_graph_compile(g), TDL_ERR_UNSUPPORTED);
    assert_null(tdl_relu(g, x));
    fx_close(&f);

    /* the same through tdl_backward() of a loss that holds gelu'' */
    fx_open(&f);
    g = f.g;
    x = BUILT(g, test_param(g, "x", 1, s, -2, 2));
    l = BUILT(g, test_weighted_sum(g, tdl_gelu(g, x), 401));
    g1 = BUILT(g, tdl_grad(g, l, x));
    g2 = BUILT(g, tdl_grad(g, tdl_sum(g, tdl_mul(g, g1, g1), 0, NULL, 0), x));
    p2 = BUILT(g, tdl_sum(g, tdl_mul(g, g2, g2), 0, NULL, 0));
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    assert_int_equal(tdl_backward(g, p2), TDL_ERR_UNSUPPORTED);
    check_contains(tdl_graph_error(g), "gelu_grad2");
    assert_int_equal(tdl_graph_status(g), TDL_ERR_UNSUPPORTED);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_families),
        cmocka_unit_test(test_grad_values),
        cmocka_unit_test(test_mlp_gradient_penalty),
        cmocka_unit_test(test_gelu_third_derivative),
    };
    return cmocka_run_group_tests_name("ops_grad2", tests, NULL, NULL);
}
