"""The run context: everything an experiment's ``run(config, ctx)`` logs, checkpoints and draws.

A :class:`RunContext` owns one run directory: ``metrics.jsonl`` (one line per :meth:`RunContext.log`;
a NaN or infinite metric raises :class:`~econcs.shared.DivergenceError`), ``checkpoint.pt`` (written
atomically, read with ``torch.load(weights_only=True)``; it holds the states of every generator the
context handed out, so a resumed run continues the same random streams) and plots.
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
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from econcs.shared.callbacks import Callback, StateFn
from econcs.shared.device import resolve_device
from econcs.shared.errors import DivergenceError
from econcs.shared.validation import check_int

__all__ = ["RunContext", "atomic_torch_save", "atomic_write"]


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
        self.resumed_from: int | None = None  # the checkpoint's step, once a resume loaded it

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
        _maybe_inject_fault(step)

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
        self.resumed_from = step
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


FAULT_ENV = "ECONCS_FAULT_FILE"


def _maybe_inject_fault(step: int) -> None:
    """Fault injection for the engines' tests: with ``$ECONCS_FAULT_FILE=PATH`` set, the first
    process to save a checkpoint while ``PATH`` exists takes the file (an atomic rename) and, as the
    file says, ``exit``s at once (``os._exit``: a killed worker) or ``raise``s a ``RuntimeError``
    (a Python error in the run), or ``sleep SECONDS`` (a slow run, for a test to kill its node).
    Unset, it costs one environment lookup per checkpoint."""
    path = os.environ.get(FAULT_ENV)
    if not path:
        return
    taken = f"{path}.taken-{os.getpid()}"
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return
    mode = Path(taken).read_text().strip()
    if mode == "exit":
        os._exit(77)
    if mode.startswith("sleep "):  # a long run: time to kill its node
        time.sleep(float(mode.split()[1]))
        return
    raise RuntimeError(f"injected fault ({mode!r}) after the checkpoint at step {step}")


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj
