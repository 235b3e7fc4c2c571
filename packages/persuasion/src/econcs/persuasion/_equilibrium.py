"""Local Nash equilibria by extra-gradient on learned utilities, certified with the exact ones
(Hossain et al., ICML 2024, Sec. 4).

Each sender's scheme is ``softmax(theta_i)`` over signals, row by row. Sender ``i`` ascends its
own utility ``f_i(pi)`` (a :class:`~econcs.persuasion.UtilityNetwork`, or the exact
:func:`~econcs.persuasion.sender_utilities`, differentiable inside each piece) in its own logits
with :class:`econcs.shared.ExtraGradient`; ``n_restarts`` initial profiles run at once, as a batch
(their losses are summed, and each restart's logits only enter its own term). ``refine_iter``
further steps on the *exact* utilities polish the profile inside its piece.

Every profile found is verified with the exact utilities:

- :func:`local_ne_gap`: the best gain any sender gets from a deviation
  ``pi_i' = (1 - eps) pi_i + eps rho`` with ``eps <= radius`` (so ``|pi_i' - pi_i| <= radius``
  entrywise), over random ``rho`` (Dirichlet and deterministic schemes) and the projected
  exact-gradient step: a sampled lower bound on the best local gain;
- :func:`~econcs.persuasion.exact_ne_gap` on small games: the certified global gain (MILP).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import torch

from econcs.persuasion._game import PersuasionGame, _utilities, check_schemes
from econcs.persuasion._utility_fit import sample_profiles
from econcs.shared import (
    Callback,
    ConvergenceWarning,
    DivergenceError,
    ExtraGradient,
    Params,
    check_float,
    check_int,
    check_type,
    game_closure,
    history_tuple,
    param,
    project_simplex,
    resolve_params,
)

__all__ = ["EquilibriumParams", "EquilibriumResult", "extragradient_equilibria", "local_ne_gap"]


@dataclasses.dataclass(frozen=True)
class EquilibriumParams(Params):
    """Parameters of :func:`extragradient_equilibria`."""

    max_iter: int = param(300, "extra-gradient steps on the utility network", low=0)
    lr: float = param(0.5, "extra-gradient step size on the logits", low=0.0, low_inclusive=False)
    n_restarts: int = param(8, "initial profiles, run as one batch", low=1)
    init_scale: float = param(1.0, "standard deviation of the initial logits", low=0.0)
    refine_iter: int = param(0, "further extra-gradient steps on the exact utilities", low=0)
    radius: float = param(0.01, "deviation size of the local-NE check", low=0.0,
                          low_inclusive=False, high=1.0)
    n_deviations: int = param(64, "random deviations per sender in the local-NE check", low=1)
    tol: float = param(1e-3, "local-NE gap below which a profile counts as an equilibrium",
                       low=0.0)
    log_every: int = param(50, "steps between history rows", low=1)


@dataclasses.dataclass(frozen=True, eq=False)
class EquilibriumResult:
    """Profiles found by extra-gradient, with their exact verification.

    Attributes
    ----------
    profiles : np.ndarray, shape (n_restarts, n_senders, n_states, n_signals)
    utilities : np.ndarray, shape (n_restarts, n_senders)
        Exact utilities of each profile.
    predicted : np.ndarray or None, shape (n_restarts, n_senders)
        The utility network's values at the profiles (``None`` without a network).
    local_gaps : np.ndarray, shape (n_restarts,)
        :func:`local_ne_gap` of each profile.
    best : int
        The restart reported: the largest total utility among those with local gap ``<= tol``,
        else the smallest gap.
    converged : bool
        Whether the best profile's local gap is ``<= tol``.
    iterations : int
    history : tuple of dict
        ``{"step", "utility", "grad_norm"}`` rows (mean utility over restarts and senders).
    """

    profiles: np.ndarray
    utilities: np.ndarray
    predicted: np.ndarray | None
    local_gaps: np.ndarray
    best: int
    converged: bool
    iterations: int
    history: tuple[dict[str, Any], ...]

    @property
    def profile(self) -> np.ndarray:
        """The best restart's profile ``(n_senders, n_states, n_signals)``."""
        return self.profiles[self.best]


def local_ne_gap(game: PersuasionGame, profiles: Any, *, radius: float = 0.01,
                 n_deviations: int = 64, seed: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The best exact gain of a small unilateral deviation, per profile.

    Parameters
    ----------
    profiles : tensor or array_like, shape (..., n_senders, n_states, n_signals)
    radius : float
        Deviations ``(1 - eps) pi_i + eps rho`` with ``eps`` in ``(0, radius]``.
    n_deviations : int
        Random deviations per sender (half towards Dirichlet(1) schemes, half towards
        deterministic ones), plus the projected exact-gradient step of size ``radius``.

    Returns
    -------
    torch.Tensor, shape (...,)
        ``max_i max_dev U_i(dev) - U_i(profile)`` in float64, 0 when below 1e-12 (rounding).

    Examples
    --------
    >>> from econcs.persuasion import full_revelation_profile, random_game
    >>> g = random_game(2, 2, 2, 2, seed=0)
    >>> float(local_ne_gap(g, full_revelation_profile(g)))
    0.0
    """
    radius = check_float(radius, "radius", low=0.0, low_inclusive=False, high=1.0)
    check_int(n_deviations, "n_deviations", low=1)
    pi = check_schemes(game, profiles, "profiles").detach().to(torch.float64)
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    lead = pi.shape[:-3]
    pi = pi.reshape(-1, *game.scheme_shape)
    b, k, n_st, n_sig = pi.shape
    base = _utilities(game, pi)  # (b, k)
    # exact gradient of each sender's utility in its own scheme
    x = pi.clone().requires_grad_()
    u = _utilities(game, x)
    grads = torch.stack([torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0][:, i]
                         for i in range(k)], 1)
    step = project_simplex(pi + grads / grads.abs().amax((-1, -2), keepdim=True).clamp_min(1e-12)
                           * radius, dim=-1)
    n_half = (n_deviations + 1) // 2
    rho_soft = sample_profiles(game, b * n_half, (1.0,), generator=gen).reshape(b, n_half, k,
                                                                                n_st, n_sig)
    pick = torch.randint(n_sig, (b, n_deviations - n_half, k, n_st), generator=gen)
    rho_hard = torch.nn.functional.one_hot(pick, n_sig).to(torch.float64)
    rho = torch.cat([rho_soft, rho_hard], 1)  # (b, n_dev, k, n_st, n_sig)
    eps = radius * torch.rand((b, n_deviations, k, 1, 1), generator=gen, dtype=torch.float64)
    eps[:, : n_deviations // 4] = radius
    devs = (1 - eps) * pi[:, None] + eps * rho
    devs = torch.cat([devs, step[:, None]], 1)  # (b, n_dev + 1, k, n_st, n_sig): sender i's row
    n_dev = devs.shape[1]
    full = pi[:, None, None].expand(b, n_dev, k, k, n_st, n_sig).clone()
    idx = torch.arange(k)
    full[:, :, idx, idx] = devs  # full[b, d, i] = profile with sender i deviating to devs[b, d, i]
    gains = _utilities(game, full)[:, :, idx, idx] - base[:, None]  # (b, n_dev, k)
    best = gains.amax((1, 2))
    return torch.where(best > 1e-12, best, torch.zeros_like(best)).reshape(lead)


def _utility_fn(game: PersuasionGame, network: torch.nn.Module | None):
    if network is None:
        return lambda pi: _utilities(game, pi)
    return network


def extragradient_equilibria(game: PersuasionGame, network: torch.nn.Module | None = None,
                             params: EquilibriumParams | None = None, /, *, seed: int = 0,
                             generator: torch.Generator | None = None,
                             callback: Callback | None = None,
                             resume: tuple[int, dict] | None = None,
                             **overrides: Any) -> EquilibriumResult:
    """Extra-gradient on ``network`` (or on the exact utilities when ``None``) from
    ``n_restarts`` random profiles, then ``refine_iter`` steps on the exact utilities; every
    profile verified by :func:`local_ne_gap`.

    The network's device and dtype are used (float64 on the CPU without a network). Warns with
    ``ConvergenceWarning`` when no restart reaches a local gap ``<= tol``.

    Examples
    --------
    >>> from econcs.persuasion import random_game
    >>> res = extragradient_equilibria(random_game(2, 2, 2, 2, seed=0), None, max_iter=30,
    ...                                n_restarts=4)
    >>> res.profiles.shape, res.converged
    ((4, 2, 2, 2), True)
    """
    check_type(game, "game", PersuasionGame)
    p = resolve_params(EquilibriumParams, params, **overrides)
    if network is not None:
        check_type(network, "network", torch.nn.Module)
        ref = next(network.parameters())
        device, dtype = ref.device, ref.dtype
        flags = [q.requires_grad for q in network.parameters()]
        network.requires_grad_(False)  # restored below: only the logits are trained here
        try:
            return _run(game, network, p, device, dtype, seed, generator, callback, resume)
        finally:
            for q, flag in zip(network.parameters(), flags):
                q.requires_grad_(flag)
    return _run(game, None, p, torch.device("cpu"), torch.float64, seed, generator, callback,
                resume)


def _run(game: PersuasionGame, network: torch.nn.Module | None, p: EquilibriumParams,
         device: torch.device, dtype: torch.dtype, seed: int, generator: torch.Generator | None,
         callback: Callback | None, resume: tuple[int, dict] | None) -> EquilibriumResult:
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    shape = (p.n_restarts, game.n_states, game.n_signals)

    def placed(ts, step: int) -> list[torch.Tensor]:
        # the network phase runs on the network's device and dtype, the refinement in float64
        # on the CPU: a profile resumed at any step continues in its phase's dtype
        dev, dt = (device, dtype) if step < p.max_iter else (torch.device("cpu"), torch.float64)
        return [t.detach().to(dev, dt).clone().requires_grad_() for t in ts]

    logits = placed([torch.randn(shape, generator=gen, dtype=torch.float64) * p.init_scale
                     for _ in range(game.n_senders)], 0)
    start, rows = 0, []
    if resume is not None:
        start, state = resume
        check_int(start, "resume step", low=0, high=p.max_iter + p.refine_iter)
        logits = placed(state["logits"], start)
        gen.set_state(state["generator"])
        rows = list(state["history"])
    total = p.max_iter + p.refine_iter

    def state_fn() -> dict[str, Any]:
        return {"logits": [t.detach().clone() for t in logits], "generator": gen.get_state(),
                "history": list(rows)}

    def profile() -> torch.Tensor:
        return torch.stack([torch.softmax(t, -1) for t in logits], -3)

    opt = ExtraGradient(logits, lr=p.lr)
    for step in range(start, total):
        f = _utility_fn(game, network if step < p.max_iter else None)
        if step == p.max_iter and network is not None:  # refinement runs in float64
            logits = placed(logits, step)
            opt = ExtraGradient(logits, lr=p.lr)

        def losses(f=f):
            u = f(profile())
            return [-u[:, i].sum() for i in range(game.n_senders)]

        opt.step(game_closure([[t] for t in logits], losses))
        grad_norm = math.sqrt(sum(float((t.grad**2).sum()) for t in logits))
        if not math.isfinite(grad_norm) or not all(bool(torch.isfinite(t).all()) for t in logits):
            raise DivergenceError(f"extra-gradient: non-finite logits at step {step + 1}; lower lr.")
        if (step + 1) % p.log_every == 0 or step + 1 == total:
            with torch.no_grad():
                util = float(_utilities(game, profile().to(torch.float64).cpu()).mean())
            rows.append({"step": step + 1, "utility": util, "grad_norm": grad_norm})
        if callback is not None:
            callback(step + 1, {"grad_norm": grad_norm}, state_fn)
    with torch.no_grad():
        final = profile().detach()
        predicted = (None if network is None
                     else network(final.to(device, dtype)).double().cpu().numpy())
        final = final.to(torch.float64).cpu()
        final = final / final.sum(-1, keepdim=True)
        utilities = _utilities(game, final).numpy()
    gaps = local_ne_gap(game, final, radius=p.radius, n_deviations=p.n_deviations,
                        generator=gen).numpy()
    ok = gaps <= p.tol
    if ok.any():
        best = int(np.argmax(np.where(ok, utilities.sum(-1), -np.inf)))
    else:
        best = int(np.argmin(gaps))
        warnings.warn(f"extra-gradient: no restart reached a local-NE gap <= {p.tol} (best "
                      f"{gaps.min():.3g}); raise max_iter or refine_iter.", ConvergenceWarning,
                      stacklevel=3)
    return EquilibriumResult(final.numpy(), utilities, predicted, gaps, best, bool(ok.any()),
                             total, history_tuple(rows))
