"""Parameter dataclasses (econcs.shared.params), nested configs on the command line, callbacks
and value iteration (econcs.shared.dp)."""

import dataclasses
import json
import warnings

import numpy as np
import pytest

from econcs.shared import (
    Callback,
    ConfigError,
    ConvergenceWarning,
    Params,
    RunContext,
    history_tuple,
    nested,
    param,
    resolve_params,
    value_iteration,
)
from econcs.shared.experiments import config_from_overrides, config_help


@dataclasses.dataclass(frozen=True)
class TrainP(Params):
    max_iter: int = param(100, "steps", low=1)
    lr: float = param(0.1, "step size", low=0.0, low_inclusive=False)
    mode: str = param("a", "mode", choices=("a", "b"))
    widths: tuple[int, ...] = param((4, 4), "layer widths", low=1)
    decay: float | None = param(None, "weight decay", low=0.0)
    frac: float = param(0.5, "a fraction", low=0.0, high=1.0, high_inclusive=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode == "b" and self.max_iter < 10:
            raise ValueError("max_iter: mode 'b' needs at least 10 steps.")


@dataclasses.dataclass(frozen=True)
class EvalP(Params):
    lr: float = param(0.5, "search step", low=0.0)
    n_eval: int = param(10, "profiles", low=1)


@dataclasses.dataclass(frozen=True)
class Cfg(Params):
    n_items: int = param(2, "items", low=1)
    train: TrainP = nested(TrainP, "training")
    evaluation: EvalP = nested(EvalP, "evaluation")


def test_params_normalise_and_compare():
    p = TrainP(lr=1, widths=[3, 5])
    assert p.lr == 1.0 and isinstance(p.lr, float)
    assert p.widths == (3, 5)
    assert p == TrainP(lr=1.0, widths=(3, 5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.lr = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"max_iter": 0}, ValueError, r"max_iter: expected an integer >= 1, got 0"),
        ({"max_iter": 2.5}, TypeError, r"max_iter: expected an integer"),
        ({"max_iter": True}, TypeError, r"max_iter: expected an integer"),
        ({"lr": 0.0}, ValueError, r"lr: expected a number > 0"),
        ({"lr": float("nan")}, ValueError, r"lr: expected a finite number"),
        ({"lr": "0.1"}, TypeError, r"lr: expected a real number"),
        ({"mode": "c"}, ValueError, r"mode: expected one of 'a', 'b'"),
        ({"widths": (3, 0)}, ValueError, r"widths\[1\]: expected an integer >= 1"),
        ({"widths": "34"}, TypeError, r"widths: expected a sequence"),
        ({"decay": -1.0}, ValueError, r"decay: expected a number >= 0"),
        ({"frac": 1.0}, ValueError, r"frac: expected a number >= 0.0 and < 1.0"),
        ({"mode": "b", "max_iter": 5}, ValueError, r"mode 'b' needs at least 10"),
    ],
)
def test_params_reject_bad_values(kwargs, err, match):
    with pytest.raises(err, match=match):
        TrainP(**kwargs)


def test_none_allowed_for_optional():
    assert TrainP(decay=None).decay is None
    assert TrainP(decay=0).decay == 0.0


def test_resolve_params():
    assert resolve_params(TrainP) == TrainP()
    base = TrainP(max_iter=7)
    assert resolve_params(TrainP, base) is base
    assert resolve_params(TrainP, base, lr=0.2) == TrainP(max_iter=7, lr=0.2)
    assert resolve_params(TrainP, {"max_iter": 3}) == TrainP(max_iter=3)
    assert base.replace(lr=0.3).lr == 0.3
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) lrr; valid: max_iter, lr"):
        resolve_params(TrainP, None, lrr=0.1)
    with pytest.raises(TypeError, match="params: expected TrainP"):
        resolve_params(TrainP, EvalP())
    with pytest.raises(ValueError, match="max_iter"):
        base.replace(max_iter=-1)


def test_nested_config_from_the_command_line():
    cfg = config_from_overrides(Cfg, ["max_iter=5", "train.lr=0.3", "widths=3,4", "n_eval=2"])
    assert cfg == Cfg(train=TrainP(max_iter=5, lr=0.3, widths=(3, 4)), evaluation=EvalP(n_eval=2))
    # a saved config.json (nested dicts) builds the same object
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert config_from_overrides(Cfg, saved) == cfg
    # a flat mapping too
    assert config_from_overrides(Cfg, {"max_iter": 5, "train.lr": 0.3, "widths": (3, 4),
                                       "n_eval": 2}) == cfg


def test_nested_config_errors():
    with pytest.raises(ConfigError, match=r"'lr' is ambiguous; use one of train\.lr, evaluation\.lr"):
        config_from_overrides(Cfg, ["lr=0.1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'nope'"):
        config_from_overrides(Cfg, ["nope=1"])
    with pytest.raises(ConfigError, match="max_iter: expected an integer >= 1, got 0"):
        config_from_overrides(Cfg, ["max_iter=0"])
    with pytest.raises(ConfigError, match="mode: expected one of"):
        config_from_overrides(Cfg, {"mode": "z"})


def test_config_help_flattens_with_bounds():
    rows = {r[0]: r for r in config_help(Cfg)}
    assert set(rows) == {"n_items", "max_iter", "train.lr", "mode", "widths", "decay", "frac",
                         "evaluation.lr", "n_eval"}
    assert rows["max_iter"][2] == "100"
    assert rows["max_iter"][3] == "steps [>= 1]"
    assert rows["train.lr"][3] == "step size [> 0]"
    assert rows["mode"][3] == "mode [a | b]"


def test_run_context_callback_logs_and_checkpoints(tmp_path):
    ctx = RunContext(tmp_path, checkpoint_every=4)
    cb = ctx.callback(log_every=2)
    assert isinstance(cb, Callback)
    calls = []

    def state_fn():
        calls.append(1)
        return {"x": 1}

    for step in range(1, 9):
        cb(step, {"loss": 1.0 / step}, state_fn)
    assert [r["step"] for r in ctx.read_metrics()] == [2, 4, 6, 8]
    assert len(calls) == 2  # only when saving
    ctx2 = RunContext(tmp_path, resume=True)
    assert ctx2.load_checkpoint()[0] == 8
    with pytest.raises(ValueError, match="log_every"):
        ctx.callback(log_every=0)


def test_history_tuple():
    assert history_tuple([{"step": 1.0, "a": 2}]) == ({"step": 1, "a": 2},)
    with pytest.raises(ValueError, match=r"history\[0\]: expected a 'step' key"):
        history_tuple([{"a": 1}])


def test_value_iteration_against_the_closed_form():
    # a 3-state chain with rewards r and discount 0.9: v = (I - gamma P)^-1 r
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=3)
    r = rng.normal(size=3)
    res = value_iteration(lambda v: r + 0.9 * p @ v, np.zeros(3), gamma=0.9, tol=1e-12)
    np.testing.assert_allclose(res.values, np.linalg.solve(np.eye(3) - 0.9 * p, r), atol=1e-11)
    assert res.converged and res.iterations > 10 and res.residual <= 1e-13


def test_value_iteration_warns_at_max_iter():
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=3"):
        res = value_iteration(lambda v: 1.0 + 0.99 * v, np.zeros(1), gamma=0.99, max_iter=3)
    assert not res.converged and res.iterations == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="gamma"):
            value_iteration(lambda v: v, np.zeros(1), gamma=1.5)


def test_nested_with_experiment_defaults():
    @dataclasses.dataclass(frozen=True)
    class Exp(Params):
        train: TrainP = nested(TrainP, "training", max_iter=7)

    assert Exp().train == TrainP(max_iter=7)
    assert {r[0]: r[2] for r in config_help(Exp)}["max_iter"] == "7"
    with pytest.raises(TypeError, match="cls: expected a Params dataclass type"):
        nested(dict)


def test_apply_renames():
    from econcs.shared import apply_renames

    with pytest.warns(DeprecationWarning, match="'n_iter' is deprecated, use 'max_iter'"):
        out = apply_renames({"n_iter": 3}, {"n_iter": "max_iter"}, "Trainer")
    assert out == {"max_iter": 3}
    with pytest.raises(TypeError, match="got both 'n_iter' and its new name 'max_iter'"):
        apply_renames({"n_iter": 3, "max_iter": 4}, {"n_iter": "max_iter"}, "Trainer")


def test_overrides_keep_the_experiments_nested_defaults():
    @dataclasses.dataclass(frozen=True)
    class Inner(Params):
        a: int = param(1, "a", low=0)
        b: int = param(2, "b", low=0)

    @dataclasses.dataclass(frozen=True)
    class Outer(Params):
        inner: Inner = nested(Inner, "inner", a=5)
        deeper: Cfg = nested(Cfg, "a group with groups", n_items=3)

    cfg = config_from_overrides(Outer, ["b=3", "max_iter=9"])
    assert cfg.inner == Inner(a=5, b=3)  # the experiment's a=5 survives an override of b
    assert cfg.deeper.n_items == 3 and cfg.deeper.train.max_iter == 9
    assert config_from_overrides(Outer, {}) == Outer()
