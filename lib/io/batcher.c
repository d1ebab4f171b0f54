/* Mini-batch iteration with a deterministic per-epoch shuffle. */
#include <string.h>

#include "core/rng.h"
#include "io/dataset.h"
#include "io/io_internal.h"

struct tdl_batcher {
    tdl_dataset *ds;
    int64_t n; /* samples the current epoch covers (the dataset's size when it began) */
    int64_t batch_size;
    int32_t shuffle;
    uint64_t seed;
    uint64_t epoch;
    int64_t pos;    /* next position in the epoch's order */
    int64_t *order; /* shuffled sample indices (NULL without shuffling) */
    float *x;       /* one batch of samples, owned */
    int32_t *y;     /* one batch of labels, owned */
};

/* Fisher-Yates driven by the counter-based generator: the permutation of an
 * epoch depends only on (seed, epoch, n). The modulo bias of a 64-bit draw is
 * below 2^-24 for any dataset that fits in memory. */
static void make_order(tdl_batcher *it)
{
    if (!it->shuffle)
        return;
    for (int64_t i = 0; i < it->n; ++i)
        it->order[i] = i;
    uint64_t key = tdl_rng_key(it->seed, it->epoch);
    for (int64_t i = it->n - 1; i > 0; --i) {
        int64_t j = (int64_t)(tdl_rng_bits(key, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t t = it->order[i];
        it->order[i] = it->order[j];
        it->order[j] = t;
    }
}

TDL_API tdl_status tdl_batcher_create(tdl_dataset *ds, int64_t batch_size, int32_t shuffle,
                                      uint64_t seed, tdl_batcher **out)
{
    if (out)
        *out = NULL;
    if (!ds || !out)
        return tdl_fail(ds ? ds->ctx : NULL, ds ? ds->ctx->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_batcher_create: %s is NULL", !ds ? "ds" : "out");
    tdl_ctx *ctx = ds->ctx;
    if (batch_size < 1)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_batcher_create: batch_size is %lld (must be >= 1)",
                        (long long)batch_size);
    if (shuffle != 0 && shuffle != 1)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_batcher_create: shuffle is %d (must be 0 or 1)", (int)shuffle);
    int64_t rows = batch_size < ds->n ? batch_size : ds->n;
    tdl_batcher *it = tdl_calloc(ctx, 1, sizeof *it);
    if (!it)
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_batcher_create: out of memory");
    it->ds = ds;
    it->n = ds->n;
    it->batch_size = batch_size;
    it->shuffle = shuffle;
    it->seed = seed;
    /* rows * sample_size floats fit: the dataset checked that n * sample_size do. */
    it->x = tdl_calloc(ctx, (size_t)rows * (size_t)ds->sample_size, sizeof(float));
    it->y = tdl_calloc(ctx, (size_t)rows, sizeof(int32_t));
    if (shuffle)
        it->order = tdl_calloc(ctx, (size_t)ds->n, sizeof(int64_t));
    if (!it->x || !it->y || (shuffle && !it->order)) {
        tdl_batcher_destroy(it);
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_batcher_create: out of memory for batches of %lld samples",
                        (long long)rows);
    }
    make_order(it);
    *out = it;
    return TDL_OK;
}

TDL_API void tdl_batcher_destroy(tdl_batcher *it)
{
    if (!it)
        return;
    tdl_ctx *ctx = it->ds->ctx;
    tdl_free(ctx, it->order);
    tdl_free(ctx, it->x);
    tdl_free(ctx, it->y);
    tdl_free(ctx, it);
}

TDL_API tdl_status tdl_batcher_next(tdl_batcher *it, const float **x, const int32_t **y, int64_t *n)
{
    if (x)
        *x = NULL;
    if (y)
        *y = NULL;
    if (n)
        *n = 0;
    if (!it || !x || !y || !n)
        return tdl_fail(it ? it->ds->ctx : NULL, it ? it->ds->ctx->error : NULL,
                        TDL_ERR_INVALID_ARGUMENT, "tdl_batcher_next: %s is NULL",
                        !it  ? "it"
                        : !x ? "x"
                        : !y ? "y"
                             : "n");
    const tdl_dataset *ds = it->ds;
    if (ds->n != it->n)
        return tdl_fail(ds->ctx, ds->ctx->error, TDL_ERR_STATE,
                        "tdl_batcher_next: the dataset shrank from %lld to %lld samples during "
                        "this epoch; call tdl_batcher_reset()",
                        (long long)it->n, (long long)ds->n);
    int64_t count = it->n - it->pos;
    if (count > it->batch_size)
        count = it->batch_size;
    if (count <= 0)
        return TDL_OK;
    size_t ss = (size_t)ds->sample_size;
    for (int64_t k = 0; k < count; ++k) {
        int64_t src = it->order ? it->order[it->pos + k] : it->pos + k;
        tdl_dataset_sample_f32(ds, src, it->x + (size_t)k * ss); /* bytes become floats here */
        it->y[k] = ds->y[src];
    }
    it->pos += count;
    *x = it->x;
    *y = it->y;
    *n = count;
    return TDL_OK;
}

TDL_API tdl_status tdl_batcher_reset(tdl_batcher *it)
{
    if (!it)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_batcher_reset: it is NULL");
    /* A truncated dataset only shrinks, so the buffers still suffice. */
    it->n = it->ds->n;
    it->epoch++;
    it->pos = 0;
    make_order(it);
    return TDL_OK;
}

TDL_API int64_t tdl_batcher_num_batches(const tdl_batcher *it)
{
    if (!it)
        return 0;
    return it->ds->n / it->batch_size + (it->ds->n % it->batch_size != 0);
}
