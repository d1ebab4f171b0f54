/* Elementwise activations and math functions. Each gradient rule is written
 * with other ops, so every one of them can be differentiated again. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/op.h"

typedef struct unary_job {
    int32_t id;
    const float *x;
    float *y;
    float alpha;
} unary_job;

static void unary_chunk(void *arg, int64_t begin, int64_t end)
{
    unary_job *j = arg;
    const float *x = j->x + begin;
    float *y = j->y + begin;
    int64_t n = end - begin;
    float a = j->alpha;
    switch (j->id) {
    case TDL_OPID_RELU: tdlk_vrelu(n, x, y); break;
    case TDL_OPID_LEAKY_RELU: tdlk_vleaky_relu(n, a, x, y); break;
    case TDL_OPID_ELU:
        for (int64_t i = 0; i < n; ++i)
            y[i] = x[i] > 0 ? x[i] : a * expm1f(x[i]);
        break;
    case TDL_OPID_SIGMOID: tdlk_vsigmoid(n, x, y); break;
    case TDL_OPID_TANH: tdlk_vtanh(n, x, y); break;
    case TDL_OPID_GELU: tdlk_vgelu(n, x, y); break;
    case TDL_OPID_EXP: tdlk_vexp(n, x, y); break;
    case TDL_OPID_LOG:
        for (int64_t i = 0; i < n; ++i)
            y[i] = logf(x[i]);
        break;
    case TDL_OPID_SQRT: tdlk_vsqrt(n, x, y); break;
    case TDL_OPID_STEP: tdlk_vstep(n, x, y); break;
    case TDL_OPID_GELU_D1: tdlk_vgelu_grad(n, x, y); break;  /* Phi(x) + x phi(x) */
    case TDL_OPID_GELU_D2: tdlk_vgelu_grad2(n, x, y); break; /* (2 - x^2) phi(x) */
    }
}

static tdl_status unary_fwd(tdl_exec *ex, tdl_node *n)
{
    unary_job j = {n->op->id, tdl_f32(n->inputs[0]), tdl_f32(n), n->attrs.f[0]};
    tdl_parallel_for(ex->kenv.pool, tdl_numel(n), TDL_ELEMWISE_GRAIN, unary_chunk, &j);
    return TDL_OK;
}

/* ---- relu_grad(x, dy) = dy where x > 0, else dy * 0: relu's gradient as
 * one op, equal bit for bit to the mul(dy, step(x)) it replaces (so where
 * x <= 0 or x is NaN: a zero with dy's sign, or NaN for a NaN or infinite dy).
 * It is linear in dy, with relu_grad(x, .) as its own adjoint, and piecewise
 * constant in x (no gradient there, as step has none). relu's rule passes
 * relu's output as x: the same mask. ---- */

typedef struct relu_grad_job {
    const float *x, *dy;
    float *y;
} relu_grad_job;

static void relu_grad_chunk(void *arg, int64_t begin, int64_t end)
{
    relu_grad_job *j = arg;
    tdlk_vrelu_grad(end - begin, j->x + begin, j->dy + begin, j->y + begin);
}

static tdl_status relu_grad_fwd(tdl_exec *ex, tdl_node *n)
{
    relu_grad_job j = {tdl_f32(n->inputs[0]), tdl_f32(n->inputs[1]), tdl_f32(n)};
    tdl_parallel_for(ex->kenv.pool, tdl_numel(n), TDL_ELEMWISE_GRAIN, relu_grad_chunk, &j);
    return TDL_OK;
}

static int relu_grad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[1] = tdl_relu_grad(g, n->inputs[0], dy);
    return dx[1] ? 0 : -1;
}

static const tdl_op_def op_relu_grad = {TDL_OPID_RELU_GRAD, "relu_grad", 0, relu_grad_fwd,
                                        relu_grad_bwd};

tdl_node *tdl_relu_grad(tdl_graph *g, tdl_node *x, tdl_node *dy)
{
    tdl_node *in[2] = {x, dy};
    if (tdl_builder_check(g, "relu_grad", 2, in))
        return NULL;
    if (x->dtype != TDL_F32 || dy->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE,
                                "relu_grad: '%s' is %s and '%s' is %s; both must be f32", x->name,
                                tdl_dtype_name(x->dtype), dy->name, tdl_dtype_name(dy->dtype));
    if (!tdl_shape_equal(&x->shape, &dy->shape)) {
        char sx[96], sd[96];
        tdl_shape_str(&x->shape, sx, sizeof sx);
        tdl_shape_str(&dy->shape, sd, sizeof sd);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "relu_grad: shapes %s ('%s') and %s ('%s') differ", sx, x->name, sd,
                                dy->name);
    }
    return tdl_node_new(g, &op_relu_grad, NULL, 2, in, TDL_F32, &x->shape, NULL);
}

/* relu(x) > 0 exactly where x > 0 (NaN and -0 give +0), so the mask is read
 * from relu's output, which the next layer keeps anyway: x is free to go as
 * soon as relu has run. */
static int relu_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* max pooling of this relu masked its gradient already (pool.c); masking
     * again would give the same values */
    dx[0] = tdl_max_pool_grad_is_relu_masked(dy, n) ? dy : tdl_relu_grad(g, n, dy);
    return dx[0] ? 0 : -1;
}

static int leaky_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    float s = n->attrs.f[0];
    /* slope s where x <= 0, 1 where x > 0 */
    tdl_node *f = tdl_affine_scalar(g, tdl_step(g, n->inputs[0]), 1.0f - s, s);
    dx[0] = tdl_mul(g, dy, f);
    return dx[0] ? 0 : -1;
}

static int elu_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    /* 1 where x > 0, y + alpha (= alpha e^x) elsewhere; written through y so it
     * differentiates again */
    tdl_node *s = tdl_step(g, n->inputs[0]);
    tdl_node *neg = tdl_mul(g, tdl_affine_scalar(g, s, -1.0f, 1.0f),
                            tdl_affine_scalar(g, n, 1.0f, n->attrs.f[0]));
    dx[0] = tdl_mul(g, dy, tdl_add(g, s, neg));
    return dx[0] ? 0 : -1;
}

static int sigmoid_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_mul(g, dy, tdl_mul(g, n, tdl_affine_scalar(g, n, -1.0f, 1.0f)));
    return dx[0] ? 0 : -1;
}

static int tanh_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_mul(g, dy, tdl_affine_scalar(g, tdl_mul(g, n, n), -1.0f, 1.0f));
    return dx[0] ? 0 : -1;
}

static int exp_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_mul(g, dy, n);
    return dx[0] ? 0 : -1;
}

static int log_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_div(g, dy, n->inputs[0]);
    return dx[0] ? 0 : -1;
}

static int sqrt_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_div(g, dy, tdl_affine_scalar(g, n, 2.0f, 0.0f));
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_gelu_d2;
static const tdl_op_def op_gelu_d1;

static int gelu_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_mul(g, dy, tdl_op_unary(g, &op_gelu_d1, n->inputs[0], NULL));
    return dx[0] ? 0 : -1;
}

static int gelu_d1_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_mul(g, dy, tdl_op_unary(g, &op_gelu_d2, n->inputs[0], NULL));
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_relu = {TDL_OPID_RELU, "relu", TDL_OP_IN_PLACE, unary_fwd, relu_bwd};
static const tdl_op_def op_leaky = {TDL_OPID_LEAKY_RELU, "leaky_relu", 0, unary_fwd, leaky_bwd};
static const tdl_op_def op_elu = {TDL_OPID_ELU, "elu", 0, unary_fwd, elu_bwd};
static const tdl_op_def op_sigmoid = {TDL_OPID_SIGMOID, "sigmoid", 0, unary_fwd, sigmoid_bwd};
static const tdl_op_def op_tanh = {TDL_OPID_TANH, "tanh", 0, unary_fwd, tanh_bwd};
static const tdl_op_def op_gelu = {TDL_OPID_GELU, "gelu", 0, unary_fwd, gelu_bwd};
const tdl_op_def tdl_op_exp = {TDL_OPID_EXP, "exp", 0, unary_fwd, exp_bwd};
static const tdl_op_def op_log = {TDL_OPID_LOG, "log", 0, unary_fwd, log_bwd};
static const tdl_op_def op_sqrt = {TDL_OPID_SQRT, "sqrt", 0, unary_fwd, sqrt_bwd};
static const tdl_op_def op_step = {TDL_OPID_STEP, "step", 0, unary_fwd, NULL};
static const tdl_op_def op_gelu_d1 = {TDL_OPID_GELU_D1, "gelu_grad", 0, unary_fwd, gelu_d1_bwd};
/* third derivative of GELU: not provided (differentiating it is an error) */
static const tdl_op_def op_gelu_d2 = {TDL_OPID_GELU_D2, "gelu_grad2", 0, unary_fwd, NULL};

tdl_node *tdl_op_unary(tdl_graph *g, const tdl_op_def *op, tdl_node *x, const tdl_attrs *attrs)
{
    if (tdl_builder_check(g, op->name, 1, &x))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s, not f32", op->name, x->name,
                                tdl_dtype_name(x->dtype));
    return tdl_node_new(g, op, NULL, 1, &x, TDL_F32, &x->shape, attrs);
}

tdl_node *tdl_step(tdl_graph *g, tdl_node *x)
{
    tdl_node *n = tdl_op_unary(g, &op_step, x, NULL);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}

static tdl_node *unary_with(tdl_graph *g, const tdl_op_def *op, tdl_node *x, float alpha)
{
    if (tdl_builder_check(g, op->name, 1, &x))
        return NULL; /* NULL graph or node: reported like every builder */
    if (!isfinite(alpha))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s '%s': parameter %g is not finite",
                                op->name, x->name, (double)alpha);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = alpha;
    return tdl_op_unary(g, op, x, &at);
}

TDL_API tdl_node *tdl_relu(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_relu, x, NULL);
}
TDL_API tdl_node *tdl_leaky_relu(tdl_graph *g, tdl_node *x, float slope)
{
    return unary_with(g, &op_leaky, x, slope);
}
TDL_API tdl_node *tdl_elu(tdl_graph *g, tdl_node *x, float alpha)
{
    return unary_with(g, &op_elu, x, alpha);
}
TDL_API tdl_node *tdl_sigmoid(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_sigmoid, x, NULL);
}
TDL_API tdl_node *tdl_tanh(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_tanh, x, NULL);
}
TDL_API tdl_node *tdl_gelu(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_gelu, x, NULL);
}
TDL_API tdl_node *tdl_exp(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &tdl_op_exp, x, NULL);
}
TDL_API tdl_node *tdl_log(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_log, x, NULL);
}
TDL_API tdl_node *tdl_sqrt(tdl_graph *g, tdl_node *x)
{
    return tdl_op_unary(g, &op_sqrt, x, NULL);
}
