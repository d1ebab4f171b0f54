/* Internal: the ops behind batch_norm and layer_norm (lib/ops/norm.c), used by
 * the layer builders in lib/nn/norm_layers.c. */
#ifndef TDL_OPS_NORM_H
#define TDL_OPS_NORM_H

#include <stdint.h>

#include "graph/graph.h"

/* A scalar: 1 while the graph is in training mode, 0 in eval mode (no gradient). */
tdl_node *tdl_training_flag(tdl_graph *g);

/* [2, C]: row 0 the mean, row 1 the variance that normalise x ([N, C, ...]) over
 * every axis but 1: in training mode the batch's mean and biased variance (and the
 * buffers rm, rv [C] move towards the batch's mean and unbiased variance with
 * `momentum`, once per step); in eval mode copies of rm and rv. */
tdl_node *tdl_bn_stats(tdl_graph *g, tdl_node *x, tdl_node *rm, tdl_node *rv, float momentum,
                       const char *name);

/* y = (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c] over axis 1 of x; mean, var,
 * w, b are [C]. */
tdl_node *tdl_bn_apply(tdl_graph *g, tdl_node *x, tdl_node *mean, tdl_node *var, tdl_node *w,
                       tdl_node *b, float eps);

/* Layer normalisation over the last n_axes axes of x; w and b are shaped like them. */
tdl_node *tdl_layer_norm_op(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *b, int32_t n_axes,
                            float eps);

#endif
