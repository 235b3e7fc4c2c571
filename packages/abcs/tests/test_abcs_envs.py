"""Environments: tabular MDPs (exact model), CartPole dynamics, weighted RPS, the combined env."""

import gymnasium as gym
import numpy as np
import pytest

from econcs.abcs import (
    CFR,
    CartPoleEnv,
    CartPoleLeducEnv,
    TreeEnv,
    exploitability,
    load_game,
    make_env,
    make_mdp,
    weighted_rps,
)
from econcs.abcs._cartpole import _cartpole_infosets, _cartpole_step, _cartpole_step_batch
from econcs.shared import ConvergenceWarning


def test_value_iteration_known_optima():
    assert make_mdp("CliffWalking").optimal_return() == pytest.approx(-13.0, abs=1e-9)
    assert make_mdp("FrozenLake", is_slippery=False).optimal_return() == pytest.approx(1.0)
    lake = make_mdp("FrozenLake")
    v, pol = lake.value_iteration()
    # 4x4 slippery FrozenLake, gamma = 1: optimal success probability from the start is 14/17
    # with no time limit; within the 100-step TimeLimit the optimal stationary policy reaches 0.7402
    assert v[0] == pytest.approx(14 / 17, abs=1e-8)
    assert lake.optimal_return() == pytest.approx(0.7402, abs=1e-4)
    np.testing.assert_array_equal(pol.argmax(axis=1)[[0, 1, 2, 3, 14]], [0, 3, 3, 3, 1])
    assert lake.policy_return(np.full((16, 4), 0.25)) < 0.05
    np.testing.assert_allclose(pol.sum(axis=1), 1.0)


def test_value_iteration_warns_at_max_iter():
    lake = make_mdp("FrozenLake")
    with pytest.warns(ConvergenceWarning, match="FrozenLake"):
        v, _ = lake.value_iteration(max_iter=3)
    assert v[0] < 14 / 17  # three sweeps: far from the optimum, and said so


def test_mdp_sampling_matches_model():
    lake = make_mdp("FrozenLake")
    rng = np.random.default_rng(0)
    nxt = [lake.step((0, 0), 1, 0, None, rng)[0][0] for _ in range(3000)]
    freq = np.bincount(nxt, minlength=16)[[0, 1, 4]] / 3000
    np.testing.assert_allclose(freq, [1 / 3, 1 / 3, 1 / 3], atol=0.04)
    with pytest.raises(ValueError, match="policy"):
        lake.policy_return(np.ones((3, 4)))
    with pytest.raises(ValueError, match="name"):
        make_mdp("MountainCar")


def test_tabular_mdp_bad_input():
    from econcs.abcs import TabularMDP

    p = np.ones((2, 1, 1))
    nxt = np.zeros((2, 1, 1), dtype=int)
    ok = dict(probs=p, next_states=nxt, rewards=np.zeros((2, 1, 1)),
              dones=np.ones((2, 1, 1), bool), initial=np.array([1.0, 0.0]), max_steps=5)
    assert TabularMDP(**ok).optimal_return() == 0.0
    with pytest.raises(ValueError, match="probs"):
        TabularMDP(**{**ok, "probs": np.full((2, 1, 1), 0.5)})
    with pytest.raises(ValueError, match="probs"):
        TabularMDP(**{**ok, "probs": np.ones((2, 1))})
    with pytest.raises(ValueError, match="rewards"):
        TabularMDP(**{**ok, "rewards": np.full((2, 1, 1), np.nan)})
    with pytest.raises(ValueError, match="next_states"):
        TabularMDP(**{**ok, "next_states": np.full((2, 1, 1), 7)})
    with pytest.raises(ValueError, match="initial"):
        TabularMDP(**{**ok, "initial": np.array([1.0])})
    with pytest.raises(ValueError, match="max_steps"):
        TabularMDP(**{**ok, "max_steps": -1})
    with pytest.raises(ValueError, match="dones"):
        TabularMDP(**{**ok, "dones": np.ones((1, 1, 1), bool)})


def test_cartpole_dynamics_equal_gymnasium():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    state = tuple(float(x) for x in env.unwrapped.state)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = int(rng.integers(2))
        obs, _, term, _, _ = env.step(a)
        state, our_term = _cartpole_step(state, a)
        np.testing.assert_allclose(state, obs, rtol=1e-5, atol=1e-6)
        assert our_term == term
        if term:
            break
    env.close()
    cp = CartPoleEnv()
    assert cp.infoset(((0.0, 0.0, 0.0, 0.0), 0)) == 5 + 50 + 500 + 5000
    assert cp.infoset(((-3.0, 3.5, -1.0, 2.5), 0)) == 0 + 9 * 10 + 0 + 9 * 1000
    with pytest.raises(ValueError, match="term_prob"):
        CartPoleEnv(term_prob=-0.1)


def test_cartpole_batched_evaluation_equals_scalar_rollouts():
    rng = np.random.default_rng(1)
    states = rng.uniform([-3, -4, -0.6, -3], [3, 4, 0.6, 3], size=(500, 4))
    actions = rng.integers(0, 2, 500)
    nxt, term = _cartpole_step_batch(states, actions)
    cp = CartPoleEnv()
    for k in range(0, 500, 7):
        ref, ref_term = _cartpole_step(tuple(states[k]), int(actions[k]))
        np.testing.assert_allclose(nxt[k], ref, rtol=1e-12, atol=1e-15)
        assert bool(term[k]) == ref_term
        assert _cartpole_infosets(states[k:k + 1])[0] == cp.infoset((tuple(states[k]), 0))
    # a deterministic policy: the batched evaluation equals scalar rollouts from the same starts
    table = np.zeros((cp.n_infosets, 2))
    table[np.arange(cp.n_infosets), ((np.arange(cp.n_infosets) // 1000) % 10 >= 5).astype(int)] = 1
    starts = np.random.default_rng(7).uniform(-0.05, 0.05, size=(40, 4))
    lengths = []
    for s in starts:
        s, n = tuple(s), 0
        for _ in range(200):
            s, t = _cartpole_step(s, int(np.argmax(table[cp.infoset((s, 0))])))
            n += 1
            if t:
                break
        lengths.append(n)
    assert cp.evaluate(table, np.random.default_rng(7), episodes=40) == pytest.approx(
        np.mean(lengths), abs=1e-12)
    assert 30 < np.mean(lengths) <= 200  # pushing against theta_dot balances for a while
    with pytest.raises(ValueError, match="policy"):
        cp.evaluate(np.ones((10, 2)), rng)


def test_weighted_rps_equilibrium():
    game = weighted_rps()
    nash = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    assert exploitability(game, nash) == pytest.approx(0.0, abs=1e-12)
    result = CFR(game).run(max_iter=2000)
    np.testing.assert_allclose(result.policy.probs, nash, atol=0.02)


def test_tree_env_oracle_and_chance_sampling():
    kuhn = TreeEnv(load_game("kuhn_poker"))
    g = kuhn.game
    # player 0's first bet/pass: player 1 moves next -> non-stationary
    first = g.infoset[np.flatnonzero(g.player == 0)[0]]
    assert not kuhn.oracle_stationary(first, 0)
    # a player-1 decision that ends the game (pass after pass) is stationary
    i1 = g.infoset_index["0p"]
    assert kuhn.oracle_stationary(i1, 0)
    rng = np.random.default_rng(0)
    starts = [kuhn.reset(0, lambda i: 0, rng)[0] for _ in range(3000)]
    counts = np.unique(starts, return_counts=True)[1] / 3000
    np.testing.assert_allclose(counts, 1 / 6, atol=0.03)


def test_combined_env_and_make_env():
    env = CartPoleLeducEnv()
    rng = np.random.default_rng(0)
    state, _, _ = env.reset(0, lambda i: int(env.legal(i)[0]), rng)
    assert state[0] == "c" and env.infoset(state) < env.offset
    total, done = 0.0, False
    while not done:
        i = env.infoset(state)
        state, r, done, trunc = env.step(state, int(env.legal(i)[0]), 0,
                                         lambda j: int(env.legal(j)[0]), rng)
        total += r
        done = done or trunc
    assert total >= 1.0
    assert env.oracle_stationary(0, 0)
    assert isinstance(make_env("CartPole"), CartPoleEnv)
    with pytest.raises(TypeError, match="name"):
        make_env(5)
