"""Subgame-perfect equilibria of principal-agent MDPs: backward induction and the meta-algorithm.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074), Section 3. Write ``Qbar(s, a) = r(s, a) + gamma E_{o, s'} V(s')`` for the agent's value
of action ``a`` excluding this step's payment. Given ``Qbar``, the cheapest contract implementing a
target ``a_p`` at ``s`` is the one-shot LP of :mod:`._oneshot` with ``-cost`` replaced by
``Qbar(s, .)`` (ties broken in the principal's favour). The principal then solves its own MDP
over targets, with reward ``E_{o ~ O(s, a_p)} [rp(s, o) - b*(s, a_p)(o)]``.

- :func:`solve_spe` does this exactly by backward induction over an acyclic MDP, one HiGHS LP per
  (state, action).
- :func:`meta_algorithm` is the paper's tabular meta-algorithm: it alternates the agent's best
  response to the principal's contract policy (value iteration) and the principal's optimal policy
  against the agent's ``Qbar``; its fixed point is the SPE, reached after at most ``horizon + 1``
  rounds in finite-horizon MDPs (Theorem 3.3). It uses the vectorised closed form for two actions
  and LPs otherwise.
- :func:`evaluate_contracts` evaluates any contract policy against an exactly rational agent.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np

from econcs.contracts._mdp import PrincipalAgentMDP
from econcs.contracts._oneshot import minimal_contracts_two_actions
from econcs.shared.callbacks import history_tuple
from econcs.shared.dp import value_iteration
from econcs.shared.errors import ConvergenceWarning
from econcs.shared.params import Params, param, resolve_params
from econcs.shared.solvers import InfeasibleError, solve_lp
from econcs.shared.validation import check_array, check_choice, check_float

__all__ = [
    "ContractPolicyEvaluation",
    "MetaAlgorithmParams",
    "SPEResult",
    "evaluate_contracts",
    "meta_algorithm",
    "minimal_implementing_contracts",
    "solve_spe",
]

_TIE_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class SPEResult:
    """A (subgame-perfect) contract policy and its values.

    Attributes
    ----------
    principal_utility
        the principal's value at the initial state.
    agent_utility
        the agent's value at the initial state.
    contracts
        (n_states, n_outcomes) the contract offered at each state.
    actions
        (n_states,) the action implemented at each state.
    principal_values, agent_values
        (n_states,) values per state.
    agent_qbar
        (n_states, n_actions) the agent's ``Qbar`` (excluding this step's payment).
    status
        ``"optimal"`` or ``"max_iter"``.
    iterations
        rounds of the meta-algorithm (number of states for backward induction).
    history
        one row per round of the meta-algorithm, ``{"step": round, "principal_utility": ...}``
        (backward induction: one row, at ``step = iterations``).
    """

    principal_utility: float
    agent_utility: float
    contracts: np.ndarray
    actions: np.ndarray
    principal_values: np.ndarray
    agent_values: np.ndarray
    agent_qbar: np.ndarray
    status: str
    iterations: int
    history: tuple[dict[str, float], ...] = dataclasses.field(default=(), repr=False)

    @property
    def converged(self) -> bool:
        return self.status == "optimal"


@dataclasses.dataclass(frozen=True)
class ContractPolicyEvaluation:
    """A contract policy played against an exactly best-responding agent.

    Attributes
    ----------
    principal_utility, agent_utility
        values at the initial state.
    actions
        (n_states,) the agent's best response (ties towards the recommendation).
    principal_values, agent_values
        (n_states,)
    agent_qbar
        (n_states, n_actions)
    """

    principal_utility: float
    agent_utility: float
    actions: np.ndarray
    principal_values: np.ndarray
    agent_values: np.ndarray
    agent_qbar: np.ndarray


def _continuation(mdp: PrincipalAgentMDP, values: np.ndarray) -> np.ndarray:
    """(n_states, n_outcomes) expected next-state value ``E_{s' ~ T(s, o)} values(s')``."""
    return mdp.transitions @ values


def _agent_values(mdp, contracts, tol, max_iter):
    """The agent's optimal values and ``Qbar`` against a Markov contract policy."""
    pay = np.einsum("sao,so->sa", mdp.outcome_probs, contracts)

    def qbar_of(v):
        return mdp.agent_rewards + mdp.gamma * np.einsum(
            "sao,so->sa", mdp.outcome_probs, _continuation(mdp, v))

    v = value_iteration(lambda v: (qbar_of(v) + pay).max(1), np.zeros(mdp.n_states),
                        gamma=mdp.gamma, tol=tol, max_iter=max_iter,
                        name="agent best response").values
    return v, qbar_of(v)


def _check_contracts(mdp: PrincipalAgentMDP, contracts) -> np.ndarray:
    b = check_array(contracts, "contracts", shape=(mdp.n_states, mdp.n_outcomes))
    if np.any(b < 0):
        raise ValueError(
            f"contracts: payments must be >= 0 (limited liability), got minimum {b.min():.6g}."
        )
    return b


def evaluate_contracts(
    mdp: PrincipalAgentMDP, contracts, recommended=None, *, tol: float = 1e-10,
    max_iter: int = 100_000,
) -> ContractPolicyEvaluation:
    """Play a Markov contract policy against an agent that best-responds exactly.

    Parameters
    ----------
    mdp
        the principal-agent MDP.
    contracts
        (n_states, n_outcomes) non-negative payments offered at each state.
    recommended
        (n_states,) or None, the action the principal intends at each state; the agent
        takes it whenever it is among its (``1e-9``-tied) best actions.
    """
    if not isinstance(mdp, PrincipalAgentMDP):
        raise TypeError(f"mdp: expected a PrincipalAgentMDP, got {type(mdp).__name__}.")
    b = _check_contracts(mdp, contracts)
    v, qbar = _agent_values(mdp, b, tol, max_iter)
    q = qbar + np.einsum("sao,so->sa", mdp.outcome_probs, b)
    actions = q.argmax(1)
    if recommended is not None:
        rec = check_array(recommended, "recommended", shape=(mdp.n_states,), dtype=np.int64)
        if np.any(rec < 0) or np.any(rec >= mdp.n_actions):
            raise ValueError(f"recommended: expected actions in [0, {mdp.n_actions - 1}].")
        ok = q[np.arange(mdp.n_states), rec] >= q.max(1) - _TIE_TOL
        actions = np.where(ok, rec, actions)
    vp = _principal_values(mdp, b, actions, tol, max_iter)
    s0 = mdp.initial_state
    return ContractPolicyEvaluation(float(vp[s0]), float(v[s0]), actions, vp, v, qbar)


def _principal_values(mdp, contracts, actions, tol=1e-10, max_iter=100_000) -> np.ndarray:
    """(n_states,) principal's values when the agent takes ``actions`` under ``contracts``."""
    probs = mdp.outcome_probs[np.arange(mdp.n_states), actions]  # (S, O)
    reward = np.einsum("so,so->s", probs, mdp.principal_rewards - contracts)

    def principal_update(vp):
        return reward + mdp.gamma * np.einsum("so,so->s", probs, _continuation(mdp, vp))

    return value_iteration(principal_update, np.zeros(mdp.n_states), gamma=mdp.gamma, tol=tol,
                           max_iter=max_iter, name="principal policy evaluation").values


def _minimal_contract_lp(probs: np.ndarray, qbar: np.ndarray, target: int, margin: float):
    """Minimal implementing contract of ``target`` for one state by HiGHS; None if infeasible."""
    others = [k for k in range(probs.shape[0]) if k != target]
    if not others:
        return np.zeros(probs.shape[1])
    a_ub = probs[others] - probs[target]
    b_ub = qbar[target] - qbar[others] - margin
    try:
        res = solve_lp(probs[target], A_ub=a_ub, b_ub=b_ub, bounds=(0, None))
    except InfeasibleError:
        return None
    return np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)


def minimal_implementing_contracts(outcome_probs, qbar, *, margin: float = 0.0,
                                   method: str = "auto"):
    """Minimal implementing contract of every target action at every state.

    Parameters
    ----------
    outcome_probs
        (n_states, n_actions, n_outcomes)
    qbar
        (n_states, n_actions) the agent's values excluding this step's payment.
    margin
        IC margin ``xi >= 0`` (nudging).
    method
        ``"auto"`` (closed form for two actions, else LP), ``"lp"`` or ``"closed_form"``.

    Returns
    -------
    payments
        (n_states, n_actions, n_outcomes), zero rows where infeasible.
    expected
        (n_states, n_actions) expected payment (``inf`` where infeasible).
    feasible
        (n_states, n_actions) bool.
    """
    probs = check_array(outcome_probs, "outcome_probs", ndim=3)
    q = check_array(qbar, "qbar", shape=probs.shape[:2])
    margin = check_float(margin, "margin", low=0.0)
    method = check_choice(method, "method", ["auto", "lp", "closed_form"])
    n_actions = probs.shape[1]
    if method == "closed_form" and n_actions != 2:
        raise ValueError(f"method: 'closed_form' needs 2 actions, got {n_actions}; use 'lp'.")
    if method != "lp" and n_actions == 2:
        return minimal_contracts_two_actions(probs, q, margin)
    payments = np.zeros(probs.shape)
    feasible = np.zeros(probs.shape[:2], dtype=bool)
    for s in range(probs.shape[0]):
        for a in range(n_actions):
            pay = _minimal_contract_lp(probs[s], q[s], a, margin)
            if pay is not None:
                payments[s, a] = pay
                feasible[s, a] = True
    expected = np.where(feasible, np.einsum("sao,sao->sa", probs, payments), np.inf)
    return payments, expected, feasible


def solve_spe(mdp: PrincipalAgentMDP) -> SPEResult:
    """The exact SPE of an acyclic principal-agent MDP by backward induction (LPs on HiGHS).

    Examples
    --------
    >>> from econcs.contracts import make_tree_mdp
    >>> spe = solve_spe(make_tree_mdp(depth=4, seed=0))
    >>> spe.contracts.shape, bool(spe.contracts.min() >= 0)
    ((15, 2), True)
    """
    if not isinstance(mdp, PrincipalAgentMDP):
        raise TypeError(f"mdp: expected a PrincipalAgentMDP, got {type(mdp).__name__}.")
    order = mdp.topological_order()
    if order is None:
        raise ValueError("mdp: backward induction needs an acyclic MDP; use meta_algorithm().")
    n_s, n_a, n_o = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    v = np.zeros(n_s)
    vp = np.zeros(n_s)
    qbar_all = np.zeros((n_s, n_a))
    contracts = np.zeros((n_s, n_o))
    actions = np.zeros(n_s, dtype=np.int64)
    for s in order[::-1]:
        probs = mdp.outcome_probs[s]  # (A, O)
        cont_v = mdp.transitions[s] @ v  # (O,)
        cont_vp = mdp.transitions[s] @ vp
        qbar = mdp.agent_rewards[s] + mdp.gamma * probs @ cont_v
        gross = probs @ (mdp.principal_rewards[s] + mdp.gamma * cont_vp)  # (A,)
        best, best_val, best_pay = -1, -np.inf, None
        for a in range(n_a):
            pay = _minimal_contract_lp(probs, qbar, a, 0.0)
            if pay is None:
                continue
            val = gross[a] - probs[a] @ pay
            if val > best_val + _TIE_TOL:
                best, best_val, best_pay = a, val, pay
        actions[s], contracts[s], vp[s] = best, best_pay, best_val
        v[s] = qbar[best] + probs[best] @ best_pay
        qbar_all[s] = qbar
    s0 = mdp.initial_state
    return SPEResult(float(vp[s0]), float(v[s0]), contracts, actions, vp, v, qbar_all,
                     "optimal", n_s,
                     history_tuple([{"step": n_s, "principal_utility": float(vp[s0])}]))


@dataclasses.dataclass(frozen=True)
class MetaAlgorithmParams(Params):
    """Parameters of :func:`meta_algorithm` (Ivanov et al. 2024, Sec. 3, Algorithm 1)."""

    max_iter: int = param(1000, "maximum rounds of the meta-algorithm", low=1)
    tol: float = param(1e-10, "convergence tolerance of contracts and values", low=0.0,
                       low_inclusive=False)
    vi_max_iter: int = param(100_000, "maximum sweeps of each value iteration", low=1)
    method: Literal["auto", "lp", "closed_form"] = param(
        "auto", "minimal-contract solver (see minimal_implementing_contracts)")


def meta_algorithm(
    mdp: PrincipalAgentMDP, params: MetaAlgorithmParams | None = None, /, **overrides
) -> SPEResult:
    """The tabular meta-algorithm: alternate agent best response and principal optimisation.

    Round ``k``: (1) the agent best-responds to the contract policy ``rho_k`` (value iteration),
    giving ``Qbar_k``; (2) with ``Qbar_k`` fixed, the principal computes the minimal implementing
    contract of every (state, target) and solves its MDP over targets by value iteration; its greedy
    policy gives ``rho_{k+1}``. Stops when the contracts and the principal's value stop changing.

    Parameters
    ----------
    mdp
        the principal-agent MDP.
    params
        a :class:`MetaAlgorithmParams` (``max_iter`` rounds, ``tol``, ``vi_max_iter``,
        ``method``); ``**overrides`` change its fields (``meta_algorithm(mdp, max_iter=50)``).

    Examples
    --------
    >>> from econcs.contracts import make_tree_mdp
    >>> mdp = make_tree_mdp(depth=5, seed=1)
    >>> abs(meta_algorithm(mdp).principal_utility - solve_spe(mdp).principal_utility) < 1e-9
    True
    """
    if not isinstance(mdp, PrincipalAgentMDP):
        raise TypeError(f"mdp: expected a PrincipalAgentMDP, got {type(mdp).__name__}.")
    p = resolve_params(MetaAlgorithmParams, params, **overrides)
    max_iter, tol, vi_max_iter, method = p.max_iter, p.tol, p.vi_max_iter, p.method
    states = np.arange(mdp.n_states)
    contracts = np.zeros((mdp.n_states, mdp.n_outcomes))
    vp = np.zeros(mdp.n_states)
    history: list[dict[str, float]] = []
    status = "max_iter"
    for it in range(1, max_iter + 1):
        _, qbar = _agent_values(mdp, contracts, tol, vi_max_iter)
        pay, expected, feasible = minimal_implementing_contracts(
            mdp.outcome_probs, qbar, method=method)
        net = np.einsum("sao,so->sa", mdp.outcome_probs, mdp.principal_rewards) - np.where(
            feasible, expected, 0.0)

        def principal_update(values, net=net, feasible=feasible):
            cont = np.einsum("sao,so->sa", mdp.outcome_probs, _continuation(mdp, values))
            return np.where(feasible, net + mdp.gamma * cont, -np.inf).max(1)

        new_vp = value_iteration(principal_update, vp, gamma=mdp.gamma, tol=tol,
                                 max_iter=vi_max_iter, name="principal").values
        cont = np.einsum("sao,so->sa", mdp.outcome_probs, _continuation(mdp, new_vp))
        qp = np.where(feasible, net + mdp.gamma * cont, -np.inf)
        targets = qp.argmax(1)
        new_contracts = pay[states, targets]
        history.append({"step": it, "principal_utility": float(new_vp[mdp.initial_state])})
        done = (np.max(np.abs(new_contracts - contracts)) <= tol
                and np.max(np.abs(new_vp - vp)) <= tol and it > 1)
        contracts, vp = new_contracts, new_vp
        if done:
            status = "optimal"
            break
    else:
        warnings.warn(f"meta_algorithm: no fixed point after max_iter={max_iter} rounds.",
                      ConvergenceWarning, stacklevel=2)
    ev = evaluate_contracts(mdp, contracts, targets, tol=tol, max_iter=vi_max_iter)
    return SPEResult(ev.principal_utility, ev.agent_utility, contracts, ev.actions,
                     ev.principal_values, ev.agent_values, ev.agent_qbar, status, it,
                     history_tuple(history))
