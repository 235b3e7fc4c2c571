"""One-shot contracts: HiGHS LPs against closed forms, brute force and bad input."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from econcs.contracts import (
    agent_best_response,
    minimal_contracts_two_actions,
    minimal_implementing_contracts,
    optimal_contract,
)


def test_two_by_two_closed_form():
    # pay cost / (p_high - p_low) on the good outcome only
    p_low, p_high, cost, reward = 0.3, 0.7, 0.2, 1.5
    res = optimal_contract([[1 - p_low, p_low], [1 - p_high, p_high]], [0.0, cost], [0.0, reward])
    t = cost / (p_high - p_low)
    assert res.action == 1
    assert_allclose(res.payments, [0.0, t], atol=1e-9)
    assert_allclose(res.principal_utility, p_high * reward - p_high * t, atol=1e-9)
    assert_allclose(res.agent_utility, p_high * t - cost, atol=1e-9)  # limited-liability rent
    assert_allclose(res.action_payments[0], [0.0, 0.0], atol=1e-12)
    assert res.implementable.all()


def test_two_by_two_low_action_when_reward_small():
    res = optimal_contract([[0.9, 0.1], [0.1, 0.9]], [0.0, 0.5], [0.0, 0.6])
    # high: 0.9 * 0.6 - 0.9 * 0.5 / 0.8 < 0.1 * 0.6
    assert res.action == 0
    assert_allclose(res.principal_utility, 0.06, atol=1e-9)
    assert_allclose(res.payments, 0.0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_two_actions_many_outcomes_likelihood_ratio(seed):
    # with two actions the optimum pays only on the outcome with the best likelihood ratio
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(5), size=2)
    cost = np.array([0.0, rng.uniform(0.1, 0.5)])
    res = optimal_contract(probs, cost, rng.uniform(0, 3, 5))
    diff = probs[1] - probs[0]
    o = np.argmax(np.where(diff > 0, diff / probs[1], -1))
    expected_pay = cost[1] * probs[1, o] / diff[o]
    assert_allclose(res.expected_payments[1], expected_pay, rtol=1e-7)
    assert_allclose(res.expected_payments[0], 0.0, atol=1e-9)


def test_lp_matches_brute_force_three_actions():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])
    cost = np.array([0.0, 0.1, 0.3])
    rewards = np.array([0.0, 1.0, 2.0])
    res = optimal_contract(probs, cost, rewards)
    grid = np.linspace(0, 2, 81)
    b = np.array(list(itertools.product(grid, repeat=3)))  # (81**3, 3)
    util = b @ probs.T - cost  # (N, n_actions)
    tied = util >= util.max(1, keepdims=True) - 1e-12
    val = np.where(tied, probs @ rewards - b @ probs.T, -np.inf)  # ties: principal's favour
    best = val.max()
    assert res.principal_utility >= best - 1e-9
    assert res.principal_utility <= best + 0.03  # the grid step is 0.025
    # IC of the LP contract holds exactly
    util = probs @ res.payments - cost
    assert util[res.action] >= util.max() - 1e-8


def test_unimplementable_action_reported():
    # action 1 has the same outcome distribution as action 0 but costs more: no contract works
    res = optimal_contract([[0.5, 0.5], [0.5, 0.5]], [0.0, 0.2], [0.0, 5.0])
    assert res.implementable.tolist() == [True, False]
    assert np.isinf(res.expected_payments[1]) and np.isnan(res.action_payments[1]).all()
    assert res.action == 0


def test_margin_makes_preference_strict():
    probs, cost = [[0.8, 0.2], [0.2, 0.8]], [0.0, 0.3]
    res = optimal_contract(probs, cost, [0.0, 2.0], margin=0.06)
    util = np.asarray(probs) @ res.payments - np.asarray(cost)
    assert_allclose(util[1] - util[0], 0.06, atol=1e-9)
    assert_allclose(res.payments[1], 0.36 / 0.6, atol=1e-9)


def test_closed_form_matches_lp_random():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=(40, 2))
    qbar = rng.normal(size=(40, 2))
    _, exp_cf, feas_cf = minimal_implementing_contracts(probs, qbar, margin=0.01)
    _, exp_lp, feas_lp = minimal_implementing_contracts(probs, qbar, margin=0.01,
                                                             method="lp")
    assert (feas_cf == feas_lp).all()
    assert_allclose(exp_cf[feas_cf], exp_lp[feas_lp], rtol=1e-7, atol=1e-9)


def test_closed_form_torch_batch():
    torch = pytest.importorskip("torch")
    probs = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]], dtype=torch.float64)
    pay, expected, feasible = minimal_contracts_two_actions(probs, torch.tensor([[0.0, -0.4]]))
    assert_allclose(pay[0, 1].numpy(), [0.0, 0.5], atol=1e-12)
    assert_allclose(expected.numpy(), [[0.0, 0.45]], atol=1e-12)
    assert feasible.all()


def test_agent_best_response_ties_go_to_preferred():
    probs, cost = [[0.9, 0.1], [0.1, 0.9]], [0.0, 0.4]
    assert agent_best_response(probs, cost, [0.0, 0.5], preferred=1) == 1
    assert agent_best_response(probs, cost, [0.0, 0.5], preferred=0) == 0
    assert agent_best_response(probs, cost, [0.0, 0.49], preferred=1) == 0


# bad input --------------------------------------------------------------------------------------
def test_rows_not_summing_to_one():
    with pytest.raises(ValueError, match=r"outcome_probs.*sum"):
        optimal_contract([[0.5, 0.4], [0.2, 0.8]], [0.0, 0.1], [0.0, 1.0])


def test_costs_wrong_length():
    with pytest.raises(ValueError, match="costs"):
        optimal_contract([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1, 0.2], [0.0, 1.0])


def test_rewards_wrong_length():
    with pytest.raises(ValueError, match="principal_rewards"):
        optimal_contract([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1], [0.0, 1.0, 2.0])


def test_probs_wrong_ndim_and_nan_and_type():
    with pytest.raises(ValueError, match="outcome_probs"):
        optimal_contract([0.5, 0.5], [0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="costs"):
        optimal_contract([[0.5, 0.5], [0.2, 0.8]], [0.0, np.nan], [0.0, 1.0])
    with pytest.raises(TypeError, match="principal_rewards"):
        optimal_contract([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1], "abc")
    with pytest.raises(ValueError, match="outcome_probs"):
        optimal_contract(np.zeros((0, 2)), [], [0.0, 1.0])


def test_negative_probability_and_margin():
    with pytest.raises(ValueError, match="outcome_probs"):
        optimal_contract([[1.2, -0.2], [0.2, 0.8]], [0.0, 0.1], [0.0, 1.0])
    with pytest.raises(ValueError, match="margin"):
        optimal_contract([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1], [0.0, 1.0], margin=-1.0)


def test_closed_form_bad_shapes():
    with pytest.raises(ValueError, match="outcome_probs"):
        minimal_contracts_two_actions(np.full((3, 2), 0.5), np.zeros(3))
    with pytest.raises(ValueError, match="qbar"):
        minimal_contracts_two_actions(np.full((4, 2, 2), 0.5), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="margin"):
        minimal_contracts_two_actions(np.full((2, 2), 0.5), np.zeros(2), margin=-1.0)


def test_negative_payments_rejected():
    with pytest.raises(ValueError, match=r"payments.*>= 0"):
        agent_best_response([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1], [-0.1, 1.0])
    with pytest.raises(ValueError, match="payments"):
        agent_best_response([[0.5, 0.5], [0.2, 0.8]], [0.0, 0.1], [0.1, 1.0, 2.0])
