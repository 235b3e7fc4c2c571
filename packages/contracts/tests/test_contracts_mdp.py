"""Principal-agent MDPs: exact SPE vs the tabular meta-algorithm, the Gymnasium env, bad input."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from econcs.contracts import (
    PrincipalAgentMDP,
    evaluate_contracts,
    make_tree_mdp,
    meta_algorithm,
    minimal_implementing_contracts,
    optimal_contract,
    solve_spe,
)


def _random_dag_mdp(seed, n_states=25, n_actions=3, n_outcomes=3, gamma=0.9):
    """Random acyclic MDP with stochastic transitions to later states."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(n_outcomes), size=(n_states, n_actions))
    trans = np.zeros((n_states, n_outcomes, n_states))
    for s in range(n_states - 3):
        for o in range(n_outcomes):
            nxt = rng.choice(np.arange(s + 1, n_states), size=2, replace=False)
            trans[s, o, nxt] = rng.dirichlet(np.ones(2))
    return PrincipalAgentMDP(probs, -rng.uniform(0, 0.5, (n_states, n_actions)),
                             rng.uniform(0, 1.5, (n_states, n_outcomes)), trans, 0, gamma)


@pytest.mark.parametrize(("depth", "seed"), [(2, 0), (4, 1), (6, 2), (8, 3), (8, 4), (10, 5)])
def test_meta_algorithm_equals_spe_on_trees(depth, seed):
    mdp = make_tree_mdp(depth, seed=seed)
    spe = solve_spe(mdp)
    meta = meta_algorithm(mdp)
    assert meta.converged and meta.iterations <= depth + 1  # Theorem 3.3: horizon + 1 rounds
    assert_allclose(meta.principal_utility, spe.principal_utility, atol=1e-6)
    assert_allclose(meta.principal_values, spe.principal_values, atol=1e-6)
    assert_allclose(meta.agent_utility, spe.agent_utility, atol=1e-6)
    assert (meta.actions == spe.actions).mean() > 0.99


def test_tree_spe_induces_high_effort_in_about_sixty_percent_of_states():
    share = np.mean([meta_algorithm(make_tree_mdp(8, seed=s)).actions.mean() for s in range(4)])
    assert 0.5 < share < 0.7  # the paper: ~60%


@pytest.mark.parametrize("seed", [0, 1])
def test_meta_algorithm_lp_equals_spe_three_actions(seed):
    mdp = _random_dag_mdp(seed)
    spe = solve_spe(mdp)
    meta = meta_algorithm(mdp)
    assert meta.converged
    assert_allclose(meta.principal_utility, spe.principal_utility, atol=1e-6)
    assert_allclose(meta.principal_values, spe.principal_values, atol=1e-6)


def test_single_state_equals_one_shot_contract():
    mdp = make_tree_mdp(1, seed=7)
    one = optimal_contract(mdp.outcome_probs[0], -mdp.agent_rewards[0], mdp.principal_rewards[0])
    spe = solve_spe(mdp)
    assert_allclose(spe.principal_utility, one.principal_utility, atol=1e-9)
    assert_allclose(spe.contracts[0], one.payments, atol=1e-9)


def test_depth_two_by_hand():
    # root: cost c0, reward g0; children leaves. Agent's Qbar includes the leaves' rents.
    mdp = make_tree_mdp(2, seed=3)
    leaf = [optimal_contract(mdp.outcome_probs[s], -mdp.agent_rewards[s],
                             mdp.principal_rewards[s]) for s in (1, 2)]
    probs = mdp.outcome_probs[0]
    vp_next = np.array([leaf[0].principal_utility, leaf[1].principal_utility])
    v_next = np.array([leaf[0].agent_utility, leaf[1].agent_utility])
    qbar = mdp.agent_rewards[0] + probs @ v_next
    best = -np.inf
    for a in range(2):  # two actions: pay on the outcome likelier under the target
        gap = qbar[1 - a] - qbar[a]
        d = probs[a] - probs[1 - a]
        o = int(np.argmax(d))
        pay = max(gap, 0.0) / d[o] * probs[a, o]
        best = max(best, probs[a] @ (mdp.principal_rewards[0] + vp_next) - pay)
    assert_allclose(solve_spe(mdp).principal_utility, best, atol=1e-9)


def test_discounted_cyclic_mdp_fixed_point():
    rng = np.random.default_rng(11)
    n_s, n_a, n_o = 6, 2, 3
    probs = rng.dirichlet(np.ones(n_o), size=(n_s, n_a))
    trans = rng.dirichlet(np.ones(n_s), size=(n_s, n_o))
    mdp = PrincipalAgentMDP(probs, -rng.uniform(0, 0.5, (n_s, n_a)),
                            rng.uniform(0, 1, (n_s, n_o)), trans, 0, 0.8)
    with pytest.raises(ValueError, match="acyclic"):
        solve_spe(mdp)
    res = meta_algorithm(mdp, tol=1e-12)
    assert res.converged
    # SPE check: at every state no other target beats the chosen one (one-shot deviation)
    _, expected, feasible = minimal_implementing_contracts(probs, res.agent_qbar)
    cont = np.einsum("sao,so->sa", probs, trans @ res.principal_values)
    qp = np.where(feasible, np.einsum("sao,so->sa", probs, mdp.principal_rewards) - expected
                  + mdp.gamma * cont, -np.inf)
    assert_allclose(res.principal_values, qp.max(1), atol=1e-8)
    # and the agent follows every recommendation
    ev = evaluate_contracts(mdp, res.contracts, res.actions)
    assert (ev.actions == res.actions).all()


def test_evaluate_contracts_zero_contract_gives_effortless_agent():
    mdp = make_tree_mdp(5, seed=0)
    ev = evaluate_contracts(mdp, np.zeros((mdp.n_states, 2)))
    assert (ev.actions == 0).all()  # a1 costs the agent and pays nothing
    # principal utility: 0.1 chance of o1 at each level along the path
    assert ev.principal_utility > 0 and ev.agent_utility == 0.0


# payments live in [0, max_payment], not in the [-1, 1] box check_env recommends for SB3
@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space:UserWarning")
def test_gymnasium_env_follows_the_arrays():
    from gymnasium.utils.env_checker import check_env

    mdp = make_tree_mdp(3, seed=0)
    env = mdp.to_env()
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    total, steps, done = 0.0, 0, False
    while not done:
        obs2, rew, term, trunc, info = env.step({"contract": np.array([0.0, 0.3]), "action": 1})
        o = info["outcome"]
        assert_allclose(rew, mdp.principal_rewards[obs, o] - [0.0, 0.3][o])
        assert_allclose(info["agent_reward"], mdp.agent_rewards[obs, 1] + [0.0, 0.3][o])
        if not term:
            assert obs2 == 2 * obs + 1 + o
        total, steps, done, obs = total + rew, steps + 1, term or trunc, obs2
    assert steps == 3


# bad input ----------------------------------------------------------------------------------
def test_env_rejects_negative_payments():
    env = make_tree_mdp(2, seed=0).to_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"contract.*>= 0"):
        env.step({"contract": np.array([-0.1, 0.3]), "action": 1})
    with pytest.raises(ValueError, match="contract"):
        env.step({"contract": np.array([0.1, 0.3, 0.2]), "action": 1})
    with pytest.raises(ValueError, match="action"):
        env.step({"contract": np.array([0.1, 0.3]), "action": 5})


def test_mdp_validation():
    mdp = make_tree_mdp(2, seed=0)
    args = dict(outcome_probs=mdp.outcome_probs, agent_rewards=mdp.agent_rewards,
                principal_rewards=mdp.principal_rewards, transitions=mdp.transitions)
    bad = dict(args, outcome_probs=mdp.outcome_probs * 0.9)
    with pytest.raises(ValueError, match=r"outcome_probs.*sum"):
        PrincipalAgentMDP(**bad)
    bad_t = mdp.transitions.copy()
    bad_t[0, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"transitions.*T\[0, 0\]"):
        PrincipalAgentMDP(**dict(args, transitions=bad_t))
    with pytest.raises(ValueError, match="agent_rewards"):
        PrincipalAgentMDP(**dict(args, agent_rewards=np.zeros((3, 3))))
    with pytest.raises(ValueError, match="principal_rewards"):
        PrincipalAgentMDP(**dict(args, principal_rewards=np.zeros((2, 2))))
    with pytest.raises(ValueError, match="transitions"):
        PrincipalAgentMDP(**dict(args, transitions=np.zeros((3, 2, 4))))
    with pytest.raises(ValueError, match="gamma"):
        PrincipalAgentMDP(**args, gamma=1.5)
    with pytest.raises(ValueError, match="initial_state"):
        PrincipalAgentMDP(**args, initial_state=3)
    with pytest.raises(ValueError, match="agent_rewards"):
        PrincipalAgentMDP(**dict(args, agent_rewards=np.full((3, 2), np.nan)))
    with pytest.raises(ValueError, match="depth"):
        make_tree_mdp(0)
    with pytest.raises(TypeError, match="depth"):
        make_tree_mdp(2.5)


def test_solvers_reject_bad_arguments():
    mdp = make_tree_mdp(2, seed=0)
    with pytest.raises(ValueError, match=r"contracts.*>= 0"):
        evaluate_contracts(mdp, -np.ones((3, 2)))
    with pytest.raises(ValueError, match="contracts"):
        evaluate_contracts(mdp, np.ones((3, 3)))
    with pytest.raises(TypeError, match="mdp"):
        solve_spe("tree")
    with pytest.raises(ValueError, match="max_iter"):
        meta_algorithm(mdp, max_iter=0)
    with pytest.raises(ValueError, match="qbar"):
        minimal_implementing_contracts(mdp.outcome_probs, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="method"):
        minimal_implementing_contracts(mdp.outcome_probs, np.zeros((3, 2)), method="simplex")


def test_value_iteration_warns_at_max_iter_with_the_shared_warning():
    import econcs.contracts
    import econcs.shared

    assert econcs.contracts.ConvergenceWarning is econcs.shared.ConvergenceWarning
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(3), size=(6, 2))
    trans = rng.dirichlet(np.ones(6), size=(6, 3))
    mdp = PrincipalAgentMDP(probs, -rng.uniform(0, 0.5, (6, 2)), rng.uniform(0, 1, (6, 3)),
                            trans, 0, 0.99)
    with pytest.warns(econcs.shared.ConvergenceWarning) as caught:
        evaluate_contracts(mdp, np.zeros((6, 3)), max_iter=3)
    assert [str(w.message).split(":")[0] for w in caught] == [
        "agent best response", "principal policy evaluation"]
    with pytest.warns(econcs.shared.ConvergenceWarning, match="meta_algorithm"):
        res = meta_algorithm(mdp, max_iter=1)
    assert not res.converged and res.status == "max_iter"
