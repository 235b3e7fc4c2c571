"""Time and peak memory of the grid dual on HiGHS against grid size, next to POT on the plain-OT
relaxation (no free moves, no spreads; a dense sources x targets cost matrix).

    uv run python packages/amm/benchmarks/bench_dual.py 51 101 201 [401]

Each (method, grid) runs in a fresh process so that the peak resident memory is its own.
"""

import json
import multiprocessing as mp
import resource
import sys
import time


def _one(method: str, grid: int, out: "mp.Queue") -> None:
    from econcs.amm import ot_dual, solve_dual

    t0 = time.perf_counter()
    if method == "highs":
        value = solve_dual([0.5, 0.5], 0.0, grid=grid).value
    elif method == "highs-plain":
        value = solve_dual([0.5, 0.5], 0.0, grid=grid, spreads="none", free_moves=False).value
    else:
        value = ot_dual([0.5, 0.5], 0.0, grid=grid, free_moves=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    out.put({"method": method, "grid": grid, "value": value, "seconds": round(seconds, 2),
             "peak_mib": round(peak)})


if __name__ == "__main__":
    grids = [int(g) for g in sys.argv[1:]] or [51, 101, 201]
    ctx = mp.get_context("spawn")
    for grid in grids:
        for method in ("highs", "highs-plain", "pot-plain"):
            if method == "pot-plain" and grid > 201:
                continue  # the dense cost matrix would be 1605 x 160801
            q = ctx.Queue()
            p = ctx.Process(target=_one, args=(method, grid, q))
            p.start()
            p.join()
            print(json.dumps(q.get()), flush=True)
