/**
 * @file core.h
 * @brief Status codes, errors, version, and the context (allocator, threads, seed, logging).
 *
 * Threading: a context and every handle created from it are used by one thread
 * at a time; separate contexts are fully independent. tdl_last_error() is
 * per thread. There is no mutable global state.
 */
#ifndef TINY_DL_CORE_H
#define TINY_DL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/export.h>

TDL_BEGIN_DECLS

/** Result of every fallible call: TDL_OK (0) or a negative code. */
typedef int32_t tdl_status;

/** Status codes. The numeric values are part of the ABI and never change. */
enum tdl_status_code {
    TDL_OK = 0,                    /**< Success. */
    TDL_ERR_INVALID_ARGUMENT = -1, /**< A NULL handle or pointer, or an out-of-range value. */
    TDL_ERR_SHAPE = -2,            /**< Shapes do not fit together. */
    TDL_ERR_DTYPE = -3,            /**< Wrong element type. */
    TDL_ERR_OUT_OF_MEMORY = -4,    /**< The allocator returned NULL. */
    TDL_ERR_IO = -5,               /**< A file could not be opened, read, written or renamed. */
    TDL_ERR_FORMAT = -6,     /**< A file is truncated, corrupt or not in the expected format. */
    TDL_ERR_NOT_FOUND = -7,  /**< A name or key does not exist. */
    TDL_ERR_STATE = -8,      /**< Call out of order (e.g. running an uncompiled graph). */
    TDL_ERR_NON_FINITE = -9, /**< A NaN or infinity was found (see tdl_graph_set_check_finite()). */
    TDL_ERR_UNSUPPORTED = -10, /**< Not supported by this build or this CPU. */
    TDL_ERR_INTERNAL = -11     /**< A bug in tiny-dl: please report it. */
};

/** An execution context: allocator, thread pool, seed and log sink. Opaque. */
typedef struct tdl_ctx tdl_ctx;

/** Allocation hook: return `size` bytes (64-byte aligned is not required) or NULL. */
typedef void *(*tdl_malloc_fn)(size_t size, void *user);
/** Reallocation hook with realloc() semantics; NULL on failure leaves `ptr` valid. */
typedef void *(*tdl_realloc_fn)(void *ptr, size_t size, void *user);
/** Release hook; must accept NULL. */
typedef void (*tdl_free_fn)(void *ptr, void *user);

/** Log levels. */
enum tdl_log_level {
    TDL_LOG_ERROR = 0, /**< Errors (also returned as status codes). */
    TDL_LOG_WARN = 1,  /**< Something suspicious that does not stop the call. */
    TDL_LOG_INFO = 2,  /**< Milestones: compile results, plan sizes. */
    TDL_LOG_DEBUG = 3  /**< Detail for debugging tiny-dl itself. */
};

/** Log sink: receives a NUL-terminated message without a trailing newline. */
typedef void (*tdl_log_fn)(int32_t level, const char *message, void *user);

/**
 * @brief The library's version as a string, e.g. "0.1.0".
 * @return A static string; never NULL. Thread-safe.
 */
TDL_API const char *tdl_version(void);

/**
 * @brief The library's version as major*10000 + minor*100 + patch.
 *
 * Compare with TDL_VERSION_NUMBER to check that the headers a program was
 * built with match the library it runs with (same major, minor at least).
 * Thread-safe.
 */
TDL_API uint32_t tdl_version_number(void);

/**
 * @brief How this binary was built: version, SIMD instruction set, zlib, compiler.
 * @return A static string such as "tiny-dl 0.1.0 simd=avx512 zlib=yes cc=gcc-12.2"; never NULL.
 */
TDL_API const char *tdl_build_info(void);

/**
 * @brief A short English name for a status code ("invalid argument", ...).
 * @return A static string; never NULL (unknown codes give "unknown status").
 */
TDL_API const char *tdl_status_string(tdl_status status);

/**
 * @brief The message of the last error raised on the calling thread.
 *
 * Every failing call sets it (as well as the message of the handle involved),
 * so it is the way to learn why a constructor such as tdl_ctx_create() failed.
 * @return A thread-local string, valid until the next failing call on this
 *         thread; "" when no error happened yet. Never NULL.
 */
TDL_API const char *tdl_last_error(void);

/**
 * @brief Creates a context that allocates with malloc/realloc/free.
 *
 * Defaults: 1 thread, seed 0, no log sink (errors are only returned).
 * Fails with TDL_ERR_UNSUPPORTED when the CPU lacks the instruction set the
 * library was built for (see tdl_build_info()), instead of crashing later.
 * @param[out] out Receives the new context; set to NULL on failure.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (out is NULL), TDL_ERR_OUT_OF_MEMORY,
 *         TDL_ERR_UNSUPPORTED.
 */
TDL_API tdl_status tdl_ctx_create(tdl_ctx **out);

/**
 * @brief Creates a context whose every allocation (the context itself
 *        included) goes through the given hooks.
 * @param[out] out    Receives the new context; NULL on failure.
 * @param alloc_fn    Allocation hook (required).
 * @param realloc_fn  Reallocation hook (required).
 * @param free_fn     Release hook (required).
 * @param user        Passed to every hook; owned by the caller, must outlive the context.
 * @return As tdl_ctx_create(); TDL_ERR_INVALID_ARGUMENT when a hook is NULL.
 */
TDL_API tdl_status tdl_ctx_create_with_allocator(tdl_ctx **out, tdl_malloc_fn alloc_fn,
                                                 tdl_realloc_fn realloc_fn, tdl_free_fn free_fn,
                                                 void *user);

/**
 * @brief Destroys a context. NULL is ignored.
 *
 * Every graph, optimizer, dataset and metrics object made from it must be
 * destroyed first (a context that still owns objects logs a warning and
 * leaks nothing it knows about, but those handles become invalid).
 */
TDL_API void tdl_ctx_destroy(tdl_ctx *ctx);

/**
 * @brief Sets how many threads compute kernels use (the caller's thread counts as one).
 *
 * Results are bit-identical for every thread count. Changing it restarts the
 * context's thread pool. The workers of all contexts share one process-wide
 * budget (the CPUs the process may run on, or the TDL_CPU_BUDGET environment
 * variable), so running several contexts at once never oversubscribes the CPUs:
 * a context gets fewer helpers while others are busy.
 * @param n 1..256.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_OUT_OF_MEMORY (the pool is then 1 thread).
 */
TDL_API tdl_status tdl_ctx_set_threads(tdl_ctx *ctx, int32_t n);

/** @brief The context's thread count (1 for a NULL context). */
TDL_API int32_t tdl_ctx_get_threads(const tdl_ctx *ctx);

/**
 * @brief Sets the seed of every random stream (initialisers, dropout, shuffling).
 *
 * Parameters are initialised when they are created, so set the seed before
 * building a graph. Streams are keyed by seed and by name or node, so results
 * do not depend on the thread count.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT (NULL context).
 */
TDL_API tdl_status tdl_ctx_set_seed(tdl_ctx *ctx, uint64_t seed);

/** @brief The context's seed (0 for a NULL context). */
TDL_API uint64_t tdl_ctx_get_seed(const tdl_ctx *ctx);

/**
 * @brief Installs a log sink.
 * @param fn        Receives messages of level <= max_level; NULL removes the sink.
 * @param max_level One of ::tdl_log_level.
 * @param user      Passed to fn; owned by the caller.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_ctx_set_log(tdl_ctx *ctx, tdl_log_fn fn, int32_t max_level, void *user);

/**
 * @brief The message of the last error on this context.
 * @return A string owned by the context, valid until its next error; "" if none. Never NULL.
 */
TDL_API const char *tdl_ctx_error(const tdl_ctx *ctx);

TDL_END_DECLS

#endif /* TINY_DL_CORE_H */
