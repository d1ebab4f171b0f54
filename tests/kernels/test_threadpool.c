/* tdl_pool / tdl_parallel_for: every index visited exactly once, chunk
 * boundaries that depend on n and grain only, allocation through the hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/threadpool.h"

typedef struct counting_alloc {
    int allocs;
    int releases;
} counting_alloc;

static void *count_alloc(void *user, size_t bytes)
{
    ((counting_alloc *)user)->allocs++;
    return malloc(bytes);
}

static void count_release(void *user, void *ptr)
{
    if (ptr)
        ((counting_alloc *)user)->releases++;
    free(ptr);
}

typedef struct visit {
    int64_t n, grain;
    _Atomic int *hits;
    atomic_int bad_chunks;
    atomic_int calls;
} visit;

static void visit_fn(void *arg, int64_t begin, int64_t end)
{
    visit *v = arg;
    /* Chunk boundaries are multiples of the grain, ending at n. */
    int64_t want_end = begin + v->grain < v->n ? begin + v->grain : v->n;
    if (begin % v->grain != 0 || end != want_end || begin >= end)
        atomic_fetch_add(&v->bad_chunks, 1);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&v->hits[i], 1);
    atomic_fetch_add(&v->calls, 1);
}

static void check_cover(tdl_pool *pool, int64_t n, int64_t grain)
{
    visit v = {.n = n, .grain = grain < 1 ? 1 : grain};
    v.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *v.hits);
    assert_non_null(v.hits);
    atomic_init(&v.bad_chunks, 0);
    atomic_init(&v.calls, 0);
    tdl_parallel_for(pool, n, grain, visit_fn, &v);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&v.hits[i]), 1);
    assert_int_equal(atomic_load(&v.bad_chunks), 0);
    int64_t chunks = n <= 0 ? 0 : (n + v.grain - 1) / v.grain;
    assert_int_equal(atomic_load(&v.calls), chunks);
    free((void *)v.hits);
}

static void test_cover_all(void **state)
{
    (void)state;
    static const int64_t ns[] = {0, 1, 2, 5, 100, 1001, 65537};
    static const int64_t grains[] = {0, 1, 2, 3, 7, 64, 1000, 100000};
    static const int32_t threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        counting_alloc ca = {0};
        tdl_pool *pool = tdl_pool_create(threads[t], count_alloc, count_release, &ca);
        assert_non_null(pool);
        assert_int_equal(tdl_pool_threads(pool), threads[t]);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
                check_cover(pool, ns[i], grains[g]);
        tdl_pool_destroy(pool);
        assert_true(ca.allocs > 0);
        assert_int_equal(ca.allocs, ca.releases);
    }
    /* NULL pool: inline, same chunks. */
    assert_int_equal(tdl_pool_threads(NULL), 1);
    check_cover(NULL, 1001, 7);
    check_cover(NULL, 10, 0);
    tdl_pool_destroy(NULL);
}

/* Many small jobs back to back: exercises the generation hand-off. */
static void test_many_jobs(void **state)
{
    (void)state;
    counting_alloc ca = {0};
    tdl_pool *pool = tdl_pool_create(4, count_alloc, count_release, &ca);
    assert_non_null(pool);
    for (int it = 0; it < 3000; it++)
        check_cover(pool, 1 + it % 37, 1 + it % 5);
    tdl_pool_destroy(pool);
    assert_int_equal(ca.allocs, ca.releases);
}

typedef struct chunk_sums {
    const float *x;
    float *partial;
} chunk_sums;

static void sum_chunk(void *arg, int64_t begin, int64_t end)
{
    chunk_sums *cs = arg;
    float s = 0.0f;
    for (int64_t i = begin; i < end; i++)
        s += cs->x[i];
    cs->partial[begin / 100] = s;
}

/* Per-chunk reductions are bit-identical whatever the thread count. */
static void test_deterministic_reduction(void **state)
{
    (void)state;
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x);
    float *p1 = calloc(N / 100 + 1, sizeof *p1), *pn = calloc(N / 100 + 1, sizeof *pn);
    assert_non_null(x);
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.37f;
    chunk_sums a = {x, p1};
    tdl_parallel_for(NULL, N, 100, sum_chunk, &a);
    static const int32_t threads[] = {2, 3, 8};
    for (size_t t = 0; t < 3; t++) {
        tdl_pool *pool = tdl_pool_create(threads[t], NULL, NULL, NULL);
        assert_non_null(pool);
        chunk_sums b = {x, pn};
        tdl_parallel_for(pool, N, 100, sum_chunk, &b);
        assert_memory_equal(p1, pn, (N / 100 + 1) * sizeof *p1);
        tdl_pool_destroy(pool);
    }
    free(x);
    free(p1);
    free(pn);
}

typedef struct nested {
    tdl_pool *pool;
    _Atomic int *hits;
} nested;

static void inner_fn(void *arg, int64_t begin, int64_t end)
{
    nested *ns = arg;
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&ns->hits[i], 1);
}

static void outer_fn(void *arg, int64_t begin, int64_t end)
{
    nested *ns = arg;
    for (int64_t i = begin; i < end; i++) {
        nested in = {ns->pool, ns->hits + i * 10};
        tdl_parallel_for(ns->pool, 10, 3, inner_fn, &in); /* runs inline */
    }
}

/* A nested call on the same pool runs inline instead of deadlocking. */
static void test_nested(void **state)
{
    (void)state;
    tdl_pool *pool = tdl_pool_create(3, NULL, NULL, NULL);
    assert_non_null(pool);
    _Atomic int *hits = calloc(100 * 10, sizeof *hits);
    assert_non_null(hits);
    nested ns = {pool, hits};
    tdl_parallel_for(pool, 100, 1, outer_fn, &ns);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(atomic_load(&hits[i]), 1);
    free((void *)hits);
    tdl_pool_destroy(pool);
}

static int fail_after;
static void *failing_alloc(void *user, size_t bytes)
{
    (void)user;
    if (fail_after-- <= 0)
        return NULL;
    return malloc(bytes);
}

static void plain_release(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    fail_after = 0;
    assert_null(tdl_pool_create(4, failing_alloc, plain_release, NULL));
    fail_after = 1;
    assert_null(tdl_pool_create(4, failing_alloc, plain_release, NULL));
    fail_after = 1; /* one thread needs no worker array */
    tdl_pool *p = tdl_pool_create(1, failing_alloc, plain_release, NULL);
    assert_non_null(p);
    check_cover(p, 100, 3);
    tdl_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_all),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_deterministic_reduction),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
