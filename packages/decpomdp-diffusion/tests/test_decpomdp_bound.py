"""The surrogate regression's deviation bound against closed forms, the fixed-point iteration's
ConvergenceWarning, composite trajectories, posterior TV, the regression baseline and plots."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.decpomdp_diffusion import (
    ConditionalDiffusion,
    DeviationBound,
    ExactDiffusion,
    RegressionParams,
    composite_trajectory,
    deviation_bound,
    fixed_points,
    make_env,
    posterior_tv,
    predict_regression,
    reconstruct,
    sample_distribution,
    train_regression,
)
from econcs.decpomdp_diffusion._diffusion import DiffusionParams
from econcs.shared import ConvergenceWarning

MU, SIGMA = np.array([0.2, -0.1]), 0.3


class _Gaussian(ConditionalDiffusion):
    """The exact noise predictor of x_0 ~ N(MU, SIGMA^2 I): its denoising map is affine,
    G(x) = MU + k (x - MU) with k = ab s^2 / (ab s^2 + 1 - ab), whatever the history."""

    def forward(self, x, t, ctx):
        ab = self.alpha_bar[t][:, None]
        mu = torch.as_tensor(MU, dtype=x.dtype)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * SIGMA**2 + 1 - ab)


def _gaussian(env):
    return _Gaussian(n_obs=env.n_obs, n_actions=env.n_actions, state_dim=2, hidden=4,
                     meta={"env": env.name, "agent": 0, "horizon": None})


def test_bound_is_exact_for_an_affine_map():
    env = make_env("sensor")
    hist = env.collect(40, 2, seed=0)
    model = _gaussian(env)
    res = deviation_bound(model, env, hist.obs[:, 0], hist.actions[:, 0], hist.states[:, -1],
                          noise=0.3, radius=2.0)
    assert isinstance(res, DeviationBound)
    ab = float(model.alpha_bar[res.level])
    k = ab * SIGMA**2 / (ab * SIGMA**2 + 1 - ab)
    dist = np.linalg.norm(env.features[hist.states[:, -1]] - MU, axis=1)
    assert_allclose(res.coef, np.broadcast_to(k * np.eye(2), (40, 2, 2)), atol=1e-5)
    assert_allclose(res.lipschitz, k, rtol=1e-5)
    assert_allclose(res.state_error, (1 - k) * dist, rtol=1e-5)
    assert_allclose(res.eps, res.state_error, rtol=1e-5)  # e(x) = G(s) - s, a constant
    assert_allclose(res.bound, dist, rtol=1e-4)  # eps / (1 - L) = |s - mu|: tight
    assert_allclose(res.deviation, dist, atol=1e-3)  # the fixed point is mu
    assert_allclose(res.surrogate_deviation, dist, rtol=1e-4)
    assert_allclose(res.fixed_point, np.broadcast_to(MU, (40, 2)), atol=1e-3)
    assert (res.radius >= dist - 1e-4).all()  # a certified ball holds the fixed point mu
    assert res.fit_error.max() < 1e-5 and (res.rank == 2).all()
    assert res.coverage == 1.0 and res.certified_share == 1.0 and res.converged.all()
    # a ball too small to hold the fixed point certifies nothing: counted as a miss, not covered
    small = deviation_bound(model, env, hist.obs[:, 0], hist.actions[:, 0], hist.states[:, -1],
                            noise=0.3, radius=0.3, n_radii=1)
    assert_allclose(small.certified, dist <= 0.3)
    assert small.coverage == small.certified_share == pytest.approx((dist <= 0.3).mean())
    assert np.isinf(small.bound[dist > 0.3]).all() and np.isnan(small.radius[dist > 0.3]).all()


F0, DELTA = np.array([-1.0, -1.0]), 0.05


class _Quadratic(ConditionalDiffusion):
    """A denoising map with curvature around state 0 (features F0), per coordinate
    u -> DELTA + 0.3 u + 0.5 u^2 (u = x - F0): the fixed point u* solves
    0.5 u^2 - 0.7 u + DELTA = 0, and the map's slope grows from 0.3 at F0 to 0.3 + u* there."""

    def predict_x0(self, x, t, ctx):
        u = x / self.alpha_bar[t].sqrt() - torch.as_tensor(F0, dtype=x.dtype)
        return torch.as_tensor(F0, dtype=x.dtype) + DELTA + 0.3 * u + 0.5 * u**2


def test_bound_holds_where_the_map_curves_and_the_residual_free_bound_does_not():
    env = make_env("sensor")
    assert_allclose(env.features[0], F0)
    hist = env.collect(20, 2, seed=0)
    model = _Quadratic(n_obs=env.n_obs, n_actions=env.n_actions, state_dim=2, hidden=4,
                       meta={"env": env.name, "agent": 0, "horizon": None})
    res = deviation_bound(model, env, hist.obs[:, 0], hist.actions[:, 0], np.zeros(20, int))
    u_star = 0.7 - np.sqrt(0.49 - 2 * DELTA)
    assert_allclose(res.deviation, np.sqrt(2) * u_star, rtol=1e-3)
    assert res.certified.all() and res.coverage == 1.0
    assert (res.bound < 1.3 * res.deviation).all()  # and not loose
    assert_allclose(res.radius, 0.2)  # 0.1 cannot hold x*: |x* - s| = 0.107
    assert_allclose(res.lipschitz, 0.3, atol=0.05)
    # |G(s) - s| / (1 - |A|_2), the bound without the residual, misses: the slope between s and
    # x* exceeds the fitted one
    assert (res.state_error / (1 - res.lipschitz) < res.deviation).all()


def test_exact_denoiser_fixes_every_possible_state_at_small_noise():
    env = make_env("sensor")
    hist = env.collect(30, 3, seed=1)
    single = deviation_bound(ExactDiffusion(env, 0), env, hist.obs[:, 0], hist.actions[:, 0],
                             hist.states[:, -1], noise=0.1)
    assert single.deviation.max() < 1e-4 and single.state_error.max() < 1e-4
    assert single.coverage == 1.0
    comp = deviation_bound([ExactDiffusion(env, i) for i in range(2)], env, hist.obs,
                           hist.actions, hist.states[:, -1], noise=0.1)
    assert comp.deviation.max() < 1e-4 and comp.lipschitz.max() < 1e-3  # the state attracts
    assert comp.coverage == 1.0


def test_bound_is_not_certified_where_the_map_flows_away():
    # at noise 0.3 the exact map blurs neighbouring states: from some true states it flows to a
    # mean of states (deviation ~0.6); no ball around s is mapped into itself there, so the
    # bound is not certified (a miss), and wherever it is certified it holds
    env = make_env("sensor")
    hist = env.collect(50, 3, seed=0)
    res = deviation_bound(ExactDiffusion(env, 0), env, hist.obs[:, 0], hist.actions[:, 0],
                          hist.states[:, -1], noise=0.3)
    assert 0.3 < res.coverage < 0.95
    assert res.coverage == res.certified_share and res.certified_coverage == 1.0
    assert res.deviation[~res.certified].min() > 0.4


def test_bound_bad_input():
    env = make_env("sensor")
    hist = env.collect(5, 2, seed=0)
    model = ExactDiffusion(env, 0)
    args = (env, hist.obs[:, 0], hist.actions[:, 0])
    with pytest.raises(ValueError, match="true_states"):
        deviation_bound(model, *args, hist.states[:4, -1])
    with pytest.raises(ValueError, match="true_states"):
        deviation_bound(model, *args, hist.states[:, -1] + 100)
    with pytest.raises(ValueError, match="radius"):
        deviation_bound(model, *args, hist.states[:, -1], radius=0.0)
    with pytest.raises(ValueError, match="n_fit"):
        deviation_bound(model, *args, hist.states[:, -1], n_fit=2)
    with pytest.raises(ValueError, match="n_radii"):
        deviation_bound(model, *args, hist.states[:, -1], n_radii=0)
    with pytest.raises(ValueError, match="true_states"):  # NaN states
        deviation_bound(model, *args, np.full(5, np.nan))
    with pytest.raises(ValueError, match="models"):
        deviation_bound([model], env, hist.obs, hist.actions, hist.states[:, -1])
    with pytest.raises(ValueError, match="models"):
        deviation_bound(model, make_env("sensor-gap"), hist.obs[:, 0], hist.actions[:, 0],
                        hist.states[:, -1])
    with pytest.raises(ValueError, match="true_states"):
        fixed_points(model, *args, true_states=hist.states[:3, -1])
    with pytest.raises(ValueError, match="true_states"):
        fixed_points(model, *args, true_states=np.full(5, np.nan))
    with pytest.raises(ValueError, match="model"):  # a model of another environment
        fixed_points(model, make_env("sensor-gap"), hist.obs[:, 0], hist.actions[:, 0])
    with pytest.raises(ValueError, match="obs, actions"):  # histories of the wrong length
        fixed_points(model, env, hist.obs[:, 0, :2], hist.actions[:, 0])
    with pytest.raises(ValueError, match="posterior"):
        posterior_tv(np.eye(3)[:2], np.eye(3))
    with pytest.raises(ValueError, match="dist"):
        posterior_tv([[np.nan, 1.0]], [[0.0, 1.0]])
    with pytest.raises(ValueError, match="dist"):
        posterior_tv([[0.5, 0.6]], [[0.0, 1.0]])


def test_fixed_points_warn_when_the_iteration_does_not_converge():
    env = make_env("sensor")
    hist = env.collect(6, 2, seed=0)
    model = _gaussian(env)  # contracts by k ~ 0.9 per step at noise 0.1: slow
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        fp = fixed_points(model, env, hist.obs[:, 0], hist.actions[:, 0], noise=0.1,
                          max_iter=3)
    assert not fp.converged.any() and fp.iterations == 3
    fp = fixed_points(model, env, hist.obs[:, 0], hist.actions[:, 0], noise=0.1, max_iter=500)
    assert fp.converged.all() and fp.iterations < 500
    assert_allclose(fp.points, np.broadcast_to(MU, fp.points.shape), atol=2e-3)


class _Counting(ExactDiffusion):
    calls: list

    def context(self, obs, actions):
        self.calls.append(np.asarray(obs).shape[0])
        return super().context(obs, actions)


def test_sample_distribution_computes_each_context_once_and_matches_reconstruct():
    env = make_env("sensor-gap")
    hist = env.collect(10, 3, seed=5)
    models = [_Counting(env, i) for i in range(2)]
    for m in models:
        m.calls = []
    dist = sample_distribution(models, env, hist.obs, hist.actions, n_samples=16, noise=0.1,
                               seed=3)
    assert [m.calls for m in models] == [[10], [10]]
    x = reconstruct(models, env, np.repeat(hist.obs, 16, 0), np.repeat(hist.actions, 16, 0),
                    noise=0.1, seed=3)
    s = env.nearest_state(x).reshape(10, 16)
    assert_allclose(dist, (s[:, :, None] == np.arange(env.n_states)).mean(1))
    assert_allclose(dist.sum(1), 1.0)


def test_composite_trajectory_ends_at_reconstruct_and_converges_in_co():
    env = make_env("sensor")
    hist = env.collect(20, 3, seed=2)
    models = [ExactDiffusion(env, i) for i in range(2)]
    traj = composite_trajectory(models, env, hist.obs, hist.actions, n_fixed=5, noise=0.1)
    assert traj.shape == (6, 20, 2)
    assert_allclose(traj[-1], reconstruct(models, env, hist.obs, hist.actions, n_fixed=5,
                                          noise=0.1), atol=1e-6)
    err = np.linalg.norm(traj - env.features[hist.states[:, -1]], axis=-1).mean(1)
    assert err.max() < 1e-3  # the exact composite lands on the state and stays there
    single = composite_trajectory(models, env, hist.obs, hist.actions, method="single",
                                  n_fixed=5, noise=0.1)
    assert np.linalg.norm(single[-1] - env.features[hist.states[:, -1]], axis=-1).mean() > 0.3


def test_posterior_tv_closed_form_and_exact_composite_in_non_co():
    assert_allclose(posterior_tv([[1, 0, 0], [0.5, 0.5, 0]], [[0, 1, 0], [0.25, 0.25, 0.5]]),
                    [1.0, 0.5])
    env = make_env("sensor-gap")
    hist = env.collect(60, 3, seed=4)
    models = [ExactDiffusion(env, i) for i in range(2)]
    dist = sample_distribution(models, env, hist.obs, hist.actions, n_samples=32, noise=0.1)
    tv = posterior_tv(dist, env.posterior(hist.obs, hist.actions)).mean()
    assert tv < 0.2  # the ideal models' composite samples: near the joint posterior
    single = sample_distribution(models, env, hist.obs, hist.actions, n_samples=32, noise=0.1,
                                 method="single")
    assert posterior_tv(single, env.posterior(hist.obs, hist.actions)).mean() > 2 * tv


def test_regression_honours_its_parameters():
    env = make_env("sensor")
    data = env.collect(1000, 2, seed=0)
    with pytest.raises(TypeError, match="n_steps"):
        train_regression(env, data, n_steps=10)
    p = RegressionParams.from_diffusion(DiffusionParams(max_iter=150, batch_size=64, hidden=32,
                                                        encoder="mlp", lr=1e-2, log_every=50))
    assert (p.max_iter, p.hidden, p.encoder, p.log_every) == (150, 32, "mlp", 50)
    res = train_regression(env, data, p, seed=0)
    assert [r["step"] for r in res.history] == [50, 100, 150]
    assert res.model.encoder.kind == "mlp"
    test = env.collect(200, 2, seed=1)
    x = predict_regression(res.model, env, test.obs, test.actions)
    err = np.linalg.norm(x - env.features[test.states[:, -1]], axis=1).mean()
    base = np.linalg.norm(env.features[test.states[:, -1]] - env.features.mean(0), axis=1).mean()
    assert err < 0.5 * base  # CO: the joint history pins the state, unlike a constant guess
    gru = train_regression(env, data, max_iter=2, hidden=8)
    assert gru.model.encoder.kind == "gru"
    with pytest.raises(ValueError, match="obs, actions"):
        predict_regression(res.model, env, test.obs[:, 0], test.actions[:, 0])
    with pytest.raises(ValueError, match="model"):
        predict_regression(res.model, make_env("sensor-gap"), test.obs, test.actions)


def test_plots():
    pytest.importorskip("matplotlib")
    from econcs.decpomdp_diffusion._plots import plot_composite, plot_fixed_points

    env = make_env("sensor")
    hist = env.collect(8, 2, seed=0)
    models = [ExactDiffusion(env, i) for i in range(2)]
    fp = fixed_points(models[0], env, hist.obs[:, 0], hist.actions[:, 0],
                      true_states=hist.states[:, -1], n_starts=3, noise=0.1)
    fig = plot_fixed_points(fp, env, hist.states[:, -1])
    assert len(fig.axes) == 3  # the plane, the rank scatter, the colour bar
    trajs = {"composite": composite_trajectory(models, env, hist.obs, hist.actions, n_fixed=4,
                                               noise=0.1)}
    fig = plot_composite(trajs, env, hist.states[:, -1])
    assert len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="trajectories"):
        plot_composite({"bad": trajs["composite"][:, :3]}, env, hist.states[:, -1])
    import matplotlib.pyplot as plt

    plt.close("all")
