/* Pooling over time with per-sequence lengths: y[b] = mean of x[t, b] over
 * t < len[b]. Inputs [x] or [x, lengths]; attrs.i[0] = batch_first,
 * attrs.i[1] = 1 when lengths are given. The gradient op is linear in dy, and
 * its own gradient is the pooling again, so second derivatives work. */
#include <string.h>

#include <tiny-dl/ops.h>
#include <tiny-dl/rnn.h>

#include "ops/op.h"

static tdl_status check_len(tdl_exec *ex, const tdl_node *n, const int32_t *len, int64_t B,
                            int64_t T)
{
    for (int64_t b = 0; b < B; ++b)
        if (len[b] < 1 || len[b] > T)
            return tdl_graph_fail(ex->g, TDL_ERR_INVALID_ARGUMENT,
                                  "%s '%s': lengths[%lld] = %d is outside [1, %lld]", n->op->name,
                                  n->name, (long long)b, (int)len[b], (long long)T);
    return TDL_OK;
}

/* The sequence node's T, B, F and strides (in rows of F) of t and b. */
static void dims(const tdl_node *n, const tdl_shape *xs, int64_t *T, int64_t *B, int64_t *F,
                 int64_t *st, int64_t *sb)
{
    int bf = n->attrs.i[0] != 0;
    *T = xs->d[bf ? 1 : 0];
    *B = xs->d[bf ? 0 : 1];
    *F = xs->d[2];
    *st = bf ? 1 : *B;
    *sb = bf ? *T : 1;
}

static tdl_status mm_fwd(tdl_exec *ex, tdl_node *n)
{
    int64_t T, B, F, st, sb;
    dims(n, &n->inputs[0]->value_shape, &T, &B, &F, &st, &sb);
    const int32_t *len = n->attrs.i[1] ? n->inputs[1]->data : NULL;
    if (len) {
        tdl_status s = check_len(ex, n, len, B, T);
        if (s != TDL_OK)
            return s;
    }
    const float *x = tdl_f32(n->inputs[0]);
    float *y = tdl_f32(n);
    memset(y, 0, sizeof(float) * (size_t)(B * F));
    for (int64_t b = 0; b < B; ++b) {
        int64_t L = len ? len[b] : T;
        float *yr = y + b * F;
        for (int64_t t = 0; t < L; ++t) {
            const float *xr = x + (t * st + b * sb) * F;
            for (int64_t f = 0; f < F; ++f)
                yr[f] += xr[f];
        }
        float inv = (float)L;
        for (int64_t f = 0; f < F; ++f)
            yr[f] /= inv;
    }
    return TDL_OK;
}

/* Inputs [dy, lengths?]; output shaped like x. */
static tdl_status mm_grad_fwd(tdl_exec *ex, tdl_node *n)
{
    int64_t T, B, F, st, sb;
    dims(n, &n->value_shape, &T, &B, &F, &st, &sb);
    const int32_t *len = n->attrs.i[1] ? n->inputs[1]->data : NULL;
    if (len) {
        tdl_status s = check_len(ex, n, len, B, T);
        if (s != TDL_OK)
            return s;
    }
    const float *dy = tdl_f32(n->inputs[0]);
    float *dx = tdl_f32(n);
    for (int64_t b = 0; b < B; ++b) {
        int64_t L = len ? len[b] : T;
        float inv = (float)L;
        const float *dr = dy + b * F;
        for (int64_t t = 0; t < T; ++t) {
            float *xr = dx + (t * st + b * sb) * F;
            if (t < L)
                for (int64_t f = 0; f < F; ++f)
                    xr[f] = dr[f] / inv;
            else
                memset(xr, 0, sizeof(float) * (size_t)F);
        }
    }
    return TDL_OK;
}

static int mm_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx);
static int mm_grad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx);

static const tdl_op_def op_mm = {TDL_OPID_MASKED_MEAN_TIME, "masked_mean_time", 0, mm_fwd, mm_bwd};
static const tdl_op_def op_mm_grad = {TDL_OPID_MASKED_MEAN_TIME_GRAD, "masked_mean_time_grad", 0,
                                      mm_grad_fwd, mm_grad_bwd};

static int mm_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *in[2] = {dy, n->n_inputs > 1 ? n->inputs[1] : NULL};
    dx[0] = tdl_node_new(g, &op_mm_grad, NULL, n->n_inputs, in, TDL_F32, &n->inputs[0]->shape,
                         &n->attrs);
    return dx[0] ? 0 : -1;
}

static int mm_grad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *in[2] = {dy, n->n_inputs > 1 ? n->inputs[1] : NULL};
    dx[0] =
        tdl_node_new(g, &op_mm, NULL, n->n_inputs, in, TDL_F32, &n->inputs[0]->shape, &n->attrs);
    return dx[0] ? 0 : -1;
}

TDL_API tdl_node *tdl_masked_mean_time(tdl_graph *g, tdl_node *x, tdl_node *lengths,
                                       int32_t batch_first)
{
    tdl_node *in[2] = {x, lengths};
    if (tdl_builder_check(g, "masked_mean_time", lengths ? 2 : 1, in))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "masked_mean_time: '%s' is %s, not f32", x->name,
                                tdl_dtype_name(x->dtype));
    if (batch_first != 0 && batch_first != 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "masked_mean_time '%s': batch_first must be 0 or 1", x->name);
    char xs[96];
    tdl_shape_str(&x->shape, xs, sizeof xs);
    if (x->shape.ndim != 3)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "masked_mean_time: '%s' %s must be %s", x->name,
                                xs, batch_first ? "[B, T, F]" : "[T, B, F]");
    int64_t T = x->shape.d[batch_first ? 1 : 0], bdim = x->shape.d[batch_first ? 0 : 1];
    if (T < 1 || x->shape.d[2] < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "masked_mean_time: '%s' %s: the time and feature dimensions "
                                "must be concrete and >= 1",
                                x->name, xs);
    if (lengths) {
        char ls[96];
        tdl_shape_str(&lengths->shape, ls, sizeof ls);
        if (lengths->dtype != TDL_I32)
            return tdl_graph_sticky(g, TDL_ERR_DTYPE,
                                    "masked_mean_time: lengths '%s' is %s, not i32", lengths->name,
                                    tdl_dtype_name(lengths->dtype));
        if (lengths->shape.ndim != 1 || lengths->shape.d[0] != bdim)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "masked_mean_time: lengths '%s' %s must be [B] for '%s' %s",
                                    lengths->name, ls, x->name, xs);
    }
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = batch_first;
    at.i[1] = lengths != NULL;
    int64_t od[2] = {bdim, x->shape.d[2]};
    tdl_shape out;
    tdl_shape_make(&out, 2, od);
    return tdl_node_new(g, &op_mm, NULL, lengths ? 2 : 1, in, TDL_F32, &out, &at);
}
