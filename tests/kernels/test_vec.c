/* Vector kernels against their ref/ oracles (libm based).
 *
 * The exact kernels (relu, relu_grad, step, leaky_relu, affine, sqrt, the
 * binary ops, 2x2 max pooling) must equal ref bit for bit, special values
 * included (a NaN from two NaN operands of + - * / may be either one); they
 * are run on every size, unaligned pointers and each stride form.
 *
 * Tolerances, in u = 2^-24 (float unit roundoff) relative to the oracle,
 * are the documented error of the SIMD approximation (x86/vec_avx512.c,
 * x86/vec_avx2.c, arm/vec_neon.c) plus the oracle's own (<= 1 u for libm,
 * ~1.5 u for the ref sigmoid's 1 / (1 + expf)), rounded up:
 *   exp 4 u, tanh 5 u, sigmoid 8 u, gelu 16 u (and 1e-37 absolute where the
 *   result is near the bottom of the float range); sum: bit-identical;
 *   max: exact. Built with simd=none the kernels are the oracles. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"

#define U        (FLT_EPSILON / 2)
#define SENTINEL -777.0f

static const int64_t sizes[] = {0, 1, 2, 3, 7, 15, 16, 31, 33, 64, 65, 257, 1000};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

static uint64_t rng_state = 0x243F6A8885A308D3u;

static float frand(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    double r = (double)(rng_state >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * r);
}

typedef void (*map_fn)(int64_t n, const float *x, float *y);

typedef struct map_kernel {
    const char *name;
    map_fn fn, ref;
    float lo, hi;   /* input range of the random tests */
    double tol_u;   /* relative tolerance in u */
    double abs_tol; /* absolute floor */
} map_kernel;

static const map_kernel maps[] = {
    {"exp", tdlk_vexp, tdlk_vexp_ref, -104.0f, 90.0f, 4.0, 4e-45},
    {"tanh", tdlk_vtanh, tdlk_vtanh_ref, -12.0f, 12.0f, 5.0, 1e-44},
    {"sigmoid", tdlk_vsigmoid, tdlk_vsigmoid_ref, -100.0f, 100.0f, 8.0, 4e-45},
    {"gelu", tdlk_vgelu, tdlk_vgelu_ref, -15.0f, 15.0f, 16.0, 1e-37},
};

static void check_close(const map_kernel *k, const float *x, const float *got, const float *want,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i]))
            continue;
        double tol = k->tol_u * U * fabs((double)want[i]) + k->abs_tol;
        if (isinf(want[i]) ? got[i] != want[i] : !(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s(%.9g) = %.9g, oracle %.9g (n=%ld, i=%ld)", k->name, x[i], got[i], want[i],
                     (long)n, (long)i);
    }
}

/* Every size, unaligned input and output, no write past the end, in place. */
static void test_maps_sizes(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof maps / sizeof maps[0]; f++) {
        const map_kernel *k = &maps[f];
        for (int s = 0; s < N_SIZES; s++) {
            int64_t n = sizes[s];
            float *xb = malloc((size_t)(n + 2) * sizeof(float));
            float *yb = malloc((size_t)(n + 2) * sizeof(float));
            float *r = malloc((size_t)(n + 1) * sizeof(float));
            assert_true(xb && yb && r);
            float *x = xb + 1, *y = yb + 1;
            for (int64_t i = 0; i < n; i++)
                x[i] = frand(k->lo, k->hi);
            y[n] = SENTINEL;
            yb[0] = SENTINEL;
            k->ref(n, x, r);
            k->fn(n, x, y);
            check_close(k, x, y, r, n);
            assert_true(y[n] == SENTINEL && yb[0] == SENTINEL);
            /* y aliasing x */
            memcpy(y, x, (size_t)n * sizeof(float));
            k->fn(n, y, y);
            check_close(k, x, y, r, n);
            free(xb);
            free(yb);
            free(r);
        }
    }
}

/* Dense sweep of each function's whole interesting range, plus tiny inputs. */
static void test_maps_accuracy(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *r = malloc(N * sizeof(float));
    assert_true(x && y && r);
    for (size_t f = 0; f < sizeof maps / sizeof maps[0]; f++) {
        const map_kernel *k = &maps[f];
        for (int i = 0; i < N; i++)
            x[i] = k->lo + (k->hi - k->lo) * ((float)i / N);
        for (int i = 0; i < 300; i++)
            x[i] = ldexpf(i % 2 ? -1.0f : 1.0f, -(i / 2)); /* +-2^-149 .. +-1 */
        k->ref(N, x, r);
        k->fn(N, x, y);
        check_close(k, x, y, r, N);
    }
    free(x);
    free(y);
    free(r);
}

static void test_maps_special(void **state)
{
    (void)state;
    float x[6] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 200.0f}, y[6];
    tdlk_vexp(6, x, y);
    assert_true(y[0] == INFINITY && y[1] == 0.0f && isnan(y[2]) && y[3] == 1.0f && y[4] == 1.0f &&
                y[5] == INFINITY);
    tdlk_vtanh(6, x, y);
    assert_true(y[0] == 1.0f && y[1] == -1.0f && isnan(y[2]) && y[3] == 0.0f && y[5] == 1.0f);
    assert_true(signbit(y[4]));
    tdlk_vsigmoid(6, x, y);
    assert_true(y[0] == 1.0f && y[1] == 0.0f && isnan(y[2]) && y[3] == 0.5f && y[5] == 1.0f);
    tdlk_vgelu(6, x, y);
    assert_true(y[0] == INFINITY && isnan(y[2]) && y[3] == 0.0f && y[5] == 200.0f);
}

/* GELU's derivatives against the double-precision formulas: gelu' within
 * 16 u of |Phi(x)| + |x phi(x)| (it crosses zero near x = -0.75, where only
 * a bound relative to its terms holds), gelu'' within 10 u relative; both
 * plus 1e-37 where the results reach the bottom of the float range. Dense
 * sweep, every size with unaligned pointers, and the special values. */
static double npdf(double v)
{
    return exp(-0.5 * v * v) / sqrt(2.0 * M_PI);
}

static void check_gelu_grads(int64_t n, const float *x, const float *d1, const float *d2,
                             double *worst)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i] > 20.0f ? 20.0 : x[i] < -20.0f ? -20.0 : x[i];
        double cdf = 0.5 * erfc(-v / sqrt(2.0)), pdf = npdf(v);
        double w1 = cdf + v * pdf, w2 = (2.0 - v * v) * pdf;
        double s1 = fabs(cdf) + fabs(v * pdf);
        double e1 = fabs((double)d1[i] - w1), e2 = fabs((double)d2[i] - w2);
        if (!(e1 <= 16 * U * s1 + 1e-37))
            fail_msg("gelu'(%.9g) = %.9g, expected %.9g", (double)x[i], (double)d1[i], w1);
        if (!(e2 <= 10 * U * fabs(w2) + 1e-37))
            fail_msg("gelu''(%.9g) = %.9g, expected %.9g", (double)x[i], (double)d2[i], w2);
        if (s1 > 1e-30 && e1 / (U * s1) > worst[0])
            worst[0] = e1 / (U * s1);
        if (fabs(w2) > 1e-30 && e2 / (U * fabs(w2)) > worst[1])
            worst[1] = e2 / (U * fabs(w2));
    }
}

static void test_gelu_grads(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *x = malloc((N + 2) * sizeof(float)), *d1 = malloc((N + 2) * sizeof(float));
    float *d2 = malloc((N + 2) * sizeof(float));
    assert_true(x && d1 && d2);
    double worst[2] = {0, 0};
    for (int i = 0; i < N; i++)
        x[i] = -16.0f + 32.0f * ((float)i / N);
    for (int i = 0; i < 300; i++)
        x[i] = ldexpf(i % 2 ? -1.0f : 1.0f, -(i / 2));
    tdlk_vgelu_grad(N, x, d1);
    tdlk_vgelu_grad2(N, x, d2);
    check_gelu_grads(N, x, d1, d2, worst);
    print_message("gelu' worst %.2f u of |Phi| + |x phi|, gelu'' worst %.2f u relative\n", worst[0],
                  worst[1]);
    /* the oracles themselves */
    double ref_worst[2] = {0, 0};
    tdlk_vgelu_grad_ref(N, x, d1);
    tdlk_vgelu_grad2_ref(N, x, d2);
    check_gelu_grads(N, x, d1, d2, ref_worst);
    for (int s = 0; s < N_SIZES; s++) { /* sizes, unaligned, no write past the end */
        int64_t n = sizes[s];
        for (int64_t i = 0; i < n; i++)
            x[i + 1] = frand(-10.0f, 10.0f);
        d1[n + 1] = d2[n + 1] = SENTINEL;
        tdlk_vgelu_grad(n, x + 1, d1 + 1);
        tdlk_vgelu_grad2(n, x + 1, d2 + 1);
        assert_true(d1[n + 1] == SENTINEL && d2[n + 1] == SENTINEL);
        check_gelu_grads(n, x + 1, d1 + 1, d2 + 1, worst);
    }
    float sp[4] = {INFINITY, -INFINITY, NAN, 0.0f}, o1[4], o2[4];
    for (int ref = 0; ref < 2; ref++) {
        (ref ? tdlk_vgelu_grad_ref : tdlk_vgelu_grad)(4, sp, o1);
        (ref ? tdlk_vgelu_grad2_ref : tdlk_vgelu_grad2)(4, sp, o2);
        assert_true(o1[0] == 1.0f && o1[1] == 0.0f && isnan(o1[2]) && o1[3] == 0.5f);
        assert_true(o2[0] == 0.0f && o2[1] == 0.0f && isnan(o2[2]));
        assert_true(fabsf(o2[3] - 0.797884561f) <= 1e-7f);
    }
    free(x);
    free(d1);
    free(d2);
}

static void test_sum(void **state)
{
    (void)state;
    for (int s = 0; s < N_SIZES; s++) {
        for (int off = 0; off < 2; off++) {
            int64_t n = sizes[s];
            float *xb = malloc((size_t)(n + 1) * sizeof(float));
            assert_non_null(xb);
            float *x = xb + off;
            for (int64_t i = 0; i < n; i++)
                x[i] = frand(-1.0f, 1.0f) * (i % 3 == 0 ? 1e4f : 1.0f);
            float got = tdlk_vsum(n, x), want = tdlk_vsum_ref(n, x);
            /* same order: bit-identical, not merely close */
            assert_memory_equal(&got, &want, sizeof got);
            free(xb);
        }
    }
    float z[3] = {-0.0f, -0.0f, -0.0f};
    assert_true(tdlk_vsum(0, z) == 0.0f);
    float big[200];
    for (int i = 0; i < 200; i++)
        big[i] = (float)i;
    assert_true(tdlk_vsum(200, big) == 19900.0f);
}

static void test_max(void **state)
{
    (void)state;
    assert_true(tdlk_vmax(0, NULL) == -INFINITY);
    for (int s = 1; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)n * sizeof(float));
        assert_non_null(x);
        for (int64_t pos = 0; pos < n; pos += (n > 40 ? 13 : 1)) {
            for (int64_t i = 0; i < n; i++)
                x[i] = frand(-100.0f, 100.0f);
            x[pos] = 1000.0f;
            assert_true(tdlk_vmax(n, x) == 1000.0f);
            assert_true(tdlk_vmax_ref(n, x) == 1000.0f);
            x[pos] = NAN; /* NaN propagates, wherever it is */
            assert_true(isnan(tdlk_vmax(n, x)));
            x[pos] = -INFINITY;
            assert_true(tdlk_vmax(n, x) == tdlk_vmax_ref(n, x));
        }
        free(x);
    }
}

static void test_softmax(void **state)
{
    (void)state;
    static const int64_t shapes[][2] = {{1, 1}, {3, 7}, {2, 10}, {5, 33}, {4, 257}, {2, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], len = rows * cols;
        float *x = malloc((size_t)(len + 1) * sizeof(float));
        float *y = malloc((size_t)(len + 2) * sizeof(float));
        float *r = malloc((size_t)len * sizeof(float));
        assert_true(x && y && r);
        for (int64_t i = 0; i < len; i++)
            x[i] = frand(-30.0f, 30.0f);
        /* the sums differ in order: allow (8 + 4 sqrt(cols)) u on top of exp */
        double tol = (8.0 + 4.0 * sqrt((double)cols)) * U;
        y[len + 1] = SENTINEL;
        tdlk_softmax_rows_ref(rows, cols, x, r);
        tdlk_softmax_rows(rows, cols, x, y + 1);
        assert_true(y[len + 1] == SENTINEL);
        for (int64_t i = 0; i < len; i++)
            if (!(fabs((double)y[i + 1] - r[i]) <= tol * r[i] + 1e-44))
                fail_msg("softmax %ldx%ld [%ld]: %.9g vs %.9g", (long)rows, (long)cols, (long)i,
                         y[i + 1], r[i]);
        tdlk_log_softmax_rows_ref(rows, cols, x, r);
        memcpy(y, x, (size_t)len * sizeof(float)); /* in place */
        tdlk_log_softmax_rows(rows, cols, y, y);
        for (int64_t i = 0; i < len; i++)
            if (!(fabs((double)y[i] - r[i]) <= tol + 4 * U * fabs((double)r[i])))
                fail_msg("log_softmax %ldx%ld [%ld]: %.9g vs %.9g", (long)rows, (long)cols, (long)i,
                         y[i], r[i]);
        free(x);
        free(y);
        free(r);
    }
}

static void test_axpy(void **state)
{
    (void)state;
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)(n + 1) * sizeof(float));
        float *y = malloc((size_t)(n + 2) * sizeof(float)),
              *r = malloc((size_t)(n + 1) * sizeof(float));
        assert_true(x && y && r);
        for (int64_t i = 0; i < n; i++) {
            x[i + 1] = frand(-2.0f, 2.0f);
            y[i + 1] = r[i] = frand(-2.0f, 2.0f);
        }
        y[n + 1] = SENTINEL;
        tdlk_vaxpy_ref(n, -0.75f, x + 1, r);
        tdlk_vaxpy(n, -0.75f, x + 1, y + 1);
        assert_true(y[n + 1] == SENTINEL);
        /* FMA or not: within one rounding of each term */
        for (int64_t i = 0; i < n; i++)
            assert_true(fabs((double)y[i + 1] - r[i]) <=
                        2 * U * (fabs(0.75 * x[i + 1]) + fabs((double)r[i])) + 1e-44);
        free(x);
        free(y);
        free(r);
    }
}

/* fill: every element of y[0, n) set, bit for bit as ref (also -0 and NaN),
 * and nothing written before or after (unaligned start). */
static void test_fill(void **state)
{
    (void)state;
    const float values[] = {1.25f, -0.0f, NAN};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
            float *y = malloc((size_t)(n + 2) * sizeof(float)),
                  *r = malloc((size_t)(n + 1) * sizeof(float));
            assert_true(y && r);
            for (int64_t i = 0; i < n + 2; i++)
                y[i] = SENTINEL;
            tdlk_vfill_ref(n, values[k], r);
            tdlk_vfill(n, values[k], y + 1);
            assert_true(y[0] == SENTINEL && y[n + 1] == SENTINEL);
            assert_memory_equal(y + 1, r, (size_t)n * sizeof(float));
            free(y);
            free(r);
        }
    }
}

static void test_adam(void **state)
{
    (void)state;
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        for (int s = 0; s < N_SIZES; s++) {
            int64_t n = sizes[s];
            size_t bytes = (size_t)(n + 1) * sizeof(float);
            float *p = malloc(bytes), *g = malloc(bytes), *m = malloc(bytes), *v = malloc(bytes);
            float *p2 = malloc(bytes), *m2 = malloc(bytes), *v2 = malloc(bytes);
            assert_true(p && g && m && v && p2 && m2 && v2);
            for (int64_t i = 0; i <= n; i++) {
                p[i] = p2[i] = frand(-1.0f, 1.0f);
                g[i] = frand(-0.1f, 0.1f);
                m[i] = m2[i] = frand(-0.01f, 0.01f);
                v[i] = v2[i] = frand(0.0f, 1e-3f);
            }
            float guard = p[n];
            double b1 = 0.9, b2 = 0.999;
            int t = 3;
            float bc1 = (float)(1.0 - pow(b1, t)), bc2 = (float)(1.0 - pow(b2, t));
            tdlk_adam_update_ref(n, p2, g, m2, v2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled,
                                 bc1, bc2);
            tdlk_adam_update(n, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled, bc1, bc2);
            assert_true(p[n] == guard);
            for (int64_t i = 0; i < n; i++) {
                assert_true(fabs((double)m[i] - m2[i]) <= 4 * U * (fabs((double)m2[i]) + 0.01));
                assert_true(fabs((double)v[i] - v2[i]) <= 4 * U * fabs((double)v2[i]) + 1e-44);
                /* the step is ~lr: a few u of it, plus the rounding of p */
                assert_true(fabs((double)p[i] - p2[i]) <=
                            4 * U * fabs((double)p2[i]) + 16 * U * 1e-2);
            }
            free(p);
            free(g);
            free(m);
            free(v);
            free(p2);
            free(m2);
            free(v2);
        }
    }
}

/* ---- exact elementwise kernels: bit-identical to ref ---- */

/* A float with the given bits. */
static float fbits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Random values with the special ones mixed in: signed zeros, infinities,
 * subnormals, NaNs with different payloads and signs. */
static float special_or_rand(int i)
{
    static const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
                                        0x00000001u, 0x80400000u, 0x7fc00000u, 0x7fc12345u,
                                        0xffc00001u, 0x7f812345u, 0x3f800000u, 0xbf800000u};
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    if ((rng_state >> 60) < 3)
        return fbits(specials[(rng_state >> 32) % (sizeof specials / sizeof specials[0])]);
    return frand(-3.0f, 3.0f) * (i % 5 == 0 ? 1e-30f : 1.0f);
}

static void fill_special(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = special_or_rand((int)i);
}

/* Bitwise equality (NaN payloads and signs of zero included), except that
 * with any_nan a NaN matches any NaN: when both operands of an arithmetic
 * operation are NaN, IEEE 754 leaves open which one the result carries, and
 * compilers swap the operands of + and *. */
static void check_bits_nan(const char *what, const float *got, const float *want, int64_t n,
                           int any_nan)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t g, w;
        memcpy(&g, got + i, sizeof g);
        memcpy(&w, want + i, sizeof w);
        if (any_nan && isnan(got[i]) && isnan(want[i]))
            continue;
        if (g != w)
            fail_msg("%s: [%ld] = %.9g (0x%08x), ref %.9g (0x%08x) (n=%ld)", what, (long)i,
                     (double)got[i], (unsigned)g, (double)want[i], (unsigned)w, (long)n);
    }
}

static void check_bits(const char *what, const float *got, const float *want, int64_t n)
{
    check_bits_nan(what, got, want, n, 0);
}

enum { E_RELU, E_RELU_GRAD, E_STEP, E_LEAKY, E_AFFINE, E_SQRT, E_ADD, E_SUB, E_MUL, E_DIV, E_N };
static const char *const elem_names[E_N] = {"relu", "relu_grad", "step", "leaky_relu", "affine",
                                            "sqrt", "add",       "sub",  "mul",        "div"};

/* Kernel k (ISA or ref) on x and z; sa, sb: the binary ops' strides. */
static void run_elem(int k, int ref, int64_t n, const float *x, int64_t sa, const float *z,
                     int64_t sb, float *y)
{
    switch (k) {
    case E_RELU: (ref ? tdlk_vrelu_ref : tdlk_vrelu)(n, x, y); break;
    case E_RELU_GRAD: (ref ? tdlk_vrelu_grad_ref : tdlk_vrelu_grad)(n, x, z, y); break;
    case E_STEP: (ref ? tdlk_vstep_ref : tdlk_vstep)(n, x, y); break;
    case E_LEAKY: (ref ? tdlk_vleaky_relu_ref : tdlk_vleaky_relu)(n, 0.2f, x, y); break;
    case E_AFFINE: (ref ? tdlk_vaffine_ref : tdlk_vaffine)(n, 1.7f, -0.3f, x, y); break;
    case E_SQRT: (ref ? tdlk_vsqrt_ref : tdlk_vsqrt)(n, x, y); break;
    default:
        (ref ? tdlk_vbinary_ref : tdlk_vbinary)(k - E_ADD + TDLK_ADD, n, x, sa, z, sb, y);
        break;
    }
}

/* Every size, unaligned pointers (offsets 0..3), each stride form of the
 * binary ops, special values, no write past either end, and y aliasing x. */
static void test_elementwise_exact(void **state)
{
    (void)state;
    for (int k = 0; k < E_N; k++) {
        int forms = k >= E_ADD ? 4 : 1;
        for (int form = 0; form < forms; form++) {
            int64_t sa = k >= E_ADD ? !(form & 1) : 1, sb = k >= E_ADD ? !(form & 2) : 1;
            for (int s = 0; s < N_SIZES; s++) {
                for (int off = 0; off < 4; off++) {
                    int64_t n = sizes[s];
                    size_t len = (size_t)(n + 8);
                    float *xb = malloc(len * sizeof(float)), *zb = malloc(len * sizeof(float));
                    float *yb = malloc(len * sizeof(float)), *r = malloc(len * sizeof(float));
                    assert_true(xb && zb && yb && r);
                    float *x = xb + off, *z = zb + (3 - off), *y = yb + (off + 1) % 4;
                    fill_special(xb, (int64_t)len);
                    fill_special(zb, (int64_t)len);
                    for (size_t i = 0; i < len; i++)
                        yb[i] = SENTINEL;
                    run_elem(k, 1, n, x, sa, z, sb, r);
                    run_elem(k, 0, n, x, sa, z, sb, y);
                    char what[64];
                    snprintf(what, sizeof what, "%s sa=%d sb=%d off=%d", elem_names[k], (int)sa,
                             (int)sb, off);
                    check_bits_nan(what, y, r, n, k >= E_ADD);
                    for (float *q = yb; q < y; q++)
                        assert_true(*q == SENTINEL);
                    for (size_t i = (size_t)(y - yb) + (size_t)n; i < len; i++)
                        assert_true(yb[i] == SENTINEL);
                    if (sa == 1) { /* in place over x */
                        memcpy(y, x, (size_t)n * sizeof(float));
                        run_elem(k, 0, n, y, sa, z, sb, y);
                        check_bits_nan(what, y, r, n, k >= E_ADD);
                    }
                    free(xb);
                    free(zb);
                    free(yb);
                    free(r);
                }
            }
        }
    }
}

/* The documented special cases, spelled out. */
static void test_elementwise_special(void **state)
{
    (void)state;
    const float nan = fbits(0x7fc12345u);
    float x[6] = {-0.0f, 0.0f, nan, -1.0f, 2.0f, INFINITY};
    float dy[6] = {-3.0f, 3.0f, 5.0f, INFINITY, nan, -1.0f}, y[6];
    tdlk_vrelu(6, x, y);
    assert_true(y[0] == 0.0f && !signbit(y[0]) && y[1] == 0.0f && y[2] == 0.0f && !signbit(y[2]));
    assert_true(y[3] == 0.0f && y[4] == 2.0f && y[5] == INFINITY);
    /* dy * step(x): -0 for a negative dy, NaN for an infinite one */
    tdlk_vrelu_grad(6, x, dy, y);
    assert_true(y[0] == 0.0f && signbit(y[0]) && y[1] == 0.0f && !signbit(y[1]));
    assert_true(y[2] == 0.0f && isnan(y[3]) && isnan(y[4]) && y[5] == -1.0f);
    tdlk_vstep(6, x, y);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.0f && y[4] == 1.0f &&
                y[5] == 1.0f);
}

/* ---- 2x2 / stride-2 max pooling: bit-identical to ref ---- */

/* Small integers (many ties), signed zeros and, with nan_every > 0, NaNs
 * with distinct payloads. */
static void fill_pool(float *x, int64_t n, int nan_every)
{
    for (int64_t i = 0; i < n; i++) {
        rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
        uint32_t r = (uint32_t)(rng_state >> 33);
        if (nan_every && r % (uint32_t)nan_every == 0)
            x[i] = fbits(0x7fc00000u | (r & 0xffff) | ((r & 0x10000) << 15));
        else if (r % 7 == 0)
            x[i] = (r & 8) ? -0.0f : 0.0f;
        else if (r % 29 == 0)
            x[i] = (r & 8) ? -INFINITY : INFINITY;
        else
            x[i] = (float)((int)(r % 9) - 4);
    }
}

static void test_maxpool2x2(void **state)
{
    (void)state;
    /* output widths: the odd sizes; input widths 2 ow and 2 ow + 1 */
    static const int64_t ows[] = {0, 1, 2, 3, 7, 15, 16, 31, 33, 64, 257, 1000};
    static const int64_t hs[] = {1, 2, 3, 5, 6};
    static const int nans[] = {0, 3, 40};
    for (size_t a = 0; a < sizeof ows / sizeof ows[0]; a++)
        for (int odd_w = 0; odd_w < 2; odd_w++)
            for (size_t b = 0; b < sizeof hs / sizeof hs[0]; b++)
                for (size_t q = 0; q < sizeof nans / sizeof nans[0]; q++) {
                    int64_t w = 2 * ows[a] + odd_w, h = hs[b], planes = 1 + (int64_t)(a % 3);
                    if (w * h > 4000 && (b > 1 || q > 1))
                        continue;
                    int64_t nx = planes * h * w, ny = planes * (h / 2) * (w / 2);
                    int off = (int)((a + b + q) % 4);
                    float *xb = malloc((size_t)(nx + 4) * sizeof(float));
                    float *vb = malloc((size_t)(nx + 4) * sizeof(float));
                    float *gb = malloc((size_t)(ny + 4) * sizeof(float));
                    float *yb = malloc((size_t)(nx + 8) * sizeof(float));
                    float *r = malloc((size_t)(nx + 1) * sizeof(float));
                    assert_true(xb && vb && gb && yb && r);
                    float *x = xb + off, *v = vb + (3 - off), *g = gb + (off + 1) % 4;
                    float *y = yb + 1 + off;
                    fill_pool(x, nx, nans[q]);
                    fill_special(v, nx);
                    fill_special(g, ny);
                    char what[96];
                    snprintf(what, sizeof what, "maxpool2x2 %ldx%ldx%ld nan/%d", (long)planes,
                             (long)h, (long)w, nans[q]);
                    for (int kind = 0; kind < 3; kind++) {
                        int64_t ny_k = kind == 1 ? nx : ny;
                        for (int64_t i = 0; i < nx + 8; i++)
                            yb[i] = SENTINEL;
                        if (kind == 0) {
                            tdlk_maxpool2x2_ref(planes, h, w, x, r);
                            tdlk_maxpool2x2(planes, h, w, x, y);
                        } else if (kind == 1) {
                            tdlk_maxpool2x2_scatter_ref(planes, h, w, x, g, r);
                            tdlk_maxpool2x2_scatter(planes, h, w, x, g, y);
                        } else {
                            tdlk_maxpool2x2_gather_ref(planes, h, w, x, v, r);
                            tdlk_maxpool2x2_gather(planes, h, w, x, v, y);
                        }
                        check_bits(what, y, r, ny_k);
                        for (int64_t i = 0; i < nx + 8; i++)
                            if ((yb + i < y || yb + i >= y + ny_k) && yb[i] != SENTINEL)
                                fail_msg("%s kind %d: wrote outside [%ld]", what, kind,
                                         (long)(yb + i - y));
                    }
                    free(xb);
                    free(vb);
                    free(gb);
                    free(yb);
                    free(r);
                }
}

/* The rule itself on hand-made windows (so that ref is checked too). */
static void test_maxpool2x2_rule(void **state)
{
    (void)state;
    const float n1 = fbits(0x7fc00011u), n2 = fbits(0xffc00022u);
    /* one 2x8 plane: 4 windows; rows {a b} / {c d} */
    const float x[16] = {
        1, 3, -0.0f, 0.0f, 2,  n1, n2, 7, /* upper row */
        3, 2, 0.0f,  0.0f, n2, 5,  n1, 9  /* lower row */
    };
    /* winners: 3 (b, not c), -0 (a, the first of the tie), n1 (b: first NaN), n2 (a) */
    const float g[4] = {10, 20, 30, 40};
    float y[4], r[4], dx[16];
    for (int ref = 0; ref < 2; ref++) {
        (ref ? tdlk_maxpool2x2_ref : tdlk_maxpool2x2)(1, 2, 8, x, y);
        assert_true(y[0] == 3.0f && y[1] == 0.0f && signbit(y[1]));
        assert_memory_equal(&y[2], &n1, sizeof(float));
        assert_memory_equal(&y[3], &n2, sizeof(float));
        (ref ? tdlk_maxpool2x2_scatter_ref : tdlk_maxpool2x2_scatter)(1, 2, 8, x, g, dx);
        const float want[16] = {0, 10, 20, 0, 0, 30, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        check_bits("scatter rule", dx, want, 16);
        (ref ? tdlk_maxpool2x2_gather_ref : tdlk_maxpool2x2_gather)(1, 2, 8, x, dx, r);
        check_bits("gather rule", r, g, 4);
    }
}

static void test_isa(void **state)
{
    (void)state;
    const char *name = tdlk_isa_name();
    assert_non_null(name);
    assert_true(strcmp(name, "none") == 0 || strcmp(name, "avx2") == 0 ||
                strcmp(name, "avx512") == 0 || strcmp(name, "neon") == 0);
    /* the tests run on the build machine, which has the ISA */
    assert_int_equal(tdlk_cpu_supported(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maps_sizes),
        cmocka_unit_test(test_maps_accuracy),
        cmocka_unit_test(test_maps_special),
        cmocka_unit_test(test_gelu_grads),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_axpy),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_elementwise_exact),
        cmocka_unit_test(test_elementwise_special),
        cmocka_unit_test(test_maxpool2x2),
        cmocka_unit_test(test_maxpool2x2_rule),
        cmocka_unit_test(test_isa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
