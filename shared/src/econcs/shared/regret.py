"""Regret of multi-agent direct mechanisms, interim (BIC) and ex post, and constraint penalties.

RegretNet-style learning (Dütting et al. 2019, Sec. 4; the BIC variant of Ravindranath, Jiang,
Parkes 2023, Sec. 4) needs, at every step, each agent's gain from its best misreport:

- **ex post** (dominant strategy): agent ``i`` misreports while the others report the profile's
  values; :func:`misreport_profiles` builds every such profile at once, ``(B, R, n, n, d)``.
- **interim** (Bayesian): agent ``i``'s utility is its expectation over the others' types,
  estimated by ``M`` sampled other-agent types: :func:`interim_profiles` builds, for every agent
  and report, the ``M`` profiles with its row replaced, and :func:`interim_mean` averages any
  per-agent outcome of a mechanism over them (one batched call, no loop over samples or agents).
  :func:`interim_misreport_utilities` is the auction case (``<allocation, value> - payment``).

:func:`regret_search` maximises any such misreport utility ``utility(values, misreports)`` by
batched gradient ascent from several starts (a lower bound on regret, like
:func:`econcs.shared.best_response_search`, of which it is the generic form).
:func:`linear_regret` is the exact regret against a set of candidate reports when utility is linear
in a one-dimensional type, ``u = v q(report) - p(report)`` (single-parameter agents): one
``(B, G)`` comparison per agent, used on the batch's own reports in training (the candidates of
Ravindranath et al.'s notebooks) and on a dense grid as an independent check in evaluation.

:class:`ConstraintPenalty` is the augmented Lagrangian of :mod:`econcs.shared.augmented_lagrangian`
over named groups of constraints (e.g. ``regret``, ``obedience``, ``ir``, one value per agent each).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from econcs.shared.augmented_lagrangian import AugmentedLagrangian
from econcs.shared.validation import check_float, check_int, check_tensor

__all__ = [
    "ConstraintPenalty",
    "RegretEstimate",
    "interim_mean",
    "interim_misreport_utilities",
    "interim_profiles",
    "linear_regret",
    "misreport_profiles",
    "regret_search",
]

#: ``utility(values (B, n, d), misreports (B, R, n, d)) -> (B, R, n)``: agent ``i``'s utility
#: with true type ``values[b, i]`` when it reports ``misreports[b, r, i]``
MisreportUtility = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def misreport_profiles(values: torch.Tensor, misreports: torch.Tensor) -> torch.Tensor:
    """Profiles in which one agent misreports and the others report ``values``.

    ``values (B, n, d)``, ``misreports (B, R, n, d)``; returns ``(B, R, n, n, d)`` with
    ``out[b, r, i] = values[b]`` but row ``i`` replaced by ``misreports[b, r, i]``
    (differentiable in both).

    >>> v = torch.zeros(1, 2, 1)
    >>> misreport_profiles(v, torch.ones(1, 1, 2, 1))[0, 0, :, :, 0].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    b, _, n, d = misreports.shape
    eye = torch.eye(n, dtype=torch.bool, device=values.device).view(1, 1, n, n, 1)
    return torch.where(eye, misreports.unsqueeze(3), values.reshape(b, 1, 1, n, d))


def interim_profiles(reports: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Profiles for interim expectations: agent ``i`` reports ``reports[b, i]``, the others are
    the ``M`` samples ``others``.

    ``reports (B, n, d)``, ``others (M, n, d)`` (one sampled type profile per row; row ``i`` of
    a sample is ignored for agent ``i``); returns ``(B, n, M, n, d)`` with
    ``out[b, i, m] = others[m]`` but row ``i`` replaced by ``reports[b, i]``.
    """
    b, n, d = reports.shape
    m = others.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=reports.device).view(1, n, 1, n, 1)
    return torch.where(eye, reports.view(b, n, 1, 1, d), others.view(1, 1, m, n, d))


def interim_mean(outcome: Callable[[torch.Tensor], torch.Tensor], reports: torch.Tensor,
                 others: torch.Tensor) -> torch.Tensor:
    """Interim expectation of a per-agent outcome, over sampled other-agent types.

    Parameters
    ----------
    outcome
        maps profiles ``(N, n, d)`` to a per-agent outcome ``(N, n, *k)`` (an allocation, a
        payment, an experiment, ...), differentiable.
    reports
        ``(B, n, d)``: agent ``i``'s own report in row ``i``.
    others
        ``(M, n, d)`` sampled type profiles of the others.

    Returns
    -------
    torch.Tensor
        ``(B, n, n, *k)``: ``out[b, i, j]`` is the mean over the samples of agent ``j``'s outcome
        when agent ``i`` reports ``reports[b, i]`` and the others are sampled (``j == i``: its
        own interim outcome; ``j != i``: what the others get, for externalities). One call of
        ``outcome`` on ``B n M`` profiles.
    """
    b, n, d = reports.shape
    m = others.shape[0]
    out = outcome(interim_profiles(reports, others).reshape(b * n * m, n, d))
    return out.reshape(b, n, m, *out.shape[1:]).mean(dim=2)


def interim_misreport_utilities(mechanism, values: torch.Tensor, misreports: torch.Tensor,
                                others: torch.Tensor) -> torch.Tensor:
    """Interim utilities ``E_others[<a_i, v_i> - p_i]`` of auction misreports.

    ``mechanism(reports (N, n, m)) -> (allocation (N, n, m), payment (N, n))`` (the shape of
    :func:`econcs.shared.misreport_utilities`); ``values (B, n, m)``, ``misreports
    (B, R, n, m)``, ``others (M, n, m)``. Returns ``(B, R, n)``: agent ``i`` with values
    ``values[b, i]`` reporting ``misreports[b, r, i]`` against the sampled others.
    """
    b, r, n, m = misreports.shape

    def outcome(profiles):
        alloc, pay = mechanism(profiles)
        return torch.cat([alloc, pay.unsqueeze(-1)], dim=-1)  # (N, n, m + 1)

    mean = interim_mean(outcome, misreports.reshape(b * r, n, m), others)  # (BR, n, n, m + 1)
    own = mean.diagonal(dim1=1, dim2=2).movedim(-1, 1).reshape(b, r, n, m + 1)
    return (own[..., :m] * values.unsqueeze(1)).sum(-1) - own[..., m]


def linear_regret(values: torch.Tensor, gain: torch.Tensor, price: torch.Tensor,
                  candidate_gain: torch.Tensor, candidate_price: torch.Tensor,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact regret over candidate reports when utility is ``v * gain(report) - price(report)``.

    Parameters
    ----------
    values
        ``(B, n)`` one-dimensional types.
    gain, price
        ``(B, n)``: the truthful report's gain (what multiplies the type) and price.
    candidate_gain, candidate_price
        ``(G, n)`` candidate reports shared by all rows (interim: they do not depend on the
        others' reports), or ``(B, G, n)`` one set per row (ex post: the others' reports fixed).

    Returns
    -------
    regret, best
        ``(B, n)``: ``max(0, max_g v q_g - p_g - (v q - p))`` and the index of the best
        candidate (differentiable in every gain and price).

    >>> v = torch.tensor([[1.0]])
    >>> linear_regret(v, torch.tensor([[0.5]]), torch.tensor([[0.5]]),
    ...               torch.tensor([[1.0]]), torch.tensor([[0.25]]))[0].item()
    0.75
    """
    if candidate_gain.dim() == 2:
        util = values.unsqueeze(1) * candidate_gain.unsqueeze(0) - candidate_price.unsqueeze(0)
    else:
        util = values.unsqueeze(1) * candidate_gain - candidate_price  # (B, G, n)
    best_u, best = util.max(dim=1)
    return (best_u - (values * gain - price)).clamp(min=0.0), best


@dataclasses.dataclass(frozen=True)
class RegretEstimate:
    """Result of :func:`regret_search` for ``B`` profiles and ``n`` agents.

    misreports
        ``(B, n, d)`` each agent's best misreport found.
    regret
        ``(B, n)`` its utility gain over truth-telling, ``>= 0`` (a lower bound on the regret).
    truthful_utility
        ``(B, n)``.
    """

    misreports: torch.Tensor
    regret: torch.Tensor
    truthful_utility: torch.Tensor


def regret_search(
    utility: MisreportUtility,
    values: torch.Tensor,
    *,
    low: torch.Tensor | float,
    high: torch.Tensor | float,
    n_restarts: int = 16,
    n_steps: int = 100,
    lr: float = 0.05,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> RegretEstimate:
    """Each agent's best misreport by batched gradient ascent on ``utility``.

    Parameters
    ----------
    utility
        ``utility(values (B, n, d), misreports (B, R, n, d)) -> (B, R, n)``, differentiable in
        the misreports: ex post (others truthful, e.g. through :func:`misreport_profiles`) or
        interim (others sampled, e.g. :func:`interim_misreport_utilities` with fixed samples).
    values
        ``(B, n, d)`` true types.
    low, high
        type-space bounds (scalars or broadcastable to ``(n, d)``); misreports are clipped.
    n_restarts
        starts per (profile, agent): the truth and ``n_restarts - 1`` uniform draws.
    n_steps, lr
        Adam steps on all starts at once, the step size decaying geometrically to ``lr / 100``.
    init
        ``(B, R, n, d)`` starts (e.g. the best of a grid, or cached misreports); overrides
        ``n_restarts``.

    Returns
    -------
    RegretEstimate
        truthful reporting is always a candidate, so ``regret >= 0``. The mechanism receives no
        gradient (everything is detached).
    """
    values = check_tensor(values, "values", ndim=3).detach()
    b, n, d = values.shape
    n_steps = check_int(n_steps, "n_steps", low=0)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    low_t = torch.as_tensor(low, dtype=values.dtype, device=values.device).expand(n, d)
    high_t = torch.as_tensor(high, dtype=values.dtype, device=values.device).expand(n, d)
    if not bool(torch.isfinite(low_t).all() and torch.isfinite(high_t).all()):
        raise ValueError("low, high: expected finite bounds for the misreport search (clip an "
                         "unbounded law at a high quantile).")
    if init is None:
        r = check_int(n_restarts, "n_restarts", low=1)
        u = torch.rand((b, r, n, d), generator=generator, device=values.device,
                       dtype=values.dtype)
        init = low_t + u * (high_t - low_t)
        init[:, 0] = values
    else:
        init = check_tensor(init, "init", ndim=4, shape=(b, None, n, d))
    mis = init.detach().clone()
    # Adam written out (b1 0.9, b2 0.999): torch.optim's first step imports torch._dynamo,
    # seconds to tens of seconds on a loaded machine, for a few hundred tiny steps
    m1, m2 = torch.zeros_like(mis), torch.zeros_like(mis)
    gamma = 0.01 ** (1 / max(n_steps, 1))
    for t in range(1, n_steps + 1):
        x = mis.requires_grad_(True)
        (grad,) = torch.autograd.grad(utility(values, x).sum(), x, allow_unused=True)
        if grad is None:  # the utility does not move with the report: no ascent
            break
        with torch.no_grad():
            m1.mul_(0.9).add_(grad, alpha=0.1)
            m2.mul_(0.999).addcmul_(grad, grad, value=0.001)
            step = lr * gamma ** (t - 1) * (m1 / (1 - 0.9**t)) / ((m2 / (1 - 0.999**t)).sqrt()
                                                                  + 1e-8)
            mis = torch.maximum(torch.minimum(x.detach() + step, high_t), low_t)
    mis = mis.detach()
    with torch.no_grad():
        cand = torch.cat([values.unsqueeze(1), mis], dim=1)  # truth first
        utils = utility(values, cand)  # (B, 1 + R, n)
        best_u, best_r = utils.max(dim=1)
        best = cand.gather(1, best_r.view(b, 1, n, 1).expand(b, 1, n, d)).squeeze(1)
        truthful = utils[:, 0]
    return RegretEstimate(best, (best_u - truthful).clamp(min=0.0), truthful)


class ConstraintPenalty:
    """The augmented Lagrangian over named groups of constraints ``g >= 0`` that should be 0.

    ``sizes`` maps each group to its number of constraints (e.g. ``{"regret": n, "obedience":
    n}``); the keyword arguments are those of :class:`econcs.shared.AugmentedLagrangian`
    (``rho``, ``lambda_init``, ``update_every``, ``rho_increment``, ``rho_every``, ``rho_max``,
    ``device``, ``dtype``). ``loss(objective, constraints)`` and ``step(constraints)`` take a
    mapping with every group, each a tensor of its size.

    >>> pen = ConstraintPenalty({"regret": 2, "ir": 1}, rho=1.0, lambda_init=0.5)
    >>> float(pen.loss(torch.tensor(1.0), {"regret": torch.tensor([0.1, 0.3]),
    ...                                    "ir": torch.tensor([0.0])}))  # -1 + 0.2 + 0.05
    -0.75
    """

    def __init__(self, sizes: Mapping[str, int], **kwargs) -> None:
        if not isinstance(sizes, Mapping) or not sizes:
            raise TypeError(f"sizes: expected a non-empty mapping group -> size, got {sizes!r}.")
        self.sizes = {str(k): check_int(v, f"sizes[{k!r}]", low=1) for k, v in sizes.items()}
        self.al = AugmentedLagrangian(sum(self.sizes.values()), **kwargs)

    def _flat(self, constraints: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = set(self.sizes) - set(constraints)
        extra = set(constraints) - set(self.sizes)
        if missing or extra:
            raise ValueError(f"constraints: expected the groups {sorted(self.sizes)}, got "
                             f"{sorted(constraints)}.")
        parts = []
        for name, size in self.sizes.items():
            g = constraints[name].reshape(-1)
            if g.numel() != size:
                raise ValueError(f"constraints[{name!r}]: expected {size} values, got "
                                 f"{g.numel()}.")
            parts.append(g)
        return torch.cat(parts)

    @property
    def rho(self) -> float:
        return self.al.rho

    def loss(self, objective: torch.Tensor, constraints: Mapping[str, torch.Tensor],
             ) -> torch.Tensor:
        """``-objective + lambda . g + rho / 2 |g|^2`` over every group."""
        return self.al.loss(objective, self._flat(constraints))

    def step(self, constraints: Mapping[str, torch.Tensor]) -> None:
        """Record this step's values; multipliers and ``rho`` follow their schedules."""
        self.al.step(self._flat(constraints))

    def multipliers(self) -> dict[str, torch.Tensor]:
        """The current multipliers, per group."""
        out, lo = {}, 0
        for name, size in self.sizes.items():
            out[name] = self.al.lambdas[lo:lo + size].clone()
            lo += size
        return out

    def state_dict(self) -> dict:
        return self.al.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.al.load_state_dict(state)
