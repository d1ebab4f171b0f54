/* The context: allocator hooks, thread pool, seed, log sink. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/context.h"

static void *std_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void *std_realloc(void *ptr, size_t size, void *user)
{
    (void)user;
    return realloc(ptr, size);
}

static void std_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

TDL_API tdl_status tdl_ctx_create(tdl_ctx **out)
{
    return tdl_ctx_create_with_allocator(out, std_malloc, std_realloc, std_free, NULL);
}

TDL_API tdl_status tdl_ctx_create_with_allocator(tdl_ctx **out, tdl_malloc_fn alloc_fn,
                                                 tdl_realloc_fn realloc_fn, tdl_free_fn free_fn,
                                                 void *user)
{
    if (!out)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_ctx_create: out is NULL");
    *out = NULL;
    if (!alloc_fn || !realloc_fn || !free_fn)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_ctx_create_with_allocator: every allocator hook must be non-NULL");
    if (!tdlk_cpu_supported())
        return tdl_fail(NULL, NULL, TDL_ERR_UNSUPPORTED,
                        "tdl_ctx_create: this CPU lacks the %s instructions tiny-dl was built "
                        "for; rebuild with -Dsimd=none (or a lower ISA)",
                        tdlk_isa_name());
    tdl_ctx *ctx = alloc_fn(sizeof *ctx, user);
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_ctx_create: out of memory allocating the context");
    memset(ctx, 0, sizeof *ctx);
    ctx->malloc_fn = alloc_fn;
    ctx->realloc_fn = realloc_fn;
    ctx->free_fn = free_fn;
    ctx->alloc_user = user;
    ctx->threads = 1;
    ctx->log_level = TDL_LOG_WARN;
    *out = ctx;
    return TDL_OK;
}

TDL_API void tdl_ctx_destroy(tdl_ctx *ctx)
{
    if (!ctx)
        return;
    tdl_pool_destroy(ctx->pool);
    ctx->free_fn(ctx, ctx->alloc_user);
}

static void *pool_alloc(void *user, size_t bytes)
{
    return tdl_alloc((tdl_ctx *)user, bytes);
}

static void pool_release(void *user, void *ptr)
{
    tdl_free((tdl_ctx *)user, ptr);
}

TDL_API tdl_status tdl_ctx_set_threads(tdl_ctx *ctx, int32_t n)
{
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_ctx_set_threads: ctx is NULL");
    if (n < 1 || n > 256)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_ctx_set_threads: %d threads is outside 1..256", (int)n);
    if (n == ctx->threads)
        return TDL_OK;
    tdl_pool_destroy(ctx->pool);
    ctx->pool = NULL;
    ctx->threads = 1;
    if (n == 1)
        return TDL_OK;
    ctx->pool = tdl_pool_create(n, pool_alloc, pool_release, ctx);
    if (!ctx->pool)
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_ctx_set_threads: could not start %d threads; running on 1", (int)n);
    ctx->threads = n;
    return TDL_OK;
}

TDL_API int32_t tdl_ctx_get_threads(const tdl_ctx *ctx)
{
    return ctx ? ctx->threads : 1;
}

TDL_API tdl_status tdl_ctx_set_seed(tdl_ctx *ctx, uint64_t seed)
{
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_ctx_set_seed: ctx is NULL");
    ctx->seed = seed;
    return TDL_OK;
}

TDL_API uint64_t tdl_ctx_get_seed(const tdl_ctx *ctx)
{
    return ctx ? ctx->seed : 0;
}

TDL_API tdl_status tdl_ctx_set_log(tdl_ctx *ctx, tdl_log_fn fn, int32_t max_level, void *user)
{
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_ctx_set_log: ctx is NULL");
    if (max_level < TDL_LOG_ERROR || max_level > TDL_LOG_DEBUG)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_ctx_set_log: level %d is not a tdl_log_level", (int)max_level);
    ctx->log_fn = fn;
    ctx->log_level = max_level;
    ctx->log_user = user;
    return TDL_OK;
}

TDL_API const char *tdl_ctx_error(const tdl_ctx *ctx)
{
    return ctx ? ctx->error : "";
}
