"""External- and outcome-sampling MCCFR."""

import numpy as np
import pytest

from econcs.abcs import (
    CFR,
    MCCFR,
    CartPoleEnv,
    CartPoleLeducEnv,
    TreeEnv,
    exploitability,
    load_game,
)


@pytest.fixture(scope="module")
def kuhn():
    return load_game("kuhn_poker")


def test_external_sampling_converges_on_kuhn(kuhn):
    result = MCCFR(kuhn, sampling="external", seed=0).run(budget_nodes=150_000, eval_every_nodes=50_000)
    assert result.metric < 0.03
    assert result.nodes_touched >= 150_000
    nodes = [h["nodes_touched"] for h in result.history]
    assert nodes == sorted(nodes) and [n // 50_000 for n in nodes[:3]] == [1, 2, 3]
    assert result.history[-1]["exploitability"] == pytest.approx(result.metric)
    assert result.history[0]["exploitability"] > result.metric  # improves along the run


def test_outcome_sampling_converges_on_kuhn(kuhn):
    result = MCCFR(kuhn, sampling="outcome", seed=1).run(budget_nodes=150_000)
    assert result.metric < 0.06
    uniform = exploitability(kuhn, kuhn.uniform_policy())
    assert result.metric < uniform / 5


def test_seeded_runs_are_reproducible(kuhn):
    a = MCCFR(kuhn, sampling="external", seed=3).run(max_iter=200)
    b = MCCFR(kuhn, sampling="external", seed=3).run(max_iter=200)
    np.testing.assert_array_equal(a.policy.probs, b.policy.probs)
    c = MCCFR(kuhn, sampling="external", seed=4).run(max_iter=200)
    assert not np.array_equal(a.policy.probs, c.policy.probs)


def test_bad_input(kuhn):
    with pytest.raises(ValueError, match="sampling"):
        MCCFR(kuhn, sampling="chance")
    with pytest.raises(ValueError, match="epsilon"):
        MCCFR(kuhn, sampling="outcome", epsilon=1.5)
    with pytest.raises(ValueError, match="budget_nodes"):
        MCCFR(kuhn).run(budget_nodes=-5)
    with pytest.raises(ValueError, match="max_iter, budget_nodes"):
        MCCFR(kuhn).run()
    with pytest.raises(TypeError, match="game"):
        MCCFR(None)
    with pytest.raises(TypeError, match="game"):
        MCCFR("kuhn_poker", sampling="outcome")
    with pytest.raises(ValueError, match="sampling"):
        MCCFR(CartPoleEnv(), sampling="external")
    with pytest.raises(ValueError, match="two players"):
        MCCFR(TreeEnv(load_game("kuhn_poker", players=3)), sampling="outcome")


def test_outcome_sampling_on_an_environment_is_unbiased(kuhn):
    # with the regrets held at zero (both players uniform), the mean of the traverser's sampled
    # regret increments is the exact counterfactual regret (CFR's first update of player 0) and
    # the mean average-policy increment at player 1's nodes is sum_h chance(h) * own reach(h) *
    # sigma over the information set's histories h: CFR's increment (the same sum without
    # chance(h)) times 1/6, every Kuhn deal having probability 1/6
    exact = CFR(kuhn, variant="vanilla")
    exact.iterate()
    p0 = kuhn.infoset_player == 0
    solver = MCCFR(TreeEnv(kuhn), sampling="outcome", seed=0)
    n = 20_000
    regrets, cumulative = [], []
    for _ in range(n):
        solver.regrets[:] = 0.0
        solver.cumulative_policy[:] = 0.0
        solver._reach = 1.0
        state, _, _ = solver.env.reset(0, solver._env_policy_fn, solver.rng)
        solver._outcome_env(state, 0, 1.0)
        regrets.append(solver.regrets[p0].ravel())
        cumulative.append(solver.cumulative_policy[~p0].ravel())
    for samples, target in ((np.array(regrets), exact.regrets[p0].ravel()),
                            (np.array(cumulative), exact.cumulative_policy[~p0].ravel() / 6)):
        se = samples.std(axis=0) / np.sqrt(n)
        np.testing.assert_array_less(np.abs(samples.mean(axis=0) - target), 5 * se + 1e-9)
    assert np.abs(exact.regrets[p0]).max() > 0.1  # the check has something to find


def test_outcome_sampling_on_environments():
    kuhn = load_game("kuhn_poker")
    result = MCCFR(TreeEnv(kuhn), sampling="outcome", seed=0).run(budget_nodes=100_000)
    assert result.metric < 0.03 and result.policy is not None
    combined = MCCFR(CartPoleLeducEnv(), sampling="outcome", seed=0).run(budget_nodes=20_000,
                                                                eval_every_nodes=10_000)
    assert set(combined.metrics) == {"exploitability", "return"}
    assert combined.policy is None and 0.0 < combined.metric < 4.74722  # uniform Leduc: 4.747
    assert combined.metrics["return"] >= 8.0  # CartPole's uniform policy balances ~22 steps
    assert [h["step"] for h in combined.history][-1] == combined.iterations
    assert len(combined.history) == 2  # the boundaries at 10k and 20k; the last one is the final


def test_run_calls_the_shared_callback_and_budgets_are_keyword_only(kuhn):
    seen = []
    solver = MCCFR(kuhn, seed=0)
    result = solver.run(max_iter=5, callback=lambda step, metrics, state_fn: seen.append(
        (step, metrics["nodes_touched"], state_fn()["iteration"])))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5] == [i for _, _, i in seen]
    assert seen[-1][1] == result.nodes_touched
    with pytest.raises(TypeError):
        solver.run(5)
