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

Each has ``expected_revenue()``: its expected revenue under the setting's prior by quadrature
over the marginals' CDFs (no sampling), the reference its sampled revenue is checked against.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from scipy import signal, stats

from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.shared import check_int, make_generator

__all__ = ["VCG", "BundleMyerson", "MyersonItemwise", "deterministic_allocations"]

#: points of the quadrature grids of ``expected_revenue``
_QUAD_POINTS = 20_001


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

    def expected_revenue(self) -> float:
        """Expected revenue under the prior (additive bidders): the sum over items of the
        expected second-highest value, ``int_0^inf P(second > t) dt`` by quadrature.

        >>> from econcs.auctions import AuctionSetting
        >>> round(VCG(AuctionSetting(2, 2)).expected_revenue(), 6)  # 2 x E[min of two U[0,1]]
        0.666667
        """
        if self.setting.valuation != "additive":
            raise ValueError("setting: the expected revenue is computed for additive bidders; "
                             f"got valuation={self.setting.valuation!r}.")
        marg = self.setting.distribution.marginals
        total = 0.0
        for j in range(self.setting.n_items):
            top = max(_top(row[j]) for row in marg)
            t = np.linspace(0.0, top, _QUAD_POINTS)
            total += _integral(_above_second(np.stack([_cdf(row[j], t) for row in marg])), t)
        return total


def _scipy_marginal(marg: Any) -> Any:
    """The scipy distribution of a marginal before truncation."""
    fam, p = marg.family, marg.params
    return {"uniform": lambda: stats.uniform(p[0], p[1] - p[0]),
            "exponential": lambda: stats.expon(scale=p[0]),
            "normal": lambda: stats.norm(p[0], p[1]),
            "beta": lambda: stats.beta(p[0], p[1])}[fam]()


def _cdf(marg: Any, x: np.ndarray) -> np.ndarray:
    """The CDF of a (truncated) marginal at ``x``."""
    dist = _scipy_marginal(marg)
    f_lo = dist.cdf(marg.low) if math.isfinite(marg.low) else 0.0
    f_hi = dist.cdf(marg.high) if math.isfinite(marg.high) else 1.0
    return np.clip((dist.cdf(np.clip(x, marg.low, marg.high)) - f_lo) / (f_hi - f_lo), 0.0, 1.0)


def _top(marg: Any) -> float:
    """Where the quadratures stop: the support bound, or the ``1 - 1e-13`` quantile."""
    if math.isfinite(marg.high):
        return float(marg.high)
    return float(marg.quantile(torch.tensor([1 - 1e-13], dtype=torch.float64))[0])


def _above_second(cdfs: np.ndarray) -> np.ndarray:
    """``P(second-highest > t)`` from the bidders' CDFs at ``t``, ``cdfs (n, T)``; 0 for one."""
    if cdfs.shape[0] == 1:
        return np.zeros(cdfs.shape[1])
    all_below = cdfs.prod(0)
    one_above = sum((1 - cdfs[i]) * np.delete(cdfs, i, 0).prod(0) for i in range(len(cdfs)))
    return 1 - all_below - one_above


def _integral(y: np.ndarray, t: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(t)) / 2)


def _marginal_table(marg: Any, high: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, virtual values)`` of a (truncated) marginal on ``size`` points in its support."""
    fam, p = marg.family, marg.params
    dist = _scipy_marginal(marg)
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

    def expected_revenue(self) -> float:
        """Expected revenue under the prior: for each item ``E[max(0, max_i phi_i(v_i))] =
        int_0^inf (1 - prod_i F_i(phi_i^-1(t))) dt`` (Myerson 1981) by quadrature, the inverse
        virtual values from tables reaching the ``1 - 1e-13`` quantile of unbounded marginals.

        >>> from econcs.auctions import AuctionSetting
        >>> round(MyersonItemwise(AuctionSetting(3, 1, values="exponential(3)")).expected_revenue(), 4)
        2.7517
        """
        marg = self.setting.distribution.marginals
        total = 0.0
        for j in range(self.setting.n_items):
            tables = [_marginal_table(row[j], _top(row[j]), _QUAD_POINTS) for row in marg]
            t = np.linspace(0.0, max(float(phi[-1]) for _, phi in tables), _QUAD_POINTS)
            below = np.stack([_cdf(row[j], np.interp(t, phi, v, right=np.inf))
                              for row, (v, phi) in zip(marg, tables, strict=True)])
            total += _integral(1 - below.prod(0), t)
        return total

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

    def expected_revenue(self, reserve: float | None = None) -> float:
        """Expected revenue under the prior at ``reserve`` (``None``: the best reserve, the
        optimum of the class, which :meth:`fit` estimates): ``r P(top >= r) +
        int_r^inf P(second > t) dt`` with each bidder's bundle-value CDF by quadrature (additive:
        the item marginals' distributions convolved on a grid of 20,001 points; unit-demand: the
        product of their CDFs).

        >>> from econcs.auctions import AuctionSetting
        >>> round(BundleMyerson(AuctionSetting(1, 2)).expected_revenue(), 3)  # price sqrt(2/3)
        0.544
        """
        marg = self.setting.distribution.marginals
        top = max(sum(_top(m) for m in row) if self.setting.valuation == "additive"
                  else max(_top(m) for m in row) for row in marg)
        t = np.linspace(0.0, top, _QUAD_POINTS)
        cdfs = []
        for row in marg:
            if self.setting.valuation == "additive":  # masses on the grid cells, convolved
                mass = np.array([1.0])
                for m in row:
                    mass = signal.fftconvolve(mass, np.diff(_cdf(m, t), prepend=0.0))
                    mass = np.maximum(mass[:_QUAD_POINTS], 0.0)
                cdfs.append(np.minimum(np.cumsum(mass), 1.0))
            else:
                cdfs.append(np.prod([_cdf(m, t) for m in row], axis=0))
        cdf = np.stack(cdfs)  # (n, T): P(bundle value <= t)
        second = _above_second(cdf)
        # int_r^top P(second > t) dt for every grid r, then r P(top >= r) on top
        tail = np.concatenate([np.cumsum(((second[1:] + second[:-1]) * np.diff(t) / 2)[::-1])
                               [::-1], [0.0]])
        revenue = t * (1 - cdf.prod(0)) + tail
        if reserve is None:
            return float(revenue.max())
        return float(np.interp(float(reserve), t, revenue))

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
