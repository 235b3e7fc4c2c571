"""Benchmark: CFR seconds per iteration on Leduc poker, econcs.abcs vs OpenSpiel (Python and C++).

Runs the three solvers side by side in one process on the same game, checks that the average
policies are identical (max abs difference) and times exploitability evaluation.

Usage: ``uv run python packages/abcs/benchmarks/bench_cfr.py [--game leduc_poker] [--iters 100]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyspiel
from open_spiel.python.algorithms import cfr as os_cfr
from open_spiel.python.algorithms import exploitability as os_expl

from econcs.abcs import CFR, Policy, exploitability, load_game


def _time(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--game", default="leduc_poker")
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--py-iters", type=int, default=20, help="iterations of the Python solver")
    args = parser.parse_args()

    t0 = time.perf_counter()
    game = load_game(args.game)
    compile_s = time.perf_counter() - t0
    ours = CFR(game, variant="vanilla")
    fast = CFR(game, variant="vanilla", exact=False)
    cpp = pyspiel.CFRSolver(game.pyspiel_game)
    py = os_cfr.CFRSolver(game.pyspiel_game)

    s_ours = _time(ours.iterate, args.iters)
    s_fast = _time(fast.iterate, args.iters)
    s_cpp = _time(cpp.evaluate_and_update_policy, args.iters)
    s_py = _time(py.evaluate_and_update_policy, args.py_iters)

    # identical iterates: compare with the Python solver at py_iters and C++ at iters
    check = CFR(game, variant="vanilla")
    check.run(max_iter=args.py_iters)
    diff_py = np.abs(Policy.from_openspiel(py.average_policy(), game).probs
                     - check.average_policy().probs).max()
    e_ours = exploitability(game, ours.average_policy())
    e_cpp = pyspiel.exploitability(game.pyspiel_game, cpp.average_policy())
    diff_cpp = np.abs(Policy.from_openspiel(cpp.tabular_average_policy(), game).probs
                      - ours.average_policy().probs).max()
    diff_fast = np.abs(fast.average_policy().probs - ours.average_policy().probs).max()

    avg = ours.average_policy()
    tab = avg.to_openspiel(game)
    t_e_ours = _time(lambda: exploitability(game, avg), 20)
    t_e_cpp = _time(lambda: pyspiel.exploitability(game.pyspiel_game, cpp.average_policy()), 5)
    t_e_py = _time(lambda: os_expl.exploitability(game.pyspiel_game, tab), 2)

    print(f"game {game.name}: {game.n_nodes} nodes, {game.n_infosets} infosets, "
          f"compiled in {compile_s:.3f} s")
    print("| solver | s / iteration | speed-up of econcs.abcs |")
    print("|---|---|---|")
    print(f"| econcs.abcs CFR (numpy, exact=True, default) | {s_ours:.5f} | 1.0x |")
    print(f"| econcs.abcs CFR (numpy, exact=False) | {s_fast:.5f} | {s_fast / s_ours:.2f}x |")
    print(f"| OpenSpiel C++ pyspiel.CFRSolver | {s_cpp:.5f} | {s_cpp / s_ours:.1f}x |")
    print(f"| OpenSpiel Python cfr.CFRSolver | {s_py:.5f} | {s_py / s_ours:.1f}x |")
    print()
    print(f"max |avg policy diff| vs Python after {args.py_iters} iterations: {diff_py:.2e}")
    print(f"max |avg policy diff| vs C++ after {args.iters} iterations: {diff_cpp:.2e} "
          f"(exact=False vs exact=True: {diff_fast:.2e})")
    print(f"exploitability after {args.iters} iterations: ours {e_ours:.12f}, "
          f"C++ {e_cpp:.12f}, diff {abs(e_ours - e_cpp):.2e}")
    print()
    print("| exploitability evaluation | seconds |")
    print("|---|---|")
    print(f"| econcs.abcs exploitability (numpy) | {t_e_ours:.5f} |")
    print(f"| OpenSpiel pyspiel.exploitability (C++) | {t_e_cpp:.5f} |")
    print(f"| OpenSpiel Python exploitability.exploitability | {t_e_py:.5f} |")


if __name__ == "__main__":
    main()
