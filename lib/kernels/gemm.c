/* SGEMM driver: cache blocking, packing and threading around the register
 * tile of the ISA selected at build time (kernels_isa.h).
 *
 * Loop nest, for C = alpha * op(A) op(B) + beta * C:
 *   jc over N in blocks of at most NB columns
 *     pc over K in blocks of kc (sizes depend on k only)
 *       ic over M in blocks of at most MB rows
 *         [parallel] pack the A block (mb x kc) and, once per pc, the B block
 *         [parallel] tiles of the mb x nb output block; in a tile, for each
 *                    A micro-panel (kept in L1), for each B micro-panel (L2)
 * Every element of C accumulates its pc blocks in order, each with one
 * accumulator per element in the micro-kernel, so the result does not depend
 * on how tiles are spread over threads: only K blocking affects rounding, and
 * it depends on k alone. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

#define TDLK_GEMM_MB        1536  /* rows of A packed at once */
#define TDLK_GEMM_NB        3072  /* columns of B packed at once */
#define TDLK_GEMM_TILE_N    384   /* columns of a tile (its B block stays in L2) */
#define TDLK_GEMM_MIN_FLOPS 1.5e6 /* least work worth a thread */
#ifndef TDLK_GEMM_DIRECT_A_PANELS
#define TDLK_GEMM_DIRECT_A_PANELS 8 /* at most this many B panels: A not packed */
#endif

#if TDL_SIMD_AVX512
#define TDLK_GEMM_ARCH (&tdlk_gemm_avx512)
#elif TDL_SIMD_AVX2
#define TDLK_GEMM_ARCH (&tdlk_gemm_avx2)
#elif TDL_SIMD_NEON
#define TDLK_GEMM_ARCH (&tdlk_gemm_neon)
#else
#define TDLK_GEMM_ARCH (&tdlk_gemm_generic)
#endif

typedef struct gemm_job {
    const tdlk_gemm_arch *arch;
    int trans_a, trans_b;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    float alpha, beta;
    int64_t i0, mb;         /* row block */
    int64_t j0, nb;         /* column block */
    int64_t p0, kc;         /* depth block */
    float *ap, *bp;         /* packed blocks */
    int direct_a;           /* A read in place by arch->kernel_ua (ap unused) */
    int64_t a_panels;       /* A panels to pack in this step */
    int64_t b_panels;       /* B panels to pack in this step (0: already packed) */
    int64_t pack_grain;     /* panels per packing chunk */
    int64_t tile_m, tile_n; /* tile size in panels */
    int64_t tiles_m, tiles_n;
} gemm_job;

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void pack_range(void *arg, int64_t begin, int64_t end)
{
    const gemm_job *j = arg;
    const tdlk_gemm_arch *ar = j->arch;
    for (int64_t q = begin; q < end; q++) {
        if (q < j->a_panels) {
            int64_t i = j->i0 + q * ar->mr;
            const float *src = j->trans_a ? j->a + j->p0 * j->lda + i : j->a + i * j->lda + j->p0;
            ar->pack_a(j->trans_a, src, j->lda, min64(ar->mr, j->i0 + j->mb - i), j->kc,
                       j->ap + q * j->kc * ar->mr);
        } else {
            int64_t qb = q - j->a_panels;
            int64_t jj = j->j0 + qb * ar->nr;
            const float *src = j->trans_b ? j->b + jj * j->ldb + j->p0 : j->b + j->p0 * j->ldb + jj;
            ar->pack_b(j->trans_b, src, j->ldb, j->kc, min64(ar->nr, j->j0 + j->nb - jj),
                       j->bp + qb * j->kc * ar->nr);
        }
    }
}

static void tile_range(void *arg, int64_t begin, int64_t end)
{
    const gemm_job *j = arg;
    const tdlk_gemm_arch *ar = j->arch;
    int64_t mr = ar->mr, nr = ar->nr, kc = j->kc;
    for (int64_t t = begin; t < end; t++) {
        /* Column-tile major: consecutive tiles share their B block. */
        int64_t tn = t / j->tiles_m, tm = t % j->tiles_m;
        int64_t ir0 = tm * j->tile_m, ir1 = min64(ir0 + j->tile_m, cdiv(j->mb, mr));
        int64_t jr0 = tn * j->tile_n, jr1 = min64(jr0 + j->tile_n, cdiv(j->nb, nr));
        for (int64_t ir = ir0; ir < ir1; ir++) {
            int64_t rows = min64(mr, j->mb - ir * mr);
            int64_t i = j->i0 + ir * mr;
            float *crow = j->c + i * j->ldc + j->j0;
            if (j->direct_a) {
                const float *a = j->trans_a ? j->a + j->p0 * j->lda + i : j->a + i * j->lda + j->p0;
                for (int64_t jr = jr0; jr < jr1; jr++)
                    ar->kernel_ua(j->trans_a, kc, a, j->lda, j->bp + jr * kc * nr, crow + jr * nr,
                                  j->ldc, j->alpha, j->beta, rows, min64(nr, j->nb - jr * nr));
                continue;
            }
            const float *ap = j->ap + ir * kc * mr;
            for (int64_t jr = jr0; jr < jr1; jr++) {
                int64_t cols = min64(nr, j->nb - jr * nr);
                ar->kernel(kc, ap, j->bp + jr * kc * nr, crow + jr * nr, j->ldc, j->alpha, j->beta,
                           rows, cols);
            }
        }
    }
}

/* C = beta * C for the degenerate cases (k == 0 or alpha == 0). */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            memset(ci, 0, (size_t)n * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++)
                ci[j] *= beta;
    }
}

/* Depth blocking: equal blocks of at most arch->kc; depends on k only. */
static int64_t depth_block(const tdlk_gemm_arch *ar, int64_t k)
{
    int64_t nblk = cdiv(k, ar->kc);
    return cdiv(k, nblk);
}

/* Reads A in place instead of packing it when each A micro-panel is used by
 * few B micro-panels (packing would cost about as much as it saves), unless
 * the rows of A are a multiple of 4 KiB apart (L1 set conflicts). A
 * transposed A is read as one short contiguous run per depth step; packing it
 * gathers those runs from kc rows on as many pages, so it stays unpacked for
 * twice as many panels (the RNN weight gradients, n = 320-384: 1.27x). */
static int direct_a(const tdlk_gemm_arch *ar, int trans_a, int64_t lda, int64_t nb)
{
    int64_t limit = trans_a ? 2 * TDLK_GEMM_DIRECT_A_PANELS : TDLK_GEMM_DIRECT_A_PANELS;
    if (!ar->kernel_ua || cdiv(nb, ar->nr) > limit)
        return 0;
    return lda % 1024 != 0;
}

/* Splits the mb x nb block into tiles: few large tiles on one thread, enough
 * of them for load balance on several. The split does not affect results.
 * When A is read in place, tiles span all the columns first, so that each A
 * micro-panel is read once while it is in L1. */
static void choose_tiles(gemm_job *j, int32_t threads)
{
    const tdlk_gemm_arch *ar = j->arch;
    int64_t pm = cdiv(j->mb, ar->mr), pn = cdiv(j->nb, ar->nr);
    int64_t tn = min64(pn, cdiv(TDLK_GEMM_TILE_N, ar->nr));
    int64_t tm = pm;
    if (threads > 1) {
        int64_t want = 4 * (int64_t)threads;
        while (cdiv(pm, tm) * cdiv(pn, tn) < want && (tm > 1 || tn > 1)) {
            if (tm > 1 && (j->direct_a || tm * ar->mr >= tn * ar->nr || tn == 1))
                tm = cdiv(tm, 2);
            else
                tn = cdiv(tn, 2);
        }
    }
    j->tile_m = tm;
    j->tile_n = tn;
    j->tiles_m = cdiv(pm, tm);
    j->tiles_n = cdiv(pn, tn);
}

static int sgemm_one(const tdlk_env *env, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, float *scratch)
{
    const tdlk_gemm_arch *ar = TDLK_GEMM_ARCH;
    tdl_pool *pool = env ? env->pool : NULL;
    /* Small products do not pay for waking threads: aim at >= MIN_FLOPS per
     * thread (the split into tiles never changes the results). */
    double flops = 2.0 * (double)m * (double)n * (double)k;
    int32_t threads = tdl_pool_threads(pool);
    if (flops < TDLK_GEMM_MIN_FLOPS * threads)
        threads = (int32_t)(flops / TDLK_GEMM_MIN_FLOPS);
    if (threads <= 1) {
        threads = 1;
        pool = NULL;
    }
    int64_t kc_max = depth_block(ar, k);
    int64_t mb_max = min64(m, TDLK_GEMM_MB), nb_max = min64(n, TDLK_GEMM_NB);

    gemm_job j = {
        .arch = ar,
        .trans_a = trans_a,
        .trans_b = trans_b,
        .a = a,
        .b = b,
        .lda = lda,
        .ldb = ldb,
        .ldc = ldc,
        .c = c,
        .alpha = alpha,
    };
    j.ap = scratch;
    j.bp = scratch + cdiv(cdiv(mb_max, ar->mr) * ar->mr * kc_max, 16) * 16; /* 64-byte aligned */

    for (int64_t j0 = 0; j0 < n; j0 += nb_max) {
        j.j0 = j0;
        j.nb = min64(nb_max, n - j0);
        for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
            j.p0 = p0;
            j.kc = min64(kc_max, k - p0);
            j.beta = p0 == 0 ? beta : 1.0f;
            for (int64_t i0 = 0; i0 < m; i0 += mb_max) {
                j.i0 = i0;
                j.mb = min64(mb_max, m - i0);
                j.direct_a = direct_a(ar, trans_a, lda, j.nb);
                j.a_panels = j.direct_a ? 0 : cdiv(j.mb, ar->mr);
                j.b_panels = i0 == 0 ? cdiv(j.nb, ar->nr) : 0;
                int64_t panels = j.a_panels + j.b_panels;
                j.pack_grain = threads > 1 ? cdiv(panels, 8 * (int64_t)threads) : panels;
                tdl_parallel_for(pool, panels, j.pack_grain, pack_range, &j);
                choose_tiles(&j, threads);
                tdl_parallel_for(pool, j.tiles_m * j.tiles_n, 1, tile_range, &j);
            }
        }
    }
    return 0;
}

static size_t scratch_floats(int64_t m, int64_t n, int64_t k)
{
    const tdlk_gemm_arch *ar = TDLK_GEMM_ARCH;
    int64_t kc = depth_block(ar, k);
    int64_t mb = cdiv(min64(m, TDLK_GEMM_MB), ar->mr) * ar->mr;
    int64_t nb = cdiv(min64(n, TDLK_GEMM_NB), ar->nr) * ar->nr;
    return (size_t)(cdiv(kc * mb, 16) * 16 + kc * nb);
}

/* Batches of small products run one product per task (each on one thread,
 * with its own scratch): same per-element arithmetic, no barrier per item. */
typedef struct batch_job {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
    int64_t grain;
    float *scratch;
    size_t scratch_floats; /* per task, a multiple of 16 */
} batch_job;

static void batch_range(void *arg, int64_t begin, int64_t end)
{
    const batch_job *bj = arg;
    float *scratch = bj->scratch + (size_t)(begin / bj->grain) * bj->scratch_floats;
    for (int64_t i = begin; i < end; i++)
        sgemm_one(NULL, bj->trans_a, bj->trans_b, bj->m, bj->n, bj->k, bj->alpha,
                  bj->a + i * bj->stride_a, bj->lda, bj->b + i * bj->stride_b, bj->ldb, bj->beta,
                  bj->c + i * bj->stride_c, bj->ldc, scratch);
}

int tdlk_sgemm_batched(const tdlk_env *env, int trans_a, int trans_b, int64_t m, int64_t n,
                       int64_t k, float alpha, const float *a, int64_t lda, int64_t stride_a,
                       const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                       int64_t ldc, int64_t stride_c, int64_t batch)
{
    if (m <= 0 || n <= 0 || batch <= 0)
        return 0;
    if (k <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < batch; i++)
            scale_c(m, n, beta, c + i * stride_c, ldc);
        return 0;
    }
    tdl_pool *pool = env ? env->pool : NULL;
    int32_t threads = tdl_pool_threads(pool);
    size_t per = (scratch_floats(m, n, k) + 15) / 16 * 16;
    /* Items too small to be split over the threads: split the batch. */
    int by_item = threads > 1 && batch > 1 &&
                  2.0 * (double)m * (double)n * (double)k < TDLK_GEMM_MIN_FLOPS * threads;
    int64_t tasks = by_item ? min64(batch, 4 * (int64_t)threads) : 1;
    int64_t grain = cdiv(batch, tasks);
    tasks = cdiv(batch, grain);
    size_t bytes = per * (size_t)tasks * sizeof(float);
    int own = !env || !env->alloc || !env->release;
    float *scratch = own ? aligned_alloc(64, bytes) : env->alloc(env->user, bytes);
    if (!scratch)
        return -1;
    if (by_item) {
        batch_job bj = {
            .trans_a = trans_a,
            .trans_b = trans_b,
            .m = m,
            .n = n,
            .k = k,
            .alpha = alpha,
            .beta = beta,
            .a = a,
            .b = b,
            .c = c,
            .lda = lda,
            .ldb = ldb,
            .ldc = ldc,
            .stride_a = stride_a,
            .stride_b = stride_b,
            .stride_c = stride_c,
            .grain = grain,
            .scratch = scratch,
            .scratch_floats = per,
        };
        tdl_parallel_for(pool, batch, grain, batch_range, &bj);
    } else {
        for (int64_t i = 0; i < batch; i++)
            sgemm_one(env, trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda,
                      b + i * stride_b, ldb, beta, c + i * stride_c, ldc, scratch);
    }
    if (own)
        free(scratch);
    else
        env->release(env->user, scratch);
    return 0;
}

typedef struct gemv_job {
    int64_t k;
    float alpha, beta;
    const float *a, *b;
    int64_t sa, ldb;
    float *c;
} gemv_job;

static void gemv_range(void *arg, int64_t begin, int64_t end)
{
    gemv_job *j = arg;
    tdlk_gemv_rows_isa(begin, end, j->k, j->alpha, j->a, j->sa, j->b, j->ldb, j->beta, j->c);
}

int tdlk_sgemm(const tdlk_env *env, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
               float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
               float *c, int64_t ldc)
{
    if (m == 1 && trans_b && k > 0) {
        /* a single row against a row-major weight matrix: dot products, no packing */
        gemv_job j = {k, alpha, beta, a, b, trans_a ? lda : 1, ldb, c};
        int64_t grain = (int64_t)(TDLK_GEMM_MIN_FLOPS / (2.0 * (double)k)) + 1;
        tdl_parallel_for(env ? env->pool : NULL, n, grain, gemv_range, &j);
        return 0;
    }
    return tdlk_sgemm_batched(env, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c,
                              ldc, 0, 1);
}
