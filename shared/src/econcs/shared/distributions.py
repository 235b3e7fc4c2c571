"""Product distributions of values parsed from strings, sampled in batches on any device.

A *spec* describes the independent distribution of each (bidder, item) value:

- one distribution for every (bidder, item): ``"uniform(0,1)"``;
- a comma list with one distribution per item: ``"uniform(4,16),uniform(4,7)"``;
- ``|``-separated lists per bidder (asymmetric bidders): ``"uniform(0,1)|uniform(0,2)"``.

Families: ``uniform(low,high)``, ``exponential(mean)``, ``beta(a,b)``, ``normal(mu,sigma)``. Any family
can be truncated to ``[lo,hi]`` by a suffix: ``normal(0.5,0.125)[0,1]``, ``exponential(3)[0,10]``.
Truncated sampling is exact (inverse CDF restricted to the truncated range), not rejection.

>>> d = parse_distribution("uniform(4,16),uniform(4,7)", n_bidders=1, n_items=2)
>>> d.sample(3, generator=torch.Generator().manual_seed(0)).shape
torch.Size([3, 1, 2])
>>> d.high.tolist()
[[16.0, 7.0]]
"""

from __future__ import annotations

import dataclasses
import math
import re

import torch
from scipy import special

from econcs.shared.validation import check_int, check_type

__all__ = ["Marginal", "ValueDistribution", "parse_distribution", "sample_dirichlet"]

_FAMILY_ARITY = {"uniform": 2, "exponential": 1, "beta": 2, "normal": 2}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(
    rf"^(?P<fam>[a-z]+)\((?P<args>[^()]*)\)(?:\[(?P<lo>{_NUM}|-inf),(?P<hi>{_NUM}|inf)\])?$"
)


@dataclasses.dataclass(frozen=True)
class Marginal:
    """One univariate distribution, possibly truncated to ``[low, high]`` (its support)."""

    family: str
    params: tuple[float, ...]
    low: float
    high: float

    def __str__(self) -> str:
        core = f"{self.family}({','.join(f'{p:g}' for p in self.params)})"
        natural = _natural_support(self.family, self.params)
        if (self.low, self.high) != natural:
            core += f"[{self.low:g},{self.high:g}]"
        return core

    @property
    def mean(self) -> float:
        """The mean of the (truncated) distribution, by midpoint quadrature of its quantile."""
        u = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000
        return float(self._icdf(u).mean())

    def quantile(self, q: torch.Tensor | float) -> torch.Tensor:
        """The quantile function of the (truncated) distribution at ``q`` in ``[0, 1]`` (float64).

        >>> Marginal("exponential", (2.0,), 0.0, float("inf")).quantile(0.5).item()  # 2 ln 2
        1.3862943611198906
        """
        q = torch.as_tensor(q, dtype=torch.float64)
        if bool(((q < 0) | (q > 1) | torch.isnan(q)).any()):
            raise ValueError("q: expected probabilities in [0, 1].")
        return self._icdf(q)

    def _cdf(self, x: float) -> float:
        f, p = self.family, self.params
        if f == "uniform":
            return min(max((x - p[0]) / (p[1] - p[0]), 0.0), 1.0)
        if f == "exponential":
            return 1 - math.exp(-max(x, 0.0) / p[0])
        if f == "normal":
            return float(special.ndtr((x - p[0]) / p[1]))
        return float(special.betainc(p[0], p[1], min(max(x, 0.0), 1.0)))

    def _base_icdf(self, u: torch.Tensor) -> torch.Tensor:
        f, p = self.family, self.params
        if f == "uniform":
            return p[0] + (p[1] - p[0]) * u
        if f == "exponential":
            return -p[0] * torch.log1p(-u)
        if f == "normal":
            return p[0] + p[1] * math.sqrt(2) * torch.erfinv(2 * u - 1)
        # torch has no inverse incomplete beta: scipy's, vectorised on the CPU
        q = special.betaincinv(p[0], p[1], u.detach().cpu().numpy())
        return torch.as_tensor(q, dtype=u.dtype, device=u.device)

    def _icdf(self, u: torch.Tensor) -> torch.Tensor:
        """Quantile of the truncated distribution: ``F^-1(F(lo) + u (F(hi) - F(lo)))``."""
        if (self.low, self.high) != _natural_support(self.family, self.params):
            f_lo = self._cdf(self.low) if math.isfinite(self.low) else 0.0
            f_hi = self._cdf(self.high) if math.isfinite(self.high) else 1.0
            u = f_lo + u * (f_hi - f_lo)
        return self._base_icdf(u).clamp(self.low, self.high)


def _natural_support(family: str, params: tuple[float, ...]) -> tuple[float, float]:
    if family == "uniform":
        return (params[0], params[1])
    if family == "exponential":
        return (0.0, math.inf)
    if family == "beta":
        return (0.0, 1.0)
    return (-math.inf, math.inf)


def _parse_marginal(token: str, spec: str) -> Marginal:
    m = _TOKEN.match(token.replace(" ", ""))
    if m is None:
        raise ValueError(
            f"values: cannot parse {token!r} in {spec!r}; expected e.g. 'uniform(0,1)', "
            "'exponential(3)', 'beta(2,2)' or 'normal(0.5,0.125)[0,1]'."
        )
    fam = m["fam"]
    if fam not in _FAMILY_ARITY:
        raise ValueError(
            f"values: unknown distribution {fam!r} in {spec!r}; expected one of "
            f"{', '.join(_FAMILY_ARITY)}."
        )
    try:
        params = tuple(float(a) for a in m["args"].split(",")) if m["args"] else ()
    except ValueError:
        raise ValueError(f"values: non-numeric parameter in {token!r}.") from None
    if len(params) != _FAMILY_ARITY[fam] or not all(math.isfinite(p) for p in params):
        raise ValueError(
            f"values: {fam} takes {_FAMILY_ARITY[fam]} finite parameter(s), got {token!r}."
        )
    if fam == "uniform" and not params[0] < params[1]:
        raise ValueError(f"values: uniform(low,high) needs low < high, got {token!r}.")
    if fam == "exponential" and params[0] <= 0:
        raise ValueError(f"values: exponential(mean) needs mean > 0, got {token!r}.")
    if fam in ("beta",) and min(params) <= 0:
        raise ValueError(f"values: beta(a,b) needs a, b > 0, got {token!r}.")
    if fam == "normal" and params[1] <= 0:
        raise ValueError(f"values: normal(mu,sigma) needs sigma > 0, got {token!r}.")
    low, high = _natural_support(fam, params)
    if m["lo"] is not None:
        t_lo, t_hi = float(m["lo"]), float(m["hi"])
        if not t_lo < t_hi:
            raise ValueError(f"values: truncation [lo,hi] needs lo < hi, got {token!r}.")
        low, high = max(low, t_lo), min(high, t_hi)
        if not low < high:
            raise ValueError(f"values: truncation of {token!r} leaves an empty support.")
    return Marginal(fam, params, low, high)


@dataclasses.dataclass(frozen=True)
class ValueDistribution:
    """Independent marginals for every (bidder, item): ``marginals[i][j]``.

    Attributes
    ----------
    spec
        the string it was parsed from.
    low, high
        tensors ``(n_bidders, n_items)``, the support bounds (may be infinite).
    """

    spec: str
    marginals: tuple[tuple[Marginal, ...], ...]

    @property
    def n_bidders(self) -> int:
        return len(self.marginals)

    @property
    def n_items(self) -> int:
        return len(self.marginals[0])

    @property
    def low(self) -> torch.Tensor:
        return torch.tensor([[m.low for m in row] for row in self.marginals], dtype=torch.float64)

    @property
    def high(self) -> torch.Tensor:
        return torch.tensor([[m.high for m in row] for row in self.marginals], dtype=torch.float64)

    @property
    def is_bounded(self) -> bool:
        return bool(torch.isfinite(self.low).all() and torch.isfinite(self.high).all())

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw ``n`` value profiles: a tensor ``(n, n_bidders, n_items)`` on ``device``.

        Uniforms come from ``generator`` (which must live on ``device``); each marginal is its
        inverse CDF applied to them, so one batched draw serves every family.
        """
        n = check_int(n, "n", low=1)
        if generator is not None:
            check_type(generator, "generator", torch.Generator)
            device = generator.device if device is None else torch.device(device)
        device = torch.device("cpu") if device is None else torch.device(device)
        u = torch.rand(
            (n, self.n_bidders, self.n_items),
            generator=generator,
            device=device,
            dtype=torch.float64,
        )
        u = u.clamp(1e-12, 1 - 1e-12)
        out = torch.empty_like(u)
        groups: dict[Marginal, list[tuple[int, int]]] = {}
        for i, row in enumerate(self.marginals):
            for j, m in enumerate(row):
                groups.setdefault(m, []).append((i, j))
        for m, cells in groups.items():  # a loop over distinct marginals, not over samples
            if len(cells) == self.n_bidders * self.n_items:
                out = m._icdf(u)
                break
            ii = torch.tensor([c[0] for c in cells], device=device)
            jj = torch.tensor([c[1] for c in cells], device=device)
            out[:, ii, jj] = m._icdf(u[:, ii, jj])
        return out.to(dtype)


def parse_distribution(spec: str, n_bidders: int, n_items: int) -> ValueDistribution:
    """Parse ``spec`` into a ``ValueDistribution`` for ``n_bidders`` x ``n_items`` values.

    Raises ``ValueError`` naming ``values`` for malformed specs, unknown families, invalid
    parameters, or lists whose length matches neither 1 nor ``n_items`` (``n_bidders`` for ``|``).
    """
    check_type(spec, "values", str)
    n_bidders = check_int(n_bidders, "n_bidders", low=1)
    n_items = check_int(n_items, "n_items", low=1)
    text = spec.replace(" ", "")
    if not text:
        raise ValueError("values: expected a distribution spec such as 'uniform(0,1)', got ''.")
    bidder_specs = text.split("|")
    if len(bidder_specs) not in (1, n_bidders):
        raise ValueError(
            f"values: {len(bidder_specs)} '|'-separated bidder lists for n_bidders={n_bidders}; "
            "give one list for all bidders or one per bidder."
        )
    rows = []
    for bspec in bidder_specs:
        tokens = re.findall(r"[a-z]+\([^()]*\)(?:\[[^\]]*\])?|[^,]+", bspec)
        joined = ",".join(tokens)
        if joined != bspec:
            raise ValueError(f"values: cannot parse {bspec!r} in {spec!r}.")
        marg = [_parse_marginal(t, spec) for t in tokens]
        if len(marg) == 1:
            marg = marg * n_items
        if len(marg) != n_items:
            raise ValueError(
                f"values: {len(marg)} distributions in {bspec!r} for n_items={n_items}; give one "
                "for all items or one per item."
            )
        rows.append(tuple(marg))
    if len(rows) == 1:
        rows = rows * n_bidders
    return ValueDistribution(spec, tuple(rows))


def sample_dirichlet(concentration: torch.Tensor, *, generator: torch.Generator | None = None,
                     dtype: torch.dtype | None = None) -> torch.Tensor:
    """One ``Dirichlet(concentration[..., :])`` draw per slice along the last axis, seeded.

    ``torch.distributions.Dirichlet.sample`` takes no generator (it draws from the global RNG),
    so this samples Gamma variates by Marsaglia and Tsang (2000) on ``alpha + 1`` (rejection,
    vectorised: every rejected entry is redrawn together), boosts them by ``U ** (1 / alpha)``
    for ``alpha`` below 1 as well, and normalises. Every draw comes from ``generator`` (on the
    concentration's device), in float64.

    Parameters
    ----------
    concentration
        ``(..., n)`` positive, finite concentrations (any leading shape: one draw each).
    generator
        the ``torch.Generator`` the draws come from (default: the global one).
    dtype
        of the result (default: ``concentration``'s floating dtype).

    Returns
    -------
    torch.Tensor, shape (..., n)
        non-negative rows summing to 1; not differentiable.

    Examples
    --------
    >>> x = sample_dirichlet(torch.full((4, 3), 0.5), generator=torch.Generator().manual_seed(0))
    >>> x.shape, bool(torch.allclose(x.sum(-1), torch.ones(4)))
    (torch.Size([4, 3]), True)
    """
    check_type(concentration, "concentration", torch.Tensor)
    if concentration.dim() < 1 or concentration.shape[-1] < 1:
        raise ValueError(f"concentration: expected shape (..., n) with n >= 1, got "
                         f"{tuple(concentration.shape)}.")
    if dtype is None:
        dtype = (concentration.dtype if torch.is_floating_point(concentration)
                 else torch.get_default_dtype())
    conc = concentration.detach().to(torch.float64)
    if conc.numel() and not bool(((conc > 0) & torch.isfinite(conc)).all()):
        raise ValueError(f"concentration: expected positive finite values, got values in "
                         f"[{float(conc.min()):.3g}, {float(conc.max()):.3g}].")
    shape, dev = conc.shape, conc.device
    d = conc + 1.0 - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty(shape, dtype=torch.float64, device=dev)
    todo = torch.ones(shape, dtype=torch.bool, device=dev)
    while bool(todo.any()):
        z = torch.randn(shape, generator=generator, dtype=torch.float64, device=dev)
        u = torch.rand(shape, generator=generator, dtype=torch.float64, device=dev)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z**2 + d - d * v
                        + d * torch.log(v.clamp_min(1e-300)))
        take = todo & ok
        out[take] = (d * v)[take]
        todo &= ~ok
    boost = torch.rand(shape, generator=generator, dtype=torch.float64, device=dev) ** (1.0 / conc)
    g = (out * boost).clamp_min(1e-300)
    return (g / g.sum(-1, keepdim=True)).to(dtype)
