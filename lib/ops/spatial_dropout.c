/* Spatial (channel) dropout: x * mask with one mask value per (sample,
 * channel), shaped [N, C, 1, ...] and broadcast over the rest. The mask is
 * drawn per step from the seed and the mask node's name (as dropout.c), so it
 * does not depend on the thread count; the gradient is dy * mask (mul's rule). */
#include <math.h>
#include <string.h>

#include <tiny-dl/layers.h>
#include <tiny-dl/ops.h>

#include "core/rng.h"
#include "ops/op.h"

static tdl_status smask_fwd(tdl_exec *ex, tdl_node *n)
{
    float *m = tdl_f32(n);
    int64_t count = tdl_numel(n); /* N * C */
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

static const tdl_op_def op_smask = {TDL_OPID_SPATIAL_DROPOUT_MASK, "spatial_dropout_mask", 0,
                                    smask_fwd, NULL};

TDL_API tdl_node *tdl_spatial_dropout(tdl_graph *g, tdl_node *x, float p)
{
    if (tdl_builder_check(g, "spatial_dropout", 1, &x))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "spatial_dropout '%s': probability %g is outside [0, 1)", x->name,
                                (double)p);
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "spatial_dropout: '%s' is %s, not f32", x->name,
                                tdl_dtype_name(x->dtype));
    int ok = x->shape.ndim >= 2;
    for (int32_t k = 1; ok && k < x->shape.ndim; ++k)
        ok = x->shape.d[k] >= 1;
    if (!ok) {
        char s[96];
        tdl_shape_str(&x->shape, s, sizeof s);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "spatial_dropout: input '%s' has shape %s; expected [N, C, ...] "
                                "with only N symbolic",
                                x->name, s);
    }
    tdl_shape ms = x->shape;
    for (int32_t k = 2; k < ms.ndim; ++k)
        ms.d[k] = 1;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = p;
    tdl_node *mask = tdl_node_new(g, &op_smask, NULL, 1, &x, TDL_F32, &ms, &at);
    if (!mask)
        return NULL;
    mask->flags |= TDL_NODE_NO_GRAD;
    return tdl_mul(g, x, mask);
}
