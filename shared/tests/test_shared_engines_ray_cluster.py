"""The Ray engine survives a lost node: a ``ray.cluster_utils.Cluster`` on this machine (a head
without CPUs and two worker nodes of one CPU each), the node running the task removed with
``allow_graceful=False`` after the run's first checkpoint.

Opt-in and slow (three raylets on one machine: 1-2 minutes on 2 cores); it starts a Ray cluster of
its own, so it lives in this module, after the module-scoped local Ray of
test_shared_engines_ray.py has shut down::

    ECONCS_RAY_TESTS=1 uv run pytest shared/tests/test_shared_engines_ray_cluster.py -q
"""

import json
import os
import threading
import time

import pytest

if os.environ.get("ECONCS_RAY_TESTS") != "1":
    pytest.skip("Ray engine tests are opt-in: ECONCS_RAY_TESTS=1", allow_module_level=True)
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
ray = pytest.importorskip("ray")

from econcs.shared._builtin_experiments import EXPERIMENTS as SHARED  # noqa: E402
from econcs.shared.engines import EngineOptions, expand_sweep, parse_axes, run_specs  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::ResourceWarning",
                                         "ignore::pytest.PytestUnraisableExceptionWarning")]
AL = SHARED.experiments[0]


def _attempts(run_dir):
    return [json.loads(ln) for ln in (run_dir / "attempts.jsonl").read_text().splitlines()]


def test_lost_node_is_survived(tmp_path, monkeypatch):
    """The task's node is killed while the run sleeps after its checkpoint at step 100; Ray retries
    the task on the surviving node, where it resumes that checkpoint: same metrics as an
    uninterrupted run, no step logged twice."""
    if ray.is_initialized():
        pytest.skip("needs a Ray cluster of its own")
    from ray.cluster_utils import Cluster

    fault = tmp_path / "fault"
    monkeypatch.setenv("ECONCS_FAULT_FILE", str(fault))  # before the raylets start their workers
    monkeypatch.setenv("MPLBACKEND", "Agg")
    axes, seeds = parse_axes(AL, ["max_iter=200", "log_every=10", "checkpoint_every=100"])
    _, plain = expand_sweep(AL, axes, seeds, tmp_path / "plain", device="cpu")
    expected = run_specs(plain, EngineOptions(jobs=1))[plain[0].id]["metrics"]
    _, specs = expand_sweep(AL, axes, seeds, tmp_path / "sw", device="cpu")
    run_dir = tmp_path / "sw" / specs[0].id

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False)
    lost: list[str] = []
    try:
        cluster.wait_for_nodes(timeout=120)
        fault.write_text("sleep 120")  # the first attempt stalls after its checkpoint

        def kill_its_node():  # removing a node is allowed off the main thread (adding one is not)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not (run_dir / "checkpoint.pt").exists():
                time.sleep(0.2)
            first = _attempts(run_dir)[0]["node"]
            node = next(n for n in workers if n.node_id == first)
            cluster.remove_node(node, allow_graceful=False)
            lost.append(first)

        killer = threading.Thread(target=kill_its_node, daemon=True)
        killer.start()
        result = run_specs(specs, EngineOptions(engine="ray", max_retries=2, timeout_s=300))
        killer.join(timeout=30)
    finally:
        ray.shutdown()
        cluster.shutdown()
    result = result[specs[0].id]
    assert result["status"] == "ok", result.get("error")
    attempts = _attempts(run_dir)
    assert lost == [attempts[0]["node"]] and len(attempts) == 2  # retried once, after the loss
    assert attempts[1]["node"] != attempts[0]["node"]
    assert attempts[1]["node"] in {n.node_id for n in workers}  # on the surviving node
    assert result["resumed_from"] == 100
    steps = [json.loads(ln)["step"] for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 201, 10))  # no step twice
    assert result["metrics"] == expected
