"""Every experiment at a tiny budget; the multi-sender run resumes exactly."""

import pytest

import econcs.persuasion._experiments as mod
from econcs.persuasion import random_game
from econcs.persuasion._experiments import EXPERIMENTS, MultiConfig, SingleConfig
from econcs.shared import ConfigError, config_from_overrides, run_experiment

EXPS = {e.name: e for e in EXPERIMENTS.experiments}
TINY = {"n_instances": 2, "fit.max_iter": 30, "fit.n_train": 256, "fit.n_test": 64,
        "eq.max_iter": 10, "refine_iter": 5, "n_restarts": 2, "budget": 400,
        "check_network_claim": True, "check_pareto_claim": True, "fit.log_every": 10,
        "eq.log_every": 5, "plot": True}


def test_single_reproduces_kamenica_gentzkow(tmp_path):
    exp = EXPS["persuasion.single"]
    rec = run_experiment(exp, config_from_overrides(exp.config, {"n_random": 3}), seed=0,
                         device="cpu", out_dir=tmp_path)
    assert abs(rec.metrics["optimal_value"] - 0.6) <= 1e-9
    assert set(rec.references) <= set(rec.metrics)
    assert all(r.holds(rec.metrics[k]) for k, r in rec.references.items())


def test_single_reads_an_instance_file(tmp_path):
    g = random_game(1, 3, 3, 3, seed=0)
    path = tmp_path / "g.json"
    g.save_json(path)
    exp = EXPS["persuasion.single"]
    cfg = config_from_overrides(exp.config, {"instance": str(path), "n_random": 0})
    rec = run_experiment(exp, cfg, seed=0, device="cpu", out_dir=tmp_path / "run")
    assert rec.metrics["optimal_value"] >= rec.metrics["no_information"] - 1e-9
    assert rec.metrics["optimal_value"] >= rec.metrics["full_revelation"] - 1e-9


def test_multi_runs_and_resumes_exactly(tmp_path, monkeypatch):
    exp = EXPS["persuasion.multi"]
    cfg = config_from_overrides(exp.config, TINY)
    full = run_experiment(exp, cfg, seed=0, device="cpu", out_dir=tmp_path / "full")
    for key in ("sender_utilities", "local_ne_gap", "exact_ne_gap",
                "pareto_share_vs_full_revelation", "approx_error", "approx_error_relu"):
        assert key in full.metrics
    assert set(full.references) <= set(full.metrics)
    assert {"approx_error_relu", "approx_error_delu", "dominance_share_vs_relu",
            "pareto_share_vs_full_revelation"} <= set(full.references)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:  # the first instance's landscape, exact vs the three networks
        assert (tmp_path / "full" / "landscape.png").stat().st_size > 0
    # a strict majority of the 2 instances: both
    assert full.references["pareto_share_vs_full_revelation"].value == 1.0
    real, calls = mod._one_instance, []

    def dies_on_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(mod, "_one_instance", dies_on_second)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, cfg, seed=0, device="cpu", out_dir=part)
    monkeypatch.setattr(mod, "_one_instance", real)
    resumed = run_experiment(exp, cfg, device="cpu", resume_dir=part)
    assert resumed.metrics == full.metrics
    # the trainers log through the run (one step count across instances), resumed alike
    log = (tmp_path / "full" / "metrics.jsonl").read_text()
    assert log == (part / "metrics.jsonl").read_text()
    assert '"loss_relu"' in log and '"grad_norm_dnl"' in log
    assert {"exact_ne_gap_relu", "dominance_share_vs_delu",
            "pareto_share_vs_full_revelation_relu"} <= set(full.metrics)


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="prior"):
        SingleConfig(prior=1.5)
    with pytest.raises(ValueError, match="family"):
        MultiConfig(family="poker")
    with pytest.raises(ConfigError, match="network: expected one of"):
        config_from_overrides(MultiConfig, {"network": "cnn"})  # the one network key: fit's
    cfg = config_from_overrides(MultiConfig, ["network=relu", "budget=none", "hidden=8"])
    assert (cfg.fit.network, cfg.budget, cfg.fit.hidden) == ("relu", None, 8)
    with pytest.raises(ValueError, match="n_senders"):
        MultiConfig(n_senders=0)


def test_multi_config_keys_and_nested_defaults():
    exp = EXPS["persuasion.multi"]
    with pytest.raises(ConfigError, match=r"ambiguous.*fit\.max_iter.*eq\.max_iter"):
        config_from_overrides(exp.config, {"max_iter": 5})
    cfg = config_from_overrides(exp.config, {"fit.max_iter": 7, "eq.max_iter": 3})
    # one key of a nested group set: the group keeps the experiment's other nested defaults
    assert (cfg.fit.max_iter, cfg.fit.n_train, cfg.fit.n_test) == (7, 4096, 1024)
    assert (cfg.eq.max_iter, cfg.eq.n_restarts, cfg.eq.refine_iter) == (3, 8, 100)


def test_network_claim_only_where_the_fit_is_long():
    exp = EXPS["persuasion.multi"]
    with pytest.raises(ConfigError, match="check_network_claim"):
        config_from_overrides(exp.config, {"compare_networks": False,
                                           "check_network_claim": True})
    claims = [row for row in EXPERIMENTS.full if row.overrides.get("check_network_claim")]
    assert claims and not any(r.overrides.get("check_network_claim") for r in EXPERIMENTS.quick)
    for row in claims:  # at 600 steps the order of the three networks is noise (MEASUREMENTS.md)
        assert config_from_overrides(exp.config, row.overrides).fit.max_iter >= 3000
    pareto = [row for row in EXPERIMENTS.full if row.overrides.get("check_pareto_claim")]
    assert pareto and not any(r.overrides.get("check_pareto_claim") for r in EXPERIMENTS.quick)
    assert all(r.overrides["n_instances"] >= 10 for r in pareto)  # "most" needs many instances
