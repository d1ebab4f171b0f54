/* Internal: datasets (shared by dataset.c and batcher.c) and the IDX parser. */
#ifndef TDL_IO_DATASET_H
#define TDL_IO_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/data.h>
#include <tiny-dl/graph.h>

#include "core/context.h"

struct tdl_dataset {
    tdl_ctx *ctx;
    int64_t n;           /* samples (tdl_dataset_truncate may lower it) */
    int64_t sample_size; /* floats per sample */
    int32_t sample_ndim;
    int64_t sample_shape[TDL_MAX_DIMS];
    int32_t num_classes;
    float *x;   /* n * sample_size, owned */
    int32_t *y; /* n, owned */
};

/* IDX element types. */
enum {
    TDL_IDX_U8 = 0x08,
    TDL_IDX_I8 = 0x09,
    TDL_IDX_I16 = 0x0B,
    TDL_IDX_I32 = 0x0C,
    TDL_IDX_F32 = 0x0D,
    TDL_IDX_F64 = 0x0E
};

#define TDL_IDX_MAX_DIMS 255

/* A parsed IDX file; `data` points into the buffer given to the parser. */
typedef struct tdl_idx {
    int type;
    int ndim;
    uint32_t dims[TDL_IDX_MAX_DIMS];
    size_t elem_size;
    uint64_t count; /* elements: product of dims */
    const unsigned char *data;
} tdl_idx;

/* Checks the header and that the file holds exactly the elements its
 * dimensions announce. TDL_ERR_FORMAT naming `path` (into msg) otherwise. */
tdl_status tdl_idx_parse(const unsigned char *buf, size_t len, const char *path, tdl_idx *out,
                         char *msg);

/* Element i (any integer type) as int64. */
int64_t tdl_idx_int(const tdl_idx *idx, uint64_t i);

#endif
