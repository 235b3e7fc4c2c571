"""Compilation of OpenSpiel games into arrays."""

import numpy as np
import pyspiel
import pytest

from econcs.abcs import CHANCE, TERMINAL, load_game, weighted_rps


@pytest.fixture(scope="module")
def leduc():
    return load_game("leduc_poker")


def test_kuhn_sizes():
    g = load_game("kuhn_poker")
    assert (g.n_nodes, g.n_infosets, g.n_actions, g.n_players) == (58, 12, 2, 2)
    assert g.player[0] == CHANCE
    assert (g.player == TERMINAL).sum() == 30


def test_structure_is_topological_and_contiguous(leduc):
    g = leduc
    assert g.n_infosets == 936
    nr = np.arange(1, g.n_nodes)
    assert np.all(g.parent[nr] < nr)  # parents first
    assert np.all(np.diff(g.depth) >= 0)  # depth order
    # children of every node are contiguous and point back to it
    for node in np.flatnonzero(g.player != TERMINAL)[:500]:
        ch = g.children[node][g.children[node] >= 0]
        assert np.all(np.diff(np.sort(ch)) == 1)
        assert np.all(g.parent[ch] == node)
    chance = g.player == CHANCE
    np.testing.assert_allclose(g.chance_probs[chance].sum(axis=1), 1.0, atol=1e-12)
    dec = g.player >= 0
    assert np.all(g.infoset[dec] >= 0) and np.all(g.infoset[~dec] == -1)
    # legal masks match the children of decision nodes
    has_child = g.children[dec, : g.n_actions] >= 0
    np.testing.assert_array_equal(has_child, g.legal_mask[g.infoset[dec]])
    # terminal returns are zero-sum
    np.testing.assert_allclose(g.returns.sum(axis=1), 0.0, atol=1e-12)


def test_infoset_keys_match_openspiel(leduc):
    state = leduc.pyspiel_game.new_initial_state()
    state.apply_action(0)
    state.apply_action(1)
    key = state.information_state_string(0)
    assert key in leduc.infoset_index
    assert leduc.infoset_player[leduc.infoset_index[key]] == 0


def test_game_params_and_pyspiel_game():
    g3 = load_game("kuhn_poker", players=3)
    assert g3.n_players == 3 and "players=3" in g3.name
    g = load_game(pyspiel.load_game("kuhn_poker"))
    assert g.n_nodes == 58
    assert load_game("kuhn_poker(players=3)").n_nodes == g3.n_nodes
    with pytest.raises(ValueError, match="name"):
        load_game("kuhn_poker(players=x)")


def test_turn_based_conversion_of_matrix_game():
    g = weighted_rps()
    assert g.n_players == 2 and g.n_infosets == 2 and g.n_actions == 3


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"name: unknown OpenSpiel game 'kuhn_pokr'.*kuhn_poker"):
        load_game("kuhn_pokr")


def test_simultaneous_game_says_how_to_convert():
    with pytest.raises(ValueError, match="convert_to_turn_based"):
        load_game("matrix_rps")


def test_no_information_state_strings():
    with pytest.raises(ValueError, match="information-state strings"):
        load_game("catch")


def test_bad_params():
    with pytest.raises(ValueError, match="params"):
        load_game("kuhn_poker", no_such_param=3)
    with pytest.raises(TypeError, match="params"):
        load_game("kuhn_poker", players=[2])
    with pytest.raises(ValueError, match="params"):
        load_game(pyspiel.load_game("kuhn_poker"), players=3)


def test_bad_name_type_and_max_nodes():
    with pytest.raises(TypeError, match="name"):
        load_game(3)
    with pytest.raises(ValueError, match="max_nodes"):
        load_game("leduc_poker", max_nodes=100)
    with pytest.raises(ValueError, match="max_nodes"):
        load_game("kuhn_poker", max_nodes=-1)


def test_cached_builds_once_per_game():
    game = load_game("kuhn_poker")
    calls = []
    first = game.cached(("test", 1), lambda: calls.append(1) or np.arange(3))
    again = game.cached(("test", 1), lambda: calls.append(1) or np.arange(4))
    assert first is again and calls == [1]
