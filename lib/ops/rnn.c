/* The fused recurrent op over a whole sequence (RNN tanh/relu, LSTM, GRU;
 * multi-layer, bidirectional, lengths, batch-first), and the views that
 * expose its output and final states. Layouts: rnn_internal.h. */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/rnn.h>

#include "core/rng.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/rnn_internal.h"

/* Batch size of a sequence node's value. */
static int64_t seq_batch(const tdl_rnn_cfg *c, const tdl_node *x)
{
    return x->value_shape.d[c->batch_first ? 0 : 1];
}

/* Checks lengths in 1..T; fails the run naming the node otherwise. */
tdl_status tdl_rnn_check_lengths(tdl_exec *ex, const tdl_node *n, const int32_t *len, int64_t B,
                                 int64_t T)
{
    for (int64_t b = 0; b < B; ++b)
        if (len[b] < 1 || len[b] > T)
            return tdl_graph_fail(ex->g, TDL_ERR_INVALID_ARGUMENT,
                                  "%s '%s': lengths[%lld] = %d is outside 1..T (T = %lld)",
                                  n->op->name, n->name, (long long)b, (int)len[b], (long long)T);
    return TDL_OK;
}

/* Dropout mask element i of layer l's input (l >= 1): the keep scale or 0. */
float tdl_rnn_dropout_mask(uint64_t key, int32_t l, int64_t i, float p)
{
    uint64_t idx = ((uint64_t)l << 44) + (uint64_t)i;
    return tdl_rng_uniform(key, idx) >= p ? 1.0f / (1.0f - p) : 0.0f;
}

uint64_t tdl_rnn_dropout_key(const tdl_exec *ex, const tdl_node *w)
{
    return tdl_rng_key(ex->ctx->seed, tdl_mix64(tdl_hash_str(w->name)) + ex->step);
}

typedef struct dropout_job {
    const float *src;
    float *dst;
    uint64_t key;
    int32_t l;
    float p;
} dropout_job;

static void dropout_range(void *arg, int64_t i0, int64_t i1)
{
    const dropout_job *j = arg;
    for (int64_t i = i0; i < i1; ++i)
        j->dst[i] = j->src[i] * tdl_rnn_dropout_mask(j->key, j->l, i, j->p);
}

/* dst = src * mask of layer l's input, element by element (src may be dst); each element's
 * mask depends on its index only, so the split over threads changes no bit. */
void tdl_rnn_apply_dropout(tdl_exec *ex, const float *src, float *dst, int64_t n, uint64_t key,
                           int32_t l, float p)
{
    dropout_job j = {src, dst, key, l, p};
    /* a hash per element: a few times the cost of an element-wise op */
    tdl_parallel_for(ex->kenv.pool, n, TDL_ELEMWISE_GRAIN / 4, dropout_range, &j);
}

void tdl_rnn_drop_whh(tdl_exec *ex, const tdl_node *w, const tdl_rnn_cfg *c, int64_t ld,
                      const float *src, float *dst)
{
    /* a stream of its own, apart from the layer-input masks of the same step */
    uint64_t key = tdl_mix64(tdl_rnn_dropout_key(ex, w) ^ 0x57485f44524f50ull);
    tdl_rnn_apply_dropout(ex, src, dst, tdl_rnn_gh(c) * c->hidden, key, (int32_t)ld, c->wdrop);
}

/* The element-wise part of one step for rows [b0, b1) of the batch (rows are
 * independent, so any split over threads gives the same bits). */
typedef struct step_job {
    const tdl_rnn_cfg *c;
    int64_t B, t, r0, sb;
    const int32_t *len;
    tdl_rnn_saved s;
    const float *ght, *b_ih, *b_hh;
    float *hcur, *ccur, *out;
    int64_t out_ld, out_col;
} step_job;

static void step_rows(void *arg, int64_t b0, int64_t b1)
{
    const step_job *j = arg;
    const tdl_rnn_cfg *c = j->c;
    int64_t B = j->B, H = c->hidden, GH = tdl_rnn_gh(c);
    int64_t jn = tdl_rnn_is_gru(c) ? 2 * H : GH;
    int lstm = tdl_rnn_is_lstm(c), gru = tdl_rnn_is_gru(c);
    for (int64_t b = b0; b < b1; ++b) {
        int64_t row = j->r0 + b * j->sb;
        float *orow = j->out + row * j->out_ld + j->out_col;
        if (j->len && j->t >= j->len[b]) {
            /* padding: the state carries over, the output is zero */
            memset(orow, 0, sizeof(float) * (size_t)H);
            if (lstm) {
                memcpy(j->s.cp + row * H, j->ccur + b * H, sizeof(float) * (size_t)H);
                memset(j->s.tc + row * H, 0, sizeof(float) * (size_t)H);
            }
            if (gru)
                memset(j->s.hn + row * H, 0, sizeof(float) * (size_t)H);
            continue;
        }
        /* pre-activations: the gate row holds the input projection; the
         * recurrent one comes transposed from ght [GH, B] (small enough for
         * L2, read with stride B while the gate row streams) */
        float *restrict gr = j->s.g + row * GH;
        const float *restrict gt = j->ght + b;
        const float *bih = j->b_ih, *bhh = j->b_hh;
        for (int64_t q = 0; q < jn; ++q)
            gr[q] = tdl_rnn_pre(gr[q], bih[q], bhh[q], gt[q * B]);
        float *hn = gru ? j->s.hn + row * H : NULL;
        for (int64_t q = jn; q < GH; ++q) {
            gr[q] = tdl_rnn_pre_n(gr[q], bih[q]);
            hn[q - 2 * H] = tdl_rnn_gru_hn(gt[q * B], bhh[q]);
        }
        if (lstm)
            memcpy(j->s.cp + row * H, j->ccur + b * H, sizeof(float) * (size_t)H);
        tdl_rnn_cell_row(c, gr, hn, j->hcur + b * H, lstm ? j->ccur + b * H : NULL,
                         lstm ? j->s.tc + row * H : NULL, orow);
        memcpy(j->hcur + b * H, orow, sizeof(float) * (size_t)H);
    }
}

/* Rows per chunk of the per-step element-wise work: a few chunks per thread,
 * or all rows in one chunk (no thread wakes up) when a step is small. */
int64_t tdl_rnn_row_grain(const tdl_exec *ex, const tdl_rnn_cfg *c, int64_t B)
{
    int64_t threads = tdl_pool_threads(ex->kenv.pool);
    if (threads <= 1 || B * tdl_rnn_gh(c) < 16384)
        return B;
    int64_t chunks = 2 * threads;
    return (B + chunks - 1) / chunks;
}

/* One layer-direction over the whole sequence. whh_drop: NULL, or scratch for
 * the dropped W_hh [GH, H] when DropConnect is on. */
static tdl_status run_ld(tdl_exec *ex, const tdl_node *n, const tdl_rnn_cfg *c, int64_t B,
                         int32_t l, int32_t d, const float *xin, float *out, const int32_t *len,
                         float *whh_drop)
{
    int64_t T = c->steps, N = T * B, H = c->hidden, GH = tdl_rnn_gh(c), D = tdl_rnn_d(c);
    int64_t Fl = tdl_rnn_in(c, l), ld = (int64_t)l * c->dirs + d;
    int64_t st = c->batch_first ? 1 : B, sb = c->batch_first ? T : 1;
    float *w = tdl_f32(n);
    tdl_rnn_wlayout wl;
    tdl_rnn_wlayout_get(c, B, &wl);
    step_job job;
    memset(&job, 0, sizeof job);
    tdl_rnn_saved_get(c, B, w, ld, &job.s);
    const float *w_ih = tdl_f32(n->inputs[tdl_rnn_param_index(ld, 0)]);
    const float *w_hh = tdl_f32(n->inputs[tdl_rnn_param_index(ld, 1)]);
    if (whh_drop) {
        tdl_rnn_drop_whh(ex, n, c, ld, w_hh, whh_drop);
        w_hh = whh_drop;
    }
    float *hcur = w + wl.hcur, *ccur = w + wl.ccur, *ght = w + wl.ght;
    int lstm = tdl_rnn_is_lstm(c);
    job.c = c;
    job.B = B;
    job.sb = sb;
    job.len = len;
    job.ght = ght;
    job.b_ih = tdl_f32(n->inputs[tdl_rnn_param_index(ld, 2)]);
    job.b_hh = tdl_f32(n->inputs[tdl_rnn_param_index(ld, 3)]);
    job.hcur = hcur;
    job.ccur = ccur;
    job.out = out;
    job.out_ld = D;
    job.out_col = d * H;
    int64_t grain = tdl_rnn_row_grain(ex, c, B);

    /* input projections of every step: one GEMM */
    if (tdlk_sgemm(&ex->kenv, 0, 1, N, GH, Fl, 1.0f, xin, Fl, w_ih, Fl, 0.0f, job.s.g, GH) != 0)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY, "rnn '%s': out of memory for GEMM",
                              n->name);
    if (c->has_h0)
        memcpy(hcur, tdl_f32(n->inputs[tdl_rnn_h0_index(c)]) + ld * B * H,
               sizeof(float) * (size_t)(B * H));
    else
        memset(hcur, 0, sizeof(float) * (size_t)(B * H));
    if (lstm) {
        if (c->has_c0)
            memcpy(ccur, tdl_f32(n->inputs[tdl_rnn_c0_index(c)]) + ld * B * H,
                   sizeof(float) * (size_t)(B * H));
        else
            memset(ccur, 0, sizeof(float) * (size_t)(B * H));
    }
    for (int64_t k = 0; k < T; ++k) {
        int64_t t = d == 0 ? k : T - 1 - k;
        int64_t r0 = t * st; /* row of (t, 0) */
        for (int64_t b = 0; b < B; ++b)
            memcpy(job.s.hp + (r0 + b * sb) * H, hcur + b * H, sizeof(float) * (size_t)H);
        tdl_rnn_prefetch_rows(job.s.g, r0, sb, B, GH); /* arrives during the GEMM */
        if (tdlk_sgemm(&ex->kenv, 0, 1, GH, B, H, 1.0f, w_hh, H, hcur, H, 0.0f, ght, B) != 0)
            return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY, "rnn '%s': out of memory for GEMM",
                                  n->name);
        job.t = t;
        job.r0 = r0;
        tdl_parallel_for(ex->kenv.pool, B, grain, step_rows, &job);
    }
    memcpy(w + tdl_rnn_off_ht(c, B) + ld * B * H, hcur, sizeof(float) * (size_t)(B * H));
    if (lstm)
        memcpy(w + tdl_rnn_off_ct(c, B) + ld * B * H, ccur, sizeof(float) * (size_t)(B * H));
    return TDL_OK;
}

static tdl_status rnn_fwd(tdl_exec *ex, tdl_node *n)
{
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    const tdl_node *x = n->inputs[0];
    int64_t B = seq_batch(&c, x), T = c.steps, N = T * B, D = tdl_rnn_d(&c);
    const int32_t *len = c.has_len ? n->inputs[tdl_rnn_len_index(&c)]->data : NULL;
    if (len) {
        tdl_status st = tdl_rnn_check_lengths(ex, n, len, B, T);
        if (st != TDL_OK)
            return st;
    }
    float *w = tdl_f32(n);
    tdl_rnn_wlayout wl;
    tdl_rnn_wlayout_get(&c, B, &wl);
    int drop = tdl_rnn_has_xd(&c) && ex->training;
    int wdrop = c.wdrop > 0.0f && ex->training;
    for (int64_t b = 0; b < B; ++b)
        w[wl.meta + b] = (float)((drop ? TDL_RNN_META_XD : 0) | (wdrop ? TDL_RNN_META_WD : 0));
    memset(w + wl.ccur, 0, sizeof(float) * (size_t)(B * c.hidden));
    uint64_t key = drop ? tdl_rnn_dropout_key(ex, n) : 0;
    size_t whh_bytes = sizeof(float) * (size_t)(tdl_rnn_gh(&c) * c.hidden);
    float *whh_drop = wdrop ? tdl_alloc_aligned(ex->ctx, whh_bytes) : NULL;
    if (wdrop && !whh_drop)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "rnn '%s': out of memory for the dropped recurrent weights", n->name);
    tdl_status st = TDL_OK;
    for (int32_t l = 0; l < c.layers; ++l) {
        const float *xin = tdl_f32(x);
        if (l > 0) {
            float *prev = w + wl.outs + (int64_t)(l - 1) * N * D;
            if (tdl_rnn_has_xd(&c)) {
                float *xd = w + wl.xd + (int64_t)(l - 1) * N * D;
                if (drop)
                    tdl_rnn_apply_dropout(ex, prev, xd, N * D, key, l, c.dropout);
                else
                    memcpy(xd, prev, sizeof(float) * (size_t)(N * D));
                xin = xd;
            } else {
                xin = prev;
            }
        }
        float *out = l == c.layers - 1 ? w : w + wl.outs + (int64_t)l * N * D;
        for (int32_t d = 0; d < c.dirs && st == TDL_OK; ++d)
            st = run_ld(ex, n, &c, B, l, d, xin, out, len, whh_drop);
        if (st != TDL_OK)
            break;
    }
    tdl_free_aligned(ex->ctx, whh_drop);
    return st;
}

static const tdl_op_def op_rnn = {TDL_OPID_RNN, "rnn", 0, rnn_fwd, NULL};

/* ---- the core: an alias of W's first part whose gradient rule is BPTT ---- */

static int core_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    return tdl_rnn_core_grad(g, n, dy, dx);
}

static const tdl_op_def op_core = {TDL_OPID_RNN_CORE, "rnn_core", TDL_OP_ALIAS, NULL, core_bwd};

/* ---- views of the core and their gradient (a zero-padded core) ---- */

enum { REGION_Y = 0, REGION_HT = 1, REGION_CT = 2 };

static tdl_node *make_pad(tdl_graph *g, tdl_node *dy, const tdl_shape *core_shape,
                          const tdl_attrs *at, int32_t region);

static int output_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = make_pad(g, dy, &n->inputs[0]->shape, &n->attrs, REGION_Y);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_output = {TDL_OPID_RNN_OUTPUT, "rnn_output", TDL_OP_ALIAS, NULL,
                                     output_bwd};

static tdl_status state_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    int64_t B = n->value_shape.d[1];
    int64_t off = n->attrs.i[TDL_RNN_ATTR_REGION] == REGION_CT ? tdl_rnn_off_ct(&c, B)
                                                               : tdl_rnn_off_ht(&c, B);
    memcpy(n->data, tdl_f32(n->inputs[0]) + off, sizeof(float) * (size_t)tdl_numel(n));
    return TDL_OK;
}

static int state_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] =
        make_pad(g, dy, &n->inputs[0]->shape, &n->attrs, (int32_t)n->attrs.i[TDL_RNN_ATTR_REGION]);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_state = {TDL_OPID_RNN_STATE, "rnn_state", 0, state_fwd, state_bwd};

static tdl_status pad_fwd(tdl_exec *ex, tdl_node *n)
{
    (void)ex;
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&n->attrs, &c);
    int64_t B = n->value_shape.d[1];
    int32_t region = (int32_t)n->attrs.i[TDL_RNN_ATTR_REGION];
    int64_t off = region == REGION_Y    ? 0
                  : region == REGION_HT ? tdl_rnn_off_ht(&c, B)
                                        : tdl_rnn_off_ct(&c, B);
    int64_t len = tdl_numel(n->inputs[0]);
    float *o = tdl_f32(n);
    memset(o, 0, sizeof(float) * (size_t)tdl_numel(n));
    memcpy(o + off, tdl_f32(n->inputs[0]), sizeof(float) * (size_t)len);
    return TDL_OK;
}

static int pad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx);

static const tdl_op_def op_pad = {TDL_OPID_RNN_GRAD_PAD, "rnn_grad_pad", 0, pad_fwd, pad_bwd};

static tdl_node *make_pad(tdl_graph *g, tdl_node *dy, const tdl_shape *core_shape,
                          const tdl_attrs *at, int32_t region)
{
    tdl_attrs a = *at;
    a.i[TDL_RNN_ATTR_REGION] = region;
    return tdl_node_new(g, &op_pad, NULL, 1, &dy, TDL_F32, core_shape, &a);
}

static int pad_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    int32_t region = (int32_t)n->attrs.i[TDL_RNN_ATTR_REGION];
    const tdl_shape *s = &n->inputs[0]->shape;
    dx[0] = tdl_node_new(g, region == REGION_Y ? &op_output : &op_state, NULL, 1, &dy, TDL_F32, s,
                         &n->attrs);
    return dx[0] ? 0 : -1;
}

/* ---- builders ---- */

tdl_node *tdl_rnn_build(tdl_graph *g, const tdl_rnn_cfg *cfg, tdl_node *x, tdl_node *const *params,
                        tdl_node *h0, tdl_node *c0, tdl_node *lengths, const char *name)
{
    int32_t ni = tdl_rnn_n_inputs(cfg);
    tdl_node **in = tdl_calloc(g->ctx, (size_t)ni + 1, sizeof *in);
    if (!in)
        return tdl_graph_sticky(g, TDL_ERR_OUT_OF_MEMORY, "rnn '%s': out of memory", name);
    in[1] = x;
    for (int64_t k = 0; k < 4 * tdl_rnn_ld(cfg); ++k)
        in[2 + k] = params[k];
    if (cfg->has_h0)
        in[1 + tdl_rnn_h0_index(cfg)] = h0;
    if (cfg->has_c0)
        in[1 + tdl_rnn_c0_index(cfg)] = c0;
    if (cfg->has_len)
        in[1 + tdl_rnn_len_index(cfg)] = lengths;
    tdl_attrs at;
    tdl_rnn_cfg_to_attrs(cfg, &at);
    int64_t bdim = x->shape.d[cfg->batch_first ? 0 : 1];
    char nm[256];
    tdl_shape s;
    int64_t d2[2] = {tdl_rnn_w_per_batch(cfg), bdim};
    tdl_shape_make(&s, 2, d2);
    snprintf(nm, sizeof nm, "%s:rnn", name);
    tdl_node *w = tdl_node_new(g, &op_rnn, nm, ni, in + 1, TDL_F32, &s, &at);
    tdl_node *core = NULL, *y = NULL;
    if (w) {
        w->flags |= TDL_NODE_NO_GRAD;
        in[0] = w;
        d2[0] = tdl_rnn_core_per_batch(cfg);
        tdl_shape_make(&s, 2, d2);
        snprintf(nm, sizeof nm, "%s:core", name);
        core = tdl_node_new(g, &op_core, nm, ni + 1, in, TDL_F32, &s, &at);
    }
    if (core) {
        int64_t d3[3] = {cfg->steps, bdim, tdl_rnn_d(cfg)};
        if (cfg->batch_first) {
            d3[0] = bdim;
            d3[1] = cfg->steps;
        }
        tdl_shape_make(&s, 3, d3);
        y = tdl_node_new(g, &op_output, name, 1, &core, TDL_F32, &s, &at);
    }
    tdl_free(g->ctx, in);
    return y;
}

int tdl_rnn_inspect(const tdl_node *out, tdl_rnn_cfg *cfg, tdl_node **core)
{
    if (!out || out->op != &op_output || out->n_inputs != 1 || out->inputs[0]->op != &op_core)
        return -1;
    if (cfg)
        tdl_rnn_cfg_from_attrs(&out->attrs, cfg);
    if (core)
        *core = out->inputs[0];
    return 0;
}

tdl_node *tdl_rnn_state_view(tdl_graph *g, tdl_node *core, int32_t which)
{
    tdl_rnn_cfg c;
    tdl_rnn_cfg_from_attrs(&core->attrs, &c);
    tdl_attrs at = core->attrs;
    at.i[TDL_RNN_ATTR_REGION] = which == 1 ? REGION_CT : REGION_HT;
    int64_t d3[3] = {tdl_rnn_ld(&c), core->shape.d[1], c.hidden};
    tdl_shape s;
    tdl_shape_make(&s, 3, d3);
    char nm[256];
    size_t base = strlen(core->name);
    if (base >= 5 && strcmp(core->name + base - 5, ":core") == 0)
        base -= 5;
    snprintf(nm, sizeof nm, "%.*s:%s_n", (int)base, core->name, which == 1 ? "c" : "h");
    /* a second call for the same state gets an automatic name */
    tdl_node *n =
        tdl_graph_find(g, nm) ? NULL : tdl_node_new(g, &op_state, nm, 1, &core, TDL_F32, &s, &at);
    if (!n && g->sticky == TDL_OK)
        n = tdl_node_new(g, &op_state, NULL, 1, &core, TDL_F32, &s, &at);
    return n;
}
