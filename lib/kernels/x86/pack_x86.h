/* Packing helpers shared by the AVX2 and AVX-512 GEMMs (included by exactly
 * one translation unit per ISA library; needs AVX2 at least).
 *
 * Both packed layouts are "depth-major panels": dst[p * dw + r] for r < dw,
 * p < depth, with rows r >= the real row count set to zero.
 *   copy_pack:  source element (r, p) at src[p * ld + r] (rows contiguous)
 *   trans_pack: source element (r, p) at src[r * ld + p] (depth contiguous),
 *               transposed 8 x 8 (and 4 x 4) blocks at a time. */
#ifndef TDL_KERNELS_PACK_X86_H
#define TDL_KERNELS_PACK_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline __m256i tdlk_x86_lanes(int64_t k)
{
    int32_t kk = k > 8 ? 8 : k < 0 ? 0 : (int32_t)k;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline void tdlk_x86_copy_pack(const float *src, int64_t ld, int64_t r, int64_t depth,
                                      float *dst, int dw)
{
    if (r == dw && dw % 8 == 0) {
        for (int64_t p = 0; p < depth; p++) {
            const float *s = src + p * ld;
            float *d = dst + p * dw;
            for (int q = 0; q < dw; q += 8)
                _mm256_storeu_ps(d + q, _mm256_loadu_ps(s + q));
        }
        return;
    }
    /* Masked loads read only the r real rows (zeros elsewhere); masked
     * stores keep within the dw floats of each step. */
    for (int64_t p = 0; p < depth; p++) {
        const float *s = src + p * ld;
        float *d = dst + p * dw;
        for (int q = 0; q < dw; q += 8) {
            __m256 v = _mm256_maskload_ps(s + q, tdlk_x86_lanes(r - q));
            if (q + 8 <= dw)
                _mm256_storeu_ps(d + q, v);
            else
                _mm256_maskstore_ps(d + q, tdlk_x86_lanes(dw - q), v);
        }
    }
}

static inline void tdlk_x86_transpose8(__m256 *v)
{
    __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]);
    __m256 t1 = _mm256_unpackhi_ps(v[0], v[1]);
    __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]);
    __m256 t3 = _mm256_unpackhi_ps(v[2], v[3]);
    __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]);
    __m256 t5 = _mm256_unpackhi_ps(v[4], v[5]);
    __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]);
    __m256 t7 = _mm256_unpackhi_ps(v[6], v[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

static inline void tdlk_x86_trans_pack(const float *src, int64_t ld, int64_t r, int64_t depth,
                                       float *dst, int dw)
{
    int64_t r0 = 0;
    int64_t d8 = depth & ~(int64_t)7, d4 = depth & ~(int64_t)3;
    for (; r0 + 8 <= r; r0 += 8) {
        const float *s = src + r0 * ld;
        int64_t p = 0;
        for (; p < d8; p += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++)
                v[i] = _mm256_loadu_ps(s + i * ld + p);
            tdlk_x86_transpose8(v);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps(dst + (p + i) * dw + r0, v[i]);
        }
        for (; p < depth; p++)
            for (int i = 0; i < 8; i++)
                dst[p * dw + r0 + i] = s[i * ld + p];
    }
    for (; r0 + 4 <= r; r0 += 4) {
        const float *s = src + r0 * ld;
        int64_t p = 0;
        for (; p < d4; p += 4) {
            __m128 v0 = _mm_loadu_ps(s + p), v1 = _mm_loadu_ps(s + ld + p);
            __m128 v2 = _mm_loadu_ps(s + 2 * ld + p), v3 = _mm_loadu_ps(s + 3 * ld + p);
            _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
            _mm_storeu_ps(dst + p * dw + r0, v0);
            _mm_storeu_ps(dst + (p + 1) * dw + r0, v1);
            _mm_storeu_ps(dst + (p + 2) * dw + r0, v2);
            _mm_storeu_ps(dst + (p + 3) * dw + r0, v3);
        }
        for (; p < depth; p++)
            for (int i = 0; i < 4; i++)
                dst[p * dw + r0 + i] = s[i * ld + p];
    }
    for (; r0 < r; r0++) {
        const float *s = src + r0 * ld;
        for (int64_t p = 0; p < depth; p++)
            dst[p * dw + r0] = s[p];
    }
    if (r < dw)
        for (int64_t p = 0; p < depth; p++)
            memset(dst + p * dw + r, 0, (size_t)(dw - r) * sizeof(float));
}

#endif
