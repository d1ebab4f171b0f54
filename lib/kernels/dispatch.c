/* The un-suffixed vector kernels: forward to the ISA chosen at build time,
 * or to the portable versions in ref/ for simd=none. */
#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

#ifdef TDLK_VEC_DECL
#define TDLK_IMPL(name) TDLK_VEC_DECL(name)
#else
#define TDLK_IMPL(name) name##_ref
#endif

void tdlk_vexp(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vexp)(n, x, y);
}

void tdlk_vtanh(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vtanh)(n, x, y);
}

void tdlk_vsigmoid(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vsigmoid)(n, x, y);
}

void tdlk_vgelu(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vgelu)(n, x, y);
}

void tdlk_vgelu_grad(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vgelu_grad)(n, x, y);
}

void tdlk_vgelu_grad2(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vgelu_grad2)(n, x, y);
}

float tdlk_vsum(int64_t n, const float *x)
{
    return TDLK_IMPL(tdlk_vsum)(n, x);
}

float tdlk_vmax(int64_t n, const float *x)
{
    return TDLK_IMPL(tdlk_vmax)(n, x);
}

void tdlk_softmax_rows(int64_t rows, int64_t cols, const float *x, float *y)
{
    TDLK_IMPL(tdlk_softmax_rows)(rows, cols, x, y);
}

void tdlk_log_softmax_rows(int64_t rows, int64_t cols, const float *x, float *y)
{
    TDLK_IMPL(tdlk_log_softmax_rows)(rows, cols, x, y);
}

void tdlk_vaxpy(int64_t n, float alpha, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vaxpy)(n, alpha, x, y);
}

void tdlk_vfill(int64_t n, float v, float *y)
{
    TDLK_IMPL(tdlk_vfill)(n, v, y);
}

void tdlk_adam_update(int64_t n, float *p, const float *g, float *m, float *v, float lr, float b1,
                      float b2, float eps, float wd, int decoupled, float bc1, float bc2)
{
    TDLK_IMPL(tdlk_adam_update)(n, p, g, m, v, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

void tdlk_vrelu(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vrelu)(n, x, y);
}

void tdlk_vrelu_grad(int64_t n, const float *x, const float *dy, float *y)
{
    TDLK_IMPL(tdlk_vrelu_grad)(n, x, dy, y);
}

void tdlk_vstep(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vstep)(n, x, y);
}

void tdlk_vleaky_relu(int64_t n, float slope, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vleaky_relu)(n, slope, x, y);
}

void tdlk_vaffine(int64_t n, float scale, float shift, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vaffine)(n, scale, shift, x, y);
}

void tdlk_vsqrt(int64_t n, const float *x, float *y)
{
    TDLK_IMPL(tdlk_vsqrt)(n, x, y);
}

void tdlk_vbinary(int op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                  float *y)
{
    TDLK_IMPL(tdlk_vbinary)(op, n, a, sa, b, sb, y);
}

void tdlk_maxpool2x2(int64_t planes, int64_t h, int64_t w, const float *x, float *y)
{
    TDLK_IMPL(tdlk_maxpool2x2)(planes, h, w, x, y);
}

void tdlk_maxpool2x2_scatter(int64_t planes, int64_t h, int64_t w, const float *x, const float *g,
                             float *dx)
{
    TDLK_IMPL(tdlk_maxpool2x2_scatter)(planes, h, w, x, g, dx);
}

void tdlk_maxpool2x2_gather(int64_t planes, int64_t h, int64_t w, const float *x, const float *v,
                            float *y)
{
    TDLK_IMPL(tdlk_maxpool2x2_gather)(planes, h, w, x, v, y);
}

const char *tdlk_isa_name(void)
{
    return TDL_SIMD_NAME;
}
