"""Social Environment Design, learning parts: agents that learn their best responses, the
principal's grid / UCB / Thompson design step against the closed forms, the SED loop (divergence
budget, voting, callback, resume), parameters and bad input."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.contracts.social import (
    AgentLearnerParams,
    CommonPoolResource,
    IndependentLearners,
    Objective,
    PrincipalParams,
    SEDParams,
    TaxEconomy,
    design,
    run_sed,
)

SKILLS = [1.0, 2.0, 3.0, 4.0]
TAXES = torch.linspace(0, 1, 21, dtype=torch.float64)[:, None]  # grid step 0.05
STEP = 0.05
F64 = torch.float64


def _exact_optimum(eco, objective, n=2801):
    fine = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    out = eco.outcome(eco.best_response(fine), fine)
    return float(fine[objective(out["utility"], out["income"]).argmax(), 0])


def test_agents_learn_their_best_responses():
    eco = TaxEconomy(SKILLS, cost=0.5)
    learners = IndependentLearners(eco, TAXES, seed=0)
    start = learners.actions().clone()
    learners.learn(steps=150)
    br = eco.best_response(TAXES).float()
    inner = TAXES[:, 0] <= 0.8  # near t = 1 the best response sits on the bound l = 0
    assert (start - br)[inner].abs().max() > 0.5  # they did not start there
    assert_allclose(learners.actions()[inner], br[inner], atol=0.02)


def test_agents_adam_is_per_context_adam_with_a_decaying_step():
    # an independent Adam, written out: per-context moments, bias correction and step
    # lr / sqrt(1 + updates / lr_decay), on the learner's own draws (float64)
    eco = TaxEconomy(SKILLS, cost=0.5)
    taxes = TAXES[[0, 6, 9, 15]]
    learners = IndependentLearners(eco, taxes, seed=4, batch_size=8, lr_decay=3.0,
                                   dtype=torch.float64)
    p, gen = learners.params, torch.Generator().manual_seed(0)
    gen.set_state(learners.generator.get_state())
    mean, m, v = (torch.full((4, 4), p.init, dtype=F64), torch.zeros(4, 4, dtype=F64),
                  torch.zeros(4, 4, dtype=F64))
    t, rebate = torch.zeros(4, dtype=F64), torch.zeros(4, p.batch_size, dtype=F64)
    for idx, steps in (([0, 1], 3), ([1], 2), ([3, 0], 2), ([2, 1, 3], 1)):
        learners.learn(idx, steps)
        idx = torch.tensor(idx)
        for _ in range(steps):
            half = torch.randn(len(idx), p.batch_size // 2, 4, generator=gen, dtype=F64)
            share = (mean[idx, None] + p.sigma * torch.cat([half, -half], 1)).clamp(0, 1)
            paid = rebate[idx]
            reward, revenue = eco.step(share * eco.action_high, taxes[idx, None].expand(
                -1, p.batch_size, -1), paid)
            rebate[idx] = revenue
            reward = reward - paid[..., None]
            h = p.batch_size // 2
            g = ((reward[:, :h] - reward[:, h:]) / 2 * half).mean(1) / p.sigma
            lr = p.lr / (1 + t[idx, None] / p.lr_decay).sqrt()
            t[idx] += 1
            m[idx] = 0.9 * m[idx] + 0.1 * g
            v[idx] = p.beta2 * v[idx] + (1 - p.beta2) * g**2
            m_hat = m[idx] / (1 - 0.9 ** t[idx, None])
            v_hat = v[idx] / (1 - p.beta2 ** t[idx, None])
            mean[idx] = (mean[idx] + lr * m_hat / (v_hat.sqrt() + 1e-8)).clamp(0, 1)
        assert_allclose(learners.mean, mean, rtol=0, atol=1e-12)
    assert learners.updates.tolist() == t.long().tolist() == [5, 6, 1, 3]


def test_agents_learn_the_common_pool_nash_and_the_pigouvian_tax_moves_it_to_36():
    cpr = CommonPoolResource()
    learners = IndependentLearners(cpr, [[0.0], [cpr.pigouvian_tax()]], seed=1)
    learners.learn(steps=400)
    total = learners.actions().sum(-1)
    assert_allclose(total[0], 64.0, atol=2.5)  # Nash, 8 each
    assert_allclose(total[1], 36.0, atol=2.5)  # the group optimum


@pytest.mark.parametrize("objective", [Objective("utilitarian"), Objective("egalitarian"),
                                       Objective("nash"), Objective("eta_mix", eta=0.3),
                                       Objective("equality_productivity")])
def test_grid_principal_lands_within_one_grid_step_of_the_closed_form(objective):
    eco = TaxEconomy(SKILLS, cost=0.5)
    exact = {"utilitarian": 0.0, "egalitarian": 13 / 28}.get(objective.name)
    exact = _exact_optimum(eco, objective) if exact is None else exact
    learners = IndependentLearners(eco, TAXES, seed=2)
    res = design(learners, objective, max_iter=21, agent_steps=80)
    assert abs(float(TAXES[res.index, 0]) - exact) <= STEP + 1e-9
    assert res.iterations == 21 and (res.counts == 1).all()


@pytest.mark.parametrize("method", ["ucb", "thompson", "gradient"])
def test_bandit_principals_find_the_maximin_tax(method):
    eco = TaxEconomy(SKILLS, cost=0.5)
    grid = TAXES[::2]  # step 0.1
    learners = IndependentLearners(eco, grid, seed=3)
    res = design(learners, Objective("egalitarian"), method=method, max_iter=24, agent_steps=40,
                 seed=3)
    assert abs(float(grid[res.index, 0]) - 13 / 28) <= 0.1 + 1e-9
    assert res.iterations == 24 and res.counts.sum() == 24
    # the pulls beyond the first sweep go mostly to the good candidates
    assert res.counts[4] + res.counts[5] >= 3
    # the running (Welford) statistics equal the ones recomputed from every pull
    arms = np.array([h["arm"] for h in res.history])
    obs = np.array([h["observation"] for h in res.history])
    assert_allclose(res.counts, np.bincount(arms, minlength=grid.shape[0]))
    assert_allclose(res.means, [obs[arms == a].mean() for a in range(grid.shape[0])],
                    rtol=1e-12)
    if method == "gradient":  # the softmax policy concentrates on its choice
        assert res.policy.shape == (11,) and res.policy[res.index] > 0.5
        assert_allclose(res.policy.sum(), 1.0)


def test_principal_sets_the_pigouvian_tax_in_the_commons():
    cpr = CommonPoolResource()
    grid = torch.linspace(0, 15.75, 17, dtype=torch.float64)[:, None]  # 7.875 is index 8
    learners = IndependentLearners(cpr, grid, seed=4)
    res = design(learners, Objective("utilitarian"), max_iter=17, agent_steps=300)
    # the closed form exactly: the neighbours (7.875 -+ 0.98) lose 3.06 of welfare 1324
    assert_allclose(float(grid[res.index, 0]), cpr.pigouvian_tax(), atol=1e-9)
    assert_allclose(float(learners.actions([res.index]).sum()), cpr.optimal_total(), atol=1.0)


def test_sed_loop_respects_the_divergence_budget_and_converges():
    eco = TaxEconomy(SKILLS, cost=0.5)
    res = run_sed(eco, TAXES, rounds=4, objective="egalitarian", delta=0.2, play_steps=20,
                  principal=PrincipalParams(max_iter=1, agent_steps=60))
    taxes = np.concatenate([[0.0], res.phi[:, 0]])
    assert (np.abs(np.diff(taxes)) <= 0.2 + 1e-9).all()
    assert_allclose(res.phi[:2, 0], [0.2, 0.4], atol=1e-9)  # as far as the budget allows
    assert (np.abs(res.phi[2:, 0] - 13 / 28) <= STEP).all()  # then next to the maximin tax
    assert [h["closed_form_tax"] for h in res.history] == pytest.approx([0.2, 0.4, 0.45, 0.45])
    assert all(h["gap_to_closed_form"] <= STEP + 1e-9 for h in res.history)
    assert res.elected == ("egalitarian",) * 4 and res.rounds == 4
    assert res.history[-1]["welfare"] > res.history[0]["welfare"]


def test_sed_loop_elects_by_vote():
    eco = TaxEconomy(SKILLS, cost=0.5)
    small = PrincipalParams(max_iter=1, agent_steps=60)
    # sincere voters: the two most skilled agents rank utilitarian first, the least skilled
    # egalitarian: plurality elects utilitarian (tax 0); Borda the compromise, Nash
    plur = run_sed(eco, TAXES, rounds=1, voting="plurality", principal=small)
    assert plur.elected == ("utilitarian",) and plur.phi[0, 0] == 0.0
    borda = run_sed(eco, TAXES, rounds=1, voting="borda", principal=small)
    assert borda.elected == ("nash",)
    assert abs(borda.phi[0, 0] - _exact_optimum(eco, Objective("nash"))) <= STEP
    med = run_sed(eco, TAXES, rounds=1, voting="median", etas=(0.1, 0.2, 0.2, 0.9),
                   principal=small)
    assert med.elected == ("eta_mix(0.2)",)
    assert med.objectives == (Objective("eta_mix", eta=0.2),)  # the object, not its label


def test_sed_loop_resume_matches_an_uninterrupted_run():
    eco = TaxEconomy(SKILLS, cost=0.5)
    kw = dict(rounds=3, objective="nash", delta=0.15, play_steps=10,
              principal=PrincipalParams(method="thompson", max_iter=6, agent_steps=10))
    states = {}
    full = run_sed(eco, TAXES, seed=5, callback=lambda s, m, fn: states.update({s: fn()}), **kw)
    resumed = run_sed(eco, TAXES, seed=5, resume=(1, states[1]), **kw)
    assert_allclose(resumed.phi, full.phi)
    assert_allclose(resumed.actions, full.actions)
    assert resumed.history == full.history and len(full.history) == 3


def test_parameters_and_bad_input():
    eco = TaxEconomy(SKILLS, cost=0.5)
    with pytest.raises(ValueError, match="delta"):
        SEDParams(delta=-0.1)
    with pytest.raises(ValueError, match="voting"):
        SEDParams(voting="dictator")
    with pytest.raises(ValueError, match="objective"):
        SEDParams(objective="rawlsian")
    with pytest.raises(ValueError, match="candidates"):
        SEDParams(candidates=("utilitarian", "utilitarian"))
    with pytest.raises(ValueError, match="batch_size"):
        AgentLearnerParams(batch_size=3)
    with pytest.raises(ValueError, match="method"):
        PrincipalParams(method="ppo")
    with pytest.raises(TypeError, match="roundz"):
        run_sed(eco, TAXES, roundz=2)
    with pytest.raises(ValueError, match="delta"):
        run_sed(eco, TAXES, phi0=[0.52], delta=0.0)
    with pytest.raises(ValueError, match=r"etas: expected one reported eta per agent \(4\)"):
        run_sed(eco, TAXES, etas=(0.5, 0.5))
    with pytest.raises(ValueError, match="tax"):
        IndependentLearners(eco, [[1.5]])
    with pytest.raises(ValueError, match="candidates"):
        design(IndependentLearners(eco, TAXES), Objective("nash"), [30])
    with pytest.raises(TypeError, match="objective"):
        design(IndependentLearners(eco, TAXES), 3)
    with pytest.raises(ValueError, match="objective"):
        design(IndependentLearners(eco, TAXES), "rawlsian")
    with pytest.raises(ValueError, match="tax"):  # a candidate tax outside [0, 1]
        run_sed(eco, [[0.0], [1.5]])
    with pytest.raises(ValueError, match="labour"):
        eco.step(torch.ones(3), [0.1])
    with pytest.raises(ValueError, match="invest"):
        CommonPoolResource().step(torch.ones(2, 3), [1.0])
    with pytest.raises(ValueError, match="n_agents"):
        CommonPoolResource(n_agents=0)
    with pytest.raises(ValueError, match="eta"):
        Objective("eta_mix", 1.5)
