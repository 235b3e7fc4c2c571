"""RegretNet: multi-bidder auctions learned with a regret constraint (Dütting et al. 2019, Sec. 4).

Two MLPs (tanh, Glorot-uniform init) read the flattened bids ``(n * m)``:

- the **allocation network**: additive bidders, a softmax over the bidders and a dummy for every
  item (each item allocated at most once); unit-demand bidders, the elementwise minimum of a
  bidder-wise softmax (over items and a dummy item) and an item-wise softmax (over bidders and a
  dummy bidder), which is a feasible lottery for both constraints;
- the **payment network**: ``p_i = sigmoid(q_i) * sum_j a_ij b_ij``, a fraction of the bidder's
  reported value for its allocation, so truthful bidders are individually rational.

One item and i.i.d. bidders (``symmetric``, the default there): one allocation and one payment
network shared by the bidders, each reading its bid and its bid less the others' highest (the
permutation-equivariant form of Rahme et al. 2021 with the single-item sufficient statistic):
bidder ``i``'s logit (beside a fixed 0 for keeping the item) and payment fraction are functions
of ``(b_i, b_i - max_{j != i} b_j)``, the pair Myerson's auction depends on.

Training maximises revenue subject to zero ex-post regret with the augmented Lagrangian
(:class:`econcs.shared.AugmentedLagrangian`, Sec. 4.2): ``rgt_i`` is the batch mean of
``relu(u_i(misreport) - u_i(truth))``; the misreports are found by gradient ascent
(the iterates of :func:`econcs.shared.best_response_search`) started from a cache kept per
training profile and written back after every step. Every step, eager or replayed as a CUDA graph
(``fit(capture=True)``), runs through one function, ``econcs.auctions._captured.RegretNetStep``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import nn

from econcs.auctions._captured import RegretNetStep, run_steps, step_optimizer
from econcs.auctions._mechanism import Mechanism
from econcs.auctions._setting import AuctionSetting
from econcs.auctions._single_item import deviation_bids, single_item_regret
from econcs.auctions._training import start_generator
from econcs.shared import (
    AugmentedLagrangian,
    Callback,
    Params,
    check_bool,
    check_int,
    history_tuple,
    make_generator,
    misreport_gradient,
    param,
    resolve_params,
)

__all__ = ["RegretNet", "RegretNetParams", "mlp"]

SYMMETRIC_HIDDEN = 16  # hidden units of the shared per-bidder networks (one item, i.i.d.)


@dataclasses.dataclass(frozen=True)
class RegretNetParams(Params):
    """Training parameters of :class:`RegretNet` (Dütting et al. 2019, Sec. 4.2).

    The defaults are the authors' recipe (batch 128, Adam 1e-3, 640k profiles, 25 misreport
    steps, multipliers every 100, rho 1 growing by 5) with the penalty schedule scaled to
    ``max_iter``, on a short default budget: with ``max_iter`` left unset, several items train
    2000 steps of 10 misreport steps on 16,384 cached profiles (a first run of about a minute;
    :meth:`resolved`); any ``max_iter`` given gets the authors' 25 steps and 640k profiles
    unless those are set too. On 2x2 at 100k-400k updates it earns ~1% more at the same regret than batch 256,
    lr 2e-3, 65,536 profiles and 10 misreport steps; on short budgets the two are alike
    (measurements in the package MEASUREMENTS.md).

    ``rho_every``: by default ``rho`` grows forty times over the run, so it ends at 201, the
    authors' 2x2 schedule of +5 every 10k of 400k updates.

    One item: the misreports are the best of an exact grid each step (``grid_points``), and
    ``max_iter``, ``lr``, ``rho``, ``rho_increment`` have their own defaults (:meth:`resolved`).
    With i.i.d. bidders (the shared 16-unit per-bidder networks, :class:`RegretNet`) the
    default runs reach revenue within 2% of Myerson's optimum at exact regret <= 1e-3 for 2, 3
    and 5 bidders with U[0,1] and exponential(3) values on seeds 0-2, in 29-77 CPU seconds
    (package README, "One item").
    """

    max_iter: int | None = param(None, "network updates (Adam; lr decayed by cosine to lr / 10 "
                                 "in the second half); default 2000, one item 1500-6500 "
                                 "(RegretNetParams.resolved)", low=1)
    batch_size: int = param(128, "profiles per update", low=1)
    lr: float | None = param(None, "Adam learning rate; default 1e-3, one item 4e-3", low=0.0,
                             low_inclusive=False)
    n_train: int | None = param(None, "fixed training profiles (each with a cached misreport); "
                                "default 640,000 (the authors'), 16,384 when max_iter is unset "
                                "and there are several items", low=1)
    misreport_steps: int | None = param(None, "misreport ascent steps per update (refreshing "
                                        "the batch's cached misreports); default 25 (the "
                                        "authors'), 10 when max_iter is unset and there are "
                                        "several items", low=0)
    misreport_lr: float = param(0.1, "misreport ascent step (Adam, in units of the support "
                                "width)", low=0.0, low_inclusive=False)
    rho: float | None = param(None, "initial augmented-Lagrangian penalty; default 1, one item "
                              "by setting (RegretNetParams.resolved)", low=0.0,
                              low_inclusive=False)
    rho_increment: float | None = param(None, "penalty increment, every rho_every steps; "
                                        "default 5, one item twice rho's default", low=0.0)
    rho_every: int | None = param(None, "steps between penalty increments (default: "
                                  "max_iter // 40; paper: 10000 of 400000)", low=1)
    lambda_init: float = param(5.0, "initial multipliers (paper: 5; 1 for 5x10)")
    lambda_every: int = param(100, "steps between multiplier updates", low=1)
    grid_points: int = param(16, "one item: each step's misreports are the best of a randomly "
                             "shifted grid of this many reports per bidder, zoomed once "
                             "(the exact regret; 0: gradient ascent as for several items)", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_train is not None and self.n_train < self.batch_size:
            raise ValueError(f"n_train: expected at least batch_size={self.batch_size} "
                             f"profiles, got {self.n_train}.")
        if self.grid_points == 1:
            raise ValueError("grid_points: expected 0 (gradient ascent) or >= 2 reports.")

    def resolved(self, n_bidders: int, n_items: int, *, bounded: bool = True,
                 symmetric: bool = False) -> RegretNetParams:
        """These parameters with every ``None`` default filled in for ``n_bidders x n_items``:
        the authors' recipe (lr 1e-3, rho 1 +5, 25 misreport steps, 640k profiles) on 2000
        steps, with 10 misreport steps on 16,384 profiles when ``max_iter`` is unset (the
        cached misreports warm up: each profile is drawn ~16 times; at 640k, less than once).

        One item trained on the exact grid regret (``grid_points > 0``), lr 4e-3:

        - the shared per-bidder networks (``symmetric``, i.i.d. bidders): 2500 steps at rho
          ``10 n`` growing by ``20 n`` on bounded values; unbounded values (``bounded=False``,
          e.g. exponential), whose regret target of 1e-3 is tighter relative to the values,
          rho 8 +16 over 6500 steps for 2 bidders and 4500 for 3 and, as each step costs
          ~``n^2``, 2500 steps at rho 10 +20 from 4 bidders (2 bidders exponential(3), seeds
          1 / 2: -1.53% / -1.87% at 4500 steps, -0.78% / -1.56% at 6500; 5 bidders: +0.54% /
          +0.69% at regret 9.7e-4 / 8.4e-4 at rho 8, -0.13% / +0.25% at 8.3e-4 / 6.9e-4 at
          rho 10). Each extra
          bidder lets the networks buy more revenue with the same regret per bidder (5
          bidders U[0,1] at rho 12: +2.8% above the optimum at regret 2.7e-4), hence ``10 n``;
        - one network over all bids (asymmetric bidders, ``symmetric=False``): 1500 steps (3000
          for 4 or more bidders) at rho ``60 / n`` +``120 / n``, each bidder's regret held
          against its share ``1 / n`` of the revenue; unbounded values 4500 steps at ``20 / n``
          +``40 / n``. MEASUREMENTS.md has the runs behind both."""
        one = n_items == 1 and self.grid_points > 0
        n = n_bidders
        short = self.max_iter is None and not one  # the default budget of several items
        recipe = {"n_train": 16_384 if short else 640_000,
                  "misreport_steps": 10 if short else 25}
        if one and symmetric:  # the shared per-bidder networks (RegretNet(symmetric=True))
            steps = 2500 if bounded else {2: 6500, 3: 4500}.get(n, 2500)
            rho = 10.0 * n if bounded else (8.0 if n <= 3 else 10.0)
            auto = {"max_iter": steps, "lr": 4e-3, "rho": rho, "rho_increment": 2 * rho}
        elif one and not bounded:
            auto = {"max_iter": 4500, "lr": 4e-3, "rho": 20.0 / n, "rho_increment": 40.0 / n}
        else:  # one item, 4 or more bidders: 3000 steps (5 bidders U[0,1] seed 1: -2.01% at 1500)
            steps = (1500 if n <= 3 else 3000) if one else 2000
            auto = {"max_iter": steps, "lr": 4e-3 if one else 1e-3,
                    "rho": 60.0 / n if one else 1.0, "rho_increment": 120.0 / n if one else 5.0}
        return dataclasses.replace(self, **{k: v for k, v in {**recipe, **auto}.items()
                                            if getattr(self, k) is None})


def _input_scale(setting: AuctionSetting) -> torch.Tensor:
    """``(n, m)`` what the networks divide ``value - low`` by: the support width, or for an
    unbounded law its 0.9 quantile above ``low`` (exponential(3): 6.9, not the 27.6 of the
    ``1 - 1e-4`` quantile that bounds the search, which left the bulk of values below 0.2)."""
    scale = (setting.search_high - setting.low).clone()
    for i, row in enumerate(setting.distribution.marginals):
        for j, marg in enumerate(row):
            if not math.isfinite(marg.high):
                q = float(marg.quantile(torch.tensor([0.9], dtype=torch.float64))[0])
                scale[i, j] = q - marg.low
    return scale


def _quantile_table(setting: AuctionSetting, size: int = 1025) -> torch.Tensor:
    """``(size, n)`` each bidder's single-item value at evenly spaced probabilities from its
    lower bound to its search bound (:attr:`AuctionSetting.search_high`)."""
    cols = []
    for i, row in enumerate(setting.distribution.marginals):
        marg = row[0]
        top = float(setting.search_high[i, 0])
        p_hi = 1.0 if math.isfinite(marg.high) else 1 - 1e-4  # as search_high
        q = torch.linspace(0, p_hi, size, dtype=torch.float64)
        cols.append(marg.quantile(q).clamp(max=top))
    return torch.stack(cols, dim=1)


def _pair_features(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` normalised bids -> ``(..., n, 2)``: each bid and the bid less the others'
    highest (ties: 0 for both top bidders)."""
    top = x.topk(2, dim=-1).values
    others = torch.where(x >= top[..., :1], top[..., 1:], top[..., :1])
    return torch.stack([x, x - others], dim=-1)


def _lottery(logits: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` bidder logits -> winning probabilities beside a fixed logit 0 for the seller
    keeping the item."""
    keep = torch.zeros_like(logits[..., :1])
    return torch.softmax(torch.cat([logits, keep], dim=-1), dim=-1)[..., :-1]


def mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` tanh hidden layers of width ``hidden`` then a linear output."""
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.Tanh()]
        width = hidden
    mods.append(nn.Linear(width, n_out))
    return nn.Sequential(*mods)


class RegretNet(Mechanism):
    """Allocation and payment networks trained for revenue at (near) zero regret.

    Parameters
    ----------
    setting
        the :class:`AuctionSetting` (additive or unit-demand, any ``n``, ``m``).
    hidden
        width of the hidden layers (default: 100 as in the paper; one item: 32, or 16 for the
        shared per-bidder networks).
    layers
        hidden layers per network (paper: 2; 5 for 3x10 and 5x10).
    symmetric
        one item: one allocation and one payment network shared by the bidders, reading
        ``(b_i, b_i - max_{j != i} b_j)`` per bidder (outputs ``(B, n)`` logits beside a fixed
        0 for the seller, and payment fractions). Default: on for i.i.d. bidders (where an
        optimal auction is symmetric and depends on these two numbers: Myerson 1981), off
        otherwise; ``ValueError`` with several items or one bidder.
    device, dtype
        placement and precision (``float32`` default).

    Attributes
    ----------
    history_ : tuple of ``{"step", "revenue", "regret", "rho", "lambda"}`` recorded by :meth:`fit`.

    >>> from econcs.auctions import AuctionSetting
    >>> mech = RegretNet(AuctionSetting(2, 2), hidden=16).fit(max_iter=5, seed=0)
    >>> [t.shape for t in mech(torch.rand(4, 2, 2))]
    [torch.Size([4, 2, 2]), torch.Size([4, 2])]
    """

    def __init__(self, setting: AuctionSetting, hidden: int | None = None, layers: int = 2, *,
                 symmetric: bool | None = None, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype | None = None) -> None:
        super().__init__(setting, device=device, dtype=dtype)
        n, m = setting.shape
        if symmetric is None:
            symmetric = m == 1 and n > 1 and len(set(setting.distribution.marginals)) == 1
        self.symmetric = check_bool(symmetric, "symmetric")
        if self.symmetric and (m != 1 or n < 2):
            raise ValueError(f"symmetric: the shared per-bidder networks need one item and at "
                             f"least 2 bidders, got {n} x {m}; pass symmetric=False.")
        if hidden is None:
            hidden = (SYMMETRIC_HIDDEN if self.symmetric else 32) if m == 1 else 100
        self.hidden = check_int(hidden, "hidden", low=1)
        self.layers = check_int(layers, "layers", low=1)
        if self.symmetric:  # per bidder: (bid, bid - others' highest) -> logit, payment fraction
            self.alloc_net = mlp(2, 1, self.hidden, self.layers)
            self.pay_net = mlp(2, 1, self.hidden, self.layers)
        else:
            n_alloc = (n + 1) * m if setting.valuation == "additive" else \
                (n + 1) * m + n * (m + 1)
            self.alloc_net = mlp(n * m, n_alloc, self.hidden, self.layers)
            self.pay_net = mlp(n * m, n, self.hidden, self.layers)
        self.register_buffer("_input_scale", _input_scale(setting).to(self.device_, self.dtype_),
                             persistent=False)
        self.to(self.device_, self.dtype_)
        self.reset_parameters(make_generator(0))

    HPARAMS_BEFORE: ClassVar[dict[str, Any]] = {"symmetric": False}  # saved before it existed

    def hparams(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "symmetric": self.symmetric}

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Glorot-uniform weights, zero biases (drawn on the CPU, then copied)."""
        with torch.no_grad():
            for mod in self.modules():
                if isinstance(mod, nn.Linear):
                    w = torch.empty(mod.weight.shape, dtype=torch.float64)
                    nn.init.xavier_uniform_(w, generator=generator)
                    mod.weight.copy_(w)
                    mod.bias.zero_()

    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b = reports.shape[0]
        n, m = self.setting.shape
        # normalise the bids to the support so the nets see O(1) inputs
        x = ((reports - self._low) / self._input_scale).reshape(b, n * m)
        if self.symmetric:
            feats = _pair_features(x)  # (b, n, 2)
            alloc = _lottery(self.alloc_net(feats)[..., 0]).unsqueeze(-1)
            frac = torch.sigmoid(self.pay_net(feats)[..., 0])
            return alloc, frac * alloc[..., 0] * reports[..., 0]
        out = self.alloc_net(x)
        if self.setting.valuation == "additive":
            alloc = torch.softmax(out.view(b, n + 1, m), dim=1)[:, :n]
        else:
            item_wise = torch.softmax(out[:, : (n + 1) * m].view(b, n + 1, m), dim=1)[:, :n]
            bidder_wise = torch.softmax(out[:, (n + 1) * m:].view(b, n, m + 1), dim=2)[..., :m]
            alloc = torch.minimum(item_wise, bidder_wise)
        frac = torch.sigmoid(self.pay_net(x))
        pay = frac * (alloc * reports).sum(-1)
        return alloc, pay

    def _deviation(self, values: torch.Tensor, reports: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared per-bidder networks: bidder ``i``'s allocation and payment ``(B, G, n)`` when
        it alone reports ``reports[b, g, i]`` (``values (B, n, 1)``), as
        :func:`~econcs.auctions._single_item.deviations` of :meth:`outcome` computes them, with
        the payment network run for the deviating bidder only (5 bidders: the training grid
        search takes 20 ms instead of 32)."""
        bids = deviation_bids(values, reports)  # (b, g, n, n)
        feats = _pair_features((bids - self._low[:, 0]) / self._input_scale[:, 0])
        gain = _lottery(self.alloc_net(feats)[..., 0]).diagonal(dim1=2, dim2=3)  # (b, g, n)
        own = feats.diagonal(dim1=2, dim2=3).movedim(-1, 2)  # (b, g, n, 2): the deviator's
        return gain, torch.sigmoid(self.pay_net(own)[..., 0]) * gain * reports

    # -- training --------------------------------------------------------------------------------
    def fit(self, params: RegretNetParams | None = None, /, *, compile: bool = False,
            capture: bool = False, seed: int = 0, generator: torch.Generator | None = None,
            callback: Callback | None = None, resume: tuple[int, dict[str, Any]] | None = None,
            **overrides: Any) -> RegretNet:
        """Augmented-Lagrangian training on a fixed training set of ``n_train`` profiles.

        Parameters
        ----------
        params, overrides
            the :class:`RegretNetParams` (default ``RegretNetParams()``, the authors' recipe),
            or keyword overrides of them (``fit(max_iter=500)``).
        compile
            compile the misreport gradient (:func:`econcs.shared.misreport_gradient`; needs a
            C++ compiler on the CPU): the same steps up to float rounding (runs drift apart
            slowly), 1.25-1.4x faster on 2x2 on the CPU, where the misreport steps are most of
            the time; no faster on 5x10 on a GPU.
        capture
            on CUDA, record the training step (misreport ascent, loss, backward, Adam; one
            static function, ``econcs.auctions._captured.RegretNetStep``, which every run uses)
            once as a CUDA graph with ``capturable`` Adam and replay it, where the eager step is
            launch-bound: the same iterates up to float rounding (capturable Adam). Elsewhere no
            effect: the step runs eagerly either way. Not for the one-item grid search
            (``grid_points > 0`` with one item).
        seed, generator
            randomness (initialisation, training set, batches, misreport starts).
        callback, resume
            checkpointing hooks (:class:`econcs.shared.Callback`; ``resume=(step, state)``
            continues from a ``state_fn()``).

        Raises
        ------
        econcs.shared.DivergenceError
            when the revenue, regret or loss of a step is not finite, naming the step (and what
            to lower); checked where
            the metrics are read anyway (every 100 steps, at the last and when the callback
            reads the metrics or the state), so a diverged run stops within 100 steps and is
            never checkpointed (``econcs.auctions._captured.run_steps``).
        """
        p = resolve_params(RegretNetParams, params, **overrides).resolved(
            *self.setting.shape, bounded=self.setting.distribution.is_bounded,
            symmetric=self.symmetric)
        max_iter, batch_size, n_train, lr = p.max_iter, p.batch_size, p.n_train, p.lr
        rho_every = max(max_iter // 40, 1) if p.rho_every is None else p.rho_every
        gradient = misreport_gradient(self.outcome, compile=check_bool(compile, "compile"))
        gen = start_generator(seed, generator)
        dev, dt = self.device_, self.dtype_
        n = self.setting.n_bidders
        width = self._high - self._low
        grid = self.setting.n_items == 1 and p.grid_points > 0
        capture = check_bool(capture, "capture")
        if capture and grid:
            raise ValueError("capture: the one-item grid search (grid_points > 0) is not "
                             "captured; pass grid_points=0 or capture=False.")
        quantiles = _quantile_table(self.setting).to(dev, dt) if grid else None

        graph = capture and dev.type == "cuda"
        opt = step_optimizer(self.parameters(), lr, dev, graph=graph)
        al = AugmentedLagrangian(n, rho=p.rho, lambda_init=p.lambda_init,
                                 update_every=p.lambda_every, rho_increment=p.rho_increment,
                                 rho_every=rho_every, device=dev, dtype=dt)
        if resume is None:
            self.reset_parameters(gen)
            history: list[dict[str, Any]] = []
            data_gen = make_generator(int(torch.randint(0, 2**62, (1,), generator=gen)), dev)
            train = self.setting.sample(n_train, generator=data_gen, device=dev, dtype=dt)
            u = torch.rand(train.shape, generator=data_gen, device=dev, dtype=dt)
            cache = self._low + u * width
            start = 0
        else:
            start, state = resume
            self.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            al.load_state_dict(state["lagrangian"])
            data_gen = make_generator(0, dev)
            data_gen.set_state(state["data_rng"].cpu())
            train, cache = state["train"].to(dev, dt), state["cache"].to(dev, dt)
            history = list(state.get("history", []))

        def lr_factor(t: int) -> float:  # constant, then cosine to 1/10 in the second half
            frac = min(t / max_iter, 1.0)
            if frac < 0.5:
                return 1.0
            return 0.1 + 0.9 * 0.5 * (1 + math.cos((frac - 0.5) * 2 * math.pi))

        def state_fn() -> dict[str, Any]:
            return {"model": self.state_dict(), "optimizer": opt.state_dict(),
                    "lagrangian": al.state_dict(), "data_rng": data_gen.get_state(),
                    "train": train, "cache": cache, "history": list(history)}

        deviation = self._deviation if self.symmetric else None

        def grid_misreports(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            # one item: the exact best report on a shifted grid (Danskin: train on it)
            shift = torch.rand((values.shape[0], 1), generator=data_gen, device=dev, dtype=dt)
            mis, _ = single_item_regret(self.outcome, values, self._low, self._high,
                                        points=p.grid_points, zooms=1, shift=shift,
                                        zoom_points=max(p.grid_points // 2, 2),
                                        quantiles=quantiles, deviation=deviation)
            return mis

        self.train()
        step_fn = RegretNetStep(self, opt, al, train, cache, data_gen, batch_size=batch_size,
                                misreport_steps=p.misreport_steps,
                                misreport_lr=p.misreport_lr * float(width.mean()),
                                gradient=gradient, misreports=grid_misreports if grid else None,
                                graph=graph, start=start)
        run_steps(step_fn, range(start + 1, max_iter + 1), lambda t: lr * lr_factor(t - 1),
                  history, callback, state_fn,
                  advice=f"lower lr (now {lr:g}) or misreport_lr (now {p.misreport_lr:g}), or "
                         f"rho / rho_increment / lambda_init (now {p.rho:g} / "
                         f"{p.rho_increment:g} / {p.lambda_init:g})")
        self.history_ = history_tuple(history)
        self.eval()
        return self
