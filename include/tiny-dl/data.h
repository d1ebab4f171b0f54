/**
 * @file data.h
 * @brief Datasets: the IDX format (MNIST, Fashion-MNIST) and a shuffling mini-batch iterator.
 *
 * Gzip-compressed IDX files (as Debian's dataset-fashion-mnist ships them) are
 * read directly when the library was built with zlib (tdl_build_info() says
 * "zlib=yes"); otherwise decompress them first (`gunzip -k`).
 */
#ifndef TINY_DL_DATA_H
#define TINY_DL_DATA_H

#include <stdint.h>

#include <tiny-dl/core.h>
#include <tiny-dl/export.h>

TDL_BEGIN_DECLS

/** A labelled dataset held in memory: samples read as float32, int32 labels. Opaque. */
typedef struct tdl_dataset tdl_dataset;
/** An iterator over mini-batches of a dataset. Opaque. */
typedef struct tdl_batcher tdl_batcher;

/**
 * @brief Loads an IDX images file (unsigned bytes, any number of sample
 *        dimensions) and an IDX labels file into a dataset.
 *
 * Pixels read as float32 in [0, 1] (value / 255). The dataset keeps them as
 * bytes (a quarter of the memory); batches are converted as they are made,
 * and only tdl_dataset_x() converts the whole dataset. Paths ending in ".gz"
 * are decompressed on the fly (zlib builds).
 * @param[out] out The dataset, NULL on failure.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_IO, TDL_ERR_FORMAT (bad magic,
 *         truncated, counts of images and labels differ), TDL_ERR_UNSUPPORTED (.gz
 *         without zlib), TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_dataset_load_idx(tdl_ctx *ctx, const char *images_path,
                                        const char *labels_path, tdl_dataset **out);

/**
 * @brief Makes a dataset from caller arrays (copied).
 * @param x            n * sample_size floats.
 * @param y            n labels (>= 0).
 * @param sample_ndim  Dimensions of one sample (1..7), `sample_shape` its sizes.
 */
TDL_API tdl_status tdl_dataset_from_arrays(tdl_ctx *ctx, const float *x, const int32_t *y,
                                           int64_t n, int32_t sample_ndim,
                                           const int64_t *sample_shape, tdl_dataset **out);

/** @brief Destroys a dataset. NULL is ignored. Batchers over it must be destroyed first. */
TDL_API void tdl_dataset_destroy(tdl_dataset *ds);

/** @brief Number of samples (0 for NULL). */
TDL_API int64_t tdl_dataset_size(const tdl_dataset *ds);

/** @brief Floats per sample (e.g. 784 for 28x28), 0 for NULL. */
TDL_API int64_t tdl_dataset_sample_size(const tdl_dataset *ds);

/**
 * @brief Shape of one sample.
 * @param[out] shape At least TDL_MAX_DIMS entries.
 */
TDL_API tdl_status tdl_dataset_sample_shape(const tdl_dataset *ds, int32_t *ndim, int64_t *shape);

/** @brief Largest label + 1 (the number of classes), 0 for NULL or empty. */
TDL_API int32_t tdl_dataset_num_classes(const tdl_dataset *ds);

/**
 * @brief All samples as floats, row-major, owned by the dataset.
 *
 * A dataset loaded by tdl_dataset_load_idx() holds bytes until the first
 * call, which converts it (allocates n * sample_size floats, then releases the
 * bytes); later calls return the same pointer, valid until the dataset is
 * destroyed.
 * @return The samples; NULL for NULL, or when that copy cannot be allocated
 *         (tdl_ctx_error() and tdl_last_error() then say out of memory).
 */
TDL_API const float *tdl_dataset_x(const tdl_dataset *ds);

/** @brief All labels, owned by the dataset (NULL for NULL). */
TDL_API const int32_t *tdl_dataset_y(const tdl_dataset *ds);

/**
 * @brief Keeps only the first n samples (for quick experiments and tests).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (n < 1 or n > size).
 */
TDL_API tdl_status tdl_dataset_truncate(tdl_dataset *ds, int64_t n);

/**
 * @brief Creates a mini-batch iterator.
 * @param batch_size >= 1. The last batch of an epoch may be smaller.
 * @param shuffle    1: a new permutation each epoch, from `seed` and the epoch number.
 * @param[out] out   The iterator, NULL on failure.
 */
TDL_API tdl_status tdl_batcher_create(tdl_dataset *ds, int64_t batch_size, int32_t shuffle,
                                      uint64_t seed, tdl_batcher **out);

/** @brief Destroys an iterator. NULL is ignored. */
TDL_API void tdl_batcher_destroy(tdl_batcher *it);

/**
 * @brief The next batch of the current epoch.
 * @param[out] x Pointer to n * sample_size floats, owned by the iterator,
 *               valid until the next call.
 * @param[out] y Pointer to n labels, as x.
 * @param[out] n Samples in the batch; 0 at the end of the epoch (then call
 *               tdl_batcher_reset() to start the next).
 */
TDL_API tdl_status tdl_batcher_next(tdl_batcher *it, const float **x, const int32_t **y,
                                    int64_t *n);

/** @brief Starts the next epoch (re-shuffling when enabled). */
TDL_API tdl_status tdl_batcher_reset(tdl_batcher *it);

/** @brief Batches per epoch (ceil(size / batch_size)). */
TDL_API int64_t tdl_batcher_num_batches(const tdl_batcher *it);

/**
 * @brief Random horizontal flip of a batch of NCHW images, in place.
 *
 * Sample i is flipped with probability p, decided by (seed, counter + i) only, so
 * the same seed and counters give the same batch whatever the thread count. Pass a
 * counter that grows by n per batch (e.g. the number of samples seen) to get fresh
 * draws every batch.
 * @param x  n * c * h * w floats.
 * @param p  In [0, 1].
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL, a size < 1, p outside [0, 1]).
 */
TDL_API tdl_status tdl_augment_flip(float *x, int64_t n, int64_t c, int64_t h, int64_t w, float p,
                                    uint64_t seed, uint64_t counter);

/**
 * @brief Random translation of a batch of NCHW images, in place: each sample moves by
 *        dy, dx drawn uniformly from [-max_shift, max_shift] (the same as padding by
 *        max_shift and cropping back at a random place); uncovered pixels take `fill`.
 *        Deterministic from (seed, counter + i) as tdl_augment_flip().
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_OUT_OF_MEMORY (a one-image buffer).
 */
TDL_API tdl_status tdl_augment_translate(float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                                         int32_t max_shift, float fill, uint64_t seed,
                                         uint64_t counter);

/**
 * @brief Per-channel normalisation in place: x = (x - mean[ch]) / std[ch] for a batch of
 *        n samples of c channels of `spatial` values each.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL, sizes < 1, a std <= 0 or not finite).
 */
TDL_API tdl_status tdl_normalize_channels(float *x, int64_t n, int64_t c, int64_t spatial,
                                          const float *mean, const float *std);

TDL_END_DECLS

#endif /* TINY_DL_DATA_H */
