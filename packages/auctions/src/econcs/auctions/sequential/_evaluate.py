"""Exact rollouts of a sequential policy: revenue and welfare on sampled (or given) values.

Every sample is one episode: bidders ``0 .. n - 1`` in turn face the policy's menu for the unsold
items and take their best option (:meth:`SequentialPolicy.respond`). Batched over samples in
chunks (a loop over bidders, the MDP's steps, never over samples).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from econcs.auctions.sequential._mechanism import SequentialPolicy
from econcs.shared import check_int, check_type, make_generator

__all__ = ["SequentialReport", "evaluate_sequential", "rollout"]


@dataclasses.dataclass(frozen=True)
class SequentialReport:
    """Result of :func:`evaluate_sequential`.

    revenue, revenue_se
        mean total payment per episode and its standard error.
    welfare
        mean total value of the bundles sold.
    items_sold
        mean number of items sold.
    revenue_by_bidder
        mean payment of each bidder (a tuple of ``n_bidders`` floats).
    n_samples
        episodes.
    """

    revenue: float
    revenue_se: float
    welfare: float
    items_sold: float
    revenue_by_bidder: tuple[float, ...]
    n_samples: int

    def as_metrics(self) -> dict[str, float]:
        return {"revenue": self.revenue, "revenue_se": self.revenue_se,
                "welfare": self.welfare, "items_sold": self.items_sold}


def _bought_value(policy: SequentialPolicy, values: torch.Tensor,
                  bought: torch.Tensor) -> torch.Tensor:
    s = policy.setting
    if not s.bundle_valued:
        return (values * bought).sum(1)
    weights = torch.ones(s.n_items, dtype=torch.long, device=bought.device) << torch.arange(
        s.n_items, device=bought.device)
    idx = (bought.long() * weights).sum(1, keepdim=True)
    return values.gather(1, idx).squeeze(1)


def rollout(policy: SequentialPolicy, values: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a batch of episodes on ``values`` ``(B, n_bidders, ...)`` (unvalidated).

    Returns ``(payments (B, n), welfare (B,), available at the end (B, m) bool)``.
    """
    s = policy.setting
    b = values.shape[0]
    available = torch.ones(b, s.n_items, dtype=torch.bool, device=values.device)
    pays, welfare = [], values.new_zeros(b)
    for i in range(s.n_bidders):  # the MDP's steps
        bought, pay = policy.respond(i, available, values[:, i])
        welfare = welfare + _bought_value(policy, values[:, i], bought)
        available = available & ~bought
        pays.append(pay)
    return torch.stack(pays, 1), welfare, available


def evaluate_sequential(
    policy: SequentialPolicy,
    n_samples: int = 100_000,
    seed: int = 0,
    *,
    values: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> SequentialReport:
    """Revenue of ``policy`` with the exact (argmax) choices over ``n_samples`` episodes.

    Parameters
    ----------
    policy
        a :class:`SequentialPolicy`.
    n_samples
        episodes, drawn from the setting's prior with ``seed`` (or ``generator``, which wins).
    values
        optional value profiles ``(B, n_bidders, n_items)`` (``(B, n_bidders, 2 ** n_items)``
        in settings E and F) instead of sampling; ``n_samples`` is then ignored.
    batch_size
        episodes per chunk (default: about ``2 ** 22`` values per chunk).

    Examples
    --------
    >>> from econcs.auctions.sequential import SequentialSetting, itemwise
    >>> policy = itemwise(SequentialSetting(5, 5, "A"))
    >>> round(evaluate_sequential(policy, 200_000, seed=0).revenue, 2)
    3.0
    """
    check_type(policy, "policy", SequentialPolicy)
    s = policy.setting
    device = policy.device
    if values is not None:
        values = s.check_values(values)
        n_samples = values.shape[0]
    else:
        n_samples = check_int(n_samples, "n_samples", low=1)
        check_int(seed, "seed", low=0)
        generator = make_generator(seed, device) if generator is None else generator
    per = s.n_bidders * s.value_shape[1]
    chunk = check_int(batch_size, "batch_size", low=1) if batch_size else max(1, 2 ** 22 // per)
    tot = tot2 = wel = sold = 0.0
    by_bidder = torch.zeros(s.n_bidders, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, n_samples, chunk):  # chunks bound the memory
            size = min(chunk, n_samples - start)
            if values is None:
                v = s.sample(size, generator=generator, device=device)
            else:
                v = values[start:start + size].to(device)
            pays, welfare, left = rollout(policy, v)
            rev = pays.double().sum(1)
            tot += float(rev.sum())
            tot2 += float((rev * rev).sum())
            wel += float(welfare.double().sum())
            sold += float((~left).sum())
            by_bidder += pays.double().sum(0).cpu()
    mean = tot / n_samples
    var = max(tot2 / n_samples - mean * mean, 0.0)
    return SequentialReport(
        revenue=mean,
        revenue_se=math.sqrt(var / n_samples),
        welfare=wel / n_samples,
        items_sold=sold / n_samples,
        revenue_by_bidder=tuple(float(x) / n_samples for x in by_bidder),
        n_samples=n_samples,
    )
