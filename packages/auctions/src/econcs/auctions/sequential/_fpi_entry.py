"""FPI with entry-fee menus, for many items (Ravindranath et al. 2024, arXiv 2407.08022, Sec. 4.3).

With ``m > 10`` items a price per bundle is out of reach (``2^m`` bundles) and so is a table of the
critic over ``n x 2^m`` states. The actor posts ``m`` item prices and one entry fee per state; an
additive bidder takes every unsold item of non-negative surplus and buys iff the total surplus
covers the fee (:func:`~econcs.auctions.sequential.choose_entry_fee`, by sorting).

- **Critic** ``V(i, S) = sigmoid(net) * sum_{j in S} h_j`` (bounded by the unsold items' largest
  values: unbounded, its bootstrapped targets ran away to 21.8 > 20 on 20x20 A), evaluated
  directly on next states (a target copy, refreshed every ``refresh_every`` steps); targets
  ``E_v[pay + V(i + 1, S \\ T)]`` under the exact choice.
- **Actor**: the relaxed choice takes item ``j`` with weight ``sigmoid((v_j - p_j) / t)`` and buys
  with ``sigmoid((sum_j take_j (v_j - p_j) - fee) / t)``; the next state is the soft availability
  ``a_j (1 - buy take_j)``, and the objective ``E[pay + V(i + 1, soft next state)]`` is ascended
  through the critic's input (its weights held): analytic gradients through the known transition.

Prices are ``p_j = h_j (1/2 + actor_j)`` and ``fee = h * softplus(actor_fee)`` (``h`` the item
value bound): the start is the one-bidder monopoly price ``h_j / 2`` with a small fee.
Additive settings (A, B) only.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from econcs.auctions.sequential._fpi import (
    FPIParams,
    FPIResult,
    _ActorCritic,
    _random_states,
    _rollout_states,
    _start,
    _state_input,
)
from econcs.auctions.sequential._mechanism import choose_entry_fee
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import (
    Callback,
    check_type,
    history_tuple,
    resolve_device,
    resolve_params,
)

__all__ = ["EntryFeeFPIPolicy", "fpi_entry_fee"]


class EntryFeeFPIPolicy(_ActorCritic):
    """Entry-fee menus from an actor network, with its critic (:func:`fpi_entry_fee`).

    ``menus(i, available (B, m))`` -> ``(item prices (B, m), fee (B,))``; ``value(i, S)`` the
    critic's revenue-to-go ``(B,)``.
    """

    menu = "entry-fee"

    def __init__(self, setting: SequentialSetting, hidden: int = 256, layers: int = 3) -> None:
        super().__init__(setting)
        if setting.setting not in ("A", "B"):
            raise ValueError(f"setting: entry-fee FPI needs additive values (settings A, B), got "
                             f"setting={setting.setting!r}.")
        self._build(hidden, layers, setting.n_items + 1)
        self.register_buffer("high", setting.item_high.float())

    def reset_parameters(self, generator: torch.Generator) -> None:
        super().reset_parameters(generator)
        with torch.no_grad():
            self.actor[-1].bias[-1] = -3.0  # fee ~ 0.05 h

    def value(self, bidder: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """``(B,)`` revenue-to-go at ``(bidder (B,), available (B, m))`` (soft availability in
        ``[0, 1]`` allowed; differentiable); 0 past the last bidder or with nothing left."""
        n = self.setting.n_bidders
        out = self.critic(_state_input(bidder.clamp(max=n - 1), available, n)).squeeze(1)
        live = (bidder < n) & (available > 0).any(1)
        # bounded by the unsold items' top values: bootstrapped targets cannot run away
        bound = (available.to(self.high.dtype) * self.high).sum(1)
        return torch.where(live, torch.sigmoid(out) * bound, 0.0)

    def prices(self, bidder: torch.Tensor, available: torch.Tensor):
        """``((B, m) item prices, (B,) fee)``, differentiable in the actor."""
        out = self.actor(_state_input(bidder, available, self.setting.n_bidders))
        items = self.high * (0.5 + out[:, :-1])
        fee = torch.nn.functional.softplus(out[:, -1]) * float(self.high.mean())
        return items, fee

    def menus(self, bidder: int, available: torch.Tensor):
        b = torch.full((available.shape[0],), bidder, dtype=torch.long, device=available.device)
        return self.prices(b, available)


def _objectives(policy: EntryFeeFPIPolicy, target: EntryFeeFPIPolicy, bidder: torch.Tensor,
                avail: torch.Tensor, v: torch.Tensor, temperature: float):
    """Relaxed actor objective (differentiable in the actor) and exact targets ``(B,)`` at
    states ``(B,)`` with item draws ``v`` ``(B, D, m)``."""
    b, d, _ = v.shape
    items, fee = policy.prices(bidder, avail)
    a = avail.to(v.dtype).unsqueeze(1)  # (B, 1, m)
    surplus = v - items.unsqueeze(1)
    take = a * torch.sigmoid(surplus / temperature)
    buy = torch.sigmoid(((take * surplus).sum(-1) - fee.unsqueeze(1)) / temperature)  # (B, D)
    pay = buy * (fee.unsqueeze(1) + (take * items.unsqueeze(1)).sum(-1))
    soft_next = (a * (1 - buy.unsqueeze(-1) * take)).flatten(0, 1)
    nxt_bidder = (bidder + 1).repeat_interleave(d)
    cont = target.value(nxt_bidder, soft_next).view(b, d)
    relaxed = (pay + cont).mean()
    with torch.no_grad():
        rep = avail.repeat_interleave(d, 0)
        bought, hard_pay = choose_entry_fee(v.flatten(0, 1), rep, items.detach().repeat_interleave(
            d, 0), fee.detach().repeat_interleave(d), None)
        val = target.value(nxt_bidder, rep & ~bought)
        goal = (hard_pay + val).view(b, d).mean(1)
    return relaxed, goal


def fpi_entry_fee(setting: SequentialSetting, params: FPIParams | None = None, /, *,
                  seed: int = 0, generator: torch.Generator | None = None,
                  device: str | torch.device = "cpu", callback: Callback | None = None,
                  resume: tuple[int, dict[str, Any]] | None = None,
                  **overrides: Any) -> EntryFeeFPIPolicy:
    """Fitted policy iteration with entry-fee menus (any ``m``; additive settings A, B).

    Same parameters, callback and resume as :func:`~econcs.auctions.sequential.fpi`
    (``n_values`` item draws per state; ``refresh_every`` steps between copies of the critic
    used as target and as the continuation value). Returns an :class:`EntryFeeFPIPolicy` with
    ``history_`` and ``result_``.
    """
    check_type(setting, "setting", SequentialSetting)
    p = resolve_params(FPIParams, params, **overrides)
    dev = resolve_device(device)
    policy = EntryFeeFPIPolicy(setting, p.hidden, p.layers).to(dev)
    gen, opt_a, opt_c, history, start = _start(policy, p, seed, generator, dev, resume)
    if resume is None:
        for _ in range(p.warmup):  # policy evaluation by rollouts of the initial policy
            bidder, avail, to_go = _rollout_states(policy, max(1, p.n_rollouts // 8), gen)
            loss = ((policy.value(bidder, avail) - to_go) ** 2).mean()
            opt_c.zero_grad(set_to_none=True)
            loss.backward()
            opt_c.step()
    target = _frozen_copy(policy)
    if resume is not None:
        target.load_state_dict(resume[1]["target"])
    n, half = setting.n_bidders, p.n_states // 2
    for it in range(start, p.max_iter):
        if it % p.refresh_every == 0:
            target = _frozen_copy(policy)
        rb, ra, _ = _rollout_states(policy, max(1, half // n), gen)
        qb, qa = _random_states(setting, p.n_states - rb.numel(), gen, dev)
        bidder, avail = torch.cat([rb, qb]), torch.cat([ra, qa])
        v = setting.sample_bidder(bidder.numel() * p.n_values, generator=gen, device=dev)
        v = v.view(bidder.numel(), p.n_values, -1)
        relaxed, goal = _objectives(policy, target, bidder, avail, v, p.temperature)
        opt_a.zero_grad(set_to_none=True)
        (-relaxed).backward()
        opt_a.step()
        critic_loss = ((policy.value(bidder, avail) - goal) ** 2).mean()
        opt_c.zero_grad(set_to_none=True)
        critic_loss.backward()
        opt_c.step()
        relaxed, critic_loss = float(relaxed.detach()), float(critic_loss.detach())
        if not (math.isfinite(relaxed) and math.isfinite(critic_loss)):
            raise RuntimeError(f"FPI diverged at iteration {it + 1}: relaxed objective "
                               f"{relaxed}, critic loss {critic_loss}; lower lr_actor / lr_critic.")
        step = it + 1
        if step % p.log_every == 0 or step == p.max_iter:
            with torch.no_grad():
                _, _, to_go = _rollout_states(policy, p.n_log_eval, gen)
                first = torch.zeros(1, dtype=torch.long, device=dev)
                value = float(policy.value(first, torch.ones(1, setting.n_items, device=dev)))
            row = {"step": step, "revenue": float(to_go.view(p.n_log_eval, -1)[:, 0].mean()),
                   "relaxed": relaxed, "critic_loss": critic_loss, "value": value}
            history.append(row)
            if callback is not None:
                def state_fn(target: EntryFeeFPIPolicy = target) -> dict[str, Any]:
                    return {"policy": {k: v.clone() for k, v in policy.state_dict().items()},
                            "opt_actor": opt_a.state_dict(), "opt_critic": opt_c.state_dict(),
                            "history": list(history), "generator": gen.get_state(),
                            "target": {k: v.clone() for k, v in target.state_dict().items()}}
                callback(step, {k: v for k, v in row.items() if k != "step"}, state_fn)
    policy.eval()
    policy.history_ = history_tuple(history)
    policy.result_ = FPIResult(policy, policy.history_, p.max_iter)
    return policy


def _frozen_copy(policy: EntryFeeFPIPolicy) -> EntryFeeFPIPolicy:
    target = copy.deepcopy(policy)
    target.requires_grad_(False)
    return target
