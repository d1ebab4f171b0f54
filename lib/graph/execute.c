/* Feeding inputs and running nodes: forward, partial runs, backward. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "graph/graph.h"
#include "graph/plan.h"
#include "ops/op.h"

TDL_API tdl_status tdl_graph_compile(tdl_graph *g)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_graph_compile: graph is NULL");
    if (g->sticky != TDL_OK)
        return g->sticky;
    if (g->n_nodes == 0)
        return tdl_graph_fail(g, TDL_ERR_STATE, "tdl_graph_compile: the graph has no nodes");
    /* a trial plan at batch 1 proves the planner can run; the real one is
     * made at the first run, for the batch that is fed */
    tdl_plan_result res;
    if (tdl_plan_compute(g, 1, NULL, 0, &res) != 0)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_graph_compile: out of memory");
    g->compiled = 1;
    g->planned_nodes = 0; /* force a real plan at the first run */
    tdl_log_msg(g->ctx, TDL_LOG_INFO,
                "compiled graph: %d nodes, %d parameters, arena %zu bytes at batch 1",
                (int)g->n_nodes, (int)g->n_params, res.arena_bytes);
    return TDL_OK;
}

TDL_API tdl_status tdl_feed(tdl_graph *g, tdl_node *input, const void *data, int32_t ndim,
                            const int64_t *shape)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_feed: graph is NULL");
    if (!input || input->graph != g || !(input->flags & TDL_NODE_INPUT))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_feed: node '%s' is not an input of this graph",
                              input ? input->name : "(NULL)");
    if (!data || (ndim > 0 && !shape))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT, "tdl_feed '%s': data or shape is NULL",
                              input->name);
    char want[96], got[96] = "[?]";
    tdl_shape_str(&input->shape, want, sizeof want);
    tdl_shape fed;
    if (tdl_shape_make(&fed, ndim, shape) == 0)
        tdl_shape_str(&fed, got, sizeof got);
    int ok = ndim == input->shape.ndim;
    int64_t batch = 0;
    for (int32_t i = 0; ok && i < ndim; ++i) {
        int64_t d = input->shape.d[i];
        if (d >= 0) {
            ok = shape[i] == d;
        } else {
            ok = shape[i] >= 1 && shape[i] % -d == 0;
            batch = ok ? shape[i] / -d : 0;
        }
    }
    if (!ok)
        return tdl_graph_fail(g, TDL_ERR_SHAPE,
                              "tdl_feed: input '%s' expects shape %s (B = batch >= 1), got %s",
                              input->name, want, got);
    input->data = (void *)data;
    input->value_shape = fed;
    input->fed_batch = batch;
    input->computed_seq = ++g->seq;
    g->forward_done = 0;
    return TDL_OK;
}

/* Marks in `run` the nodes to compute: all forward nodes, or the ancestors of
 * a target. Checks the inputs among them and fixes the batch. */
static tdl_status select_nodes(tdl_graph *g, tdl_node *target, unsigned char *run, int64_t *batch)
{
    int32_t n = g->n_nodes;
    memset(run, 0, (size_t)n);
    if (target) {
        run[target->id] = 1;
        for (int32_t i = target->id; i >= 0; --i)
            if (run[i])
                for (int32_t j = 0; j < g->nodes[i]->n_inputs; ++j)
                    run[g->nodes[i]->inputs[j]->id] = 1;
    } else {
        for (int32_t i = 0; i < n; ++i)
            run[i] = !(g->nodes[i]->flags & TDL_NODE_BACKWARD);
    }
    int64_t b = 0;
    const tdl_node *first = NULL;
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (!run[i] || !(v->flags & TDL_NODE_INPUT))
            continue;
        if (!v->data)
            return tdl_graph_fail(g, TDL_ERR_STATE, "run: input '%s' was not fed (tdl_feed)",
                                  v->name);
        if (v->fed_batch == 0)
            continue;
        if (b && v->fed_batch != b)
            return tdl_graph_fail(g, TDL_ERR_SHAPE,
                                  "run: inputs fed with different batch sizes: '%s' has %lld, "
                                  "'%s' has %lld",
                                  first->name, (long long)b, v->name, (long long)v->fed_batch);
        b = v->fed_batch;
        first = v;
    }
    *batch = b ? b : 1;
    return TDL_OK;
}

/* Voids every arena value (their memory is about to be given other uses). */
static void void_arena_values(tdl_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tdl_node *v = g->nodes[i];
        if (!(v->flags & (TDL_NODE_PARAM | TDL_NODE_CONST | TDL_NODE_INPUT)))
            v->computed_seq = 0;
    }
}

/* Makes the plan cover `scope` (NULL: the whole graph, for tdl_forward() and
 * the tdl_backward() that follows it; else the nodes a tdl_run() computes) at
 * `batch`. The current plan is kept when it covers them at a batch at least as
 * large (a plan's offsets stay disjoint for smaller tensors); otherwise the
 * scope alone is planned for this batch, so a run at a large batch (inference)
 * does not size the arena for a gradient pass it does not run. The arena only
 * grows. */
static tdl_status ensure_plan(tdl_graph *g, int64_t batch, const unsigned char *scope)
{
    if (g->arena && g->planned_nodes == g->n_nodes && batch <= g->planned_batch &&
        tdl_plan_covers(g, scope))
        return TDL_OK;
    /* every arena value is void under a new plan */
    g->planned_nodes = 0;
    void_arena_values(g);
    tdl_plan_result res;
    if (tdl_plan_compute(g, batch, scope, 1, &res) != 0)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "run: out of memory planning");
    if (!g->arena || res.arena_bytes > g->arena_bytes) {
        /* the old arena holds no live value: release it first, so the two
         * are never held at once */
        size_t bytes = res.arena_bytes ? res.arena_bytes : 64;
        tdl_free_aligned(g->ctx, g->arena);
        g->arena_bytes = 0;
        g->arena = tdl_alloc_aligned(g->ctx, bytes);
        if (!g->arena)
            return tdl_graph_fail(
                g, TDL_ERR_OUT_OF_MEMORY,
                "run: out of memory for the %zu-byte activation arena (batch %lld)", bytes,
                (long long)batch);
        g->arena_bytes = bytes;
    }
    g->planned_batch = batch;
    g->planned_nodes = g->n_nodes;
    tdl_log_msg(g->ctx, TDL_LOG_INFO,
                "memory plan for batch %lld (%s): arena %zu bytes (naive %zu), %zu allocated",
                (long long)batch, scope ? "the nodes tdl_run needs" : "whole graph",
                res.arena_bytes, res.naive_bytes, g->arena_bytes);
    return TDL_OK;
}

static tdl_status check_finite(tdl_graph *g, const tdl_node *v)
{
    if (v->dtype != TDL_F32)
        return TDL_OK;
    const float *x = v->data;
    int64_t count = tdl_shape_numel(&v->value_shape);
    for (int64_t i = 0; i < count; ++i)
        if (!isfinite(x[i])) {
            const char *from = v->n_inputs ? v->inputs[0]->name : "";
            return tdl_graph_fail(g, TDL_ERR_NON_FINITE,
                                  "non-finite value %g at element %lld of node '%s' (op %s%s%s)",
                                  (double)x[i], (long long)i, v->name, v->op->name,
                                  *from ? ", first input " : "", from);
        }
    return TDL_OK;
}

static tdl_status run_nodes(tdl_graph *g, const unsigned char *run, int32_t begin, int32_t end,
                            int64_t batch, uint64_t step)
{
    tdl_exec ex;
    ex.g = g;
    ex.ctx = g->ctx;
    tdl_ctx_kernel_env(g->ctx, &ex.kenv);
    ex.training = g->training;
    ex.step = step;
    ex.batch = batch;
    for (int32_t i = begin; i < end; ++i) {
        tdl_node *v = g->nodes[i];
        if ((run && !run[i]) ||
            (v->flags & (TDL_NODE_INPUT | TDL_NODE_PARAM | TDL_NODE_CONST | TDL_NODE_DEAD)))
            continue;
        tdl_shape_resolve(&v->shape, batch, &v->value_shape);
        if (v->op->flags & TDL_OP_ALIAS) {
            v->data = v->inputs[0]->data;
        } else {
            v->data = g->arena + v->arena_offset;
            tdl_status st = v->op->forward(&ex, v);
            if (st != TDL_OK)
                return st;
        }
        v->computed_seq = ++g->seq;
        if (g->check_finite) {
            tdl_status st = check_finite(g, v);
            if (st != TDL_OK)
                return st;
        }
    }
    return TDL_OK;
}

static tdl_status precheck(tdl_graph *g, const char *fn)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: graph is NULL", fn);
    if (g->sticky != TDL_OK)
        return tdl_graph_fail(g, g->sticky, "%s: the graph has a build error: %s", fn, g->error);
    if (!g->compiled)
        return tdl_graph_fail(g, TDL_ERR_STATE, "%s: compile the graph first (tdl_graph_compile)",
                              fn);
    return TDL_OK;
}

static tdl_status forward_with_step(tdl_graph *g, uint64_t step)
{
    unsigned char *run = tdl_alloc(g->ctx, (size_t)g->n_nodes);
    if (!run)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_forward: out of memory");
    int64_t batch = 0;
    tdl_status st = select_nodes(g, NULL, run, &batch);
    if (st == TDL_OK)
        st = ensure_plan(g, batch, NULL);
    if (st == TDL_OK) {
        g->batch = batch;
        st = run_nodes(g, run, 0, g->n_nodes, batch, step);
    }
    tdl_free(g->ctx, run);
    g->forward_done = st == TDL_OK;
    return st;
}

TDL_API tdl_status tdl_forward(tdl_graph *g)
{
    tdl_status st = precheck(g, "tdl_forward");
    if (st != TDL_OK)
        return st;
    return forward_with_step(g, ++g->step);
}

TDL_API tdl_status tdl_run(tdl_graph *g, tdl_node *target)
{
    tdl_status st = precheck(g, "tdl_run");
    if (st != TDL_OK)
        return st;
    if (!target || target->graph != g)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_run: target is NULL or not a node of this graph");
    unsigned char *run = tdl_alloc(g->ctx, (size_t)g->n_nodes);
    if (!run)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_run: out of memory");
    int64_t batch = 0;
    st = select_nodes(g, target, run, &batch);
    if (st == TDL_OK)
        st = ensure_plan(g, batch, run);
    if (st == TDL_OK) {
        g->batch = batch;
        st = run_nodes(g, run, 0, target->id + 1, batch, ++g->step);
    }
    tdl_free(g->ctx, run);
    g->forward_done = 0;
    return st;
}

TDL_API tdl_status tdl_backward(tdl_graph *g, tdl_node *loss)
{
    tdl_status st = precheck(g, "tdl_backward");
    if (st != TDL_OK)
        return st;
    if (!loss || loss->graph != g)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_backward: loss is NULL or not a node of this graph");
    if (!g->forward_done)
        return tdl_graph_fail(g, TDL_ERR_STATE,
                              "tdl_backward: run tdl_forward() after the last tdl_feed() first");
    int32_t p = tdl_find_pass(g, loss);
    if (p < 0) {
        st = tdl_build_gradients(g, loss);
        if (st != TDL_OK)
            return st;
        p = tdl_find_pass(g, loss);
        /* the new nodes need a new plan, which voids the forward values:
         * recompute them with the same step (same dropout masks) */
        st = forward_with_step(g, g->step);
        if (st != TDL_OK)
            return st;
    }
    tdl_grad_pass *pass = &g->passes[p];
    st = run_nodes(g, NULL, pass->first_node, pass->end_node, g->batch, g->step);
    if (st != TDL_OK)
        return st;
    for (int32_t i = 0; i < pass->n_params; ++i) {
        tdl_node *param = g->params[i];
        size_t bytes = (size_t)tdl_shape_numel(&param->shape) * sizeof(float);
        if (pass->param_grads[i])
            memcpy(param->grad, pass->param_grads[i]->data, bytes);
        else
            memset(param->grad, 0, bytes);
    }
    return TDL_OK;
}

/* 1 when the node's current value has not been overwritten since it was computed. */
static int value_intact(const tdl_node *v)
{
    if (v->flags & (TDL_NODE_PARAM | TDL_NODE_CONST))
        return 1;
    if (!v->computed_seq || !v->data)
        return 0;
    if (v->flags & TDL_NODE_INPUT)
        return 1;
    const tdl_graph *g = v->graph;
    tdl_node *root = tdl_plan_root((tdl_node *)v);
    if (root->flags & (TDL_NODE_PARAM | TDL_NODE_CONST | TDL_NODE_INPUT))
        return 1;
    if (root->computed_seq == 0 || root->computed_seq > v->computed_seq)
        return 0;
    size_t lo = root->arena_offset;
    size_t hi = lo + (size_t)tdl_shape_numel(&root->value_shape) * tdl_dtype_size(root->dtype);
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tdl_node *w = g->nodes[i];
        if (w == root || w->computed_seq <= root->computed_seq ||
            (w->flags & (TDL_NODE_PARAM | TDL_NODE_CONST | TDL_NODE_INPUT | TDL_NODE_DEAD)) ||
            (w->op->flags & TDL_OP_ALIAS))
            continue;
        size_t wlo = w->arena_offset;
        size_t whi = wlo + (size_t)tdl_shape_numel(&w->value_shape) * tdl_dtype_size(w->dtype);
        if (wlo < hi && lo < whi)
            return 0;
    }
    return 1;
}

TDL_API tdl_status tdl_node_value_shape(const tdl_node *node, int32_t *ndim, int64_t *shape)
{
    if (!node || !ndim || !shape)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_node_value_shape: node, ndim and shape must be non-NULL");
    if (!value_intact(node))
        return tdl_graph_fail(node->graph, TDL_ERR_STATE,
                              "tdl_node_value_shape: '%s' has no current value", node->name);
    *ndim = node->value_shape.ndim;
    for (int32_t i = 0; i < node->value_shape.ndim; ++i)
        shape[i] = node->value_shape.d[i];
    return TDL_OK;
}

TDL_API const void *tdl_node_data(const tdl_node *node)
{
    return node && value_intact(node) ? node->data : NULL;
}

TDL_API tdl_status tdl_node_read(const tdl_node *node, void *dst, size_t dst_bytes)
{
    if (!node || !dst)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_node_read: node or dst is NULL");
    if (!value_intact(node))
        return tdl_graph_fail(node->graph, TDL_ERR_STATE,
                              "tdl_node_read: '%s' has no current value (not computed by the "
                              "last run, or its memory was reused by a later node; run it with "
                              "tdl_run() to read it)",
                              node->name);
    size_t bytes = (size_t)tdl_shape_numel(&node->value_shape) * tdl_dtype_size(node->dtype);
    if (dst_bytes < bytes)
        return tdl_graph_fail(node->graph, TDL_ERR_SHAPE,
                              "tdl_node_read: '%s' holds %zu bytes, dst has %zu", node->name, bytes,
                              dst_bytes);
    memcpy(dst, node->data, bytes);
    return TDL_OK;
}

TDL_API tdl_status tdl_graph_memory_plan(tdl_graph *g, int64_t batch, uint64_t *arena_bytes,
                                         uint64_t *naive_bytes, uint64_t *param_bytes)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_memory_plan: graph is NULL");
    if (batch < 1)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_graph_memory_plan: batch %lld must be >= 1", (long long)batch);
    if (g->sticky != TDL_OK)
        return tdl_graph_fail(g, TDL_ERR_STATE, "tdl_graph_memory_plan: build error: %s", g->error);
    /* a what-if plan of the whole graph: the current plan is left as it is */
    tdl_plan_result res;
    if (tdl_plan_compute(g, batch, NULL, 0, &res) != 0)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY, "tdl_graph_memory_plan: out of memory");
    if (arena_bytes)
        *arena_bytes = res.arena_bytes;
    if (naive_bytes)
        *naive_bytes = res.naive_bytes;
    if (param_bytes)
        *param_bytes = res.param_bytes;
    return TDL_OK;
}
