/**
 * @file optim.h
 * @brief Optimizers (SGD, Adam, AdamW, RMSprop) over parameter groups, with
 *        weight decay, gradient clipping and learning-rate schedules.
 *
 * An optimizer updates the trainable parameters of one graph from the
 * gradients of the last tdl_backward(). The formulas are PyTorch's
 * (torch.optim.*), so hyper-parameters carry over. Parameters are split into
 * groups by name prefix (group 0 holds everything no other group claims);
 * each group has its own learning rate, weight decay and can be frozen.
 * Group membership is resolved at each step, so parameters added later are included.
 *
 * **Learning-rate schedule.** With t the number of steps already taken (0 for
 * the first step) and W = TDL_OPT_WARMUP_STEPS, a step uses base * f(t):
 * during warm-up (t < W) f = (t + 1) / W; afterwards, with u = t - W,
 * constant: f = 1; step: f = gamma^floor(u / step_size); cosine:
 * f = m + (1 - m)(1 + cos(pi u / T)) / 2 for u < T and m after, where
 * T = TDL_OPT_TOTAL_STEPS and m = TDL_OPT_MIN_LR (it stays at the floor).
 * TDL_SCHED_STEP needs TDL_OPT_STEP_SIZE and TDL_SCHED_COSINE needs
 * TDL_OPT_TOTAL_STEPS: a step without them fails with TDL_ERR_INVALID_ARGUMENT.
 *
 * **Gradient norm and clipping.** The global L2 norm is computed in double
 * over the trainable, non-frozen parameters in parameter order (so it is
 * deterministic). A non-finite norm fails the step with TDL_ERR_NON_FINITE
 * (naming the parameter) even when clipping is off. Clipping scales the
 * gradients in place, as torch.nn.utils.clip_grad_norm_ does.
 *
 * **Failure safety.** All checks and allocations happen before any parameter
 * changes: a failed step changes nothing and the next one may succeed.
 * Adam's step count is kept per parameter (as PyTorch does).
 *
 * Threading: used by one thread at a time, like its graph.
 */
#ifndef TINY_DL_OPTIM_H
#define TINY_DL_OPTIM_H

#include <stdint.h>

#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/** An optimizer bound to one graph. Opaque; freed by tdl_optim_destroy(). */
typedef struct tdl_optim tdl_optim;

/** Optimizer algorithms. */
enum tdl_optim_kind {
    TDL_OPTIM_SGD = 1,    /**< SGD with optional momentum / Nesterov (torch.optim.SGD). */
    TDL_OPTIM_ADAM = 2,   /**< Adam with L2 weight decay added to the gradient. */
    TDL_OPTIM_ADAMW = 3,  /**< Adam with decoupled weight decay (default decay 0.01). */
    TDL_OPTIM_RMSPROP = 4 /**< RMSprop (torch.optim.RMSprop, not centred). */
};

/** Options for tdl_optim_set() (whole optimizer) and tdl_optim_group_set() (one group). */
enum tdl_optim_option {
    TDL_OPT_LR = 1,           /**< Base learning rate (group: its own base rate). */
    TDL_OPT_MOMENTUM = 2,     /**< SGD / RMSprop momentum (default 0). */
    TDL_OPT_NESTEROV = 3,     /**< SGD: 1 for Nesterov momentum. */
    TDL_OPT_BETA1 = 4,        /**< Adam(W) beta1 (default 0.9). */
    TDL_OPT_BETA2 = 5,        /**< Adam(W) beta2 (default 0.999). */
    TDL_OPT_EPS = 6,          /**< Adam(W) / RMSprop epsilon (default 1e-8). */
    TDL_OPT_WEIGHT_DECAY = 7, /**< Weight decay (group-level too). */
    TDL_OPT_ALPHA = 8,        /**< RMSprop smoothing constant (default 0.99). */
    TDL_OPT_CLIP_NORM = 9, /**< Clip gradients to this global L2 norm before the step; 0 = off. */
    TDL_OPT_FROZEN = 10,   /**< Group-level: 1 = its parameters are not updated. */
    TDL_OPT_SCHEDULE = 11, /**< One of ::tdl_schedule (default TDL_SCHED_CONSTANT). */
    TDL_OPT_WARMUP_STEPS = 12, /**< Linear warm-up from 0 over this many steps (default 0). */
    TDL_OPT_STEP_SIZE = 13,    /**< TDL_SCHED_STEP: multiply by gamma every step_size steps. */
    TDL_OPT_GAMMA = 14,        /**< TDL_SCHED_STEP factor (default 0.1). */
    TDL_OPT_TOTAL_STEPS = 15,  /**< TDL_SCHED_COSINE: steps to reach min_lr (after warm-up). */
    TDL_OPT_MIN_LR = 16 /**< TDL_SCHED_COSINE floor, as a fraction of the base rate (default 0). */
};

/** Learning-rate schedules (applied on top of the warm-up). */
enum tdl_schedule {
    TDL_SCHED_CONSTANT = 0, /**< Base rate. */
    TDL_SCHED_STEP = 1,     /**< base * gamma^floor(t / step_size). */
    TDL_SCHED_COSINE = 2    /**< Cosine decay from base to min_lr*base over total_steps. */
};

/**
 * @brief Creates an optimizer for every parameter of `g` (trainable at step time).
 * @param kind One of ::tdl_optim_kind.
 * @param lr   Learning rate (> 0).
 * @param[out] out The optimizer, NULL on failure.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_optim_create(tdl_graph *g, int32_t kind, float lr, tdl_optim **out);

/** @brief Shorthand: SGD with the given momentum (0 = plain SGD). */
TDL_API tdl_status tdl_optim_create_sgd(tdl_graph *g, float lr, float momentum, tdl_optim **out);

/** @brief Shorthand: Adam with PyTorch's defaults. */
TDL_API tdl_status tdl_optim_create_adam(tdl_graph *g, float lr, tdl_optim **out);

/** @brief Destroys an optimizer and its state. NULL is ignored. */
TDL_API void tdl_optim_destroy(tdl_optim *opt);

/**
 * @brief Sets an option for the whole optimizer (every group that did not set its own).
 * @param option One of ::tdl_optim_option; value checked for its range.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (unknown option, value out of range,
 *         or an option that does not apply to this kind).
 */
TDL_API tdl_status tdl_optim_set(tdl_optim *opt, int32_t option, double value);

/**
 * @brief Adds a group of the parameters whose names start with `prefix`.
 *
 * Groups are matched in creation order; the first match wins; group 0 (the
 * default) holds the rest.
 * @param[out] group_id The new group's id (>= 1).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_NOT_FOUND (no parameter
 *         matches), TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_optim_add_group(tdl_optim *opt, const char *prefix, int32_t *group_id);

/**
 * @brief Sets TDL_OPT_LR, TDL_OPT_WEIGHT_DECAY or TDL_OPT_FROZEN for one group.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_optim_group_set(tdl_optim *opt, int32_t group_id, int32_t option,
                                       double value);

/**
 * @brief Applies one update from the current gradients (after clipping, if set),
 *        then advances the schedule.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_NON_FINITE (the gradient norm
 *         is not finite: nothing is updated), TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_optim_step(tdl_optim *opt);

/** @brief The learning rate the next step will use (base rate of group 0 after schedule). */
TDL_API double tdl_optim_lr(const tdl_optim *opt);

/** @brief Steps taken so far. */
TDL_API int64_t tdl_optim_steps(const tdl_optim *opt);

/** @brief Global L2 norm of the gradients seen by the last step (before clipping). */
TDL_API double tdl_optim_last_grad_norm(const tdl_optim *opt);

/** @brief The optimizer's last error message; "" if none; never NULL. */
TDL_API const char *tdl_optim_error(const tdl_optim *opt);

/**
 * @brief Scales every trainable gradient of `g` so that their global L2 norm is
 *        at most max_norm (like torch.nn.utils.clip_grad_norm_).
 * @param[out] norm The norm before clipping (may be NULL).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_NON_FINITE (norm not finite; untouched).
 */
TDL_API tdl_status tdl_clip_grad_norm(tdl_graph *g, double max_norm, double *norm);

TDL_END_DECLS

#endif /* TINY_DL_OPTIM_H */
