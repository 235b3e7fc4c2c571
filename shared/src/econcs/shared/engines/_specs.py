"""Run specs, ``sweep.json``, sweep axes and the worker function every engine calls.

The driver turns ``econcs reproduce`` rows or ``econcs sweep`` points into :class:`RunSpec` s (the
experiment, its overrides, the seed and the run directory, all chosen before anything is
submitted), writes them to ``<sweep>/sweep.json`` and hands them to an engine. Whatever the engine,
a run is :func:`run_spec` -- ``run_experiment(..., out_dir=spec.run_dir, resume=True)`` -- so a
retried task continues its own checkpoint, and a finished run (its ``result.json``) is skipped on
``--resume``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import socket
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from econcs.shared.configs import _flat_fields, config_from_overrides
from econcs.shared.errors import ConfigError, DivergenceError
from econcs.shared.experiments import Experiment, Reference, all_experiments, run_experiment
from econcs.shared.run_context import _atomic_write_text, _jsonable

__all__ = [
    "SWEEP_FILE",
    "RunSpec",
    "expand_sweep",
    "parse_axes",
    "read_sweep",
    "run_spec",
    "split_values",
    "summarize",
    "write_sweep",
]

SWEEP_FILE = "sweep.json"
_KIND = "econcs-sweep"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: small, JSON-able, and complete (a worker needs nothing else).

    ``run_dir`` is absolute and chosen by the driver; ``overrides`` are config fields as strings
    (parsed by the field's type) or JSON values.
    """

    id: str
    experiment: str
    overrides: Mapping[str, Any]
    seed: int
    run_dir: str
    device: str = "auto"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "overrides": _jsonable(dict(self.overrides)),
            "seed": self.seed,
            "run_dir": self.run_dir,
            "device": self.device,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        return cls(
            str(data["id"]),
            str(data["experiment"]),
            dict(data.get("overrides", {})),
            int(data["seed"]),
            str(data["run_dir"]),
            str(data.get("device", "auto")),
        )

    @property
    def finished(self) -> bool:
        """True when the run directory holds a ``result.json`` (skipped on ``--resume``)."""
        return (Path(self.run_dir) / "result.json").exists()


# ---------------------------------------------------------------------------------------------
# the worker

_EXPERIMENTS: dict[str, Experiment] | None = None  # a worker process loads the registry once


def _lookup(name: str, experiments: Mapping[str, Experiment] | None) -> Experiment:
    global _EXPERIMENTS
    if experiments is None:
        if _EXPERIMENTS is None:
            _EXPERIMENTS = all_experiments()
        experiments = _EXPERIMENTS
    if name not in experiments:
        raise ConfigError(
            f"unknown experiment {name!r} on {socket.gethostname()}; is its package installed "
            "on every node?"
        )
    return experiments[name]


def run_spec(
    spec: RunSpec | Mapping[str, Any],
    experiments: Mapping[str, Experiment] | None = None,
    threads: int = 0,
    node: str | None = None,
) -> dict[str, Any]:
    """Run one spec (resuming its run directory) and return a small dict: ``status`` ``"ok"``
    with the metrics, references and seconds, or ``"failed"`` with the error's message (the
    traceback goes to ``<run_dir>/error.txt``). A Python exception never escapes, so no engine
    retries it; only a dead worker is retried, and it resumes its checkpoint.

    ``experiments`` (name -> Experiment) defaults to the installed registry; ``threads > 0`` sets
    PyTorch's CPU threads first. ``node`` (the Ray node ID, given by the Ray engine) is recorded
    with the host and process of each attempt in ``<run_dir>/attempts.jsonl`` and in the result.
    """
    if not isinstance(spec, RunSpec):
        spec = RunSpec.from_json(spec)
    run_dir = Path(spec.run_dir)
    start = time.perf_counter()
    base = {"id": spec.id, "run_dir": spec.run_dir, "host": socket.gethostname(), "pid": os.getpid()}
    if node is not None:
        base["node"] = node
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with (run_dir / "attempts.jsonl").open("a") as fh:  # one line per start of this run
            fh.write(json.dumps({**base, "time": datetime.now().isoformat()}) + "\n")
        if threads:
            import torch

            torch.set_num_threads(threads)
        exp = _lookup(spec.experiment, experiments)
        config = config_from_overrides(exp.config, dict(spec.overrides))
        record = run_experiment(exp, config, seed=spec.seed, device=spec.device,
                                out_dir=run_dir, quiet=True, resume=True)
    except Exception as err:
        message = str(err) if isinstance(err, DivergenceError) else f"{type(err).__name__}: {err}"
        try:
            (run_dir / "error.txt").write_text(traceback.format_exc())
        except OSError:
            pass
        return {**base, "status": "failed", "error": message,
                "seconds": time.perf_counter() - start}
    return {
        **base,
        "status": "ok",
        "metrics": dict(record.metrics),
        "references": {k: _jsonable(v) for k, v in record.references.items()},
        "artifacts": dict(record.artifacts),
        "seconds": record.seconds,
        "resumed_from": record.resumed_from,
    }


def finished_result(spec: RunSpec) -> dict[str, Any]:
    """The result dict of a spec whose ``result.json`` exists (a skipped row on ``--resume``)."""
    saved = json.loads((Path(spec.run_dir) / "result.json").read_text())
    return {"id": spec.id, "run_dir": spec.run_dir, "status": "ok", "skipped": True,
            "metrics": saved["metrics"], "references": saved.get("references", {}),
            "artifacts": saved.get("artifacts", {}), "seconds": saved.get("seconds", 0.0),
            "resumed_from": saved.get("resumed_from")}


def references_of(result: Mapping[str, Any]) -> dict[str, Reference]:
    return {k: Reference(**v) for k, v in result.get("references", {}).items()}


# ---------------------------------------------------------------------------------------------
# sweep.json


def write_sweep(sweep_dir: str | Path, specs: Sequence[RunSpec], **meta: Any) -> Path:
    """Write ``<sweep_dir>/sweep.json``: ``meta`` (what the report needs) and every spec."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / SWEEP_FILE
    payload = {"kind": _KIND, "version": 1, "created": datetime.now().isoformat(),
               **_jsonable(meta), "specs": [s.to_json() for s in specs]}
    _atomic_write_text(path, json.dumps(payload, indent=2))
    return path


def read_sweep(sweep_dir: str | Path, command: str | None = None) -> tuple[dict, list[RunSpec]]:
    """``(meta, specs)`` of a sweep directory; ``ConfigError`` when it is not one (of ``command``)."""
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"--resume: {sweep_dir} is not a sweep directory (no {SWEEP_FILE}).")
    try:
        meta = json.loads(path.read_text())
        if meta.get("kind") != _KIND:
            raise ValueError("not an econcs sweep")
        specs = [RunSpec.from_json(s) for s in meta.pop("specs")]
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"--resume: {path} is not a valid {SWEEP_FILE} ({err}).") from None
    if command is not None and meta.get("command") != command:
        raise ConfigError(
            f"--resume: {sweep_dir} is a sweep of `econcs {meta.get('command')}`, not of "
            f"`econcs {command}`."
        )
    return meta, specs


# ---------------------------------------------------------------------------------------------
# sweep axes: key=v1,v2  key=a..b  seed=0..4


def split_values(text: str) -> list[str]:
    """Split ``v1,v2`` at commas outside brackets and parentheses; ``[a,b]`` items lose their
    brackets (a list-valued field: ``hidden=[64,64],[128]``), ``uniform(0,1)`` keeps its comma."""
    items, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            raise ConfigError(f"empty value in {text!r}.")
        out.append(item[1:-1].strip() if item.startswith("[") and item.endswith("]") else item)
    return out


def _int_range(text: str, key: str) -> list[str] | None:
    lo, sep, hi = text.partition("..")
    if not sep:
        return None
    try:
        a, b = int(lo), int(hi)
    except ValueError:
        raise ConfigError(f"{key}: a range is a..b with integers, got {text!r}.") from None
    if b < a:
        raise ConfigError(f"{key}: empty range {text!r} (a..b includes both ends, a <= b).")
    return [str(i) for i in range(a, b + 1)]


def parse_axes(
    experiment: Experiment, items: Iterable[str]
) -> tuple[dict[str, list[str]], list[int]]:
    """``key=v1,v2`` / ``key=a..b`` items -> ``({key: [value, ...]}, seeds)``; ``seed`` defaults to
    ``[0]``. Every value is parsed by its field's type here, so a bad one fails before any run."""
    axes: dict[str, list[str]] = {}
    seeds = [0]
    fields = _flat_fields(experiment.config)
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"expected key=v1,v2,... or key=a..b, got {item!r}.")
        values = _int_range(text.strip(), key)
        if values is None:
            values = split_values(text)
        if key == "seed":
            try:
                seeds = [int(v) for v in values]
            except ValueError:
                raise ConfigError(f"seed: expected integers, got {text!r}.") from None
            if min(seeds) < 0:
                raise ConfigError(f"seed: expected non-negative integers, got {text!r}.")
            continue
        if key in axes:
            raise ConfigError(f"{key}: given twice.")
        if ".." in text and key in fields and fields[key][1] is not int:
            raise ConfigError(f"{key}: a..b ranges are for integer fields.")
        for value in values:  # unknown key, unparsable value, or one the config rejects
            config_from_overrides(experiment.config, [f"{key}={value}"])
        axes[key] = values
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seed: repeated seeds {seeds}.")
    return axes, seeds


def expand_sweep(
    experiment: Experiment,
    axes: Mapping[str, Sequence[str]],
    seeds: Sequence[int],
    sweep_dir: str | Path,
    device: str = "auto",
) -> tuple[list[dict[str, Any]], list[RunSpec]]:
    """The grid of ``axes`` (their product) times ``seeds``: ``(points, specs)``. Point ``i`` runs
    in ``<sweep_dir>/point-i/seed-s``; every combination is validated by the config first."""
    sweep_dir = Path(sweep_dir).resolve()
    keys = list(axes)
    points, specs = [], []
    for i, combo in enumerate(itertools.product(*(axes[k] for k in keys))):
        overrides = dict(zip(keys, combo))
        config_from_overrides(experiment.config, [f"{k}={v}" for k, v in overrides.items()])
        point = {"index": i, "overrides": overrides, "specs": []}
        for seed in seeds:
            spec = RunSpec(f"point-{i:03d}/seed-{seed}", experiment.name, overrides, seed,
                           str(sweep_dir / f"point-{i:03d}" / f"seed-{seed}"), device)
            specs.append(spec)
            point["specs"].append(spec.id)
        points.append(point)
    return points, specs


def summarize(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, standard error, n)`` of finite ``values``; SE is ``sd / sqrt(n)`` with the ``n - 1``
    sample deviation (NaN for fewer than two values)."""
    vals = [float(v) for v in values if math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(vals) / n
    if n < 2:
        return mean, math.nan, n
    var = sum((v - mean) ** 2 for v in vals) / (n - 1)
    return mean, math.sqrt(var / n), n
