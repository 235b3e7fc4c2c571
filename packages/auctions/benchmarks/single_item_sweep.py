"""One single-item RegretNet training, scored against Myerson's optimum at its exact regret.

Trains ``RegretNet`` on ``n`` bidders x 1 item with the given overrides of ``RegretNetParams``
(plus ``hidden``), then prints the revenue on 20,000 held-out profiles against Myerson's optimum
and against Myerson's auction on the same profiles, the exact regret
(:func:`econcs.auctions.single_item_regret`, 401 points zoomed 3 times) on the first 2000, the
final penalty, multipliers and training regret, and the CPU seconds. The measurements of
MEASUREMENTS.md ("Single-item RegretNet on the exact regret") are rows of this script:

    uv run python packages/auctions/benchmarks/single_item_sweep.py N VALUES SEED ['{"lr": 4e-3}']
"""

import json
import sys
import time

import torch

from econcs.auctions import AuctionSetting, MyersonItemwise, RegretNet, single_item_regret

torch.set_num_threads(1)
n, values, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
kw = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
setting = AuctionSetting(n, 1, "additive", values)
start, cpu = time.time(), time.process_time()
mech = RegretNet(setting, hidden=kw.pop("hidden", None)).fit(seed=seed, **kw)
train_s, train_cpu = time.time() - start, time.process_time() - cpu
v = setting.sample(20_000, generator=torch.Generator().manual_seed(seed + 1))
with torch.no_grad():
    revenue = float(mech.outcome(v)[1].sum(-1).mean())
    paired = float(MyersonItemwise(setting).outcome(v)[1].sum(-1).mean())
_, regret = single_item_regret(mech.outcome, v[:2000], mech._low, mech._high)
opt = setting.known_revenue
last = mech.history_[-1]
print(f"n={n} {values} seed={seed} {kw} train {train_s:.0f}s ({train_cpu:.0f} CPU s) rev {revenue:.5f} "
      f"({100 * (revenue / opt - 1):+.2f}%; paired with Myerson {paired:.5f}: "
      f"{100 * (revenue / paired - 1):+.2f}%) exact regret {float(regret.mean()):.2e} "
      f"max {float(regret.max()):.2e} rho {last['rho']:.0f} lam {last['lambda']:.1f} "
      f"train-regret {last['regret']:.2e}", flush=True)
