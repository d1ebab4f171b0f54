/**
 * @file conv.h
 * @brief Convolutions (NCHW layout): conv2d, conv_transpose2d, conv1d, and the conv2d layer.
 *
 * Tensors are NCHW: [batch, channels, height, width] (conv1d: [batch, channels, length]).
 * Weights use PyTorch's layouts, so trained weights carry over: conv2d
 * [out_channels, in_channels/groups, kh, kw]; conv_transpose2d
 * [in_channels, out_channels/groups, kh, kw]; conv1d [out_channels, in_channels/groups, k].
 * Output size: out = floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1.
 * Every builder returns NULL with a sticky error (graph.h) on bad arguments: a kernel
 * larger than the padded input, a channel mismatch, groups not dividing the channels,
 * non-positive stride or dilation, a negative padding other than ::TDL_PAD_SAME.
 * Gradients are themselves differentiable (gradient penalties work through convolutions).
 */
#ifndef TINY_DL_CONV_H
#define TINY_DL_CONV_H

#include <stdint.h>

#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/** Padding value meaning "same": out = ceil(in / stride), split evenly (extra at the end). */
#define TDL_PAD_SAME (-1)

/**
 * @brief 2-D convolution (cross-correlation, as in every DL library).
 * @param x    [N, C_in, H, W] float.
 * @param w    [C_out, C_in/groups, kh, kw] float.
 * @param bias [C_out] float, or NULL for none.
 * @param stride_h,stride_w  >= 1.
 * @param pad_h,pad_w        >= 0 zeros on each side, or ::TDL_PAD_SAME.
 * @param dilation_h,dilation_w >= 1.
 * @param groups >= 1, dividing C_in and C_out (groups = C_in = C_out: depthwise).
 * @return [N, C_out, H_out, W_out], or NULL (sticky error).
 */
TDL_API tdl_node *tdl_conv2d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                             int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                             int32_t dilation_h, int32_t dilation_w, int32_t groups);

/**
 * @brief Transposed 2-D convolution (the gradient of conv2d with respect to its input),
 *        for generators and decoders.
 * @param x    [N, C_in, H, W].
 * @param w    [C_in, C_out/groups, kh, kw].
 * @param bias [C_out] or NULL.
 * @param output_pad_h,output_pad_w Extra rows/columns at the end (0 <= p < stride or dilation).
 * @return [N, C_out, (H-1)*stride - 2*pad + dilation*(kh-1) + output_pad + 1, ...].
 */
TDL_API tdl_node *tdl_conv_transpose2d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias,
                                       int32_t stride_h, int32_t stride_w, int32_t pad_h,
                                       int32_t pad_w, int32_t output_pad_h, int32_t output_pad_w,
                                       int32_t dilation_h, int32_t dilation_w, int32_t groups);

/**
 * @brief 1-D convolution over [N, C_in, L] with w [C_out, C_in/groups, k] (for sequences).
 * @param pad >= 0 or ::TDL_PAD_SAME.
 */
TDL_API tdl_node *tdl_conv1d(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias, int32_t stride,
                             int32_t pad, int32_t dilation, int32_t groups);

/**
 * @brief A conv2d layer: creates "<name>.weight" [C_out, C_in/groups, k, k] (He-normal,
 *        fan-in) and, when use_bias, "<name>.bias" [C_out] (zeros).
 * @param name Required: prefix of the parameter names.
 */
TDL_API tdl_node *tdl_conv2d_layer(tdl_graph *g, tdl_node *x, int64_t out_channels, int32_t kernel,
                                   int32_t stride, int32_t pad, int32_t groups, int32_t use_bias,
                                   const char *name);

TDL_END_DECLS

#endif /* TINY_DL_CONV_H */
