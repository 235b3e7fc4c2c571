"""RegretNet's captured training step (``fit(capture=True)``): the same iterates as the eager
trainer (bitwise on the CPU), resume, the CUDA-graph path on a GPU, bad input."""

import copy
import shutil

import pytest
import torch

from econcs.auctions import AuctionSetting, RegretNet
from econcs.auctions._captured import RegretNetStep, ascent_constants
from econcs.shared import AugmentedLagrangian, misreport_gradient

# 20 steps with the multipliers updated every 3, rho every 4 and the cosine decay of the lr in the
# second half, so every host-side schedule acts inside the run; n_train 64 so batches repeat
# profiles (the cache is read back and written twice in one batch)
KW = dict(max_iter=20, batch_size=32, n_train=64, misreport_steps=5, seed=0, lambda_every=3,
          rho_every=4)


def _recorder(rows, states=None, at=None):
    def callback(step, metrics, state_fn):
        rows.append({"step": step, **metrics})
        if states is not None and step == at:
            states.append(copy.deepcopy(dict(state_fn())))
    return callback


def _assert_same_parameters(a, b, **tol):
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if tol:
            torch.testing.assert_close(x, y, **tol, msg=name)
        else:
            assert torch.equal(x, y), name


@pytest.mark.parametrize("valuation", ["additive", "unit-demand"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_captured_step_gives_the_eager_iterates_bitwise(valuation, dtype):
    s = AuctionSetting(2, 2, valuation=valuation)
    rows_eager, rows_cap = [], []
    eager = RegretNet(s, hidden=16, dtype=dtype).fit(**KW, callback=_recorder(rows_eager))
    cap = RegretNet(s, hidden=16, dtype=dtype).fit(**KW, capture=True,
                                                  callback=_recorder(rows_cap))
    _assert_same_parameters(eager, cap)  # bitwise
    assert rows_cap == rows_eager  # every step's revenue, regret, rho, mean lambda
    assert cap.history_ == eager.history_
    assert rows_cap[-1]["rho"] > rows_cap[0]["rho"]  # the schedules did act
    v = s.sample(64, generator=torch.Generator().manual_seed(3))
    for x, y in zip(eager(v), cap(v)):
        assert torch.equal(x, y)


def test_captured_resume_continues_the_eager_run():
    s = AuctionSetting(2, 2)
    eager = RegretNet(s, hidden=16).fit(**KW)
    states: list[dict] = []
    RegretNet(s, hidden=16).fit(**KW, capture=True, callback=_recorder([], states, at=9))
    resumed = RegretNet(s, hidden=16).fit(**KW, capture=True, resume=(9, states[0]))
    _assert_same_parameters(eager, resumed)


def test_ascent_constants_are_torch_adam_with_exponential_decay():
    """The written-out misreport Adam moves a tensor as torch.optim.Adam + ExponentialLR do."""
    g = torch.Generator().manual_seed(0)
    x0, grads = torch.rand(7, generator=g), torch.randn(6, 7, generator=g)
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1 / 6))
    y, m1, m2 = x0.clone(), torch.zeros(7), torch.zeros(7)
    for grad, (step_size, bc2_sqrt) in zip(grads, ascent_constants(0.05, 6), strict=True):
        x.grad = grad.clone()
        opt.step()
        sched.step()
        m1.lerp_(grad, 1 - 0.9)
        m2.mul_(0.999).addcmul_(grad, grad, value=1 - 0.999)
        y.addcdiv_(m1, (m2.sqrt() / bc2_sqrt).add_(1e-8), value=-step_size)
    assert torch.equal(x.detach(), y)


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_captured_with_compiled_gradient_is_the_compiled_training():
    s = AuctionSetting(2, 2)
    kw = {**KW, "max_iter": 6}
    compiled = RegretNet(s, hidden=16).fit(**kw, compile=True)
    both = RegretNet(s, hidden=16).fit(**kw, compile=True, capture=True)
    _assert_same_parameters(compiled, both)


def test_capture_bad_input():
    mech = RegretNet(AuctionSetting(2, 2), hidden=4)
    with pytest.raises(TypeError, match="capture"):
        mech.fit(max_iter=1, batch_size=8, n_train=8, capture="yes")
    one_item = RegretNet(AuctionSetting(2, 1), hidden=4)
    with pytest.raises(ValueError, match=r"capture.*grid_points"):
        one_item.fit(max_iter=1, batch_size=8, n_train=8, capture=True)
    # the gradient-ascent path of one item is captured
    one_item.fit(max_iter=2, batch_size=8, n_train=8, grid_points=0, capture=True)
    train = torch.rand(8, 2, 2)

    def step(opt, **kw):
        return RegretNetStep(mech, opt, AugmentedLagrangian(2), train, train.clone(),
                             torch.Generator(), batch_size=4, misreport_steps=2, misreport_lr=0.1,
                             gradient=misreport_gradient(mech.outcome), **kw)

    adam = torch.optim.Adam(mech.parameters())
    with pytest.raises(ValueError, match=r"graph.*CUDA"):
        step(adam, graph=True)
    with pytest.raises(TypeError, match="graph"):
        step(adam, graph="yes")
    with pytest.raises(ValueError, match="warmup"):
        step(adam, warmup=0)
    assert not step(adam).graph  # on the CPU the step runs eagerly
    if torch.cuda.is_available():
        cuda_mech = RegretNet(AuctionSetting(2, 2), hidden=4, device="cuda")
        with pytest.raises(ValueError, match="capturable"):
            RegretNetStep(cuda_mech, torch.optim.Adam(cuda_mech.parameters()),
                          AugmentedLagrangian(2, device="cuda"), train.cuda(), train.cuda(),
                          torch.Generator("cuda"), batch_size=4, misreport_steps=2,
                          misreport_lr=0.1, gradient=misreport_gradient(cuda_mech.outcome))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("valuation", ["additive", "unit-demand"])
def test_cuda_graph_step_matches_eager_on_the_gpu(valuation):
    """Graph replay == the eager trainer on the GPU, up to float rounding: capturable Adam computes
    its bias corrections in float32 on the device (the eager one in Python floats), so in float64
    the two differ by ~1e-7 of each update (the tolerance leaves room for Adam's normalised
    misreport steps to amplify it where a gradient is near 0; a wrong step differs by ~1e-3).
    Between the capture (step 4) and the end, the replays
    and the host schedules never synchronise with the host."""
    s = AuctionSetting(2, 2, valuation=valuation)
    kw = {**KW, "max_iter": 30}
    eager = RegretNet(s, hidden=16, device="cuda", dtype="float64").fit(**kw)

    def no_sync(step, metrics, state_fn):  # steps 6..25: any host sync raises
        if step == 5:
            torch.cuda.set_sync_debug_mode("error")
        if step == 25:
            torch.cuda.set_sync_debug_mode("default")

    try:
        cap = RegretNet(s, hidden=16, device="cuda", dtype="float64").fit(
            **kw, capture=True, callback=no_sync)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    _assert_same_parameters(eager, cap, rtol=1e-5, atol=1e-7)
    assert cap.history_[-1]["revenue"] == pytest.approx(eager.history_[-1]["revenue"], rel=1e-5)


def test_captured_step_never_reads_a_tensor_on_the_host_and_repeats_its_ops():
    """What a CUDA graph needs, checked on the CPU: inside the step no op moves a value to the host
    (``.item()``, ``bool()``, data-dependent shapes) except the CPU Adam's own step counter (the
    capturable Adam of the CUDA path keeps it on the device), and every step runs the same ops on
    the same shapes."""
    from torch.utils._python_dispatch import TorchDispatchMode

    host_reads = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default,
                  torch.ops.aten.masked_select.default, torch.ops.aten.unique_dim.default,
                  torch.ops.aten._unique2.default}

    class Recorder(TorchDispatchMode):
        def __init__(self, opt):
            super().__init__()
            self.opt, self.ops, self.bad = opt, [], []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func in host_reads and not (
                    func is torch.ops.aten._local_scalar_dense.default
                    and any(args[0] is st["step"] for st in self.opt.state.values())):
                self.bad.append(func)
            shapes = tuple(o.shape for o in (out if isinstance(out, tuple | list) else (out,))
                           if isinstance(o, torch.Tensor))
            self.ops.append((func, shapes))
            return out

    traces = []
    original = RegretNetStep._step

    def traced(self):
        with Recorder(self.opt) as rec:
            out = original(self)
        traces.append(rec)
        return out

    RegretNetStep._step = traced
    try:
        RegretNet(AuctionSetting(2, 3, valuation="unit-demand"), hidden=8).fit(
            **{**KW, "max_iter": 4}, capture=True)
    finally:
        RegretNetStep._step = original
    assert len(traces) == 4 and all(not t.bad for t in traces), [t.bad for t in traces]
    # the first step initialises Adam's state; from then on every step is the same op sequence
    assert traces[1].ops == traces[2].ops == traces[3].ops
    assert len(traces[1].ops) > 100


def test_cli_key_capture_logs_checkpoints_and_resumes_as_eager(tmp_path, monkeypatch):
    """``econcs run auctions.regretnet capture=true``: the logged metrics and the result equal the
    eager run's, and a run killed after its first checkpoint resumes to the same result."""
    from econcs.auctions._experiments import EXPERIMENTS
    from econcs.shared.experiments import (
        ConfigError,
        RunContext,
        config_from_overrides,
        run_experiment,
    )

    exp = next(e for e in EXPERIMENTS.experiments if e.name == "auctions.regretnet")
    keys = {"n_items": 2, "hidden": 8, "max_iter": 30, "batch_size": 16, "n_train": 64,
            "misreport_steps": 2, "checkpoint_every": 10, "n_eval": 300, "n_regret_samples": 10,
            "n_restarts": 2, "n_steps": 3}
    runs = {}
    for capture in (False, True):
        cfg = config_from_overrides(exp.config, {**keys, "capture": capture})
        out = tmp_path / str(capture)
        runs[capture] = run_experiment(exp, cfg, seed=2, device="cpu", out_dir=out, quiet=True)
        runs[capture, "log"] = RunContext(out).read_metrics()
    assert runs[True].metrics == runs[False].metrics
    assert runs[True, "log"] == runs[False, "log"]

    class Killed(Exception):
        pass

    save = RunContext.save_checkpoint

    def save_then_die(self, step, state):
        save(self, step, state)
        raise Killed

    cfg = config_from_overrides(exp.config, {**keys, "capture": True})
    monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        run_experiment(exp, cfg, seed=2, device="cpu", out_dir=tmp_path / "k", quiet=True)
    monkeypatch.setattr(RunContext, "save_checkpoint", save)
    resumed = run_experiment(exp, cfg, resume_dir=tmp_path / "k", device="cpu", quiet=True)
    assert resumed.metrics == runs[False].metrics
    with pytest.raises(ConfigError, match="capture"):
        config_from_overrides(exp.config, ["capture=maybe"])
