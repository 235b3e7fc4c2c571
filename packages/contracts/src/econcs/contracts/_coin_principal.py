"""A principal paying agents to cooperate in the Coin Game, and the baselines it is compared with.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074), Section 5 (multi-agent extension). The principal maximises ``(1/alpha) * welfare -
payments`` (``alpha = 0.1``): at each step it recommends an action ``a_i`` to every agent and pays
agent ``i`` for following it the minimal amount that makes following a best response,
``max_a Qbar_i(s, a) - Qbar_i(s, a_i)``, plus the nudging margin ``xi`` when the recommendation is
not already the agent's favourite. Its value is decomposed over agents (VDN, Sunehag et al. 2018):
``G(s, a) = sum_i G_i(o_i, a_i)`` is the gross value of the joint action (welfare now plus the
principal's continuation value), and the recommendation maximises ``sum_i G_i - alpha * pay_i``
agent by agent. With ``principal_value="joint"`` the principal instead learns ``G(s, a_1, a_2)``
over the 16 joint actions (the two agents' egocentric views, each the whole state, averaged)
and maximises ``G - alpha * (pay_1 + pay_2)`` jointly: exact for a centralised controller, but
slower to learn at short budgets. Agents are DQN learners of ``Qbar_i`` (their value excluding
this step's payment) that best-respond to the principal's policy.

With ``n_heads > 1`` (the experiment's default; the trainer's default ``n_heads=1`` is the
paper's single network) the principal's values are a bootstrapped ensemble (Osband et al. 2016:
heads on one trunk, each trained on a random half of every minibatch) and its recommendation to
agent ``i`` defaults to the agent's favourite action; another action is recommended only where the
pessimistic gain ``mean - confidence * std`` over heads of ``G_i(a) - G_i(favourite)`` beats the
cost ``alpha * pay_i(a)``. The principal's targets bootstrap through this recommendation, i.e.
they evaluate the policy actually executed. A single network that recommends
``argmax_a G_i(a) - alpha * pay_i(a)`` (``n_heads=1``, the paper's rule) overrode the favourite
where its noisy estimate of a ~0.01-welfare gain happened to be high, and lost welfare to
selfish play (MEASUREMENTS.md).

Options (off by default: no gain measured on 3x3, see MEASUREMENTS.md): Double DQN targets
(van Hasselt et al. 2016: the online networks choose the next recommendation or the agent's next
favourite, the target networks value it), a linear learning-rate decay from ``lr`` to
``lr_final``, evaluation of Polyak-averaged networks, and the time limit as a truncation
(Pardo et al. 2018) rather than the end of the return.

Baselines with the same learners: ``selfish`` (own reward), ``cooperative`` (both agents maximise
welfare) and ``constant`` (Christoffersen et al. 2023 style constant-proportion transfers: each
agent also receives ``beta * welfare``, with ``beta`` set so that the budget equals the
principal's).

Both agents share one Q-network (egocentric observations make the game symmetric), and the
principal's ``G_i`` share one network; networks are ``Conv(4 -> 32, kernel min(4, size)) + 2 x
FC(64)`` as in the paper. With ``centered=True`` (the default) every network sees
the grid rolled on the torus so that the observing agent sits at the centre: the game is
translation invariant, and the conv net then learns one pattern per offset of coin and other
agent instead of one per absolute position (far better on 7x7, see MEASUREMENTS.md).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Literal

import torch
from torch import nn

from econcs.contracts._coin_game import (
    coin_game_observe,
    coin_game_reset,
    coin_game_step,
    reset_finished,
)
from econcs.contracts._networks import _ConvQEnsemble, _ConvQNet
from econcs.contracts._training import RENAMES, SteppedTrainer, generators
from econcs.shared import Params, apply_renames, history_tuple, param, resolve_params
from econcs.shared.device import cpu_threads, resolve_device
from econcs.shared.validation import check_choice, check_int

__all__ = ["CoinGameParams", "CoinGameResult", "CoinGameTrainer", "CoinGameTrainingResult"]

MODES = ("principal", "selfish", "cooperative", "constant")



@dataclasses.dataclass(frozen=True)
class CoinGameResult:
    """Greedy evaluation over ``episodes`` episodes (per-episode means).

    Attributes
    ----------
    welfare
        sum of both agents' rewards (without payments).
    payments
        total payments (principal: to followers; constant: ``2 beta welfare``).
    payment_share
        ``payments / welfare``.
    own_coin_rate
        share of collected coins taken by their owner.
    follow_rate
        share of agent steps that followed the recommendation (principal mode).
    episodes
        number of evaluation episodes.
    welfare_se
        standard error of ``welfare`` (sample standard deviation of the episodes' welfare over
        ``sqrt(episodes)``).
    episode_welfare
        (episodes,) welfare of each episode; with the same evaluation generator every learner
        plays the same start states and coin sequence, so differences can be paired.
    """

    welfare: float
    payments: float
    payment_share: float
    own_coin_rate: float
    follow_rate: float
    episodes: int
    welfare_se: float = 0.0
    episode_welfare: tuple[float, ...] = dataclasses.field(default=(), repr=False)


@dataclasses.dataclass(frozen=True)
class CoinGameParams(Params):
    """Training parameters of :class:`CoinGameTrainer` (Ivanov et al. 2024, Sec. 5). The defaults
    are the paper's learner (one principal network, ``n_heads=1``); the ``contracts.coin-game``
    experiment sets its own (an ensemble of 5 heads, batch 512)."""

    max_iter: int = param(5000, "iterations (each: one step of n_envs games, one gradient step "
                          "per network)", low=1)
    n_envs: int = param(32, "parallel games", low=1)
    batch_size: int = param(128, "replay minibatch size", low=1)
    lr: float = param(5e-4, "Adam learning rate (initial)", low=0.0, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end (linear decay from lr); "
                                   "None: constant lr", low=0.0, low_inclusive=False)
    double: bool = param(False, "Double DQN targets for agents and principal")
    polyak: float = param(0.0, "evaluate Polyak-averaged networks (decay per iteration, window "
                          "about 1 / (1 - polyak) iterations; 0: the online ones)", low=0.0,
                          high=1.0, high_inclusive=False)
    gamma: float = param(0.99, "discount of the learners' targets", low=0.0, high=1.0)
    target_every: int = param(200, "target network period (iterations)", low=1)
    buffer_size: int = param(100_000, "replay capacity (joint transitions, >= batch_size)", low=1)
    eps_start: float = param(1.0, "initial exploration rate", low=0.0, high=1.0)
    eps_end: float = param(0.02, "final exploration rate", low=0.0, high=1.0)
    eps_decay: float = param(0.7, "share of the run over which epsilon decays", low=0.0,
                             high=1.0, low_inclusive=False)
    alpha: float = param(0.1, "principal: (1/alpha) welfare - payments", low=0.0,
                         low_inclusive=False)
    margin: float = param(0.01, "nudging margin xi added to payments for non-favourite "
                          "recommendations", low=0.0)
    beta: float = param(0.0, "transfer proportion of the constant baseline", low=0.0)
    principal_value: Literal["joint", "vdn"] = param(
        "vdn", "principal's Q over joint actions, or VDN (sum of per-agent values, the paper)")
    time_limit: Literal["terminate", "truncate"] = param(
        "terminate", "the episode's time limit ends the return, or is a truncation that targets "
        "bootstrap through")
    centered: bool = param(True, "agents and principal see the grid centred on themselves "
                           "(torus roll); false: absolute positions")
    n_heads: int = param(1, "principal's value heads on one trunk (bootstrapped ensemble); 1: "
                         "the paper's single network", low=1)
    confidence: float = param(0.0, "with n_heads > 1, recommend a non-favourite action only "
                              "where the heads' mean gain minus confidence x their std beats "
                              "alpha x payment", low=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size: expected >= batch_size = {self.batch_size}, got "
                             f"{self.buffer_size}.")
        if self.n_heads > 1 and (self.principal_value != "vdn" or self.double):
            raise ValueError(f"n_heads: an ensemble of {self.n_heads} heads needs "
                             f"principal_value='vdn' and double=False; use n_heads=1.")


@dataclasses.dataclass(frozen=True)
class CoinGameTrainingResult:
    """What :meth:`CoinGameTrainer.train` returns (evaluate the learners with
    :meth:`CoinGameTrainer.evaluate`).

    Attributes
    ----------
    mode
        the learner trained (``"principal"`` or a baseline).
    iterations
        training iterations done.
    history
        step outputs every ``history_every`` iterations (``step``, ``epsilon``, ``loss``).
    """

    mode: str
    iterations: int
    history: tuple[dict[str, float], ...] = dataclasses.field(default=(), repr=False)


class CoinGameTrainer(SteppedTrainer):
    """Train agents (and the principal) in the Coin Game with DQN.

    ``CoinGameTrainer(mode, params, size=..., ...)`` or ``CoinGameTrainer(mode, max_iter=500,
    ...)``: the hyperparameters are a :class:`CoinGameParams` (or keyword overrides of it; the
    released name ``n_iter`` still works, with a ``DeprecationWarning``). In its fields:

    - ``n_heads``: the principal's VDN values as an ensemble of ``n_heads`` heads on one
      convolutional trunk, each trained on a random half of every minibatch (bootstrap masks);
    - ``confidence``: with ``n_heads > 1``, agent ``i`` is recommended a non-favourite action
      ``a`` only where the heads' gain ``G_i(a) - G_i(favourite)``, as mean minus ``confidence``
      standard deviations over heads, exceeds ``alpha * pay_i(a)``; the favourite is the default;
    - ``time_limit``: ``"terminate"``: the episode's time limit ends the return (targets do not
      bootstrap past it); ``"truncate"``: it is a truncation (Gymnasium's semantics; the
      observation has no clock), and targets bootstrap from the true last state;
    - ``centered``: observe the grid centred on each agent (rolled on the torus, see
      :func:`~econcs.contracts.coin_game_observe`); False: absolute positions.

    :meth:`train` returns a :class:`CoinGameTrainingResult`; :meth:`evaluate` plays greedily and
    returns a :class:`CoinGameResult`.

    Parameters
    ----------
    mode
        ``"principal"``, ``"selfish"``, ``"cooperative"`` or ``"constant"``.
    params
        a :class:`CoinGameParams` (default ``CoinGameParams()``); ``**overrides`` change its
        fields.
    size, max_steps
        the game (3/20 or 7/50).
    num_threads
        CPU threads used while training (None: leave PyTorch's setting); the
        networks are tiny, so one thread is fastest.
    device, seed, generator, init_generator
        the device; a ``torch.Generator`` on it for all sampling and a CPU generator for the
        network initialisation (when not given: seeded with ``seed`` and ``seed + 1``).
    history_every
        iterations between rows of the training result's ``history``.
    """

    def __init__(
        self,
        mode: str = "principal",
        params: CoinGameParams | None = None,
        /,
        *,
        size: int = 3,
        max_steps: int = 20,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
        seed: int = 0,
        generator: torch.Generator | None = None,
        init_generator: torch.Generator | None = None,
        history_every: int = 100,
        **overrides,
    ) -> None:
        self.mode = check_choice(mode, "mode", MODES)
        p = resolve_params(CoinGameParams, params,
                           **apply_renames(overrides, RENAMES, "CoinGameTrainer"))
        self.params = p
        self.size = check_int(size, "size", low=2)
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self.history_every = check_int(history_every, "history_every", low=1)
        self._history: list[dict[str, float]] = []
        self.device = resolve_device(device)
        self.num_threads = None if num_threads is None else check_int(num_threads, "num_threads",
                                                                      low=1)
        self.gen, init_gen = generators(seed, self.device, generator, init_generator)
        dev = self.device
        self.agent = _ConvQNet(self.size, 4, init_gen).to(dev)
        self.agent_target = _ConvQNet(self.size, 4, init_gen).to(dev)
        weights = list(self.agent.parameters())
        self.principal = self.principal_target = None
        if self.mode == "principal":
            n_out = 16 if p.principal_value == "joint" else 4
            if p.n_heads > 1:
                self.principal = _ConvQEnsemble(self.size, 4, p.n_heads, init_gen).to(dev)
                self.principal_target = copy.deepcopy(self.principal)
            else:
                self.principal = _ConvQNet(self.size, n_out, init_gen).to(dev)
                self.principal_target = _ConvQNet(self.size, n_out, init_gen).to(dev)
            weights += list(self.principal.parameters())
        self._sync_targets()
        self.optimizer = torch.optim.Adam(weights, lr=p.lr, foreach=True)
        self.averaged = None
        if self.params.polyak > 0:  # averaged copies of the online networks, for evaluation
            self.averaged = {"agent": copy.deepcopy(self.agent)}
            if self.principal is not None:
                self.averaged["principal"] = copy.deepcopy(self.principal)
            for net in self.averaged.values():
                net.to(dev).requires_grad_(False)
        grid = (self.params.buffer_size, 2, 4, self.size, self.size)
        self.buf_obs = torch.zeros(grid, dtype=torch.uint8, device=dev)
        self.buf_next = torch.zeros(grid, dtype=torch.uint8, device=dev)
        self.buf_act = torch.zeros(self.params.buffer_size, 2, dtype=torch.long, device=dev)
        self.buf_rew = torch.zeros(self.params.buffer_size, 2, device=dev)
        self.buf_done = torch.zeros(self.params.buffer_size, device=dev)
        self.buf_ptr = 0
        self.buf_len = 0
        self.state = coin_game_reset(self.params.n_envs, self.size, self.max_steps, self.gen, dev)
        self.iteration = 0

    # helpers -----------------------------------------------------------------------------------
    def _sync_targets(self) -> None:
        self.agent_target.load_state_dict(self.agent.state_dict())
        if self.principal is not None:
            self.principal_target.load_state_dict(self.principal.state_dict())

    def _observe(self, state) -> torch.Tensor:
        return coin_game_observe(state, centered=self.params.centered)

    def _training_rewards(self, rewards: torch.Tensor) -> torch.Tensor:
        welfare = rewards.sum(-1, keepdim=True)
        if self.mode == "cooperative":
            return welfare.expand_as(rewards)
        if self.mode == "constant":
            return rewards + self.params.beta * welfare
        return rewards

    def _payments(self, qbar: torch.Tensor) -> torch.Tensor:
        """(..., 4) agent Qbar -> (..., 4) minimal payment for following each recommendation."""
        best = qbar.max(-1, keepdim=True).values
        favourite = nn.functional.one_hot(qbar.argmax(-1), 4).bool()
        return best - qbar + torch.where(favourite, 0.0, self.params.margin)

    @staticmethod
    def _joint_values(obs: torch.Tensor, principal_net) -> torch.Tensor:
        """(B, 4, 4) gross values ``G(s, a_red, a_blue)``; each agent's egocentric view is the whole
        state, and the two views' estimates are averaged (the game is symmetric)."""
        g = principal_net(obs.flatten(0, 1)).view(-1, 2, 4, 4)  # view i: (a_i, a_other)
        return 0.5 * (g[:, 0] + g[:, 1].transpose(1, 2))

    def _gross(self, obs: torch.Tensor, act: torch.Tensor, principal_net) -> torch.Tensor:
        """Principal's gross value ``G(s, a)`` (B,) of the joint actions ``act`` (B, 2)."""
        if self.params.principal_value == "joint":
            g = self._joint_values(obs, principal_net).flatten(1)
            return g.gather(1, (act[:, 0] * 4 + act[:, 1])[:, None])[:, 0]
        if self.params.n_heads > 1:  # (B, heads)
            g = principal_net(obs.flatten(0, 1)).view(-1, 2, self.params.n_heads, 4)
            idx = act[:, :, None, None].expand(-1, -1, self.params.n_heads, 1)
            return g.gather(-1, idx)[..., 0].sum(1)
        g = principal_net(obs.flatten(0, 1)).view(-1, 2, 4)
        return g.gather(-1, act[..., None]).squeeze(-1).sum(-1)  # VDN: G = sum_i G_i

    def _recommend(self, obs: torch.Tensor, agent_net, principal_net):
        """obs (B, 2, 4, n, n) -> recommendations (B, 2), payments (B, 2, 4), the principal's
        value ``max_a G(s, a) - alpha * pay(a)`` (B,) and the agents' Qbar (B, 2, 4)."""
        flat = obs.flatten(0, 1)
        qbar = agent_net(flat).view(-1, 2, 4)
        pay = self._payments(qbar)
        if self.params.principal_value == "joint":
            value = (self._joint_values(obs, principal_net)
                     - self.params.alpha * (pay[:, 0, :, None] + pay[:, 1, None, :])).flatten(1)
            best, idx = value.max(-1)
            return torch.stack([idx // 4, idx % 4], dim=-1), pay, best, qbar
        if self.params.n_heads > 1:
            # the favourite is the default; another action is recommended only where the
            # ensemble's pessimistic gain over the favourite, mean - confidence * std over heads,
            # beats the cost of paying for it
            g = principal_net(flat).view(-1, 2, self.params.n_heads, 4)
            fav = qbar.argmax(-1)[:, :, None, None].expand(-1, -1, self.params.n_heads, 1)
            gain = g - g.gather(-1, fav)  # (B, 2, heads, 4), 0 at the favourite
            score = gain.mean(2) - self.params.confidence * gain.std(2) - self.params.alpha * pay
            rec = score.argmax(-1)  # (B, 2)
            # each head's value of the recommended joint action (B, heads): the targets
            # evaluate the policy actually executed
            idx = rec[:, :, None, None].expand(-1, -1, self.params.n_heads, 1)
            value = (g.gather(-1, idx)[..., 0]
                     - self.params.alpha * pay.gather(-1, rec[..., None])).sum(1)
            return rec, pay, value, qbar
        value = principal_net(flat).view(-1, 2, 4) - self.params.alpha * pay
        best, rec = value.max(-1)
        return rec, pay, best.sum(-1), qbar

    # one iteration ----------------------------------------------------------------------------
    @torch.no_grad()
    def _act(self, obs: torch.Tensor, eps: float):
        b = obs.shape[0]
        qbar = self.agent(obs.flatten(0, 1)).view(b, 2, 4)
        if eps > 0:
            rand = torch.randint(0, 4, (b, 2), generator=self.gen, device=self.device)
            explore = torch.rand(b, 2, generator=self.gen, device=self.device) < eps
        else:  # greedy: draw nothing
            rand = torch.zeros(b, 2, dtype=torch.long, device=self.device)
            explore = torch.zeros(b, 2, dtype=torch.bool, device=self.device)
        paid = torch.zeros(b, 2, device=self.device)
        followed = torch.zeros(b, 2, dtype=torch.bool, device=self.device)
        if self.mode != "principal":
            return torch.where(explore, rand, qbar.argmax(-1)), paid, followed
        rec, pay, _, _ = self._recommend(obs, self.agent, self.principal)
        if eps > 0:
            rec_explore = torch.rand(b, 2, generator=self.gen, device=self.device) < eps
            rec = torch.where(rec_explore, torch.randint(0, 4, (b, 2), generator=self.gen,
                                                         device=self.device), rec)
        pay_rec = pay.gather(-1, rec[..., None]).squeeze(-1)
        # the agent follows iff Qbar(rec) + payment >= max Qbar (true by construction)
        follow_ok = qbar.gather(-1, rec[..., None]).squeeze(-1) + pay_rec >= qbar.max(-1).values
        greedy = torch.where(follow_ok, rec, qbar.argmax(-1))
        act = torch.where(explore, rand, greedy)
        followed = act == rec
        paid = torch.where(followed, pay_rec, 0.0)
        return act, paid, followed

    def _collect(self, eps: float):
        obs = self._observe(self.state)
        act, paid, followed = self._act(obs, eps)
        rewards, done, own, other = coin_game_step(self.state, act, self.gen, auto_reset=False)
        nxt = self._observe(self.state)  # the true next state, also at the time limit
        reset_finished(self.state, done, self.gen)  # after observing the true last state
        # "terminate": the time limit ends the return (done masks bootstrapping); "truncate":
        # the observation has no clock, so the limit is a truncation and targets bootstrap
        # from the last state (Pardo et al. 2018)
        ends = done if self.params.time_limit == "terminate" else torch.zeros_like(done)
        idx = (self.buf_ptr + torch.arange(len(act), device=self.device)) % self.params.buffer_size
        self.buf_obs[idx] = obs.to(torch.uint8)
        self.buf_next[idx] = nxt.to(torch.uint8)
        self.buf_act[idx] = act
        self.buf_rew[idx] = rewards
        self.buf_done[idx] = ends.float()
        self.buf_ptr = int((self.buf_ptr + len(act)) % self.params.buffer_size)
        self.buf_len = min(self.params.buffer_size, self.buf_len + len(act))
        return rewards, paid, followed, own, other, done

    def _learn(self) -> float:
        idx = torch.randint(0, self.buf_len, (self.params.batch_size,), generator=self.gen,
                            device=self.device)
        obs, nxt = self.buf_obs[idx].float(), self.buf_next[idx].float()
        act, rew, done = self.buf_act[idx], self.buf_rew[idx], self.buf_done[idx]
        g = self.params.gamma * (1 - done)[:, None]  # (B, 1)
        with torch.no_grad():
            if self.mode == "principal" and self.params.double:
                # online networks choose the recommendation and the agents' favourites ...
                rec_n, _, _, qbar_on = self._recommend(nxt, self.agent, self.principal)
                fav = qbar_on.argmax(-1, keepdim=True)  # (B, 2, 1)
                # ... target networks value them: payment Qbar(fav) - Qbar(rec) (+ margin)
                qbar_t = self.agent_target(nxt.flatten(0, 1)).view(-1, 2, 4)
                q_rec = qbar_t.gather(-1, rec_n[..., None]).squeeze(-1)
                q_fav = qbar_t.gather(-1, fav).squeeze(-1)
                pay_n = ((q_fav - q_rec).clamp(min=0.0)
                         + torch.where(rec_n == fav[..., 0], 0.0, self.params.margin))
                y_agent = rew + g * (q_rec + pay_n)  # (B, 2)
                value_n = (self._gross(nxt, rec_n, self.principal_target)
                           - self.params.alpha * pay_n.sum(-1))
                y_principal = rew.sum(-1) + g[:, 0] * value_n
            elif self.mode == "principal":
                rec_n, pay_n, value_n, qbar_n = self._recommend(nxt, self.agent_target,
                                                                self.principal_target)
                # the agent follows: Qbar(rec) + pay(rec) = max Qbar (+ margin)
                v_agent = (qbar_n + pay_n).gather(-1, rec_n[..., None]).squeeze(-1)
                y_agent = rew + g * v_agent  # (B, 2)
                if self.params.n_heads > 1:  # (B, heads)
                    y_principal = rew.sum(-1, keepdim=True) + g * value_n
                else:
                    y_principal = rew.sum(-1) + g[:, 0] * value_n
            else:
                q_n = self.agent_target(nxt.flatten(0, 1)).view(-1, 2, 4)
                if self.params.double:
                    a_n = self.agent(nxt.flatten(0, 1)).view(-1, 2, 4).argmax(-1, keepdim=True)
                    v_n = q_n.gather(-1, a_n).squeeze(-1)
                else:
                    v_n = q_n.max(-1).values
                y_agent = self._training_rewards(rew) + g * v_n
        q = self.agent(obs.flatten(0, 1)).view(-1, 2, 4).gather(-1, act[..., None]).squeeze(-1)
        loss = nn.functional.smooth_l1_loss(q, y_agent)
        if self.mode == "principal":
            gp = self._gross(obs, act, self.principal)
            if self.params.n_heads > 1:
                # each head learns from its own half of the batch (bootstrap masks)
                mask = torch.rand(gp.shape, generator=self.gen, device=self.device) < 0.5
                err = nn.functional.smooth_l1_loss(gp, y_principal, reduction="none")
                loss = loss + ((err * mask).sum(0) / mask.sum(0).clamp(min=1)).sum()
            else:
                loss = loss + nn.functional.smooth_l1_loss(gp, y_principal)
        p = self.params
        lr_final = p.lr if p.lr_final is None else p.lr_final
        frac = min(1.0, self.iteration / p.max_iter)
        for group in self.optimizer.param_groups:
            group["lr"] = p.lr + frac * (lr_final - p.lr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.averaged is not None:
            with torch.no_grad():
                for name, net in self.averaged.items():
                    torch._foreach_lerp_(list(net.parameters()),
                                         list(getattr(self, name).parameters()), 1 - p.polyak)
        return float(loss.detach())

    def _learn_step(self) -> dict[str, float]:
        return {"loss": self._learn()}

    def _train_result(self) -> CoinGameTrainingResult:
        return CoinGameTrainingResult(self.mode, self.iteration, history_tuple(self._history))

    @torch.no_grad()
    def evaluate(self, episodes: int = 64, generator: torch.Generator | None = None):
        """Greedy play (no exploration) for ``episodes`` parallel episodes.

        The start states and, per episode, the uniforms that place and colour its k-th coin are
        drawn from ``generator`` before play (common random numbers): learners evaluated with
        generators in the same state face the same games, whatever they do.
        """
        episodes = check_int(episodes, "episodes", low=1)
        gen = generator if generator is not None else self.gen
        state = coin_game_reset(episodes, self.size, self.max_steps, gen, self.device)
        noise = torch.rand(episodes, self.max_steps, 2, generator=gen, device=self.device)
        n_coins = torch.zeros(episodes, dtype=torch.long, device=self.device)
        rows = torch.arange(episodes, device=self.device)
        welfare = torch.zeros(episodes, device=self.device)
        payments = torch.zeros(episodes, device=self.device)
        own_n = other_n = follow_n = 0.0
        saved, self.gen = self.gen, gen
        online = (self.agent, self.principal)
        if self.averaged is not None:
            self.agent = self.averaged["agent"]
            self.principal = self.averaged.get("principal")
        # tiny networks: one thread, as in training (oversubscription is several-fold slower)
        with cpu_threads(self.num_threads, self.device):
            try:
                for _ in range(self.max_steps):
                    act, paid, followed = self._act(self._observe(state), 0.0)
                    rewards, _, own, other = coin_game_step(
                        state, act, gen, auto_reset=False, spawn_noise=noise[rows, n_coins])
                    n_coins = torch.clamp(n_coins + (own | other).any(-1), max=self.max_steps - 1)
                    welfare += rewards.sum(-1)
                    payments += paid.sum(-1)
                    own_n += float(own.sum())
                    other_n += float(other.sum())
                    follow_n += float(followed.float().mean())
            finally:
                self.gen = saved
                self.agent, self.principal = online
        w = float(welfare.mean())
        se = float(welfare.std()) / math.sqrt(episodes) if episodes > 1 else 0.0
        if self.mode == "constant":
            payments = 2 * self.params.beta * welfare
        p = float(payments.mean())
        return CoinGameResult(
            welfare=w, payments=p, payment_share=p / w if w > 0 else 0.0,
            own_coin_rate=own_n / max(1.0, own_n + other_n),
            follow_rate=follow_n / self.max_steps if self.mode == "principal" else 1.0,
            episodes=episodes, welfare_se=se,
            episode_welfare=tuple(welfare.cpu().tolist()),
        )

    # checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        out = {"agent": self.agent.state_dict(), "agent_target": self.agent_target.state_dict(),
               "optimizer": self.optimizer.state_dict(), "iteration": self.iteration,
               "history": list(self._history),
               "buffer": {"obs": self.buf_obs, "next": self.buf_next, "act": self.buf_act,
                          "rew": self.buf_rew, "done": self.buf_done},
               "buf_ptr": self.buf_ptr, "buf_len": self.buf_len, "game": self.state.tensors()}
        if self.averaged is not None:
            out["averaged"] = {k: v.state_dict() for k, v in self.averaged.items()}
        if self.principal is not None:
            out["principal"] = self.principal.state_dict()
            out["principal_target"] = self.principal_target.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.agent_target.load_state_dict(state["agent_target"])
        if self.principal is not None:
            self.principal.load_state_dict(state["principal"])
            self.principal_target.load_state_dict(state["principal_target"])
        if self.averaged is not None:
            for key, net in self.averaged.items():
                net.load_state_dict(state["averaged"][key])
        self.optimizer.load_state_dict(state["optimizer"])
        for name in ("obs", "next", "act", "rew", "done"):
            getattr(self, f"buf_{name}").copy_(state["buffer"][name])
        self.buf_ptr, self.buf_len = int(state["buf_ptr"]), int(state["buf_len"])
        self.iteration = int(state["iteration"])
        self._history = [dict(row) for row in state.get("history", [])]
        for key, value in state["game"].items():
            setattr(self.state, key, value.to(self.device))
