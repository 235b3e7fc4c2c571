"""The parameterised menu: one network maps the setting ``(c, l)`` to a menu (Curry et al. 2024, Sec. 5).

Instead of one RochetNet per setting, an MLP (the paper's has hidden layers ``(32, 32)``) reads the
MM's prior values ``c`` and the adverse selection ``l`` and writes a whole menu: ``menu_size``
trades in ``[-1, 1]^m`` (clipped, so that the corner trades of the optimal menus are reached
exactly) and their payments, the latter as the MM's prior value ``(1 - l) <c, a>`` of the trade plus
a learned margin. Trained over settings sampled in a box, it gives the optimal menu's sweep over
``c`` and ``l`` from one training run.

Training (:func:`train_param_menu`) samples ``settings`` values of ``(c, l)`` per step (scrambled
Sobol points in the box ``[c_low, c_high]^m x [l_low, l_high]``; with ``same_c`` one ``c`` for all
goods, the diagonal the paper sweeps), evaluates each setting's menu on the same ``batch_size``
trader values with the softmax-relaxed choice at ``temperature`` and ascends the mean profit. The
network starts as a constant menu: the output layer's weights are zero and its bias is a RochetNet
menu trained (``warm_start_iter`` steps) at the box's centre, so every trade is deformed
continuously from a good menu instead of learned from noise (a cold start reached 75-97% of the
closed form; MEASUREMENTS.md).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from econcs.amm._market import check_goods_cost, check_selection
from econcs.amm._menunet import train_menu
from econcs.amm._reference import Menu
from econcs.amm._values import TraderValues, make_values
from econcs.shared import (
    Callback,
    Params,
    check_int,
    cpu_threads,
    history_tuple,
    make_generator,
    param,
    resolve_device,
    resolve_params,
)
from econcs.shared.ascent import gradient_ascent
from econcs.shared.menus import softmax_temperature
from econcs.shared.run_context import atomic_torch_save

__all__ = ["ParamMenuNet", "ParamMenuParams", "ParamMenuResult", "evaluate_param_menu",
           "load_param_menu", "save_param_menu", "train_param_menu"]


@dataclasses.dataclass(frozen=True)
class ParamMenuParams(Params):
    """Training parameters of :func:`train_param_menu` (the box of settings, the network, Adam)."""

    menu_size: int = param(16, "trades on each menu (the opt-out comes on top)", low=1)
    hidden: tuple[int, ...] = param((32, 32), "hidden layer widths of the MLP (c, l) -> menu",
                                    low=1)
    c_low: float = param(0.2, "lowest prior value c sampled (each good)", low=0.0, high=1.0)
    c_high: float = param(0.8, "highest prior value c sampled", low=0.0, high=1.0)
    same_c: bool = param(True, "one c for all goods (the diagonal c = (t, ..., t))")
    l_low: float = param(0.0, "lowest adverse selection l sampled", low=0.0, high=1.0)
    l_high: float = param(0.6, "highest adverse selection l sampled (above the paper's 0.5: a "
                          "network is least accurate at its box's edge)", low=0.0, high=1.0)
    settings: int = param(16, "settings (c, l) per step", low=1)
    batch_size: int = param(512, "trader values per step (shared by the settings)", low=1)
    max_iter: int = param(2000, "Adam steps", low=1)
    lr: float = param(3e-3, "Adam learning rate", low=0.0, low_inclusive=False)
    lr_final: float = param(3e-4, "learning rate at the last step (geometric decay)",
                            low=0.0, low_inclusive=False)
    temperature: float = param(0.003, "softmax temperature of the trader's choice in training",
                               low=0.0, low_inclusive=False)
    balance: bool = param(True, "weigh each setting's profit by 1/max((1 - l)^2, 0.01): the "
                          "optimal profit scales about as (1 - l)^2, so every l gets a say")
    warm_start_iter: int = param(400, "RochetNet steps at the box's centre for the initial menu "
                                 "(0: a random constant menu)", low=0)
    log_every: int = param(100, "steps between history records", low=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.c_low > self.c_high:
            raise ValueError(f"c_low, c_high: expected c_low <= c_high, got {self.c_low} > "
                             f"{self.c_high}.")
        if self.l_low > self.l_high:
            raise ValueError(f"l_low, l_high: expected l_low <= l_high, got {self.l_low} > "
                             f"{self.l_high}.")


class ParamMenuNet(nn.Module):
    """An MLP from settings ``(c, l)`` to menus of trades.

    Parameters
    ----------
    n_goods, menu_size, hidden
        as in :class:`ParamMenuParams`.
    generator
        initialisation randomness (hidden layers: PyTorch's default; output layer: zero weights,
        the bias a random menu until :meth:`set_menu_`).

    Notes
    -----
    ``forward(c (S, m), l (S,)) -> (allocations (S, menu_size, m), payments (S, menu_size))``.

    Examples
    --------
    >>> net = ParamMenuNet(2, 8)
    >>> alloc, pay = net(torch.tensor([[0.5, 0.5], [0.3, 0.3]]), torch.tensor([0.0, 0.5]))
    >>> tuple(alloc.shape), tuple(pay.shape)
    ((2, 8, 2), (2, 8))
    >>> len(net.menu([0.5, 0.5], 0.0))  # one setting's menu as numpy arrays
    8
    """

    def __init__(self, n_goods: int, menu_size: int = 16, hidden: tuple[int, ...] = (32, 32), *,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.n_goods = check_int(n_goods, "n_goods", low=1)
        self.menu_size = check_int(menu_size, "menu_size", low=1)
        self.hidden = tuple(check_int(h, "hidden", low=1) for h in hidden)
        layers: list[nn.Module] = []
        width = n_goods + 1
        for h in self.hidden:
            lin = nn.Linear(width, h, dtype=dtype)
            if generator is not None:
                bound = 1.0 / width**0.5
                with torch.no_grad():
                    lin.weight.copy_(torch.rand(lin.weight.shape, generator=generator,
                                                dtype=dtype) * 2 * bound - bound)
                    lin.bias.copy_(torch.rand(lin.bias.shape, generator=generator,
                                              dtype=dtype) * 2 * bound - bound)
            layers += [lin, nn.Tanh()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, menu_size * (n_goods + 1), dtype=dtype)
        with torch.no_grad():
            self.head.weight.zero_()
            alloc = torch.rand(menu_size, n_goods, generator=generator, dtype=dtype) * 2 - 1
            self.set_menu_(alloc, alloc.abs().sum(1) * 0.25)

    def set_menu_(self, allocations: torch.Tensor, margins: torch.Tensor) -> None:
        """Make the output layer's bias the menu ``allocations (K, m)`` with payments
        ``(1 - l) <c, a> + margins (K,)``."""
        with torch.no_grad():
            k, m = self.menu_size, self.n_goods
            self.head.bias[: k * m].copy_(allocations.reshape(-1))
            self.head.bias[k * m:].copy_(margins.reshape(-1))

    def forward(self, c: torch.Tensor, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = c.shape[0]
        k, m = self.menu_size, self.n_goods
        z = torch.cat([c * 2 - 1, l[:, None] * 2 - 1], 1)  # inputs centred on [-1, 1]
        out = self.head(self.body(z))
        alloc = out[:, : k * m].reshape(s, k, m).clamp(-1.0, 1.0)
        pay = (1 - l)[:, None] * (alloc * c[:, None, :]).sum(-1) + out[:, k * m:]
        return alloc, pay

    def menu(self, c: Any, l: float) -> Menu:
        """The menu at one setting as a :class:`~econcs.amm.Menu` (float64 numpy)."""
        c_arr = check_goods_cost(c, self.n_goods)
        l = check_selection(l)
        p = self.head.weight
        with torch.no_grad():
            alloc, pay = self(torch.as_tensor(c_arr, dtype=p.dtype, device=p.device)[None],
                              torch.tensor([l], dtype=p.dtype, device=p.device))
        return Menu(alloc[0].double().cpu().numpy(), pay[0].double().cpu().numpy())


def _menu_profit(alloc: torch.Tensor, pay: torch.Tensor, x: torch.Tensor, c: torch.Tensor,
                 l: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """``(S,)`` mean profit of each setting's menu (``alloc (S, K, m)``, ``pay (S, K)``) on the
    values ``x (B, m)``; the trader's choice a softmax at ``temperature`` or (``None``) argmax."""
    util = torch.einsum("skm,bm->sbk", alloc, x) - pay[:, None, :]
    util = torch.cat([util, util.new_zeros(*util.shape[:2], 1)], 2)  # the opt-out
    if temperature is None:
        w = nn.functional.one_hot(util.argmax(2), util.shape[2]).to(x.dtype)
    else:
        w = softmax_temperature(util, temperature, dim=2)
    zero = alloc.new_zeros(alloc.shape[0], 1, alloc.shape[2])
    a = torch.einsum("sbk,skm->sbm", w, torch.cat([alloc, zero], 1))
    p = torch.einsum("sbk,sk->sb", w, torch.cat([pay, pay.new_zeros(pay.shape[0], 1)], 1))
    mm = (1 - l)[:, None, None] * c[:, None, :] + l[:, None, None] * x[None]
    return (p - (mm * a).sum(-1)).mean(1)


@dataclasses.dataclass(frozen=True, eq=False)
class ParamMenuResult:
    """What :func:`train_param_menu` returns.

    Attributes
    ----------
    model : ParamMenuNet
        The trained network (on the training device); ``model.menu(c, l)`` is one setting's menu.
    warm_start_profit : float
        Argmax profit of the warm-start RochetNet at the box's centre (``nan`` without one).
    iterations : int
        Adam steps done.
    history : tuple of dict
        ``{"step", "train_profit"}`` every ``log_every`` steps (the softmax-relaxed profit over
        the step's settings, weighted as ``balance`` says).
    params : ParamMenuParams
    """

    model: ParamMenuNet
    warm_start_profit: float
    iterations: int
    history: tuple[dict[str, Any], ...]
    params: ParamMenuParams


def _sample_settings(p: ParamMenuParams, m: int, gen: torch.Generator, device: torch.device,
                     dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    dims = (1 if p.same_c else m) + 1
    u = torch.quasirandom.SobolEngine(dims, scramble=True, seed=seed).draw(p.settings,
                                                                           dtype=torch.float64)
    c = p.c_low + (p.c_high - p.c_low) * u[:, :-1]
    c = c.expand(-1, m) if p.same_c else c
    l = p.l_low + (p.l_high - p.l_low) * u[:, -1]
    return c.to(device=device, dtype=dtype), l.to(device=device, dtype=dtype)


def _values_batch(dist: TraderValues, n: int, gen: torch.Generator, device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    u = torch.quasirandom.SobolEngine(dist.n_goods, scramble=True, seed=seed).draw(
        n, dtype=torch.float64)
    return dist.transform(u).to(device=device, dtype=dtype)


def _warm_start(model: ParamMenuNet, p: ParamMenuParams, dist: TraderValues, seed: int,
                dtype: torch.dtype) -> float:
    """Train a RochetNet at the box's centre and make it the network's constant initial menu."""
    m = model.n_goods
    c_mid = [(p.c_low + p.c_high) / 2] * m
    l_mid = (p.l_low + p.l_high) / 2
    res = train_menu(c_mid, l_mid, dist, seed=seed, menu_size=p.menu_size,
                     max_iter=p.warm_start_iter, batch_size=p.batch_size, lr=1e-2, lr_final=1e-3,
                     temperature=p.temperature, eval_samples=50_000, dtype=dtype)
    alloc = torch.tensor(res.menu.allocations, dtype=dtype)
    pay = torch.tensor(res.menu.payments, dtype=dtype)
    c_t = torch.tensor(c_mid, dtype=dtype)
    model.set_menu_(alloc, pay - (1 - l_mid) * (alloc * c_t).sum(1))
    return res.profit


def train_param_menu(
    n_goods: int,
    values: str | TraderValues = "uniform(0,1)",
    params: ParamMenuParams | None = None,
    /,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype = torch.float32,
    callback: Callback | None = None,
    resume: tuple[int, dict[str, Any]] | None = None,
    **overrides: Any,
) -> ParamMenuResult:
    """Train one network ``(c, l) -> menu`` over the box of settings in ``params``.

    Parameters
    ----------
    n_goods
        number of goods ``m``.
    values
        the trader's value distribution (:func:`econcs.amm.make_values` spec).
    params, **overrides
        :class:`ParamMenuParams`.
    seed, generator
        randomness of the network, the warm start and the sampled settings and values.
    callback
        ``callback(step, {"train_profit": ...}, state_fn)`` after each step.
    resume
        ``(step, state)`` from a ``state_fn()``: continue exactly where it stopped.
    """
    p = resolve_params(ParamMenuParams, params, **overrides)
    m = check_int(n_goods, "n_goods", low=1)
    dist = make_values(values, m)
    device = resolve_device(device)
    gen = make_generator(seed, device) if generator is None else generator
    model = ParamMenuNet(m, p.menu_size, p.hidden, generator=make_generator(seed), dtype=dtype)
    warm = float("nan")
    with cpu_threads(1, device):
        if resume is None and p.warm_start_iter > 0:
            warm = _warm_start(model, p, dist, seed, dtype)
        model = model.to(device)
        if resume is not None:
            warm = float(resume[1]["warm"])

        def objective(step: int) -> torch.Tensor:
            c, l = _sample_settings(p, m, gen, device, dtype)
            x = _values_batch(dist, p.batch_size, gen, device, dtype)
            alloc, pay = model(c, l)
            per_setting = _menu_profit(alloc, pay, x, c, l, p.temperature)
            weight = 1 / ((1 - l) ** 2).clamp_min(0.01) if p.balance else torch.ones_like(l)
            return (per_setting * weight).sum() / weight.sum()

        history = gradient_ascent(
            model, objective, lr=p.lr, lr_final=p.lr_final, max_iter=p.max_iter, generator=gen,
            log_every=p.log_every, callback=callback, resume=resume, extra={"warm": warm},
            hint=f"lower lr (now {p.lr})")
    return ParamMenuResult(model, warm, p.max_iter, history_tuple(history), p)


def evaluate_param_menu(
    model: ParamMenuNet,
    c: Any,
    l: float,
    values: str | TraderValues = "uniform(0,1)",
    *,
    n_samples: int = 200_000,
    seed: int = 0,
    chunk: int = 65_536,
) -> float:
    """Argmax (incentive-compatible) expected profit of the network's menu at ``(c, l)`` on
    ``n_samples`` fresh samples."""
    n_samples = check_int(n_samples, "n_samples", low=1)
    c_arr = check_goods_cost(c, model.n_goods)
    l = check_selection(l)
    dist = make_values(values, model.n_goods)
    w = model.head.weight
    gen = make_generator(seed, w.device)
    c_t = torch.as_tensor(c_arr, dtype=w.dtype, device=w.device)[None]
    l_t = torch.tensor([l], dtype=w.dtype, device=w.device)
    total = 0.0
    with torch.no_grad():
        alloc, pay = model(c_t, l_t)
        done = 0
        while done < n_samples:
            k = min(chunk, n_samples - done)
            x = dist.sample(k, generator=gen, device=w.device, dtype=w.dtype)
            total += float(_menu_profit(alloc, pay, x, c_t, l_t, None)[0]) * k
            done += k
    return total / n_samples


def save_param_menu(model: ParamMenuNet, path: str | Path) -> None:
    """Write the network atomically: its weights and its shape (``n_goods``, ``menu_size``,
    ``hidden``), read back by :func:`load_param_menu`."""
    meta = {"n_goods": model.n_goods, "menu_size": model.menu_size, "hidden": list(model.hidden)}
    atomic_torch_save({"meta": json.dumps(meta), "state": model.state_dict()}, path)


def load_param_menu(path: str | Path, device: torch.device | str | None = "cpu") -> ParamMenuNet:
    """Read a network written by :func:`save_param_menu` (``weights_only=True``)."""
    blob = torch.load(path, map_location=resolve_device(device), weights_only=True)
    if not isinstance(blob, dict) or "meta" not in blob or "state" not in blob:
        raise ValueError(f"path: {path} is not a parameterised menu written by save_param_menu.")
    meta = json.loads(blob["meta"])
    dtype = blob["state"]["head.weight"].dtype
    model = ParamMenuNet(meta["n_goods"], meta["menu_size"], tuple(meta["hidden"]), dtype=dtype)
    model.load_state_dict(blob["state"])
    return model.to(resolve_device(device))
