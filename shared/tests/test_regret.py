import numpy as np
import pytest
import torch

from econcs.shared import AugmentedLagrangian
from econcs.shared.regret import (
    ConstraintPenalty,
    interim_mean,
    interim_misreport_utilities,
    interim_profiles,
    linear_regret,
    misreport_profiles,
    regret_search,
)


def _smooth_auction(pay_scale=0.25):
    """a_i = b_i / 2 + (1 - mean of the others' bids) / 4 (one item), p_i = pay_scale b_i^2.

    With pay_scale 1/4 truth-telling is optimal (interim and ex post); with 1/8 the best report
    is min(2 v, 1): regret v^2 / 8 for v <= 1/2, whatever the others do."""

    def mech(b):
        n = b.shape[1]
        others = (b.sum(1, keepdim=True) - b) / max(n - 1, 1)
        return b / 2 + (1 - others) / 4, pay_scale * (b**2).sum(-1)

    return mech


def test_misreport_and_interim_profiles_match_loops():
    gen = torch.Generator().manual_seed(0)
    v = torch.rand(3, 2, 2, generator=gen)
    mis = torch.rand(3, 4, 2, 2, generator=gen)
    prof = misreport_profiles(v, mis)
    others = torch.rand(5, 2, 2, generator=gen)
    inter = interim_profiles(v, others)
    for b in range(3):
        for i in range(2):
            for r in range(4):
                want = v[b].clone()
                want[i] = mis[b, r, i]
                assert torch.equal(prof[b, r, i], want)
            for m in range(5):
                want = others[m].clone()
                want[i] = v[b, i]
                assert torch.equal(inter[b, i, m], want)


def test_interim_mean_averages_every_agents_outcome():
    gen = torch.Generator().manual_seed(1)
    rep = torch.rand(4, 3, 1, generator=gen, dtype=torch.float64)
    others = torch.rand(6, 3, 1, generator=gen, dtype=torch.float64)

    def outcome(p):  # agent j's outcome: its report times the sum of all reports
        return p[..., 0] * p[..., 0].sum(-1, keepdim=True)

    got = interim_mean(outcome, rep, others)  # (4, 3, 3)
    for b in range(4):
        for i in range(3):
            prof = others.clone()
            prof[:, i] = rep[b, i]
            want = outcome(prof).mean(0)
            np.testing.assert_allclose(got[b, i].numpy(), want.numpy(), rtol=1e-12)


def test_interim_regret_search_finds_closed_form():
    gen = torch.Generator().manual_seed(2)
    v = 0.5 * torch.rand(8, 2, 1, generator=gen, dtype=torch.float64)
    others = torch.rand(16, 2, 1, generator=gen, dtype=torch.float64)
    for scale, want in ((0.25, torch.zeros(8, 2)), (0.125, v[..., 0] ** 2 / 8)):
        mech = _smooth_auction(scale)

        def util(values, mis, mech=mech):
            return interim_misreport_utilities(mech, values, mis, others)

        res = regret_search(util, v, low=0.0, high=1.0, n_restarts=2, n_steps=100, lr=0.05,
                            generator=gen)
        np.testing.assert_allclose(res.regret.numpy(), want.numpy(), atol=2e-5)
        if scale == 0.125:
            np.testing.assert_allclose(res.misreports.numpy(), (2 * v).numpy(), atol=5e-3)


def test_ex_post_regret_search_through_misreport_profiles():
    mech = _smooth_auction(0.125)
    v = 0.5 * torch.rand(16, 3, 1, generator=torch.Generator().manual_seed(3),
                         dtype=torch.float64)

    def util(values, mis):
        b, r, n, d = mis.shape
        alloc, pay = mech(misreport_profiles(values, mis).reshape(b * r * n, n, d))
        alloc = alloc.view(b, r, n, n).diagonal(dim1=2, dim2=3)
        pay = pay.view(b, r, n, n).diagonal(dim1=2, dim2=3)
        return alloc * values[..., 0].unsqueeze(1) - pay

    res = regret_search(util, v, low=0.0, high=1.0, n_restarts=2, n_steps=100)
    np.testing.assert_allclose(res.regret.numpy(), (v[..., 0] ** 2 / 8).numpy(), atol=2e-5)
    assert bool((res.truthful_utility == util(v, v.unsqueeze(1))[:, 0]).all())


def test_linear_regret_matches_brute_force():
    gen = torch.Generator().manual_seed(4)
    v = torch.rand(5, 2, generator=gen)
    q, p = torch.rand(5, 2, generator=gen), torch.rand(5, 2, generator=gen)
    cq, cp = torch.rand(7, 2, generator=gen), torch.rand(7, 2, generator=gen)
    reg, best = linear_regret(v, q, p, cq, cp)
    per_row = linear_regret(v, q, p, cq.expand(5, 7, 2), cp.expand(5, 7, 2))[0]
    for b in range(5):
        for i in range(2):
            u = v[b, i] * cq[:, i] - cp[:, i]
            want = max(float(u.max() - (v[b, i] * q[b, i] - p[b, i])), 0.0)
            assert abs(float(reg[b, i]) - want) < 1e-6
            assert int(best[b, i]) == int(u.argmax())
    np.testing.assert_allclose(per_row.numpy(), reg.numpy(), rtol=1e-6)


def test_constraint_penalty_is_the_augmented_lagrangian_by_group():
    kw = {"rho": 2.0, "lambda_init": 1.0, "update_every": 2, "rho_increment": 1.0,
          "rho_every": 3}
    pen = ConstraintPenalty({"regret": 2, "obedience": 1}, **kw)
    ref = AugmentedLagrangian(3, **kw)
    gen = torch.Generator().manual_seed(5)
    for _ in range(7):
        g = torch.rand(3, generator=gen)
        groups = {"regret": g[:2], "obedience": g[2:]}
        obj = torch.rand((), generator=gen)
        assert abs(float(pen.loss(obj, groups)) - float(ref.loss(obj, g))) < 1e-6
        pen.step(groups)
        ref.step(g)
    assert pen.rho == ref.rho == 4.0
    lam = pen.multipliers()
    np.testing.assert_allclose(torch.cat([lam["regret"], lam["obedience"]]).numpy(),
                               ref.lambdas.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="groups"):
        pen.loss(obj, {"regret": g[:2]})
    with pytest.raises(ValueError, match="obedience"):
        pen.step({"regret": g[:2], "obedience": g})
    with pytest.raises(TypeError, match="sizes"):
        ConstraintPenalty({})
    with pytest.raises(ValueError, match="sizes"):
        ConstraintPenalty({"regret": 0})


def test_regret_search_bad_input():
    def util(v, m):
        return m.sum(-1)

    v = torch.rand(2, 2, 1)
    with pytest.raises(ValueError, match="values"):
        regret_search(util, torch.rand(2, 2), low=0.0, high=1.0)
    with pytest.raises(ValueError, match="low, high"):
        regret_search(util, v, low=0.0, high=float("inf"))
    with pytest.raises(ValueError, match="n_steps"):
        regret_search(util, v, low=0.0, high=1.0, n_steps=-1)
    with pytest.raises(ValueError, match="init"):
        regret_search(util, v, low=0.0, high=1.0, init=torch.rand(3, 1, 2, 1))
