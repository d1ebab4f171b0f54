"""Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix."""

import ctypes

import numpy as np

from . import _lib
from ._handle import Handle
from .errors import raise_status

_L = _lib.lib


def _check(st):
    if st:
        raise_status(st)


class Metrics(Handle):
    """An accumulating confusion matrix for `num_classes` classes (keeps its Context alive)."""

    def __init__(self, ctx, num_classes):
        self.ctx = ctx
        p = ctypes.c_void_p()
        _check(_L.tdl_metrics_create(ctx._h, int(num_classes), ctypes.byref(p)))
        self._own(p.value, _L.tdl_metrics_destroy, ctx, "Metrics")
        self.num_classes = int(num_classes)

    def reset(self):
        """Clears the counts."""
        _check(_L.tdl_metrics_reset(self._h))

    def update_scores(self, scores, labels):
        """Adds predictions given as scores [n, num_classes] (argmax) with labels [n]."""
        h = self._h
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        n = labels.shape[0] if labels.ndim else 1
        if scores.size != n * self.num_classes:
            raise ValueError("update_scores: %d scores for %d labels of %d classes"
                             % (scores.size, n, self.num_classes))
        _check(_L.tdl_metrics_update_scores(h, scores.ctypes.data, labels.ctypes.data, n))

    def update(self, predicted, labels):
        """Adds predicted class ids [n] with their true labels [n]."""
        h = self._h
        predicted = np.ascontiguousarray(predicted, dtype=np.int32)
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        if predicted.shape != labels.shape:
            raise ValueError("update: %s predictions for %s labels"
                             % (predicted.shape, labels.shape))
        _check(_L.tdl_metrics_update(h, predicted.ctypes.data, labels.ctypes.data,
                                     labels.size))

    @property
    def count(self):
        """Samples counted."""
        return int(_L.tdl_metrics_count(self._h))

    def __len__(self):
        return self.count

    @property
    def accuracy(self):
        """Fraction of correct predictions (0 when empty)."""
        return float(_L.tdl_metrics_accuracy(self._h))

    @property
    def macro_f1(self):
        """Unweighted mean of the per-class F1."""
        return float(_L.tdl_metrics_macro_f1(self._h))

    def class_stats(self, cls):
        """(precision, recall, f1) of one class."""
        p, r, f = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        _check(_L.tdl_metrics_class(self._h, int(cls), ctypes.byref(p), ctypes.byref(r),
                                    ctypes.byref(f)))
        return p.value, r.value, f.value

    def confusion(self, truth, predicted):
        """Count of samples of class `truth` predicted as `predicted`."""
        return int(_L.tdl_metrics_confusion(self._h, int(truth), int(predicted)))

    def confusion_matrix(self):
        """The whole matrix as an int64 array [truth, predicted]."""
        h = self._h
        c = self.num_classes
        fn = _L.tdl_metrics_confusion
        return np.array([[fn(h, t, p) for p in range(c)] for t in range(c)], dtype=np.int64)

    def report(self, class_names=None):
        """The library's text report (per-class P/R/F1, accuracy, macro F1, confusion)."""
        h = self._h
        names = None
        if class_names is not None:
            if len(class_names) != self.num_classes:
                raise ValueError("report: %d class names for %d classes"
                                 % (len(class_names), self.num_classes))
            names = (ctypes.c_char_p * self.num_classes)(
                *[str(n).encode("utf-8") for n in class_names])
        needed = ctypes.c_size_t()
        _check(_L.tdl_metrics_report(h, names, None, 0, ctypes.byref(needed)))
        buf = ctypes.create_string_buffer(needed.value + 1)
        _check(_L.tdl_metrics_report(h, names, buf, len(buf), None))
        return buf.value.decode("utf-8", "replace")

    def __repr__(self):
        if self.closed:
            return "<tinydl.Metrics closed>"
        return "<tinydl.Metrics %d classes, %d samples, accuracy %.4f>" % (
            self.num_classes, self.count, self.accuracy)
