/* Internal to lib/kernels: the per-ISA pieces behind kernels.h.
 *
 * The GEMM driver (gemm.c, built without ISA flags) does the blocking and the
 * threading; an ISA provides the packing routines and the register-tiled
 * micro-kernel through a tdlk_gemm_arch table. Only the table of the ISA
 * selected at build time is linked. */
#ifndef TDL_KERNELS_ISA_H
#define TDL_KERNELS_ISA_H

#include <stdint.h>

#include "kernels/simd_config.h" /* generated: TDL_SIMD_* */

typedef struct tdlk_gemm_arch {
    int mr; /* rows of the register tile (broadcast side, from packed A) */
    int nr; /* columns of the register tile (vector side, from packed B) */
    int kc; /* largest depth block */
    /* Packs op(A)[rows x depth] (a points at its element (0, 0); trans: A is
     * stored depth x rows) into ceil(rows / mr) panels of depth x mr floats,
     * element (i, p) of panel q at dst[q * depth * mr + p * mr + i % mr];
     * rows past the end are zero. */
    void (*pack_a)(int trans, const float *a, int64_t lda, int64_t rows, int64_t depth, float *dst);
    /* Packs op(B)[depth x cols] (trans: B is stored cols x depth) into
     * ceil(cols / nr) panels of depth x nr floats, element (p, j) of panel q
     * at dst[q * depth * nr + p * nr + j % nr]; columns past the end are 0. */
    void (*pack_b)(int trans, const float *b, int64_t ldb, int64_t depth, int64_t cols, float *dst);
    /* C[mr x nr] = alpha * Apanel * Bpanel + beta * C (beta == 0: C not
     * read), summing over p = 0 .. depth-1 in order with one accumulator per
     * element; 1 <= rows <= mr, 1 <= cols <= nr. */
    void (*kernel)(int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                   float alpha, float beta, int64_t rows, int64_t cols);
    /* Optional (NULL: A is always packed): the same tile reading op(A)
     * straight from the caller's matrix, a pointing at element (0, 0) of the
     * tile's rows: (i, p) at a[i * lda + p], or at a[p * lda + i] if trans.
     * Reads only the `rows` rows that exist. */
    void (*kernel_ua)(int trans, int64_t depth, const float *a, int64_t lda, const float *b,
                      float *c, int64_t ldc, float alpha, float beta, int64_t rows, int64_t cols);
} tdlk_gemm_arch;

/* Portable C (kernels/gemm_generic.c), used by simd=none. */
extern const tdlk_gemm_arch tdlk_gemm_generic;

#if TDL_SIMD_AVX512
extern const tdlk_gemm_arch tdlk_gemm_avx512;
#define TDLK_VEC_DECL(name) name##_avx512
#endif
#if TDL_SIMD_AVX2
extern const tdlk_gemm_arch tdlk_gemm_avx2;
#define TDLK_VEC_DECL(name) name##_avx2
#endif
#if TDL_SIMD_NEON
extern const tdlk_gemm_arch tdlk_gemm_neon;
#define TDLK_VEC_DECL(name) name##_neon
#endif

#ifdef TDLK_VEC_DECL
/* The vector kernels of the selected ISA (same contracts as kernels.h). */
void TDLK_VEC_DECL(tdlk_vexp)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vtanh)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vsigmoid)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vgelu)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vgelu_grad)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vgelu_grad2)(int64_t n, const float *x, float *y);
float TDLK_VEC_DECL(tdlk_vsum)(int64_t n, const float *x);
float TDLK_VEC_DECL(tdlk_vmax)(int64_t n, const float *x);
void TDLK_VEC_DECL(tdlk_softmax_rows)(int64_t rows, int64_t cols, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_log_softmax_rows)(int64_t rows, int64_t cols, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vaxpy)(int64_t n, float alpha, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vfill)(int64_t n, float v, float *y);
void TDLK_VEC_DECL(tdlk_adam_update)(int64_t n, float *p, const float *g, float *m, float *v,
                                     float lr, float b1, float b2, float eps, float wd,
                                     int decoupled, float bc1, float bc2);
void TDLK_VEC_DECL(tdlk_vrelu)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vrelu_grad)(int64_t n, const float *x, const float *dy, float *y);
void TDLK_VEC_DECL(tdlk_vstep)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vleaky_relu)(int64_t n, float slope, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vaffine)(int64_t n, float scale, float shift, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vsqrt)(int64_t n, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_vbinary)(int op, int64_t n, const float *a, int64_t sa, const float *b,
                                 int64_t sb, float *y);
void TDLK_VEC_DECL(tdlk_maxpool2x2)(int64_t planes, int64_t h, int64_t w, const float *x, float *y);
void TDLK_VEC_DECL(tdlk_maxpool2x2_scatter)(int64_t planes, int64_t h, int64_t w, const float *x,
                                            const float *g, float *dx);
void TDLK_VEC_DECL(tdlk_maxpool2x2_gather)(int64_t planes, int64_t h, int64_t w, const float *x,
                                           const float *v, float *y);
#endif

#endif
