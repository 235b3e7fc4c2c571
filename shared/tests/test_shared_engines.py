"""The engines without Ray: spec expansion, sweep.json, resume, failures, the sweep summary, the
checks made before submitting. (Ray itself: test_shared_engines_ray.py, opt-in.)"""

import json
import math
import socket
import sys

import pytest

from econcs.shared import ConfigError, RunContext, run_experiment
from econcs.shared._builtin_experiments import EXPERIMENTS as SHARED
from econcs.shared.cli import main
from econcs.shared.engines import (
    RAY_INSTALL_HINT,
    EngineOptions,
    RunSpec,
    check_address,
    check_placement,
    expand_sweep,
    parse_axes,
    read_sweep,
    run_specs,
    split_values,
    summarize,
    write_sweep,
)

AL, EG = SHARED.experiments  # augmented Lagrangian (checkpoints), extra-gradient
TINY_AL = {"max_iter": "200", "log_every": "10", "checkpoint_every": "100"}


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):  # drawing the convergence plots costs more than these tiny runs
    monkeypatch.setattr(RunContext, "plots_enabled", property(lambda self: False))


def _steps(run_dir):
    return [json.loads(ln)["step"] for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _attempts(run_dir):
    return len((run_dir / "attempts.jsonl").read_text().splitlines())


def test_split_values_keeps_parentheses_and_unwraps_brackets():
    assert split_values("0.1, 0.3") == ["0.1", "0.3"]
    assert split_values("uniform(0,1),beta(2,2)") == ["uniform(0,1)", "beta(2,2)"]
    assert split_values("[64,64],[128]") == ["64,64", "128"]
    with pytest.raises(ConfigError, match="empty value"):
        split_values("1,,2")


def test_parse_axes_ranges_seeds_and_bad_values():
    axes, seeds = parse_axes(EG, ["lr=0.1,0.3", "dim=2..4", "seed=0..4"])
    assert axes == {"lr": ["0.1", "0.3"], "dim": ["2", "3", "4"]} and seeds == [0, 1, 2, 3, 4]
    assert parse_axes(EG, ["lr=0.2"]) == ({"lr": ["0.2"]}, [0])  # seed 0 by default
    for items, message in [
        (["lr=fast"], "lr: expected a number, got 'fast'"),
        (["dim=2.5"], "dim: expected an integer"),
        (["dim=0"], "dim"),  # the config's own bound (>= 1)
        (["lr=0.1..0.3"], "a range is a..b with integers"),
        (["dim=4..2"], "empty range"),
        (["nope=1"], "unknown config key 'nope'"),
        (["lr"], "expected key=v1,v2"),
        (["seed=-1,0"], "non-negative"),
        (["lr=0.1", "lr=0.2"], "given twice"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_axes(EG, items)


def test_expand_sweep_chooses_every_run_directory_and_round_trips(tmp_path):
    axes, seeds = parse_axes(EG, ["lr=0.1,0.3", "dim=2,3", "seed=1,2"])
    points, specs = expand_sweep(EG, axes, seeds, tmp_path / "sw", device="cpu")
    assert len(points) == 4 and len(specs) == 8
    assert [p["overrides"] for p in points] == [
        {"lr": "0.1", "dim": "2"}, {"lr": "0.1", "dim": "3"},
        {"lr": "0.3", "dim": "2"}, {"lr": "0.3", "dim": "3"}]
    dirs = [s.run_dir for s in specs]
    assert len(set(dirs)) == 8 and all(d.startswith(str((tmp_path / "sw").resolve())) for d in dirs)
    assert specs[3].run_dir.endswith("point-001/seed-2") and specs[3].seed == 2
    write_sweep(tmp_path / "sw", specs, command="sweep", experiment=EG.name, points=points)
    meta, back = read_sweep(tmp_path / "sw", "sweep")
    assert back == specs and meta["points"] == points and meta["experiment"] == EG.name
    with pytest.raises(ConfigError, match="not a sweep directory"):
        read_sweep(tmp_path)
    with pytest.raises(ConfigError, match="a sweep of `econcs sweep`, not of `econcs reproduce`"):
        read_sweep(tmp_path / "sw", "reproduce")


def test_resume_true_continues_a_checkpoint_and_cuts_metrics_back(tmp_path, monkeypatch):
    cfg = AL.config(max_iter=200, log_every=10, checkpoint_every=100)
    full = run_experiment(AL, cfg, seed=1, device="cpu", out_dir=tmp_path / "full")
    run = tmp_path / "run"
    fault = tmp_path / "fault"
    fault.write_text("raise")
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))
    with pytest.raises(RuntimeError, match="injected fault"):  # dies after its checkpoint at 100
        run_experiment(AL, cfg, seed=1, device="cpu", out_dir=run, resume=True)
    assert _steps(run) == list(range(10, 101, 10)) and not (run / "result.json").exists()
    # as if it had been killed at step 150: its log runs past the checkpoint
    extra = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()[10:15]
    with (run / "metrics.jsonl").open("a") as fh:
        fh.write("\n".join(extra) + "\n")
    assert _steps(run)[-1] == 150
    resumed = run_experiment(AL, cfg, seed=1, device="cpu", out_dir=run, resume=True)
    assert resumed.resumed_from == 100
    assert resumed.metrics == full.metrics
    assert _steps(run) == list(range(10, 201, 10))  # no step twice
    assert (run / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()
    # a run killed before its first checkpoint starts over, and so does its log
    (run / "result.json").unlink()
    (run / "checkpoint.pt").unlink()
    again = run_experiment(AL, cfg, seed=1, device="cpu", out_dir=run, resume=True)
    assert again.resumed_from is None and again.metrics == full.metrics
    assert _steps(run) == list(range(10, 201, 10))
    fresh = run_experiment(AL, cfg, seed=1, device="cpu", out_dir=tmp_path / "new", resume=True)
    assert fresh.resumed_from is None and fresh.metrics == full.metrics  # nothing there: fresh


def test_python_error_fails_its_run_only_and_resume_finishes(tmp_path, monkeypatch, capsys):
    fault = tmp_path / "fault"
    fault.write_text("raise")
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))
    out = tmp_path / "sw"
    argv = ["sweep", AL.name, *(f"{k}={v}" for k, v in TINY_AL.items()), "seed=0..1",
            "--out", str(out), "--device", "cpu", "--jobs", "1", "--quiet"]
    assert main(argv) == 1  # one run failed
    captured = capsys.readouterr()
    assert "point 0 seed 0 failed: RuntimeError: injected fault ('raise') after the checkpoint " \
           "at step 100" in captured.out and "Traceback" not in captured.err
    s0, s1 = out / "point-000" / "seed-0", out / "point-000" / "seed-1"
    assert not (s0 / "result.json").exists() and (s1 / "result.json").exists()
    assert "RuntimeError" in (s0 / "error.txt").read_text()
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["failed", "ok"]
    # --resume skips the finished run and continues the failed one from its checkpoint
    assert main(["sweep", "--resume", str(out), "--jobs", "1"]) == 0
    assert _attempts(s0) == 2 and _attempts(s1) == 1
    saved = json.loads((s0 / "result.json").read_text())
    assert saved["resumed_from"] == 100
    assert _steps(s0) == list(range(10, 201, 10))
    cfg = AL.config(max_iter=200, log_every=10, checkpoint_every=100)
    plain = run_experiment(AL, cfg, seed=0, device="cpu", out_dir=tmp_path / "plain")
    assert saved["metrics"] == plain.metrics
    # a finished sweep resumed again runs nothing
    assert main(["sweep", "--resume", str(out), "--jobs", "1"]) == 0
    assert _attempts(s0) == 2 and _attempts(s1) == 1


def test_sweep_summary_is_mean_and_standard_error_over_seeds(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", EG.name, "max_iter=100", "lr=0.2,0.3", "seed=0..2", "--out", str(out),
            "--device", "cpu", "--jobs", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "summary over seeds" in text and "+-" in text
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 6 and len(results["summary"]) == 2
    for point in results["summary"]:
        runs = [r for r in results["runs"] if r["point"] == point["point"]]
        values = [r["metrics"]["eg_distance"] for r in runs]
        assert len(set(values)) == 3  # the seeds differ
        mean = sum(values) / 3
        se = math.sqrt(sum((v - mean) ** 2 for v in values) / 2 / 3)
        stat = point["metrics"]["eg_distance"]
        assert stat["n"] == 3
        assert stat["mean"] == pytest.approx(mean, rel=1e-12)
        assert stat["se"] == pytest.approx(se, rel=1e-12)
    assert "| point | max_iter | lr | n | eg_distance (mean +- SE) |" in (out / "summary.md").read_text()


def test_summarize():
    assert summarize([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / math.sqrt(3), 3))
    mean, se, n = summarize([5.0, float("nan")])
    assert (mean, n) == (5.0, 1) and math.isnan(se)
    assert summarize([])[2] == 0


def test_run_specs_skips_finished_runs(tmp_path):
    spec = RunSpec("a", "no.such-experiment", {}, 0, str(tmp_path / "a"))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "result.json").write_text(json.dumps(
        {"metrics": {"x": 1.0}, "references": {"x": {"value": 1.0, "source": "s"}}}))
    bad = RunSpec("b", "no.such-experiment", {}, 0, str(tmp_path / "b"))
    results = run_specs([spec, bad], EngineOptions(jobs=1))
    assert results["a"]["skipped"] and results["a"]["metrics"] == {"x": 1.0}
    assert results["b"]["status"] == "failed"
    assert "unknown experiment 'no.such-experiment'" in results["b"]["error"]


def test_gpu_and_cpu_requests_no_node_can_hold_are_refused():
    cpu_only = [{"CPU": 2.0, "memory": 1e9}, {"CPU": 4.0}]
    check_placement(cpu_only, 4, 0)
    with pytest.raises(ConfigError, match=r"--gpus-per-run 0.25: the Ray cluster has no GPUs "
                       r"\(2 node\(s\), 6 CPUs, 0 GPUs\); nothing was submitted"):
        check_placement(cpu_only, 1, 0.25)
    with pytest.raises(ConfigError, match="no node of the Ray cluster has that much"):
        check_placement(cpu_only, 8, 0)
    gpus = [{"CPU": 16.0, "GPU": 1.0}, {"CPU": 2.0}]
    check_placement(gpus, 2, 0.5)
    with pytest.raises(ConfigError, match="the largest node has 16 CPUs, 1 GPUs"):
        check_placement(gpus, 1, 2)
    with pytest.raises(ConfigError, match="no alive nodes"):
        check_placement([], 1, 0)


def test_engine_options_are_checked():
    for kwargs, message in [
        ({"engine": "spark"}, "--engine: expected one of local, ray"),
        ({"engine": "ray", "cpus_per_run": 0.0}, "--cpus-per-run: expected a number > 0"),
        ({"engine": "ray", "max_retries": -1}, "--max-retries: expected an integer >= 0"),
        ({"engine": "ray", "gpus_per_run": 1.5}, "--gpus-per-run: expected 0, a fraction"),
        ({"gpus_per_run": 0.5}, "--gpus-per-run: only with --engine ray"),
        ({"address": "head:6379"}, "--address: only with --engine ray"),
    ]:
        with pytest.raises(ConfigError, match=message):
            EngineOptions(**kwargs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_is_refused_in_seconds():
    check_address(None)
    check_address("auto")
    with pytest.raises(ConfigError, match="cannot reach a Ray head there"):
        check_address(f"127.0.0.1:{_closed_port()}", timeout=2)
    with pytest.raises(ConfigError, match="expected host:port"):
        check_address("head:port")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "--engine", "ray", "--cpus-per-run", "0"], "--cpus-per-run: expected"),
        (["reproduce", "--engine", "ray", "--max-retries", "-1"], "--max-retries: expected"),
        (["reproduce", "--engine", "ray", "--address", "127.0.0.1:{port}"],
         "cannot reach a Ray head"),
        (["reproduce", "--gpus-per-run", "1"], "only with --engine ray"),
        (["sweep", "shared.extragradient", "lr=0.1", "--engine", "ray", "--cpus-per-run", "0"],
         "--cpus-per-run: expected a number > 0"),
        (["sweep", "shared.extragradient", "lr=0.1", "--engine", "ray", "--max-retries", "-2"],
         "--max-retries: expected an integer >= 0"),
        (["sweep", "shared.extragradient", "lr=0.1", "--engine", "ray", "--address",
          "127.0.0.1:{port}"], "cannot reach a Ray head"),
        (["sweep", "shared.extragradient", "lr=fast"], "lr: expected a number, got 'fast'"),
        (["sweep", "shared.extragradient", "dim=2,2.5"], "dim: expected an integer"),
        (["sweep", "shared.extragradient", "dim=1..x"], "a range is a..b with integers"),
        (["sweep"], "sweep: name an EXPERIMENT"),
        (["sweep", "no.such", "lr=1"], "unknown experiment 'no.such'"),
        (["sweep", "--resume", "{tmp}"], "is not a sweep directory"),
        (["reproduce", "--resume", "{tmp}"], "is not a sweep directory"),
        (["sweep", "--resume", "{tmp}/missing"], "is not a sweep directory"),
        (["sweep", "--resume", "{tmp}/corrupt"], "is not a valid sweep.json"),
        (["sweep", "--resume", "{tmp}/other"], "is not a valid sweep.json (not an econcs sweep)"),
    ],
)
def test_engine_bad_input_exits_2(argv, message, tmp_path, capsys):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "sweep.json").write_text('{"kind": "econcs-sweep", "specs": [{}')
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "sweep.json").write_text('{"specs": []}')
    argv = [a.format(port=_closed_port(), tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--cpus-per-run", "one"], "--cpus-per-run: invalid float value: 'one'"),
    (["--max-retries", "1.5"], "--max-retries: invalid int value: '1.5'"),
    (["--engine", "spark"], "--engine: invalid choice: 'spark'"),
])
def test_engine_options_argparse_rejects_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "shared.extragradient", "lr=0.1", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["reproduce", "--only", "shared", "--engine", "ray", "--out",
                 str(tmp_path / "r")]) == 2
    assert RAY_INSTALL_HINT in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_reproduce_resume_skips_finished_rows(tmp_path, monkeypatch):
    import dataclasses

    from econcs.shared import Reproduction, cli

    reps = (Reproduction(AL.name, {"max_iter": 200, "log_every": 10, "checkpoint_every": 100}),
            Reproduction(EG.name, {"max_iter": 100}, "EG"))
    suite = dataclasses.replace(SHARED, quick=reps, full=(), smoke=())
    monkeypatch.setattr(cli, "load_suites", lambda: {"shared": suite})
    fault = tmp_path / "fault"
    fault.write_text("raise")
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))
    out = tmp_path / "rep"
    main(["reproduce", "--out", str(out), "--jobs", "1", "--device", "cpu"])
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert rows[0]["metric"] == "(run)" and "injected fault" in rows[0]["source"]
    assert rows[-1]["label"] == "EG" and rows[-1]["ok"]
    main(["reproduce", "--resume", str(out), "--jobs", "1"])
    again = json.loads((out / "report.json").read_text())["rows"]
    assert [r["label"] for r in again if r["metric"] != "(run)"][-2:] == ["EG", "EG"]
    al_dir = out / "shared" / f"00-{AL.name}"
    assert _attempts(al_dir) == 2 and _attempts(out / "shared" / f"01-{EG.name}") == 1
    assert json.loads((al_dir / "result.json").read_text())["resumed_from"] == 100
    assert [r["ours"] for r in again if r["label"] == "EG"] == [
        r["ours"] for r in rows if r["label"] == "EG"]
    assert main(["reproduce", "--resume", str(out), "--only", "shared"]) == 2  # fixed by the sweep


def test_nothing_imports_ray_unless_engine_ray(tmp_path):
    """A local sweep never imports Ray, installed or not (a fresh interpreter: Ray may be loaded
    in this one by the opt-in Ray tests)."""
    import os
    import subprocess

    code = (
        "import sys\n"
        "from econcs.shared.cli import main\n"
        f"code = main(['sweep', {EG.name!r}, 'max_iter=20', 'lr=0.2,0.3', '--out', "
        f"{str(tmp_path / 'sw')!r}, '--jobs', '1', '--device', 'cpu', '--quiet'])\n"
        "assert code == 0, code\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "sw" / "results.json").exists()
