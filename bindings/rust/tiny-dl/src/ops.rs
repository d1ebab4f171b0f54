//! Graph builders (ops.h, conv.h, layers.h). Each returns the new node, or the
//! graph's error (which the graph also keeps: later builders fail the same way
//! and `compile` reports it, as in C).
use std::ffi::CString;
use std::os::raw::c_char;

use tiny_dl_sys as sys;

use crate::error::{Error, ErrorKind, Result};
use crate::graph::{Graph, Node};
use crate::{c_string, DType, Init};

fn opt_name(name: Option<&str>) -> Result<Option<CString>> {
    match name {
        Some(n) => c_string("name", n).map(Some),
        None => Ok(None),
    }
}

fn name_ptr(name: &Option<CString>) -> *const c_char {
    name.as_ref().map(|c| c.as_ptr()).unwrap_or(std::ptr::null())
}

fn len_i32(what: &str, n: usize) -> Result<i32> {
    if n > i32::MAX as usize {
        Err(Error::new(ErrorKind::InvalidArgument, format!("too many {}", what)))
    } else {
        Ok(n as i32)
    }
}

macro_rules! unary {
    ($($(#[$m:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, x: Node<'_>) -> Result<Node<'g>> {
            self.own(&x)?;
            let raw = unsafe { sys::$f(self.as_ptr(), x.raw.as_ptr()) };
            self.wrap(raw, &[x], false)
        }
    )*};
}

macro_rules! binary {
    ($($(#[$m:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, a: Node<'_>, b: Node<'_>) -> Result<Node<'g>> {
            self.own(&a)?;
            self.own(&b)?;
            let raw = unsafe { sys::$f(self.as_ptr(), a.raw.as_ptr(), b.raw.as_ptr()) };
            self.wrap(raw, &[a, b], false)
        }
    )*};
}

macro_rules! unary_f32 {
    ($($(#[$m:meta])* $name:ident($arg:ident) => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, x: Node<'_>, $arg: f32) -> Result<Node<'g>> {
            self.own(&x)?;
            let raw = unsafe { sys::$f(self.as_ptr(), x.raw.as_ptr(), $arg) };
            self.wrap(raw, &[x], false)
        }
    )*};
}

macro_rules! reduce {
    ($($(#[$m:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, x: Node<'_>, axes: &[i32], keepdims: bool)
            -> Result<Node<'g>> {
            self.own(&x)?;
            let n = len_i32("axes", axes.len())?;
            let raw = unsafe {
                sys::$f(self.as_ptr(), x.raw.as_ptr(), n, axes.as_ptr(), keepdims as i32)
            };
            self.wrap(raw, &[x], false)
        }
    )*};
}

macro_rules! named_block {
    ($($(#[$m:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, x: Node<'_>, out_channels: i64, stride: i32, name: &str)
            -> Result<Node<'g>> {
            self.own(&x)?;
            let c = c_string("name", name)?;
            let raw = unsafe {
                sys::$f(self.as_ptr(), x.raw.as_ptr(), out_channels, stride, c.as_ptr())
            };
            self.wrap(raw, &[x], false)
        }
    )*};
}

macro_rules! pool2d {
    ($($(#[$m:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'g>(&'g self, x: Node<'_>, kernel: [i32; 2], stride: [i32; 2],
                         pad: [i32; 2]) -> Result<Node<'g>> {
            self.own(&x)?;
            let raw = unsafe {
                sys::$f(self.as_ptr(), x.raw.as_ptr(), kernel[0], kernel[1], stride[0],
                        stride[1], pad[0], pad[1])
            };
            self.wrap(raw, &[x], false)
        }
    )*};
}

impl<'c> Graph<'c> {
    /// A graph input of `dtype`, fed before each run; one dimension may be
    /// [`BATCH`](crate::BATCH).
    pub fn input<'g>(&'g self, name: &str, dtype: DType, shape: &[i64]) -> Result<Node<'g>> {
        let c = c_string("name", name)?;
        let ndim = len_i32("dimensions", shape.len())?;
        let raw = unsafe {
            sys::tdl_input(self.as_ptr(), c.as_ptr(), dtype.code(), ndim, shape.as_ptr())
        };
        self.wrap(raw, &[], true)
    }

    /// A named float parameter, initialised now from the context's seed and the name.
    pub fn param<'g>(&'g self, name: &str, shape: &[i64], init: Init, a: f32, b: f32)
        -> Result<Node<'g>> {
        let c = c_string("name", name)?;
        let ndim = len_i32("dimensions", shape.len())?;
        let raw = unsafe {
            sys::tdl_param(self.as_ptr(), c.as_ptr(), ndim, shape.as_ptr(), init.code(), a, b)
        };
        self.wrap(raw, &[], false)
    }

    /// A float constant holding a copy of `data` (`data.len()` must match `shape`).
    pub fn constant<'g>(&'g self, name: Option<&str>, data: &[f32], shape: &[i64])
        -> Result<Node<'g>> {
        let n = crate::checked_numel(shape);
        if n != Some(data.len()) {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("constant: {} values for shape {:?}", data.len(), shape),
            ));
        }
        let c = opt_name(name)?;
        let ndim = len_i32("dimensions", shape.len())?;
        let raw = unsafe {
            sys::tdl_constant(self.as_ptr(), name_ptr(&c), data.as_ptr(), ndim, shape.as_ptr())
        };
        self.wrap(raw, &[], false)
    }

    binary! {
        /// a + b with NumPy broadcasting.
        add => tdl_add;
        /// a - b with NumPy broadcasting.
        sub => tdl_sub;
        /// a * b (elementwise) with NumPy broadcasting.
        mul => tdl_mul;
        /// a / b (elementwise) with NumPy broadcasting.
        div => tdl_div;
        /// Matrix product (2-D, or batched with a shared 2-D b).
        matmul => tdl_matmul;
        /// Mean of (pred - target)^2.
        mse_loss => tdl_mse_loss;
        /// Mean softmax cross-entropy of [B, C] logits and [B] int32 labels.
        cross_entropy => tdl_cross_entropy;
        /// Mean binary cross-entropy on logits, float targets in [0, 1].
        bce_with_logits => tdl_bce_with_logits;
    }

    unary! {
        /// Swaps the last two dimensions.
        transpose => tdl_transpose;
        /// max(x, 0).
        relu => tdl_relu;
        /// 1 / (1 + exp(-x)).
        sigmoid => tdl_sigmoid;
        /// tanh(x).
        tanh => tdl_tanh;
        /// x * Phi(x) (exact GELU).
        gelu => tdl_gelu;
        /// exp(x).
        exp => tdl_exp;
        /// Natural logarithm.
        log => tdl_log;
        /// Square root.
        sqrt => tdl_sqrt;
        /// Identity whose gradient is zero.
        stop_gradient => tdl_stop_gradient;
        /// Mean over every axis after the first two: [N, C, ...] -> [N, C].
        global_avg_pool => tdl_global_avg_pool;
        /// [N, ...] -> [N, product of the rest].
        flatten => tdl_flatten;
    }

    unary_f32! {
        /// x for x > 0, slope * x otherwise.
        leaky_relu(slope) => tdl_leaky_relu;
        /// x for x > 0, alpha * (exp(x) - 1) otherwise.
        elu(alpha) => tdl_elu;
        /// Inverted dropout with probability p (identity in eval mode).
        dropout(p) => tdl_dropout;
        /// Spatial (channel) dropout for [N, C, ...].
        spatial_dropout(p) => tdl_spatial_dropout;
    }

    reduce! {
        /// Sum over `axes` (empty: all).
        sum => tdl_sum;
        /// Mean over `axes` (empty: all).
        mean => tdl_mean;
        /// Maximum over `axes` (empty: all).
        max => tdl_max;
    }

    named_block! {
        /// MobileNet-style depthwise-separable block (see layers.h).
        separable_conv_block => tdl_separable_conv_block;
        /// ResNet basic block (see layers.h).
        residual_block => tdl_residual_block;
    }

    pool2d! {
        /// Max pooling of [N, C, H, W].
        max_pool2d => tdl_max_pool2d;
        /// Average pooling of [N, C, H, W] (padding counts in the average).
        avg_pool2d => tdl_avg_pool2d;
    }

    /// scale * x + shift for scalar constants.
    pub fn affine_scalar<'g>(&'g self, x: Node<'_>, scale: f32, shift: f32) -> Result<Node<'g>> {
        self.own(&x)?;
        let raw = unsafe { sys::tdl_affine_scalar(self.as_ptr(), x.raw.as_ptr(), scale, shift) };
        self.wrap(raw, &[x], false)
    }

    /// Same elements, new shape (one entry may be -1).
    pub fn reshape<'g>(&'g self, x: Node<'_>, shape: &[i64]) -> Result<Node<'g>> {
        self.own(&x)?;
        let ndim = len_i32("dimensions", shape.len())?;
        let raw = unsafe { sys::tdl_reshape(self.as_ptr(), x.raw.as_ptr(), ndim, shape.as_ptr()) };
        self.wrap(raw, &[x], false)
    }

    /// Reorders dimensions: output dim i is input dim perm[i].
    pub fn permute<'g>(&'g self, x: Node<'_>, perm: &[i32]) -> Result<Node<'g>> {
        self.own(&x)?;
        let ndim = len_i32("dimensions", perm.len())?;
        let raw = unsafe { sys::tdl_permute(self.as_ptr(), x.raw.as_ptr(), ndim, perm.as_ptr()) };
        self.wrap(raw, &[x], false)
    }

    /// Joins tensors along `axis`.
    pub fn concat<'g>(&'g self, xs: &[Node<'_>], axis: i32) -> Result<Node<'g>> {
        let ptrs = self.ptrs(xs)?;
        let n = len_i32("inputs", ptrs.len())?;
        let raw = unsafe { sys::tdl_concat(self.as_ptr(), n, ptrs.as_ptr(), axis) };
        self.wrap(raw, xs, false)
    }

    /// Elements start..end along `axis`.
    pub fn slice<'g>(&'g self, x: Node<'_>, axis: i32, start: i64, end: i64) -> Result<Node<'g>> {
        self.own(&x)?;
        let raw = unsafe { sys::tdl_slice(self.as_ptr(), x.raw.as_ptr(), axis, start, end) };
        self.wrap(raw, &[x], false)
    }

    /// Softmax along `axis`.
    pub fn softmax<'g>(&'g self, x: Node<'_>, axis: i32) -> Result<Node<'g>> {
        self.own(&x)?;
        let raw = unsafe { sys::tdl_softmax(self.as_ptr(), x.raw.as_ptr(), axis) };
        self.wrap(raw, &[x], false)
    }

    /// log(softmax(x)) along `axis`.
    pub fn log_softmax<'g>(&'g self, x: Node<'_>, axis: i32) -> Result<Node<'g>> {
        self.own(&x)?;
        let raw = unsafe { sys::tdl_log_softmax(self.as_ptr(), x.raw.as_ptr(), axis) };
        self.wrap(raw, &[x], false)
    }

    /// Cross-entropy with label smoothing.
    pub fn cross_entropy_smooth<'g>(&'g self, logits: Node<'_>, labels: Node<'_>, smoothing: f32)
        -> Result<Node<'g>> {
        self.own(&logits)?;
        self.own(&labels)?;
        let raw = unsafe {
            sys::tdl_cross_entropy_smooth(self.as_ptr(), logits.raw.as_ptr(), labels.raw.as_ptr(),
                                          smoothing)
        };
        self.wrap(raw, &[logits, labels], false)
    }

    /// Fully connected layer: parameters "<name>.weight" [units, in] and "<name>.bias".
    pub fn dense<'g>(&'g self, x: Node<'_>, units: i64, name: &str) -> Result<Node<'g>> {
        self.own(&x)?;
        let c = c_string("name", name)?;
        let raw = unsafe { sys::tdl_dense(self.as_ptr(), x.raw.as_ptr(), units, c.as_ptr()) };
        self.wrap(raw, &[x], false)
    }

    /// As [`dense`](Graph::dense) with a chosen weight initialiser and optional bias.
    pub fn dense_ex<'g>(&'g self, x: Node<'_>, units: i64, name: &str, weight_init: Init,
                        use_bias: bool) -> Result<Node<'g>> {
        self.own(&x)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_dense_ex(self.as_ptr(), x.raw.as_ptr(), units, c.as_ptr(), weight_init.code(),
                              use_bias as i32)
        };
        self.wrap(raw, &[x], false)
    }

    /// Checks a convolution's nodes; returns the bias pointer (NULL for none).
    fn conv_args(&self, x: &Node<'_>, w: &Node<'_>, bias: &Option<Node<'_>>)
        -> Result<*mut sys::tdl_node> {
        self.own(x)?;
        self.own(w)?;
        let b = match bias {
            Some(b) => {
                self.own(b)?;
                b.raw.as_ptr()
            }
            None => std::ptr::null_mut(),
        };
        Ok(b)
    }

    /// 2-D convolution of [N, C, H, W] with w [C_out, C_in/groups, kh, kw]; pads may be
    /// [`PAD_SAME`](crate::PAD_SAME).
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d<'g>(&'g self, x: Node<'_>, w: Node<'_>, bias: Option<Node<'_>>,
                      stride: [i32; 2], pad: [i32; 2], dilation: [i32; 2], groups: i32)
        -> Result<Node<'g>> {
        let b = self.conv_args(&x, &w, &bias)?;
        let raw = unsafe {
            sys::tdl_conv2d(self.as_ptr(), x.raw.as_ptr(), w.raw.as_ptr(), b, stride[0], stride[1],
                            pad[0], pad[1], dilation[0], dilation[1], groups)
        };
        let args: Vec<Node<'_>> = [Some(x), Some(w), bias].iter().flatten().copied().collect();
        self.wrap(raw, &args, false)
    }

    /// Transposed 2-D convolution with w [C_in, C_out/groups, kh, kw].
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d<'g>(&'g self, x: Node<'_>, w: Node<'_>, bias: Option<Node<'_>>,
                                stride: [i32; 2], pad: [i32; 2], output_pad: [i32; 2],
                                dilation: [i32; 2], groups: i32) -> Result<Node<'g>> {
        let b = self.conv_args(&x, &w, &bias)?;
        let raw = unsafe {
            sys::tdl_conv_transpose2d(self.as_ptr(), x.raw.as_ptr(), w.raw.as_ptr(), b, stride[0],
                                      stride[1], pad[0], pad[1], output_pad[0], output_pad[1],
                                      dilation[0], dilation[1], groups)
        };
        let args: Vec<Node<'_>> = [Some(x), Some(w), bias].iter().flatten().copied().collect();
        self.wrap(raw, &args, false)
    }

    /// 1-D convolution of [N, C_in, L] with w [C_out, C_in/groups, k].
    #[allow(clippy::too_many_arguments)]
    pub fn conv1d<'g>(&'g self, x: Node<'_>, w: Node<'_>, bias: Option<Node<'_>>, stride: i32,
                      pad: i32, dilation: i32, groups: i32) -> Result<Node<'g>> {
        let b = self.conv_args(&x, &w, &bias)?;
        let raw = unsafe {
            sys::tdl_conv1d(self.as_ptr(), x.raw.as_ptr(), w.raw.as_ptr(), b, stride, pad,
                            dilation, groups)
        };
        let args: Vec<Node<'_>> = [Some(x), Some(w), bias].iter().flatten().copied().collect();
        self.wrap(raw, &args, false)
    }

    /// A conv2d layer with parameters "<name>.weight" (He-normal) and "<name>.bias".
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d_layer<'g>(&'g self, x: Node<'_>, out_channels: i64, kernel: i32, stride: i32,
                            pad: i32, groups: i32, use_bias: bool, name: &str)
        -> Result<Node<'g>> {
        self.own(&x)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_conv2d_layer(self.as_ptr(), x.raw.as_ptr(), out_channels, kernel, stride, pad,
                                  groups, use_bias as i32, c.as_ptr())
        };
        self.wrap(raw, &[x], false)
    }

    /// Nearest-neighbour upsampling of [N, C, H, W].
    pub fn upsample_nearest2d<'g>(&'g self, x: Node<'_>, scale_h: i32, scale_w: i32)
        -> Result<Node<'g>> {
        self.own(&x)?;
        let raw = unsafe {
            sys::tdl_upsample_nearest2d(self.as_ptr(), x.raw.as_ptr(), scale_h, scale_w)
        };
        self.wrap(raw, &[x], false)
    }

    /// Constant padding: `pads` holds before/after for each axis (2 * ndim values).
    pub fn pad<'g>(&'g self, x: Node<'_>, pads: &[i64], value: f32) -> Result<Node<'g>> {
        self.own(&x)?;
        if pads.len() % 2 != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("pad: {} pad values (two per axis expected)", pads.len()),
            ));
        }
        let ndim = len_i32("dimensions", pads.len() / 2)?;
        let raw = unsafe { sys::tdl_pad(self.as_ptr(), x.raw.as_ptr(), ndim, pads.as_ptr(), value) };
        self.wrap(raw, &[x], false)
    }

    /// Batch normalisation over axis 1 (PyTorch's momentum convention, e.g. 0.1, eps 1e-5).
    pub fn batch_norm<'g>(&'g self, x: Node<'_>, name: &str, momentum: f32, eps: f32)
        -> Result<Node<'g>> {
        self.own(&x)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_batch_norm(self.as_ptr(), x.raw.as_ptr(), c.as_ptr(), momentum, eps)
        };
        self.wrap(raw, &[x], false)
    }

    /// Layer normalisation over the last `n_axes` axes.
    pub fn layer_norm<'g>(&'g self, x: Node<'_>, n_axes: i32, name: &str, eps: f32)
        -> Result<Node<'g>> {
        self.own(&x)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_layer_norm(self.as_ptr(), x.raw.as_ptr(), n_axes, c.as_ptr(), eps)
        };
        self.wrap(raw, &[x], false)
    }
}
