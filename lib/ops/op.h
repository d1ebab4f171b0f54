/* Internal: what an op is. One file per op family in ops/ defines its
 * tdl_op_def objects (shape rules live in the builders, next to them). */
#ifndef TDL_OPS_OP_H
#define TDL_OPS_OP_H

#include <stdint.h>

#include "graph/graph.h"
#include "ops/op_ids.h"

/* What a forward function sees. */
typedef struct tdl_exec {
    tdl_graph *g;
    tdl_ctx *ctx;
    tdlk_env kenv;
    int32_t training;
    uint64_t step;
    int64_t batch;
} tdl_exec;

enum {
    /* Output shares the first input's memory (reshape, stop_gradient): the
     * forward function only sets no data; the executor points at the input. */
    TDL_OP_ALIAS = 1u << 0,
    /* Elementwise over its first input, reading each element before writing
     * the same element: the planner may give the output the input's memory
     * when nothing reads the input afterwards (plan.c). */
    TDL_OP_IN_PLACE = 1u << 1
};

struct tdl_op_def {
    int32_t id;       /* stable numeric id (op_ids.h); never renumbered */
    const char *name; /* stable name; used in messages, summaries, exports */
    uint32_t flags;
    /* Computes n->data from the inputs' data (all shapes concrete in
     * value_shape). NULL for nodes that hold their own data. */
    tdl_status (*forward)(tdl_exec *ex, tdl_node *n);
    /* Builds gradient nodes: given dy (gradient of n's output, shaped like n),
     * sets dx[i] to the gradient for input i, or leaves it NULL (no gradient).
     * Returns 0, or -1 with the graph's sticky error set. NULL means the op has
     * no gradient rule (differentiating through it is an error). */
    int (*backward)(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx);
};

/* Elementwise work is split into chunks of this many elements for threads. */
#define TDL_ELEMWISE_GRAIN 32768

/* Helpers shared by op files. */
static inline float *tdl_f32(const tdl_node *n)
{
    return (float *)n->data;
}
static inline int64_t tdl_numel(const tdl_node *n)
{
    return tdl_shape_numel(&n->value_shape);
}

/* Internal builders used by gradient rules (and by the public builders). */
tdl_node *tdl_op_unary(tdl_graph *g, const tdl_op_def *op, tdl_node *x, const tdl_attrs *attrs);
tdl_node *tdl_broadcast_to(tdl_graph *g, tdl_node *x, const tdl_shape *target);
tdl_node *tdl_sum_to(tdl_graph *g, tdl_node *x, const tdl_shape *target);
tdl_node *tdl_reshape_to(tdl_graph *g, tdl_node *x, const tdl_shape *target);
tdl_node *tdl_matmul_ex(tdl_graph *g, tdl_node *a, tdl_node *b, int trans_a, int trans_b);
tdl_node *tdl_fill(tdl_graph *g, const tdl_shape *shape, float value);
tdl_node *tdl_scale_by_count(tdl_graph *g, tdl_node *x, int64_t known, int64_t sym_k);
tdl_node *tdl_step(tdl_graph *g, tdl_node *x);
/* relu's gradient: dy where x > 0, else dy * 0 (x and dy: f32, one shape). */
tdl_node *tdl_relu_grad(tdl_graph *g, tdl_node *x, tdl_node *dy);
/* Max pooling's gradient dy = max_pool2d_scatter(x, v): the pooled values v
 * it spreads (each to one position, zeros elsewhere), or NULL for another op. */
tdl_node *tdl_max_pool_scatter_values(const tdl_node *dy);
/* 1 when dy is the gradient that max pooling of relu node r built with
 * relu's mask already applied (pool.c), so relu's rule can pass it on. */
int tdl_max_pool_grad_is_relu_masked(const tdl_node *dy, const tdl_node *r);
tdl_node *tdl_eq_mask(tdl_graph *g, tdl_node *a, tdl_node *b);
tdl_node *tdl_smooth_onehot(tdl_graph *g, tdl_node *labels, int64_t classes, float smoothing);
tdl_node *tdl_slice_backward(tdl_graph *g, tdl_node *dy, const tdl_shape *x_shape, int32_t axis,
                             int64_t start);
tdl_node *tdl_reduce(tdl_graph *g, const tdl_op_def *op, tdl_node *x, int32_t n_axes,
                     const int32_t *axes, int32_t keepdims);

/* Op objects referenced across files. */
extern const tdl_op_def tdl_op_input, tdl_op_param, tdl_op_const;
extern const tdl_op_def tdl_op_reduce_sum, tdl_op_reduce_mean, tdl_op_reduce_max;
extern const tdl_op_def tdl_op_exp;

#endif
