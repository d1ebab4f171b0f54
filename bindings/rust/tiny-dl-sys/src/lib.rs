//! Raw declarations of the tiny-dl C API (`include/tiny-dl/*.h`), written by hand.
//!
//! Every `TDL_API` function of the public headers is declared here with the same
//! name and C types, and every enum value and `#define` constant is a `pub const`
//! of the same name and value. `tests/coverage.rs` parses the headers and fails
//! when one is missing or its arity differs, so this file cannot silently fall
//! behind the headers.
//!
//! Everything here is `unsafe` and follows the C documentation: ownership,
//! lifetimes and thread-safety are written in each function's comment in the
//! headers. Use the `tiny-dl` crate for a safe API.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use std::os::raw::{c_char, c_void};

/// Declares an opaque C struct: zero-sized, not constructible, `!Send`, `!Sync`, `!Unpin`.
macro_rules! opaque {
    ($($(#[$m:meta])* $name:ident;)*) => {$(
        $(#[$m])*
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}

opaque! {
    /// An execution context (allocator, threads, seed, log sink).
    tdl_ctx;
    /// A computation graph.
    tdl_graph;
    /// A node of a graph (owned by the graph).
    tdl_node;
    /// An optimizer bound to one graph.
    tdl_optim;
    /// A labelled in-memory dataset.
    tdl_dataset;
    /// A mini-batch iterator over a dataset.
    tdl_batcher;
    /// An accumulating confusion matrix.
    tdl_metrics;
    /// A streaming (one step at a time) state of a recurrent layer.
    tdl_rnn_state;
}

/// Result of every fallible call: `TDL_OK` (0) or a negative code.
pub type tdl_status = i32;
/// Element type of a tensor (`TDL_F32`, `TDL_I32`).
pub type tdl_dtype = i32;

/// Allocation hook.
pub type tdl_malloc_fn = Option<unsafe extern "C" fn(size: usize, user: *mut c_void) -> *mut c_void>;
/// Reallocation hook (realloc() semantics).
pub type tdl_realloc_fn =
    Option<unsafe extern "C" fn(ptr: *mut c_void, size: usize, user: *mut c_void) -> *mut c_void>;
/// Release hook; must accept NULL.
pub type tdl_free_fn = Option<unsafe extern "C" fn(ptr: *mut c_void, user: *mut c_void)>;
/// Log sink: a NUL-terminated message without a trailing newline.
pub type tdl_log_fn =
    Option<unsafe extern "C" fn(level: i32, message: *const c_char, user: *mut c_void)>;

// enum tdl_status_code (core.h)
pub const TDL_OK: tdl_status = 0;
pub const TDL_ERR_INVALID_ARGUMENT: tdl_status = -1;
pub const TDL_ERR_SHAPE: tdl_status = -2;
pub const TDL_ERR_DTYPE: tdl_status = -3;
pub const TDL_ERR_OUT_OF_MEMORY: tdl_status = -4;
pub const TDL_ERR_IO: tdl_status = -5;
pub const TDL_ERR_FORMAT: tdl_status = -6;
pub const TDL_ERR_NOT_FOUND: tdl_status = -7;
pub const TDL_ERR_STATE: tdl_status = -8;
pub const TDL_ERR_NON_FINITE: tdl_status = -9;
pub const TDL_ERR_UNSUPPORTED: tdl_status = -10;
pub const TDL_ERR_INTERNAL: tdl_status = -11;

// enum tdl_log_level (core.h)
pub const TDL_LOG_ERROR: i32 = 0;
pub const TDL_LOG_WARN: i32 = 1;
pub const TDL_LOG_INFO: i32 = 2;
pub const TDL_LOG_DEBUG: i32 = 3;

// enum tdl_dtype_code and #defines (graph.h)
pub const TDL_F32: tdl_dtype = 1;
pub const TDL_I32: tdl_dtype = 2;
pub const TDL_MAX_DIMS: usize = 8;
pub const TDL_BATCH: i64 = -1;

// #define (conv.h)
pub const TDL_PAD_SAME: i32 = -1;

// enum tdl_init (ops.h)
pub const TDL_INIT_ZEROS: i32 = 0;
pub const TDL_INIT_CONSTANT: i32 = 1;
pub const TDL_INIT_UNIFORM: i32 = 2;
pub const TDL_INIT_NORMAL: i32 = 3;
pub const TDL_INIT_XAVIER_UNIFORM: i32 = 4;
pub const TDL_INIT_XAVIER_NORMAL: i32 = 5;
pub const TDL_INIT_HE_UNIFORM: i32 = 6;
pub const TDL_INIT_HE_NORMAL: i32 = 7;

// enum tdl_optim_kind (optim.h)
pub const TDL_OPTIM_SGD: i32 = 1;
pub const TDL_OPTIM_ADAM: i32 = 2;
pub const TDL_OPTIM_ADAMW: i32 = 3;
pub const TDL_OPTIM_RMSPROP: i32 = 4;

// enum tdl_optim_option (optim.h)
pub const TDL_OPT_LR: i32 = 1;
pub const TDL_OPT_MOMENTUM: i32 = 2;
pub const TDL_OPT_NESTEROV: i32 = 3;
pub const TDL_OPT_BETA1: i32 = 4;
pub const TDL_OPT_BETA2: i32 = 5;
pub const TDL_OPT_EPS: i32 = 6;
pub const TDL_OPT_WEIGHT_DECAY: i32 = 7;
pub const TDL_OPT_ALPHA: i32 = 8;
pub const TDL_OPT_CLIP_NORM: i32 = 9;
pub const TDL_OPT_FROZEN: i32 = 10;
pub const TDL_OPT_SCHEDULE: i32 = 11;
pub const TDL_OPT_WARMUP_STEPS: i32 = 12;
pub const TDL_OPT_STEP_SIZE: i32 = 13;
pub const TDL_OPT_GAMMA: i32 = 14;
pub const TDL_OPT_TOTAL_STEPS: i32 = 15;
pub const TDL_OPT_MIN_LR: i32 = 16;

// enum tdl_schedule (optim.h)
pub const TDL_SCHED_CONSTANT: i32 = 0;
pub const TDL_SCHED_STEP: i32 = 1;
pub const TDL_SCHED_COSINE: i32 = 2;

// enum tdl_rnn_kind, tdl_rnn_flag, tdl_rnn_state_which (rnn.h)
pub const TDL_RNN_TANH: i32 = 0;
pub const TDL_RNN_RELU: i32 = 1;
pub const TDL_RNN_LSTM: i32 = 2;
pub const TDL_RNN_GRU: i32 = 3;
pub const TDL_RNN_BATCH_FIRST: u32 = 1;
pub const TDL_RNN_BIDIRECTIONAL: u32 = 2;
pub const TDL_RNN_STATE_H: i32 = 0;
pub const TDL_RNN_STATE_C: i32 = 1;

// enum tdl_load_flags (io.h)
pub const TDL_LOAD_STRICT: i32 = 0;
pub const TDL_LOAD_ALLOW_MISSING: i32 = 1;
pub const TDL_LOAD_ALLOW_UNUSED: i32 = 2;

extern "C" {
    // ---- core.h ----
    pub fn tdl_version() -> *const c_char;
    pub fn tdl_version_number() -> u32;
    pub fn tdl_build_info() -> *const c_char;
    pub fn tdl_status_string(status: tdl_status) -> *const c_char;
    pub fn tdl_last_error() -> *const c_char;
    pub fn tdl_ctx_create(out: *mut *mut tdl_ctx) -> tdl_status;
    pub fn tdl_ctx_create_with_allocator(
        out: *mut *mut tdl_ctx,
        alloc_fn: tdl_malloc_fn,
        realloc_fn: tdl_realloc_fn,
        free_fn: tdl_free_fn,
        user: *mut c_void,
    ) -> tdl_status;
    pub fn tdl_ctx_destroy(ctx: *mut tdl_ctx);
    pub fn tdl_ctx_set_threads(ctx: *mut tdl_ctx, n: i32) -> tdl_status;
    pub fn tdl_ctx_get_threads(ctx: *const tdl_ctx) -> i32;
    pub fn tdl_ctx_set_seed(ctx: *mut tdl_ctx, seed: u64) -> tdl_status;
    pub fn tdl_ctx_get_seed(ctx: *const tdl_ctx) -> u64;
    pub fn tdl_ctx_set_log(
        ctx: *mut tdl_ctx,
        fn_: tdl_log_fn,
        max_level: i32,
        user: *mut c_void,
    ) -> tdl_status;
    pub fn tdl_ctx_error(ctx: *const tdl_ctx) -> *const c_char;

    // ---- graph.h ----
    pub fn tdl_graph_create(ctx: *mut tdl_ctx, out: *mut *mut tdl_graph) -> tdl_status;
    pub fn tdl_graph_destroy(g: *mut tdl_graph);
    pub fn tdl_graph_error(g: *const tdl_graph) -> *const c_char;
    pub fn tdl_graph_status(g: *const tdl_graph) -> tdl_status;
    pub fn tdl_graph_compile(g: *mut tdl_graph) -> tdl_status;
    pub fn tdl_graph_set_training(g: *mut tdl_graph, training: i32) -> tdl_status;
    pub fn tdl_graph_set_check_finite(g: *mut tdl_graph, enable: i32) -> tdl_status;
    pub fn tdl_feed(
        g: *mut tdl_graph,
        input: *mut tdl_node,
        data: *const c_void,
        ndim: i32,
        shape: *const i64,
    ) -> tdl_status;
    pub fn tdl_forward(g: *mut tdl_graph) -> tdl_status;
    pub fn tdl_run(g: *mut tdl_graph, target: *mut tdl_node) -> tdl_status;
    pub fn tdl_build_gradients(g: *mut tdl_graph, loss: *mut tdl_node) -> tdl_status;
    pub fn tdl_backward(g: *mut tdl_graph, loss: *mut tdl_node) -> tdl_status;
    pub fn tdl_grad(g: *mut tdl_graph, y: *mut tdl_node, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_node_shape(node: *const tdl_node, ndim: *mut i32, shape: *mut i64) -> tdl_status;
    pub fn tdl_node_value_shape(
        node: *const tdl_node,
        ndim: *mut i32,
        shape: *mut i64,
    ) -> tdl_status;
    pub fn tdl_node_dtype(node: *const tdl_node) -> tdl_dtype;
    pub fn tdl_node_name(node: *const tdl_node) -> *const c_char;
    pub fn tdl_node_op(node: *const tdl_node) -> *const c_char;
    pub fn tdl_node_read(node: *const tdl_node, dst: *mut c_void, dst_bytes: usize) -> tdl_status;
    pub fn tdl_node_data(node: *const tdl_node) -> *const c_void;
    pub fn tdl_graph_find(g: *const tdl_graph, name: *const c_char) -> *mut tdl_node;
    pub fn tdl_graph_param_count(g: *const tdl_graph) -> i64;
    pub fn tdl_graph_param(g: *const tdl_graph, i: i64) -> *mut tdl_node;
    pub fn tdl_graph_param_elements(g: *const tdl_graph) -> i64;
    pub fn tdl_param_data(param: *mut tdl_node) -> *mut f32;
    pub fn tdl_param_grad(param: *mut tdl_node) -> *mut f32;
    pub fn tdl_param_set_trainable(param: *mut tdl_node, trainable: i32) -> tdl_status;
    pub fn tdl_param_trainable(param: *const tdl_node) -> i32;
    pub fn tdl_graph_memory_plan(
        g: *mut tdl_graph,
        batch: i64,
        arena_bytes: *mut u64,
        naive_bytes: *mut u64,
        param_bytes: *mut u64,
    ) -> tdl_status;
    pub fn tdl_graph_summary(
        g: *mut tdl_graph,
        buf: *mut c_char,
        size: usize,
        needed: *mut usize,
    ) -> tdl_status;
    pub fn tdl_graph_write_dot(
        g: *mut tdl_graph,
        path: *const c_char,
        include_gradients: i32,
    ) -> tdl_status;

    // ---- ops.h ----
    pub fn tdl_input(
        g: *mut tdl_graph,
        name: *const c_char,
        dtype: tdl_dtype,
        ndim: i32,
        shape: *const i64,
    ) -> *mut tdl_node;
    pub fn tdl_param(
        g: *mut tdl_graph,
        name: *const c_char,
        ndim: i32,
        shape: *const i64,
        init: i32,
        a: f32,
        b: f32,
    ) -> *mut tdl_node;
    pub fn tdl_constant(
        g: *mut tdl_graph,
        name: *const c_char,
        data: *const f32,
        ndim: i32,
        shape: *const i64,
    ) -> *mut tdl_node;
    pub fn tdl_add(g: *mut tdl_graph, a: *mut tdl_node, b: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_sub(g: *mut tdl_graph, a: *mut tdl_node, b: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_mul(g: *mut tdl_graph, a: *mut tdl_node, b: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_div(g: *mut tdl_graph, a: *mut tdl_node, b: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_affine_scalar(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        scale: f32,
        shift: f32,
    ) -> *mut tdl_node;
    pub fn tdl_matmul(g: *mut tdl_graph, a: *mut tdl_node, b: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_reshape(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        ndim: i32,
        shape: *const i64,
    ) -> *mut tdl_node;
    pub fn tdl_transpose(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_permute(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        ndim: i32,
        perm: *const i32,
    ) -> *mut tdl_node;
    pub fn tdl_concat(
        g: *mut tdl_graph,
        n: i32,
        xs: *const *mut tdl_node,
        axis: i32,
    ) -> *mut tdl_node;
    pub fn tdl_slice(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        axis: i32,
        start: i64,
        end: i64,
    ) -> *mut tdl_node;
    pub fn tdl_sum(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        n_axes: i32,
        axes: *const i32,
        keepdims: i32,
    ) -> *mut tdl_node;
    pub fn tdl_mean(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        n_axes: i32,
        axes: *const i32,
        keepdims: i32,
    ) -> *mut tdl_node;
    pub fn tdl_max(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        n_axes: i32,
        axes: *const i32,
        keepdims: i32,
    ) -> *mut tdl_node;
    pub fn tdl_relu(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_leaky_relu(g: *mut tdl_graph, x: *mut tdl_node, slope: f32) -> *mut tdl_node;
    pub fn tdl_elu(g: *mut tdl_graph, x: *mut tdl_node, alpha: f32) -> *mut tdl_node;
    pub fn tdl_sigmoid(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_tanh(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_gelu(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_exp(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_log(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_sqrt(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_softmax(g: *mut tdl_graph, x: *mut tdl_node, axis: i32) -> *mut tdl_node;
    pub fn tdl_log_softmax(g: *mut tdl_graph, x: *mut tdl_node, axis: i32) -> *mut tdl_node;
    pub fn tdl_dropout(g: *mut tdl_graph, x: *mut tdl_node, p: f32) -> *mut tdl_node;
    pub fn tdl_stop_gradient(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_mse_loss(
        g: *mut tdl_graph,
        pred: *mut tdl_node,
        target: *mut tdl_node,
    ) -> *mut tdl_node;
    pub fn tdl_cross_entropy(
        g: *mut tdl_graph,
        logits: *mut tdl_node,
        labels: *mut tdl_node,
    ) -> *mut tdl_node;
    pub fn tdl_cross_entropy_smooth(
        g: *mut tdl_graph,
        logits: *mut tdl_node,
        labels: *mut tdl_node,
        smoothing: f32,
    ) -> *mut tdl_node;
    pub fn tdl_bce_with_logits(
        g: *mut tdl_graph,
        logits: *mut tdl_node,
        targets: *mut tdl_node,
    ) -> *mut tdl_node;
    pub fn tdl_dense(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        units: i64,
        name: *const c_char,
    ) -> *mut tdl_node;
    pub fn tdl_dense_ex(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        units: i64,
        name: *const c_char,
        weight_init: i32,
        use_bias: i32,
    ) -> *mut tdl_node;

    // ---- conv.h ----
    pub fn tdl_conv2d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        w: *mut tdl_node,
        bias: *mut tdl_node,
        stride_h: i32,
        stride_w: i32,
        pad_h: i32,
        pad_w: i32,
        dilation_h: i32,
        dilation_w: i32,
        groups: i32,
    ) -> *mut tdl_node;
    pub fn tdl_conv_transpose2d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        w: *mut tdl_node,
        bias: *mut tdl_node,
        stride_h: i32,
        stride_w: i32,
        pad_h: i32,
        pad_w: i32,
        output_pad_h: i32,
        output_pad_w: i32,
        dilation_h: i32,
        dilation_w: i32,
        groups: i32,
    ) -> *mut tdl_node;
    pub fn tdl_conv1d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        w: *mut tdl_node,
        bias: *mut tdl_node,
        stride: i32,
        pad: i32,
        dilation: i32,
        groups: i32,
    ) -> *mut tdl_node;
    pub fn tdl_conv2d_layer(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        out_channels: i64,
        kernel: i32,
        stride: i32,
        pad: i32,
        groups: i32,
        use_bias: i32,
        name: *const c_char,
    ) -> *mut tdl_node;

    // ---- layers.h ----
    pub fn tdl_max_pool2d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        kernel_h: i32,
        kernel_w: i32,
        stride_h: i32,
        stride_w: i32,
        pad_h: i32,
        pad_w: i32,
    ) -> *mut tdl_node;
    pub fn tdl_avg_pool2d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        kernel_h: i32,
        kernel_w: i32,
        stride_h: i32,
        stride_w: i32,
        pad_h: i32,
        pad_w: i32,
    ) -> *mut tdl_node;
    pub fn tdl_global_avg_pool(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_flatten(g: *mut tdl_graph, x: *mut tdl_node) -> *mut tdl_node;
    pub fn tdl_upsample_nearest2d(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        scale_h: i32,
        scale_w: i32,
    ) -> *mut tdl_node;
    pub fn tdl_pad(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        ndim: i32,
        pads: *const i64,
        value: f32,
    ) -> *mut tdl_node;
    pub fn tdl_batch_norm(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        name: *const c_char,
        momentum: f32,
        eps: f32,
    ) -> *mut tdl_node;
    pub fn tdl_layer_norm(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        n_axes: i32,
        name: *const c_char,
        eps: f32,
    ) -> *mut tdl_node;
    pub fn tdl_spatial_dropout(g: *mut tdl_graph, x: *mut tdl_node, p: f32) -> *mut tdl_node;
    pub fn tdl_separable_conv_block(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        out_channels: i64,
        stride: i32,
        name: *const c_char,
    ) -> *mut tdl_node;
    pub fn tdl_residual_block(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        out_channels: i64,
        stride: i32,
        name: *const c_char,
    ) -> *mut tdl_node;

    // ---- rnn.h ----
    pub fn tdl_embedding(
        g: *mut tdl_graph,
        ids: *mut tdl_node,
        vocab: i64,
        dim: i64,
        padding_id: i64,
        name: *const c_char,
    ) -> *mut tdl_node;
    pub fn tdl_rnn(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        h0: *mut tdl_node,
        c0: *mut tdl_node,
        lengths: *mut tdl_node,
        kind: i32,
        hidden: i64,
        layers: i32,
        flags: u32,
        dropout: f32,
        name: *const c_char,
    ) -> *mut tdl_node;
    pub fn tdl_rnn_final_state(g: *mut tdl_graph, rnn_out: *mut tdl_node, which: i32)
        -> *mut tdl_node;
    pub fn tdl_rnn_set_weight_dropout(g: *mut tdl_graph, rnn_out: *mut tdl_node, p: f32)
        -> tdl_status;
    pub fn tdl_masked_mean_time(
        g: *mut tdl_graph,
        x: *mut tdl_node,
        lengths: *mut tdl_node,
        batch_first: i32,
    ) -> *mut tdl_node;
    pub fn tdl_rnn_state_create(
        g: *mut tdl_graph,
        rnn_out: *mut tdl_node,
        batch: i64,
        out: *mut *mut tdl_rnn_state,
    ) -> tdl_status;
    pub fn tdl_rnn_state_step(state: *mut tdl_rnn_state, x_t: *const f32, y_t: *mut f32)
        -> tdl_status;
    pub fn tdl_rnn_state_reset(state: *mut tdl_rnn_state) -> tdl_status;
    pub fn tdl_rnn_state_set(
        state: *mut tdl_rnn_state,
        which: i32,
        src: *const f32,
        ndim: i32,
        shape: *const i64,
    ) -> tdl_status;
    pub fn tdl_rnn_state_get(
        state: *const tdl_rnn_state,
        which: i32,
        dst: *mut f32,
        dst_bytes: usize,
    ) -> tdl_status;
    pub fn tdl_rnn_state_error(state: *const tdl_rnn_state) -> *const c_char;
    pub fn tdl_rnn_state_destroy(state: *mut tdl_rnn_state);
    pub fn tdl_sample_logits(
        logits: *const f32,
        n: i64,
        temperature: f32,
        top_k: i32,
        seed: u64,
        counter: u64,
        out_id: *mut i32,
    ) -> tdl_status;

    // ---- optim.h ----
    pub fn tdl_optim_create(
        g: *mut tdl_graph,
        kind: i32,
        lr: f32,
        out: *mut *mut tdl_optim,
    ) -> tdl_status;
    pub fn tdl_optim_create_sgd(
        g: *mut tdl_graph,
        lr: f32,
        momentum: f32,
        out: *mut *mut tdl_optim,
    ) -> tdl_status;
    pub fn tdl_optim_create_adam(g: *mut tdl_graph, lr: f32, out: *mut *mut tdl_optim)
        -> tdl_status;
    pub fn tdl_optim_destroy(opt: *mut tdl_optim);
    pub fn tdl_optim_set(opt: *mut tdl_optim, option: i32, value: f64) -> tdl_status;
    pub fn tdl_optim_add_group(
        opt: *mut tdl_optim,
        prefix: *const c_char,
        group_id: *mut i32,
    ) -> tdl_status;
    pub fn tdl_optim_group_set(
        opt: *mut tdl_optim,
        group_id: i32,
        option: i32,
        value: f64,
    ) -> tdl_status;
    pub fn tdl_optim_step(opt: *mut tdl_optim) -> tdl_status;
    pub fn tdl_optim_lr(opt: *const tdl_optim) -> f64;
    pub fn tdl_optim_steps(opt: *const tdl_optim) -> i64;
    pub fn tdl_optim_last_grad_norm(opt: *const tdl_optim) -> f64;
    pub fn tdl_optim_error(opt: *const tdl_optim) -> *const c_char;
    pub fn tdl_clip_grad_norm(g: *mut tdl_graph, max_norm: f64, norm: *mut f64) -> tdl_status;

    // ---- io.h ----
    pub fn tdl_save_weights(g: *mut tdl_graph, path: *const c_char) -> tdl_status;
    pub fn tdl_load_weights(g: *mut tdl_graph, path: *const c_char) -> tdl_status;
    pub fn tdl_load_weights_ex(g: *mut tdl_graph, path: *const c_char, flags: i32) -> tdl_status;

    // ---- data.h ----
    pub fn tdl_dataset_load_idx(
        ctx: *mut tdl_ctx,
        images_path: *const c_char,
        labels_path: *const c_char,
        out: *mut *mut tdl_dataset,
    ) -> tdl_status;
    pub fn tdl_dataset_from_arrays(
        ctx: *mut tdl_ctx,
        x: *const f32,
        y: *const i32,
        n: i64,
        sample_ndim: i32,
        sample_shape: *const i64,
        out: *mut *mut tdl_dataset,
    ) -> tdl_status;
    pub fn tdl_dataset_destroy(ds: *mut tdl_dataset);
    pub fn tdl_dataset_size(ds: *const tdl_dataset) -> i64;
    pub fn tdl_dataset_sample_size(ds: *const tdl_dataset) -> i64;
    pub fn tdl_dataset_sample_shape(
        ds: *const tdl_dataset,
        ndim: *mut i32,
        shape: *mut i64,
    ) -> tdl_status;
    pub fn tdl_dataset_num_classes(ds: *const tdl_dataset) -> i32;
    pub fn tdl_dataset_x(ds: *const tdl_dataset) -> *const f32;
    pub fn tdl_dataset_y(ds: *const tdl_dataset) -> *const i32;
    pub fn tdl_dataset_truncate(ds: *mut tdl_dataset, n: i64) -> tdl_status;
    pub fn tdl_batcher_create(
        ds: *mut tdl_dataset,
        batch_size: i64,
        shuffle: i32,
        seed: u64,
        out: *mut *mut tdl_batcher,
    ) -> tdl_status;
    pub fn tdl_batcher_destroy(it: *mut tdl_batcher);
    pub fn tdl_batcher_next(
        it: *mut tdl_batcher,
        x: *mut *const f32,
        y: *mut *const i32,
        n: *mut i64,
    ) -> tdl_status;
    pub fn tdl_batcher_reset(it: *mut tdl_batcher) -> tdl_status;
    pub fn tdl_batcher_num_batches(it: *const tdl_batcher) -> i64;
    pub fn tdl_augment_flip(
        x: *mut f32,
        n: i64,
        c: i64,
        h: i64,
        w: i64,
        p: f32,
        seed: u64,
        counter: u64,
    ) -> tdl_status;
    pub fn tdl_augment_translate(
        x: *mut f32,
        n: i64,
        c: i64,
        h: i64,
        w: i64,
        max_shift: i32,
        fill: f32,
        seed: u64,
        counter: u64,
    ) -> tdl_status;
    pub fn tdl_normalize_channels(
        x: *mut f32,
        n: i64,
        c: i64,
        spatial: i64,
        mean: *const f32,
        std: *const f32,
    ) -> tdl_status;

    // ---- metrics.h ----
    pub fn tdl_metrics_create(
        ctx: *mut tdl_ctx,
        num_classes: i32,
        out: *mut *mut tdl_metrics,
    ) -> tdl_status;
    pub fn tdl_metrics_destroy(m: *mut tdl_metrics);
    pub fn tdl_metrics_reset(m: *mut tdl_metrics) -> tdl_status;
    pub fn tdl_metrics_update_scores(
        m: *mut tdl_metrics,
        scores: *const f32,
        labels: *const i32,
        n: i64,
    ) -> tdl_status;
    pub fn tdl_metrics_update(
        m: *mut tdl_metrics,
        predicted: *const i32,
        labels: *const i32,
        n: i64,
    ) -> tdl_status;
    pub fn tdl_metrics_count(m: *const tdl_metrics) -> i64;
    pub fn tdl_metrics_accuracy(m: *const tdl_metrics) -> f64;
    pub fn tdl_metrics_class(
        m: *const tdl_metrics,
        cls: i32,
        precision: *mut f64,
        recall: *mut f64,
        f1: *mut f64,
    ) -> tdl_status;
    pub fn tdl_metrics_macro_f1(m: *const tdl_metrics) -> f64;
    pub fn tdl_metrics_confusion(m: *const tdl_metrics, truth: i32, predicted: i32) -> i64;
    pub fn tdl_metrics_report(
        m: *const tdl_metrics,
        class_names: *const *const c_char,
        buf: *mut c_char,
        size: usize,
        needed: *mut usize,
    ) -> tdl_status;
}
