"""Experiments: config validation, tiny runs, resume to identical metrics, plots."""

import pytest

from econcs.auctions import AuctionSetting, Mechanism, RochetNet, evaluate, plot_allocation
from econcs.auctions._evaluate import REGRET_SEARCHES
from econcs.auctions._experiments import EXPERIMENTS, PAPER_SCALE
from econcs.shared.experiments import (
    ConfigError,
    RunContext,
    config_from_overrides,
    run_experiment,
)

EXP = {e.name: e for e in EXPERIMENTS.experiments}
TINY = {"n_eval": 500, "n_regret_samples": 20, "n_restarts": 4, "n_steps": 5}


def _cfg(exp, **keys):
    """The config of ``exp`` from keys set by their bare names, as on the command line."""
    return config_from_overrides(EXP[exp].config, keys)


def test_suite_rows_parse():
    for rep in (*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke, *EXPERIMENTS.paper):
        config_from_overrides(EXP[rep.experiment].config, rep.overrides)


def test_full_rows_evaluate_at_least_at_the_issue_minimum():
    """Reported (``--full``) numbers: >= 10,000 held-out profiles for revenue and >= 100
    misreport restarts per profile and bidder."""
    for rep in (*EXPERIMENTS.full, *PAPER_SCALE):
        cfg = config_from_overrides(EXP[rep.experiment].config, rep.overrides)
        ev = cfg.evaluation
        named = REGRET_SEARCHES["full" if ev.regret_search == "full" else "standard"]
        restarts = named[1] if ev.n_restarts is None else ev.n_restarts
        profiles = named[0] if ev.n_regret_samples is None else ev.n_regret_samples
        assert ev.n_eval >= 10_000 and restarts >= 100 and profiles >= 1000, rep.label


def test_paper_scale_rows_are_not_full_rows():
    """The 400k-step RegretNet recipes do not fit an hour on 2 CPU cores: documented commands,
    not ``--full`` rows; every ``--full`` row trains at most 70k RegretNet steps."""
    labels = {r.label for r in EXPERIMENTS.full}
    assert EXPERIMENTS.paper == tuple(PAPER_SCALE)  # econcs reproduce --paper runs them
    assert not labels & {r.label for r in PAPER_SCALE}
    assert {r.overrides.get("n_bidders") for r in PAPER_SCALE} >= {3, 5}
    for rep in EXPERIMENTS.full:
        if rep.experiment == "auctions.regretnet":
            assert rep.overrides.get("max_iter", 0) <= 70_000, rep.label  # 0: the defaults


@pytest.mark.parametrize("exp", sorted(EXP))
def test_show_lists_proportionate_defaults(exp, capsys):
    """``econcs show``: the regret search is ``auto`` (the sanity search for exactly IC
    mechanisms), its budget keys unset, and the default training budget bounded."""
    from econcs.shared.cli import main

    assert main(["show", exp]) == 0
    out = capsys.readouterr().out
    assert "sanity 100 x 10 x 20" in out and "[auto | sanity | standard | full]" in out
    lines = out.splitlines()
    dashes = next(i for i, ln in enumerate(lines) if ln.startswith("---"))
    starts = [i for i, c in enumerate(lines[dashes]) if c == "-" and (i == 0 or
              lines[dashes][i - 1] == " ")]  # the columns: key, type, default, help
    rows = {ln[:starts[1]].strip(): ln[starts[2]:starts[3]].strip()
            for ln in lines[dashes + 1:] if ln.strip()}
    assert rows["regret_search"] == "'auto'"
    for key in ("n_regret_samples", "n_restarts", "n_steps"):
        assert rows[key] == "None", key
    if exp == "auctions.rochetnet":  # Adam steps x profiles x options: the cost of training
        cost = int(rows["max_iter"]) * int(rows["batch_size"]) * int(rows["menu_size"])
        assert cost <= 2000 * 1024 * 250


@pytest.mark.parametrize(
    ("exp", "override", "key"),
    [
        ("auctions.rochetnet", "n_bidders=2", "n_bidders"),
        ("auctions.rochetnet", "max_iter=-1", "max_iter"),
        ("auctions.regretnet", "valuation=xor", "valuation"),
        ("auctions.regretnet", "values=uniform(3,1)", "values"),
        ("auctions.baseline", "mechanism=posted", "mechanism"),
        ("auctions.gemnet", "menu_size=0", "menu_size"),
        ("auctions.gemnet", "temperature_final=0", "temperature_final"),
        ("auctions.gemnet", "transform_order=worst", "transform_order"),
    ],
)
def test_bad_configs(exp, override, key):
    with pytest.raises(ConfigError, match=key):
        config_from_overrides(EXP[exp].config, [override])


def test_baseline_experiment_metrics(tmp_path):
    cfg = _cfg("auctions.baseline", mechanism="vcg", n_items=1, ref_revenue=1 / 3,
                                          ref_rtol=0.2, **TINY)
    rec = run_experiment(EXP["auctions.baseline"], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert {"revenue", "regret_mean", "regret_max", "ir_violation"} <= set(rec.metrics)
    assert rec.references["revenue"].holds(rec.metrics["revenue"])
    assert rec.metrics["regret_max"] < 1e-6


@pytest.mark.parametrize("keys, expected", [
    ({"n_items": 1}, (True, "all", 201)),  # the 2x1 default: 21-grid, 201 own values
    ({"n_items": 1, "values": "uniform(0,1)|uniform(0, 1)"}, (True, "all", 201)),
    ({"n_items": 1, "values": "uniform(0,1)|uniform(0,2)"}, (False, "all", 201)),
    ({"n_items": 1, "grid_points": 11, "own_grid_points": 51}, (True, "all", 51)),
    ({"n_items": 1, "symmetric": False, "transform_cells": "violated"}, (False, "violated", 201)),
    ({"n_items": 1, "n_bidders": 3}, (True, "violated", None)),
    ({"n_items": 2}, (False, "violated", None)),  # 2x2: the paper's network and transform
])
def test_gemnet_resolves_its_auto_choices(keys, expected):
    """A shared network for one item and i.i.d. bidders (the laws compared parsed, not as
    text); the transform on every cell, on 10 (grid_points - 1) + 1 own values, only where the
    others' values are one number; explicit keys win."""
    from econcs.auctions._experiments import _gemnet_choices

    assert _gemnet_choices(_cfg("auctions.gemnet", **keys)) == expected


def test_gemnet_run_without_regret_and_with_repair(tmp_path):
    """``n_regret_samples=0`` skips regret (no NaN metric stops the run); ``repair=true``
    reports the repair's share and loss and holds infeasibility to 0."""
    cfg = _cfg("auctions.gemnet", n_items=1, max_iter=30, menu_size=8, hidden=8,
                                        grid_points=5, refine=0, repair=True,
                                        transform_order="best", transform_cells="violated",
                                        **{**TINY, "n_regret_samples": 0})
    rec = run_experiment(EXP["auctions.gemnet"], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert "regret_mean" not in rec.metrics and "regret_max" not in rec.references
    assert {"repair_share", "repair_loss_mean", "repair_loss_max"} <= set(rec.metrics)
    assert rec.metrics["infeasibility"] == 0.0
    assert rec.references["infeasibility"].holds(rec.metrics["infeasibility"])


def test_baseline_revenue_is_a_floor_for_learned_mechanisms_only(tmp_path):
    """On 2x2 only item-wise Myerson's 5/6 is known: a learned mechanism must reach at least it,
    the item-wise Myerson baseline itself must equal it."""
    learned = _cfg("auctions.regretnet", max_iter=2, batch_size=16, hidden=8, **TINY)
    ref = run_experiment(EXP["auctions.regretnet"], learned, seed=0, device="cpu",
                         out_dir=tmp_path / "a").references["revenue"]
    assert (ref.value, ref.relation, ref.rtol) == (5 / 6, "ge", 0.0)
    base = _cfg("auctions.baseline", mechanism="myerson-itemwise", n_items=2, **TINY)
    ref = run_experiment(EXP["auctions.baseline"], base, seed=0, device="cpu",
                         out_dir=tmp_path / "b").references["revenue"]
    assert (round(ref.value, 6), ref.relation) == (round(5 / 6, 6), "eq")


@pytest.mark.parametrize(
    ("mechanism", "value", "relation"),
    [("vcg", 2 / 3, "eq"), ("ama", 5 / 6, "ge"), ("lottery-ama", 5 / 6, "ge")],
)
def test_each_baseline_has_its_own_reference(tmp_path, mechanism, value, relation):
    """On the default 2x2 U[0,1]: VCG equals its own expected revenue (the bundle auction too:
    test_auctions_baselines), the AMAs must beat item-wise Myerson (not equal it)."""
    cfg = _cfg("auctions.baseline", mechanism=mechanism, max_iter=2, menu_size=4, **TINY)
    ref = run_experiment(EXP["auctions.baseline"], cfg, seed=0, device="cpu",
                         out_dir=tmp_path).references["revenue"]
    assert ref.value == pytest.approx(value, abs=1e-4)
    assert ref.relation == relation


class _Killed(Exception):
    pass


@pytest.mark.parametrize(
    ("exp", "extra"),
    [
        ("auctions.rochetnet", {"menu_size": 8, "max_iter": 40, "batch_size": 64}),
        ("auctions.regretnet", {"hidden": 8, "max_iter": 40, "batch_size": 16, "n_train": 256,
                                "misreport_steps": 2, "n_items": 1}),
    ],
)
def test_resume_gives_identical_metrics(tmp_path, monkeypatch, exp, extra):
    cfg = _cfg(exp, checkpoint_every=20, **TINY, **extra)
    full = run_experiment(EXP[exp], cfg, seed=5, device="cpu", out_dir=tmp_path / "a")
    save = RunContext.save_checkpoint

    def save_then_die(self, step, state):  # the run is killed right after its first checkpoint
        save(self, step, state)
        raise _Killed

    monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        run_experiment(EXP[exp], cfg, seed=5, device="cpu", out_dir=tmp_path / "b")
    monkeypatch.setattr(RunContext, "save_checkpoint", save)
    resumed = run_experiment(EXP[exp], cfg, resume_dir=tmp_path / "b", device="cpu")
    assert resumed.metrics == pytest.approx(full.metrics, rel=1e-6, abs=1e-9)


def test_allocation_plot():
    pytest.importorskip("matplotlib")
    mech = RochetNet(AuctionSetting(1, 2), menu_size=8)
    fig = plot_allocation(mech, resolution=11)
    assert len(fig.axes) == 4  # two heat maps and their colour bars
    with pytest.raises(ValueError, match="mech"):
        plot_allocation(RochetNet(AuctionSetting(1, 3), menu_size=2))


def test_regretnet_penalty_schedule_keys(tmp_path):
    """``rho_every`` / ``lambda_every`` / ``lambda_init`` reach the augmented Lagrangian: rho grows
    by the increment every ``rho_every`` steps (default: forty times over the run); the
    multipliers start at ``lambda_init`` and move only every ``lambda_every`` steps."""
    base = dict(n_items=1, max_iter=200, batch_size=16, n_train=64, hidden=8, misreport_steps=2,
                rho=1.0, rho_increment=2.0, **TINY)
    exp = EXP["auctions.regretnet"]
    for extra, rho_end in (({"rho_every": 50, "lambda_every": 100}, 9.0), ({}, 81.0)):
        run_experiment(exp, _cfg(exp.name, **base, **extra), seed=0, device="cpu",
                       out_dir=tmp_path / str(rho_end), quiet=True)
        ctx = RunContext(tmp_path / str(rho_end))
        logged = {m["step"]: m for m in ctx.read_metrics()}
        assert logged[200]["rho"] == rho_end
        assert logged[100]["lambda"] > 5.0  # the default start, moved by the regret at step 100
    run_experiment(exp, _cfg(exp.name, **base, lambda_init=0.5, lambda_every=1000), seed=0,
                   device="cpu", out_dir=tmp_path / "lam", quiet=True)
    assert [m["lambda"] for m in RunContext(tmp_path / "lam").read_metrics()][-1] == 0.5
    with pytest.raises(ConfigError, match="rho_every"):
        config_from_overrides(exp.config, ["rho_every=0"])
    with pytest.raises(ConfigError, match="lambda_every"):
        config_from_overrides(exp.config, ["lambda_every=0"])


def test_configs_nest_the_algorithms_params():
    """Each training experiment embeds its algorithm's parameter dataclass: the experiment's
    training defaults are the algorithm's own (the Python API and ``econcs run`` train alike)
    and nested keys are set by their bare names."""
    from econcs.auctions import (
        AffineMaximizerParams,
        GemNetParams,
        RegretNetParams,
        RochetNetParams,
    )

    for exp, params in (("auctions.rochetnet", RochetNetParams),
                        ("auctions.regretnet", RegretNetParams),
                        ("auctions.gemnet", GemNetParams),
                        ("auctions.baseline", AffineMaximizerParams)):
        cfg = _cfg(exp)
        assert cfg.train == params(), exp
        assert _cfg(exp, max_iter=7, lr=0.5).train == params(max_iter=7, lr=0.5)
        assert _cfg(exp, n_eval=9).evaluation.n_eval == 9
    assert _cfg("auctions.regretnet", rho_every=7).train.rho_every == 7
    # an experiment's own evaluation default survives setting another key of the group
    for exp, n_eval in (("auctions.rochetnet", 100_000), ("auctions.regretnet", 10_000),
                        ("auctions.gemnet", 100_000), ("auctions.baseline", 100_000)):
        assert _cfg(exp).evaluation.n_eval == n_eval
        assert _cfg(exp, n_steps=3).evaluation.n_eval == n_eval


@pytest.mark.parametrize(
    ("exp", "extra", "saved"),
    [
        ("auctions.regretnet", {"hidden": 8, "max_iter": 3, "batch_size": 16, "n_train": 64,
                                "misreport_steps": 2, "n_items": 1}, True),
        ("auctions.gemnet", {"n_items": 1, "max_iter": 3, "menu_size": 8, "grid_points": 5}, True),
        ("auctions.baseline", {"mechanism": "vcg"}, False),
    ],
)
def test_run_saves_the_learned_mechanism(tmp_path, exp, extra, saved):
    """A learned mechanism is kept as ``model.safetensors``: reloaded, it gives the run's revenue
    on the run's held-out profiles (same seed); a fixed baseline has nothing to keep."""
    cfg = _cfg(exp, **TINY, **extra)
    rec = run_experiment(EXP[exp], cfg, seed=3, device="cpu", out_dir=tmp_path)
    path = tmp_path / "model.safetensors"
    assert path.exists() is saved and ("model" in rec.artifacts) is saved
    if saved:
        mech = Mechanism.load(path, setting=cfg.setting)
        rep = evaluate(mech, cfg.evaluation.n_eval, seed=4, n_regret_samples=0)
        assert rep.revenue == pytest.approx(rec.metrics["revenue"], rel=1e-9, abs=1e-12)
