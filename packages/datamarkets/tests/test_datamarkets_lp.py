"""The exact LP against closed forms (Bergemann, Bonatti, Smolin 2018; Ravindranath et al. 2023)."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import minimize_scalar

from econcs.datamarkets import (
    DataMarket,
    best_posted_price,
    best_response_values,
    experiment_value,
    obedient_value,
    prior_value,
    solve_experiment_lp,
)

BIMODAL = "0.5*beta(8,30)+0.5*beta(60,30)"


def _full_info_gains(grid):
    return grid.values * (1.0 - grid.beliefs.max(axis=1))


def _check_feasible(grid, res, payoff=None, tol=1e-7):
    """IC, IR and obedience checked independently with the torch value functions."""
    payoff = np.eye(2) if payoff is None else payoff
    th = torch.tensor(grid.beliefs)
    pi = torch.tensor(res.experiments)
    u = torch.tensor(payoff, dtype=torch.float64)
    v = torch.tensor(grid.values)
    p = torch.tensor(res.prices)
    br = v[:, None] * experiment_value(th, pi, u) - p[None]  # (T, T): t buys t''s experiment
    own = v * obedient_value(th, pi, u).diagonal() - p
    assert float((br - own[:, None]).max()) <= tol  # IC (and obedience on the diagonal)
    assert float((v * prior_value(th, u) - own).max()) <= tol  # IR


def test_uniform_belief_is_the_posted_price_on_the_grid_and_tends_to_one_eighth():
    m = DataMarket(belief="uniform(0,1)")
    grid = m.grid(101)
    res = solve_experiment_lp(grid=grid)
    assert res.status == "optimal"
    _, posted = best_posted_price(_full_info_gains(grid), grid.weights)
    assert_allclose(res.revenue, posted, rtol=1e-7)  # the grid's own optimum: one posted price
    sold = res.prices > 1e-6
    assert_allclose(res.experiments[sold], np.broadcast_to(np.eye(2), (sold.sum(), 2, 2)),
                    atol=1e-6)  # fully informative
    assert_allclose(res.prices[sold], 25.5 / 101, rtol=1e-7)  # the grid point next to 1/4
    _check_feasible(grid, res)
    fine = solve_experiment_lp(grid=m.grid(401)).revenue
    assert abs(fine - 0.125) < abs(res.revenue - 0.125) < 0.004  # -> 1/8 as the grid refines
    assert_allclose(fine, 0.125, rtol=0.006)


def test_bimodal_belief_two_experiments_beat_the_posted_price():
    m = DataMarket(belief=BIMODAL)
    grid = m.grid(401)
    res = solve_experiment_lp(grid=grid)
    _check_feasible(grid, res)
    _, posted = best_posted_price(_full_info_gains(grid), grid.weights)
    assert_allclose(posted, 0.1548, rtol=0.006)  # the paper's full-information posted price
    assert_allclose(res.revenue, 0.1672, rtol=0.01)  # the paper's two-experiment menu
    assert res.revenue > 1.07 * posted
    menu = {round(float(p), 3) for p in res.prices[grid.weights > 1e-9] if p > 1e-6}
    assert len(menu) == 2  # at most two experiments with binary states and actions
    top = res.prices.argmax()
    assert_allclose(res.experiments[top], np.eye(2), atol=1e-6)  # one is fully informative


def test_uniform_belief_and_value_closed_form():
    # revenue of price p: p (1 - 2p + 2p ln 2p), maximised at p ~ 0.1423 with 0.05091
    rev = minimize_scalar(lambda p: -p * (1 - 2 * p + 2 * p * math.log(2 * p)),
                          bounds=(1e-6, 0.5), method="bounded")
    assert_allclose(rev.x, 0.1423, atol=2e-4)
    assert_allclose(-rev.fun, 0.05091, atol=1e-5)
    m = DataMarket(belief="uniform(0,1)", value="uniform(0,1)")
    theta, v = m.sample(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    gains = (v * (1 - theta.max(dim=1).values)).numpy()
    _, mc = best_posted_price(gains)
    assert_allclose(mc, 0.05091, rtol=0.01)
    grid = m.grid(11, 11)
    res = solve_experiment_lp(grid=grid)
    _check_feasible(grid, res)
    assert res.revenue >= best_posted_price(_full_info_gains(grid), grid.weights)[1] - 1e-9


def test_general_payoff_and_three_states():
    rng = np.random.default_rng(0)
    beliefs = rng.dirichlet(np.ones(3), size=12)
    payoff = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.6, 0.6]])
    values = rng.uniform(0.5, 1.5, 12)
    res = solve_experiment_lp(beliefs, values, payoff=payoff)
    assert res.status == "optimal" and res.experiments.shape == (12, 3, 4)
    types = type("G", (), {"beliefs": beliefs, "values": values})
    _check_feasible(types, res, payoff)
    # a single type: the seller extracts all the surplus of full information
    one = solve_experiment_lp([[0.2, 0.3, 0.5]], [2.0], payoff=payoff)
    assert_allclose(one.revenue, 2.0 * (1.0 - 0.6), atol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beliefs": [[0.5, 0.6]]}, "beliefs"),
        ({"beliefs": [[1.2, -0.2]]}, "beliefs"),
        ({"beliefs": [[np.nan, 0.5]]}, "beliefs"),
        ({"beliefs": [0.5, 0.5]}, "beliefs"),
        ({"beliefs": [[0.5, 0.5]], "values": [-1.0]}, "values"),
        ({"beliefs": [[0.5, 0.5]], "values": [1.0, 2.0]}, "values"),
        ({"beliefs": [[0.5, 0.5]], "weights": [0.5]}, "weights"),
        ({"beliefs": [[0.5, 0.5]], "payoff": np.eye(3)}, "payoff"),
        ({"beliefs": [[0.5, 0.5]], "max_iter": 0}, "max_iter"),
    ],
)
def test_lp_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_experiment_lp(**kwargs)


def test_lp_needs_beliefs_or_grid():
    with pytest.raises(TypeError, match="beliefs"):
        solve_experiment_lp()
    grid = DataMarket().grid(3)
    with pytest.raises(TypeError, match="grid"):
        solve_experiment_lp([[0.5, 0.5]], grid=grid)


def test_chunked_separation_matches_the_dense_tensor():
    from econcs.datamarkets._lp import _most_violated

    rng = np.random.default_rng(3)
    beliefs = rng.dirichlet(np.ones(3), size=10)
    values = rng.uniform(0.5, 1.5, 10)
    pis = rng.dirichlet(np.ones(4), size=(10, 3))  # (T, S, G)
    payoff = rng.uniform(size=(4, 3))
    prices, own = rng.uniform(size=10), rng.uniform(size=10)
    br, acts = best_response_values(beliefs, pis, payoff)  # the full (T, T, G, A) tensor
    dense = values[:, None] * br - prices[None] - own[:, None]
    for chunk in (None, 3):
        tt, t2, gain, delta = _most_violated(beliefs, values, pis, prices, own, payoff, 4,
                                             chunk_size=chunk)
        assert_allclose(gain, dense[tt, t2], atol=1e-12)
        assert_allclose(np.sort(gain.reshape(10, 4), axis=1),
                        np.sort(dense, axis=1)[:, -4:], atol=1e-12)  # the 4 best per type
        assert (delta == acts[tt, t2]).all()


def test_neighbours_on_a_product_grid_are_the_next_cells():
    from econcs.datamarkets._lp import _neighbours

    grid = DataMarket(value="uniform(0,1)").grid(4, 4)  # index = 4 * theta cell + value cell
    t, t2 = _neighbours(grid.beliefs, grid.values)
    pairs = set(zip(t.tolist(), t2.tolist(), strict=True))
    cell = lambda i: divmod(i, 4)  # noqa: E731
    steps = {(a, b) for a in range(16) for b in range(16)
             if sum(abs(x - y) for x, y in zip(cell(a), cell(b), strict=True)) == 1}
    assert steps <= pairs  # the next cell in theta and in v, every type
    assert all(max(abs(x - y) for x, y in zip(cell(a), cell(b), strict=True)) <= 2
               for a, b in pairs)  # nothing far (edge cells' fourth nearest is two cells away)
    assert len(pairs) <= 2 * 4 * 16
    assert all((b, a) in pairs for a, b in pairs)


@pytest.mark.parametrize(("spec", "n", "before"), [
    # LP values of 7da96d2, whose separation built the full (T, T, G, A) tensor every round
    (("uniform(0,1)", "uniform(0,1)"), (7, 7), 0.05961531180190072),
    (("uniform(0,1)", "uniform(0,1)"), (11, 11), 0.05465325338626343),
    ((BIMODAL, "uniform(0,1)"), (9, 5), 0.07171931514199438),
])
def test_cheaper_separation_gives_the_same_lp_value(spec, n, before):
    grid = DataMarket(belief=spec[0], value=spec[1]).grid(*n)
    res = solve_experiment_lp(grid=grid)
    assert res.status == "optimal" and res.ic_violation <= 1e-9
    assert_allclose(res.revenue, before, rtol=0, atol=1e-9)
    _check_feasible(grid, res, tol=1e-8)
