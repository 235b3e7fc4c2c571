"""Instance generators: random families (seeded) and structured games (prosecutors, advocates,
product recommendation). Every instance is a :class:`~econcs.persuasion.PersuasionGame`, which
reads and writes JSON (``save_json`` / ``load_json``) so users can bring their own.

Random families (Hossain et al., ICML 2024, Sec. 5: Dirichlet priors, uniform utilities):

- ``"uniform"``: prior ``Dirichlet(1, ..., 1)``, ``u_i(a, w)`` and ``v(a, w)`` i.i.d. ``U[0, 1]``;
- ``"aligned"``: ``u_i = (v + e_i) / 2`` with ``e_i`` i.i.d. ``U[0, 1]`` (senders partly agree
  with the receiver);
- ``"opposed"``: ``u_i = (1 - v + e_i) / 2`` (senders partly want the receiver's worse actions).
"""

from __future__ import annotations

import itertools

import numpy as np

from econcs.persuasion._game import PersuasionGame
from econcs.shared import check_choice, check_float, check_int, make_rng

__all__ = [
    "RANDOM_FAMILIES",
    "STRUCTURED_FAMILIES",
    "advocates_game",
    "make_game",
    "product_recommendation_game",
    "prosecutor_game",
    "random_game",
]

RANDOM_FAMILIES = ("uniform", "aligned", "opposed")
STRUCTURED_FAMILIES = ("prosecutors", "advocates", "recommendation")


def random_game(n_senders: int = 2, n_states: int = 2, n_signals: int = 2, n_actions: int = 2, *,
                family: str = "uniform", seed: int = 0,
                rng: np.random.Generator | None = None) -> PersuasionGame:
    """A random game of ``family`` (module docstring); ``rng`` wins over ``seed`` when given.

    Examples
    --------
    >>> g = random_game(3, 4, 3, 4, seed=1)
    >>> g.sender_utility.shape, round(float(g.prior.sum()), 12)
    ((3, 4, 4), 1.0)
    """
    check_int(n_senders, "n_senders", low=1)
    check_int(n_states, "n_states", low=1)
    check_int(n_signals, "n_signals", low=1)
    check_int(n_actions, "n_actions", low=1)
    check_choice(family, "family", RANDOM_FAMILIES)
    gen = make_rng(seed) if rng is None else rng
    prior = gen.dirichlet(np.ones(n_states))
    v = gen.uniform(size=(n_actions, n_states))
    e = gen.uniform(size=(n_senders, n_actions, n_states))
    if family == "uniform":
        u = e
    elif family == "aligned":
        u = (v[None] + e) / 2
    else:
        u = (1 - v[None] + e) / 2
    name = f"{family}-{n_senders}x{n_states}x{n_signals}x{n_actions}"
    return PersuasionGame(prior, u, v, n_signals, name=name)


def prosecutor_game(prior_guilty: float = 0.3, n_prosecutors: int = 1,
                    n_signals: int = 2) -> PersuasionGame:
    """Kamenica and Gentzkow's prosecutor and judge, with ``n_prosecutors`` prosecutors.

    States ``(innocent, guilty)``, actions ``(acquit, convict)``; the judge gets 1 for the right
    verdict (so convicts iff ``P(guilty) >= 1/2``), every prosecutor 1 for a conviction.
    """
    p = check_float(prior_guilty, "prior_guilty", low=0.0, high=1.0)
    check_int(n_prosecutors, "n_prosecutors", low=1)
    u = np.repeat(np.array([[[0.0, 0.0], [1.0, 1.0]]]), n_prosecutors, axis=0)
    return PersuasionGame([1 - p, p], u, np.eye(2), n_signals,
                          name=f"prosecutors-{n_prosecutors}-{p:g}")


def advocates_game(n_senders: int = 2, prior: np.ndarray | None = None,
                   n_signals: int = 2) -> PersuasionGame:
    """Competing advocates: the state is which of ``n_senders`` options is right, the receiver
    gets 1 for choosing it, and advocate ``i`` gets 1 when option ``i`` is chosen, whatever the
    state. Two advocates at prior ``(0.7, 0.3)`` are a prosecutor (option 1) against a defence
    lawyer (option 0). ``prior`` defaults to uniform.
    """
    check_int(n_senders, "n_senders", low=2)
    mu = np.full(n_senders, 1.0 / n_senders) if prior is None else prior
    u = np.zeros((n_senders, n_senders, n_senders))
    u[np.arange(n_senders), np.arange(n_senders), :] = 1.0
    return PersuasionGame(mu, u, np.eye(n_senders), n_signals, name=f"advocates-{n_senders}")


def product_recommendation_game(n_sellers: int = 2, p_good: float = 0.5, loss: float = 1.0,
                                n_signals: int = 2) -> PersuasionGame:
    """Sellers recommending their products to one buyer.

    Each seller's product is good with probability ``p_good``, independently: ``2 ** n_sellers``
    states (quality vectors). The buyer buys one product or none: buying a good product gives 1,
    a bad one ``-loss``, nothing 0. Seller ``i`` gets 1 when its product is bought. Every seller
    observes the whole state.
    """
    check_int(n_sellers, "n_sellers", low=1, high=8)
    p = check_float(p_good, "p_good", low=0.0, high=1.0)
    loss = check_float(loss, "loss", low=0.0)
    states = np.array(list(itertools.product([0, 1], repeat=n_sellers)), dtype=np.float64)
    prior = np.prod(np.where(states == 1, p, 1 - p), axis=1)
    n_states = states.shape[0]
    v = np.zeros((n_sellers + 1, n_states))  # action n_sellers: buy nothing
    v[:n_sellers] = np.where(states.T == 1, 1.0, -loss)
    u = np.zeros((n_sellers, n_sellers + 1, n_states))
    u[np.arange(n_sellers), np.arange(n_sellers), :] = 1.0
    return PersuasionGame(prior, u, v, n_signals, name=f"recommendation-{n_sellers}")


def make_game(family: str, n_senders: int = 2, n_states: int = 2, n_signals: int = 2,
              n_actions: int = 2, *, seed: int = 0,
              rng: np.random.Generator | None = None) -> PersuasionGame:
    """Any family by name: a random family of :func:`random_game`, or ``"prosecutors"``
    (``n_senders`` prosecutors, prior 0.3), ``"advocates"`` (``n_senders`` advocates, Dirichlet
    prior from the seed) or ``"recommendation"`` (``n_senders`` sellers). The structured ones
    ignore ``n_states`` and ``n_actions``.
    """
    check_choice(family, "family", RANDOM_FAMILIES + STRUCTURED_FAMILIES)
    if family in RANDOM_FAMILIES:
        return random_game(n_senders, n_states, n_signals, n_actions, family=family, seed=seed,
                           rng=rng)
    if family == "prosecutors":
        return prosecutor_game(0.3, n_senders, n_signals)
    if family == "advocates":
        gen = make_rng(seed) if rng is None else rng
        return advocates_game(n_senders, gen.dirichlet(np.ones(n_senders)), n_signals)
    return product_recommendation_game(n_senders, 0.5, 1.0, n_signals)
