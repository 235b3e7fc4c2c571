"""Default runs of every auctions experiment (what a newcomer's first ``econcs run`` does), timed.

Runs each ``auctions.*`` experiment of ``econcs list`` with every key at its default (seed 0),
plus the 1x2 RochetNet settings with known optima and every baseline mechanism, in this process
one after another, and prints a Markdown table: wall and CPU seconds, revenue against its
reference, regret (and which regret search), whether every reference held. Target: each default
run <= 90 s on 2 CPU cores.

    uv run python packages/auctions/benchmarks/default_runs.py [--threads 1] [--only NAME ...]
        [--no-extra] [--label TEXT]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from econcs.shared.experiments import config_from_overrides, load_suites, run_experiment

EXTRA = [  # (experiment, label, overrides, seed)
    ("auctions.rochetnet", "1x2 unit-demand U[2,3] (Pavlov 2.133132)",
     {"valuation": "unit-demand", "values": "uniform(2,3)"}, 0),
    ("auctions.rochetnet", "1x2 U[4,16] x U[4,7] (9.781), the issue's seed 3",
     {"values": "uniform(4,16),uniform(4,7)"}, 3),
    *[("auctions.regretnet", f"{n}x1 {v} (Myerson)", {"n_bidders": n, "n_items": 1, "values": v},
       0) for n, v in ((2, "uniform(0,1)"), (3, "uniform(0,1)"), (5, "uniform(0,1)"),
                       (2, "exponential(3)"), (3, "exponential(3)"), (5, "exponential(3)"))],
    *[("auctions.baseline", f"mechanism={m}", {"mechanism": m}, 0)
      for m in ("vcg", "bundle", "ama", "lottery-ama")],
]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--only", nargs="*", default=None, help="experiment names to run")
parser.add_argument("--no-extra", action="store_true", help="only each experiment's defaults")
parser.add_argument("--label", default=None,
                    help="only the runs whose label contains this (e.g. 'defaults', 'x1')")
args = parser.parse_args()
torch.set_num_threads(args.threads)

experiments = {e.name: e for suite in load_suites().values() for e in suite.experiments
               if e.name.startswith("auctions.")}
runs = [(name, "defaults", {}, 0) for name in sorted(experiments)]
if not args.no_extra:
    runs += [r for r in EXTRA if r[0] in experiments]
if args.only:
    runs = [r for r in runs if r[0] in args.only]
if args.label:
    runs = [r for r in runs if args.label in r[1]]

print("| experiment | run | wall s | CPU s | revenue | reference | regret mean / max (search) "
      "| references hold |")
print("|---|---|---|---|---|---|---|---|")
for name, label, overrides, seed in runs:
    exp = experiments[name]
    cfg = config_from_overrides(exp.config, overrides)
    cpu, wall = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rec = run_experiment(exp, cfg, seed=seed, device="cpu", out_dir=out)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    m, refs = rec.metrics, rec.references
    ref = refs.get("revenue")
    ref_text = "-" if ref is None else f"{ref.value:.6g} ({ref.relation}, rtol {ref.rtol:g})"
    ev = getattr(cfg, "evaluation", None)
    search = getattr(ev, "regret_search", "")
    regret = (f"{m['regret_mean']:.2e} / {m['regret_max']:.2e} ({search})"
              if "regret_mean" in m else "-")
    holds = all(r.holds(m[k]) for k, r in refs.items() if k in m)
    revenue = f"{m['revenue']:.5f}" if "revenue" in m else "-"
    print(f"| {name} | {label}{'' if seed == 0 else f' (--seed {seed})'} | {wall:.0f} | {cpu:.0f} "
          f"| {revenue} | {ref_text} | {regret} | {'yes' if holds else 'NO'} |", flush=True)
