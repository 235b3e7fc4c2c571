"""How strict is the regret measurement? One trained RegretNet 2x2 (the benchmark's default run,
``--max-iter`` steps, seed 0), its mean ex-post regret on the same held-out profiles measured by
gradient ascent alone, by the exact grid alone, and by both (:func:`econcs.auctions.evaluate`).

    uv run python packages/auctions/benchmarks/bench_regret_search.py [--max-iter 15000] \
        [--model rn22.safetensors]

``--model`` caches the trained network (loaded if the file exists, else trained and saved).
"""

import argparse
import os
import time

import torch

from econcs.auctions import AuctionSetting, RegretNet, evaluate

parser = argparse.ArgumentParser()
parser.add_argument("--max-iter", type=int, default=15000)
parser.add_argument("--profiles", type=int, default=1000)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--model", default=None)
args = parser.parse_args()
torch.set_num_threads(args.threads)

if args.model and os.path.exists(args.model):
    mech = RegretNet.load(args.model)
else:
    t0 = time.perf_counter()
    mech = RegretNet(AuctionSetting.preset("2x2")).fit(max_iter=args.max_iter, seed=0)
    print(f"trained {args.max_iter} steps in {time.perf_counter() - t0:.0f} s")
    if args.model:
        mech.save(args.model)

searches = {  # n_steps=0 with one restart re-evaluates the grid's best misreport only
    "gradient 100 restarts x 50 steps": {"n_restarts": 100, "n_steps": 50, "grid_points": 0},
    "gradient 100 restarts x 300 steps": {"n_restarts": 100, "n_steps": 300, "grid_points": 0},
    "grid 21 x 21": {"n_restarts": 1, "n_steps": 0, "grid_points": 21},
    "grid 41 x 41": {"n_restarts": 1, "n_steps": 0, "grid_points": 41},
    "grid 21 x 21 + gradient 100 x 50": {"n_restarts": 100, "n_steps": 50, "grid_points": 21},
}
for name, kw in searches.items():
    rep = evaluate(mech, 10_000, seed=1, n_regret_samples=args.profiles, **kw)
    print(f"{name:34s} regret mean {rep.regret_mean:.3e}, max {rep.regret_max:.3e} "
          f"({rep.seconds:.0f} s)")
