"""Learned menus of trades: RochetNet for market makers (Curry, Fan, Parkes 2024, Sec. 5).

The MM's mechanism is a menu of ``menu_size`` trades ``(allocation_k, payment_k)`` plus the opt-out
(Dütting et al. 2019's RochetNet, through :func:`econcs.shared.choose_from_menu`). Allocations lie
in ``[-1, 1]^m`` (``kind="additive"``: the trades are the parameters, clipped back into the box
after every step, so that the corner trades of the optimal menus are reached exactly, which
``2 sigmoid - 1`` only approaches) or are a signed lottery with ``|allocation|_1 <= 1``
(``kind="unit-demand"``: a softmax over buying each good, selling each good and not trading).
Every menu is incentive compatible and individually rational by construction.
Training maximises the sampled profit with adverse selection,
``payment - <(1 - l) c + l x, allocation>``, with the trader's choice relaxed to a softmax at
``temperature`` (the paper uses 1/100); evaluation uses the hard argmax on fresh samples.

:func:`train_menu` is the trainer: seeded by ``seed`` (or a ``generator``), one Adam step per batch,
the shared :class:`~econcs.shared.Callback` after each step and ``resume=(step, state)`` from its
``state_fn``; a NaN or infinite loss raises :class:`~econcs.shared.DivergenceError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from econcs.amm._market import check_goods_cost, check_selection, trade_profit
from econcs.amm._reference import Menu
from econcs.amm._values import TraderValues, make_values
from econcs.shared import (
    Callback,
    DivergenceError,
    MenuChoice,
    Params,
    check_choice,
    check_int,
    check_tensor,
    choose_from_menu,
    cpu_threads,
    history_tuple,
    make_generator,
    param,
    resolve_device,
    resolve_params,
)
from econcs.shared.ascent import gradient_ascent

__all__ = ["MenuNet", "MenuNetParams", "MenuResult", "evaluate_menu", "train_menu"]


@dataclasses.dataclass(frozen=True)
class MenuNetParams(Params):
    """Training parameters of :func:`train_menu`. The paper's code uses 1024 trades, batches of
    256, Adam at 1e-3 and temperature 1/100; these defaults (fewer trades, larger batches of
    quasi-random values, a decaying larger step, a lower temperature) converge in a few thousand
    steps (MEASUREMENTS.md)."""

    menu_size: int = param(256, "trades on the menu (the opt-out comes on top)", low=1)
    kind: str = param("additive", "allocations in [-1,1]^m, or a signed lottery (|a|_1 <= 1)",
                      choices=("additive", "unit-demand"))
    max_iter: int = param(3000, "Adam steps", low=1)
    batch_size: int = param(1024, "trader values per step", low=1)
    lr: float = param(1e-2, "Adam learning rate", low=0.0, low_inclusive=False)
    lr_final: float = param(1e-3, "learning rate at the last step (geometric decay)",
                            low=0.0, low_inclusive=False)
    temperature: float = param(0.003, "softmax temperature of the trader's choice in training",
                               low=0.0, low_inclusive=False)
    qmc: bool = param(True, "training batches from scrambled Sobol points (low variance)")
    eval_samples: int = param(200_000, "fresh samples for the argmax profit at the end", low=1)
    log_every: int = param(100, "steps between history records", low=1)


class MenuNet(nn.Module):
    """A menu of ``menu_size`` trades for ``n_goods`` goods.

    Parameters
    ----------
    n_goods, menu_size, kind
        as in :class:`MenuNetParams`.
    generator
        initialisation randomness: additive trades uniform in the box (unit-demand logits normal
        with standard deviation 2); each payment the
        trade's value at 1/2 per good plus ``|allocation|_1`` times a spread uniform in
        ``[0, 1/2]`` (every trade starts away from giving goods away).

    Notes
    -----
    ``forward(values (B, m), temperature=None) -> MenuChoice``: ``None`` is the argmax choice.
    """

    def __init__(self, n_goods: int, menu_size: int = 256, *, kind: str = "additive",
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.n_goods = check_int(n_goods, "n_goods", low=1)
        self.menu_size = check_int(menu_size, "menu_size", low=1)
        self.kind = check_choice(kind, "kind", ("additive", "unit-demand"))
        width = n_goods if kind == "additive" else 2 * n_goods + 1
        if kind == "additive":  # the trades themselves, projected onto the box after each step
            init = torch.rand(menu_size, width, generator=generator, dtype=dtype) * 2 - 1
        else:
            init = torch.randn(menu_size, width, generator=generator, dtype=dtype) * 2
        self.logits = nn.Parameter(init)
        self.payments = nn.Parameter(torch.zeros(menu_size, dtype=dtype))
        spread = torch.rand(menu_size, generator=generator, dtype=dtype) * 0.5
        with torch.no_grad():  # each trade starts priced at value 1/2 per good plus a spread
            alloc = self.allocations
            self.payments.copy_(alloc.sum(1) * 0.5 + alloc.abs().sum(1) * spread)

    @property
    def allocations(self) -> torch.Tensor:
        """``(menu_size, n_goods)`` trades in ``[-1, 1]``."""
        if self.kind == "additive":
            return self.logits
        p = torch.softmax(self.logits, dim=1)
        m = self.n_goods
        return p[:, :m] - p[:, m : 2 * m]

    def project_(self) -> None:
        """Clip additive trades back into ``[-1, 1]^m`` (after each gradient step)."""
        if self.kind == "additive":
            with torch.no_grad():
                self.logits.clamp_(-1.0, 1.0)

    def forward(self, values: torch.Tensor, temperature: float | None = None) -> MenuChoice:
        values = check_tensor(values, "values", ndim=2, shape=(None, self.n_goods))
        return choose_from_menu(values, self.allocations, self.payments, temperature)

    def to_menu(self) -> Menu:
        """The menu as a :class:`~econcs.amm.Menu` (float64 numpy)."""
        with torch.no_grad():
            alloc = self.allocations.detach().double().cpu().numpy().clip(-1, 1)
            return Menu(alloc, self.payments.detach().double().cpu().numpy())


@dataclasses.dataclass(frozen=True, eq=False)
class MenuResult:
    """What :func:`train_menu` returns.

    Attributes
    ----------
    profit : float
        Expected profit of the argmax menu on ``eval_samples`` fresh samples.
    model : MenuNet
        The trained menu (on the training device).
    menu : Menu
        The same as numpy arrays.
    iterations : int
        Adam steps done.
    history : tuple of dict
        ``{"step", "train_profit"}`` every ``log_every`` steps (the softmax-relaxed batch profit).
    params : MenuNetParams
    """

    profit: float
    model: MenuNet
    menu: Menu
    iterations: int
    history: tuple[dict[str, Any], ...]
    params: MenuNetParams


def evaluate_menu(
    model: MenuNet,
    c: Any,
    l: float,
    values: str | TraderValues = "uniform(0,1)",
    *,
    n_samples: int = 200_000,
    seed: int = 0,
    generator: torch.Generator | None = None,
    chunk: int = 65_536,
) -> float:
    """Argmax (incentive-compatible) expected profit of ``model`` on ``n_samples`` fresh samples."""
    n_samples = check_int(n_samples, "n_samples", low=1)
    dist = make_values(values, model.n_goods)
    device = model.logits.device
    gen = make_generator(seed, device) if generator is None else generator
    total = 0.0
    with torch.no_grad():
        done = 0
        while done < n_samples:  # chunks bound the (chunk, menu_size) utility matrix
            k = min(chunk, n_samples - done)
            x = dist.sample(k, generator=gen, device=device, dtype=model.logits.dtype)
            choice = model(x)
            total += float(trade_profit(choice.allocation, choice.payment, x, c, l).sum())
            done += k
    return total / n_samples


def _batch(dist: TraderValues, n: int, qmc: bool, gen: torch.Generator,
           device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if not qmc:
        return dist.sample(n, generator=gen, device=device, dtype=dtype)
    # a fresh scramble per step, seeded from gen, so batches stay random and reproducible
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    u = torch.quasirandom.SobolEngine(dist.n_goods, scramble=True, seed=seed).draw(
        n, dtype=torch.float64)
    return dist.transform(u).to(device=device, dtype=dtype)


def train_menu(
    c: Any,
    l: float = 0.0,
    values: str | TraderValues = "uniform(0,1)",
    params: MenuNetParams | None = None,
    /,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype = torch.float32,
    callback: Callback | None = None,
    resume: tuple[int, dict[str, Any]] | None = None,
    **overrides: Any,
) -> MenuResult:
    """Learn a profit-maximising menu of trades by stochastic gradient ascent.

    Parameters
    ----------
    c
        ``(n_goods,)`` the MM's prior values in ``[0, 1]`` (a scalar: one good).
    l
        adverse selection in ``[0, 1]``.
    values
        the trader's value distribution (:func:`econcs.amm.make_values` spec).
    params, **overrides
        :class:`MenuNetParams`.
    seed, generator
        randomness of the initial menu, the training samples and (from ``seed + 1``) the
        evaluation samples; ``generator`` (on ``device``) wins over ``seed`` for the first two.
    callback
        ``callback(step, {"train_profit": ...}, state_fn)`` after each step.
    resume
        ``(step, state)`` from a ``state_fn()``: continue exactly where it stopped.
    """
    p = resolve_params(MenuNetParams, params, **overrides)
    c_arr = check_goods_cost(c)
    l = check_selection(l)
    m = c_arr.shape[0]
    dist = make_values(values, m)
    device = resolve_device(device)
    gen = make_generator(seed, device) if generator is None else generator
    # the initial menu is drawn on the CPU so that a seed gives the same menu on every device
    init_gen = gen if gen.device.type == "cpu" else make_generator(seed)
    model = MenuNet(m, p.menu_size, kind=p.kind, dtype=dtype, generator=init_gen).to(device)
    c_t = torch.as_tensor(c_arr, dtype=dtype, device=device)

    def objective(step: int) -> torch.Tensor:
        x = _batch(dist, p.batch_size, p.qmc, gen, device, dtype)
        choice = model(x, p.temperature)
        return trade_profit(choice.allocation, choice.payment, x, c_t, l).mean()

    # a menu of a few hundred trades gains nothing from intra-op threads and loses several-fold
    # to oversubscription on a busy machine
    with cpu_threads(1, device):
        history = gradient_ascent(
            model, objective, lr=p.lr, lr_final=p.lr_final, max_iter=p.max_iter, generator=gen,
            log_every=p.log_every, project=model.project_, callback=callback, resume=resume,
            hint=f"lower lr (now {p.lr}) or raise temperature (now {p.temperature})")
        eval_gen = make_generator(seed + 1, device)
        value = evaluate_menu(model, c_arr, l, dist, n_samples=p.eval_samples, generator=eval_gen)
    if not np.isfinite(value):
        raise DivergenceError(f"profit: the evaluated profit is {value}.")
    return MenuResult(value, model, model.to_menu(), p.max_iter, history_tuple(history), p)
