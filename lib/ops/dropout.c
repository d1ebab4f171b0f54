/* Inverted dropout as x * mask; the mask is drawn per step from the seed and
 * the node's name, so it does not depend on the thread count. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "core/rng.h"
#include "ops/op.h"

static tdl_status mask_fwd(tdl_exec *ex, tdl_node *n)
{
    float *m = tdl_f32(n);
    int64_t count = tdl_numel(n);
    float p = n->attrs.f[0];
    if (!ex->training || p == 0.0f) {
        for (int64_t i = 0; i < count; ++i)
            m[i] = 1.0f;
        return TDL_OK;
    }
    uint64_t key = tdl_rng_key(ex->ctx->seed, tdl_mix64(tdl_hash_str(n->name)) + ex->step);
    float keep = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < count; ++i)
        m[i] = tdl_rng_uniform(key, (uint64_t)i) >= p ? keep : 0.0f;
    return TDL_OK;
}

static const tdl_op_def op_mask = {TDL_OPID_DROPOUT_MASK, "dropout_mask", 0, mask_fwd, NULL};

TDL_API tdl_node *tdl_dropout(tdl_graph *g, tdl_node *x, float p)
{
    if (tdl_builder_check(g, "dropout", 1, &x))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "dropout '%s': probability %g is outside [0, 1)", x->name,
                                (double)p);
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "dropout: '%s' is not f32", x->name);
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = p;
    tdl_node *mask = tdl_node_new(g, &op_mask, NULL, 1, &x, TDL_F32, &x->shape, &at);
    if (!mask)
        return NULL;
    mask->flags |= TDL_NODE_NO_GRAD;
    return tdl_mul(g, x, mask);
}
