/**
 * @file graph.h
 * @brief Graphs: build, compile, feed, run forward and backward, read values and gradients.
 *
 * The life of a graph: build nodes with the builders of ops.h (each checks
 * shapes at once), tdl_graph_compile(), then per batch tdl_feed() the inputs,
 * tdl_forward(), tdl_backward() and an optimizer step (optim.h).
 *
 * **Sticky errors.** A builder that fails returns NULL and records the error
 * in the graph; every later builder then returns NULL without doing anything,
 * and tdl_graph_compile() returns the first error. So building code needs no
 * check after every line.
 *
 * **Symbolic batch.** A dimension given as ::TDL_BATCH (-1) in tdl_input() is
 * the batch; the graph runs with any batch size, fixed by the first tdl_feed()
 * of each step. Shapes reported by tdl_node_shape() keep the symbol (a negative
 * entry -k means k times the batch).
 *
 * **Memory.** Activations and gradients live in one arena planned at compile
 * time by liveness analysis; the arena grows only when a larger batch arrives.
 * Parameters and their gradients live outside it.
 *
 * Threading: a graph is used by one thread at a time.
 */
#ifndef TINY_DL_GRAPH_H
#define TINY_DL_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/core.h>
#include <tiny-dl/export.h>

TDL_BEGIN_DECLS

/** A computation graph. Opaque; owned by the caller, freed by tdl_graph_destroy(). */
typedef struct tdl_graph tdl_graph;
/** A node of a graph. Opaque; owned by its graph (never freed separately). */
typedef struct tdl_node tdl_node;

/** Element type of a tensor. Values are part of the ABI. */
typedef int32_t tdl_dtype;
/** Element types. */
enum tdl_dtype_code {
    TDL_F32 = 1, /**< 32-bit IEEE float. */
    TDL_I32 = 2  /**< 32-bit signed integer (labels, indices). */
};

/** Most dimensions a tensor may have. */
#define TDL_MAX_DIMS 8
/** The symbolic batch dimension in tdl_input() shapes. */
#define TDL_BATCH (-1)

/**
 * @brief Creates an empty graph.
 * @param ctx Context whose allocator, threads and seed the graph uses; must outlive the graph.
 * @param[out] out The new graph, or NULL on failure.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_graph_create(tdl_ctx *ctx, tdl_graph **out);

/** @brief Destroys a graph, its nodes, parameters and buffers. NULL is ignored. */
TDL_API void tdl_graph_destroy(tdl_graph *g);

/**
 * @brief The graph's first recorded error (sticky builder error) or last error.
 * @return A string owned by the graph; "" when there is none; never NULL.
 */
TDL_API const char *tdl_graph_error(const tdl_graph *g);

/**
 * @brief The sticky status: TDL_OK, or the code of the first builder error.
 */
TDL_API tdl_status tdl_graph_status(const tdl_graph *g);

/**
 * @brief Verifies the graph and plans its memory. Call after building.
 *
 * Nodes added after compiling (e.g. by tdl_backward() or more builders) make
 * the graph re-plan itself on the next run; no second call is needed.
 * @return TDL_OK, or the first builder error, or TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_graph_compile(tdl_graph *g);

/**
 * @brief Switches train (1) or eval (0) behaviour for the whole graph
 *        (dropout is active only when training). New graphs are in training mode.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_graph_set_training(tdl_graph *g, int32_t training);

/**
 * @brief Opt-in check after every node's computation for NaN or infinity.
 *
 * When on, a run stops at the first node whose output holds a non-finite
 * value and returns TDL_ERR_NON_FINITE with a message naming the node, its op
 * and the index of the first bad element. Costs one pass over every output.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_graph_set_check_finite(tdl_graph *g, int32_t enable);

/**
 * @brief Binds caller memory to an input node, without copying.
 *
 * The shape must equal the input's with the batch dimension replaced by the
 * batch size (>= 1); every input fed for one step must agree on the batch.
 * @param data  Elements of the input's dtype, row-major; read (never written)
 *              by later runs, so it must stay valid and unchanged until the
 *              last run that uses it. Owned by the caller.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL, node not an input of g),
 *         TDL_ERR_SHAPE (with both shapes in the message).
 */
TDL_API tdl_status tdl_feed(tdl_graph *g, tdl_node *input, const void *data, int32_t ndim,
                            const int64_t *shape);

/**
 * @brief Computes every forward node (every node that is not part of a gradient pass
 *        built by tdl_backward()).
 * @return TDL_OK, TDL_ERR_STATE (not compiled, an input not fed, or batch sizes
 *         disagree), TDL_ERR_NON_FINITE, TDL_ERR_OUT_OF_MEMORY, or a builder error.
 */
TDL_API tdl_status tdl_forward(tdl_graph *g);

/**
 * @brief Computes only what `target` needs (e.g. logits for inference, without labels).
 * @return As tdl_forward().
 */
TDL_API tdl_status tdl_run(tdl_graph *g, tdl_node *target);

/**
 * @brief Adds to the graph the gradient nodes of `loss` for every trainable parameter.
 *
 * Called by tdl_backward() on first use; call it yourself to plan memory or
 * draw the graph with its gradients before the first step. Idempotent.
 * @param loss A node with one element (a scalar loss).
 * @return TDL_OK, TDL_ERR_SHAPE (loss not scalar), TDL_ERR_INVALID_ARGUMENT, TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_status tdl_build_gradients(tdl_graph *g, tdl_node *loss);

/**
 * @brief Computes the gradient of `loss` for every trainable parameter.
 *
 * Uses the values of the last tdl_forward() (which must have run since the
 * last tdl_feed()). Afterwards each parameter's gradient is readable and
 * writable with tdl_param_grad() until the next tdl_backward(), which
 * overwrites it.
 * @return TDL_OK, TDL_ERR_STATE (no forward since the last feed), or as tdl_forward().
 */
TDL_API tdl_status tdl_backward(tdl_graph *g, tdl_node *loss);

/**
 * @brief Builds the gradient of scalar `y` with respect to `x` as ordinary graph nodes.
 *
 * The result is a node like any other: it can be used in a loss (gradient
 * penalties, input gradients) and differentiated again.
 * @return A node shaped like x, or NULL (sticky error) if y is not scalar, x is
 *         not float, or an op on the path has no gradient rule. If y does not
 *         depend on x the result is zeros.
 */
TDL_API tdl_node *tdl_grad(tdl_graph *g, tdl_node *y, tdl_node *x);

/**
 * @brief A node's symbolic shape (negative entry -k = k times the batch).
 * @param[out] ndim  Number of dimensions (0 for a scalar).
 * @param[out] shape At least TDL_MAX_DIMS entries.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_node_shape(const tdl_node *node, int32_t *ndim, int64_t *shape);

/**
 * @brief The shape of the node's current value (after a run).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_STATE (no value yet).
 */
TDL_API tdl_status tdl_node_value_shape(const tdl_node *node, int32_t *ndim, int64_t *shape);

/** @brief The node's element type (0 for NULL). */
TDL_API tdl_dtype tdl_node_dtype(const tdl_node *node);

/** @brief The node's name (unique in its graph); owned by the graph; "" for NULL. */
TDL_API const char *tdl_node_name(const tdl_node *node);

/** @brief The stable name of the node's op ("matmul", "relu", ...); "" for NULL. */
TDL_API const char *tdl_node_op(const tdl_node *node);

/**
 * @brief Copies the node's current value out.
 * @param dst       Receives the elements (row-major, node dtype).
 * @param dst_bytes Size of dst; must be at least the value's size.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_STATE (no value), TDL_ERR_SHAPE (dst too
 * small).
 */
TDL_API tdl_status tdl_node_read(const tdl_node *node, void *dst, size_t dst_bytes);

/**
 * @brief Direct, read-only access to the node's current value (no copy).
 * @return Pointer valid until the graph next runs, is fed or destroyed; NULL when
 *         the node has no value.
 */
TDL_API const void *tdl_node_data(const tdl_node *node);

/** @brief The node called `name`, or NULL. */
TDL_API tdl_node *tdl_graph_find(const tdl_graph *g, const char *name);

/** @brief Number of parameter tensors in the graph. */
TDL_API int64_t tdl_graph_param_count(const tdl_graph *g);

/** @brief The i-th parameter (in creation order), or NULL when out of range. */
TDL_API tdl_node *tdl_graph_param(const tdl_graph *g, int64_t i);

/** @brief Total number of scalar parameters (trainable and frozen). */
TDL_API int64_t tdl_graph_param_elements(const tdl_graph *g);

/**
 * @brief Read/write access to a parameter's values (float32, row-major).
 * @return Pointer owned by the graph, valid until the graph is destroyed; NULL
 *         if `param` is not a parameter.
 */
TDL_API float *tdl_param_data(tdl_node *param);

/**
 * @brief Read/write access to a parameter's gradient from the last tdl_backward().
 *
 * Writable so callers can clip, inspect or all-reduce gradients before the
 * optimizer step. Zeros before the first backward.
 * @return Pointer owned by the graph; NULL if `param` is not a parameter.
 */
TDL_API float *tdl_param_grad(tdl_node *param);

/**
 * @brief Freezes (0) or unfreezes (1) a parameter: frozen ones get no gradient
 *        and are not updated. Set before the first tdl_backward() of a loss.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_STATE (gradients already built).
 */
TDL_API tdl_status tdl_param_set_trainable(tdl_node *param, int32_t trainable);

/** @brief 1 if the parameter is trainable, 0 if frozen or not a parameter. */
TDL_API int32_t tdl_param_trainable(const tdl_node *param);

/**
 * @brief The memory plan for a given batch size, without running anything.
 * @param batch        Batch size to plan for (>= 1).
 * @param[out] arena_bytes Peak bytes of the activation/gradient arena.
 * @param[out] naive_bytes Bytes if every tensor had its own buffer (for comparison).
 * @param[out] param_bytes Bytes held by parameters, their gradients and constants.
 *                     Any output pointer may be NULL.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_STATE (sticky error).
 */
TDL_API tdl_status tdl_graph_memory_plan(tdl_graph *g, int64_t batch, uint64_t *arena_bytes,
                                         uint64_t *naive_bytes, uint64_t *param_bytes);

/**
 * @brief A table of the graph: each node's op, name, output shape and parameter
 *        count, then the totals and the planned memory (like Keras' summary()).
 *
 * snprintf semantics: writes at most `size` bytes including the NUL.
 * @param buf   Destination, may be NULL when size is 0.
 * @param[out] needed Length of the whole text without the NUL (may be NULL).
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT.
 */
TDL_API tdl_status tdl_graph_summary(tdl_graph *g, char *buf, size_t size, size_t *needed);

/**
 * @brief Writes the graph as Graphviz DOT (`dot -Tsvg file.dot`).
 * @param include_gradients 1 to include gradient nodes (drawn dashed).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_IO.
 */
TDL_API tdl_status tdl_graph_write_dot(tdl_graph *g, const char *path, int32_t include_gradients);

TDL_END_DECLS

#endif /* TINY_DL_GRAPH_H */
