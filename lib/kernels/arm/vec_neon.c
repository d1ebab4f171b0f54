/* TEMPORARY: forwards to the portable versions until the neon code lands. */
#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

void tdlk_vexp_neon(int64_t n, const float *x, float *y) { tdlk_vexp_ref(n, x, y); }
void tdlk_vtanh_neon(int64_t n, const float *x, float *y) { tdlk_vtanh_ref(n, x, y); }
void tdlk_vsigmoid_neon(int64_t n, const float *x, float *y) { tdlk_vsigmoid_ref(n, x, y); }
void tdlk_vgelu_neon(int64_t n, const float *x, float *y) { tdlk_vgelu_ref(n, x, y); }
float tdlk_vsum_neon(int64_t n, const float *x) { return tdlk_vsum_ref(n, x); }
float tdlk_vmax_neon(int64_t n, const float *x) { return tdlk_vmax_ref(n, x); }
void tdlk_softmax_rows_neon(int64_t r, int64_t c, const float *x, float *y) { tdlk_softmax_rows_ref(r, c, x, y); }
void tdlk_log_softmax_rows_neon(int64_t r, int64_t c, const float *x, float *y) { tdlk_log_softmax_rows_ref(r, c, x, y); }
void tdlk_vaxpy_neon(int64_t n, float alpha, const float *x, float *y) { tdlk_vaxpy_ref(n, alpha, x, y); }
void tdlk_adam_update_neon(int64_t n, float *p, const float *g, float *m, float *v, float lr, float b1, float b2, float eps, float wd, int decoupled, float bc1, float bc2)
{
    tdlk_adam_update_ref(n, p, g, m, v, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}
