"""Parameters declared once: the frozen dataclasses every algorithm's ``fit`` / trainer accepts.

Each algorithm has **one** parameter dataclass. A field is declared with :func:`param`, which carries
its default, its help text (what ``econcs show`` prints) and its bounds; :class:`Params` checks every
field against its type and bounds when the object is made, with the ``check_*`` helpers of
:mod:`econcs.shared.validation`. The same object is

- the argument of the algorithm's ``fit`` (``mech.fit(RegretNetParams(max_iter=500))``, or
  ``mech.fit(max_iter=500)``: keyword overrides go through :func:`resolve_params`);
- a field of the experiment's config (``train: RegretNetParams = nested(RegretNetParams)``), whose
  keys the ``econcs`` command sets as ``max_iter=500`` (or ``train.max_iter=500`` when a bare name is
  ambiguous) and writes into ``config.json``;

so a hyperparameter is written once, validated once, and read the same way from the command line, the
Python API and a saved run.

Checks follow the field's annotation: ``int`` (``bool`` rejected), ``float`` (ints accepted and stored
as floats), ``bool``, ``str`` (with ``choices``), ``Literal[...]``, ``X | None`` (``None`` allowed),
``tuple[X, ...]`` (a list is stored as a tuple; each element checked) and nested :class:`Params`.

Examples
--------
>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class SGDParams(Params):
...     max_iter: int = param(100, "gradient steps", low=1)
...     lr: float = param(0.1, "step size", low=0.0, low_inclusive=False)
>>> SGDParams(lr=1).lr
1.0
>>> SGDParams(max_iter=0)
Traceback (most recent call last):
...
ValueError: max_iter: expected an integer >= 1, got 0.
>>> resolve_params(SGDParams, None, lr=0.5)
SGDParams(max_iter=100, lr=0.5)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from econcs.shared.validation import (
    _describe,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_type,
)

__all__ = ["Params", "apply_renames", "nested", "param", "param_bounds", "resolve_params"]

P = TypeVar("P", bound="Params")

_MISSING: Any = dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class _Bounds:
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple[Any, ...] | None = None

    def text(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        if self.choices is not None:
            parts.append(" | ".join(str(c) for c in self.choices))
        return ", ".join(parts)


def param(
    default: Any = _MISSING,
    help: str = "",
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    choices: Sequence[Any] | None = None,
    default_factory: Callable[[], Any] = _MISSING,
) -> Any:
    """A dataclass field with its help text and bounds, checked by :class:`Params`.

    Parameters
    ----------
    default, default_factory
        the default value (or a factory, for mutable defaults), as in ``dataclasses.field``.
    help
        one line for ``econcs show`` and the docs: what the value means, its unit.
    low, high, low_inclusive, high_inclusive
        bounds of a number (or of each element of a tuple of numbers); ``low_inclusive=False``
        asks for ``value > low`` (learning rates, temperatures).
    choices
        the allowed values of a ``str`` field (``Literal`` fields carry their own).
    """
    bounds = _Bounds(low, high, low_inclusive, high_inclusive,
                     None if choices is None else tuple(choices))
    kwargs: dict[str, Any] = {"metadata": {"help": help, "bounds": bounds}}
    if default_factory is not _MISSING:
        kwargs["default_factory"] = default_factory
    else:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def nested(cls: type[P], help: str = "", **defaults: Any) -> Any:
    """A config field holding a :class:`Params` object, by default ``cls(**defaults)``.

    ``defaults`` are the experiment's own defaults where they differ from the algorithm's
    (``nested(RochetNetParams, "training", max_iter=1500)``); they are checked when the config is
    made.
    """
    if not is_params_type(cls):
        raise TypeError(f"cls: expected a Params dataclass type, got {_describe(cls)}.")
    factory = functools.partial(cls, **defaults) if defaults else cls
    return dataclasses.field(default_factory=factory, metadata={"help": help})


def apply_renames(kwargs: dict[str, Any], renames: Mapping[str, str], owner: str, *,
                  stacklevel: int = 3) -> dict[str, Any]:
    """Accept a released keyword under its old name, with a ``DeprecationWarning``.

    ``renames`` maps old -> new names (``{"n_iter": "max_iter"}``); ``kwargs`` is changed in place
    and returned. Giving both names is a ``TypeError``. ``stacklevel`` points the warning at the
    user's call: 3 when the public function calls ``apply_renames`` itself, one more per helper in
    between.
    """
    for old, new in renames.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(f"{owner}: got both {old!r} and its new name {new!r}; use {new!r}.")
            warnings.warn(f"{owner}: {old!r} is deprecated, use {new!r}.", DeprecationWarning,
                          stacklevel=stacklevel)
            kwargs[new] = kwargs.pop(old)
    return kwargs


def param_bounds(f: dataclasses.Field) -> str:
    """The bounds of field ``f`` as text (``'>= 1'``, ``'> 0, <= 1'``, ``'a | b'``), or ``''``."""
    bounds = f.metadata.get("bounds")
    return bounds.text() if bounds is not None else ""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def is_params_type(tp: Any) -> bool:
    """True for a :class:`Params` dataclass type (a nested parameter group)."""
    return isinstance(tp, type) and issubclass(tp, Params) and dataclasses.is_dataclass(tp)


def _check_value(value: Any, tp: Any, name: str, b: _Bounds) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        if len(args) == 1:
            return _check_value(value, args[0], name, b)
        for arg in args:  # the first member type that accepts the value
            try:
                return _check_value(value, arg, name, b)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{name}: expected {tp}, got {_describe(value)}.")
    if origin is Literal:
        return check_choice(value, name, typing.get_args(tp))
    if origin is tuple or tp is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{name}: expected a sequence, got {_describe(value)}.")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = [args[0]] * len(value)
        elif args:
            if len(args) != len(value):
                raise ValueError(f"{name}: expected {len(args)} values, got {len(value)}.")
            inner = list(args)
        else:
            inner = [Any] * len(value)
        return tuple(_check_value(v, t, f"{name}[{i}]", b)
                     for i, (v, t) in enumerate(zip(value, inner)))
    if tp is bool:
        return check_bool(value, name)
    if tp is int:
        low = high = None  # integer bounds equivalent to the declared (maybe exclusive) ones
        if b.low is not None:
            low = math.ceil(b.low) if b.low_inclusive else math.floor(b.low) + 1
        if b.high is not None:
            high = math.floor(b.high) if b.high_inclusive else math.ceil(b.high) - 1
        return check_int(value, name, low=low, high=high)
    if tp is float:
        return check_float(value, name, low=b.low, high=b.high, low_inclusive=b.low_inclusive,
                           high_inclusive=b.high_inclusive)
    if tp is str:
        check_type(value, name, str)
        if b.choices is not None:
            check_choice(value, name, b.choices)
        return value
    if is_params_type(tp):
        if isinstance(value, Mapping):
            return tp(**value)
        return check_type(value, name, tp)
    if isinstance(tp, type) and tp is not typing.Any:
        return check_type(value, name, tp)
    return value


class Params:
    """Base of every parameter dataclass: checks each field against its annotation and bounds.

    Subclass it with ``@dataclasses.dataclass(frozen=True)`` and declare the fields with
    :func:`param`. Checks that relate several fields go in the subclass's ``__post_init__``, after
    ``super().__post_init__()``. Values are normalised (a float field given ``1`` holds ``1.0``, a
    tuple field given a list holds a tuple), so equal parameters compare equal and serialise alike.
    """

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.init:
                continue
            value = getattr(self, f.name)
            bounds = f.metadata.get("bounds", _Bounds())
            checked = _check_value(value, hints[f.name], f.name, bounds)
            if checked is not value:
                object.__setattr__(self, f.name, checked)

    def replace(self: P, **changes: Any) -> P:
        """A copy with ``changes`` (checked again)."""
        return resolve_params(type(self), self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (nested parameter groups as dicts), for JSON."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def resolve_params(cls: type[P], params: P | Mapping[str, Any] | None = None, /,
                   **overrides: Any) -> P:
    """The ``cls`` object an entry point runs with: ``params`` (default ``cls()``) with ``overrides``.

    This is how a ``fit(params=None, **overrides)`` reads its arguments: an unknown keyword is a
    ``TypeError`` listing the valid ones, a bad value the field's own check.
    """
    if not is_params_type(cls):
        raise TypeError(f"cls: expected a Params dataclass type, got {_describe(cls)}.")
    if params is None:
        base: dict[str, Any] = {}
    elif isinstance(params, cls):
        if not overrides:
            return params
        base = {f.name: getattr(params, f.name) for f in dataclasses.fields(cls) if f.init}
    elif isinstance(params, Mapping):
        base = dict(params)
    else:
        raise TypeError(
            f"params: expected {cls.__name__} (or a dict of its fields), got {_describe(params)}."
        )
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(base) - set(names) | set(overrides) - set(names))
    if unknown:
        raise TypeError(
            f"{cls.__name__}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(names)}."
        )
    return cls(**{**base, **overrides})
