"""GemNet: menu-based, strategy-proof multi-bidder auctions (Wang, Jiang, Parkes, EC 2024).

Bidder ``i`` faces a menu of ``K`` options (allocation, price) computed by a network of the *other*
bidders' bids ``v_{-i}`` (Sec. 3) and takes its utility-maximising option (or nothing). Whatever
the networks, no bidder can change its own menu, so the mechanism is strategy-proof and IR; it is
*feasible* only if the chosen options are compatible (no item allocated more than once).
Training maximises revenue under the softmax relaxation of every choice and penalises menu
incompatibility ``sum_j relu(sum_i a_ij - 1)`` (Sec. 4). Allocations are a clipped, stretched
sigmoid of the network's logits, so that options can give exactly nothing or all of an item: with
a plain sigmoid two bidders' options always overlap a little and no choice of prices makes them
compatible (2x2 U[0,1]: 0.846 before and 0.846 after the transform instead of a stuck transform).
With one bidder there is nothing to be compatible with and GemNet is exactly RochetNet (same
parameters, same training).

After training (Sec. 5) prices are changed on a grid of the values by mixed-integer programs
(HiGHS through :func:`econcs.shared.solvers.solve_milp`), one per bidder ``i`` and grid cell of
the others' values ``v_{-i}`` at which some grid profile is incompatible: the programs maximise
``i``'s revenue over ``i``'s grid values subject to ``i``'s choice fitting next to the others'
choices and beating every other option by a margin. Price changes are first bounded (few options
can become the choice, so the programs are small; the others are skipped, and so are dominated
options) and the bound is widened when a program is infeasible; a cell whose program stops at its
time limit keeps the better of its solution and simple fallbacks that always fit (raising or pricing
out the unfit options); compatible cells are left unchanged. The change is constant on the
grid cell of ``v_{-i}``, so the menus stay functions of the others' bids (strategy-proofness is
kept). Bounds on the menu networks over boxes (a local Lipschitz argument: the mean-value form with
an interval Jacobian, intersected with interval propagation) then certify boxes of the value space
on which the options each bidder may choose are compatible, bisecting the boxes where the
certificate fails; the certified share of the value space is reported (the certificate is in
:mod:`econcs.auctions._gemnet_certificate`, the per-cell programs in
:mod:`econcs.auctions._gemnet_programs`).

Off the certified boxes the menus' choices can still conflict (rarely: ~0.02-0.09% of profiles on
the trained 2x2 networks). ``repair=True`` makes every outcome feasible: bidders in turn take
their best option that fits next to the earlier bidders'. Outcomes where the choices are
compatible do not change, bidder 0 stays exactly strategy-proof, and each other bidder's ex-post
regret is at most the utility it gives up (:meth:`GemNet.repair_loss`, computed exactly, 0 on
every certified box), since whatever it reports it gets an option of the same menu.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from econcs.auctions._gemnet_certificate import certified_share, hard_sigmoid
from econcs.auctions._gemnet_programs import (
    _cell_revenue,
    _dominated,
    _price_milp,
    _raise_unfit,
    _remove_unfit,
)
from econcs.auctions._mechanism import Mechanism, unit_grid
from econcs.auctions._setting import AuctionSetting
from econcs.auctions._training import RevenueParams, fit_revenue, start_generator, value_scale
from econcs.shared import (
    Callback,
    MenuLayer,
    check_bool,
    check_choice,
    check_float,
    check_int,
    make_generator,
    param,
    resolve_params,
    softmax_temperature,
)

__all__ = ["GemNet", "GemNetParams", "TransformResult"]

#: allocations summing to at most ``1 + _FIT_TOL`` per item count as fitting (float rounding)
_FIT_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class GemNetParams(RevenueParams):
    """Training parameters of :class:`GemNet`: relaxed revenue minus ``c_t * E[incompatibility]``
    (those of :class:`~econcs.auctions._training.RevenueParams` and the penalty ``c_t``).

    ``lr``: 0.02 collapses the 2x2 menus. ``temperature``: 2x2 U[0,1], 3000 steps, 0.05 -> 0.005
    gives 0.859 before the transform, 0.02 -> 0.002 gives 0.846.

    One item (:meth:`resolved`): final temperature ``temperature / 100`` and penalty 0.5 (-> 5)
    by default. The optimum there is a sharp threshold, ``max(v_-i, reserve)``, and the
    relaxation biases it: ``N`` near-identical options priced ``p`` sell under the softmax like
    one priced ``p - tau log N``, so while the penalty holds the soft threshold at the other
    bidder's value the exact (argmax) one sits ``~tau log N`` above it, and a strong penalty
    pushes it higher still (at ``tau`` = 5e-3: thresholds 0.03-0.05 above Myerson's near the
    reserve, and one bidder priced out near the top; -1.6% of 5/12). What training leaves
    raised, the transform on every cell (``cells="all"``) takes down; 3000 steps (6000 before
    issue 32's fourth session: per-bidder networks at 3000 / 6000 steps before the transform,
    seeds 0-2: -1.45 / -0.84 / -0.78% against -0.49 / -1.31 / -1.98% of 5/12).
    Several items keep 3000 steps, ``temperature / 10`` and penalty 2 (-> 20): penalty 0.5
    leaves the 2x2 menus more incompatible, and the transform loses more (MEASUREMENTS.md).

    ``final_steps`` (opt-in) ends the run with that many steps at the final temperature and
    penalty and a fresh Adam (the annealing runs over the steps before): on 2x1 it lowers the
    thresholds the high temperature left raised (seed 2: -1.98% -> -0.87% of 5/12) but does not
    undo an asymmetric boundary (seed 1: -1.31% / -2.09%); with ``symmetric=True`` the three
    seeds are -0.70% / -1.10% / -1.19% (MEASUREMENTS.md, issue 32, third session).
    """

    max_iter: int | None = param(None, "Adam steps (default 3000)", low=1)
    lr: float = param(0.005, "Adam learning rate, decayed by cosine to lr / 20", low=0.0,
                      low_inclusive=False)
    temperature: float = param(0.05, "initial softmax temperature of the choices (relative to "
                               "the value scale)", low=0.0, low_inclusive=False)
    temperature_final: float | None = param(
        None, "final softmax temperature, annealed geometrically (default: temperature / 10; "
        "one item temperature / 100)", low=0.0, low_inclusive=False)
    penalty: float | None = param(None, "initial incompatibility penalty (in units of the value "
                                  "scale; default 2, one item 0.5)", low=0.0)
    penalty_final: float | None = param(None, "final incompatibility penalty, annealed "
                                        "geometrically (default: 10 * penalty)", low=0.0)
    final_steps: int = param(0, "the last steps of max_iter: a final phase at the final "
                             "temperature and penalty with the learning rate restarted "
                             "(opt-in; 2x1: 1000 of 6000 measured in MEASUREMENTS.md)", low=0)
    final_lr: float | None = param(None, "Adam learning rate of the final phase, decayed by "
                                   "cosine to a twentieth (default: lr)", low=0.0,
                                   low_inclusive=False)

    def resolved(self, n_items: int) -> GemNetParams:
        """These parameters with every ``None`` default filled in for ``n_items`` items."""
        one = n_items == 1
        auto = {"max_iter": 3000, "penalty": 0.5 if one else 2.0,
                "temperature_final": self.temperature / (100 if one else 10)}
        return dataclasses.replace(self, **{k: v for k, v in auto.items()
                                            if getattr(self, k) is None})

    @property
    def final_penalty(self) -> float:
        """``penalty_final``, or ``10 * penalty`` when it is ``None`` (``penalty`` resolved)."""
        penalty = 2.0 if self.penalty is None else self.penalty
        return 10 * penalty if self.penalty_final is None else self.penalty_final


@dataclasses.dataclass(frozen=True)
class TransformResult:
    """Outcome of :meth:`GemNet.transform`.

    grid_points : points per value dimension of the grid.
    n_milps, n_infeasible : programs solved (a cell infeasible at ``max_change`` is retried with
        a wider bound) and cells where none found a solution in time (their price changes come
        from the fallbacks: the fixed-choice LP, raising or pricing out the unfit options).
    violations_before, violations_after : grid profiles with incompatible choices.
    certified_share : share of the value space (by volume) certified compatible.
    revenue_before, revenue_after : mean revenue over the grid profiles.
    seconds : wall time.
    order : the bidders in the order their menus were changed.
    """

    grid_points: int
    n_milps: int
    n_infeasible: int
    violations_before: int
    violations_after: int
    certified_share: float
    revenue_before: float
    revenue_after: float
    seconds: float
    order: tuple[int, ...] = ()


def _transform_orders(order: Sequence[int] | str | None, n: int) -> list[list[int]]:
    """The bidder orders :meth:`GemNet.transform` tries: ``order`` checked (default index order),
    or every rotation of the index order for ``"best"``."""
    if isinstance(order, str):
        if order != "best":
            raise ValueError(f"order: expected 'best' or a permutation of the bidders, got "
                             f"{order!r}.")
        return [list(range(r, n)) + list(range(r)) for r in range(n)]
    try:
        orders = [list(range(n)) if order is None else [int(i) for i in order]]
    except TypeError:
        raise TypeError(f"order: expected 'best' or a permutation of the bidders, got "
                        f"{order!r}.") from None
    if sorted(orders[0]) != list(range(n)):
        raise ValueError(f"order: expected a permutation of the bidders 0..{n - 1}, "
                         f"got {orders[0]}.")
    return orders


class GemNet(Mechanism):
    """Per-bidder menu networks of the others' bids, with a post-training price transform.

    Parameters
    ----------
    setting
        the :class:`AuctionSetting` (additive or unit-demand).
    menu_size
        options ``K`` per menu (besides the null option).
    hidden, layers
        width and depth of each bidder's menu network (unused for one bidder).
    repair
        make every outcome feasible: bidders in turn (index order) take their best option that
        fits next to the earlier bidders' (:meth:`choices`). Where the menus are compatible this
        changes nothing; elsewhere bidder ``i > 0`` gives up :meth:`repair_loss`, which bounds
        its ex-post regret (every report of ``i`` gets it an option of the same menu), and
        bidder 0 stays exactly strategy-proof. Off (the paper's mechanism): exactly
        strategy-proof, but over-allocating where the menus are incompatible.
    symmetric
        one menu network shared by every bidder (each reads the others' bids in index order,
        so two bidders are exchangeable exactly): for i.i.d. bidders it rules out asymmetric
        menus (e.g. on one item, bidder 0 winning below the diagonal and bidder 1 only above
        it, which is compatible, so the penalty does not push it back). Off: a network per
        bidder, as in the paper.

    Examples
    --------
    >>> from econcs.auctions import AuctionSetting
    >>> mech = GemNet(AuctionSetting(2, 1), menu_size=8, hidden=16).fit(max_iter=5, seed=0)
    >>> [t.shape for t in mech(torch.rand(3, 2, 1))]
    [torch.Size([3, 2, 1]), torch.Size([3, 2])]
    """

    straight_through = True

    def __init__(self, setting: AuctionSetting, menu_size: int = 64, hidden: int = 64,
                 layers: int = 2, *, repair: bool = False, symmetric: bool = False,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None
                 ) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        self.repair = bool(check_bool(repair, "repair"))
        self.symmetric = bool(check_bool(symmetric, "symmetric"))
        self.menu_size = check_int(menu_size, "menu_size", low=1)
        self.hidden = check_int(hidden, "hidden", low=1)
        self.layers = check_int(layers, "layers", low=1)
        n, m = setting.shape
        self.width = m + (1 if setting.valuation == "unit-demand" else 0)
        k = self.menu_size
        if n == 1:
            self.menu = MenuLayer(m, k, kind=setting.valuation, dtype=self.dtype_)
        else:
            sizes = [(n - 1) * m] + [self.hidden] * self.layers + [k * (self.width + 1)]
            nets = 1 if self.symmetric else n
            self.weights = nn.ParameterList(
                [nn.Parameter(torch.zeros(nets, a, b)) for a, b in itertools.pairwise(sizes)])
            self.biases = nn.ParameterList(
                [nn.Parameter(torch.zeros(nets, b)) for b in sizes[1:]])
            others = [[j for j in range(n) if j != i] for i in range(n)]
            self.register_buffer("_others", torch.tensor(others, dtype=torch.long),
                                 persistent=False)
        # price changes of the transform, per bidder and grid cell of the others' values
        self.register_buffer("price_delta", torch.zeros(0))
        self.register_buffer("delta_grid", torch.zeros(0))
        self.to(self.device_, self.dtype_)
        self.reset_parameters(make_generator(0))

    @property
    def exactly_ic(self) -> bool:  # type: ignore[override]
        """Exactly strategy-proof unless :attr:`repair` is on (then regret <= repair loss)."""
        return not self.repair or self.setting.n_bidders == 1

    def hparams(self) -> dict[str, Any]:
        return {"menu_size": self.menu_size, "hidden": self.hidden, "layers": self.layers,
                "repair": self.repair, "symmetric": self.symmetric}

    def layer_params(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's ``(weights (n, in, out), biases (n, out))`` of the bidders' menu networks
        (the shared network repeated for every bidder when :attr:`symmetric`)."""
        n = self.setting.n_bidders
        return [(w.expand(n, -1, -1), b.expand(n, -1))
                for w, b in zip(self.weights, self.biases, strict=True)]

    def reset_parameters(self, generator: torch.Generator) -> None:
        """One bidder: RochetNet's initialisation. Several: Glorot-uniform layers, allocation
        logits ``N(0, 1)`` and prices uniform in ``[0, sum of highs]`` in the output biases."""
        n = self.setting.n_bidders
        top = float(self.setting.search_high[0].sum()) if self.setting.valuation == "additive" \
            else float(self.setting.search_high[0].max())
        k = self.menu_size
        with torch.no_grad():
            logits = torch.randn(k, self.width, generator=generator, dtype=torch.float64)
            prices = torch.rand(k, generator=generator, dtype=torch.float64) * top
            if n == 1:
                self.menu.logits.copy_(logits)
                self.menu.prices.copy_(prices)
                return
            for w, b in zip(self.weights, self.biases):
                bound = math.sqrt(6.0 / (w.shape[1] + w.shape[2]))
                w.copy_((torch.rand(w.shape, generator=generator, dtype=torch.float64) * 2 - 1)
                        * bound)
                b.zero_()
            self.weights[-1].mul_(0.1)
            self.biases[-1].copy_(torch.cat([logits.reshape(-1), prices]).expand(
                self.biases[-1].shape[0], -1))

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        for key in ("price_delta", "delta_grid"):  # transform buffers change shape
            if key in state_dict:
                setattr(self, key, torch.zeros_like(state_dict[key], device=self.device_))
        return super().load_state_dict(state_dict, strict, assign)

    # -- menus -----------------------------------------------------------------------------------
    def menus(self, reports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each bidder's menu given the others' reports: ``allocations (B, n, K, m)``, ``prices
        (B, n, K)`` (price changes of the transform included)."""
        b = reports.shape[0]
        n, m = self.setting.shape
        k = self.menu_size
        if n == 1:
            alloc = self.menu.allocations.expand(b, 1, k, m)
            return alloc, self.menu.prices.expand(b, 1, k)
        x = (reports - self._low) / (self._high - self._low)
        h = x[:, self._others].reshape(b, n, (n - 1) * m)  # (B, n, (n-1) m)
        for layer, (w, bias) in enumerate(self.layer_params()):
            h = torch.einsum("bna,nac->bnc", h, w) + bias
            if layer < len(self.weights) - 1:
                h = torch.tanh(h)
        logits = h[..., : k * self.width].reshape(b, n, k, self.width)
        prices = h[..., k * self.width:]
        if self.setting.valuation == "additive":
            alloc = hard_sigmoid(logits)
        else:
            alloc = torch.softmax(logits, dim=-1)[..., :m]
        if self.price_delta.numel():
            prices = prices + self._lookup_delta(reports)
        return alloc, prices

    def _lookup_delta(self, reports: torch.Tensor) -> torch.Tensor:
        """Price changes ``(B, n, K)`` of the grid cell of each bidder's others' values."""
        n, m = self.setting.shape
        g = self.delta_grid.shape[0]
        x = ((reports - self._low) / (self._high - self._low)).clamp(0, 1)
        cell = torch.round(x * (g - 1)).long()  # (B, n, m) nearest grid index per value
        others = cell[:, self._others].reshape(reports.shape[0], n, (n - 1) * m)
        flat = torch.zeros_like(others[..., 0])
        for d in range((n - 1) * m):  # loop over value dimensions (<= a handful), not samples
            flat = flat * g + others[..., d]
        idx = flat.unsqueeze(-1).expand(-1, -1, self.menu_size)
        delta = self.price_delta.unsqueeze(0).expand(reports.shape[0], -1, -1, -1)
        return delta.gather(2, idx.unsqueeze(2)).squeeze(2)

    def _menu_utilities(self, reports: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The menus (:meth:`menus`) and every option's utility ``(B, n, K + 1)`` at
        ``reports``, the null option's 0 last."""
        alloc, prices = self.menus(reports)
        utils = torch.einsum("bnkm,bnm->bnk", alloc, reports) - prices
        return alloc, prices, torch.cat([utils, utils.new_zeros(*utils.shape[:2], 1)], dim=-1)

    def choices(self, reports: torch.Tensor, temperature: float | None = None, *,
                repair: bool | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(allocation (B, n, m), payment (B, n), utilities (B, n, K + 1))`` of every bidder's
        choice from its menu (null option last). ``temperature``: softmax choices (training);
        ``None``: argmax, repaired (:attr:`repair`, or as given) so that bidders in turn take
        their best option fitting next to the earlier bidders' allocations."""
        alloc, prices, utils = self._menu_utilities(reports)
        if temperature is None:
            repair = self.repair if repair is None else repair
            pick = self._repaired_picks(alloc, utils) if repair else utils.argmax(-1)
            weights = torch.nn.functional.one_hot(pick, utils.shape[-1]).to(reports.dtype)
        else:
            weights = softmax_temperature(utils, temperature, dim=-1)
        w = weights[..., :-1]
        return (torch.einsum("bnk,bnkm->bnm", w, alloc), (w * prices).sum(-1), utils)

    def _repaired_picks(self, alloc: torch.Tensor, utils: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` options taken when bidders in turn take their best option (null included,
        which always fits) that fits next to the earlier bidders' picks, within ``_FIT_TOL``.
        Where the argmax choices are compatible these are the argmax choices."""
        b, n, k, m = alloc.shape
        used = alloc.new_zeros(b, m)
        picks = []
        fit_null = torch.ones(b, 1, dtype=torch.bool, device=alloc.device)
        for i in range(n):  # bidders in turn (a handful), vectorised over profiles
            fits = (alloc[:, i] <= (1 - used).unsqueeze(1) + _FIT_TOL).all(-1)  # (B, K)
            u = utils[:, i].masked_fill(~torch.cat([fits, fit_null], 1), -math.inf)
            pick = u.argmax(-1)
            picks.append(pick)
            taken = alloc[:, i].gather(1, pick.clamp(max=k - 1)[:, None, None].expand(-1, 1, m))
            used = used + taken[:, 0] * (pick < k).unsqueeze(-1).to(alloc.dtype)
        return torch.stack(picks, 1)

    def repair_loss(self, reports: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` utility each bidder gives up to the feasibility repair: its best utility on
        its menu minus that of its repaired pick (:meth:`choices`); 0 wherever the choices are
        compatible. With :attr:`repair` on it bounds the bidder's ex-post regret: whatever
        ``i`` reports, it gets an option of the menu that the others' reports set."""
        reports = self.setting.check_values(reports).to(self.device_, self.dtype_)
        with torch.no_grad():
            alloc, _, utils = self._menu_utilities(reports)
            picked = utils.gather(-1, self._repaired_picks(alloc, utils).unsqueeze(-1))[..., 0]
            return utils.amax(-1) - picked

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        alloc, pay, _ = self.choices(reports, temperature)
        return alloc, pay

    def incompatibility(self, alloc: torch.Tensor) -> torch.Tensor:
        """``(B,)`` total over-allocation ``sum_j relu(sum_i a_ij - 1)``."""
        return torch.relu(alloc.sum(1) - 1).sum(-1)

    # -- training --------------------------------------------------------------------------------
    def fit(self, params: GemNetParams | None = None, /, *, seed: int = 0,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            resume: tuple[int, dict[str, Any]] | None = None, **overrides: Any) -> GemNet:
        """Maximise relaxed revenue minus ``c_t * E[incompatibility]`` on fresh samples, ``c_t``
        growing geometrically from ``penalty`` to ``penalty_final`` (in units of the value scale),
        with the :class:`GemNetParams` ``params`` or keyword ``overrides`` of them; returns
        ``self``. With one bidder the penalty is identically 0 and this is RochetNet's training.
        ``seed`` / ``generator``, ``callback`` and ``resume`` as in :meth:`RochetNet.fit`.
        """
        p = resolve_params(GemNetParams, params, **overrides).resolved(self.setting.n_items)
        penalty, penalty_final, max_iter = p.penalty, p.final_penalty, p.max_iter
        if p.final_steps >= max_iter:
            raise ValueError(f"final_steps: expected fewer than max_iter={max_iter} steps, got "
                             f"{p.final_steps}.")
        main = max_iter - p.final_steps  # the penalty grows over these steps, then stays
        gen = start_generator(seed, generator)
        scale = value_scale(self.setting)
        self.price_delta = torch.zeros(0, device=self.device_)
        self.delta_grid = torch.zeros(0, device=self.device_)

        def extra(values: torch.Tensor, alloc: torch.Tensor, step: int) -> torch.Tensor:
            if self.setting.n_bidders == 1:
                return alloc.new_zeros(())
            frac = min((step - 1) / max(main - 1, 1), 1.0)
            c = penalty * (penalty_final / max(penalty, 1e-12)) ** frac if penalty > 0 else 0.0
            return c * scale * self.incompatibility(alloc).mean()

        fit_revenue(self, list(self.parameters()), p, generator=gen, callback=callback,
                    resume=resume, penalty=extra, final_steps=p.final_steps,
                    final_lr=p.final_lr)
        return self

    # -- the post-training transform -------------------------------------------------------------
    def _grid_profiles(self, points: int) -> torch.Tensor:
        n, m = self.setting.shape
        mesh = unit_grid(points, n * m, device=self.device_, dtype=self.dtype_)
        return self._low + mesh.reshape(-1, n, m) * (self._high - self._low)

    def _bidder_profiles(self, bidder: int, own_points: int, points: int) -> torch.Tensor:
        """Profiles ``(X * C, n, m)`` for bidder ``bidder``'s programs: its own values on a grid of
        ``own_points`` per item (``X = own_points ** m``) times the grid cells ``c`` of the others'
        values (``points`` per value, in the order used by :meth:`_lookup_delta`); reshaped to
        ``(X, C, n, m)`` by :meth:`_bidder_view`. With ``own_points == points`` these are the
        grid profiles of :meth:`_grid_profiles`, in another order."""
        n, m = self.setting.shape
        kw = {"device": self.device_, "dtype": self.dtype_}
        own = unit_grid(own_points, m, **kw)
        others = unit_grid(points, (n - 1) * m, **kw).reshape(-1, n - 1, m)
        x = own.new_zeros(own.shape[0], others.shape[0], n, m)
        x[:, :, bidder] = own[:, None]
        x[:, :, [j for j in range(n) if j != bidder]] = others[None]
        return self._low + x.reshape(-1, n, m) * (self._high - self._low)

    def _bidder_view(self, t: torch.Tensor, cells: int) -> torch.Tensor:
        """A tensor ``(X * C, ...)`` on :meth:`_bidder_profiles` as ``(X, C, ...)``: the bidder's
        own grid value ``x`` first, then the grid cell ``c`` of the others' values."""
        return t.reshape(-1, cells, *t.shape[1:])

    def transform(self, grid_points: int = 11, *, margin: float = 1e-3, max_change: float = 0.1,
                  refine: int = 2, tol: float = 1e-6, time_limit: float = 2.0,
                  node_limit: int | None = None, order: Sequence[int] | str | None = None,
                  own_points: int | None = None, cells: str = "violated") -> TransformResult:
        """Make the choices compatible on a grid by changing prices (MILPs on HiGHS), then
        certify the value space with bounds on the menus over boxes, refined adaptively.

        Bidders are taken in turn; for bidder ``i`` and every grid cell ``c`` of the others' values
        at which some grid profile is incompatible, :func:`_price_milp` finds price changes ``d
        (K,)`` of ``i``'s menu at ``c`` that maximise ``i``'s revenue over ``i``'s grid values
        while making ``i``'s choice fit next to the others' (current) choices at every one of them
        and beat every other option by ``margin``. The others' choices do not depend on ``i``'s
        prices, so a later bidder's programs never undo an earlier one's. Options another option
        dominates (:func:`_dominated`) are priced out of the cell, not given to the program: they
        are never a strict best choice, and on sharp menus (most of the 64 options) the program
        separating them by the margin finds no solution in time (a restriction: a dominated option
        that would fit where its dominator does not is lost). Price changes start bounded by
        ``max_change`` (few options can become the choice, so the programs are small) and the bound
        is widened (x4, then enough to price every option out) when a program is infeasible, not
        when it runs out of time without a solution (a wider bound is a harder program: on sharp
        2x2 menus this halves the transform at no cost in revenue). A program stopped by
        ``time_limit`` with a solution returns it, which can be poor, so the cell keeps the best on
        its grid of that solution (or, if there is none, of the program with the choices fixed to
        the best fitting options, an LP) and two fallbacks that always fit: raising the unfit
        options just enough (:func:`_raise_unfit`) or pricing them out (:func:`_remove_unfit`).
        With two bidders the null option always fits, so every grid profile ends compatible. Needs
        ``n_bidders * n_items <= 6``.

        Parameters
        ----------
        grid_points
            grid points per value dimension.
        margin
            utility margin by which the chosen option must beat the others (value units).
        max_change
            first bound on a price change, relative to the value scale.
        refine
            levels of adaptive refinement of the certificate: each halves the boxes not yet
            certified along every dimension, one dimension at a time (stops early beyond two
            million boxes).
        tol
            over-allocation below ``tol`` counts as compatible (float rounding).
        time_limit
            seconds per MILP. A program it stops depends on the machine's speed and load.
        node_limit
            branch-and-bound nodes per MILP (HiGHS ``mip_max_nodes``; default: none). A program
            it stops returns its best solution as one stopped by ``time_limit`` does, but the
            same on every machine: where ``time_limit`` never binds the transform is
            reproducible. The default 2x1 runs' programs (every cell, 201 own values; seeds 0-4)
            need at most 128 nodes and 1.7 s each, so ``node_limit=1000, time_limit=60`` gives
            their results under any load; an untrained menu's need far more (a 5-step
            network: over 10 minutes at 1000 nodes), so it is not the default.
        order
            the bidders in the order their menus are changed (a permutation; default index
            order), or ``"best"``: every rotation of the index order, keeping the one with the
            highest revenue on the grid (n transforms). Which bidder gives way matters less
            since the programs skip dominated options: on 2x2 networks trained 20000 steps
            (11-grid, held-out revenue) ``(1, 0)`` keeps 0.8630 of 0.8649 (seed 0) and 0.8637 of
            0.8658 (seed 1), index order 0.8624 and 0.8609.
        """
        start = time.perf_counter()
        n, m = self.setting.shape
        grid_points = check_int(grid_points, "grid_points", low=2)
        own_points = grid_points if own_points is None else check_int(own_points, "own_points",
                                                                      low=2)
        cells = check_choice(cells, "cells", ("violated", "all"))
        margin = check_float(margin, "margin", low=0.0)
        max_change = check_float(max_change, "max_change", low=0.0, low_inclusive=False)
        refine = check_int(refine, "refine", low=0)
        tol = check_float(tol, "tol", low=0.0)
        time_limit = check_float(time_limit, "time_limit", low=0.0, low_inclusive=False)
        if node_limit is not None:
            node_limit = check_int(node_limit, "node_limit", low=1)
        if n * m > 6:
            raise ValueError(f"setting: the grid transform needs n_bidders * n_items <= 6, got "
                             f"{n * m}.")
        orders = _transform_orders(order, n)
        k = self.menu_size
        self.price_delta = torch.zeros(0, device=self.device_)
        profiles = self._grid_profiles(grid_points)  # (P, n, m)
        with torch.no_grad():
            alloc, pay, _ = self.choices(profiles, repair=False)
        revenue_before = float(pay.sum(-1).mean())
        if n == 1:  # nothing can be incompatible: RochetNet
            return TransformResult(grid_points, 0, 0, 0, 0, 1.0, revenue_before, revenue_before,
                                   time.perf_counter() - start, (0,))
        violations_before = int((self.incompatibility(alloc) > tol).sum())
        g_others = grid_points ** ((n - 1) * m)
        self.delta_grid = torch.zeros(grid_points, device=self.device_)
        d_max = max_change * value_scale(self.setting)
        best: tuple[float, list[int], torch.Tensor, int, int] | None = None
        for cand in orders:
            self.price_delta = torch.zeros(n, g_others, k, device=self.device_, dtype=self.dtype_)
            n_milps, n_inf = self._fix_grid(cand, grid_points, own_points, margin, d_max, tol,
                                            time_limit, cells == "all", node_limit)
            with torch.no_grad():
                revenue = float(self.choices(profiles, repair=False)[1].sum(-1).mean())
            if best is None or revenue > best[0]:
                best = (revenue, cand, self.price_delta, n_milps, n_inf)
        assert best is not None
        revenue_after, chosen, self.price_delta, n_milps, n_inf = best
        with torch.no_grad():
            alloc, _, _ = self.choices(profiles, repair=False)
            violations_after = int((self.incompatibility(alloc) > tol).sum())
        share = certified_share(self, grid_points, refine, tol)
        return TransformResult(grid_points, n_milps, n_inf, violations_before, violations_after,
                               share, revenue_before, revenue_after,
                               time.perf_counter() - start, tuple(chosen))

    def _fix_grid(self, order: list[int], grid_points: int, own_points: int, margin: float,
                  d_max: float, tol: float, time_limit: float, all_cells: bool = False,
                  node_limit: int | None = None) -> tuple[int, int]:
        """The price-change programs of :meth:`transform` for the bidders in ``order`` (on the
        cells with a violation, or on every cell with ``all_cells``), added to
        :attr:`price_delta`; returns ``(programs solved, cells without a solution in time)``."""
        from econcs.shared.solvers import SolverError

        n_milps = n_inf = 0
        n_cells = grid_points ** ((self.setting.n_bidders - 1) * self.setting.n_items)
        for i in order:
            profiles = self._bidder_profiles(i, own_points, grid_points)
            with torch.no_grad():
                alloc, _, _ = self.choices(profiles, repair=False)
                bad = self._bidder_view(self.incompatibility(alloc) > tol, n_cells)
                if not (all_cells or bool(bad.any())):
                    continue
                menu_a, menu_p, utils = self._menu_utilities(profiles)
                utils = utils[..., :-1]
            u_i = self._bidder_view(utils[:, i], n_cells).double().cpu().numpy()
            a_i = self._bidder_view(menu_a[:, i], n_cells)[0].double().cpu().numpy()
            p_i = self._bidder_view(menu_p[:, i], n_cells)[0].double().cpu().numpy()
            rest = self._bidder_view(alloc.sum(1) - alloc[:, i], n_cells)
            rest = rest.double().cpu().numpy()
            todo = range(n_cells) if all_cells else torch.nonzero(bad.any(0)).flatten().tolist()
            for c in todo:  # cells with a violation (or every cell)
                u, a, p, r = u_i[:, c], a_i[c], p_i[c], rest[:, c]
                ceiling = float(np.maximum(u, 0).max()) + 2 * margin
                keep = ~_dominated(a, p)  # priced out of the cell in the programs' solutions
                kept = None
                for bound in (d_max, 4 * d_max, max(16 * d_max, ceiling)):
                    n_milps += 1
                    try:
                        kept = _price_milp(u[:, keep], a[keep], p[keep], r, margin, bound, tol,
                                           time_limit, node_limit=node_limit)
                    except SolverError:  # out of time: a wider bound is a harder program
                        break
                    if kept is not None or bound >= ceiling:
                        break
                if kept is not None:
                    found = [np.full(keep.size, ceiling)]
                    found[0][keep] = kept
                else:  # none solved in time: fix the choices to the best fitting options
                    n_inf += 1
                    try:
                        found = [_price_milp(u, a, p, r, margin, ceiling, tol, time_limit,
                                             fixed=True, node_limit=node_limit)]
                    except SolverError:
                        found = []
                found += [_raise_unfit(u, a, r, tol, margin, ceiling),
                          _remove_unfit(u, a, r, tol, ceiling)]  # on a tie the first is kept
                delta = max((d for d in found if d is not None),
                            key=lambda d: _cell_revenue(u, a, p, r, d, tol))
                self.price_delta[i, c] += torch.as_tensor(delta, dtype=self.dtype_,
                                                          device=self.device_)
        return n_milps, n_inf
