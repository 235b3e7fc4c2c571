"""External- and outcome-sampling MCCFR."""

import numpy as np
import pytest

from econcs.abcs import MCCFR, exploitability, load_game


@pytest.fixture(scope="module")
def kuhn():
    return load_game("kuhn_poker")


def test_external_sampling_converges_on_kuhn(kuhn):
    result = MCCFR(kuhn, "external", seed=0).run(budget_nodes=150_000, eval_every_nodes=50_000)
    assert result.metric < 0.03
    assert result.nodes_touched >= 150_000
    assert [h[0] for h in result.history][:3] == sorted(h[0] for h in result.history[:3])
    assert result.history[-1][1] == pytest.approx(result.metric)
    assert result.history[0][1] > result.metric  # improves along the run


def test_outcome_sampling_converges_on_kuhn(kuhn):
    result = MCCFR(kuhn, "outcome", seed=1).run(budget_nodes=150_000)
    assert result.metric < 0.06
    uniform = exploitability(kuhn, kuhn.uniform_policy())
    assert result.metric < uniform / 5


def test_seeded_runs_are_reproducible(kuhn):
    a = MCCFR(kuhn, "external", seed=3).run(max_iter=200)
    b = MCCFR(kuhn, "external", seed=3).run(max_iter=200)
    np.testing.assert_array_equal(a.policy.probs, b.policy.probs)
    c = MCCFR(kuhn, "external", seed=4).run(max_iter=200)
    assert not np.array_equal(a.policy.probs, c.policy.probs)


def test_bad_input(kuhn):
    with pytest.raises(ValueError, match="sampling"):
        MCCFR(kuhn, "chance")
    with pytest.raises(ValueError, match="epsilon"):
        MCCFR(kuhn, "outcome", epsilon=1.5)
    with pytest.raises(ValueError, match="budget_nodes"):
        MCCFR(kuhn).run(budget_nodes=-5)
    with pytest.raises(ValueError, match="max_iter, budget_nodes"):
        MCCFR(kuhn).run()
    with pytest.raises(TypeError, match="game"):
        MCCFR(None)
