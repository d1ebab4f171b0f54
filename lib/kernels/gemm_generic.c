/* Portable GEMM register tile (simd=none): 6 x 8, written with 4-float
 * vectors of the GNU C vector extension (SSE2 / Advanced SIMD registers on
 * the usual targets), scalar C elsewhere. */
#include "kernels/kernels_isa.h"

#define MR 6
#define NR 8
#define KC 256

static void pack_a(int trans, const float *a, int64_t lda, int64_t rows, int64_t depth, float *dst)
{
    for (int64_t q = 0; q < rows; q += MR) {
        int64_t r = rows - q < MR ? rows - q : MR;
        for (int64_t p = 0; p < depth; p++) {
            float *d = dst + p * MR;
            for (int64_t i = 0; i < r; i++)
                d[i] = trans ? a[p * lda + q + i] : a[(q + i) * lda + p];
            for (int64_t i = r; i < MR; i++)
                d[i] = 0.0f;
        }
        dst += depth * MR;
    }
}

static void pack_b(int trans, const float *b, int64_t ldb, int64_t depth, int64_t cols, float *dst)
{
    for (int64_t q = 0; q < cols; q += NR) {
        int64_t r = cols - q < NR ? cols - q : NR;
        for (int64_t p = 0; p < depth; p++) {
            float *d = dst + p * NR;
            for (int64_t j = 0; j < r; j++)
                d[j] = trans ? b[(q + j) * ldb + p] : b[p * ldb + q + j];
            for (int64_t j = r; j < NR; j++)
                d[j] = 0.0f;
        }
        dst += depth * NR;
    }
}

#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));

static void kernel(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    v4f acc[MR][2];
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = (v4f){0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t p = 0; p < depth; p++) {
        v4f b0, b1;
        __builtin_memcpy(&b0, b + p * NR, sizeof b0);
        __builtin_memcpy(&b1, b + p * NR + 4, sizeof b1);
        const float *ap = a + p * MR;
        for (int i = 0; i < MR; i++) {
            v4f av = {ap[i], ap[i], ap[i], ap[i]};
            acc[i][0] += av * b0;
            acc[i][1] += av * b1;
        }
    }
    float tile[MR][NR];
    for (int i = 0; i < MR; i++) {
        __builtin_memcpy(&tile[i][0], &acc[i][0], sizeof acc[i][0]);
        __builtin_memcpy(&tile[i][4], &acc[i][1], sizeof acc[i][1]);
    }
#else
static void kernel(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols)
{
    float tile[MR][NR] = {{0}};
    for (int64_t p = 0; p < depth; p++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                tile[i][j] += a[p * MR + i] * b[p * NR + j];
#endif
    for (int64_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < cols; j++)
                ci[j] = alpha * tile[i][j];
        else
            for (int64_t j = 0; j < cols; j++)
                ci[j] = alpha * tile[i][j] + beta * ci[j];
    }
}

const tdlk_gemm_arch tdlk_gemm_generic = {
    .mr = MR,
    .nr = NR,
    .kc = KC,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel,
};
