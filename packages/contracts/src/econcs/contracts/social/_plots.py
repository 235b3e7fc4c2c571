"""Plots of a Social Environment Design run, round by round (needs the ``plot`` extra).

Zhang et al. (ICML 2024, arXiv 2402.14090) ask for the report of each round: the elected
objective's welfare, the principal's parameters (the tax schedule), welfare under every objective,
inequality and productivity. :func:`plot_rounds` draws any of a run's per-round metrics (the rows
of :attr:`SEDResult.history`), one panel each; :func:`plot_tax_schedule` the bracket rates (or the
linear tax) chosen in each round.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_rounds", "plot_tax_schedule"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_history(history) -> list[dict]:
    rows = [dict(r) for r in history]
    if not rows or any("step" not in r for r in rows):
        raise ValueError("history: expected a non-empty sequence of rows with a 'step' key "
                         "(SEDResult.history).")
    return rows


def plot_rounds(history, keys=("welfare", "gini", "productivity"), title: str = "") -> Any:
    """A matplotlib figure: each metric of ``keys`` against the round, one panel per key.

    Parameters
    ----------
    history
        the rows of :attr:`~econcs.contracts.social.SEDResult.history` (each with ``step``).
    keys
        metrics to draw (every one must be in every row).
    """
    rows = _check_history(history)
    keys = tuple(keys)
    missing = [k for k in keys if any(k not in r for r in rows)]
    if not keys or missing:
        raise ValueError(f"keys: expected metrics of every row, missing {missing or 'all'}; "
                         f"the rows have {sorted(rows[0])}.")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False,
                             constrained_layout=True)
    steps = [r["step"] for r in rows]
    for ax, key in zip(axes[0], keys):
        ax.plot(steps, [r[key] for r in rows], marker="o")
        ax.set_xlabel("round")
        ax.set_title(key)
    if title:
        fig.suptitle(title)
    return fig


def plot_tax_schedule(history, title: str = "") -> Any:
    """A matplotlib figure: the principal's rates per round (``rate_j`` of each bracket, or
    ``tax`` for a linear tax)."""
    rows = _check_history(history)
    rates = sorted(k for k in rows[0] if k.startswith("rate_")) or ["tax"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.0), constrained_layout=True)
    steps = [r["step"] for r in rows]
    for key in rates:
        ax.step(steps, [r[key] for r in rows], where="mid", marker="o",
                label="linear tax" if key == "tax" else f"bracket {int(key[5:]) + 1}")
    ax.set_xlabel("round")
    ax.set_ylabel("marginal rate")
    ax.set_ylim(-0.05, 1.05)
    ax.legend()
    ax.set_title(title or "tax schedule")
    return fig
