"""The Ray engine on a local Ray instance (2 CPUs, started once for the module).

Opt-in: starting Ray costs 10-30 s on a 2-core machine, more than the rest of this package's tests,
so these run only with ``ECONCS_RAY_TESTS=1`` and Ray installed::

    uv sync --all-packages --extra ray
    ECONCS_RAY_TESTS=1 uv run pytest shared/tests/test_shared_engines_ray.py -q

The lost-node test needs a Ray cluster of its own: test_shared_engines_ray_cluster.py (slow).
"""

import json
import os
from pathlib import Path

import pytest

if os.environ.get("ECONCS_RAY_TESTS") != "1":
    pytest.skip("Ray engine tests are opt-in: ECONCS_RAY_TESTS=1", allow_module_level=True)
# workers run in this environment; Ray's `uv run` hook would rebuild it in a copy of the tree
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
ray = pytest.importorskip("ray")

from econcs.shared import ConfigError  # noqa: E402
from econcs.shared._builtin_experiments import EXPERIMENTS as SHARED  # noqa: E402
from econcs.shared.engines import EngineOptions, expand_sweep, parse_axes, run_specs  # noqa: E402

# Ray's own processes outlive the objects that started them (its business, not ours)
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")
AL, EG = SHARED.experiments
RAY = EngineOptions(engine="ray", max_retries=2, timeout_s=240)


def _steps(run_dir):
    return [json.loads(ln)["step"] for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _attempts(run_dir):
    return len((run_dir / "attempts.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def fault_file(tmp_path_factory):
    """The fault-injection file the workers watch (set before Ray starts its workers)."""
    path = tmp_path_factory.mktemp("fault") / "fault"
    os.environ["ECONCS_FAULT_FILE"] = str(path)
    os.environ["MPLBACKEND"] = "Agg"
    yield path
    os.environ.pop("ECONCS_FAULT_FILE", None)


@pytest.fixture(scope="module")
def local_ray(fault_file):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _al_specs(root, seeds="0..1"):
    axes, seeds = parse_axes(AL, ["max_iter=200", "log_every=10", "checkpoint_every=100",
                                  f"seed={seeds}"])
    return expand_sweep(AL, axes, seeds, root, device="cpu")[1]


def test_local_and_ray_engines_write_the_same_results(local_ray, tmp_path):
    axes, seeds = parse_axes(EG, ["max_iter=100", "lr=0.2,0.3"])
    results = {}
    for engine in ("local", "ray"):
        _, specs = expand_sweep(EG, axes, seeds, tmp_path / engine, device="cpu")
        opts = RAY if engine == "ray" else EngineOptions(jobs=1)
        results[engine] = run_specs(specs, opts)
        for spec in specs:
            saved = json.loads((tmp_path / engine / spec.id / "result.json").read_text())
            assert saved["metrics"] == results[engine][spec.id]["metrics"]
    assert [r["metrics"] for r in results["local"].values()] == [
        r["metrics"] for r in results["ray"].values()]
    assert all(r["status"] == "ok" for r in results["ray"].values())


def test_killed_worker_is_retried_and_resumes_its_checkpoint(local_ray, fault_file, tmp_path):
    specs = _al_specs(tmp_path / "plain", "0")
    plain = run_specs(specs, EngineOptions(jobs=1))[specs[0].id]
    fault_file.write_text("exit")  # the first worker to checkpoint (step 100) dies
    specs = _al_specs(tmp_path / "killed", "0")
    result = run_specs(specs, RAY)[specs[0].id]
    run_dir = tmp_path / "killed" / specs[0].id
    assert not fault_file.exists()  # the fault was taken
    assert result["status"] == "ok" and result["resumed_from"] == 100
    assert _attempts(run_dir) == 2  # retried once
    assert _steps(run_dir) == list(range(10, 201, 10))  # no step twice
    assert result["metrics"] == plain["metrics"]


def test_python_error_is_not_retried_and_the_others_finish(local_ray, fault_file, tmp_path):
    fault_file.write_text("raise")
    specs = _al_specs(tmp_path, "0..2")
    results = run_specs(specs, RAY)
    failed = [r for r in results.values() if r["status"] == "failed"]
    assert len(failed) == 1 and "RuntimeError: injected fault ('raise')" in failed[0]["error"]
    assert _attempts(tmp_path / failed[0]["id"]) == 1  # not retried
    assert sum(r["status"] == "ok" for r in results.values()) == 2


def test_gpu_request_on_a_cpu_only_cluster_is_refused_before_submitting(local_ray, tmp_path):
    specs = _al_specs(tmp_path, "0")
    opts = EngineOptions(engine="ray", gpus_per_run=0.5, timeout_s=60)
    with pytest.raises(ConfigError, match="the Ray cluster has no GPUs"):
        run_specs(specs, opts)
    assert not (tmp_path / specs[0].id).exists()  # nothing ran


@pytest.fixture
def cli_on_ray(monkeypatch):
    """``econcs`` itself on the local Ray of this module, every wait with a timeout."""
    import functools

    from econcs.shared import cli

    monkeypatch.setattr(cli, "EngineOptions", functools.partial(EngineOptions, timeout_s=240))
    return cli.main


def test_cli_gpu_request_on_a_cpu_only_cluster_exits_2(local_ray, cli_on_ray, tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", AL.name, "max_iter=200", "--out", str(out), "--engine", "ray",
            "--gpus-per-run", "0.5", "--quiet"]
    assert cli_on_ray(argv) == 2
    err = capsys.readouterr().err
    assert "--gpus-per-run 0.5: the Ray cluster has no GPUs" in err and "Traceback" not in err
    assert not (out / "point-000").exists()  # nothing was submitted


def test_cli_sweep_on_ray_resume_skips_finished_runs_and_resumes_the_others(
        local_ray, cli_on_ray, fault_file, tmp_path, capsys):
    fault_file.write_text("raise")  # one run fails after its checkpoint at step 100
    out = tmp_path / "sw"
    argv = ["sweep", AL.name, "max_iter=200", "log_every=10", "checkpoint_every=100", "seed=0..1",
            "--out", str(out), "--engine", "ray", "--quiet"]
    assert cli_on_ray(argv) == 1
    assert "injected fault ('raise')" in capsys.readouterr().out
    runs = json.loads((out / "results.json").read_text())["runs"]
    (failed,) = [Path(r["run_dir"]) for r in runs if r["status"] == "failed"]
    (finished,) = [Path(r["run_dir"]) for r in runs if r["status"] == "ok"]
    assert cli_on_ray(["sweep", "--resume", str(out), "--engine", "ray", "--quiet"]) == 0
    assert _attempts(finished) == 1  # skipped
    assert _attempts(failed) == 2
    assert json.loads((failed / "result.json").read_text())["resumed_from"] == 100
    assert _steps(failed) == list(range(10, 201, 10))
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"]
