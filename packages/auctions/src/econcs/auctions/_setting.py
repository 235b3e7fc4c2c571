"""Auction settings: bidders, items, valuation type and the prior over values.

An :class:`AuctionSetting` fixes ``n_bidders`` buyers and ``n_items`` items, whether each buyer is
*additive* (values a bundle at the sum of its item values) or *unit-demand* (at the largest item
value, so it wants at most one item), and the independent prior over the values ``v_ij``, given as a
distribution spec parsed by :func:`econcs.shared.parse_distribution`. Named presets reproduce the
settings of Dütting et al., "Optimal Auctions through Deep Learning" (ICML 2019, Sec. 5), with the
revenue of the optimal (or best known) mechanism where theory gives it.

>>> s = AuctionSetting.preset("manelli-vincent")
>>> s.n_bidders, s.n_items, s.valuation, s.values
(1, 2, 'additive', 'uniform(0,1)')
>>> s.sample(4, generator=torch.Generator().manual_seed(0)).shape
torch.Size([4, 1, 2])
"""

from __future__ import annotations

import dataclasses
import math
import re
from functools import cached_property

import torch

from econcs.shared import (
    ValueDistribution,
    check_choice,
    check_int,
    check_type,
    parse_distribution,
)

__all__ = ["KNOWN_REVENUES", "PRESETS", "AuctionSetting", "myerson_single_item"]

VALUATIONS = ("additive", "unit-demand")

#: name -> (n_bidders, n_items, valuation, values)
PRESETS: dict[str, tuple[int, int, str, str]] = {
    "manelli-vincent": (1, 2, "additive", "uniform(0,1)"),  # RegretNet Sec. 5.2 setting (a)
    "pavlov": (1, 2, "unit-demand", "uniform(2,3)"),  # setting (b)
    "unit-demand-1x2": (1, 2, "unit-demand", "uniform(0,1)"),
    "daskalakis-1x2": (1, 2, "additive", "uniform(4,16),uniform(4,7)"),  # setting (c)
    "myerson-2x1": (2, 1, "additive", "uniform(0,1)"),
    "2x2": (2, 2, "additive", "uniform(0,1)"),  # Sec. 5.3 setting (d)
    "2x2-unit-demand": (2, 2, "unit-demand", "uniform(0,1)"),
    "2x3": (2, 3, "additive", "uniform(0,1)"),
    "3x10": (3, 10, "additive", "uniform(0,1)"),  # setting (e)
    "5x10": (5, 10, "additive", "uniform(0,1)"),  # setting (f)
    "1x10": (1, 10, "additive", "uniform(0,1)"),
}

#: preset -> (revenue, source) of the optimal mechanism (or the best baseline where no optimum is
#: known: those carry "item-wise Myerson" in the source).
KNOWN_REVENUES: dict[str, tuple[float, str]] = {
    "manelli-vincent": ((12 + 2 * math.sqrt(2)) / 27, "Manelli-Vincent optimum"),
    "pavlov": (2 / 9 + 11 * math.sqrt(22) / 27, "Pavlov optimum"),
    "unit-demand-1x2": (2 / (3 * math.sqrt(3)), "Pavlov optimum (posted price 1/sqrt(3))"),
    "daskalakis-1x2": (9.781, "Daskalakis et al. optimum"),
    "myerson-2x1": (5 / 12, "Myerson optimum"),
    "2x2": (5 / 6, "item-wise Myerson (baseline)"),
    "3x10": (5.3125, "item-wise Myerson (baseline)"),
    "5x10": (6.71875, "item-wise Myerson (baseline)"),
}


def myerson_single_item(n_bidders: int, values: str) -> float | None:
    """Myerson's optimal revenue for one item and ``n_bidders`` i.i.d. bidders, in closed form.

    ``E[max(0, max_i phi(v_i))]``: ``uniform(0,1)``: ``(n - 1 + 2^-n) / (n + 1)`` (second price,
    reserve 1/2); ``exponential(mu)`` (``phi(v) = v - mu``, reserve ``mu``):
    ``mu * sum_k C(n, k) (-1)^(k+1) e^-k / k``. ``None`` for other specs.

    >>> round(myerson_single_item(3, "uniform(0,1)"), 6), round(myerson_single_item(3, "exponential(3)"), 4)
    (0.53125, 2.7517)
    """
    n, spec = n_bidders, values.replace(" ", "")
    if spec == "uniform(0,1)":
        return (n - 1 + 2.0**-n) / (n + 1)
    match = re.fullmatch(r"exponential\(([0-9.eE+-]+)\)", spec)
    if match is None:
        return None
    mu = float(match.group(1))
    return mu * sum(math.comb(n, k) * (-1) ** (k + 1) * math.exp(-k) / k for k in range(1, n + 1))


@dataclasses.dataclass(frozen=True)
class AuctionSetting:
    """An auction environment: who bids, for what, and the prior over values.

    Parameters
    ----------
    n_bidders
        number of bidders ``n >= 1``.
    n_items
        number of items ``m >= 1``.
    valuation
        ``"additive"`` or ``"unit-demand"``.
    values
        a distribution spec (see :func:`econcs.shared.parse_distribution`): one distribution
        for every (bidder, item) such as ``"uniform(0,1)"``, a comma list with one per item, or
        ``|``-separated lists per bidder. Values must be non-negative: the support of every
        marginal must lie in ``[0, inf)``.

    Raises
    ------
    TypeError, ValueError
        naming the bad argument.
    """

    n_bidders: int
    n_items: int
    valuation: str = "additive"
    values: str = "uniform(0,1)"

    def __post_init__(self) -> None:
        check_int(self.n_bidders, "n_bidders", low=1)
        check_int(self.n_items, "n_items", low=1)
        check_type(self.valuation, "valuation", str)
        check_choice(self.valuation, "valuation", VALUATIONS)
        check_type(self.values, "values", str)
        dist = parse_distribution(self.values, self.n_bidders, self.n_items)
        if bool((dist.low < 0).any()):
            raise ValueError(
                f"values: valuations must be non-negative, but {self.values!r} has support below "
                "0; truncate it, e.g. 'normal(0.5,0.25)[0,1]'."
            )
        object.__setattr__(self, "n_bidders", int(self.n_bidders))
        object.__setattr__(self, "n_items", int(self.n_items))

    # ------------------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> AuctionSetting:
        """A named setting of the RegretNet paper; see :data:`PRESETS` for the names."""
        check_type(name, "name", str)
        check_choice(name, "name", tuple(PRESETS))
        return cls(*PRESETS[name])

    @property
    def known_revenue(self) -> float | None:
        """The optimal (or best baseline) revenue when this setting is a preset or a single item
        with i.i.d. ``uniform(0,1)`` or ``exponential(mean)`` values (Myerson's optimum,
        :func:`myerson_single_item`), else ``None``."""
        for name, spec in PRESETS.items():
            if spec == self.key() and name in KNOWN_REVENUES:
                return KNOWN_REVENUES[name][0]
        if self.n_items == 1:
            return myerson_single_item(self.n_bidders, self.values)
        return None

    @property
    def known_revenue_is_baseline(self) -> bool:
        """Whether :attr:`known_revenue` is a baseline's revenue (no optimum is known)."""
        for name, spec in PRESETS.items():
            if spec == self.key() and name in KNOWN_REVENUES:
                return "baseline" in KNOWN_REVENUES[name][1]
        return False

    def key(self) -> tuple[int, int, str, str]:
        """``(n_bidders, n_items, valuation, values)`` (specs compared without spaces)."""
        return (self.n_bidders, self.n_items, self.valuation, self.values.replace(" ", ""))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @cached_property
    def distribution(self) -> ValueDistribution:
        """The parsed prior over the ``(n_bidders, n_items)`` values."""
        return parse_distribution(self.values, self.n_bidders, self.n_items)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_bidders, self.n_items)

    @property
    def low(self) -> torch.Tensor:
        """``(n_bidders, n_items)`` lower support bounds (float64, CPU)."""
        return self.distribution.low

    @property
    def high(self) -> torch.Tensor:
        """``(n_bidders, n_items)`` upper support bounds (may be ``inf``)."""
        return self.distribution.high

    @cached_property
    def search_high(self) -> torch.Tensor:
        """``(n_bidders, n_items)`` upper bound for misreports and grids: the support bound when
        finite, else the ``1 - 1e-4`` quantile of the marginal."""
        hi = self.high.clone()
        for i, row in enumerate(self.distribution.marginals):
            for j, marg in enumerate(row):
                if not math.isfinite(marg.high):
                    q = marg.quantile(torch.tensor([1 - 1e-4], dtype=torch.float64))
                    hi[i, j] = float(q[0])
        return hi

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw ``n`` value profiles ``(n, n_bidders, n_items)`` on ``device`` from ``generator``."""
        return self.distribution.sample(n, generator=generator, device=device, dtype=dtype)

    def utility(self, values: torch.Tensor, allocation: torch.Tensor,
                payment: torch.Tensor) -> torch.Tensor:
        """Quasi-linear utilities ``(B, n)`` for ``values``/``allocation`` ``(B, n, m)``, ``payment``
        ``(B, n)``. Allocations are item probabilities (unit-demand: a lottery over single items,
        so the linear form is exact in both cases)."""
        return (allocation * values).sum(-1) - payment

    def check_values(self, values: torch.Tensor, name: str = "values") -> torch.Tensor:
        """Validate a batch of profiles: a finite tensor ``(B, n_bidders, n_items)``."""
        check_type(values, name, torch.Tensor)
        if values.dim() != 3 or tuple(values.shape[1:]) != self.shape or values.shape[0] == 0:
            raise ValueError(
                f"{name}: expected a tensor of shape (batch, n_bidders={self.n_bidders}, "
                f"n_items={self.n_items}) with batch >= 1, got shape {tuple(values.shape)}."
            )
        if not values.is_floating_point():
            raise TypeError(f"{name}: expected a floating tensor, got dtype {values.dtype}.")
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"{name}: contains NaN or infinite entries.")
        return values

    def __repr__(self) -> str:
        return (f"AuctionSetting(n_bidders={self.n_bidders}, n_items={self.n_items}, "
                f"valuation={self.valuation!r}, values={self.values!r})")
