"""The multi-sender persuasion game and its exact utilities (Hossain et al., ICML 2024, Sec. 2).

A state ``w`` is drawn from a common prior ``mu`` over ``n_states`` states. Each of ``n_senders``
senders observes it and commits to a signalling scheme ``pi_i(s_i | w)`` over ``n_signals``
signals. The receiver sees the joint signal ``s = (s_1, ..., s_k)``, forms the posterior
``P(w | s) ∝ mu(w) prod_i pi_i(s_i | w)`` and takes a best response among ``n_actions`` actions
for its utility ``v(a, w)``; sender ``i`` gets ``u_i(a, w)``.

Everything is computed for all ``n_signals ** n_senders`` joint signals at once (the joint
probabilities ``q(s, w) = mu(w) prod_i pi_i(s_i | w)`` are built by successive outer products), and
batched over any leading shape of scheme profiles, in torch, on any device. The receiver's values
are compared unnormalised (``sum_w q(s, w) v(a, w)``), so joint signals of probability zero need no
special case.

Ties (actions within ``tol * P(s) * max|v|`` of the best) are broken by ``tie_break``:
``"senders"`` (default) picks the tied action with the largest sum of the senders' expected
utilities given ``s`` -- for one sender the usual sender-preferred rule of Kamenica and Gentzkow
(2011); ``"first"`` picks the lowest action index. Within a piece where the receiver's actions are
fixed, each sender's utility is a polynomial in the schemes (multilinear across senders): autograd
through :func:`sender_utilities` gives that piece's gradient.

Schemes of a profile are one tensor ``schemes: (..., n_senders, n_states, n_signals)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from econcs.shared import (
    check_array,
    check_choice,
    check_float,
    check_int,
    check_probabilities,
)

__all__ = [
    "TIE_BREAKS",
    "PersuasionGame",
    "check_schemes",
    "joint_signal_probabilities",
    "receiver_best_response",
    "sender_utilities",
]

TIE_BREAKS = ("senders", "first")


@dataclasses.dataclass(frozen=True, eq=False)
class PersuasionGame:
    """A multi-sender Bayesian persuasion game (arrays are read-only float64).

    Parameters
    ----------
    prior : array_like, shape (n_states,)
        The common prior ``mu``: non-negative, summing to 1.
    sender_utility : array_like, shape (n_senders, n_actions, n_states)
        ``u_i(a, w)``.
    receiver_utility : array_like, shape (n_actions, n_states)
        ``v(a, w)``.
    n_signals : int
        Signals of each sender's scheme (>= 1).
    name : str
        A label (instance family and seed, for example).

    Examples
    --------
    >>> g = PersuasionGame([0.7, 0.3], [[[0, 0], [1, 1]]], [[1, 0], [0, 1]], n_signals=2)
    >>> g.n_senders, g.n_states, g.n_actions, g.n_joint_signals
    (1, 2, 2, 2)
    """

    prior: Any
    sender_utility: Any
    receiver_utility: Any
    n_signals: int
    name: str = ""
    _cache: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prior = check_probabilities(self.prior, "prior", ndim=1, atol=1e-9)
        n_states = prior.shape[0]
        u = check_array(self.sender_utility, "sender_utility", ndim=3)
        if u.shape[2] != n_states:
            raise ValueError(
                f"sender_utility: expected shape (n_senders, n_actions, n_states={n_states}), "
                f"got {u.shape}."
            )
        v = check_array(self.receiver_utility, "receiver_utility", ndim=2)
        if v.shape != u.shape[1:]:
            raise ValueError(
                f"receiver_utility: expected shape (n_actions={u.shape[1]}, n_states={n_states}) "
                f"to match sender_utility {u.shape}, got {v.shape}."
            )
        check_int(self.n_signals, "n_signals", low=1)
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a str, got {type(self.name).__name__}.")
        for key, arr in (("prior", prior), ("sender_utility", u), ("receiver_utility", v)):
            arr = np.array(arr, dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, key, arr)

    @property
    def n_senders(self) -> int:
        return int(self.sender_utility.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.sender_utility.shape[1])

    @property
    def n_states(self) -> int:
        return int(self.prior.shape[0])

    @property
    def n_joint_signals(self) -> int:
        return int(self.n_signals**self.n_senders)

    @property
    def scheme_shape(self) -> tuple[int, int, int]:
        """``(n_senders, n_states, n_signals)``: the trailing shape of a profile of schemes."""
        return (self.n_senders, self.n_states, self.n_signals)

    def with_signals(self, n_signals: int) -> PersuasionGame:
        """The same game with ``n_signals`` signals per sender."""
        return dataclasses.replace(self, n_signals=n_signals)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (the JSON form read by :meth:`from_dict`)."""
        return {
            "prior": self.prior.tolist(),
            "sender_utility": self.sender_utility.tolist(),
            "receiver_utility": self.receiver_utility.tolist(),
            "n_signals": int(self.n_signals),
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PersuasionGame:
        """A game from :meth:`to_dict`'s form (unknown or missing keys: ``ValueError``)."""
        if not isinstance(data, dict):
            raise TypeError(f"data: expected a dict, got {type(data).__name__}.")
        required = {"prior", "sender_utility", "receiver_utility", "n_signals"}
        missing = sorted(required - set(data))
        unknown = sorted(set(data) - required - {"name"})
        if missing or unknown:
            raise ValueError(
                f"data: expected keys {sorted(required)} (and optionally 'name'); "
                f"missing {missing}, unknown {unknown}."
            )
        return cls(**data)

    def save_json(self, path: str | Path) -> None:
        """Write the game to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load_json(cls, path: str | Path) -> PersuasionGame:
        """Read a game written by :meth:`save_json` (or by hand in the same form)."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"path: {path} is not valid JSON ({err}).") from None
        return cls.from_dict(data)

    def tensors(self, device: Any = None, dtype: torch.dtype = torch.float64):
        """``(prior, sender_utility, receiver_utility)`` as tensors on ``device``.

        Made once per ``(device, dtype)`` and cached on the game (the arrays are read-only, so
        the tensors stay valid); do not modify them in place.
        """
        key = (torch.device("cpu") if device is None else torch.device(device), dtype)
        if key not in self._cache:
            self._cache[key] = tuple(
                torch.as_tensor(np.array(a), dtype=dtype, device=key[0])
                for a in (self.prior, self.sender_utility, self.receiver_utility)
            )
        return self._cache[key]

    @property
    def receiver_scale(self) -> float:
        """``max(1, max |v|)``: the scale of the receiver's tie tolerance."""
        return max(1.0, float(np.abs(self.receiver_utility).max()))


def check_schemes(game: PersuasionGame, schemes: Any, name: str = "schemes",
                  atol: float | None = None) -> torch.Tensor:
    """``schemes`` as a tensor of shape ``(..., n_senders, n_states, n_signals)``, each row a
    distribution over signals (``ValueError`` naming ``name`` otherwise).

    numpy input becomes float64; a tensor keeps its dtype and device.
    """
    if isinstance(schemes, torch.Tensor):
        t = schemes
        if not torch.is_floating_point(t):
            t = t.to(torch.float64)
    else:
        t = torch.from_numpy(np.array(check_array(schemes, name, ndim=None), dtype=np.float64))
    if t.dim() < 3 or tuple(t.shape[-3:]) != game.scheme_shape:
        raise ValueError(
            f"{name}: expected shape (..., n_senders, n_states, n_signals) = "
            f"(..., {', '.join(map(str, game.scheme_shape))}), got {tuple(t.shape)}."
        )
    if atol is None:
        atol = 1e-6 if t.dtype == torch.float64 else 1e-4
    if t.numel() == 0:
        raise ValueError(f"{name}: expected at least one profile, got shape {tuple(t.shape)}.")
    with torch.no_grad():  # one transfer to the host for all three checks
        lo, hi, worst = torch.stack([t.min(), t.max(), (t.sum(-1) - 1).abs().max()]).tolist()
        if not all(map(math.isfinite, (lo, hi, worst))):
            raise ValueError(f"{name}: expected finite values, got NaN or infinite entries.")
        if lo < -atol or hi > 1 + atol:
            raise ValueError(
                f"{name}: expected probabilities in [0, 1], got values in [{lo:.6g}, {hi:.6g}]."
            )
        if worst > atol:
            raise ValueError(
                f"{name}: expected each scheme row pi_i(. | w) to sum to 1 over signals, got sums "
                f"off by up to {worst:.3g}; normalise along the last axis."
            )
    return t


def joint_signal_probabilities(game: PersuasionGame, schemes: Any) -> torch.Tensor:
    """``q(s, w) = mu(w) prod_i pi_i(s_i | w)`` for every joint signal.

    Parameters
    ----------
    schemes : tensor or array_like, shape (..., n_senders, n_states, n_signals)

    Returns
    -------
    torch.Tensor, shape (..., n_joint_signals, n_states)
        Joint signals in row-major order: ``s = sum_i s_i * n_signals ** (n_senders - 1 - i)``.
        Differentiable in ``schemes``.
    """
    return _joint(game, check_schemes(game, schemes))


def _joint(game: PersuasionGame, pi: torch.Tensor) -> torch.Tensor:
    """:func:`joint_signal_probabilities` without the checks (``pi`` already validated)."""
    mu = game.tensors(pi.device, pi.dtype)[0]
    q = mu[:, None] * pi[..., 0, :, :]  # (..., n_states, n_signals)
    for i in range(1, game.n_senders):
        q = (q[..., :, :, None] * pi[..., i, :, None, :]).flatten(-2)
    return q.transpose(-1, -2)


def _values(game: PersuasionGame, q: torch.Tensor):
    _, u, v = game.tensors(q.device, q.dtype)
    receiver = torch.einsum("...sw,aw->...sa", q, v)  # (..., S, n_actions)
    senders = torch.einsum("...sw,iaw->...sia", q, u)  # (..., S, n_senders, n_actions)
    return receiver, senders


def _best_response(game: PersuasionGame, q: torch.Tensor, receiver: torch.Tensor,
                   senders: torch.Tensor, tie_break: str, tol: float | None) -> torch.Tensor:
    if tol is None:
        tol = 1e-9 if q.dtype == torch.float64 else 1e-5
    scale = game.receiver_scale
    best = receiver.amax(-1, keepdim=True)
    mass = q.sum(-1, keepdim=True)
    tied = receiver >= best - tol * scale * mass
    if tie_break == "first":
        return tied.to(torch.int8).argmax(-1)  # the first tied action
    score = torch.where(tied, senders.sum(-2), torch.full_like(receiver, -torch.inf))
    return score.argmax(-1)


def receiver_best_response(game: PersuasionGame, schemes: Any, *, tie_break: str = "senders",
                           tol: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The receiver's posterior and action for every joint signal.

    Parameters
    ----------
    schemes : tensor or array_like, shape (..., n_senders, n_states, n_signals)
    tie_break : {"senders", "first"}
        How actions within ``tol`` of the best are chosen (module docstring).
    tol : float, optional
        Relative tie tolerance (default 1e-9 in float64, 1e-5 in float32).

    Returns
    -------
    posterior : torch.Tensor, shape (..., n_joint_signals, n_states)
        ``P(w | s)``; the prior for a joint signal of probability zero.
    action : torch.Tensor of int64, shape (..., n_joint_signals)

    Examples
    --------
    >>> g = PersuasionGame([0.7, 0.3], [[[0, 0], [1, 1]]], [[1, 0], [0, 1]], n_signals=2)
    >>> post, act = receiver_best_response(g, np.array([[[4/7, 3/7], [0, 1]]]))
    >>> post.numpy().round(6).tolist(), act.tolist()
    ([[1.0, 0.0], [0.5, 0.5]], [0, 1])
    """
    check_choice(tie_break, "tie_break", TIE_BREAKS)
    if tol is not None:
        tol = check_float(tol, "tol", low=0.0)
    q = _joint(game, check_schemes(game, schemes))
    receiver, senders = _values(game, q)
    action = _best_response(game, q, receiver, senders, tie_break, tol)
    mass = q.sum(-1, keepdim=True)
    mu = game.tensors(q.device, q.dtype)[0]
    posterior = torch.where(mass > 0, q / mass.clamp_min(torch.finfo(q.dtype).tiny), mu)
    return posterior, action


def sender_utilities(game: PersuasionGame, schemes: Any, *, tie_break: str = "senders",
                     tol: float | None = None) -> torch.Tensor:
    """Each sender's exact expected utility at each profile of schemes.

    ``U_i = sum_s sum_w q(s, w) u_i(a*(s), w)`` with the receiver's best response ``a*(s)``.
    Vectorised over the joint signals and batched over the profiles' leading shape.

    Parameters
    ----------
    schemes : tensor or array_like, shape (..., n_senders, n_states, n_signals)
    tie_break, tol
        As in :func:`receiver_best_response`.

    Returns
    -------
    torch.Tensor, shape (..., n_senders)
        Differentiable in ``schemes`` inside each piece of fixed receiver actions.

    Examples
    --------
    >>> g = PersuasionGame([0.7, 0.3], [[[0, 0], [1, 1]]], [[1, 0], [0, 1]], n_signals=2)
    >>> float(sender_utilities(g, np.array([[[4/7, 3/7], [0, 1]]]))[0])
    0.6
    """
    check_choice(tie_break, "tie_break", TIE_BREAKS)
    if tol is not None:
        tol = check_float(tol, "tol", low=0.0)
    return _utilities(game, check_schemes(game, schemes), tie_break, tol)


def _utilities(game: PersuasionGame, pi: torch.Tensor, tie_break: str = "senders",
               tol: float | None = None) -> torch.Tensor:
    """:func:`sender_utilities` without the checks: the inner path of the package's solvers,
    which validate their inputs once at their own boundary."""
    q = _joint(game, pi)
    receiver, senders = _values(game, q)
    action = _best_response(game, q, receiver, senders, tie_break, tol)
    index = action[..., None, None].expand(*senders.shape[:-1], 1)
    return senders.gather(-1, index).squeeze(-1).sum(-2)
