"""RochetNet 1x2 additive U[0,1]: wall time until the exact (argmax) revenue on 10^5 held-out
profiles reaches 0.5465 (within 0.5% of the Manelli-Vincent optimum 0.549201).

    uv run python packages/auctions/benchmarks/bench_rochetnet_1x2.py [--threads 1]
"""

import argparse
import time

import torch

from econcs.auctions import AuctionSetting, RochetNet

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--max-iter", type=int, default=1500)
args = parser.parse_args()
torch.set_num_threads(args.threads)

setting = AuctionSetting.preset("manelli-vincent")
test = setting.sample(100_000, generator=torch.Generator().manual_seed(123))
mech = RochetNet(setting)
marks = []
start = time.perf_counter()
clock = {"eval": 0.0}


def callback(step, metrics, state_fn):
    if step % 250 == 0 or step == args.max_iter:
        t0 = time.perf_counter()
        marks.append((step, time.perf_counter() - start - clock["eval"], mech.revenue(test)))
        mech.train()
        clock["eval"] += time.perf_counter() - t0


mech.fit(max_iter=args.max_iter, seed=0, callback=callback)
for step, seconds, revenue in marks:
    print(f"step {step:6d}  train {seconds:7.1f} s  revenue {revenue:.5f}")
hit = [m for m in marks if m[2] >= 0.5465]
print("time to 0.5465:", f"{hit[0][1]:.1f} s (step {hit[0][0]})" if hit else "not reached")
