"""The Gymnasium environment of the auction MDP, and PPO on it (the optional [rl] extra)."""

import tempfile

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from numpy.testing import assert_allclose

from econcs.auctions.sequential import (
    ActionPolicy,
    SequentialAuctionEnv,
    SequentialSetting,
    evaluate_sequential,
    itemwise,
    load_policy,
)


@pytest.mark.parametrize("setting", [SequentialSetting(3, 3, "A"),
                                     SequentialSetting(2, 3, "C"),
                                     SequentialSetting(2, 2, "E"),
                                     SequentialSetting(3, 12, "A", menu="entry-fee")])
def test_env_passes_gymnasiums_checker(setting):
    check_env(SequentialAuctionEnv(setting), skip_render_check=True)


def test_env_episode_pays_the_posted_price():
    # 1 item, price (1 + a)/2 * 1: the bidder buys iff v >= price; mean reward p (1 - p)
    env = SequentialAuctionEnv(SequentialSetting(1, 1, "A"))
    rewards = []
    for ep in range(4000):
        env.reset(seed=ep)
        _, r, done, _, _ = env.step(np.array([0.0, -0.2], dtype=np.float32))  # price 0.4
        assert done
        rewards.append(r)
    assert set(np.round(rewards, 6)) == {0.0, 0.4}
    assert_allclose(np.mean(rewards), 0.4 * 0.6, atol=0.02)


def test_env_rollouts_match_evaluate_sequential():
    # the optimal item prices as actions: the env's mean return equals the exact rollouts'
    s = SequentialSetting(3, 2, "A", menu="entry-fee")
    ip = itemwise(s)
    actions = torch.cat([2 * ip.item_prices - 1, -torch.ones(3, 1)], 1)  # fee 0

    def act(obs):
        return actions[obs[:, s.n_items:].argmax(1)]

    env = SequentialAuctionEnv(s)
    total = []
    for ep in range(3000):
        obs, _ = env.reset(seed=ep)
        done, ret = False, 0.0
        while not done:
            obs, r, done, _, _ = env.step(act(torch.as_tensor(obs)[None])[0].numpy())
            ret += r
        total.append(ret)
    exact = evaluate_sequential(ActionPolicy(s, act), 100_000, seed=0).revenue
    assert_allclose(exact, ip.values_[0].item(), rtol=0.01)
    assert_allclose(np.mean(total), exact, atol=4 * np.std(total) / np.sqrt(len(total)))


def test_ppo_trains_through_the_env_and_is_scored_exactly(tmp_path, monkeypatch):
    pytest.importorskip("stable_baselines3")
    from econcs.auctions.sequential import ppo

    scratch = tmp_path / "tmp"  # sb3's default logger would leave a SB3-<time> folder here
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    s = SequentialSetting(2, 2, "A")
    policy = ppo(s, total_timesteps=512, n_envs=2, n_steps=128, batch_size=64, hidden=16,
                 layers=1, eval_every=256, n_log_eval=512)
    assert not list(scratch.glob("SB3-*"))
    assert [row["step"] for row in policy.history_] == [256, 512]
    revenue = evaluate_sequential(policy, 20_000, seed=0).revenue
    assert 0.0 < revenue < 0.9  # DP optimum 2x2 A: 0.818
    policy.save(tmp_path / "p.safetensors")
    back = load_policy(tmp_path / "p.safetensors")
    assert evaluate_sequential(back, 20_000, seed=0).revenue == revenue
