/* GFLOP/s of tdlk_sgemm and of OpenBLAS cblas_sgemm (row-major) on square
 * sizes and on the shapes of the Fashion-MNIST MLP (batch 128, 784-256-10),
 * at 1 and 2 threads. Each number is the median of 7 samples (--best: the
 * best one, steadier on a busy machine); a sample times enough back-to-back
 * calls to last >= 20 ms (--quick: 3 ms).
 *
 * usage: bench_gemm [--quick] [--best] [--filter TEXT] [--threads N]...  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

#ifdef TDL_BENCH_OPENBLAS
#include <cblas.h>
#endif

#define SAMPLES 7

typedef struct shape {
    const char *what;
    int64_t m, n, k;
    int ta, tb;
} shape;

static const shape shapes[] = {
    {"square", 64, 64, 64, 0, 0},
    {"square", 128, 128, 128, 0, 0},
    {"square", 256, 256, 256, 0, 0},
    {"square", 512, 512, 512, 0, 0},
    {"square", 1024, 1024, 1024, 0, 0},
    {"square", 2048, 2048, 2048, 0, 0},
    {"mlp fc1 fwd X.W", 128, 256, 784, 0, 0},
    {"mlp fc1 fwd X.W^T", 128, 256, 784, 0, 1},
    {"mlp fc1 dW X^T.dY", 784, 256, 128, 1, 0},
    {"mlp fc1 dX dY.W^T", 128, 784, 256, 0, 1},
    {"mlp fc2 fwd H.W", 128, 10, 256, 0, 0},
    {"mlp fc2 fwd H.W^T", 128, 10, 256, 0, 1},
    {"mlp fc2 dW H^T.dY", 256, 10, 128, 1, 0},
    {"mlp fc2 dH dY.W^T", 128, 256, 10, 0, 1},
    /* The reference CNN's convolutions, per image, as lib/ops/conv_exec.c
     * calls them (im2col rows k = cin*3*3; 28x28 and 14x14 planes). */
    {"cnn conv1 fwd W.col", 32, 784, 9, 0, 0},
    {"cnn conv1 dW^T col.dY^T", 9, 32, 784, 0, 1},
    {"cnn conv2 fwd W.col", 64, 196, 288, 0, 0},
    {"cnn conv2 dcol W^T.dY", 288, 196, 64, 1, 0},
    {"cnn conv2 dW dY.col^T", 64, 288, 196, 0, 1},
    {"cnn fc1 fwd X.W^T", 64, 128, 3136, 0, 1},
    {"cnn fc1 dW dY^T.X", 128, 3136, 64, 1, 0},
    {"cnn fc1 dX dY.W", 64, 3136, 128, 0, 0},
    /* The char LM's recurrent products per time step (lib/ops/rnn.c and
     * rnn_backward.c): LSTM 384 (4H = 1536) and GRU 320 (3H = 960), batch 32,
     * and the weight gradient over a 32-step window. */
    {"lstm384 step W.h^T", 1536, 32, 384, 0, 1},
    {"lstm384 step W^T.dg^T", 384, 32, 1536, 1, 1},
    {"lstm384 dW dg^T.h", 1536, 384, 1024, 1, 0},
    {"gru320 step W.h^T", 960, 32, 320, 0, 1},
    {"gru320 step W^T.dg^T", 320, 32, 960, 1, 1},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *b_alloc(void *user, size_t bytes)
{
    (void)user;
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static void b_release(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

typedef struct run_ctx {
    const shape *s;
    const float *a, *b;
    float *c;
    tdlk_env *env;
    int use_openblas;
} run_ctx;

static void run_once(const run_ctx *r)
{
    const shape *s = r->s;
    int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
#ifdef TDL_BENCH_OPENBLAS
    if (r->use_openblas) {
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f, r->a,
                    (int)lda, r->b, (int)ldb, 0.0f, r->c, (int)s->n);
        return;
    }
#endif
    if (tdlk_sgemm(r->env, s->ta, s->tb, s->m, s->n, s->k, 1.0f, r->a, lda, r->b, ldb, 0.0f, r->c,
                   s->n) != 0) {
        fprintf(stderr, "tdlk_sgemm failed\n");
        exit(1);
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Median GFLOP/s over SAMPLES samples. */
static int use_best;

static double measure(const run_ctx *r, double min_sample_s)
{
    const shape *s = r->s;
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    run_once(r); /* warm up: pages, packing buffers, threads */
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int i = 0; i < reps; i++)
            run_once(r);
        double t = now() - t0;
        if (t >= min_sample_s || reps >= (1 << 24))
            break;
        reps = t <= 0 ? reps * 16 : (int)(reps * (1.3 * min_sample_s / t)) + 1;
    }
    double g[SAMPLES];
    for (int k = 0; k < SAMPLES; k++) {
        double t0 = now();
        for (int i = 0; i < reps; i++)
            run_once(r);
        g[k] = flops * reps / (now() - t0) * 1e-9;
    }
    qsort(g, SAMPLES, sizeof g[0], cmp_double);
    return use_best ? g[SAMPLES - 1] : g[SAMPLES / 2];
}

int main(int argc, char **argv)
{
    double min_sample_s = 0.02;
    int threads[8] = {1, 2}, n_threads = 2, custom = 0;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            min_sample_s = 0.003;
        } else if (strcmp(argv[i], "--best") == 0) {
            use_best = 1;
        } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!custom)
                n_threads = 0;
            custom = 1;
            if (n_threads < 8)
                threads[n_threads++] = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--best] [--filter TEXT] [--threads N]...\n",
                    argv[0]);
            return 2;
        }
    }
    printf("tiny-dl SGEMM (simd=%s) vs OpenBLAS, GFLOP/s, %s of %d samples\n", tdlk_isa_name(),
           use_best ? "best" : "median", SAMPLES);
    printf("%-20s %5s %5s %5s %2s %2s %3s %9s %9s %6s\n", "shape", "m", "n", "k", "tA", "tB", "thr",
           "tiny-dl", "OpenBLAS", "ratio");
    for (int t = 0; t < n_threads; t++) {
        tdl_pool *pool = tdl_pool_create(threads[t], b_alloc, b_release, NULL);
        if (!pool)
            return 1;
        tdlk_env env = {pool, b_alloc, b_release, NULL};
#ifdef TDL_BENCH_OPENBLAS
        openblas_set_num_threads(threads[t]);
#endif
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const shape *s = &shapes[i];
            if (filter && !strstr(s->what, filter))
                continue;
            size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n);
            float *a = b_alloc(NULL, na * sizeof(float)), *b = b_alloc(NULL, nb * sizeof(float));
            float *c = b_alloc(NULL, (size_t)(s->m * s->n) * sizeof(float));
            if (!a || !b || !c)
                return 1;
            for (size_t j = 0; j < na; j++)
                a[j] = (float)((j * 7) % 13) * 0.01f - 0.06f;
            for (size_t j = 0; j < nb; j++)
                b[j] = (float)((j * 5) % 11) * 0.01f - 0.05f;
            run_ctx r = {s, a, b, c, &env, 0};
            double ours = measure(&r, min_sample_s);
            double theirs = 0.0;
#ifdef TDL_BENCH_OPENBLAS
            r.use_openblas = 1;
            theirs = measure(&r, min_sample_s);
#endif
            printf("%-20s %5ld %5ld %5ld %2d %2d %3d %9.1f %9.1f %6.2f\n", s->what, (long)s->m,
                   (long)s->n, (long)s->k, s->ta, s->tb, threads[t], ours, theirs,
                   theirs > 0 ? ours / theirs : 0.0);
            fflush(stdout);
            b_release(NULL, a);
            b_release(NULL, b);
            b_release(NULL, c);
        }
        tdl_pool_destroy(pool);
    }
    return 0;
}
