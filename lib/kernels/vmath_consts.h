/* Constants of the SIMD elementwise approximations, shared by every ISA. */
#ifndef TDL_KERNELS_VMATH_CONSTS_H
#define TDL_KERNELS_VMATH_CONSTS_H

#define TDLK_LOG2E       1.44269504088896341f
#define TDLK_SQRT1_2     0.70710678118654752f
#define TDLK_INV_SQRT2PI 0.39894228040143268f

/* exp: inputs clamped to [LO, HI] (beyond: 0 or +inf anyway); ln2 split so
 * that n * LN2_HI is exact for |n| < 2^15; polynomial for exp(r) - 1 - r,
 * |r| <= ln2 / 2 (Cephes expf coefficients). */
#define TDLK_EXP_HI 89.0f
#define TDLK_EXP_LO -104.0f
#define TDLK_LN2_HI 0.693359375f
#define TDLK_LN2_LO -2.12194440e-4f
#define TDLK_EXP_P0 1.9875691500e-4f
#define TDLK_EXP_P1 1.3981999507e-3f
#define TDLK_EXP_P2 8.3334519073e-3f
#define TDLK_EXP_P3 4.1665795894e-2f
#define TDLK_EXP_P4 1.6666665459e-1f
#define TDLK_EXP_P5 5.0000001201e-1f

/* tanh on |x| < TANH_SMALL: x + x^3 P(x^2) (Cephes tanhf coefficients). */
#define TDLK_TANH_SMALL 0.625f
#define TDLK_TANH_P0    -5.70498872745e-3f
#define TDLK_TANH_P1    2.06390887954e-2f
#define TDLK_TANH_P2    -5.37397155531e-2f
#define TDLK_TANH_P3    1.33314422036e-1f
#define TDLK_TANH_P4    -3.33332819422e-1f

/* erfc(z) = t exp(-z^2 + sum P_i t^i), t = 1 / (1 + z / 2), z >= 0, with a
 * fractional error below 1.2e-7 (the Chebyshev fit of Numerical Recipes'
 * erfcc; P0 includes its constant -1.26551223). */
#define TDLK_ERFC_P0 -1.26551223f
#define TDLK_ERFC_P1 1.00002368f
#define TDLK_ERFC_P2 0.37409196f
#define TDLK_ERFC_P3 0.09678418f
#define TDLK_ERFC_P4 -0.18628806f
#define TDLK_ERFC_P5 0.27886807f
#define TDLK_ERFC_P6 -1.13520398f
#define TDLK_ERFC_P7 1.48851587f
#define TDLK_ERFC_P8 -0.82215223f
#define TDLK_ERFC_P9 0.17087277f

#endif
