"""Menu plots as in the paper's figures: each good's trade over the trader's values ``[0, 1]^2``.

:func:`plot_menu` evaluates the argmax choice of a two-good menu on a ``resolution`` x
``resolution`` grid of values and draws, for each good, the trade the trader makes (red: it buys,
blue: it sells, white: no trade), so bundles, swaps and per-good prices show as regions.
matplotlib is the ``plot`` extra; it is imported only here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from econcs.amm._reference import Menu
from econcs.shared import check_int

__all__ = ["menu_regions", "plot_menu"]


def menu_regions(menu: Menu, resolution: int = 201) -> np.ndarray:
    """The chosen trade at each grid point: ``(resolution, resolution, 2)``, ``[j, i]`` at
    ``(x_i, y_j)`` (image order), opt-out 0.

    >>> from econcs.amm import separate_prices_menu
    >>> menu_regions(separate_prices_menu([0.5, 0.5], 0.0), 5)[0, -1].tolist()  # x=(1, 0)
    [1.0, -1.0]
    """
    if not isinstance(menu, Menu) or menu.n_goods != 2:
        raise ValueError("menu: expected a two-good Menu.")
    resolution = check_int(resolution, "resolution", low=2)
    g = np.linspace(0.0, 1.0, resolution)
    xx, yy = np.meshgrid(g, g)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    util = np.concatenate([pts @ menu.allocations.T - menu.payments,
                           np.zeros((pts.shape[0], 1))], 1)
    alloc = np.vstack([menu.allocations, np.zeros((1, 2))])[util.argmax(1)]
    return alloc.reshape(resolution, resolution, 2)


def plot_menu(menu: Menu, resolution: int = 201, title: str = "") -> Any:
    """A matplotlib figure with one heat map per good (trade in ``[-1, 1]``); needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = menu_regions(menu, resolution)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), constrained_layout=True)
    for k, ax in enumerate(axes):
        im = ax.imshow(regions[..., k], origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                       vmin=-1, vmax=1)
        ax.set_xlabel("value of good 1")
        ax.set_ylabel("value of good 2")
        ax.set_title(f"trade of good {k + 1}")
    fig.colorbar(im, ax=axes, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
