/* Internal: the fused recurrent op family (rnn.c, rnn_backward.c, rnn_cell.c)
 * and what nn/rnn_layer*.c needs from it.
 *
 * Nodes of one tdl_rnn() (B = batch, N = T * B rows, one row per (t, b) in the
 * order of x: t * B + b time-major, b * T + t batch-first):
 *
 *   W  "rnn" [Pw, B]        the fused forward: computes everything, NO_GRAD.
 *                           Buffer = [core | saved activations | scratch].
 *   C  "rnn_core" [Pc, B]   alias of W's first Pc * B floats (the core:
 *                           [Y: N x D | HT: LD x B x H | CT: LD x B x H]); its
 *                           inputs list x, the parameters, h0, c0 and lengths,
 *                           so its gradient rule is the whole BPTT.
 *   y  "rnn_output"         alias of C's Y part, [T, B, D] (or [B, T, D]).
 *   final states            copies of C's HT / CT part ("rnn_state").
 *
 * Gradient of C: D1 "rnn_backward" [Q, B] = [DX: N x F | DH0 | DC0 | per
 * layer-direction dgates | scratch], then x's gradient is an alias of DX,
 * h0's and c0's are copies, and each parameter gradient is its own
 * "rnn_weight_grad" node (a GEMM or a column sum over D1 and W).
 *
 * D = dirs * H, LD = layers * dirs, GH = gates * H. */
#ifndef TDL_OPS_RNN_INTERNAL_H
#define TDL_OPS_RNN_INTERNAL_H

#include <stdint.h>

#include "graph/graph.h"
#include "ops/op.h"

typedef struct tdl_rnn_cfg {
    int32_t kind;   /* TDL_RNN_* */
    int32_t layers; /* >= 1 */
    int32_t dirs;   /* 1 or 2 */
    int32_t gates;  /* 1 (RNN), 4 (LSTM), 3 (GRU) */
    int32_t batch_first, has_h0, has_c0, has_len;
    int64_t hidden; /* H */
    int64_t input;  /* F */
    int64_t steps;  /* T */
    float dropout;  /* between layers (inverted dropout of each layer's input but the first) */
    float wdrop;    /* DropConnect of every W_hh (one mask per run, shared by all steps) */
} tdl_rnn_cfg;

/* Attribute slots after the configuration. */
enum {
    TDL_RNN_ATTR_REGION = 10,
    TDL_RNN_ATTR_LD = 11,
    TDL_RNN_ATTR_WHICH = 12,
    TDL_RNN_ATTR_DXNODE = 13 /* backward node: id of x's gradient node */
};

void tdl_rnn_cfg_to_attrs(const tdl_rnn_cfg *c, tdl_attrs *a);
void tdl_rnn_cfg_from_attrs(const tdl_attrs *a, tdl_rnn_cfg *c);

static inline int tdl_rnn_is_lstm(const tdl_rnn_cfg *c)
{
    return c->kind == 2;
}
static inline int tdl_rnn_is_gru(const tdl_rnn_cfg *c)
{
    return c->kind == 3;
}
static inline int64_t tdl_rnn_ld(const tdl_rnn_cfg *c)
{
    return (int64_t)c->layers * c->dirs;
}
static inline int64_t tdl_rnn_gh(const tdl_rnn_cfg *c)
{
    return c->gates * c->hidden;
}
static inline int64_t tdl_rnn_d(const tdl_rnn_cfg *c)
{
    return c->dirs * c->hidden;
}
/* Width of layer l's input. */
static inline int64_t tdl_rnn_in(const tdl_rnn_cfg *c, int32_t l)
{
    return l == 0 ? c->input : tdl_rnn_d(c);
}
/* Number of inputs after the fixed prefix: x, 4 params per layer-direction,
 * then h0, c0, lengths when present. */
static inline int32_t tdl_rnn_n_inputs(const tdl_rnn_cfg *c)
{
    return 1 + 4 * (int32_t)tdl_rnn_ld(c) + c->has_h0 + c->has_c0 + c->has_len;
}
/* Index (after the prefix) of parameter k (0 w_ih, 1 w_hh, 2 b_ih, 3 b_hh) of ld. */
static inline int32_t tdl_rnn_param_index(int64_t ld, int32_t k)
{
    return 1 + 4 * (int32_t)ld + k;
}
static inline int32_t tdl_rnn_h0_index(const tdl_rnn_cfg *c)
{
    return c->has_h0 ? 1 + 4 * (int32_t)tdl_rnn_ld(c) : -1;
}
static inline int32_t tdl_rnn_c0_index(const tdl_rnn_cfg *c)
{
    return c->has_c0 ? 1 + 4 * (int32_t)tdl_rnn_ld(c) + c->has_h0 : -1;
}
static inline int32_t tdl_rnn_len_index(const tdl_rnn_cfg *c)
{
    return c->has_len ? 1 + 4 * (int32_t)tdl_rnn_ld(c) + c->has_h0 + c->has_c0 : -1;
}

/* ---- buffer layouts, in floats, for batch B ---- */

/* The core (C): [Y | HT | CT]. */
static inline int64_t tdl_rnn_core_per_batch(const tdl_rnn_cfg *c)
{
    return c->steps * tdl_rnn_d(c) + tdl_rnn_ld(c) * c->hidden * (tdl_rnn_is_lstm(c) ? 2 : 1);
}
static inline int64_t tdl_rnn_off_ht(const tdl_rnn_cfg *c, int64_t B)
{
    return c->steps * B * tdl_rnn_d(c);
}
static inline int64_t tdl_rnn_off_ct(const tdl_rnn_cfg *c, int64_t B)
{
    return tdl_rnn_off_ht(c, B) + tdl_rnn_ld(c) * B * c->hidden;
}

/* Saved activations of one layer-direction: G [N, GH] (activated gates),
 * HP [N, H] (state before the step), LSTM: CP [N, H] (cell before the step)
 * and TC [N, H] (tanh of the new cell), GRU: HN [N, H] (W_hn h + b_hn). */
static inline int64_t tdl_rnn_saved_per_row(const tdl_rnn_cfg *c)
{
    return tdl_rnn_gh(c) + c->hidden * (tdl_rnn_is_lstm(c) ? 3 : tdl_rnn_is_gru(c) ? 2 : 1);
}
typedef struct tdl_rnn_saved {
    float *g, *hp, *cp, *tc, *hn;
} tdl_rnn_saved;

/* Layer outputs below the last: O_l [N, D] for l < layers - 1; dropped inputs
 * XD_l [N, D] for 1 <= l < layers when dropout > 0. */
static inline int tdl_rnn_has_xd(const tdl_rnn_cfg *c)
{
    return c->dropout > 0.0f && c->layers > 1;
}

/* W's layout. Per-step scratch: hcur [B, H], ccur [B, H], ght [GH, B], meta [B]
 * (what the forward did, for its gradient: the TDL_RNN_META_* bits, as a float). */
enum {
    TDL_RNN_META_XD = 1, /* layer inputs were dropped */
    TDL_RNN_META_WD = 2  /* W_hh was dropped (DropConnect) */
};

typedef struct tdl_rnn_wlayout {
    int64_t saved;    /* first saved block */
    int64_t saved_ld; /* floats per layer-direction block */
    int64_t outs;     /* O_0 */
    int64_t xd;       /* XD_1 */
    int64_t hcur, ccur, ght, meta;
    int64_t total;
} tdl_rnn_wlayout;

static inline void tdl_rnn_wlayout_get(const tdl_rnn_cfg *c, int64_t B, tdl_rnn_wlayout *w)
{
    int64_t N = c->steps * B, D = tdl_rnn_d(c), H = c->hidden;
    w->saved = tdl_rnn_core_per_batch(c) * B;
    w->saved_ld = N * tdl_rnn_saved_per_row(c);
    w->outs = w->saved + tdl_rnn_ld(c) * w->saved_ld;
    w->xd = w->outs + (int64_t)(c->layers - 1) * N * D;
    w->hcur = w->xd + (tdl_rnn_has_xd(c) ? (int64_t)(c->layers - 1) * N * D : 0);
    w->ccur = w->hcur + B * H;
    w->ght = w->ccur + B * H;
    w->meta = w->ght + tdl_rnn_gh(c) * B;
    w->total = w->meta + B;
}

static inline int64_t tdl_rnn_w_per_batch(const tdl_rnn_cfg *c)
{
    tdl_rnn_wlayout w;
    tdl_rnn_wlayout_get(c, 1, &w);
    return w.total;
}

static inline void tdl_rnn_saved_get(const tdl_rnn_cfg *c, int64_t B, float *wbuf, int64_t ld,
                                     tdl_rnn_saved *s)
{
    tdl_rnn_wlayout w;
    tdl_rnn_wlayout_get(c, B, &w);
    int64_t N = c->steps * B, H = c->hidden;
    float *base = wbuf + w.saved + ld * w.saved_ld;
    s->g = base;
    s->hp = base + N * tdl_rnn_gh(c);
    s->cp = tdl_rnn_is_lstm(c) ? s->hp + N * H : NULL;
    s->tc = tdl_rnn_is_lstm(c) ? s->hp + 2 * N * H : NULL;
    s->hn = tdl_rnn_is_gru(c) ? s->hp + N * H : NULL;
}

/* D1's layout: DX [N, F] | DH0 [LD, B, H] | DC0 (LSTM) | per ld: DGX [N, ldg]
 * (and DGH [N, ldg] for GRU) | DY ping-pong [N, D] x min(2, layers - 1) |
 * scratch dh [B, H], dc [B, H], rt [H, B]. */
typedef struct tdl_rnn_dlayout {
    int64_t dx, dh0, dc0, dg, dg_ld, dy, dh, dc, rt, total;
    int64_t ldg; /* row stride of DGX / DGH: GH padded to an odd number of cache lines,
                  * so that the GEMMs reading them in place (transposed) do not thrash
                  * one L1 set; the padding is kept at zero */
} tdl_rnn_dlayout;

static inline void tdl_rnn_dlayout_get(const tdl_rnn_cfg *c, int64_t B, tdl_rnn_dlayout *d)
{
    int64_t N = c->steps * B, H = c->hidden, LD = tdl_rnn_ld(c);
    d->dx = 0;
    d->dh0 = N * c->input;
    d->dc0 = d->dh0 + LD * B * H;
    d->dg = d->dc0 + (tdl_rnn_is_lstm(c) ? LD * B * H : 0);
    d->ldg = (tdl_rnn_gh(c) + 15) / 16 * 16; /* whole 64-byte lines ... */
    if ((d->ldg / 16) % 2 == 0)
        d->ldg += 16; /* ... an odd number of them, so columns spread over the L1 sets */
    d->dg_ld = N * d->ldg * (tdl_rnn_is_gru(c) ? 2 : 1);
    d->dy = d->dg + LD * d->dg_ld;
    int64_t nbuf = c->layers - 1 < 2 ? c->layers - 1 : 2;
    d->dh = d->dy + nbuf * N * tdl_rnn_d(c);
    d->dc = d->dh + B * H;
    d->rt = d->dc + B * H;
    d->total = d->rt + H * B;
}

/* Asks for rows [r0 + b * sb] (b < B) of width `width` of buf to be brought
 * into the cache ahead of use (a hint; nothing when the compiler has none). */
static inline void tdl_rnn_prefetch_rows(const float *buf, int64_t r0, int64_t sb, int64_t B,
                                         int64_t width)
{
#if defined(__GNUC__)
    for (int64_t b = 0; b < B; ++b) {
        const float *row = buf + (r0 + b * sb) * width;
        for (int64_t q = 0; q < width; q += 16)
            __builtin_prefetch(row + q, 0, 2);
    }
#else
    (void)buf;
    (void)r0;
    (void)sb;
    (void)B;
    (void)width;
#endif
}

/* ---- gate arithmetic shared by the fused op and the step API (same code,
 * same rounding: a step reproduces the fused op bit for bit) ---- */

/* Pre-activation of gate j from the input projection xp (no bias), the
 * recurrent projection gh (no bias) and both biases. For the GRU's n gate
 * (j >= 2H) this is only the input part xp + b_in; the recurrent part goes
 * through tdl_rnn_gru_hn(). */
static inline float tdl_rnn_pre(float xp, float b_ih, float b_hh, float gh)
{
    return ((xp + b_ih) + b_hh) + gh;
}
static inline float tdl_rnn_pre_n(float xp, float b_in)
{
    return xp + b_in;
}
static inline float tdl_rnn_gru_hn(float gh, float b_hn)
{
    return gh + b_hn;
}

/* One row of the cell, in place on the gate row g (pre-activations in,
 * activated gates out). h_prev/c_prev may alias h_out/c_out.
 *   RNN : h = act(g[0..H))
 *   LSTM: c = f c_prev + i g; tanhc = tanh(c); h = o tanhc
 *   GRU : g[2H..3H) += r * hn before the tanh; h = (1 - z) n + z h_prev
 * tanhc (LSTM) may be NULL only when not needed by the caller (then a
 * scratch of H floats must be passed anyway: use h_out's row). */
void tdl_rnn_cell_row(const tdl_rnn_cfg *c, float *g, const float *hn, const float *h_prev,
                      float *c_io, float *tanhc, float *h_out);

/* ---- shared between rnn.c and rnn_backward.c ---- */

/* Gradient rule of the core node (builds the BPTT nodes). */
int tdl_rnn_core_grad(tdl_graph *g, tdl_node *core, tdl_node *dcore, tdl_node **dx);
/* Fails the run unless every length is in 1..T. */
tdl_status tdl_rnn_check_lengths(tdl_exec *ex, const tdl_node *n, const int32_t *len, int64_t B,
                                 int64_t T);
/* Dropout between layers: the stream of W's node for this step, and the
 * factor (0 or 1 / (1 - p)) of element i of layer l's input. */
uint64_t tdl_rnn_dropout_key(const tdl_exec *ex, const tdl_node *w);
float tdl_rnn_dropout_mask(uint64_t key, int32_t l, int64_t i, float p);
void tdl_rnn_apply_dropout(tdl_exec *ex, const float *src, float *dst, int64_t n, uint64_t key,
                           int32_t l, float p);
/* DropConnect of layer-direction ld's W_hh [GH, H]: dst = src * its mask for this
 * run (src may be dst). The forward drops the weight, the backward the same
 * weight and the weight's gradient, all from W's node w and the step. */
void tdl_rnn_drop_whh(tdl_exec *ex, const tdl_node *w, const tdl_rnn_cfg *c, int64_t ld,
                      const float *src, float *dst);
/* Non-zero when the gradient nodes of W's node w have been built. */
int tdl_rnn_has_backward(const tdl_graph *g, const tdl_node *w);
/* Rows of the batch per chunk of the per-step element-wise work. */
int64_t tdl_rnn_row_grain(const tdl_exec *ex, const tdl_rnn_cfg *c, int64_t B);

/* ---- builders used by nn/rnn_layer.c ---- */

/* Builds W, C and y. params: 4 * layers * dirs nodes in PyTorch's order. */
tdl_node *tdl_rnn_build(tdl_graph *g, const tdl_rnn_cfg *cfg, tdl_node *x, tdl_node *const *params,
                        tdl_node *h0, tdl_node *c0, tdl_node *lengths, const char *name);

/* When `out` is a y node built by tdl_rnn_build: 0, its configuration and
 * its core node C; else -1. */
int tdl_rnn_inspect(const tdl_node *out, tdl_rnn_cfg *cfg, tdl_node **core);

/* The final-state view of C (which: 0 h, 1 c). */
tdl_node *tdl_rnn_state_view(tdl_graph *g, tdl_node *core, int32_t which);

#endif
