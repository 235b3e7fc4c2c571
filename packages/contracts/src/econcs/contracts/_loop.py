"""The run loop shared by the contracts' DQN-style trainers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from econcs.shared import cpu_threads
from econcs.shared.validation import check_int


class SteppedTrainer:
    """Mixin: :meth:`run_steps` calls ``self.step()`` until ``self.iteration`` reaches the target.

    Subclasses set ``iteration``, ``n_iter`` (the configured total), ``num_threads`` and
    ``device``, and define ``step() -> dict[str, float]``.
    """

    iteration: int
    n_iter: int
    num_threads: int | None
    device: Any

    def run_steps(self, n_iter: int | None = None,
                  callback: Callable[[int, dict[str, float]], None] | None = None) -> None:
        """Step until ``n_iter`` (default: the configured total) iterations are done, calling
        ``callback(iteration, step_output)`` after each."""
        stop = self.n_iter if n_iter is None else check_int(n_iter, "n_iter", low=0)
        with cpu_threads(self.num_threads, self.device):
            while self.iteration < stop:
                out = self.step()
                if callback is not None:
                    callback(self.iteration, out)
