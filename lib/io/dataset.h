/* Internal: datasets (shared by dataset.c and batcher.c) and the IDX parser. */
#ifndef TDL_IO_DATASET_H
#define TDL_IO_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tiny-dl/data.h>
#include <tiny-dl/graph.h>

#include "core/context.h"

/* Samples are held either as floats (tdl_dataset_from_arrays) or, for IDX
 * images, as the file's bytes: four times less memory, each byte read as
 * byte / 255.0f (the floats tdl_dataset_load_idx has always given). The
 * batcher converts the rows of each batch; tdl_dataset_x() turns a byte
 * dataset into a float one (floats made, bytes released) only when a caller
 * asks for the floats. Exactly one of u8 and x is set. */
struct tdl_dataset {
    tdl_ctx *ctx;
    int64_t n;           /* samples (tdl_dataset_truncate may lower it) */
    int64_t sample_size; /* values per sample */
    int32_t sample_ndim;
    int64_t sample_shape[TDL_MAX_DIMS];
    int32_t num_classes;
    const unsigned char *u8; /* byte samples (n * sample_size, inside u8_buf), or NULL */
    unsigned char *u8_buf;   /* owned: the images file's bytes, header first */
    float *x;                /* owned: float samples, or NULL for a byte dataset */
    int32_t *y;              /* n, owned */
};

/* Writes sample i of ds as sample_size floats to dst. */
static inline void tdl_dataset_sample_f32(const tdl_dataset *ds, int64_t i, float *dst)
{
    size_t ss = (size_t)ds->sample_size;
    if (ds->u8) {
        const unsigned char *p = ds->u8 + (size_t)i * ss;
        for (size_t j = 0; j < ss; ++j)
            dst[j] = (float)p[j] / 255.0f;
    } else {
        memcpy(dst, ds->x + (size_t)i * ss, ss * sizeof(float));
    }
}

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
