"""Benchmark: a 1,000-model Rashomon set of logistic regressions on 10,000 x 20 data.

Target (issue 5): <= 60 s on 2 CPU cores, including scoring every candidate and the measures.
Run: ``uv run python packages/churn/benchmarks/bench_retrain.py``
"""

from __future__ import annotations

import time

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from econcs.churn import RashomonSet, multiplicity

X, y = make_classification(n_samples=10_000, n_features=20, n_informative=10, flip_y=0.1,
                           random_state=0)
t0 = time.perf_counter()
rs = RashomonSet(LogisticRegression(), epsilon=0.005, n_models=1000,
                 perturbation=("bootstrap", "hyper"), random_state=0).fit(X, y)
fit = time.perf_counter() - t0
m = multiplicity(rs, X)
total = time.perf_counter() - t0
print(f"fit {fit:.1f} s (1000 candidates, {len(rs.models_)} members); fit + measures {total:.1f} s")
print(f"ambiguity {m.ambiguity:.4f} discrepancy {m.discrepancy:.4f} "
      f"expected churn {m.expected_churn:.4f}")
