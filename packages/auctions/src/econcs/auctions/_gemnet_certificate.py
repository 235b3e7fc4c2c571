"""GemNet's compatibility certificate (Wang, Jiang, Parkes, EC 2024, Sec. 5).

After the price transform, bounds on the menu networks over boxes of the value space certify the
boxes on which the options each bidder may choose are compatible (no item allocated more than
once): :func:`menu_bounds` bounds every bidder's menu over a box (interval propagation intersected
with the mean-value form, a local Lipschitz argument), :func:`box_compatible` decides a box from
them, :func:`certified_boxes` starts from boxes around the grid profiles and bisects the ones that
fail, and :func:`certified_share` is the certified volume :meth:`GemNet.transform` reports. Also
here: :func:`hard_sigmoid`, the monotone allocation map of additive menus that the bounds pass
through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from econcs.auctions._gemnet import GemNet

__all__ = ["box_compatible", "certified_boxes", "certified_share", "hard_sigmoid", "menu_bounds"]

#: allocations are ``clamp((1 + 2 s) sigmoid(z) - s, 0, 1)``: exactly 0 or 1 for ``|z| >~ 4``, so
#: that two bidders' options can be exactly compatible (a sigmoid is never 0 or 1)
_STRETCH = 0.02


def hard_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """GemNet's additive allocations from their logits (monotone, exactly 0 or 1 far out)."""
    return ((1 + 2 * _STRETCH) * torch.sigmoid(logits) - _STRETCH).clamp(0.0, 1.0)


def menu_bounds(gem: GemNet, lo: torch.Tensor, hi: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sound bounds on every bidder's menu when the reports range over the box ``[lo, hi]``
    ``(P, n, m)``: allocations ``(P, n, K, m)`` and prices ``(P, n, K)``, low and high.

    Each layer's pre-activations are bounded twice and the bounds intersected: by interval
    propagation (``|W|`` times the radius; loose on a deep net, ~10x the true range of the
    prices on a 2x2 cell a quarter grid step wide) and by the mean-value form ``f(c) +
    J(xi) (x - c)`` with the Jacobian ``J`` bounded over the box in midpoint-radius interval
    arithmetic (forward mode over the ``(n - 1) m`` inputs; tanh' bounded on each unit's
    pre-activation interval), which is within ~10% of the true range on small boxes. Both
    are sound, so is their intersection; tanh and the (hard) sigmoid are monotone."""
    b = lo.shape[0]
    n, m = gem.setting.shape
    k = gem.menu_size
    span = gem._high - gem._low
    xl = ((lo - gem._low) / span)[:, gem._others].reshape(b, n, (n - 1) * m)
    xh = ((hi - gem._low) / span)[:, gem._others].reshape(b, n, (n - 1) * m)
    radius = (xh - xl).unsqueeze(-2) / 2  # (P, n, 1, D)
    mid = (xl + xh) / 2  # the network at the box centre
    d = radius.shape[-1]
    jc = torch.eye(d, device=lo.device, dtype=lo.dtype).expand(b, n, d, d)  # d x / d x
    jr = torch.zeros_like(jc)  # Jacobian interval: midpoint jc, radius jr, (P, n, width, D)
    for layer, (w, bias) in enumerate(gem.layer_params()):
        c = torch.einsum("bna,nac->bnc", (xl + xh) / 2, w) + bias
        r = torch.einsum("bna,nac->bnc", (xh - xl) / 2, w.abs())
        mid = torch.einsum("bna,nac->bnc", mid, w) + bias
        jc = torch.einsum("bnaD,nac->bncD", jc, w)
        jr = torch.einsum("bnaD,nac->bncD", jr, w.abs())
        reach = ((jc.abs() + jr) * radius).sum(-1)
        zl, zh = torch.maximum(c - r, mid - reach), torch.minimum(c + r, mid + reach)
        if layer == len(gem.weights) - 1:
            xl, xh = zl, zh
            break
        # tanh' on [zl, zh]: largest at the point nearest 0, smallest at an end
        s_hi = 1 - torch.tanh(torch.minimum(torch.maximum(zl, zl.new_zeros(())), zh)) ** 2
        s_lo = torch.minimum(1 - torch.tanh(zl) ** 2, 1 - torch.tanh(zh) ** 2)
        sc, sr = ((s_hi + s_lo) / 2).unsqueeze(-1), ((s_hi - s_lo) / 2).unsqueeze(-1)
        jc, jr = sc * jc, sc * jr + sr * (jc.abs() + jr)
        mid = torch.tanh(mid)
        xl, xh = torch.tanh(zl), torch.tanh(zh)
    ll = xl[..., : k * gem.width].reshape(b, n, k, gem.width)
    lh = xh[..., : k * gem.width].reshape(b, n, k, gem.width)
    pl, ph = xl[..., k * gem.width:], xh[..., k * gem.width:]
    if gem.price_delta.numel():
        shift = gem._lookup_delta((lo + hi) / 2)
        pl, ph = pl + shift, ph + shift
    if gem.setting.valuation == "additive":
        return hard_sigmoid(ll), hard_sigmoid(lh), pl, ph
    el, eh = torch.exp(ll - lh.amax(-1, keepdim=True)), torch.exp(lh - lh.amax(-1, keepdim=True))
    tot_h, tot_l = eh.sum(-1, keepdim=True), el.sum(-1, keepdim=True)
    a_lo = el / (el + (tot_h - eh))
    a_hi = eh / (eh + (tot_l - el))
    return a_lo[..., :m], a_hi[..., :m], pl, ph


def certified_share(gem: GemNet, points: int, refine: int, tol: float,
                    max_boxes: int = 2_000_000) -> float:
    """Share of the value space (by volume) certified compatible: the volume of the boxes
    :func:`certified_boxes` yields."""
    span = gem._high - gem._low
    certified = sum(float(((hi - lo) / span).prod(-1).prod(-1).sum())
                    for lo, hi in certified_boxes(gem, points, refine, tol, max_boxes))
    return min(certified, 1.0)


def certified_boxes(gem: GemNet, points: int, refine: int, tol: float,
                    max_boxes: int = 2_000_000, chunk: int = 4096
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Boxes ``(lo, hi)``, each ``(B, n, m)``, on which :func:`box_compatible` proves the
    choices compatible; with the boxes left uncertified they tile the value space.

    The first boxes are centred on the grid profiles, half a grid step wide (so each lies in
    one price-change cell). A box not certified is bisected along its widest value dimension
    (the first on a tie) and both halves are checked again, ``refine * n * m`` times in all,
    so ``refine`` levels halve every side; a half certified early is not split further. On
    the 3000-step 2x2 quick network (11-grid), refine 3 certifies 98.8% in 78 s (one CPU
    thread); splitting every box into its ``2^(n m)`` half-width children certifies less, since
    the children of a box at the edge of the value space are clipped copies of it (never refined
    along that edge) and no half is accepted early. Refinement stops early when a step would
    check more than ``max_boxes`` boxes."""
    n, m = gem.setting.shape
    span = gem._high - gem._low
    centers = gem._grid_profiles(points)
    half = span / (2 * (points - 1))
    lo, hi = torch.maximum(centers - half, gem._low), torch.minimum(centers + half, gem._high)
    with torch.no_grad():
        for step in range(refine * n * m + 1):
            if step:  # bisect the boxes left along their widest dimension
                if 2 * lo.shape[0] > max_boxes:
                    break
                widest = ((hi - lo) / span).flatten(1).argmax(1)
                axis = nn.functional.one_hot(widest, n * m).view_as(lo).bool()
                mid = (lo + hi) / 2
                lo = torch.cat([lo, torch.where(axis, mid, lo)])
                hi = torch.cat([torch.where(axis, mid, hi), hi])
            ok = torch.cat([box_compatible(gem, a, b, tol)
                            for a, b in zip(lo.split(chunk), hi.split(chunk))])
            yield lo[ok], hi[ok]
            lo, hi = lo[~ok], hi[~ok]
            if not lo.shape[0]:
                break


def box_compatible(gem: GemNet, lo: torch.Tensor, hi: torch.Tensor, tol: float) -> torch.Tensor:
    """``(P,)`` whether the choices are provably compatible on every box ``[lo, hi]``.

    Bidder ``i`` may choose option ``k`` somewhere in the box unless (a) its highest utility
    is below the best lowest utility (the null option's 0 included), or (b) the option ``b``
    with the best lowest utility beats it everywhere: ``min (a_b - a_k) . v - (p_b - p_k)``
    over the box is positive (one own value ``v`` in both terms, so this is much tighter than
    (a) when the box is wide in ``i``'s own values)."""
    a_lo, a_hi, p_lo, p_hi = menu_bounds(gem, lo, hi)
    u_lo = torch.einsum("bnkm,bnm->bnk", a_lo, lo) - p_hi  # values >= 0
    u_hi = torch.einsum("bnkm,bnm->bnk", a_hi, hi) - p_lo
    best_lo, best = u_lo.max(-1, keepdim=True)
    may = u_hi >= best_lo.clamp(min=0.0)  # (P, n, K) options that may be chosen in the box
    pick = best.unsqueeze(-1).expand(-1, -1, 1, a_lo.shape[-1])
    d_lo, d_hi = a_lo.gather(2, pick) - a_hi, a_hi.gather(2, pick) - a_lo  # a_b - a_k
    v_lo, v_hi = lo.unsqueeze(2), hi.unsqueeze(2)
    gain = torch.minimum(torch.minimum(d_lo * v_lo, d_lo * v_hi),
                         torch.minimum(d_hi * v_lo, d_hi * v_hi)).sum(-1)
    may &= gain - (p_hi.gather(2, best) - p_lo) <= 0
    top = torch.where(may.unsqueeze(-1), a_hi, torch.zeros_like(a_hi)).amax(2)  # (P, n, m)
    return (top.sum(1) <= 1 + tol).all(-1)

