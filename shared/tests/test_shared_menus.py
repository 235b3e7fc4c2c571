import shutil

import numpy as np
import pytest
import torch

from econcs.shared import (
    MenuLayer,
    best_response_search,
    choose_from_menu,
    misreport_gradient,
    misreport_utilities,
)

needs_compiler = pytest.mark.skipif(shutil.which("g++") is None,
                                    reason="torch.compile on the CPU needs a C++ compiler")


def _quadratic_mechanism(coupling=0.3):
    """a_ij = b_ij * (1 + coupling * mean of the others' bids on j) / (1 + coupling);
    p_i = sum_j b_ij^2 / 2."""

    def mech(b):
        n = b.shape[1]
        others = (b.sum(1, keepdim=True) - b) / max(n - 1, 1)
        alloc = b * (1 + coupling * others) / (1 + coupling)
        pay = 0.5 * (b**2).sum(-1)
        return alloc, pay

    return mech


def test_misreport_utilities_matches_loop():
    mech = _quadratic_mechanism()
    gen = torch.Generator().manual_seed(0)
    v = torch.rand(4, 3, 2, generator=gen, dtype=torch.float64)
    mis = torch.rand(4, 5, 3, 2, generator=gen, dtype=torch.float64)
    fast = misreport_utilities(mech, v, mis)
    for b in range(4):
        for r in range(5):
            for i in range(3):
                prof = v[b].clone()
                prof[i] = mis[b, r, i]
                a, p = mech(prof.unsqueeze(0))
                u = float((a[0, i] * v[b, i]).sum() - p[0, i])
                assert abs(u - float(fast[b, r, i])) < 1e-12


def test_best_response_search_finds_closed_form_regret():
    # with no coupling, u_i(b) = sum_j v_ij b_ij - b_ij^2 / 2 is maximised at b = v (truthful),
    # so regret is 0; with a halved payment rule the best response is b = 2v clipped to 1.
    mech = _quadratic_mechanism(coupling=0.0)
    v = torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res = best_response_search(
        mech,
        v,
        low=0.0,
        high=1.0,
        n_restarts=8,
        n_steps=300,
        lr=0.05,
        generator=torch.Generator().manual_seed(2),
    )
    assert float(res.regret.max()) < 1e-8

    def cheap(b):
        alloc, pay = mech(b)
        return alloc, pay / 2

    res = best_response_search(
        cheap,
        v,
        low=0.0,
        high=1.0,
        n_restarts=8,
        n_steps=400,
        lr=0.05,
        generator=torch.Generator().manual_seed(2),
    )
    best = torch.clamp(2 * v, max=1.0)
    u_best = (best * v).sum(-1) - 0.25 * (best**2).sum(-1)
    u_true = (v * v).sum(-1) - 0.25 * (v**2).sum(-1)
    np.testing.assert_allclose(res.regret.numpy(), (u_best - u_true).numpy(), atol=1e-5)
    np.testing.assert_allclose(res.misreports.numpy(), best.numpy(), atol=2e-3)


@needs_compiler
def test_compiled_misreport_gradient_matches_eager_and_follows_the_parameters():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 6))

    def mech(b):  # a small RegretNet-like mechanism: softmax allocation, fractional payment
        out = net(b.reshape(b.shape[0], 4))
        alloc = torch.softmax(out.view(-1, 3, 2), dim=1)[:, :2]
        return alloc, 0.5 * (alloc * b).sum(-1)

    gen = torch.Generator().manual_seed(1)
    v = torch.rand(32, 2, 2, generator=gen)
    mis = torch.rand(32, 3, 2, 2, generator=gen)
    eager, compiled = misreport_gradient(mech), misreport_gradient(mech, compile=True)
    for _ in range(2):  # the second time after a parameter update, as in training
        g_eager, g_comp = eager(v, mis), compiled(v, mis)
        assert float(g_eager.abs().max()) > 1e-3
        torch.testing.assert_close(g_comp, g_eager, atol=1e-6, rtol=1e-5)
        with torch.no_grad():
            net[0].weight.add_(0.5)


@needs_compiler
def test_best_response_search_with_a_compiled_gradient_finds_closed_form_best_response():
    mech = _quadratic_mechanism(coupling=0.0)

    def cheap(b):  # best response 2v clipped to 1 (see the test above)
        alloc, pay = mech(b)
        return alloc, pay / 2

    v = torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res = best_response_search(cheap, v, low=0.0, high=1.0, n_restarts=8, n_steps=400, lr=0.05,
                               generator=torch.Generator().manual_seed(2),
                               gradient=misreport_gradient(cheap, compile=True))
    np.testing.assert_allclose(res.misreports.numpy(), torch.clamp(2 * v, max=1.0).numpy(),
                               atol=2e-3)


def test_posted_prices_stop_the_ascent():
    def posted(b):  # take an item when its value exceeds 1/2, pay 1/2: no gradient anywhere
        alloc = (b > 0.5).to(b.dtype)
        return alloc, 0.5 * alloc.sum(-1)

    v = torch.rand(8, 2, 2, generator=torch.Generator().manual_seed(3))
    assert misreport_gradient(posted)(v, v.unsqueeze(1)) is None
    with pytest.raises(TypeError, match="compile"):
        misreport_gradient(posted, compile="yes")
    res = best_response_search(posted, v, low=0.0, high=1.0, n_restarts=4, n_steps=10,
                               generator=torch.Generator().manual_seed(4))
    assert float(res.regret.max()) == 0.0


def test_menu_is_incentive_compatible_under_hard_choice():
    menu = MenuLayer(2, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def mech(b):  # one bidder facing the menu
        out = menu(b[:, 0, :])
        return out.allocation.unsqueeze(1), out.payment.unsqueeze(1)

    v = torch.rand(200, 1, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mis = torch.rand(200, 64, 1, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    truthful = menu(v[:, 0]).utility
    assert torch.all(misreport_utilities(mech, v, mis)[..., 0] <= truthful.unsqueeze(1) + 1e-12)
    assert torch.all(truthful >= 0)  # individually rational: the null option is always there


def test_choose_from_menu_soft_tends_to_hard_and_unit_demand():
    gen = torch.Generator().manual_seed(5)
    menu = MenuLayer(3, 20, kind="unit-demand", generator=gen, dtype=torch.float64)
    assert torch.all(menu.allocations.sum(1) <= 1 + 1e-12)
    v = torch.rand(100, 3, generator=gen, dtype=torch.float64)
    hard, soft = menu(v), menu(v, temperature=1e-6)
    torch.testing.assert_close(soft.payment, hard.payment)
    assert hard.weights.shape == (100, 21)
    # per-buyer menus (GemNet) give the same outcome as the shared menu broadcast
    per_buyer = choose_from_menu(
        v, menu.allocations.expand(100, -1, -1), menu.prices.expand(100, -1)
    )
    torch.testing.assert_close(per_buyer.payment, hard.payment)


def test_menu_and_search_bad_input():
    with pytest.raises(ValueError, match="n_options"):
        MenuLayer(2, 0)
    with pytest.raises(ValueError, match="kind"):
        MenuLayer(2, 5, kind="both")
    with pytest.raises(ValueError, match=r"values: expected shape \(any, 2\)"):
        MenuLayer(2, 5)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="values: expected finite"):
        MenuLayer(2, 5)(torch.full((1, 2), float("nan")))
    mech = _quadratic_mechanism()
    with pytest.raises(ValueError, match="low, high"):
        best_response_search(mech, torch.zeros(2, 1, 1), low=0.0, high=float("inf"))
    with pytest.raises(ValueError, match="n_restarts"):
        best_response_search(mech, torch.zeros(2, 1, 1), low=0.0, high=1.0, n_restarts=0)


def test_search_on_piecewise_constant_mechanism_uses_restarts_only():
    # posted price 0.5 per item: no gradient, regret 0 (it is truthful); the search must not crash
    def posted(b):
        alloc = (b > 0.5).to(b.dtype)
        return alloc, (alloc * 0.5).sum(-1)

    v = torch.rand(16, 2, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    res = best_response_search(posted, v, low=0.0, high=1.0, n_restarts=4, n_steps=10)
    assert float(res.regret.max()) == 0.0
