"""ABCs: adaptive branching through child stationarity (D'Amico-Wong, Zhang, Lanctot, Parkes 2024).

"Easy as ABCs: Unifying Boltzmann Q-Learning and Counterfactual Regret Minimization" (arXiv
2402.11835, sec. 4, Algorithm 1). Each round, every player in turn traverses the environment from its
own point of view (chance and the others' moves are sampled from their exploration policies). At a
visited information set ``I`` every legal action is queried one step (each query is one *node
touched*, the budget unit), the sampled child outcome (next state, or the reward at the end) is
appended to a window of at most 1000 outcomes per ``(I, a)``, and:

- the sampled action is always expanded (recursed into), as in Boltzmann Q-learning;
- every action whose outcomes look *non-stationary* is expanded too (at most once per round), as in
  CFR. Stationarity of ``(I, a)``: fewer than 10 outcomes, or a chi-squared contingency test of the
  window's first half against its second half (the p-value of ``scipy.stats.chi2_contingency``,
  recomputed by :func:`chi2_pvalue` without scipy's per-call overhead) with p > 0.05; results are
  cached, the cache is cleared with probability 0.05 per round. Outcomes are stored as hashes in a
  ring buffer, so continuous outcomes (CartPole states) cost no memory beyond the window;
- ``Q(I, a)`` is the running mean of ``r + max_b Q(I', b)`` (the child's values before its own
  update), plus, at non-stationary actions, the paper's correction that replaces the child's mean by
  its latest update;
- exploration: unvisited actions first; then ``softmax(Q / T)`` where ``I`` is stationary (every
  action is) and ``softmax(N_max * Q)`` elsewhere; ``T`` starts at 1 and is multiplied by 0.99 every
  20 rounds. The average policy accumulates the exploration policy at every visit.

``stationarity`` picks the test: ``"test"`` (ABCs), ``"oracle"`` (the environment's ground truth: no
other player can move before the traverser's next decision; for tests), ``"stationary"`` (Boltzmann
Q-learning, see :mod:`econcs.abcs._bql`) or ``"nonstationary"`` (every action expanded: the paper's
MAX-CFR-like baseline).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Literal

import numpy as np
from scipy.special import chdtrc

from econcs.abcs._cartpole import CartPoleEnv
from econcs.abcs._cartpole_leduc import CartPoleLeducEnv
from econcs.abcs._env_tools import env_metrics, legal_mask
from econcs.abcs._game import CompiledGame
from econcs.abcs._policy import Policy, normalise_rows
from econcs.abcs._sampling import SamplingLearner
from econcs.abcs._tabular_mdp import TabularMDP
from econcs.abcs._tree_env import TreeEnv
from econcs.shared import Params, make_rng, param, resolve_params

__all__ = ["ABCs", "ABCsParams", "BoltzmannParams", "chi2_pvalue"]


def chi2_pvalue(table: np.ndarray) -> float:
    """p-value of ``scipy.stats.chi2_contingency(table)`` (Pearson, Yates-corrected when
    ``dof == 1``), computed without scipy's per-call overhead; ``table`` has no all-zero column.

    Examples
    --------
    >>> round(chi2_pvalue(np.array([[10, 20], [20, 10]])), 4)
    0.0201
    """
    table = np.asarray(table, dtype=np.float64)
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    if dof == 0:
        return 1.0
    if dof == 1:
        diff = expected - table
        table = table + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    stat = float((((table - expected) ** 2) / expected).sum())
    return float(chdtrc(dof, stat))


@dataclasses.dataclass(frozen=True)
class BoltzmannParams(Params):
    """The parameters ABCs and Boltzmann Q-learning share (the Q-learning side of ABCs)."""

    temperature: float = param(1.0, "initial Boltzmann temperature", low=0.0,
                               low_inclusive=False)
    temperature_decay: float = param(0.99, "temperature factor every decay_every rounds",
                                     low=0.0, high=1.0, low_inclusive=False)
    decay_every: int = param(20, "rounds between temperature decays", low=1)
    gamma: float = param(1.0, "discount", low=0.0, high=1.0)
    lr_power: float = param(1.0, "Q step size n**-lr_power (1 = running mean, as in the paper)",
                            low=0.0, high=1.0)


@dataclasses.dataclass(frozen=True)
class ABCsParams(BoltzmannParams):
    """Parameters of :class:`ABCs` (D'Amico-Wong et al. 2024, sec. 4 and Algorithm 1)."""

    stationarity: Literal["test", "oracle", "stationary", "nonstationary"] = param(
        "test", "stationarity test (test = ABCs; oracle, stationary = BQL, nonstationary)")
    alpha: float = param(0.05, "significance level of the test (stationary iff p > alpha)",
                         low=0.0, high=1.0)
    window: int = param(1000, "outcomes kept per (infoset, action)", low=2)
    min_samples: int = param(10, "outcomes needed before testing", low=2)
    cache_clear_prob: float = param(0.05, "probability of clearing the test cache per round",
                                    low=0.0, high=1.0)
    boltzmann: bool = param(True, "softmax(Q / T) at stationary infosets (else softmax(N_max Q))")


class ABCs(SamplingLearner):
    """ABCs (and, through ``stationarity``, Boltzmann Q-learning and a MAX-CFR-like baseline).

    Parameters
    ----------
    env
        a compiled game (wrapped in :class:`~econcs.abcs.TreeEnv`), or an environment:
        :class:`~econcs.abcs.TreeEnv`, :class:`~econcs.abcs.TabularMDP`,
        :class:`~econcs.abcs.CartPoleEnv`, :class:`~econcs.abcs.CartPoleLeducEnv`.
    params
        an :class:`ABCsParams` (default ``ABCsParams()``), or its fields as keyword ``overrides``:

        - ``stationarity``: ``"test"``, ``"oracle"``, ``"stationary"`` or ``"nonstationary"``;
        - ``temperature``: initial Boltzmann temperature (> 0); ``temperature_decay``,
          ``decay_every``: the temperature is multiplied by ``temperature_decay`` every
          ``decay_every`` rounds;
        - ``alpha``: significance level of the stationarity test (stationary iff p > alpha);
        - ``window``, ``min_samples``: outcome window length and the samples needed before
          testing; ``cache_clear_prob``: probability of clearing the test cache per round;
        - ``gamma``: discount; ``boltzmann``: Boltzmann exploration ``softmax(Q / T)`` at
          stationary information sets (else ``softmax(N_max * Q)`` everywhere);
        - ``lr_power``: the ``n``-th update of ``Q(I, a)`` has step size ``n ** -lr_power``: 1 is
          the paper's running mean; smaller values forget stale bootstrapped targets faster
          (useful on MDPs with long horizons and ``gamma = 1``; 0 replaces ``Q`` by each new
          target).
    seed, rng
        the seed of the learner's ``numpy.random.Generator``, or the generator itself (``rng``
        wins when given).

    Examples
    --------
    >>> from econcs.abcs import load_game
    >>> learner = ABCs(load_game("kuhn_poker"), seed=0)
    >>> result = learner.run(budget_nodes=20_000)
    >>> result.nodes_touched >= 20_000 and 0.0 <= result.metric < 0.5
    True
    """

    def __init__(self, env: Any, params: ABCsParams | None = None, /, *, seed: Any = 0,
                 rng: np.random.Generator | None = None, **overrides: Any) -> None:
        p = resolve_params(ABCsParams, params, **overrides)
        if isinstance(env, CompiledGame):
            env = TreeEnv(env)
        if not isinstance(env, (TreeEnv, TabularMDP, CartPoleEnv, CartPoleLeducEnv)):
            if not all(hasattr(env, m) for m in ("reset", "step", "infoset", "legal",
                                                 "outcome_key", "n_infosets", "n_actions")):
                raise TypeError("env: expected a CompiledGame or an environment with reset, step, "
                                f"infoset, legal and outcome_key; got {type(env).__name__}.")
        self.env = env
        self.params = p
        self.stationarity = p.stationarity
        self.temperature = p.temperature  # decays during the run
        self.temperature_decay = p.temperature_decay
        self.decay_every = p.decay_every
        self.alpha = p.alpha
        self.window = p.window
        self.min_samples = p.min_samples
        self.cache_clear_prob = p.cache_clear_prob
        self.gamma = p.gamma
        self.boltzmann = p.boltzmann
        self.lr_power = p.lr_power
        self.rng = rng if rng is not None else make_rng(seed)
        n_i, n_a = env.n_infosets, env.n_actions
        # Python lists: the traversal touches single entries, where lists beat numpy indexing
        self._q = [[0.0] * n_a for _ in range(n_i)]
        self._n = [[0] * n_a for _ in range(n_i)]
        self._nmax = [0] * n_i
        self._cum = [[0.0] * n_a for _ in range(n_i)]
        self._legal: dict[int, list[int]] = {}
        self.iteration = 0
        self.nodes_touched = 0
        self.n_stationary_checks = 0
        self.n_nonstationary_checks = 0
        self._windows: dict[tuple[int, int], tuple[np.ndarray, list[int]]] = {}
        self._cache: dict[tuple[int, int], bool] = {}
        self._budget = np.inf
        self._policy_fn = self._sample_action

    # learned tables (numpy views of the internal lists) ------------------------------------------
    @property
    def q(self) -> np.ndarray:
        """(n_infosets, n_actions) Q-values."""
        return np.array(self._q, dtype=np.float64)

    @property
    def counts(self) -> np.ndarray:
        """(n_infosets, n_actions) update counts."""
        return np.array(self._n, dtype=np.int64)

    @property
    def cumulative_policy(self) -> np.ndarray:
        """(n_infosets, n_actions) summed exploration policies."""
        return np.array(self._cum, dtype=np.float64)

    def _legal_of(self, infoset: int) -> list[int]:
        legal = self._legal.get(infoset)
        if legal is None:
            legal = self._legal[infoset] = [int(a) for a in self.env.legal(infoset)]
        return legal

    def _legal_mask(self) -> np.ndarray:
        return legal_mask(self.env)

    # stationarity -------------------------------------------------------------------------------
    def is_stationary(self, infoset: int, action: int) -> bool:
        """Whether ``(infoset, action)``'s child outcomes look stationary (cached)."""
        mode = self.stationarity
        if mode == "stationary":
            return True
        if mode == "nonstationary":
            return False
        if mode == "oracle":
            return self.env.oracle_stationary(infoset, action)
        key = (infoset, action)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        entry = self._windows.get(key)
        if entry is None or entry[1][0] < self.min_samples:
            self._cache[key] = True
            return True
        buf, (size, pos) = entry
        arr = buf[:size] if size < self.window else np.concatenate((buf[pos:], buf[:pos]))
        half = arr.shape[0] // 2
        _, inv = np.unique(arr, return_inverse=True)
        k = int(inv.max()) + 1
        if k <= 1:
            result = True
        else:
            table = np.vstack([np.bincount(inv[:half], minlength=k),
                               np.bincount(inv[half:], minlength=k)])
            result = chi2_pvalue(table) > self.alpha
        if result:
            self.n_stationary_checks += 1
        else:
            self.n_nonstationary_checks += 1
        self._cache[key] = result
        return result

    def _infoset_stationary(self, infoset: int) -> bool:
        return all(self.is_stationary(infoset, a) for a in self._legal_of(infoset))

    # policies -----------------------------------------------------------------------------------
    def _probs(self, infoset: int, legal: list[int]) -> list[float]:
        n = self._n[infoset]
        unvisited = [1.0 if n[a] == 0 else 0.0 for a in legal]
        total = sum(unvisited)
        if total > 0:
            return [u / total for u in unvisited]
        q = self._q[infoset]
        if self.boltzmann and self._infoset_stationary(infoset):
            scale = 1.0 / self.temperature
        else:
            scale = float(self._nmax[infoset])
        logits = [q[a] * scale for a in legal]
        m = max(logits)
        e = [math.exp(x - m) for x in logits]
        s = sum(e)
        return [x / s for x in e]

    def _draw(self, probs: list[float]) -> int:
        u = self.rng.random()
        acc = 0.0
        for k, pr in enumerate(probs):
            acc += pr
            if u < acc:
                return k
        return len(probs) - 1

    def _sample_action(self, infoset: int) -> int:
        legal = self._legal_of(infoset)
        return legal[self._draw(self._probs(infoset, legal))]

    def current_probs(self) -> np.ndarray:
        """(n_infosets, n_actions) current policy ``softmax(N_max * Q)`` (uniform if unvisited)."""
        mask = self._legal_mask()
        logits = np.where(mask, self.q * np.array(self._nmax, dtype=np.float64)[:, None], -np.inf)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def average_probs(self) -> np.ndarray:
        """(n_infosets, n_actions) normalised cumulative exploration policy (uniform if none)."""
        return normalise_rows(self.cumulative_policy, self._legal_mask())

    # traversal ----------------------------------------------------------------------------------
    def _record(self, infoset: int, action: int, key: Any) -> None:
        entry = self._windows.get((infoset, action))
        if entry is None:
            entry = self._windows[(infoset, action)] = (
                np.zeros(self.window, dtype=np.int64), [0, 0])
        buf, meta = entry
        # ring buffer of outcome hashes: meta = [size, next write position]; oldest at pos when full
        buf[meta[1]] = hash(key)
        meta[1] = (meta[1] + 1) % self.window
        if meta[0] < self.window:
            meta[0] += 1

    def _traverse(self, p: int, state: Any) -> None:
        if self.nodes_touched > self._budget:
            return
        env = self.env
        info = env.infoset(state)
        legal = self._legal_of(info)
        probs = self._probs(info, legal)
        sampled = legal[self._draw(probs)]
        children = []
        for b in legal:
            expand = b == sampled or (not self.is_stationary(info, b)
                                      and (info, b) not in self._expanded)
            self.nodes_touched += 1
            ns, r, term, trunc = env.step(state, b, p, self._policy_fn, self.rng)
            self._record(info, b, env.outcome_key(ns, r, term))
            if term:
                children.append((r, -1, None, None))
                continue
            nxt = env.infoset(ns)
            nlegal = self._legal_of(nxt)
            qn = self._q[nxt]
            old_q = [qn[a] for a in nlegal]
            if expand and not trunc:
                self._expanded.add((info, b))
                self._traverse(p, ns)
            children.append((r, nxt, nlegal, old_q))
        self._update(info, legal, children, probs)

    def _update(self, info: int, legal: list[int], children: list, probs: list[float]) -> None:
        q, n, cum = self._q[info], self._n[info], self._cum[info]
        for idx, b in enumerate(legal):
            r, nxt, nlegal, old_q = children[idx]
            target = r
            if nxt >= 0:
                best = max(old_q)
                target += self.gamma * best
                if not self.is_stationary(info, b) and (info, b) not in self._updated:
                    nn, qn = self._n[nxt], self._q[nxt]
                    ties = [k for k, v in enumerate(old_q) if v == best]
                    corr = 0.0
                    for k in ties:
                        a = nlegal[k]
                        # the child's latest target: new = old + (x - old) * n**-lr_power
                        recon = (old_q[k] + (qn[a] - old_q[k]) * nn[a] ** self.lr_power
                                 if nn[a] > 0 else old_q[k])
                        corr += recon - qn[a]
                    target += self.gamma * corr / len(ties)
            c = n[b]
            q[b] += (target - q[b]) / (c + 1) ** self.lr_power
            n[b] = c + 1
            if c + 1 > self._nmax[info]:
                self._nmax[info] = c + 1
            cum[b] += probs[idx]
            self._updated.add((info, b))

    # state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (the generator excepted): tables, outcome
        windows, the test cache and counters; JSON-compatible values plus numpy arrays."""
        windows = [[i, a, buf[: meta[0]].tolist() if meta[0] < self.window else buf.tolist(),
                    meta[0], meta[1]] for (i, a), (buf, meta) in self._windows.items()]
        return {
            "q": np.array(self._q), "counts": np.array(self._n, dtype=np.int64),
            "max_count": np.array(self._nmax, dtype=np.int64),
            "cumulative_policy": np.array(self._cum),
            "json": json.dumps({
                "windows": windows, "cache": [[i, a, v] for (i, a), v in self._cache.items()],
                "iteration": self.iteration, "nodes_touched": self.nodes_touched,
                "temperature": self.temperature,
                "checks": [self.n_stationary_checks, self.n_nonstationary_checks]}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (of a learner on the same environment)."""
        self._q = np.asarray(state["q"], dtype=np.float64).tolist()
        self._n = np.asarray(state["counts"], dtype=np.int64).tolist()
        self._nmax = np.asarray(state["max_count"], dtype=np.int64).tolist()
        self._cum = np.asarray(state["cumulative_policy"], dtype=np.float64).tolist()
        extra = json.loads(state["json"])
        self._windows = {}
        for i, a, items, size, pos in extra["windows"]:
            buf = np.zeros(self.window, dtype=np.int64)
            buf[: len(items)] = items
            self._windows[(i, a)] = (buf, [size, pos])
        self._cache = {(i, a): bool(v) for i, a, v in extra["cache"]}
        self.iteration = int(extra["iteration"])
        self.nodes_touched = int(extra["nodes_touched"])
        self.temperature = float(extra["temperature"])
        self.n_stationary_checks, self.n_nonstationary_checks = extra["checks"]

    def iterate(self) -> None:
        """One round: a traversal for each player in turn."""
        if self.stationarity == "test" and self.rng.random() < self.cache_clear_prob:
            self._cache.clear()
        self._updated: set[tuple[int, int]] = set()
        self._expanded: set[tuple[int, int]] = set()
        for p in range(self.env.n_players):
            state, _, term = self.env.reset(p, self._policy_fn, self.rng)
            if not term:
                self._traverse(p, state)
        self.iteration += 1
        if self.boltzmann and self.iteration % self.decay_every == 0:
            self.temperature *= self.temperature_decay

    # evaluation ---------------------------------------------------------------------------------
    def evaluate(self, rng: np.random.Generator | None = None) -> dict[str, float]:
        """Metrics of the environment: ``exploitability`` of the average policy (games), exact
        ``return`` of the current policy (tabular MDPs), mean ``return`` of the current policy
        over 100 episodes (CartPole); both for CartPole + Leduc (exploitability of the Leduc
        part). ``rng`` draws the evaluation episodes (default: the learner's own generator, so
        pass a separate one to keep evaluations from changing the training run)."""
        rng = self.rng if rng is None else rng
        return env_metrics(self.env, self.current_probs(), self.average_probs(), rng)

    def policy(self) -> Policy | None:
        """The average policy as a :class:`~econcs.abcs.Policy` (games only)."""
        if isinstance(self.env, TreeEnv):
            return Policy(self.average_probs(), self.env.game.infoset_keys)
        return None

    # the run loop's hooks (:class:`~econcs.abcs._sampling.SamplingLearner`) ----------------------
    @property
    def metric_key(self) -> str:
        """``exploitability`` on games (and CartPole + Leduc), ``return`` on MDPs."""
        return "exploitability" if isinstance(self.env, (TreeEnv, CartPoleLeducEnv)) else "return"

    def _result_policy(self) -> Policy | None:
        return self.policy()

    def _set_budget(self, budget_nodes: float) -> None:
        self._budget = budget_nodes

    def _recursion_limit(self) -> int:
        # one frame per step of an episode: an MDP's, CartPole's (twice: CartPole + Leduc)
        depth = getattr(self.env, "max_steps", 0) + 2 * getattr(
            getattr(self.env, "cartpole", None), "max_steps", 0) + 100
        return 3 * depth + 1000
