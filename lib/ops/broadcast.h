/* Internal: iteration over a broadcast output shape. */
#ifndef TDL_OPS_BROADCAST_H
#define TDL_OPS_BROADCAST_H

#include <stdint.h>

#include "tensor/shape.h"

/* Output dims with the inputs' element strides (0 where broadcast), all
 * aligned to the output's ndim; adjacent dims merged where possible. */
typedef struct tdl_bcast {
    int32_t nd;
    int64_t dims[TDL_MAX_DIMS];
    int64_t sa[TDL_MAX_DIMS];
    int64_t sb[TDL_MAX_DIMS];
} tdl_bcast;

void tdl_bcast_init(tdl_bcast *bc, const tdl_shape *out, const tdl_shape *a, const tdl_shape *b);
/* Offsets into a and b of the first element of output row `row` (a row is
 * the innermost dimension). */
void tdl_bcast_row(const tdl_bcast *bc, int64_t row, int64_t *oa, int64_t *ob);

#endif
