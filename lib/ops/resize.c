/* Ops that resize [N, C, ...] tensors: global average pooling, flatten,
 * nearest-neighbour upsampling (with its adjoint) and constant padding.
 * Forwards are threaded over N * C planes (or output rows for pad); each
 * element is produced by one thread in a fixed order, so results do not
 * depend on the thread count. */
#include <math.h>
#include <string.h>

#include <tiny-dl/layers.h>
#include <tiny-dl/ops.h>

#include "ops/op.h"

/* ---- global average pooling: [N, C, ...] -> [N, C] ---- */

typedef struct plane_job {
    const float *x;
    float *y;
    int64_t len;    /* elements per plane */
    int64_t sh, sw; /* upsampling factors */
    int64_t h, w;   /* input plane (upsample) */
} plane_job;

static void gap_chunk(void *arg, int64_t begin, int64_t end)
{
    plane_job *j = arg;
    float inv = 1.0f / (float)j->len;
    for (int64_t p = begin; p < end; ++p) {
        const float *x = j->x + p * j->len;
        float s = 0.0f;
        for (int64_t i = 0; i < j->len; ++i)
            s += x[i];
        j->y[p] = s * inv;
    }
}

static tdl_status gap_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_shape *in = &n->inputs[0]->value_shape;
    plane_job j;
    memset(&j, 0, sizeof j);
    j.x = tdl_f32(n->inputs[0]);
    j.y = tdl_f32(n);
    j.len = tdl_shape_numel(in) / (in->d[0] * in->d[1]);
    int64_t planes = in->d[0] * in->d[1];
    tdl_parallel_for(ex->kenv.pool, planes, TDL_ELEMWISE_GRAIN / j.len + 1, gap_chunk, &j);
    return TDL_OK;
}

static int gap_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    const tdl_shape *xs = &n->inputs[0]->shape;
    tdl_shape keep = *xs;
    int64_t count = 1;
    for (int32_t k = 2; k < xs->ndim; ++k) {
        count *= xs->d[k];
        keep.d[k] = 1;
    }
    tdl_node *b = tdl_broadcast_to(g, tdl_reshape_to(g, dy, &keep), xs);
    dx[0] = tdl_scale_by_count(g, b, count, 0);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_gap = {TDL_OPID_GLOBAL_AVG_POOL, "global_avg_pool", 0, gap_fwd, gap_bwd};

/* [N, C, ...] with C and the rest concrete; N may be the batch. */
static int check_nc(tdl_graph *g, const char *op, tdl_node *x, int32_t min_ndim, int32_t max_ndim)
{
    if (tdl_builder_check(g, op, 1, &x))
        return -1;
    if (x->dtype != TDL_F32) {
        tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s, not f32", op, x->name,
                         tdl_dtype_name(x->dtype));
        return -1;
    }
    int ok = x->shape.ndim >= min_ndim && x->shape.ndim <= max_ndim;
    for (int32_t k = 1; ok && k < x->shape.ndim; ++k)
        ok = x->shape.d[k] >= 1;
    if (!ok) {
        char s[96];
        tdl_shape_str(&x->shape, s, sizeof s);
        if (min_ndim == max_ndim)
            tdl_graph_sticky(g, TDL_ERR_SHAPE,
                             "%s: input '%s' has shape %s; expected %d dimensions [N, C, ...] "
                             "with only N symbolic",
                             op, x->name, s, (int)min_ndim);
        else
            tdl_graph_sticky(g, TDL_ERR_SHAPE,
                             "%s: input '%s' has shape %s; expected at least %d dimensions "
                             "[N, C, ...] with only N symbolic",
                             op, x->name, s, (int)min_ndim);
        return -1;
    }
    return 0;
}

TDL_API tdl_node *tdl_global_avg_pool(tdl_graph *g, tdl_node *x)
{
    if (check_nc(g, "global_avg_pool", x, 3, TDL_MAX_DIMS))
        return NULL;
    tdl_shape out;
    memset(&out, 0, sizeof out);
    out.ndim = 2;
    out.d[0] = x->shape.d[0];
    out.d[1] = x->shape.d[1];
    return tdl_node_new(g, &op_gap, NULL, 1, &x, TDL_F32, &out, NULL);
}

/* ---- flatten: a reshape keeping the first axis ---- */

TDL_API tdl_node *tdl_flatten(tdl_graph *g, tdl_node *x)
{
    if (tdl_builder_check(g, "flatten", 1, &x))
        return NULL;
    if (x->shape.ndim < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "flatten: '%s' is a scalar; needs [N, ...]",
                                x->name);
    int64_t rest = 1, sym = 0;
    for (int32_t k = 1; k < x->shape.ndim; ++k) {
        if (x->shape.d[k] < 0)
            sym = -x->shape.d[k];
        else
            rest *= x->shape.d[k];
    }
    tdl_shape t;
    memset(&t, 0, sizeof t);
    t.ndim = 2;
    t.d[0] = x->shape.d[0];
    t.d[1] = sym ? -(sym * rest) : rest;
    return tdl_reshape_to(g, x, &t);
}

/* ---- nearest-neighbour upsampling: attrs.i[0] = sh, i[1] = sw ---- */

static void up_chunk(void *arg, int64_t begin, int64_t end)
{
    plane_job *j = arg;
    int64_t oh = j->h * j->sh, ow = j->w * j->sw;
    for (int64_t p = begin; p < end; ++p) {
        const float *x = j->x + p * j->h * j->w;
        float *y = j->y + p * oh * ow;
        for (int64_t i = 0; i < j->h; ++i) {
            float *row = y + i * j->sh * ow;
            const float *xr = x + i * j->w;
            if (j->sw == 1) {
                memcpy(row, xr, sizeof(float) * (size_t)j->w);
            } else {
                for (int64_t c = 0; c < j->w; ++c)
                    for (int64_t b = 0; b < j->sw; ++b)
                        row[c * j->sw + b] = xr[c];
            }
            for (int64_t a = 1; a < j->sh; ++a)
                memcpy(row + a * ow, row, sizeof(float) * (size_t)ow);
        }
    }
}

/* The adjoint: dx[i, c] = sum of the sh x sw block of dy. */
static void up_back_chunk(void *arg, int64_t begin, int64_t end)
{
    plane_job *j = arg;
    int64_t oh = j->h * j->sh, ow = j->w * j->sw;
    for (int64_t p = begin; p < end; ++p) {
        const float *dy = j->x + p * oh * ow;
        float *dx = j->y + p * j->h * j->w;
        for (int64_t i = 0; i < j->h; ++i)
            for (int64_t c = 0; c < j->w; ++c) {
                float s = 0.0f;
                for (int64_t a = 0; a < j->sh; ++a) {
                    const float *r = dy + (i * j->sh + a) * ow + c * j->sw;
                    for (int64_t b = 0; b < j->sw; ++b)
                        s += r[b];
                }
                dx[i * j->w + c] = s;
            }
    }
}

static tdl_status up_run(tdl_exec *ex, tdl_node *n, const tdl_shape *small, tdl_range_fn fn)
{
    plane_job j;
    memset(&j, 0, sizeof j);
    j.x = tdl_f32(n->inputs[0]);
    j.y = tdl_f32(n);
    j.sh = n->attrs.i[0];
    j.sw = n->attrs.i[1];
    j.h = small->d[2];
    j.w = small->d[3];
    int64_t planes = small->d[0] * small->d[1];
    int64_t work = j.h * j.w * j.sh * j.sw;
    tdl_parallel_for(ex->kenv.pool, planes, TDL_ELEMWISE_GRAIN / (work ? work : 1) + 1, fn, &j);
    return TDL_OK;
}

static tdl_status up_fwd(tdl_exec *ex, tdl_node *n)
{
    return up_run(ex, n, &n->inputs[0]->value_shape, up_chunk);
}

static tdl_status up_back_fwd(tdl_exec *ex, tdl_node *n)
{
    return up_run(ex, n, &n->value_shape, up_back_chunk);
}

static const tdl_op_def op_up;
static const tdl_op_def op_up_back;

static int up_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    if (tdl_builder_check(g, "upsample_nearest2d_backward", 1, &dy))
        return -1;
    dx[0] = tdl_node_new(g, &op_up_back, NULL, 1, &dy, TDL_F32, &n->inputs[0]->shape, &n->attrs);
    return dx[0] ? 0 : -1;
}

static int up_back_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    if (tdl_builder_check(g, "upsample_nearest2d", 1, &dy))
        return -1;
    dx[0] = tdl_node_new(g, &op_up, NULL, 1, &dy, TDL_F32, &n->inputs[0]->shape, &n->attrs);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_up = {TDL_OPID_UPSAMPLE_NEAREST2D, "upsample_nearest2d", 0, up_fwd,
                                 up_bwd};
static const tdl_op_def op_up_back = {TDL_OPID_UPSAMPLE_NEAREST2D_BACKWARD,
                                      "upsample_nearest2d_backward", 0, up_back_fwd, up_back_bwd};

TDL_API tdl_node *tdl_upsample_nearest2d(tdl_graph *g, tdl_node *x, int32_t scale_h,
                                         int32_t scale_w)
{
    if (check_nc(g, "upsample_nearest2d", x, 4, 4))
        return NULL;
    if (scale_h < 1 || scale_w < 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "upsample_nearest2d '%s': scale %dx%d must be >= 1", x->name,
                                (int)scale_h, (int)scale_w);
    tdl_shape out = x->shape;
    out.d[2] *= scale_h;
    out.d[3] *= scale_w;
    if (out.d[2] > ((int64_t)1 << 31) || out.d[3] > ((int64_t)1 << 31))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "upsample_nearest2d '%s': output %lldx%lld is too large", x->name,
                                (long long)out.d[2], (long long)out.d[3]);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = scale_h;
    at.i[1] = scale_w;
    return tdl_node_new(g, &op_up, NULL, 1, &x, TDL_F32, &out, &at);
}

/* ---- constant padding: attrs.i[2k], i[2k+1] = before, after of axis k;
 * f[0] = value. The gradient slices the padding off again. ---- */

typedef struct pad_job {
    const float *x;
    float *y;
    const tdl_shape *in, *out;
    const int64_t *pads;
    float value;
} pad_job;

static void fill(float *y, int64_t n, float v)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = v;
}

static void pad_chunk(void *arg, int64_t begin, int64_t end)
{
    pad_job *j = arg;
    int32_t nd = j->out->ndim;
    int64_t olen = j->out->d[nd - 1], ilen = j->in->d[nd - 1];
    int64_t before = j->pads[2 * (nd - 1)];
    for (int64_t r = begin; r < end; ++r) {
        float *y = j->y + r * olen;
        /* the output row's index over the leading axes, mapped into the input */
        int64_t rem = r, in_off = 0, in_stride = ilen;
        int inside = 1;
        for (int32_t k = nd - 2; k >= 0; --k) {
            int64_t idx = rem % j->out->d[k];
            rem /= j->out->d[k];
            int64_t src = idx - j->pads[2 * k];
            if (src < 0 || src >= j->in->d[k])
                inside = 0;
            in_off += src * in_stride;
            in_stride *= j->in->d[k];
        }
        if (!inside) {
            fill(y, olen, j->value);
            continue;
        }
        fill(y, before, j->value);
        memcpy(y + before, j->x + in_off, sizeof(float) * (size_t)ilen);
        fill(y + before + ilen, olen - before - ilen, j->value);
    }
}

static tdl_status pad_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_shape *in = &n->inputs[0]->value_shape;
    if (n->value_shape.ndim == 0) {
        *tdl_f32(n) = *tdl_f32(n->inputs[0]);
        return TDL_OK;
    }
    pad_job j = {tdl_f32(n->inputs[0]), tdl_f32(n), in, &n->value_shape, n->attrs.i, n->attrs.f[0]};
    int64_t olen = n->value_shape.d[n->value_shape.ndim - 1];
    int64_t rows = tdl_numel(n) / (olen ? olen : 1);
    tdl_parallel_for(ex->kenv.pool, rows, TDL_ELEMWISE_GRAIN / (olen ? olen : 1) + 1, pad_chunk,
                     &j);
    return TDL_OK;
}

static int pad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    const tdl_shape *xs = &n->inputs[0]->shape;
    tdl_node *d = dy;
    for (int32_t k = 0; d && k < xs->ndim; ++k) {
        int64_t before = n->attrs.i[2 * k], after = n->attrs.i[2 * k + 1];
        if (before || after)
            d = tdl_slice(g, d, k, before, before + xs->d[k]);
    }
    dx[0] = d;
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_pad = {TDL_OPID_PAD, "pad", 0, pad_fwd, pad_bwd};

TDL_API tdl_node *tdl_pad(tdl_graph *g, tdl_node *x, int32_t ndim, const int64_t *pads, float value)
{
    if (tdl_builder_check(g, "pad", 1, &x))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "pad: '%s' is %s, not f32", x->name,
                                tdl_dtype_name(x->dtype));
    if (ndim != x->shape.ndim || (ndim > 0 && !pads))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "pad '%s': %d axes given (pads %s) for a %d-D input", x->name,
                                (int)ndim, pads ? "set" : "NULL", (int)x->shape.ndim);
    if (isnan(value))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "pad '%s': the value is NaN", x->name);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = value;
    tdl_shape out = x->shape;
    for (int32_t k = 0; k < ndim; ++k) {
        int64_t b = pads[2 * k], a = pads[2 * k + 1];
        if (b < 0 || a < 0 || b > ((int64_t)1 << 31) || a > ((int64_t)1 << 31))
            return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                    "pad '%s': padding (%lld, %lld) of axis %d must be >= 0 "
                                    "(and < 2^31)",
                                    x->name, (long long)b, (long long)a, (int)k);
        if (x->shape.d[k] < 0 && (a || b))
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "pad '%s': axis %d is the batch dimension; it cannot be "
                                    "padded",
                                    x->name, (int)k);
        at.i[2 * k] = b;
        at.i[2 * k + 1] = a;
        if (x->shape.d[k] >= 0)
            out.d[k] += a + b;
    }
    return tdl_node_new(g, &op_pad, NULL, 1, &x, TDL_F32, &out, &at);
}
