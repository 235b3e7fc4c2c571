"""Engines: where the runs of ``econcs reproduce`` and ``econcs sweep`` execute.

``local`` (the default) runs the specs in this process (``jobs=1``) or in a pool of ``jobs`` worker
processes, one per CPU core by default. ``ray`` submits each spec as a Ray Core task (the
``econcs-shared[ray]`` extra) to a local Ray instance or to the cluster at ``address``; a worker or
node that dies is retried up to ``max_retries`` times and resumes its own checkpoint, since the
driver chose every run directory before submitting (on a filesystem the nodes share; results are
files there, never objects in Ray's store). Both engines call the same worker, :func:`run_spec`, and
a Python exception in a run marks that run failed with its message and is never retried.

Nothing here imports Ray unless the ``ray`` engine is used.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from econcs.shared.engines._specs import (
    SWEEP_FILE,
    RunSpec,
    expand_sweep,
    finished_result,
    parse_axes,
    read_sweep,
    references_of,
    run_spec,
    split_values,
    summarize,
    write_sweep,
)
from econcs.shared.errors import ConfigError
from econcs.shared.experiments import Experiment

__all__ = [
    "ENGINES",
    "RAY_INSTALL_HINT",
    "SWEEP_FILE",
    "EngineOptions",
    "RunSpec",
    "available_cpus",
    "check_address",
    "check_placement",
    "expand_sweep",
    "finished_result",
    "import_ray",
    "parse_axes",
    "read_sweep",
    "references_of",
    "run_spec",
    "run_specs",
    "split_values",
    "summarize",
    "write_sweep",
]

ENGINES = ("local", "ray")
RAY_INSTALL_HINT = (
    "--engine ray needs Ray, which is not installed: pip install 'econcs-shared[ray]' "
    "(in the workspace: uv sync --all-packages --extra ray)."
)

OnDone = Callable[[dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """How to run the specs.

    ``jobs``: local worker processes, or the CPUs of a local Ray instance (0: every core).
    ``threads``: PyTorch CPU threads per run (0: PyTorch's default locally, ``cpus_per_run`` on
    Ray). ``address``: the Ray cluster (``host:port``, ``ray://host:port``, ``auto``; ``None``
    starts a local instance). ``cpus_per_run`` / ``gpus_per_run``: Ray resources per task (a
    fraction of a GPU packs small networks on one device). ``max_retries``: how often Ray retries a
    run whose worker or node died. ``timeout_s``: a run not back by then is failed (``None``: wait).
    """

    engine: str = "local"
    jobs: int = 0
    threads: int = 1
    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    max_retries: int = 3
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine: expected one of {', '.join(ENGINES)}, got {self.engine!r}.")
        for name, low in (("jobs", 0), ("threads", 0), ("max_retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"--{name.replace('_', '-')}: expected an integer >= {low}, "
                                  f"got {value!r}.")
        if not (math.isfinite(self.cpus_per_run) and self.cpus_per_run > 0):
            raise ConfigError(f"--cpus-per-run: expected a number > 0, got {self.cpus_per_run}.")
        g = self.gpus_per_run
        if not (math.isfinite(g) and g >= 0) or (g > 1 and g != int(g)):
            raise ConfigError(
                f"--gpus-per-run: expected 0, a fraction in (0, 1] or a whole number, got {g}."
            )
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"timeout_s: expected a positive number or None, got {self.timeout_s}.")
        if self.engine == "local":
            ray_only = [("--address", self.address is not None), ("--gpus-per-run", g > 0),
                        ("--cpus-per-run", self.cpus_per_run != 1.0)]
            given = [name for name, set_ in ray_only if set_]
            if given:
                raise ConfigError(f"{', '.join(given)}: only with --engine ray (the local engine "
                                  "runs one single-threaded run per core; see --jobs).")


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask on Linux)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def run_specs(
    specs: Sequence[RunSpec],
    options: EngineOptions | None = None,
    *,
    experiments: Mapping[str, Experiment] | None = None,
    on_done: OnDone | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``specs`` on the chosen engine; return ``{spec.id: result}`` (see :func:`run_spec`).

    Specs whose run directory already holds a ``result.json`` are not run again (their result is
    read back, ``"skipped": True``). ``experiments`` is used by runs in this process (``jobs=1``);
    worker processes and Ray tasks look experiments up in the installed registry.
    ``on_done(result)`` is called as each run comes back.
    """
    options = EngineOptions() if options is None else options
    results: dict[str, dict[str, Any]] = {}

    def done(result: dict[str, Any]) -> None:
        results[result["id"]] = result
        if on_done is not None:
            on_done(result)

    todo = []
    for spec in specs:
        if spec.finished:
            done(finished_result(spec))
        else:
            todo.append(spec)
    if todo:
        if options.engine == "ray":
            from econcs.shared.engines._ray import run_on_ray

            run_on_ray(todo, options, done)
        else:
            _run_local(todo, options, experiments, done)
    return {s.id: results[s.id] for s in specs}


def _init_worker(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_local(specs: Sequence[RunSpec], options: EngineOptions,
               experiments: Mapping[str, Experiment] | None, done: OnDone) -> None:
    jobs = min(options.jobs or available_cpus(), len(specs))
    if jobs <= 1:
        for spec in specs:
            done(run_spec(spec, experiments))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # torch and HiGHS are not fork-safe
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(options.threads,)) as pool:
        futures = {pool.submit(run_spec, spec.to_json()): spec for spec in specs}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=options.timeout_s, return_when="FIRST_COMPLETED")
            if not finished:  # timed out
                for fut in pending:
                    fut.cancel()
                    done(_lost(futures[fut], f"no result within {options.timeout_s} s"))
                break
            for fut in finished:
                try:
                    done(fut.result())
                except BrokenProcessPool as err:  # a worker process died: resume with --resume
                    done(_lost(futures[fut], f"worker process died ({err}); rerun with --resume "
                               "to continue from the run's checkpoint"))


def _lost(spec: RunSpec, message: str) -> dict[str, Any]:
    return {"id": spec.id, "run_dir": spec.run_dir, "status": "failed", "error": message,
            "seconds": math.nan}


# ---------------------------------------------------------------------------------------------
# Ray: the checks made before anything is submitted


def import_ray():
    """Import Ray (with Ray's ``uv run`` runtime-env hook off unless the user set it: workers use
    this very environment, installed on every node); ``ConfigError`` with the install line when
    Ray is missing."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_INSTALL_HINT) from None
    return ray


def check_address(address: str | None, timeout: float = 5.0) -> None:
    """``ConfigError`` unless something listens at ``address`` (``host[:port]`` or
    ``ray://host:port``; ``None`` and ``auto`` are not checked), so an unreachable head fails in
    seconds instead of after Ray's own connection timeout."""
    if address is None or address == "auto":
        return
    text = address.removeprefix("ray://")
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, "6379"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--address: expected host:port, got {address!r}.") from None
    if not host or not 0 < port < 65536:
        raise ConfigError(f"--address: expected host:port, got {address!r}.")
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
    except OSError as err:
        raise ConfigError(
            f"--address {address}: cannot reach a Ray head there ({err}). Start one with "
            "`ray start --head --port 6379` and pass its host:port."
        ) from None


def check_placement(nodes: Sequence[Mapping[str, float]], cpus_per_run: float,
                    gpus_per_run: float) -> None:
    """``ConfigError`` when no single node of the cluster (``nodes``: each alive node's resources,
    as in ``ray.nodes()``) can hold one run: Ray would queue such tasks forever."""
    if not nodes:
        raise ConfigError("the Ray cluster has no alive nodes.")
    total_gpus = sum(n.get("GPU", 0.0) for n in nodes)
    total_cpus = sum(n.get("CPU", 0.0) for n in nodes)
    have = f"{len(nodes)} node(s), {total_cpus:g} CPUs, {total_gpus:g} GPUs"
    if gpus_per_run > 0 and total_gpus == 0:
        raise ConfigError(
            f"--gpus-per-run {gpus_per_run:g}: the Ray cluster has no GPUs ({have}); nothing was "
            "submitted. Drop --gpus-per-run to run on CPUs, or add GPU nodes."
        )
    fits = [n for n in nodes
            if n.get("CPU", 0.0) >= cpus_per_run and n.get("GPU", 0.0) >= gpus_per_run]
    if not fits:
        raise ConfigError(
            f"--cpus-per-run {cpus_per_run:g} --gpus-per-run {gpus_per_run:g}: no node of the Ray "
            f"cluster has that much ({have}; the largest node has "
            f"{max(n.get('CPU', 0.0) for n in nodes):g} CPUs, "
            f"{max(n.get('GPU', 0.0) for n in nodes):g} GPUs); nothing was submitted."
        )
