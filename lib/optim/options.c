/* Options (optimizer-wide and per group) and parameter groups: argument checks and storage. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "graph/graph.h"
#include "optim/optim_internal.h"

/* Largest integer option accepted: every integer up to it is exact in a double. */
#define MAX_INT_OPTION 9007199254740992.0

static const char *option_name(int32_t option)
{
    switch (option) {
    case TDL_OPT_LR: return "TDL_OPT_LR";
    case TDL_OPT_MOMENTUM: return "TDL_OPT_MOMENTUM";
    case TDL_OPT_NESTEROV: return "TDL_OPT_NESTEROV";
    case TDL_OPT_BETA1: return "TDL_OPT_BETA1";
    case TDL_OPT_BETA2: return "TDL_OPT_BETA2";
    case TDL_OPT_EPS: return "TDL_OPT_EPS";
    case TDL_OPT_WEIGHT_DECAY: return "TDL_OPT_WEIGHT_DECAY";
    case TDL_OPT_ALPHA: return "TDL_OPT_ALPHA";
    case TDL_OPT_CLIP_NORM: return "TDL_OPT_CLIP_NORM";
    case TDL_OPT_FROZEN: return "TDL_OPT_FROZEN";
    case TDL_OPT_SCHEDULE: return "TDL_OPT_SCHEDULE";
    case TDL_OPT_WARMUP_STEPS: return "TDL_OPT_WARMUP_STEPS";
    case TDL_OPT_STEP_SIZE: return "TDL_OPT_STEP_SIZE";
    case TDL_OPT_GAMMA: return "TDL_OPT_GAMMA";
    case TDL_OPT_TOTAL_STEPS: return "TDL_OPT_TOTAL_STEPS";
    case TDL_OPT_MIN_LR: return "TDL_OPT_MIN_LR";
    default: return NULL;
    }
}

/* Whether an option means anything for this kind of optimizer. */
static int applies_to(int32_t option, int32_t kind)
{
    switch (option) {
    case TDL_OPT_MOMENTUM: return kind == TDL_OPTIM_SGD || kind == TDL_OPTIM_RMSPROP;
    case TDL_OPT_NESTEROV: return kind == TDL_OPTIM_SGD;
    case TDL_OPT_BETA1:
    case TDL_OPT_BETA2: return kind == TDL_OPTIM_ADAM || kind == TDL_OPTIM_ADAMW;
    case TDL_OPT_EPS: return kind != TDL_OPTIM_SGD;
    case TDL_OPT_ALPHA: return kind == TDL_OPTIM_RMSPROP;
    default: return 1;
    }
}

static int is_count(double v, double min)
{
    return v >= min && v <= MAX_INT_OPTION && v == floor(v);
}

/* Range checks, written so that NaN fails them. Values used as float must fit one. */
static int positive_float(double v)
{
    return v > 0.0 && v <= FLT_MAX;
}

static int non_negative_float(double v)
{
    return v >= 0.0 && v <= FLT_MAX;
}

static tdl_status bad_value(tdl_optim *opt, const char *fn, int32_t option, double value,
                            const char *want)
{
    return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: %s = %g: must be %s", fn,
                    option_name(option), value, want);
}

TDL_API tdl_status tdl_optim_set(tdl_optim *opt, int32_t option, double value)
{
    static const char fn[] = "tdl_optim_set";
    if (!opt)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: optimizer is NULL", fn);
    const char *name = option_name(option);
    if (!name)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: unknown option %d", fn,
                        (int)option);
    if (option == TDL_OPT_FROZEN)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: TDL_OPT_FROZEN is a group option: use tdl_optim_group_set", fn);
    if (!applies_to(option, opt->kind))
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: %s does not apply to %s", fn, name, tdl_optim_kind_name(opt->kind));

    /* Every check is written so that NaN fails it. */
    switch (option) {
    case TDL_OPT_LR:
        if (!positive_float(value))
            return bad_value(opt, fn, option, value, "finite and > 0");
        opt->lr = value;
        break;
    case TDL_OPT_MOMENTUM:
        if (!non_negative_float(value))
            return bad_value(opt, fn, option, value, "finite and >= 0");
        opt->momentum = value;
        break;
    case TDL_OPT_NESTEROV:
        if (value != 0.0 && value != 1.0)
            return bad_value(opt, fn, option, value, "0 or 1");
        opt->nesterov = (int32_t)value;
        break;
    case TDL_OPT_BETA1:
    case TDL_OPT_BETA2:
        if (!(value >= 0.0 && value < 1.0))
            return bad_value(opt, fn, option, value, "in [0, 1)");
        if (option == TDL_OPT_BETA1)
            opt->beta1 = value;
        else
            opt->beta2 = value;
        break;
    case TDL_OPT_EPS:
        /* A subnormal or zero float eps could divide 0 by 0 for a zero gradient. */
        if (!(value >= FLT_MIN && value <= FLT_MAX))
            return bad_value(opt, fn, option, value, "finite and >= 1.18e-38 (a normal float)");
        opt->eps = value;
        break;
    case TDL_OPT_WEIGHT_DECAY:
        if (!non_negative_float(value))
            return bad_value(opt, fn, option, value, "finite and >= 0");
        opt->weight_decay = value;
        break;
    case TDL_OPT_ALPHA:
        if (!(value >= 0.0 && value <= 1.0))
            return bad_value(opt, fn, option, value, "in [0, 1]");
        opt->alpha = value;
        break;
    case TDL_OPT_CLIP_NORM:
        if (!(value >= 0.0) || !isfinite(value))
            return bad_value(opt, fn, option, value, "finite and >= 0 (0 = off)");
        opt->clip_norm = value;
        break;
    case TDL_OPT_SCHEDULE:
        if (value != TDL_SCHED_CONSTANT && value != TDL_SCHED_STEP && value != TDL_SCHED_COSINE)
            return bad_value(opt, fn, option, value,
                             "TDL_SCHED_CONSTANT (0), TDL_SCHED_STEP (1) or TDL_SCHED_COSINE (2)");
        opt->sched.kind = (int32_t)value;
        break;
    case TDL_OPT_WARMUP_STEPS:
        if (!is_count(value, 0.0))
            return bad_value(opt, fn, option, value, "a whole number >= 0");
        opt->sched.warmup_steps = (int64_t)value;
        break;
    case TDL_OPT_STEP_SIZE:
        if (!is_count(value, 1.0))
            return bad_value(opt, fn, option, value, "a whole number >= 1");
        opt->sched.step_size = (int64_t)value;
        break;
    case TDL_OPT_GAMMA:
        if (!(value > 0.0) || !isfinite(value))
            return bad_value(opt, fn, option, value, "finite and > 0");
        opt->sched.gamma = value;
        break;
    case TDL_OPT_TOTAL_STEPS:
        if (!is_count(value, 1.0))
            return bad_value(opt, fn, option, value, "a whole number >= 1");
        opt->sched.total_steps = (int64_t)value;
        break;
    case TDL_OPT_MIN_LR:
        if (!(value >= 0.0 && value <= 1.0))
            return bad_value(opt, fn, option, value, "in [0, 1] (a fraction of the base rate)");
        opt->sched.min_lr = value;
        break;
    default:
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INTERNAL, "%s: option %s not handled", fn,
                        name);
    }
    return TDL_OK;
}

TDL_API tdl_status tdl_optim_group_set(tdl_optim *opt, int32_t group_id, int32_t option,
                                       double value)
{
    static const char fn[] = "tdl_optim_group_set";
    if (!opt)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: optimizer is NULL", fn);
    if (group_id < 0 || group_id >= opt->n_groups)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: no group %d (this optimizer has groups 0..%d)", fn, (int)group_id,
                        (int)opt->n_groups - 1);
    const char *name = option_name(option);
    if (!name)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: unknown option %d", fn,
                        (int)option);
    tdl_optim_group *grp = &opt->groups[group_id];
    switch (option) {
    case TDL_OPT_LR:
        if (!positive_float(value))
            return bad_value(opt, fn, option, value, "finite and > 0");
        grp->lr = value;
        grp->has_lr = 1;
        break;
    case TDL_OPT_WEIGHT_DECAY:
        if (!non_negative_float(value))
            return bad_value(opt, fn, option, value, "finite and >= 0");
        grp->weight_decay = value;
        grp->has_weight_decay = 1;
        break;
    case TDL_OPT_FROZEN:
        if (value != 0.0 && value != 1.0)
            return bad_value(opt, fn, option, value, "0 or 1");
        grp->frozen = (int32_t)value;
        break;
    default:
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: %s is not a group option (only TDL_OPT_LR, TDL_OPT_WEIGHT_DECAY and "
                        "TDL_OPT_FROZEN are)",
                        fn, name);
    }
    return TDL_OK;
}

TDL_API tdl_status tdl_optim_add_group(tdl_optim *opt, const char *prefix, int32_t *group_id)
{
    static const char fn[] = "tdl_optim_add_group";
    if (!opt)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: optimizer is NULL", fn);
    if (!prefix)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: prefix is NULL", fn);
    if (!group_id)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: group_id is NULL", fn);
    *group_id = -1;

    size_t len = strlen(prefix);
    int64_t count = tdl_graph_param_count(opt->graph);
    int found = 0;
    for (int64_t i = 0; i < count && !found; i++)
        found = strncmp(tdl_node_name(tdl_graph_param(opt->graph, i)), prefix, len) == 0;
    if (!found)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_NOT_FOUND,
                        "%s: no parameter name starts with '%s'", fn, prefix);
    if (opt->n_groups == INT32_MAX)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT, "%s: too many groups", fn);

    if (opt->n_groups == opt->cap_groups) {
        int32_t cap = opt->cap_groups <= INT32_MAX / 2 ? opt->cap_groups * 2 : INT32_MAX;
        size_t bytes;
        if (tdl_mul_size((size_t)cap, sizeof *opt->groups, &bytes) != 0)
            return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                            "%s: out of memory growing the group table", fn);
        tdl_optim_group *grown = tdl_realloc(opt->ctx, opt->groups, bytes);
        if (!grown)
            return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                            "%s: out of memory growing the group table", fn);
        opt->groups = grown;
        opt->cap_groups = cap;
    }
    char *copy = tdl_strdup(opt->ctx, prefix);
    if (!copy)
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                        "%s: out of memory copying prefix '%s'", fn, prefix);
    tdl_optim_group *grp = &opt->groups[opt->n_groups];
    memset(grp, 0, sizeof *grp);
    grp->prefix = copy;
    *group_id = opt->n_groups++;
    opt->groups_dirty = 1;
    return TDL_OK;
}
