"""Compile an OpenSpiel turn-based game with chance nodes into flat numpy arrays, once.

The game tree is walked once with ``pyspiel`` in breadth-first order, so that every node comes after
its parent, nodes are grouped by depth and the children of a node are contiguous. Each node records
its player (``CHANCE = -1``, ``TERMINAL = -4`` as in OpenSpiel), parent, the action that led to it,
its information set (decision nodes), chance probabilities and terminal utilities; each information
set records its player, its legal-action mask and its owner's previous *sequence* (information set,
action), which is what lets CFR and best responses run in sequence form, level by level, without
walking ``pyspiel`` states again (Zinkevich et al. 2007; von Stengel 1996 for sequence form).

The solvers of this package (:mod:`econcs.abcs._cfr`, :mod:`econcs.abcs._exploitability`,
:mod:`econcs.abcs._mccfr`, :mod:`econcs.abcs._abcs`) all work on a :class:`CompiledGame`.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyspiel

from econcs.shared import check_int

__all__ = ["CHANCE", "TERMINAL", "CompiledGame", "load_game"]

CHANCE = -1
TERMINAL = -4

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class CompiledGame:
    """A finite extensive-form game as arrays (nodes in breadth-first order, root = node 0).

    Attributes
    ----------
    name
        the game's name (with parameters).
    n_players, n_actions
        players and distinct actions (``game.num_distinct_actions()``); decision
        policies are ``(n_infosets, n_actions)`` arrays indexed by OpenSpiel action ids.
    player
        (n_nodes,) int, acting player, ``CHANCE`` (-1) or ``TERMINAL`` (-4).
    depth
        (n_nodes,) int, distance from the root (non-decreasing along the node order).
    parent
        (n_nodes,) int, parent node (-1 at the root).
    action
        (n_nodes,) int, action id (or chance outcome) that leads from the parent (-1 at root).
    infoset
        (n_nodes,) int, information-set index of a decision node (-1 elsewhere).
    children
        (n_nodes, width) int, child reached by action id (decision nodes) or by outcome
        position (chance nodes, in ``chance_outcomes()`` order); -1 where there is none.
    chance_probs
        (n_nodes, width) float, outcome probabilities at chance nodes (0 elsewhere).
    edge_prob_chance
        (n_nodes,) float, probability of the chance edge into a node (1 when the
        parent is not a chance node).
    returns
        (n_nodes, n_players) float, utilities at terminal nodes (0 elsewhere).
    infoset_keys
        the OpenSpiel information-state strings, one per information set.
    infoset_player
        (n_infosets,) int.
    legal_mask
        (n_infosets, n_actions) bool.
    infoset_parent_seq
        (n_infosets,) int, flat index ``infoset * n_actions + action`` of the
        owner's previous decision, -1 when it is the owner's first decision.
    infoset_own_depth
        (n_infosets,) int, number of earlier decisions of the owner.
    pyspiel_game
        the ``pyspiel.Game`` it was compiled from.
    """

    name: str
    n_players: int
    n_actions: int
    player: np.ndarray
    depth: np.ndarray
    parent: np.ndarray
    action: np.ndarray
    infoset: np.ndarray
    children: np.ndarray
    chance_probs: np.ndarray
    edge_prob_chance: np.ndarray
    returns: np.ndarray
    infoset_keys: tuple[str, ...]
    infoset_player: np.ndarray
    legal_mask: np.ndarray
    infoset_parent_seq: np.ndarray
    infoset_own_depth: np.ndarray
    pyspiel_game: Any = None
    zero_sum: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    # sizes ----------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return int(self.player.shape[0])

    @property
    def n_infosets(self) -> int:
        return int(self.infoset_player.shape[0])

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, computed on the first call with ``key`` and kept with the game.

        The game's arrays are read-only, so what is derived from them (index structures of a
        solver, best-response paths) is built once per game and shared by every solver on it;
        ``key`` names the structure (e.g. ``("infosets_of", p)``).
        """
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def terminals(self) -> np.ndarray:
        """(n_terminals,) indices of terminal nodes."""
        return self.cached("terminals", lambda: np.flatnonzero(self.player == TERMINAL))

    @property
    def infoset_index(self) -> dict[str, int]:
        """Information-state string -> information-set index."""
        return self.cached("infoset_index",
                           lambda: {k: i for i, k in enumerate(self.infoset_keys)})

    def uniform_policy(self) -> np.ndarray:
        """(n_infosets, n_actions) uniform policy over legal actions."""
        m = self.legal_mask.astype(np.float64)
        return m / m.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return (f"CompiledGame({self.name!r}, n_players={self.n_players}, n_nodes={self.n_nodes}, "
                f"n_infosets={self.n_infosets}, n_actions={self.n_actions})")

    # per-player sequence-form structure (built lazily, cached) --------------------------------
    def player_structure(self, p: int) -> dict[str, Any]:
        """Arrays for player ``p``'s sequence-form passes (see :mod:`econcs.abcs._cfr`).

        Keys: ``term`` (n_terminals,) terminal nodes; ``term_seq`` (n_terminals,) the flat index of
        ``p``'s last sequence before each terminal (``n_infosets * n_actions`` for the empty one);
        ``term_path`` (n_terminals, max_depth) the nodes whose incoming edge is *not* chosen by ``p``
        on the path to each terminal, padded with ``n_nodes`` (an edge of probability 1);
        ``levels`` a list, deepest first, of ``p``'s information sets at each own depth;
        ``infosets`` all of ``p``'s information sets.
        """
        return self.cached(("player", p), lambda: self._build_player_structure(p))

    def _build_player_structure(self, p: int) -> dict[str, Any]:
        n, A = self.n_nodes, self.n_actions
        empty = self.n_infosets * A
        par = self.parent
        # last sequence of p on the path to every node (nodes are in topological order)
        last_seq = np.full(n, empty, dtype=np.int64)
        non_root = np.arange(1, n)
        par_nr = par[non_root]
        by_p = self.player[par_nr] == p
        seq_here = np.where(by_p, self.infoset[par_nr] * A + self.action[non_root], -1)
        for d in range(1, int(self.depth.max()) + 1):
            lo, hi = self._depth_slice(d)
            sl = seq_here[lo - 1:hi - 1]
            last_seq[lo:hi] = np.where(sl >= 0, sl, last_seq[par[lo:hi]])
        term = self.terminals
        # path matrix of edges not chosen by p
        max_d = int(self.depth.max())
        path = np.full((term.shape[0], max(max_d, 1)), n, dtype=np.int64)
        cur = term.copy()
        for j in range(max_d):
            has_parent = cur > 0
            pp = np.where(has_parent, par[np.maximum(cur, 0)], 0)
            mine = has_parent & (self.player[pp] == p)
            path[:, j] = np.where(has_parent & ~mine, cur, n)
            cur = np.where(has_parent, pp, 0)
        infosets = np.flatnonzero(self.infoset_player == p)
        depths = self.infoset_own_depth[infosets]
        levels = [infosets[depths == k] for k in range(int(depths.max(initial=-1)), -1, -1)]
        return {"term": term, "term_seq": last_seq[term], "term_path": path,
                "levels": levels, "infosets": infosets, "last_seq": last_seq}

    def _depth_slice(self, d: int) -> tuple[int, int]:
        b = self.cached("depth_bounds", lambda: np.searchsorted(
            self.depth, np.arange(int(self.depth.max()) + 2)))
        return int(b[d]), int(b[d + 1])


def _resolve_pyspiel_game(name: Any, params: Mapping[str, Any]) -> tuple[pyspiel.Game, str]:
    if isinstance(name, pyspiel.Game):
        if params:
            raise ValueError("params: pass parameters either in the loaded pyspiel.Game or with a "
                             "game name, not both.")
        return name, str(name)
    if not isinstance(name, str):
        raise TypeError(f"name: expected a game name (str) or a pyspiel.Game, got "
                        f"{type(name).__name__}.")
    registered = list(pyspiel.registered_names())
    if "(" in name and name.split("(")[0] in registered:  # "kuhn_poker(players=3)"
        if params:
            raise ValueError("params: give parameters either in the name string or as keywords.")
        try:
            return pyspiel.load_game(name), name
        except (pyspiel.SpielError, RuntimeError) as err:
            raise ValueError(f"name: OpenSpiel cannot load {name!r}: {err}") from err
    if name not in registered:
        close = difflib.get_close_matches(name, registered, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"name: unknown OpenSpiel game {name!r}.{hint} "
                         "See pyspiel.registered_names() for the list.")
    for key, value in params.items():
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"params: parameter {key!r} must be a bool, int, float or str, got "
                            f"{type(value).__name__}.")
    try:
        game = pyspiel.load_game(name, dict(params))
    except (pyspiel.SpielError, RuntimeError, TypeError) as err:
        raise ValueError(f"params: OpenSpiel rejected the parameters {dict(params)!r} of game "
                         f"{name!r}: {err}") from err
    label = name if not params else f"{name}({','.join(f'{k}={v}' for k, v in params.items())})"
    return game, label


def _chance_edges(player: np.ndarray, parent: np.ndarray, action: np.ndarray,
                  chance_probs: np.ndarray) -> np.ndarray:
    """(n_nodes,) probability of the chance edge into every node (1 when the parent is not a
    chance node)."""
    edge = np.ones(player.shape[0])
    nr = np.arange(1, player.shape[0])
    from_chance = player[parent[nr]] == CHANCE
    edge[nr[from_chance]] = chance_probs[parent[nr[from_chance]], action[nr[from_chance]]]
    return edge


def _check_game_type(game: pyspiel.Game, label: str) -> pyspiel.GameType:
    """``game.get_type()``, after checking that the tree can be compiled."""
    gtype = game.get_type()
    if gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(
            f"name: {label!r} is a simultaneous-move game; compile its turn-based version instead: "
            f"load_game(pyspiel.convert_to_turn_based(pyspiel.load_game({label.split('(')[0]!r})))."
        )
    if not gtype.provides_information_state_string:
        raise ValueError(f"name: {label!r} does not provide information-state strings "
                         "(game.get_type().provides_information_state_string is False); "
                         "CFR needs them to identify information sets.")
    if gtype.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC:
        raise ValueError(f"name: {label!r} has sampled (not explicit) chance nodes; their outcome "
                         "probabilities are unknown, so the tree cannot be compiled.")
    return gtype


def load_game(name: str | pyspiel.Game, max_nodes: int = 5_000_000, **params: Any) -> CompiledGame:
    """Load an OpenSpiel turn-based game and compile its whole tree into arrays (once).

    Parameters
    ----------
    name
        an OpenSpiel game name (``"kuhn_poker"``, ``"leduc_poker"``, ...) or a loaded
        ``pyspiel.Game`` (e.g. the result of ``pyspiel.convert_to_turn_based``).
    max_nodes
        refuse trees with more nodes than this (compilation walks every history).
    **params
        game parameters, e.g. ``players=3`` for ``kuhn_poker``.

    Returns
    -------
    CompiledGame

    Notes
    -----
    One breadth-first walk that fills every per-node and per-information-set list at once
    (splitting it would pass a dozen lists between stages); the checks and the chance edges are
    their own functions.

    Raises
    ------
    ValueError
        unknown name, bad parameters, simultaneous-move games, games without
        information-state strings, sampled chance, imperfect recall, or a tree over ``max_nodes``.

    Examples
    --------
    >>> game = load_game("kuhn_poker")
    >>> game.n_nodes, game.n_infosets, game.n_actions
    (58, 12, 2)
    """
    max_nodes = check_int(max_nodes, "max_nodes", low=1)
    game, label = _resolve_pyspiel_game(name, params)
    gtype = _check_game_type(game, label)
    n_players = game.num_players()
    A = game.num_distinct_actions()
    width = max(A, game.max_chance_outcomes(), 1)

    player, depth, parent, action, infoset = [], [], [], [], []
    ch_rows, chp_rows, returns = [], [], []
    keys: dict[str, int] = {}
    inf_player, inf_legal, inf_pseq, inf_odepth = [], [], [], []
    # (state, depth, parent, action, last sequence per player, own depth per player)
    queue = deque([(game.new_initial_state(), 0, -1, -1, (-1,) * n_players, (0,) * n_players)])
    while queue:
        state, d, par, act, last, odepth = queue.popleft()
        idx = len(player)
        if idx >= max_nodes:
            raise ValueError(f"max_nodes: the tree of {label!r} has more than {max_nodes} nodes; "
                             "raise max_nodes or choose smaller game parameters.")
        player.append(TERMINAL if state.is_terminal() else state.current_player())
        depth.append(d)
        parent.append(par)
        action.append(act)
        row = np.full(width, -1, dtype=np.int64)
        prow = np.zeros(width)
        ret = np.zeros(n_players)
        info = -1
        n_here = len(queue) + idx + 1  # index of the first child
        if state.is_terminal():
            ret = np.asarray(state.returns(), dtype=np.float64)
        elif state.is_chance_node():
            outcomes = state.chance_outcomes()
            for j, (a, pr) in enumerate(outcomes):
                row[j] = n_here + j
                prow[j] = pr
                queue.append((state.child(a), d + 1, idx, j, last, odepth))
        else:
            p = state.current_player()
            key = state.information_state_string(p)
            legal = state.legal_actions(p)
            info = keys.get(key)
            if info is None:
                info = len(inf_player)
                keys[key] = info
                mask = np.zeros(A, dtype=bool)
                mask[legal] = True
                inf_player.append(p)
                inf_legal.append(mask)
                inf_pseq.append(last[p])
                inf_odepth.append(odepth[p])
            elif inf_pseq[info] != last[p]:
                raise ValueError(f"name: {label!r} does not have perfect recall (information set "
                                 f"{key!r} is reached after different own decisions).")
            for j, a in enumerate(legal):
                row[a] = n_here + j
                new_last = (*last[:p], info * A + a, *last[p + 1:])
                new_od = (*odepth[:p], odepth[p] + 1, *odepth[p + 1:])
                queue.append((state.child(a), d + 1, idx, a, new_last, new_od))
        infoset.append(info)
        ch_rows.append(row)
        chp_rows.append(prow)
        returns.append(ret)
    parent_a = np.asarray(parent, dtype=np.int64)
    player_a = np.asarray(player, dtype=np.int64)
    chance_probs = np.vstack(chp_rows)
    edge = _chance_edges(player_a, parent_a, np.asarray(action), chance_probs)
    zero_sum = gtype.utility in (pyspiel.GameType.Utility.ZERO_SUM,
                                 pyspiel.GameType.Utility.CONSTANT_SUM)
    arrays = dict(
        player=player_a, depth=np.asarray(depth, dtype=np.int64), parent=parent_a,
        action=np.asarray(action, dtype=np.int64), infoset=np.asarray(infoset, dtype=np.int64),
        children=np.vstack(ch_rows), chance_probs=chance_probs, edge_prob_chance=edge,
        returns=np.vstack(returns),
        infoset_player=np.asarray(inf_player, dtype=np.int64),
        legal_mask=np.vstack(inf_legal) if inf_legal else np.zeros((0, A), dtype=bool),
        infoset_parent_seq=np.asarray(inf_pseq, dtype=np.int64),
        infoset_own_depth=np.asarray(inf_odepth, dtype=np.int64),
    )
    for arr in arrays.values():
        arr.setflags(write=False)
    return CompiledGame(name=label, n_players=n_players, n_actions=A,
                        infoset_keys=tuple(keys), pyspiel_game=game, zero_sum=zero_sum, **arrays)
