"""Values of experiments, obedience, type distributions and their bad input."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.datamarkets import (
    DataMarket,
    best_posted_price,
    experiment_value,
    obedience_gap,
    parse_mixture,
)


def test_values_and_obedience():
    theta = torch.tensor([[0.3, 0.7], [0.5, 0.5]], dtype=torch.float64)
    u = torch.eye(2, dtype=torch.float64)
    full = torch.eye(2, dtype=torch.float64)
    flipped = full.flip(1)  # signal 0 says state 1: disobeying pays
    partial = torch.tensor([[0.8, 0.2], [0.0, 1.0]], dtype=torch.float64)
    menu = torch.stack([full, flipped, partial])
    val = experiment_value(theta, menu, u)
    assert_allclose(val[:, :2].numpy(), 1.0)
    # partial: signal 0 -> posterior (0.24, 0) -> 0.24; signal 1 -> (0.06, 0.7) -> 0.7
    assert_allclose(val[0, 2].item(), 0.94)
    gap = obedience_gap(theta, menu, u)
    assert_allclose(gap[:, 0].numpy(), 0.0)
    assert_allclose(gap[:, 1].numpy(), 1.0)


def test_mixture_sampling_and_grid():
    m = DataMarket(belief="0.5*beta(8,30)+0.5*beta(60,30)")
    theta, _ = m.sample(200_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert_allclose(theta[:, 1].mean().item(), 0.5 * 8 / 38 + 0.5 * 60 / 90, atol=2e-3)
    grid = m.grid(50)
    assert_allclose(grid.weights.sum(), 1.0)
    assert_allclose(grid.beliefs[:, 1] @ grid.weights, 0.5 * 8 / 38 + 0.5 * 60 / 90, atol=2e-3)
    g2 = DataMarket(value="exponential(1)").grid(5, 4)
    assert g2.n_types == 20 and np.all(np.isfinite(g2.values))
    m3 = DataMarket(3, belief="exponential(1)")
    b3, _ = m3.sample(4, generator=torch.Generator().manual_seed(0))
    assert_allclose(b3.sum(1).numpy(), 1.0, rtol=1e-6)


def test_posted_price():
    assert best_posted_price([0.3]) == (0.3, 0.3)
    with pytest.raises(ValueError, match="gains"):
        best_posted_price([np.nan])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"belief": "uniform(0,2)"}, "belief"),
        ({"belief": "gamma(1,1)"}, "belief"),
        ({"belief": "0.5*beta(1,1)+0.2*beta(2,2)"}, "belief"),
        ({"belief": "normal(0,1)", "n_states": 3}, "belief"),
        ({"value": "normal(0,1)"}, "value"),
        ({"value": "nonsense"}, "value"),
        ({"n_states": 1}, "n_states"),
        ({"n_actions": 3}, "payoff"),
        ({"payoff": np.eye(3)}, "payoff"),
        ({"payoff": [[1.0, np.nan], [0.0, 1.0]]}, "payoff"),
    ],
)
def test_market_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataMarket(**kwargs)


def test_market_bad_types():
    with pytest.raises(TypeError, match="belief"):
        DataMarket(belief=3)
    with pytest.raises(ValueError, match="n_values"):
        DataMarket().grid(5, 3)
    with pytest.raises(ValueError, match="n_states"):
        DataMarket(3, belief="exponential(1)").grid(5)
    with pytest.raises(ValueError, match="experiments"):
        DataMarket().check_experiments(torch.ones(1, 2, 2))
    with pytest.raises(TypeError, match="belief"):
        parse_mixture(None)


@pytest.mark.parametrize("n_actions", [2, 3])
def test_one_menu_value_paths_match_the_batched_tensor(n_actions):
    # one menu (K, S, G): the |x - y| form for two actions, max(dim) for more; against the
    # batched (B, K, S, G) einsum with amax, in value and in gradient
    g = torch.Generator().manual_seed(0)
    beliefs = torch.softmax(torch.randn(50, 3, generator=g, dtype=torch.float64), dim=1)
    payoff = torch.rand(n_actions, 3, generator=g, dtype=torch.float64)
    logits = torch.randn(6, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    fast = experiment_value(beliefs, torch.softmax(logits, dim=-1), payoff)
    (grad_fast,) = torch.autograd.grad(fast.sum(), logits)
    dense = experiment_value(beliefs, torch.softmax(logits, dim=-1).expand(50, -1, -1, -1),
                             payoff)
    (grad_dense,) = torch.autograd.grad(dense.sum(), logits)
    assert_allclose(fast.detach(), dense.detach(), atol=1e-12)
    assert_allclose(grad_fast, grad_dense, atol=1e-10)
