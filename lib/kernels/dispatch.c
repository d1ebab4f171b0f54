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

void tdlk_adam_update(int64_t n, float *p, const float *g, float *m, float *v, float lr, float b1,
                      float b2, float eps, float wd, int decoupled, float bc1, float bc2)
{
    TDLK_IMPL(tdlk_adam_update)(n, p, g, m, v, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

const char *tdlk_isa_name(void)
{
    return TDL_SIMD_NAME;
}
