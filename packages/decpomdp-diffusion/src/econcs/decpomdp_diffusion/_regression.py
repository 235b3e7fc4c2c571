"""The regression baseline of the paper's comparison (Wang et al. 2025, Sec. 6): a network from
the joint history to the state's features, trained by mean squared error (it learns the posterior
mean, which is the state in a CO Dec-POMDP and a blur of the possible states otherwise).

The joint history is read by the same :class:`~econcs.decpomdp_diffusion.HistoryEncoder` as the
diffusion models (``encoder="gru"`` or ``"mlp"``), followed by ``layers`` SiLU layers of
``hidden`` units. :class:`RegressionParams` holds the fields of
:class:`~econcs.decpomdp_diffusion.DiffusionParams` that mean something here (no ``n_steps``: there
is no diffusion); :meth:`RegressionParams.from_diffusion` takes them from a diffusion config.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from econcs.decpomdp_diffusion._dec_pomdp import Histories, TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import DiffusionParams, HistoryEncoder, encode_history
from econcs.shared import (
    Callback,
    DivergenceError,
    Params,
    check_type,
    history_tuple,
    make_generator,
    param,
    resolve_params,
)

__all__ = ["RegressionParams", "RegressionResult", "predict_regression", "train_regression"]


@dataclasses.dataclass(frozen=True)
class RegressionParams(Params):
    """Training parameters of :func:`train_regression`."""

    max_iter: int = param(600, "gradient steps", low=1)
    batch_size: int = param(256, "episodes per step", low=1)
    lr: float = param(3e-3, "Adam learning rate", low=0.0, low_inclusive=False)
    hidden: int = param(64, "units of the history encoder and of each layer", low=1)
    layers: int = param(2, "hidden layers after the encoder", low=1)
    encoder: str = param("gru", "history encoder (mlp: flattened history, faster on a CPU)",
                         choices=("gru", "mlp"))
    log_every: int = param(50, "steps between history rows", low=1)

    @classmethod
    def from_diffusion(cls, params: DiffusionParams) -> RegressionParams:
        """The same budget and network sizes as a diffusion model's ``params`` (its ``n_steps``
        has no counterpart and is left out)."""
        check_type(params, "params", DiffusionParams)
        return cls(**{f.name: getattr(params, f.name) for f in dataclasses.fields(cls)})


class RegressionNet(nn.Module):
    """Encoded joint histories (batch, T + 1, n_agents (n_obs + n_actions)) -> (batch,
    state_dim); ``meta`` records the env and horizon it was trained for."""

    def __init__(self, n_in: int, state_dim: int, p: RegressionParams, meta: dict):
        super().__init__()
        self.meta = dict(meta)
        self.encoder = HistoryEncoder(n_in, p.hidden, p.encoder, meta["horizon"])
        dims = [p.hidden] * (p.layers + 1)
        mods: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            mods += [nn.Linear(a, b), nn.SiLU()]
        self.head = nn.Sequential(*mods, nn.Linear(p.hidden, state_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(h))


@dataclasses.dataclass(frozen=True, eq=False)
class RegressionResult:
    """What :func:`train_regression` returns: the network, its last loss and the history."""

    model: RegressionNet
    loss: float
    iterations: int
    history: tuple[dict[str, Any], ...]


def train_regression(env: TabularDecPOMDP, data: Histories,
                     params: RegressionParams | None = None, /, *, seed: int = 0,
                     generator: torch.Generator | None = None,
                     callback: Callback | None = None, **overrides: Any) -> RegressionResult:
    """Fit the baseline on the joint histories of ``data`` by MSE to the last state's features.

    Examples
    --------
    >>> from econcs.decpomdp_diffusion import make_env
    >>> env = make_env("sensor")
    >>> res = train_regression(env, env.collect(64, 2), max_iter=4, batch_size=8, hidden=8,
    ...                        encoder="mlp", log_every=2)
    >>> [row["step"] for row in res.history]
    [2, 4]
    """
    p = resolve_params(RegressionParams, params, **overrides)
    check_type(env, "env", TabularDecPOMDP)
    check_type(data, "data", Histories)
    if data.env_name != env.name:
        raise ValueError(f"data: expected episodes of env {env.name!r}, got {data.env_name!r}.")
    gen = make_generator(seed) if generator is None else generator
    hist = encode_history(data.obs, data.actions, env.n_obs, env.n_actions)
    x0 = torch.as_tensor(env.features[data.states[:, -1]], dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        net = RegressionNet(hist.shape[-1], env.state_dim, p,
                            {"env": env.name, "horizon": data.horizon})
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    rows, value = [], float("nan")
    for step in range(1, p.max_iter + 1):
        idx = torch.randint(0, hist.shape[0], (min(p.batch_size, hist.shape[0]),), generator=gen)
        loss = ((net(hist[idx]) - x0[idx]) ** 2).mean()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DivergenceError(f"training diverged at step {step}: loss is {value}.")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % p.log_every == 0 or step == p.max_iter:
            rows.append({"step": step, "loss": value})
        if callback is not None:
            callback(step, {"loss": value}, lambda: {"model": net.state_dict(),
                                                     "opt": opt.state_dict()})
    return RegressionResult(net.eval(), value, p.max_iter, history_tuple(rows))


def predict_regression(model: RegressionNet, env: TabularDecPOMDP, obs, actions) -> np.ndarray:
    """The baseline's reconstructions (batch, state_dim) of joint histories ``obs`` (batch,
    n_agents, H + 1), ``actions`` (batch, n_agents, H)."""
    check_type(model, "model", RegressionNet)
    check_type(env, "env", TabularDecPOMDP)
    obs_a, act_a = np.asarray(obs), np.asarray(actions)
    if model.meta.get("env") != env.name:
        raise ValueError(f"model: trained for env {model.meta.get('env')!r}, not {env.name!r}.")
    h = model.meta["horizon"]
    if obs_a.ndim != 3 or obs_a.shape[1:] != (env.n_agents, h + 1) or act_a.shape != (
            obs_a.shape[0], env.n_agents, h):
        raise ValueError(f"obs, actions: expected joint histories of shapes (batch, "
                         f"{env.n_agents}, {h + 1}) and (batch, {env.n_agents}, {h}), got "
                         f"{obs_a.shape} and {act_a.shape}.")
    with torch.no_grad():
        return model(encode_history(obs_a, act_a, env.n_obs, env.n_actions)).numpy()
