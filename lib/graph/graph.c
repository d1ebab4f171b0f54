/* Graph lifetime, node creation, errors and accessors. */
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"
#include "ops/op.h"

size_t tdl_dtype_size(tdl_dtype dtype)
{
    switch (dtype) {
    case TDL_F32: return 4;
    case TDL_I32: return 4;
    default: return 0;
    }
}

const char *tdl_dtype_name(tdl_dtype dtype)
{
    switch (dtype) {
    case TDL_F32: return "f32";
    case TDL_I32: return "i32";
    default: return "invalid";
    }
}

TDL_API tdl_status tdl_graph_create(tdl_ctx *ctx, tdl_graph **out)
{
    if (!out)
        return tdl_fail(ctx, ctx ? ctx->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_graph_create: ctx is NULL");
    tdl_graph *g = tdl_calloc(ctx, 1, sizeof *g);
    if (!g)
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY, "tdl_graph_create: out of memory");
    g->ctx = ctx;
    g->training = 1;
    *out = g;
    return TDL_OK;
}

static void node_free(tdl_ctx *ctx, tdl_node *n)
{
    tdl_free(ctx, n->name);
    tdl_free(ctx, n->inputs);
    tdl_free_aligned(ctx, n->own);
    tdl_free_aligned(ctx, n->grad);
    tdl_free(ctx, n);
}

TDL_API void tdl_graph_destroy(tdl_graph *g)
{
    if (!g)
        return;
    tdl_ctx *ctx = g->ctx;
    for (int32_t i = 0; i < g->n_nodes; ++i)
        node_free(ctx, g->nodes[i]);
    for (int32_t i = 0; i < g->n_passes; ++i)
        tdl_free(ctx, g->passes[i].param_grads);
    tdl_free(ctx, g->passes);
    tdl_free(ctx, g->nodes);
    tdl_free(ctx, g->params);
    tdl_free_aligned(ctx, g->arena);
    tdl_free(ctx, g);
}

TDL_API const char *tdl_graph_error(const tdl_graph *g)
{
    return g ? g->error : "";
}

TDL_API tdl_status tdl_graph_status(const tdl_graph *g)
{
    return g ? g->sticky : TDL_ERR_INVALID_ARGUMENT;
}

tdl_status tdl_graph_fail(tdl_graph *g, tdl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tdl_failv(g->ctx, g->error, status, fmt, ap);
    va_end(ap);
    return status;
}

tdl_node *tdl_graph_sticky(tdl_graph *g, tdl_status status, const char *fmt, ...)
{
    if (g->sticky != TDL_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    tdl_failv(g->ctx, g->error, status, fmt, ap);
    va_end(ap);
    g->sticky = status;
    return NULL;
}

int tdl_builder_check(tdl_graph *g, const char *op_name, int32_t n, tdl_node *const *nodes)
{
    if (!g) {
        tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: graph is NULL", op_name);
        return -1;
    }
    if (g->sticky != TDL_OK)
        return -1;
    for (int32_t i = 0; i < n; ++i) {
        if (!nodes[i]) {
            tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s: input %d is NULL", op_name, (int)i);
            return -1;
        }
        if (nodes[i]->graph != g) {
            tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                             "%s: input %d ('%s') belongs to another graph", op_name, (int)i,
                             nodes[i]->name);
            return -1;
        }
    }
    return 0;
}

static tdl_node *find_node(const tdl_graph *g, const char *name)
{
    for (int32_t i = 0; i < g->n_nodes; ++i)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

static int grow(tdl_ctx *ctx, void **arr, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int32_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = tdl_realloc(ctx, *arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

tdl_node *tdl_node_new(tdl_graph *g, const tdl_op_def *op, const char *name, int32_t n_inputs,
                       tdl_node *const *inputs, tdl_dtype dtype, const tdl_shape *shape,
                       const tdl_attrs *attrs)
{
    tdl_ctx *ctx = g->ctx;
    char autoname[64];
    if (!name || !*name) {
        snprintf(autoname, sizeof autoname, "%s_%d", op->name, (int)g->n_nodes);
        name = autoname;
    }
    if (find_node(g, name)) {
        /* automatic names can collide with a user's name: pick another */
        if (name != autoname)
            return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                    "%s: a node named '%s' already exists", op->name, name);
        snprintf(autoname, sizeof autoname, "%s_%d_%d", op->name, (int)g->n_nodes,
                 (int)g->n_passes);
    }
    if (grow(ctx, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(tdl_node *)) != 0)
        return tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "%s: out of memory adding node '%s'",
                                op->name, name);
    tdl_node *n = tdl_calloc(ctx, 1, sizeof *n);
    char *dup = n ? tdl_strdup(ctx, name) : NULL;
    tdl_node **ins = NULL;
    if (n && dup && n_inputs > 0)
        ins = tdl_alloc(ctx, sizeof(tdl_node *) * (size_t)n_inputs);
    if (!n || !dup || (n_inputs > 0 && !ins)) {
        tdl_free(ctx, n);
        tdl_free(ctx, dup);
        tdl_free(ctx, ins);
        return tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "%s: out of memory adding node '%s'",
                                op->name, name);
    }
    for (int32_t i = 0; i < n_inputs; ++i)
        ins[i] = inputs[i];
    n->graph = g;
    n->id = g->n_nodes;
    n->op = op;
    n->name = dup;
    n->n_inputs = n_inputs;
    n->inputs = ins;
    n->dtype = dtype;
    n->shape = *shape;
    if (attrs)
        n->attrs = *attrs;
    n->last_use = -1;
    if (g->building_pass)
        n->flags |= TDL_NODE_BACKWARD;
    g->nodes[g->n_nodes++] = n;
    return n;
}

/* ---- accessors ---- */

TDL_API tdl_status tdl_graph_set_training(tdl_graph *g, int32_t training)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_set_training: graph is NULL");
    g->training = training != 0;
    return TDL_OK;
}

TDL_API tdl_status tdl_graph_set_check_finite(tdl_graph *g, int32_t enable)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_set_check_finite: graph is NULL");
    g->check_finite = enable != 0;
    return TDL_OK;
}

TDL_API tdl_status tdl_node_shape(const tdl_node *node, int32_t *ndim, int64_t *shape)
{
    if (!node || !ndim || !shape)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_node_shape: node, ndim and shape must be non-NULL");
    *ndim = node->shape.ndim;
    for (int32_t i = 0; i < node->shape.ndim; ++i)
        shape[i] = node->shape.d[i];
    return TDL_OK;
}

TDL_API tdl_dtype tdl_node_dtype(const tdl_node *node)
{
    return node ? node->dtype : 0;
}

TDL_API const char *tdl_node_name(const tdl_node *node)
{
    return node ? node->name : "";
}

TDL_API const char *tdl_node_op(const tdl_node *node)
{
    return node ? node->op->name : "";
}

TDL_API tdl_node *tdl_graph_find(const tdl_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    return find_node(g, name);
}

TDL_API int64_t tdl_graph_param_count(const tdl_graph *g)
{
    return g ? g->n_params : 0;
}

TDL_API tdl_node *tdl_graph_param(const tdl_graph *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_params)
        return NULL;
    return g->params[i];
}

TDL_API int64_t tdl_graph_param_elements(const tdl_graph *g)
{
    int64_t total = 0;
    for (int32_t i = 0; g && i < g->n_params; ++i)
        total += tdl_shape_numel(&g->params[i]->shape);
    return total;
}

TDL_API float *tdl_param_data(tdl_node *param)
{
    if (!param || !(param->flags & TDL_NODE_PARAM))
        return NULL;
    return (float *)param->own;
}

TDL_API float *tdl_param_grad(tdl_node *param)
{
    if (!param || !(param->flags & TDL_NODE_PARAM))
        return NULL;
    return param->grad;
}

TDL_API tdl_status tdl_param_set_trainable(tdl_node *param, int32_t trainable)
{
    if (!param || !(param->flags & TDL_NODE_PARAM))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_param_set_trainable: not a parameter");
    tdl_graph *g = param->graph;
    if ((param->flags & TDL_NODE_BUFFER) && trainable)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_param_set_trainable: '%s' is a buffer (running statistics), "
                              "never trained",
                              param->name);
    if (g->n_passes > 0 && (param->trainable != 0) != (trainable != 0))
        return tdl_graph_fail(g, TDL_ERR_STATE,
                              "tdl_param_set_trainable: '%s': gradients are already built; "
                              "freeze parameters before the first tdl_backward()",
                              param->name);
    param->trainable = trainable != 0;
    return TDL_OK;
}

TDL_API int32_t tdl_param_trainable(const tdl_node *param)
{
    if (!param || !(param->flags & TDL_NODE_PARAM))
        return 0;
    return param->trainable;
}

/* Registers a parameter node in g->params (called by the param builder). */
int tdl_graph_add_param(tdl_graph *g, tdl_node *n)
{
    if (grow(g->ctx, (void **)&g->params, &g->cap_params, g->n_params + 1, sizeof(tdl_node *)))
        return -1;
    g->params[g->n_params++] = n;
    return 0;
}

/* Removes the last node (used to undo a half-built node on failure). */
void tdl_graph_pop_node(tdl_graph *g)
{
    if (g->n_nodes == 0)
        return;
    node_free(g->ctx, g->nodes[--g->n_nodes]);
}
