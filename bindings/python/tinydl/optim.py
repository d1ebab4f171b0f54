"""Optimizers (SGD, Adam, AdamW, RMSprop) with parameter groups and LR schedules.

The formulas and hyper-parameters are PyTorch's (torch.optim.*). Options the
factories leave at None keep the library's defaults (Adam betas 0.9/0.999,
eps 1e-8, AdamW weight decay 0.01, RMSprop alpha 0.99, ...).
"""

import ctypes

from . import _lib
from ._handle import Handle
from .errors import make_error, raise_status

_L = _lib.lib

SGD = 1
ADAM = 2
ADAMW = 3
RMSPROP = 4

_KINDS = {"sgd": SGD, "adam": ADAM, "adamw": ADAMW, "rmsprop": RMSPROP}

#: option name -> tdl_optim_option code
OPTIONS = {
    "lr": 1, "momentum": 2, "nesterov": 3, "beta1": 4, "beta2": 5, "eps": 6,
    "weight_decay": 7, "alpha": 8, "clip_norm": 9, "frozen": 10, "schedule": 11,
    "warmup_steps": 12, "step_size": 13, "gamma": 14, "total_steps": 15, "min_lr": 16,
}
GROUP_OPTIONS = ("lr", "weight_decay", "frozen")

SCHED_CONSTANT = 0
SCHED_STEP = 1
SCHED_COSINE = 2
_SCHEDULES = {"constant": SCHED_CONSTANT, "step": SCHED_STEP, "cosine": SCHED_COSINE}


def _value(name, value):
    if name == "schedule" and isinstance(value, str):
        try:
            return float(_SCHEDULES[value.lower()])
        except KeyError:
            raise ValueError("unknown schedule %r (constant, step, cosine)" % value) from None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value)


def _expand(options):
    """betas=(b1, b2) -> beta1, beta2; drops None values; checks names."""
    out = []
    for name, value in options.items():
        if value is None:
            continue
        if name == "betas":
            out.append(("beta1", float(value[0])))
            out.append(("beta2", float(value[1])))
            continue
        if name not in OPTIONS:
            raise TypeError("unknown optimizer option %r (one of %s, betas)"
                            % (name, ", ".join(OPTIONS)))
        out.append((name, value))
    return out


class Group:
    """A parameter group of an Optimizer (parameters whose names start with a prefix)."""

    def __init__(self, optimizer, group_id, prefix):
        self.optimizer = optimizer
        self.id = group_id
        self.prefix = prefix

    def set(self, **options):
        """Sets lr, weight_decay or frozen (bool) for this group."""
        for name, value in _expand(options):
            if name not in GROUP_OPTIONS:
                raise TypeError("option %r cannot be set per group (only %s)"
                                % (name, ", ".join(GROUP_OPTIONS)))
            self.optimizer._check(_L.tdl_optim_group_set(  # pylint: disable=protected-access
                self.optimizer._h, self.id, OPTIONS[name], _value(name, value)))
        return self

    def __repr__(self):
        return "<tinydl.Group %d prefix=%r>" % (self.id, self.prefix)


class Optimizer(Handle):
    """Updates the trainable parameters of a Graph from its last backward().

    Made by sgd(), adam(), adamw(), rmsprop() or ``Optimizer(graph, "adam", lr)``.
    Keeps the Graph alive; closing the graph closes the optimizer.
    Options (``set(...)`` or keyword arguments): lr, momentum, nesterov, beta1,
    beta2 (or betas=(b1, b2)), eps, weight_decay, alpha, clip_norm, schedule
    ("constant", "step", "cosine"), warmup_steps, step_size, gamma,
    total_steps, min_lr.
    """

    def __init__(self, graph, kind, lr, **options):
        if isinstance(kind, str):
            try:
                kind = _KINDS[kind.lower()]
            except KeyError:
                raise ValueError("unknown optimizer %r (sgd, adam, adamw, rmsprop)"
                                 % kind) from None
        self.graph = graph
        self.kind = int(kind)
        p = ctypes.c_void_p()
        st = _L.tdl_optim_create(graph._h, self.kind, float(lr), ctypes.byref(p))
        if st:
            raise_status(st)
        self._own(p.value, _L.tdl_optim_destroy, graph, "Optimizer")
        self._groups = [(0, "")]
        if options:
            try:
                self.set(**options)
            except BaseException:
                self.close()
                raise

    def _check(self, st):
        if st:
            msg = _lib.text(_L.tdl_last_error())
            if not msg and self._ref.ptr is not None:
                msg = _lib.text(_L.tdl_optim_error(self._ref.ptr))
            raise make_error(st, msg)

    def set(self, **options):
        """Sets options for the whole optimizer (see the class doc); returns self."""
        h = self._h
        for name, value in _expand(options):
            self._check(_L.tdl_optim_set(h, OPTIONS[name], _value(name, value)))
        return self

    def add_group(self, prefix, **options):
        """A new Group of the parameters whose names start with `prefix`.

        Options lr, weight_decay, frozen may be given here or later with Group.set().
        NotFoundError when no parameter matches.
        """
        gid = ctypes.c_int32()
        self._check(_L.tdl_optim_add_group(self._h, prefix.encode("utf-8"), ctypes.byref(gid)))
        group = Group(self, gid.value, prefix)
        self._groups.append((gid.value, prefix))
        if options:
            group.set(**options)
        return group

    @property
    def groups(self):
        """The groups, group 0 (every parameter no other group claims) first."""
        return [Group(self, gid, prefix) for gid, prefix in self._groups]

    def step(self):
        """Applies one update from the current gradients, then advances the schedule."""
        self._check(_L.tdl_optim_step(self._h))

    @property
    def lr(self):
        """The learning rate the next step will use (group 0, after the schedule)."""
        return float(_L.tdl_optim_lr(self._h))

    @lr.setter
    def lr(self, value):
        self.set(lr=value)

    @property
    def steps(self):
        """Steps taken so far."""
        return int(_L.tdl_optim_steps(self._h))

    @property
    def last_grad_norm(self):
        """Global L2 norm of the gradients seen by the last step (before clipping)."""
        return float(_L.tdl_optim_last_grad_norm(self._h))

    @property
    def error(self):
        """The optimizer's last error message ("" if none)."""
        return _lib.text(_L.tdl_optim_error(self._h))

    def __repr__(self):
        if self.closed:
            return "<tinydl.Optimizer closed>"
        name = {v: k for k, v in _KINDS.items()}.get(self.kind, str(self.kind))
        return "<tinydl.Optimizer %s lr=%g steps=%d>" % (name, self.lr, self.steps)


def sgd(graph, lr, momentum=0.0, nesterov=None, weight_decay=None, **options):
    """SGD (torch.optim.SGD): optional momentum, Nesterov, weight decay."""
    opt = Optimizer(graph, SGD, lr)
    try:
        opt.set(momentum=momentum or None, nesterov=nesterov, weight_decay=weight_decay,
                **options)
    except BaseException:
        opt.close()
        raise
    return opt


def adam(graph, lr=1e-3, betas=None, eps=None, weight_decay=None, **options):
    """Adam (torch.optim.Adam; weight decay added to the gradient)."""
    return Optimizer(graph, ADAM, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     **options)


def adamw(graph, lr=1e-3, betas=None, eps=None, weight_decay=None, **options):
    """AdamW (decoupled weight decay; library default 0.01)."""
    return Optimizer(graph, ADAMW, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     **options)


def rmsprop(graph, lr=1e-2, alpha=None, eps=None, momentum=None, weight_decay=None, **options):
    """RMSprop (torch.optim.RMSprop, not centred)."""
    return Optimizer(graph, RMSPROP, lr, alpha=alpha, eps=eps, momentum=momentum,
                     weight_decay=weight_decay, **options)
