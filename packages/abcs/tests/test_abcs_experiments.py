"""The abcs experiments run, validate their configs and check their references."""

import pytest

from econcs.abcs._experiments import EXPERIMENTS
from econcs.shared import ConfigError
from econcs.shared.experiments import config_from_overrides, run_experiment

EXP = {e.name: e for e in EXPERIMENTS.experiments}


def test_suite_shape():
    assert EXPERIMENTS.package == "abcs"
    assert set(EXP) == {"abcs.cfr", "abcs.mccfr", "abcs.abcs", "abcs.bql"}
    assert len(EXPERIMENTS.quick) >= 8 and len(EXPERIMENTS.full) >= len(EXPERIMENTS.quick)


def test_cfr_experiment_matches_openspiel_and_kuhn_value(tmp_path):
    exp = EXP["abcs.cfr"]
    rec = run_experiment(exp, exp.config(max_iter=400, eval_every=100), seed=0, device="cpu",
                         out_dir=tmp_path)
    for key, ref in rec.references.items():
        assert ref.holds(rec.metrics[key]), (key, rec.metrics[key], ref)
    assert rec.metrics["max_policy_diff_openspiel"] == 0.0
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 4


def test_cfr_experiment_resumes(tmp_path):
    exp = EXP["abcs.cfr"]
    cfg = exp.config(max_iter=30, checkpoint_every=10, compare_openspiel=False)
    full = run_experiment(exp, cfg, seed=0, device="cpu", out_dir=tmp_path / "a")
    part = exp.config(max_iter=20, checkpoint_every=10, compare_openspiel=False)
    run_experiment(exp, part, seed=0, device="cpu", out_dir=tmp_path / "b")
    import json

    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    saved["config"]["max_iter"] = 30
    (tmp_path / "b" / "config.json").write_text(json.dumps(saved))
    resumed = run_experiment(exp, None, resume_dir=tmp_path / "b")
    assert resumed.metrics["exploitability"] == full.metrics["exploitability"]


@pytest.mark.parametrize("name,overrides,metric", [
    ("abcs.mccfr", {"budget_nodes": 20_000, "sampling": "outcome"}, "exploitability"),
    ("abcs.mccfr", {"game": "CartPoleLeduc", "sampling": "outcome", "budget_nodes": 10_000},
     "return"),
    ("abcs.abcs", {"env": "kuhn_poker", "budget_nodes": 20_000}, "exploitability"),
    ("abcs.bql", {"env": "CliffWalking", "budget_nodes": 40_000, "lr_power": 0.6}, "return"),
])
def test_sampling_experiments_run(tmp_path, name, overrides, metric):
    exp = EXP[name]
    rec = run_experiment(exp, config_from_overrides(exp.config, overrides), seed=0,
                         device="cpu", out_dir=tmp_path)
    assert metric in rec.metrics and rec.metrics["nodes_touched"] >= overrides["budget_nodes"]
    for key, ref in rec.references.items():
        assert ref.holds(rec.metrics[key]), (key, rec.metrics[key], ref)


@pytest.mark.parametrize("name,overrides", [
    ("abcs.cfr", ["max_iter=-1"]),
    ("abcs.cfr", ["variant=cfr++"]),
    ("abcs.mccfr", ["budget_nodes=0"]),
    ("abcs.abcs", ["lr_power=3"]),
    ("abcs.bql", ["budget_nodes=-5"]),
])
def test_bad_configs(name, overrides):
    with pytest.raises(ConfigError):
        config_from_overrides(EXP[name].config, overrides)


def test_mccfr_experiment_rejects_what_it_cannot_run(tmp_path):
    exp = EXP["abcs.mccfr"]
    for overrides, match in (({"game": "CartPoleLeduc", "sampling": "external"}, "sampling"),
                             ({"game": "FrozenLake", "sampling": "outcome"}, "game")):
        cfg = config_from_overrides(exp.config, {**overrides, "budget_nodes": 1_000})
        with pytest.raises(ValueError, match=match):
            run_experiment(exp, cfg, seed=0, device="cpu", out_dir=tmp_path)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("name,overrides", [
    ("abcs.abcs", {"env": "kuhn_poker", "budget_nodes": 12_000, "eval_every_nodes": 3_000}),
    ("abcs.mccfr", {"budget_nodes": 12_000, "eval_every_nodes": 3_000}),
    ("abcs.mccfr", {"game": "CartPoleLeduc", "sampling": "outcome", "budget_nodes": 8_000,
                    "eval_every_nodes": 2_000}),
    ("abcs.bql", {"env": "CartPole", "budget_nodes": 6_000}),
])
def test_sampling_experiments_resume_exactly(tmp_path, monkeypatch, name, overrides):
    from econcs.shared.experiments import RunContext

    exp = EXP[name]
    cfg = config_from_overrides(exp.config, {**overrides, "checkpoint_every": 2_000})
    full = run_experiment(exp, cfg, seed=1, device="cpu", out_dir=tmp_path / "full")
    original = RunContext.save_checkpoint
    calls = {"n": 0}

    def killing_save(self, step, state):
        original(self, step, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Killed

    monkeypatch.setattr(RunContext, "save_checkpoint", killing_save)
    with pytest.raises(_Killed):
        run_experiment(exp, cfg, seed=1, device="cpu", out_dir=tmp_path / "killed")
    monkeypatch.setattr(RunContext, "save_checkpoint", original)
    resumed = run_experiment(exp, None, resume_dir=tmp_path / "killed")
    assert resumed.metrics == full.metrics
    assert ((tmp_path / "killed" / "metrics.jsonl").read_text()
            == (tmp_path / "full" / "metrics.jsonl").read_text())
