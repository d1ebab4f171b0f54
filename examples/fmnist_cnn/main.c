/* Fashion-MNIST CNN: train with augmentation, evaluate (accuracy, per-class
 * precision/recall/F1, confusion matrix), save, plot the training curves as SVG,
 * reload and check identical predictions.
 *
 *   fmnist_cnn [--data DIR] [--out DIR] [--epochs N] [--minutes M] [--threads N]
 *              [--batch N] [--lr X] [--limit N] [--dropout P] [--shift PIXELS]
 *
 * The model (NCHW): standardise -> conv3x3 1->32 -> BN -> ReLU -> maxpool 2
 *   -> conv3x3 32->64 -> BN -> ReLU -> maxpool 2 -> flatten -> dropout
 *   -> dense 128 -> ReLU -> dropout -> dense 10 (dropout 0.25 by default).
 * Augmentation: random horizontal flips and random shifts of up to --shift
 * pixels (default 0: with 28x28 centred garments, shifts cost more accuracy than
 * they bring in 15 epochs).
 * Training stops after --epochs, or earlier when --minutes of training have
 * passed (the learning-rate schedule is planned for --epochs). Exits non-zero if
 * anything fails or the reloaded model predicts differently. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiny-dl/tiny-dl.h>

#include "out_dir.h"
#include "progress.h"
#include "svg_plot.h"

static const char *class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct options {
    const char *data, *out;
    int epochs, threads;
    double minutes;
    int64_t batch, limit;
    float lr, dropout;
    int shift;
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

static tdl_node *conv_bn_relu_pool(tdl_graph *g, tdl_node *h, int64_t channels, const char *conv,
                                   const char *bn)
{
    h = tdl_conv2d_layer(g, h, channels, 3, 1, 1, 1, 0, conv);
    h = tdl_relu(g, tdl_batch_norm(g, h, bn, 0.1f, 1e-5f));
    return tdl_max_pool2d(g, h, 2, 2, 2, 2, 0, 0);
}

static void build_model(tdl_ctx *ctx, model *m, float dropout)
{
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->x = tdl_input(g, "x", TDL_F32, 4, (int64_t[]){TDL_BATCH, 1, 28, 28});
    m->y = tdl_input(g, "y", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    /* standardise with the training set's mean and std, inside the model */
    tdl_node *h = tdl_affine_scalar(g, m->x, 1.0f / 0.3530f, -0.2860f / 0.3530f);
    h = conv_bn_relu_pool(g, h, 32, "conv1", "bn1");
    h = conv_bn_relu_pool(g, h, 64, "conv2", "bn2");
    h = tdl_dropout(g, tdl_flatten(g, h), dropout);
    h = tdl_dropout(g, tdl_relu(g, tdl_dense_ex(g, h, 128, "fc1", TDL_INIT_HE_UNIFORM, 1)),
                    dropout);
    m->logits = tdl_dense(g, h, 10, "fc2");
    m->loss = tdl_cross_entropy(g, m->logits, m->y);
    if (tdl_graph_compile(g) != TDL_OK) {
        fprintf(stderr, "building the model failed: %s\n", tdl_graph_error(g));
        exit(1);
    }
}

/* Eval-mode pass over a dataset: mean loss, metrics, optionally all logits. */
static double evaluate(model *m, tdl_dataset *ds, tdl_metrics *metrics, float *keep_logits,
                       double *mean_loss)
{
    tdl_batcher *it;
    CHECK(tdl_batcher_create(ds, 500, 0, 0, &it));
    CHECK(tdl_graph_set_training(m->g, 0));
    CHECK(tdl_metrics_reset(metrics));
    const float *x;
    const int32_t *y;
    int64_t n, seen = 0;
    double loss_sum = 0;
    for (;;) {
        CHECK(tdl_batcher_next(it, &x, &y, &n));
        if (n == 0)
            break;
        CHECK(tdl_feed(m->g, m->x, x, 4, (int64_t[]){n, 1, 28, 28}));
        CHECK(tdl_feed(m->g, m->y, y, 1, (int64_t[]){n}));
        CHECK(tdl_forward(m->g));
        float loss;
        CHECK(tdl_node_read(m->loss, &loss, sizeof loss));
        loss_sum += (double)loss * (double)n;
        const float *scores = tdl_node_data(m->logits);
        CHECK(tdl_metrics_update_scores(metrics, scores, y, n));
        if (keep_logits)
            memcpy(keep_logits + seen * 10, scores, sizeof(float) * (size_t)n * 10);
        seen += n;
    }
    tdl_batcher_destroy(it);
    CHECK(tdl_graph_set_training(m->g, 1));
    if (mean_loss)
        *mean_loss = loss_sum / (double)seen;
    return tdl_metrics_accuracy(metrics);
}

static void parse(int argc, char **argv, options *o)
{
    const char *env = getenv("TDL_FMNIST_DIR");
    o->data = env ? env : "/usr/share/datasets/fashion-mnist";
    o->out = ".";
    o->epochs = 15;
    o->minutes = 10;
    o->threads = 2;
    o->batch = 64;
    o->limit = 0;
    o->lr = 2e-3f;
    o->dropout = 0.25f;
    o->shift = 0;
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
        else if (!strcmp(a, "--minutes"))
            o->minutes = atof(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoll(v);
        else if (!strcmp(a, "--limit"))
            o->limit = atoll(v);
        else if (!strcmp(a, "--dropout"))
            o->dropout = (float)atof(v);
        else if (!strcmp(a, "--shift"))
            o->shift = atoi(v);
        else if (!strcmp(a, "--lr"))
            o->lr = (float)atof(v);
        else {
            fprintf(stderr, "unknown option %s (see the comment at the top of main.c)\n", a);
            exit(2);
        }
    }
    if (o->epochs < 1 || o->epochs > 1000 || o->batch < 1) {
        fprintf(stderr, "--epochs must be 1..1000 and --batch >= 1\n");
        exit(2);
    }
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
    tdl_dataset *train = load(ctx, o.data, "train"), *test = load(ctx, o.data, "t10k");
    if (o.limit > 0 && o.limit < tdl_dataset_size(train))
        CHECK(tdl_dataset_truncate(train, o.limit));
    printf("train %lld images, test %lld images\n", (long long)tdl_dataset_size(train),
           (long long)tdl_dataset_size(test));

    model m;
    build_model(ctx, &m, o.dropout);
    CHECK(tdl_build_gradients(m.g, m.loss));
    char summary[16384];
    CHECK(tdl_graph_summary(m.g, summary, sizeof summary, NULL));
    printf("%s", summary);
    int64_t trainable = 0;
    for (int64_t i = 0; i < tdl_graph_param_count(m.g); ++i) {
        tdl_node *p = tdl_graph_param(m.g, i);
        int32_t nd;
        int64_t shape[TDL_MAX_DIMS], count = 1;
        CHECK(tdl_node_shape(p, &nd, shape));
        for (int32_t k = 0; k < nd; ++k)
            count *= shape[k];
        trainable += tdl_param_trainable(p) ? count : 0;
    }
    printf("trainable parameters: %lld\n", (long long)trainable);

    tdl_batcher *it;
    CHECK(tdl_batcher_create(train, o.batch, 1, 7, &it));
    int64_t steps_per_epoch = tdl_batcher_num_batches(it);
    tdl_optim *opt;
    CHECK(tdl_optim_create(m.g, TDL_OPTIM_ADAMW, o.lr, &opt));
    CHECK(tdl_optim_set(opt, TDL_OPT_WEIGHT_DECAY, 1e-4));
    CHECK(tdl_optim_set(opt, TDL_OPT_SCHEDULE, TDL_SCHED_COSINE));
    CHECK(tdl_optim_set(opt, TDL_OPT_WARMUP_STEPS, (double)(steps_per_epoch / 2)));
    CHECK(tdl_optim_set(opt, TDL_OPT_TOTAL_STEPS,
                        (double)(o.epochs * steps_per_epoch - steps_per_epoch / 2)));
    tdl_metrics *metrics;
    CHECK(tdl_metrics_create(ctx, 10, &metrics));

    int64_t sample = tdl_dataset_sample_size(train);
    float *xbuf = malloc(sizeof(float) * (size_t)(o.batch * sample));
    double *curves = calloc((size_t)o.epochs * 4, sizeof(double));
    if (!xbuf || !curves)
        return 1;
    double *tr_loss = curves, *tr_acc = curves + o.epochs, *te_loss = curves + 2 * o.epochs,
           *te_acc = curves + 3 * o.epochs;
    uint64_t seen_samples = 0;
    double train_start = progress_now(), budget = o.minutes * 60.0, last_end = 0, slowest = 0;
    int epochs_done = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", epoch, o.epochs);
        progress bar;
        progress_begin(&bar, label, steps_per_epoch);
        CHECK(tdl_metrics_reset(metrics));
        double loss_sum = 0;
        int64_t batches = 0, items = 0, n;
        const float *x;
        const int32_t *y;
        for (;;) {
            CHECK(tdl_batcher_next(it, &x, &y, &n));
            if (n == 0)
                break;
            memcpy(xbuf, x, sizeof(float) * (size_t)(n * sample));
            CHECK(tdl_augment_flip(xbuf, n, 1, 28, 28, 0.5f, 1, seen_samples));
            if (o.shift > 0)
                CHECK(tdl_augment_translate(xbuf, n, 1, 28, 28, o.shift, 0.0f, 2, seen_samples));
            seen_samples += (uint64_t)n;
            CHECK(tdl_feed(m.g, m.x, xbuf, 4, (int64_t[]){n, 1, 28, 28}));
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
        tr_loss[epoch - 1] = loss_sum / (double)batches;
        tr_acc[epoch - 1] = tdl_metrics_accuracy(metrics);
        te_acc[epoch - 1] = evaluate(&m, test, metrics, NULL, &te_loss[epoch - 1]);
        printf("  test loss %.4f, test accuracy %.2f%%\n", te_loss[epoch - 1],
               100.0 * te_acc[epoch - 1]);
        epochs_done = epoch;
        /* stop before an epoch that would end past the budget (its length is
         * predicted by the slowest epoch so far) */
        double elapsed = progress_now() - train_start;
        slowest = elapsed - last_end > slowest ? elapsed - last_end : slowest;
        last_end = elapsed;
        if (elapsed + slowest > budget && epoch < o.epochs) {
            printf("stopping after %d epochs: another would pass the %.1f-minute budget\n", epoch,
                   o.minutes);
            break;
        }
    }
    double train_s = progress_now() - train_start;

    int64_t n_test = tdl_dataset_size(test);
    float *logits_a = malloc(sizeof(float) * (size_t)n_test * 10);
    float *logits_b = malloc(sizeof(float) * (size_t)n_test * 10);
    if (!logits_a || !logits_b)
        return 1;
    double acc = evaluate(&m, test, metrics, logits_a, NULL);
    char report[8192];
    CHECK(tdl_metrics_report(metrics, class_names, report, sizeof report, NULL));
    printf("\n%s\n", report);
    printf("test accuracy: %.2f%% after %d epochs (%.1f s of training, %lld trainable "
           "parameters)\n",
           100.0 * acc, epochs_done, train_s, (long long)trainable);

    char path[1024];
    snprintf(path, sizeof path, "%s/fmnist_cnn.svg", o.out);
    plot_series losses[2] = {{"train", "#1f77b4", tr_loss}, {"test", "#d62728", te_loss}};
    plot_series accs[2] = {{"train", "#1f77b4", tr_acc}, {"test", "#d62728", te_acc}};
    if (svg_write_curves(path, "Fashion-MNIST CNN (tiny-dl)", epochs_done, losses, 2, accs, 2))
        fprintf(stderr, "could not write %s\n", path);
    else
        printf("training curves written to %s\n", path);

    snprintf(path, sizeof path, "%s/fmnist_cnn.safetensors", o.out);
    CHECK(tdl_save_weights(m.g, path));
    printf("saved weights (with batch-norm statistics) to %s\n", path);

    model r;
    CHECK(tdl_ctx_set_seed(ctx, 1234)); /* different init, so the load must do the work */
    build_model(ctx, &r, o.dropout);
    CHECK(tdl_load_weights(r.g, path));
    double acc2 = evaluate(&r, test, metrics, logits_b, NULL);
    int same = memcmp(logits_a, logits_b, sizeof(float) * (size_t)n_test * 10) == 0;
    printf("reloaded model: test accuracy %.2f%%, outputs %s\n", 100.0 * acc2,
           same ? "identical" : "DIFFERENT");

    free(logits_a);
    free(logits_b);
    free(xbuf);
    free(curves);
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
