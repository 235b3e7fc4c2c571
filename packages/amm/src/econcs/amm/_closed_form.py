"""The single-good optimum in closed form (Curry, Fan, Parkes 2024, Sec. 4; one good, ``x ~ U[0, 1]``).

With one good the optimal menu is an ask and a bid: the trader buys one unit at
``ask = (1 + lambda c) / (1 + lambda)`` or sells one unit at ``bid = lambda c / (1 + lambda)``, with
``lambda = 1 - l``. Its expected profit is ``lambda^2 ((1 - c)^2 + c^2) / (2 (1 + lambda))``
(the dual of Sec. 3 transports the mass ``lambda (1 - c)`` at 1 onto ``[ask, 1]`` and ``lambda c`` at 0
onto ``[0, bid]``, at exactly this cost). :func:`one_good_profit` is the exact expected profit of any
ask and bid, for checks and grid searches.
"""

from __future__ import annotations

import dataclasses

from econcs.amm._market import check_goods_cost, check_selection
from econcs.shared import check_float

__all__ = ["OneGoodOptimum", "one_good_optimum", "one_good_profit"]


@dataclasses.dataclass(frozen=True)
class OneGoodOptimum:
    """The optimal single-good market maker for ``x ~ U[0, 1]``: ``ask``, ``bid`` and ``profit``."""

    ask: float
    bid: float
    profit: float


def _scalar_c(c: object) -> float:
    return float(check_goods_cost(c, 1)[0])


def one_good_profit(ask: float, bid: float, c: float, l: float) -> float:
    """Exact expected profit of ask ``ask`` and bid ``bid`` against ``x ~ U[0, 1]``.

    The trader buys at ``ask`` when ``x > ask``, sells at ``bid`` when ``x < bid`` (``bid <= ask``;
    a price outside ``[0, 1]`` is never taken). Each trade earns
    ``+-(price - ((1 - l) c + l x))``, integrated in closed form.

    >>> one_good_profit(0.75, 0.25, 0.5, 0.0)
    0.125
    """
    ask = check_float(ask, "ask")
    bid = check_float(bid, "bid")
    c = _scalar_c(c)
    l = check_selection(l)
    if bid > ask:
        raise ValueError(f"bid, ask: expected bid <= ask (else the trader can arbitrage), "
                         f"got bid={bid}, ask={ask}.")
    lam = 1.0 - l
    a = min(max(ask, 0.0), 1.0)
    b = min(max(bid, 0.0), 1.0)
    # sell side: int_a^1 (ask - lam c - l x) dx ; buy side: int_0^b (lam c + l x - bid) dx
    sell = (ask - lam * c) * (1 - a) - l * (1 - a * a) / 2
    buy = (lam * c - bid) * b + l * b * b / 2
    return float(sell + buy)


def one_good_optimum(c: float, l: float) -> OneGoodOptimum:
    """The profit-maximising ask and bid for one good with ``x ~ U[0, 1]``.

    Parameters
    ----------
    c
        the MM's prior value of the good, in ``[0, 1]``.
    l
        adverse selection in ``[0, 1]`` (``lambda = 1 - l``).

    Examples
    --------
    >>> opt = one_good_optimum(0.5, 0.0)
    >>> opt.ask, opt.bid, opt.profit
    (0.75, 0.25, 0.125)
    """
    c = _scalar_c(c)
    lam = 1.0 - check_selection(l)
    ask = (1 + lam * c) / (1 + lam)
    bid = lam * c / (1 + lam)
    profit = lam * lam * ((1 - c) ** 2 + c * c) / (2 * (1 + lam))
    return OneGoodOptimum(ask, bid, profit)
