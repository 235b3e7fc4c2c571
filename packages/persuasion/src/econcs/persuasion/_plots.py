"""Utility landscapes: one sender's exact utility against the learned networks along a line in
its scheme space (Hossain et al., ICML 2024, Sec. 4: the utility is piecewise polynomial and jumps
where the receiver's action switches, which the discontinuous networks are built to follow).

:func:`utility_landscape` evaluates, for ``t`` on ``[0, 1]``, the profile in which sender
``sender`` plays ``(1 - t) pi_i + t rho`` (the others fixed): its exact utility
(:func:`~econcs.persuasion.sender_utilities`) and each network's prediction. :func:`plot_landscape`
draws it; matplotlib is the ``plot`` extra and is imported only there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from econcs.persuasion._game import PersuasionGame, _utilities, check_schemes
from econcs.shared import check_array, check_int, check_type

__all__ = ["Landscape", "plot_landscape", "utility_landscape"]


@dataclasses.dataclass(frozen=True, eq=False)
class Landscape:
    """A sender's utility along ``(1 - t) pi_i + t rho``.

    Attributes
    ----------
    t : np.ndarray, shape (n_points,)
    exact : np.ndarray, shape (n_points,)
        The sender's exact utility.
    predicted : dict of str to np.ndarray, shape (n_points,)
        Each network's prediction of the sender's utility.
    sender : int
    """

    t: np.ndarray
    exact: np.ndarray
    predicted: dict[str, np.ndarray]
    sender: int

    def errors(self) -> dict[str, float]:
        """Each network's mean absolute error along the line."""
        return {k: float(np.abs(v - self.exact).mean()) for k, v in self.predicted.items()}


def utility_landscape(game: PersuasionGame, profile: Any, sender: int = 0, target: Any = None,
                      *, networks: Mapping[str, torch.nn.Module] | None = None,
                      n_points: int = 201) -> Landscape:
    """Sender ``sender``'s exact and predicted utility on the line from its scheme in ``profile``
    to ``target``.

    Parameters
    ----------
    profile : array_like, shape (n_senders, n_states, n_signals)
    target : array_like, shape (n_states, n_signals), optional
        The scheme at ``t = 1`` (default: the uninformative scheme, uniform over signals).
    networks : mapping of name to UtilityNetwork, optional
        Networks of ``game`` whose predictions are drawn next to the exact utility.
    n_points : int
        Points on ``[0, 1]``.

    Examples
    --------
    >>> from econcs.persuasion import prosecutor_game
    >>> g = prosecutor_game(0.3)
    >>> land = utility_landscape(g, [[[1.0, 0.0], [0.0, 1.0]]], target=[[0.0, 1.0], [0.0, 1.0]],
    ...                          n_points=5)
    >>> land.exact.round(3).tolist()  # convicts the innocent with prob. t until the judge stops
    [0.3, 0.475, 0.0, 0.0, 0.0]
    """
    check_type(game, "game", PersuasionGame)
    pi = check_schemes(game, profile, "profile").detach().to(torch.float64).cpu()
    if pi.dim() != 3:
        raise ValueError(f"profile: expected one profile of shape {game.scheme_shape}, got "
                         f"{tuple(pi.shape)}.")
    check_int(sender, "sender", low=0, high=game.n_senders - 1)
    check_int(n_points, "n_points", low=2)
    if target is None:
        rho = torch.full(game.scheme_shape[1:], 1.0 / game.n_signals, dtype=torch.float64)
    else:
        tgt = check_array(target, "target", ndim=2)
        if tgt.shape != game.scheme_shape[1:]:
            raise ValueError(f"target: expected a scheme of shape (n_states, n_signals) = "
                             f"{game.scheme_shape[1:]}, got {tgt.shape}.")
        full = pi.clone()
        full[sender] = torch.as_tensor(np.array(tgt, dtype=np.float64))
        rho = check_schemes(game, full, "target")[sender]  # rows checked as distributions
    t = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64)
    line = pi.expand(n_points, *game.scheme_shape).clone()
    line[:, sender] = (1 - t)[:, None, None] * pi[sender] + t[:, None, None] * rho
    exact = _utilities(game, line)[:, sender].numpy()
    predicted = {}
    for name, net in (networks or {}).items():
        check_type(net, f"networks[{name!r}]", torch.nn.Module)
        ref = next(net.parameters())
        with torch.no_grad():
            out = net(line.to(ref.device, ref.dtype))[:, sender]
        predicted[name] = out.double().cpu().numpy()
    return Landscape(t.numpy(), exact, predicted, int(sender))


def plot_landscape(landscape: Landscape, title: str = "") -> Any:
    """A matplotlib figure of :func:`utility_landscape`'s lines (the exact utility in black);
    needs matplotlib (the ``plot`` extra)."""
    check_type(landscape, "landscape", Landscape)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    ax.plot(landscape.t, landscape.exact, color="black", lw=2, label="exact")
    for name, y in landscape.predicted.items():
        err = float(np.abs(y - landscape.exact).mean())
        ax.plot(landscape.t, y, lw=1.2, label=f"{name} (MAE {err:.3g})")
    ax.set_xlabel(r"$t$: scheme $(1 - t)\,\pi_i + t\,\rho$")
    ax.set_ylabel(f"utility of sender {landscape.sender}")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
