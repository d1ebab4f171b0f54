/* Internal: file helpers shared by the weight and dataset readers.
 *
 * Convention: helpers write a complete error message into `msg` (a
 * TDL_ERRMSG_MAX buffer owned by the caller) and return a status; the exported
 * function then records that message on its handle (graph or context). */
#ifndef TDL_IO_INTERNAL_H
#define TDL_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"

/* Formats `fmt` into msg and returns status. */
tdl_status tdl_io_msg(char *msg, tdl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Reads a whole file into a buffer from tdl_alloc (free with tdl_free; one
 * spare byte is allocated past the end). TDL_ERR_IO (with strerror) or
 * TDL_ERR_OUT_OF_MEMORY. */
tdl_status tdl_io_read_file(tdl_ctx *ctx, const char *path, unsigned char **data, size_t *len,
                            char *msg);

/* As tdl_io_read_file, but gzip data (a path ending in ".gz", or a file that
 * starts with the gzip magic) is decompressed when zlib is available;
 * otherwise TDL_ERR_UNSUPPORTED. Corrupt gzip data gives TDL_ERR_FORMAT. */
tdl_status tdl_io_read_maybe_gz(tdl_ctx *ctx, const char *path, unsigned char **data, size_t *len,
                                char *msg);

/* Atomic file replacement: data go to a temporary file in the destination's
 * folder, which commit flushes, syncs and renames over the destination. Any
 * failure (and abort) removes the temporary file. */
typedef struct tdl_io_writer {
    tdl_ctx *ctx;
    const char *path; /* borrowed */
    char *tmp_path;   /* owned; NULL once committed or aborted */
    int fd;
} tdl_io_writer;

tdl_status tdl_io_writer_open(tdl_io_writer *w, tdl_ctx *ctx, const char *path, char *msg);
tdl_status tdl_io_writer_write(tdl_io_writer *w, const void *data, size_t len, char *msg);
/* Flush, fsync, close, rename. On failure the writer is aborted. */
tdl_status tdl_io_writer_commit(tdl_io_writer *w, char *msg);
/* Closes and removes the temporary file (safe to call more than once). */
void tdl_io_writer_abort(tdl_io_writer *w);

/* Little-endian conversion of float32 arrays (memcpy on little-endian hosts).
 * Neither pointer needs any alignment. */
void tdl_io_f32_to_le(unsigned char *dst, const float *src, size_t n);
void tdl_io_f32_from_le(float *dst, const unsigned char *src, size_t n);

/* Fixed-width integer loads and stores in a given byte order. */
static inline uint64_t tdl_io_load_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

static inline void tdl_io_store_u64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t tdl_io_load_u32_be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
