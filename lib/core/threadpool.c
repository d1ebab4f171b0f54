/* Fixed-size pthread pool (see threadpool.h).
 *
 * Workers are persistent. A job is published by bumping a generation counter;
 * workers spin on it for a short while, then sleep on a condition variable.
 * Chunks are claimed with a compare-and-swap on a single 64-bit word that
 * holds (job generation, chunks taken from the back, chunks taken from the
 * front), so a worker that wakes up late can never claim a chunk of a newer
 * job by mistake. The calling thread takes part in the work, claiming from the
 * front while the workers claim from the back, and returns once every chunk
 * has been completed. Two ends rather than one queue: when the same kind of
 * job repeats (a recurrent step's GEMM, 32 times per window), each thread
 * tends to get the same part of it, whose data is still in its own cache.
 *
 * Oversubscription: every pool draws its helpers from one process-wide
 * budget of running threads (the CPUs this process may use). A job first
 * counts its caller, then reserves as many helper "seats" as the budget has
 * left; only workers that take a seat join the job, the others go back to
 * sleep. Several contexts used at once therefore never run more threads than
 * there are CPUs (beyond the callers' own threads), and since chunks do not
 * depend on who runs them, results stay bit-identical. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Claim word: generation (20 bits) | chunks taken from the back (22) | from the front (22). */
#define TDL_POOL_END_BITS 22
#define TDL_POOL_END_MASK ((UINT64_C(1) << TDL_POOL_END_BITS) - 1)
#define TDL_POOL_IDX_BITS (2 * TDL_POOL_END_BITS)
#define TDL_POOL_IDX_MASK ((UINT64_C(1) << TDL_POOL_IDX_BITS) - 1)
#define TDL_POOL_GEN_MASK ((UINT64_C(1) << (64 - TDL_POOL_IDX_BITS)) - 1)
/* Most chunks in one job (a front count of END_MASK marks a closed claim word);
 * larger loops run as several jobs. */
#define TDL_POOL_MAX_CHUNKS (TDL_POOL_END_MASK - 1)
/* Iterations a worker spins on the generation before it goes to sleep, and
 * the caller before it sleeps waiting for the last chunks (a pause is
 * ~10-30 ns: about 20-60 us of spinning, enough for back-to-back jobs). */
#define TDL_POOL_SPIN 2000

struct tdl_pool {
    int32_t n_threads;
    int32_t n_workers;
    void (*release)(void *user, void *ptr);
    void *user;
    pthread_t *threads;

    pthread_mutex_t mutex;
    pthread_cond_t work_cv; /* workers wait here for a new generation */
    pthread_cond_t done_cv; /* the caller waits here for the last chunk */
    int stop;
    int caller_sleeping;

    /* The current job; written by the caller before the generation moves. */
    tdl_range_fn fn;
    void *arg;
    int64_t base; /* first index of the job's first chunk */
    int64_t n;    /* end of the job's index range */
    int64_t grain;
    /* Atomic because a worker that wakes up late may read it while the next
     * job is being set up (the claim CAS then fails and the value is unused). */
    _Atomic uint64_t n_chunks;

    _Atomic int64_t seats;   /* helper places of the current job not yet taken */
    _Atomic uint64_t gen;    /* bumped once per job */
    _Atomic uint64_t claim;  /* (gen & GEN_MASK) << IDX_BITS | next chunk */
    _Atomic uint64_t n_done; /* chunks completed in the current job */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- the process-wide budget of running threads ---- */

static _Atomic int32_t budget_running; /* callers in a job + seated workers */
static _Atomic int32_t budget_peak;    /* highest budget_running seen (tests) */
static _Atomic int32_t budget_limit;   /* 0 until first used */

static int32_t detect_cpus(void)
{
    const char *env = getenv("TDL_CPU_BUDGET");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end && *end == '\0' && v >= 1 && v <= 4096)
            return (int32_t)v;
    }
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 4096 ? (int32_t)n : 1;
}

static int32_t get_budget_limit(void)
{
    int32_t lim = atomic_load_explicit(&budget_limit, memory_order_relaxed);
    if (lim == 0) {
        int32_t want = detect_cpus();
        int32_t expected = 0; /* a racing first call detects the same value */
        if (!atomic_compare_exchange_strong(&budget_limit, &expected, want))
            want = expected;
        lim = want;
    }
    return lim;
}

static void note_peak(int32_t running)
{
    int32_t peak = atomic_load_explicit(&budget_peak, memory_order_relaxed);
    while (running > peak &&
           !atomic_compare_exchange_weak_explicit(&budget_peak, &peak, running,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Counts the caller and reserves up to `want` helpers; returns how many. */
static int32_t budget_enter(int32_t want)
{
    int32_t limit = get_budget_limit();
    int32_t cur = atomic_fetch_add_explicit(&budget_running, 1, memory_order_acq_rel) + 1;
    for (;;) {
        int32_t k = limit - cur;
        if (k > want)
            k = want;
        if (k <= 0) {
            note_peak(cur);
            return 0;
        }
        if (atomic_compare_exchange_weak_explicit(&budget_running, &cur, cur + k,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            note_peak(cur + k);
            return k;
        }
    }
}

static void budget_leave(int32_t n)
{
    if (n > 0)
        atomic_fetch_sub_explicit(&budget_running, n, memory_order_acq_rel);
}

/* Takes one helper place of the pool's current job, if one is left. */
static int take_seat(struct tdl_pool *p)
{
    int64_t s = atomic_load_explicit(&p->seats, memory_order_acquire);
    while (s > 0)
        if (atomic_compare_exchange_weak_explicit(&p->seats, &s, s - 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return 1;
    return 0;
}

void tdl_pool_set_cpu_budget(int32_t n)
{
    atomic_store(&budget_limit, n >= 1 ? n : detect_cpus());
}

int32_t tdl_pool_cpu_budget(void)
{
    return get_budget_limit();
}

int32_t tdl_pool_take_peak_running(void)
{
    return atomic_exchange(&budget_peak, 0);
}

/* Set while this thread runs a chunk: a nested tdl_parallel_for (which the
 * header forbids on the same pool) then runs inline instead of deadlocking. */
static _Thread_local int in_chunk;

static void run_chunk(const struct tdl_pool *p, uint64_t chunk)
{
    int64_t begin = p->base + (int64_t)chunk * p->grain;
    int64_t end = begin + p->grain;
    if (end > p->n || end < begin)
        end = p->n;
    in_chunk = 1;
    p->fn(p->arg, begin, end);
    in_chunk = 0;
}

/* Claims and runs chunks of job `gen` until none is left, from the front
 * (the caller) or from the back (workers). Returns the number of chunks this
 * thread ran, and in *total the job's chunk count. */
static uint64_t work_on(struct tdl_pool *p, uint64_t gen, int from_back, uint64_t *total)
{
    uint64_t tag = (gen & TDL_POOL_GEN_MASK) << TDL_POOL_IDX_BITS;
    uint64_t step = from_back ? UINT64_C(1) << TDL_POOL_END_BITS : 1;
    uint64_t ran = 0;
    for (;;) {
        uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
        if ((c & ~TDL_POOL_IDX_MASK) != tag)
            break; /* a newer job: ours is finished */
        uint64_t front = c & TDL_POOL_END_MASK, back = (c >> TDL_POOL_END_BITS) & TDL_POOL_END_MASK;
        /* May belong to a newer job only if the CAS below fails. */
        uint64_t n_chunks = atomic_load_explicit(&p->n_chunks, memory_order_seq_cst);
        if (front + back >= n_chunks)
            break;
        uint64_t idx = from_back ? n_chunks - 1 - back : front;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + step, memory_order_seq_cst,
                                                   memory_order_acquire))
            continue;
        /* Our chunk is not done, so the job (fn, arg, n, grain) is stable. */
        *total = n_chunks;
        run_chunk(p, idx);
        ran++;
    }
    return ran;
}

static void finish_chunks(struct tdl_pool *p, uint64_t ran, uint64_t total)
{
    if (ran == 0)
        return;
    uint64_t done = atomic_fetch_add_explicit(&p->n_done, ran, memory_order_acq_rel) + ran;
    if (done == total) {
        pthread_mutex_lock(&p->mutex);
        if (p->caller_sleeping)
            pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mutex);
    }
}

/* Sleeps until the generation moves past `seen`; returns the new one, or 0
 * when the pool is shutting down (generations start at 1). */
static uint64_t sleep_until_new_job(struct tdl_pool *p, uint64_t seen)
{
    uint64_t g = seen;
    pthread_mutex_lock(&p->mutex);
    while (!p->stop && (g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->work_cv, &p->mutex);
    int stop = p->stop;
    pthread_mutex_unlock(&p->mutex);
    return stop ? 0 : g;
}

static void *worker_main(void *arg)
{
    struct tdl_pool *p = arg;
    /* Generation 0 is the pool's state at creation: a worker that starts late
     * still joins the first job. */
    uint64_t seen = 0;
    int spin = 1; /* spin only after a job it took part in: jobs come in bursts */
    for (;;) {
        uint64_t g = seen;
        for (int i = 0; spin && i < TDL_POOL_SPIN && g == seen; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen && (g = sleep_until_new_job(p, seen)) == 0)
            return NULL;
        seen = g;
        /* No seat left: the job already has every thread the budget allows. */
        spin = take_seat(p);
        if (!spin)
            continue;
        uint64_t total = 0;
        uint64_t ran = work_on(p, g, 1, &total);
        finish_chunks(p, ran, total);
        budget_leave(1);
    }
}

static void *default_alloc(void *user, size_t bytes)
{
    (void)user;
    return malloc(bytes);
}

static void default_release(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void shutdown_workers(struct tdl_pool *p, int32_t started)
{
    pthread_mutex_lock(&p->mutex);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mutex);
    for (int32_t i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
}

tdl_pool *tdl_pool_create(int32_t n_threads, void *(*alloc)(void *user, size_t bytes),
                          void (*release)(void *user, void *ptr), void *user)
{
    if (!alloc || !release) {
        alloc = default_alloc;
        release = default_release;
        user = NULL;
    }
    if (n_threads < 1)
        n_threads = 1;
    struct tdl_pool *p = alloc(user, sizeof *p);
    if (!p)
        return NULL;
    *p = (struct tdl_pool){0};
    p->n_threads = n_threads;
    p->n_workers = n_threads - 1;
    p->release = release;
    p->user = user;
    atomic_init(&p->gen, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->n_done, 0);
    atomic_init(&p->n_chunks, 0);
    atomic_init(&p->seats, 0);
    if (p->n_workers == 0)
        return p;

    p->threads = alloc(user, sizeof(pthread_t) * (size_t)p->n_workers);
    if (!p->threads) {
        release(user, p);
        return NULL;
    }
    if (pthread_mutex_init(&p->mutex, NULL) != 0)
        goto fail_mutex;
    if (pthread_cond_init(&p->work_cv, NULL) != 0)
        goto fail_work_cv;
    if (pthread_cond_init(&p->done_cv, NULL) != 0)
        goto fail_done_cv;
    for (int32_t i = 0; i < p->n_workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            shutdown_workers(p, i);
            goto fail_threads;
        }
    }
    return p;

fail_threads:
    pthread_cond_destroy(&p->done_cv);
fail_done_cv:
    pthread_cond_destroy(&p->work_cv);
fail_work_cv:
    pthread_mutex_destroy(&p->mutex);
fail_mutex:
    release(user, p->threads);
    release(user, p);
    return NULL;
}

void tdl_pool_destroy(tdl_pool *pool)
{
    if (!pool)
        return;
    void (*release)(void *, void *) = pool->release;
    void *user = pool->user;
    if (pool->n_workers > 0) {
        shutdown_workers(pool, pool->n_workers);
        pthread_cond_destroy(&pool->done_cv);
        pthread_cond_destroy(&pool->work_cv);
        pthread_mutex_destroy(&pool->mutex);
        release(user, pool->threads);
    }
    release(user, pool);
}

int32_t tdl_pool_threads(const tdl_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

static void run_inline(int64_t base, int64_t n, int64_t grain, tdl_range_fn fn, void *arg)
{
    /* The same chunk boundaries as the threaded path. */
    for (int64_t begin = base; begin < n; begin += grain) {
        int64_t end = (n - begin > grain) ? begin + grain : n;
        fn(arg, begin, end);
    }
}

/* One job over [base, n): chunks of `grain` from base, at most TDL_POOL_MAX_CHUNKS. */
static void run_job(struct tdl_pool *pool, int64_t base, int64_t n, int64_t grain, tdl_range_fn fn,
                    void *arg)
{
    uint64_t n_chunks = (uint64_t)((n - base) / grain) + ((n - base) % grain != 0);
    if (n_chunks <= 1) {
        run_inline(base, n, grain, fn, arg);
        return;
    }

    struct tdl_pool *p = pool;
    int32_t want = p->n_workers;
    if ((uint64_t)want > n_chunks - 1)
        want = (int32_t)(n_chunks - 1);
    int32_t helpers = budget_enter(want);
    if (helpers == 0) {
        run_inline(base, n, grain, fn, arg);
        budget_leave(1);
        return;
    }

    uint64_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    uint64_t tag = (gen & TDL_POOL_GEN_MASK) << TDL_POOL_IDX_BITS;
    /* Close the claim word before touching the job: a worker still leaving the
     * previous job must not pair that job's claim word with this job's chunk
     * count (its CAS would then "claim" a phantom chunk and over-count n_done).
     * Full front and back counts are never below a chunk count (see above). The
     * seq_cst order makes any worker that sees the new count also fail its CAS. */
    atomic_store_explicit(&p->claim, tag | TDL_POOL_IDX_MASK, memory_order_seq_cst);
    p->fn = fn;
    p->arg = arg;
    p->base = base;
    p->n = n;
    p->grain = grain;
    atomic_store_explicit(&p->n_chunks, n_chunks, memory_order_seq_cst);
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, tag, memory_order_seq_cst);
    atomic_store_explicit(&p->seats, helpers, memory_order_release);
    pthread_mutex_lock(&p->mutex);
    atomic_store_explicit(&p->gen, gen, memory_order_release);
    if (helpers == p->n_workers)
        pthread_cond_broadcast(&p->work_cv);
    else
        for (int32_t i = 0; i < helpers; i++)
            pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mutex);

    uint64_t total = 0;
    uint64_t ran = work_on(p, gen, 0, &total);
    /* Every chunk is claimed: places not taken by now are of no use here. */
    budget_leave(1 + (int32_t)atomic_exchange_explicit(&p->seats, 0, memory_order_acq_rel));
    uint64_t done = atomic_fetch_add_explicit(&p->n_done, ran, memory_order_acq_rel) + ran;
    for (int i = 0; i < TDL_POOL_SPIN && done != n_chunks; i++) {
        cpu_relax();
        done = atomic_load_explicit(&p->n_done, memory_order_acquire);
    }
    if (done != n_chunks) {
        pthread_mutex_lock(&p->mutex);
        p->caller_sleeping = 1;
        while (atomic_load_explicit(&p->n_done, memory_order_acquire) != n_chunks)
            pthread_cond_wait(&p->done_cv, &p->mutex);
        p->caller_sleeping = 0;
        pthread_mutex_unlock(&p->mutex);
    }
}

void tdl_parallel_for(tdl_pool *pool, int64_t n, int64_t grain, tdl_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (!pool || pool->n_workers == 0 || n <= grain || in_chunk) {
        run_inline(0, n, grain, fn, arg);
        return;
    }
    /* Chunk boundaries stay multiples of grain from 0, whatever the split into jobs. */
    int64_t span = grain > INT64_MAX / (int64_t)TDL_POOL_MAX_CHUNKS
                       ? n /* so large a grain that one job holds every chunk */
                       : (int64_t)TDL_POOL_MAX_CHUNKS * grain;
    for (int64_t base = 0;;) {
        int64_t end = n - base > span ? base + span : n;
        run_job(pool, base, end, grain, fn, arg);
        if (end == n)
            break;
        base = end;
    }
}
