"""RegretNet's training step, eager against captured (``fit(capture=True)``): iterations per second.

    uv run python packages/auctions/benchmarks/bench_captured.py --settings 2x2 --steps 40
    uv run python packages/auctions/benchmarks/bench_captured.py --settings 5x10 --steps 4 --warmup 2
    # on a GPU (issue 32 asks for >= 10x the eager step on 5x10 and > 100 it/s):
    uv run python packages/auctions/benchmarks/bench_captured.py --device cuda --steps 300 \
        --warmup 20 --compile

Each mode trains the same network from the same seed with the authors' step (batch 128, 25
misreport steps; 2x2 with 2 hidden layers, 5x10 with the paper's 5, 100 units) for
``warmup + steps`` updates and times the last ``steps`` (the warm-up holds the capture, and with
``--compile`` the compilation). The mode "captured+compiled" also compiles the misreport gradient.
Wall seconds per step and, on the CPU, process CPU seconds per step; "same" compares the trained
parameters with the eager run's (float rounding on CUDA). Both modes run the same step function
(``RegretNetStep``): ``capture=True`` records it as a CUDA graph on CUDA and changes nothing on
the CPU, where "eager" and "captured" are one path (the same iterates; timings differ by noise).
"""

import argparse
import time

import torch

from econcs.auctions import AuctionSetting, RegretNet

parser = argparse.ArgumentParser()
parser.add_argument("--settings", nargs="+", default=["2x2", "5x10"])
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=20, help="timed steps")
parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--misreport-steps", type=int, default=25)
parser.add_argument("--n-train", type=int, default=16_384)
parser.add_argument("--compile", action="store_true", help="also time captured+compiled")
args = parser.parse_args()
torch.set_num_threads(args.threads)
cuda = args.device.startswith("cuda")
LAYERS = {"2x2": 2, "3x10": 5, "5x10": 5}


def sync() -> None:
    if cuda:
        torch.cuda.synchronize()


def timed_fit(setting: AuctionSetting, layers: int, **mode: bool) -> tuple[RegretNet, float, float]:
    marks: dict[int, tuple[float, float]] = {}
    total = args.warmup + args.steps

    def callback(step, metrics, state_fn):
        if step in (args.warmup, total):
            sync()
            marks[step] = (time.perf_counter(), time.process_time())

    mech = RegretNet(setting, hidden=100, layers=layers, device=args.device)
    mech.fit(max_iter=total, batch_size=args.batch_size, n_train=args.n_train,
             misreport_steps=args.misreport_steps, seed=0, callback=callback, **mode)
    (w0, c0), (w1, c1) = marks[args.warmup], marks[total]
    return mech, (w1 - w0) / args.steps, (c1 - c0) / args.steps


device_name = torch.cuda.get_device_name() if cuda else f"CPU, {args.threads} thread(s)"
print(f"# {device_name}; torch {torch.__version__}; batch {args.batch_size}, "
      f"{args.misreport_steps} misreport steps, {args.warmup} + {args.steps} steps")
modes = {"eager": {}, "captured": {"capture": True}}
if args.compile:
    modes["captured+compiled"] = {"capture": True, "compile": True}
for name in args.settings:
    setting = AuctionSetting.preset(name)
    layers = LAYERS.get(name, 2)
    base = None
    for mode, kw in modes.items():
        try:
            mech, wall, cpu = timed_fit(setting, layers, **kw)
        except Exception as err:  # one failing mode (e.g. compiling on a new GPU) spares the rest
            print(f"{name} ({layers} layers) {mode:>17}: FAILED {type(err).__name__}: {err}")
            continue
        if base is None:
            base = (mech, wall)
        diff = max(float((a - b).abs().max()) for a, b in
                   zip(base[0].state_dict().values(), mech.state_dict().values()))
        same = "bitwise" if diff == 0 else f"max |diff| {diff:.1e}"
        print(f"{name} ({layers} layers) {mode:>17}: {1 / wall:8.2f} it/s, {wall * 1e3:8.1f} ms "
              f"wall/step, {cpu * 1e3:8.1f} ms CPU/step, x{base[1] / wall:5.2f} eager; "
              f"same iterates: {same}")
