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
    # 64 episodes x 2 bidders per update, 4 updates
    policy = ppo(s, total_timesteps=512, n_envs=64, batch_size=64, hidden=16, layers=1,
                 eval_every=2, n_log_eval=512)
    assert not list(scratch.glob("SB3-*"))
    assert [(row["step"], row["timesteps"]) for row in policy.history_] == [(2, 256), (4, 512)]
    revenue = evaluate_sequential(policy, 20_000, seed=0).revenue
    assert 0.0 < revenue < 0.9  # DP optimum 2x2 A: 0.818
    policy.save(tmp_path / "p.safetensors")
    back = load_policy(tmp_path / "p.safetensors")
    assert evaluate_sequential(back, 20_000, seed=0).revenue == revenue


def test_ppo_learns_toward_the_optimal_two_item_menu():
    # 1 bidder, 2 items U[0,1]: the optimal menu earns 0.5492 (Manelli-Vincent: items at 2/3,
    # both at (4 - sqrt 2)/3); PPO's first menu (the actions' mean near 0: items at 0.5, both at 1)
    # earns 0.50; 20 updates of 1024 episodes must lift it to >= 0.54 (measured 0.544)
    pytest.importorskip("stable_baselines3")
    from econcs.auctions.sequential import ppo

    s = SequentialSetting(1, 2, "A")
    policy = ppo(s, total_timesteps=20_480, n_envs=1024, hidden=32, layers=2, eval_every=20,
                 n_log_eval=4096, seed=0)
    revenue = evaluate_sequential(policy, 100_000, seed=1).revenue
    assert 0.54 <= revenue <= 0.5492 + 0.005
    untrained = ppo(s, total_timesteps=1, n_envs=1024, hidden=32, layers=2, lr=1e-12,
                    n_log_eval=4096, seed=0)
    assert abs(evaluate_sequential(untrained, 100_000, seed=1).revenue - 0.50) < 0.01


def test_ppo_vec_env_matches_the_exact_rollouts():
    # the batched env under the optimal item prices: its mean episode return is the exact revenue
    pytest.importorskip("stable_baselines3")
    from econcs.auctions.sequential._ppo import _vec_env_class

    s = SequentialSetting(3, 2, "A", menu="entry-fee")
    ip = itemwise(s)
    actions = torch.cat([2 * ip.item_prices - 1, -torch.ones(3, 1)], 1)
    env = _vec_env_class()(s, 8192, seed=0)
    obs = env.reset()
    ret, first, finished = np.zeros(8192), np.zeros(8192), np.zeros(8192, dtype=bool)
    for _ in range(3):  # every first episode ends within 3 steps (the later ones are cut off)
        act = actions[torch.as_tensor(obs)[:, s.n_items:].argmax(1)].numpy()
        obs, r, done, infos = env.step(act)
        ret += r
        new = done & ~finished
        first[new], finished = ret[new], finished | done
        ret[done] = 0.0
        assert all("terminal_observation" in infos[i] for i in np.flatnonzero(done))
        assert (obs[done, :s.n_items] == 1).all() and (obs[done, s.n_items] == 1).all()
    assert finished.all()
    total = first
    exact = ip.values_[0].item()
    assert_allclose(np.mean(total), exact, atol=4 * np.std(total) / np.sqrt(len(total)))


def test_ppo_resumes_an_interrupted_run_to_the_same_policy(tmp_path):
    # the callback's checkpoint after 2 of 4 updates, written and read back as the CLI does
    # (atomic torch.save, weights_only load): resuming gives the uninterrupted run's weights
    pytest.importorskip("stable_baselines3")
    from econcs.auctions.sequential import ppo
    from econcs.shared import atomic_torch_save

    s = SequentialSetting(2, 2, "A")
    kw = {"total_timesteps": 512, "n_envs": 64, "batch_size": 64, "hidden": 16, "layers": 1,
          "eval_every": 1, "n_log_eval": 256, "seed": 3}
    saved = {}

    def callback(step, metrics, state_fn):
        if step == 2:
            atomic_torch_save({"step": step, "state": state_fn()}, tmp_path / "ckpt.pt")
            saved["revenue"] = metrics["revenue"]

    full = ppo(s, callback=callback, **kw)
    torch.manual_seed(123)  # the global generators move on in between, as in a new process
    np.random.seed(123)  # noqa: NPY002 -- sb3 shuffles with numpy's global generator
    payload = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    resumed = ppo(s, resume=(payload["step"], payload["state"]), **kw)
    assert [r["step"] for r in resumed.history_] == [1, 2, 3, 4]
    assert resumed.history_[:2] == full.history_[:2]
    assert resumed.history_[1]["revenue"] == saved["revenue"]
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # and not by accident: a fresh run with another seed differs
    other = ppo(s, **{**kw, "seed": 4})
    assert not torch.equal(other.state_dict()["net.action_net.weight"],
                           full.state_dict()["net.action_net.weight"])
