import math

import numpy as np
import pytest
import torch
from scipy import stats

from econcs.shared import parse_distribution


def _draw(spec, n_bidders=1, n_items=1, n=200_000, seed=0):
    dist = parse_distribution(spec, n_bidders, n_items)
    x = dist.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return dist, x


@pytest.mark.parametrize(
    ("spec", "frozen"),
    [
        ("uniform(4,16)", stats.uniform(4, 12)),
        ("exponential(3)", stats.expon(scale=3)),
        ("beta(2,5)", stats.beta(2, 5)),
        ("normal(0.5,0.125)[0,1]", stats.truncnorm(-4, 4, loc=0.5, scale=0.125)),
        ("normal(0,1)[0.5,2]", stats.truncnorm(0.5, 2, loc=0, scale=1)),
        ("exponential(2)[1,3]", stats.truncexpon(b=1.0, loc=1, scale=2)),
    ],
)
def test_marginals_match_scipy(spec, frozen):
    _, x = _draw(spec)
    sample = x.numpy().ravel()
    # Kolmogorov-Smirnov against the exact distribution; fails for a wrong family or truncation
    assert stats.kstest(sample, frozen.cdf).pvalue > 1e-3
    np.testing.assert_allclose(sample.mean(), frozen.mean(), rtol=1e-2)


def test_per_item_and_per_bidder_specs():
    dist, x = _draw("uniform(4,16),uniform(4,7)|uniform(0,1)", n_bidders=2, n_items=2, n=50_000)
    assert x.shape == (50_000, 2, 2)
    np.testing.assert_allclose(dist.low.numpy(), [[4, 4], [0, 0]])
    np.testing.assert_allclose(dist.high.numpy(), [[16, 7], [1, 1]])
    np.testing.assert_allclose(x.mean(0).numpy(), [[10, 5.5], [0.5, 0.5]], rtol=1e-2)
    # independence across cells: correlation near zero
    corr = np.corrcoef(x[:, 0, 0].numpy(), x[:, 1, 1].numpy())[0, 1]
    assert abs(corr) < 0.02
    assert dist.is_bounded and not parse_distribution("exponential(1)", 1, 1).is_bounded


def test_sampling_is_reproducible_and_dtype():
    d = parse_distribution("beta(2,2)", 3, 2)
    a = d.sample(10, generator=torch.Generator().manual_seed(5))
    b = d.sample(10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert math.isclose(d.marginals[0][0].mean, 0.5, abs_tol=1e-6)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("uniform(1,0)", "low < high"),
        ("gamma(1,2)", "unknown distribution 'gamma'"),
        ("uniform(0,1", "cannot parse"),
        ("exponential(-1)", "mean > 0"),
        ("beta(0,1)", "a, b > 0"),
        ("uniform(0,1),uniform(0,1),uniform(0,1)", "n_items=2"),
        ("uniform(0,1)|uniform(0,1)|uniform(0,1)", "n_bidders=2"),
        ("normal(0,1)[2,1]", "lo < hi"),
        ("uniform(0,1)[2,3]", "empty support"),
        ("", "expected a distribution spec"),
        ("uniform(a,b)", "non-numeric"),
    ],
)
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_distribution(spec, 2, 2)


def test_bad_sizes():
    with pytest.raises(ValueError, match="n_bidders"):
        parse_distribution("uniform(0,1)", 0, 2)
    with pytest.raises(TypeError, match="values"):
        parse_distribution(3, 1, 1)
    with pytest.raises(ValueError, match="n: expected an integer >= 1"):
        parse_distribution("uniform(0,1)", 1, 1).sample(0)
