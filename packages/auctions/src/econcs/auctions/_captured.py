"""RegretNet's training step as one static function, replayed as a CUDA graph on a GPU.

The step is RegretNet's augmented-Lagrangian update (Dütting et al. 2019, Sec. 4.2), as
:meth:`econcs.auctions.RegretNet.fit` runs it eagerly.

On a GPU the eager RegretNet step is launch-bound: ``misreport_steps`` ascent steps, each a
forward and backward pass of both networks on ``B * n`` profiles, then the network update, is a
few thousand small kernels, each launched from Python (5x10 on an H100: 8.3-9.7 it/s).
:class:`RegretNetStep` writes the whole step (the misreport ascent, the augmented-Lagrangian loss,
the backward pass and Adam) over static buffers, so that it can be recorded once and replayed:

- shapes are static: the batch indices live in one buffer (drawn outside the step, with the same
  generator and in the same order as the eager trainer), the misreports are the batch's cached
  ones;
- nothing inside the step reads a tensor on the host: the misreport ascent is Adam written out
  (:func:`ascent_constants`: the step sizes and bias corrections depend only on the inner step,
  so they are host constants recorded into the step), the network's Adam is ``capturable=True``
  with a device-tensor learning rate (the cosine schedule writes it before each replay), and the
  penalty ``rho / 2`` is a device tensor;
- the multiplier and penalty updates of the augmented Lagrangian (every ``lambda_every`` and
  ``rho_every`` steps) stay outside, on the host (:class:`econcs.shared.AugmentedLagrangian`,
  updating its multipliers in place, so the replayed step reads them).

On CUDA the step is captured with ``torch.cuda.graphs``: the first ``warmup`` steps run eagerly on
a side stream (real training steps: they initialise Adam's state and the libraries' workspaces),
the next one is recorded into a :class:`torch.cuda.CUDAGraph` with its own memory pool and every
later step is one replay. ``torch.compile(mode="reduce-overhead")`` was not chosen: the step
takes ``torch.autograd.grad`` inside a loop (the misreport gradient) and mutates buffers in place
(the misreport cache, the parameters and Adam's state): graph breaks split a compiled step into
pieces, each a separate CUDA graph with its own input checks and copies, and its compile time
grows with the unrolled ascent, where capturing costs one step. The misreport gradient may still be compiled
(``compile=True``) inside the captured step.

Elsewhere (the CPU) the same function runs eagerly with the eager trainer's optimiser (Adam's
capturable form is CUDA-only), and gives exactly the iterates of
:meth:`econcs.auctions.RegretNet.fit` (bitwise in float32: the same operations in the same order).
On CUDA, capturable Adam computes its bias corrections in float32 on the device where the eager
one uses Python floats, so the two differ by the float32 rounding of the step size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from econcs.shared import (
    AugmentedLagrangian,
    Callback,
    check_bool,
    check_int,
    misreport_utilities,
)

__all__ = ["RegretNetStep", "ascent_constants", "step_optimizer", "train_captured"]

# torch.optim.Adam's defaults, which the eager misreport search (best_response_search) uses
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


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


def step_optimizer(params: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    """The network's Adam for the captured step: on CUDA ``capturable=True`` with the learning rate
    a device tensor (written before each replay); elsewhere the eager trainer's Adam."""
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=torch.tensor(lr, device=device), capturable=True)
    return torch.optim.Adam(params, lr=lr)


class RegretNetStep:
    """One RegretNet update over static buffers; ``step(lr)`` runs it (a graph replay on CUDA).

    Parameters
    ----------
    mech
        the :class:`~econcs.auctions.RegretNet` being trained (its parameters are updated in place).
    optimizer
        the networks' Adam, from :func:`step_optimizer` (on CUDA it must be ``capturable``).
    lagrangian
        the :class:`econcs.shared.AugmentedLagrangian` (its multipliers are read by the step, its
        updates run after it, on the host).
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
    graph
        record the step as a CUDA graph (default: when ``train`` is on CUDA).
    warmup
        eager steps (on a side stream) before the capture (>= 1: Adam creates its state in the
        first).
    """

    def __init__(self, mech: Any, optimizer: torch.optim.Optimizer,
                 lagrangian: AugmentedLagrangian, train: torch.Tensor, cache: torch.Tensor,
                 data_gen: torch.Generator, *, batch_size: int, misreport_steps: int,
                 misreport_lr: float, gradient: Callable[..., torch.Tensor | None],
                 graph: bool | None = None, warmup: int = 3) -> None:
        dev = train.device
        self.graph = dev.type == "cuda" if graph is None else check_bool(graph, "graph")
        if self.graph and dev.type != "cuda":
            raise ValueError(f"graph: a CUDA graph needs the training data on CUDA, got {dev}.")
        if self.graph and not all(g.get("capturable", False) for g in optimizer.param_groups):
            raise ValueError("optimizer: a CUDA-graph step needs Adam(capturable=True) "
                             "(step_optimizer), got capturable=False.")
        self.mech, self.opt, self.al = mech, optimizer, lagrangian
        self.train, self.cache, self.data_gen = train, cache, data_gen
        self.gradient = gradient
        self.ascent = ascent_constants(misreport_lr, misreport_steps)
        self.idx = torch.empty(batch_size, dtype=torch.long, device=dev)
        self.half_rho = torch.empty((), dtype=train.dtype, device=dev)
        self._rho: float | None = None
        self._lr: float | None = None
        self._warmup = check_int(warmup, "warmup", low=1)
        self._cuda_graph: torch.cuda.CUDAGraph | None = None
        self._side: torch.cuda.Stream | None = None
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.graph:
            for group in optimizer.param_groups:  # a float (e.g. from a checkpoint) is baked in
                group["lr"] = torch.tensor(float(group["lr"]), device=dev)

    # -- the captured region: no host synchronisation, no allocation visible outside --------------
    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        mech, idx = self.mech, self.idx
        low, high = mech._low, mech._high
        values = self.train[idx]
        # the misreport ascent from the cached misreports: Adam on ``mis`` (B, 1, n, m), written
        # out as torch.optim.Adam's single-tensor step computes it (best_response_search)
        mis = self.cache[idx].unsqueeze(1)
        exp_avg, exp_avg_sq = torch.zeros_like(mis), torch.zeros_like(mis)
        for step_size, bc2_sqrt in self.ascent:
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
        mis = mis[:, 0]
        self.cache[idx] = mis
        # the augmented-Lagrangian update of the networks (RegretNet.fit, Sec. 4.2)
        util_mis = misreport_utilities(mech.outcome, values, mis.unsqueeze(1))[:, 0]
        alloc, pay = mech.outcome(values)
        util_true = (alloc * values).sum(-1) - pay
        regret = torch.relu(util_mis - util_true).mean(0)  # (n,)
        revenue = pay.sum(-1).mean()
        g = regret.reshape(-1)
        loss = -revenue + (self.al.lambdas * g).sum() + self.half_rho * (g * g).sum()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return revenue.detach(), regret.detach()

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
        if self.al.rho != self._rho:
            self.half_rho.fill_(0.5 * self.al.rho)
            self._rho = self.al.rho
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


class _Metrics(Mapping[str, float]):
    """A step's metrics, read to the host only when a callback reads them (no sync otherwise)."""

    def __init__(self, snapshot: torch.Tensor, rho: float) -> None:
        self._snapshot, self._rho, self._values = snapshot, rho, None

    def _read(self) -> dict[str, float]:
        if self._values is None:
            revenue, regret, lam = self._snapshot.tolist()
            self._values = {"revenue": revenue, "regret": regret, "rho": self._rho,
                            "lambda": lam}
        return self._values

    def __getitem__(self, key: str) -> float:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("revenue", "regret", "rho", "lambda"))

    def __len__(self) -> int:
        return 4


def train_captured(step_fn: RegretNetStep, steps: range, lr_at: Callable[[int], float],
                   max_iter: int, history: list[dict[str, Any]], callback: Callback | None,
                   state_fn: Callable[[], Mapping[str, Any]]) -> None:
    """RegretNet.fit's loop over ``steps`` with ``step_fn``: the same history rows (every 100
    steps and the last) and callbacks, the metrics read to the host only when used."""
    al = step_fn.al
    for step in steps:
        revenue, regret = step_fn.step(lr_at(step))
        record = step % 100 == 0 or step == max_iter
        if not record and callback is None:
            continue
        # a copy: the graph's outputs and the multipliers change with the next step
        metrics = _Metrics(torch.stack([revenue, regret.mean(), al.lambdas.mean()]), al.rho)
        if record:
            history.append({"step": step, **metrics})
        if callback is not None:
            callback(step, metrics, state_fn)
