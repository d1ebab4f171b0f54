/* Internal: parameter initialisers (see enum tdl_init in ops.h). */
#ifndef TDL_NN_INIT_H
#define TDL_NN_INIT_H

#include <stdint.h>

#include "tensor/shape.h"

/* Validates (init, a, b) for a shape; returns NULL or a message. */
const char *tdl_init_check(int32_t init, float a, float b, const tdl_shape *shape);
/* Fills data (numel of shape floats) from the stream `key`. */
void tdl_init_fill(float *data, const tdl_shape *shape, int32_t init, float a, float b,
                   uint64_t key);

#endif
