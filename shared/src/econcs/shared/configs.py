"""Experiment configs from the command line: ``key=value`` pairs parsed by field type.

A config is a dataclass (usually a frozen :class:`~econcs.shared.Params` subclass); its fields are
typed (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]``,
``list[X]``) and nested :class:`~econcs.shared.Params` groups (``train: RegretNetParams``) are set by
their leaves' bare names where unambiguous (``lr=0.1``) or by path (``train.lr=0.1``).
:func:`config_help` is what ``econcs show`` prints.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from econcs.shared.errors import ConfigError
from econcs.shared.params import is_params_type, param_bounds

__all__ = ["config_from_overrides", "config_help"]


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _flat_fields(cls: type) -> dict[str, tuple[tuple[str, ...], Any, dataclasses.Field]]:
    """Every settable key of config ``cls``: dotted paths into nested :class:`Params` groups
    (``train.lr``), plus each leaf's bare name (``lr``) where it is unambiguous."""
    dotted: dict[str, tuple[tuple[str, ...], Any, dataclasses.Field]] = {}

    def walk(tp: type, prefix: tuple[str, ...]) -> None:
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for name, ftype in _field_types(tp).items():
            path = (*prefix, name)
            if is_params_type(ftype):
                walk(ftype, path)
            else:
                dotted[".".join(path)] = (path, ftype, fields[name])

    walk(cls, ())
    bare: dict[str, list[str]] = {}
    for key, (path, _, _) in dotted.items():
        bare.setdefault(path[-1], []).append(key)
    flat = dict(dotted)
    for name, keys in bare.items():
        if len(keys) == 1 and name not in flat:
            flat[name] = dotted[keys[0]]
    return flat


def _ambiguous(cls: type, key: str) -> list[str]:
    return [k for k, (path, _, _) in _flat_fields(cls).items() if "." in k and path[-1] == key]


def _parse_value(text: str, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and text.lower() in ("none", "null", ""):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _parse_value(text, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: cannot parse {text!r}.")
    if origin is Literal:
        choices = typing.get_args(tp)
        for c in choices:
            if str(c) == text:
                return c
        raise ConfigError(
            f"{key}: expected one of {', '.join(str(c) for c in choices)}, got {text!r}."
        )
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {text!r}.")
    if tp is int:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            try:  # accept 1e5-style integers
                val = float(text)
            except ValueError:
                val = math.nan
            if math.isfinite(val) and val == int(val):
                return int(val)
            raise ConfigError(f"{key}: expected an integer, got {text!r}.") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}.") from None
    if tp is str:
        return text
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(tp) or (str,)
        items = [t.strip() for t in text.split(",") if t.strip()]
        parsed = [_parse_value(t, inner, key) for t in items]
        return tuple(parsed) if origin is tuple else parsed
    raise ConfigError(f"{key}: fields of type {tp} cannot be set from the command line.")


def _flatten_mapping(cls: type, values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` (a saved config.json) -> ``{"train.lr": 0.1}``."""
    hints = _field_types(cls)
    out: dict[str, Any] = {}
    for key, value in values.items():
        tp = hints.get(key)
        if tp is not None and is_params_type(tp) and isinstance(value, Mapping):
            out.update(_flatten_mapping(tp, value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def _build(cls: type, values: Mapping[tuple[str, ...], Any], base: Any = None) -> Any:
    """``cls`` from ``values`` (paths -> values); a nested group starts from its field's default
    (the experiment's ``nested(cls, **defaults)``), or from ``base``'s, and takes the overrides."""
    hints = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, tp in hints.items():
        if is_params_type(tp):
            inner = {path[1:]: v for path, v in values.items() if path[0] == name}
            if inner:
                start = getattr(base, name) if base is not None else _field_default(fields[name])
                kwargs[name] = _build(tp, inner, start)
        elif (name,) in values:
            kwargs[name] = values[(name,)]
    if base is None:
        return cls(**kwargs)
    return dataclasses.replace(base, **kwargs)


def config_from_overrides(cls: type, overrides: Mapping[str, Any] | Iterable[str] = ()) -> Any:
    """Build config ``cls`` from ``{"key": value}`` or ``["key=value", ...]`` (parsed by field type).

    Keys of nested :class:`~econcs.shared.Params` groups are set by their bare name (``lr=0.1``)
    when it is unambiguous, else by their dotted path (``train.lr=0.1``); a mapping may also hold
    the nested dicts of a saved ``config.json``. Unknown keys and unparsable values raise
    ``ConfigError`` listing the valid choices; values rejected by the config's own checks are
    re-raised as ``ConfigError``.
    """
    fields = _flat_fields(cls)
    valid = ", ".join(k for k in fields if "." not in k or fields[k][0][-1] not in fields)
    items = overrides.items() if isinstance(overrides, Mapping) else None
    if items is None:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"expected key=value, got {item!r}; valid keys: {valid}.")
            key, _, text = item.partition("=")
            pairs.append((key.strip(), text.strip()))
        items = pairs
    else:
        items = _flatten_mapping(cls, overrides).items()
    values: dict[tuple[str, ...], Any] = {}
    for key, value in items:
        if key not in fields:
            options = _ambiguous(cls, key)
            if options:
                raise ConfigError(f"config key {key!r} is ambiguous; use one of "
                                  f"{', '.join(options)}.")
            raise ConfigError(f"unknown config key {key!r}; valid keys: {valid}.")
        path, tp, _ = fields[key]
        values[path] = _parse_value(value, tp, key) if isinstance(value, str) else value
    try:
        return _build(cls, values)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from err


def config_help(cls: type) -> list[tuple[str, str, str, str]]:
    """``(key, type, default, help)`` for each settable key, nested groups flattened (by bare name
    where it is unambiguous); the help ends with the field's bounds, e.g. ``[>= 1]``."""
    fields = _flat_fields(cls)
    try:
        default_obj = cls()
    except Exception:  # a config without defaults for every field
        default_obj = None
    rows = []
    for key, (path, tp, f) in fields.items():
        if key != ".".join(path):  # a bare alias: shown under its own entry
            continue
        shown = path[-1] if fields.get(path[-1], ((),))[0] == path else key
        if default_obj is not None:
            default = default_obj
            for part in path:
                default = getattr(default, part)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "required"
        help_ = f.metadata.get("help", "")
        bounds = param_bounds(f)
        if bounds:
            help_ = f"{help_} [{bounds}]" if help_ else f"[{bounds}]"
        rows.append((shown, getattr(tp, "__name__", str(tp)), repr(default), help_))
    return rows
