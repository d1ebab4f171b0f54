/* AVX-512 GEMM register tile: 12 x 32 (24 zmm accumulators, two B vectors,
 * A broadcast from memory). Edges: a specialised tile per row count and
 * masked loads/stores of C for the columns. */
#include <immintrin.h>

#include "kernels/kernels_isa.h"
#include "kernels/x86/pack_x86.h"

#define MR 12
#define NR 32
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

TDLK_INLINE void tile(const int rows, const int nv, int64_t depth, const float *a, const float *b, float *c,
                      int64_t ldc, float alpha, float beta, __mmask16 m0, __mmask16 m1)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < rows; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (nv == 2)
            _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < depth; p++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = nv == 2 ? _mm512_loadu_ps(b + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            if (nv == 2)
                c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        a += MR;
        b += NR;
    }
    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_mul_ps(va, c0[i]));
            if (nv == 2)
                _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_mul_ps(va, c1[i]));
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            __m512 o0 = _mm512_maskz_loadu_ps(m0, c + i * ldc);
            _mm512_mask_storeu_ps(c + i * ldc, m0,
                                  _mm512_fmadd_ps(vb, o0, _mm512_mul_ps(va, c0[i])));
            if (nv == 2) {
                __m512 o1 = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
                _mm512_mask_storeu_ps(c + i * ldc + 16, m1,
                                      _mm512_fmadd_ps(vb, o1, _mm512_mul_ps(va, c1[i])));
            }
        }
    }
}

static void kernel(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF
                   : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : (__mmask16)0;
    /* Narrow tiles (cols <= 16) skip the second vector column. */
    int nv = cols > 16 ? 2 : 1;
    switch (rows * 2 + nv - 1) {
#define TDLK_CASE(r)                                                                               \
    case 2 * r:                                                                                    \
        tile(r, 1, depth, a, b, c, ldc, alpha, beta, m0, m1);                                      \
        break;                                                                                     \
    case 2 * r + 1:                                                                                \
        tile(r, 2, depth, a, b, c, ldc, alpha, beta, m0, m1);                                      \
        break;
        TDLK_CASE(1) TDLK_CASE(2) TDLK_CASE(3) TDLK_CASE(4) TDLK_CASE(5) TDLK_CASE(6)
        TDLK_CASE(7) TDLK_CASE(8) TDLK_CASE(9) TDLK_CASE(10) TDLK_CASE(11) TDLK_CASE(12)
#undef TDLK_CASE
    default:
        break;
    }
}

const tdlk_gemm_arch tdlk_gemm_avx512 = {
    .mr = MR, .nr = NR, .kc = KC, .pack_a = pack_a, .pack_b = pack_b, .kernel = kernel,
};
