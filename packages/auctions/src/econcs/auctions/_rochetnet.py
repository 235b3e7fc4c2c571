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

import math
from collections.abc import Callable
from typing import Any

import torch

from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.shared import (
    MenuLayer,
    check_float,
    check_int,
    check_tensor,
    choose_from_menu,
    make_generator,
)

__all__ = ["Callback", "RochetNet", "fit_revenue", "value_scale"]

#: ``callback(step, metrics, state_fn)``; ``state_fn()`` returns the full training state (a dict of
#: tensors/numbers) to checkpoint, which ``fit(resume=(step, state))`` continues from.
Callback = Callable[[int, dict[str, float], Callable[[], dict[str, Any]]], None]


def value_scale(setting: AuctionSetting) -> float:
    """A typical value: the mean width of the (search) support, used to scale temperatures."""
    return float((setting.search_high - setting.low).mean())


def fit_revenue(
    mech: Mechanism,
    params: list[torch.nn.Parameter],
    *,
    max_iter: int,
    batch_size: int,
    lr: float,
    temperature: float,
    temperature_final: float,
    generator: torch.Generator,
    callback: Callback | None = None,
    resume: tuple[int, dict[str, Any]] | None = None,
    penalty: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
) -> None:
    """Train an argmax mechanism (menus, affine maximizers) by Adam on its softmax relaxation.

    Maximises the mean revenue of ``mech.outcome(values, tau)`` on fresh samples; ``tau`` is
    annealed geometrically from ``temperature`` to ``temperature_final`` (both relative to
    :func:`value_scale`), the learning rate decays by cosine to ``lr / 20``. Records
    ``mech.history_``; ``mech.reset_parameters(generator)`` is called unless resuming.
    ``penalty(values, allocation, step)``, when given, is added to the loss (GemNet's
    incompatibility penalty).
    """
    max_iter = check_int(max_iter, "max_iter", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    temperature = check_float(temperature, "temperature", low=0.0, low_inclusive=False)
    temperature_final = check_float(temperature_final, "temperature_final", low=0.0,
                                    low_inclusive=False)
    scale = value_scale(mech.setting)
    opt = torch.optim.Adam(params, lr=lr)
    start = 0
    if resume is None:
        mech.reset_parameters(generator)
        mech.history_ = []
        data_gen = make_generator(int(torch.randint(0, 2**62, (1,), generator=generator)),
                                  mech.device_)
    else:
        start, state = resume
        mech.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        data_gen = make_generator(0, mech.device_)
        data_gen.set_state(state["data_rng"].cpu())
        mech.history_ = list(state.get("history", []))

    def state_fn() -> dict[str, Any]:
        return {"model": mech.state_dict(), "optimizer": opt.state_dict(),
                "data_rng": data_gen.get_state(), "history": list(mech.history_)}

    mech.train()
    for step in range(start + 1, max_iter + 1):
        frac = (step - 1) / max(max_iter - 1, 1)
        tau = scale * temperature * (temperature_final / temperature) ** frac
        values = mech.setting.sample(batch_size, generator=data_gen, device=mech.device_,
                                     dtype=mech.dtype_)
        cos = 0.5 * (1 + math.cos(math.pi * (step - 1) / max_iter))
        for group in opt.param_groups:  # cosine decay to lr / 20
            group["lr"] = lr * (0.05 + 0.95 * cos)
        alloc, pay = mech.outcome(values, tau)
        revenue = pay.sum(-1).mean()
        loss = -revenue if penalty is None else penalty(values, alloc, step) - revenue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == max_iter:
            mech.history_.append({"step": step, "revenue": float(revenue.detach()),
                                  "temperature": tau})
        if callback is not None:
            callback(step, {"revenue": float(revenue.detach())}, state_fn)
    mech.eval()


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
    history_ : list of ``{"step", "revenue", "temperature"}`` recorded by :meth:`fit`.

    >>> from econcs.auctions import AuctionSetting
    >>> mech = RochetNet(AuctionSetting(1, 2), menu_size=64).fit(max_iter=50, seed=0)
    >>> alloc, pay = mech(torch.rand(8, 1, 2))
    >>> alloc.shape, pay.shape
    (torch.Size([8, 1, 2]), torch.Size([8, 1]))
    """

    exactly_ic = True

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

    def search_outcome(self, reports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hard_a, hard_p = self.outcome(reports)
        soft_a, soft_p = self.outcome(reports, 0.01 * value_scale(self.setting))
        return hard_a + soft_a - soft_a.detach(), hard_p + soft_p - soft_p.detach()

    # -- training --------------------------------------------------------------------------------
    def fit(
        self,
        max_iter: int = 1500,
        *,
        batch_size: int = 1024,
        lr: float = 0.02,
        temperature: float = 0.01,
        temperature_final: float = 0.001,
        seed: int = 0,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        resume: tuple[int, dict[str, Any]] | None = None,
    ) -> RochetNet:
        """Maximise revenue under the softmax relaxation with Adam on fresh samples.

        Parameters
        ----------
        max_iter
            Adam steps.
        batch_size
            value profiles per step (drawn fresh from the prior).
        lr
            Adam learning rate, decayed by cosine to ``lr / 20``. Adam moves every price by
            about ``lr`` value units a step, and an option priced out of every choice gets no
            gradient back: at 0.05 the 1x2 U[0,1] menu lost its single-item options in 20000
            steps (revenue 0.5439 against 0.5480 after 600); at 0.02 it keeps them (0.5492).
        temperature, temperature_final
            softmax temperature, relative to :func:`value_scale`,
            annealed geometrically from the first to the second.
        seed
            seeds the menu initialisation and the samples (ignored when ``generator`` is given).
        generator
            CPU ``torch.Generator`` for initialisation; samples come from a generator on
            the device derived from it.
        callback, resume
            checkpointing hooks (see :data:`Callback`).
        """
        gen = make_generator(check_int(seed, "seed", low=0)) if generator is None else generator
        fit_revenue(self, list(self.menu.parameters()), max_iter=max_iter, batch_size=batch_size,
                    lr=lr, temperature=temperature, temperature_final=temperature_final,
                    generator=gen, callback=callback, resume=resume)
        self.eval()
        return self
