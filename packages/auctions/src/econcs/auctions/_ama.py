"""Affine maximizer auctions (AMA) and lottery AMA, trained by gradient.

An affine maximizer picks, from a fixed set of ``K`` allocations ``a_k``, the one maximising the
weighted welfare ``W_k = sum_i w_i <a_ik, v_i> + lambda_k`` (bidder weights ``w_i > 0``, allocation
boosts ``lambda_k``), and charges each bidder its weighted externality
``p_i = (max_k W_k^{-i} - W_{k*}^{-i}) / w_i`` with ``W^{-i}`` the welfare without bidder ``i``'s
term. It is dominant-strategy IC and IR for any ``w``, ``lambda`` (Roberts 1979); VCG is ``w = 1,
lambda = 0``. The **AMA** uses all deterministic allocations; the **lottery AMA** (Curry,
Sandholm, Dickerson, "Differentiable economics for randomized affine maximizer auctions", IJCAI
2023) learns ``K`` randomized allocations too. Training maximises revenue under the softmax
relaxation (argmax -> softmax, max -> ``tau * logsumexp``), as in Dütting et al. (2019, Sec. 6),
with ``tau`` in the welfare units of the least-weighted bidder.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from econcs.auctions._baselines import deterministic_allocations
from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.auctions._training import RevenueParams, fit_revenue, start_generator
from econcs.shared import Callback, check_bool, check_int, make_generator, param, resolve_params

__all__ = ["AffineMaximizer", "AffineMaximizerParams"]


@dataclasses.dataclass(frozen=True)
class AffineMaximizerParams(RevenueParams):
    """Training parameters of :class:`AffineMaximizer`: those of
    :class:`~econcs.auctions._training.RevenueParams`, with the affine maximizers' defaults."""

    max_iter: int = param(2000, "Adam steps", low=1)
    lr: float = param(0.01, "Adam learning rate, decayed by cosine to lr / 20", low=0.0,
                      low_inclusive=False)
    temperature: float = param(0.02, "initial softmax temperature (in the welfare units of the "
                               "least-weighted bidder, relative to the value scale)", low=0.0,
                               low_inclusive=False)


class AffineMaximizer(Mechanism):
    """AMA (``lottery=False``) or lottery AMA (``lottery=True``) with learned weights and boosts.

    Parameters
    ----------
    setting
        the :class:`AuctionSetting`.
    lottery
        learn ``n_allocations`` randomized allocations instead of enumerating the
        deterministic ones (needed when ``(n + 1)^m`` is large).
    n_allocations
        ``K`` for the lottery AMA.

    Examples
    --------
    >>> from econcs.auctions import AuctionSetting
    >>> ama = AffineMaximizer(AuctionSetting(2, 2))
    >>> ama.allocations.shape  # (n + 1)^m deterministic allocations
    torch.Size([9, 2, 2])
    """

    exactly_ic = True
    straight_through = True

    def __init__(self, setting: AuctionSetting, lottery: bool = False, n_allocations: int = 256,
                 *, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None
                 ) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        self.lottery = check_bool(lottery, "lottery")
        self.n_allocations = check_int(n_allocations, "n_allocations", low=1)
        n, m = setting.shape
        if self.lottery:
            k = self.n_allocations
            width = (n + 1) * m + (n * (m + 1) if setting.valuation == "unit-demand" else 0)
            self.alloc_logits = nn.Parameter(torch.zeros(k, width))
        else:
            self.register_buffer("_det", deterministic_allocations(setting))
            k = self._det.shape[0]
        self.log_weights = nn.Parameter(torch.zeros(n))
        self.boosts = nn.Parameter(torch.zeros(k))
        self.to(self.device_, self.dtype_)
        self.reset_parameters(make_generator(0))

    def hparams(self) -> dict[str, Any]:
        return {"lottery": self.lottery, "n_allocations": self.n_allocations}

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Start from VCG (unit weights, zero boosts); lottery logits ``N(0, 2^2)``."""
        with torch.no_grad():
            self.log_weights.zero_()
            self.boosts.zero_()
            if self.lottery:
                z = 2 * torch.randn(self.alloc_logits.shape, generator=generator,
                                    dtype=torch.float64)
                self.alloc_logits.copy_(z)

    @property
    def allocations(self) -> torch.Tensor:
        """``(K, n, m)`` the candidate allocations."""
        if not self.lottery:
            return self._det.to(self.dtype_)
        n, m = self.setting.shape
        k = self.alloc_logits.shape[0]
        z = self.alloc_logits
        item_wise = torch.softmax(z[:, : (n + 1) * m].view(k, n + 1, m), dim=1)[:, :n]
        if self.setting.valuation == "additive":
            return item_wise
        bidder_wise = torch.softmax(z[:, (n + 1) * m:].view(k, n, m + 1), dim=2)[..., :m]
        return torch.minimum(item_wise, bidder_wise)

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        alloc_set = self.allocations  # (K, n, m)
        w = torch.exp(self.log_weights)  # (n,)
        per = torch.einsum("bim,kim->bki", reports, alloc_set) * w  # (B, K, n) weighted values
        welfare = per.sum(-1) + self.boosts  # (B, K)
        without = welfare.unsqueeze(-1) - per  # (B, K, n) welfare without bidder i's term
        if temperature is None:
            best = welfare.argmax(dim=1)
            alloc = alloc_set[best]
            chosen = without.gather(1, best.view(-1, 1, 1).expand(-1, 1, without.shape[2]))
            pay = (without.amax(dim=1) - chosen.squeeze(1)) / w
            return alloc, pay.clamp(min=0.0)
        # temperature in the welfare units of the least-weighted bidder: the relaxation lets a
        # payment exceed the hard one by up to ~ t log K / w_i (the softened argmax and max), so
        # with t fixed in welfare units, training shrinks some w_i and inflates the soft revenue
        # without bound; scaled by min(w), the slack is at most ~ temperature * log K per bidder
        t = temperature * w.detach().min()
        probs = torch.softmax(welfare / t, dim=1)
        alloc = torch.einsum("bk,kim->bim", probs, alloc_set)
        soft_max = t * torch.logsumexp(without / t, dim=1)
        pay = (soft_max - (probs.unsqueeze(-1) * without).sum(1)) / w
        return alloc, pay

    def fit(self, params: AffineMaximizerParams | None = None, /, *, seed: int = 0,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            resume: tuple[int, dict[str, Any]] | None = None, **overrides: Any
            ) -> AffineMaximizer:
        """Maximise revenue of the softmax relaxation (see
        :func:`~econcs.auctions._training.fit_revenue`) with the :class:`AffineMaximizerParams`
        ``params`` or keyword ``overrides`` of them; ``seed`` / ``generator``, ``callback`` and
        ``resume`` as in :meth:`RochetNet.fit`. Returns ``self``."""
        p = resolve_params(AffineMaximizerParams, params, **overrides)
        fit_revenue(self, list(self.parameters()), p, generator=start_generator(seed, generator),
                    callback=callback, resume=resume)
        return self
