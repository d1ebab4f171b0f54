/* 2-D pooling over [N, C, H, W]: max_pool2d and avg_pool2d, with the ops their
 * gradients need. attrs.i[0..5] = kernel h, w, stride h, w, padding h, w.
 *
 * max_pool2d's gradient goes to the first maximum of each window (row-major
 * order; padding never takes part). It is written with two linear ops that
 * share the argmax rule: scatter(x, g) puts g's values at the argmax positions
 * of x (shaped like x), gather(x, h) reads h at them (shaped like the output).
 * They are each other's adjoint, so gradients of gradients work; their
 * gradient with respect to x is zero (the argmax is piecewise constant).
 *
 * avg_pool2d divides by kh * kw (padded zeros count, PyTorch's default
 * count_include_pad); its gradient avg_pool2d_backward is its adjoint, and the
 * gradient of that is avg_pool2d again.
 *
 * Every forward is threaded over the N * C planes; each plane is computed by
 * one thread in a fixed order, so results do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include <tiny-dl/layers.h>
#include <tiny-dl/ops.h>

#include "ops/op.h"

typedef struct pool_geom {
    int64_t planes; /* N * C */
    int64_t h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw;
} pool_geom;

/* Geometry from the op's attributes and the concrete input shape. */
static void geom_of(const tdl_node *n, const tdl_shape *in, pool_geom *gm)
{
    gm->planes = in->d[0] * in->d[1];
    gm->h = in->d[2];
    gm->w = in->d[3];
    gm->kh = n->attrs.i[0];
    gm->kw = n->attrs.i[1];
    gm->sh = n->attrs.i[2];
    gm->sw = n->attrs.i[3];
    gm->ph = n->attrs.i[4];
    gm->pw = n->attrs.i[5];
    gm->oh = (gm->h + 2 * gm->ph - gm->kh) / gm->sh + 1;
    gm->ow = (gm->w + 2 * gm->pw - gm->kw) / gm->sw + 1;
}

/* Index in the plane of the first maximum of window (oy, ox) (NaN wins, the
 * first one). Windows always hold at least one real element (pad <= k / 2). */
static inline int64_t window_argmax(const float *x, const pool_geom *gm, int64_t oy, int64_t ox)
{
    int64_t y0 = oy * gm->sh - gm->ph, x0 = ox * gm->sw - gm->pw;
    int64_t y1 = y0 + gm->kh, x1 = x0 + gm->kw;
    if (y0 < 0)
        y0 = 0;
    if (x0 < 0)
        x0 = 0;
    if (y1 > gm->h)
        y1 = gm->h;
    if (x1 > gm->w)
        x1 = gm->w;
    int64_t best = y0 * gm->w + x0;
    float bv = x[best];
    if (isnan(bv))
        return best;
    for (int64_t yy = y0; yy < y1; ++yy) {
        const float *row = x + yy * gm->w;
        for (int64_t xx = x0; xx < x1; ++xx) {
            float v = row[xx];
            if (v > bv) {
                bv = v;
                best = yy * gm->w + xx;
            } else if (isnan(v)) {
                return yy * gm->w + xx;
            }
        }
    }
    return best;
}

enum { POOL_MAX, POOL_SCATTER, POOL_GATHER, POOL_AVG, POOL_AVG_BACK };

typedef struct pool_job {
    int kind;
    pool_geom gm;
    const float *x; /* the pooled input (argmax source) */
    const float *v; /* values moved: scatter/gather source */
    float *y;
} pool_job;

/* The common 2x2 window with stride 2 and no padding (windows do not overlap):
 * max pooling, its scatter and its gather run as the tdlk_maxpool2x2 kernels,
 * which pick the same winner as window_argmax (the first maximum; NaN wins,
 * the first one) and leave a last odd row or column out as it does. */
static int is_2x2(const pool_geom *gm)
{
    return gm->sh == 2 && gm->sw == 2 && gm->ph == 0 && gm->pw == 0 && gm->kh == 2 && gm->kw == 2;
}

static void max_plane(const pool_geom *gm, const float *x, float *y)
{
    for (int64_t oy = 0; oy < gm->oh; ++oy)
        for (int64_t ox = 0; ox < gm->ow; ++ox)
            y[oy * gm->ow + ox] = x[window_argmax(x, gm, oy, ox)];
}

static void avg_plane(const pool_geom *gm, const float *x, float *y)
{
    float inv = 1.0f / (float)(gm->kh * gm->kw);
    for (int64_t oy = 0; oy < gm->oh; ++oy) {
        int64_t y0 = oy * gm->sh - gm->ph, y1 = y0 + gm->kh;
        if (y0 < 0)
            y0 = 0;
        if (y1 > gm->h)
            y1 = gm->h;
        for (int64_t ox = 0; ox < gm->ow; ++ox) {
            int64_t x0 = ox * gm->sw - gm->pw, x1 = x0 + gm->kw;
            if (x0 < 0)
                x0 = 0;
            if (x1 > gm->w)
                x1 = gm->w;
            float s = 0.0f;
            for (int64_t yy = y0; yy < y1; ++yy)
                for (int64_t xx = x0; xx < x1; ++xx)
                    s += x[yy * gm->w + xx];
            y[oy * gm->ow + ox] = s * inv;
        }
    }
}

/* dx (plane h x w) = sum over windows of dy / (kh kw), in output order. */
static void avg_back_plane(const pool_geom *gm, const float *dy, float *dx)
{
    float inv = 1.0f / (float)(gm->kh * gm->kw);
    memset(dx, 0, sizeof(float) * (size_t)(gm->h * gm->w));
    for (int64_t oy = 0; oy < gm->oh; ++oy) {
        int64_t y0 = oy * gm->sh - gm->ph, y1 = y0 + gm->kh;
        if (y0 < 0)
            y0 = 0;
        if (y1 > gm->h)
            y1 = gm->h;
        for (int64_t ox = 0; ox < gm->ow; ++ox) {
            int64_t x0 = ox * gm->sw - gm->pw, x1 = x0 + gm->kw;
            if (x0 < 0)
                x0 = 0;
            if (x1 > gm->w)
                x1 = gm->w;
            float v = dy[oy * gm->ow + ox] * inv;
            for (int64_t yy = y0; yy < y1; ++yy)
                for (int64_t xx = x0; xx < x1; ++xx)
                    dx[yy * gm->w + xx] += v;
        }
    }
}

static void pool_chunk(void *arg, int64_t begin, int64_t end)
{
    pool_job *j = arg;
    const pool_geom *gm = &j->gm;
    int64_t in_sz = gm->h * gm->w, out_sz = gm->oh * gm->ow;
    if (is_2x2(gm) && j->kind != POOL_AVG && j->kind != POOL_AVG_BACK) {
        int64_t np = end - begin;
        const float *x = j->x + begin * in_sz;
        if (j->kind == POOL_MAX)
            tdlk_maxpool2x2(np, gm->h, gm->w, x, j->y + begin * out_sz);
        else if (j->kind == POOL_SCATTER)
            tdlk_maxpool2x2_scatter(np, gm->h, gm->w, x, j->v + begin * out_sz,
                                    j->y + begin * in_sz);
        else
            tdlk_maxpool2x2_gather(np, gm->h, gm->w, x, j->v + begin * in_sz,
                                   j->y + begin * out_sz);
        return;
    }
    for (int64_t p = begin; p < end; ++p) {
        const float *x = j->x + p * in_sz;
        switch (j->kind) {
        case POOL_MAX: max_plane(gm, x, j->y + p * out_sz); break;
        case POOL_AVG: avg_plane(gm, x, j->y + p * out_sz); break;
        case POOL_AVG_BACK: avg_back_plane(gm, j->v + p * out_sz, j->y + p * in_sz); break;
        case POOL_SCATTER: {
            const float *g = j->v + p * out_sz;
            float *dx = j->y + p * in_sz;
            memset(dx, 0, sizeof(float) * (size_t)in_sz);
            for (int64_t oy = 0; oy < gm->oh; ++oy)
                for (int64_t ox = 0; ox < gm->ow; ++ox)
                    dx[window_argmax(x, gm, oy, ox)] += g[oy * gm->ow + ox];
            break;
        }
        case POOL_GATHER: {
            const float *h = j->v + p * in_sz;
            float *y = j->y + p * out_sz;
            for (int64_t oy = 0; oy < gm->oh; ++oy)
                for (int64_t ox = 0; ox < gm->ow; ++ox)
                    y[oy * gm->ow + ox] = h[window_argmax(x, gm, oy, ox)];
            break;
        }
        }
    }
}

static void pool_run(tdl_exec *ex, pool_job *j)
{
    const pool_geom *gm = &j->gm;
    int64_t work = gm->oh * gm->ow * gm->kh * gm->kw + gm->h * gm->w;
    int64_t grain = TDL_ELEMWISE_GRAIN / (work > 0 ? work : 1) + 1;
    tdl_parallel_for(ex->kenv.pool, gm->planes, grain, pool_chunk, j);
}

static tdl_status max_fwd(tdl_exec *ex, tdl_node *n)
{
    pool_job j;
    j.kind = POOL_MAX;
    geom_of(n, &n->inputs[0]->value_shape, &j.gm);
    j.x = tdl_f32(n->inputs[0]);
    j.v = NULL;
    j.y = tdl_f32(n);
    pool_run(ex, &j);
    return TDL_OK;
}

/* scatter(x, g): shaped like x; gather(x, h): shaped like the pooled output. */
static tdl_status scatter_fwd(tdl_exec *ex, tdl_node *n)
{
    pool_job j;
    j.kind = POOL_SCATTER;
    geom_of(n, &n->inputs[0]->value_shape, &j.gm);
    j.x = tdl_f32(n->inputs[0]);
    j.v = tdl_f32(n->inputs[1]);
    j.y = tdl_f32(n);
    pool_run(ex, &j);
    return TDL_OK;
}

static tdl_status gather_fwd(tdl_exec *ex, tdl_node *n)
{
    pool_job j;
    j.kind = POOL_GATHER;
    geom_of(n, &n->inputs[0]->value_shape, &j.gm);
    j.x = tdl_f32(n->inputs[0]);
    j.v = tdl_f32(n->inputs[1]);
    j.y = tdl_f32(n);
    pool_run(ex, &j);
    return TDL_OK;
}

static tdl_status avg_fwd(tdl_exec *ex, tdl_node *n)
{
    pool_job j;
    j.kind = POOL_AVG;
    geom_of(n, &n->inputs[0]->value_shape, &j.gm);
    j.x = tdl_f32(n->inputs[0]);
    j.v = NULL;
    j.y = tdl_f32(n);
    pool_run(ex, &j);
    return TDL_OK;
}

/* avg_pool2d_backward(dy): its own value shape is the pooled input's. */
static tdl_status avg_back_fwd(tdl_exec *ex, tdl_node *n)
{
    pool_job j;
    j.kind = POOL_AVG_BACK;
    geom_of(n, &n->value_shape, &j.gm);
    j.x = NULL;
    j.v = tdl_f32(n->inputs[0]);
    j.y = tdl_f32(n);
    pool_run(ex, &j);
    return TDL_OK;
}

static tdl_node *scatter_build(tdl_graph *g, const tdl_node *pool, tdl_node *x, tdl_node *v);
static tdl_node *gather_build(tdl_graph *g, const tdl_node *pool, tdl_node *x, tdl_node *v,
                              const tdl_shape *out);
static tdl_node *avg_build(tdl_graph *g, const tdl_attrs *at, tdl_node *x, const tdl_shape *out);
static tdl_node *avg_back_build(tdl_graph *g, const tdl_attrs *at, tdl_node *dy,
                                const tdl_shape *x_shape);

/* Max pooling of a relu (conv -> relu -> pool): relu's mask is applied to
 * dy here, on the pooled size, before the scatter. At the argmax position
 * relu's output is > 0 exactly where the pooled output is, and the scatter
 * puts zeros everywhere else, so the result is already relu's gradient and
 * relu's rule passes it on (unary.c) instead of masking the full-sized
 * tensor again. */
static int max_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *x = n->inputs[0];
    if (x->op->id == TDL_OPID_RELU && !(dy = tdl_relu_grad(g, n, dy)))
        return -1;
    dx[0] = scatter_build(g, n, x, dy);
    return dx[0] ? 0 : -1;
}

static int scatter_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* linear in g: the adjoint reads dy at the argmax positions */
    dx[1] = gather_build(g, n, n->inputs[0], dy, &n->inputs[1]->shape);
    return dx[1] ? 0 : -1;
}

static int gather_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[1] = scatter_build(g, n, n->inputs[0], dy);
    return dx[1] ? 0 : -1;
}

static int avg_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = avg_back_build(g, &n->attrs, dy, &n->inputs[0]->shape);
    return dx[0] ? 0 : -1;
}

static int avg_back_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = avg_build(g, &n->attrs, dy, &n->inputs[0]->shape);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_max_pool = {TDL_OPID_MAX_POOL2D, "max_pool2d", 0, max_fwd, max_bwd};
static const tdl_op_def op_max_scatter = {TDL_OPID_MAX_POOL2D_SCATTER, "max_pool2d_scatter", 0,
                                          scatter_fwd, scatter_bwd};
static const tdl_op_def op_max_gather = {TDL_OPID_MAX_POOL2D_GATHER, "max_pool2d_gather", 0,
                                         gather_fwd, gather_bwd};
static const tdl_op_def op_avg_pool = {TDL_OPID_AVG_POOL2D, "avg_pool2d", 0, avg_fwd, avg_bwd};
static const tdl_op_def op_avg_back = {TDL_OPID_AVG_POOL2D_BACKWARD, "avg_pool2d_backward", 0,
                                       avg_back_fwd, avg_back_bwd};

tdl_node *tdl_max_pool_scatter_values(const tdl_node *dy)
{
    return dy->op == &op_max_scatter ? dy->inputs[1] : NULL;
}

int tdl_max_pool_grad_is_relu_masked(const tdl_node *dy, const tdl_node *r)
{
    const tdl_node *v = tdl_max_pool_scatter_values(dy);
    return v && dy->inputs[0] == r && v->op->id == TDL_OPID_RELU_GRAD &&
           v->inputs[0]->op == &op_max_pool && v->inputs[0]->inputs[0] == r;
}

static tdl_node *scatter_build(tdl_graph *g, const tdl_node *pool, tdl_node *x, tdl_node *v)
{
    tdl_node *in[2] = {x, v};
    if (tdl_builder_check(g, "max_pool2d_scatter", 2, in))
        return NULL;
    return tdl_node_new(g, &op_max_scatter, NULL, 2, in, TDL_F32, &x->shape, &pool->attrs);
}

static tdl_node *gather_build(tdl_graph *g, const tdl_node *pool, tdl_node *x, tdl_node *v,
                              const tdl_shape *out)
{
    tdl_node *in[2] = {x, v};
    if (tdl_builder_check(g, "max_pool2d_gather", 2, in))
        return NULL;
    return tdl_node_new(g, &op_max_gather, NULL, 2, in, TDL_F32, out, &pool->attrs);
}

static tdl_node *avg_build(tdl_graph *g, const tdl_attrs *at, tdl_node *x, const tdl_shape *out)
{
    if (tdl_builder_check(g, "avg_pool2d", 1, &x))
        return NULL;
    return tdl_node_new(g, &op_avg_pool, NULL, 1, &x, TDL_F32, out, at);
}

static tdl_node *avg_back_build(tdl_graph *g, const tdl_attrs *at, tdl_node *dy,
                                const tdl_shape *x_shape)
{
    if (tdl_builder_check(g, "avg_pool2d_backward", 1, &dy))
        return NULL;
    return tdl_node_new(g, &op_avg_back, NULL, 1, &dy, TDL_F32, x_shape, at);
}

/* Checks the arguments of a 2-D pooling; fills attrs and the output shape. */
static int pool_check(tdl_graph *g, const char *op, tdl_node *x, int32_t kh, int32_t kw, int32_t sh,
                      int32_t sw, int32_t ph, int32_t pw, tdl_attrs *at, tdl_shape *out)
{
    if (tdl_builder_check(g, op, 1, &x))
        return -1;
    if (x->dtype != TDL_F32) {
        tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s, not f32", op, x->name,
                         tdl_dtype_name(x->dtype));
        return -1;
    }
    char s[96];
    tdl_shape_str(&x->shape, s, sizeof s);
    if (x->shape.ndim != 4 || x->shape.d[1] < 1 || x->shape.d[2] < 1 || x->shape.d[3] < 1) {
        tdl_graph_sticky(g, TDL_ERR_SHAPE,
                         "%s: input '%s' has shape %s; expected [N, C, H, W] with only N "
                         "symbolic",
                         op, x->name, s);
        return -1;
    }
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s '%s': kernel %dx%d and stride %dx%d must be >= 1, padding %dx%d "
                         ">= 0",
                         op, x->name, (int)kh, (int)kw, (int)sh, (int)sw, (int)ph, (int)pw);
        return -1;
    }
    if (2 * (int64_t)ph > kh || 2 * (int64_t)pw > kw) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s '%s': padding %dx%d is more than half the kernel %dx%d", op, x->name,
                         (int)ph, (int)pw, (int)kh, (int)kw);
        return -1;
    }
    int64_t hp = x->shape.d[2] + 2 * (int64_t)ph, wp = x->shape.d[3] + 2 * (int64_t)pw;
    if (kh > hp || kw > wp) {
        tdl_graph_sticky(g, TDL_ERR_SHAPE,
                         "%s '%s': kernel %dx%d is larger than the padded input %lldx%lld "
                         "(input %s, padding %dx%d)",
                         op, x->name, (int)kh, (int)kw, (long long)hp, (long long)wp, s, (int)ph,
                         (int)pw);
        return -1;
    }
    memset(at, 0, sizeof *at);
    at->i[0] = kh;
    at->i[1] = kw;
    at->i[2] = sh;
    at->i[3] = sw;
    at->i[4] = ph;
    at->i[5] = pw;
    *out = x->shape;
    out->d[2] = (hp - kh) / sh + 1;
    out->d[3] = (wp - kw) / sw + 1;
    return 0;
}

TDL_API tdl_node *tdl_max_pool2d(tdl_graph *g, tdl_node *x, int32_t kernel_h, int32_t kernel_w,
                                 int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w)
{
    tdl_attrs at;
    tdl_shape out;
    if (pool_check(g, "max_pool2d", x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, &at,
                   &out))
        return NULL;
    return tdl_node_new(g, &op_max_pool, NULL, 1, &x, TDL_F32, &out, &at);
}

TDL_API tdl_node *tdl_avg_pool2d(tdl_graph *g, tdl_node *x, int32_t kernel_h, int32_t kernel_w,
                                 int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w)
{
    tdl_attrs at;
    tdl_shape out;
    if (pool_check(g, "avg_pool2d", x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, &at,
                   &out))
        return NULL;
    return avg_build(g, &at, x, &out);
}
