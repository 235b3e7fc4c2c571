"""Time to within 1% of a two-buyer BIC closed form (Bonatti et al.; uniform values, prior 1/2,
alpha 1/2: 0.39577) at a mean regret <= 1e-3, for the learned mechanism of ``datamarkets.multi``.

Trains with the row's settings and evaluates every ``--every`` steps (the evaluation's own time is
left off the clock and printed apart). The clock stops at the first evaluation within ``--rtol``
of the closed form with the mean regret on the dense report grid <= ``--ic-tol``; wall and CPU
seconds of training (``time.process_time``) up to it are printed.

    uv run python packages/datamarkets/benchmarks/bench_multi.py [--device cuda] [--threads 1]
"""

import argparse

import torch
from _clock import Reached, TargetClock

from econcs.datamarkets import MultiBuyerMarket, MultiBuyerMechanism

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--max-iter", type=int, default=5000)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--every", type=int, default=250)
parser.add_argument("--rtol", type=float, default=0.01)
parser.add_argument("--ic-tol", type=float, default=1e-3)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.set_num_threads(args.threads)

TARGET = 0.39577
market = MultiBuyerMarket(2, prior=0.5, alpha=0.5, value="uniform(0,1)")
mech = MultiBuyerMechanism(market, "bic", device=args.device)


def check(step):
    ev = mech.evaluate(n_types=256, n_samples=512, n_grid=401)
    gap = ev.revenue / TARGET - 1
    print(f"step {step}: revenue {ev.revenue:.5f} ({gap:+.2%}), mean regret "
          f"{ev.ic_violation:.2e}, obedience {ev.obedience_violation:.1e}; training "
          f"{clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU", flush=True)
    return abs(gap) <= args.rtol and ev.ic_violation <= args.ic_tol


clock = TargetClock(args.device, args.every, check)
try:
    mech.fit(max_iter=args.max_iter, batch_size=args.batch_size, seed=args.seed,
             callback=clock.callback)
    print(f"{args.device}: not within {args.rtol:.0%} in {args.max_iter} steps")
except Reached as done:
    final = mech.evaluate()  # the row's evaluation (512 types, 1024 samples, 1001 reports)
    print(f"{args.device}: within {args.rtol:.0%} of {TARGET} at step {done.args[0]} in "
          f"{clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU of training "
          f"({clock.eval:.1f} s of checks); the row's evaluation there: revenue "
          f"{final.revenue:.5f}, mean regret {final.ic_violation:.2e}")
