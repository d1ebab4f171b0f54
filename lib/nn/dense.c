/* Fully connected layer: y = x W^T + b, PyTorch's nn.Linear layout. */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "graph/graph.h"
#include "ops/op.h"

TDL_API tdl_node *tdl_dense_ex(tdl_graph *g, tdl_node *x, int64_t units, const char *name,
                               int32_t weight_init, int32_t use_bias)
{
    if (tdl_builder_check(g, "dense", 1, &x))
        return NULL;
    if (!name || !*name)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "dense: a name is required (it prefixes the parameter names)");
    if (strlen(name) > 200)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "dense: name is too long");
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "dense '%s': input '%s' is %s, not f32", name,
                                x->name, tdl_dtype_name(x->dtype));
    if (x->shape.ndim < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "dense '%s': input '%s' is a scalar", name,
                                x->name);
    int64_t in = x->shape.d[x->shape.ndim - 1];
    if (in < 1)
        return tdl_graph_sticky(
            g, TDL_ERR_SHAPE, "dense '%s': the last dimension of '%s' is the batch; reshape first",
            name, x->name);
    if (units < 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "dense '%s': units %lld must be >= 1",
                                name, (long long)units);
    char pname[256];
    snprintf(pname, sizeof pname, "%s.weight", name);
    int64_t wshape[2] = {units, in};
    tdl_node *w = tdl_param(g, pname, 2, wshape, weight_init, 0.0f, 0.0f);
    tdl_node *h = x->shape.ndim == 1 ? tdl_reshape(g, x, 2, (int64_t[]){1, in}) : x;
    tdl_node *y = tdl_matmul_ex(g, h, w, 0, 1);
    if (x->shape.ndim == 1)
        y = tdl_reshape(g, y, 1, &units);
    if (use_bias) {
        snprintf(pname, sizeof pname, "%s.bias", name);
        tdl_node *b = tdl_param(g, pname, 1, &units, TDL_INIT_ZEROS, 0.0f, 0.0f);
        y = tdl_add(g, y, b);
    }
    return y;
}

TDL_API tdl_node *tdl_dense(tdl_graph *g, tdl_node *x, int64_t units, const char *name)
{
    return tdl_dense_ex(g, x, units, name, TDL_INIT_XAVIER_UNIFORM, 1);
}
