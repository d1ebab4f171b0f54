/* Learning-rate schedules.
 *
 * Exact convention. Let t be the number of steps already taken (0 for the
 * first step), W = TDL_OPT_WARMUP_STEPS and base a group's base rate. The step
 * that follows t steps uses base * f(t), where
 *
 *   t <  W:  f(t) = (t + 1) / W                       (linear warm-up: 1/W, 2/W, ..., 1)
 *   t >= W:  u = t - W (steps since the warm-up ended) and
 *     TDL_SCHED_CONSTANT: f = 1
 *     TDL_SCHED_STEP:     f = gamma ^ floor(u / step_size)
 *     TDL_SCHED_COSINE:   f = m + (1 - m) * (1 + cos(pi * u / T)) / 2   for u < T,
 *                         f = m                                       for u >= T,
 *                         with T = total_steps, m = TDL_OPT_MIN_LR (a fraction of base).
 *
 * So the last warm-up step and the first step after it both use the full base
 * rate; cosine reaches m * base exactly at u = total_steps and stays there
 * (PyTorch's CosineAnnealingLR with T_max = total_steps and eta_min = m * base,
 * without its rise again after T_max); step matches StepLR. tdl_optim_lr() is
 * base(group 0) * f(steps taken so far). Every group uses the same f. */
#include <math.h>

#include "optim/optim_internal.h"

#define TDL_PI 3.14159265358979323846

double tdl_optim_sched_factor(const tdl_optim_sched *s, int64_t t)
{
    if (t < s->warmup_steps)
        return (double)(t + 1) / (double)s->warmup_steps;
    int64_t u = t - s->warmup_steps;
    switch (s->kind) {
    case TDL_SCHED_STEP:
        /* Unset step_size: the step is refused (tdl_optim_sched_check), report the base. */
        if (s->step_size < 1)
            return 1.0;
        return pow(s->gamma, (double)(u / s->step_size));
    case TDL_SCHED_COSINE:
        if (s->total_steps < 1)
            return 1.0;
        if (u >= s->total_steps)
            return s->min_lr;
        return s->min_lr +
               (1.0 - s->min_lr) * 0.5 * (1.0 + cos(TDL_PI * (double)u / (double)s->total_steps));
    default: return 1.0;
    }
}

tdl_status tdl_optim_sched_check(tdl_optim *opt, const char *fn)
{
    if (opt->sched.kind == TDL_SCHED_STEP && opt->sched.step_size < 1)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: TDL_SCHED_STEP needs TDL_OPT_STEP_SIZE (>= 1) to be set", fn);
    if (opt->sched.kind == TDL_SCHED_COSINE && opt->sched.total_steps < 1)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: TDL_SCHED_COSINE needs TDL_OPT_TOTAL_STEPS (>= 1) to be set", fn);
    return TDL_OK;
}
