/* AVX-512 vector kernels: the operations vec_template.h needs (16 lanes,
 * masked tails: nothing outside [0, n) is read or written), plus the
 * reductions whose order is fixed: vsum and vmax. Accuracy: see
 * vec_template.h. */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

typedef __m512 vf;
#define VF_W           16
#define TDLK_SFX(name) name##_avx512

static inline __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

static inline vf vf_set1(float v)
{
    return _mm512_set1_ps(v);
}
static inline vf vf_load(const float *p)
{
    return _mm512_loadu_ps(p);
}
static inline void vf_store(float *p, vf v)
{
    _mm512_storeu_ps(p, v);
}
static inline vf vf_load_part(const float *p, int64_t k, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(k), p);
}
static inline void vf_store_part(float *p, vf v, int64_t k)
{
    _mm512_mask_storeu_ps(p, tail_mask(k), v);
}
static inline vf vf_add(vf a, vf b)
{
    return _mm512_add_ps(a, b);
}
static inline vf vf_sub(vf a, vf b)
{
    return _mm512_sub_ps(a, b);
}
static inline vf vf_mul(vf a, vf b)
{
    return _mm512_mul_ps(a, b);
}
static inline vf vf_div(vf a, vf b)
{
    return _mm512_div_ps(a, b);
}
static inline vf vf_sqrt(vf a)
{
    return _mm512_sqrt_ps(a);
}
static inline vf vf_abs(vf a)
{
    return _mm512_abs_ps(a);
}
static inline vf vf_fma(vf a, vf b, vf c)
{
    return _mm512_fmadd_ps(a, b, c);
}
static inline vf vf_fms(vf a, vf b, vf c)
{
    return _mm512_fmsub_ps(a, b, c);
}
static inline vf vf_fnma(vf a, vf b, vf c)
{
    return _mm512_fnmadd_ps(a, b, c);
}
/* x86 min/max return the second operand when either is NaN */
static inline vf vf_min(vf c, vf x)
{
    return _mm512_min_ps(c, x);
}
static inline vf vf_max(vf c, vf x)
{
    return _mm512_max_ps(c, x);
}
static inline vf vf_round(vf x)
{
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vf_ldexp(vf p, vf n)
{
    return _mm512_scalef_ps(p, n);
}
static inline vf vf_copysign(vf mag, vf sgn)
{
    const vf sign = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(sign, mag), _mm512_and_ps(sign, sgn));
}
static inline vf vf_select_lt(vf a, vf b, vf t, vf f)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
}
static inline float vf_hsum(vf v)
{
    return _mm512_reduce_add_ps(v);
}
static inline vf vf_select_eq(vf a, vf b, vf t, vf f)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ), f, t);
}
static inline vf vf_select_nan(vf a, vf t, vf f)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), f, t);
}
/* b > m ? b : m: MAXPS returns its second operand unless the first is greater */
static inline vf vf_pick_gt(vf m, vf b)
{
    return _mm512_max_ps(b, m);
}
static inline int vf_any_nan2(vf a, vf b)
{
    return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) != 0;
}

/* Lanes below k (k may be <= 0 or > 16). */
static inline __mmask16 lanes_below(int64_t k)
{
    return k <= 0 ? (__mmask16)0 : tail_mask(k);
}
/* The even and odd elements of p[0 .. 2 VF_W). */
static inline void vf_deint(vf lo, vf hi, vf *e, vf *o)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *e = _mm512_permutex2var_ps(lo, ie, hi);
    *o = _mm512_permutex2var_ps(lo, io, hi);
}
static inline void vf_load_deint(const float *p, vf *e, vf *o)
{
    vf_deint(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16), e, o);
}
/* The same for k < VF_W pairs (2k floats read); the other lanes are 0. */
static inline void vf_load_deint_part(const float *p, int64_t k, vf *e, vf *o)
{
    vf_deint(_mm512_maskz_loadu_ps(lanes_below(2 * k), p),
             _mm512_maskz_loadu_ps(lanes_below(2 * k - 16), p + 16), e, o);
}
static inline void vf_int(vf e, vf o, vf *lo, vf *hi)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(e, il, o);
    *hi = _mm512_permutex2var_ps(e, ih, o);
}
/* p[2i] = e[i], p[2i + 1] = o[i] for i < VF_W (or < k: 2k floats written). */
static inline void vf_store_int(float *p, vf e, vf o)
{
    vf lo, hi;
    vf_int(e, o, &lo, &hi);
    _mm512_storeu_ps(p, lo);
    _mm512_storeu_ps(p + 16, hi);
}
static inline void vf_store_int_part(float *p, vf e, vf o, int64_t k)
{
    vf lo, hi;
    vf_int(e, o, &lo, &hi);
    _mm512_mask_storeu_ps(p, lanes_below(2 * k), lo);
    _mm512_mask_storeu_ps(p + 16, lanes_below(2 * k - 16), hi);
}

float tdlk_vsum_avx512(int64_t n, const float *x)
{
    /* The canonical order of tdlk_vsum_ref: lane l of acc[q] is s[16q + l]. */
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int q = 0; q < 4; q++)
            acc[q] = _mm512_add_ps(acc[q], _mm512_loadu_ps(x + i + 16 * q));
    for (int q = 0; q < 4 && i + 16 * q < n; q++) {
        __mmask16 k = tail_mask(n - i - 16 * q);
        acc[q] = _mm512_mask_add_ps(acc[q], k, acc[q], _mm512_maskz_loadu_ps(k, x + i + 16 * q));
    }
    __m512 v = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

float tdlk_vmax_avx512(int64_t n, const float *x)
{
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    __mmask16 nan = 0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, a);
        m1 = _mm512_max_ps(m1, b);
    }
    for (; i < n; i += 16) {
        __m512 a = vf_load_part(x + i, n - i, -INFINITY);
        nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, a);
    }
    if (nan)
        return NAN;
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

#include "kernels/vec_template.h"
#include "kernels/pool_template.h"
