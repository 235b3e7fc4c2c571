"""Every experiment at a tiny budget, the CLI's checks, and resume from a checkpoint."""

import math
from pathlib import Path

import numpy as np
import pytest

from econcs.amm import load_param_menu, one_good_optimum
from econcs.amm._experiments import (
    EXPERIMENTS,
    DualConfig,
    MenuConfig,
    ParamMenuConfig,
    known_profit,
)
from econcs.shared import ConfigError, RunContext, config_from_overrides, run_experiment

EXP = {e.name: e for e in EXPERIMENTS.experiments}
TINY = {
    "amm.menu": {"menu_size": 4, "max_iter": 20, "batch_size": 32, "eval_samples": 2000},
    "amm.dual": {"grid": 11},
    "amm.param-menu": {"menu_size": 4, "max_iter": 20, "warm_start_iter": 5, "batch_size": 32,
                       "settings": 4},
}


class _Killed(Exception):
    pass


@pytest.mark.parametrize("name", sorted(EXP))
def test_every_experiment_runs_tiny(tmp_path, name):
    cfg = config_from_overrides(EXP[name].config, TINY[name])
    record = run_experiment(EXP[name], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert set(record.references) <= set(record.metrics)
    m = record.metrics
    assert all(math.isfinite(v) for v in m.values() if isinstance(v, float))
    if name == "amm.menu":  # a tiny menu: profitable, and not above the optimum beyond MC error
        known = known_profit(np.asarray(cfg.c, dtype=float), cfg.l, cfg.values)[0]
        assert 0.0 < m["profit"] <= known + 0.02
    elif name == "amm.dual":  # weak duality: the dual bounds every mechanism, separate prices too
        assert m["dual_value"] >= m["separate_prices_profit"] - 0.01
    else:  # one good: no menu beats the closed form; the network is saved and loads
        for k, (c, l) in enumerate(zip(cfg.eval_c, cfg.eval_l, strict=True)):
            assert m[f"profit_{k}"] <= one_good_optimum(c, l).profit + 1e-9
        assert 0.0 < m["min_ratio_to_known"] <= 1.0 + 1e-9
        net = load_param_menu(Path(record.out_dir) / record.artifacts["model"])
        assert net.menu([0.5], 0.0).allocations.shape == (4, 1)


def test_menu_with_dual_reports_the_gap(tmp_path):
    cfg = config_from_overrides(MenuConfig, TINY["amm.menu"] | {"n_goods": 1, "dual_grid": 51})
    record = run_experiment(EXP["amm.menu"], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert record.metrics["duality_gap"] == pytest.approx(
        record.metrics["dual_value"] - record.metrics["profit"])
    assert record.metrics["dual_value"] == pytest.approx(0.125, rel=3e-3)  # grid 51


def test_dual_experiment_hits_the_closed_form(tmp_path):
    cfg = config_from_overrides(DualConfig, {"n_goods": 1, "c": (0.3,), "l": 0.2, "grid": 201})
    record = run_experiment(EXP["amm.dual"], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert record.metrics["dual_value"] == pytest.approx(record.metrics["profit"], rel=1e-3)
    assert abs(record.metrics["duality_gap"]) < 1e-4


def test_dual_extrapolation_moves_towards_the_optimum(tmp_path):
    cfg = config_from_overrides(DualConfig, {"c": (0.5, 0.5), "grid": 21, "extrapolate": True})
    m = run_experiment(EXP["amm.dual"], cfg, seed=0, device="cpu", out_dir=tmp_path).metrics
    assert m["dual_value_coarse"] < m["dual_value"] < m["dual_value_extrapolated"]  # grids 11, 21
    assert m["dual_value_extrapolated"] == pytest.approx(
        m["dual_value"] + (m["dual_value"] - m["dual_value_coarse"]) / 3)
    # the conjectured menu's 0.27460 is nearer the estimate than the grid-21 value
    assert abs(m["duality_gap_extrapolated"]) < abs(m["duality_gap"])


def test_known_profits():
    import numpy as np

    assert known_profit(np.array([0.5, 0.5]), 0.0, "uniform(0,1)")[0] == pytest.approx(0.2746,
                                                                                        abs=1e-4)
    assert known_profit(np.array([0.5, 0.5]), 0.0, "beta(2,2)") is None
    assert known_profit(np.array([0.2, 0.7]), 0.0, "uniform(0,1)") is None


@pytest.mark.parametrize(("cls", "overrides", "match"), [
    (MenuConfig, {"c": (0.5, 1.5)}, "c"),
    (MenuConfig, {"c": (0.5, 0.5, 0.5)}, "c: expected 1 or n_goods"),
    (MenuConfig, {"l": -0.5}, "l"),
    (MenuConfig, {"menu_size": 0}, "menu_size"),
    (MenuConfig, {"values": "uniform(0,1"}, "values"),
    (MenuConfig, {"n_goods": 3, "dual_grid": 11}, "m <= 2"),
    (DualConfig, {"grid": 2}, "grid"),
    (DualConfig, {"c": (0.5, -0.1)}, "c"),
    (DualConfig, {"grid": 20, "extrapolate": True}, "grid: extrapolate needs an odd grid"),
    (DualConfig, {"l": 1.5}, "l"),
    (DualConfig, {"values": "beta(2,2"}, "values"),
    (ParamMenuConfig, {"menu_size": 0}, "menu_size"),
    (ParamMenuConfig, {"eval_c": (0.5, 0.3), "eval_l": (0.0,)}, "eval_c, eval_l"),
    (ParamMenuConfig, {"eval_c": (1.5,), "eval_l": (0.0,)}, "eval_c"),
    (ParamMenuConfig, {"c_low": 0.9}, "c_low, c_high"),
    (ParamMenuConfig, {"values": "gaussian_copula(2)", "n_goods": 2}, "values"),
    (DualConfig, {"n_goods": 3, "c": (0.5,)}, "m <= 2"),
])
def test_bad_configs(cls, overrides, match):
    with pytest.raises((ValueError, ConfigError), match=match):
        config_from_overrides(cls, overrides)


@pytest.mark.parametrize("name", ["amm.menu", "amm.param-menu"])
def test_resume_gives_identical_metrics(tmp_path, monkeypatch, name):
    exp = EXP[name]
    cfg = config_from_overrides(exp.config, TINY[name] | {"checkpoint_every": 10})
    full = run_experiment(exp, cfg, seed=5, device="cpu", out_dir=tmp_path / "a")
    save = RunContext.save_checkpoint

    def save_then_die(self, step, state):  # the run is killed right after its first checkpoint
        save(self, step, state)
        raise _Killed

    monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        run_experiment(exp, cfg, seed=5, device="cpu", out_dir=tmp_path / "b")
    monkeypatch.setattr(RunContext, "save_checkpoint", save)
    resumed = run_experiment(exp, None, resume_dir=tmp_path / "b", device="cpu")
    assert resumed.metrics == full.metrics
    assert resumed.resumed_from == 10  # continued from the checkpoint, not restarted


def test_suite_rows_name_its_experiments():
    names = set(EXP)
    for row in (*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke):
        assert row.experiment in names


def test_menu_plot_artifact(tmp_path):
    pytest.importorskip("matplotlib")
    cfg = config_from_overrides(MenuConfig, TINY["amm.menu"] | {"plot": True})
    record = run_experiment(EXP["amm.menu"], cfg, seed=0, device="cpu", out_dir=tmp_path)
    assert "menu" in record.artifacts
