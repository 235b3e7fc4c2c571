"""Parameter dataclasses: bounds checked once, fit(params) == fit(**overrides), the result shape."""

import dataclasses

import pytest
import torch

from econcs.auctions import (
    VCG,
    AffineMaximizer,
    AffineMaximizerParams,
    AuctionSetting,
    GemNet,
    GemNetParams,
    RegretNet,
    RegretNetParams,
    RochetNet,
    RochetNetParams,
)


@pytest.mark.parametrize(
    ("cls", "bad", "key"),
    [
        (RochetNetParams, {"max_iter": 0}, "max_iter"),
        (RochetNetParams, {"lr": 0.0}, "lr"),
        (RochetNetParams, {"temperature_final": 0.0}, "temperature_final"),
        (AffineMaximizerParams, {"batch_size": -1}, "batch_size"),
        (GemNetParams, {"penalty": -1.0}, "penalty"),
        (GemNetParams, {"max_iter": 1.5}, "max_iter"),
        (RegretNetParams, {"n_train": 8, "batch_size": 64}, "n_train"),
        (RegretNetParams, {"rho_every": 0}, "rho_every"),
        (RegretNetParams, {"misreport_steps": -1}, "misreport_steps"),
    ],
)
def test_params_reject_out_of_bounds(cls, bad, key):
    with pytest.raises((TypeError, ValueError), match=key):
        cls(**bad)


def test_params_are_frozen_and_derive_their_defaults():
    p = RochetNetParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_iter = 3  # type: ignore[misc]
    assert p.final_temperature == pytest.approx(p.temperature / 10)
    assert RochetNetParams(temperature_final=0.5).final_temperature == 0.5
    assert GemNetParams(penalty=0.5).final_penalty == 5.0
    assert GemNetParams(penalty_final=3.0).final_penalty == 3.0


def test_gemnet_defaults_depend_on_the_number_of_items():
    """One item: final temperature / 100, penalty 0.5; several: / 10, 2; 3000 steps either way
    (one item's were 6000 before its transform on every cell); explicit values stay."""
    one, two = GemNetParams().resolved(1), GemNetParams().resolved(2)
    assert (one.max_iter, one.penalty, one.final_penalty) == (3000, 0.5, 5.0)
    assert one.final_temperature == pytest.approx(5e-4)
    assert (two.max_iter, two.penalty, two.final_penalty) == (3000, 2.0, 20.0)
    assert two.final_temperature == pytest.approx(5e-3)
    mine = GemNetParams(max_iter=7, penalty=1.0, temperature_final=0.01).resolved(1)
    assert (mine.max_iter, mine.penalty, mine.final_temperature) == (7, 1.0, 0.01)


@pytest.mark.parametrize(
    ("make", "fit_kw"),
    [
        (lambda: RochetNet(AuctionSetting(1, 2), menu_size=8), {"max_iter": 3}),
        (lambda: AffineMaximizer(AuctionSetting(2, 1)), {"max_iter": 3}),
        (lambda: GemNet(AuctionSetting(2, 1), menu_size=4, hidden=4), {"max_iter": 3}),
        (lambda: RegretNet(AuctionSetting(2, 1), hidden=4),
         {"max_iter": 3, "batch_size": 8, "n_train": 16, "misreport_steps": 1}),
    ],
)
def test_fit_takes_params_or_overrides_alike(make, fit_kw):
    a, b = make(), make()
    params = {"RochetNet": RochetNetParams, "AffineMaximizer": AffineMaximizerParams,
              "GemNet": GemNetParams, "RegretNet": RegretNetParams}[type(a).__name__]
    a.fit(params(**fit_kw), seed=2)
    b.fit(seed=2, **fit_kw)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert isinstance(a.history_, tuple) and a.history_ == b.history_
    assert a.history_[-1]["step"] == 3 and isinstance(a.history_[-1], dict)
    with pytest.raises(TypeError, match="n_iter"):
        make().fit(n_iter=3)


def test_straight_through_is_the_argmax_mechanisms_option():
    """Menus, affine maximizers and GemNet search through a straight-through estimator: the exact
    outcome's value with a gradient; smooth mechanisms search their outcome as it is."""
    assert RochetNet.straight_through and AffineMaximizer.straight_through
    assert GemNet.straight_through
    assert not RegretNet.straight_through and not VCG.straight_through
    mech = AffineMaximizer(AuctionSetting(2, 2))
    v = torch.rand(16, 2, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    alloc, pay = mech.search_outcome(v)
    exact_a, exact_p = mech.outcome(v.detach())
    torch.testing.assert_close(alloc.detach(), exact_a)
    torch.testing.assert_close(pay.detach(), exact_p)
    pay.sum().backward()
    assert v.grad is not None and bool(v.grad.abs().sum() > 0)
