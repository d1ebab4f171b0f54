/* Normalisation layers: batch norm (with running-statistics buffers) and
 * layer norm. The ops are in lib/ops/norm.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tiny-dl/layers.h>
#include <tiny-dl/ops.h>

#include "graph/graph.h"
#include "ops/norm.h"
#include "ops/op.h"

/* A parameter saved with the weights but never trained. */
static tdl_node *buffer(tdl_graph *g, const char *name, int64_t c, float value)
{
    tdl_node *p = tdl_param(g, name, 1, &c, TDL_INIT_CONSTANT, value, 0.0f);
    if (p) {
        p->flags |= TDL_NODE_BUFFER;
        p->trainable = 0;
    }
    return p;
}

static int check_name(tdl_graph *g, const char *op, const char *name)
{
    if (!name || !*name) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s: a name is required (it prefixes the parameter names)", op);
        return -1;
    }
    if (strlen(name) > 200) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s: name is too long", op);
        return -1;
    }
    return 0;
}

TDL_API tdl_node *tdl_batch_norm(tdl_graph *g, tdl_node *x, const char *name, float momentum,
                                 float eps)
{
    if (tdl_builder_check(g, "batch_norm", 1, &x) || check_name(g, "batch_norm", name))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "batch_norm '%s': input '%s' is %s, not f32",
                                name, x->name, tdl_dtype_name(x->dtype));
    char s[96];
    tdl_shape_str(&x->shape, s, sizeof s);
    if (x->shape.ndim < 2)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "batch_norm '%s': input '%s' has shape %s; needs [N, C] or "
                                "[N, C, ...]",
                                name, x->name, s);
    for (int32_t k = 1; k < x->shape.ndim; ++k)
        if (x->shape.d[k] < 1)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "batch_norm '%s': input '%s' has shape %s; only axis 0 may "
                                    "be the batch",
                                    name, x->name, s);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "batch_norm '%s': momentum %g is outside [0, 1]", name,
                                (double)momentum);
    if (!(eps >= 0.0f) || !isfinite(eps))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "batch_norm '%s': eps %g must be finite and >= 0", name,
                                (double)eps);
    int64_t c = x->shape.d[1];
    char pname[256];
    snprintf(pname, sizeof pname, "%s.weight", name);
    tdl_node *w = tdl_param(g, pname, 1, &c, TDL_INIT_CONSTANT, 1.0f, 0.0f);
    snprintf(pname, sizeof pname, "%s.bias", name);
    tdl_node *b = tdl_param(g, pname, 1, &c, TDL_INIT_ZEROS, 0.0f, 0.0f);
    snprintf(pname, sizeof pname, "%s.running_mean", name);
    tdl_node *rm = buffer(g, pname, c, 0.0f);
    snprintf(pname, sizeof pname, "%s.running_var", name);
    tdl_node *rv = buffer(g, pname, c, 1.0f);
    snprintf(pname, sizeof pname, "%s.stats", name);
    tdl_node *st = tdl_bn_stats(g, x, rm, rv, momentum, pname);
    if (!st)
        return NULL;
    tdl_shape vs;
    memset(&vs, 0, sizeof vs);
    vs.ndim = 1;
    vs.d[0] = c;
    tdl_node *mean = tdl_reshape_to(g, tdl_slice(g, st, 0, 0, 1), &vs);
    tdl_node *var = tdl_reshape_to(g, tdl_slice(g, st, 0, 1, 2), &vs);
    return tdl_bn_apply(g, x, mean, var, w, b, eps);
}

TDL_API tdl_node *tdl_layer_norm(tdl_graph *g, tdl_node *x, int32_t n_axes, const char *name,
                                 float eps)
{
    if (tdl_builder_check(g, "layer_norm", 1, &x) || check_name(g, "layer_norm", name))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "layer_norm '%s': input '%s' is %s, not f32",
                                name, x->name, tdl_dtype_name(x->dtype));
    char s[96];
    tdl_shape_str(&x->shape, s, sizeof s);
    if (n_axes < 1 || n_axes > x->shape.ndim)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "layer_norm '%s': %d axes to normalise for input '%s' of shape %s",
                                name, (int)n_axes, x->name, s);
    tdl_shape ps;
    memset(&ps, 0, sizeof ps);
    ps.ndim = n_axes;
    for (int32_t k = 0; k < n_axes; ++k) {
        ps.d[k] = x->shape.d[x->shape.ndim - n_axes + k];
        if (ps.d[k] < 1)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "layer_norm '%s': the normalised axes of '%s' %s include the "
                                    "batch",
                                    name, x->name, s);
    }
    if (!(eps >= 0.0f) || !isfinite(eps))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "layer_norm '%s': eps %g must be finite and >= 0", name,
                                (double)eps);
    char pname[256];
    snprintf(pname, sizeof pname, "%s.weight", name);
    tdl_node *w = tdl_param(g, pname, ps.ndim, ps.d, TDL_INIT_CONSTANT, 1.0f, 0.0f);
    snprintf(pname, sizeof pname, "%s.bias", name);
    tdl_node *b = tdl_param(g, pname, ps.ndim, ps.d, TDL_INIT_ZEROS, 0.0f, 0.0f);
    return tdl_layer_norm_op(g, x, w, b, n_axes, eps);
}
