"""Benchmark: exact ambiguity and discrepancy MIPs (HiGHS) for a linear classifier, 500 points.

Target (issue 5): <= 5 minutes on 2 CPU cores. Run:
``uv run python packages/churn/benchmarks/bench_mip.py [n_points] [n_features]``
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.preprocessing import scale

from econcs.churn import RashomonSet, load_dataset

n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
d = int(sys.argv[2]) if len(sys.argv) > 2 else 3
X, y = load_dataset("synthetic", n_samples=n, n_features=d, random_state=0)
X = scale(X)
t0 = time.perf_counter()
rs = RashomonSet(epsilon=0.01, n_models=n, method="mip", random_state=0,
                 method_params={"time_limit": 60.0, "discrepancy_time_limit": 120.0}).fit(X, y)
s = rs.search_
print(f"{n} points x {d} features, epsilon 0.01 (budget {s.max_errors} mistakes): "
      f"{time.perf_counter() - t0:.1f} s, {s.n_solves} MIPs")
print(f"ambiguity {s.ambiguity:.4f}, discrepancy {s.discrepancy:.4f} "
      f"(bound {s.discrepancy_bound:.4f}, {s.discrepancy_status}); statuses "
      f"{dict(zip(*np.unique(s.status, return_counts=True)))}")
