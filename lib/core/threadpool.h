/* Internal: a small fixed-size pthread pool owned by a context.
 *
 * Work is split into chunks whose boundaries depend only on the problem size
 * and the grain, never on the number of threads, so that any reduction a
 * caller performs per chunk gives bit-identical results for 1..N threads. */
#ifndef TDL_CORE_THREADPOOL_H
#define TDL_CORE_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tdl_pool tdl_pool;

/* Body of a parallel loop: process indices [begin, end). */
typedef void (*tdl_range_fn)(void *arg, int64_t begin, int64_t end);

/* Creates a pool that runs work on n_threads threads in total (the calling
 * thread counts as one, so n_threads - 1 workers are started). Returns NULL on
 * allocation or thread-creation failure. alloc/free are the context's hooks. */
tdl_pool *tdl_pool_create(int32_t n_threads, void *(*alloc)(void *user, size_t bytes),
                          void (*release)(void *user, void *ptr), void *user);
void tdl_pool_destroy(tdl_pool *pool);
int32_t tdl_pool_threads(const tdl_pool *pool); /* 1 for a NULL pool */

/* Runs fn over [0, n) in chunks of `grain` indices (the last may be shorter).
 * Chunks are handed to threads dynamically; each chunk runs exactly once.
 * A NULL pool, or n <= grain, runs inline on the calling thread. Not
 * re-entrant: fn must not call tdl_parallel_for on the same pool. */
void tdl_parallel_for(tdl_pool *pool, int64_t n, int64_t grain, tdl_range_fn fn, void *arg);

/* The process-wide budget shared by all pools: a job runs its caller plus at
 * most (budget - threads already running jobs) helpers, so several contexts
 * used at once never oversubscribe the CPUs. The budget is the number of CPUs
 * this process may run on, or the TDL_CPU_BUDGET environment variable.
 * set_cpu_budget (n < 1 re-detects) and take_peak_running (the most threads
 * seen running jobs at once since the last call) are for tests. */
void tdl_pool_set_cpu_budget(int32_t n);
int32_t tdl_pool_cpu_budget(void);
int32_t tdl_pool_take_peak_running(void);

#endif
