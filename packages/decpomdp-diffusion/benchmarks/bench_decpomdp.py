"""Benchmark: training steps per second and reconstruction time per 1000 histories.

For each history encoder (MLP, GRU) one agent's diffusion model on the CO sensor network is timed
over ``--steps`` training steps (after a short warm-up), then single-agent and composite
reconstruction (DDIM over ``n_steps`` diffusion steps and ``n_fixed`` rounds of the denoising
map) of ``--histories`` held-out joint histories, and the fixed-point analysis with the
surrogate bound. Prints a Markdown table (the README's performance table).

Usage: ``uv run python packages/decpomdp-diffusion/benchmarks/bench_decpomdp.py
[--device cpu|cuda] [--threads 1] [--steps 100] [--histories 1000] [--clock wall|cpu]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from econcs.decpomdp_diffusion import (
    DiffusionParams,
    deviation_bound,
    fixed_points,
    make_env,
    reconstruct,
    train_diffusion,
)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


_CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def _timed(fn, device: str, clock: str = "wall") -> float:
    _sync(device)
    start = _CLOCK[clock]()
    fn()
    _sync(device)
    return _CLOCK[clock]() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--histories", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process time, steadier than wall time on a shared CPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = make_env("sensor", 2)
    data = env.collect(20_000, 3, seed=0)
    test = env.collect(args.histories, 3, seed=1)
    per_k = 1000 / args.histories
    print(f"device {args.device}, {torch.get_num_threads()} thread(s), {args.clock} clock, "
          f"batch {args.batch_size}, "
          f"hidden {args.hidden}, {args.histories} histories, torch {torch.__version__}\n")
    print("| encoder | train steps/s | single ms / 1000 hist. | composite ms / 1000 hist. | "
          "fixed points + bound ms / 1000 hist. |")
    print("|---|---|---|---|---|")
    for encoder in ("mlp", "gru"):
        p = DiffusionParams(max_iter=5, batch_size=args.batch_size, hidden=args.hidden,
                            encoder=encoder, log_every=1000)
        train_diffusion(env, data, 0, p, device=args.device)  # warm-up
        p = p.replace(max_iter=args.steps)
        models = []

        def train(p=p, models=models):
            models.extend(train_diffusion(env, data, i, p, seed=i, device=args.device).model
                          for i in range(2))

        steps_s = 2 * args.steps / _timed(train, args.device, args.clock)
        single = _timed(lambda m=models: reconstruct(m, env, test.obs, test.actions,
                                                     method="single", noise=0.1), args.device, args.clock)
        comp = _timed(lambda m=models: reconstruct(m, env, test.obs, test.actions, noise=0.1),
                      args.device, args.clock)

        def analysis(models=models):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed_points(models[0], env, test.obs[:, 0], test.actions[:, 0], n_starts=1,
                             noise=0.1)
                deviation_bound(models[0], env, test.obs[:, 0], test.actions[:, 0],
                                test.states[:, -1], noise=0.1)

        fp = _timed(analysis, args.device, args.clock)
        print(f"| {encoder} | {steps_s:.0f} | {1e3 * single * per_k:.0f} | "
              f"{1e3 * comp * per_k:.0f} | {1e3 * fp * per_k:.0f} |")


if __name__ == "__main__":
    main()
