/**
 * @file rnn.h
 * @brief Sequence models: embeddings, recurrent layers (RNN, LSTM, GRU) as single
 *        fused ops over whole sequences, a step API for streaming inference and
 *        generation, masked pooling over time, and sampling from logits.
 *
 * **Layouts.** A sequence is `[T, B, F]` (time-major, PyTorch's default) or
 * `[B, T, F]` with ::TDL_RNN_BATCH_FIRST. The batch B may be symbolic
 * (::TDL_BATCH); the number of steps T must be concrete (a graph is built for one
 * sequence length; build one graph per length, or pad and pass `lengths`).
 *
 * **Compatibility with PyTorch.** tdl_rnn() matches `torch.nn.RNN`, `nn.LSTM` and
 * `nn.GRU` (bias = True, proj_size = 0): the same parameter names, shapes, gate
 * order and formulas, so a state dict saved from PyTorch (as safetensors) loads
 * by name. tdl_embedding() matches `nn.Embedding`.
 *
 * **Memory.** For the backward pass the fused op keeps, per layer and direction, the
 * gates and states of every step: about T * B * (G + 3) * H floats (G = 1, 4, 3 gates
 * for RNN, LSTM, GRU), in the graph's arena (see tdl_graph_memory_plan()).
 *
 * **Errors.** Builders return NULL with the graph's sticky error set (graph.h);
 * run-time problems (a token id out of range, a length outside 1..T) fail the
 * run with a message naming the op, the node, the position and the value.
 *
 * Threading: like the graph they belong to, nodes and states are used by one
 * thread at a time. Results are bit-identical for every thread count.
 */
#ifndef TINY_DL_RNN_H
#define TINY_DL_RNN_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/core.h>
#include <tiny-dl/export.h>
#include <tiny-dl/graph.h>

TDL_BEGIN_DECLS

/** Kinds of recurrent layer for tdl_rnn(). Values are part of the ABI. */
enum tdl_rnn_kind {
    /** Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (nn.RNN, nonlinearity='tanh'). */
    TDL_RNN_TANH = 0,
    /** Elman RNN with relu instead of tanh (nn.RNN, nonlinearity='relu'). */
    TDL_RNN_RELU = 1,
    /**
     * LSTM (nn.LSTM). Gates in the order i, f, g, o:
     * i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.) of W_i* x + b_i* + W_h* h + b_h*;
     * c' = f * c + i * g; h' = o * tanh(c').
     */
    TDL_RNN_LSTM = 2,
    /**
     * GRU (nn.GRU). Gates in the order r, z, n: r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
     * z likewise, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) * n + z * h.
     */
    TDL_RNN_GRU = 3
};

/** Flags of tdl_rnn() (bitwise or). Values are part of the ABI. */
enum tdl_rnn_flag {
    /** x is [B, T, F] and the output [B, T, dirs * H] (PyTorch's batch_first=True). */
    TDL_RNN_BATCH_FIRST = 1,
    /** A second direction runs from the last step to the first; outputs are concatenated. */
    TDL_RNN_BIDIRECTIONAL = 2
};

/** Which final state tdl_rnn_final_state() and the state functions refer to. */
enum tdl_rnn_state_which {
    TDL_RNN_STATE_H = 0, /**< The hidden state h (every kind). */
    TDL_RNN_STATE_C = 1  /**< The cell state c (LSTM only). */
};

/**
 * @brief A lookup table: row ids[i] of a trainable matrix, like `nn.Embedding`.
 *
 * Creates the parameter "<name>.weight" [vocab, dim], initialised N(0, 1)
 * (PyTorch's default), with the row `padding_id` set to zeros. The gradient of
 * the weight adds up, over the positions in index order (deterministic), the
 * output gradient of every position into the row it used; the row `padding_id`
 * gets none. Differentiable in the weight only (first derivatives: the gradient is
 * not itself differentiable).
 * @param ids        int32 node of any shape [...] (the batch may be symbolic). An id
 *                   outside [0, vocab) fails the run with TDL_ERR_INVALID_ARGUMENT
 *                   naming the id and its position.
 * @param vocab      Number of rows (>= 1).
 * @param dim        Size of each row (>= 1).
 * @param padding_id An id in [0, vocab) whose row stays zero and gets no gradient,
 *                   or -1 for none.
 * @param name       Required: prefix of the parameter name.
 * @return float node [..., dim], or NULL (sticky error: TDL_ERR_INVALID_ARGUMENT,
 *         TDL_ERR_DTYPE, TDL_ERR_SHAPE, TDL_ERR_OUT_OF_MEMORY).
 */
TDL_API tdl_node *tdl_embedding(tdl_graph *g, tdl_node *ids, int64_t vocab, int64_t dim,
                                int64_t padding_id, const char *name);

/**
 * @brief A multi-layer recurrent layer over a whole sequence, as one fused op
 *        (matches `torch.nn.RNN` / `nn.LSTM` / `nn.GRU`).
 *
 * Creates, for each layer l and direction (suffix "_reverse" for the backward
 * one), the parameters "<name>.weight_ih_l<l>" [G*H, in_l], "<name>.weight_hh_l<l>"
 * [G*H, H], "<name>.bias_ih_l<l>" [G*H] and "<name>.bias_hh_l<l>" [G*H] (G = 1, 4, 3
 * for RNN, LSTM, GRU; in_0 = F, in_l = dirs * H), in PyTorch's order, all
 * initialised U(-1/sqrt(H), 1/sqrt(H)) like PyTorch.
 *
 * The input projections of all steps are one GEMM per layer and direction; each
 * step then costs one [B, H] x [H, G*H] GEMM and the fused gate arithmetic. The
 * gradient (backpropagation through time) is likewise computed by dedicated
 * fused ops for x, h0, c0 and every parameter; it is not itself differentiable
 * (tdl_grad() of an expression holding a gradient through tdl_rnn() fails with
 * TDL_ERR_UNSUPPORTED).
 *
 * @param x       float [T, B, F], or [B, T, F] with ::TDL_RNN_BATCH_FIRST; T must be
 *                concrete and >= 1.
 * @param h0      Initial hidden state [layers * dirs, B, H], or NULL for zeros.
 *                Row l * dirs + d is layer l, direction d (as PyTorch).
 * @param c0      Initial cell state (LSTM only) [layers * dirs, B, H], or NULL for zeros.
 * @param lengths int32 [B] with every value in 1..T, or NULL (every sequence has T
 *                steps). Steps t >= lengths[b] of sequence b are padding: they
 *                leave the state unchanged, output zeros and get no gradient; the
 *                reverse direction starts at step lengths[b] - 1 (like a packed
 *                sequence in PyTorch). Checked at run time (TDL_ERR_INVALID_ARGUMENT).
 *                Not differentiable.
 * @param kind    One of ::tdl_rnn_kind.
 * @param hidden  H >= 1.
 * @param layers  Number of stacked layers, >= 1.
 * @param flags   Bitwise or of ::tdl_rnn_flag values.
 * @param dropout Probability in [0, 1) of dropping each output of every layer but the
 *                last, in training mode only (inverted dropout as tdl_dropout(); masks
 *                come from the seed, the node and the step, not the thread count).
 * @param name    Required: prefix of the parameter names; also the output node's name.
 * @return The output node, float [T, B, dirs * H] (or [B, T, dirs * H] batch-first),
 *         zero at padded steps; its final states come from tdl_rnn_final_state().
 *         NULL with a sticky error: TDL_ERR_INVALID_ARGUMENT (bad kind, flags,
 *         sizes, dropout, name, c0 for a non-LSTM), TDL_ERR_SHAPE (x not 3-D, T
 *         symbolic or < 1, h0/c0/lengths of the wrong shape), TDL_ERR_DTYPE,
 *         TDL_ERR_OUT_OF_MEMORY.
 */
TDL_API tdl_node *tdl_rnn(tdl_graph *g, tdl_node *x, tdl_node *h0, tdl_node *c0, tdl_node *lengths,
                          int32_t kind, int64_t hidden, int32_t layers, uint32_t flags,
                          float dropout, const char *name);

/**
 * @brief The final states of a tdl_rnn() node, as a node [layers * dirs, B, H]
 *        (PyTorch's h_n and c_n).
 *
 * With `lengths`, the forward direction's final state of sequence b is the one
 * after step lengths[b] - 1, the reverse direction's the one after step 0.
 * Differentiable (its gradient flows back through the recurrence).
 * @param rnn_out A node returned by tdl_rnn().
 * @param which   ::TDL_RNN_STATE_H, or ::TDL_RNN_STATE_C for an LSTM.
 * @return The node, or NULL (sticky error TDL_ERR_INVALID_ARGUMENT when rnn_out
 *         is not a tdl_rnn() output or which does not apply).
 */
TDL_API tdl_node *tdl_rnn_final_state(tdl_graph *g, tdl_node *rnn_out, int32_t which);

/**
 * @brief Turns on DropConnect of the recurrent weights of a tdl_rnn() node (the
 *        "weight-dropped LSTM" of AWD-LSTM): in training mode, each run multiplies
 *        every element of every weight_hh by 0 (probability p) or 1 / (1 - p).
 *
 * One mask per weight and run, shared by all time steps and sequences of the
 * batch (unlike dropout of the states, it does not disturb the recurrence
 * step by step); the gradient uses the same mask, and the weight's gradient is
 * masked too. Masks come from the context seed, the node and the step, not the
 * thread count. In evaluation mode and in the step API the weights are used as
 * they are (inverted dropout: no rescaling needed). The cost is one pass over
 * each weight_hh per run in the forward and two in the backward.
 * @param g       The graph of rnn_out.
 * @param rnn_out A node returned by tdl_rnn() in g.
 * @param p       Probability in [0, 1); 0 turns it off (the default).
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL graph, rnn_out not a tdl_rnn()
 *         output of g, p outside [0, 1) or NaN), TDL_ERR_STATE (the node's gradient
 *         is already built: call before the first tdl_backward() or tdl_grad()).
 *         The message is in tdl_last_error() and tdl_graph_error(g).
 */
TDL_API tdl_status tdl_rnn_set_weight_dropout(tdl_graph *g, tdl_node *rnn_out, float p);

/**
 * @brief Mean over time of each sequence, honouring its length (global average
 *        pooling over the valid steps): y[b, f] = sum over t < len[b] of x[t, b, f] / len[b].
 * @param x           float [T, B, F], or [B, T, F] when batch_first is non-zero; T concrete.
 * @param lengths     int32 [B] with values in 1..T (checked at run time:
 *                    TDL_ERR_INVALID_ARGUMENT), or NULL for T.
 * @param batch_first 0 for [T, B, F], 1 for [B, T, F].
 * @return float [B, F], differentiable in x; NULL with a sticky error
 *         (TDL_ERR_SHAPE, TDL_ERR_DTYPE, TDL_ERR_INVALID_ARGUMENT).
 */
TDL_API tdl_node *tdl_masked_mean_time(tdl_graph *g, tdl_node *x, tdl_node *lengths,
                                       int32_t batch_first);

/** A streaming state for a unidirectional tdl_rnn() node: runs one step at a time. Opaque. */
typedef struct tdl_rnn_state tdl_rnn_state;

/**
 * @brief Creates a state that runs the recurrence of `rnn_out` one step at a time
 *        (streaming inference, generation), with the node's parameters.
 *
 * The state copies the parameters into a layout made for single steps when it
 * is created and at every tdl_rnn_state_reset(): after changing the weights
 * (training, loading a file), reset the state before stepping again. Steps
 * reproduce the full-sequence node's outputs for the same inputs (bit for bit with
 * the SIMD kernels, to float rounding otherwise), without dropout (training only)
 * and without lengths. Every buffer is allocated here: a step allocates nothing and
 * with up to 4 sequences runs on the calling thread only.
 * Threading: a state is used by one thread at a time, and not while its graph runs.
 * @param g       The graph of rnn_out; must outlive the state.
 * @param rnn_out A node returned by tdl_rnn() in g, unidirectional.
 * @param batch   Number of sequences stepped together (>= 1).
 * @param[out] out The new state (zero h and c), or NULL on failure.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL argument, not a tdl_rnn() node of g,
 *         batch < 1), TDL_ERR_UNSUPPORTED (bidirectional), TDL_ERR_OUT_OF_MEMORY.
 *         The message is in tdl_last_error() and tdl_graph_error(g).
 */
TDL_API tdl_status tdl_rnn_state_create(tdl_graph *g, tdl_node *rnn_out, int64_t batch,
                                        tdl_rnn_state **out);

/**
 * @brief Runs one step: consumes x_t, updates the state, writes the output.
 * @param x_t Input of this step, [batch, F] row-major; owned by the caller.
 * @param y_t Receives the last layer's output h, [batch, H] row-major (may be NULL).
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT (NULL state or x_t).
 */
TDL_API tdl_status tdl_rnn_state_step(tdl_rnn_state *state, const float *x_t, float *y_t);

/**
 * @brief Sets h (and c) to zeros and copies the node's parameters again.
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT (NULL state).
 */
TDL_API tdl_status tdl_rnn_state_reset(tdl_rnn_state *state);

/**
 * @brief Sets the hidden or cell state, e.g. from a tdl_rnn_final_state() value.
 * @param which One of ::tdl_rnn_state_which (::TDL_RNN_STATE_C for an LSTM only).
 * @param src   [layers, batch, H] row-major floats; copied.
 * @param ndim  Must be 3.
 * @param shape Must be {layers, batch, H}.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (NULL, bad which), TDL_ERR_SHAPE (the
 *         message gives both shapes).
 */
TDL_API tdl_status tdl_rnn_state_set(tdl_rnn_state *state, int32_t which, const float *src,
                                     int32_t ndim, const int64_t *shape);

/**
 * @brief Copies the hidden or cell state out, [layers, batch, H] row-major.
 * @param dst_bytes Size of dst; at least layers * batch * H * 4.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT, TDL_ERR_SHAPE (dst too small).
 */
TDL_API tdl_status tdl_rnn_state_get(const tdl_rnn_state *state, int32_t which, float *dst,
                                     size_t dst_bytes);

/**
 * @brief The message of the state's last error.
 * @return A string owned by the state; "" if none (or for NULL). Never NULL.
 */
TDL_API const char *tdl_rnn_state_error(const tdl_rnn_state *state);

/** @brief Destroys a state. NULL is ignored. */
TDL_API void tdl_rnn_state_destroy(tdl_rnn_state *state);

/**
 * @brief Draws an index from softmax(logits / temperature), optionally restricted to
 *        the top_k largest logits.
 *
 * The draw is a pure function of (logits, temperature, top_k, seed, counter):
 * the same arguments give the same id on every machine and thread count; use a
 * new counter for each draw (e.g. the position in the generated text).
 * Allocates nothing. Thread-safe (no state).
 * @param logits      n floats; -inf is allowed (probability 0), NaN and +inf are not.
 * @param n           Number of logits (>= 1).
 * @param temperature > 0, or 0 for the argmax (greedy decoding; ties go to the lowest index).
 * @param top_k       Keep only the k largest logits (ties broken towards lower
 *                    indices); 0 (or >= n) keeps all, 1 is the argmax.
 * @param seed        Seed of the random stream.
 * @param counter     Index of this draw in the stream.
 * @param[out] out_id The drawn index in [0, n).
 * @return TDL_OK or TDL_ERR_INVALID_ARGUMENT (NULL pointer, n < 1, negative or NaN
 *         temperature, negative top_k, a NaN or +inf logit, every logit -inf).
 */
TDL_API tdl_status tdl_sample_logits(const float *logits, int64_t n, float temperature,
                                     int32_t top_k, uint64_t seed, uint64_t counter,
                                     int32_t *out_id);

TDL_END_DECLS

#endif /* TINY_DL_RNN_H */
