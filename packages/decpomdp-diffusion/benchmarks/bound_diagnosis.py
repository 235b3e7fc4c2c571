"""Where the deviation bound misses, on the models of a ``decpomdp.train`` run directory.

    uv run python packages/decpomdp-diffusion/benchmarks/bound_diagnosis.py RUN_DIR [--seed S]

Rebuilds the run's held-out histories (same seed, same ``data`` generator) and loads agent 0's
model, then compares, at the run's noise level:

- the earlier, residual-free construction: ``|G(s) - s| / (1 - |A|_2)`` with ``A`` the slope of a
  least-squares fit on 32 points ``s + 0.2 xi``, ``xi ~ N(0, I)``; for its misses, the largest
  ``|J_G|_2`` on the segment from ``s`` to the fixed point ``x*`` (the Lipschitz constant the
  contraction argument needs) against ``|A|_2``;
- :func:`~econcs.decpomdp_diffusion.deviation_bound` (the bound with the surrogate's error on the
  ball): coverage, certified share, and the true states of the uncertified histories.

Prints plain lines (MEASUREMENTS.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from econcs.decpomdp_diffusion import deviation_bound, load_model, make_env
from econcs.decpomdp_diffusion._fixed_points import _iterate, _level, denoise_map
from econcs.shared import ConvergenceWarning, RunContext


def _summary(name: str, v: np.ndarray, miss: np.ndarray) -> str:
    parts = [f"misses mean {v[miss].mean():.4f} [{v[miss].min():.4f}, {v[miss].max():.4f}]"
             if miss.any() else "no misses"]
    if not miss.all():
        parts.append(f"covered mean {v[~miss].mean():.4f}")
    return f"{name}: " + "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--seed", type=int, default=0, help="the run's seed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads(Path(args.run_dir, "config.json").read_text())
    cfg = cfg.get("config", cfg)
    env = make_env(cfg["env"], cfg["n_agents"])
    with tempfile.TemporaryDirectory() as tmp:
        rng = RunContext(tmp, seed=args.seed).rng("data")
        env.collect(cfg["n_train"], cfg["horizon"], rng=rng)
        test = env.collect(cfg["n_test"], cfg["horizon"], rng=rng)
    model = load_model(f"{args.run_dir}/model_agent0", env)
    n = min(cfg["n_test"], cfg["n_analysis"])
    obs, act, true = test.obs[:n, 0], test.actions[:n, 0], test.states[:n, -1]
    t = _level(model, cfg["noise"])
    with torch.no_grad():
        ctx = model.context(obs, act)

        def g(z):
            return denoise_map(model, z, ctx.repeat_interleave(z.shape[0] // n, 0), t)

        s = torch.as_tensor(env.features[true], dtype=torch.float32)
        eps0 = (g(s) - s).norm(dim=-1)
        x_star, _, _ = _iterate([g], s, 200, 1e-4)
        dev = (x_star - s).norm(dim=-1)
        xi = torch.randn(n, 32, 2, generator=torch.Generator().manual_seed(args.seed))
        y = g((s[:, None] + 0.2 * xi).reshape(-1, 2)).reshape(n, 32, 2).double()
        design = torch.cat([0.2 * xi, torch.ones(n, 32, 1)], -1).double()
        sol = torch.linalg.lstsq(design, y).solution
        lip = torch.linalg.svdvals(sol[:, :2].transpose(-1, -2))[:, 0]
        old = eps0.double() / (1 - lip)
        secant = (g(x_star) - g(s)).norm(dim=-1) / dev.clamp_min(1e-9)

    def one(x, c):
        return denoise_map(model, x[None], c[None], t)[0]

    jac = torch.func.vmap(torch.func.jacrev(one))
    seg = torch.stack([torch.linalg.matrix_norm(jac(s + a * (x_star - s), ctx).detach(), ord=2)
                       for a in np.linspace(0, 1, 11)]).amax(0)
    miss = (dev.double() > old + 1e-4).numpy()
    print(f"level t={t} (noise std {float((1 - model.alpha_bar[t]).sqrt()):.3f}); residual-free "
          f"bound: coverage {1 - miss.mean():.3f}, {miss.sum()} misses")
    for name, v in [("deviation", dev), ("bound", old), ("|G(s) - s|", eps0), ("|A|_2", lip),
                    ("max |J_G|_2 on [s, x*]", seg), ("|G(x*) - G(s)| / |x* - s|", secant)]:
        print(_summary(name, v.detach().double().numpy(), miss))
    print("misses by true state:", np.bincount(true[miss], minlength=env.n_states).tolist(),
          "of", np.bincount(true, minlength=env.n_states).tolist())
    with warnings.catch_warnings():  # reported as the converged share instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        new = deviation_bound(model, env, obs, act, true, noise=cfg["noise"],
                              radius=cfg.get("radius", 0.8), n_radii=cfg.get("n_radii", 5),
                              seed=args.seed)
    unc = ~new.certified
    print(f"deviation_bound: coverage {new.coverage:.3f}, certified {new.certified_share:.3f}, "
          f"holds where certified {new.certified_coverage:.4f}, iteration from s converged "
          f"{new.converged.mean():.3f}")
    if unc.any():
        print("uncertified by true state:", np.bincount(true[unc], minlength=env.n_states).tolist(),
              f"deviation mean {new.deviation[unc].mean():.3f}, min {new.deviation[unc].min():.3f};"
              f" |A|_2 mean {new.lipschitz[unc].mean():.2f}, eps mean {new.eps[unc].mean():.3f} "
              "(smallest ball)")


if __name__ == "__main__":
    main()
