/* Internal kernel interface: everything compute-heavy the ops call.
 *
 * One implementation per entry point is linked, chosen at build time by the
 * Meson option `simd` (TDL_SIMD_* macros from config.h). kernels/ref/ holds
 * the portable versions, always compiled, which tests use as the oracle. */
#ifndef TDL_KERNELS_H
#define TDL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"

/* What a kernel may use from its context: threads and scratch memory. */
typedef struct tdlk_env {
    tdl_pool *pool; /* NULL: run on the calling thread */
    /* 64-byte-aligned scratch allocation through the context's allocator;
     * returns NULL on failure. */
    void *(*alloc)(void *user, size_t bytes);
    void (*release)(void *user, void *ptr);
    void *user;
} tdlk_env;

/* C = alpha * op(A) * op(B) + beta * C, row-major.
 * op(A) is m x k: A is m x k (lda >= k) or, when trans_a, k x m (lda >= m).
 * op(B) is k x n: B is k x n (ldb >= n) or, when trans_b, n x k (ldb >= k).
 * C is m x n with ldc >= n. beta == 0 means C is not read (may hold NaN).
 * Threads split the output into blocks; every element of C is produced by
 * one thread with a summation order that does not depend on the thread count.
 * Returns 0, or -1 when scratch memory could not be allocated (C untouched). */
int tdlk_sgemm(const tdlk_env *env, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
               float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
               float *c, int64_t ldc);

/* Strided batched form: for i in [0, batch): the same with a + i*stride_a,
 * b + i*stride_b, c + i*stride_c (a stride of 0 broadcasts that operand). */
int tdlk_sgemm_batched(const tdlk_env *env, int trans_a, int trans_b, int64_t m, int64_t n,
                       int64_t k, float alpha, const float *a, int64_t lda, int64_t stride_a,
                       const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                       int64_t ldc, int64_t stride_c, int64_t batch);

/* Rows [n0, n1) of the m == 1, trans_b product: c[j] = alpha * sum_p
 * a[p * sa] * b[j * ldb + p] + beta * c[j] (beta == 0: c not read). Used by
 * tdlk_sgemm for a single row; summation order depends on k only. */
void tdlk_gemv_rows_isa(int64_t n0, int64_t n1, int64_t k, float alpha, const float *a, int64_t sa,
                        const float *b, int64_t ldb, float beta, float *c);

/* The portable reference (plain loops, double accumulation is NOT used: float
 * accumulation in k order). Always compiled; the oracle in tests. */
void tdlk_sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc);

/* ---- Vector kernels. n may be any size (0 included); pointers need no
 * particular alignment; y may alias x. Each has a portable version in ref/
 * with the same name and a _ref suffix, used by tests as the oracle. ---- */

/* y = exp(x). Max relative error vs expf stated in the SIMD implementation. */
void tdlk_vexp(int64_t n, const float *x, float *y);
/* y = tanh(x). */
void tdlk_vtanh(int64_t n, const float *x, float *y);
/* y = 1 / (1 + exp(-x)). */
void tdlk_vsigmoid(int64_t n, const float *x, float *y);
/* y = x * Phi(x) with the exact (erf) form, as PyTorch's default GELU. */
void tdlk_vgelu(int64_t n, const float *x, float *y);
/* GELU's derivatives, y = Phi(x) + x phi(x) and y = (2 - x^2) phi(x) (phi:
 * the standard normal density); +-inf give the limits (1 or 0, and 0). */
void tdlk_vgelu_grad(int64_t n, const float *x, float *y);
void tdlk_vgelu_grad2(int64_t n, const float *x, float *y);
/* Sum of x in a fixed order that depends on n only (deterministic). */
float tdlk_vsum(int64_t n, const float *x);
/* Maximum of x (NaN propagates); -INFINITY for n == 0. */
float tdlk_vmax(int64_t n, const float *x);
/* Row-wise softmax / log-softmax of a rows x cols matrix (row-major). */
void tdlk_softmax_rows(int64_t rows, int64_t cols, const float *x, float *y);
void tdlk_log_softmax_rows(int64_t rows, int64_t cols, const float *x, float *y);
/* y[i] += alpha * x[i] */
void tdlk_vaxpy(int64_t n, float alpha, const float *x, float *y);
/* y[i] = v */
void tdlk_vfill(int64_t n, float v, float *y);

/* ---- Exact elementwise kernels: each output is one IEEE operation (or a
 * selection) of its inputs, so every SIMD version equals its _ref version bit
 * for bit (no FMA contraction anywhere), except for which NaN comes out of an
 * arithmetic operation whose two operands are both NaN (IEEE 754 leaves that
 * open, and compilers swap the operands of + and *). n any size; no
 * alignment needed; y may alias an input of the same length. ---- */

/* y = x > 0 ? x : +0 (NaN gives +0, as does -0). */
void tdlk_vrelu(int64_t n, const float *x, float *y);
/* y = x > 0 ? dy : dy * 0: the product of dy and step(x), so where x <= 0 or
 * x is NaN the result is a zero with dy's sign, or NaN where dy is NaN or
 * infinite. */
void tdlk_vrelu_grad(int64_t n, const float *x, const float *dy, float *y);
/* y = x > 0 ? 1 : 0 (NaN gives 0). */
void tdlk_vstep(int64_t n, const float *x, float *y);
/* y = x > 0 ? x : slope * x (NaN gives slope * NaN). */
void tdlk_vleaky_relu(int64_t n, float slope, const float *x, float *y);
/* y = scale * x + shift, rounded twice (the product, then the sum). */
void tdlk_vaffine(int64_t n, float scale, float shift, const float *x, float *y);
/* y = sqrt(x) (correctly rounded). */
void tdlk_vsqrt(int64_t n, const float *x, float *y);

/* y[i] = a[i * sa] op b[i * sb] for i < n, with sa, sb in {0, 1} (0: that
 * operand is the single value a[0] or b[0]). */
enum { TDLK_ADD, TDLK_SUB, TDLK_MUL, TDLK_DIV };
void tdlk_vbinary(int op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                  float *y);

/* ---- 2x2 max pooling with stride 2 and no padding, over `planes`
 * contiguous h x w planes (h, w >= 0). The pooled planes are oh x ow =
 * floor(h / 2) x floor(w / 2); a last odd row or column takes no part. The
 * winner of window (i, j) is its first maximum in the order a = (2i, 2j),
 * b = (2i, 2j + 1), c = (2i + 1, 2j), d = (2i + 1, 2j + 1), where a NaN
 * beats every number and the first NaN wins. The kernels only move values,
 * so every SIMD version equals the _ref one bit for bit (NaN payloads and
 * signed zeros included). ---- */

/* y (planes x oh x ow) = x at each window's winner. */
void tdlk_maxpool2x2(int64_t planes, int64_t h, int64_t w, const float *x, float *y);
/* dx (planes x h x w) = g (planes x oh x ow) at each window's winner of x,
 * +0 everywhere else (every element of dx is written). */
void tdlk_maxpool2x2_scatter(int64_t planes, int64_t h, int64_t w, const float *x, const float *g,
                             float *dx);
/* y (planes x oh x ow) = v (planes x h x w, like x) at each window's winner
 * of x: the adjoint of the scatter. */
void tdlk_maxpool2x2_gather(int64_t planes, int64_t h, int64_t w, const float *x, const float *v,
                            float *y);

/* One Adam/AdamW step over n parameters (PyTorch's formulas):
 *   g' = g + wd*p           (when !decoupled; L2 weight decay as in Adam)
 *   p  = p * (1 - lr*wd)    (when decoupled; AdamW)
 *   m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
 *   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), bc1 = 1-b1^t, bc2 = 1-b2^t
 * bc1 and bc2 are passed in (computed by the caller in double). */
void tdlk_adam_update(int64_t n, float *p, const float *g, float *m, float *v, float lr, float b1,
                      float b2, float eps, float wd, int decoupled, float bc1, float bc2);

/* Name of the instruction set the kernels were built for: "none", "avx2",
 * "avx512" or "neon". */
const char *tdlk_isa_name(void);

/* 1 when the running CPU supports the ISA the kernels were built for. */
int tdlk_cpu_supported(void);

/* ---- Portable references of the vector kernels (kernels/ref/vec_ref.c),
 * always compiled: the oracle in tests and the implementation of simd=none. */
void tdlk_vexp_ref(int64_t n, const float *x, float *y);
void tdlk_vtanh_ref(int64_t n, const float *x, float *y);
void tdlk_vsigmoid_ref(int64_t n, const float *x, float *y);
void tdlk_vgelu_ref(int64_t n, const float *x, float *y);
void tdlk_vgelu_grad_ref(int64_t n, const float *x, float *y);
void tdlk_vgelu_grad2_ref(int64_t n, const float *x, float *y);
/* Canonical summation order, shared bit for bit by every SIMD version:
 * s[i % TDLK_SUM_LANES] += x[i] in index order, then
 * v[j] = (s[j] + s[j+16]) + (s[j+32] + s[j+48]) for j < 16, then halving
 * v[j] += v[j + h] for h = 8, 4, 2, 1. */
#define TDLK_SUM_LANES 64
float tdlk_vsum_ref(int64_t n, const float *x);
float tdlk_vmax_ref(int64_t n, const float *x);
void tdlk_softmax_rows_ref(int64_t rows, int64_t cols, const float *x, float *y);
void tdlk_log_softmax_rows_ref(int64_t rows, int64_t cols, const float *x, float *y);
void tdlk_vaxpy_ref(int64_t n, float alpha, const float *x, float *y);
void tdlk_vfill_ref(int64_t n, float v, float *y);
void tdlk_adam_update_ref(int64_t n, float *p, const float *g, float *m, float *v, float lr,
                          float b1, float b2, float eps, float wd, int decoupled, float bc1,
                          float bc2);
void tdlk_vrelu_ref(int64_t n, const float *x, float *y);
void tdlk_vrelu_grad_ref(int64_t n, const float *x, const float *dy, float *y);
void tdlk_vstep_ref(int64_t n, const float *x, float *y);
void tdlk_vleaky_relu_ref(int64_t n, float slope, const float *x, float *y);
void tdlk_vaffine_ref(int64_t n, float scale, float shift, const float *x, float *y);
void tdlk_vsqrt_ref(int64_t n, const float *x, float *y);
void tdlk_vbinary_ref(int op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                      float *y);
void tdlk_maxpool2x2_ref(int64_t planes, int64_t h, int64_t w, const float *x, float *y);
void tdlk_maxpool2x2_scatter_ref(int64_t planes, int64_t h, int64_t w, const float *x,
                                 const float *g, float *dx);
void tdlk_maxpool2x2_gather_ref(int64_t planes, int64_t h, int64_t w, const float *x,
                                const float *v, float *y);

#endif
