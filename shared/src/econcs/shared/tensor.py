"""Batched, GPU-friendly tensor utilities used by several packages.

All functions work on any leading batch shape, on any device and dtype, and are differentiable where
stated. No Python loop runs over the batch.
"""

from __future__ import annotations

import torch

from econcs.shared.validation import check_float, check_type

__all__ = ["project_capped_simplex", "project_simplex", "softmax_temperature"]


def project_simplex(x: torch.Tensor, dim: int = -1, radius: float = 1.0) -> torch.Tensor:
    """Euclidean projection of each slice of ``x`` along ``dim`` onto ``{y >= 0, sum(y) = radius}``.

    The sort-based algorithm of Held, Wolfe and Crowder (1974) / Duchi et al. (2008), O(n log n) per
    slice, batched over every other dimension. Differentiable almost everywhere.

    Parameters
    ----------
    x
        tensor of any shape ``(..., n, ...)``.
    dim
        the dimension that holds the simplex coordinates.
    radius
        the sum of the projected coordinates (> 0).

    Examples
    --------
    >>> project_simplex(torch.tensor([0.0, 0.5, 2.5])).tolist()
    [0.0, 0.0, 1.0]
    """
    check_type(x, "x", torch.Tensor)
    radius = check_float(radius, "radius", low=0.0, low_inclusive=False)
    xt = x.movedim(dim, -1)
    n = xt.shape[-1]
    u, _ = torch.sort(xt, dim=-1, descending=True)
    css = u.cumsum(dim=-1) - radius
    ks = torch.arange(1, n + 1, device=x.device, dtype=x.dtype)
    cond = u - css / ks > 0
    rho = (
        cond.to(x.dtype).cumsum(dim=-1).argmax(dim=-1, keepdim=True)
    )  # last index where cond holds
    theta = css.gather(-1, rho) / (rho + 1).to(x.dtype)
    return torch.clamp(xt - theta, min=0.0).movedim(-1, dim)


def project_capped_simplex(x: torch.Tensor, dim: int = -1, radius: float = 1.0) -> torch.Tensor:
    """Euclidean projection onto ``{y >= 0, sum(y) <= radius}`` along ``dim`` (sub-probability
    vectors, e.g. unit-demand lotteries).

    Slices whose positive part already sums to at most ``radius`` are just clipped at 0; the others
    are projected onto the simplex of that radius.

    >>> project_capped_simplex(torch.tensor([0.2, -0.3, 0.1])).tolist()
    [0.20000000298023224, 0.0, 0.10000000149011612]
    """
    check_type(x, "x", torch.Tensor)
    radius = check_float(radius, "radius", low=0.0, low_inclusive=False)
    clipped = torch.clamp(x, min=0.0)
    inside = clipped.sum(dim=dim, keepdim=True) <= radius
    return torch.where(inside, clipped, project_simplex(x, dim=dim, radius=radius))


def softmax_temperature(logits: torch.Tensor, temperature: float, dim: int = -1) -> torch.Tensor:
    """``softmax(logits / temperature)`` along ``dim``, computed stably (max subtracted).

    ``temperature`` must be > 0; small temperatures approach a one-hot argmax without overflow.

    >>> softmax_temperature(torch.tensor([1000.0, 0.0]), 0.001).tolist()
    [1.0, 0.0]
    """
    check_type(logits, "logits", torch.Tensor)
    temperature = check_float(temperature, "temperature", low=0.0, low_inclusive=False)
    z = logits / temperature
    z = z - z.amax(dim=dim, keepdim=True).detach()
    return torch.softmax(z, dim=dim)
