"""Misreport-search throughput: (profiles x restarts x bidders x steps) per second of
:func:`econcs.shared.best_response_search` on an (untrained) RegretNet 2x2 with paper-size nets.

    uv run python packages/auctions/benchmarks/bench_misreport.py [--device cuda] [--threads 1]
"""

import argparse
import time

import torch

from econcs.auctions import AuctionSetting, RegretNet
from econcs.shared import best_response_search

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--profiles", type=int, default=1000)
parser.add_argument("--restarts", type=int, default=100)
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()
torch.set_num_threads(args.threads)

setting = AuctionSetting.preset("2x2")
mech = RegretNet(setting, device=args.device)
gen = torch.Generator(device=args.device).manual_seed(0)
values = setting.sample(args.profiles, generator=gen, device=args.device)
best_response_search(mech.outcome, values[:10], low=0.0, high=1.0, n_restarts=2, n_steps=2,
                     generator=gen)  # warm-up
if args.device.startswith("cuda"):
    torch.cuda.synchronize()
t0 = time.perf_counter()
best_response_search(mech.outcome, values, low=0.0, high=1.0, n_restarts=args.restarts,
                     n_steps=args.steps, generator=gen)
if args.device.startswith("cuda"):
    torch.cuda.synchronize()
sec = time.perf_counter() - t0
work = args.profiles * args.restarts * setting.n_bidders * args.steps
print(f"{args.device}: {work:.3g} bidder-misreport steps in {sec:.1f} s = {work / sec:.3g} /s")
