"""Sequential combinatorial auction settings A-F (Ravindranath et al. 2024, arXiv 2407.08022, Sec. 5).

Bidders are visited in a fixed order; each faces the items still unsold. A
:class:`SequentialSetting` fixes ``n_bidders``, ``n_items``, the valuation family (a letter of the
paper's Tables 1-3) and the menu family the mechanism posts:

======  ======================================================================================
``A``   additive, every item value ``U[0, 1]``
``B``   additive, item ``j`` (1-based) ``U[0, j / m]``
``C``   unit-demand ``U[0, 1]`` (menus list bundles of at most one item)
``D``   3-demand ``U[0, 1]``: additive over bundles of at most three items
``E``   every bundle ``T`` an independent value ``U[0, sqrt|T|]``
``F``   ``v(T) = sum_{j in T} t_j + c_T``, ``t_j ~ U[1, 2]``, ``c_T ~ U[-|T|, |T|]``
======  ======================================================================================

C and D follow the authors' formulation (``k``-demand = additive values, bundles of more than ``k``
items are not offered). Item values of A-D and the ``t_j`` of F are drawn by the auctions package's
:class:`~econcs.auctions.AuctionSetting` (one batched draw on the device); E and F's bundle terms are
uniforms scaled per bundle.

**Value tensors.** Item-valued settings (A-D) sample ``(batch, n_bidders, n_items)``; bundle-valued
ones (E, F) ``(batch, n_bidders, 2 ** n_items)``, the value of bundle ``T`` at the bitmask index
``sum_{j in T} 2 ** j`` (the empty bundle, index 0, has value 0).

**Menus.** ``"bundle"``: a price for each of the ``2 ** m`` bundles (so ``m <= 10``); ``"entry-fee"``:
``m`` item prices plus one entry fee (item-valued settings, any ``m``).

>>> s = SequentialSetting(n_bidders=2, n_items=3, setting="A")
>>> s.sample(4, generator=torch.Generator().manual_seed(0)).shape
torch.Size([4, 2, 3])
>>> s.bundle_sizes.tolist()
[0, 1, 1, 2, 1, 2, 2, 3]
"""

from __future__ import annotations

import dataclasses
import math
from functools import cached_property

import torch

from econcs.auctions._setting import AuctionSetting
from econcs.shared import check_choice, check_int, check_type

__all__ = ["MAX_BUNDLE_ITEMS", "SETTINGS", "SequentialSetting"]

#: letter -> description (paper Tables 1-3)
SETTINGS: dict[str, str] = {
    "A": "additive U[0,1]",
    "B": "additive, item j ~ U[0, j/m]",
    "C": "unit-demand U[0,1]",
    "D": "3-demand U[0,1]",
    "E": "every bundle an independent U[0, sqrt|T|]",
    "F": "sum of t_j ~ U[1,2] plus c_T ~ U[-|T|, |T|]",
}
MENUS = ("bundle", "entry-fee")
#: largest number of items a bundle menu (one price per bundle) supports
MAX_BUNDLE_ITEMS = 10
_DEMAND = {"A": None, "B": None, "C": 1, "D": 3, "E": None, "F": None}


@dataclasses.dataclass(frozen=True)
class SequentialSetting:
    """A sequential combinatorial auction: who bids in which order, for what, from which prior.

    Parameters
    ----------
    n_bidders
        bidders visited in order ``0, 1, ..., n - 1`` (``>= 1``).
    n_items
        items ``m >= 1``.
    setting
        the valuation family, a letter ``"A"`` ... ``"F"`` (see the module docstring).
    menu
        ``"bundle"`` (a price per bundle; ``m <= 10``) or ``"entry-fee"`` (``m`` item prices and
        an entry fee; settings A-D).

    Raises
    ------
    TypeError, ValueError
        naming the bad argument.
    """

    n_bidders: int
    n_items: int
    setting: str = "A"
    menu: str = "bundle"

    def __post_init__(self) -> None:
        check_int(self.n_bidders, "n_bidders", low=1)
        check_int(self.n_items, "n_items", low=1)
        check_type(self.setting, "setting", str)
        check_choice(self.setting, "setting", tuple(SETTINGS))
        check_type(self.menu, "menu", str)
        check_choice(self.menu, "menu", MENUS)
        m = int(self.n_items)
        if self.menu == "bundle" and m > MAX_BUNDLE_ITEMS:
            raise ValueError(
                f"n_items: a bundle menu prices all 2^m bundles, 2^{m} = {2 ** m} for "
                f"n_items={m}; at most {MAX_BUNDLE_ITEMS} items are supported, use "
                "menu='entry-fee' (m item prices plus an entry fee) for more."
            )
        if self.menu == "entry-fee" and self.bundle_valued:
            raise ValueError(
                f"menu: entry-fee menus need item values (settings A-D); setting "
                f"{self.setting!r} values every bundle separately, use menu='bundle'."
            )
        if self.bundle_valued and m > MAX_BUNDLE_ITEMS:
            raise ValueError(f"n_items: setting {self.setting!r} draws a value for each of the "
                             f"2^m bundles; at most {MAX_BUNDLE_ITEMS} items are supported.")
        object.__setattr__(self, "n_bidders", int(self.n_bidders))
        object.__setattr__(self, "n_items", m)

    # ------------------------------------------------------------------------------------------
    @property
    def bundle_valued(self) -> bool:
        """Whether values are given per bundle (E, F) rather than per item (A-D)."""
        return self.setting in ("E", "F")

    @property
    def demand(self) -> int | None:
        """The most items one bidder may take (C: 1, D: 3), ``None`` when unrestricted."""
        d = _DEMAND[self.setting]
        return None if d is None else min(d, self.n_items)

    @property
    def symmetric(self) -> bool:
        """Whether items are i.i.d. and values item-wise (A, C, D): DP-Sym applies."""
        return self.setting in ("A", "C", "D")

    @property
    def n_bundles(self) -> int:
        """``2 ** n_items`` (bundle-menu settings only)."""
        return 2 ** self.n_items

    @property
    def value_shape(self) -> tuple[int, int]:
        """One sample's value tensor: ``(n_bidders, n_items)`` or ``(n_bidders, 2 ** n_items)``."""
        return (self.n_bidders, self.n_bundles if self.bundle_valued else self.n_items)

    @cached_property
    def item_prior(self) -> AuctionSetting | None:
        """The auctions package's setting that draws the item values (A-D) or ``t_j`` (F)."""
        m = self.n_items
        if self.setting == "E":
            return None
        if self.setting == "B":
            spec = ",".join(f"uniform(0,{(j + 1) / m:.17g})" for j in range(m))
        elif self.setting == "F":
            spec = "uniform(1,2)"
        else:
            spec = "uniform(0,1)"
        return AuctionSetting(self.n_bidders, m, "additive", spec)

    @property
    def item_high(self) -> torch.Tensor:
        """``(n_items,)`` the upper support bound of each item's value (A-D; float64)."""
        m = self.n_items
        if self.setting == "B":
            return torch.arange(1, m + 1, dtype=torch.float64) / m
        return torch.ones(m, dtype=torch.float64)

    # bundles (bundle menus) -------------------------------------------------------------------
    @cached_property
    def bundles(self) -> torch.Tensor:
        """``(2 ** m, m)`` float: row ``T`` is the indicator of the bundle with bitmask ``T``."""
        m = self.n_items
        idx = torch.arange(2 ** min(m, MAX_BUNDLE_ITEMS))
        return ((idx.unsqueeze(1) >> torch.arange(m)) & 1).to(torch.float32)

    @cached_property
    def bundle_sizes(self) -> torch.Tensor:
        """``(2 ** m,)`` long: the number of items in each bundle."""
        return self.bundles.sum(1).long()

    @cached_property
    def offered(self) -> torch.Tensor:
        """``(2 ** m,)`` bool: bundles a menu may offer (all, or at most ``demand`` items)."""
        if self.demand is None:
            return torch.ones(self.n_bundles, dtype=torch.bool)
        return self.bundle_sizes <= self.demand

    # sampling ---------------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw ``n`` value profiles ``(n, *value_shape)`` on ``device`` from ``generator``."""
        n = check_int(n, "n", low=1)
        if generator is not None:
            device = generator.device if device is None else device
        device = torch.device("cpu") if device is None else torch.device(device)
        if self.setting == "E":
            scale = self.bundle_sizes.to(device, dtype).sqrt()
            u = torch.rand((n, *self.value_shape), generator=generator, device=device, dtype=dtype)
            return u * scale
        items = self.item_prior.sample(n, generator=generator, device=device, dtype=dtype)
        if self.setting != "F":
            return items
        sizes = self.bundle_sizes.to(device, dtype)
        c = torch.rand((n, *self.value_shape), generator=generator, device=device, dtype=dtype)
        return items @ self.bundles.to(device, dtype).T + (2 * c - 1) * sizes

    @cached_property
    def bidder_setting(self) -> SequentialSetting:
        """The same setting with one bidder: bidders are i.i.d., so it draws any one's values."""
        return dataclasses.replace(self, n_bidders=1)

    def sample_bidder(self, n: int, *, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``n`` draws ``(n, value_shape[1])`` of one bidder's values (bidders are i.i.d.)."""
        return self.bidder_setting.sample(n, generator=generator, device=device, dtype=dtype)[:, 0]

    def bundle_values(self, values: torch.Tensor) -> torch.Tensor:
        """Each bundle's value ``(..., 2 ** m)`` from one bidder's ``values`` ``(..., m)`` or
        ``(..., 2 ** m)`` (bundle-valued settings: returned as is). Differentiable."""
        if self.bundle_valued:
            return values
        return values @ self.bundles.to(values.device, values.dtype).T

    def check_values(self, values: torch.Tensor, name: str = "values") -> torch.Tensor:
        """Validate value profiles: a finite floating tensor ``(batch >= 1, *value_shape)``."""
        check_type(values, name, torch.Tensor)
        if values.dim() != 3 or tuple(values.shape[1:]) != self.value_shape or not len(values):
            kind = "2 ** n_items" if self.bundle_valued else "n_items"
            raise ValueError(
                f"{name}: expected a tensor of shape (batch, n_bidders={self.n_bidders}, "
                f"{kind}={self.value_shape[1]}) with batch >= 1, got shape "
                f"{tuple(values.shape)}."
            )
        if not values.is_floating_point():
            raise TypeError(f"{name}: expected a floating tensor, got dtype {values.dtype}.")
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"{name}: contains NaN or infinite entries.")
        return values

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def value_bound(self) -> float:
        """The largest value one bidder can have for all items (prices above it sell nothing;
        networks scale their price outputs by it)."""
        if self.setting == "E":
            return math.sqrt(self.n_items)
        if self.setting == "F":
            return 3.0 * self.n_items
        return float(self.item_high.sum())
