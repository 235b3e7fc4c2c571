"""Utility landscapes: the exact line against a brute-force evaluation, networks, bad input."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.persuasion import (
    Landscape,
    UtilityNetwork,
    plot_landscape,
    prosecutor_game,
    random_game,
    sender_utilities,
    utility_landscape,
)


def test_prosecutor_line_jumps_where_the_judge_stops_convicting():
    g = prosecutor_game(0.3)
    land = utility_landscape(g, [[[1.0, 0.0], [0.0, 1.0]]], target=[[0.0, 1.0], [0.0, 1.0]],
                             n_points=701)
    # pi(s1 | innocent) = t: the judge convicts on s1 iff 0.3 / (0.3 + 0.7 t) >= 1/2, t <= 3/7
    expected = np.where(land.t <= 3 / 7 + 1e-12, 0.3 + 0.7 * land.t, 0.0)
    assert_allclose(land.exact, expected, atol=1e-12)


def test_line_matches_sender_utilities_and_networks_are_evaluated():
    g = random_game(2, 3, 2, 3, seed=1)
    prof = np.random.default_rng(0).dirichlet(np.ones(2), size=(2, 3))
    nets = {"relu": UtilityNetwork("relu", g.scheme_shape, hidden=8),
            "dnl": UtilityNetwork("dnl", g.scheme_shape, hidden=8).double()}
    land = utility_landscape(g, prof, 1, networks=nets, n_points=7)
    line = np.repeat(prof[None], 7, 0)
    line[:, 1] = (1 - land.t)[:, None, None] * prof[1] + land.t[:, None, None] / 2
    assert_allclose(land.exact, sender_utilities(g, line)[:, 1].numpy(), atol=1e-12)
    with torch.no_grad():
        ref = nets["relu"](torch.as_tensor(line, dtype=torch.float32))[:, 1].double().numpy()
    assert_allclose(land.predicted["relu"], ref, atol=1e-6)
    assert set(land.errors()) == {"relu", "dnl"} and land.predicted["dnl"].shape == (7,)


def test_bad_input():
    g = random_game(2, 2, 2, 2, seed=0)
    prof = np.full((2, 2, 2), 0.5)
    with pytest.raises(ValueError, match="sender"):
        utility_landscape(g, prof, 2)
    with pytest.raises(ValueError, match="target: expected a scheme of shape"):
        utility_landscape(g, prof, 0, target=np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="target"):
        utility_landscape(g, prof, 0, target=[[0.9, 0.9], [0.5, 0.5]])
    with pytest.raises(ValueError, match="profile: expected one profile"):
        utility_landscape(g, prof[None], 0)
    with pytest.raises(ValueError, match="n_points"):
        utility_landscape(g, prof, 0, n_points=1)
    with pytest.raises(TypeError, match="networks"):
        utility_landscape(g, prof, 0, networks={"x": 3})
    with pytest.raises(TypeError, match="landscape"):
        plot_landscape("not a landscape")


def test_plot_has_one_line_per_network():
    pytest.importorskip("matplotlib")
    g = random_game(2, 2, 2, 2, seed=0)
    land = utility_landscape(g, np.full((2, 2, 2), 0.5), 0, n_points=5,
                             networks={"relu": UtilityNetwork("relu", g.scheme_shape, hidden=4)})
    assert isinstance(land, Landscape)
    fig = plot_landscape(land, title="t")
    assert len(fig.axes[0].lines) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
