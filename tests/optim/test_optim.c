/* Optimizers: updates against double-precision references written here from
 * PyTorch's formulas, schedules, clipping, groups, argument checks, non-finite
 * gradients and allocation failures.
 *
 * Tolerance: the library computes in float, the references in double from the
 * same float gradients; over a few steps the difference stays far below
 * |got - ref| <= 1e-5 * |ref| + 1e-6 (float epsilon is 1.2e-7), which is what
 * CHECK_CLOSE uses. Learning rates (pure double) are compared to 1e-12. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tiny-dl/tiny-dl.h>

#define REL_TOL 1e-5
#define ABS_TOL 1e-6
#define MAXN    64

static void check_close(double got, double ref, const char *what, int step, int i)
{
    double tol = REL_TOL * fabs(ref) + ABS_TOL;
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s: step %d element %d: got %.9g, expected %.9g (tol %.3g)", what, step, i, got,
                 ref, tol);
}

static void check_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", text, needle);
}

/* ---- Fixture: a context and a graph holding only parameters. ---- */

typedef struct fixture {
    tdl_ctx *ctx;
    tdl_graph *g;
} fixture;

static void fx_open(fixture *f)
{
    assert_int_equal(tdl_ctx_create(&f->ctx), TDL_OK);
    assert_int_equal(tdl_graph_create(f->ctx, &f->g), TDL_OK);
}

static void fx_close(fixture *f)
{
    tdl_graph_destroy(f->g);
    tdl_ctx_destroy(f->ctx);
}

/* A parameter holding `vals`: 1-D, or 2 x n/2 for even n > 2 (to cover 2-D shapes). */
static tdl_node *mkparam(tdl_graph *g, const char *name, int64_t n, const float *vals)
{
    int64_t shape[2] = {n, 1};
    int32_t ndim = 1;
    if (n % 2 == 0 && n > 2) {
        shape[0] = 2;
        shape[1] = n / 2;
        ndim = 2;
    }
    tdl_node *p = tdl_param(g, name, ndim, shape, TDL_INIT_ZEROS, 0.0f, 0.0f);
    if (!p)
        fail_msg("tdl_param('%s'): %s", name, tdl_graph_error(g));
    if (vals)
        memcpy(tdl_param_data(p), vals, (size_t)n * sizeof(float));
    return p;
}

static void fill(tdl_node *p, int64_t n, float v)
{
    float *d = tdl_param_data(p);
    for (int64_t i = 0; i < n; i++)
        d[i] = v;
}

static void fill_grad(tdl_node *p, int64_t n, float v)
{
    float *d = tdl_param_grad(p);
    for (int64_t i = 0; i < n; i++)
        d[i] = v;
}

/* Gradient of element j (global index) at step t: varied signs and sizes. */
static float gval(int t, int j)
{
    return (float)(sin(0.9 * j + 1.7 * t + 0.3) * (1.0 + 0.25 * j));
}

/* ---- Double-precision references (torch.optim formulas). ---- */

typedef struct ref_cfg {
    int32_t kind;
    double lr, momentum, wd, b1, b2, eps, alpha;
    int nesterov;
} ref_cfg;

typedef struct ref_state {
    double p[MAXN], b0[MAXN], b1[MAXN];
    int t, ready;
} ref_state;

static void ref_step(const ref_cfg *c, ref_state *s, const double *g, int n, double lr)
{
    s->t++;
    for (int i = 0; i < n; i++) {
        double p = s->p[i], d = g[i];
        switch (c->kind) {
        case TDL_OPTIM_SGD:
            d += c->wd * p;
            if (c->momentum != 0.0) {
                s->b0[i] = s->ready ? c->momentum * s->b0[i] + d : d;
                d = c->nesterov ? d + c->momentum * s->b0[i] : s->b0[i];
            }
            p -= lr * d;
            break;
        case TDL_OPTIM_ADAM:
        case TDL_OPTIM_ADAMW: {
            if (c->kind == TDL_OPTIM_ADAMW)
                p *= 1.0 - lr * c->wd;
            else
                d += c->wd * p;
            s->b0[i] = c->b1 * s->b0[i] + (1.0 - c->b1) * d;
            s->b1[i] = c->b2 * s->b1[i] + (1.0 - c->b2) * d * d;
            double mhat = s->b0[i] / (1.0 - pow(c->b1, s->t));
            double vhat = s->b1[i] / (1.0 - pow(c->b2, s->t));
            p -= lr * mhat / (sqrt(vhat) + c->eps);
            break;
        }
        case TDL_OPTIM_RMSPROP: {
            d += c->wd * p;
            s->b0[i] = c->alpha * s->b0[i] + (1.0 - c->alpha) * d * d;
            double step = d / (sqrt(s->b0[i]) + c->eps);
            if (c->momentum > 0.0) {
                s->b1[i] = c->momentum * s->b1[i] + step;
                step = s->b1[i];
            }
            p -= lr * step;
            break;
        }
        }
        s->p[i] = p;
    }
    s->ready = 1;
}

static ref_cfg cfg_default(int32_t kind, double lr)
{
    ref_cfg c = {kind, lr, 0.0, kind == TDL_OPTIM_ADAMW ? 0.01 : 0.0, 0.9, 0.999, 1e-8, 0.99, 0};
    return c;
}

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case TDL_OPTIM_SGD: return "SGD";
    case TDL_OPTIM_ADAM: return "Adam";
    case TDL_OPTIM_ADAMW: return "AdamW";
    default: return "RMSprop";
    }
}

/* Runs `steps` steps on two parameters (5 and 4 elements; together one
 * state vector in the reference) and compares after each. */
static void run_compare(const ref_cfg *c, int set_defaults_explicitly, int steps)
{
    fixture f;
    fx_open(&f);
    const float init[9] = {0.5f, -1.25f, 2.0f, 0.0f, -0.3f, 1.0f, 0.75f, -2.5f, 0.125f};
    tdl_node *pa = mkparam(f.g, "a", 5, init);
    tdl_node *pb = mkparam(f.g, "b", 4, init + 5);

    tdl_optim *opt = NULL;
    assert_int_equal(tdl_optim_create(f.g, c->kind, (float)c->lr, &opt), TDL_OK);
    assert_non_null(opt);
    if (c->momentum != 0.0)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_MOMENTUM, c->momentum), TDL_OK);
    if (c->nesterov)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_NESTEROV, 1), TDL_OK);
    if (c->wd != (c->kind == TDL_OPTIM_ADAMW ? 0.01 : 0.0) || set_defaults_explicitly)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_WEIGHT_DECAY, c->wd), TDL_OK);
    if (c->kind == TDL_OPTIM_ADAM || c->kind == TDL_OPTIM_ADAMW) {
        if (c->b1 != 0.9 || set_defaults_explicitly)
            assert_int_equal(tdl_optim_set(opt, TDL_OPT_BETA1, c->b1), TDL_OK);
        if (c->b2 != 0.999 || set_defaults_explicitly)
            assert_int_equal(tdl_optim_set(opt, TDL_OPT_BETA2, c->b2), TDL_OK);
    }
    if (c->kind != TDL_OPTIM_SGD && (c->eps != 1e-8 || set_defaults_explicitly))
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_EPS, c->eps), TDL_OK);
    if (c->kind == TDL_OPTIM_RMSPROP && (c->alpha != 0.99 || set_defaults_explicitly))
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_ALPHA, c->alpha), TDL_OK);

    ref_state rs;
    memset(&rs, 0, sizeof rs);
    for (int i = 0; i < 9; i++)
        rs.p[i] = init[i];
    for (int t = 0; t < steps; t++) {
        double g[9];
        float *ga = tdl_param_grad(pa), *gb = tdl_param_grad(pb);
        for (int j = 0; j < 9; j++) {
            float v = gval(t, j);
            if (j < 5)
                ga[j] = v;
            else
                gb[j - 5] = v;
            g[j] = v;
        }
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
        ref_step(c, &rs, g, 9, c->lr);
        const float *da = tdl_param_data(pa), *db = tdl_param_data(pb);
        for (int j = 0; j < 9; j++)
            check_close(j < 5 ? da[j] : db[j - 5], rs.p[j], kind_name(c->kind), t, j);
    }
    assert_int_equal(tdl_optim_steps(opt), steps);
    assert_string_equal(tdl_optim_error(opt), "");
    tdl_optim_destroy(opt);
    fx_close(&f);
}

/* ---- Per-algorithm updates. ---- */

static void test_sgd_plain(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_SGD, 0.1);
    run_compare(&c, 0, 4);
}

static void test_sgd_momentum(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_SGD, 0.05);
    c.momentum = 0.9;
    run_compare(&c, 0, 5);
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_SGD, 0.05);
    c.momentum = 0.8;
    c.nesterov = 1;
    run_compare(&c, 0, 5);
}

static void test_sgd_weight_decay(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_SGD, 0.1);
    c.wd = 0.05;
    run_compare(&c, 0, 4);
    c.momentum = 0.9;
    run_compare(&c, 0, 4);
    c.nesterov = 1;
    run_compare(&c, 0, 4);
}

static void test_sgd_shorthand(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float init[3] = {1.0f, 2.0f, 3.0f};
    tdl_node *p = mkparam(f.g, "w", 3, init);
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create_sgd(f.g, 0.5f, 0.9f, &opt), TDL_OK);
    /* Two steps with g = 1: buf = 1 then 1.9; p = 1 - 0.5 - 0.95. */
    for (int t = 0; t < 2; t++) {
        fill_grad(p, 3, 1.0f);
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
    }
    for (int i = 0; i < 3; i++)
        check_close(tdl_param_data(p)[i], init[i] - 0.5 - 0.95, "sgd shorthand", 2, i);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

static void test_adam(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_ADAM, 0.01);
    run_compare(&c, 0, 5);
    run_compare(&c, 1, 5);
    c.b1 = 0.8;
    c.b2 = 0.95;
    c.eps = 1e-6;
    c.wd = 0.1; /* L2: added to the gradient */
    run_compare(&c, 0, 5);
}

static void test_adam_shorthand(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float init[1] = {1.0f};
    tdl_node *p = mkparam(f.g, "w", 1, init);
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create_adam(f.g, 0.1f, &opt), TDL_OK);
    /* The first Adam step moves by lr * g/|g| (up to eps) whatever |g| is. */
    fill_grad(p, 1, 3.0f);
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    check_close(tdl_param_data(p)[0], 0.9, "adam shorthand", 0, 0);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

static void test_adamw(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_ADAMW, 0.01); /* default decay 0.01, not set */
    run_compare(&c, 0, 5);
    c.wd = 0.2;
    c.b1 = 0.5;
    run_compare(&c, 0, 5);
    c.wd = 0.0;
    run_compare(&c, 1, 5);
}

static void test_rmsprop(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_RMSPROP, 0.01);
    run_compare(&c, 0, 5);
    run_compare(&c, 1, 5);
    c.alpha = 0.9;
    c.eps = 1e-4;
    c.wd = 0.05;
    run_compare(&c, 0, 5);
}

static void test_rmsprop_momentum(void **state)
{
    (void)state;
    ref_cfg c = cfg_default(TDL_OPTIM_RMSPROP, 0.01);
    c.momentum = 0.9;
    run_compare(&c, 0, 5);
    c.wd = 0.1;
    c.alpha = 0.95;
    run_compare(&c, 0, 5);
}

/* Adam keeps a step count per parameter (like PyTorch): a parameter frozen for
 * the first steps starts its bias correction at 1 when it is unfrozen. */
static void test_adam_per_param_steps(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float init[2] = {0.5f, -0.5f};
    tdl_node *pa = mkparam(f.g, "a", 1, init);
    tdl_node *pb = mkparam(f.g, "b", 1, init + 1);
    tdl_optim *opt;
    int32_t gid;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_ADAM, 0.01f, &opt), TDL_OK);
    assert_int_equal(tdl_optim_add_group(opt, "b", &gid), TDL_OK);
    assert_int_equal(gid, 1);
    assert_int_equal(tdl_optim_group_set(opt, gid, TDL_OPT_FROZEN, 1), TDL_OK);
    ref_cfg c = cfg_default(TDL_OPTIM_ADAM, 0.01);
    ref_state ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    ra.p[0] = init[0];
    rb.p[0] = init[1];
    for (int t = 0; t < 5; t++) {
        if (t == 2)
            assert_int_equal(tdl_optim_group_set(opt, gid, TDL_OPT_FROZEN, 0), TDL_OK);
        double ga = gval(t, 0), gb = gval(t, 1);
        tdl_param_grad(pa)[0] = (float)ga;
        tdl_param_grad(pb)[0] = (float)gb;
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
        ref_step(&c, &ra, &ga, 1, 0.01);
        if (t >= 2)
            ref_step(&c, &rb, &gb, 1, 0.01);
        check_close(tdl_param_data(pa)[0], ra.p[0], "adam a", t, 0);
        check_close(tdl_param_data(pb)[0], rb.p[0], "adam b", t, 0);
    }
    tdl_optim_destroy(opt);
    fx_close(&f);
}

/* ---- Clipping. ---- */

static void test_clip_in_optimizer(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float init[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    tdl_node *pa = mkparam(f.g, "a", 2, init);
    tdl_node *pb = mkparam(f.g, "b", 2, init + 2);
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 0.1f, &opt), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_CLIP_NORM, 1.0), TDL_OK);
    assert_true(tdl_optim_last_grad_norm(opt) == 0.0);

    /* Step 1: grads (3, 0) and (0, 4): norm 5 -> scaled by 1 / (5 + 1e-6). */
    float *ga = tdl_param_grad(pa), *gb = tdl_param_grad(pb);
    ga[0] = 3.0f, ga[1] = 0.0f, gb[0] = 0.0f, gb[1] = 4.0f;
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    check_close(tdl_optim_last_grad_norm(opt), 5.0, "norm", 0, 0);
    double coef = 1.0 / (5.0 + 1e-6);
    check_close(ga[0], 3.0 * coef, "clipped grad", 0, 0);
    check_close(gb[1], 4.0 * coef, "clipped grad", 0, 1);
    check_close(tdl_param_data(pa)[0], 1.0 - 0.1 * 3.0 * coef, "param", 0, 0);
    check_close(tdl_param_data(pa)[1], 2.0, "param", 0, 1);
    check_close(tdl_param_data(pb)[0], 3.0, "param", 0, 2);
    check_close(tdl_param_data(pb)[1], 4.0 - 0.1 * 4.0 * coef, "param", 0, 3);

    /* Step 2: norm 0.5 < 1: untouched. */
    float before = tdl_param_data(pa)[0];
    ga[0] = 0.3f, ga[1] = 0.0f, gb[0] = 0.4f, gb[1] = 0.0f;
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    check_close(tdl_optim_last_grad_norm(opt), 0.5, "norm", 1, 0);
    check_close(ga[0], 0.3, "unclipped grad", 1, 0);
    check_close(tdl_param_data(pa)[0], before - 0.1 * 0.3, "param", 1, 0);

    /* Without clipping the norm is still reported. */
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_CLIP_NORM, 0.0), TDL_OK);
    ga[0] = 30.0f, ga[1] = 0.0f, gb[0] = 40.0f, gb[1] = 0.0f;
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    check_close(tdl_optim_last_grad_norm(opt), 50.0, "norm", 2, 0);
    check_close(ga[0], 30.0, "unclipped grad", 2, 0);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float init[3] = {0.0f, 0.0f, 0.0f};
    tdl_node *pa = mkparam(f.g, "a", 3, init);
    tdl_node *pf = mkparam(f.g, "frozen", 1, init);
    assert_int_equal(tdl_param_set_trainable(pf, 0), TDL_OK);
    float *ga = tdl_param_grad(pa), *gf = tdl_param_grad(pf);
    ga[0] = 2.0f, ga[1] = -6.0f, ga[2] = 3.0f; /* norm 7 */
    gf[0] = 100.0f;                            /* excluded: not trainable */

    double norm = -1.0;
    assert_int_equal(tdl_clip_grad_norm(f.g, 1.0, &norm), TDL_OK);
    check_close(norm, 7.0, "norm", 0, 0);
    double coef = 1.0 / (7.0 + 1e-6);
    check_close(ga[0], 2.0 * coef, "grad", 0, 0);
    check_close(ga[1], -6.0 * coef, "grad", 0, 1);
    check_close(ga[2], 3.0 * coef, "grad", 0, 2);
    assert_true(gf[0] == 100.0f);

    /* Already below: unchanged; NULL norm accepted; +inf only measures. */
    float keep = ga[1];
    assert_int_equal(tdl_clip_grad_norm(f.g, 10.0, NULL), TDL_OK);
    assert_true(ga[1] == keep);
    assert_int_equal(tdl_clip_grad_norm(f.g, INFINITY, &norm), TDL_OK);
    check_close(norm, 1.0, "norm", 1, 0);
    assert_true(ga[1] == keep);

    /* Non-finite: untouched. */
    ga[2] = NAN;
    assert_int_equal(tdl_clip_grad_norm(f.g, 0.5, &norm), TDL_ERR_NON_FINITE);
    assert_true(isnan(norm));
    assert_true(ga[1] == keep);
    check_contains(tdl_graph_error(f.g), "tdl_clip_grad_norm");
    ga[2] = INFINITY;
    assert_int_equal(tdl_clip_grad_norm(f.g, 0.5, &norm), TDL_ERR_NON_FINITE);
    assert_true(ga[1] == keep);

    /* Bad arguments. */
    assert_int_equal(tdl_clip_grad_norm(NULL, 1.0, &norm), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_clip_grad_norm");
    const double bad[] = {0.0, -1.0, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tdl_clip_grad_norm(f.g, bad[i], &norm), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(f.g), "tdl_clip_grad_norm");
        check_contains(tdl_graph_error(f.g), "max_norm");
        check_contains(tdl_last_error(), "tdl_clip_grad_norm");
    }
    fx_close(&f);
}

/* ---- Schedules: tdl_optim_lr() before each step, and the step really uses it
 * (SGD with g = 1 moves the parameter by exactly -lr). ---- */

typedef struct sched_case {
    const char *name;
    double base;
    int warmup, kind, step_size, total;
    double gamma, min_lr;
    int n;
    double lr[12]; /* expected sequence, written out by hand */
} sched_case;

static void run_schedule(const sched_case *sc)
{
    fixture f;
    fx_open(&f);
    const float zero = 0.0f;
    tdl_node *p = mkparam(f.g, "w", 1, &zero);
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, (float)sc->base, &opt), TDL_OK);
    /* A base rate that is exact in float and double alike. */
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_LR, sc->base), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_SCHEDULE, sc->kind), TDL_OK);
    if (sc->warmup)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_WARMUP_STEPS, sc->warmup), TDL_OK);
    if (sc->step_size)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_STEP_SIZE, sc->step_size), TDL_OK);
    if (sc->total)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_TOTAL_STEPS, sc->total), TDL_OK);
    if (sc->gamma != 0.0)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_GAMMA, sc->gamma), TDL_OK);
    if (sc->min_lr != 0.0)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_MIN_LR, sc->min_lr), TDL_OK);
    double expect_p = 0.0;
    for (int t = 0; t < sc->n; t++) {
        double lr = tdl_optim_lr(opt);
        if (!(fabs(lr - sc->lr[t]) <= 1e-12 * sc->lr[t] + 1e-15))
            fail_msg("%s: step %d: lr %.15g, expected %.15g", sc->name, t, lr, sc->lr[t]);
        fill_grad(p, 1, 1.0f);
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
        expect_p -= lr;
        check_close(tdl_param_data(p)[0], expect_p, sc->name, t, 0);
    }
    assert_int_equal(tdl_optim_steps(opt), sc->n);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

static void test_schedules(void **state)
{
    (void)state;
    /* cos(pi/4) and cos(3pi/4) values of the cosine schedule, total 4, floor 0.1:
     * f(u) = 0.1 + 0.9 * (1 + cos(pi*u/4)) / 2. */
    const double c1 = 0.1 + 0.45 * (1.0 + sqrt(0.5)), c3 = 0.1 + 0.45 * (1.0 - sqrt(0.5));
    // clang-format off
    const sched_case cases[] = {
        {"constant", 0.5, 0, TDL_SCHED_CONSTANT, 0, 0, 0.0, 0.0, 4, {0.5, 0.5, 0.5, 0.5}},
        {"step", 0.5, 0, TDL_SCHED_STEP, 2, 0, 0.5, 0.0, 7,
         {0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625}},
        {"step default gamma 0.1", 1.0, 0, TDL_SCHED_STEP, 3, 0, 0.0, 0.0, 7,
         {1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01}},
        {"cosine", 1.0, 0, TDL_SCHED_COSINE, 0, 4, 0.0, 0.1, 7,
         {1.0, c1, 0.55, c3, 0.1, 0.1, 0.1}},
        {"cosine to 0", 2.0, 0, TDL_SCHED_COSINE, 0, 2, 0.0, 0.0, 4, {2.0, 1.0, 0.0, 0.0}},
        {"warm-up constant", 0.75, 3, TDL_SCHED_CONSTANT, 0, 0, 0.0, 0.0, 5,
         {0.25, 0.5, 0.75, 0.75, 0.75}},
        {"warm-up step", 1.0, 2, TDL_SCHED_STEP, 2, 0, 0.5, 0.0, 7,
         {0.5, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25}},
        {"warm-up cosine", 1.0, 4, TDL_SCHED_COSINE, 0, 4, 0.0, 0.1, 10,
         {0.25, 0.5, 0.75, 1.0, 1.0, c1, 0.55, c3, 0.1, 0.1}},
        {"warm-up 1", 0.5, 1, TDL_SCHED_CONSTANT, 0, 0, 0.0, 0.0, 3, {0.5, 0.5, 0.5}},
    };
    // clang-format on
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_schedule(&cases[i]);
}

/* The schedule multiplies every group's own base rate. */
static void test_schedule_groups(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float zero = 0.0f;
    tdl_node *pa = mkparam(f.g, "a", 1, &zero);
    tdl_node *pb = mkparam(f.g, "b", 1, &zero);
    tdl_optim *opt;
    int32_t gid;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 1.0f, &opt), TDL_OK);
    assert_int_equal(tdl_optim_add_group(opt, "b", &gid), TDL_OK);
    assert_int_equal(tdl_optim_group_set(opt, gid, TDL_OPT_LR, 0.25), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_WARMUP_STEPS, 2), TDL_OK);
    const double f_t[4] = {0.5, 1.0, 1.0, 1.0};
    double ea = 0.0, eb = 0.0;
    for (int t = 0; t < 4; t++) {
        check_close(tdl_optim_lr(opt), f_t[t], "group 0 lr", t, 0);
        fill_grad(pa, 1, 1.0f);
        fill_grad(pb, 1, 1.0f);
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
        ea -= f_t[t];
        eb -= 0.25 * f_t[t];
        check_close(tdl_param_data(pa)[0], ea, "a", t, 0);
        check_close(tdl_param_data(pb)[0], eb, "b", t, 0);
    }
    /* Group 0 with its own rate: tdl_optim_lr() follows it. */
    assert_int_equal(tdl_optim_group_set(opt, 0, TDL_OPT_LR, 0.125), TDL_OK);
    check_close(tdl_optim_lr(opt), 0.125, "group 0 lr", 4, 0);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

/* ---- Groups. ---- */

static void test_groups(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    tdl_node *enc_w = mkparam(f.g, "enc.w", 2, NULL);
    tdl_node *enc_b = mkparam(f.g, "enc.b", 1, NULL);
    tdl_node *dec_w = mkparam(f.g, "dec.w", 2, NULL);
    tdl_node *head = mkparam(f.g, "head", 1, NULL);
    tdl_node *frz = mkparam(f.g, "frz", 1, NULL);
    tdl_node *all[5] = {enc_w, enc_b, dec_w, head, frz};
    const int64_t sizes[5] = {2, 1, 2, 1, 1};
    for (int i = 0; i < 5; i++)
        fill(all[i], sizes[i], 1.0f);
    assert_int_equal(tdl_param_set_trainable(frz, 0), TDL_OK);

    tdl_optim *opt;
    int32_t g_enc, g_encw, g_dec;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 0.1f, &opt), TDL_OK);
    assert_int_equal(tdl_optim_add_group(opt, "enc.", &g_enc), TDL_OK);
    assert_int_equal(tdl_optim_add_group(opt, "enc.w", &g_encw), TDL_OK); /* shadowed */
    assert_int_equal(tdl_optim_add_group(opt, "dec", &g_dec), TDL_OK);
    assert_int_equal(g_enc, 1);
    assert_int_equal(g_encw, 2);
    assert_int_equal(g_dec, 3);
    assert_int_equal(tdl_optim_group_set(opt, g_enc, TDL_OPT_LR, 0.5), TDL_OK);
    assert_int_equal(tdl_optim_group_set(opt, g_enc, TDL_OPT_WEIGHT_DECAY, 0.5), TDL_OK);
    assert_int_equal(tdl_optim_group_set(opt, g_encw, TDL_OPT_LR, 7.0), TDL_OK);
    assert_int_equal(tdl_optim_group_set(opt, g_dec, TDL_OPT_FROZEN, 1), TDL_OK);

    for (int i = 0; i < 5; i++)
        fill_grad(all[i], sizes[i], 1.0f);
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    /* enc: p -= 0.5 * (1 + 0.5 * 1) = 0.25; head: 1 - 0.1; dec, frz unchanged. */
    check_close(tdl_param_data(enc_w)[0], 0.25, "enc.w", 0, 0);
    check_close(tdl_param_data(enc_w)[1], 0.25, "enc.w", 0, 1);
    check_close(tdl_param_data(enc_b)[0], 0.25, "enc.b", 0, 0);
    check_close(tdl_param_data(head)[0], 0.9, "head", 0, 0);
    assert_true(tdl_param_data(dec_w)[0] == 1.0f && tdl_param_data(dec_w)[1] == 1.0f);
    assert_true(tdl_param_data(frz)[0] == 1.0f);
    /* The norm covers only updated parameters: enc.w (2), enc.b, head. */
    check_close(tdl_optim_last_grad_norm(opt), 2.0, "norm", 0, 0);

    /* Unfreeze dec; global decay changes head's (group 0) but not enc's own. */
    assert_int_equal(tdl_optim_group_set(opt, g_dec, TDL_OPT_FROZEN, 0), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_WEIGHT_DECAY, 1.0), TDL_OK);
    for (int i = 0; i < 5; i++)
        fill_grad(all[i], sizes[i], 1.0f);
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    check_close(tdl_param_data(enc_w)[0], 0.25 - 0.5 * (1.0 + 0.5 * 0.25), "enc.w", 1, 0);
    check_close(tdl_param_data(dec_w)[0], 1.0 - 0.1 * (1.0 + 1.0), "dec.w", 1, 0);
    check_close(tdl_param_data(head)[0], 0.9 - 0.1 * (1.0 + 0.9), "head", 1, 0);
    assert_true(tdl_param_data(frz)[0] == 1.0f);

    /* No parameter starts with "zzz". */
    int32_t gid = 123;
    assert_int_equal(tdl_optim_add_group(opt, "zzz", &gid), TDL_ERR_NOT_FOUND);
    assert_int_equal(gid, -1);
    check_contains(tdl_optim_error(opt), "tdl_optim_add_group");
    check_contains(tdl_optim_error(opt), "zzz");
    tdl_optim_destroy(opt);
    fx_close(&f);
}

/* Many groups (the group table grows) and a parameter added after the
 * optimizer was created (picked up, with its group, at the next step). */
static void test_groups_growth_and_late_params(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    char name[16];
    tdl_node *ps[10];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "l%d.w", i);
        ps[i] = mkparam(f.g, name, 1, NULL);
    }
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 1.0f, &opt), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_MOMENTUM, 0.5), TDL_OK);
    for (int i = 0; i < 8; i++) {
        int32_t gid;
        snprintf(name, sizeof name, "l%d", i);
        assert_int_equal(tdl_optim_add_group(opt, name, &gid), TDL_OK);
        assert_int_equal(gid, i + 1);
        assert_int_equal(tdl_optim_group_set(opt, gid, TDL_OPT_LR, 0.125 * (i + 1)), TDL_OK);
    }
    for (int i = 0; i < 9; i++)
        fill_grad(ps[i], 1, 1.0f);
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    for (int i = 0; i < 9; i++)
        check_close(tdl_param_data(ps[i])[0], i < 8 ? -0.125 * (i + 1) : -1.0, "layer", 0, i);

    /* "l3x" matches group "l3" (prefix), added after creation. */
    ps[9] = mkparam(f.g, "l3x", 1, NULL);
    for (int i = 0; i < 10; i++)
        fill_grad(ps[i], 1, 1.0f);
    assert_int_equal(tdl_optim_step(opt), TDL_OK);
    /* Old ones: buf 1.5; the new one starts its momentum buffer at g. */
    check_close(tdl_param_data(ps[0])[0], -0.125 - 0.125 * 1.5, "l0", 1, 0);
    check_close(tdl_param_data(ps[9])[0], -0.5, "l3x", 1, 0);
    assert_int_equal(tdl_optim_steps(opt), 2);
    tdl_optim_destroy(opt);
    fx_close(&f);
}

/* ---- Bad arguments: status, message naming the function (and option), no change. ---- */

static void expect_set_fails(tdl_optim *opt, int32_t option, double value, const char *needle)
{
    double lr = tdl_optim_lr(opt);
    tdl_status st = tdl_optim_set(opt, option, value);
    if (st != TDL_ERR_INVALID_ARGUMENT)
        fail_msg("tdl_optim_set(%d, %g) returned %d", (int)option, value, (int)st);
    check_contains(tdl_optim_error(opt), "tdl_optim_set");
    check_contains(tdl_last_error(), "tdl_optim_set");
    if (needle)
        check_contains(tdl_optim_error(opt), needle);
    assert_true(tdl_optim_lr(opt) == lr);
}

static void test_bad_create(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    mkparam(f.g, "w", 1, NULL);
    tdl_optim *opt = (tdl_optim *)&f; /* must be reset to NULL */
    assert_int_equal(tdl_optim_create(NULL, TDL_OPTIM_SGD, 0.1f, &opt), TDL_ERR_INVALID_ARGUMENT);
    assert_null(opt);
    check_contains(tdl_last_error(), "tdl_optim_create");
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 0.1f, NULL), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_create");
    const int32_t kinds[] = {0, 5, -1};
    for (size_t i = 0; i < 3; i++) {
        opt = (tdl_optim *)&f;
        assert_int_equal(tdl_optim_create(f.g, kinds[i], 0.1f, &opt), TDL_ERR_INVALID_ARGUMENT);
        assert_null(opt);
        check_contains(tdl_last_error(), "tdl_optim_create");
        check_contains(tdl_last_error(), "kind");
    }
    const float lrs[] = {0.0f, -0.1f, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_ADAM, lrs[i], &opt),
                         TDL_ERR_INVALID_ARGUMENT);
        assert_null(opt);
        check_contains(tdl_last_error(), "tdl_optim_create");
        check_contains(tdl_last_error(), "learning rate");
    }
    assert_int_equal(tdl_optim_create_sgd(f.g, 0.1f, -0.5f, &opt), TDL_ERR_INVALID_ARGUMENT);
    assert_null(opt);
    check_contains(tdl_last_error(), "tdl_optim_create_sgd");
    check_contains(tdl_last_error(), "TDL_OPT_MOMENTUM");
    assert_int_equal(tdl_optim_create_sgd(f.g, 0.1f, NAN, &opt), TDL_ERR_INVALID_ARGUMENT);
    assert_null(opt);
    assert_int_equal(tdl_optim_create_sgd(f.g, 0.0f, 0.5f, &opt), TDL_ERR_INVALID_ARGUMENT);
    assert_null(opt);
    check_contains(tdl_last_error(), "tdl_optim_create_sgd");
    check_contains(tdl_last_error(), "learning rate");
    assert_int_equal(tdl_optim_create_adam(NULL, 0.1f, &opt), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_create_adam");
    assert_int_equal(tdl_optim_create_adam(f.g, -1.0f, &opt), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_create_adam");

    /* NULL handles elsewhere. */
    tdl_optim_destroy(NULL);
    assert_true(tdl_optim_lr(NULL) == 0.0);
    assert_int_equal(tdl_optim_steps(NULL), 0);
    assert_true(tdl_optim_last_grad_norm(NULL) == 0.0);
    assert_string_equal(tdl_optim_error(NULL), "");
    assert_int_equal(tdl_optim_set(NULL, TDL_OPT_LR, 0.1), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_set");
    assert_int_equal(tdl_optim_group_set(NULL, 0, TDL_OPT_LR, 0.1), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_group_set");
    int32_t gid;
    assert_int_equal(tdl_optim_add_group(NULL, "w", &gid), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_add_group");
    assert_int_equal(tdl_optim_step(NULL), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_last_error(), "tdl_optim_step");
    fx_close(&f);
}

static void test_bad_options(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    mkparam(f.g, "w", 1, NULL);
    tdl_optim *sgd, *adam, *adamw, *rms;
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 0.1f, &sgd), TDL_OK);
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_ADAM, 0.1f, &adam), TDL_OK);
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_ADAMW, 0.1f, &adamw), TDL_OK);
    assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_RMSPROP, 0.1f, &rms), TDL_OK);
    assert_string_equal(tdl_optim_error(sgd), "");

    /* Unknown options, and FROZEN (group-only). */
    expect_set_fails(sgd, 0, 1.0, "unknown option");
    expect_set_fails(sgd, 17, 1.0, "unknown option");
    expect_set_fails(sgd, TDL_OPT_FROZEN, 1.0, "tdl_optim_group_set");

    /* Options that do not apply to the kind. */
    expect_set_fails(sgd, TDL_OPT_BETA1, 0.9, "TDL_OPT_BETA1");
    check_contains(tdl_optim_error(sgd), "SGD");
    expect_set_fails(sgd, TDL_OPT_BETA2, 0.9, "TDL_OPT_BETA2");
    expect_set_fails(sgd, TDL_OPT_EPS, 1e-8, "TDL_OPT_EPS");
    expect_set_fails(sgd, TDL_OPT_ALPHA, 0.9, "TDL_OPT_ALPHA");
    expect_set_fails(adam, TDL_OPT_MOMENTUM, 0.9, "TDL_OPT_MOMENTUM");
    check_contains(tdl_optim_error(adam), "Adam");
    expect_set_fails(adam, TDL_OPT_NESTEROV, 1, "TDL_OPT_NESTEROV");
    expect_set_fails(adamw, TDL_OPT_ALPHA, 0.9, "TDL_OPT_ALPHA");
    expect_set_fails(rms, TDL_OPT_NESTEROV, 1, "TDL_OPT_NESTEROV");
    expect_set_fails(rms, TDL_OPT_BETA1, 0.9, "TDL_OPT_BETA1");

    /* Out-of-range values (NaN everywhere). */
    struct {
        tdl_optim *opt;
        int32_t option;
        double value;
        const char *name;
    } bad[] = {
        {sgd, TDL_OPT_LR, 0.0, "TDL_OPT_LR"},
        {sgd, TDL_OPT_LR, -1.0, "TDL_OPT_LR"},
        {sgd, TDL_OPT_LR, NAN, "TDL_OPT_LR"},
        {sgd, TDL_OPT_LR, INFINITY, "TDL_OPT_LR"},
        {sgd, TDL_OPT_LR, 1e39, "TDL_OPT_LR"}, /* not a float */
        {sgd, TDL_OPT_MOMENTUM, -0.1, "TDL_OPT_MOMENTUM"},
        {sgd, TDL_OPT_MOMENTUM, NAN, "TDL_OPT_MOMENTUM"},
        {sgd, TDL_OPT_NESTEROV, 2.0, "TDL_OPT_NESTEROV"},
        {sgd, TDL_OPT_NESTEROV, 0.5, "TDL_OPT_NESTEROV"},
        {sgd, TDL_OPT_NESTEROV, NAN, "TDL_OPT_NESTEROV"},
        {adam, TDL_OPT_BETA1, 1.0, "TDL_OPT_BETA1"},
        {adam, TDL_OPT_BETA1, -0.1, "TDL_OPT_BETA1"},
        {adam, TDL_OPT_BETA1, NAN, "TDL_OPT_BETA1"},
        {adamw, TDL_OPT_BETA2, 1.0, "TDL_OPT_BETA2"},
        {adamw, TDL_OPT_BETA2, NAN, "TDL_OPT_BETA2"},
        {adam, TDL_OPT_EPS, 0.0, "TDL_OPT_EPS"},
        {rms, TDL_OPT_EPS, -1e-8, "TDL_OPT_EPS"},
        {rms, TDL_OPT_EPS, NAN, "TDL_OPT_EPS"},
        {adamw, TDL_OPT_EPS, 1e-40, "TDL_OPT_EPS"}, /* subnormal as a float */
        {sgd, TDL_OPT_WEIGHT_DECAY, -0.01, "TDL_OPT_WEIGHT_DECAY"},
        {adamw, TDL_OPT_WEIGHT_DECAY, NAN, "TDL_OPT_WEIGHT_DECAY"},
        {rms, TDL_OPT_ALPHA, 1.5, "TDL_OPT_ALPHA"},
        {rms, TDL_OPT_ALPHA, -0.1, "TDL_OPT_ALPHA"},
        {rms, TDL_OPT_ALPHA, NAN, "TDL_OPT_ALPHA"},
        {sgd, TDL_OPT_CLIP_NORM, -1.0, "TDL_OPT_CLIP_NORM"},
        {sgd, TDL_OPT_CLIP_NORM, NAN, "TDL_OPT_CLIP_NORM"},
        {sgd, TDL_OPT_CLIP_NORM, INFINITY, "TDL_OPT_CLIP_NORM"},
        {sgd, TDL_OPT_SCHEDULE, 3.0, "TDL_OPT_SCHEDULE"},
        {sgd, TDL_OPT_SCHEDULE, -1.0, "TDL_OPT_SCHEDULE"},
        {sgd, TDL_OPT_SCHEDULE, 0.5, "TDL_OPT_SCHEDULE"},
        {sgd, TDL_OPT_WARMUP_STEPS, -1.0, "TDL_OPT_WARMUP_STEPS"},
        {sgd, TDL_OPT_WARMUP_STEPS, 1.5, "TDL_OPT_WARMUP_STEPS"},
        {sgd, TDL_OPT_WARMUP_STEPS, NAN, "TDL_OPT_WARMUP_STEPS"},
        {sgd, TDL_OPT_WARMUP_STEPS, 1e300, "TDL_OPT_WARMUP_STEPS"},
        {sgd, TDL_OPT_STEP_SIZE, 0.0, "TDL_OPT_STEP_SIZE"},
        {sgd, TDL_OPT_STEP_SIZE, 2.5, "TDL_OPT_STEP_SIZE"},
        {sgd, TDL_OPT_GAMMA, 0.0, "TDL_OPT_GAMMA"},
        {sgd, TDL_OPT_GAMMA, -0.5, "TDL_OPT_GAMMA"},
        {sgd, TDL_OPT_GAMMA, NAN, "TDL_OPT_GAMMA"},
        {sgd, TDL_OPT_TOTAL_STEPS, 0.0, "TDL_OPT_TOTAL_STEPS"},
        {sgd, TDL_OPT_TOTAL_STEPS, INFINITY, "TDL_OPT_TOTAL_STEPS"},
        {sgd, TDL_OPT_MIN_LR, -0.1, "TDL_OPT_MIN_LR"},
        {sgd, TDL_OPT_MIN_LR, 1.1, "TDL_OPT_MIN_LR"},
        {sgd, TDL_OPT_MIN_LR, NAN, "TDL_OPT_MIN_LR"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_set_fails(bad[i].opt, bad[i].option, bad[i].value, bad[i].name);
    /* The message shows the value. */
    expect_set_fails(sgd, TDL_OPT_LR, -2.5, "-2.5");

    /* Group options. */
    int32_t gid;
    assert_int_equal(tdl_optim_add_group(sgd, "w", &gid), TDL_OK);
    const int32_t bad_ids[] = {-1, 2, 1000};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(tdl_optim_group_set(sgd, bad_ids[i], TDL_OPT_LR, 0.1),
                         TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_optim_error(sgd), "tdl_optim_group_set");
        check_contains(tdl_optim_error(sgd), "group");
    }
    struct {
        int32_t option;
        double value;
        const char *needle;
    } gbad[] = {
        {TDL_OPT_MOMENTUM, 0.5, "not a group option"},
        {TDL_OPT_SCHEDULE, 1.0, "not a group option"},
        {99, 1.0, "unknown option"},
        {TDL_OPT_LR, 0.0, "TDL_OPT_LR"},
        {TDL_OPT_LR, NAN, "TDL_OPT_LR"},
        {TDL_OPT_WEIGHT_DECAY, -1.0, "TDL_OPT_WEIGHT_DECAY"},
        {TDL_OPT_WEIGHT_DECAY, INFINITY, "TDL_OPT_WEIGHT_DECAY"},
        {TDL_OPT_FROZEN, 2.0, "TDL_OPT_FROZEN"},
        {TDL_OPT_FROZEN, NAN, "TDL_OPT_FROZEN"},
    };
    for (size_t i = 0; i < sizeof gbad / sizeof gbad[0]; i++) {
        assert_int_equal(tdl_optim_group_set(sgd, gid, gbad[i].option, gbad[i].value),
                         TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_optim_error(sgd), "tdl_optim_group_set");
        check_contains(tdl_optim_error(sgd), gbad[i].needle);
        check_contains(tdl_last_error(), "tdl_optim_group_set");
    }
    assert_int_equal(tdl_optim_add_group(sgd, NULL, &gid), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_optim_error(sgd), "tdl_optim_add_group");
    check_contains(tdl_optim_error(sgd), "prefix");
    assert_int_equal(tdl_optim_add_group(sgd, "w", NULL), TDL_ERR_INVALID_ARGUMENT);
    check_contains(tdl_optim_error(sgd), "group_id");

    tdl_optim_destroy(sgd);
    tdl_optim_destroy(adam);
    tdl_optim_destroy(adamw);
    tdl_optim_destroy(rms);
    fx_close(&f);
}

/* Settings that are only incomplete together are refused by the step. */
static void test_bad_step_config(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f);
    const float one = 1.0f;
    tdl_node *p = mkparam(f.g, "w", 1, &one);
    fill_grad(p, 1, 1.0f);
    struct {
        int32_t option;
        double value;
        const char *needle;
    } cases[] = {
        {TDL_OPT_SCHEDULE, TDL_SCHED_STEP, "TDL_OPT_STEP_SIZE"},
        {TDL_OPT_SCHEDULE, TDL_SCHED_COSINE, "TDL_OPT_TOTAL_STEPS"},
        {TDL_OPT_NESTEROV, 1, "TDL_OPT_MOMENTUM"},
    };
    for (size_t i = 0; i < 3; i++) {
        tdl_optim *opt;
        assert_int_equal(tdl_optim_create(f.g, TDL_OPTIM_SGD, 0.1f, &opt), TDL_OK);
        assert_int_equal(tdl_optim_set(opt, cases[i].option, cases[i].value), TDL_OK);
        assert_int_equal(tdl_optim_step(opt), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_optim_error(opt), "tdl_optim_step");
        check_contains(tdl_optim_error(opt), cases[i].needle);
        assert_true(tdl_param_data(p)[0] == 1.0f);
        assert_int_equal(tdl_optim_steps(opt), 0);
        tdl_optim_destroy(opt);
    }
    fx_close(&f);
}

/* ---- Non-finite gradients: nothing updated, state untouched. ---- */

static void run_non_finite(int32_t kind, double momentum, float badval)
{
    fixture f;
    fx_open(&f);
    const float init[9] = {0.5f, -1.25f, 2.0f, 0.0f, -0.3f, 1.0f, 0.75f, -2.5f, 0.125f};
    tdl_node *pa = mkparam(f.g, "a", 5, init);
    tdl_node *pb = mkparam(f.g, "bad", 4, init + 5);
    tdl_optim *opt;
    assert_int_equal(tdl_optim_create(f.g, kind, 0.01f, &opt), TDL_OK);
    if (momentum != 0.0)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_MOMENTUM, momentum), TDL_OK);
    assert_int_equal(tdl_optim_set(opt, TDL_OPT_CLIP_NORM, 1.0), TDL_OK);
    ref_cfg c = cfg_default(kind, 0.01);
    c.momentum = momentum;
    ref_state rs;
    memset(&rs, 0, sizeof rs);
    for (int i = 0; i < 9; i++)
        rs.p[i] = init[i];

    int t_ref = 0;
    for (int t = 0; t < 5; t++) {
        float *ga = tdl_param_grad(pa), *gb = tdl_param_grad(pb);
        double g[9];
        for (int j = 0; j < 9; j++) {
            float v = gval(t, j);
            if (j < 5)
                ga[j] = v;
            else
                gb[j - 5] = v;
            g[j] = v;
        }
        if (t == 1 || t == 3) {
            gb[2] = badval;
            float before[9];
            memcpy(before, tdl_param_data(pa), 5 * sizeof(float));
            memcpy(before + 5, tdl_param_data(pb), 4 * sizeof(float));
            assert_int_equal(tdl_optim_step(opt), TDL_ERR_NON_FINITE);
            check_contains(tdl_optim_error(opt), "tdl_optim_step");
            check_contains(tdl_optim_error(opt), "'bad'");
            check_contains(tdl_last_error(), "tdl_optim_step");
            assert_false(isfinite(tdl_optim_last_grad_norm(opt)));
            assert_memory_equal(before, tdl_param_data(pa), 5 * sizeof(float));
            assert_memory_equal(before + 5, tdl_param_data(pb), 4 * sizeof(float));
            assert_true(ga[0] == (float)g[0]); /* gradients not clipped either */
            assert_int_equal(tdl_optim_steps(opt), t_ref);
            continue;
        }
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
        double norm = 0.0;
        for (int j = 0; j < 9; j++)
            norm += g[j] * g[j];
        norm = sqrt(norm);
        check_close(tdl_optim_last_grad_norm(opt), norm, "norm", t, 0);
        double coef = 1.0 / (norm + 1e-6);
        if (coef < 1.0)
            for (int j = 0; j < 9; j++)
                g[j] = (double)(float)((float)g[j] * (float)coef);
        ref_step(&c, &rs, g, 9, 0.01);
        t_ref++;
        for (int j = 0; j < 9; j++)
            check_close(j < 5 ? tdl_param_data(pa)[j] : tdl_param_data(pb)[j - 5], rs.p[j],
                        "after non-finite", t, j);
    }
    tdl_optim_destroy(opt);
    fx_close(&f);
}

static void test_non_finite(void **state)
{
    (void)state;
    run_non_finite(TDL_OPTIM_SGD, 0.9, NAN);
    run_non_finite(TDL_OPTIM_SGD, 0.0, INFINITY);
    run_non_finite(TDL_OPTIM_ADAM, 0.0, NAN);
    run_non_finite(TDL_OPTIM_ADAMW, 0.0, -INFINITY);
    run_non_finite(TDL_OPTIM_RMSPROP, 0.5, NAN);
}

/* ---- Allocation failures. ---- */

typedef struct counting_alloc {
    long calls;   /* allocation calls (malloc and realloc) since armed */
    long fail_at; /* 1-based call that fails; 0 = none */
    long live;    /* blocks outstanding */
} counting_alloc;

static int should_fail(counting_alloc *c)
{
    c->calls++;
    return c->fail_at != 0 && c->calls == c->fail_at;
}

static void *h_malloc(size_t size, void *user)
{
    counting_alloc *c = user;
    if (should_fail(c))
        return NULL;
    void *p = malloc(size);
    if (p)
        c->live++;
    return p;
}

static void *h_realloc(void *ptr, size_t size, void *user)
{
    counting_alloc *c = user;
    if (should_fail(c))
        return NULL;
    void *q = realloc(ptr, size);
    if (q && !ptr)
        c->live++;
    return q;
}

static void h_free(void *ptr, void *user)
{
    counting_alloc *c = user;
    if (ptr) {
        c->live--;
        free(ptr);
    }
}

#define NP 6

/* One optimizer life (create, 5 groups so the group table grows, one step)
 * with the n-th allocation failing. Returns 1 when the failure point was not
 * reached (everything succeeded). */
static int alloc_run(int32_t kind, double momentum, long n)
{
    counting_alloc c = {0, 0, 0};
    tdl_ctx *ctx;
    tdl_graph *g;
    assert_int_equal(tdl_ctx_create_with_allocator(&ctx, h_malloc, h_realloc, h_free, &c), TDL_OK);
    assert_int_equal(tdl_graph_create(ctx, &g), TDL_OK);
    tdl_node *ps[NP];
    char name[16];
    for (int i = 0; i < NP; i++) {
        snprintf(name, sizeof name, "l%d.w", i);
        ps[i] = mkparam(g, name, 3, NULL);
        fill(ps[i], 3, 1.0f);
        fill_grad(ps[i], 3, (float)(i + 1));
    }
    /* Count only the optimizer's allocations. */
    c.calls = 0;
    c.fail_at = n;

    tdl_optim *opt = (tdl_optim *)&c;
    tdl_status st = tdl_optim_create(g, kind, 0.1f, &opt);
    if (st != TDL_OK) {
        assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
        assert_null(opt);
        check_contains(tdl_last_error(), "tdl_optim_create");
        goto done;
    }
    if (momentum != 0.0)
        assert_int_equal(tdl_optim_set(opt, TDL_OPT_MOMENTUM, momentum), TDL_OK);
    for (int i = 0; i < NP - 1; i++) {
        int32_t gid = 0;
        snprintf(name, sizeof name, "l%d", i);
        st = tdl_optim_add_group(opt, name, &gid);
        if (st != TDL_OK) {
            assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
            assert_int_equal(gid, -1);
            check_contains(tdl_optim_error(opt), "tdl_optim_add_group");
            goto done;
        }
        assert_int_equal(gid, i + 1);
    }
    st = tdl_optim_step(opt);
    if (st != TDL_OK) {
        assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
        check_contains(tdl_optim_error(opt), "tdl_optim_step");
        assert_int_equal(tdl_optim_steps(opt), 0);
        for (int i = 0; i < NP; i++)
            for (int j = 0; j < 3; j++)
                assert_true(tdl_param_data(ps[i])[j] == 1.0f);
        /* Still usable: the retry succeeds. */
        c.fail_at = 0;
        assert_int_equal(tdl_optim_step(opt), TDL_OK);
    }
    /* Exactly one step from p = 1 with g = i + 1 was applied. */
    ref_cfg rc = cfg_default(kind, 0.1);
    rc.momentum = momentum;
    for (int i = 0; i < NP; i++) {
        ref_state rs;
        memset(&rs, 0, sizeof rs);
        double gi = i + 1;
        rs.p[0] = 1.0;
        ref_step(&rc, &rs, &gi, 1, 0.1);
        check_close(tdl_param_data(ps[i])[0], rs.p[0], "after allocation failure", (int)n, i);
    }
    assert_int_equal(tdl_optim_steps(opt), 1);
done:;
    int reached = c.calls >= n; /* calls only grow: did the n-th allocation happen? */
    tdl_optim_destroy(opt);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    if (c.live != 0)
        fail_msg("kind %d, failing allocation %ld: %ld blocks leaked", (int)kind, n, c.live);
    return !reached;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const struct {
        int32_t kind;
        double momentum;
    } cases[] = {
        {TDL_OPTIM_SGD, 0.0},   {TDL_OPTIM_SGD, 0.9},     {TDL_OPTIM_ADAM, 0.0},
        {TDL_OPTIM_ADAMW, 0.0}, {TDL_OPTIM_RMSPROP, 0.0}, {TDL_OPTIM_RMSPROP, 0.5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        long n = 1;
        while (!alloc_run(cases[k].kind, cases[k].momentum, n)) {
            n++;
            if (n > 1000)
                fail_msg("kind %d: no success after 1000 allocations", (int)cases[k].kind);
        }
        /* Every optimizer makes at least its own block, its group table,
         * 5 prefixes and a slot table. */
        assert_true(n > 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_sgd_shorthand),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adam_shorthand),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_rmsprop_momentum),
        cmocka_unit_test(test_adam_per_param_steps),
        cmocka_unit_test(test_clip_in_optimizer),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_schedule_groups),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_groups_growth_and_late_params),
        cmocka_unit_test(test_bad_create),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_step_config),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
