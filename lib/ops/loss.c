/* Losses: softmax cross-entropy (per row, then a mean), binary cross-entropy
 * on logits, mean squared error. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/op.h"

/* ---- per-row cross-entropy: attrs.f[0] = smoothing ---- */

static tdl_status check_labels(tdl_exec *ex, const tdl_node *n, const int32_t *y, int64_t rows,
                               int64_t classes)
{
    for (int64_t r = 0; r < rows; ++r)
        if (y[r] < 0 || y[r] >= classes)
            return tdl_graph_fail(ex->g, TDL_ERR_INVALID_ARGUMENT,
                                  "%s '%s': label %d of row %lld is outside [0, %lld)", n->op->name,
                                  n->name, (int)y[r], (long long)r, (long long)classes);
    return TDL_OK;
}

typedef struct xent_job {
    const float *x;
    const int32_t *y;
    float *out;
    int64_t c;
    float eps;
} xent_job;

/* Rows [r0, r1): each row's loss depends on that row alone, so any split over
 * the threads gives the same bits. */
static void xent_rows(void *arg, int64_t r0, int64_t r1)
{
    const xent_job *j = arg;
    int64_t c = j->c;
    double eps = j->eps;
    for (int64_t r = r0; r < r1; ++r) {
        const float *row = j->x + r * c;
        float mx = -INFINITY;
        double sum_z = 0;
        for (int64_t k = 0; k < c; ++k) {
            mx = row[k] > mx ? row[k] : mx;
            sum_z += row[k];
        }
        double s = 0;
        for (int64_t k = 0; k < c; ++k)
            s += exp((double)row[k] - mx);
        double lse = mx + log(s);
        j->out[r] = (float)(lse - (1.0 - eps) * row[j->y[r]] - eps / (double)c * sum_z);
    }
}

static tdl_status xent_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *z = n->inputs[0];
    int64_t rows = z->value_shape.d[0], c = z->value_shape.d[1];
    const int32_t *y = n->inputs[1]->data;
    tdl_status st = check_labels(ex, n, y, rows, c);
    if (st != TDL_OK)
        return st;
    xent_job j = {tdl_f32(z), y, tdl_f32(n), c, n->attrs.f[0]};
    /* exp() per element is ~20x the cost of an element-wise op */
    tdl_parallel_for(ex->kenv.pool, rows, TDL_ELEMWISE_GRAIN / (20 * c) + 1, xent_rows, &j);
    return TDL_OK;
}

static int xent_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* d loss_r / d z = softmax(z_r) - target_r */
    tdl_node *z = n->inputs[0];
    tdl_node *target = tdl_smooth_onehot(g, n->inputs[1], z->shape.d[1], n->attrs.f[0]);
    int64_t col[2] = {-1, 1};
    tdl_node *scale = tdl_reshape(g, dy, 2, col);
    dx[0] = tdl_mul(g, tdl_sub(g, tdl_softmax(g, z, -1), target), scale);
    dx[1] = NULL;
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_xent = {TDL_OPID_XENT_ROWS, "cross_entropy_rows", 0, xent_fwd, xent_bwd};

static tdl_status onehot_fwd(tdl_exec *ex, tdl_node *n)
{
    int64_t rows = n->value_shape.d[0], c = n->value_shape.d[1];
    const int32_t *y = n->inputs[0]->data;
    tdl_status st = check_labels(ex, n, y, rows, c);
    if (st != TDL_OK)
        return st;
    float eps = n->attrs.f[0];
    float off = eps / (float)c, on = 1.0f - eps + off;
    float *t = tdl_f32(n);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < c; ++k)
            t[r * c + k] = k == y[r] ? on : off;
    return TDL_OK;
}

static const tdl_op_def op_onehot = {TDL_OPID_SMOOTH_ONEHOT, "smooth_onehot", 0, onehot_fwd, NULL};

tdl_node *tdl_smooth_onehot(tdl_graph *g, tdl_node *labels, int64_t classes, float smoothing)
{
    if (tdl_builder_check(g, "smooth_onehot", 1, &labels))
        return NULL;
    tdl_shape s;
    int64_t d[2] = {labels->shape.d[0], classes};
    tdl_shape_make(&s, 2, d);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = smoothing;
    tdl_node *n = tdl_node_new(g, &op_onehot, NULL, 1, &labels, TDL_F32, &s, &at);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}

TDL_API tdl_node *tdl_cross_entropy_smooth(tdl_graph *g, tdl_node *logits, tdl_node *labels,
                                           float smoothing)
{
    tdl_node *in[2] = {logits, labels};
    if (tdl_builder_check(g, "cross_entropy", 2, in))
        return NULL;
    char sl[96], sy[96];
    tdl_shape_str(&logits->shape, sl, sizeof sl);
    tdl_shape_str(&labels->shape, sy, sizeof sy);
    if (logits->dtype != TDL_F32 || labels->dtype != TDL_I32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE,
                                "cross_entropy: logits '%s' must be f32 (is %s) and labels '%s' "
                                "i32 (is %s)",
                                logits->name, tdl_dtype_name(logits->dtype), labels->name,
                                tdl_dtype_name(labels->dtype));
    if (logits->shape.ndim != 2 || labels->shape.ndim != 1 ||
        logits->shape.d[0] != labels->shape.d[0] || logits->shape.d[1] < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "cross_entropy: logits '%s' %s must be [N, C] and labels '%s' %s "
                                "[N]",
                                logits->name, sl, labels->name, sy);
    if (!(smoothing >= 0.0f && smoothing < 1.0f))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "cross_entropy: label smoothing %g is outside [0, 1)",
                                (double)smoothing);
    tdl_shape rows;
    tdl_shape_make(&rows, 1, labels->shape.d);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = smoothing;
    tdl_node *per_row = tdl_node_new(g, &op_xent, NULL, 2, in, TDL_F32, &rows, &at);
    return tdl_mean(g, per_row, 0, NULL, 0);
}

TDL_API tdl_node *tdl_cross_entropy(tdl_graph *g, tdl_node *logits, tdl_node *labels)
{
    return tdl_cross_entropy_smooth(g, logits, labels, 0.0f);
}

/* ---- binary cross-entropy on logits, elementwise ---- */

static tdl_status bce_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    const float *z = tdl_f32(n->inputs[0]), *t = tdl_f32(n->inputs[1]);
    float *out = tdl_f32(n);
    int64_t count = tdl_numel(n);
    for (int64_t i = 0; i < count; ++i) {
        float v = z[i];
        out[i] = (v > 0 ? v : 0.0f) - v * t[i] + log1pf(expf(-fabsf(v)));
    }
    return TDL_OK;
}

static int bce_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *z = n->inputs[0], *t = n->inputs[1];
    dx[0] = tdl_mul(g, dy, tdl_sub(g, tdl_sigmoid(g, z), t));
    dx[1] = tdl_mul(g, dy, tdl_affine_scalar(g, z, -1.0f, 0.0f));
    return dx[0] && dx[1] ? 0 : -1;
}

static const tdl_op_def op_bce = {TDL_OPID_BCE_LOGITS, "bce_with_logits", 0, bce_fwd, bce_bwd};

TDL_API tdl_node *tdl_bce_with_logits(tdl_graph *g, tdl_node *logits, tdl_node *targets)
{
    tdl_node *in[2] = {logits, targets};
    if (tdl_builder_check(g, "bce_with_logits", 2, in))
        return NULL;
    if (logits->dtype != TDL_F32 || targets->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "bce_with_logits: '%s' and '%s' must both be f32",
                                logits->name, targets->name);
    if (!tdl_shape_equal(&logits->shape, &targets->shape)) {
        char a[96], b[96];
        tdl_shape_str(&logits->shape, a, sizeof a);
        tdl_shape_str(&targets->shape, b, sizeof b);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "bce_with_logits: logits '%s' %s and targets '%s' %s differ",
                                logits->name, a, targets->name, b);
    }
    tdl_node *el = tdl_node_new(g, &op_bce, NULL, 2, in, TDL_F32, &logits->shape, NULL);
    return tdl_mean(g, el, 0, NULL, 0);
}

TDL_API tdl_node *tdl_mse_loss(tdl_graph *g, tdl_node *pred, tdl_node *target)
{
    tdl_node *in[2] = {pred, target};
    if (tdl_builder_check(g, "mse_loss", 2, in))
        return NULL;
    if (pred->dtype != TDL_F32 || target->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "mse_loss: '%s' and '%s' must both be f32",
                                pred->name, target->name);
    if (!tdl_shape_equal(&pred->shape, &target->shape)) {
        char a[96], b[96];
        tdl_shape_str(&pred->shape, a, sizeof a);
        tdl_shape_str(&target->shape, b, sizeof b);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "mse_loss: pred '%s' %s and target '%s' %s differ", pred->name, a,
                                target->name, b);
    }
    tdl_node *d = tdl_sub(g, pred, target);
    return tdl_mean(g, tdl_mul(g, d, d), 0, NULL, 0);
}
