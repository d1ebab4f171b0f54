/* The conv2d layer: He-normal weight [C_out, C_in/groups, k, k], zero bias,
 * PyTorch's nn.Conv2d layout (so weights carry over). */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/conv.h>
#include <tiny-dl/ops.h>

#include "graph/graph.h"
#include "ops/conv_internal.h"

TDL_API tdl_node *tdl_conv2d_layer(tdl_graph *g, tdl_node *x, int64_t out_channels, int32_t kernel,
                                   int32_t stride, int32_t pad, int32_t groups, int32_t use_bias,
                                   const char *name)
{
    if (tdl_builder_check(g, "conv2d_layer", 1, &x))
        return NULL;
    if (!name || !*name)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "conv2d_layer: a name is required (it prefixes the parameter "
                                "names)");
    if (strlen(name) > 200)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "conv2d_layer: name is too long");
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "conv2d '%s': input '%s' is %s, not f32", name,
                                x->name, tdl_dtype_name(x->dtype));
    char xs[96];
    tdl_shape_str(&x->shape, xs, sizeof xs);
    if (x->shape.ndim != 4 || x->shape.d[1] < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "conv2d '%s': input '%s' %s must be [N, C, H, W] with a fixed C",
                                name, x->name, xs);
    if (out_channels < 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "conv2d '%s': out_channels %lld must be >= 1", name,
                                (long long)out_channels);
    if (kernel < 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "conv2d '%s': kernel %d must be >= 1",
                                name, (int)kernel);
    if (groups < 1)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "conv2d '%s': groups %d must be >= 1",
                                name, (int)groups);
    int64_t cin = x->shape.d[1];
    if (cin % groups != 0 || out_channels % groups != 0)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "conv2d '%s': groups %d must divide the input channels (%lld, "
                                "input '%s' %s) and out_channels (%lld)",
                                name, (int)groups, (long long)cin, x->name, xs,
                                (long long)out_channels);
    char pname[256];
    snprintf(pname, sizeof pname, "%s.weight", name);
    int64_t wshape[4] = {out_channels, cin / groups, kernel, kernel};
    tdl_node *w = tdl_param(g, pname, 4, wshape, TDL_INIT_HE_NORMAL, 0.0f, 0.0f);
    tdl_node *b = NULL;
    if (w && use_bias) {
        snprintf(pname, sizeof pname, "%s.bias", name);
        b = tdl_param(g, pname, 1, &out_channels, TDL_INIT_ZEROS, 0.0f, 0.0f);
    }
    if (!w || (use_bias && !b))
        return NULL;
    return tdl_conv2d_ex(g, x, w, b, stride, stride, pad, pad, 1, 1, groups, name);
}
