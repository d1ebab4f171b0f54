/* Ops that move data without arithmetic: reshape, permute, concat, slice (and
 * its gradient), broadcast_to, sum_to, stop_gradient. */
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/broadcast.h"
#include "ops/op.h"

/* ---- reshape: aliases its input ---- */

static int reshape_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_reshape_to(g, dy, &n->inputs[0]->shape);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_reshape = {TDL_OPID_RESHAPE, "reshape", TDL_OP_ALIAS, NULL, reshape_bwd};

tdl_node *tdl_reshape_to(tdl_graph *g, tdl_node *x, const tdl_shape *target)
{
    if (tdl_builder_check(g, "reshape", 1, &x))
        return NULL;
    if (tdl_shape_equal(&x->shape, target))
        return x;
    int64_t kin, sin, kout, sout;
    tdl_shape_factor(&x->shape, &kin, &sin);
    tdl_shape_factor(target, &kout, &sout);
    if (kin * (sin ? sin : 1) != kout * (sout ? sout : 1) || (sin == 0) != (sout == 0)) {
        char a[96], b[96];
        tdl_shape_str(&x->shape, a, sizeof a);
        tdl_shape_str(target, b, sizeof b);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "reshape '%s': %s cannot become %s", x->name, a,
                                b);
    }
    tdl_node *n = tdl_node_new(g, &op_reshape, NULL, 1, &x, x->dtype, target, NULL);
    if (n)
        n->flags |= x->flags & TDL_NODE_NO_GRAD;
    return n;
}

TDL_API tdl_node *tdl_reshape(tdl_graph *g, tdl_node *x, int32_t ndim, const int64_t *shape)
{
    if (tdl_builder_check(g, "reshape", 1, &x))
        return NULL;
    if (ndim < 0 || ndim > TDL_MAX_DIMS || (ndim > 0 && !shape))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "reshape '%s': ndim %d is outside 0..%d", x->name, (int)ndim,
                                TDL_MAX_DIMS);
    int64_t kin, sin;
    tdl_shape_factor(&x->shape, &kin, &sin);
    int64_t known = 1;
    int32_t infer = -1;
    for (int32_t i = 0; i < ndim; ++i) {
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 1) {
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "reshape '%s': dimension %d is %lld; use sizes >= 1 and at "
                                    "most one -1",
                                    x->name, (int)i, (long long)shape[i]);
        } else {
            known *= shape[i];
        }
    }
    tdl_shape t;
    tdl_shape_make(&t, ndim, shape);
    char a[96];
    tdl_shape_str(&x->shape, a, sizeof a);
    if (infer < 0) {
        if (sin)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "reshape '%s': input %s has a batch dimension; keep it with -1",
                                    x->name, a);
    } else {
        int64_t total = kin * (sin ? sin : 1);
        if (total % known != 0)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "reshape '%s': %s does not divide into the requested shape",
                                    x->name, a);
        t.d[infer] = sin ? -(total / known) : total / known;
    }
    return tdl_reshape_to(g, x, &t);
}

/* ---- stop_gradient: aliases its input, blocks the gradient ---- */

static const tdl_op_def op_stop = {TDL_OPID_STOP_GRADIENT, "stop_gradient", TDL_OP_ALIAS, NULL,
                                   NULL};

TDL_API tdl_node *tdl_stop_gradient(tdl_graph *g, tdl_node *x)
{
    if (tdl_builder_check(g, "stop_gradient", 1, &x))
        return NULL;
    tdl_node *n = tdl_node_new(g, &op_stop, NULL, 1, &x, x->dtype, &x->shape, NULL);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}

/* ---- permute: attrs.i[k] = input axis of output axis k ---- */

static tdl_status permute_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    const tdl_shape *in = &n->inputs[0]->value_shape;
    int32_t nd = in->ndim;
    int64_t istride[TDL_MAX_DIMS], st = 1;
    for (int32_t k = nd - 1; k >= 0; --k) {
        istride[k] = st;
        st *= in->d[k];
    }
    int64_t ostr[TDL_MAX_DIMS], odim[TDL_MAX_DIMS];
    for (int32_t k = 0; k < nd; ++k) {
        ostr[k] = istride[n->attrs.i[k]];
        odim[k] = n->value_shape.d[k];
    }
    size_t es = tdl_dtype_size(n->dtype);
    const unsigned char *x = n->inputs[0]->data;
    unsigned char *y = n->data;
    int64_t total = tdl_numel(n);
    if (nd == 0 || total == 0) {
        memcpy(y, x, es * (size_t)total);
        return TDL_OK;
    }
    int64_t inner = odim[nd - 1], is = ostr[nd - 1];
    int64_t idx[TDL_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t o = 0; o < total; o += inner) {
        if (es == 4) {
            const uint32_t *xs = (const uint32_t *)x + off;
            uint32_t *yd = (uint32_t *)y + o;
            for (int64_t j = 0; j < inner; ++j)
                yd[j] = xs[j * is];
        }
        for (int32_t k = nd - 2; k >= 0; --k) {
            off += ostr[k];
            if (++idx[k] < odim[k])
                break;
            off -= ostr[k] * odim[k];
            idx[k] = 0;
        }
    }
    return TDL_OK;
}

static int permute_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    int32_t inv[TDL_MAX_DIMS];
    for (int32_t k = 0; k < n->shape.ndim; ++k)
        inv[n->attrs.i[k]] = k;
    dx[0] = tdl_permute(g, dy, n->shape.ndim, inv);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_permute = {TDL_OPID_PERMUTE, "permute", 0, permute_fwd, permute_bwd};

TDL_API tdl_node *tdl_permute(tdl_graph *g, tdl_node *x, int32_t ndim, const int32_t *perm)
{
    if (tdl_builder_check(g, "permute", 1, &x))
        return NULL;
    if (ndim != x->shape.ndim || (ndim > 0 && !perm))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "permute '%s': %d axes given for a %d-D input", x->name, (int)ndim,
                                (int)x->shape.ndim);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    int seen[TDL_MAX_DIMS] = {0};
    tdl_shape out = x->shape;
    for (int32_t k = 0; k < ndim; ++k) {
        if (perm[k] < 0 || perm[k] >= ndim || seen[perm[k]])
            return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                    "permute '%s': perm is not a permutation of 0..%d", x->name,
                                    (int)ndim - 1);
        seen[perm[k]] = 1;
        at.i[k] = perm[k];
        out.d[k] = x->shape.d[perm[k]];
    }
    return tdl_node_new(g, &op_permute, NULL, 1, &x, x->dtype, &out, &at);
}

TDL_API tdl_node *tdl_transpose(tdl_graph *g, tdl_node *x)
{
    if (tdl_builder_check(g, "transpose", 1, &x))
        return NULL;
    if (x->shape.ndim < 2)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "transpose '%s': needs at least 2 dimensions",
                                x->name);
    int32_t perm[TDL_MAX_DIMS];
    for (int32_t k = 0; k < x->shape.ndim; ++k)
        perm[k] = k;
    perm[x->shape.ndim - 1] = x->shape.ndim - 2;
    perm[x->shape.ndim - 2] = x->shape.ndim - 1;
    return tdl_permute(g, x, x->shape.ndim, perm);
}

/* ---- concat along attrs.i[0] ---- */

/* Splits a concrete shape around `axis` into outer * d[axis] * inner. */
static void split_axis(const tdl_shape *s, int32_t axis, int64_t *outer, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int32_t k = 0; k < axis; ++k)
        o *= s->d[k];
    for (int32_t k = axis + 1; k < s->ndim; ++k)
        in *= s->d[k];
    *outer = o;
    *inner = in;
}

static tdl_status concat_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    int32_t axis = (int32_t)n->attrs.i[0];
    int64_t outer, inner;
    split_axis(&n->value_shape, axis, &outer, &inner);
    size_t es = tdl_dtype_size(n->dtype);
    int64_t row = n->value_shape.d[axis] * inner;
    int64_t off = 0;
    for (int32_t i = 0; i < n->n_inputs; ++i) {
        const tdl_node *x = n->inputs[i];
        int64_t len = x->value_shape.d[axis] * inner;
        for (int64_t o = 0; o < outer; ++o)
            memcpy((unsigned char *)n->data + (size_t)(o * row + off) * es,
                   (const unsigned char *)x->data + (size_t)(o * len) * es, (size_t)len * es);
        off += len;
    }
    return TDL_OK;
}

static int concat_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    int32_t axis = (int32_t)n->attrs.i[0];
    int64_t start = 0;
    for (int32_t i = 0; i < n->n_inputs; ++i) {
        int64_t len = n->inputs[i]->shape.d[axis];
        dx[i] = tdl_slice(g, dy, axis, start, start + len);
        if (!dx[i])
            return -1;
        start += len;
    }
    return 0;
}

static const tdl_op_def op_concat = {TDL_OPID_CONCAT, "concat", 0, concat_fwd, concat_bwd};

TDL_API tdl_node *tdl_concat(tdl_graph *g, int32_t n, tdl_node *const *xs, int32_t axis)
{
    if (!g)
        return tdl_builder_check(g, "concat", 0, NULL) ? NULL : NULL;
    if (n < 1 || !xs)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "concat: needs at least one input");
    if (tdl_builder_check(g, "concat", n, xs))
        return NULL;
    tdl_shape out = xs[0]->shape;
    int32_t ax = tdl_shape_axis(out.ndim, axis);
    if (ax < 0)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "concat: axis %d is out of range for %d-D inputs", (int)axis,
                                (int)out.ndim);
    for (int32_t i = 0; i < n; ++i) {
        const tdl_shape *s = &xs[i]->shape;
        if (xs[i]->dtype != xs[0]->dtype)
            return tdl_graph_sticky(g, TDL_ERR_DTYPE, "concat: '%s' and '%s' differ in dtype",
                                    xs[0]->name, xs[i]->name);
        if (s->d[ax] < 0)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "concat: axis %d of '%s' is the batch dimension", (int)ax,
                                    xs[i]->name);
        int ok = s->ndim == out.ndim;
        for (int32_t k = 0; ok && k < s->ndim; ++k)
            ok = k == ax || s->d[k] == out.d[k];
        if (!ok) {
            char a[96], b[96];
            tdl_shape_str(&xs[0]->shape, a, sizeof a);
            tdl_shape_str(s, b, sizeof b);
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "concat: '%s' %s and '%s' %s differ outside axis %d",
                                    xs[0]->name, a, xs[i]->name, b, (int)ax);
        }
        if (i > 0)
            out.d[ax] += s->d[ax];
    }
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = ax;
    return tdl_node_new(g, &op_concat, NULL, n, xs, xs[0]->dtype, &out, &at);
}

/* ---- slice: attrs.i[0] = axis, i[1] = start ---- */

static tdl_status slice_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    int32_t axis = (int32_t)n->attrs.i[0];
    int64_t start = n->attrs.i[1];
    int64_t outer, inner;
    split_axis(&n->value_shape, axis, &outer, &inner);
    size_t es = tdl_dtype_size(n->dtype);
    int64_t len = n->value_shape.d[axis] * inner;
    int64_t row = n->inputs[0]->value_shape.d[axis] * inner;
    for (int64_t o = 0; o < outer; ++o)
        memcpy((unsigned char *)n->data + (size_t)(o * len) * es,
               (const unsigned char *)n->inputs[0]->data + (size_t)(o * row + start * inner) * es,
               (size_t)len * es);
    return TDL_OK;
}

static int slice_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_slice_backward(g, dy, &n->inputs[0]->shape, (int32_t)n->attrs.i[0], n->attrs.i[1]);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_slice = {TDL_OPID_SLICE, "slice", 0, slice_fwd, slice_bwd};

TDL_API tdl_node *tdl_slice(tdl_graph *g, tdl_node *x, int32_t axis, int64_t start, int64_t end)
{
    if (tdl_builder_check(g, "slice", 1, &x))
        return NULL;
    int32_t ax = tdl_shape_axis(x->shape.ndim, axis);
    if (ax < 0)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "slice '%s': axis %d is out of range for %d dimensions", x->name,
                                (int)axis, (int)x->shape.ndim);
    if (x->shape.d[ax] < 0)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "slice '%s': axis %d is the batch dimension",
                                x->name, (int)ax);
    if (start < 0 || end <= start || end > x->shape.d[ax])
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "slice '%s': [%lld, %lld) is not a non-empty range inside 0..%lld",
                                x->name, (long long)start, (long long)end,
                                (long long)x->shape.d[ax]);
    tdl_shape out = x->shape;
    out.d[ax] = end - start;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = ax;
    at.i[1] = start;
    tdl_node *n = tdl_node_new(g, &op_slice, NULL, 1, &x, x->dtype, &out, &at);
    if (n)
        n->flags |= x->flags & TDL_NODE_NO_GRAD;
    return n;
}

/* The slice's gradient: dy placed into zeros of the input's shape. */
static tdl_status slice_back_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    int32_t axis = (int32_t)n->attrs.i[0];
    int64_t start = n->attrs.i[1];
    const tdl_node *dy = n->inputs[0];
    int64_t outer, inner;
    split_axis(&n->value_shape, axis, &outer, &inner);
    int64_t len = dy->value_shape.d[axis] * inner;
    int64_t row = n->value_shape.d[axis] * inner;
    float *y = tdl_f32(n);
    memset(y, 0, sizeof(float) * (size_t)tdl_numel(n));
    for (int64_t o = 0; o < outer; ++o)
        memcpy(y + o * row + start * inner, tdl_f32(dy) + o * len, sizeof(float) * (size_t)len);
    return TDL_OK;
}

static int slice_back_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    int32_t axis = (int32_t)n->attrs.i[0];
    int64_t start = n->attrs.i[1];
    dx[0] = tdl_slice(g, dy, axis, start, start + n->inputs[0]->shape.d[axis]);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_slice_back = {TDL_OPID_SLICE_BACKWARD, "slice_backward", 0,
                                         slice_back_fwd, slice_back_bwd};

tdl_node *tdl_slice_backward(tdl_graph *g, tdl_node *dy, const tdl_shape *x_shape, int32_t axis,
                             int64_t start)
{
    if (tdl_builder_check(g, "slice_backward", 1, &dy))
        return NULL;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = axis;
    at.i[1] = start;
    return tdl_node_new(g, &op_slice_back, NULL, 1, &dy, TDL_F32, x_shape, &at);
}

/* ---- broadcast_to / sum_to ---- */

static tdl_status bcast_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    tdl_bcast bc;
    const tdl_shape *in = &n->inputs[0]->value_shape;
    tdl_bcast_init(&bc, &n->value_shape, in, in);
    const float *x = tdl_f32(n->inputs[0]);
    float *y = tdl_f32(n);
    int64_t inner = bc.dims[bc.nd - 1], s = bc.sa[bc.nd - 1];
    int64_t rows = tdl_numel(n) / inner;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t oa, ob;
        tdl_bcast_row(&bc, r, &oa, &ob);
        float *yr = y + r * inner;
        if (s == 0)
            for (int64_t j = 0; j < inner; ++j)
                yr[j] = x[oa];
        else
            memcpy(yr, x + oa, sizeof(float) * (size_t)inner);
    }
    return TDL_OK;
}

static int bcast_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_sum_to(g, dy, &n->inputs[0]->shape);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_bcast = {TDL_OPID_BROADCAST_TO, "broadcast_to", 0, bcast_fwd, bcast_bwd};

tdl_node *tdl_broadcast_to(tdl_graph *g, tdl_node *x, const tdl_shape *target)
{
    if (tdl_builder_check(g, "broadcast_to", 1, &x))
        return NULL;
    if (tdl_shape_equal(&x->shape, target))
        return x;
    tdl_shape check;
    if (tdl_shape_broadcast(&x->shape, target, &check) != 0 || !tdl_shape_equal(&check, target))
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "broadcast_to '%s': shape does not broadcast",
                                x->name);
    return tdl_node_new(g, &op_bcast, NULL, 1, &x, TDL_F32, target, NULL);
}

tdl_node *tdl_sum_to(tdl_graph *g, tdl_node *x, const tdl_shape *target)
{
    if (tdl_builder_check(g, "sum_to", 1, &x))
        return NULL;
    if (tdl_shape_equal(&x->shape, target))
        return x;
    int32_t axes[TDL_MAX_DIMS], na = 0;
    int32_t lead = x->shape.ndim - target->ndim;
    for (int32_t k = 0; k < x->shape.ndim; ++k) {
        int32_t j = k - lead;
        if (j < 0 || (target->d[j] == 1 && x->shape.d[k] != 1))
            axes[na++] = k;
    }
    tdl_node *s = na ? tdl_reduce(g, &tdl_op_reduce_sum, x, na, axes, 1) : x;
    return tdl_reshape_to(g, s, target);
}
