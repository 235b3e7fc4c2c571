"""The parameter dataclasses: bounds checked once, keyword overrides, the same run either way."""

import dataclasses

import numpy as np
import pytest

import econcs.abcs
from econcs.abcs import (
    CFR,
    MCCFR,
    ABCs,
    ABCsParams,
    BoltzmannQLearning,
    BQLParams,
    CFRParams,
    MCCFRParams,
    load_game,
)
from econcs.abcs._experiments import EXPERIMENTS
from econcs.shared.experiments import config_from_overrides

EXP = {e.name: e for e in EXPERIMENTS.experiments}


@pytest.fixture(scope="module")
def kuhn():
    return load_game("kuhn_poker")


@pytest.mark.parametrize("cls,bad", [
    (ABCsParams, {"temperature": 0.0}), (ABCsParams, {"alpha": 1.5}), (ABCsParams, {"window": 1}),
    (ABCsParams, {"stationarity": "sometimes"}), (ABCsParams, {"lr_power": -0.1}),
    (BQLParams, {"temperature_decay": 0.0}), (BQLParams, {"decay_every": 0}),
    (MCCFRParams, {"epsilon": -0.1}), (MCCFRParams, {"sampling": "chance"}),
    (CFRParams, {"variant": "cfr++"}),
])
def test_params_reject_out_of_bounds(cls, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        cls(**bad)


def test_params_are_frozen_and_unknown_keywords_rejected(kuhn):
    p = ABCsParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.alpha = 0.1
    for make in (lambda: ABCs(kuhn, learning_rate=0.1), lambda: MCCFR(kuhn, samplng="outcome"),
                 lambda: CFR(kuhn, exactly=False), lambda: BoltzmannQLearning(kuhn, alpha=0.1)):
        with pytest.raises(TypeError, match="unknown parameter"):
            make()


def test_params_object_and_overrides_run_alike(kuhn):
    a = ABCs(kuhn, ABCsParams(lr_power=0.8, stationarity="oracle"), seed=2)
    b = ABCs(kuhn, lr_power=0.8, stationarity="oracle", rng=np.random.default_rng(2))
    ra, rb = a.run(budget_nodes=5_000), b.run(budget_nodes=5_000)
    np.testing.assert_array_equal(ra.policy.probs, rb.policy.probs)
    assert a.params == b.params
    bql = BoltzmannQLearning(kuhn, BQLParams(lr_power=0.7))
    assert bql.params == BQLParams(lr_power=0.7) and bql.stationarity == "stationary"
    assert MCCFR(kuhn, MCCFRParams(sampling="outcome")).sampling == "outcome"
    assert CFR(kuhn, CFRParams(variant="cfr+")).variant == "cfr+"


def test_experiment_keys_by_bare_name():
    cfg = config_from_overrides(EXP["abcs.abcs"].config,
                                ["lr_power=0.6", "stationarity=oracle", "budget_nodes=1000"])
    assert cfg.learner == ABCsParams(lr_power=0.6, stationarity="oracle")
    assert config_from_overrides(EXP["abcs.bql"].config, {"lr_power": 0.6}).learner.lr_power == 0.6
    assert config_from_overrides(EXP["abcs.mccfr"].config,
                                 ["sampling=outcome"]).learner.sampling == "outcome"
    assert config_from_overrides(EXP["abcs.cfr"].config,
                                 ["variant=cfr+", "exact=false"]).solver == CFRParams("cfr+", False)


def test_version():
    assert isinstance(econcs.abcs.__version__, str) and econcs.abcs.__version__
