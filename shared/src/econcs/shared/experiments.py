"""Experiments: the registry every package plugs into, and the runner behind ``econcs run``.

A package publishes an ``ExperimentSuite`` under the entry-point group ``econcs.experiments``.
Each ``Experiment`` pairs a config dataclass (typed fields with defaults, usually a frozen
:class:`~econcs.shared.Params` that nests the algorithm's parameters; see
:mod:`econcs.shared.configs`) with a function ``run(config, ctx) -> ExperimentResult``.
:func:`run_experiment` makes the run directory ``runs/<experiment>/<timestamp>/`` and the
:class:`~econcs.shared.RunContext` (:mod:`econcs.shared.run_context`) that owns what the run writes:
``config.json`` (the config, seed and device), ``metrics.jsonl``, ``result.json`` (metrics and
references), ``checkpoint.pt`` and plots. A killed run resumed from its directory ends with exactly
the metrics of an uninterrupted run with the same seed; a non-finite final metric raises
``DivergenceError``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

import torch

from econcs.shared.configs import config_from_overrides, config_help
from econcs.shared.errors import ConfigError, DivergenceError
from econcs.shared.run_context import (
    RunContext,
    _atomic_write_text,
    _jsonable,
    atomic_torch_save,
    atomic_write,
)
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
    "atomic_torch_save",
    "atomic_write",
    "config_from_overrides",
    "config_help",
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
    10-minute, 2-core budget); ``full`` those of ``--full`` (each row within an hour on 2 CPU
    cores: the paper's budget, or a reduced one with its tolerance stated in the row); ``paper``
    those of ``--paper``, the paper-scale rows that outgrow that hour (for a GPU or a Ray cluster:
    ``econcs reproduce --paper --engine ray``); ``smoke`` tiny runs (a few seconds each) that the
    integration tests make through the CLI.
    """

    package: str
    experiments: tuple[Experiment, ...]
    quick: tuple[Reproduction, ...] = ()
    full: tuple[Reproduction, ...] = ()
    smoke: tuple[Reproduction, ...] = ()
    paper: tuple[Reproduction, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "experiments", tuple(self.experiments))
        object.__setattr__(self, "quick", tuple(self.quick))
        object.__setattr__(self, "full", tuple(self.full))
        object.__setattr__(self, "smoke", tuple(self.smoke))
        object.__setattr__(self, "paper", tuple(self.paper))
        names = {e.name for e in self.experiments}
        for rep in (*self.quick, *self.full, *self.smoke, *self.paper):
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
    resumed_from: int | None = None  # the checkpoint step a resumed run continued from

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
    resume: bool = False,
) -> RunRecord:
    """Run ``experiment`` with ``config`` and write its run directory; return a ``RunRecord``.

    ``resume_dir`` continues a killed run from its last checkpoint (seed, device and config are taken
    from its ``config.json``; ``config`` is then ignored). ``resume=True`` with ``out_dir`` does so
    when ``out_dir`` already holds a run (its ``config.json``) and starts a fresh run there
    otherwise: what the engines' workers call, so that a retried task continues its own
    checkpoint. A resumed run without a checkpoint starts over with an empty ``metrics.jsonl``; one
    with a checkpoint has its ``metrics.jsonl`` cut back to the checkpoint's step.
    """
    if resume and resume_dir is None and out_dir is not None:
        if (Path(out_dir) / "config.json").exists():
            resume_dir = out_dir
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
    if resume_dir is None or not ctx.checkpoint_path.exists():
        ctx.metrics_path.unlink(missing_ok=True)  # no checkpoint to continue: the log starts over
    if resume_dir is None:
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
        ctx.resumed_from,
    )
    _atomic_write_text(
        run_dir / "result.json",
        json.dumps({**record.to_json(), "artifacts": artifacts, "seed": seed,
                    "resumed_from": ctx.resumed_from}, indent=2),
    )
    return record
