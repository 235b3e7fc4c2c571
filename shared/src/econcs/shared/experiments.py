"""Experiments: the registry every package plugs into, and the runner behind ``econcs run``.

A package publishes an ``ExperimentSuite`` under the entry-point group ``econcs.experiments``.
Each ``Experiment`` pairs a config dataclass (typed fields with defaults; ``metadata={"help": ...}``
documents a field) with a function ``run(config, ctx) -> ExperimentResult``. The ``RunContext``
handed to it owns everything a run writes to ``runs/<experiment>/<timestamp>/``:

- ``config.json`` (the config, seed and device), ``metrics.jsonl`` (one line per ``RunContext.log``),
  ``result.json`` (metrics and references), ``checkpoint.pt`` and plots;
- explicit random generators (``RunContext.generator``, ``RunContext.rng``) whose states are
  saved in every checkpoint, so that a killed run resumed from its directory ends with exactly the
  metrics of an uninterrupted run with the same seed;
- divergence checks: a non-finite logged metric raises ``DivergenceError`` naming the step.

Checkpoints are written atomically (temporary file + ``os.replace``) and read with
``torch.load(weights_only=True)``: no unrestricted pickle is ever loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from econcs.shared.callbacks import Callback, StateFn
from econcs.shared.device import resolve_device
from econcs.shared.errors import ConfigError, DivergenceError
from econcs.shared.params import is_params_type, param_bounds
from econcs.shared.validation import check_int

__all__ = [
    "ConfigError",
    "DivergenceError",
    "Experiment",
    "ExperimentResult",
    "ExperimentSuite",
    "Reference",
    "Reproduction",
    "RunContext",
    "RunRecord",
    "config_from_overrides",
    "load_suites",
    "run_experiment",
]

ENTRY_POINT_GROUP = "econcs.experiments"


@dataclasses.dataclass(frozen=True)
class Reference:
    """A value our result is checked against: from theory, an independent solver, or a paper.

    ``relation="eq"`` asks ``|ours - value| <= atol + rtol * |value|``; ``"ge"`` asks
    ``ours >= value - (atol + rtol * |value|)`` (e.g. revenue above a baseline); ``"le"`` asks
    ``ours <= value + atol + rtol * |value|`` (e.g. regret below a bound).
    """

    value: float
    source: str
    rtol: float = 0.0
    atol: float = 0.0
    relation: Literal["eq", "le", "ge"] = "eq"

    def tolerance(self) -> float:
        return self.atol + self.rtol * abs(self.value)

    def holds(self, ours: float) -> bool:
        if not math.isfinite(ours):
            return False
        tol = self.tolerance() + 1e-12
        if self.relation == "eq":
            return abs(ours - self.value) <= tol
        if self.relation == "ge":
            return ours >= self.value - tol
        return ours <= self.value + tol

    def gap(self, ours: float) -> float:
        """Relative gap ``(ours - value) / |value|`` (absolute when ``value == 0``)."""
        return (ours - self.value) / abs(self.value) if self.value != 0 else ours - self.value

    def describe(self) -> str:
        sign = {"eq": "=", "le": "<=", "ge": ">="}[self.relation]
        parts = []
        if self.rtol:
            parts.append(f"rtol {self.rtol:g}")
        if self.atol:
            parts.append(f"atol {self.atol:g}")
        return f"{sign} {self.value:.6g}" + (f" ({', '.join(parts)})" if parts else "")


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment returns: ``metrics`` (name -> float) and ``references`` (name -> Reference).

    Every key of ``references`` must be a key of ``metrics``. ``artifacts`` maps names to files the run
    wrote (plots, tables), relative to the run directory.
    """

    metrics: dict[str, float]
    references: dict[str, Reference] = dataclasses.field(default_factory=dict)
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.metrics = {k: float(v) for k, v in self.metrics.items()}
        missing = set(self.references) - set(self.metrics)
        if missing:
            raise ValueError(f"references: no metric named {sorted(missing)} in metrics.")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: ``config`` is a dataclass type, ``run(config, ctx)`` returns a result."""

    name: str
    config: type
    run: Callable[[Any, RunContext], ExperimentResult]
    description: str = ""

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"Experiment {self.name!r}: config must be a dataclass type.")


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """One row group of ``econcs reproduce``: an experiment with config overrides.

    ``n_seeds > 1`` runs the experiment at ``n_seeds`` consecutive seeds from ``--seed`` and holds
    the *mean* of each metric over them to the mean of its reference values (one value unless the
    reference comes from the seed's own problem instance): for methods whose per-seed spread, as in
    the paper, is wider than the reference's margin. The report lists every seed's value.
    """

    experiment: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    label: str = ""
    n_seeds: int = 1

    def __post_init__(self) -> None:
        check_int(self.n_seeds, "n_seeds", low=1)


@dataclasses.dataclass(frozen=True)
class ExperimentSuite:
    """What a package registers under the ``econcs.experiments`` entry-point group.

    ``quick`` lists the reproductions of ``econcs reproduce --quick`` (the package's share of a
    10-minute, 2-core budget); ``full`` those of ``--full`` (paper scale); ``smoke`` tiny runs (a few
    seconds each) that the integration tests make through the CLI.
    """

    package: str
    experiments: tuple[Experiment, ...]
    quick: tuple[Reproduction, ...] = ()
    full: tuple[Reproduction, ...] = ()
    smoke: tuple[Reproduction, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "experiments", tuple(self.experiments))
        object.__setattr__(self, "quick", tuple(self.quick))
        object.__setattr__(self, "full", tuple(self.full))
        object.__setattr__(self, "smoke", tuple(self.smoke))
        names = {e.name for e in self.experiments}
        for rep in (*self.quick, *self.full, *self.smoke):
            if rep.experiment not in names:
                raise ValueError(
                    f"suite {self.package!r}: reproduction names unknown experiment "
                    f"{rep.experiment!r}."
                )


def load_suites() -> dict[str, ExperimentSuite]:
    """All installed suites, by package name, from the ``econcs.experiments`` entry points."""
    suites: dict[str, ExperimentSuite] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            suite = ep.load()
        except Exception as err:  # a broken plugin must not take the whole CLI down
            warnings.warn(
                f"cannot load experiments of {ep.name!r} ({ep.value}): {err}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if not isinstance(suite, ExperimentSuite):
            raise TypeError(f"entry point {ep.name!r} must point to an ExperimentSuite.")
        suites[suite.package] = suite
    return suites


def all_experiments(suites: Mapping[str, ExperimentSuite] | None = None) -> dict[str, Experiment]:
    suites = load_suites() if suites is None else suites
    return {e.name: e for s in suites.values() for e in s.experiments}


# ---------------------------------------------------------------------------------------------
# configs


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


def _build(cls: type, values: Mapping[tuple[str, ...], Any]) -> Any:
    hints = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for name, tp in hints.items():
        if is_params_type(tp):
            inner = {path[1:]: v for path, v in values.items() if path[0] == name}
            if inner:
                kwargs[name] = _build(tp, inner)
        elif (name,) in values:
            kwargs[name] = values[(name,)]
    return cls(**kwargs)


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


# ---------------------------------------------------------------------------------------------
# the run context


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder to write to; on success it is ``os.replace``d
    into ``path``, on an error it is removed and ``path`` is left as it was. So ``path`` never
    holds a half-written file (a run killed while saving keeps its previous checkpoint)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` it into place."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


class RunContext:
    """Everything an experiment's ``run`` uses to log, checkpoint, draw randomness and plot.

    Parameters
    ----------
    out_dir
        the run directory (created).
    seed
        the run's seed; every generator handed out derives from it and its name.
    device
        where tensors go (``torch.device``).
    quiet
        no progress bars.
    checkpoint_every
        how often (in the experiment's own steps) ``should_checkpoint`` says yes.
    resume
        load ``checkpoint.pt`` from ``out_dir`` when the experiment asks for it.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        quiet: bool = True,
        checkpoint_every: int = 0,
        resume: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.quiet = quiet
        self.checkpoint_every = int(checkpoint_every)
        self.resume = resume
        self._generators: dict[str, torch.Generator] = {}
        self._rngs: dict[str, np.random.Generator] = {}
        self._pending_torch: dict[str, torch.Tensor] = {}
        self._pending_numpy: dict[str, Any] = {}
        self.checkpoint_path = self.out_dir / "checkpoint.pt"
        self.metrics_path = self.out_dir / "metrics.jsonl"
        self.artifacts: dict[str, str] = {}

    # randomness -------------------------------------------------------------------------------
    def _derived_seed(self, name: str) -> int:
        digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
        return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)

    def generator(
        self, name: str = "default", device: torch.device | str | None = None
    ) -> torch.Generator:
        """The run's ``torch.Generator`` called ``name`` (made once; checkpointed with the run)."""
        key = name
        if key not in self._generators:
            dev = self.device if device is None else resolve_device(device)
            gen = torch.Generator(device=dev)
            gen.manual_seed(self._derived_seed(name))
            if key in self._pending_torch:
                gen.set_state(self._pending_torch.pop(key))
            self._generators[key] = gen
        return self._generators[key]

    def rng(self, name: str = "default") -> np.random.Generator:
        """The run's ``numpy.random.Generator`` called ``name`` (checkpointed with the run)."""
        if name not in self._rngs:
            rng = np.random.default_rng(self._derived_seed("numpy/" + name))
            if name in self._pending_numpy:
                rng.bit_generator.state = self._pending_numpy.pop(name)
            self._rngs[name] = rng
        return self._rngs[name]

    # logging ----------------------------------------------------------------------------------
    def log(self, step: int, **metrics: float) -> None:
        """Append one line to ``metrics.jsonl``; a NaN/inf metric raises ``DivergenceError``."""
        clean = {}
        for key, value in metrics.items():
            value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            if not math.isfinite(value):
                raise DivergenceError(
                    f"training diverged at step {step}: metric {key!r} is {value}. "
                    "Lower the learning rate or check the inputs."
                )
            clean[key] = value
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps({"step": int(step), **clean}) + "\n")

    def callback(self, log_every: int = 100, *, offset: int = 0) -> Callback:
        """The :class:`~econcs.shared.Callback` a trainer is given: logs the step's metrics every
        ``log_every`` steps and checkpoints ``state_fn()`` when :meth:`should_checkpoint` says so.

        ``offset`` is added to the trainer's step (a run made of several trainer calls logs one
        increasing step).
        """
        log_every = check_int(log_every, "log_every", low=1)

        def callback(step: int, metrics: Mapping[str, float], state_fn: StateFn) -> None:
            step = step + offset
            if step % log_every == 0:
                self.log(step, **metrics)
            if self.should_checkpoint(step):
                self.save_checkpoint(step, state_fn())

        return callback

    def progress(self, total: int, desc: str | None = None, initial: int = 0) -> tqdm:
        """A tqdm progress bar on stderr (silent when the run is quiet)."""
        return tqdm(
            total=total,
            desc=desc,
            initial=initial,
            disable=self.quiet,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
        )

    # checkpoints ------------------------------------------------------------------------------
    def should_checkpoint(self, step: int) -> bool:
        """True every ``checkpoint_every`` steps (never when it is 0)."""
        return self.checkpoint_every > 0 and step > 0 and step % self.checkpoint_every == 0

    def save_checkpoint(self, step: int, state: Mapping[str, Any]) -> None:
        """Atomically save ``state`` (tensors, numbers, strings, nested dicts/lists, e.g. model and
        optimizer ``state_dict()``s) with the states of all generators handed out so far."""
        payload = {
            "step": int(step),
            "state": dict(state),
            "torch_rng": {k: g.get_state() for k, g in self._generators.items()},
            "numpy_rng": json.dumps({k: r.bit_generator.state for k, r in self._rngs.items()}),
        }
        atomic_torch_save(payload, self.checkpoint_path)

    def load_checkpoint(self) -> tuple[int, dict[str, Any]] | None:
        """When resuming and a checkpoint exists: restore the generators and return ``(step, state)``.

        ``metrics.jsonl`` is cut back to the checkpoint's step, so the resumed log has no duplicates.
        """
        if not (self.resume and self.checkpoint_path.exists()):
            return None
        payload = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        for key, st in payload["torch_rng"].items():
            if key in self._generators:
                self._generators[key].set_state(st)
            else:
                self._pending_torch[key] = st
        for key, st in json.loads(payload["numpy_rng"]).items():
            if key in self._rngs:
                self._rngs[key].bit_generator.state = st
            else:
                self._pending_numpy[key] = st
        step = int(payload["step"])
        if self.metrics_path.exists():
            keep = [
                ln
                for ln in self.metrics_path.read_text().splitlines()
                if ln.strip() and json.loads(ln)["step"] <= step
            ]
            _atomic_write_text(self.metrics_path, "".join(ln + "\n" for ln in keep))
        state = payload["state"]
        return step, _to_device(state, self.device)

    # plots ------------------------------------------------------------------------------------
    @property
    def plots_enabled(self) -> bool:
        """True when matplotlib (the ``plot`` extra) is installed."""
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return False
        return True

    def read_metrics(self) -> list[dict[str, float]]:
        """The lines of ``metrics.jsonl`` logged so far (across a resume), oldest first."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(ln) for ln in self.metrics_path.read_text().splitlines() if ln.strip()]

    def plot_metrics(
        self, name: str, keys: Iterable[str], *, logy: bool = False, title: str | None = None
    ) -> str | None:
        """Plot logged metrics ``keys`` against the step as ``<name>.png`` (convergence curves).

        Returns the file's path, or ``None`` when matplotlib (the ``plot`` extra) is missing or
        nothing was logged.
        """
        rows = self.read_metrics()
        if not self.plots_enabled or not rows:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), label=key)
        ax.set_xlabel("step")
        if logy:
            ax.set_yscale("symlog", linthresh=1e-6)
        ax.legend()
        ax.set_title(title or name)
        return self.save_figure(fig, name)

    def save_figure(self, fig: Any, name: str) -> str:
        """Save a matplotlib figure as ``<out_dir>/<name>.png``, close it, and record the artifact."""
        import matplotlib.pyplot as plt

        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.artifacts[name] = path.name
        return str(path)


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# the runner


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """A finished run: what ``econcs run --json`` writes, plus where the run lives."""

    experiment: str
    config: dict[str, Any]
    metrics: dict[str, float]
    references: dict[str, Reference]
    seconds: float
    out_dir: str
    artifacts: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "config": _jsonable(self.config),
            "metrics": _jsonable(self.metrics),
            "references": {k: _jsonable(v) for k, v in self.references.items()},
            "seconds": self.seconds,
        }


def new_run_dir(root: str | Path, experiment: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(root) / experiment / stamp


def run_experiment(
    experiment: Experiment,
    config: Any,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    out_dir: str | Path | None = None,
    resume_dir: str | Path | None = None,
    quiet: bool = True,
    checkpoint_every: int | None = None,
) -> RunRecord:
    """Run ``experiment`` with ``config`` and write its run directory; return a ``RunRecord``.

    ``resume_dir`` continues a killed run from its last checkpoint (seed, device and config are taken
    from its ``config.json``; ``config`` is then ignored).
    """
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        saved_path = run_dir / "config.json"
        if not saved_path.exists():
            raise ConfigError(f"--resume: {run_dir} has no config.json; is it a run directory?")
        saved = json.loads(saved_path.read_text())
        if saved["experiment"] != experiment.name:
            raise ConfigError(
                f"--resume: {run_dir} is a run of {saved['experiment']!r}, not {experiment.name!r}."
            )
        config = config_from_overrides(experiment.config, saved["config"])
        seed = saved["seed"]
        checkpoint_every = saved.get("checkpoint_every", 0)
    else:
        run_dir = Path(out_dir) if out_dir is not None else new_run_dir("runs", experiment.name)
    if checkpoint_every is None:
        checkpoint_every = getattr(config, "checkpoint_every", 0) or 0
    ctx = RunContext(
        run_dir,
        seed=seed,
        device=device,
        quiet=quiet,
        checkpoint_every=checkpoint_every,
        resume=resume_dir is not None,
    )
    config_dict = dataclasses.asdict(config)
    if resume_dir is None:
        ctx.metrics_path.unlink(missing_ok=True)
        _atomic_write_text(
            run_dir / "config.json",
            json.dumps(
                _jsonable(
                    {
                        "experiment": experiment.name,
                        "config": config_dict,
                        "seed": seed,
                        "device": str(ctx.device),
                        "checkpoint_every": checkpoint_every,
                    }
                ),
                indent=2,
            ),
        )
    start = time.perf_counter()
    result = experiment.run(config, ctx)
    seconds = time.perf_counter() - start
    if not isinstance(result, ExperimentResult):
        raise TypeError(
            f"experiment {experiment.name!r} returned {type(result).__name__}, "
            "expected ExperimentResult."
        )
    for key, value in result.metrics.items():
        if not math.isfinite(value):
            raise DivergenceError(
                f"experiment {experiment.name!r}: final metric {key!r} is {value}."
            )
    artifacts = {**ctx.artifacts, **result.artifacts}
    record = RunRecord(
        experiment.name,
        config_dict,
        dict(result.metrics),
        dict(result.references),
        seconds,
        str(run_dir),
        artifacts,
    )
    _atomic_write_text(
        run_dir / "result.json",
        json.dumps({**record.to_json(), "artifacts": artifacts, "seed": seed}, indent=2),
    )
    return record
