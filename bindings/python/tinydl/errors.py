"""Exceptions: one class per tiny-dl status code, all derived from TinyDLError.

Each also derives from the closest built-in exception (ValueError, TypeError,
OSError, ...), so ``except ValueError`` catches a shape error as a Python
programmer expects. The message is the library's own (tdl_graph_error(),
tdl_optim_error() or tdl_last_error()), which names the op, the node and the
shapes involved.
"""

from . import _lib

__all__ = [
    "TinyDLError", "InvalidArgumentError", "ShapeError", "DTypeError", "OutOfMemoryError",
    "FileIOError", "FormatError", "NotFoundError", "StateError", "NonFiniteError",
    "UnsupportedError", "InternalError", "ClosedError", "error_class", "raise_status",
]


class TinyDLError(Exception):
    """Base of every error raised by tinydl.

    Attributes:
        status: the library's status code (a negative int; None for errors
            detected by the binding itself, such as ClosedError).
        message: the library's message (same as str(exc)).
    """

    status = None

    def __init__(self, message, status=None):
        # Only the message goes to the base constructors: OSError would read two
        # arguments as (errno, strerror).
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message

    @property
    def status_string(self):
        """The library's short name of the status ("shape mismatch", ...)."""
        if self.status is None:
            return ""
        return _lib.text(_lib.lib.tdl_status_string(self.status))


class InvalidArgumentError(TinyDLError, ValueError):
    """TDL_ERR_INVALID_ARGUMENT: a NULL handle, an out-of-range value, a wrong option."""
    status = -1


class ShapeError(TinyDLError, ValueError):
    """TDL_ERR_SHAPE: shapes do not fit together."""
    status = -2


class DTypeError(TinyDLError, TypeError):
    """TDL_ERR_DTYPE: wrong element type."""
    status = -3


class OutOfMemoryError(TinyDLError, MemoryError):
    """TDL_ERR_OUT_OF_MEMORY: the allocator returned NULL."""
    status = -4


class FileIOError(TinyDLError, OSError):
    """TDL_ERR_IO: a file could not be opened, read, written or renamed."""
    status = -5


class FormatError(TinyDLError, ValueError):
    """TDL_ERR_FORMAT: a file is truncated, corrupt or not in the expected format."""
    status = -6


class NotFoundError(TinyDLError, LookupError):
    """TDL_ERR_NOT_FOUND: a name or key does not exist."""
    status = -7


class StateError(TinyDLError, RuntimeError):
    """TDL_ERR_STATE: a call out of order (e.g. running an uncompiled graph)."""
    status = -8


class NonFiniteError(TinyDLError, FloatingPointError):
    """TDL_ERR_NON_FINITE: a NaN or infinity was found."""
    status = -9


class UnsupportedError(TinyDLError, NotImplementedError):
    """TDL_ERR_UNSUPPORTED: not supported by this build or this CPU."""
    status = -10


class InternalError(TinyDLError, RuntimeError):
    """TDL_ERR_INTERNAL: a bug in tiny-dl."""
    status = -11


class ClosedError(StateError):
    """A handle was used after close() (raised by the binding; the library is not called)."""
    status = None


_BY_STATUS = {c.status: c for c in (InvalidArgumentError, ShapeError, DTypeError,
                                    OutOfMemoryError, FileIOError, FormatError, NotFoundError,
                                    StateError, NonFiniteError, UnsupportedError, InternalError)}


def error_class(status):
    """The exception class for a status code (TinyDLError for unknown codes)."""
    return _BY_STATUS.get(status, TinyDLError)


def make_error(status, message):
    if not message:
        message = _lib.text(_lib.lib.tdl_status_string(status))
    return error_class(status)(message, status)


def raise_status(status, message=None):
    """Raises the exception for `status` with `message` (default: tdl_last_error())."""
    if message is None:
        message = _lib.text(_lib.lib.tdl_last_error())
    raise make_error(status, message)
