/* Gradient norms and clipping by global L2 norm (torch.nn.utils.clip_grad_norm_). */
#include <math.h>

#include "graph/graph.h"
#include "optim/optim_internal.h"

int64_t tdl_optim_param_elements(const tdl_node *param)
{
    int32_t ndim = 0;
    int64_t shape[TDL_MAX_DIMS];
    if (tdl_node_shape(param, &ndim, shape) != TDL_OK || ndim < 0 || ndim > TDL_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && n > INT64_MAX / shape[d]))
            return -1; /* symbolic or absurd: parameters have concrete shapes */
        n *= shape[d];
    }
    return n;
}

double tdl_optim_sumsq(int64_t n, const float *x)
{
    /* Four partial sums in a fixed pattern: deterministic, and not one long
     * dependency chain. */
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

void tdl_optim_scale(int64_t n, float *x, float s)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

double tdl_optim_clip_coef(double norm, double max_norm)
{
    double coef = max_norm / (norm + 1e-6);
    return coef < 1.0 ? coef : 1.0;
}

TDL_API tdl_status tdl_clip_grad_norm(tdl_graph *g, double max_norm, double *norm)
{
    static const char fn[] = "tdl_clip_grad_norm";
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: graph is NULL", fn);
    /* +inf is accepted: it only measures the norm. */
    if (!(max_norm > 0.0))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT, "%s: max_norm = %g: must be > 0", fn,
                              max_norm);

    int64_t count = tdl_graph_param_count(g);
    double sumsq = 0.0;
    for (int64_t i = 0; i < count; i++) {
        tdl_node *p = tdl_graph_param(g, i);
        float *grad = tdl_param_grad(p);
        if (!tdl_param_trainable(p) || !grad)
            continue;
        int64_t n = tdl_optim_param_elements(p);
        if (n < 0)
            return tdl_graph_fail(g, TDL_ERR_INTERNAL, "%s: parameter '%s' has no concrete shape",
                                  fn, tdl_node_name(p));
        sumsq += tdl_optim_sumsq(n, grad);
    }
    double total = sqrt(sumsq);
    if (norm)
        *norm = total;
    if (!isfinite(total))
        return tdl_graph_fail(g, TDL_ERR_NON_FINITE,
                              "%s: the gradient norm is %g; gradients left unchanged", fn, total);

    double coef = tdl_optim_clip_coef(total, max_norm);
    if (coef < 1.0) {
        for (int64_t i = 0; i < count; i++) {
            tdl_node *p = tdl_graph_param(g, i);
            float *grad = tdl_param_grad(p);
            if (tdl_param_trainable(p) && grad)
                tdl_optim_scale(tdl_optim_param_elements(p), grad, (float)coef);
        }
    }
    return TDL_OK;
}
