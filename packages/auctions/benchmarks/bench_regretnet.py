"""RegretNet on a preset setting: training time, revenue and regret (10^4 held-out profiles for
revenue; regret on ``--regret-samples`` of them, 100 restarts x ``--regret-steps`` steps, plus the
exact 21x21 grid for <= 2 items).

    uv run python packages/auctions/benchmarks/bench_regretnet.py [--setting 2x2] [--max-iter 15000]
    uv run python packages/auctions/benchmarks/bench_regretnet.py --setting 3x10 --layers 5 \
        --rho 1 --rho-increment 1 --device cuda --max-iter 20000

``--setting 3x10 / 5x10`` use the paper's 5 hidden layers and the full rows' penalty schedule
(``--rho 1 --rho-increment 1`` for 3x10, ``0.25 / 0.25`` for 5x10). ``--compile`` compiles the
misreport gradient (``RegretNet.fit(compile=True)``; the training time includes compiling);
``--capture`` runs each step as one CUDA-graph replay on a GPU (``fit(capture=True)``; the step
alone, eager against captured: ``bench_captured.py``).
"""

import argparse
import time

import torch

from econcs.auctions import KNOWN_REVENUES, AuctionSetting, RegretNet, evaluate

parser = argparse.ArgumentParser()
parser.add_argument("--setting", default="2x2", help="preset name, e.g. 2x2, 3x10, 5x10")
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--max-iter", type=int, default=15000)
parser.add_argument("--layers", type=int, default=2)
parser.add_argument("--hidden", type=int, default=100)
# training options left out take RegretNet.fit's defaults (the authors' recipe)
for name, typ in (("batch-size", int), ("lr", float), ("n-train", int), ("misreport-steps", int),
                  ("rho", float), ("rho-increment", float), ("rho-every", int),
                  ("lambda-every", int)):
    parser.add_argument(f"--{name}", type=typ, default=None)
parser.add_argument("--compile", action="store_true", help="compile the misreport gradient")
parser.add_argument("--capture", action="store_true", help="fit(capture=True): CUDA-graph steps")
parser.add_argument("--regret-samples", type=int, default=1000)
parser.add_argument("--regret-steps", type=int, default=100)
args = parser.parse_args()
torch.set_num_threads(args.threads)

setting = AuctionSetting.preset(args.setting)
t0 = time.perf_counter()
fit_kw = {k: v for k, v in vars(args).items() if v is not None and k in (
    "batch_size", "lr", "n_train", "misreport_steps", "rho", "rho_increment", "rho_every",
    "lambda_every")}
mech = RegretNet(setting, hidden=args.hidden, layers=args.layers, device=args.device).fit(
    max_iter=args.max_iter, seed=0, compile=args.compile, capture=args.capture, **fit_kw)
if args.device.startswith("cuda"):
    torch.cuda.synchronize()
train = time.perf_counter() - t0
rep = evaluate(mech, 10_000, seed=1, n_regret_samples=args.regret_samples, n_restarts=100,
               n_steps=args.regret_steps)
ref = KNOWN_REVENUES.get(args.setting)
mode = " (compiled)" * args.compile + " (captured)" * args.capture
print(f"{args.setting} on {args.device}{mode}: train {train:.0f} s ({args.max_iter} iterations, "
      f"{args.max_iter / train:.1f} it/s), eval {rep.seconds:.0f} s")
print(f"revenue {rep.revenue:.4f} +- {rep.revenue_se:.4f}"
      + (f" (reference {ref[0]:.4f}, {ref[1]})" if ref else "")
      + f", regret mean {rep.regret_mean:.2e}, max {rep.regret_max:.2e}, "
      f"grid mean {rep.regret_grid_mean:.2e}, IR {rep.ir_violation}")
