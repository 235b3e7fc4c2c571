"""Type distributions of a data buyer: beliefs over states and values for acting correctly.

A buyer's type is a belief ``theta`` (a distribution over ``n_states`` states) and a value ``v >= 0``
that scales its payoff matrix (Ravindranath, Jiang, Parkes 2023, Sec. 3; the "enlarged types" of
Bergemann, Bonatti, Smolin 2018). Specs are those of :func:`econcs.shared.parse_distribution`, plus
finite mixtures written ``"0.5*beta(8,30)+0.5*beta(60,30)"`` (the paper's bimodal belief):

- ``n_states == 2``: the belief spec is the law of ``theta = P(state 1)``, supported in ``[0, 1]``;
  the belief vector is ``(1 - theta, theta)``.
- ``n_states > 2``: the spec gives one nonnegative weight per state (one marginal for all, or one per
  state), normalised to sum to 1; ``"exponential(1)"`` is the uniform distribution on the simplex.

The value spec is the law of ``v`` (support in ``[0, inf)``); ``None`` means ``v = 1``.

:func:`type_grid` discretises a binary-state type space for the exact LP: beliefs at the midpoints of
``n_beliefs`` equal cells of ``[0, 1]`` weighted by the cell's probability, values at the midpoint
quantiles of ``n_values`` equal-probability cells; the learned menu is compared with the LP on the
same grid.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import torch

from econcs.shared import (
    ValueDistribution,
    check_array,
    check_int,
    check_probabilities,
    check_type,
    parse_distribution,
)

__all__ = ["Mixture", "TypeGrid", "check_types", "parse_mixture", "type_grid"]

_WEIGHTED = re.compile(r"^(?P<w>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\*(?P<spec>.+)$")
_N_QUANTILE = 20001  # u-grid on which a mixture's CDF is tabulated (CDF error ~ 1e-4 at worst)


@dataclasses.dataclass(frozen=True)
class Mixture:
    """A finite mixture of product distributions, each ``(n,)``-dimensional (``n_items = n``).

    Attributes
    ----------
    spec
        the string it was parsed from.
    weights
        mixture weights (sum to 1).
    components
        one :class:`econcs.shared.ValueDistribution` (one bidder, ``dim`` items) per weight.
    """

    spec: str
    weights: tuple[float, ...]
    components: tuple[ValueDistribution, ...]

    @property
    def dim(self) -> int:
        return self.components[0].n_items

    @property
    def low(self) -> float:
        return float(min(float(c.low.min()) for c in self.components))

    @property
    def high(self) -> float:
        return float(max(float(c.high.max()) for c in self.components))

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(n, dim)`` draws: every component is drawn and one is picked per row (no loop over rows)."""
        draws = torch.stack([c.sample(n, generator=generator, device=device, dtype=dtype)[:, 0]
                             for c in self.components], dim=0)  # (C, n, dim)
        if len(self.components) == 1:
            return draws[0]
        w = torch.tensor(self.weights, dtype=torch.float64, device=draws.device)
        pick = torch.multinomial(w, n, replacement=True, generator=generator)  # (n,)
        return draws.gather(0, pick.view(1, n, 1).expand(1, n, draws.shape[2]))[0]

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The CDF of the first coordinate at ``x`` (tabulated from the components' quantiles)."""
        u = (np.arange(_N_QUANTILE) + 0.5) / _N_QUANTILE
        out = np.zeros_like(np.asarray(x, dtype=np.float64))
        for w, comp in zip(self.weights, self.components, strict=True):
            q = comp.marginals[0][0].quantile(torch.as_tensor(u)).numpy()
            out = out + w * np.interp(x, q, u, left=0.0, right=1.0)
        return out

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """The quantile function of the first coordinate at ``u`` in ``(0, 1)``."""
        lo = max(self.low, -1e6)
        hi = min(self.high, 1e6)
        if not (math.isfinite(self.low) and math.isfinite(self.high)):  # bracket the mass
            qs = [float(c.marginals[0][0].quantile(torch.tensor(q)))
                  for c in self.components for q in (1e-7, 1 - 1e-7)]
            lo, hi = min(qs), max(qs)
        x = np.linspace(lo, hi, 200001)
        return np.interp(u, self.cdf(x), x)


def parse_mixture(spec: str, dim: int = 1, *, name: str = "belief") -> Mixture:
    """Parse ``spec`` (a distribution of :func:`econcs.shared.parse_distribution` or a mixture
    ``"w1*spec1+w2*spec2"``) into a :class:`Mixture` of ``dim``-dimensional product laws.

    >>> m = parse_mixture("0.5*beta(8,30)+0.5*beta(60,30)")
    >>> m.weights, m.dim
    ((0.5, 0.5), 1)
    """
    check_type(spec, name, str)
    text = spec.replace(" ", "")
    parts = re.split(r"\+(?=[-+]?(?:\d|\.)[^()]*\*)", text) if "*" in text else [text]
    weights, comps = [], []
    for part in parts:
        m = _WEIGHTED.match(part)
        w, sub = (float(m["w"]), m["spec"]) if m else (1.0, part)
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"{name}: mixture weights must be positive, got {w!r} in {spec!r}.")
        try:
            comps.append(parse_distribution(sub, n_bidders=1, n_items=dim))
        except ValueError as err:
            raise ValueError(f"{name}: {err}".replace("values: ", "")) from None
        weights.append(w)
    total = sum(weights)
    if len(parts) > 1 and abs(total - 1.0) > 1e-6:
        raise ValueError(f"{name}: mixture weights must sum to 1, got {total:g} in {spec!r}.")
    return Mixture(spec, tuple(w / total for w in weights), tuple(comps))


def check_types(beliefs, values, weights, n_states: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Validate a finite type set: beliefs ``(T, n_states)`` on the simplex, values ``(T,)``
    nonnegative (``None``: all 1), weights ``(T,)`` a probability vector (``None``: uniform)."""
    b = check_probabilities(beliefs, "beliefs", ndim=2, shape=(None, n_states))
    t = b.shape[0]
    v = np.ones(t) if values is None else check_array(values, "values", ndim=1, shape=(t,))
    if np.any(v < 0):
        raise ValueError(f"values: expected values >= 0, got min {v.min():.6g}.")
    w = (np.full(t, 1.0 / t) if weights is None
         else check_probabilities(weights, "weights", ndim=1, shape=(t,)))
    return b, v, w


@dataclasses.dataclass(frozen=True, eq=False)
class TypeGrid:
    """A finite type set: ``beliefs (T, n_states)``, ``values (T,)``, probability ``weights (T,)``."""

    beliefs: np.ndarray
    values: np.ndarray
    weights: np.ndarray

    @property
    def n_types(self) -> int:
        return int(self.weights.shape[0])


def type_grid(belief: Mixture, value: Mixture | None, n_beliefs: int,
              n_values: int = 1) -> TypeGrid:
    """The product grid of ``n_beliefs`` belief cells and ``n_values`` value cells (binary states).

    Beliefs ``theta_i = (i + 1/2) / n_beliefs`` with the probability of cell
    ``[i / n_beliefs, (i + 1) / n_beliefs]``; values at the quantiles ``(j + 1/2) / n_values`` with
    weight ``1 / n_values`` (``v = 1`` when ``value`` is None).

    >>> g = type_grid(parse_mixture("uniform(0,1)"), None, 4)
    >>> g.beliefs[:, 1].tolist(), g.weights.tolist()
    ([0.125, 0.375, 0.625, 0.875], [0.25, 0.25, 0.25, 0.25])
    """
    n_beliefs = check_int(n_beliefs, "n_beliefs", low=1)
    n_values = check_int(n_values, "n_values", low=1)
    edges = np.linspace(0.0, 1.0, n_beliefs + 1)
    mass = np.diff(belief.cdf(edges))
    mass = np.clip(mass, 0.0, None)
    mass = mass / mass.sum()
    theta = (edges[:-1] + edges[1:]) / 2
    if value is None:
        v, vw = np.ones(1), np.ones(1)
    else:
        v = value.quantile((np.arange(n_values) + 0.5) / n_values)
        vw = np.full(n_values, 1.0 / n_values)
    th = np.repeat(theta, v.size)
    beliefs = np.stack([1 - th, th], axis=1)
    values = np.tile(v, n_beliefs)
    weights = np.outer(mass, vw).ravel()
    keep = weights > 0
    w = weights[keep] / weights[keep].sum()
    return TypeGrid(beliefs[keep], values[keep], w)
