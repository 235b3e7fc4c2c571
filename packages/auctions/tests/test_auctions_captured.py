"""RegretNet's training step (``RegretNetStep``, which every ``fit`` runs, eager or with
``capture=True`` as a CUDA graph): the iterates of a textbook eager loop (bitwise on the CPU), the
one-item grid refresh, resume, the divergence stop, the CUDA-graph path on a GPU, bad input."""

import copy
import math
import shutil

import pytest
import torch

from econcs.auctions import AuctionSetting, RegretNet, single_item_regret
from econcs.auctions._captured import RegretNetStep, ascent_constants, step_optimizer
from econcs.auctions._regretnet import RegretNetParams, _quantile_table
from econcs.shared import (
    AugmentedLagrangian,
    DivergenceError,
    best_response_search,
    make_generator,
    misreport_gradient,
    misreport_utilities,
)

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


def _reference_fit(mech, seed=0, compile=False, **kw):
    """RegretNet's training as a textbook eager loop, independent of ``RegretNetStep``: the misreports
    by ``best_response_search`` (torch.optim.Adam + ExponentialLR) from the cache, or for one item
    the exact grid, the augmented-Lagrangian loss written out with a Python-float rho, and
    ``torch.optim.Adam`` on the networks. Returns every step's metrics."""
    gradient = misreport_gradient(mech.outcome, compile=compile)
    p = RegretNetParams(**kw).resolved(*mech.setting.shape, symmetric=mech.symmetric)
    n = mech.setting.n_bidders
    width = mech._high - mech._low
    grid = mech.setting.n_items == 1 and p.grid_points > 0
    gen = make_generator(seed)
    mech.reset_parameters(gen)
    data_gen = make_generator(int(torch.randint(0, 2**62, (1,), generator=gen)))
    train = mech.setting.sample(p.n_train, generator=data_gen, dtype=mech.dtype_)
    cache = mech._low + torch.rand(train.shape, generator=data_gen, dtype=mech.dtype_) * width
    opt = torch.optim.Adam(mech.parameters(), lr=p.lr)
    al = AugmentedLagrangian(n, rho=p.rho, lambda_init=p.lambda_init, update_every=p.lambda_every,
                             rho_increment=p.rho_increment, dtype=mech.dtype_,
                             rho_every=p.rho_every or max(p.max_iter // 40, 1))
    rows = []
    for step in range(1, p.max_iter + 1):
        frac = (step - 1) / p.max_iter
        factor = 1.0 if frac < 0.5 else 0.1 + 0.45 * (1 + math.cos((frac - 0.5) * 2 * math.pi))
        for group in opt.param_groups:
            group["lr"] = p.lr * factor
        idx = torch.randint(0, p.n_train, (p.batch_size,), generator=data_gen)
        values = train[idx]
        if grid:
            shift = torch.rand((p.batch_size, 1), generator=data_gen, dtype=mech.dtype_)
            mis, _ = single_item_regret(mech.outcome, values, mech._low, mech._high,
                                        points=p.grid_points, zooms=1, shift=shift,
                                        zoom_points=max(p.grid_points // 2, 2),
                                        quantiles=_quantile_table(mech.setting).to(mech.dtype_))
        else:
            mis = best_response_search(mech.outcome, values, low=mech._low, high=mech._high,
                                       init=cache[idx].unsqueeze(1), n_steps=p.misreport_steps,
                                       lr=p.misreport_lr * float(width.mean()),
                                       include_truth=False, gradient=gradient).misreports
        cache[idx] = mis
        util_mis = misreport_utilities(mech.outcome, values, mis.unsqueeze(1))[:, 0]
        alloc, pay = mech.outcome(values)
        regret = torch.relu(util_mis - ((alloc * values).sum(-1) - pay)).mean(0)
        revenue = pay.sum(-1).mean()
        loss = -revenue + (al.lambdas * regret).sum() + 0.5 * al.rho * (regret * regret).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        al.step(regret)
        rows.append({"step": step, "revenue": float(revenue.detach()),
                     "regret": float(regret.detach().mean()),
                     "rho": al.rho, "lambda": float(al.lambdas.mean())})
    return rows


@pytest.mark.parametrize("valuation", ["additive", "unit-demand"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_step_gives_the_textbook_iterates_bitwise(valuation, dtype):
    """fit (capture=False, and capture=True, which on the CPU runs the same step without a graph)
    == the textbook loop: the written-out ascent is best_response_search's, and
    AugmentedLagrangian.loss (rho / 2 from a device tensor) is the formula with a float rho."""
    s = AuctionSetting(2, 2, valuation=valuation)
    kw = {k: v for k, v in KW.items() if k != "seed"}
    reference = RegretNet(s, hidden=16, dtype=dtype)
    rows_ref = _reference_fit(reference, **kw)
    for capture in (False, True):
        rows = []
        mech = RegretNet(s, hidden=16, dtype=dtype).fit(**KW, capture=capture,
                                                        callback=_recorder(rows))
        _assert_same_parameters(reference, mech)  # bitwise
        assert rows == rows_ref  # every step's revenue, regret, rho, mean lambda
        assert list(mech.history_) == [rows_ref[-1]]  # every 100 steps and the last
    assert rows[-1]["rho"] > rows[0]["rho"]  # the schedules did act


@pytest.mark.parametrize("symmetric", [True, False])
def test_the_one_item_grid_refresh_gives_the_textbook_iterates(symmetric):
    """One item (grid_points > 0): the step with the grid search as its misreport refresh (the
    shared networks' search through ``_deviation``, the reference's through ``outcome``)."""
    s = AuctionSetting(3, 1)
    kw = {k: v for k, v in KW.items() if k != "seed"}
    reference = RegretNet(s, hidden=8, symmetric=symmetric)
    rows_ref = _reference_fit(reference, **kw)
    rows = []
    mech = RegretNet(s, hidden=8, symmetric=symmetric).fit(**KW, callback=_recorder(rows))
    _assert_same_parameters(reference, mech)
    assert rows == rows_ref


def _poison(at):
    """A callback that sets the payment network's first weight to NaN after step ``at``."""
    def callback(step, metrics, state_fn):
        if step == at:
            with torch.no_grad():
                callback.mech.pay_net[0].weight[0, 0] = float("nan")
    return callback


@pytest.mark.parametrize("grid_points", [0, 16])
def test_divergence_stops_at_the_next_history_row_naming_the_step(grid_points):
    s = AuctionSetting(2, 1)
    mech = RegretNet(s, hidden=4)
    cb = _poison(at=30)
    cb.mech = mech
    with pytest.raises(DivergenceError, match=r"step 31 is not finite \(found at step 100;.*"
                                              r"lower lr \(now 0\.004\)"):
        mech.fit(max_iter=150, batch_size=8, n_train=32, misreport_steps=2,
                 grid_points=grid_points, lr=4e-3, callback=cb)
    # the last step is a history row too: a run shorter than 100 steps is checked at its end
    with pytest.raises(DivergenceError, match=r"step 31 .*found at step 40"):
        mech.fit(max_iter=40, batch_size=8, n_train=32, misreport_steps=2,
                 grid_points=grid_points, callback=cb)


def test_divergence_stops_where_a_callback_reads_and_is_never_checkpointed():
    s = AuctionSetting(2, 2)
    mech = RegretNet(s, hidden=4)
    poison, seen, saved = _poison(at=3), [], []
    poison.mech = mech

    def reader(step, metrics, state_fn):  # reads every step's metrics (a progress log)
        poison(step, metrics, state_fn)
        seen.append(metrics["revenue"])

    with pytest.raises(DivergenceError, match=r"step 4 is not finite \(found at step 4;"):
        mech.fit(max_iter=50, batch_size=8, n_train=32, misreport_steps=2, callback=reader)
    assert len(seen) == 3 and all(math.isfinite(r) for r in seen)

    def checkpointer(step, metrics, state_fn):  # saves the state every 5 steps, reads no metric
        poison(step, metrics, state_fn)
        if step % 5 == 0:
            saved.append(state_fn())

    with pytest.raises(DivergenceError, match=r"step 4 .*found at step 5;"):
        mech.fit(max_iter=50, batch_size=8, n_train=32, misreport_steps=2, callback=checkpointer)
    assert saved == []


def test_an_overflowing_penalty_diverges_and_says_so():
    """No injected NaN: rho grows past float32's range (rho / 2 > 3.4e38 from step 30 on), and the
    loss of the next step is not finite."""
    mech = RegretNet(AuctionSetting(2, 2), hidden=4)
    with pytest.raises(DivergenceError, match=r"of step 31 is not finite \(found at step 60;.*"
                                              r"lambda_init \(now 1e\+38 / 1e\+38 / 5\)"):
        mech.fit(max_iter=60, batch_size=8, n_train=32, misreport_steps=2, rho=1e38,
                 rho_increment=1e38, rho_every=5)


def test_resume_continues_the_run():
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
def test_the_step_with_a_compiled_gradient_is_the_compiled_textbook_training():
    s = AuctionSetting(2, 2)
    kw = {**KW, "max_iter": 6}
    reference = RegretNet(s, hidden=16)
    _reference_fit(reference, compile=True, **{k: v for k, v in kw.items() if k != "seed"})
    both = RegretNet(s, hidden=16).fit(**kw, compile=True, capture=True)
    _assert_same_parameters(reference, both)


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
    with pytest.raises(ValueError, match=r"graph.*CUDA"):
        step_optimizer(mech.parameters(), 1e-3, torch.device("cpu"), graph=True)
    with pytest.raises(TypeError, match="misreports"):
        step(adam, misreports="grid")
    with pytest.raises(ValueError, match=r"graph.*refresh.*eagerly"):
        step(adam, misreports=lambda values, idx: values, graph=True)
    with pytest.raises(ValueError, match="start"):
        step(adam, start=-1)
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
