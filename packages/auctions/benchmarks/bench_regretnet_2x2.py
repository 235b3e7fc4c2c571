"""RegretNet 2x2 additive U[0,1] with the default configuration: training time, revenue and
regret (10^4 held-out profiles for revenue; regret on 1000 of them, 100 restarts x 100 steps plus
the exact 21x21 grid).

    uv run python packages/auctions/benchmarks/bench_regretnet_2x2.py [--max-iter 15000]
"""

import argparse
import time

import torch

from econcs.auctions import AuctionSetting, RegretNet, evaluate

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--max-iter", type=int, default=15000)
parser.add_argument("--regret-samples", type=int, default=1000)
args = parser.parse_args()
torch.set_num_threads(args.threads)

setting = AuctionSetting.preset("2x2")
t0 = time.perf_counter()
mech = RegretNet(setting).fit(args.max_iter, seed=0)
train = time.perf_counter() - t0
rep = evaluate(mech, 10_000, seed=1, n_regret_samples=args.regret_samples, n_restarts=100,
               n_steps=100)
print(f"train {train:.0f} s ({args.max_iter} iterations), eval {rep.seconds:.0f} s")
print(f"revenue {rep.revenue:.4f} +- {rep.revenue_se:.4f}, regret mean {rep.regret_mean:.2e}, "
      f"max {rep.regret_max:.2e}, grid mean {rep.regret_grid_mean:.2e}, IR {rep.ir_violation}")
