/* Fashion-MNIST MLP (784-256-256-10): train, evaluate, save, reload, check.
 *
 *   fmnist_mlp [--data DIR] [--epochs N] [--batch N] [--lr X] [--threads N]
 *              [--out DIR] [--limit N] [--smoothing X]
 *
 * Exits non-zero if anything fails or the reloaded model predicts differently. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiny-dl/tiny-dl.h>

#include "out_dir.h"
#include "progress.h"

static const char *class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct options {
    const char *data, *out;
    int epochs, threads;
    int64_t batch, limit;
    float lr, smoothing;
} options;

typedef struct model {
    tdl_graph *g;
    tdl_node *x, *y, *logits, *loss;
} model;

#define CHECK(call)                                                                                \
    do {                                                                                           \
        tdl_status st_ = (call);                                                                   \
        if (st_ != TDL_OK) {                                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,              \
                    tdl_last_error(), tdl_status_string(st_));                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The same graph for training and for reloading: parameters are matched by name. */
static void build_model(tdl_ctx *ctx, model *m, float smoothing)
{
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->x = tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, 784});
    m->y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    /* standardise pixels with the training set's mean 0.2860 and std 0.3530 */
    tdl_node *xs = tdl_affine_scalar(g, m->x, 1.0f / 0.3530f, -0.2860f / 0.3530f);
    tdl_node *h = tdl_relu(g, tdl_dense_ex(g, xs, 256, "fc1", TDL_INIT_HE_UNIFORM, 1));
    h = tdl_relu(g, tdl_dense_ex(g, h, 256, "fc2", TDL_INIT_HE_UNIFORM, 1));
    m->logits = tdl_dense(g, h, 10, "fc3");
    m->loss = tdl_cross_entropy_smooth(g, m->logits, m->y, smoothing);
    if (tdl_graph_compile(g) != TDL_OK) {
        fprintf(stderr, "building the model failed: %s\n", tdl_graph_error(g));
        exit(1);
    }
}

/* Accuracy over a dataset in eval mode; fills `metrics` and optionally keeps logits. */
static double evaluate(model *m, tdl_dataset *ds, tdl_metrics *metrics, float *keep_logits)
{
    tdl_batcher *it;
    CHECK(tdl_batcher_create(ds, 1000, 0, 0, &it));
    CHECK(tdl_graph_set_training(m->g, 0));
    CHECK(tdl_metrics_reset(metrics));
    const float *x;
    const int32_t *y;
    int64_t n, seen = 0;
    for (;;) {
        CHECK(tdl_batcher_next(it, &x, &y, &n));
        if (n == 0)
            break;
        CHECK(tdl_feed(m->g, m->x, x, 2, (int64_t[]){n, 784}));
        CHECK(tdl_run(m->g, m->logits));
        const float *scores = tdl_node_data(m->logits);
        CHECK(tdl_metrics_update_scores(metrics, scores, y, n));
        if (keep_logits)
            memcpy(keep_logits + seen * 10, scores, sizeof(float) * (size_t)n * 10);
        seen += n;
    }
    tdl_batcher_destroy(it);
    CHECK(tdl_graph_set_training(m->g, 1));
    return tdl_metrics_accuracy(metrics);
}

static void parse(int argc, char **argv, options *o)
{
    const char *env = getenv("TDL_FMNIST_DIR");
    o->data = env ? env : "/usr/share/datasets/fashion-mnist";
    o->out = ".";
    o->epochs = 3;
    o->threads = 2;
    o->batch = 64;
    o->limit = 0;
    o->lr = 2e-3f;
    o->smoothing = 0.1f;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "missing value after %s\n", a);
            exit(2);
        }
        if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--out"))
            o->out = v;
        else if (!strcmp(a, "--epochs"))
            o->epochs = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoll(v);
        else if (!strcmp(a, "--limit"))
            o->limit = atoll(v);
        else if (!strcmp(a, "--smoothing"))
            o->smoothing = (float)atof(v);
        else if (!strcmp(a, "--lr"))
            o->lr = (float)atof(v);
        else {
            fprintf(stderr, "unknown option %s (see the comment at the top of main.c)\n", a);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    out_dir_require(o.out); /* before the training, not after */
    printf("%s\n", tdl_build_info());

    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, o.threads));
    CHECK(tdl_ctx_set_seed(ctx, 42));

    char p1[1024], p2[1024];
    tdl_dataset *train, *test;
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", o.data);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", o.data);
    CHECK(tdl_dataset_load_idx(ctx, p1, p2, &train));
    snprintf(p1, sizeof p1, "%s/t10k-images-idx3-ubyte.gz", o.data);
    snprintf(p2, sizeof p2, "%s/t10k-labels-idx1-ubyte.gz", o.data);
    CHECK(tdl_dataset_load_idx(ctx, p1, p2, &test));
    if (o.limit > 0 && o.limit < tdl_dataset_size(train))
        CHECK(tdl_dataset_truncate(train, o.limit));
    printf("train %lld images, test %lld images\n", (long long)tdl_dataset_size(train),
           (long long)tdl_dataset_size(test));

    model m;
    build_model(ctx, &m, o.smoothing);
    CHECK(tdl_build_gradients(m.g, m.loss));
    char summary[8192];
    CHECK(tdl_graph_summary(m.g, summary, sizeof summary, NULL));
    printf("%s", summary);

    tdl_optim *opt;
    CHECK(tdl_optim_create_adam(m.g, o.lr, &opt));
    tdl_batcher *it;
    CHECK(tdl_batcher_create(train, o.batch, 1, 7, &it));
    /* cosine decay to zero over the whole run: the last steps average out the noise */
    CHECK(tdl_optim_set(opt, TDL_OPT_SCHEDULE, TDL_SCHED_COSINE));
    CHECK(
        tdl_optim_set(opt, TDL_OPT_TOTAL_STEPS, (double)(o.epochs * tdl_batcher_num_batches(it))));
    tdl_metrics *metrics;
    CHECK(tdl_metrics_create(ctx, 10, &metrics));

    double train_start = progress_now();
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", epoch, o.epochs);
        progress bar;
        progress_begin(&bar, label, tdl_batcher_num_batches(it));
        CHECK(tdl_metrics_reset(metrics));
        double loss_sum = 0;
        int64_t batches = 0, items = 0, n;
        const float *x;
        const int32_t *y;
        for (;;) {
            CHECK(tdl_batcher_next(it, &x, &y, &n));
            if (n == 0)
                break;
            CHECK(tdl_feed(m.g, m.x, x, 2, (int64_t[]){n, 784}));
            CHECK(tdl_feed(m.g, m.y, y, 1, (int64_t[]){n}));
            CHECK(tdl_forward(m.g));
            CHECK(tdl_metrics_update_scores(metrics, tdl_node_data(m.logits), y, n));
            float loss;
            CHECK(tdl_node_read(m.loss, &loss, sizeof loss));
            CHECK(tdl_backward(m.g, m.loss));
            CHECK(tdl_optim_step(opt));
            loss_sum += loss;
            batches++;
            items += n;
            progress_update(&bar, batches, items, loss_sum / (double)batches,
                            tdl_metrics_accuracy(metrics));
        }
        progress_end(&bar, items, loss_sum / (double)batches, tdl_metrics_accuracy(metrics));
        CHECK(tdl_batcher_reset(it));
    }
    double train_s = progress_now() - train_start;

    int64_t n_test = tdl_dataset_size(test);
    float *logits_a = malloc(sizeof(float) * (size_t)n_test * 10);
    float *logits_b = malloc(sizeof(float) * (size_t)n_test * 10);
    if (!logits_a || !logits_b)
        return 1;
    double acc = evaluate(&m, test, metrics, logits_a);
    char report[8192];
    CHECK(tdl_metrics_report(metrics, class_names, report, sizeof report, NULL));
    printf("\n%s\n", report);
    printf("test accuracy: %.2f%% after %d epochs (%.1f s of training)\n", 100.0 * acc, o.epochs,
           train_s);

    snprintf(p1, sizeof p1, "%s/fmnist_mlp.safetensors", o.out);
    CHECK(tdl_save_weights(m.g, p1));
    printf("saved weights to %s\n", p1);

    /* reload into a fresh graph and check it predicts exactly the same */
    model r;
    CHECK(tdl_ctx_set_seed(ctx, 1234)); /* different init, so the load must do the work */
    build_model(ctx, &r, o.smoothing);
    CHECK(tdl_load_weights(r.g, p1));
    double acc2 = evaluate(&r, test, metrics, logits_b);
    int same = memcmp(logits_a, logits_b, sizeof(float) * (size_t)n_test * 10) == 0;
    printf("reloaded model: test accuracy %.2f%%, outputs %s\n", 100.0 * acc2,
           same ? "identical" : "DIFFERENT");

    free(logits_a);
    free(logits_b);
    tdl_metrics_destroy(metrics);
    tdl_batcher_destroy(it);
    tdl_optim_destroy(opt);
    tdl_graph_destroy(r.g);
    tdl_graph_destroy(m.g);
    tdl_dataset_destroy(train);
    tdl_dataset_destroy(test);
    tdl_ctx_destroy(ctx);
    return same ? 0 : 1;
}
