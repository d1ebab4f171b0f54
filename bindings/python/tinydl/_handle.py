"""Deterministic ownership of library handles.

Every wrapper (Context, Graph, Optimizer, Dataset, Batcher, Metrics) owns one
_Ref, a small object that holds the C pointer and the function that destroys
it. A _Ref knows the _Refs of the objects made from it (a graph's optimizers,
a context's graphs, ...) and closes them first, so the library always sees
children destroyed before their parent -- also when the garbage collector
finalises a reference cycle in an arbitrary order, because _Refs hold no
reference to the wrappers.

Wrappers hold a strong reference to their parent wrapper (a Graph keeps its
Context alive, a Node keeps its Graph alive), so dropping the last reference to
a parent never frees it under a living child.
"""

import ctypes

from .errors import ClosedError


class _Ref:
    __slots__ = ("ptr", "destroy", "children", "parent", "keep", "what")

    def __init__(self, ptr, destroy, parent, what):
        self.ptr = ptr
        self.destroy = destroy
        self.children = {}
        self.parent = parent
        self.keep = None      # objects the C side uses until destruction (callbacks)
        self.what = what
        if parent is not None:
            parent.children[id(self)] = self

    def close(self):
        if self.ptr is None:
            return
        # newest first: an optimizer before the graph it updates, ...
        for child in reversed(list(self.children.values())):
            child.close()
        ptr, self.ptr = self.ptr, None
        try:
            self.destroy(ptr)
        finally:
            if self.parent is not None:
                self.parent.children.pop(id(self), None)
                self.parent = None
            self.keep = None


class Handle:
    """Base of the wrappers: close(), context manager, __del__ fallback."""

    _ref = None

    def _own(self, ptr, destroy, parent, what):
        self._ref = _Ref(ptr, destroy, parent._ref if parent is not None else None, what)

    @property
    def _h(self):
        """The live C pointer; ClosedError once closed."""
        ref = self._ref
        if ref is None or ref.ptr is None:
            raise ClosedError("%s is closed" % (ref.what if ref is not None
                                                else type(self).__name__))
        return ref.ptr

    @property
    def closed(self):
        """True once close() ran (or a parent closed this object)."""
        return self._ref is None or self._ref.ptr is None

    def close(self):
        """Frees the library object now, and every object made from it first.

        Idempotent. Using the object afterwards raises ClosedError.
        """
        if self._ref is not None:
            self._ref.close()

    def __enter__(self):
        self._h  # pylint: disable=pointless-statement  (raises if closed)
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # pylint: disable=broad-except  (interpreter shutdown)
            pass


def out_ptr():
    return ctypes.c_void_p()
