"""Policy improvement at a state: an offset RochetNet (Ravindranath et al. 2024, Sec. 4.1).

At bidder ``i`` and state ``S`` the menu's option ``o`` (a bundle ``T``, its price ``p_o``) leads to
the state ``S \\ T`` of known continuation value ``c_o = V_{i+1}(S \\ T)``. The best menu maximises

    E_v [ p_{o*(v)} + c_{o*(v)} ],   o*(v) = argmax_o v(o) - p_o,

a single-buyer RochetNet whose options carry offsets. Training relaxes the argmax to
``softmax((v(o) - p_o) / temperature)`` and ascends the exact gradient of the relaxed objective in
the prices (the transition is known: no REINFORCE); evaluation uses the argmax, exact ties to the
larger bundle.

The options of many states are trained at once: states with the same number of options form a
dense block ``(G_b, O_b)`` (shorter option lists padded and masked), the softmax runs along each
block's last axis, and one Adam optimiser moves every price (the states' objectives are separate
sums: the optimisation is that of one RochetNet per state). Each bidder trains on one fixed set of
draws (full-batch steps, the option values computed once), and its continuation values come from
fresh draws.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from econcs.shared import Params, param

__all__ = ["OffsetRochetNetParams", "OptionLayout", "hard_revenue", "train_offset_rochetnet"]

#: ``sampler(batch, generator) -> (batch, P)`` each pair's option value for one bidder's draws
OptionSampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class OffsetRochetNetParams(Params):
    """Training parameters of the offset RochetNet at every state (the authors' recipe: Adam
    ``lr = 0.01``, temperature 0.01, prices from 0)."""

    max_iter: int = param(300, "Adam steps per bidder (full batch)", low=1)
    n_train: int = param(4096, "fixed value draws each bidder's menus are trained on", low=1)
    lr: float = param(0.01, "Adam learning rate", low=0.0, low_inclusive=False)
    temperature: float = param(0.01, "softmax temperature of the relaxed choice", low=0.0,
                               low_inclusive=False)
    n_val: int = param(2 ** 16, "draws for each state's continuation value (argmax)", low=1)


@dataclasses.dataclass(frozen=True)
class OptionLayout:
    """``P`` (state, option) slots of one bidder's menus, in dense blocks.

    blocks
        ``(start, G_b, O_b)``: slots ``start .. start + G_b * O_b`` are ``G_b`` states of
        ``O_b`` options each, state-major.
    group
        ``(P,)`` long, the state (``0 .. G - 1``) of each slot.
    size
        ``(P,)`` the option's bundle size (exact ties go to the larger bundle).
    fixed
        ``(P,)`` bool, options whose price is fixed at 0 (the empty bundle).
    valid
        ``(P,)`` bool, ``False`` for padding.
    n_groups
        ``G``.
    items
        ``None``: one free price per slot; else ``(P, m)`` float, each slot's bundle: the free
        parameters are item prices ``(G, m)`` per state and a bundle costs the sum of its items'.
    """

    blocks: tuple[tuple[int, int, int], ...]
    group: torch.Tensor
    size: torch.Tensor
    fixed: torch.Tensor
    valid: torch.Tensor
    n_groups: int
    items: torch.Tensor | None = None

    @property
    def n_pairs(self) -> int:
        return int(self.group.numel())

    def param_shape(self) -> tuple[int, ...]:
        if self.items is None:
            return (self.n_pairs,)
        return (self.n_groups, self.items.shape[1])

    def prices(self, theta: torch.Tensor) -> torch.Tensor:
        """``(P,)`` the slots' prices from the free parameters ``theta`` (0 on padding)."""
        if self.items is None:
            p = theta
        else:
            p = (self.items * theta.index_select(0, self.group)).sum(1)
        return torch.where(self.fixed | ~self.valid, 0.0, p)

    def per_state(self, per_slot: torch.Tensor) -> torch.Tensor:
        """``(G,)`` sums over each state's slots of ``per_slot`` ``(P,)``."""
        return per_slot.new_zeros(self.n_groups).index_add(0, self.group, per_slot)


def _blocks(x: torch.Tensor, layout: OptionLayout) -> list[torch.Tensor]:
    """``x`` ``(..., P)`` as one contiguous ``(..., G_b, O_b)`` tensor per block."""
    return [x[..., start:start + g * o].unflatten(-1, (g, o)).contiguous()
            for start, g, o in layout.blocks]


def soft_revenue(values: list[torch.Tensor], prices: torch.Tensor, offsets: torch.Tensor,
                 layout: OptionLayout, temperature: float) -> torch.Tensor:
    """``(G,)`` each state's relaxed objective ``E[sum_o w_o (p_o + c_o)]`` (differentiable);
    ``values`` per block (:func:`_blocks`)."""
    neg = torch.where(layout.valid, 0.0, -torch.inf)
    price_b = _blocks(prices, layout)
    gain_b = _blocks(prices + offsets, layout)
    out = []
    for vb, pb, gb, nb in zip(values, price_b, gain_b, _blocks(neg, layout)):
        w = torch.softmax((vb - pb) * (1.0 / temperature) + nb, dim=-1)
        out.append((w * gb).sum(-1).mean(0).flatten())
    return torch.cat(out)


def hard_revenue(values: list[torch.Tensor], prices: torch.Tensor, offsets: torch.Tensor,
                 layout: OptionLayout) -> torch.Tensor:
    """``(G,)`` each state's mean ``p_{o*} + c_{o*}`` under the exact choice (ties to the larger
    bundle); ``values`` per block."""
    neg = torch.where(layout.valid, 0.0, -torch.inf)
    out = []
    for vb, pb, gb, nb, sb in zip(values, _blocks(prices, layout),
                                  _blocks(prices + offsets, layout), _blocks(neg, layout),
                                  _blocks(layout.size.to(prices.dtype), layout)):
        u = vb - pb + nb
        best = u == u.max(-1, keepdim=True).values
        idx = torch.where(best, sb, -1.0).argmax(-1, keepdim=True)  # (B, G_b, 1)
        out.append(gb.expand_as(u).gather(-1, idx).squeeze(-1).mean(0))
    return torch.cat(out)


def _initial_prices(values: list[torch.Tensor], layout: OptionLayout,
                    offsets: torch.Tensor) -> torch.Tensor:
    """Start each option at its opportunity cost ``max_o' c_o' - c_o`` (what selling it loses of
    the future) plus half its mean value: exact for one item and one bidder left (price 1/2 for
    ``U[0, 1]``), and within a few hundred steps of the optimum elsewhere (the authors start at 0
    and need ~2000 steps for prices to climb)."""
    with torch.no_grad():
        mean = torch.cat([v.mean(0).flatten() for v in values])
        top = torch.full((layout.n_groups,), -torch.inf, dtype=offsets.dtype,
                         device=offsets.device)
        top = top.scatter_reduce(0, layout.group, torch.where(layout.valid, offsets, -torch.inf),
                                 "amax").index_select(0, layout.group)
        start = torch.where(layout.valid, top - offsets + 0.5 * mean, 0.0)
        if layout.items is None:
            return start
        single = (layout.size == 1) & layout.valid  # item prices: each item's single option
        theta = offsets.new_zeros(layout.param_shape())
        theta[layout.group[single], layout.items[single].argmax(1)] = start[single]
        return theta


def _pick(layout: OptionLayout, a: torch.Tensor, b: torch.Tensor,
          take_b: torch.Tensor) -> torch.Tensor:
    """Free parameters: state ``g``'s from ``b`` where ``take_b[g]``, else from ``a``."""
    if layout.items is None:
        return torch.where(take_b.index_select(0, layout.group), b, a)
    return torch.where(take_b.unsqueeze(1), b, a)


def train_offset_rochetnet(
    sampler: OptionSampler,
    layout: OptionLayout,
    offsets: torch.Tensor,
    params: OffsetRochetNetParams,
    *,
    generator: torch.Generator,
    start: torch.Tensor | None = None,
    eval_chunk: int = 2 ** 13,
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Train every state's menu of one bidder; return ``(prices (P,), values (G,), curve)``.

    ``values[g]`` is the state's revenue-to-go under the exact choice on ``params.n_val`` fresh
    draws; ``curve`` the mean relaxed objective over the states every 100 steps.

    ``start`` (free parameters, :meth:`OptionLayout.param_shape`), when given, is a menu the
    result must not fall below: each state trains from the better (exact choice, training
    draws) of ``start`` and the opportunity-cost start, and keeps ``start`` where the trained
    menu does worse on the fresh draws (the same draws score both: the comparison is paired).
    """
    train = _blocks(sampler(params.n_train, generator), layout)
    theta = _initial_prices(train, layout, offsets)
    if start is not None:
        start = start.to(theta.dtype)
        with torch.no_grad():
            better = (hard_revenue(train, layout.prices(start), offsets, layout)
                      > hard_revenue(train, layout.prices(theta), offsets, layout))
        theta = _pick(layout, theta, start, better)
    theta.requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=params.lr)
    curve: list[float] = []
    for step in range(params.max_iter):
        obj = soft_revenue(train, layout.prices(theta), offsets, layout, params.temperature)
        opt.zero_grad(set_to_none=True)
        (-obj.sum()).backward()
        opt.step()
        if step % 100 == 0 or step == params.max_iter - 1:
            curve.append(float(obj.detach().mean()))
    with torch.no_grad():
        menus = [theta.detach()] + ([] if start is None else [start])
        prices = [layout.prices(t) for t in menus]
        totals = [torch.zeros(layout.n_groups, dtype=torch.float64, device=offsets.device)
                  for _ in menus]
        done = 0
        while done < params.n_val:
            size = min(eval_chunk, params.n_val - done)
            vals = _blocks(sampler(size, generator), layout)
            for total, pr in zip(totals, prices):
                total += hard_revenue(vals, pr, offsets, layout).double() * size
            done += size
        value = totals[0]
        if start is not None:
            keep = totals[1] > totals[0]
            value = torch.where(keep, totals[1], totals[0])
            prices[0] = layout.prices(_pick(layout, menus[0], start, keep))
    return prices[0], (value / params.n_val).to(offsets.dtype), curve
