import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from econcs.shared import (
    make_generator,
    make_rng,
    project_capped_simplex,
    project_simplex,
    resolve_device,
    resolve_dtype,
    softmax_temperature,
)


def _qp_projection(y, radius, capped):
    """Independent reference: the projection as a QP solved by SLSQP."""
    n = len(y)
    cons = [{"type": "ineq" if capped else "eq", "fun": lambda x: radius - x.sum()}]
    res = minimize(
        lambda x: 0.5 * ((x - y) ** 2).sum(),
        np.full(n, radius / n),
        jac=lambda x: x - y,
        bounds=[(0, None)] * n,
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.x


@pytest.mark.parametrize("capped", [False, True])
def test_projection_matches_qp(capped):
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(20, 6, generator=gen, dtype=torch.float64) * 2
    proj = (project_capped_simplex if capped else project_simplex)(y, radius=1.5)
    for row, out in zip(y.numpy(), proj.numpy()):
        np.testing.assert_allclose(out, _qp_projection(row, 1.5, capped), atol=1e-6)
    assert torch.all(proj >= 0)
    if not capped:
        np.testing.assert_allclose(proj.sum(-1).numpy(), 1.5, atol=1e-12)


def test_projection_along_other_dim_and_idempotent():
    y = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = project_simplex(y, dim=1)
    np.testing.assert_allclose(p.sum(1).numpy(), 1.0, atol=1e-12)
    torch.testing.assert_close(project_simplex(p, dim=1), p)
    inside = torch.tensor([[0.2, 0.3, 0.1]], dtype=torch.float64)
    torch.testing.assert_close(project_capped_simplex(inside), inside)


def test_projection_bad_input():
    with pytest.raises(ValueError, match="radius"):
        project_simplex(torch.zeros(3), radius=0.0)
    with pytest.raises(TypeError, match="x: expected Tensor"):
        project_simplex([1.0, 2.0])


def test_softmax_temperature_stable_and_limits():
    x = torch.tensor([[1000.0, 999.0, -1000.0]], dtype=torch.float64)
    p = softmax_temperature(x, 1.0)
    np.testing.assert_allclose(
        p.numpy(), [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0]], rtol=1e-12
    )
    np.testing.assert_allclose(softmax_temperature(x, 1e-4).numpy(), [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="temperature"):
        softmax_temperature(x, -1.0)


def test_devices_dtypes_generators():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    with pytest.raises(TypeError, match="device"):
        resolve_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype("float64") is torch.float64 and resolve_dtype(None) is torch.float32
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype(torch.int64)
    a = torch.rand(3, generator=make_generator(7))
    assert torch.equal(a, torch.rand(3, generator=make_generator(7)))
    assert make_rng(3).integers(1000) == make_rng(3).integers(1000)
    with pytest.raises(ValueError, match="seed"):
        make_generator(-1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_projection_on_gpu_matches_cpu():
    y = torch.randn(64, 7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(project_simplex(y.cuda()).cpu(), project_simplex(y))
