/* The vector kernels, written once over a small set of vector operations
 * that each ISA file defines before including this header (x86/vec_avx512.c,
 * x86/vec_avx2.c, arm/vec_neon.c):
 *
 *   type vf, VF_W lanes; TDLK_SFX(name) appends the ISA suffix;
 *   vf_set1, vf_load, vf_store, vf_load_part(p, k, fill) (lanes >= k are
 *   `fill`, nothing read past p + k), vf_store_part(p, v, k);
 *   vf_add, vf_sub, vf_mul, vf_div, vf_sqrt, vf_abs;
 *   vf_fma(a, b, c) = a b + c and vf_fms(a, b, c) = a b - c, single rounding;
 *   vf_min(c, x), vf_max(c, x): NaN in x gives NaN;
 *   vf_round(x) to nearest integer; vf_ldexp(p, n) = p 2^n for integral n in
 *   [-150, 130], correctly rounded into subnormals and infinity;
 *   vf_copysign(mag, sgn); vf_select_lt(a, b, t, f) = a < b ? t : f (NaN: f);
 *   vf_select_eq(a, b, t, f) = a == b ? t : f; vf_select_nan(a, t, f) =
 *   isnan(a) ? t : f; vf_pick_gt(m, b) = b > m ? b : m (NaN: m);
 *   vf_any_nan2(a, b): 1 when a lane of a or b is NaN;
 *   vf_hsum(v) (any order), and the ISA's tdlk_vmax.
 * pool_template.h also needs vf_load_deint(p, &e, &o) (the even and odd
 * elements of p[0 .. 2 VF_W)), vf_load_deint_part(p, k, &e, &o) (k pairs
 * read, other lanes 0), vf_store_int(p, e, o) and vf_store_int_part(p, e, o,
 * k) (the inverse, k pairs written).
 *
 * Accuracy of the approximations (u = 2^-24; checked by the tests over dense
 * sweeps against libm evaluated in double):
 *   exp      2 u relative on [-87.3, 88.7]; subnormal results, overflow to
 *            +inf, underflow to 0 and NaN handled.
 *   tanh     3 u relative (2.4 u measured): odd polynomial for |x| < 0.625,
 *            else 1 - 2 / (exp(2|x|) + 1); sign of x kept (also -0).
 *   sigmoid  4 u relative (3.2 u measured): 1 / (1 + exp(-x)).
 *   gelu     10 u relative (8.3 u measured) wherever the result is a normal
 *            float: erfc(z) = t exp(-z^2 + P(t)), a fit of relative error
 *            1.2e-7, with z^2 = x^2 / 2 carried exactly into the exp.
 *   gelu'    Phi(x) + x phi(x): within 16 u (5.7 u measured) of |Phi(x)| +
 *            |x phi(x)| (it has a root near -0.75, where no relative bound
 *            holds); Phi as in gelu, phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *            with x^2 carried exactly into the exp; +-inf give 1 and 0.
 *   The exact kernels below (relu, step, the binary ops, ...) and
 *   pool_template.h: bit-identical to their _ref versions.
 *   gelu''   (2 - x^2) phi(x), 2 - x^2 rounded once: 10 u relative (4.8 u
 *            measured).
 *   sum      bit-identical to tdlk_vsum_ref; max exact.
 *   softmax / log_softmax: the exp error plus the rounding of the row sum. */
#ifndef TDL_KERNELS_VEC_TEMPLATE_H
#define TDL_KERNELS_VEC_TEMPLATE_H

#include <math.h>

#include "kernels/vmath_consts.h"

static inline vf vf_exp(vf x)
{
    x = vf_max(vf_set1(TDLK_EXP_LO), vf_min(vf_set1(TDLK_EXP_HI), x));
    vf n = vf_round(vf_mul(x, vf_set1(TDLK_LOG2E)));
    vf r = vf_fnma(n, vf_set1(TDLK_LN2_HI), x);
    r = vf_fnma(n, vf_set1(TDLK_LN2_LO), r);
    vf p = vf_set1(TDLK_EXP_P0);
    p = vf_fma(p, r, vf_set1(TDLK_EXP_P1));
    p = vf_fma(p, r, vf_set1(TDLK_EXP_P2));
    p = vf_fma(p, r, vf_set1(TDLK_EXP_P3));
    p = vf_fma(p, r, vf_set1(TDLK_EXP_P4));
    p = vf_fma(p, r, vf_set1(TDLK_EXP_P5));
    p = vf_fma(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
    return vf_ldexp(p, n);
}

static inline vf vf_tanh(vf x)
{
    vf ax = vf_abs(x);
    vf z = vf_mul(x, x);
    vf p = vf_set1(TDLK_TANH_P0);
    p = vf_fma(p, z, vf_set1(TDLK_TANH_P1));
    p = vf_fma(p, z, vf_set1(TDLK_TANH_P2));
    p = vf_fma(p, z, vf_set1(TDLK_TANH_P3));
    p = vf_fma(p, z, vf_set1(TDLK_TANH_P4));
    vf small = vf_fma(vf_mul(p, z), x, x);
    vf e = vf_exp(vf_add(ax, ax));
    vf big = vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(e, vf_set1(1.0f))));
    return vf_copysign(vf_select_lt(ax, vf_set1(TDLK_TANH_SMALL), small, big), x);
}

static inline vf vf_sigmoid(vf x)
{
    vf e = vf_exp(vf_sub(vf_set1(0.0f), x));
    return vf_div(vf_set1(1.0f), vf_add(vf_set1(1.0f), e));
}

/* Phi(+-20) is 1 or 0 in float: clamping keeps +-inf out of x^2 (NaN stays). */
static inline vf vf_clamp20(vf x)
{
    return vf_max(vf_set1(-20.0f), vf_min(vf_set1(20.0f), x));
}

/* Phi(x), the standard normal CDF, for x in [-20, 20]. */
static inline vf vf_ncdf(vf x)
{
    vf z = vf_mul(vf_abs(x), vf_set1(TDLK_SQRT1_2));
    vf t = vf_div(vf_set1(1.0f), vf_fma(z, vf_set1(0.5f), vf_set1(1.0f)));
    vf p = vf_set1(TDLK_ERFC_P9);
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P8));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P7));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P6));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P5));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P4));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P3));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P2));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P1));
    p = vf_fma(p, t, vf_set1(TDLK_ERFC_P0));
    /* exp(p - z^2), z^2 = (x2 + x2lo) / 2 exactly; a + b = -x2 / 2 +
     * (p - x2lo / 2) kept as s + err (TwoSum); exp(s + err) = exp(s)(1 + err). */
    vf x2 = vf_mul(x, x);
    vf x2lo = vf_fms(x, x, x2);
    vf a = vf_mul(x2, vf_set1(-0.5f));
    vf b = vf_fnma(x2lo, vf_set1(0.5f), p);
    vf s = vf_add(a, b);
    vf bb = vf_sub(s, a);
    vf err = vf_add(vf_sub(a, vf_sub(s, bb)), vf_sub(b, bb));
    vf ex = vf_exp(s);
    ex = vf_fma(ex, err, ex);
    vf e = vf_mul(vf_mul(t, vf_set1(0.5f)), ex); /* erfc(z) / 2 */
    return vf_select_lt(x, vf_set1(0.0f), e, vf_sub(vf_set1(1.0f), e));
}

static inline vf vf_gelu(vf xin)
{
    return vf_mul(xin, vf_ncdf(vf_clamp20(xin)));
}

/* phi(x) = exp(-x^2 / 2) / sqrt(2 pi), with x^2 = x2 + x2lo carried exactly:
 * exp(-x2 / 2) (1 - x2lo / 2). */
static inline vf vf_npdf(vf x)
{
    vf x2 = vf_mul(x, x);
    vf x2lo = vf_fms(x, x, x2);
    vf e = vf_exp(vf_mul(x2, vf_set1(-0.5f)));
    e = vf_fma(e, vf_mul(x2lo, vf_set1(-0.5f)), e);
    return vf_mul(e, vf_set1(TDLK_INV_SQRT2PI));
}

/* GELU'(x) = Phi(x) + x phi(x) */
static inline vf vf_gelu_grad(vf xin)
{
    vf x = vf_clamp20(xin);
    return vf_fma(x, vf_npdf(x), vf_ncdf(x));
}

/* GELU''(x) = (2 - x^2) phi(x), 2 - x^2 rounded once */
static inline vf vf_gelu_grad2(vf xin)
{
    vf x = vf_clamp20(xin);
    return vf_mul(vf_fnma(x, x, vf_set1(2.0f)), vf_npdf(x));
}

#define TDLK_VEC_MAP(name, fn)                                                                     \
    void TDLK_SFX(name)(int64_t n, const float *x, float *y)                                       \
    {                                                                                              \
        int64_t i = 0;                                                                             \
        for (; i + VF_W <= n; i += VF_W)                                                           \
            vf_store(y + i, fn(vf_load(x + i)));                                                   \
        if (i < n)                                                                                 \
            vf_store_part(y + i, fn(vf_load_part(x + i, n - i, 0.0f)), n - i);                     \
    }

TDLK_VEC_MAP(tdlk_vexp, vf_exp)
TDLK_VEC_MAP(tdlk_vtanh, vf_tanh)
TDLK_VEC_MAP(tdlk_vsigmoid, vf_sigmoid)
TDLK_VEC_MAP(tdlk_vgelu, vf_gelu)
TDLK_VEC_MAP(tdlk_vgelu_grad, vf_gelu_grad)
TDLK_VEC_MAP(tdlk_vgelu_grad2, vf_gelu_grad2)

void TDLK_SFX(tdlk_softmax_rows)(int64_t rows, int64_t cols, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = TDLK_SFX(tdlk_vmax)(cols, xr);
        vf mx = vf_set1(m), s = vf_set1(0.0f);
        int64_t i = 0;
        for (; i + VF_W <= cols; i += VF_W) {
            vf e = vf_exp(vf_sub(vf_load(xr + i), mx));
            vf_store(yr + i, e);
            s = vf_add(s, e);
        }
        if (i < cols) {
            /* -inf fill: exp gives 0 in the unused lanes */
            vf e = vf_exp(vf_sub(vf_load_part(xr + i, cols - i, -INFINITY), mx));
            vf_store_part(yr + i, e, cols - i);
            s = vf_add(s, e);
        }
        vf inv = vf_set1(1.0f / vf_hsum(s));
        for (i = 0; i + VF_W <= cols; i += VF_W)
            vf_store(yr + i, vf_mul(vf_load(yr + i), inv));
        if (i < cols)
            vf_store_part(yr + i, vf_mul(vf_load_part(yr + i, cols - i, 0.0f), inv), cols - i);
    }
}

void TDLK_SFX(tdlk_log_softmax_rows)(int64_t rows, int64_t cols, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        vf mx = vf_set1(TDLK_SFX(tdlk_vmax)(cols, xr)), s = vf_set1(0.0f);
        int64_t i = 0;
        for (; i + VF_W <= cols; i += VF_W)
            s = vf_add(s, vf_exp(vf_sub(vf_load(xr + i), mx)));
        if (i < cols)
            s = vf_add(s, vf_exp(vf_sub(vf_load_part(xr + i, cols - i, -INFINITY), mx)));
        vf ls = vf_set1(logf(vf_hsum(s)));
        for (i = 0; i + VF_W <= cols; i += VF_W)
            vf_store(yr + i, vf_sub(vf_sub(vf_load(xr + i), mx), ls));
        if (i < cols)
            vf_store_part(yr + i, vf_sub(vf_sub(vf_load_part(xr + i, cols - i, 0.0f), mx), ls),
                          cols - i);
    }
}

void TDLK_SFX(tdlk_vfill)(int64_t n, float v, float *y)
{
    vf a = vf_set1(v);
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W)
        vf_store(y + i, a);
    if (i < n)
        vf_store_part(y + i, a, n - i);
}

void TDLK_SFX(tdlk_vaxpy)(int64_t n, float alpha, const float *x, float *y)
{
    vf a = vf_set1(alpha);
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W)
        vf_store(y + i, vf_fma(a, vf_load(x + i), vf_load(y + i)));
    if (i < n)
        vf_store_part(y + i,
                      vf_fma(a, vf_load_part(x + i, n - i, 0.0f), vf_load_part(y + i, n - i, 0.0f)),
                      n - i);
}

/* ---- Exact elementwise kernels: one IEEE operation or selection per
 * element, bit-identical to the _ref versions. Tails load a neutral fill. */

static inline vf vf_relu(vf x)
{
    return vf_select_lt(vf_set1(0.0f), x, x, vf_set1(0.0f));
}

static inline vf vf_step(vf x)
{
    return vf_select_lt(vf_set1(0.0f), x, vf_set1(1.0f), vf_set1(0.0f));
}

TDLK_VEC_MAP(tdlk_vrelu, vf_relu)
TDLK_VEC_MAP(tdlk_vstep, vf_step)
TDLK_VEC_MAP(tdlk_vsqrt, vf_sqrt)

void TDLK_SFX(tdlk_vrelu_grad)(int64_t n, const float *x, const float *dy, float *y)
{
    const vf z = vf_set1(0.0f);
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W) {
        vf d = vf_load(dy + i);
        vf_store(y + i, vf_select_lt(z, vf_load(x + i), d, vf_mul(d, z)));
    }
    if (i < n) {
        vf d = vf_load_part(dy + i, n - i, 0.0f);
        vf_store_part(y + i, vf_select_lt(z, vf_load_part(x + i, n - i, 0.0f), d, vf_mul(d, z)),
                      n - i);
    }
}

void TDLK_SFX(tdlk_vleaky_relu)(int64_t n, float slope, const float *x, float *y)
{
    const vf z = vf_set1(0.0f), s = vf_set1(slope);
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W) {
        vf v = vf_load(x + i);
        vf_store(y + i, vf_select_lt(z, v, v, vf_mul(s, v)));
    }
    if (i < n) {
        vf v = vf_load_part(x + i, n - i, 0.0f);
        vf_store_part(y + i, vf_select_lt(z, v, v, vf_mul(s, v)), n - i);
    }
}

void TDLK_SFX(tdlk_vaffine)(int64_t n, float scale, float shift, const float *x, float *y)
{
    const vf a = vf_set1(scale), b = vf_set1(shift);
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W)
        vf_store(y + i, vf_add(vf_mul(a, vf_load(x + i)), b));
    if (i < n)
        vf_store_part(y + i, vf_add(vf_mul(a, vf_load_part(x + i, n - i, 0.0f)), b), n - i);
}

/* y = a op b over n elements; SA / SB: 1 reads the operand per element, 0
 * holds the single value of va / vb (the tail fill 1 keeps DIV quiet). */
#define TDLK_BINARY_LOOP(OP, SA, SB)                                                               \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        for (; i + VF_W <= n; i += VF_W)                                                           \
            vf_store(y + i, OP(SA ? vf_load(a + i) : va, SB ? vf_load(b + i) : vb));               \
        if (i < n)                                                                                 \
            vf_store_part(y + i,                                                                   \
                          OP(SA ? vf_load_part(a + i, n - i, 1.0f) : va,                           \
                             SB ? vf_load_part(b + i, n - i, 1.0f) : vb),                          \
                          n - i);                                                                  \
    } while (0)

#define TDLK_BINARY_FN(name, OP)                                                                   \
    static void name(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb, float *y)  \
    {                                                                                              \
        const vf va = vf_set1(a[0]), vb = vf_set1(b[0]);                                           \
        if (sa && sb)                                                                              \
            TDLK_BINARY_LOOP(OP, 1, 1);                                                            \
        else if (sa)                                                                               \
            TDLK_BINARY_LOOP(OP, 1, 0);                                                            \
        else if (sb)                                                                               \
            TDLK_BINARY_LOOP(OP, 0, 1);                                                            \
        else                                                                                       \
            TDLK_BINARY_LOOP(OP, 0, 0);                                                            \
    }

TDLK_BINARY_FN(binary_add, vf_add)
TDLK_BINARY_FN(binary_sub, vf_sub)
TDLK_BINARY_FN(binary_mul, vf_mul)
TDLK_BINARY_FN(binary_div, vf_div)

void TDLK_SFX(tdlk_vbinary)(int op, int64_t n, const float *a, int64_t sa, const float *b,
                            int64_t sb, float *y)
{
    if (n <= 0)
        return;
    switch (op) {
    case TDLK_ADD: binary_add(n, a, sa, b, sb, y); break;
    case TDLK_SUB: binary_sub(n, a, sa, b, sb, y); break;
    case TDLK_MUL: binary_mul(n, a, sa, b, sb, y); break;
    default: binary_div(n, a, sa, b, sb, y); break;
    }
}

/* Same operations in the same order as tdlk_adam_update_ref (no FMA). */
static inline void adam_step(vf *p, vf g, vf *m, vf *v, const vf *c, int decoupled)
{
    /* c: b1, 1-b1, b2, 1-b2, lr, eps, wd, 1-lr*wd, bc1, bc2 */
    if (decoupled)
        *p = vf_mul(*p, c[7]);
    else
        g = vf_add(g, vf_mul(c[6], *p));
    *m = vf_add(vf_mul(c[0], *m), vf_mul(c[1], g));
    *v = vf_add(vf_mul(c[2], *v), vf_mul(vf_mul(c[3], g), g));
    vf den = vf_add(vf_sqrt(vf_div(*v, c[9])), c[5]);
    *p = vf_sub(*p, vf_div(vf_mul(c[4], vf_div(*m, c[8])), den));
}

void TDLK_SFX(tdlk_adam_update)(int64_t n, float *p, const float *g, float *m, float *v, float lr,
                                float b1, float b2, float eps, float wd, int decoupled, float bc1,
                                float bc2)
{
    const vf c[10] = {
        vf_set1(b1),  vf_set1(1.0f - b1), vf_set1(b2), vf_set1(1.0f - b2),
        vf_set1(lr),  vf_set1(eps),       vf_set1(wd), vf_set1(1.0f - lr * wd),
        vf_set1(bc1), vf_set1(bc2),
    };
    int64_t i = 0;
    for (; i + VF_W <= n; i += VF_W) {
        vf pi = vf_load(p + i), mi = vf_load(m + i), vi = vf_load(v + i);
        adam_step(&pi, vf_load(g + i), &mi, &vi, c, decoupled);
        vf_store(p + i, pi);
        vf_store(m + i, mi);
        vf_store(v + i, vi);
    }
    if (i < n) {
        int64_t k = n - i;
        vf pi = vf_load_part(p + i, k, 0.0f), mi = vf_load_part(m + i, k, 0.0f);
        vf vi = vf_load_part(v + i, k, 1.0f);
        adam_step(&pi, vf_load_part(g + i, k, 0.0f), &mi, &vi, c, decoupled);
        vf_store_part(p + i, pi, k);
        vf_store_part(m + i, mi, k);
        vf_store_part(v + i, vi, k);
    }
}

#endif
