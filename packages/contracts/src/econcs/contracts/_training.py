"""The run loop shared by the contracts' DQN-style trainers (deep tree-MDP and Coin Game).

Both trainers step one iteration at a time (environment steps, then one gradient step per
network), explore epsilon-greedily on the same linear schedule, call the one
:class:`~econcs.shared.Callback` protocol after each iteration and record a ``history`` row every
``history_every`` iterations.
"""

from __future__ import annotations

from typing import Any

import torch

from econcs.shared import Callback, cpu_threads
from econcs.shared.params import apply_renames
from econcs.shared.validation import check_int

#: released keywords of the trainers and their glossary names
RENAMES = {"n_iter": "max_iter", "n_layers": "layers"}


def generators(seed: int, device: torch.device, generator: torch.Generator | None,
               init_generator: torch.Generator | None) -> tuple[torch.Generator, torch.Generator]:
    """The sampling generator (on ``device``) and the CPU generator of the network initialisation:
    the ones given, else seeded from ``seed`` (sampling) and ``seed + 1`` (initialisation)."""
    seed = check_int(seed, "seed", low=0)
    if generator is None:
        generator = torch.Generator(device).manual_seed(seed)
    if init_generator is None:
        init_generator = torch.Generator().manual_seed(seed + 1)
    return generator, init_generator


def budget(max_iter: int | None, default: int, owner: str, old: dict[str, Any]) -> int:
    """The iteration target of a ``train(max_iter=...)`` call (``n_iter`` accepted, deprecated)."""
    old = apply_renames(dict(old), {"n_iter": "max_iter"}, owner)
    if set(old) - {"max_iter"}:
        raise TypeError(f"{owner}: unexpected keyword(s) {', '.join(sorted(set(old) - {'max_iter'}))}.")
    if "max_iter" in old:
        if max_iter is not None:
            raise TypeError(f"{owner}: got both 'n_iter' and 'max_iter'; use 'max_iter'.")
        max_iter = old["max_iter"]
    return default if max_iter is None else check_int(max_iter, "max_iter", low=0)


class SteppedTrainer:
    """Mixin: :meth:`run_steps` calls ``self.step()`` until ``self.iteration`` reaches the target.

    Subclasses set ``params`` (with ``max_iter``, ``batch_size``, ``target_every`` and the
    ``eps_*`` schedule), ``iteration``, ``buf_len``, ``_history`` (a list of rows),
    ``history_every``, ``num_threads`` and ``device``, and define ``_collect(eps)``,
    ``_learn_step() -> dict[str, float]``, ``_sync_targets()``, ``_train_result()`` and
    ``state_dict()``.
    """

    params: Any
    iteration: int
    buf_len: int
    _history: list[dict[str, float]]
    history_every: int
    num_threads: int | None
    device: Any

    def epsilon(self) -> float:
        """The exploration rate of this iteration: linear from ``eps_start`` to ``eps_end`` over
        the first ``eps_decay`` of the run, then constant."""
        p = self.params
        frac = min(1.0, self.iteration / max(1.0, p.eps_decay * p.max_iter))
        return p.eps_start + frac * (p.eps_end - p.eps_start)

    def record(self, step: int, out: dict[str, float]) -> None:
        """Append ``{"step": step, **out}`` to the history every ``history_every`` steps."""
        if step % self.history_every == 0:
            self._history.append({"step": step, **out})

    def step(self) -> dict[str, float]:
        """One iteration: one environment step of every game (epsilon-greedy), one gradient step
        once the replay buffer holds a minibatch, the target networks synced every
        ``target_every`` iterations."""
        eps = self.epsilon()
        self._collect(eps)
        out = {"epsilon": eps}
        if self.buf_len >= self.params.batch_size:
            out.update(self._learn_step())
        self.iteration += 1
        if self.iteration % self.params.target_every == 0:
            self._sync_targets()
        return out

    def train(self, *, max_iter: int | None = None, callback: Callback | None = None,
              **renamed):
        """Run until ``max_iter`` (default: ``params.max_iter``) iterations are done, calling
        ``callback(iteration, step_output, state_fn)`` after each (``n_iter``: deprecated);
        returns the trainer's frozen result."""
        stop = budget(max_iter, self.params.max_iter, f"{type(self).__name__}.train", renamed)
        self.run_steps(stop, callback)
        return self._train_result()

    def run_steps(self, stop: int, callback: Callback | None = None) -> None:
        """Step until ``stop`` iterations are done, calling ``callback(iteration, step_output,
        self.state_dict)`` after each."""
        with cpu_threads(self.num_threads, self.device):
            while self.iteration < stop:
                out = self.step()
                self.record(self.iteration, out)
                if callback is not None:
                    callback(self.iteration, out, self.state_dict)
