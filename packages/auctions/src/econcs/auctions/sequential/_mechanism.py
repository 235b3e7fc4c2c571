"""The sequential mechanism: menus posted per state, utility-maximising choices, and persistence.

Ravindranath et al. 2024 (arXiv 2407.08022), Sec. 3: bidder ``i`` facing the unsold items ``S`` is
shown a menu, takes its utility-maximising option (ties go to the larger bundle), pays and leaves.
Every bidder's choice is a best response to a menu that does not depend on its report, so the
mechanism is DSIC and IR (the empty bundle costs 0) by construction. The MDP: state = (bidder,
unsold items), action = the menu, reward = the payment; the transition is known.

Three menu families, each a choice rule batched over samples (no loop over samples or items):

- ``"bundle"``: one price per bundle (``m <= 10``), bundles not in ``S`` (or larger than the
  demand) priced at ``+inf``; :func:`choose_bundle`;
- ``"size"``: one price per bundle *size* (DP-Sym, Sec. 4.1 of the paper for i.i.d. items): an
  item-valued bidder takes the ``j`` unsold items it values most, for the ``j`` of best utility;
  :func:`choose_size`, by sorting;
- ``"entry-fee"``: ``m`` item prices plus one entry fee paid by any bidder that buys (Sec. 4.3, for
  ``m > 10``): the best bundle is every item of non-negative surplus (the best ``k`` of them for a
  ``k``-demand bidder, the best single item if none), then buy iff its utility is ``>= 0``;
  :func:`choose_entry_fee`, by sorting.

A :class:`SequentialPolicy` maps ``(bidder, available (B, m))`` to its menu; :meth:`respond` applies
the choice rule. ``save``/``load`` write the parameters as safetensors with the setting and the
constructor's arguments as JSON in the file's metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from econcs.auctions._mechanism import read_meta, save_with_meta
from econcs.auctions.sequential._setting import SequentialSetting
from econcs.shared import check_int, check_type

__all__ = [
    "ItemPricePolicy",
    "SequentialPolicy",
    "SizeTablePolicy",
    "TablePolicy",
    "choose_bundle",
    "choose_entry_fee",
    "choose_size",
    "load_policy",
    "state_index",
]

_META_KEY = "econcs.auctions.sequential"
_REGISTRY: dict[str, type[SequentialPolicy]] = {}
INF = float("inf")


def state_index(available: torch.Tensor) -> torch.Tensor:
    """``(B,)`` long bitmask ``sum_j available[:, j] * 2 ** j`` of ``available`` ``(B, m)``."""
    m = available.shape[-1]
    weights = torch.ones(m, dtype=torch.long, device=available.device) << torch.arange(
        m, device=available.device)
    return (available.long() * weights).sum(-1)


def _first_max_largest(utils: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Index ``(B,)`` of the best column of ``utils`` ``(B, K)``, exact ties to the larger size."""
    best = utils.max(dim=1, keepdim=True).values
    key = torch.where(utils == best, sizes.to(utils.dtype).expand_as(utils), -1.0)
    return key.argmax(dim=1)


def choose_bundle(bundle_values: torch.Tensor, prices: torch.Tensor,
                  sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each buyer's utility-maximising bundle.

    Parameters
    ----------
    bundle_values
        ``(B, K)`` the buyer's value of each bundle.
    prices
        ``(B, K)`` the menu, ``+inf`` for bundles not offered; the empty bundle (column 0) at 0.
    sizes
        ``(K,)`` bundle sizes (exact utility ties go to the larger bundle).

    Returns
    -------
    (bundle (B,) long, payment (B,))
    """
    idx = _first_max_largest(bundle_values - prices, sizes)
    return idx, prices.gather(1, idx.unsqueeze(1)).squeeze(1)


def _sorted_available(values: torch.Tensor, available: torch.Tensor,
                      key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Items sorted by ``key`` (descending), unavailable last: ``(order, sorted values)``."""
    key = torch.where(available, key, -INF)
    order = key.argsort(dim=1, descending=True, stable=True)
    return order, values.gather(1, order)


def choose_size(values: torch.Tensor, available: torch.Tensor,
                prices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An item-valued (additive) buyer facing a price per bundle size.

    Parameters
    ----------
    values
        ``(B, m)`` item values.
    available
        ``(B, m)`` bool, the unsold items.
    prices
        ``(B, m + 1)``: ``prices[:, j]`` for any ``j`` unsold items (``+inf`` for sizes not
        offered, e.g. more than are unsold or than the demand); column 0 is 0.

    Returns
    -------
    (bought (B, m) bool, payment (B,))
    """
    b, m = values.shape
    order, top = _sorted_available(values, available, values)
    top = torch.where(available.gather(1, order), top, 0.0)
    cum = torch.cat([top.new_zeros(b, 1), top.cumsum(1)], dim=1)  # (B, m + 1)
    n_left = available.sum(1, keepdim=True)
    sizes = torch.arange(m + 1, device=values.device)
    prices = torch.where(sizes <= n_left, prices, INF)
    j = _first_max_largest(cum - prices, sizes)
    taken_sorted = sizes[:m].unsqueeze(0) < j.unsqueeze(1)
    bought = torch.zeros_like(available).scatter(1, order, taken_sorted)
    return bought & available, prices.gather(1, j.unsqueeze(1)).squeeze(1)


def choose_entry_fee(values: torch.Tensor, available: torch.Tensor, item_prices: torch.Tensor,
                     fee: torch.Tensor, demand: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """An item-valued buyer facing item prices and an entry fee (paid when buying anything).

    Parameters
    ----------
    values, available, item_prices
        ``(B, m)``; ``fee`` ``(B,)``. ``demand``: at most this many items (``None``: any).

    Returns
    -------
    (bought (B, m) bool, payment (B,))
    """
    m = values.shape[1]
    surplus = values - item_prices
    order, s_sorted = _sorted_available(surplus, available, surplus)
    avail_sorted = available.gather(1, order)
    rank = torch.arange(m, device=values.device).unsqueeze(0)
    take = avail_sorted & ((s_sorted >= 0) | (rank == 0))  # the best single item at least
    if demand is not None:
        take = take & (rank < demand)
    util = torch.where(take, s_sorted, 0.0).sum(1) - fee
    buy = (util >= 0) & avail_sorted[:, 0]
    bought = torch.zeros_like(available).scatter(1, order, take & buy.unsqueeze(1))
    pay = torch.where(bought, item_prices, 0.0).sum(1) + torch.where(buy, fee, 0.0)
    return bought, pay


class SequentialPolicy(nn.Module):
    """Base class: a menu for every state ``(bidder, available items)``.

    Subclasses set :attr:`menu` and implement :meth:`menus`; :meth:`respond` is the bidders'
    choice rule. ``hparams()`` lists the constructor's JSON arguments besides ``setting``.
    """

    #: "bundle", "size" or "entry-fee"
    menu: ClassVar[str] = "bundle"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, setting: SequentialSetting) -> None:
        super().__init__()
        self.setting = check_type(setting, "setting", SequentialSetting)
        self.history_: tuple[dict[str, Any], ...] = ()

    @property
    def device(self) -> torch.device:
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    def menus(self, bidder: int, available: torch.Tensor) -> Any:
        """The menus at ``bidder`` for ``available`` ``(B, m)`` bool: bundle ``(B, 2 ** m)``,
        size ``(B, m + 1)`` prices, or entry-fee ``((B, m) item prices, (B,) fee)``."""
        raise NotImplementedError

    def respond(self, bidder: int, available: torch.Tensor,
                values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bidder ``bidder``'s choice: ``(bought (B, m) bool, payment (B,))`` for its values
        ``(B, m)`` (``(B, 2 ** m)`` in bundle-valued settings) at ``available`` ``(B, m)``."""
        s = self.setting
        kind = self.menu
        if kind == "bundle":
            prices = self.menus(bidder, available)
            return _respond_bundle(s, available, s.bundle_values(values), prices)
        if kind == "size":
            return choose_size(values, available, self.menus(bidder, available))
        item_prices, fee = self.menus(bidder, available)
        return choose_entry_fee(values, available, item_prices, fee, s.demand)

    def hparams(self) -> dict[str, Any]:
        return {}

    # persistence ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the parameters to ``path`` (safetensors), the class, setting and constructor
        arguments as JSON metadata, atomically."""

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        meta = {"class": type(self).__name__, "setting": self.setting.to_dict(),
                "hparams": self.hparams()}
        save_with_meta(path, tensors, _META_KEY, meta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.setting!r})"


def _respond_bundle(s: SequentialSetting, available: torch.Tensor, bundle_values: torch.Tensor,
                    prices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    bundles = s.bundles.to(available.device, bundle_values.dtype)
    outside = (~available).to(bundle_values.dtype) @ bundles.T  # (B, K): items not unsold
    offered = s.offered.to(available.device)
    ok = (outside == 0) & offered
    prices = torch.where(ok, prices, INF)
    prices[:, 0] = 0.0
    idx, pay = choose_bundle(bundle_values, prices, s.bundle_sizes.to(available.device))
    return bundles[idx] > 0.5, pay


def load_policy(path: str | Path, *, setting: SequentialSetting | None = None,
                device: str | torch.device = "cpu") -> SequentialPolicy:
    """Rebuild a policy written by :meth:`SequentialPolicy.save`; ``setting``, when given, must be
    the saved one (``ValueError`` otherwise)."""
    from safetensors.torch import load_file

    meta = read_meta(path, _META_KEY, "SequentialPolicy.save")
    saved = SequentialSetting(**meta["setting"])
    if setting is not None and check_type(setting, "setting", SequentialSetting) != saved:
        raise ValueError(f"setting: the file holds a policy for {saved!r}, not {setting!r}.")
    cls = _REGISTRY.get(meta["class"])
    if cls is None:
        raise ValueError(f"path: unknown policy class {meta['class']!r} (import its module).")
    tensors = load_file(str(path), device=str(torch.device(device)))
    policy = cls.from_tensors(saved, tensors, **meta["hparams"])
    policy.load_state_dict(tensors)
    return policy.eval()


# -- table policies -----------------------------------------------------------------------------
class TablePolicy(SequentialPolicy):
    """A bundle price for every (bidder, state, bundle): ``prices`` ``(n, 2 ** m, 2 ** m)``
    (DP; item-wise and bundle posted prices by DP). Entries of bundles outside the state are
    ignored."""

    menu = "bundle"

    def __init__(self, setting: SequentialSetting, prices: torch.Tensor) -> None:
        super().__init__(setting)
        k = setting.n_bundles
        if setting.menu != "bundle":
            raise ValueError("setting: a TablePolicy needs menu='bundle'.")
        if tuple(prices.shape) != (setting.n_bidders, k, k):
            raise ValueError(f"prices: expected shape ({setting.n_bidders}, {k}, {k}), got "
                             f"{tuple(prices.shape)}.")
        self.register_buffer("prices", prices.detach().clone())

    @classmethod
    def from_tensors(cls, setting, tensors, **hparams):
        return cls(setting, tensors["prices"], **hparams)

    def menus(self, bidder: int, available: torch.Tensor) -> torch.Tensor:
        return self.prices[bidder].index_select(0, state_index(available))


class SizeTablePolicy(SequentialPolicy):
    """A price per (bidder, unsold count ``k``, bundle size ``j``): ``prices`` ``(n, m + 1,
    m + 1)`` (DP-Sym). Sizes above ``k`` (or the demand) are not offered."""

    menu = "size"

    def __init__(self, setting: SequentialSetting, prices: torch.Tensor) -> None:
        super().__init__(setting)
        if setting.bundle_valued:
            raise ValueError(f"setting: size menus need item values (A-D), got "
                             f"{setting.setting!r}.")
        m = setting.n_items
        if tuple(prices.shape) != (setting.n_bidders, m + 1, m + 1):
            raise ValueError(f"prices: expected shape ({setting.n_bidders}, {m + 1}, {m + 1}), "
                             f"got {tuple(prices.shape)}.")
        self.register_buffer("prices", prices.detach().clone())

    @classmethod
    def from_tensors(cls, setting, tensors, **hparams):
        return cls(setting, tensors["prices"], **hparams)

    def menus(self, bidder: int, available: torch.Tensor) -> torch.Tensor:
        p = self.prices[bidder].index_select(0, available.sum(1))
        d = self.setting.demand
        if d is not None:
            sizes = torch.arange(p.shape[1], device=p.device)
            p = torch.where(sizes <= d, p, INF)
        return p


class ItemPricePolicy(SequentialPolicy):
    """Item prices and an entry fee per bidder, the same in every state: ``item_prices``
    ``(n, m)``, ``fee`` ``(n,)`` (optimal item-wise posted prices for additive values)."""

    menu = "entry-fee"

    def __init__(self, setting: SequentialSetting, item_prices: torch.Tensor,
                 fee: torch.Tensor | None = None) -> None:
        super().__init__(setting)
        n, m = setting.n_bidders, setting.n_items
        if setting.bundle_valued:
            raise ValueError(f"setting: item prices need item values (A-D), got "
                             f"{setting.setting!r}.")
        if tuple(item_prices.shape) != (n, m):
            raise ValueError(f"item_prices: expected shape ({n}, {m}), got "
                             f"{tuple(item_prices.shape)}.")
        fee = item_prices.new_zeros(n) if fee is None else fee
        if tuple(fee.shape) != (n,):
            raise ValueError(f"fee: expected shape ({n},), got {tuple(fee.shape)}.")
        self.register_buffer("item_prices", item_prices.detach().clone())
        self.register_buffer("fee", fee.detach().clone())

    @classmethod
    def from_tensors(cls, setting, tensors, **hparams):
        return cls(setting, tensors["item_prices"], tensors["fee"], **hparams)

    def menus(self, bidder: int, available: torch.Tensor):
        b = available.shape[0]
        return (self.item_prices[bidder].expand(b, -1),
                self.fee[bidder].expand(b))


def check_bidder(policy: SequentialPolicy, bidder: int) -> int:
    return check_int(bidder, "bidder", low=0, high=policy.setting.n_bidders - 1)
