"""PPO on the auction MDP's Gymnasium environment, through stable-baselines3 (a baseline).

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 5 compare their first-order methods with PPO
(model-free, REINFORCE-style gradients through sampled choices): 3.09 on 5x5 A against FPI's 3.12.
We train stable-baselines3's PPO (the optional extra ``econcs-auctions[rl]``, imported only here)
on :class:`~econcs.auctions.sequential.SequentialAuctionEnv`, then score its deterministic policy
(the Gaussian's mean, clipped) with the exact batched rollouts of
:func:`~econcs.auctions.sequential.evaluate_sequential`.

A killed PPO run starts over (stable-baselines3 saves pickled zips, which we do not load); the
learned policy network is saved as safetensors like every other policy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from econcs.auctions.sequential._env import SequentialAuctionEnv, action_to_menu, observation
from econcs.auctions.sequential._evaluate import evaluate_sequential
from econcs.auctions.sequential._mechanism import SequentialPolicy
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import (
    Callback,
    Params,
    check_type,
    history_tuple,
    param,
    resolve_device,
    resolve_params,
)

__all__ = ["PPOParams", "PPOPolicy", "ppo"]


@dataclasses.dataclass(frozen=True)
class PPOParams(Params):
    """stable-baselines3 PPO's budget and network (its other settings at their defaults)."""

    total_timesteps: int = param(200_000, "environment steps (one bidder each)", low=1)
    n_envs: int = param(8, "parallel environments (a vectorised env)", low=1)
    n_steps: int = param(256, "steps per environment between updates", low=2)
    batch_size: int = param(256, "PPO minibatch", low=2)
    lr: float = param(3e-4, "Adam learning rate", low=0.0, low_inclusive=False)
    hidden: int = param(256, "width of the hidden layers", low=1)
    layers: int = param(3, "tanh hidden layers of the policy and value networks", low=1)
    eval_every: int = param(50_000, "environment steps between history rows", low=1)
    n_log_eval: int = param(8192, "exact episodes for each history row's revenue", low=1)


def _sb3_policy(setting: SequentialSetting, hidden: int, layers: int):
    from stable_baselines3.common.policies import ActorCriticPolicy

    env = SequentialAuctionEnv(setting)
    return ActorCriticPolicy(env.observation_space, env.action_space, lambda _: 0.0,
                             net_arch=[hidden] * layers, activation_fn=torch.nn.Tanh)


class PPOPolicy(SequentialPolicy):
    """A stable-baselines3 actor-critic network's deterministic menus (:func:`ppo`)."""

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
    """Train stable-baselines3's PPO on :class:`SequentialAuctionEnv`; return a
    :class:`PPOPolicy` with ``history_`` (``revenue`` by exact rollouts every ``eval_every``
    steps). Needs ``econcs-auctions[rl]``. ``generator`` and ``resume`` are accepted for the
    experiment's uniform call and ignored (a PPO run starts over; seeding is by ``seed``)."""
    check_type(setting, "setting", SequentialSetting)
    p = resolve_params(PPOParams, params, **overrides)
    dev = resolve_device(device)
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.logger import Logger
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("method ppo needs stable-baselines3: pip install "
                          "'econcs-auctions[rl]'") from err
    if generator is not None:
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator,
                                 device=generator.device))
    envs = make_vec_env(lambda: SequentialAuctionEnv(setting), n_envs=p.n_envs, seed=seed)
    model = PPO("MlpPolicy", envs, learning_rate=p.lr, n_steps=p.n_steps,
                batch_size=p.batch_size, seed=seed, device=str(dev), verbose=0,
                policy_kwargs={"net_arch": [p.hidden] * p.layers,
                               "activation_fn": torch.nn.Tanh})
    # a logger of our own: sb3's default one makes an empty /tmp/SB3-<time> folder every run
    model.set_logger(Logger(folder=None, output_formats=[]))
    policy = PPOPolicy(setting, p.hidden, p.layers, net=model.policy)
    history: list[dict[str, Any]] = []

    def log_row(step: int) -> None:
        was = model.policy.training
        model.policy.set_training_mode(False)
        rev = evaluate_sequential(policy, p.n_log_eval, seed=seed + 1).revenue
        model.policy.set_training_mode(was)
        row = {"step": step, "revenue": rev}
        history.append(row)
        if callback is not None:
            callback(step, {"revenue": rev}, lambda: {"history": list(history)})

    class _Every(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next = p.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                log_row(self.num_timesteps)
                self.next += p.eval_every
            return True

    model.learn(total_timesteps=p.total_timesteps, callback=_Every())
    if not history or history[-1]["step"] != model.num_timesteps:
        log_row(model.num_timesteps)
    policy.eval()
    policy.history_ = history_tuple(history)
    return policy
