/* Memory plan: liveness over the node order, then first-fit placement of every
 * computed tensor in one arena. Persistent nodes (parameters, constants),
 * inputs (caller memory) and aliases (reshape) take no arena space. */
#include <limits.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/plan.h"
#include "ops/op.h"

#define ARENA_ALIGN 64

static int needs_arena(const tdl_node *n)
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

typedef struct live_block {
    size_t off, size;
    int32_t node, last_use;
} live_block;

int tdl_plan_compute(tdl_graph *g, int64_t batch, tdl_plan_result *res)
{
    tdl_ctx *ctx = g->ctx;
    int32_t n = g->n_nodes;
    memset(res, 0, sizeof *res);
    for (int32_t i = 0; i < n; ++i)
        g->nodes[i]->last_use = -1;
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (v->flags & TDL_NODE_DEAD)
            continue;
        for (int32_t j = 0; j < v->n_inputs; ++j) {
            tdl_node *r = tdl_plan_root(v->inputs[j]);
            if (r->last_use < i)
                r->last_use = i;
        }
    }
    /* outputs (nothing reads them) and parameter gradients stay to the end */
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        if (v->last_use < 0 && !(v->flags & TDL_NODE_DEAD))
            tdl_plan_root(v)->last_use = INT_MAX;
    }
    for (int32_t p = 0; p < g->n_passes; ++p)
        for (int32_t i = 0; i < g->passes[p].n_params; ++i)
            if (g->passes[p].param_grads[i])
                tdl_plan_root(g->passes[p].param_grads[i])->last_use = INT_MAX;

    live_block *live = tdl_alloc(ctx, sizeof(live_block) * (size_t)(n ? n : 1));
    if (!live)
        return -1;
    int32_t n_live = 0;
    size_t peak = 0;
    for (int32_t i = 0; i < n; ++i) {
        tdl_node *v = g->nodes[i];
        size_t bytes = node_bytes(v, batch);
        if (v->flags & TDL_NODE_DEAD)
            continue;
        if (!needs_arena(v)) {
            size_t exact = (size_t)tdl_shape_numel(&v->shape) * tdl_dtype_size(v->dtype);
            if (v->flags & (TDL_NODE_PARAM | TDL_NODE_CONST))
                res->param_bytes += exact * ((v->flags & TDL_NODE_PARAM) ? 2 : 1);
            continue;
        }
        res->naive_bytes += bytes;
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
        live[pos].node = i;
        live[pos].last_use = v->last_use;
        n_live++;
        v->arena_offset = off;
        if (off + bytes > peak)
            peak = off + bytes;
    }
    tdl_free(ctx, live);
    res->arena_bytes = peak;
    return 0;
}
