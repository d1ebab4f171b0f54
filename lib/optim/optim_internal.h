/* Internal: the optimizer's structures, shared by the files of lib/optim/. */
#ifndef TDL_OPTIM_INTERNAL_H
#define TDL_OPTIM_INTERNAL_H

#include <stdint.h>

#include <tiny-dl/optim.h>

#include "core/context.h"

/* A parameter group. Group 0 (prefix NULL) holds every parameter no other
 * group claims. A group's lr / weight decay override the optimizer-wide
 * values only once set with tdl_optim_group_set(). */
typedef struct tdl_optim_group {
    char *prefix; /* NULL for group 0 */
    double lr;
    double weight_decay;
    int32_t has_lr;
    int32_t has_weight_decay;
    int32_t frozen;
} tdl_optim_group;

/* Per-parameter state, indexed like tdl_graph_param(). Buffers are allocated
 * (64-byte aligned, zeroed) on the first step that updates the parameter:
 *   SGD:     buf[0] = momentum buffer (only when momentum > 0)
 *   Adam(W): buf[0] = m, buf[1] = v
 *   RMSprop: buf[0] = square average, buf[1] = momentum buffer (momentum > 0) */
typedef struct tdl_optim_slot {
    tdl_node *param;
    int64_t n;     /* elements */
    int32_t group; /* resolved group */
    int64_t steps; /* updates applied to this parameter (Adam bias correction) */
    float *buf[2];
} tdl_optim_slot;

/* Learning-rate schedule settings (see schedule.c for the exact convention). */
typedef struct tdl_optim_sched {
    int32_t kind; /* enum tdl_schedule */
    int64_t warmup_steps;
    int64_t step_size; /* 0 = unset */
    double gamma;
    int64_t total_steps; /* 0 = unset */
    double min_lr;       /* fraction of the base rate */
} tdl_optim_sched;

struct tdl_optim {
    tdl_graph *graph;
    tdl_ctx *ctx;
    int32_t kind;

    /* Optimizer-wide hyper-parameters. */
    double lr;
    double momentum;
    int32_t nesterov;
    double beta1, beta2;
    double eps;
    double weight_decay;
    double alpha;
    double clip_norm; /* 0 = off */
    tdl_optim_sched sched;

    tdl_optim_group *groups;
    int32_t n_groups, cap_groups;
    int32_t groups_dirty; /* a group was added: slots must be re-resolved */

    tdl_optim_slot *slots;
    int64_t n_slots;

    int64_t steps;
    double last_grad_norm;
    char error[TDL_ERRMSG_MAX];
};

/* Short name of an optimizer kind ("SGD", "Adam", ...). */
const char *tdl_optim_kind_name(int32_t kind);

/* Schedule factor (multiplies a base rate) for the step that follows `t` steps. */
double tdl_optim_sched_factor(const tdl_optim_sched *s, int64_t t);

/* 0 when the schedule is fully configured; otherwise records why (naming `fn`)
 * and returns TDL_ERR_INVALID_ARGUMENT. */
tdl_status tdl_optim_sched_check(tdl_optim *opt, const char *fn);

/* Element count of a parameter from its shape; -1 if the shape is unusable. */
int64_t tdl_optim_param_elements(const tdl_node *param);

/* Sum of squares, in double, of n floats (fixed order: deterministic). */
double tdl_optim_sumsq(int64_t n, const float *x);

/* x *= s for n floats. */
void tdl_optim_scale(int64_t n, float *x, float s);

/* torch.nn.utils.clip_grad_norm_'s coefficient: max_norm / (norm + 1e-6),
 * or 1 when that is not below 1. */
double tdl_optim_clip_coef(double norm, double max_norm);

/* The per-algorithm updates of one parameter (n elements) with the given
 * effective learning rate and weight decay. */
void tdl_optim_update_sgd(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                          double lr, double wd);
void tdl_optim_update_adam(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                           double lr, double wd);
void tdl_optim_update_rmsprop(const tdl_optim *opt, tdl_optim_slot *slot, float *p, const float *g,
                              double lr, double wd);

/* Number of state buffers the parameter needs under the current settings. */
int tdl_optim_buffers_needed(const tdl_optim *opt);

#endif
