"""PPO on the auction MDP, through stable-baselines3 (a baseline).

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 5 compare their first-order methods with PPO
(model-free, likelihood-ratio gradients through sampled choices): 3.09 on 5x5 A against FPI's
3.12. We train stable-baselines3's PPO (the optional extra ``econcs-auctions[rl]``, imported only
here) on the MDP of :class:`~econcs.auctions.sequential.SequentialAuctionEnv`, then score its
deterministic policy (the Gaussian's mean) with the exact batched rollouts of
:func:`~econcs.auctions.sequential.evaluate_sequential`.

What matters for PPO here (each measured on 5x5 A, README "Sequential auctions"):

- **the objective is the undiscounted revenue**: ``gamma = 1`` (stable-baselines3's default 0.99
  rewards selling early);
- **exploration noise on the price scale**: actions live in ``[-1, 1]`` (one unit is half a
  bundle's value range); the Gaussian's initial standard deviation ``exp(log_std_init)`` is
  ``2 exp(-2) = 0.27``, i.e. ``exp(-2)`` of the value range as in the authors' code (whose
  actions live in ``[0, 1]``); the default ``exp(0) = 1`` puts most sampled prices on the box's
  edges, where clipping hides them from the likelihood ratio, and ``exp(-2)`` on our scale
  (half the authors' noise) learns slower (5x5 A: 2.74 after 100 updates and 2.90 after 250,
  against 2.92 after 100);
- **the mean stays inside the box**: ``tanh`` of the actor's output, so the deterministic menu is
  the Gaussian's mean and never a clipped one;
- **many parallel episodes per update**: the environments are one batched
  ``AuctionVecEnv`` (every episode stepped at once in torch, no Python loop over episodes).

A killed run resumes: ``ppo(..., callback=...)`` hands the callback a checkpoint (the actor-critic
and its Adam state, the step count, the environments' state and generators) every ``eval_every``
updates, and ``resume=(step, state)`` continues from it (the experiment saves it atomically with
``checkpoint_every``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from econcs.auctions.sequential._env import (
    SequentialAuctionEnv,
    _respond,
    action_to_menu,
    observation,
)
from econcs.auctions.sequential._evaluate import evaluate_sequential
from econcs.auctions.sequential._mechanism import SequentialPolicy
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

__all__ = ["PPOParams", "PPOPolicy", "ppo"]


@dataclasses.dataclass(frozen=True)
class PPOParams(Params):
    """stable-baselines3 PPO's budget, network and exploration (its other settings at their
    defaults: 10 epochs per update, clip 0.2, GAE lambda 0.95)."""

    total_timesteps: int = param(1_000_000, "environment steps (one bidder each), rounded up to "
                                 "whole updates of n_envs x n_steps", low=1)
    n_envs: int = param(1024, "parallel episodes, stepped at once (AuctionVecEnv)", low=1)
    n_steps: int = param(0, "steps per environment between updates; 0: n_bidders (one "
                         "episode each)", low=0)
    batch_size: int = param(1024, "PPO minibatch", low=2)
    lr: float = param(3e-4, "Adam learning rate", low=0.0, low_inclusive=False)
    gamma: float = param(1.0, "discount (revenue is the undiscounted sum of payments)",
                         low=0.0, high=1.0)
    log_std_init: float = param(round(math.log(2.0) - 2.0, 4), "initial log standard deviation "
                                "of the action noise (on [-1, 1]: e^-2 of the value range, the "
                                "authors')")
    hidden: int = param(256, "width of the hidden layers", low=1)
    layers: int = param(3, "tanh hidden layers of the policy and value networks", low=1)
    eval_every: int = param(20, "updates (not steps) between history rows (and callback calls, "
                           "checkpoints)",
                           low=1)
    n_log_eval: int = param(8192, "exact episodes for each history row's revenue", low=1)


def _require_sb3():
    try:
        import stable_baselines3
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("method ppo needs stable-baselines3: pip install "
                          "'econcs-auctions[rl]'") from err
    return stable_baselines3


def _policy_class():
    """stable-baselines3's actor-critic with the Gaussian's mean squashed into ``[-1, 1]``."""
    _require_sb3()
    from stable_baselines3.common.distributions import DiagGaussianDistribution
    from stable_baselines3.common.policies import ActorCriticPolicy

    class SquashedMeanPolicy(ActorCriticPolicy):
        def _get_action_dist_from_latent(self, latent_pi):
            if not isinstance(self.action_dist, DiagGaussianDistribution):  # pragma: no cover
                return super()._get_action_dist_from_latent(latent_pi)
            mean = torch.tanh(self.action_net(latent_pi))
            return self.action_dist.proba_distribution(mean, self.log_std)

    return SquashedMeanPolicy


def _sb3_policy(setting: SequentialSetting, hidden: int, layers: int,
                log_std_init: float = math.log(2.0) - 2.0):
    env = SequentialAuctionEnv(setting)
    return _policy_class()(env.observation_space, env.action_space, lambda _: 0.0,
                           net_arch=[hidden] * layers, activation_fn=torch.nn.Tanh,
                           log_std_init=log_std_init)


def _vec_env_class():
    _require_sb3()
    from stable_baselines3.common.vec_env import VecEnv

    class AuctionVecEnv(VecEnv):
        """``n_envs`` episodes of the auction MDP stepped at once in torch (the batched
        :class:`SequentialAuctionEnv`: same observations, actions, rewards and termination).
        The state ``(bidder (E,), available (E, m))`` and the value generator are
        :meth:`get_state` / :meth:`set_state` (checkpoints)."""

        def __init__(self, setting: SequentialSetting, n_envs: int, seed: int) -> None:
            single = SequentialAuctionEnv(setting)
            self.setting = setting
            self.gen = make_generator(seed)
            self.bidder = torch.zeros(n_envs, dtype=torch.long)
            self.available = torch.ones(n_envs, setting.n_items, dtype=torch.bool)
            self._actions: torch.Tensor | None = None
            super().__init__(n_envs, single.observation_space, single.action_space)

        def _obs(self) -> np.ndarray:
            return observation(self.bidder, self.available, self.setting.n_bidders).numpy()

        def reset(self):
            if self._seeds[0] is not None:
                self.gen.manual_seed(int(self._seeds[0]))
            self._reset_seeds()
            self.bidder.zero_()
            self.available.fill_(True)
            return self._obs()

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = torch.as_tensor(np.asarray(actions, dtype=np.float32))

        def step_wait(self):
            s = self.setting
            values = s.sample_bidder(self.num_envs, generator=self.gen)
            bought, pay = _respond(s, self.available, values,
                                   action_to_menu(s, self._actions))
            self.available &= ~bought
            self.bidder += 1
            done = (self.bidder >= s.n_bidders) | ~self.available.any(1)
            terminal = self._obs()
            self.bidder[done] = 0
            self.available[done] = True
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            for i in done.nonzero()[:, 0].tolist():  # sb3's API: a dict per environment
                infos[i]["terminal_observation"] = terminal[i]
            return self._obs(), pay.numpy().astype(np.float32), done.numpy(), infos

        def get_state(self) -> dict[str, Any]:
            return {"bidder": self.bidder.clone(), "available": self.available.clone(),
                    "generator": self.gen.get_state()}

        def set_state(self, state: dict[str, Any]) -> None:
            self.bidder.copy_(state["bidder"])
            self.available.copy_(state["available"])
            self.gen.set_state(state["generator"].cpu())

        def close(self) -> None:
            pass

        def get_attr(self, attr_name, indices=None):
            return [getattr(self, attr_name, None)] * len(self._indices(indices))

        def set_attr(self, attr_name, value, indices=None) -> None:
            setattr(self, attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            raise NotImplementedError("AuctionVecEnv is one batched environment")

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._indices(indices))

        def _indices(self, indices) -> list[int]:
            if indices is None:
                return list(range(self.num_envs))
            return [indices] if isinstance(indices, int) else list(indices)

    return AuctionVecEnv


def _numpy_state() -> dict[str, Any]:
    """numpy's global generator (sb3 shuffles minibatches with it) as checkpointable values."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 -- sb3's generator
    return {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002 -- the legacy global generator is the one sb3 uses
        ("MT19937", keys, state["pos"], state["has_gauss"], state["gauss"]))


class PPOPolicy(SequentialPolicy):
    """A stable-baselines3 actor-critic network's deterministic menus (:func:`ppo`): the
    Gaussian's mean, ``tanh``-squashed into ``[-1, 1]``, through
    :func:`~econcs.auctions.sequential.action_to_menu`."""

    def __init__(self, setting: SequentialSetting, hidden: int = 256, layers: int = 3,
                 net: torch.nn.Module | None = None) -> None:
        super().__init__(setting)
        self.menu = "bundle" if setting.menu == "bundle" else "entry-fee"
        self.hidden, self.layers = int(hidden), int(layers)
        self.net = _sb3_policy(setting, self.hidden, self.layers) if net is None else net

    def hparams(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers}

    @classmethod
    def from_tensors(cls, setting, tensors, **hparams):
        return cls(setting, **hparams)

    def menus(self, bidder: int, available: torch.Tensor):
        b = torch.full((available.shape[0],), bidder, dtype=torch.long, device=available.device)
        with torch.no_grad():
            action = self.net._predict(observation(b, available, self.setting.n_bidders),
                                       deterministic=True)
        return action_to_menu(self.setting, action)


def ppo(setting: SequentialSetting, params: PPOParams | None = None, /, *, seed: int = 0,
        generator: torch.Generator | None = None, device: str | torch.device = "cpu",
        callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
        **overrides: Any) -> PPOPolicy:
    """Train stable-baselines3's PPO on the auction MDP (:class:`SequentialAuctionEnv`, batched);
    return a :class:`PPOPolicy` with ``history_`` (``step``: updates, ``timesteps``,
    ``revenue`` by exact rollouts every ``eval_every`` updates). Needs ``econcs-auctions[rl]``.

    ``params`` / ``overrides``: :class:`PPOParams`. ``generator``, when given, draws the seed.
    ``callback(step, metrics, state_fn)`` every ``eval_every`` updates, ``state_fn()`` a
    checkpoint (network, Adam, step count, environments, generators, history);
    ``resume=(step, state)`` continues from one to the run an uninterrupted call makes (same
    updates: the action noise and the minibatches are drawn from torch's and numpy's global
    generators, restored too).

    Example (not a doctest: the suite runs without the ``rl`` extra; ``tests/test_sequential_env.py``
    runs PPO in CI's optional-extras step)::

        p = ppo(SequentialSetting(1, 1, "A"), total_timesteps=512, n_envs=256, hidden=8,
                layers=1, n_log_eval=256, seed=0)
        p.history_[-1]["timesteps"]  # 512
    """
    check_type(setting, "setting", SequentialSetting)
    p = resolve_params(PPOParams, params, **overrides)
    dev = resolve_device(device)
    _require_sb3()
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger

    if generator is not None:
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator,
                                 device=generator.device))
    n_steps = p.n_steps or setting.n_bidders
    per_update = p.n_envs * n_steps
    n_updates = -(-p.total_timesteps // per_update)
    envs = _vec_env_class()(setting, p.n_envs, seed)
    model = PPO(_policy_class(), envs, learning_rate=p.lr, n_steps=n_steps,
                batch_size=min(p.batch_size, per_update), gamma=p.gamma, seed=seed,
                device=str(dev), verbose=0,
                policy_kwargs={"net_arch": [p.hidden] * p.layers,
                               "activation_fn": torch.nn.Tanh, "log_std_init": p.log_std_init})
    # a logger of our own: sb3's default one makes an empty /tmp/SB3-<time> folder every run
    model.set_logger(Logger(folder=None, output_formats=[]))
    policy = PPOPolicy(setting, p.hidden, p.layers, net=model.policy)
    history: list[dict[str, Any]] = []
    start = 0
    if resume is not None:
        start, state = resume
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["optimizer"])
        envs.set_state(state["envs"])
        torch.set_rng_state(state["torch_rng"].cpu())
        _set_numpy_state(state["numpy_rng"])
        model.num_timesteps = start * per_update
        model._last_obs = envs._obs()
        model._last_episode_starts = state["episode_starts"].numpy().astype(bool)
        history = list(state["history"])

    def log_row(update: int) -> None:
        model.policy.set_training_mode(False)
        rev = evaluate_sequential(policy, p.n_log_eval, seed=seed + 1).revenue
        row = {"step": update, "timesteps": update * per_update, "revenue": rev}
        history.append(row)
        if callback is not None:
            def state_fn() -> dict[str, Any]:
                return {"policy": {k: v.detach().clone()
                                   for k, v in model.policy.state_dict().items()},
                        "optimizer": model.policy.optimizer.state_dict(),
                        "envs": envs.get_state(), "torch_rng": torch.get_rng_state(),
                        "numpy_rng": _numpy_state(),
                        "episode_starts": torch.as_tensor(model._last_episode_starts),
                        "history": list(history)}
            callback(update, {"revenue": rev}, state_fn)

    class _Every(BaseCallback):
        # at a rollout's start the previous update is done: a consistent point to checkpoint
        def _on_rollout_start(self) -> None:
            update = self.model.num_timesteps // per_update
            if update > start and update % p.eval_every == 0:
                log_row(update)

        def _on_step(self) -> bool:
            return True

    if n_updates > start:
        model.learn(total_timesteps=(n_updates - start) * per_update, callback=_Every(),
                    reset_num_timesteps=resume is None)
    if not history or history[-1]["step"] != n_updates:
        log_row(n_updates)
    policy.eval()
    policy.history_ = history_tuple(history)
    return policy
