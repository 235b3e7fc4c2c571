"""Benchmark: exact ambiguity and discrepancy MIPs (HiGHS) for a linear classifier, 500 points.

Target (issue 5): <= 5 minutes on 2 CPU cores. Run:
``uv run python packages/churn/benchmarks/bench_mip.py [dataset] [n_points] [n_features] [solver]``

Default instance: a seeded 500-row subsample of ``breast_cancer`` (569 x 30), its first
``n_features`` = 3 columns (mean radius, mean texture, mean perimeter) standardised, a logistic
regression baseline and epsilon 0.01, in the range of the paper's experiments (Marx et al. 2020
use a few hundred to a few thousand rows of tabular data, linear classifiers, epsilon of 1-2%).
``synthetic`` is ``make_classification`` with 5% label noise (a harder, noisier instance).
``solver`` is ``bnb`` (default) or ``highs``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from sklearn.preprocessing import scale

from econcs.churn import RashomonSet, load_dataset

name = sys.argv[1] if len(sys.argv) > 1 else "breast_cancer"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
d = int(sys.argv[3]) if len(sys.argv) > 3 else 3
solver = sys.argv[4] if len(sys.argv) > 4 else "bnb"
if name == "synthetic":
    X, y = load_dataset("synthetic", n_samples=n, n_features=d, seed=0)
else:
    X, y = load_dataset(name, n_samples=n, seed=0)
    X = X[:, :d]
X = scale(X)
print(f"load average before: {os.getloadavg()[0]:.2f}")
t0 = time.perf_counter()
rs = RashomonSet(epsilon=0.01, n_models=n, method="mip", random_state=0,
                 method_params={"time_limit": 60.0, "discrepancy_time_limit": 120.0,
                                "solver": solver}).fit(X, y)
s = rs.search_
print(f"{name}: {n} points x {d} features, epsilon 0.01 (budget {s.max_errors} mistakes), "
      f"solver {solver}: {time.perf_counter() - t0:.1f} s, {s.n_solves} LPs/MIPs, "
      f"{s.n_cells} boxes")
print(f"ambiguity {s.ambiguity:.4f}, discrepancy {s.discrepancy:.4f} "
      f"(bound {s.discrepancy_bound:.4f}, {s.discrepancy_status}); statuses "
      f"{dict(zip(*np.unique(s.status, return_counts=True)))}; {len(s.models)} models")
print(f"load average after: {os.getloadavg()[0]:.2f}")
