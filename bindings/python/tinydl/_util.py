"""Small helpers shared by the modules: dtypes, shapes, no-copy numpy views."""

import ctypes
import os

import numpy as np

F32 = 1
I32 = 2
BATCH = -1
MAX_DIMS = 8

_NP_OF = {F32: np.dtype(np.float32), I32: np.dtype(np.int32)}
_C_OF = {F32: ctypes.c_float, I32: ctypes.c_int32}


def dtype_code(dtype):
    """tdl_dtype code of a numpy-like dtype ("float32", np.int32, ...) or a code."""
    if isinstance(dtype, int) and not isinstance(dtype, bool) and dtype in _NP_OF:
        return dtype
    d = np.dtype(dtype)
    if d == np.float32:
        return F32
    if d == np.int32:
        return I32
    raise TypeError("tiny-dl tensors are float32 or int32, not %s" % d)


def np_dtype(code):
    """numpy dtype of a tdl_dtype code (None for an unknown code)."""
    return _NP_OF.get(code)


def i64_array(values):
    values = list(values)
    return (ctypes.c_int64 * len(values))(*values)


def i32_array(values):
    values = list(values)
    return (ctypes.c_int32 * len(values))(*values)


def shape_arg(shape):
    """A shape given as int / sequence (None meaning the batch) -> list of ints."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    return [BATCH if d is None else int(d) for d in shape]


def axes_arg(axis):
    if axis is None:
        return []
    if isinstance(axis, (int, np.integer)):
        return [int(axis)]
    return [int(a) for a in axis]


def read_shape(fn, ptr):
    """Calls a (ptr, int32_t *ndim, int64_t *shape) getter; returns (status, shape tuple)."""
    nd = ctypes.c_int32()
    buf = (ctypes.c_int64 * MAX_DIMS)()
    st = fn(ptr, ctypes.byref(nd), buf)
    return st, tuple(buf[:nd.value]) if st == 0 else ()


def view(ptr, shape, code, owner, writable):
    """A numpy array over library memory at `ptr`, without copying.

    `owner` (the wrapper that owns the memory) is attached to the ctypes buffer
    the array is based on, so the owner lives at least as long as the array.
    """
    shape = tuple(int(d) for d in shape)
    n = 1
    for d in shape:
        n *= d
    dt = _NP_OF[code]
    if n == 0 or not ptr:
        arr = np.empty(shape, dt)
    else:
        buf = (_C_OF[code] * n).from_address(ptr)
        buf._tinydl_owner = owner  # pylint: disable=protected-access
        arr = np.ctypeslib.as_array(buf).reshape(shape)
    if not writable:
        arr.flags.writeable = False
    return arr


def path_arg(path):
    return os.fsencode(os.fspath(path))


def name_arg(name):
    if name is None:
        return None
    if isinstance(name, bytes):
        return name
    return str(name).encode("utf-8")
