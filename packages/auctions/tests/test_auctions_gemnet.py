"""GemNet's post-training price transform: known answers for the MILPs, the certificate, and
compatibility and revenue after the transform of a trained GemNet."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.auctions import AuctionSetting, GemNet, evaluate
from econcs.auctions._evaluate import grid_regret
from econcs.auctions._gemnet_certificate import (
    box_compatible,
    certified_boxes,
    certified_share,
    menu_bounds,
)
from econcs.auctions._gemnet_programs import (
    _cell_revenue,
    _dominated,
    _price_milp,
    _raise_unfit,
    _remove_unfit,
)


def _constant_menus(setting: AuctionSetting, logit: float, price: float) -> GemNet:
    """A GemNet whose every menu is one option (``sigmoid(logit)`` of each item at ``price``),
    whatever the others bid."""
    gem = GemNet(setting, menu_size=1, hidden=4)
    with torch.no_grad():
        gem.weights[-1].zero_()
        gem.biases[-1][:, :-1] = logit
        gem.biases[-1][:, -1] = price
    return gem


def test_price_milp_maximises_revenue_not_the_price_change():
    """One item at price 0.3; the other bidder holds the item at values 0.25 and 0.5, so the
    option must not be taken there: the price must end in (0.5, 0.75). The smallest change
    (0.5 + margin) earns 2 x 0.5; the revenue-maximising one, 0.75 - margin, earns 2 x 0.75."""
    x = np.linspace(0, 1, 5)
    a, p, margin = np.array([[1.0]]), np.array([0.3]), 1e-3
    rest = np.array([[0.0], [1.0], [1.0], [0.0], [0.0]])
    d = _price_milp((x - 0.3)[:, None], a, p, rest, margin, 0.5, 1e-6, 10.0)
    assert_allclose(d, [0.75 - margin - 0.3], atol=1e-6)
    # with the choices fixed to the best fitting option at the current price (nothing at 0.25
    # and 0.5, the item at 0.75 and 1) the program is an LP with the same answer
    d = _price_milp((x - 0.3)[:, None], a, p, rest, margin, 0.5, 1e-6, 10.0, fixed=True)
    assert_allclose(d, [0.75 - margin - 0.3], atol=1e-6)
    # a bound too small to push the price past 0.5 leaves the program infeasible
    assert _price_milp((x - 0.3)[:, None], a, p, rest, margin, 0.1, 1e-6, 10.0) is None


def test_fallbacks_raise_unfit_options_gently_and_dominated_options_are_skipped():
    """One item; options the item at 0.3 and half of it at 0.1; the other bidder holds the item
    at value 0.75 only, where the choice (the item) does not fit, nor does the half. Taking
    unfit options out takes out both (revenue 0 on the grid); raising them just until nothing
    beats them by the margin (the item by 0.45 + m, the half by 0.275 + m) keeps the item sold
    at value 1 for 0.75 + m."""
    x, m = np.linspace(0, 1, 5), 1e-3
    a, p = np.array([[1.0], [0.5]]), np.array([0.3, 0.1])
    u = x[:, None] * a[:, 0] - p
    rest = np.array([[0.0], [0.0], [0.0], [1.0], [0.0]])
    assert _cell_revenue(u, a, p, rest, np.zeros(2), 1e-6) == -np.inf  # does not fit at 0.75
    d = _remove_unfit(u, a, rest, 1e-6, 2.0)
    assert_allclose(d, [2.0, 2.0])
    assert _cell_revenue(u, a, p, rest, d, 1e-6) == 0.0
    d = _raise_unfit(u, a, rest, 1e-6, m, 2.0)
    assert_allclose(d, [0.45 + m, 0.275 + m], atol=1e-12)
    assert _cell_revenue(u, a, p, rest, d, 1e-6) == pytest.approx(0.75 + m, abs=1e-12)
    # dominated: a copy of a lower-index option, less of every item at a higher price; not: more
    # of an item at a higher price, less at a lower one
    a = np.array([[1, 0], [1, 0], [0.5, 0], [1, 1], [0.2, 0]])
    assert _dominated(a, np.array([0.5, 0.5, 0.6, 1.2, 0.1])).tolist() == [False, True, True,
                                                                            False, False]


def test_transform_widens_the_bound_and_keeps_compatible_cells():
    """Both bidders always take the item at 0.2: bidder 0's price must rise above 1 wherever
    bidder 1 (value > 0.2) takes it, beyond ``max_change``; other cells stay unchanged."""
    gem = _constant_menus(AuctionSetting(2, 1), logit=30.0, price=0.2)
    tr = gem.transform(grid_points=5, max_change=0.1, margin=1e-3)
    assert tr.violations_before == 16 and tr.violations_after == 0 and tr.n_infeasible == 0
    assert_allclose(tr.revenue_before, 0.2 * 40 / 25, rtol=1e-6)
    assert_allclose(tr.revenue_after, 0.2 * 24 / 25, rtol=1e-6)
    assert_allclose(gem.price_delta[0, 1:, 0], [0.8 + 1e-3] * 4, atol=1e-5)
    assert float(gem.price_delta[0, 0].abs().max()) == 0 and float(gem.price_delta[1].abs().max()) == 0
    # bidder 0 buys only while bidder 1's value is below 0.125 (the first cell): compatible
    # everywhere, and the interval certificate proves it for the whole value space
    assert tr.certified_share == 1.0
    v = AuctionSetting(2, 1).sample(20_000, generator=torch.Generator().manual_seed(0))
    alloc, pay = gem(v)
    assert float(alloc.sum(1).max()) <= 1 + 1e-6
    assert_allclose(float(pay.sum(-1).mean()), 0.8 * 0.2 + 0.125 * 0.8 * 0.2, atol=0.01)


def test_certificate_of_empty_menus_is_everything():
    gem = _constant_menus(AuctionSetting(2, 2), logit=30.0, price=5.0)
    tr = gem.transform(grid_points=3)
    assert tr.violations_before == 0 and tr.n_milps == 0 and tr.certified_share == 1.0


def test_trained_gemnet_after_transform_is_compatible_sp_and_below_myerson():
    """A briefly trained 2x1 GemNet: the transform leaves no incompatible grid profile, prices
    still depend on the other bid only (no regret), and the revenue of the exactly SP, (grid-)
    feasible mechanism is not above Myerson's optimum 5/12."""
    s = AuctionSetting(2, 1)
    gem = GemNet(s, menu_size=8, hidden=16).fit(max_iter=100, batch_size=256, seed=0)
    tr = gem.transform(grid_points=15, refine=1)
    assert tr.violations_before > 0 and tr.violations_after == 0 and tr.n_infeasible == 0
    grid = gem._grid_profiles(15)
    alloc, _ = gem(grid)
    assert float(gem.incompatibility(alloc).max()) <= 1e-6
    # 0.88 with the mean-value-form bounds; plain interval propagation certified 0.74
    assert 0.8 <= tr.certified_share <= 1.0
    rep = evaluate(gem, 20_000, seed=1, n_regret_samples=200, n_restarts=8, n_steps=10,
                   grid_points=51)
    assert rep.regret_max < 1e-5 and rep.ir_violation == 0
    assert rep.infeasibility <= 1e-3
    assert rep.revenue <= 5 / 12 + 3 * rep.revenue_se
    assert rep.revenue >= 0.3


def test_transform_bad_input():
    gem = GemNet(AuctionSetting(2, 1), menu_size=2, hidden=4)
    with pytest.raises(ValueError, match="grid_points"):
        gem.transform(grid_points=1)
    with pytest.raises(ValueError, match="max_change"):
        gem.transform(max_change=0.0)
    with pytest.raises(ValueError, match="refine"):
        gem.transform(refine=-1)
    with pytest.raises(ValueError, match="margin"):
        gem.transform(margin=math.nan)
    with pytest.raises(ValueError, match="order"):
        gem.transform(order=(0, 0))
    with pytest.raises(ValueError, match="order"):
        gem.transform(order="worst")
    with pytest.raises(TypeError, match="order"):
        gem.transform(order=1)


def test_transform_order_lets_the_first_bidder_in_it_give_way():
    """With ``order=(1, 0)`` bidder 1's programs resolve every incompatible grid profile (the
    null option always fits), so bidder 0's prices stay unchanged; in index order bidder 0's
    change. (A 9-grid and 30 s per program: every program is solved to optimality in ~1 s, so
    the three transforms do not depend on the machine's load.)"""
    gem = GemNet(AuctionSetting(2, 1), menu_size=8, hidden=16).fit(max_iter=100, batch_size=256,
                                                                   seed=0)
    tr = gem.transform(grid_points=9, refine=0, time_limit=30, order=(1, 0))
    assert tr.violations_before > 0 and tr.violations_after == 0
    assert float(gem.price_delta[0].abs().max()) == 0.0 < float(gem.price_delta[1].abs().max())
    order_rev = tr.revenue_after
    tr = gem.transform(grid_points=9, refine=0, time_limit=30)
    assert float(gem.price_delta[0].abs().max()) > 0.0 and tr.order == (0, 1)
    index_rev = tr.revenue_after
    tr = gem.transform(grid_points=9, refine=0, time_limit=30, order="best")
    assert tr.revenue_after == pytest.approx(max(order_rev, index_rev), abs=1e-6)
    assert tr.order == ((1, 0) if order_rev > index_rev else (0, 1))
    assert tr.violations_after == 0
    _, pay = gem(gem._grid_profiles(9))
    assert float(pay.sum(-1).mean()) == pytest.approx(tr.revenue_after, abs=1e-9)


def test_transform_node_limit_reaches_highs_and_is_checked(monkeypatch):
    """``node_limit`` is HiGHS's ``mip_max_nodes`` on every program (a limit the same on every
    machine, unlike ``time_limit``): the same transform twice."""
    import econcs.shared.solvers as solvers

    seen = []
    solve = solvers.solve_milp

    def spy(*args, **kw):
        seen.append((kw.get("options"), kw.get("time_limit")))
        return solve(*args, **kw)

    monkeypatch.setattr(solvers, "solve_milp", spy)
    gem = GemNet(AuctionSetting(2, 1), menu_size=8, hidden=16).fit(max_iter=100, batch_size=256,
                                                                   seed=0)
    first = gem.transform(grid_points=5, refine=0, node_limit=3, time_limit=30)
    delta = gem.price_delta.clone()
    assert seen and all(s == ({"mip_max_nodes": 3}, 30.0) for s in seen)
    again = gem.transform(grid_points=5, refine=0, node_limit=3, time_limit=30)
    assert torch.equal(gem.price_delta, delta) and again.revenue_after == first.revenue_after
    with pytest.raises(ValueError, match="node_limit"):
        gem.transform(grid_points=5, node_limit=0)
    with pytest.raises(ValueError, match="time_limit"):
        gem.transform(grid_points=5, time_limit=0)


def _random_boxes(gen: torch.Generator, count: int, width: float) -> tuple[torch.Tensor, ...]:
    lo = torch.rand(count, 2, 2, generator=gen) * (1 - width)
    return lo, lo + width


def _inside(lo: torch.Tensor, hi: torch.Tensor, gen: torch.Generator, per_box: int) -> torch.Tensor:
    """``(P, per_box + 2, n, m)`` profiles in each box, its two extreme corners included."""
    u = torch.rand(lo.shape[0], per_box, *lo.shape[1:], generator=gen)
    x = lo.unsqueeze(1) + u * (hi - lo).unsqueeze(1)
    return torch.cat([x, lo.unsqueeze(1), hi.unsqueeze(1)], 1)


def _trained_2x2(valuation: str) -> GemNet:
    return GemNet(AuctionSetting(2, 2, valuation=valuation), menu_size=8, hidden=16).fit(
        max_iter=150, batch_size=256, seed=0)


@pytest.fixture(scope="module")
def trained_2x2() -> GemNet:
    return _trained_2x2("additive")


@pytest.mark.parametrize("valuation", ["additive", "unit-demand"])
@pytest.mark.parametrize("width", [0.02, 0.5])
def test_menu_bounds_contain_the_menus_and_are_tight_on_small_boxes(trained_2x2, valuation,
                                                                    width):
    """Every menu inside a box lies within ``menu_bounds``; on small boxes the bounds (mean
    value form with an interval Jacobian) are close to the range actually taken (1.10x / 1.08x
    of the sampled price range here; interval propagation alone gave 3.7x / 5.4x)."""
    gem = trained_2x2 if valuation == "additive" else _trained_2x2(valuation)
    gen = torch.Generator().manual_seed(1)
    lo, hi = _random_boxes(gen, 64, width)
    x = _inside(lo, hi, gen, 256)
    with torch.no_grad():
        a_lo, a_hi, p_lo, p_hi = menu_bounds(gem, lo, hi)
        a, p = gem.menus(x.reshape(-1, 2, 2))
    a, p = a.reshape(64, -1, *a.shape[1:]), p.reshape(64, -1, *p.shape[1:])
    assert bool((a >= a_lo.unsqueeze(1) - 1e-6).all() and (a <= a_hi.unsqueeze(1) + 1e-6).all())
    assert bool((p >= p_lo.unsqueeze(1) - 1e-6).all() and (p <= p_hi.unsqueeze(1) + 1e-6).all())
    if width < 0.1:
        taken = (p.amax(1) - p.amin(1)).mean()
        assert float((p_hi - p_lo).mean()) <= 1.3 * float(taken)


def test_certified_boxes_hold_only_compatible_profiles(trained_2x2):
    """Boxes the certificate accepts contain no over-allocating profile; some are accepted and
    some rejected (the test is not vacuous)."""
    gem, gen = trained_2x2, torch.Generator().manual_seed(2)
    lo, hi = _random_boxes(gen, 2000, 0.05)
    with torch.no_grad():
        ok = box_compatible(gem, lo, hi, 1e-6)
        x = _inside(lo[ok], hi[ok], gen, 64)
        alloc, _ = gem(x.reshape(-1, 2, 2))
    assert 0.05 < float(ok.float().mean()) < 1.0
    assert float(gem.incompatibility(alloc).max()) <= 1e-6


def test_refined_certificate_tiles_the_value_space_and_holds_no_over_allocation(trained_2x2):
    """The certificate's boxes, refined by bisection, lie in the value space without overlapping,
    contain no over-allocating profile, and their volume is the certified share: uniform samples
    fall into them at that rate and none that over-allocates does. Refining certifies more."""
    gem, gen = trained_2x2, torch.Generator().manual_seed(4)
    steps = list(certified_boxes(gem, 5, 2, 1e-6))
    lo, hi = torch.cat([b[0] for b in steps]), torch.cat([b[1] for b in steps])
    assert len(steps) == 2 * 4 + 1 and bool((lo >= 0).all() and (hi <= 1).all())
    share = float((hi - lo).prod(-1).prod(-1).sum())
    assert certified_share(gem, 5, 2, 1e-6) == pytest.approx(share)
    assert certified_share(gem, 5, 0, 1e-6) < share - 0.02 and 0.1 < share < 0.95
    with torch.no_grad():
        alloc, _ = gem(_inside(lo, hi, gen, 8).reshape(-1, 2, 2))
        assert float(gem.incompatibility(alloc).max()) <= 1e-6
        v = torch.rand(3000, 2, 2, generator=gen)
        over = gem.incompatibility(gem(v)[0]) > 1e-6
    inside = torch.cat([((c.unsqueeze(1) >= lo) & (c.unsqueeze(1) <= hi)).flatten(2).all(-1)
                        for c in v.split(500)])  # (V, boxes)
    assert int(inside.sum(1).max()) == 1  # no overlap (a tie on a shared face has measure 0)
    assert float(inside.any(1).float().mean()) == pytest.approx(share, abs=0.03)
    assert 0 < int(over.sum()) and not bool(inside[over].any())


@pytest.mark.parametrize("n_bidders, n_items", [(2, 2), (3, 1)])
def test_repair_makes_outcomes_feasible_and_its_loss_bounds_the_regret(tmp_path, n_bidders,
                                                                       n_items):
    """With ``repair=True`` no profile over-allocates; where the menus' choices are compatible
    the outcome is theirs, bidder 0's outcome never changes (it stays exactly strategy-proof),
    and at every profile each bidder's exact grid regret is at most its repair loss (every
    report gets it an option of the same menu). The untransformed net conflicts at some
    profiles, so the repair and the bound are exercised."""
    setting = AuctionSetting(n_bidders, n_items)
    gem = GemNet(setting, menu_size=8, hidden=16).fit(max_iter=150, batch_size=256, seed=0)
    values = setting.sample(3000, generator=torch.Generator().manual_seed(3))
    alloc, pay = gem(values)
    conflict = gem.incompatibility(alloc) > 1e-6
    assert 0.005 < float(conflict.float().mean()) < 0.5
    assert gem.exactly_ic
    gem.repair = True
    assert not gem.exactly_ic
    fixed_a, fixed_p = gem(values)
    loss = gem.repair_loss(values)
    assert float(gem.incompatibility(fixed_a).max()) <= 1e-6
    assert torch.equal(fixed_a[~conflict], alloc[~conflict])
    assert torch.equal(fixed_p[~conflict], pay[~conflict])
    assert torch.equal(fixed_a[:, 0], alloc[:, 0]) and torch.equal(fixed_p[:, 0], pay[:, 0])
    assert float(loss[~conflict].abs().max()) == 0.0 and float(loss[conflict].max()) > 0
    assert float(((fixed_a * values).sum(-1) - fixed_p).min()) >= -1e-6  # IR
    probe = torch.cat([values[conflict][:200], values[~conflict][:100]])
    regret, _ = grid_regret(gem, probe, points=21 if n_items == 2 else 101)
    assert bool((regret <= gem.repair_loss(probe) + 1e-5).all())
    assert float(regret.max()) > 0  # the repair does cost strategy-proofness somewhere
    gem.save(tmp_path / "g.safetensors")
    again = GemNet.load(tmp_path / "g.safetensors")
    assert again.repair and torch.equal(again(values)[0], fixed_a)


def test_repair_bad_input():
    with pytest.raises(TypeError, match="repair"):
        GemNet(AuctionSetting(2, 1), repair="yes")


def test_symmetric_gemnet_shares_one_menu_network(tmp_path):
    """``symmetric=True``: one network for every bidder, so with two bidders swapping their
    bids swaps their outcomes exactly (before any transform); it saves, loads and is made
    compatible by the transform like the per-bidder version."""
    s = AuctionSetting(2, 1)
    gem = GemNet(s, menu_size=8, hidden=16, symmetric=True)
    per = GemNet(s, menu_size=8, hidden=16)
    assert sum(p.numel() for p in per.parameters()) == 2 * sum(p.numel()
                                                                for p in gem.parameters())
    gem.fit(max_iter=30, batch_size=64, seed=0)
    v = torch.rand(50, 2, 1, generator=torch.Generator().manual_seed(1))
    (a, p), (a2, p2) = gem(v), gem(v.flip(1))
    torch.testing.assert_close(a2.flip(1), a)
    torch.testing.assert_close(p2.flip(1), p)
    gem.save(tmp_path / "g.safetensors")
    back = GemNet.load(tmp_path / "g.safetensors")
    assert back.symmetric
    torch.testing.assert_close(back(v)[1], p)
    tr = gem.transform(grid_points=9, refine=1)
    assert tr.violations_after == 0 and 0.5 <= tr.certified_share <= 1.0


def test_final_phase_runs_at_the_final_temperature_with_a_fresh_learning_rate():
    """``final_steps`` (opt-in): the last steps run at the final temperature and penalty with
    the learning rate restarted; with ``final_steps=0`` (the default) the annealing spans every
    step as before. Bad input is refused."""
    from econcs.auctions import GemNetParams

    assert GemNetParams().resolved(1).final_steps == 0
    s = AuctionSetting(2, 1)
    with_final = GemNet(s, menu_size=4, hidden=8).fit(max_iter=150, final_steps=50,
                                                       batch_size=32, seed=0)
    without = GemNet(s, menu_size=4, hidden=8).fit(max_iter=150, final_steps=0,
                                                    batch_size=32, seed=0)
    temps = {h["step"]: h["temperature"] for h in with_final.history_}
    temps0 = {h["step"]: h["temperature"] for h in without.history_}
    final = 0.05 / 100  # temperature / 100 on one item (value scale 1)
    assert temps[100] == pytest.approx(final) and temps[150] == pytest.approx(final)
    assert temps0[100] > 2 * final and temps0[150] == pytest.approx(final)
    # the same first 100 steps would be annealed differently: the networks differ
    assert any(not torch.equal(a, b) for a, b in zip(with_final.parameters(),
                                                     without.parameters()))
    with pytest.raises(ValueError, match="final_steps"):
        GemNet(s, menu_size=4, hidden=8).fit(max_iter=10, final_steps=10, seed=0)
    with pytest.raises(ValueError, match="final_steps"):
        GemNetParams(final_steps=-1)


def _threshold_menus(shift: float) -> GemNet:
    """A 2x1 GemNet whose menu for each bidder is one option, the item at ``v_-i + shift`` (a
    threshold ``shift`` above the other's value; ``tanh(0.01 x) / 0.01`` is ``x`` within 4e-5):
    nearly compatible for a small negative ``shift`` (both buy where ``|v_1 - v_2| < -shift``),
    compatible but leaving revenue unsold for a positive one."""
    gem = GemNet(AuctionSetting(2, 1), menu_size=1, hidden=1, layers=1)
    with torch.no_grad():
        gem.weights[0].fill_(0.01)
        gem.biases[0].zero_()
        gem.weights[1].copy_(torch.tensor([[[0.0, 100.0]]]).expand_as(gem.weights[1]))
        gem.biases[1].copy_(torch.tensor([[30.0, shift]]).expand_as(gem.biases[1]))
    return gem


def _held_out(gem: GemNet, n: int = 100_000) -> tuple[float, float, float]:
    """Revenue, its standard error and the over-allocated share on held-out U[0,1] profiles."""
    v = gem.setting.sample(n, generator=torch.Generator().manual_seed(3))
    alloc, pay = gem(v)
    rev = pay.sum(-1).double()
    return (float(rev.mean()), float(rev.std() / math.sqrt(n)),
            float((gem.incompatibility(alloc) > 1e-6).double().mean()))


def test_transform_on_a_fine_own_grid_keeps_a_nearly_compatible_menu():
    """Both bidders buy in the band ``|v_1 - v_2| < 0.01`` (and at 0), so every diagonal grid
    profile is incompatible. Bidder 1 stops buying at ``(x, c)`` above ``x = c + 0.01``. On the
    21-grid the program lifts bidder 0's threshold up to just below its next own grid value
    ``c + 0.05`` (the revenue it maximises there rises with the price up to it), 0.04 above
    where bidder 1 stops: nobody buys in between. On 201 own values per cell it stops at the
    fine grid value ``c + 0.015``, and keeps ~0.008 more revenue. Both are exactly SP and
    compatible on the grid."""
    revenue, delta = {}, {}
    for own in (21, 201):
        gem = _threshold_menus(-0.01)
        tr = gem.transform(grid_points=21, refine=0, own_points=own)
        assert tr.violations_before == 21 and tr.violations_after == 0  # (c, c)
        revenue[own] = _held_out(gem)[0]
        delta[own] = gem.price_delta[0, 10:20, 0].numpy()  # the cells c = 0.5 ... 0.95
        # bidder 1 fits next to bidder 0's new choices but at the top cell (bidder 0 priced out
        # at c = 1 only where it buys at 1: the band's corner)
        assert float(gem.price_delta[1, :20].abs().max()) == 0
        rep = evaluate(gem, 2_000, seed=1, n_regret_samples=200, n_restarts=4, n_steps=10,
                       grid_points=101)
        assert rep.regret_max < 1e-6 and rep.ir_violation == 0
    # threshold (c - 0.01) + d: c + 0.049 on the coarse grid, c + 0.014 on the fine one
    assert_allclose(delta[21], 0.059, atol=1e-3)
    assert_allclose(delta[201], 0.024, atol=1e-3)
    assert revenue[201] > revenue[21] + 0.005  # 0.3465 against 0.3384 measured


def test_transform_on_every_cell_lowers_thresholds_left_high():
    """Thresholds 0.1 above the other's value are compatible everywhere, so the paper's transform
    (``cells="violated"``) changes nothing; re-optimising every cell (``cells="all"``) lowers
    each bidder's price next to the other's choices towards Myerson's ``max(v_-i, 1/2)``
    (within the first bound, 0.1 below): revenue rises towards 5/12 and never above it, the
    mechanism stays exactly SP and compatible on the grid."""
    gem = _threshold_menus(0.1)
    before = _held_out(gem)[0]
    tr = gem.transform(grid_points=21, refine=0, own_points=201)
    assert tr.violations_before == 0 and tr.n_milps == 0
    assert _held_out(gem)[0] == before
    gem = _threshold_menus(0.1)
    tr = gem.transform(grid_points=21, refine=1, own_points=201, cells="all")
    after, se, _ = _held_out(gem)
    assert tr.violations_after == 0 and tr.n_milps >= 42
    # each bidder's price at the other's value c: c + 0.1 - 0.096 = c + 0.004 (the next own
    # grid value where the other has stopped buying) for c >= 0.5, 0.5 at c = 0.4 (unchanged),
    # c + 0.2 (the bound) below 0.35; both bidders alike (bidder 1 next to bidder 0's new menu)
    assert_allclose(gem.price_delta[:, 10:20, 0].numpy(), -0.096, atol=2e-3)
    assert_allclose(gem.price_delta[:, 8, 0].numpy(), 0.0, atol=2e-3)
    assert_allclose(gem.price_delta[:, :7, 0].numpy(), 0.099, atol=2e-3)
    assert after > before + 0.06  # 0.325 -> 0.394 measured
    assert after <= 5 / 12 + 3 * se
    rep = evaluate(gem, 2_000, seed=1, n_regret_samples=200, n_restarts=4, n_steps=10,
                   grid_points=101)
    assert rep.regret_max < 1e-6 and rep.ir_violation == 0
    with pytest.raises(ValueError, match="cells"):
        gem.transform(grid_points=5, cells="some")
    with pytest.raises(ValueError, match="own_points"):
        gem.transform(grid_points=5, own_points=1)
