/* AArch64 Advanced SIMD vector kernels: the operations vec_template.h needs
 * (4 lanes; tails go through a small buffer, so nothing outside [0, n) is
 * touched), plus the reductions whose order is fixed: vsum and vmax.
 * Accuracy: see vec_template.h. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

typedef float32x4_t vf;
#define VF_W           4
#define TDLK_SFX(name) name##_neon

static inline vf vf_set1(float v)
{
    return vdupq_n_f32(v);
}

static inline vf vf_load(const float *p)
{
    return vld1q_f32(p);
}

static inline void vf_store(float *p, vf v)
{
    vst1q_f32(p, v);
}

static inline vf vf_load_part(const float *p, int64_t k, float fill)
{
    float buf[4] = {fill, fill, fill, fill};
    memcpy(buf, p, (size_t)(k < 4 ? k : 4) * sizeof(float));
    return vld1q_f32(buf);
}

static inline void vf_store_part(float *p, vf v, int64_t k)
{
    float buf[4];
    vst1q_f32(buf, v);
    memcpy(p, buf, (size_t)(k < 4 ? k : 4) * sizeof(float));
}

static inline vf vf_add(vf a, vf b)
{
    return vaddq_f32(a, b);
}

static inline vf vf_sub(vf a, vf b)
{
    return vsubq_f32(a, b);
}

static inline vf vf_mul(vf a, vf b)
{
    return vmulq_f32(a, b);
}

static inline vf vf_div(vf a, vf b)
{
    return vdivq_f32(a, b);
}

static inline vf vf_sqrt(vf a)
{
    return vsqrtq_f32(a);
}

static inline vf vf_abs(vf a)
{
    return vabsq_f32(a);
}

static inline vf vf_fma(vf a, vf b, vf c)
{
    return vfmaq_f32(c, a, b);
}

static inline vf vf_fms(vf a, vf b, vf c)
{
    return vnegq_f32(vfmsq_f32(c, a, b)); /* -(c - a b), one rounding */
}

static inline vf vf_fnma(vf a, vf b, vf c)
{
    return vfmsq_f32(c, a, b);
}

/* FMIN / FMAX return NaN when either operand is NaN */
static inline vf vf_min(vf c, vf x)
{
    return vminq_f32(c, x);
}

static inline vf vf_max(vf c, vf x)
{
    return vmaxq_f32(c, x);
}

static inline vf vf_round(vf x)
{
    return vrndnq_f32(x);
}

/* p 2^n as p 2^(n/2) 2^(n - n/2): both factors are normal floats for n in
 * [-150, 130], and only the last product rounds (into subnormals too). */
static inline vf vf_ldexp(vf p, vf n)
{
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t n1 = vshrq_n_s32(ni, 1);
    int32x4_t n2 = vsubq_s32(ni, n1);
    int32x4_t bias = vdupq_n_s32(127);
    vf s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    vf s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

static inline vf vf_copysign(vf mag, vf sgn)
{
    return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag);
}

static inline vf vf_select_lt(vf a, vf b, vf t, vf f)
{
    return vbslq_f32(vcltq_f32(a, b), t, f);
}

static inline float vf_hsum(vf v)
{
    return vaddvq_f32(v);
}

static inline vf vf_select_eq(vf a, vf b, vf t, vf f)
{
    return vbslq_f32(vceqq_f32(a, b), t, f);
}

static inline vf vf_select_nan(vf a, vf t, vf f)
{
    return vbslq_f32(vceqq_f32(a, a), f, t);
}

/* b > m ? b : m */
static inline vf vf_pick_gt(vf m, vf b)
{
    return vbslq_f32(vcgtq_f32(b, m), b, m);
}

static inline int vf_any_nan2(vf a, vf b)
{
    return vminvq_u32(vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b))) == 0;
}

/* The even and odd elements of p[0 .. 2 VF_W). */
static inline void vf_load_deint(const float *p, vf *e, vf *o)
{
    float32x4x2_t v = vld2q_f32(p);
    *e = v.val[0];
    *o = v.val[1];
}

/* The same for k < VF_W pairs (2k floats read); the other lanes are 0. */
static inline void vf_load_deint_part(const float *p, int64_t k, vf *e, vf *o)
{
    float buf[8] = {0};
    memcpy(buf, p, (size_t)(2 * (k < 4 ? k : 4)) * sizeof(float));
    vf_load_deint(buf, e, o);
}

/* p[2i] = e[i], p[2i + 1] = o[i] for i < VF_W (or < k: 2k floats written). */
static inline void vf_store_int(float *p, vf e, vf o)
{
    float32x4x2_t v = {{e, o}};
    vst2q_f32(p, v);
}

static inline void vf_store_int_part(float *p, vf e, vf o, int64_t k)
{
    float buf[8];
    vf_store_int(buf, e, o);
    memcpy(p, buf, (size_t)(2 * (k < 4 ? k : 4)) * sizeof(float));
}

float tdlk_vsum_neon(int64_t n, const float *x)
{
    /* The canonical order of tdlk_vsum_ref: lane l of acc[q] is s[4q + l]. */
    float32x4_t acc[16];
    for (int q = 0; q < 16; q++)
        acc[q] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int q = 0; q < 16; q++)
            acc[q] = vaddq_f32(acc[q], vld1q_f32(x + i + 4 * q));
    /* adding -0.0f leaves every value (also -0) unchanged */
    for (int q = 0; q < 16 && i + 4 * q < n; q++)
        acc[q] = vaddq_f32(acc[q], vf_load_part(x + i + 4 * q, n - i - 4 * q, -0.0f));
    float32x4_t v[4];
    for (int b = 0; b < 4; b++)
        v[b] = vaddq_f32(vaddq_f32(acc[b], acc[b + 4]), vaddq_f32(acc[b + 8], acc[b + 12]));
    float32x4_t u = vaddq_f32(vaddq_f32(v[0], v[2]), vaddq_f32(v[1], v[3]));
    float32x2_t h = vadd_f32(vget_low_f32(u), vget_high_f32(u));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

float tdlk_vmax_neon(int64_t n, const float *x)
{
    float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m0 = vmaxq_f32(m0, vld1q_f32(x + i));
        m1 = vmaxq_f32(m1, vld1q_f32(x + i + 4));
    }
    for (; i < n; i += 4)
        m0 = vmaxq_f32(m0, vf_load_part(x + i, n - i, -INFINITY));
    return vmaxvq_f32(vmaxq_f32(m0, m1));
}

#include "kernels/vec_template.h"
#include "kernels/pool_template.h"
