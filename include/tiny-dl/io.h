/**
 * @file io.h
 * @brief Saving and loading weights in the safetensors format.
 *
 * A safetensors file is an 8-byte little-endian header length, a JSON header
 * mapping each tensor name to {dtype, shape, data_offsets}, then the raw
 * little-endian data. tiny-dl keys tensors by parameter name, so weights load
 * into any graph that names its parameters the same (transfer learning: load,
 * then freeze with tdl_param_set_trainable()). Files written by PyTorch's
 * `safetensors.torch.save_file` with F32 tensors load as they are.
 *
 * tiny-dl writes tensors sorted by name (so the file depends only on the
 * parameters, not on the order the graph made them), metadata
 * {"format": "pt", "generator": "tiny-dl <version>"}, and pads the header
 * so that the data starts 8-byte aligned. Files are POSIX-written
 * (open/fsync/rename).
 */
#ifndef TINY_DL_IO_H
#define TINY_DL_IO_H

#include <stdint.h>

#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/** Flags for tdl_load_weights_ex(). */
enum tdl_load_flags {
    TDL_LOAD_STRICT = 0,        /**< Every parameter must be in the file, and nothing else. */
    TDL_LOAD_ALLOW_MISSING = 1, /**< Parameters absent from the file keep their values. */
    TDL_LOAD_ALLOW_UNUSED = 2   /**< Tensors in the file that no parameter names are ignored. */
};

/**
 * @brief Writes every parameter of `g` to a safetensors file, atomically.
 *
 * The data go to a temporary file in the same folder, which is flushed and
 * then renamed over `path`: a crash never leaves a half-written file there.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_IO (message names the path
 *         and the system error), TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_save_weights(tdl_graph *g, const char *path);

/**
 * @brief Loads parameters by name from a safetensors file (strict).
 *
 * The whole file is read and checked (header, dtypes, shapes, offsets, sizes)
 * before any parameter changes: on any error the graph's weights are untouched.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_IO, TDL_ERR_FORMAT
 *         (truncated or corrupt), TDL_ERR_NOT_FOUND (a parameter missing from the
 *         file, or a tensor no parameter names), TDL_ERR_SHAPE, TDL_ERR_DTYPE,
 *         TDL_ERR_OUT_OF_MEMORY. The message names the file and the tensor.
 */
TDL_API tdl_status tdl_load_weights(tdl_graph *g, const char *path);

/** @brief As tdl_load_weights() with ::tdl_load_flags or-ed together. */
TDL_API tdl_status tdl_load_weights_ex(tdl_graph *g, const char *path, int32_t flags);

TDL_END_DECLS

#endif /* TINY_DL_IO_H */
