/* Internal: the context, allocation through its hooks, and error reporting. */
#ifndef TDL_CORE_CONTEXT_H
#define TDL_CORE_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/core.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"

/* Size of every handle's error-message buffer. */
#define TDL_ERRMSG_MAX 512

struct tdl_ctx {
    tdl_malloc_fn malloc_fn;
    tdl_realloc_fn realloc_fn;
    tdl_free_fn free_fn;
    void *alloc_user;
    int32_t threads;
    tdl_pool *pool; /* NULL when threads == 1 */
    uint64_t seed;
    tdl_log_fn log_fn;
    int32_t log_level;
    void *log_user;
    char error[TDL_ERRMSG_MAX];
};

/* Allocation through the context's hooks. All return NULL on failure (and on
 * size overflow for tdl_calloc) without setting any message: callers report. */
void *tdl_alloc(tdl_ctx *ctx, size_t size);
void *tdl_calloc(tdl_ctx *ctx, size_t count, size_t size);
void *tdl_realloc(tdl_ctx *ctx, void *ptr, size_t size);
void tdl_free(tdl_ctx *ctx, void *ptr);
/* 64-byte aligned blocks (for SIMD kernels); free with tdl_free_aligned. */
void *tdl_alloc_aligned(tdl_ctx *ctx, size_t size);
void tdl_free_aligned(tdl_ctx *ctx, void *ptr);
char *tdl_strdup(tdl_ctx *ctx, const char *s);

/* The kernel environment of a context (pool + aligned scratch allocation). */
void tdl_ctx_kernel_env(tdl_ctx *ctx, tdlk_env *env);

/* Records an error: formats the message into `dst` (a TDL_ERRMSG_MAX buffer of
 * the handle involved; may be NULL), copies it to the thread-local last error
 * and the context's log sink (ctx may be NULL), and returns `status`. */
tdl_status tdl_fail(tdl_ctx *ctx, char *dst, tdl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
tdl_status tdl_failv(tdl_ctx *ctx, char *dst, tdl_status status, const char *fmt, va_list ap);

/* Sends a message to the context's log sink if its level is enabled. */
void tdl_log_msg(tdl_ctx *ctx, int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checks a size product for overflow: returns 0 and sets *out, or -1. */
int tdl_mul_size(size_t a, size_t b, size_t *out);

#endif
