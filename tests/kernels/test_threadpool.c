/* tdl_pool / tdl_parallel_for: every index visited exactly once, chunk
 * boundaries that depend on n and grain only, allocation through the hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* More chunks than one job can count (2^22 - 2): the loop runs as several
 * jobs, with the same chunk boundaries. */
static void test_more_chunks_than_a_job(void **state)
{
    (void)state;
    tdl_pool *pool = tdl_pool_create(3, NULL, NULL, NULL);
    assert_non_null(pool);
    check_cover(pool, (INT64_C(1) << 22) + 1000, 1);
    check_cover(pool, 2 * ((INT64_C(1) << 22) - 2) + 3, 2);
    tdl_pool_destroy(pool);
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

/* ---- the process-wide CPU budget ---- */

typedef struct meter {
    atomic_int now;          /* threads inside a chunk right now */
    atomic_int peak;         /* the most at once */
    atomic_int helpers_now;  /* of those, pool workers (not the callers) */
    atomic_int helpers_peak; /* the most workers at once */
} meter;

static _Thread_local int is_caller; /* set by the threads that call the pools */

static void raise_peak(atomic_int *peak, int now)
{
    int p = atomic_load(peak);
    while (now > p && !atomic_compare_exchange_weak(peak, &p, now))
        ;
}

typedef struct crowd {
    meter *m; /* may be shared by several crowds */
    _Atomic int64_t sum;
} crowd;

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static void crowd_chunk(void *arg, int64_t begin, int64_t end)
{
    crowd *c = arg;
    raise_peak(&c->m->peak, atomic_fetch_add(&c->m->now, 1) + 1);
    if (!is_caller)
        raise_peak(&c->m->helpers_peak, atomic_fetch_add(&c->m->helpers_now, 1) + 1);
    nap_us(200);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&c->sum, i);
    if (!is_caller)
        atomic_fetch_sub(&c->m->helpers_now, 1);
    atomic_fetch_sub(&c->m->now, 1);
}

static int64_t run_crowd(tdl_pool *pool, crowd *c, int64_t n)
{
    atomic_store(&c->sum, 0);
    tdl_parallel_for(pool, n, 1, crowd_chunk, c);
    return atomic_load(&c->sum);
}

/* One pool of 8 threads under a budget of 2 runs at most 2 threads at once,
 * and does use both (the budget is handed back after each job). */
static void test_budget_caps_one_pool(void **state)
{
    (void)state;
    tdl_pool_set_cpu_budget(2);
    assert_int_equal(tdl_pool_cpu_budget(), 2);
    is_caller = 1;
    tdl_pool *pool = tdl_pool_create(8, NULL, NULL, NULL);
    assert_non_null(pool);
    meter m = {0};
    crowd c = {&m, 0};
    (void)tdl_pool_take_peak_running();
    for (int rep = 0; rep < 5; rep++)
        assert_int_equal(run_crowd(pool, &c, 100), 99 * 100 / 2);
    assert_int_equal(atomic_load(&m.peak), 2);
    assert_int_equal(atomic_load(&m.helpers_peak), 1);
    assert_true(tdl_pool_take_peak_running() <= 2);
    tdl_pool_destroy(pool);
    tdl_pool_set_cpu_budget(0);
}

typedef struct user_thread {
    meter *m;
    int ok;
} user_thread;

static void *user_thread_main(void *arg)
{
    user_thread *u = arg;
    is_caller = 1;
    tdl_pool *pool = tdl_pool_create(4, NULL, NULL, NULL);
    crowd c = {u->m, 0};
    u->ok = pool != NULL;
    for (int rep = 0; pool && rep < 20; rep++)
        if (run_crowd(pool, &c, 24) != 23 * 24 / 2)
            u->ok = 0;
    tdl_pool_destroy(pool);
    return NULL;
}

/* Three threads of the program, each driving its own 4-thread pool (as three
 * contexts would), under a budget of 2: a caller counts against the budget,
 * so all pools together add at most budget - 1 = 1 helper at any time (9
 * could run without the budget, 12 threads in all). */
static void test_budget_shared_by_pools(void **state)
{
    (void)state;
    tdl_pool_set_cpu_budget(2);
    meter m = {0};
    user_thread users[3];
    pthread_t tid[3];
    for (int i = 0; i < 3; i++) {
        users[i] = (user_thread){&m, 0};
        assert_int_equal(pthread_create(&tid[i], NULL, user_thread_main, &users[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        assert_true(users[i].ok);
    }
    assert_true(atomic_load(&m.helpers_peak) <= 1);
    assert_true(atomic_load(&m.peak) <= 3 + 1);

    /* Nothing of the budget leaked: a fresh pool still gets its helper. */
    tdl_pool *pool = tdl_pool_create(2, NULL, NULL, NULL);
    assert_non_null(pool);
    meter md = {0};
    crowd d = {&md, 0};
    for (int rep = 0; rep < 3; rep++)
        assert_int_equal(run_crowd(pool, &d, 100), 99 * 100 / 2);
    assert_int_equal(atomic_load(&md.peak), 2);
    tdl_pool_destroy(pool);
    tdl_pool_set_cpu_budget(0);
}

/* TDL_CPU_BUDGET overrides the detected CPU count; nonsense is ignored. */
static void test_budget_from_environment(void **state)
{
    (void)state;
    const char *saved = getenv("TDL_CPU_BUDGET");
    char *keep = saved ? strdup(saved) : NULL;
    unsetenv("TDL_CPU_BUDGET");
    tdl_pool_set_cpu_budget(0);
    int32_t cpus = tdl_pool_cpu_budget();
    assert_true(cpus >= 1);
    setenv("TDL_CPU_BUDGET", "5", 1);
    tdl_pool_set_cpu_budget(0);
    assert_int_equal(tdl_pool_cpu_budget(), 5);
    static const char *const nonsense[] = {"lots", "0", "-3", "7x", ""};
    for (size_t i = 0; i < sizeof nonsense / sizeof nonsense[0]; i++) {
        setenv("TDL_CPU_BUDGET", nonsense[i], 1);
        tdl_pool_set_cpu_budget(0);
        assert_int_equal(tdl_pool_cpu_budget(), cpus);
    }
    if (keep)
        setenv("TDL_CPU_BUDGET", keep, 1);
    else
        unsetenv("TDL_CPU_BUDGET");
    free(keep);
    tdl_pool_set_cpu_budget(0);
}

int main(void)
{
    /* The other tests want real contention even on a 2-CPU machine. */
    tdl_pool_set_cpu_budget(16);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_all),
        cmocka_unit_test(test_more_chunks_than_a_job),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_deterministic_reduction),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_budget_caps_one_pool),
        cmocka_unit_test(test_budget_shared_by_pools),
        cmocka_unit_test(test_budget_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
