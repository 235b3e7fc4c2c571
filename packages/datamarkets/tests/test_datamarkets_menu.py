"""The learned menu of experiments against the exact LP, and its training contract."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.datamarkets import (
    DataMarket,
    ExperimentMenu,
    MenuParams,
    best_posted_price,
    experiment_value,
    solve_experiment_lp,
)
from econcs.shared import DivergenceError

torch.set_num_threads(1)


def test_menu_reaches_the_lp_on_the_uniform_grid():
    market = DataMarket(belief="uniform(0,1)")
    grid = market.grid(101)
    lp = solve_experiment_lp(grid=grid).revenue
    menu = ExperimentMenu(market, 16).fit(grid=grid, max_iter=600, temperature_final=1e-4)
    ev = menu.evaluate(grid)
    assert ev.revenue <= lp + 1e-6  # the LP is the optimum over all IC, IR menus
    assert ev.revenue >= 0.995 * lp
    assert ev.ic_violation == 0.0 and ev.ir_violation == 0.0
    assert ev.obedience_violation <= 1e-6
    assert ev.n_entries == 1  # one fully informative experiment
    exps, prices = menu.menu()
    assert_allclose(exps[np.argmax(prices)], np.eye(2), atol=1e-3)


def test_menu_beats_the_posted_price_on_the_bimodal_grid():
    market = DataMarket(belief="0.5*beta(8,30)+0.5*beta(60,30)")
    grid = market.grid(101)
    lp = solve_experiment_lp(grid=grid).revenue
    _, posted = best_posted_price(1 - grid.beliefs.max(axis=1), grid.weights)
    menu = ExperimentMenu(market, 16).fit(grid=grid, max_iter=800, temperature_final=1e-4)
    ev = menu.evaluate(grid)
    assert 1.05 * posted < ev.revenue <= lp + 1e-6
    assert ev.revenue >= 0.99 * lp
    assert ev.n_entries == 2


def test_menu_on_sampled_types_is_ic_and_near_one_eighth():
    market = DataMarket(belief="uniform(0,1)")
    menu = ExperimentMenu(market, 8).fit(max_iter=300, batch_size=1024, temperature_final=1e-3)
    theta, v = market.sample(50_000, generator=torch.Generator().manual_seed(5))
    ev = menu.evaluate(beliefs=theta, values=v)
    assert ev.ic_violation == 0.0
    assert_allclose(ev.revenue, 0.125, rtol=0.03)


def test_relabel_makes_signals_recommendations_without_changing_values():
    market = DataMarket(belief="uniform(0,1)")
    menu = ExperimentMenu(market, 2)
    with torch.no_grad():
        menu.logits.copy_(torch.tensor([[[0.0, 5.0], [5.0, 0.0]], [[5.0, 0.0], [0.0, 5.0]]]))
        menu.prices.copy_(torch.tensor([0.2, 0.3]))
    grid = market.grid(21)
    b, v, w = menu._types(grid, None, None, None)
    before = experiment_value(b, menu.experiments, menu.payoff).detach()
    assert menu.evaluate(grid).obedience_violation > 0.5  # entry 0 says the opposite
    menu.relabel(b, v, w)
    after = experiment_value(b, menu.experiments, menu.payoff).detach()
    assert_allclose(after, before, atol=1e-6)
    assert menu.evaluate(grid).obedience_violation <= 1e-6


def test_prune_drops_duplicates_and_unused_entries():
    market = DataMarket(belief="uniform(0,1)")
    menu = ExperimentMenu(market, 3)
    with torch.no_grad():
        menu.logits.copy_(torch.tensor([[[9.0, 0.0], [0.0, 9.0]]] * 3))
        menu.prices.copy_(torch.tensor([0.25, 0.25, 5.0]))  # 1 duplicates 0; 2 is too dear
    b, v, w = menu._types(market.grid(21), None, None, None)
    menu.prune(b, v, w, threshold=1e-3, scale=0.25)
    assert menu.active.tolist() == [True, False, False]


def test_resume_continues_exactly_and_state_dict_round_trips():
    market = DataMarket(belief="uniform(0,1)", value="uniform(0,1)")
    kw = {"max_iter": 40, "batch_size": 256, "prune_every": 15}
    straight = ExperimentMenu(market, 4).fit(seed=3, **kw)
    saved = {}

    def cb(step, metrics, state_fn):
        if step == 20:
            saved["state"] = state_fn()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ExperimentMenu(market, 4).fit(seed=3, callback=cb, **kw)
    resumed = ExperimentMenu(market, 4).fit(seed=3, resume=(20, saved["state"]), **kw)
    assert torch.equal(straight.prices, resumed.prices)
    assert torch.equal(straight.logits, resumed.logits)
    assert straight.history_ == resumed.history_
    copy = ExperimentMenu(market, 4)
    copy.load_state_dict(straight.state_dict())
    grid = market.grid(5, 5)
    assert copy.evaluate(grid) == straight.evaluate(grid)


def test_divergence_is_an_error():
    market = DataMarket()
    menu = ExperimentMenu(market, 2)
    state = {"model": menu.state_dict(), "optimizer": torch.optim.Adam(menu.parameters())
             .state_dict(), "data_rng": torch.Generator().get_state(), "history": [],
             "scale": 0.25}
    state["model"]["prices"] = torch.full((2,), float("nan"))
    with pytest.raises(DivergenceError, match="revenue"):
        menu.fit(resume=(0, state), max_iter=5, batch_size=16)


def test_menu_bad_input():
    market = DataMarket()
    with pytest.raises(ValueError, match="menu_size"):
        ExperimentMenu(market, 0)
    with pytest.raises(TypeError, match="market"):
        ExperimentMenu("market", 4)
    with pytest.raises(ValueError, match="max_iter"):
        MenuParams(max_iter=0)
    with pytest.raises(ValueError, match="temperature"):
        MenuParams(temperature=0.0)
    with pytest.raises(TypeError):
        ExperimentMenu(market, 2).fit(n_iter=3)
    menu = ExperimentMenu(market, 2)
    with pytest.raises(ValueError, match="beliefs"):
        menu.evaluate(beliefs=[[np.nan, 0.5]])
    with pytest.raises(ValueError, match="beliefs"):
        menu.evaluate(beliefs=[[0.3, 0.3]])
    with pytest.raises(TypeError, match="grid"):
        menu.evaluate("grid")


def test_soft_revenue_is_the_soft_choice_payment():
    menu = ExperimentMenu(DataMarket(value="uniform(0,1)"), 5)
    with torch.no_grad():
        menu.logits.normal_(generator=torch.Generator().manual_seed(0))
        menu.prices.copy_(torch.linspace(0.02, 0.2, 5))
    theta, v = menu.market.sample(300, generator=torch.Generator().manual_seed(1))
    w = torch.rand(300, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for tau in (0.5, 0.01):
            expected = (menu(theta, v, tau).payment * w).sum()
            assert_allclose(float(menu.soft_revenue(theta, v, w, tau)), float(expected),
                            rtol=1e-5)
