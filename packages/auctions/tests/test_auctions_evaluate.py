"""The regret search's budgets (sanity / standard / full) and the evaluation's progress lines."""

import io

import pytest
import torch

from econcs.auctions import (
    VCG,
    AffineMaximizer,
    AuctionSetting,
    Mechanism,
    MyersonItemwise,
    RochetNet,
    evaluate,
)
from econcs.auctions._evaluate import REGRET_SEARCHES
from econcs.shared.progress import StageLines, stage_progress


class Overcharge(Mechanism):
    """Not IC: the bidder always gets the item and pays half its *reported* value, so reporting
    the lowest value is best; regret ``E[v / 2] = 1/4`` on U[0,1]."""

    def outcome(self, reports, temperature=None):
        return torch.ones_like(reports), 0.5 * reports[..., 0]


def test_exactly_ic_mechanisms_get_the_sanity_search_and_it_finds_zero():
    s1, s2 = AuctionSetting(1, 2), AuctionSetting(2, 2)
    menu = RochetNet(s1, menu_size=32).fit(max_iter=100, batch_size=256, seed=1)
    ama = AffineMaximizer(s2).fit(max_iter=30, batch_size=128, seed=0)
    for mech in (menu, VCG(s2), MyersonItemwise(s2), ama):
        rep = evaluate(mech, 2000, seed=2)
        assert (rep.regret_search, rep.n_regret_samples, rep.n_restarts, rep.n_steps) == \
            ("sanity", *REGRET_SEARCHES["sanity"]), type(mech).__name__
        assert rep.regret_max < 1e-5, type(mech).__name__
        assert rep.regret_grid_mean < 1e-6, type(mech).__name__


def test_a_non_ic_mechanism_gets_the_standard_search_and_even_the_sanity_one_finds_regret():
    mech = Overcharge(AuctionSetting(1, 1))
    rep = evaluate(mech, 1000, seed=0)
    assert (rep.regret_search, rep.n_regret_samples) == ("standard", 500)
    assert rep.regret_mean == pytest.approx(0.25, abs=0.03)
    sanity = evaluate(mech, 1000, seed=0, regret_search="sanity")
    assert sanity.n_regret_samples == 100
    assert sanity.regret_mean == pytest.approx(0.25, abs=0.05)  # 100 profiles: noisier
    assert sanity.regret_max > 0.4


def test_explicit_budget_overrides_the_named_search():
    mech = VCG(AuctionSetting(2, 1))
    rep = evaluate(mech, 300, seed=0, regret_search="full", n_restarts=3, n_steps=2)
    assert (rep.regret_search, rep.n_regret_samples, rep.n_restarts, rep.n_steps) == \
        ("custom", 300, 3, 2)  # full's 1000 profiles, capped at the 300 drawn
    same = evaluate(mech, 300, seed=0, regret_search="sanity", n_restarts=10)
    assert same.regret_search == "sanity"  # the named budget's own value is still that search
    with pytest.raises(ValueError, match="regret_search"):
        evaluate(mech, 10, regret_search="huge")


def test_progress_lines_when_stderr_is_not_a_terminal(capsys):
    mech = Overcharge(AuctionSetting(1, 1))
    evaluate(mech, 2000, seed=0, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("evaluate Overcharge: revenue on 2000 profiles: 1 pass in ")
               for line in err), err
    assert any("exact regret on a 401-point grid zoomed 3 times x 500 profiles: 1 pass in" in line
               for line in err), err
    ends = [line for line in err if "standard regret search (500 profiles x 20 restarts x 40 "
            "steps): 500 profiles in" in line]
    assert len(ends) == 1, err
    assert not any("\r" in line for line in err)  # plain lines, no bar redraws
    evaluate(mech, 200, seed=0)  # progress off by default
    assert capsys.readouterr().err == ""


def test_stage_lines_estimate_the_rest_once():
    buf = io.StringIO()
    bar = stage_progress(10, "stage", unit="pieces", file=buf)
    assert isinstance(bar, StageLines)  # a StringIO is not a terminal
    bar.min_eta = 0.0
    with bar:
        for _ in range(10):
            bar.update(1)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("stage: 1/10 pieces in ") and lines[0].endswith(" to go")
    assert lines[1].startswith("stage: 10 pieces in ")
    quiet = io.StringIO()
    with stage_progress(3, "x", file=quiet, disable=True) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""
