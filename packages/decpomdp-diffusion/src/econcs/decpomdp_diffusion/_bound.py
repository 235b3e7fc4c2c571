"""The surrogate linear regression of the local denoising behaviour and its deviation bound
(Wang et al. 2025, Sec. 5).

Near the true state ``s`` the denoising map ``G_h`` of a model (or the composite map
``G_N o ... o G_1`` of the agents' models) is replaced by a linear regression surrogate
``G_h(x) ~ A (x - s) + c``, fitted by least squares on ``n_fit`` points ``x = s + radius * xi``
(``xi ~ N(0, I)``). An ideal model has ``G_h(s) = s`` (the state is a fixed point); a learned one
misses by the approximation error ``eps = |G_h(s) - s|``, and its fixed point ``x*`` (found by
iterating ``G_h`` from ``s``) deviates from ``s``. When ``G_h`` is ``L``-Lipschitz on a region
holding ``s`` and ``x*`` with ``L < 1``,

    |x* - s| = |G_h(x*) - G_h(s) + G_h(s) - s| <= L |x* - s| + eps,  so  |x* - s| <= eps / (1 - L),

and the surrogate estimates ``L`` by the spectral norm of ``A``. The bound is ``inf`` where the
surrogate is not a contraction (``|A|_2 >= 1``). :func:`deviation_bound` reports, per history, the
measured deviation, the bound and whether the first is within the second (up to the iteration's
``tol``); :attr:`DeviationBound.coverage` is the share of histories where it is (the
``bound_coverage`` metric). It is exact for an affine map (a Gaussian posterior gives
``x* - s = (I - A)^{-1} (G(s) - s)``) and can fail for a learned map whose curvature near ``s``
the linear fit misses, or whose fixed point lies outside the fitted ball.

The paper's own constants were not retrievable (no public code or numbers); this is our
construction of "a surrogate linear regression model that approximates the local behaviour".
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import ConditionalDiffusion, check_histories
from econcs.decpomdp_diffusion._fixed_points import _iterate, _level, denoise_map
from econcs.shared import (
    ConvergenceWarning,
    check_float,
    check_int,
    check_type,
    make_generator,
)

__all__ = ["DeviationBound", "deviation_bound"]


@dataclasses.dataclass(frozen=True, eq=False)
class DeviationBound:
    """The surrogate regression and deviation bound at each history's true state.

    Attributes (``B`` histories, ``d = state_dim``)
    ----------
    fixed_point : (B, d) -- the limit of iterating the map from the true state.
    deviation : (B,) -- ``|x* - s|``, the measured deviation.
    state_error : (B,) -- ``|G(s) - s|``, the map's approximation error at the state.
    coef : (B, d, d) -- the surrogate's ``A``; ``intercept`` (B, d) its ``c`` (``~ G(s)``).
    lipschitz : (B,) -- ``|A|_2``, the surrogate's Lipschitz constant.
    rank : (B,) int -- singular values of ``A`` above ``rank_tol``.
    fit_error : (B,) -- the root mean squared residual of the regression on its points.
    surrogate_deviation : (B,) -- ``|(I - A)^{-1} (c - s)|``, the surrogate's own fixed point's
        deviation (``inf`` where ``I - A`` is singular).
    bound : (B,) -- ``state_error / (1 - lipschitz)``, ``inf`` where ``lipschitz >= 1``.
    covered : (B,) bool -- ``deviation <= bound + tol``.
    converged : (B,) bool -- the iteration from ``s`` moved less than ``tol`` at the end.
    iterations : int; level : int -- the diffusion time step of the map(s).
    """

    fixed_point: np.ndarray
    deviation: np.ndarray
    state_error: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    lipschitz: np.ndarray
    rank: np.ndarray
    fit_error: np.ndarray
    surrogate_deviation: np.ndarray
    bound: np.ndarray
    covered: np.ndarray
    converged: np.ndarray
    iterations: int
    level: int

    @property
    def coverage(self) -> float:
        """The share of histories whose deviation lies within the bound."""
        return float(self.covered.mean())

    @property
    def finite_share(self) -> float:
        """The share of histories with a finite bound (a contractive surrogate)."""
        return float(np.isfinite(self.bound).mean())


def _maps(models, env: TabularDecPOMDP, obs, actions, noise: float):
    """The denoising maps (one model, or one per agent in turn), each repeating its contexts to
    the batch it is given; the map level, the batch size and the device."""
    obs_a, act_a = np.asarray(obs), np.asarray(actions)
    if isinstance(models, ConditionalDiffusion):
        check_histories(models, obs_a, act_a)
        pairs = [(models, obs_a, act_a)]
    else:
        models = list(models)
        if len(models) != env.n_agents:
            raise ValueError(f"models: expected one model per agent ({env.n_agents}) or a "
                             f"single model, got {len(models)}.")
        pairs = []
        for i, m in enumerate(models):
            check_type(m, f"models[{i}]", ConditionalDiffusion)
            check_histories(m, obs_a[:, i], act_a[:, i])
            pairs.append((m, obs_a[:, i], act_a[:, i]))
    for k, (m, _, _) in enumerate(pairs):
        if m.meta.get("env") != env.name:
            raise ValueError(f"models: model {k} was trained for env {m.meta.get('env')!r}, "
                             f"not {env.name!r}.")
    maps, level = [], _level(pairs[0][0], noise)
    for m, o, a in pairs:
        ctx = m.context(o, a)
        t = _level(m, noise)
        maps.append(lambda z, m=m, t=t, ctx=ctx: denoise_map(
            m, z, ctx.repeat_interleave(z.shape[0] // ctx.shape[0], 0), t))
    return maps, level, obs_a.shape[0], pairs[0][0].alpha_bar.device


def deviation_bound(models: ConditionalDiffusion | Sequence[ConditionalDiffusion],
                    env: TabularDecPOMDP, obs, actions, true_states, *, noise: float = 0.1,
                    radius: float = 0.2, n_fit: int = 32, max_iter: int = 200,
                    tol: float = 1e-4, rank_tol: float = 0.1, seed: int = 0,
                    generator: torch.Generator | None = None) -> DeviationBound:
    """Fit the surrogate ``G(x) ~ A (x - s) + c`` around each true state and compare the bound
    ``|G(s) - s| / (1 - |A|_2)`` with the deviation of the fixed point reached from ``s``.

    ``models``: one model (``obs``, ``actions`` its histories, (B, H + 1) and (B, H)), or one per
    agent (joint histories (B, n_agents, H + 1), the composite map ``G_N o ... o G_1``);
    ``true_states`` (B,) state indices; ``noise`` the noise std of the map's level; ``radius``
    the spread of the ``n_fit`` regression points around the state.

    Examples
    --------
    >>> from econcs.decpomdp_diffusion import ExactDiffusion, make_env
    >>> env = make_env("sensor")
    >>> hist = env.collect(8, 2, seed=0)
    >>> res = deviation_bound(ExactDiffusion(env, 0), env, hist.obs[:, 0], hist.actions[:, 0],
    ...                       hist.states[:, -1])
    >>> res.coverage, bool(res.deviation.max() < 1e-3)  # the exact model: every state is fixed
    (1.0, True)
    """
    check_type(env, "env", TabularDecPOMDP)
    noise = check_float(noise, "noise", low=0.0, high=1.0, low_inclusive=False)
    radius = check_float(radius, "radius", low=0.0, low_inclusive=False)
    n_fit = check_int(n_fit, "n_fit", low=env.state_dim + 2)
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_float(tol, "tol", low=0.0, low_inclusive=False)
    with torch.no_grad():
        maps, level, b, dev = _maps(models, env, obs, actions, noise)
        true = np.asarray(true_states)
        if (true.shape != (b,) or not np.issubdtype(true.dtype, np.integer)
                or true.min() < 0 or true.max() >= env.n_states):
            raise ValueError(f"true_states: expected ({b},) state indices in [0, "
                             f"{env.n_states}), got shape {true.shape}, dtype {true.dtype}.")
        gen = make_generator(seed, dev) if generator is None else generator
        s = torch.as_tensor(env.features[true], dtype=torch.float32, device=dev)  # (B, d)

        def composite(z):
            for g in maps:
                z = g(z)
            return z

        g_s = composite(s)
        state_error = (g_s - s).norm(dim=-1)
        x_star, iters, last = _iterate([composite], s, max_iter, tol)
        deviation = (x_star - s).norm(dim=-1)
        d = env.state_dim
        xi = torch.randn(b, n_fit, d, generator=gen, device=dev)
        pts = s[:, None] + radius * xi  # (B, m, d)
        y = composite(pts.reshape(b * n_fit, d)).reshape(b, n_fit, d)
        design = torch.cat([radius * xi, torch.ones(b, n_fit, 1, device=dev)], dim=-1)
        sol = torch.linalg.lstsq(design.double(), y.double()).solution  # (B, d + 1, d)
        coef = sol[:, :d].transpose(-1, -2)  # G(x) ~ coef (x - s) + intercept
        intercept = sol[:, d]
        fit_error = ((design.double() @ sol - y.double()) ** 2).sum(-1).mean(-1).sqrt()
        svals = torch.linalg.svdvals(coef)
        lipschitz = svals[:, 0]
        rank = (svals > rank_tol).sum(-1)
        eye = torch.eye(d, dtype=torch.float64, device=dev).expand(b, d, d)
        s64 = s.double()
        sur = torch.full((b,), float("inf"), dtype=torch.float64, device=dev)
        ok = torch.linalg.matrix_rank(eye - coef) == d
        if bool(ok.any()):
            sur[ok] = torch.linalg.solve(eye[ok] - coef[ok],
                                         (intercept[ok] - s64[ok])[..., None])[..., 0].norm(dim=-1)
        bound = torch.where(lipschitz < 1, state_error.double() / (1 - lipschitz).clamp_min(
            1e-12), torch.full_like(lipschitz, float("inf")))
    converged = (last < tol).cpu().numpy()
    if not converged.all():
        warnings.warn(ConvergenceWarning(
            f"deviation_bound: the iteration from {int((~converged).sum())} of {b} true states "
            f"still moved >= tol={tol:g} after max_iter={max_iter} rounds; raise max_iter or see "
            f"DeviationBound.converged."), stacklevel=2)
    deviation_np, bound_np = deviation.cpu().double().numpy(), bound.cpu().numpy()
    return DeviationBound(
        fixed_point=x_star.cpu().numpy(), deviation=deviation_np,
        state_error=state_error.cpu().numpy(), coef=coef.cpu().numpy(),
        intercept=intercept.cpu().numpy(), lipschitz=lipschitz.cpu().numpy(),
        rank=rank.cpu().numpy(), fit_error=fit_error.cpu().numpy(),
        surrogate_deviation=sur.cpu().numpy(), bound=bound_np,
        covered=deviation_np <= bound_np + tol, converged=converged, iterations=iters,
        level=level)
