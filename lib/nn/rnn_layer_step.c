/* The step API of recurrent layers: one step at a time with a state handle,
 * for streaming inference and generation.
 *
 * The weights are copied transposed ([in, G*H]) when the state is created or
 * reset, so that a step with a few sequences is a chain of vector axpys over
 * contiguous rows (no packing per step), and with more sequences a GEMM. Both
 * accumulate each output in input order with one fused multiply-add per term,
 * like the fused sequence op's GEMMs, and the gate arithmetic is the same code
 * (ops/rnn_cell.c), so steps reproduce the sequence op. */
#include <stdio.h>
#include <string.h>

#include <tiny-dl/rnn.h>

#include "graph/graph.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/rnn_internal.h"

/* Up to this many sequences a step uses axpys, above it GEMMs. */
#define STEP_AXPY_MAX_BATCH 4

struct tdl_rnn_state {
    tdl_graph *g;
    tdl_ctx *ctx;
    tdl_node *core;
    tdl_rnn_cfg cfg;
    int64_t batch;
    float *mem;    /* one aligned block for everything below */
    float **wih_t; /* per layer [in_l, GH] */
    float **whh_t; /* per layer [H, GH] */
    float **bih, **bhh;
    float *h, *c;   /* [L, B, H] */
    float *xp, *gh; /* [B, GH] */
    float *hn, *tc; /* [B, H] */
    char error[TDL_ERRMSG_MAX];
};

static void load_weights(tdl_rnn_state *s)
{
    const tdl_rnn_cfg *c = &s->cfg;
    int64_t GH = tdl_rnn_gh(c);
    for (int32_t l = 0; l < c->layers; ++l) {
        int64_t K = tdl_rnn_in(c, l), H = c->hidden;
        /* core inputs: W, x, params... */
        const float *wih = tdl_f32(s->core->inputs[1 + tdl_rnn_param_index(l, 0)]);
        const float *whh = tdl_f32(s->core->inputs[1 + tdl_rnn_param_index(l, 1)]);
        const float *bih = tdl_f32(s->core->inputs[1 + tdl_rnn_param_index(l, 2)]);
        const float *bhh = tdl_f32(s->core->inputs[1 + tdl_rnn_param_index(l, 3)]);
        for (int64_t j = 0; j < GH; ++j)
            for (int64_t k = 0; k < K; ++k)
                s->wih_t[l][k * GH + j] = wih[j * K + k];
        for (int64_t j = 0; j < GH; ++j)
            for (int64_t k = 0; k < H; ++k)
                s->whh_t[l][k * GH + j] = whh[j * H + k];
        memcpy(s->bih[l], bih, sizeof(float) * (size_t)GH);
        memcpy(s->bhh[l], bhh, sizeof(float) * (size_t)GH);
    }
}

static void clear_state(tdl_rnn_state *s)
{
    size_t n = (size_t)(s->cfg.layers * s->batch * s->cfg.hidden);
    memset(s->h, 0, sizeof(float) * n);
    memset(s->c, 0, sizeof(float) * n);
}

TDL_API tdl_status tdl_rnn_state_create(tdl_graph *g, tdl_node *rnn_out, int64_t batch,
                                        tdl_rnn_state **out)
{
    if (out)
        *out = NULL;
    if (!g || !out)
        return tdl_fail(g ? g->ctx : NULL, g ? g->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_rnn_state_create: graph and out must be non-NULL");
    tdl_rnn_cfg cfg;
    tdl_node *core = NULL;
    if (!rnn_out || rnn_out->graph != g || tdl_rnn_inspect(rnn_out, &cfg, &core) != 0)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_rnn_state_create: node '%s' is not a tdl_rnn() output of this "
                              "graph",
                              rnn_out ? rnn_out->name : "(NULL)");
    if (cfg.dirs != 1)
        return tdl_graph_fail(g, TDL_ERR_UNSUPPORTED,
                              "tdl_rnn_state_create '%s': a bidirectional layer cannot run step "
                              "by step (the reverse direction needs the whole sequence)",
                              rnn_out->name);
    if (batch < 1 || batch > ((int64_t)1 << 30))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "tdl_rnn_state_create '%s': batch %lld must be >= 1", rnn_out->name,
                              (long long)batch);
    tdl_ctx *ctx = g->ctx;
    int64_t L = cfg.layers, H = cfg.hidden, GH = tdl_rnn_gh(&cfg), B = batch;
    /* floats, each part rounded up to 16 (64 bytes) */
#define R16(v) (((v) + 15) / 16 * 16)
    int64_t floats = 0;
    for (int32_t l = 0; l < L; ++l)
        floats += R16(tdl_rnn_in(&cfg, l) * GH) + R16(H * GH) + 2 * R16(GH);
    floats += 2 * R16(L * B * H) + 2 * R16(B * GH) + 2 * R16(B * H);
    tdl_rnn_state *s = tdl_calloc(ctx, 1, sizeof *s);
    float **ptrs = s ? tdl_calloc(ctx, (size_t)(4 * L), sizeof(float *)) : NULL;
    float *mem = ptrs ? tdl_alloc_aligned(ctx, sizeof(float) * (size_t)floats) : NULL;
    if (!mem) {
        if (s)
            tdl_free(ctx, ptrs);
        tdl_free(ctx, s);
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY,
                              "tdl_rnn_state_create '%s': out of memory (%lld bytes)",
                              rnn_out->name, (long long)(floats * 4));
    }
    s->g = g;
    s->ctx = ctx;
    s->core = core;
    s->cfg = cfg;
    s->batch = B;
    s->mem = mem;
    s->wih_t = ptrs;
    s->whh_t = ptrs + L;
    s->bih = ptrs + 2 * L;
    s->bhh = ptrs + 3 * L;
    float *p = mem;
    for (int32_t l = 0; l < L; ++l) {
        s->wih_t[l] = p;
        p += R16(tdl_rnn_in(&cfg, l) * GH);
        s->whh_t[l] = p;
        p += R16(H * GH);
        s->bih[l] = p;
        p += R16(GH);
        s->bhh[l] = p;
        p += R16(GH);
    }
    s->h = p;
    p += R16(L * B * H);
    s->c = p;
    p += R16(L * B * H);
    s->xp = p;
    p += R16(B * GH);
    s->gh = p;
    p += R16(B * GH);
    s->hn = p;
    p += R16(B * H);
    s->tc = p;
#undef R16
    memset(mem, 0, sizeof(float) * (size_t)floats);
    load_weights(s);
    *out = s;
    return TDL_OK;
}

/* out[b] = in[b] W (W = wt, [K, GH]), each element a chain of FMAs in k order. */
static void project(tdl_rnn_state *s, const float *in, int64_t K, const float *wt, float *out)
{
    int64_t B = s->batch, GH = tdl_rnn_gh(&s->cfg);
    if (B <= STEP_AXPY_MAX_BATCH) {
        memset(out, 0, sizeof(float) * (size_t)(B * GH));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t k = 0; k < K; ++k)
                tdlk_vaxpy(GH, in[b * K + k], wt + k * GH, out + b * GH);
        return;
    }
    tdlk_env env;
    tdl_ctx_kernel_env(s->ctx, &env);
    if (tdlk_sgemm(&env, 0, 0, B, GH, K, 1.0f, in, K, wt, GH, 0.0f, out, GH) != 0) {
        /* no scratch memory: the same sums without the GEMM */
        memset(out, 0, sizeof(float) * (size_t)(B * GH));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t k = 0; k < K; ++k)
                tdlk_vaxpy(GH, in[b * K + k], wt + k * GH, out + b * GH);
    }
}

TDL_API tdl_status tdl_rnn_state_step(tdl_rnn_state *s, const float *x_t, float *y_t)
{
    if (!s || !x_t)
        return tdl_fail(s ? s->ctx : NULL, s ? s->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_rnn_state_step: state and x_t must be non-NULL");
    const tdl_rnn_cfg *c = &s->cfg;
    int64_t B = s->batch, H = c->hidden, GH = tdl_rnn_gh(c);
    int lstm = tdl_rnn_is_lstm(c), gru = tdl_rnn_is_gru(c);
    int64_t jn = gru ? 2 * H : GH;
    const float *in = x_t;
    for (int32_t l = 0; l < c->layers; ++l) {
        float *h = s->h + (int64_t)l * B * H, *cs = s->c + (int64_t)l * B * H;
        const float *bih = s->bih[l], *bhh = s->bhh[l];
        project(s, in, tdl_rnn_in(c, l), s->wih_t[l], s->xp);
        project(s, h, H, s->whh_t[l], s->gh);
        for (int64_t b = 0; b < B; ++b) {
            float *g = s->xp + b * GH;
            const float *gh = s->gh + b * GH;
            for (int64_t j = 0; j < jn; ++j)
                g[j] = tdl_rnn_pre(g[j], bih[j], bhh[j], gh[j]);
            for (int64_t j = jn; j < GH; ++j) {
                g[j] = tdl_rnn_pre_n(g[j], bih[j]);
                s->hn[b * H + (j - 2 * H)] = tdl_rnn_gru_hn(gh[j], bhh[j]);
            }
            tdl_rnn_cell_row(c, g, gru ? s->hn + b * H : NULL, h + b * H, lstm ? cs + b * H : NULL,
                             lstm ? s->tc + b * H : NULL, h + b * H);
        }
        in = h;
    }
    if (y_t)
        memcpy(y_t, in, sizeof(float) * (size_t)(B * H));
    return TDL_OK;
}

TDL_API tdl_status tdl_rnn_state_reset(tdl_rnn_state *s)
{
    if (!s)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_rnn_state_reset: state is NULL");
    clear_state(s);
    load_weights(s);
    return TDL_OK;
}

static tdl_status check_which(tdl_rnn_state *s, int32_t which, const char *fn)
{
    if (which != TDL_RNN_STATE_H && which != TDL_RNN_STATE_C)
        return tdl_fail(s->ctx, s->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: which %d is not TDL_RNN_STATE_H or TDL_RNN_STATE_C", fn, (int)which);
    if (which == TDL_RNN_STATE_C && !tdl_rnn_is_lstm(&s->cfg))
        return tdl_fail(s->ctx, s->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: only an LSTM has a cell state", fn);
    return TDL_OK;
}

TDL_API tdl_status tdl_rnn_state_set(tdl_rnn_state *s, int32_t which, const float *src,
                                     int32_t ndim, const int64_t *shape)
{
    if (!s || !src || (ndim > 0 && !shape))
        return tdl_fail(s ? s->ctx : NULL, s ? s->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_rnn_state_set: state, src and shape must be non-NULL");
    tdl_status st = check_which(s, which, "tdl_rnn_state_set");
    if (st != TDL_OK)
        return st;
    int64_t want[3] = {s->cfg.layers, s->batch, s->cfg.hidden};
    int ok = ndim == 3;
    for (int32_t i = 0; ok && i < 3; ++i)
        ok = shape[i] == want[i];
    if (!ok) {
        char got[128] = "[", *p = got + 1;
        for (int32_t i = 0; i < ndim && i < TDL_MAX_DIMS && p < got + sizeof got - 24; ++i)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", i ? ", " : "",
                          (long long)shape[i]);
        snprintf(p, (size_t)(got + sizeof got - p), "]");
        return tdl_fail(s->ctx, s->error, TDL_ERR_SHAPE,
                        "tdl_rnn_state_set: the %s state of '%s' is [%lld, %lld, %lld] "
                        "([layers, batch, H]), got %s",
                        which ? "cell" : "hidden", s->core->name, (long long)want[0],
                        (long long)want[1], (long long)want[2], got);
    }
    memcpy(which ? s->c : s->h, src, sizeof(float) * (size_t)(want[0] * want[1] * want[2]));
    return TDL_OK;
}

TDL_API tdl_status tdl_rnn_state_get(const tdl_rnn_state *s, int32_t which, float *dst,
                                     size_t dst_bytes)
{
    if (!s || !dst)
        return tdl_fail(s ? s->ctx : NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_rnn_state_get: state and dst must be non-NULL");
    tdl_rnn_state *m = (tdl_rnn_state *)s; /* error buffer only */
    tdl_status st = check_which(m, which, "tdl_rnn_state_get");
    if (st != TDL_OK)
        return st;
    size_t bytes = sizeof(float) * (size_t)(s->cfg.layers * s->batch * s->cfg.hidden);
    if (dst_bytes < bytes)
        return tdl_fail(s->ctx, m->error, TDL_ERR_SHAPE,
                        "tdl_rnn_state_get: the state holds %zu bytes, dst has %zu", bytes,
                        dst_bytes);
    memcpy(dst, which ? s->c : s->h, bytes);
    return TDL_OK;
}

TDL_API const char *tdl_rnn_state_error(const tdl_rnn_state *s)
{
    return s ? s->error : "";
}

TDL_API void tdl_rnn_state_destroy(tdl_rnn_state *s)
{
    if (!s)
        return;
    tdl_ctx *ctx = s->ctx;
    tdl_free_aligned(ctx, s->mem);
    tdl_free(ctx, s->wih_t);
    tdl_free(ctx, s);
}
