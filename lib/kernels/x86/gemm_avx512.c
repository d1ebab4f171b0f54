/* AVX-512 GEMM register tile: 12 x 32 (24 zmm accumulators, two B vectors,
 * A broadcast from memory). Edges: a tile specialised per row count and per
 * vector count (cols <= 16 uses one), masked loads/stores of C for the
 * columns. A is read packed, or straight from the caller's matrix when the
 * driver decides packing it would not pay (kernel_ua). */
#include <immintrin.h>

#include "kernels/kernels_isa.h"
#include "kernels/x86/pack_x86.h"

#define MR 12
#define NR 32
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

TDLK_INLINE void tile(const int rows, const int nv, const int amode, int64_t depth, const float *a,
                      int64_t lda, const float *b, float *c, int64_t ldc, float alpha, float beta,
                      __mmask16 m0, __mmask16 m1)
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
    const int64_t rs = amode == A_ROWS ? lda : 1;
    const int64_t cs = amode == A_PACKED ? MR : amode == A_COLS ? lda : 1;
    for (int64_t p = 0; p < depth; p++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = nv == 2 ? _mm512_loadu_ps(b + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(a[i * rs]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            if (nv == 2)
                c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        a += cs;
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

/* clang-format off */
#define TDLK_CASE(amode, r)                                                                        \
    case 2 * r: tile(r, 1, amode, depth, a, lda, b, c, ldc, alpha, beta, m0, m1); break;           \
    case 2 * r + 1: tile(r, 2, amode, depth, a, lda, b, c, ldc, alpha, beta, m0, m1); break;
/* One switch per A mode over (rows, vectors) to the specialised tiles. */
#define TDLK_TILE_SWITCH(amode)                                                                    \
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);                 \
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF                                                  \
                 : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : (__mmask16)0;                \
    switch (rows * 2 + (cols > 16)) {                                                              \
        TDLK_CASE(amode, 1) TDLK_CASE(amode, 2) TDLK_CASE(amode, 3) TDLK_CASE(amode, 4)            \
        TDLK_CASE(amode, 5) TDLK_CASE(amode, 6) TDLK_CASE(amode, 7) TDLK_CASE(amode, 8)            \
        TDLK_CASE(amode, 9) TDLK_CASE(amode, 10) TDLK_CASE(amode, 11)                              \
        TDLK_CASE(amode, 12)                                                                       \
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

const tdlk_gemm_arch tdlk_gemm_avx512 = {
    .mr = MR,
    .nr = NR,
    .kc = KC,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel,
    .kernel_ua = kernel_ua,
};
