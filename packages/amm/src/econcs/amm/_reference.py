"""Reference mechanisms and their exact profits (Curry, Fan, Parkes 2024, Secs. 4-5).

A :class:`Menu` is a finite list of trades ``(allocation_k, payment_k)``, allocations in
``[-1, 1]^n_goods``, the opt-out ``(0, 0)`` implicit. Two families serve as references:

- :func:`separate_prices_menu`: every good priced on its own with the single-good optimum
  (ask ``(1 + lambda c_i)/(1 + lambda)``, bid ``lambda c_i/(1 + lambda)``), i.e. all ``3^m - 1``
  combinations of buying, selling or not trading each good at the sum of the per-good prices;
- :func:`conjectured_menu`: the paper's conjectured optimum for two goods at ``c = (1/2, 1/2)``
  (buy or sell either good, the bundle at a discount, and the two swaps paid in kind), for any
  ``lambda = 1 - l``.

:func:`menu_profit` integrates a menu's profit exactly for ``x ~ U[0, 1]^m`` with ``m <= 2`` (each
option's region is a convex polygon, found by clipping the unit square with the half-planes where
that option beats the others; the profit is linear in ``x``, so area and centroid give its integral);
:func:`menu_profit_mc` estimates it by Monte Carlo for any distribution and any ``m``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import torch

from econcs.amm._closed_form import one_good_optimum
from econcs.amm._market import check_goods_cost, check_selection, trade_profit
from econcs.shared import check_array, check_int, choose_from_menu, make_generator

__all__ = [
    "Menu",
    "conjectured_menu",
    "menu_profit",
    "menu_profit_mc",
    "separate_prices_menu",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Menu:
    """A menu of ``K`` trades (read-only arrays; the opt-out is implicit).

    Attributes
    ----------
    allocations : np.ndarray, shape (K, n_goods)
        Goods the trader receives in each trade, in ``[-1, 1]`` (negative: it sells).
    payments : np.ndarray, shape (K,)
        Numeraire the trader pays for each trade (negative: it is paid).
    """

    allocations: np.ndarray
    payments: np.ndarray

    def __post_init__(self) -> None:
        alloc = check_array(self.allocations, "allocations", ndim=2)
        pay = check_array(self.payments, "payments", ndim=1, shape=(alloc.shape[0],))
        if bool((np.abs(alloc) > 1 + 1e-9).any()):
            raise ValueError("allocations: expected trades in [-1, 1]^n_goods.")
        alloc.setflags(write=False)
        pay.setflags(write=False)
        object.__setattr__(self, "allocations", alloc)
        object.__setattr__(self, "payments", pay)

    @property
    def n_goods(self) -> int:
        return int(self.allocations.shape[1])

    def __len__(self) -> int:
        return int(self.allocations.shape[0])


def separate_prices_menu(c: Any, l: float) -> Menu:
    """Each good priced separately at its single-good optimum (``3^m - 1`` trades).

    >>> menu = separate_prices_menu([0.5, 0.5], 0.0)
    >>> len(menu), round(menu_profit(menu, [0.5, 0.5], 0.0), 6)
    (8, 0.25)
    """
    c = check_goods_cost(c)
    l = check_selection(l)
    opts = [one_good_optimum(ci, l) for ci in c]
    allocs, pays = [], []
    for combo in itertools.product((-1, 0, 1), repeat=len(c)):
        if not any(combo):
            continue
        allocs.append(combo)
        pays.append(sum(o.ask if s > 0 else (-o.bid if s < 0 else 0.0)
                        for s, o in zip(combo, opts)))
    return Menu(np.array(allocs, dtype=np.float64), np.array(pays))


def conjectured_menu(l: float = 0.0) -> Menu:
    """The conjectured optimal menu for two goods, ``c = (1/2, 1/2)``, ``x ~ U[0, 1]^2``.

    With ``lambda = 1 - l`` and ``d = 4 lambda + 2``: buy either good alone at
    ``(3 lambda + 2)/d``, sell either alone for ``lambda/d``; buy the bundle at
    ``(6 lambda + 4 - sqrt2 lambda)/d``, sell it for ``(2 + sqrt2) lambda/d``; swap one good for
    the other (payment in kind) at ``(2 lambda + 2 - sqrt2 lambda)/d``. Its profit is 0.2746 at
    ``l = 0`` (separate prices: 0.25) and 0.0929 at ``l = 0.5`` (0.0833).

    >>> round(menu_profit(conjectured_menu(0.0), [0.5, 0.5], 0.0), 4)
    0.2746
    """
    lam = 1.0 - check_selection(l)
    d = 4 * lam + 2
    r2 = math.sqrt(2.0)
    single = (3 * lam + 2) / d
    sell = -lam / d
    bundle = (6 * lam + 4 - r2 * lam) / d
    sell_bundle = -(2 + r2) * lam / d
    swap = (2 * lam + 2 - r2 * lam) / d
    allocs = [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]
    pays = [single, single, sell, sell, bundle, sell_bundle, swap, swap]
    return Menu(np.array(allocs, dtype=np.float64), np.array(pays))


# ---------------------------------------------------------------------------------------------
# exact profit for x ~ U[0, 1]^m, m <= 2


def _clip(poly: list[tuple[float, float]], a: np.ndarray, b: float) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of convex polygon ``poly`` where ``a . x >= b``."""
    out: list[tuple[float, float]] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp = a[0] * p[0] + a[1] * p[1] - b
        fq = a[0] * q[0] + a[1] * q[1] - b
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _area_centroid(poly: list[tuple[float, float]]) -> tuple[float, np.ndarray]:
    if len(poly) < 3:
        return 0.0, np.zeros(2)
    pts = np.array(poly)
    x, y = pts[:, 0], pts[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    if abs(area) < 1e-15:
        return 0.0, np.zeros(2)
    cx = ((x + xn) * cross).sum() / (6 * area)
    cy = ((y + yn) * cross).sum() / (6 * area)
    return abs(area), np.array([cx, cy])


def _regions(menu: Menu) -> list[tuple[float, np.ndarray]]:
    """(measure, mean) of the region of [0, 1]^m where each option is chosen (m <= 2)."""
    alloc = np.vstack([menu.allocations, np.zeros((1, menu.n_goods))])
    pay = np.append(menu.payments, 0.0)
    if menu.n_goods == 1:  # pad to two goods whose second coordinate never matters
        alloc = np.hstack([alloc, np.zeros_like(alloc)])
    out = []
    for k in range(len(pay) - 1):
        poly = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
        for j in range(len(pay)):
            if j != k and poly:
                # option k beats j: (a_k - a_j) . x >= p_k - p_j
                poly = _clip(poly, alloc[k] - alloc[j], pay[k] - pay[j])
        area, centre = _area_centroid(poly) if poly else (0.0, np.zeros(2))
        out.append((area, centre[: menu.n_goods]))
    return out


def menu_profit(menu: Menu, c: Any, l: float) -> float:
    """Exact expected profit of ``menu`` against ``x ~ U[0, 1]^m`` (``m`` = 1 or 2).

    Ties between options have measure zero for a menu in general position. The profit of option
    ``k`` is linear in ``x``, so its integral is ``area_k * profit_k(centroid_k)``.
    """
    if not isinstance(menu, Menu):
        raise TypeError(f"menu: expected a Menu, got {type(menu).__name__}.")
    if menu.n_goods > 2:
        raise ValueError(f"menu: exact profit supports n_goods <= 2, got {menu.n_goods}; "
                         "use menu_profit_mc.")
    c = check_goods_cost(c, menu.n_goods)
    l = check_selection(l)
    total = 0.0
    for (area, centre), a, p in zip(_regions(menu), menu.allocations, menu.payments):
        if area > 0:
            total += area * (p - float(((1 - l) * c + l * centre) @ a))
    return float(total)


def menu_profit_mc(
    menu: Menu,
    c: Any,
    l: float,
    values: Any = "uniform(0,1)",
    *,
    n_samples: int = 200_000,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> float:
    """Monte Carlo estimate of ``menu``'s profit (argmax choice) for any value distribution.

    ``values`` is a spec for :func:`econcs.amm.make_values` (e.g. ``"uniform(0,1)"``,
    ``"beta(2,2)"``, ``"gaussian_copula(0.5)"``). Sampled in float64 on the CPU.
    """
    from econcs.amm._values import make_values

    if not isinstance(menu, Menu):
        raise TypeError(f"menu: expected a Menu, got {type(menu).__name__}.")
    n_samples = check_int(n_samples, "n_samples", low=1)
    dist = make_values(values, menu.n_goods)
    gen = make_generator(seed) if generator is None else generator
    x = dist.sample(n_samples, generator=gen, dtype=torch.float64)
    alloc = torch.tensor(np.array(menu.allocations), dtype=torch.float64)
    pay = torch.tensor(np.array(menu.payments), dtype=torch.float64)
    choice = choose_from_menu(x, alloc, pay)
    return float(trade_profit(choice.allocation, choice.payment, x, c, l).mean())
