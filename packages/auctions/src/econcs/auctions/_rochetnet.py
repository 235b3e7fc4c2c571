"""RochetNet: a learned menu for a single bidder (Dütting et al., ICML 2019, Sec. 3).

The mechanism is a menu of ``K`` options ``(a_k, p_k)`` plus the null option ``(0, 0)``: additive
bidders get item probabilities ``a_k = sigmoid(alpha_k)`` in ``[0,1]^m``, unit-demand bidders a
lottery ``softmax`` over the items and a dummy (``sum a_k <= 1``). The bidder takes the option of
highest utility ``<a_k, v> - p_k``, so the mechanism is incentive compatible and individually
rational by construction (Rochet 1987: every IC mechanism for one bidder is such a menu). Training
maximises revenue under the ``softmax(utility / temperature)`` relaxation of the choice; the exact
mechanism (evaluation) is the argmax.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.auctions._training import RevenueParams, fit_revenue, start_generator, value_scale
from econcs.shared import (
    Callback,
    MenuLayer,
    check_int,
    check_tensor,
    choose_from_menu,
    make_generator,
    resolve_params,
)

__all__ = ["RochetNet", "RochetNetParams"]


@dataclasses.dataclass(frozen=True)
class RochetNetParams(RevenueParams):
    """Training parameters of :class:`RochetNet` (Adam on the softmax relaxation, fresh samples):
    those of :class:`~econcs.auctions._training.RevenueParams`, whose defaults are RochetNet's.

    ``lr``: Adam moves every price by about ``lr`` value units a step, and an option priced out of
    every choice gets no gradient back: at 0.05 the 1x2 U[0,1] menu lost its single-item options
    in 20000 steps (revenue 0.5439 against 0.5480 after 600); at 0.02 it keeps them (0.5492).
    The prices' steps are ``lr`` times the value scale (the mean support width; 1 on U[0,1] and
    U[2,3]): on U[4,16] x U[4,7] (scale 7.5) unscaled steps left 1500 steps at the bundling
    optimum 9.61 (seed 3), scaled ones reach 9.751 (optimum 9.781).
    """


class RochetNet(Mechanism):
    """A menu mechanism for one bidder, trained by gradient ascent on revenue.

    Parameters
    ----------
    setting
        an :class:`AuctionSetting` with ``n_bidders == 1`` (additive or unit-demand).
    menu_size
        number of menu options ``K`` besides the null option (paper: 1000).
    device, dtype
        where and in which precision the menu lives (``float32`` by default).

    Attributes
    ----------
    menu
        the :class:`econcs.shared.MenuLayer`.
    history_ : tuple of ``{"step", "revenue", "temperature"}`` recorded by :meth:`fit`.

    >>> from econcs.auctions import AuctionSetting
    >>> mech = RochetNet(AuctionSetting(1, 2), menu_size=64).fit(max_iter=50, seed=0)
    >>> alloc, pay = mech(torch.rand(8, 1, 2))
    >>> alloc.shape, pay.shape
    (torch.Size([8, 1, 2]), torch.Size([8, 1]))
    """

    exactly_ic = True
    straight_through = True

    def __init__(self, setting: AuctionSetting, menu_size: int = 1000, *,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
                 ) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        if setting.n_bidders != 1:
            raise ValueError(
                f"setting: RochetNet is a single-bidder mechanism, got n_bidders="
                f"{setting.n_bidders}; use RegretNet or GemNet for several bidders."
            )
        self.menu_size = check_int(menu_size, "menu_size", low=1)
        self.menu = MenuLayer(setting.n_items, self.menu_size, kind=setting.valuation,
                              dtype=self.dtype_).to(self.device_)
        self.reset_parameters(make_generator(0))

    def hparams(self) -> dict[str, Any]:
        return {"menu_size": self.menu_size}

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Random menu: allocation logits ``N(0, 1)``, prices uniform in ``[0, sum of highs]``
        (CPU generator; the parameters are then moved to the device)."""
        m = self.setting.n_items
        width = m + (1 if self.setting.valuation == "unit-demand" else 0)
        top = float(self.setting.search_high.sum()) if self.setting.valuation == "additive" \
            else float(self.setting.search_high.max())
        with torch.no_grad():
            logits = torch.randn(self.menu_size, width, generator=generator, dtype=torch.float64)
            prices = torch.rand(self.menu_size, generator=generator, dtype=torch.float64) * top
            self.menu.logits.copy_(logits)
            self.menu.prices.copy_(prices)

    @classmethod
    def from_menu(cls, setting: AuctionSetting, allocations: torch.Tensor, prices: torch.Tensor,
                  *, dtype: str | torch.dtype | None = None) -> RochetNet:
        """A RochetNet with a given menu: ``allocations`` ``(K, m)``, ``prices`` ``(K,)``.

        Exact 0/1 allocations are represented up to ``1e-12`` (use ``dtype="float64"``).
        """
        allocations = check_tensor(allocations, "allocations", ndim=2,
                                   shape=(None, setting.n_items))
        prices = check_tensor(prices, "prices", ndim=1, shape=(allocations.shape[0],))
        mech = cls(setting, menu_size=allocations.shape[0], dtype=dtype)
        a = allocations.to(torch.float64).clamp(1e-12, 1 - 1e-12)
        if setting.valuation == "additive":
            logits = torch.log(a) - torch.log1p(-a)
        else:
            rest = (1 - allocations.to(torch.float64).sum(1, keepdim=True)).clamp(min=1e-12)
            if bool((allocations.sum(1) > 1 + 1e-9).any()):
                raise ValueError("allocations: unit-demand lotteries must sum to at most 1.")
            logits = torch.log(torch.cat([a, rest], dim=1))
        with torch.no_grad():
            mech.menu.logits.copy_(logits)
            mech.menu.prices.copy_(prices.to(torch.float64))
        return mech

    # -- mechanism -------------------------------------------------------------------------------
    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out = choose_from_menu(reports[:, 0], self.menu.allocations, self.menu.prices, temperature)
        return out.allocation.unsqueeze(1), out.payment.unsqueeze(1)

    # -- training --------------------------------------------------------------------------------
    def fit(self, params: RochetNetParams | None = None, /, *, seed: int = 0,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            resume: tuple[int, dict[str, Any]] | None = None, **overrides: Any) -> RochetNet:
        """Maximise revenue under the softmax relaxation with Adam on fresh samples
        (:func:`~econcs.auctions._training.fit_revenue`); returns ``self``.

        Parameters
        ----------
        params, overrides
            the :class:`RochetNetParams` (default ``RochetNetParams()``), or keyword overrides
            of them (``fit(max_iter=500)``).
        seed
            seeds the menu initialisation and the samples (ignored when ``generator`` is given).
        generator
            CPU ``torch.Generator`` for initialisation; samples come from a generator on
            the device derived from it.
        callback, resume
            checkpointing hooks (:class:`econcs.shared.Callback`; ``resume=(step, state)``
            continues from a ``state_fn()``).
        """
        p = resolve_params(RochetNetParams, params, **overrides)
        # prices move in value units: their steps scale with the values (1 on U[0,1] and U[2,3])
        groups = [{"params": [self.menu.logits]},
                  {"params": [self.menu.prices], "lr_scale": value_scale(self.setting)}]
        fit_revenue(self, groups, p,
                    generator=start_generator(seed, generator), callback=callback, resume=resume)
        return self
