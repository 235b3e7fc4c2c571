"""The auctions.sequential experiment: tiny runs, the suite's rows, save/load, resume."""

import json

import pytest

from econcs.auctions.sequential import load_policy
from econcs.auctions.sequential._experiments import EXPERIMENTS, SequentialConfig
from econcs.shared import config_from_overrides, run_experiment

EXP = EXPERIMENTS.experiments[0]
TINY = {"n_bidders": 2, "n_items": 2, "train.max_iter": 5, "n_train": 64, "n_val": 256,
        "n_eval": 2000}


def test_suite_rows_name_the_experiment_and_parse():
    assert EXPERIMENTS.package == "auctions.sequential"
    assert EXPERIMENTS.paper  # econcs reproduce --paper: the rows beyond the hour
    for rep in (*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke, *EXPERIMENTS.paper):
        config_from_overrides(SequentialConfig, dict(rep.overrides))


FPI_TINY = {"fpi.max_iter": 10, "fpi.hidden": 8, "warmup": 2, "n_states": 16, "log_every": 5,
            "fpi.n_log_eval": 64}


@pytest.mark.parametrize("method", ["dp", "dp-sym", "itemwise", "bundle", "fpi"])
def test_every_method_runs_tiny_and_saves_its_policy(method, tmp_path):
    cfg = config_from_overrides(SequentialConfig, {**TINY, **FPI_TINY, "method": method})
    rec = run_experiment(EXP, cfg, out_dir=tmp_path, seed=0)
    assert 0 < rec.metrics["revenue"] < 2.0
    policy = load_policy(tmp_path / "policy.safetensors")
    assert policy.setting == cfg.sequential_setting


def test_itemwise_reference_holds_and_can_fail(tmp_path):
    ok = config_from_overrides(SequentialConfig, {**TINY, "method": "itemwise", "n_items": 1,
                                                  "n_bidders": 1, "n_eval": 100_000,
                                                  "ref_revenue": 0.25})
    rec = run_experiment(EXP, ok, out_dir=tmp_path / "a")
    assert rec.references["revenue"].holds(rec.metrics["revenue"])
    bad = ok.replace(ref_revenue=0.3)
    rec = run_experiment(EXP, bad, out_dir=tmp_path / "b")
    assert not rec.references["revenue"].holds(rec.metrics["revenue"])


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="n_items"):
        config_from_overrides(SequentialConfig, {"n_items": 12})
    with pytest.raises(ValueError, match="setting"):
        config_from_overrides(SequentialConfig, {"setting": "Z"})


@pytest.mark.parametrize("method, every", [("dp", 1), ("fpi", 5)])
def test_killed_run_resumes_to_the_same_metrics(method, every, tmp_path, monkeypatch):
    cfg = config_from_overrides(SequentialConfig, {**TINY, **FPI_TINY, "n_bidders": 3,
                                                   "method": method, "checkpoint_every": every})
    full = run_experiment(EXP, cfg, out_dir=tmp_path / "full", seed=0)
    fault = tmp_path / "fault"
    fault.write_text("raise")
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))
    with pytest.raises(RuntimeError):  # killed at its first checkpoint
        run_experiment(EXP, cfg, out_dir=tmp_path / "part", seed=0)
    resumed = run_experiment(EXP, cfg, resume_dir=tmp_path / "part")
    assert resumed.metrics == full.metrics
    saved = json.loads((tmp_path / "full" / "result.json").read_text())
    assert saved["metrics"]["revenue"] == full.metrics["revenue"]


PPO_TINY = {"method": "ppo", "total_timesteps": 512, "n_envs": 64, "batch_size": 64,
            "ppo.hidden": 8, "ppo.layers": 1, "eval_every": 1, "ppo.n_log_eval": 256}


def test_ppo_method_runs_through_the_experiment(tmp_path):
    pytest.importorskip("stable_baselines3")
    cfg = config_from_overrides(SequentialConfig, {**TINY, **PPO_TINY})
    rec = run_experiment(EXP, cfg, out_dir=tmp_path, seed=0)
    assert 0 <= rec.metrics["revenue"] < 2.0
    assert load_policy(tmp_path / "policy.safetensors").setting == cfg.sequential_setting


def test_killed_ppo_run_resumes_to_the_same_metrics(tmp_path, monkeypatch):
    # killed at its first checkpoint (update 2 of 4), then resumed from the atomically written
    # checkpoint in the run directory: the same policy, so the same held-out revenue
    pytest.importorskip("stable_baselines3")
    cfg = config_from_overrides(SequentialConfig, {**TINY, **PPO_TINY, "checkpoint_every": 2})
    full = run_experiment(EXP, cfg, out_dir=tmp_path / "full", seed=0)
    fault = tmp_path / "fault"
    fault.write_text("raise")
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))
    with pytest.raises(RuntimeError):
        run_experiment(EXP, cfg, out_dir=tmp_path / "part", seed=0)
    assert (tmp_path / "part" / "checkpoint.pt").exists()
    resumed = run_experiment(EXP, cfg, resume_dir=tmp_path / "part")
    assert resumed.metrics == full.metrics
