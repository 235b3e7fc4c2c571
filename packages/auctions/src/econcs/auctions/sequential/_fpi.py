"""Fitted policy iteration (FPI): actor and critic networks over the auction MDP's states.

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 4.2. A state is ``(bidder i, unsold items S)``,
fed to both networks as the availability bits ``(m,)`` and the bidder's one-hot ``(n,)``; actor
and critic are MLPs (3 tanh layers of 256 in the paper).

- **Critic** ``V(i, S)``: the revenue-to-go. Policy evaluation starts from batched rollouts of the
  current policy (Monte-Carlo returns of every visited state), then fits model-based targets
  ``E_v[p_{o*} + V(i + 1, S \\ T_{o*})]``: the known transition applied to fresh value draws with
  the exact (argmax) choice, averaged over the draws.
- **Actor**: a price per bundle at every state (bundle menus, ``m <= 10``). Policy improvement
  ascends the offset-RochetNet objective (:mod:`~econcs.auctions.sequential._offset_rochetnet`) at
  a batch of states at once, ``E_v[sum_o softmax((v(o) - p_o) / temperature) (p_o + c_o)]`` with
  ``c_o = V(i + 1, S \\ T_o)`` from the critic (held fixed): analytic gradients, no REINFORCE.

The menu posted at a state is ``p_T = (max_T' c_T' - c_T) + E[v(T)] / 2 + scale * actor(i, S)_T``:
the opportunity cost of selling ``T`` (from the critic), half the bundle's mean value, and the
actor's correction (its last layer starts near 0). This is our parametrisation (the authors' actor
outputs prices directly): it starts where the exact DP starts (:func:`~econcs.auctions.sequential.dp`)
and needs far fewer steps. The menus depend on the report of nobody at the state, so the mechanism
stays DSIC and IR.

The states of a batch are half those visited by rollouts of the current policy (so the first
bidder's full set is always trained) and half random (bidder uniform, each item unsold with a
probability drawn uniformly), which the continuation values need. The critic's values of all
``n x 2^m`` states are tabulated every ``refresh_every`` steps (one batched forward pass): the
offsets and the targets' continuation values come from this table (a target network).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from econcs.auctions._regretnet import mlp
from econcs.auctions.sequential._mechanism import SequentialPolicy, state_index
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import (
    Callback,
    Params,
    check_type,
    history_tuple,
    make_generator,
    param,
    resolve_device,
    resolve_params,
)

__all__ = ["FPIParams", "FPIPolicy", "FPIResult", "fpi"]


@dataclasses.dataclass(frozen=True)
class FPIParams(Params):
    """Parameters of :func:`fpi` (networks, batches, optimisers)."""

    max_iter: int = param(1500, "iterations (one critic and one actor step each)", low=1)
    hidden: int = param(256, "width of the hidden layers (paper: 256)", low=1)
    layers: int = param(3, "tanh hidden layers of actor and critic (paper: 3)", low=1)
    n_states: int = param(256, "states per step (half from rollouts, half random)", low=2)
    n_values: int = param(64, "value draws per state and step", low=1)
    lr_actor: float = param(1e-3, "actor Adam learning rate", low=0.0, low_inclusive=False)
    lr_critic: float = param(1e-3, "critic Adam learning rate", low=0.0, low_inclusive=False)
    temperature: float = param(0.01, "softmax temperature of the relaxed choice", low=0.0,
                               low_inclusive=False)
    refresh_every: int = param(10, "iterations between recomputing the critic's table of "
                               "continuation values (a target network)", low=1)
    table_mix: float = param(1.0, "weight of the fresh critic in each refresh of the table "
                             "(1: a hard copy; < 1: an average that smooths the offsets)",
                             low=0.0, high=1.0, low_inclusive=False)
    warmup: int = param(200, "critic steps on Monte-Carlo rollout returns before training",
                        low=0)
    n_rollouts: int = param(4096, "episodes per warm-up step", low=1)
    log_every: int = param(50, "iterations between history rows (and callback calls)", low=1)
    n_log_eval: int = param(8192, "episodes for the revenue in each history row", low=1)


def _state_input(bidder: torch.Tensor, available: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, m + n)`` network input: availability bits then the bidder's one-hot."""
    onehot = torch.nn.functional.one_hot(bidder, n).to(torch.float32)
    return torch.cat([available.to(torch.float32), onehot], dim=1)


class _ActorCritic(SequentialPolicy):
    """An actor ``(m + n) -> n_out`` and a critic ``(m + n) -> 1``, tanh MLPs on the state's
    availability bits and bidder one-hot; their last layers start near 0. The base of
    :class:`FPIPolicy` and :class:`~econcs.auctions.sequential.EntryFeeFPIPolicy`."""

    def _build(self, hidden: int, layers: int, n_out: int) -> None:
        self.hidden, self.layers = int(hidden), int(layers)
        m_n = self.setting.n_items + self.setting.n_bidders
        self.actor = mlp(m_n, n_out, self.hidden, self.layers)
        self.critic = mlp(m_n, 1, self.hidden, self.layers)

    def hparams(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers}

    @classmethod
    def from_tensors(cls, setting, tensors, **hparams):
        return cls(setting, **hparams)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for net in (self.actor, self.critic):
            for mod in net:
                if isinstance(mod, nn.Linear):
                    nn.init.xavier_uniform_(mod.weight, generator=generator)
                    nn.init.zeros_(mod.bias)
            with torch.no_grad():
                net[-1].weight.mul_(0.01)  # corrections and values start near 0


def _start(policy: _ActorCritic, p: FPIParams, seed: int, generator: torch.Generator | None,
           dev: torch.device, resume: tuple[int, dict[str, Any]] | None):
    """The run's generator, initialised networks, the actor's and critic's Adam, the history and
    the first step: fresh, or restored from ``resume = (step, state)`` (both FPI variants)."""
    gen = make_generator(seed, dev) if generator is None else generator
    policy.reset_parameters(make_generator(seed) if generator is None else _cpu_fork(gen))
    opt_a = torch.optim.Adam(policy.actor.parameters(), lr=p.lr_actor)
    opt_c = torch.optim.Adam(policy.critic.parameters(), lr=p.lr_critic)
    if resume is None:
        return gen, opt_a, opt_c, [], 0
    start, state = resume
    policy.load_state_dict(state["policy"])
    opt_a.load_state_dict(state["opt_actor"])
    opt_c.load_state_dict(state["opt_critic"])
    gen.set_state(state["generator"])
    return gen, opt_a, opt_c, list(state["history"]), start


class FPIPolicy(_ActorCritic):
    """Bundle menus from an actor and a critic network (:func:`fpi`).

    ``actor(i, S)`` ``(B, 2^m)`` price corrections, ``critic(i, S)`` ``(B,)`` the revenue-to-go;
    ``table`` ``(n + 1, 2^m)`` buffer holds the critic at every state (``refresh()`` recomputes it;
    row ``n`` and the empty set are 0). Menus: see the module docstring.

    Parameters
    ----------
    setting
        a bundle-menu :class:`SequentialSetting` (``m <= 10``).
    hidden, layers
        the MLPs' width and depth (tanh).
    """

    menu = "bundle"

    def __init__(self, setting: SequentialSetting, hidden: int = 256, layers: int = 3) -> None:
        super().__init__(setting)
        if setting.menu != "bundle":
            raise ValueError(f"setting: FPI prices every bundle and needs menu='bundle', got "
                             f"menu={setting.menu!r}.")
        n, m, k = setting.n_bidders, setting.n_items, setting.n_bundles
        self._build(hidden, layers, k)
        self.scale = setting.value_bound / m  # one item's value scale
        self.register_buffer("table", torch.zeros(n + 1, k))
        self.register_buffer("base", 0.5 * _mean_bundle_values(setting))

    def value(self, bidder: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """``(B,)`` the critic's revenue-to-go of states ``(bidder (B,), available (B, m))``
        (differentiable; 0 past the last bidder or with nothing left)."""
        n = self.setting.n_bidders
        out = self.critic(_state_input(bidder.clamp(max=n - 1), available, n)).squeeze(1)
        live = (bidder < n) & available.any(1)
        return torch.where(live, out * self.scale * self.setting.n_items, 0.0)

    @torch.no_grad()
    def refresh(self, mix: float = 1.0) -> torch.Tensor:
        """Recompute ``table`` ``(n + 1, 2^m)`` from the critic (``mix < 1``: move it that far
        towards the critic, unless it is still all zero); returns it."""
        n, k = self.setting.n_bidders, self.setting.n_bundles
        dev = self.table.device
        bidder = torch.arange(n + 1, device=dev).repeat_interleave(k)
        states = torch.arange(k, device=dev).repeat(n + 1)
        avail = self.setting.bundles.to(dev)[states] > 0.5
        fresh = self.value(bidder, avail).view(n + 1, k)
        if mix < 1.0 and bool(self.table.any()):
            fresh = mix * fresh + (1.0 - mix) * self.table
        self.table.copy_(fresh)
        return self.table

    def prices(self, bidder: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """``(B, 2^m)`` bundle prices at states ``(bidder (B,), available (B, m))``,
        differentiable in the actor (offsets from ``table``); bundles outside ``S`` arbitrary."""
        s = self.setting
        k = s.n_bundles
        state = state_index(available)
        bundles = torch.arange(k, device=state.device)
        nxt = state.unsqueeze(1) & ~bundles.unsqueeze(0)  # (B, K) S \ T
        cont = self.table[(bidder + 1).unsqueeze(1), nxt]  # (B, K)
        inside = (bundles.unsqueeze(0) & ~state.unsqueeze(1)) == 0
        top = torch.where(inside, cont, -torch.inf).max(1, keepdim=True).values
        corr = self.actor(_state_input(bidder, available, s.n_bidders)) * self.scale
        return top - cont + self.base + corr

    def menus(self, bidder: int, available: torch.Tensor) -> torch.Tensor:
        b = torch.full((available.shape[0],), bidder, dtype=torch.long, device=available.device)
        return self.prices(b, available)


def _mean_bundle_values(s: SequentialSetting) -> torch.Tensor:
    """``(2^m,)`` each bundle's mean value to one bidder (item means, or 4096 draws for E, F)."""
    if not s.bundle_valued:
        return s.bundles @ (s.item_high.float() / 2)
    return s.sample_bidder(4096, generator=make_generator(0)).mean(0)


# -- one step's pieces ---------------------------------------------------------------------------
def _random_states(s: SequentialSetting, b: int, gen: torch.Generator, dev: torch.device):
    n, m = s.n_bidders, s.n_items
    bidder = torch.randint(0, n, (b,), generator=gen, device=dev)
    keep = torch.rand(b, 1, generator=gen, device=dev)
    avail = torch.rand(b, m, generator=gen, device=dev) < keep
    avail[:, 0] |= ~avail.any(1)  # at least one item left
    return bidder, avail


@torch.no_grad()
def _rollout_states(policy: FPIPolicy, episodes: int, gen: torch.Generator):
    """Visited states ``(bidder (E n,), available (E n, m))`` and their returns-to-go ``(E n,)``
    of ``episodes`` rollouts of ``policy`` (exact choices)."""
    s = policy.setting
    n, dev = s.n_bidders, policy.device
    values = s.sample(episodes, generator=gen, device=dev)
    avail = torch.ones(episodes, s.n_items, dtype=torch.bool, device=dev)
    states, pays = [], []
    for i in range(n):  # the MDP's steps
        states.append(avail)
        bought, pay = policy.respond(i, avail, values[:, i])
        pays.append(pay)
        avail = avail & ~bought
    pays_t = torch.stack(pays, 1)
    to_go = pays_t.flip(1).cumsum(1).flip(1)  # (E, n)
    bidder = torch.arange(n, device=dev).repeat(episodes)
    return bidder, torch.stack(states, 1).flatten(0, 1), to_go.flatten()


def _bundle_draws(s: SequentialSetting, b: int, d: int, gen: torch.Generator,
                  dev: torch.device) -> torch.Tensor:
    """``(b, d, 2^m)`` bundle values of ``d`` draws for each of ``b`` states."""
    v = s.sample_bidder(b * d, generator=gen, device=dev)
    return s.bundle_values(v).view(b, d, -1)


def _step_objectives(policy: FPIPolicy, bidder: torch.Tensor, avail: torch.Tensor,
                     bv: torch.Tensor, temperature: float):
    """Relaxed actor objective (scalar, differentiable in the actor) and the model-based critic
    targets ``(B,)`` (exact choice, no gradient) at states with draws ``bv`` ``(B, D, K)``."""
    s = policy.setting
    k = s.n_bundles
    state = state_index(avail)
    bundles = torch.arange(k, device=bv.device)
    ok = (((bundles.unsqueeze(0) & ~state.unsqueeze(1)) == 0)
          & s.offered.to(bv.device).unsqueeze(0))  # (B, K)
    nxt = state.unsqueeze(1) & ~bundles.unsqueeze(0)
    cont = policy.table[(bidder + 1).unsqueeze(1), nxt]  # (B, K), fixed
    prices = policy.prices(bidder, avail)
    prices = torch.where(bundles == 0, 0.0, prices)
    neg = torch.where(ok, 0.0, -torch.inf).unsqueeze(1)
    gain = (prices + cont).unsqueeze(1)
    w = torch.softmax((bv - prices.unsqueeze(1)) * (1.0 / temperature) + neg, dim=-1)
    relaxed = (w * gain).sum(-1).mean()
    with torch.no_grad():
        u = bv - prices.detach().unsqueeze(1) + neg
        best = u == u.max(-1, keepdim=True).values
        sizes = s.bundle_sizes.to(bv.device, bv.dtype)
        idx = torch.where(best, sizes, -1.0).argmax(-1)  # ties to the larger bundle
        target = gain.detach().expand_as(u).gather(-1, idx.unsqueeze(-1)).squeeze(-1).mean(1)
    return relaxed, target


@dataclasses.dataclass(frozen=True)
class FPIResult:
    """What :func:`fpi` returns: ``policy`` (an :class:`FPIPolicy`), ``history`` (one row per
    ``log_every`` iterations: ``revenue`` on ``n_log_eval`` fresh episodes, ``relaxed``,
    ``critic_loss``, ``value`` the critic's first state), ``iterations``."""

    policy: FPIPolicy
    history: tuple[dict[str, Any], ...]
    iterations: int


def fpi(setting: SequentialSetting, params: FPIParams | None = None, /, *, seed: int = 0,
        generator: torch.Generator | None = None, device: str | torch.device = "cpu",
        callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
        **overrides: Any) -> FPIPolicy:
    """Fitted policy iteration for bundle menus (``m <= 10``); see the module docstring.

    ``params`` / ``overrides``: :class:`FPIParams`. ``callback(step, metrics, state_fn)`` every
    ``log_every`` iterations (``state_fn()`` is a checkpoint: networks, optimisers, generator,
    history); ``resume=(step, state)`` continues from one. Returns the :class:`FPIPolicy` with
    ``history_`` and ``result_`` (an :class:`FPIResult`).

    >>> from econcs.auctions.sequential import evaluate_sequential
    >>> policy = fpi(SequentialSetting(1, 1, "A"), max_iter=100, warmup=20, hidden=32)
    >>> round(evaluate_sequential(policy, 100_000, seed=1).revenue, 2)  # optimum 1/4
    0.25
    """
    check_type(setting, "setting", SequentialSetting)
    p = resolve_params(FPIParams, params, **overrides)
    if setting.menu != "bundle":
        raise ValueError(f"setting: FPI prices every bundle and needs menu='bundle', got "
                         f"menu={setting.menu!r}.")
    dev = resolve_device(device)
    policy = FPIPolicy(setting, p.hidden, p.layers).to(dev)
    gen, opt_a, opt_c, history, start = _start(policy, p, seed, generator, dev, resume)
    if resume is None:
        _warmup(policy, opt_c, p, gen)
    half = p.n_states // 2
    n = setting.n_bidders
    for it in range(start, p.max_iter):
        if it % p.refresh_every == 0:  # the offsets: a target copy of the critic
            policy.refresh(p.table_mix)
        rb, ra, _ = _rollout_states(policy, max(1, half // n), gen)
        qb, qa = _random_states(setting, p.n_states - rb.numel(), gen, dev)
        bidder, avail = torch.cat([rb, qb]), torch.cat([ra, qa])
        bv = _bundle_draws(setting, bidder.numel(), p.n_values, gen, dev)
        relaxed, target = _step_objectives(policy, bidder, avail, bv, p.temperature)
        opt_a.zero_grad(set_to_none=True)
        (-relaxed).backward()
        opt_a.step()
        critic_loss = ((policy.value(bidder, avail) - target) ** 2).mean()
        opt_c.zero_grad(set_to_none=True)
        critic_loss.backward()
        opt_c.step()
        relaxed, critic_loss = relaxed.detach(), critic_loss.detach()
        if not (math.isfinite(float(relaxed)) and math.isfinite(float(critic_loss))):
            raise RuntimeError(f"FPI diverged at iteration {it + 1}: relaxed objective "
                               f"{float(relaxed)}, critic loss {float(critic_loss)}; lower "
                               "lr_actor / lr_critic.")
        step = it + 1
        if step % p.log_every == 0 or step == p.max_iter:
            row = _history_row(policy, p, gen, step, float(relaxed), float(critic_loss))
            history.append(row)
            if callback is not None:
                def state_fn() -> dict[str, Any]:
                    return {"policy": {k: v.clone() for k, v in policy.state_dict().items()},
                            "opt_actor": opt_a.state_dict(), "opt_critic": opt_c.state_dict(),
                            "history": list(history), "generator": gen.get_state()}
                callback(step, {k: v for k, v in row.items() if k != "step"}, state_fn)
    policy.refresh(p.table_mix)
    policy.eval()
    policy.history_ = history_tuple(history)
    policy.result_ = FPIResult(policy, policy.history_, p.max_iter)
    return policy


def _cpu_fork(gen: torch.Generator) -> torch.Generator:
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen, device=gen.device))
    return make_generator(seed)


def _warmup(policy: FPIPolicy, opt: torch.optim.Optimizer, p: FPIParams,
            gen: torch.Generator) -> None:
    """Policy evaluation by rollouts: fit the critic to the returns-to-go of the initial policy's
    visited states (and, through ``refresh``, its offsets with them)."""
    for it in range(p.warmup):
        if it % 10 == 0:
            policy.refresh(p.table_mix)
        bidder, avail, to_go = _rollout_states(policy, max(1, p.n_rollouts // 8), gen)
        loss = ((policy.value(bidder, avail) - to_go) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def _history_row(policy: FPIPolicy, p: FPIParams, gen: torch.Generator, step: int,
                 relaxed: float, critic_loss: float) -> dict[str, Any]:
    policy.refresh(p.table_mix)
    _, _, to_go = _rollout_states(policy, p.n_log_eval, gen)
    revenue = float(to_go.view(p.n_log_eval, -1)[:, 0].double().mean())
    return {"step": step, "revenue": revenue, "relaxed": relaxed, "critic_loss": critic_loss,
            "value": float(policy.table[0, -1])}
