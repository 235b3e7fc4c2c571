"""Fixed points of the denoising map, their stability and rank, and composite diffusion
(Wang et al. 2025, Sec. 4-5).

The deterministic denoising map of a model at noise level ``t`` is
``G_h(x) = x0_hat(sqrt(ab_t) x, t, h)``: place a candidate state at level ``t`` and denoise it. For
the exact denoiser ``G_h(x) = sum_s w_s(x) f_s`` with ``w_s`` proportional to
``p(s | h) exp(-ab_t |x - f_s|^2 / (2 (1 - ab_t)))``, a mean-shift step: at small noise every state
the history allows is a stable fixed point (Jacobian near 0) and nothing else is.
:func:`fixed_points` iterates ``G_h`` from many starts and reports each limit's Jacobian (by
``torch.func.jacrev``), its spectral radius (stable when < 1), its numerical rank, and its distance
from the nearest state and from the true state.

Composite diffusion (:func:`reconstruct` with ``method="composite"``) runs the DDIM sampler with the
agents' models in turn (step ``k`` uses agent ``k mod n_agents``) and then iterates
``G_N o ... o G_1``: a point is a fixed point of the composite map when it is one of every agent's,
so in a CO Dec-POMDP it can only be the true state, and in a non-CO one a state consistent with
every agent's history.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import ConditionalDiffusion, check_histories
from econcs.shared import (
    ConvergenceWarning,
    check_array,
    check_choice,
    check_float,
    check_int,
    check_type,
    make_generator,
)

__all__ = ["FixedPoints", "composite_trajectory", "denoise_map", "fixed_points", "reconstruct",
           "sample_distribution"]


def _level(model: ConditionalDiffusion, noise: float) -> int:
    """The time step whose noise std ``sqrt(1 - ab_t)`` is nearest ``noise``."""
    std = (1 - model.alpha_bar).sqrt()
    return int((std - noise).abs().argmin())


def denoise_map(model: ConditionalDiffusion, x: torch.Tensor, ctx: torch.Tensor,
                t: int) -> torch.Tensor:
    """``G_h(x) = x0_hat(sqrt(ab_t) x, t, h)``: x (batch, state_dim), ctx (batch, hidden)."""
    return model.predict_x0(model.alpha_bar[t].sqrt() * x, t, ctx)


def _iterate(maps, x: torch.Tensor, max_iter: int, tol: float, record: list | None = None):
    """Iterate ``maps[-1] o ... o maps[0]`` from ``x`` until every row moves less than ``tol``
    (or ``max_iter`` rounds); ``record`` collects the iterate after every round."""
    step = torch.full(x.shape[:1], float("inf"), device=x.device)
    for it in range(1, max_iter + 1):
        new = x
        for g in maps:
            new = g(new)
        step = (new - x).norm(dim=-1)
        x = new
        if record is not None:
            record.append(x)
        if bool((step < tol).all()):
            return x, it, step
    return x, max_iter, step


@dataclasses.dataclass(frozen=True, eq=False)
class FixedPoints:
    """Fixed points of one model's denoising map, ``n_starts`` per history.

    Attributes (``B`` histories, ``K`` starts, ``d = state_dim``)
    ----------
    points : (B, K, d) -- the limits of the iteration.
    residual : (B, K) -- ``|G(x) - x|`` at the limit.
    spectral_radius : (B, K) -- the largest ``|eigenvalue|`` of the Jacobian (stable when < 1).
    rank : (B, K) int -- singular values of the map's Jacobian ``J_G`` above ``rank_tol``.
    network_rank : (B, K) int -- the rank of the diffusion network's Jacobian
        ``d eps / d x_t = (I - J_G) / sqrt(1 - ab_t)``, its singular values counted in units of
        ``1 / sqrt(1 - ab_t)`` (those of ``I - J_G``) above ``rank_tol``: full where the map
        contracts, lower along directions the map leaves uncorrected.
    nearest : (B, K) int -- the nearest state's index; ``deviation`` (B, K) its distance.
    true_distance : (B, K) -- the distance to the true state (when given).
    level : int -- the diffusion time step of the map.
    converged : (B, K) bool -- the last step moved less than ``tol``; ``iterations`` the
        rounds run (``max_iter`` when some start did not converge, with a
        :class:`~econcs.shared.ConvergenceWarning`).
    """

    points: np.ndarray
    residual: np.ndarray
    spectral_radius: np.ndarray
    rank: np.ndarray
    network_rank: np.ndarray
    nearest: np.ndarray
    deviation: np.ndarray
    true_distance: np.ndarray | None
    level: int
    converged: np.ndarray
    iterations: int


def fixed_points(model: ConditionalDiffusion, env: TabularDecPOMDP, obs, actions, *,
                 true_states=None, n_starts: int = 8, noise: float = 0.3, max_iter: int = 100,
                 tol: float = 1e-4, rank_tol: float = 0.1, seed: int = 0,
                 generator: torch.Generator | None = None) -> FixedPoints:
    """Iterate the denoising map of ``model`` at noise std ``noise`` from ``n_starts`` random
    starts per history (uniform on the box of the state features) and analyse the limits.

    ``obs``, ``actions`` are histories as the model takes them; ``true_states`` (B,) state indices.
    """
    check_type(model, "model", ConditionalDiffusion)
    check_type(env, "env", TabularDecPOMDP)
    if model.meta.get("env") != env.name:
        raise ValueError(f"model: trained for env {model.meta.get('env')!r}, not {env.name!r}.")
    check_histories(model, obs, actions)
    if true_states is not None:
        check_states(true_states, np.asarray(obs).shape[0], env.n_states)
    n_starts = check_int(n_starts, "n_starts", low=1)
    noise = check_float(noise, "noise", low=0.0, high=1.0, low_inclusive=False)
    max_iter = check_int(max_iter, "max_iter", low=1)
    dev = model.alpha_bar.device
    gen = make_generator(seed, dev) if generator is None else generator
    t = _level(model, noise)
    lo = torch.as_tensor(env.features.min(0), dtype=torch.float32, device=dev)
    hi = torch.as_tensor(env.features.max(0), dtype=torch.float32, device=dev)
    with torch.no_grad():
        ctx = model.context(obs, actions).repeat_interleave(n_starts, 0)
        x = lo + (hi - lo) * torch.rand(ctx.shape[0], env.state_dim, generator=gen, device=dev)
        x, iters, last = _iterate([lambda z: denoise_map(model, z, ctx, t)], x, max_iter, tol)
        residual = (denoise_map(model, x, ctx, t) - x).norm(dim=-1)
    converged = (last < tol).cpu().numpy()
    if not converged.all():
        warnings.warn(ConvergenceWarning(
            f"fixed_points: {int((~converged).sum())} of {converged.size} starts still moved "
            f">= tol={tol:g} after max_iter={max_iter} iterations (max step "
            f"{float(last.max()):.3g}); raise max_iter or see FixedPoints.converged."),
            stacklevel=2)

    def single(xi, ci):
        return denoise_map(model, xi[None], ci[None], t)[0]

    jac = torch.func.vmap(torch.func.jacrev(single))(x, ctx).detach()  # (B K, d, d)
    radius = torch.linalg.eigvals(jac).abs().amax(-1)
    rank = (torch.linalg.svdvals(jac) > rank_tol).sum(-1)
    eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
    net_rank = (torch.linalg.svdvals(eye - jac) > rank_tol).sum(-1)
    b = np.asarray(obs).shape[0]
    pts = x.cpu().numpy()
    near = env.nearest_state(pts)
    dev_ = np.linalg.norm(pts - env.features[near], axis=1)
    true_d = None
    if true_states is not None:
        ts = np.repeat(check_states(true_states, b, env.n_states), n_starts)
        true_d = np.linalg.norm(pts - env.features[ts], axis=1).reshape(b, n_starts)
    shape = (b, n_starts)
    return FixedPoints(pts.reshape(b, n_starts, -1), residual.cpu().numpy().reshape(shape),
                       radius.cpu().numpy().reshape(shape), rank.cpu().numpy().reshape(shape),
                       net_rank.cpu().numpy().reshape(shape),
                       near.reshape(shape), dev_.reshape(shape), true_d, t,
                       converged.reshape(shape), iters)


def _check_models(models, env: TabularDecPOMDP, obs, actions, method: str, agent: int,
                  noise: float):
    check_type(env, "env", TabularDecPOMDP)
    check_float(noise, "noise", low=0.0, high=1.0, low_inclusive=False)
    check_choice(method, "method", ("single", "composite"))
    models = list(models)
    if len(models) != env.n_agents:
        raise ValueError(f"models: expected one model per agent ({env.n_agents}), got "
                         f"{len(models)}.")
    obs_a, act_a = np.asarray(obs), np.asarray(actions)
    for i, m in enumerate(models):
        check_type(m, f"models[{i}]", ConditionalDiffusion)
        if m.meta.get("env") != env.name:
            raise ValueError(f"models[{i}]: trained for env {m.meta.get('env')!r}, not "
                             f"{env.name!r}.")
        check_histories(m, obs_a[:, i], act_a[:, i])
    agent = env.check_agent(agent)
    use = [agent] if method == "single" else list(range(env.n_agents))
    steps = sorted({models[i].n_steps for i in use})
    if len(steps) > 1:
        raise ValueError(f"models: the composite process steps every model on one noise "
                         f"schedule, got models with n_steps {steps}; train them alike.")
    return models, use, obs_a, act_a


def _run(models, use, contexts, x: torch.Tensor, n_fixed: int, noise: float,
         record: list | None = None) -> torch.Tensor:
    """DDIM from ``x`` with the models ``use`` in turn, then ``n_fixed`` composite rounds."""
    n_steps = models[use[0]].n_steps
    for k, t in enumerate(range(n_steps - 1, -1, -1)):
        i = use[k % len(use)]
        x = models[i].ddim_step(x, t, t - 1, contexts[i])
    if record is not None:
        record.append(x)
    levels = {i: _level(models[i], noise) for i in use}
    maps = [lambda z, i=i: denoise_map(models[i], z, contexts[i], levels[i]) for i in use]
    if n_fixed:
        x, _, _ = _iterate(maps, x, n_fixed, 0.0, record)
    return x


def reconstruct(models: Sequence[ConditionalDiffusion], env: TabularDecPOMDP, obs, actions, *,
                method: str = "composite", agent: int = 0, n_fixed: int = 20, noise: float = 0.3,
                seed: int = 0, generator: torch.Generator | None = None) -> np.ndarray:
    """Reconstructed states (batch, state_dim) from all agents' histories.

    ``obs`` (batch, n_agents, H + 1), ``actions`` (batch, n_agents, H); ``models[i]`` is agent
    ``i``'s model. ``method="single"``: agent ``agent``'s DDIM sample, then ``n_fixed`` iterations
    of its denoising map at noise std ``noise``; ``"composite"``: DDIM with the agents' models in
    turn, then ``n_fixed`` rounds of the composite map ``G_N o ... o G_1``.
    """
    models, use, obs_a, act_a = _check_models(models, env, obs, actions, method, agent,
                                                    noise)
    n_fixed = check_int(n_fixed, "n_fixed", low=0)
    dev = models[0].alpha_bar.device
    gen = make_generator(seed, dev) if generator is None else generator
    with torch.no_grad():
        ctx = {i: models[i].context(obs_a[:, i], act_a[:, i]) for i in use}
        x = torch.randn(obs_a.shape[0], env.state_dim, generator=gen, device=dev)
        x = _run(models, use, ctx, x, n_fixed, noise)
    return x.cpu().numpy()


def composite_trajectory(models: Sequence[ConditionalDiffusion], env: TabularDecPOMDP, obs,
                         actions, *, method: str = "composite", agent: int = 0,
                         n_fixed: int = 20, noise: float = 0.3, seed: int = 0,
                         generator: torch.Generator | None = None) -> np.ndarray:
    """The iterates of :func:`reconstruct` (same arguments, same random draws):
    ``(n_fixed + 1, batch, state_dim)``, row 0 the DDIM sample and row ``k`` the point after
    ``k`` rounds of the (composite) denoising map; the last row is what :func:`reconstruct`
    returns."""
    models, use, obs_a, act_a = _check_models(models, env, obs, actions, method, agent,
                                                    noise)
    n_fixed = check_int(n_fixed, "n_fixed", low=0)
    dev = models[0].alpha_bar.device
    gen = make_generator(seed, dev) if generator is None else generator
    rows: list[torch.Tensor] = []
    with torch.no_grad():
        ctx = {i: models[i].context(obs_a[:, i], act_a[:, i]) for i in use}
        x = torch.randn(obs_a.shape[0], env.state_dim, generator=gen, device=dev)
        _run(models, use, ctx, x, n_fixed, noise, rows)
    return torch.stack(rows).cpu().numpy()


def sample_distribution(models: Sequence[ConditionalDiffusion], env: TabularDecPOMDP, obs,
                        actions, *, n_samples: int = 64, method: str = "composite",
                        agent: int = 0, n_fixed: int = 20, noise: float = 0.3,
                        seed: int = 0, generator: torch.Generator | None = None) -> np.ndarray:
    """The empirical distribution (batch, n_states) of the nearest states of ``n_samples``
    reconstructions per history (the process of :func:`reconstruct` from independent noise;
    each history's contexts are computed once and repeated)."""
    models, use, obs_a, act_a = _check_models(models, env, obs, actions, method, agent,
                                                    noise)
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_fixed = check_int(n_fixed, "n_fixed", low=0)
    dev = models[0].alpha_bar.device
    gen = make_generator(seed, dev) if generator is None else generator
    b = obs_a.shape[0]
    with torch.no_grad():
        ctx = {i: models[i].context(obs_a[:, i], act_a[:, i]).repeat_interleave(n_samples, 0)
               for i in use}
        x = torch.randn(b * n_samples, env.state_dim, generator=gen, device=dev)
        x = _run(models, use, ctx, x, n_fixed, noise).cpu().numpy()
    s = env.nearest_state(x).reshape(b, n_samples)
    counts = (s[:, :, None] == np.arange(env.n_states)).sum(1)
    return counts / n_samples


def posterior_tv(dist: np.ndarray, posterior: np.ndarray) -> np.ndarray:
    """Total variation ``0.5 sum_s |dist_s - posterior_s|`` (batch,) between two (batch,
    n_states) distributions, e.g. :func:`sample_distribution` and the exact posterior."""
    p = check_array(dist, "dist", ndim=2)
    q = check_array(posterior, "posterior", ndim=2, shape=p.shape)
    for name, a in (("dist", p), ("posterior", q)):
        if (a < 0).any() or not np.allclose(a.sum(-1), 1.0, atol=1e-6):
            raise ValueError(f"{name}: expected rows of probabilities summing to 1.")
    return 0.5 * np.abs(p - q).sum(-1)


def check_states(states, batch: int, n_states: int) -> np.ndarray:
    """``states`` as (batch,) integer state indices in ``[0, n_states)``, else ``ValueError``
    (a float array, NaN included, is refused)."""
    a = np.asarray(states)
    if (a.shape != (batch,) or not np.issubdtype(a.dtype, np.integer)
            or (a.size and (a.min() < 0 or a.max() >= n_states))):
        raise ValueError(f"true_states: expected ({batch},) state indices in [0, {n_states}), "
                         f"got shape {a.shape}, dtype {a.dtype}.")
    return a
