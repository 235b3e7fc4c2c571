"""Parameter dataclasses of the contracts' algorithms: bounds, unknown keywords, deprecated names,
the results' history, and the experiment configs that nest them."""

import dataclasses

import pytest
import torch

from econcs.contracts import (
    CoinGameParams,
    CoinGameTrainer,
    CoinGameTrainingResult,
    DeepContractParams,
    DeepContractTrainer,
    MetaAlgorithmParams,
    make_tree_mdp,
    meta_algorithm,
)
from econcs.contracts._experiments import EXPERIMENTS, CoinGameConfig, TreeMDPConfig
from econcs.shared.experiments import config_from_overrides


def test_params_reject_out_of_bound_values():
    with pytest.raises(ValueError, match="max_iter"):
        DeepContractParams(max_iter=0)
    with pytest.raises(ValueError, match="margin_max"):
        DeepContractParams(margin=0.3)  # above the default cap 0.2
    with pytest.raises(ValueError, match="buffer_size"):
        DeepContractParams(batch_size=64, buffer_size=32)
    with pytest.raises(ValueError, match="lr_final"):
        CoinGameParams(lr_final=0.0)
    with pytest.raises(ValueError, match="n_heads"):
        CoinGameParams(n_heads=2, principal_value="joint")
    with pytest.raises(ValueError, match="method"):
        MetaAlgorithmParams(method="simplex")
    assert dataclasses.is_dataclass(DeepContractParams) and DeepContractParams().layers == 2


def test_entry_points_reject_unknown_keywords():
    mdp = make_tree_mdp(2, seed=0)
    with pytest.raises(TypeError, match="hiden"):
        DeepContractTrainer(mdp, hiden=8)
    with pytest.raises(TypeError, match="n_head"):
        CoinGameTrainer(n_head=2)
    with pytest.raises(TypeError, match="rounds"):
        meta_algorithm(mdp, rounds=3)


def test_params_object_and_overrides_are_the_same_call():
    mdp = make_tree_mdp(3, seed=0)
    p = DeepContractParams(max_iter=30, hidden=8, batch_size=16)
    a = DeepContractTrainer(mdp, p, seed=4).train()
    b = DeepContractTrainer(mdp, max_iter=30, hidden=8, batch_size=16, seed=4).train()
    assert a.principal_utility == b.principal_utility
    assert (a.contracts == b.contracts).all()
    assert meta_algorithm(mdp, MetaAlgorithmParams(tol=1e-9)).principal_utility == \
        meta_algorithm(mdp, tol=1e-9).principal_utility


def test_deprecated_names_still_work():
    mdp = make_tree_mdp(2, seed=0)
    with pytest.warns(DeprecationWarning, match="n_iter"):
        tr = DeepContractTrainer(mdp, n_iter=7, hidden=8)
    assert tr.params.max_iter == 7
    with pytest.warns(DeprecationWarning, match="n_layers"):
        assert DeepContractTrainer(mdp, n_layers=1, hidden=8).params.layers == 1
    with pytest.warns(DeprecationWarning, match="n_iter"):
        assert CoinGameTrainer("selfish", n_iter=9, n_envs=2, batch_size=4,
                               buffer_size=64).params.max_iter == 9
    with pytest.warns(DeprecationWarning, match="n_iter"):
        assert tr.train(n_iter=3).iterations == 3
    with pytest.raises(TypeError, match="n_iter"):
        DeepContractTrainer(mdp, n_iter=7, max_iter=7)


def test_trainers_return_a_frozen_result_with_a_history_and_call_the_callback():
    mdp = make_tree_mdp(3, seed=0)
    calls = []
    tr = DeepContractTrainer(mdp, max_iter=20, hidden=8, batch_size=16, history_every=5)
    res = tr.train(callback=lambda step, metrics, state_fn: calls.append((step, state_fn)))
    assert [c[0] for c in calls] == list(range(1, 21))
    assert set(calls[-1][1]()) >= {"agent", "principal", "iteration"}
    assert [row["step"] for row in res.history] == [5, 10, 15, 20]
    assert isinstance(res.history, tuple) and "agent_loss" in res.history[-1]
    res = tr.refine(max_iter=10)
    assert [row["step"] for row in res.history][-2:] == [25, 30]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.iterations = 0
    coin = CoinGameTrainer("selfish", max_iter=6, n_envs=2, batch_size=4, buffer_size=64,
                           history_every=3, generator=torch.Generator().manual_seed(0))
    out = coin.train()
    assert isinstance(out, CoinGameTrainingResult)
    assert out.iterations == 6 and [row["step"] for row in out.history] == [3, 6]


def test_configs_nest_the_parameters_and_keep_bare_cli_keys():
    cfg = config_from_overrides(TreeMDPConfig, ["method=deep", "max_iter=2500", "hidden=64",
                                                "refine_iter=5"])
    assert cfg.deep == DeepContractParams(max_iter=2500, hidden=64, refine_iter=5)
    # the experiment's own defaults survive an override of another key of the group
    cfg = config_from_overrides(CoinGameConfig, {"size": 3, "max_iter": 600, "lr": 1e-3})
    assert isinstance(cfg.train, CoinGameParams)
    assert (cfg.train.max_iter, cfg.train.lr, cfg.train.batch_size, cfg.train.n_heads,
            cfg.train.confidence, cfg.train.target_every) == (600, 1e-3, 512, 5, 3.0, 100)
    assert cfg.max_steps == 20
    for row in [*EXPERIMENTS.quick, *EXPERIMENTS.full, *EXPERIMENTS.smoke]:
        exp = next(e for e in EXPERIMENTS.experiments if e.name == row.experiment)
        config_from_overrides(exp.config, row.overrides)


def test_tree_mdp_takes_a_seed_or_a_numpy_generator():
    import numpy as np

    a = make_tree_mdp(4, seed=3)
    b = make_tree_mdp(4, rng=np.random.default_rng(3))
    assert (a.agent_rewards == b.agent_rewards).all()
    with pytest.raises(TypeError, match="rng"):
        make_tree_mdp(4, rng=3)


def test_solver_results_hold_a_history_of_rows():
    from econcs.contracts import solve_spe

    mdp = make_tree_mdp(4, seed=1)
    res = meta_algorithm(mdp)
    assert [row["step"] for row in res.history] == list(range(1, res.iterations + 1))
    assert res.history[-1]["principal_utility"] == pytest.approx(res.principal_utility, abs=1e-9)
    spe = solve_spe(mdp)
    assert spe.history == ({"step": spe.iterations, "principal_utility": spe.principal_utility},)
