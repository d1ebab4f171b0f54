/* Recurrent layers: argument checks, PyTorch-named parameters, then the fused
 * op of ops/rnn.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tiny-dl/ops.h>
#include <tiny-dl/rnn.h>

#include "graph/graph.h"
#include "ops/op.h"
#include "ops/rnn_internal.h"

#define RNN_MAX_LAYERS 64

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case TDL_RNN_TANH: return "rnn_tanh";
    case TDL_RNN_RELU: return "rnn_relu";
    case TDL_RNN_LSTM: return "lstm";
    case TDL_RNN_GRU: return "gru";
    default: return "rnn";
    }
}

/* Checks an optional state node against [LD, B, H]. */
static int check_state(tdl_graph *g, const char *name, const char *what, const tdl_node *s,
                       const tdl_shape *want)
{
    if (s->dtype != TDL_F32) {
        tdl_graph_sticky(g, TDL_ERR_DTYPE, "rnn '%s': %s '%s' is %s, not f32", name, what, s->name,
                         tdl_dtype_name(s->dtype));
        return -1;
    }
    if (!tdl_shape_equal(&s->shape, want)) {
        char a[96], b[96];
        tdl_shape_str(&s->shape, a, sizeof a);
        tdl_shape_str(want, b, sizeof b);
        tdl_graph_sticky(g, TDL_ERR_SHAPE,
                         "rnn '%s': %s '%s' has shape %s, expected %s ([layers * dirs, B, H])",
                         name, what, s->name, a, b);
        return -1;
    }
    return 0;
}

TDL_API tdl_node *tdl_rnn(tdl_graph *g, tdl_node *x, tdl_node *h0, tdl_node *c0, tdl_node *lengths,
                          int32_t kind, int64_t hidden, int32_t layers, uint32_t flags,
                          float dropout, const char *name)
{
    tdl_node *all[4] = {x, h0, c0, lengths};
    tdl_node *given[4];
    int32_t ng = 0;
    for (int i = 0; i < 4; ++i)
        if (i == 0 || all[i])
            given[ng++] = all[i];
    if (tdl_builder_check(g, "rnn", ng, given))
        return NULL;
    if (!name || !*name)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "rnn: a name is required (it prefixes the parameter names)");
    if (strlen(name) > 200)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "rnn: name is too long");
    if (kind < TDL_RNN_TANH || kind > TDL_RNN_GRU)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "rnn '%s': kind %d is not one of TDL_RNN_TANH, TDL_RNN_RELU, "
                                "TDL_RNN_LSTM, TDL_RNN_GRU",
                                name, (int)kind);
    const char *kn = kind_name(kind);
    if (hidden < 1 || hidden > (1 << 24))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s '%s': hidden size %lld is invalid",
                                kn, name, (long long)hidden);
    if (layers < 1 || layers > RNN_MAX_LAYERS)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s '%s': layers %d is outside 1..%d",
                                kn, name, (int)layers, RNN_MAX_LAYERS);
    if (flags & ~(uint32_t)(TDL_RNN_BATCH_FIRST | TDL_RNN_BIDIRECTIONAL))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT, "%s '%s': unknown flags 0x%x", kn,
                                name, (unsigned)flags);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "%s '%s': dropout %g is outside [0, 1)", kn, name, (double)dropout);
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s '%s': input '%s' is %s, not f32", kn, name,
                                x->name, tdl_dtype_name(x->dtype));
    int bf = (flags & TDL_RNN_BATCH_FIRST) != 0;
    char xs[96];
    tdl_shape_str(&x->shape, xs, sizeof xs);
    if (x->shape.ndim != 3)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE, "%s '%s': input '%s' %s must be 3-D (%s)", kn,
                                name, x->name, xs, bf ? "[B, T, F]" : "[T, B, F]");
    int64_t T = x->shape.d[bf ? 1 : 0], bdim = x->shape.d[bf ? 0 : 1], F = x->shape.d[2];
    if (T < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "%s '%s': input '%s' %s: the time dimension (%s) must be "
                                "concrete and >= 1 (empty or symbolic sequence)",
                                kn, name, x->name, xs, bf ? "dim 1" : "dim 0");
    if (F < 1)
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "%s '%s': input '%s' %s: the feature dimension must be concrete",
                                kn, name, x->name, xs);
    if (c0 && kind != TDL_RNN_LSTM)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "%s '%s': c0 is given but only an LSTM has a cell state", kn, name);
    tdl_rnn_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = kind;
    cfg.layers = layers;
    cfg.dirs = (flags & TDL_RNN_BIDIRECTIONAL) ? 2 : 1;
    cfg.gates = kind == TDL_RNN_LSTM ? 4 : kind == TDL_RNN_GRU ? 3 : 1;
    cfg.batch_first = bf;
    cfg.has_h0 = h0 != NULL;
    cfg.has_c0 = c0 != NULL;
    cfg.has_len = lengths != NULL;
    cfg.hidden = hidden;
    cfg.input = F;
    cfg.steps = T;
    cfg.dropout = dropout;
    int64_t sd[3] = {tdl_rnn_ld(&cfg), bdim, hidden};
    tdl_shape want;
    tdl_shape_make(&want, 3, sd);
    if (h0 && check_state(g, name, "h0", h0, &want))
        return NULL;
    if (c0 && check_state(g, name, "c0", c0, &want))
        return NULL;
    if (lengths) {
        if (lengths->dtype != TDL_I32)
            return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s '%s': lengths '%s' is %s, not i32", kn,
                                    name, lengths->name, tdl_dtype_name(lengths->dtype));
        if (lengths->shape.ndim != 1 || lengths->shape.d[0] != bdim) {
            char ls[96];
            tdl_shape_str(&lengths->shape, ls, sizeof ls);
            return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                    "%s '%s': lengths '%s' has shape %s, expected [B] for input "
                                    "'%s' %s",
                                    kn, name, lengths->name, ls, x->name, xs);
        }
    }
    /* parameters, in PyTorch's order and layout */
    int64_t GH = tdl_rnn_gh(&cfg);
    tdl_node *params[4 * 2 * RNN_MAX_LAYERS];
    float k = 1.0f / sqrtf((float)hidden);
    for (int32_t l = 0; l < layers; ++l)
        for (int32_t d = 0; d < cfg.dirs; ++d) {
            int64_t ld = (int64_t)l * cfg.dirs + d;
            const char *sfx = d ? "_reverse" : "";
            char pn[256];
            int64_t wi[2] = {GH, tdl_rnn_in(&cfg, l)}, wh[2] = {GH, hidden};
            snprintf(pn, sizeof pn, "%s.weight_ih_l%d%s", name, (int)l, sfx);
            params[4 * ld + 0] = tdl_param(g, pn, 2, wi, TDL_INIT_UNIFORM, -k, k);
            snprintf(pn, sizeof pn, "%s.weight_hh_l%d%s", name, (int)l, sfx);
            params[4 * ld + 1] = tdl_param(g, pn, 2, wh, TDL_INIT_UNIFORM, -k, k);
            snprintf(pn, sizeof pn, "%s.bias_ih_l%d%s", name, (int)l, sfx);
            params[4 * ld + 2] = tdl_param(g, pn, 1, &GH, TDL_INIT_UNIFORM, -k, k);
            snprintf(pn, sizeof pn, "%s.bias_hh_l%d%s", name, (int)l, sfx);
            params[4 * ld + 3] = tdl_param(g, pn, 1, &GH, TDL_INIT_UNIFORM, -k, k);
            for (int i = 0; i < 4; ++i)
                if (!params[4 * ld + i])
                    return NULL;
        }
    return tdl_rnn_build(g, &cfg, x, params, h0, c0, lengths, name);
}

TDL_API tdl_node *tdl_rnn_final_state(tdl_graph *g, tdl_node *rnn_out, int32_t which)
{
    if (tdl_builder_check(g, "rnn_final_state", 1, &rnn_out))
        return NULL;
    tdl_rnn_cfg cfg;
    tdl_node *core = NULL;
    if (tdl_rnn_inspect(rnn_out, &cfg, &core) != 0)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "rnn_final_state: node '%s' (op %s) is not the output of tdl_rnn()",
                                rnn_out->name, rnn_out->op->name);
    if (which != TDL_RNN_STATE_H && which != TDL_RNN_STATE_C)
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "rnn_final_state '%s': which %d is not TDL_RNN_STATE_H or "
                                "TDL_RNN_STATE_C",
                                rnn_out->name, (int)which);
    if (which == TDL_RNN_STATE_C && !tdl_rnn_is_lstm(&cfg))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "rnn_final_state '%s': only an LSTM has a cell state (c)",
                                rnn_out->name);
    return tdl_rnn_state_view(g, core, which);
}

TDL_API tdl_status tdl_rnn_set_weight_dropout(tdl_graph *g, tdl_node *rnn_out, float p)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "rnn_set_weight_dropout: graph is NULL");
    tdl_node *core = NULL;
    if (!rnn_out || rnn_out->graph != g || tdl_rnn_inspect(rnn_out, NULL, &core) != 0)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "rnn_set_weight_dropout: %s%s%s is not the output of tdl_rnn() in "
                              "this graph",
                              rnn_out ? "node '" : "NULL", rnn_out ? rnn_out->name : "",
                              rnn_out ? "'" : "");
    if (!(p >= 0.0f && p < 1.0f))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT,
                              "rnn_set_weight_dropout '%s': p = %g is not in [0, 1)", rnn_out->name,
                              (double)p);
    tdl_node *w = core->inputs[0];
    if (tdl_rnn_has_backward(g, w))
        return tdl_graph_fail(g, TDL_ERR_STATE,
                              "rnn_set_weight_dropout '%s': its gradient is already built; set "
                              "weight dropout before the first tdl_backward() or tdl_grad()",
                              rnn_out->name);
    /* every node that carries the layer's configuration: W, the core, the output,
     * the final-state views */
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tdl_node *n = g->nodes[i];
        if (n == w || n == core || (n->n_inputs >= 1 && n->inputs[0] == core))
            n->attrs.f[1] = p;
    }
    return TDL_OK;
}
