"""tinydl: Python binding of tiny-dl, the embeddable C deep-learning library.

It calls libtiny-dl.so.1 through ctypes, using only the public C API. The
library is found through $TINYDL_LIBRARY, the dynamic loader's path, or
pkg-config (see tinydl._lib). numpy arrays are fed without copying.

    import numpy as np, tinydl as td

    with td.Context(threads=2, seed=42) as ctx, td.Graph(ctx) as g:
        x = g.input("x", (None, 2))
        t = g.input("t", (None, 1))
        y = g.dense(g.dense(x, 8, "h").tanh(), 1, "out")
        loss = g.bce_with_logits(y, t)
        g.compile()
        opt = td.adam(g, 0.05)
        g.feed({x: np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32),
                t: np.array([[0], [1], [1], [0]], np.float32)})
        for _ in range(500):
            g.forward(); g.backward(loss); opt.step()
        print(g.run(y))

See docs/bindings-python.md for the classes and the ownership rules.
"""

from ._lib import LibraryNotFoundError
from ._util import BATCH, F32, I32, MAX_DIMS
from .core import (LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, Context, build_info, last_error,
                   library_path, status_string, version, version_number)
from .data import Batcher, Dataset, load_fashion_mnist
from .errors import (ClosedError, DTypeError, FileIOError, FormatError, InternalError,
                     InvalidArgumentError, NonFiniteError, NotFoundError, OutOfMemoryError,
                     ShapeError, StateError, TinyDLError, UnsupportedError, error_class)
from .graph import (INIT, LOAD_ALLOW_MISSING, LOAD_ALLOW_UNUSED, LOAD_STRICT, Graph, MemoryPlan,
                    Node, Param)
from .metrics import Metrics
from .optim import (ADAM, ADAMW, RMSPROP, SCHED_CONSTANT, SCHED_COSINE, SCHED_STEP, SGD, Group,
                    Optimizer, adam, adamw, rmsprop, sgd)
from .train import Progress, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "BATCH", "F32", "I32", "MAX_DIMS", "INIT",
    "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG",
    "LOAD_STRICT", "LOAD_ALLOW_MISSING", "LOAD_ALLOW_UNUSED",
    "SGD", "ADAM", "ADAMW", "RMSPROP", "SCHED_CONSTANT", "SCHED_STEP", "SCHED_COSINE",
    "Context", "Graph", "Node", "Param", "MemoryPlan", "Optimizer", "Group",
    "Dataset", "Batcher", "Metrics", "Progress",
    "sgd", "adam", "adamw", "rmsprop", "fit", "evaluate", "load_fashion_mnist",
    "version", "version_number", "build_info", "library_path", "status_string", "last_error",
    "TinyDLError", "InvalidArgumentError", "ShapeError", "DTypeError", "OutOfMemoryError",
    "FileIOError", "FormatError", "NotFoundError", "StateError", "NonFiniteError",
    "UnsupportedError", "InternalError", "ClosedError", "LibraryNotFoundError", "error_class",
]
