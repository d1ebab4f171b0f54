/* Per-algorithm updates of one parameter, with PyTorch's formulas (torch.optim.*).
 * Arithmetic is float, like PyTorch's float32 path; lr and wd arrive in double
 * (schedule and group already applied) and are rounded once. */
#include <math.h>

#include "core/context.h"
#include "kernels/kernels.h"
#include "optim/optim_internal.h"

/* Elements per chunk when an update is split over the context's threads: a
 * pass over a few hundred KiB of weights and moments. */
#define TDL_OPTIM_GRAIN 16384

int tdl_optim_buffers_needed(const tdl_optim *opt)
{
    switch (opt->kind) {
    case TDL_OPTIM_SGD: return opt->momentum > 0.0 ? 1 : 0;
    case TDL_OPTIM_ADAM:
    case TDL_OPTIM_ADAMW: return 2;
    case TDL_OPTIM_RMSPROP: return opt->momentum > 0.0 ? 2 : 1;
    default: return 0;
    }
}

/* torch.optim.SGD with dampening 0:
 *   d = g + wd*p;  buf = d (first step) or momentum*buf + d;
 *   d = d + momentum*buf (Nesterov) or buf;  p -= lr*d */
void tdl_optim_update_sgd(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                          double lr, double wd)
{
    const int64_t n = slot->n;
    const float flr = (float)lr, fwd = (float)wd, mom = (float)opt->momentum;
    if (opt->momentum == 0.0) {
        if (wd != 0.0) {
            for (int64_t i = 0; i < n; i++)
                p[i] -= flr * (g[i] + fwd * p[i]);
        } else {
            for (int64_t i = 0; i < n; i++)
                p[i] -= flr * g[i];
        }
        slot->steps++;
        return;
    }
    /* The buffer starts zeroed, so its first value is mom*0 + d = d exactly,
     * as PyTorch's clone of the first gradient. */
    float *buf = slot->buf[0];
    const int nesterov = opt->nesterov;
    for (int64_t i = 0; i < n; i++) {
        float d = wd != 0.0 ? g[i] + fwd * p[i] : g[i];
        float b = mom * buf[i] + d;
        buf[i] = b;
        p[i] -= flr * (nesterov ? d + mom * b : b);
    }
    slot->steps++;
}

/* Adam (L2 decay added to the gradient) and AdamW (decoupled decay), through
 * the kernel; the bias corrections use this parameter's own step count, as
 * PyTorch keeps `step` per parameter. */
typedef struct adam_job {
    float *p, *m, *v;
    const float *g;
    float lr, beta1, beta2, eps, wd, bc1, bc2;
    int decoupled;
} adam_job;

/* Elements [i0, i1): each element's update reads only its own state, so the
 * split over threads does not change a bit. */
static void adam_range(void *arg, int64_t i0, int64_t i1)
{
    const adam_job *j = arg;
    tdlk_adam_update(i1 - i0, j->p + i0, j->g + i0, j->m + i0, j->v + i0, j->lr, j->beta1, j->beta2,
                     j->eps, j->wd, j->decoupled, j->bc1, j->bc2);
}

void tdl_optim_update_adam(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                           double lr, double wd)
{
    const double t = (double)(slot->steps + 1);
    const double bc1 = 1.0 - pow(opt->beta1, t);
    const double bc2 = 1.0 - pow(opt->beta2, t);
    adam_job j = {p,         slot->buf[0],      slot->buf[1],      g,
                  (float)lr, (float)opt->beta1, (float)opt->beta2, (float)opt->eps,
                  (float)wd, (float)bc1,        (float)bc2,        opt->kind == TDL_OPTIM_ADAMW};
    tdl_parallel_for(opt->ctx->pool, slot->n, TDL_OPTIM_GRAIN, adam_range, &j);
    slot->steps++;
}

/* torch.optim.RMSprop, not centred:
 *   g' = g + wd*p;  sq = alpha*sq + (1-alpha)*g'^2;  avg = sqrt(sq) + eps;
 *   momentum > 0: buf = momentum*buf + g'/avg, p -= lr*buf;  else p -= lr*g'/avg */
void tdl_optim_update_rmsprop(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                              double lr, double wd)
{
    const int64_t n = slot->n;
    const float flr = (float)lr, fwd = (float)wd, mom = (float)opt->momentum;
    const float alpha = (float)opt->alpha, eps = (float)opt->eps;
    float *sq = slot->buf[0];
    float *buf = slot->buf[1];
    const int use_momentum = opt->momentum > 0.0;
    for (int64_t i = 0; i < n; i++) {
        float gi = wd != 0.0 ? g[i] + fwd * p[i] : g[i];
        float s = alpha * sq[i] + (1.0f - alpha) * gi * gi;
        sq[i] = s;
        float step = gi / (sqrtf(s) + eps);
        if (use_momentum) {
            step = mom * buf[i] + step;
            buf[i] = step;
        }
        p[i] -= flr * step;
    }
    slot->steps++;
}
