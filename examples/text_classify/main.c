/* Which file of the fortunes corpus does an entry come from? Text classification over the
 * categories (file names) from the entry's bytes, truncated to --max-len bytes.
 *
 *   Model A (--model fasttext, the default): fastText-style. Each entry is a bag of byte
 *   n-grams (bytes, plus hashed byte bigrams and trigrams with --ngrams 3) -> embedding ->
 *   mean over the entry's real length (tdl_masked_mean_time with the lengths of the padded
 *   sequences) -> dense softmax over the categories.
 *   Model B (--model lstm): bytes -> embedding -> LSTM (with the lengths) -> the final hidden
 *   state (--pool last) or the mean of the outputs over the real length (--pool mean) -> dense.
 *
 * The entries of every category are split 80/20 into train and test (every 5th entry of a
 * category is a test entry). Prints accuracy, macro-F1 and per-class scores on the test split
 * against the majority-class baseline, and the confusion matrix of the --top largest
 * categories (the others pooled; --top 0 prints the whole matrix).
 *
 *   text_classify [--model fasttext|lstm] [--epochs N] [--batch N] [--lr X] [--max-len N]
 *                 [--embed N] [--hidden N] [--ngrams 1..3] [--buckets N] [--pool last|mean]
 *                 [--top N] [--threads N] [--seed N] [--data DIR] [--out DIR]
 *
 * Saves the weights to DIR/text_<model>.safetensors and checks that a reloaded model gives the
 * same test predictions. Exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiny-dl/tiny-dl.h>

#include "fortunes.h"
#include "out_dir.h"

#define CHECK(call)                                                                                \
    do {                                                                                           \
        tdl_status st_ = (call);                                                                   \
        if (st_ != TDL_OK) {                                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,              \
                    tdl_last_error(), tdl_status_string(st_));                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct options {
    const char *data, *out, *model, *pool;
    int epochs, threads, ngrams, top;
    int64_t batch, max_len, embed, hidden, buckets;
    double lr;
    uint64_t seed;
} options;

typedef struct model {
    tdl_graph *g;
    int lstm;
    int64_t T, vocab;
    tdl_node *ids, *lengths, *labels, *logits, *loss;
} model;

/* A split: entries encoded as token ids (padded to T), their lengths and labels. */
typedef struct split {
    int64_t n;
    int32_t *ids; /* [n, T] */
    int32_t *len; /* [n] */
    int32_t *label;
} split;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void build_model(tdl_ctx *ctx, model *m, const options *o, int32_t classes)
{
    m->lstm = !strcmp(o->model, "lstm");
    m->T = m->lstm ? o->max_len : o->max_len * o->ngrams;
    m->vocab = m->lstm || o->ngrams == 1 ? 256 : 256 + o->buckets;
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->ids = tdl_input(g, "ids", TDL_I32, 2, (int64_t[]){TDL_BATCH, m->T});
    m->lengths = tdl_input(g, "lengths", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    m->labels = tdl_input(g, "labels", TDL_I32, 1, (int64_t[]){TDL_BATCH});
    /* id 0 (the byte NUL, absent from text) pads; its row stays zero */
    tdl_node *e = tdl_embedding(g, m->ids, m->vocab, o->embed, 0, "emb");
    tdl_node *features;
    if (!m->lstm) {
        features = tdl_masked_mean_time(g, e, m->lengths, 1);
    } else {
        tdl_node *r = tdl_rnn(g, e, NULL, NULL, m->lengths, TDL_RNN_LSTM, o->hidden, 1,
                              TDL_RNN_BATCH_FIRST, 0.0f, "lstm");
        if (!strcmp(o->pool, "mean"))
            features = tdl_masked_mean_time(g, r, m->lengths, 1);
        else
            features = tdl_reshape(g, tdl_rnn_final_state(g, r, TDL_RNN_STATE_H), 2,
                                   (int64_t[]){-1, o->hidden});
    }
    m->logits = tdl_dense(g, features, classes, "out");
    m->loss = tdl_cross_entropy(g, m->logits, m->labels);
    if (tdl_graph_compile(g) != TDL_OK) {
        fprintf(stderr, "building the model failed: %s\n", tdl_graph_error(g));
        exit(1);
    }
    if (!m->lstm) {
        /* fastText's initialisation, U(-1/dim, 1/dim), instead of N(0, 1): the mean of a few
         * hundred rows then starts small and every n-gram starts on an equal footing */
        tdl_node *w = tdl_graph_find(g, "emb.weight");
        float *v = tdl_param_data(w);
        uint64_t s = o->seed * 0x9E3779B97F4A7C15ull + 7;
        for (int64_t i = o->embed; i < m->vocab * o->embed; ++i) { /* row 0 stays zero */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v[i] = ((float)(s >> 40) / (float)(1 << 24) * 2.0f - 1.0f) / (float)o->embed;
        }
    }
}

static uint32_t hash_bytes(const unsigned char *p, int n)
{
    uint32_t h = 2166136261u; /* FNV-1a, with the n-gram length mixed in */
    for (int i = 0; i < n; ++i)
        h = (h ^ p[i]) * 16777619u;
    return (h ^ (uint32_t)n) * 16777619u;
}

/* Tokens of one entry into row (T ids): its bytes (1..255), then with ngrams >= 2 its hashed
 * bigrams and trigrams (256 + hash % buckets); returns the count (>= 1). */
static int32_t encode(const fortune *e, const options *o, int lstm, int32_t *row)
{
    int32_t n = e->len < o->max_len ? e->len : (int32_t)o->max_len, k = 0;
    const unsigned char *p = (const unsigned char *)e->text;
    for (int32_t i = 0; i < n; ++i)
        row[k++] = p[i] ? p[i] : ' ';
    for (int g = 2; !lstm && g <= o->ngrams; ++g)
        for (int32_t i = 0; i + g <= n; ++i)
            row[k++] = 256 + (int32_t)(hash_bytes(p + i, g) % (uint32_t)o->buckets);
    return k > 0 ? k : 1;
}

static void make_splits(const fortunes *f, const options *o, const model *m, split *train,
                        split *test)
{
    split *s[2] = {train, test};
    for (int k = 0; k < 2; ++k) {
        s[k]->n = 0;
        s[k]->ids = xcalloc((size_t)(f->n_entries * m->T), sizeof(int32_t));
        s[k]->len = xcalloc((size_t)f->n_entries, sizeof(int32_t));
        s[k]->label = xcalloc((size_t)f->n_entries, sizeof(int32_t));
    }
    for (int64_t i = 0; i < f->n_entries; ++i) {
        const fortune *e = &f->entries[i];
        split *d = e->rank % 5 == 4 ? test : train; /* 20 % of every category, stratified */
        d->len[d->n] = encode(e, o, m->lstm, d->ids + d->n * m->T);
        d->label[d->n] = e->category;
        d->n++;
    }
}

/* Logits of a whole split, in eval mode, into out [n, classes]. */
static void predict(model *m, const split *s, int64_t batch, int32_t classes, float *out)
{
    CHECK(tdl_graph_set_training(m->g, 0));
    for (int64_t i = 0; i < s->n; i += batch) {
        int64_t b = s->n - i < batch ? s->n - i : batch;
        CHECK(tdl_feed(m->g, m->ids, s->ids + i * m->T, 2, (int64_t[]){b, m->T}));
        CHECK(tdl_feed(m->g, m->lengths, s->len + i, 1, (int64_t[]){b}));
        CHECK(tdl_run(m->g, m->logits));
        CHECK(tdl_node_read(m->logits, out + i * classes, sizeof(float) * (size_t)(b * classes)));
    }
    CHECK(tdl_graph_set_training(m->g, 1));
}

/* The report of tdl_metrics_report() without its confusion matrix. */
static void print_report(const tdl_metrics *mt, const char *const *names, int with_matrix)
{
    size_t need;
    CHECK(tdl_metrics_report(mt, names, NULL, 0, &need));
    char *buf = xcalloc(need + 1, 1);
    CHECK(tdl_metrics_report(mt, names, buf, need + 1, NULL));
    char *cut = with_matrix ? NULL : strstr(buf, "\nconfusion matrix");
    if (cut)
        cut[1] = '\0';
    printf("%s", buf);
    free(buf);
}

static void usage_exit(const char *what)
{
    fprintf(stderr, "%s (see the comment at the top of examples/text_classify/main.c)\n", what);
    exit(2);
}

static void parse(int argc, char **argv, options *o)
{
    o->data = fortunes_default_dir();
    o->out = ".";
    o->model = "fasttext";
    o->pool = "last";
    o->epochs = -1; /* default per model, below */
    o->threads = 2;
    o->ngrams = 3;
    o->top = 12;
    o->batch = 32;
    o->max_len = 256;
    o->embed = -1;
    o->hidden = 128;
    o->buckets = 1 << 16;
    o->lr = -1;
    o->seed = 1;
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
        else if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--pool"))
            o->pool = v;
        else if (!strcmp(a, "--epochs"))
            o->epochs = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--ngrams"))
            o->ngrams = atoi(v);
        else if (!strcmp(a, "--top"))
            o->top = atoi(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoll(v);
        else if (!strcmp(a, "--max-len"))
            o->max_len = atoll(v);
        else if (!strcmp(a, "--embed"))
            o->embed = atoll(v);
        else if (!strcmp(a, "--hidden"))
            o->hidden = atoll(v);
        else if (!strcmp(a, "--buckets"))
            o->buckets = atoll(v);
        else if (!strcmp(a, "--lr"))
            o->lr = atof(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            usage_exit("usage");
        }
    }
    int lstm = !strcmp(o->model, "lstm");
    if (!lstm && strcmp(o->model, "fasttext"))
        usage_exit("--model must be fasttext or lstm");
    if (strcmp(o->pool, "last") && strcmp(o->pool, "mean"))
        usage_exit("--pool must be last or mean");
    if (o->epochs < 0)
        o->epochs = lstm ? 4 : 10;
    if (o->lr < 0)
        o->lr = lstm ? 3e-3 : 1e-2;
    if (o->embed < 0)
        o->embed = 64;
    if (o->epochs < 1 || o->batch < 1 || o->max_len < 1 || o->embed < 1 || o->hidden < 1 ||
        o->ngrams < 1 || o->ngrams > 3 || o->buckets < 1 || o->buckets > (1 << 24) || o->lr <= 0 ||
        o->top < 0)
        usage_exit("an option is out of range");
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    out_dir_require(o.out); /* before the training, not after */
    printf("%s\n", tdl_build_info());

    fortunes f;
    char err[512];
    if (fortunes_load(o.data, &f, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int32_t C = f.n_categories;
    const char *const *names = (const char *const *)f.categories;

    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, o.threads));
    CHECK(tdl_ctx_set_seed(ctx, o.seed));
    model m;
    build_model(ctx, &m, &o, C);
    split train, test;
    make_splits(&f, &o, &m, &train, &test);
    printf("fortunes: %lld entries in %d categories; train %lld, test %lld (every 5th entry of "
           "each category); texts cut to %lld bytes\n",
           (long long)f.n_entries, C, (long long)train.n, (long long)test.n, (long long)o.max_len);
    if (m.lstm)
        printf("model B: bytes -> embedding %lld -> LSTM %lld (lengths) -> %s -> dense %d\n",
               (long long)o.embed, (long long)o.hidden,
               strcmp(o.pool, "mean") ? "final hidden state" : "masked mean over time", C);
    else
        printf("model A (fastText-style): byte %s-grams (%lld hash buckets) -> embedding %lld -> "
               "masked mean over time -> dense %d\n",
               (const char *[]){"", "1", "1,2", "1,2,3"}[o.ngrams], (long long)o.buckets,
               (long long)o.embed, C);
    printf("%lld parameters; Adam %g with cosine decay, batch %lld, %d epochs, %d threads\n",
           (long long)tdl_graph_param_elements(m.g), o.lr, (long long)o.batch, o.epochs, o.threads);

    /* the majority-class baseline: always predict the largest category of the train split */
    int64_t *count = xcalloc((size_t)C, sizeof(int64_t));
    for (int64_t i = 0; i < train.n; ++i)
        count[train.label[i]]++;
    int32_t major = 0;
    for (int32_t c = 1; c < C; ++c)
        major = count[c] > count[major] ? c : major;
    tdl_metrics *mt;
    CHECK(tdl_metrics_create(ctx, C, &mt));
    int32_t *pred = xcalloc((size_t)test.n, sizeof(int32_t));
    for (int64_t i = 0; i < test.n; ++i)
        pred[i] = major;
    CHECK(tdl_metrics_update(mt, pred, test.label, test.n));
    double base_acc = tdl_metrics_accuracy(mt), base_f1 = tdl_metrics_macro_f1(mt);

    CHECK(tdl_build_gradients(m.g, m.loss));
    tdl_optim *opt;
    CHECK(tdl_optim_create_adam(m.g, (float)o.lr, &opt));
    int64_t per_epoch = (train.n + o.batch - 1) / o.batch;
    CHECK(tdl_optim_set(opt, TDL_OPT_SCHEDULE, TDL_SCHED_COSINE));
    CHECK(tdl_optim_set(opt, TDL_OPT_TOTAL_STEPS, (double)(per_epoch * o.epochs)));
    if (m.lstm)
        CHECK(tdl_optim_set(opt, TDL_OPT_CLIP_NORM, 1.0));
    int64_t *order = xcalloc((size_t)train.n, sizeof(int64_t));
    for (int64_t i = 0; i < train.n; ++i)
        order[i] = i;
    int32_t *bx = xcalloc((size_t)(o.batch * m.T), sizeof(int32_t));
    int32_t *bl = xcalloc((size_t)o.batch, sizeof(int32_t));
    int32_t *by = xcalloc((size_t)o.batch, sizeof(int32_t));
    float *logits = xcalloc((size_t)(test.n * C), sizeof(float));
    float *logits2 = xcalloc((size_t)(test.n * C), sizeof(float));
    uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull + 3;
    int tty = isatty(fileno(stdout));
    double start = now();
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        for (int64_t i = train.n - 1; i > 0; --i) { /* shuffle */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int64_t j = (int64_t)((rng >> 33) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double loss_sum = 0, t0 = now(), last_draw = 0;
        int64_t right = 0, seen = 0;
        for (int64_t s = 0; s < per_epoch; ++s) {
            int64_t b = train.n - s * o.batch < o.batch ? train.n - s * o.batch : o.batch;
            for (int64_t k = 0; k < b; ++k) {
                int64_t src = order[s * o.batch + k];
                memcpy(bx + k * m.T, train.ids + src * m.T, sizeof(int32_t) * (size_t)m.T);
                bl[k] = train.len[src];
                by[k] = train.label[src];
            }
            CHECK(tdl_feed(m.g, m.ids, bx, 2, (int64_t[]){b, m.T}));
            CHECK(tdl_feed(m.g, m.lengths, bl, 1, (int64_t[]){b}));
            CHECK(tdl_feed(m.g, m.labels, by, 1, (int64_t[]){b}));
            CHECK(tdl_forward(m.g));
            float loss;
            CHECK(tdl_node_read(m.loss, &loss, sizeof loss));
            const float *z = tdl_node_data(m.logits);
            for (int64_t k = 0; k < b; ++k) {
                int32_t best = 0;
                for (int32_t c = 1; c < C; ++c)
                    best = z[k * C + c] > z[k * C + best] ? c : best;
                right += best == by[k];
            }
            CHECK(tdl_backward(m.g, m.loss));
            CHECK(tdl_optim_step(opt));
            loss_sum += (double)loss * (double)b;
            seen += b;
            double t = now();
            if (tty && (t - last_draw > 0.2 || s + 1 == per_epoch)) {
                last_draw = t;
                char bar[25];
                for (int i = 0; i < 24; ++i)
                    bar[i] = i < 24 * (s + 1) / per_epoch ? '#' : '.';
                bar[24] = '\0';
                printf("\repoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f texts/s ETA %.1fs "
                       "\033[K",
                       epoch, o.epochs, bar, (long long)(s + 1), (long long)per_epoch,
                       loss_sum / (double)seen, 100.0 * (double)right / (double)seen,
                       (double)seen / (t - t0),
                       (t - t0) * (double)(per_epoch - s - 1) / (double)(s + 1));
                fflush(stdout);
            }
        }
        predict(&m, &test, 256, C, logits);
        CHECK(tdl_metrics_reset(mt));
        CHECK(tdl_metrics_update_scores(mt, logits, test.label, test.n));
        printf("%sepoch %d/%d: train loss %.4f acc %.2f%% | test acc %.2f%% macro-F1 %.4f | "
               "%.1f s (%.0f texts/s)\n",
               tty ? "\r\033[K" : "", epoch, o.epochs, loss_sum / (double)seen,
               100.0 * (double)right / (double)seen, 100.0 * tdl_metrics_accuracy(mt),
               tdl_metrics_macro_f1(mt), now() - t0, (double)seen / (now() - t0));
    }
    double train_s = now() - start;

    printf("\nper-category scores on the test split:\n");
    print_report(mt, names, o.top == 0 || o.top >= C);
    double acc = tdl_metrics_accuracy(mt), f1 = tdl_metrics_macro_f1(mt);
    if (o.top > 0 && o.top < C) {
        /* the confusion matrix of the `top` largest categories, the rest pooled as "(other)" */
        int32_t *rank = xcalloc((size_t)C, sizeof(int32_t)), *map = xcalloc((size_t)C, 4);
        for (int32_t c = 0; c < C; ++c)
            rank[c] = c;
        for (int32_t i = 0; i < C; ++i) /* by size, descending; ties by name */
            for (int32_t j = i + 1; j < C; ++j)
                if (f.per_category[rank[j]] > f.per_category[rank[i]]) {
                    int32_t t = rank[i];
                    rank[i] = rank[j];
                    rank[j] = t;
                }
        const char **top_names = xcalloc((size_t)o.top + 1, sizeof(char *));
        for (int32_t c = 0; c < C; ++c)
            map[c] = o.top;
        for (int32_t i = 0; i < o.top; ++i) {
            map[rank[i]] = i;
            top_names[i] = names[rank[i]];
        }
        top_names[o.top] = "(other)";
        tdl_metrics *tm;
        CHECK(tdl_metrics_create(ctx, o.top + 1, &tm));
        for (int64_t i = 0; i < test.n; ++i) {
            int32_t best = 0;
            for (int32_t c = 1; c < C; ++c)
                best = logits[i * C + c] > logits[i * C + best] ? c : best;
            int32_t p = map[best], t = map[test.label[i]];
            CHECK(tdl_metrics_update(tm, &p, &t, 1));
        }
        size_t need;
        CHECK(tdl_metrics_report(tm, top_names, NULL, 0, &need));
        char *buf = xcalloc(need + 1, 1);
        CHECK(tdl_metrics_report(tm, top_names, buf, need + 1, NULL));
        const char *matrix = strstr(buf, "\nconfusion matrix");
        printf("\nthe %d largest categories, the other %d pooled as (other):%s", o.top, C - o.top,
               matrix ? matrix : "\n");
        free(buf);
        tdl_metrics_destroy(tm);
        free(top_names);
        free(rank);
        free(map);
    }
    printf("\n%s: test accuracy %.2f%%, macro-F1 %.4f after %d epochs (%.1f s of training)\n",
           m.lstm ? "LSTM" : "fastText-style", 100.0 * acc, f1, o.epochs, train_s);
    printf("majority-class baseline (always '%s'): accuracy %.2f%%, macro-F1 %.4f\n", names[major],
           100.0 * base_acc, base_f1);

    char path[1024];
    snprintf(path, sizeof path, "%s/text_%s.safetensors", o.out, o.model);
    CHECK(tdl_save_weights(m.g, path));
    model r;
    CHECK(tdl_ctx_set_seed(ctx, o.seed + 1000));
    build_model(ctx, &r, &o, C);
    CHECK(tdl_load_weights(r.g, path));
    predict(&r, &test, 256, C, logits2);
    int same = !memcmp(logits, logits2, sizeof(float) * (size_t)(test.n * C));
    printf("saved weights to %s; the reloaded model's test outputs are %s\n", path,
           same ? "identical" : "DIFFERENT");

    tdl_graph_destroy(r.g);
    tdl_graph_destroy(m.g);
    tdl_optim_destroy(opt);
    tdl_metrics_destroy(mt);
    free(count);
    free(pred);
    free(order);
    free(bx);
    free(bl);
    free(by);
    free(logits);
    free(logits2);
    split *s[2] = {&train, &test};
    for (int k = 0; k < 2; ++k) {
        free(s[k]->ids);
        free(s[k]->len);
        free(s[k]->label);
    }
    fortunes_free(&f);
    tdl_ctx_destroy(ctx);
    return same ? 0 : 1;
}
