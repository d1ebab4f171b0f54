/* AVX2 + FMA vector kernels: the operations vec_template.h needs (8 lanes,
 * masked tails: nothing outside [0, n) is read or written), plus the
 * reductions whose order is fixed: vsum and vmax. Accuracy: see
 * vec_template.h. */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

typedef __m256 vf;
#define VF_W           8
#define TDLK_SFX(name) name##_avx2

/* All-ones in the lanes below k. */
static inline __m256i lane_mask(int64_t k)
{
    int32_t kk = k > 8 ? 8 : (int32_t)k;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline vf vf_set1(float v)
{
    return _mm256_set1_ps(v);
}
static inline vf vf_load(const float *p)
{
    return _mm256_loadu_ps(p);
}
static inline void vf_store(float *p, vf v)
{
    _mm256_storeu_ps(p, v);
}
static inline vf vf_load_part(const float *p, int64_t k, float fill)
{
    __m256i m = lane_mask(k);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vf_store_part(float *p, vf v, int64_t k)
{
    _mm256_maskstore_ps(p, lane_mask(k), v);
}
static inline vf vf_add(vf a, vf b)
{
    return _mm256_add_ps(a, b);
}
static inline vf vf_sub(vf a, vf b)
{
    return _mm256_sub_ps(a, b);
}
static inline vf vf_mul(vf a, vf b)
{
    return _mm256_mul_ps(a, b);
}
static inline vf vf_div(vf a, vf b)
{
    return _mm256_div_ps(a, b);
}
static inline vf vf_sqrt(vf a)
{
    return _mm256_sqrt_ps(a);
}
static inline vf vf_abs(vf a)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
}
static inline vf vf_fma(vf a, vf b, vf c)
{
    return _mm256_fmadd_ps(a, b, c);
}
static inline vf vf_fms(vf a, vf b, vf c)
{
    return _mm256_fmsub_ps(a, b, c);
}
static inline vf vf_fnma(vf a, vf b, vf c)
{
    return _mm256_fnmadd_ps(a, b, c);
}
/* x86 min/max return the second operand when either is NaN */
static inline vf vf_min(vf c, vf x)
{
    return _mm256_min_ps(c, x);
}
static inline vf vf_max(vf c, vf x)
{
    return _mm256_max_ps(c, x);
}
static inline vf vf_round(vf x)
{
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* p 2^n as p 2^(n/2) 2^(n - n/2): both factors are normal floats for n in
 * [-150, 130], and only the last product rounds (into subnormals too). */
static inline vf vf_ldexp(vf p, vf n)
{
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
static inline vf vf_copysign(vf mag, vf sgn)
{
    const vf sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
}
static inline vf vf_select_lt(vf a, vf b, vf t, vf f)
{
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline float vf_hsum(vf v)
{
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
static inline vf vf_select_eq(vf a, vf b, vf t, vf f)
{
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_EQ_OQ));
}
static inline vf vf_select_nan(vf a, vf t, vf f)
{
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
/* b > m ? b : m: MAXPS returns its second operand unless the first is greater */
static inline vf vf_pick_gt(vf m, vf b)
{
    return _mm256_max_ps(b, m);
}
static inline int vf_any_nan2(vf a, vf b)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q)) != 0;
}

/* The even and odd elements of lo:hi. */
static inline void vf_deint(vf lo, vf hi, vf *e, vf *o)
{
    /* [0 2 8 10 | 4 6 12 14], then the 64-bit pairs in the order 0 2 1 3 */
    vf se = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    vf so = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(se), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(so), _MM_SHUFFLE(3, 1, 2, 0)));
}
/* The even and odd elements of p[0 .. 2 VF_W). */
static inline void vf_load_deint(const float *p, vf *e, vf *o)
{
    vf_deint(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), e, o);
}
/* The same for k < VF_W pairs (2k floats read); the other lanes are 0. */
static inline void vf_load_deint_part(const float *p, int64_t k, vf *e, vf *o)
{
    vf_deint(_mm256_maskload_ps(p, lane_mask(2 * k)),
             _mm256_maskload_ps(p + 8, lane_mask(2 * k - 8)), e, o);
}
static inline void vf_int(vf e, vf o, vf *lo, vf *hi)
{
    vf l = _mm256_unpacklo_ps(e, o); /* e0 o0 e1 o1 | e4 o4 e5 o5 */
    vf h = _mm256_unpackhi_ps(e, o); /* e2 o2 e3 o3 | e6 o6 e7 o7 */
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}
/* p[2i] = e[i], p[2i + 1] = o[i] for i < VF_W (or < k: 2k floats written). */
static inline void vf_store_int(float *p, vf e, vf o)
{
    vf lo, hi;
    vf_int(e, o, &lo, &hi);
    _mm256_storeu_ps(p, lo);
    _mm256_storeu_ps(p + 8, hi);
}
static inline void vf_store_int_part(float *p, vf e, vf o, int64_t k)
{
    vf lo, hi;
    vf_int(e, o, &lo, &hi);
    _mm256_maskstore_ps(p, lane_mask(2 * k), lo);
    _mm256_maskstore_ps(p + 8, lane_mask(2 * k - 8), hi);
}

float tdlk_vsum_avx2(int64_t n, const float *x)
{
    /* The canonical order of tdlk_vsum_ref: lane l of acc[q] is s[8q + l]. */
    __m256 acc[8];
    for (int q = 0; q < 8; q++)
        acc[q] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int q = 0; q < 8; q++)
            acc[q] = _mm256_add_ps(acc[q], _mm256_loadu_ps(x + i + 8 * q));
    for (int q = 0; q < 8 && i + 8 * q < n; q++) {
        /* lanes past the end keep their value exactly (also -0) */
        __m256i m = lane_mask(n - i - 8 * q);
        __m256 s = _mm256_add_ps(acc[q], _mm256_maskload_ps(x + i + 8 * q, m));
        acc[q] = _mm256_blendv_ps(acc[q], s, _mm256_castsi256_ps(m));
    }
    /* v[j] = (s[j] + s[j+16]) + (s[j+32] + s[j+48]): lanes 0-7 and 8-15 */
    __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[4], acc[6]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[3]), _mm256_add_ps(acc[5], acc[7]));
    return vf_hsum(_mm256_add_ps(lo, hi));
}

float tdlk_vmax_avx2(int64_t n, const float *x)
{
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(m0, a);
        m1 = _mm256_max_ps(m1, b);
    }
    for (; i < n; i += 8) {
        __m256 a = vf_load_part(x + i, n - i, -INFINITY);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(m0, a);
    }
    if (_mm256_movemask_ps(nan))
        return NAN;
    m0 = _mm256_max_ps(m0, m1);
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

#include "kernels/vec_template.h"
#include "kernels/pool_template.h"
