/* AArch64 Advanced SIMD GEMM register tile: 8 x 12 (24 q accumulators, three
 * B vectors, two A vectors used lane by lane with FMLA by element). Edge
 * tiles compute the zero-padded full tile and store the part that exists. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/kernels_isa.h"

#define MR 8
#define NR 12
#define KC 256

static void pack_panel(int contiguous, const float *src, int64_t ld, int64_t r, int64_t depth,
                       float *dst, int dw)
{
    /* contiguous: element (i, p) at src[p * ld + i]; else at src[i * ld + p] */
    for (int64_t p = 0; p < depth; p++) {
        float *d = dst + p * dw;
        if (contiguous) {
            memcpy(d, src + p * ld, (size_t)r * sizeof(float));
        } else {
            for (int64_t i = 0; i < r; i++)
                d[i] = src[i * ld + p];
        }
        for (int64_t i = r; i < dw; i++)
            d[i] = 0.0f;
    }
}

static void pack_a(int trans, const float *a, int64_t lda, int64_t rows, int64_t depth, float *dst)
{
    pack_panel(trans, a, lda, rows, depth, dst, MR);
}

static void pack_b(int trans, const float *b, int64_t ldb, int64_t depth, int64_t cols, float *dst)
{
    pack_panel(!trans, b, ldb, cols, depth, dst, NR);
}

#define TDLK_ROW(i, av, lane)                                                                      \
    do {                                                                                           \
        c[i][0] = vfmaq_laneq_f32(c[i][0], b0, av, lane);                                          \
        c[i][1] = vfmaq_laneq_f32(c[i][1], b1, av, lane);                                          \
        c[i][2] = vfmaq_laneq_f32(c[i][2], b2, av, lane);                                          \
    } while (0)

static void kernel(int64_t depth, const float *a, const float *b, float *cp, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    float32x4_t c[MR][3];
    for (int i = 0; i < MR; i++)
        c[i][0] = c[i][1] = c[i][2] = vdupq_n_f32(0.0f);
    for (int64_t p = 0; p < depth; p++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        TDLK_ROW(0, a0, 0);
        TDLK_ROW(1, a0, 1);
        TDLK_ROW(2, a0, 2);
        TDLK_ROW(3, a0, 3);
        TDLK_ROW(4, a1, 0);
        TDLK_ROW(5, a1, 1);
        TDLK_ROW(6, a1, 2);
        TDLK_ROW(7, a1, 3);
        a += MR;
        b += NR;
    }
    float32x4_t va = vdupq_n_f32(alpha), vb = vdupq_n_f32(beta);
    if (rows == MR && cols == NR) {
        for (int i = 0; i < MR; i++) {
            for (int j = 0; j < 3; j++) {
                float32x4_t r = vmulq_f32(va, c[i][j]);
                if (beta != 0.0f)
                    r = vfmaq_f32(r, vb, vld1q_f32(cp + i * ldc + 4 * j));
                vst1q_f32(cp + i * ldc + 4 * j, r);
            }
        }
        return;
    }
    float tile[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 3; j++)
            vst1q_f32(&tile[i][4 * j], vmulq_f32(va, c[i][j]));
    for (int64_t i = 0; i < rows; i++) {
        float *ci = cp + i * ldc;
        for (int64_t j = 0; j < cols; j++)
            ci[j] = beta == 0.0f ? tile[i][j] : tile[i][j] + beta * ci[j];
    }
}

const tdlk_gemm_arch tdlk_gemm_neon = {
    .mr = MR,
    .nr = NR,
    .kc = KC,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel,
};
