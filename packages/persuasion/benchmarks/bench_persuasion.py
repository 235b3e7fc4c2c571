"""Throughput of the exact utilities, time per extra-gradient step, and time to a certified
equilibrium (Hossain et al., ICML 2024; the issue's benchmark size is 3 senders x 4 states x 3
signals x 4 actions).

    uv run python packages/persuasion/benchmarks/bench_persuasion.py [--device cuda] [--threads 1]
        [--certified] [--batch 10000]

One JSON line per measurement:

- ``utilities``: profiles per second of ``sender_utilities`` (public, with its input checks) and of
  the unchecked inner path the solvers use, on ``--batch`` random profiles, float64 and float32,
  for several game sizes (best of 3 after a warm-up); ``utilities_call``: microseconds per call
  on 8 profiles (one extra-gradient batch), where the checks' share is largest (best of 200);
- ``eg_step``: milliseconds per extra-gradient step on 3x4x3x4, 8 restarts, on a ``dnl`` network
  at 6000 parameters (float32) and on the exact utilities (float64);
- ``certified`` (with ``--certified``): seconds to fit a ``dnl`` network (600 Adam steps, 4096
  profiles: the quick rows' fit), run extra-gradient (200 + 100 exact steps, 8 restarts) and
  certify the profile with the exact MILP best response of every sender.
"""

import argparse
import json
import time
import warnings

import torch

from econcs.persuasion import (
    UtilityNetwork,
    exact_ne_gap,
    extragradient_equilibria,
    fit_utility_network,
    hidden_for_budget,
    random_game,
    sample_profiles,
    sender_utilities,
)
from econcs.persuasion._game import _utilities
from econcs.shared import ConvergenceWarning

SIZES = [(2, 3, 2, 3), (3, 4, 3, 4), (4, 4, 3, 4), (5, 4, 3, 4)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _best_of(fn, device, repeats: int = 3) -> float:
    fn()  # warm-up (allocations, kernels)
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_utilities(device: torch.device, batch: int) -> None:
    for size in SIZES:
        g = random_game(*size, seed=0)
        x64 = sample_profiles(g, batch, generator=torch.Generator().manual_seed(0)).to(device)
        for dtype in (torch.float64, torch.float32):
            x = x64.to(dtype)
            public = _best_of(lambda x=x, g=g: sender_utilities(g, x), device)
            inner = _best_of(lambda x=x, g=g: _utilities(g, x), device)
            print(json.dumps({"bench": "utilities", "size": "x".join(map(str, size)),
                              "joint_signals": g.n_joint_signals, "dtype": str(dtype)[6:],
                              "device": str(device), "batch": batch,
                              "profiles_per_s": round(batch / public),
                              "profiles_per_s_inner": round(batch / inner)}), flush=True)
        x = x64[:8]  # one extra-gradient batch of 8 restarts: the per-call overhead
        public = _best_of(lambda x=x, g=g: sender_utilities(g, x), device, repeats=200)
        inner = _best_of(lambda x=x, g=g: _utilities(g, x), device, repeats=200)
        print(json.dumps({"bench": "utilities_call", "size": "x".join(map(str, size)),
                          "dtype": "float64", "device": str(device), "batch": 8,
                          "us_per_call": round(1e6 * public), "us_per_call_inner":
                          round(1e6 * inner)}), flush=True)


def bench_eg_step(device: torch.device, steps: int = 50) -> None:
    g = random_game(3, 4, 3, 4, seed=0)
    net = UtilityNetwork("dnl", g.scheme_shape, hidden=hidden_for_budget("dnl", g.scheme_shape,
                                                                         6000)).to(device)
    for name, network in (("dnl", net), ("exact", None)):
        kw = {"max_iter": steps, "n_restarts": 8, "n_deviations": 1}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            extragradient_equilibria(g, network, max_iter=2, n_restarts=8)  # warm-up
            t0 = time.perf_counter()
            extragradient_equilibria(g, network, **kw)
            _sync(device)
        seconds = time.perf_counter() - t0
        print(json.dumps({"bench": "eg_step", "size": "3x4x3x4", "utility": name,
                          "device": str(device) if network is not None else "cpu",
                          "restarts": 8, "ms_per_step": round(1000 * seconds / steps, 2)}),
              flush=True)


def bench_certified(device: torch.device) -> None:
    g = random_game(3, 4, 3, 4, seed=0)
    t0 = time.perf_counter()
    fit = fit_utility_network(g, network="dnl", max_iter=600, n_train=4096, n_test=1024,
                              hidden=hidden_for_budget("dnl", g.scheme_shape, 6000),
                              device=device)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = extragradient_equilibria(g, fit.network, max_iter=200, refine_iter=100,
                                       n_restarts=8)
    t2 = time.perf_counter()
    gap = exact_ne_gap(g, res.profile)
    t3 = time.perf_counter()
    print(json.dumps({"bench": "certified", "size": "3x4x3x4", "device": str(device),
                      "fit_s": round(t1 - t0, 1), "eg_s": round(t2 - t1, 1),
                      "milp_s": round(t3 - t2, 1), "total_s": round(t3 - t0, 1),
                      "local_ne_gap": float(res.local_gaps[res.best]),
                      "exact_ne_gap": round(gap.gap, 5), "approx_error": round(fit.test_error, 5)}),
          flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--certified", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    bench_utilities(dev, args.batch)
    bench_eg_step(dev)
    if args.certified:
        bench_certified(dev)
