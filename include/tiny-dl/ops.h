/**
 * @file ops.h
 * @brief Graph builders: inputs, parameters, arithmetic, shapes, reductions,
 *        activations, losses and layers.
 *
 * Every builder checks its arguments at once and returns the new node, or NULL
 * with the graph's sticky error set (see graph.h); given a NULL node (from an
 * earlier failure) it returns NULL too. `name` arguments are optional (NULL
 * gives an automatic name such as "matmul_7"); names must be unique in a graph.
 * Nodes are owned by the graph. Every op is differentiable in every float
 * input unless its documentation says otherwise.
 */
#ifndef TINY_DL_OPS_H
#define TINY_DL_OPS_H

#include <stdint.h>

#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/** Parameter initialisers. Fans follow PyTorch: for a shape [out, in, k...],
 *  fan_in = in * prod(k), fan_out = out * prod(k); 1-D: fan_in = fan_out = n. */
enum tdl_init {
    TDL_INIT_ZEROS = 0,    /**< 0. */
    TDL_INIT_CONSTANT = 1, /**< a. */
    TDL_INIT_UNIFORM = 2,  /**< Uniform in [a, b). */
    TDL_INIT_NORMAL = 3,   /**< Normal with mean a, standard deviation b. */
    TDL_INIT_XAVIER_UNIFORM =
        4, /**< Glorot: U(-l, l), l = a * sqrt(6 / (fan_in + fan_out)); a = 0 means 1. */
    TDL_INIT_XAVIER_NORMAL =
        5,                   /**< Glorot: N(0, a * sqrt(2 / (fan_in + fan_out))); a = 0 means 1. */
    TDL_INIT_HE_UNIFORM = 6, /**< Kaiming: U(-l, l), l = sqrt(6 / fan_in). */
    TDL_INIT_HE_NORMAL = 7   /**< Kaiming: N(0, sqrt(2 / fan_in)). */
};

/**
 * @brief A graph input, fed with tdl_feed() before each run.
 * @param dtype TDL_F32 or TDL_I32.
 * @param shape Dimensions >= 1, at most one of them ::TDL_BATCH.
 */
TDL_API tdl_node *tdl_input(tdl_graph *g, const char *name, tdl_dtype dtype, int32_t ndim,
                            const int64_t *shape);

/**
 * @brief A named float32 parameter, initialised now from the context's seed
 *        and the name (so the same name and seed give the same values).
 * @param name Required; the key in weight files.
 * @param init One of ::tdl_init; a and b as documented there.
 */
TDL_API tdl_node *tdl_param(tdl_graph *g, const char *name, int32_t ndim, const int64_t *shape,
                            int32_t init, float a, float b);

/**
 * @brief A float32 constant holding a copy of `data` (not trainable, not saved).
 */
TDL_API tdl_node *tdl_constant(tdl_graph *g, const char *name, const float *data, int32_t ndim,
                               const int64_t *shape);

/** @brief a + b with NumPy broadcasting. */
TDL_API tdl_node *tdl_add(tdl_graph *g, tdl_node *a, tdl_node *b);
/** @brief a - b with NumPy broadcasting. */
TDL_API tdl_node *tdl_sub(tdl_graph *g, tdl_node *a, tdl_node *b);
/** @brief a * b (elementwise) with NumPy broadcasting. */
TDL_API tdl_node *tdl_mul(tdl_graph *g, tdl_node *a, tdl_node *b);
/** @brief a / b (elementwise) with NumPy broadcasting. */
TDL_API tdl_node *tdl_div(tdl_graph *g, tdl_node *a, tdl_node *b);
/** @brief scale * x + shift, elementwise, for scalar constants. */
TDL_API tdl_node *tdl_affine_scalar(tdl_graph *g, tdl_node *x, float scale, float shift);

/**
 * @brief Matrix product. 2-D: [m,k] x [k,n] -> [m,n]. Batched: a [...,m,k] with
 *        b [...,k,n] (same leading dims) or with a 2-D b (shared by every batch).
 */
TDL_API tdl_node *tdl_matmul(tdl_graph *g, tdl_node *a, tdl_node *b);

/**
 * @brief Same elements, new shape. One entry may be -1 (inferred, and it
 *        carries the batch when x has one); 0 is not allowed.
 */
TDL_API tdl_node *tdl_reshape(tdl_graph *g, tdl_node *x, int32_t ndim, const int64_t *shape);
/** @brief Swaps the last two dimensions. */
TDL_API tdl_node *tdl_transpose(tdl_graph *g, tdl_node *x);
/** @brief Reorders dimensions: output dim i is input dim perm[i]. */
TDL_API tdl_node *tdl_permute(tdl_graph *g, tdl_node *x, int32_t ndim, const int32_t *perm);
/** @brief Joins n tensors along `axis` (negative counts from the end); other dims must match. */
TDL_API tdl_node *tdl_concat(tdl_graph *g, int32_t n, tdl_node *const *xs, int32_t axis);
/** @brief Elements start..end-1 along `axis` (0 <= start < end <= size; not the batch axis). */
TDL_API tdl_node *tdl_slice(tdl_graph *g, tdl_node *x, int32_t axis, int64_t start, int64_t end);

/**
 * @brief Sum over the given axes (n_axes = 0: all), keeping them as size 1 when keepdims.
 */
TDL_API tdl_node *tdl_sum(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                          int32_t keepdims);
/** @brief Mean over the given axes; as tdl_sum(). */
TDL_API tdl_node *tdl_mean(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                           int32_t keepdims);
/** @brief Maximum over the given axes; the gradient is shared evenly between ties. */
TDL_API tdl_node *tdl_max(tdl_graph *g, tdl_node *x, int32_t n_axes, const int32_t *axes,
                          int32_t keepdims);

/** @brief max(x, 0). */
TDL_API tdl_node *tdl_relu(tdl_graph *g, tdl_node *x);
/** @brief x for x > 0, slope * x otherwise. */
TDL_API tdl_node *tdl_leaky_relu(tdl_graph *g, tdl_node *x, float slope);
/** @brief x for x > 0, alpha * (exp(x) - 1) otherwise. */
TDL_API tdl_node *tdl_elu(tdl_graph *g, tdl_node *x, float alpha);
/** @brief 1 / (1 + exp(-x)). */
TDL_API tdl_node *tdl_sigmoid(tdl_graph *g, tdl_node *x);
/** @brief tanh(x). */
TDL_API tdl_node *tdl_tanh(tdl_graph *g, tdl_node *x);
/** @brief x * Phi(x) (exact, erf-based, as PyTorch's default). */
TDL_API tdl_node *tdl_gelu(tdl_graph *g, tdl_node *x);
/** @brief exp(x). */
TDL_API tdl_node *tdl_exp(tdl_graph *g, tdl_node *x);
/** @brief Natural logarithm (NaN for x < 0, -inf at 0). */
TDL_API tdl_node *tdl_log(tdl_graph *g, tdl_node *x);
/** @brief Square root (NaN for x < 0). */
TDL_API tdl_node *tdl_sqrt(tdl_graph *g, tdl_node *x);
/** @brief Softmax along `axis` (negative counts from the end). */
TDL_API tdl_node *tdl_softmax(tdl_graph *g, tdl_node *x, int32_t axis);
/** @brief log(softmax(x)) along `axis`, computed stably. */
TDL_API tdl_node *tdl_log_softmax(tdl_graph *g, tdl_node *x, int32_t axis);

/**
 * @brief Inverted dropout: in training mode zeroes each element with
 *        probability p and scales the rest by 1/(1-p); identity in eval mode.
 *        Masks come from the seed, the node and the step, not the thread count.
 * @param p In [0, 1).
 */
TDL_API tdl_node *tdl_dropout(tdl_graph *g, tdl_node *x, float p);
/** @brief Identity whose gradient is zero. */
TDL_API tdl_node *tdl_stop_gradient(tdl_graph *g, tdl_node *x);

/** @brief Mean of (pred - target)^2 over all elements; a scalar. */
TDL_API tdl_node *tdl_mse_loss(tdl_graph *g, tdl_node *pred, tdl_node *target);
/**
 * @brief Mean over the batch of softmax cross-entropy.
 * @param logits [B, C] float.
 * @param labels [B] int32 in [0, C) (checked at run time: an out-of-range label
 *               fails the run with TDL_ERR_INVALID_ARGUMENT). Not differentiable.
 */
TDL_API tdl_node *tdl_cross_entropy(tdl_graph *g, tdl_node *logits, tdl_node *labels);
/**
 * @brief As tdl_cross_entropy() with label smoothing: the target puts
 *        1 - smoothing + smoothing/C on the label and smoothing/C elsewhere.
 * @param smoothing In [0, 1).
 */
TDL_API tdl_node *tdl_cross_entropy_smooth(tdl_graph *g, tdl_node *logits, tdl_node *labels,
                                           float smoothing);
/**
 * @brief Mean over all elements of binary cross-entropy on logits (stable form);
 *        targets are float in [0, 1] with the logits' shape (differentiable too).
 */
TDL_API tdl_node *tdl_bce_with_logits(tdl_graph *g, tdl_node *logits, tdl_node *targets);

/**
 * @brief Fully connected layer y = x W^T + b on the last dimension of x.
 *
 * Creates parameters "<name>.weight" [units, in] (Xavier-uniform) and
 * "<name>.bias" [units] (zeros): PyTorch's nn.Linear layout, so weights carry over.
 * @param name Required: prefix of the parameter names.
 */
TDL_API tdl_node *tdl_dense(tdl_graph *g, tdl_node *x, int64_t units, const char *name);

/**
 * @brief As tdl_dense() with a chosen weight initialiser (::tdl_init with a = b = 0
 *        for the fan-based ones) and an optional bias (use_bias = 0: none).
 */
TDL_API tdl_node *tdl_dense_ex(tdl_graph *g, tdl_node *x, int64_t units, const char *name,
                               int32_t weight_init, int32_t use_bias);

TDL_END_DECLS

#endif /* TINY_DL_OPS_H */
