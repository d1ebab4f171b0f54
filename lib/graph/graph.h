/* Internal: graph and node structures, shared by graph/, ops/, nn/, optim/, io/. */
#ifndef TDL_GRAPH_INTERNAL_H
#define TDL_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/graph.h>

#include "core/context.h"
#include "tensor/shape.h"

typedef struct tdl_op_def tdl_op_def;

/* Node flags. */
enum {
    TDL_NODE_INPUT = 1u << 0,    /* fed by the caller */
    TDL_NODE_PARAM = 1u << 1,    /* persistent, named, saved */
    TDL_NODE_CONST = 1u << 2,    /* persistent, not trainable, not saved */
    TDL_NODE_BACKWARD = 1u << 3, /* part of a gradient pass built by tdl_build_gradients */
    TDL_NODE_NO_GRAD = 1u << 4,  /* output carries no gradient (integer, mask, stop_gradient) */
    TDL_NODE_DEAD = 1u << 5,     /* built by a gradient rule but needed by no gradient: never run */
    TDL_NODE_BUFFER = 1u << 6 /* a parameter that is saved but never trained (running statistics) */
};

/* Op attributes: a small fixed block every op interprets its own way. */
typedef struct tdl_attrs {
    int64_t i[2 * TDL_MAX_DIMS];
    float f[4];
} tdl_attrs;

struct tdl_node {
    tdl_graph *graph;
    int32_t id; /* index in graph->nodes: also a topological order */
    const tdl_op_def *op;
    char *name;
    int32_t n_inputs;
    tdl_node **inputs;
    tdl_dtype dtype;
    tdl_shape shape; /* symbolic (negative dim -k = k * batch) */
    tdl_attrs attrs;
    uint32_t flags;
    int32_t trainable; /* parameters only */

    /* Values. Persistent nodes (params, consts) own `own`; inputs point at the
     * caller's memory; the rest live in the graph's arena. */
    void *data;
    tdl_shape value_shape; /* concrete shape of `data` */
    void *own;
    float *grad; /* parameters: gradient from the last backward (owned) */

    /* Plan. */
    size_t arena_offset;
    int32_t last_use;      /* id of the last node that reads this one */
    uint64_t computed_seq; /* graph->seq when last computed (0: never since planning) */
    int64_t fed_batch;     /* inputs: batch implied by the last feed (0: no batch dim) */
};

/* One gradient pass: the nodes built for the gradient of `loss`. */
typedef struct tdl_grad_pass {
    tdl_node *loss;
    int32_t first_node, end_node; /* ids [first, end) */
    tdl_node **param_grads;       /* per param index; NULL = no gradient (zero) */
    int32_t n_params;             /* params that existed when the pass was built */
} tdl_grad_pass;

struct tdl_graph {
    tdl_ctx *ctx;
    tdl_node **nodes;
    int32_t n_nodes, cap_nodes;
    tdl_node **params;
    int32_t n_params, cap_params;
    tdl_grad_pass *passes;
    int32_t n_passes, cap_passes;

    tdl_status sticky;
    char error[TDL_ERRMSG_MAX];

    int32_t building_pass; /* new nodes belong to a gradient pass */
    int32_t compiled;
    int32_t training;
    int32_t check_finite;
    uint64_t step; /* forward runs so far: varies dropout masks */

    int64_t batch;        /* batch of the current feeds (0 = none fed) */
    int32_t forward_done; /* a forward has run since the last feed */

    /* Arena plan: valid for planned_batch and the first planned_nodes nodes. */
    uint64_t seq; /* counts node computations, for value validity */
    int64_t planned_batch;
    int32_t planned_nodes;
    unsigned char *arena;
    size_t arena_bytes;
};

/* The graph's context (never NULL for a valid graph). */
static inline tdl_ctx *tdl_graph_ctx(tdl_graph *g)
{
    return g->ctx;
}

/* Records a non-sticky error on the graph (run-time failures) and returns status. */
tdl_status tdl_graph_fail(tdl_graph *g, tdl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Records the first builder error (sticky) and returns NULL, for builders. */
tdl_node *tdl_graph_sticky(tdl_graph *g, tdl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Appends a node. Inputs are copied; the name (may be NULL: automatic) is
 * checked for uniqueness and copied. Returns NULL with the sticky error set on
 * failure. The node inherits TDL_NODE_BACKWARD while a gradient pass is built. */
tdl_node *tdl_node_new(tdl_graph *g, const tdl_op_def *op, const char *name, int32_t n_inputs,
                       tdl_node *const *inputs, tdl_dtype dtype, const tdl_shape *shape,
                       const tdl_attrs *attrs);

/* Builder preamble: 0 when g is usable and every node is non-NULL and belongs
 * to g; otherwise records an error (unless one is already sticky) and returns -1. */
int tdl_builder_check(tdl_graph *g, const char *op_name, int32_t n, tdl_node *const *nodes);

/* Registers a parameter; undoes the last node. */
int tdl_graph_add_param(tdl_graph *g, tdl_node *n);
void tdl_graph_pop_node(tdl_graph *g);

/* Index of the gradient pass of `loss`, or -1. */
int32_t tdl_find_pass(const tdl_graph *g, const tdl_node *loss);

/* Size in bytes of one element of a dtype (0 for an unknown dtype). */
size_t tdl_dtype_size(tdl_dtype dtype);
const char *tdl_dtype_name(tdl_dtype dtype);

#endif
