"""Several data buyers with an externality (Bonatti et al. 2022; Ravindranath, Jiang, Parkes 2023, Sec. 5.2).

``n_buyers`` buyers share a known prior ``theta`` over ``n_states`` states and each has a private
value ``v_i >= 0`` (independent draws of one law) for acting correctly. The seller gives buyer
``i`` an experiment ``pi_i`` (``(n_states, n_states)`` row-stochastic, signal ``s`` recommending
action ``s``) that may depend on every buyer's report. With ``x_i = sum_w theta_w pi_i[w, w]``
the probability that buyer ``i`` acts correctly when it obeys, its payoff is

    v_i (x_i - alpha sum_{j != i} x_j),

so what the others learn hurts it (``alpha >= 0``). A buyer who opts out acts on the prior while
the others are fully informed: outside option ``v_i (max_w theta_w - alpha (n_buyers - 1))``.
Obedience asks that following the recommendation of every signal is a best response:
``sum_s max_w theta_w pi[w, s] <= sum_w theta_w pi[w, w]`` (for the interim experiment under BIC).

:func:`ex_post_optimum` is the ex post IC optimum by virtual values (Myerson): with
``c_i = phi(v_i) - alpha sum_{j != i} phi(v_j)`` the seller informs buyer ``i`` fully when
``c_i > 0`` and not at all otherwise, for revenue
``(1 - max theta) (sum_i E[c_i^+] + alpha n (n - 1) E[phi])`` (``E[phi]`` is the lowest value),
for regular value laws. Under BIC the seller can also misinform a buyer at some profiles as long
as the interim experiment stays obedient, and earns more (the LP of
:func:`econcs.datamarkets.solve_multi_lp`; Bonatti et al.'s closed forms).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from econcs.datamarkets._types import Mixture, parse_mixture
from econcs.shared import check_array, check_float, check_int, check_probabilities

__all__ = ["MultiBuyerMarket", "ex_post_grid_optimum", "ex_post_optimum"]


class MultiBuyerMarket:
    """Several buyers with private values, a common prior and an externality ``alpha``.

    Parameters
    ----------
    n_buyers
        number of buyers (>= 2).
    prior
        ``P(state 1)`` for two states, or a probability vector over ``n_states`` states.
    alpha
        externality (>= 0): each unit of another buyer's correctness costs ``alpha v_i``.
    value
        spec of every buyer's value law (:func:`econcs.datamarkets.parse_mixture`), support in
        ``[0, inf)``.

    Examples
    --------
    >>> m = MultiBuyerMarket(2, prior=0.75, alpha=0.5)
    >>> m.prior.tolist(), m.outside
    ([0.25, 0.75], 0.25)
    """

    def __init__(self, n_buyers: int = 2, *, prior=0.5, alpha: float = 0.5,
                 value: str = "uniform(0,1)") -> None:
        self.n_buyers = check_int(n_buyers, "n_buyers", low=2)
        if np.ndim(prior) == 0:
            p = check_float(prior, "prior", low=0.0, high=1.0)
            theta = np.array([1.0 - p, p])
        else:
            theta = check_probabilities(prior, "prior", ndim=1)
            if theta.size < 2:
                raise ValueError(f"prior: expected at least 2 states, got {theta.size}.")
        self.prior = theta
        self.prior.setflags(write=False)
        self.n_states = int(theta.size)
        self.alpha = check_float(alpha, "alpha", low=0.0)
        self.value: Mixture = parse_mixture(value, 1, name="value")
        if self.value.low < 0:
            raise ValueError(f"value: values must be >= 0, but {value!r} has support from "
                             f"{self.value.low:g}.")

    def __repr__(self) -> str:
        return (f"MultiBuyerMarket(n_buyers={self.n_buyers}, prior={self.prior.tolist()}, "
                f"alpha={self.alpha:g}, value={self.value.spec!r})")

    @property
    def outside(self) -> float:
        """The outside option per unit of value, ``max theta - alpha (n_buyers - 1)``."""
        return float(self.prior.max()) - self.alpha * (self.n_buyers - 1)

    @property
    def value_high(self) -> float:
        """Upper end of the misreport search: the support's top, or the 0.999 quantile."""
        if math.isfinite(self.value.high):
            return self.value.high
        return float(self.value.quantile(np.array([0.999]))[0])

    def prior_tensor(self, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The prior as a ``(S,)`` tensor (cached per device and dtype)."""
        key = (str(torch.device(device) if device is not None else "cpu"), dtype)
        cache = self.__dict__.setdefault("_prior_cache", {})
        if key not in cache:
            cache[key] = torch.tensor(np.array(self.prior), dtype=dtype, device=device)
        return cache[key]

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(n, n_buyers)`` value profiles (independent draws)."""
        n = check_int(n, "n", low=1)
        flat = self.value.sample(n * self.n_buyers, generator=generator, device=device,
                                 dtype=torch.float64)
        return flat.view(n, self.n_buyers).to(dtype)

    def _quantile_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The value law's quantiles ``q`` at 4097 levels ``u`` (``1e-7 .. 1 - 1e-7``), cached."""
        cache = self.__dict__.setdefault("_quantile_cache", {})
        if "q" not in cache:
            lev = np.linspace(0.0, 1.0, 4097)
            lev[0], lev[-1] = 1e-7, 1 - 1e-7
            cache["u"], cache["q"] = lev, np.asarray(self.value.quantile(lev), dtype=np.float64)
        return cache["u"], cache["q"]

    def quantile(self, u: torch.Tensor) -> torch.Tensor:
        """The value law's quantile function at ``u`` in ``(0, 1)`` (any shape; a mixture's is
        tabulated once on 4097 levels and interpolated)."""
        if len(self.value.components) == 1:
            marg = self.value.components[0].marginals[0][0]
            return marg.quantile(u.to(torch.float64)).to(u.dtype)
        lev, q = self._quantile_table()
        out = np.interp(u.detach().cpu().double().numpy(), lev, q)
        return torch.as_tensor(out, dtype=u.dtype, device=u.device)

    @torch.no_grad()
    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """The value law's CDF at ``x`` (any shape), interpolated linearly on the quantile table
        (no gradient; clamped to its levels ``1e-7 .. 1 - 1e-7``); float64 on the CPU."""
        lev, q = (torch.as_tensor(t) for t in self._quantile_table())
        x = x.detach().to(torch.float64).cpu().clamp(float(q[0]), float(q[-1]))
        hi = torch.searchsorted(q, x.contiguous()).clamp(1, len(q) - 1)
        x0, x1 = q[hi - 1], q[hi]
        w = ((x - x0) / (x1 - x0).clamp(min=1e-300)).clamp(0.0, 1.0)
        return lev[hi - 1] + w * (lev[hi] - lev[hi - 1])

    def sample_stratified(self, n: int, *, generator: torch.Generator | None = None,
                          device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(n, n_buyers)`` value profiles, each buyer's column a randomly shifted lattice of
        quantile levels, ``Q((k + U) / n)`` for ``k = 0..n-1`` in a random order (independent
        ``U`` and order per buyer): every column is a sample of the law (each row, marginally,
        a draw), with the error of a mean of a monotone or step function ``O(1 / n)`` instead of
        ``O(1 / sqrt(n))``."""
        n = check_int(n, "n", low=1)
        k = self.n_buyers
        shift = torch.rand((1, k), generator=generator, dtype=torch.float64, device=device)
        order = torch.argsort(torch.rand((n, k), generator=generator, dtype=torch.float64,
                                         device=device), dim=0)
        u = ((order + shift) / n).clamp(1e-12, 1 - 1e-12)
        return self.quantile(u).to(dtype)

    def grid(self, n_values: int) -> tuple[np.ndarray, np.ndarray]:
        """``n_values`` values at the midpoint quantiles ``(k + 1/2) / n_values``, equal weights."""
        n_values = check_int(n_values, "n_values", low=1)
        v = self.value.quantile((np.arange(n_values) + 0.5) / n_values)
        return np.asarray(v, dtype=np.float64), np.full(n_values, 1.0 / n_values)

    # -- outcomes (batched torch) --------------------------------------------------------------

    def correctness(self, experiments: torch.Tensor) -> torch.Tensor:
        """``x = sum_w theta_w pi[..., w, w]``: ``(..., S, S) -> (...)``."""
        theta = self.prior_tensor(experiments.device, experiments.dtype)
        return (experiments.diagonal(dim1=-2, dim2=-1) * theta).sum(-1)

    def payoff(self, x: torch.Tensor) -> torch.Tensor:
        """``x_i - alpha sum_{j != i} x_j`` per unit of value: ``(..., n) -> (..., n)``."""
        return (1 + self.alpha) * x - self.alpha * x.sum(-1, keepdim=True)

    def obedient(self, experiments: torch.Tensor) -> torch.Tensor:
        """Relabel signals by the action they make a buyer take (Sec. 2: signal ``k`` recommends
        action ``k``): ``out[..., w, a] = sum_{s: a*(s) = a} pi[..., w, s]`` with ``a*(s)`` the
        best response to signal ``s`` (first maximiser). The result is obedient and gives the
        buyer what best-responding to ``pi`` gives, ``sum_s max_w theta_w pi[w, s]``;
        ``(..., S, S) -> (..., S, S)``, differentiable in ``pi`` for fixed best responses.

        >>> m = MultiBuyerMarket(2, prior=0.5)
        >>> m.obedient(torch.tensor([[0.0, 1.0], [1.0, 0.0]])).tolist()  # lying, read backwards
        [[1.0, 0.0], [0.0, 1.0]]
        """
        theta = self.prior_tensor(experiments.device, experiments.dtype)
        best = (experiments * theta[:, None]).argmax(dim=-2)  # (..., S) action per signal
        relabel = torch.nn.functional.one_hot(best, self.n_states).to(experiments.dtype)
        return experiments @ relabel

    def obedience_gap(self, experiments: torch.Tensor) -> torch.Tensor:
        """``sum_s max_w theta_w pi[w, s] - sum_w theta_w pi[w, w] >= 0``: ``(..., S, S) -> (...)``
        (what disobeying gains a buyer of value 1)."""
        theta = self.prior_tensor(experiments.device, experiments.dtype)
        joint = experiments * theta[:, None]
        return (joint.amax(dim=-2).sum(-1) - joint.diagonal(dim1=-2, dim2=-1).sum(-1)).clamp(
            min=0.0)


def _virtual_values(market: MultiBuyerMarket, u: np.ndarray) -> np.ndarray:
    """``phi(Q(u)) = Q(u) - (1 - u) Q'(u)`` at quantile levels ``u`` (central differences)."""
    if len(market.value.components) == 1:
        marg = market.value.components[0].marginals[0][0]

        def q(x):
            return marg.quantile(torch.as_tensor(np.clip(x, 0.0, 1.0))).numpy()
    else:
        q = market.value.quantile
    h = 1e-6
    return q(u) - (1 - u) * (q(u + h) - q(u - h)) / (2 * h)


def ex_post_optimum(market: MultiBuyerMarket, *, n_grid: int = 2000, n_samples: int = 1 << 20,
                    seed: int = 0) -> float:
    """The ex post IC (and IR, obedient) optimal revenue, by virtual values (regular laws).

    Two buyers: midpoint quadrature on an ``n_grid x n_grid`` quantile grid; more buyers: Monte
    Carlo with ``n_samples`` draws. Raises ``ValueError`` for an irregular value law (a
    decreasing virtual value: the optimum would need ironing).

    >>> round(ex_post_optimum(MultiBuyerMarket(2, prior=0.5, alpha=0.5)), 5)  # 13/48
    0.27083
    """
    n = market.n_buyers
    u = (np.arange(n_grid) + 0.5) / n_grid
    phi_grid = _virtual_values(market, u)
    if np.any(np.diff(phi_grid) < -1e-6 * max(1.0, float(np.abs(phi_grid).max()))):
        raise ValueError(f"value: the virtual value of {market.value.spec!r} decreases (an "
                         "irregular law); the virtual-value optimum needs ironing.")
    mean_phi = float(market.value.low)
    if n == 2:
        a, b = phi_grid[:, None], phi_grid[None, :]
        pos = np.maximum(a - market.alpha * b, 0.0).mean()
        total = 2 * pos
    else:
        rng = np.random.default_rng(seed)
        phi = _virtual_values(market, rng.random((n_samples, n)))
        c = (1 + market.alpha) * phi - market.alpha * phi.sum(1, keepdims=True)
        total = float(np.maximum(c, 0.0).sum(1).mean())
    theta_max = float(market.prior.max())
    return float((1 - theta_max) * (total + market.alpha * n * (n - 1) * mean_phi))


def ex_post_grid_optimum(market: MultiBuyerMarket, values, weights=None) -> float:
    """The ex post IC optimum on a finite value set, by discrete virtual values (the same formula
    as :func:`ex_post_optimum` with ``phi_k = v_k - (v_{k+1} - v_k) P(v > v_k) / w_k`` and
    ``E[phi] = v_1``), summed over all ``K^n`` profiles; for increasing ``phi_k``.

    >>> m = MultiBuyerMarket(2, prior=0.5, alpha=0.0)
    >>> round(ex_post_grid_optimum(m, [0.5, 1.0]), 6)  # full information, worth v/2, at 1/4 each
    0.5
    """
    v, w = check_values(values, weights)
    tail = 1.0 - np.cumsum(w)
    phi = v - np.append(np.diff(v), 0.0) * tail / w
    if np.any(np.diff(phi) < -1e-12):
        raise ValueError("values: the discrete virtual values decrease; the formula needs "
                         "ironing (solve the LP instead).")
    n, alpha = market.n_buyers, market.alpha
    prof = phi[np.indices((v.size,) * n).reshape(n, -1).T]  # (K^n, n)
    wprof = w[np.indices((v.size,) * n).reshape(n, -1).T].prod(axis=1)
    c = (1 + alpha) * prof - alpha * prof.sum(1, keepdims=True)
    total = float((np.maximum(c, 0.0).sum(1) * wprof).sum())
    return float((1 - market.prior.max()) * (total + alpha * n * (n - 1) * float(w @ phi)))


def check_values(values, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a finite value set ``(K,)`` (>= 0, increasing) and its probabilities."""
    v = check_array(values, "values", ndim=1)
    if np.any(v < 0):
        raise ValueError(f"values: expected values >= 0, got min {v.min():.6g}.")
    if np.any(np.diff(v) <= 0):
        raise ValueError("values: expected strictly increasing values.")
    w = (np.full(v.size, 1.0 / v.size) if weights is None
         else check_probabilities(weights, "weights", ndim=1, shape=(v.size,)))
    return v, w
