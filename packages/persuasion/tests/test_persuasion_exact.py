"""Exact tools against theory: Kamenica-Gentzkow, concavification, brute-force utilities, MILP."""

import itertools

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.persuasion import (
    MAX_BINARIES,
    PersuasionGame,
    best_response,
    exact_ne_gap,
    full_revelation_profile,
    full_revelation_utilities,
    make_game,
    no_information_utilities,
    optimal_scheme,
    product_recommendation_game,
    prosecutor_game,
    random_game,
    receiver_best_response,
    sender_utilities,
)


def test_kamenica_gentzkow_prosecutor():
    g = prosecutor_game(0.3)
    res = optimal_scheme(g.prior, g.sender_utility[0], g.receiver_utility)
    assert res.status == "optimal"
    assert abs(res.value - 0.6) <= 1e-9
    assert abs(res.scheme[0, 1] - 3 / 7) <= 1e-9  # pi(convict | innocent)
    assert abs(res.scheme[1, 1] - 1.0) <= 1e-9  # pi(convict | guilty)
    assert abs(no_information_utilities(g)[0]) <= 1e-12
    assert abs(full_revelation_utilities(g)[0] - 0.3) <= 1e-12
    # the LP's scheme played in the game (posterior exactly 1/2: ties for the sender)
    assert abs(float(sender_utilities(g, res.scheme[None])[0]) - 0.6) <= 1e-9
    assert abs(float(sender_utilities(g, full_revelation_profile(g))[0]) - 0.3) <= 1e-12


def _hull_at_prior(u, v, p0):
    """Concavification of v_hat(p) = u(a*(p), p) at p0 for 2 states, by breakpoints."""
    n_a = v.shape[0]
    cands = {0.0, 1.0, p0}
    for a in range(n_a):
        for b in range(a + 1, n_a):
            d0, d1 = v[a, 0] - v[b, 0], v[a, 1] - v[b, 1]
            if d0 != d1:
                p = d0 / (d0 - d1)
                if 0.0 <= p <= 1.0:
                    cands.add(float(p))

    def vhat(p):
        belief = np.array([1 - p, p])
        rv = v @ belief
        best = [a for a in range(n_a) if rv[a] >= rv.max() - 1e-12]
        return max(u[a] @ belief for a in best)

    pts = sorted(cands)
    best = vhat(p0)
    for p1 in pts:
        for p2 in pts:
            if p1 <= p0 <= p2 and p2 > p1:
                lam = (p2 - p0) / (p2 - p1)
                best = max(best, lam * vhat(p1) + (1 - lam) * vhat(p2))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_single_sender_lp_is_concavification(seed):
    rng = np.random.default_rng(seed)
    n_a = int(rng.integers(2, 6))
    u, v = rng.uniform(size=(n_a, 2)), rng.uniform(size=(n_a, 2))
    p0 = float(rng.uniform(0.05, 0.95))
    res = optimal_scheme([1 - p0, p0], u, v)
    assert_allclose(res.value, _hull_at_prior(u, v, p0), atol=1e-9)


def _brute_force(game, profile):
    k, n = game.n_senders, game.n_signals
    out = np.zeros(k)
    for s in itertools.product(range(n), repeat=k):
        q = game.prior * np.prod([profile[i, :, s[i]] for i in range(k)], axis=0)
        rv = game.receiver_utility @ q
        su = game.sender_utility @ q  # (k, n_actions)
        tied = [a for a in range(game.n_actions) if rv[a] >= rv.max() - 1e-9 * q.sum()]
        a = max(tied, key=lambda a: (su[:, a].sum(), -a))
        out += su[:, a]
    return out


@pytest.mark.parametrize("family", ["uniform", "aligned", "opposed"])
def test_sender_utilities_match_brute_force(family):
    g = random_game(3, 3, 2, 4, family=family, seed=3)
    rng = np.random.default_rng(0)
    profiles = rng.dirichlet(np.ones(2), size=(6, 3, 3))
    got = sender_utilities(g, profiles).numpy()
    want = np.stack([_brute_force(g, p) for p in profiles])
    assert_allclose(got, want, atol=1e-12)
    assert got.shape == (6, 3)


def test_batching_posteriors_and_float32():
    g = random_game(2, 4, 3, 3, seed=1)
    x = torch.from_numpy(np.random.default_rng(1).dirichlet(np.ones(3), size=(5, 7, 2, 4)))
    u = sender_utilities(g, x)
    assert u.shape == (5, 7, 2)
    assert_allclose(u[2, 3].numpy(), sender_utilities(g, x[2, 3]).numpy(), atol=1e-14)
    post, act = receiver_best_response(g, x)
    assert post.shape == (5, 7, 9, 4) and act.shape == (5, 7, 9)
    assert_allclose(post.sum(-1).numpy(), 1.0, atol=1e-12)
    u32 = sender_utilities(g, x.float())
    assert u32.dtype == torch.float32
    assert_allclose(u32.numpy(), u.numpy(), atol=1e-4)


def test_utilities_differentiable_within_a_piece():
    g = random_game(2, 3, 2, 3, seed=2)
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.dirichlet(np.ones(2), size=(2, 3))).requires_grad_()
    u = sender_utilities(g, x)[0]
    (grad,) = torch.autograd.grad(u, x)
    d = torch.from_numpy(rng.normal(size=(2, 3, 2)) * 1e-7)
    d = d - d.mean(-1, keepdim=True)
    fd = float(sender_utilities(g, x.detach() + d)[0] - u.detach())
    assert abs(fd - float((grad * d).sum())) <= 1e-12


def test_tie_rule_first_vs_senders():
    g = prosecutor_game(0.3)
    scheme = np.array([[[4 / 7, 3 / 7], [0.0, 1.0]]])
    assert abs(float(sender_utilities(g, scheme)[0]) - 0.6) < 1e-9
    assert abs(float(sender_utilities(g, scheme, tie_break="first")[0])) < 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_milp_matches_enumeration(seed):
    g = random_game(2, 2, 2, 2, seed=seed)
    prof = np.random.default_rng(seed).dirichlet(np.ones(2), size=(2, 2))
    for i in range(2):
        a = best_response(g, prof, i)
        b = best_response(g, prof, i, method="enumerate")
        assert_allclose(a.value, b.value, atol=1e-9)
        assert a.gain >= -1e-9
        dev = prof.copy()
        dev[i] = a.scheme  # the MILP's scheme reaches its value (ties for sender i)
        assert float(sender_utilities(g, dev)[i]) <= a.value + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_milp_drops_never_obedient_actions_with_the_same_best_response(seed):
    from econcs.persuasion._best_response import _obedient_actions

    g = random_game(2, 2, 2, 2, seed=seed)
    rng = np.random.default_rng(seed)
    # two dominated receiver actions (below the worst kept one in every state), which the sender
    # likes best: with them kept they would have to be obedient to count, so the value is equal
    v = np.concatenate([g.receiver_utility, g.receiver_utility.min(0, keepdims=True) - [[0.5], [1]]])
    u = np.concatenate([g.sender_utility, np.full((2, 2, 2), 2.0)], axis=1)
    big = PersuasionGame(g.prior, u, v, g.n_signals)
    kept = _obedient_actions(g.receiver_utility)  # seed 0: one of the two is dominated already
    assert_allclose(_obedient_actions(big.receiver_utility), kept)
    prof = rng.dirichlet(np.ones(2), size=(2, 2))
    for i in range(2):
        small, pruned = best_response(g, prof, i), best_response(big, prof, i)
        enum = best_response(big, prof, i, method="enumerate")  # all four actions, no pruning
        assert_allclose([pruned.value, enum.value], small.value, atol=1e-9)
        assert pruned.actions.max() <= 1  # indices into the game's actions
    # an action optimal at one belief only (a tie at q = 1/2) is kept
    assert_allclose(_obedient_actions(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])), [0, 1, 2])
    assert_allclose(_obedient_actions(np.array([[1.0, 0.0], [0.0, 1.0], [0.4, 0.4]])), [0, 1])


@pytest.mark.parametrize("seed", range(3))
def test_milp_single_sender_equals_lp(seed):
    g = random_game(1, 3, 3, 3, seed=seed)
    lp = optimal_scheme(g.prior, g.sender_utility[0], g.receiver_utility)
    br = best_response(g, np.full((1, 3, 3), 1 / 3), 0)
    assert_allclose(br.value, lp.value, atol=1e-7)


def test_full_revelation_is_an_equilibrium():
    g = random_game(2, 2, 2, 3, seed=4)
    prof = full_revelation_profile(g)
    assert_allclose(sender_utilities(g, prof).numpy(), full_revelation_utilities(g), atol=1e-12)
    assert exact_ne_gap(g, prof).gap <= 1e-7  # one revealing sender makes deviations moot


def test_kg_scheme_with_a_babbling_second_prosecutor_is_an_equilibrium():
    g = prosecutor_game(0.3, n_prosecutors=2)
    kg = np.array([[4 / 7, 3 / 7], [0.0, 1.0]])
    babble = np.array([[1.0, 0.0], [1.0, 0.0]])
    res = exact_ne_gap(g, np.stack([kg, babble]))
    assert res.gap <= 1e-7
    assert_allclose([r.value for r in res.responses], 0.6, atol=1e-7)
    no_info = exact_ne_gap(g, np.stack([babble, babble]))
    assert_allclose(no_info.gap, 0.6, atol=1e-7)


def test_structured_instances():
    g = product_recommendation_game(2, p_good=0.5)
    assert g.n_states == 4 and g.n_actions == 3 and g.n_senders == 2
    assert_allclose(g.prior, 0.25)
    assert_allclose(full_revelation_utilities(g).sum(), 0.75)  # some product good w.p. 3/4
    for fam in ("uniform", "aligned", "opposed", "prosecutors", "advocates", "recommendation"):
        h = make_game(fam, 2, 3, 2, 3, seed=0)
        assert h.n_senders == 2
    assert_allclose(random_game(seed=5).sender_utility, random_game(seed=5).sender_utility)


def test_json_round_trip(tmp_path):
    g = random_game(2, 3, 2, 4, seed=0)
    path = tmp_path / "g.json"
    g.save_json(path)
    h = PersuasionGame.load_json(path)
    assert_allclose(h.sender_utility, g.sender_utility)
    assert h.n_signals == 2 and h.name == g.name
    path.write_text("{not json")
    with pytest.raises(ValueError, match="path"):
        PersuasionGame.load_json(path)
    with pytest.raises(ValueError, match="missing"):
        PersuasionGame.from_dict({"prior": [1.0]})


def test_bad_input():
    u, v = np.zeros((1, 2, 2)), np.eye(2)
    with pytest.raises(ValueError, match="prior"):
        PersuasionGame([0.5, 0.6], u, v, 2)
    with pytest.raises(ValueError, match="prior"):
        PersuasionGame([1.2, -0.2], u, v, 2)
    with pytest.raises(ValueError, match="prior"):
        PersuasionGame([np.nan, 1.0], u, v, 2)
    with pytest.raises(ValueError, match="sender_utility"):
        PersuasionGame([0.5, 0.5], np.zeros((1, 2, 3)), v, 2)
    with pytest.raises(ValueError, match="receiver_utility"):
        PersuasionGame([0.5, 0.5], u, np.eye(3)[:, :2], 2)
    with pytest.raises(ValueError, match="n_signals"):
        PersuasionGame([0.5, 0.5], u, v, 0)
    g = PersuasionGame([0.5, 0.5], u, v, 2)
    with pytest.raises(ValueError, match="schemes"):
        sender_utilities(g, np.full((1, 2, 2), 0.7))
    with pytest.raises(ValueError, match="schemes"):
        sender_utilities(g, np.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match="schemes"):
        sender_utilities(g, torch.tensor([[[1.5, -0.5], [0.5, 0.5]]]))
    with pytest.raises(ValueError, match="tie_break"):
        sender_utilities(g, np.full((1, 2, 2), 0.5), tie_break="receiver")
    with pytest.raises(ValueError, match="prior"):
        optimal_scheme([0.5, 0.4], [[0, 0], [1, 1]], np.eye(2))
    with pytest.raises(ValueError, match="receiver_utility"):
        optimal_scheme([0.5, 0.5], [[0, 0], [1, 1]], np.eye(3))
    big = random_game(5, 3, 5, 10, seed=0)
    with pytest.raises(ValueError, match=f"<= {MAX_BINARIES}"):
        best_response(big, np.full(big.scheme_shape, 0.2), 0)
    with pytest.raises(ValueError, match="sender"):
        best_response(g, np.full((1, 2, 2), 0.5), 1)
    with pytest.raises(ValueError, match="enumerat"):
        best_response(random_game(2, 2, 3, 3), np.full((2, 2, 3), 1 / 3), 0, method="enumerate")
    with pytest.raises(ValueError, match="n_signals"):
        full_revelation_profile(random_game(2, 3, 2, 2))
    with pytest.raises(ValueError, match="family"):
        random_game(family="gaussian")
