/* tdlk_sgemm / tdlk_sgemm_batched against the tdlk_sgemm_ref oracle.
 *
 * Tolerance: both results sum k products in float, in different orders (the
 * blocked kernel uses FMA and blocks of the depth). Each has an error of at
 * most ~k u S in the worst case and ~sqrt(k) u S for rounding errors of
 * random sign (u = 2^-24, S = |alpha| sum_p |a_ip b_pj| + |beta c_ij|); we
 * allow 8 (sqrt(k) + 2) u S, a factor ~4 over the expected difference of
 * two independent sums, so that millions of checked elements never fail by
 * chance while a wrong index or a missing term (error ~ S / k) still does. */
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

#define SENTINEL 12345.0f

static const int64_t sizes[] = {1, 2, 3, 7, 15, 31, 33, 64, 257, 1000};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static float frand(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (float)((rng_state >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f; /* [-1, 1) */
}

typedef struct test_alloc {
    int live;
    int fail;
} test_alloc;

static void *t_alloc(void *user, size_t bytes)
{
    test_alloc *ta = user;
    if (ta->fail)
        return NULL;
    ta->live++;
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static void t_release(void *user, void *ptr)
{
    test_alloc *ta = user;
    if (ptr)
        ta->live--;
    free(ptr);
}

typedef struct gemm_case {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    int offset;  /* misalign every operand by this many floats */
    int64_t pad; /* extra leading dimension */
} gemm_case;

typedef struct operands {
    float *abuf, *bbuf, *cbuf;
    float *a, *b, *c;
    int64_t lda, ldb, ldc;
    size_t a_len, b_len, c_len;
} operands;

static void make_operands(const gemm_case *g, operands *o)
{
    int64_t arows = g->ta ? g->k : g->m, acols = g->ta ? g->m : g->k;
    int64_t brows = g->tb ? g->n : g->k, bcols = g->tb ? g->k : g->n;
    o->lda = acols + g->pad;
    o->ldb = bcols + 2 * g->pad;
    o->ldc = g->n + g->pad + (g->pad > 0);
    o->a_len = (size_t)(arows * o->lda);
    o->b_len = (size_t)(brows * o->ldb);
    o->c_len = (size_t)(g->m * o->ldc);
    o->abuf = malloc((o->a_len + 1) * sizeof(float));
    o->bbuf = malloc((o->b_len + 1) * sizeof(float));
    o->cbuf = malloc((o->c_len + 1) * sizeof(float));
    assert_true(o->abuf && o->bbuf && o->cbuf);
    o->a = o->abuf + g->offset;
    o->b = o->bbuf + g->offset;
    o->c = o->cbuf + g->offset;
    for (size_t i = 0; i < o->a_len; i++)
        o->a[i] = frand();
    for (size_t i = 0; i < o->b_len; i++)
        o->b[i] = frand();
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < o->ldc; j++)
            o->c[i * o->ldc + j] = j >= g->n ? SENTINEL : g->beta == 0.0f ? NAN : frand();
}

static void free_operands(operands *o)
{
    free(o->abuf);
    free(o->bbuf);
    free(o->cbuf);
}

/* Compares c (from tdlk_sgemm) with r (from the oracle); c0 is C before. */
static void check_result(const gemm_case *g, const operands *o, const float *c, const float *r,
                         const float *c0)
{
    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < o->ldc; j++) {
            float got = c[i * o->ldc + j], want = r[i * o->ldc + j];
            if (j >= g->n) {
                if (got != SENTINEL)
                    fail_msg("padding C[%ld][%ld] written", (long)i, (long)j);
                continue;
            }
            double s = g->beta == 0.0f ? 0.0 : fabs((double)g->beta * c0[i * o->ldc + j]);
            for (int64_t p = 0; p < g->k; p++) {
                double av = g->ta ? o->a[p * o->lda + i] : o->a[i * o->lda + p];
                double bv = g->tb ? o->b[j * o->ldb + p] : o->b[p * o->ldb + j];
                s += fabs((double)g->alpha * av * bv);
            }
            double tol = 8.0 * (sqrt((double)g->k) + 2.0) * (FLT_EPSILON / 2) * s + FLT_MIN;
            double d = fabs((double)got - want);
            if (!(d <= tol))
                fail_msg("ta=%d tb=%d m=%ld n=%ld k=%ld alpha=%g beta=%g off=%d pad=%ld: "
                         "C[%ld][%ld] = %.9g, oracle %.9g (tol %.3g)",
                         g->ta, g->tb, (long)g->m, (long)g->n, (long)g->k, g->alpha, g->beta,
                         g->offset, (long)g->pad, (long)i, (long)j, got, want, tol);
        }
    }
}

static void run_case(const tdlk_env *env, const gemm_case *g)
{
    operands o;
    make_operands(g, &o);
    float *ref = malloc((o.c_len + 1) * sizeof(float));
    float *c0 = malloc((o.c_len + 1) * sizeof(float));
    assert_true(ref && c0);
    memcpy(ref, o.c, o.c_len * sizeof(float));
    memcpy(c0, o.c, o.c_len * sizeof(float));
    tdlk_sgemm_ref(g->ta, g->tb, g->m, g->n, g->k, g->alpha, o.a, o.lda, o.b, o.ldb, g->beta, ref,
                   o.ldc);
    assert_int_equal(tdlk_sgemm(env, g->ta, g->tb, g->m, g->n, g->k, g->alpha, o.a, o.lda, o.b,
                                o.ldb, g->beta, o.c, o.ldc),
                     0);
    check_result(g, &o, o.c, ref, c0);
    free(ref);
    free(c0);
    free_operands(&o);
}

static const float alphas[] = {1.0f, -0.5f, 2.0f, 1.0f};
static const float betas[] = {0.0f, 1.0f, 0.25f, 0.0f};

/* All transpositions, sizes from the odd list, alpha/beta, unaligned
 * pointers and padded leading dimensions, on a 3-thread pool. */
static void test_sweep(void **state)
{
    (void)state;
    test_alloc ta = {0};
    tdl_pool *pool = tdl_pool_create(3, NULL, NULL, NULL);
    assert_non_null(pool);
    tdlk_env env = {pool, t_alloc, t_release, &ta};
    for (int t = 0; t < 4; t++) {
        for (int im = 0; im < N_SIZES; im++) {
            for (int in = 0; in < N_SIZES; in++) {
                int ik = (im * 3 + in * 7 + t) % N_SIZES;
                /* keep the oracle's work small: m n k <= 4e6 */
                while (ik > 0 && sizes[im] * sizes[in] * sizes[ik] > 4000000)
                    ik--;
                gemm_case g = {
                    .ta = t & 1,
                    .tb = t >> 1,
                    .m = sizes[im],
                    .n = sizes[in],
                    .k = sizes[ik],
                    .alpha = alphas[(im + in) % 4],
                    .beta = betas[(im + in) % 4],
                    .offset = (im + in + t) % 2,
                    .pad = in % 3,
                };
                run_case(&env, &g);
            }
        }
    }
    assert_int_equal(ta.live, 0);
    tdl_pool_destroy(pool);
}

/* Depths beyond one depth block, rows and columns beyond one packed block,
 * and the MLP shapes, single-threaded and with no env at all. */
static void test_blocking(void **state)
{
    (void)state;
    test_alloc ta = {0};
    tdlk_env env = {NULL, t_alloc, t_release, &ta};
    static const int64_t shapes[][3] = {
        {5, 7, 1000},
        {33, 65, 2049},
        {1600, 40, 20},
        {5, 3100, 9},
        {128, 256, 40},
        {128, 10, 256},
        {40, 10, 128},
        {10, 40, 128},
        /* 9-16 column panels: a transposed A is read in place (the RNN weight gradients) */
        {100, 384, 300},
        {37, 500, 70},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int t = 0; t < 4; t++) {
            gemm_case g = {
                .ta = t & 1,
                .tb = t >> 1,
                .m = shapes[s][0],
                .n = shapes[s][1],
                .k = shapes[s][2],
                .alpha = alphas[s % 4],
                .beta = betas[(s + t) % 4],
                .offset = t % 2,
                .pad = 1,
            };
            run_case(t == 3 ? NULL : &env, &g);
        }
    }
    assert_int_equal(ta.live, 0);
}

/* Bit-identical results on pools of 1, 2, 3 and 8 threads. */
static void test_thread_count_invariance(void **state)
{
    (void)state;
    static const int32_t threads[] = {1, 2, 3, 8};
    static const int64_t shapes[][3] = {
        {257, 1000, 1000}, {128, 256, 784}, {784, 256, 128}, {33, 31, 777},
        {1000, 7, 401},    {300, 384, 257}, /* transposed A read in place over 12 column panels */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int t = (int)(s % 4);
        gemm_case g = {
            .ta = t & 1,
            .tb = t >> 1,
            .m = shapes[s][0],
            .n = shapes[s][1],
            .k = shapes[s][2],
            .alpha = 1.5f,
            .beta = 0.5f,
            .offset = 1,
            .pad = 3,
        };
        operands o;
        make_operands(&g, &o);
        float *c0 = malloc(o.c_len * sizeof(float)), *first = malloc(o.c_len * sizeof(float));
        assert_true(c0 && first);
        memcpy(c0, o.c, o.c_len * sizeof(float));
        for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
            tdl_pool *pool = tdl_pool_create(threads[i], NULL, NULL, NULL);
            assert_non_null(pool);
            test_alloc ta = {0};
            tdlk_env env = {pool, t_alloc, t_release, &ta};
            memcpy(o.c, c0, o.c_len * sizeof(float));
            assert_int_equal(tdlk_sgemm(&env, g.ta, g.tb, g.m, g.n, g.k, g.alpha, o.a, o.lda, o.b,
                                        o.ldb, g.beta, o.c, o.ldc),
                             0);
            if (i == 0)
                memcpy(first, o.c, o.c_len * sizeof(float));
            else
                assert_memory_equal(first, o.c, o.c_len * sizeof(float));
            tdl_pool_destroy(pool);
        }
        free(c0);
        free(first);
        free_operands(&o);
    }
}

/* Small items (split over the batch) and large ones (each split over the
 * threads), A broadcast or not: same results as the oracle per item, and
 * bit-identical across thread counts. */
static void check_batched(int64_t m, int64_t n, int64_t k, int64_t batch, int bcast)
{
    size_t na = (size_t)(m * k * batch), nb = (size_t)(k * n * batch), nc = (size_t)(m * n * batch);
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
    float *c = malloc(sizeof(float) * nc), *r = malloc(sizeof(float) * nc);
    float *c1 = malloc(sizeof(float) * nc);
    assert_true(a && b && c && r && c1);
    for (size_t i = 0; i < na; i++)
        a[i] = frand();
    for (size_t i = 0; i < nb; i++)
        b[i] = frand();
    for (size_t i = 0; i < nc; i++)
        r[i] = c1[i] = frand();
    int64_t sa = bcast ? 0 : m * k, sb = k * n;
    for (int64_t i = 0; i < batch; i++)
        tdlk_sgemm_ref(1, 0, m, n, k, 0.5f, a + i * sa, m, b + i * sb, n, 2.0f, r + i * m * n, n);
    static const int32_t threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        tdl_pool *pool = tdl_pool_create(threads[t], NULL, NULL, NULL);
        assert_non_null(pool);
        test_alloc ta = {0};
        tdlk_env env = {pool, t_alloc, t_release, &ta};
        memcpy(c, c1, sizeof(float) * nc);
        assert_int_equal(tdlk_sgemm_batched(&env, 1, 0, m, n, k, 0.5f, a, m, sa, b, n, sb, 2.0f, c,
                                            n, m * n, batch),
                         0);
        assert_int_equal(ta.live, 0);
        for (size_t i = 0; i < nc; i++)
            assert_float_equal(c[i], r[i], 1e-4 * sqrt((double)k));
        if (t == 0)
            memcpy(r, c, sizeof(float) * nc); /* later thread counts: bit-identical */
        tdl_pool_destroy(pool);
    }
    free(a);
    free(b);
    free(c);
    free(r);
    free(c1);
}

static void test_batched(void **state)
{
    (void)state;
    check_batched(17, 33, 9, 11, 0);
    check_batched(17, 33, 9, 4, 1);
    check_batched(64, 70, 400, 3, 0);
    check_batched(64, 70, 400, 2, 1);
}

static void test_degenerate(void **state)
{
    (void)state;
    test_alloc ta = {0};
    tdlk_env env = {NULL, t_alloc, t_release, &ta};
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 2, 3, 4, 5, 6};
    float c[4] = {1, 2, 3, 4};
    /* k == 0: C = beta C */
    assert_int_equal(tdlk_sgemm(&env, 0, 0, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c, 2), 0);
    assert_true(c[0] == 0.5f && c[1] == 1.0f && c[2] == 1.5f && c[3] == 2.0f);
    /* alpha == 0, beta == 0: zeros, C not read (NaN) */
    c[0] = c[1] = c[2] = c[3] = NAN;
    assert_int_equal(tdlk_sgemm(&env, 0, 0, 2, 2, 3, 0.0f, a, 3, b, 2, 0.0f, c, 2), 0);
    assert_true(c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f && c[3] == 0.0f);
    /* beta == 0 with NaN in C */
    c[0] = c[1] = c[2] = c[3] = NAN;
    assert_int_equal(tdlk_sgemm(&env, 0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2), 0);
    assert_true(c[0] == 22.0f && c[1] == 28.0f && c[2] == 49.0f && c[3] == 64.0f);
    /* m == 0 or n == 0: nothing touched */
    c[0] = 7.0f;
    assert_int_equal(tdlk_sgemm(&env, 0, 0, 0, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2), 0);
    assert_int_equal(tdlk_sgemm(&env, 0, 0, 2, 0, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2), 0);
    assert_true(c[0] == 7.0f);
    assert_int_equal(ta.live, 0);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    test_alloc ta = {.fail = 1};
    tdlk_env env = {NULL, t_alloc, t_release, &ta};
    float a[64], b[64], c[64], c0[64];
    for (int i = 0; i < 64; i++)
        a[i] = b[i] = c[i] = c0[i] = (float)i;
    assert_int_equal(tdlk_sgemm(&env, 0, 1, 8, 8, 8, 1.0f, a, 8, b, 8, 1.0f, c, 8), -1);
    assert_memory_equal(c, c0, sizeof c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_blocking),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
