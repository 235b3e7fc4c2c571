"""The Ray engine: each run spec is one Ray Core task calling :func:`run_spec`.

Connects to ``options.address`` (or starts a local instance with ``options.jobs`` CPUs), refuses a
resource request no node can hold, submits every spec with ``max_retries`` (a dead worker or node
is retried and resumes its checkpoint; ``retry_exceptions=False``, and :func:`run_spec` returns
Python errors as failed results anyway) and collects the small result dicts with a timeout on
every wait. Imported only when ``--engine ray`` is chosen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from econcs.shared.engines import (
    EngineOptions,
    _lost,
    available_cpus,
    check_address,
    check_placement,
    import_ray,
)
from econcs.shared.engines._specs import RunSpec, run_spec
from econcs.shared.errors import ConfigError

__all__ = ["connect", "run_on_ray"]


def _run_on_node(spec: dict[str, Any], threads: int) -> dict[str, Any]:
    """The Ray task: :func:`run_spec` with the ID of the node it runs on (in the result and in
    ``attempts.jsonl``, so a retry on another node shows where each attempt ran)."""
    import ray

    return run_spec(spec, None, threads, node=ray.get_runtime_context().get_node_id())


def connect(options: EngineOptions) -> bool:
    """Make sure Ray is initialised; return True when this call started it (and must shut it
    down). An unreachable address or a refused token is a ``ConfigError``."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    check_address(options.address)
    kwargs: dict[str, Any] = {"log_to_driver": False}
    if options.address is None:
        kwargs.update(num_cpus=options.jobs or available_cpus(), include_dashboard=False)
    try:
        ray.init(address=options.address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray"
        raise ConfigError(f"cannot start or reach {where}: {type(err).__name__}: {err}") from None
    return True


def run_on_ray(specs: Sequence[RunSpec], options: EngineOptions,
               done: Callable[[dict[str, Any]], None]) -> None:
    ray = import_ray()
    started = connect(options)
    try:
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        check_placement(nodes, options.cpus_per_run, options.gpus_per_run)
        threads = options.threads or max(int(options.cpus_per_run), 1)
        task = ray.remote(_run_on_node).options(
            num_cpus=options.cpus_per_run,
            num_gpus=options.gpus_per_run,
            max_retries=options.max_retries,
            retry_exceptions=False,
        )
        refs = {task.remote(spec.to_json(), threads): spec for spec in specs}
        deadline = math.inf if options.timeout_s is None else time.monotonic() + options.timeout_s
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in ready:
                try:
                    done(ray.get(ref, timeout=60))
                except ray.exceptions.RayError as err:  # died more than max_retries times
                    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                    done(_lost(refs[ref], f"{type(err).__name__} after {options.max_retries} "
                               f"retries: {first}; rerun with --resume to continue"))
            if pending and time.monotonic() > deadline:
                for ref in pending:
                    ray.cancel(ref, force=True)
                    done(_lost(refs[ref], f"no result within {options.timeout_s} s"))
                break
    finally:
        if started:
            ray.shutdown()
