"""Time to within 1% of the single-buyer closed form 0.05091 (theta, v ~ U[0,1], binary state and
action: full information at price ~0.1423) for a learned menu of experiments, ``datamarkets.single``.

Trains with the quick row's settings (8 entries, batch 1024, 600 steps, final temperature 1e-3;
``--menu-size``, ``--batch-size``, ``--max-iter`` change them) and evaluates the hard-argmax menu
every ``--every`` steps on the same ``--n-eval`` held-out types (the evaluation's own time is left
off the clock and printed apart). The clock stops at the first evaluation within ``--rtol`` of the
closed form; wall and CPU seconds of training (``time.process_time``) up to it are printed.

    uv run python packages/datamarkets/benchmarks/bench_single.py [--device cuda] [--threads 1]
"""

import argparse

import torch
from _clock import Reached, TargetClock

from econcs.datamarkets import DataMarket, ExperimentMenu

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--menu-size", type=int, default=8)
parser.add_argument("--batch-size", type=int, default=1024)
parser.add_argument("--max-iter", type=int, default=600)
parser.add_argument("--temperature-final", type=float, default=1e-3)
parser.add_argument("--every", type=int, default=25)
parser.add_argument("--n-eval", type=int, default=200_000)
parser.add_argument("--rtol", type=float, default=0.01)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.set_num_threads(args.threads)

TARGET = 0.05091
market = DataMarket(belief="uniform(0,1)", value="uniform(0,1)")
theta, v = market.sample(args.n_eval, generator=torch.Generator().manual_seed(12345))
theta, v = theta.to(args.device), v.to(args.device)
menu = ExperimentMenu(market, args.menu_size, device=args.device)


def check(step):
    ev = menu.evaluate(beliefs=theta, values=v)
    gap = ev.revenue / TARGET - 1
    print(f"step {step}: revenue {ev.revenue:.5f} ({gap:+.2%}), {ev.n_entries} entries chosen; "
          f"training {clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU", flush=True)
    return abs(gap) <= args.rtol


clock = TargetClock(args.device, args.every, check)
try:
    menu.fit(max_iter=args.max_iter, batch_size=args.batch_size,
             temperature_final=args.temperature_final, seed=args.seed, callback=clock.callback)
    print(f"{args.device}: not within {args.rtol:.0%} in {args.max_iter} steps")
except Reached as done:
    print(f"{args.device}: within {args.rtol:.0%} of {TARGET} at step {done.args[0]} in "
          f"{clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU of training "
          f"({clock.eval:.1f} s of checks on {args.n_eval} held-out types)")
