"""The ``econcs`` CLI across every installed package: list, a tiny run of each, resume after a
real kill, and clean errors for bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from econcs.shared import load_suites
from econcs.shared.cli import main

SUITES = load_suites()
ECONCS = [sys.executable, "-m", "econcs.shared.cli"]
EXPECTED_PACKAGES = {"shared", "auctions", "abcs", "churn", "contracts"}


def _econcs(*args, cwd=None, timeout=300):
    return subprocess.run([*ECONCS, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_every_package_registers_experiments():
    assert EXPECTED_PACKAGES <= set(SUITES)
    res = _econcs("list")
    assert res.returncode == 0, res.stderr
    for suite in SUITES.values():
        assert suite.experiments and suite.quick and suite.smoke, suite.package
        for exp in suite.experiments:
            # a suite's experiments are named under it (or, for a one-experiment suite, are it)
            assert exp.name == suite.package or exp.name.startswith(suite.package + "."), exp.name
            assert exp.name in res.stdout


SMOKE = [(s.package, r) for s in SUITES.values() for r in s.smoke]


@pytest.mark.parametrize(("package", "rep"), SMOKE,
                         ids=[f"{p}:{r.experiment}" for p, r in SMOKE])
def test_tiny_run_writes_valid_result(package, rep, tmp_path, capsys):
    # in-process through the CLI's entry point (a subprocess per run would re-import every package)
    overrides = [f"{k}={v}" for k, v in rep.overrides.items()]
    out_json = tmp_path / "r.json"
    code = main(["run", rep.experiment, *overrides, "--device", "cpu", "--quiet",
                 "--out", str(tmp_path / "run"), "--json", str(out_json)])
    assert code == 0, capsys.readouterr().err[-3000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["experiment"] == rep.experiment
    assert result["metrics"] and all(isinstance(v, float) for v in result["metrics"].values())
    for key, ref in result["references"].items():
        assert key in result["metrics"] and {"value", "source"} <= set(ref)
    assert json.loads(out_json.read_text())["config"] == result["config"]


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    args = ["shared.augmented-lagrangian", "max_iter=4000", "checkpoint_every=250",
            "--device", "cpu", "--quiet", "--seed", "4"]
    full = _econcs("run", *args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([*ECONCS, "run", *args, "--out", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists(), "the run finished before it could be killed"
    resumed = _econcs("run", "shared.augmented-lagrangian", "--resume", str(run_dir), "--quiet",
                      "--device", "cpu")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "full" / "result.json").read_text())["metrics"]
    b = json.loads((run_dir / "result.json").read_text())["metrics"]
    assert a == b


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no.such"], "unknown experiment 'no.such'"),
        (["run", "shared.extragradient", "bogus=1"], "unknown config key 'bogus'"),
        (["run", "shared.extragradient", "lr=fast"], "lr: expected a number"),
        (["run", "shared.extragradient", "max_iter=-3"], "max_iter: expected an integer >= 1"),
        (["run", "shared.augmented-lagrangian", "--resume", "/nonexistent"], "no config.json"),
        (["bogus-command"], "invalid choice"),
    ],
)
def test_bad_cli_input_exits_2_without_traceback(args, message, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_console_script_lists_and_rejects_bad_input():
    script = Path(sys.executable).parent / "econcs"
    assert script.exists()
    res = subprocess.run([str(script), "list"], capture_output=True, text=True,
                         env={**os.environ})
    assert res.returncode == 0 and "shared.extragradient" in res.stdout
    res = subprocess.run([str(script), "run", "shared.extragradient", "max_iter=-1"],
                         capture_output=True, text=True, env={**os.environ})
    assert res.returncode == 2 and "max_iter" in res.stderr and "Traceback" not in res.stderr
