/* The reference CNN of shared/anchors/torch_fmnist_cnn.py built with tiny-dl:
 * Conv(1,32,3,p1)-ReLU-MaxPool2-Conv(32,64,3,p1)-ReLU-MaxPool2-Flatten-
 * Linear(3136,128)-ReLU-Linear(128,10); cross-entropy, Adam 1e-3, batch 64,
 * inputs in [0, 1], shuffled each epoch. Measured like the reference:
 *
 *   bench_cnn train [--epochs N] [--threads N]   every epoch timed in full, plus
 *                                                 chunks of 100 steps (first excluded)
 *   bench_cnn infer [--threads N] [--runs N] [--batch 1|64]
 *                                                 eval-mode latency at batch 1 and 64,
 *                                                 50 warm-up calls, median of --runs
 *
 * Prints "RESULT <tag> <json>" lines (bench/cnn/run.sh compares them). */
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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

typedef struct cnn {
    tdl_graph *g;
    tdl_node *x, *y, *logits, *loss;
} cnn;

static void build(tdl_ctx *ctx, cnn *m)
{
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->x = tdl_input(g, "x", TDL_F32, 4, (int64_t[]){TDL_BATCH, 1, 28, 28});
    m->y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    tdl_node *h = tdl_relu(g, tdl_conv2d_layer(g, m->x, 32, 3, 1, 1, 1, 1, "c1"));
    h = tdl_max_pool2d(g, h, 2, 2, 2, 2, 0, 0);
    h = tdl_relu(g, tdl_conv2d_layer(g, h, 64, 3, 1, 1, 1, 1, "c2"));
    h = tdl_flatten(g, tdl_max_pool2d(g, h, 2, 2, 2, 2, 0, 0));
    h = tdl_relu(g, tdl_dense(g, h, 128, "fc1"));
    m->logits = tdl_dense(g, h, 10, "fc2");
    m->loss = tdl_cross_entropy(g, m->logits, m->y);
    CHECK(tdl_graph_compile(g));
}

static tdl_dataset *load(tdl_ctx *ctx, const char *dir, const char *split)
{
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(b, sizeof b, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    tdl_dataset *ds;
    CHECK(tdl_dataset_load_idx(ctx, a, b, &ds));
    return ds;
}

static void train(tdl_ctx *ctx, const char *dir, int epochs, int threads)
{
    tdl_dataset *tr = load(ctx, dir, "train"), *te = load(ctx, dir, "t10k");
    cnn m;
    build(ctx, &m);
    tdl_optim *opt;
    CHECK(tdl_optim_create_adam(m.g, 1e-3f, &opt));
    tdl_batcher *it;
    CHECK(tdl_batcher_create(tr, 64, 1, 0, &it));
    tdl_metrics *met;
    CHECK(tdl_metrics_create(ctx, 10, &met));
    int64_t n = tdl_dataset_size(tr), n_te = tdl_dataset_size(te);
    printf(
        "RESULT env {\"build\": \"%s\", \"threads\": %d, \"params\": %lld, \"script\": \"cnn\"}\n",
        tdl_build_info(), threads, (long long)tdl_graph_param_elements(m.g));
    double *ep_rate = calloc((size_t)epochs, sizeof(double));
    double *chunks = calloc((size_t)epochs * 10 + 10, sizeof(double));
    int n_chunks = 0, chunk_index = 0;
    for (int ep = 0; ep < epochs; ++ep) {
        double t0 = now(), tc = t0;
        int64_t imgs_c = 0, step = 0, nb;
        const float *xb;
        const int32_t *yb;
        for (;;) {
            CHECK(tdl_batcher_next(it, &xb, &yb, &nb));
            if (nb == 0)
                break;
            CHECK(tdl_feed(m.g, m.x, xb, 4, (int64_t[]){nb, 1, 28, 28}));
            CHECK(tdl_feed(m.g, m.y, yb, 1, (int64_t[]){nb}));
            CHECK(tdl_forward(m.g));
            CHECK(tdl_backward(m.g, m.loss));
            CHECK(tdl_optim_step(opt));
            imgs_c += nb;
            if (++step % 100 == 0) {
                double t = now();
                if (chunk_index++ > 0) /* the first chunk holds the warm-up */
                    chunks[n_chunks++] = (double)imgs_c / (t - tc);
                tc = t;
                imgs_c = 0;
            }
        }
        double dt = now() - t0;
        CHECK(tdl_batcher_reset(it));
        /* evaluated in batches of 1000, as the reference does */
        CHECK(tdl_graph_set_training(m.g, 0));
        CHECK(tdl_metrics_reset(met));
        for (int64_t i = 0; i < n_te; i += 1000) {
            int64_t bs = n_te - i < 1000 ? n_te - i : 1000;
            CHECK(tdl_feed(m.g, m.x, tdl_dataset_x(te) + i * 784, 4, (int64_t[]){bs, 1, 28, 28}));
            CHECK(tdl_run(m.g, m.logits));
            CHECK(
                tdl_metrics_update_scores(met, tdl_node_data(m.logits), tdl_dataset_y(te) + i, bs));
        }
        CHECK(tdl_graph_set_training(m.g, 1));
        ep_rate[ep] = (double)n / dt;
        printf("RESULT epoch {\"epoch\": %d, \"seconds\": %.3f, \"images_per_s\": %.1f, "
               "\"test_acc\": %.4f, \"threads\": %d}\n",
               ep + 1, dt, ep_rate[ep], tdl_metrics_accuracy(met), threads);
        fflush(stdout);
    }
    double ep_med = median(ep_rate, epochs);
    double ch_med = n_chunks ? median(chunks, n_chunks) : 0;
    printf("RESULT summary {\"threads\": %d, \"batch\": 64, \"epochs\": %d, "
           "\"epoch_images_per_s\": {\"median\": %.1f}, \"chunk_images_per_s\": {\"median\": %.1f, "
           "\"n\": %d}, \"peak_rss_mib\": %.1f}\n",
           threads, epochs, ep_med, ch_med, n_chunks, peak_rss_mib());
    free(ep_rate);
    free(chunks);
    tdl_metrics_destroy(met);
    tdl_batcher_destroy(it);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(m.g);
    tdl_dataset_destroy(tr);
    tdl_dataset_destroy(te);
}

static void infer(tdl_ctx *ctx, const char *dir, int runs, int threads, int64_t only_batch)
{
    tdl_dataset *te = load(ctx, dir, "t10k");
    cnn m;
    build(ctx, &m);
    CHECK(tdl_graph_set_training(m.g, 0));
    const float *x = tdl_dataset_x(te);
    int64_t n_te = tdl_dataset_size(te);
    printf("RESULT env {\"build\": \"%s\", \"threads\": %d, \"script\": \"cnn_infer\"}\n",
           tdl_build_info(), threads);
    const int64_t batches[2] = {1, 64};
    double *ts = calloc((size_t)runs, sizeof(double));
    for (int b = 0; b < 2; ++b) {
        int64_t bs = batches[b];
        if (only_batch && bs != only_batch)
            continue;
        for (int i = 0; i < 50 + runs; ++i) {
            int64_t j = ((int64_t)i * bs) % (n_te - bs);
            double t0 = now();
            CHECK(tdl_feed(m.g, m.x, x + j * 784, 4, (int64_t[]){bs, 1, 28, 28}));
            CHECK(tdl_run(m.g, m.logits));
            double dt = now() - t0;
            if (i >= 50)
                ts[i - 50] = dt * 1000.0;
        }
        double med = median(ts, runs);
        printf(
            "RESULT summary {\"threads\": %d, \"batch\": %lld, \"runs\": %d, \"latency_ms\": "
            "{\"median\": %.4f, \"min\": %.4f, \"max\": %.4f}, \"images_per_s_at_median\": %.1f, "
            "\"peak_rss_mib\": %.1f}\n",
            threads, (long long)bs, runs, med, ts[0], ts[runs - 1], (double)bs / (med / 1000),
            peak_rss_mib());
    }
    free(ts);
    tdl_graph_destroy(m.g);
    tdl_dataset_destroy(te);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "train";
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 2, threads = 2, runs = 500;
    int64_t only_batch = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            only_batch = atoll(argv[i + 1]);
    }
    if (epochs < 1 || runs < 1) {
        fprintf(stderr, "--epochs and --runs must be >= 1\n");
        return 2;
    }
    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, threads));
    if (!strcmp(mode, "train"))
        train(ctx, dir, epochs, threads);
    else if (!strcmp(mode, "infer"))
        infer(ctx, dir, runs, threads, only_batch);
    else {
        fprintf(stderr, "usage: bench_cnn train|infer [--epochs N] [--threads N] [--runs N]\n");
        return 2;
    }
    tdl_ctx_destroy(ctx);
    return 0;
}
