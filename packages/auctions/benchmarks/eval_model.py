"""Re-evaluate saved mechanisms (a run's ``model.safetensors``) with a larger regret search, e.g.
the ``--full`` rows' own 10,000 profiles x 1000 restarts x 200 steps on a GPU.

    uv run python packages/auctions/benchmarks/eval_model.py RUN_DIR/model.safetensors [...] \
        [--device cuda] [--n-eval 100000] [--seed 1] [--profiles 10000] [--restarts 1000] \
        [--steps 200] [--json out.json]

The held-out profiles are drawn on the CPU from ``--seed`` exactly as ``econcs run`` draws them
(seed = the run's seed + 1), so the revenue is the run's revenue on the same profiles and only
the regret search (restarts on ``--device``) is new. Regret adds the exact grid for <= 2 items.

A run directory instead of a model file evaluates the run's ``model.safetensors`` when it has
finished, else the network in its last ``checkpoint.pt`` (an unfinished run's progress; for GemNet
that is before the price transform).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from econcs.auctions import AuctionSetting, GemNet, Mechanism, RegretNet, RochetNet, evaluate
from econcs.shared import make_generator

parser = argparse.ArgumentParser()
parser.add_argument("models", nargs="+")
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--n-eval", type=int, default=100_000)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--profiles", type=int, default=10_000)
parser.add_argument("--restarts", type=int, default=1000)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--chunk", type=int, default=2_000_000, help="profiles x restarts x bidders")
parser.add_argument("--json", default=None)
args = parser.parse_args()
torch.set_num_threads(args.threads)


def load(path: str) -> Mechanism:
    """A model file, or a run directory: its model, else the network in its last checkpoint."""
    run = Path(path)
    if not run.is_dir():
        return Mechanism.load(run, device=args.device)
    if (run / "model.safetensors").exists():
        return Mechanism.load(run / "model.safetensors", device=args.device)
    meta = json.loads((run / "config.json").read_text())
    cfg = meta["config"]
    setting = AuctionSetting(cfg["n_bidders"], cfg["n_items"], cfg["valuation"], cfg["values"])
    dev = args.device
    build = {"auctions.regretnet": lambda: RegretNet(setting, cfg["hidden"], cfg["layers"],
                                                     device=dev),
             "auctions.rochetnet": lambda: RochetNet(setting, cfg["menu_size"], device=dev),
             "auctions.gemnet": lambda: GemNet(setting, cfg["menu_size"], cfg["hidden"],
                                               device=dev)}
    if meta["experiment"] not in build or not (run / "checkpoint.pt").exists():
        raise ValueError(f"models: {path!r} is a run directory with neither a model nor a "
                         "checkpoint of a learned mechanism.")
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    mech = build[meta["experiment"]]()
    mech.load_state_dict(ckpt["state"]["model"])
    max_iter = cfg.get("train", cfg)["max_iter"]  # nested since the parameter dataclasses
    print(f"{path}: checkpoint at step {ckpt['step']} of {max_iter}", flush=True)
    return mech.eval()


rows = []
for path in args.models:
    mech = load(path)
    values = mech.setting.sample(args.n_eval, generator=make_generator(args.seed, "cpu"),
                                 device="cpu", dtype=mech.dtype_)
    t0 = time.perf_counter()
    rep = evaluate(mech, seed=args.seed, values=values, n_regret_samples=args.profiles,
                   n_restarts=args.restarts, n_steps=args.steps, chunk=args.chunk)
    row = {"model": path, "setting": mech.setting.to_dict(), "device": str(mech.device_),
           **rep.as_metrics(), "regret_per_bidder": list(rep.regret_per_bidder),
           "seconds": time.perf_counter() - t0}
    rows.append(row)
    print(f"{path}: revenue {rep.revenue:.5f} +- {rep.revenue_se:.5f}, regret mean "
          f"{rep.regret_mean:.3e} max {rep.regret_max:.3e}, IR violation {rep.ir_violation:.1e} "
          f"({args.profiles} x {args.restarts} x {args.steps}, {row['seconds']:.0f} s)",
          flush=True)
if args.json:
    with open(args.json, "w") as fh:
        json.dump(rows, fh, indent=2)
