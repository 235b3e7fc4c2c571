"""Utility networks, their training and extra-gradient: real behaviour at tiny budgets."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.persuasion import (
    EquilibriumParams,
    UtilityFitParams,
    UtilityNetwork,
    count_parameters,
    exact_ne_gap,
    extragradient_equilibria,
    fit_utility_network,
    full_revelation_profile,
    hidden_for_budget,
    local_ne_gap,
    prosecutor_game,
    random_game,
    sample_profiles,
    sender_utilities,
)
from econcs.shared import DivergenceError

SMALL = {"n_train": 1024, "n_test": 256, "batch_size": 128}


@pytest.mark.parametrize("kind", ["dnl", "relu", "delu"])
def test_network_shapes_and_parameter_budget(kind):
    shape = (2, 3, 2)
    h = hidden_for_budget(kind, shape, 1500)
    net = UtilityNetwork(kind, shape, hidden=h)
    assert count_parameters(net) <= 1500 < count_parameters(UtilityNetwork(kind, shape,
                                                                           hidden=h + 1))
    assert net(torch.rand(4, 5, *shape)).shape == (4, 5, 2)


def test_discontinuous_networks_jump():
    torch.manual_seed(0)
    shape = (1, 2, 1)
    for kind, jumps in (("relu", False), ("delu", True), ("dnl", True)):
        net = UtilityNetwork(kind, shape, hidden=4, layers=1).double()
        with torch.no_grad():
            net.trunk[0].weight.copy_(torch.tensor([[1.0, 0.0]] * 4))
            net.trunk[0].bias.fill_(-0.5)
            if jumps:
                net.bias_net[-1].bias.zero_()
                net.bias_net[0].weight.fill_(1.0)
        t = torch.tensor([0.5 - 1e-9, 0.5 + 1e-9], dtype=torch.float64)
        x = torch.stack([t, torch.zeros(2, dtype=torch.float64)], -1)[:, None, :, None]
        with torch.no_grad():
            diff = float((net(x)[1] - net(x)[0]).abs())
        assert (diff > 1e-3) == jumps, kind


def _patterns(net, x):
    h, out = x.reshape(x.shape[0], -1), []
    for layer in net.trunk:
        z = layer(h)
        out.append(z > 0)
        h = torch.relu(z)
    return torch.cat(out, -1)


@pytest.mark.parametrize("kind", ["dnl", "relu", "delu"])
def test_networks_differentiable_and_only_dnl_curved_inside_a_piece(kind):
    # inside one activation pattern: autograd = central differences; relu / delu are affine
    # there (second difference 0), dnl is quadratic (second difference eps^2 d'Hd != 0)
    torch.manual_seed(3)
    shape = (2, 3, 2)
    net = UtilityNetwork(kind, shape, hidden=12, layers=2).double()
    x = torch.rand(1, *shape, dtype=torch.float64)
    d = torch.randn(1, *shape, dtype=torch.float64)
    eps = 1e-4
    pts = torch.cat([x - eps * d, x, x + eps * d])
    assert (_patterns(net, pts) == _patterns(net, x)).all()  # one piece
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xg)[0, 1], xg)
    with torch.no_grad():
        f = net(pts)[:, 1]
    assert_allclose(float((grad * d).sum()), float((f[2] - f[0]) / (2 * eps)), rtol=1e-6)
    second = abs(float(f[2] - 2 * f[1] + f[0])) / eps**2
    assert (second > 1e-6) == (kind == "dnl"), (kind, second)


@pytest.mark.parametrize("kind", ["dnl", "relu", "delu"])
def test_fit_beats_the_mean_predictor(kind):
    g = random_game(2, 2, 2, 2, seed=5)  # a game whose utilities vary (seed 0's are constant)
    res = fit_utility_network(g, network=kind, hidden=16, max_iter=300, **SMALL)
    x = sample_profiles(g, 256, generator=torch.Generator().manual_seed(7))
    y = sender_utilities(g, x)
    baseline = float((y - y.mean(0)).abs().mean())
    assert res.test_error < 0.7 * baseline
    assert res.history[-1]["step"] == 300 and res.iterations == 300


class _Kill(Exception):
    pass


def _killer(at, saved):
    def cb(step, metrics, state_fn):
        if step == at:
            saved["state"] = state_fn()
            raise _Kill

    return cb


def test_fit_resume_is_exact():
    g = random_game(2, 2, 2, 2, seed=1)
    full = fit_utility_network(g, max_iter=30, log_every=10, **SMALL)
    saved = {}
    with pytest.raises(_Kill):
        fit_utility_network(g, max_iter=30, log_every=10, callback=_killer(15, saved), **SMALL)
    resumed = fit_utility_network(g, max_iter=30, log_every=10, resume=(15, saved["state"]),
                                  **SMALL)
    assert resumed.test_error == full.test_error
    assert resumed.history == full.history


def test_fit_divergence_and_params():
    g = random_game(2, 2, 2, 2, seed=1)
    with pytest.raises(DivergenceError, match="loss"):
        fit_utility_network(g, max_iter=50, lr=1e10, **SMALL)
    with pytest.raises(ValueError, match="network"):
        UtilityFitParams(network="cnn")
    with pytest.raises(ValueError, match="lr"):
        UtilityFitParams(lr=0.0)
    with pytest.raises(TypeError, match="unknown"):
        fit_utility_network(g, n_epochs=3)
    with pytest.raises(ValueError, match="max_iter"):
        EquilibriumParams(max_iter=-1)
    with pytest.raises(ValueError, match="kind"):
        UtilityNetwork("gru", (1, 2, 2))
    with pytest.raises(ValueError, match="schemes"):
        UtilityNetwork("relu", (1, 2, 2))(torch.rand(3, 1, 2, 3))


def test_local_gap_bounded_by_exact_gap():
    g = random_game(2, 2, 2, 2, seed=7)
    prof = np.random.default_rng(0).dirichlet(np.ones(2), size=(2, 2))
    local = float(local_ne_gap(g, prof))
    exact = exact_ne_gap(g, prof).gap
    assert 0.0 < local <= exact + 1e-9
    assert float(local_ne_gap(g, full_revelation_profile(g))) == 0.0
    # babbling prosecutors: a rare signal at posterior 1/2 of weight eps gains at most 0.6 eps
    pg = prosecutor_game(0.3, 2)
    babble = np.array([[[1.0, 0.0], [1.0, 0.0]]] * 2)
    assert 0.0 < float(local_ne_gap(pg, babble, radius=0.01)) <= 0.6 * 0.01 + 1e-12
    assert_allclose(exact_ne_gap(pg, babble).gap, 0.6, atol=1e-7)


def test_extragradient_exact_single_sender_near_lp_optimum():
    g = prosecutor_game(0.3)
    res = extragradient_equilibria(g, None, max_iter=300, lr=0.5, n_restarts=8, init_scale=2.0)
    top = float(res.utilities.max())
    assert 0.5 <= top <= 0.6 + 1e-9  # the LP optimum is the ceiling


def test_extragradient_on_a_network_finds_verified_local_equilibria():
    g = random_game(2, 3, 2, 3, family="opposed", seed=0)
    fit = fit_utility_network(g, network="dnl", hidden=16, max_iter=200, **SMALL)
    res = extragradient_equilibria(g, fit.network, max_iter=80, n_restarts=4, refine_iter=30)
    assert res.converged and res.local_gaps[res.best] <= 1e-3
    assert_allclose(res.utilities, sender_utilities(g, res.profiles).numpy(), atol=1e-12)
    assert res.predicted.shape == (4, 2)
    assert_allclose(res.profiles.sum(-1), 1.0, atol=1e-9)
    assert [r["step"] for r in res.history][-1] == 110


def test_extragradient_resume_is_exact():
    g = random_game(2, 2, 2, 2, seed=2)
    kw = {"max_iter": 20, "n_restarts": 3, "log_every": 5}
    full = extragradient_equilibria(g, None, **kw)
    saved = {}
    with pytest.raises(_Kill):
        extragradient_equilibria(g, None, callback=_killer(10, saved), **kw)
    resumed = extragradient_equilibria(g, None, resume=(10, saved["state"]), **kw)
    assert_allclose(resumed.profiles, full.profiles, atol=0)
    assert resumed.history == full.history


def test_extragradient_restores_the_network_and_resumes_in_the_refinement():
    g = random_game(2, 2, 2, 2, seed=3)
    net = UtilityNetwork("relu", g.scheme_shape, hidden=8)  # float32
    net.out.bias.requires_grad_(False)  # a caller's own frozen parameter stays frozen
    flags = [q.requires_grad for q in net.parameters()]
    kw = {"max_iter": 6, "refine_iter": 6, "n_restarts": 2, "log_every": 3}
    full = extragradient_equilibria(g, net, **kw)
    assert [q.requires_grad for q in net.parameters()] == flags
    saved = {}
    with pytest.raises(_Kill):  # killed in the float64 refinement, past max_iter
        extragradient_equilibria(g, net, callback=_killer(9, saved), **kw)
    assert [q.requires_grad for q in net.parameters()] == flags  # also after an exception
    assert all(t.dtype == torch.float64 for t in saved["state"]["logits"])
    resumed = extragradient_equilibria(g, net, resume=(9, saved["state"]), **kw)
    assert_allclose(resumed.profiles, full.profiles, atol=0)
    assert resumed.history == full.history


def test_fast_path_equals_the_checked_one():
    from econcs.persuasion._game import _utilities

    g = random_game(3, 2, 2, 3, seed=4)
    x = sample_profiles(g, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(_utilities(g, x), sender_utilities(g, x))
    assert g.tensors() is g.tensors()  # made once per device and dtype
    with pytest.raises(ValueError, match="tol"):
        sender_utilities(g, x, tol=-1.0)
    with pytest.raises(ValueError, match="at least one profile"):
        sender_utilities(g, x[:0])
