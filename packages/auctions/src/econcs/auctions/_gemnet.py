"""GemNet: menu-based, strategy-proof multi-bidder auctions (Wang, Jiang, Parkes, EC 2024).

Bidder ``i`` faces a menu of ``K`` options (allocation, price) computed by a network of the *other*
bidders' bids ``v_{-i}`` (Sec. 3) and takes its utility-maximising option (or nothing). Whatever
the networks, no bidder can change its own menu, so the mechanism is strategy-proof and IR; it is
*feasible* only if the chosen options are compatible (no item allocated more than once).
Training maximises revenue under the softmax relaxation of every choice and penalises menu
incompatibility ``sum_j relu(sum_i a_ij - 1)`` (Sec. 4). With one bidder there is nothing to be
compatible with and GemNet is exactly RochetNet (same parameters, same training).

After training (Sec. 5) the prices of bidder 0's menus are changed on a grid of the others'
values by mixed-integer programs (HiGHS through :func:`econcs.shared.solvers.solve_milp`): at every
grid value ``x`` of bidder 0 the chosen option must fit next to the others' choices and beat every
other option by a margin ``delta``; price changes are bounded by ``max_change`` and options that
cannot become the choice under such changes are skipped, which keeps the programs small; grid
points whose choices are already compatible are left unchanged. The adjustment is constant on the
grid cell of ``v_{-0}``, so the menus stay functions of the others' bids (strategy-proofness is
kept). A Lipschitz bound on the menu networks (product of layer ``inf``-norms) then certifies grid
cells of the whole profile space on which the choices cannot change enough to become incompatible;
the certified share of the value space is reported.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from econcs.auctions._mechanism import Mechanism
from econcs.auctions._rochetnet import Callback, fit_revenue, value_scale
from econcs.auctions._setting import AuctionSetting
from econcs.shared import MenuLayer, check_float, check_int, make_generator, softmax_temperature

__all__ = ["GemNet", "TransformResult"]


@dataclasses.dataclass(frozen=True)
class TransformResult:
    """Outcome of :meth:`GemNet.transform`.

    grid_points : points per value dimension of the grid.
    n_milps, n_infeasible : programs solved (a cell infeasible at ``max_change`` is retried at
        four times it), and cells left unchanged because both were infeasible.
    violations_before, violations_after : grid profiles with incompatible choices.
    certified_share : share of the profile space (by volume) certified compatible.
    seconds : wall time.
    """

    grid_points: int
    n_milps: int
    n_infeasible: int
    violations_before: int
    violations_after: int
    certified_share: float
    seconds: float


class GemNet(Mechanism):
    """Per-bidder menu networks of the others' bids, with a post-training price transform.

    Parameters
    ----------
    setting : the :class:`AuctionSetting` (additive or unit-demand).
    menu_size : options ``K`` per menu (besides the null option).
    hidden, layers : width and depth of each bidder's menu network (unused for one bidder).

    >>> from econcs.auctions import AuctionSetting
    >>> mech = GemNet(AuctionSetting(2, 1), menu_size=8, hidden=16).fit(max_iter=5, seed=0)
    >>> [t.shape for t in mech(torch.rand(3, 2, 1))]
    [torch.Size([3, 2, 1]), torch.Size([3, 2])]
    """

    exactly_ic = True

    def __init__(self, setting: AuctionSetting, menu_size: int = 64, hidden: int = 64,
                 layers: int = 2, *, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype | None = None) -> None:
        super().__init__(setting, device=device, dtype=dtype)
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
            self.weights = nn.ParameterList(
                [nn.Parameter(torch.zeros(n, a, b)) for a, b in itertools.pairwise(sizes)])
            self.biases = nn.ParameterList(
                [nn.Parameter(torch.zeros(n, b)) for b in sizes[1:]])
            others = [[j for j in range(n) if j != i] for i in range(n)]
            self.register_buffer("_others", torch.tensor(others, dtype=torch.long),
                                 persistent=False)
        # price changes of the transform, per bidder and grid cell of the others' values
        self.register_buffer("price_delta", torch.zeros(0))
        self.register_buffer("delta_grid", torch.zeros(0))
        self.to(self.device_, self.dtype_)
        self.reset_parameters(make_generator(0))

    def hparams(self) -> dict[str, Any]:
        return {"menu_size": self.menu_size, "hidden": self.hidden, "layers": self.layers}

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
            self.biases[-1].copy_(torch.cat([logits.reshape(-1), prices]).expand(n, -1))

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
        for layer, (w, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.einsum("bna,nac->bnc", h, w) + bias
            if layer < len(self.weights) - 1:
                h = torch.tanh(h)
        logits = h[..., : k * self.width].reshape(b, n, k, self.width)
        prices = h[..., k * self.width:]
        if self.setting.valuation == "additive":
            alloc = torch.sigmoid(logits)
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

    def choices(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(allocation (B, n, m), payment (B, n), utilities (B, n, K + 1))`` of every bidder's
        choice from its menu (null option last)."""
        alloc, prices = self.menus(reports)
        utils = torch.einsum("bnkm,bnm->bnk", alloc, reports) - prices
        utils = torch.cat([utils, utils.new_zeros(*utils.shape[:2], 1)], dim=-1)
        if temperature is None:
            weights = torch.nn.functional.one_hot(utils.argmax(-1), utils.shape[-1])
            weights = weights.to(reports.dtype)
        else:
            weights = softmax_temperature(utils, temperature, dim=-1)
        w = weights[..., :-1]
        return (torch.einsum("bnk,bnkm->bnm", w, alloc), (w * prices).sum(-1), utils)

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        alloc, pay, _ = self.choices(reports, temperature)
        return alloc, pay

    def search_outcome(self, reports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hard_a, hard_p = self.outcome(reports)
        soft_a, soft_p = self.outcome(reports, 0.01 * value_scale(self.setting))
        return hard_a + soft_a - soft_a.detach(), hard_p + soft_p - soft_p.detach()

    def incompatibility(self, alloc: torch.Tensor) -> torch.Tensor:
        """``(B,)`` total over-allocation ``sum_j relu(sum_i a_ij - 1)``."""
        return torch.relu(alloc.sum(1) - 1).sum(-1)

    # -- training --------------------------------------------------------------------------------
    def fit(self, max_iter: int = 3000, *, batch_size: int = 1024, lr: float = 0.005,
            temperature: float = 0.02, temperature_final: float = 0.002,
            penalty: float = 2.0, penalty_final: float = 20.0, seed: int = 0,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            resume: tuple[int, dict[str, Any]] | None = None) -> GemNet:
        """Maximise relaxed revenue minus ``c_t * E[incompatibility]`` on fresh samples, ``c_t``
        growing geometrically from ``penalty`` to ``penalty_final`` (in units of the value scale).
        With one bidder the penalty is identically 0 and this is RochetNet's training."""
        penalty = check_float(penalty, "penalty", low=0.0)
        penalty_final = check_float(penalty_final, "penalty_final", low=0.0)
        max_iter = check_int(max_iter, "max_iter", low=1)
        gen = make_generator(check_int(seed, "seed", low=0)) if generator is None else generator
        scale = value_scale(self.setting)
        self.price_delta = torch.zeros(0, device=self.device_)
        self.delta_grid = torch.zeros(0, device=self.device_)

        def extra(values: torch.Tensor, alloc: torch.Tensor, step: int) -> torch.Tensor:
            if self.setting.n_bidders == 1:
                return alloc.new_zeros(())
            frac = (step - 1) / max(max_iter - 1, 1)
            c = penalty * (penalty_final / max(penalty, 1e-12)) ** frac if penalty > 0 else 0.0
            return c * scale * self.incompatibility(alloc).mean()

        fit_revenue(self, list(self.parameters()), max_iter=max_iter, batch_size=batch_size,
                    lr=lr, temperature=temperature, temperature_final=temperature_final,
                    generator=gen, callback=callback, resume=resume, penalty=extra)
        return self

    # -- the post-training transform -------------------------------------------------------------
    def lipschitz(self) -> torch.Tensor:
        """``(n,)`` bound on each menu network's output change per unit change (inf-norm) of the
        normalised others' values: product of the layers' inf-norms (tanh is 1-Lipschitz)."""
        n = self.setting.n_bidders
        if n == 1:
            return torch.zeros(1, dtype=torch.float64)
        bound = torch.ones(n, dtype=torch.float64, device=self.device_)
        for w in self.weights:
            bound = bound * w.detach().abs().sum(1).amax(-1).double()  # max column-sum of W^T
        return bound.cpu()

    def _grid_profiles(self, points: int) -> torch.Tensor:
        n, m = self.setting.shape
        steps = torch.linspace(0, 1, points, device=self.device_, dtype=self.dtype_)
        mesh = torch.stack(torch.meshgrid(*([steps] * (n * m)), indexing="ij"), -1)
        return self._low + mesh.reshape(-1, n, m) * (self._high - self._low)

    def transform(self, grid_points: int = 11, *, margin: float = 1e-3, max_change: float = 0.2,
                  time_limit: float = 10.0) -> TransformResult:
        """Make the choices compatible on a grid by changing bidder 0's prices (MILPs on HiGHS),
        then certify grid cells with the Lipschitz bound. Needs ``n_bidders * n_items <= 6``.

        Parameters
        ----------
        grid_points : grid points per value dimension.
        margin : utility margin ``delta`` by which the chosen option must beat the others.
        max_change : largest price change, relative to the value scale.
        time_limit : seconds per MILP.
        """
        from econcs.shared.solvers import SolverError, solve_milp

        start = time.perf_counter()
        n, m = self.setting.shape
        grid_points = check_int(grid_points, "grid_points", low=2)
        margin = check_float(margin, "margin", low=0.0)
        max_change = check_float(max_change, "max_change", low=0.0, low_inclusive=False)
        if n * m > 6:
            raise ValueError(f"setting: the grid transform needs n_bidders * n_items <= 6, got "
                             f"{n * m}.")
        k = self.menu_size
        if n == 1:  # nothing can be incompatible: RochetNet
            return TransformResult(grid_points, 0, 0, 0, 0, 1.0, time.perf_counter() - start)
        g0 = grid_points ** m  # grid values of one bidder
        g_others = grid_points ** ((n - 1) * m)
        self.price_delta = torch.zeros(n, g_others, k, device=self.device_, dtype=self.dtype_)
        self.delta_grid = torch.zeros(grid_points, device=self.device_)
        profiles = self._grid_profiles(grid_points)  # (g0 * g_others, n, m), bidder 0 slowest
        d_max = max_change * value_scale(self.setting)
        with torch.no_grad():
            alloc, _, _ = self.choices(profiles)
            violations_before = int((self.incompatibility(alloc) > 1e-9).sum())
            menu_a, menu_p = self.menus(profiles)
            utils = torch.einsum("bnkm,bnm->bnk", menu_a, profiles) - menu_p
        # bidder 0 at grid value x (slow index) and others at grid cell g (fast index)
        a0 = menu_a[:, 0].reshape(g0, g_others, k, m)[0]  # (g_others, K, m): menu of bidder 0
        p0 = menu_p[:, 0].reshape(g0, g_others, k)[0]
        u0 = utils[:, 0].reshape(g0, g_others, k)
        rest = alloc[:, 1:].sum(1).reshape(g0, g_others, m)  # others' allocation
        bad = (self.incompatibility(alloc) > 1e-9).reshape(g0, g_others).any(0)
        n_milps = n_inf = 0
        for g in torch.nonzero(bad).flatten().tolist():  # only cells with a violation
            delta = None
            for factor in (1.0, 4.0):  # widen the allowed price change once if infeasible
                delta = _price_milp(u0[:, g].double().cpu().numpy(),
                                    a0[g].double().cpu().numpy(), p0[g].double().cpu().numpy(),
                                    rest[:, g].double().cpu().numpy(), margin, d_max * factor,
                                    time_limit, solve_milp, SolverError)
                n_milps += 1
                if delta is not None:
                    break
            if delta is None:
                n_inf += 1
                continue
            self.price_delta[0, g] = torch.as_tensor(delta, dtype=self.dtype_)
        with torch.no_grad():
            alloc, _, utils = self.choices(profiles)
            violations_after = int((self.incompatibility(alloc) > 1e-9).sum())
        share = self._certify(profiles, alloc, utils, grid_points)
        return TransformResult(grid_points, n_milps, n_inf, violations_before, violations_after,
                               share, time.perf_counter() - start)

    def _menu_bounds(self, lo: torch.Tensor, hi: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Interval bounds on every bidder's menu when the reports range over the box
        ``[lo, hi]`` ``(P, n, m)``: allocations ``(P, n, K, m)`` and prices ``(P, n, K)``, low and
        high. Interval propagation through the linear layers (``|W|`` times the radius) and the
        monotone tanh / sigmoid: a local Lipschitz bound on the menu networks."""
        b = lo.shape[0]
        n, m = self.setting.shape
        k = self.menu_size
        span = self._high - self._low
        xl = ((lo - self._low) / span)[:, self._others].reshape(b, n, (n - 1) * m)
        xh = ((hi - self._low) / span)[:, self._others].reshape(b, n, (n - 1) * m)
        for layer, (w, bias) in enumerate(zip(self.weights, self.biases)):
            c, r = (xl + xh) / 2, (xh - xl) / 2
            c = torch.einsum("bna,nac->bnc", c, w) + bias
            r = torch.einsum("bna,nac->bnc", r, w.abs())
            xl, xh = c - r, c + r
            if layer < len(self.weights) - 1:
                xl, xh = torch.tanh(xl), torch.tanh(xh)
        ll = xl[..., : k * self.width].reshape(b, n, k, self.width)
        lh = xh[..., : k * self.width].reshape(b, n, k, self.width)
        pl, ph = xl[..., k * self.width:], xh[..., k * self.width:]
        if self.price_delta.numel():
            shift = self._lookup_delta((lo + hi) / 2)
            pl, ph = pl + shift, ph + shift
        if self.setting.valuation == "additive":
            return torch.sigmoid(ll), torch.sigmoid(lh), pl, ph
        el, eh = torch.exp(ll - lh.amax(-1, keepdim=True)), torch.exp(lh - lh.amax(-1, keepdim=True))
        tot_h, tot_l = eh.sum(-1, keepdim=True), el.sum(-1, keepdim=True)
        a_lo = el / (el + (tot_h - eh))
        a_hi = eh / (eh + (tot_l - el))
        return a_lo[..., :m], a_hi[..., :m], pl, ph

    def _certify(self, profiles: torch.Tensor, alloc: torch.Tensor, utils: torch.Tensor,
                 points: int, chunk: int = 4096) -> float:
        """Share of grid cells (the box of half a grid step around each grid profile) on which
        every bidder's choice provably stays the same and the choices stay compatible.

        For each cell, interval bounds on the menus (:meth:`_menu_bounds`) give each option's
        utility range; the choice is fixed on the cell if the chosen option's lowest utility
        beats every other option's highest (and 0, the null option); the cell is compatible if,
        in addition, the chosen allocations' upper bounds sum to at most 1 for every item.
        """
        h = (self._high - self._low) / (2 * (points - 1))
        ok = []
        with torch.no_grad():
            for prof, util in zip(profiles.split(chunk), utils.split(chunk)):
                lo = torch.maximum(prof - h, self._low)
                hi = torch.minimum(prof + h, self._high)
                a_lo, a_hi, p_lo, p_hi = self._menu_bounds(lo, hi)
                u_lo = torch.einsum("bnkm,bnm->bnk", a_lo, lo) - p_hi  # values >= 0
                u_hi = torch.einsum("bnkm,bnm->bnk", a_hi, hi) - p_lo
                zero = u_lo.new_zeros(*u_lo.shape[:2], 1)
                u_lo, u_hi = torch.cat([u_lo, zero], -1), torch.cat([u_hi, zero], -1)
                choice = util.argmax(-1, keepdim=True)  # (b, n, 1)
                chosen_lo = u_lo.gather(-1, choice)
                rivals = u_hi.scatter(-1, choice, -math.inf).amax(-1, keepdim=True)
                stable = (chosen_lo > rivals).squeeze(-1).all(-1)
                a_hi_full = torch.cat([a_hi, a_hi.new_zeros(*a_hi.shape[:2], 1, a_hi.shape[-1])],
                                      2)
                chosen_a = a_hi_full.gather(
                    2, choice.unsqueeze(-1).expand(-1, -1, 1, a_hi.shape[-1])).squeeze(2)
                fits = (chosen_a.sum(1) <= 1 + 1e-9).all(-1)
                ok.append(stable & fits)
        return float(torch.cat(ok).double().mean())

def _price_milp(u, a, p, rest, margin, d_max, time_limit, solve_milp, solver_error):
    """Price changes ``d`` (K,) for one menu of bidder 0 so that at each grid value ``x`` the
    chosen option fits into ``1 - rest[x]`` and beats the others by ``margin``; min ``sum |d|``.

    ``u`` (X, K) utilities, ``a`` (K, m), ``p`` (K,), ``rest`` (X, m). ``None`` if infeasible.
    """
    n_x, k = u.shape
    fits = np.all(a[None] <= 1 - rest[:, None] + 1e-9, axis=-1)  # (X, K)
    u_full = np.concatenate([u, np.zeros((n_x, 1))], axis=1)  # null option last, d = 0
    best = u_full.max(1, keepdims=True)
    cand = (u_full >= best - 2 * d_max) & np.concatenate([fits, np.ones((n_x, 1), bool)], 1)
    relevant = u_full >= best - 4 * d_max - margin  # the others can never catch up
    # variables: d+ (K), d- (K), z for each candidate (x, k)
    zx, zk = np.nonzero(cand)
    n_z = len(zx)
    n_var = 2 * k + n_z
    rows, cols, vals, rhs = [], [], [], []
    big = 6 * d_max + 2 * margin + 1e-6
    r = 0
    for t in range(n_z):  # loop over candidate choices (few after skipping)
        x, kk = zx[t], zk[t]
        for k2 in np.nonzero(relevant[x])[0]:
            if k2 == kk:
                continue
            # (u_xk - d_k) - (u_xk2 - d_k2) >= margin - big (1 - z)
            # <=> d_k - d_k2 - big z <= u_xk - u_xk2 - margin + big ... written as A x <= b
            entries = {2 * k + t: big}
            if kk < k:
                entries[kk] = entries.get(kk, 0) + 1.0
                entries[k + kk] = entries.get(k + kk, 0) - 1.0
            if k2 < k:
                entries[k2] = entries.get(k2, 0) - 1.0
                entries[k + k2] = entries.get(k + k2, 0) + 1.0
            for c, v in entries.items():
                rows.append(r)
                cols.append(c)
                vals.append(v)
            rhs.append(u_full[x, kk] - u_full[x, k2] - margin + big)
            r += 1
    from scipy import sparse

    a_ub = sparse.csr_array((vals, (rows, cols)), shape=(r, n_var))
    a_eq = sparse.csr_array((np.ones(n_z), (zx, 2 * k + np.arange(n_z))), shape=(n_x, n_var))
    missing = np.setdiff1d(np.arange(n_x), zx)
    if missing.size:
        return None
    c = np.concatenate([np.ones(2 * k), np.zeros(n_z)])
    bounds = [(0, d_max)] * (2 * k) + [(0, 1)] * n_z
    integrality = np.concatenate([np.zeros(2 * k, int), np.ones(n_z, int)])
    try:
        res = solve_milp(c, a_ub, np.array(rhs), a_eq, np.ones(n_x), bounds=bounds,
                         integrality=integrality, time_limit=time_limit)
    except solver_error:
        return None
    return res.x[:k] - res.x[k: 2 * k]
