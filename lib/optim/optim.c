/* Optimizer life cycle and read-only accessors. */
#include <math.h>
#include <string.h>

#include "graph/graph.h"
#include "optim/optim_internal.h"

const char *tdl_optim_kind_name(int32_t kind)
{
    switch (kind) {
    case TDL_OPTIM_SGD: return "SGD";
    case TDL_OPTIM_ADAM: return "Adam";
    case TDL_OPTIM_ADAMW: return "AdamW";
    case TDL_OPTIM_RMSPROP: return "RMSprop";
    default: return "unknown";
    }
}

/* Shared by the constructors, so that messages name the function called. */
static tdl_status create(const char *fn, tdl_graph *g, int32_t kind, float lr, tdl_optim **out)
{
    if (!out)
        return tdl_fail(g ? tdl_graph_ctx(g) : NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "%s: out is NULL", fn);
    *out = NULL;
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: graph is NULL", fn);
    tdl_ctx *ctx = tdl_graph_ctx(g);
    if (kind < TDL_OPTIM_SGD || kind > TDL_OPTIM_RMSPROP)
        return tdl_fail(ctx, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "%s: unknown optimizer kind %d (expected 1..4)", fn, (int)kind);
    if (!(lr > 0.0f) || !isfinite(lr))
        return tdl_fail(ctx, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "%s: learning rate %g must be finite and > 0", fn, (double)lr);

    tdl_optim *opt = tdl_calloc(ctx, 1, sizeof *opt);
    if (!opt)
        return tdl_fail(ctx, NULL, TDL_ERR_OUT_OF_MEMORY,
                        "%s: out of memory allocating the optimizer", fn);
    opt->groups = tdl_calloc(ctx, 4, sizeof *opt->groups);
    if (!opt->groups) {
        tdl_free(ctx, opt);
        return tdl_fail(ctx, NULL, TDL_ERR_OUT_OF_MEMORY,
                        "%s: out of memory allocating parameter groups", fn);
    }
    opt->cap_groups = 4;
    opt->n_groups = 1; /* group 0: every parameter no other group claims */
    opt->groups_dirty = 1;

    opt->graph = g;
    opt->ctx = ctx;
    opt->kind = kind;
    opt->lr = lr;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->weight_decay = kind == TDL_OPTIM_ADAMW ? 0.01 : 0.0;
    opt->alpha = 0.99;
    opt->sched.kind = TDL_SCHED_CONSTANT;
    opt->sched.gamma = 0.1;
    *out = opt;
    return TDL_OK;
}

TDL_API tdl_status tdl_optim_create(tdl_graph *g, int32_t kind, float lr, tdl_optim **out)
{
    return create("tdl_optim_create", g, kind, lr, out);
}

TDL_API tdl_status tdl_optim_create_sgd(tdl_graph *g, float lr, float momentum, tdl_optim **out)
{
    static const char fn[] = "tdl_optim_create_sgd";
    if (out && g && (!(momentum >= 0.0f) || !isfinite(momentum))) {
        *out = NULL;
        return tdl_fail(tdl_graph_ctx(g), NULL, TDL_ERR_INVALID_ARGUMENT,
                        "%s: TDL_OPT_MOMENTUM = %g: must be finite and >= 0", fn, (double)momentum);
    }
    tdl_status st = create(fn, g, TDL_OPTIM_SGD, lr, out);
    if (st == TDL_OK)
        (*out)->momentum = momentum;
    return st;
}

TDL_API tdl_status tdl_optim_create_adam(tdl_graph *g, float lr, tdl_optim **out)
{
    return create("tdl_optim_create_adam", g, TDL_OPTIM_ADAM, lr, out);
}

TDL_API void tdl_optim_destroy(tdl_optim *opt)
{
    if (!opt)
        return;
    tdl_ctx *ctx = opt->ctx;
    for (int64_t i = 0; i < opt->n_slots; i++) {
        tdl_free_aligned(ctx, opt->slots[i].buf[0]);
        tdl_free_aligned(ctx, opt->slots[i].buf[1]);
    }
    tdl_free(ctx, opt->slots);
    for (int32_t i = 0; i < opt->n_groups; i++)
        tdl_free(ctx, opt->groups[i].prefix);
    tdl_free(ctx, opt->groups);
    tdl_free(ctx, opt);
}

TDL_API double tdl_optim_lr(const tdl_optim *opt)
{
    if (!opt)
        return 0.0;
    const tdl_optim_group *g0 = &opt->groups[0];
    double base = g0->has_lr ? g0->lr : opt->lr;
    return base * tdl_optim_sched_factor(&opt->sched, opt->steps);
}

TDL_API int64_t tdl_optim_steps(const tdl_optim *opt)
{
    return opt ? opt->steps : 0;
}

TDL_API double tdl_optim_last_grad_norm(const tdl_optim *opt)
{
    return opt ? opt->last_grad_norm : 0.0;
}

TDL_API const char *tdl_optim_error(const tdl_optim *opt)
{
    return opt ? opt->error : "";
}
