"""Library information and the Context (threads, seed, log sink)."""

import ctypes

from . import _lib
from ._handle import Handle
from .errors import raise_status

_L = _lib.lib

LOG_ERROR = 0
LOG_WARN = 1
LOG_INFO = 2
LOG_DEBUG = 3

_LOG_LEVELS = {"error": LOG_ERROR, "warn": LOG_WARN, "warning": LOG_WARN, "info": LOG_INFO,
               "debug": LOG_DEBUG}


def version():
    """The library's version string, e.g. "0.1.0"."""
    return _lib.text(_L.tdl_version())


def version_number():
    """The library's version as major*10000 + minor*100 + patch."""
    return int(_L.tdl_version_number())


def build_info():
    """How the library was built ("tiny-dl 0.1.0 simd=avx512 zlib=yes cc=...")."""
    return _lib.text(_L.tdl_build_info())


def library_path():
    """The path or name the shared library was loaded from."""
    return _lib.path


def status_string(status):
    """The library's short English name of a status code."""
    return _lib.text(_L.tdl_status_string(int(status)))


def last_error():
    """The message of the last error raised by the library on this thread."""
    return _lib.text(_L.tdl_last_error())


def _level(level):
    if isinstance(level, str):
        try:
            return _LOG_LEVELS[level.lower()]
        except KeyError:
            raise ValueError("unknown log level %r (error, warn, info, debug)" % level) from None
    return int(level)


class Context(Handle):
    """An execution context: thread pool, seed, log sink (and the allocator).

    ``with Context(threads=2, seed=42) as ctx: ...`` frees it, and every graph,
    optimizer, dataset and metrics object made from it, on exit.

    Args:
        threads: compute threads (the calling thread counts as one); default 1.
        seed: seed of every random stream (initialisers, dropout, shuffling);
            set it before building a graph. Default 0.
        log: optional callable ``log(level: int, message: str)``.
        log_level: most verbose level passed to ``log`` (LOG_ERROR..LOG_DEBUG or
            "error"/"warn"/"info"/"debug").
    """

    def __init__(self, threads=None, seed=None, log=None, log_level=LOG_WARN):
        p = ctypes.c_void_p()
        st = _L.tdl_ctx_create(ctypes.byref(p))
        if st:
            raise_status(st)
        self._own(p.value, _L.tdl_ctx_destroy, None, "Context")
        try:
            if threads is not None:
                self.threads = threads
            if seed is not None:
                self.seed = seed
            if log is not None:
                self.set_log(log, log_level)
        except BaseException:
            self.close()
            raise

    def _check(self, st):
        if st:
            raise_status(st)

    @property
    def threads(self):
        """Number of compute threads (settable, 1..256)."""
        return int(_L.tdl_ctx_get_threads(self._h))

    @threads.setter
    def threads(self, n):
        self._check(_L.tdl_ctx_set_threads(self._h, int(n)))

    @property
    def seed(self):
        """Seed of every random stream (settable; set it before building graphs)."""
        return int(_L.tdl_ctx_get_seed(self._h))

    @seed.setter
    def seed(self, value):
        self._check(_L.tdl_ctx_set_seed(self._h, int(value) & 0xFFFFFFFFFFFFFFFF))

    def set_log(self, fn, level=LOG_WARN):
        """Installs ``fn(level: int, message: str)`` as log sink; None removes it.

        Exceptions raised by ``fn`` are swallowed (they cannot cross the C library).
        """
        h = self._h
        if fn is None:
            self._check(_L.tdl_ctx_set_log(h, _lib.LOG_FN(), LOG_ERROR, None))
            self._ref.keep = None
            return

        def trampoline(lvl, msg, _user):
            try:
                fn(int(lvl), _lib.text(msg))
            except Exception:  # pylint: disable=broad-except
                pass

        cb = _lib.LOG_FN(trampoline)
        self._check(_L.tdl_ctx_set_log(h, cb, _level(level), None))
        self._ref.keep = cb   # the C side calls it until the context is destroyed

    @property
    def error(self):
        """The message of the last error on this context ("" if none)."""
        return _lib.text(_L.tdl_ctx_error(self._h))

    def graph(self):
        """A new, empty Graph on this context."""
        from .graph import Graph
        return Graph(self)

    def metrics(self, num_classes):
        """A new Metrics (confusion matrix) on this context."""
        from .metrics import Metrics
        return Metrics(self, num_classes)

    def __repr__(self):
        if self.closed:
            return "<tinydl.Context closed>"
        return "<tinydl.Context threads=%d seed=%d>" % (self.threads, self.seed)
