"""Training a utility network on samples of (profile of schemes, exact utilities) (Hossain et al.,
ICML 2024, Sec. 4).

Profiles are drawn row by row from ``Dirichlet(alpha)`` with ``alpha`` picked per row from
``alphas`` (small ``alpha`` gives near-deterministic rows, where equilibria often sit); labels are
:func:`~econcs.persuasion.sender_utilities` in float64. The network is fitted by Adam on the mean
squared error, in float32 by default; the approximation error reported is the mean absolute error
on ``n_test`` held-out profiles drawn the same way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from econcs.persuasion._game import PersuasionGame, _utilities
from econcs.persuasion._networks import NETWORKS, UtilityNetwork, count_parameters
from econcs.shared import (
    Callback,
    DivergenceError,
    Params,
    check_type,
    history_tuple,
    param,
    resolve_device,
    resolve_params,
    sample_dirichlet,
)

__all__ = ["UtilityFitParams", "UtilityFitResult", "fit_utility_network", "sample_profiles"]


@dataclasses.dataclass(frozen=True)
class UtilityFitParams(Params):
    """Parameters of :func:`fit_utility_network`."""

    network: str = param("dnl", "architecture: dnl | relu | delu", choices=NETWORKS)
    hidden: int = param(64, "units per ReLU layer of the trunk", low=1)
    layers: int = param(2, "ReLU layers of the trunk", low=1)
    bias_hidden: int = param(32, "hidden units of the pattern-bias network (delu, dnl)", low=1)
    rank: int = param(8, "rank of the quadratic term (dnl)", low=1)
    n_train: int = param(8192, "training profiles", low=1)
    n_test: int = param(2048, "held-out profiles for the approximation error", low=1)
    alphas: tuple[float, ...] = param((0.2, 1.0, 5.0), "Dirichlet concentrations of the rows",
                                      low=0.0, low_inclusive=False)
    max_iter: int = param(2000, "Adam steps", low=1)
    batch_size: int = param(256, "profiles per step", low=1)
    lr: float = param(3e-3, "Adam learning rate", low=0.0, low_inclusive=False)
    log_every: int = param(100, "steps between history rows", low=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.alphas:
            raise ValueError("alphas: expected at least one concentration, got ().")


@dataclasses.dataclass(frozen=True, eq=False)
class UtilityFitResult:
    """A fitted utility network.

    Attributes
    ----------
    network : UtilityNetwork
    train_error, test_error : float
        Mean absolute error against the exact utilities on the training / held-out profiles.
    n_parameters : int
    iterations : int
    history : tuple of dict
        ``{"step", "loss"}`` rows every ``log_every`` steps.
    """

    network: UtilityNetwork
    train_error: float
    test_error: float
    n_parameters: int
    iterations: int
    history: tuple[dict[str, Any], ...]


def sample_profiles(game: PersuasionGame, n: int, alphas: tuple[float, ...] = (0.2, 1.0, 5.0), *,
                    generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(n, n_senders, n_states, n_signals)`` random profiles, each row ``Dirichlet(alpha)`` with
    ``alpha`` drawn uniformly from ``alphas`` (:func:`econcs.shared.sample_dirichlet`, on
    ``generator``)."""
    shape = (n, *game.scheme_shape)
    a = torch.tensor(alphas, dtype=torch.float64)
    pick = torch.randint(len(alphas), shape[:-1], generator=generator)
    conc = a[pick][..., None].expand(shape)
    return sample_dirichlet(conc, generator=generator, dtype=dtype)


def fit_utility_network(game: PersuasionGame, params: UtilityFitParams | None = None, /, *,
                        seed: int = 0, generator: torch.Generator | None = None,
                        device: Any = None, dtype: torch.dtype = torch.float32,
                        callback: Callback | None = None,
                        resume: tuple[int, dict] | None = None,
                        **overrides: Any) -> UtilityFitResult:
    """Fit a :class:`UtilityNetwork` of ``params.network`` to the exact utilities of ``game``.

    The data come from ``seed`` (the same profiles for every architecture at one seed); the
    initialisation and the minibatches from ``generator`` (default: seeded from ``seed``).
    ``resume=(step, state)`` continues from a callback's ``state_fn()``.

    Examples
    --------
    >>> from econcs.persuasion import random_game
    >>> res = fit_utility_network(random_game(2, 2, 2, 2), max_iter=20, n_train=256, n_test=64)
    >>> res.iterations, res.test_error < 1.0
    (20, True)
    """
    check_type(game, "game", PersuasionGame)
    p = resolve_params(UtilityFitParams, params, **overrides)
    dev = resolve_device(device)
    data_gen = torch.Generator().manual_seed(seed)
    x_train = sample_profiles(game, p.n_train, p.alphas, generator=data_gen)
    x_test = sample_profiles(game, p.n_test, p.alphas, generator=data_gen)
    y_train = _utilities(game, x_train).to(dev, dtype)
    y_test = _utilities(game, x_test).to(dev, dtype)
    x_train, x_test = x_train.to(dev, dtype), x_test.to(dev, dtype)
    gen = generator if generator is not None else torch.Generator().manual_seed(seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        net = UtilityNetwork(p.network, game.scheme_shape, hidden=p.hidden, layers=p.layers,
                             bias_hidden=p.bias_hidden, rank=p.rank)
    net = net.to(dev, dtype)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    start, rows = 0, []
    if resume is not None:
        start, state = resume
        net.load_state_dict(state["network"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        rows = list(state["history"])

    def state_fn() -> dict[str, Any]:
        return {"network": net.state_dict(), "optimizer": opt.state_dict(),
                "generator": gen.get_state(), "history": list(rows)}

    for step in range(start, p.max_iter):
        idx = torch.randint(p.n_train, (min(p.batch_size, p.n_train),), generator=gen).to(dev)
        loss = torch.mean((net(x_train[idx]) - y_train[idx]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DivergenceError(f"utility network ({p.network}): loss is {value} at step "
                                  f"{step + 1}; lower lr.")
        if (step + 1) % p.log_every == 0 or step + 1 == p.max_iter:
            rows.append({"step": step + 1, "loss": value})
        if callback is not None:
            callback(step + 1, {"loss": value}, state_fn)
    net.eval()
    with torch.no_grad():
        train_err = float((net(x_train) - y_train).abs().mean())
        test_err = float((net(x_test) - y_test).abs().mean())
    return UtilityFitResult(net, train_err, test_err, count_parameters(net), p.max_iter,
                            history_tuple(rows))
