"""CFR presets against OpenSpiel's solvers (same iterates) and the Kuhn value."""

import numpy as np
import pyspiel
import pytest
from open_spiel.python.algorithms import cfr as os_cfr
from open_spiel.python.algorithms import discounted_cfr

from econcs.abcs import CFR, Policy, exploitability, load_game, policy_value, regret_matching

SOLVERS = {
    "vanilla": os_cfr.CFRSolver,
    "cfr+": os_cfr.CFRPlusSolver,
    "linear": discounted_cfr.LCFRSolver,
    "dcfr": discounted_cfr.DCFRSolver,
}


@pytest.fixture(scope="module")
def kuhn():
    return load_game("kuhn_poker")


@pytest.fixture(scope="module")
def leduc():
    return load_game("leduc_poker")


@pytest.mark.parametrize("variant", list(SOLVERS))
def test_same_iterates_as_openspiel_python_kuhn(kuhn, variant):
    ours, theirs = CFR(kuhn, variant=variant), SOLVERS[variant](kuhn.pyspiel_game)
    for _ in range(12):
        ours.iterate()
        theirs.evaluate_and_update_policy()
        ref = Policy.from_openspiel(theirs.average_policy(), kuhn).probs
        np.testing.assert_allclose(ours.average_policy().probs, ref, atol=1e-9, rtol=0)
        cur = Policy.from_openspiel(theirs.current_policy(), kuhn).probs
        np.testing.assert_allclose(ours.current_policy().probs, cur, atol=1e-9, rtol=0)


@pytest.mark.parametrize("variant", ["vanilla", "cfr+"])
def test_same_iterates_as_openspiel_python_leduc(leduc, variant):
    ours, theirs = CFR(leduc, variant=variant), SOLVERS[variant](leduc.pyspiel_game)
    for _ in range(3):
        ours.iterate()
        theirs.evaluate_and_update_policy()
    ref = Policy.from_openspiel(theirs.average_policy(), leduc).probs
    np.testing.assert_allclose(ours.average_policy().probs, ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("variant,cls", [("vanilla", pyspiel.CFRSolver),
                                         ("cfr+", pyspiel.CFRPlusSolver)])
def test_same_iterates_as_openspiel_cpp_leduc(leduc, variant, cls):
    ours, theirs = CFR(leduc, variant=variant), cls(leduc.pyspiel_game)
    result = ours.run(max_iter=100)
    for _ in range(100):
        theirs.evaluate_and_update_policy()
    ref = Policy.from_openspiel(theirs.tabular_average_policy(), leduc).probs
    np.testing.assert_allclose(result.policy.probs, ref, atol=1e-9, rtol=0)
    e_ref = pyspiel.exploitability(leduc.pyspiel_game, theirs.average_policy())
    assert abs(exploitability(leduc, result.policy) - e_ref) < 1e-9
    assert result.iterations == 100 and result.nodes_touched == 100 * 2 * leduc.n_nodes


def test_kuhn_value(kuhn):
    result = CFR(kuhn).run(max_iter=1000, eval_every=500)
    np.testing.assert_allclose(policy_value(kuhn, result.policy)[0], -1 / 18, atol=1e-3)
    assert result.exploitability < 2e-3
    assert [h["step"] for h in result.history] == [500, 1000]
    assert result.history[-1]["exploitability"] == result.exploitability
    assert result.history[-1]["nodes_touched"] == 1000 * 2 * kuhn.n_nodes


def test_regret_matching():
    r = np.array([[1.0, 3.0, -2.0], [-1.0, -1.0, 5.0], [0.0, 0.0, 0.0]])
    mask = np.array([[True, True, True], [True, True, False], [True, False, True]])
    np.testing.assert_allclose(regret_matching(r, mask),
                               [[0.25, 0.75, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])


def test_bad_input(kuhn):
    with pytest.raises(ValueError, match="variant"):
        CFR(kuhn, variant="cfr++")
    with pytest.raises(TypeError, match="game"):
        CFR("kuhn_poker")
    with pytest.raises(ValueError, match="max_iter"):
        CFR(kuhn).run(max_iter=-1)
    with pytest.raises(ValueError, match="eval_every"):
        CFR(kuhn).run(max_iter=1, eval_every=-2)


def test_three_player_kuhn_same_iterates():
    game = load_game("kuhn_poker", players=3)
    ours, theirs = CFR(game), os_cfr.CFRSolver(game.pyspiel_game)
    for _ in range(5):
        ours.iterate()
        theirs.evaluate_and_update_policy()
    ref = Policy.from_openspiel(theirs.average_policy(), game).probs
    np.testing.assert_array_equal(ours.average_policy().probs, ref)


@pytest.mark.parametrize("variant", ["vanilla", "cfr+", "linear"])
def test_fast_sequence_form_pass_agrees(leduc, variant):
    exact, fast = CFR(leduc, variant=variant), CFR(leduc, variant=variant, exact=False)
    exact.run(max_iter=20)
    fast.run(max_iter=20)
    np.testing.assert_allclose(fast.average_policy().probs, exact.average_policy().probs,
                               atol=1e-9, rtol=0)
    with pytest.raises(TypeError, match="exact"):
        CFR(leduc, variant=variant, exact="yes")


def test_run_calls_the_shared_callback(kuhn):
    seen = []
    solver = CFR(kuhn)
    solver.run(max_iter=4, eval_every=2,
               callback=lambda step, metrics, state_fn: seen.append((step, dict(metrics),
                                                                     state_fn())))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4]
    assert "exploitability" in seen[1][1] and "exploitability" not in seen[0][1]
    assert seen[3][2]["iteration"] == 4
    other = CFR(kuhn)
    other.load_state_dict(seen[1][2])
    other.run(max_iter=2)
    np.testing.assert_array_equal(other.average_policy().probs, solver.average_policy().probs)
    with pytest.raises(TypeError):
        solver.run(10)  # budgets are keyword-only
