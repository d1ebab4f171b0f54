/* Convolutions: conv2d, conv_transpose2d, conv1d (conv2d on [N, C, 1, L]),
 * and the internal ops of their gradients: conv2d_weight_grad and
 * conv_bias_grad. Geometry and compute: conv_internal.h, conv_exec.c.
 *
 * Gradient rules, all built from these ops, so they differentiate again:
 *   conv2d(x, w, b):            dx = conv_transpose2d(dy, w) (x's exact size),
 *                               dw = conv2d_weight_grad(x, dy), db = bias_grad(dy)
 *   conv_transpose2d(x, w, b):  dx = conv2d(dy, w), dw = conv2d_weight_grad(dy, x),
 *                               db = bias_grad(dy)
 *   conv2d_weight_grad(x, dy):  with upstream ddw: dx = conv_transpose2d(dy, ddw),
 *                               d(dy) = conv2d(x, ddw)
 *   conv_bias_grad(dy):         d(dy) = the upstream [C] broadcast over N, H, W. */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/conv.h>
#include <tiny-dl/ops.h>

#include "ops/conv_internal.h"

/* ---- internal builders (arguments already checked) ---- */

static tdl_node *conv_gather_node(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                  const tdl_attrs *geo, int64_t hs, int64_t ws, const char *name);
static tdl_node *conv_scatter_node(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                   const tdl_attrs *geo, int64_t hb, int64_t wb);
static tdl_node *conv_wgrad_node(tdl_graph *g, tdl_node *big, tdl_node *small, const tdl_attrs *geo,
                                 int64_t kh, int64_t kw);
static tdl_node *conv_bias_grad_node(tdl_graph *g, tdl_node *dy);

/* The geometry of a node: big image `big`, small image `small` (value shapes). */
static void geom_of(const tdl_node *n, const tdl_shape *big, const tdl_shape *small, int64_t kh,
                    int64_t kw, tdl_conv_geom *gm)
{
    const int64_t *a = n->attrs.i;
    gm->n = big->d[0];
    gm->cb = big->d[1];
    gm->hb = big->d[2];
    gm->wb = big->d[3];
    gm->cs = small->d[1];
    gm->hs = small->d[2];
    gm->ws = small->d[3];
    gm->kh = kh;
    gm->kw = kw;
    gm->sh = a[TDL_CONV_SH];
    gm->sw = a[TDL_CONV_SW];
    gm->ph = a[TDL_CONV_PH];
    gm->pw = a[TDL_CONV_PW];
    gm->dh = a[TDL_CONV_DH];
    gm->dw = a[TDL_CONV_DW];
    gm->groups = a[TDL_CONV_GROUPS];
    tdl_conv_geom_finish(gm);
}

/* Geometry attributes only (no bias flag). */
static tdl_attrs geo_only(const tdl_node *n)
{
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    for (int k = TDL_CONV_SH; k <= TDL_CONV_GROUPS; ++k)
        at.i[k] = n->attrs.i[k];
    return at;
}

/* ---- conv2d (gather) ---- */

static tdl_status conv2d_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *x = n->inputs[0], *w = n->inputs[1];
    tdl_conv_geom gm;
    geom_of(n, &x->value_shape, &n->value_shape, w->value_shape.d[2], w->value_shape.d[3], &gm);
    const float *bias = n->attrs.i[TDL_CONV_BIAS] ? tdl_f32(n->inputs[2]) : NULL;
    return tdl_conv_gather(ex, n, &gm, tdl_f32(x), tdl_f32(w), bias, tdl_f32(n));
}

static int conv2d_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *x = n->inputs[0], *w = n->inputs[1];
    tdl_attrs geo = geo_only(n);
    dx[0] = conv_scatter_node(g, dy, w, NULL, &geo, x->shape.d[2], x->shape.d[3]);
    dx[1] = conv_wgrad_node(g, x, dy, &geo, w->shape.d[2], w->shape.d[3]);
    if (!dx[0] || !dx[1])
        return -1;
    if (n->attrs.i[TDL_CONV_BIAS] && !(dx[2] = conv_bias_grad_node(g, dy)))
        return -1;
    return 0;
}

static const tdl_op_def op_conv2d = {TDL_OPID_CONV2D, "conv2d", 0, conv2d_fwd, conv2d_bwd};

/* ---- conv_transpose2d (scatter) ---- */

static tdl_status convt_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *x = n->inputs[0], *w = n->inputs[1];
    tdl_conv_geom gm;
    geom_of(n, &n->value_shape, &x->value_shape, w->value_shape.d[2], w->value_shape.d[3], &gm);
    const float *bias = n->attrs.i[TDL_CONV_BIAS] ? tdl_f32(n->inputs[2]) : NULL;
    return tdl_conv_scatter(ex, n, &gm, tdl_f32(x), tdl_f32(w), bias, tdl_f32(n));
}

static int convt_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *x = n->inputs[0], *w = n->inputs[1];
    tdl_attrs geo = geo_only(n);
    dx[0] = conv_gather_node(g, dy, w, NULL, &geo, x->shape.d[2], x->shape.d[3], NULL);
    dx[1] = conv_wgrad_node(g, dy, x, &geo, w->shape.d[2], w->shape.d[3]);
    if (!dx[0] || !dx[1])
        return -1;
    if (n->attrs.i[TDL_CONV_BIAS] && !(dx[2] = conv_bias_grad_node(g, dy)))
        return -1;
    return 0;
}

static const tdl_op_def op_convt = {TDL_OPID_CONV_TRANSPOSE2D, "conv_transpose2d", 0, convt_fwd,
                                    convt_bwd};

/* ---- conv2d_weight_grad(big, small) -> [C_small, C_big/groups, kh, kw] ---- */

static tdl_status wgrad_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *big = n->inputs[0], *small = n->inputs[1];
    tdl_conv_geom gm;
    geom_of(n, &big->value_shape, &small->value_shape, n->value_shape.d[2], n->value_shape.d[3],
            &gm);
    return tdl_conv_weight_grad(ex, n, &gm, tdl_f32(big), tdl_f32(small), tdl_f32(n));
}

static int wgrad_bwd(tdl_graph *g, tdl_node *n, tdl_node *ddw, tdl_node **dx)
{
    tdl_node *big = n->inputs[0], *small = n->inputs[1];
    tdl_attrs geo = geo_only(n);
    dx[0] = conv_scatter_node(g, small, ddw, NULL, &geo, big->shape.d[2], big->shape.d[3]);
    dx[1] = conv_gather_node(g, big, ddw, NULL, &geo, small->shape.d[2], small->shape.d[3], NULL);
    return dx[0] && dx[1] ? 0 : -1;
}

static const tdl_op_def op_wgrad = {TDL_OPID_CONV2D_WEIGHT_GRAD, "conv2d_weight_grad", 0, wgrad_fwd,
                                    wgrad_bwd};

/* ---- conv_bias_grad(dy [N, C, H, W]) -> [C] ---- */

static tdl_status bgrad_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_shape *s = &n->inputs[0]->value_shape;
    return tdl_conv_bias_grad(ex, n, s->d[0], s->d[1], s->d[2] * s->d[3], tdl_f32(n->inputs[0]),
                              tdl_f32(n));
}

static int bgrad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    const tdl_shape *xs = &n->inputs[0]->shape;
    tdl_shape ks;
    int64_t d[4] = {1, xs->d[1], 1, 1};
    tdl_shape_make(&ks, 4, d);
    dx[0] = tdl_broadcast_to(g, tdl_reshape_to(g, dy, &ks), xs);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_bgrad = {TDL_OPID_CONV_BIAS_GRAD, "conv_bias_grad", 0, bgrad_fwd,
                                    bgrad_bwd};

/* ---- internal builders ---- */

static tdl_node *conv_gather_node(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                  const tdl_attrs *geo, int64_t hs, int64_t ws, const char *name)
{
    tdl_node *in[3] = {x, w, bias};
    int32_t nin = bias ? 3 : 2;
    if (tdl_builder_check(g, "conv2d", nin, in))
        return NULL;
    tdl_attrs at = *geo;
    at.i[TDL_CONV_BIAS] = bias != NULL;
    int64_t d[4] = {x->shape.d[0], w->shape.d[0], hs, ws};
    tdl_shape out;
    tdl_shape_make(&out, 4, d);
    return tdl_node_new(g, &op_conv2d, name, nin, in, TDL_F32, &out, &at);
}

static tdl_node *conv_scatter_node(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                   const tdl_attrs *geo, int64_t hb, int64_t wb)
{
    tdl_node *in[3] = {x, w, bias};
    int32_t nin = bias ? 3 : 2;
    if (tdl_builder_check(g, "conv_transpose2d", nin, in))
        return NULL;
    tdl_attrs at = *geo;
    at.i[TDL_CONV_BIAS] = bias != NULL;
    int64_t d[4] = {x->shape.d[0], w->shape.d[1] * geo->i[TDL_CONV_GROUPS], hb, wb};
    tdl_shape out;
    tdl_shape_make(&out, 4, d);
    return tdl_node_new(g, &op_convt, NULL, nin, in, TDL_F32, &out, &at);
}

static tdl_node *conv_wgrad_node(tdl_graph *g, tdl_node *big, tdl_node *small, const tdl_attrs *geo,
                                 int64_t kh, int64_t kw)
{
    tdl_node *in[2] = {big, small};
    if (tdl_builder_check(g, "conv2d_weight_grad", 2, in))
        return NULL;
    tdl_attrs at = *geo;
    at.i[TDL_CONV_BIAS] = 0;
    int64_t d[4] = {small->shape.d[1], big->shape.d[1] / geo->i[TDL_CONV_GROUPS], kh, kw};
    tdl_shape out;
    tdl_shape_make(&out, 4, d);
    return tdl_node_new(g, &op_wgrad, NULL, 2, in, TDL_F32, &out, &at);
}

static tdl_node *conv_bias_grad_node(tdl_graph *g, tdl_node *dy)
{
    if (tdl_builder_check(g, "conv_bias_grad", 1, &dy))
        return NULL;
    /* conv -> [relu ->] max pool: dy = max_pool2d_scatter(x, v) moves each
     * value of the pooled v to one position and leaves zeros elsewhere, so
     * its per-channel sums are v's: sum the pooled tensor (a quarter of the
     * size for 2x2 pooling) instead. */
    tdl_node *pooled = tdl_max_pool_scatter_values(dy);
    if (pooled && pooled->shape.ndim == 4 && pooled->shape.d[1] == dy->shape.d[1])
        dy = pooled;
    tdl_shape out;
    tdl_shape_make(&out, 1, &dy->shape.d[1]);
    return tdl_node_new(g, &op_bgrad, NULL, 1, &dy, TDL_F32, &out, NULL);
}

/* ---- argument checks of the public builders ---- */

/* What a public builder asks for, per spatial axis (conv1d: one axis, the
 * height is a virtual 1). */
typedef struct conv_args {
    const char *op;    /* "conv2d", "conv_transpose2d", "conv1d" */
    const char *label; /* layer name or NULL */
    int transposed;
    int32_t sd; /* spatial dims: 1 or 2 */
    int64_t stride[2], pad[2], dil[2], opad[2];
    int64_t groups;
} conv_args;

/* Result of the checks: the geometry attributes and the output's spatial size. */
typedef struct conv_plan {
    tdl_attrs geo;
    int64_t out[2]; /* output height, width (conv1d: 1, length) */
} conv_plan;

#define CONV_FAIL(status, ...) (tdl_graph_sticky(g, (status), __VA_ARGS__), -1)

/* Prints "conv2d" or "conv2d 'label'" into buf. */
static const char *who(const conv_args *a, char *buf, size_t size)
{
    if (a->label)
        snprintf(buf, size, "%s '%s'", a->op, a->label);
    else
        snprintf(buf, size, "%s", a->op);
    return buf;
}

static int check_f32(tdl_graph *g, const char *op, const char *role, const tdl_node *v)
{
    if (v->dtype != TDL_F32)
        return CONV_FAIL(TDL_ERR_DTYPE, "%s: %s '%s' is %s, not f32", op, role, v->name,
                         tdl_dtype_name(v->dtype));
    return 0;
}

/* Checks x, w, bias and the arguments; fills the plan. 0 or -1 (sticky). */
static int conv_check(tdl_graph *g, const conv_args *a, tdl_node *x, tdl_node *w, tdl_node *bias,
                      conv_plan *plan)
{
    char op[300];
    who(a, op, sizeof op);
    if (check_f32(g, op, "input", x) || check_f32(g, op, "weight", w) ||
        (bias && check_f32(g, op, "bias", bias)))
        return -1;
    char xs[96], wsb[96], bs[96] = "";
    tdl_shape_str(&x->shape, xs, sizeof xs);
    tdl_shape_str(&w->shape, wsb, sizeof wsb);
    if (bias)
        tdl_shape_str(&bias->shape, bs, sizeof bs);
    int32_t rank = a->sd + 2;
    const char *layout = a->sd == 2 ? "[N, C, H, W]" : "[N, C, L]";
    if (x->shape.ndim != rank)
        return CONV_FAIL(TDL_ERR_SHAPE, "%s: input '%s' %s must be %d-D %s", op, x->name, xs,
                         (int)rank, layout);
    if (w->shape.ndim != rank)
        return CONV_FAIL(TDL_ERR_SHAPE, "%s: weight '%s' %s must be %d-D %s", op, w->name, wsb,
                         (int)rank,
                         a->transposed ? "[C_in, C_out/groups, kh, kw]"
                         : a->sd == 2  ? "[C_out, C_in/groups, kh, kw]"
                                       : "[C_out, C_in/groups, k]");
    for (int32_t i = 1; i < rank; ++i)
        if (x->shape.d[i] < 1)
            return CONV_FAIL(TDL_ERR_SHAPE,
                             "%s: input '%s' %s: only dimension 0 may be the batch; channels and "
                             "spatial sizes must be fixed",
                             op, x->name, xs);
    for (int32_t i = 0; i < rank; ++i)
        if (w->shape.d[i] < 1)
            return CONV_FAIL(TDL_ERR_SHAPE, "%s: weight '%s' %s may not have a batch dimension", op,
                             w->name, wsb);
    if (bias && (bias->shape.ndim != 1 || bias->shape.d[0] < 1))
        return CONV_FAIL(TDL_ERR_SHAPE, "%s: bias '%s' %s must be 1-D [C_out]", op, bias->name, bs);
    /* arguments */
    static const char *axis2[2] = {"height", "width"};
    for (int32_t k = 2 - a->sd; k < 2; ++k) {
        const char *ax = a->sd == 2 ? axis2[k] : "length";
        if (a->stride[k] < 1)
            return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT, "%s: stride %lld (%s) must be >= 1", op,
                             (long long)a->stride[k], ax);
        if (a->dil[k] < 1)
            return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT, "%s: dilation %lld (%s) must be >= 1", op,
                             (long long)a->dil[k], ax);
        if (a->pad[k] < 0 && a->pad[k] != TDL_PAD_SAME)
            return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT,
                             "%s: padding %lld (%s) must be >= 0 or TDL_PAD_SAME", op,
                             (long long)a->pad[k], ax);
        if (a->transposed) {
            int64_t lim = a->stride[k] > a->dil[k] ? a->stride[k] : a->dil[k];
            if (a->opad[k] < 0 || a->opad[k] >= lim)
                return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT,
                                 "%s: output padding %lld (%s) must be >= 0 and smaller than the "
                                 "stride or the dilation (%lld)",
                                 op, (long long)a->opad[k], ax, (long long)lim);
            if (a->pad[k] == TDL_PAD_SAME && a->opad[k] != 0)
                return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT,
                                 "%s: output padding %lld (%s) must be 0 with TDL_PAD_SAME", op,
                                 (long long)a->opad[k], ax);
        }
    }
    if (a->groups < 1)
        return CONV_FAIL(TDL_ERR_INVALID_ARGUMENT, "%s: groups %lld must be >= 1", op,
                         (long long)a->groups);
    /* channels */
    int64_t cin = x->shape.d[1], cout;
    if (!a->transposed) {
        cout = w->shape.d[0];
        if (cin % a->groups != 0 || cout % a->groups != 0)
            return CONV_FAIL(TDL_ERR_SHAPE,
                             "%s: groups %lld must divide the input channels (%lld, input '%s' "
                             "%s) and the output channels (%lld, weight '%s' %s)",
                             op, (long long)a->groups, (long long)cin, x->name, xs, (long long)cout,
                             w->name, wsb);
        if (w->shape.d[1] * a->groups != cin)
            return CONV_FAIL(TDL_ERR_SHAPE,
                             "%s: input '%s' %s has %lld channels, weight '%s' %s expects %lld "
                             "(%lld per group x %lld groups)",
                             op, x->name, xs, (long long)cin, w->name, wsb,
                             (long long)(w->shape.d[1] * a->groups), (long long)w->shape.d[1],
                             (long long)a->groups);
    } else {
        if (w->shape.d[0] != cin)
            return CONV_FAIL(TDL_ERR_SHAPE,
                             "%s: input '%s' %s has %lld channels, weight '%s' %s expects %lld "
                             "(its first dimension)",
                             op, x->name, xs, (long long)cin, w->name, wsb,
                             (long long)w->shape.d[0]);
        if (cin % a->groups != 0)
            return CONV_FAIL(TDL_ERR_SHAPE,
                             "%s: groups %lld must divide the input channels (%lld, input '%s' "
                             "%s)",
                             op, (long long)a->groups, (long long)cin, x->name, xs);
        cout = w->shape.d[1] * a->groups;
    }
    if (bias && bias->shape.d[0] != cout)
        return CONV_FAIL(TDL_ERR_SHAPE,
                         "%s: bias '%s' %s has %lld elements, the output has %lld channels", op,
                         bias->name, bs, (long long)bias->shape.d[0], (long long)cout);
    /* sizes */
    memset(plan, 0, sizeof *plan);
    plan->geo.i[TDL_CONV_GROUPS] = a->groups;
    for (int32_t k = 0; k < 2; ++k) {
        int64_t in = 1, kk = 1, s = 1, d = 1, p = 0, op_ = 0;
        if (k >= 2 - a->sd) {
            int32_t axis = 2 + k - (2 - a->sd);
            in = x->shape.d[axis];
            kk = w->shape.d[axis];
            s = a->stride[k];
            d = a->dil[k];
            p = a->pad[k];
            op_ = a->opad[k];
        }
        int64_t span = d * (kk - 1) + 1, before, out;
        if (!a->transposed) {
            int64_t after;
            if (p == TDL_PAD_SAME) {
                out = (in + s - 1) / s;
                int64_t total = (out - 1) * s + span - in;
                if (total < 0)
                    total = 0;
                before = total / 2;
                after = total - before;
            } else {
                before = after = p;
            }
            if (in + before + after < span)
                return CONV_FAIL(TDL_ERR_SHAPE,
                                 "%s: the kernel (%lld with dilation %lld spans %lld) is larger "
                                 "than the padded input (%lld + %lld + %lld) along the %s of "
                                 "input '%s' %s (weight '%s' %s)",
                                 op, (long long)kk, (long long)d, (long long)span, (long long)in,
                                 (long long)before, (long long)after,
                                 a->sd == 2 ? axis2[k] : "length", x->name, xs, w->name, wsb);
            out = (in + before + after - span) / s + 1;
        } else {
            if (p == TDL_PAD_SAME) {
                /* the adjoint of a "same" conv2d whose input is in * stride */
                out = in * s;
                int64_t total = span - s;
                before = total > 0 ? total / 2 : 0;
            } else {
                before = p;
                out = (in - 1) * s - 2 * p + span + op_;
            }
            if (out < 1)
                return CONV_FAIL(TDL_ERR_SHAPE,
                                 "%s: padding %lld leaves no output along the %s of input '%s' "
                                 "%s (weight '%s' %s)",
                                 op, (long long)p, a->sd == 2 ? axis2[k] : "length", x->name, xs,
                                 w->name, wsb);
        }
        plan->geo.i[TDL_CONV_SH + k] = s;
        plan->geo.i[TDL_CONV_PH + k] = before;
        plan->geo.i[TDL_CONV_DH + k] = d;
        plan->out[k] = out;
    }
    return 0;
}

/* The builders' common preamble: node checks with bias optional. */
static int preamble(tdl_graph *g, const char *op, tdl_node *x, tdl_node *w, tdl_node *bias)
{
    tdl_node *in[3] = {x, w, bias};
    return tdl_builder_check(g, op, bias ? 3 : 2, in);
}

static tdl_node *conv2d_build(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                              const conv_args *a, const char *name)
{
    if (preamble(g, a->op, x, w, bias))
        return NULL;
    conv_plan plan;
    if (conv_check(g, a, x, w, bias, &plan))
        return NULL;
    return conv_gather_node(g, x, w, bias, &plan.geo, plan.out[0], plan.out[1], name);
}

TDL_API tdl_node *tdl_conv2d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                             int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                             int32_t dilation_h, int32_t dilation_w, int32_t groups)
{
    conv_args a = {
        "conv2d", NULL,  0, 2, {stride_h, stride_w}, {pad_h, pad_w}, {dilation_h, dilation_w},
        {0, 0},   groups};
    return conv2d_build(g, x, w, bias, &a, NULL);
}

TDL_API tdl_node *tdl_conv_transpose2d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                       int32_t stride_h, int32_t stride_w, int32_t pad_h,
                                       int32_t pad_w, int32_t output_pad_h, int32_t output_pad_w,
                                       int32_t dilation_h, int32_t dilation_w, int32_t groups)
{
    conv_args a = {"conv_transpose2d",
                   NULL,
                   1,
                   2,
                   {stride_h, stride_w},
                   {pad_h, pad_w},
                   {dilation_h, dilation_w},
                   {output_pad_h, output_pad_w},
                   groups};
    if (preamble(g, a.op, x, w, bias))
        return NULL;
    conv_plan plan;
    if (conv_check(g, &a, x, w, bias, &plan))
        return NULL;
    return conv_scatter_node(g, x, w, bias, &plan.geo, plan.out[0], plan.out[1]);
}

TDL_API tdl_node *tdl_conv1d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias, int32_t stride,
                             int32_t pad, int32_t dilation, int32_t groups)
{
    conv_args a = {"conv1d", NULL, 0, 1, {1, stride}, {0, pad}, {1, dilation}, {0, 0}, groups};
    if (preamble(g, a.op, x, w, bias))
        return NULL;
    conv_plan plan;
    if (conv_check(g, &a, x, w, bias, &plan))
        return NULL;
    /* [N, C, L] -> [N, C, 1, L]; w [Co, Ci/g, k] -> [Co, Ci/g, 1, k] */
    tdl_shape xs4, ws4, ys3;
    int64_t dx[4] = {x->shape.d[0], x->shape.d[1], 1, x->shape.d[2]};
    int64_t dw[4] = {w->shape.d[0], w->shape.d[1], 1, w->shape.d[2]};
    int64_t dy[3] = {x->shape.d[0], w->shape.d[0], plan.out[1]};
    tdl_shape_make(&xs4, 4, dx);
    tdl_shape_make(&ws4, 4, dw);
    tdl_shape_make(&ys3, 3, dy);
    tdl_node *x4 = tdl_reshape_to(g, x, &xs4);
    tdl_node *w4 = tdl_reshape_to(g, w, &ws4);
    if (!x4 || !w4)
        return NULL;
    tdl_node *y = conv_gather_node(g, x4, w4, bias, &plan.geo, 1, plan.out[1], NULL);
    return y ? tdl_reshape_to(g, y, &ys3) : NULL;
}

tdl_node *tdl_conv2d_ex(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias, int32_t stride_h,
                        int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t dilation_h,
                        int32_t dilation_w, int32_t groups, const char *name)
{
    conv_args a = {
        "conv2d", name,  0, 2, {stride_h, stride_w}, {pad_h, pad_w}, {dilation_h, dilation_w},
        {0, 0},   groups};
    return conv2d_build(g, x, w, bias, &a, name);
}
