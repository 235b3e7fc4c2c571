"""Exact dynamic programming over the auction MDP: DP, DP-Sym and the posted-price baselines.

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 4.1. Backward induction: ``V_n = 0``; for bidder
``i = n - 1, ..., 0`` and every state ``S`` the menu is the offset RochetNet
(:mod:`~econcs.auctions.sequential._offset_rochetnet`) with offsets ``V_{i+1}(S \\ T)``, and
``V_i(S)`` is its revenue-to-go under the exact choice.

- :func:`dp`: all ``n x 2^m`` states, a price per bundle (``m <= 10``);
- :func:`dp_sym`: i.i.d. items (settings A, C, D): the state is (bidder, items left ``k``) and the
  menu a price per bundle size (the bidder takes the ``j`` unsold items it values most), so any
  ``m`` fits;
- :func:`itemwise`: the optimal sequential item prices (additive values: each item alone is a
  sequence of take-it-or-leave-it offers, solved in closed form for uniform values,
  ``p_i = (h + V_{i+1}) / 2``, ``V_i = (h + V_{i+1})^2 / 4h``; else item prices per state by the
  offset RochetNet with bundle price = the sum of its items');
- :func:`bundlewise`: the optimal sequential grand-bundle price (each bidder is offered every
  unsold item at one price).

All of one bidder's states are trained together (one flat layout), so the loops are over bidders
(the DP's stages) and over memory-bounded parts of the state set, never over samples or states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from econcs.auctions.sequential._mechanism import (
    ItemPricePolicy,
    SizeTablePolicy,
    TablePolicy,
)
from econcs.auctions.sequential._offset_rochetnet import (
    OffsetRochetNetParams,
    OptionLayout,
    train_offset_rochetnet,
)
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import (
    Callback,
    check_type,
    make_generator,
    param,
    resolve_device,
    resolve_params,
)

__all__ = ["DPParams", "bundlewise", "dp", "dp_sym", "itemwise"]


@dataclasses.dataclass(frozen=True)
class DPParams(OffsetRochetNetParams):
    """Parameters of :func:`dp`, :func:`dp_sym` and the learned posted-price baselines."""

    max_elements: int = param(2 ** 24, "batch x (state, option) pairs per training part "
                              "(memory bound; larger state sets are split)", low=1)
    item_start: bool = param(True, "DP-Sym: start each state's size prices at the best single "
                             "item price given the continuation values (size j at j times it), "
                             "and keep that menu where training does worse")


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """Every (state, option) pair of one menu family: states, bundles, next states, sizes."""

    state: torch.Tensor  # (P,) the state's index (bitmask, or items left)
    option: torch.Tensor  # (P,) bundle bitmask, or bundle size
    next_state: torch.Tensor  # (P,)
    size: torch.Tensor  # (P,)
    n_states: int


def _bundle_pairs(s: SequentialSetting, kind: str) -> _Pairs:
    k = s.n_bundles
    states = torch.arange(k).unsqueeze(1)
    bundles = torch.arange(k).unsqueeze(0)
    ok = ((bundles & ~states) == 0) & s.offered.unsqueeze(0) & (states > 0)
    if kind == "bundlewise":
        ok = ok & ((bundles == 0) | (bundles == states))
    st, op = ok.nonzero(as_tuple=True)
    return _Pairs(st, op, st ^ op, s.bundle_sizes[op], k)


def _size_pairs(s: SequentialSetting) -> _Pairs:
    m, d = s.n_items, s.demand if s.demand is not None else s.n_items
    k = torch.arange(m + 1).unsqueeze(1)
    j = torch.arange(m + 1).unsqueeze(0)
    ok = (j <= k) & (j <= d) & (k > 0)
    st, op = ok.nonzero(as_tuple=True)
    return _Pairs(st, op, st - op, op, m + 1)


def _bundle_sampler(s: SequentialSetting, option: torch.Tensor, device: torch.device):
    """Option values of one bidder's draws for the pairs' bundles ``option``."""
    option = option.to(device)
    if s.bundle_valued:
        def sample(b: int, gen: torch.Generator) -> torch.Tensor:
            return s.sample_bidder(b, generator=gen, device=device).index_select(1, option)
        return sample
    items = s.bundles.to(device)[option]  # (P, m)

    def sample_items(b: int, gen: torch.Generator) -> torch.Tensor:
        return s.sample_bidder(b, generator=gen, device=device) @ items.T
    return sample_items


def _item_price_start(s: SequentialSetting, part: _Part, cont: torch.Tensor,
                      grid: int = 2001) -> torch.Tensor:
    """DP-Sym's warm start: at every state (``k`` items left) the item-price menu (size ``j`` at
    ``j q``) with the best ``q`` given the continuation values ``cont`` ``(m + 1,)``, by the
    exact expectation over a grid of ``q`` (item values i.i.d. ``U[0, 1]``: the bidder wants
    ``J ~ Binomial(k, 1 - q)`` items and takes ``min(J, demand)``). Every item-price menu is a
    size menu, so DP-Sym started here is at least the sequential item-wise prices' revenue."""
    m = s.n_items
    d = s.demand if s.demand is not None else m
    dev = cont.device
    q = torch.linspace(0.0, 1.0, grid, dtype=torch.float64, device=dev).view(1, -1, 1)
    k = torch.arange(m + 1, dtype=torch.float64, device=dev).view(-1, 1, 1)
    j = torch.arange(m + 1, dtype=torch.float64, device=dev).view(1, 1, -1)
    ok = j <= k
    kj = (k - j).clamp(min=0)
    log_pmf = (torch.lgamma(k + 1) - torch.lgamma(j + 1) - torch.lgamma(kj + 1)
               + torch.xlogy(j, 1 - q) + torch.xlogy(kj, q))
    pmf = torch.where(ok, log_pmf.exp(), 0.0)  # (m + 1 states, grid, m + 1)
    sold = j.clamp(max=d)
    left = (k - sold).clamp(min=0).long().squeeze(1)  # (m + 1, m + 1)
    gain = sold * q + cont.double()[left].unsqueeze(1)
    best = q.flatten()[(pmf * gain).sum(-1).argmax(1)]  # (m + 1,) the item price per state
    st, op = part.state.to(dev), part.option.to(dev)
    return (op.to(torch.float64) * best[st]).to(cont.dtype)


def _size_sampler(s: SequentialSetting, state: torch.Tensor, option: torch.Tensor,
                  device: torch.device):
    """Option values for DP-Sym pairs: the sum of the ``j`` largest of ``k`` fresh draws."""
    m = s.n_items
    # block k (k = 1..m) holds k + 1 columns: 0, then the sums of the top 1..k draws
    starts = torch.tensor([(k - 1) * (k + 2) // 2 for k in range(1, m + 1)])
    col = (starts[(state - 1).clamp(min=0)] + option).to(device)

    def sample(b: int, gen: torch.Generator) -> torch.Tensor:
        v = s.sample_bidder(b, generator=gen, device=device)
        blocks = []
        for k in range(1, m + 1):  # one sort per number of items left (not per sample)
            top = v[:, :k].sort(dim=1, descending=True).values.cumsum(1)
            blocks += [v.new_zeros(b, 1), top]
        return torch.cat(blocks, 1).index_select(1, col)
    return sample


@dataclasses.dataclass(frozen=True)
class _Part:
    """A memory-bounded set of states laid out in dense blocks (slot arrays, padding valid=0)."""

    layout: OptionLayout
    state: torch.Tensor  # (P,) per slot
    option: torch.Tensor  # (P,) per slot (0 on padding: the empty bundle / size 0)
    next_state: torch.Tensor  # (P,)
    states: torch.Tensor  # (G,) the states, in group order


def _make_part(pairs: _Pairs, states: torch.Tensor, pad_all: bool, items: torch.Tensor | None,
               device: torch.device) -> _Part:
    counts = torch.bincount(pairs.state, minlength=pairs.n_states)[states]
    key = torch.zeros_like(counts) if pad_all else counts
    order = torch.argsort(key * pairs.n_states + states)
    states, counts, key = states[order], counts[order], key[order]
    width = torch.zeros_like(states)
    blocks, start = [], 0
    state_start = torch.zeros(pairs.n_states, dtype=torch.long)
    group_of = torch.full((pairs.n_states,), -1, dtype=torch.long)
    for kv in torch.unique(key).tolist():  # one block per option count (a few, <= m + 1)
        sel = (key == kv).nonzero(as_tuple=True)[0]
        o = int(counts[sel].max())
        width[sel] = o
        state_start[states[sel]] = start + torch.arange(sel.numel()) * o
        group_of[states[sel]] = sel
        blocks.append((start, int(sel.numel()), o))
        start += int(sel.numel()) * o
    mine = group_of[pairs.state] >= 0
    idx = mine.nonzero(as_tuple=True)[0]
    st = pairs.state[idx]
    srt = torch.argsort(st * (pairs.option.max() + 1) + pairs.option[idx])
    idx, st = idx[srt], st[srt]
    first = torch.searchsorted(st, st, right=False)
    slot = state_start[st] + torch.arange(idx.numel()) - first
    n_slots = start
    slot_state = torch.repeat_interleave(states, counts.new_tensor(
        [b[2] for b in blocks for _ in range(b[1])]))
    option = torch.zeros(n_slots, dtype=torch.long)
    nxt = slot_state.clone()
    size = torch.full((n_slots,), -1, dtype=torch.long)
    valid = torch.zeros(n_slots, dtype=torch.bool)
    option[slot], nxt[slot], size[slot], valid[slot] = (pairs.option[idx], pairs.next_state[idx],
                                                        pairs.size[idx], True)
    layout = OptionLayout(tuple(blocks), group_of[slot_state].to(device), size.to(device),
                          ((option == 0) & valid).to(device), valid.to(device),
                          int(states.numel()),
                          None if items is None else items.to(device)[option.to(device)])
    return _Part(layout, slot_state, option, nxt, states)


def _parts(pairs: _Pairs, per_part: int, pad_all: bool, items: torch.Tensor | None,
           device: torch.device) -> list[_Part]:
    """The states split into parts of about ``per_part`` slots (consecutive states)."""
    counts = torch.bincount(pairs.state, minlength=pairs.n_states)
    present = (counts > 0).nonzero(as_tuple=True)[0]
    cum = torch.cumsum(counts[present], 0)
    part_id = (cum - 1) // max(per_part, 1)
    return [_make_part(pairs, present[part_id == k], pad_all, items, device)
            for k in torch.unique(part_id).tolist()]


def _solve(
    s: SequentialSetting,
    pairs: _Pairs,
    make_sampler: Callable[[_Part], Callable],
    p: DPParams,
    *,
    item_prices: bool,
    pad_all: bool,
    generator: torch.Generator,
    device: torch.device,
    callback: Callback | None,
    resume: tuple[int, dict[str, Any]] | None,
    make_start: Callable[[_Part, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[list[_Part], list[list[torch.Tensor]], torch.Tensor, list[dict[str, Any]]]:
    """Backward induction; returns ``(parts, prices per bidder and part, values (n + 1,
    n_states), history)``. ``make_start(part, next_values)``: a warm start for
    :func:`train_offset_rochetnet` (its free parameters)."""
    n = s.n_bidders
    items = s.bundles if item_prices else None
    parts = _parts(pairs, max(1, p.max_elements // p.n_train), pad_all, items, device)
    samplers = [make_sampler(part) for part in parts]
    prices = [[torch.zeros(0)] * len(parts) for _ in range(n)]
    values = torch.zeros(n + 1, pairs.n_states, device=device)
    history: list[dict[str, Any]] = []
    start = 0
    if resume is not None:
        start, state = resume
        prices = [list(row) for row in state["prices"]]
        values.copy_(state["values"])
        history = list(state["history"])
        generator.set_state(state["generator"])
    for done in range(start, n):
        i = n - 1 - done
        curves = []
        for k, part in enumerate(parts):  # memory-bounded parts of the state set
            offsets = torch.where(part.layout.valid,
                                  values[i + 1].index_select(0, part.next_state.to(device)), 0.0)
            start_k = None if make_start is None else make_start(part, values[i + 1])
            pr, val, curve = train_offset_rochetnet(samplers[k], part.layout, offsets, p,
                                                    generator=generator, start=start_k)
            prices[i][k] = pr
            values[i, part.states.to(device)] = val
            curves.append(curve[-1])
        row = {"step": done + 1, "bidder": i, "revenue_to_go": float(values[i].max()),
               "relaxed": sum(curves) / len(curves)}
        history.append(row)
        if callback is not None:
            def state_fn() -> dict[str, Any]:
                return {"prices": [list(r) for r in prices], "values": values.clone(),
                        "history": list(history), "generator": generator.get_state()}
            callback(done + 1, {k: v for k, v in row.items() if k != "step"}, state_fn)
    return parts, prices, values, history


def _setup(setting, params, overrides, seed, generator, device):
    check_type(setting, "setting", SequentialSetting)
    p = resolve_params(DPParams, params, **overrides)
    dev = resolve_device(device)
    gen = make_generator(seed, dev) if generator is None else generator
    return p, dev, gen


def _table(s: SequentialSetting, parts: list[_Part], prices: list[list[torch.Tensor]],
           width: int, device: torch.device) -> torch.Tensor:
    table = torch.full((s.n_bidders, width, width), float("inf"), device=device)
    for k, part in enumerate(parts):
        v = part.layout.valid
        st, op = part.state.to(device)[v], part.option.to(device)[v]
        table[:, st, op] = torch.stack([row[k][v] for row in prices])
    table[:, :, 0] = 0.0
    return table


def _bundle_dp(setting, params, overrides, seed, generator, device, callback, resume, kind):
    p, dev, gen = _setup(setting, params, overrides, seed, generator, device)
    if setting.menu != "bundle":
        raise ValueError(f"setting: {kind} prices every bundle and needs menu='bundle', got "
                         f"menu={setting.menu!r}.")
    pairs = _bundle_pairs(setting, kind)
    parts, prices, values, history = _solve(
        setting, pairs, lambda part: _bundle_sampler(setting, part.option, dev), p,
        item_prices=kind == "itemwise", pad_all=False, generator=gen, device=dev,
        callback=callback, resume=resume)
    policy = TablePolicy(setting, _table(setting, parts, prices, setting.n_bundles, dev))
    policy.values_ = values
    policy.history_ = tuple(history)
    return policy


def dp(setting: SequentialSetting, params: DPParams | None = None, /, *, seed: int = 0,
       generator: torch.Generator | None = None, device: str | torch.device = "cpu",
       callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
       **overrides: Any) -> TablePolicy:
    """Exact DP over all ``n x 2^m`` states with a price per bundle (bundle menus, ``m <= 10``).

    Returns a :class:`TablePolicy` with ``values_`` ``(n + 1, 2^m)`` (the revenue-to-go of every
    state, estimated under the exact choice) and ``history_`` (one row per bidder).
    ``params`` / ``overrides``: :class:`DPParams`. ``resume=(step, state)`` continues from a
    callback's state.
    """
    return _bundle_dp(setting, params, overrides, seed, generator, device, callback, resume,
                      "dp")


def dp_sym(setting: SequentialSetting, params: DPParams | None = None, /, *, seed: int = 0,
           generator: torch.Generator | None = None, device: str | torch.device = "cpu",
           callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
           **overrides: Any) -> SizeTablePolicy:
    """DP-Sym for i.i.d. items (settings A, C, D): states (bidder, items left), a price per bundle
    size. Returns a :class:`SizeTablePolicy` with ``values_`` ``(n + 1, m + 1)``."""
    p, dev, gen = _setup(setting, params, overrides, seed, generator, device)
    if not setting.symmetric:
        raise ValueError(f"setting: DP-Sym needs i.i.d. item values (settings A, C, D), got "
                         f"setting={setting.setting!r}; use dp.")
    pairs = _size_pairs(setting)
    parts, prices, values, history = _solve(
        setting, pairs, lambda part: _size_sampler(setting, part.state, part.option, dev), p,
        item_prices=False, pad_all=True, generator=gen, device=dev, callback=callback,
        resume=resume,
        make_start=(lambda part, cont: _item_price_start(setting, part, cont))
        if p.item_start else None)
    table = _table(setting, parts, prices, setting.n_items + 1, dev)
    policy = SizeTablePolicy(setting, table)
    policy.values_ = values
    policy.history_ = tuple(history)
    return policy


def itemwise(setting: SequentialSetting, params: DPParams | None = None, /, *, seed: int = 0,
             generator: torch.Generator | None = None, device: str | torch.device = "cpu",
             callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
             **overrides: Any) -> ItemPricePolicy | TablePolicy:
    """The optimal sequential item-wise posted prices.

    Additive values (A, B): exact, item by item (:class:`ItemPricePolicy`, any ``m``; ``values_``
    ``(n + 1,)`` the revenue-to-go). Otherwise item prices per state by DP (``m <= 10``,
    :class:`TablePolicy` of bundle prices = sums of item prices).

    >>> p = itemwise(SequentialSetting(1, 1, "A"))
    >>> p.item_prices.tolist(), p.values_.tolist()
    ([[0.5]], [0.25, 0.0])
    """
    check_type(setting, "setting", SequentialSetting)
    if setting.setting in ("A", "B"):
        dev = resolve_device(device)
        h = setting.item_high.to(dev)
        n = setting.n_bidders
        prices = torch.zeros(n, setting.n_items, dtype=torch.float64, device=dev)
        cont = torch.zeros(n + 1, setting.n_items, dtype=torch.float64, device=dev)
        for i in range(n - 1, -1, -1):  # U[0, h]: p = (h + V) / 2 maximises p (1 - p/h) + V p/h
            prices[i] = (h + cont[i + 1]) / 2
            cont[i] = (h + cont[i + 1]) ** 2 / (4 * h)
        policy = ItemPricePolicy(setting, prices.float())
        policy.values_ = cont.sum(1).float()
        return policy
    return _bundle_dp(setting, params, overrides, seed, generator, device, callback, resume,
                      "itemwise")


def bundlewise(setting: SequentialSetting, params: DPParams | None = None, /, *, seed: int = 0,
               generator: torch.Generator | None = None, device: str | torch.device = "cpu",
               callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
               **overrides: Any) -> TablePolicy:
    """The optimal sequential grand-bundle posted prices by DP (``m <= 10``)."""
    return _bundle_dp(setting, params, overrides, seed, generator, device, callback, resume,
                      "bundlewise")
