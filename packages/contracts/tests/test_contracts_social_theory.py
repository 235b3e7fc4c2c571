"""Social Environment Design, exact parts: voting rules on textbook profiles, the objectives, the
tax economy's and the common-pool resource game's closed forms, the PettingZoo environment, and
bad input."""

import itertools

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.contracts.social import (
    CommonPoolResource,
    EconomyEnv,
    Objective,
    TaxEconomy,
    condorcet_winner,
    gini,
    impartial_culture,
    pairwise_margins,
    rankings_from_utilities,
    single_peaked_ballots,
    vote,
    weighted_median,
)

# Tennessee capital: 0 Memphis, 1 Nashville, 2 Chattanooga, 3 Knoxville, by geography
TENNESSEE = np.array([[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 1, 0], [3, 2, 1, 0]])
TENNESSEE_SHARES = np.array([42.0, 26.0, 15.0, 17.0])
CYCLE = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
F64 = torch.float64


# voting ------------------------------------------------------------------------------------------
def test_tennessee_capital():
    def winner(rule):
        return vote(rule, TENNESSEE, TENNESSEE_SHARES).winner

    assert winner("plurality") == 0  # Memphis, 42%
    assert winner("borda") == 1  # Nashville 194 points
    assert_allclose(vote("borda", TENNESSEE, TENNESSEE_SHARES).scores, [126, 194, 173, 107])
    assert condorcet_winner(TENNESSEE, TENNESSEE_SHARES) == 1
    assert winner("condorcet") == 1 and winner("copeland") == 1
    irv = vote("irv", TENNESSEE, TENNESSEE_SHARES)
    assert irv.winner == 3 and irv.eliminated == (2, 1)  # Chattanooga, then Nashville out
    assert_allclose(irv.scores[3], 58.0)


def test_three_voter_cycle_has_no_condorcet_winner_and_a_borda_tie():
    assert condorcet_winner(CYCLE) is None
    assert vote("condorcet", CYCLE).winner is None
    assert vote("borda", CYCLE).tied == (0, 1, 2)
    assert vote("copeland", CYCLE).tied == (0, 1, 2)
    p = pairwise_margins(CYCLE)
    assert_allclose(p + p.T + np.eye(3) * 3, np.full((3, 3), 3.0))  # every pair: 2-1


def test_single_peaked_median_is_the_condorcet_winner():
    positions = np.linspace(0.0, 1.0, 11)  # candidate values of eta
    rng = np.random.default_rng(0)
    for n_voters in (1, 3, 7, 25):
        peaks = rng.uniform(0, 1, n_voters)
        ballots = single_peaked_ballots(peaks, positions)
        cw = condorcet_winner(ballots)
        # the median voter's favourite candidate beats every other one
        fav = ballots[:, 0]
        med = weighted_median(positions[fav])
        assert cw is not None and positions[cw] == med


def test_plurality_borda_approval_and_mean_against_brute_force():
    rng = np.random.default_rng(1)
    ballots = impartial_culture(9, 4, rng=rng)
    assert (np.sort(ballots, axis=1) == np.arange(4)).all()
    w = rng.uniform(0.5, 2.0, 9)
    first = np.array([w[ballots[:, 0] == c].sum() for c in range(4)])
    assert_allclose(vote("plurality", ballots, w).scores, first)
    borda = np.zeros(4)
    for v, k in itertools.product(range(9), range(4)):
        borda[ballots[v, k]] += w[v] * (3 - k)
    assert_allclose(vote("borda", ballots, w).scores, borda)
    approve = ballots.argsort(axis=1) < 2  # approve the top two
    res = vote("approval", approve, w)
    assert_allclose(res.scores, approve.T.astype(float) @ w)
    assert res.winner == int(np.argmax(approve.T.astype(float) @ w))
    assert vote("mean", [0.2, 0.4, 0.9], [1, 1, 2]).value == pytest.approx(0.6)
    assert vote("median", [0.2, 0.4, 0.9], [1, 1, 2]).value == 0.4


def test_irv_with_a_first_round_majority_and_sincere_ballots():
    assert vote("irv", [[1, 0, 2]] * 3 + [[0, 1, 2]] * 2).winner == 1
    assert vote("irv", [[1, 0, 2]] * 3 + [[0, 1, 2]] * 2).eliminated == ()
    assert rankings_from_utilities([[1.0, 3.0, 2.0], [0.0, 0.0, 1.0]]).tolist() == \
        [[1, 2, 0], [2, 0, 1]]


def test_voting_bad_input():
    with pytest.raises(ValueError, match="rule"):
        vote("dictator", TENNESSEE)
    with pytest.raises(ValueError, match=r"ballots.*repeats"):
        vote("borda", [[0, 0, 1]])
    with pytest.raises(ValueError, match="ballots"):
        vote("borda", [0, 1, 2])  # not 2-D
    with pytest.raises(ValueError, match="ballots"):
        vote("plurality", [[0, 1, 5]])
    with pytest.raises(ValueError, match="weights"):
        vote("plurality", TENNESSEE, [1.0, 2.0])
    with pytest.raises(ValueError, match="weights"):
        vote("plurality", TENNESSEE, [1.0, -2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="ballots"):
        vote("approval", [[0.5, 1.0]])
    with pytest.raises(ValueError, match="ballots"):
        vote("median", [0.1, np.nan])
    with pytest.raises(ValueError, match="positions"):
        single_peaked_ballots([0.1], [0.0, 0.0])
    with pytest.raises(ValueError, match="ballots"):
        vote("borda", [[[0, 1]]])  # 3-D
    with pytest.raises((ValueError, TypeError), match="ballots"):
        vote("borda", [[0, 1], [1]])  # ragged
    with pytest.raises(ValueError, match="ballots"):
        vote("irv", [[]])


# objectives --------------------------------------------------------------------------------------
def test_objectives_and_gini():
    u = torch.tensor([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]], dtype=F64)
    assert_allclose(Objective("utilitarian")(u), [7.0, 9.0])
    assert_allclose(Objective("egalitarian")(u), [1.0, 3.0])
    assert_allclose(Objective("nash")(u), [2.0, 3.0])
    assert_allclose(Objective("eta_mix", eta=0.25)(u), [0.25 * 7 + 0.75, 0.25 * 9 + 0.75 * 3])
    assert Objective("nash")(torch.tensor([0.0, 5.0])).item() == 0.0
    # Gini with the n/(n-1) normalisation: mean |x_i - x_j| over ordered pairs i != j / (2 mean)
    x = np.array([1.0, 2.0, 4.0])
    pairs = np.abs(x[:, None] - x[None, :]).sum() / (3 * 2)
    assert_allclose(gini(x), pairs / (2 * x.mean()))
    assert_allclose(gini([0.0, 0.0, 5.0]), 1.0)
    eq = Objective("equality_productivity")
    assert_allclose(eq(u[0]), (1 - pairs / (2 * x.mean())) * 7.0)
    assert_allclose(eq([1.0, 1.0], incomes=[0.0, 2.0]), 0.0)
    with pytest.raises(ValueError, match="objective"):
        Objective("rawlsian")
    with pytest.raises(ValueError, match="eta"):
        Objective("eta_mix")
    with pytest.raises(ValueError, match="eta"):
        Objective("eta_mix", eta=1.5)
    with pytest.raises(ValueError, match="eta"):
        Objective("utilitarian", eta=0.5)


# the tax economy ---------------------------------------------------------------------------------
def _fine_optimum(eco: TaxEconomy, objective: Objective, n: int = 28 * 40 + 1) -> float:
    taxes = torch.linspace(0, 1, n, dtype=F64)[:, None]
    out = eco.outcome(eco.best_response(taxes), taxes)
    return float(taxes[objective(out["utility"], out["income"]).argmax(), 0])


def test_tax_economy_closed_forms():
    eco = TaxEconomy([1.0, 2.0, 3.0, 4.0], cost=0.5)
    t = torch.linspace(0, 1, 101, dtype=F64)[:, None]
    lab = eco.best_response(t)
    assert_allclose(lab, (1 - t) * eco.skills / (2 * 0.5))
    # brute force: no labour on a fine grid beats the best response (the rebate is lump-sum)
    grid = torch.linspace(0, 8, 8001, dtype=F64)
    for tax in (0.0, 0.3, 0.9):
        rew, _ = eco.step(grid[:, None].expand(-1, 4), torch.tensor([tax], dtype=F64))
        assert_allclose(grid[rew.argmax(0)], (1 - tax) * eco.skills, atol=1e-3)
    out = eco.outcome(lab, t)
    assert float(t[out["revenue"].argmax(), 0]) == pytest.approx(0.5)
    assert _fine_optimum(eco, Objective("utilitarian")) == 0.0
    assert _fine_optimum(eco, Objective("egalitarian")) == pytest.approx(13 / 28, abs=1e-9)
    assert eco.maximin_tax() == pytest.approx(13 / 28)
    # utilities at the best response: (1 - t)^2 s^2 / (4c) + t (1 - t) S2 / (2c)
    s2 = 7.5
    expect = (1 - t) ** 2 * eco.skills**2 / 2 + t * (1 - t) * s2
    assert_allclose(out["utility"], expect, rtol=1e-12)
    assert_allclose(out["income"].sum(-1), out["productivity"], rtol=1e-12)  # rebate is budget-neutral


def test_bracket_tax_best_response_against_brute_force():
    eco = TaxEconomy([1.0, 2.0, 3.0, 4.0], cost=0.5, cutoffs=[1.0, 4.0])
    grid = torch.linspace(0, 8, 16001, dtype=F64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        rates = torch.rand(3, generator=gen, dtype=F64)  # progressive or not
        rew, _ = eco.step(grid[:, None].expand(-1, 4), rates)
        best = eco.best_response(rates)
        got, _ = eco.step(best, rates)
        assert_allclose(got, rew.max(0).values, atol=1e-4)
        assert (got >= rew.max(0).values - 1e-6).all()
    assert_allclose(eco.tax(torch.tensor([0.5, 2.0, 6.0]), torch.tensor([0.1, 0.3, 0.6])),
                    [0.05, 0.1 + 0.3, 0.1 + 0.9 + 1.2], rtol=1e-6)
    # one bracket = the linear tax
    lin = TaxEconomy([1.0, 2.0, 3.0, 4.0], cost=0.5)
    assert_allclose(lin.best_response([0.3]), TaxEconomy([1.0, 2.0, 3.0, 4.0], 0.5, [100.0])
                    .best_response([0.3, 0.3]))


def test_tax_economy_bad_input():
    with pytest.raises(ValueError, match="tax"):
        TaxEconomy([1.0, 2.0]).best_response([1.5])
    with pytest.raises(ValueError, match="tax"):
        TaxEconomy([1.0, 2.0]).step(torch.ones(2), [-0.1])
    with pytest.raises(ValueError, match="tax"):
        TaxEconomy([1.0, 2.0], cutoffs=[1.0]).best_response([0.5])  # needs 2 rates
    with pytest.raises(ValueError, match="skills"):
        TaxEconomy([])
    with pytest.raises(ValueError, match="skills"):
        TaxEconomy([1.0, -1.0])
    with pytest.raises(ValueError, match="cost"):
        TaxEconomy([1.0], cost=0.0)
    with pytest.raises(ValueError, match="cutoffs"):
        TaxEconomy([1.0], cutoffs=[2.0, 1.0])


# the common-pool resource ------------------------------------------------------------------------
def test_common_pool_resource_closed_forms():
    cpr = CommonPoolResource(n_agents=8, endowment=25.0, a=23.0, b=0.25, w=5.0)
    assert cpr.nash_total() == pytest.approx(64.0)
    assert cpr.optimal_total() == pytest.approx(36.0)
    assert cpr.pigouvian_tax() == pytest.approx(7.875)
    assert cpr.nash_total(cpr.pigouvian_tax()) == pytest.approx(36.0)
    # the Nash profile is a fixed point of the best responses (checked on a grid of deviations)
    grid = torch.linspace(0, 25, 25001, dtype=F64)
    for tax in (0.0, 7.875):
        phi = torch.tensor([tax], dtype=F64)
        x = cpr.best_response(phi)
        dev = x.expand(grid.shape[0], -1).clone()
        dev[:, 0] = grid
        rew, _ = cpr.step(dev, phi)
        assert_allclose(grid[rew[:, 0].argmax()], x[0], atol=2e-3)
    # the optimum maximises the pool's net return, Nash does not
    prod = [float(cpr.outcome(cpr.best_response(torch.tensor([t], dtype=F64)),
                              torch.tensor([t], dtype=F64))["productivity"]) for t in (0.0, 7.875)]
    assert prod[1] == pytest.approx(18 * 36 - 0.25 * 36**2) and prod[1] > prod[0]
    with pytest.raises(ValueError, match="n_agents"):
        CommonPoolResource(n_agents=0)
    with pytest.raises(ValueError, match="tax"):
        cpr.step(torch.ones(8), [-1.0])
    with pytest.raises(ValueError, match="a"):
        CommonPoolResource(a=4.0, w=5.0)


# the PettingZoo environment ----------------------------------------------------------------------
def test_economy_env_parallel_api_and_lagged_rebate():
    from pettingzoo.test import parallel_api_test

    eco = TaxEconomy([1.0, 2.0, 3.0, 4.0], cost=0.5)
    parallel_api_test(EconomyEnv(eco, [0.5], max_steps=5), num_cycles=20)
    parallel_api_test(EconomyEnv(CommonPoolResource(), [7.875], max_steps=3), num_cycles=10)
    env = EconomyEnv(eco, [0.5], max_steps=2)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {f"agent_{i}" for i in range(4)}
    act = {f"agent_{i}": np.array([0.5 * (i + 1)], dtype=np.float32) for i in range(4)}
    _, r1, _, trunc, _ = env.step(act)
    private = (1 - 0.5) * eco.skills * eco.best_response([0.5]) - 0.5 * eco.best_response([0.5])**2
    assert_allclose([r1[a] for a in env.possible_agents], private)  # no rebate in period 1
    _, r2, _, trunc, _ = env.step(act)
    revenue = 0.5 * float((eco.skills * eco.best_response([0.5])).sum())
    assert_allclose([r2[a] for a in env.possible_agents], private + revenue / 4)
    assert all(trunc.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step(act)
    env.reset(options={"phi": [0.2], "rebate": 1.0})
    with pytest.raises(ValueError, match="actions"):
        env.step({"agent_0": np.array([1.0])})
    with pytest.raises(ValueError, match="actions"):
        env.step({a: np.array([-1.0]) for a in env.possible_agents})
    with pytest.raises(ValueError, match="tax"):
        EconomyEnv(eco, [2.0])
