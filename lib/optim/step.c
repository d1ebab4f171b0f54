/* tdl_optim_step: resolve groups, allocate state, measure (and clip) the gradients, update.
 *
 * Everything that can fail (configuration, memory, a non-finite gradient) is
 * done before the first parameter changes, so a failed step updates nothing
 * and the optimizer stays usable. */
#include <math.h>
#include <string.h>

#include "graph/graph.h"
#include "optim/optim_internal.h"

static const char step_fn[] = "tdl_optim_step";

/* Group of a parameter name: the first group (creation order) whose prefix it
 * starts with, else 0. */
static int32_t resolve_group(const tdl_optim *opt, const char *name)
{
    for (int32_t i = 1; i < opt->n_groups; i++) {
        const char *prefix = opt->groups[i].prefix;
        if (strncmp(name, prefix, strlen(prefix)) == 0)
            return i;
    }
    return 0;
}

/* Brings the slot table up to date with the graph's parameters (the graph may
 * have gained some since the last step) and re-resolves groups when needed. */
static tdl_status sync_slots(tdl_optim *opt)
{
    int64_t count = tdl_graph_param_count(opt->graph);
    if (count > opt->n_slots) {
        /* Check the new parameters before changing anything. */
        for (int64_t i = opt->n_slots; i < count; i++) {
            tdl_node *p = tdl_graph_param(opt->graph, i);
            if (tdl_optim_param_elements(p) < 0)
                return tdl_fail(opt->ctx, opt->error, TDL_ERR_INTERNAL,
                                "%s: parameter '%s' has no concrete shape", step_fn,
                                tdl_node_name(p));
        }
        size_t bytes;
        if (tdl_mul_size((size_t)count, sizeof *opt->slots, &bytes) != 0)
            return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                            "%s: out of memory for the state of %lld parameters", step_fn,
                            (long long)count);
        tdl_optim_slot *slots = tdl_realloc(opt->ctx, opt->slots, bytes);
        if (!slots)
            return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                            "%s: out of memory for the state of %lld parameters", step_fn,
                            (long long)count);
        opt->slots = slots;
        for (int64_t i = opt->n_slots; i < count; i++) {
            tdl_optim_slot *s = &slots[i];
            memset(s, 0, sizeof *s);
            s->param = tdl_graph_param(opt->graph, i);
            s->n = tdl_optim_param_elements(s->param);
        }
        opt->n_slots = count;
        opt->groups_dirty = 1;
    }
    if (opt->groups_dirty) {
        for (int64_t i = 0; i < opt->n_slots; i++)
            opt->slots[i].group = resolve_group(opt, tdl_node_name(opt->slots[i].param));
        opt->groups_dirty = 0;
    }
    return TDL_OK;
}

static int slot_active(const tdl_optim *opt, const tdl_optim_slot *s)
{
    return !opt->groups[s->group].frozen && tdl_param_trainable(s->param) &&
           tdl_param_data(s->param) && tdl_param_grad(s->param);
}

/* Allocates the missing state buffers of every parameter this step updates.
 * On failure the buffers already allocated stay (zeroed and unused, so the
 * state is consistent and they are reused by the next step or freed by
 * tdl_optim_destroy). */
static tdl_status alloc_state(tdl_optim *opt)
{
    const int need = tdl_optim_buffers_needed(opt);
    for (int64_t i = 0; i < opt->n_slots; i++) {
        tdl_optim_slot *s = &opt->slots[i];
        if (!slot_active(opt, s))
            continue;
        for (int b = 0; b < need; b++) {
            if (s->buf[b])
                continue;
            size_t bytes;
            if (tdl_mul_size((size_t)s->n, sizeof(float), &bytes) != 0 ||
                !(s->buf[b] = tdl_alloc_aligned(opt->ctx, bytes)))
                return tdl_fail(opt->ctx, opt->error, TDL_ERR_OUT_OF_MEMORY,
                                "%s: out of memory for the %s state of parameter '%s' (%lld "
                                "elements)",
                                step_fn, tdl_optim_kind_name(opt->kind), tdl_node_name(s->param),
                                (long long)s->n);
            memset(s->buf[b], 0, bytes);
        }
    }
    return TDL_OK;
}

/* Global L2 norm over the parameters this step updates, in parameter order.
 * Sets *bad to the first parameter whose gradient is not finite (or NULL). */
static double grad_norm(const tdl_optim *opt, const tdl_optim_slot **bad)
{
    double sumsq = 0.0;
    *bad = NULL;
    for (int64_t i = 0; i < opt->n_slots; i++) {
        const tdl_optim_slot *s = &opt->slots[i];
        if (!slot_active(opt, s))
            continue;
        double part = tdl_optim_sumsq(s->n, tdl_param_grad(s->param));
        if (!isfinite(part) && !*bad)
            *bad = s;
        sumsq += part;
    }
    return sqrt(sumsq);
}

TDL_API tdl_status tdl_optim_step(tdl_optim *opt)
{
    if (!opt)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: optimizer is NULL", step_fn);
    if (opt->kind == TDL_OPTIM_SGD && opt->nesterov && !(opt->momentum > 0.0))
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_INVALID_ARGUMENT,
                        "%s: TDL_OPT_NESTEROV needs TDL_OPT_MOMENTUM > 0", step_fn);
    tdl_status st = tdl_optim_sched_check(opt, step_fn);
    if (st == TDL_OK)
        st = sync_slots(opt);
    if (st == TDL_OK)
        st = alloc_state(opt);
    if (st != TDL_OK)
        return st;

    const tdl_optim_slot *bad;
    double norm = grad_norm(opt, &bad);
    opt->last_grad_norm = norm;
    if (!isfinite(norm)) {
        const char *who = bad ? tdl_node_name(bad->param) : "?";
        return tdl_fail(opt->ctx, opt->error, TDL_ERR_NON_FINITE,
                        "%s: the gradient norm is %g (the gradient of '%s' holds NaN or "
                        "infinity); nothing was updated",
                        step_fn, norm, who);
    }
    if (opt->clip_norm > 0.0) {
        double coef = tdl_optim_clip_coef(norm, opt->clip_norm);
        if (coef < 1.0) {
            for (int64_t i = 0; i < opt->n_slots; i++) {
                tdl_optim_slot *s = &opt->slots[i];
                if (slot_active(opt, s))
                    tdl_optim_scale(s->n, tdl_param_grad(s->param), (float)coef);
            }
        }
    }

    const double factor = tdl_optim_sched_factor(&opt->sched, opt->steps);
    for (int64_t i = 0; i < opt->n_slots; i++) {
        tdl_optim_slot *s = &opt->slots[i];
        if (!slot_active(opt, s))
            continue;
        const tdl_optim_group *grp = &opt->groups[s->group];
        double lr = (grp->has_lr ? grp->lr : opt->lr) * factor;
        double wd = grp->has_weight_decay ? grp->weight_decay : opt->weight_decay;
        float *p = tdl_param_data(s->param);
        const float *g = tdl_param_grad(s->param);
        switch (opt->kind) {
        case TDL_OPTIM_SGD: tdl_optim_update_sgd(opt, s, p, g, lr, wd); break;
        case TDL_OPTIM_ADAM:
        case TDL_OPTIM_ADAMW: tdl_optim_update_adam(opt, s, p, g, lr, wd); break;
        case TDL_OPTIM_RMSPROP: tdl_optim_update_rmsprop(opt, s, p, g, lr, wd); break;
        default: break;
        }
    }
    opt->steps++;
    return TDL_OK;
}
