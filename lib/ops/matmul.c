/* Matrix products through the packed GEMM. attrs.i[0] = transpose a,
 * attrs.i[1] = transpose b (set by gradient rules; the public builder has none). */
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/op.h"

static tdl_status matmul_fwd(tdl_exec *ex, tdl_node *n)
{
    const tdl_node *A = n->inputs[0], *B = n->inputs[1];
    const tdl_shape *as = &A->value_shape, *bs = &B->value_shape;
    int ta = (int)n->attrs.i[0], tb = (int)n->attrs.i[1];
    int64_t ra = as->d[as->ndim - 2], ca = as->d[as->ndim - 1];
    int64_t rb = bs->d[bs->ndim - 2], cb = bs->d[bs->ndim - 1];
    int64_t m = ta ? ca : ra, k = ta ? ra : ca, nn = tb ? rb : cb;
    int rc;
    if (bs->ndim == 2) {
        /* a's leading dimensions fold into the rows (ta is never set here) */
        int64_t rows = tdl_shape_numel(as) / (ra * ca) * m;
        rc = tdlk_sgemm(&ex->kenv, ta, tb, rows, nn, k, 1.0f, tdl_f32(A), ca, tdl_f32(B), cb, 0.0f,
                        tdl_f32(n), nn);
    } else {
        int64_t batch = tdl_shape_numel(as) / (ra * ca);
        rc = tdlk_sgemm_batched(&ex->kenv, ta, tb, m, nn, k, 1.0f, tdl_f32(A), ca, ra * ca,
                                tdl_f32(B), cb, rb * cb, 0.0f, tdl_f32(n), nn, m * nn, batch);
    }
    if (rc != 0)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "matmul '%s': out of memory for GEMM scratch", n->name);
    return TDL_OK;
}

/* Folds every dim but the last into one: [.., r, c] -> [R, c]. */
static tdl_node *fold_rows(tdl_graph *g, tdl_node *x)
{
    int64_t shape[2] = {-1, x->shape.d[x->shape.ndim - 1]};
    return tdl_reshape(g, x, 2, shape);
}

static int matmul_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *A = n->inputs[0], *B = n->inputs[1];
    int ta = (int)n->attrs.i[0], tb = (int)n->attrs.i[1];
    /* dA */
    if (!ta)
        dx[0] = tdl_matmul_ex(g, dy, B, 0, !tb);
    else if (!tb)
        dx[0] = tdl_matmul_ex(g, B, dy, 0, 1);
    else
        dx[0] = tdl_matmul_ex(g, B, dy, 1, 1);
    /* dB */
    if (B->shape.ndim == 2 && A->shape.ndim > 2) {
        tdl_node *a2 = fold_rows(g, A), *d2 = fold_rows(g, dy);
        dx[1] = tb ? tdl_matmul_ex(g, d2, a2, 1, 0) : tdl_matmul_ex(g, a2, d2, 1, 0);
    } else if (!tb) {
        dx[1] = ta ? tdl_matmul_ex(g, A, dy, 0, 0) : tdl_matmul_ex(g, A, dy, 1, 0);
    } else {
        dx[1] = ta ? tdl_matmul_ex(g, dy, A, 1, 1) : tdl_matmul_ex(g, dy, A, 1, 0);
    }
    return dx[0] && dx[1] ? 0 : -1;
}

static const tdl_op_def op_matmul = {TDL_OPID_MATMUL, "matmul", 0, matmul_fwd, matmul_bwd};

tdl_node *tdl_matmul_ex(tdl_graph *g, tdl_node *a, tdl_node *b, int trans_a, int trans_b)
{
    tdl_node *in[2] = {a, b};
    if (tdl_builder_check(g, "matmul", 2, in))
        return NULL;
    if (a->dtype != TDL_F32 || b->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "matmul: '%s' and '%s' must both be f32", a->name,
                                b->name);
    const tdl_shape *as = &a->shape, *bs = &b->shape;
    char sa[96], sb[96];
    tdl_shape_str(as, sa, sizeof sa);
    tdl_shape_str(bs, sb, sizeof sb);
    if (as->ndim < 2 || bs->ndim < 2)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "matmul: '%s' %s and '%s' %s: both need at least 2 dimensions",
                                a->name, sa, b->name, sb);
    int64_t ra = as->d[as->ndim - 2], ca = as->d[as->ndim - 1];
    int64_t rb = bs->d[bs->ndim - 2], cb = bs->d[bs->ndim - 1];
    int64_t m = trans_a ? ca : ra, k = trans_a ? ra : ca;
    int64_t kb = trans_b ? cb : rb, nn = trans_b ? rb : cb;
    if (k != kb)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "matmul: '%s' %s and '%s' %s: inner dimensions differ", a->name, sa,
                                b->name, sb);
    if (nn < 0 || (bs->ndim > 2 && (ra < 0 || ca < 0)))
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "matmul: '%s' %s x '%s' %s: the batch dimension may only be in "
                                "a's rows or the shared inner dimension",
                                a->name, sa, b->name, sb);
    if (bs->ndim == 2 && as->ndim > 2 && trans_a)
        return tdl_graph_sticky(g, TDL_ERR_INTERNAL, "matmul: transposed batched a with 2-D b");
    tdl_shape out = *as;
    if (bs->ndim > 2) {
        int same = as->ndim == bs->ndim;
        for (int32_t i = 0; same && i < as->ndim - 2; ++i)
            same = as->d[i] == bs->d[i];
        if (!same)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "matmul: '%s' %s and '%s' %s: batched operands need the same "
                                    "leading dimensions (or a 2-D b)",
                                    a->name, sa, b->name, sb);
    }
    out.d[out.ndim - 2] = m;
    out.d[out.ndim - 1] = nn;
    if (tdl_shape_symbolic_axis(&out) >= 0) {
        int c = 0;
        for (int32_t i = 0; i < out.ndim; ++i)
            c += out.d[i] < 0;
        if (c > 1)
            return tdl_graph_sticky(g, TDL_ERR_SHAPE, "matmul: result would have two batch dims");
    }
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = trans_a != 0;
    at.i[1] = trans_b != 0;
    return tdl_node_new(g, &op_matmul, NULL, 2, in, TDL_F32, &out, &at);
}

TDL_API tdl_node *tdl_matmul(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    return tdl_matmul_ex(g, a, b, 0, 0);
}
