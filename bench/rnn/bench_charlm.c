/* The byte-level language model of shared/anchors/torch_charlm_rnn.py built with
 * tiny-dl: Embedding(V, 64) -> 1-layer LSTM or GRU 256 -> Linear(256, V), on the
 * fortunes corpus (files in name order, skipping .dat/.u8 and links; vocabulary =
 * the bytes present), seq 64, batch 32, Adam 2e-3, random windows.
 *
 *   bench_charlm train --cell lstm|gru [--threads N] [--steps N]
 *       20 warm-up steps, then --steps (default 300) in chunks of 25; tokens/s per
 *       chunk = 32 * 64 * 25 / seconds, median reported (as the reference).
 *   bench_charlm generate --cell lstm|gru [--threads N] [--chars N]
 *       one character at a time with the step API: embedding row -> recurrent
 *       step -> linear head (tdl_run on a [1, 256] input, the transposed weight
 *       made once) -> sampling at
 *       temperature 0.8; best of 5 runs of --chars (default 1000) characters.
 *
 * Prints "RESULT <tag> <json>" lines (bench/rnn/run.sh compares them). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <tiny-dl/tiny-dl.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != TDL_OK) {                                                                    \
            fprintf(stderr, "%s failed: %s\n", #call, tdl_last_error());                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { EMB = 64, HID = 256, BATCH = 32, SEQ = 64 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The corpus as vocabulary ids; returns the vocabulary size. */
static int load_corpus(const char *dir, int32_t **ids_out, int64_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s (apt-get install fortunes)\n", dir);
        exit(1);
    }
    char **names = NULL;
    size_t n_names = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (len > 4 && !strcmp(e->d_name + len - 4, ".dat")) ||
            (len > 3 && !strcmp(e->d_name + len - 3, ".u8")))
            continue;
        names = realloc(names, sizeof(char *) * (n_names + 1));
        names[n_names++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n_names, sizeof(char *), cmp_str);
    unsigned char *raw = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n_names; ++i) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            FILE *f = fopen(path, "rb");
            if (f) {
                raw = realloc(raw, total + (size_t)st.st_size);
                total += fread(raw + total, 1, (size_t)st.st_size, f);
                fclose(f);
            }
        }
        free(names[i]);
    }
    free(names);
    int lut[256], vocab = 0;
    int present[256] = {0};
    for (size_t i = 0; i < total; ++i)
        present[raw[i]] = 1;
    for (int b = 0; b < 256; ++b)
        lut[b] = present[b] ? vocab++ : -1;
    int32_t *ids = malloc(sizeof(int32_t) * total);
    for (size_t i = 0; i < total; ++i)
        ids[i] = lut[raw[i]];
    free(raw);
    *ids_out = ids;
    *n_out = (int64_t)total;
    return vocab;
}

typedef struct lm {
    tdl_graph *g;
    tdl_node *x, *y, *rnn, *loss, *h_step, *logits_step;
} lm;

static void build(tdl_ctx *ctx, lm *m, int kind, int64_t vocab)
{
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->x = tdl_input(g, "x", TDL_I32, 2, (int64_t[]){TDL_BATCH, SEQ});
    m->y = tdl_input(g, "y", TDL_I32, 2, (int64_t[]){TDL_BATCH, SEQ});
    tdl_node *e = tdl_embedding(g, m->x, vocab, EMB, -1, "emb");
    m->rnn = tdl_rnn(g, e, NULL, NULL, NULL, kind, HID, 1, TDL_RNN_BATCH_FIRST, 0.0f, "rnn");
    tdl_node *flat = tdl_reshape(g, m->rnn, 2, (int64_t[]){-1, HID});
    tdl_node *labels = tdl_reshape(g, m->y, 1, (int64_t[]){-1});
    m->loss = tdl_cross_entropy(g, tdl_dense(g, flat, vocab, "out"), labels);
    /* the head for one step of generation: the weights are fixed while generating,
     * so the transposed weight is made once, as a constant (no per-step transpose) */
    m->h_step = tdl_input(g, "h_step", TDL_F32, 2, (int64_t[]){1, HID});
    tdl_node *w = tdl_graph_find(g, "out.weight"), *b = tdl_graph_find(g, "out.bias");
    const float *wd = tdl_param_data(w);
    float *wt = malloc(sizeof(float) * (size_t)(vocab * HID));
    for (int64_t i = 0; i < vocab; ++i)
        for (int64_t j = 0; j < HID; ++j)
            wt[j * vocab + i] = wd[i * HID + j];
    tdl_node *w_t = tdl_constant(g, "out.weight_t", wt, 2, (int64_t[]){HID, vocab});
    free(wt);
    m->logits_step = tdl_add(g, tdl_matmul(g, m->h_step, w_t), b);
    CHECK(tdl_graph_compile(g));
}

static int32_t *windows(const int32_t *ids, int64_t n, uint64_t *rng, int32_t *x, int32_t *y)
{
    for (int b = 0; b < BATCH; ++b) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        int64_t start = (int64_t)((*rng >> 17) % (uint64_t)(n - SEQ - 1));
        for (int t = 0; t < SEQ; ++t) {
            x[b * SEQ + t] = ids[start + t];
            y[b * SEQ + t] = ids[start + t + 1];
        }
    }
    return x;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "train";
    const char *cell = "lstm";
    int threads = 2, steps = 300, chars = 1000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--cell"))
            cell = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chars"))
            chars = atoi(argv[i + 1]);
    }
    int kind = !strcmp(cell, "gru") ? TDL_RNN_GRU : TDL_RNN_LSTM;
    if (steps < 25 || chars < 1) {
        fprintf(stderr, "--steps must be >= 25 and --chars >= 1\n");
        return 2;
    }
    int32_t *ids;
    int64_t n;
    int vocab = load_corpus("/usr/share/games/fortunes", &ids, &n);
    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, threads));
    CHECK(tdl_ctx_set_seed(ctx, 0));
    lm m;
    build(ctx, &m, kind, vocab);
    printf("RESULT env {\"build\": \"%s\", \"threads\": %d, \"cell\": \"%s\", \"vocab\": %d, "
           "\"corpus_bytes\": %lld}\n",
           tdl_build_info(), threads, cell, vocab, (long long)n);
    if (!strcmp(mode, "train")) {
        tdl_optim *opt;
        CHECK(tdl_optim_create_adam(m.g, 2e-3f, &opt));
        int32_t x[BATCH * SEQ], y[BATCH * SEQ];
        static const float zeros[HID];
        CHECK(tdl_feed(m.g, m.h_step, zeros, 2, (int64_t[]){1, HID})); /* the generation head */
        uint64_t rng = 1;
        int chunks = steps / 25;
        double *rates = calloc((size_t)chunks, sizeof(double));
        float loss = 0;
        for (int s = 0; s < 20 + chunks * 25; ++s) {
            static double t0;
            if (s >= 20 && (s - 20) % 25 == 0)
                t0 = now();
            windows(ids, n, &rng, x, y);
            CHECK(tdl_feed(m.g, m.x, x, 2, (int64_t[]){BATCH, SEQ}));
            CHECK(tdl_feed(m.g, m.y, y, 2, (int64_t[]){BATCH, SEQ}));
            CHECK(tdl_forward(m.g));
            CHECK(tdl_backward(m.g, m.loss));
            CHECK(tdl_optim_step(opt));
            if (s >= 20 && (s - 20) % 25 == 24)
                rates[(s - 20) / 25] = (double)BATCH * SEQ * 25 / (now() - t0);
        }
        CHECK(tdl_node_read(m.loss, &loss, sizeof loss));
        qsort(rates, (size_t)chunks, sizeof(double), cmp_double);
        double med =
            chunks % 2 ? rates[chunks / 2] : 0.5 * (rates[chunks / 2 - 1] + rates[chunks / 2]);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("RESULT summary {\"cell\": \"%s\", \"threads\": %d, \"steps\": %d, "
               "\"tokens_per_s_chunks\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}, "
               "\"last_loss\": %.4f, \"peak_rss_mib\": %.1f}\n",
               cell, threads, chunks * 25, med, rates[0], rates[chunks - 1], loss,
               (double)ru.ru_maxrss / 1024.0);
        free(rates);
        tdl_optim_destroy(opt);
    } else {
        tdl_rnn_state *st;
        CHECK(tdl_rnn_state_create(m.g, m.rnn, 1, &st));
        const float *table = tdl_param_data(tdl_graph_find(m.g, "emb.weight"));
        float h[HID];
        double best = 1e30;
        uint64_t counter = 0;
        for (int run = 0; run < 6; ++run) { /* run 0 warms up */
            CHECK(tdl_rnn_state_reset(st));
            int32_t id = 1;
            double t0 = now();
            for (int c = 0; c < chars; ++c) {
                CHECK(tdl_rnn_state_step(st, table + (int64_t)id * EMB, h));
                CHECK(tdl_feed(m.g, m.h_step, h, 2, (int64_t[]){1, HID}));
                CHECK(tdl_run(m.g, m.logits_step));
                CHECK(tdl_sample_logits(tdl_node_data(m.logits_step), vocab, 0.8f, 0, 7, counter++,
                                        &id));
            }
            double per = (now() - t0) / chars;
            if (run > 0 && per < best)
                best = per;
        }
        printf("RESULT summary {\"cell\": \"%s\", \"threads\": %d, \"chars\": %d, "
               "\"us_per_char_best\": %.2f, \"chars_per_s\": %.1f}\n",
               cell, threads, chars, best * 1e6, 1.0 / best);
        tdl_rnn_state_destroy(st);
    }
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
    free(ids);
    return 0;
}
