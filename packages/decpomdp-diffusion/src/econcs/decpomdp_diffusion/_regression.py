"""The regression baseline of the paper's comparison (Wang et al. 2025, Sec. 6): an MLP from the
joint history to the state's features, trained by mean squared error (it learns the posterior
mean, which is the state in a CO Dec-POMDP and a blur of the possible states otherwise)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from econcs.decpomdp_diffusion._dec_pomdp import Histories, TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import DiffusionParams, encode_history
from econcs.shared import DivergenceError, check_type, make_generator, resolve_params

__all__ = ["train_regression"]


def train_regression(env: TabularDecPOMDP, data: Histories, params: DiffusionParams | None = None,
                     /, *, seed: int = 0, generator: torch.Generator | None = None,
                     **overrides) -> nn.Module:
    """An MLP (joint history flattened -> hidden x layers -> state features) fitted by MSE with
    the training budget of ``params`` (``max_iter``, ``batch_size``, ``lr``, ``hidden``,
    ``layers``). Call the result on :func:`encode_history` of joint histories."""
    p = resolve_params(DiffusionParams, params, **overrides)
    check_type(env, "env", TabularDecPOMDP)
    check_type(data, "data", Histories)
    gen = make_generator(seed) if generator is None else generator
    hist = encode_history(data.obs, data.actions, env.n_obs, env.n_actions)
    x0 = torch.as_tensor(env.features[data.states[:, -1]], dtype=torch.float32)
    dims = [hist[0].numel()] + [p.hidden] * p.layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        mods: list[nn.Module] = [nn.Flatten()]
        for a, b in itertools.pairwise(dims):
            mods += [nn.Linear(a, b), nn.SiLU()]
        net = nn.Sequential(*mods, nn.Linear(dims[-1], env.state_dim))
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    for step in range(1, p.max_iter + 1):
        idx = torch.randint(0, hist.shape[0], (min(p.batch_size, hist.shape[0]),), generator=gen)
        loss = ((net(hist[idx]) - x0[idx]) ** 2).mean()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DivergenceError(f"training diverged at step {step}: loss is {value}.")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def predict_regression(net: nn.Module, env: TabularDecPOMDP, obs, actions) -> np.ndarray:
    """The baseline's reconstructions (batch, state_dim) of joint histories."""
    with torch.no_grad():
        return net(encode_history(obs, actions, env.n_obs, env.n_actions)).numpy()
