/* Reductions over a set of axes: sum, mean, max. attrs.i[k] = 1 when axis k
 * of the input is reduced; attrs.i[TDL_MAX_DIMS] = keepdims. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/op.h"

enum { RED_SUM, RED_MEAN, RED_MAX };

/* The input's shape with reduced axes set to 1. */
static void keep_shape(const tdl_node *n, tdl_shape *out)
{
    const tdl_shape *in = &n->inputs[0]->shape;
    *out = *in;
    for (int32_t k = 0; k < in->ndim; ++k)
        if (n->attrs.i[k])
            out->d[k] = 1;
}

static void reduce_run(const tdl_node *n, int kind, const float *x, float *y)
{
    const tdl_shape *in = &n->inputs[0]->value_shape;
    /* merge neighbouring axes of the same kind into (size, reduced) runs */
    int64_t size[TDL_MAX_DIMS];
    int red[TDL_MAX_DIMS];
    int32_t nd = 0;
    for (int32_t k = 0; k < in->ndim; ++k) {
        int r = (int)n->attrs.i[k];
        if (in->d[k] == 1)
            continue;
        if (nd > 0 && red[nd - 1] == r) {
            size[nd - 1] *= in->d[k];
        } else {
            size[nd] = in->d[k];
            red[nd] = r;
            nd++;
        }
    }
    int64_t out_n = tdl_shape_numel(&n->value_shape);
    float init = kind == RED_MAX ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < out_n; ++i)
        y[i] = init;
    if (nd == 0) { /* single element */
        y[0] = x[0];
        return;
    }
    /* output strides of the runs (0 for reduced runs) */
    int64_t ostride[TDL_MAX_DIMS];
    int64_t s = 1;
    for (int32_t k = nd - 1; k >= 0; --k) {
        ostride[k] = red[k] ? 0 : s;
        if (!red[k])
            s *= size[k];
    }
    int64_t inner = size[nd - 1];
    int inner_red = red[nd - 1];
    int64_t outer = 1;
    for (int32_t k = 0; k < nd - 1; ++k)
        outer *= size[k];
    int64_t idx[TDL_MAX_DIMS] = {0};
    int64_t o = 0;
    for (int64_t r = 0; r < outer; ++r) {
        const float *xr = x + r * inner;
        if (inner_red) {
            float acc = y[o];
            if (kind == RED_MAX) {
                for (int64_t j = 0; j < inner; ++j)
                    if (xr[j] > acc || isnan(xr[j]))
                        acc = isnan(acc) ? acc : xr[j];
            } else {
                for (int64_t j = 0; j < inner; ++j)
                    acc += xr[j];
            }
            y[o] = acc;
        } else {
            float *yr = y + o;
            if (kind == RED_MAX) {
                for (int64_t j = 0; j < inner; ++j)
                    if (xr[j] > yr[j] || isnan(xr[j]))
                        yr[j] = isnan(yr[j]) ? yr[j] : xr[j];
            } else {
                for (int64_t j = 0; j < inner; ++j)
                    yr[j] += xr[j];
            }
        }
        /* advance the odometer over the outer runs */
        for (int32_t k = nd - 2; k >= 0; --k) {
            o += ostride[k];
            if (++idx[k] < size[k])
                break;
            o -= ostride[k] * size[k];
            idx[k] = 0;
        }
    }
    if (kind == RED_MEAN) {
        double count = (double)tdl_shape_numel(in) / (double)(out_n ? out_n : 1);
        float inv = (float)(1.0 / count);
        for (int64_t i = 0; i < out_n; ++i)
            y[i] *= inv;
    }
}

static tdl_status sum_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    reduce_run(n, RED_SUM, tdl_f32(n->inputs[0]), tdl_f32(n));
    return TDL_OK;
}
static tdl_status mean_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    reduce_run(n, RED_MEAN, tdl_f32(n->inputs[0]), tdl_f32(n));
    return TDL_OK;
}
static tdl_status max_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    reduce_run(n, RED_MAX, tdl_f32(n->inputs[0]), tdl_f32(n));
    return TDL_OK;
}

/* dy reshaped to the keepdims shape, broadcast back to the input's shape. */
static tdl_node *expand_back(tdl_graph *g, tdl_node *n, tdl_node *dy)
{
    tdl_shape ks;
    keep_shape(n, &ks);
    return tdl_broadcast_to(g, tdl_reshape_to(g, dy, &ks), &n->inputs[0]->shape);
}

static int sum_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = expand_back(g, n, dy);
    return dx[0] ? 0 : -1;
}

static int mean_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    const tdl_shape *in = &n->inputs[0]->shape;
    int64_t known = 1, sym = 0;
    for (int32_t k = 0; k < in->ndim; ++k) {
        if (!n->attrs.i[k])
            continue;
        if (in->d[k] < 0)
            sym = -in->d[k];
        else
            known *= in->d[k];
    }
    dx[0] = tdl_scale_by_count(g, expand_back(g, n, dy), known, sym);
    return dx[0] ? 0 : -1;
}

static int max_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* shared evenly between ties: mask / count(mask) */
    tdl_shape ks;
    keep_shape(n, &ks);
    tdl_node *x = n->inputs[0];
    tdl_node *ymax = tdl_reshape_to(g, n, &ks);
    tdl_node *mask = tdl_eq_mask(g, x, ymax);
    int32_t axes[TDL_MAX_DIMS], na = 0;
    for (int32_t k = 0; k < x->shape.ndim; ++k)
        if (n->attrs.i[k])
            axes[na++] = k;
    tdl_node *count = tdl_reduce(g, &tdl_op_reduce_sum, mask, na, axes, 1);
    tdl_node *share = tdl_div(g, tdl_reshape_to(g, dy, &ks), count);
    dx[0] = tdl_mul(g, mask, share);
    return dx[0] ? 0 : -1;
}

const tdl_op_def tdl_op_reduce_sum = {TDL_OPID_SUM, "sum", 0, sum_fwd, sum_bwd};
const tdl_op_def tdl_op_reduce_mean = {TDL_OPID_MEAN, "mean", 0, mean_fwd, mean_bwd};
const tdl_op_def tdl_op_reduce_max = {TDL_OPID_MAX, "max", 0, max_fwd, max_bwd};

tdl_node *tdl_reduce(tdl_graph *g, const tdl_op_def *op, tdl_node *x, int32_t n_axes,
                     const int32_t *axes, int32_t keepdims)
{
    if (tdl_builder_check(g, op->name, 1, &x))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s, not f32", op->name, x->name,
                                tdl_dtype_name(x->dtype));
    if (n_axes < 0 || n_axes > x->shape.ndim || (n_axes > 0 && !axes))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s '%s': %d axes for a %d-D input",
                                op->name, x->name, (int)n_axes, (int)x->shape.ndim);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    for (int32_t k = 0; k < n_axes; ++k) {
        int32_t ax = tdl_shape_axis(x->shape.ndim, axes[k]);
        if (ax < 0 || at.i[ax])
            return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                    "%s '%s': axis %d is out of range or repeated for a %d-D input",
                                    op->name, x->name, (int)axes[k], (int)x->shape.ndim);
        at.i[ax] = 1;
    }
    if (n_axes == 0)
        for (int32_t k = 0; k < x->shape.ndim; ++k)
            at.i[k] = 1;
    at.i[TDL_MAX_DIMS] = keepdims != 0;
    tdl_shape out;
    memset(&out, 0, sizeof out);
    for (int32_t k = 0; k < x->shape.ndim; ++k) {
        if (!at.i[k])
            out.d[out.ndim++] = x->shape.d[k];
        else if (keepdims)
            out.d[out.ndim++] = 1;
    }
    return tdl_node_new(g, op, NULL, 1, &x, TDL_F32, &out, &at);
}

TDL_API tdl_node *tdl_sum(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                          int32_t keepdims)
{
    return tdl_reduce(g, &tdl_op_reduce_sum, x, n_axes, axes, keepdims);
}

TDL_API tdl_node *tdl_mean(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                           int32_t keepdims)
{
    return tdl_reduce(g, &tdl_op_reduce_mean, x, n_axes, axes, keepdims);
}

TDL_API tdl_node *tdl_max(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                          int32_t keepdims)
{
    return tdl_reduce(g, &tdl_op_reduce_max, x, n_axes, axes, keepdims);
}
