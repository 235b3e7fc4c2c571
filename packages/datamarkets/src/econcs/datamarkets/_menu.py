"""A learned menu of experiments for one buyer (Ravindranath, Jiang, Parkes 2023, Sec. 4.1).

RochetNet-style (Dütting et al. 2019): the menu holds ``K`` experiments
``pi_k = softmax(logits_k / signal_temperature)`` (a softmax over signals for every state) with
prices ``p_k``, plus the free uninformative option (the buyer's outside option). A buyer of type
``(theta, v)`` values entry ``k`` at ``v (V(pi_k; theta) - max_a theta . U[a]) - p_k`` (best
response to every signal, :func:`econcs.datamarkets.experiment_value`) and takes the best entry, so
the mechanism is IC and IR by construction. Training maximises expected revenue under the soft-argmax
relaxation of the choice (:func:`econcs.shared.choose_from_menu` with ``temperature``); evaluation is
the hard argmax, which is exactly IC and IR.

Every ``prune_every`` steps the menu is tidied as in the paper: the signals of each entry are
relabelled by a Hungarian matching (:func:`scipy.optimize.linear_sum_assignment`) so that signal
``a`` recommends action ``a`` to the types that choose it (value-preserving: a permutation of signals
does not change any buyer's value), then duplicate entries (same experiment and price) and entries
chosen by less than ``prune_threshold`` of the types are switched off. The obedience violation of the
result, ``v (V - obedient value)`` at each type's choice, is reported by :meth:`ExperimentMenu.evaluate`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from econcs.datamarkets._market import DataMarket, experiment_value, obedience_gap, prior_value
from econcs.datamarkets._types import TypeGrid, check_types
from econcs.shared import (
    Callback,
    DivergenceError,
    Params,
    SolverError,
    check_int,
    check_type,
    choose_from_menu,
    make_generator,
    param,
    resolve_dtype,
    resolve_params,
    softmax_temperature,
    solve_lp,
)

__all__ = ["ExperimentMenu", "MenuEvaluation", "MenuParams"]


@dataclasses.dataclass(frozen=True)
class MenuParams(Params):
    """Training parameters of :class:`ExperimentMenu` (paper: 20k steps, batch 2^15, lr 1e-3)."""

    max_iter: int = param(2000, "Adam steps", low=1)
    batch_size: int = param(4096, "types sampled per step (unused when training on a grid)",
                            low=1)
    lr: float = param(5e-3, "Adam learning rate (cosine decay to lr / 20)", low=0.0,
                      low_inclusive=False)
    temperature: float = param(0.005, "soft-argmax temperature of the choice, times the value "
                               "scale", low=0.0, low_inclusive=False)
    temperature_final: float | None = param(None, "final choice temperature, reached "
                                            "geometrically (None: constant)", low=0.0,
                                            low_inclusive=False)
    signal_temperature: float = param(0.2, "temperature of the softmax over signals", low=0.0,
                                      low_inclusive=False)
    prune_every: int = param(500, "steps between relabelling and pruning (0: only at the end)",
                             low=0)
    prune_threshold: float = param(1e-3, "entries chosen by a smaller share of types are dropped",
                                   low=0.0, high=1.0)
    polish: bool = param(True, "on a grid, end with the exact best prices for the learned "
                         "experiments and choices (an LP)")


@dataclasses.dataclass(frozen=True)
class MenuEvaluation:
    """Hard-argmax evaluation of a menu on a type set.

    ``revenue`` (expected payment), ``ic_violation`` (largest gain of any type from another entry,
    0 for an argmax menu), ``ir_violation`` (largest loss against the outside option),
    ``obedience_violation`` (largest ``v (V - obedient value)`` at the chosen entries, after
    relabelling), ``n_entries`` (entries chosen by some type), ``sold`` (share of types that buy).
    """

    revenue: float
    ic_violation: float
    ir_violation: float
    obedience_violation: float
    n_entries: int
    sold: float


class ExperimentMenu(nn.Module):
    """A menu of ``menu_size`` experiments with prices for one buyer of a :class:`DataMarket`.

    Parameters
    ----------
    market
        the market (states, actions, payoff, type distribution).
    menu_size
        entries ``K`` besides the outside option (paper: 1000).
    device, dtype
        where and in which precision the menu lives (float32 by default).

    Attributes
    ----------
    logits : nn.Parameter, shape (K, n_states, n_actions)
    prices : nn.Parameter, shape (K,)
    active : buffer, shape (K,) bool: entries not pruned.
    history_ : tuple of ``{"step", "revenue", "n_active"}`` recorded by :meth:`fit`.

    >>> market = DataMarket(belief="uniform(0,1)")
    >>> menu = ExperimentMenu(market, menu_size=8).fit(max_iter=20, batch_size=256, seed=0)
    >>> menu.experiments.shape, menu.evaluate(market.grid(11)).ic_violation
    (torch.Size([8, 2, 2]), 0.0)
    """

    def __init__(self, market: DataMarket, menu_size: int = 256, *,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None) -> None:
        super().__init__()
        self.market = check_type(market, "market", DataMarket)
        self.menu_size = check_int(menu_size, "menu_size", low=1)
        self.device_ = torch.device(device)
        self.dtype_ = resolve_dtype(dtype)
        k, s, a = self.menu_size, market.n_states, market.n_actions
        self.logits = nn.Parameter(torch.zeros(k, s, a, device=self.device_, dtype=self.dtype_))
        self.prices = nn.Parameter(torch.zeros(k, device=self.device_, dtype=self.dtype_))
        self.register_buffer("active", torch.ones(k, dtype=torch.bool, device=self.device_))
        self.register_buffer("signal_temperature",
                             torch.tensor(0.2, dtype=self.dtype_, device=self.device_))
        self.register_buffer("payoff", market.payoff_tensor(self.device_, self.dtype_))
        self.history_: tuple[dict, ...] = ()

    # -- the menu ------------------------------------------------------------------------------

    @property
    def experiments(self) -> torch.Tensor:
        """``(K, n_states, n_actions)`` the entries' experiments (rows sum to 1)."""
        return torch.softmax(self.logits / self.signal_temperature, dim=-1)

    def surplus(self, beliefs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` value of each entry over the outside option, ``v (V - prior value)``;
        pruned entries get ``-inf``-like surplus so nobody picks them."""
        gain = experiment_value(beliefs, self.experiments, self.payoff)
        gain = values[:, None] * (gain - prior_value(beliefs, self.payoff)[:, None])
        return gain.masked_fill(~self.active, -1e30)

    def forward(self, beliefs: torch.Tensor, values: torch.Tensor,
                temperature: float | None = None):
        """The buyers' choices: :class:`econcs.shared.MenuChoice` with ``weights (B, K + 1)``,
        ``payment (B,)`` and ``utility (B,)`` over the outside option (hard argmax when
        ``temperature`` is None)."""
        gain = self.surplus(beliefs, values)
        ones = gain.new_ones(gain.shape[0], 1)
        return choose_from_menu(ones, gain.unsqueeze(-1), self.prices, temperature)

    def soft_revenue(self, beliefs: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                     temperature: float) -> torch.Tensor:
        """Expected payment under the soft-argmax choice (the training objective).

        The same choice as ``forward(beliefs, values, temperature)`` (outside option last), but
        only the payment: :func:`econcs.shared.choose_from_menu` also forms the allocation and
        utility of every buyer, a quarter of a training step's time at batch 4096 and 64 entries.
        """
        gain = self.surplus(beliefs, values)
        utils = torch.cat([gain - self.prices, gain.new_zeros(gain.shape[0], 1)], dim=1)
        choice = softmax_temperature(utils, temperature, dim=1)[:, :-1]
        return weights @ (choice @ self.prices)

    def menu(self) -> tuple[np.ndarray, np.ndarray]:
        """The active entries: experiments ``(K', S, A)`` and prices ``(K',)`` (numpy)."""
        with torch.no_grad():
            keep = self.active
            return (self.experiments[keep].double().cpu().numpy(),
                    self.prices[keep].double().cpu().numpy())

    # -- types ---------------------------------------------------------------------------------

    def _types(self, grid: TypeGrid | None, beliefs, values, weights):
        if grid is not None:
            check_type(grid, "grid", TypeGrid)
            beliefs, values, weights = grid.beliefs, grid.values, grid.weights
        if beliefs is None:
            raise TypeError("beliefs: expected a (T, n_states) array of beliefs or a grid.")
        b, v, w = check_types(beliefs, values, weights, self.market.n_states)
        t = lambda x: torch.as_tensor(np.array(x), dtype=self.dtype_, device=self.device_)  # noqa: E731
        return t(b), t(v), t(w)

    def value_scale(self, beliefs: torch.Tensor, values: torch.Tensor,
                    weights: torch.Tensor) -> float:
        """The expected value of full information over the outside option (a price scale)."""
        full = torch.eye(self.market.n_states, self.market.n_actions, dtype=beliefs.dtype,
                         device=beliefs.device)
        full = full / full.sum(-1, keepdim=True).clamp(min=1)
        gain = experiment_value(beliefs, full.unsqueeze(0), self.payoff)[:, 0]
        gain = values * (gain - prior_value(beliefs, self.payoff))
        return max(float((weights * gain).sum()), 1e-6)

    # -- pruning -------------------------------------------------------------------------------

    @torch.no_grad()
    def relabel(self, beliefs: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                optimizer: torch.optim.Optimizer | None = None) -> None:
        """Permute each entry's signals so that signal ``a`` recommends action ``a`` to the types
        that choose it (Hungarian matching on their obedient value; Adam moments follow)."""
        choice = self(beliefs, values).weights[:, :-1]  # (B, K)
        mass = choice * (weights * values)[:, None]
        unused = mass.sum(0) <= 0
        mass[:, unused] = (weights * values)[:, None]  # no chooser: match for all types
        post = mass.T @ beliefs  # (K, S): chooser-weighted belief
        # gain[k, s, a] = sum_omega post[k, omega] pi[k, omega, s] U[a, omega]
        gain = torch.einsum("kw,kws,aw->ksa", post, self.experiments, self.payoff)
        gain = gain.double().cpu().numpy()
        perms = np.empty(gain.shape[:2], dtype=np.int64)
        for k in range(gain.shape[0]):  # at pruning time only, K small assignments
            sig, act = linear_sum_assignment(gain[k], maximize=True)
            perms[k, act] = sig  # new signal a is old signal perms[k, a]
        idx = torch.as_tensor(perms, device=self.device_)[:, None, :].expand_as(self.logits)
        self.logits.copy_(self.logits.gather(2, idx))
        if optimizer is not None:
            for key, val in optimizer.state.get(self.logits, {}).items():
                if torch.is_tensor(val) and val.shape == self.logits.shape:
                    optimizer.state[self.logits][key] = val.gather(2, idx)

    @torch.no_grad()
    def prune(self, beliefs: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
              threshold: float, scale: float) -> None:
        """Switch off duplicates (experiments within 1e-3, prices within 1e-4 * scale) and entries
        chosen by less than ``threshold`` of the types (kept: at least one entry)."""
        exp = self.experiments.reshape(self.menu_size, -1)
        act = self.active.clone()
        dist = torch.cdist(exp, exp, p=math.inf)
        dprice = (self.prices[:, None] - self.prices[None, :]).abs()
        dup = (dist < 1e-3) & (dprice < 1e-4 * scale) & act[:, None] & act[None, :]
        dup = torch.triu(dup, diagonal=1).any(dim=0)  # j duplicates an earlier k
        act &= ~dup
        self.active.copy_(act)
        share = (self(beliefs, values).weights[:, :-1] * weights[:, None]).sum(0)
        keep = act & (share >= threshold)
        if bool(keep.any()):
            self.active.copy_(keep)

    # -- training ------------------------------------------------------------------------------

    def fit(self, params: MenuParams | None = None, /, *, grid: TypeGrid | None = None,
            seed: int = 0, generator: torch.Generator | None = None,
            callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
            **overrides: Any) -> ExperimentMenu:
        """Maximise expected revenue by Adam on the soft-argmax relaxation.

        Types are ``batch_size`` fresh draws from the market per step, or, with ``grid``, the
        whole grid with its weights (exact expected revenue). ``generator`` (default seeded by
        ``seed``) initialises the menu and seeds the type draws; ``resume=(step, state)``
        continues from ``state_fn()`` of the callback. Returns ``self``.
        """
        p = resolve_params(MenuParams, params, **overrides)
        gen = make_generator(seed, "cpu") if generator is None else generator
        check_type(gen, "generator", torch.Generator)
        if grid is not None:
            fixed = self._types(grid, None, None, None)
        self.signal_temperature.fill_(p.signal_temperature)
        opt = torch.optim.Adam([self.logits, self.prices], lr=p.lr)
        data_gen = make_generator(0, self.device_)
        start = 0
        history: list[dict] = []
        if resume is None:
            probe = fixed if grid is not None else self._sample(4096, gen)
            scale = self.value_scale(*probe)
            with torch.no_grad():
                self.logits.copy_(torch.randn(self.logits.shape, generator=gen).to(self.logits))
                self.prices.copy_((torch.rand(self.menu_size, generator=gen) * 2 * scale)
                                  .to(self.prices))
                self.active.fill_(True)
            data_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        else:
            start, state = resume
            self.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            data_gen.set_state(state["data_rng"].cpu())
            history = list(state["history"])
            scale = float(state["scale"])

        def state_fn() -> dict[str, Any]:
            return {"model": self.state_dict(), "optimizer": opt.state_dict(),
                    "data_rng": data_gen.get_state(), "history": list(history), "scale": scale}

        tau0 = p.temperature * scale / 0.25  # the paper's 0.005 is for gains of scale ~1/4
        ratio = 1.0 if p.temperature_final is None else p.temperature_final / p.temperature
        for step in range(start + 1, p.max_iter + 1):
            tau = tau0 * ratio ** ((step - 1) / max(p.max_iter - 1, 1))
            types = fixed if grid is not None else self._sample(p.batch_size, data_gen)
            cos = 0.5 * (1 + math.cos(math.pi * (step - 1) / p.max_iter))
            for group in opt.param_groups:
                group["lr"] = p.lr * (0.05 + 0.95 * cos)
            revenue = self.soft_revenue(*types, tau)
            if not bool(torch.isfinite(revenue)):
                raise DivergenceError(f"ExperimentMenu.fit: revenue is {float(revenue.detach())} at step "
                                      f"{step}; lower lr.")
            opt.zero_grad(set_to_none=True)
            (-revenue).backward()
            opt.step()
            if (p.prune_every and step % p.prune_every == 0) or step == p.max_iter:
                self.relabel(*types, optimizer=opt)
                self.prune(*types, threshold=p.prune_threshold, scale=scale)
            if step % 100 == 0 or step == p.max_iter:
                history.append({"step": step, "revenue": float(revenue.detach()),
                                "n_active": int(self.active.sum())})
            if callback is not None:
                callback(step, {"revenue": float(revenue.detach())}, state_fn)
        if grid is not None and p.polish:
            self.polish_prices(*fixed, scale=scale)
            history.append({"step": p.max_iter, "revenue": self.evaluate(grid).revenue,
                            "n_active": int(self.active.sum()), "polished": True})
        self.history_ = tuple(history)
        return self

    @torch.no_grad()
    def polish_prices(self, beliefs: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                      *, scale: float = 1.0) -> None:
        """Re-price the menu exactly for a finite type set, keeping the experiments and every
        type's choice: ``max sum_t w_t p_{k(t)}`` subject to each type (weakly, by a margin of
        ``1e-6 * scale``) preferring its entry to every other and to the outside option. An LP in
        the prices on HiGHS; the current prices are feasible, so revenue cannot fall. Entries no
        type chooses are switched off. Keeps the prices when the margin makes the LP infeasible.
        """
        gain = self.surplus(beliefs, values).double().cpu().numpy()
        chosen = self(beliefs, values).weights.argmax(dim=1).cpu().numpy()
        w = weights.double().cpu().numpy()
        used = np.unique(chosen[chosen < self.menu_size])
        if used.size == 0:
            return
        col = {int(k): i for i, k in enumerate(used)}
        n, t = used.size, gain.shape[0]
        eps = 1e-6 * scale
        rows, rhs = [], []
        for_null = chosen >= self.menu_size
        # every type against every used entry j: s_t,k - p_k >= s_t,j - p_j + eps (j != k)
        g = gain[:, used]  # (T, n)
        mine = np.array([col.get(int(k), -1) for k in chosen])
        a = np.zeros((t, n, n))
        a[:, np.arange(n), np.arange(n)] = 1.0  # + p_j
        buyers = ~for_null
        a[buyers, :, mine[buyers]] -= 1.0  # - p_k
        b = g - (np.where(buyers, g[np.arange(t), mine.clip(0)], 0.0))[:, None] + eps
        keep = ~(buyers[:, None] & (np.arange(n)[None, :] == mine[:, None]))
        rows.append(a[keep])
        rhs.append(b[keep])
        # IR of buyers: p_k <= s_t,k - eps
        ir = np.zeros((int(buyers.sum()), n))
        ir[np.arange(ir.shape[0]), mine[buyers]] = 1.0
        rows.append(-ir)
        rhs.append(-(g[buyers, mine[buyers]] - eps))
        cost = np.bincount(mine[buyers], weights=w[buyers], minlength=n)
        try:
            res = solve_lp(cost, A_lb=np.concatenate(rows), b_lb=np.concatenate(rhs),
                           bounds=(None, None), maximize=True)
        except SolverError:
            return
        self.prices[torch.as_tensor(used, device=self.device_)] = torch.tensor(
            np.array(res.x), dtype=self.dtype_, device=self.device_)
        mask = torch.zeros_like(self.active)
        mask[torch.as_tensor(used, device=self.device_)] = True
        self.active &= mask

    def _sample(self, n: int, gen: torch.Generator):
        theta, v = self.market.sample(n, generator=gen, device=gen.device, dtype=self.dtype_)
        w = torch.full((n,), 1.0 / n, dtype=self.dtype_, device=theta.device)
        return theta.to(self.device_), v.to(self.device_), w.to(self.device_)

    # -- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, grid: TypeGrid | None = None, *, beliefs=None, values=None, weights=None,
                 ) -> MenuEvaluation:
        """Revenue, IC / IR / obedience violations of the hard-argmax menu on a type set
        (``grid``, or ``beliefs (T, S)`` with optional ``values (T,)`` and ``weights (T,)``)."""
        b, v, w = self._types(grid, beliefs, values, weights)
        gain = self.surplus(b, v)
        choice = self(b, v)
        chosen = choice.weights.argmax(dim=1)  # (T,), K is the outside option
        util = torch.cat([gain - self.prices, gain.new_zeros(gain.shape[0], 1)], dim=1)
        ic = float((util.max(dim=1).values - util.gather(1, chosen[:, None])[:, 0]).max())
        ir = float((-choice.utility).clamp(min=0).max())
        bought = chosen < self.menu_size
        obed = torch.zeros_like(v)
        if bool(bought.any()):
            pis = self.experiments[chosen[bought]]  # (T', S, A)
            gap = obedience_gap(b[bought], pis.unsqueeze(1), self.payoff)  # (T', 1)
            obed[bought] = v[bought] * gap[:, 0]
        return MenuEvaluation(
            revenue=float((choice.payment * w).sum()), ic_violation=max(ic, 0.0),
            ir_violation=ir, obedience_violation=float(obed.max()),
            n_entries=int(chosen[bought].unique().numel()), sold=float(w[bought].sum()),
        )
