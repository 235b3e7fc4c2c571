import dataclasses
import json
import math
from typing import Literal

import pytest

from econcs.shared import (
    ConfigError,
    DivergenceError,
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
    config_from_overrides,
    run_experiment,
)
from econcs.shared._builtin_experiments import EXPERIMENTS as SHARED
from econcs.shared.cli import main


@dataclasses.dataclass
class Cfg:
    n: int = 3
    lr: float = 0.1
    name: str = "a"
    flag: bool = False
    mode: Literal["x", "y"] = "x"
    tol: float | None = None

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {self.n}.")


def test_config_parsing_by_field_type():
    cfg = config_from_overrides(
        Cfg, ["n=1e3", "lr=0.5", "name=b", "flag=true", "mode=y", "tol=none"]
    )
    assert cfg == Cfg(n=1000, lr=0.5, name="b", flag=True, mode="y", tol=None)
    assert config_from_overrides(Cfg, {"tol": "1e-3"}).tol == 1e-3
    with pytest.raises(ConfigError, match="unknown config key 'm'; valid keys: n, lr, name"):
        config_from_overrides(Cfg, ["m=1"])
    with pytest.raises(ConfigError, match="n: expected an integer, got 'x'"):
        config_from_overrides(Cfg, ["n=x"])
    with pytest.raises(ConfigError, match="mode: expected one of x, y"):
        config_from_overrides(Cfg, ["mode=z"])
    with pytest.raises(ConfigError, match="n: expected an integer >= 1"):
        config_from_overrides(Cfg, ["n=-1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        config_from_overrides(Cfg, ["n"])


def test_reference_relations():
    assert Reference(1.0, "t", rtol=0.01).holds(1.009)
    assert not Reference(1.0, "t", rtol=0.01).holds(1.011)
    assert Reference(0.0, "t", atol=1e-3, relation="le").holds(-5)
    assert not Reference(0.0, "t", atol=1e-3, relation="le").holds(0.002)
    assert Reference(0.8333, "t", relation="ge").holds(0.84)
    assert not Reference(0.8333, "t", relation="ge").holds(0.83)
    assert not Reference(1.0, "t", rtol=1.0).holds(math.nan)
    assert Reference(2.0, "t").gap(3.0) == 0.5


def test_suite_and_result_validation():
    with pytest.raises(ValueError, match="references: no metric"):
        ExperimentResult({"a": 1.0}, {"b": Reference(1.0, "x")})
    with pytest.raises(ValueError, match="unknown experiment"):
        ExperimentSuite("p", [], quick=[Reproduction("p.none")])
    with pytest.raises(TypeError, match="dataclass"):
        Experiment("p.x", int, lambda c, ctx: None)


def test_run_writes_run_directory(tmp_path):
    exp = SHARED.experiments[1]  # extragradient
    rec = run_experiment(exp, exp.config(max_iter=300), seed=1, device="cpu", out_dir=tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["experiment"] == "shared.extragradient"
    assert set(result) >= {"experiment", "config", "metrics", "references", "seconds"}
    assert result["metrics"]["eg_distance"] == rec.metrics["eg_distance"]
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 1
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["step"] == 100


def test_killed_run_resumes_to_identical_metrics(tmp_path, monkeypatch):
    exp = SHARED.experiments[0]  # augmented Lagrangian, stochastic minibatches
    cfg = exp.config(max_iter=600, checkpoint_every=200, log_every=50)
    full = run_experiment(exp, cfg, seed=3, device="cpu", out_dir=tmp_path / "full")

    original = RunContext.save_checkpoint
    calls = {"n": 0}

    def save_then_die(self, step, state):
        original(self, step, state)
        calls["n"] += 1
        if calls["n"] == 2:  # killed right after the checkpoint at step 400
            raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, cfg, seed=3, device="cpu", out_dir=tmp_path / "killed")
    monkeypatch.setattr(RunContext, "save_checkpoint", original)
    assert not (tmp_path / "killed" / "result.json").exists()
    resumed = run_experiment(exp, None, device="cpu", resume_dir=tmp_path / "killed")
    assert resumed.metrics == full.metrics
    steps = [
        json.loads(x)["step"] for x in (tmp_path / "killed/metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(50, 601, 50))


def test_divergence_is_reported_with_step(tmp_path):
    ctx = RunContext(tmp_path)
    ctx.log(1, loss=1.0)
    with pytest.raises(DivergenceError, match="step 2: metric 'loss' is nan"):
        ctx.log(2, loss=float("nan"))


def test_cli_list_show_run(tmp_path, capsys):
    assert main(["list"]) == 0
    assert "shared.augmented-lagrangian" in capsys.readouterr().out
    assert main(["show", "shared.extragradient"]) == 0
    assert "max_iter" in capsys.readouterr().out
    out_json = tmp_path / "r.json"
    code = main(
        [
            "run",
            "shared.extragradient",
            "max_iter=200",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["config"]["max_iter"] == 200 and "eg_distance" in data["metrics"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope.nothing"], "unknown experiment 'nope.nothing'; installed:"),
        (["run", "shared.extragradient", "foo=1"], "unknown config key 'foo'; valid keys: dim"),
        (["run", "shared.extragradient", "max_iter=abc"], "max_iter: expected an integer"),
        (["run", "shared.extragradient", "max_iter=-5"], "max_iter: expected an integer >= 1"),
        (["run", "shared.extragradient", "--device", "tpu"], "device"),
        (["run", "shared.extragradient", "--seed", "-1"], "--seed"),
        (["reproduce", "--only", "nopkg"], "--only: unknown package"),
        (["reproduce", "--only", "shared", "--jobs", "-1"], "--jobs: expected a non-negative"),
        (["show", "x.y"], "unknown experiment"),
    ],
)
def test_cli_bad_input_exits_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_reproduce_only_shared(tmp_path, capsys):
    assert (
        main(
            [
                "reproduce",
                "--quick",
                "--only",
                "shared",
                "--out",
                str(tmp_path),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "quick" and all(r["ok"] for r in report["rows"])
    assert len(report["rows"]) >= 5
    assert "| experiment | metric | ours |" in (tmp_path / "report.md").read_text()


def test_cli_reproduce_in_a_process_pool_gives_the_sequential_numbers(tmp_path):
    reports = {}
    for jobs in ("1", "2"):
        argv = ["reproduce", "--quick", "--only", "shared", "--out", str(tmp_path / jobs),
                "--quiet", "--device", "cpu", "--jobs", jobs]
        assert main(argv) == 0
        reports[jobs] = json.loads((tmp_path / jobs / "report.json").read_text())["rows"]
    assert [(r["label"], r["metric"], r["ours"]) for r in reports["1"]] == [
        (r["label"], r["metric"], r["ours"]) for r in reports["2"]]
    assert (tmp_path / "2" / "shared" / "00-shared.augmented-lagrangian" / "result.json").exists()


def test_cli_reproduce_holds_references_to_the_mean_over_seeds(tmp_path, monkeypatch):
    from econcs.shared import cli

    rep = Reproduction("shared.augmented-lagrangian", {"max_iter": 300}, "AL", n_seeds=3)
    suite = dataclasses.replace(SHARED, quick=(rep,), full=(), smoke=())
    monkeypatch.setattr(cli, "load_suites", lambda: {"shared": suite})
    # the exit status is not asserted: 300 steps need not meet the references, the mean is tested
    main(["reproduce", "--quick", "--out", str(tmp_path / "rep"), "--quiet", "--seed", "4",
          "--jobs", "1"])  # in this process: the patched suites are not seen by workers
    rows = json.loads((tmp_path / "rep" / "report.json").read_text())["rows"]
    singles = []  # standalone runs at the same seeds
    for seed in (4, 5, 6):
        out = tmp_path / f"single-{seed}.json"
        argv = ["run", "shared.augmented-lagrangian", "max_iter=300", "--seed", str(seed)]
        assert main([*argv, "--quiet", "--out", str(tmp_path / f"s{seed}"), "--json", str(out)]) == 0
        singles.append(json.loads(out.read_text()))
    assert len(rows) >= 2 and all("(mean of seeds 4-6)" in r["label"] for r in rows)
    for row in rows:
        values = [d["metrics"][row["metric"]] for d in singles]
        assert len(set(values)) == 3  # the seeds really differ
        assert row["per_seed"] == pytest.approx(values, rel=1e-12)
        assert row["ours"] == pytest.approx(sum(values) / 3, rel=1e-12)
        # this experiment's references come from each seed's own problem: they are averaged too
        refs = [Reference(**d["references"][row["metric"]]) for d in singles]
        mean_ref = dataclasses.replace(refs[0], value=sum(r.value for r in refs) / 3)
        assert row["reference"] == mean_ref.describe()
        assert row["ok"] == mean_ref.holds(row["ours"])
    run_dir = tmp_path / "rep" / "shared" / "00-shared.augmented-lagrangian"
    assert sorted(p.name for p in run_dir.iterdir()) == ["seed-4", "seed-5", "seed-6"]


def test_cli_reproduce_paper_runs_only_the_paper_rows(tmp_path, monkeypatch, capsys):
    """``--paper`` runs the suite's paper-scale rows (and nothing else); a selection without
    such rows is a clear error naming the packages that have them."""
    from econcs.shared import cli

    quick = Reproduction("shared.augmented-lagrangian", {"max_iter": 5}, "quick row")
    paper = Reproduction("shared.extragradient", {"max_iter": 50}, "paper row")
    suite = dataclasses.replace(SHARED, quick=(quick,), full=(), smoke=(), paper=(paper,))
    bare = dataclasses.replace(SHARED, package="bare", quick=(quick,), full=(), smoke=(), paper=())
    monkeypatch.setattr(cli, "load_suites", lambda: {"shared": suite, "bare": bare})
    main(["reproduce", "--paper", "--only", "shared", "--out", str(tmp_path / "p"), "--quiet",
          "--jobs", "1"])
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["mode"] == "paper" and {r["label"] for r in report["rows"]} == {"paper row"}
    assert (tmp_path / "p" / "shared" / "00-shared.extragradient" / "result.json").exists()
    assert "# econcs reproduce --paper" in (tmp_path / "p" / "report.md").read_text()
    capsys.readouterr()
    assert main(["reproduce", "--paper", "--only", "bare", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--paper: no such rows in bare; packages with --paper rows: shared" in err
    assert not (tmp_path / "b").exists()


def test_suite_checks_the_experiments_of_its_paper_rows():
    with pytest.raises(ValueError, match=r"unknown experiment 'shared\.nope'"):
        dataclasses.replace(SHARED, paper=(Reproduction("shared.nope"),))


def test_reproduction_rejects_bad_n_seeds():
    with pytest.raises(ValueError, match="n_seeds"):
        Reproduction("shared.extragradient", n_seeds=0)


def test_atomic_write_replaces_or_keeps_the_old_file(tmp_path):
    from econcs.shared import atomic_write

    path = tmp_path / "model.bin"
    with atomic_write(path) as tmp:
        tmp.write_text("first")
    assert path.read_text() == "first"
    with pytest.raises(RuntimeError, match="killed"), atomic_write(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed while writing")
    assert path.read_text() == "first"  # the old file survives a failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # no temporary left
