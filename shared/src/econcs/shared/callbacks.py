"""The one training-callback protocol of econcs, and the result every trainer returns.

A trainer calls ``callback(step, metrics, state_fn)`` after each of its steps:

- ``step`` -- the number of steps done so far (1-based, so ``step % k == 0`` every ``k`` steps);
- ``metrics`` -- the step's scalars (``{"revenue": 0.51, "regret": 3e-4}``);
- ``state_fn`` -- a function returning the trainer's full state (tensors, arrays, numbers, nested
  dicts) to checkpoint; the trainer's ``resume=(step, state)`` continues from it. Calling it is
  optional (it may copy tensors), so a callback calls it only when it saves.

:meth:`econcs.shared.RunContext.callback` is the callback experiments pass: it logs every
``log_every`` steps and checkpoints when the run's ``checkpoint_every`` says so.

Trainers that are not estimators (solvers, ``*.run``, ``*.train``) return a frozen result with a
``history``: a tuple of dicts, one per recorded step, each with a ``"step"`` key (see
:func:`history_tuple`). Estimators (``fit`` returns ``self``) keep the same tuple as ``history_``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Callback", "StateFn", "history_tuple"]

#: returns the full training state to checkpoint
StateFn = Callable[[], Mapping[str, Any]]


@runtime_checkable
class Callback(Protocol):
    """``callback(step, metrics, state_fn) -> None``, called by a trainer after each step."""

    def __call__(self, step: int, metrics: Mapping[str, float], state_fn: StateFn) -> None: ...


def history_tuple(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A ``history`` as results hold it: a tuple of plain dicts, each with an int ``"step"``.

    >>> history_tuple([{"step": 100, "loss": 0.5}])
    ({'step': 100, 'loss': 0.5},)
    """
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        if "step" not in row:
            raise ValueError(f"history[{i}]: expected a 'step' key, got keys {sorted(row)}.")
        row["step"] = int(row["step"])
        out.append(row)
    return tuple(out)
