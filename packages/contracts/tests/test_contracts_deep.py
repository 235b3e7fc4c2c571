"""Deep principal-agent RL on small tree MDPs: gap to the exact SPE, resume, bad input."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.contracts import (
    evaluate_contracts,
    make_tree_mdp,
    meta_algorithm,
    minimal_contracts_two_actions,
)
from econcs.contracts._deep import DeepContractTrainer
from econcs.contracts._experiments import EXPERIMENTS, TreeMDPConfig
from econcs.shared.experiments import ConfigError, config_from_overrides, run_experiment


def _trainer(mdp, max_iter, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    ig = torch.Generator().manual_seed(seed + 1)
    return DeepContractTrainer(mdp, max_iter=max_iter, generator=g, init_generator=ig, **kw)


def test_deep_close_to_spe_on_small_tree():
    mdp = make_tree_mdp(4, seed=0)
    spe = meta_algorithm(mdp)
    # small budgets are high-variance (one wrong contract near the root costs a lot);
    # 800 iterations with margin 0.02 is within 5% on seeds 0-4 of this tree family
    res = _trainer(mdp, 800, hidden=64, margin=0.02).train()
    assert res.principal_utility >= spe.principal_utility * (1 - 0.10)
    assert np.mean(res.actions == spe.actions) >= 0.8
    assert res.contracts.min() >= 0


def _tree_exp():
    return next(e for e in EXPERIMENTS.experiments if e.name == "contracts.tree-mdp")


def test_tree_experiment_resume_gives_identical_metrics(tmp_path):
    exp = _tree_exp()
    cfg = config_from_overrides(exp.config, dict(
        depth=3, method="deep", max_iter=120, refine_iter=60, hidden=32, log_every=40,
        checkpoint_every=50, tolerance=1.0, min_accuracy=0.0))
    full = run_experiment(exp, cfg, seed=3, device="cpu", out_dir=tmp_path / "a")
    # the last checkpoint of run "a" is at step 150, mid-way through the agent-only phase;
    # resuming it must reproduce the same end
    resumed = run_experiment(exp, cfg, seed=3, device="cpu", resume_dir=tmp_path / "a")
    assert full.metrics == resumed.metrics
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [int(ln.split(",")[0].split(":")[1]) for ln in lines] == [40, 80, 120, 180]


def test_exact_and_tabular_experiments(tmp_path):
    exp = _tree_exp()
    for method in ("exact", "tabular"):
        rec = run_experiment(exp, exp.config(depth=6, method=method), device="cpu",
                             out_dir=tmp_path / method)
        ref = rec.references["principal_utility"]
        assert ref.holds(rec.metrics["principal_utility"])
        assert_allclose(rec.metrics["principal_utility"], rec.metrics["spe_principal_utility"],
                        atol=1e-6)


def test_refine_phase_makes_the_true_agent_follow():
    # 500 iterations with margin 0.01 leave a contract that the true agent does not follow
    # (gap ~80%); the agent-only best-response phase removes it (gap ~2%)
    mdp = make_tree_mdp(4, seed=0)
    spe = meta_algorithm(mdp)
    trainer = _trainer(mdp, 500, seed=0, hidden=64, margin=0.01, adaptive_margin=False,
                       polyak=0.0)
    before = trainer.train()
    after = trainer.refine(max_iter=250)
    assert before.follow_rate < 1.0
    assert after.follow_rate == 1.0
    assert after.principal_utility >= spe.principal_utility * (1 - 0.05)


def test_adaptive_margin_covers_the_agent_error():
    # the same short run as above, with margins set per state from the estimated error bound of
    # Qbar(s, 1) - Qbar(s, 0): the true agent follows without an agent-only phase
    mdp = make_tree_mdp(4, seed=0)
    spe = meta_algorithm(mdp)
    trainer = _trainer(mdp, 500, seed=0, hidden=64, margin=0.01, margin_scale=0.5,
                       signed_error="off", polyak=0.0)
    res = trainer.train()
    margins = trainer.margins().numpy()
    assert margins.shape == (mdp.n_states, 2)
    assert_allclose(margins[:, 0], margins[:, 1])  # the bound is symmetric
    margins = margins[:, 0]
    assert res.follow_rate == 1.0
    assert res.principal_utility >= spe.principal_utility * (1 - 0.10)
    assert np.all(margins >= 0.01 - 1e-12) and np.all(margins <= trainer.params.margin_max + 1e-12)
    # the bound grows towards the root (errors accumulate over the remaining horizon)
    assert margins[0] > margins[-8:].mean()
    ev = evaluate_contracts(mdp, res.contracts, res.targets)
    with torch.no_grad():
        q = trainer.agent(torch.arange(mdp.n_states)).double().numpy()
    err = np.abs(np.diff(q - ev.agent_qbar, axis=1))[:, 0]
    assert np.mean(margins / trainer.params.margin_scale >= err) >= 0.9


def test_signed_error_estimate_tracks_the_true_agent_error():
    # the propagated signed estimate of e(s, a) = Qbar(s, a) - Qbar*(s, a) (Qbar* the exact agent
    # values under the learned contracts) tracks the true error, and the signed margin covers the
    # part of it that would make the true agent deviate
    mdp = make_tree_mdp(4, seed=0)
    spe = meta_algorithm(mdp)
    trainer = _trainer(mdp, 500, seed=0, hidden=64, margin=0.01, margin_scale=0.0,
                       signed_error="margin", polyak=0.0)
    res = trainer.train()
    ev = evaluate_contracts(mdp, res.contracts, res.targets)
    with torch.no_grad():
        q = trainer.agent(torch.arange(mdp.n_states)).double().numpy()
    true_gap = np.diff(q - ev.agent_qbar, axis=1)[:, 0]  # e(s, 1) - e(s, 0)
    est_gap = np.diff(q - trainer.q_true.double().numpy(), axis=1)[:, 0]
    scale = np.abs(true_gap).max()
    assert scale > 0.01
    assert np.abs(est_gap - true_gap).max() <= 0.25 * scale
    assert res.follow_rate == 1.0
    assert res.principal_utility >= spe.principal_utility * (1 - 0.05)
    margins = trainer.margins().numpy()
    t = res.targets
    needed = np.where(t == 1, true_gap, -true_gap)  # xi must be >= e(s, t) - e(s, u)
    assert np.all(margins[np.arange(mdp.n_states), t] >= needed - 1e-3)


def test_per_target_margins():
    probs = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]] * 2, dtype=torch.float64)
    qbar = torch.tensor([[0.0, -0.4], [0.0, 0.0]], dtype=torch.float64)
    margin = torch.tensor([[0.0, 0.08], [0.16, 0.0]], dtype=torch.float64)
    pay, expected, feasible = minimal_contracts_two_actions(probs, qbar, margin)
    assert feasible.all()
    # implementing a1 at problem 0: (0.4 + 0.08) / 0.8 on the good outcome
    assert_allclose(pay[0, 1].numpy(), [0.0, 0.6])
    assert_allclose(pay[0, 0].numpy(), [0.0, 0.0])
    # implementing a0 at problem 1 with margin 0.16: pay 0.2 on the bad outcome
    assert_allclose(pay[1, 0].numpy(), [0.2, 0.0])
    assert_allclose(expected[1].numpy(), [0.18, 0.0])


def test_deep_bad_input():
    mdp = make_tree_mdp(2, seed=0)
    with pytest.raises(ValueError, match="max_iter"):
        DeepContractTrainer(mdp, max_iter=0)
    with pytest.raises(ValueError, match="margin"):
        DeepContractTrainer(mdp, margin=-0.1)
    with pytest.raises(ValueError, match="margin_max"):
        DeepContractTrainer(mdp, margin=0.1, margin_max=0.05)
    with pytest.raises(TypeError, match="adaptive_margin"):
        DeepContractTrainer(mdp, adaptive_margin="yes")
    with pytest.raises(ValueError, match="signed_error"):
        DeepContractTrainer(mdp, signed_error="yes")
    with pytest.raises(ValueError, match="polyak"):
        DeepContractTrainer(mdp, polyak=1.0)
    probs = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]] * 3)
    with pytest.raises(ValueError, match="margin"):
        minimal_contracts_two_actions(probs, torch.zeros(3, 2), torch.full((3,), -0.1))
    with pytest.raises(ValueError, match="margin"):
        minimal_contracts_two_actions(probs, torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="margin"):
        minimal_contracts_two_actions(probs, torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(TypeError, match="mdp"):
        DeepContractTrainer(np.zeros(3))
    with pytest.raises(ConfigError, match="method"):
        config_from_overrides(TreeMDPConfig, ["method=ppo"])
    with pytest.raises(ConfigError, match="depth"):
        config_from_overrides(TreeMDPConfig, ["depth=-1"])
