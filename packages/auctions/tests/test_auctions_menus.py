"""RochetNet: theory optima, exact incentive compatibility, persistence."""

import math

import pytest
import torch

from econcs.auctions import AuctionSetting, Mechanism, RegretNet, RochetNet, evaluate

MV = (12 + 2 * math.sqrt(2)) / 27




def _mv_menu():
    """The Manelli-Vincent optimal menu: each item at 2/3, the bundle at (4 - sqrt 2) / 3."""
    alloc = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    prices = torch.tensor([2 / 3, 2 / 3, (4 - math.sqrt(2)) / 3], dtype=torch.float64)
    return alloc, prices


def test_optimal_menu_revenue_matches_manelli_vincent():
    s = AuctionSetting.preset("manelli-vincent")
    mech = RochetNet.from_menu(s, *_mv_menu(), dtype="float64")
    v = s.sample(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, pay = mech(v)
    se = float(pay.std()) / math.sqrt(v.shape[0])
    assert abs(float(pay.mean()) - MV) < 4 * se


def test_trained_rochetnet_never_beats_the_optimum():
    """An exactly-IC mechanism above the optimum beyond sampling error is an evaluation bug."""
    s = AuctionSetting.preset("manelli-vincent")
    mech = RochetNet(s, menu_size=64).fit(max_iter=300, batch_size=512, seed=0)
    rep = evaluate(mech, 100_000, seed=3, n_regret_samples=0)
    assert rep.revenue <= MV + 4 * rep.revenue_se
    assert rep.revenue > 0.5  # and it learned something close
    assert rep.ir_violation == 0.0


def test_rochetnet_unit_demand_pavlov_quick():
    s = AuctionSetting.preset("pavlov")
    mech = RochetNet(s, menu_size=64).fit(max_iter=300, batch_size=512, seed=0)
    rep = evaluate(mech, 50_000, seed=1, n_regret_samples=0)
    assert rep.revenue <= 2.133132 + 4 * rep.revenue_se
    assert rep.revenue > 2.133132 * 0.97
    assert rep.infeasibility == 0.0  # lotteries sum to <= 1


def test_hard_argmax_menu_has_zero_regret_by_search():
    s = AuctionSetting.preset("manelli-vincent")
    mech = RochetNet(s, menu_size=32).fit(max_iter=100, batch_size=256, seed=1)
    rep = evaluate(mech, 200, seed=2, n_restarts=16, n_steps=20, grid_points=21)
    assert rep.regret_max < 1e-5
    assert rep.regret_grid_mean < 1e-6


def test_rochetnet_straight_through_search_finds_regret_of_a_non_ic_mechanism():
    """Sanity check of the evaluator: a mechanism charging a fixed share of the *reported* value
    (first-price-like) has large regret, and the search finds it."""
    s = AuctionSetting(1, 1)

    class HalfPrice(Mechanism):
        def outcome(self, reports, temperature=None):
            return torch.ones_like(reports), 0.5 * reports[..., 0]

    rep = evaluate(HalfPrice(s), 500, seed=0, n_restarts=4, n_steps=100, grid_points=0)
    # the truthful utility is v/2, the best misreport (0) gives v: regret E[v/2] = 1/4
    assert rep.regret_mean == pytest.approx(0.25, abs=0.02)


def test_save_load_roundtrip_and_wrong_setting(tmp_path):
    s = AuctionSetting(1, 2)
    mech = RochetNet(s, menu_size=16).fit(max_iter=20, seed=0)
    path = tmp_path / "rn.safetensors"
    mech.save(path)
    back = RochetNet.load(path, setting=s)
    v = torch.rand(64, 1, 2)
    for a, b in zip(mech(v), back(v)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert Mechanism.load(path).menu_size == 16
    with pytest.raises(ValueError, match="setting"):
        RochetNet.load(path, setting=AuctionSetting(1, 2, values="uniform(0,2)"))
    with pytest.raises(ValueError, match="RegretNet"):
        RegretNet.load(path)
    with pytest.raises(ValueError, match="path"):
        RochetNet.load(tmp_path / "missing.safetensors")


def test_rochetnet_bad_input():
    with pytest.raises(ValueError, match="setting"):
        RochetNet(AuctionSetting(2, 2))
    with pytest.raises(ValueError, match="menu_size"):
        RochetNet(AuctionSetting(1, 2), menu_size=0)
    mech = RochetNet(AuctionSetting(1, 2), menu_size=4)
    with pytest.raises(ValueError, match="values"):
        mech(torch.rand(3, 1, 3))
    with pytest.raises(ValueError, match="values"):
        mech(torch.tensor([[[math.nan, 0.1]]]))
    with pytest.raises(ValueError, match="max_iter"):
        mech.fit(max_iter=-1)
    with pytest.raises(ValueError, match="lr"):
        mech.fit(max_iter=1, lr=0.0)
