"""The market-maker problem: one trader, ``n_goods`` goods against a numeraire (Curry et al. 2024, Sec. 2).

A market maker (MM) posts a menu of trades ``(allocation_k, payment_k)``; ``allocation_k`` lies in
``[-1, 1]^n_goods`` (positive: the trader buys that good, negative: the trader sells it to the MM).
A trader with values ``x`` takes the entry of highest utility ``<allocation_k, x> - payment_k`` or
opts out (utility 0). The MM's prior values are ``c``; with adverse selection of strength ``l`` it
values the goods after the trade at ``(1 - l) c + l x``, so its profit from a trade is

    payment - <(1 - l) c + l x, allocation>,

``l = 0`` being noise traders. Writing ``u`` for the trader's (convex) utility,
``profit = lambda <x - c, grad u(x)> - u(x)`` with ``lambda = 1 - l``, the form the dual uses.

This module holds the argument checks every entry point of the package shares and the profit of a
batch of trades (torch, differentiable).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from econcs.shared import check_array, check_float, check_int, check_tensor

__all__ = ["trade_profit"]


def check_goods_cost(c: Any, n_goods: int | None = None, name: str = "c") -> np.ndarray:
    """``c`` as a float64 array ``(n_goods,)`` in ``[0, 1]^n_goods`` (a scalar is broadcast)."""
    if isinstance(c, torch.Tensor):
        c = c.detach().cpu().numpy()
    if np.ndim(c) == 0:
        if n_goods is None:
            n_goods = 1
        value = check_float(c, name, low=0.0, high=1.0)
        return np.full(n_goods, value)
    out = check_array(c, name, ndim=1)
    if n_goods is not None and out.shape[0] != n_goods:
        raise ValueError(
            f"{name}: expected {n_goods} prior values (one per good) or one scalar, "
            f"got {out.shape[0]}."
        )
    if bool(((out < 0) | (out > 1)).any()):
        raise ValueError(
            f"{name}: expected the market maker's prior values in [0, 1] for every good, "
            f"got {out.tolist()}."
        )
    return out.astype(np.float64)


def check_selection(l: Any, name: str = "l") -> float:
    """The adverse-selection strength ``l`` in ``[0, 1]`` (0: noise traders)."""
    return check_float(l, name, low=0.0, high=1.0)


def check_n_goods(n_goods: Any) -> int:
    return check_int(n_goods, "n_goods", low=1)


def trade_profit(
    allocation: torch.Tensor,
    payment: torch.Tensor,
    values: torch.Tensor,
    c: torch.Tensor | Any,
    l: float,
) -> torch.Tensor:
    """The MM's profit of each trade: ``payment - <(1 - l) c + l x, allocation>``.

    Parameters
    ----------
    allocation
        ``(B, m)`` goods given to the trader (negative: bought from it).
    payment
        ``(B,)`` numeraire paid by the trader (negative: paid to it).
    values
        ``(B, m)`` the traders' values ``x``.
    c
        ``(m,)`` the MM's prior values.
    l
        adverse selection in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        ``(B,)``, differentiable in ``allocation`` and ``payment``.

    >>> x = torch.tensor([[0.9]]); a = torch.tensor([[1.0]]); p = torch.tensor([0.75])
    >>> trade_profit(a, p, x, [0.5], 0.0).item()
    0.25
    """
    values = check_tensor(values, "values", ndim=2)
    allocation = check_tensor(allocation, "allocation", ndim=2, shape=tuple(values.shape))
    payment = check_tensor(payment, "payment", ndim=1, shape=(values.shape[0],))
    l = check_selection(l)
    c_t = torch.as_tensor(
        check_goods_cost(c, values.shape[1]),
        dtype=values.dtype, device=values.device,
    )
    mm_value = (1 - l) * c_t + l * values
    return payment - (mm_value * allocation).sum(-1)
