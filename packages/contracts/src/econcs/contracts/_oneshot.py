"""One-shot hidden-action contracts: the minimal implementing contract of each action by LP.

A principal offers a contract ``b >= 0`` (a payment per outcome, limited liability); the agent picks
the action maximising ``E_{o ~ P[a]} b(o) - c(a)``; the principal earns
``E_{o ~ P[a]} (r(o) - b(o))``. The cheapest contract that makes action ``a`` a best response solves
the LP (Grossman and Hart 1983; Dütting, Roughgarden and Talgam-Cohen, EC'19, Section 2)

    min_b  P[a] . b   s.t.   (P[a'] - P[a]) . b <= c[a'] - c[a]  for all a' != a,   b >= 0,

optionally with a margin ``xi`` (``... <= c[a'] - c[a] - xi``) that makes the agent's preference
strict -- the "nudging" of Ivanov, Dütting, Talgam-Cohen, Wang and Parkes, "Principal-Agent
Reinforcement Learning" (arXiv 2407.18074), Section 4. Indifferences are broken in the principal's
favour, as in that paper. An action whose LP is infeasible cannot be implemented by any contract.

:func:`optimal_contract` solves one LP per action on HiGHS (``econcs.shared.solve_lp``) and returns
the best implementable action for the principal. :func:`minimal_contracts_two_actions` is the
vectorised closed form for two actions that the sequential solvers use; the tests check it against
the LPs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from econcs.shared.solvers import InfeasibleError, solve_lp
from econcs.shared.validation import check_array, check_float, check_probabilities

__all__ = [
    "ContractResult",
    "agent_best_response",
    "minimal_contracts_two_actions",
    "optimal_contract",
    "validate_contract_problem",
]

_TIE_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class ContractResult:
    """The optimal one-shot contract and the minimal implementing contract of every action.

    Attributes
    ----------
    payments
        (n_outcomes,) the optimal contract (payment per outcome, >= 0).
    action
        the action it implements (the principal's best implementable action).
    principal_utility
        expected reward minus expected payment under ``payments``.
    agent_utility
        expected payment minus the cost of ``action``.
    implementable
        (n_actions,) bool, whether some contract implements each action.
    action_payments
        (n_actions, n_outcomes) minimal implementing contract of each action
        (NaN rows for actions that cannot be implemented).
    expected_payments
        (n_actions,) minimal expected payment per action (``inf`` if not
        implementable).
    action_utilities
        (n_actions,) principal utility of implementing each action at minimal cost
        (``-inf`` if not implementable).
    status
        ``"optimal"``.
    """

    payments: np.ndarray
    action: int
    principal_utility: float
    agent_utility: float
    implementable: np.ndarray
    action_payments: np.ndarray
    expected_payments: np.ndarray
    action_utilities: np.ndarray
    status: str = "optimal"


def validate_contract_problem(
    outcome_probs, costs, principal_rewards=None, *, atol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check a one-shot contract instance; return float64 arrays.

    Parameters
    ----------
    outcome_probs
        (n_actions, n_outcomes) rows are distributions over outcomes.
    costs
        (n_actions,) the agent's cost of each action.
    principal_rewards
        (n_outcomes,) or None, the principal's reward per outcome.
    """
    probs = check_probabilities(outcome_probs, "outcome_probs", ndim=2, atol=atol)
    n_actions, n_outcomes = probs.shape
    cost = check_array(costs, "costs", ndim=1)
    if cost.shape[0] != n_actions:
        raise ValueError(
            f"costs: expected one cost per action, i.e. shape ({n_actions},) to match "
            f"outcome_probs of shape {probs.shape}, got shape {cost.shape}."
        )
    rewards = None
    if principal_rewards is not None:
        rewards = check_array(principal_rewards, "principal_rewards", ndim=1)
        if rewards.shape[0] != n_outcomes:
            raise ValueError(
                f"principal_rewards: expected one reward per outcome, i.e. shape ({n_outcomes},) "
                f"to match outcome_probs of shape {probs.shape}, got shape {rewards.shape}."
            )
    return probs, cost, rewards


def _check_payments(payments, n_outcomes: int, name: str = "payments") -> np.ndarray:
    pay = check_array(payments, name, ndim=1)
    if pay.shape[0] != n_outcomes:
        raise ValueError(
            f"{name}: expected one payment per outcome, shape ({n_outcomes},), got {pay.shape}."
        )
    if np.any(pay < 0):
        raise ValueError(
            f"{name}: contracts have limited liability, payments must be >= 0; got minimum "
            f"{pay.min():.6g}. Clip negative payments to 0."
        )
    return pay


def agent_best_response(
    outcome_probs, costs, payments, *, preferred: int | None = None, tol: float = _TIE_TOL
) -> int:
    """The agent's best action under a contract, ties broken towards ``preferred``.

    Parameters
    ----------
    outcome_probs
        (n_actions, n_outcomes)
    costs
        (n_actions,)
    payments
        (n_outcomes,) non-negative payments.
    preferred
        the action chosen among (``tol``-)tied best actions, e.g. the principal's
        recommendation; None picks the lowest index.

    Examples
    --------
    >>> agent_best_response([[0.9, 0.1], [0.1, 0.9]], [0.0, 0.4], [0.0, 0.5], preferred=1)
    1
    """
    probs, cost, _ = validate_contract_problem(outcome_probs, costs)
    pay = _check_payments(payments, probs.shape[1])
    util = probs @ pay - cost
    best = util.max()
    if preferred is not None and util[int(preferred)] >= best - tol:
        return int(preferred)
    return int(np.argmax(util))


def optimal_contract(
    outcome_probs, costs, principal_rewards, *, margin: float = 0.0
) -> ContractResult:
    """The principal's optimal contract: one minimal-payment LP per action on HiGHS.

    Parameters
    ----------
    outcome_probs
        (n_actions, n_outcomes) ``outcome_probs[a, o] = P(o | a)``.
    costs
        (n_actions,) the agent's cost of each action.
    principal_rewards
        (n_outcomes,) the principal's reward per outcome.
    margin
        IC margin ``xi >= 0``: the implemented action must beat every other by ``xi``.

    Returns
    -------
    ContractResult

    Examples
    --------
    Two actions, two outcomes: pay only on the good outcome, ``cost / (p_high - p_low)``.

    >>> res = optimal_contract([[0.8, 0.2], [0.2, 0.8]], [0.0, 0.3], [0.0, 2.0])
    >>> res.action, np.round(res.payments, 6).tolist(), round(res.principal_utility, 6)
    (1, [0.0, 0.5], 1.2)
    """
    probs, cost, rewards = validate_contract_problem(outcome_probs, costs, principal_rewards)
    xi = check_float(margin, "margin", low=0.0)
    n_actions, n_outcomes = probs.shape
    action_payments = np.full((n_actions, n_outcomes), np.nan)
    expected = np.full(n_actions, np.inf)
    for a in range(n_actions):
        others = [k for k in range(n_actions) if k != a]
        if others:
            a_ub = probs[others] - probs[a]
            b_ub = cost[others] - cost[a] - xi
        else:
            a_ub, b_ub = None, None
        try:
            res = solve_lp(probs[a], A_ub=a_ub, b_ub=b_ub, bounds=(0, None))
        except InfeasibleError:
            continue
        pay = np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)
        action_payments[a] = pay
        expected[a] = probs[a] @ pay
    implementable = np.isfinite(expected)
    if not implementable.any():  # impossible when margin == 0: the agent's own best action is free
        raise ValueError(f"margin: no action can be implemented with margin {xi}; lower it.")
    utilities = np.where(implementable, probs @ rewards - expected, -np.inf)
    best = int(np.argmax(utilities))
    pay = action_payments[best]
    return ContractResult(
        payments=pay,
        action=best,
        principal_utility=float(utilities[best]),
        agent_utility=float(probs[best] @ pay - cost[best]),
        implementable=implementable,
        action_payments=action_payments,
        expected_payments=expected,
        action_utilities=utilities,
    )


def minimal_contracts_two_actions(outcome_probs, qbar, margin: float = 0.0):
    """Closed-form minimal implementing contracts for two actions, vectorised over a batch.

    With two actions, the LP of the target ``t`` against the other action ``u`` has the single
    constraint ``(P[t] - P[u]) . b >= gap = qbar[u] - qbar[t] + margin``. If ``gap <= 0`` the zero
    contract works; otherwise pay ``gap / (P[t,o] - P[u,o])`` on the outcome ``o`` with the largest
    ratio ``(P[t,o] - P[u,o]) / P[t,o]``; if no outcome is likelier under ``t``, ``t`` cannot be
    implemented.

    Parameters
    ----------
    outcome_probs
        (..., 2, n_outcomes) numpy array or torch tensor.
    qbar
        (..., 2) the agent's value of each action excluding this step's payment (``-cost`` in
        the one-shot problem).
    margin
        IC margin ``xi >= 0``: a float, or (with torch inputs) a tensor of shape (...,), one
        margin per problem of the batch, or of shape (..., 2), one margin per target action.

    Returns
    -------
    payments
        (..., 2, n_outcomes) the minimal contract for each target action (0 where not
        implementable).
    expected
        (..., 2) its expected payment under the target (``inf`` where not implementable).
    feasible
        (..., 2) bool.
    """
    import torch

    is_torch = isinstance(outcome_probs, torch.Tensor)
    if is_torch and isinstance(margin, torch.Tensor):
        batch = tuple(outcome_probs.shape[:-2])
        if tuple(margin.shape) not in (batch, (*batch, 2)) or bool((margin < 0).any()):
            raise ValueError(f"margin: expected a non-negative tensor of shape {batch} or "
                             f"{(*batch, 2)}, got {tuple(margin.shape)}.")
        margin = margin.to(outcome_probs.dtype)
        if tuple(margin.shape) == batch:
            margin = margin.unsqueeze(-1)
    else:
        margin = check_float(margin, "margin", low=0.0)
    xp_probs = outcome_probs if is_torch else torch.as_tensor(np.asarray(outcome_probs))
    xp_q = qbar if is_torch else torch.as_tensor(np.asarray(qbar, dtype=np.float64))
    xp_q = xp_q.to(xp_probs.dtype)
    if xp_probs.dim() < 2 or xp_probs.shape[-2] != 2:
        raise ValueError(f"outcome_probs: expected shape (..., 2, n_outcomes), got "
                         f"{tuple(xp_probs.shape)}; use the LP for more than two actions.")
    if tuple(xp_q.shape) != tuple(xp_probs.shape[:-1]):
        raise ValueError(f"qbar: expected shape {tuple(xp_probs.shape[:-1])} to match "
                         f"outcome_probs, got {tuple(xp_q.shape)}.")
    p_t = xp_probs  # (..., 2, O): target rows
    p_u = xp_probs.flip(-2)  # the other action's rows
    gap = xp_q.flip(-1) - xp_q + margin  # (..., 2)
    diff = p_t - p_u
    ratio = torch.where(diff > 0, diff / p_t.clamp_min(1e-300), torch.full_like(diff, -1.0))
    best_ratio, best_o = ratio.max(dim=-1)  # (..., 2)
    needs = gap > 0
    feasible = (~needs) | (best_ratio > 0)
    d_best = diff.gather(-1, best_o.unsqueeze(-1)).squeeze(-1)
    amount = torch.where(needs & feasible, gap / torch.where(d_best > 0, d_best, 1.0), 0.0)
    payments = torch.zeros_like(p_t)
    payments.scatter_(-1, best_o.unsqueeze(-1), amount.unsqueeze(-1))
    expected = torch.where(feasible, (payments * p_t).sum(-1), torch.full_like(amount, np.inf))
    if not is_torch:
        return payments.numpy(), expected.numpy(), feasible.numpy()
    return payments, expected, feasible
