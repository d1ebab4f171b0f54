/* The per-row gate arithmetic of the recurrent cells, shared by the fused
 * sequence op (rnn.c) and the step API (nn/rnn_layer_step.c), so that both
 * round identically. */
#include <string.h>

#include "kernels/kernels.h"
#include "ops/rnn_internal.h"

void tdl_rnn_cfg_to_attrs(const tdl_rnn_cfg *c, tdl_attrs *a)
{
    memset(a, 0, sizeof *a);
    a->i[0] = c->kind;
    a->i[1] = c->layers;
    a->i[2] = c->dirs;
    a->i[3] = c->gates;
    a->i[4] = c->batch_first | (c->has_h0 << 1) | (c->has_c0 << 2) | (c->has_len << 3);
    a->i[5] = c->hidden;
    a->i[6] = c->input;
    a->i[7] = c->steps;
    a->f[0] = c->dropout;
    a->f[1] = c->wdrop;
}

void tdl_rnn_cfg_from_attrs(const tdl_attrs *a, tdl_rnn_cfg *c)
{
    c->kind = (int32_t)a->i[0];
    c->layers = (int32_t)a->i[1];
    c->dirs = (int32_t)a->i[2];
    c->gates = (int32_t)a->i[3];
    c->batch_first = (int32_t)(a->i[4] & 1);
    c->has_h0 = (int32_t)((a->i[4] >> 1) & 1);
    c->has_c0 = (int32_t)((a->i[4] >> 2) & 1);
    c->has_len = (int32_t)((a->i[4] >> 3) & 1);
    c->hidden = a->i[5];
    c->input = a->i[6];
    c->steps = a->i[7];
    c->dropout = a->f[0];
    c->wdrop = a->f[1];
}

void tdl_rnn_cell_row(const tdl_rnn_cfg *c, float *g, const float *hn, const float *h_prev,
                      float *c_io, float *tanhc, float *h_out)
{
    int64_t H = c->hidden;
    switch (c->kind) {
    case 2: { /* LSTM: i f g o */
        tdlk_vsigmoid(2 * H, g, g);
        tdlk_vtanh(H, g + 2 * H, g + 2 * H);
        tdlk_vsigmoid(H, g + 3 * H, g + 3 * H);
        const float *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
        for (int64_t j = 0; j < H; ++j)
            c_io[j] = gf[j] * c_io[j] + gi[j] * gg[j];
        tdlk_vtanh(H, c_io, tanhc);
        for (int64_t j = 0; j < H; ++j)
            h_out[j] = go[j] * tanhc[j];
        break;
    }
    case 3: { /* GRU: r z n */
        tdlk_vsigmoid(2 * H, g, g);
        const float *r = g, *z = g + H;
        float *nn = g + 2 * H;
        for (int64_t j = 0; j < H; ++j)
            nn[j] = nn[j] + r[j] * hn[j];
        tdlk_vtanh(H, nn, nn);
        for (int64_t j = 0; j < H; ++j)
            h_out[j] = (1.0f - z[j]) * nn[j] + z[j] * h_prev[j];
        break;
    }
    case 1: /* relu */
        for (int64_t j = 0; j < H; ++j) {
            g[j] = g[j] > 0.0f ? g[j] : 0.0f;
            h_out[j] = g[j];
        }
        break;
    default: /* tanh */
        tdlk_vtanh(H, g, g);
        memcpy(h_out, g, sizeof(float) * (size_t)H);
        break;
    }
}
