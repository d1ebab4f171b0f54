/* Portable reference vector kernels (libm based). Also the implementation
 * used by builds with simd=none. */
#include <math.h>

#include "kernels/kernels.h"

void tdlk_vexp_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

void tdlk_vtanh_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

void tdlk_vsigmoid_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

void tdlk_vgelu_ref(int64_t n, const float *x, float *y)
{
    /* x * Phi(x) with Phi(x) = erfc(-x / sqrt(2)) / 2: the erfc form keeps
     * its relative accuracy in the negative tail, where 1 + erf cancels; in
     * double, because a float x / sqrt(2) would already cost x^2 u there. */
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v * 0.5 * erfc(-v * M_SQRT1_2));
    }
}

/* In double, x clamped to [-20, 20] (where the float results have reached
 * their limits): +-inf give 1 and 0 rather than inf * 0. */
static double clamp20(float x)
{
    return x > 20.0f ? 20.0 : x < -20.0f ? -20.0 : (double)x;
}

void tdlk_vgelu_grad_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        double v = clamp20(x[i]);
        double phi = exp(-0.5 * v * v) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
        y[i] = (float)(0.5 * erfc(-v * M_SQRT1_2) + v * phi);
    }
}

void tdlk_vgelu_grad2_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        double v = clamp20(x[i]);
        double phi = exp(-0.5 * v * v) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
        y[i] = (float)((2.0 - v * v) * phi);
    }
}

float tdlk_vsum_ref(int64_t n, const float *x)
{
    /* The canonical order (TDLK_SUM_LANES partial sums, then a fixed tree),
     * reproduced bit for bit by every SIMD version. */
    float s[TDLK_SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + TDLK_SUM_LANES <= n; i += TDLK_SUM_LANES)
        for (int j = 0; j < TDLK_SUM_LANES; j++)
            s[j] += x[i + j];
    for (int j = 0; i + j < n; j++)
        s[j] += x[i + j];
    /* 64 -> 16: v[j] = (s[j] + s[j+16]) + (s[j+32] + s[j+48]) */
    float v[16];
    for (int j = 0; j < 16; j++)
        v[j] = (s[j] + s[j + 16]) + (s[j + 32] + s[j + 48]);
    /* 16 -> 8 -> 4 -> 2 -> 1, halving: v[j] += v[j + half] */
    for (int half = 8; half >= 1; half /= 2)
        for (int j = 0; j < half; j++)
            v[j] = v[j] + v[j + half];
    return v[0];
}

float tdlk_vmax_ref(int64_t n, const float *x)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] > m)
            m = x[i];
    }
    return m;
}

void tdlk_softmax_rows_ref(int64_t rows, int64_t cols, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = tdlk_vmax_ref(cols, xr);
        float s = 0.0f;
        for (int64_t j = 0; j < cols; j++) {
            yr[j] = expf(xr[j] - mx);
            s += yr[j];
        }
        float inv = 1.0f / s;
        for (int64_t j = 0; j < cols; j++)
            yr[j] *= inv;
    }
}

void tdlk_log_softmax_rows_ref(int64_t rows, int64_t cols, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = tdlk_vmax_ref(cols, xr);
        float s = 0.0f;
        for (int64_t j = 0; j < cols; j++)
            s += expf(xr[j] - mx);
        float ls = logf(s);
        for (int64_t j = 0; j < cols; j++)
            yr[j] = (xr[j] - mx) - ls;
    }
}

void tdlk_vfill_ref(int64_t n, float v, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = v;
}

void tdlk_vaxpy_ref(int64_t n, float alpha, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void tdlk_adam_update_ref(int64_t n, float *p, const float *g, float *m, float *v, float lr,
                          float b1, float b2, float eps, float wd, int decoupled, float bc1,
                          float bc2)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i];
        if (decoupled)
            pi = pi * (1.0f - lr * wd);
        else
            gi = gi + wd * pi;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}
