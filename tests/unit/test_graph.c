/* Graph behaviour: symbolic batch, memory plan, value lifetime, summary, DOT,
 * freezing, determinism across thread counts. */
#include "test_util.h"

#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct mlp {
    tdl_graph *g;
    tdl_node *x, *y, *logits, *loss;
} mlp;

/* in -> hidden... -> classes MLP with ReLU; cross-entropy loss. */
static void build_mlp(tdl_ctx *ctx, mlp *m, int64_t in, const int64_t *hidden, int n_hidden,
                      int64_t classes)
{
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &m->g));
    m->x = tdl_input(m->g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, in});
    m->y = tdl_input(m->g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = m->x;
    char name[32];
    for (int i = 0; i < n_hidden; ++i) {
        snprintf(name, sizeof name, "fc%d", i + 1);
        h = tdl_relu(m->g, tdl_dense(m->g, h, hidden[i], name));
    }
    m->logits = tdl_dense(m->g, h, classes, "out");
    m->loss = tdl_cross_entropy(m->g, m->logits, m->y);
    TDL_OK_OR_FAIL(tdl_graph_compile(m->g));
}

static void make_batch(float *x, int32_t *y, int64_t n, int64_t in, int64_t classes, uint64_t seed)
{
    test_fill_uniform(x, n * in, -1, 1, seed);
    for (int64_t i = 0; i < n; ++i)
        y[i] = (int32_t)((i * 7 + (int64_t)seed) % classes);
}

static void test_memory_plan_beats_naive(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    mlp m;
    build_mlp(ctx, &m, 784, (int64_t[]){256, 256, 256}, 3, 10);
    TDL_OK_OR_FAIL(tdl_build_gradients(m.g, m.loss));
    uint64_t arena, naive, params;
    TDL_OK_OR_FAIL(tdl_graph_memory_plan(m.g, 128, &arena, &naive, &params));
    print_message("4-layer MLP, batch 128: arena %llu bytes, naive %llu, params %llu\n",
                  (unsigned long long)arena, (unsigned long long)naive, (unsigned long long)params);
    assert_true(arena > 0);
    assert_true(arena < naive);
    /* parameters and their gradients: 2 * 4 bytes per scalar */
    assert_int_equal(params, (uint64_t)tdl_graph_param_elements(m.g) * 8);
    /* the plan grows with the batch */
    uint64_t arena2;
    TDL_OK_OR_FAIL(tdl_graph_memory_plan(m.g, 256, &arena2, NULL, NULL));
    assert_true(arena2 > arena);
    assert_int_equal(tdl_graph_memory_plan(m.g, 0, &arena2, NULL, NULL), TDL_ERR_INVALID_ARGUMENT);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

static void test_symbolic_batch(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    mlp m;
    build_mlp(ctx, &m, 5, (int64_t[]){7}, 1, 3);
    float x[7 * 5], full[7 * 3], one[3];
    int32_t y[7];
    make_batch(x, y, 7, 5, 3, 1);
    TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, x, 2, (int64_t[]){7, 5}));
    TDL_OK_OR_FAIL(tdl_run(m.g, m.logits));
    TDL_OK_OR_FAIL(tdl_node_read(m.logits, full, sizeof full));
    int32_t nd;
    int64_t shape[TDL_MAX_DIMS];
    TDL_OK_OR_FAIL(tdl_node_value_shape(m.logits, &nd, shape));
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], 7);
    TDL_OK_OR_FAIL(tdl_node_shape(m.logits, &nd, shape));
    assert_int_equal(shape[0], TDL_BATCH);
    /* each row alone (batch 1, smaller than the plan) gives the same numbers */
    for (int r = 0; r < 7; ++r) {
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, x + r * 5, 2, (int64_t[]){1, 5}));
        TDL_OK_OR_FAIL(tdl_run(m.g, m.logits));
        TDL_OK_OR_FAIL(tdl_node_read(m.logits, one, sizeof one));
        for (int k = 0; k < 3; ++k)
            assert_float_equal(one[k], full[r * 3 + k], 1e-5f * (1 + fabsf(one[k])));
    }
    /* dst too small */
    assert_int_equal(tdl_node_read(m.logits, one, 2), TDL_ERR_SHAPE);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

static void test_value_lifetime(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    tdl_node *x = tdl_input(g, "x", TDL_F32, 1, (int64_t[]){64});
    tdl_node *a = tdl_affine_scalar(g, x, 2.0f, 0.0f);
    tdl_node *b = tdl_affine_scalar(g, a, 2.0f, 0.0f);
    tdl_node *c = tdl_affine_scalar(g, b, 2.0f, 0.0f);
    tdl_node *d = tdl_affine_scalar(g, c, 2.0f, 0.0f);
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    float in[64], out[64];
    for (int i = 0; i < 64; ++i)
        in[i] = (float)i;
    TDL_OK_OR_FAIL(tdl_feed(g, x, in, 1, (int64_t[]){64}));
    TDL_OK_OR_FAIL(tdl_forward(g));
    TDL_OK_OR_FAIL(tdl_node_read(d, out, sizeof out));
    assert_float_equal(out[5], 80.0f, 0);
    /* a's memory was reused by c: reading it is refused rather than wrong */
    assert_int_equal(tdl_node_read(a, out, sizeof out), TDL_ERR_STATE);
    assert_null(tdl_node_data(a));
    assert_non_null(strstr(tdl_graph_error(g), "tdl_run"));
    /* running up to it makes it readable */
    TDL_OK_OR_FAIL(tdl_run(g, a));
    TDL_OK_OR_FAIL(tdl_node_read(a, out, sizeof out));
    assert_float_equal(out[5], 10.0f, 0);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

/* relu writes over its input when nothing reads the input afterwards: the
 * arena holds one 64-float block (not two), the values are right, and the
 * overwritten input reads as gone; an input still read later keeps its
 * memory (the product reads it after relu). */
static void test_relu_in_place(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    for (int keep = 0; keep < 2; ++keep) {
        tdl_graph *g;
        TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
        tdl_node *x = tdl_input(g, "x", TDL_F32, 1, (int64_t[]){64});
        tdl_node *a = tdl_affine_scalar(g, x, 2.0f, -1.0f);
        tdl_node *r = tdl_relu(g, a);
        tdl_node *s = tdl_sum(g, keep ? tdl_mul(g, r, a) : r, 0, NULL, 0);
        assert_non_null(s);
        TDL_OK_OR_FAIL(tdl_graph_compile(g));
        uint64_t arena;
        TDL_OK_OR_FAIL(tdl_graph_memory_plan(g, 1, &arena, NULL, NULL));
        /* 64 floats = 256 bytes per block, the scalar sum one 64-byte block (after the
         * product, a, r and the product are dead and the sum reuses their memory) */
        assert_int_equal(arena, keep ? 3 * 256 : 256 + 64);
        float in[64], out[64], total;
        for (int i = 0; i < 64; ++i)
            in[i] = (float)i / 64.0f;
        TDL_OK_OR_FAIL(tdl_feed(g, x, in, 1, (int64_t[]){64}));
        TDL_OK_OR_FAIL(tdl_forward(g));
        TDL_OK_OR_FAIL(tdl_node_read(s, &total, sizeof total));
        double want = 0;
        for (int i = 0; i < 64; ++i) {
            double v = 2.0 * in[i] - 1.0, rv = v > 0 ? v : 0;
            want += keep ? rv * v : rv;
        }
        assert_float_equal(total, want, 1e-4);
        /* with keep, r * a would be r * r had relu written over a */
        if (!keep)
            assert_int_equal(tdl_node_read(a, out, sizeof out), TDL_ERR_STATE);
        tdl_graph_destroy(g);
    }
    tdl_ctx_destroy(ctx);
}

static void test_summary_and_dot(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    mlp m;
    build_mlp(ctx, &m, 784, (int64_t[]){256}, 1, 10);
    size_t need = 0;
    TDL_OK_OR_FAIL(tdl_graph_summary(m.g, NULL, 0, &need));
    assert_true(need > 100);
    char *buf = malloc(need + 1);
    TDL_OK_OR_FAIL(tdl_graph_summary(m.g, buf, need + 1, NULL));
    assert_int_equal(strlen(buf), need);
    assert_non_null(strstr(buf, "fc1.weight"));
    assert_non_null(strstr(buf, "[256, 784]"));
    assert_non_null(strstr(buf, "[B, 10]"));
    char total[64];
    snprintf(total, sizeof total, "parameters: %lld", (long long)(784 * 256 + 256 + 2570));
    assert_non_null(strstr(buf, total));
    free(buf);
    /* truncation keeps a terminated prefix */
    char small[16];
    TDL_OK_OR_FAIL(tdl_graph_summary(m.g, small, sizeof small, &need));
    assert_int_equal(strlen(small), sizeof small - 1);

    char path[] = "/tmp/tdl_dot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    TDL_OK_OR_FAIL(tdl_build_gradients(m.g, m.loss));
    for (int grads = 0; grads <= 1; ++grads) {
        TDL_OK_OR_FAIL(tdl_graph_write_dot(m.g, path, grads));
        FILE *f = fopen(path, "r");
        char text[65536];
        size_t len = fread(text, 1, sizeof text - 1, f);
        text[len] = '\0';
        fclose(f);
        assert_non_null(strstr(text, "digraph"));
        assert_non_null(strstr(text, "fc1.weight"));
        assert_true((strstr(text, "style=dashed") != NULL) == grads);
    }
    unlink(path);
    assert_int_equal(tdl_graph_write_dot(m.g, "/nonexistent-dir/x.dot", 0), TDL_ERR_IO);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

static void test_freeze(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    mlp m;
    build_mlp(ctx, &m, 6, (int64_t[]){4}, 1, 3);
    tdl_node *w1 = tdl_graph_find(m.g, "fc1.weight");
    assert_non_null(w1);
    TDL_OK_OR_FAIL(tdl_param_set_trainable(w1, 0));
    assert_int_equal(tdl_param_trainable(w1), 0);
    float x[4 * 6];
    int32_t y[4];
    make_batch(x, y, 4, 6, 3, 2);
    TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, x, 2, (int64_t[]){4, 6}));
    TDL_OK_OR_FAIL(tdl_feed(m.g, m.y, y, 1, (int64_t[]){4}));
    TDL_OK_OR_FAIL(tdl_forward(m.g));
    TDL_OK_OR_FAIL(tdl_backward(m.g, m.loss));
    const float *gw1 = tdl_param_grad(w1);
    for (int i = 0; i < 24; ++i)
        assert_float_equal(gw1[i], 0.0f, 0);
    const float *gw2 = tdl_param_grad(tdl_graph_find(m.g, "out.weight"));
    float norm = 0;
    for (int i = 0; i < 12; ++i)
        norm += fabsf(gw2[i]);
    assert_true(norm > 0);
    /* freezing after the gradients exist is refused */
    assert_int_equal(tdl_param_set_trainable(w1, 1), TDL_ERR_STATE);
    assert_int_equal(tdl_param_set_trainable(m.x, 0), TDL_ERR_INVALID_ARGUMENT);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

/* Three Adam steps of an MLP with dropout: parameters after them. */
static float *train_three_steps(int threads)
{
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, threads));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 5));
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    tdl_node *x = tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 300});
    tdl_node *y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = tdl_dropout(g, tdl_gelu(g, tdl_dense(g, x, 257, "fc1")), 0.2f);
    h = tdl_tanh(g, tdl_dense(g, h, 129, "fc2"));
    tdl_node *loss = tdl_cross_entropy(g, tdl_softmax(g, tdl_dense(g, h, 10, "fc3"), -1), y);
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    tdl_optim *opt;
    TDL_OK_OR_FAIL(tdl_optim_create_adam(g, 1e-2f, &opt));
    float *xb = malloc(sizeof(float) * 200 * 300);
    int32_t yb[200];
    make_batch(xb, yb, 200, 300, 10, 3);
    for (int s = 0; s < 3; ++s) {
        TDL_OK_OR_FAIL(tdl_feed(g, x, xb, 2, (int64_t[]){200, 300}));
        TDL_OK_OR_FAIL(tdl_feed(g, y, yb, 1, (int64_t[]){200}));
        TDL_OK_OR_FAIL(tdl_forward(g));
        TDL_OK_OR_FAIL(tdl_backward(g, loss));
        TDL_OK_OR_FAIL(tdl_optim_step(opt));
    }
    int64_t total = tdl_graph_param_elements(g), off = 0;
    float *out = malloc(sizeof(float) * (size_t)total);
    for (int64_t p = 0; p < tdl_graph_param_count(g); ++p) {
        tdl_node *param = tdl_graph_param(g, p);
        int32_t nd;
        int64_t sh[TDL_MAX_DIMS], n = 1;
        tdl_node_shape(param, &nd, sh);
        for (int i = 0; i < nd; ++i)
            n *= sh[i];
        memcpy(out + off, tdl_param_data(param), sizeof(float) * (size_t)n);
        off += n;
    }
    free(xb);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    return out;
}

static void test_bit_identical_across_threads(void **state)
{
    (void)state;
    float *ref = train_three_steps(1);
    size_t bytes = sizeof(float) * (size_t)(300 * 257 + 257 + 257 * 129 + 129 + 129 * 10 + 10);
    const int counts[] = {2, 3, 8};
    for (int i = 0; i < 3; ++i) {
        float *other = train_three_steps(counts[i]);
        assert_memory_equal(ref, other, bytes);
        free(other);
    }
    free(ref);
}

/* Inference between training steps (issue 4): tdl_run() plans only what its
 * target needs, so running the logits at a large batch after a training step
 * sizes the arena for the forward at that batch, not for the gradient pass.
 * Modes: 0 = two training steps at batch 8; 1 = the same with an inference
 * run at batch 512 between them; 2 = one step, then the logits at batch 512
 * computed under a whole-graph plan (tdl_forward() at 512 first). */
enum { EVAL_B = 512, EVAL_IN = 40, EVAL_CLASSES = 10 };
typedef struct eval_run {
    float logits[EVAL_B * EVAL_CLASSES];
    float params[EVAL_IN * 64 + 64 + 64 * 48 + 48 + 48 * EVAL_CLASSES + EVAL_CLASSES];
    float loss2;
    size_t arena_after_eval, arena_after_step2;
    uint64_t full_plan, forward_plan;
} eval_run;

static void train_eval_train(int threads, int mode, eval_run *out)
{
    memset(out, 0, sizeof *out);
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, threads));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 9));
    mlp m;
    build_mlp(ctx, &m, EVAL_IN, (int64_t[]){64, 48}, 2, EVAL_CLASSES);
    tdl_optim *opt;
    TDL_OK_OR_FAIL(tdl_optim_create_adam(m.g, 1e-2f, &opt));
    /* what the whole graph and the forward alone need at the eval batch */
    TDL_OK_OR_FAIL(tdl_graph_memory_plan(m.g, EVAL_B, &out->forward_plan, NULL, NULL));
    float xb[2][8 * EVAL_IN], *xe = malloc(sizeof(float) * EVAL_B * EVAL_IN);
    int32_t yb[2][8], ye[EVAL_B];
    assert_non_null(xe);
    make_batch(xb[0], yb[0], 8, EVAL_IN, EVAL_CLASSES, 21);
    make_batch(xb[1], yb[1], 8, EVAL_IN, EVAL_CLASSES, 22);
    make_batch(xe, ye, EVAL_B, EVAL_IN, EVAL_CLASSES, 23);
    for (int step = 0; step < 2; ++step) {
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, xb[step], 2, (int64_t[]){8, EVAL_IN}));
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.y, yb[step], 1, (int64_t[]){8}));
        TDL_OK_OR_FAIL(tdl_forward(m.g));
        TDL_OK_OR_FAIL(tdl_backward(m.g, m.loss));
        TDL_OK_OR_FAIL(tdl_optim_step(opt));
        if (step == 1) {
            TDL_OK_OR_FAIL(tdl_node_read(m.loss, &out->loss2, sizeof out->loss2));
            out->arena_after_step2 = m.g->arena_bytes;
        }
        if (step == 1 || mode == 0)
            continue;
        TDL_OK_OR_FAIL(tdl_graph_memory_plan(m.g, EVAL_B, &out->full_plan, NULL, NULL));
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, xe, 2, (int64_t[]){EVAL_B, EVAL_IN}));
        if (mode == 2) {
            TDL_OK_OR_FAIL(tdl_feed(m.g, m.y, ye, 1, (int64_t[]){EVAL_B}));
            TDL_OK_OR_FAIL(tdl_forward(m.g));
        }
        TDL_OK_OR_FAIL(tdl_run(m.g, m.logits));
        TDL_OK_OR_FAIL(tdl_node_read(m.logits, out->logits, sizeof out->logits));
        out->arena_after_eval = m.g->arena_bytes;
        if (mode == 1) {
            /* the training step's values lay in memory the new plan reuses:
             * they read as void, never as stale numbers */
            float stale;
            assert_int_equal(tdl_node_read(m.loss, &stale, sizeof stale), TDL_ERR_STATE);
            assert_null(tdl_node_data(m.loss));
        }
    }
    int64_t off = 0;
    for (int64_t p = 0; p < tdl_graph_param_count(m.g); ++p) {
        tdl_node *param = tdl_graph_param(m.g, p);
        int64_t n = tdl_shape_numel(&param->shape);
        memcpy(out->params + off, tdl_param_data(param), sizeof(float) * (size_t)n);
        off += n;
    }
    assert_int_equal(off, (int64_t)(sizeof out->params / sizeof(float)));
    free(xe);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

static void test_run_plans_only_its_target(void **state)
{
    (void)state;
    eval_run *plain = malloc(sizeof *plain), *ev = malloc(sizeof *ev), *ev3 = malloc(sizeof *ev3),
             *whole = malloc(sizeof *whole);
    assert_true(plain && ev && ev3 && whole);
    train_eval_train(1, 0, plain);
    train_eval_train(1, 1, ev);
    train_eval_train(3, 1, ev3);
    train_eval_train(1, 2, whole);
    print_message("batch %d: whole-graph plan %llu bytes, arena for the inference run %zu\n",
                  EVAL_B, (unsigned long long)ev->full_plan, ev->arena_after_eval);
    /* the inference run did not size the arena for the gradient pass: it
     * needs no more than the forward graph's plan at that batch */
    assert_true(ev->full_plan > ev->forward_plan);
    assert_true(ev->arena_after_eval < ev->full_plan);
    assert_true(ev->arena_after_eval <= ev->forward_plan);
    /* and training afterwards fits in it: no regrowth */
    assert_int_equal(ev->arena_after_step2, ev->arena_after_eval);
    /* the numbers: the logits equal those computed under the whole plan,
     * training after the inference run equals training without it, and all
     * of it is bit-identical with 3 threads */
    assert_memory_equal(ev->logits, whole->logits, sizeof ev->logits);
    assert_memory_equal(ev->params, plain->params, sizeof ev->params);
    assert_memory_equal(&ev->loss2, &plain->loss2, sizeof(float));
    assert_memory_equal(ev3, ev, sizeof *ev);
    free(plain);
    free(ev);
    free(ev3);
    free(whole);
}

static void test_grad_builds_nodes(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    tdl_graph *g;
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &g));
    /* d/dx sum(x^3) = 3x^2; d/dx sum(3x^2) = 6x */
    tdl_node *x = tdl_param(g, "x", 1, (int64_t[]){4}, TDL_INIT_CONSTANT, 2.0f, 0);
    tdl_node *y = tdl_sum(g, tdl_mul(g, tdl_mul(g, x, x), x), 0, NULL, 0);
    tdl_node *gx = tdl_grad(g, y, x);
    tdl_node *ggx = tdl_grad(g, tdl_sum(g, gx, 0, NULL, 0), x);
    tdl_node *other = tdl_param(g, "unused", 1, (int64_t[]){2}, TDL_INIT_ZEROS, 0, 0);
    tdl_node *zero = tdl_grad(g, y, other);
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
    float v[4];
    TDL_OK_OR_FAIL(tdl_run(g, gx));
    TDL_OK_OR_FAIL(tdl_node_read(gx, v, sizeof v));
    assert_float_equal(v[0], 12.0f, 1e-5);
    TDL_OK_OR_FAIL(tdl_run(g, ggx));
    TDL_OK_OR_FAIL(tdl_node_read(ggx, v, sizeof v));
    assert_float_equal(v[3], 12.0f, 1e-5);
    TDL_OK_OR_FAIL(tdl_run(g, zero));
    TDL_OK_OR_FAIL(tdl_node_read(zero, v, 2 * sizeof(float)));
    assert_float_equal(v[1], 0.0f, 0);
    /* not a scalar: sticky shape error */
    assert_null(tdl_grad(g, gx, x));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_SHAPE);
    assert_int_equal(tdl_graph_compile(g), TDL_ERR_SHAPE);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
}

/* The gradient pass must not compute what no parameter needs: the gradient
 * with respect to the input x (a [B, 784] GEMM) is built by matmul's rule
 * but pruned. */
static void test_gradient_pass_is_pruned(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    mlp m;
    build_mlp(ctx, &m, 784, (int64_t[]){256}, 1, 10);
    TDL_OK_OR_FAIL(tdl_build_gradients(m.g, m.loss));
    int live_input_grads = 0, dead = 0;
    for (int32_t i = 0; i < m.g->n_nodes; ++i) {
        const tdl_node *v = m.g->nodes[i];
        if (!(v->flags & TDL_NODE_BACKWARD))
            continue;
        if (v->flags & TDL_NODE_DEAD)
            dead++;
        else if (tdl_shape_equal(&v->shape, &m.x->shape))
            live_input_grads++;
    }
    assert_true(dead > 0);
    assert_int_equal(live_input_grads, 0);
    /* and training still works: one step changes fc1.weight */
    float x[8 * 784];
    int32_t y[8];
    make_batch(x, y, 8, 784, 10, 4);
    TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, x, 2, (int64_t[]){8, 784}));
    TDL_OK_OR_FAIL(tdl_feed(m.g, m.y, y, 1, (int64_t[]){8}));
    TDL_OK_OR_FAIL(tdl_forward(m.g));
    TDL_OK_OR_FAIL(tdl_backward(m.g, m.loss));
    const float *gw = tdl_param_grad(tdl_graph_find(m.g, "fc1.weight"));
    double norm = 0;
    for (int i = 0; i < 256 * 784; ++i)
        norm += fabs(gw[i]);
    assert_true(norm > 0);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_plan_beats_naive),
        cmocka_unit_test(test_relu_in_place),
        cmocka_unit_test(test_symbolic_batch),
        cmocka_unit_test(test_value_lifetime),
        cmocka_unit_test(test_summary_and_dot),
        cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_bit_identical_across_threads),
        cmocka_unit_test(test_run_plans_only_its_target),
        cmocka_unit_test(test_grad_builds_nodes),
        cmocka_unit_test(test_gradient_pass_is_pruned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
