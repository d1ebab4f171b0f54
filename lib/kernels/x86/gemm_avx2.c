/* AVX2 + FMA GEMM register tile: 6 x 16 (12 ymm accumulators, two B
 * vectors, A broadcast from memory). Edges: a specialised tile per row count
 * and per vector count; partial columns through masked loads/stores of C.
 * A is read packed, or straight from the caller's matrix (kernel_ua). */
#include <immintrin.h>

#include "kernels/kernels_isa.h"
#include "kernels/x86/pack_x86.h"

#define MR 6
#define NR 16
#define KC 384

#define TDLK_INLINE static inline __attribute__((always_inline))

/* How the tile reads A: element (i, p) at a[i * rs + p * cs]. */
enum {
    A_PACKED, /* rs = 1, cs = MR */
    A_COLS,   /* rs = 1, cs = lda */
    A_ROWS,   /* rs = lda, cs = 1 */
};

static void pack_a(int trans, const float *a, int64_t lda, int64_t rows, int64_t depth, float *dst)
{
    if (trans)
        tdlk_x86_copy_pack(a, lda, rows, depth, dst, MR);
    else
        tdlk_x86_trans_pack(a, lda, rows, depth, dst, MR);
}

static void pack_b(int trans, const float *b, int64_t ldb, int64_t depth, int64_t cols, float *dst)
{
    if (trans)
        tdlk_x86_trans_pack(b, ldb, cols, depth, dst, NR);
    else
        tdlk_x86_copy_pack(b, ldb, cols, depth, dst, NR);
}

TDLK_INLINE void store_row(float *c, __m256 acc, __m256 va, float beta, __m256 vb, int full,
                           __m256i m)
{
    __m256 r = _mm256_mul_ps(va, acc);
    if (full) {
        if (beta != 0.0f)
            r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r);
        _mm256_storeu_ps(c, r);
    } else {
        if (beta != 0.0f)
            r = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m), r);
        _mm256_maskstore_ps(c, m, r);
    }
}

TDLK_INLINE void tile(const int rows, const int nv, const int amode, int64_t depth, const float *a,
                      int64_t lda, const float *b, float *c, int64_t ldc, float alpha, float beta,
                      int64_t cols)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    const int64_t rs = amode == A_ROWS ? lda : 1;
    const int64_t cs = amode == A_PACKED ? MR : amode == A_COLS ? lda : 1;
    for (int64_t p = 0; p < depth; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = nv == 2 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * rs);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            if (nv == 2)
                c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
        a += cs;
        b += NR;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    __m256i m0 = tdlk_x86_lanes(cols), m1 = tdlk_x86_lanes(cols - 8);
    int full0 = cols >= 8, full1 = cols >= 16;
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        store_row(c + i * ldc, c0[i], va, beta, vb, full0, m0);
        if (nv == 2)
            store_row(c + i * ldc + 8, c1[i], va, beta, vb, full1, m1);
    }
}

/* clang-format off */
#define TDLK_CASE(amode, r)                                                                        \
    case 2 * r: tile(r, 1, amode, depth, a, lda, b, c, ldc, alpha, beta, cols); break;             \
    case 2 * r + 1: tile(r, 2, amode, depth, a, lda, b, c, ldc, alpha, beta, cols); break;
/* One switch per A mode over (rows, vectors) to the specialised tiles. */
#define TDLK_TILE_SWITCH(amode)                                                                    \
    switch (rows * 2 + (cols > 8)) {                                                               \
        TDLK_CASE(amode, 1) TDLK_CASE(amode, 2) TDLK_CASE(amode, 3) TDLK_CASE(amode, 4)            \
        TDLK_CASE(amode, 5) TDLK_CASE(amode, 6)                                                    \
    default: break;                                                                                \
    }
/* clang-format on */

static void kernel(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    const int64_t lda = MR;
    TDLK_TILE_SWITCH(A_PACKED)
}

static void kernel_cols(int64_t depth, const float *a, int64_t lda, const float *b, float *c,
                        int64_t ldc, float alpha, float beta, int64_t rows, int64_t cols)
{
    TDLK_TILE_SWITCH(A_COLS)
}

static void kernel_rows(int64_t depth, const float *a, int64_t lda, const float *b, float *c,
                        int64_t ldc, float alpha, float beta, int64_t rows, int64_t cols)
{
    TDLK_TILE_SWITCH(A_ROWS)
}

static void kernel_ua(int trans, int64_t depth, const float *a, int64_t lda, const float *b,
                      float *c, int64_t ldc, float alpha, float beta, int64_t rows, int64_t cols)
{
    if (trans)
        kernel_cols(depth, a, lda, b, c, ldc, alpha, beta, rows, cols);
    else
        kernel_rows(depth, a, lda, b, c, ldc, alpha, beta, rows, cols);
}

const tdlk_gemm_arch tdlk_gemm_avx2 = {
    .mr = MR,
    .nr = NR,
    .kc = KC,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel,
    .kernel_ua = kernel_ua,
};
