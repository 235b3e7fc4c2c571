"""Learned menus at tiny budgets: near the closed form and the conjectured menu, resume, errors."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

import econcs.amm._menunet as menunet_module
from econcs.amm import (
    MenuNet,
    MenuNetParams,
    conjectured_menu,
    evaluate_menu,
    menu_profit,
    one_good_optimum,
    separate_prices_menu,
    train_menu,
)
from econcs.shared import DivergenceError

FAST = {"menu_size": 32, "max_iter": 600, "batch_size": 1024, "eval_samples": 50_000}


@pytest.mark.parametrize(("c", "l"), [(0.5, 0.0), (0.3, 0.5)])
def test_one_good_learned_profit_is_the_closed_form(c, l):
    res = train_menu(c, l, menu_size=8, max_iter=200, batch_size=256, eval_samples=20_000)
    best = one_good_optimum(c, l).profit
    exact = menu_profit(res.menu, c, l)
    assert exact <= best + 1e-9  # the closed form is optimal
    assert_allclose(exact, best, rtol=0.02)
    assert_allclose(res.profit, exact, atol=0.006)  # Monte Carlo argmax evaluation


def test_two_goods_learned_menu_beats_separate_prices_and_nears_the_conjecture():
    res = train_menu([0.5, 0.5], 0.0, **FAST)
    exact = menu_profit(res.menu, [0.5, 0.5], 0.0)
    assert exact > menu_profit(separate_prices_menu([0.5, 0.5], 0.0), [0.5, 0.5], 0.0) + 0.015
    assert exact >= 0.99 * menu_profit(conjectured_menu(0.0), [0.5, 0.5], 0.0)
    assert_allclose(res.profit, exact, atol=0.003)
    assert res.iterations == 600 and res.history[-1]["step"] == 600
    assert np.all(np.abs(res.menu.allocations) <= 1)


def test_unit_demand_trades_are_signed_lotteries():
    res = train_menu([0.5, 0.5], 0.0, kind="unit-demand", menu_size=16, max_iter=100,
                     batch_size=256, eval_samples=5_000)
    assert np.all(np.abs(res.menu.allocations).sum(1) <= 1 + 1e-6)
    assert res.profit > 0.1  # a profitable menu (one-good pricing of either good gives 0.125)


def test_resume_gives_the_uninterrupted_result():
    kw = {"menu_size": 8, "max_iter": 40, "batch_size": 64, "eval_samples": 1000, "log_every": 10}
    full = train_menu([0.4, 0.6], 0.2, seed=3, **kw)
    saved = {}

    class Killed(Exception):
        pass

    def callback(step, metrics, state_fn):
        if step == 20:
            saved["state"] = state_fn()
            raise Killed

    with pytest.raises(Killed):
        train_menu([0.4, 0.6], 0.2, seed=3, callback=callback, **kw)
    resumed = train_menu([0.4, 0.6], 0.2, seed=3, resume=(20, saved["state"]), **kw)
    assert resumed.profit == full.profit
    assert_allclose(resumed.menu.payments, full.menu.payments, rtol=0, atol=0)
    assert resumed.history == full.history


def test_save_and_load_give_the_same_outputs(tmp_path):
    model = MenuNet(2, 16, generator=torch.Generator().manual_seed(0))
    torch.save(model.state_dict(), tmp_path / "menu.pt")
    other = MenuNet(2, 16)
    other.load_state_dict(torch.load(tmp_path / "menu.pt", weights_only=True))
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model(x).payment, other(x).payment)
    assert evaluate_menu(model, [0.5, 0.5], 0.0, n_samples=500) == evaluate_menu(
        other, [0.5, 0.5], 0.0, n_samples=500)


def test_divergence_raises(monkeypatch):
    monkeypatch.setattr(menunet_module, "trade_profit",
                        lambda a, p, x, c, l: torch.full_like(p, float("nan")))
    with pytest.raises(DivergenceError, match="train_profit"):
        train_menu(0.5, 0.0, menu_size=4, max_iter=3, batch_size=8)


def test_bad_parameters_and_input():
    with pytest.raises(ValueError, match="menu_size"):
        MenuNetParams(menu_size=0)
    with pytest.raises(ValueError, match="temperature"):
        MenuNetParams(temperature=0.0)
    with pytest.raises(ValueError, match="kind"):
        MenuNetParams(kind="subadditive")
    with pytest.raises(TypeError):
        train_menu(0.5, 0.0, n_iter=10)
    with pytest.raises(ValueError, match="c: expected"):
        train_menu([0.5, -0.1], 0.0, max_iter=1)
    with pytest.raises(ValueError, match="l: expected"):
        train_menu([0.5], 1.5, max_iter=1)
    with pytest.raises(ValueError, match="values"):
        train_menu([0.5], 0.0, "uniform(0,1", max_iter=1)
    with pytest.raises(ValueError, match="values"):
        MenuNet(2, 4)(torch.rand(3, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_gpu():
    res = train_menu([0.5, 0.5], 0.0, device="cuda", **FAST)
    assert res.profit >= 0.99 * 0.2746
