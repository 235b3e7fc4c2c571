"""RegretNet and GemNet: feasibility, IR, the one-bidder reduction, persistence, bad input."""

import json
import math
import shutil

import pytest
import torch

from econcs.auctions import AuctionSetting, GemNet, RegretNet, RochetNet, evaluate


@pytest.mark.parametrize("valuation", ["additive", "unit-demand"])
def test_regretnet_feasible_and_ir_by_construction(valuation):
    s = AuctionSetting(3, 2, valuation=valuation)
    mech = RegretNet(s, hidden=16)
    v = s.sample(256, generator=torch.Generator().manual_seed(0))
    alloc, pay = mech(v)
    assert bool((alloc.sum(1) <= 1 + 1e-6).all())
    if valuation == "unit-demand":
        assert bool((alloc.sum(2) <= 1 + 1e-6).all())
    assert bool((pay <= (alloc * v).sum(-1) + 1e-6).all()) and bool((pay >= 0).all())


def test_regretnet_learns_toward_myerson_and_lowers_regret():
    s = AuctionSetting(2, 1)
    mech = RegretNet(s, hidden=32).fit(max_iter=200, batch_size=128, n_train=2048,
                                       misreport_steps=5, rho=10.0, rho_increment=50.0,
                                       lr=5e-3, seed=0)
    hist = mech.history_
    assert hist[-1]["rho"] > hist[0]["rho"]
    rep = evaluate(mech, 4000, seed=1, n_regret_samples=200, n_restarts=8, n_steps=20)
    assert 0.3 < rep.revenue < 0.5  # Myerson 5/12 plus what the remaining regret buys
    assert rep.regret_mean < 0.02
    assert rep.ir_violation < 1e-6 and rep.infeasibility < 1e-6


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_regretnet_compiled_training_is_the_same_training():
    s = AuctionSetting(2, 2)
    kw = dict(max_iter=30, batch_size=32, n_train=256, misreport_steps=5, seed=0)
    eager = RegretNet(s, hidden=16).fit(**kw)
    compiled = RegretNet(s, hidden=16).fit(**kw, compile=True)
    for a, b in zip(eager.history_, compiled.history_):
        assert a["revenue"] == pytest.approx(b["revenue"], rel=1e-4)
    v = torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(2))
    for a, b in zip(eager(v), compiled(v)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    with pytest.raises(TypeError, match="compile"):
        RegretNet(s, hidden=4).fit(max_iter=1, batch_size=8, n_train=8, compile="yes")


def test_regretnet_save_load_identical(tmp_path):
    s = AuctionSetting(2, 2, valuation="unit-demand")
    mech = RegretNet(s, hidden=8, layers=1).fit(max_iter=3, batch_size=8, n_train=64, seed=1)
    mech.save(tmp_path / "rg.safetensors")
    back = RegretNet.load(tmp_path / "rg.safetensors", setting=s)
    v = torch.rand(16, 2, 2)
    for a, b in zip(mech(v), back(v)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="setting"):
        RegretNet.load(tmp_path / "rg.safetensors", setting=AuctionSetting(2, 2))


def test_regretnet_bad_input():
    with pytest.raises(ValueError, match="hidden"):
        RegretNet(AuctionSetting(2, 2), hidden=0)
    mech = RegretNet(AuctionSetting(2, 2), hidden=4)
    with pytest.raises(ValueError, match="values"):
        mech(torch.rand(4, 2))
    with pytest.raises(ValueError, match="values"):
        mech(torch.full((4, 2, 2), math.nan))
    with pytest.raises(ValueError, match="n_train"):
        mech.fit(max_iter=1, batch_size=64, n_train=8)
    with pytest.raises(ValueError, match="batch_size"):
        mech.fit(max_iter=1, batch_size=0)


def test_symmetric_regretnet_is_permutation_equivariant_feasible_and_ir():
    """One item, i.i.d. bidders: shared per-bidder networks by default. Permuting the bids
    permutes the allocation and payments; the allocation is a lottery (the seller keeps the
    rest) and truthful bidders pay at most their value for it."""
    s = AuctionSetting(4, 1, values="exponential(3)")
    mech = RegretNet(s, dtype=torch.float64)
    assert mech.symmetric and mech.hidden == 16
    with torch.no_grad():  # weights of a trained size, not the near-zero outputs of the init
        for prm in mech.parameters():
            prm.normal_(0, 1.5, generator=torch.Generator().manual_seed(prm.numel()))
    v = s.sample(512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(1))
    alloc, pay = mech(v)
    alloc_p, pay_p = mech(v[:, perm])
    torch.testing.assert_close(alloc_p, alloc[:, perm])
    torch.testing.assert_close(pay_p, pay[:, perm])
    assert float(alloc.sum(1).max()) <= 1 + 1e-12 and float(alloc.sum(1).min()) < 0.99
    assert bool((pay >= 0).all()) and bool((pay <= alloc[..., 0] * v[..., 0] + 1e-6).all())
    # bidder 0's logit and payment fraction depend on the others' bids only through their
    # highest: halve every other bid but that one
    rows = torch.arange(512)
    top = v[:, 1:, 0].argmax(1) + 1
    w = v.clone()
    w[:, 1:] *= 0.5
    w[rows, top] = v[rows, top]
    alloc_w, pay_w = mech(w)

    def logit_and_fraction(a, p, vals):
        return (torch.log(a[:, 0, 0] / (1 - a[..., 0].sum(1))),
                p[:, 0] / (a[:, 0, 0] * vals[:, 0, 0]))

    assert float((alloc_w[:, 0] - alloc[:, 0]).abs().max()) > 1e-3  # the normaliser moved
    for x, y in zip(logit_and_fraction(alloc_w, pay_w, w), logit_and_fraction(alloc, pay, v)):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9)


def safe_open_meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()


def test_symmetric_default_and_bad_input(tmp_path):
    assert RegretNet(AuctionSetting(2, 1)).symmetric
    assert not RegretNet(AuctionSetting(2, 1, values="uniform(0,1)|uniform(0,2)")).symmetric
    assert not RegretNet(AuctionSetting(2, 2)).symmetric
    assert not RegretNet(AuctionSetting(1, 1)).symmetric
    flat = RegretNet(AuctionSetting(3, 1), symmetric=False)
    assert (flat.hidden, flat.alloc_net[0].in_features) == (32, 3)
    with pytest.raises(ValueError, match="symmetric"):
        RegretNet(AuctionSetting(2, 2), symmetric=True)
    with pytest.raises(TypeError, match="symmetric"):
        RegretNet(AuctionSetting(2, 1), symmetric="yes")
    s = AuctionSetting(3, 1, values="exponential(3)")
    mech = RegretNet(s, hidden=8).fit(max_iter=3, batch_size=8, n_train=64, seed=1)
    mech.save(tmp_path / "sym.safetensors")
    back = RegretNet.load(tmp_path / "sym.safetensors", setting=s)
    assert back.symmetric
    v = s.sample(16, generator=torch.Generator().manual_seed(2))
    for a, b in zip(mech(v), back(v)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # a file saved before `symmetric` existed (no such key) holds the networks over all bids
    from safetensors.torch import load_file, save_file

    from econcs.auctions._mechanism import _META_KEY

    flat = RegretNet(s, hidden=8, symmetric=False).fit(max_iter=3, batch_size=8, n_train=64)
    flat.save(tmp_path / "flat.safetensors")
    meta = json.loads(safe_open_meta(tmp_path / "flat.safetensors")[_META_KEY])
    del meta["hparams"]["symmetric"]
    save_file(load_file(tmp_path / "flat.safetensors"), tmp_path / "old.safetensors",
              metadata={_META_KEY: json.dumps(meta)})
    old = RegretNet.load(tmp_path / "old.safetensors", setting=s)
    assert not old.symmetric
    for a, b in zip(flat(v), old(v)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gemnet_with_one_bidder_is_rochetnet():
    s = AuctionSetting(1, 2)
    kw = {"max_iter": 60, "batch_size": 128, "lr": 0.05, "temperature": 0.01,
          "temperature_final": 0.001, "seed": 3}
    # float64: the two code paths sum in different orders, and float32 rounding grows in training
    gem = GemNet(s, menu_size=16, dtype="float64").fit(**kw)
    roc = RochetNet(s, menu_size=16, dtype="float64").fit(**kw)
    torch.testing.assert_close(gem.menu.prices, roc.menu.prices, rtol=1e-9, atol=1e-9)
    v = s.sample(512, generator=torch.Generator().manual_seed(0)).double()
    torch.testing.assert_close(gem(v)[1], roc(v)[1], rtol=1e-9, atol=1e-9)
    tr = gem.transform(grid_points=5)
    assert tr.n_milps == 0 and tr.certified_share == 1.0


def test_gemnet_is_strategy_proof_and_transform_runs():
    s = AuctionSetting(2, 1)
    gem = GemNet(s, menu_size=8, hidden=16).fit(max_iter=80, batch_size=256, seed=0)
    rep = evaluate(gem, 300, seed=1, n_restarts=8, n_steps=10, grid_points=21)
    assert rep.regret_max < 1e-5 and rep.ir_violation == 0
    tr = gem.transform(grid_points=9)
    assert tr.violations_after <= tr.violations_before
    assert 0.0 <= tr.certified_share <= 1.0
    # the transform changes prices only as a function of the other bidder's value: still SP
    rep = evaluate(gem, 300, seed=1, n_restarts=8, n_steps=10, grid_points=21)
    assert rep.regret_max < 1e-5


def test_gemnet_transform_fixes_grid_incompatibility():
    """An untrained 2x2 GemNet over-allocates; after the MILP transform the grid is clean."""
    s = AuctionSetting(2, 2)
    gem = GemNet(s, menu_size=4, hidden=8)
    with torch.no_grad():  # cheap menus so both bidders take everything
        gem.biases[-1][:, -4:] = 0.0
        gem.biases[-1][:, :-4] = 5.0
    tr = gem.transform(grid_points=3, max_change=2.0)
    assert tr.violations_before > 0
    assert tr.violations_after == 0 and tr.n_infeasible == 0


def test_gemnet_save_load_keeps_transform(tmp_path):
    s = AuctionSetting(2, 1)
    gem = GemNet(s, menu_size=4, hidden=8)
    gem.transform(grid_points=5)
    gem.save(tmp_path / "g.safetensors")
    back = GemNet.load(tmp_path / "g.safetensors")
    v = torch.rand(32, 2, 1)
    for a, b in zip(gem(v), back(v)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gemnet_bad_input():
    with pytest.raises(ValueError, match="menu_size"):
        GemNet(AuctionSetting(2, 1), menu_size=0)
    with pytest.raises(ValueError, match="setting"):
        GemNet(AuctionSetting(3, 3), hidden=4).transform()
    with pytest.raises(ValueError, match="penalty"):
        GemNet(AuctionSetting(2, 1), hidden=4).fit(max_iter=1, penalty=-1.0)
