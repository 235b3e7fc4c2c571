"""The Social Environment Design experiments: every one at a tiny budget, references that hold on
the textbook profiles, and a resumed ``contracts.sed-tax`` run that ends as an uninterrupted one."""

import json

import pytest

from econcs.contracts._experiments import EXPERIMENTS
from econcs.shared.experiments import config_from_overrides, run_experiment

EXPS = {e.name: e for e in EXPERIMENTS.experiments}


def _run(name, overrides, tmp_path, **kw):
    config = config_from_overrides(EXPS[name].config, overrides)
    return run_experiment(EXPS[name], config, seed=0, device="cpu", out_dir=tmp_path, **kw)


@pytest.mark.parametrize("overrides", [{"profile": "tennessee"}, {"profile": "cycle"},
                                       {"profile": "single_peaked", "n_profiles": 20},
                                       {"profile": "impartial", "n_profiles": 5}])
def test_voting_experiment(tmp_path, overrides):
    rec = _run("contracts.voting", overrides, tmp_path)
    assert set(rec.references) <= set(rec.metrics)
    for key, ref in rec.references.items():
        assert ref.holds(rec.metrics[key]), key
    if overrides["profile"] == "tennessee":
        assert (rec.metrics["winner_plurality"], rec.metrics["winner_borda"],
                rec.metrics["winner_irv"]) == (0.0, 1.0, 3.0)


def test_sed_tax_experiment_tiny_and_its_references(tmp_path):
    rec = _run("contracts.sed-tax", {"rounds": 1, "max_iter": 21, "agent_steps": 60},
               tmp_path / "a")
    assert set(rec.references) <= set(rec.metrics)
    assert rec.metrics["gap_to_closed_form"] <= 0.05 and rec.metrics["tax"] in (0.45, 0.5)
    tiny = _run("contracts.sed-tax", {"rounds": 1, "n_taxes": 5, "max_iter": 5,
                                      "agent_steps": 5, "play_steps": 2, "voting": "approval"},
                tmp_path / "b")
    assert {"elected_objective", "tax", "welfare", "gini", "productivity",
            "gap_to_closed_form"} <= set(tiny.metrics)


def test_sed_tax_resume_ends_with_the_metrics_of_an_uninterrupted_run(tmp_path, monkeypatch):
    from econcs.contracts.social import _sed_loop

    over = {"rounds": 3, "delta": 0.1, "method": "thompson", "max_iter": 6, "agent_steps": 10,
            "play_steps": 5, "checkpoint_every": 1}
    full = _run("contracts.sed-tax", over, tmp_path / "full")
    original, calls = _sed_loop.design, {"n": 0}

    def dying_design(*args, **kwargs):  # killed in round 3, after round 2's checkpoint
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(_sed_loop, "design", dying_design)
    with pytest.raises(KeyboardInterrupt):
        _run("contracts.sed-tax", over, tmp_path / "part")
    counted = {"n": 0}

    def counting_design(*args, **kwargs):
        counted["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(_sed_loop, "design", counting_design)
    resumed = _run("contracts.sed-tax", over, None, resume_dir=tmp_path / "part")
    assert counted["n"] == 1  # only round 3 was played again
    assert resumed.metrics == full.metrics


# killed in seed 0's round 2 (Thompson principal); in seed 1's round 1 (policy-gradient principal)
@pytest.mark.parametrize(("killed_at", "method"), [(2, "thompson"), (3, "gradient")])
def test_sed_harvest_resume_ends_with_the_metrics_of_an_uninterrupted_run(tmp_path, monkeypatch,
                                                                        killed_at, method):
    from econcs.contracts.social import _harvest_sed

    over = {"max_steps": 12, "agent_steps": 2, "play_steps": 2, "rounds": 2, "n_seeds": 2,
            "n_eval": 8, "random_types": True, "method": method, "max_iter": 4,
            "update": "ppo", "ppo_epochs": 2, "checkpoint_every": 1}
    full = _run("contracts.sed-harvest", over, tmp_path / "full")
    original, calls = _harvest_sed.design, {"n": 0}

    def dying_design(*args, **kwargs):  # killed in design call `killed_at`, after a checkpoint
        calls["n"] += 1
        if calls["n"] >= killed_at:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(_harvest_sed, "design", dying_design)
    with pytest.raises(KeyboardInterrupt):
        _run("contracts.sed-harvest", over, tmp_path / "part")
    counted = {"n": 0}

    def counting_design(*args, **kwargs):
        counted["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(_harvest_sed, "design", counting_design)
    resumed = _run("contracts.sed-harvest", over, None, resume_dir=tmp_path / "part")
    assert resumed.resumed_from == killed_at - 1
    assert counted["n"] == 4 - (killed_at - 1)  # only the rounds after the checkpoint again
    assert resumed.metrics == full.metrics
    logged = [json.loads(ln)["step"] for ln in
              (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]  # one line per round over the seeds, none repeated


def test_experiment_configs_bad_input():
    with pytest.raises(ValueError, match="skills"):
        config_from_overrides(EXPS["contracts.sed-tax"].config, {"skills": ""})
    with pytest.raises(ValueError, match="skills"):
        config_from_overrides(EXPS["contracts.sed-tax"].config, {"skills": "1,-2"})
    with pytest.raises(ValueError, match="objective"):
        config_from_overrides(EXPS["contracts.sed-tax"].config, {"objective": "rawlsian"})
    with pytest.raises(ValueError, match="delta"):
        config_from_overrides(EXPS["contracts.sed-tax"].config, {"delta": -0.1})
    with pytest.raises(ValueError, match="method"):
        config_from_overrides(EXPS["contracts.sed-tax"].config, {"method": "annealing"})
    with pytest.raises(ValueError, match="rule"):
        config_from_overrides(EXPS["contracts.voting"].config, {"rule": "dictator"})


@pytest.mark.parametrize("name", ["contracts.sed-tax", "contracts.sed-harvest"])
def test_principal_key_sets_the_principals_method(tmp_path, monkeypatch, name):
    from econcs.contracts.social import _harvest_sed, _sed_loop

    module = _sed_loop if name == "contracts.sed-tax" else _harvest_sed
    original, seen = module.design, []

    def spying_design(*args, **kwargs):
        seen.append(args[3].method)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "design", spying_design)
    over = ({"rounds": 1, "n_taxes": 5, "max_iter": 5, "agent_steps": 2, "play_steps": 2}
            if name == "contracts.sed-tax" else
            {"max_steps": 8, "agent_steps": 1, "play_steps": 1, "n_seeds": 2, "n_eval": 4,
             "max_iter": 4})
    rec = _run(name, {**over, "principal": "gradient"}, tmp_path)
    assert seen and set(seen) == {"gradient"}
    assert {"elected_objective", "tax", "welfare", "gini", "productivity",
            "gap_to_closed_form"} <= set(rec.metrics)
    with pytest.raises(ValueError, match="principal"):
        config_from_overrides(EXPS[name].config, {"principal": "annealing"})
