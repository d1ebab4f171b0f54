/* Forward values of every op against hand-computed results or plain
 * double-precision loops written here.
 *
 * Tolerances (each check states which one it uses):
 *   TOL_ARITH  plain float arithmetic (add .. div, affine, reductions, losses):
 *              1e-5 relative, with an absolute floor of 1e-6 for results near 0;
 *              matmul: 1e-5 relative to sum_k |a_ik b_kj| (the size of the
 *              float rounding of the dot product, not of its possibly tiny value).
 *   exact      data movement (reshape, permute, concat, slice, stop_gradient,
 *              relu, dropout in eval mode) must be bit-exact.
 *   libm       log, sqrt, elu (expm1f): 1e-6 relative (libm is within 1-2 ulp).
 *   SIMD       the kernels' stated bounds (lib/kernels/vec_template.h, u = 2^-24):
 *              exp 2 u, tanh 3 u, sigmoid 4 u, gelu 10 u relative; the kernel tests
 *              allow 4, 5, 8 and 16 u against the float oracle, and we compare with
 *              double libm, so we allow 1 u more: 5, 6, 9 and 17 u.
 *   softmax    exp error plus the rounding of the row sum: 1e-6 relative + 1e-7. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#define RTOL_ARITH 1e-5
#define ATOL_ARITH 1e-6
#define U          (1.0 / 16777216.0)

/* ---- generic double-precision references ---- */

/* Index of the element of an input broadcast to `out` (NumPy rules). */
static int64_t bcast_src(int64_t flat, int32_t ond, const int64_t *od, int32_t ind,
                         const int64_t *id)
{
    int64_t src = 0, stride = 1;
    for (int32_t k = ond - 1; k >= 0; --k) {
        int64_t i = flat % od[k];
        flat /= od[k];
        int32_t j = ind - ond + k;
        if (j >= 0) {
            if (id[j] != 1)
                src += i * stride;
            stride *= id[j];
        }
    }
    return src;
}

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static void ref_binary(int op, const float *a, int32_t and_, const int64_t *ad, const float *b,
                       int32_t bnd, const int64_t *bd, int32_t ond, const int64_t *od, double *y)
{
    int64_t n = shape_numel(ond, od);
    for (int64_t i = 0; i < n; ++i) {
        double x = a[bcast_src(i, ond, od, and_, ad)], z = b[bcast_src(i, ond, od, bnd, bd)];
        y[i] = op == OP_ADD ? x + z : op == OP_SUB ? x - z : op == OP_MUL ? x * z : x / z;
    }
}

enum { R_SUM, R_MEAN, R_MAX };

/* Reduction over the axes with red[k] != 0; the output is in row-major order
 * of the kept axes (the same with or without keepdims). */
static void ref_reduce(int kind, int32_t nd, const int64_t *d, const int *red, const float *x,
                       double *y)
{
    int64_t ostride[TDL_MAX_DIMS], s = 1, on = 1, cnt = 1;
    for (int32_t k = nd - 1; k >= 0; --k) {
        ostride[k] = red[k] ? 0 : s;
        if (!red[k]) {
            s *= d[k];
            on *= d[k];
        } else {
            cnt *= d[k];
        }
    }
    for (int64_t i = 0; i < on; ++i)
        y[i] = kind == R_MAX ? -INFINITY : 0.0;
    int64_t n = shape_numel(nd, d);
    for (int64_t i = 0; i < n; ++i) {
        int64_t r = i, o = 0;
        for (int32_t k = nd - 1; k >= 0; --k) {
            o += (r % d[k]) * ostride[k];
            r /= d[k];
        }
        if (kind == R_MAX)
            y[o] = x[i] > y[o] ? x[i] : y[o];
        else
            y[o] += x[i];
    }
    if (kind == R_MEAN)
        for (int64_t i = 0; i < on; ++i)
            y[i] /= (double)cnt;
}

/* Softmax or log-softmax along `axis` of a row-major array. */
static void ref_softmax(int log_, int32_t nd, const int64_t *d, int32_t axis, const float *x,
                        double *y)
{
    int64_t outer = 1, inner = 1, len = d[axis];
    for (int32_t k = 0; k < axis; ++k)
        outer *= d[k];
    for (int32_t k = axis + 1; k < nd; ++k)
        inner *= d[k];
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float *xc = x + o * len * inner + i;
            double *yc = y + o * len * inner + i;
            double mx = -INFINITY, s = 0;
            for (int64_t k = 0; k < len; ++k)
                mx = fmax(mx, xc[k * inner]);
            for (int64_t k = 0; k < len; ++k)
                s += exp(xc[k * inner] - mx);
            for (int64_t k = 0; k < len; ++k)
                yc[k * inner] = log_ ? xc[k * inner] - mx - log(s) : exp(xc[k * inner] - mx) / s;
        }
}

/* C = A B for row-major [m,k] x [k,n]; also the scale sum |a||b| per element. */
static void ref_matmul(const float *a, const float *b, int64_t m, int64_t k, int64_t n, double *c,
                       double *scale)
{
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0, t = 0;
            for (int64_t p = 0; p < k; ++p) {
                s += (double)a[i * k + p] * b[p * n + j];
                t += fabs((double)a[i * k + p] * b[p * n + j]);
            }
            c[i * n + j] = s;
            scale[i * n + j] = t;
        }
}

static void check_matmul(const char *what, const float *got, const double *ref, const double *scale,
                         int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        double tol = RTOL_ARITH * scale[i] + 1e-30;
        if (!(fabs((double)got[i] - ref[i]) <= tol))
            fail_msg("%s[%lld]: got %.9g, expected %.9g (tol %.3g)", what, (long long)i,
                     (double)got[i], ref[i], tol);
    }
}

static tdl_node *cst(tdl_graph *g, const float *data, int32_t nd, const int64_t *shape)
{
    return BUILT(g, tdl_constant(g, NULL, data, nd, shape));
}

/* ---- arithmetic ---- */

static void test_binary_broadcast(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const float a23[6] = {1.5f, -2.0f, 3.25f, 0.5f, 4.0f, -7.0f};
    const float b3[3] = {2.0f, -0.5f, 4.0f};
    const float c21[2] = {3.0f, -1.5f};
    const float d13[3] = {0.25f, 2.0f, -3.0f};
    const float s0[1] = {-2.5f};
    const int64_t s23[2] = {2, 3}, s3[1] = {3}, s21[2] = {2, 1}, s13[2] = {1, 3};
    /* a is a fed input, b a parameter, the rest constants */
    tdl_node *a = BUILT(g, tdl_input(g, "a", TDL_F32, 2, s23));
    tdl_node *b = BUILT(g, tdl_param(g, "b", 1, s3, TDL_INIT_ZEROS, 0, 0));
    memcpy(tdl_param_data(b), b3, sizeof b3);
    tdl_node *c = cst(g, c21, 2, s21), *d = cst(g, d13, 2, s13), *s = cst(g, s0, 0, NULL);
    struct {
        tdl_node *y;
        int op;
        const float *x, *z;
        int32_t xn, zn;
        const int64_t *xd, *zd;
        const char *what;
    } cases[] = {
        {BUILT(g, tdl_add(g, a, b)), OP_ADD, a23, b3, 2, 1, s23, s3, "[2,3]+[3]"},
        {BUILT(g, tdl_sub(g, a, b)), OP_SUB, a23, b3, 2, 1, s23, s3, "[2,3]-[3]"},
        {BUILT(g, tdl_sub(g, b, a)), OP_SUB, b3, a23, 1, 2, s3, s23, "[3]-[2,3]"},
        {BUILT(g, tdl_mul(g, a, b)), OP_MUL, a23, b3, 2, 1, s23, s3, "[2,3]*[3]"},
        {BUILT(g, tdl_div(g, a, b)), OP_DIV, a23, b3, 2, 1, s23, s3, "[2,3]/[3]"},
        {BUILT(g, tdl_div(g, b, a)), OP_DIV, b3, a23, 1, 2, s3, s23, "[3]/[2,3]"},
        {BUILT(g, tdl_mul(g, c, d)), OP_MUL, c21, d13, 2, 2, s21, s13, "[2,1]*[1,3]"},
        {BUILT(g, tdl_add(g, c, d)), OP_ADD, c21, d13, 2, 2, s21, s13, "[2,1]+[1,3]"},
        {BUILT(g, tdl_div(g, d, c)), OP_DIV, d13, c21, 2, 2, s13, s21, "[1,3]/[2,1]"},
        {BUILT(g, tdl_add(g, s, a)), OP_ADD, s0, a23, 0, 2, NULL, s23, "scalar+[2,3]"},
        {BUILT(g, tdl_mul(g, a, s)), OP_MUL, a23, s0, 2, 0, s23, NULL, "[2,3]*scalar"},
        {BUILT(g, tdl_div(g, s, a)), OP_DIV, s0, a23, 0, 2, NULL, s23, "scalar/[2,3]"},
        {BUILT(g, tdl_sub(g, a, a)), OP_SUB, a23, a23, 2, 2, s23, s23, "[2,3]-[2,3]"},
    };
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, a, a23, 2, s23), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        int32_t nd;
        int64_t od[TDL_MAX_DIMS];
        assert_int_equal(tdl_node_shape(cases[i].y, &nd, od), TDL_OK);
        assert_int_equal(nd, 2);
        double ref[6];
        float got[6];
        ref_binary(cases[i].op, cases[i].x, cases[i].xn, cases[i].xd, cases[i].z, cases[i].zn,
                   cases[i].zd, nd, od, ref);
        read_node(cases[i].y, got, shape_numel(nd, od));
        check_close(cases[i].what, got, ref, shape_numel(nd, od), RTOL_ARITH, ATOL_ARITH);
    }
    /* a few by hand, so the reference above is checked too */
    float got[6];
    read_node(cases[0].y, got, 6);
    assert_true(got[0] == 3.5f && got[1] == -2.5f && got[5] == -3.0f);
    read_node(cases[6].y, got, 6);
    assert_true(got[0] == 0.75f && got[2] == -9.0f && got[4] == -3.0f);
    read_node(cases[9].y, got, 6);
    assert_true(got[0] == -1.0f && got[5] == -9.5f);
    fx_close(&f);
}

static void test_affine(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const float x[5] = {0.0f, 1.0f, -2.0f, 3.5f, 1e3f};
    const int64_t s5[1] = {5};
    tdl_node *in = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 1, s5));
    tdl_node *y = BUILT(f.g, tdl_affine_scalar(f.g, in, 2.5f, -1.0f));
    tdl_node *z = BUILT(f.g, tdl_affine_scalar(f.g, in, -1.0f, 0.0f));
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_feed(f.g, in, x, 1, s5), TDL_OK);
    const double ry[5] = {-1.0, 1.5, -6.0, 7.75, 2499.0};
    const double rz[5] = {0.0, -1.0, 2.0, -3.5, -1e3};
    run_and_check(f.g, y, "affine(2.5, -1)", ry, 5, RTOL_ARITH, ATOL_ARITH);
    run_and_check(f.g, z, "affine(-1, 0)", rz, 5, 0.0, 0.0);
    fx_close(&f);
}

/* ---- matmul ---- */

static void test_matmul_2d(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    /* by hand: [[1,2,3],[4,5,6]] x [[1,0],[0,1],[2,-1]] = [[7,-1],[16,-1]] */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 2, -1};
    const int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    tdl_node *y = BUILT(g, tdl_matmul(g, cst(g, a, 2, sa), cst(g, b, 2, sb)));
    /* odd sizes through the packed GEMM: [5,37] x [37,19] */
    enum { M = 5, K = 37, N = 19 };
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * K * N);
    assert_true(x && w);
    test_fill_uniform(x, M * K, -1, 1, 1);
    test_fill_uniform(w, K * N, -1, 1, 2);
    const int64_t sx[2] = {M, K}, sw[2] = {K, N};
    tdl_node *xin = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *wp = BUILT(g, tdl_param(g, "w", 2, sw, TDL_INIT_ZEROS, 0, 0));
    memcpy(tdl_param_data(wp), w, sizeof(float) * K * N);
    tdl_node *z = BUILT(g, tdl_matmul(g, xin, wp));
    const int64_t sz[2] = {M, N};
    check_shape(z, 2, sz);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, xin, x, 2, sx), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    const double ry[4] = {7, -1, 16, -1};
    float got[M * N];
    read_node(y, got, 4);
    check_close("matmul 2x3x2", got, ry, 4, 0.0, 0.0);
    double ref[M * N], scale[M * N];
    ref_matmul(x, w, M, K, N, ref, scale);
    read_node(z, got, M * N);
    check_matmul("matmul 5x37x19", got, ref, scale, M * N);
    free(x);
    free(w);
    fx_close(&f);
}

static void test_matmul_batched(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    /* [2,2,3] x [2,3,2] and [2,3,4] x [4,2] */
    float a[12], b[12], c[24], d[8];
    test_fill_uniform(a, 12, -2, 2, 3);
    test_fill_uniform(b, 12, -2, 2, 4);
    test_fill_uniform(c, 24, -2, 2, 5);
    test_fill_uniform(d, 8, -2, 2, 6);
    const int64_t sa[3] = {2, 2, 3}, sb[3] = {2, 3, 2}, sc[3] = {2, 3, 4}, sd[2] = {4, 2};
    tdl_node *y = BUILT(g, tdl_matmul(g, cst(g, a, 3, sa), cst(g, b, 3, sb)));
    tdl_node *z = BUILT(g, tdl_matmul(g, cst(g, c, 3, sc), cst(g, d, 2, sd)));
    const int64_t sy[3] = {2, 2, 2}, sz[3] = {2, 3, 2};
    check_shape(y, 3, sy);
    check_shape(z, 3, sz);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    double ref[12], scale[12];
    float got[12];
    for (int bt = 0; bt < 2; ++bt)
        ref_matmul(a + 6 * bt, b + 6 * bt, 2, 3, 2, ref + 4 * bt, scale + 4 * bt);
    read_node(y, got, 8);
    check_matmul("batched matmul", got, ref, scale, 8);
    for (int bt = 0; bt < 2; ++bt)
        ref_matmul(c + 12 * bt, d, 3, 4, 2, ref + 6 * bt, scale + 6 * bt);
    read_node(z, got, 12);
    check_matmul("3-D x 2-D matmul", got, ref, scale, 12);
    fx_close(&f);
}

/* ---- data movement ---- */

static void test_reshape_transpose_permute(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    float x[24];
    for (int i = 0; i < 24; ++i)
        x[i] = (float)i - 5.5f;
    const int64_t sx[3] = {2, 3, 4};
    tdl_node *in = BUILT(g, tdl_input(g, "x", TDL_F32, 3, sx));
    const int64_t r1[2] = {4, -1}, r2[3] = {6, 2, 2};
    tdl_node *a = BUILT(g, tdl_reshape(g, in, 2, r1));
    tdl_node *b = BUILT(g, tdl_reshape(g, in, 3, r2));
    tdl_node *t = BUILT(g, tdl_transpose(g, in));
    const int32_t perm[3] = {2, 0, 1};
    tdl_node *p = BUILT(g, tdl_permute(g, in, 3, perm));
    const int32_t ident[3] = {0, 1, 2};
    tdl_node *q = BUILT(g, tdl_permute(g, in, 3, ident));
    const int64_t sa[2] = {4, 6}, st[3] = {2, 4, 3}, sp[3] = {4, 2, 3};
    check_shape(a, 2, sa);
    check_shape(b, 3, r2);
    check_shape(t, 3, st);
    check_shape(p, 3, sp);
    /* a batch input keeps its batch through -1 */
    const int64_t sbx[3] = {TDL_BATCH, 2, 3}, rb[2] = {-1, 6}, rb2[3] = {-1, 3, 2};
    tdl_node *xb = BUILT(g, tdl_input(g, "xb", TDL_F32, 3, sbx));
    tdl_node *rbn = BUILT(g, tdl_reshape(g, xb, 2, rb));
    tdl_node *rbn2 = BUILT(g, tdl_reshape(g, rbn, 3, rb2));
    check_shape(rbn, 2, rb);
    check_shape(rbn2, 3, rb2);
    /* to and from a scalar */
    const float one[1] = {-3.5f};
    const int64_t s11[2] = {1, 1}, s1[1] = {1};
    tdl_node *sc = BUILT(g, tdl_reshape(g, cst(g, one, 2, s11), 0, NULL));
    check_shape(sc, 0, NULL);
    tdl_node *sc1 = BUILT(g, tdl_reshape(g, sc, 1, s1));
    check_shape(sc1, 1, s1);
    const int64_t r3[2] = {2, -1}, want3[2] = {2, -3};
    check_shape(BUILT(g, tdl_reshape(g, xb, 2, r3)), 2, want3);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, in, x, 3, sx), TDL_OK);
    const int64_t fb[3] = {4, 2, 3};
    assert_int_equal(tdl_feed(g, xb, x, 3, fb), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    double ref[24];
    float got[24];
    for (int i = 0; i < 24; ++i)
        ref[i] = x[i];
    read_node(a, got, 24);
    check_close("reshape [4,-1]", got, ref, 24, 0, 0);
    read_node(b, got, 24);
    check_close("reshape [6,2,2]", got, ref, 24, 0, 0);
    read_node(q, got, 24);
    check_close("identity permute", got, ref, 24, 0, 0);
    read_node(rbn2, got, 24);
    check_close("batch reshape", got, ref, 24, 0, 0);
    const double rone[1] = {-3.5};
    read_node(sc1, got, 1);
    check_close("scalar reshape", got, rone, 1, 0, 0);
    int32_t nd;
    int64_t vs[TDL_MAX_DIMS];
    assert_int_equal(tdl_node_value_shape(rbn2, &nd, vs), TDL_OK);
    assert_int_equal(nd, 3);
    assert_true(vs[0] == 4 && vs[1] == 3 && vs[2] == 2);
    /* transpose: t[b][j][i] = x[b][i][j] */
    for (int bt = 0; bt < 2; ++bt)
        for (int j = 0; j < 4; ++j)
            for (int i = 0; i < 3; ++i)
                ref[bt * 12 + j * 3 + i] = x[bt * 12 + i * 4 + j];
    read_node(t, got, 24);
    check_close("transpose", got, ref, 24, 0, 0);
    /* permute {2,0,1}: p[k][i][j] = x[i][j][k] */
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j)
                ref[k * 6 + i * 3 + j] = x[i * 12 + j * 4 + k];
    read_node(p, got, 24);
    check_close("permute {2,0,1}", got, ref, 24, 0, 0);
    fx_close(&f);
}

static void test_concat_slice(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const float a[2] = {1, 2}, b[4] = {3, 4, 5, 6}, c[6] = {7, 8, 9, 10, 11, 12};
    const int64_t sa[2] = {2, 1}, sb[2] = {2, 2}, sc[2] = {2, 3};
    tdl_node *xs[3] = {cst(g, a, 2, sa), cst(g, b, 2, sb), cst(g, c, 2, sc)};
    tdl_node *y1 = BUILT(g, tdl_concat(g, 3, xs, 1));
    tdl_node *y1n = BUILT(g, tdl_concat(g, 3, xs, -1));
    const float d[3] = {1, 2, 3}, e[6] = {4, 5, 6, 7, 8, 9}, h[3] = {10, 11, 12};
    const int64_t sd[2] = {1, 3}, se[2] = {2, 3};
    tdl_node *ys[3] = {cst(g, d, 2, sd), cst(g, e, 2, se), cst(g, h, 2, sd)};
    tdl_node *y0 = BUILT(g, tdl_concat(g, 3, ys, 0));
    const int64_t s1[2] = {2, 6}, s0[2] = {4, 3};
    check_shape(y1, 2, s1);
    check_shape(y0, 2, s0);
    /* slices of a [3,5] and of a [2,3,4] along its middle axis */
    float m[15], q[24];
    for (int i = 0; i < 15; ++i)
        m[i] = (float)(i * i) - 20.0f;
    for (int i = 0; i < 24; ++i)
        q[i] = (float)i * 0.5f;
    const int64_t sm[2] = {3, 5}, sq[3] = {2, 3, 4};
    tdl_node *mn = cst(g, m, 2, sm), *qn = cst(g, q, 3, sq);
    tdl_node *sl1 = BUILT(g, tdl_slice(g, mn, 1, 1, 4));
    tdl_node *sl0 = BUILT(g, tdl_slice(g, mn, 0, 2, 3));
    tdl_node *slq = BUILT(g, tdl_slice(g, qn, -2, 1, 3));
    tdl_node *slall = BUILT(g, tdl_slice(g, mn, 1, 0, 5));
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    const double r1[12] = {1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12};
    const double r0[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    float got[24];
    double ref[24];
    read_node(y1, got, 12);
    check_close("concat axis 1", got, r1, 12, 0, 0);
    read_node(y1n, got, 12);
    check_close("concat axis -1", got, r1, 12, 0, 0);
    read_node(y0, got, 12);
    check_close("concat axis 0", got, r0, 12, 0, 0);
    for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k)
            ref[r * 3 + k] = m[r * 5 + 1 + k];
    read_node(sl1, got, 9);
    check_close("slice axis 1 [1,4)", got, ref, 9, 0, 0);
    for (int k = 0; k < 5; ++k)
        ref[k] = m[10 + k];
    read_node(sl0, got, 5);
    check_close("slice axis 0 [2,3)", got, ref, 5, 0, 0);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 4; ++k)
                ref[i * 8 + j * 4 + k] = q[i * 12 + (j + 1) * 4 + k];
    read_node(slq, got, 16);
    check_close("slice 3-D axis -2 [1,3)", got, ref, 16, 0, 0);
    for (int k = 0; k < 15; ++k)
        ref[k] = m[k];
    read_node(slall, got, 15);
    check_close("full slice", got, ref, 15, 0, 0);
    fx_close(&f);
}

/* ---- reductions ---- */

static void test_reductions(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    float x[24];
    test_fill_uniform(x, 24, -3, 3, 7);
    const int64_t sx[3] = {2, 3, 4};
    tdl_node *in = BUILT(g, tdl_input(g, "x", TDL_F32, 3, sx));
    static const struct {
        int32_t n;
        int32_t axes[3];
    } sets[] = {{1, {1}}, {2, {0, 2}}, {0, {0}}, {1, {-1}}, {2, {2, 0}}, {3, {0, 1, 2}}, {1, {0}}};
    const int nsets = (int)(sizeof sets / sizeof sets[0]);
    tdl_node *outs[7][3][2];
    for (int s = 0; s < nsets; ++s)
        for (int kind = 0; kind < 3; ++kind)
            for (int keep = 0; keep < 2; ++keep) {
                tdl_node *(*fn)(tdl_graph *, tdl_node *, int32_t, const int32_t *, int32_t) =
                    kind == R_SUM    ? tdl_sum
                    : kind == R_MEAN ? tdl_mean
                                     : tdl_max;
                outs[s][kind][keep] = BUILT(g, fn(g, in, sets[s].n, sets[s].axes, keep));
            }
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, in, x, 3, sx), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    for (int s = 0; s < nsets; ++s) {
        int red[3] = {sets[s].n == 0, sets[s].n == 0, sets[s].n == 0};
        for (int k = 0; k < sets[s].n; ++k)
            red[(sets[s].axes[k] + 3) % 3] = 1;
        int64_t kshape[3], dshape[3];
        int32_t dn = 0, on = 1;
        for (int k = 0; k < 3; ++k) {
            kshape[k] = red[k] ? 1 : sx[k];
            if (!red[k]) {
                dshape[dn++] = sx[k];
                on *= (int32_t)sx[k];
            }
        }
        for (int kind = 0; kind < 3; ++kind) {
            double ref[24];
            float got[24];
            char what[64];
            ref_reduce(kind, 3, sx, red, x, ref);
            for (int keep = 0; keep < 2; ++keep) {
                snprintf(what, sizeof what, "%s set %d keepdims %d",
                         kind == R_SUM    ? "sum"
                         : kind == R_MEAN ? "mean"
                                          : "max",
                         s, keep);
                tdl_node *y = outs[s][kind][keep];
                if (keep)
                    check_shape(y, 3, kshape);
                else
                    check_shape(y, dn, dshape);
                read_node(y, got, on);
                check_close(what, got, ref, on, kind == R_MAX ? 0.0 : RTOL_ARITH, ATOL_ARITH);
            }
        }
    }
    /* by hand: sum of [[1,2],[3,4]] over axis 0 = [4,6]; mean over axis 1 = [1.5,3.5] */
    const float h[4] = {1, 2, 3, 4};
    const int64_t sh[2] = {2, 2};
    tdl_node *hn = cst(g, h, 2, sh);
    const int32_t ax0 = 0, ax1 = 1;
    const double rs[2] = {4, 6}, rm[2] = {1.5, 3.5}, rx[1] = {4};
    run_and_check(g, BUILT(g, tdl_sum(g, hn, 1, &ax0, 0)), "sum by hand", rs, 2, 0, 0);
    run_and_check(g, BUILT(g, tdl_mean(g, hn, 1, &ax1, 0)), "mean by hand", rm, 2, 0, 0);
    run_and_check(g, BUILT(g, tdl_max(g, hn, 0, NULL, 0)), "max by hand", rx, 1, 0, 0);
    fx_close(&f);
}

/* ---- activations and math ---- */

typedef struct act_case {
    const char *name;
    double (*ref)(double x, double a);
    double rtol, atol;
    float lo, hi, a;
} act_case;

static double r_relu(double x, double a)
{
    (void)a;
    return x > 0 ? x : 0;
}
static double r_leaky(double x, double a)
{
    return x > 0 ? x : a * x;
}
static double r_elu(double x, double a)
{
    return x > 0 ? x : a * expm1(x);
}
static double r_sigmoid(double x, double a)
{
    (void)a;
    return 1.0 / (1.0 + exp(-x));
}
static double r_tanh(double x, double a)
{
    (void)a;
    return tanh(x);
}
static double r_gelu(double x, double a)
{
    (void)a;
    return x * 0.5 * (1.0 + erf(x / sqrt(2.0)));
}
static double r_exp(double x, double a)
{
    (void)a;
    return exp(x);
}
static double r_log(double x, double a)
{
    (void)a;
    return log(x);
}
static double r_sqrt(double x, double a)
{
    (void)a;
    return sqrt(x);
}

static tdl_node *build_act(tdl_graph *g, int which, tdl_node *x, float a)
{
    switch (which) {
    case 0: return tdl_relu(g, x);
    case 1: return tdl_leaky_relu(g, x, a);
    case 2: return tdl_elu(g, x, a);
    case 3: return tdl_sigmoid(g, x);
    case 4: return tdl_tanh(g, x);
    case 5: return tdl_gelu(g, x);
    case 6: return tdl_exp(g, x);
    case 7: return tdl_log(g, x);
    default: return tdl_sqrt(g, x);
    }
}

static void test_activations(void **state)
{
    (void)state;
    static const act_case cases[] = {
        {"relu", r_relu, 0.0, 0.0, -5, 5, 0},     {"leaky_relu", r_leaky, 1e-6, 0.0, -5, 5, 0.1f},
        {"elu", r_elu, 1e-6, 1e-30, -5, 5, 1.3f}, {"sigmoid", r_sigmoid, 9 * U, 1e-38, -20, 20, 0},
        {"tanh", r_tanh, 6 * U, 1e-38, -8, 8, 0}, {"gelu", r_gelu, 17 * U, 1e-30, -5, 5, 0},
        {"exp", r_exp, 5 * U, 1e-38, -20, 20, 0}, {"log", r_log, 1e-6, 1e-7, 0.01f, 50, 0},
        {"sqrt", r_sqrt, 1e-6, 0.0, 0.0f, 50, 0},
    };
    /* 1000 elements: the SIMD main loops and their tails; plus values by hand */
    enum { N = 1000 };
    float *x = malloc(sizeof(float) * N), *got = malloc(sizeof(float) * N);
    double *ref = malloc(sizeof(double) * N);
    assert_true(x && got && ref);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        fx f;
        fx_open(&f);
        test_fill_uniform(x, N, cases[c].lo, cases[c].hi, 100 + c);
        x[0] = cases[c].lo;
        x[1] = cases[c].lo >= 0 ? 1.0f : 0.0f;
        x[2] = 1.0f;
        x[3] = cases[c].lo >= 0 ? 4.0f : -1.0f;
        const int64_t s[1] = {N};
        tdl_node *in = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 1, s));
        tdl_node *y = BUILT(f.g, build_act(f.g, (int)c, in, cases[c].a));
        assert_string_equal(tdl_node_op(y), cases[c].name);
        assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
        assert_int_equal(tdl_feed(f.g, in, x, 1, s), TDL_OK);
        assert_int_equal(tdl_forward(f.g), TDL_OK);
        for (int i = 0; i < N; ++i)
            ref[i] = cases[c].ref(x[i], cases[c].a);
        read_node(y, got, N);
        check_close(cases[c].name, got, ref, N, cases[c].rtol, cases[c].atol);
        fx_close(&f);
    }
    /* values by hand */
    fx f;
    fx_open(&f);
    const float h[4] = {-2.0f, 0.0f, 1.0f, 4.0f};
    const int64_t s4[1] = {4};
    tdl_node *hn = cst(f.g, h, 1, s4);
    const double rrelu[4] = {0, 0, 1, 4}, rleaky[4] = {-0.5, 0, 1, 4};
    const double rsig[4] = {0.11920292202211755, 0.5, 0.7310585786300049, 0.9820137900379085};
    const double rgelu[4] = {-0.04550026389635842, 0, 0.8413447460685429, 3.999873316593429};
    const double rtanh[4] = {-0.9640275800758169, 0, 0.7615941559557649, 0.999329299739067};
    tdl_node *hy[5] = {BUILT(f.g, tdl_relu(f.g, hn)), BUILT(f.g, tdl_leaky_relu(f.g, hn, 0.25f)),
                       BUILT(f.g, tdl_sigmoid(f.g, hn)), BUILT(f.g, tdl_gelu(f.g, hn)),
                       BUILT(f.g, tdl_tanh(f.g, hn))};
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    run_and_check(f.g, hy[0], "relu by hand", rrelu, 4, 0, 0);
    run_and_check(f.g, hy[1], "leaky by hand", rleaky, 4, 0, 0);
    run_and_check(f.g, hy[2], "sigmoid by hand", rsig, 4, 9 * U, 0);
    run_and_check(f.g, hy[3], "gelu by hand", rgelu, 4, 17 * U, 0);
    run_and_check(f.g, hy[4], "tanh by hand", rtanh, 4, 6 * U, 0);
    fx_close(&f);
    free(x);
    free(got);
    free(ref);
}

static void test_softmax(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    /* [3,5] with a wide range (the max subtraction matters) and a [2,3,4] */
    float x[15], z[24];
    test_fill_uniform(x, 15, -4, 4, 9);
    x[3] = 60.0f;
    x[7] = -60.0f;
    test_fill_uniform(z, 24, -3, 3, 10);
    const int64_t sx[2] = {3, 5}, sz[3] = {2, 3, 4};
    tdl_node *xn = cst(g, x, 2, sx), *zn = cst(g, z, 3, sz);
    tdl_node *sm_last = BUILT(g, tdl_softmax(g, xn, -1));
    tdl_node *sm_0 = BUILT(g, tdl_softmax(g, xn, 0));
    tdl_node *ls_last = BUILT(g, tdl_log_softmax(g, xn, 1));
    tdl_node *ls_0 = BUILT(g, tdl_log_softmax(g, xn, -2));
    tdl_node *sm_mid = BUILT(g, tdl_softmax(g, zn, 1));
    tdl_node *ls_mid = BUILT(g, tdl_log_softmax(g, zn, 1));
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    double ref[24];
    float got[24];
    ref_softmax(0, 2, sx, 1, x, ref);
    read_node(sm_last, got, 15);
    check_close("softmax axis -1", got, ref, 15, 1e-6, 1e-7);
    ref_softmax(0, 2, sx, 0, x, ref);
    read_node(sm_0, got, 15);
    check_close("softmax axis 0", got, ref, 15, 1e-6, 1e-7);
    ref_softmax(1, 2, sx, 1, x, ref);
    read_node(ls_last, got, 15);
    check_close("log_softmax axis 1", got, ref, 15, 1e-6, 1e-6);
    ref_softmax(1, 2, sx, 0, x, ref);
    read_node(ls_0, got, 15);
    check_close("log_softmax axis -2", got, ref, 15, 1e-6, 1e-6);
    ref_softmax(0, 3, sz, 1, z, ref);
    read_node(sm_mid, got, 24);
    check_close("softmax 3-D axis 1", got, ref, 24, 1e-6, 1e-7);
    ref_softmax(1, 3, sz, 1, z, ref);
    read_node(ls_mid, got, 24);
    check_close("log_softmax 3-D axis 1", got, ref, 24, 1e-6, 1e-6);
    /* rows sum to 1 */
    read_node(sm_last, got, 15);
    for (int r = 0; r < 3; ++r)
        assert_true(fabs(got[r * 5] + got[r * 5 + 1] + got[r * 5 + 2] + got[r * 5 + 3] +
                         got[r * 5 + 4] - 1.0) < 1e-6);
    /* by hand: softmax([0, ln 3]) = [0.25, 0.75] */
    const float h[2] = {0.0f, 1.0986122886681098f};
    const int64_t s2[1] = {2};
    const double rh[2] = {0.25, 0.75};
    run_and_check(g, BUILT(g, tdl_softmax(g, cst(g, h, 1, s2), 0)), "softmax by hand", rh, 2, 1e-6,
                  0);
    fx_close(&f);
}

/* ---- dropout and stop_gradient ---- */

/* A graph y = dropout(x, p) over an input of n elements, in context ctx. */
static tdl_graph *dropout_graph(tdl_ctx *ctx, const float *x, int64_t n, float p, tdl_node **y)
{
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(ctx, &g), TDL_OK);
    tdl_node *in = BUILT(g, tdl_input(g, "x", TDL_F32, 1, &n));
    *y = BUILT(g, tdl_dropout(g, in, p));
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, in, x, 1, &n), TDL_OK);
    return g;
}

static void test_dropout(void **state)
{
    (void)state;
    enum { N = 10000 };
    const float p = 0.3f;
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    assert_true(x && y);
    test_fill_uniform(x, N, 0.5f, 1.5f, 11);
    tdl_ctx *ctx = test_ctx();
    tdl_ctx_set_seed(ctx, 1234);
    tdl_node *yn;
    tdl_graph *g = dropout_graph(ctx, x, N, p, &yn);
    /* eval mode: identity */
    assert_int_equal(tdl_graph_set_training(g, 0), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    read_node(yn, y, N);
    assert_memory_equal(x, y, sizeof(float) * N);
    /* train mode: each output is 0 or x / (1 - p), about a fraction p of zeros */
    assert_int_equal(tdl_graph_set_training(g, 1), TDL_OK);
    assert_int_equal(tdl_forward(g), TDL_OK);
    read_node(yn, y, N);
    const float keep = 1.0f / (1.0f - p);
    int zeros = 0;
    for (int i = 0; i < N; ++i) {
        if (y[i] == 0.0f) {
            zeros++;
            continue;
        }
        double want = (double)x[i] / (1.0 - p);
        if (!(fabs(y[i] - want) <= 1e-6 * want))
            fail_msg("dropout[%d] = %.9g, neither 0 nor x/(1-p) = %.9g", i, (double)y[i], want);
        assert_true(y[i] == x[i] * keep);
    }
    /* binomial: sd = sqrt(p(1-p)/N) = 0.0046; allow more than 4 sd */
    double frac = (double)zeros / N;
    if (fabs(frac - p) > 0.02)
        fail_msg("dropout zeroed a fraction %.4f, expected about %.2f", frac, (double)p);
    /* a new step draws a new mask */
    float *y2 = malloc(sizeof(float) * N);
    assert_non_null(y2);
    assert_int_equal(tdl_forward(g), TDL_OK);
    read_node(yn, y2, N);
    int differ = 0;
    for (int i = 0; i < N; ++i)
        differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
    assert_true(differ > N / 10);
    tdl_graph_destroy(g);
    /* p = 0 in training: identity */
    g = dropout_graph(ctx, x, N, 0.0f, &yn);
    assert_int_equal(tdl_forward(g), TDL_OK);
    read_node(yn, y, N);
    assert_memory_equal(x, y, sizeof(float) * N);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    free(x);
    free(y);
    free(y2);
}

/* Same seed and step give the same mask, whatever the thread count. */
static void test_dropout_determinism(void **state)
{
    (void)state;
    enum { N = 70000 }; /* more than one chunk of elementwise work: threads split it */
    float *x = malloc(sizeof(float) * N);
    float *m[4];
    for (int i = 0; i < 4; ++i) {
        m[i] = malloc(sizeof(float) * N);
        assert_non_null(m[i]);
    }
    assert_non_null(x);
    test_fill_uniform(x, N, -2.0f, 2.0f, 12);
    tdl_ctx *c1 = test_ctx(), *c3 = test_ctx(), *c_other = test_ctx();
    tdl_ctx_set_seed(c1, 77);
    tdl_ctx_set_seed(c3, 77);
    tdl_ctx_set_seed(c_other, 78);
    assert_int_equal(tdl_ctx_set_threads(c3, 3), TDL_OK);
    assert_int_equal(tdl_ctx_get_threads(c3), 3);
    tdl_node *y1, *y3, *yo;
    tdl_graph *g1 = dropout_graph(c1, x, N, 0.5f, &y1);
    tdl_graph *g3 = dropout_graph(c3, x, N, 0.5f, &y3);
    tdl_graph *go = dropout_graph(c_other, x, N, 0.5f, &yo);
    /* step 1 */
    assert_int_equal(tdl_forward(g1), TDL_OK);
    assert_int_equal(tdl_forward(g3), TDL_OK);
    assert_int_equal(tdl_forward(go), TDL_OK);
    read_node(y1, m[0], N);
    read_node(y3, m[1], N);
    read_node(yo, m[3], N);
    assert_memory_equal(m[0], m[1], sizeof(float) * N);
    assert_memory_not_equal(m[0], m[3], sizeof(float) * N);
    /* step 2: a new mask, still the same for both thread counts */
    assert_int_equal(tdl_forward(g1), TDL_OK);
    assert_int_equal(tdl_forward(g3), TDL_OK);
    read_node(y1, m[2], N);
    assert_memory_not_equal(m[0], m[2], sizeof(float) * N);
    read_node(y3, m[1], N);
    assert_memory_equal(m[2], m[1], sizeof(float) * N);
    tdl_graph_destroy(g1);
    tdl_graph_destroy(g3);
    tdl_graph_destroy(go);
    tdl_ctx_destroy(c1);
    tdl_ctx_destroy(c3);
    tdl_ctx_destroy(c_other);
    for (int i = 0; i < 4; ++i)
        free(m[i]);
    free(x);
}

static void test_stop_gradient(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const int64_t s[2] = {2, 3};
    tdl_node *p = BUILT(f.g, test_param(f.g, "p", 2, s, -1, 1));
    tdl_node *y = BUILT(f.g, tdl_stop_gradient(f.g, p));
    check_shape(y, 2, s);
    assert_string_equal(tdl_node_op(y), "stop_gradient");
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    double ref[6];
    for (int i = 0; i < 6; ++i)
        ref[i] = tdl_param_data(p)[i];
    run_and_check(f.g, y, "stop_gradient", ref, 6, 0, 0);
    fx_close(&f);
}

/* ---- losses ---- */

static void test_mse(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    /* by hand: ((1-0)^2 + (2-4)^2 + (-1-1)^2 + (0.5-0.5)^2) / 4 = 9/4 */
    const float p[4] = {1, 2, -1, 0.5f}, t[4] = {0, 4, 1, 0.5f};
    const int64_t s[2] = {2, 2};
    tdl_node *pn = BUILT(f.g, tdl_input(f.g, "pred", TDL_F32, 2, s));
    tdl_node *y = BUILT(f.g, tdl_mse_loss(f.g, pn, cst(f.g, t, 2, s)));
    check_shape(y, 0, NULL);
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_feed(f.g, pn, p, 2, s), TDL_OK);
    const double r[1] = {2.25};
    run_and_check(f.g, y, "mse", r, 1, RTOL_ARITH, 0);
    fx_close(&f);
}

/* Mean over rows of -sum_k t_k log softmax(z)_k, t = (1-eps) onehot + eps/C. */
static double ref_xent(const float *z, const int32_t *lab, int64_t rows, int64_t c, double eps)
{
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const float *row = z + r * c;
        double mx = -INFINITY, s = 0;
        for (int64_t k = 0; k < c; ++k)
            mx = fmax(mx, row[k]);
        for (int64_t k = 0; k < c; ++k)
            s += exp(row[k] - mx);
        double lse = mx + log(s);
        for (int64_t k = 0; k < c; ++k) {
            double t = (k == lab[r] ? 1.0 - eps : 0.0) + eps / (double)c;
            total += t * (lse - row[k]);
        }
    }
    return total / (double)rows;
}

static void test_cross_entropy(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    /* logits [B, 5] fed at batch 4 then 6; rows with large logits (stability) */
    enum { C = 5, BMAX = 6 };
    float z[BMAX * C];
    test_fill_uniform(z, BMAX * C, -3, 3, 13);
    z[2] = 80.0f;
    z[5] = -75.0f;
    z[6] = 90.0f;
    const int32_t lab[BMAX] = {2, 4, 0, 3, 1, 2};
    const int64_t sz[2] = {TDL_BATCH, C}, sl[1] = {TDL_BATCH};
    tdl_node *zn = BUILT(g, tdl_input(g, "logits", TDL_F32, 2, sz));
    tdl_node *ln = BUILT(g, tdl_input(g, "labels", TDL_I32, 1, sl));
    tdl_node *xe = BUILT(g, tdl_cross_entropy(g, zn, ln));
    tdl_node *xs = BUILT(g, tdl_cross_entropy_smooth(g, zn, ln, 0.1f));
    tdl_node *xs0 = BUILT(g, tdl_cross_entropy_smooth(g, zn, ln, 0.0f));
    check_shape(xe, 0, NULL);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    const int64_t batches[2] = {4, 6};
    for (int b = 0; b < 2; ++b) {
        const int64_t fz[2] = {batches[b], C}, fl[1] = {batches[b]};
        assert_int_equal(tdl_feed(g, zn, z, 2, fz), TDL_OK);
        assert_int_equal(tdl_feed(g, ln, lab, 1, fl), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_OK);
        float got[3];
        read_node(xe, &got[0], 1);
        read_node(xs, &got[1], 1);
        read_node(xs0, &got[2], 1);
        double r0 = ref_xent(z, lab, batches[b], C, 0.0);
        double r1 = ref_xent(z, lab, batches[b], C, 0.1);
        const double ref[3] = {r0, r1, r0};
        check_close("cross_entropy (plain, smooth 0.1, smooth 0)", got, ref, 3, RTOL_ARITH,
                    ATOL_ARITH);
        assert_true(isfinite(got[0]) && isfinite(got[1]));
    }
    /* by hand: two equal logits -> log 2 */
    const float h[2] = {3.0f, 3.0f};
    const int64_t sh[2] = {1, 2}, s1[1] = {1};
    const int32_t hl[1] = {1};
    fx f2;
    fx_open(&f2);
    tdl_node *hl_in = BUILT(f2.g, tdl_input(f2.g, "y", TDL_I32, 1, s1));
    tdl_node *hx = BUILT(f2.g, tdl_cross_entropy(f2.g, cst(f2.g, h, 2, sh), hl_in));
    assert_int_equal(tdl_graph_compile(f2.g), TDL_OK);
    assert_int_equal(tdl_feed(f2.g, hl_in, hl, 1, s1), TDL_OK);
    const double rl[1] = {0.6931471805599453};
    run_and_check(f2.g, hx, "cross_entropy by hand", rl, 1, RTOL_ARITH, 0);
    fx_close(&f2);
    fx_close(&f);
}

static void test_bce(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    const float z[8] = {50.0f, -50.0f, 0.0f, 3.0f, -2.0f, 20.0f, -20.0f, 0.5f};
    const float t[8] = {0.0f, 1.0f, 0.5f, 1.0f, 0.0f, 0.3f, 0.9f, 1.0f};
    const int64_t s[2] = {2, 4};
    tdl_node *zn = BUILT(f.g, tdl_input(f.g, "z", TDL_F32, 2, s));
    tdl_node *y = BUILT(f.g, tdl_bce_with_logits(f.g, zn, cst(f.g, t, 2, s)));
    check_shape(y, 0, NULL);
    assert_int_equal(tdl_graph_compile(f.g), TDL_OK);
    assert_int_equal(tdl_feed(f.g, zn, z, 2, s), TDL_OK);
    double r = 0;
    for (int i = 0; i < 8; ++i)
        r += fmax(z[i], 0.0) - (double)z[i] * t[i] + log1p(exp(-fabs((double)z[i])));
    r /= 8;
    const double ref[1] = {r};
    run_and_check(f.g, y, "bce_with_logits", ref, 1, RTOL_ARITH, 0);
    float got;
    read_node(y, &got, 1);
    assert_true(isfinite(got));
    /* by hand: a single logit 0 with target 1 gives log 2 */
    const float z0[1] = {0.0f}, t1[1] = {1.0f};
    const int64_t s1[1] = {1};
    tdl_node *y0 = BUILT(f.g, tdl_bce_with_logits(f.g, cst(f.g, z0, 1, s1), cst(f.g, t1, 1, s1)));
    const double r0[1] = {0.6931471805599453};
    run_and_check(f.g, y0, "bce by hand", r0, 1, RTOL_ARITH, 0);
    fx_close(&f);
}

/* ---- layers ---- */

static void test_dense(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    enum { IN = 4, OUT = 3, BMAX = 5 };
    const int64_t sx[2] = {TDL_BATCH, IN};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *y = BUILT(g, tdl_dense(g, x, OUT, "fc"));
    const int64_t sy[2] = {TDL_BATCH, OUT};
    check_shape(y, 2, sy);
    tdl_node *w = tdl_graph_find(g, "fc.weight"), *b = tdl_graph_find(g, "fc.bias");
    assert_non_null(w);
    assert_non_null(b);
    const int64_t sw[2] = {OUT, IN}, sb[1] = {OUT};
    check_shape(w, 2, sw);
    check_shape(b, 1, sb);
    /* a non-zero bias so that its use is checked too */
    float *bd = tdl_param_data(b);
    bd[0] = 0.5f;
    bd[1] = -1.25f;
    bd[2] = 2.0f;
    const float *wd = tdl_param_data(w);
    float xv[BMAX * IN];
    test_fill_uniform(xv, BMAX * IN, -2, 2, 14);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    const int64_t batches[3] = {2, 5, 1};
    for (int bi = 0; bi < 3; ++bi) {
        int64_t n = batches[bi];
        const int64_t fx_[2] = {n, IN};
        assert_int_equal(tdl_feed(g, x, xv, 2, fx_), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_OK);
        double ref[BMAX * OUT], scale[BMAX * OUT];
        for (int64_t r = 0; r < n; ++r)
            for (int o = 0; o < OUT; ++o) {
                double s = bd[o], t = fabs(bd[o]);
                for (int k = 0; k < IN; ++k) {
                    s += (double)xv[r * IN + k] * wd[o * IN + k];
                    t += fabs((double)xv[r * IN + k] * wd[o * IN + k]);
                }
                ref[r * OUT + o] = s;
                scale[r * OUT + o] = t;
            }
        float got[BMAX * OUT];
        read_node(y, got, n * OUT);
        check_matmul("dense", got, ref, scale, n * OUT);
    }
    fx_close(&f);
}

/* A graph with a batch input run at two batch sizes: broadcasting, a mean over
 * the batch axis, a reshape and a max, all resolved per run. */
static void test_batch_shapes(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    tdl_graph *g = f.g;
    const int64_t sx[2] = {TDL_BATCH, 3}, s3[1] = {3};
    const float sc[3] = {2.0f, -1.0f, 0.5f};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *xs = BUILT(g, tdl_mul(g, x, cst(g, sc, 1, s3)));
    const int32_t ax0 = 0, ax1 = 1;
    tdl_node *colmean = BUILT(g, tdl_mean(g, xs, 1, &ax0, 0));
    tdl_node *rowmax = BUILT(g, tdl_max(g, xs, 1, &ax1, 1));
    tdl_node *allmean = BUILT(g, tdl_mean(g, xs, 0, NULL, 0));
    const int64_t rs[1] = {-1};
    tdl_node *flat = BUILT(g, tdl_reshape(g, xs, 1, rs));
    const int64_t want_rm[2] = {TDL_BATCH, 1}, want_flat[1] = {-3};
    check_shape(rowmax, 2, want_rm);
    check_shape(flat, 1, want_flat);
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    float xv[7 * 3];
    test_fill_uniform(xv, 21, -2, 2, 15);
    const int64_t batches[2] = {3, 7};
    for (int bi = 0; bi < 2; ++bi) {
        int64_t n = batches[bi];
        const int64_t fs[2] = {n, 3};
        assert_int_equal(tdl_feed(g, x, xv, 2, fs), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_OK);
        double cm[3] = {0, 0, 0}, rm[7], am = 0, fl[21];
        for (int64_t r = 0; r < n; ++r) {
            rm[r] = -INFINITY;
            for (int k = 0; k < 3; ++k) {
                double v = (double)xv[r * 3 + k] * sc[k];
                cm[k] += v / (double)n;
                rm[r] = fmax(rm[r], v);
                am += v / (double)(3 * n);
                fl[r * 3 + k] = v;
            }
        }
        float got[21];
        read_node(colmean, got, 3);
        check_close("mean over the batch", got, cm, 3, RTOL_ARITH, ATOL_ARITH);
        read_node(rowmax, got, n);
        check_close("max per row", got, rm, n, 0, 0);
        read_node(allmean, got, 1);
        check_close("mean of all", got, &am, 1, RTOL_ARITH, ATOL_ARITH);
        read_node(flat, got, 3 * n);
        check_close("flattened", got, fl, 3 * n, 0, 0);
    }
    fx_close(&f);
}

/* The same graph in contexts with 1 and 3 threads gives bit-identical values
 * and gradients (sizes above the elementwise grain and the GEMM threshold, so
 * the work is really split). */
enum { TR = 300, TC = 257, TN = 65, T_OUTS = 9 };

static tdl_graph *thread_graph(tdl_ctx *ctx, const float *xv, tdl_node **outs, tdl_node **loss)
{
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(ctx, &g), TDL_OK);
    const int64_t sx[2] = {TR, TC}, sb[1] = {TC}, sw[2] = {TC, TN};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 2, sx));
    tdl_node *b = BUILT(g, test_param(g, "b", 1, sb, -1, 1));
    tdl_node *w = BUILT(g, test_param(g, "w", 2, sw, -0.1f, 0.1f));
    const int32_t ax0 = 0;
    outs[0] = BUILT(g, tdl_add(g, x, b));
    outs[1] = BUILT(g, tdl_tanh(g, tdl_mul(g, x, b)));
    outs[2] = BUILT(g, tdl_softmax(g, x, -1));
    outs[3] = BUILT(g, tdl_log_softmax(g, x, 0));
    outs[4] = BUILT(g, tdl_sum(g, x, 1, &ax0, 0));
    outs[5] = BUILT(g, tdl_matmul(g, x, w));
    outs[6] = BUILT(g, tdl_exp(g, tdl_affine_scalar(g, x, 0.5f, 0.0f)));
    outs[7] = BUILT(g, tdl_gelu(g, tdl_sigmoid(g, x)));
    outs[8] = BUILT(g, tdl_div(g, x, tdl_affine_scalar(g, b, 1.0f, 2.0f)));
    tdl_node *l1 = BUILT(g, test_weighted_sum(g, outs[1], 1));
    tdl_node *l2 = BUILT(g, test_weighted_sum(g, outs[5], 2));
    tdl_node *l3 = BUILT(g, test_weighted_sum(g, outs[8], 3));
    *loss = BUILT(g, tdl_add(g, tdl_add(g, l1, l2), l3));
    assert_int_equal(tdl_graph_compile(g), TDL_OK);
    assert_int_equal(tdl_feed(g, x, xv, 2, sx), TDL_OK);
    return g;
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    float *xv = malloc(sizeof(float) * TR * TC);
    assert_non_null(xv);
    test_fill_uniform(xv, TR * TC, -3, 3, 16);
    tdl_ctx *c1 = test_ctx(), *c3 = test_ctx();
    assert_int_equal(tdl_ctx_set_threads(c3, 3), TDL_OK);
    tdl_node *o1[T_OUTS], *o3[T_OUTS], *l1, *l3;
    tdl_graph *g1 = thread_graph(c1, xv, o1, &l1);
    tdl_graph *g3 = thread_graph(c3, xv, o3, &l3);
    size_t bytes = sizeof(float) * TR * TN > sizeof(float) * TR * TC ? sizeof(float) * TR * TN
                                                                     : sizeof(float) * TR * TC;
    float *a = malloc(bytes), *b = malloc(bytes);
    assert_true(a && b);
    for (int i = 0; i < T_OUTS; ++i) {
        int32_t nd;
        int64_t shape[TDL_MAX_DIMS];
        /* some outputs feed the loss (their memory is reused later): run each */
        assert_int_equal(tdl_run(g1, o1[i]), TDL_OK);
        assert_int_equal(tdl_run(g3, o3[i]), TDL_OK);
        assert_int_equal(tdl_node_value_shape(o1[i], &nd, shape), TDL_OK);
        int64_t n = shape_numel(nd, shape);
        read_node(o1[i], a, n);
        read_node(o3[i], b, n);
        if (memcmp(a, b, sizeof(float) * (size_t)n) != 0)
            fail_msg("output %d (%s) differs between 1 and 3 threads", i, tdl_node_op(o1[i]));
        if (i == 0) { /* x + b: one rounding, equal to the double result rounded */
            const float *bv = tdl_param_data(tdl_graph_find(g1, "b"));
            for (int64_t k = 0; k < n; ++k)
                assert_true(a[k] == (float)((double)xv[k] + bv[k % TC]));
        }
    }
    assert_int_equal(tdl_forward(g1), TDL_OK);
    assert_int_equal(tdl_forward(g3), TDL_OK);
    assert_int_equal(tdl_backward(g1, l1), TDL_OK);
    assert_int_equal(tdl_backward(g3, l3), TDL_OK);
    const char *pn[2] = {"b", "w"};
    const int64_t pc[2] = {TC, TC * TN};
    for (int i = 0; i < 2; ++i) {
        const float *ga = tdl_param_grad(tdl_graph_find(g1, pn[i]));
        const float *gb = tdl_param_grad(tdl_graph_find(g3, pn[i]));
        if (memcmp(ga, gb, sizeof(float) * (size_t)pc[i]) != 0)
            fail_msg("gradient of '%s' differs between 1 and 3 threads", pn[i]);
        double norm = 0;
        for (int64_t k = 0; k < pc[i]; ++k)
            norm += fabs(ga[k]);
        assert_true(norm > 0);
    }
    tdl_graph_destroy(g1);
    tdl_graph_destroy(g3);
    tdl_ctx_destroy(c1);
    tdl_ctx_destroy(c3);
    free(a);
    free(b);
    free(xv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_affine),
        cmocka_unit_test(test_matmul_2d),
        cmocka_unit_test(test_matmul_batched),
        cmocka_unit_test(test_reshape_transpose_permute),
        cmocka_unit_test(test_concat_slice),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_dropout_determinism),
        cmocka_unit_test(test_stop_gradient),
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_batch_shapes),
        cmocka_unit_test(test_threads_bit_identical),
    };
    return cmocka_run_group_tests_name("ops_forward", tests, NULL, NULL);
}
