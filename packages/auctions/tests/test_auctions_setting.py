"""AuctionSetting: presets, sampling and validation of every argument."""

import math

import pytest
import torch

from econcs.auctions import KNOWN_REVENUES, PRESETS, AuctionSetting


def test_presets_build_and_sample():
    for name in PRESETS:
        s = AuctionSetting.preset(name)
        v = s.sample(5, generator=torch.Generator().manual_seed(0))
        assert v.shape == (5, s.n_bidders, s.n_items)
        assert v.dtype == torch.float32
        assert bool((v >= s.low.float()).all()) and bool((v <= s.high.float()).all())
    assert AuctionSetting.preset("pavlov").known_revenue == pytest.approx(2.133132, abs=1e-6)
    assert KNOWN_REVENUES["manelli-vincent"][0] == pytest.approx(0.549201, abs=1e-6)


def test_sampling_is_seeded_and_per_item():
    s = AuctionSetting(1, 2, values="uniform(4,16),uniform(4,7)")
    a = s.sample(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = s.sample(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(a, b)
    assert a[..., 0].max() > 7 and a[..., 1].max() <= 7
    assert float(a[..., 1].mean()) == pytest.approx(5.5, abs=0.15)


def test_unbounded_prior_has_finite_search_box():
    s = AuctionSetting(1, 1, values="exponential(2)")
    assert math.isinf(float(s.high[0, 0]))
    assert float(s.search_high[0, 0]) == pytest.approx(-2 * math.log(1e-4), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"n_bidders": 0, "n_items": 2}, ValueError, "n_bidders"),
        ({"n_bidders": -1, "n_items": 2}, ValueError, "n_bidders"),
        ({"n_bidders": 1.5, "n_items": 2}, TypeError, "n_bidders"),
        ({"n_bidders": 1, "n_items": 0}, ValueError, "n_items"),
        ({"n_bidders": 1, "n_items": 2, "valuation": "submodular"}, ValueError, "valuation"),
        ({"n_bidders": 1, "n_items": 2, "valuation": 3}, TypeError, "valuation"),
        ({"n_bidders": 1, "n_items": 2, "values": "uniform(1,0)"}, ValueError, "values"),
        ({"n_bidders": 1, "n_items": 2, "values": "gauss(0,1)"}, ValueError, "values"),
        ({"n_bidders": 1, "n_items": 2, "values": "uniform(0,1"}, ValueError, "values"),
        ({"n_bidders": 1, "n_items": 2, "values": ""}, ValueError, "values"),
        ({"n_bidders": 1, "n_items": 2, "values": "normal(0,1)"}, ValueError, "values"),
        ({"n_bidders": 1, "n_items": 3, "values": "uniform(0,1),uniform(0,2)"}, ValueError,
         "values"),
        ({"n_bidders": 3, "n_items": 1, "values": "uniform(0,1)|uniform(0,2)"}, ValueError,
         "values"),
        ({"n_bidders": 1, "n_items": 1, "values": None}, TypeError, "values"),
    ],
)
def test_bad_settings(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        AuctionSetting(**kwargs)


def test_bad_preset_and_values_tensor():
    with pytest.raises(ValueError, match="name"):
        AuctionSetting.preset("7x7")
    s = AuctionSetting(2, 2)
    with pytest.raises(ValueError, match="values"):
        s.check_values(torch.zeros(3, 2, 3))
    with pytest.raises(ValueError, match="values"):
        s.check_values(torch.full((3, 2, 2), math.nan))
    with pytest.raises(ValueError, match="values"):
        s.check_values(torch.zeros(0, 2, 2))
    with pytest.raises(TypeError, match="values"):
        s.check_values([[0.1, 0.2]])


def test_known_revenue_of_baseline_presets_is_a_floor():
    assert AuctionSetting.preset("2x2").known_revenue_is_baseline
    assert AuctionSetting.preset("3x10").known_revenue == 5.3125
    assert not AuctionSetting.preset("manelli-vincent").known_revenue_is_baseline
    assert not AuctionSetting(2, 3, values="uniform(0,2)").known_revenue_is_baseline
