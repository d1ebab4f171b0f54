/* CNN convergence on real data (a Fashion-MNIST subset) and save -> load ->
 * identical outputs, batch-norm running statistics included. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct model {
    tdl_graph *g;
    tdl_node *x, *y, *logits, *loss;
} model;

static void build(tdl_ctx *ctx, model *m)
{
    TDL_OK_OR_FAIL(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->x = tdl_input(g, "x", TDL_F32, 4, (int64_t[]){TDL_BATCH, 1, 28, 28});
    m->y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = tdl_conv2d_layer(g, m->x, 16, 3, 1, 1, 1, 0, "conv1");
    h = tdl_relu(g, tdl_batch_norm(g, h, "bn1", 0.1f, 1e-5f));
    h = tdl_max_pool2d(g, h, 2, 2, 2, 2, 0, 0);
    h = tdl_conv2d_layer(g, h, 32, 3, 1, 1, 1, 1, "conv2");
    h = tdl_max_pool2d(g, tdl_relu(g, h), 2, 2, 2, 2, 0, 0);
    h = tdl_dropout(g, tdl_flatten(g, h), 0.2f);
    m->logits = tdl_dense(g, h, 10, "fc");
    m->loss = tdl_cross_entropy(g, m->logits, m->y);
    TDL_OK_OR_FAIL(tdl_graph_compile(g));
}

static double accuracy(model *m, tdl_dataset *ds, float *logits)
{
    int64_t n = tdl_dataset_size(ds);
    TDL_OK_OR_FAIL(tdl_graph_set_training(m->g, 0));
    TDL_OK_OR_FAIL(tdl_feed(m->g, m->x, tdl_dataset_x(ds), 4, (int64_t[]){n, 1, 28, 28}));
    TDL_OK_OR_FAIL(tdl_run(m->g, m->logits));
    TDL_OK_OR_FAIL(tdl_node_read(m->logits, logits, sizeof(float) * (size_t)n * 10));
    TDL_OK_OR_FAIL(tdl_graph_set_training(m->g, 1));
    const int32_t *y = tdl_dataset_y(ds);
    int64_t right = 0;
    for (int64_t i = 0; i < n; ++i) {
        int best = 0;
        for (int k = 1; k < 10; ++k)
            if (logits[i * 10 + k] > logits[i * 10 + best])
                best = k;
        right += best == y[i];
    }
    return (double)right / (double)n;
}

static void test_cnn_learns_fashion_mnist(void **state)
{
    (void)state;
    const char *dir = test_fmnist_dir();
    if (!dir) {
        print_message("Fashion-MNIST not installed (dataset-fashion-mnist): skipped\n");
        skip();
    }
    tdl_ctx *ctx = test_ctx();
    TDL_OK_OR_FAIL(tdl_ctx_set_threads(ctx, 2));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 5));
    char a[1024], b[1024];
    tdl_dataset *train, *test;
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", dir);
    TDL_OK_OR_FAIL(tdl_dataset_load_idx(ctx, a, b, &train));
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", dir);
    TDL_OK_OR_FAIL(tdl_dataset_load_idx(ctx, a, b, &test));
    TDL_OK_OR_FAIL(tdl_dataset_truncate(train, 8000));
    TDL_OK_OR_FAIL(tdl_dataset_truncate(test, 1000));

    model m;
    build(ctx, &m);
    float *logits = malloc(sizeof(float) * 1000 * 10);
    float *logits2 = malloc(sizeof(float) * 1000 * 10);
    double before = accuracy(&m, test, logits);
    tdl_optim *opt;
    TDL_OK_OR_FAIL(tdl_optim_create_adam(m.g, 2e-3f, &opt));
    tdl_batcher *it;
    TDL_OK_OR_FAIL(tdl_batcher_create(train, 64, 1, 3, &it));
    const float *x;
    const int32_t *y;
    int64_t n;
    for (;;) {
        TDL_OK_OR_FAIL(tdl_batcher_next(it, &x, &y, &n));
        if (n == 0)
            break;
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.x, x, 4, (int64_t[]){n, 1, 28, 28}));
        TDL_OK_OR_FAIL(tdl_feed(m.g, m.y, y, 1, (int64_t[]){n}));
        TDL_OK_OR_FAIL(tdl_forward(m.g));
        TDL_OK_OR_FAIL(tdl_backward(m.g, m.loss));
        TDL_OK_OR_FAIL(tdl_optim_step(opt));
    }
    double after = accuracy(&m, test, logits);
    print_message("CNN accuracy on 1000 test images: %.3f before, %.3f after one epoch on 8000\n",
                  before, after);
    assert_true(before < 0.3);
    assert_true(after >= 0.78); /* ~0.82-0.84 in practice */

    /* the batch-norm buffers moved away from their initial 0 / 1 */
    const float *rm = tdl_param_data(tdl_graph_find(m.g, "bn1.running_mean"));
    const float *rv = tdl_param_data(tdl_graph_find(m.g, "bn1.running_var"));
    assert_non_null(rm);
    assert_non_null(rv);
    assert_true(rm[0] != 0.0f && rv[0] != 1.0f);

    char path[] = "/tmp/tdl_cnn_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    TDL_OK_OR_FAIL(tdl_save_weights(m.g, path));
    TDL_OK_OR_FAIL(tdl_ctx_set_seed(ctx, 99));
    model r;
    build(ctx, &r);
    assert_true(accuracy(&r, test, logits2) < 0.3);
    TDL_OK_OR_FAIL(tdl_load_weights(r.g, path));
    double reloaded = accuracy(&r, test, logits2);
    assert_true(reloaded == after);
    assert_memory_equal(logits, logits2, sizeof(float) * 1000 * 10);
    unlink(path);

    free(logits);
    free(logits2);
    tdl_batcher_destroy(it);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(m.g);
    tdl_graph_destroy(r.g);
    tdl_dataset_destroy(train);
    tdl_dataset_destroy(test);
    tdl_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_learns_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
