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


def test_suite_rows_parse():
    for row in (*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke):
        config_from_overrides(EXP[row.experiment].config, dict(row.overrides))
