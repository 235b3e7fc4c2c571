"""Diffusion models: the sampler against closed forms, the exact denoiser's fixed points and
composite process, trained models at tiny budgets, save / load, resume, bad input."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.decpomdp_diffusion import (
    ConditionalDiffusion,
    DiffusionParams,
    ExactDiffusion,
    fixed_points,
    load_model,
    make_env,
    reconstruct,
    save_model,
    train_diffusion,
)
from econcs.shared import DivergenceError

FAST = {"max_iter": 200, "batch_size": 64, "hidden": 32, "encoder": "mlp", "lr": 1e-2}


class _Gaussian(ConditionalDiffusion):
    """The exact noise predictor of x_0 ~ N(mu, sigma^2) (1-d, no conditioning)."""

    mu, sigma = 0.7, 0.2

    def forward(self, x, t, ctx):
        ab = self.alpha_bar[t][:, None]
        return (1 - ab).sqrt() * (x - ab.sqrt() * self.mu) / (ab * self.sigma**2 + 1 - ab)


def test_schedule_is_the_standard_linear_one():
    m = ConditionalDiffusion(n_obs=2, n_actions=1, state_dim=1, n_steps=1000)
    betas = 1 - m.alpha_bar / torch.cat([torch.ones(1), m.alpha_bar[:-1]])
    assert_allclose(betas[[0, -1]].numpy(), [1e-4, 0.02], rtol=1e-3)
    short = ConditionalDiffusion(n_obs=2, n_actions=1, state_dim=1, n_steps=50)
    assert float(short.alpha_bar[-1]) < 1e-3  # rescaled: x_T is pure noise at 50 steps too


@pytest.mark.parametrize("method", ["ddim", "ddpm"])
def test_samplers_turn_noise_into_the_gaussian_with_the_exact_noise_predictor(method):
    model = _Gaussian(n_obs=2, n_actions=1, state_dim=1, n_steps=1000)
    gen = torch.Generator().manual_seed(0)
    x = model.sample(torch.zeros(20_000, 1), generator=gen, method=method)
    assert_allclose([float(x.mean()), float(x.std())], [0.7, 0.2], atol=0.01)
    if method == "ddim":  # deterministic: the same x_T gives the same sample
        x_T = torch.randn(5, 1, generator=gen)
        assert torch.equal(model.sample(torch.zeros(5, 1), x_T=x_T),
                           model.sample(torch.zeros(5, 1), x_T=x_T))


@pytest.mark.parametrize("name", ["sensor", "grid"])
def test_exact_composite_recovers_the_state_in_co_envs_and_single_agents_do_not(name):
    env = make_env(name, 2, **({"size": 2} if name == "grid" else {}))
    test = env.collect(200, 3, seed=1)
    models = [ExactDiffusion(env, i) for i in range(2)]
    true = env.features[test.states[:, -1]]
    comp = reconstruct(models, env, test.obs, test.actions, method="composite", noise=0.1)
    assert_allclose(comp, true, atol=1e-3)
    single = reconstruct(models, env, test.obs, test.actions, method="single", noise=0.1)
    err = np.linalg.norm(single - true, axis=1).mean()
    spread = models[0].posterior_spread(test.obs[:, 0], test.actions[:, 0], test.states[:, -1])
    assert err > 0.3
    assert_allclose(err, spread.mean(), rtol=0.15)  # a posterior sample's error


def test_exact_fixed_points_are_the_possible_states_and_stable():
    env = make_env("sensor-gap", 2)
    test = env.collect(20, 3, seed=2)
    model = ExactDiffusion(env, 0)
    fp = fixed_points(model, env, test.obs[:, 0], test.actions[:, 0],
                      true_states=test.states[:, -1], n_starts=6, noise=0.1)
    post = env.posterior(test.obs[:, 0], test.actions[:, 0], agent=0)
    assert fp.residual.max() < 1e-3
    assert fp.deviation.max() < 0.01  # every fixed point is a state ...
    assert post[np.arange(20)[:, None], fp.nearest].min() > 0  # ... that the history allows
    assert fp.spectral_radius.max() < 1  # and stable
    assert fp.true_distance.shape == (20, 6)


def test_composite_of_non_co_mostly_lands_on_jointly_possible_states():
    # not always: the composite map can cycle between two states each agent alone allows
    env = make_env("sensor-gap", 2)
    test = env.collect(300, 3, seed=3)
    models = [ExactDiffusion(env, i) for i in range(2)]
    x = reconstruct(models, env, test.obs, test.actions, noise=0.1)
    joint = env.posterior(test.obs, test.actions)
    assert (joint[np.arange(300), env.nearest_state(x)] > 0).mean() >= 0.9
    assert np.linalg.norm(x - env.features[env.nearest_state(x)], axis=1).max() < 0.01


@pytest.fixture(scope="module")
def trained():
    env = make_env("sensor", 2)
    data = env.collect(2000, 3, seed=0)
    return env, [train_diffusion(env, data, i, seed=i, **FAST) for i in range(2)]


def test_trained_composite_beats_single_agents_in_a_co_env(trained):
    env, results = trained
    test = env.collect(300, 3, seed=1)
    models = [r.model for r in results]
    true = env.features[test.states[:, -1]]
    comp = reconstruct(models, env, test.obs, test.actions, method="composite", noise=0.1)
    comp_err = np.linalg.norm(comp - true, axis=1).mean()
    for i in range(2):
        single = reconstruct(models, env, test.obs, test.actions, method="single", agent=i,
                             noise=0.1)
        single_err = np.linalg.norm(single - true, axis=1).mean()
        assert comp_err < 0.75 * single_err, (comp_err, single_err)
        assert (env.nearest_state(single) == test.states[:, -1]).mean() < 0.8
    assert (env.nearest_state(comp) == test.states[:, -1]).mean() > 0.9
    assert results[0].history[-1]["step"] == 200
    assert results[0].history[-1]["loss"] < results[0].history[0]["loss"]


def test_trained_fixed_points_are_finite_with_ranks(trained):
    env, results = trained
    test = env.collect(10, 3, seed=4)
    fp = fixed_points(results[0].model, env, test.obs[:, 0], test.actions[:, 0], n_starts=3)
    assert fp.points.shape == (10, 3, 2) and np.isfinite(fp.spectral_radius).all()
    assert fp.rank.shape == (10, 3)  # the rank's relation to the error is checked by the experiment


def test_gru_encoder_learns():
    env = make_env("sensor", 2)
    res = train_diffusion(env, env.collect(500, 2, seed=0), 0, max_iter=60, batch_size=64,
                          hidden=16, log_every=10, lr=1e-2)
    losses = [r["loss"] for r in res.history]
    assert np.mean(losses[-2:]) < losses[0]
    assert res.model.encoder.kind == "gru"


def test_save_load_gives_the_same_outputs(tmp_path, trained):
    env, results = trained
    model = results[0].model
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m", env)
    hist = env.collect(5, 3, seed=9)
    x_T = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = model.sample(model.context(hist.obs[:, 0], hist.actions[:, 0]), x_T=x_T)
        b = again.sample(again.context(hist.obs[:, 0], hist.actions[:, 0]), x_T=x_T)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="env"):
        load_model(tmp_path / "m", make_env("grid", 2, size=2))


def test_resume_gives_the_uninterrupted_result():
    env = make_env("sensor", 2)
    data = env.collect(200, 2, seed=0)
    kw = {"max_iter": 20, "batch_size": 16, "hidden": 8, "log_every": 5, "encoder": "mlp"}
    full = train_diffusion(env, data, 1, seed=3, **kw)
    saved = {}

    class Killed(Exception):
        pass

    def callback(step, metrics, state_fn):
        if step == 10:
            saved["state"] = state_fn()
            raise Killed

    with pytest.raises(Killed):
        train_diffusion(env, data, 1, seed=3, callback=callback, **kw)
    resumed = train_diffusion(env, data, 1, seed=3, resume=(10, saved["state"]), **kw)
    assert resumed.history == full.history
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_parameters_and_bad_input(trained):
    env, results = trained
    data = env.collect(20, 3, seed=0)
    with pytest.raises(ValueError, match="max_iter"):
        DiffusionParams(max_iter=0)
    with pytest.raises(ValueError, match="encoder"):
        DiffusionParams(encoder="lstm")
    with pytest.raises(TypeError, match="unknown"):
        train_diffusion(env, data, 0, n_iter=3)
    with pytest.raises(ValueError, match="agent"):
        train_diffusion(env, data, 2, max_iter=1)
    with pytest.raises(ValueError, match="data"):
        train_diffusion(make_env("sensor-gap", 2), data, 0, max_iter=1)
    models = [r.model for r in results]
    short = env.collect(4, 2, seed=0)
    with pytest.raises(ValueError, match="horizon"):
        reconstruct(models, env, short.obs, short.actions)
    with pytest.raises(ValueError, match="obs, actions"):
        reconstruct(models, env, data.obs[:, 0], data.actions[:, 0])
    with pytest.raises(ValueError, match="models"):
        reconstruct(models[:1], env, data.obs, data.actions)
    with pytest.raises(ValueError, match="models"):
        reconstruct(models, make_env("sensor-gap", 2), data.obs, data.actions)
    with pytest.raises(ValueError, match="method"):
        reconstruct(models, env, data.obs, data.actions, method="mean")
    with pytest.raises(ValueError, match="x"):
        env.nearest_state(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="noise"):
        fixed_points(models[0], env, data.obs[:, 0], data.actions[:, 0], noise=0.0)


def test_nan_loss_is_a_divergence_error():
    env = make_env("sensor", 2)
    data = env.collect(50, 2)
    env.features = np.full_like(env.features, np.nan)  # NaN states slipped past the constructor
    with pytest.raises(DivergenceError, match="step 1"):
        train_diffusion(env, data, 0, max_iter=5, batch_size=8, hidden=8, encoder="mlp")
