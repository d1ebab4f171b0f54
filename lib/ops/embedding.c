/* Embedding lookup (nn.Embedding) and its gradient, a scatter-add into the
 * rows used, in position order (deterministic). Inputs: [weight, ids];
 * attrs.i[0] = padding id (-1: none). */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/ops.h>
#include <tiny-dl/rnn.h>

#include "ops/op.h"

/* "[1, 2]": the multi-index of flat position p in shape s. */
static void index_str(const tdl_shape *s, int64_t p, char *buf, size_t size)
{
    int64_t idx[TDL_MAX_DIMS];
    for (int32_t k = s->ndim - 1; k >= 0; --k) {
        idx[k] = s->d[k] ? p % s->d[k] : 0;
        p = s->d[k] ? p / s->d[k] : 0;
    }
    size_t used = 0;
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int32_t k = 0; k < s->ndim && used < size; ++k)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", k ? ", " : "", (long long)idx[k]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static tdl_status check_ids(tdl_exec *ex, const tdl_node *n, const tdl_node *ids, int64_t vocab)
{
    const int32_t *id = ids->data;
    int64_t count = tdl_shape_numel(&ids->value_shape);
    for (int64_t p = 0; p < count; ++p)
        if (id[p] < 0 || id[p] >= vocab) {
            char where[160];
            index_str(&ids->value_shape, p, where, sizeof where);
            return tdl_graph_fail(ex->g, TDL_ERR_INVALID_ARGUMENT,
                                  "%s '%s': id %d at position %lld (index %s of '%s') is "
                                  "outside [0, %lld)",
                                  n->op->name, n->name, (int)id[p], (long long)p, where, ids->name,
                                  (long long)vocab);
        }
    return TDL_OK;
}

static tdl_status emb_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *w = n->inputs[0], *ids = n->inputs[1];
    int64_t vocab = w->value_shape.d[0], dim = w->value_shape.d[1];
    tdl_status st = check_ids(ex, n, ids, vocab);
    if (st != TDL_OK)
        return st;
    const int32_t *id = ids->data;
    const float *wd = tdl_f32(w);
    float *y = tdl_f32(n);
    int64_t count = tdl_shape_numel(&ids->value_shape);
    for (int64_t p = 0; p < count; ++p)
        memcpy(y + p * dim, wd + (int64_t)id[p] * dim, sizeof(float) * (size_t)dim);
    return TDL_OK;
}

/* Inputs [dy, ids]; output [vocab, dim]. */
static tdl_status emb_grad_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *dy = n->inputs[0], *ids = n->inputs[1];
    int64_t vocab = n->value_shape.d[0], dim = n->value_shape.d[1];
    tdl_status st = check_ids(ex, n, ids, vocab);
    if (st != TDL_OK)
        return st;
    int64_t pad = n->attrs.i[0];
    const int32_t *id = ids->data;
    const float *d = tdl_f32(dy);
    float *gw = tdl_f32(n);
    memset(gw, 0, sizeof(float) * (size_t)(vocab * dim));
    int64_t count = tdl_shape_numel(&ids->value_shape);
    for (int64_t p = 0; p < count; ++p) {
        if (id[p] == pad)
            continue;
        float *row = gw + (int64_t)id[p] * dim;
        const float *src = d + p * dim;
        for (int64_t j = 0; j < dim; ++j)
            row[j] += src[j];
    }
    return TDL_OK;
}

static const tdl_op_def op_emb_grad = {TDL_OPID_EMBEDDING_GRAD, "embedding_grad", 0, emb_grad_fwd,
                                       NULL};

static int emb_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *in[2] = {dy, n->inputs[1]};
    dx[0] = tdl_node_new(g, &op_emb_grad, NULL, 2, in, TDL_F32, &n->inputs[0]->shape, &n->attrs);
    dx[1] = NULL;
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_emb = {TDL_OPID_EMBEDDING, "embedding", 0, emb_fwd, emb_bwd};

TDL_API tdl_node *tdl_embedding(tdl_graph *g, tdl_node *ids, int64_t vocab, int64_t dim,
                                int64_t padding_id, const char *name)
{
    if (tdl_builder_check(g, "embedding", 1, &ids))
        return NULL;
    if (!name || !*name)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "embedding: a name is required (it prefixes the parameter name)");
    if (strlen(name) > 200)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "embedding: name is too long");
    if (ids->dtype != TDL_I32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "embedding '%s': ids '%s' are %s, not i32", name,
                                ids->name, tdl_dtype_name(ids->dtype));
    if (vocab < 1 || dim < 1 || vocab > ((int64_t)1 << 31) || dim > ((int64_t)1 << 31))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "embedding '%s': vocab %lld and dim %lld must be >= 1", name,
                                (long long)vocab, (long long)dim);
    if (padding_id < -1 || padding_id >= vocab)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "embedding '%s': padding_id %lld is outside [0, %lld) (or -1)",
                                name, (long long)padding_id, (long long)vocab);
    if (ids->shape.ndim >= TDL_MAX_DIMS)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "embedding '%s': ids '%s' have too many dims",
                                name, ids->name);
    char pn[256];
    snprintf(pn, sizeof pn, "%s.weight", name);
    int64_t ws[2] = {vocab, dim};
    tdl_node *w = tdl_param(g, pn, 2, ws, TDL_INIT_NORMAL, 0.0f, 1.0f);
    if (!w)
        return NULL;
    if (padding_id >= 0)
        memset(tdl_param_data(w) + padding_id * dim, 0, sizeof(float) * (size_t)dim);
    tdl_shape out = ids->shape;
    out.d[out.ndim++] = dim;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = padding_id;
    tdl_node *in[2] = {w, ids};
    return tdl_node_new(g, &op_emb, name, 2, in, TDL_F32, &out, &at);
}
