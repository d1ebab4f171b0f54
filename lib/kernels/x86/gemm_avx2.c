/* AVX2 + FMA GEMM register tile: 6 x 16 (12 ymm accumulators, two B
 * vectors, A broadcast from memory). Edges: a specialised tile per row count
 * and per vector count; partial columns through masked loads/stores of C. */
#include <immintrin.h>

#include "kernels/kernels_isa.h"
#include "kernels/x86/pack_x86.h"

#define MR 6
#define NR 16
#define KC 384

#define TDLK_INLINE static inline __attribute__((always_inline))

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

static inline __m256i lane_mask(int64_t k)
{
    int32_t kk = k > 8 ? 8 : k < 0 ? 0 : (int32_t)k;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
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

TDLK_INLINE void tile(const int rows, const int nv, int64_t depth, const float *a, const float *b,
                      float *c, int64_t ldc, float alpha, float beta, int64_t cols)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < depth; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = nv == 2 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            if (nv == 2)
                c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
        a += MR;
        b += NR;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
    int full0 = cols >= 8, full1 = cols >= 16;
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        store_row(c + i * ldc, c0[i], va, beta, vb, full0, m0);
        if (nv == 2)
            store_row(c + i * ldc + 8, c1[i], va, beta, vb, full1, m1);
    }
}

static void kernel(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    /* Narrow tiles (cols <= 8) skip the second vector column. */
    int nv = cols > 8 ? 2 : 1;
    switch (rows * 2 + nv - 1) {
#define TDLK_CASE(r)                                                                               \
    case 2 * r:                                                                                    \
        tile(r, 1, depth, a, b, c, ldc, alpha, beta, cols);                                        \
        break;                                                                                     \
    case 2 * r + 1:                                                                                \
        tile(r, 2, depth, a, b, c, ldc, alpha, beta, cols);                                        \
        break;
        TDLK_CASE(1) TDLK_CASE(2) TDLK_CASE(3) TDLK_CASE(4) TDLK_CASE(5) TDLK_CASE(6)
#undef TDLK_CASE
    default:
        break;
    }
}

const tdlk_gemm_arch tdlk_gemm_avx2 = {
    .mr = MR, .nr = NR, .kc = KC, .pack_a = pack_a, .pack_b = pack_b, .kernel = kernel,
};
