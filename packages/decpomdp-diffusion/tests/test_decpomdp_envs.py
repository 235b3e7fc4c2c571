"""Environments: exact posteriors against brute-force enumeration, the PettingZoo API, bad input."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pettingzoo.test import parallel_api_test

from econcs.decpomdp_diffusion import (
    ENVIRONMENTS,
    DecPOMDPEnv,
    TabularDecPOMDP,
    grid_world,
    make_env,
    sensor_network,
)


def _random_env(n_agents, n_states=3, n_actions=2, n_obs=2, seed=0):
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.ones(n_states), size=(n_actions,) * n_agents + (n_states,))
    obs = rng.dirichlet(np.ones(n_obs), size=(n_agents, n_states))
    policy = rng.dirichlet(np.ones(n_actions), size=(n_agents, n_obs))
    env = TabularDecPOMDP(rng.dirichlet(np.ones(n_states)), trans, obs,
                          np.arange(n_states, dtype=float)[:, None])
    return env, policy


def _brute_force(env, policy, obs, actions, agent):
    """P(s_H | history) by summing the probability of every full trajectory (states and the
    unseen observations and actions of the other agents) consistent with the history."""
    n, horizon = env.n_agents, actions.shape[-1]
    others = [j for j in range(n) if j != agent] if agent is not None else []
    post = np.zeros(env.n_states)
    unseen = [itertools.product(range(env.n_obs), repeat=horizon + 1) for _ in others]
    hidden_obs = list(itertools.product(*[list(u) for u in unseen]))
    hidden_act = list(itertools.product(*[list(itertools.product(range(env.n_actions),
                                                                 repeat=horizon))
                                          for _ in others]))
    for states in itertools.product(range(env.n_states), repeat=horizon + 1):
        for h_obs in hidden_obs:
            for h_act in hidden_act:
                o = np.zeros((n, horizon + 1), dtype=int)
                a = np.zeros((n, horizon), dtype=int)
                if agent is None:
                    o[:], a[:] = obs, actions
                else:
                    o[agent], a[agent] = obs, actions
                    for k, j in enumerate(others):
                        o[j], a[j] = h_obs[k], h_act[k]
                p = env.initial[states[0]]
                for t in range(horizon + 1):
                    for i in range(n):
                        p *= env.observation[i, states[t], o[i, t]]
                    if t < horizon:
                        for i in range(n):
                            if i in others:  # the seen agents' own actions: a constant factor
                                p *= policy[i, o[i, t], a[i, t]]
                        p *= env.transition[tuple(a[:, t])][states[t], states[t + 1]]
                post[states[-1]] += p
    return post / post.sum()


@pytest.mark.parametrize(("n_agents", "agent"), [(2, None), (2, 0), (2, 1), (3, 1)])
def test_forward_filter_is_brute_force_enumeration(n_agents, agent):
    env, policy = _random_env(n_agents, seed=n_agents)
    hist = env.collect(4, 2, policy=policy, seed=1)
    if agent is None:
        got = env.posterior(hist.obs, hist.actions, policy=policy)
    else:
        got = env.posterior(hist.obs[:, agent], hist.actions[:, agent], agent=agent, policy=policy)
    for b in range(4):
        o = hist.obs[b] if agent is None else hist.obs[b, agent]
        a = hist.actions[b] if agent is None else hist.actions[b, agent]
        assert_allclose(got[b], _brute_force(env, policy, o, a, agent), rtol=1e-10, atol=1e-12)


def test_posterior_matches_the_empirical_frequency_of_the_state():
    env = sensor_network(2, gap=1, miss=0.2)
    hist = env.collect(40_000, 2, seed=3)
    post = env.posterior(hist.obs[:, 0], hist.actions[:, 0], agent=0)
    key = hist.obs[:, 0, :] @ np.array([25, 5, 1])
    target = np.bincount(key).argmax()  # the most common history
    rows = key == target
    freq = np.bincount(hist.states[rows, -1], minlength=env.n_states) / rows.sum()
    assert_allclose(freq, post[rows][0], atol=0.02)


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_co_envs_pin_down_the_state_and_non_co_envs_do_not(name):
    env = make_env(name, 2, **({"size": 2} if name.startswith("grid") else {}))
    hist = env.collect(300, 3, seed=0)
    joint = env.posterior(hist.obs, hist.actions)
    single = env.posterior(hist.obs[:, 0], hist.actions[:, 0], agent=0)
    p_true = joint[np.arange(300), hist.states[:, -1]]
    co = name in ("sensor", "grid")
    assert env.one_step_co == co
    if co:
        assert_allclose(p_true, 1.0)
    else:
        assert p_true.min() < 0.9
    assert single[np.arange(300), hist.states[:, -1]].mean() < 0.9  # one agent is unsure
    assert np.all(single[np.arange(300), hist.states[:, -1]] > 0)


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_pettingzoo_parallel_api(name):
    env = DecPOMDPEnv(make_env(name, 2, **({"size": 2} if name.startswith("grid") else {})), 5)
    parallel_api_test(env, num_cycles=20)
    obs, _ = env.reset(seed=4)
    assert env.state().shape == (env.model.state_dim,)
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())


def test_parallel_env_follows_the_model():
    env = DecPOMDPEnv(sensor_network(2), horizon=3)
    obs, infos = env.reset(seed=0)
    s = infos["agent_0"]["state"]
    assert_allclose(env.state(), env.model.features[s])
    for i, a in enumerate(env.agents):  # CO, deterministic sensors: the observation is the cell's
        assert env.model.observation[i, s, obs[a]] == 1.0


def test_collector_shapes_and_marginals():
    env = grid_world(2, size=2, slip=0.0)
    hist = env.collect(2000, 3, seed=0)
    assert hist.states.shape == (2000, 4) and hist.obs.shape == (2000, 2, 4)
    assert hist.actions.shape == (2000, 2, 3) and hist.horizon == 3
    freq = np.bincount(hist.actions.ravel(), minlength=5) / hist.actions.size
    assert_allclose(freq, 0.2, atol=0.02)
    assert_allclose(np.bincount(hist.states[:, 0], minlength=16) / 2000, 1 / 16, atol=0.02)
    again = env.collect(2000, 3, seed=0)
    assert np.array_equal(again.states, hist.states)
    assert hist.subset(slice(0, 5)).batch_size == 5


def test_bad_input():
    env = sensor_network(2)
    hist = env.collect(3, 2, seed=0)
    with pytest.raises(ValueError, match="env"):
        make_env("nope")
    with pytest.raises(ValueError, match="n_agents"):
        make_env("sensor", 0)
    with pytest.raises(ValueError, match="n_agents"):
        grid_world(4, size=3)
    with pytest.raises(ValueError, match="obs"):
        env.posterior(hist.obs[:, 0], hist.actions[:, 0])  # one agent's history, agent=None
    with pytest.raises(ValueError, match="obs, actions"):
        env.posterior(hist.obs, hist.actions[:, :, :1])
    with pytest.raises(ValueError, match="obs"):
        env.posterior(hist.obs + 10, hist.actions)
    with pytest.raises(TypeError, match="obs"):
        env.posterior(hist.obs.astype(float), hist.actions)
    with pytest.raises(ValueError, match="agent"):
        env.posterior(hist.obs[:, 0], hist.actions[:, 0], agent=2)
    with pytest.raises(ValueError, match="impossible"):
        bad = hist.obs.copy()
        bad[:, 0, 0], bad[:, 1, 0] = 0, 0  # both sensors see the target at once
        env.posterior(bad, hist.actions)
    with pytest.raises(ValueError, match="policy"):
        env.collect(3, 2, policy=np.ones((2, 5, 1)) * 0.5)
    with pytest.raises(ValueError, match="batch_size"):
        env.collect(0, 2)
    with pytest.raises(ValueError, match="features"):
        TabularDecPOMDP([1.0], np.ones((1, 1, 1)), np.ones((1, 1, 1)), [[np.nan]])
    with pytest.raises(ValueError, match="transition"):
        TabularDecPOMDP([0.5, 0.5], np.ones((1, 2, 2)), np.ones((1, 2, 1)), [[0.0], [1.0]])
    with pytest.raises(ValueError, match="initial"):
        TabularDecPOMDP([0.5, 0.6], np.eye(2)[None], np.ones((1, 2, 1)), [[0.0], [1.0]])
    with pytest.raises(ValueError, match="horizon"):
        DecPOMDPEnv(env, horizon=0)
    with pytest.raises(TypeError, match="model"):
        DecPOMDPEnv("sensor")
