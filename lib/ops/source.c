/* Nodes that hold or receive data: input, param, constant, fill. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "core/rng.h"
#include "nn/init.h"
#include "ops/op.h"

const tdl_op_def tdl_op_input = {TDL_OPID_INPUT, "input", 0, NULL, NULL};
const tdl_op_def tdl_op_param = {TDL_OPID_PARAM, "param", 0, NULL, NULL};
const tdl_op_def tdl_op_const = {TDL_OPID_CONST, "constant", 0, NULL, NULL};

static tdl_status fill_forward(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    float v = n->attrs.f[0];
    float *y = tdl_f32(n);
    int64_t count = tdl_numel(n);
    for (int64_t i = 0; i < count; ++i)
        y[i] = v;
    return TDL_OK;
}

static const tdl_op_def op_fill = {TDL_OPID_FILL, "fill", 0, fill_forward, NULL};

/* Checks a user shape: 0..8 dims, each >= 1 or (if allowed) one TDL_BATCH. */
static int check_user_shape(tdl_graph *g, const char *op, const char *name, int32_t ndim,
                            const int64_t *dims, int allow_batch, tdl_shape *out)
{
    if (ndim < 0 || ndim > TDL_MAX_DIMS || (ndim > 0 && !dims)) {
        tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                         "%s '%s': ndim %d is outside 0..%d (or shape is NULL)", op,
                         name ? name : "", (int)ndim, TDL_MAX_DIMS);
        return -1;
    }
    int batch_dims = 0;
    for (int32_t i = 0; i < ndim; ++i) {
        if (dims[i] == TDL_BATCH && allow_batch) {
            batch_dims++;
            continue;
        }
        if (dims[i] < 1) {
            tdl_graph_sticky(
                g, TDL_ERR_SHAPE, "%s '%s': dimension %d is %lld; sizes must be >= 1%s", op,
                name ? name : "", (int)i, (long long)dims[i], allow_batch ? " (or TDL_BATCH)" : "");
            return -1;
        }
    }
    if (batch_dims > 1) {
        tdl_graph_sticky(g, TDL_ERR_SHAPE, "%s '%s': at most one dimension may be TDL_BATCH", op,
                         name ? name : "");
        return -1;
    }
    tdl_shape_make(out, ndim, dims);
    return 0;
}

TDL_API tdl_node *tdl_input(tdl_graph *g, const char *name, tdl_dtype dtype, int32_t ndim,
                            const int64_t *shape)
{
    if (tdl_builder_check(g, "input", 0, NULL))
        return NULL;
    if (dtype != TDL_F32 && dtype != TDL_I32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "input '%s': dtype %d is not TDL_F32 or TDL_I32",
                                name ? name : "", (int)dtype);
    tdl_shape s;
    if (check_user_shape(g, "input", name, ndim, shape, 1, &s))
        return NULL;
    tdl_node *n = tdl_node_new(g, &tdl_op_input, name, 0, NULL, dtype, &s, NULL);
    if (n)
        n->flags |= TDL_NODE_INPUT | (dtype != TDL_F32 ? TDL_NODE_NO_GRAD : 0);
    return n;
}

TDL_API tdl_node *tdl_param(tdl_graph *g, const char *name, int32_t ndim, const int64_t *shape,
                            int32_t init, float a, float b)
{
    if (tdl_builder_check(g, "param", 0, NULL))
        return NULL;
    if (!name || !*name)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "param: a parameter needs a name (it is its key in weight files)");
    tdl_shape s;
    if (check_user_shape(g, "param", name, ndim, shape, 0, &s))
        return NULL;
    const char *why = tdl_init_check(init, a, b, &s);
    if (why)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "param '%s': %s", name, why);
    size_t bytes = (size_t)tdl_shape_numel(&s) * sizeof(float);
    tdl_node *n = tdl_node_new(g, &tdl_op_param, name, 0, NULL, TDL_F32, &s, NULL);
    if (!n)
        return NULL;
    n->own = tdl_alloc_aligned(g->ctx, bytes);
    n->grad = n->own ? tdl_alloc_aligned(g->ctx, bytes) : NULL;
    if (!n->own || !n->grad || tdl_graph_add_param(g, n) != 0) {
        tdl_graph_pop_node(g);
        return tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "param '%s': out of memory (%zu bytes)",
                                name, bytes);
    }
    memset(n->grad, 0, bytes);
    tdl_init_fill(n->own, &s, init, a, b, tdl_rng_key(g->ctx->seed, tdl_hash_str(name)));
    n->flags |= TDL_NODE_PARAM;
    n->trainable = 1;
    n->data = n->own;
    n->value_shape = s;
    return n;
}

TDL_API tdl_node *tdl_constant(tdl_graph *g, const char *name, const float *data, int32_t ndim,
                               const int64_t *shape)
{
    if (tdl_builder_check(g, "constant", 0, NULL))
        return NULL;
    if (!data)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "constant '%s': data is NULL",
                                name ? name : "");
    tdl_shape s;
    if (check_user_shape(g, "constant", name, ndim, shape, 0, &s))
        return NULL;
    size_t bytes = (size_t)tdl_shape_numel(&s) * sizeof(float);
    tdl_node *n = tdl_node_new(g, &tdl_op_const, name, 0, NULL, TDL_F32, &s, NULL);
    if (!n)
        return NULL;
    n->own = tdl_alloc_aligned(g->ctx, bytes);
    if (!n->own) {
        tdl_graph_pop_node(g);
        return tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY,
                                "constant '%s': out of memory (%zu bytes)", name ? name : "",
                                bytes);
    }
    memcpy(n->own, data, bytes);
    n->flags |= TDL_NODE_CONST | TDL_NODE_NO_GRAD;
    n->data = n->own;
    n->value_shape = s;
    return n;
}

tdl_node *tdl_fill(tdl_graph *g, const tdl_shape *shape, float value)
{
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = value;
    tdl_node *n = tdl_node_new(g, &op_fill, NULL, 0, NULL, TDL_F32, shape, &at);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}
