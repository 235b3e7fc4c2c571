"""What the sampling learners (ABCs, Boltzmann Q-learning, MCCFR) share: one run loop and its result.

A sampling learner runs in *rounds* (``iterate()``: one traversal per player) and counts its budget in
*nodes touched* (D'Amico-Wong et al. 2024, arXiv 2402.11835, sec. 5: the unit that makes ABCs, MCCFR
and Q-learning comparable). :class:`SamplingLearner` runs rounds until a round or node budget, evaluates
every ``eval_every_nodes`` nodes (when ``nodes_touched // eval_every_nodes`` moves on) and at the end,
calls the shared :class:`~econcs.shared.Callback` after each round, and returns a
:class:`SamplingResult`. Subclasses provide ``iterate``, ``evaluate``, ``state_dict``, the policy of
the result and the recursion depth their traversals need.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from econcs.abcs._policy import Policy
from econcs.shared import Callback, check_int, history_tuple

__all__ = ["SamplingLearner", "SamplingResult"]


@dataclass(frozen=True)
class SamplingResult:
    """What a sampling learner's ``run`` returns.

    Attributes
    ----------
    policy
        the average policy (games) or ``None`` (other environments).
    iterations
        traversal rounds run so far.
    nodes_touched
        nodes touched so far (the budget unit).
    metric
        the final metric (exploitability for games, expected return for MDPs; NaN if none).
    seconds
        wall-clock time of this call.
    history
        one dict per evaluation: ``{"step": rounds, "nodes_touched": ..., <metric>: ...}``
        (``<metric>`` is ``exploitability`` or ``return``), the last one at the end of the call.
    metrics
        all final metrics by name (e.g. ``exploitability``, ``return``).
    """

    policy: Policy | None
    iterations: int
    nodes_touched: int
    metric: float
    seconds: float
    history: tuple[dict[str, Any], ...] = field(default=())
    metrics: dict[str, float] = field(default_factory=dict)


class SamplingLearner:
    """Base of the sampling learners: the budgeted run loop (see the module docstring).

    Subclasses set ``rng``, ``iteration`` and ``nodes_touched`` and define :meth:`iterate`,
    :meth:`evaluate`, :meth:`state_dict`, :meth:`_result_policy`, :meth:`_recursion_limit` and
    :attr:`metric_key`.
    """

    rng: np.random.Generator
    iteration: int
    nodes_touched: int

    # what a subclass provides -----------------------------------------------------------------
    def iterate(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, rng: np.random.Generator | None = None) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover - abstract

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def metric_key(self) -> str:  # pragma: no cover - abstract
        """The name of the learner's headline metric (``exploitability`` or ``return``)."""
        raise NotImplementedError

    def _result_policy(self) -> Policy | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _recursion_limit(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_budget(self, budget_nodes: float) -> None:
        """Told the node budget before a run (ABCs stops expanding past it)."""

    # the run loop -----------------------------------------------------------------------------
    def run(self, *, max_iter: int | None = None, budget_nodes: int | None = None,
            eval_every_nodes: int = 0, callback: Callback | None = None,
            eval_rng: np.random.Generator | None = None) -> SamplingResult:
        """Run rounds until ``max_iter`` more rounds or ``budget_nodes`` total nodes touched.

        Parameters
        ----------
        max_iter
            rounds to run in this call (None: no limit; at least one of the two budgets is
            required).
        budget_nodes
            stop once this many nodes (in total) have been touched.
        eval_every_nodes
            evaluate each time ``nodes_touched // eval_every_nodes`` grows (0: at the end only).
        callback
            ``callback(step, metrics, state_fn)`` after each round: ``step`` the rounds run so
            far, ``metrics`` ``{"nodes_touched": ...}`` plus the metric when it was evaluated
            after this round, ``state_fn`` :meth:`state_dict`.
        eval_rng
            draws the evaluation episodes (CartPole); default the learner's own generator, so
            pass a separate one to keep evaluations from changing the training run.
        """
        if max_iter is None and budget_nodes is None:
            raise ValueError("max_iter, budget_nodes: give at least one of them.")
        if max_iter is not None:
            max_iter = check_int(max_iter, "max_iter", low=0)
        if budget_nodes is not None:
            budget_nodes = check_int(budget_nodes, "budget_nodes", low=0)
        eval_every_nodes = check_int(eval_every_nodes, "eval_every_nodes", low=0)
        start = time.perf_counter()
        key = self.metric_key
        self._set_budget(np.inf if budget_nodes is None else budget_nodes)
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, self._recursion_limit()))
        history = []
        bucket = self.nodes_touched // eval_every_nodes if eval_every_nodes else 0
        done = 0
        last: tuple[int, dict[str, float]] | None = None  # (iteration, evaluation) of the last one
        try:
            while (max_iter is None or done < max_iter) and (
                    budget_nodes is None or self.nodes_touched < budget_nodes):
                self.iterate()
                done += 1
                metrics: dict[str, float] = {"nodes_touched": self.nodes_touched}
                if eval_every_nodes and self.nodes_touched // eval_every_nodes > bucket:
                    bucket = self.nodes_touched // eval_every_nodes
                    last = (self.iteration, self.evaluate(eval_rng))
                    metrics[key] = last[1][key]
                    history.append({"step": self.iteration, **metrics})
                if callback is not None:
                    callback(self.iteration, metrics, self.state_dict)
        finally:
            sys.setrecursionlimit(old)
        if last is not None and last[0] == self.iteration:
            final = last[1]  # the last round ended on an evaluation boundary: not evaluated twice
        else:
            final = self.evaluate(eval_rng)
            history.append({"step": self.iteration, "nodes_touched": self.nodes_touched,
                            key: final[key]})
        return SamplingResult(self._result_policy(), self.iteration, self.nodes_touched,
                              final[key], time.perf_counter() - start, history_tuple(history),
                              final)
