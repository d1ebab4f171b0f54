/* Backpropagation through time for the fused recurrent op (rnn.c).
 *
 * One "rnn_backward" node runs the recurrence backwards for every layer and
 * direction, storing the pre-activation gate gradients of every step; the
 * gradient of x is an alias of its first part, those of h0 and c0 are copies,
 * and each parameter gradient is one GEMM (or column sum) over all steps. Every
 * reduction runs in a fixed order, so results do not depend on the threads. */
#include <string.h>

#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/rnn_internal.h"

/* Gate gradients of one valid row. dh: gradient of the row's output state
 * (the GRU keeps its direct part, dh * z, in dh); dc: LSTM cell gradient,
 * replaced by the one of the previous cell. */
static void cell_bwd_row(const tdl_rnn_cfg *c, const float *restrict g, const float *restrict hp,
                         const float *restrict cp, const float *restrict tc,
                         const float *restrict hn, float *restrict dh, float *restrict dc,
                         float *restrict dgx, float *dgh)
{
    int64_t H = c->hidden;
    switch (c->kind) {
    case 2: {
        const float *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
        for (int64_t j = 0; j < H; ++j) {
            float t = tc[j];
            float dct = dc[j] + dh[j] * go[j] * (1.0f - t * t);
            float dO = dh[j] * t;
            float di = dct * gg[j], dG = dct * gi[j], dF = dct * cp[j];
            dgx[j] = di * gi[j] * (1.0f - gi[j]);
            dgx[H + j] = dF * gf[j] * (1.0f - gf[j]);
            dgx[2 * H + j] = dG * (1.0f - gg[j] * gg[j]);
            dgx[3 * H + j] = dO * go[j] * (1.0f - go[j]);
            dc[j] = dct * gf[j];
        }
        break;
    }
    case 3: {
        const float *r = g, *z = g + H, *nn = g + 2 * H;
        for (int64_t j = 0; j < H; ++j) {
            float d = dh[j];
            float dn = d * (1.0f - z[j]);
            float dz = d * (hp[j] - nn[j]);
            float dnp = dn * (1.0f - nn[j] * nn[j]);
            float drp = dnp * hn[j] * r[j] * (1.0f - r[j]);
            float dzp = dz * z[j] * (1.0f - z[j]);
            dgx[j] = drp;
            dgx[H + j] = dzp;
            dgx[2 * H + j] = dnp;
            dgh[j] = drp;
            dgh[H + j] = dzp;
            dgh[2 * H + j] = dnp * r[j];
            dh[j] = d * z[j];
        }
        break;
    }
    case 1:
        for (int64_t j = 0; j < H; ++j)
            dgx[j] = g[j] > 0.0f ? dh[j] : 0.0f;
        break;
    default:
        for (int64_t j = 0; j < H; ++j)
            dgx[j] = dh[j] * (1.0f - g[j] * g[j]);
        break;
    }
}

/* Inputs of the backward node: [dcore, W, x, params..., h0, c0, lengths]. */
static const float *bparam(const tdl_node *n, int64_t ld, int32_t k)
{
    return tdl_f32(n->inputs[2 + tdl_rnn_param_index(ld, k)]);
}

/* The element-wise part of one backward step for rows [b0, b1). */
typedef struct bstep_job {
    const tdl_rnn_cfg *c;
    int64_t B, t, r0, sb, ldg, d;
    const int32_t *len;
    tdl_rnn_saved s;
    const float *dY, *rt;
    float *dgx, *dgh, *dh, *dc;
} bstep_job;

/* Before the recurrent GEMM: add the output gradient, then the gate gradients. */
static void bstep_cells(void *arg, int64_t b0, int64_t b1)
{
    const bstep_job *j = arg;
    const tdl_rnn_cfg *c = j->c;
    int64_t H = c->hidden, GH = tdl_rnn_gh(c), D = tdl_rnn_d(c), ldg = j->ldg;
    int lstm = tdl_rnn_is_lstm(c), gru = tdl_rnn_is_gru(c);
    for (int64_t b = b0; b < b1; ++b) {
        int64_t row = j->r0 + b * j->sb;
        float *dgx = j->dgx + row * ldg, *dgh = j->dgh + row * ldg;
        if (j->len && j->t >= j->len[b]) {
            memset(dgx, 0, sizeof(float) * (size_t)ldg);
            if (gru)
                memset(dgh, 0, sizeof(float) * (size_t)ldg);
            continue;
        }
        float *dhb = j->dh + b * H;
        const float *dyr = j->dY + row * D + j->d * H;
        for (int64_t q = 0; q < H; ++q)
            dhb[q] += dyr[q];
        cell_bwd_row(c, j->s.g + row * GH, j->s.hp + row * H, lstm ? j->s.cp + row * H : NULL,
                     lstm ? j->s.tc + row * H : NULL, gru ? j->s.hn + row * H : NULL, dhb,
                     j->dc + b * H, dgx, dgh);
        if (ldg > GH) {
            memset(dgx + GH, 0, sizeof(float) * (size_t)(ldg - GH));
            if (gru)
                memset(dgh + GH, 0, sizeof(float) * (size_t)(ldg - GH));
        }
    }
}

/* After it: the state gradient of valid rows becomes W_hh^T dgates (read
 * transposed from rt [H, B]), plus the GRU's direct part. */
static void bstep_state(void *arg, int64_t b0, int64_t b1)
{
    const bstep_job *j = arg;
    int64_t B = j->B, H = j->c->hidden;
    int gru = tdl_rnn_is_gru(j->c);
    for (int64_t b = b0; b < b1; ++b) {
        if (j->len && j->t >= j->len[b])
            continue;
        float *restrict dhb = j->dh + b * H;
        const float *restrict r = j->rt + b;
        if (gru)
            for (int64_t q = 0; q < H; ++q)
                dhb[q] = dhb[q] + r[q * B];
        else
            for (int64_t q = 0; q < H; ++q)
                dhb[q] = r[q * B];
    }
}

/* whh_drop: NULL, or scratch for the dropped W_hh when the forward dropped it. */
static tdl_status bptt_ld(tdl_exec *ex, tdl_node *n, const tdl_rnn_cfg *c, int64_t B, int32_t l,
                          int32_t d, const float *dY, const int32_t *len, float *whh_drop)
{
    int64_t T = c->steps, N = T * B, H = c->hidden, GH = tdl_rnn_gh(c);
    int64_t ld = (int64_t)l * c->dirs + d;
    int64_t st = c->batch_first ? 1 : B, sb = c->batch_first ? T : 1;
    int lstm = tdl_rnn_is_lstm(c), gru = tdl_rnn_is_gru(c);
    float *o = tdl_f32(n);
    const float *dcore = tdl_f32(n->inputs[0]);
    tdl_rnn_dlayout dl;
    tdl_rnn_dlayout_get(c, B, &dl);
    bstep_job j;
    memset(&j, 0, sizeof j);
    tdl_rnn_saved_get(c, B, tdl_f32(n->inputs[1]), ld, &j.s);
    j.c = c;
    j.B = B;
    j.sb = sb;
    j.ldg = dl.ldg;
    j.d = d;
    j.len = len;
    j.dY = dY;
    j.dgx = o + dl.dg + ld * dl.dg_ld;
    j.dgh = gru ? j.dgx + N * dl.ldg : j.dgx;
    j.dh = o + dl.dh;
    j.dc = o + dl.dc;
    float *rt = o + dl.rt;
    j.rt = rt;
    const float *w_hh = bparam(n, ld, 1);
    if (whh_drop) {
        tdl_rnn_drop_whh(ex, n->inputs[1], c, ld, w_hh, whh_drop);
        w_hh = whh_drop;
    }
    int64_t grain = tdl_rnn_row_grain(ex, c, B);
    memcpy(j.dh, dcore + tdl_rnn_off_ht(c, B) + ld * B * H, sizeof(float) * (size_t)(B * H));
    if (lstm)
        memcpy(j.dc, dcore + tdl_rnn_off_ct(c, B) + ld * B * H, sizeof(float) * (size_t)(B * H));
    else
        memset(j.dc, 0, sizeof(float) * (size_t)(B * H));
    for (int64_t k = 0; k < T; ++k) {
        int64_t t = d == 0 ? T - 1 - k : k;
        j.t = t;
        j.r0 = t * st;
        tdl_parallel_for(ex->kenv.pool, B, grain, bstep_cells, &j);
        if (k + 1 < T) {
            /* the next step's saved activations arrive during the GEMM */
            int64_t rn = (d == 0 ? t - 1 : t + 1) * st;
            tdl_rnn_prefetch_rows(j.s.g, rn, sb, B, GH);
            tdl_rnn_prefetch_rows(j.s.hp, rn, sb, B, H);
            if (lstm) {
                tdl_rnn_prefetch_rows(j.s.cp, rn, sb, B, H);
                tdl_rnn_prefetch_rows(j.s.tc, rn, sb, B, H);
            }
            if (gru)
                tdl_rnn_prefetch_rows(j.s.hn, rn, sb, B, H);
        }
        /* gradient of the previous state: W_hh^T dgates, as [H, B] */
        if (tdlk_sgemm(&ex->kenv, 1, 1, H, B, GH, 1.0f, w_hh, H, j.dgh + j.r0 * dl.ldg, sb * dl.ldg,
                       0.0f, rt, B) != 0)
            return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                                  "rnn_backward '%s': out of memory for GEMM", n->name);
        tdl_parallel_for(ex->kenv.pool, B, grain, bstep_state, &j);
    }
    memcpy(o + dl.dh0 + ld * B * H, j.dh, sizeof(float) * (size_t)(B * H));
    if (lstm)
        memcpy(o + dl.dc0 + ld * B * H, j.dc, sizeof(float) * (size_t)(B * H));
    return TDL_OK;
}

static tdl_status bwd_fwd(tdl_exec *ex, tdl_node *n)
{
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    int64_t B = n->value_shape.d[1], T = c.steps, N = T * B, D = tdl_rnn_d(&c);
    int64_t GH = tdl_rnn_gh(&c);
    const int32_t *len = c.has_len ? n->inputs[2 + tdl_rnn_len_index(&c)]->data : NULL;
    const tdl_node *wn = n->inputs[1];
    const float *w = tdl_f32(wn);
    float *o = tdl_f32(n);
    tdl_rnn_dlayout dl;
    tdl_rnn_dlayout_get(&c, B, &dl);
    tdl_rnn_wlayout wl;
    tdl_rnn_wlayout_get(&c, B, &wl);
    int meta = (int)w[wl.meta];
    int dropped = tdl_rnn_has_xd(&c) && (meta & TDL_RNN_META_XD);
    uint64_t key = dropped ? tdl_rnn_dropout_key(ex, wn) : 0;
    int wdropped = (meta & TDL_RNN_META_WD) != 0;
    float *whh_drop =
        wdropped ? tdl_alloc_aligned(ex->ctx, sizeof(float) * (size_t)(GH * c.hidden)) : NULL;
    if (wdropped && !whh_drop)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "rnn_backward of '%s': out of memory for the dropped recurrent "
                              "weights",
                              wn->name);
    tdl_status st = TDL_OK;
    /* x's gradient is skipped when nothing needs it (x is not trainable) */
    const tdl_node *dxn =
        n->attrs.i[TDL_RNN_ATTR_DXNODE] > 0 ? ex->g->nodes[n->attrs.i[TDL_RNN_ATTR_DXNODE]] : NULL;
    int want_dx = !dxn || !(dxn->flags & TDL_NODE_DEAD);
    for (int32_t l = c.layers - 1; l >= 0; --l) {
        const float *dY = l == c.layers - 1 ? tdl_f32(n->inputs[0]) : o + dl.dy + (l % 2) * N * D;
        for (int32_t d = 0; d < c.dirs && st == TDL_OK; ++d)
            st = bptt_ld(ex, n, &c, B, l, d, dY, len, whh_drop);
        if (st != TDL_OK)
            break;
        /* gradient of the layer's input: sum over directions of dgates W_ih */
        int64_t Fl = tdl_rnn_in(&c, l);
        float *dst = l == 0 ? o + dl.dx : o + dl.dy + ((l - 1) % 2) * N * D;
        if (l == 0 && !want_dx) {
            memset(dst, 0, sizeof(float) * (size_t)(N * Fl));
            break;
        }
        for (int32_t d = 0; d < c.dirs; ++d) {
            int64_t ld = (int64_t)l * c.dirs + d;
            if (tdlk_sgemm(&ex->kenv, 0, 0, N, Fl, GH, 1.0f, o + dl.dg + ld * dl.dg_ld, dl.ldg,
                           bparam(n, ld, 0), Fl, d == 0 ? 0.0f : 1.0f, dst, Fl) != 0) {
                st = tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                                    "rnn_backward '%s': out of memory for GEMM", n->name);
                break;
            }
        }
        if (st != TDL_OK)
            break;
        if (l > 0 && dropped)
            tdl_rnn_apply_dropout(ex, dst, dst, N * D, key, l, c.dropout);
    }
    tdl_free_aligned(ex->ctx, whh_drop);
    return st;
}

static const tdl_op_def op_bwd = {TDL_OPID_RNN_BACKWARD, "rnn_backward", 0, bwd_fwd, NULL};

/* ---- parameter gradients: inputs [backward, W, x]; attrs: ld, which ---- */

static tdl_status wgrad_fwd(tdl_exec *ex, tdl_node *n)
{
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    const tdl_node *bn = n->inputs[0];
    int64_t B = bn->value_shape.d[1], T = c.steps, N = T * B, H = c.hidden, D = tdl_rnn_d(&c);
    int64_t GH = tdl_rnn_gh(&c);
    int64_t ld = n->attrs.i[TDL_RNN_ATTR_LD];
    int32_t which = (int32_t)n->attrs.i[TDL_RNN_ATTR_WHICH];
    int32_t l = (int32_t)(ld / c.dirs);
    tdl_rnn_dlayout dl;
    tdl_rnn_dlayout_get(&c, B, &dl);
    const float *dgx = tdl_f32(bn) + dl.dg + ld * dl.dg_ld;
    const float *dgh = tdl_rnn_is_gru(&c) ? dgx + N * dl.ldg : dgx;
    float *out = tdl_f32(n);
    int rc = 0;
    if (which == 0) {
        const float *xin = tdl_f32(n->inputs[2]);
        if (l > 0) {
            tdl_rnn_wlayout wl;
            tdl_rnn_wlayout_get(&c, B, &wl);
            xin = tdl_f32(n->inputs[1]) + (tdl_rnn_has_xd(&c) ? wl.xd : wl.outs) +
                  (int64_t)(l - 1) * N * D;
        }
        int64_t Fl = tdl_rnn_in(&c, l);
        rc = tdlk_sgemm(&ex->kenv, 1, 0, GH, Fl, N, 1.0f, dgx, dl.ldg, xin, Fl, 0.0f, out, Fl);
    } else if (which == 1) {
        tdl_rnn_saved s;
        tdl_rnn_saved_get(&c, B, tdl_f32(n->inputs[1]), ld, &s);
        rc = tdlk_sgemm(&ex->kenv, 1, 0, GH, H, N, 1.0f, dgh, dl.ldg, s.hp, H, 0.0f, out, H);
        tdl_rnn_wlayout wl;
        tdl_rnn_wlayout_get(&c, B, &wl);
        if (rc == 0 && ((int)tdl_f32(n->inputs[1])[wl.meta] & TDL_RNN_META_WD))
            tdl_rnn_drop_whh(ex, n->inputs[1], &c, ld, out, out); /* d(W * m) / dW = m */
    } else {
        /* column sums in row order */
        const float *src = which == 2 ? dgx : dgh;
        memset(out, 0, sizeof(float) * (size_t)GH);
        for (int64_t r = 0; r < N; ++r) {
            const float *row = src + r * dl.ldg;
            for (int64_t j = 0; j < GH; ++j)
                out[j] += row[j];
        }
    }
    if (rc != 0)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "rnn_weight_grad '%s': out of memory for GEMM", n->name);
    return TDL_OK;
}

static const tdl_op_def op_wgrad = {TDL_OPID_RNN_WEIGHT_GRAD, "rnn_weight_grad", 0, wgrad_fwd,
                                    NULL};

/* ---- gradients of x (alias of the first part) and of h0 / c0 (copies) ---- */

static const tdl_op_def op_dx = {TDL_OPID_RNN_INPUT_GRAD, "rnn_input_grad", TDL_OP_ALIAS, NULL,
                                 NULL};

static tdl_status dstate_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    tdl_rnn_dlayout dl;
    tdl_rnn_dlayout_get(&c, n->inputs[0]->value_shape.d[1], &dl);
    int64_t off = n->attrs.i[TDL_RNN_ATTR_WHICH] == 1 ? dl.dc0 : dl.dh0;
    memcpy(n->data, tdl_f32(n->inputs[0]) + off, sizeof(float) * (size_t)tdl_numel(n));
    return TDL_OK;
}

static const tdl_op_def op_dstate = {TDL_OPID_RNN_STATE_GRAD, "rnn_state_grad", 0, dstate_fwd,
                                     NULL};

int tdl_rnn_has_backward(const tdl_graph *g, const tdl_node *w)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tdl_node *n = g->nodes[i];
        if (n->op == &op_bwd && n->inputs[1] == w)
            return 1;
    }
    return 0;
}

int tdl_rnn_core_grad(tdl_graph *g, tdl_node *core, tdl_node *dcore, tdl_node **dx)
{
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&core->attrs, &c);
    int32_t ni = core->n_inputs; /* W, x, params..., h0, c0, lengths */
    tdl_node **in = tdl_calloc(g->ctx, (size_t)ni + 1, sizeof *in);
    if (!in) {
        tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "rnn '%s': out of memory", core->name);
        return -1;
    }
    in[0] = dcore;
    for (int32_t i = 0; i < ni; ++i)
        in[1 + i] = core->inputs[i];
    tdl_rnn_dlayout dl;
    tdl_rnn_dlayout_get(&c, 1, &dl);
    int64_t d2[2] = {dl.total, core->shape.d[1]};
    tdl_shape s;
    tdl_shape_make(&s, 2, d2);
    tdl_node *bn = tdl_node_new(g, &op_bwd, NULL, ni + 1, in, TDL_F32, &s, &core->attrs);
    tdl_free(g->ctx, in);
    if (!bn)
        return -1;
    tdl_node *w = core->inputs[0], *x = core->inputs[1];
    dx[1] = tdl_node_new(g, &op_dx, NULL, 1, &bn, TDL_F32, &x->shape, &core->attrs);
    if (!dx[1])
        return -1;
    bn->attrs.i[TDL_RNN_ATTR_DXNODE] = dx[1]->id;
    tdl_node *wx[3] = {bn, w, x};
    for (int64_t ld = 0; ld < tdl_rnn_ld(&c); ++ld)
        for (int32_t k = 0; k < 4; ++k) {
            int32_t idx = 1 + tdl_rnn_param_index(ld, k);
            tdl_attrs at = core->attrs;
            at.i[TDL_RNN_ATTR_LD] = ld;
            at.i[TDL_RNN_ATTR_WHICH] = k;
            dx[idx] =
                tdl_node_new(g, &op_wgrad, NULL, 3, wx, TDL_F32, &core->inputs[idx]->shape, &at);
            if (!dx[idx])
                return -1;
        }
    for (int32_t which = 0; which < 2; ++which) {
        int32_t idx = which == 0 ? tdl_rnn_h0_index(&c) : tdl_rnn_c0_index(&c);
        if (idx < 0)
            continue;
        tdl_attrs at = core->attrs;
        at.i[TDL_RNN_ATTR_WHICH] = which;
        dx[1 + idx] =
            tdl_node_new(g, &op_dstate, NULL, 1, &bn, TDL_F32, &core->inputs[1 + idx]->shape, &at);
        if (!dx[1 + idx])
            return -1;
    }
    return 0;
}
