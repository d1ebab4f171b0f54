/* Internal: shapes with a symbolic batch dimension.
 *
 * A dimension d >= 0 is concrete; d < 0 means (-d) * batch. At most one
 * dimension of a shape is symbolic. At run time the batch is known and
 * tdl_shape_resolve() turns a symbolic shape into a concrete one. */
#ifndef TDL_TENSOR_SHAPE_H
#define TDL_TENSOR_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/graph.h>

typedef struct tdl_shape {
    int32_t ndim;
    int64_t d[TDL_MAX_DIMS];
} tdl_shape;

/* Builds a shape; returns -1 if ndim is out of 0..TDL_MAX_DIMS. */
int tdl_shape_make(tdl_shape *s, int32_t ndim, const int64_t *dims);
/* 1 when some dimension is symbolic. */
int tdl_shape_is_symbolic(const tdl_shape *s);
/* Index of the symbolic dimension, or -1. */
int32_t tdl_shape_symbolic_axis(const tdl_shape *s);
/* Replaces symbolic dims by k * batch. */
void tdl_shape_resolve(const tdl_shape *s, int64_t batch, tdl_shape *out);
/* Number of elements of a concrete shape (1 for a scalar). */
int64_t tdl_shape_numel(const tdl_shape *s);
/* Product of the concrete dims, and the symbolic multiplier k (0 if none). */
void tdl_shape_factor(const tdl_shape *s, int64_t *known, int64_t *sym_k);
int tdl_shape_equal(const tdl_shape *a, const tdl_shape *b);
/* Writes "[-1, 784]"-style text (symbolic dims as "B" or "3B"). */
void tdl_shape_str(const tdl_shape *s, char *buf, size_t size);
/* NumPy broadcasting of two shapes (symbolic dims broadcast with 1 and with
 * themselves); returns -1 when incompatible. */
int tdl_shape_broadcast(const tdl_shape *a, const tdl_shape *b, tdl_shape *out);
/* Normalises a possibly negative axis; returns -1 when out of range. */
int32_t tdl_shape_axis(int32_t ndim, int32_t axis);

#endif
