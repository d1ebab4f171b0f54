//! Graphs, nodes, feeding (copied or scoped), running and reading values.
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::ptr::NonNull;

use tiny_dl_sys as sys;

use crate::error::{check, cstr, Error, ErrorKind, Result};
use crate::{c_path, c_string, Context, DType, LoadFlags};

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for i32 {}
}

/// An element type that crosses the API: `f32` or `i32`. Sealed.
///
/// # Safety
/// Implemented only here, for 4-byte plain-old-data types whose `DTYPE` matches.
pub unsafe trait Element: private::Sealed + Copy + Default + 'static {
    /// The tensor dtype of this Rust type.
    const DTYPE: DType;
}
unsafe impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
unsafe impl Element for i32 {
    const DTYPE: DType = DType::I32;
}

/// Bookkeeping for one input node: who owns the memory it was last fed with.
struct InputSlot {
    node: NonNull<sys::tdl_node>,
    /// The copy the library reads now (after a successful `Graph::feed`).
    owned: Option<Vec<u32>>,
    /// A second buffer, reused by the next copy (the library keeps reading
    /// `owned` until a new feed succeeds, so the copy cannot go there).
    spare: Option<Vec<u32>>,
    /// Fed without copying in the scope with this id (still running).
    borrowed_by: Option<u64>,
    /// Fed without copying in a scope that has ended: the data may be gone.
    stale: bool,
}

/// Which inputs each node depends on (a bit set over input indices), to tell
/// whether a run or read needs data fed in a scope that has ended.
#[derive(Clone, Default)]
struct Deps(Vec<u64>);

impl Deps {
    fn single(i: usize) -> Deps {
        let mut d = Deps(vec![0; i / 64 + 1]);
        d.0[i / 64] |= 1 << (i % 64);
        d
    }
    fn union_with(&mut self, other: &Deps) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
    }
    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).map(|w| w & (1 << (i % 64)) != 0).unwrap_or(false)
    }
}

#[derive(Default)]
struct FeedState {
    inputs: Vec<InputSlot>,
    input_index: HashMap<usize, usize>,
    /// Nodes built through this wrapper; a node missing here (made inside a
    /// composite builder, or by backward) is assumed to depend on every input.
    deps: HashMap<usize, Option<Deps>>,
    next_scope: u64,
}

impl FeedState {
    fn deps_of(&self, node: NonNull<sys::tdl_node>) -> Option<Deps> {
        if let Some(d) = self.deps.get(&(node.as_ptr() as usize)) {
            return d.clone();
        }
        // parameters and constants do not depend on inputs
        if unsafe { !sys::tdl_param_data(node.as_ptr()).is_null() } {
            return Some(Deps::default());
        }
        None
    }

    /// The first stale input among `deps` (None = every input).
    fn first_stale(&self, deps: Option<&Deps>) -> Option<&InputSlot> {
        self.inputs
            .iter()
            .enumerate()
            .find(|(i, s)| s.stale && deps.map(|d| d.contains(*i)).unwrap_or(true))
            .map(|(_, s)| s)
    }
}

/// The part of a graph that nodes, optimizers and scopes point at.
pub(crate) struct Inner {
    pub(crate) raw: NonNull<sys::tdl_graph>,
    state: RefCell<FeedState>,
}

impl Inner {
    pub(crate) fn ptr(&self) -> *mut sys::tdl_graph {
        self.raw.as_ptr()
    }

    /// The graph's sticky error after a builder returned NULL.
    fn builder_error(&self) -> Error {
        let code = unsafe { sys::tdl_graph_status(self.ptr()) };
        let message = cstr(unsafe { sys::tdl_graph_error(self.ptr()) });
        let code = if code == sys::TDL_OK { sys::TDL_ERR_INTERNAL } else { code };
        Error::new(ErrorKind::from_code(code), message)
    }

    fn own(&self, node: &Node<'_>) -> Result<()> {
        if std::ptr::eq(node.g, self) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("node '{}' belongs to another graph", node.name()),
            ))
        }
    }

    /// Err(State) when `target` (None: the whole forward pass) needs an input
    /// fed in a scope that has ended.
    fn check_fresh(&self, target: Option<NonNull<sys::tdl_node>>, what: &str) -> Result<()> {
        let state = self.state.borrow();
        let deps = target.and_then(|t| state.deps_of(t));
        match state.first_stale(deps.as_ref()) {
            None => Ok(()),
            Some(slot) => Err(Error::new(
                ErrorKind::State,
                format!(
                    "{}: input '{}' was fed without copying in a Graph::scope that has ended; \
                     feed it again",
                    what,
                    cstr(unsafe { sys::tdl_node_name(slot.node.as_ptr()) })
                ),
            )),
        }
    }

    /// Checks a feed's arguments; returns the input's slot index.
    fn check_feed<T: Element>(&self, input: &Node<'_>, len: usize, shape: &[i64]) -> Result<usize> {
        self.own(input)?;
        let name = input.name();
        let slot = match self.state.borrow().input_index.get(&(input.raw.as_ptr() as usize)) {
            Some(&i) => i,
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("feed: node '{}' is not an input of this graph", name),
                ))
            }
        };
        let dtype = input.dtype();
        if dtype != Some(T::DTYPE) {
            return Err(Error::new(
                ErrorKind::Dtype,
                format!("feed: input '{}' holds {:?}, got {:?} data", name, dtype, T::DTYPE),
            ));
        }
        if shape.len() > sys::TDL_MAX_DIMS {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("feed: input '{}': {} dimensions (at most {})", name, shape.len(),
                        sys::TDL_MAX_DIMS),
            ));
        }
        let mut n: u64 = 1;
        for &d in shape {
            if d < 1 {
                return Err(Error::new(
                    ErrorKind::Shape,
                    format!("feed: input '{}' got shape {:?}: every size must be >= 1", name, shape),
                ));
            }
            n = n.checked_mul(d as u64).ok_or_else(|| {
                Error::new(ErrorKind::Shape, format!("feed: shape {:?} is too large", shape))
            })?;
        }
        if n != len as u64 {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("feed: input '{}' got {} values for shape {:?} ({} expected)", name, len,
                        shape, n),
            ));
        }
        Ok(slot)
    }
}

/// A computation graph: build it with the builders (`input`, `dense`, `relu`, ...),
/// [`compile`](Graph::compile) it, then feed, run, backward.
///
/// Every method takes `&self` (nodes borrow the graph while it keeps being
/// built and run); a graph is `!Sync`, so one thread uses it at a time.
pub struct Graph<'c> {
    pub(crate) inner: Inner,
    ctx: &'c Context,
}

/// A node of a graph: a copyable handle that borrows the graph it belongs to.
#[derive(Clone, Copy)]
pub struct Node<'g> {
    pub(crate) raw: NonNull<sys::tdl_node>,
    pub(crate) g: &'g Inner,
}

/// The memory plan of a graph for one batch size ([`Graph::memory_plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Peak bytes of the activation/gradient arena.
    pub arena_bytes: u64,
    /// Bytes if every tensor had its own buffer.
    pub naive_bytes: u64,
    /// Bytes of parameters, their gradients and constants.
    pub param_bytes: u64,
}

/// Feeds inputs without copying, for the duration of one [`Graph::scope`] call.
///
/// `'d` is invariant and outlives the `scope` call, so only data that lives
/// longer than the whole scope can be fed.
pub struct Scope<'s, 'd> {
    g: &'s Inner,
    id: u64,
    _data: PhantomData<fn(&'d ()) -> &'d ()>,
}

/// Marks the inputs a scope fed as stale when the scope ends (also on panic).
struct ScopeEnd<'s> {
    g: &'s Inner,
    id: u64,
}

impl Drop for ScopeEnd<'_> {
    fn drop(&mut self) {
        let mut state = self.g.state.borrow_mut();
        for slot in state.inputs.iter_mut() {
            if slot.borrowed_by == Some(self.id) {
                slot.borrowed_by = None;
                slot.stale = true;
            }
        }
    }
}

impl<'s, 'd> Scope<'s, 'd> {
    /// Binds `data` to `input` without copying; `shape` is the input's shape with
    /// the batch size in place of [`BATCH`](crate::BATCH).
    pub fn feed<T: Element>(&self, input: Node<'_>, data: &'d [T], shape: &[i64]) -> Result<()> {
        let i = self.g.check_feed::<T>(&input, data.len(), shape)?;
        check(unsafe {
            sys::tdl_feed(self.g.ptr(), input.raw.as_ptr(), data.as_ptr() as *const c_void,
                          shape.len() as i32, shape.as_ptr())
        })?;
        let mut state = self.g.state.borrow_mut();
        let slot = &mut state.inputs[i];
        slot.borrowed_by = Some(self.id);
        slot.stale = false;
        Ok(())
    }
}

impl<'c> Graph<'c> {
    /// Creates an empty graph; it borrows the context.
    pub fn new(ctx: &'c Context) -> Result<Graph<'c>> {
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::tdl_graph_create(ctx.as_ptr(), &mut raw) })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "tdl_graph_create returned NULL"))?;
        Ok(Graph { inner: Inner { raw, state: RefCell::new(FeedState::default()) }, ctx })
    }

    /// The context the graph was made from.
    pub fn context(&self) -> &'c Context {
        self.ctx
    }

    /// The C handle, for calls through [`sys`](crate::sys). Do not destroy it,
    /// and do not feed inputs through it (this wrapper tracks fed memory).
    pub fn as_ptr(&self) -> *mut sys::tdl_graph {
        self.inner.ptr()
    }

    pub(crate) fn own(&self, node: &Node<'_>) -> Result<()> {
        self.inner.own(node)
    }

    /// Wraps a builder's result, recording which inputs the new node depends on.
    pub(crate) fn wrap<'g>(
        &'g self,
        raw: *mut sys::tdl_node,
        args: &[Node<'_>],
        new_input: bool,
    ) -> Result<Node<'g>> {
        let raw = match NonNull::new(raw) {
            Some(r) => r,
            None => return Err(self.inner.builder_error()),
        };
        let mut state = self.inner.state.borrow_mut();
        let key = raw.as_ptr() as usize;
        let deps = if new_input {
            let i = state.inputs.len();
            state.inputs.push(InputSlot {
                node: raw,
                owned: None,
                spare: None,
                borrowed_by: None,
                stale: false,
            });
            state.input_index.insert(key, i);
            Some(Deps::single(i))
        } else {
            let mut d = Some(Deps::default());
            for a in args {
                match (state.deps_of(a.raw), d.as_mut()) {
                    (Some(ad), Some(dd)) => dd.union_with(&ad),
                    _ => d = None,
                }
            }
            d
        };
        state.deps.insert(key, deps);
        Ok(Node { raw, g: &self.inner })
    }

    /// Checks that every node belongs to this graph; returns their C pointers.
    pub(crate) fn ptrs(&self, nodes: &[Node<'_>]) -> Result<Vec<*mut sys::tdl_node>> {
        nodes.iter().map(|n| self.own(n).map(|_| n.raw.as_ptr())).collect()
    }

    /// Verifies the graph and plans its memory; returns the first builder error if any.
    pub fn compile(&self) -> Result<()> {
        let st = unsafe { sys::tdl_graph_compile(self.as_ptr()) };
        if st == sys::TDL_OK {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::from_code(st), self.error()))
        }
    }

    /// The sticky builder status as a `Result`.
    pub fn status(&self) -> Result<()> {
        let st = unsafe { sys::tdl_graph_status(self.as_ptr()) };
        if st == sys::TDL_OK {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::from_code(st), self.error()))
        }
    }

    /// The graph's first recorded (sticky) or last error message; "" if none.
    pub fn error(&self) -> String {
        cstr(unsafe { sys::tdl_graph_error(self.as_ptr()) })
    }

    /// Training (true, the default) or eval mode (dropout off, batch norm uses running stats).
    pub fn set_training(&self, training: bool) -> Result<()> {
        check(unsafe { sys::tdl_graph_set_training(self.as_ptr(), training as i32) })
    }

    /// Checks every computed value for NaN/inf (a run then fails with [`ErrorKind::NonFinite`]).
    pub fn set_check_finite(&self, enable: bool) -> Result<()> {
        check(unsafe { sys::tdl_graph_set_check_finite(self.as_ptr(), enable as i32) })
    }

    /// Feeds `input` with a **copy** of `data`, owned by this graph until the input
    /// is fed again or the graph is dropped. `shape` is the input's shape with the
    /// batch size in place of [`BATCH`](crate::BATCH); `data.len()` must match it.
    pub fn feed<T: Element>(&self, input: Node<'_>, data: &[T], shape: &[i64]) -> Result<()> {
        let i = self.inner.check_feed::<T>(&input, data.len(), shape)?;
        let mut state = self.inner.state.borrow_mut();
        let slot = &mut state.inputs[i];
        let mut buf = slot.spare.take().unwrap_or_default();
        buf.clear();
        buf.reserve(data.len());
        // SAFETY: T is f32 or i32 (sealed): 4 bytes, alignment 4, any bits valid as u32.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr() as *const u32, buf.as_mut_ptr(), data.len());
            buf.set_len(data.len());
        }
        let st = unsafe {
            sys::tdl_feed(self.as_ptr(), input.raw.as_ptr(), buf.as_ptr() as *const c_void,
                          shape.len() as i32, shape.as_ptr())
        };
        if st != sys::TDL_OK {
            let err = Error::last(st);
            slot.spare = Some(buf); // the library still reads the previous data
            return Err(err);
        }
        slot.spare = slot.owned.take();
        slot.owned = Some(buf);
        slot.borrowed_by = None;
        slot.stale = false;
        Ok(())
    }

    /// Runs `f` with a [`Scope`] that feeds inputs **without copying**. The fed
    /// slices must outlive this call (`'d`); when it returns, the inputs fed
    /// through the scope are marked stale, and runs or reads that need them
    /// return [`ErrorKind::State`] until they are fed again.
    ///
    /// ```no_run
    /// # fn demo(g: &tiny_dl::Graph<'_>, x: tiny_dl::Node<'_>, loss: tiny_dl::Node<'_>,
    /// #         opt: &tiny_dl::Optimizer<'_>, images: &[f32]) -> tiny_dl::Result<()> {
    /// g.scope(|s| {
    ///     s.feed(x, images, &[64, 784])?;
    ///     g.forward()?;
    ///     g.backward(loss)?;
    ///     opt.step()
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn scope<'d, R, F>(&self, f: F) -> R
    where
        F: for<'s> FnOnce(&Scope<'s, 'd>) -> R,
    {
        let id = {
            let mut state = self.inner.state.borrow_mut();
            state.next_scope += 1;
            state.next_scope
        };
        let _end = ScopeEnd { g: &self.inner, id };
        let scope = Scope { g: &self.inner, id, _data: PhantomData };
        f(&scope)
    }

    /// Computes every forward node.
    pub fn forward(&self) -> Result<()> {
        self.inner.check_fresh(None, "forward")?;
        check(unsafe { sys::tdl_forward(self.as_ptr()) })
    }

    /// Computes only what `target` needs (e.g. logits without labels).
    pub fn run(&self, target: Node<'_>) -> Result<()> {
        self.own(&target)?;
        self.inner.check_fresh(Some(target.raw), "run")?;
        check(unsafe { sys::tdl_run(self.as_ptr(), target.raw.as_ptr()) })
    }

    /// Adds the gradient nodes of scalar `loss` (done by the first backward otherwise).
    pub fn build_gradients(&self, loss: Node<'_>) -> Result<()> {
        self.own(&loss)?;
        check(unsafe { sys::tdl_build_gradients(self.as_ptr(), loss.raw.as_ptr()) })
    }

    /// Computes the gradient of `loss` for every trainable parameter (after [`forward`](Graph::forward)).
    pub fn backward(&self, loss: Node<'_>) -> Result<()> {
        self.own(&loss)?;
        self.inner.check_fresh(None, "backward")?;
        check(unsafe { sys::tdl_backward(self.as_ptr(), loss.raw.as_ptr()) })
    }

    /// The gradient of scalar `y` with respect to `x`, as an ordinary (differentiable) node.
    pub fn grad<'g>(&'g self, y: Node<'_>, x: Node<'_>) -> Result<Node<'g>> {
        self.own(&y)?;
        self.own(&x)?;
        let raw = unsafe { sys::tdl_grad(self.as_ptr(), y.raw.as_ptr(), x.raw.as_ptr()) };
        self.wrap(raw, &[y, x], false)
    }

    /// The node called `name`.
    pub fn find(&self, name: &str) -> Option<Node<'_>> {
        let c = c_string("name", name).ok()?;
        let raw = NonNull::new(unsafe { sys::tdl_graph_find(self.as_ptr(), c.as_ptr()) })?;
        Some(Node { raw, g: &self.inner })
    }

    /// Number of parameter tensors.
    pub fn param_count(&self) -> usize {
        unsafe { sys::tdl_graph_param_count(self.as_ptr()) }.max(0) as usize
    }

    /// The i-th parameter in creation order.
    pub fn param_at(&self, i: usize) -> Option<Node<'_>> {
        let raw = NonNull::new(unsafe { sys::tdl_graph_param(self.as_ptr(), i as i64) })?;
        Some(Node { raw, g: &self.inner })
    }

    /// Every parameter, in creation order.
    pub fn params(&self) -> Vec<Node<'_>> {
        (0..self.param_count()).filter_map(|i| self.param_at(i)).collect()
    }

    /// Total number of scalar parameters (trainable and frozen).
    pub fn param_elements(&self) -> i64 {
        unsafe { sys::tdl_graph_param_elements(self.as_ptr()) }
    }

    /// The memory plan for `batch`, without running anything.
    pub fn memory_plan(&self, batch: i64) -> Result<MemoryPlan> {
        let mut p = MemoryPlan { arena_bytes: 0, naive_bytes: 0, param_bytes: 0 };
        check(unsafe {
            sys::tdl_graph_memory_plan(self.as_ptr(), batch, &mut p.arena_bytes,
                                       &mut p.naive_bytes, &mut p.param_bytes)
        })?;
        Ok(p)
    }

    /// A Keras-style table of the graph.
    pub fn summary(&self) -> Result<String> {
        let mut needed = 0usize;
        check(unsafe { sys::tdl_graph_summary(self.as_ptr(), std::ptr::null_mut(), 0, &mut needed) })?;
        let mut buf = vec![0u8; needed + 1];
        check(unsafe {
            sys::tdl_graph_summary(self.as_ptr(), buf.as_mut_ptr() as *mut _, buf.len(), &mut needed)
        })?;
        buf.truncate(needed.min(buf.len() - 1));
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Writes the graph as Graphviz DOT.
    pub fn write_dot(&self, path: impl AsRef<Path>, include_gradients: bool) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::tdl_graph_write_dot(self.as_ptr(), p.as_ptr(), include_gradients as i32) })
    }

    /// Scales every trainable gradient so that their global L2 norm is at most
    /// `max_norm`; returns the norm before clipping.
    pub fn clip_grad_norm(&self, max_norm: f64) -> Result<f64> {
        let mut norm = 0.0;
        check(unsafe { sys::tdl_clip_grad_norm(self.as_ptr(), max_norm, &mut norm) })?;
        Ok(norm)
    }

    /// Saves every parameter to a safetensors file (atomically).
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::tdl_save_weights(self.as_ptr(), p.as_ptr()) })
    }

    /// Loads parameters by name from a safetensors file (strict; nothing changes on error).
    pub fn load_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::tdl_load_weights(self.as_ptr(), p.as_ptr()) })
    }

    /// As [`load_weights`](Graph::load_weights) with flags.
    pub fn load_weights_ex(&self, path: impl AsRef<Path>, flags: LoadFlags) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::tdl_load_weights_ex(self.as_ptr(), p.as_ptr(), flags.bits()) })
    }
}

impl Drop for Graph<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_graph_destroy(self.inner.ptr()) };
        // the owned feed buffers are freed after the graph that read them
    }
}

impl fmt::Debug for Graph<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("params", &self.param_count())
            .field("inputs", &self.inner.state.borrow().inputs.len())
            .finish()
    }
}

fn shape_of(
    node: NonNull<sys::tdl_node>,
    f: unsafe extern "C" fn(*const sys::tdl_node, *mut i32, *mut i64) -> i32,
) -> Result<Vec<i64>> {
    let mut ndim = 0i32;
    let mut shape = [0i64; sys::TDL_MAX_DIMS];
    check(unsafe { f(node.as_ptr(), &mut ndim, shape.as_mut_ptr()) })?;
    Ok(shape[..(ndim.max(0) as usize).min(sys::TDL_MAX_DIMS)].to_vec())
}

impl<'g> Node<'g> {
    /// The node's name (unique in its graph).
    pub fn name(&self) -> String {
        cstr(unsafe { sys::tdl_node_name(self.raw.as_ptr()) })
    }

    /// The stable name of the node's op ("matmul", "relu", ...).
    pub fn op(&self) -> String {
        cstr(unsafe { sys::tdl_node_op(self.raw.as_ptr()) })
    }

    /// The element type.
    pub fn dtype(&self) -> Option<DType> {
        DType::from_code(unsafe { sys::tdl_node_dtype(self.raw.as_ptr()) })
    }

    /// The symbolic shape (a negative entry -k means k times the batch).
    pub fn shape(&self) -> Vec<i64> {
        shape_of(self.raw, sys::tdl_node_shape).unwrap_or_default()
    }

    /// The shape of the current value (after a run).
    pub fn value_shape(&self) -> Result<Vec<i64>> {
        shape_of(self.raw, sys::tdl_node_value_shape)
    }

    /// The C handle, for calls through [`sys`](crate::sys).
    pub fn as_ptr(&self) -> *mut sys::tdl_node {
        self.raw.as_ptr()
    }

    fn check_read<T: Element>(&self) -> Result<usize> {
        if self.dtype() != Some(T::DTYPE) {
            return Err(Error::new(
                ErrorKind::Dtype,
                format!("read: node '{}' holds {:?}, asked for {:?}", self.name(), self.dtype(),
                        T::DTYPE),
            ));
        }
        self.g.check_fresh(Some(self.raw), "read")?;
        let shape = self.value_shape()?;
        Ok(shape.iter().map(|&d| d.max(0) as usize).product())
    }

    /// A copy of the current value (row-major).
    pub fn read<T: Element>(&self) -> Result<Vec<T>> {
        let n = self.check_read::<T>()?;
        let mut v = vec![T::default(); n];
        check(unsafe {
            sys::tdl_node_read(self.raw.as_ptr(), v.as_mut_ptr() as *mut c_void,
                                n * std::mem::size_of::<T>())
        })?;
        Ok(v)
    }

    /// Copies the current value into `dst` (no allocation); returns the element count.
    pub fn read_into<T: Element>(&self, dst: &mut [T]) -> Result<usize> {
        let n = self.check_read::<T>()?;
        if dst.len() < n {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("read: node '{}' has {} values, dst holds {}", self.name(), n, dst.len()),
            ));
        }
        check(unsafe {
            sys::tdl_node_read(self.raw.as_ptr(), dst.as_mut_ptr() as *mut c_void,
                                std::mem::size_of_val(dst))
        })?;
        Ok(n)
    }

    /// The value of a node with one element (e.g. a loss).
    pub fn read_scalar(&self) -> Result<f32> {
        let v = self.read::<f32>()?;
        match v.len() {
            1 => Ok(v[0]),
            n => Err(Error::new(
                ErrorKind::Shape,
                format!("read_scalar: node '{}' has {} values", self.name(), n),
            )),
        }
    }

    /// True for a parameter.
    pub fn is_param(&self) -> bool {
        unsafe { !sys::tdl_param_data(self.raw.as_ptr()).is_null() }
    }

    fn param_slice(&self, grad: bool) -> Result<(*mut f32, usize)> {
        let p = unsafe {
            if grad {
                sys::tdl_param_grad(self.raw.as_ptr())
            } else {
                sys::tdl_param_data(self.raw.as_ptr())
            }
        };
        if p.is_null() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("node '{}' is not a parameter", self.name()),
            ));
        }
        let n = self.shape().iter().map(|&d| d.max(0) as usize).product();
        Ok((p, n))
    }

    /// A copy of a parameter's values.
    pub fn param_values(&self) -> Result<Vec<f32>> {
        let (p, n) = self.param_slice(false)?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
    }

    /// Overwrites a parameter's values (`values.len()` must be its element count).
    pub fn set_param_values(&self, values: &[f32]) -> Result<()> {
        let (p, n) = self.param_slice(false)?;
        self.copy_in(p, n, values)
    }

    /// A copy of a parameter's gradient from the last backward.
    pub fn param_grad(&self) -> Result<Vec<f32>> {
        let (p, n) = self.param_slice(true)?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
    }

    /// Overwrites a parameter's gradient (e.g. after an all-reduce) before the optimizer step.
    pub fn set_param_grad(&self, values: &[f32]) -> Result<()> {
        let (p, n) = self.param_slice(true)?;
        self.copy_in(p, n, values)
    }

    fn copy_in(&self, p: *mut f32, n: usize, values: &[f32]) -> Result<()> {
        if values.len() != n {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("parameter '{}' has {} values, got {}", self.name(), n, values.len()),
            ));
        }
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), p, n) };
        Ok(())
    }

    /// Freezes (false) or unfreezes (true) a parameter; before the first backward.
    pub fn set_trainable(&self, trainable: bool) -> Result<()> {
        check(unsafe { sys::tdl_param_set_trainable(self.raw.as_ptr(), trainable as i32) })
    }

    /// True if the node is a trainable parameter.
    pub fn trainable(&self) -> bool {
        unsafe { sys::tdl_param_trainable(self.raw.as_ptr()) != 0 }
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({} = {} {:?})", self.name(), self.op(), self.shape())
    }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl Eq for Node<'_> {}
