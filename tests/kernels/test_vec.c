/* Vector kernels against their ref/ oracles (libm based).
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
        cmocka_unit_test(test_maps_sizes),   cmocka_unit_test(test_maps_accuracy),
        cmocka_unit_test(test_maps_special), cmocka_unit_test(test_sum),
        cmocka_unit_test(test_max),          cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_axpy),         cmocka_unit_test(test_adam),
        cmocka_unit_test(test_isa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
