"""History-conditioned diffusion models of the global state (Wang et al. 2025, Sec. 3-4).

An agent's local history ``o_0, a_0, ..., o_H`` is one-hot encoded (:func:`encode_history`) and read
by a GRU (:class:`HistoryEncoder`); a small MLP predicts the noise ``eps(x_t, t, h)`` of a DDPM
(Ho et al. 2020) on the state's features, with the linear beta schedule of Ho et al. rescaled to
``n_steps`` steps (``beta`` from ``1e-4 * 1000 / n_steps`` to ``0.02 * 1000 / n_steps``). Sampling
is the deterministic DDIM (eta = 0), the probability-flow discretisation (Song et al. 2021), or
ancestral DDPM. ``agent=None`` conditions on the joint history (all agents' encodings side by side).

:func:`train_diffusion` fits one model by the usual noise-prediction loss on a fixed set of
episodes, with the shared :class:`~econcs.shared.Callback`, exact resume and ``DivergenceError`` on
a NaN loss; :func:`save_model` / :func:`load_model` write safetensors weights and a JSON header.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from econcs.decpomdp_diffusion._dec_pomdp import Histories, TabularDecPOMDP
from econcs.shared import (
    Callback,
    DivergenceError,
    Params,
    check_choice,
    check_int,
    check_type,
    history_tuple,
    make_generator,
    param,
    resolve_device,
    resolve_params,
)

__all__ = [
    "ConditionalDiffusion",
    "DiffusionParams",
    "DiffusionResult",
    "HistoryEncoder",
    "encode_history",
    "init_model",
    "load_model",
    "save_model",
    "train_diffusion",
]


def encode_history(obs, actions, n_obs: int, n_actions: int, *, device=None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot histories: (batch, T + 1, n_obs + n_actions) for one agent's ``obs`` (batch, T + 1)
    and ``actions`` (batch, T); step ``k`` holds ``o_k`` and ``a_{k-1}`` (zeros at ``k = 0``).
    All agents' (batch, n_agents, ...) give (batch, T + 1, n_agents * (n_obs + n_actions))."""
    obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.long, device=device)
    act_t = torch.as_tensor(np.asarray(actions), dtype=torch.long, device=device)
    if obs_t.ndim == 3:  # joint: concatenate the agents' encodings
        parts = [encode_history(obs_t[:, i], act_t[:, i], n_obs, n_actions, device=device,
                                dtype=dtype) for i in range(obs_t.shape[1])]
        return torch.cat(parts, dim=-1)
    o = nn.functional.one_hot(obs_t, n_obs).to(dtype)
    a = nn.functional.one_hot(act_t, n_actions).to(dtype)
    a = torch.cat([torch.zeros_like(a[:, :1]), a], dim=1) if a.shape[1] else torch.zeros(
        o.shape[0], 1, n_actions, dtype=dtype, device=o.device)
    return torch.cat([o, a], dim=-1)


class HistoryEncoder(nn.Module):
    """Encoded histories (batch, T + 1, n_in) -> (batch, hidden).

    ``kind="gru"``: a GRU's last hidden state (any length); ``"mlp"``: one SiLU layer on the
    flattened history (length ``horizon + 1`` only; several times faster on a CPU).
    """

    def __init__(self, n_in: int, hidden: int, kind: str = "gru", horizon: int | None = None):
        super().__init__()
        check_choice(kind, "encoder", ("gru", "mlp"))
        self.kind = kind
        if kind == "gru":
            self.gru = nn.GRU(n_in, hidden, batch_first=True)
        else:
            if horizon is None:
                raise ValueError("horizon: the 'mlp' encoder needs the history length.")
            self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(n_in * (horizon + 1), hidden),
                                     nn.SiLU())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.gru(h)[1][0] if self.kind == "gru" else self.mlp(h)


def _time_embedding(t: torch.Tensor, n_steps: int, dim: int = 16) -> torch.Tensor:
    freqs = torch.exp(torch.arange(dim // 2, device=t.device, dtype=torch.float32)
                      * (-math.log(100.0) / max(dim // 2 - 1, 1)))
    ang = (t.float()[:, None] / n_steps) * freqs[None] * 2 * math.pi * 10
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)


class ConditionalDiffusion(nn.Module):
    """``eps(x_t, t, h)``: a GRU history encoder and an MLP noise predictor, with the DDPM schedule.

    Shapes: states ``x`` (batch, state_dim), contexts (batch, hidden) from :meth:`context`,
    integer times ``t`` (batch,) in ``[0, n_steps)``. ``meta`` records what the model was trained
    for (env name, agent, sizes), checked when it is loaded.
    """

    def __init__(self, *, n_obs: int, n_actions: int, state_dim: int, n_agents_in: int = 1,
                 hidden: int = 64, layers: int = 2, n_steps: int = 50, encoder: str = "gru",
                 meta: dict | None = None):
        super().__init__()
        self.n_obs, self.n_actions, self.state_dim = n_obs, n_actions, state_dim
        self.n_agents_in, self.hidden, self.layers, self.n_steps = n_agents_in, hidden, layers, \
            n_steps
        self.meta = dict(meta or {})
        self.encoder_kind = encoder
        self.encoder = HistoryEncoder(n_agents_in * (n_obs + n_actions), hidden, encoder,
                                      self.meta.get("horizon"))
        dims = [state_dim + 16 + hidden] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            mods += [nn.Linear(a, b), nn.SiLU()]
        self.mlp = nn.Sequential(*mods, nn.Linear(dims[-1], state_dim))
        scale = 1000.0 / n_steps
        betas = torch.linspace(1e-4 * scale, min(0.02 * scale, 0.999), n_steps,
                               dtype=torch.float64)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def config(self) -> dict[str, Any]:
        return {"n_obs": self.n_obs, "n_actions": self.n_actions, "state_dim": self.state_dim,
                "n_agents_in": self.n_agents_in, "hidden": self.hidden, "layers": self.layers,
                "n_steps": self.n_steps, "encoder": self.encoder_kind, "meta": self.meta}

    def context(self, obs, actions) -> torch.Tensor:
        """The history embedding (batch, hidden) of histories as :func:`encode_history` takes."""
        dev = self.alpha_bar.device
        return self.encoder(encode_history(obs, actions, self.n_obs, self.n_actions, device=dev))

    def forward(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([x, _time_embedding(t, self.n_steps), ctx], dim=-1))

    def loss(self, x0: torch.Tensor, ctx: torch.Tensor, generator: torch.Generator):
        """The noise-prediction loss ``|eps - eps(sqrt(ab) x0 + sqrt(1 - ab) eps, t, h)|^2``."""
        t = torch.randint(0, self.n_steps, (x0.shape[0],), generator=generator,
                          device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device)
        ab = self.alpha_bar[t][:, None]
        return ((self(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, ctx) - eps) ** 2).mean()

    def predict_x0(self, x: torch.Tensor, t: int, ctx: torch.Tensor) -> torch.Tensor:
        """The denoised estimate ``(x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)`` at time ``t``."""
        ab = self.alpha_bar[t]
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        return (x - (1 - ab).sqrt() * self(x, tt, ctx)) / ab.sqrt()

    def ddim_step(self, x: torch.Tensor, t: int, t_next: int, ctx: torch.Tensor) -> torch.Tensor:
        """One deterministic DDIM step from time ``t`` to ``t_next < t`` (``-1``: to the data)."""
        ab = self.alpha_bar[t]
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        eps = self(x, tt, ctx)
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        if t_next < 0:
            return x0
        ab_next = self.alpha_bar[t_next]
        return ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps

    def sample(self, ctx: torch.Tensor, *, x_T: torch.Tensor | None = None,
               generator: torch.Generator | None = None, method: str = "ddim") -> torch.Tensor:
        """Samples (batch, state_dim), one per context row: DDIM (deterministic given ``x_T``) or
        ancestral DDPM."""
        check_choice(method, "method", ("ddim", "ddpm"))
        if x_T is None:
            x_T = torch.randn(ctx.shape[0], self.state_dim, generator=generator,
                              device=ctx.device)
        x = x_T
        for t in range(self.n_steps - 1, -1, -1):
            if method == "ddim":
                x = self.ddim_step(x, t, t - 1, ctx)
            else:
                ab = self.alpha_bar[t]
                a = ab / (self.alpha_bar[t - 1] if t > 0 else torch.ones_like(ab))
                tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
                x = (x - (1 - a) / (1 - ab).sqrt() * self(x, tt, ctx)) / a.sqrt()
                if t > 0:
                    var = (1 - a) * (1 - self.alpha_bar[t - 1]) / (1 - ab)
                    x = x + var.sqrt() * torch.randn(x.shape, generator=generator,
                                                     device=x.device)
        return x


@dataclasses.dataclass(frozen=True)
class DiffusionParams(Params):
    """Training parameters of :func:`train_diffusion`."""

    max_iter: int = param(600, "gradient steps", low=1)
    batch_size: int = param(256, "episodes per step", low=1)
    lr: float = param(3e-3, "Adam learning rate", low=0.0, low_inclusive=False)
    hidden: int = param(64, "units of the GRU and of each MLP layer", low=1)
    layers: int = param(2, "hidden layers of the noise predictor", low=1)
    n_steps: int = param(50, "diffusion time steps", low=2)
    encoder: str = param("gru", "history encoder (mlp: flattened history, faster on a CPU)",
                         choices=("gru", "mlp"))
    log_every: int = param(50, "steps between history rows", low=1)


@dataclasses.dataclass(frozen=True, eq=False)
class DiffusionResult:
    """What :func:`train_diffusion` returns: the model, its last loss and the history."""

    model: ConditionalDiffusion
    loss: float
    iterations: int
    history: tuple[dict[str, Any], ...]


def init_model(env: TabularDecPOMDP, agent: int | None, horizon: int,
               params: DiffusionParams | None = None, /, *, seed: int = 0,
               generator: torch.Generator | None = None, device: str | torch.device = "cpu",
               **overrides: Any) -> ConditionalDiffusion:
    """The untrained model :func:`train_diffusion` starts from (same ``generator``, same weights):
    for histories of ``horizon`` steps of ``agent`` (``None``: the joint history)."""
    p = resolve_params(DiffusionParams, params, **overrides)
    check_type(env, "env", TabularDecPOMDP)
    if agent is not None:
        agent = env.check_agent(agent)
    horizon = check_int(horizon, "horizon", low=0)
    dev = resolve_device(device)
    gen = make_generator(seed, dev) if generator is None else generator
    meta = {"env": env.name, "agent": agent, "horizon": horizon}
    config = {"n_obs": env.n_obs, "n_actions": env.n_actions, "state_dim": env.state_dim,
              "n_agents_in": env.n_agents if agent is None else 1, "hidden": p.hidden,
              "layers": p.layers, "n_steps": p.n_steps, "encoder": p.encoder, "meta": meta}
    with torch.random.fork_rng(devices=[]):  # the initial weights from the run's seed only
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen, device=dev)))
        return ConditionalDiffusion(**config).to(dev)


def train_diffusion(env: TabularDecPOMDP, data: Histories, agent: int | None,
                    params: DiffusionParams | None = None, /, *, seed: int = 0,
                    generator: torch.Generator | None = None, device: str | torch.device = "cpu",
                    callback: Callback | None = None, resume: tuple[int, dict] | None = None,
                    **overrides: Any) -> DiffusionResult:
    """Fit ``p(s_H | agent's history)`` (``agent=None``: the joint history) on episodes ``data``.

    Examples
    --------
    >>> from econcs.decpomdp_diffusion import make_env
    >>> env = make_env("sensor")
    >>> res = train_diffusion(env, env.collect(64, 2), 0, max_iter=2, batch_size=8, hidden=8,
    ...                       encoder="mlp")
    >>> res.iterations, res.model.meta["agent"]
    (2, 0)
    """
    p = resolve_params(DiffusionParams, params, **overrides)
    check_type(env, "env", TabularDecPOMDP)
    check_type(data, "data", Histories)
    if data.env_name != env.name:
        raise ValueError(f"data: expected episodes of env {env.name!r}, got {data.env_name!r}.")
    dev = resolve_device(device)
    gen = make_generator(seed, dev) if generator is None else generator
    model = init_model(env, agent, data.horizon, p, generator=gen, device=dev)
    agent = model.meta["agent"]
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    obs = data.obs if agent is None else data.obs[:, agent]
    act = data.actions if agent is None else data.actions[:, agent]
    hist = encode_history(obs, act, env.n_obs, env.n_actions, device=dev)
    x0 = torch.as_tensor(env.features[data.states[:, -1]], dtype=torch.float32, device=dev)
    start, rows = 0, []
    if resume is not None:
        start, state = resume
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"].cpu() if dev.type == "cpu" else state["generator"])
        rows = [dict(r) for r in state["history"]]
    loss_value = float("nan")
    for step in range(start + 1, p.max_iter + 1):
        idx = torch.randint(0, hist.shape[0], (min(p.batch_size, hist.shape[0]),),
                            generator=gen, device=dev)
        loss = model.loss(x0[idx], model.encoder(hist[idx]), gen)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise DivergenceError(f"training diverged at step {step}: loss is {loss_value}; "
                                  "lower lr.")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % p.log_every == 0 or step == p.max_iter:
            rows.append({"step": step, "loss": loss_value})
        if callback is not None:
            callback(step, {"loss": loss_value}, lambda: {
                "model": model.state_dict(), "opt": opt.state_dict(),
                "generator": gen.get_state(), "history": [dict(r) for r in rows]})
    model.eval()
    return DiffusionResult(model, loss_value, p.max_iter, history_tuple(rows))


def save_model(model: ConditionalDiffusion, path: str | Path) -> None:
    """Write ``<path>.safetensors`` (the weights) and ``<path>.json`` (the config and meta)."""
    check_type(model, "model", ConditionalDiffusion)
    path = Path(path)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps(model.config(), indent=1))


def load_model(path: str | Path, env: TabularDecPOMDP | None = None, *,
               device: str | torch.device = "cpu") -> ConditionalDiffusion:
    """Read a model written by :func:`save_model`; with ``env``, check it was trained for it."""
    path = Path(path)
    config = json.loads(path.with_suffix(".json").read_text())
    if env is not None:
        check_type(env, "env", TabularDecPOMDP)
        if config["meta"].get("env") != env.name:
            raise ValueError(f"env: the model at {str(path)!r} was trained for "
                             f"{config['meta'].get('env')!r}, not {env.name!r}.")
    model = ConditionalDiffusion(**config)
    model.load_state_dict(load_file(str(path.with_suffix(".safetensors"))))
    return model.to(resolve_device(device)).eval()


def check_histories(model: ConditionalDiffusion, obs, actions) -> None:
    """Histories of the length and agent count ``model`` was trained on, else ``ValueError``."""
    obs_a, act_a = np.asarray(obs), np.asarray(actions)
    want = 3 if model.n_agents_in > 1 or model.meta.get("agent", 0) is None else 2
    if obs_a.ndim != want or act_a.ndim != want:
        raise ValueError(f"obs, actions: expected {want}-d histories for this model, got shapes "
                         f"{obs_a.shape} and {act_a.shape}.")
    horizon = model.meta.get("horizon")
    if horizon is not None and (obs_a.shape[-1] != horizon + 1 or act_a.shape[-1] != horizon):
        raise ValueError(f"obs, actions: expected histories of horizon {horizon} (shapes (..., "
                         f"{horizon + 1}) and (..., {horizon})), got {obs_a.shape} and "
                         f"{act_a.shape}.")
    check_int(obs_a.shape[0], "obs.shape[0]", low=1)
    if obs_a.size and (obs_a.min() < 0 or obs_a.max() >= model.n_obs):
        raise ValueError(f"obs: expected indices in [0, {model.n_obs}).")
    if act_a.size and (act_a.min() < 0 or act_a.max() >= model.n_actions):
        raise ValueError(f"actions: expected indices in [0, {model.n_actions}).")
