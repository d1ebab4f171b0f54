/* Convolutions (conv.h): conv2d, conv_transpose2d, conv1d and the conv2d layer.
 *
 * - Forward values against naive references written here (direct gather for
 *   conv2d / conv1d, scatter for conv_transpose2d, accumulated in double) over
 *   a grid of strides, paddings (explicit and TDL_PAD_SAME), dilations, groups
 *   (1, 2, depthwise), kernels (3x2 and 1x1), with and without bias, batch 1
 *   and 3 fed through a symbolic batch dimension, on 1 and 2 threads.
 * - Gradients of larger cases (parallel paths, weight-gradient chunks, both
 *   GEMM orientations of the weight gradient) against the same references.
 * - Finite-difference checks (test_gradcheck) of x, w and bias for every op,
 *   and second-order checks: P = sum(grad(L, p)^2) for p = w, x and bias.
 *   Tolerances as in test_gradcheck.c / test_grad2.c (eps 1e-3, atol 2e-3,
 *   rtol 2e-2; atol grows with |P| for second order).
 * - Bad arguments: status and a message naming the op, the nodes and shapes.
 * - Bit-identical forward + backward for 1 and 3 threads; symbolic batch at
 *   two batch sizes; non-finite detection naming the conv node; allocation
 *   failures reported as TDL_ERR_OUT_OF_MEMORY without leaks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

/* ---- geometry and references ---- */

typedef struct cg {
    int64_t n, ci, h, w; /* input */
    int64_t co, kh, kw;  /* output channels, kernel */
    int64_t sh, sw, dh, dw;
    int64_t pt, pl; /* leading padding actually applied */
    int64_t groups;
    int64_t ho, wo; /* output size */
} cg;

/* conv2d output size along one axis; pad may be TDL_PAD_SAME. Sets *before. */
static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t *before)
{
    int64_t span = d * (k - 1) + 1;
    if (pad == TDL_PAD_SAME) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        *before = total / 2;
        return out;
    }
    *before = pad;
    return (in + 2 * pad - span) / s + 1;
}

/* conv_transpose2d output size (PyTorch), or "same": in * s. */
static int64_t convt_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t opad,
                         int64_t *before)
{
    int64_t span = d * (k - 1) + 1;
    if (pad == TDL_PAD_SAME) {
        *before = span - s > 0 ? (span - s) / 2 : 0;
        return in * s;
    }
    *before = pad;
    return (in - 1) * s - 2 * pad + span + opad;
}

/* y[n, co, oy, ox] = b[co] + sum x[n, ci, oy*sh - pt + ky*dh, ...] w[co, ci', ky, kx]. */
static void ref_conv2d(const cg *c, const float *x, const float *w, const float *b, double *y)
{
    int64_t cig = c->ci / c->groups, cog = c->co / c->groups;
    for (int64_t n = 0; n < c->n; ++n)
        for (int64_t co = 0; co < c->co; ++co) {
            int64_t g = co / cog;
            for (int64_t oy = 0; oy < c->ho; ++oy)
                for (int64_t ox = 0; ox < c->wo; ++ox) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t q = 0; q < cig; ++q)
                        for (int64_t ky = 0; ky < c->kh; ++ky)
                            for (int64_t kx = 0; kx < c->kw; ++kx) {
                                int64_t iy = oy * c->sh - c->pt + ky * c->dh;
                                int64_t ix = ox * c->sw - c->pl + kx * c->dw;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                double xv = x[((n * c->ci + g * cig + q) * c->h + iy) * c->w + ix];
                                double wv = w[((co * cig + q) * c->kh + ky) * c->kw + kx];
                                acc += xv * wv;
                            }
                    y[((n * c->co + co) * c->ho + oy) * c->wo + ox] = acc;
                }
        }
}

/* conv_transpose2d by scattering: x [n, ci, h, w], w [ci, co/g, kh, kw],
 * y [n, co, ho, wo]; y[.., iy*sh - pt + ky*dh, ..] += x * w. */
static void ref_convt(const cg *c, const float *x, const float *w, const float *b, double *y)
{
    int64_t cig = c->ci / c->groups, cog = c->co / c->groups;
    for (int64_t n = 0; n < c->n; ++n)
        for (int64_t co = 0; co < c->co; ++co)
            for (int64_t i = 0; i < c->ho * c->wo; ++i)
                y[(n * c->co + co) * c->ho * c->wo + i] = b ? b[co] : 0.0;
    for (int64_t n = 0; n < c->n; ++n)
        for (int64_t ci = 0; ci < c->ci; ++ci) {
            int64_t g = ci / cig;
            for (int64_t iy = 0; iy < c->h; ++iy)
                for (int64_t ix = 0; ix < c->w; ++ix) {
                    double xv = x[((n * c->ci + ci) * c->h + iy) * c->w + ix];
                    for (int64_t q = 0; q < cog; ++q)
                        for (int64_t ky = 0; ky < c->kh; ++ky)
                            for (int64_t kx = 0; kx < c->kw; ++kx) {
                                int64_t oy = iy * c->sh - c->pt + ky * c->dh;
                                int64_t ox = ix * c->sw - c->pl + kx * c->dw;
                                if (oy < 0 || oy >= c->ho || ox < 0 || ox >= c->wo)
                                    continue;
                                double wv = w[((ci * cog + q) * c->kh + ky) * c->kw + kx];
                                y[((n * c->co + g * cog + q) * c->ho + oy) * c->wo + ox] += xv * wv;
                            }
                }
        }
}

/* Gradients of L = sum(y * dy) for conv2d: dx, dw, db (double). */
static void ref_conv2d_grads(const cg *c, const float *x, const float *w, const float *dy,
                             double *dx, double *dw, double *db)
{
    int64_t cig = c->ci / c->groups, cog = c->co / c->groups;
    memset(dx, 0, sizeof(double) * (size_t)(c->n * c->ci * c->h * c->w));
    memset(dw, 0, sizeof(double) * (size_t)(c->co * cig * c->kh * c->kw));
    memset(db, 0, sizeof(double) * (size_t)c->co);
    for (int64_t n = 0; n < c->n; ++n)
        for (int64_t co = 0; co < c->co; ++co) {
            int64_t g = co / cog;
            for (int64_t oy = 0; oy < c->ho; ++oy)
                for (int64_t ox = 0; ox < c->wo; ++ox) {
                    double d = dy[((n * c->co + co) * c->ho + oy) * c->wo + ox];
                    db[co] += d;
                    for (int64_t q = 0; q < cig; ++q)
                        for (int64_t ky = 0; ky < c->kh; ++ky)
                            for (int64_t kx = 0; kx < c->kw; ++kx) {
                                int64_t iy = oy * c->sh - c->pt + ky * c->dh;
                                int64_t ix = ox * c->sw - c->pl + kx * c->dw;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                int64_t xi = ((n * c->ci + g * cig + q) * c->h + iy) * c->w + ix;
                                int64_t wi = ((co * cig + q) * c->kh + ky) * c->kw + kx;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                }
        }
}

static float *rand_buf(int64_t n, float lo, float hi, uint64_t seed)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(p);
    test_fill_uniform(p, n, lo, hi, seed);
    return p;
}

static tdl_ctx *ctx_threads(int32_t threads)
{
    tdl_ctx *ctx = test_ctx();
    assert_non_null(ctx);
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, threads));
    return ctx;
}

/* Feeds x [n, ...] to a symbolic-batch input, runs y and compares with ref. */
static void run_compare(tdl_graph *g, tdl_node *xin, const float *x, int32_t nd,
                        const int64_t *xshape, tdl_node *y, const double *ref, int64_t count,
                        const char *what)
{
    if (tdl_graph_compile(g) != TDL_OK)
        fail_msg("%s: compile: %s", what, tdl_graph_error(g));
    if (tdl_feed(g, xin, x, nd, xshape) != TDL_OK)
        fail_msg("%s: feed: %s", what, tdl_graph_error(g));
    run_and_check(g, y, what, ref, count, 1e-5, 1e-5);
}

/* Computes `node` alone (tdl_forward may reuse an intermediate's memory) and reads it. */
static void run_read(tdl_graph *g, tdl_node *node, float *dst, int64_t count)
{
    if (tdl_run(g, node) != TDL_OK)
        fail_msg("running '%s': %s", tdl_node_name(node), tdl_graph_error(g));
    read_node(node, dst, count);
}

/* ---- forward grids ---- */

static const int64_t PADS[4] = {0, 1, 2, TDL_PAD_SAME};

static void test_conv2d_forward(void **state)
{
    (void)state;
    const int64_t kernels[2][2] = {{3, 2}, {1, 1}};
    int cases = 0;
    for (int kk = 0; kk < 2; ++kk)
        for (int64_t s = 1; s <= 3; ++s)
            for (int pi = 0; pi < 4; ++pi)
                for (int64_t d = 1; d <= 2; ++d)
                    for (int gi = 0; gi < 3; ++gi)
                        for (int bi = 0; bi < 2; ++bi)
                            for (int ni = 0; ni < 2; ++ni) {
                                cg c;
                                memset(&c, 0, sizeof c);
                                c.n = ni ? 3 : 1;
                                c.h = 7;
                                c.w = 9;
                                c.ci = 4;
                                c.groups = gi == 0 ? 1 : gi == 1 ? 2 : 4;
                                c.co = gi == 2 ? 4 : 6;
                                c.kh = kernels[kk][0];
                                c.kw = kernels[kk][1];
                                /* strides differ per axis in half the cases */
                                c.sh = s;
                                c.sw = bi ? s : (s % 3) + 1;
                                c.dh = d;
                                c.dw = ni ? d : 1;
                                int64_t pad = PADS[pi];
                                c.ho = conv_out(c.h, c.kh, c.sh, c.dh, pad, &c.pt);
                                c.wo = conv_out(c.w, c.kw, c.sw, c.dw, pad, &c.pl);
                                tdl_ctx *ctx = ctx_threads(ni ? 2 : 1);
                                tdl_graph *g = NULL;
                                TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
                                int64_t xs[4] = {TDL_BATCH, c.ci, c.h, c.w};
                                int64_t ws[4] = {c.co, c.ci / c.groups, c.kh, c.kw};
                                int64_t nx = c.n * c.ci * c.h * c.w;
                                int64_t nw = shape_numel(4, ws);
                                float *x = rand_buf(nx, -1, 1, 100 + (uint64_t)cases);
                                float *w = rand_buf(nw, -1, 1, 200 + (uint64_t)cases);
                                float *b = rand_buf(c.co, -1, 1, 300 + (uint64_t)cases);
                                tdl_node *xin = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
                                tdl_node *wn = BUILT(g, tdl_constant(g, "w", w, 4, ws));
                                tdl_node *bn =
                                    bi ? BUILT(g, tdl_constant(g, "b", b, 1, &c.co)) : NULL;
                                tdl_node *y = BUILT(
                                    g, tdl_conv2d(g, xin, wn, bn, (int32_t)c.sh, (int32_t)c.sw,
                                                  (int32_t)pad, (int32_t)pad, (int32_t)c.dh,
                                                  (int32_t)c.dw, (int32_t)c.groups));
                                const int64_t ys[4] = {TDL_BATCH, c.co, c.ho, c.wo};
                                check_shape(y, 4, ys);
                                int64_t ny = c.n * c.co * c.ho * c.wo;
                                double *ref = malloc(sizeof(double) * (size_t)ny);
                                ref_conv2d(&c, x, w, bi ? b : NULL, ref);
                                char what[160];
                                snprintf(what, sizeof what,
                                         "conv2d k%lldx%lld s%lldx%lld pad %lld d%lldx%lld g%lld "
                                         "bias %d n %lld",
                                         (long long)c.kh, (long long)c.kw, (long long)c.sh,
                                         (long long)c.sw, (long long)pad, (long long)c.dh,
                                         (long long)c.dw, (long long)c.groups, bi, (long long)c.n);
                                int64_t xf[4] = {c.n, c.ci, c.h, c.w};
                                run_compare(g, xin, x, 4, xf, y, ref, ny, what);
                                free(ref);
                                free(x);
                                free(w);
                                free(b);
                                tdl_graph_destroy(g);
                                tdl_ctx_destroy(ctx);
                                cases++;
                            }
    assert_int_equal(cases, 576);
}

static void test_conv_transpose2d_forward(void **state)
{
    (void)state;
    int cases = 0;
    for (int64_t s = 1; s <= 3; ++s)
        for (int pi = 0; pi < 4; ++pi)
            for (int oi = 0; oi < 2; ++oi)
                for (int64_t d = 1; d <= 2; ++d)
                    for (int gi = 0; gi < 3; ++gi)
                        for (int ni = 0; ni < 2; ++ni) {
                            int64_t pad = PADS[pi];
                            int64_t lim = s > d ? s : d;
                            int64_t opad = oi ? lim - 1 : 0;
                            if (pad == TDL_PAD_SAME && opad != 0)
                                continue;
                            cg c;
                            memset(&c, 0, sizeof c);
                            c.n = ni ? 3 : 1;
                            c.h = 4;
                            c.w = 5;
                            c.ci = 4;
                            c.groups = gi == 0 ? 1 : gi == 1 ? 2 : 4;
                            c.co = gi == 2 ? 4 : 6;
                            c.kh = 3;
                            c.kw = 2;
                            c.sh = s;
                            c.sw = ni ? s : (s % 3) + 1;
                            c.dh = d;
                            c.dw = d;
                            int64_t opw = opad < (c.sw > c.dw ? c.sw : c.dw) ? opad : 0;
                            c.ho = convt_out(c.h, c.kh, c.sh, c.dh, pad, opad, &c.pt);
                            c.wo = convt_out(c.w, c.kw, c.sw, c.dw, pad, opw, &c.pl);
                            if (c.ho < 1 || c.wo < 1)
                                continue;
                            int bias = (cases % 2) == 0;
                            tdl_ctx *ctx = ctx_threads(ni ? 2 : 1);
                            tdl_graph *g = NULL;
                            TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
                            int64_t xs[4] = {TDL_BATCH, c.ci, c.h, c.w};
                            int64_t ws[4] = {c.ci, c.co / c.groups, c.kh, c.kw};
                            int64_t nx = c.n * c.ci * c.h * c.w, nw = shape_numel(4, ws);
                            float *x = rand_buf(nx, -1, 1, 400 + (uint64_t)cases);
                            float *w = rand_buf(nw, -1, 1, 500 + (uint64_t)cases);
                            float *b = rand_buf(c.co, -1, 1, 600 + (uint64_t)cases);
                            tdl_node *xin = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
                            tdl_node *wn = BUILT(g, tdl_constant(g, "w", w, 4, ws));
                            tdl_node *bn =
                                bias ? BUILT(g, tdl_constant(g, "b", b, 1, &c.co)) : NULL;
                            tdl_node *y = BUILT(
                                g, tdl_conv_transpose2d(g, xin, wn, bn, (int32_t)c.sh,
                                                        (int32_t)c.sw, (int32_t)pad, (int32_t)pad,
                                                        (int32_t)opad, (int32_t)opw, (int32_t)c.dh,
                                                        (int32_t)c.dw, (int32_t)c.groups));
                            const int64_t ys[4] = {TDL_BATCH, c.co, c.ho, c.wo};
                            check_shape(y, 4, ys);
                            int64_t ny = c.n * c.co * c.ho * c.wo;
                            double *ref = malloc(sizeof(double) * (size_t)ny);
                            ref_convt(&c, x, w, bias ? b : NULL, ref);
                            char what[160];
                            snprintf(what, sizeof what,
                                     "conv_transpose2d s%lldx%lld pad %lld opad %lld,%lld d%lld "
                                     "g%lld bias %d n %lld",
                                     (long long)c.sh, (long long)c.sw, (long long)pad,
                                     (long long)opad, (long long)opw, (long long)d,
                                     (long long)c.groups, bias, (long long)c.n);
                            int64_t xf[4] = {c.n, c.ci, c.h, c.w};
                            run_compare(g, xin, x, 4, xf, y, ref, ny, what);
                            free(ref);
                            free(x);
                            free(w);
                            free(b);
                            tdl_graph_destroy(g);
                            tdl_ctx_destroy(ctx);
                            cases++;
                        }
    assert_true(cases > 200);
}

static void test_conv1d_forward(void **state)
{
    (void)state;
    int cases = 0;
    for (int64_t s = 1; s <= 3; ++s)
        for (int pi = 0; pi < 4; ++pi)
            for (int64_t d = 1; d <= 2; ++d)
                for (int gi = 0; gi < 3; ++gi)
                    for (int bi = 0; bi < 2; ++bi)
                        for (int ni = 0; ni < 2; ++ni) {
                            int64_t pad = PADS[pi];
                            cg c;
                            memset(&c, 0, sizeof c);
                            c.n = ni ? 3 : 1;
                            c.h = 1;
                            c.w = 11;
                            c.ci = 4;
                            c.groups = gi == 0 ? 1 : gi == 1 ? 2 : 4;
                            c.co = gi == 2 ? 4 : 6;
                            c.kh = 1;
                            c.kw = 3;
                            c.sh = c.dh = 1;
                            c.sw = s;
                            c.dw = d;
                            c.ho = 1;
                            c.wo = conv_out(c.w, c.kw, c.sw, c.dw, pad, &c.pl);
                            tdl_ctx *ctx = ctx_threads(ni ? 2 : 1);
                            tdl_graph *g = NULL;
                            TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
                            int64_t xs[3] = {TDL_BATCH, c.ci, c.w};
                            int64_t ws[3] = {c.co, c.ci / c.groups, c.kw};
                            int64_t nx = c.n * c.ci * c.w, nw = shape_numel(3, ws);
                            float *x = rand_buf(nx, -1, 1, 700 + (uint64_t)cases);
                            float *w = rand_buf(nw, -1, 1, 800 + (uint64_t)cases);
                            float *b = rand_buf(c.co, -1, 1, 900 + (uint64_t)cases);
                            tdl_node *xin = BUILT(g, tdl_input(g, "x", TDL_F32, 3, xs));
                            tdl_node *wn = BUILT(g, tdl_constant(g, "w", w, 3, ws));
                            tdl_node *bn = bi ? BUILT(g, tdl_constant(g, "b", b, 1, &c.co)) : NULL;
                            tdl_node *y =
                                BUILT(g, tdl_conv1d(g, xin, wn, bn, (int32_t)s, (int32_t)pad,
                                                    (int32_t)d, (int32_t)c.groups));
                            const int64_t ys[3] = {TDL_BATCH, c.co, c.wo};
                            check_shape(y, 3, ys);
                            int64_t ny = c.n * c.co * c.wo;
                            double *ref = malloc(sizeof(double) * (size_t)ny);
                            ref_conv2d(&c, x, w, bi ? b : NULL, ref);
                            char what[128];
                            snprintf(what, sizeof what,
                                     "conv1d s%lld pad %lld d%lld g%lld bias %d n %lld",
                                     (long long)s, (long long)pad, (long long)d,
                                     (long long)c.groups, bi, (long long)c.n);
                            int64_t xf[3] = {c.n, c.ci, c.w};
                            run_compare(g, xin, x, 3, xf, y, ref, ny, what);
                            free(ref);
                            free(x);
                            free(w);
                            free(b);
                            tdl_graph_destroy(g);
                            tdl_ctx_destroy(ctx);
                            cases++;
                        }
    assert_int_equal(cases, 288);
}

/* ---- gradients of larger cases against the references ---- */

static void grads_case(const cg *c0, int32_t threads, const char *what)
{
    cg c = *c0;
    tdl_ctx *ctx = ctx_threads(threads);
    tdl_graph *g = NULL;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    int64_t xs[4] = {c.n, c.ci, c.h, c.w};
    int64_t ws[4] = {c.co, c.ci / c.groups, c.kh, c.kw};
    int64_t nx = shape_numel(4, xs), nw = shape_numel(4, ws);
    tdl_node *x = BUILT(g, test_param(g, "x", 4, xs, -1, 1));
    tdl_node *w = BUILT(g, test_param(g, "w", 4, ws, -1, 1));
    tdl_node *b = BUILT(g, test_param(g, "b", 1, &c.co, -1, 1));
    tdl_node *y =
        BUILT(g, tdl_conv2d(g, x, w, b, (int32_t)c.sh, (int32_t)c.sw, (int32_t)c.pt, (int32_t)c.pl,
                            (int32_t)c.dh, (int32_t)c.dw, (int32_t)c.groups));
    int64_t ys[4] = {c.n, c.co, c.ho, c.wo};
    int64_t ny = shape_numel(4, ys);
    float *dy = rand_buf(ny, -1, 1, 77);
    tdl_node *dyc = BUILT(g, tdl_constant(g, "dy", dy, 4, ys));
    tdl_node *loss = BUILT(g, tdl_sum(g, tdl_mul(g, y, dyc), 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    TDL_OK_OR_FAIL(tdl_build_gradients(g, loss));
    float *got = malloc(sizeof(float) * (size_t)ny);
    run_read(g, y, got, ny);
    if (tdl_forward(g) != TDL_OK || tdl_backward(g, loss) != TDL_OK)
        fail_msg("%s: %s", what, tdl_graph_error(g));
    double *rdx = malloc(sizeof(double) * (size_t)nx);
    double *rdw = malloc(sizeof(double) * (size_t)nw);
    double *rdb = malloc(sizeof(double) * (size_t)c.co);
    double *ry = malloc(sizeof(double) * (size_t)ny);
    ref_conv2d(&c, tdl_param_data(x), tdl_param_data(w), tdl_param_data(b), ry);
    ref_conv2d_grads(&c, tdl_param_data(x), tdl_param_data(w), dy, rdx, rdw, rdb);
    char name[200];
    snprintf(name, sizeof name, "%s y", what);
    check_close(name, got, ry, ny, 1e-5, 1e-4);
    snprintf(name, sizeof name, "%s dx", what);
    check_close(name, tdl_param_grad(x), rdx, nx, 1e-5, 1e-4);
    snprintf(name, sizeof name, "%s dw", what);
    check_close(name, tdl_param_grad(w), rdw, nw, 1e-5, 1e-3);
    snprintf(name, sizeof name, "%s db", what);
    check_close(name, tdl_param_grad(b), rdb, c.co, 1e-5, 1e-3);
    free(got);
    free(rdx);
    free(rdw);
    free(rdb);
    free(ry);
    free(dy);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

static void test_conv2d_grads_reference(void **state)
{
    (void)state;
    /* batch 20: more images than weight-gradient chunks (16), so chunks of 2 */
    cg a = {20, 3, 11, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    a.ho = conv_out(a.h, a.kh, a.sh, a.dh, 1, &a.pt);
    a.wo = conv_out(a.w, a.kw, a.sw, a.dw, 1, &a.pl);
    grads_case(&a, 1, "k3 pad 1 (1 thread)");
    grads_case(&a, 2, "k3 pad 1 (2 threads)");
    /* more output channels than im2col rows: the transposed weight gradient */
    cg b = {5, 1, 12, 9, 24, 3, 3, 2, 1, 1, 2, 0, 0, 1, 0, 0};
    b.ho = conv_out(b.h, b.kh, b.sh, b.dh, 0, &b.pt);
    b.wo = conv_out(b.w, b.kw, b.sw, b.dw, 0, &b.pl);
    grads_case(&b, 2, "1->24 stride 2x1 dilation 1x2");
    /* 1x1: im2col is the image itself */
    cg p = {4, 16, 6, 7, 8, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0, 0};
    p.ho = 6;
    p.wo = 7;
    grads_case(&p, 2, "1x1 groups 2");
    /* depthwise with a channel multiplier */
    cg d = {3, 6, 9, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 6, 0, 0};
    d.ho = conv_out(d.h, d.kh, d.sh, d.dh, 1, &d.pt);
    d.wo = conv_out(d.w, d.kw, d.sw, d.dw, 1, &d.pl);
    grads_case(&d, 1, "depthwise x2");
    /* a single image on 2 threads: threaded GEMMs instead of parallel images */
    cg e = {1, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    e.ho = conv_out(e.h, e.kh, e.sh, e.dh, 1, &e.pt);
    e.wo = conv_out(e.w, e.kw, e.sw, e.dw, 1, &e.pl);
    grads_case(&e, 2, "single image 32->64");
    /* large images: im2col in blocks of output rows (flat "same" rows, then stride 2) */
    cg big1 = {2, 32, 64, 64, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    big1.ho = conv_out(big1.h, big1.kh, big1.sh, big1.dh, 1, &big1.pt);
    big1.wo = conv_out(big1.w, big1.kw, big1.sw, big1.dw, 1, &big1.pl);
    grads_case(&big1, 2, "32x64x64, row blocks");
    cg big2 = {1, 32, 127, 130, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0};
    big2.ho = conv_out(big2.h, big2.kh, big2.sh, big2.dh, 1, &big2.pt);
    big2.wo = conv_out(big2.w, big2.kw, big2.sw, big2.dw, 1, &big2.pl);
    grads_case(&big2, 1, "32x127x130 stride 2, row blocks");
}

/* ---- finite differences ---- */

static void check_grads(tdl_graph *g, tdl_node *y, uint64_t seed, const char *what)
{
    if (!y)
        fail_msg("%s: building failed: %s", what, tdl_graph_error(g));
    tdl_node *loss = test_weighted_sum(g, y, seed);
    if (!loss)
        fail_msg("%s: loss failed: %s", what, tdl_graph_error(g));
    int bad = test_gradcheck(g, loss, EPS, ATOL, RTOL);
    if (bad != 0)
        fail_msg("%s: gradcheck found %d bad elements (%s)", what, bad, tdl_graph_error(g));
}

typedef tdl_node *(*conv_build)(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b);

static tdl_node *b_conv2d(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 4, 5, 6}, ws[4] = {4, 2, 3, 2}, bs[1] = {4};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv2d(g, *x, *w, *b, 2, 1, 1, 0, 1, 1, 2);
}

static tdl_node *b_conv2d_same_dil(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 3, 6, 5}, ws[4] = {2, 3, 3, 3}, bs[1] = {2};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv2d(g, *x, *w, *b, 2, 3, TDL_PAD_SAME, TDL_PAD_SAME, 2, 1, 1);
}

static tdl_node *b_depthwise(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 3, 5, 5}, ws[4] = {3, 1, 3, 3}, bs[1] = {3};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv2d(g, *x, *w, *b, 1, 1, 1, 1, 1, 1, 3);
}

static tdl_node *b_convt(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 4, 3, 4}, ws[4] = {4, 1, 3, 2}, bs[1] = {2};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv_transpose2d(g, *x, *w, *b, 2, 2, 1, 0, 1, 1, 1, 1, 2);
}

static tdl_node *b_convt_same(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {1, 3, 3, 3}, ws[4] = {3, 2, 3, 3}, bs[1] = {2};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv_transpose2d(g, *x, *w, *b, 2, 1, TDL_PAD_SAME, TDL_PAD_SAME, 0, 0, 1, 2, 1);
}

static tdl_node *b_conv1d(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[3] = {2, 4, 9}, ws[3] = {6, 2, 3}, bs[1] = {6};
    *x = test_param(g, "x", 3, xs, -1, 1);
    *w = test_param(g, "w", 3, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv1d(g, *x, *w, *b, 2, TDL_PAD_SAME, 2, 2);
}

static tdl_node *b_conv1x1(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 3, 3, 4}, ws[4] = {5, 3, 1, 1}, bs[1] = {5};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv2d(g, *x, *w, *b, 1, 1, 0, 0, 1, 1, 1);
}

static tdl_node *b_convt1x1(tdl_graph *g, tdl_node **x, tdl_node **w, tdl_node **b)
{
    const int64_t xs[4] = {2, 3, 3, 4}, ws[4] = {3, 4, 1, 1}, bs[1] = {4};
    *x = test_param(g, "x", 4, xs, -1, 1);
    *w = test_param(g, "w", 4, ws, -1, 1);
    *b = test_param(g, "b", 1, bs, -1, 1);
    return tdl_conv_transpose2d(g, *x, *w, *b, 1, 1, 0, 0, 0, 0, 1, 1, 1);
}

static const struct {
    conv_build build;
    const char *what;
} CASES[] = {
    {b_conv2d, "conv2d stride 2x1 pad 1x0 groups 2"},
    {b_conv2d_same_dil, "conv2d same, stride 2x3, dilation 2x1"},
    {b_depthwise, "conv2d depthwise"},
    {b_conv1x1, "conv2d 1x1"},
    {b_convt, "conv_transpose2d stride 2 pad 1x0 opad 1 groups 2"},
    {b_convt_same, "conv_transpose2d same, stride 2x1, dilation 1x2"},
    {b_convt1x1, "conv_transpose2d 1x1"},
    {b_conv1d, "conv1d stride 2 same dilation 2 groups 2"},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void test_gradcheck_first(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; ++i) {
        fx f;
        fx_open(&f);
        tdl_node *x, *w, *b;
        tdl_node *y = CASES[i].build(f.g, &x, &w, &b);
        check_grads(f.g, y, 1000 + i, CASES[i].what);
        fx_close(&f);
    }
}

/* conv2d with bias -> relu -> max pool, and conv2d -> max pool: the bias
 * gradient is then summed from the pooled gradient (conv.c); checked by
 * finite differences over x, w and b, for 2x2 / 2 and an overlapping 3x3 / 2
 * with padding. */
static void test_gradcheck_conv_pool(void **state)
{
    (void)state;
    for (int relu = 0; relu < 2; ++relu)
        for (int k3 = 0; k3 < 2; ++k3) {
            fx f;
            fx_open(&f);
            tdl_node *x, *w, *b;
            const int64_t xs[4] = {2, 2, 6, 7}, ws[4] = {3, 2, 3, 3}, bs[1] = {3};
            x = test_param(f.g, "x", 4, xs, -1, 1);
            w = test_param(f.g, "w", 4, ws, -1, 1);
            b = test_param(f.g, "b", 1, bs, -1, 1);
            tdl_node *y = tdl_conv2d(f.g, x, w, b, 1, 1, 1, 1, 1, 1, 1);
            if (relu)
                y = tdl_relu(f.g, y);
            y = k3 ? tdl_max_pool2d(f.g, y, 3, 3, 2, 2, 1, 1)
                   : tdl_max_pool2d(f.g, y, 2, 2, 2, 2, 0, 0);
            char what[64];
            snprintf(what, sizeof what, "conv2d%s -> max_pool2d %s", relu ? " -> relu" : "",
                     k3 ? "3x3/2 pad 1" : "2x2/2");
            check_grads(f.g, y, 3000 + 2 * relu + k3, what);
            fx_close(&f);
        }
}

/* P = sum(grad(weighted_sum(y), p)^2) for p = w and p = x, y plain and
 * squared; then a finite-difference check of P over x, w and b. */
static void test_gradcheck_second(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; ++i)
        for (int which = 0; which < 3; ++which)
            for (int sq = 0; sq < 2; ++sq) {
                if (which == 2 && !sq)
                    continue; /* grad(L, b) is constant when L is linear */
                fx f;
                fx_open(&f);
                tdl_graph *g = f.g;
                tdl_node *x, *w, *b;
                tdl_node *y = CASES[i].build(g, &x, &w, &b);
                if (sq)
                    y = tdl_mul(g, y, y);
                tdl_node *p = which == 0 ? w : which == 1 ? x : b;
                tdl_node *loss = test_weighted_sum(g, y, 2000 + i);
                tdl_node *gp = tdl_grad(g, loss, p);
                tdl_node *pen = tdl_sum(g, tdl_mul(g, gp, gp), 0, NULL, 0);
                char what[160];
                snprintf(what, sizeof what, "%s: d/d(params) sum(grad(L, %s)^2)%s", CASES[i].what,
                         which == 0   ? "w"
                         : which == 1 ? "x"
                                      : "b",
                         sq ? " (squared)" : "");
                if (!pen)
                    fail_msg("%s: building failed: %s", what, tdl_graph_error(g));
                float pv = 0;
                if (tdl_graph_compile(g) != TDL_OK || tdl_run(g, pen) != TDL_OK ||
                    tdl_node_read(pen, &pv, sizeof pv) != TDL_OK)
                    fail_msg("%s: computing the penalty failed: %s", what, tdl_graph_error(g));
                float atol = fmaxf(ATOL, 1e-3f * fabsf(pv));
                int bad = test_gradcheck(g, pen, EPS, atol, RTOL);
                if (bad != 0)
                    fail_msg("%s: second-order gradcheck found %d bad elements (%s)", what, bad,
                             tdl_graph_error(g));
                fx_close(&f);
            }
}

/* ---- bad arguments ---- */

typedef struct bad_env {
    tdl_graph *g;
    tdl_node *x, *w, *b, *xi, *x3, *w3, *wt, *xs;
} bad_env;

static void bad_open(fx *f, bad_env *e)
{
    fx_open(f);
    tdl_graph *g = f->g;
    e->g = g;
    const int64_t xs[4] = {TDL_BATCH, 4, 6, 6}, ws[4] = {6, 2, 3, 3}, bs[1] = {5};
    const int64_t x3s[3] = {TDL_BATCH, 4, 10}, w3s[3] = {6, 4, 3};
    const int64_t wts[4] = {4, 3, 3, 3}, xss[4] = {2, TDL_BATCH, 6, 6};
    e->x = BUILT(g, tdl_input(g, "img", TDL_F32, 4, xs));
    e->xi = BUILT(g, tdl_input(g, "ids", TDL_I32, 4, xs));
    e->w = BUILT(g, test_param(g, "kern", 4, ws, -1, 1));
    e->b = BUILT(g, test_param(g, "bias5", 1, bs, -1, 1));
    e->x3 = BUILT(g, tdl_input(g, "seq", TDL_F32, 3, x3s));
    e->w3 = BUILT(g, test_param(g, "kern1d", 3, w3s, -1, 1));
    e->wt = BUILT(g, test_param(g, "kernT", 4, wts, -1, 1));
    e->xs = BUILT(g, tdl_input(g, "oddbatch", TDL_F32, 4, xss));
}

/* The builder returned NULL, the sticky status is `code`, and the message
 * holds every needle. */
static void expect_error(tdl_graph *g, tdl_node *got, tdl_status code, const char *n1,
                         const char *n2, const char *n3)
{
    if (got)
        fail_msg("expected an error containing \"%s\", got node '%s'", n1, tdl_node_name(got));
    assert_int_equal(tdl_graph_status(g), code);
    const char *msg = tdl_graph_error(g);
    check_contains(msg, n1);
    if (n2)
        check_contains(msg, n2);
    if (n3)
        check_contains(msg, n3);
    /* sticky: the next builder does nothing, compile reports the first error */
    assert_null(tdl_relu(g, tdl_graph_find(g, "img")));
    assert_int_equal(tdl_graph_compile(g), code);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    fx f;
    bad_env e;
#define BAD(expr, code, n1, n2, n3)                                                                \
    do {                                                                                           \
        bad_open(&f, &e);                                                                          \
        tdl_graph *g = e.g;                                                                        \
        expect_error(g, (expr), (code), (n1), (n2), (n3));                                         \
        fx_close(&f);                                                                              \
    } while (0)

    /* kernel larger than the padded input: 3 taps with dilation 3 span 7 > 6 */
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, 0, 0, 3, 3, 2), TDL_ERR_SHAPE, "conv2d",
        "larger than the padded input", "'img' [B, 4, 6, 6]");
    /* channel mismatch: 4 input channels, weight expects 2 x 1 */
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, 1, 1, 1, 1, 1), TDL_ERR_SHAPE, "conv2d",
        "has 4 channels", "'kern' [6, 2, 3, 3] expects 2");
    /* groups not dividing the channels */
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, 1, 1, 1, 1, 3), TDL_ERR_SHAPE, "conv2d",
        "groups 3 must divide", "'img'");
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 0, 1, 1, 1, 1, 1, 2), TDL_ERR_INVALID_ARGUMENT, "conv2d",
        "stride 0", NULL);
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, 1, 1, 1, 0, 2), TDL_ERR_INVALID_ARGUMENT, "conv2d",
        "dilation 0 (width)", NULL);
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, -2, 1, 1, 1, 2), TDL_ERR_INVALID_ARGUMENT, "conv2d",
        "padding -2", "TDL_PAD_SAME");
    BAD(tdl_conv2d(g, e.x, e.w, NULL, 1, 1, 1, 1, 1, 1, 0), TDL_ERR_INVALID_ARGUMENT, "conv2d",
        "groups 0", NULL);
    /* ranks */
    BAD(tdl_conv2d(g, e.x3, e.w, NULL, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_SHAPE, "conv2d",
        "'seq' [B, 4, 10] must be 4-D", NULL);
    BAD(tdl_conv2d(g, e.x, e.w3, NULL, 1, 1, 1, 1, 1, 1, 1), TDL_ERR_SHAPE, "conv2d",
        "weight 'kern1d' [6, 4, 3] must be 4-D", NULL);
    /* bias */
    BAD(tdl_conv2d(g, e.x, e.w, e.b, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_SHAPE, "conv2d",
        "bias 'bias5' [5] has 5 elements", "6 channels");
    BAD(tdl_conv2d(g, e.x, e.w, e.w, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_SHAPE, "conv2d", "bias 'kern'",
        "1-D");
    /* dtype */
    BAD(tdl_conv2d(g, e.xi, e.w, NULL, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_DTYPE, "conv2d",
        "'ids' is i32, not f32", NULL);
    /* the batch anywhere but dimension 0 */
    BAD(tdl_conv2d(g, e.xs, e.w, NULL, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_SHAPE, "conv2d",
        "only dimension 0 may be the batch", "'oddbatch'");
    /* NULL input (an earlier failure) */
    BAD(tdl_conv2d(g, NULL, e.w, NULL, 1, 1, 1, 1, 1, 1, 2), TDL_ERR_INVALID_ARGUMENT, "conv2d",
        "input 0 is NULL", NULL);

    /* conv_transpose2d */
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, NULL, 2, 2, 0, 0, 2, 0, 1, 1, 1),
        TDL_ERR_INVALID_ARGUMENT, "conv_transpose2d", "output padding 2 (height)",
        "smaller than the stride or the dilation");
    BAD(tdl_conv_transpose2d(g, e.x, e.w, NULL, 1, 1, 0, 0, 0, 0, 1, 1, 1), TDL_ERR_SHAPE,
        "conv_transpose2d", "'img' [B, 4, 6, 6] has 4 channels", "'kern' [6, 2, 3, 3] expects 6");
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, NULL, 1, 1, 0, 0, 0, 0, 1, 1, 3), TDL_ERR_SHAPE,
        "conv_transpose2d", "groups 3 must divide", NULL);
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, NULL, 1, 1, 9, 9, 0, 0, 1, 1, 1), TDL_ERR_SHAPE,
        "conv_transpose2d", "leaves no output", "'img'");
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, NULL, 2, 2, TDL_PAD_SAME, TDL_PAD_SAME, 1, 0, 1, 1, 1),
        TDL_ERR_INVALID_ARGUMENT, "conv_transpose2d", "must be 0 with TDL_PAD_SAME", NULL);
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, e.b, 1, 1, 0, 0, 0, 0, 1, 1, 1), TDL_ERR_SHAPE,
        "conv_transpose2d", "bias 'bias5'", "3 channels");
    BAD(tdl_conv_transpose2d(g, e.x, e.wt, NULL, 1, -1, 0, 0, 0, 0, 1, 1, 1),
        TDL_ERR_INVALID_ARGUMENT, "conv_transpose2d", "stride -1 (width)", NULL);

    /* conv1d */
    BAD(tdl_conv1d(g, e.x, e.w3, NULL, 1, 0, 1, 1), TDL_ERR_SHAPE, "conv1d",
        "'img' [B, 4, 6, 6] must be 3-D", NULL);
    BAD(tdl_conv1d(g, e.x3, e.w3, NULL, 1, 0, 6, 1), TDL_ERR_SHAPE, "conv1d",
        "larger than the padded input", "length");
    BAD(tdl_conv1d(g, e.x3, e.w3, NULL, 1, 0, 1, 2), TDL_ERR_SHAPE, "conv1d", "has 4 channels",
        "'kern1d'");
    BAD(tdl_conv1d(g, e.x3, e.w3, NULL, 1, -3, 1, 1), TDL_ERR_INVALID_ARGUMENT, "conv1d",
        "padding -3 (length)", NULL);

    /* the layer */
    BAD(tdl_conv2d_layer(g, e.x, 8, 3, 1, 1, 1, 1, NULL), TDL_ERR_INVALID_ARGUMENT, "conv2d_layer",
        "name is required", NULL);
    BAD(tdl_conv2d_layer(g, e.x, 9, 3, 1, 1, 2, 1, "c1"), TDL_ERR_SHAPE, "conv2d 'c1'",
        "groups 2 must divide", "out_channels (9)");
    BAD(tdl_conv2d_layer(g, e.x, 8, 9, 1, 0, 1, 1, "c1"), TDL_ERR_SHAPE, "conv2d 'c1'",
        "larger than the padded input", "'img'");
    BAD(tdl_conv2d_layer(g, e.x, 8, 3, 0, 1, 1, 1, "c1"), TDL_ERR_INVALID_ARGUMENT, "conv2d 'c1'",
        "stride 0", NULL);
    BAD(tdl_conv2d_layer(g, e.x3, 8, 3, 1, 1, 1, 1, "c1"), TDL_ERR_SHAPE, "conv2d 'c1'", "'seq'",
        NULL);
    BAD(tdl_conv2d_layer(g, e.xi, 8, 3, 1, 1, 1, 1, "c1"), TDL_ERR_DTYPE, "conv2d 'c1'", "not f32",
        NULL);
#undef BAD
}

/* ---- the layer ---- */

static void test_layer(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t xs[4] = {TDL_BATCH, 32, 10, 10};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
    tdl_node *y = BUILT(g, tdl_conv2d_layer(g, x, 64, 3, 2, TDL_PAD_SAME, 1, 1, "c1"));
    assert_string_equal(tdl_node_name(y), "c1");
    assert_string_equal(tdl_node_op(y), "conv2d");
    const int64_t ys[4] = {TDL_BATCH, 64, 5, 5};
    check_shape(y, 4, ys);
    tdl_node *w = tdl_graph_find(g, "c1.weight"), *b = tdl_graph_find(g, "c1.bias");
    assert_non_null(w);
    assert_non_null(b);
    const int64_t wsh[4] = {64, 32, 3, 3}, bsh[1] = {64};
    check_shape(w, 4, wsh);
    check_shape(b, 1, bsh);
    /* He-normal: std sqrt(2 / fan_in), fan_in = 32 * 9 */
    const float *wd = tdl_param_data(w);
    double s1 = 0, s2 = 0;
    int64_t nw = shape_numel(4, wsh);
    for (int64_t i = 0; i < nw; ++i) {
        s1 += wd[i];
        s2 += (double)wd[i] * wd[i];
    }
    double mean = s1 / (double)nw, sd = sqrt(s2 / (double)nw - mean * mean);
    double want = sqrt(2.0 / (32.0 * 9.0));
    assert_true(fabs(mean) < 0.05 * want * 10);
    assert_true(fabs(sd - want) < 0.05 * want);
    const float *bd = tdl_param_data(b);
    for (int64_t i = 0; i < 64; ++i)
        assert_true(bd[i] == 0.0f);
    /* values */
    cg c = {2, 32, 10, 10, 64, 3, 3, 2, 2, 1, 1, 0, 0, 1, 0, 0};
    c.ho = conv_out(c.h, c.kh, c.sh, c.dh, TDL_PAD_SAME, &c.pt);
    c.wo = conv_out(c.w, c.kw, c.sw, c.dw, TDL_PAD_SAME, &c.pl);
    int64_t nx = 2 * 32 * 100, ny = 2 * 64 * 25;
    float *xv = rand_buf(nx, -1, 1, 5);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    ref_conv2d(&c, xv, wd, bd, ref);
    int64_t xf[4] = {2, 32, 10, 10};
    run_compare(g, x, xv, 4, xf, y, ref, ny, "conv2d layer");
    /* no bias */
    tdl_node *y2 = BUILT(g, tdl_conv2d_layer(g, x, 8, 1, 1, 0, 4, 0, "c2"));
    assert_null(tdl_graph_find(g, "c2.bias"));
    const int64_t w2[4] = {8, 8, 1, 1};
    check_shape(tdl_graph_find(g, "c2.weight"), 4, w2);
    (void)y2;
    free(ref);
    free(xv);
    fx_close(&f);
}

/* ---- threads: bit-identical forward and backward ---- */

typedef struct net_out {
    float *vals; /* loss, then every parameter gradient, then the net's output */
    int64_t count;
} net_out;

static net_out run_net(int32_t threads, int64_t batch)
{
    tdl_ctx *ctx = ctx_threads(threads);
    tdl_graph *g = NULL;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    const int64_t xs[4] = {TDL_BATCH, 3, 24, 24};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
    tdl_node *h = BUILT(g, tdl_relu(g, tdl_conv2d_layer(g, x, 32, 3, 1, 1, 1, 1, "c1")));
    h = BUILT(g, tdl_relu(g, tdl_conv2d_layer(g, h, 64, 3, 2, TDL_PAD_SAME, 1, 1, "c2")));
    h = BUILT(g, tdl_relu(g, tdl_conv2d_layer(g, h, 64, 3, 1, 1, 4, 0, "c3")));
    h = BUILT(g, tdl_conv2d_layer(g, h, 64, 3, 1, TDL_PAD_SAME, 64, 1, "dw")); /* depthwise */
    const int64_t wts[4] = {64, 8, 4, 4}, bts[1] = {16};
    tdl_node *wt = BUILT(g, test_param(g, "up.weight", 4, wts, -0.1f, 0.1f));
    tdl_node *bt = BUILT(g, test_param(g, "up.bias", 1, bts, -0.1f, 0.1f));
    h = BUILT(g, tdl_conv_transpose2d(g, h, wt, bt, 2, 2, 1, 1, 0, 0, 1, 1, 2)); /* 24x24 */
    const int64_t r3[3] = {-1, 16, 576};
    tdl_node *s = BUILT(g, tdl_reshape(g, h, 3, r3));
    const int64_t w1s[3] = {4, 16, 5};
    tdl_node *w1 = BUILT(g, test_param(g, "c1d.weight", 3, w1s, -0.2f, 0.2f));
    tdl_node *y = BUILT(g, tdl_conv1d(g, s, w1, NULL, 3, 2, 2, 1));
    tdl_node *loss0 = BUILT(g, tdl_mean(g, tdl_mul(g, y, y), 0, NULL, 0));
    /* plus a gradient penalty on the input: second order through every conv */
    tdl_node *gx = BUILT(g, tdl_grad(g, loss0, x));
    tdl_node *pen = BUILT(g, tdl_mean(g, tdl_mul(g, gx, gx), 0, NULL, 0));
    tdl_node *loss = BUILT(g, tdl_add(g, loss0, tdl_affine_scalar(g, pen, 100.0f, 0.0f)));
    gx = BUILT(g, tdl_sum(g, gx, 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    int64_t nx = batch * 3 * 576;
    float *xv = rand_buf(nx, -1, 1, 99);
    int64_t xf[4] = {batch, 3, 24, 24};
    TDL_OK_OR_FAIL(tdl_build_gradients(g, loss));
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, xf));
    if (tdl_run(g, y) != TDL_OK)
        fail_msg("net: %s", tdl_graph_error(g));
    int32_t ynd;
    int64_t yshape[TDL_MAX_DIMS];
    TDL_OK_OR_FAIL(tdl_node_value_shape(y, &ynd, yshape));
    int64_t ny = shape_numel(ynd, yshape);
    net_out o;
    o.count = 2 + tdl_graph_param_elements(g) + ny;
    o.vals = malloc(sizeof(float) * (size_t)o.count);
    read_node(y, o.vals + 2, ny);
    run_read(g, gx, o.vals + 1, 1);
    run_read(g, loss, o.vals, 1);
    if (tdl_forward(g) != TDL_OK || tdl_backward(g, loss) != TDL_OK)
        fail_msg("net: %s", tdl_graph_error(g));
    int64_t at = 2 + ny;
    for (int64_t p = 0; p < tdl_graph_param_count(g); ++p) {
        tdl_node *pn = tdl_graph_param(g, p);
        int32_t nd;
        int64_t sh[TDL_MAX_DIMS];
        tdl_node_shape(pn, &nd, sh);
        int64_t k = shape_numel(nd, sh);
        memcpy(o.vals + at, tdl_param_grad(pn), sizeof(float) * (size_t)k);
        at += k;
    }
    free(xv);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    return o;
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    const int64_t batches[2] = {5, 1};
    for (int i = 0; i < 2; ++i) {
        net_out a = run_net(1, batches[i]);
        net_out b = run_net(3, batches[i]);
        assert_int_equal(a.count, b.count);
        assert_true(isfinite(a.vals[0]) && a.vals[0] > 0);
        for (int64_t k = 0; k < a.count; ++k)
            if (memcmp(&a.vals[k], &b.vals[k], sizeof(float)) != 0)
                fail_msg("batch %lld: value %lld differs: %.9g (1 thread) vs %.9g (3 threads)",
                         (long long)batches[i], (long long)k, (double)a.vals[k], (double)b.vals[k]);
        free(a.vals);
        free(b.vals);
    }
}

/* ---- symbolic batch: one graph, two batch sizes ---- */

static void test_symbolic_batch(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t xs[4] = {TDL_BATCH, 2, 7, 6}, ws[4] = {3, 2, 3, 3}, wts[4] = {3, 2, 2, 2};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
    tdl_node *w = BUILT(g, test_param(g, "w", 4, ws, -1, 1));
    tdl_node *wt = BUILT(g, test_param(g, "wt", 4, wts, -1, 1));
    tdl_node *y = BUILT(g, tdl_conv2d(g, x, w, NULL, 2, 1, 1, TDL_PAD_SAME, 1, 1, 1));
    const int64_t ys[4] = {TDL_BATCH, 3, 4, 6};
    check_shape(y, 4, ys);
    tdl_node *z = BUILT(g, tdl_conv_transpose2d(g, y, wt, NULL, 2, 2, 0, 0, 0, 0, 1, 1, 1));
    const int64_t zs[4] = {TDL_BATCH, 2, 8, 12};
    check_shape(z, 4, zs);
    tdl_node *loss = BUILT(g, tdl_mean(g, tdl_mul(g, z, z), 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    cg c = {0, 2, 7, 6, 3, 3, 3, 2, 1, 1, 1, 1, 0, 1, 4, 6};
    conv_out(6, 3, 1, 1, TDL_PAD_SAME, &c.pl);
    const int64_t batches[3] = {2, 5, 3};
    float gw_first[54];
    for (int i = 0; i < 3; ++i) {
        c.n = batches[i];
        int64_t nx = c.n * 2 * 42, ny = c.n * 3 * 24;
        float *xv = rand_buf(nx, -1, 1, 11 + (uint64_t)i % 2);
        int64_t xf[4] = {c.n, 2, 7, 6};
        TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, xf));
        float *got = malloc(sizeof(float) * (size_t)ny);
        run_read(g, y, got, ny);
        if (tdl_run(g, z) != TDL_OK)
            fail_msg("batch %lld: %s", (long long)c.n, tdl_graph_error(g));
        int32_t nd;
        int64_t shape[TDL_MAX_DIMS];
        TDL_OK_OR_FAIL(tdl_node_value_shape(z, &nd, shape));
        assert_int_equal(shape[0], c.n);
        assert_int_equal(shape[2], 8);
        assert_int_equal(shape[3], 12);
        double *ref = malloc(sizeof(double) * (size_t)ny);
        ref_conv2d(&c, xv, tdl_param_data(w), NULL, ref);
        check_close("symbolic batch y", got, ref, ny, 1e-5, 1e-5);
        if (tdl_forward(g) != TDL_OK || tdl_backward(g, loss) != TDL_OK)
            fail_msg("batch %lld: %s", (long long)c.n, tdl_graph_error(g));
        if (i == 0)
            memcpy(gw_first, tdl_param_grad(w), sizeof gw_first);
        free(got);
        free(ref);
        free(xv);
    }
    /* back to batch 2: the same gradient as the first run, bit for bit */
    c.n = 2;
    float *xv = rand_buf(c.n * 2 * 42, -1, 1, 11);
    int64_t xf[4] = {2, 2, 7, 6};
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, xf));
    if (tdl_forward(g) != TDL_OK || tdl_backward(g, loss) != TDL_OK)
        fail_msg("batch 2 again: %s", tdl_graph_error(g));
    assert_memory_equal(gw_first, tdl_param_grad(w), sizeof gw_first);
    free(xv);
    fx_close(&f);
}

/* ---- run-time failures ---- */

static void test_non_finite(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t xs[4] = {TDL_BATCH, 1, 5, 5}, ws[4] = {2, 1, 3, 3};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
    tdl_node *w = BUILT(g, test_param(g, "w", 4, ws, -1, 1));
    tdl_node *y = BUILT(g, tdl_conv2d(g, x, w, NULL, 1, 1, 1, 1, 1, 1, 1));
    TDL_OK_OR_FAIL(tdl_graph_set_check_finite(g, 1));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    float xv[25];
    test_fill_uniform(xv, 25, -1, 1, 3);
    xv[12] = NAN;
    const int64_t xf[4] = {1, 1, 5, 5};
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, xf));
    assert_int_equal(tdl_forward(g), TDL_ERR_NON_FINITE);
    check_contains(tdl_graph_error(g), tdl_node_name(y));
    check_contains(tdl_graph_error(g), "op conv2d");
    fx_close(&f);
}

static tdl_node *oom_conv_model(tdl_graph *g)
{
    const int64_t xs[4] = {TDL_BATCH, 3, 8, 8};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 4, xs));
    tdl_node *h = BUILT(g, tdl_conv2d_layer(g, x, 8, 3, 1, 1, 1, 1, "c1"));
    tdl_node *loss = BUILT(g, tdl_mean(g, tdl_mul(g, h, h), 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    TDL_OK_OR_FAIL(tdl_build_gradients(g, loss));
    static float xv[4 * 3 * 64]; /* static: the graph reads fed data in place until the run */
    test_fill_uniform(xv, 4 * 3 * 64, -1, 1, 8);
    const int64_t xf[4] = {4, 3, 8, 8};
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 4, xf));
    return loss;
}

/* A failure inside a conv op names the op and the node. */
static void oom_conv_check(tdl_graph *g, tdl_node *loss, void *user)
{
    (void)loss;
    const char *msg = tdl_graph_error(g);
    if (strstr(msg, "conv")) {
        ++*(int *)user;
        if (!strstr(msg, "'c1'") && !strstr(msg, "conv2d_weight_grad '") &&
            !strstr(msg, "conv_transpose2d '"))
            fail_msg("message \"%s\" does not name the node", msg);
    }
}

static void test_out_of_memory(void **state)
{
    (void)state;
    int conv_failures = 0;
    oom_sweep(40, oom_conv_model, oom_conv_check, &conv_failures);
    assert_true(conv_failures > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_forward),
        cmocka_unit_test(test_conv_transpose2d_forward),
        cmocka_unit_test(test_conv1d_forward),
        cmocka_unit_test(test_conv2d_grads_reference),
        cmocka_unit_test(test_gradcheck_first),
        cmocka_unit_test(test_gradcheck_conv_pool),
        cmocka_unit_test(test_gradcheck_second),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_layer),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_symbolic_batch),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
