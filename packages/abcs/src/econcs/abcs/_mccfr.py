"""Monte Carlo CFR: external sampling and outcome sampling on a compiled game.

External sampling (Lanctot et al. 2009, "Monte Carlo sampling for regret minimization in extensive
games", NeurIPS, sec. 3.2) samples chance and the opponents' actions and explores every action of the
traverser; outcome sampling (same paper, sec. 3.1) samples one terminal history per traversal with an
epsilon-greedy behaviour policy at the traverser's nodes and importance-weights the sampled values.
The conventions are those of OpenSpiel's ``external_sampling_mccfr`` (simple averaging at the next
player's nodes) and ``outcome_sampling_mccfr`` (no baseline, epsilon = 0.6). Traversals walk the
compiled arrays (node indices), never ``pyspiel`` states; the budget is counted in nodes touched.

Outcome sampling also runs on an environment seen by one traverser at a time (:mod:`econcs.abcs._tree_env`:
the paper's CartPole + Leduc tree, CartPole, a :class:`~econcs.abcs.TreeEnv`), where the other
player and chance move inside ``env.step``. The other player is drawn on-policy, so its and chance's
probabilities cancel from the importance weights, which reduce to the traverser's own sampling
reach ``q``: regrets at the traverser's node ``h`` gain ``(v(h, a) - v(h)) / q(h)`` with sampled
reward-to-go values (intermediate rewards, as in CartPole, count from the node on), and the other
player's average policy gains ``sigma(I) / q(h)`` at its nodes (OpenSpiel's stochastically
weighted averaging, unbiased up to a constant per information set for two players). One node is
touched per step of the environment, as for ABCs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from econcs.abcs._env_tools import env_metrics, legal_mask
from econcs.abcs._exploitability import exploitability
from econcs.abcs._game import CHANCE, TERMINAL, CompiledGame
from econcs.abcs._policy import Policy, normalise_rows
from econcs.abcs._regret import RegretTables, regret_matching
from econcs.abcs._sampling import SamplingLearner
from econcs.abcs._tree_env import TreeEnv
from econcs.shared import Params, make_rng, param, resolve_params

__all__ = ["MCCFR", "MCCFRParams"]


@dataclasses.dataclass(frozen=True)
class MCCFRParams(Params):
    """Parameters of :class:`MCCFR` (Lanctot et al. 2009, sec. 3)."""

    sampling: Literal["external", "outcome"] = param("external", "sampling scheme")
    epsilon: float = param(0.6, "outcome-sampling exploration of the traverser's behaviour policy",
                           low=0.0, high=1.0)


class MCCFR(RegretTables, SamplingLearner):
    """External- or outcome-sampling MCCFR on a compiled two-or-more-player game.

    Parameters
    ----------
    game
        a compiled game, or an environment (outcome sampling only; see the module docstring).
    params
        an :class:`MCCFRParams` or its fields as keyword ``overrides``: ``sampling``
        (``"external"`` or ``"outcome"``) and ``epsilon`` (exploration of outcome sampling's
        behaviour policy, in [0, 1]).
    seed, rng
        the learner's randomness, as for :class:`~econcs.abcs.ABCs`.

    Examples
    --------
    >>> from econcs.abcs import load_game
    >>> game = load_game("kuhn_poker")
    >>> result = MCCFR(game, sampling="external", seed=0).run(budget_nodes=200_000)
    >>> result.metric < 0.05
    True
    """

    def __init__(self, game: Any, params: MCCFRParams | None = None, /, *, seed: Any = 0,
                 rng: np.random.Generator | None = None, **overrides: Any) -> None:
        self.params = p = resolve_params(MCCFRParams, params, **overrides)
        self.sampling = p.sampling
        self.epsilon = p.epsilon
        self.rng = rng if rng is not None else make_rng(seed)
        self.iteration = 0
        self.nodes_touched = 0
        if isinstance(game, CompiledGame):
            self.game, self.env = game, None
            self._mask = game.legal_mask
            self._player = game.player.tolist()
            self._infoset = game.infoset.tolist()
            self._children = game.children
            self._chance_cdf = np.cumsum(game.chance_probs, axis=1)
            self._returns = game.returns
            self._legal = [np.flatnonzero(m) for m in game.legal_mask]
            shape = (game.n_infosets, game.n_actions)
        else:
            if not all(hasattr(game, a) for a in ("reset", "step", "infoset", "legal",
                                                  "n_players", "n_infosets", "n_actions")):
                raise TypeError("game: expected a CompiledGame or an environment with reset, "
                                f"step, infoset and legal; got {type(game).__name__}.")
            if self.sampling == "external":
                raise ValueError("sampling: external sampling explores every action of the "
                                 "traverser at every node, which an environment's long episodes "
                                 "do not allow; use sampling='outcome' (or pass a CompiledGame).")
            if game.n_players > 2:
                raise ValueError(f"game: outcome sampling on an environment supports one or two "
                                 f"players, got {game.n_players} (pass a CompiledGame).")
            self.game = game.game if isinstance(game, TreeEnv) else None
            self.env = game
            self._mask = legal_mask(game)
            self._legal = [np.flatnonzero(m) for m in self._mask]
            self._reach = 1.0
            shape = (game.n_infosets, game.n_actions)
        self.regrets = np.zeros(shape)
        self.cumulative_policy = np.zeros(shape)

    # helpers -----------------------------------------------------------------------------------
    def _rm(self, info: int) -> np.ndarray:
        legal = self._legal[info]
        r = np.maximum(self.regrets[info, legal], 0.0)
        s = r.sum()
        return r / s if s > 0 else np.full(legal.shape[0], 1.0 / legal.shape[0])

    def _sample(self, probs: np.ndarray) -> int:
        j = int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right"))
        return min(j, probs.shape[0] - 1)

    def _chance(self, node: int) -> tuple[int, float]:
        cdf = self._chance_cdf[node]
        j = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        j = min(j, cdf.shape[0] - 1)
        while self._children[node, j] < 0:  # padded columns of the cdf
            j -= 1
        return int(self._children[node, j]), float(self.game.chance_probs[node, j])

    # external sampling ---------------------------------------------------------------------------
    def _external(self, node: int, p: int) -> float:
        self.nodes_touched += 1
        pl = self._player[node]
        if pl == TERMINAL:
            return float(self._returns[node, p])
        if pl == CHANCE:
            return self._external(self._chance(node)[0], p)
        info = self._infoset[node]
        legal = self._legal[info]
        policy = self._rm(info)
        if pl != p:
            a = legal[self._sample(policy)]
            value = self._external(int(self._children[node, a]), p)
            if pl == (p + 1) % self.game.n_players:
                self.cumulative_policy[info, legal] += policy
            return value
        values = np.array([self._external(int(self._children[node, a]), p) for a in legal])
        value = float(policy @ values)
        self.regrets[info, legal] += values - value
        return value

    # outcome sampling ----------------------------------------------------------------------------
    def _outcome(self, node: int, p: int, my_reach: float, opp_reach: float,
                 sample_reach: float) -> float:
        self.nodes_touched += 1
        pl = self._player[node]
        if pl == TERMINAL:
            return float(self._returns[node, p])
        if pl == CHANCE:
            child, pr = self._chance(node)
            return self._outcome(child, p, my_reach, opp_reach * pr, sample_reach * pr)
        info = self._infoset[node]
        legal = self._legal[info]
        policy = self._rm(info)
        if pl == p:
            sample_policy = self.epsilon / legal.shape[0] + (1.0 - self.epsilon) * policy
        else:
            sample_policy = policy
        k = self._sample(sample_policy)
        child = int(self._children[node, legal[k]])
        if pl == p:
            child_value = self._outcome(child, p, my_reach * policy[k], opp_reach,
                                        sample_reach * sample_policy[k])
        else:
            child_value = self._outcome(child, p, my_reach, opp_reach * policy[k],
                                        sample_reach * sample_policy[k])
        values = np.zeros(legal.shape[0])
        values[k] = child_value / sample_policy[k]
        value = float(policy @ values)
        if pl == p:
            w = opp_reach / sample_reach
            self.regrets[info, legal] += w * (values - value)
            self.cumulative_policy[info, legal] += my_reach * policy / sample_reach
        return value

    # outcome sampling on an environment ----------------------------------------------------------
    def _env_policy_fn(self, info: int) -> int:
        """The other player's move inside ``env.step``: on-policy, with the average-policy update
        weighted by the traverser's current sampling reach."""
        policy = self._rm(info)
        legal = self._legal[info]
        self.cumulative_policy[info, legal] += policy / self._reach
        return int(legal[self._sample(policy)])

    def _outcome_env(self, state: Any, p: int, reach: float) -> float:
        env = self.env
        info = env.infoset(state)
        legal = self._legal[info]
        policy = self._rm(info)
        sample_policy = self.epsilon / legal.shape[0] + (1.0 - self.epsilon) * policy
        k = self._sample(sample_policy)
        self.nodes_touched += 1
        self._reach = reach * sample_policy[k]
        nxt, reward, term, trunc = env.step(state, int(legal[k]), p, self._env_policy_fn, self.rng)
        child_value = float(reward)
        if not (term or trunc):
            child_value += self._outcome_env(nxt, p, reach * sample_policy[k])
        values = np.zeros(legal.shape[0])
        values[k] = child_value / sample_policy[k]
        value = float(policy @ values)
        self.regrets[info, legal] += (values - value) / reach
        return value

    def current_probs(self) -> np.ndarray:
        """``(n_infosets, n_actions)`` regret-matching policy (uniform where no regret is
        positive)."""
        return regret_matching(self.regrets, self._mask)

    def average_probs(self) -> np.ndarray:
        """``(n_infosets, n_actions)`` normalised cumulative policy (uniform where nothing was
        accumulated)."""
        return normalise_rows(self.cumulative_policy, self._mask)

    def evaluate(self, rng: np.random.Generator | None = None) -> dict[str, float]:
        """``exploitability`` of the average policy on a game; on an environment the metrics of
        :func:`~econcs.abcs._env_tools.env_metrics` (the current policy plays MDP parts). ``rng`` draws
        evaluation episodes (default: the learner's own generator)."""
        if self.env is None:
            return {"exploitability": exploitability(self.game, self.average_policy())}
        rng = self.rng if rng is None else rng
        return env_metrics(self.env, self.current_probs(), self.average_probs(), rng)

    # public --------------------------------------------------------------------------------------
    def iterate(self) -> None:
        """One round: a traversal for each player in turn."""
        if self.env is not None:
            for p in range(self.env.n_players):
                self._reach = 1.0
                state, _, term = self.env.reset(p, self._env_policy_fn, self.rng)
                if not term:
                    self._outcome_env(state, p, 1.0)
            self.iteration += 1
            return
        for p in range(self.game.n_players):
            if self.sampling == "external":
                self._external(0, p)
            else:
                self._outcome(0, p, 1.0, 1.0, 1.0)
        self.iteration += 1

    def average_policy(self) -> Policy | None:
        """The average policy as a :class:`~econcs.abcs.Policy` (games; ``None`` on other
        environments, see :meth:`average_probs`)."""
        if self.game is None:
            return None
        return Policy(self.average_probs(), self.game.infoset_keys)

    # the run loop's hooks (:class:`~econcs.abcs._sampling.SamplingLearner`) ----------------------
    @property
    def metric_key(self) -> str:
        """``return`` on a one-player environment, ``exploitability`` otherwise."""
        one_player = self.env is not None and self.env.n_players == 1
        return "return" if one_player else "exploitability"

    def _result_policy(self) -> Policy | None:
        return self.average_policy()

    def _recursion_limit(self) -> int:
        if self.env is None:
            depth = int(self.game.depth.max())
        else:  # one frame per step: CartPole's episode (and Leduc's) at most
            cart = getattr(self.env, "cartpole", self.env)
            depth = getattr(cart, "max_steps", 0) + 100
        return 4 * depth + 1000
