"""The training loop: fit() with a text progress bar, and evaluate()."""

import ctypes
import sys
import time

from . import _lib
from .data import Batcher
from .errors import ShapeError, raise_status
from .graph import Node
from .metrics import Metrics

_L = _lib.lib


class Progress:
    """A one-line text progress bar: batches, loss, accuracy, speed, ETA.

    On a terminal it redraws in place (at most every 0.1 s); otherwise it
    prints one line when the epoch ends.
    """

    width = 24

    def __init__(self, label, total, file=None):
        self.label = label
        self.total = total
        self.file = file if file is not None else sys.stdout
        try:
            self.tty = self.file.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def _draw(self, done, items, loss, acc, final):
        el = time.perf_counter() - self.start
        rate = items / el if el > 0 else 0.0
        eta = el * (self.total - done) / done if done > 0 else 0.0
        fill = int(self.width * done / self.total) if self.total else self.width
        bar = "#" * fill + "." * (self.width - fill)
        acc_s = "" if acc is None else " acc %.2f%%" % (100.0 * acc)
        line = "%s [%s] %d/%d loss %.4f%s %.0f samples/s %s %.1fs" % (
            self.label, bar, done, self.total, loss, acc_s, rate,
            "took" if final else "ETA", el if final else eta)
        end = "\n" if final or not self.tty else ""
        self.file.write(("\r" if self.tty else "") + line + end)
        self.file.flush()

    def update(self, done, items, loss, acc=None):
        """Redraws (terminals only, rate-limited)."""
        if not self.tty:
            return
        t = time.perf_counter()
        if t - self.last_draw < 0.1:
            return
        self.last_draw = t
        self._draw(done, items, loss, acc, False)

    def end(self, done, items, loss, acc=None):
        """Draws the final line of the epoch."""
        self._draw(done, items, loss, acc, True)


def _feed_shape(node, n, sample_size, what):
    """The fed shape of input `node` for a batch of n (batch entries -k -> k*n)."""
    shape = node.shape
    per = 1
    for d in shape:
        if d > 0:
            per *= d
    ks = sum(-d for d in shape if d < 0)
    if ks != 1 or per != sample_size:
        raise ShapeError("fit: %s input '%s' has shape %s, which does not take samples of "
                         "%d values (one batch dimension and %d values per sample needed)"
                         % (what, node.name, list(shape), sample_size, sample_size))
    return [(-d * n) if d < 0 else d for d in shape], [i for i, d in enumerate(shape) if d < 0][0]


def fit(graph, x, y, loss, optimizer, dataset, epochs=1, batch_size=32, *, logits=None,
        shuffle=True, seed=0, verbose=True, file=None, callback=None):
    """Trains `graph` on `dataset`; returns the history (one dict per epoch).

    Each batch: feed x (samples) and y (labels), forward, backward(loss),
    optimizer.step(). With `logits` (scores [B, C]), the training accuracy is
    counted too. The batcher is made with (batch_size, shuffle, seed).

    verbose: print a progress bar to `file` (default stdout): batches, mean loss,
    accuracy, samples/s and ETA. callback(stats) is called after each epoch with
    the epoch's dict {epoch, loss, accuracy, seconds, samples}; returning True
    stops training.
    """
    if x.graph is not graph or y.graph is not graph or loss.graph is not graph:
        raise ValueError("fit: x, y and loss must be nodes of `graph`")
    if logits is not None and (not isinstance(logits, Node) or logits.graph is not graph):
        raise ValueError("fit: logits must be a node of `graph`")
    if optimizer.graph is not graph:
        raise ValueError("fit: the optimizer updates another graph")
    g = graph._h  # pylint: disable=protected-access
    opt = optimizer._h  # pylint: disable=protected-access
    xs, xb = _feed_shape(x, 1, dataset.sample_size, "x")
    xshape = (ctypes.c_int64 * len(xs))(*xs)
    yshape = (ctypes.c_int64 * 1)(1)
    if y.shape != (-1,):
        raise ShapeError("fit: y input '%s' must have shape [B] (labels), not %s"
                         % (y.name, list(y.shape)))
    xptr, yptr, lptr = x.ptr, y.ptr, loss.ptr
    xnd = len(xs)
    k = -x.shape[xb]

    metrics = None
    if logits is not None:
        ncls = logits.shape[-1]
        metrics = Metrics(graph.ctx, max(ncls, 2))
    it = Batcher(dataset, batch_size, shuffle, seed)
    graph.training = True
    # Gradients built before the first forward make the forward pass keep what
    # backward needs -- the logits among them, so they can be scored.
    graph.build_gradients(loss)

    feed, forward, backward = _L.tdl_feed, _L.tdl_forward, _L.tdl_backward
    step, nxt, node_read = _L.tdl_optim_step, _L.tdl_batcher_next, _L.tdl_node_read
    upd, node_data = _L.tdl_metrics_update_scores, _L.tdl_node_data
    px, py, pn = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_int64()
    lossv = ctypes.c_float()
    bpx, bpy, bpn, blv = ctypes.byref(px), ctypes.byref(py), ctypes.byref(pn), ctypes.byref(lossv)
    bh = it._h  # pylint: disable=protected-access
    mh = metrics._h if metrics is not None else None  # pylint: disable=protected-access
    lh = logits.ptr if logits is not None else None

    def check(st):
        if st:
            raise_status(st)

    history = []
    try:
        for epoch in range(1, epochs + 1):
            bar = Progress("epoch %d/%d" % (epoch, epochs), len(it), file) if verbose else None
            if metrics is not None:
                metrics.reset()
            loss_sum, batches, items = 0.0, 0, 0
            t0 = time.perf_counter()
            while True:
                check(nxt(bh, bpx, bpy, bpn))
                n = pn.value
                if n == 0:
                    break
                xshape[xb] = k * n
                yshape[0] = n
                check(feed(g, xptr, px, xnd, xshape))
                check(feed(g, yptr, py, 1, yshape))
                check(forward(g))
                if mh is not None:
                    scores = node_data(lh)
                    if scores:
                        check(upd(mh, scores, py, n))
                    else:   # the graph did not keep the logits: no training accuracy
                        mh = None
                        metrics.close()
                        metrics = None
                check(node_read(lptr, blv, 4))
                check(backward(g, lptr))
                check(step(opt))
                loss_sum += lossv.value
                batches += 1
                items += n
                if bar is not None and bar.tty:
                    bar.update(batches, items, loss_sum / batches,
                               metrics.accuracy if metrics is not None else None)
            check(_L.tdl_batcher_reset(bh))
            seconds = time.perf_counter() - t0
            acc = metrics.accuracy if metrics is not None else None
            mean_loss = loss_sum / batches if batches else float("nan")
            if bar is not None:
                bar.end(batches, items, mean_loss, acc)
            stats = {"epoch": epoch, "loss": mean_loss, "accuracy": acc, "seconds": seconds,
                     "samples": items}
            history.append(stats)
            if callback is not None and callback(stats):
                break
    finally:
        # The inputs still point into the batcher's buffers: the graph keeps the
        # batcher alive until x and y are fed again.
        graph._fed[xptr] = it  # pylint: disable=protected-access
        graph._fed[yptr] = it  # pylint: disable=protected-access
        if metrics is not None:
            metrics.close()
    return history


def evaluate(graph, x, output, dataset, batch_size=1000, metrics=None):
    """Accuracy of `output` (scores [B, C]) over `dataset`, in eval mode.

    Only what `output` needs is computed (no labels are fed). Pass a Metrics to
    keep the confusion matrix (it is reset first). The graph's training mode is
    restored afterwards.
    """
    own = metrics is None
    if own:
        metrics = Metrics(graph.ctx, max(output.shape[-1], 2))
    else:
        metrics.reset()
    g = graph._h  # pylint: disable=protected-access
    xs, xb = _feed_shape(x, 1, dataset.sample_size, "x")
    k = -x.shape[xb]
    xshape = (ctypes.c_int64 * len(xs))(*xs)
    it = Batcher(dataset, batch_size, False, 0)
    was_training = graph.training
    graph.training = False
    xptr, optr = x.ptr, output.ptr

    def check(st):
        if st:
            raise_status(st)

    try:
        while True:
            px, py, n = it._next_raw()  # pylint: disable=protected-access
            if n == 0:
                break
            xshape[xb] = k * n
            check(_L.tdl_feed(g, xptr, px, len(xs), xshape))
            check(_L.tdl_run(g, optr))
            check(_L.tdl_metrics_update_scores(metrics._h, _L.tdl_node_data(optr), py, n))
        return metrics.accuracy
    finally:
        graph._fed[xptr] = it  # pylint: disable=protected-access
        graph.training = was_training
        if own:
            metrics.close()
