"""Sequential auctions: settings, bad input, the choice rules against brute force, save/load."""

import itertools

import pytest
import torch
from numpy.testing import assert_allclose

from econcs.auctions.sequential import (
    ItemPricePolicy,
    SequentialSetting,
    TablePolicy,
    choose_bundle,
    choose_entry_fee,
    choose_size,
    evaluate_sequential,
    itemwise,
    load_policy,
)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_bidders": 0, "n_items": 2}, "n_bidders"),
    ({"n_bidders": 2, "n_items": 0}, "n_items"),
    ({"n_bidders": 2, "n_items": 11}, "2\\^m"),
    ({"n_bidders": 2, "n_items": 2, "setting": "G"}, "setting"),
    ({"n_bidders": 2, "n_items": 2, "menu": "lottery"}, "menu"),
    ({"n_bidders": 2, "n_items": 2, "setting": "E", "menu": "entry-fee"}, "menu"),
])
def test_setting_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequentialSetting(**kwargs)


def test_setting_types_and_entry_fee_for_many_items():
    with pytest.raises(TypeError, match="n_items"):
        SequentialSetting(2, 2.5)
    with pytest.raises(TypeError, match="setting"):
        SequentialSetting(2, 2, 1)
    s = SequentialSetting(3, 50, "A", menu="entry-fee")
    assert s.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 3, 50)


@pytest.mark.parametrize("letter", list("ABCDEF"))
def test_sample_shapes_and_supports(letter):
    s = SequentialSetting(2, 3, letter)
    v = s.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert v.shape == (20_000, *s.value_shape)
    if letter == "B":  # item j ~ U[0, j/m]
        assert_allclose(v.mean((0, 1)).numpy(), [1 / 6, 2 / 6, 3 / 6], atol=0.01)
    if letter == "E":  # bundle T ~ U[0, sqrt|T|]
        assert_allclose(v[..., 7].mean().item(), 3 ** 0.5 / 2, atol=0.02)
        assert float(v[..., 0].abs().max()) == 0.0
    if letter == "F":  # sum t_j + c_T: mean 1.5 |T|, at least 0
        assert_allclose(v[..., 7].mean().item(), 4.5, atol=0.03)
        assert float(v.min()) >= 0.0


def test_evaluate_rejects_bad_values():
    policy = itemwise(SequentialSetting(2, 3, "A"))
    with pytest.raises(ValueError, match="values"):
        evaluate_sequential(policy, values=torch.rand(4, 2, 4))
    bad = torch.rand(4, 2, 3)
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="values"):
        evaluate_sequential(policy, values=bad)
    with pytest.raises(ValueError, match="n_samples"):
        evaluate_sequential(policy, n_samples=0)
    with pytest.raises(TypeError, match="policy"):
        evaluate_sequential("dp", 10)


def _brute_force(values, prices, allowed):
    """Best bundle by enumeration, ties to the larger bundle."""
    best, best_t = -float("inf"), None
    for t in allowed:
        u = float(values[t]) - float(prices[t])
        size = bin(t).count("1")
        if u > best or (u == best and size > bin(best_t).count("1")):
            best, best_t = u, t
    return best_t


def test_choose_bundle_ties_go_to_the_larger_bundle():
    vals = torch.tensor([[0.0, 1.0, 1.0, 2.0]])
    prices = torch.tensor([[0.0, 1.0, 0.5, 1.5]])  # utilities 0, 0, 0.5, 0.5: take {0, 1}
    idx, pay = choose_bundle(vals, prices, torch.tensor([0, 1, 1, 2]))
    assert idx.item() == 3 and pay.item() == 1.5
    idx, _ = choose_bundle(vals[:, :2], prices[:, :2], torch.tensor([0, 1]))
    assert idx.item() == 1  # u = 0 for both: the item, not nothing


def test_entry_fee_and_size_choices_match_brute_force():
    gen = torch.Generator().manual_seed(3)
    m, b = 4, 200
    s = SequentialSetting(1, m, "A")
    values = torch.rand(b, m, generator=gen)
    available = torch.rand(b, m, generator=gen) < 0.7
    item_prices = torch.rand(b, m, generator=gen) * 0.8
    fee = torch.rand(b, generator=gen) * 0.5
    size_prices = torch.cat([torch.zeros(b, 1), torch.rand(b, m, generator=gen).cumsum(1) * 0.6],
                            1)
    bundles = s.bundles
    bought_f, pay_f = choose_entry_fee(values, available, item_prices, fee)
    bought_s, pay_s = choose_size(values, available, size_prices)
    for r in range(b):
        allowed = [t for t in range(2 ** m) if not (t & ~int(
            sum(1 << j for j in range(m) if available[r, j])))]
        bv = bundles @ values[r]
        fee_prices = bundles @ item_prices[r] + fee[r] * (bundles.sum(1) > 0)
        t = _brute_force(bv, fee_prices, allowed)
        assert bought_f[r].tolist() == (bundles[t] > 0).tolist()
        assert_allclose(pay_f[r].item(), fee_prices[t].item(), atol=1e-6)
        sizes = bundles.sum(1).long()
        size_menu = size_prices[r][sizes]
        t = _brute_force(bv, size_menu, allowed)
        assert_allclose(pay_s[r].item(), size_menu[t].item(), atol=1e-6)
        assert int(bought_s[r].sum()) == bin(t).count("1")


def test_k_demand_entry_fee_takes_at_most_k_items():
    values = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
    bought, pay = choose_entry_fee(values, torch.ones(1, 4, dtype=torch.bool),
                                   torch.zeros(1, 4), torch.tensor([0.2]), demand=1)
    assert bought.tolist() == [[True, False, False, False]] and pay.item() == pytest.approx(0.2)


def test_bundle_table_policy_respects_availability_and_demand():
    s = SequentialSetting(1, 3, "C")  # unit demand: bundles of two or three items not offered
    table = torch.zeros(1, 8, 8)  # everything free
    policy = TablePolicy(s, table)
    v = torch.tensor([[0.2, 0.9, 0.5]])
    avail = torch.tensor([[True, False, True]])
    bought, pay = policy.respond(0, avail, v)
    assert bought.tolist() == [[False, False, True]] and pay.item() == 0.0
    with pytest.raises(ValueError, match="prices"):
        TablePolicy(s, torch.zeros(1, 8, 4))


def test_save_load_roundtrip(tmp_path):
    s = SequentialSetting(2, 3, "C")
    table = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    policy = TablePolicy(s, table)
    policy.save(tmp_path / "p.safetensors")
    again = load_policy(tmp_path / "p.safetensors", setting=s)
    values = s.sample(1000, generator=torch.Generator().manual_seed(1))
    assert evaluate_sequential(again, values=values) == evaluate_sequential(policy, values=values)
    with pytest.raises(ValueError, match="setting"):
        load_policy(tmp_path / "p.safetensors", setting=SequentialSetting(2, 3, "A"))
    with pytest.raises(ValueError, match="path"):
        load_policy(tmp_path / "missing.safetensors")
    ip = ItemPricePolicy(SequentialSetting(2, 3, "A"), torch.rand(2, 3))
    ip.save(tmp_path / "ip.safetensors")
    assert torch.equal(load_policy(tmp_path / "ip.safetensors").item_prices, ip.item_prices)


def test_brute_force_helper_is_exhaustive():
    assert len(list(itertools.product([0, 1], repeat=3))) == SequentialSetting(1, 3).n_bundles
