/* MLP training throughput, the same model and loop as the PyTorch reference
 * (shared/anchors/torch_fmnist_mlp.py): 784-256-ReLU-256-ReLU-10, cross-entropy,
 * SGD momentum 0.9 lr 0.05, batch 128, inputs in [0, 1], shuffled each epoch.
 * Each epoch is timed in full (batching, forward, backward, step); test
 * accuracy after each epoch is not timed. Prints "RESULT <tag> <json>" lines
 * like the reference, so bench/mlp/run.sh can compare them.
 *
 *   bench_mlp [--data DIR] [--epochs N] [--threads N] [--batch N] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tiny-dl/tiny-dl.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != TDL_OK) {                                                                    \
            fprintf(stderr, "%s failed: %s\n", #call, tdl_last_error());                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 5, threads = 2;
    int64_t batch = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoll(argv[i + 1]);
    }
    if (epochs < 1 || epochs > 100)
        epochs = 5;
    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, threads));
    char a[1024], b[1024];
    tdl_dataset *train, *test;
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", dir);
    CHECK(tdl_dataset_load_idx(ctx, a, b, &train));
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", dir);
    CHECK(tdl_dataset_load_idx(ctx, a, b, &test));

    tdl_graph *g;
    CHECK(tdl_graph_create(ctx, &g));
    tdl_node *x = tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 784});
    tdl_node *y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = tdl_relu(g, tdl_dense(g, x, 256, "fc1"));
    h = tdl_relu(g, tdl_dense(g, h, 256, "fc2"));
    tdl_node *logits = tdl_dense(g, h, 10, "fc3");
    tdl_node *loss = tdl_cross_entropy(g, logits, y);
    CHECK(tdl_graph_compile(g));
    tdl_optim *opt;
    CHECK(tdl_optim_create_sgd(g, 0.05f, 0.9f, &opt));
    tdl_batcher *it;
    CHECK(tdl_batcher_create(train, batch, 1, 0, &it));
    tdl_metrics *m;
    CHECK(tdl_metrics_create(ctx, 10, &m));
    int64_t n = tdl_dataset_size(train), n_test = tdl_dataset_size(test);
    printf(
        "RESULT env {\"build\": \"%s\", \"threads\": %d, \"params\": %lld, \"script\": \"mlp\"}\n",
        tdl_build_info(), threads, (long long)tdl_graph_param_elements(g));

    double *rates = calloc((size_t)epochs, sizeof(double));
    for (int ep = 0; ep < epochs; ++ep) {
        double t0 = now();
        const float *xb;
        const int32_t *yb;
        int64_t nb;
        for (;;) {
            CHECK(tdl_batcher_next(it, &xb, &yb, &nb));
            if (nb == 0)
                break;
            CHECK(tdl_feed(g, x, xb, 2, (int64_t[]){nb, 784}));
            CHECK(tdl_feed(g, y, yb, 1, (int64_t[]){nb}));
            CHECK(tdl_forward(g));
            CHECK(tdl_backward(g, loss));
            CHECK(tdl_optim_step(opt));
        }
        double dt = now() - t0;
        CHECK(tdl_batcher_reset(it));
        CHECK(tdl_graph_set_training(g, 0));
        CHECK(tdl_feed(g, x, tdl_dataset_x(test), 2, (int64_t[]){n_test, 784}));
        CHECK(tdl_run(g, logits));
        CHECK(tdl_metrics_reset(m));
        CHECK(tdl_metrics_update_scores(m, tdl_node_data(logits), tdl_dataset_y(test), n_test));
        CHECK(tdl_graph_set_training(g, 1));
        rates[ep] = (double)n / dt;
        printf("RESULT epoch {\"epoch\": %d, \"seconds\": %.4f, \"images_per_s\": %.1f, "
               "\"test_acc\": %.4f, \"threads\": %d}\n",
               ep + 1, dt, rates[ep], tdl_metrics_accuracy(m), threads);
        fflush(stdout);
    }
    /* epoch 1 includes warm-up: the summary is over epochs 2.. as in the reference */
    int k = epochs > 1 ? epochs - 1 : 1;
    double *rest = rates + (epochs > 1);
    qsort(rest, (size_t)k, sizeof(double), cmp_double);
    double median = k % 2 ? rest[k / 2] : 0.5 * (rest[k / 2 - 1] + rest[k / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT summary {\"threads\": %d, \"batch\": %lld, \"epochs\": %d, "
           "\"epoch_images_per_s_excl_first\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, "
           "\"n\": %d}, \"peak_rss_mib\": %.1f}\n",
           threads, (long long)batch, epochs, median, rest[0], rest[k - 1], k,
           (double)ru.ru_maxrss / 1024.0);
    free(rates);
    tdl_metrics_destroy(m);
    tdl_batcher_destroy(it);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(g);
    tdl_dataset_destroy(train);
    tdl_dataset_destroy(test);
    tdl_ctx_destroy(ctx);
    return 0;
}
