/**
 * @file layers.h
 * @brief Pooling, padding, resizing, normalisation, spatial dropout and composite blocks
 *        for convolutional networks (NCHW layout, see conv.h).
 *
 * Builders return NULL with a sticky error (graph.h) on bad arguments; a message
 * names the op, the node and the shapes involved: TDL_ERR_SHAPE for shapes that do
 * not fit (e.g. a kernel larger than the padded input), TDL_ERR_INVALID_ARGUMENT for
 * bad numbers or a missing name, TDL_ERR_DTYPE for non-float input. As in PyTorch,
 * pooling padding may be at most half the kernel (every window holds a real value),
 * and batch norm in training mode needs more than one value per channel (a [1, C]
 * batch fails at run time with TDL_ERR_SHAPE; eval mode works). tdl_pad refuses to
 * pad the batch axis or to fill with NaN.
 */
#ifndef TINY_DL_LAYERS_H
#define TINY_DL_LAYERS_H

#include <stdint.h>

#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/**
 * @brief Max pooling over [N, C, H, W] windows kh x kw with the given stride and
 *        padding (padding never wins the max). The gradient goes to the first maximum.
 */
TDL_API tdl_node *tdl_max_pool2d(tdl_graph *g, tdl_node *x, int32_t kernel_h, int32_t kernel_w,
                                 int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w);

/**
 * @brief Average pooling; padded zeros count in the average (PyTorch's default,
 *        count_include_pad = true).
 */
TDL_API tdl_node *tdl_avg_pool2d(tdl_graph *g, tdl_node *x, int32_t kernel_h, int32_t kernel_w,
                                 int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w);

/** @brief Mean over every axis after the first two: [N, C, ...] -> [N, C]. */
TDL_API tdl_node *tdl_global_avg_pool(tdl_graph *g, tdl_node *x);

/** @brief [N, ...] -> [N, product of the rest]. */
TDL_API tdl_node *tdl_flatten(tdl_graph *g, tdl_node *x);

/** @brief Nearest-neighbour upsampling of [N, C, H, W] by integer factors. */
TDL_API tdl_node *tdl_upsample_nearest2d(tdl_graph *g, tdl_node *x, int32_t scale_h,
                                         int32_t scale_w);

/**
 * @brief Constant padding.
 * @param pads 2 * ndim values: before and after for each axis (>= 0; the batch axis
 *             may not be padded).
 */
TDL_API tdl_node *tdl_pad(tdl_graph *g, tdl_node *x, int32_t ndim, const int64_t *pads,
                          float value);

/**
 * @brief Batch normalisation over axis 1 of [N, C] or [N, C, ...].
 *
 * Creates "<name>.weight" (ones) and "<name>.bias" (zeros) [C], trainable, and the
 * buffers "<name>.running_mean" (zeros) and "<name>.running_var" (ones) [C], which are
 * saved with the weights but never trained. In training mode the batch's mean and
 * biased variance normalise, and the buffers move towards the batch's mean and
 * unbiased variance: r = (1 - momentum) * r + momentum * batch (PyTorch's convention,
 * momentum 0.1). In eval mode the buffers normalise. y = (x - mean) / sqrt(var + eps) * w + b.
 * @param name Required.
 */
TDL_API tdl_node *tdl_batch_norm(tdl_graph *g, tdl_node *x, const char *name, float momentum,
                                 float eps);

/**
 * @brief Layer normalisation over the last `n_axes` axes, with "<name>.weight" (ones) and
 *        "<name>.bias" (zeros) shaped like those axes. y = (x - mean) / sqrt(var + eps) * w + b
 *        (biased variance).
 */
TDL_API tdl_node *tdl_layer_norm(tdl_graph *g, tdl_node *x, int32_t n_axes, const char *name,
                                 float eps);

/**
 * @brief Spatial (channel) dropout for [N, C, ...]: in training mode each (sample, channel)
 *        is zeroed with probability p, the rest scaled by 1/(1-p); identity in eval mode.
 */
TDL_API tdl_node *tdl_spatial_dropout(tdl_graph *g, tdl_node *x, float p);

/**
 * @brief MobileNet-style depthwise-separable block: depthwise 3x3 conv (stride, padding 1)
 *        -> batch norm -> ReLU -> pointwise 1x1 conv to out_channels -> batch norm -> ReLU.
 *        Parameters are named "<name>.dw.*", "<name>.bn1.*", "<name>.pw.*", "<name>.bn2.*".
 */
TDL_API tdl_node *tdl_separable_conv_block(tdl_graph *g, tdl_node *x, int64_t out_channels,
                                           int32_t stride, const char *name);

/**
 * @brief ResNet basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the input (through a
 *        1x1 conv + BN when the stride or channel count changes), then ReLU. Parameters are
 *        named "<name>.conv1.*", "<name>.bn1.*", "<name>.conv2.*", "<name>.bn2.*",
 *        and for the shortcut "<name>.down.conv.*" and "<name>.down.bn.*".
 */
TDL_API tdl_node *tdl_residual_block(tdl_graph *g, tdl_node *x, int64_t out_channels,
                                     int32_t stride, const char *name);

TDL_END_DECLS

#endif /* TINY_DL_LAYERS_H */
