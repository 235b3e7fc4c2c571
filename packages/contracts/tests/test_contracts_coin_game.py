"""Coin Game: dynamics, the PettingZoo API, the planner's optimum, training and resume."""

import itertools

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.contracts._coin_game import (
    CoinGameEnv,
    CoinGameState,
    coin_game_observe,
    coin_game_optimal_welfare,
    coin_game_reset,
    coin_game_step,
)
from econcs.contracts._coin_principal import CoinGameTrainer
from econcs.contracts._coin_spe import coin_game_spe
from econcs.contracts._experiments import EXPERIMENTS, CoinGameConfig
from econcs.shared.experiments import ConfigError, config_from_overrides, run_experiment

UP, DOWN, LEFT, RIGHT = range(4)


def _state(pos, coin, color, size=3, max_steps=20):
    t = torch.zeros(len(pos), dtype=torch.long)
    return CoinGameState(torch.tensor(pos), torch.tensor(coin), torch.tensor(color), t, size,
                         max_steps)


def test_rewards_and_torus_moves():
    gen = torch.Generator().manual_seed(0)
    # red moves right onto its own coin; blue moves up (wraps around the torus)
    st = _state([[[0, 0], [0, 2]]], [[0, 1]], [0])
    rew, done, own, other = coin_game_step(st, torch.tensor([[RIGHT, UP]]), gen)
    assert_allclose(rew.numpy(), [[1.0, 0.0]])
    assert st.pos[0, 1].tolist() == [2, 2]
    assert own.tolist() == [[True, False]] and not done.any()
    # the new coin never lies under an agent
    assert not (st.pos[0] == st.coin[0]).all(-1).any()
    # blue takes red's coin: +0.2 for blue, no penalty for red
    st = _state([[[2, 2], [1, 0]]], [[1, 1]], [0])
    rew, _, own, other = coin_game_step(st, torch.tensor([[UP, RIGHT]]), gen)
    assert_allclose(rew.numpy(), [[0.0, 0.2]])
    assert other.tolist() == [[False, True]]
    # both reach it together: both collect
    st = _state([[[1, 0], [1, 2]]], [[1, 1]], [1])
    rew, *_ = coin_game_step(st, torch.tensor([[RIGHT, LEFT]]), gen)
    assert_allclose(rew.numpy(), [[0.2, 1.0]])


def test_spawn_noise_gives_common_coins():
    # red (cell 0) steps right onto its coin (cell 1), blue (cell 4) steps down to cell 7;
    # free cells are then 0, 2, 3, 4, 5, 6, 8 and the noise picks the k-th, k = floor(7 u)
    noise = torch.tensor([[0.0, 0.2], [0.5, 0.7], [0.999, 0.1]])
    coins = []
    for seed in (0, 5):  # the generator's own draws do not matter
        st = _state([[[0, 0], [1, 1]]] * 3, [[0, 1]] * 3, [0, 0, 0])
        rew, *_ = coin_game_step(st, torch.tensor([[RIGHT, DOWN]] * 3),
                                 torch.Generator().manual_seed(seed), spawn_noise=noise)
        assert_allclose(rew.numpy(), [[1.0, 0.0]] * 3)
        coins.append(((st.coin[:, 0] * 3 + st.coin[:, 1]).tolist(), st.color.tolist()))
    assert coins[0] == coins[1] == ([0, 4, 8], [0, 1, 0])


def test_episode_ends_and_resets():
    gen = torch.Generator().manual_seed(1)
    st = coin_game_reset(4, 3, 5, gen)
    for k in range(5):
        _, done, *_ = coin_game_step(st, torch.zeros(4, 2, dtype=torch.long), gen)
        assert bool(done.all()) == (k == 4)
    assert (st.t == 0).all()


def test_observations_are_egocentric():
    st = _state([[[0, 0], [2, 1]]], [[1, 1]], [1])
    obs = coin_game_observe(st)[0]
    assert obs[0, 0, 0, 0] == 1 and obs[0, 1, 2, 1] == 1 and obs[0, 3, 1, 1] == 1
    assert torch.equal(obs[1], obs[0][[1, 0, 3, 2]])
    assert obs.sum().item() == 6


def test_centered_observations_roll_the_torus():
    # 5x5: red at (0, 4), blue at (1, 0), blue coin at (4, 4). Red's centred view puts red at
    # the centre (2, 2), blue one row down and one column right (across the wrap), the coin one
    # row up; blue's view puts blue at the centre, red one row up and one column left.
    st = _state([[[0, 4], [1, 0]]], [[4, 4]], [1], size=5, max_steps=10)
    red, blue = coin_game_observe(st, centered=True)[0]
    assert red[0, 2, 2] == 1 and red[1, 3, 3] == 1 and red[3, 1, 2] == 1
    assert blue[0, 2, 2] == 1 and blue[1, 1, 1] == 1 and blue[2, 0, 1] == 1
    assert red.sum() == blue.sum() == 3
    # a translation of the whole board on the torus leaves the centred views unchanged
    gen = torch.Generator().manual_seed(0)
    base = coin_game_reset(64, 7, 50, gen)
    move = torch.randint(0, 7, (64, 1, 2), generator=gen)
    moved = CoinGameState((base.pos + move) % 7, (base.coin + move[:, 0]) % 7, base.color,
                          base.t, 7, 50)
    assert torch.equal(coin_game_observe(base, centered=True),
                       coin_game_observe(moved, centered=True))
    assert not torch.equal(coin_game_observe(base), coin_game_observe(moved))
    env = CoinGameEnv(size=5, max_steps=10, centered=True)
    obs, _ = env.reset(seed=1)
    assert obs["red"][0, 2, 2] == 1 and obs["blue"][0, 2, 2] == 1


def test_planner_optimum_one_step_by_enumeration():
    # exact: every start state (weighted as coin_game_reset draws them), best of 16 joint actions
    size, cells = 3, range(9)
    states = [(p1, p2, c, col) for p1, p2 in itertools.product(cells, cells)
              for c in cells if c not in (p1, p2) for col in (0, 1)]
    weights = np.array([1.0 / (81 * 2 * (9 - len({p1, p2}))) for p1, p2, _, _ in states])
    rc = lambda i: [i // size, i % size]  # noqa: E731
    best = np.full(len(states), -np.inf)
    gen = torch.Generator().manual_seed(0)
    for a1, a2 in itertools.product(range(4), range(4)):
        st = _state([[rc(p1), rc(p2)] for p1, p2, _, _ in states], [rc(c) for *_, c, _ in states],
                    [col for *_, col in states], size, 1)
        rew, *_ = coin_game_step(st, torch.tensor([[a1, a2]] * len(states)), gen)
        best = np.maximum(best, rew.sum(-1).numpy())
    assert_allclose(coin_game_optimal_welfare(3, 1), best @ weights, atol=1e-9)


def test_planner_optimum_bounds_random_play():
    gen = torch.Generator().manual_seed(2)
    st = coin_game_reset(2000, 3, 20, gen)
    total = torch.zeros(2000)
    for _ in range(20):
        act = torch.randint(0, 4, (2000, 2), generator=gen)
        rew, *_ = coin_game_step(st, act, gen, auto_reset=False)
        total += rew.sum(-1)
    opt = coin_game_optimal_welfare(3, 20)
    assert float(total.mean()) < opt
    assert 15.0 < opt < 16.5


def test_pettingzoo_parallel_api():
    from pettingzoo.test import parallel_api_test

    env = CoinGameEnv(size=3, max_steps=20)
    parallel_api_test(env, num_cycles=50)
    obs, _ = env.reset(seed=3)
    assert set(obs) == {"red", "blue"} and obs["red"].shape == (4, 3, 3)
    for _ in range(20):
        obs, _, _, trunc, _ = env.step({"red": 0, "blue": 1})
    assert all(trunc.values()) and env.agents == []


def test_env_bad_input():
    env = CoinGameEnv(size=3, max_steps=5)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"red": 0, "blue": 0})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step({"red": 0})
    with pytest.raises(ValueError, match="actions"):
        env.step({"red": 0, "blue": 7})
    with pytest.raises(ValueError, match="size"):
        CoinGameEnv(size=1)
    with pytest.raises(TypeError, match="max_steps"):
        CoinGameEnv(size=3, max_steps=2.5)


def test_spe_one_step_by_enumeration():
    # one step, alpha = 1: the principal picks the joint action maximising welfare minus the
    # minimal payments max_a r_i(a, a_-i) - r_i(a_i, a_-i), enumerated over all start states
    size, cells = 3, range(9)
    states = [(p1, p2, c, col) for p1, p2 in itertools.product(cells, cells)
              for c in cells if c not in (p1, p2) for col in (0, 1)]
    weights = np.array([1.0 / (81 * 2 * (9 - len({p1, p2}))) for p1, p2, _, _ in states])
    rc = lambda i: [i // size, i % size]  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    rew = np.zeros((4, 4, len(states), 2))
    for a1, a2 in itertools.product(range(4), range(4)):
        st = _state([[rc(p1), rc(p2)] for p1, p2, _, _ in states], [rc(c) for *_, c, _ in states],
                    [col for *_, col in states], size, 1)
        rew[a1, a2] = coin_game_step(st, torch.tensor([[a1, a2]] * len(states)), gen)[0].numpy()
    pay = (rew[..., 0].max(0, keepdims=True) - rew[..., 0]
           + rew[..., 1].max(1, keepdims=True) - rew[..., 1])
    value = (rew.sum(-1) - pay).reshape(16, -1)
    best = value.argmax(0)
    welfare = rew.sum(-1).reshape(16, -1)[best, np.arange(len(states))] @ weights
    paid = pay.reshape(16, -1)[best, np.arange(len(states))] @ weights
    spe = coin_game_spe(3, 1, alpha=1.0)
    assert_allclose([spe.welfare, spe.payments], [welfare, paid], atol=1e-9)
    assert paid == 0  # one step: nothing is worth paying for (pays from step 2 on, see below)
    assert_allclose(spe.principal_utility, spe.welfare - spe.payments, atol=1e-9)


def test_spe_tends_to_the_planner_optimum():
    # a principal that values welfare far above payments implements the planner's optimum;
    # a costlier one gives up welfare to pay less
    opt = coin_game_optimal_welfare(3, 20)
    cheap, dear = coin_game_spe(3, 20, alpha=1e-6), coin_game_spe(3, 20, alpha=1.0)
    assert_allclose(cheap.welfare, opt, atol=1e-9)
    assert dear.welfare < opt and 0 < dear.payments < cheap.payments
    assert 0 < cheap.payment_share < 0.05  # this variant pays ~1% of welfare at the SPE
    with pytest.raises(ValueError, match="alpha"):
        coin_game_spe(3, 20, alpha=0.0)


def _trainer(mode, max_iter, **kw):
    return CoinGameTrainer(mode, size=3, max_steps=20, max_iter=max_iter, n_envs=16,
                           generator=torch.Generator().manual_seed(0),
                           init_generator=torch.Generator().manual_seed(1), **kw)


def test_principal_learns_to_collect_coins():
    tr = _trainer("principal", 250, lr=2e-3, target_every=50)
    before = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    tr.train()
    after = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    assert after.welfare > before.welfare + 3.0
    assert after.payments >= 0 and after.follow_rate == 1.0  # agents follow by construction


def test_evaluation_is_paired_and_reports_its_standard_error():
    a, b = _trainer("selfish", 1), _trainer("cooperative", 1)
    ra = a.evaluate(256, generator=torch.Generator().manual_seed(3))
    ra2 = a.evaluate(256, generator=torch.Generator().manual_seed(3))
    rb = b.evaluate(256, generator=torch.Generator().manual_seed(3))
    assert ra.episode_welfare == ra2.episode_welfare  # reproducible
    w = np.asarray(ra.episode_welfare)
    assert len(w) == 256 and ra.welfare == pytest.approx(w.mean(), abs=1e-5)
    assert_allclose(ra.welfare_se, w.std(ddof=1) / 16, rtol=1e-5)
    assert ra.welfare_se > 0 and rb.episodes == 256


def test_double_dqn_and_lr_decay():
    tr = _trainer("principal", 60, lr=1e-3, lr_final=1e-4, batch_size=32, double=True,
                  polyak=0.9)
    tr.train()
    res = tr.evaluate(16, generator=torch.Generator().manual_seed(0))  # averaged networks
    assert res.follow_rate == 1.0 and tr.agent is not tr.averaged["agent"]
    assert_allclose(tr.optimizer.param_groups[0]["lr"], 1e-3 + 59 / 60 * (1e-4 - 1e-3))
    with pytest.raises(ValueError, match="lr_final"):
        CoinGameTrainer(lr_final=0.0)
    with pytest.raises(TypeError, match="double"):
        CoinGameTrainer(double="yes")


def test_joint_principal_is_symmetric_and_learns():
    tr = _trainer("principal", 250, lr=2e-3, target_every=50, principal_value="joint")
    obs = coin_game_observe(coin_game_reset(8, 3, 20, torch.Generator().manual_seed(4)))
    with torch.no_grad():
        g = tr._joint_values(obs, tr.principal)  # (B, a_red, a_blue)
        swapped = tr._joint_values(obs[:, [1, 0]], tr.principal)  # blue plays red's role
    assert_allclose(swapped.numpy(), g.transpose(1, 2).numpy(), atol=1e-6)
    before = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    tr.train()
    after = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    assert after.welfare > before.welfare + 3.0


def test_trainer_bad_input():
    with pytest.raises(ValueError, match="mode"):
        CoinGameTrainer("altruist")
    with pytest.raises(ValueError, match="principal_value"):
        CoinGameTrainer(principal_value="qmix")
    with pytest.raises(ValueError, match="alpha"):
        CoinGameTrainer(alpha=0.0)
    with pytest.raises(ValueError, match="beta"):
        CoinGameTrainer("constant", beta=-0.1)
    with pytest.raises(ConfigError, match="size"):
        config_from_overrides(CoinGameConfig, ["size=1"])
    with pytest.raises(ConfigError, match="max_iter"):
        config_from_overrides(CoinGameConfig, ["max_iter=-5"])
    with pytest.raises(ConfigError, match="n_heads"):
        config_from_overrides(CoinGameConfig, ["n_heads=3", "double=true"])
    with pytest.raises(ConfigError, match="confidence"):
        config_from_overrides(CoinGameConfig, ["confidence=-1"])
    with pytest.raises(ConfigError, match="time_limit"):
        config_from_overrides(CoinGameConfig, ["time_limit=never"])
    with pytest.raises(ValueError, match="time_limit"):
        CoinGameTrainer(time_limit="never")
    assert config_from_overrides(CoinGameConfig, ["size=7"]).max_steps == 50


def test_coin_experiment_resume_gives_identical_metrics(tmp_path, monkeypatch):
    exp = next(e for e in EXPERIMENTS.experiments if e.name == "contracts.coin-game")
    cfg = config_from_overrides(exp.config, dict(
        size=3, max_iter=25, n_envs=8, batch_size=32, buffer_size=2000, baselines=True,
        optimum=False, eval_episodes=16, checkpoint_every=45))
    full = run_experiment(exp, cfg, seed=1, device="cpu", out_dir=tmp_path / "a")
    # kill a second run at global step 95: its last checkpoint is step 90, mid-way through the
    # 4th learner (each learner trains 25 iterations)
    original, calls = CoinGameTrainer.step, {"n": 0}

    def dying_step(self):
        calls["n"] += 1
        if calls["n"] > 95:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(CoinGameTrainer, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, cfg, seed=1, device="cpu", out_dir=tmp_path / "b")
    monkeypatch.setattr(CoinGameTrainer, "step", original)
    resumed = run_experiment(exp, cfg, seed=1, device="cpu", resume_dir=tmp_path / "b")
    assert full.metrics == resumed.metrics
    # principal >= selfish, up to two paired standard errors of the evaluation
    ref = full.references["welfare"]
    assert ref.relation == "ge" and ref.value == full.metrics["welfare_selfish"]
    assert ref.atol == pytest.approx(2 * full.metrics["gain_over_selfish_se"])
    assert set(full.metrics) >= {"welfare", "payment_share", "welfare_selfish",
                                 "welfare_cooperative", "welfare_constant"}


@pytest.mark.parametrize("size", [3, 7])
def test_ensemble_heads_share_the_trunk(size):
    from econcs.contracts._networks import _ConvQEnsemble, _ConvQNet

    ens = _ConvQEnsemble(size, 4, 3, torch.Generator().manual_seed(0))
    obs = coin_game_observe(coin_game_reset(8, size, 20, torch.Generator().manual_seed(1)))
    x = obs.flatten(0, 1)
    with torch.no_grad():
        out = ens(x)  # (16, heads, 4)
        assert out.shape == (16, 3, 4)
        for k in range(3):  # head k = a _ConvQNet with the shared trunk and head k's layers
            net = _ConvQNet(size, 4, torch.Generator())
            net.conv.weight.copy_(ens.conv_w)
            net.conv.bias.copy_(ens.conv_b)
            net.fc1.weight.copy_(ens.w1[:, 64 * k:64 * (k + 1)].T)
            net.fc1.bias.copy_(ens.b1[64 * k:64 * (k + 1)])
            for layer, w, b in ((net.fc2, ens.w2, ens.b2), (net.out, ens.w3, ens.b3)):
                layer.weight.copy_(w[k].T)
                layer.bias.copy_(b[k, 0])
            assert_allclose(net(x).numpy(), out[:, k].numpy(), atol=1e-5)
        assert not torch.allclose(out[:, 0], out[:, 1])  # heads start apart


def test_ensemble_principal_overrides_only_on_a_confident_gain():
    tr = _trainer("principal", 1, n_heads=4, confidence=0.0)
    obs = coin_game_observe(coin_game_reset(256, 3, 20, torch.Generator().manual_seed(5)))
    with torch.no_grad():
        rec, pay, value, qbar = tr._recommend(obs, tr.agent, tr.principal)
        g = tr.principal(obs.flatten(0, 1)).view(256, 2, 4, 4)  # (B, agent, head, action)
    fav = qbar.argmax(-1)
    # confidence 0: the best mean value net of alpha * payment (the favourite costs nothing)
    assert torch.equal(rec, (g.mean(2) - tr.params.alpha * pay).argmax(-1))
    assert (rec != fav).any() and (rec == fav).any()
    # the target value of each head: its value of the recommended joint action, net of payments
    picked = g.gather(-1, rec[:, :, None, None].expand(-1, -1, 4, 1))[..., 0]
    assert_allclose(value.numpy(),
                    (picked - tr.params.alpha * pay.gather(-1, rec[..., None])).sum(1).numpy(),
                    atol=1e-6)
    # a higher confidence only removes overrides; an infinite one recommends the favourites
    tr.params = tr.params.replace(confidence=1.0)
    with torch.no_grad():
        rec1 = tr._recommend(obs, tr.agent, tr.principal)[0]
    assert (rec1 != fav).sum() < (rec != fav).sum()
    assert bool(((rec1 == fav) | (rec1 == rec)).all())
    tr.params = tr.params.replace(confidence=1e9)
    with torch.no_grad():
        assert torch.equal(tr._recommend(obs, tr.agent, tr.principal)[0], fav)


def test_ensemble_principal_learns():
    tr = _trainer("principal", 200, lr=3e-3, target_every=50, batch_size=64, n_heads=3,
                  confidence=1.0, polyak=0.9)
    before = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    tr.train()
    after = tr.evaluate(128, generator=torch.Generator().manual_seed(9))
    assert after.welfare > before.welfare + 3.0
    assert after.follow_rate == 1.0 and tr.principal is not tr.averaged["principal"]
    with pytest.raises(ValueError, match="n_heads"):
        CoinGameTrainer(n_heads=0)
    with pytest.raises(ValueError, match="n_heads"):
        CoinGameTrainer(n_heads=3, principal_value="joint")
    with pytest.raises(ValueError, match="n_heads"):
        CoinGameTrainer(n_heads=3, double=True)
    with pytest.raises(ValueError, match="confidence"):
        CoinGameTrainer(confidence=-1.0)


@pytest.mark.parametrize("time_limit", ["terminate", "truncate"])
def test_time_limit_stores_the_last_state(time_limit):
    tr = CoinGameTrainer("selfish", size=3, max_steps=3, max_iter=10, n_envs=4, batch_size=8,
                         buffer_size=64, time_limit=time_limit, centered=False,  # positions
                         generator=torch.Generator().manual_seed(0),
                         init_generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        tr._collect(1.0)
    done = tr.buf_done[:12].view(3, 4)
    assert not done[:2].any()
    assert done[2].tolist() == [1.0 if time_limit == "terminate" else 0.0] * 4
    assert (tr.state.t == 0).all()  # the games were reset
    # the stored next observation is where the last move led, not the reset state
    obs, nxt, act = tr.buf_obs[8:12, 0, 0], tr.buf_next[8:12, 0, 0], tr.buf_act[8:12, 0]
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    for b in range(4):
        r, c = divmod(int(obs[b].flatten().argmax()), 3)
        dr, dc = moves[int(act[b])]
        assert nxt[b, (r + dr) % 3, (c + dc) % 3] == 1

