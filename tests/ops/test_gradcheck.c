/* Finite-difference gradient checks for every op and every differentiable
 * input (DESIGN §6).
 *
 * Each float input of an op is a parameter (test_param), the loss is
 * test_weighted_sum(op output) (random weights, so a transposed or permuted
 * gradient is caught), and test_gradcheck() compares tdl_backward() with
 * central differences for every parameter element. Tolerances are the ones
 * justified in test_util.h: eps 1e-3, |num - ana| <= 2e-3 + 2e-2 max(|num|,
 * |ana|). Inputs avoid kinks (relu, leaky_relu, elu: |x| >= 0.1 > eps; max:
 * no ties, values 0.1 apart) and the domain edges of log and sqrt.
 *
 * Ops whose gradient is not a finite difference (dropout: the mask changes
 * every step; stop_gradient: zero by definition; max with ties) are checked
 * against their defined gradient instead. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

/* loss = weighted_sum(y); every parameter of the graph is checked. */
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

/* A parameter with values in [lo, hi), pushed at least `gap` away from 0. */
static tdl_node *param_away(tdl_graph *g, const char *name, int32_t nd, const int64_t *shape,
                            float lo, float hi, float gap)
{
    tdl_node *p = BUILT(g, test_param(g, name, nd, shape, lo, hi));
    push_from_zero(tdl_param_data(p), shape_numel(nd, shape), gap);
    return p;
}

/* ---- elementwise arithmetic with broadcasting ---- */

static tdl_node *binop(tdl_graph *g, int op, tdl_node *a, tdl_node *b)
{
    switch (op) {
    case 0: return tdl_add(g, a, b);
    case 1: return tdl_sub(g, a, b);
    case 2: return tdl_mul(g, a, b);
    default: return tdl_div(g, a, b);
    }
}

static void test_binary(void **state)
{
    (void)state;
    static const char *names[4] = {"add", "sub", "mul", "div"};
    static const struct {
        int32_t an, bn;
        int64_t ad[3], bd[3];
    } shapes[] = {
        {2, 1, {2, 3}, {3}},       /* [2,3] op [3] */
        {1, 2, {3}, {2, 3}},       /* [3] op [2,3] */
        {2, 2, {2, 1}, {1, 3}},    /* [2,1] op [1,3] */
        {0, 2, {0}, {2, 3}},       /* scalar op [2,3] */
        {2, 0, {2, 3}, {0}},       /* [2,3] op scalar */
        {2, 2, {2, 3}, {2, 3}},    /* same shape */
        {3, 2, {2, 1, 4}, {3, 1}}, /* [2,1,4] op [3,1] -> [2,3,4] */
        {2, 2, {3, 4}, {1, 4}},    /* [3,4] op [1,4] */
    };
    for (int op = 0; op < 4; ++op)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
            fx f;
            fx_open(&f);
            /* divisors stay in [0.5, 1.5] */
            tdl_node *a = BUILT(f.g, test_param(f.g, "a", shapes[s].an, shapes[s].ad, -1.5f, 1.5f));
            tdl_node *b =
                op == 3 ? BUILT(f.g, test_param(f.g, "b", shapes[s].bn, shapes[s].bd, 0.5f, 1.5f))
                        : BUILT(f.g, test_param(f.g, "b", shapes[s].bn, shapes[s].bd, -1.5f, 1.5f));
            char what[64];
            snprintf(what, sizeof what, "%s case %d", names[op], (int)s);
            check_grads(&f, binop(f.g, op, a, b), 21 + s, what);
            fx_close(&f);
        }
    /* one node as both inputs: the two contributions add up */
    for (int op = 0; op < 4; ++op) {
        fx f;
        fx_open(&f);
        const int64_t s[2] = {2, 3};
        tdl_node *a = BUILT(f.g, test_param(f.g, "a", 2, s, 0.5f, 1.5f));
        /* a op a is constant for sub and div: add a square so the loss varies */
        tdl_node *y = binop(f.g, op, a, a);
        check_grads(&f, BUILT(f.g, tdl_add(f.g, y, tdl_mul(f.g, a, a))), 30 + op, names[op]);
        fx_close(&f);
    }
}

static void test_affine(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {2, 3};
    tdl_node *p = BUILT(f.g, test_param(f.g, "p", 2, s, -1, 1));
    check_grads(&f, tdl_affine_scalar(f.g, p, 1.7f, -0.3f), 40, "affine");
    fx_close(&f);
}

/* ---- matmul ---- */

static void matmul_case(int32_t an, const int64_t *ad, int32_t bn, const int64_t *bd,
                        const char *what)
{
    fx f;
    fx_open(&f);
    tdl_node *a = BUILT(f.g, test_param(f.g, "a", an, ad, -1, 1));
    tdl_node *b = BUILT(f.g, test_param(f.g, "b", bn, bd, -1, 1));
    check_grads(&f, tdl_matmul(f.g, a, b), 50, what);
    fx_close(&f);
}

static void test_matmul(void **state)
{
    (void)state;
    const int64_t a2[2] = {3, 4}, b2[2] = {4, 2};
    matmul_case(2, a2, 2, b2, "matmul 2-D");
    const int64_t a3[3] = {2, 3, 4}, b3[3] = {2, 4, 2};
    matmul_case(3, a3, 3, b3, "matmul batched");
    const int64_t b32[2] = {4, 5};
    matmul_case(3, a3, 2, b32, "matmul 3-D x 2-D");
    const int64_t a4[4] = {2, 1, 2, 3}, b4[4] = {2, 1, 3, 2};
    matmul_case(4, a4, 4, b4, "matmul 4-D");
    const int64_t v1[2] = {1, 5}, v2[2] = {5, 1};
    matmul_case(2, v1, 2, v2, "matmul row x column");
    /* a transposed operand (permute feeding matmul) */
    fx f;
    fx_open(&f);
    tdl_node *a = BUILT(f.g, test_param(f.g, "a", 2, a2, -1, 1));
    tdl_node *b = BUILT(f.g, test_param(f.g, "b", 2, a2, -1, 1));
    check_grads(&f, tdl_matmul(f.g, a, tdl_transpose(f.g, b)), 51, "matmul a b^T");
    fx_close(&f);
}

/* ---- data movement ---- */

static void test_shape_ops(void **state)
{
    (void)state;
    const int64_t s3[3] = {2, 3, 4};
    for (int c = 0; c < 7; ++c) {
        fx f;
        fx_open(&f);
        tdl_node *p = BUILT(f.g, test_param(f.g, "p", 3, s3, -1, 1));
        tdl_node *y = NULL;
        const int64_t r1[2] = {4, -1}, r2[4] = {3, 2, 2, 2};
        const int32_t p1[3] = {2, 0, 1}, p2[3] = {1, 2, 0};
        const char *what = "";
        switch (c) {
        case 0:
            y = tdl_reshape(f.g, p, 2, r1);
            what = "reshape [4,-1]";
            break;
        case 1:
            y = tdl_reshape(f.g, p, 4, r2);
            what = "reshape [3,2,2,2]";
            break;
        case 2:
            y = tdl_transpose(f.g, p);
            what = "transpose";
            break;
        case 3:
            y = tdl_permute(f.g, p, 3, p1);
            what = "permute {2,0,1}";
            break;
        case 4:
            y = tdl_permute(f.g, p, 3, p2);
            what = "permute {1,2,0}";
            break;
        case 5:
            y = tdl_slice(f.g, p, 1, 1, 3);
            what = "slice axis 1";
            break;
        default:
            y = tdl_slice(f.g, tdl_slice(f.g, p, -1, 1, 4), 0, 1, 2);
            what = "slice of a slice";
            break;
        }
        check_grads(&f, y, 60 + c, what);
        fx_close(&f);
    }
}

static void test_concat(void **state)
{
    (void)state;
    /* axis 1 of [2,1], [2,2], [2,3]; axis 0 of [1,3], [2,3], [1,3]; axis -1 of 3-D */
    static const struct {
        int32_t nd, axis;
        int64_t d[3][3];
    } cases[] = {
        {2, 1, {{2, 1}, {2, 2}, {2, 3}}},
        {2, 0, {{1, 3}, {2, 3}, {1, 3}}},
        {3, -1, {{2, 2, 1}, {2, 2, 3}, {2, 2, 2}}},
        {3, 1, {{2, 1, 2}, {2, 3, 2}, {2, 1, 2}}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        fx f;
        fx_open(&f);
        tdl_node *xs[3];
        const char *nm[3] = {"x0", "x1", "x2"};
        for (int i = 0; i < 3; ++i)
            xs[i] = BUILT(f.g, test_param(f.g, nm[i], cases[c].nd, cases[c].d[i], -1, 1));
        char what[32];
        snprintf(what, sizeof what, "concat case %d", (int)c);
        check_grads(&f, tdl_concat(f.g, 3, xs, cases[c].axis), 70 + c, what);
        fx_close(&f);
    }
    /* the same node twice */
    fx f;
    fx_open(&f);
    const int64_t s[2] = {2, 3};
    tdl_node *a = BUILT(f.g, test_param(f.g, "a", 2, s, -1, 1));
    tdl_node *xs[2] = {a, a};
    check_grads(&f, tdl_concat(f.g, 2, xs, 0), 75, "concat a, a");
    fx_close(&f);
}

/* ---- reductions ---- */

static void test_reductions(void **state)
{
    (void)state;
    static const struct {
        int32_t n;
        int32_t axes[3];
    } sets[] = {{1, {1}}, {2, {0, 2}}, {0, {0}}, {1, {-1}}, {2, {1, 0}}};
    const int64_t s3[3] = {2, 3, 4};
    for (int kind = 0; kind < 3; ++kind)
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; ++s)
            for (int keep = 0; keep < 2; ++keep) {
                fx f;
                fx_open(&f);
                tdl_node *p = BUILT(f.g, test_param(f.g, "p", 3, s3, -1, 1));
                if (kind == 2) {
                    /* distinct values 0.1 apart, shuffled (7 is prime to 24) */
                    float *d = tdl_param_data(p);
                    for (int i = 0; i < 24; ++i)
                        d[i] = (float)((i * 7) % 24) * 0.1f - 1.2f;
                }
                tdl_node *(*fn)(tdl_graph *, tdl_node *, int32_t, const int32_t *, int32_t) =
                    kind == 0   ? tdl_sum
                    : kind == 1 ? tdl_mean
                                : tdl_max;
                char what[64];
                snprintf(what, sizeof what, "%s set %d keepdims %d",
                         kind == 0   ? "sum"
                         : kind == 1 ? "mean"
                                     : "max",
                         (int)s, keep);
                check_grads(&f, fn(f.g, p, sets[s].n, sets[s].axes, keep), 80 + s, what);
                fx_close(&f);
            }
}

/* Ties share the gradient evenly (the documented subgradient). */
static void test_max_ties(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {2, 4};
    tdl_node *p = BUILT(f.g, tdl_param(f.g, "p", 2, s, TDL_INIT_ZEROS, 0, 0));
    const float v[8] = {1, 3, 3, 2, 5, 5, 5, -1};
    memcpy(tdl_param_data(p), v, sizeof v);
    const int32_t ax = 1;
    tdl_node *loss = BUILT(f.g, tdl_sum(f.g, tdl_max(f.g, p, 1, &ax, 0), 0, NULL, 0));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_forward(f.g), TDL_OK);
    assert_int_equal(tdl_backward(f.g, loss), TDL_OK);
    const float *gr = tdl_param_grad(p);
    const double want[8] = {0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0};
    check_close("max ties", gr, want, 8, 1e-6, 0);
    fx_close(&f);
}

/* ---- activations and math ---- */

static void test_activations(void **state)
{
    (void)state;
    const int64_t s[2] = {3, 4};
    for (int c = 0; c < 10; ++c) {
        fx f;
        fx_open(&f);
        tdl_graph *g = f.g;
        tdl_node *y = NULL;
        const char *what = "";
        switch (c) {
        case 0:
            y = tdl_relu(g, param_away(g, "x", 2, s, -1, 1, 0.1f));
            what = "relu";
            break;
        case 1:
            y = tdl_leaky_relu(g, param_away(g, "x", 2, s, -1, 1, 0.1f), 0.2f);
            what = "leaky_relu";
            break;
        case 2:
            y = tdl_elu(g, param_away(g, "x", 2, s, -1.5f, 1.5f, 0.1f), 1.3f);
            what = "elu";
            break;
        case 3:
            y = tdl_sigmoid(g, BUILT(g, test_param(g, "x", 2, s, -3, 3)));
            what = "sigmoid";
            break;
        case 4:
            y = tdl_tanh(g, BUILT(g, test_param(g, "x", 2, s, -2, 2)));
            what = "tanh";
            break;
        case 5:
            y = tdl_gelu(g, BUILT(g, test_param(g, "x", 2, s, -3, 3)));
            what = "gelu";
            break;
        case 6:
            y = tdl_exp(g, BUILT(g, test_param(g, "x", 2, s, -1, 1)));
            what = "exp";
            break;
        case 7:
            y = tdl_log(g, BUILT(g, test_param(g, "x", 2, s, 0.5f, 2)));
            what = "log";
            break;
        case 8:
            y = tdl_sqrt(g, BUILT(g, test_param(g, "x", 2, s, 0.5f, 2)));
            what = "sqrt";
            break;
        default:
            /* a chain: each rule sees a gradient that is not all ones */
            y = tdl_tanh(g, tdl_gelu(g, tdl_sigmoid(g, BUILT(g, test_param(g, "x", 2, s, -2, 2)))));
            what = "tanh(gelu(sigmoid))";
            break;
        }
        check_grads(&f, y, 90 + c, what);
        fx_close(&f);
    }
}

static void test_softmax(void **state)
{
    (void)state;
    const int64_t s2[2] = {3, 4}, s3[3] = {2, 3, 2};
    for (int log_ = 0; log_ < 2; ++log_)
        for (int c = 0; c < 4; ++c) {
            fx f;
            fx_open(&f);
            int three = c >= 2;
            tdl_node *x = BUILT(f.g, test_param(f.g, "x", three ? 3 : 2, three ? s3 : s2, -2, 2));
            int32_t axis = c == 0 ? -1 : c == 1 ? 0 : c == 2 ? 1 : 2;
            char what[48];
            snprintf(what, sizeof what, "%s axis %d of %d-D", log_ ? "log_softmax" : "softmax",
                     (int)axis, three ? 3 : 2);
            check_grads(&f, log_ ? tdl_log_softmax(f.g, x, axis) : tdl_softmax(f.g, x, axis),
                        100 + c, what);
            fx_close(&f);
        }
}

/* ---- losses ---- */

static void test_mse(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {3, 4};
    tdl_node *p = BUILT(f.g, test_param(f.g, "pred", 2, s, -1, 1));
    tdl_node *t = BUILT(f.g, test_param(f.g, "target", 2, s, -1, 1));
    check_grads(&f, tdl_mse_loss(f.g, p, t), 110, "mse_loss");
    fx_close(&f);
}

static void test_cross_entropy(void **state)
{
    (void)state;
    for (int smooth = 0; smooth < 2; ++smooth) {
        fx f;
        fx_open(&f);
        const int64_t s[2] = {4, 5}, sl[1] = {4};
        const int32_t lab[4] = {3, 0, 4, 1};
        tdl_node *z = BUILT(f.g, test_param(f.g, "logits", 2, s, -2, 2));
        tdl_node *l = BUILT(f.g, tdl_input(f.g, "labels", TDL_I32, 1, sl));
        assert_int_equal(tdl_feed(f.g, l, lab, 1, sl), TDL_OK);
        tdl_node *y =
            smooth ? tdl_cross_entropy_smooth(f.g, z, l, 0.2f) : tdl_cross_entropy(f.g, z, l);
        /* the scalar loss directly, and through a weight */
        tdl_node *loss = BUILT(f.g, tdl_affine_scalar(f.g, y, 3.0f, 0.0f));
        int bad = test_gradcheck(f.g, loss, EPS, ATOL, RTOL);
        assert_int_equal(bad, 0);
        check_grads(&f, y, 120 + smooth, smooth ? "cross_entropy_smooth" : "cross_entropy");
        fx_close(&f);
    }
}

static void test_bce(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {3, 4};
    tdl_node *z = BUILT(f.g, test_param(f.g, "logits", 2, s, -3, 3));
    tdl_node *t = BUILT(f.g, test_param(f.g, "targets", 2, s, 0, 1));
    check_grads(&f, tdl_bce_with_logits(f.g, z, t), 130, "bce_with_logits");
    fx_close(&f);
}

/* ---- layers ---- */

static void randomize_bias(tdl_graph *g, const char *name, int64_t n)
{
    tdl_node *b = tdl_graph_find(g, name);
    assert_non_null(b);
    test_fill_uniform(tdl_param_data(b), n, -0.5f, 0.5f, 7);
}

static void test_dense(void **state)
{
    (void)state;
    for (int c = 0; c < 3; ++c) {
        fx f;
        fx_open(&f);
        const int64_t s1[1] = {4}, s2[2] = {3, 4}, s3[3] = {2, 2, 4};
        const int64_t *sx = c == 0 ? s2 : c == 1 ? s1 : s3;
        tdl_node *x = BUILT(f.g, test_param(f.g, "x", c == 0 ? 2 : c == 1 ? 1 : 3, sx, -1, 1));
        tdl_node *y = BUILT(f.g, tdl_dense(f.g, x, 5, "fc"));
        assert_int_equal(tdl_graph_param_count(f.g), 3);
        randomize_bias(f.g, "fc.bias", 5);
        check_grads(&f, y, 140 + c, c == 0 ? "dense [3,4]" : c == 1 ? "dense [4]" : "dense 3-D");
        fx_close(&f);
    }
}

/* ---- stop_gradient and dropout: the defined gradients ---- */

static void test_stop_gradient(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {2, 3};
    tdl_node *p = BUILT(f.g, test_param(f.g, "p", 2, s, -1, 1));
    tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, tdl_stop_gradient(f.g, p), 150));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_forward(f.g), TDL_OK);
    /* make stale values visible: a backward must overwrite them with zeros */
    float *gr = tdl_param_grad(p);
    for (int i = 0; i < 6; ++i)
        gr[i] = 42.0f;
    assert_int_equal(tdl_backward(f.g, loss), TDL_OK);
    for (int i = 0; i < 6; ++i)
        if (gr[i] != 0.0f)
            fail_msg("gradient through stop_gradient [%d] = %g, expected exactly 0", i,
                     (double)gr[i]);
    fx_close(&f);

    /* loss = sum(c * p * stop_gradient(p)): the gradient is c * p (one path only) */
    fx_open(&f);
    p = BUILT(f.g, test_param(f.g, "p", 2, s, -1, 1));
    float c[6];
    test_fill_uniform(c, 6, -1, 1, 151);
    tdl_node *cn = BUILT(f.g, tdl_constant(f.g, "c", c, 2, s));
    tdl_node *prod = BUILT(f.g, tdl_mul(f.g, tdl_mul(f.g, p, tdl_stop_gradient(f.g, p)), cn));
    loss = BUILT(f.g, tdl_sum(f.g, prod, 0, NULL, 0));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_forward(f.g), TDL_OK);
    assert_int_equal(tdl_backward(f.g, loss), TDL_OK);
    double want[6];
    for (int i = 0; i < 6; ++i)
        want[i] = (double)c[i] * tdl_param_data(p)[i];
    check_close("grad of c p stop_gradient(p)", tdl_param_grad(p), want, 6, 1e-6, 0);
    /* and tdl_grad sees the same */
    tdl_node *gn = BUILT(f.g, tdl_grad(f.g, loss, p));
    float got[6];
    assert_int_equal(tdl_run(f.g, gn), TDL_OK);
    read_node(gn, got, 6);
    check_close("tdl_grad through stop_gradient", got, want, 6, 1e-6, 0);
    fx_close(&f);
}

/* loss = sum(dropout(x) * w): grad_x[i] = w[i] / (1 - p) where the output is
 * kept, 0 where it was dropped, with the mask of the forward pass. */
static void test_dropout(void **state)
{
    (void)state;
    enum { N = 300 };
    const float p = 0.4f;
    fx f;
    fx_open(&f);
    tdl_ctx_set_seed(f.ctx, 5);
    const int64_t s[1] = {N};
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 1, s, 0.5f, 1.5f));
    tdl_node *y = BUILT(f.g, tdl_dropout(f.g, x, p));
    /* a copy of y that nothing reads: its value stays readable after the run */
    tdl_node *yout = BUILT(f.g, tdl_affine_scalar(f.g, y, 1.0f, 0.0f));
    float w[N];
    test_fill_uniform(w, N, -1, 1, 160);
    tdl_node *wn = BUILT(f.g, tdl_constant(f.g, "w", w, 1, s));
    tdl_node *loss = BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, y, wn), 0, NULL, 0));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    float yv[N], prev[N];
    int changed = 0;
    for (int step = 0; step < 3; ++step) {
        /* step 0: backward builds the gradient pass (and reruns the forward
         * with the same step); later steps reuse it */
        assert_int_equal(tdl_forward(f.g), TDL_OK);
        read_node(yout, yv, N);
        assert_int_equal(tdl_backward(f.g, loss), TDL_OK);
        const float *gr = tdl_param_grad(x);
        int dropped = 0;
        for (int i = 0; i < N; ++i) {
            double want = yv[i] != 0.0f ? (double)w[i] / (1.0 - p) : 0.0;
            dropped += yv[i] == 0.0f;
            if (!(fabs(gr[i] - want) <= 1e-6 * fabs(want)))
                fail_msg("step %d: dropout grad[%d] = %.9g, expected %.9g (y = %g)", step, i,
                         (double)gr[i], want, (double)yv[i]);
        }
        assert_true(dropped > N / 5 && dropped < 3 * N / 5);
        if (step > 0)
            for (int i = 0; i < N; ++i)
                changed += (prev[i] == 0.0f) != (yv[i] == 0.0f);
        memcpy(prev, yv, sizeof yv);
    }
    assert_true(changed > 0); /* the masks did change between steps */
    /* eval mode: the gradient is w exactly */
    assert_int_equal(tdl_graph_set_training(f.g, 0), TDL_OK);
    assert_int_equal(tdl_forward(f.g), TDL_OK);
    assert_int_equal(tdl_backward(f.g, loss), TDL_OK);
    for (int i = 0; i < N; ++i)
        assert_true(tdl_param_grad(x)[i] == w[i]);
    fx_close(&f);
}

/* ---- symbolic batch under autodiff ---- */

static void test_batch_graph(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t sx[2] = {TDL_BATCH, 4}, s3[1] = {3};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *h = BUILT(g, tdl_tanh(g, tdl_dense(g, x, 3, "fc")));
    randomize_bias(g, "fc.bias", 3);
    const float c[3] = {1.0f, -2.0f, 0.5f};
    tdl_node *cn = BUILT(g, tdl_constant(g, "c", c, 1, s3));
    tdl_node *v = BUILT(g, test_param(g, "v", 1, s3, -1, 1));
    const int32_t ax0 = 0;
    /* mean over everything (1/(3B)), plus a mean over the batch axis only */
    tdl_node *l1 = BUILT(g, tdl_mean(g, tdl_mul(g, h, cn), 0, NULL, 0));
    tdl_node *l2 = BUILT(g, tdl_sum(g, tdl_mul(g, tdl_mean(g, h, 1, &ax0, 0), v), 0, NULL, 0));
    tdl_node *loss = BUILT(g, tdl_add(g, l1, l2));
    check_shape(loss, 0, NULL);
    float xv[5 * 4];
    test_fill_uniform(xv, 20, -2, 2, 170);
    const int64_t batches[2] = {5, 2};
    for (int b = 0; b < 2; ++b) {
        const int64_t fs[2] = {batches[b], 4};
        assert_int_equal(tdl_feed(g, x, xv, 2, fs), TDL_OK);
        int bad = test_gradcheck(g, loss, EPS, ATOL, RTOL);
        if (bad != 0)
            fail_msg("batch %lld: %d bad elements", (long long)batches[b], bad);
    }
    fx_close(&f);

    /* classification head on a batch: cross-entropy with [B] labels */
    fx_open(&f);
    g = f.g;
    const int64_t sl[1] = {TDL_BATCH};
    x = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *lab = BUILT(g, tdl_input(g, "y", TDL_I32, 1, sl));
    loss = BUILT(g, tdl_cross_entropy(g, tdl_dense(g, x, 3, "cls"), lab));
    randomize_bias(g, "cls.bias", 3);
    const int32_t labels[5] = {2, 0, 1, 1, 2};
    for (int b = 0; b < 2; ++b) {
        const int64_t fs[2] = {batches[b], 4}, fl[1] = {batches[b]};
        assert_int_equal(tdl_feed(g, x, xv, 2, fs), TDL_OK);
        assert_int_equal(tdl_feed(g, lab, labels, 1, fl), TDL_OK);
        assert_int_equal(test_gradcheck(g, loss, EPS, ATOL, RTOL), 0);
    }
    fx_close(&f);

    /* [B, 2, 3] inputs: batched matmul with a symbolic leading dimension,
     * transpose, broadcasting against a parameter, concat and slice on other
     * axes, and a dense layer on a 3-D input */
    fx_open(&f);
    g = f.g;
    const int64_t sb3[3] = {TDL_BATCH, 2, 3}, s23[2] = {2, 3};
    tdl_node *x3 = BUILT(g, tdl_input(g, "x3", TDL_F32, 3, sb3));
    tdl_node *p23 = BUILT(g, test_param(g, "p", 2, s23, -1, 1));
    tdl_node *a = BUILT(g, tdl_mul(g, x3, p23));                            /* [B,2,3] */
    tdl_node *att = BUILT(g, tdl_matmul(g, a, tdl_transpose(g, a)));        /* [B,2,2] */
    tdl_node *cat = BUILT(g, tdl_concat(g, 2, (tdl_node *[]){att, a}, -1)); /* [B,2,5] */
    tdl_node *slc = BUILT(g, tdl_slice(g, cat, 2, 1, 4));                   /* [B,2,3] */
    tdl_node *d = BUILT(g, tdl_dense(g, tdl_tanh(g, slc), 2, "fc3"));       /* [B,2,2] */
    randomize_bias(g, "fc3.bias", 2);
    const int64_t want[3] = {TDL_BATCH, 2, 2};
    check_shape(d, 3, want);
    const float wv[4] = {1.0f, -0.5f, 2.0f, 0.25f};
    const int64_t s22[2] = {2, 2};
    loss = BUILT(g, tdl_mean(g, tdl_mul(g, d, tdl_constant(g, "w", wv, 2, s22)), 0, NULL, 0));
    float x3v[4 * 6];
    test_fill_uniform(x3v, 24, -1, 1, 171);
    const int64_t b3[2] = {4, 1};
    for (int b = 0; b < 2; ++b) {
        const int64_t fs[3] = {b3[b], 2, 3};
        assert_int_equal(tdl_feed(g, x3, x3v, 3, fs), TDL_OK);
        assert_int_equal(test_gradcheck(g, loss, EPS, ATOL, RTOL), 0);
    }
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary),        cmocka_unit_test(test_affine),
        cmocka_unit_test(test_matmul),        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_concat),        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_max_ties),      cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax),       cmocka_unit_test(test_mse),
        cmocka_unit_test(test_cross_entropy), cmocka_unit_test(test_bce),
        cmocka_unit_test(test_dense),         cmocka_unit_test(test_stop_gradient),
        cmocka_unit_test(test_dropout),       cmocka_unit_test(test_batch_graph),
    };
    return cmocka_run_group_tests_name("ops_gradcheck", tests, NULL, NULL);
}
