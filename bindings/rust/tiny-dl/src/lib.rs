//! Safe Rust API of tiny-dl, a small C library to build, train and run neural networks.
//!
//! ```no_run
//! use tiny_dl::{Context, DType, BATCH};
//!
//! # fn main() -> tiny_dl::Result<()> {
//! let ctx = Context::new()?;
//! ctx.set_seed(1)?;
//! let g = ctx.graph()?;
//! let x = g.input("x", DType::F32, &[BATCH, 2])?;
//! let t = g.input("t", DType::F32, &[BATCH, 1])?;
//! let h = g.tanh(g.dense(x, 8, "h")?)?;
//! let y = g.dense(h, 1, "out")?;
//! let loss = g.bce_with_logits(y, t)?;
//! g.compile()?;
//! let opt = g.adam(0.05)?;
//! g.feed(x, &[0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2])?;   // copied into the graph
//! g.feed(t, &[0., 1., 1., 0.], &[4, 1])?;
//! for _ in 0..500 {
//!     g.forward()?;
//!     g.backward(loss)?;
//!     opt.step()?;
//! }
//! g.run(y)?;
//! println!("{:?}", y.read::<f32>()?);
//! # Ok(()) }
//! ```
//!
//! # Ownership and lifetimes
//!
//! * Every handle frees its C object when dropped ([`Context`], [`Graph`],
//!   [`Optimizer`], [`Dataset`], [`Batcher`], [`Metrics`]).
//! * A [`Graph`] borrows its [`Context`], an [`Optimizer`] its graph, a
//!   [`Batcher`] its [`Dataset`]: the borrow checker makes the C rule "destroy
//!   the children first" impossible to break.
//! * A [`Node<'g>`](Node) is a copyable handle that borrows its graph: it cannot
//!   outlive it, and passing it to another graph returns an
//!   [`ErrorKind::InvalidArgument`] error instead of reaching the C library.
//! * Fed data: [`Graph::feed`] **copies** the slice into a buffer the graph
//!   wrapper owns (two buffers per input, reused, so steady-state training does
//!   not allocate), so it stays valid for every later run. [`Graph::scope`] feeds
//!   **without copying**: the slices must outlive the `scope` call, and when the
//!   scope ends the inputs fed in it are marked stale, so a later run, backward
//!   or read that depends on them returns [`ErrorKind::State`] until they are fed
//!   again.
//! * Values are read by copy ([`Node::read`], [`Node::read_into`],
//!   [`Node::param_values`]); nothing hands out a slice of memory the library may
//!   reuse or free.
//!
//! Handles are `!Send` and `!Sync`, as the C API wants a context and everything
//! made from it used by one thread at a time; a [`Context`] with nothing
//! borrowing it is `Send`.
//!
//! # What the compiler refuses
//!
//! A node cannot outlive its graph:
//! ```compile_fail
//! # use tiny_dl::*;
//! let ctx = Context::new().unwrap();
//! let x = { let g = ctx.graph().unwrap(); g.input("x", DType::F32, &[2]).unwrap() };
//! ```
//! A context cannot go before its graphs:
//! ```compile_fail
//! # use tiny_dl::*;
//! let ctx = Context::new().unwrap();
//! let g = ctx.graph().unwrap();
//! drop(ctx);
//! g.compile().unwrap();
//! ```
//! Data fed without copying must outlive the whole scope:
//! ```compile_fail
//! # use tiny_dl::*;
//! # let ctx = Context::new().unwrap();
//! # let g = ctx.graph().unwrap();
//! # let x = g.input("x", DType::F32, &[BATCH, 1]).unwrap();
//! g.scope(|s| {
//!     let local = vec![1.0f32];
//!     s.feed(x, &local, &[1, 1]).unwrap();
//! });
//! ```
//! A graph stays on its thread:
//! ```compile_fail
//! # use tiny_dl::*;
//! let ctx: &'static Context = Box::leak(Box::new(Context::new().unwrap()));
//! let g = ctx.graph().unwrap();
//! std::thread::spawn(move || drop(g));
//! ```
#![warn(missing_docs)]

mod data;
mod error;
mod graph;
mod metrics;
mod ops;
mod optim;
mod rnn;

use std::ffi::{CString, c_void};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

pub use tiny_dl_sys as sys;

pub use data::{augment_flip, augment_translate, normalize_channels, Batch, Batcher, Dataset};
pub use error::{Error, ErrorKind, Result};
pub use graph::{Element, Graph, MemoryPlan, Node, Scope};
pub use metrics::{ClassMetrics, Metrics};
pub use optim::{OptimKind, OptimOption, Optimizer, Schedule};
pub use rnn::{sample_logits, RnnConfig, RnnKind, RnnState, RnnStepper};

use error::{check, cstr};

/// The symbolic batch dimension in [`Graph::input`] shapes.
pub const BATCH: i64 = sys::TDL_BATCH;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = sys::TDL_MAX_DIMS;
/// Padding meaning "same" in convolutions: out = ceil(in / stride).
pub const PAD_SAME: i32 = sys::TDL_PAD_SAME;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 32-bit signed integer (labels, indices).
    I32,
}

impl DType {
    pub(crate) fn code(self) -> i32 {
        match self {
            DType::F32 => sys::TDL_F32,
            DType::I32 => sys::TDL_I32,
        }
    }

    pub(crate) fn from_code(code: i32) -> Option<DType> {
        match code {
            sys::TDL_F32 => Some(DType::F32),
            sys::TDL_I32 => Some(DType::I32),
            _ => None,
        }
    }
}

/// Parameter initialisers (see `enum tdl_init` in ops.h for `a` and `b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Init {
    /// 0.
    Zeros,
    /// a.
    Constant,
    /// Uniform in [a, b).
    Uniform,
    /// Normal with mean a and standard deviation b.
    Normal,
    /// Glorot uniform (a = gain, 0 means 1).
    XavierUniform,
    /// Glorot normal (a = gain, 0 means 1).
    XavierNormal,
    /// Kaiming uniform (fan in).
    HeUniform,
    /// Kaiming normal (fan in).
    HeNormal,
}

impl Init {
    pub(crate) fn code(self) -> i32 {
        match self {
            Init::Zeros => sys::TDL_INIT_ZEROS,
            Init::Constant => sys::TDL_INIT_CONSTANT,
            Init::Uniform => sys::TDL_INIT_UNIFORM,
            Init::Normal => sys::TDL_INIT_NORMAL,
            Init::XavierUniform => sys::TDL_INIT_XAVIER_UNIFORM,
            Init::XavierNormal => sys::TDL_INIT_XAVIER_NORMAL,
            Init::HeUniform => sys::TDL_INIT_HE_UNIFORM,
            Init::HeNormal => sys::TDL_INIT_HE_NORMAL,
        }
    }
}

/// Log levels of [`Context::set_log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Errors (also returned as `Err`).
    Error,
    /// Something suspicious.
    Warn,
    /// Milestones: compile results, plan sizes.
    Info,
    /// Detail for debugging tiny-dl itself.
    Debug,
}

impl LogLevel {
    fn code(self) -> i32 {
        match self {
            LogLevel::Error => sys::TDL_LOG_ERROR,
            LogLevel::Warn => sys::TDL_LOG_WARN,
            LogLevel::Info => sys::TDL_LOG_INFO,
            LogLevel::Debug => sys::TDL_LOG_DEBUG,
        }
    }

    fn from_code(code: i32) -> LogLevel {
        match code {
            sys::TDL_LOG_ERROR => LogLevel::Error,
            sys::TDL_LOG_WARN => LogLevel::Warn,
            sys::TDL_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// Flags of [`Graph::load_weights_ex`], combined with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LoadFlags(i32);

impl LoadFlags {
    /// Every parameter must be in the file, and nothing else.
    pub const STRICT: LoadFlags = LoadFlags(sys::TDL_LOAD_STRICT);
    /// Parameters absent from the file keep their values.
    pub const ALLOW_MISSING: LoadFlags = LoadFlags(sys::TDL_LOAD_ALLOW_MISSING);
    /// Tensors in the file that no parameter names are ignored.
    pub const ALLOW_UNUSED: LoadFlags = LoadFlags(sys::TDL_LOAD_ALLOW_UNUSED);

    /// The C flag bits.
    pub fn bits(self) -> i32 {
        self.0
    }
}

impl std::ops::BitOr for LoadFlags {
    type Output = LoadFlags;
    fn bitor(self, rhs: LoadFlags) -> LoadFlags {
        LoadFlags(self.0 | rhs.0)
    }
}

/// The library's version, e.g. "0.1.0".
pub fn version() -> String {
    cstr(unsafe { sys::tdl_version() })
}

/// The library's version as major*10000 + minor*100 + patch.
pub fn version_number() -> u32 {
    unsafe { sys::tdl_version_number() }
}

/// How the library was built (version, SIMD set, zlib, compiler).
pub fn build_info() -> String {
    cstr(unsafe { sys::tdl_build_info() })
}

/// The English name of a status code ("invalid argument", ...).
pub fn status_string(code: i32) -> String {
    cstr(unsafe { sys::tdl_status_string(code) })
}

/// The message of the last error raised on the calling thread ("" if none).
pub fn last_error() -> String {
    cstr(unsafe { sys::tdl_last_error() })
}

/// Number of elements of a shape whose sizes are all >= 1; None if one is not or it overflows.
pub(crate) fn checked_numel(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| {
        if d < 1 {
            None
        } else {
            n.checked_mul(usize::try_from(d).ok()?)
        }
    })
}

/// A string argument for C: `Err(InvalidArgument)` if it holds a NUL byte.
pub(crate) fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(ErrorKind::InvalidArgument, format!("{} {:?} contains a NUL byte", what, s))
    })
}

/// A path argument for C.
pub(crate) fn c_path(path: &std::path::Path) -> Result<CString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            Error::new(ErrorKind::InvalidArgument, format!("path {:?} contains a NUL byte", path))
        })
    }
    #[cfg(not(unix))]
    {
        match path.to_str() {
            Some(s) => c_string("path", s),
            None => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("path {:?} is not valid UTF-8", path),
            )),
        }
    }
}

type LogSink = Box<dyn FnMut(LogLevel, &str) + Send>;

unsafe extern "C" fn log_trampoline(level: i32, message: *const c_char, user: *mut c_void) {
    if user.is_null() || message.is_null() {
        return;
    }
    // SAFETY: `user` is the `Box<LogSink>` owned by the Context, which outlives
    // every call that can log; the library calls the sink on the calling thread only.
    let sink = &mut *(user as *mut LogSink);
    let text = cstr(message);
    // a panic must not unwind into C
    let _ = catch_unwind(AssertUnwindSafe(|| sink(LogLevel::from_code(level), &text)));
}

/// An execution context: thread pool, seed and log sink. Everything else is made from one.
pub struct Context {
    raw: NonNull<sys::tdl_ctx>,
    log: Option<Box<LogSink>>,
}

// SAFETY: a context with nothing borrowing it may move to another thread (the
// C API only asks that one thread at a time uses it); graphs and the rest
// borrow it, and `&Context` is not `Send` because `Context` is not `Sync`.
unsafe impl Send for Context {}

impl Context {
    /// Creates a context (1 thread, seed 0). Fails with [`ErrorKind::Unsupported`]
    /// when the CPU lacks the instruction set the library was built for.
    pub fn new() -> Result<Context> {
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::tdl_ctx_create(&mut raw) })?;
        match NonNull::new(raw) {
            Some(raw) => Ok(Context { raw, log: None }),
            None => Err(Error::new(ErrorKind::Internal, "tdl_ctx_create returned NULL")),
        }
    }

    /// Sets how many threads kernels use (1..256); results do not depend on it.
    pub fn set_threads(&self, n: i32) -> Result<()> {
        check(unsafe { sys::tdl_ctx_set_threads(self.raw.as_ptr(), n) })
    }

    /// The thread count.
    pub fn threads(&self) -> i32 {
        unsafe { sys::tdl_ctx_get_threads(self.raw.as_ptr()) }
    }

    /// Sets the seed of every random stream; set it before building a graph.
    pub fn set_seed(&self, seed: u64) -> Result<()> {
        check(unsafe { sys::tdl_ctx_set_seed(self.raw.as_ptr(), seed) })
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        unsafe { sys::tdl_ctx_get_seed(self.raw.as_ptr()) }
    }

    /// Sends messages of level `max_level` or more severe to `sink`. Needs
    /// `&mut self`, so it is set before graphs borrow the context. A panic in
    /// the sink is caught and ignored.
    pub fn set_log<F>(&mut self, max_level: LogLevel, sink: F) -> Result<()>
    where
        F: FnMut(LogLevel, &str) + Send + 'static,
    {
        let mut boxed: Box<LogSink> = Box::new(Box::new(sink));
        let user = &mut *boxed as *mut LogSink as *mut c_void;
        check(unsafe {
            sys::tdl_ctx_set_log(self.raw.as_ptr(), Some(log_trampoline), max_level.code(), user)
        })?;
        self.log = Some(boxed); // the previous sink is dropped only now
        Ok(())
    }

    /// Removes the log sink.
    pub fn clear_log(&mut self) {
        unsafe {
            sys::tdl_ctx_set_log(self.raw.as_ptr(), None, sys::TDL_LOG_ERROR, std::ptr::null_mut());
        }
        self.log = None;
    }

    /// The message of the last error on this context ("" if none).
    pub fn error(&self) -> String {
        cstr(unsafe { sys::tdl_ctx_error(self.raw.as_ptr()) })
    }

    /// A new, empty graph (same as [`Graph::new`]).
    pub fn graph(&self) -> Result<Graph<'_>> {
        Graph::new(self)
    }

    /// The C handle, for calls through [`sys`]. Do not destroy it.
    pub fn as_ptr(&self) -> *mut sys::tdl_ctx {
        self.raw.as_ptr()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        unsafe { sys::tdl_ctx_destroy(self.raw.as_ptr()) };
        // self.log is dropped after the context, which can no longer call it
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("threads", &self.threads())
            .field("seed", &self.seed())
            .finish()
    }
}
