"""Trader value distributions on ``[0, 1]^n_goods``: samplers for training, densities for the dual.

:func:`make_values` reads a spec:

- an :func:`econcs.shared.parse_distribution` spec with support inside ``[0, 1]`` for independent
  goods: ``"uniform(0,1)"``, ``"beta(2,2)"``, ``"normal(0.5,0.125)[0,1]"`` (truncated normal), or
  one per good ``"uniform(0,1),beta(2,2)"``;
- ``"linear_corr_uniform(alpha)"`` (two goods): ``x1 ~ U[0, 1]``, ``x2 = alpha x1 + (1 - alpha) U``,
  ``0 <= alpha < 1``;
- ``"gaussian_copula(rho)"`` (any number of goods): uniform marginals coupled by a Gaussian copula with
  pairwise correlation ``rho``, ``-1/(m - 1) < rho < 1``;

the families of the paper's experiments (Curry, Fan, Parkes 2024, Sec. 6). Each has
``sample(n, generator=...) -> (n, n_goods)`` (torch) and ``density(x (k, n_goods)) -> (k,)``
(numpy, for the dual's source and target measures).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np
import torch
from scipy import special, stats

from econcs.shared import (
    Marginal,
    check_array,
    check_int,
    check_tensor,
    check_type,
    parse_distribution,
)

__all__ = ["TraderValues", "make_values"]

_SPECIAL = re.compile(r"^(?P<fam>linear_corr_uniform|gaussian_copula)\((?P<arg>[^()]*)\)$")


def _marginal_pdf(m: Marginal, x: np.ndarray) -> np.ndarray:
    f, p = m.family, m.params
    if f == "uniform":
        pdf = np.full_like(x, 1.0 / (p[1] - p[0]))
        mass = 1.0
    else:
        dist = {"beta": lambda: stats.beta(p[0], p[1]),
                "normal": lambda: stats.norm(p[0], p[1]),
                "exponential": lambda: stats.expon(scale=p[0])}[f]()
        pdf = dist.pdf(x)
        mass = float(dist.cdf(m.high) - dist.cdf(m.low))
    return np.where((x >= m.low) & (x <= m.high), pdf / mass, 0.0)


@dataclasses.dataclass(frozen=True)
class TraderValues:
    """A distribution of trader values on ``[0, 1]^n_goods`` (made by :func:`make_values`)."""

    spec: str
    n_goods: int
    family: str
    param: float = 0.0
    marginals: tuple[Marginal, ...] = ()

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """``(n, n_goods)`` values on ``device`` (that of ``generator`` by default)."""
        n = check_int(n, "n", low=1)
        if generator is not None:
            device = generator.device if device is None else device
        device = torch.device("cpu") if device is None else torch.device(device)
        u = torch.rand((n, self.n_goods), generator=generator, device=device, dtype=torch.float64)
        return self.transform(u).to(dtype)

    def transform(self, u: torch.Tensor) -> torch.Tensor:
        """Values from independent uniforms ``u`` ``(n, n_goods)`` in ``[0, 1]`` (same dtype).

        Sampling is ``transform(rand)``; quasi-random ``u`` (scrambled Sobol points) give
        low-variance batches of the same distribution.
        """
        u = check_tensor(u, "u", ndim=2, shape=(None, self.n_goods))
        uc = u.double().clamp(1e-12, 1 - 1e-12)
        if self.family == "product":
            cols = [m.quantile(uc[:, j].cpu()).to(u.device) for j, m in enumerate(self.marginals)]
            return torch.stack(cols, 1).to(u.dtype)
        if self.family == "linear_corr_uniform":
            x2 = self.param * uc[:, 0] + (1 - self.param) * uc[:, 1]
            return torch.stack([uc[:, 0], x2], dim=1).to(u.dtype)
        z = torch.special.ndtri(uc)
        chol = torch.linalg.cholesky(self._corr()).to(u.device)
        return torch.special.ndtr(z @ chol.T).to(u.dtype)

    def _corr(self) -> torch.Tensor:
        m = self.n_goods
        return torch.full((m, m), self.param, dtype=torch.float64).fill_diagonal_(1.0)

    def density(self, x: Any) -> np.ndarray:
        """The density at points ``x`` ``(k, n_goods)`` of ``[0, 1]^n_goods`` (numpy, float64)."""
        x = check_array(x, "x", ndim=2, shape=(None, self.n_goods))
        if self.family == "product":
            out = np.ones(x.shape[0])
            for j, m in enumerate(self.marginals):
                out = out * _marginal_pdf(m, x[:, j])
            return out
        if self.family == "linear_corr_uniform":
            a = self.param
            inside = (x[:, 1] >= a * x[:, 0]) & (x[:, 1] <= a * x[:, 0] + 1 - a)
            return np.where(inside, 1.0 / (1 - a), 0.0)
        z = special.ndtri(np.clip(x, 1e-12, 1 - 1e-12))
        corr = self._corr().numpy()
        joint = stats.multivariate_normal(np.zeros(self.n_goods), corr).logpdf(z)
        return np.exp(joint - stats.norm.logpdf(z).sum(axis=1))


def make_values(spec: str | TraderValues, n_goods: int) -> TraderValues:
    """Parse a value-distribution spec for ``n_goods`` goods (see the module docstring).

    >>> make_values("beta(2,2)", 2).density([[0.5, 0.5]]).round(6).tolist()
    [2.25]
    """
    n_goods = check_int(n_goods, "n_goods", low=1)
    if isinstance(spec, TraderValues):
        if spec.n_goods != n_goods:
            raise ValueError(f"values: the distribution has {spec.n_goods} goods, "
                             f"expected {n_goods}.")
        return spec
    check_type(spec, "values", str)
    text = spec.replace(" ", "")
    special_match = _SPECIAL.match(text)
    if special_match is None:
        dist = parse_distribution(text, 1, n_goods)
        margs = dist.marginals[0]
        for m in margs:
            if m.low < 0 or m.high > 1:
                raise ValueError(
                    f"values: trader values must lie in [0, 1]; {m} has support "
                    f"[{m.low:g}, {m.high:g}] (truncate it, e.g. 'normal(0.5,0.125)[0,1]')."
                )
        return TraderValues(text, n_goods, "product", marginals=margs)
    fam = special_match["fam"]
    try:
        arg = float(special_match["arg"])
    except ValueError:
        raise ValueError(f"values: {fam} takes one number, got {spec!r}.") from None
    if fam == "linear_corr_uniform":
        if n_goods != 2:
            raise ValueError(f"values: linear_corr_uniform is for two goods, got n_goods={n_goods}.")
        if not 0 <= arg < 1:
            raise ValueError(f"values: linear_corr_uniform(alpha) needs 0 <= alpha < 1, got {arg}.")
    else:
        low = -1.0 / (n_goods - 1) if n_goods > 1 else -math.inf
        if not low < arg < 1:
            raise ValueError(f"values: gaussian_copula(rho) needs {low:g} < rho < 1 for "
                             f"n_goods={n_goods}, got {arg}.")
    return TraderValues(text, n_goods, fam, param=arg)
