/* Memory plan: liveness over the node order, then first-fit placement of every
 * computed tensor in one arena. Persistent nodes (parameters, constants),
 * inputs (caller memory) and aliases (reshape) take no arena space; an
 * in-place op (relu) whose input dies at it takes over the input's block.
 *
 * A plan covers a scope of nodes: the whole graph for tdl_forward() (whose
 * gradient passes tdl_backward() then runs on the same plan), or only the
 * ancestors of a tdl_run() target, so that inference at a large batch needs
 * the forward's memory at that batch, not the gradient pass's. */
#include <limits.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/plan.h"
#include "ops/op.h"

#define ARENA_ALIGN 64

int tdl_plan_needs_arena(const tdl_node *n)
{
    return !(n->flags & (TDL_NODE_PARAM | TDL_NODE_CONST | TDL_NODE_INPUT | TDL_NODE_DEAD)) &&
           !(n->op->flags & TDL_OP_ALIAS);
}

/* The node whose memory `n` uses (follows alias chains). */
tdl_node *tdl_plan_root(tdl_node *n)
{
    while (n->op->flags & TDL_OP_ALIAS)
        n = n->inputs[0];
    return n;
}

static size_t node_bytes(const tdl_node *n, int64_t batch)
{
    tdl_shape s;
    tdl_shape_resolve(&n->shape, batch, &s);
    size_t b = (size_t)tdl_shape_numel(&s) * tdl_dtype_size(n->dtype);
    return (b + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

static int in_scope(const tdl_node *v, const unsigned char *scope)
{
    return scope ? scope[v->id] != 0 : !(v->flags & TDL_NODE_DEAD);
}

int tdl_plan_covers(const tdl_graph *g, const unsigned char *scope)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tdl_node *v = g->nodes[i];
        if (in_scope(v, scope) && tdl_plan_needs_arena(v) && v->last_use == TDL_PLAN_UNPLANNED)
            return 0;
    }
    return 1;
}

typedef struct live_block {
    size_t off, size;
    int32_t last_use;
} live_block;

/* An in-place op whose first input is last read by it (and is as large)
 * writes over the input: the input's live block becomes the op's. */
static int take_over_input(const tdl_node *v, int32_t i, size_t bytes, const int32_t *last,
                           size_t *offset, live_block *live, int32_t n_live)
{
    if (!(v->op->flags & TDL_OP_IN_PLACE) || v->n_inputs < 1)
        return 0;
    const tdl_node *x = tdl_plan_root(v->inputs[0]);
    if (!tdl_plan_needs_arena(x) || x->id >= i || last[x->id] != i || x->dtype != v->dtype)
        return 0;
    for (int32_t b = 0; b < n_live; ++b)
        if (live[b].off == offset[x->id] && live[b].size == bytes && live[b].last_use == i) {
            live[b].last_use = last[i];
            offset[i] = offset[x->id];
            return 1;
        }
    return 0;
}

int tdl_plan_compute(tdl_graph *g, int64_t batch, const unsigned char *scope, int commit,
                     tdl_plan_result *res)
{
    tdl_ctx *ctx = g->ctx;
    int32_t n = g->n_nodes;
    memset(res, 0, sizeof *res);
    size_t cap = (size_t)(n ? n : 1);
    unsigned char *work =
        tdl_alloc(ctx, cap * (sizeof(live_block) + sizeof(size_t) + sizeof(int32_t)));
    if (!work)
        return -1;
    live_block *live = (live_block *)work;
    size_t *offset = (size_t *)(live + cap);
    int32_t *last = (int32_t *)(offset + cap);

    /* liveness: the last node of the scope that reads each value's memory */
    for (int32_t i = 0; i < n; ++i) {
        last[i] = -1;
        offset[i] = 0;
    }
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (!in_scope(v, scope))
            continue;
        for (int32_t j = 0; j < v->n_inputs; ++j) {
            int32_t r = tdl_plan_root(v->inputs[j])->id;
            if (last[r] < i)
                last[r] = i;
        }
    }
    /* outputs (nothing in the scope reads them: the target of a run) and
     * parameter gradients stay to the end */
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (last[i] < 0 && in_scope(v, scope))
            last[tdl_plan_root(v)->id] = INT_MAX;
    }
    for (int32_t p = 0; p < g->n_passes; ++p)
        for (int32_t i = 0; i < g->passes[p].n_params; ++i) {
            tdl_node *dw = g->passes[p].param_grads[i];
            if (dw && in_scope(dw, scope))
                last[tdl_plan_root(dw)->id] = INT_MAX;
        }

    int32_t n_live = 0;
    size_t peak = 0;
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (!in_scope(v, scope))
            continue;
        if (!tdl_plan_needs_arena(v)) {
            size_t exact = (size_t)tdl_shape_numel(&v->shape) * tdl_dtype_size(v->dtype);
            if (v->flags & (TDL_NODE_PARAM | TDL_NODE_CONST))
                res->param_bytes += exact * ((v->flags & TDL_NODE_PARAM) ? 2 : 1);
            continue;
        }
        size_t bytes = node_bytes(v, batch);
        res->naive_bytes += bytes;
        if (take_over_input(v, i, bytes, last, offset, live, n_live))
            continue;
        /* free blocks whose last reader came before this node */
        int32_t k = 0;
        for (int32_t b = 0; b < n_live; ++b)
            if (live[b].last_use >= i)
                live[k++] = live[b];
        n_live = k;
        /* first fit between live blocks (kept sorted by offset) */
        size_t off = 0;
        int32_t pos = 0;
        for (; pos < n_live; ++pos) {
            if (live[pos].off >= off + bytes)
                break;
            size_t end = live[pos].off + live[pos].size;
            off = end > off ? end : off;
        }
        memmove(&live[pos + 1], &live[pos], sizeof(live_block) * (size_t)(n_live - pos));
        live[pos].off = off;
        live[pos].size = bytes;
        live[pos].last_use = last[i];
        n_live++;
        offset[i] = off;
        if (off + bytes > peak)
            peak = off + bytes;
    }
    res->arena_bytes = peak;

    if (commit)
        for (int32_t i = 0; i < n; ++i) {
            tdl_node *v = g->nodes[i];
            int planned = in_scope(v, scope);
            v->last_use = planned || !tdl_plan_needs_arena(v) ? last[i] : TDL_PLAN_UNPLANNED;
            v->arena_offset = offset[i];
        }
    tdl_free(ctx, work);
    return 0;
}
