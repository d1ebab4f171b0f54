/* Reverse-mode autodiff as a graph transformation: the gradient of a scalar is
 * built from ordinary nodes (each op's gradient rule uses other ops), so a
 * gradient can itself be differentiated. */
#include <string.h>

#include <tiny-dl/ops.h>

#include "graph/graph.h"
#include "ops/op.h"

static int is_scalar(const tdl_node *n)
{
    return !tdl_shape_is_symbolic(&n->shape) && tdl_shape_numel(&n->shape) == 1;
}

/* Builds d y / d targets[t] into out[t] (NULL where y does not depend on it).
 * Only nodes that exist on entry are differentiated. Returns 0 or -1 (sticky). */
static int build(tdl_graph *g, tdl_node *y, int32_t n_targets, tdl_node *const *targets,
                 tdl_node **out)
{
    tdl_ctx *ctx = g->ctx;
    int32_t n = y->id + 1;
    unsigned char *dep = tdl_calloc(ctx, (size_t)n, 2);
    tdl_node **grads = tdl_calloc(ctx, (size_t)n, sizeof(tdl_node *));
    if (!dep || !grads) {
        tdl_free(ctx, dep);
        tdl_free(ctx, grads);
        tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "gradient of '%s': out of memory", y->name);
        return -1;
    }
    unsigned char *anc = dep + n;
    for (int32_t t = 0; t < n_targets; ++t)
        if (targets[t]->id < n)
            dep[targets[t]->id] = 1;
    /* dep: the node's value changes with some target (gradient can flow) */
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (dep[i] || (v->flags & TDL_NODE_NO_GRAD) || v->dtype != TDL_F32)
            continue;
        for (int32_t j = 0; j < v->n_inputs; ++j)
            dep[i] |= dep[v->inputs[j]->id];
    }
    anc[y->id] = 1;
    for (int32_t i = n - 1; i >= 0; --i)
        if (anc[i])
            for (int32_t j = 0; j < g->nodes[i]->n_inputs; ++j)
                anc[g->nodes[i]->inputs[j]->id] = 1;

    int rc = 0;
    if (dep[y->id])
        grads[y->id] = tdl_fill(g, &y->shape, 1.0f);
    if (dep[y->id] && !grads[y->id])
        rc = -1;
    for (int32_t i = y->id; rc == 0 && i >= 0; --i) {
        tdl_node *v = g->nodes[i];
        if (!dep[i] || !anc[i] || !grads[i] || v->n_inputs == 0)
            continue;
        int any = 0;
        for (int32_t j = 0; j < v->n_inputs; ++j)
            any |= dep[v->inputs[j]->id];
        if (!any)
            continue;
        if (!v->op->backward) {
            tdl_graph_sticky(g, TDL_ERR_UNSUPPORTED,
                             "gradient of '%s': op '%s' (node '%s') has no gradient rule", y->name,
                             v->op->name, v->name);
            rc = -1;
            break;
        }
        tdl_node *dx[64];
        tdl_node **dxp = v->n_inputs <= 64 ? dx : tdl_calloc(ctx, (size_t)v->n_inputs, sizeof *dxp);
        if (!dxp) {
            tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "gradient of '%s': out of memory", y->name);
            rc = -1;
            break;
        }
        memset(dxp, 0, sizeof(tdl_node *) * (size_t)(v->n_inputs <= 64 ? 64 : v->n_inputs));
        if (v->op->backward(g, v, grads[i], dxp) != 0)
            rc = -1;
        for (int32_t j = 0; rc == 0 && j < v->n_inputs; ++j) {
            tdl_node *in = v->inputs[j];
            if (!dxp[j] || !dep[in->id])
                continue;
            if (!tdl_shape_equal(&dxp[j]->shape, &in->shape)) {
                tdl_graph_sticky(g, TDL_ERR_INTERNAL,
                                 "gradient rule of '%s' gave input %d a wrongly shaped gradient",
                                 v->op->name, (int)j);
                rc = -1;
                break;
            }
            grads[in->id] = grads[in->id] ? tdl_add(g, grads[in->id], dxp[j]) : dxp[j];
            if (!grads[in->id])
                rc = -1;
        }
        if (dxp != dx)
            tdl_free(ctx, dxp);
    }
    for (int32_t t = 0; t < n_targets; ++t)
        out[t] = (rc == 0 && targets[t]->id < n) ? grads[targets[t]->id] : NULL;
    tdl_free(ctx, dep);
    tdl_free(ctx, grads);
    return rc;
}

TDL_API tdl_node *tdl_grad(tdl_graph *g, tdl_node *y, tdl_node *x)
{
    tdl_node *in[2] = {y, x};
    if (tdl_builder_check(g, "grad", 2, in))
        return NULL;
    if (!is_scalar(y))
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "grad: '%s' is not a scalar", y->name);
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "grad: '%s' is not f32", x->name);
    tdl_node *out = NULL;
    if (build(g, y, 1, &x, &out) != 0)
        return NULL;
    return out ? out : tdl_fill(g, &x->shape, 0.0f);
}

/* Index of the pass of `loss`, or -1. */
int32_t tdl_find_pass(const tdl_graph *g, const tdl_node *loss)
{
    for (int32_t i = 0; i < g->n_passes; ++i)
        if (g->passes[i].loss == loss)
            return i;
    return -1;
}

/* Gradient rules produce gradients for every input, including ones no
 * parameter needs (e.g. the input gradient of a first layer). Marks the pass
 * nodes that no parameter gradient depends on as dead, so they are neither
 * planned nor run. */
static void prune_pass(tdl_graph *g, int32_t first, tdl_node *const *grads, int32_t np)
{
    int32_t end = g->n_nodes;
    for (int32_t i = first; i < end; ++i)
        g->nodes[i]->flags |= TDL_NODE_DEAD;
    for (int32_t p = 0; p < np; ++p)
        if (grads[p] && grads[p]->id >= first)
            grads[p]->flags &= ~TDL_NODE_DEAD;
    for (int32_t i = end - 1; i >= first; --i) {
        tdl_node *v = g->nodes[i];
        if (v->flags & TDL_NODE_DEAD)
            continue;
        for (int32_t j = 0; j < v->n_inputs; ++j)
            v->inputs[j]->flags &= ~TDL_NODE_DEAD;
    }
}

TDL_API tdl_status tdl_build_gradients(tdl_graph *g, tdl_node *loss)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_build_gradients: graph is NULL");
    if (g->sticky != TDL_OK)
        return g->sticky;
    if (!loss || loss->graph != g)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_build_gradients: loss is NULL or not a node of this graph");
    if (tdl_find_pass(g, loss) >= 0)
        return TDL_OK;
    if (!is_scalar(loss))
        return tdl_graph_fail(g, TDL_ERR_SHAPE, "tdl_build_gradients: loss '%s' is not a scalar",
                              loss->name);
    tdl_ctx *ctx = g->ctx;
    if (g->n_passes == g->cap_passes) {
        int32_t cap = g->cap_passes ? 2 * g->cap_passes : 4;
        void *p = tdl_realloc(ctx, g->passes, sizeof(tdl_grad_pass) * (size_t)cap);
        if (!p)
            return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_build_gradients: out of memory");
        g->passes = p;
        g->cap_passes = cap;
    }
    int32_t np = g->n_params;
    tdl_node **grads = tdl_calloc(ctx, (size_t)(np ? np : 1), sizeof(tdl_node *));
    tdl_node **targets = tdl_calloc(ctx, (size_t)(np ? np : 1), sizeof(tdl_node *));
    if (!grads || !targets) {
        tdl_free(ctx, grads);
        tdl_free(ctx, targets);
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_build_gradients: out of memory");
    }
    int32_t nt = 0;
    for (int32_t i = 0; i < np; ++i)
        if (g->params[i]->trainable)
            targets[nt++] = g->params[i];
    tdl_node **found = tdl_calloc(ctx, (size_t)(nt ? nt : 1), sizeof(tdl_node *));
    int32_t first = g->n_nodes;
    g->building_pass = 1;
    int rc = found ? build(g, loss, nt, targets, found) : -1;
    g->building_pass = 0;
    if (!found)
        tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "tdl_build_gradients: out of memory");
    if (rc != 0) {
        while (g->n_nodes > first)
            tdl_graph_pop_node(g);
        tdl_free(ctx, grads);
        tdl_free(ctx, targets);
        tdl_free(ctx, found);
        return g->sticky;
    }
    for (int32_t i = 0, t = 0; i < np; ++i)
        if (g->params[i]->trainable)
            grads[i] = found[t++];
    tdl_free(ctx, targets);
    tdl_free(ctx, found);
    prune_pass(g, first, grads, np);
    tdl_grad_pass *pass = &g->passes[g->n_passes++];
    pass->loss = loss;
    pass->first_node = first;
    pass->end_node = g->n_nodes;
    pass->param_grads = grads;
    pass->n_params = np;
    return TDL_OK;
}
