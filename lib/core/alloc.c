/* Allocation through the context's hooks. */
#include <stdint.h>
#include <string.h>

#include "core/context.h"

int tdl_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return -1;
    *out = a * b;
    return 0;
}

void *tdl_alloc(tdl_ctx *ctx, size_t size)
{
    return ctx->malloc_fn(size ? size : 1, ctx->alloc_user);
}

void *tdl_calloc(tdl_ctx *ctx, size_t count, size_t size)
{
    size_t total;
    if (tdl_mul_size(count, size, &total) != 0)
        return NULL;
    void *p = tdl_alloc(ctx, total);
    if (p)
        memset(p, 0, total);
    return p;
}

void *tdl_realloc(tdl_ctx *ctx, void *ptr, size_t size)
{
    return ctx->realloc_fn(ptr, size ? size : 1, ctx->alloc_user);
}

void tdl_free(tdl_ctx *ctx, void *ptr)
{
    if (ptr)
        ctx->free_fn(ptr, ctx->alloc_user);
}

/* Over-allocate by 64 bytes plus a header slot holding the raw pointer. */
void *tdl_alloc_aligned(tdl_ctx *ctx, size_t size)
{
    if (size > SIZE_MAX - 64 - sizeof(void *))
        return NULL;
    unsigned char *raw = tdl_alloc(ctx, size + 64 + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    uintptr_t aligned = (start + 63) & ~(uintptr_t)63;
    memcpy((void *)(aligned - sizeof(void *)), &raw, sizeof(void *));
    return (void *)aligned;
}

void tdl_free_aligned(tdl_ctx *ctx, void *ptr)
{
    if (!ptr)
        return;
    void *raw;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof(void *));
    tdl_free(ctx, raw);
}

char *tdl_strdup(tdl_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tdl_alloc(ctx, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void *kernel_alloc(void *user, size_t bytes)
{
    return tdl_alloc_aligned((tdl_ctx *)user, bytes);
}

static void kernel_release(void *user, void *ptr)
{
    tdl_free_aligned((tdl_ctx *)user, ptr);
}

void tdl_ctx_kernel_env(tdl_ctx *ctx, tdlk_env *env)
{
    env->pool = ctx->pool;
    env->alloc = kernel_alloc;
    env->release = kernel_release;
    env->user = ctx;
}
