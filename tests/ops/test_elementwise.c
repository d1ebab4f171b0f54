/* The ops that run on the exact vector kernels (lib/kernels, DESIGN §5):
 * relu_grad (relu's fused gradient), the 2x2 / stride-2 max pooling path,
 * and the vectorised binary ops and activations, checked through the graph.
 *
 * - relu_grad(x, dy) equals mul(dy, step(x)) bit for bit (the pair it
 *   replaces), special values included: where x <= 0 or x is NaN it is a
 *   zero with dy's sign, or NaN where dy is NaN or infinite; relu's gradient
 *   rule builds it (from relu's output, the same mask) and gives dy * step(x)
 *   for every x; its finite-difference gradient (d/dy; d/dx is zero away
 *   from the kink) and second-order checks (tolerances of test_util.h, as in
 *   test_gradcheck.c and test_grad2.c).
 * - max_pool2d 2x2 / 2 forward, its gradient (max_pool2d_scatter) and the
 *   gradient of that (max_pool2d_gather) against a plain reference of the
 *   rule in pool.c (first maximum, NaN wins, the first one), with ties,
 *   signed zeros, NaNs, odd planes and enough planes for several threads.
 * - add / sub / mul / div / affine and relu / leaky_relu / sqrt / step on
 *   sizes past the threading grain, against scalar formulas, bit for bit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#include "ops/op.h" /* tdl_relu_grad, tdl_step: internal builders */

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

static float fbits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t ubits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t next_u32(void)
{
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng >> 32);
}

/* Bitwise equality (NaN payloads and signs of zero included); with any_nan
 * a NaN matches any NaN. */
static void check_bits(const char *what, const float *got, const float *want, int64_t n,
                       int any_nan)
{
    for (int64_t i = 0; i < n; ++i) {
        if (any_nan && isnan(got[i]) && isnan(want[i]))
            continue;
        if (ubits(got[i]) != ubits(want[i]))
            fail_msg("%s[%lld]: got %.9g (0x%08x), expected %.9g (0x%08x)", what, (long long)i,
                     (double)got[i], (unsigned)ubits(got[i]), (double)want[i],
                     (unsigned)ubits(want[i]));
    }
}

/* A context with 4 threads (the test environment's CPU budget allows it). */
static void fx_open_threads(fx *f)
{
    fx_open(f);
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(f->ctx, 4));
}

/* Random values with signed zeros, infinities and NaNs mixed in. */
static void fill_special(float *x, int64_t n)
{
    static const uint32_t sp[] = {0x00000000u, 0x80000000u, 0x7f800000u,
                                  0xff800000u, 0x7fc01234u, 0xffc00001u};
    for (int64_t i = 0; i < n; ++i) {
        uint32_t r = next_u32();
        x[i] = r % 8 == 0 ? fbits(sp[(r >> 8) % 6])
                          : (float)((double)(r >> 8) / 16777216.0 * 6.0 - 3.0);
    }
}

/* ---- relu_grad ---- */

static void test_relu_grad_values(void **state)
{
    (void)state;
    /* past TDL_ELEMWISE_GRAIN, so several threads share it */
    const int64_t n = 40000 + 7, s[1] = {n};
    float *x = malloc(sizeof(float) * (size_t)n), *dy = malloc(sizeof(float) * (size_t)n);
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    assert_true(x && dy && a && b);
    fill_special(x, n);
    fill_special(dy, n);
    fx f;
    fx_open_threads(&f);
    tdl_node *xn = BUILT(f.g, tdl_constant(f.g, "x", x, 1, s));
    tdl_node *dn = BUILT(f.g, tdl_constant(f.g, "dy", dy, 1, s));
    tdl_node *fused = BUILT(f.g, tdl_relu_grad(f.g, xn, dn));
    tdl_node *pair = BUILT(f.g, tdl_mul(f.g, dn, tdl_step(f.g, xn)));
    assert_string_equal(tdl_node_op(fused), "relu_grad");
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_run(f.g, fused));
    read_node(fused, a, n);
    TDL_OK_OR_FAIL(tdl_run(f.g, pair));
    read_node(pair, b, n);
    /* one NaN operand only (step is never NaN): the payloads must agree too */
    check_bits("relu_grad vs dy * step(x)", a, b, n, 0);
    for (int64_t i = 0; i < n; ++i) {
        float want = x[i] > 0 ? dy[i] : dy[i] * 0.0f;
        check_bits("relu_grad formula", &a[i], &want, 1, 0);
    }
    fx_close(&f);
    free(x);
    free(dy);
    free(a);
    free(b);

    /* the documented cases one by one */
    const float nan = fbits(0x7fc01234u);
    const float xs[6] = {0.0f, -0.0f, nan, -2.0f, -2.0f, 1.0f};
    const float ds[6] = {-1.5f, 2.0f, 3.0f, INFINITY, nan, nan};
    float out[6];
    fx_open(&f);
    const int64_t s6[1] = {6};
    tdl_node *r = BUILT(f.g, tdl_relu_grad(f.g, BUILT(f.g, tdl_constant(f.g, "x", xs, 1, s6)),
                                           BUILT(f.g, tdl_constant(f.g, "dy", ds, 1, s6))));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_run(f.g, r));
    read_node(r, out, 6);
    assert_true(out[0] == 0.0f && signbit(out[0])); /* x == 0: dy * 0 = -0 */
    assert_true(out[1] == 0.0f && !signbit(out[1]));
    assert_true(out[2] == 0.0f && !signbit(out[2])); /* x NaN: dy * 0 */
    assert_true(isnan(out[3]) && isnan(out[4]));     /* inf * 0, NaN * 0 */
    assert_true(isnan(out[5]) && ubits(out[5]) == ubits(nan));
    fx_close(&f);
}

/* relu's gradient rule is one relu_grad node, not step + mul. */
static void test_relu_rule(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {3, 4}, s4[1] = {4};
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 2, s, -1, 1));
    tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, tdl_relu(f.g, x), 5));
    tdl_node *gx = BUILT(f.g, tdl_grad(f.g, loss, x));
    assert_string_equal(tdl_node_op(gx), "relu_grad");
    fx_close(&f);

    /* the rule reads relu's output: the same mask as x > 0, for every x */
    fx_open(&f);
    enum { n = 1000 };
    const int64_t s1[1] = {n};
    float c[n], want[n], got[n];
    x = BUILT(f.g, tdl_param(f.g, "x", 1, s1, TDL_INIT_ZEROS, 0, 0));
    float *xv = tdl_param_data(x);
    fill_special(xv, n);
    fill_special(c, n);
    tdl_node *cn = BUILT(f.g, tdl_constant(f.g, "c", c, 1, s1));
    loss = BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, tdl_relu(f.g, x), cn), 0, NULL, 0));
    gx = BUILT(f.g, tdl_grad(f.g, loss, x));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    TDL_OK_OR_FAIL(tdl_run(f.g, gx));
    read_node(gx, got, n);
    for (int64_t i = 0; i < n; ++i)
        want[i] = xv[i] > 0 ? c[i] : c[i] * 0.0f;
    check_bits("d/dx sum(relu(x) c)", got, want, n, 0);
    fx_close(&f);

    fx_open(&f);
    x = BUILT(f.g, test_param(f.g, "x", 2, s, -1, 1));
    /* the internal builder's checks */
    tdl_node *other = BUILT(f.g, test_param(f.g, "o", 1, s4, -1, 1));
    assert_null(tdl_relu_grad(f.g, x, other));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_SHAPE);
    check_contains(tdl_graph_error(f.g), "relu_grad");
    fx_close(&f);
}

static void test_relu_grad_gradcheck(void **state)
{
    (void)state;
    const int64_t s[2] = {3, 5};
    for (int which = 0; which < 2; ++which) {
        fx f;
        fx_open(&f);
        tdl_node *x = BUILT(f.g, test_param(f.g, "x", 2, s, -1, 1));
        push_from_zero(tdl_param_data(x), 15, 0.1f); /* no kink within eps */
        tdl_node *d = BUILT(f.g, test_param(f.g, "d", 2, s, -1.5f, 1.5f));
        tdl_node *y = BUILT(f.g, tdl_relu_grad(f.g, x, d));
        if (which) /* quadratic in d: the rule receives a gradient that depends on d */
            y = BUILT(f.g, tdl_mul(f.g, y, d));
        tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, y, 60 + (uint64_t)which));
        int bad = test_gradcheck(f.g, loss, EPS, ATOL, RTOL);
        if (bad)
            fail_msg("relu_grad%s: gradcheck found %d bad elements", which ? " * d" : "", bad);
        fx_close(&f);
    }
}

/* P = sum(grad(weighted_sum(y), p)^2), then a gradcheck of P (as test_grad2.c). */
static void check_grad2(fx *f, tdl_node *y, tdl_node *p, uint64_t seed, const char *what)
{
    tdl_graph *g = f->g;
    tdl_node *loss = BUILT(g, test_weighted_sum(g, y, seed));
    tdl_node *gp = BUILT(g, tdl_grad(g, loss, p));
    tdl_node *pen = BUILT(g, tdl_sum(g, tdl_mul(g, gp, gp), 0, NULL, 0));
    float pv = 0;
    if (tdl_graph_compile(g) != TDL_OK || tdl_run(g, pen) != TDL_OK ||
        tdl_node_read(pen, &pv, sizeof pv) != TDL_OK)
        fail_msg("%s: computing the penalty failed: %s", what, tdl_graph_error(g));
    int bad = test_gradcheck(g, pen, EPS, fmaxf(ATOL, 1e-3f * fabsf(pv)), RTOL);
    if (bad)
        fail_msg("%s: second-order gradcheck found %d bad elements", what, bad);
}

static void test_relu_grad2(void **state)
{
    (void)state;
    const int64_t s[2] = {4, 3};
    for (int c = 0; c < 3; ++c) {
        fx f;
        fx_open(&f);
        tdl_node *x = BUILT(f.g, test_param(f.g, "x", 2, s, -1.5f, 1.5f));
        push_from_zero(tdl_param_data(x), 12, 0.1f);
        tdl_node *y, *p = x;
        const char *what;
        if (c == 0) { /* relu^3: relu's gradient differentiated through dy */
            tdl_node *r = BUILT(f.g, tdl_relu(f.g, x));
            y = BUILT(f.g, tdl_mul(f.g, tdl_mul(f.g, r, r), r));
            what = "relu cubed";
        } else { /* relu_grad(x, d) * d, second order in d and mixed with x */
            tdl_node *d = BUILT(f.g, test_param(f.g, "d", 2, s, -1.5f, 1.5f));
            y = BUILT(f.g, tdl_mul(f.g, tdl_relu_grad(f.g, x, d), tdl_mul(f.g, d, x)));
            p = c == 1 ? d : x;
            what = c == 1 ? "relu_grad(x, d) d x (d/dd)" : "relu_grad(x, d) d x (d/dx)";
        }
        check_grad2(&f, y, p, 70 + (uint64_t)c, what);
        fx_close(&f);
    }
}

/* ---- 2x2 / stride-2 max pooling through the graph ---- */

/* Winner 0..3 of a window (the rule of pool.c's window_argmax). */
static int winner(const float *v)
{
    for (int k = 0; k < 4; ++k)
        if (isnan(v[k]))
            return k;
    int k = 0;
    for (int j = 1; j < 4; ++j)
        if (v[j] > v[k])
            k = j;
    return k;
}

static int64_t pos(int64_t w, int64_t i, int64_t j, int k)
{
    return (2 * i + k / 2) * w + 2 * j + k % 2;
}

static void test_max_pool_2x2(void **state)
{
    (void)state;
    static const int64_t hw[][2] = {{28, 28}, {14, 14}, {5, 7}, {2, 33}, {9, 2}, {3, 3}};
    for (size_t c = 0; c < sizeof hw / sizeof hw[0]; ++c)
        for (int with_nan = 0; with_nan < 2; ++with_nan) {
            const int64_t nb = 5, ch = 3, h = hw[c][0], w = hw[c][1], oh = h / 2, ow = w / 2;
            const int64_t planes = nb * ch, nx = planes * h * w, ny = planes * oh * ow;
            const int64_t sx[4] = {nb, ch, h, w}, sy[4] = {nb, ch, oh, ow};
            float *x = malloc(sizeof(float) * (size_t)nx), *cx = malloc(sizeof(float) * (size_t)nx);
            float *u = malloc(sizeof(float) * (size_t)ny);
            float *got = malloc(sizeof(float) * (size_t)nx);
            float *want = malloc(sizeof(float) * (size_t)nx);
            assert_true(x && cx && u && got && want);
            for (int64_t i = 0; i < nx; ++i) { /* ties, signed zeros, NaNs */
                uint32_t r = next_u32();
                x[i] = r % 5 == 0 ? ((r >> 8) & 1 ? -0.0f : 0.0f) : (float)((int)(r % 7) - 3);
                if (with_nan && r % 11 == 0)
                    x[i] = fbits(0x7fc00000u | (r >> 16));
                cx[i] = (float)(next_u32() % 1000) / 100.0f - 5.0f;
            }
            for (int64_t i = 0; i < ny; ++i)
                u[i] = (float)(next_u32() % 1000) / 100.0f - 5.0f;
            fx f;
            fx_open_threads(&f);
            tdl_graph *g = f.g;
            tdl_node *xp = BUILT(g, tdl_param(g, "x", 4, sx, TDL_INIT_ZEROS, 0, 0));
            tdl_node *up = BUILT(g, tdl_param(g, "u", 4, sy, TDL_INIT_ZEROS, 0, 0));
            memcpy(tdl_param_data(xp), x, sizeof(float) * (size_t)nx);
            memcpy(tdl_param_data(up), u, sizeof(float) * (size_t)ny);
            tdl_node *y = BUILT(g, tdl_max_pool2d(g, xp, 2, 2, 2, 2, 0, 0));
            /* L = sum(y * u): dL/dx = scatter(x, u); P = sum(dL/dx * cx):
             * dP/du = gather(x, cx) */
            tdl_node *loss = BUILT(g, tdl_sum(g, tdl_mul(g, y, up), 0, NULL, 0));
            tdl_node *gx = BUILT(g, tdl_grad(g, loss, xp));
            tdl_node *cn = BUILT(g, tdl_constant(g, "cx", cx, 4, sx));
            tdl_node *pen = BUILT(g, tdl_sum(g, tdl_mul(g, gx, cn), 0, NULL, 0));
            tdl_node *gu = BUILT(g, tdl_grad(g, pen, up));
            /* (gu is gather(x, cx) times the 1 of the sum's gradient) */
            assert_string_equal(tdl_node_op(gx), "max_pool2d_scatter");
            TDL_OK_OR_FAIL(tdl_graph_compile(g));
            char what[64];
            for (int kind = 0; kind < 3; ++kind) {
                tdl_node *t = kind == 0 ? y : kind == 1 ? gx : gu;
                int64_t n = kind == 1 ? nx : ny;
                if (kind == 1)
                    memset(want, 0, sizeof(float) * (size_t)nx);
                for (int64_t p = 0; p < planes; ++p)
                    for (int64_t i = 0; i < oh; ++i)
                        for (int64_t j = 0; j < ow; ++j) {
                            const float *xq = x + p * h * w;
                            float v[4];
                            for (int k = 0; k < 4; ++k)
                                v[k] = xq[pos(w, i, j, k)];
                            int64_t at = pos(w, i, j, winner(v)), o = (p * oh + i) * ow + j;
                            if (kind == 0)
                                want[o] = xq[at];
                            else if (kind == 1)
                                want[p * h * w + at] = u[o];
                            else
                                want[o] = cx[p * h * w + at];
                        }
                TDL_OK_OR_FAIL(tdl_run(g, t));
                read_node(t, got, n);
                snprintf(what, sizeof what, "%s %lldx%lld%s",
                         kind == 0   ? "max_pool2d"
                         : kind == 1 ? "scatter"
                                     : "gather",
                         (long long)h, (long long)w, with_nan ? " NaN" : "");
                check_bits(what, got, want, n, 0);
            }
            fx_close(&f);
            free(x);
            free(cx);
            free(u);
            free(got);
            free(want);
        }
}

/* ---- binary ops, affine and activations on the vector kernels ---- */

static void test_binary_and_unary_values(void **state)
{
    (void)state;
    const int64_t rows = 9, cols = 4500 + 3, n = rows * cols; /* past the grain */
    const int64_t s2[2] = {rows, cols}, srow[1] = {cols}, scol[2] = {rows, 1}, s0[1] = {1};
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    float *got = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
    assert_true(a && b && got && want);
    fill_special(a, n);
    fill_special(b, n);
    fx f;
    fx_open_threads(&f);
    tdl_graph *g = f.g;
    tdl_node *an = BUILT(g, tdl_constant(g, "a", a, 2, s2));
    tdl_node *bn = BUILT(g, tdl_constant(g, "b", b, 2, s2));
    tdl_node *br = BUILT(g, tdl_constant(g, "row", b, 1, srow)); /* b's first row */
    tdl_node *bc = BUILT(g, tdl_constant(g, "col", b, 2, scol)); /* b[0 .. rows) */
    tdl_node *bs = BUILT(g, tdl_constant(g, "s", b + 5, 1, s0));
    tdl_node *(*const fns[4])(tdl_graph *, tdl_node *, tdl_node *) = {tdl_add, tdl_sub, tdl_mul,
                                                                      tdl_div};
    static const char *const names[4] = {"add", "sub", "mul", "div"};
    tdl_node *bin[4][5], *un[5];
    for (int op = 0; op < 4; ++op)
        for (int form = 0; form < 5; ++form) {
            tdl_node *rhs = form == 0 ? bn : form == 1 ? br : form == 2 ? bc : bs;
            /* form 4: the scalar on the left */
            bin[op][form] = BUILT(g, form == 4 ? fns[op](g, bs, an) : fns[op](g, an, rhs));
        }
    for (int k = 0; k < 5; ++k)
        un[k] = BUILT(g, k == 0   ? tdl_relu(g, an)
                         : k == 1 ? tdl_leaky_relu(g, an, 0.2f)
                         : k == 2 ? tdl_sqrt(g, an)
                         : k == 3 ? tdl_step(g, an)
                                  : tdl_affine_scalar(g, an, 1.7f, -0.3f));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    for (int op = 0; op < 4; ++op)
        for (int form = 0; form < 5; ++form) {
            TDL_OK_OR_FAIL(tdl_run(g, bin[op][form]));
            read_node(bin[op][form], got, n);
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c) {
                    int64_t i = r * cols + c;
                    float u = a[i], v = form == 0   ? b[i]
                                        : form == 1 ? b[c]
                                        : form == 2 ? b[r]
                                                    : b[5];
                    if (form == 4) {
                        v = u;
                        u = b[5];
                    }
                    want[i] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v;
                }
            char what[48];
            snprintf(what, sizeof what, "%s form %d", names[op], form);
            /* a NaN from two NaN operands may be either one */
            check_bits(what, got, want, n, 1);
        }
    /* the activations and affine */
    for (int k = 0; k < 5; ++k) {
        TDL_OK_OR_FAIL(tdl_run(g, un[k]));
        read_node(un[k], got, n);
        for (int64_t i = 0; i < n; ++i) {
            float x = a[i], t = 1.7f * x;
            want[i] = k == 0   ? (x > 0 ? x : 0.0f)
                      : k == 1 ? (x > 0 ? x : 0.2f * x)
                      : k == 2 ? sqrtf(x)
                      : k == 3 ? (x > 0 ? 1.0f : 0.0f)
                               : t + -0.3f;
        }
        check_bits(tdl_node_op(un[k]), got, want, n, 0);
    }
    fx_close(&f);
    free(a);
    free(b);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_grad_values),    cmocka_unit_test(test_relu_rule),
        cmocka_unit_test(test_relu_grad_gradcheck), cmocka_unit_test(test_relu_grad2),
        cmocka_unit_test(test_max_pool_2x2),        cmocka_unit_test(test_binary_and_unary_values),
    };
    return cmocka_run_group_tests_name("ops_elementwise", tests, NULL, NULL);
}
