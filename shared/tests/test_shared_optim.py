import numpy as np
import pytest
import torch

from econcs.shared import (
    AugmentedLagrangian,
    DivergenceError,
    ExtraGradient,
    game_closure,
    minimize_augmented_lagrangian,
)


def test_augmented_lagrangian_reaches_kkt_point():
    # max -(x1-2)^2 - (x2-1)^2  s.t.  x1 + x2 - 1 = 0  ->  x* = (1, 0), multiplier 2 (closed form)
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([2.0, 1.0], dtype=torch.float64)
    res = minimize_augmented_lagrangian(
        [x],
        lambda: -((x - target) ** 2).sum(),
        lambda: (x.sum() - 1).reshape(1),
        max_iter=1500,
        lr=0.05,
        rho=1.0,
        update_every=10,
    )
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(res.lambdas.numpy(), [2.0], atol=1e-2)
    np.testing.assert_allclose(res.objective, -2.0, atol=1e-3)
    assert abs(float(res.constraints[0])) < 1e-3
    assert res.iterations == 1500 and len(res.history) == 15
    assert [h["step"] for h in res.history[:2]] == [100, 200]
    assert res.history[-1]["max_violation"] < 1e-2


def test_augmented_lagrangian_schedule_and_state():
    al = AugmentedLagrangian(
        2, rho=1.0, lambda_init=5.0, update_every=2, rho_increment=3.0, rho_every=4, rho_max=5.0
    )
    g = torch.tensor([1.0, 0.5])
    for _ in range(4):
        al.step(g)
    # two multiplier updates with rho = 1 (rho grows after the 4th step, to 4)
    np.testing.assert_allclose(al.lambdas.numpy(), [7.0, 6.0])
    assert al.rho == 4.0
    for _ in range(4):
        al.step(g)
    assert al.rho == 5.0  # capped
    loss = al.loss(torch.tensor(1.0), g)
    np.testing.assert_allclose(float(loss), -1 + (al.lambdas * g).sum() + 2.5 * 1.25)
    other = AugmentedLagrangian(2)
    other.load_state_dict(al.state_dict())
    assert other.rho == al.rho and torch.equal(other.lambdas, al.lambdas)
    with pytest.raises(ValueError, match="constraints: expected 2 values"):
        al.loss(torch.tensor(0.0), torch.zeros(3))
    with pytest.raises(ValueError, match="rho"):
        AugmentedLagrangian(1, rho=0.0)
    with pytest.raises(ValueError, match="n_constraints"):
        AugmentedLagrangian(0)


def test_augmented_lagrangian_loss_reads_its_state_from_tensors_updated_in_place():
    """What a loss recorded once (a CUDA graph) needs: the multipliers and rho / 2 are tensors that
    step, the rho setter and load_state_dict update in place; the loss is the formula with a
    Python-float rho bitwise (float32), and rho beyond float32's range gives an infinite loss."""
    al = AugmentedLagrangian(2, rho=0.3, lambda_init=1.5, update_every=1, rho_increment=0.7,
                             rho_every=1)
    lambdas, half_rho = al.lambdas, al._half_rho
    g = torch.tensor([0.25, 0.1])
    for _ in range(3):
        al.step(g)
        loss = al.loss(torch.tensor(2.0), g)
        assert torch.equal(loss, -torch.tensor(2.0) + (al.lambdas * g).sum()
                           + 0.5 * al.rho * (g * g).sum())
    other = AugmentedLagrangian(2, rho=1.0)
    kept = other.lambdas
    other.load_state_dict(al.state_dict())
    assert other.lambdas is kept and torch.equal(kept, al.lambdas)
    assert al.lambdas is lambdas and al._half_rho is half_rho
    assert float(other.loss(torch.tensor(2.0), g)) == float(loss)
    with pytest.raises(ValueError, match=r"state: expected 3 multipliers, got shape \(2,\)"):
        AugmentedLagrangian(3).load_state_dict(al.state_dict())
    al.rho = 1e39  # float32 max is 3.4e38
    assert al.rho == 1e39 and torch.isinf(al.loss(torch.tensor(0.0), g))


def test_augmented_lagrangian_divergence_is_reported():
    x = torch.zeros(1, requires_grad=True)
    with pytest.raises(DivergenceError, match="iteration 1"):
        minimize_augmented_lagrangian([x], lambda: x.sum() * float("nan"), lambda: x, max_iter=5)


def _bilinear(seed=0, n=4):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    a = q * (
        0.5 + torch.rand(n, generator=gen, dtype=torch.float64)
    )  # singular values in [0.5, 1.5]
    x = torch.randn(n, generator=gen, dtype=torch.float64).requires_grad_(True)
    y = torch.randn(n, generator=gen, dtype=torch.float64).requires_grad_(True)
    return a, x, y


@pytest.mark.parametrize("optimistic", [False, True])
def test_extragradient_converges_on_bilinear_game(optimistic):
    a, x, y = _bilinear()
    start = float(torch.cat([x, y]).detach().norm())
    lr = 0.5 / float(torch.linalg.matrix_norm(a, 2))
    opt = ExtraGradient([x, y], lr=lr, optimistic=optimistic)
    closure = game_closure([[x], [y]], lambda: (x @ a @ y, -(x @ a @ y)))
    for _ in range(3000):
        opt.step(closure)
    assert float(torch.cat([x, y]).detach().norm()) < 1e-6 * start


def test_simultaneous_gda_diverges_on_the_same_game():
    a, x, y = _bilinear()
    start = float(torch.cat([x, y]).detach().norm())
    lr = 0.5 / float(torch.linalg.matrix_norm(a, 2))
    opt = torch.optim.SGD([x, y], lr=lr)
    closure = game_closure([[x], [y]], lambda: (x @ a @ y, -(x @ a @ y)))
    for _ in range(300):
        closure()
        opt.step()
    assert float(torch.cat([x, y]).detach().norm()) > 10 * start


def test_extragradient_needs_closure_and_positive_lr():
    x = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="closure"):
        ExtraGradient([x]).step()
    with pytest.raises(ValueError, match="lr"):
        ExtraGradient([x], lr=-1.0)


def test_extragradient_three_player_game():
    # each player i minimises (x_i - mean of others)^2 + x_i^2 / 10: unique equilibrium at 0
    xs = [torch.tensor([float(i + 1)], dtype=torch.float64, requires_grad=True) for i in range(3)]

    def losses():
        return [
            ((xs[i] - (sum(xs) - xs[i]) / 2) ** 2).sum() + 0.1 * (xs[i] ** 2).sum()
            for i in range(3)
        ]

    opt = ExtraGradient(xs, lr=0.2)
    closure = game_closure([[x] for x in xs], losses)
    for _ in range(500):
        opt.step(closure)
    np.testing.assert_allclose(torch.cat(xs).detach().numpy(), 0.0, atol=1e-8)
