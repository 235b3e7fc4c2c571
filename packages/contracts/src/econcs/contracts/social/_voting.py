"""Voting over candidates (objectives, or values of eta): the first step of a Social Environment
Design round.

Zhang et al., "Position: Social Environment Design Should be Further Developed for AI-based
Policy-Making" (ICML 2024, arXiv 2402.14090), Def. 3.1: agents with private types vote, a rule
``f`` elects the objective the principal then maximises. Ranked ballots are an array
``(n_voters, n_candidates)`` of candidate indices, most preferred first (each row a permutation);
approval ballots a boolean array ``(n_voters, n_candidates)``; reported values (eta) a float array
``(n_voters,)``. Every rule takes optional voter ``weights`` (shares of the electorate, e.g.
percentages) and returns a frozen :class:`VoteResult`.

Ties are broken toward the lowest candidate index, and the result lists every candidate with the
top score (``tied``). Instant-runoff eliminates, each round, the candidate with the fewest
first-choice votes among those left (on a tie, the highest index), until one holds a strict
majority of the weight.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from econcs.shared import make_rng
from econcs.shared.validation import check_array, check_choice, check_int

__all__ = [
    "RANKED_RULES",
    "RULES",
    "VoteResult",
    "condorcet_winner",
    "impartial_culture",
    "pairwise_margins",
    "rankings_from_utilities",
    "single_peaked_ballots",
    "vote",
    "weighted_median",
]

#: rules that take ranked ballots
RANKED_RULES = ("plurality", "borda", "irv", "copeland", "condorcet")
#: every rule of :func:`vote`
RULES = (*RANKED_RULES, "approval", "mean", "median")


@dataclasses.dataclass(frozen=True)
class VoteResult:
    """The outcome of one election.

    Attributes
    ----------
    rule
        the rule's name.
    winner
        the elected candidate's index; ``None`` when the rule elects nobody (``condorcet`` without
        a Condorcet winner). For ``mean`` / ``median``: ``None`` (see ``value``).
    scores
        (n_candidates,) the rule's scores (plurality / approval counts, Borda points, Copeland
        scores, IRV's first-choice votes in the last round); for ``mean`` / ``median`` empty.
    tied
        every candidate with the top score (one entry when there is no tie).
    value
        ``mean`` / ``median``: the aggregated reported value; else ``None``.
    eliminated
        ``irv``: the candidates in order of elimination; else empty.
    """

    rule: str
    winner: int | None
    scores: np.ndarray
    tied: tuple[int, ...]
    value: float | None = None
    eliminated: tuple[int, ...] = ()


def _check_rankings(ballots, n_candidates: int | None = None) -> np.ndarray:
    arr = check_array(ballots, "ballots", ndim=2, dtype=np.float64)
    if not np.all(arr == np.round(arr)):
        raise ValueError("ballots: expected integer candidate indices, got non-integers.")
    r = arr.astype(np.int64)
    m = r.shape[1] if n_candidates is None else check_int(n_candidates, "n_candidates", low=1)
    if r.shape[1] != m:
        raise ValueError(f"ballots: expected shape (n_voters, {m}), got shape {r.shape}.")
    if r.min() < 0 or r.max() >= m:
        raise ValueError(f"ballots: expected candidate indices in 0..{m - 1}, got values in "
                         f"{r.min()}..{r.max()}.")
    seen = np.sort(r, axis=1)
    bad = np.flatnonzero((seen != np.arange(m)).any(axis=1))
    if bad.size:
        raise ValueError(f"ballots: each row must rank every candidate once; row {bad[0]} "
                         f"repeats a candidate: {r[bad[0]].tolist()}.")
    return r


def _check_weights(weights, n_voters: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_voters)
    w = check_array(weights, "weights", shape=(n_voters,))
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights: expected non-negative voter weights with a positive sum.")
    return w


def _top(scores: np.ndarray, rule: str, **extra) -> VoteResult:
    best = scores.max()
    tied = tuple(int(i) for i in np.flatnonzero(np.isclose(scores, best, rtol=1e-12, atol=1e-12)))
    return VoteResult(rule, tied[0], scores, tied, **extra)


def pairwise_margins(ballots, weights=None) -> np.ndarray:
    """(n_candidates, n_candidates): ``M[a, b]`` = weight of voters ranking ``a`` above ``b``.

    >>> pairwise_margins([[0, 1], [1, 0], [0, 1]]).tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """
    r = _check_rankings(ballots)
    w = _check_weights(weights, r.shape[0])
    m = r.shape[1]
    pos = np.empty_like(r)
    np.put_along_axis(pos, r, np.arange(m)[None, :].repeat(r.shape[0], 0), axis=1)
    above = pos[:, :, None] < pos[:, None, :]  # (voters, a, b)
    return np.einsum("v,vab->ab", w, above.astype(np.float64))


def condorcet_winner(ballots, weights=None) -> int | None:
    """The candidate who beats every other in a strict pairwise majority, or ``None``.

    >>> condorcet_winner([[0, 1, 2], [1, 2, 0], [2, 0, 1]]) is None  # the three-voter cycle
    True
    """
    p = pairwise_margins(ballots, weights)
    wins = (p > p.T)
    np.fill_diagonal(wins, True)
    winners = np.flatnonzero(wins.all(axis=1))
    return int(winners[0]) if winners.size else None


def _irv(r: np.ndarray, w: np.ndarray) -> VoteResult:
    m = r.shape[1]
    alive = np.ones(m, dtype=bool)
    eliminated: list[int] = []
    while True:
        ranks = np.where(alive[r], np.arange(m)[None, :], m)  # rank of each alive entry
        first = r[np.arange(r.shape[0]), ranks.argmin(axis=1)]
        votes = np.bincount(first, weights=w, minlength=m)
        if votes.max() > w.sum() / 2 or alive.sum() == 1:
            return _top(np.where(alive, votes, -np.inf), "irv", eliminated=tuple(eliminated))
        low = np.where(alive, votes, np.inf)
        loser = int(np.flatnonzero(low == low.min())[-1])
        alive[loser] = False
        eliminated.append(loser)


def vote(rule: str, ballots, weights=None) -> VoteResult:
    """Elect a candidate with ``rule`` (one of :data:`RULES`).

    Parameters
    ----------
    rule
        ``plurality``, ``borda`` (``m - 1 - rank`` points), ``irv`` (instant-runoff),
        ``copeland`` (pairwise wins + half the pairwise ties), ``condorcet`` (the Condorcet winner
        or ``None``): ranked ballots; ``approval``: boolean ballots; ``mean`` / ``median``: the
        weighted mean / median of reported values.
    ballots
        ranked: (n_voters, n_candidates) int, each row a permutation, most preferred first;
        approval: (n_voters, n_candidates) bool; mean / median: (n_voters,) floats.
    weights
        (n_voters,) non-negative voter weights (default: one each).

    Examples
    --------
    >>> vote("borda", [[0, 1, 2], [1, 2, 0], [2, 0, 1]]).tied  # a cycle: a three-way Borda tie
    (0, 1, 2)
    >>> vote("median", [0.1, 0.9, 0.4]).value
    0.4
    """
    rule = check_choice(rule, "rule", RULES)
    if rule in ("mean", "median"):
        x = check_array(ballots, "ballots", ndim=1)
        w = _check_weights(weights, x.shape[0])
        value = float(np.average(x, weights=w)) if rule == "mean" else weighted_median(x, w)
        return VoteResult(rule, None, np.zeros(0), (), value=value)
    if rule == "approval":
        a = check_array(ballots, "ballots", ndim=2, dtype=np.float64)
        if not np.isin(a, (0.0, 1.0)).all():
            raise ValueError("ballots: approval ballots must be 0/1 (or boolean).")
        w = _check_weights(weights, a.shape[0])
        return _top(w @ a, rule)
    r = _check_rankings(ballots)
    w = _check_weights(weights, r.shape[0])
    m = r.shape[1]
    if rule == "plurality":
        return _top(np.bincount(r[:, 0], weights=w, minlength=m), rule)
    if rule == "borda":
        pts = np.zeros(m)
        np.add.at(pts, r, w[:, None] * (m - 1 - np.arange(m))[None, :])
        return _top(pts, rule)
    if rule == "irv":
        return _irv(r, w)
    p = pairwise_margins(r, w)
    score = (p > p.T).sum(axis=1) + 0.5 * ((p == p.T).sum(axis=1) - 1)
    if rule == "copeland":
        return _top(score.astype(np.float64), rule)
    winner = condorcet_winner(r, w)
    return VoteResult(rule, winner, score.astype(np.float64),
                      () if winner is None else (winner,))


def weighted_median(x, weights=None) -> float:
    """The lower weighted median: the smallest ``x`` with at least half the weight at or below it.

    >>> weighted_median([3.0, 1.0, 2.0, 10.0])
    2.0
    """
    x = check_array(x, "x", ndim=1)
    w = _check_weights(weights, x.shape[0])
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, cum[-1] / 2 - 1e-12 * cum[-1])])


def rankings_from_utilities(utilities) -> np.ndarray:
    """Sincere ranked ballots: each voter ranks the candidates by its own utility, highest first
    (ties toward the lowest index).

    Parameters
    ----------
    utilities
        (n_voters, n_candidates) each voter's utility for each candidate.

    Examples
    --------
    >>> rankings_from_utilities([[0.1, 0.5, 0.3]]).tolist()
    [[1, 2, 0]]
    """
    u = check_array(utilities, "utilities", ndim=2)
    return np.argsort(-u, axis=1, kind="stable")


def single_peaked_ballots(peaks, positions) -> np.ndarray:
    """Ranked ballots of voters with single-peaked preferences on a line.

    Voter ``v`` ranks candidate ``c`` by the distance ``|positions[c] - peaks[v]|`` (nearest first,
    ties toward the lower position): the preferences the median-voter theorem is about.

    Parameters
    ----------
    peaks
        (n_voters,) each voter's ideal point (e.g. its eta).
    positions
        (n_candidates,) the candidates' positions on the line.
    """
    p = check_array(peaks, "peaks", ndim=1)
    x = check_array(positions, "positions", ndim=1)
    if np.unique(x).size != x.size:
        raise ValueError("positions: expected distinct candidate positions.")
    dist = np.abs(x[None, :] - p[:, None]) + 1e-12 * x[None, :]
    return np.argsort(dist, axis=1, kind="stable")


def impartial_culture(n_voters: int, n_candidates: int, *, seed: int = 0,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """A random profile: every voter's ranking drawn uniformly among the ``n_candidates!``.

    Returns (n_voters, n_candidates) int; ``rng`` (wins when given) or ``seed``.

    >>> impartial_culture(3, 4, seed=1).shape
    (3, 4)
    """
    n_voters = check_int(n_voters, "n_voters", low=1)
    n_candidates = check_int(n_candidates, "n_candidates", low=1)
    rng = make_rng(seed) if rng is None else rng
    return np.argsort(rng.random((n_voters, n_candidates)), axis=1)
