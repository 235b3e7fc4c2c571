"""Every experiment at a tiny budget; a killed and resumed run ends with the same metrics."""

import pytest

from econcs.decpomdp_diffusion._experiments import EXPERIMENTS
from econcs.shared import config_from_overrides, run_experiment

TINY = {"max_iter": 6, "n_train": 64, "n_test": 12, "batch_size": 16, "hidden": 8}
EXP = {e.name: e for e in EXPERIMENTS.experiments}


@pytest.mark.parametrize(("name", "extra"), [
    ("decpomdp.train", {}), ("decpomdp.train", {"env": "grid-row"}),
    ("decpomdp.reconstruct", {"env": "sensor-gap"}),
    ("decpomdp.reconstruct", {"method": "regression"}),
    ("decpomdp.reconstruct", {"method": "single"}),
])
def test_experiments_run_at_a_tiny_budget(tmp_path, name, extra):
    config = config_from_overrides(EXP[name].config, {**TINY, **extra})
    record = run_experiment(EXP[name], config, seed=0, device="cpu", out_dir=tmp_path)
    assert set(record.references) <= set(record.metrics)
    assert "state_error" in record.metrics


def test_resume_ends_with_the_uninterrupted_metrics(tmp_path):
    exp = EXP["decpomdp.train"]
    config = config_from_overrides(exp.config, {**TINY, "max_iter": 10, "log_every": 2,
                                                "checkpoint_every": 14})
    full = run_experiment(exp, config, seed=1, device="cpu", out_dir=tmp_path / "full",
                          )  # checkpoints at agent 1, step 4 of 10
    part = tmp_path / "part"
    run_experiment(exp, config, seed=1, device="cpu", out_dir=part)
    (part / "result.json").unlink()
    assert (part / "checkpoint.pt").exists()
    resumed = run_experiment(exp, config, seed=1, device="cpu", resume_dir=part)
    assert resumed.metrics == full.metrics


def test_resume_does_not_retrain_finished_agents(tmp_path, monkeypatch):
    from econcs.decpomdp_diffusion import _experiments

    exp = EXP["decpomdp.train"]
    config = config_from_overrides(exp.config, {**TINY, "max_iter": 10, "log_every": 2,
                                                "checkpoint_every": 14})
    run_experiment(exp, config, seed=1, device="cpu", out_dir=tmp_path)
    (tmp_path / "result.json").unlink()
    trained = []
    real = _experiments.train_diffusion

    def spy(env, data, agent, *args, **kwargs):
        trained.append(agent)
        return real(env, data, agent, *args, **kwargs)

    monkeypatch.setattr(_experiments, "train_diffusion", spy)
    run_experiment(exp, config, seed=1, device="cpu", resume_dir=tmp_path)
    assert trained == [1]  # agent 0 finished before the checkpoint: loaded, not trained


def test_metrics_of_the_claims():
    train = run_experiment(EXP["decpomdp.train"], config_from_overrides(
        EXP["decpomdp.train"].config, {**TINY, "paper_claims": True}), seed=0, device="cpu")
    for key in ("rank_deviation_spearman", "rank_deviation_p", "bound_coverage",
                "bound_certified", "composite_bound_coverage", "network_rank_deviation_spearman",
                "network_rank_deviation_p", "fixed_point_converged", "state_error_early",
                "state_error_ratio"):
        assert key in train.metrics
    assert train.metrics["bound_coverage"] <= train.metrics["bound_certified"]
    assert train.metrics["state_error_ratio"] == pytest.approx(
        train.metrics["state_error"] / train.metrics["state_error_early"])
    assert {"rank_deviation_spearman", "bound_coverage"} <= set(train.references)
    assert 0 <= train.metrics["bound_coverage"] <= 1
    rec = run_experiment(EXP["decpomdp.reconstruct"], config_from_overrides(
        EXP["decpomdp.reconstruct"].config, {**TINY, "env": "sensor-gap"}), seed=0,
        device="cpu")
    assert "posterior_tv" in rec.references
    # the exact models' composite samples sit near the joint posterior, and exact posterior
    # draws nearer still: the scale the learned models' TV is read against
    assert rec.metrics["posterior_tv_floor"] <= rec.metrics["posterior_tv_exact"] + 0.05
    assert rec.metrics["posterior_tv_exact"] < 0.25


def test_suite_rows_parse():
    for row in (*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke):
        config_from_overrides(EXP[row.experiment].config, dict(row.overrides))


def test_benchmark_script_runs_at_a_tiny_budget(monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "bench_decpomdp.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--steps", "2", "--histories", "10",
                                      "--hidden", "8"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "| mlp |" in out and "| gru |" in out


def test_cli_runs_both_experiments_with_the_issue_metrics(tmp_path, capsys):
    import json

    from econcs.shared.cli import main

    tiny = [f"{k}={v}" for k, v in TINY.items()]
    out = {}
    for name, extra in (("decpomdp.train", ["env=sensor", "n_agents=2", "horizon=2"]),
                        ("decpomdp.reconstruct", ["method=composite", "env=sensor-gap"])):
        assert main(["run", name, *tiny, *extra, "--out", str(tmp_path / name), "--json",
                     str(tmp_path / f"{name}.json"), "--quiet"]) == 0
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())["metrics"]
    assert {"state_error", "rank_deviation_spearman", "bound_coverage"} <= set(
        out["decpomdp.train"])
    assert {"state_error", "posterior_tv"} <= set(out["decpomdp.reconstruct"])
    capsys.readouterr()


@pytest.mark.parametrize(("key", "value"), [("env", "nope"), ("n_agents", 0), ("horizon", 0),
                                            ("method", "mean")])
def test_config_bad_input_names_the_argument(key, value):
    with pytest.raises(ValueError, match=key):
        config_from_overrides(EXP["decpomdp.reconstruct"].config, {key: value})


def test_bound_diagnosis_script_runs_on_a_run_directory(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    exp = EXP["decpomdp.train"]
    run_experiment(exp, config_from_overrides(exp.config, TINY), seed=0, device="cpu",
                   out_dir=tmp_path)
    script = Path(__file__).parents[1] / "benchmarks" / "bound_diagnosis.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "residual-free bound: coverage" in out and "deviation_bound: coverage" in out
