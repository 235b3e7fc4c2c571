"""The surrogate linear regression of the local denoising behaviour and its deviation bound
(Wang et al. 2025, Sec. 5; the construction and its constants are ours).

Near the true state ``s`` the denoising map ``G_h`` of a model (or the composite map
``G_N o ... o G_1`` of the agents' models), at the same noise level as the fixed-point iteration,
is replaced by a linear regression surrogate ``G_h(x) ~ s + A (x - s)``: ``A`` is the slope of a
least-squares fit ``G_h(x) ~ A (x - s) + c`` on ``n_fit`` points drawn uniformly in the ball
``B = B(s, R)``. An ideal model fixes ``s`` (``G_h(s) = s``); a learned one deviates.

The bound. Write ``G_h(x) = s + A (x - s) + e(x)`` on ``B`` and assume

1. ``|e(x)| <= eps`` for every ``x`` in ``B`` (``eps`` bounds the surrogate's error, including
   ``e(s) = G_h(s) - s``, the map's approximation error at the state), and
2. ``L = |A|_2 < 1`` (the surrogate contracts), and ``eps / (1 - L) <= R``.

Then for ``x`` in ``B``: ``|G_h(x) - s| <= L R + eps <= R``, so ``G_h`` maps ``B`` into itself
(by Brouwer it has a fixed point there) and the iteration from ``s`` never leaves ``B``; its limit
``x*`` is a fixed point in ``B``, and any such fixed point satisfies
``x* - s = A (x* - s) + e(x*)``, hence

    |x* - s| <= L |x* - s| + eps,  so  |x* - s| <= eps / (1 - L).

Nothing here asks ``G_h`` itself to be a contraction: the nonlinearity is carried by ``eps``.
The one estimated quantity is ``eps``, the largest surrogate error over ``s``, the fit points and
``n_check`` further points (half uniform in ``B``, half on its sphere): a sample maximum, which a
narrow peak of ``|e|`` between the points can exceed -- the only way a certified bound can fail.
:func:`deviation_bound` tries the radii ``R = radius / 2^k`` (``k < n_radii``) and keeps the
smallest bound among those where assumption 2 holds (each is a valid bound on the same ``x*``, so
their minimum is too); where it holds for no radius the bound is ``inf`` and ``certified`` is
false. ``covered`` asks for a certified bound that holds, so :attr:`DeviationBound.coverage` (the
``bound_coverage`` metric) counts an uncertified history as a miss, and
:attr:`DeviationBound.certified_share` says how often the assumptions held.

For an affine map ``e`` is the constant ``G_h(s) - s`` and the bound is
``|G_h(s) - s| / (1 - |A|_2)``, tight when ``A`` is a multiple of the identity (a Gaussian
posterior: tested against the closed form). An earlier version used ``eps = |G_h(s) - s|`` alone
with ``L = |A|_2`` of a fit on a Gaussian cloud: that is a bound only if ``G_h`` is ``L``-Lipschitz
between ``s`` and ``x*``, and on a learned map it was not (MEASUREMENTS.md: the misses had
``|A|_2 ~ 0.57`` against ``max |J_G| ~ 0.86`` on the segment from ``s`` to ``x*``).

The paper's own construction and constants were not retrievable (no public code or numbers).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import ConditionalDiffusion, check_histories
from econcs.decpomdp_diffusion._fixed_points import (
    _iterate,
    _level,
    check_states,
    denoise_map,
)
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
    coef : (B, d, d) -- the surrogate's ``A`` at the radius of the bound (the smallest radius
        where none is certified); ``intercept`` (B, d) the fit's ``c`` (``~ G(s)``).
    lipschitz : (B,) -- ``|A|_2``.
    rank : (B,) int -- singular values of ``A`` above ``rank_tol``.
    eps : (B,) -- the surrogate's largest error ``|G(x) - s - A (x - s)|`` on the ball's points.
    fit_error : (B,) -- the root mean squared residual of the regression on its points.
    radius : (B,) -- the ball's radius ``R`` (``nan`` where no radius is certified).
    surrogate_deviation : (B,) -- ``|(I - A)^{-1} (c - s)|``, the surrogate's own fixed point's
        deviation (``inf`` where ``I - A`` is singular).
    bound : (B,) -- ``eps / (1 - lipschitz)`` at the radius kept, ``inf`` where not certified.
    certified : (B,) bool -- ``|A|_2 < 1`` and ``eps / (1 - |A|_2) <= R`` for some radius.
    covered : (B,) bool -- certified and ``deviation <= bound + tol``.
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
    eps: np.ndarray
    fit_error: np.ndarray
    radius: np.ndarray
    surrogate_deviation: np.ndarray
    bound: np.ndarray
    certified: np.ndarray
    covered: np.ndarray
    converged: np.ndarray
    iterations: int
    level: int

    @property
    def coverage(self) -> float:
        """The share of histories with a certified bound that holds (uncertified: a miss)."""
        return float(self.covered.mean())

    @property
    def certified_share(self) -> float:
        """The share of histories where the bound's assumptions held at some radius."""
        return float(self.certified.mean())

    @property
    def certified_coverage(self) -> float:
        """The share of certified histories whose deviation lies within the bound (nan if none)."""
        return float(self.covered[self.certified].mean()) if self.certified.any() else math.nan


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


def _ball(b: int, n: int, d: int, gen: torch.Generator, dev, *, sphere: bool = False):
    """``n`` points per row uniform in the unit ball of R^d (on its sphere): (b, n, d)."""
    u = torch.randn(b, n, d, generator=gen, device=dev)
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if sphere:
        return u
    return u * torch.rand(b, n, 1, generator=gen, device=dev) ** (1.0 / d)


def _surrogate(composite, s: torch.Tensor, r: float, n_fit: int, n_check: int,
               gen: torch.Generator):
    """The fit on ``B(s, r)``: slope ``A`` (b, d, d), intercept, rms residual and ``eps``."""
    b, d = s.shape
    fit = _ball(b, n_fit, d, gen, s.device)
    off = torch.cat([torch.zeros(b, 1, d, device=s.device), fit,
                     _ball(b, n_check // 2, d, gen, s.device),
                     _ball(b, n_check - n_check // 2, d, gen, s.device, sphere=True)], 1) * r
    y = composite((s[:, None] + off).reshape(-1, d)).reshape(b, -1, d).double()
    off64, s64 = off.double(), s.double()[:, None]
    design = torch.cat([off64[:, 1:n_fit + 1], torch.ones(b, n_fit, 1, dtype=torch.float64,
                                                          device=s.device)], dim=-1)
    sol = torch.linalg.lstsq(design, y[:, 1:n_fit + 1]).solution  # (B, d + 1, d)
    coef = sol[:, :d].transpose(-1, -2)  # G(x) ~ coef (x - s) + intercept
    fit_error = ((design @ sol - y[:, 1:n_fit + 1]) ** 2).sum(-1).mean(-1).sqrt()
    err = y - s64 - off64 @ coef.transpose(-1, -2)  # e(x) = G(x) - s - A (x - s)
    return coef, sol[:, d], fit_error, err.norm(dim=-1).amax(-1)


def deviation_bound(models: ConditionalDiffusion | Sequence[ConditionalDiffusion],
                    env: TabularDecPOMDP, obs, actions, true_states, *, noise: float = 0.1,
                    radius: float = 0.8, n_radii: int = 5, n_fit: int = 32,
                    n_check: int = 64, max_iter: int = 200, tol: float = 1e-4,
                    rank_tol: float = 0.1, seed: int = 0,
                    generator: torch.Generator | None = None) -> DeviationBound:
    """Fit the surrogate ``G(x) ~ s + A (x - s)`` on balls around each true state ``s`` and
    compare the bound ``eps / (1 - |A|_2)`` (module docstring) with the deviation of the fixed
    point reached by iterating ``G`` from ``s``.

    ``models``: one model (``obs``, ``actions`` its histories, (B, H + 1) and (B, H)), or one per
    agent (joint histories (B, n_agents, H + 1), the composite map ``G_N o ... o G_1``);
    ``true_states`` (B,) state indices; ``noise`` the noise std of the map's level (the iteration
    and the fit use the same map); the radii ``radius / 2^k``, ``k < n_radii``; ``n_fit``
    regression points and ``n_check`` more points per ball for ``eps``.

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
    n_radii = check_int(n_radii, "n_radii", low=1)
    n_fit = check_int(n_fit, "n_fit", low=env.state_dim + 2)
    n_check = check_int(n_check, "n_check", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_float(tol, "tol", low=0.0, low_inclusive=False)
    rank_tol = check_float(rank_tol, "rank_tol", low=0.0, low_inclusive=False)
    with torch.no_grad():
        maps, level, b, dev = _maps(models, env, obs, actions, noise)
        true = check_states(true_states, b, env.n_states)
        gen = make_generator(seed, dev) if generator is None else generator
        s = torch.as_tensor(env.features[true], dtype=torch.float32, device=dev)  # (B, d)

        def composite(z):
            for g in maps:
                z = g(z)
            return z

        state_error = (composite(s) - s).norm(dim=-1)
        x_star, iters, last = _iterate([composite], s, max_iter, tol)
        deviation = (x_star - s).norm(dim=-1)
        inf = torch.full((b,), math.inf, dtype=torch.float64, device=dev)
        best, kept = inf.clone(), None
        for k in reversed(range(n_radii)):  # the smallest ball first
            r = radius / 2**k
            fit = _surrogate(composite, s, r, n_fit, n_check, gen)
            lip = torch.linalg.matrix_norm(fit[0], ord=2)
            bnd = torch.where(lip < 1, fit[3] / (1 - lip).clamp_min(1e-12), inf)
            better = (bnd <= r) & (bnd < best)
            if kept is None:
                kept = [*fit, torch.full((b,), math.nan, dtype=torch.float64, device=dev)]
            for j, v in enumerate([*fit, torch.full_like(best, r)]):
                kept[j] = torch.where(better.view(-1, *[1] * (v.ndim - 1)), v, kept[j])
            best = torch.where(better, bnd, best)
        coef, intercept, fit_error, eps, radii = kept
        svals = torch.linalg.svdvals(coef)
        d = env.state_dim
        eye = torch.eye(d, dtype=torch.float64, device=dev).expand(b, d, d)
        sur = inf.clone()
        ok = torch.linalg.matrix_rank(eye - coef) == d
        if bool(ok.any()):
            sur[ok] = torch.linalg.solve(eye[ok] - coef[ok], (intercept[ok] - s.double()[ok])
                                         [..., None])[..., 0].norm(dim=-1)
    converged = (last < tol).cpu().numpy()
    if not converged.all():
        warnings.warn(ConvergenceWarning(
            f"deviation_bound: the iteration from {int((~converged).sum())} of {b} true states "
            f"still moved >= tol={tol:g} after max_iter={max_iter} rounds; raise max_iter or see "
            f"DeviationBound.converged."), stacklevel=2)
    deviation_np, bound_np = deviation.cpu().double().numpy(), best.cpu().numpy()
    certified = np.isfinite(bound_np)
    return DeviationBound(
        fixed_point=x_star.cpu().numpy(), deviation=deviation_np,
        state_error=state_error.cpu().numpy(), coef=coef.cpu().numpy(),
        intercept=intercept.cpu().numpy(), lipschitz=svals[:, 0].cpu().numpy(),
        rank=(svals > rank_tol).sum(-1).cpu().numpy(), eps=eps.cpu().numpy(),
        fit_error=fit_error.cpu().numpy(), radius=radii.cpu().numpy(),
        surrogate_deviation=sur.cpu().numpy(), bound=bound_np, certified=certified,
        covered=certified & (deviation_np <= bound_np + tol), converged=converged,
        iterations=iters, level=level)
