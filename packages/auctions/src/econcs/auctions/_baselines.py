"""Classical baselines: VCG, item-wise Myerson and the bundle (grand-bundle Myerson) auction.

- :class:`VCG` (Vickrey 1961, Clarke 1971, Groves 1973): welfare-maximising allocation, each bidder
  pays the externality it imposes. Additive bidders: a second-price auction per item; unit-demand
  bidders: the best matching, found by enumerating the deterministic allocations.
- :class:`MyersonItemwise` (Myerson 1981): each item sold separately by the optimal single-item
  auction: the highest non-negative virtual value ``phi(v) = v - (1 - F(v)) / f(v)`` wins and pays
  the smallest bid that still wins. The virtual values are exact (closed form through the marginals'
  CDF and density, linear interpolation on a 4097-point table that is exact for uniform and
  exponential priors). Regular priors only (no ironing). The "optimal separate sale" revenue
  quoted in Dütting et al. (2019, Table 1): 5/6 for 2x2, 5.3125 for 3x10 U[0,1].
- :class:`BundleMyerson`: the grand bundle sold by a second-price auction with an anonymous reserve
  (a posted price for one bidder), the reserve fitted on samples; optimal among bundle auctions
  when bidders are symmetric and the bundle value is regular.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.shared import check_int, make_generator

__all__ = ["VCG", "BundleMyerson", "MyersonItemwise", "deterministic_allocations"]


def deterministic_allocations(setting: AuctionSetting, max_count: int = 50_000) -> torch.Tensor:
    """All feasible deterministic allocations ``(K, n, m)`` (float64): each item to one bidder or
    to nobody; unit-demand bidders get at most one item. ``ValueError`` if ``K > max_count``."""
    n, m = setting.shape
    count = (n + 1) ** m
    if count > max_count:
        raise ValueError(
            f"setting: {count} deterministic allocations for {n} bidders x {m} items exceed "
            f"max_count={max_count}; use a lottery AMA or a smaller setting."
        )
    owners = torch.tensor(list(itertools.product(range(n + 1), repeat=m)), dtype=torch.long)
    alloc = torch.nn.functional.one_hot(owners, n + 1)[..., :n].transpose(1, 2).to(torch.float64)
    if setting.valuation == "unit-demand":
        alloc = alloc[(alloc.sum(-1) <= 1).all(-1)]
    return alloc


class VCG(Mechanism):
    """The Vickrey-Clarke-Groves mechanism (efficient, dominant-strategy IC, IR).

    >>> from econcs.auctions import AuctionSetting
    >>> vcg = VCG(AuctionSetting(2, 1))
    >>> vcg(torch.tensor([[[0.9], [0.4]]]))[1]
    tensor([[0.4000, 0.0000]])
    """

    exactly_ic = True

    def __init__(self, setting: AuctionSetting, *, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype | None = None) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        if setting.valuation == "unit-demand":
            self.register_buffer("allocations", deterministic_allocations(setting).to(
                self.device_, self.dtype_), persistent=False)

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        n = reports.shape[1]
        if self.setting.valuation == "additive":
            winner = reports.argmax(dim=1, keepdim=True)  # (B, 1, m), ties to the lowest index
            alloc = torch.zeros_like(reports).scatter_(1, winner, 1.0)
            if n == 1:
                return alloc, reports.new_zeros(reports.shape[:2])
            top2 = reports.topk(2, dim=1).values[:, 1]  # (B, m) second-highest bid
            return alloc, (alloc * top2.unsqueeze(1)).sum(-1)
        per = torch.einsum("bim,kim->bki", reports, self.allocations)  # (B, K, n)
        welfare = per.sum(-1)
        best = welfare.argmax(dim=1)
        alloc = self.allocations[best]
        others_now = welfare.gather(1, best[:, None]) - per.gather(
            1, best[:, None, None].expand(-1, 1, n)).squeeze(1)  # (B, n)
        others_best = (welfare.unsqueeze(-1) - per).amax(dim=1)  # (B, n)
        return alloc, (others_best - others_now).clamp(min=0.0)


def _marginal_table(marg: Any, high: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, virtual values)`` of a (truncated) marginal on ``size`` points in its support."""
    fam, p = marg.family, marg.params
    dist = {"uniform": lambda: stats.uniform(p[0], p[1] - p[0]),
            "exponential": lambda: stats.expon(scale=p[0]),
            "normal": lambda: stats.norm(p[0], p[1]),
            "beta": lambda: stats.beta(p[0], p[1])}[fam]()
    lo = marg.low
    v = np.linspace(lo, high, size)
    f_lo = dist.cdf(lo) if math.isfinite(lo) else 0.0
    f_hi = dist.cdf(marg.high) if math.isfinite(marg.high) else 1.0
    mass = f_hi - f_lo
    surv = (f_hi - dist.cdf(v)) / mass
    dens = np.maximum(dist.pdf(v) / mass, 1e-300)
    phi = v - surv / dens
    if fam == "uniform" and (lo, marg.high) == (p[0], p[1]):
        phi = 2 * v - p[1]  # exact
    if fam == "exponential" and (lo, marg.high) == (0.0, math.inf):
        phi = v - p[0]
    if np.any(np.diff(phi) < -1e-9):
        raise ValueError(
            f"values: the marginal {fam}{p} is not regular (its virtual value decreases); "
            "item-wise Myerson without ironing needs regular priors."
        )
    return v, phi


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Row-wise linear interpolation with linear extrapolation: ``x`` ``(..., R)``, tables
    ``(R, G)`` increasing in ``xp``."""
    r, g = xp.shape
    xt = x.reshape(-1, r).T.contiguous()  # (R, N)
    idx = torch.searchsorted(xp, xt).clamp(1, g - 1)
    x0, x1 = xp.gather(1, idx - 1), xp.gather(1, idx)
    y0, y1 = fp.gather(1, idx - 1), fp.gather(1, idx)
    w = (xt - x0) / (x1 - x0).clamp(min=1e-300)
    return (y0 + w * (y1 - y0)).T.reshape(x.shape)


class MyersonItemwise(Mechanism):
    """Each item sold separately by Myerson's optimal auction (additive bidders).

    >>> from econcs.auctions import AuctionSetting
    >>> mech = MyersonItemwise(AuctionSetting(2, 1))
    >>> mech(torch.tensor([[[0.9], [0.4]]], dtype=torch.float32))[1]  # pays max(reserve, 0.4)
    tensor([[0.5000, 0.0000]])
    """

    exactly_ic = True

    def __init__(self, setting: AuctionSetting, *, table_size: int = 4097,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None
                 ) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        if setting.valuation != "additive":
            raise ValueError("setting: item-wise Myerson is defined for additive bidders; got "
                             f"valuation={setting.valuation!r}.")
        self.table_size = check_int(table_size, "table_size", low=3)
        hi = setting.search_high
        vs, phis = [], []
        for i, row in enumerate(setting.distribution.marginals):
            for j, marg in enumerate(row):
                v, phi = _marginal_table(marg, float(hi[i, j]), self.table_size)
                vs.append(v)
                phis.append(phi)
        # tables in float64 for accuracy, whatever the mechanism's dtype
        self.register_buffer("_v", torch.tensor(np.stack(vs)).to(self.device_), persistent=False)
        self.register_buffer("_phi", torch.tensor(np.stack(phis)).to(self.device_),
                             persistent=False)

    def hparams(self) -> dict[str, Any]:
        return {"table_size": self.table_size}

    def virtual_values(self, values: torch.Tensor) -> torch.Tensor:
        """``phi_ij(v_ij)`` for ``values`` ``(B, n, m)`` (float64)."""
        n, m = self.setting.shape
        return _interp(values.to(torch.float64).reshape(-1, n * m), self._v, self._phi
                       ).reshape(values.shape)

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        n, m = self.setting.shape
        phi = self.virtual_values(reports)  # (B, n, m)
        best, winner = phi.max(dim=1)  # (B, m)
        sold = best >= 0
        alloc = torch.zeros_like(phi).scatter_(1, winner.unsqueeze(1), 1.0) * sold.unsqueeze(1)
        if n > 1:
            masked = phi.scatter(1, winner.unsqueeze(1), -math.inf)
            threshold = masked.amax(dim=1).clamp(min=0.0)  # (B, m)
        else:
            threshold = phi.new_zeros(phi.shape[0], m)
        # winner's critical bid phi_i^{-1}(threshold), for every bidder (used where it wins)
        crit = _interp(threshold.unsqueeze(1).expand(-1, n, -1).reshape(-1, n * m),
                       self._phi, self._v).reshape(phi.shape)
        pay = (alloc * crit).sum(-1)
        return alloc.to(reports.dtype), pay.to(reports.dtype)


class BundleMyerson(Mechanism):
    """The grand bundle sold by a second-price auction with an anonymous reserve.

    A bidder's bundle value is ``sum_j v_ij`` (additive) or ``max_j v_ij`` (unit-demand: the
    winner takes its favourite item). With one bidder this is the optimal bundle posted price.
    The reserve is fitted by :meth:`fit` (empirical revenue maximisation on samples) unless given.

    Parameters
    ----------
    reserve
        the reserve price (``None``: fitted by :meth:`fit`, initially 0).
    """

    exactly_ic = True

    def __init__(self, setting: AuctionSetting, reserve: float | None = None, *,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None
                 ) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        r = 0.0 if reserve is None else float(reserve)
        if not math.isfinite(r) or r < 0:
            raise ValueError(f"reserve: expected a finite number >= 0, got {reserve!r}.")
        self.register_buffer("reserve", torch.tensor(r, dtype=torch.float64, device=self.device_))

    def bundle_values(self, reports: torch.Tensor) -> torch.Tensor:
        if self.setting.valuation == "additive":
            return reports.sum(-1)
        return reports.amax(-1)

    def fit(self, n_samples: int = 200_000, *, n_grid: int = 2000, seed: int = 0) -> BundleMyerson:
        """Set the reserve to the empirical-revenue maximiser over ``n_grid`` candidates."""
        n_samples = check_int(n_samples, "n_samples", low=1)
        n_grid = check_int(n_grid, "n_grid", low=2)
        gen = make_generator(check_int(seed, "seed", low=0))
        vals = self.setting.sample(n_samples, generator=gen, dtype=torch.float64)
        bids = self.bundle_values(vals)  # (N, n)
        if bids.shape[1] > 1:
            top2 = bids.topk(2, dim=1).values
            first, second = top2[:, 0], top2[:, 1]
        else:
            first, second = bids[:, 0], torch.zeros_like(bids[:, 0])
        grid = torch.linspace(0, float(first.max()), n_grid, dtype=torch.float64)
        revs = torch.cat([  # chunks of candidates x all samples
            torch.where(first >= r[:, None], torch.maximum(second, r[:, None]), 0.0).mean(1)
            for r in grid.split(64)])
        self.reserve.fill_(float(grid[int(revs.argmax())]))
        return self

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        bids = self.bundle_values(reports)  # (B, n)
        n = bids.shape[1]
        r = self.reserve.to(reports.dtype)
        top, winner = bids.max(dim=1)
        second = bids.topk(2, dim=1).values[:, 1] if n > 1 else torch.zeros_like(top)
        sold = top >= r
        win = torch.nn.functional.one_hot(winner, n).to(reports.dtype) * sold.unsqueeze(1)
        if self.setting.valuation == "additive":
            alloc = win.unsqueeze(-1).expand_as(reports).clone()
        else:
            fav = torch.nn.functional.one_hot(reports.argmax(-1), reports.shape[-1])
            alloc = win.unsqueeze(-1) * fav.to(reports.dtype)
        return alloc, win * torch.maximum(second, r).unsqueeze(1)
