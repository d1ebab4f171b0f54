/* In-memory labelled datasets: from IDX files or from caller arrays. */
#include <string.h>

#include "io/dataset.h"
#include "io/io_internal.h"

static void recount_classes(tdl_dataset *ds)
{
    int32_t mx = -1;
    for (int64_t i = 0; i < ds->n; ++i)
        if (ds->y[i] > mx)
            mx = ds->y[i];
    ds->num_classes = mx + 1;
}

/* Allocates a dataset for n samples of the given shape, with room for their
 * labels and, with `floats`, for the samples as floats (a byte dataset gets
 * its samples from the caller). n * sample_size floats are checked to fit in
 * memory either way, so a float copy can be made later. */
static tdl_status dataset_alloc(tdl_ctx *ctx, int64_t n, int32_t ndim, const int64_t *shape,
                                int floats, tdl_dataset **out, char *msg)
{
    int64_t ss = 1;
    for (int32_t i = 0; i < ndim; ++i) {
        if (shape[i] < 1)
            return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT,
                              "sample dimension %d is %lld (must be >= 1)", (int)i,
                              (long long)shape[i]);
        if (ss > INT64_MAX / shape[i])
            return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT, "sample size overflows");
        ss *= shape[i];
    }
    size_t xcount;
    if ((uint64_t)n > SIZE_MAX / sizeof(float) ||
        tdl_mul_size((size_t)n, (size_t)ss, &xcount) != 0 || xcount > SIZE_MAX / sizeof(float))
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY,
                          "%lld samples of %lld floats do not fit "
                          "in memory",
                          (long long)n, (long long)ss);
    tdl_dataset *ds = tdl_calloc(ctx, 1, sizeof *ds);
    if (!ds)
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory allocating a dataset");
    ds->ctx = ctx;
    ds->n = n;
    ds->sample_size = ss;
    ds->sample_ndim = ndim;
    for (int32_t i = 0; i < ndim; ++i)
        ds->sample_shape[i] = shape[i];
    if (floats)
        ds->x = tdl_alloc(ctx, xcount * sizeof(float));
    ds->y = tdl_alloc(ctx, (size_t)n * sizeof(int32_t));
    if ((floats && !ds->x) || !ds->y) {
        tdl_dataset_destroy(ds);
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY,
                          "out of memory allocating %lld samples of %lld floats", (long long)n,
                          (long long)ss);
    }
    *out = ds;
    return TDL_OK;
}

static tdl_status load_idx(tdl_ctx *ctx, const char *images_path, const char *labels_path,
                           tdl_dataset **out, char *msg)
{
    unsigned char *ibuf = NULL, *lbuf = NULL;
    size_t ilen = 0, llen = 0;
    tdl_idx im, lb;
    tdl_status st = tdl_io_read_maybe_gz(ctx, images_path, &ibuf, &ilen, msg);
    if (st == TDL_OK)
        st = tdl_idx_parse(ibuf, ilen, images_path, &im, msg);
    if (st == TDL_OK && im.type != TDL_IDX_U8)
        st = tdl_io_msg(msg, TDL_ERR_FORMAT,
                        "images file '%s' holds IDX type 0x%02x; only unsigned bytes (0x08) are "
                        "supported",
                        images_path, im.type);
    if (st == TDL_OK && (im.ndim < 2 || im.ndim > TDL_MAX_DIMS))
        st = tdl_io_msg(msg, TDL_ERR_FORMAT,
                        "images file '%s' has %d dimensions; expected 2..%d (count, then the "
                        "sample's dimensions)",
                        images_path, im.ndim, TDL_MAX_DIMS);
    for (int i = 1; st == TDL_OK && i < im.ndim; ++i)
        if (im.dims[i] == 0)
            st = tdl_io_msg(msg, TDL_ERR_FORMAT, "images file '%s': dimension %d is 0", images_path,
                            i);
    if (st == TDL_OK)
        st = tdl_io_read_maybe_gz(ctx, labels_path, &lbuf, &llen, msg);
    if (st == TDL_OK)
        st = tdl_idx_parse(lbuf, llen, labels_path, &lb, msg);
    if (st == TDL_OK && lb.type != TDL_IDX_U8 && lb.type != TDL_IDX_I8 && lb.type != TDL_IDX_I16 &&
        lb.type != TDL_IDX_I32)
        st = tdl_io_msg(msg, TDL_ERR_FORMAT,
                        "labels file '%s' holds IDX type 0x%02x; expected an integer type",
                        labels_path, lb.type);
    if (st == TDL_OK && lb.ndim != 1)
        st = tdl_io_msg(msg, TDL_ERR_FORMAT, "labels file '%s' has %d dimensions; expected 1",
                        labels_path, lb.ndim);
    if (st == TDL_OK && lb.dims[0] != im.dims[0])
        st = tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s' holds %lu images but '%s' holds %lu labels",
                        images_path, (unsigned long)im.dims[0], labels_path,
                        (unsigned long)lb.dims[0]);
    for (uint64_t i = 0; st == TDL_OK && i < lb.count; ++i) {
        int64_t v = tdl_idx_int(&lb, i);
        if (v < 0)
            st = tdl_io_msg(msg, TDL_ERR_FORMAT, "labels file '%s': label %llu is %lld (< 0)",
                            labels_path, (unsigned long long)i, (long long)v);
    }

    tdl_dataset *ds = NULL;
    if (st == TDL_OK) {
        int64_t shape[TDL_MAX_DIMS];
        for (int i = 1; i < im.ndim; ++i)
            shape[i - 1] = im.dims[i];
        st = dataset_alloc(ctx, (int64_t)im.dims[0], im.ndim - 1, shape, 0, &ds, msg);
    }
    if (st == TDL_OK) {
        /* the dataset keeps the file's bytes (no float copy): trim the read
         * buffer's slack; a failed trim keeps the buffer as it is */
        size_t header = (size_t)(im.data - ibuf);
        unsigned char *trimmed = tdl_realloc(ctx, ibuf, ilen);
        if (trimmed)
            ibuf = trimmed;
        ds->u8_buf = ibuf;
        ds->u8 = ibuf + header;
        ibuf = NULL;
        for (uint64_t i = 0; i < lb.count; ++i)
            ds->y[i] = (int32_t)tdl_idx_int(&lb, i);
        recount_classes(ds);
        *out = ds;
    }
    tdl_free(ctx, ibuf);
    tdl_free(ctx, lbuf);
    return st;
}

TDL_API tdl_status tdl_dataset_load_idx(tdl_ctx *ctx, const char *images_path,
                                        const char *labels_path, tdl_dataset **out)
{
    if (out)
        *out = NULL;
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_dataset_load_idx: ctx is NULL");
    if (!images_path || !labels_path || !out)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_load_idx: %s is NULL",
                        !images_path   ? "images_path"
                        : !labels_path ? "labels_path"
                                       : "out");
    char msg[TDL_ERRMSG_MAX];
    tdl_status st = load_idx(ctx, images_path, labels_path, out, msg);
    if (st != TDL_OK)
        return tdl_fail(ctx, ctx->error, st, "tdl_dataset_load_idx: %s", msg);
    return TDL_OK;
}

TDL_API tdl_status tdl_dataset_from_arrays(tdl_ctx *ctx, const float *x, const int32_t *y,
                                           int64_t n, int32_t sample_ndim,
                                           const int64_t *sample_shape, tdl_dataset **out)
{
    if (out)
        *out = NULL;
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_from_arrays: ctx is NULL");
    if (!out || !sample_shape || (n > 0 && (!x || !y)))
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_from_arrays: %s is NULL",
                        !out            ? "out"
                        : !sample_shape ? "sample_shape"
                        : !x            ? "x"
                                        : "y");
    if (n < 0)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_from_arrays: n is %lld (< 0)", (long long)n);
    if (sample_ndim < 1 || sample_ndim > TDL_MAX_DIMS - 1)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_from_arrays: sample_ndim %d is outside 1..%d",
                        (int)sample_ndim, TDL_MAX_DIMS - 1);
    for (int64_t i = 0; i < n; ++i)
        if (y[i] < 0)
            return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                            "tdl_dataset_from_arrays: label %lld is %d (< 0)", (long long)i,
                            (int)y[i]);
    char msg[TDL_ERRMSG_MAX];
    tdl_dataset *ds;
    tdl_status st = dataset_alloc(ctx, n, sample_ndim, sample_shape, 1, &ds, msg);
    if (st != TDL_OK)
        return tdl_fail(ctx, ctx->error, st, "tdl_dataset_from_arrays: %s", msg);
    if (n > 0) {
        memcpy(ds->x, x, (size_t)n * (size_t)ds->sample_size * sizeof(float));
        memcpy(ds->y, y, (size_t)n * sizeof(int32_t));
    }
    recount_classes(ds);
    *out = ds;
    return TDL_OK;
}

TDL_API void tdl_dataset_destroy(tdl_dataset *ds)
{
    if (!ds)
        return;
    tdl_ctx *ctx = ds->ctx;
    tdl_free(ctx, ds->x);
    tdl_free(ctx, ds->u8_buf);
    tdl_free(ctx, ds->y);
    tdl_free(ctx, ds);
}

TDL_API int64_t tdl_dataset_size(const tdl_dataset *ds)
{
    return ds ? ds->n : 0;
}

TDL_API int64_t tdl_dataset_sample_size(const tdl_dataset *ds)
{
    return ds ? ds->sample_size : 0;
}

TDL_API tdl_status tdl_dataset_sample_shape(const tdl_dataset *ds, int32_t *ndim, int64_t *shape)
{
    if (!ds || !ndim || !shape)
        return tdl_fail(ds ? ds->ctx : NULL, ds ? ds->ctx->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_sample_shape: %s is NULL",
                        !ds     ? "ds"
                        : !ndim ? "ndim"
                                : "shape");
    *ndim = ds->sample_ndim;
    for (int32_t i = 0; i < ds->sample_ndim; ++i)
        shape[i] = ds->sample_shape[i];
    return TDL_OK;
}

TDL_API int32_t tdl_dataset_num_classes(const tdl_dataset *ds)
{
    return ds && ds->n > 0 ? ds->num_classes : 0;
}

TDL_API const float *tdl_dataset_x(const tdl_dataset *ds)
{
    if (!ds)
        return NULL;
    if (ds->x || !ds->u8)
        return ds->x;
    /* A byte dataset becomes a float dataset now, once: the floats replace
     * the bytes (released), so it never holds both. The dataset is allocated
     * on the heap, never const, so changing it through a const handle is
     * sound; a dataset is used by one thread at a time, and batchers read
     * whichever storage it has at each batch. */
    tdl_dataset *mut = (tdl_dataset *)ds;
    tdl_ctx *ctx = ds->ctx;
    size_t count = (size_t)ds->n * (size_t)ds->sample_size; /* checked at creation */
    float *x = tdl_alloc(ctx, count * sizeof(float));
    if (!x) {
        tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                 "tdl_dataset_x: out of memory for the float copy of %lld samples of %lld values",
                 (long long)ds->n, (long long)ds->sample_size);
        return NULL;
    }
    for (int64_t i = 0; i < ds->n; ++i)
        tdl_dataset_sample_f32(ds, i, x + (size_t)i * (size_t)ds->sample_size);
    mut->x = x;
    mut->u8 = NULL;
    tdl_free(ctx, mut->u8_buf);
    mut->u8_buf = NULL;
    return x;
}

TDL_API const int32_t *tdl_dataset_y(const tdl_dataset *ds)
{
    return ds ? ds->y : NULL;
}

TDL_API tdl_status tdl_dataset_truncate(tdl_dataset *ds, int64_t n)
{
    if (!ds)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_dataset_truncate: ds is NULL");
    if (n < 1 || n > ds->n)
        return tdl_fail(ds->ctx, ds->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_dataset_truncate: n = %lld is outside 1..%lld", (long long)n,
                        (long long)ds->n);
    /* The buffers keep their size: batchers made earlier still point into them. */
    ds->n = n;
    recount_classes(ds);
    return TDL_OK;
}
