/* Internal to the convolution ops (conv.c builds nodes and gradient rules,
 * conv_exec.c computes them).
 *
 * Every convolution op is described by one geometry between a "big" image
 * and a "small" one: small[o] = sum_k w[k] * big[o * stride + k * dilation - pad]
 * for each spatial axis, big read as zero outside [0, size). So
 *   conv2d            gathers: big = x, small = y            (y = W im2col(x))
 *   conv_transpose2d  scatters: small = x, big = y           (y = col2im(W^T x))
 *   conv2d_weight_grad(big, small): dW = sum_n small_n im2col(big_n)^T
 * and the weight is always [C_small, C_big / groups, kh, kw]. Only the
 * leading padding is stored: the trailing one follows from the two sizes,
 * which may differ from any symmetric formula (asymmetric "same" padding,
 * output_padding, rows a strided conv never reads). */
#ifndef TDL_OPS_CONV_INTERNAL_H
#define TDL_OPS_CONV_INTERNAL_H

#include <stdint.h>

#include "ops/op.h"

/* Attribute slots of the conv ops (node->attrs.i). */
enum {
    TDL_CONV_SH = 0,
    TDL_CONV_SW = 1,
    TDL_CONV_PH = 2, /* leading (top) padding */
    TDL_CONV_PW = 3, /* leading (left) padding */
    TDL_CONV_DH = 4,
    TDL_CONV_DW = 5,
    TDL_CONV_GROUPS = 6,
    TDL_CONV_BIAS = 7 /* conv2d / conv_transpose2d: a third input is the bias */
};

typedef struct tdl_conv_geom {
    int64_t n;          /* images */
    int64_t cb, hb, wb; /* big image: channels, height, width */
    int64_t cs, hs, ws; /* small image */
    int64_t kh, kw;
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t groups;
    /* derived */
    int64_t cbg, csg; /* channels per group */
    int64_t kg;       /* cbg * kh * kw: rows of im2col, columns of a group's weight */
    int64_t ps, pb;   /* pixels of a small and of a big image */
    int identity;     /* 1x1, stride 1, no padding, same size: im2col is the image itself */
} tdl_conv_geom;

/* Fills the derived fields. */
void tdl_conv_geom_finish(tdl_conv_geom *gm);

/* tdl_conv2d() whose messages say "conv2d 'name'" and whose node is called
 * `name` (NULL: as tdl_conv2d()); used by layer builders. */
tdl_node *tdl_conv2d_ex(tdl_graph *g, tdl_node *x, tdl_node *w, tdl_node *bias, int32_t stride_h,
                        int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t dilation_h,
                        int32_t dilation_w, int32_t groups, const char *name);

/* Forward computations (conv_exec.c); run-time failures (scratch memory)
 * are reported on the graph with the node's name. */
tdl_status tdl_conv_gather(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm, const float *big,
                           const float *w, const float *bias, float *small);
tdl_status tdl_conv_scatter(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm, const float *small,
                            const float *w, const float *bias, float *big);
tdl_status tdl_conv_weight_grad(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm,
                                const float *big, const float *small, float *dw);
/* out[c] = sum over n, then pixels of x[n, c, :] ([N, C, P]), in a fixed order. */
tdl_status tdl_conv_bias_grad(tdl_exec *ex, tdl_node *n, int64_t images, int64_t channels,
                              int64_t pixels, const float *x, float *out);

/* im2col / col2im of one group of one image for output rows [oy_a, oy_b):
 * col is [kg, (oy_b - oy_a) * ws] row-major; col2im adds into big (and may
 * clear entries of col that fall into the padding). */
void tdl_conv_im2col(const tdl_conv_geom *gm, const float *big, int64_t oy_a, int64_t oy_b,
                     float *col);
void tdl_conv_col2im(const tdl_conv_geom *gm, float *col, int64_t oy_a, int64_t oy_b, float *big);

#endif
