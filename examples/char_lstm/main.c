/* Byte-level language model on the fortunes corpus: embedding (64) -> 2-layer LSTM 384 (or GRU
 * 448) -> dense over the 256 byte values (the dense layer reads both layers' outputs), trained with
 * truncated backpropagation through time (the state is carried from one window to the next), Adam
 * and gradient clipping; validation and the saved model use an exponential moving average of the
 * weights. Every 20th entry is held out for validation. Losses are in bits per character
 * (cross-entropy / ln 2). After training it checks that the step API gives the sequence graph's
 * logits on a validation window, saves the weights, reloads them into a fresh graph, and generates
 * text from a prompt with the step API (both models must write the same text).
 *
 *   char_lstm [--cell lstm|gru] [--minutes X] [--steps N] [--threads N] [--seed N]
 *             [--batch N] [--seq N] [--lr X] [--clip X] [--dropout X] [--weight-drop X]
 *             [--hidden N] [--layers N] [--embed N] [--evals N] [--decay 0|1|2]
 *             [--decay-from F] [--final-lr F]
 *             [--beta2 X] [--ema X] [--weight-decay X] [--forget-bias X] [--orthogonal 0|1]
 *             [--skip 0|1|2] [--trace N]
 *             [--data DIR] [--out DIR] [--load FILE]
 *             [--prompt TEXT] [--temperature X] [--top-k N] [--chars N]
 *
 * Defaults: batch 32 x 32 bytes, hidden 384 (LSTM) or 448 (GRU), skip connections from every
 * layer to the output (--skip 1), dropout 0.1 between the layers for the GRU (none for the
 * LSTM), Adam at 3e-3 (LSTM) or 1e-3 (GRU) with beta2 0.99, constant for the first --decay-from
 * (0.4) of the time budget then cosine decay (--decay 2: linear; 0: none) to --final-lr (0.05)
 * times the rate, clip 1, weight average decay --ema 0.999 per step (0: evaluate and save the last
 * weights), no weight decay (--weight-decay X: AdamW), validation at 1/3 and 2/3 of the run
 * (--evals N) and at the end. --forget-bias sets the initial bias of the LSTM's forget gates or the
 * GRU's update gates; --weight-drop X drops each recurrent weight with probability X in every
 * training step (DropConnect, tdl_rnn_set_weight_dropout()); --orthogonal 1 starts each gate's
 * recurrent weights from a random orthogonal matrix; --skip 1 feeds every layer's output (not only
 * the top layer's) to the output layer, one tdl_rnn() node per layer, and --skip 2 also the bytes'
 * embedding to every layer (the skip connections of Graves' character models);
 * --trace N prints loss and gradient norm of the first N steps.
 *
 * Training stops after --minutes (default 10) or --steps, whichever comes first;
 * --minutes 0 with --load only evaluates and generates. Exits non-zero on any failure. */
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

enum { VOCAB = 256 }; /* bytes: the model file needs no vocabulary beside it */

typedef struct options {
    const char *data, *out, *load, *prompt, *cell;
    double minutes, lr, clip, dropout, weight_drop, temperature, beta2, decay_from, final_lr,
        forget_bias, ema, weight_decay;
    int64_t steps, batch, seq, hidden, embed, chars;
    int threads, layers, evals, top_k, decay, trace, orthogonal, skip;
    uint64_t seed;
} options;

enum { MAX_LAYERS = 8 };

/* The recurrent layers are one fused tdl_rnn() node, or with --skip 1 one node per layer (the
 * output layer then reads every layer's output). Node i holds state rows
 * [i * per_node, (i + 1) * per_node) of the [layers, B, H] state. */
typedef struct model {
    tdl_graph *g;
    int kind, skip;
    int64_t hidden, embed, seq;
    int32_t layers, nodes, per_node;
    int64_t head; /* width of the output layer's input: H, or layers * H with skip connections */
    tdl_node *x, *y, *logits, *loss;
    tdl_node *rnn[MAX_LAYERS], *h0[MAX_LAYERS], *c0[MAX_LAYERS], *h_n[MAX_LAYERS], *c_n[MAX_LAYERS];
    tdl_node *h_step, *logits_step; /* the output layer for one step of generation */
} model;

/* A stream of byte ids split into `rows` contiguous segments read side by side. */
typedef struct stream {
    int32_t *ids;
    int64_t n;
} stream;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* A recurrent parameter ("weight_hh", "bias_ih", ...) of layer l, or exits. */
static tdl_node *rnn_param(const model *m, const char *what, int32_t l)
{
    char name[64];
    if (m->skip)
        snprintf(name, sizeof name, "rnn%d.%s_l0", (int)l, what);
    else
        snprintf(name, sizeof name, "rnn.%s_l%d", what, (int)l);
    tdl_node *p = tdl_graph_find(m->g, name);
    if (!p) {
        fprintf(stderr, "parameter %s not found: %s\n", name, tdl_graph_error(m->g));
        exit(1);
    }
    return p;
}

static void build_model(tdl_ctx *ctx, model *m, const options *o)
{
    m->kind = !strcmp(o->cell, "gru") ? TDL_RNN_GRU : TDL_RNN_LSTM;
    m->skip = o->skip;
    m->hidden = o->hidden;
    m->embed = o->embed;
    m->seq = o->seq;
    m->layers = (int32_t)o->layers;
    m->nodes = m->skip ? m->layers : 1;
    m->per_node = m->skip ? 1 : m->layers;
    CHECK(tdl_graph_create(ctx, &m->g));
    tdl_graph *g = m->g;
    m->head = m->skip ? m->layers * m->hidden : m->hidden;
    int64_t H = m->hidden, S = m->per_node, K = m->head;
    m->x = tdl_input(g, "x", TDL_I32, 2, (int64_t[]){TDL_BATCH, m->seq});
    m->y = tdl_input(g, "y", TDL_I32, 2, (int64_t[]){TDL_BATCH, m->seq});
    tdl_node *e = tdl_embedding(g, m->x, VOCAB, m->embed, -1, "emb"), *in = e;
    for (int32_t i = 0; i < m->nodes; ++i) {
        char name[32];
        /* the state carried over from the previous window (truncated BPTT) */
        snprintf(name, sizeof name, "h0_%d", (int)i);
        m->h0[i] = tdl_input(g, name, TDL_F32, 3, (int64_t[]){S, TDL_BATCH, H});
        snprintf(name, sizeof name, "c0_%d", (int)i);
        m->c0[i] = m->kind == TDL_RNN_LSTM
                       ? tdl_input(g, name, TDL_F32, 3, (int64_t[]){S, TDL_BATCH, H})
                       : NULL;
        if (m->skip && i > 0 && o->dropout > 0)
            in = tdl_dropout(g, in, (float)o->dropout);
        if (m->skip == 2 && i > 0) /* the bytes' embedding goes to every layer */
            in = tdl_concat(g, 2, (tdl_node *[]){e, in}, 2);
        if (m->skip)
            snprintf(name, sizeof name, "rnn%d", (int)i);
        else
            snprintf(name, sizeof name, "rnn");
        m->rnn[i] = tdl_rnn(g, in, m->h0[i], m->c0[i], NULL, m->kind, H, (int32_t)S,
                            TDL_RNN_BATCH_FIRST, m->skip ? 0.0f : (float)o->dropout, name);
        if (tdl_rnn_set_weight_dropout(g, m->rnn[i], (float)o->weight_drop) != TDL_OK) {
            fprintf(stderr, "building the model failed: %s\n", tdl_last_error());
            exit(1);
        }
        m->h_n[i] = tdl_rnn_final_state(g, m->rnn[i], TDL_RNN_STATE_H);
        m->c_n[i] = m->c0[i] ? tdl_rnn_final_state(g, m->rnn[i], TDL_RNN_STATE_C) : NULL;
        in = m->rnn[i];
    }
    /* with --skip 1 the output layer sees every layer's output side by side */
    tdl_node *top = m->skip ? tdl_concat(g, m->nodes, m->rnn, 2) : m->rnn[0];
    tdl_node *flat = tdl_reshape(g, top, 2, (int64_t[]){-1, K});
    m->logits = tdl_dense(g, flat, VOCAB, "out");
    m->loss = tdl_cross_entropy(g, m->logits, tdl_reshape(g, m->y, 1, (int64_t[]){-1}));
    /* the same output layer applied to one step's hidden state, sharing the parameters */
    m->h_step = tdl_input(g, "h_step", TDL_F32, 2, (int64_t[]){1, K});
    tdl_node *w = tdl_graph_find(g, "out.weight"), *b = tdl_graph_find(g, "out.bias");
    m->logits_step = tdl_add(g, tdl_matmul(g, m->h_step, tdl_transpose(g, w)), b);
    if (tdl_graph_compile(g) != TDL_OK) {
        fprintf(stderr, "building the model failed: %s\n", tdl_graph_error(g));
        exit(1);
    }
    /* tdl_forward() computes every forward node: give the generation head an input */
    static const float zeros[4096];
    if (K > 4096) {
        fprintf(stderr, "--hidden (times --layers with --skip 1) must be <= 4096\n");
        exit(2);
    }
    CHECK(tdl_feed(g, m->h_step, zeros, 2, (int64_t[]){1, K}));
}

/* Binds each node's initial state to its rows of the [layers, rows, H] state h (and c). */
static void feed_state(model *m, float *h, float *c, int64_t rows)
{
    int64_t shape[3] = {m->per_node, rows, m->hidden};
    for (int32_t i = 0; i < m->nodes; ++i) {
        size_t at = (size_t)(i * m->per_node * rows * m->hidden);
        CHECK(tdl_feed(m->g, m->h0[i], h + at, 3, shape));
        if (m->c0[i])
            CHECK(tdl_feed(m->g, m->c0[i], c + at, 3, shape));
    }
}

/* Copies each node's final state into its rows of h (and c). */
static void read_state(model *m, float *h, float *c, int64_t rows)
{
    size_t per = sizeof(float) * (size_t)(m->per_node * rows * m->hidden);
    for (int32_t i = 0; i < m->nodes; ++i) {
        size_t at = (size_t)(i * m->per_node * rows * m->hidden);
        CHECK(tdl_node_read(m->h_n[i], h + at, per));
        if (m->c_n[i])
            CHECK(tdl_node_read(m->c_n[i], c + at, per));
    }
}

/* The corpus as one byte stream per split: each entry followed by "%\n" (the file format),
 * every 20th entry (index 19, 39, ...) in validation. Both keep the file order, so the carried
 * state can pick up a file's topic (reshuffling the training entries every epoch did worse). */
static void make_streams(const fortunes *f, stream *train, stream *valid)
{
    train->ids = xmalloc(sizeof(int32_t) * (size_t)(f->total_bytes + 2 * f->n_entries));
    valid->ids = xmalloc(sizeof(int32_t) * (size_t)(f->total_bytes + 2 * f->n_entries));
    train->n = valid->n = 0;
    for (int64_t i = 0; i < f->n_entries; ++i) {
        stream *s = i % 20 == 19 ? valid : train;
        const fortune *e = &f->entries[i];
        for (int32_t k = 0; k < e->len; ++k)
            s->ids[s->n++] = (unsigned char)e->text[k];
        s->ids[s->n++] = '%';
        s->ids[s->n++] = '\n';
    }
}

/* Cross-entropy (nats) summed over the valid positions of the last forward, from the logits.
 * valid[i] != 0 marks the positions to count; labels y. */
static double sum_nll(const model *m, const int32_t *y, const unsigned char *valid, int64_t n)
{
    const float *logits = tdl_node_data(m->logits);
    if (!logits) {
        fprintf(stderr, "logits not available: %s\n", tdl_graph_error(m->g));
        exit(1);
    }
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!valid[i])
            continue;
        const float *z = logits + i * VOCAB;
        float mx = z[0];
        for (int k = 1; k < VOCAB; ++k)
            mx = z[k] > mx ? z[k] : mx;
        double se = 0;
        for (int k = 0; k < VOCAB; ++k)
            se += exp((double)(z[k] - mx));
        sum += log(se) + (double)mx - (double)z[y[i]];
    }
    return sum;
}

/* Advances the example's random stream (a 64-bit LCG) and returns its new state. */
static uint64_t lcg_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state;
}

/* Windows of text each validation segment reads before its first scored prediction. */
enum { EVAL_WARMUP_WINDOWS = 4 };

/* Bits per character over the whole stream: `rows` contiguous segments read side by side with
 * the state carried across windows; the tail of the last window is padding, not counted.
 * Segment b > 0 first reads, unscored, the text just before it (the end of segment b - 1), so
 * that every prediction has its preceding text in the state, as when the stream is read in one
 * piece; segment 0 starts from the zero state, like the stream. */
static double evaluate(model *m, const stream *s, int64_t rows)
{
    int64_t T = m->seq, H = m->hidden, L = m->layers;
    int64_t seg = (s->n - 1) / rows; /* predictions per segment */
    int64_t windows = (seg + T - 1) / T;
    int64_t warmup = rows > 1 ? EVAL_WARMUP_WINDOWS : 0;
    if (warmup * T > seg)
        warmup = seg / T;
    int64_t n = rows * T;
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)n), *y = xmalloc(sizeof(int32_t) * (size_t)n);
    unsigned char *valid = xmalloc((size_t)n);
    size_t state_n = (size_t)(L * rows * H);
    float *h[2] = {calloc(state_n, sizeof(float)), calloc(state_n, sizeof(float))};
    float *c[2] = {calloc(state_n, sizeof(float)), calloc(state_n, sizeof(float))};
    if (!h[0] || !h[1] || !c[0] || !c[1]) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    CHECK(tdl_graph_set_training(m->g, 0));
    double nll = 0;
    int64_t count = 0;
    for (int64_t w = -warmup; w < windows; ++w) {
        int cur = (int)(w & 1);
        for (int64_t b = 0; b < rows; ++b)
            for (int64_t t = 0; t < T; ++t) {
                int64_t p = w * T + t, i = b * T + t;
                int readable = p < seg && (p >= 0 || b > 0);
                valid[i] = p >= 0 && p < seg;
                x[i] = readable ? s->ids[b * seg + p] : 0;
                y[i] = readable ? s->ids[b * seg + p + 1] : 0;
                count += valid[i];
            }
        CHECK(tdl_feed(m->g, m->x, x, 2, (int64_t[]){rows, T}));
        CHECK(tdl_feed(m->g, m->y, y, 2, (int64_t[]){rows, T}));
        feed_state(m, h[cur], c[cur], rows);
        CHECK(tdl_forward(m->g));
        nll += sum_nll(m, y, valid, n);
        read_state(m, h[!cur], c[!cur], rows);
        if (w == -1) /* warm-up done: segment 0 starts from the zero state */
            for (int64_t l = 0; l < L; ++l) {
                memset(h[!cur] + l * rows * H, 0, sizeof(float) * (size_t)H);
                memset(c[!cur] + l * rows * H, 0, sizeof(float) * (size_t)H);
            }
    }
    CHECK(tdl_graph_set_training(m->g, 1));
    free(x);
    free(y);
    free(valid);
    for (int i = 0; i < 2; ++i) {
        free(h[i]);
        free(c[i]);
    }
    return nll / (double)count / log(2.0);
}

/* Generation one byte at a time: a streaming state per recurrent node (one sequence), the
 * embedding table, h = the output layer's input (the top layer's h, or with --skip every
 * layer's h side by side) and, for --skip 2, xcat = [embedding, h of the layer below]. */
typedef struct stepper {
    tdl_rnn_state *st[MAX_LAYERS];
    const float *table;
    float *h, *xcat;
} stepper;

static void stepper_open(model *m, stepper *sp)
{
    for (int32_t i = 0; i < m->nodes; ++i)
        CHECK(tdl_rnn_state_create(m->g, m->rnn[i], 1, &sp->st[i]));
    sp->table = tdl_param_data(tdl_graph_find(m->g, "emb.weight"));
    sp->h = xmalloc(sizeof(float) * (size_t)m->head);
    sp->xcat = xmalloc(sizeof(float) * (size_t)(m->embed + m->hidden));
}

static void stepper_close(model *m, stepper *sp)
{
    for (int32_t i = 0; i < m->nodes; ++i)
        tdl_rnn_state_destroy(sp->st[i]);
    free(sp->h);
    free(sp->xcat);
}

/* Feeds byte `id` through every layer; the new output layer input is in sp->h. */
static void stepper_step(model *m, stepper *sp, int32_t id)
{
    const float *x = sp->table + (int64_t)id * m->embed, *in = x;
    for (int32_t i = 0; i < m->nodes; ++i) {
        float *y = sp->h + (m->skip ? i * m->hidden : 0);
        if (m->skip == 2 && i > 0) {
            memcpy(sp->xcat, x, sizeof(float) * (size_t)m->embed);
            memcpy(sp->xcat + m->embed, in, sizeof(float) * (size_t)m->hidden);
            in = sp->xcat;
        }
        CHECK(tdl_rnn_state_step(sp->st[i], in, y));
        in = y;
    }
}

/* The logits of the next byte after the last step (the graph's generation head). */
static const float *stepper_logits(model *m, stepper *sp)
{
    CHECK(tdl_feed(m->g, m->h_step, sp->h, 2, (int64_t[]){1, m->head}));
    CHECK(tdl_run(m->g, m->logits_step));
    return tdl_node_data(m->logits_step);
}

/* Checks that generation sees the model that was trained: the logits of the first window of s
 * (one sequence, zero state, evaluation mode) from the sequence graph and from the step API
 * must agree. Returns the largest difference relative to the largest logit, or exits. */
static double check_step_matches_graph(model *m, const stream *s)
{
    int64_t T = m->seq, state_n = m->layers * m->hidden;
    if (s->n < T + 1)
        return 0;
    float *zero_state = xmalloc(sizeof(float) * (size_t)state_n); /* h0 and c0 */
    float *seq_logits = xmalloc(sizeof(float) * (size_t)(T * VOCAB));
    memset(zero_state, 0, sizeof(float) * (size_t)state_n);
    CHECK(tdl_graph_set_training(m->g, 0));
    CHECK(tdl_feed(m->g, m->x, s->ids, 2, (int64_t[]){1, T}));
    CHECK(tdl_feed(m->g, m->y, s->ids + 1, 2, (int64_t[]){1, T}));
    feed_state(m, zero_state, zero_state, 1);
    CHECK(tdl_forward(m->g));
    CHECK(tdl_node_read(m->logits, seq_logits, sizeof(float) * (size_t)(T * VOCAB)));
    stepper sp;
    stepper_open(m, &sp);
    double worst = 0, scale = 1e-6;
    for (int64_t t = 0; t < T; ++t) {
        stepper_step(m, &sp, s->ids[t]);
        const float *z = stepper_logits(m, &sp);
        for (int k = 0; k < VOCAB; ++k) {
            double a = seq_logits[t * VOCAB + k], d = fabs((double)z[k] - a);
            worst = d > worst ? d : worst;
            scale = fabs(a) > scale ? fabs(a) : scale;
        }
    }
    CHECK(tdl_graph_set_training(m->g, 1));
    stepper_close(m, &sp);
    free(zero_state);
    free(seq_logits);
    if (!(worst / scale <= 1e-4)) {
        fprintf(stderr, "the step API's logits differ from the sequence graph's by %g (of %g)\n",
                worst, scale);
        exit(1);
    }
    return worst / scale;
}

/* Feeds the prompt through a fresh state, then samples `chars` bytes into out (NUL-ended). */
static void generate(model *m, const options *o, char *out)
{
    stepper sp;
    stepper_open(m, &sp);
    size_t plen = strlen(o->prompt);
    int32_t id = '\n'; /* an empty prompt starts as after a line break */
    if (plen == 0)
        stepper_step(m, &sp, id);
    for (size_t i = 0; i < plen; ++i)
        stepper_step(m, &sp, (unsigned char)o->prompt[i]);
    for (int64_t i = 0; i < o->chars; ++i) {
        CHECK(tdl_sample_logits(stepper_logits(m, &sp), VOCAB, (float)o->temperature, o->top_k,
                                o->seed, (uint64_t)i, &id));
        out[i] = (char)id;
        stepper_step(m, &sp, id);
    }
    out[o->chars] = '\0';
    stepper_close(m, &sp);
}

/* Sets the bias of the gate that keeps the old state: the LSTM's forget gate (gate order i, f,
 * g, o) or the GRU's update gate (order r, z, n; h' = (1 - z) n + z h). Both are rows H..2H of
 * bias_ih; bias_hh's rows are set to 0, so the sum the gate sees is `value`. */
static void set_forget_bias(model *m, float value)
{
    for (int32_t l = 0; l < m->layers; ++l) {
        float *bi = tdl_param_data(rnn_param(m, "bias_ih", l));
        float *bh = tdl_param_data(rnn_param(m, "bias_hh", l));
        if (!bi || !bh) {
            fprintf(stderr, "recurrent biases not found: %s\n", tdl_graph_error(m->g));
            exit(1);
        }
        for (int64_t k = m->hidden; k < 2 * m->hidden; ++k) {
            bi[k] = value;
            bh[k] = 0;
        }
    }
}

/* Replaces each gate's H x H block of every recurrent weight matrix (weight_hh, [G * H, H])
 * with a random orthogonal matrix: Gram-Schmidt on Gaussian rows, seeded. An orthogonal
 * recurrence neither shrinks nor blows up the state at the start of training. */
static void set_orthogonal_recurrence(model *m, uint64_t seed)
{
    int64_t H = m->hidden;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    for (int32_t l = 0; l < m->layers; ++l) {
        tdl_node *w = rnn_param(m, "weight_hh", l);
        float *wd = tdl_param_data(w);
        if (!wd) {
            fprintf(stderr, "recurrent weights not found: %s\n", tdl_graph_error(m->g));
            exit(1);
        }
        int32_t nd = 0;
        int64_t shape[TDL_MAX_DIMS];
        CHECK(tdl_node_shape(w, &nd, shape));
        int64_t gates = shape[0] / H;
        double *q = xmalloc(sizeof(double) * (size_t)(H * H));
        for (int64_t g = 0; g < gates; ++g) {
            for (int64_t i = 0; i < H * H; i += 2) { /* Box-Muller pairs */
                double u[2];
                for (int k = 0; k < 2; ++k)
                    u[k] = ((double)(lcg_next(&s) >> 11) + 0.5) / 9007199254740992.0;
                double r = sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
                q[i] = r * cos(a);
                if (i + 1 < H * H)
                    q[i + 1] = r * sin(a);
            }
            for (int64_t i = 0; i < H; ++i) { /* modified Gram-Schmidt over the rows */
                double *qi = q + i * H;
                for (int64_t j = 0; j < i; ++j) {
                    const double *qj = q + j * H;
                    double d = 0;
                    for (int64_t k = 0; k < H; ++k)
                        d += qi[k] * qj[k];
                    for (int64_t k = 0; k < H; ++k)
                        qi[k] -= d * qj[k];
                }
                double nn = 0;
                for (int64_t k = 0; k < H; ++k)
                    nn += qi[k] * qi[k];
                nn = 1.0 / sqrt(nn);
                for (int64_t k = 0; k < H; ++k)
                    qi[k] *= nn;
            }
            for (int64_t i = 0; i < H * H; ++i)
                wd[g * H * H + i] = (float)q[i];
        }
        free(q);
    }
}

/* An exponential moving average of every parameter (Polyak averaging): evaluated and saved in
 * place of the last iterate. The decay ramps up as (1 + n) / (10 + n) so early averages are
 * not dominated by the initialisation. It is folded in every AVERAGE_EVERY steps with the
 * decay raised to that power: nearly the same average, at a fraction of the memory traffic
 * (a pass over all weights every step cost 8 % of the LSTM's training speed). */
enum { AVERAGE_EVERY = 4 };

typedef struct averager {
    int64_t count, updates;
    float **params, **avg;
    int64_t *sizes;
    double decay;
} averager;

static void averager_init(averager *a, tdl_graph *g, double decay)
{
    a->decay = decay;
    a->updates = 0;
    a->count = decay > 0 ? tdl_graph_param_count(g) : 0;
    a->params = xmalloc(sizeof(float *) * (size_t)a->count);
    a->avg = xmalloc(sizeof(float *) * (size_t)a->count);
    a->sizes = xmalloc(sizeof(int64_t) * (size_t)a->count);
    for (int64_t i = 0; i < a->count; ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        int32_t nd;
        int64_t shape[TDL_MAX_DIMS], n = 1;
        CHECK(tdl_node_shape(p, &nd, shape));
        for (int32_t d = 0; d < nd; ++d)
            n *= shape[d];
        a->params[i] = tdl_param_data(p);
        a->sizes[i] = n;
        a->avg[i] = xmalloc(sizeof(float) * (size_t)n);
        memcpy(a->avg[i], a->params[i], sizeof(float) * (size_t)n);
    }
}

static void averager_update(averager *a, int64_t step)
{
    if (a->count == 0 || (step + 1) % AVERAGE_EVERY != 0)
        return;
    double d = (1.0 + (double)a->updates) / (10.0 + (double)a->updates);
    d = d < a->decay ? d : a->decay;
    float k = (float)(1.0 - pow(d, AVERAGE_EVERY));
    a->updates++;
    for (int64_t i = 0; i < a->count; ++i)
        for (int64_t j = 0; j < a->sizes[i]; ++j)
            a->avg[i][j] += k * (a->params[i][j] - a->avg[i][j]);
}

/* Exchanges the model's weights and the averages (twice restores them). */
static void averager_swap(averager *a)
{
    for (int64_t i = 0; i < a->count; ++i)
        for (int64_t j = 0; j < a->sizes[i]; ++j) {
            float t = a->params[i][j];
            a->params[i][j] = a->avg[i][j];
            a->avg[i][j] = t;
        }
}

static void averager_free(averager *a)
{
    for (int64_t i = 0; i < a->count; ++i)
        free(a->avg[i]);
    free(a->params);
    free(a->avg);
    free(a->sizes);
}

static void fmt_time(char *buf, size_t size, double s)
{
    if (s < 0)
        s = 0;
    int total = (int)(s + 0.5);
    if (total >= 60)
        snprintf(buf, size, "%dm%02ds", total / 60, total % 60);
    else
        snprintf(buf, size, "%ds", total);
}

/* One line: [bar] done%  step  train bpc  val bpc  tok/s  ETA (redrawn in place on a terminal). */
static void draw_bar(int tty, double frac, int64_t step, double train_bpc, double val_bpc,
                     double tok_s, double eta_s, int final)
{
    char bar[25], eta[32], val[32] = "-";
    int fill = (int)(24 * (frac > 1 ? 1 : frac));
    for (int i = 0; i < 24; ++i)
        bar[i] = i < fill ? '#' : '.';
    bar[24] = '\0';
    fmt_time(eta, sizeof eta, eta_s);
    if (val_bpc > 0)
        snprintf(val, sizeof val, "%.3f", val_bpc);
    printf("%s[%s] %3.0f%% step %lld | train %.3f bpc | val %s bpc | %.0f tok/s | %s %s%s",
           tty ? "\r" : "", bar, 100.0 * (frac > 1 ? 1 : frac), (long long)step, train_bpc, val,
           tok_s, final ? "took" : "ETA", eta, tty && !final ? "\033[K" : "\n");
    fflush(stdout);
}

static void usage_exit(const char *what)
{
    fprintf(stderr, "%s (see the comment at the top of examples/char_lstm/main.c)\n", what);
    exit(2);
}

static void parse(int argc, char **argv, options *o)
{
    o->data = fortunes_default_dir();
    o->out = ".";
    o->load = NULL;
    o->prompt = "The ";
    o->cell = "lstm";
    o->minutes = 10;
    o->steps = 0;
    o->lr = 0; /* 0: the cell's default (3e-3 for the LSTM, 1e-3 for the GRU) */
    o->clip = 1.0;
    o->dropout = -1; /* -1: the cell's default (0 for the LSTM, 0.1 for the GRU) */
    o->weight_drop = 0;
    o->temperature = 0.8;
    o->batch = 32; /* small windows: more updates per token, which wins in 10 minutes */
    o->seq = 32;
    o->hidden = 0; /* 0: the cell's default (384 for the LSTM, 448 for the GRU) */
    o->embed = 64;
    o->chars = 600;
    o->threads = 2;
    o->layers = 2;
    o->evals = 2; /* each full validation pass costs ~0.8 % of the 10 minutes */
    o->top_k = 0;
    o->decay = 1;
    o->decay_from = 0.4;
    o->final_lr = 0.05;
    o->beta2 = 0.99;      /* with the average: 2.018 vs 2.032 bits/char for the LSTM */
    o->forget_bias = NAN; /* NAN: the library's initialisation */
    o->ema = 0.999;       /* the same as 0.998 at equal speed (LSTM 2.017 vs 2.018) */
    o->weight_decay = 0;
    o->trace = 0;
    o->orthogonal = 0;
    o->skip = -1; /* -1: the cell's default (1 for both cells) */
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
        else if (!strcmp(a, "--load"))
            o->load = v;
        else if (!strcmp(a, "--prompt"))
            o->prompt = v;
        else if (!strcmp(a, "--cell"))
            o->cell = v;
        else if (!strcmp(a, "--minutes"))
            o->minutes = atof(v);
        else if (!strcmp(a, "--steps"))
            o->steps = atoll(v);
        else if (!strcmp(a, "--lr"))
            o->lr = atof(v);
        else if (!strcmp(a, "--clip"))
            o->clip = atof(v);
        else if (!strcmp(a, "--dropout"))
            o->dropout = atof(v);
        else if (!strcmp(a, "--weight-drop"))
            o->weight_drop = atof(v);
        else if (!strcmp(a, "--temperature"))
            o->temperature = atof(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoll(v);
        else if (!strcmp(a, "--seq"))
            o->seq = atoll(v);
        else if (!strcmp(a, "--hidden"))
            o->hidden = atoll(v);
        else if (!strcmp(a, "--embed"))
            o->embed = atoll(v);
        else if (!strcmp(a, "--chars"))
            o->chars = atoll(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--layers"))
            o->layers = atoi(v);
        else if (!strcmp(a, "--evals"))
            o->evals = atoi(v);
        else if (!strcmp(a, "--decay"))
            o->decay = atoi(v);
        else if (!strcmp(a, "--decay-from"))
            o->decay_from = atof(v);
        else if (!strcmp(a, "--final-lr"))
            o->final_lr = atof(v);
        else if (!strcmp(a, "--beta2"))
            o->beta2 = atof(v);
        else if (!strcmp(a, "--skip"))
            o->skip = atoi(v);
        else if (!strcmp(a, "--orthogonal"))
            o->orthogonal = atoi(v);
        else if (!strcmp(a, "--forget-bias"))
            o->forget_bias = atof(v);
        else if (!strcmp(a, "--ema"))
            o->ema = atof(v);
        else if (!strcmp(a, "--weight-decay"))
            o->weight_decay = atof(v);
        else if (!strcmp(a, "--trace"))
            o->trace = atoi(v);
        else if (!strcmp(a, "--top-k"))
            o->top_k = atoi(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            usage_exit("usage");
        }
    }
    if (strcmp(o->cell, "lstm") && strcmp(o->cell, "gru"))
        usage_exit("--cell must be lstm or gru");
    /* measured best for 10 minutes at batch 32 x 32 on a machine that trains the GRU 320 at
     * ~45,000 tokens/s: GRU 448 with skip connections and dropout 0.1 between the layers
     * reaches 1.980 bits/char, where the GRU 320 (2.015 on a machine half as fast) now sees
     * 11 epochs and overfits (2.023). On the slower machine, the LSTM gained from width
     * (256 / 320 / 384: 2.103 / 2.051 / 2.032) and from skip connections (1.971 against
     * 1.986-2.006 without). */
    int gru = !strcmp(o->cell, "gru");
    if (o->hidden == 0)
        o->hidden = gru ? 448 : 384;
    if (o->lr == 0)
        o->lr = gru ? 1e-3 : 3e-3;
    if (o->skip == -1)
        o->skip = 1;
    if (o->dropout == -1)
        o->dropout = gru ? 0.1 : 0;
    if (o->batch < 1 || o->seq < 1 || o->hidden < 1 || o->embed < 1 || o->layers < 1 ||
        o->layers > MAX_LAYERS || o->skip < -1 || o->skip > 2 || o->chars < 0 || o->evals < 0 ||
        o->minutes < 0 || o->steps < 0 || o->lr <= 0 || o->clip < 0 || o->dropout < 0 ||
        o->dropout >= 1 || !(o->weight_drop >= 0 && o->weight_drop < 1) || o->temperature < 0 ||
        o->top_k < 0 || !(o->decay_from >= 0 && o->decay_from < 1) || o->decay < 0 ||
        o->decay > 2 || !(o->final_lr >= 0 && o->final_lr <= 1) ||
        !(o->beta2 > 0 && o->beta2 < 1) || !(o->ema >= 0 && o->ema < 1) || !(o->weight_decay >= 0))
        usage_exit("an option is out of range");
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    out_dir_require(o.out); /* before the training, not after */
    printf("%s\n", tdl_build_info());

    fortunes corpus;
    char err[512];
    if (fortunes_load(o.data, &corpus, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    stream train, valid;
    make_streams(&corpus, &train, &valid);
    printf("fortunes: %lld entries in %d files; train %lld bytes, validation %lld bytes "
           "(every 20th entry)\n",
           (long long)corpus.n_entries, corpus.n_categories, (long long)train.n,
           (long long)valid.n);
    fortunes_free(&corpus);

    tdl_ctx *ctx;
    CHECK(tdl_ctx_create(&ctx));
    CHECK(tdl_ctx_set_threads(ctx, o.threads));
    CHECK(tdl_ctx_set_seed(ctx, o.seed));
    model m;
    build_model(ctx, &m, &o);
    if (o.load) {
        CHECK(tdl_load_weights(m.g, o.load));
        printf("loaded weights from %s\n", o.load);
    } else {
        if (!isnan(o.forget_bias))
            set_forget_bias(&m, (float)o.forget_bias);
        if (o.orthogonal)
            set_orthogonal_recurrence(&m, o.seed);
    }
    printf("model: embedding %lld -> %d-layer %s %lld -> dense %d; %lld parameters; "
           "batch %lld x %lld bytes, Adam %g (beta2 %g, weight decay %g), clip %g, dropout %g, "
           "weight drop %g, weight average %g, %d threads%s\n",
           (long long)o.embed, o.layers, m.kind == TDL_RNN_GRU ? "GRU" : "LSTM",
           (long long)o.hidden, VOCAB, (long long)tdl_graph_param_elements(m.g), (long long)o.batch,
           (long long)o.seq, o.lr, o.beta2, o.weight_decay, o.clip, o.dropout, o.weight_drop, o.ema,
           o.threads,
           o.skip == 2 ? ", skip connections in and out (--skip 2)"
           : o.skip    ? ", every layer to the output (--skip 1)"
                       : "");

    const double budget_s = o.minutes * 60.0;
    const int train_on = budget_s > 0 || o.steps > 0;
    int64_t B = o.batch, T = o.seq, H = o.hidden, L = o.layers, step = 0;
    int64_t tokens = 0;
    double val_bpc = 0, train_bpc = 0, train_s = 0;
    /* Built even when only evaluating: a training plan keeps every forward value evaluate()
     * reads (the logits, the final states), where a forward-only plan may reuse their memory
     * for later nodes. */
    CHECK(tdl_build_gradients(m.g, m.loss));
    if (train_on) {
        tdl_optim *opt;
        if (o.weight_decay > 0) { /* decoupled (AdamW) */
            CHECK(tdl_optim_create(m.g, TDL_OPTIM_ADAMW, (float)o.lr, &opt));
            CHECK(tdl_optim_set(opt, TDL_OPT_WEIGHT_DECAY, o.weight_decay));
        } else {
            CHECK(tdl_optim_create_adam(m.g, (float)o.lr, &opt));
        }
        if (o.clip > 0)
            CHECK(tdl_optim_set(opt, TDL_OPT_CLIP_NORM, o.clip));
        CHECK(tdl_optim_set(opt, TDL_OPT_BETA2, o.beta2));
        int64_t seg = train.n / B;         /* each row reads its own contiguous segment */
        int64_t per_epoch = (seg - 1) / T; /* windows per epoch */
        if (per_epoch < 1)
            usage_exit("--batch x --seq is larger than the training text");
        size_t n = (size_t)(B * T), state_n = (size_t)(L * B * H);
        int32_t *x = xmalloc(sizeof(int32_t) * n), *y = xmalloc(sizeof(int32_t) * n);
        float *h[2] = {calloc(state_n, sizeof(float)), calloc(state_n, sizeof(float))};
        float *c[2] = {calloc(state_n, sizeof(float)), calloc(state_n, sizeof(float))};
        if (!h[0] || !h[1] || !c[0] || !c[1])
            usage_exit("out of memory");
        int cur = 0, tty = isatty(fileno(stdout));
        int64_t window = 0, epoch = 0, offset = 0, recent_n = 0;
        double recent = 0, start = now(), cpu_start = cpu_now(), eval_s = 0;
        double last_draw = start;
        int evals_done = 0;
        averager avg;
        averager_init(&avg, m.g, o.ema);
        uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull + 1;
        printf("training: %lld windows of %lld x %lld bytes per epoch; stops after %g minutes",
               (long long)per_epoch, (long long)B, (long long)T, o.minutes);
        if (o.steps)
            printf(" or %lld steps", (long long)o.steps);
        printf("\n");
        for (;;) {
            double el = now() - start;
            double frac_t = budget_s > 0 ? el / budget_s : 0;
            double frac_s = o.steps > 0 ? (double)step / (double)o.steps : 0;
            double frac = frac_t > frac_s ? frac_t : frac_s;
            if (frac >= 1.0)
                break;
            /* validation at 1/(evals+1), 2/(evals+1), ... of the run (and at the end) */
            if (o.evals > 0 && frac >= (double)(evals_done + 1) / (o.evals + 1)) {
                double t0 = now();
                averager_swap(&avg);
                val_bpc = evaluate(&m, &valid, B);
                averager_swap(&avg);
                eval_s += now() - t0;
                evals_done++;
                train_bpc = recent_n ? recent / (double)recent_n / log(2.0) : 0;
                if (tty)
                    printf("\r\033[K");
                printf("step %6lld  epoch %.2f  train %.3f bpc  val %.3f bpc  (%.0f s, eval %.1f "
                       "s)\n",
                       (long long)step, (double)epoch + (double)window / (double)per_epoch,
                       train_bpc, val_bpc, now() - start, now() - t0);
                fflush(stdout);
                continue;
            }
            /* constant rate for the first --decay-from of the run, then cosine (--decay 1) or
             * linear (--decay 2) decay to --final-lr times the rate */
            double lr = o.lr;
            if (o.decay && frac > o.decay_from) {
                double u = (frac - o.decay_from) / (1.0 - o.decay_from);
                double shape = o.decay == 1 ? 0.5 * (1.0 + cos(3.14159265358979 * u)) : 1.0 - u;
                lr *= o.final_lr + (1.0 - o.final_lr) * shape;
            }
            CHECK(tdl_optim_set(opt, TDL_OPT_LR, lr));
            if (window == per_epoch) { /* new epoch: shift the windows, start from zero state */
                window = 0;
                epoch++;
                offset =
                    (int64_t)((lcg_next(&rng) >> 33) % (uint64_t)((seg - 1) - per_epoch * T + 1));
                memset(h[cur], 0, sizeof(float) * state_n);
                memset(c[cur], 0, sizeof(float) * state_n);
            }
            for (int64_t b = 0; b < B; ++b) {
                const int32_t *src = train.ids + b * seg + offset + window * T;
                memcpy(x + b * T, src, sizeof(int32_t) * (size_t)T);
                memcpy(y + b * T, src + 1, sizeof(int32_t) * (size_t)T);
            }
            CHECK(tdl_feed(m.g, m.x, x, 2, (int64_t[]){B, T}));
            CHECK(tdl_feed(m.g, m.y, y, 2, (int64_t[]){B, T}));
            feed_state(&m, h[cur], c[cur], B);
            CHECK(tdl_forward(m.g));
            float loss;
            CHECK(tdl_node_read(m.loss, &loss, sizeof loss));
            CHECK(tdl_backward(m.g, m.loss));
            CHECK(tdl_optim_step(opt));
            averager_update(&avg, step);
            if (step < o.trace)
                printf("trace %lld loss %.4f bpc grad norm %.4f\n", (long long)step,
                       loss / log(2.0), tdl_optim_last_grad_norm(opt));
            /* the final state is the next window's initial state (h0 stays bound until here) */
            read_state(&m, h[!cur], c[!cur], B);
            cur = !cur;
            window++;
            step++;
            tokens += B * T;
            recent += loss;
            recent_n++;
            if (recent_n > 200) { /* the bar shows a running mean of about the last 200 steps */
                recent *= 0.5;
                recent_n /= 2;
            }
            double t = now();
            if (t - last_draw > (tty ? 0.25 : 60.0)) { /* without a terminal: once a minute */
                last_draw = t;
                double el_t = t - start;
                double eta = frac > 0 ? el_t * (1 - frac) / frac : 0;
                draw_bar(tty, frac, step, recent / (double)recent_n / log(2.0), val_bpc,
                         (double)tokens / (el_t - eval_s), eta, 0);
            }
        }
        train_s = now() - start;
        train_bpc = recent_n ? recent / (double)recent_n / log(2.0) : 0;
        double t0 = now();
        averager_swap(&avg); /* from here on the model holds the averaged weights */
        averager_free(&avg);
        val_bpc = evaluate(&m, &valid, B);
        if (tty)
            printf("\r\033[K");
        draw_bar(tty, 1.0, step, train_bpc, val_bpc, (double)tokens / (train_s - eval_s), train_s,
                 1);
        printf("final: %lld steps (%.2f epochs, %lld tokens) in %.1f s (%.1f of them in %d "
               "evaluations), %.0f tokens/s of training, %.2f cores busy on average\n",
               (long long)step, (double)tokens / (double)train.n, (long long)tokens, train_s,
               eval_s, evals_done, (double)tokens / (train_s - eval_s),
               (cpu_now() - cpu_start) / (now() - start));
        printf("final: train %.3f bpc (recent steps), validation %.3f bpc (%.1f s to evaluate)\n",
               train_bpc, val_bpc, now() - t0);
        free(x);
        free(y);
        for (int i = 0; i < 2; ++i) {
            free(h[i]);
            free(c[i]);
        }
        tdl_optim_destroy(opt);
    } else {
        val_bpc = evaluate(&m, &valid, B);
        printf("validation: %.3f bpc\n", val_bpc);
    }

    /* save, reload into a freshly initialised graph, generate with both */
    char path[1024];
    snprintf(path, sizeof path, "%s/char_%s.safetensors", o.out, o.cell);
    CHECK(tdl_save_weights(m.g, path));
    printf("saved weights to %s\n", path);
    model r;
    CHECK(tdl_ctx_set_seed(ctx, o.seed + 1000)); /* different init: the load must do the work */
    build_model(ctx, &r, &o);
    CHECK(tdl_load_weights(r.g, path));

    printf("step API and sequence graph agree on a validation window (largest difference %.1e "
           "of the largest logit)\n",
           check_step_matches_graph(&m, &valid));
    char *text = xmalloc((size_t)o.chars + 1), *text2 = xmalloc((size_t)o.chars + 1);
    double t0 = now();
    generate(&m, &o, text);
    double gen_s = now() - t0;
    generate(&r, &o, text2);
    int same = !strcmp(text, text2);
    printf("\n--- generated (temperature %g, seed %llu, %lld bytes in %.2f s) ---\n%s%s\n---\n",
           o.temperature, (unsigned long long)o.seed, (long long)o.chars, gen_s, o.prompt, text);
    printf("reloaded model generates %s text\n", same ? "identical" : "DIFFERENT");

    free(text);
    free(text2);
    free(train.ids);
    free(valid.ids);
    tdl_graph_destroy(r.g);
    tdl_graph_destroy(m.g);
    tdl_ctx_destroy(ctx);
    return same ? 0 : 1;
}
