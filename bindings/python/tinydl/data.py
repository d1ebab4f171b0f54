"""Datasets (IDX files, numpy arrays) and the shuffling mini-batch iterator."""

import ctypes
import os

import numpy as np

from . import _lib
from ._handle import Handle
from ._util import F32, I32, i64_array, path_arg, read_shape, view
from .errors import raise_status

_L = _lib.lib

#: Where Debian's dataset-fashion-mnist package puts the files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _check(st):
    if st:
        raise_status(st)


class Dataset(Handle):
    """A labelled dataset in library memory: float32 samples, int32 labels.

    Make one with Dataset.load_idx() or Dataset.from_arrays() (both copy into
    the library). ``x`` and ``y`` are read-only no-copy views, valid until
    truncate() or close(). Keeps its Context alive; closing the dataset closes
    its batchers.
    """

    def __init__(self, ctx, ptr):
        """Internal: use load_idx() / from_arrays()."""
        self.ctx = ctx
        self._own(ptr, _L.tdl_dataset_destroy, ctx, "Dataset")

    @classmethod
    def load_idx(cls, ctx, images_path, labels_path):
        """Loads IDX images (bytes, scaled to [0, 1]) and labels; ".gz" read directly."""
        p = ctypes.c_void_p()
        _check(_L.tdl_dataset_load_idx(ctx._h, path_arg(images_path), path_arg(labels_path),
                                       ctypes.byref(p)))
        return cls(ctx, p.value)

    @classmethod
    def from_arrays(cls, ctx, x, y):
        """A dataset from x [n, *sample_shape] (float32) and y [n] (int labels >= 0), copied."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.int32)
        if x.ndim < 2:
            x = x.reshape(-1, 1)
        if y.shape != (x.shape[0],):
            raise ValueError("from_arrays: y has shape %s, expected (%d,)"
                             % (y.shape, x.shape[0]))
        p = ctypes.c_void_p()
        _check(_L.tdl_dataset_from_arrays(ctx._h, x.ctypes.data, y.ctypes.data, x.shape[0],
                                          x.ndim - 1, i64_array(x.shape[1:]), ctypes.byref(p)))
        return cls(ctx, p.value)

    @property
    def size(self):
        """Number of samples."""
        return int(_L.tdl_dataset_size(self._h))

    def __len__(self):
        return self.size

    @property
    def sample_size(self):
        """Floats per sample (784 for 28x28)."""
        return int(_L.tdl_dataset_sample_size(self._h))

    @property
    def sample_shape(self):
        """Shape of one sample."""
        st, shape = read_shape(_L.tdl_dataset_sample_shape, self._h)
        _check(st)
        return shape

    @property
    def num_classes(self):
        """Largest label + 1."""
        return int(_L.tdl_dataset_num_classes(self._h))

    @property
    def x(self):
        """Read-only view [n, *sample_shape] of the samples (no copy)."""
        h = self._h
        return view(_L.tdl_dataset_x(h), (self.size,) + self.sample_shape, F32, self, False)

    @property
    def y(self):
        """Read-only view [n] of the labels (no copy)."""
        h = self._h
        return view(_L.tdl_dataset_y(h), (self.size,), I32, self, False)

    def truncate(self, n):
        """Keeps only the first n samples (earlier x / y views become invalid)."""
        _check(_L.tdl_dataset_truncate(self._h, int(n)))
        return self

    def batcher(self, batch_size, shuffle=True, seed=0):
        """A Batcher over this dataset."""
        return Batcher(self, batch_size, shuffle, seed)

    def __repr__(self):
        if self.closed:
            return "<tinydl.Dataset closed>"
        return "<tinydl.Dataset %d samples of %s, %d classes>" % (
            self.size, self.sample_shape, self.num_classes)


def load_fashion_mnist(ctx, directory=None):
    """(train, test) Datasets of Fashion-MNIST from `directory`, else $TDL_FMNIST_DIR,
    else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)."""
    d = directory or os.environ.get("TDL_FMNIST_DIR") or FASHION_MNIST_DIR
    train = Dataset.load_idx(ctx, os.path.join(d, "train-images-idx3-ubyte.gz"),
                             os.path.join(d, "train-labels-idx1-ubyte.gz"))
    try:
        test = Dataset.load_idx(ctx, os.path.join(d, "t10k-images-idx3-ubyte.gz"),
                                os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    except BaseException:
        train.close()
        raise
    return train, test


class Batcher(Handle):
    """Mini-batches of a Dataset; iterating over it walks one epoch.

    ``for x, y in batcher:`` yields read-only views x [n, *sample_shape]
    (float32) and y [n] (int32) of library memory, valid only until the next
    batch (copy them to keep them). When the epoch ends the batcher is reset
    (re-shuffled when shuffle=True), so the next ``for`` loop is the next epoch.
    Keeps its Dataset alive.
    """

    def __init__(self, dataset, batch_size, shuffle=True, seed=0):
        self.dataset = dataset
        p = ctypes.c_void_p()
        _check(_L.tdl_batcher_create(dataset._h, int(batch_size), 1 if shuffle else 0,
                                     int(seed) & 0xFFFFFFFFFFFFFFFF, ctypes.byref(p)))
        self._own(p.value, _L.tdl_batcher_destroy, dataset, "Batcher")
        self.batch_size = int(batch_size)
        self._sample_shape = dataset.sample_shape
        self._px = ctypes.c_void_p()
        self._py = ctypes.c_void_p()
        self._pn = ctypes.c_int64()

    def __len__(self):
        """Batches per epoch."""
        return int(_L.tdl_batcher_num_batches(self._h))

    @property
    def num_batches(self):
        """Batches per epoch (ceil(size / batch_size))."""
        return len(self)

    def _next_raw(self):
        """(x pointer, y pointer, n); n == 0 at the end of the epoch."""
        _check(_L.tdl_batcher_next(self._h, ctypes.byref(self._px), ctypes.byref(self._py),
                                   ctypes.byref(self._pn)))
        return self._px.value, self._py.value, self._pn.value

    def next_batch(self):
        """The next (x, y) views of the epoch, or None at its end (no reset)."""
        px, py, n = self._next_raw()
        if n == 0:
            return None
        return (view(px, (n,) + self._sample_shape, F32, self, False),
                view(py, (n,), I32, self, False))

    def reset(self):
        """Starts the next epoch (re-shuffling when enabled)."""
        _check(_L.tdl_batcher_reset(self._h))

    def __iter__(self):
        return self

    def __next__(self):
        b = self.next_batch()
        if b is None:
            self.reset()
            raise StopIteration
        return b
