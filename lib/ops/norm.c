/* Normalisation ops: batch-norm statistics and application, layer norm, and
 * the training-mode flag their gradient rules use.
 *
 * Batch norm is two fused ops:
 *   S = batch_norm_stats(x, running_mean, running_var)  [2, C]
 *   y = batch_norm(x, S[0], S[1], weight, bias)
 * batch_norm_stats gives the batch's mean and biased variance in training mode
 * (updating the running buffers, once per step) and the buffers in eval mode.
 * batch_norm's gradient rule treats mean and var as inputs; batch_norm_stats'
 * rule is mode-aware through a flag node t (1 training, 0 eval):
 *   dx  = t (dmean + 2 dvar (x - mean)) / count     (per channel)
 *   drm = (1 - t) dmean,  drv = (1 - t) dvar
 * so in training mode the chain rule through S gives the full batch-statistics
 * gradient. The full-size work of these rules is done by two fused linear ops,
 *   batch_norm_reduce(g, x, m) = [sum g; sum g (x - m)] per channel  [2, C]
 *   batch_norm_expand(x, m, a, b) = a[c] + b[c] (x - m[c])           like x
 * whose own gradient rules use each other (and mul), so every rule is made of
 * ops and gradients can be differentiated again.
 *
 * Forwards are threaded (statistics over channels, the rest over N * C planes
 * or rows); each value is computed by one thread in a fixed order, so results
 * do not depend on the thread count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/norm.h"
#include "ops/op.h"

/* ---- training flag ---- */

static tdl_status flag_fwd(tdl_exec *ex, tdl_node *n)
{
    *tdl_f32(n) = ex->training ? 1.0f : 0.0f;
    return TDL_OK;
}

static const tdl_op_def op_flag = {TDL_OPID_TRAINING_FLAG, "training_flag", 0, flag_fwd, NULL};

tdl_node *tdl_training_flag(tdl_graph *g)
{
    if (tdl_builder_check(g, "training_flag", 0, NULL))
        return NULL;
    tdl_shape s;
    memset(&s, 0, sizeof s);
    tdl_node *n = tdl_node_new(g, &op_flag, NULL, 0, NULL, TDL_F32, &s, NULL);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}

/* [C, 1, ...]: a per-channel vector shaped to broadcast against x [N, C, ...]. */
static void channel_shape(const tdl_node *x, tdl_shape *cs)
{
    memset(cs, 0, sizeof *cs);
    cs->ndim = x->shape.ndim - 1;
    cs->d[0] = x->shape.d[1];
    for (int32_t k = 1; k < cs->ndim; ++k)
        cs->d[k] = 1;
}

static void vec_shape(int64_t c, tdl_shape *s)
{
    memset(s, 0, sizeof *s);
    s->ndim = 1;
    s->d[0] = c;
}

/* Row `row` of a [2, C] node as a node shaped `to`. */
static tdl_node *stat_row(tdl_graph *g, tdl_node *s, int64_t row, const tdl_shape *to)
{
    return tdl_reshape_to(g, tdl_slice(g, s, 0, row, row + 1), to);
}

/* ---- per-channel sums over [N, C, S] ---- */

/* Adds to s1, s2 the sums over one plane of len values: with b == NULL,
 * (a - center) and (a - center)^2; otherwise a and a * (b - center). Float
 * partial sums in 16 lanes (vectorisable), flushed to double every block, all
 * in a fixed order. */
#define LANES 16
#define FLUSH 4096
static void plane_sums(const float *a, const float *b, float center, int64_t len, double *s1,
                       double *s2)
{
    if (len < 4 * LANES) { /* short runs: the lanes would cost more than they save */
        double t1 = 0.0, t2 = 0.0;
        for (int64_t i = 0; i < len; ++i) {
            double u = a[i], v = b ? (double)b[i] - center : u - center;
            if (b) {
                t1 += u;
                t2 += u * v;
            } else {
                t1 += v;
                t2 += v * v;
            }
        }
        *s1 += t1;
        *s2 += t2;
        return;
    }
    for (int64_t base = 0; base < len; base += FLUSH) {
        int64_t end = base + FLUSH < len ? base + FLUSH : len;
        float p1[LANES] = {0}, p2[LANES] = {0};
        int64_t i = base;
        if (!b) {
            for (; i + LANES <= end; i += LANES)
                for (int j = 0; j < LANES; ++j) {
                    float d = a[i + j] - center;
                    p1[j] += d;
                    p2[j] += d * d;
                }
            for (; i < end; ++i) {
                float d = a[i] - center;
                p1[0] += d;
                p2[0] += d * d;
            }
        } else {
            for (; i + LANES <= end; i += LANES)
                for (int j = 0; j < LANES; ++j) {
                    p1[j] += a[i + j];
                    p2[j] += a[i + j] * (b[i + j] - center);
                }
            for (; i < end; ++i) {
                p1[0] += a[i];
                p2[0] += a[i] * (b[i] - center);
            }
        }
        for (int j = 0; j < LANES; ++j) {
            *s1 += p1[j];
            *s2 += p2[j];
        }
    }
}

typedef struct chan_job {
    const float *a, *b;  /* [N, C, S]; b may be NULL */
    const float *center; /* [C], or NULL: the channel's first value */
    float *out;          /* [2, C] */
    int64_t n, c, s;
    int stats; /* 1: mean and biased variance of a; 0: sums of a and a (b - center) */
} chan_job;

static void chan_chunk(void *arg, int64_t begin, int64_t end)
{
    chan_job *j = arg;
    for (int64_t c = begin; c < end; ++c) {
        /* shifting by a value of the channel keeps the one-pass variance exact
         * enough whatever the mean */
        float center = j->center ? j->center[c] : j->a[c * j->s];
        double s1 = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < j->n; ++i) {
            int64_t off = (i * j->c + c) * j->s;
            plane_sums(j->a + off, j->b ? j->b + off : NULL, center, j->s, &s1, &s2);
        }
        if (j->stats) {
            double count = (double)(j->n * j->s);
            double m = s1 / count, v = s2 / count - m * m;
            j->out[c] = (float)(center + m);
            j->out[j->c + c] = (float)(v > 0.0 ? v : 0.0);
        } else {
            j->out[c] = (float)s1;
            j->out[j->c + c] = (float)s2;
        }
    }
}

static void chan_run(tdl_exec *ex, chan_job *j)
{
    int64_t per = j->n * j->s;
    tdl_parallel_for(ex->kenv.pool, j->c, TDL_ELEMWISE_GRAIN / (per ? per : 1) + 1, chan_chunk, j);
}

/* N, C, S of a concrete [N, C, ...] shape. */
static void ncs(const tdl_shape *xs, int64_t *n, int64_t *c, int64_t *s)
{
    *n = xs->d[0];
    *c = xs->d[1];
    *s = (*n > 0 && *c > 0) ? tdl_shape_numel(xs) / ((*n) * (*c)) : 0;
}

/* ---- batch_norm_reduce(g, x, mean) = [sum g; sum g (x - mean)] per channel ---- */

static tdl_node *bn_reduce(tdl_graph *g, tdl_node *a, tdl_node *x, tdl_node *mean);
static tdl_node *bn_expand(tdl_graph *g, tdl_node *x, tdl_node *mean, tdl_node *a, tdl_node *b);

static tdl_status reduce_fwd(tdl_exec *ex, tdl_node *n)
{
    chan_job j;
    j.a = tdl_f32(n->inputs[0]);
    j.b = tdl_f32(n->inputs[1]);
    j.center = tdl_f32(n->inputs[2]);
    j.out = tdl_f32(n);
    j.stats = 0;
    ncs(&n->inputs[1]->value_shape, &j.n, &j.c, &j.s);
    chan_run(ex, &j);
    return TDL_OK;
}

static int reduce_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *a = n->inputs[0], *x = n->inputs[1], *mean = n->inputs[2];
    tdl_shape cs, vs;
    channel_shape(x, &cs);
    vec_shape(x->shape.d[1], &vs);
    tdl_node *d0 = stat_row(g, dy, 0, &vs), *d1 = stat_row(g, dy, 1, &vs);
    dx[0] = bn_expand(g, x, mean, d0, d1);
    dx[1] = tdl_mul(g, a, tdl_reshape_to(g, d1, &cs));
    dx[2] = tdl_affine_scalar(g, tdl_mul(g, d1, stat_row(g, n, 0, &vs)), -1.0f, 0.0f);
    return dx[0] && dx[1] && dx[2] ? 0 : -1;
}

static const tdl_op_def op_reduce = {TDL_OPID_BATCH_NORM_REDUCE, "batch_norm_reduce", 0, reduce_fwd,
                                     reduce_bwd};

static tdl_node *bn_reduce(tdl_graph *g, tdl_node *a, tdl_node *x, tdl_node *mean)
{
    tdl_node *in[3] = {a, x, mean};
    if (tdl_builder_check(g, "batch_norm_reduce", 3, in))
        return NULL;
    tdl_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = 2;
    s.d[0] = 2;
    s.d[1] = x->shape.d[1];
    return tdl_node_new(g, &op_reduce, NULL, 3, in, TDL_F32, &s, NULL);
}

/* ---- batch_norm_expand(x, mean, a, b) = a[c] + b[c] (x - mean[c]) ---- */

typedef struct expand_job {
    const float *x, *mean, *a, *b;
    float *y;
    int64_t c, s;
} expand_job;

static void expand_chunk(void *arg, int64_t begin, int64_t end)
{
    expand_job *j = arg;
    for (int64_t p = begin; p < end; ++p) {
        int64_t c = p % j->c;
        float m = j->mean[c], a = j->a[c], b = j->b[c];
        const float *x = j->x + p * j->s;
        float *y = j->y + p * j->s;
        for (int64_t k = 0; k < j->s; ++k)
            y[k] = a + b * (x[k] - m);
    }
}

static tdl_status expand_fwd(tdl_exec *ex, tdl_node *n)
{
    expand_job j;
    int64_t nn;
    ncs(&n->value_shape, &nn, &j.c, &j.s);
    j.x = tdl_f32(n->inputs[0]);
    j.mean = tdl_f32(n->inputs[1]);
    j.a = tdl_f32(n->inputs[2]);
    j.b = tdl_f32(n->inputs[3]);
    j.y = tdl_f32(n);
    tdl_parallel_for(ex->kenv.pool, nn * j.c, TDL_ELEMWISE_GRAIN / (j.s ? j.s : 1) + 1,
                     expand_chunk, &j);
    return TDL_OK;
}

static int expand_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *x = n->inputs[0], *mean = n->inputs[1], *b = n->inputs[3];
    tdl_shape cs, vs;
    channel_shape(x, &cs);
    vec_shape(x->shape.d[1], &vs);
    tdl_node *r = bn_reduce(g, dy, x, mean);
    tdl_node *r0 = stat_row(g, r, 0, &vs);
    dx[0] = tdl_mul(g, dy, tdl_reshape_to(g, b, &cs));
    dx[1] = tdl_affine_scalar(g, tdl_mul(g, b, r0), -1.0f, 0.0f);
    dx[2] = r0;
    dx[3] = stat_row(g, r, 1, &vs);
    return dx[0] && dx[1] && dx[2] && dx[3] ? 0 : -1;
}

static const tdl_op_def op_expand = {TDL_OPID_BATCH_NORM_EXPAND, "batch_norm_expand", 0, expand_fwd,
                                     expand_bwd};

static tdl_node *bn_expand(tdl_graph *g, tdl_node *x, tdl_node *mean, tdl_node *a, tdl_node *b)
{
    tdl_node *in[4] = {x, mean, a, b};
    if (tdl_builder_check(g, "batch_norm_expand", 4, in))
        return NULL;
    return tdl_node_new(g, &op_expand, NULL, 4, in, TDL_F32, &x->shape, NULL);
}

/* ---- batch_norm_stats: attrs.f[0] = momentum, i[0] = last step updated ---- */

static tdl_status stats_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *x = n->inputs[0];
    float *rm = tdl_f32(n->inputs[1]), *rv = tdl_f32(n->inputs[2]);
    float *out = tdl_f32(n);
    chan_job j;
    ncs(&x->value_shape, &j.n, &j.c, &j.s);
    int64_t c = j.c;
    if (!ex->training) {
        memcpy(out, rm, sizeof(float) * (size_t)c);
        memcpy(out + c, rv, sizeof(float) * (size_t)c);
        return TDL_OK;
    }
    int64_t count = j.n * j.s;
    if (count < 2) {
        char s[96];
        tdl_shape_str(&x->value_shape, s, sizeof s);
        return tdl_graph_fail(ex->g, TDL_ERR_SHAPE,
                              "batch_norm '%s': training needs more than one value per channel "
                              "(input '%s' is %s); use eval mode for single samples",
                              n->name, x->name, s);
    }
    j.a = tdl_f32(x);
    j.b = NULL;
    j.center = NULL;
    j.out = out;
    j.stats = 1;
    chan_run(ex, &j);
    /* the running buffers move once per step: tdl_backward() may recompute the
     * forward with the same step, which must not count twice */
    if ((uint64_t)n->attrs.i[0] != ex->step) {
        n->attrs.i[0] = (int64_t)ex->step;
        float m = n->attrs.f[0];
        float unbias = (float)((double)count / (double)(count - 1));
        for (int64_t k = 0; k < c; ++k) {
            rm[k] = (1.0f - m) * rm[k] + m * out[k];
            rv[k] = (1.0f - m) * rv[k] + m * (out[c + k] * unbias);
        }
    }
    return TDL_OK;
}

static int stats_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* training: mean = sum(x) / count, var = sum((x - mean)^2) / count, so
     * dx = (dmean + 2 dvar (x - mean)) / count (the mean's effect on var
     * vanishes); eval: the stats are the buffers. t selects at run time. */
    tdl_node *x = n->inputs[0];
    tdl_shape vs;
    vec_shape(x->shape.d[1], &vs);
    tdl_node *t = tdl_training_flag(g);
    int64_t known = 1, sym = 0;
    for (int32_t k = 0; k < x->shape.ndim; ++k) {
        if (k == 1)
            continue;
        if (x->shape.d[k] < 0)
            sym = -x->shape.d[k];
        else
            known *= x->shape.d[k];
    }
    tdl_node *dmean = stat_row(g, dy, 0, &vs), *dvar = stat_row(g, dy, 1, &vs);
    tdl_node *a = tdl_mul(g, tdl_scale_by_count(g, dmean, known, sym), t);
    tdl_node *b =
        tdl_mul(g, tdl_scale_by_count(g, tdl_affine_scalar(g, dvar, 2.0f, 0.0f), known, sym), t);
    dx[0] = bn_expand(g, x, stat_row(g, n, 0, &vs), a, b);
    tdl_node *eval = tdl_affine_scalar(g, t, -1.0f, 1.0f);
    dx[1] = tdl_mul(g, dmean, eval);
    dx[2] = tdl_mul(g, dvar, eval);
    return dx[0] && dx[1] && dx[2] ? 0 : -1;
}

static const tdl_op_def op_stats = {TDL_OPID_BATCH_NORM_STATS, "batch_norm_stats", 0, stats_fwd,
                                    stats_bwd};

tdl_node *tdl_bn_stats(tdl_graph *g, tdl_node *x, tdl_node *rm, tdl_node *rv, float momentum,
                       const char *name)
{
    tdl_node *in[3] = {x, rm, rv};
    if (tdl_builder_check(g, "batch_norm_stats", 3, in))
        return NULL;
    tdl_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = 2;
    s.d[0] = 2;
    s.d[1] = x->shape.d[1];
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = momentum;
    return tdl_node_new(g, &op_stats, name, 3, in, TDL_F32, &s, &at);
}

/* ---- batch_norm (application): attrs.f[0] = eps ---- */

typedef struct apply_job {
    const float *x, *mean, *var, *w, *b;
    float *y;
    int64_t c, spatial;
    float eps;
} apply_job;

static void apply_chunk(void *arg, int64_t begin, int64_t end)
{
    apply_job *j = arg;
    for (int64_t p = begin; p < end; ++p) {
        int64_t c = p % j->c;
        float m = j->mean[c];
        float a = j->w[c] / sqrtf(j->var[c] + j->eps);
        float b = j->b[c];
        const float *x = j->x + p * j->spatial;
        float *y = j->y + p * j->spatial;
        for (int64_t k = 0; k < j->spatial; ++k)
            y[k] = (x[k] - m) * a + b;
    }
}

static tdl_status apply_fwd(tdl_exec *ex, tdl_node *n)
{
    apply_job j;
    int64_t nn;
    ncs(&n->inputs[0]->value_shape, &nn, &j.c, &j.spatial);
    j.x = tdl_f32(n->inputs[0]);
    j.mean = tdl_f32(n->inputs[1]);
    j.var = tdl_f32(n->inputs[2]);
    j.w = tdl_f32(n->inputs[3]);
    j.b = tdl_f32(n->inputs[4]);
    j.y = tdl_f32(n);
    j.eps = n->attrs.f[0];
    tdl_parallel_for(ex->kenv.pool, nn * j.c, TDL_ELEMWISE_GRAIN / (j.spatial ? j.spatial : 1) + 1,
                     apply_chunk, &j);
    return TDL_OK;
}

static int apply_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* y = (x - mean) w / s + b, s = sqrt(var + eps) */
    tdl_node *x = n->inputs[0], *mean = n->inputs[1], *var = n->inputs[2], *w = n->inputs[3];
    tdl_shape cs, vs;
    channel_shape(x, &cs);
    vec_shape(x->shape.d[1], &vs);
    tdl_node *s = tdl_sqrt(g, tdl_affine_scalar(g, var, 1.0f, n->attrs.f[0]));
    tdl_node *winv = tdl_div(g, w, s);
    dx[0] = tdl_mul(g, dy, tdl_reshape_to(g, winv, &cs));
    tdl_node *r = bn_reduce(g, dy, x, mean);
    tdl_node *sdy = stat_row(g, r, 0, &vs);   /* sum dy */
    tdl_node *sdyxc = stat_row(g, r, 1, &vs); /* sum dy (x - mean) */
    dx[1] = tdl_affine_scalar(g, tdl_mul(g, sdy, winv), -1.0f, 0.0f);
    dx[2] =
        tdl_affine_scalar(g, tdl_div(g, tdl_mul(g, sdyxc, winv), tdl_mul(g, s, s)), -0.5f, 0.0f);
    dx[3] = tdl_div(g, sdyxc, s);
    dx[4] = sdy;
    return dx[0] && dx[1] && dx[2] && dx[3] && dx[4] ? 0 : -1;
}

static const tdl_op_def op_apply = {TDL_OPID_BATCH_NORM, "batch_norm", 0, apply_fwd, apply_bwd};

tdl_node *tdl_bn_apply(tdl_graph *g, tdl_node *x, tdl_node *mean, tdl_node *var, tdl_node *w,
                       tdl_node *b, float eps)
{
    tdl_node *in[5] = {x, mean, var, w, b};
    if (tdl_builder_check(g, "batch_norm", 5, in))
        return NULL;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = eps;
    return tdl_node_new(g, &op_apply, NULL, 5, in, TDL_F32, &x->shape, &at);
}

/* ---- layer_norm: attrs.i[0] = n_axes, f[0] = eps ---- */

typedef struct ln_job {
    const float *x, *w, *b;
    float *y;
    int64_t d;
    float eps;
} ln_job;

static void ln_chunk(void *arg, int64_t begin, int64_t end)
{
    ln_job *j = arg;
    for (int64_t r = begin; r < end; ++r) {
        const float *x = j->x + r * j->d;
        float *y = j->y + r * j->d;
        /* one pass, shifted by the row's first value (see chan_chunk) */
        double s1 = 0.0, s2 = 0.0;
        plane_sums(x, NULL, x[0], j->d, &s1, &s2);
        double mean = s1 / (double)j->d, v = s2 / (double)j->d - mean * mean;
        float inv = (float)(1.0 / sqrt((v > 0.0 ? v : 0.0) + (double)j->eps));
        float m = (float)(x[0] + mean);
        for (int64_t k = 0; k < j->d; ++k)
            y[k] = (x[k] - m) * inv * j->w[k] + j->b[k];
    }
}

static tdl_status ln_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_shape *xs = &n->inputs[0]->value_shape;
    ln_job j;
    j.x = tdl_f32(n->inputs[0]);
    j.w = tdl_f32(n->inputs[1]);
    j.b = tdl_f32(n->inputs[2]);
    j.y = tdl_f32(n);
    j.eps = n->attrs.f[0];
    j.d = tdl_numel(n->inputs[1]);
    int64_t rows = tdl_shape_numel(xs) / j.d;
    tdl_parallel_for(ex->kenv.pool, rows, TDL_ELEMWISE_GRAIN / j.d + 1, ln_chunk, &j);
    return TDL_OK;
}

static int ln_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *x = n->inputs[0], *w = n->inputs[1], *b = n->inputs[2];
    int32_t na = (int32_t)n->attrs.i[0];
    int32_t axes[TDL_MAX_DIMS];
    for (int32_t k = 0; k < na; ++k)
        axes[k] = x->shape.ndim - na + k;
    /* xhat = (x - mean) / s, s = sqrt(var + eps), rebuilt from ops so that the
     * rule can be differentiated again */
    tdl_node *mu = tdl_mean(g, x, na, axes, 1);
    tdl_node *xc = tdl_sub(g, x, mu);
    tdl_node *var = tdl_mean(g, tdl_mul(g, xc, xc), na, axes, 1);
    tdl_node *s = tdl_sqrt(g, tdl_affine_scalar(g, var, 1.0f, n->attrs.f[0]));
    tdl_node *xhat = tdl_div(g, xc, s);
    dx[1] = tdl_sum_to(g, tdl_mul(g, dy, xhat), &w->shape);
    dx[2] = tdl_sum_to(g, dy, &b->shape);
    /* dx = (gx - mean(gx) - xhat mean(gx xhat)) / s with gx = dy * w */
    tdl_node *gx = tdl_mul(g, dy, w);
    tdl_node *m1 = tdl_mean(g, gx, na, axes, 1);
    tdl_node *m2 = tdl_mean(g, tdl_mul(g, gx, xhat), na, axes, 1);
    dx[0] = tdl_div(g, tdl_sub(g, tdl_sub(g, gx, m1), tdl_mul(g, xhat, m2)), s);
    return dx[0] && dx[1] && dx[2] ? 0 : -1;
}

static const tdl_op_def op_ln = {TDL_OPID_LAYER_NORM, "layer_norm", 0, ln_fwd, ln_bwd};

tdl_node *tdl_layer_norm_op(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *b, int32_t n_axes,
                            float eps)
{
    tdl_node *in[3] = {x, w, b};
    if (tdl_builder_check(g, "layer_norm", 3, in))
        return NULL;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = n_axes;
    at.f[0] = eps;
    return tdl_node_new(g, &op_ln, NULL, 3, in, TDL_F32, &x->shape, &at);
}
