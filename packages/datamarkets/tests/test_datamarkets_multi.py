import numpy as np
import pytest
import torch

from econcs.datamarkets import (
    MultiBuyerMarket,
    MultiBuyerMechanism,
    MultiParams,
    ex_post_grid_optimum,
    ex_post_optimum,
    solve_experiment_lp,
    solve_multi_lp,
)
from econcs.shared.regret import regret_search

torch.set_num_threads(1)


def test_alpha_zero_decouples_into_single_buyer_lps():
    m = MultiBuyerMarket(2, prior=0.7, alpha=0.0, value="exponential(1)")
    v, w = m.grid(7)
    single = solve_experiment_lp(np.tile(m.prior, (7, 1)), v, w).revenue
    for ic in ("bic", "expost"):
        np.testing.assert_allclose(solve_multi_lp(m, 7, ic=ic).revenue, 2 * single, rtol=1e-7)


def test_ex_post_lp_is_the_discrete_virtual_value_optimum():
    for prior, alpha, n in ((0.5, 0.5, 2), (0.75, 2.0, 2), (0.6, 0.5, 3)):
        m = MultiBuyerMarket(n, prior=prior, alpha=alpha)
        k = 7 if n == 2 else 4
        v, w = m.grid(k)
        lp = solve_multi_lp(m, k, ic="expost")
        np.testing.assert_allclose(lp.revenue, ex_post_grid_optimum(m, v, w), rtol=1e-7)
        # BIC relaxes ex post IC and ex post obedience: at least as much revenue
        assert solve_multi_lp(m, k).revenue >= lp.revenue - 1e-8


def test_bic_lp_extrapolates_to_bonatti_closed_form():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    fine, coarse = solve_multi_lp(m, 21).revenue, solve_multi_lp(m, 11).revenue
    assert fine > 0.39577 * 1.02  # the grid's bias is ~4% at 21 cells
    np.testing.assert_allclose((21 * fine - 11 * coarse) / 10, 0.39577, rtol=0.005)


def test_bic_lp_solution_is_feasible():
    m = MultiBuyerMarket(2, prior=0.75, alpha=0.5)
    lp = solve_multi_lp(m, 5)
    pi = torch.tensor(np.array(lp.experiments))  # (25, 2, 2, 2)
    np.testing.assert_allclose(pi.sum(-1).numpy(), 1.0, atol=1e-7)
    prof = np.indices((5, 5)).reshape(2, -1).T
    gain = m.payoff(m.correctness(pi)).numpy()  # (25, 2)
    for i in range(2):
        a_int = np.array([gain[prof[:, i] == k, i].mean() for k in range(5)])
        pi_int = torch.stack([pi[torch.as_tensor(prof[:, i] == k), i].mean(0) for k in range(5)])
        assert float(m.obedience_gap(pi_int).max()) < 1e-7
        util = lp.values[:, None] * a_int[None, :] - lp.payments[i][None, :]  # (true, report)
        assert np.all(util.max(1) - np.diag(util) < 1e-7)  # interim IC
        assert np.all(np.diag(util) >= lp.values * m.outside - 1e-7)  # interim IR
    np.testing.assert_allclose((lp.payments * lp.weights).sum(), lp.revenue, rtol=1e-7)


def test_ex_post_optimum_closed_forms():
    np.testing.assert_allclose(ex_post_optimum(MultiBuyerMarket(2)), 13 / 48, rtol=1e-5)
    # alpha = 0: each buyer alone, full information at the monopoly price 1/2 of gain v / 2
    m = MultiBuyerMarket(3, prior=0.5, alpha=0.0)
    np.testing.assert_allclose(ex_post_optimum(m), 3 * 0.125, rtol=2e-3)
    np.testing.assert_allclose(ex_post_optimum(MultiBuyerMarket(2, value="exponential(1)")),
                               0.4046, rtol=2e-3)  # the paper's value


def test_market_outcomes():
    m = MultiBuyerMarket(2, prior=0.75, alpha=0.5)
    full, none = torch.eye(2), torch.full((2, 2), 0.5)
    lying = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    x = m.correctness(torch.stack([full, none, lying]))
    np.testing.assert_allclose(x.numpy(), [1.0, 0.5, 0.0])
    gap = m.obedience_gap(torch.stack([full, none, lying]))
    np.testing.assert_allclose(gap.numpy(), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(m.payoff(torch.tensor([[1.0, 0.75]])).numpy(), [[0.625, 0.25]])
    assert m.outside == 0.25
    v = m.sample(5, generator=torch.Generator().manual_seed(0))
    assert v.shape == (5, 2) and bool(((v >= 0) & (v <= 1)).all())


@pytest.mark.parametrize("kwargs, match", [
    ({"n_buyers": 1}, "n_buyers"),
    ({"prior": 1.5}, "prior"),
    ({"prior": [0.5, 0.6]}, "prior"),
    ({"prior": float("nan")}, "prior"),
    ({"alpha": -0.1}, "alpha"),
    ({"value": "normal(0,1)"}, "value"),
    ({"value": "pareto(2)"}, "value"),
])
def test_market_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiBuyerMarket(**kwargs)


def test_lp_bad_input():
    m = MultiBuyerMarket(2)
    with pytest.raises(TypeError, match="market"):
        solve_multi_lp("m", 5)
    with pytest.raises(ValueError, match="ic"):
        solve_multi_lp(m, 5, ic="dsic")
    with pytest.raises(TypeError, match="n_values"):
        solve_multi_lp(m)
    with pytest.raises(ValueError, match="values"):
        solve_multi_lp(m, values=[1.0, 0.5])
    with pytest.raises(ValueError, match="weights"):
        solve_multi_lp(m, values=[0.5, 1.0], weights=[0.5, 0.6])


def test_mechanism_bad_input_and_params():
    m = MultiBuyerMarket(2)
    with pytest.raises(TypeError, match="market"):
        MultiBuyerMechanism("m")
    with pytest.raises(ValueError, match="ic"):
        MultiBuyerMechanism(m, "dsic")
    with pytest.raises(ValueError, match="hidden"):
        MultiBuyerMechanism(m, hidden=0)
    with pytest.raises(ValueError, match="max_iter"):
        MultiParams(max_iter=0)
    with pytest.raises(TypeError):
        MultiBuyerMechanism(m).fit(max_iter=1, n_iter=3)


def test_dense_grid_regret_agrees_with_gradient_ascent():
    # an untrained BIC mechanism: the evaluation's grid regret against an independent
    # misreport ascent on the same interim utilities (same other-buyer samples)
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    mech = MultiBuyerMechanism(m, hidden=16, layers=1, dtype=torch.float64)
    torch.manual_seed(0)
    others = m.sample(64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values = m.sample(8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grid = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None].expand(401, 2).contiguous()
    with torch.no_grad():
        gain, pay, _ = mech.interim(values, others)
        cg, cp, _ = mech.interim(grid, others)
    from econcs.shared.regret import linear_regret

    dense = linear_regret(values, gain, pay, cg, cp)[0]

    def util(v, mis):
        b, r, n, _ = mis.shape
        g, p, _ = mech.interim(mis[..., 0].reshape(b * r, n), others)
        return v[..., 0].unsqueeze(1) * g.view(b, r, n) - p.view(b, r, n)

    for par in mech.parameters():
        par.requires_grad_(False)
    asc = regret_search(util, values.unsqueeze(-1), low=0.0, high=1.0, n_restarts=4,
                        n_steps=60, lr=0.05, generator=torch.Generator().manual_seed(3))
    assert float(dense.max()) > 1e-3  # an untrained mechanism has regret to find
    np.testing.assert_allclose(dense.numpy(), asc.regret.numpy(), atol=2e-4)


def test_fit_resume_matches_uninterrupted():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    kw = {"batch_size": 8, "n_samples": 4, "n_candidates": 2, "update_every": 2,
          "rho_every": 2}
    for ic in ("bic", "expost"):
        full = MultiBuyerMechanism(m, ic, hidden=8, layers=1).fit(max_iter=4, seed=1, **kw)
        saved = {}

        def cb(step, metrics, state_fn, saved=saved):
            if step == 2:
                saved["state"] = state_fn()

        MultiBuyerMechanism(m, ic, hidden=8, layers=1).fit(max_iter=2, seed=1, callback=cb,
                                                           **kw)
        again = MultiBuyerMechanism(m, ic, hidden=8, layers=1).fit(
            max_iter=4, seed=1, resume=(2, saved["state"]), **kw)
        for a, b in zip(full.parameters(), again.parameters(), strict=True):
            assert torch.equal(a, b)
        ev = again.evaluate(n_types=8, n_samples=8, n_grid=11)
        assert np.isfinite(ev.revenue) and ev.ic_violation >= 0


def test_two_buyer_batch_interim_matches_interim_mean():
    # the B x B pass of training against the general interim mean with the batch as samples
    m = MultiBuyerMarket(2, prior=0.75, alpha=2.0, value="exponential(1)")
    mech = MultiBuyerMechanism(m, hidden=8, layers=1, dtype=torch.float64)
    v = m.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fast = mech._interim_batch(v, torch.Generator(), MultiParams())
    slow = mech.interim(v, v)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b)


def test_ex_post_batch_regret_matches_candidate_profiles():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    mech = MultiBuyerMechanism(m, "expost", hidden=8, layers=1, dtype=torch.float64)
    v = m.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, regret, obed, _ = mech._terms(v, torch.Generator(), MultiParams(all_profiles=False))
    gain, pay, pis = mech.ex_post(v)
    cg, cp = mech._ex_post_candidates(v, v[None].expand(6, 6, 2).contiguous())
    from econcs.shared.regret import linear_regret

    torch.testing.assert_close(regret, linear_regret(v, gain, pay, cg, cp)[0].mean(0))
    assert float(obed.abs().max()) == 0.0 and float(m.obedience_gap(pis.detach()).max()) == 0.0


def test_obedient_relabelling():
    m = MultiBuyerMarket(2, prior=0.7, alpha=0.5)
    pi = torch.softmax(torch.randn(50, 2, 2, generator=torch.Generator().manual_seed(0)), -1)
    ob = m.obedient(pi)
    theta = torch.tensor([0.3, 0.7])
    best = (pi * theta[:, None]).amax(-2).sum(-1)  # what best-responding to pi gives
    torch.testing.assert_close(m.correctness(ob), best)
    assert float(m.obedience_gap(ob).max()) < 1e-7
    torch.testing.assert_close(ob.sum(-1), torch.ones(50, 2))


def test_stratified_sample_is_a_shifted_quantile_lattice():
    m = MultiBuyerMarket(3, value="exponential(1)")
    v = m.sample_stratified(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u = 1 - torch.exp(-v.sort(0).values)  # levels (k + U_i) / 8, one U per buyer
    frac = u * 8 - torch.arange(8, dtype=torch.float64)[:, None]
    assert bool(((frac >= 0) & (frac <= 1)).all())
    torch.testing.assert_close(frac, frac[:1].expand(8, 3))
    mix = MultiBuyerMarket(2, value="0.5*uniform(0,1)+0.5*uniform(1,2)")
    w = mix.sample_stratified(1000, generator=torch.Generator().manual_seed(0))
    assert abs(float((w < 1).float().mean()) - 0.5) < 2e-3


@pytest.mark.slow
def test_learned_bic_beats_the_ex_post_optimum():
    # a short run learns to misinform (interim obedience only): above the ex post optimum 13/48
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    mech = MultiBuyerMechanism(m).fit(max_iter=400, batch_size=64, seed=0)
    ev = mech.evaluate(n_types=128, n_samples=256, n_grid=201)
    assert ev.revenue > 13 / 48 + 0.03
    assert ev.ic_violation < 5e-3 and ev.ir_violation < 1e-6


@pytest.mark.parametrize("call, err, match", [
    (lambda mech: mech.evaluate(n_grid=1), ValueError, "n_grid"),
    (lambda mech: mech.evaluate(n_types=0), ValueError, "n_types"),
    (lambda mech: mech.evaluate(n_samples=1.5), TypeError, "n_samples"),
    (lambda mech: mech.fit(max_iter=1, batch_size=0), ValueError, "batch_size"),
    (lambda mech: mech.fit(max_iter=1, lr=-1.0), ValueError, "lr"),
    (lambda mech: mech.fit(max_iter=1, lr_final=0.0), ValueError, "lr_final"),
    (lambda mech: mech.fit(max_iter=1, generator=3), TypeError, "generator"),
    (lambda mech: mech.market.sample_stratified(0), ValueError, "n"),
])
def test_mechanism_bad_calls(call, err, match):
    mech = MultiBuyerMechanism(MultiBuyerMarket(2), hidden=4, layers=1)
    with pytest.raises(err, match=match):
        call(mech)


@pytest.mark.parametrize("kwargs, match", [
    ({"ic": "dsic"}, "ic"),
    ({"values": "normal(0,1)"}, "value"),
    ({"values": "lognormal(0,1)x"}, "value"),
    ({"alpha": float("nan")}, "alpha"),
    ({"prior": -0.1}, "prior"),
    ({"n_buyers": 1}, "n_buyers"),
])
def test_multi_experiment_bad_config(kwargs, match):
    from econcs.datamarkets._multi_experiments import MultiConfig, _market

    with pytest.raises(ValueError, match=match):
        _market(MultiConfig(**kwargs))


@pytest.mark.parametrize("ic", ["bic", "expost"])
def test_three_buyers_run_the_general_path(ic):
    m = MultiBuyerMarket(3, prior=0.6, alpha=0.5)
    mech = MultiBuyerMechanism(m, ic, hidden=8, layers=1)
    mech.fit(max_iter=2, batch_size=8, n_samples=4, n_candidates=3, seed=0)
    ev = mech.evaluate(n_types=8, n_samples=16, n_grid=11)
    assert np.isfinite(ev.revenue) and ev.ic_violation >= 0 and ev.obedience_violation >= 0


def test_mix_weights_make_the_interim_experiment_obedient():
    m = MultiBuyerMarket(2, prior=[0.2, 0.3, 0.5], alpha=0.5)
    mech = MultiBuyerMechanism(m, hidden=4, layers=1, obedience="mix", dtype=torch.float64)
    pi = torch.softmax(3 * torch.randn(200, 3, 3, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64), -1)
    lam = mech.mix_weights(pi)
    mixed = (1 - lam)[:, None, None] * pi + lam[:, None, None] * torch.eye(3, dtype=pi.dtype)
    gap = m.obedience_gap(mixed)
    assert float(gap.max()) < 1e-12
    bad = m.obedience_gap(pi) > 1e-9
    assert bool(bad.any()) and bool((lam[~bad] == 0).all())
    # the least weight: a little less leaves the disobedient ones disobedient
    less = (lam - 1e-6).clamp(min=0)[:, None, None]
    assert bool((m.obedience_gap((1 - less) * pi + less * torch.eye(3, dtype=pi.dtype))[bad]
                 > 0).all())


@pytest.mark.parametrize("n_buyers", [2, 3])
def test_mix_mechanism_is_obedient_and_batch_matches_interim(n_buyers):
    m = MultiBuyerMarket(n_buyers, prior=0.75, alpha=2.0, value="exponential(1)")
    mech = MultiBuyerMechanism(m, hidden=8, layers=1, dtype=torch.float64, obedience="mix")
    with torch.no_grad():  # lying at every profile: heavily disobedient before the mixing
        mech.experiment_net[-1].bias.copy_(torch.tensor([-3.0, 3.0, 3.0, -3.0] * n_buyers,
                                                        dtype=torch.float64))
    v = m.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        assert float(m.obedience_gap(mech.experiments(v)).min()) > 0.1
        gain, pay, pis = mech.interim(v, v)
    assert float(m.obedience_gap(pis).max()) < 1e-12
    if n_buyers == 2:  # the B x B pass of training against the general interim mean
        with torch.no_grad():
            fast = mech._interim_batch(v, torch.Generator(), MultiParams())
        for a, b in zip(fast, (gain, pay, pis), strict=True):
            torch.testing.assert_close(a, b)
    ev = mech.evaluate(n_types=8, n_samples=16, n_grid=11)
    assert ev.obedience_violation < 1e-12 and np.isfinite(ev.revenue)
    with pytest.raises(ValueError, match="obedience"):
        MultiBuyerMechanism(m, obedience="lagrange")


@pytest.mark.parametrize("obedience", ["penalty", "mix"])
def test_grid_candidates_match_interim(obedience):
    # the extra candidates of training (each buyer reporting a grid point against the other's
    # batch values) against the general interim outcomes with the batch as samples
    m = MultiBuyerMarket(2, prior=0.75, alpha=0.5, value="exponential(1)")
    mech = MultiBuyerMechanism(m, hidden=8, layers=1, dtype=torch.float64, obedience=obedience)
    v = m.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cands = torch.tensor([0.0, 1.5, 6.0], dtype=torch.float64)
    with torch.no_grad():
        *_, cg, cp = mech._interim_batch(v, torch.Generator(), MultiParams(), cands)
        g, p, _ = mech.interim(cands[:, None].expand(3, 2).contiguous(), v)
    torch.testing.assert_close(cg, g)
    torch.testing.assert_close(cp, p)
    # training with them: regret against more candidates is at least the batch's own
    kw = {"max_iter": 2, "batch_size": 8}
    mech.fit(grid_candidates=4, **kw)
    assert mech.history_[-1]["regret"] >= 0


def test_envelope_payments_are_ic_for_increasing_gains():
    # P(r) = r a(r) - int a: no report on the set beats the truth when a increases, and the
    # lowest report's utility is 0 (a report at the support's low end)
    m = MultiBuyerMarket(2, prior=0.75, alpha=0.5, value="exponential(1)")
    mech = MultiBuyerMechanism(m, payment="envelope", hidden=4, layers=1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    r = torch.cat([torch.zeros(1, 2, dtype=torch.float64),
                   torch.rand(40, 2, generator=gen, dtype=torch.float64) * 5])
    a = m.outside + torch.sigmoid(3 * (r - 1.5)) + 0.1 * r  # increasing in the report
    pay = mech.envelope_payments(r, a)
    from econcs.shared.regret import linear_regret

    regret = linear_regret(r, a, pay, a, pay)[0]
    assert float(regret.max()) < 1e-12
    torch.testing.assert_close(pay[0], torch.zeros(2, dtype=torch.float64))
    # a decreasing gain is not IC: some report gains
    assert float(linear_regret(r, -a, mech.envelope_payments(r, -a), -a,
                               mech.envelope_payments(r, -a))[0].max()) > 1e-3
    with pytest.raises(ValueError, match="payment"):  # ex post: two buyers only
        MultiBuyerMechanism(MultiBuyerMarket(3), "expost", payment="envelope")


def test_envelope_mix_training_is_ic_and_obedient():
    m = MultiBuyerMarket(2, prior=0.75, alpha=2.0)
    mech = MultiBuyerMechanism(m, obedience="mix", payment="envelope", hidden=16, layers=1)
    mech.fit(max_iter=40, batch_size=32, grid_candidates=8)
    ev = mech.evaluate(n_types=64, n_samples=64, n_grid=101)
    assert ev.obedience_violation < 1e-6 and ev.ir_violation < 1e-6
    assert ev.ic_violation < 1e-3 and ev.revenue > 0


def test_ex_post_all_profiles_match_brute_force():
    # every (v_b^1, v_c^2) profile of the batch, each buyer's candidates its batch values
    from econcs.shared.regret import linear_regret

    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    mech = MultiBuyerMechanism(m, "expost", hidden=8, layers=1, dtype=torch.float64)
    v = m.sample(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    revenue, regret, _, ir = mech._terms(v, torch.Generator(), MultiParams())
    prof = torch.stack(torch.broadcast_tensors(v[:, None, 0], v[None, :, 1]), -1).reshape(-1, 2)
    gain, pay, _ = mech.ex_post(prof)
    cands = torch.stack(torch.broadcast_tensors(v[None, :, 0], v[None, :, 1]), -1)
    cg, cp = mech._ex_post_candidates(prof, cands.expand(25, 5, 2).contiguous())
    torch.testing.assert_close(regret, linear_regret(prof, gain, pay, cg, cp)[0].mean(0))
    torch.testing.assert_close(revenue, pay.sum(1).mean())
    torch.testing.assert_close(ir, (pay - prof * (gain - m.outside)).clamp(min=0).mean(0))
    assert float(regret.detach().min()) > 0  # an untrained mechanism has regret to find
    diag = mech._terms(v, torch.Generator(), MultiParams(all_profiles=False))
    assert not torch.allclose(diag[0].detach(), revenue.detach())  # the diagonal alone is another estimate


def test_ex_post_evaluation_revenue_is_a_quadrature():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    mech = MultiBuyerMechanism(m, "expost", hidden=8, layers=1, dtype=torch.float64)
    ev = mech.evaluate(n_types=16, n_grid=11, seed=0)
    q = (torch.arange(16, dtype=torch.float64) + 0.5) / 16
    prof = torch.stack(torch.broadcast_tensors(q[:, None], q[None, :]), -1).reshape(-1, 2)
    with torch.no_grad():
        direct = float(mech.ex_post(prof)[1].sum(1).mean())
    assert ev.revenue == pytest.approx(direct, rel=1e-12)
    assert ev.revenue == mech.evaluate(n_types=16, n_grid=11, seed=5).revenue  # no sampling


def test_ex_post_grid_candidates_add_tail_reports():
    from econcs.shared.regret import linear_regret

    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    mech = MultiBuyerMechanism(m, "expost", hidden=8, layers=1, dtype=torch.float64)
    v = m.sample(4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, regret, _, _ = mech._terms(v, torch.Generator().manual_seed(7),
                                  MultiParams(grid_candidates=3))
    u = float(torch.rand((), generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    r = (torch.arange(3, dtype=torch.float64) + u) / 3 * m.value_high
    assert float(r.max()) > float(v.max())  # reports beyond the batch
    prof = torch.stack(torch.broadcast_tensors(v[:, None, 0], v[None, :, 1]), -1).reshape(-1, 2)
    gain, pay, _ = mech.ex_post(prof)
    reps = torch.cat([v, r[:, None].expand(3, 2)])  # (7, 2): batch values, then the grid
    cg, cp = mech._ex_post_candidates(prof, reps[None].expand(16, 7, 2).contiguous())
    torch.testing.assert_close(regret, linear_regret(prof, gain, pay, cg, cp)[0].mean(0))


def test_quantile_inputs():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    r = torch.tensor([[0.0, 0.5], [1.0, 3.0]], dtype=torch.float64)
    for ic in ("bic", "expost"):
        mech = MultiBuyerMechanism(m, ic, hidden=8, layers=1, inputs="value+quantile",
                                   dtype=torch.float64)
        z = mech.features(r)
        torch.testing.assert_close(z[..., 0], r / mech.scale)  # r / mean
        torch.testing.assert_close(z[..., 1], 1 - torch.exp(-r), atol=1e-4, rtol=0)  # F(r)
        pi, frac = mech(r)
        assert pi.shape == (2, 2, 2, 2) and frac.shape == (2, 2)
    with pytest.raises(ValueError, match="inputs"):
        MultiBuyerMechanism(m, inputs="quantile")


@pytest.mark.parametrize("value", ["exponential(1)", "0.5*uniform(0,1)+0.5*uniform(1,2)"])
def test_market_cdf_inverts_its_quantile(value):
    # the CDF the quantile inputs use: interpolated on the market's quantile table
    m = MultiBuyerMarket(2, value=value)
    u = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
    back = m.cdf(m.quantile(u))
    assert float((back - u).abs().max()) < 2e-4
    assert bool((back[1:] >= back[:-1]).all())
    assert float(m.cdf(torch.tensor([-5.0]))) == pytest.approx(1e-7)


class _ThresholdMechanism(MultiBuyerMechanism):
    """The ex post optimum for Exp(1) values, prior 1/2, alpha 1/2: buyer i fully informed
    iff v_i > 1/2 + v_j/2, otherwise the prior (no information)."""

    def experiments(self, reports):
        inform = reports > 0.5 + reports.flip(-1) / 2  # (N, 2)
        full = torch.eye(2, dtype=reports.dtype)
        none = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=reports.dtype)
        return torch.where(inform[..., None, None], full, none)


def test_ex_post_envelope_payment_of_a_threshold_allocation_is_the_threshold_price():
    # buyer 1's gain a = x_1 - x_2 / 2 (outside 0) jumps by 1/2 at t1 = 1/2 + v_2/2 (informed)
    # and by 1/4 at t2 = 2 v_2 - 1 (buyer 2 no longer informed): P = t1/2 1{v > t1} +
    # t2/4 1{v > t2 > 0}, the threshold prices
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    mech = _ThresholdMechanism(m, "expost", payment="envelope", hidden=4, layers=1,
                               dtype=torch.float64)
    own = torch.linspace(0.0, 8.0, 8001, dtype=torch.float64)  # step h = 1e-3
    others = torch.tensor([0.2, 1.0, 2.5], dtype=torch.float64)
    for buyer in (0, 1):
        gain, pay = mech.ex_post_envelope(own, others, buyer)
        t1, t2 = 0.5 + others / 2, 2 * others - 1
        want = (t1 / 2 * (own[:, None] > t1) + t2.clamp(min=0) / 4 * (own[:, None] > t2))
        far = ((own[:, None] - t1).abs() > 2e-3) & ((own[:, None] - t2).abs() > 2e-3)
        np.testing.assert_allclose(pay[far], want[far], atol=1e-3)  # trapezoids: h / 2 x jump
        assert float(pay[0].abs().max()) == 0.0  # the lowest type pays 0
        assert float((own[:, None] * (gain - m.outside) - pay).min()) >= -1e-12  # IR
    # a ramp a(r) = r (alpha = 0, outside 1/2): P = r^2 / 2, exact for trapezoids
    lin = MultiBuyerMechanism(MultiBuyerMarket(2, alpha=0.0), "expost", payment="envelope",
                              hidden=4, layers=1, dtype=torch.float64)
    r = torch.rand(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    r[0] = 0.0
    pay = lin.envelope_payments(r[:, None].expand(50, 3), 0.5 + r[:, None].expand(50, 3))
    np.testing.assert_allclose(pay, (r**2 / 2)[:, None].expand(50, 3), atol=1e-12)


def test_ex_post_envelope_evaluation_of_the_optimum():
    # the optimum's allocation, payments by the envelope theorem: exactly IC on the report set
    # (monotone), IR, obedient, and its revenue the virtual-value optimum up to quadrature
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    mech = _ThresholdMechanism(m, "expost", payment="envelope", hidden=4, layers=1,
                               dtype=torch.float64)
    ev = mech.evaluate(n_types=128, n_grid=401)
    assert ev.ic_violation_max < 1e-12 and ev.ir_violation == 0.0
    assert ev.obedience_violation == 0.0
    assert ev.revenue == pytest.approx(ex_post_optimum(m), rel=5e-3)
    # a decreasing allocation (informed iff v_i < ...) is not IC and the evaluation sees it
    flip = _ThresholdMechanism(m, "expost", payment="envelope", hidden=4, layers=1,
                               dtype=torch.float64)
    flip.experiments = lambda r: _ThresholdMechanism.experiments(flip, -r + 3.0)
    assert flip.evaluate(n_types=64, n_grid=101).ic_violation > 1e-2


def test_ex_post_envelope_training_terms_match_brute_force():
    # the batch's payments integrate each buyer's gain over its batch values and grid reports
    # at every value of the other's; regret against those reports, revenue over all profiles
    from econcs.shared.regret import linear_regret

    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="exponential(1)")
    mech = MultiBuyerMechanism(m, "expost", payment="envelope", hidden=8, layers=1,
                               dtype=torch.float64)
    v = m.sample(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    revenue, regret, _, ir = mech._terms(v, torch.Generator().manual_seed(7),
                                         MultiParams(grid_candidates=3))
    u = float(torch.rand((), generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    r = (torch.arange(3, dtype=torch.float64) + u) / 3 * m.value_high
    g1, p1 = mech.ex_post_envelope(torch.cat([v[:, 0], r]), v[:, 1], 0)  # (8, 5): [k, c]
    g2, p2 = mech.ex_post_envelope(torch.cat([v[:, 1], r]), v[:, 0], 1)  # (8, 5): [k, b]
    torch.testing.assert_close(revenue, (p1[:5] + p2[:5].T).mean())
    # buyer 1 at profile [b, c] (flattened b * 5 + c), candidates k: g1[k, c]
    prof = torch.stack(torch.broadcast_tensors(v[:, None, 0], v[None, :, 1]), -1).reshape(-1, 2)
    b, c = torch.arange(25) // 5, torch.arange(25) % 5
    gain = torch.stack([g1[b, c], g2[c, b]], -1)
    pay = torch.stack([p1[b, c], p2[c, b]], -1)
    cg = torch.stack([g1[:, c].T, g2[:, b].T], -1)  # (25, 8, 2)
    cp = torch.stack([p1[:, c].T, p2[:, b].T], -1)
    torch.testing.assert_close(regret, linear_regret(prof, gain, pay, cg, cp)[0].mean(0))
    assert float(ir.detach().max()) == 0.0  # a >= 0: the lowest type's utility 0 and U increasing


def test_ex_post_envelope_training_runs_and_bad_input():
    m = MultiBuyerMarket(2, prior=0.5, alpha=0.5)
    mech = MultiBuyerMechanism(m, "expost", payment="envelope", hidden=16, layers=1)
    mech.fit(max_iter=30, batch_size=16, grid_candidates=4)
    ev = mech.evaluate(n_types=32, n_grid=51)
    assert np.isfinite(ev.revenue) and ev.ir_violation == 0.0 and ev.obedience_violation == 0.0
    with pytest.raises(ValueError, match="all_profiles"):
        mech.fit(max_iter=1, all_profiles=False)
    with pytest.raises(ValueError, match="ex_post_envelope"):
        mech.ex_post(torch.rand(3, 2))
    with pytest.raises(ValueError, match="buyer"):
        mech.ex_post_envelope(torch.rand(3), torch.rand(2), 2)
    with pytest.raises(ValueError, match="own, others"):
        mech.ex_post_envelope(torch.rand(3, 2), torch.rand(2), 0)
