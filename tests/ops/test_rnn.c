/* Sequence ops (rnn.h): the fused recurrent layers against a plain reference
 * written here in double (RNN tanh/relu, LSTM, GRU; 1 and 2 layers,
 * bidirectional, h0/c0, lengths, batch-first), finite-difference gradient
 * checks for x, h0, c0 and every parameter, dropout between layers and of the
 * recurrent weights (DropConnect), running out of memory mid-run, the step
 * API against the full-sequence op, bit-identical results for 1 and 3
 * threads, masked mean over time, sampling from logits, and bad inputs.
 *
 * Gradient-check tolerances are test_util.h's (eps 1e-3, |num - ana| <= 2e-3 +
 * 2e-2 max(|num|, |ana|)); forward values are compared with a double
 * reference to 2e-5 (float rounding of a few dozen operations on values of
 * order 1). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

#include "graph/graph.h" /* g->step: pins dropout masks in the dropout gradient check */

#define EPS  1e-3f
#define ATOL 2e-3f
#define RTOL 2e-2f

/* ---------------- reference implementation (double) ---------------- */

typedef struct rcase {
    int32_t kind, layers, bidir, bf, use_h0, use_c0, use_len, sym_batch;
    int64_t T, B, F, H;
} rcase;

static int gates_of(int32_t kind)
{
    return kind == TDL_RNN_LSTM ? 4 : kind == TDL_RNN_GRU ? 3 : 1;
}

static double sigm(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* Row of (t, b) in x's order. */
static int64_t row_of(const rcase *c, int64_t t, int64_t b)
{
    return c->bf ? b * c->T + t : t * c->B + b;
}

/* params: 4 per layer-direction (w_ih, w_hh, b_ih, b_hh), PyTorch's order.
 * y: [rows, D] in x's order; hn, cn: [LD, B, H]. */
static void ref_rnn(const rcase *c, const float *x, const float *h0, const float *c0,
                    const int32_t *len, float *const *P, double *y, double *hn, double *cn)
{
    int64_t T = c->T, B = c->B, F = c->F, H = c->H, dirs = c->bidir ? 2 : 1, D = dirs * H;
    int64_t G = gates_of(c->kind), GH = G * H, W = F > D ? F : D;
    double *in = calloc((size_t)(T * B * W), sizeof(double));
    double *out = calloc((size_t)(T * B * D), sizeof(double));
    double *h = calloc((size_t)(B * H), sizeof(double)),
           *cc = calloc((size_t)(B * H), sizeof(double));
    double *a = calloc((size_t)GH, sizeof(double)), *gh = calloc((size_t)GH, sizeof(double));
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t k = 0; k < F; ++k)
                in[(t * B + b) * F + k] = x[row_of(c, t, b) * F + k];
    int64_t Fl = F;
    for (int32_t l = 0; l < c->layers; ++l) {
        for (int64_t d = 0; d < dirs; ++d) {
            int64_t ld = l * dirs + d;
            const float *wih = P[4 * ld], *whh = P[4 * ld + 1], *bih = P[4 * ld + 2],
                        *bhh = P[4 * ld + 3];
            for (int64_t i = 0; i < B * H; ++i) {
                h[i] = h0 ? h0[ld * B * H + i] : 0.0;
                cc[i] = c0 ? c0[ld * B * H + i] : 0.0;
            }
            for (int64_t k = 0; k < T; ++k) {
                int64_t t = d == 0 ? k : T - 1 - k;
                for (int64_t b = 0; b < B; ++b) {
                    double *o = out + (t * B + b) * D + d * H;
                    if (len && t >= len[b]) {
                        for (int64_t j = 0; j < H; ++j)
                            o[j] = 0.0;
                        continue;
                    }
                    const double *xi = in + (t * B + b) * Fl;
                    double *hb = h + b * H, *cb = cc + b * H;
                    for (int64_t j = 0; j < GH; ++j) {
                        double s = bih[j], r = bhh[j];
                        for (int64_t q = 0; q < Fl; ++q)
                            s += (double)wih[j * Fl + q] * xi[q];
                        for (int64_t q = 0; q < H; ++q)
                            r += (double)whh[j * H + q] * hb[q];
                        a[j] = s;
                        gh[j] = r;
                    }
                    for (int64_t j = 0; j < H; ++j) {
                        double nh;
                        if (c->kind == TDL_RNN_TANH) {
                            nh = tanh(a[j] + gh[j]);
                        } else if (c->kind == TDL_RNN_RELU) {
                            nh = a[j] + gh[j] > 0 ? a[j] + gh[j] : 0.0;
                        } else if (c->kind == TDL_RNN_LSTM) {
                            double ig = sigm(a[j] + gh[j]), fg = sigm(a[H + j] + gh[H + j]);
                            double gg = tanh(a[2 * H + j] + gh[2 * H + j]);
                            double og = sigm(a[3 * H + j] + gh[3 * H + j]);
                            cb[j] = fg * cb[j] + ig * gg;
                            nh = og * tanh(cb[j]);
                        } else {
                            double r = sigm(a[j] + gh[j]), z = sigm(a[H + j] + gh[H + j]);
                            double n = tanh(a[2 * H + j] + r * gh[2 * H + j]);
                            nh = (1.0 - z) * n + z * hb[j];
                        }
                        o[j] = nh;
                    }
                    for (int64_t j = 0; j < H; ++j)
                        hb[j] = o[j];
                }
            }
            for (int64_t i = 0; i < B * H; ++i) {
                hn[ld * B * H + i] = h[i];
                if (cn)
                    cn[ld * B * H + i] = cc[i];
            }
        }
        memcpy(in, out, sizeof(double) * (size_t)(T * B * D));
        Fl = D;
    }
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < D; ++j)
                y[row_of(c, t, b) * D + j] = out[(t * B + b) * D + j];
    free(in);
    free(out);
    free(h);
    free(cc);
    free(a);
    free(gh);
}

/* ---------------- helpers ---------------- */

static uint32_t case_flags(const rcase *c)
{
    return (c->bf ? TDL_RNN_BATCH_FIRST : 0) | (c->bidir ? TDL_RNN_BIDIRECTIONAL : 0);
}

static void x_shape(const rcase *c, int64_t bdim, int64_t *s)
{
    s[0] = c->bf ? bdim : c->T;
    s[1] = c->bf ? c->T : bdim;
    s[2] = c->F;
}

/* The parameters of rnn "name" in PyTorch's order. */
static void find_params(tdl_graph *g, const char *name, const rcase *c, float **P)
{
    int dirs = c->bidir ? 2 : 1;
    static const char *kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int l = 0; l < c->layers; ++l)
        for (int d = 0; d < dirs; ++d)
            for (int k = 0; k < 4; ++k) {
                char pn[128];
                snprintf(pn, sizeof pn, "%s.%s_l%d%s", name, kinds[k], l, d ? "_reverse" : "");
                tdl_node *p = tdl_graph_find(g, pn);
                if (!p)
                    fail_msg("parameter '%s' not found", pn);
                P[4 * (l * dirs + d) + k] = tdl_param_data(p);
            }
}

static void randomize_params(tdl_graph *g, const char *prefix, float lo, float hi, uint64_t seed)
{
    size_t pl = strlen(prefix);
    for (int64_t i = 0; i < tdl_graph_param_count(g); ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        if (strncmp(tdl_node_name(p), prefix, pl) != 0)
            continue;
        int32_t nd;
        int64_t s[TDL_MAX_DIMS];
        tdl_node_shape(p, &nd, s);
        test_fill_uniform(tdl_param_data(p), shape_numel(nd, s), lo, hi, seed + (uint64_t)i);
    }
}

static const char *kind_str(int32_t k)
{
    static const char *n[4] = {"tanh", "relu", "lstm", "gru"};
    return n[k];
}

static void case_str(const rcase *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s L=%d%s%s%s%s%s%s T=%lld B=%lld F=%lld H=%lld", kind_str(c->kind),
             (int)c->layers, c->bidir ? " bidir" : "", c->bf ? " batch_first" : "",
             c->use_h0 ? " h0" : "", c->use_c0 ? " c0" : "", c->use_len ? " lengths" : "",
             c->sym_batch ? " symbolic-B" : "", (long long)c->T, (long long)c->B, (long long)c->F,
             (long long)c->H);
}

static void fill_lengths(const rcase *c, int32_t *len)
{
    /* a mix of full and short sequences, at least one of each when B > 1 */
    for (int64_t b = 0; b < c->B; ++b)
        len[b] = (int32_t)(b % 2 == 0 ? c->T : 1 + (b * 7 + 3) % c->T);
}

/* ---------------- forward values ---------------- */

static void forward_case(const rcase *c)
{
    char what[160];
    case_str(c, what, sizeof what);
    fx f;
    fx_open(&f);
    int64_t dirs = c->bidir ? 2 : 1, LD = c->layers * dirs, D = dirs * c->H;
    int64_t bdim = c->sym_batch ? TDL_BATCH : c->B, xs[3], xr[3];
    x_shape(c, bdim, xs);
    x_shape(c, c->B, xr);
    int64_t ss[3] = {LD, bdim, c->H}, sr[3] = {LD, c->B, c->H};
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *h0 = c->use_h0 ? BUILT(f.g, tdl_input(f.g, "h0", TDL_F32, 3, ss)) : NULL;
    tdl_node *c0 = c->use_c0 ? BUILT(f.g, tdl_input(f.g, "c0", TDL_F32, 3, ss)) : NULL;
    tdl_node *ln = c->use_len ? BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &bdim)) : NULL;
    tdl_node *y = tdl_rnn(f.g, x, h0, c0, ln, c->kind, c->H, c->layers, case_flags(c), 0.0f, "rnn");
    if (!y)
        fail_msg("%s: build failed: %s", what, tdl_graph_error(f.g));
    int64_t ys[3] = {xs[0], xs[1], D};
    check_shape(y, 3, ys);
    tdl_node *hn = BUILT(f.g, tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_H));
    check_shape(hn, 3, ss);
    tdl_node *cn =
        c->kind == TDL_RNN_LSTM ? BUILT(f.g, tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_C)) : NULL;
    randomize_params(f.g, "rnn.", -0.6f, 0.6f, 11);
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));

    int64_t nx = c->T * c->B * c->F, nh = LD * c->B * c->H, ny = c->T * c->B * D;
    float *xv = malloc(sizeof(float) * (size_t)nx), *h0v = malloc(sizeof(float) * (size_t)nh),
          *c0v = malloc(sizeof(float) * (size_t)nh);
    int32_t *lv = malloc(sizeof(int32_t) * (size_t)c->B);
    test_fill_uniform(xv, nx, -1.5f, 1.5f, 3);
    test_fill_uniform(h0v, nh, -0.8f, 0.8f, 4);
    test_fill_uniform(c0v, nh, -0.8f, 0.8f, 5);
    fill_lengths(c, lv);
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, xr));
    if (h0)
        TDL_OK_OR_FAIL(tdl_feed(f.g, h0, h0v, 3, sr));
    if (c0)
        TDL_OK_OR_FAIL(tdl_feed(f.g, c0, c0v, 3, sr));
    if (ln)
        TDL_OK_OR_FAIL(tdl_feed(f.g, ln, lv, 1, &c->B));
    if (tdl_forward(f.g) != TDL_OK)
        fail_msg("%s: forward failed: %s", what, tdl_graph_error(f.g));

    float *P[4 * 2 * 4];
    find_params(f.g, "rnn", c, P);
    double *ry = malloc(sizeof(double) * (size_t)ny), *rh = malloc(sizeof(double) * (size_t)nh),
           *rc = malloc(sizeof(double) * (size_t)nh);
    ref_rnn(c, xv, h0 ? h0v : NULL, c0 ? c0v : NULL, ln ? lv : NULL, P, ry, rh, rc);
    float *got = malloc(sizeof(float) * (size_t)(ny > nh ? ny : nh));
    char w2[220];
    read_node(y, got, ny);
    snprintf(w2, sizeof w2, "%s: output", what);
    check_close(w2, got, ry, ny, 1e-5, 2e-5);
    read_node(hn, got, nh);
    snprintf(w2, sizeof w2, "%s: h_n", what);
    check_close(w2, got, rh, nh, 1e-5, 2e-5);
    if (cn) {
        read_node(cn, got, nh);
        snprintf(w2, sizeof w2, "%s: c_n", what);
        check_close(w2, got, rc, nh, 1e-5, 2e-5);
    }
    free(got);
    free(ry);
    free(rh);
    free(rc);
    free(xv);
    free(h0v);
    free(c0v);
    free(lv);
    fx_close(&f);
}

static void test_forward_values(void **state)
{
    (void)state;
    for (int32_t kind = 0; kind < 4; ++kind) {
        int lstm = kind == TDL_RNN_LSTM;
        const rcase cases[] = {
            /* kind layers bidir bf h0 c0 len sym  T  B  F  H */
            {kind, 1, 0, 0, 0, 0, 0, 0, 5, 3, 4, 6},
            {kind, 2, 0, 0, 0, 0, 0, 1, 5, 3, 4, 6},
            {kind, 1, 1, 0, 0, 0, 0, 0, 4, 2, 3, 5},
            {kind, 2, 1, 0, 1, lstm, 0, 1, 4, 3, 3, 5},
            {kind, 1, 0, 0, 1, lstm, 1, 0, 6, 4, 3, 4},
            {kind, 2, 1, 0, 1, lstm, 1, 1, 6, 4, 3, 4},
            {kind, 1, 0, 1, 0, 0, 0, 0, 5, 3, 4, 6},
            {kind, 2, 1, 1, 1, lstm, 1, 1, 5, 3, 2, 4},
            {kind, 3, 0, 0, 1, lstm, 0, 0, 4, 2, 3, 3},
            {kind, 1, 0, 0, 0, 0, 0, 0, 3, 40, 33, 37}, /* sizes past the GEMM tiles */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
            forward_case(&cases[i]);
    }
}

/* ---------------- gradient checks ---------------- */

static void gradcheck_case(const rcase *c)
{
    char what[160];
    case_str(c, what, sizeof what);
    fx f;
    fx_open(&f);
    int64_t dirs = c->bidir ? 2 : 1, LD = c->layers * dirs;
    int64_t xs[3], ss[3] = {LD, c->B, c->H};
    x_shape(c, c->B, xs);
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 3, xs, -1.2f, 1.2f));
    tdl_node *h0 = c->use_h0 ? BUILT(f.g, test_param(f.g, "h0", 3, ss, -0.8f, 0.8f)) : NULL;
    tdl_node *c0 = c->use_c0 ? BUILT(f.g, test_param(f.g, "c0", 3, ss, -0.8f, 0.8f)) : NULL;
    tdl_node *ln = c->use_len ? BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &c->B)) : NULL;
    tdl_node *y = tdl_rnn(f.g, x, h0, c0, ln, c->kind, c->H, c->layers, case_flags(c), 0.0f, "rnn");
    if (!y)
        fail_msg("%s: build failed: %s", what, tdl_graph_error(f.g));
    randomize_params(f.g, "rnn.", -0.7f, 0.7f, 21);
    if (c->kind == TDL_RNN_RELU) {
        /* keep finite differences away from the kink: push x from 0 */
        push_from_zero(tdl_param_data(x), shape_numel(3, xs), 0.1f);
    }
    tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, y, 31));
    tdl_node *hn = BUILT(f.g, tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_H));
    loss = BUILT(f.g, tdl_add(f.g, loss, BUILT(f.g, test_weighted_sum(f.g, hn, 32))));
    if (c->kind == TDL_RNN_LSTM) {
        tdl_node *cn = BUILT(f.g, tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_C));
        loss = BUILT(f.g, tdl_add(f.g, loss, BUILT(f.g, test_weighted_sum(f.g, cn, 33))));
    }
    int32_t lv[8];
    fill_lengths(c, lv);
    if (ln)
        TDL_OK_OR_FAIL(tdl_feed(f.g, ln, lv, 1, &c->B));
    int bad = test_gradcheck(f.g, loss, EPS, ATOL, RTOL);
    if (bad != 0)
        fail_msg("%s: gradcheck found %d bad elements (%s)", what, bad, tdl_graph_error(f.g));
    fx_close(&f);
}

static void test_gradients(void **state)
{
    (void)state;
    for (int32_t kind = 0; kind < 4; ++kind) {
        int lstm = kind == TDL_RNN_LSTM;
        const rcase cases[] = {
            /* kind layers bidir bf h0 c0 len sym  T  B  F  H */
            {kind, 1, 0, 0, 1, lstm, 0, 0, 3, 2, 3, 4},
            {kind, 2, 1, 0, 1, lstm, 1, 0, 3, 2, 3, 4},
            {kind, 2, 0, 1, 1, lstm, 1, 0, 3, 2, 3, 4},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
            gradcheck_case(&cases[i]);
    }
}

/* A gradient check with the dropout masks pinned: every forward of the check
 * reuses the step of the first one (g->step), so the masks do not change.
 * dropout: between layers; wdrop: DropConnect of every W_hh. With DropConnect,
 * the training-mode output must also equal the reference run with the masked
 * W_hh, the mask read off W_hh's gradient (exactly zero where dropped). */
static void dropout_case(const rcase *c, float dropout, float wdrop)
{
    char what[160];
    case_str(c, what, sizeof what);
    int64_t LD = (int64_t)c->layers * (c->bidir ? 2 : 1), GH = gates_of(c->kind) * c->H;
    int64_t D = (c->bidir ? 2 : 1) * c->H, ny = c->T * c->B * D;
    fx f;
    fx_open(&f);
    int64_t xs[3], ss[3] = {LD, c->B, c->H};
    x_shape(c, c->B, xs);
    tdl_node *x = BUILT(f.g, test_param(f.g, "x", 3, xs, -1.2f, 1.2f));
    tdl_node *h0 = BUILT(f.g, test_param(f.g, "h0", 3, ss, -0.8f, 0.8f));
    tdl_node *c0 = c->use_c0 ? BUILT(f.g, test_param(f.g, "c0", 3, ss, -0.8f, 0.8f)) : NULL;
    tdl_node *ln = BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &c->B));
    tdl_node *y = BUILT(
        f.g, tdl_rnn(f.g, x, h0, c0, ln, c->kind, c->H, c->layers, case_flags(c), dropout, "rnn"));
    assert_int_equal(tdl_rnn_set_weight_dropout(f.g, y, wdrop), TDL_OK);
    randomize_params(f.g, "rnn.", -0.7f, 0.7f, 41);
    tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, y, 42));
    int32_t lv[2] = {(int32_t)c->T, (int32_t)c->T - 1};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ln, lv, 1, &c->B));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));

    /* eval mode: dropout off, the output equals the same layer without dropout */
    TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 0));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    float *ye = malloc(sizeof(float) * (size_t)ny), *yt = malloc(sizeof(float) * (size_t)ny),
          *yt2 = malloc(sizeof(float) * (size_t)ny);
    double *ry = malloc(sizeof(double) * (size_t)ny), rh[64], rc[64];
    read_node(y, ye, ny);
    float *P[4 * 6];
    find_params(f.g, "rnn", c, P);
    ref_rnn(c, tdl_param_data(x), tdl_param_data(h0), c0 ? tdl_param_data(c0) : NULL, lv, P, ry, rh,
            rc);
    check_close("dropout, eval mode", ye, ry, ny, 1e-5, 2e-5);

    /* training mode: masks change the output, reproducibly for a given step */
    TDL_OK_OR_FAIL(tdl_graph_set_training(f.g, 1));
    uint64_t s0 = f.g->step;
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    read_node(y, yt, ny);
    f.g->step = s0;
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    read_node(y, yt2, ny);
    assert_memory_equal(yt, yt2, sizeof(float) * (size_t)ny);
    assert_true(memcmp(ye, yt, sizeof(float) * (size_t)ny) != 0);

    /* gradients with the masks of step s0 + 1 */
    f.g->step = s0;
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
    if (wdrop > 0.0f && dropout == 0.0f) {
        float *Pm[4 * 6];
        int64_t dropped = 0, total = 0;
        for (int64_t ld = 0; ld < LD; ++ld) {
            for (int k = 0; k < 4; ++k)
                Pm[4 * ld + k] = P[4 * ld + k];
            char nm[64];
            snprintf(nm, sizeof nm, "rnn.weight_hh_l%lld%s", (long long)(ld / (c->bidir ? 2 : 1)),
                     c->bidir && ld % 2 ? "_reverse" : "");
            const float *gw = tdl_param_grad(tdl_graph_find(f.g, nm));
            float *m = malloc(sizeof(float) * (size_t)(GH * c->H));
            for (int64_t i = 0; i < GH * c->H; ++i) {
                m[i] = gw[i] == 0.0f ? 0.0f : P[4 * ld + 1][i] / (1.0f - wdrop);
                dropped += gw[i] == 0.0f;
            }
            total += GH * c->H;
            Pm[4 * ld + 1] = m;
        }
        /* the share dropped is p, give or take a few standard deviations */
        double share = (double)dropped / (double)total;
        if (fabs(share - wdrop) > 4.0 * sqrt(wdrop * (1.0 - wdrop) / (double)total) + 0.02)
            fail_msg("%s: %lld of %lld recurrent weights dropped, p = %g", what, (long long)dropped,
                     (long long)total, (double)wdrop);
        ref_rnn(c, tdl_param_data(x), tdl_param_data(h0), c0 ? tdl_param_data(c0) : NULL, lv, Pm,
                ry, rh, rc);
        read_node(y, yt, ny);
        check_close("weight dropout, training mode", yt, ry, ny, 1e-5, 2e-5);
        for (int64_t ld = 0; ld < LD; ++ld)
            free(Pm[4 * ld + 1]);
    }
    int bad = 0;
    for (int64_t p = 0; p < tdl_graph_param_count(f.g); ++p) {
        tdl_node *param = tdl_graph_param(f.g, p);
        int32_t nd;
        int64_t s[TDL_MAX_DIMS];
        tdl_node_shape(param, &nd, s);
        int64_t n = shape_numel(nd, s);
        float *v = tdl_param_data(param), *ana = malloc(sizeof(float) * (size_t)n);
        memcpy(ana, tdl_param_grad(param), sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; ++i) {
            float keep = v[i], lp, lm;
            v[i] = keep + EPS;
            f.g->step = s0;
            TDL_OK_OR_FAIL(tdl_forward(f.g));
            TDL_OK_OR_FAIL(tdl_node_read(loss, &lp, sizeof lp));
            v[i] = keep - EPS;
            f.g->step = s0;
            TDL_OK_OR_FAIL(tdl_forward(f.g));
            TDL_OK_OR_FAIL(tdl_node_read(loss, &lm, sizeof lm));
            v[i] = keep;
            double num = ((double)lp - lm) / (2.0 * EPS), a = ana[i];
            if (!(fabs(num - a) <= ATOL + RTOL * fmax(fabs(num), fabs(a)))) {
                if (bad < 5)
                    print_error("%s: dropout gradcheck '%s'[%lld]: analytic %.6g numeric %.6g\n",
                                what, tdl_node_name(param), (long long)i, a, num);
                bad++;
            }
        }
        free(ana);
    }
    assert_int_equal(bad, 0);
    free(ye);
    free(yt);
    free(yt2);
    free(ry);
    fx_close(&f);
}

static void test_dropout(void **state)
{
    (void)state;
    /* kind layers bidir bf h0 c0 len sym  T  B  F  H */
    rcase lstm3 = {TDL_RNN_LSTM, 3, 1, 0, 1, 1, 1, 0, 3, 2, 3, 4};
    dropout_case(&lstm3, 0.4f, 0.0f);
}

static void test_weight_dropout(void **state)
{
    (void)state;
    /* kind layers bidir bf h0 c0 len sym  T  B  F  H */
    rcase gru = {TDL_RNN_GRU, 2, 1, 1, 1, 0, 1, 0, 3, 2, 3, 5};
    rcase lstm = {TDL_RNN_LSTM, 2, 0, 0, 1, 1, 1, 0, 4, 2, 3, 4};
    rcase tanh1 = {TDL_RNN_TANH, 1, 0, 0, 1, 0, 1, 0, 3, 2, 3, 6};
    dropout_case(&gru, 0.0f, 0.3f);
    dropout_case(&lstm, 0.0f, 0.25f);
    dropout_case(&tanh1, 0.0f, 0.5f);
    dropout_case(&lstm, 0.3f, 0.2f); /* both at once */
}

/* Every allocation of a training run with both kinds of dropout fails in turn: each
 * failure is TDL_ERR_OUT_OF_MEMORY, leaks nothing, and the graph then runs again. */
static tdl_node *oom_rnn_model(tdl_graph *g)
{
    const int64_t xs[3] = {5, TDL_BATCH, 3};
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 3, xs));
    tdl_node *y = BUILT(g, tdl_rnn(g, x, NULL, NULL, NULL, TDL_RNN_GRU, 6, 2, 0, 0.2f, "gru"));
    TDL_OK_OR_FAIL(tdl_rnn_set_weight_dropout(g, y, 0.3f));
    tdl_node *loss = BUILT(g, tdl_mean(g, tdl_mul(g, y, y), 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    TDL_OK_OR_FAIL(tdl_build_gradients(g, loss));
    static float xv[5 * 2 * 3]; /* static: the graph reads fed data in place until the run */
    test_fill_uniform(xv, 30, -1, 1, 8);
    const int64_t xf[3] = {5, 2, 3};
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 3, xf));
    return loss;
}

static void oom_rnn_check(tdl_graph *g, tdl_node *loss, void *user)
{
    const char *msg = tdl_graph_error(g);
    if (strstr(msg, "dropped recurrent weights")) {
        ++*(int *)user;
        check_contains(msg, "'gru");
    }
    /* the graph is still usable once memory is back */
    TDL_OK_OR_FAIL(tdl_forward(g));
    TDL_OK_OR_FAIL(tdl_backward(g, loss));
}

static void test_out_of_memory(void **state)
{
    (void)state;
    int scratch_failures = 0;
    oom_sweep(60, oom_rnn_model, oom_rnn_check, &scratch_failures);
    assert_true(scratch_failures >= 2); /* the forward's and the backward's */
}

/* ---------------- the step API ---------------- */

static void step_case(int32_t kind, int32_t layers, int bf, int64_t B, int use_h0)
{
    const int64_t T = 7, F = 5, H = 9;
    rcase c = {kind, layers, 0, bf, use_h0, use_h0 && kind == TDL_RNN_LSTM, 0, 0, T, B, F, H};
    char what[160];
    case_str(&c, what, sizeof what);
    fx f;
    fx_open(&f);
    int64_t xs[3], ss[3] = {layers, B, H};
    x_shape(&c, B, xs);
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *h0 = c.use_h0 ? BUILT(f.g, tdl_input(f.g, "h0", TDL_F32, 3, ss)) : NULL;
    tdl_node *c0 = c.use_c0 ? BUILT(f.g, tdl_input(f.g, "c0", TDL_F32, 3, ss)) : NULL;
    tdl_node *y =
        BUILT(f.g, tdl_rnn(f.g, x, h0, c0, NULL, kind, H, layers, case_flags(&c), 0.0f, "rnn"));
    tdl_node *hn = BUILT(f.g, tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_H));
    randomize_params(f.g, "rnn.", -0.6f, 0.6f, 51);
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    float xv[7 * 8 * 5], h0v[3 * 8 * 9], c0v[3 * 8 * 9], yv[7 * 8 * 9], hv[3 * 8 * 9];
    test_fill_uniform(xv, T * B * F, -1.5f, 1.5f, 52);
    test_fill_uniform(h0v, layers * B * H, -0.8f, 0.8f, 53);
    test_fill_uniform(c0v, layers * B * H, -0.8f, 0.8f, 54);
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, xs));
    if (h0)
        TDL_OK_OR_FAIL(tdl_feed(f.g, h0, h0v, 3, ss));
    if (c0)
        TDL_OK_OR_FAIL(tdl_feed(f.g, c0, c0v, 3, ss));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    read_node(y, yv, T * B * H);
    read_node(hn, hv, layers * B * H);

    tdl_rnn_state *st = NULL;
    TDL_OK_OR_FAIL(tdl_rnn_state_create(f.g, y, B, &st));
    for (int round = 0; round < 2; ++round) {
        if (h0)
            TDL_OK_OR_FAIL(tdl_rnn_state_set(st, TDL_RNN_STATE_H, h0v, 3, ss));
        if (c0)
            TDL_OK_OR_FAIL(tdl_rnn_state_set(st, TDL_RNN_STATE_C, c0v, 3, ss));
        double maxdiff = 0;
        for (int64_t t = 0; t < T; ++t) {
            float xt[8 * 5], yt[8 * 9];
            for (int64_t b = 0; b < B; ++b)
                memcpy(xt + b * F, xv + row_of(&c, t, b) * F, sizeof(float) * (size_t)F);
            TDL_OK_OR_FAIL(tdl_rnn_state_step(st, xt, yt));
            for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < H; ++j) {
                    double d = fabs((double)yt[b * H + j] - yv[row_of(&c, t, b) * H + j]);
                    maxdiff = d > maxdiff ? d : maxdiff;
                }
        }
        if (!(maxdiff <= 1e-6))
            fail_msg("%s: step API differs from the sequence op by %g", what, maxdiff);
        float hs[3 * 8 * 9];
        TDL_OK_OR_FAIL(tdl_rnn_state_get(st, TDL_RNN_STATE_H, hs, sizeof hs));
        for (int64_t i = 0; i < layers * B * H; ++i)
            if (fabsf(hs[i] - hv[i]) > 1e-6f)
                fail_msg("%s: step state h[%lld] %g vs h_n %g", what, (long long)i, hs[i], hv[i]);
        /* a reset starts over from zeros (and the weights) */
        TDL_OK_OR_FAIL(tdl_rnn_state_reset(st));
        TDL_OK_OR_FAIL(tdl_rnn_state_get(st, TDL_RNN_STATE_H, hs, sizeof hs));
        for (int64_t i = 0; i < layers * B * H; ++i)
            assert_true(hs[i] == 0.0f);
    }
    tdl_rnn_state_destroy(st);
    fx_close(&f);
}

static void test_step_api(void **state)
{
    (void)state;
    for (int32_t kind = 0; kind < 4; ++kind) {
        step_case(kind, 1, 0, 1, 0);
        step_case(kind, 2, 0, 3, 1);
        step_case(kind, 3, 1, 8, 1); /* more sequences than the axpy path: GEMMs */
    }
}

/* Weights changed after creating a state take effect at the next reset. */
static void test_step_reset_reloads(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    int64_t xs[3] = {1, 1, 2};
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *y = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 3, 1, 0, 0, "gru"));
    tdl_rnn_state *st = NULL;
    TDL_OK_OR_FAIL(tdl_rnn_state_create(f.g, y, 1, &st));
    float xt[2] = {0.5f, -0.25f}, y1[3], y2[3], y3[3];
    TDL_OK_OR_FAIL(tdl_rnn_state_step(st, xt, y1));
    float *b = tdl_param_data(tdl_graph_find(f.g, "gru.bias_ih_l0")), keep[9];
    memcpy(keep, b, sizeof keep);
    for (int i = 0; i < 9; ++i)
        b[i] += 0.5f;
    TDL_OK_OR_FAIL(tdl_rnn_state_reset(st));
    TDL_OK_OR_FAIL(tdl_rnn_state_step(st, xt, y2));
    assert_true(memcmp(y1, y2, sizeof y1) != 0);
    memcpy(b, keep, sizeof keep);
    TDL_OK_OR_FAIL(tdl_rnn_state_reset(st));
    TDL_OK_OR_FAIL(tdl_rnn_state_step(st, xt, y3));
    assert_memory_equal(y1, y3, sizeof y1);
    tdl_rnn_state_destroy(st);
    tdl_rnn_state_destroy(NULL);
    fx_close(&f);
}

/* ---------------- thread-count bit-identity ---------------- */

typedef struct run_out {
    float *y;
    float *grads;
    int64_t ny, ng;
} run_out;

static void lstm_train_step(int32_t threads, run_out *o)
{
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, threads));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 99));
    tdl_graph *g = NULL;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    const int64_t T = 12, B = 16, F = 48, H = 64;
    int64_t xs[3] = {T, TDL_BATCH, F}, lb = TDL_BATCH;
    tdl_node *x = BUILT(g, tdl_input(g, "x", TDL_F32, 3, xs));
    tdl_node *ln = BUILT(g, tdl_input(g, "len", TDL_I32, 1, &lb));
    tdl_node *y = BUILT(
        g, tdl_rnn(g, x, NULL, NULL, ln, TDL_RNN_LSTM, H, 2, TDL_RNN_BIDIRECTIONAL, 0.2f, "lstm"));
    tdl_node *pooled = BUILT(g, tdl_masked_mean_time(g, y, ln, 0));
    tdl_node *logits = BUILT(g, tdl_dense(g, pooled, 5, "head"));
    int64_t yb = TDL_BATCH;
    tdl_node *labels = BUILT(g, tdl_input(g, "labels", TDL_I32, 1, &yb));
    tdl_node *loss = BUILT(g, tdl_cross_entropy(g, logits, labels));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    static float xv[12 * 16 * 48];
    int32_t lv[16], yl[16];
    test_fill_uniform(xv, T * B * F, -1, 1, 7);
    for (int b = 0; b < 16; ++b) {
        lv[b] = 1 + (b * 5) % 12;
        yl[b] = b % 5;
    }
    int64_t xr[3] = {T, B, F};
    TDL_OK_OR_FAIL(tdl_feed(g, x, xv, 3, xr));
    TDL_OK_OR_FAIL(tdl_feed(g, ln, lv, 1, &B));
    TDL_OK_OR_FAIL(tdl_feed(g, labels, yl, 1, &B));
    TDL_OK_OR_FAIL(tdl_forward(g));
    TDL_OK_OR_FAIL(tdl_backward(g, loss));
    o->ny = T * B * 2 * H;
    o->y = malloc(sizeof(float) * (size_t)o->ny);
    read_node(y, o->y, o->ny);
    o->ng = tdl_graph_param_elements(g);
    o->grads = malloc(sizeof(float) * (size_t)o->ng);
    int64_t off = 0;
    for (int64_t i = 0; i < tdl_graph_param_count(g); ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        int32_t nd;
        int64_t s[TDL_MAX_DIMS];
        tdl_node_shape(p, &nd, s);
        int64_t n = shape_numel(nd, s);
        memcpy(o->grads + off, tdl_param_grad(p), sizeof(float) * (size_t)n);
        off += n;
    }
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    run_out a, b;
    lstm_train_step(1, &a);
    lstm_train_step(3, &b);
    assert_int_equal(a.ny, b.ny);
    assert_int_equal(a.ng, b.ng);
    assert_memory_equal(a.y, b.y, sizeof(float) * (size_t)a.ny);
    assert_memory_equal(a.grads, b.grads, sizeof(float) * (size_t)a.ng);
    int nonzero = 0;
    for (int64_t i = 0; i < a.ng; ++i)
        nonzero += a.grads[i] != 0.0f && isfinite(a.grads[i]);
    assert_true(nonzero > a.ng / 2);
    free(a.y);
    free(a.grads);
    free(b.y);
    free(b.grads);
}

/* Every float of the fused op's buffers is written by each run: with the arena
 * filled with NaN first, tdl_graph_set_check_finite() finds nothing. */
static void finite_case(int32_t kind, int bf, int64_t H, float dropout)
{
    fx f;
    fx_open(&f);
    rcase c = {kind, 2, 1, bf, 1, kind == TDL_RNN_LSTM, 1, 1, 3, 2, 3, H};
    int64_t bd = TDL_BATCH, xs[3], xr[3], ss[3] = {4, TDL_BATCH, H}, sr[3] = {4, 2, H};
    x_shape(&c, bd, xs);
    x_shape(&c, 2, xr);
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *h0 = BUILT(f.g, tdl_input(f.g, "h0", TDL_F32, 3, ss));
    tdl_node *c0 = c.use_c0 ? BUILT(f.g, tdl_input(f.g, "c0", TDL_F32, 3, ss)) : NULL;
    tdl_node *ln = BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &bd));
    tdl_node *y =
        BUILT(f.g, tdl_rnn(f.g, x, h0, c0, ln, kind, H, 2, case_flags(&c), dropout, "rnn"));
    tdl_node *p = BUILT(f.g, tdl_masked_mean_time(f.g, y, ln, bf));
    tdl_node *loss = BUILT(f.g, tdl_mean(f.g, BUILT(f.g, tdl_mul(f.g, p, p)), 0, NULL, 0));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    float *xv = calloc(18, sizeof(float)), *hv = calloc((size_t)(8 * H), sizeof(float));
    test_fill_uniform(xv, 18, -1, 1, 81);
    test_fill_uniform(hv, 8 * H, -1, 1, 82);
    int32_t lv[2] = {3, 1};
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, xr));
    TDL_OK_OR_FAIL(tdl_feed(f.g, h0, hv, 3, sr));
    if (c0)
        TDL_OK_OR_FAIL(tdl_feed(f.g, c0, hv, 3, sr));
    TDL_OK_OR_FAIL(tdl_feed(f.g, ln, lv, 1, (int64_t[]){2}));
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
    memset(f.g->arena, 0xff, f.g->arena_bytes); /* NaN everywhere */
    TDL_OK_OR_FAIL(tdl_graph_set_check_finite(f.g, 1));
    if (tdl_forward(f.g) != TDL_OK || tdl_backward(f.g, loss) != TDL_OK)
        fail_msg("%s H=%lld: %s", kind_str(kind), (long long)H, tdl_graph_error(f.g));
    free(xv);
    free(hv);
    fx_close(&f);
}

static void test_buffers_fully_written(void **state)
{
    (void)state;
    for (int32_t kind = 0; kind < 4; ++kind) {
        finite_case(kind, 0, 4, 0.3f);
        finite_case(kind, 1, 5, 0.0f);
    }
    finite_case(TDL_RNN_LSTM, 0, 256, 0.2f); /* 4H = 1024: padded gate-gradient rows */
}

/* ---------------- embedding ---------------- */

static void test_embedding(void **state)
{
    (void)state;
    fx f;
    fx_open(&f);
    int64_t is[2] = {TDL_BATCH, 3};
    tdl_node *sym = BUILT(f.g, tdl_input(f.g, "sym", TDL_I32, 2, is));
    int64_t ss[3] = {TDL_BATCH, 3, 4};
    check_shape(BUILT(f.g, tdl_embedding(f.g, sym, 6, 4, -1, "emb_sym")), 3, ss);
    fx_close(&f);
    fx_open(&f);
    int64_t cs[2] = {2, 3};
    tdl_node *ids = BUILT(f.g, tdl_input(f.g, "ids", TDL_I32, 2, cs));
    tdl_node *e = BUILT(f.g, tdl_embedding(f.g, ids, 6, 4, 2, "emb"));
    int64_t es[3] = {2, 3, 4};
    check_shape(e, 3, es);
    tdl_node *w = tdl_graph_find(f.g, "emb.weight");
    assert_non_null(w);
    float *wd = tdl_param_data(w);
    /* N(0, 1) init, with the padding row zero */
    double s = 0, s2 = 0;
    for (int i = 0; i < 24; ++i) {
        if (i / 4 == 2)
            assert_true(wd[i] == 0.0f);
        s += wd[i];
        s2 += wd[i] * wd[i];
    }
    assert_true(s2 / 20 > 0.2 && s2 / 20 < 3.0);
    assert_true(s / 20 > -1.0 && s / 20 < 1.0); /* the mean of 20 N(0, 1) draws: sd 0.22 */
    test_fill_uniform(wd, 24, -1, 1, 61);
    tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, e, 62));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    int32_t iv[6] = {1, 5, 1, 2, 0, 1}; /* id 1 three times, padding id 2 once */
    int64_t ir[2] = {2, 3};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ids, iv, 2, ir));
    TDL_OK_OR_FAIL(tdl_run(f.g, e));
    float ev[24];
    read_node(e, ev, 24);
    TDL_OK_OR_FAIL(tdl_forward(f.g));
    for (int p = 0; p < 6; ++p)
        assert_memory_equal(ev + 4 * p, wd + 4 * iv[p], 16);
    TDL_OK_OR_FAIL(tdl_backward(f.g, loss));
    float wts[24];
    test_fill_uniform(wts, 24, -1, 1, 62); /* the weights of test_weighted_sum */
    double ref[24] = {0};
    for (int p = 0; p < 6; ++p)
        if (iv[p] != 2)
            for (int j = 0; j < 4; ++j)
                ref[4 * iv[p] + j] += wts[4 * p + j];
    check_close("embedding gradient", tdl_param_grad(w), ref, 24, 1e-6, 1e-6);
    /* finite differences agree too (the padding row is not used by the loss
     * except through its forward value, whose gradient is defined as zero,
     * so check with the padding id absent) */
    int32_t iv2[6] = {1, 5, 1, 3, 0, 1};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ids, iv2, 2, ir));
    assert_int_equal(test_gradcheck(f.g, loss, EPS, ATOL, RTOL), 0);

    /* an id out of range fails the run, naming the id and its position */
    int32_t bad[6] = {1, 2, 3, 4, 6, 0};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ids, bad, 2, ir));
    assert_int_equal(tdl_forward(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "id 6");
    check_contains(tdl_graph_error(f.g), "position 4");
    check_contains(tdl_graph_error(f.g), "[1, 1]");
    int32_t neg[6] = {-1, 2, 3, 4, 5, 0};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ids, neg, 2, ir));
    assert_int_equal(tdl_forward(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "id -1");
    fx_close(&f);

    /* builder errors */
    fx_open(&f);
    int64_t one = 3;
    tdl_node *fl = BUILT(f.g, tdl_input(f.g, "fl", TDL_F32, 1, &one));
    assert_null(tdl_embedding(f.g, fl, 5, 2, -1, "e"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_DTYPE);
    fx_close(&f);
    fx_open(&f);
    tdl_node *ii = BUILT(f.g, tdl_input(f.g, "ii", TDL_I32, 1, &one));
    assert_null(tdl_embedding(f.g, ii, 5, 2, 5, "e"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "padding_id");
    fx_close(&f);
}

/* ---------------- masked mean over time ---------------- */

static void test_masked_mean(void **state)
{
    (void)state;
    for (int bf = 0; bf < 2; ++bf)
        for (int use_len = 0; use_len < 2; ++use_len) {
            fx f;
            fx_open(&f);
            const int64_t T = 4, B = 3, F = 2;
            int64_t xs[3] = {bf ? B : T, bf ? T : B, F};
            tdl_node *x = BUILT(f.g, test_param(f.g, "x", 3, xs, -1, 1));
            tdl_node *ln = use_len ? BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &B)) : NULL;
            tdl_node *y = BUILT(f.g, tdl_masked_mean_time(f.g, x, ln, bf));
            int64_t ys[2] = {B, F};
            check_shape(y, 2, ys);
            int32_t lv[3] = {4, 1, 2};
            if (ln)
                TDL_OK_OR_FAIL(tdl_feed(f.g, ln, lv, 1, &B));
            TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
            const float *xv = tdl_param_data(x);
            double ref[6];
            for (int64_t b = 0; b < B; ++b)
                for (int64_t k = 0; k < F; ++k) {
                    int64_t L = use_len ? lv[b] : T;
                    double s = 0;
                    for (int64_t t = 0; t < L; ++t)
                        s += xv[(bf ? b * T + t : t * B + b) * F + k];
                    ref[b * F + k] = s / (double)L;
                }
            run_and_check(f.g, y, "masked_mean_time", ref, 6, 1e-6, 1e-6);
            tdl_node *loss = BUILT(f.g, test_weighted_sum(f.g, y, 71));
            assert_int_equal(test_gradcheck(f.g, loss, EPS, ATOL, RTOL), 0);
            /* second order: the gradient op is differentiable too */
            tdl_node *gx = BUILT(f.g, tdl_grad(f.g, loss, x));
            tdl_node *l2 = BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, gx, gx), 0, NULL, 0));
            assert_int_equal(test_gradcheck(f.g, l2, EPS, ATOL, RTOL), 0);
            if (use_len) {
                int32_t badl[3] = {4, 5, 1};
                TDL_OK_OR_FAIL(tdl_feed(f.g, ln, badl, 1, &B));
                assert_int_equal(tdl_forward(f.g), TDL_ERR_INVALID_ARGUMENT);
                check_contains(tdl_graph_error(f.g), "lengths[1] = 5");
            }
            fx_close(&f);
        }
}

/* ---------------- sampling ---------------- */

static void test_sampling(void **state)
{
    (void)state;
    const float logits[6] = {0.5f, 2.0f, -1.0f, 1.9f, -INFINITY, 0.0f};
    int32_t id = -1;
    /* temperature 0 and top_k = 1 are the argmax */
    TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 0.0f, 0, 1, 0, &id));
    assert_int_equal(id, 1);
    for (uint64_t k = 0; k < 50; ++k) {
        TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 1.0f, 1, 5, k, &id));
        assert_int_equal(id, 1);
        TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 1e-4f, 0, 5, k, &id));
        assert_int_equal(id, 1);
    }
    /* same seed and counter, same id; top_k = 2 only gives 1 or 3 */
    int32_t a, b;
    for (uint64_t k = 0; k < 100; ++k) {
        TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 1.3f, 0, 77, k, &a));
        TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 1.3f, 0, 77, k, &b));
        assert_int_equal(a, b);
        assert_int_not_equal(a, 4); /* -inf never */
        TDL_OK_OR_FAIL(tdl_sample_logits(logits, 6, 1.0f, 2, 77, k, &a));
        assert_true(a == 1 || a == 3);
    }
    /* frequencies follow the softmax (loose bound over 20000 draws) */
    const float z[5] = {1.0f, 0.0f, -0.5f, 2.0f, 0.3f};
    for (int pass = 0; pass < 2; ++pass) {
        float temp = pass ? 0.7f : 1.0f;
        int32_t topk = pass ? 3 : 0;
        int count[5] = {0};
        const int draws = 20000;
        for (int i = 0; i < draws; ++i) {
            TDL_OK_OR_FAIL(tdl_sample_logits(z, 5, temp, topk, 12345, (uint64_t)i, &id));
            count[id]++;
        }
        double p[5], s = 0;
        for (int i = 0; i < 5; ++i) {
            int keep = !topk || z[i] >= 0.3f; /* top 3: 2.0, 1.0, 0.3 */
            p[i] = keep ? exp(z[i] / temp) : 0.0;
            s += p[i];
        }
        for (int i = 0; i < 5; ++i) {
            double want = p[i] / s * draws;
            if (fabs(count[i] - want) > 5 * sqrt(want + 1) + 20)
                fail_msg("sampling (T=%g, top_k=%d): id %d drawn %d times, expected %.0f", temp,
                         topk, i, count[i], want);
        }
    }
    /* a large top_k uses the bisection path */
    float big[600];
    for (int i = 0; i < 600; ++i)
        big[i] = (float)((i * 37) % 600) / 100.0f;
    for (uint64_t k = 0; k < 200; ++k) {
        TDL_OK_OR_FAIL(tdl_sample_logits(big, 600, 0.5f, 300, 3, k, &id));
        assert_true(big[id] >= 3.0f);
    }
    /* bad arguments */
    assert_int_equal(tdl_sample_logits(NULL, 6, 1, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_sample_logits(logits, 0, 1, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_sample_logits(logits, 6, -1, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_sample_logits(logits, 6, NAN, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_sample_logits(logits, 6, 1, -2, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    const float nanv[2] = {0.0f, NAN};
    assert_int_equal(tdl_sample_logits(nanv, 2, 1, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "logit 1");
    const float allinf[2] = {-INFINITY, -INFINITY};
    assert_int_equal(tdl_sample_logits(allinf, 2, 1, 0, 0, 0, &id), TDL_ERR_INVALID_ARGUMENT);
}

/* ---------------- bad inputs ---------------- */

static void test_bad_inputs(void **state)
{
    (void)state;
    fx f;
    int64_t xs[3] = {4, TDL_BATCH, 3}, bd = TDL_BATCH;

    /* lengths outside 1..T fail the run, naming the node, index and value */
    fx_open(&f);
    tdl_node *x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *ln = BUILT(f.g, tdl_input(f.g, "len", TDL_I32, 1, &bd));
    BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, ln, TDL_RNN_GRU, 5, 1, 0, 0, "enc"));
    TDL_OK_OR_FAIL(tdl_graph_compile(f.g));
    float xv[4 * 2 * 3] = {0};
    int64_t xr[3] = {4, 2, 3}, two = 2;
    TDL_OK_OR_FAIL(tdl_feed(f.g, x, xv, 3, xr));
    int32_t long_len[2] = {4, 5}, zero_len[2] = {0, 4};
    TDL_OK_OR_FAIL(tdl_feed(f.g, ln, long_len, 1, &two));
    assert_int_equal(tdl_forward(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "enc");
    check_contains(tdl_graph_error(f.g), "lengths[1] = 5");
    TDL_OK_OR_FAIL(tdl_feed(f.g, ln, zero_len, 1, &two));
    assert_int_equal(tdl_forward(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "lengths[0] = 0");
    fx_close(&f);

    /* h0 of the wrong shape */
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    int64_t hs[3] = {1, TDL_BATCH, 6};
    tdl_node *h0 = BUILT(f.g, tdl_input(f.g, "h0", TDL_F32, 3, hs));
    assert_null(tdl_rnn(f.g, x, h0, NULL, NULL, TDL_RNN_LSTM, 5, 1, 0, 0, "lstm"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_SHAPE);
    check_contains(tdl_graph_error(f.g), "h0 'h0'");
    check_contains(tdl_graph_error(f.g), "expected [1, B, 5]");
    fx_close(&f);

    /* two layers need h0 [2, B, H] */
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    int64_t hs2[3] = {1, TDL_BATCH, 5};
    h0 = BUILT(f.g, tdl_input(f.g, "h0", TDL_F32, 3, hs2));
    assert_null(tdl_rnn(f.g, x, h0, NULL, NULL, TDL_RNN_TANH, 5, 2, 0, 0, "r"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_SHAPE);
    fx_close(&f);

    /* an empty (symbolic) time dimension */
    fx_open(&f);
    int64_t sym_t[3] = {TDL_BATCH, 2, 3};
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, sym_t));
    assert_null(tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "gru"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_SHAPE);
    check_contains(tdl_graph_error(f.g), "time dimension");
    fx_close(&f);

    /* x not 3-D, wrong dtype, c0 for a GRU, bad kind / layers / dropout / flags, no name */
    fx_open(&f);
    int64_t s2[2] = {4, 3};
    x = BUILT(f.g, tdl_input(f.g, "x2", TDL_F32, 2, s2));
    assert_null(tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "gru"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_SHAPE);
    fx_close(&f);
    for (int c = 0; c < 7; ++c) {
        fx_open(&f);
        x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
        int64_t cs[3] = {1, TDL_BATCH, 5};
        tdl_node *c0 = BUILT(f.g, tdl_input(f.g, "c0", TDL_F32, 3, cs));
        tdl_node *r = NULL;
        switch (c) {
        case 0: r = tdl_rnn(f.g, x, NULL, c0, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "g"); break;
        case 1: r = tdl_rnn(f.g, x, NULL, NULL, NULL, 7, 5, 1, 0, 0, "g"); break;
        case 2: r = tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 0, 0, 0, "g"); break;
        case 3: r = tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 1.0f, "g"); break;
        case 4: r = tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 8, 0, "g"); break;
        case 5: r = tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, NULL); break;
        default: r = tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 0, 1, 0, 0, "g"); break;
        }
        assert_null(r);
        assert_int_equal(tdl_graph_status(f.g), TDL_ERR_INVALID_ARGUMENT);
        /* sticky: later builders do nothing */
        assert_null(tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "h"));
        fx_close(&f);
    }
    fx_open(&f);
    int64_t is[3] = {4, 2, 3};
    tdl_node *xi = BUILT(f.g, tdl_input(f.g, "xi", TDL_I32, 3, is));
    assert_null(tdl_rnn(f.g, xi, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "g"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_DTYPE);
    fx_close(&f);
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *lf = BUILT(f.g, tdl_input(f.g, "lf", TDL_F32, 1, &bd));
    assert_null(tdl_rnn(f.g, x, NULL, NULL, lf, TDL_RNN_GRU, 5, 1, 0, 0, "g"));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_DTYPE);
    fx_close(&f);

    /* final states: not an rnn node, c of a GRU */
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *y = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "g"));
    assert_null(tdl_rnn_final_state(f.g, y, TDL_RNN_STATE_C));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "cell state");
    fx_close(&f);
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    assert_null(tdl_rnn_final_state(f.g, x, TDL_RNN_STATE_H));
    check_contains(tdl_graph_error(f.g), "not the output of tdl_rnn()");
    fx_close(&f);

    /* weight dropout: NULL graph or node, not an rnn output (or of another graph), p outside
     * [0, 1) or NaN, gradient already built */
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    y = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_GRU, 5, 1, 0, 0, "g"));
    assert_int_equal(tdl_rnn_set_weight_dropout(NULL, y, 0.1f), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "graph is NULL");
    assert_int_equal(tdl_rnn_set_weight_dropout(f.g, NULL, 0.1f), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_rnn_set_weight_dropout(f.g, x, 0.1f), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_graph_error(f.g), "not the output of tdl_rnn()");
    const float bad_p[4] = {1.0f, -0.1f, NAN, INFINITY};
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(tdl_rnn_set_weight_dropout(f.g, y, bad_p[i]), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(f.g), "not in [0, 1)");
    }
    assert_int_equal(tdl_graph_status(f.g), TDL_OK); /* not sticky: the graph is still usable */
    fx other;
    fx_open(&other);
    assert_int_equal(tdl_rnn_set_weight_dropout(other.g, y, 0.1f), TDL_ERR_INVALID_ARGUMENT);
    fx_close(&other);
    fx_close(&f);
    fx_open(&f);
    int64_t wps[3] = {2, 1, 3};
    x = BUILT(f.g, test_param(f.g, "xw", 3, wps, -1, 1));
    y = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_LSTM, 2, 1, 0, 0, "l"));
    assert_int_equal(tdl_rnn_set_weight_dropout(f.g, y, 0.2f), TDL_OK);
    BUILT(f.g, tdl_grad(f.g, BUILT(f.g, test_weighted_sum(f.g, y, 3)), x));
    assert_int_equal(tdl_rnn_set_weight_dropout(f.g, y, 0.3f), TDL_ERR_STATE);
    check_contains(tdl_graph_error(f.g), "already built");
    fx_close(&f);

    /* second derivatives through the recurrence are not supported */
    fx_open(&f);
    int64_t ps[3] = {2, 1, 3};
    x = BUILT(f.g, test_param(f.g, "xp", 3, ps, -1, 1));
    y = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_LSTM, 2, 1, 0, 0, "l"));
    tdl_node *gx = BUILT(f.g, tdl_grad(f.g, BUILT(f.g, test_weighted_sum(f.g, y, 3)), x));
    assert_null(tdl_grad(f.g, BUILT(f.g, tdl_sum(f.g, tdl_mul(f.g, gx, gx), 0, NULL, 0)), x));
    assert_int_equal(tdl_graph_status(f.g), TDL_ERR_UNSUPPORTED);
    fx_close(&f);

    /* states: bidirectional unsupported; wrong node; bad batch; wrong shape in set */
    fx_open(&f);
    x = BUILT(f.g, tdl_input(f.g, "x", TDL_F32, 3, xs));
    tdl_node *bi = BUILT(
        f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_LSTM, 5, 1, TDL_RNN_BIDIRECTIONAL, 0, "bi"));
    tdl_node *uni = BUILT(f.g, tdl_rnn(f.g, x, NULL, NULL, NULL, TDL_RNN_LSTM, 5, 2, 0, 0, "uni"));
    tdl_rnn_state *st = (tdl_rnn_state *)&st;
    assert_int_equal(tdl_rnn_state_create(f.g, bi, 1, &st), TDL_ERR_UNSUPPORTED);
    assert_null(st);
    check_contains(tdl_graph_error(f.g), "bidirectional");
    assert_int_equal(tdl_rnn_state_create(f.g, x, 1, &st), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_rnn_state_create(f.g, uni, 0, &st), TDL_ERR_INVALID_ARGUMENT);
    TDL_OK_OR_FAIL(tdl_rnn_state_create(f.g, uni, 2, &st));
    float buf[2 * 2 * 5] = {0};
    int64_t wrong[3] = {2, 3, 5}, right[3] = {2, 2, 5};
    assert_int_equal(tdl_rnn_state_set(st, TDL_RNN_STATE_H, buf, 3, wrong), TDL_ERR_SHAPE);
    check_contains(tdl_rnn_state_error(st), "[2, 2, 5]");
    check_contains(tdl_rnn_state_error(st), "got [2, 3, 5]");
    assert_int_equal(tdl_rnn_state_set(st, TDL_RNN_STATE_C, buf, 2, right), TDL_ERR_SHAPE);
    TDL_OK_OR_FAIL(tdl_rnn_state_set(st, TDL_RNN_STATE_C, buf, 3, right));
    assert_int_equal(tdl_rnn_state_set(st, 5, buf, 3, right), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_rnn_state_get(st, TDL_RNN_STATE_H, buf, 8), TDL_ERR_SHAPE);
    assert_int_equal(tdl_rnn_state_step(st, NULL, buf), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_rnn_state_step(NULL, buf, buf), TDL_ERR_INVALID_ARGUMENT);
    assert_string_equal(tdl_rnn_state_error(NULL), "");
    tdl_rnn_state_destroy(st);
    fx_close(&f);
}

/* ---------------- a small language model learns ---------------- */

/* Next-token prediction on a periodic sequence, Embedding -> LSTM -> Dense,
 * trained by plain gradient descent on the parameters: the loss must fall. */
static void test_lm_learns(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 5));
    tdl_graph *g = NULL;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    const int64_t T = 8, B = 4, V = 5;
    int64_t is[2] = {T, B};
    tdl_node *ids = BUILT(g, tdl_input(g, "ids", TDL_I32, 2, is));
    int64_t ts[1] = {T * B};
    tdl_node *tgt = BUILT(g, tdl_input(g, "tgt", TDL_I32, 1, ts));
    tdl_node *e = BUILT(g, tdl_embedding(g, ids, V, 8, -1, "emb"));
    tdl_node *h = BUILT(g, tdl_rnn(g, e, NULL, NULL, NULL, TDL_RNN_LSTM, 16, 1, 0, 0, "lstm"));
    int64_t flat[2] = {-1, 16};
    tdl_node *logits = BUILT(g, tdl_dense(g, BUILT(g, tdl_reshape(g, h, 2, flat)), V, "out"));
    tdl_node *loss = BUILT(g, tdl_cross_entropy(g, logits, tgt));
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    int32_t iv[8 * 4], tv[8 * 4];
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < B; ++b) {
            iv[t * B + b] = (int32_t)((t + b) % V);
            tv[t * B + b] = (int32_t)((t + b + 1) % V);
        }
    int64_t ir[2] = {T, B}, tr[1] = {T * B};
    TDL_OK_OR_FAIL(tdl_feed(g, ids, iv, 2, ir));
    TDL_OK_OR_FAIL(tdl_feed(g, tgt, tv, 1, tr));
    float first = 0, last = 0;
    for (int it = 0; it < 150; ++it) {
        TDL_OK_OR_FAIL(tdl_forward(g));
        TDL_OK_OR_FAIL(tdl_node_read(loss, &last, sizeof last));
        if (it == 0)
            first = last;
        TDL_OK_OR_FAIL(tdl_backward(g, loss));
        for (int64_t p = 0; p < tdl_graph_param_count(g); ++p) {
            tdl_node *param = tdl_graph_param(g, p);
            int32_t nd;
            int64_t s[TDL_MAX_DIMS];
            tdl_node_shape(param, &nd, s);
            float *v = tdl_param_data(param), *gr = tdl_param_grad(param);
            for (int64_t i = 0; i < shape_numel(nd, s); ++i)
                v[i] -= 0.5f * gr[i];
        }
    }
    if (!(last < 0.25f * first))
        fail_msg("the LM did not learn: loss %g -> %g", first, last);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_values),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_weight_dropout),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_step_api),
        cmocka_unit_test(test_step_reset_reloads),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_buffers_fully_written),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_masked_mean),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_lm_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
