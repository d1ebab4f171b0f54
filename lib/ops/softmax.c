/* softmax and log_softmax along one axis (attrs.i[0]). */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/op.h"

static void split(const tdl_shape *s, int32_t axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int32_t k = 0; k < axis; ++k)
        o *= s->d[k];
    for (int32_t k = axis + 1; k < s->ndim; ++k)
        in *= s->d[k];
    *outer = o;
    *len = s->d[axis];
    *inner = in;
}

typedef struct softmax_job {
    const float *x;
    float *y;
    int64_t len;
    int log;
} softmax_job;

static void softmax_chunk(void *arg, int64_t begin, int64_t end)
{
    softmax_job *j = arg;
    const float *x = j->x + begin * j->len;
    float *y = j->y + begin * j->len;
    if (j->log)
        tdlk_log_softmax_rows(end - begin, j->len, x, y);
    else
        tdlk_softmax_rows(end - begin, j->len, x, y);
}

/* Strided (inner > 1) case: plain loops in double-free float, per column. */
static void softmax_strided(const float *x, float *y, int64_t outer, int64_t len, int64_t inner,
                            int log)
{
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float *xc = x + o * len * inner + i;
            float *yc = y + o * len * inner + i;
            float mx = -INFINITY;
            for (int64_t k = 0; k < len; ++k)
                mx = xc[k * inner] > mx ? xc[k * inner] : mx;
            float sum = 0;
            for (int64_t k = 0; k < len; ++k)
                sum += expf(xc[k * inner] - mx);
            float lse = logf(sum);
            for (int64_t k = 0; k < len; ++k)
                yc[k * inner] = log ? xc[k * inner] - mx - lse : expf(xc[k * inner] - mx) / sum;
        }
}

static tdl_status softmax_run(tdl_exec *ex, tdl_node *n, int log)
{
    int64_t outer, len, inner;
    split(&n->value_shape, (int32_t)n->attrs.i[0], &outer, &len, &inner);
    if (inner == 1) {
        softmax_job j = {tdl_f32(n->inputs[0]), tdl_f32(n), len, log};
        tdl_parallel_for(ex->kenv.pool, outer, TDL_ELEMWISE_GRAIN / len + 1, softmax_chunk, &j);
    } else {
        softmax_strided(tdl_f32(n->inputs[0]), tdl_f32(n), outer, len, inner, log);
    }
    return TDL_OK;
}

static tdl_status softmax_fwd(tdl_exec *ex, tdl_node *n)
{
    return softmax_run(ex, n, 0);
}

static tdl_status log_softmax_fwd(tdl_exec *ex, tdl_node *n)
{
    return softmax_run(ex, n, 1);
}

static int softmax_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* dx = y * (dy - sum(dy * y, axis)) */
    int32_t axis = (int32_t)n->attrs.i[0];
    tdl_node *dot = tdl_sum(g, tdl_mul(g, dy, n), 1, &axis, 1);
    dx[0] = tdl_mul(g, n, tdl_sub(g, dy, dot));
    return dx[0] ? 0 : -1;
}

static int log_softmax_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* dx = dy - softmax(x) * sum(dy, axis), softmax(x) = exp(y) */
    int32_t axis = (int32_t)n->attrs.i[0];
    tdl_node *s = tdl_sum(g, dy, 1, &axis, 1);
    dx[0] = tdl_sub(g, dy, tdl_mul(g, tdl_exp(g, n), s));
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_softmax = {TDL_OPID_SOFTMAX, "softmax", 0, softmax_fwd, softmax_bwd};
static const tdl_op_def op_log_softmax = {TDL_OPID_LOG_SOFTMAX, "log_softmax", 0, log_softmax_fwd,
                                          log_softmax_bwd};

static tdl_node *softmax_build(tdl_graph *g, const tdl_op_def *op, tdl_node *x, int32_t axis)
{
    if (tdl_builder_check(g, op->name, 1, &x))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s, not f32", op->name, x->name,
                                tdl_dtype_name(x->dtype));
    int32_t ax = tdl_shape_axis(x->shape.ndim, axis);
    if (ax < 0)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "%s '%s': axis %d is out of range for %d dimensions", op->name,
                                x->name, (int)axis, (int)x->shape.ndim);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = ax;
    return tdl_node_new(g, op, NULL, 1, &x, TDL_F32, &x->shape, &at);
}

TDL_API tdl_node *tdl_softmax(tdl_graph *g, tdl_node *x, int32_t axis)
{
    return softmax_build(g, &op_softmax, x, axis);
}

TDL_API tdl_node *tdl_log_softmax(tdl_graph *g, tdl_node *x, int32_t axis)
{
    return softmax_build(g, &op_log_softmax, x, axis);
}
