"""Menu training time until the learned two-good menu is within 0.5% of the conjectured optimum.

    uv run python packages/amm/benchmarks/bench_menu.py [--device cpu|cuda] [--sizes 64 256 1024]

Two goods, c = (1/2, 1/2), l = 0, uniform values (reference 0.2746, Curry, Fan, Parkes 2024).
Every ``--check`` steps the current menu's exact argmax profit (``menu_profit``, polygon
clipping; not timed) is compared with ``0.995 * 0.2746``; the row reports the training seconds
(excluding the checks) and steps at the first hit, or the best profit if ``--max-iter`` ran out.
"""

import argparse
import json
import time

import torch

from econcs.amm import conjectured_menu, menu_profit, train_menu

C, L = [0.5, 0.5], 0.0


def one(size: int, lr: float, max_iter: int, check: int, device: str, seed: int) -> dict:
    target = 0.995 * menu_profit(conjectured_menu(0.0), C, L)
    clock = {"train": 0.0, "mark": time.perf_counter(), "hit": None, "best": 0.0}

    class Hit(Exception):
        pass

    def callback(step, metrics, state_fn):
        if step % check:
            return
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        clock["train"] += time.perf_counter() - clock["mark"]
        menu = state_fn()["model"]
        alloc = menu["logits"].double().cpu().clamp(-1, 1).numpy()
        from econcs.amm import Menu

        profit = menu_profit(Menu(alloc, menu["payments"].double().cpu().numpy()), C, L)
        clock["best"] = max(clock["best"], profit)
        if profit >= target:
            clock["hit"] = step
            raise Hit
        clock["mark"] = time.perf_counter()

    try:
        train_menu(C, L, seed=seed, device=device, menu_size=size, max_iter=max_iter, lr=lr,
                   eval_samples=1, callback=callback)
    except Hit:
        pass
    return {"menu_size": size, "lr": lr, "device": device, "seed": seed,
            "steps": clock["hit"], "train_seconds": round(clock["train"], 2),
            "best_exact_profit": round(clock["best"], 5), "target": round(target, 5)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--max-iter", type=int, default=3000)
    ap.add_argument("--check", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    for size in a.sizes:
        print(json.dumps(one(size, a.lr, a.max_iter, a.check, a.device, a.seed)), flush=True)
