"""sample_dirichlet: moments against the Dirichlet's closed forms, seeding, bad input."""

import pytest
import torch
from numpy.testing import assert_allclose

from econcs.shared import sample_dirichlet


@pytest.mark.parametrize("alpha", [(0.2, 0.2, 0.2), (1.0, 2.0, 3.0), (5.0, 0.5)])
def test_moments_match_the_closed_form(alpha):
    a = torch.tensor(alpha, dtype=torch.float64)
    x = sample_dirichlet(a.expand(50_000, -1), generator=torch.Generator().manual_seed(0))
    a0 = float(a.sum())
    mean = a / a0
    var = a * (a0 - a) / (a0**2 * (a0 + 1))
    # standard errors of the mean are at most sqrt(0.25 / 5e4) ~ 2.2e-3; of the variance ~1-3%
    assert_allclose(x.mean(0).numpy(), mean.numpy(), atol=1e-2)
    assert_allclose(x.var(0).numpy(), var.numpy(), rtol=0.1)
    assert_allclose(x.sum(-1).numpy(), 1.0, atol=1e-12)
    assert float(x.min()) >= 0.0


def test_seeded_and_dtype():
    conc = torch.full((5, 4), 0.7)
    a = sample_dirichlet(conc, generator=torch.Generator().manual_seed(3))
    b = sample_dirichlet(conc, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert sample_dirichlet(conc, generator=torch.Generator().manual_seed(3),
                            dtype=torch.float64).dtype == torch.float64


def test_bad_input():
    with pytest.raises(ValueError, match="concentration: expected positive"):
        sample_dirichlet(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="concentration: expected positive"):
        sample_dirichlet(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="concentration: expected shape"):
        sample_dirichlet(torch.tensor(1.0))
    with pytest.raises(TypeError, match="concentration"):
        sample_dirichlet([1.0, 2.0])
