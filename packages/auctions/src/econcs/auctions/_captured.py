"""RegretNet's training step, one function for the eager trainer and the CUDA-graph replay.

The step is RegretNet's augmented-Lagrangian update (Dütting et al. 2019, Sec. 4.2):
:meth:`econcs.auctions.RegretNet.fit` runs every step through :class:`RegretNetStep` and
:func:`run_steps`, eagerly by default and, with ``capture=True`` on CUDA, as a CUDA graph.

On a GPU the eager RegretNet step is launch-bound: ``misreport_steps`` ascent steps, each a
forward and backward pass of both networks on ``B * n`` profiles, then the network update, is a
few thousand small kernels, each launched from Python (5x10 on an H100: 8.3-9.7 it/s).
:class:`RegretNetStep` writes the whole step (the misreport ascent, the augmented-Lagrangian loss,
the backward pass and Adam) over static buffers, so that it can be recorded once and replayed:

- shapes are static: the batch indices live in one buffer (drawn outside the step with the data
  generator), the misreports are the batch's cached ones;
- nothing inside the step reads a tensor on the host: the misreport ascent is Adam written out
  (:func:`ascent_constants`: the step sizes and bias corrections depend only on the inner step,
  so they are host constants recorded into the step; the same iterates as
  :func:`econcs.shared.best_response_search` from the cache), the network's Adam is
  ``capturable=True`` with a device-tensor learning rate (the cosine schedule writes it before
  each replay), and the loss is :meth:`econcs.shared.AugmentedLagrangian.loss`, which reads the
  multipliers and ``rho / 2`` from device tensors;
- the multiplier and penalty updates of the augmented Lagrangian (every ``lambda_every`` and
  ``rho_every`` steps) stay outside, on the host (:meth:`econcs.shared.AugmentedLagrangian.step`,
  updating those tensors in place, so the replayed step reads them).

On CUDA with ``graph=True`` the step is captured with ``torch.cuda.graphs``: the first
``warmup`` steps run eagerly on a side stream (real training steps: they initialise Adam's state
and the libraries' workspaces), the next one is recorded into a :class:`torch.cuda.CUDAGraph`
with its own memory pool and every later step is one replay.
``torch.compile(mode="reduce-overhead")`` was not chosen: the step takes ``torch.autograd.grad``
inside a loop (the misreport gradient) and mutates buffers in place (the misreport cache, the
parameters and Adam's state): graph breaks split a compiled step into pieces, each a separate
CUDA graph with its own input checks and copies, and its compile time grows with the unrolled
ascent, where capturing costs one step. The misreport gradient may still be compiled
(``compile=True``) inside the captured step.

With ``graph=False`` (the default of :meth:`~econcs.auctions.RegretNet.fit`, and everything off
CUDA) the same function runs eagerly with ``torch.optim.Adam``. The misreport refresh is
pluggable: one item with ``grid_points > 0`` refreshes the misreports by the exact grid search
(:func:`econcs.auctions.single_item_regret`, data-dependent, so never captured). On CUDA,
capturable Adam computes its bias corrections in float32 on the device where the eager one uses
Python floats, so a graph run and an eager run differ by the float32 rounding of the step size.

Divergence: the step keeps, on the device, the first step whose revenue, regret or loss is not
finite;
:func:`run_steps` raises :class:`econcs.shared.DivergenceError` naming it where the metrics are
read anyway (the history rows, every 100 steps and the last, and whenever a callback reads the
metrics or the state), so that no step synchronises with the host only to check.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from econcs.shared import (
    AugmentedLagrangian,
    Callback,
    DivergenceError,
    check_bool,
    check_int,
    misreport_utilities,
)

__all__ = ["RegretNetStep", "ascent_constants", "run_steps", "step_optimizer"]

# torch.optim.Adam's defaults, which the eager misreport search (best_response_search) uses
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8

# history rows every this many steps (and at the last)
RECORD_EVERY = 100

Misreports = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ascent_constants(lr: float, n_steps: int) -> list[tuple[float, float]]:
    """``(step_size, sqrt(bias_correction2))`` of each step of the misreport ascent.

    The eager search (:func:`econcs.shared.best_response_search`) runs ``torch.optim.Adam`` at
    ``lr`` with an ``ExponentialLR`` decay to ``lr / 100`` over ``n_steps``; these are the host
    floats its single-tensor Adam computes at step ``k`` (``lr_k / (1 - beta1^k)`` and
    ``sqrt(1 - beta2^k)``, the decayed rate multiplied step by step as the scheduler does).

    >>> [round(s, 4) for s, _ in ascent_constants(0.1, 2)]
    [1.0, 0.0526]
    """
    gamma = 0.01 ** (1 / max(n_steps, 1))
    out, lr_k = [], lr
    for k in range(1, n_steps + 1):
        step = float(k)
        out.append((lr_k / (1 - _BETA1**step), (1 - _BETA2**step) ** 0.5))
        lr_k = lr_k * gamma
    return out


def step_optimizer(params: Any, lr: float, device: torch.device, *,
                   graph: bool = False) -> torch.optim.Adam:
    """The networks' Adam: for a CUDA-graph step (``graph=True``) ``capturable=True`` with the
    learning rate a device tensor (written before each replay); otherwise ``Adam(lr=lr)``."""
    if check_bool(graph, "graph"):
        if device.type != "cuda":
            raise ValueError(f"graph: a CUDA graph needs a CUDA device, got {device}.")
        return torch.optim.Adam(params, lr=torch.tensor(lr, device=device), capturable=True)
    return torch.optim.Adam(params, lr=lr)


class RegretNetStep:
    """One RegretNet update over static buffers; ``step(lr)`` runs it (a graph replay on CUDA).

    Parameters
    ----------
    mech
        the :class:`~econcs.auctions.RegretNet` being trained (its parameters are updated in place).
    optimizer
        the networks' Adam, from :func:`step_optimizer` (for ``graph=True`` ``capturable``).
    lagrangian
        the :class:`econcs.shared.AugmentedLagrangian` (its multipliers and penalty are read by
        the loss, its updates run after the step, on the host).
    train, cache
        ``(n_train, n, m)`` training profiles and their cached misreports (``cache`` is updated in
        place with the batch's new misreports).
    data_gen
        the generator of the batch indices (on the device of ``train``).
    batch_size, misreport_steps, misreport_lr
        as :class:`~econcs.auctions.RegretNetParams`; ``misreport_lr`` in value units (the
        trainer's ``misreport_lr`` times the mean support width).
    gradient
        the misreport gradient, :func:`econcs.shared.misreport_gradient` of ``mech.outcome``.
    misreports
        the misreport refresh ``misreports(values (B, n, m), idx (B,)) -> (B, n, m)`` (the
        batch's profiles and their indices in ``train``); default :meth:`ascent`, the gradient
        ascent from the cached misreports. Another refresh (the one-item grid search) runs
        eagerly only.
    graph
        record the step as a CUDA graph (default: when ``train`` is on CUDA and the refresh is
        :meth:`ascent`).
    warmup
        eager steps (on a side stream) before the capture (>= 1: Adam creates its state in the
        first).
    start
        steps done before (a resumed run): the step number the divergence check reports counts
        on from it.
    """

    def __init__(self, mech: Any, optimizer: torch.optim.Optimizer,
                 lagrangian: AugmentedLagrangian, train: torch.Tensor, cache: torch.Tensor,
                 data_gen: torch.Generator, *, batch_size: int, misreport_steps: int,
                 misreport_lr: float, gradient: Callable[..., torch.Tensor | None],
                 misreports: Misreports | None = None, graph: bool | None = None,
                 warmup: int = 3, start: int = 0) -> None:
        dev = train.device
        if misreports is not None and not callable(misreports):
            raise TypeError(f"misreports: expected a callable (values, idx) -> misreports, got "
                            f"{type(misreports).__name__}.")
        if graph is None:
            graph = dev.type == "cuda" and misreports is None
        self.graph = check_bool(graph, "graph")
        if self.graph and misreports is not None:
            raise ValueError("graph: a custom misreport refresh (the one-item grid search) runs "
                             "eagerly; pass graph=False.")
        if self.graph and dev.type != "cuda":
            raise ValueError(f"graph: a CUDA graph needs the training data on CUDA, got {dev}.")
        if self.graph and not all(g.get("capturable", False) for g in optimizer.param_groups):
            raise ValueError("optimizer: a CUDA-graph step needs Adam(capturable=True) "
                             "(step_optimizer), got capturable=False.")
        self.mech, self.opt, self.al = mech, optimizer, lagrangian
        self.train, self.cache, self.data_gen = train, cache, data_gen
        self.gradient = gradient
        self.misreports: Misreports = self.ascent if misreports is None else misreports
        self.ascent_steps = ascent_constants(misreport_lr, misreport_steps)
        self.idx = torch.empty(batch_size, dtype=torch.long, device=dev)
        # the divergence watch, on the device: the step count and ``first_bad``, the first step
        # with a non-finite revenue, regret or loss (-1: none; first_divergent_step reads it)
        self._count = torch.full((), check_int(start, "start", low=0), dtype=torch.long,
                                 device=dev)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=dev)
        self._lr: float | None = None
        self._warmup = check_int(warmup, "warmup", low=1)
        self._cuda_graph: torch.cuda.CUDAGraph | None = None
        self._side: torch.cuda.Stream | None = None
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.graph:
            for group in optimizer.param_groups:  # a float (e.g. from a checkpoint) is baked in
                group["lr"] = torch.tensor(float(group["lr"]), device=dev)

    # -- the captured region: no host synchronisation, no allocation visible outside --------------
    def ascent(self, values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``(B, n, m)`` the batch's misreports after ``misreport_steps`` of Adam ascent from its
        cached ones (each bidder alone; the networks' parameters untouched), written out as
        ``torch.optim.Adam``'s single-tensor step computes it, with the step size decaying to
        ``misreport_lr / 100`` (:func:`econcs.shared.best_response_search`'s schedule)."""
        low, high = self.mech._low, self.mech._high
        mis = self.cache[idx].unsqueeze(1)  # (B, 1, n, m)
        exp_avg, exp_avg_sq = torch.zeros_like(mis), torch.zeros_like(mis)
        for step_size, bc2_sqrt in self.ascent_steps:
            grad = self.gradient(values, mis)
            if grad is None:  # the outcome does not move with the reports (not RegretNet's nets)
                break
            with torch.no_grad():  # as Adam (a compiled gradient is differentiable in the nets)
                grad = -grad
                exp_avg.lerp_(grad, 1 - _BETA1)
                exp_avg_sq.mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
                denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(_EPS)
                mis.addcdiv_(exp_avg, denom, value=-step_size)
                mis.copy_(torch.maximum(torch.minimum(mis, high), low))
        return mis[:, 0]

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        mech, idx = self.mech, self.idx
        values = self.train[idx]
        mis = self.misreports(values, idx)
        self.cache[idx] = mis
        # the augmented-Lagrangian update of the networks (Sec. 4.2)
        util_mis = misreport_utilities(mech.outcome, values, mis.unsqueeze(1))[:, 0]
        alloc, pay = mech.outcome(values)
        util_true = (alloc * values).sum(-1) - pay
        regret = torch.relu(util_mis - util_true).mean(0)  # (n,)
        revenue = pay.sum(-1).mean()
        loss = self.al.loss(revenue, regret)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        revenue, regret = revenue.detach(), regret.detach()
        self._count.add_(1)
        fine = torch.isfinite(revenue) & torch.isfinite(regret).all() & torch.isfinite(loss)
        self.first_bad.copy_(torch.where(fine | (self.first_bad >= 0), self.first_bad,
                                          self._count))
        return revenue, regret

    # -- the host side ------------------------------------------------------------------------------
    def step(self, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step at learning rate ``lr``: ``(revenue (), regret (n,))`` on the device
        (on CUDA the graph's output buffers, overwritten by the next step), the multipliers and
        penalty updated after it."""
        if lr != self._lr:
            for group in self.opt.param_groups:  # graph: the tensor the replay reads
                if self.graph:
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr
            self._lr = lr
        n_train = self.train.shape[0]
        torch.randint(0, n_train, self.idx.shape, generator=self.data_gen,
                      device=self.idx.device, out=self.idx)
        if not self.graph:
            out = self._step()
        elif self._cuda_graph is not None:
            self._cuda_graph.replay()
            out = self._out
        elif self._warmup > 0:  # eager on a side stream, as torch.cuda.graphs asks
            if self._side is None:
                self._side = torch.cuda.Stream(self.idx.device)
            self._side.wait_stream(torch.cuda.current_stream(self.idx.device))
            with torch.cuda.stream(self._side), warnings.catch_warnings():
                # Adam(capturable=True) warns when it steps uncaptured: here it is on purpose
                warnings.filterwarnings("ignore", ".*capturable=True", UserWarning)
                out = self._step()
            torch.cuda.current_stream(self.idx.device).wait_stream(self._side)
            self._warmup -= 1
        else:  # record (nothing runs), then run this step as the first replay
            self._cuda_graph = torch.cuda.CUDAGraph()
            self.opt.zero_grad(set_to_none=True)  # the gradients are allocated in the graph's pool
            with torch.cuda.graph(self._cuda_graph, pool=torch.cuda.graph_pool_handle()):
                self._out = self._step()
            self._cuda_graph.replay()
            out = self._out
        self.al.step(out[1])
        return out

    def first_divergent_step(self) -> int | None:
        """The first step whose revenue, regret or loss was not finite, or ``None`` (reads the
        device)."""
        first = int(self.first_bad)
        return None if first < 0 else first


class _Metrics(Mapping[str, float]):
    """A step's metrics, read to the host only when used (no sync otherwise); reading them raises
    :class:`~econcs.shared.DivergenceError` if a step so far had a non-finite revenue, regret or
    loss."""

    def __init__(self, snapshot: torch.Tensor, rho: float,
                 diverged: Callable[[], DivergenceError]) -> None:
        self._snapshot, self._rho, self._diverged = snapshot, rho, diverged
        self._values: dict[str, float] | None = None

    def _read(self) -> dict[str, float]:
        if self._values is None:
            revenue, regret, lam, bad = self._snapshot.tolist()
            if bad:
                raise self._diverged()
            self._values = {"revenue": revenue, "regret": regret, "rho": self._rho,
                            "lambda": lam}
        return self._values

    def __getitem__(self, key: str) -> float:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("revenue", "regret", "rho", "lambda"))

    def __len__(self) -> int:
        return 4


def run_steps(step_fn: RegretNetStep, steps: range, lr_at: Callable[[int], float],
              history: list[dict[str, Any]], callback: Callback | None,
              state_fn: Callable[[], Mapping[str, Any]], *, advice: str = "") -> None:
    """RegretNet.fit's training loop: ``step_fn.step(lr_at(step))`` for each of ``steps``, a
    history row ``{"step", "revenue", "regret", "rho", "lambda"}`` every 100 steps and at the last,
    and ``callback(step, metrics, state_fn)`` after every step.

    The metrics stay on the device until a history row or the callback reads them (one copy per
    step a callback runs, no host synchronisation otherwise). Reading them, or the callback's
    ``state_fn()``, raises :class:`econcs.shared.DivergenceError` if any step so far had a
    non-finite revenue, regret or loss, naming that step: training that diverges stops at the next
    history row (at most 100 steps later) or the next read by the callback, and no checkpoint of
    a diverged state is written. ``advice`` ends the error's message (what to lower).
    """
    al = step_fn.al
    last = steps[-1] if len(steps) else None
    for step in steps:
        revenue, regret = step_fn.step(lr_at(step))
        record = step % RECORD_EVERY == 0 or step == last
        if not record and callback is None:
            continue

        def diverged(step: int = step) -> DivergenceError:
            first = step_fn.first_divergent_step()
            return DivergenceError(
                f"RegretNet.fit: training diverged: the revenue, regret or loss of step {first} is "
                f"not finite (found at step {step}; checked where the metrics are read: every "
                f"{RECORD_EVERY} steps, at the last and when a callback reads them)"
                + (f"; {advice}" if advice else "") + ".")

        # a copy: the graph's outputs and the multipliers change with the next step
        metrics = _Metrics(torch.stack([revenue, regret.mean(), al.lambdas.mean(),
                                        (step_fn.first_bad >= 0).to(revenue.dtype)]),
                           al.rho, diverged)
        if record:
            history.append({"step": step, **metrics})
        if callback is not None:
            def checked_state(metrics: _Metrics = metrics) -> Mapping[str, Any]:
                metrics._read()  # never checkpoint a diverged state
                return state_fn()

            callback(step, metrics, checked_state)
