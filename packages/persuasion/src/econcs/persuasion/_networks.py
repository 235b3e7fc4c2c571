"""Differentiable networks of every sender's utility as a function of all schemes (Hossain et al.,
ICML 2024, Sec. 4), three architectures on one ReLU trunk.

The exact utility is piecewise polynomial (multilinear across senders) and jumps where the
receiver's action at some joint signal switches. Each network reads the flattened profile
``x: (..., n_senders * n_states * n_signals)`` through ``layers`` ReLU layers of ``hidden`` units
(``h = relu(z)``) and outputs ``(..., n_senders)``:

- ``"relu"``: ``W h + b`` -- continuous, piecewise linear;
- ``"delu"``: ``W h + B(r(x))`` -- the DeLU of Wang et al. (NeurIPS 2023): the bias is a network
  ``B`` of the activation pattern ``r(x) = [z > 0]`` of every hidden unit, so the function is
  piecewise linear with a jump wherever the pattern changes;
- ``"dnl"``: ``W h + sum_m w_m (A_m h) (C_m h) + B(r(x))`` -- the discontinuous non-linear network:
  the DeLU jumps with *quadratic* pieces (a low-rank quadratic form of the last hidden layer), the
  degree of the exact utility's pieces for two senders. The paper calls its network DNL
  ("Discontinuous and Non-Linear"), but its layer is in no copy of the paper reachable here (only
  the abstract and the opening of the introduction are: MEASUREMENTS.md); this design is ours, and
  the package measures it against the other two at equal parameter count.

The pattern bias ``B`` is ``Linear(P, bias_hidden) -> ReLU -> Linear(bias_hidden, n_senders)`` with
``P = layers * hidden``. Its input is piecewise constant, so gradients flow through the other
terms only: the jumps shape the fit, the smooth pieces guide extra-gradient.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn

from econcs.shared import check_choice, check_int

__all__ = ["NETWORKS", "UtilityNetwork", "count_parameters", "hidden_for_budget"]

NETWORKS = ("dnl", "relu", "delu")
Kind = Literal["dnl", "relu", "delu"]


class UtilityNetwork(nn.Module):
    """Every sender's utility from the schemes of all senders.

    Parameters
    ----------
    kind : {"dnl", "relu", "delu"}
        The architecture (module docstring).
    scheme_shape : (n_senders, n_states, n_signals)
    hidden, layers : int
        Units per ReLU layer and number of ReLU layers of the trunk.
    bias_hidden : int
        Hidden units of the pattern-bias network (``delu``, ``dnl``).
    rank : int
        Rank ``m`` of the quadratic term (``dnl``).

    Examples
    --------
    >>> net = UtilityNetwork("dnl", (2, 3, 2), hidden=8, layers=2)
    >>> net(torch.full((5, 2, 3, 2), 0.5)).shape
    torch.Size([5, 2])
    """

    def __init__(self, kind: Kind, scheme_shape: tuple[int, int, int], *, hidden: int = 64,
                 layers: int = 2, bias_hidden: int = 32, rank: int = 8) -> None:
        super().__init__()
        check_choice(kind, "kind", NETWORKS)
        if len(scheme_shape) != 3:
            raise ValueError(f"scheme_shape: expected (n_senders, n_states, n_signals), got "
                             f"{scheme_shape}.")
        for name, val in zip(("n_senders", "n_states", "n_signals"), scheme_shape):
            check_int(val, f"scheme_shape.{name}", low=1)
        check_int(hidden, "hidden", low=1)
        check_int(layers, "layers", low=1)
        check_int(bias_hidden, "bias_hidden", low=1)
        check_int(rank, "rank", low=1)
        self.kind = kind
        self.scheme_shape = tuple(int(s) for s in scheme_shape)
        self.config = {"kind": kind, "hidden": hidden, "layers": layers,
                       "bias_hidden": bias_hidden, "rank": rank}
        n_out = self.scheme_shape[0]
        in_dim = self.scheme_shape[0] * self.scheme_shape[1] * self.scheme_shape[2]
        dims = [in_dim] + [hidden] * layers
        self.trunk = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.out = nn.Linear(hidden, n_out)
        if kind in ("delu", "dnl"):
            self.bias_net = nn.Sequential(nn.Linear(hidden * layers, bias_hidden), nn.ReLU(),
                                          nn.Linear(bias_hidden, n_out))
        if kind == "dnl":
            self.quad_a = nn.Linear(hidden, rank * n_out, bias=False)
            self.quad_c = nn.Linear(hidden, rank * n_out, bias=False)
            self.rank = rank

    def forward(self, schemes: torch.Tensor) -> torch.Tensor:
        """``schemes: (..., n_senders, n_states, n_signals)`` -> utilities ``(..., n_senders)``."""
        if tuple(schemes.shape[-3:]) != self.scheme_shape:
            raise ValueError(f"schemes: expected shape (..., {', '.join(map(str, self.scheme_shape))}"
                             f"), got {tuple(schemes.shape)}.")
        lead = schemes.shape[:-3]
        h = schemes.reshape(*lead, -1)
        patterns = []
        for layer in self.trunk:
            z = layer(h)
            patterns.append((z > 0).to(z.dtype))
            h = torch.relu(z)
        y = self.out(h)
        if self.kind == "relu":
            return y
        y = y + self.bias_net(torch.cat(patterns, -1))
        if self.kind == "dnl":
            n_out = self.scheme_shape[0]
            quad = (self.quad_a(h) * self.quad_c(h)).reshape(*lead, n_out, self.rank)
            y = y + quad.sum(-1)
        return y


def count_parameters(net: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _n_parameters(kind: str, in_dim: int, n_out: int, hidden: int, layers: int,
                  bias_hidden: int, rank: int) -> int:
    n = in_dim * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden * n_out + n_out
    if kind in ("delu", "dnl"):
        n += hidden * layers * bias_hidden + bias_hidden + bias_hidden * n_out + n_out
    if kind == "dnl":
        n += 2 * hidden * rank * n_out
    return n


def hidden_for_budget(kind: Kind, scheme_shape: tuple[int, int, int], budget: int, *,
                      layers: int = 2, bias_hidden: int = 32, rank: int = 8) -> int:
    """The largest ``hidden`` whose network of ``kind`` has at most ``budget`` parameters
    (at least 1): networks compared "at equal parameter count".

    >>> hidden_for_budget("relu", (2, 3, 2), 1000) >= hidden_for_budget("dnl", (2, 3, 2), 1000)
    True
    """
    check_choice(kind, "kind", NETWORKS)
    check_int(budget, "budget", low=1)
    in_dim, n_out = scheme_shape[0] * scheme_shape[1] * scheme_shape[2], scheme_shape[0]
    best = 1
    for h in range(1, 65537):
        if _n_parameters(kind, in_dim, n_out, h, layers, bias_hidden, rank) > budget:
            break
        best = h
    return best
