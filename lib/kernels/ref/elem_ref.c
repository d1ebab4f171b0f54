/* Portable reference elementwise and 2x2 max-pooling kernels: the oracles of
 * the exact kernels in kernels.h, and the implementation of simd=none. Each
 * product and sum is its own statement, so no compiler contracts a
 * multiply-add into an FMA (the SIMD versions do not either). */
#include <math.h>

#include "kernels/kernels.h"

void tdlk_vrelu_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void tdlk_vrelu_grad_ref(int64_t n, const float *x, const float *dy, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? dy[i] : dy[i] * 0.0f;
}

void tdlk_vstep_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? 1.0f : 0.0f;
}

void tdlk_vleaky_relu_ref(int64_t n, float slope, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void tdlk_vaffine_ref(int64_t n, float scale, float shift, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float t = scale * x[i];
        y[i] = t + shift;
    }
}

void tdlk_vsqrt_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = sqrtf(x[i]);
}

void tdlk_vbinary_ref(int op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                      float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float u = a[i * sa], v = b[i * sb];
        switch (op) {
        case TDLK_ADD: y[i] = u + v; break;
        case TDLK_SUB: y[i] = u - v; break;
        case TDLK_MUL: y[i] = u * v; break;
        default: y[i] = u / v; break;
        }
    }
}

/* The winner (0..3) of the window a, b, c, d: the first NaN, else the first
 * maximum. */
static int winner(float a, float b, float c, float d)
{
    if (isnan(a))
        return 0;
    if (isnan(b))
        return 1;
    if (isnan(c))
        return 2;
    if (isnan(d))
        return 3;
    int k = 0;
    float m = a;
    if (b > m) {
        m = b;
        k = 1;
    }
    if (c > m) {
        m = c;
        k = 2;
    }
    if (d > m)
        k = 3;
    return k;
}

/* Offset of window (i, j)'s element k in a row-major plane of width w. */
static int64_t at(int64_t w, int64_t i, int64_t j, int k)
{
    return (2 * i + (k >> 1)) * w + 2 * j + (k & 1);
}

static int window_winner(const float *x, int64_t w, int64_t i, int64_t j)
{
    return winner(x[at(w, i, j, 0)], x[at(w, i, j, 1)], x[at(w, i, j, 2)], x[at(w, i, j, 3)]);
}

void tdlk_maxpool2x2_ref(int64_t planes, int64_t h, int64_t w, const float *x, float *y)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, y += oh * ow)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                y[i * ow + j] = x[at(w, i, j, window_winner(x, w, i, j))];
}

void tdlk_maxpool2x2_scatter_ref(int64_t planes, int64_t h, int64_t w, const float *x,
                                 const float *g, float *dx)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, g += oh * ow, dx += h * w) {
        for (int64_t e = 0; e < h * w; e++)
            dx[e] = 0.0f;
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                dx[at(w, i, j, window_winner(x, w, i, j))] = g[i * ow + j];
    }
}

void tdlk_maxpool2x2_gather_ref(int64_t planes, int64_t h, int64_t w, const float *x,
                                const float *v, float *y)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, v += h * w, y += oh * ow)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                y[i * ow + j] = v[at(w, i, j, window_winner(x, w, i, j))];
}
