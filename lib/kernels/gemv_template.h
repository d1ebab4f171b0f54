/* y = alpha * a . B^T + beta * y for one row a (the m == 1, trans_b case of
 * SGEMM: a dense layer at batch 1). Each output is a dot product with a
 * contiguous row of B, so nothing is packed. Included by a file compiled for
 * each ISA (gemv_*.c) after defining TDLK_GEMV_NAME; the fixed 16 partial sums
 * let the compiler vectorise without reassociating, so the result depends
 * only on k (never on threads or on the ISA's vector width). */
#include <stdint.h>

#define TDLK_GEMV_LANES 16

static float dot_row(const float *a, int64_t sa, const float *b, int64_t k)
{
    float acc[TDLK_GEMV_LANES] = {0};
    int64_t p = 0;
    if (sa == 1) {
        for (; p + TDLK_GEMV_LANES <= k; p += TDLK_GEMV_LANES)
            for (int l = 0; l < TDLK_GEMV_LANES; ++l)
                acc[l] += a[p + l] * b[p + l];
    }
    for (; p < k; ++p)
        acc[p % TDLK_GEMV_LANES] += a[p * sa] * b[p];
    /* pairwise, in a fixed order */
    for (int w = TDLK_GEMV_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; ++l)
            acc[l] += acc[l + w];
    return acc[0];
}

void TDLK_GEMV_NAME(int64_t n0, int64_t n1, int64_t k, float alpha, const float *a, int64_t sa,
                    const float *b, int64_t ldb, float beta, float *c)
{
    for (int64_t j = n0; j < n1; ++j) {
        float v = alpha * dot_row(a, sa, b + j * ldb, k);
        c[j] = beta == 0.0f ? v : v + beta * c[j];
    }
}
