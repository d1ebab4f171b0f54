/* Composite convolutional blocks: MobileNet's depthwise-separable block and
 * ResNet's basic block, built from conv2d layers, batch norm and ReLU. */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/conv.h>
#include <tiny-dl/layers.h>
#include <tiny-dl/ops.h>

#include "graph/graph.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS      1e-5f

/* Common checks; returns the input's channel count, or -1 (sticky error). */
static int64_t block_check(tdl_graph *g, const char *op, tdl_node *x, int64_t out_channels,
                           int32_t stride, const char *name)
{
    if (tdl_builder_check(g, op, 1, &x))
        return -1;
    if (!name || !*name) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s: a name is required (it prefixes the parameter names)", op);
        return -1;
    }
    if (strlen(name) > 200) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s: name is too long", op);
        return -1;
    }
    if (x->dtype != TDL_F32) {
        tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s '%s': input '%s' is %s, not f32", op, name, x->name,
                         tdl_dtype_name(x->dtype));
        return -1;
    }
    if (x->shape.ndim != 4 || x->shape.d[1] < 1 || x->shape.d[2] < 1 || x->shape.d[3] < 1) {
        char s[96];
        tdl_shape_str(&x->shape, s, sizeof s);
        tdl_graph_sticky(g, TDL_ERR_SHAPE,
                         "%s '%s': input '%s' has shape %s; expected [N, C, H, W] with only N "
                         "symbolic",
                         op, name, x->name, s);
        return -1;
    }
    if (out_channels < 1 || stride < 1) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s '%s': out_channels %lld and stride %d must be >= 1", op, name,
                         (long long)out_channels, (int)stride);
        return -1;
    }
    return x->shape.d[1];
}

/* "<name>.<part>" into buf. */
static const char *sub(char *buf, size_t size, const char *name, const char *part)
{
    snprintf(buf, size, "%s.%s", name, part);
    return buf;
}

TDL_API tdl_node *tdl_separable_conv_block(tdl_graph *g, tdl_node *x, int64_t out_channels,
                                           int32_t stride, const char *name)
{
    int64_t cin = block_check(g, "separable_conv_block", x, out_channels, stride, name);
    if (cin < 0)
        return NULL;
    if (cin > INT32_MAX)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "separable_conv_block '%s': too many channels",
                                name);
    char n[256];
    tdl_node *h =
        tdl_conv2d_layer(g, x, cin, 3, stride, 1, (int32_t)cin, 0, sub(n, sizeof n, name, "dw"));
    h = tdl_relu(g, tdl_batch_norm(g, h, sub(n, sizeof n, name, "bn1"), BN_MOMENTUM, BN_EPS));
    h = tdl_conv2d_layer(g, h, out_channels, 1, 1, 0, 1, 0, sub(n, sizeof n, name, "pw"));
    return tdl_relu(g, tdl_batch_norm(g, h, sub(n, sizeof n, name, "bn2"), BN_MOMENTUM, BN_EPS));
}

TDL_API tdl_node *tdl_residual_block(tdl_graph *g, tdl_node *x, int64_t out_channels,
                                     int32_t stride, const char *name)
{
    int64_t cin = block_check(g, "residual_block", x, out_channels, stride, name);
    if (cin < 0)
        return NULL;
    char n[256];
    tdl_node *h =
        tdl_conv2d_layer(g, x, out_channels, 3, stride, 1, 1, 0, sub(n, sizeof n, name, "conv1"));
    h = tdl_relu(g, tdl_batch_norm(g, h, sub(n, sizeof n, name, "bn1"), BN_MOMENTUM, BN_EPS));
    h = tdl_conv2d_layer(g, h, out_channels, 3, 1, 1, 1, 0, sub(n, sizeof n, name, "conv2"));
    h = tdl_batch_norm(g, h, sub(n, sizeof n, name, "bn2"), BN_MOMENTUM, BN_EPS);
    tdl_node *shortcut = x;
    if (stride != 1 || cin != out_channels) {
        shortcut = tdl_conv2d_layer(g, x, out_channels, 1, stride, 0, 1, 0,
                                    sub(n, sizeof n, name, "down.conv"));
        shortcut =
            tdl_batch_norm(g, shortcut, sub(n, sizeof n, name, "down.bn"), BN_MOMENTUM, BN_EPS);
    }
    return tdl_relu(g, tdl_add(g, h, shortcut));
}
