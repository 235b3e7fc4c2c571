"""The sequential auction MDP as a Gymnasium environment, so that any RL library plugs in.

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 3: an episode visits bidders ``0 .. n - 1``;
at each step the agent (the auctioneer) posts a menu for the unsold items, the bidder (values drawn
from the setting's prior, unseen by the agent) takes its best option and pays.

- **observation** ``(m + n,)`` float32: the availability bits, then the bidder's one-hot.
- **action** in ``[-1, 1]``: bundle menus ``(2^m,)``, the price of bundle ``T`` is
  ``(1 + a_T) / 2 * vmax(T)`` with ``vmax(T)`` the bundle's largest value (the empty bundle costs
  0 whatever its entry); entry-fee menus ``(m + 1,)``, item ``j`` at ``(1 + a_j) / 2 * h_j`` and
  the fee at ``(1 + a_m) / 2 * sum_j h_j``.
- **reward** the payment; the episode terminates after the last bidder or when nothing is left.

Gymnasium is a core dependency of the package: it is small and pure Python, and the environment
is public API (any library's agent trains on it). Values are drawn with a ``torch.Generator``
seeded from the environment's ``np_random``, so ``reset(seed=...)`` fixes an episode.
:class:`ActionPolicy` turns any batched map from observations to actions (e.g. a trained PPO
network) into a :class:`~econcs.auctions.sequential.SequentialPolicy` that
:func:`~econcs.auctions.sequential.evaluate_sequential` scores with exact batched rollouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from econcs.auctions.sequential._mechanism import (
    SequentialPolicy,
    _respond_bundle,
    choose_entry_fee,
)
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import check_type

__all__ = ["ActionPolicy", "SequentialAuctionEnv", "action_to_menu", "observation"]


def observation(bidder: torch.Tensor, available: torch.Tensor, n_bidders: int) -> torch.Tensor:
    """``(B, m + n)`` float32 observations of states ``(bidder (B,), available (B, m))``."""
    onehot = torch.nn.functional.one_hot(bidder.clamp(max=n_bidders - 1), n_bidders)
    return torch.cat([available.float(), onehot.float()], dim=1)


def _bundle_vmax(s: SequentialSetting) -> torch.Tensor:
    if s.setting == "E":
        return s.bundle_sizes.float().sqrt()
    if s.setting == "F":
        return 3.0 * s.bundle_sizes.float()
    return s.bundles @ s.item_high.float()


def action_to_menu(setting: SequentialSetting, action: torch.Tensor):
    """Menus from actions ``(B, A)`` in ``[-1, 1]`` (clipped): bundle prices ``(B, 2^m)`` or
    ``((B, m) item prices, (B,) fee)``."""
    a = (action.clamp(-1.0, 1.0) + 1.0) / 2.0
    if setting.menu == "bundle":
        return a * _bundle_vmax(setting).to(a.device, a.dtype)
    high = setting.item_high.to(a.device, a.dtype)
    return a[:, :-1] * high, a[:, -1] * high.sum()


def _respond(s: SequentialSetting, available: torch.Tensor, values: torch.Tensor, menu):
    if s.menu == "bundle":
        return _respond_bundle(s, available, s.bundle_values(values), menu)
    items, fee = menu
    return choose_entry_fee(values, available, items, fee, s.demand)


class SequentialAuctionEnv(gym.Env):
    """The auction MDP of a :class:`SequentialSetting` (see the module docstring).

    >>> env = SequentialAuctionEnv(SequentialSetting(2, 2, "A"))
    >>> obs, info = env.reset(seed=0)
    >>> obs.tolist(), env.action_space.shape
    ([1.0, 1.0, 1.0, 0.0], (4,))
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, setting: SequentialSetting) -> None:
        self.setting = check_type(setting, "setting", SequentialSetting)
        n, m = setting.n_bidders, setting.n_items
        size = setting.n_bundles if setting.menu == "bundle" else m + 1
        self.observation_space = gym.spaces.Box(0.0, 1.0, (m + n,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (size,), dtype=np.float32)
        self._bidder = 0
        self._available = torch.ones(1, m, dtype=torch.bool)
        self._gen = torch.Generator()

    def _obs(self) -> np.ndarray:
        b = torch.tensor([self._bidder])
        return observation(b, self._available, self.setting.n_bidders)[0].numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._gen.manual_seed(int(self.np_random.integers(0, 2 ** 62)))
        self._bidder = 0
        self._available = torch.ones(1, self.setting.n_items, dtype=torch.bool)
        return self._obs(), {}

    def step(self, action):
        s = self.setting
        act = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, -1)
        values = s.sample_bidder(1, generator=self._gen)
        bought, pay = _respond(s, self._available, values, action_to_menu(s, act))
        self._available = self._available & ~bought
        self._bidder += 1
        done = self._bidder >= s.n_bidders or not bool(self._available.any())
        info = {"bought": bought[0].numpy().copy()}
        return self._obs(), float(pay[0]), done, False, info


class ActionPolicy(SequentialPolicy):
    """A :class:`SequentialPolicy` from ``act(observations (B, m + n)) -> actions (B, A)`` in
    ``[-1, 1]`` (batched; e.g. a trained agent's deterministic action), menus by
    :func:`action_to_menu`. ``module``, when given, is registered (its device is the policy's)."""

    def __init__(self, setting: SequentialSetting, act: Callable[[torch.Tensor], torch.Tensor],
                 module: torch.nn.Module | None = None) -> None:
        super().__init__(setting)
        self.menu = "bundle" if setting.menu == "bundle" else "entry-fee"
        self.act = act
        self.module = module

    def menus(self, bidder: int, available: torch.Tensor):
        b = torch.full((available.shape[0],), bidder, dtype=torch.long, device=available.device)
        with torch.no_grad():
            action = self.act(observation(b, available, self.setting.n_bidders))
        return action_to_menu(self.setting, action.to(available.device))
