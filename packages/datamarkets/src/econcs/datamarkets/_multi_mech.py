"""A learned mechanism for several data buyers, BIC or ex post IC (Ravindranath et al. 2023, Sec. 4.2).

RegretNet-style (Dütting et al. 2019): an *experiment network* maps the value profile ``(N, n)``
to one experiment per buyer, ``(N, n, S, S)`` (a softmax over signals for every state), and a
*payment network* maps it to fractions ``f in (0, 1)^n``. A buyer's payment is that fraction of its
surplus over the outside option, so IR holds by construction wherever the experiment is obedient:

- **BIC**: every interim quantity of buyer ``i`` is a mean over ``n_samples`` sampled profiles of
  the others (:func:`econcs.shared.regret.interim_mean`, one batched network call for all buyers
  and samples): ``A_i(r) = E[x_i - alpha sum_{j != i} x_j | r_i]``, the interim experiment, and
  ``F_i(r) = E[f_i | r_i]``; the payment is ``P_i(r) = F_i r (A_i - outside)``.
- **ex post**: the same at every profile, ``p_i = f_i v_i (a_i - outside)``.

A buyer of value ``v`` reporting ``r`` gets ``v A(r) - P(r)``: linear in ``v``, so its regret
against a set of candidate reports is exact (:func:`econcs.shared.regret.linear_regret`). Training
uses the batch's own reports as candidates (BIC: their interim outcomes are already computed, as in
the authors' notebooks) or ``n_candidates`` fresh draws per buyer and profile (ex post), and
maximises revenue under the augmented Lagrangian on mean regret and mean obedience violation per
buyer (:class:`econcs.shared.regret.ConstraintPenalty`; multipliers and ``rho`` from 10, ``rho``
+10 every 100 steps, as the paper). :meth:`MultiBuyerMechanism.evaluate` measures regret by an
independent dense search: a grid of reports over the value support, against fresh other-buyer
samples.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from econcs.datamarkets._multi_market import MultiBuyerMarket
from econcs.shared import (
    Callback,
    DivergenceError,
    Params,
    check_choice,
    check_int,
    check_type,
    make_generator,
    param,
    resolve_dtype,
    resolve_params,
)
from econcs.shared.regret import (
    ConstraintPenalty,
    interim_mean,
    linear_regret,
    misreport_profiles,
)

__all__ = ["MultiBuyerMechanism", "MultiEvaluation", "MultiParams"]


@dataclasses.dataclass(frozen=True)
class MultiParams(Params):
    """Training parameters of :class:`MultiBuyerMechanism` (paper: 20k steps, batch 128, 512
    interim samples, AdamW 1e-3, multipliers and rho from 10, rho +10 every 100 steps)."""

    max_iter: int = param(2000, "network updates", low=1)
    batch_size: int = param(128, "value profiles per update", low=1)
    n_samples: int = param(128, "sampled other-buyer profiles per interim mean (BIC)", low=1)
    n_candidates: int = param(16, "sampled misreports per buyer and profile (ex post)", low=1)
    lr: float = param(1e-3, "AdamW learning rate", low=0.0, low_inclusive=False)
    rho: float = param(10.0, "initial quadratic penalty", low=0.0, low_inclusive=False)
    rho_increment: float = param(10.0, "added to rho every rho_every steps", low=0.0)
    rho_every: int = param(100, "steps between rho increments", low=1)
    lambda_init: float = param(10.0, "initial multipliers", low=0.0)
    update_every: int = param(100, "steps between multiplier updates", low=1)


@dataclasses.dataclass(frozen=True)
class MultiEvaluation:
    """Evaluation of a learned mechanism (means over buyers' types; violations per buyer,
    averaged over buyers).

    ``revenue`` (all buyers), ``ic_violation`` (mean regret against the dense report grid),
    ``ic_violation_max``, ``obedience_violation`` (mean gain from disobeying, value 1),
    ``ir_violation`` (mean), ``n_types``, ``n_samples``.
    """

    revenue: float
    ic_violation: float
    ic_violation_max: float
    obedience_violation: float
    ir_violation: float
    n_types: int
    n_samples: int


def _mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU()]
        width = hidden
    mods.append(nn.Linear(width, n_out))
    for m in mods:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("leaky_relu"))
            nn.init.zeros_(m.bias)
    return nn.Sequential(*mods)


class MultiBuyerMechanism(nn.Module):
    """Experiment and payment networks of all reports for ``market``.

    Parameters
    ----------
    market
        the buyers (:class:`econcs.datamarkets.MultiBuyerMarket`).
    ic
        ``"bic"`` (interim payments and constraints) or ``"expost"``.
    hidden, layers
        width and number of hidden layers of both networks (LeakyReLU; paper: 200 x 3).
    device, dtype
        where the networks live.
    """

    def __init__(self, market: MultiBuyerMarket, ic: str = "bic", *, hidden: int = 64,
                 layers: int = 2, device: torch.device | str = "cpu",
                 dtype: torch.dtype | str | None = None) -> None:
        super().__init__()
        check_type(market, "market", MultiBuyerMarket)
        self.market = market
        self.ic = check_choice(ic, "ic", ("bic", "expost"))
        hidden = check_int(hidden, "hidden", low=1)
        layers = check_int(layers, "layers", low=1)
        n, s = market.n_buyers, market.n_states
        self.experiment_net = _mlp(n, n * s * s, hidden, layers)
        self.payment_net = _mlp(n, n, hidden, layers)
        self.scale = float(market.value.components[0].marginals[0][0].mean
                           if len(market.value.components) == 1 else 1.0)
        self.dtype_ = resolve_dtype(dtype)
        self.device_ = torch.device(device)
        self.to(device=self.device_, dtype=self.dtype_)
        self.history_: tuple[dict, ...] = ()

    def forward(self, reports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``reports (N, n)`` -> experiments ``(N, n, S, S)`` and payment fractions ``(N, n)``."""
        n, s = self.market.n_buyers, self.market.n_states
        z = reports / self.scale
        pi = torch.softmax(self.experiment_net(z).view(-1, n, s, s), dim=-1)
        return pi, torch.sigmoid(self.payment_net(z))

    # -- outcomes ------------------------------------------------------------------------------

    def interim(self, reports: torch.Tensor, others: torch.Tensor):
        """BIC outcomes of reports ``(B, n)`` against sampled profiles ``others (M, n)``:
        gains ``A (B, n)``, payments ``P (B, n)``, interim experiments ``(B, n, S, S)``."""
        m = self.market
        s = m.n_states

        def outcome(prof):
            pi, frac = self(prof[..., 0])
            x = m.correctness(pi)
            return torch.cat([x.unsqueeze(-1), frac.unsqueeze(-1), pi.flatten(-2)], dim=-1)

        mean = interim_mean(outcome, reports.unsqueeze(-1), others.unsqueeze(-1))  # (B,n,n,k)
        own = mean.diagonal(dim1=1, dim2=2).movedim(-1, 1)  # (B, n, k)
        gain = (1 + m.alpha) * own[..., 0] - m.alpha * mean[..., 0].sum(-1)
        pay = own[..., 1] * reports * (gain - m.outside)
        return gain, pay, own[..., 2:].reshape(*own.shape[:2], s, s)

    def ex_post(self, reports: torch.Tensor):
        """Ex post outcomes of ``reports (N, n)``: gains, payments ``(N, n)``, experiments."""
        pi, frac = self(reports)
        gain = self.market.payoff(self.market.correctness(pi))
        return gain, frac * reports * (gain - self.market.outside), pi

    def _ex_post_candidates(self, values: torch.Tensor, cands: torch.Tensor):
        """Each buyer's gain and payment when it alone reports ``cands (B, G, n)``."""
        b, g, n = cands.shape
        prof = misreport_profiles(values.unsqueeze(-1), cands.unsqueeze(-1))  # (B,G,n,n,1)
        gain, pay, _ = self.ex_post(prof.reshape(b * g * n, n))
        gain = gain.view(b, g, n, n).diagonal(dim1=2, dim2=3)
        pay = pay.view(b, g, n, n).diagonal(dim1=2, dim2=3)
        return gain, pay

    def _terms(self, values: torch.Tensor, gen: torch.Generator, p: MultiParams):
        """Revenue and per-buyer mean regret, obedience and IR violations of one batch."""
        m = self.market
        if self.ic == "bic":
            others = self._sample(p.n_samples, gen)
            gain, pay, pis = self.interim(values, others)
            regret = linear_regret(values, gain, pay, gain, pay)[0]
        else:
            gain, pay, pis = self.ex_post(values)
            cands = self._sample(values.shape[0] * p.n_candidates, gen)
            cg, cp = self._ex_post_candidates(values, cands.view(values.shape[0], -1,
                                                                 m.n_buyers))
            regret = linear_regret(values, gain, pay, cg, cp)[0]
        ir = (pay - values * (gain - m.outside)).clamp(min=0.0)
        return (pay.sum(1).mean(), regret.mean(0), m.obedience_gap(pis).mean(0), ir.mean(0))

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.market.sample(n, generator=gen, device=gen.device,
                                  dtype=self.dtype_).to(self.device_)

    # -- training ------------------------------------------------------------------------------

    def fit(self, params: MultiParams | None = None, /, *, seed: int = 0,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            resume: tuple[int, dict[str, Any]] | None = None,
            **overrides: Any) -> MultiBuyerMechanism:
        """Maximise revenue under the augmented Lagrangian on regret and obedience. Returns self.

        ``generator`` (default seeded by ``seed``) initialises the networks and seeds the value
        draws; ``resume=(step, state)`` continues from the callback's ``state_fn()``.
        """
        p = resolve_params(MultiParams, params, **overrides)
        gen = make_generator(seed, "cpu") if generator is None else generator
        check_type(gen, "generator", torch.Generator)
        n = self.market.n_buyers
        opt = torch.optim.AdamW(self.parameters(), lr=p.lr)
        pen = ConstraintPenalty({"regret": n, "obedience": n}, rho=p.rho,
                                lambda_init=p.lambda_init, update_every=p.update_every,
                                rho_increment=p.rho_increment, rho_every=p.rho_every,
                                device=self.device_, dtype=self.dtype_)
        data_gen = make_generator(0, "cpu")
        start, history = 0, []
        if resume is None:
            with torch.no_grad():
                for mod in self.modules():
                    if isinstance(mod, nn.Linear):
                        w = torch.empty(mod.weight.shape, dtype=torch.float64)
                        bound = nn.init.calculate_gain("leaky_relu") * (
                            6.0 / (w.shape[0] + w.shape[1])) ** 0.5
                        w.uniform_(-bound, bound, generator=gen)
                        mod.weight.copy_(w)
                        mod.bias.zero_()
            data_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        else:
            start, state = resume
            self.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            pen.load_state_dict(state["penalty"])
            data_gen.set_state(state["data_rng"].cpu())
            history = list(state["history"])

        def state_fn() -> dict[str, Any]:
            return {"model": self.state_dict(), "optimizer": opt.state_dict(),
                    "penalty": pen.state_dict(), "data_rng": data_gen.get_state(),
                    "history": list(history)}

        for step in range(start + 1, p.max_iter + 1):
            values = self._sample(p.batch_size, data_gen)
            revenue, regret, obed, ir = self._terms(values, data_gen, p)
            groups = {"regret": regret, "obedience": obed}
            loss = pen.loss(revenue, groups)
            if not bool(torch.isfinite(loss)):
                raise DivergenceError(f"MultiBuyerMechanism.fit: loss {float(loss)} at step "
                                      f"{step}; lower lr.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pen.step(groups)
            metrics = {"revenue": float(revenue.detach()), "regret": float(regret.detach().mean()),
                       "obedience": float(obed.detach().mean()), "ir": float(ir.detach().mean())}
            if step % 100 == 0 or step == p.max_iter:
                history.append({"step": step, **metrics, "rho": pen.rho})
            if callback is not None:
                callback(step, metrics, state_fn)
        self.history_ = tuple(history)
        return self

    # -- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, *, n_types: int = 256, n_samples: int = 1024, n_grid: int = 401,
                 seed: int = 0, chunk: int = 64) -> MultiEvaluation:
        """Revenue and violations on fresh types, regret by a dense grid of reports.

        BIC: every buyer's value at the ``n_types`` midpoint quantiles of the value law, interim
        means over ``n_samples`` fresh other-buyer profiles, misreports on ``n_grid`` points of
        ``[low, value_high]``. Ex post: ``n_types`` sampled profiles, each buyer's misreports on
        the grid with the others' reports fixed.
        """
        m = self.market
        n_types = check_int(n_types, "n_types", low=1)
        n_samples = check_int(n_samples, "n_samples", low=1)
        n_grid = check_int(n_grid, "n_grid", low=2)
        gen = make_generator(seed, "cpu")
        grid = torch.linspace(m.value.low, m.value_high, n_grid, dtype=self.dtype_,
                              device=self.device_)
        if self.ic == "bic":
            u = (torch.arange(n_types, dtype=torch.float64) + 0.5) / n_types
            q = torch.as_tensor(m.value.quantile(u.numpy()), dtype=self.dtype_)
            values = q.to(self.device_)[:, None].expand(n_types, m.n_buyers).contiguous()
            others = self._sample(n_samples, gen)

            def interim(rep):
                outs = [self.interim(rep[i:i + chunk], others) for i in range(0, len(rep), chunk)]
                return [torch.cat(t) for t in zip(*outs, strict=True)]

            gain, pay, pis = interim(values)
            cg, cp, _ = interim(grid[:, None].expand(n_grid, m.n_buyers).contiguous())
            regret = linear_regret(values, gain, pay, cg, cp)[0]
        else:
            values = self._sample(n_types, gen)
            gain, pay, pis = self.ex_post(values)
            regs = []
            for i in range(0, n_types, chunk):
                v = values[i:i + chunk]
                cands = grid.view(1, n_grid, 1).expand(v.shape[0], n_grid, m.n_buyers)
                cg, cp = self._ex_post_candidates(v, cands.contiguous())
                regs.append(linear_regret(v, gain[i:i + chunk], pay[i:i + chunk], cg, cp)[0])
            regret = torch.cat(regs)
        ir = (pay - values * (gain - m.outside)).clamp(min=0.0)
        return MultiEvaluation(
            revenue=float(pay.sum(1).mean()), ic_violation=float(regret.mean()),
            ic_violation_max=float(regret.max()),
            obedience_violation=float(m.obedience_gap(pis).mean()),
            ir_violation=float(ir.mean()), n_types=n_types, n_samples=n_samples)
