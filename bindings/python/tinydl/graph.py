"""Graph and Node: build, compile, feed, run, backward, read values, parameters."""

import collections
import ctypes
import numbers

import numpy as np

from . import _lib
from ._handle import Handle
from ._util import (BATCH, F32, I32, axes_arg, dtype_code, i32_array, i64_array, name_arg,
                    np_dtype, path_arg, read_shape, shape_arg, view)
from .errors import (DTypeError, InvalidArgumentError, NotFoundError, TinyDLError, make_error,
                     raise_status)

_L = _lib.lib

INIT = {
    "zeros": 0, "constant": 1, "uniform": 2, "normal": 3, "xavier_uniform": 4,
    "xavier_normal": 5, "he_uniform": 6, "he_normal": 7,
}
INIT_ZEROS, INIT_CONSTANT, INIT_UNIFORM, INIT_NORMAL = 0, 1, 2, 3
INIT_XAVIER_UNIFORM, INIT_XAVIER_NORMAL, INIT_HE_UNIFORM, INIT_HE_NORMAL = 4, 5, 6, 7

LOAD_STRICT = 0
LOAD_ALLOW_MISSING = 1
LOAD_ALLOW_UNUSED = 2

MemoryPlan = collections.namedtuple("MemoryPlan", "arena_bytes naive_bytes param_bytes")


def _init_code(init):
    if isinstance(init, str):
        try:
            return INIT[init.lower()]
        except KeyError:
            raise ValueError("unknown initialiser %r (one of %s)"
                             % (init, ", ".join(sorted(INIT)))) from None
    return int(init)


def _is_scalar(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) or (
        isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "fiu")


class Node:
    """A node of a Graph (owned by the graph; keeps the Graph alive).

    Arithmetic builds new nodes: ``a + b``, ``a - b``, ``a * b``, ``a / b`` (NumPy
    broadcasting; a Python number becomes an affine_scalar, an array a constant),
    ``a @ b`` (matmul), ``-a``; methods ``.relu()``, ``.tanh()``, ``.sum(axis)``...
    build the op of the same name. After a run, ``.numpy()`` copies the value out.
    """

    __slots__ = ("graph", "_p")
    __array_ufunc__ = None   # numpy defers to our reflected operators (np.float32(2) * node)

    def __init__(self, graph, ptr):
        self.graph = graph
        self._p = ptr

    @property
    def ptr(self):
        """The tdl_node * (an int); ClosedError once the graph is closed."""
        self.graph._h  # pylint: disable=pointless-statement,protected-access
        return self._p

    # -- description ----------------------------------------------------------
    @property
    def name(self):
        """The node's unique name in its graph."""
        return _lib.text(_L.tdl_node_name(self.ptr))

    @property
    def op(self):
        """The op's stable name ("matmul", "relu", "input", ...)."""
        return _lib.text(_L.tdl_node_op(self.ptr))

    @property
    def dtype_code(self):
        """The tdl_dtype code (tinydl.F32 or tinydl.I32)."""
        return int(_L.tdl_node_dtype(self.ptr))

    @property
    def dtype(self):
        """numpy dtype of the node's values (float32 or int32)."""
        return np_dtype(self.dtype_code)

    @property
    def shape(self):
        """Symbolic shape: -1 stands for the batch (-k for k times the batch)."""
        st, shape = read_shape(_L.tdl_node_shape, self.ptr)
        if st:
            raise_status(st)
        return shape

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self.shape)

    @property
    def value_shape(self):
        """Shape of the current value (after a run)."""
        st, shape = read_shape(_L.tdl_node_value_shape, self.ptr)
        if st:
            raise_status(st)
        return shape

    # -- values ---------------------------------------------------------------
    def numpy(self):
        """A new numpy array holding the node's current value (a copy)."""
        p = self.ptr
        st, shape = read_shape(_L.tdl_node_value_shape, p)
        if st:
            raise_status(st)
        out = np.empty(shape, self.dtype)
        st = _L.tdl_node_read(p, out.ctypes.data, out.nbytes)
        if st:
            raise_status(st)
        return out

    value = numpy

    def item(self):
        """The value of a one-element node as a Python number."""
        return self.numpy().item()

    def view(self):
        """A read-only numpy view of the current value, without copying.

        Valid only until the graph next runs, is fed, or is closed: copy it
        (``.copy()``) to keep it. Prefer numpy() unless the copy matters.
        """
        p = self.ptr
        st, shape = read_shape(_L.tdl_node_value_shape, p)
        if st:
            raise_status(st)
        data = _L.tdl_node_data(p)
        return view(data, shape, self.dtype_code, self.graph, writable=False)

    # -- identity ---------------------------------------------------------------
    def __eq__(self, other):
        return isinstance(other, Node) and other.graph is self.graph and other._p == self._p

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((id(self.graph), self._p))

    def __repr__(self):
        if self.graph.closed:
            return "<tinydl.Node of a closed graph>"
        shape = ", ".join("B" if d == -1 else ("%dB" % -d if d < 0 else str(d))
                          for d in self.shape)
        return "<tinydl.%s '%s' %s [%s] %s>" % (type(self).__name__, self.name, self.op, shape,
                                                self.dtype)

    def __bool__(self):
        return True

    # -- operators ---------------------------------------------------------------
    def __add__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, 1.0, float(other))
        return self.graph.add(self, other)

    def __radd__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, 1.0, float(other))
        return self.graph.add(other, self)

    def __sub__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, 1.0, -float(other))
        return self.graph.sub(self, other)

    def __rsub__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, -1.0, float(other))
        return self.graph.sub(other, self)

    def __mul__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, float(other), 0.0)
        return self.graph.mul(self, other)

    def __rmul__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, float(other), 0.0)
        return self.graph.mul(other, self)

    def __truediv__(self, other):
        if _is_scalar(other):
            return self.graph.affine_scalar(self, 1.0 / float(other), 0.0)
        return self.graph.div(self, other)

    def __rtruediv__(self, other):
        return self.graph.div(other, self)

    def __matmul__(self, other):
        return self.graph.matmul(self, other)

    def __rmatmul__(self, other):
        return self.graph.matmul(other, self)

    def __neg__(self):
        return self.graph.affine_scalar(self, -1.0, 0.0)

    def __pos__(self):
        return self

    # -- op methods ----------------------------------------------------------------
    def relu(self):
        """max(x, 0)."""
        return self.graph.relu(self)

    def leaky_relu(self, slope=0.01):
        """x for x > 0, slope * x otherwise."""
        return self.graph.leaky_relu(self, slope)

    def elu(self, alpha=1.0):
        """x for x > 0, alpha * (exp(x) - 1) otherwise."""
        return self.graph.elu(self, alpha)

    def sigmoid(self):
        """1 / (1 + exp(-x))."""
        return self.graph.sigmoid(self)

    def tanh(self):
        """tanh(x)."""
        return self.graph.tanh(self)

    def gelu(self):
        """x * Phi(x) (exact)."""
        return self.graph.gelu(self)

    def exp(self):
        """exp(x)."""
        return self.graph.exp(self)

    def log(self):
        """Natural logarithm."""
        return self.graph.log(self)

    def sqrt(self):
        """Square root."""
        return self.graph.sqrt(self)

    def softmax(self, axis=-1):
        """Softmax along `axis`."""
        return self.graph.softmax(self, axis)

    def log_softmax(self, axis=-1):
        """log(softmax(x)) along `axis`."""
        return self.graph.log_softmax(self, axis)

    def dropout(self, p):
        """Inverted dropout with drop probability p (identity in eval mode)."""
        return self.graph.dropout(self, p)

    def stop_gradient(self):
        """Identity whose gradient is zero."""
        return self.graph.stop_gradient(self)

    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (an int, a tuple, or None for all)."""
        return self.graph.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis`."""
        return self.graph.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """Maximum over `axis`."""
        return self.graph.max(self, axis, keepdims)

    def reshape(self, *shape):
        """Same elements, new shape (one entry may be -1)."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return self.graph.reshape(self, shape)

    def transpose(self):
        """Swaps the last two dimensions."""
        return self.graph.transpose(self)

    @property
    def T(self):  # pylint: disable=invalid-name
        """Swaps the last two dimensions."""
        return self.graph.transpose(self)

    def permute(self, *perm):
        """Reorders dimensions: output dim i is input dim perm[i]."""
        if len(perm) == 1 and not isinstance(perm[0], (int, np.integer)):
            perm = perm[0]
        return self.graph.permute(self, perm)

    def slice(self, axis, start, end):
        """Elements start..end-1 along `axis`."""
        return self.graph.slice(self, axis, start, end)

    def matmul(self, other):
        """Matrix product self @ other."""
        return self.graph.matmul(self, other)

    def dense(self, units, name, init=None, bias=True):
        """Fully connected layer on the last dimension (see Graph.dense)."""
        return self.graph.dense(self, units, name, init=init, bias=bias)


class Param(Node):
    """A parameter node: its values and gradient are numpy views on library memory.

    ``data`` and ``grad`` are writable float32 arrays that share memory with the
    library: writes are seen by the next run, and optimizer steps and
    backward passes show up in them. They stay valid while the graph lives
    (each view keeps the Graph object alive); after ``graph.close()`` they
    point to freed memory and must not be used.
    """

    __slots__ = ()

    @property
    def data(self):
        """Writable no-copy view of the parameter's values (see the class doc)."""
        p = self.ptr
        return view(_L.tdl_param_data(p), self.shape, F32, self.graph, writable=True)

    @data.setter
    def data(self, values):
        self.data[...] = values

    @property
    def grad(self):
        """Writable no-copy view of the gradient of the last backward (zeros before)."""
        p = self.ptr
        return view(_L.tdl_param_grad(p), self.shape, F32, self.graph, writable=True)

    @property
    def size(self):
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def trainable(self):
        """False when frozen (set before the first backward of a loss)."""
        return bool(_L.tdl_param_trainable(self.ptr))

    @trainable.setter
    def trainable(self, value):
        st = _L.tdl_param_set_trainable(self.ptr, 1 if value else 0)
        if st:
            raise_status(st)


class Graph(Handle):
    """A computation graph on a Context (keeps the Context alive).

    Build it with the builder methods (``input``, ``param``, ``dense``, ``relu``,
    ``cross_entropy``... or Node operators), ``compile()`` it, then ``feed`` numpy
    arrays (no copy: the graph keeps a reference to each fed array until that
    input is fed again), ``forward()`` / ``run(node)``, ``backward(loss)``.

    A builder that fails raises at once (ShapeError, DTypeError, ...) with the
    library's message. The graph remembers that first error (sticky): later
    builders and compile() raise it again, so build a new graph after one.

    ``with Graph(ctx) as g:`` or ``g.close()`` frees it (and its optimizers).
    ``Graph()`` without a context makes a private one (seed 0, 1 thread).
    """

    def __init__(self, ctx=None):
        from .core import Context
        self._private_ctx = ctx is None
        if ctx is None:
            ctx = Context()
        self.ctx = ctx
        p = ctypes.c_void_p()
        st = _L.tdl_graph_create(ctx._h, ctypes.byref(p))
        if st:
            raise_status(st)
        self._own(p.value, _L.tdl_graph_destroy, ctx, "Graph")
        self._fed = {}
        self._training = True
        self._check_finite = False

    def close(self):
        """Frees the graph, its nodes and parameters, and its optimizers.

        Param views (``param.data`` / ``param.grad``) become invalid.
        """
        super().close()
        self._fed = {}
        if getattr(self, "_private_ctx", False) and getattr(self, "ctx", None) is not None:
            self.ctx.close()

    # -- errors ------------------------------------------------------------------
    @property
    def error(self):
        """The graph's first (sticky) builder error, or its last error; "" if none."""
        return _lib.text(_L.tdl_graph_error(self._h))

    @property
    def status(self):
        """The sticky status: 0, or the code of the first builder error."""
        return int(_L.tdl_graph_status(self._h))

    def _sticky(self, h):
        st = int(_L.tdl_graph_status(h))
        msg = _lib.text(_L.tdl_graph_error(h))
        if st == 0:
            raise TinyDLError(msg or _lib.text(_L.tdl_last_error()) or "builder failed")
        raise make_error(st, msg)

    def _check(self, st):
        if st:
            msg = _lib.text(_L.tdl_last_error())
            if not msg and self._ref.ptr is not None:
                msg = _lib.text(_L.tdl_graph_error(self._ref.ptr))
            raise make_error(st, msg)

    # -- nodes -------------------------------------------------------------------
    def _wrap(self, ptr):
        return Param(self, ptr) if _L.tdl_param_data(ptr) else Node(self, ptr)

    def _mk(self, h, ptr):
        if not ptr:
            self._sticky(h)
        return self._wrap(ptr)

    def _n(self, x):
        """A node argument: a Node of this graph, a node name, or an array/number
        (made a float32 constant)."""
        if isinstance(x, Node):
            if x.graph is not self:
                raise InvalidArgumentError("node '%s' belongs to another graph" % x.name)
            return x.ptr
        if isinstance(x, str):
            return self.find(x)._p
        return self.constant(x)._p

    def find(self, name):
        """The node called `name` (a Param for parameters); NotFoundError if none."""
        p = _L.tdl_graph_find(self._h, name_arg(name))
        if not p:
            raise NotFoundError("graph has no node named '%s'" % name)
        return self._wrap(p)

    def __getitem__(self, name):
        return self.find(name)

    def __contains__(self, name):
        return bool(_L.tdl_graph_find(self._h, name_arg(name)))

    @property
    def params(self):
        """Every parameter, in creation order (a list of Param)."""
        h = self._h
        return [Param(self, _L.tdl_graph_param(h, i))
                for i in range(int(_L.tdl_graph_param_count(h)))]

    @property
    def param_count(self):
        """Number of parameter tensors."""
        return int(_L.tdl_graph_param_count(self._h))

    @property
    def param_elements(self):
        """Total number of scalar parameters (trainable and frozen)."""
        return int(_L.tdl_graph_param_elements(self._h))

    def state_dict(self):
        """{name: copy of the values} of every parameter."""
        return {p.name: p.data.copy() for p in self.params}

    # -- builders ------------------------------------------------------------------
    def input(self, name, shape, dtype=np.float32):
        """A graph input; `shape` uses None or -1 (tinydl.BATCH) for the batch."""
        h = self._h
        s = shape_arg(shape)
        return self._mk(h, _L.tdl_input(h, name_arg(name), dtype_code(dtype), len(s),
                                        i64_array(s)))

    def param(self, name, shape, init="xavier_uniform", a=0.0, b=0.0):
        """A named float32 parameter, initialised now from the seed and the name.

        init: "zeros", "constant" (a), "uniform" [a, b), "normal" (mean a, std b),
        "xavier_uniform", "xavier_normal", "he_uniform", "he_normal" (or INIT_* codes).
        """
        h = self._h
        s = shape_arg(shape)
        return self._mk(h, _L.tdl_param(h, name_arg(name), len(s), i64_array(s),
                                        _init_code(init), float(a), float(b)))

    def constant(self, value, name=None):
        """A float32 constant holding a copy of `value` (not trainable, not saved)."""
        h = self._h
        arr = np.array(value, dtype=np.float32, order="C")
        return self._mk(h, _L.tdl_constant(h, name_arg(name), arr.ctypes.data, arr.ndim,
                                           i64_array(arr.shape)))

    def add(self, a, b):
        """a + b with NumPy broadcasting."""
        h = self._h
        return self._mk(h, _L.tdl_add(h, self._n(a), self._n(b)))

    def sub(self, a, b):
        """a - b with NumPy broadcasting."""
        h = self._h
        return self._mk(h, _L.tdl_sub(h, self._n(a), self._n(b)))

    def mul(self, a, b):
        """a * b (elementwise) with NumPy broadcasting."""
        h = self._h
        return self._mk(h, _L.tdl_mul(h, self._n(a), self._n(b)))

    def div(self, a, b):
        """a / b (elementwise) with NumPy broadcasting."""
        h = self._h
        return self._mk(h, _L.tdl_div(h, self._n(a), self._n(b)))

    def affine_scalar(self, x, scale, shift):
        """scale * x + shift, elementwise."""
        h = self._h
        return self._mk(h, _L.tdl_affine_scalar(h, self._n(x), float(scale), float(shift)))

    def matmul(self, a, b):
        """Matrix product (2-D, or batched with same leading dims or a shared 2-D b)."""
        h = self._h
        return self._mk(h, _L.tdl_matmul(h, self._n(a), self._n(b)))

    def reshape(self, x, shape):
        """Same elements, new shape; one entry may be -1 (inferred, carries the batch)."""
        h = self._h
        s = shape_arg(shape)
        return self._mk(h, _L.tdl_reshape(h, self._n(x), len(s), i64_array(s)))

    def transpose(self, x):
        """Swaps the last two dimensions."""
        h = self._h
        return self._mk(h, _L.tdl_transpose(h, self._n(x)))

    def permute(self, x, perm):
        """Reorders dimensions: output dim i is input dim perm[i]."""
        h = self._h
        perm = [int(p) for p in perm]
        return self._mk(h, _L.tdl_permute(h, self._n(x), len(perm), i32_array(perm)))

    def concat(self, xs, axis=0):
        """Joins nodes along `axis`."""
        h = self._h
        ptrs = [self._n(x) for x in xs]
        arr = (ctypes.c_void_p * len(ptrs))(*ptrs)
        return self._mk(h, _L.tdl_concat(h, len(ptrs), arr, int(axis)))

    def slice(self, x, axis, start, end):
        """Elements start..end-1 along `axis` (not the batch axis)."""
        h = self._h
        return self._mk(h, _L.tdl_slice(h, self._n(x), int(axis), int(start), int(end)))

    def _reduce(self, fn, x, axis, keepdims):
        h = self._h
        axes = axes_arg(axis)
        return self._mk(h, fn(h, self._n(x), len(axes), i32_array(axes) if axes else None,
                              1 if keepdims else 0))

    def sum(self, x, axis=None, keepdims=False):
        """Sum over `axis` (int, tuple, or None for all)."""
        return self._reduce(_L.tdl_sum, x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        """Mean over `axis`."""
        return self._reduce(_L.tdl_mean, x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        """Maximum over `axis` (gradient shared evenly between ties)."""
        return self._reduce(_L.tdl_max, x, axis, keepdims)

    def _unary(self, fn, x, *args):
        h = self._h
        return self._mk(h, fn(h, self._n(x), *args))

    def relu(self, x):
        """max(x, 0)."""
        return self._unary(_L.tdl_relu, x)

    def leaky_relu(self, x, slope=0.01):
        """x for x > 0, slope * x otherwise."""
        return self._unary(_L.tdl_leaky_relu, x, float(slope))

    def elu(self, x, alpha=1.0):
        """x for x > 0, alpha * (exp(x) - 1) otherwise."""
        return self._unary(_L.tdl_elu, x, float(alpha))

    def sigmoid(self, x):
        """1 / (1 + exp(-x))."""
        return self._unary(_L.tdl_sigmoid, x)

    def tanh(self, x):
        """tanh(x)."""
        return self._unary(_L.tdl_tanh, x)

    def gelu(self, x):
        """x * Phi(x) (exact, erf-based)."""
        return self._unary(_L.tdl_gelu, x)

    def exp(self, x):
        """exp(x)."""
        return self._unary(_L.tdl_exp, x)

    def log(self, x):
        """Natural logarithm."""
        return self._unary(_L.tdl_log, x)

    def sqrt(self, x):
        """Square root."""
        return self._unary(_L.tdl_sqrt, x)

    def softmax(self, x, axis=-1):
        """Softmax along `axis`."""
        return self._unary(_L.tdl_softmax, x, int(axis))

    def log_softmax(self, x, axis=-1):
        """log(softmax(x)) along `axis`, computed stably."""
        return self._unary(_L.tdl_log_softmax, x, int(axis))

    def dropout(self, x, p):
        """Inverted dropout (active in training mode only)."""
        return self._unary(_L.tdl_dropout, x, float(p))

    def stop_gradient(self, x):
        """Identity whose gradient is zero."""
        return self._unary(_L.tdl_stop_gradient, x)

    def mse_loss(self, pred, target):
        """Mean of (pred - target)^2 over all elements (a scalar)."""
        h = self._h
        return self._mk(h, _L.tdl_mse_loss(h, self._n(pred), self._n(target)))

    def cross_entropy(self, logits, labels, smoothing=0.0):
        """Mean over the batch of softmax cross-entropy; labels [B] int32.

        smoothing > 0: the target puts 1 - s + s/C on the label and s/C elsewhere.
        """
        h = self._h
        if smoothing:
            return self._mk(h, _L.tdl_cross_entropy_smooth(h, self._n(logits), self._n(labels),
                                                           float(smoothing)))
        return self._mk(h, _L.tdl_cross_entropy(h, self._n(logits), self._n(labels)))

    def bce_with_logits(self, logits, targets):
        """Mean binary cross-entropy on logits; float targets in [0, 1]."""
        h = self._h
        return self._mk(h, _L.tdl_bce_with_logits(h, self._n(logits), self._n(targets)))

    def dense(self, x, units, name, init=None, bias=True):
        """Fully connected layer y = x W^T + b on the last dimension of x.

        Creates "<name>.weight" [units, in] and "<name>.bias" [units] (PyTorch's
        nn.Linear layout). init: weight initialiser (default "xavier_uniform").
        """
        h = self._h
        if init is None and bias:
            return self._mk(h, _L.tdl_dense(h, self._n(x), int(units), name_arg(name)))
        code = INIT_XAVIER_UNIFORM if init is None else _init_code(init)
        return self._mk(h, _L.tdl_dense_ex(h, self._n(x), int(units), name_arg(name), code,
                                           1 if bias else 0))

    def grad(self, y, x):
        """d(scalar y)/dx as a graph node (differentiable again)."""
        h = self._h
        return self._mk(h, _L.tdl_grad(h, self._n(y), self._n(x)))

    # -- compile / mode --------------------------------------------------------------
    def compile(self):
        """Verifies the graph and plans its memory; raises the first builder error."""
        h = self._h
        st = _L.tdl_graph_compile(h)
        if st:
            msg = _lib.text(_L.tdl_graph_error(h)) or _lib.text(_L.tdl_last_error())
            raise make_error(st, msg)
        return self

    @property
    def training(self):
        """True in training mode (dropout active); settable."""
        self._h  # pylint: disable=pointless-statement
        return self._training

    @training.setter
    def training(self, value):
        self._check(_L.tdl_graph_set_training(self._h, 1 if value else 0))
        self._training = bool(value)

    def train(self, mode=True):
        """Sets training mode; returns the graph."""
        self.training = mode
        return self

    def eval(self):
        """Sets eval mode (dropout off); returns the graph."""
        self.training = False
        return self

    @property
    def check_finite(self):
        """When True, a run stops with NonFiniteError at the first NaN/inf output."""
        self._h  # pylint: disable=pointless-statement
        return self._check_finite

    @check_finite.setter
    def check_finite(self, value):
        self._check(_L.tdl_graph_set_check_finite(self._h, 1 if value else 0))
        self._check_finite = bool(value)

    # -- feeding and running -------------------------------------------------------
    def _input(self, node):
        if isinstance(node, Node):
            if node.graph is not self:
                raise InvalidArgumentError("node '%s' belongs to another graph" % node.name)
            return node
        return self.find(node)

    def feed(self, node, array=None):
        """Binds a numpy array to an input node without copying.

        ``feed(x, arr)`` or ``feed({x: arr, "y": labels})`` (nodes or names).
        The array must have the input's dtype (float32 / int32; DTypeError
        otherwise); a non-contiguous or unaligned array is copied once. Lists
        and numbers are converted. The graph keeps a reference to the array
        (or its copy) until that input is fed again, and later runs read it:
        changing the array in place changes what the next run computes.
        """
        if isinstance(node, dict):
            for k, v in node.items():
                self.feed(k, v)
            return
        h = self._h
        node = self._input(node)
        code = int(_L.tdl_node_dtype(node._p))
        dt = np_dtype(code)
        if isinstance(array, np.ndarray):
            if array.dtype != dt:
                raise DTypeError("feed '%s': the array is %s, the input takes %s (convert it "
                                 "with .astype(np.%s))" % (node.name, array.dtype, dt, dt))
            if not array.flags.c_contiguous or not array.flags.aligned:
                array = np.array(array, dtype=dt, order="C", copy=True)
        else:
            array = np.array(array, dtype=dt, order="C", copy=True)
        st = _L.tdl_feed(h, node._p, array.ctypes.data, array.ndim, i64_array(array.shape))
        if st:
            self._check(st)
        self._fed[node._p] = array

    def _feed_raw(self, node_ptr, data, ndim, shape, keep):
        """Feeds raw memory (used by fit); `keep` stays referenced until the next feed."""
        st = _L.tdl_feed(self._h, node_ptr, data, ndim, shape)
        if st:
            self._check(st)
        self._fed[node_ptr] = keep

    def forward(self, feeds=None):
        """Computes every forward node (after feeding `feeds`, a {node: array} dict)."""
        if feeds:
            self.feed(feeds)
        self._check(_L.tdl_forward(self._h))

    def run(self, target, feeds=None):
        """Computes what `target` needs and returns its value (a new array).

        `target` may be a list of nodes: a list of arrays is returned.
        """
        if feeds:
            self.feed(feeds)
        h = self._h
        if isinstance(target, (list, tuple)):
            out = []
            for t in target:
                t = self._input(t)
                self._check(_L.tdl_run(h, t._p))
                out.append(t.numpy())
            return out
        target = self._input(target)
        self._check(_L.tdl_run(h, target._p))
        return target.numpy()

    def build_gradients(self, loss):
        """Adds the gradient nodes of scalar `loss` (done by the first backward)."""
        loss = self._input(loss)
        self._check(_L.tdl_build_gradients(self._h, loss._p))

    def backward(self, loss):
        """Computes d loss / d param for every trainable parameter (see Param.grad)."""
        loss = self._input(loss)
        self._check(_L.tdl_backward(self._h, loss._p))

    def clip_grad_norm(self, max_norm):
        """Scales the gradients to a global L2 norm <= max_norm; returns the norm before."""
        norm = ctypes.c_double()
        self._check(_L.tdl_clip_grad_norm(self._h, float(max_norm), ctypes.byref(norm)))
        return norm.value

    # -- reports and files ------------------------------------------------------------
    def memory_plan(self, batch):
        """MemoryPlan(arena_bytes, naive_bytes, param_bytes) for a batch size."""
        a, n, p = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        self._check(_L.tdl_graph_memory_plan(self._h, int(batch), ctypes.byref(a),
                                             ctypes.byref(n), ctypes.byref(p)))
        return MemoryPlan(a.value, n.value, p.value)

    def summary(self):
        """A Keras-like table of the nodes, parameter counts and planned memory."""
        h = self._h
        needed = ctypes.c_size_t()
        self._check(_L.tdl_graph_summary(h, None, 0, ctypes.byref(needed)))
        buf = ctypes.create_string_buffer(needed.value + 1)
        self._check(_L.tdl_graph_summary(h, buf, len(buf), None))
        return buf.value.decode("utf-8", "replace")

    def write_dot(self, path, include_gradients=False):
        """Writes the graph as Graphviz DOT."""
        self._check(_L.tdl_graph_write_dot(self._h, path_arg(path),
                                           1 if include_gradients else 0))

    def save_weights(self, path):
        """Writes every parameter to a safetensors file, atomically."""
        self._check(_L.tdl_save_weights(self._h, path_arg(path)))

    def load_weights(self, path, allow_missing=False, allow_unused=False):
        """Loads parameters by name from a safetensors file (strict by default).

        Nothing changes when it fails (FileIOError, FormatError, NotFoundError,
        ShapeError, DTypeError).
        """
        flags = (LOAD_ALLOW_MISSING if allow_missing else 0) | \
                (LOAD_ALLOW_UNUSED if allow_unused else 0)
        self._check(_L.tdl_load_weights_ex(self._h, path_arg(path), flags))

    def __repr__(self):
        if self.closed:
            return "<tinydl.Graph closed>"
        return "<tinydl.Graph %d params (%d elements)>" % (self.param_count, self.param_elements)


__all__ = ["Graph", "Node", "Param", "MemoryPlan", "INIT", "BATCH", "F32", "I32",
           "LOAD_STRICT", "LOAD_ALLOW_MISSING", "LOAD_ALLOW_UNUSED"]
