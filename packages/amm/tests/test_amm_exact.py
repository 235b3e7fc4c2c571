"""Closed forms, reference menus and the grid dual against theory and independent computations."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from econcs.amm import (
    DualParams,
    Menu,
    conjectured_menu,
    duality_gap,
    make_values,
    menu_profit,
    menu_profit_mc,
    one_good_optimum,
    ot_dual,
    separate_prices_menu,
    solve_dual,
)
from econcs.amm._dual import _grid_measure

CASES_1D = [(0.5, 0.0), (0.3, 0.2), (0.8, 0.7), (0.0, 0.0), (1.0, 0.5)]


def _profit_by_quadrature(ask, bid, c, l, density=None, n=4000):
    """Independent: midpoint rule over x of the profit of the trade each trader makes."""
    x = (np.arange(n) + 0.5) / n
    f = np.ones(n) if density is None else density(x)
    mm = (1 - l) * c + l * x
    prof = np.where(x > ask, ask - mm, 0.0) + np.where(x < bid, mm - bid, 0.0)
    return float((prof * f).mean())


@pytest.mark.parametrize(("c", "l"), CASES_1D)
def test_one_good_closed_form_is_the_grid_search_optimum(c, l):
    opt = one_good_optimum(c, l)
    lam = 1 - l
    assert_allclose([opt.ask, opt.bid], [(1 + lam * c) / (1 + lam), lam * c / (1 + lam)])
    prices = np.linspace(0, 1, 201)
    best = max(
        (_profit_by_quadrature(a, b, c, l, n=800), a, b) for a in prices for b in prices if b <= a
    )
    assert_allclose(opt.profit, _profit_by_quadrature(opt.ask, opt.bid, c, l, n=200_000), atol=2e-6)
    assert opt.profit >= best[0] - 1e-6  # nothing on the grid beats it
    assert best[0] >= opt.profit - 2e-4  # and the grid's best is next to it
    assert abs(best[1] - opt.ask) <= 0.01 and abs(best[2] - opt.bid) <= 0.01


def test_half_half_noise_traders_ask_three_quarters():
    opt = one_good_optimum(0.5, 0.0)
    assert (opt.ask, opt.bid, opt.profit) == (0.75, 0.25, 0.125)


@pytest.mark.parametrize(("c", "l"), CASES_1D)
def test_one_good_dual_equals_closed_form(c, l):
    res = solve_dual(c, l, grid=401)
    assert res.status == "optimal"
    assert_allclose(res.value, one_good_optimum(c, l).profit, rtol=2e-3, atol=1e-5)
    assert_allclose(ot_dual(c, l, grid=201), one_good_optimum(c, l).profit, rtol=2e-3, atol=1e-5)
    # the LP's potential is the trader's utility: slope 1 above the ask, -1 below the bid
    u = res.potential
    g = np.linspace(0, 1, 401)
    opt = one_good_optimum(c, l)
    assert_allclose(u, np.maximum.reduce([g - opt.ask, opt.bid - g, 0 * g]), atol=0.01)


def test_reference_menus_reproduce_the_paper():
    assert_allclose(menu_profit(conjectured_menu(0.0), [0.5, 0.5], 0.0), 0.2746, atol=5e-5)
    assert_allclose(menu_profit(conjectured_menu(0.5), [0.5, 0.5], 0.5), 0.0929, atol=5e-5)
    assert_allclose(menu_profit(separate_prices_menu([0.5, 0.5], 0), [0.5, 0.5], 0), 0.25)
    assert_allclose(menu_profit(separate_prices_menu([1 / 3, 1 / 3], 0), [1 / 3] * 2, 0), 5 / 18)
    assert_allclose(menu_profit(separate_prices_menu([0.5, 0.5], 0.5), [0.5, 0.5], 0.5), 1 / 12)
    # one good: the separate-prices menu is the closed form
    assert_allclose(menu_profit(separate_prices_menu([0.3], 0.2), [0.3], 0.2),
                    one_good_optimum(0.3, 0.2).profit)


def test_exact_menu_profit_matches_independent_monte_carlo():
    menu, c, l = conjectured_menu(0.5), np.array([0.5, 0.5]), 0.5
    rng = np.random.default_rng(1)
    x = rng.random((400_000, 2))
    util = np.concatenate([x @ menu.allocations.T - menu.payments, np.zeros((len(x), 1))], 1)
    k = util.argmax(1)
    alloc = np.vstack([menu.allocations, [0, 0]])[k]
    pay = np.append(menu.payments, 0)[k]
    prof = pay - (((1 - l) * c + l * x) * alloc).sum(1)
    se = prof.std() / np.sqrt(len(prof))
    assert abs(menu_profit(menu, c, l) - prof.mean()) < 4 * se
    assert abs(menu_profit_mc(menu, c, l, n_samples=100_000, seed=3) - prof.mean()) < 8 * se


@pytest.mark.parametrize(("c", "l", "ref"), [((0.5, 0.5), 0.0, 0.2746),
                                              ((1 / 3, 1 / 3), 0.0, 0.3033),
                                              ((0.5, 0.5), 0.5, 0.0929)])
def test_two_good_dual_reaches_the_paper_values(c, l, ref):
    res = solve_dual(c, l, grid=61)  # c on the grid
    assert res.status == "optimal"
    assert_allclose(res.value, ref, rtol=0.01)


def test_two_good_duality_gap_of_the_conjectured_menu_is_small():
    primal = menu_profit(conjectured_menu(0.0), [0.5, 0.5], 0.0)
    gaps = [duality_gap(primal, solve_dual([0.5, 0.5], 0.0, grid=n).value)
            for n in (21, 41)]
    assert abs(gaps[1]) < abs(gaps[0]) < 0.003  # shrinks with the grid
    assert abs(gaps[1]) < 0.001


def test_dual_moves_c_to_the_grid():
    res = solve_dual([1 / 3, 0.5], 0.0, grid=11, spreads="none")
    assert_allclose(res.c, [0.3, 0.5])
    assert_allclose(res.value, solve_dual([0.3, 0.5], 0.0, grid=11, spreads="none").value)


@pytest.mark.parametrize("grid", [11, 13, 15])
def test_dual_is_mirror_symmetric_for_c_on_the_grid(grid):
    """Uniform values: c and 1 - c give the same dual (x -> 1 - x). On these grids linspace's
    point at c = k/(grid-1) differs from c by 1e-16 for some k; comparing floats made the move
    down from c cost h there (the c = 1/3 dual jumped at grids 181 and 301)."""
    for k in range(1, grid - 1):
        c = k / (grid - 1)
        lo = solve_dual([c, c], 0.0, grid=grid).value
        hi = solve_dual([1 - c, 1 - c], 0.0, grid=grid).value
        assert_allclose(lo, hi, rtol=1e-9, err_msg=f"c = {k}/{grid - 1}")
        assert_allclose(ot_dual(c, 0.0, grid=grid), ot_dual(1 - c, 0.0, grid=grid), rtol=1e-9)


def test_lp_without_spreads_equals_pot():
    for free in (True, False):
        lp = solve_dual([0.4, 0.6], 0.3, grid=15, spreads="none", free_moves=free).value
        assert_allclose(ot_dual([0.4, 0.6], 0.3, grid=15, free_moves=free), lp, rtol=1e-7)
    # spreads and free moves are relaxations of the primal's constraints: each lowers the cost
    full = solve_dual([0.4, 0.6], 0.3, grid=15, spreads="all").value
    none = solve_dual([0.4, 0.6], 0.3, grid=15, spreads="none").value
    plain = ot_dual([0.4, 0.6], 0.3, grid=15, free_moves=False)
    assert full <= none + 1e-9 < plain


@pytest.mark.parametrize("spec", ["uniform(0,1)", "beta(2,2)", "normal(0.5,0.125)[0,1]",
                                  "linear_corr_uniform(0.5)", "gaussian_copula(0.5)"])
def test_grid_measure_balances(spec):
    vals = make_values(spec, 2)
    mass = _grid_measure(np.array([0.5, 0.4]), 0.3, vals, 21, 3)
    assert abs(mass.sum()) < 1e-12
    assert mass[10, 8] > 0.5  # the atom at c = (0.5, 0.4)


def test_one_good_beta_dual_matches_ask_bid_grid_search():
    vals = make_values("beta(2,2)", 1)
    n = 4000
    x = (np.arange(n) + 0.5) / n
    f = vals.density(x[:, None]) / n
    prices = np.linspace(0, 1, 401)[:, None]
    # for c = 1/2, l = 0 the ask side (x > ask) and the bid side (x < bid) separate
    ask_side = ((x > prices) * (prices - 0.5) * f).sum(1)
    bid_side = ((x < prices) * (0.5 - prices) * f).sum(1)
    best = ask_side.max() + bid_side.max()
    assert prices[bid_side.argmax(), 0] <= prices[ask_side.argmax(), 0]
    assert_allclose(solve_dual(0.5, 0.0, "beta(2,2)", grid=201).value, best, rtol=0.01)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"c": [0.5, 1.5]}, "c: expected"),
    ({"c": [0.5, 0.5, 0.5]}, "supports m <= 2"),
    ({"l": -0.1}, "l: expected"),
    ({"l": 2.0}, "l: expected"),
    ({"values": "uniform(0,2)"}, "values: trader values must lie in"),
    ({"values": "nonsense(1)"}, "values:"),
    ({"values": "gaussian_copula(1.5)"}, "values:"),
    ({"grid": 2}, "grid: expected"),
    ({"spreads": "some"}, "spreads"),
])
def test_dual_bad_input(kwargs, match):
    args = {"c": [0.5, 0.5], "l": 0.0, "values": "uniform(0,1)"} | kwargs
    c, l, v = args.pop("c"), args.pop("l"), args.pop("values")
    with pytest.raises(ValueError, match=match):
        solve_dual(c, l, v, **args)


def test_pot_dual_bad_input():
    with pytest.raises(ValueError, match="supports m <= 2"):
        ot_dual([0.5, 0.5, 0.5], 0.0, grid=5)
    with pytest.raises(ValueError, match="grid: expected"):
        ot_dual([0.5, 0.5], 0.0, grid=2)
    with pytest.raises(ValueError, match="l: expected"):
        ot_dual([0.5, 0.5], -0.5, grid=5)
    with pytest.raises(ValueError, match="values"):
        ot_dual([0.5, 0.5], 0.0, "beta(2,", grid=5)


def test_bad_types_and_unknown_keywords():
    with pytest.raises(TypeError):
        solve_dual([0.5], 0.0, grid=11, nonsense=1)
    with pytest.raises(TypeError, match="values"):
        make_values(3, 1)
    with pytest.raises(ValueError, match="c: expected"):
        one_good_optimum(float("nan"), 0.0)
    with pytest.raises(ValueError, match="bid, ask"):
        from econcs.amm import one_good_profit

        one_good_profit(0.2, 0.6, 0.5, 0.0)
    with pytest.raises(ValueError, match="allocations"):
        Menu(np.array([[2.0]]), np.array([0.5]))
    with pytest.raises(ValueError, match="payments"):
        Menu(np.array([[1.0]]), np.array([0.5, 0.1]))
    assert DualParams(grid=3).grid == 3


def test_menu_regions_show_the_swaps_and_bundles():
    from econcs.amm import menu_regions

    reg = menu_regions(conjectured_menu(0.0), 101)
    assert reg[0, -1].tolist() == [1.0, -1.0]  # x = (1, 0): swap good 2 for good 1
    assert reg[-1, -1].tolist() == [1.0, 1.0]  # x = (1, 1): buy the bundle
    assert reg[50, 50].tolist() == [0.0, 0.0]  # x = c: no trade
    with pytest.raises(ValueError, match="menu"):
        menu_regions(separate_prices_menu([0.5], 0.0))


def test_plot_menu():
    pytest.importorskip("matplotlib")
    from econcs.amm import plot_menu

    fig = plot_menu(conjectured_menu(0.0), resolution=21)
    assert len(fig.axes) == 3  # two heat maps and a colour bar
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_dual_warns_when_highs_stops_at_a_limit(monkeypatch):
    import dataclasses

    import econcs.amm._dual as dual
    from econcs.shared.errors import ConvergenceWarning

    real = dual.solve_lp

    def stopped(*args, **kwargs):  # HiGHS's feasible point at its time limit
        return dataclasses.replace(real(*args, **kwargs), status="time_limit")

    monkeypatch.setattr(dual, "solve_lp", stopped)
    with pytest.warns(ConvergenceWarning, match="time_limit"):
        res = solve_dual(0.5, 0.0, grid=41)
    assert res.status == "time_limit"
